//! Connections: a pool (r2d2) of clients that each keep their prepared statements, and how
//! PostgreSQL's errors become the store's.
//!
//! The store's interface is synchronous (the engine, the CLI and the plugin dispatcher are
//! plain threads), and its callers include threads of the HTTP server's tokio runtime. So the
//! client is `tokio-postgres`, whose connections (the socket I/O) run as tasks on a small
//! runtime the store owns, while callers wait for each answer with [`wait`], which parks the
//! calling thread and works wherever it is called. A blocking client that starts its own runtime
//! (the `postgres` crate) panics when called, or even dropped, on a tokio thread.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::types::{IsNull, Type};
use tokio_postgres::{Client, NoTls, Row, Statement};

use crate::{Error, Result};

/// Waits for a client future on the calling thread. The future only exchanges messages with
/// the connection task, so it needs no runtime of its own.
pub(super) fn wait<F: Future>(future: F) -> F::Output {
    futures_executor::block_on(future)
}

/// Runs a future that needs the runtime (connecting, listening) on the store's runtime and waits
/// for it; `Closed` once the store has shut its runtime down.
pub(super) fn on_runtime<F>(rt: &Handle, future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv().map_err(|_| Error::Closed)
}

/// Connects one client and runs its connection on `rt`.
pub(super) fn connect(rt: &Handle, config: &tokio_postgres::Config) -> Result<Client> {
    on_runtime(rt, open(config.clone(), rt.clone()))?.map_err(|e| pg(&e))
}

/// Connects one client, awaited; its connection runs as a task on `rt`.
pub(super) async fn open(
    config: tokio_postgres::Config,
    rt: Handle,
) -> std::result::Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    rt.spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %describe(&e), "a PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// One pooled connection and the statements prepared on it (by SQL text).
pub(super) struct PgConn {
    pub(super) client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn")
            .field("statements", &self.statements.len())
            .finish_non_exhaustive()
    }
}

/// Makes and checks pooled connections.
#[derive(Debug)]
pub(super) struct Manager {
    pub(super) config: tokio_postgres::Config,
    pub(super) rt: Handle,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = Error;

    fn connect(&self) -> Result<PgConn> {
        Ok(PgConn {
            client: connect(&self.rt, &self.config)?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<()> {
        wait(conn.client.simple_query(""))
            .map(drop)
            .map_err(|e| pg(&e))
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// A transaction on a pooled connection, with its statement cache, that remembers whether an
/// error means "try the whole transaction again" (a serialization failure, a deadlock, or a
/// uniqueness race that a fresh attempt will report properly).
///
/// Round trips are what a write costs here (each one is a wake-up on both sides of the
/// socket), so the transaction sends nothing until it needs an answer: `BEGIN`, savepoint
/// commands and writes whose answer nobody reads ([`Tx::defer`]) wait in order and go out in
/// the same round trip as the next query, or the `COMMIT`. A write that fails there fails the
/// whole transaction (it is a race or a broken database, never a rule the engine checks: those
/// are read first), so a later op cannot take its error for its own.
pub(super) struct Tx<'a> {
    conn: Held<'a>,
    st: TxState,
    /// The tenant whose events this transaction holds, and their documents in order: they
    /// are queued or numbered when it commits (one statement for every writer's events).
    pub(super) queued: Option<i64>,
    events: Vec<Vec<u8>>,
}

/// The connection a transaction runs on: borrowed, or its own (a transaction that several
/// writers share, see `batch`).
pub(super) enum Held<'a> {
    Borrowed(&'a mut PgConn),
    Owned(Box<r2d2::PooledConnection<Manager>>),
}

impl Held<'_> {
    fn get(&self) -> &PgConn {
        match self {
            Held::Borrowed(c) => c,
            Held::Owned(c) => c,
        }
    }

    fn get_mut(&mut self) -> &mut PgConn {
        match self {
            Held::Borrowed(c) => c,
            Held::Owned(c) => c,
        }
    }
}

/// What a transaction owes PostgreSQL and knows about itself.
#[derive(Default)]
struct TxState {
    /// Savepoints, innermost last: (number, whether it is queued or sent yet).
    savepoints: Vec<(u64, bool)>,
    next_savepoint: u64,
    /// What PostgreSQL is owed, in order, sent with the next statement that needs an answer.
    owed: Vec<Owed>,
    /// Whether `BEGIN` went out (and so a `ROLLBACK` is owed unless the transaction ends).
    begun: bool,
    /// Whether it committed, or was rolled back by PostgreSQL after a failed write.
    ended: bool,
    /// The failure of a deferred write: the transaction can only be rolled back.
    broken: Option<String>,
    /// Writes queued or run so far, and statements that failed: a writer sharing the
    /// transaction whose attempt failed after either cannot just be left out of it.
    writes: u64,
    failures: u64,
    /// Set when an error is worth a retry of the whole transaction.
    retry: bool,
}

/// Work queued for PostgreSQL.
enum Owed {
    /// SQL text without parameters (transaction and savepoint commands).
    Text(String),
    /// A prepared write and its parameters, already encoded.
    Write(Statement, Vec<Encoded>),
}

/// A parameter encoded when it was given (the caller's value may not outlive the call).
#[derive(Debug)]
struct Encoded(Option<bytes::Bytes>);

impl ToSql for Encoded {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(b) => {
                out.extend_from_slice(b);
                Ok(IsNull::No)
            }
            None => Ok(IsNull::Yes),
        }
    }

    /// Checked against the statement's types when it was encoded.
    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Writes queued at most before they are sent on their own, so a long batch holds a bounded
/// amount of encoded rows.
const MAX_OWED: usize = 256;

type PgResult<T> = std::result::Result<T, tokio_postgres::Error>;

impl<'a> Tx<'a> {
    /// A transaction on `conn`: `BEGIN` goes out with its first statement.
    pub(super) fn begin(conn: &'a mut PgConn) -> Self {
        Self::begin_on(Held::Borrowed(conn), "BEGIN")
    }

    pub(super) fn begin_on(conn: Held<'a>, begin: &str) -> Self {
        Tx {
            conn,
            st: TxState {
                owed: vec![Owed::Text(begin.to_owned())],
                ..TxState::default()
            },
            queued: None,
            events: Vec::new(),
        }
    }

    /// Adds the tenant's new events, to be stored when the transaction commits.
    pub(super) fn queue_events(&mut self, tenant: i64, docs: Vec<Vec<u8>>) {
        self.st.writes += 1;
        self.queued = Some(tenant);
        self.events.extend(docs);
    }

    /// The events added so far and their tenant, taken out to be written (`None`: none).
    pub(super) fn take_events(&mut self) -> Option<(i64, Vec<Vec<u8>>)> {
        let docs = std::mem::take(&mut self.events);
        self.queued.filter(|_| !docs.is_empty()).map(|t| (t, docs))
    }

    /// Whether the error this transaction met is worth a retry of the whole transaction.
    pub(super) fn retry(&self) -> bool {
        self.st.retry
    }

    /// Writes queued or run so far, and statements that failed.
    pub(super) fn progress(&self) -> (u64, u64) {
        (self.st.writes, self.st.failures)
    }

    /// Whether a deferred write failed: the transaction can only be rolled back.
    pub(super) fn broken(&self) -> bool {
        self.st.broken.is_some()
    }

    /// Takes a savepoint. It reaches PostgreSQL only with the next statement, in the same round
    /// trip, so a savepoint taken and released with no statement in between costs nothing.
    pub(super) fn savepoint(&mut self) -> u64 {
        self.st.next_savepoint += 1;
        self.st.savepoints.push((self.st.next_savepoint, false));
        self.st.next_savepoint
    }

    /// Undoes every statement since savepoint `n`, which stays usable (later ones are gone).
    pub(super) fn rollback_to(&mut self, n: u64) -> Result<()> {
        self.st.check()?;
        let at = self.st.position(n)?;
        self.st.savepoints.truncate(at + 1);
        if self.st.savepoints[at].1 {
            self.batch(&format!("ROLLBACK TO SAVEPOINT kith_{n}"))?;
        }
        // Not queued: no statement ran or was queued since it was taken: nothing to undo.
        Ok(())
    }

    /// Keeps everything done since savepoint `n` and forgets it (and any later one), so that
    /// a long batch does not nest one subtransaction per op.
    pub(super) fn release(&mut self, n: u64) -> Result<()> {
        self.st.check()?;
        let at = self.st.position(n)?;
        if self.st.savepoints[at].1 {
            self.st.text(format!("RELEASE SAVEPOINT kith_{n}"));
        }
        self.st.savepoints.truncate(at);
        Ok(())
    }

    /// Queues SQL text without parameters, to go out with the next statement (a setting, for
    /// instance): no round trip of its own.
    pub(super) fn later(&mut self, sql: &str) {
        self.st.queue_savepoints();
        self.st.text(sql.to_owned());
    }

    /// The prepared statement for `sql`, prepared on first use on this connection.
    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.conn.get().statements.get(sql) {
            return Ok(s.clone());
        }
        // Preparing needs an answer: what is owed goes first (it may be the BEGIN).
        let client = &self.conn.get().client;
        let s = self.st.send(client, client.prepare(sql))?;
        self.conn.get_mut().statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Queues a write whose answer nobody needs: it goes out with the next statement that
    /// needs one, or the commit. Its failure fails the transaction.
    pub(super) fn defer(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<()> {
        self.st.check()?;
        let s = self.statement(sql)?;
        if s.params().len() != params.len() {
            return Err(Error::Storage(format!(
                "{sql}: {} parameters given for {}",
                params.len(),
                s.params().len()
            )));
        }
        let mut encoded = Vec::with_capacity(params.len());
        for (p, ty) in params.iter().zip(s.params()) {
            let mut buf = bytes::BytesMut::new();
            let value = match p.to_sql_checked(ty, &mut buf) {
                Ok(IsNull::No) => Some(buf.freeze()),
                Ok(IsNull::Yes) => None,
                Err(e) => {
                    return Err(Error::Storage(format!(
                        "{sql}: cannot encode a parameter: {e}"
                    )));
                }
            };
            encoded.push(Encoded(value));
        }
        self.st.queue_savepoints();
        self.st.writes += 1;
        self.st.owed.push(Owed::Write(s, encoded));
        if self.st.owed.len() >= MAX_OWED {
            let client = &self.conn.get().client;
            self.st.send(client, std::future::ready(Ok(())))?;
        }
        Ok(())
    }

    /// Runs a statement; returns the rows it changed.
    pub(super) fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        let s = self.statement(sql)?;
        self.st.queue_savepoints();
        self.st.writes += 1;
        let client = &self.conn.get().client;
        self.st.send(client, client.execute(&s, params))
    }

    /// Runs a query.
    pub(super) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        self.st.queue_savepoints();
        let client = &self.conn.get().client;
        self.st.send(client, client.query(&s, params))
    }

    /// Runs a query expected to return at most one row.
    pub(super) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        self.st.queue_savepoints();
        let client = &self.conn.get().client;
        self.st.send(client, client.query_opt(&s, params))
    }

    /// Runs SQL text without parameters.
    pub(super) fn batch(&mut self, sql: &str) -> Result<()> {
        self.st.queue_savepoints();
        self.st.writes += 1;
        let client = &self.conn.get().client;
        self.st.send(client, client.batch_execute(sql))
    }

    /// Commits, with whatever is still owed in the same round trip. On failure, whether a new
    /// attempt may succeed.
    pub(super) fn commit(mut self) -> std::result::Result<(), (Error, bool)> {
        // A deferred write failed: nothing more goes out, and dropping rolls back.
        self.st.check().map_err(|e| (e, self.st.retry))?;
        if !self.st.begun && self.st.owed.iter().all(|o| matches!(o, Owed::Text(_))) {
            // Nothing went out and only commands are owed: there is nothing to commit.
            self.st.ended = true;
            return Ok(());
        }
        let client = &self.conn.get().client;
        let result = self.st.send(client, client.batch_execute("COMMIT"));
        // PostgreSQL ended the transaction either way (a COMMIT after a failed statement rolls
        // back), or the connection broke and there is nothing left to roll back.
        self.st.ended = true;
        result.map_err(|e| (e, self.st.retry))
    }
}

impl TxState {
    fn position(&self, n: u64) -> Result<usize> {
        self.savepoints
            .iter()
            .rposition(|(m, _)| *m == n)
            .ok_or_else(|| Error::Storage(format!("no savepoint {n} in this transaction")))
    }

    /// Queues SQL text, joined to the text before it when that is text too.
    fn text(&mut self, sql: String) {
        match self.owed.last_mut() {
            Some(Owed::Text(t)) => {
                t.push(';');
                t.push_str(&sql);
            }
            _ => self.owed.push(Owed::Text(sql)),
        }
    }

    /// Queues the savepoints taken since the last statement, before whatever comes next.
    fn queue_savepoints(&mut self) {
        let mut owed = Vec::new();
        for (n, queued) in &mut self.savepoints {
            if !*queued {
                owed.push(format!("SAVEPOINT kith_{n}"));
                *queued = true;
            }
        }
        for sql in owed {
            self.text(sql);
        }
    }

    /// The deferred write that failed, if one did.
    fn check(&self) -> Result<()> {
        match &self.broken {
            Some(why) => Err(Error::Storage(why.clone())),
            None => Ok(()),
        }
    }

    /// Maps an error, noting whether it is worth a retry.
    fn fail(&mut self, e: &tokio_postgres::Error) -> Error {
        self.failures += 1;
        if retryable(e) {
            self.retry = true;
        }
        pg(e)
    }

    /// Sends what is owed, then `last`, in one round trip, and waits for every answer. The
    /// first error wins: after one, PostgreSQL fails everything up to the end of the
    /// transaction. A failed owed write breaks the transaction.
    fn send<T>(&mut self, client: &Client, last: impl Future<Output = PgResult<T>>) -> Result<T> {
        self.check()?;
        let owed = std::mem::take(&mut self.owed);
        if owed.is_empty() {
            return wait(last).map_err(|e| self.fail(&e));
        }
        // The BEGIN is always first in line: once anything went out, it did.
        self.begun = true;
        let sent: Vec<Pending<'_>> = owed
            .iter()
            .map(|o| -> Pending<'_> {
                match o {
                    Owed::Text(sql) => {
                        Box::pin(async move { client.batch_execute(sql).await.map(|()| 0) })
                    }
                    Owed::Write(s, params) => Box::pin(client.execute_raw(s, params.iter())),
                }
            })
            .collect();
        let (answers, last) = wait(in_order(sent, last));
        for (o, answer) in owed.iter().zip(answers) {
            if let Err(e) = answer {
                let err = self.fail(&e);
                if matches!(o, Owed::Write(..)) {
                    self.broken = Some(err.to_string());
                }
                return Err(err);
            }
        }
        last.map_err(|e| self.fail(&e))
    }
}

/// An owed statement on its way.
type Pending<'f> = std::pin::Pin<Box<dyn Future<Output = PgResult<u64>> + 'f>>;

impl Drop for Tx<'_> {
    /// Rolls back a transaction that went out and did not end, before the connection goes back
    /// to the pool.
    fn drop(&mut self) {
        if self.st.begun
            && !self.st.ended
            && let Err(e) = wait(self.conn.get().client.batch_execute("ROLLBACK"))
        {
            tracing::debug!(error = %describe(&e), "rolling back a PostgreSQL transaction failed");
        }
    }
}

/// Polls `first` in order, then `last`, until all are done: each is polled (and so sent) for
/// the first time in that order, which is the order PostgreSQL runs them in.
async fn in_order<T>(
    mut first: Vec<Pending<'_>>,
    last: impl Future<Output = PgResult<T>>,
) -> (Vec<PgResult<u64>>, PgResult<T>) {
    let mut answers: Vec<Option<PgResult<u64>>> = first.iter().map(|_| None).collect();
    let mut last = std::pin::pin!(last);
    let mut last_answer = None;
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, a) in first.iter_mut().zip(answers.iter_mut()) {
            if a.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => *a = Some(r),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if last_answer.is_none() {
            match last.as_mut().poll(cx) {
                std::task::Poll::Ready(r) => last_answer = Some(r),
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    let answers = answers.into_iter().flatten().collect();
    match last_answer {
        Some(last) => (answers, last),
        None => unreachable!("the poll above ends only when every answer is in"),
    }
}

/// Reads on a pooled connection, with its statement cache.
pub(super) struct Reader<'a> {
    conn: &'a mut PgConn,
}

impl<'a> Reader<'a> {
    pub(super) fn new(conn: &'a mut PgConn) -> Self {
        Reader { conn }
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.conn.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = wait(self.conn.client.prepare(sql)).map_err(|e| pg(&e))?;
        self.conn.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Runs a statement on its own (it commits by itself); returns the rows it changed.
    pub(super) fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        let s = self.statement(sql)?;
        wait(self.conn.client.execute(&s, params)).map_err(|e| pg(&e))
    }

    /// Runs a query.
    pub(super) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        wait(self.conn.client.query(&s, params)).map_err(|e| pg(&e))
    }

    /// Runs a query expected to return at most one row.
    pub(super) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        wait(self.conn.client.query_opt(&s, params)).map_err(|e| pg(&e))
    }

    /// A read-only transaction on one snapshot, for reads that must agree with each other.
    pub(super) fn snapshot(&mut self) -> Result<Tx<'_>> {
        Ok(Tx::begin_on(
            Held::Borrowed(self.conn),
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        ))
    }
}

/// Whether a whole transaction that failed with `e` may simply be tried again.
pub(super) fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
    )
}

/// The store's error for a PostgreSQL error: an unreachable or broken connection is
/// `Unavailable` (503), anything else a storage failure with PostgreSQL's message.
pub(super) fn pg(e: &tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::Storage(format!("PostgreSQL {}: {}", db.code().code(), db.message())),
        None if e.is_closed() => Error::Unavailable(format!("the connection closed: {e}")),
        None => Error::Unavailable(describe(e)),
    }
}

/// The store's error for a pool that gave no connection in time, with why the last attempt to
/// connect failed when one did.
pub(super) fn pool_error(e: &r2d2::Error, timeout: Duration, last: &LastError) -> Error {
    let why = last
        .0
        .lock()
        .ok()
        .and_then(|l| l.clone())
        .unwrap_or_else(|| e.to_string());
    Error::Unavailable(format!(
        "no database connection within {} s ({why})",
        timeout.as_secs_f64()
    ))
}

/// An error and its causes on one line (postgres' own messages leave the cause out:
/// "error connecting to server").
pub(super) fn describe(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The pool's failed connection attempts: kept (the last one) for the error a request gets,
/// and logged at debug level (the request's error says it once, r2d2 would say it each retry).
#[derive(Debug, Clone, Default)]
pub(super) struct LastError(pub(super) std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl r2d2::HandleError<Error> for LastError {
    fn handle_error(&self, error: Error) {
        let why = match error {
            Error::Unavailable(why) => why,
            other => other.to_string(),
        };
        tracing::debug!(error = %why, "cannot connect to PostgreSQL");
        if let Ok(mut l) = self.0.lock() {
            *l = Some(why);
        }
    }
}
