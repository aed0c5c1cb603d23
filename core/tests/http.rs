//! The HTTP API through the router (`tower::ServiceExt::oneshot`): authentication and scopes,
//! customers, events, bad input, operations, pipelines and tenants. One test binary for all of
//! them: each binary costs CI a link of wasmtime.

mod http_support;

#[path = "http/auth.rs"]
mod auth;
#[path = "http/customers.rs"]
mod customers;
#[path = "http/events.rs"]
mod events;
#[path = "http/input.rs"]
mod input;
#[path = "http/ops.rs"]
mod ops;
#[path = "http/pipelines.rs"]
mod pipelines;
#[path = "http/tenants.rs"]
mod tenants;
