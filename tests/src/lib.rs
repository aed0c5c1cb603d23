//! Shared helpers for Kith's integration and end-to-end tests.

/// Paths of the plugin components built by `build.rs`, one constant per crate in `plugins/`
/// (`plugins/rfm-scorer` -> `RFM_SCORER`), and `ALL` as (directory, path) pairs.
pub mod plugins {
    include!(concat!(env!("OUT_DIR"), "/plugins.rs"));
}
