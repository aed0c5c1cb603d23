//! Writes one batch on a second thread while the next batch is read and validated.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::Scope;

use crate::model::{Actor, TenantSlug};
use crate::store::{Op, Output, Store};

/// What an importer keeps about each written row: its line and the columns its errors may name.
pub(super) type Meta = (u64, Vec<usize>);

/// A written batch: each row with the store's outcome.
pub(super) type Written = Vec<(Meta, crate::store::Result<Output>)>;

type Outcome = crate::store::Result<Vec<crate::store::Result<Output>>>;

/// Hands batches to a writer thread, one in flight at a time.
#[derive(Debug)]
pub(super) struct Writer {
    jobs: SyncSender<Vec<Op>>,
    done: Receiver<Outcome>,
    in_flight: Option<Vec<Meta>>,
}

impl Writer {
    /// Starts the writer thread in `scope`; it ends when the writer is dropped.
    pub(super) fn spawn<'scope, 'env>(
        scope: &'scope Scope<'scope, 'env>,
        store: &'env dyn Store,
        tenant: &'env TenantSlug,
        actor: Actor,
    ) -> Self {
        let (jobs, next) = mpsc::sync_channel::<Vec<Op>>(1);
        let (finished, done) = mpsc::sync_channel(1);
        scope.spawn(move || {
            while let Ok(ops) = next.recv() {
                if finished
                    .send(store.write_each(tenant, &actor, ops))
                    .is_err()
                {
                    break;
                }
            }
        });
        Self {
            jobs,
            done,
            in_flight: None,
        }
    }

    /// Starts writing `ops` (with `meta` for each) and returns the batch written before it.
    pub(super) fn submit(
        &mut self,
        meta: Vec<Meta>,
        ops: Vec<Op>,
    ) -> anyhow::Result<Option<Written>> {
        let previous = self.wait()?;
        if !ops.is_empty() {
            self.jobs.send(ops).map_err(|_| stopped())?;
            self.in_flight = Some(meta);
        }
        Ok(previous)
    }

    /// Waits for the batch in flight, if any.
    pub(super) fn wait(&mut self) -> anyhow::Result<Option<Written>> {
        let Some(meta) = self.in_flight.take() else {
            return Ok(None);
        };
        let results = self.done.recv().map_err(|_| stopped())??;
        Ok(Some(meta.into_iter().zip(results).collect()))
    }
}

fn stopped() -> anyhow::Error {
    anyhow::anyhow!("the import's writer thread stopped unexpectedly")
}
