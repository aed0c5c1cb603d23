//! The engine's [`Txn`] over PostgreSQL: one tenant's rows in one transaction.
//!
//! Rows the engine reads to change are locked (`FOR UPDATE`), so a concurrent writer waits and
//! then sees the committed version: optimistic-concurrency checks hold under READ COMMITTED.
//! Uniqueness is checked first, for an error that names the holder, and enforced by the unique
//! indexes: a writer that loses a race gets a unique violation and the whole transaction runs
//! again, when the check names the winner. Events are queued unnumbered and numbered just after
//! the commit, in a short transaction under the tenant's advisory lock ([`super::PgStore`]'s
//! `sequence`): the log is gap-free and in commit order across every node, and no writer holds
//! a tenant-wide lock across its commit's flush.

use std::collections::BTreeSet;

use kith_model::{
    Customer, CustomerId, Deal, DealId, Delivery, Email, Enablement, FieldDefinition, FieldObject,
    Interaction, InteractionId, Phone, Pipeline, PipelineId, PluginHealth, Quota, StoredJob,
    StoredModel, StoredScore, StoredSegments, TaskStatus, Team, TeamId, User, UserId,
};
use uuid::Uuid;

use super::conn::Tx;
use crate::engine::{Mark, NewEvent, Txn};
use crate::records::{
    decode, decode_enablement, encode, encode_enablement, encode_event, quota_key,
};
use crate::{Error, Result};

/// One tenant's rows inside one PostgreSQL transaction.
pub(super) struct PgTxn<'t, 'a> {
    tx: &'t mut Tx<'a>,
    tenant: i64,
    /// This node, for lease checks.
    node: &'t str,
    /// Events appended so far, queued at [`PgTxn::finish`].
    pending: Vec<NewEvent>,
    /// Open savepoints: (number, pending events when it was taken).
    savepoints: Vec<(Mark, usize)>,
}

/// The statements of a record kept unique by name: find the holder of a lowercase name, update,
/// insert (each taking tenant, id, lowercase name and doc).
struct Named {
    what: &'static str,
    holder: &'static str,
    update: &'static str,
    insert: &'static str,
}

pub(super) fn uuid(bytes: [u8; 16]) -> Uuid {
    Uuid::from_bytes(bytes)
}

/// The customer's unique external ids as (source, id).
fn externals(c: &Customer) -> BTreeSet<(&str, &str)> {
    c.external_ids
        .iter()
        .map(|x| (x.source.as_str(), x.id.as_str()))
        .collect()
}

fn tags(c: &Customer) -> BTreeSet<&str> {
    c.tags.iter().map(|t| t.as_str()).collect()
}

impl<'t, 'a> PgTxn<'t, 'a> {
    pub(super) fn new(tx: &'t mut Tx<'a>, tenant: i64, node: &'t str) -> Self {
        PgTxn {
            tx,
            tenant,
            node,
            pending: Vec::new(),
            savepoints: Vec::new(),
        }
    }

    /// Hands the events appended to the transaction, which stores them when it commits
    /// (queued, or numbered at once: see [`PgStore::write_ops`](super::PgStore)); call once,
    /// last. Returns how many there were.
    pub(super) fn finish(mut self) -> Result<usize> {
        let n = self.pending.len();
        if n == 0 {
            return Ok(0);
        }
        let docs = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|e| encode_event(&e.numbered(0)))
            .collect::<Result<Vec<_>>>()?;
        self.tx.queue_events(self.tenant, docs);
        Ok(n)
    }

    fn doc<V: serde::de::DeserializeOwned>(
        &mut self,
        table: &'static str,
        sql: &'static str,
        id: Uuid,
    ) -> Result<Option<V>> {
        match self.tx.query_opt(sql, &[&self.tenant, &id])? {
            Some(row) => decode(table, row.get::<_, &[u8]>(0)).map(Some),
            None => Ok(None),
        }
    }

    fn id_of(
        &mut self,
        sql: &'static str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<[u8; 16]>> {
        Ok(self
            .tx
            .query_opt(sql, params)?
            .map(|r| *r.get::<_, Uuid>(0).as_bytes()))
    }

    fn ids(&mut self, sql: &'static str, id: Uuid) -> Result<Vec<[u8; 16]>> {
        Ok(self
            .tx
            .query(sql, &[&self.tenant, &id])?
            .iter()
            .map(|r| *r.get::<_, Uuid>(0).as_bytes())
            .collect())
    }

    /// Stores a record whose name is unique per tenant, ignoring case (`old_name`: none for a
    /// new record), refusing a name another record holds.
    fn put_named(
        &mut self,
        sql: &Named,
        id: [u8; 16],
        old_name: Option<&str>,
        name: &str,
        doc: &[u8],
    ) -> Result<()> {
        let t = self.tenant;
        let lower = name.to_lowercase();
        if old_name.is_none_or(|o| o.to_lowercase() != lower) {
            let holder = self.id_of(sql.holder, &[&t, &lower])?;
            if let Some(h) = holder.filter(|h| *h != id) {
                return Err(Error::Duplicate {
                    field: "name",
                    value: name.to_owned(),
                    existing: format!("{} {}", sql.what, Uuid::from_bytes(h)),
                });
            }
        }
        let statement = if old_name.is_some() {
            sql.update
        } else {
            sql.insert
        };
        self.tx.defer(statement, &[&t, &uuid(id), &lower, &doc])
    }

    /// `Duplicate` when `holder` is another customer than `me`.
    fn check_holder(
        holder: Option<[u8; 16]>,
        me: CustomerId,
        field: &'static str,
        value: &str,
    ) -> Result<()> {
        match holder.map(CustomerId::from_bytes) {
            Some(h) if h != me => Err(Error::duplicate_customer(field, value, h)),
            _ => Ok(()),
        }
    }
}

/// The advisory lock of a tenant's field definitions, held to commit: shared by the writes that
/// check values against them, exclusive by a change of one.
const FIELDS_LOCK_SHARED: &str =
    "SELECT pg_advisory_xact_lock_shared(hashtextextended('kith_field_definitions', $1))";
/// A tenant's field definitions of one object, by key.
pub(super) const FIELD_DEFINITIONS: &str =
    "SELECT doc FROM kith_field_definitions WHERE tenant_id = $1 AND object = $2 ORDER BY key";
/// [`FIELDS_LOCK_SHARED`], exclusive.
const FIELDS_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtextextended('kith_field_definitions', $1))";

impl Txn for PgTxn<'_, '_> {
    fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>> {
        self.doc(
            "customers",
            "SELECT doc FROM kith_customers WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            uuid(id.to_bytes()),
        )
    }

    fn customer_by_email(&mut self, email: &Email) -> Result<Option<CustomerId>> {
        let t = self.tenant;
        if let Some(id) = self.id_of(
            "SELECT id FROM kith_customers WHERE tenant_id = $1 AND email = $2",
            &[&t, &email.as_str()],
        )? {
            return Ok(Some(CustomerId::from_bytes(id)));
        }
        Ok(self
            .id_of(
                "SELECT id FROM kith_customers WHERE tenant_id = $1 AND email_like = $2 \
                 AND email_identity = $3 ORDER BY id LIMIT 1",
                &[&t, &email.likeness(), &email.identity()],
            )?
            .map(CustomerId::from_bytes))
    }

    fn customer_by_phone(&mut self, phone: &Phone) -> Result<Option<CustomerId>> {
        let t = self.tenant;
        Ok(self
            .id_of(
                "SELECT id FROM kith_customers WHERE tenant_id = $1 AND phone = $2",
                &[&t, &phone.as_str()],
            )?
            .map(CustomerId::from_bytes))
    }

    fn customer_by_external(&mut self, source: &str, id: &str) -> Result<Option<CustomerId>> {
        let t = self.tenant;
        Ok(self
            .id_of(
                "SELECT customer FROM kith_customer_external_ids \
                 WHERE tenant_id = $1 AND source = $2 AND external_id = $3",
                &[&t, &source, &id],
            )?
            .map(CustomerId::from_bytes))
    }

    fn put_customer(&mut self, old: Option<&Customer>, new: &Customer) -> Result<()> {
        let t = self.tenant;
        let id = uuid(new.id.to_bytes());
        if let Some(e) = &new.email
            && old.and_then(|o| o.email.as_ref()) != Some(e)
        {
            let holder = self.id_of(
                "SELECT id FROM kith_customers WHERE tenant_id = $1 AND email = $2",
                &[&t, &e.as_str()],
            )?;
            Self::check_holder(holder, new.id, "email", e.as_str())?;
        }
        let identity = new.email.as_ref().map(Email::identity);
        let likeness = new.email.as_ref().map(Email::likeness);
        if let (Some(e), Some(identity), Some(likeness)) = (&new.email, &identity, &likeness)
            && old
                .and_then(|o| o.email.as_ref())
                .map(Email::identity)
                .as_ref()
                != Some(identity)
        {
            // Two writers of one identity in different cases would each find no holder: the
            // lock (per tenant and identity, held to commit) makes the second wait and see the
            // first.
            self.tx.query_opt(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, $2))",
                &[identity, &t],
            )?;
            let holder = self.id_of(
                "SELECT id FROM kith_customers WHERE tenant_id = $1 AND email_like = $2 \
                 AND email_identity = $3 AND id <> $4 LIMIT 1",
                &[&t, likeness, identity, &id],
            )?;
            Self::check_holder(holder, new.id, "email", e.as_str())?;
        }
        if let Some(p) = &new.phone
            && old.and_then(|o| o.phone.as_ref()) != Some(p)
        {
            let holder = self.id_of(
                "SELECT id FROM kith_customers WHERE tenant_id = $1 AND phone = $2",
                &[&t, &p.as_str()],
            )?;
            Self::check_holder(holder, new.id, "phone", p.as_str())?;
        }
        let old_ext = old.map(externals).unwrap_or_default();
        let new_ext = externals(new);
        for (source, ext) in new_ext.difference(&old_ext) {
            let holder = self.id_of(
                "SELECT customer FROM kith_customer_external_ids \
                 WHERE tenant_id = $1 AND source = $2 AND external_id = $3",
                &[&t, source, ext],
            )?;
            Self::check_holder(holder, new.id, "external_id", &format!("{source}:{ext}"))?;
        }
        let email = new.email.as_ref().map(Email::as_str);
        let phone = new.phone.as_ref().map(Phone::as_str);
        let name = new.name.to_lowercase();
        let lifecycle = i16::from(new.lifecycle.code());
        let organization = new.organization.map(|o| uuid(o.to_bytes()));
        let doc = encode(new)?;
        let sql = if old.is_some() {
            "UPDATE kith_customers SET email = $3, phone = $4, name_lower = $5, lifecycle = $6, \
             owner = $7, organization = $8, doc = $9, email_like = $10, email_identity = $11 \
             WHERE tenant_id = $1 AND id = $2"
        } else {
            "INSERT INTO kith_customers (tenant_id, id, email, phone, name_lower, lifecycle, \
             owner, organization, doc, email_like, email_identity) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        };
        self.tx.defer(
            sql,
            &[
                &t,
                &id,
                &email,
                &phone,
                &name,
                &lifecycle,
                &new.owner,
                &organization,
                &doc,
                &likeness,
                &identity,
            ],
        )?;
        for (source, ext) in old_ext.difference(&new_ext) {
            self.tx.defer(
                "DELETE FROM kith_customer_external_ids \
                 WHERE tenant_id = $1 AND source = $2 AND external_id = $3",
                &[&t, source, ext],
            )?;
        }
        for (source, ext) in new_ext.difference(&old_ext) {
            self.tx.defer(
                "INSERT INTO kith_customer_external_ids (tenant_id, source, external_id, customer) \
                 VALUES ($1, $2, $3, $4)",
                &[&t, source, ext, &id],
            )?;
        }
        let old_tags = old.map(tags).unwrap_or_default();
        let new_tags = tags(new);
        for tag in old_tags.difference(&new_tags) {
            self.tx.defer(
                "DELETE FROM kith_customer_tags WHERE tenant_id = $1 AND tag = $2 AND customer = $3",
                &[&t, tag, &id],
            )?;
        }
        for tag in new_tags.difference(&old_tags) {
            self.tx.defer(
                "INSERT INTO kith_customer_tags (tenant_id, tag, customer) VALUES ($1, $2, $3)",
                &[&t, tag, &id],
            )?;
        }
        Ok(())
    }

    fn delete_customer(&mut self, c: &Customer) -> Result<()> {
        let t = self.tenant;
        let id = uuid(c.id.to_bytes());
        for sql in [
            "DELETE FROM kith_customer_tags WHERE tenant_id = $1 AND customer = $2",
            "DELETE FROM kith_customer_external_ids WHERE tenant_id = $1 AND customer = $2",
            "DELETE FROM kith_customers WHERE tenant_id = $1 AND id = $2",
        ] {
            self.tx.defer(sql, &[&t, &id])?;
        }
        Ok(())
    }

    fn members(&mut self, organization: CustomerId) -> Result<Vec<CustomerId>> {
        Ok(self
            .ids(
                "SELECT id FROM kith_customers WHERE tenant_id = $1 AND organization = $2 ORDER BY id",
                uuid(organization.to_bytes()),
            )?
            .into_iter()
            .map(CustomerId::from_bytes)
            .collect())
    }

    fn interaction(&mut self, id: InteractionId) -> Result<Option<Interaction>> {
        let sql = "SELECT doc FROM kith_interactions WHERE tenant_id = $1 AND id = $2 FOR UPDATE";
        match self
            .tx
            .query_opt(sql, &[&self.tenant, &uuid(id.to_bytes())])?
        {
            Some(row) => crate::records::decode_interaction(row.get::<_, &[u8]>(0)).map(Some),
            None => Ok(None),
        }
    }

    fn interaction_by_external(&mut self, source: &str, id: &str) -> Result<Option<InteractionId>> {
        let t = self.tenant;
        Ok(self
            .id_of(
                "SELECT id FROM kith_interactions \
                 WHERE tenant_id = $1 AND ext_source = $2 AND ext_id = $3",
                &[&t, &source, &id],
            )?
            .map(InteractionId::from_bytes))
    }

    fn put_interaction(&mut self, old: Option<&Interaction>, new: &Interaction) -> Result<()> {
        let t = self.tenant;
        let id = uuid(new.id.to_bytes());
        let key = new.idempotency_key();
        if let Some((source, ext)) = key
            && old.and_then(Interaction::idempotency_key) != Some((source, ext))
        {
            let holder = self.id_of(
                "SELECT id FROM kith_interactions \
                 WHERE tenant_id = $1 AND ext_source = $2 AND ext_id = $3",
                &[&t, &source, &ext],
            )?;
            if holder.is_some_and(|h| h != new.id.to_bytes()) {
                return Err(Error::Duplicate {
                    field: "external_id",
                    value: new.external_id.clone().unwrap_or_default(),
                    existing: "another interaction".into(),
                });
            }
        }
        let (source, ext) = match key {
            Some((s, e)) => (Some(s), Some(e)),
            None => (None, None),
        };
        let customer = uuid(new.customer.to_bytes());
        let occurred = new.occurred_at.as_micros();
        let due = if new.is_due_work() {
            new.due_at.map(|d| d.as_micros())
        } else {
            None
        };
        let work = WorkColumns::of(new);
        let doc = crate::records::encode_interaction(new)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 14] = [
            &t,
            &id,
            &customer,
            &occurred,
            &source,
            &ext,
            &due,
            &doc,
            &work.deal,
            &work.assignee,
            &work.status,
            &work.due,
            &work.priority,
            &work.kind,
        ];
        let sql = if old.is_some() {
            "UPDATE kith_interactions SET customer = $3, occurred_at = $4, ext_source = $5, \
             ext_id = $6, due_at = $7, doc = $8, deal = $9, assignee = $10, \
             work_status = $11, work_due = $12, priority = $13, kind = $14 \
             WHERE tenant_id = $1 AND id = $2"
        } else {
            "INSERT INTO kith_interactions (tenant_id, id, customer, occurred_at, ext_source, \
             ext_id, due_at, doc, deal, assignee, work_status, work_due, priority, kind) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        };
        self.tx.defer(sql, &params)?;
        Ok(())
    }

    fn delete_interaction(&mut self, i: &Interaction) -> Result<()> {
        let t = self.tenant;
        self.tx.defer(
            "DELETE FROM kith_interactions WHERE tenant_id = $1 AND id = $2",
            &[&t, &uuid(i.id.to_bytes())],
        )?;
        Ok(())
    }

    fn open_work_of(&mut self, user: &str, limit: usize) -> Result<Vec<InteractionId>> {
        let t = self.tenant;
        let open: Vec<i16> = TaskStatus::OPEN
            .iter()
            .map(|s| i16::from(s.code()))
            .collect();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.tx.query(
            "SELECT id FROM kith_interactions WHERE tenant_id = $1 AND assignee = $2 \
             AND work_status = ANY($3) ORDER BY work_due, priority, id LIMIT $4",
            &[&t, &user, &open, &limit],
        )?;
        Ok(rows
            .iter()
            .map(|r| InteractionId::from_bytes(*r.get::<_, Uuid>(0).as_bytes()))
            .collect())
    }

    fn interactions_of(&mut self, customer: CustomerId) -> Result<Vec<InteractionId>> {
        Ok(self
            .ids(
                "SELECT id FROM kith_interactions WHERE tenant_id = $1 AND customer = $2 \
                 ORDER BY occurred_at, id",
                uuid(customer.to_bytes()),
            )?
            .into_iter()
            .map(InteractionId::from_bytes)
            .collect())
    }

    fn pipeline(&mut self, id: PipelineId) -> Result<Option<Pipeline>> {
        self.doc(
            "pipelines",
            "SELECT doc FROM kith_pipelines WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            uuid(id.to_bytes()),
        )
    }

    fn pipeline_by_name(&mut self, name: &str) -> Result<Option<PipelineId>> {
        let t = self.tenant;
        Ok(self
            .id_of(
                "SELECT id FROM kith_pipelines WHERE tenant_id = $1 AND name_lower = $2",
                &[&t, &name.to_lowercase()],
            )?
            .map(PipelineId::from_bytes))
    }

    fn put_pipeline(&mut self, old: Option<&Pipeline>, new: &Pipeline) -> Result<()> {
        let named = Named {
            what: "pipeline",
            holder: "SELECT id FROM kith_pipelines WHERE tenant_id = $1 AND name_lower = $2",
            update: "UPDATE kith_pipelines SET name_lower = $3, doc = $4 WHERE tenant_id = $1 AND id = $2",
            insert: "INSERT INTO kith_pipelines (tenant_id, id, name_lower, doc) VALUES ($1, $2, $3, $4)",
        };
        let old_name = old.map(|o| o.name.as_str());
        self.put_named(
            &named,
            new.id.to_bytes(),
            old_name,
            &new.name,
            &encode(new)?,
        )
    }

    fn delete_pipeline(&mut self, p: &Pipeline) -> Result<()> {
        let t = self.tenant;
        self.tx.defer(
            "DELETE FROM kith_pipelines WHERE tenant_id = $1 AND id = $2",
            &[&t, &uuid(p.id.to_bytes())],
        )?;
        Ok(())
    }

    fn deals_in(&mut self, pipeline: PipelineId) -> Result<u64> {
        let t = self.tenant;
        let n: i64 = self
            .tx
            .query_opt(
                "SELECT count(*) FROM kith_deals WHERE tenant_id = $1 AND pipeline = $2",
                &[&t, &uuid(pipeline.to_bytes())],
            )?
            .map_or(0, |r| r.get(0));
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn deal(&mut self, id: DealId) -> Result<Option<Deal>> {
        self.doc(
            "deals",
            "SELECT doc FROM kith_deals WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            uuid(id.to_bytes()),
        )
    }

    fn put_deal(&mut self, old: Option<&Deal>, new: &Deal) -> Result<()> {
        let t = self.tenant;
        let id = uuid(new.id.to_bytes());
        let customer = uuid(new.customer.to_bytes());
        let pipeline = uuid(new.pipeline.to_bytes());
        let stage = uuid(new.stage.to_bytes());
        let doc = encode(new)?;
        if old.is_some() {
            self.tx.defer(
                "UPDATE kith_deals SET customer = $3, pipeline = $4, stage = $5, doc = $6, \
                 owner = $7 WHERE tenant_id = $1 AND id = $2",
                &[&t, &id, &customer, &pipeline, &stage, &doc, &new.owner],
            )?;
        } else {
            self.tx.defer(
                "INSERT INTO kith_deals (tenant_id, id, customer, pipeline, stage, doc, owner) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&t, &id, &customer, &pipeline, &stage, &doc, &new.owner],
            )?;
        }
        Ok(())
    }

    fn delete_deal(&mut self, d: &Deal) -> Result<()> {
        let t = self.tenant;
        self.tx.defer(
            "DELETE FROM kith_deals WHERE tenant_id = $1 AND id = $2",
            &[&t, &uuid(d.id.to_bytes())],
        )?;
        Ok(())
    }

    fn deals_of(&mut self, customer: CustomerId) -> Result<Vec<DealId>> {
        Ok(self
            .ids(
                "SELECT id FROM kith_deals WHERE tenant_id = $1 AND customer = $2 ORDER BY id",
                uuid(customer.to_bytes()),
            )?
            .into_iter()
            .map(DealId::from_bytes)
            .collect())
    }

    fn user(&mut self, id: UserId) -> Result<Option<User>> {
        self.doc(
            "users",
            "SELECT doc FROM kith_users WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            uuid(id.to_bytes()),
        )
    }

    fn put_user(&mut self, old: Option<&User>, new: &User) -> Result<()> {
        let t = self.tenant;
        let id = uuid(new.id.to_bytes());
        let email = new.email.as_ref().map(|e| e.as_str().to_owned());
        if let Some(e) = email
            .as_ref()
            .filter(|_| old.is_none_or(|o| o.email != new.email))
        {
            let holder = self.id_of(
                "SELECT id FROM kith_users WHERE tenant_id = $1 AND email = $2",
                &[&t, e],
            )?;
            if let Some(h) = holder.filter(|h| *h != new.id.to_bytes()) {
                return Err(Error::Duplicate {
                    field: "email",
                    value: e.clone(),
                    existing: format!("user {}", UserId::from_bytes(h)),
                });
            }
        }
        let doc = encode(new)?;
        if old.is_some() {
            self.tx.defer(
                "UPDATE kith_users SET email = $3, doc = $4 WHERE tenant_id = $1 AND id = $2",
                &[&t, &id, &email, &doc],
            )?;
        } else {
            self.tx.defer(
                "INSERT INTO kith_users (tenant_id, id, email, doc) VALUES ($1, $2, $3, $4)",
                &[&t, &id, &email, &doc],
            )?;
        }
        let old_teams = old.map(|o| o.teams.as_slice()).unwrap_or_default();
        for team in old_teams.iter().filter(|x| !new.teams.contains(x)) {
            self.tx.defer(
                "DELETE FROM kith_team_members WHERE tenant_id = $1 AND team = $2 AND user_id = $3",
                &[&t, &uuid(team.to_bytes()), &id],
            )?;
        }
        for team in new.teams.iter().filter(|x| !old_teams.contains(x)) {
            self.tx.defer(
                "INSERT INTO kith_team_members (tenant_id, team, user_id) VALUES ($1, $2, $3)",
                &[&t, &uuid(team.to_bytes()), &id],
            )?;
        }
        Ok(())
    }

    fn team(&mut self, id: TeamId) -> Result<Option<Team>> {
        self.doc(
            "teams",
            "SELECT doc FROM kith_teams WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            uuid(id.to_bytes()),
        )
    }

    fn put_team(&mut self, old: Option<&Team>, new: &Team) -> Result<()> {
        let named = Named {
            what: "team",
            holder: "SELECT id FROM kith_teams WHERE tenant_id = $1 AND name_lower = $2",
            update: "UPDATE kith_teams SET name_lower = $3, doc = $4 WHERE tenant_id = $1 AND id = $2",
            insert: "INSERT INTO kith_teams (tenant_id, id, name_lower, doc) VALUES ($1, $2, $3, $4)",
        };
        let old_name = old.map(|o| o.name.as_str());
        self.put_named(
            &named,
            new.id.to_bytes(),
            old_name,
            &new.name,
            &encode(new)?,
        )
    }

    fn delete_team(&mut self, team: &Team) -> Result<()> {
        let t = self.tenant;
        self.tx.defer(
            "DELETE FROM kith_teams WHERE tenant_id = $1 AND id = $2",
            &[&t, &uuid(team.id.to_bytes())],
        )?;
        Ok(())
    }

    fn team_members(&mut self, team: TeamId) -> Result<Vec<UserId>> {
        Ok(self
            .ids(
                "SELECT user_id FROM kith_team_members WHERE tenant_id = $1 AND team = $2 \
                 ORDER BY user_id",
                uuid(team.to_bytes()),
            )?
            .into_iter()
            .map(UserId::from_bytes)
            .collect())
    }

    fn quota(&mut self, key: &Quota) -> Result<Option<Quota>> {
        let t = self.tenant;
        match self.tx.query_opt(
            "SELECT doc FROM kith_quotas WHERE tenant_id = $1 AND key = $2 FOR UPDATE",
            &[&t, &quota_key(key)],
        )? {
            Some(row) => decode("quotas", row.get::<_, &[u8]>(0)).map(Some),
            None => Ok(None),
        }
    }

    fn put_quota(&mut self, q: &Quota) -> Result<()> {
        let t = self.tenant;
        self.tx.defer(
            "INSERT INTO kith_quotas (tenant_id, key, doc) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, key) DO UPDATE SET doc = EXCLUDED.doc",
            &[&t, &quota_key(q), &encode(q)?],
        )
    }

    fn delete_quota(&mut self, q: &Quota) -> Result<()> {
        let t = self.tenant;
        self.tx.defer(
            "DELETE FROM kith_quotas WHERE tenant_id = $1 AND key = $2",
            &[&t, &quota_key(q)],
        )
    }

    fn field_definitions(&mut self, object: FieldObject) -> Result<Vec<FieldDefinition>> {
        let t = self.tenant;
        // Shared: writes that check values hold it to their commit, so a definition's change
        // (exclusive) waits for them, and the writes after it read the changed definitions.
        self.tx.query_opt(FIELDS_LOCK_SHARED, &[&t])?;
        self.tx
            .query(FIELD_DEFINITIONS, &[&t, &i16::from(object.code())])?
            .iter()
            .map(|r| decode("field_definitions", r.get::<_, &[u8]>(0)))
            .collect()
    }

    fn lock_field_definitions(&mut self) -> Result<()> {
        let t = self.tenant;
        self.tx.query_opt(FIELDS_LOCK, &[&t])?;
        Ok(())
    }

    fn put_field_definition(&mut self, d: &FieldDefinition) -> Result<()> {
        let t = self.tenant;
        self.tx.defer(
            "INSERT INTO kith_field_definitions (tenant_id, object, key, doc) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, object, key) DO UPDATE SET doc = EXCLUDED.doc",
            &[&t, &i16::from(d.object.code()), &d.key, &encode(d)?],
        )
    }

    fn delete_field_definition(&mut self, d: &FieldDefinition) -> Result<()> {
        let t = self.tenant;
        self.tx.defer(
            "DELETE FROM kith_field_definitions WHERE tenant_id = $1 AND object = $2 AND key = $3",
            &[&t, &i16::from(d.object.code()), &d.key],
        )
    }

    fn field_index_holders(
        &mut self,
        object: FieldObject,
        key: &str,
        value: &[u8],
        limit: usize,
    ) -> Result<Vec<[u8; 16]>> {
        let t = self.tenant;
        let code = i16::from(object.code());
        // Writers of one value wait here for each other (to commit): the second sees the first.
        let field = format!("{code}:{key}:");
        self.tx.query_opt(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || encode($2, 'hex'), $3))",
            &[&field, &value, &t],
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .tx
            .query(
                "SELECT id FROM kith_field_index WHERE tenant_id = $1 AND object = $2 \
                 AND key = $3 AND value = $4 ORDER BY id LIMIT $5",
                &[&t, &code, &key, &value, &limit],
            )?
            .iter()
            .map(|r| *r.get::<_, Uuid>(0).as_bytes())
            .collect())
    }

    fn put_field_index(
        &mut self,
        object: FieldObject,
        key: &str,
        value: &[u8],
        id: [u8; 16],
    ) -> Result<()> {
        let t = self.tenant;
        self.tx.defer(
            "INSERT INTO kith_field_index (tenant_id, object, key, value, id) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[&t, &i16::from(object.code()), &key, &value, &uuid(id)],
        )
    }

    fn delete_field_index(
        &mut self,
        object: FieldObject,
        key: &str,
        value: &[u8],
        id: [u8; 16],
    ) -> Result<()> {
        let t = self.tenant;
        self.tx.defer(
            "DELETE FROM kith_field_index WHERE tenant_id = $1 AND object = $2 AND key = $3 \
             AND value = $4 AND id = $5",
            &[&t, &i16::from(object.code()), &key, &value, &uuid(id)],
        )
    }

    fn purge_field_index(&mut self, object: FieldObject, key: &str) -> Result<()> {
        let t = self.tenant;
        self.tx.defer(
            "DELETE FROM kith_field_index WHERE tenant_id = $1 AND object = $2 AND key = $3",
            &[&t, &i16::from(object.code()), &key],
        )
    }

    fn owners(&mut self) -> Result<Vec<String>> {
        let t = self.tenant;
        Ok(self
            .tx
            .query(
                "SELECT owner FROM kith_customers WHERE tenant_id = $1 AND owner IS NOT NULL \
                 UNION SELECT owner FROM kith_deals WHERE tenant_id = $1 AND owner IS NOT NULL \
                 ORDER BY 1",
                &[&t],
            )?
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect())
    }

    fn customers_owned_by(&mut self, owner: &str) -> Result<Vec<CustomerId>> {
        let t = self.tenant;
        Ok(self
            .tx
            .query(
                "SELECT id FROM kith_customers WHERE tenant_id = $1 AND owner = $2 ORDER BY id",
                &[&t, &owner],
            )?
            .iter()
            .map(|r| CustomerId::from_bytes(*r.get::<_, Uuid>(0).as_bytes()))
            .collect())
    }

    fn deals_owned_by(&mut self, owner: &str) -> Result<Vec<DealId>> {
        let t = self.tenant;
        Ok(self
            .tx
            .query(
                "SELECT id FROM kith_deals WHERE tenant_id = $1 AND owner = $2 ORDER BY id",
                &[&t, &owner],
            )?
            .iter()
            .map(|r| DealId::from_bytes(*r.get::<_, Uuid>(0).as_bytes()))
            .collect())
    }

    fn head(&mut self) -> Result<u64> {
        let t = self.tenant;
        let head: i64 = self
            .tx
            .query_opt("SELECT head FROM kith_heads WHERE tenant_id = $1", &[&t])?
            .map_or(0, |r| r.get(0));
        Ok(u64::try_from(head).unwrap_or(0) + self.pending.len() as u64)
    }

    fn append(&mut self, event: NewEvent) -> Result<()> {
        self.pending.push(event);
        Ok(())
    }

    fn enablement(&mut self, plugin: &str) -> Result<Option<Enablement>> {
        let t = self.tenant;
        self.tx
            .query_opt(
                "SELECT doc FROM kith_enablements WHERE tenant_id = $1 AND plugin = $2 FOR UPDATE",
                &[&t, &plugin],
            )?
            .map(|r| decode_enablement(r.get::<_, &[u8]>(0)))
            .transpose()
    }

    fn put_enablement(&mut self, e: &Enablement) -> Result<()> {
        let t = self.tenant;
        let doc = encode_enablement(e)?;
        self.tx.defer(
            "INSERT INTO kith_enablements (tenant_id, plugin, hash, doc) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, plugin) DO UPDATE SET hash = EXCLUDED.hash, doc = EXCLUDED.doc",
            &[&t, &e.plugin, &e.hash, &doc],
        )?;
        Ok(())
    }

    fn delete_plugin_state(&mut self, plugin: &str) -> Result<()> {
        let t = self.tenant;
        for sql in [
            "DELETE FROM kith_enablements WHERE tenant_id = $1 AND plugin = $2",
            "DELETE FROM kith_cursors WHERE tenant_id = $1 AND plugin = $2",
            "DELETE FROM kith_health WHERE tenant_id = $1 AND plugin = $2",
            "DELETE FROM kith_models WHERE tenant_id = $1 AND plugin = $2",
        ] {
            self.tx.defer(sql, &[&t, &plugin])?;
        }
        Ok(())
    }

    fn cursor(&mut self, plugin: &str) -> Result<Option<u64>> {
        let t = self.tenant;
        Ok(self
            .tx
            .query_opt(
                "SELECT seq FROM kith_cursors WHERE tenant_id = $1 AND plugin = $2 FOR UPDATE",
                &[&t, &plugin],
            )?
            .map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
    }

    fn put_cursor(&mut self, plugin: &str, seq: u64) -> Result<()> {
        let t = self.tenant;
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.tx.defer(
            "INSERT INTO kith_cursors (tenant_id, plugin, seq) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, plugin) DO UPDATE SET seq = EXCLUDED.seq",
            &[&t, &plugin, &seq],
        )?;
        Ok(())
    }

    fn health(&mut self, plugin: &str) -> Result<Option<PluginHealth>> {
        let t = self.tenant;
        self.tx
            .query_opt(
                "SELECT doc FROM kith_health WHERE tenant_id = $1 AND plugin = $2 FOR UPDATE",
                &[&t, &plugin],
            )?
            .map(|r| decode("health", r.get::<_, &[u8]>(0)))
            .transpose()
    }

    fn put_health(&mut self, plugin: &str, health: &PluginHealth) -> Result<()> {
        let t = self.tenant;
        let doc = encode(health)?;
        self.tx.defer(
            "INSERT INTO kith_health (tenant_id, plugin, doc) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, plugin) DO UPDATE SET doc = EXCLUDED.doc",
            &[&t, &plugin, &doc],
        )?;
        Ok(())
    }

    fn put_model(&mut self, plugin: &str, model: &StoredModel) -> Result<()> {
        let t = self.tenant;
        let doc = encode(model)?;
        self.tx.defer(
            "INSERT INTO kith_models (tenant_id, plugin, doc) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, plugin) DO UPDATE SET doc = EXCLUDED.doc",
            &[&t, &plugin, &doc],
        )?;
        Ok(())
    }

    fn score(&mut self, customer: CustomerId, plugin: &str) -> Result<Option<StoredScore>> {
        let t = self.tenant;
        self.tx
            .query_opt(
                "SELECT doc FROM kith_scores WHERE tenant_id = $1 AND customer = $2 AND plugin = $3 \
                 FOR UPDATE",
                &[&t, &uuid(customer.to_bytes()), &plugin],
            )?
            .map(|r| decode("scores", r.get::<_, &[u8]>(0)))
            .transpose()
    }

    fn put_score(&mut self, _old: Option<&StoredScore>, new: &StoredScore) -> Result<()> {
        let t = self.tenant;
        let doc = encode(new)?;
        // One zero: -0.0 and 0.0 rank together.
        let score = if new.score == 0.0 { 0.0 } else { new.score };
        self.tx.defer(
            "INSERT INTO kith_scores (tenant_id, customer, plugin, score, doc) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, customer, plugin) \
             DO UPDATE SET score = EXCLUDED.score, doc = EXCLUDED.doc",
            &[
                &t,
                &uuid(new.customer.to_bytes()),
                &new.producer.plugin,
                &score,
                &doc,
            ],
        )?;
        Ok(())
    }

    fn segments(&mut self, customer: CustomerId, plugin: &str) -> Result<Option<StoredSegments>> {
        let t = self.tenant;
        self.tx
            .query_opt(
                "SELECT doc FROM kith_segments WHERE tenant_id = $1 AND customer = $2 \
                 AND plugin = $3 FOR UPDATE",
                &[&t, &uuid(customer.to_bytes()), &plugin],
            )?
            .map(|r| decode("segments", r.get::<_, &[u8]>(0)))
            .transpose()
    }

    fn put_segments(&mut self, _old: Option<&StoredSegments>, new: &StoredSegments) -> Result<()> {
        let t = self.tenant;
        let customer = uuid(new.customer.to_bytes());
        let plugin = &new.producer.plugin;
        let doc = encode(new)?;
        self.tx.defer(
            "INSERT INTO kith_segments (tenant_id, customer, plugin, doc) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, customer, plugin) DO UPDATE SET doc = EXCLUDED.doc",
            &[&t, &customer, plugin, &doc],
        )?;
        self.tx.defer(
            "DELETE FROM kith_segment_members WHERE tenant_id = $1 AND customer = $2 AND plugin = $3",
            &[&t, &customer, plugin],
        )?;
        let segments: Vec<&str> = new
            .memberships
            .iter()
            .map(|m| m.segment.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !segments.is_empty() {
            self.tx.defer(
                "INSERT INTO kith_segment_members (tenant_id, plugin, segment, customer) \
                 SELECT $1, $2, s, $3 FROM unnest($4::text[]) AS m(s)",
                &[&t, plugin, &customer, &segments],
            )?;
        }
        Ok(())
    }

    fn delete_outputs(&mut self, customer: CustomerId) -> Result<()> {
        let t = self.tenant;
        let id = uuid(customer.to_bytes());
        for sql in [
            "DELETE FROM kith_scores WHERE tenant_id = $1 AND customer = $2",
            "DELETE FROM kith_segment_members WHERE tenant_id = $1 AND customer = $2",
            "DELETE FROM kith_segments WHERE tenant_id = $1 AND customer = $2",
        ] {
            self.tx.defer(sql, &[&t, &id])?;
        }
        Ok(())
    }

    fn delivery_seen(&mut self, plugin: &str, id: &str) -> Result<bool> {
        let t = self.tenant;
        Ok(self
            .tx
            .query_opt(
                "SELECT 1 FROM kith_deliveries WHERE tenant_id = $1 AND plugin = $2 AND delivery_id = $3",
                &[&t, &plugin, &id],
            )?
            .is_some())
    }

    fn put_delivery(&mut self, plugin: &str, delivery: &Delivery) -> Result<()> {
        let t = self.tenant;
        let doc = encode(delivery)?;
        self.tx.defer(
            "INSERT INTO kith_deliveries (tenant_id, plugin, delivery_id, doc) VALUES ($1, $2, $3, $4)",
            &[&t, &plugin, &delivery.id, &doc],
        )?;
        Ok(())
    }

    fn job(&mut self, id: u64) -> Result<Option<StoredJob>> {
        let t = self.tenant;
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        self.tx
            .query_opt(
                "SELECT doc FROM kith_jobs WHERE tenant_id = $1 AND job_id = $2 FOR UPDATE",
                &[&t, &id],
            )?
            .map(|row| decode("jobs", row.get::<_, &[u8]>(0)))
            .transpose()
    }

    fn jobs(&mut self) -> Result<Vec<StoredJob>> {
        let t = self.tenant;
        self.tx
            .query(
                "SELECT doc FROM kith_jobs WHERE tenant_id = $1 ORDER BY job_id FOR UPDATE",
                &[&t],
            )?
            .iter()
            .map(|row| decode("jobs", row.get::<_, &[u8]>(0)))
            .collect()
    }

    fn put_job(&mut self, job: &StoredJob) -> Result<()> {
        let t = self.tenant;
        let id = i64::try_from(job.id).unwrap_or(i64::MAX);
        let doc = encode(job)?;
        self.tx.defer(
            "INSERT INTO kith_jobs (tenant_id, job_id, doc) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id, job_id) DO UPDATE SET doc = EXCLUDED.doc",
            &[&t, &id, &doc],
        )?;
        Ok(())
    }

    fn delete_job(&mut self, id: u64) -> Result<()> {
        let t = self.tenant;
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        self.tx.defer(
            "DELETE FROM kith_jobs WHERE tenant_id = $1 AND job_id = $2",
            &[&t, &id],
        )?;
        Ok(())
    }

    /// Reads the lease row `FOR SHARE`: a node taking the lease over waits until this
    /// transaction ends, and this one sees the holder as of now.
    fn check_fence(&mut self, fence: u64) -> Result<()> {
        let t = self.tenant;
        let row = self.tx.query_opt(
            "SELECT holder, fence FROM kith_leases WHERE tenant_id = $1 FOR SHARE",
            &[&t],
        )?;
        let (holder, current): (String, i64) = match row {
            Some(r) => (r.get(0), r.get(1)),
            None => (String::new(), 0),
        };
        let current = u64::try_from(current).unwrap_or(0);
        if holder == self.node && current == fence {
            return Ok(());
        }
        Err(Error::Conflict {
            entity: "dispatch lease",
            id: if holder.is_empty() {
                "nobody".to_owned()
            } else {
                holder
            },
            expected: fence,
            actual: current,
        })
    }

    fn mark(&mut self) -> Result<Mark> {
        let n = self.tx.savepoint();
        self.savepoints.push((n, self.pending.len()));
        Ok(n)
    }

    fn rollback(&mut self, mark: Mark) -> Result<()> {
        self.tx.rollback_to(mark)?;
        while let Some((n, events)) = self.savepoints.pop() {
            if n == mark {
                self.pending.truncate(events);
                // The savepoint stays usable: keep it for a later rollback to it.
                self.savepoints.push((n, events));
                break;
            }
        }
        Ok(())
    }

    fn release(&mut self, mark: Mark) -> Result<()> {
        self.tx.release(mark)?;
        while let Some((n, _)) = self.savepoints.pop() {
            if n == mark {
                break;
            }
        }
        Ok(())
    }
}

/// The columns of `kith_interactions` that index work items and deal timelines.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct WorkColumns {
    pub(super) deal: Option<Uuid>,
    pub(super) assignee: Option<String>,
    pub(super) status: Option<i16>,
    pub(super) due: Option<i64>,
    pub(super) priority: Option<i16>,
    pub(super) kind: i16,
}

impl WorkColumns {
    pub(super) fn of(i: &Interaction) -> Self {
        let work = i.status.is_some();
        Self {
            deal: i.deal.map(|d| uuid(d.to_bytes())),
            assignee: i.assignee.clone(),
            status: i.status.map(|s| i16::from(s.code())),
            due: work.then(|| crate::records::work_due(i)),
            priority: work.then(|| i16::from(crate::records::work_rank(i))),
            kind: i16::from(i.kind.code()),
        }
    }
}
