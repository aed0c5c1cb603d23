//! The plugin platform's service functions: the registry of installed components, per-tenant
//! enablement with validated configuration, event-log dispatch to scorers and segmenters,
//! population steps, rescoring jobs and commerce webhooks.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kith::model::{Actor, TenantInput, TenantSlug};
//! use kith::service::plugins::{HostConfig, PluginHost, EnableRequest};
//! use kith::store::{RedbStore, Store, StoreConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(RedbStore::open("./kith-data", StoreConfig::default())?);
//! let host = PluginHost::open(store.clone(), HostConfig::default())?;
//! let installed = host.install(&std::fs::read("rfm_scorer.wasm")?)?;
//! let tenant = TenantSlug::parse("acme")?;
//! host.enable(&tenant, EnableRequest::new(&installed.plugin.id, serde_json::json!({})))?;
//! let _dispatcher = host.spawn_dispatcher();
//! # Ok(()) }
//! ```
//!
//! Guarantees, and where they come from:
//! - A plugin runs for a tenant only while it is enabled there ([`PluginHost::enable`]); its
//!   configuration was validated against the version's JSON Schema.
//! - Dispatch reads a batch of events after the plugin's durable cursor, calls the plugin once per
//!   affected customer, and writes the outputs, the validated actions and the cursor advance in
//!   one transaction ([`PluginOp::AdvanceCursor`] refuses a stale cursor), so a crash never skips
//!   or repeats an event's effects.
//! - A failed call (trap, budget, deadline, memory, invalid output or action) is recorded with
//!   its cause; it never undoes the write that triggered it. Repeated failures suspend the plugin
//!   for the tenant ([`Breaker`]).
//!
//! And what keeps one tenant, one plugin or one anonymous caller from degrading the others:
//! - Every per-call budget has a host-wide ceiling that a tenant's overrides cannot exceed
//!   ([`Ceilings`]); each tenant and each plugin may hold only a share of the instance slots.
//! - Dispatch runs on a pool of workers that tenants take turns on, a time slice each: one
//!   tenant's slow plugin holds one worker, never the others ([`HostConfig::dispatch_workers`]).
//! - Plugin-caused writes carry their chain depth and count against a per-tenant rate
//!   ([`WriteBudget`]).
//! - A commerce hook's signature is checked by the host before any guest code runs when Kith
//!   knows the scheme; unverified deliveries get guest work in proportion to their body and never
//!   count towards suspension ([`HookBudget`]).
//! - Stopping interrupts running calls within milliseconds ([`PluginHost::stop`]).

mod budget;
mod config;
mod dispatch;
mod hooks;
mod jobs;
mod registry;
mod views;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;

pub use self::budget::{Budgets, Ceilings, RefusedActions, WriteBudget};
pub use self::config::{MAX_CONFIG_BYTES, SchemaBudget, check_standalone as check_config};
pub use self::dispatch::DispatcherHandle;
pub use self::hooks::{
    HookBudget, HookResult, HookStep, PendingHook, attestation, known_signature,
};
pub use self::jobs::{Job, JobState};
pub use self::registry::{EnableRequest, Installed, PluginStatus, SettingsChange};
pub use self::views::{
    CustomerInsights, DEFAULT_DRY_RUN_SAMPLE, DryRun, DryRunOutcome, DryRunRequest,
    MAX_DRY_RUN_CUSTOMERS, ScoreChange, ScoredCustomer, SegmentChange, SegmentSummary,
};
/// The circuit breaker lives in the model: the store applies it when it commits calls' outcomes.
pub use crate::model::Breaker;
use crate::model::{Enablement, InstalledPlugin, Producer, TenantSlug};
use crate::plugin::{Limits, LoadedPlugin, Manifest, Runtime, RuntimeConfig};
use crate::store::Error as StoreError;
use crate::store::{PluginOp, PluginStore};
use crate::{Error, Result};

/// How the plugin host is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The runtime's settings (cache directory, default budgets, size limit).
    pub runtime: RuntimeConfig,
    /// The circuit breaker.
    pub breaker: Breaker,
    /// Events read per dispatch batch.
    pub batch_events: usize,
    /// Customers per rescore batch.
    pub rescore_batch: usize,
    /// How often a plugin's population step runs by default (its enablement may say otherwise).
    pub population_interval: Duration,
    /// How long the dispatcher waits for a commit before it looks at schedules again.
    pub idle_wait: Duration,
    /// How long a node's hold on a tenant's dispatch lasts unless renewed (every quarter of it,
    /// with the node's heartbeat). With several nodes on one database, a node that dies has its
    /// tenants taken over by the others after at most this long.
    pub lease_ttl: Duration,
    /// The most a tenant's budget overrides may ask for.
    pub ceilings: Ceilings,
    /// Threads that run dispatch batches. Tenants take turns on them; one tenant holds at most
    /// one at a time (default: the number of cores, at least 2).
    pub dispatch_workers: usize,
    /// How long a tenant keeps a dispatch worker before the next tenant's turn (a call already
    /// running finishes first).
    pub dispatch_slice: Duration,
    /// Budgets of plugin-caused writes.
    pub writes: WriteBudget,
    /// Rescore jobs that run at once; more wait their turn.
    pub concurrent_rescores: usize,
    /// Guest work allowed for webhook deliveries.
    pub hooks: HookBudget,
    /// Limits of checking configuration schemas and validating configurations against them.
    pub schemas: SchemaBudget,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            runtime: RuntimeConfig::default(),
            breaker: Breaker::default(),
            batch_events: 512,
            rescore_batch: 256,
            population_interval: Duration::from_secs(24 * 3600),
            idle_wait: Duration::from_secs(1),
            lease_ttl: Duration::from_secs(10),
            ceilings: Ceilings::default(),
            dispatch_workers: std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
            dispatch_slice: Duration::from_millis(100),
            writes: WriteBudget::default(),
            concurrent_rescores: 2,
            hooks: HookBudget::default(),
            schemas: SchemaBudget::default(),
        }
    }
}

impl HostConfig {
    /// The default settings with compiled components cached in `dir`.
    pub fn with_cache(dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::default();
        config.runtime.cache_dir = Some(dir.into());
        config
    }
}

/// Runs the plugin platform over a store. Share it as `Arc<PluginHost>`.
pub struct PluginHost {
    store: Arc<dyn PluginStore>,
    runtime: Runtime,
    config: HostConfig,
    /// Loaded versions by hash.
    loaded: RwLock<HashMap<String, LoadedPlugin>>,
    jobs: jobs::Jobs,
    /// Bumped and signalled after each dispatch write, for [`PluginHost::wait_for_cursor`].
    progress: (Mutex<u64>, Condvar),
    /// Tenants written since the dispatcher last looked, fed by the store's commit listener.
    dirty: dispatch::Dirty,
    /// Plugin write accounting (chain depth, per-tenant rate, refusals).
    writes: budget::Writes,
    /// Schema validations that ran past their time budget.
    schema_guard: config::Guard,
    stopping: AtomicBool,
    /// The host's own `Arc`, for the background threads it starts.
    me: std::sync::Weak<PluginHost>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("loaded", &self.loaded.read().map(|l| l.len()).unwrap_or(0))
            .finish_non_exhaustive()
    }
}

impl PluginHost {
    /// Starts the runtime and loads every installed plugin version (from the compilation
    /// cache when it has them, so a restart does not recompile).
    pub fn open(store: Arc<dyn PluginStore>, config: HostConfig) -> Result<Arc<Self>> {
        let runtime = Runtime::new(config.runtime.clone())?;
        let dirty = dispatch::Dirty::default();
        crate::store::Store::on_commit(store.as_ref(), dirty.listener());
        let jobs = jobs::Jobs::new(config.concurrent_rescores);
        let host = Arc::new_cyclic(|me| Self {
            store,
            runtime,
            config,
            loaded: RwLock::new(HashMap::new()),
            jobs,
            progress: (Mutex::new(0), Condvar::new()),
            dirty,
            writes: budget::Writes::default(),
            schema_guard: config::Guard::default(),
            stopping: AtomicBool::new(false),
            me: me.clone(),
        });
        host.load_installed()?;
        Ok(host)
    }

    /// The store the host works on.
    pub fn store(&self) -> &Arc<dyn PluginStore> {
        &self.store
    }

    /// The runtime (for its counters).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The host's settings.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// The loaded plugin version with this hash.
    fn loaded(&self, hash: &str) -> Result<LoadedPlugin> {
        if let Some(p) = self.loaded.read().ok().and_then(|l| l.get(hash).cloned()) {
            return Ok(p);
        }
        // Installed by another host on the same store, or evicted: load it now.
        let bytes = self
            .store
            .plugin_bytes(hash)?
            .ok_or_else(|| Error::not_found("plugin", hash))?;
        let plugin = self.runtime.load(&bytes)?;
        if let Ok(mut l) = self.loaded.write() {
            l.insert(hash.to_owned(), plugin.clone());
        }
        Ok(plugin)
    }

    /// The budgets of a per-customer or webhook call (`population`: of the population step)
    /// for a tenant's enablement of `plugin`: the host's defaults, replaced by those the
    /// plugin's manifest declares, then by the tenant's overrides, none above the host's
    /// ceilings.
    pub fn limits(&self, e: &Enablement, plugin: &Manifest, population: bool) -> Limits {
        let (base, declared, overrides) = if population {
            (
                self.config.runtime.population_limits,
                &plugin.budgets.population,
                &e.population_limits,
            )
        } else {
            (self.config.runtime.limits, &plugin.budgets.call, &e.limits)
        };
        let cap = self.config.runtime.max_memory_bytes;
        let ceilings = &self.config.ceilings;
        ceilings.apply(
            ceilings.apply(base, declared, population, cap),
            overrides,
            population,
            cap,
        )
    }

    /// Signals progress to waiters.
    fn progressed(&self) {
        if let Ok(mut n) = self.progress.0.lock() {
            *n += 1;
            self.progress.1.notify_all();
        }
    }

    /// Waits until the plugin's cursor for the tenant reaches `seq`, or `timeout` passes;
    /// returns the cursor. For tests and for callers that must see a write's effects.
    pub fn wait_for_cursor(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        seq: u64,
        timeout: Duration,
    ) -> Result<u64> {
        let deadline = std::time::Instant::now() + timeout;
        let (lock, cvar) = &self.progress;
        let mut guard = lock
            .lock()
            .map_err(|_| Error::Store(StoreError::Storage("progress lock poisoned".into())))?;
        loop {
            let cursor = self.store.plugin_cursor(tenant, plugin)?;
            let now = std::time::Instant::now();
            if cursor >= seq || now >= deadline {
                return Ok(cursor);
            }
            guard = cvar
                .wait_timeout(guard, deadline - now)
                .map_err(|_| Error::Store(StoreError::Storage("progress lock poisoned".into())))?
                .0;
        }
    }

    /// Call counters of every loaded version: (plugin id, version, counters), by id and version.
    pub fn call_stats(&self) -> Vec<(String, String, crate::plugin::StatsSnapshot)> {
        let mut all: Vec<_> = self
            .loaded
            .read()
            .map(|l| {
                l.values()
                    .map(|p| {
                        let m = p.manifest();
                        (m.id.clone(), m.version.clone(), p.stats())
                    })
                    .collect()
            })
            .unwrap_or_default();
        all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        all
    }

    /// The breaker state of every enablement of every tenant: (tenant, plugin, suspended now,
    /// health).
    pub fn health_of_all(
        &self,
    ) -> Result<Vec<(TenantSlug, String, bool, crate::model::PluginHealth)>> {
        let now = crate::model::Timestamp::now();
        let mut out = Vec::new();
        for tenant in self.store.tenants()? {
            for e in self.store.enablements(&tenant.slug)? {
                let health = self.store.plugin_health(&tenant.slug, &e.plugin)?;
                let suspended = !self.config.breaker.allows(&health, now);
                out.push((tenant.slug.clone(), e.plugin, suspended, health));
            }
        }
        Ok(out)
    }

    /// Stops background work (dispatcher, jobs): running plugin calls are interrupted within
    /// milliseconds (their batch is not applied, so it runs again after a restart) and no new
    /// ones start. It cannot be undone.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.runtime.interrupt();
        self.dirty.wake();
        self.jobs.wake();
        self.progressed();
    }

    fn this(&self) -> Option<Arc<PluginHost>> {
        self.me.upgrade()
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// Validates, on the calling thread, the phone numbers of the customers `actions` upsert, so
/// that the commit thread every tenant shares takes the answers instead of validating them
/// ([`crate::model::Phone::validate_ahead`]). An invalid number is left for the write to
/// refuse as it always has.
fn validate_phones_ahead(actions: &[crate::model::Action]) {
    for action in actions {
        if let crate::model::Action::UpsertCustomer { fields, .. } = action
            && let Some(raw) = fields.phone.as_deref()
        {
            let _ = crate::model::Phone::validate_ahead(raw, fields.country.as_deref());
        }
    }
}

/// Who produced an output: the enabled version.
fn producer(e: &Enablement) -> Producer {
    Producer {
        plugin: e.plugin.clone(),
        version: e.version.clone(),
        hash: e.hash.clone(),
    }
}

/// A plugin version's public description.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// What the registry stores.
    pub plugin: InstalledPlugin,
    /// Its manifest.
    pub manifest: Manifest,
}

/// The op that records a new enablement state.
fn enable_op(e: Enablement) -> crate::store::Op {
    crate::store::Op::Plugin(PluginOp::Enable(e))
}
