//! Customer-base models shared by the `kith.clv` and `kith.churn-risk` plugins:
//! BG/NBD for purchase frequency and dropout, Gamma-Gamma for spend per purchase,
//! the special functions they need and a Nelder-Mead optimiser, in plain Rust
//! that builds for `wasm32-wasip2` without any math crate.
//!
//! ```
//! use kith_clv_math::{BgNbd, Observation};
//!
//! // The parameters Fader, Hardie & Lee (2005) report for the CDNOW sample, in weeks.
//! let model = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };
//! let regular = Observation { frequency: 6, recency: 37.0, age: 38.0 };
//! assert!(model.p_alive(&regular) > 0.8);
//! let next_year = model.expected_purchases(52.0, &regular).unwrap();
//! assert!(next_year > 3.0 && next_year < 10.0);
//! ```
//!
//! This crate lives in `plugins/clv/math` rather than directly in `plugins/`
//! because every directory directly under `plugins/` must be a plugin
//! (`tests/build.rs` builds each to a component); being under `plugins/` still
//! makes `tests/build.rs` rebuild the components when it changes.

mod bgnbd;
mod bytes;
mod gamma_gamma;
mod history;
pub mod optimize;
pub mod special;
#[cfg(test)]
mod testdata;

pub use bgnbd::{BgNbd, Fit, Observation};
pub use bytes::{Reader, Writer, fingerprint};
pub use gamma_gamma::{GammaGamma, Spend};
pub use history::{History, TimeUnit};

use std::fmt;

/// Why a model could not be fitted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FitError {
    /// There is nothing to fit: no buyer (or no buyer with positive spend).
    NoData,
    /// No buyer made a repeat purchase, so dropout cannot be estimated.
    NoRepeatBuyers,
    /// The data violates the model's assumptions.
    Invalid(String),
    /// The likelihood has no interior maximum for this data.
    Degenerate(String),
    /// The optimiser used its whole budget (this many evaluations) without converging.
    NotConverged(usize),
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::NoData => write!(f, "no customer with usable purchases"),
            FitError::NoRepeatBuyers => write!(
                f,
                "no customer has a repeat purchase, so purchase frequency and dropout cannot be estimated"
            ),
            FitError::Invalid(why) => write!(f, "invalid data: {why}"),
            FitError::Degenerate(why) => {
                write!(f, "the likelihood has no maximum for this data ({why})")
            }
            FitError::NotConverged(n) => {
                write!(f, "the optimiser did not converge in {n} evaluations")
            }
        }
    }
}

impl std::error::Error for FitError {}

/// Distinct keys with how often each occurs, sorted by key.
fn group_counts<K: Ord + Copy>(keys: impl Iterator<Item = K>) -> Vec<(K, u64)> {
    let mut keys: Vec<K> = keys.collect();
    keys.sort_unstable();
    let mut groups: Vec<(K, u64)> = Vec::new();
    for key in keys {
        match groups.last_mut() {
            Some((last, n)) if *last == key => *n += 1,
            _ => groups.push((key, 1)),
        }
    }
    groups
}
