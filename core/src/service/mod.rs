//! Service operations: what the HTTP API and the CLI call. Each validates, then works through
//! the store and the plugin runtime, so no transport reimplements domain logic.

pub mod plugins;
