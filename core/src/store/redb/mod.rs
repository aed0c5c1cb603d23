//! The embedded redb backend, with group commit.
//!
//! One committer thread owns all write transactions. Writers send their request and block until the
//! commit holding it is durable; requests that arrive while a commit is in flight are applied
//! together in the next one, so N concurrent writers share one fsync instead of paying N.

mod actions;
mod apply;
mod check;
mod derive;
mod plugin_query;
mod plugin_state;
mod query;
mod tables;
mod tx;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use redb::{Database, DatabaseError, ReadableTable};

use self::apply::{Ctx, TenantRecord};
use self::tables::T;
use self::tx::Tx;
use super::{Clock, Op, Output, StoreConfig};
use crate::model::{Actor, InstalledPlugin, Tenant, TenantInput, TenantSlug};
use crate::{Error, Result};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The data file inside a data directory.
const FILE_NAME: &str = "kith.redb";

enum Work {
    CreateTenant(TenantInput),
    Atomic(Vec<Op>),
    Each(Vec<Op>),
    Install(Box<InstalledPlugin>, Vec<u8>),
    Uninstall(String),
}

enum Reply {
    Tenant(Result<Tenant>),
    Atomic(Result<Vec<Output>>),
    Each(Result<Vec<Result<Output>>>),
    Installed(Result<bool>),
    Uninstalled(Result<()>),
}

struct Request {
    tenant: Option<TenantSlug>,
    actor: Actor,
    work: Work,
    reply: SyncSender<Reply>,
}

/// Counters of the committer, for metrics.
#[derive(Debug, Default)]
pub(crate) struct CommitStats {
    pub(crate) commits: AtomicU64,
    pub(crate) requests: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Shared {
    db: Database,
    path: PathBuf,
    tenants: RwLock<HashMap<String, u32>>,
    clock: Arc<dyn Clock>,
    stats: CommitStats,
    /// Incremented after every durable commit; read snapshots are reused within a generation.
    generation: AtomicU64,
    snapshot: RwLock<Option<Arc<query::Snapshot>>>,
    /// Signalled after every durable commit, for followers of the event log.
    committed: (Mutex<()>, Condvar),
}

/// The embedded store: one redb file in a data directory.
#[derive(Debug)]
pub struct RedbStore {
    shared: Arc<Shared>,
    sender: Mutex<Option<Sender<Request>>>,
    committer: Mutex<Option<JoinHandle<()>>>,
}

impl RedbStore {
    /// Opens (or creates) the store in `dir`, creating the directory if needed.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(DatabaseError::DatabaseAlreadyOpen) => {
                return Err(Error::Locked(dir.display().to_string()));
            }
            Err(DatabaseError::UpgradeRequired(v)) => {
                return Err(Error::Storage(format!(
                    "{} uses redb file format {v}, which this build cannot read",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(Error::Storage(format!(
                    "cannot open {}: {e}",
                    path.display()
                )));
            }
        };
        let tenants = init_schema(&db)?;
        let shared = Arc::new(Shared {
            db,
            path,
            tenants: RwLock::new(tenants),
            clock: config.clock,
            stats: CommitStats::default(),
            generation: AtomicU64::new(0),
            snapshot: RwLock::new(None),
            committed: (Mutex::new(()), Condvar::new()),
        });
        let (sender, receiver) = mpsc::channel();
        let worker = Arc::clone(&shared);
        let max_batch = config.max_batch.max(1);
        let committer = std::thread::Builder::new()
            .name("kith-committer".into())
            .spawn(move || commit_loop(&worker, &receiver, max_batch))
            .map_err(|source| Error::Io {
                path: "committer thread".into(),
                source,
            })?;
        Ok(Self {
            shared,
            sender: Mutex::new(Some(sender)),
            committer: Mutex::new(Some(committer)),
        })
    }

    /// The data file's path.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Number of commits and of write requests they carried since opening.
    pub fn commit_counts(&self) -> (u64, u64) {
        (
            self.shared.stats.commits.load(Ordering::Relaxed),
            self.shared.stats.requests.load(Ordering::Relaxed),
        )
    }

    /// The number of durable commits since opening; it changes after every commit.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Blocks until a commit after generation `seen` is durable, or `timeout` passes; returns
    /// the current generation.
    pub fn wait_for_commit(&self, seen: u64, timeout: std::time::Duration) -> u64 {
        let (lock, cvar) = &self.shared.committed;
        let Ok(guard) = lock.lock() else {
            return self.generation();
        };
        if self.generation() != seen {
            return self.generation();
        }
        let _ = cvar.wait_timeout_while(guard, timeout, |()| self.generation() == seen);
        self.generation()
    }

    /// Stops accepting writes, waits for the committer to finish what it has, and closes the file.
    pub fn close(&self) {
        if let Ok(mut s) = self.sender.lock() {
            s.take();
        }
        if let Some(handle) = self.committer.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
    }

    fn submit(&self, tenant: Option<&TenantSlug>, actor: &Actor, work: Work) -> Result<Reply> {
        let (reply, rx) = mpsc::sync_channel(1);
        let request = Request {
            tenant: tenant.cloned(),
            actor: actor.clone(),
            work,
            reply,
        };
        {
            let guard = self.sender.lock().map_err(|_| Error::Closed)?;
            let sender = guard.as_ref().ok_or(Error::Closed)?;
            sender.send(request).map_err(|_| Error::Closed)?;
        }
        rx.recv().map_err(|_| Error::Closed)
    }

    pub(crate) fn tenant_number(&self, slug: &TenantSlug) -> Result<u32> {
        let cached = self
            .shared
            .tenants
            .read()
            .map_err(|_| Error::Storage("tenant cache poisoned".into()))?
            .get(slug.as_str())
            .copied();
        cached.ok_or_else(|| Error::TenantNotFound(slug.to_string()))
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Creates the tables on a new file, checks the schema version of an existing one.
fn init_schema(db: &Database) -> Result<HashMap<String, u32>> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(T::Meta.def())?;
        let found = meta
            .get(b"schema_version".as_slice())?
            .map(|g| g.value().to_vec());
        match found {
            None => {
                meta.insert(
                    b"schema_version".as_slice(),
                    SCHEMA_VERSION.to_le_bytes().as_slice(),
                )?;
            }
            Some(bytes) => {
                let found = u32::from_le_bytes(bytes.as_slice().try_into().map_err(|_| {
                    Error::Corrupt {
                        table: "meta",
                        detail: "schema_version is not a u32".into(),
                    }
                })?);
                if found > SCHEMA_VERSION {
                    return Err(Error::SchemaTooNew {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                if found < SCHEMA_VERSION {
                    // No older schema has been released; future migrations go here.
                    return Err(Error::SchemaTooOld {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
        }
    }
    for t in T::ALL {
        txn.open_table(t.def())?;
    }
    let mut tenants = HashMap::new();
    {
        let table = txn.open_table(T::Tenants.def())?;
        for row in table.iter()? {
            let (_, v) = row?;
            let record: TenantRecord = tx::decode(T::Tenants, v.value())?;
            tenants.insert(record.tenant.slug.to_string(), record.number);
        }
    }
    txn.commit()?;
    Ok(tenants)
}

fn commit_loop(shared: &Shared, receiver: &Receiver<Request>, max_batch: usize) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let replies = commit_batch(shared, &mut batch);
        // Before any writer hears back, so that its next read sees its write.
        shared.generation.fetch_add(1, Ordering::AcqRel);
        {
            // Taking the lock orders this notification after a waiter's generation check.
            let _guard = shared.committed.0.lock();
            shared.committed.1.notify_all();
        }
        shared.stats.commits.fetch_add(1, Ordering::Relaxed);
        shared
            .stats
            .requests
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (request, reply) in batch.into_iter().zip(replies) {
            // A writer that gave up waiting is no reason to stop.
            let _ = request.reply.send(reply);
        }
    }
}

/// Applies a batch in one transaction; every reply is sent only after the commit is durable.
fn commit_batch(shared: &Shared, batch: &mut [Request]) -> Vec<Reply> {
    let kinds: Vec<u8> = batch
        .iter()
        .map(|r| match r.work {
            Work::CreateTenant(_) => 0,
            Work::Atomic(_) => 1,
            Work::Each(_) => 2,
            Work::Install(..) => 3,
            Work::Uninstall(_) => 4,
        })
        .collect();
    let failed = |_: &[Request], e: &Error| -> Vec<Reply> {
        let msg = e.to_string();
        kinds
            .iter()
            .map(|k| {
                let err = Error::Storage(msg.clone());
                match k {
                    0 => Reply::Tenant(Err(err)),
                    1 => Reply::Atomic(Err(err)),
                    2 => Reply::Each(Err(err)),
                    3 => Reply::Installed(Err(err)),
                    _ => Reply::Uninstalled(Err(err)),
                }
            })
            .collect()
    };
    let now = shared.clock.now();
    let txn = match shared.db.begin_write() {
        Ok(t) => t,
        Err(e) => return failed(batch, &e.into()),
    };
    let mut replies = Vec::with_capacity(batch.len());
    let mut new_tenants = Vec::new();
    {
        let mut tx = match Tx::open(&txn) {
            Ok(tx) => tx,
            Err(e) => return failed(batch, &e),
        };
        for request in batch.iter_mut() {
            let work = std::mem::replace(&mut request.work, Work::Atomic(Vec::new()));
            let reply = match work {
                Work::CreateTenant(input) => {
                    let mark = tx.mark();
                    let r = apply::create_tenant(&mut tx, input, &request.actor, now);
                    if r.is_err() && tx.rollback(mark).is_err() {
                        return failed(batch, &Error::Storage("rollback failed".into()));
                    }
                    tx.settle();
                    if let Ok(record) = &r {
                        new_tenants.push((record.tenant.slug.to_string(), record.number));
                    }
                    Reply::Tenant(r.map(|rec| rec.tenant))
                }
                Work::Install(plugin, bytes) => {
                    let mark = tx.mark();
                    let r = plugin_state::install(&mut tx, &plugin, &bytes);
                    if r.is_err() && tx.rollback(mark).is_err() {
                        return failed(batch, &Error::Storage("rollback failed".into()));
                    }
                    tx.settle();
                    Reply::Installed(r)
                }
                Work::Uninstall(hash) => {
                    let names = tenant_names(shared, &new_tenants);
                    let mark = tx.mark();
                    let r = plugin_state::uninstall(&mut tx, &hash, &names);
                    if r.is_err() && tx.rollback(mark).is_err() {
                        return failed(batch, &Error::Storage("rollback failed".into()));
                    }
                    tx.settle();
                    Reply::Uninstalled(r)
                }
                Work::Atomic(ops) => {
                    let r = tenant_of(shared, request, &new_tenants).and_then(|t| {
                        let ctx = Ctx {
                            tenant: t,
                            actor: &request.actor,
                            now,
                        };
                        let mark = tx.mark();
                        let mut outputs = Vec::with_capacity(ops.len());
                        for op in ops {
                            match apply::apply(&mut tx, &ctx, op) {
                                Ok(o) => outputs.push(o),
                                Err(e) => {
                                    tx.rollback(mark)?;
                                    return Err(e);
                                }
                            }
                        }
                        Ok(outputs)
                    });
                    tx.settle();
                    Reply::Atomic(r)
                }
                Work::Each(ops) => {
                    let r = tenant_of(shared, request, &new_tenants).and_then(|t| {
                        let ctx = Ctx {
                            tenant: t,
                            actor: &request.actor,
                            now,
                        };
                        let mut results = Vec::with_capacity(ops.len());
                        for op in ops {
                            let mark = tx.mark();
                            let r = apply::apply(&mut tx, &ctx, op);
                            if r.is_err() {
                                tx.rollback(mark)?;
                            }
                            tx.settle();
                            results.push(r);
                        }
                        Ok(results)
                    });
                    tx.settle();
                    Reply::Each(r)
                }
            };
            replies.push(reply);
        }
        if !tx.poisoned()
            && let Err(e) = tx.flush_heads()
        {
            drop(tx);
            let _ = txn.abort();
            return failed(batch, &e);
        }
        if tx.poisoned() {
            drop(tx);
            let _ = txn.abort();
            return failed(
                batch,
                &Error::Storage("a rollback failed; the whole batch was abandoned".into()),
            );
        }
    }
    if let Err(e) = txn.commit() {
        return failed(batch, &e.into());
    }
    if !new_tenants.is_empty()
        && let Ok(mut cache) = shared.tenants.write()
    {
        cache.extend(new_tenants);
    }
    replies
}

/// Every tenant's number and slug, including those created earlier in this batch.
fn tenant_names(shared: &Shared, fresh: &[(String, u32)]) -> Vec<(u32, String)> {
    let mut names: Vec<(u32, String)> = fresh.iter().map(|(s, n)| (*n, s.clone())).collect();
    if let Ok(cache) = shared.tenants.read() {
        names.extend(cache.iter().map(|(s, n)| (*n, s.clone())));
    }
    names
}

fn tenant_of(shared: &Shared, request: &Request, fresh: &[(String, u32)]) -> Result<u32> {
    let slug = request
        .tenant
        .as_ref()
        .ok_or_else(|| Error::TenantNotFound(String::new()))?;
    if let Some((_, n)) = fresh.iter().find(|(s, _)| s == slug.as_str()) {
        return Ok(*n);
    }
    shared
        .tenants
        .read()
        .map_err(|_| Error::Storage("tenant cache poisoned".into()))?
        .get(slug.as_str())
        .copied()
        .ok_or_else(|| Error::TenantNotFound(slug.to_string()))
}

impl RedbStore {
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    fn write_atomic(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
    ) -> Result<Vec<Output>> {
        self.tenant_number(tenant)?;
        match self.submit(Some(tenant), actor, Work::Atomic(ops))? {
            Reply::Atomic(r) => r,
            _ => Err(Error::Storage("mismatched reply".into())),
        }
    }

    fn write_independent(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
    ) -> Result<Vec<Result<Output>>> {
        self.tenant_number(tenant)?;
        match self.submit(Some(tenant), actor, Work::Each(ops))? {
            Reply::Each(r) => r,
            _ => Err(Error::Storage("mismatched reply".into())),
        }
    }

    pub(crate) fn install(&self, plugin: InstalledPlugin, bytes: Vec<u8>) -> Result<bool> {
        let actor = Actor::new("registry");
        match self.submit(None, &actor, Work::Install(Box::new(plugin), bytes))? {
            Reply::Installed(r) => r,
            _ => Err(Error::Storage("mismatched reply".into())),
        }
    }

    pub(crate) fn uninstall(&self, hash: &str) -> Result<()> {
        let actor = Actor::new("registry");
        match self.submit(None, &actor, Work::Uninstall(hash.to_owned()))? {
            Reply::Uninstalled(r) => r,
            _ => Err(Error::Storage("mismatched reply".into())),
        }
    }

    fn new_tenant(&self, input: TenantInput, actor: &Actor) -> Result<Tenant> {
        match self.submit(None, actor, Work::CreateTenant(input))? {
            Reply::Tenant(r) => r,
            _ => Err(Error::Storage("mismatched reply".into())),
        }
    }
}
