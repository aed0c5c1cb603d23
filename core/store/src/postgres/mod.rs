//! The PostgreSQL backend: the same [`Store`](crate::Store) and
//! [`PluginStore`](crate::PluginStore) as the embedded one, for several stateless `kith`
//! nodes over one database.
//!
//! - Every write is one transaction: records, index rows and events, all or nothing. The rules
//!   are the engine's ([`crate::engine`]); this backend only stores rows ([`txn`]).
//! - Events are numbered under the tenant's head row lock at the end of the transaction: the log
//!   is gap-free and in commit order whatever node writes.
//! - Serialization failures, deadlocks and lost uniqueness races run the whole transaction again
//!   (up to [`MAX_ATTEMPTS`] times); an unreachable database is `Unavailable`, never half-applied.
//! - Commits are announced with `NOTIFY kith_commits`, so long-polls and event streams on every
//!   node see every node's writes ([`notify`]).

mod batch;
mod cache;
mod conn;
mod fast;
mod notify;
mod plugins;
mod queries;
mod schema;
mod sequencer;
mod txn;
mod upgrade;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use kith_model::{Actor, TenantSlug, Timestamp};

use self::batch::{Outcome, Turn};
use self::conn::{Held, LastError, Manager, Reader, Tx, pool_error};
pub use self::schema::PG_SCHEMA_VERSION;
use crate::{Clock, CommitInfo, CommitListener, Error, Result, SystemClock};

/// How many times a transaction that lost a race is run again before giving up.
pub const MAX_ATTEMPTS: u32 = 20;

/// The default of [`PgConfig::batch_lock_timeout`].
const BATCH_LOCK_TIMEOUT: Duration = Duration::from_millis(200);

/// The advisory lock one node holds while it refreshes planner statistics.
const STATISTICS_LOCK: i64 = 0x006b_6974_6873_7461;

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// A `postgres://` URL or a key-value connection string.
    pub url: String,
    /// Connections this node keeps (default 16): two of them (from 4 up) serve the awaited
    /// customer reads, the rest the pool every other call takes one from.
    pub pool_size: u32,
    /// Longest wait for a connection before a request fails with `Unavailable` (default 5 s).
    pub connect_timeout: Duration,
    /// Where timestamps come from.
    pub clock: Arc<dyn Clock>,
    /// The longest a batch's member waits for a row lock (default 200 ms). Batches on two nodes
    /// (or a batch and another writer) can each hold a row the other's next member wants;
    /// PostgreSQL would break that deadlock only after `deadlock_timeout` (1 s by default).
    /// Past this wait the batch runs again as separate transactions, which wait as long as they
    /// must.
    pub batch_lock_timeout: Duration,
}

impl PgConfig {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
            batch_lock_timeout: BATCH_LOCK_TIMEOUT,
        }
    }
}

/// A Kith store in a PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: r2d2::Pool<Manager>,
    shared: Arc<Shared>,
    /// Last: dropped after the connections it runs.
    runtime: Arc<StoreRuntime>,
}

/// The runtime the connections run on. Shut down without waiting when the last store clone
/// goes, which may happen on a thread of another runtime, where dropping one would panic.
struct StoreRuntime(Option<tokio::runtime::Runtime>);

impl StoreRuntime {
    /// Two threads: they only move bytes between sockets and the waiting callers.
    fn start() -> Result<StoreRuntime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kith-pg")
            .enable_all()
            .build()
            .map(|rt| StoreRuntime(Some(rt)))
            .map_err(|e| Error::Storage(format!("cannot start the PostgreSQL runtime: {e}")))
    }

    fn handle(&self) -> tokio::runtime::Handle {
        match &self.0 {
            Some(rt) => rt.handle().clone(),
            None => unreachable!("the runtime is only taken when dropped"),
        }
    }
}

impl Drop for StoreRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// What every clone of a store shares.
struct Shared {
    config: PgConfig,
    listeners: RwLock<Vec<CommitListener>>,
    /// Slug to tenant id: ids are never reused, so a stale entry can only name a deleted
    /// tenant, and deletions are announced to every node (`NOTIFY kith_tenants`).
    tenants: RwLock<HashMap<String, i64>>,
    closed: AtomicBool,
    generation: AtomicU64,
    /// This node's name in notifications, so that it skips its own.
    node: String,
    listener: std::sync::Mutex<Option<notify::Listener>>,
    /// Why the pool last failed to connect.
    last_error: LastError,
    /// Numbers committed events for this node's writers, a batch at a time.
    sequencer: Arc<sequencer::Sequencer>,
    /// API tokens recently looked up.
    tokens: cache::TokenCache,
    /// Writes sharing a transaction, per tenant.
    batches: batch::Batches,
    /// Connections for reads that are awaited.
    fast: Arc<fast::FastReads>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("node", &self.shared.node)
            .field("pool", &self.pool.state())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects, brings the schema up to date (refusing a database newer than this build) and
    /// starts following other nodes' commits.
    pub fn open(config: PgConfig) -> Result<PgStore> {
        let pg_config = parse_url(&config.url)?;
        let runtime = Arc::new(StoreRuntime::start()?);
        let manager = Manager {
            config: pg_config.clone(),
            rt: runtime.handle(),
        };
        // One direct connection first: a wrong address, database or password fails at once
        // with PostgreSQL's reason, rather than after the pool's retries.
        {
            let mut client = conn::connect(&runtime.handle(), &pg_config)?;
            schema::migrate(&mut client)?;
        }
        let last_error = LastError::default();
        // The awaited reads' connections come out of the node's share, not on top of it.
        let fast = fast::share_of(config.pool_size);
        let pooled = (config.pool_size - fast).max(1);
        let pool = r2d2::Pool::builder()
            .error_handler(Box::new(last_error.clone()))
            .max_size(pooled)
            .min_idle(Some(pooled))
            .connection_timeout(config.connect_timeout)
            .test_on_check_out(false)
            .build(manager)
            .map_err(|e| pool_error(&e, config.connect_timeout, &last_error))?;
        let node = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
        let store = PgStore {
            pool,
            shared: Arc::new(Shared {
                config,
                listeners: RwLock::new(Vec::new()),
                tenants: RwLock::new(HashMap::new()),
                closed: AtomicBool::new(false),
                generation: AtomicU64::new(0),
                node,
                listener: std::sync::Mutex::new(None),
                last_error,
                sequencer: Arc::default(),
                tokens: cache::TokenCache::default(),
                batches: batch::Batches::default(),
                fast: fast::FastReads::start(pg_config.clone(), runtime.handle(), fast),
            }),
            runtime,
        };
        sequencer::Sequencer::start(
            &store.shared.sequencer,
            store.pool.clone(),
            Arc::downgrade(&store.shared),
            Arc::clone(&store.runtime),
        )
        .map_err(|e| Error::Storage(format!("cannot start the event sequencer: {e}")))?;
        let upgrade_config = pg_config.clone();
        let listener = notify::Listener::start(
            &store.runtime.handle(),
            pg_config,
            Arc::downgrade(&store.shared),
        )?;
        if let Ok(mut l) = store.shared.listener.lock() {
            *l = Some(listener);
        }
        if store.upgrade_pending()? {
            let mut upgrader = conn::connect(&store.runtime.handle(), &upgrade_config)?;
            store.finish_upgrade(&mut upgrader)?;
        }
        Ok(store)
    }

    /// Brings the database's schema up to date without opening a store (`kith migrate`);
    /// returns the versions applied (empty when it was current).
    pub fn migrate(url: &str) -> Result<Vec<u32>> {
        let config = parse_url(url)?;
        let runtime = StoreRuntime::start()?;
        let mut client = conn::connect(&runtime.handle(), &config)?;
        schema::migrate(&mut client)
    }

    /// This node's name (in notifications and, later, leases).
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    fn connection(&self) -> Result<r2d2::PooledConnection<Manager>> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        // A connection the database closed while it sat idle (a restart, a cut network) is
        // discarded here rather than failing the request that gets it: after an outage the
        // pool fills with fresh connections by itself.
        for _ in 0..=self.shared.config.pool_size {
            let conn = self.pool.get().map_err(|e| {
                pool_error(
                    &e,
                    self.shared.config.connect_timeout,
                    &self.shared.last_error,
                )
            })?;
            if !conn.client.is_closed() {
                return Ok(conn);
            }
        }
        Err(Error::Unavailable(
            "every pooled connection to the database was closed; retry".into(),
        ))
    }

    /// Runs `f` on a pooled connection for reads.
    fn read<T>(&self, f: impl FnOnce(&mut Reader<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.connection()?;
        f(&mut Reader::new(&mut conn))
    }

    /// The tenant's id, from the cache or the database.
    fn tenant_id(&self, reader: &mut Reader<'_>, slug: &TenantSlug) -> Result<i64> {
        if let Some(id) = self.cached_tenant(slug) {
            return Ok(id);
        }
        let id: i64 = reader
            .query_opt(
                "SELECT tenant_id FROM kith_tenants WHERE slug = $1",
                &[&slug.as_str()],
            )?
            .ok_or_else(|| Error::TenantNotFound(slug.to_string()))?
            .get(0);
        if let Ok(mut t) = self.shared.tenants.write() {
            t.insert(slug.to_string(), id);
        }
        Ok(id)
    }

    /// Runs `f` in a transaction, again from the start when it lost a race, and commits; then
    /// numbers the events it queued. `f` gets the transaction and must not keep effects outside
    /// it (it may run several times).
    fn transact<T>(&self, mut f: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.connection()?;
            let mut tx = Tx::begin(&mut conn);
            let result = f(&mut tx).and_then(|value| {
                Self::queue_events(&mut tx)?;
                Ok(value)
            });
            let queued = tx.queued;
            let retry = match result {
                Ok(value) => match tx.commit() {
                    Ok(()) => {
                        drop(conn);
                        if let Some(tenant) = queued {
                            self.shared.sequencer.number(tenant);
                        }
                        return Ok(value);
                    }
                    Err((_, true)) => true,
                    Err((e, false)) => return Err(e),
                },
                Err(_) if tx.retry() => true,
                Err(e) => return Err(e),
            };
            if retry && attempt >= MAX_ATTEMPTS {
                return Err(Error::Storage(format!(
                    "the write lost {MAX_ATTEMPTS} races in a row with other writers; retry it"
                )));
            }
            // Back off a little, more each time, so that racers spread out.
            std::thread::sleep(Duration::from_micros(
                200 * u64::from(attempt) + u64::from(rand_jitter()),
            ));
        }
    }

    /// Queues the events `tx` holds, to be numbered once it commits ([`Self::sequence`]).
    fn queue_events(tx: &mut Tx<'_>) -> Result<()> {
        let Some((tenant, docs)) = tx.take_events() else {
            return Ok(());
        };
        // unnest keeps the array's order, and the queue ids follow it.
        tx.defer(
            "INSERT INTO kith_event_queue (tenant_id, doc) \
             SELECT $1, d FROM unnest($2::bytea[]) WITH ORDINALITY AS e(d, i) ORDER BY i",
            &[&tenant, &docs],
        )
    }

    /// Numbers the events `tx` holds inside it, under the tenant's numbering lock, which it
    /// holds until it commits (in the same round trip): the batch's events follow every event
    /// numbered before, in commit order, without a queue or a second transaction.
    fn number_events(tx: &mut Tx<'_>) -> Result<()> {
        let Some((tenant, docs)) = tx.take_events() else {
            return Ok(());
        };
        tx.defer("SELECT pg_advisory_xact_lock(-($1::bigint))", &[&tenant])?;
        // No head row would leave `seq` null, which the primary key refuses: never silently
        // dropped events.
        tx.defer(
            "WITH h AS (UPDATE kith_heads SET head = head + cardinality($2::bytea[]) \
                        WHERE tenant_id = $1 RETURNING head) \
             INSERT INTO kith_events (tenant_id, seq, doc) \
             SELECT $1, h.head - cardinality($2::bytea[]) + e.i, e.d \
             FROM unnest($2::bytea[]) WITH ORDINALITY AS e(d, i) LEFT JOIN h ON true",
            &[&tenant, &docs],
        )
    }

    /// Numbers the tenant's committed, queued events: they move to the log with the next
    /// sequence numbers, in queue order, under the tenant's advisory lock (one numbering at a
    /// time per tenant, across nodes). One run numbers every writer's events committed so far,
    /// so writers that wait for the lock usually find theirs numbered already, and a run that
    /// moves nothing writes nothing. Announces the new events to the other nodes.
    pub(super) fn sequence(&self, tenant: i64) -> Result<()> {
        // One round trip: a multi-statement simple query is one transaction, rolled back as a
        // whole on error, and the advisory lock lasts until its end. Only integers and this
        // node's own name (quoted) are written into the text.
        let node = self.shared.node.replace('\'', "''");
        let sql = format!(
            "SELECT pg_advisory_xact_lock({lock}); \
             WITH h AS (SELECT head FROM kith_heads WHERE tenant_id = {tenant}), \
             moved AS (DELETE FROM kith_event_queue WHERE tenant_id = {tenant} \
                       AND EXISTS (SELECT 1 FROM h) RETURNING qid, doc), \
             ins AS (INSERT INTO kith_events (tenant_id, seq, doc) \
                     SELECT {tenant}, h.head + row_number() OVER (ORDER BY m.qid), m.doc \
                     FROM moved m, h RETURNING seq), \
             up AS (UPDATE kith_heads SET head = (SELECT max(seq) FROM ins) \
                    WHERE tenant_id = {tenant} AND EXISTS (SELECT 1 FROM ins) RETURNING 1) \
             SELECT pg_notify('kith_commits', '{node}' || chr(1) || slug) FROM kith_tenants \
             WHERE tenant_id = {tenant} AND EXISTS (SELECT 1 FROM up);",
            lock = -tenant,
        );
        let conn = self.connection()?;
        conn::wait(conn.client.batch_execute(&sql)).map_err(|e| conn::pg(&e))
    }

    /// Refreshes the planner's statistics of Kith's tables that changed a lot since they were
    /// last analyzed (more than 1,000 rows and a fifth of the table), at most one node at a
    /// time. PostgreSQL's autovacuum does the same, but only every minute (or never, where it is
    /// turned off), and a plan made while a table was empty stays: a rescore right after an
    /// import then looked scores up through the leaderboard index and paged customers with a
    /// sort of the whole rest of the table, each lookup scanning every score, and slowed down
    /// as the table grew (340 customers/s at 100k, 2,100/s once analyzed). ANALYZE samples a
    /// bounded number of rows, so each run takes a bounded time whatever the table's size.
    pub(super) fn refresh_statistics(&self) -> Result<()> {
        let mut conn = self.connection()?;
        let mut tx = Tx::begin(&mut conn);
        let ours: bool = tx
            .query_opt("SELECT pg_try_advisory_xact_lock($1)", &[&STATISTICS_LOCK])?
            .is_some_and(|row| row.get(0));
        if !ours {
            return Ok(());
        }
        let stale: Vec<String> = tx
            .query(
                "SELECT relname::text FROM pg_stat_user_tables \
                 WHERE schemaname = current_schema() AND relname LIKE 'kith\\_%' \
                 AND n_mod_since_analyze > 1000 + 0.2 * n_live_tup ORDER BY relname",
                &[],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for table in stale {
            // Names from the catalog, of our own tables: still, only plain identifiers.
            if table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                tx.batch(&format!("ANALYZE {table}"))?;
            }
        }
        tx.commit().map_err(|(e, _)| e)
    }

    /// Numbers the queued events of every tenant that has some: events a node committed but
    /// did not number before it died (run with each heartbeat).
    pub(super) fn sequence_all(&self) -> Result<()> {
        let tenants: Vec<i64> = self.read(|r| {
            Ok(
                r.query("SELECT DISTINCT tenant_id FROM kith_event_queue", &[])?
                    .iter()
                    .map(|row| row.get(0))
                    .collect(),
            )
        })?;
        for t in tenants {
            self.sequence(t)?;
        }
        Ok(())
    }

    /// The tenant's id inside a write transaction (never from the cache: a write must not
    /// land in a tenant deleted meanwhile).
    fn tenant_in(&self, tx: &mut Tx<'_>, slug: &TenantSlug) -> Result<i64> {
        let id: i64 = tx
            .query_opt(
                "SELECT tenant_id FROM kith_tenants WHERE slug = $1 FOR SHARE",
                &[&slug.as_str()],
            )?
            .ok_or_else(|| Error::TenantNotFound(slug.to_string()))?
            .get(0);
        // Learnt for the next write's batch (ids are never reused).
        if self.cached_tenant(slug) != Some(id)
            && let Ok(mut t) = self.shared.tenants.write()
        {
            t.insert(slug.to_string(), id);
        }
        Ok(id)
    }

    /// Tells this node's listeners and (through the database) the other nodes that `tenants`
    /// were written.
    fn committed(&self, tenants: Vec<TenantSlug>, started: Instant, requests: usize) {
        let generation = self.shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let info = CommitInfo {
            generation,
            requests,
            duration: started.elapsed(),
            tenants,
        };
        if let Ok(listeners) = self.shared.listeners.read() {
            for l in listeners.iter() {
                l(&info);
            }
        }
    }

    /// Announces a commit of `tenant` to the other nodes, inside the transaction (delivered at
    /// commit, dropped on rollback).
    fn announce(&self, tx: &mut Tx<'_>, tenant: &TenantSlug) -> Result<()> {
        let payload = format!("{}\u{1}{}", self.shared.node, tenant.as_str());
        tx.defer("SELECT pg_notify('kith_commits', $1)", &[&payload])
    }

    /// Runs the engine's ops for a tenant in one transaction: shared with the tenant's other
    /// concurrent writes when it can be ([`batch`]), or its own.
    fn write_ops<T>(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        mut body: impl FnMut(&mut Tx<'_>, i64, &Actor, Timestamp) -> Result<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let clock = &self.shared.config.clock;
        if let Some(id) = self.cached_tenant(tenant) {
            let (batch, leader) = self.shared.batches.join(id);
            let leading = leader.then(|| batch::Leading {
                batches: &self.shared.batches,
                tenant: id,
                batch: &batch,
            });
            if leader {
                batch.start(self.begin_batch(tenant, id));
            }
            let turn = batch.turn(|tx| body(tx, id, actor, clock.now()));
            let outcome = if let Some(leading) = leading {
                let outcome = self.finish_batch(tenant, id, &batch, started);
                // Ended: nothing for the guard to undo.
                std::mem::forget(leading);
                outcome
            } else if matches!(turn, Turn::Done(_)) {
                batch.outcome()
            } else {
                Outcome::Redo
            };
            match (turn, outcome) {
                (Turn::Failed(e), _) => return Err(e),
                (Turn::Done(value), Outcome::Committed) => return Ok(value),
                (Turn::Done(_), Outcome::Lost(why)) => return Err(Error::Unavailable(why)),
                // Alone, or the batch was rolled back: a transaction of its own.
                _ => {}
            }
        }
        let value = self.transact(|tx| {
            let id = self.tenant_in(tx, tenant)?;
            let v = body(tx, id, actor, clock.now())?;
            // Writes with events are announced when they are numbered (`sequence`).
            if tx.queued.is_none() {
                self.announce(tx, tenant)?;
            }
            Ok(v)
        })?;
        self.committed(vec![tenant.clone()], started, 1);
        Ok(value)
    }

    /// The tenant's id if this node knows it (it is checked again inside each transaction).
    fn cached_tenant(&self, slug: &TenantSlug) -> Option<i64> {
        self.shared
            .tenants
            .read()
            .ok()
            .and_then(|t| t.get(slug.as_str()).copied())
    }

    /// Begins a batch's transaction and checks that the tenant is still `id`; `None` when
    /// either fails (each member then runs alone and meets the reason itself).
    fn begin_batch(&self, tenant: &TenantSlug, id: i64) -> Option<Tx<'static>> {
        let conn = self.connection().ok()?;
        let mut tx = Tx::begin_on(
            Held::Owned(Box::new(conn)),
            &format!(
                "BEGIN; SET LOCAL lock_timeout = {}",
                self.shared.config.batch_lock_timeout.as_millis().max(1)
            ),
        );
        match self.tenant_in(&mut tx, tenant) {
            Ok(found) if found == id => Some(tx),
            _ => None,
        }
    }

    /// Closes the batch once its members have run, commits it and numbers its events; tells
    /// the members how it ended. (The caller's [`batch::Leading`] guard covers an unwinding.)
    fn finish_batch(
        &self,
        tenant: &TenantSlug,
        id: i64,
        batch: &Arc<batch::Batch>,
        started: Instant,
    ) -> Outcome {
        let (tx, succeeded) = self.shared.batches.close(id, batch);
        let outcome = match tx {
            None => Outcome::Redo,
            // Every member failed before writing: nothing to commit, announce or number (a
            // stream of refused writes costs no commit and wakes nobody).
            Some(_) if succeeded == 0 => Outcome::Committed,
            Some(mut tx) => {
                // The numbering lock and the commit wait as long as they must: they are
                // short, and the same for everyone.
                tx.later("SET LOCAL lock_timeout = 0");
                let ready =
                    Self::number_events(&mut tx).and_then(|()| self.announce(&mut tx, tenant));
                match ready.map_err(|e| (e, false)).and_then(|()| tx.commit()) {
                    Ok(()) => Outcome::Committed,
                    Err((Error::Unavailable(why), _)) => Outcome::Lost(why),
                    Err(_) => Outcome::Redo,
                }
            }
        };
        // Told before the listeners run: whatever they do, a committed batch is never redone.
        batch.end(outcome.clone());
        if outcome == Outcome::Committed && succeeded > 0 {
            self.committed(vec![tenant.clone()], started, succeeded);
        }
        outcome
    }

    /// Stops accepting work and stops following other nodes.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.sequencer.stop();
        if let Some(l) = self.shared.listener.lock().ok().and_then(|mut l| l.take()) {
            l.stop();
        }
    }
}

/// Runs SQL text on the database `url` names, on a connection of its own (test support:
/// creating and dropping databases).
#[cfg(feature = "testing")]
pub(crate) fn execute_on(url: &str, sql: &str) -> Result<()> {
    let config = parse_url(url)?;
    let runtime = StoreRuntime::start()?;
    let client = conn::connect(&runtime.handle(), &config)?;
    conn::wait(client.batch_execute(sql)).map_err(|e| conn::pg(&e))
}

/// The first column of the first row of `sql` on the database `url` names, as a number (test
/// support).
#[cfg(feature = "testing")]
pub(crate) fn scalar_on(url: &str, sql: &str) -> Result<i64> {
    let config = parse_url(url)?;
    let runtime = StoreRuntime::start()?;
    let client = conn::connect(&runtime.handle(), &config)?;
    let row = conn::wait(client.query_one(sql, &[])).map_err(|e| conn::pg(&e))?;
    row.try_get::<_, i64>(0)
        .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))
        .map_err(|e| conn::pg(&e))
}

/// The connection settings in a `postgres://` URL or key-value string.
fn parse_url(url: &str) -> Result<tokio_postgres::Config> {
    url.parse().map_err(|e| {
        Error::Storage(format!(
            "the database URL is not valid ({e}): expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
        ))
    })
}

/// A few hundred microseconds of jitter, from the clock (no need for a random generator).
fn rand_jitter() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() % 500)
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use kith_model::{Actor, CustomerInput, TenantInput};

    use super::{PgConfig, PgStore};
    use crate::Store;
    use crate::testing::TestDatabase;

    /// A leader that unwinds in its own attempt takes its batch off the open ones (it does not
    /// linger, poisoned, in the tenant's slots) and the tenant's next write commits.
    #[test]
    #[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
    fn a_leader_that_unwinds_leaves_no_batch_behind() {
        let db = TestDatabase::create();
        let mut config = PgConfig::new(db.url());
        config.pool_size = 6;
        let store = PgStore::open(config).unwrap();
        let actor = Actor::new("test");
        let input = TenantInput {
            slug: "acme".into(),
            name: None,
            industry: None,
        };
        let t = store.create_tenant(input, &actor).unwrap().slug;
        let email = |e: &str| CustomerInput {
            email: Some(e.into()),
            ..Default::default()
        };
        store
            .create_customer(&t, &actor, email("a@x.test"))
            .unwrap();
        let id = store
            .cached_tenant(&t)
            .expect("the write taught the node its tenant");
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            store.write_ops(&t, &actor, |_, _, _, _| -> crate::Result<()> {
                panic!("a bug in a write")
            })
        }));
        assert!(unwound.is_err());
        assert_eq!(store.shared.batches.open_count(id), 0);
        store
            .create_customer(&t, &actor, email("b@x.test"))
            .unwrap();
        assert_eq!(db.scalar("SELECT count(*) FROM kith_customers"), 2);
    }
}
