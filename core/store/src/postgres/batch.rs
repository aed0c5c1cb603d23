//! Group commit: concurrent writes to one tenant share a transaction.
//!
//! A write to a tenant that has no open batch opens one and leads it: it takes a connection,
//! begins, and checks the tenant. Writes to the same tenant that arrive while the batch is open
//! join it (a second batch opens while the first has members waiting for their turn, so that
//! writes of several round trips each do not all queue on one connection). Members take turns on the transaction (it is one connection) and each runs its own
//! attempt on its own thread; when every member has run, the leader closes the batch, commits
//! once, has the events numbered once, and every member returns its own result. So N writers
//! pay one `BEGIN`, one tenant check, one `COMMIT` (and its flush) and one numbering between
//! them, instead of N of each: on one database these statements, not the rows, are most of
//! what a small write costs.
//!
//! A member's failure must not touch the others:
//! - an attempt that fails having only read (a missing customer, a version conflict, a
//!   duplicate: the engine checks its rules before it writes) is simply left out: it has
//!   nothing to undo, and the member returns its error at once;
//! - an attempt that fails after writing, or on a statement PostgreSQL refused, or a commit
//!   that fails, cannot be untangled from the others: the batch is rolled back whole and every
//!   member runs again in a transaction of its own, which reports its own outcome.
//!
//! A member waits at most `PgConfig::batch_lock_timeout` (200 ms) for a row lock: two batches (of two nodes,
//! or the two of one node) could each hold a row the other's next member wants, a deadlock that
//! PostgreSQL breaks only after `deadlock_timeout`. A batch whose members all failed before
//! writing commits nothing and announces nothing.
//!
//! Nothing is kept between attempts (the bodies may run several times, as in a retry), and a
//! member never waits for a commit it is not part of.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::conn::Tx;

/// Members one batch takes at most (then the next write opens another).
pub(super) const MAX_MEMBERS: usize = 32;

/// Batches of one tenant open at once on a node.
pub(super) const MAX_OPEN: usize = 2;

/// The open batches of each tenant (closed ones commit while the next ones fill).
#[derive(Default)]
pub(super) struct Batches {
    open: Mutex<HashMap<i64, Vec<Arc<Batch>>>>,
}

impl std::fmt::Debug for Batches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batches").finish_non_exhaustive()
    }
}

/// One shared transaction and its members.
#[derive(Default)]
pub(super) struct Batch {
    state: Mutex<State>,
    /// The transaction is free (one waiter takes it), or poisoned (everyone goes).
    free: Condvar,
    /// Every member has run (the leader closes), or the batch ended (members return).
    settled: Condvar,
}

#[derive(Default)]
struct State {
    /// The transaction, while no member runs on it.
    tx: Option<Tx<'static>>,
    /// Members so far, the leader included.
    members: usize,
    /// Members whose attempt succeeded (and so wait for the commit).
    succeeded: usize,
    /// Members that have not finished their attempt.
    running: usize,
    /// No more members: the leader is committing.
    closed: bool,
    /// The transaction cannot be committed: every member runs again on its own.
    poisoned: bool,
    /// How it ended, once it did.
    outcome: Option<Outcome>,
}

/// How a batch ended for its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Committed and numbered: a member's result stands.
    Committed,
    /// Rolled back: a member runs its write again on its own.
    Redo,
    /// The connection broke during the commit: whether it committed is unknown, so nobody
    /// writes again (that could apply a write twice); each member reports this.
    Lost(String),
}

/// Poisons the batch if a member's attempt unwinds.
struct Unwinding<'b>(&'b Batch);

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        let mut s = lock(&self.0.state);
        s.poisoned = true;
        self.0.free.notify_all();
        self.0.finished(&mut s);
    }
}

/// What a member's turn gave.
pub(super) enum Turn<T> {
    /// The attempt succeeded: the result stands once the batch commits.
    Done(T),
    /// The attempt failed without writing: the write's answer, at once.
    Failed(crate::Error),
    /// The batch is of no use to this member: run the write on its own.
    Alone,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Batches {
    /// Joins one of the tenant's open batches, or opens one; `true` when this caller leads it
    /// (and must [`Batch::start`] and then [`Batches::close`] it). A second batch opens while
    /// every open one has members waiting for their turn, so that a tenant whose writes take
    /// several round trips each has two of them running at once.
    pub(super) fn join(&self, tenant: i64) -> (Arc<Batch>, bool) {
        let mut open = lock(&self.open);
        let batches = open.entry(tenant).or_default();
        let mut best: Option<(&Arc<Batch>, usize)> = None;
        for batch in batches.iter() {
            let s = lock(&batch.state);
            if s.closed || s.members >= MAX_MEMBERS {
                continue;
            }
            let queued = s.running;
            drop(s);
            if best.is_none_or(|(_, q)| queued < q) {
                best = Some((batch, queued));
            }
        }
        if let Some((batch, queued)) = best
            && (queued == 0 || batches.len() >= MAX_OPEN)
        {
            let mut s = lock(&batch.state);
            s.members += 1;
            s.running += 1;
            return (Arc::clone(batch), false);
        }
        let batch = Arc::new(Batch::default());
        {
            let mut s = lock(&batch.state);
            s.members = 1;
            s.running = 1;
        }
        batches.push(Arc::clone(&batch));
        (batch, true)
    }

    /// Closes `batch` to new members once every member has run; returns the transaction
    /// (`None` when it is poisoned: it is rolled back when dropped) and how many members
    /// succeeded (none: nothing to commit, or to announce).
    pub(super) fn close(&self, tenant: i64, batch: &Arc<Batch>) -> (Option<Tx<'static>>, usize) {
        loop {
            {
                let mut open = lock(&self.open);
                let mut s = lock(&batch.state);
                if s.running == 0 {
                    s.closed = true;
                    forget(&mut open, tenant, batch);
                    let tx = s.tx.take();
                    return (if s.poisoned { None } else { tx }, s.succeeded);
                }
            }
            let s = lock(&batch.state);
            if s.running > 0 {
                drop(batch.settled.wait(s));
            }
        }
    }
}

/// Takes `batch` off the tenant's open batches.
fn forget(open: &mut HashMap<i64, Vec<Arc<Batch>>>, tenant: i64, batch: &Arc<Batch>) {
    if let Some(batches) = open.get_mut(&tenant) {
        batches.retain(|b| !Arc::ptr_eq(b, batch));
        if batches.is_empty() {
            open.remove(&tenant);
        }
    }
}

/// Held by a batch's leader from the moment it leads: should the leader unwind before it ended
/// the batch (in its own attempt, beginning or committing), the batch is taken off the open
/// ones, rolled back, and its members are sent to run alone, rather than waiting forever.
pub(super) struct Leading<'b> {
    pub(super) batches: &'b Batches,
    pub(super) tenant: i64,
    pub(super) batch: &'b Arc<Batch>,
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        forget(&mut lock(&self.batches.open), self.tenant, self.batch);
        let tx = {
            let mut s = lock(&self.batch.state);
            s.closed = true;
            s.poisoned = true;
            s.tx.take()
        };
        // Rolled back outside the lock (dropping sends the ROLLBACK).
        drop(tx);
        self.batch.free.notify_all();
        self.batch.end(Outcome::Redo);
    }
}

#[cfg(test)]
impl Batches {
    /// How many batches the tenant has open.
    pub(super) fn open_count(&self, tenant: i64) -> usize {
        lock(&self.open).get(&tenant).map_or(0, Vec::len)
    }
}

impl Batch {
    /// The leader hands over the transaction it began (`None`: it could not, and every member
    /// runs alone).
    pub(super) fn start(&self, tx: Option<Tx<'static>>) {
        let mut s = lock(&self.state);
        match tx {
            Some(tx) => {
                s.tx = Some(tx);
                self.free.notify_one();
            }
            None => {
                s.poisoned = true;
                self.free.notify_all();
            }
        }
    }

    /// Runs one member's attempt on the transaction when its turn comes.
    pub(super) fn turn<T>(
        &self,
        attempt: impl FnOnce(&mut Tx<'static>) -> crate::Result<T>,
    ) -> Turn<T> {
        let mut tx = {
            let mut s = lock(&self.state);
            loop {
                if s.poisoned {
                    self.finished(&mut s);
                    return Turn::Alone;
                }
                if let Some(tx) = s.tx.take() {
                    break tx;
                }
                s = self.free.wait(s).unwrap_or_else(PoisonError::into_inner);
            }
        };
        // A panicking attempt takes the transaction with it: the others must not wait for it.
        let guard = Unwinding(self);
        let before = tx.progress();
        let result = attempt(&mut tx);
        std::mem::forget(guard);
        let turn = match result {
            Ok(value) if !tx.broken() => Turn::Done(value),
            Err(e) if !tx.broken() && tx.progress() == before => Turn::Failed(e),
            // It wrote, or PostgreSQL refused a statement: the transaction is not ours alone.
            _ => Turn::Alone,
        };
        let mut s = lock(&self.state);
        s.tx = Some(tx);
        if matches!(turn, Turn::Done(_)) {
            s.succeeded += 1;
        }
        if matches!(turn, Turn::Alone) {
            s.poisoned = true;
            self.free.notify_all();
        } else {
            self.free.notify_one();
        }
        self.finished(&mut s);
        turn
    }

    /// One member less to run: the last one wakes the leader.
    fn finished(&self, s: &mut State) {
        s.running -= 1;
        if s.running == 0 {
            self.settled.notify_all();
        }
    }

    /// The leader announces how the batch ended.
    pub(super) fn end(&self, outcome: Outcome) {
        lock(&self.state).outcome.get_or_insert(outcome);
        self.settled.notify_all();
    }

    /// Waits until the leader has ended the batch.
    pub(super) fn outcome(&self) -> Outcome {
        let mut s = lock(&self.state);
        loop {
            if let Some(o) = &s.outcome {
                return o.clone();
            }
            s = self.settled.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }
}
