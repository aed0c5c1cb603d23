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
use tokio_postgres::{Client, NoTls, Row, Statement, Transaction};

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
    let config = config.clone();
    let spawner = rt.clone();
    on_runtime(rt, async move {
        let (client, connection) = config.connect(NoTls).await?;
        spawner.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %describe(&e), "a PostgreSQL connection ended");
            }
        });
        Ok::<_, tokio_postgres::Error>(client)
    })?
    .map_err(|e| pg(&e))
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
pub(super) struct Tx<'a> {
    pub(super) tx: Transaction<'a>,
    statements: &'a mut HashMap<&'static str, Statement>,
    /// Set when an error is worth a retry of the whole transaction.
    pub(super) retry: bool,
    /// The tenant whose events this transaction queued, to number once it commits.
    pub(super) queued: Option<i64>,
    /// Savepoints, innermost last: (number, whether PostgreSQL has it yet).
    savepoints: Vec<(u64, bool)>,
    next_savepoint: u64,
    /// Savepoint commands owed to PostgreSQL, sent in the same round trip as the next statement.
    prefix: String,
}

impl<'a> Tx<'a> {
    /// Begins a transaction on `conn`.
    pub(super) fn begin(conn: &'a mut PgConn) -> Result<Self> {
        let PgConn { client, statements } = conn;
        let tx = wait(client.transaction()).map_err(|e| pg(&e))?;
        Ok(Tx {
            tx,
            statements,
            retry: false,
            queued: None,
            savepoints: Vec::new(),
            next_savepoint: 0,
            prefix: String::new(),
        })
    }

    /// Takes a savepoint. It reaches PostgreSQL only with the next statement, in the same round
    /// trip, so a savepoint taken and released with no statement in between costs nothing.
    pub(super) fn savepoint(&mut self) -> u64 {
        self.next_savepoint += 1;
        self.savepoints.push((self.next_savepoint, false));
        self.next_savepoint
    }

    /// Undoes every statement since savepoint `n`, which stays usable (later ones are gone).
    pub(super) fn rollback_to(&mut self, n: u64) -> Result<()> {
        let at = self.position(n)?;
        self.savepoints.truncate(at + 1);
        if self.savepoints[at].1 {
            self.batch(&format!("ROLLBACK TO SAVEPOINT kith_{n}"))?;
        }
        // Not sent: no statement ran since it was taken, so there is nothing to undo.
        Ok(())
    }

    /// Keeps everything done since savepoint `n` and forgets it (and any later one), so that
    /// a long batch does not nest one subtransaction per op.
    pub(super) fn release(&mut self, n: u64) -> Result<()> {
        let at = self.position(n)?;
        if self.savepoints[at].1 {
            self.prefix
                .push_str(&format!("RELEASE SAVEPOINT kith_{n};"));
        }
        self.savepoints.truncate(at);
        Ok(())
    }

    fn position(&self, n: u64) -> Result<usize> {
        self.savepoints
            .iter()
            .rposition(|(m, _)| *m == n)
            .ok_or_else(|| Error::Storage(format!("no savepoint {n} in this transaction")))
    }

    /// The savepoint commands to send ahead of the next statement, if any.
    fn owed(&mut self) -> Option<String> {
        for (n, sent) in &mut self.savepoints {
            if !*sent {
                self.prefix.push_str(&format!("SAVEPOINT kith_{n};"));
                *sent = true;
            }
        }
        (!self.prefix.is_empty()).then(|| std::mem::take(&mut self.prefix))
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = wait(self.tx.prepare(sql)).map_err(|e| self.fail(&e))?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Maps an error, noting whether it is worth a retry.
    pub(super) fn fail(&mut self, e: &tokio_postgres::Error) -> Error {
        if retryable(e) {
            self.retry = true;
        }
        pg(e)
    }

    /// Runs a statement; returns the rows it changed.
    pub(super) fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        let s = self.statement(sql)?;
        let owed = self.owed();
        wait(after(&self.tx, owed, self.tx.execute(&s, params))).map_err(|e| self.fail(&e))
    }

    /// Runs a query.
    pub(super) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        let owed = self.owed();
        wait(after(&self.tx, owed, self.tx.query(&s, params))).map_err(|e| self.fail(&e))
    }

    /// Runs a query expected to return at most one row.
    pub(super) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        let owed = self.owed();
        wait(after(&self.tx, owed, self.tx.query_opt(&s, params))).map_err(|e| self.fail(&e))
    }

    /// Runs SQL text without parameters.
    pub(super) fn batch(&mut self, sql: &str) -> Result<()> {
        let owed = self.owed();
        wait(after(&self.tx, owed, self.tx.batch_execute(sql))).map_err(|e| self.fail(&e))
    }

    /// Commits (savepoint releases still owed are moot: the commit keeps everything).
    pub(super) fn commit(self) -> std::result::Result<(), (Error, bool)> {
        wait(self.tx.commit()).map_err(|e| (pg(&e), retryable(&e)))
    }
}

/// Runs `statement` after the simple-query text `owed`, pipelined: both go out before either
/// answer is awaited, so the savepoint commands cost no round trip of their own. The first
/// error wins (a failed savepoint command fails the statement after it too).
async fn after<T>(
    tx: &Transaction<'_>,
    owed: Option<String>,
    statement: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
) -> std::result::Result<T, tokio_postgres::Error> {
    match owed {
        None => statement.await,
        Some(sql) => {
            let (first, second) =
                futures_util::future::join(tx.batch_execute(&sql), statement).await;
            first.and(second)
        }
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
        let mut tx = Tx::begin(self.conn)?;
        tx.batch("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        Ok(tx)
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
