//! The `kith` command line: tenants, customers, CSV import, export, backup, check, stats, tokens
//! and the HTTP server.
//!
//! Exit codes: 0 success, 1 a fatal error, 2 a usage error, 3 an import that rejected some rows,
//! 101 an internal error (a panic). Results go to stdout; errors, warnings, the per-row import
//! report and logs go to stderr.

mod admin;
mod customer;
mod export;
mod fail;
mod import;
mod logging;
mod output;
mod plugin;
mod serve;
mod tenant;
mod token;

use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::model::{Actor, TenantSlug};
use crate::store::{RedbStore, Store, StoreConfig};

/// The data file inside a data directory (the store's own name for it).
const DATA_FILE: &str = "kith.redb";

/// How a command ended, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// Everything worked.
    Ok = 0,
    /// The command failed.
    Failed = 1,
    /// An import rejected some rows (the others were imported).
    Rejected = 3,
}

#[derive(Debug, Parser)]
#[command(
    name = "kith",
    version,
    about = "Kith CRM: tenants, customers, import, export, backup"
)]
struct Cli {
    /// The data directory holding kith.redb.
    #[arg(
        long,
        global = true,
        env = "KITH_DATA_DIR",
        default_value = "./kith-data",
        value_name = "DIR"
    )]
    data_dir: PathBuf,
    /// Log format on stderr; the level comes from KITH_LOG (default warn).
    #[arg(long, global = true, value_enum, default_value_t = logging::Format::Human)]
    log_format: logging::Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and list tenants.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Look up and list customers.
    #[command(subcommand)]
    Customer(customer::CustomerCommand),
    /// Import customers or interactions from CSV.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Export a tenant as JSON Lines.
    Export(export::ExportArgs),
    /// Write a consistent copy of the store while others keep writing.
    Backup(admin::BackupArgs),
    /// Verify every index entry and each tenant's event log.
    Check,
    /// Schema version, file size and per-tenant counts.
    Stats(admin::StatsArgs),
    /// Run the HTTP server on the data directory until SIGTERM or Ctrl-C.
    Serve(serve::ServeArgs),
    /// Create, list and revoke API tokens (while the server is stopped).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Inspect a plugin component or run one call of it locally.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    // The plugin compiler child (see `plugin::Compiler::Subprocess`): no logging, no clap, no
    // panic hook; it limits itself first thing.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(crate::plugin::CHILD_COMMAND) {
        return crate::plugin::compiler_child_main(&args[1..]);
    }
    fail::install_panic_hook();
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return fail::usage(&e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => return fail::usage(&e),
    };
    // Whether --data-dir (or KITH_DATA_DIR) was given: otherwise `kith serve`'s settings file may
    // choose it.
    let dir_given = !matches!(
        matches.value_source("data_dir"),
        Some(clap::parser::ValueSource::DefaultValue) | None
    );
    logging::init(cli.log_format);
    match run(cli, dir_given) {
        Ok(exit) => exit as i32,
        Err(e) => fail::report(&e),
    }
}

fn run(cli: Cli, dir_given: bool) -> anyhow::Result<Exit> {
    let dir = cli.data_dir.as_path();
    match cli.command {
        Command::Tenant(cmd) => {
            let create = matches!(cmd, tenant::TenantCommand::Create { .. });
            let store = if create {
                open(dir)?
            } else {
                open_existing(dir)?
            };
            tenant::run(cmd, &store)
        }
        Command::Customer(cmd) => customer::run(cmd, &open_existing(dir)?),
        Command::Import(cmd) => import::run(cmd, &open_existing(dir)?),
        Command::Export(args) => export::run(&args, &open_existing(dir)?),
        Command::Backup(args) => admin::backup(&args, &open_existing(dir)?, dir),
        Command::Check => admin::check(&open_existing(dir)?),
        Command::Stats(args) => admin::stats(&args, &open_existing(dir)?, dir),
        Command::Serve(args) => serve::run(&args, dir_given.then_some(dir), dir),
        Command::Token(cmd) => {
            let create = matches!(cmd, token::TokenCommand::Create { .. });
            let store = if create {
                open(dir)?
            } else {
                open_existing(dir)?
            };
            token::run(cmd, &store)
        }
        Command::Plugin(cmd) => plugin::run(cmd).map(|()| Exit::Ok),
    }
}

/// Opens the store in `dir`, creating it when needed.
fn open(dir: &Path) -> anyhow::Result<RedbStore> {
    Ok(RedbStore::open(dir, StoreConfig::default())?)
}

/// Opens the store in `dir`, refusing to create an empty one where the user expects data.
fn open_existing(dir: &Path) -> anyhow::Result<RedbStore> {
    if !dir.join(DATA_FILE).exists() {
        anyhow::bail!(
            "no Kith data in {}: create a tenant with `kith tenant create SLUG`, or point --data-dir (or KITH_DATA_DIR) at an existing data directory",
            dir.display()
        );
    }
    open(dir)
}

/// A tenant slug from the command line, which must name an existing tenant.
fn tenant_of(store: &dyn Store, slug: &str) -> anyhow::Result<TenantSlug> {
    let slug = TenantSlug::parse(slug).map_err(crate::store::Error::from)?;
    match store.tenant(&slug)? {
        Some(t) => Ok(t.slug),
        None => Err(crate::store::Error::TenantNotFound(slug.to_string()).into()),
    }
}

/// The actor recorded in the event log for changes made with the CLI.
fn actor() -> Actor {
    Actor::new("cli")
}
