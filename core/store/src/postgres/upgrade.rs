//! Upgrade steps that need Kith's own code, run once the store is open: migration 4 leaves
//! rows in `kith_upgrades`, and each row is deleted when its step is done. Nodes starting
//! together take turns under an advisory lock; a step that finds its row gone skips.

use tokio_postgres::Client;
use uuid::Uuid;

use super::PgStore;
use super::conn::{pg, wait};
use super::txn::WorkColumns;
use crate::Result;
use crate::records::decode;
use kith_model::{Customer, Deal, Email};

/// Arbitrary but fixed: the advisory lock that serializes upgrade steps between nodes.
const UPGRADE_LOCK: i64 = 0x006b_6974_6875_7067;

/// Deals per statement when filling their owner column.
const BACKFILL_CHUNK: i64 = 1000;

fn pending(client: &Client, step: &str) -> Result<bool> {
    let row = wait(client.query_opt("SELECT 1 FROM kith_upgrades WHERE step = $1", &[&step]))
        .map_err(|e| pg(&e))?;
    Ok(row.is_some())
}

fn done(client: &Client, step: &str) -> Result<()> {
    wait(client.execute("DELETE FROM kith_upgrades WHERE step = $1", &[&step]))
        .map_err(|e| pg(&e))?;
    Ok(())
}

/// Reads every row of `select` (which takes the last tenant and id seen and a row count, and
/// returns `tenant_id, id, doc` in that order) in chunks, and calls `update` on each row of a
/// chunk inside one transaction per chunk. A chunk that ran already rewrites the same values.
fn backfill(
    client: &mut Client,
    select: &str,
    mut update: impl FnMut(&tokio_postgres::Transaction<'_>, i64, Uuid, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut after = Uuid::nil();
    let mut after_tenant = i64::MIN;
    loop {
        let rows = wait(client.query(select, &[&after_tenant, &after, &BACKFILL_CHUNK]))
            .map_err(|e| pg(&e))?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after_tenant = last.get(0);
        after = last.get(1);
        let tx = wait(client.transaction()).map_err(|e| pg(&e))?;
        for row in &rows {
            update(&tx, row.get(0), row.get(1), row.get::<_, &[u8]>(2))?;
        }
        wait(tx.commit()).map_err(|e| pg(&e))?;
    }
}

/// Fills `kith_deals.owner` from each deal's record.
fn backfill_deal_owners(client: &mut Client) -> Result<()> {
    backfill(
        client,
        "SELECT tenant_id, id, doc FROM kith_deals WHERE (tenant_id, id) > ($1, $2) \
         ORDER BY tenant_id, id LIMIT $3",
        |tx, t, id, doc| {
            let deal: Deal = decode("deals", doc)?;
            if let Some(owner) = &deal.owner {
                wait(tx.execute(
                    "UPDATE kith_deals SET owner = $3 WHERE tenant_id = $1 AND id = $2",
                    &[&t, &id, owner],
                ))
                .map_err(|e| pg(&e))?;
            }
            Ok(())
        },
    )
}

/// Fills the work and deal columns of `kith_interactions` from each record.
fn backfill_work(client: &mut Client) -> Result<()> {
    backfill(
        client,
        "SELECT tenant_id, id, doc FROM kith_interactions WHERE (tenant_id, id) > ($1, $2) \
         ORDER BY tenant_id, id LIMIT $3",
        |tx, t, id, doc| {
            let i = crate::records::decode_interaction(doc)?;
            let w = WorkColumns::of(&i);
            wait(tx.execute(
                "UPDATE kith_interactions SET deal = $3, assignee = $4, work_status = $5, \
                 work_due = $6, priority = $7, kind = $8 WHERE tenant_id = $1 AND id = $2",
                &[
                    &t,
                    &id,
                    &w.deal,
                    &w.assignee,
                    &w.status,
                    &w.due,
                    &w.priority,
                    &w.kind,
                ],
            ))
            .map_err(|e| pg(&e))?;
            Ok(())
        },
    )
}

/// Fills `kith_customers.email_like` and `email_identity` from each record.
fn backfill_email_identity(client: &mut Client) -> Result<()> {
    backfill(
        client,
        "SELECT tenant_id, id, doc FROM kith_customers WHERE (tenant_id, id) > ($1, $2) \
         AND email IS NOT NULL ORDER BY tenant_id, id LIMIT $3",
        |tx, t, id, doc| {
            let c: Customer = decode("customers", doc)?;
            let like = c.email.as_ref().map(Email::likeness);
            let identity = c.email.as_ref().map(Email::identity);
            wait(tx.execute(
                "UPDATE kith_customers SET email_like = $3, email_identity = $4 \
                 WHERE tenant_id = $1 AND id = $2",
                &[&t, &id, &like, &identity],
            ))
            .map_err(|e| pg(&e))?;
            Ok(())
        },
    )
}

impl PgStore {
    /// Whether an upgrade step is left (on a pooled connection: no extra connection at a
    /// start that has nothing to do, which is every start after the first).
    pub(super) fn upgrade_pending(&self) -> Result<bool> {
        self.read(|r| {
            Ok(r.query_opt("SELECT 1 FROM kith_upgrades LIMIT 1", &[])?
                .is_some())
        })
    }

    /// Runs the upgrade steps still pending. `client` is a connection of its own, outside the
    /// pool that the steps' writes use.
    pub(super) fn finish_upgrade(&self, client: &mut Client) -> Result<()> {
        wait(client.execute("SELECT pg_advisory_lock($1)", &[&UPGRADE_LOCK]))
            .map_err(|e| pg(&e))?;
        let result = (|| -> Result<()> {
            if pending(client, "backfill-deal-owners")? {
                backfill_deal_owners(client)?;
                done(client, "backfill-deal-owners")?;
                tracing::info!("filled the owner column of stored deals");
            }
            if pending(client, "backfill-work")? {
                backfill_work(client)?;
                done(client, "backfill-work")?;
                tracing::info!("filled the work-item columns of stored interactions");
            }
            if pending(client, "backfill-email-identity")? {
                backfill_email_identity(client)?;
                done(client, "backfill-email-identity")?;
                tracing::info!("filled the email identity columns of stored customers");
            }
            if pending(client, "adopt-owners")? {
                crate::adopt_owners(self)?;
                done(client, "adopt-owners")?;
            }
            Ok(())
        })();
        let unlocked = wait(client.execute("SELECT pg_advisory_unlock($1)", &[&UPGRADE_LOCK]));
        result?;
        unlocked.map_err(|e| pg(&e))?;
        Ok(())
    }
}
