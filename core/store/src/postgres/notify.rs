//! Following the other nodes: a thread with its own connection that `LISTEN`s for commits and
//! tenant deletions and token revocations, wakes this node's commit listeners (long-polls, event
//! streams, the dispatcher) and drops deleted tenants and revoked tokens from its caches. It
//! reconnects by itself.
//!
//! `LISTEN`/`NOTIFY` rather than polling: a write on one node reaches a long-poll on another
//! within milliseconds, and an idle cluster sends nothing. Notifications are not durable, so
//! nothing relies on them for correctness: a follower that misses one finds the events at its
//! next look (the dispatcher looks at every tenant every second anyway).

use std::future::poll_fn;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kith_model::TenantSlug;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls, Notification};

use super::Shared;
use super::conn::{on_runtime, pg};
use crate::{CommitInfo, Result};

/// The running listener (a task on the store's runtime); [`Listener::stop`] ends it.
pub(super) struct Listener {
    task: tokio::task::JoinHandle<()>,
}

/// Notifications received but not yet delivered; the connection waits when this many are.
const BACKLOG: usize = 1024;

impl Listener {
    /// Starts following. The first connection is made here, so that a bad URL fails at open.
    pub(super) fn start(
        rt: &Handle,
        config: tokio_postgres::Config,
        shared: Weak<Shared>,
    ) -> Result<Listener> {
        let first = on_runtime(rt, listen(config.clone()))??;
        let task = rt.spawn(run(config, first, shared));
        Ok(Listener { task })
    }

    /// Stops following.
    pub(super) fn stop(self) {
        self.task.abort();
    }
}

/// A connection that listens, and the notifications it receives (the channel closes when the
/// connection does).
async fn listen(config: tokio_postgres::Config) -> Result<(Client, mpsc::Receiver<Notification>)> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(|e| pg(&e))?;
    let (tx, rx) = mpsc::channel(BACKLOG);
    tokio::spawn(async move {
        loop {
            match poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if tx.send(n).await.is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %super::conn::describe(&e), "lost the database connection that follows other nodes");
                    return;
                }
                None => return,
            }
        }
    });
    client
        .batch_execute("LISTEN kith_commits; LISTEN kith_tenants; LISTEN kith_tokens;")
        .await
        .map_err(|e| pg(&e))?;
    Ok((client, rx))
}

async fn run(
    config: tokio_postgres::Config,
    first: (Client, mpsc::Receiver<Notification>),
    shared: Weak<Shared>,
) {
    let mut current = Some(first);
    let mut backoff = Duration::from_millis(100);
    loop {
        let (client, mut notes) = match current.take() {
            Some(c) => c,
            None => match listen(config.clone()).await {
                Ok(c) => {
                    backoff = Duration::from_millis(100);
                    tracing::info!("following other nodes again");
                    // Anything may have happened while we were away: wake every follower,
                    // and ask the database again about every token.
                    if let Some(shared) = shared.upgrade() {
                        shared.tokens.clear();
                    }
                    wake_all(&shared);
                    c
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach the database to follow other nodes; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    if shared.strong_count() == 0 {
                        return;
                    }
                    continue;
                }
            },
        };
        while let Some(n) = notes.recv().await {
            deliver(&shared, n.channel(), n.payload());
        }
        drop(client);
        if shared.strong_count() == 0 {
            return;
        }
    }
}

/// Acts on one notification.
fn deliver(shared: &Weak<Shared>, channel: &str, payload: &str) {
    let Some(shared) = shared.upgrade() else {
        return;
    };
    match channel {
        "kith_tenants" => {
            if let Ok(mut t) = shared.tenants.write() {
                t.remove(payload);
            }
            // Its keys went with it.
            shared.tokens.clear();
        }
        "kith_tokens" => shared.tokens.forget(payload),
        "kith_commits" => {
            let Some((node, slug)) = payload.split_once('\u{1}') else {
                return;
            };
            if node == shared.node {
                return;
            }
            let Ok(slug) = TenantSlug::parse(slug) else {
                return;
            };
            notify(&shared, vec![slug]);
        }
        _ => {}
    }
}

/// Wakes every follower of this node with `tenants` written.
fn notify(shared: &Shared, tenants: Vec<TenantSlug>) {
    let generation = shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
    let info = CommitInfo {
        generation,
        requests: 0,
        duration: Duration::ZERO,
        tenants,
    };
    if let Ok(listeners) = shared.listeners.read() {
        for l in listeners.iter() {
            l(&info);
        }
    }
}

/// After a reconnection: every tenant may have changed.
fn wake_all(shared: &Weak<Shared>) {
    let Some(shared) = shared.upgrade() else {
        return;
    };
    let tenants: Vec<TenantSlug> = shared
        .tenants
        .read()
        .map(|t| t.keys().filter_map(|s| TenantSlug::parse(s).ok()).collect())
        .unwrap_or_default();
    notify(&shared, tenants);
}
