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
mod new;
mod output;
mod plugin;
mod remote;
mod serve;
mod tenant;
mod token;
mod user;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::model::{Actor, TenantSlug};
use crate::store::{PgConfig, PgStore, PluginStore, RedbStore, Store, StoreConfig};

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
    /// A PostgreSQL database (postgres://user@host/db) to keep the data in instead of the
    /// embedded store in --data-dir, which then only holds the compiled-plugin cache.
    #[arg(
        long,
        global = true,
        env = "KITH_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    database_url: Option<String>,
    /// A running Kith server (http://host:port) to run `import`, `export`, `stats`, `backup`
    /// and `customer` against, over its HTTP API, instead of the data directory.
    #[arg(long, global = true, env = "KITH_SERVER", value_name = "URL")]
    server: Option<String>,
    /// The token for --server: an admin token, or a tenant key for one tenant's commands.
    #[arg(
        long,
        global = true,
        env = "KITH_TOKEN",
        hide_env_values = true,
        value_name = "T"
    )]
    token: Option<String>,
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
    /// Bring the store's schema up to date and print its version (`kith serve` does it too).
    Migrate,
    /// Create, list and revoke API tokens (while the server is stopped).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Inspect a plugin component or run one call of it locally.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Add, list and change a tenant's users; reassign what one owns (while the server is
    /// stopped).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Create and list a tenant's teams (while the server is stopped).
    #[command(subcommand)]
    Team(user::TeamCommand),
    /// Print the HTTP API's OpenAPI 3.1 document (what `GET /v1/openapi.json` serves), to
    /// generate a client or validate it without a running server.
    Openapi,
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
    // The server logs each request (and what it starts and stops) by default; the other
    // commands only what goes wrong. KITH_LOG overrides both.
    let default_level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    logging::init(cli.log_format, default_level);
    let code = match run(cli, dir_given) {
        Ok(exit) => exit as i32,
        Err(e) => fail::report(&e),
    };
    logging::flush();
    code
}

fn run(cli: Cli, dir_given: bool) -> anyhow::Result<Exit> {
    if let Some(server) = &cli.server {
        let remote = remote::Remote::new(server, cli.token.as_deref())?;
        return run_remote(&remote, cli.command);
    }
    let dir = cli.data_dir.as_path();
    let at = match &cli.database_url {
        Some(url) => Location::Database(url.clone()),
        None => Location::Dir(dir.to_path_buf()),
    };
    match cli.command {
        Command::Tenant(cmd) => {
            let create = matches!(cmd, tenant::TenantCommand::Create { .. });
            let store = open_for(&at, create)?;
            tenant::run(cmd, store.as_ref())
        }
        Command::Customer(cmd) => customer::run(cmd, open_existing(&at)?.as_ref()),
        Command::Import(cmd) => import::run(cmd, open_existing(&at)?.as_ref()),
        Command::Export(args) => export::run(&args, open_existing(&at)?.as_ref()),
        Command::Backup(args) => match &at {
            Location::Dir(dir) => admin::backup(&args, &open_redb(dir)?, dir),
            Location::Database(_) => anyhow::bail!(
                "kith backup copies the embedded store; a PostgreSQL database is backed up with pg_dump or your provider's snapshots"
            ),
        },
        Command::Check => admin::check(open_existing(&at)?.as_ref()),
        Command::Stats(args) => admin::stats(&args, open_existing(&at)?.as_ref(), &at),
        Command::Serve(args) => serve::run(&args, dir_given.then_some(dir), dir, cli.database_url),
        Command::Migrate => admin::migrate(&at),
        Command::Token(cmd) => {
            let create = matches!(cmd, token::TokenCommand::Create { .. });
            let store = open_for(&at, create)?;
            token::run(cmd, store.as_ref())
        }
        Command::Plugin(cmd) => plugin::run(cmd).map(|()| Exit::Ok),
        Command::User(cmd) => user::run_user(cmd, open_existing(&at)?.as_ref()),
        Command::Team(cmd) => user::run_team(cmd, open_existing(&at)?.as_ref()),
        Command::Openapi => {
            let doc = serde_json::to_string_pretty(&crate::http::openapi::document())?;
            println!("{doc}");
            Ok(Exit::Ok)
        }
    }
}

/// Runs a command against a running server (`--server`).
fn run_remote(remote: &remote::Remote, command: Command) -> anyhow::Result<Exit> {
    match command {
        Command::Export(args) => remote::export(remote, &args.tenant, args.output.as_deref()),
        Command::Backup(args) => remote::backup(remote, &args.path),
        Command::Stats(args) => remote::stats(remote, args.json),
        Command::Import(cmd) => {
            let (args, kind) = match cmd {
                import::ImportCommand::Customers(a) => (a, "customers"),
                import::ImportCommand::Interactions(a) => (a, "interactions"),
            };
            remote::import(
                remote,
                &args.tenant,
                kind,
                &args.file,
                args.dry_run,
                &args.maps,
            )
        }
        Command::Customer(customer::CustomerCommand::Get(a)) => {
            if a.country.is_some() {
                anyhow::bail!(
                    "--country with --server: give the phone number in international format (+49 ...)"
                );
            }
            let mut query = Vec::new();
            if let Some(e) = a.email {
                query.push(("email", e));
            } else if let Some(p) = a.phone {
                query.push(("phone", p));
            } else if let Some(x) = a.external {
                let Some((source, id)) = x.split_once(':') else {
                    anyhow::bail!("--external {x}: expected SOURCE:ID, e.g. shopify:1234");
                };
                query.push(("external_source", source.trim().to_owned()));
                query.push(("external_id", id.trim().to_owned()));
            }
            remote::customer_get(remote, &a.tenant, a.id.as_deref(), &query)
        }
        Command::Customer(customer::CustomerCommand::Find(a)) => {
            let mut query = vec![("limit", a.limit.to_string())];
            let filters = [
                ("tag", a.tag),
                ("lifecycle", a.lifecycle),
                ("owner", a.owner),
                ("organization", a.org),
                ("name_prefix", a.name),
                ("email_prefix", a.email_prefix),
                ("cursor", a.cursor),
            ];
            query.extend(filters.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            remote::customer_find(remote, &a.tenant, &query)
        }
        Command::Serve(_) => anyhow::bail!("kith serve runs a server; it has no --server form"),
        _ => anyhow::bail!(
            "with --server, kith runs import, export, stats, backup and customer; use the HTTP API (see /docs) for the rest, or run the command where the data is"
        ),
    }
}

/// Where the data is: the embedded store in a directory, or a PostgreSQL database.
#[derive(Debug, Clone)]
enum Location {
    /// `--data-dir`.
    Dir(PathBuf),
    /// `--database-url`.
    Database(String),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Dir(dir) => write!(f, "{}", dir.join(DATA_FILE).display()),
            Location::Database(url) => f.write_str(&redact(url)),
        }
    }
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    match authority.rsplit_once('@') {
        Some((user, _)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or("");
            format!("{}{name}:***{}", &url[..scheme_end], &rest[user.len()..])
        }
        _ => url.to_owned(),
    }
}

/// Opens the store at `at`; `create` allows a new, empty embedded store.
fn open_for(at: &Location, create: bool) -> anyhow::Result<Arc<dyn PluginStore>> {
    if create { open(at) } else { open_existing(at) }
}

/// Opens the store at `at`, creating (or migrating) it when needed.
fn open(at: &Location) -> anyhow::Result<Arc<dyn PluginStore>> {
    Ok(match at {
        Location::Dir(dir) => Arc::new(open_redb(dir)?),
        Location::Database(url) => Arc::new(PgStore::open(PgConfig::new(url.as_str()))?),
    })
}

/// Opens the embedded store in `dir`, creating it when needed.
fn open_redb(dir: &Path) -> anyhow::Result<RedbStore> {
    open_redb_with(dir, None)
}

/// Opens the embedded store in `dir` with a page cache of `cache_bytes` (the default when
/// `None`), creating it when needed.
fn open_redb_with(dir: &Path, cache_bytes: Option<usize>) -> anyhow::Result<RedbStore> {
    let mut config = StoreConfig::default();
    if let Some(bytes) = cache_bytes {
        config.cache_bytes = bytes;
    }
    Ok(RedbStore::open(dir, config)?)
}

/// Opens the store at `at`, refusing to create an empty embedded store where the user expects
/// data.
fn open_existing(at: &Location) -> anyhow::Result<Arc<dyn PluginStore>> {
    if let Location::Dir(dir) = at
        && !dir.join(DATA_FILE).exists()
    {
        anyhow::bail!(
            "no Kith data in {}: create a tenant with `kith tenant create SLUG`, or point --data-dir (or KITH_DATA_DIR) at an existing data directory, or --database-url (KITH_DATABASE_URL) at a PostgreSQL database",
            dir.display()
        );
    }
    open(at)
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
