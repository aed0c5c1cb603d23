//! Following each tenant's event log: the dispatcher thread, one batch of one plugin, the
//! population step, and evaluating one customer.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{debug, info_span, warn};

use super::{PluginHost, producer};
use crate::model::{
    Actor, CustomerId, Enablement, EventKind, FailureRecord, Pipeline, PluginHealth, ScoreReason,
    SegmentMembership, StoredModel, StoredScore, StoredSegments, TenantSlug, Timestamp,
};
use crate::plugin::{
    Capability, CustomerCall, CustomerSummary, CustomerView, LoadedPlugin, PluginFailure,
    PopulationInput,
};
use crate::store::{CustomerBundle, Op, Output, PageRequest, PluginOp, PluginStore, Store};
use crate::{Error, Result};

/// The running dispatcher thread; dropping it stops the thread after its current batch.
#[derive(Debug)]
pub struct DispatcherHandle {
    host: Arc<PluginHost>,
    thread: Option<JoinHandle<()>>,
}

impl DispatcherHandle {
    /// Stops the dispatcher after its current batch and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.host.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for DispatcherHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Below this many customers a population model is refreshed every [`SMALL_REFRESH_MICROS`]
/// (and at once when it has no model), whatever the plugin's interval.
const SMALL_POPULATION: u64 = 1_000;
/// How old a small population's model may get: 10 s.
const SMALL_REFRESH_MICROS: i64 = 10_000_000;

/// The failure code of a call that found every instance slot busy.
const BUSY: &str = "busy";

/// One customer's evaluation: the ops to apply together, or why the call failed.
type Evaluation = std::result::Result<Vec<Op>, FailureRecord>;

impl PluginHost {
    /// Starts the dispatcher thread: it wakes on every commit (and every `idle_wait` for
    /// schedules and suspensions that expire) and processes what is pending.
    pub fn spawn_dispatcher(self: &Arc<Self>) -> DispatcherHandle {
        let host = Arc::clone(self);
        let thread = std::thread::Builder::new()
            .name("kith-dispatch".into())
            .spawn(move || {
                while !host.stopping() {
                    let seen = host.store.generation();
                    if let Err(e) = host.dispatch_pending() {
                        warn!(error = %e, "dispatch pass failed");
                    }
                    if host.stopping() {
                        break;
                    }
                    host.store.wait_for_commit(seen, host.config.idle_wait);
                }
            })
            .ok();
        DispatcherHandle {
            host: Arc::clone(self),
            thread,
        }
    }

    /// Processes every pending event of every enabled scorer and segmenter of every tenant,
    /// until each is caught up, suspended or failing; returns how many events were processed.
    pub fn dispatch_pending(&self) -> Result<u64> {
        let mut total = 0;
        for tenant in self.store.tenants()? {
            for e in self.store.enablements(&tenant.slug)? {
                loop {
                    if self.stopping() {
                        return Ok(total);
                    }
                    // Read per batch: after an upgrade the next batch runs on the new version,
                    // while a batch already running finishes on the old one.
                    let Some(e) = self.store.enablement(&tenant.slug, &e.plugin)? else {
                        break;
                    };
                    match self.dispatch_batch(&tenant.slug, &e) {
                        Ok(0) => break,
                        Ok(n) => total += n,
                        Err(err) => {
                            // Disabled or upgraded meanwhile, or the store is closing: the next
                            // pass sees the new state.
                            debug!(tenant = %tenant.slug, plugin = %e.plugin, error = %err, "dispatch batch not applied");
                            break;
                        }
                    }
                }
            }
        }
        Ok(total)
    }

    /// Processes one batch of events for one plugin of one tenant; returns how many events it
    /// consumed (0: nothing to do, suspended, or the population step failed).
    pub(super) fn dispatch_batch(&self, tenant: &TenantSlug, e: &Enablement) -> Result<u64> {
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
        let Some(last) = events.last().map(|ev| ev.seq) else {
            return Ok(0);
        };
        let _span = info_span!("dispatch", %tenant, plugin = %e.plugin, version = %e.version, from = cursor, to = last).entered();
        let mut seen = HashSet::new();
        let customers: Vec<CustomerId> = events
            .iter()
            .filter(|ev| ev.actor.plugin_id() != Some(e.plugin.as_str()))
            .filter(|ev| ev.kind != EventKind::CustomerErased)
            .filter_map(|ev| ev.entity.customer())
            .filter(|c| seen.insert(*c))
            .collect();

        let mut ops = Vec::with_capacity(customers.len() + 3);
        let mut health_now = health.clone();
        let model = if customers.is_empty() {
            None
        } else {
            match self.current_model(tenant, e, &loaded, now)? {
                Ok((model, op)) => {
                    ops.extend(op);
                    model
                }
                Err(failure) => {
                    // Without its model the plugin cannot score: record, keep the cursor.
                    let health = breaker.failed(&health_now, failure);
                    self.write_health(tenant, &e.plugin, health)?;
                    return Ok(0);
                }
            }
        };
        if !customers.is_empty() {
            let pipelines = self.pipelines(tenant)?;
            for c in customers {
                let Some(bundle) = self.store.customer_bundle(tenant, c)? else {
                    continue;
                };
                match self.evaluate(e, &loaded, &bundle, &pipelines, model.as_deref(), now, last) {
                    Ok(group) => {
                        health_now = breaker.succeeded(&health_now);
                        ops.push(Op::Attempt(group));
                    }
                    // The host had no free instance: not the plugin's doing. Leave the whole
                    // batch for the next pass (the cursor stays), count nothing.
                    Err(failure) if failure.code == BUSY => return Ok(0),
                    Err(failure) => health_now = breaker.failed(&health_now, failure),
                }
            }
        }
        if health_now != health {
            ops.push(Op::Plugin(PluginOp::SetHealth {
                plugin: e.plugin.clone(),
                health: health_now.clone(),
            }));
        }
        ops.push(Op::Plugin(PluginOp::AdvanceCursor {
            plugin: e.plugin.clone(),
            from: cursor,
            to: last,
        }));
        let outputs = self.store.write(tenant, &Actor::plugin(&e.plugin), ops)?;
        // Actions the store refused (a missing entity, an invalid value) fail their call.
        let refused: Vec<FailureRecord> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Failed { code, message } => Some(FailureRecord {
                    code: "invalid-action".into(),
                    message: format!("{code}: {message}"),
                    at: now,
                }),
                _ => None,
            })
            .collect();
        if !refused.is_empty() {
            let health = refused
                .into_iter()
                .fold(health_now, |h, f| breaker.failed(&h, f));
            self.write_health(tenant, &e.plugin, health)?;
        }
        self.progressed();
        Ok(events.len() as u64)
    }

    fn write_health(&self, tenant: &TenantSlug, plugin: &str, health: PluginHealth) -> Result<()> {
        if let Some(err) = &health.last_error {
            warn!(%tenant, plugin, code = %err.code, failures = health.consecutive_failures, suspended = health.suspended_until.is_some(), "plugin call failed: {}", err.message);
        }
        self.store.write(
            tenant,
            &Actor::plugin(plugin),
            vec![Op::Plugin(PluginOp::SetHealth {
                plugin: plugin.to_owned(),
                health,
            })],
        )?;
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
    /// that stores its result). The outer error is the store's; the inner one the plugin's.
    #[allow(clippy::type_complexity)]
    pub(super) fn current_model(
        &self,
        tenant: &TenantSlug,
        e: &Enablement,
        loaded: &LoadedPlugin,
        now: Timestamp,
    ) -> Result<std::result::Result<(Option<Vec<u8>>, Option<Op>), FailureRecord>> {
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
    ) -> Result<std::result::Result<StoredModel, FailureRecord>> {
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
        let limits = self.limits(e.limits, true);
        let _span = info_span!("population", %tenant, plugin = %e.plugin, version = %e.version, customers = count).entered();
        let (result, _report) = self.runtime.populate(loaded, &input, &limits);
        Ok(match result {
            Ok(bytes) => Ok(StoredModel {
                bytes,
                producer: producer(e),
                customers: count,
                computed_at: now,
            }),
            Err(f) => Err(failure_record(&f, now)),
        })
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
            Err(failure) => {
                let health = self.store.plugin_health(tenant, plugin)?;
                let (code, message) = (failure.code.clone(), failure.message.clone());
                self.write_health(tenant, plugin, self.config.breaker.failed(&health, failure))?;
                Err(Error::PopulationFailed {
                    plugin: plugin.to_owned(),
                    code,
                    message,
                })
            }
        }
    }

    /// Calls the plugin for one customer and turns its output into the ops that store it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn evaluate(
        &self,
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
        );
        let call = CustomerCall {
            customer: view,
            config: e.config_json.clone(),
            now,
            seed: seed(&e.hash, as_of),
            model: model.map(<[u8]>::to_vec),
        };
        let limits = self.limits(e.limits, false);
        let customer = bundle.customer.id;
        match loaded.capability() {
            Capability::Scorer => {
                let (result, _) = self.runtime.score(loaded, &call, &limits);
                let out = result.map_err(|f| failure_record(&f, now))?;
                let mut ops = vec![Op::Plugin(PluginOp::RecordScore(StoredScore {
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
                }))];
                ops.extend(out.actions.into_iter().map(Op::Action));
                Ok(ops)
            }
            Capability::Segmenter => {
                let (result, _) = self.runtime.classify(loaded, &call, &limits);
                let memberships = result.map_err(|f| failure_record(&f, now))?;
                Ok(vec![Op::Plugin(PluginOp::RecordSegments(StoredSegments {
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
                }))])
            }
            Capability::CommerceHook => Err(FailureRecord {
                code: "wrong_capability".into(),
                message: "a commerce hook has no per-customer call".into(),
                at: now,
            }),
        }
    }
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
