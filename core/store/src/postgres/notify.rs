//! Following the other nodes: a thread with its own connection that `LISTEN`s for commits and
//! tenant deletions, wakes this node's commit listeners (long-polls, event streams, the
//! dispatcher) and drops deleted tenants from the id cache. It reconnects by itself.
//!
//! `LISTEN`/`NOTIFY` rather than polling: a write on one node reaches a long-poll on another
//! within milliseconds, and an idle cluster sends nothing. Notifications are not durable, so
//! nothing relies on them for correctness: a follower that misses one finds the events at its
//! next look (the dispatcher looks at every tenant every second anyway).

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kith_model::TenantSlug;
use postgres::NoTls;
use postgres::fallible_iterator::FallibleIterator as _;

use super::Shared;
use crate::{CommitInfo, Result};

/// The running listener; [`Listener::stop`] ends it.
pub(super) struct Listener {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

/// How long one wait for notifications lasts before the thread checks whether to stop.
const POLL: Duration = Duration::from_millis(250);

impl Listener {
    /// Starts following. The first connection is made here, so that a bad URL fails at open.
    pub(super) fn start(config: postgres::Config, shared: Weak<Shared>) -> Result<Listener> {
        let first = listen(&config)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kith-pg-listen".into())
            .spawn(move || run(config, first, &shared, &stopped))
            .map_err(|e| crate::Error::Storage(format!("cannot start the listener: {e}")))?;
        Ok(Listener { stop, thread })
    }

    /// Stops the thread and waits for it.
    pub(super) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn listen(config: &postgres::Config) -> Result<postgres::Client> {
    let mut client = config.connect(NoTls).map_err(|e| super::conn::pg(&e))?;
    client
        .batch_execute("LISTEN kith_commits; LISTEN kith_tenants;")
        .map_err(|e| super::conn::pg(&e))?;
    Ok(client)
}

fn run(
    config: postgres::Config,
    first: postgres::Client,
    shared: &Weak<Shared>,
    stopped: &mpsc::Receiver<()>,
) {
    let mut client = Some(first);
    let mut backoff = Duration::from_millis(100);
    loop {
        match stopped.try_recv() {
            Ok(()) | Err(mpsc::TryRecvError::Disconnected) => return,
            Err(mpsc::TryRecvError::Empty) => {}
        }
        let Some(c) = client.as_mut() else {
            match listen(&config) {
                Ok(c) => {
                    client = Some(c);
                    backoff = Duration::from_millis(100);
                    // Anything may have happened while we were away: wake every follower.
                    wake_all(shared);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach the database to follow other nodes; retrying");
                    match stopped.recv_timeout(backoff) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
            continue;
        };
        let mut notes = c.notifications();
        let mut iter = notes.timeout_iter(POLL);
        let mut broken = false;
        let started = Instant::now();
        loop {
            match iter.next() {
                Ok(Some(n)) => deliver(shared, n.channel(), n.payload()),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the database connection that follows other nodes");
                    broken = true;
                    break;
                }
            }
            if started.elapsed() > POLL {
                break;
            }
        }
        drop(iter);
        drop(notes);
        if broken || c.is_closed() {
            client = None;
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
        }
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
