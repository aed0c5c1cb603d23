//! The event log: read from a sequence number, and wait for new events without polling.

use std::sync::Arc;

use tokio::sync::watch;

use std::collections::HashMap;

use super::access::Access;
use crate::model::{CustomerId, EntityRef, Event, TenantSlug};
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

/// [`after`], keeping the events the caller may see, and the sequence number of the last event
/// read (to continue after, whether or not it was kept). A limited user sees events about the
/// customers and deals they may read, about work assigned to someone whose records they read,
/// and every event about the tenant, its pipelines, users and teams; events about erased
/// customers, whose owner is gone with them, only with full access.
pub fn after_visible(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    after_seq: u64,
    limit: usize,
) -> Result<(Vec<Event>, u64)> {
    let events = after(store, tenant, after_seq, limit)?;
    let last = events.last().map_or(after_seq, |e| e.seq);
    if access.is_full() {
        return Ok((events, last));
    }
    let mut customers: HashMap<CustomerId, bool> = HashMap::new();
    let mut kept = Vec::with_capacity(events.len());
    for e in events {
        let visible = match e.entity {
            EntityRef::Tenant
            | EntityRef::Pipeline(_)
            | EntityRef::User(_)
            | EntityRef::Team(_) => true,
            EntityRef::Deal { id, .. } => store
                .deal(tenant, id)?
                .is_some_and(|d| access.reads(d.owner.as_deref())),
            EntityRef::Customer(c)
            | EntityRef::Interaction { customer: c, .. }
            | EntityRef::Merged { survivor: c, .. } => match customers.get(&c) {
                Some(v) => *v,
                None => {
                    let v = store
                        .customer(tenant, c)?
                        .is_some_and(|c| access.reads(c.owner.as_deref()));
                    customers.insert(c, v);
                    v
                }
            },
        };
        // Work assigned to someone whose records the caller reads is theirs to follow, even
        // on a customer they may not read.
        let visible = visible
            || match e.entity {
                EntityRef::Interaction { id, .. } => store
                    .interaction(tenant, id)?
                    .is_some_and(|i| i.assignee.is_some() && access.reads(i.assignee.as_deref())),
                _ => false,
            };
        if visible {
            kept.push(e);
        }
    }
    Ok((kept, last))
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
