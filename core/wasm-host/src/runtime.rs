//! The engine, the linker, loading plugins and the on-disk cache of compiled components.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tracing::{info, warn};
use wasmtime::component::{Component, Linker, Resource};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig,
};
use wasmtime_wasi::p2::DynPollable;

use super::bindings::{self, Version, WorldPre};
use super::compile::Compiler;
use super::sandbox::HostState;
use super::share::{Shares, Slots};
use super::stats::{PluginStats, StatsSnapshot};
use super::{Capability, Limits, Manifest, PluginFailure};

/// Default largest plugin accepted: 32 MiB, room for an interpreter (componentize-py: about
/// 18 MiB, componentize-js: about 12 MiB).
pub const DEFAULT_MAX_PLUGIN_BYTES: usize = 32 << 20;

/// How the runtime is set up. `RuntimeConfig::default()` suits a small server.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached (`<sha256>-<engine hash>.cwasm`); `None` compiles
    /// every load.
    pub cache_dir: Option<PathBuf>,
    /// Default budgets of per-customer and webhook calls (callers may pass others per call).
    pub limits: Limits,
    /// Default budgets of population calls.
    pub population_limits: Limits,
    /// Budgets of the `manifest()` call that loading makes: [`Limits::manifest`] by default,
    /// room for an interpreter to start (componentize-py, componentize-js).
    pub manifest_limits: Limits,
    /// Largest component accepted, in bytes.
    pub max_plugin_bytes: usize,
    /// Instances that may run at the same time (the pooling allocator's slots).
    pub max_concurrent_instances: u32,
    /// Most instances one tenant's calls may hold at once (calls on behalf of a tenant).
    pub instances_per_tenant: u32,
    /// Most instances one plugin id may hold at once, over every tenant.
    pub instances_per_plugin: u32,
    /// Where components are compiled: in this process, or in a limited child process.
    pub compiler: Compiler,
    /// Hard cap of one instance's linear memory, whatever a call's limits say.
    pub max_memory_bytes: u64,
    /// Epoch tick: the granularity of deadlines.
    pub epoch_tick: Duration,
    /// How long the epoch thread keeps ticking after the last call ended. Then it sleeps until
    /// the next call starts, so an idle server does not wake a thread every tick.
    pub epoch_idle: Duration,
    /// Bytes of each of stdout and stderr kept per call.
    pub capture_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> RuntimeConfig {
        RuntimeConfig {
            cache_dir: None,
            limits: Limits::default(),
            population_limits: Limits::population(),
            manifest_limits: Limits::manifest(),
            max_plugin_bytes: DEFAULT_MAX_PLUGIN_BYTES,
            max_concurrent_instances: 32,
            instances_per_tenant: 8,
            instances_per_plugin: 16,
            compiler: Compiler::InProcess,
            max_memory_bytes: Limits::population().memory_bytes,
            epoch_tick: Duration::from_millis(1),
            epoch_idle: Duration::from_millis(100),
            capture_bytes: 64 * 1024,
        }
    }
}

/// Runs plugins: compiles and caches them, and runs each call in a fresh, limited instance.
///
/// One per process; share it (`Arc<Runtime>`) between threads. Calls on it never affect one
/// another: each has its own store, and a trapped instance is simply dropped.
pub struct Runtime {
    /// The wasmtime engine (fuel, epochs, pooling allocator).
    pub(super) engine: Engine,
    /// WASI (locked down, see `sandbox`) and the types-only contract interface.
    linker: Linker<HostState>,
    /// The configuration.
    pub(super) config: RuntimeConfig,
    /// Hex digest of the engine's compatibility hash, part of cache file names.
    engine_hash: String,
    /// Components compiled by this runtime (cache misses).
    compilations: AtomicU64,
    /// Components loaded from the disk cache.
    cache_hits: AtomicU64,
    /// Counters by component hash, shared by every load of the same bytes.
    stats: Mutex<HashMap<String, Arc<PluginStats>>>,
    /// Increments the epoch every tick; stopped on drop.
    ticker: Option<Ticker>,
    /// Instance slots and each tenant's and plugin's share: a call waits here rather than fail
    /// when its share is full.
    pub(super) slots: Slots,
    /// Set by [`Runtime::interrupt`]: running calls stop at their next epoch check, new ones
    /// are refused.
    pub(super) stopping: Arc<AtomicBool>,
    /// One compilation at a time: each may use up to the compiler's memory limit.
    compiling: Mutex<()>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .field("engine_hash", &self.engine_hash)
            .field("compilations", &self.compilations)
            .field("cache_hits", &self.cache_hits)
            .finish_non_exhaustive()
    }
}

/// Where a loaded plugin's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompiledFrom {
    /// Compiled by this load.
    Compiled,
    /// Read from the disk cache.
    Cache,
}

/// A plugin version ready to run: compiled, linked (`InstancePre`), manifest checked.
///
/// Cheap to clone; keep one per installed version.
#[derive(Clone)]
pub struct LoadedPlugin(Arc<Loaded>);

/// What a [`LoadedPlugin`] shares.
struct Loaded {
    /// Hex SHA-256 of the component bytes: the version's identity.
    hash: String,
    /// The validated manifest.
    manifest: Manifest,
    /// The world the component implements.
    capability: Capability,
    /// Pre-linked instance of the world.
    pub(super) pre: WorldPre,
    /// Counters shared with the runtime.
    stats: Arc<PluginStats>,
    /// Where the compiled code came from.
    compiled_from: CompiledFrom,
    /// Size of the component in bytes.
    size: usize,
    /// The engine that compiled it: calls must use the same.
    engine: Engine,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("id", &self.0.manifest.id)
            .field("version", &self.0.manifest.version)
            .field("hash", &self.0.hash)
            .field("capability", &self.0.capability)
            .field("compiled_from", &self.0.compiled_from)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// Hex SHA-256 of the component bytes.
    pub fn hash(&self) -> &str {
        &self.0.hash
    }

    /// The validated manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.0.manifest
    }

    /// The contract version the component was built against, e.g. `0.1.0`.
    pub fn contract(&self) -> &'static str {
        self.0.pre.version().as_str()
    }

    /// The world the component implements.
    pub fn capability(&self) -> Capability {
        self.0.capability
    }

    /// Whether this load compiled the component or read it from the disk cache.
    pub fn compiled_from(&self) -> CompiledFrom {
        self.0.compiled_from
    }

    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.0.size
    }

    /// The call counters of this version (shared by every load of the same bytes).
    pub fn stats(&self) -> StatsSnapshot {
        self.0.stats.snapshot()
    }

    /// The pre-linked instance.
    pub(super) fn pre(&self) -> &WorldPre {
        &self.0.pre
    }

    /// The shared counters.
    pub(super) fn counters(&self) -> &PluginStats {
        &self.0.stats
    }

    /// The engine the plugin was compiled for.
    pub(super) fn engine(&self) -> &Engine {
        &self.0.engine
    }
}

/// The first bytes of every WebAssembly binary.
const WASM_MAGIC: [u8; 4] = *b"\0asm";
/// Version and layer of a component (a core module has `01 00 00 00`).
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];

/// Refuses bytes that are not a component before spending time compiling them.
fn check_header(bytes: &[u8]) -> Result<(), PluginFailure> {
    match bytes.get(..8) {
        Some(h) if h[..4] == WASM_MAGIC && h[4..] == COMPONENT_VERSION => Ok(()),
        Some(h) if h[..4] == WASM_MAGIC && h[6..8] == [0, 0] => Err(PluginFailure::NotAComponent(
            "this is a core WebAssembly module, not a component; link it with \
             wasm-component-ld (the linker of Rust's wasm32-wasip2 target; the plugin SDK's docs \
             show it for wasm32-unknown-unknown) or run `wasm-tools component new` on it"
                .to_owned(),
        )),
        Some(h) if h[..4] == WASM_MAGIC => Err(PluginFailure::NotAComponent(
            "unsupported WebAssembly binary version or layer".to_owned(),
        )),
        _ => Err(PluginFailure::NotAComponent(
            "the bytes do not start with the WebAssembly magic number".to_owned(),
        )),
    }
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Hex SHA-256 of `bytes`: a plugin version's identity.
pub fn component_hash(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Feeds `Hash` output into SHA-256, for a hash that is stable across processes.
struct DigestHasher(Sha256);

impl std::hash::Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl Runtime {
    /// Builds the engine (fuel, epoch interruption, pooling allocator, optimizing Cranelift),
    /// links the locked-down WASI and starts the epoch ticker.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, PluginFailure> {
        let engine = Engine::new(&engine_config(&config)).map_err(host_error)?;
        let linker = linker(&engine).map_err(host_error)?;
        let mut hasher = DigestHasher(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
        let engine_hash = hex(&hasher.0.finalize()[..8]);
        if let Some(dir) = &config.cache_dir
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            warn!(dir = %dir.display(), error = %e, "plugin cache directory unusable; compiling every load");
        }
        let ticker = Ticker::start(engine.clone(), config.epoch_tick, config.epoch_idle)
            .map_err(|e| PluginFailure::Host(format!("cannot start the epoch thread: {e}")))?;
        let slots = Slots::new(Shares {
            total: config.max_concurrent_instances,
            per_tenant: config.instances_per_tenant,
            per_plugin: config.instances_per_plugin,
        });
        Ok(Runtime {
            engine,
            linker,
            config,
            engine_hash,
            compilations: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            stats: Mutex::new(HashMap::new()),
            ticker: Some(ticker),
            slots,
            stopping: Arc::new(AtomicBool::new(false)),
            compiling: Mutex::new(()),
        })
    }

    /// Stops every running call within a few milliseconds (at its next epoch check, as a `host`
    /// failure that is not the plugin's fault) and refuses new calls. For shutdown: it cannot be
    /// undone.
    pub fn interrupt(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Counts a call as running for the epoch thread (waking it if it sleeps) until dropped:
    /// taken before a call sets its epoch deadline.
    pub(super) fn running(&self) -> Option<Running<'_>> {
        self.ticker.as_ref().map(Ticker::running)
    }

    /// Waits until the epoch thread sleeps for lack of calls, or `timeout` passes; returns
    /// whether it sleeps. For tests that must start a call while it does.
    pub fn wait_for_idle_epoch_thread(&self, timeout: Duration) -> bool {
        let Some(ticker) = &self.ticker else {
            return false;
        };
        let s = &ticker.shared;
        let deadline = Instant::now() + timeout;
        let mut guard = s.parking.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if s.parked.load(Ordering::SeqCst) && s.running.load(Ordering::SeqCst) == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = s
                .parked_now
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Whether [`Runtime::interrupt`] was called.
    pub fn interrupted(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Instance slots in use now: in all (`None`) or by one tenant's calls.
    pub fn instances_in_use(&self, tenant: Option<&str>) -> u32 {
        self.slots.in_use(tenant)
    }

    /// Waits until at least `n` instance slots are in use (by `tenant`'s calls, or in all), or
    /// `timeout` passes; returns whether they are. For tests and tools that must observe calls
    /// in flight.
    pub fn wait_for_instances_in_use(
        &self,
        tenant: Option<&str>,
        n: u32,
        timeout: Duration,
    ) -> bool {
        self.slots.wait_for(tenant, n, timeout)
    }

    /// The instance slots in all, per tenant and per plugin.
    pub fn instance_shares(&self) -> (u32, u32, u32) {
        let s = self.slots.shares();
        (s.total, s.per_tenant, s.per_plugin)
    }

    /// The configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// How many components this runtime compiled (loads that missed the disk cache).
    pub fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    /// How many loads this runtime served from the disk cache.
    pub fn cache_hits(&self) -> u64 {
        self.cache_hits.load(Ordering::Relaxed)
    }

    /// Counters of every plugin version loaded so far, by component hash.
    pub fn stats(&self) -> Vec<(String, StatsSnapshot)> {
        let stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = stats
            .iter()
            .map(|(hash, s)| (hash.clone(), s.snapshot()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Loads a plugin from its component bytes: checks size and format, compiles it (or reads
    /// the compiled code from the cache), links it, and reads and validates its manifest.
    ///
    /// Errors: `TooLarge`, `NotAComponent`, `UnsupportedWit` (no supported world, a newer or
    /// unknown `kith:plugin` version, or an import the host does not provide), `BadManifest`.
    #[tracing::instrument(skip_all, fields(size = bytes.len(), hash))]
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedPlugin, PluginFailure> {
        if bytes.len() > self.config.max_plugin_bytes {
            return Err(PluginFailure::TooLarge {
                size: bytes.len(),
                limit: self.config.max_plugin_bytes,
            });
        }
        check_header(bytes)?;
        let hash = component_hash(bytes);
        tracing::Span::current().record("hash", hash.as_str());
        let (component, compiled_from) = self.compile_cached(bytes, &hash)?;
        let (version, capability) = self.world_of(&component)?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|e| {
            PluginFailure::UnsupportedWit(format!(
                "the plugin imports something Kith does not provide: {}",
                one_line(&e)
            ))
        })?;
        let pre = typed_pre(version, capability, instance_pre)?;
        let manifest = self.read_manifest(&pre, capability)?;
        let stats = self
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(hash.clone())
            .or_default()
            .clone();
        info!(
            plugin = %manifest.id,
            version = %manifest.version,
            hash = %hash,
            capability = %capability,
            contract = pre.version().as_str(),
            from_cache = compiled_from == CompiledFrom::Cache,
            "plugin loaded"
        );
        Ok(LoadedPlugin(Arc::new(Loaded {
            hash,
            manifest,
            capability,
            pre,
            stats,
            compiled_from,
            size: bytes.len(),
            engine: self.engine.clone(),
        })))
    }

    /// The world a component implements, from its exports, and the contract version it was built
    /// against, from its `kith:plugin` imports (none when it imports nothing from the contract).
    fn world_of(
        &self,
        component: &Component,
    ) -> Result<(Option<Version>, Capability), PluginFailure> {
        let ty = component.component_type();
        let mut version = None;
        for (name, _) in ty.imports(&self.engine) {
            if !name.starts_with("kith:plugin/") {
                continue;
            }
            match (Version::of_import(name), version) {
                (None, _) => {
                    return Err(PluginFailure::UnsupportedWit(format!(
                        "the plugin imports {name}; this host implements kith:plugin@{}",
                        bindings::VERSIONS.join(" and @")
                    )));
                }
                (Some(v), Some(seen)) if v != seen => {
                    return Err(PluginFailure::UnsupportedWit(format!(
                        "the plugin imports both kith:plugin@{} and @{}; a plugin is built \
                         against one version",
                        seen.as_str(),
                        v.as_str()
                    )));
                }
                (Some(v), _) => version = Some(v),
            }
        }
        let exports: Vec<&str> = ty.exports(&self.engine).map(|(name, _)| name).collect();
        let has = |name: &str| exports.contains(&name);
        let worlds = [
            (has("score"), Capability::Scorer),
            (has("classify"), Capability::Segmenter),
            (has("handle"), Capability::CommerceHook),
        ];
        let mut found = worlds
            .iter()
            .filter(|(present, _)| *present)
            .map(|(_, c)| *c);
        match (found.next(), found.next()) {
            (Some(world), None) if has("manifest") => Ok((version, world)),
            (Some(a), Some(b)) => Err(PluginFailure::UnsupportedWit(format!(
                "the component exports both the {a} and the {b} world; a plugin implements one"
            ))),
            _ => Err(PluginFailure::UnsupportedWit(format!(
                "the component exports [{}], not a world of kith:plugin@{} (scorer: manifest, \
                 populate, score; segmenter: manifest, populate, classify; commerce-hook: \
                 manifest, handle)",
                exports.join(", "),
                bindings::VERSIONS.join(" or @"),
            ))),
        }
    }

    /// Calls `manifest()` with the manifest budgets and validates the result.
    fn read_manifest(&self, pre: &WorldPre, world: Capability) -> Result<Manifest, PluginFailure> {
        let (raw, _report) = super::call::manifest(self, pre, &self.config.manifest_limits);
        let raw = raw.map_err(|e| PluginFailure::BadManifest(format!("manifest() failed: {e}")))?;
        super::convert::manifest(raw, world)
    }

    /// The compiled component, from the cache when possible.
    fn compile_cached(
        &self,
        bytes: &[u8],
        hash: &str,
    ) -> Result<(Component, CompiledFrom), PluginFailure> {
        let path = self
            .config
            .cache_dir
            .as_ref()
            .map(|dir| dir.join(format!("{hash}-{}.cwasm", self.engine_hash)));
        if let Some(path) = &path
            && let Some(component) = self.read_cache(path)
        {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((component, CompiledFrom::Cache));
        }
        let _one_at_a_time = self
            .compiling
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (component, artifact) = match &self.config.compiler {
            Compiler::InProcess => {
                let component = Component::new(&self.engine, bytes).map_err(|e| {
                    PluginFailure::NotAComponent(format!("invalid component: {}", one_line(&e)))
                })?;
                (component, None)
            }
            Compiler::Subprocess(child) => {
                let artifact = child.compile(bytes)?;
                let component = deserialize_cached(&self.engine, &artifact).map_err(|e| {
                    PluginFailure::Host(format!(
                        "the plugin compiler's output does not load: {}",
                        one_line(&e)
                    ))
                })?;
                (component, Some(artifact))
            }
        };
        self.compilations.fetch_add(1, Ordering::Relaxed);
        if let Some(path) = &path {
            let artifact = match artifact {
                Some(a) => Ok(a),
                None => component
                    .serialize()
                    .map_err(|e| std::io::Error::other(one_line(&e))),
            };
            if let Err(e) = artifact.and_then(|a| write_cache(path, &a)) {
                warn!(path = %path.display(), error = %e, "could not cache compiled plugin");
            }
        }
        Ok((component, CompiledFrom::Compiled))
    }

    /// The cached component at `path`, or `None` (absent, corrupt, truncated, or from another
    /// engine configuration: all of which just mean recompiling).
    fn read_cache(&self, path: &Path) -> Option<Component> {
        let file = match std::fs::read(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                warn!(path = %path.display(), error = %e, "unreadable plugin cache file; recompiling");
                return None;
            }
        };
        let Some(artifact) = verified_artifact(&file) else {
            warn!(path = %path.display(), "corrupt plugin cache file; recompiling");
            return None;
        };
        match deserialize_cached(&self.engine, artifact) {
            Ok(component) => Some(component),
            Err(e) => {
                warn!(path = %path.display(), error = %one_line(&e), "stale plugin cache file; recompiling");
                None
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.stop();
        }
    }
}

/// The engine configuration: sized for a small (2-core) server.
fn engine_config(config: &RuntimeConfig) -> Config {
    let instances = config.max_concurrent_instances.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(instances)
        // A Rust wasip2 component instantiates 3 core modules (main, shim, fixup).
        .max_core_instances_per_component(16)
        .total_core_instances(instances.saturating_mul(8))
        .max_memories_per_component(2)
        .total_memories(instances.saturating_mul(2))
        .max_tables_per_component(4)
        .total_tables(instances.saturating_mul(4))
        .max_memory_size(usize::try_from(config.max_memory_bytes).unwrap_or(usize::MAX))
        .table_elements(
            usize::try_from(
                config
                    .limits
                    .table_elements
                    .max(config.population_limits.table_elements),
            )
            .unwrap_or(usize::MAX),
        )
        // Reset a reused slot by scanning for the pages the last call dirtied (PAGEMAP_SCAN,
        // Linux 6.7+; ignored elsewhere) and restoring them in place, instead of unmapping
        // them and taking a page fault on each again: the largest per-call saving (about
        // 2x on the trivial-scorer benchmark). Up to 4 MiB per slot stays resident.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 * 1024);
    let mut c = codegen_config();
    c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    c
}

/// The settings that decide the compiled code (and so its compatibility hash), shared by the
/// server's engine and the compiler child's, whose artifacts the server deserializes.
pub(super) fn codegen_config() -> Config {
    let mut c = Config::new();
    c.consume_fuel(true)
        .epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .memory_init_cow(true);
    c
}

/// The typed pre-linked instance of a component of `world`: of `version`, or, for a component
/// that imports nothing from the contract, of the newest version its exports match.
fn typed_pre(
    version: Option<Version>,
    world: Capability,
    pre: wasmtime::component::InstancePre<HostState>,
) -> Result<WorldPre, PluginFailure> {
    let candidates = match version {
        Some(v) => vec![v],
        None => Version::NEWEST_FIRST.to_vec(),
    };
    let mut errors = Vec::new();
    for v in candidates {
        match WorldPre::new(v, world, pre.clone()) {
            Ok(typed) => return Ok(typed),
            Err(e) => errors.push(format!("kith:plugin@{}: {}", v.as_str(), one_line(&e))),
        }
    }
    Err(PluginFailure::UnsupportedWit(format!(
        "the {world} exports do not match the contract ({})",
        errors.join("; ")
    )))
}

/// The linker every plugin is instantiated with: WASI (locked down per call by its context),
/// the types-only contract interface, and clock waits that trap.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)?;
    bindings::add_to_linker(&mut linker)?;
    deny_sleeping(&mut linker)?;
    Ok(linker)
}

/// The WASI package version wasmtime-wasi links, whose clock functions we replace.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Replaces `subscribe-duration` and `subscribe-instant` with functions that trap.
///
/// wasmtime-wasi implements them with a host-side sleep, which an epoch deadline cannot
/// interrupt: a plugin could hold a host thread as long as it liked. Plugins have no business
/// waiting, so `std::thread::sleep` in a plugin is a trap.
fn deny_sleeping(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    fn refuse(
        _: wasmtime::StoreContextMut<'_, HostState>,
        _: (u64,),
    ) -> wasmtime::Result<(Resource<DynPollable>,)> {
        Err(wasmtime::format_err!(
            "plugins may not wait or sleep: time comes in the input"
        ))
    }
    // Defining without shadowing must fail: it proves wasmtime-wasi defined this exact name,
    // so the replacement below is the function plugins get, not an unused extra instance.
    if linker
        .instance(MONOTONIC_CLOCK)?
        .func_wrap("subscribe-duration", refuse)
        .is_ok()
    {
        wasmtime::bail!(
            "wasmtime-wasi no longer provides {MONOTONIC_CLOCK}; update MONOTONIC_CLOCK"
        );
    }
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", refuse)?;
    clock.func_wrap("subscribe-instant", refuse)?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A host-side setup failure.
fn host_error(e: wasmtime::Error) -> PluginFailure {
    PluginFailure::Host(one_line(&e))
}

/// An error and its causes on one line.
pub(super) fn one_line(e: &wasmtime::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        text.push_str(": ");
        text.push_str(&cause.to_string());
    }
    text.replace('\n', " ")
}

/// Length of the SHA-256 trailer that guards a cache file against corruption.
const TRAILER: usize = 32;

/// The artifact in a cache file if its trailing SHA-256 matches, else `None`.
fn verified_artifact(file: &[u8]) -> Option<&[u8]> {
    let split = file.len().checked_sub(TRAILER)?;
    let (artifact, digest) = file.split_at(split);
    (Sha256::digest(artifact).as_slice() == digest).then_some(artifact)
}

/// Deserializes a compiled component from the runtime's own cache or its compiler child.
#[allow(unsafe_code)]
fn deserialize_cached(engine: &Engine, artifact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be compiled code produced by
    // wasmtime. These bytes come from one of two places. (1) The disk cache: written by
    // `write_cache` from a compilation by this process kind; the file name binds them to the
    // SHA-256 of the component's bytes and to this engine's `precompile_compatibility_hash`
    // (wasmtime version and every codegen setting), and `verified_artifact` has checked the
    // SHA-256 trailer written with them, so a truncated, corrupted or foreign file never gets
    // here. The cache directory must be as trusted as the binary itself: whoever can write
    // there can run code. (2) The compiler child (`compile.rs`): the executable the operator
    // configured (a `kith` binary of this build) ran `Engine::precompile_component` with
    // `codegen_config()` and wrote the result to a pipe only we read. In both cases wasmtime's
    // own header check rejects any remaining engine mismatch with an error.
    unsafe { Component::deserialize(engine, artifact) }
}

/// Writes a compiled component's artifact and its SHA-256 to `path` via a temporary file and a
/// rename, so readers see either the whole file or none.
fn write_cache(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let digest = Sha256::digest(artifact);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        use std::io::Write as _;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(artifact)?;
        file.write_all(&digest)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A thread that increments the engine's epoch every tick while calls run, for deadlines.
///
/// Once no call has run for `idle`, it parks until the next call starts ([`Ticker::running`]),
/// instead of waking every tick (1,000 times a second by default) on an idle server and
/// taking a core from the request workers each time.
struct Ticker {
    /// Shared with the thread and every call.
    shared: Arc<TickerShared>,
    /// The thread.
    thread: JoinHandle<()>,
}

struct TickerShared {
    /// Calls running now.
    running: AtomicUsize,
    /// Set by every call when it starts, cleared by the thread at each tick: a call shorter
    /// than a tick still counts as activity.
    started: AtomicBool,
    /// Whether the thread is parked (or about to park); a starting call then unparks it.
    parked: AtomicBool,
    /// Set to stop the thread.
    stop: AtomicBool,
    /// Notified when the thread parks ([`Runtime::wait_for_idle_epoch_thread`]).
    parking: Mutex<()>,
    parked_now: Condvar,
}

impl Ticker {
    /// Starts ticking.
    fn start(engine: Engine, tick: Duration, idle: Duration) -> std::io::Result<Ticker> {
        let shared = Arc::new(TickerShared {
            running: AtomicUsize::new(0),
            started: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            parking: Mutex::new(()),
            parked_now: Condvar::new(),
        });
        // At least one tick without a call before the thread sleeps.
        let idle_ticks = idle.as_nanos().div_ceil(tick.as_nanos().max(1)).max(1);
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("kith-plugin-epoch".to_owned())
                .spawn(move || shared.tick(&engine, tick, idle_ticks))?
        };
        Ok(Ticker { shared, thread })
    }

    /// Counts a call as running until the guard drops, waking the thread if it sleeps.
    fn running(&self) -> Running<'_> {
        let s = &self.shared;
        // SeqCst with the thread's `parked` store then `running` load: either the thread sees
        // this call and stays awake, or this call sees it parked and unparks it (an unpark
        // before the park makes the park return at once).
        s.running.fetch_add(1, Ordering::SeqCst);
        s.started.store(true, Ordering::Relaxed);
        if s.parked.load(Ordering::SeqCst) {
            self.thread.thread().unpark();
        }
        Running(s)
    }

    /// Stops the thread and waits for it (at most a tick).
    fn stop(self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}

impl TickerShared {
    /// The thread's loop.
    fn tick(&self, engine: &Engine, tick: Duration, idle_ticks: u128) {
        let mut idle = 0u128;
        loop {
            std::thread::sleep(tick);
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            engine.increment_epoch();
            let active = self.running.load(Ordering::SeqCst) > 0
                || self.started.swap(false, Ordering::Relaxed);
            idle = if active { 0 } else { idle.saturating_add(1) };
            if idle < idle_ticks {
                continue;
            }
            self.parked.store(true, Ordering::SeqCst);
            drop(self.parking.lock().unwrap_or_else(PoisonError::into_inner));
            self.parked_now.notify_all();
            while self.running.load(Ordering::SeqCst) == 0 && !self.stop.load(Ordering::SeqCst) {
                std::thread::park();
            }
            self.parked.store(false, Ordering::SeqCst);
            idle = 0;
        }
    }
}

/// A running call, for the epoch thread.
pub(super) struct Running<'a>(&'a TickerShared);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiler_child_and_the_server_produce_compatible_code() {
        // The server deserializes what `codegen_config()` compiles in the child: the pooling
        // allocator must not change the compatibility hash.
        let server = Engine::new(&engine_config(&RuntimeConfig::default())).unwrap();
        let child = Engine::new(&codegen_config()).unwrap();
        let hash = |e: &Engine| {
            let mut h = DigestHasher(Sha256::new());
            std::hash::Hash::hash(&e.precompile_compatibility_hash(), &mut h);
            h.0.finalize()
        };
        assert_eq!(hash(&server), hash(&child));
    }
}
