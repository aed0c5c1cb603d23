//! Following each tenant's event log: the dispatcher (a coordinator and a pool of workers that
//! tenants take turns on), one batch of one plugin, the population step, and evaluating one
//! customer.
//!
//! Fairness: the coordinator learns from the store's commit listener which tenants wrote, and
//! queues each tenant that has events to process. A worker takes the tenant at the head of the
//! queue, runs its plugins' batches round-robin for one time slice, commits what it processed
//! and puts the tenant back at the end of the queue if work remains. A tenant is never on two
//! workers at once, so a tenant whose plugin runs at its ceilings (a 60 s population step, a
//! 1 s call per customer) holds one worker while the others keep serving every other tenant.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::{debug, info, info_span, warn};

use super::budget::Refusal;
use super::{PluginHost, producer};
use crate::model::{
    Action, Actor, CustomerId, Enablement, Event, EventKind, FailureRecord, Outcomes, Pipeline,
    ScoreReason, SegmentMembership, StoredModel, StoredScore, StoredSegments, TenantSlug,
    Timestamp,
};
use crate::plugin::{
    CallOptions, Capability, CustomerCall, CustomerSummary, CustomerView, LoadedPlugin,
    PluginFailure, PopulationInput,
};
use crate::store::{CommitListener, CustomerBundle, Op, Output, PageRequest, PluginOp};
use crate::{Error, Result};

/// Below this many customers a population model is refreshed every [`SMALL_REFRESH_MICROS`]
/// (and at once when it has no model), whatever the plugin's interval.
const SMALL_POPULATION: u64 = 1_000;
/// How old a small population's model may get: 10 s.
const SMALL_REFRESH_MICROS: i64 = 10_000_000;

/// What one customer's call produced: the op that stores its score or segments, and the actions
/// it asked for (applied only within the write budgets).
#[derive(Debug)]
pub(super) struct Evaluated {
    /// `RecordScore` or `RecordSegments`.
    pub(super) output: Op,
    /// The plugin's actions, validated in shape.
    pub(super) actions: Vec<Action>,
}

/// One customer's evaluation, or why the call failed.
pub(super) type Evaluation = std::result::Result<Evaluated, PluginFailure>;

/// Tenants written since the coordinator last looked, fed by the store's commit listener.
#[derive(Debug, Default)]
pub(super) struct Dirty {
    inner: Arc<(Mutex<DirtySet>, Condvar)>,
}

#[derive(Debug, Default)]
struct DirtySet {
    tenants: HashSet<TenantSlug>,
    /// Set by [`Dirty::wake`]: look now (shutdown).
    woken: bool,
}

impl Dirty {
    /// The commit listener that records written tenants.
    pub(super) fn listener(&self) -> CommitListener {
        let inner = Arc::clone(&self.inner);
        Arc::new(move |info| {
            if info.tenants.is_empty() {
                return;
            }
            let (lock, cvar) = &*inner;
            let mut set = lock.lock().unwrap_or_else(PoisonError::into_inner);
            set.tenants.extend(info.tenants.iter().cloned());
            cvar.notify_all();
        })
    }

    /// Wakes the coordinator.
    pub(super) fn wake(&self) {
        let (lock, cvar) = &*self.inner;
        lock.lock().unwrap_or_else(PoisonError::into_inner).woken = true;
        cvar.notify_all();
    }

    /// Waits until some tenant was written (or `timeout` passes) and takes the written tenants.
    fn take(&self, timeout: Duration) -> HashSet<TenantSlug> {
        let (lock, cvar) = &*self.inner;
        let mut set = lock.lock().unwrap_or_else(PoisonError::into_inner);
        if set.tenants.is_empty() && !set.woken {
            set = cvar
                .wait_timeout_while(set, timeout, |s| s.tenants.is_empty() && !s.woken)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        set.woken = false;
        std::mem::take(&mut set.tenants)
    }
}

/// The queue of tenants waiting for a dispatch worker.
#[derive(Debug, Default)]
struct Turns {
    state: Mutex<TurnState>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct TurnState {
    queue: VecDeque<TenantSlug>,
    queued: HashSet<TenantSlug>,
    running: HashSet<TenantSlug>,
    /// Running tenants offered again meanwhile: they go back in the queue when their turn ends.
    again: HashSet<TenantSlug>,
    closed: bool,
}

impl Turns {
    /// Queues a tenant unless it is queued already; a running one is queued when it finishes.
    fn offer(&self, tenant: TenantSlug) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.running.contains(&tenant) {
            s.again.insert(tenant);
        } else if s.queued.insert(tenant.clone()) {
            s.queue.push_back(tenant);
            self.ready.notify_one();
        }
    }

    /// The next tenant to serve, waiting for one; `None` once closed.
    fn next(&self) -> Option<TenantSlug> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if s.closed {
                return None;
            }
            if let Some(t) = s.queue.pop_front() {
                s.queued.remove(&t);
                s.running.insert(t.clone());
                return Some(t);
            }
            s = self.ready.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Ends a tenant's turn; it goes to the back of the queue if it has more to do.
    fn done(&self, tenant: &TenantSlug, more: bool) {
        let again = {
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            s.running.remove(tenant);
            s.again.remove(tenant) || more
        };
        if again {
            self.offer(tenant.clone());
        }
    }

    fn close(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.ready.notify_all();
    }

    /// The tenants on a worker now.
    fn running(&self) -> Vec<TenantSlug> {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.running.iter().cloned().collect()
    }
}

/// The running dispatcher; dropping it stops it: running calls are interrupted, and a batch cut
/// short is not applied (its cursor did not move, so it runs again after a restart).
#[derive(Debug)]
pub struct DispatcherHandle {
    host: Arc<PluginHost>,
    turns: Arc<Turns>,
    threads: Vec<JoinHandle<()>>,
}

impl DispatcherHandle {
    /// Stops the dispatcher and waits for its threads (within milliseconds: running plugin
    /// calls are interrupted).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.host.stop();
        self.turns.close();
        let had_threads = !self.threads.is_empty();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // Other nodes take this node's tenants at once rather than after the lease time.
        if had_threads && let Err(e) = self.host.store.release_leases() {
            debug!(error = %e, "could not release the dispatch leases");
        }
    }
}

impl Drop for DispatcherHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl PluginHost {
    /// Starts the dispatcher: a coordinator thread that queues tenants with events to process
    /// (woken by every commit, and every `idle_wait` for schedules and suspensions that expire)
    /// and [`HostConfig::dispatch_workers`](super::HostConfig) workers that serve them in turn.
    pub fn spawn_dispatcher(self: &Arc<Self>) -> DispatcherHandle {
        let turns = Arc::new(Turns::default());
        let mut threads = Vec::new();
        let coordinator = {
            let host = Arc::clone(self);
            let turns = Arc::clone(&turns);
            std::thread::Builder::new()
                .name("kith-dispatch".into())
                .spawn(move || host.coordinate(&turns))
        };
        threads.extend(coordinator.ok());
        for i in 0..self.config.dispatch_workers.max(1) {
            let host = Arc::clone(self);
            let turns = Arc::clone(&turns);
            let worker = std::thread::Builder::new()
                .name(format!("kith-dispatch-{i}"))
                .spawn(move || {
                    while let Some(tenant) = turns.next() {
                        // Only the node holding the tenant's lease dispatches it.
                        let more = match host.store.lease(&tenant, host.config.lease_ttl) {
                            Ok(Some(fence)) => {
                                let until = Instant::now() + host.config.dispatch_slice;
                                host.dispatch_tenant(&tenant, fence, Some(until))
                            }
                            Ok(None) => false,
                            Err(e) => {
                                debug!(%tenant, error = %e, "dispatch lease not taken");
                                false
                            }
                        };
                        turns.done(&tenant, more);
                    }
                });
            threads.extend(worker.ok());
        }
        DispatcherHandle {
            host: Arc::clone(self),
            turns,
            threads,
        }
    }

    /// The coordinator's loop: queue every tenant with work, first all of them, then those
    /// written since, and all of them again every `idle_wait`; record this node's heartbeat and
    /// renew the leases of tenants on a worker every quarter of the lease time.
    fn coordinate(&self, turns: &Turns) {
        let mut next_full = Instant::now();
        let mut next_beat = Instant::now();
        let beat = self.config.lease_ttl / 4;
        while !self.stopping() {
            let now = Instant::now();
            if now >= next_beat {
                next_beat = now + beat;
                if let Err(e) = self.store.heartbeat() {
                    warn!(error = %e, "dispatcher cannot record this node's heartbeat");
                }
                for tenant in turns.running() {
                    // A turn longer than the lease (a long population step) keeps it; a lease
                    // lost meanwhile fails the turn's write (its fence is stale).
                    if let Err(e) = self.store.lease(&tenant, self.config.lease_ttl) {
                        debug!(%tenant, error = %e, "dispatch lease not renewed");
                    }
                }
            }
            let candidates: Vec<TenantSlug> = if now >= next_full {
                next_full = now + self.config.idle_wait;
                // Written tenants are covered by the full scan.
                drop(self.dirty.take(Duration::ZERO));
                match self.store.tenants() {
                    Ok(all) => all.into_iter().map(|t| t.slug).collect(),
                    Err(e) => {
                        warn!(error = %e, "dispatcher cannot list tenants");
                        Vec::new()
                    }
                }
            } else {
                self.dirty
                    .take(next_full.min(next_beat).saturating_duration_since(now))
                    .into_iter()
                    .collect()
            };
            for tenant in candidates {
                if self.stopping() {
                    break;
                }
                match self.has_work(&tenant) {
                    Ok(true) => turns.offer(tenant),
                    Ok(false) => {}
                    // Deleted meanwhile, or the store is closing.
                    Err(e) => debug!(%tenant, error = %e, "dispatcher skipped a tenant"),
                }
            }
        }
        turns.close();
    }

    /// Whether a scorer or segmenter of the tenant has events to process and may run now.
    fn has_work(&self, tenant: &TenantSlug) -> Result<bool> {
        let enablements = self.store.enablements(tenant)?;
        if enablements.is_empty() {
            return Ok(false);
        }
        let head = self.store.last_seq(tenant)?;
        let now = Timestamp::now();
        for e in enablements {
            if self.store.plugin_cursor(tenant, &e.plugin)? >= head {
                continue;
            }
            if !self
                .config
                .breaker
                .allows(&self.store.plugin_health(tenant, &e.plugin)?, now)
            {
                continue;
            }
            match self.loaded(&e.hash) {
                Ok(p) if p.capability() != Capability::CommerceHook => return Ok(true),
                _ => {}
            }
        }
        Ok(false)
    }

    /// Processes every pending event of every enabled scorer and segmenter of every tenant,
    /// until each is caught up, suspended or failing; returns how many events were processed.
    /// (The dispatcher does the same in the background, in turns.)
    pub fn dispatch_pending(&self) -> Result<u64> {
        let mut total = 0;
        for tenant in self.store.tenants()? {
            if let Some(fence) = self.store.lease(&tenant.slug, self.config.lease_ttl)? {
                total += self.dispatch_rounds(&tenant.slug, fence, None).0;
            }
        }
        Ok(total)
    }

    /// One turn of a tenant: its plugins' batches round-robin until they are caught up or
    /// `until` passes. Returns whether work remains.
    fn dispatch_tenant(&self, tenant: &TenantSlug, fence: u64, until: Option<Instant>) -> bool {
        self.dispatch_rounds(tenant, fence, until).1
    }

    /// Batches of every plugin of the tenant in rounds; (events processed, whether work
    /// remains because time ran out).
    fn dispatch_rounds(
        &self,
        tenant: &TenantSlug,
        fence: u64,
        until: Option<Instant>,
    ) -> (u64, bool) {
        let plugins = match self.store.enablements(tenant) {
            Ok(all) => all.into_iter().map(|e| e.plugin).collect::<Vec<_>>(),
            Err(e) => {
                debug!(%tenant, error = %e, "dispatch skipped a tenant");
                return (0, false);
            }
        };
        let mut active: Vec<String> = plugins;
        let mut total = 0;
        while !active.is_empty() {
            let mut still = Vec::with_capacity(active.len());
            for plugin in active {
                if self.stopping() {
                    return (total, false);
                }
                if until.is_some_and(|u| Instant::now() >= u) {
                    return (total, true);
                }
                // Read per batch: after an upgrade the next batch runs on the new version,
                // while a batch already running finishes on the old one.
                let e = match self.store.enablement(tenant, &plugin) {
                    Ok(Some(e)) => e,
                    _ => continue,
                };
                match self.dispatch_batch(tenant, &e, fence, until) {
                    Ok(0) => {}
                    Ok(n) => {
                        total += n;
                        still.push(plugin);
                    }
                    Err(err) => {
                        // Disabled or upgraded meanwhile, or the store is closing: the next
                        // pass sees the new state.
                        debug!(%tenant, plugin = %e.plugin, error = %err, "dispatch batch not applied");
                    }
                }
            }
            active = still;
        }
        (total, false)
    }

    /// Processes one batch of events for one plugin of one tenant, evaluating customers until
    /// `until` passes (at least one), and commits the outputs, the admitted actions and the
    /// cursor advance to the last event whose customers were all evaluated. Returns how many
    /// events it consumed (0: nothing to do, suspended, busy, or the population step failed).
    /// The write is fenced: it fails unless this node still holds the tenant's lease with
    /// `fence`.
    pub(super) fn dispatch_batch(
        &self,
        tenant: &TenantSlug,
        e: &Enablement,
        fence: u64,
        until: Option<Instant>,
    ) -> Result<u64> {
        let loaded = self.loaded(&e.hash)?;
        if loaded.capability() == Capability::CommerceHook {
            return Ok(0);
        }
        let now = Timestamp::now();
        let health = self.store.plugin_health(tenant, &e.plugin)?;
        let breaker = self.config.breaker;
        if !breaker.allows(&health, now) {
            return Ok(0);
        }
        let cursor = self.store.plugin_cursor(tenant, &e.plugin)?;
        // After a suspension, one event is the retry that decides whether it reopens.
        let limit = if breaker.is_retry(&health, now) {
            1
        } else {
            self.config.batch_events
        };
        let events = self.store.events(tenant, cursor, limit)?;
        let Some(mut last) = events.last().map(|ev| ev.seq) else {
            return Ok(0);
        };
        let _span = info_span!("dispatch", %tenant, plugin = %e.plugin, version = %e.version, from = cursor, to = last).entered();
        let customers = affected(&events, &e.plugin);

        let mut ops = Vec::with_capacity(customers.len() + 4);
        ops.push(Op::Plugin(PluginOp::Fence(fence)));
        let mut outcomes = Outcomes::new();
        let model = if customers.is_empty() {
            None
        } else {
            match self.current_model(tenant, e, &loaded, now)? {
                Ok((model, op)) => {
                    ops.extend(op);
                    model
                }
                Err(failure) if !failure.is_plugin_fault() => return Ok(0),
                Err(failure) => {
                    // Without its model the plugin cannot score: record, keep the cursor.
                    let failed = Outcomes::failure(failure_record(&failure, now));
                    self.write_outcomes(tenant, &e.plugin, failed)?;
                    return Ok(0);
                }
            }
        };
        let mut refusals: HashMap<&'static str, usize> = HashMap::new();
        if !customers.is_empty() {
            let pipelines = self.pipelines(tenant)?;
            for (k, c) in customers.iter().enumerate() {
                if k > 0 && until.is_some_and(|u| Instant::now() >= u) {
                    // Out of time: stop before this customer's first event; every event
                    // before it belongs to a customer already evaluated (or to none).
                    last = events[c.first - 1].seq;
                    break;
                }
                let Some(bundle) = self.store.customer_bundle(tenant, c.id)? else {
                    continue;
                };
                match self.evaluate(
                    tenant,
                    e,
                    &loaded,
                    &bundle,
                    &pipelines,
                    model.as_deref(),
                    now,
                    last,
                ) {
                    Ok(evaluated) => {
                        outcomes.succeeded();
                        let depth = c.depth.saturating_add(1);
                        let (group, refused) = self.admit(tenant, e, evaluated, depth);
                        if let Some(r) = refused {
                            *refusals.entry(r).or_default() += 1;
                        }
                        ops.push(Op::Attempt(group));
                    }
                    // The host had no free instance or is stopping: not the plugin's doing.
                    // Leave the whole batch for the next turn (the cursor stays), count nothing.
                    Err(failure) if !failure.is_plugin_fault() => return Ok(0),
                    Err(failure) => outcomes.failed(failure_record(&failure, now)),
                }
            }
        }
        if !refusals.is_empty() {
            info!(%tenant, plugin = %e.plugin, ?refusals, "plugin actions refused by the write budgets");
        }
        if !outcomes.is_empty() {
            ops.push(self.outcomes_op(&e.plugin, outcomes));
        }
        ops.push(Op::Plugin(PluginOp::AdvanceCursor {
            plugin: e.plugin.clone(),
            from: cursor,
            to: last,
        }));
        let outputs = self.store.write(tenant, &Actor::plugin(&e.plugin), ops)?;
        self.record_refused_actions(tenant, &e.plugin, &outputs, now)?;
        self.progressed();
        Ok(events.iter().take_while(|ev| ev.seq <= last).count() as u64)
    }

    /// The ops of one evaluated customer: its output, and its actions if the write budgets
    /// admit them at chain `depth` (with the refusal's code when they do not).
    pub(super) fn admit(
        &self,
        tenant: &TenantSlug,
        e: &Enablement,
        evaluated: Evaluated,
        depth: u8,
    ) -> (Vec<Op>, Option<&'static str>) {
        let Evaluated { output, actions } = evaluated;
        let mut group = vec![output];
        if actions.is_empty() {
            return (group, None);
        }
        match self
            .writes
            .admit(&self.config.writes, tenant, &e.plugin, depth, actions.len())
        {
            Ok(()) => {
                super::validate_phones_ahead(&actions);
                group.push(Op::Caused {
                    depth,
                    ops: actions.into_iter().map(Op::Action).collect(),
                });
                (group, None)
            }
            Err(Refusal::ChainDepth) => (group, Some("chain-depth")),
            Err(Refusal::WriteBudget) => (group, Some("write-budget")),
        }
    }

    /// Counts actions the store refused (a missing entity, an invalid value) as failures of
    /// their calls.
    fn record_refused_actions(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        outputs: &[Output],
        now: Timestamp,
    ) -> Result<()> {
        let mut refused = Outcomes::new();
        for o in outputs {
            if let Output::Failed { code, message } = o {
                refused.failed(FailureRecord {
                    code: "invalid-action".into(),
                    message: format!("{code}: {message}"),
                    at: now,
                });
            }
        }
        self.write_outcomes(tenant, plugin, refused)
    }

    /// The op that counts `outcomes` into the plugin's health when the write commits.
    pub(super) fn outcomes_op(&self, plugin: &str, outcomes: Outcomes) -> Op {
        Op::Plugin(PluginOp::RecordOutcomes {
            plugin: plugin.to_owned(),
            outcomes,
            breaker: self.config.breaker,
        })
    }

    /// Counts calls' outcomes into the plugin's health (nothing when there are none), and logs
    /// the health a failure left.
    pub(super) fn write_outcomes(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        outcomes: Outcomes,
    ) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let failed = outcomes.has_failures();
        self.store.write(
            tenant,
            &Actor::plugin(plugin),
            vec![self.outcomes_op(plugin, outcomes)],
        )?;
        if failed {
            let health = self.store.plugin_health(tenant, plugin)?;
            if let Some(err) = &health.last_error {
                warn!(%tenant, plugin, code = %err.code, failures = health.consecutive_failures, suspended = health.suspended_until.is_some(), "plugin call failed: {}", err.message);
            }
        }
        self.progressed();
        Ok(())
    }

    /// Every pipeline of the tenant (for open deals in customer views).
    pub(super) fn pipelines(&self, tenant: &TenantSlug) -> Result<Vec<Pipeline>> {
        let mut all = Vec::new();
        let mut page = PageRequest::first(500);
        loop {
            let p = self.store.pipelines(tenant, &page)?;
            all.extend(p.items);
            match p.next {
                Some(c) => page = PageRequest::after(500, c),
                None => return Ok(all),
            }
        }
    }

    /// The model to pass to calls: the stored one when it was produced by the enabled version
    /// and is not older than the schedule allows, else a fresh population step (with the op
    /// that stores its result). The outer error is the store's; the inner one the call's.
    #[allow(clippy::type_complexity)]
    pub(super) fn current_model(
        &self,
        tenant: &TenantSlug,
        e: &Enablement,
        loaded: &LoadedPlugin,
        now: Timestamp,
    ) -> Result<std::result::Result<(Option<Vec<u8>>, Option<Op>), PluginFailure>> {
        if !loaded.manifest().needs.population {
            return Ok(Ok((None, None)));
        }
        let interval = e
            .population_interval_secs
            .map_or(self.config.population_interval, Duration::from_secs);
        let max_age = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
        if let Some(m) = self.store.plugin_model(tenant, &e.plugin)?
            && m.producer.hash == e.hash
        {
            let age = now.as_micros().saturating_sub(m.computed_at.as_micros());
            // A small population is cheap to model again, and a young tenant changes fast: a
            // model of an (almost) empty tenant would otherwise hold for a whole interval.
            let fresh = if m.customers < SMALL_POPULATION {
                m.bytes.is_some() && age < max_age.min(SMALL_REFRESH_MICROS)
            } else {
                age < max_age
            };
            if fresh {
                return Ok(Ok((m.bytes, None)));
            }
        }
        Ok(self.run_population(tenant, e, loaded, now)?.map(|model| {
            let bytes = model.bytes.clone();
            let op = Op::Plugin(PluginOp::RecordModel {
                plugin: e.plugin.clone(),
                model,
            });
            (bytes, Some(op))
        }))
    }

    /// Runs the population step over every customer of the tenant.
    fn run_population(
        &self,
        tenant: &TenantSlug,
        e: &Enablement,
        loaded: &LoadedPlugin,
        now: Timestamp,
    ) -> Result<std::result::Result<StoredModel, PluginFailure>> {
        let attributes = &loaded.manifest().needs.population_attributes;
        let mut customers = Vec::new();
        let mut page = PageRequest::first(self.config.rescore_batch.max(1));
        loop {
            let p = self.store.customer_bundles(tenant, &page)?;
            customers.extend(
                p.items
                    .iter()
                    .map(|b| CustomerSummary::from_model(&b.customer, &b.interactions, attributes)),
            );
            match p.next {
                Some(c) => page = PageRequest::after(self.config.rescore_batch.max(1), c),
                None => break,
            }
        }
        let count = customers.len() as u64;
        let input = PopulationInput {
            customers,
            config: e.config_json.clone(),
            now,
            seed: seed(&e.hash, count),
        };
        let limits = self.limits(e, loaded.manifest(), true);
        let _span = info_span!("population", %tenant, plugin = %e.plugin, version = %e.version, customers = count).entered();
        let (result, _report) = self.runtime.populate(
            loaded,
            &input,
            CallOptions::for_tenant(&limits, tenant.as_str()),
        );
        Ok(result.map(|bytes| StoredModel {
            bytes,
            producer: producer(e),
            customers: count,
            computed_at: now,
        }))
    }

    /// Runs the population step now and stores its model; the plugin's later calls use it.
    pub fn populate(&self, tenant: &TenantSlug, plugin: &str) -> Result<StoredModel> {
        let e = self.enabled(tenant, plugin)?;
        let loaded = self.loaded(&e.hash)?;
        if !loaded.manifest().needs.population {
            return Err(crate::model::ValidationError::field(
                "plugin",
                format!("a plugin with a population step; {plugin} declares none"),
            )
            .into());
        }
        let now = Timestamp::now();
        match self.run_population(tenant, &e, &loaded, now)? {
            Ok(model) => {
                self.store.write(
                    tenant,
                    &Actor::plugin(plugin),
                    vec![Op::Plugin(PluginOp::RecordModel {
                        plugin: plugin.to_owned(),
                        model: model.clone(),
                    })],
                )?;
                Ok(model)
            }
            Err(failure) if !failure.is_plugin_fault() => Err(failure.into()),
            Err(failure) => {
                let record = failure_record(&failure, now);
                let (code, message) = (record.code.clone(), record.message.clone());
                self.write_outcomes(tenant, plugin, Outcomes::failure(record))?;
                Err(Error::PopulationFailed {
                    plugin: plugin.to_owned(),
                    code,
                    message,
                })
            }
        }
    }

    /// Calls the plugin for one customer, on the tenant's share of the instance slots, and
    /// turns its output into the op that stores it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn evaluate(
        &self,
        tenant: &TenantSlug,
        e: &Enablement,
        loaded: &LoadedPlugin,
        bundle: &CustomerBundle,
        pipelines: &[Pipeline],
        model: Option<&[u8]>,
        now: Timestamp,
        as_of: u64,
    ) -> Evaluation {
        let recent = loaded.manifest().needs.recent_interactions as usize;
        let view = CustomerView::from_model(
            &bundle.customer,
            &bundle.interactions,
            &bundle.deals,
            pipelines,
            recent,
            loaded.manifest().needs.closed_deals as usize,
        );
        let call = CustomerCall {
            customer: view,
            config: e.config_json.clone(),
            now,
            seed: seed(&e.hash, as_of),
            model: model.map(<[u8]>::to_vec),
        };
        let limits = self.limits(e, loaded.manifest(), false);
        let options = CallOptions::for_tenant(&limits, tenant.as_str());
        let customer = bundle.customer.id;
        match loaded.capability() {
            Capability::Scorer => {
                let out = self.runtime.score(loaded, &call, options).0?;
                Ok(Evaluated {
                    output: Op::Plugin(PluginOp::RecordScore(StoredScore {
                        customer,
                        score: out.score,
                        grade: out.grade,
                        reasons: out
                            .reasons
                            .into_iter()
                            .map(|r| ScoreReason {
                                code: r.code,
                                message: r.message,
                                contribution: r.contribution,
                            })
                            .collect(),
                        producer: producer(e),
                        computed_at: now,
                        as_of,
                    })),
                    actions: out.actions,
                })
            }
            Capability::Segmenter => {
                let memberships = self.runtime.classify(loaded, &call, options).0?;
                Ok(Evaluated {
                    output: Op::Plugin(PluginOp::RecordSegments(StoredSegments {
                        customer,
                        memberships: memberships
                            .into_iter()
                            .map(|m| SegmentMembership {
                                segment: m.segment,
                                reason: m.reason,
                            })
                            .collect(),
                        producer: producer(e),
                        computed_at: now,
                        as_of,
                    })),
                    actions: Vec::new(),
                })
            }
            Capability::CommerceHook => Err(PluginFailure::UnsupportedWit(
                "a commerce hook has no per-customer call".into(),
            )),
        }
    }
}

/// A customer a batch must evaluate: where its first event is, and the shallowest chain depth
/// among its events.
#[derive(Debug, Clone, Copy)]
struct Affected {
    id: CustomerId,
    /// Index in the batch of its first event.
    first: usize,
    /// The smallest depth of its events: a reaction to a person's change is depth 1 even when a
    /// plugin's change to the same customer arrived in the same batch.
    depth: u8,
}

/// The customers a batch of events affects, in order of first appearance, leaving out the
/// plugin's own changes and erasures.
fn affected(events: &[Event], plugin: &str) -> Vec<Affected> {
    let mut index: HashMap<CustomerId, usize> = HashMap::new();
    let mut out: Vec<Affected> = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        if ev.actor.plugin_id() == Some(plugin) || ev.kind == EventKind::CustomerErased {
            continue;
        }
        let Some(id) = ev.entity.customer() else {
            continue;
        };
        match index.get(&id) {
            Some(&k) => out[k].depth = out[k].depth.min(ev.depth),
            None => {
                index.insert(id, out.len());
                out.push(Affected {
                    id,
                    first: i,
                    depth: ev.depth,
                });
            }
        }
    }
    out
}

/// A failure as the health record keeps it.
pub(super) fn failure_record(f: &PluginFailure, at: Timestamp) -> FailureRecord {
    FailureRecord {
        code: f.code().to_owned(),
        message: f.to_string(),
        at,
    }
}

/// A deterministic seed from the plugin version and a number (the event the input reflects), so
/// replaying the same input gives the same output.
fn seed(hash: &str, n: u64) -> u64 {
    let prefix = hash
        .get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or(0);
    prefix ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Actor, EntityRef};

    fn event(seq: u64, actor: &str, customer: CustomerId, depth: u8) -> Event {
        Event {
            seq,
            at: Timestamp::from_micros(0),
            actor: Actor::new(actor),
            kind: EventKind::CustomerUpdated,
            entity: EntityRef::Customer(customer),
            changed: Vec::new(),
            depth,
            changes: Vec::new(),
        }
    }

    #[test]
    fn a_batch_affects_each_customer_once_at_its_shallowest_depth() {
        let (a, b) = (CustomerId::generate(), CustomerId::generate());
        let events = [
            event(1, "plugin:kith.other", a, 3),
            event(2, "plugin:kith.me", b, 1),
            event(3, "api", a, 0),
            event(4, "plugin:kith.other", b, 2),
        ];
        let got: Vec<_> = affected(&events, "kith.me")
            .iter()
            .map(|c| (c.id, c.first, c.depth))
            .collect();
        assert_eq!(got, [(a, 0, 0), (b, 3, 2)]);
    }

    #[test]
    fn turns_serve_tenants_in_order_and_requeue_one_with_more_work_at_the_back() {
        let turns = Turns::default();
        let (a, b) = (
            TenantSlug::parse("a").unwrap(),
            TenantSlug::parse("b").unwrap(),
        );
        turns.offer(a.clone());
        turns.offer(b.clone());
        turns.offer(a.clone());
        assert_eq!(turns.next(), Some(a.clone()));
        // Offered while running: it goes back when its turn ends.
        turns.offer(a.clone());
        turns.done(&a, false);
        assert_eq!(turns.next(), Some(b.clone()));
        turns.done(&b, true);
        assert_eq!(turns.next(), Some(a.clone()));
        assert_eq!(turns.next(), Some(b));
        turns.close();
        assert_eq!(turns.next(), None);
    }
}
