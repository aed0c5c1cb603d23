//! Kith's own tests in one binary (each binary costs CI a link of wasmtime):
//! - the `kith` command line as a user runs it (`cli_*`: tenant, customer, import, export,
//!   backup, check and token commands);
//! - the HTTP API through the router with `tower::ServiceExt::oneshot` (`http_*`:
//!   authentication and scopes, customers, events, bad input, operations, pipelines, users and
//!   roles, tenants, imports);
//! - `kith serve` end to end, the real binary on an ephemeral port (`serve`);
//! - API tokens (`tokens`).

mod cli_support;
mod http_support;

#[path = "cli/commands.rs"]
mod cli_commands;
#[path = "cli/import.rs"]
mod cli_import;
#[path = "cli/token.rs"]
mod cli_token;
#[path = "cli/user.rs"]
mod cli_user;
#[path = "http/auth.rs"]
mod http_auth;
#[path = "http/customers.rs"]
mod http_customers;
#[path = "http/deals.rs"]
mod http_deals;
#[path = "http/events.rs"]
mod http_events;
#[path = "http/fields.rs"]
mod http_fields;
#[path = "http/imports.rs"]
mod http_imports;
#[path = "http/input.rs"]
mod http_input;
#[path = "http/ops.rs"]
mod http_ops;
#[path = "http/pipelines.rs"]
mod http_pipelines;
#[path = "http/reports.rs"]
mod http_reports;
#[path = "http/roles.rs"]
mod http_roles;
#[path = "http/tenants.rs"]
mod http_tenants;
#[path = "http/work.rs"]
mod http_work;
mod serve;
mod tokens;
