//! Numbering committed events, once per batch of writers.
//!
//! A write commits its events to the tenant's queue and then asks this node's sequencer to
//! number them, waiting until it has. The sequencer thread takes every request made so far and
//! runs one numbering per tenant ([`PgStore::sequence`]), so many writers share one short
//! transaction and its flush, instead of queueing one by one for the tenant's lock. Nodes
//! serialize their runs per tenant with an advisory lock.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::{PgStore, Shared, StoreRuntime};

/// Requests and progress, shared by the writers and the thread.
#[derive(Debug, Default)]
pub(super) struct Sequencer {
    state: Mutex<State>,
    /// Wakes the thread: a request, or stop.
    requested: Condvar,
    /// Wakes the writers: a run ended, or stop.
    served: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The last ticket handed out.
    issued: u64,
    /// Every ticket up to this one has been served.
    served: u64,
    /// Tenants with queued events not yet taken by a run.
    tenants: HashSet<i64>,
    stop: bool,
}

impl Sequencer {
    /// Asks for the tenant's committed events to be numbered and waits until a run that
    /// started after this call has ended (or the store closes).
    pub(super) fn number(&self, tenant: i64) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.issued += 1;
        let ticket = s.issued;
        s.tenants.insert(tenant);
        self.requested.notify_one();
        while s.served < ticket && !s.stop {
            s = self.served.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Stops the thread and releases waiting writers.
    pub(super) fn stop(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stop = true;
        self.requested.notify_all();
        self.served.notify_all();
    }

    /// Starts the thread for the store whose parts these are.
    pub(super) fn start(
        this: &Arc<Sequencer>,
        pool: r2d2::Pool<super::conn::Manager>,
        shared: Weak<Shared>,
        runtime: Arc<StoreRuntime>,
    ) -> std::io::Result<()> {
        let me = Arc::clone(this);
        std::thread::Builder::new()
            .name("kith-pg-sequence".into())
            .spawn(move || me.run(&pool, &shared, &runtime))
            .map(drop)
    }

    fn run(
        &self,
        pool: &r2d2::Pool<super::conn::Manager>,
        shared: &Weak<Shared>,
        runtime: &Arc<StoreRuntime>,
    ) {
        loop {
            let (tenants, upto) = {
                let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                while s.tenants.is_empty() && !s.stop {
                    let (next, _) = self
                        .requested
                        .wait_timeout(s, Duration::from_secs(1))
                        .unwrap_or_else(PoisonError::into_inner);
                    s = next;
                    if shared.strong_count() == 0 {
                        return;
                    }
                }
                if s.stop {
                    return;
                }
                (std::mem::take(&mut s.tenants), s.issued)
            };
            if let Some(shared) = shared.upgrade() {
                let store = PgStore {
                    pool: pool.clone(),
                    shared,
                    runtime: Arc::clone(runtime),
                };
                for tenant in tenants {
                    if let Err(e) = store.sequence(tenant) {
                        // Committed and durable: a later run (any node's heartbeat) numbers
                        // them; the writers are not failed for it.
                        tracing::warn!(error = %e, tenant, "events committed but not numbered yet");
                    }
                }
            }
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            s.served = s.served.max(upto);
            self.served.notify_all();
        }
    }
}
