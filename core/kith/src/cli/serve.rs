//! `kith serve`: settings from flags, then environment variables, then an optional TOML file
//! (`--config kith.toml`), then defaults. The file's keys:
//!
//! ```toml
//! listen = "127.0.0.1:8080"      # address to listen on (port 0: any free port)
//! data_dir = "./kith-data"       # the data directory (the global --data-dir / KITH_DATA_DIR win)
//! database_url = "postgres://kith@db/kith"  # PostgreSQL instead of the embedded store
//!                                # (--database-url / KITH_DATABASE_URL win); data_dir then
//!                                # only holds this node's compiled-plugin cache
//! database_pool_size = 16        # connections this node keeps to PostgreSQL
//! request_timeout_secs = 30      # answer 408 after this long
//! json_limit_bytes = 1048576     # largest JSON body
//! max_wait_secs = 60             # longest event long-poll `wait`
//! plugin_limit_bytes = 33554432  # largest plugin component accepted by POST /v1/plugins
//! import_limit_bytes = 67108864  # largest CSV file accepted by POST .../customers/import
//! max_connections = 1024         # connections served at once (more wait in the backlog)
//! header_timeout_secs = 10       # to send a request's headers, or to sit idle between requests
//! shutdown_grace_secs = 10       # in-flight requests may finish this long after SIGTERM
//!
//! [plugins]                      # what one tenant's plugins may make the server do
//! ceiling_fuel = 100000000       # per-customer and webhook calls: the most a tenant may set
//! ceiling_deadline_ms = 1000
//! ceiling_memory_bytes = 67108864
//! population_ceiling_fuel = 50000000000
//! population_ceiling_deadline_ms = 60000
//! population_ceiling_memory_bytes = 268435456
//! instances = 32                 # plugin instances running at once, host-wide
//! instances_per_tenant = 8       # ... of which one tenant may hold
//! instances_per_plugin = 16      # ... of which one plugin (all tenants) may hold
//! dispatch_workers = 2           # threads tenants take turns on (default: cores, at least 2)
//! max_chain_depth = 4            # plugin reactions to plugin reactions whose writes apply
//! writes_per_minute = 100000     # plugin actions applied per tenant per minute
//! compile_memory_bytes = 536870912  # compiler child's memory, plus 128 bytes per component byte
//! compile_timeout_secs = 20      # compiler child's time, plus 4 s per MiB of component
//! lease_ttl_secs = 10            # with several nodes: how long a dead node keeps its tenants
//! ```
//!
//! The admin token is never in the file: on the first start with no admin token, one is created
//! and printed once on stdout (`admin token: kith_...`); `KITH_ADMIN_TOKEN` supplies one instead.
//!
//! `--demo` creates the demo tenant on the first start ([`crate::service::demo`]) and prints its
//! tenant key once on stdout (`demo tenant key: kith_...`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::{Exit, Location};
use crate::http::HttpConfig;
use crate::service::{demo, tokens};
use crate::store::{PgConfig, PgStore, PluginStore};

#[derive(Debug, clap::Args)]
pub(super) struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "KITH_LISTEN")]
    listen: Option<SocketAddr>,
    /// A TOML settings file (keys: listen, data_dir, database_url, database_pool_size,
    /// request_timeout_secs, json_limit_bytes,
    /// max_wait_secs, plugin_limit_bytes, max_connections, header_timeout_secs,
    /// shutdown_grace_secs, store_cache_bytes, and a [plugins] table: see the README).
    #[arg(long, env = "KITH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Seconds before a request is answered with 408 [default: 30].
    #[arg(long, env = "KITH_REQUEST_TIMEOUT", value_name = "SECS")]
    request_timeout: Option<u64>,
    /// Largest JSON request body in bytes [default: 1048576].
    #[arg(long, env = "KITH_JSON_LIMIT", value_name = "BYTES")]
    json_limit: Option<usize>,
    /// Largest plugin component accepted by `POST /v1/plugins`, in bytes [default: 33554432].
    #[arg(long, env = "KITH_PLUGIN_LIMIT", value_name = "BYTES")]
    plugin_limit: Option<usize>,
    /// Connections served at once; more wait in the listen backlog [default: 1024].
    #[arg(long, env = "KITH_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Seconds a client may take to send a request's headers, or sit idle between keep-alive
    /// requests, before its connection is closed [default: 10].
    #[arg(long, env = "KITH_HEADER_TIMEOUT", value_name = "SECS")]
    header_timeout: Option<u64>,
    /// Seconds in-flight requests may take to finish after SIGTERM before their connections
    /// are closed [default: 10].
    #[arg(long, env = "KITH_SHUTDOWN_GRACE", value_name = "SECS")]
    shutdown_grace: Option<u64>,
    /// Bytes of the embedded store's page cache kept in memory [default: 67108864]. More keeps
    /// more of a large store's pages resident; less bounds the server's memory.
    #[arg(long, env = "KITH_STORE_CACHE", value_name = "BYTES")]
    store_cache: Option<usize>,
    #[command(flatten)]
    compile: super::plugin::CompileArgs,
    /// On the first start, create a tenant `demo` with customers, deals and every reference
    /// plugin enabled, and print its tenant key.
    #[arg(long)]
    demo: bool,
    /// Where --demo finds the reference plugin components [default: the first of
    /// target/wasm32-unknown-unknown/release, target/wasm32-wasip2/release and
    /// target/plugin-artifacts/wasm32-unknown-unknown/release that has them].
    #[arg(long, env = "KITH_DEMO_PLUGINS", value_name = "DIR")]
    plugins: Option<PathBuf>,
}

/// The settings file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_pool_size: Option<u32>,
    request_timeout_secs: Option<u64>,
    json_limit_bytes: Option<usize>,
    max_wait_secs: Option<u64>,
    plugin_limit_bytes: Option<usize>,
    import_limit_bytes: Option<usize>,
    max_connections: Option<usize>,
    header_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    store_cache_bytes: Option<usize>,
    #[serde(default)]
    plugins: PluginSettings,
}

/// The file's `[plugins]` table: bounds on what one tenant's plugins may make the server do.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginSettings {
    ceiling_fuel: Option<u64>,
    ceiling_deadline_ms: Option<u64>,
    ceiling_memory_bytes: Option<u64>,
    population_ceiling_fuel: Option<u64>,
    population_ceiling_deadline_ms: Option<u64>,
    population_ceiling_memory_bytes: Option<u64>,
    instances: Option<u32>,
    instances_per_tenant: Option<u32>,
    instances_per_plugin: Option<u32>,
    dispatch_workers: Option<usize>,
    max_chain_depth: Option<u8>,
    writes_per_minute: Option<u32>,
    compile_memory_bytes: Option<u64>,
    compile_timeout_secs: Option<u64>,
    lease_ttl_secs: Option<u64>,
}

impl PluginSettings {
    /// Applies the settings to the host's configuration.
    fn apply(&self, c: &mut crate::service::plugins::HostConfig) {
        let ceil = &mut c.ceilings;
        set(&mut ceil.call.fuel, self.ceiling_fuel);
        set_ms(&mut ceil.call.deadline, self.ceiling_deadline_ms);
        set(&mut ceil.call.memory_bytes, self.ceiling_memory_bytes);
        set(&mut ceil.population.fuel, self.population_ceiling_fuel);
        set_ms(
            &mut ceil.population.deadline,
            self.population_ceiling_deadline_ms,
        );
        set(
            &mut ceil.population.memory_bytes,
            self.population_ceiling_memory_bytes,
        );
        let rt = &mut c.runtime;
        set(&mut rt.max_concurrent_instances, self.instances);
        set(&mut rt.instances_per_tenant, self.instances_per_tenant);
        set(&mut rt.instances_per_plugin, self.instances_per_plugin);
        set(&mut c.dispatch_workers, self.dispatch_workers);
        set(&mut c.writes.max_chain_depth, self.max_chain_depth);
        set(&mut c.writes.per_tenant_per_minute, self.writes_per_minute);
        if let Some(secs) = self.lease_ttl_secs {
            c.lease_ttl = Duration::from_secs(secs.max(1));
        }
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *field = v;
    }
}

fn set_ms(field: &mut Duration, value: Option<u64>) {
    if let Some(ms) = value {
        *field = Duration::from_millis(ms);
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}: {} (keys: listen, data_dir, database_url, database_pool_size, request_timeout_secs, json_limit_bytes, max_wait_secs, plugin_limit_bytes, import_limit_bytes, max_connections, header_timeout_secs, shutdown_grace_secs, store_cache_bytes, and a [plugins] table)",
            path.display(),
            e.message()
        )
    })
}

/// Runs the server. `dir` is the data directory from the command line, `None` when it was left at
/// its default (the settings file may then choose it).
pub(super) fn run(
    args: &ServeArgs,
    dir: Option<&Path>,
    default_dir: &Path,
    database_url: Option<String>,
) -> anyhow::Result<Exit> {
    let file = match &args.config {
        Some(p) => read_file(p)?,
        None => FileSettings::default(),
    };
    let dir = dir
        .map(Path::to_path_buf)
        .or(file.data_dir.clone())
        .unwrap_or_else(|| default_dir.to_path_buf());
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    // Bind first: a busy address is named before the data directory, the store or the admin
    // token are created.
    let listener = std::net::TcpListener::bind(listen).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {listen}: the address is in use (is another kith running?); pick another with --listen or KITH_LISTEN"
        ),
        _ => anyhow::anyhow!(
            "cannot listen on {listen}: {e}; pick another address with --listen or KITH_LISTEN"
        ),
    })?;
    // One info line per request: written in batches from here on (warnings still at once).
    super::logging::batch_info_lines();
    // The phone validator loads its metadata when it parses its first number (3 ms here). Done
    // now, beside opening the store, rather than by the first write that carries a phone:
    // with the embedded store that parse runs on the one commit thread, and every tenant's
    // writes would wait for it.
    let _ = std::thread::Builder::new()
        .name("kith-warm-up".into())
        .spawn(|| crate::model::Phone::parse("phone", "+16135550142", None).is_ok());
    let defaults = HttpConfig::default();
    let env_admin = match std::env::var("KITH_ADMIN_TOKEN") {
        Ok(t) if !t.is_empty() => Some(tokens::check_operator_token(&t)?),
        _ => None,
    };
    let config = HttpConfig {
        json_limit: args
            .json_limit
            .or(file.json_limit_bytes)
            .unwrap_or(defaults.json_limit),
        request_timeout: args
            .request_timeout
            .or(file.request_timeout_secs)
            .map_or(defaults.request_timeout, Duration::from_secs),
        max_wait: file
            .max_wait_secs
            .map_or(defaults.max_wait, Duration::from_secs),
        env_admin,
        plugin_limit: args
            .plugin_limit
            .or(file.plugin_limit_bytes)
            .unwrap_or(defaults.plugin_limit),
        max_connections: args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(defaults.max_connections),
        header_timeout: args
            .header_timeout
            .or(file.header_timeout_secs)
            .map_or(defaults.header_timeout, |s| Duration::from_secs(s.max(1))),
        shutdown_grace: args
            .shutdown_grace
            .or(file.shutdown_grace_secs)
            .map_or(defaults.shutdown_grace, Duration::from_secs),
        backup_dir: None,
        import_limit: file.import_limit_bytes.unwrap_or(defaults.import_limit),
    };
    let mut config = config;
    let store: Arc<dyn PluginStore> = match database_url.or(file.database_url.clone()) {
        Some(url) => {
            let mut pg = PgConfig::new(url.as_str());
            set(&mut pg.pool_size, file.database_pool_size);
            let store = PgStore::open(pg)?;
            super::logging::notice(&format!(
                "kith node {} on {}",
                store.node(),
                Location::Database(url)
            ));
            Arc::new(store)
        }
        None => {
            // Backups over HTTP are written next to the store, then streamed.
            config.backup_dir = Some(dir.clone());
            let cache = args.store_cache.or(file.store_cache_bytes);
            Arc::new(super::open_redb_with(&dir, cache)?)
        }
    };
    if config.env_admin.is_none()
        && let Some(token) = tokens::bootstrap_admin(store.as_ref())?
    {
        println!("admin token: {token}");
        super::logging::notice(
            "created the first admin token (printed on stdout above): store it now, it is not shown again",
        );
    }
    // Plugins follow the event log while the server runs; a batch cut short by shutdown is
    // simply processed again on the next start (its cursor never moved).
    let mut host_config = crate::service::plugins::HostConfig::with_cache(dir.join("plugin-cache"));
    host_config.runtime.max_plugin_bytes = config.plugin_limit;
    file.plugins.apply(&mut host_config);
    host_config.runtime.compiler = args.compile.compiler(
        file.plugins.compile_memory_bytes,
        file.plugins.compile_timeout_secs,
    )?;
    let host = crate::service::plugins::PluginHost::open(store.clone(), host_config)?;
    if args.demo {
        seed_demo(&host, args.plugins.as_deref())?;
    }
    let dispatcher = host.spawn_dispatcher();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let plugins = crate::http::PluginRuntime {
        host,
        dispatcher: Some(dispatcher),
    };
    runtime.block_on(crate::http::serve(
        store,
        listener,
        config,
        Some(plugins),
        |addr| {
            super::logging::notice(&format!("kith listening on http://{addr}"));
        },
    ))?;
    Ok(Exit::Ok)
}

/// Creates the demo tenant unless it exists; its key goes to stdout once, like the admin token.
fn seed_demo(
    host: &Arc<crate::service::plugins::PluginHost>,
    dir: Option<&Path>,
) -> anyhow::Result<()> {
    let dir = dir.map_or_else(default_plugin_dir, Path::to_path_buf);
    let report = demo::seed(host, &dir)?;
    if let Some(key) = &report.tenant_key {
        println!("demo tenant key: {key}");
    }
    for line in report.to_string().lines() {
        super::logging::notice(line);
    }
    for problem in report.problems() {
        super::logging::notice(&format!("warning: demo plugin {problem}"));
    }
    Ok(())
}

/// The first of these directories that holds a demo component: where the README's `cargo build
/// --release --target wasm32-unknown-unknown` puts them, where a `wasm32-wasip2` build does, where
/// the test suite's build script does. Without any, the first (the error names it).
fn default_plugin_dir() -> PathBuf {
    let dirs = [
        "target/wasm32-unknown-unknown/release",
        "target/wasm32-wasip2/release",
        "target/plugin-artifacts/wasm32-unknown-unknown/release",
    ];
    let has_components = |d: &Path| {
        demo::PLUGINS
            .iter()
            .any(|p| demo::component_path(d, p).is_file())
    };
    dirs.iter()
        .map(PathBuf::from)
        .find(|d| has_components(d))
        .unwrap_or_else(|| PathBuf::from(dirs[0]))
}
