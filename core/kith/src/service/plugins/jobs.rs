//! Rescore jobs: run a scorer or segmenter over every customer of a tenant, in batches, in the
//! background, with progress that can be polled.
//!
//! Bounded: at most [`HostConfig::concurrent_rescores`](super::HostConfig) jobs run at once
//! (others are `queued`), a tenant has at most one job per plugin (asking again returns the
//! running one), calls use the tenant's share of the instance slots, and the circuit breaker
//! applies: a job does not start while its plugin is suspended, and stops when its failures
//! suspend it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use serde::Serialize;
use tracing::{info, warn};

use super::PluginHost;
use super::dispatch::failure_record;
use crate::model::{Actor, TenantSlug, Timestamp};
use crate::store::Error as StoreError;
use crate::store::{CustomerBundle, Op, Output, PageRequest, PluginOp};
use crate::{Error, Result};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    /// Waiting for one of the host's rescore slots.
    Queued,
    /// Still going.
    Running,
    /// Every customer was processed (some calls may have failed: see `failed`).
    Done,
    /// Stopped early; `error` says why.
    Failed,
}

/// A rescore job's progress.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// The job's id.
    pub id: u64,
    /// The tenant.
    pub tenant: String,
    /// The plugin.
    pub plugin: String,
    /// State.
    pub state: JobState,
    /// Customers when it started.
    pub total: u64,
    /// Customers processed so far.
    pub done: u64,
    /// Of those, calls that failed or whose actions were refused.
    pub failed: u64,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// Why it stopped early.
    pub error: Option<String>,
}

/// How many finished jobs are remembered; older ones are forgotten, so that a tenant asking for
/// rescores all day cannot grow the host's memory.
const FINISHED_KEPT: usize = 1000;

/// The host's jobs, kept in memory (a job does not survive a restart; rescoring is idempotent,
/// so starting it again is always safe). At most [`FINISHED_KEPT`] finished ones are kept.
#[derive(Debug)]
pub(super) struct Jobs {
    next: AtomicU64,
    all: Mutex<HashMap<u64, Job>>,
    /// Jobs that may run at once, and how many do.
    running: (Mutex<usize>, Condvar),
    limit: usize,
}

impl Jobs {
    /// Jobs of which at most `limit` run at once.
    pub(super) fn new(limit: usize) -> Self {
        Jobs {
            next: AtomicU64::new(0),
            all: Mutex::new(HashMap::new()),
            running: (Mutex::new(0), Condvar::new()),
            limit: limit.max(1),
        }
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut Job)) {
        if let Ok(mut all) = self.all.lock()
            && let Some(job) = all.get_mut(&id)
        {
            f(job);
        }
    }

    /// The queued or running job of this tenant and plugin, if any.
    fn active(&self, tenant: &str, plugin: &str) -> Option<u64> {
        let all = self.all.lock().ok()?;
        all.values()
            .find(|j| {
                j.tenant == tenant
                    && j.plugin == plugin
                    && matches!(j.state, JobState::Queued | JobState::Running)
            })
            .map(|j| j.id)
    }

    /// Waits for a rescore slot; `false` when the host stops meanwhile.
    fn acquire(&self, stopping: impl Fn() -> bool) -> bool {
        let (lock, cvar) = &self.running;
        let mut n = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while *n >= self.limit {
            if stopping() {
                return false;
            }
            n = cvar.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
        if stopping() {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self) {
        let (lock, cvar) = &self.running;
        let mut n = lock.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        cvar.notify_all();
    }

    /// Wakes queued jobs (to notice a shutdown).
    pub(super) fn wake(&self) {
        let (lock, cvar) = &self.running;
        drop(lock.lock().unwrap_or_else(PoisonError::into_inner));
        cvar.notify_all();
    }
}

/// Forgets the oldest finished jobs beyond [`FINISHED_KEPT`].
fn forget_old(all: &mut HashMap<u64, Job>) {
    let mut finished: Vec<u64> = all
        .values()
        .filter(|j| matches!(j.state, JobState::Done | JobState::Failed))
        .map(|j| j.id)
        .collect();
    if finished.len() <= FINISHED_KEPT {
        return;
    }
    finished.sort_unstable();
    for id in &finished[..finished.len() - FINISHED_KEPT] {
        all.remove(id);
    }
}

impl PluginHost {
    /// Starts rescoring every customer of the tenant with the plugin, in the background, and
    /// returns the job's id ([`PluginHost::job`] reports progress). A job of this plugin for
    /// this tenant that is queued or running already is returned instead of a new one.
    ///
    /// Errors: not enabled (`not_found`), suspended (`plugin_suspended`).
    pub fn start_rescore(&self, tenant: &TenantSlug, plugin: &str) -> Result<u64> {
        self.enabled(tenant, plugin)?;
        self.require_not_suspended(tenant, plugin)?;
        if let Some(id) = self.jobs.active(tenant.as_str(), plugin) {
            return Ok(id);
        }
        let id = self.jobs.next.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self
            .store
            .stats()?
            .tenants
            .into_iter()
            .find(|t| t.tenant == tenant.as_str())
            .map_or(0, |t| t.customers);
        let job = Job {
            id,
            tenant: tenant.to_string(),
            plugin: plugin.to_owned(),
            state: JobState::Queued,
            total,
            done: 0,
            failed: 0,
            started_at: Timestamp::now(),
            finished_at: None,
            error: None,
        };
        if let Ok(mut all) = self.jobs.all.lock() {
            all.insert(id, job);
            forget_old(&mut all);
        }
        let Some(host) = self.this() else {
            return Err(Error::Store(StoreError::Closed));
        };
        let tenant = tenant.clone();
        let plugin = plugin.to_owned();
        std::thread::Builder::new()
            .name(format!("kith-rescore-{id}"))
            .spawn(move || {
                let result = if host.jobs.acquire(|| host.stopping()) {
                    host.jobs.update(id, |job| job.state = JobState::Running);
                    let result = host.rescore(&tenant, &plugin, id);
                    host.jobs.release();
                    result
                } else {
                    Err(Error::Store(StoreError::Closed))
                };
                host.jobs.update(id, |job| {
                    job.finished_at = Some(Timestamp::now());
                    match result {
                        Ok(()) => job.state = JobState::Done,
                        Err(e) => {
                            warn!(%tenant, plugin, error = %e, "rescore stopped");
                            job.state = JobState::Failed;
                            job.error = Some(e.to_string());
                        }
                    }
                });
                host.progressed();
            })
            .map_err(|source| {
                Error::Store(StoreError::Io {
                    path: "rescore thread".into(),
                    source,
                })
            })?;
        Ok(id)
    }

    /// A job's progress.
    pub fn job(&self, id: u64) -> Option<Job> {
        self.jobs.all.lock().ok()?.get(&id).cloned()
    }

    /// Waits until a job has ended (or `timeout` passes) and returns its progress.
    pub fn wait_for_job(&self, id: u64, timeout: std::time::Duration) -> Option<Job> {
        let deadline = std::time::Instant::now() + timeout;
        let (lock, cvar) = &self.progress;
        let mut guard = lock.lock().ok()?;
        loop {
            let job = self.job(id)?;
            let now = std::time::Instant::now();
            if matches!(job.state, JobState::Done | JobState::Failed) || now >= deadline {
                return Some(job);
            }
            guard = cvar.wait_timeout(guard, deadline - now).ok()?.0;
        }
    }

    /// `plugin_suspended` if the plugin's circuit breaker is open for the tenant now.
    pub(super) fn require_not_suspended(&self, tenant: &TenantSlug, plugin: &str) -> Result<()> {
        let health = self.store.plugin_health(tenant, plugin)?;
        if self.config.breaker.allows(&health, Timestamp::now()) {
            return Ok(());
        }
        Err(Error::PluginSuspended {
            plugin: plugin.to_owned(),
            until: health
                .suspended_until
                .map(|t| t.to_string())
                .unwrap_or_default(),
            failures: health.consecutive_failures,
            last: health
                .last_error
                .as_ref()
                .map_or_else(String::new, |f| f.code.clone()),
        })
    }

    /// Rescores every customer of the tenant, batch by batch, recording progress in job `id`.
    /// Runs synchronously; [`PluginHost::start_rescore`] runs it in the background.
    ///
    /// Failed calls count towards the circuit breaker as dispatch's do; when they suspend the
    /// plugin the job stops with `plugin_suspended`. Actions are chain depth 1 and count
    /// against the tenant's write budget.
    pub fn rescore(&self, tenant: &TenantSlug, plugin: &str, id: u64) -> Result<()> {
        let e = self.enabled(tenant, plugin)?;
        self.require_not_suspended(tenant, plugin)?;
        let loaded = self.loaded(&e.hash)?;
        let started = std::time::Instant::now();
        let now = Timestamp::now();
        // Scores reflect at least every event up to here.
        let as_of = self.store.last_seq(tenant)?;
        let model = match self.current_model(tenant, &e, &loaded, now)? {
            Ok((model, op)) => {
                if let Some(op) = op {
                    self.store.write(tenant, &Actor::plugin(plugin), vec![op])?;
                }
                model
            }
            Err(failure) if !failure.is_plugin_fault() => return Err(failure.into()),
            Err(failure) => {
                let record = failure_record(&failure, now);
                let health = self.store.plugin_health(tenant, plugin)?;
                self.write_health(
                    tenant,
                    plugin,
                    self.config.breaker.failed(&health, record.clone()),
                )?;
                return Err(Error::PopulationFailed {
                    plugin: plugin.to_owned(),
                    code: record.code,
                    message: record.message,
                });
            }
        };
        let pipelines = self.pipelines(tenant)?;
        let batch = self.config.rescore_batch.max(1);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let breaker = self.config.breaker;
        let mut health = self.store.plugin_health(tenant, plugin)?;
        let mut processed = 0u64;
        // Calls run on every core while the previous batch commits on another thread: the
        // plugin calls, not the store, are what a rescore waits for.
        let (to_writer, batches) = std::sync::mpsc::sync_channel::<(Vec<Op>, u64, u64)>(1);
        std::thread::scope(|scope| -> Result<()> {
            let writer = scope.spawn(move || -> Result<()> {
                for (ops, n, mut failed) in batches {
                    if !ops.is_empty() {
                        let outputs = self.store.write(tenant, &Actor::plugin(plugin), ops)?;
                        failed += outputs
                            .iter()
                            .filter(|o| matches!(o, Output::Failed { .. }))
                            .count() as u64;
                    }
                    self.jobs.update(id, |job| {
                        job.done += n;
                        job.failed += failed;
                        job.total = job.total.max(job.done);
                    });
                    self.progressed();
                }
                Ok(())
            });
            let mut page = PageRequest::first(batch);
            let read = loop {
                if self.stopping() {
                    break Err(Error::Store(StoreError::Closed));
                }
                let bundles = match self.store.customer_bundles(tenant, &page) {
                    Ok(b) => b,
                    Err(e) => break Err(e.into()),
                };
                let evaluate = |b: &CustomerBundle| {
                    self.evaluate(
                        tenant,
                        &e,
                        &loaded,
                        b,
                        &pipelines,
                        model.as_deref(),
                        now,
                        as_of,
                    )
                };
                let results: Vec<_> = if workers > 1 && bundles.items.len() >= 2 * workers {
                    let chunk = bundles.items.len().div_ceil(workers);
                    std::thread::scope(|s| {
                        let handles: Vec<_> = bundles
                            .items
                            .chunks(chunk)
                            .map(|c| s.spawn(move || c.iter().map(evaluate).collect::<Vec<_>>()))
                            .collect();
                        handles
                            .into_iter()
                            .flat_map(|h| h.join().unwrap_or_default())
                            .collect()
                    })
                } else {
                    bundles.items.iter().map(evaluate).collect()
                };
                let n = bundles.items.len() as u64;
                // A worker that panicked returned nothing: its customers count as failed.
                let mut failed = n - results.len() as u64;
                let mut ops = Vec::with_capacity(results.len() + 1);
                let health_before = health.clone();
                let mut host_trouble = None;
                for r in results {
                    match r {
                        Ok(evaluated) => {
                            health = breaker.succeeded(&health);
                            ops.push(Op::Attempt(self.admit(tenant, &e, evaluated, 1).0));
                        }
                        Err(f) if !f.is_plugin_fault() => {
                            failed += 1;
                            host_trouble = Some(f);
                        }
                        Err(f) => {
                            failed += 1;
                            health = breaker.failed(&health, failure_record(&f, Timestamp::now()));
                        }
                    }
                }
                if health != health_before {
                    ops.push(Op::Plugin(PluginOp::SetHealth {
                        plugin: plugin.to_owned(),
                        health: health.clone(),
                    }));
                }
                processed += n;
                if to_writer.send((ops, n, failed)).is_err() {
                    // The writer stopped on an error; it reports it below.
                    break Ok(());
                }
                if let Some(f) = host_trouble.filter(|_| self.stopping()) {
                    break Err(f.into());
                }
                if !breaker.allows(&health, Timestamp::now()) {
                    break Err(Error::PluginSuspended {
                        plugin: plugin.to_owned(),
                        until: health
                            .suspended_until
                            .map(|t| t.to_string())
                            .unwrap_or_default(),
                        failures: health.consecutive_failures,
                        last: health
                            .last_error
                            .as_ref()
                            .map_or_else(String::new, |f| f.code.clone()),
                    });
                }
                match bundles.next {
                    Some(c) => page = PageRequest::after(batch, c),
                    None => break Ok(()),
                }
            };
            drop(to_writer);
            let written = writer.join().unwrap_or_else(|_| {
                Err(Error::Store(StoreError::Storage(
                    "the rescore writer panicked".into(),
                )))
            });
            read.and(written)
        })?;
        info!(%tenant, plugin, customers = processed, elapsed_ms = started.elapsed().as_millis() as u64, "rescore finished");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: u64, state: JobState) -> Job {
        Job {
            id,
            tenant: "acme".into(),
            plugin: "kith.rfm".into(),
            state,
            total: 0,
            done: 0,
            failed: 0,
            started_at: Timestamp::from_micros(0),
            finished_at: None,
            error: None,
        }
    }

    #[test]
    fn only_the_most_recent_finished_jobs_are_remembered() {
        let mut all: HashMap<u64, Job> = (1..=FINISHED_KEPT as u64 + 10)
            .map(|id| (id, job(id, JobState::Done)))
            .collect();
        all.insert(0, job(0, JobState::Running));
        forget_old(&mut all);
        assert_eq!(all.len(), FINISHED_KEPT + 1);
        assert!(all.contains_key(&0), "a running job is never forgotten");
        assert!(!all.contains_key(&10) && all.contains_key(&11));
    }
}
