//! Connections: a pool (r2d2) of clients that each keep their prepared statements, and how
//! PostgreSQL's errors become the store's.

use std::collections::HashMap;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement, Transaction};

use crate::{Error, Result};

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
    pub(super) config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.config.connect(NoTls)?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
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
}

impl<'a> Tx<'a> {
    /// Begins a transaction on `conn`.
    pub(super) fn begin(conn: &'a mut PgConn) -> Result<Self> {
        let PgConn { client, statements } = conn;
        let tx = client.transaction().map_err(|e| pg(&e))?;
        Ok(Tx {
            tx,
            statements,
            retry: false,
        })
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql).map_err(|e| self.fail(&e))?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Maps an error, noting whether it is worth a retry.
    pub(super) fn fail(&mut self, e: &postgres::Error) -> Error {
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
        self.tx.execute(&s, params).map_err(|e| self.fail(&e))
    }

    /// Runs a query.
    pub(super) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        self.tx.query(&s, params).map_err(|e| self.fail(&e))
    }

    /// Runs a query expected to return at most one row.
    pub(super) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        self.tx.query_opt(&s, params).map_err(|e| self.fail(&e))
    }

    /// Runs SQL text without parameters (savepoints).
    pub(super) fn batch(&mut self, sql: &str) -> Result<()> {
        self.tx.batch_execute(sql).map_err(|e| self.fail(&e))
    }

    /// Commits.
    pub(super) fn commit(self) -> std::result::Result<(), (Error, bool)> {
        self.tx.commit().map_err(|e| (pg(&e), retryable(&e)))
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
        let s = self.conn.client.prepare(sql).map_err(|e| pg(&e))?;
        self.conn.statements.insert(sql, s.clone());
        Ok(s)
    }

    /// Runs a query.
    pub(super) fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let s = self.statement(sql)?;
        self.conn.client.query(&s, params).map_err(|e| pg(&e))
    }

    /// Runs a query expected to return at most one row.
    pub(super) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let s = self.statement(sql)?;
        self.conn.client.query_opt(&s, params).map_err(|e| pg(&e))
    }

    /// A read-only transaction on one snapshot, for reads that must agree with each other.
    pub(super) fn snapshot(&mut self) -> Result<Tx<'_>> {
        let mut tx = Tx::begin(self.conn)?;
        tx.batch("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        Ok(tx)
    }
}

/// Whether a whole transaction that failed with `e` may simply be tried again.
pub(super) fn retryable(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            || *c == SqlState::UNIQUE_VIOLATION
    )
}

/// The store's error for a PostgreSQL error: an unreachable or broken connection is
/// `Unavailable` (503), anything else a storage failure with PostgreSQL's message.
pub(super) fn pg(e: &postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::Storage(format!("PostgreSQL {}: {}", db.code().code(), db.message())),
        None if e.is_closed() => Error::Unavailable(format!("the connection closed: {e}")),
        None => Error::Unavailable(e.to_string()),
    }
}

/// The store's error for a pool that gave no connection in time.
pub(super) fn pool_error(e: &r2d2::Error, timeout: Duration) -> Error {
    Error::Unavailable(format!(
        "no database connection within {} s: {e}",
        timeout.as_secs_f64()
    ))
}
