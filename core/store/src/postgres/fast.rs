//! Reads that need no thread of their own: the hottest read (a customer by id, for a tenant
//! this node knows) answered by awaiting PostgreSQL, on whatever runtime awaits it.
//!
//! Every other call of the store is synchronous and runs on a blocking thread, which hands its
//! query to the connection's task and parks until the answer. For a one-row read those
//! hand-offs cost more CPU than the query does in PostgreSQL. Here the caller's task sends the
//! query itself, on a few connections kept for this (a `tokio-postgres` client pipelines the
//! queries of every task that uses it), and is woken by the answer.
//!
//! When no such connection is up (at start, after the database went away), the caller is told
//! to take the ordinary path, and the connection is made again in the background.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use kith_model::{Customer, CustomerId};
use tokio_postgres::{Client, Statement};

use super::conn::{describe, on_runtime, open, pg};
use super::txn::uuid;
use crate::ReadFuture;
use crate::records::decode;

/// Connections kept for these reads, out of the node's `pool_size`: two keep both cores busy
/// with one-row reads. A pool of fewer than [`MIN_POOL`] keeps none (every read takes the
/// ordinary path).
const CONNECTIONS: usize = 2;
pub(super) const MIN_POOL: u32 = 4;

/// How many of a pool of `pool_size` serve these reads.
pub(super) fn share_of(pool_size: u32) -> u32 {
    if pool_size >= MIN_POOL {
        CONNECTIONS as u32
    } else {
        0
    }
}

const CUSTOMER: &str = "SELECT doc FROM kith_customers WHERE tenant_id = $1 AND id = $2";

/// One connection and its prepared statement.
struct Line {
    client: Client,
    customer: Statement,
}

/// The connections, made again when one breaks.
pub(super) struct FastReads {
    config: tokio_postgres::Config,
    runtime: tokio::runtime::Handle,
    lines: Vec<RwLock<Option<Arc<Line>>>>,
    connecting: Vec<AtomicBool>,
    next: AtomicUsize,
}

impl std::fmt::Debug for FastReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastReads").finish_non_exhaustive()
    }
}

impl FastReads {
    /// Connects (a connection that fails is made again in the background, and reads take the
    /// ordinary path until it is up).
    pub(super) fn start(
        config: tokio_postgres::Config,
        runtime: tokio::runtime::Handle,
        connections: u32,
    ) -> Arc<FastReads> {
        let connections = connections as usize;
        Arc::new(FastReads {
            lines: (0..connections)
                .map(|_| {
                    let line = on_runtime(&runtime, connect(config.clone(), runtime.clone()));
                    RwLock::new(match line {
                        Ok(Ok(line)) => Some(Arc::new(line)),
                        _ => None,
                    })
                })
                .collect(),
            config,
            runtime,
            connecting: (0..connections).map(|_| AtomicBool::new(false)).collect(),
            next: AtomicUsize::new(0),
        })
    }

    /// A customer by id in tenant `tenant` (its id), or `None` when no connection is up.
    pub(super) fn customer(
        self: &Arc<Self>,
        tenant: i64,
        id: CustomerId,
    ) -> Option<ReadFuture<Option<Customer>>> {
        if self.lines.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.lines.len();
        let line = self.lines[i].read().ok()?.clone();
        let line = match line {
            Some(line) if !line.client.is_closed() => line,
            _ => {
                self.reconnect(i);
                return None;
            }
        };
        let id = uuid(id.to_bytes());
        let this = Arc::clone(self);
        Some(Box::pin(async move {
            match line.client.query_opt(&line.customer, &[&tenant, &id]).await {
                Ok(row) => row
                    .map(|row| decode("customers", row.get::<_, &[u8]>(0)))
                    .transpose(),
                Err(e) => {
                    if line.client.is_closed() {
                        this.reconnect(i);
                    }
                    Err(pg(&e))
                }
            }
        }))
    }

    /// Makes connection `i` again in the background, unless that is under way.
    fn reconnect(self: &Arc<Self>, i: usize) {
        if self.connecting[i].swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(mut line) = self.lines[i].write() {
            *line = None;
        }
        let this = Arc::clone(self);
        let spawner = self.runtime.clone();
        self.runtime.spawn(async move {
            let made = connect(this.config.clone(), spawner).await;
            match made {
                Ok(line) => {
                    if let Ok(mut slot) = this.lines[i].write() {
                        *slot = Some(Arc::new(line));
                    }
                }
                Err(e) => {
                    // The ordinary path reports the outage; the next read tries again.
                    tracing::debug!(error = %describe(&e), "cannot open a PostgreSQL read connection");
                }
            }
            this.connecting[i].store(false, Ordering::Release);
        });
    }
}

/// Opens a connection (its task stays on `runtime`) and prepares the statement.
async fn connect(
    config: tokio_postgres::Config,
    runtime: tokio::runtime::Handle,
) -> Result<Line, tokio_postgres::Error> {
    let client = open(config, runtime).await?;
    let customer = client.prepare(CUSTOMER).await?;
    Ok(Line { client, customer })
}
