//! Rescore jobs: run a scorer or segmenter over every customer of a tenant, in batches, in the
//! background, with progress that can be polled.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tracing::{info, warn};

use super::PluginHost;
use crate::model::{Actor, TenantSlug, Timestamp};
use crate::store::{CustomerBundle, Op, Output, PageRequest, PluginStore, Store};
use crate::{Error, Result};

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
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

/// The host's jobs, kept in memory (a job does not survive a restart; rescoring is idempotent,
/// so starting it again is always safe).
#[derive(Debug, Default)]
pub(super) struct Jobs {
    next: AtomicU64,
    all: Mutex<HashMap<u64, Job>>,
}

impl Jobs {
    fn update(&self, id: u64, f: impl FnOnce(&mut Job)) {
        if let Ok(mut all) = self.all.lock()
            && let Some(job) = all.get_mut(&id)
        {
            f(job);
        }
    }
}

impl PluginHost {
    /// Starts rescoring every customer of the tenant with the plugin, in the background; returns
    /// the job's id ([`PluginHost::job`] reports progress).
    pub fn start_rescore(&self, tenant: &TenantSlug, plugin: &str) -> Result<u64> {
        self.enabled(tenant, plugin)?;
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
            state: JobState::Running,
            total,
            done: 0,
            failed: 0,
            started_at: Timestamp::now(),
            finished_at: None,
            error: None,
        };
        if let Ok(mut all) = self.jobs.all.lock() {
            all.insert(id, job);
        }
        let Some(host) = self.this() else {
            return Err(Error::Closed);
        };
        let tenant = tenant.clone();
        let plugin = plugin.to_owned();
        std::thread::Builder::new()
            .name(format!("kith-rescore-{id}"))
            .spawn(move || {
                let result = host.rescore(&tenant, &plugin, id);
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
            .map_err(|source| Error::Io {
                path: "rescore thread".into(),
                source,
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
            if job.state != JobState::Running || now >= deadline {
                return Some(job);
            }
            guard = cvar.wait_timeout(guard, deadline - now).ok()?.0;
        }
    }

    /// Rescores every customer of the tenant, batch by batch, recording progress in job `id`.
    /// Runs synchronously; [`PluginHost::start_rescore`] runs it in the background.
    pub fn rescore(&self, tenant: &TenantSlug, plugin: &str, id: u64) -> Result<()> {
        let e = self.enabled(tenant, plugin)?;
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
            Err(failure) => {
                return Err(Error::PopulationFailed {
                    plugin: plugin.to_owned(),
                    code: failure.code,
                    message: failure.message,
                });
            }
        };
        let pipelines = self.pipelines(tenant)?;
        let batch = self.config.rescore_batch.max(1);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
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
                    break Err(Error::Closed);
                }
                let bundles = match self.store.customer_bundles(tenant, &page) {
                    Ok(b) => b,
                    Err(e) => break Err(e),
                };
                let evaluate = |b: &CustomerBundle| {
                    self.evaluate(&e, &loaded, b, &pipelines, model.as_deref(), now, as_of)
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
                let mut ops = Vec::with_capacity(results.len());
                for r in results {
                    match r {
                        Ok(group) => ops.push(Op::Attempt(group)),
                        Err(_) => failed += 1,
                    }
                }
                processed += n;
                if to_writer.send((ops, n, failed)).is_err() {
                    // The writer stopped on an error; it reports it below.
                    break Ok(());
                }
                match bundles.next {
                    Some(c) => page = PageRequest::after(batch, c),
                    None => break Ok(()),
                }
            };
            drop(to_writer);
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(Error::Storage("the rescore writer panicked".into())));
            read.and(written)
        })?;
        info!(%tenant, plugin, customers = processed, elapsed_ms = started.elapsed().as_millis() as u64, "rescore finished");
        Ok(())
    }
}
