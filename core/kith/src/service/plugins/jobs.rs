//! Rescore jobs: run a scorer or segmenter over every customer of a tenant, in batches, in the
//! background, with progress that can be polled.
//!
//! Jobs and their progress live in the store, so that every node answers for every job; a job
//! runs on the node that started it. A job whose node stopped (no heartbeat for
//! [`NODE_TIMEOUT`]) is reported failed, and asking for a rescore again starts a new one.
//!
//! Bounded: at most [`HostConfig::concurrent_rescores`](super::HostConfig) jobs run at once on
//! a node (others are `queued`), a tenant has at most one job per plugin (asking again returns
//! the running one) and keeps its newest [`JOBS_KEPT`](crate::store::JOBS_KEPT) finished ones,
//! calls use the tenant's share of the instance slots, and the circuit breaker applies: a job
//! does not start while its plugin is suspended, and stops when its failures suspend it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tracing::{info, warn};

use super::PluginHost;
use super::dispatch::failure_record;
pub use crate::model::JobState;
use crate::model::{Actor, Outcomes, StoredJob, TenantSlug, Timestamp, ValidationError};
use crate::plugin::Capability;
use crate::store::Error as StoreError;
use crate::store::{CustomerBundle, Op, Output, PageRequest, PluginOp};
use crate::{Error, Result};

/// A node that has not recorded a heartbeat for this long is taken for stopped: its jobs are
/// reported failed and its tenants' dispatch is taken over.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(15);

/// A rescore job's progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    /// The job's id (unique within its tenant).
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
    /// The node running it.
    pub node: String,
}

impl Job {
    fn new(tenant: &TenantSlug, j: StoredJob) -> Job {
        Job {
            id: j.id,
            tenant: tenant.to_string(),
            plugin: j.plugin,
            state: j.state,
            total: j.total,
            done: j.done,
            failed: j.failed,
            started_at: j.started_at,
            finished_at: j.finished_at,
            error: j.error,
            node: j.node,
        }
    }
}

/// This node's rescore slots.
#[derive(Debug)]
pub(super) struct Jobs {
    /// Jobs that may run at once, and how many do.
    running: (Mutex<usize>, Condvar),
    limit: usize,
}

impl Jobs {
    /// Jobs of which at most `limit` run at once.
    pub(super) fn new(limit: usize) -> Self {
        Jobs {
            running: (Mutex::new(0), Condvar::new()),
            limit: limit.max(1),
        }
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

/// `f` over every item, on this thread and `workers - 1` others, each taking the next item as
/// soon as it is done with its last: a core shared with the commit thread does fewer calls
/// instead of keeping the others waiting at the end of the page. The results are in the items'
/// order; an item whose `f` panicked has none, and the others are not affected.
fn evaluate_all<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<Option<R>> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, catch_unwind(AssertUnwindSafe(|| f(item))).ok()));
        }
    };
    let helpers = workers.clamp(1, items.len().max(1)) - 1;
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    let mut place = |done: Vec<(usize, Option<R>)>| {
        for (i, r) in done {
            results[i] = r;
        }
    };
    std::thread::scope(|s| {
        let others: Vec<_> = (0..helpers).map(|_| s.spawn(work)).collect();
        place(work());
        // `work` catches the panics of `f`, so a helper ends with its results.
        for h in others {
            place(h.join().unwrap_or_default());
        }
    });
    results
}

/// The job an op wrote.
fn job_of(outputs: Vec<Output>) -> Result<(StoredJob, bool)> {
    match crate::store::one(outputs)? {
        Output::Job { job, started } => Ok((job, started)),
        other => Err(Error::Store(crate::store::unexpected(&other))),
    }
}

impl PluginHost {
    /// Starts rescoring every customer of the tenant with the plugin, in the background, and
    /// returns the job's id ([`PluginHost::job`] reports progress). A job of this plugin for
    /// this tenant that is queued or running already is returned instead of a new one, unless
    /// the node running it stopped.
    ///
    /// Errors: not enabled (`not_found`), suspended (`plugin_suspended`).
    pub fn start_rescore(&self, tenant: &TenantSlug, plugin: &str) -> Result<u64> {
        let e = self.enabled(tenant, plugin)?;
        // A commerce hook runs on webhooks: a job would fail on every customer and suspend it.
        if self.loaded(&e.hash)?.capability() == Capability::CommerceHook {
            return Err(ValidationError::field(
                "plugin",
                format!("a scorer or segmenter; {plugin} is a commerce hook, which runs on webhooks and has nothing to rescore"),
            )
            .into());
        }
        self.require_not_suspended(tenant, plugin)?;
        let total = self
            .store
            .stats()?
            .tenants
            .into_iter()
            .find(|t| t.tenant == tenant.as_str())
            .map_or(0, |t| t.customers);
        let node = self.store.node().to_owned();
        let start = |replace: Option<u64>| {
            let op = Op::Plugin(PluginOp::StartJob {
                plugin: plugin.to_owned(),
                total,
                node: node.clone(),
                replace,
            });
            job_of(self.store.write(tenant, &Actor::plugin(plugin), vec![op])?)
        };
        let (mut job, mut started) = start(None)?;
        if !started && !self.store.node_alive(&job.node, NODE_TIMEOUT)? && job.node != node {
            (job, started) = start(Some(job.id))?;
        }
        if !started {
            return Ok(job.id);
        }
        let id = job.id;
        let Some(host) = self.this() else {
            return Err(Error::Store(StoreError::Closed));
        };
        let tenant = tenant.clone();
        let plugin = plugin.to_owned();
        std::thread::Builder::new()
            .name(format!("kith-rescore-{id}"))
            .spawn(move || {
                let result = if host.jobs.acquire(|| host.stopping()) {
                    let running = host.job_progress(&tenant, &plugin, id, 0, 0, Some(JobState::Running), None);
                    let result = running.and_then(|()| host.rescore(&tenant, &plugin, id));
                    host.jobs.release();
                    result
                } else {
                    Err(Error::Store(StoreError::Closed))
                };
                let (state, error) = match result {
                    Ok(()) => (JobState::Done, None),
                    Err(e) => {
                        warn!(%tenant, plugin, error = %e, "rescore stopped");
                        (JobState::Failed, Some(e.to_string()))
                    }
                };
                if let Err(e) = host.job_progress(&tenant, &plugin, id, 0, 0, Some(state), error) {
                    warn!(%tenant, plugin, job = id, error = %e, "could not record the end of a rescore");
                }
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

    /// Records a job's progress.
    #[allow(clippy::too_many_arguments)]
    fn job_progress(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        id: u64,
        done: u64,
        failed: u64,
        state: Option<JobState>,
        error: Option<String>,
    ) -> Result<()> {
        let op = Op::Plugin(PluginOp::JobProgress {
            id,
            done,
            failed,
            state,
            error,
        });
        self.store.write(tenant, &Actor::plugin(plugin), vec![op])?;
        Ok(())
    }

    /// A job's progress, as any node sees it: a job still active whose node stopped is
    /// reported failed.
    pub fn job(&self, tenant: &TenantSlug, id: u64) -> Result<Option<Job>> {
        let Some(mut job) = self.store.job(tenant, id)? else {
            return Ok(None);
        };
        if job.state.is_active()
            && job.node != self.store.node()
            && !self.store.node_alive(&job.node, NODE_TIMEOUT)?
        {
            job.state = JobState::Failed;
            job.error = Some(format!(
                "node {} stopped while running it; start the rescore again",
                job.node
            ));
        }
        Ok(Some(Job::new(tenant, job)))
    }

    /// Waits until a job has ended (or `timeout` passes) and returns its progress; `None` when
    /// there is no such job.
    pub fn wait_for_job(&self, tenant: &TenantSlug, id: u64, timeout: Duration) -> Option<Job> {
        let deadline = std::time::Instant::now() + timeout;
        let (lock, cvar) = &self.progress;
        loop {
            // Read before waiting, under the lock that progress is signalled with, so that no
            // signal is missed; a job on another node is polled every second.
            let guard = lock.lock().ok()?;
            let job = self.job(tenant, id).ok()??;
            let now = std::time::Instant::now();
            if !job.state.is_active() || now >= deadline {
                return Some(job);
            }
            let wait = (deadline - now).min(Duration::from_secs(1));
            drop(cvar.wait_timeout(guard, wait).ok()?);
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
                self.write_outcomes(tenant, plugin, Outcomes::failure(record.clone()))?;
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
        // Three stages run at once: a reader fetches the next page while this thread and
        // `workers - 1` others call the plugin for the current one, and a writer commits the
        // one before. The plugin calls are what a rescore waits for; the other stages keep
        // the cores busy with them.
        let (to_writer, batches) = std::sync::mpsc::sync_channel::<Vec<Op>>(1);
        let (to_calls, pages) = std::sync::mpsc::sync_channel(1);
        std::thread::scope(|scope| -> Result<()> {
            // A batch's outputs and the job's progress are one write: one commit a batch.
            let writer = scope.spawn(move || -> Result<()> {
                for ops in batches {
                    let outputs = self.store.write(tenant, &Actor::plugin(plugin), ops)?;
                    // An output the store refused (its customer erased meanwhile) is a failed
                    // customer too; the progress in the batch did not count it.
                    let refused = outputs
                        .iter()
                        .filter(|o| matches!(o, Output::Failed { .. }))
                        .count() as u64;
                    if refused > 0 {
                        self.job_progress(tenant, plugin, id, 0, refused, None, None)?;
                    }
                    self.progressed();
                }
                Ok(())
            });
            // Ends after the last page, after an error (sent on), or when the calls stop
            // taking pages.
            scope.spawn(move || {
                let mut page = PageRequest::first(batch);
                loop {
                    let read = if self.stopping() {
                        Err(StoreError::Closed)
                    } else {
                        self.store.customer_bundles(tenant, &page)
                    };
                    let next = read.as_ref().ok().and_then(|b| b.next.clone());
                    if to_calls.send(read).is_err() {
                        return;
                    }
                    match next {
                        Some(c) => page = PageRequest::after(batch, c),
                        None => return,
                    }
                }
            });
            let read = loop {
                if self.stopping() {
                    break Err(Error::Store(StoreError::Closed));
                }
                let bundles = match pages.recv() {
                    Ok(Ok(b)) => b,
                    Ok(Err(e)) => break Err(e.into()),
                    // The loop ends at the page without a next one, before the reader ends: a
                    // closed channel here is a reader that panicked.
                    Err(_) => break Err(Error::Store(StoreError::Closed)),
                };
                let results = evaluate_all(&bundles.items, workers, |b: &CustomerBundle| {
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
                });
                let n = bundles.items.len() as u64;
                // A call that panicked has no result: its customer counts as failed.
                let mut failed = results.iter().filter(|r| r.is_none()).count() as u64;
                let mut ops = Vec::with_capacity(results.len() + 2);
                // The job's own view of the health decides whether it stops; the store counts
                // the outcomes into the stored health, which other writers change too.
                let mut outcomes = Outcomes::new();
                let mut host_trouble = None;
                for r in results.into_iter().flatten() {
                    match r {
                        Ok(evaluated) => {
                            health = breaker.succeeded(&health);
                            outcomes.succeeded();
                            ops.push(Op::Attempt(self.admit(tenant, &e, evaluated, 1).0));
                        }
                        Err(f) if !f.is_plugin_fault() => {
                            failed += 1;
                            host_trouble = Some(f);
                        }
                        Err(f) => {
                            failed += 1;
                            let record = failure_record(&f, Timestamp::now());
                            health = breaker.failed(&health, record.clone());
                            outcomes.failed(record);
                        }
                    }
                }
                if !outcomes.is_empty() {
                    ops.push(self.outcomes_op(plugin, outcomes));
                }
                processed += n;
                ops.push(Op::Plugin(PluginOp::JobProgress {
                    id,
                    done: n,
                    failed,
                    state: None,
                    error: None,
                }));
                if to_writer.send(ops).is_err() {
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
                if bundles.next.is_none() {
                    break Ok(());
                }
            };
            // A reader still waiting to hand over a page sees the calls gone and ends.
            drop(pages);
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
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_item_is_evaluated_once_and_the_results_keep_the_items_order() {
        let items: Vec<u32> = (0..1000).collect();
        let calls = AtomicUsize::new(0);
        let results = evaluate_all(&items, 4, |&i| {
            calls.fetch_add(1, Ordering::Relaxed);
            i * 2
        });
        assert_eq!(calls.load(Ordering::Relaxed), 1000);
        let expected: Vec<Option<u32>> = items.iter().map(|i| Some(i * 2)).collect();
        assert_eq!(results, expected);
        assert!(evaluate_all(&[] as &[u32], 4, |&i| i).is_empty());
    }

    #[test]
    fn a_panicking_item_has_no_result_and_the_others_do() {
        let items: Vec<u32> = (0..50).collect();
        let results = evaluate_all(&items, 2, |&i| {
            assert!(i != 7, "item 7 fails");
            i
        });
        assert_eq!(results.len(), 50);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(*r, (i != 7).then_some(i as u32), "item {i}");
        }
    }

    #[test]
    fn the_items_are_shared_by_as_many_threads_as_workers() {
        // The first three items wait until three calls run at once: with fewer threads
        // than workers they would time out.
        let running = (Mutex::new(0u32), Condvar::new());
        let threads = Mutex::new(HashSet::new());
        let items: Vec<u32> = (0..30).collect();
        let results = evaluate_all(&items, 3, |&i| {
            threads
                .lock()
                .expect("lock")
                .insert(std::thread::current().id());
            if i < 3 {
                let (count, changed) = &running;
                let mut n = count.lock().expect("lock");
                *n += 1;
                changed.notify_all();
                let (n, timeout) = changed
                    .wait_timeout_while(n, Duration::from_secs(30), |n| *n < 3)
                    .expect("lock");
                assert!(!timeout.timed_out(), "only {} calls ran at once", *n);
            }
            i
        });
        assert!(results.iter().all(Option::is_some));
        assert_eq!(threads.lock().expect("lock").len(), 3);
        // One worker: everything on the calling thread.
        let caller = std::thread::current().id();
        let on_caller = evaluate_all(&items, 1, |_| std::thread::current().id() == caller);
        assert!(on_caller.into_iter().all(|r| r == Some(true)));
    }
}
