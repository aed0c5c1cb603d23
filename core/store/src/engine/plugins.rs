//! How each [`PluginOp`] changes a tenant's plugin state.

use super::{Ctx, Txn, event, require_customer};
use crate::{Error, Result};
use crate::{Output, PluginOp};
use kith_model::{EntityRef, EventKind, JobState, StoredJob};

pub(super) fn apply(txn: &mut dyn Txn, ctx: &Ctx<'_>, op: PluginOp) -> Result<Output> {
    match op {
        PluginOp::Enable(enablement) => {
            let kind = match txn.enablement(&enablement.plugin)? {
                None => {
                    // Start after the tenant's latest event: existing customers are scored by a
                    // rescore, not by replaying history.
                    let head = txn.head()?;
                    txn.put_cursor(&enablement.plugin, head)?;
                    EventKind::PluginEnabled
                }
                Some(_) => EventKind::PluginReconfigured,
            };
            let changed = vec![enablement.plugin.clone(), enablement.version.clone()];
            txn.put_enablement(&enablement)?;
            event(txn, ctx, kind, EntityRef::Tenant, changed)?;
            Ok(Output::Done)
        }
        PluginOp::Disable { plugin } => {
            let old = txn
                .enablement(&plugin)?
                .ok_or_else(|| Error::not_found("enabled plugin", &plugin))?;
            txn.delete_plugin_state(&plugin)?;
            event(
                txn,
                ctx,
                EventKind::PluginDisabled,
                EntityRef::Tenant,
                vec![plugin, old.version],
            )?;
            Ok(Output::Done)
        }
        PluginOp::RecordScore(score) => {
            require_customer(txn, score.customer)?;
            let old = txn.score(score.customer, &score.producer.plugin)?;
            // An older result never replaces one that reflects later events.
            if old.as_ref().is_some_and(|o| o.as_of > score.as_of) {
                return Ok(Output::Done);
            }
            txn.put_score(old.as_ref(), &score)?;
            Ok(Output::Done)
        }
        PluginOp::RecordSegments(segments) => {
            require_customer(txn, segments.customer)?;
            let old = txn.segments(segments.customer, &segments.producer.plugin)?;
            if old.as_ref().is_some_and(|o| o.as_of > segments.as_of) {
                return Ok(Output::Done);
            }
            txn.put_segments(old.as_ref(), &segments)?;
            Ok(Output::Done)
        }
        PluginOp::RecordModel { plugin, model } => {
            txn.put_model(&plugin, &model)?;
            Ok(Output::Done)
        }
        PluginOp::AdvanceCursor { plugin, from, to } => {
            let current = txn
                .cursor(&plugin)?
                .ok_or_else(|| Error::not_found("enabled plugin", &plugin))?;
            if current != from {
                return Err(Error::Conflict {
                    entity: "plugin cursor",
                    id: plugin,
                    expected: from,
                    actual: current,
                });
            }
            txn.put_cursor(&plugin, to)?;
            Ok(Output::Done)
        }
        PluginOp::SetHealth { plugin, health } => {
            if txn.enablement(&plugin)?.is_none() {
                return Err(Error::not_found("enabled plugin", &plugin));
            }
            txn.put_health(&plugin, &health)?;
            Ok(Output::Done)
        }
        PluginOp::RecordOutcomes {
            plugin,
            outcomes,
            breaker,
        } => {
            if txn.enablement(&plugin)?.is_none() {
                return Err(Error::not_found("enabled plugin", &plugin));
            }
            let health = txn.health(&plugin)?.unwrap_or_default();
            let next = outcomes.apply(&breaker, &health);
            if next != health {
                txn.put_health(&plugin, &next)?;
            }
            Ok(Output::Done)
        }
        PluginOp::RecordDelivery { plugin, delivery } => {
            if txn.delivery_seen(&plugin, &delivery.id)? {
                return Err(Error::Duplicate {
                    field: "delivery_id",
                    value: delivery.id,
                    existing: format!("an earlier delivery to {plugin}"),
                });
            }
            txn.put_delivery(&plugin, &delivery)?;
            Ok(Output::Done)
        }
        PluginOp::StartJob {
            plugin,
            total,
            node,
            replace,
        } => start_job(txn, ctx, plugin, total, node, replace),
        PluginOp::JobProgress {
            id,
            done,
            failed,
            state,
            error,
        } => {
            let mut job = txn.job(id)?.ok_or_else(|| Error::not_found("job", id))?;
            job.done += done;
            job.failed += failed;
            job.total = job.total.max(job.done);
            if let Some(state) = state {
                job.state = state;
                if !state.is_active() {
                    job.finished_at = Some(ctx.now);
                    job.error = error;
                }
            }
            txn.put_job(&job)?;
            Ok(Output::Job {
                job,
                started: false,
            })
        }
        PluginOp::Fence(fence) => {
            txn.check_fence(fence)?;
            Ok(Output::Done)
        }
    }
}

/// The active job of the plugin, or a new one (after failing `replace`, whose node stopped).
fn start_job(
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    plugin: String,
    total: u64,
    node: String,
    replace: Option<u64>,
) -> Result<Output> {
    if txn.enablement(&plugin)?.is_none() {
        return Err(Error::not_found("enabled plugin", &plugin));
    }
    let mut jobs = txn.jobs()?;
    if let Some(active) = jobs
        .iter()
        .find(|j| j.plugin == plugin && j.state.is_active() && Some(j.id) != replace)
    {
        return Ok(Output::Job {
            job: active.clone(),
            started: false,
        });
    }
    if let Some(old) = jobs
        .iter_mut()
        .find(|j| Some(j.id) == replace && j.state.is_active())
    {
        old.state = JobState::Failed;
        old.finished_at = Some(ctx.now);
        old.error = Some(format!(
            "node {} stopped while running it; a new job took over",
            old.node
        ));
        txn.put_job(old)?;
    }
    let id = jobs.iter().map(|j| j.id).max().unwrap_or(0) + 1;
    // Keep the newest finished ones: a tenant asking for rescores all day cannot grow the store.
    let mut finished: Vec<u64> = jobs
        .iter()
        .filter(|j| !j.state.is_active())
        .map(|j| j.id)
        .collect();
    finished.sort_unstable();
    let excess = finished.len().saturating_sub(crate::JOBS_KEPT - 1);
    for id in &finished[..excess] {
        txn.delete_job(*id)?;
    }
    let job = StoredJob {
        id,
        plugin,
        state: JobState::Queued,
        total,
        done: 0,
        failed: 0,
        started_at: ctx.now,
        finished_at: None,
        error: None,
        node,
    };
    txn.put_job(&job)?;
    Ok(Output::Job { job, started: true })
}
