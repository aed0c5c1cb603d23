//! The plugin platform's routes: `/v1/plugins*`, `/v1/tenants/{tenant}/plugins*`, dry runs,
//! `/v1/tenants/{tenant}/hooks/{plugin}`, segments and scores.
//!
//! Filled by the plugin platform work (`service::plugins`); until then it adds no route. Its routes
//! are merged into the bounded router in [`super::router`] and must be documented in
//! [`super::openapi`] like every other route (the OpenAPI test checks them).

use super::Routes;

/// The plugin routes (none yet).
pub fn routes() -> Routes {
    Routes::new()
}
