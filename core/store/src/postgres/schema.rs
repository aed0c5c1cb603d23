//! Schema migrations: numbered SQL files in `core/store/migrations/postgres/`, applied in order
//! at start-up (or by `kith migrate`), each in its own transaction, under an advisory lock so
//! that nodes starting together apply each one once. A database newer than this build is
//! refused, as the embedded store refuses a newer file.

use tokio_postgres::Client;

use super::conn::wait;

use crate::{Error, Result};

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_nodes_leases_jobs.sql"),
    include_str!("../../migrations/postgres/0003_event_queue.sql"),
    include_str!("../../migrations/postgres/0004_users_teams.sql"),
    include_str!("../../migrations/postgres/0005_work_items.sql"),
    include_str!("../../migrations/postgres/0006_email_identity.sql"),
    include_str!("../../migrations/postgres/0007_field_definitions.sql"),
];

/// The schema version this build writes.
pub const PG_SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Arbitrary but fixed: the advisory lock that serializes migrations between nodes.
const MIGRATION_LOCK: i64 = 0x006b_6974_686d_6967;

/// Brings the database's schema to [`PG_SCHEMA_VERSION`]; returns the versions applied.
pub(super) fn migrate(client: &mut Client) -> Result<Vec<u32>> {
    let pg = |e: tokio_postgres::Error| super::conn::pg(&e);
    let mut applied = Vec::new();
    loop {
        let tx = wait(client.transaction()).map_err(pg)?;
        // The lock first: two nodes creating the table at once would race on the catalog.
        wait(tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])).map_err(pg)?;
        wait(tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS kith_schema (version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
        ))
        .map_err(pg)?;
        let found: i32 =
            wait(tx.query_one("SELECT COALESCE(max(version), 0) FROM kith_schema", &[]))
                .map_err(pg)?
                .get(0);
        let found = u32::try_from(found).unwrap_or(0);
        if found > PG_SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                found,
                supported: PG_SCHEMA_VERSION,
            });
        }
        if found == PG_SCHEMA_VERSION {
            wait(tx.commit()).map_err(pg)?;
            return Ok(applied);
        }
        let next = found + 1;
        wait(tx.batch_execute(MIGRATIONS[found as usize])).map_err(|e| {
            Error::Storage(format!("migration {next} failed: {}", super::conn::pg(&e)))
        })?;
        let version = i32::try_from(next).unwrap_or(i32::MAX);
        wait(tx.execute("INSERT INTO kith_schema (version) VALUES ($1)", &[&version]))
            .map_err(pg)?;
        wait(tx.commit()).map_err(pg)?;
        tracing::info!(version = next, "applied PostgreSQL schema migration");
        applied.push(next);
    }
}
