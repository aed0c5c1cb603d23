//! The event log: read from a sequence number, and wait for new events without polling.

use std::sync::Arc;

use tokio::sync::watch;

use crate::model::{Event, TenantSlug};
use crate::store::Result;
use crate::store::{CommitInfo, Store};

/// Events after `after`, oldest first, at most `limit` (1 to 1000).
pub fn after(
    store: &dyn Store,
    tenant: &TenantSlug,
    after: u64,
    limit: usize,
) -> Result<Vec<Event>> {
    store.events(tenant, after, limit.clamp(1, 1000))
}

/// Wakes followers of event logs after every durable commit: the store's committer bumps the
/// generation, and anyone waiting on [`CommitFeed::subscribe`] reads again.
#[derive(Debug, Clone)]
pub struct CommitFeed {
    sender: watch::Sender<u64>,
}

impl CommitFeed {
    /// A feed signalled by `store`'s commits.
    pub fn attach(store: &dyn Store) -> Self {
        let (sender, _) = watch::channel(0);
        let signal = sender.clone();
        store.on_commit(Arc::new(move |info: &CommitInfo| {
            signal.send_replace(info.generation);
        }));
        Self { sender }
    }

    /// A receiver that changes after each commit.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }
}
