//! The embedded redb backend, with group commit.
//!
//! One committer thread owns all write transactions. Writers send their request and block until the
//! commit holding it is durable; requests that arrive while a commit is in flight are applied
//! together in the next one, so N concurrent writers share one fsync instead of paying N.

mod admin;
mod apply;
mod check;
mod derive;
mod plugin_query;
mod plugin_state;
mod query;

pub use query::MAX_WORK_SCANNED;

mod tables;
mod tx;
mod txn;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable};

use self::apply::TenantRecord;
use self::tables::T;
use self::tx::Tx;
use self::txn::RedbTxn;
use super::engine::{self, Ctx};
use super::{
    Clock, CommitInfo, CommitListener, IdempotencyKey, Once, Op, Output, StoreConfig, TokenRecord,
};
use crate::admin::Stored;
use crate::{Error, Result};
use kith_model::{Actor, InstalledPlugin, Tenant, TenantInput, TenantPatch, TenantSlug, Timestamp};

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 4;

/// The data file inside a data directory.
const FILE_NAME: &str = "kith.redb";

pub(super) enum Work {
    CreateTenant(TenantInput),
    Atomic(Vec<Op>),
    Each(Vec<Op>),
    Install(Box<InstalledPlugin>, Vec<u8>),
    Uninstall(String),
    UpdateTenant(TenantPatch),
    DeleteTenant,
    CreateToken(TokenRecord),
    RevokeToken(String),
}

/// What a request produced.
enum Done {
    Tenant(Tenant),
    Outputs(Vec<Output>),
    Each(Vec<Result<Output>>),
    Token(TokenRecord),
    Nothing,
    Installed(bool),
}

impl From<Stored> for Done {
    fn from(s: Stored) -> Self {
        match s {
            Stored::Tenant(t) => Self::Tenant(t),
            Stored::Outputs(o) => Self::Outputs(o),
            Stored::Token(t) => Self::Token(t),
        }
    }
}

type Reply = Result<Once<Done>>;

struct Request {
    tenant: Option<TenantSlug>,
    actor: Actor,
    work: Work,
    once: Option<IdempotencyKey>,
    /// Answered once the commit holding the request is durable. A oneshot, so that a writer can
    /// wait on a thread ([`RedbStore::submit`]) or await it without one
    /// ([`RedbStore::write_outputs_nonblocking`]).
    reply: tokio::sync::oneshot::Sender<Reply>,
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
    /// Called after every commit.
    listeners: RwLock<Listeners>,
    /// This process's name for the jobs it runs.
    pub(crate) node: String,
}

/// The commit listeners (closures, shown by count).
#[derive(Default)]
struct Listeners(Vec<CommitListener>);

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} commit listener(s)", self.0.len())
    }
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
        let db = match Database::builder()
            .set_cache_size(config.cache_bytes)
            .create(&path)
        {
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
            listeners: RwLock::new(Listeners::default()),
            node: format!("local-{}", uuid::Uuid::now_v7().simple()),
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
        let store = Self {
            shared,
            sender: Mutex::new(Some(sender)),
            committer: Mutex::new(Some(committer)),
        };
        store.finish_upgrade()?;
        Ok(store)
    }

    /// Runs what an upgrade left for a running store: users for free-text owners. A crash
    /// before the flag is cleared runs it again, which finds nothing left to do.
    fn finish_upgrade(&self) -> Result<()> {
        let pending = {
            let txn = self.shared.db.begin_read()?;
            let meta = txn.open_table(T::Meta.def())?;
            meta.get(ADOPT_OWNERS)?.is_some()
        };
        if !pending {
            return Ok(());
        }
        crate::adopt_owners(self)?;
        let txn = self.shared.db.begin_write()?;
        txn.open_table(T::Meta.def())?.remove(ADOPT_OWNERS)?;
        txn.commit()?;
        Ok(())
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

    fn submit(
        &self,
        tenant: Option<&TenantSlug>,
        actor: &Actor,
        work: Work,
        once: Option<&IdempotencyKey>,
    ) -> Reply {
        let pending = self.enqueue(tenant, actor, work, once)?;
        futures_executor::block_on(pending).map_err(|_| Error::Closed)?
    }

    /// Queues a request for the committer; the receiver answers once its commit is durable.
    fn enqueue(
        &self,
        tenant: Option<&TenantSlug>,
        actor: &Actor,
        work: Work,
        once: Option<&IdempotencyKey>,
    ) -> Result<tokio::sync::oneshot::Receiver<Reply>> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let request = Request {
            tenant: tenant.cloned(),
            actor: actor.clone(),
            work,
            once: once.cloned(),
            reply,
        };
        let guard = self.sender.lock().map_err(|_| Error::Closed)?;
        let sender = guard.as_ref().ok_or(Error::Closed)?;
        sender.send(request).map_err(|_| Error::Closed)?;
        Ok(rx)
    }

    /// [`Store::write_nonblocking`]: the atomic write queued now, its outputs when durable.
    pub(super) fn write_outputs_nonblocking(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
        once: Option<&IdempotencyKey>,
    ) -> crate::WriteFuture<Once<Vec<Output>>> {
        let queued = self
            .tenant_number(tenant)
            .and_then(|_| self.enqueue(Some(tenant), actor, Work::Atomic(ops), once));
        Box::pin(async move {
            let r = queued?.await.map_err(|_| Error::Closed)??;
            match r.value {
                Done::Outputs(o) => Ok(Once {
                    value: o,
                    replayed: r.replayed,
                }),
                _ => Err(mismatched()),
            }
        })
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

/// The meta key present while owners stored before schema version 2 still need users.
const ADOPT_OWNERS: &[u8] = b"adopt_owners";

/// Builds the deal-owner index of a version 1 file.
fn index_deal_owners(txn: &redb::WriteTransaction) -> Result<()> {
    let deals = txn.open_table(T::Deals.def())?;
    let mut index = txn.open_table(T::IdxDealOwner.def())?;
    for row in deals.iter()? {
        let (k, v) = row?;
        let key = k.value();
        let Some(n) = key
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
        else {
            continue;
        };
        let deal: kith_model::Deal = tx::decode(T::Deals, v.value())?;
        for (t, key, value) in derive::deal_entries(n, &deal, &[]) {
            if t == T::IdxDealOwner {
                index.insert(key.as_slice(), value.as_slice())?;
            }
        }
    }
    Ok(())
}

/// Builds the email likeness index of a file older than version 4.
fn index_email_likeness(txn: &redb::WriteTransaction) -> Result<()> {
    let customers = txn.open_table(T::Customers.def())?;
    let mut index = txn.open_table(T::IdxEmailLike.def())?;
    for row in customers.iter()? {
        let (k, v) = row?;
        let Some(n) = k
            .value()
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
        else {
            continue;
        };
        let c: kith_model::Customer = tx::decode(T::Customers, v.value())?;
        for (t, key, value) in derive::customer_entries(n, &c) {
            if t == T::IdxEmailLike {
                index.insert(key.as_slice(), value.as_slice())?;
            }
        }
    }
    Ok(())
}

/// Builds the work and deal-timeline indexes of a version 1 or 2 file.
fn index_work(txn: &redb::WriteTransaction) -> Result<()> {
    let interactions = txn.open_table(T::Interactions.def())?;
    let mut work = txn.open_table(T::IdxWork.def())?;
    let mut deals = txn.open_table(T::IdxDealTimeline.def())?;
    for row in interactions.iter()? {
        let (k, v) = row?;
        let Some(n) = k
            .value()
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
        else {
            continue;
        };
        let i = crate::records::decode_interaction(v.value())?;
        for (t, key, value) in derive::interaction_entries(n, &i) {
            match t {
                T::IdxWork => work.insert(key.as_slice(), value.as_slice())?,
                T::IdxDealTimeline => deals.insert(key.as_slice(), value.as_slice())?,
                _ => continue,
            };
        }
    }
    Ok(())
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
                if found < 1 {
                    return Err(Error::SchemaTooOld {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                if found < SCHEMA_VERSION {
                    meta.insert(
                        b"schema_version".as_slice(),
                        SCHEMA_VERSION.to_le_bytes().as_slice(),
                    )?;
                    if found == 1 {
                        // Version 2 indexes deals by owner and makes owners users: the index
                        // is built here, the users once the store runs
                        // ([`crate::adopt_owners`]).
                        meta.insert(ADOPT_OWNERS, [1u8].as_slice())?;
                    }
                    drop(meta);
                    if found == 1 {
                        index_deal_owners(&txn)?;
                    }
                    if found < 3 {
                        // Version 3 indexes work items (queues) and interactions by deal.
                        index_work(&txn)?;
                    }
                    // Version 4 indexes customers' emails by likeness and identity.
                    index_email_likeness(&txn)?;
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
        let started = Instant::now();
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let replies = commit_batch(shared, &mut batch);
        // Before any writer hears back, so that its next read sees its write.
        let generation = shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
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
        let mut tenants: Vec<TenantSlug> = Vec::new();
        for r in &batch {
            if let Some(t) = &r.tenant
                && !tenants.contains(t)
            {
                tenants.push(t.clone());
            }
        }
        let info = CommitInfo {
            generation,
            requests: batch.len(),
            duration: started.elapsed(),
            tenants,
        };
        if let Ok(listeners) = shared.listeners.read() {
            for listener in &listeners.0 {
                listener(&info);
            }
        }
        for (request, reply) in batch.into_iter().zip(replies) {
            // A writer that gave up waiting is no reason to stop.
            let _ = request.reply.send(reply);
        }
    }
}

/// Tenants created and deleted by the requests of one batch so far.
#[derive(Default)]
struct BatchTenants {
    created: Vec<(String, u32)>,
    deleted: Vec<String>,
}

/// Applies a batch in one transaction; every reply is sent only after the commit is durable.
fn commit_batch(shared: &Shared, batch: &mut [Request]) -> Vec<Reply> {
    let failed = |batch: &[Request], e: &Error| -> Vec<Reply> {
        let msg = e.to_string();
        batch
            .iter()
            .map(|_| Err(Error::Storage(msg.clone())))
            .collect()
    };
    let now = shared.clock.now();
    let txn = match shared.db.begin_write() {
        Ok(t) => t,
        Err(e) => return failed(batch, &e.into()),
    };
    let mut replies = Vec::with_capacity(batch.len());
    let mut tenants = BatchTenants::default();
    {
        let mut tx = match Tx::open(&txn) {
            Ok(tx) => tx,
            Err(e) => return failed(batch, &e),
        };
        for request in batch.iter_mut() {
            let mark = tx.mark();
            let reply = run_request(&mut tx, shared, request, now, &mut tenants);
            if reply.is_err() && tx.rollback(mark).is_err() {
                break;
            }
            tx.settle();
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
    if (!tenants.created.is_empty() || !tenants.deleted.is_empty())
        && let Ok(mut cache) = shared.tenants.write()
    {
        cache.extend(tenants.created);
        for slug in &tenants.deleted {
            cache.remove(slug);
        }
    }
    replies
}

/// Every tenant's number and slug, including those created earlier in this batch.
fn tenant_names(shared: &Shared, batch: &BatchTenants) -> Vec<(u32, String)> {
    let mut names: Vec<(u32, String)> =
        batch.created.iter().map(|(s, n)| (*n, s.clone())).collect();
    if let Ok(cache) = shared.tenants.read() {
        names.extend(cache.iter().map(|(s, n)| (*n, s.clone())));
    }
    names
}

/// Applies one request: replays the stored result of a known idempotency key, or does the work and
/// records its result under the key. On an error the caller rolls back to before the request.
fn run_request(
    tx: &mut Tx<'_>,
    shared: &Shared,
    request: &mut Request,
    now: Timestamp,
    tenants: &mut BatchTenants,
) -> Reply {
    let work = std::mem::replace(&mut request.work, Work::Atomic(Vec::new()));
    let in_tenant = !matches!(
        work,
        Work::CreateTenant(_)
            | Work::CreateToken(_)
            | Work::RevokeToken(_)
            | Work::Install(..)
            | Work::Uninstall(_)
    );
    // Idempotency keys are per tenant; keys of requests outside tenants live in scope 0.
    let scope = if in_tenant {
        tenant_of(shared, request, tenants)?
    } else {
        0
    };
    if let Some(key) = &request.once
        && let Some(stored) = admin::replay(tx, scope, key)?
    {
        return Ok(Once {
            value: stored.into(),
            replayed: true,
        });
    }
    let actor = &request.actor;
    let done = match work {
        Work::CreateTenant(input) => {
            let record = apply::create_tenant(tx, input, actor, now)?;
            tenants
                .created
                .push((record.tenant.slug.to_string(), record.number));
            Done::Tenant(record.tenant)
        }
        Work::Atomic(ops) => {
            let ctx = Ctx {
                actor,
                now,
                depth: 0,
            };
            Done::Outputs(engine::apply_all(&mut RedbTxn::new(tx, scope), &ctx, ops)?)
        }
        Work::Each(ops) => {
            let ctx = Ctx {
                actor,
                now,
                depth: 0,
            };
            let results = engine::apply_each(&mut RedbTxn::new(tx, scope), &ctx, ops)?;
            tx.settle();
            Done::Each(results)
        }
        Work::UpdateTenant(patch) => Done::Tenant(admin::update_tenant(
            tx,
            slug_of(request)?,
            patch,
            actor,
            now,
        )?),
        Work::DeleteTenant => {
            let slug = slug_of(request)?;
            admin::delete_tenant(tx, slug)?;
            tenants.deleted.push(slug.to_string());
            tenants.created.retain(|(s, _)| s != slug.as_str());
            Done::Nothing
        }
        Work::CreateToken(token) => Done::Token(admin::create_token(tx, token)?),
        Work::Install(plugin, bytes) => {
            Done::Installed(plugin_state::install(tx, &plugin, &bytes)?)
        }
        Work::Uninstall(hash) => {
            plugin_state::uninstall(tx, &hash, &tenant_names(shared, tenants))?;
            Done::Nothing
        }
        Work::RevokeToken(id) => Done::Token(admin::revoke_token(tx, &id)?),
    };
    if let Some(key) = &request.once {
        let stored = match &done {
            Done::Tenant(t) => Some(Stored::Tenant(t.clone())),
            Done::Outputs(o) => Some(Stored::Outputs(o.clone())),
            Done::Token(t) => Some(Stored::Token(t.clone())),
            Done::Each(_) | Done::Nothing | Done::Installed(_) => None,
        };
        if let Some(stored) = stored {
            admin::remember(tx, scope, key, now, stored)?;
        }
    }
    Ok(Once::fresh(done))
}

fn slug_of(request: &Request) -> Result<&TenantSlug> {
    request
        .tenant
        .as_ref()
        .ok_or_else(|| Error::TenantNotFound(String::new()))
}

fn tenant_of(shared: &Shared, request: &Request, batch: &BatchTenants) -> Result<u32> {
    let slug = slug_of(request)?;
    if batch.deleted.iter().any(|s| s == slug.as_str()) {
        return Err(Error::TenantNotFound(slug.to_string()));
    }
    if let Some((_, n)) = batch.created.iter().find(|(s, _)| s == slug.as_str()) {
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

    fn send(
        &self,
        tenant: Option<&TenantSlug>,
        actor: &Actor,
        work: Work,
        once: Option<&IdempotencyKey>,
    ) -> Result<Once<Done>> {
        if let Some(t) = tenant {
            self.tenant_number(t)?;
        }
        self.submit(tenant, actor, work, once)
    }

    pub(super) fn write_outputs(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
        once: Option<&IdempotencyKey>,
    ) -> Result<Once<Vec<Output>>> {
        futures_executor::block_on(self.write_outputs_nonblocking(tenant, actor, ops, once))
    }

    pub(super) fn write_independent(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
    ) -> Result<Vec<Result<Output>>> {
        match self.send(Some(tenant), actor, Work::Each(ops), None)?.value {
            Done::Each(r) => Ok(r),
            _ => Err(mismatched()),
        }
    }

    pub(crate) fn install(&self, plugin: InstalledPlugin, bytes: Vec<u8>) -> Result<bool> {
        let actor = Actor::new("registry");
        match self
            .send(None, &actor, Work::Install(Box::new(plugin), bytes), None)?
            .value
        {
            Done::Installed(created) => Ok(created),
            _ => Err(mismatched()),
        }
    }

    pub(crate) fn uninstall(&self, hash: &str) -> Result<()> {
        let actor = Actor::new("registry");
        self.send(None, &actor, Work::Uninstall(hash.to_owned()), None)
            .map(drop)
    }

    pub(super) fn new_tenant(
        &self,
        input: TenantInput,
        actor: &Actor,
        once: Option<&IdempotencyKey>,
    ) -> Result<Once<Tenant>> {
        let r = self.send(None, actor, Work::CreateTenant(input), once)?;
        match r.value {
            Done::Tenant(t) => Ok(Once {
                value: t,
                replayed: r.replayed,
            }),
            _ => Err(mismatched()),
        }
    }

    pub(super) fn change_tenant(
        &self,
        slug: &TenantSlug,
        actor: &Actor,
        patch: TenantPatch,
    ) -> Result<Tenant> {
        match self
            .send(Some(slug), actor, Work::UpdateTenant(patch), None)?
            .value
        {
            Done::Tenant(t) => Ok(t),
            _ => Err(mismatched()),
        }
    }

    pub(super) fn remove_tenant(&self, slug: &TenantSlug, actor: &Actor) -> Result<()> {
        self.send(Some(slug), actor, Work::DeleteTenant, None)
            .map(drop)
    }

    pub(super) fn token_work(
        &self,
        work: Work,
        once: Option<&IdempotencyKey>,
    ) -> Result<Once<TokenRecord>> {
        let r = self.send(None, &Actor::new("admin"), work, once)?;
        match r.value {
            Done::Token(t) => Ok(Once {
                value: t,
                replayed: r.replayed,
            }),
            _ => Err(mismatched()),
        }
    }

    pub(super) fn add_listener(&self, listener: CommitListener) {
        if let Ok(mut l) = self.shared.listeners.write() {
            l.0.push(listener);
        }
    }
}

fn mismatched() -> Error {
    Error::Storage("mismatched reply".into())
}
