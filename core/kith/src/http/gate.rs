//! The queue in front of a tenant's plugin calls.
//!
//! A plugin call runs on a blocking thread and holds one of the host's instance slots, of which a
//! tenant may hold `instances_per_tenant` at once. Without this queue, each webhook delivery or dry
//! run took a blocking thread first and parked it until its tenant's share had room: one tenant's
//! flood of 1,000 connections parked hundreds of threads (tokio's blocking pool has 512, which
//! every store read of every tenant also uses), and each freed slot woke all of them. Here a
//! tenant's calls wait as futures, first come first served, and at most its share of them hold a
//! thread at once. Each tenant has its own queue, so one tenant's flood never queues ahead of
//! another's calls; a queue exists only while a call of its tenant is waiting or running, so
//! callers that name tenants at random leave nothing behind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::model::TenantSlug;
use crate::plugin::{PluginFailure, SlotScope};

/// Per-tenant queues of plugin calls, each letting `share` calls run at once.
#[derive(Debug)]
pub(super) struct PluginGate {
    share: u32,
    patience: Duration,
    /// A tenant's queue while any of its calls waits or runs. An entry is created and removed
    /// only under the lock, and removed when the map holds the last reference to it.
    queues: Mutex<HashMap<TenantSlug, Arc<Semaphore>>>,
    /// Calls waiting in any queue now.
    waiting: Gauge,
}

/// Leave to run one plugin call for a tenant; dropping it lets the tenant's next call in.
#[derive(Debug)]
pub(super) struct Pass {
    // Dropped before `_place`, which may then remove the tenant's queue.
    _permit: OwnedSemaphorePermit,
    _place: Place,
}

/// A call's place in its tenant's queue, from its arrival until it has run.
#[derive(Debug)]
struct Place {
    gate: Arc<PluginGate>,
    tenant: TenantSlug,
    queue: Option<Arc<Semaphore>>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut queues = self.gate.lock();
        drop(self.queue.take());
        if queues
            .get(&self.tenant)
            .is_some_and(|q| Arc::strong_count(q) == 1)
        {
            queues.remove(&self.tenant);
        }
    }
}

/// Counts a call as waiting while it lives.
struct Waiting<'a>(&'a Gauge);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl PluginGate {
    /// Queues that let `share` calls of a tenant run at once (at least one), and refuse a call
    /// that waited `patience`.
    pub(super) fn new(share: u32, patience: Duration) -> Self {
        Self {
            share: share.max(1),
            patience,
            queues: Mutex::default(),
            waiting: Gauge::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TenantSlug, Arc<Semaphore>>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls waiting in any tenant's queue now (the `kith_plugin_calls_queued` gauge).
    pub(super) fn waiting(&self) -> &Gauge {
        &self.waiting
    }

    /// Waits for `tenant`'s turn, at most the gate's patience; `Busy` (503, worth retrying) when
    /// the tenant's share stayed full that long.
    pub(super) async fn enter(
        self: &Arc<Self>,
        tenant: &TenantSlug,
    ) -> Result<Pass, PluginFailure> {
        let queue = {
            let mut queues = self.lock();
            // The slug is cloned for the map only when the tenant has no queue yet.
            match queues.get(tenant) {
                Some(queue) => Arc::clone(queue),
                None => Arc::clone(
                    queues
                        .entry(tenant.clone())
                        .or_insert_with(|| Arc::new(Semaphore::new(self.share as usize))),
                ),
            }
        };
        let place = Place {
            gate: Arc::clone(self),
            tenant: tenant.clone(),
            queue: Some(Arc::clone(&queue)),
        };
        let permit = match Arc::clone(&queue).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let start = Instant::now();
                self.waiting.inc();
                let _waiting = Waiting(&self.waiting);
                match tokio::time::timeout(self.patience, queue.acquire_owned()).await {
                    Ok(Ok(permit)) => permit,
                    // The semaphore is never closed; a timeout is the tenant's share being full.
                    Ok(Err(_)) | Err(_) => {
                        return Err(PluginFailure::Busy {
                            slots: self.share,
                            waited_ms: u64::try_from(start.elapsed().as_millis())
                                .unwrap_or(u64::MAX),
                            scope: SlotScope::Tenant,
                        });
                    }
                }
            }
        };
        Ok(Pass {
            _permit: permit,
            _place: place,
        })
    }

    /// Tenants with a queue now (each with a call waiting or running).
    #[cfg(test)]
    fn queues(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    fn slug(s: &str) -> TenantSlug {
        s.parse().unwrap()
    }

    fn gate(share: u32, patience: Duration) -> Arc<PluginGate> {
        Arc::new(PluginGate::new(share, patience))
    }

    /// Polls `f` once: its output if it is ready now.
    fn now<F: Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
        match f.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        }
    }

    #[tokio::test]
    async fn a_tenant_over_its_share_waits_in_order_while_another_tenant_goes_at_once() {
        let g = gate(2, Duration::from_secs(60));
        let (a, b) = (slug("a"), slug("b"));
        let first = g.enter(&a).await.unwrap();
        let _second = g.enter(&a).await.unwrap();
        let mut third = pin!(g.enter(&a));
        let mut fourth = pin!(g.enter(&a));
        assert!(now(third.as_mut()).is_none(), "the third call of a waits");
        assert!(now(fourth.as_mut()).is_none(), "so does the fourth");
        assert_eq!(g.waiting().get(), 2);
        // Another tenant never queues behind a's calls.
        let other = g.enter(&b).await.unwrap();
        drop(first);
        assert!(now(fourth.as_mut()).is_none(), "first come, first served");
        let third = now(third.as_mut())
            .expect("the freed place goes to the third call")
            .unwrap();
        assert_eq!(g.waiting().get(), 1);
        drop(third);
        now(fourth.as_mut()).expect("then the fourth").unwrap();
        assert_eq!(g.waiting().get(), 0);
        drop(other);
    }

    #[tokio::test]
    async fn a_call_that_waited_its_patience_is_busy_for_the_tenants_share() {
        let g = gate(1, Duration::from_millis(50));
        let a = slug("a");
        let held = g.enter(&a).await.unwrap();
        let busy = g.enter(&a).await.unwrap_err();
        assert!(
            matches!(
                busy,
                PluginFailure::Busy {
                    slots: 1,
                    waited_ms: 50..,
                    scope: SlotScope::Tenant,
                }
            ),
            "{busy:?}"
        );
        assert_eq!((g.waiting().get(), g.queues()), (0, 1));
        drop(held);
        assert_eq!(g.queues(), 0, "the refused call left nothing behind");
    }

    #[tokio::test]
    async fn queues_live_only_while_their_tenants_calls_wait_or_run() {
        let g = gate(1, Duration::from_secs(60));
        // Callers naming ten thousand tenants, one after the other, leave nothing.
        for i in 0..10_000 {
            let pass = g.enter(&slug(&format!("t{i}"))).await.unwrap();
            assert_eq!(g.queues(), 1);
            drop(pass);
        }
        assert_eq!(g.queues(), 0);
        // A waiting call keeps its tenant's queue; one given up (its client left) does not.
        let a = slug("a");
        let held = g.enter(&a).await.unwrap();
        {
            let mut waiter = pin!(g.enter(&a));
            assert!(now(waiter.as_mut()).is_none());
            drop(held);
            assert_eq!(g.queues(), 1, "the waiter still holds a's queue");
        }
        assert_eq!((g.queues(), g.waiting().get()), (0, 0));
    }
}
