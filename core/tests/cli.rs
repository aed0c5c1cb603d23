//! The `kith` command line as a user runs it: tenant, customer, import, export, backup, check and
//! token commands. One test binary for all of them: each binary costs CI a link of wasmtime.

mod cli_support;

#[path = "cli/commands.rs"]
mod commands;
#[path = "cli/import.rs"]
mod import;
#[path = "cli/token.rs"]
mod token;
