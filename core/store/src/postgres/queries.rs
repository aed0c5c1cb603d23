//! [`Store`] for [`PgStore`]: tenants, writes through the engine, reads with keyset paging,
//! tokens, idempotency, checks and counts.

use std::path::Path;
use std::time::Instant;

use kith_model::{
    Actor, Customer, CustomerId, Deal, DealId, Email, EntityRef, Event, EventKind, FieldDefinition,
    FieldObject, Interaction, InteractionId, InteractionKind, Phone, Pipeline, PipelineId,
    PipelineReport, Quota, ReportBuilder, StageId, Team, TeamId, Tenant, TenantInput, TenantPatch,
    TenantSlug, Timestamp, User, UserId,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::conn::{Reader, Tx};
use super::txn::{PgTxn, uuid};
use super::{PG_SCHEMA_VERSION, PgStore};
use crate::admin::{IdempotencyRecord, Stored};
use crate::engine::{self, Ctx};
use crate::records::{self, decode, decode_event, encode};
use crate::{
    Assignees, CommitListener, Cursor, CustomerFilter, Error, IdempotencyKey, Inconsistency, Once,
    Op, Output, Page, PageRequest, Result, Stats, Store, TenantStats, TokenRecord, WorkQuery,
};

/// Cursor scopes of this backend's lists.
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
pub(super) enum List {
    Customers = 1,
    Tag,
    Lifecycle,
    Owner,
    Organization,
    Name,
    Email,
    Timeline,
    Due,
    Pipelines,
    Deals,
    Leaderboard,
    SegmentMembers,
    Bundles,
    Users,
    Teams,
    AllDeals,
    DealOwner,
    Quotas,
    Work,
    DealTimeline,
    Field,
}

/// The lowest and highest UUIDs: the open ends of keyset pages.
pub(super) const FIRST: Uuid = Uuid::nil();
pub(super) const LAST: Uuid = Uuid::max();

/// A page's cursor: the list, what it lists (tenant and filter) and the last key it returned.
pub(super) struct Keys {
    list: List,
    prefix: Vec<u8>,
}

impl Keys {
    pub(super) fn new(list: List, tenant: &TenantSlug, filter: &[u8]) -> Self {
        let mut prefix = tenant.as_str().as_bytes().to_vec();
        prefix.push(0);
        prefix.extend_from_slice(filter);
        Keys { list, prefix }
    }

    /// The last key of the previous page, if `page` continues one.
    pub(super) fn after(&self, page: &PageRequest) -> Result<Option<Vec<u8>>> {
        match &page.after {
            None => Ok(None),
            Some(c) => {
                let key = c.decode(self.list as u8, &self.prefix)?;
                Ok(Some(key[self.prefix.len()..].to_vec()))
            }
        }
    }

    /// The cursor after `key`.
    pub(super) fn cursor(&self, key: &[u8]) -> Cursor {
        let mut full = self.prefix.clone();
        full.extend_from_slice(key);
        Cursor::encode(self.list as u8, &self.prefix, &full)
    }
}

/// A UUID from the first 16 bytes of a cursor key.
pub(super) fn key_uuid(key: &[u8], at: usize) -> Result<Uuid> {
    key.get(at..at + 16)
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(Uuid::from_bytes)
        .ok_or(Error::BadCursor)
}

/// An i64 from 8 bytes of a cursor key.
pub(super) fn key_i64(key: &[u8], at: usize) -> Result<i64> {
    key.get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(i64::from_be_bytes)
        .ok_or(Error::BadCursor)
}

/// `rows` (one more than `limit` asked for) as a page, with the cursor after the last kept.
pub(super) fn paged<T>(
    mut rows: Vec<Row>,
    limit: usize,
    keys: &Keys,
    key: impl Fn(&Row) -> Vec<u8>,
    item: impl Fn(&Row) -> Result<T>,
) -> Result<Page<T>> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = if more {
        rows.last().map(|r| keys.cursor(&key(r)))
    } else {
        None
    };
    let items = rows.iter().map(item).collect::<Result<Vec<_>>>()?;
    Ok(Page { items, next })
}

/// The limit to ask the database for: one more than the page holds.
pub(super) fn fetch(page: &PageRequest) -> i64 {
    page.clamped_limit() as i64 + 1
}

pub(super) fn id_key(r: &Row, col: usize) -> Vec<u8> {
    r.get::<_, Uuid>(col).as_bytes().to_vec()
}

/// The first string greater than every string starting with `prefix`.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

fn customer_doc(r: &Row) -> Result<Customer> {
    decode("customers", r.get::<_, &[u8]>(0))
}

fn interaction_doc(r: &Row) -> Result<Interaction> {
    records::decode_interaction(r.get::<_, &[u8]>(0))
}

impl PgStore {
    /// A page of records keyed by id, oldest first: `sql` takes the tenant, the id to start
    /// after and the row count, and returns `doc, id`.
    fn list_docs<V: serde::de::DeserializeOwned>(
        &self,
        tenant: &TenantSlug,
        page: &PageRequest,
        list: List,
        table: &'static str,
        sql: &'static str,
    ) -> Result<Page<V>> {
        let limit = page.clamped_limit();
        let n = fetch(page);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let keys = Keys::new(list, tenant, b"");
            let after = keys.after(page)?.map_or(Ok(FIRST), |k| key_uuid(&k, 0))?;
            let rows = r.query(sql, &[&t, &after, &n])?;
            paged(
                rows,
                limit,
                &keys,
                |r| id_key(r, 1),
                |r| decode(table, r.get::<_, &[u8]>(0)),
            )
        })
    }

    fn one_doc<V: serde::de::DeserializeOwned>(
        &self,
        tenant: &TenantSlug,
        table: &'static str,
        sql: &'static str,
        params: impl FnOnce(i64) -> Vec<Box<dyn ToSql + Sync>>,
    ) -> Result<Option<V>> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let owned = params(t);
            let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(AsRef::as_ref).collect();
            r.query_opt(sql, &refs)?
                .map(|row| decode(table, row.get::<_, &[u8]>(0)))
                .transpose()
        })
    }

    fn customer_where(
        &self,
        tenant: &TenantSlug,
        sql: &'static str,
        value: &str,
    ) -> Result<Option<Customer>> {
        let value = value.to_owned();
        self.one_doc(tenant, "customers", sql, move |t| {
            vec![Box::new(t), Box::new(value)]
        })
    }

    /// Creates a tenant, its head and its first event; with a key, once.
    fn create_tenant_inner(
        &self,
        input: TenantInput,
        actor: &Actor,
        key: Option<&IdempotencyKey>,
    ) -> Result<Once<Tenant>> {
        let started = Instant::now();
        let once = self.transact(|tx| {
            if let Some(key) = key
                && let Some(once) = replay(tx, 0, key, |s| match s {
                    Stored::Tenant(t) => Some(t),
                    _ => None,
                })?
            {
                return Ok(once);
            }
            let now = self.shared.config.clock.now();
            let tenant = Tenant::new(input.clone(), now)?;
            if tx
                .query_opt(
                    "SELECT 1 FROM kith_tenants WHERE slug = $1",
                    &[&tenant.slug.as_str()],
                )?
                .is_some()
            {
                return Err(Error::TenantExists(tenant.slug.to_string()));
            }
            let id: i64 = tx
                .query_opt("SELECT nextval('kith_tenant_ids')", &[])?
                .map_or(0, |r| r.get(0));
            tx.execute(
                "INSERT INTO kith_tenants (tenant_id, slug, doc) VALUES ($1, $2, $3)",
                &[&id, &tenant.slug.as_str(), &encode(&tenant)?],
            )?;
            tx.execute(
                "INSERT INTO kith_heads (tenant_id, head) VALUES ($1, 0)",
                &[&id],
            )?;
            let ctx = Ctx {
                actor,
                now,
                depth: 0,
            };
            let mut txn = PgTxn::new(tx, id, &self.shared.node);
            engine::event(
                &mut txn,
                &ctx,
                EventKind::TenantCreated,
                EntityRef::Tenant,
                Vec::new(),
            )?;
            txn.finish()?;
            if let Some(key) = key {
                remember(tx, 0, key, now, Stored::Tenant(tenant.clone()))?;
            }
            Ok(Once {
                value: tenant,
                replayed: false,
            })
        })?;
        if !once.replayed {
            self.committed(vec![once.value.slug.clone()], started, 1);
        }
        Ok(once)
    }

    /// The engine's ops for a tenant in one transaction; with a key, once.
    fn write_outputs(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Once<Vec<Output>>> {
        self.write_ops(tenant, actor, |tx, id, actor, now| {
            if let Some(key) = key
                && let Some(once) = replay(tx, id, key, |s| match s {
                    Stored::Outputs(o) => Some(o),
                    _ => None,
                })?
            {
                return Ok(once);
            }
            let ctx = Ctx {
                actor,
                now,
                depth: 0,
            };
            let mut txn = PgTxn::new(tx, id, &self.shared.node);
            let outputs = engine::apply_all(&mut txn, &ctx, ops.clone())?;
            txn.finish()?;
            if let Some(key) = key {
                remember(tx, id, key, now, Stored::Outputs(outputs.clone()))?;
            }
            Ok(Once {
                value: outputs,
                replayed: false,
            })
        })
    }

    /// Creates or revokes a token; with a key, once.
    fn token_work(
        &self,
        work: impl Fn(&mut Tx<'_>) -> Result<TokenRecord>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Once<TokenRecord>> {
        let started = Instant::now();
        let once = self.transact(|tx| {
            if let Some(key) = key
                && let Some(once) = replay(tx, 0, key, |s| match s {
                    Stored::Token(t) => Some(t),
                    _ => None,
                })?
            {
                return Ok(once);
            }
            let token = work(tx)?;
            if let Some(key) = key {
                let now = self.shared.config.clock.now();
                remember(tx, 0, key, now, Stored::Token(token.clone()))?;
            }
            Ok(Once {
                value: token,
                replayed: false,
            })
        })?;
        // Listeners hear every commit, as on the embedded store (metrics count them).
        self.committed(Vec::new(), started, 1);
        Ok(once)
    }
}

/// The first request's result when `key` was used before in `scope` (0 outside tenants),
/// taken out by `pick`; `None` when the key is new. A key reused with another request, or for
/// another kind of request, is `IdempotencyKeyReused`.
fn replay<T>(
    tx: &mut Tx<'_>,
    scope: i64,
    key: &IdempotencyKey,
    pick: impl FnOnce(Stored) -> Option<T>,
) -> Result<Option<Once<T>>> {
    let row = tx.query_opt(
        "SELECT doc FROM kith_idempotency WHERE tenant_id = $1 AND key = $2 FOR UPDATE",
        &[&scope, &key.key],
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let record: IdempotencyRecord = decode("idempotency", row.get::<_, &[u8]>(0))?;
    if record.fingerprint != key.fingerprint {
        return Err(Error::IdempotencyKeyReused(key.key.clone()));
    }
    let value = pick(record.result).ok_or_else(|| Error::IdempotencyKeyReused(key.key.clone()))?;
    Ok(Some(Once {
        value,
        replayed: true,
    }))
}

/// Records the result of the first request with `key`.
fn remember(
    tx: &mut Tx<'_>,
    scope: i64,
    key: &IdempotencyKey,
    now: Timestamp,
    result: Stored,
) -> Result<()> {
    let record = IdempotencyRecord {
        fingerprint: key.fingerprint,
        created_at: now,
        result,
    };
    tx.defer(
        "INSERT INTO kith_idempotency (tenant_id, key, doc) VALUES ($1, $2, $3)",
        &[&scope, &key.key, &encode(&record)?],
    )
}

/// Tables whose rows belong to one tenant, deleted with it.
const TENANT_TABLES: &[&str] = &[
    "SELECT pg_advisory_xact_lock(-($1::bigint))",
    "DELETE FROM kith_event_queue WHERE tenant_id = $1",
    "DELETE FROM kith_events WHERE tenant_id = $1",
    "DELETE FROM kith_customers WHERE tenant_id = $1",
    "DELETE FROM kith_customer_external_ids WHERE tenant_id = $1",
    "DELETE FROM kith_customer_tags WHERE tenant_id = $1",
    "DELETE FROM kith_interactions WHERE tenant_id = $1",
    "DELETE FROM kith_pipelines WHERE tenant_id = $1",
    "DELETE FROM kith_deals WHERE tenant_id = $1",
    "DELETE FROM kith_users WHERE tenant_id = $1",
    "DELETE FROM kith_teams WHERE tenant_id = $1",
    "DELETE FROM kith_team_members WHERE tenant_id = $1",
    "DELETE FROM kith_quotas WHERE tenant_id = $1",
    "DELETE FROM kith_field_definitions WHERE tenant_id = $1",
    "DELETE FROM kith_field_index WHERE tenant_id = $1",
    "DELETE FROM kith_idempotency WHERE tenant_id = $1",
    "DELETE FROM kith_tokens WHERE tenant_id = $1",
    "DELETE FROM kith_enablements WHERE tenant_id = $1",
    "DELETE FROM kith_cursors WHERE tenant_id = $1",
    "DELETE FROM kith_health WHERE tenant_id = $1",
    "DELETE FROM kith_models WHERE tenant_id = $1",
    "DELETE FROM kith_deliveries WHERE tenant_id = $1",
    "DELETE FROM kith_scores WHERE tenant_id = $1",
    "DELETE FROM kith_segments WHERE tenant_id = $1",
    "DELETE FROM kith_segment_members WHERE tenant_id = $1",
    "DELETE FROM kith_jobs WHERE tenant_id = $1",
    "DELETE FROM kith_leases WHERE tenant_id = $1",
    "DELETE FROM kith_heads WHERE tenant_id = $1",
    "DELETE FROM kith_tenants WHERE tenant_id = $1",
];

impl Store for PgStore {
    fn create_tenant(&self, input: TenantInput, actor: &Actor) -> Result<Tenant> {
        self.create_tenant_inner(input, actor, None)
            .map(|o| o.value)
    }

    fn tenant(&self, slug: &TenantSlug) -> Result<Option<Tenant>> {
        self.read(|r| {
            r.query_opt(
                "SELECT doc FROM kith_tenants WHERE slug = $1",
                &[&slug.as_str()],
            )?
            .map(|row| decode("tenants", row.get::<_, &[u8]>(0)))
            .transpose()
        })
    }

    fn tenants(&self) -> Result<Vec<Tenant>> {
        self.read(|r| {
            r.query("SELECT doc FROM kith_tenants ORDER BY slug", &[])?
                .iter()
                .map(|row| decode("tenants", row.get::<_, &[u8]>(0)))
                .collect()
        })
    }

    fn write(&self, tenant: &TenantSlug, actor: &Actor, ops: Vec<Op>) -> Result<Vec<Output>> {
        self.write_outputs(tenant, actor, ops, None)
            .map(|o| o.value)
    }

    fn write_each(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
    ) -> Result<Vec<Result<Output>>> {
        self.write_ops(tenant, actor, |tx, id, actor, now| {
            let ctx = Ctx {
                actor,
                now,
                depth: 0,
            };
            let mut txn = PgTxn::new(tx, id, &self.shared.node);
            let results = engine::apply_each(&mut txn, &ctx, ops.clone())?;
            txn.finish()?;
            Ok(results)
        })
    }

    fn customer(&self, tenant: &TenantSlug, id: CustomerId) -> Result<Option<Customer>> {
        let id = uuid(id.to_bytes());
        self.one_doc(
            tenant,
            "customers",
            "SELECT doc FROM kith_customers WHERE tenant_id = $1 AND id = $2",
            move |t| vec![Box::new(t), Box::new(id)],
        )
    }

    fn customer_nonblocking(
        &self,
        tenant: &TenantSlug,
        id: CustomerId,
    ) -> Option<crate::ReadFuture<Option<Customer>>> {
        if self
            .shared
            .closed
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return None;
        }
        let t = self.cached_tenant(tenant)?;
        self.shared.fast.customer(t, id)
    }

    fn customer_by_email(&self, tenant: &TenantSlug, email: &Email) -> Result<Option<Customer>> {
        let exact = self.customer_where(
            tenant,
            "SELECT doc FROM kith_customers WHERE tenant_id = $1 AND email = $2",
            email.as_str(),
        )?;
        if exact.is_some() {
            return Ok(exact);
        }
        let (likeness, identity) = (email.likeness(), email.identity());
        self.one_doc(
            tenant,
            "customers",
            "SELECT doc FROM kith_customers WHERE tenant_id = $1 AND email_like = $2 \
             AND email_identity = $3 ORDER BY id LIMIT 1",
            move |t| vec![Box::new(t), Box::new(likeness), Box::new(identity)],
        )
    }

    fn customers_by_email_likeness(
        &self,
        tenant: &TenantSlug,
        likeness: &str,
        limit: usize,
    ) -> Result<Vec<Customer>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query(
                "SELECT doc FROM kith_customers WHERE tenant_id = $1 AND email_like = $2 \
                 ORDER BY email_identity, id LIMIT $3",
                &[&t, &likeness, &limit],
            )?
            .iter()
            .map(|row| decode("customers", row.get::<_, &[u8]>(0)))
            .collect()
        })
    }

    fn email_likeness_groups(
        &self,
        tenant: &TenantSlug,
        after: Option<&str>,
        budget: usize,
    ) -> Result<(Vec<Vec<CustomerId>>, Option<String>)> {
        let budget = i64::try_from(budget.max(1)).unwrap_or(i64::MAX);
        let depth = i32::try_from(crate::MAX_LIKENESS_GROUP).unwrap_or(i32::MAX);
        let after = after.unwrap_or("");
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            // At most `budget` index entries, grouped; each group's first `depth` members.
            let rows = r.query(
                "SELECT email_like, count(*), \
                 (array_agg(id ORDER BY email_identity, id))[1:$4] \
                 FROM (SELECT email_like, email_identity, id FROM kith_customers \
                       WHERE tenant_id = $1 AND email_like IS NOT NULL AND email_like > $2 \
                       ORDER BY email_like, email_identity, id LIMIT $3) scanned \
                 GROUP BY email_like ORDER BY email_like",
                &[&t, &after, &budget, &depth],
            )?;
            let read: i64 = rows.iter().map(|row| row.get::<_, i64>(1)).sum();
            let ids = |row: &Row, i: usize| -> Vec<CustomerId> {
                row.get::<_, Vec<Uuid>>(i)
                    .iter()
                    .map(|u| CustomerId::from_bytes(*u.as_bytes()))
                    .collect()
            };
            let mut groups: Vec<(String, Vec<CustomerId>)> =
                rows.iter().map(|row| (row.get(0), ids(row, 2))).collect();
            let mut next = None;
            if read >= budget {
                // The budget may have cut the last group: it is read again on the next page,
                // or, when it is the only one, read here whole (its first `depth` members).
                if groups.len() > 1 {
                    groups.pop();
                } else if let Some((likeness, members)) = groups.first_mut() {
                    let found = r.query(
                        "SELECT array(SELECT id FROM kith_customers WHERE tenant_id = $1 \
                         AND email_like = $2 ORDER BY email_identity, id LIMIT $3)",
                        &[&t, &*likeness, &i64::from(depth)],
                    )?;
                    if let Some(row) = found.first() {
                        *members = ids(row, 0);
                    }
                }
                next = groups.last().map(|(l, _)| l.clone());
            }
            groups.retain(|(_, ids)| ids.len() > 1);
            Ok((groups.into_iter().map(|(_, ids)| ids).collect(), next))
        })
    }

    fn organization_members(
        &self,
        tenant: &TenantSlug,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<Vec<(CustomerId, CustomerId)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after = after.map_or(FIRST, |o| uuid(o.to_bytes()));
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let rows = r.query(
                "SELECT organization, id FROM kith_customers WHERE tenant_id = $1 \
                 AND organization > $2 ORDER BY organization, id LIMIT $3",
                &[&t, &after, &limit],
            )?;
            Ok(rows
                .iter()
                .map(|row| {
                    let id = |i| CustomerId::from_bytes(*row.get::<_, Uuid>(i).as_bytes());
                    (id(0), id(1))
                })
                .collect())
        })
    }

    fn customer_by_phone(&self, tenant: &TenantSlug, phone: &Phone) -> Result<Option<Customer>> {
        self.customer_where(
            tenant,
            "SELECT doc FROM kith_customers WHERE tenant_id = $1 AND phone = $2",
            phone.as_str(),
        )
    }

    fn customer_by_external_id(
        &self,
        tenant: &TenantSlug,
        source: &str,
        id: &str,
    ) -> Result<Option<Customer>> {
        let (source, id) = (source.to_owned(), id.to_owned());
        self.one_doc(
            tenant,
            "customers",
            "SELECT c.doc FROM kith_customer_external_ids x JOIN kith_customers c \
             ON c.tenant_id = x.tenant_id AND c.id = x.customer \
             WHERE x.tenant_id = $1 AND x.source = $2 AND x.external_id = $3",
            move |t| vec![Box::new(t), Box::new(source), Box::new(id)],
        )
    }

    fn customers(
        &self,
        tenant: &TenantSlug,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<Customer>> {
        let limit = page.clamped_limit();
        let n = fetch(page);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            match filter {
                CustomerFilter::All => {
                    let keys = Keys::new(List::Customers, tenant, b"");
                    let after = keys.after(page)?.map_or(Ok(FIRST), |k| key_uuid(&k, 0))?;
                    let rows = r.query(
                        "SELECT doc, id FROM kith_customers WHERE tenant_id = $1 AND id > $2 \
                         ORDER BY id LIMIT $3",
                        &[&t, &after, &n],
                    )?;
                    paged(rows, limit, &keys, |r| id_key(r, 1), customer_doc)
                }
                CustomerFilter::Tag(tag) => {
                    let keys = Keys::new(List::Tag, tenant, tag.as_str().as_bytes());
                    let after = keys.after(page)?.map_or(Ok(FIRST), |k| key_uuid(&k, 0))?;
                    let rows = r.query(
                        "SELECT c.doc, c.id FROM kith_customer_tags g JOIN kith_customers c \
                         ON c.tenant_id = g.tenant_id AND c.id = g.customer \
                         WHERE g.tenant_id = $1 AND g.tag = $2 AND g.customer > $3 \
                         ORDER BY g.customer LIMIT $4",
                        &[&t, &tag.as_str(), &after, &n],
                    )?;
                    paged(rows, limit, &keys, |r| id_key(r, 1), customer_doc)
                }
                CustomerFilter::Lifecycle(l) => {
                    let code = i16::from(l.code());
                    let keys = Keys::new(List::Lifecycle, tenant, &[l.code()]);
                    let after = keys.after(page)?.map_or(Ok(FIRST), |k| key_uuid(&k, 0))?;
                    let rows = r.query(
                        "SELECT doc, id FROM kith_customers WHERE tenant_id = $1 AND lifecycle = $2 \
                         AND id > $3 ORDER BY id LIMIT $4",
                        &[&t, &code, &after, &n],
                    )?;
                    paged(rows, limit, &keys, |r| id_key(r, 1), customer_doc)
                }
                CustomerFilter::Owner(o) => {
                    let keys = Keys::new(List::Owner, tenant, o.as_bytes());
                    let after = keys.after(page)?.map_or(Ok(FIRST), |k| key_uuid(&k, 0))?;
                    let rows = r.query(
                        "SELECT doc, id FROM kith_customers WHERE tenant_id = $1 AND owner = $2 \
                         AND id > $3 ORDER BY id LIMIT $4",
                        &[&t, o, &after, &n],
                    )?;
                    paged(rows, limit, &keys, |r| id_key(r, 1), customer_doc)
                }
                CustomerFilter::Organization(org) => {
                    let keys = Keys::new(List::Organization, tenant, &org.to_bytes());
                    let after = keys.after(page)?.map_or(Ok(FIRST), |k| key_uuid(&k, 0))?;
                    let rows = r.query(
                        "SELECT doc, id FROM kith_customers WHERE tenant_id = $1 \
                         AND organization = $2 AND id > $3 ORDER BY id LIMIT $4",
                        &[&t, &uuid(org.to_bytes()), &after, &n],
                    )?;
                    paged(rows, limit, &keys, |r| id_key(r, 1), customer_doc)
                }
                CustomerFilter::NamePrefix(p) => {
                    let prefix = p.trim().to_lowercase();
                    let keys = Keys::new(List::Name, tenant, prefix.as_bytes());
                    let (after_name, after_id) = match keys.after(page)? {
                        None => (String::new(), FIRST),
                        Some(k) => {
                            let split = k.len().checked_sub(17).ok_or(Error::BadCursor)?;
                            let name = String::from_utf8(k[..split].to_vec())
                                .map_err(|_| Error::BadCursor)?;
                            (name, key_uuid(&k, split + 1)?)
                        }
                    };
                    let rows = r.query(
                        "SELECT doc, id, name_lower FROM kith_customers WHERE tenant_id = $1 \
                         AND name_lower >= $2 AND name_lower < $3 AND (name_lower, id) > ($4, $5) \
                         ORDER BY name_lower, id LIMIT $6",
                        &[&t, &prefix, &prefix_end(&prefix), &after_name, &after_id, &n],
                    )?;
                    paged(
                        rows,
                        limit,
                        &keys,
                        |r| {
                            let mut k = r.get::<_, &str>(2).as_bytes().to_vec();
                            k.push(0);
                            k.extend_from_slice(r.get::<_, Uuid>(1).as_bytes());
                            k
                        },
                        customer_doc,
                    )
                }
                CustomerFilter::Field(key) => {
                    let keys = Keys::new(List::Field, tenant, key.as_bytes());
                    let (after_value, after_id) = match keys.after(page)? {
                        None => (Vec::new(), FIRST),
                        Some(k) => {
                            let split = k.len().checked_sub(16).ok_or(Error::BadCursor)?;
                            (k[..split].to_vec(), key_uuid(&k, split)?)
                        }
                    };
                    let code = i16::from(FieldObject::Customer.code());
                    let rows = r.query(
                        "SELECT c.doc, i.id, i.value FROM kith_field_index i JOIN kith_customers c \
                         ON c.tenant_id = i.tenant_id AND c.id = i.id \
                         WHERE i.tenant_id = $1 AND i.object = $2 AND i.key = $3 \
                         AND (i.value, i.id) > ($4, $5) ORDER BY i.value, i.id LIMIT $6",
                        &[&t, &code, key, &after_value, &after_id, &n],
                    )?;
                    paged(
                        rows,
                        limit,
                        &keys,
                        |r| {
                            let mut k = r.get::<_, Vec<u8>>(2);
                            k.extend_from_slice(r.get::<_, Uuid>(1).as_bytes());
                            k
                        },
                        customer_doc,
                    )
                }
                CustomerFilter::EmailPrefix(p) => {
                    let prefix = p.trim().to_owned();
                    let keys = Keys::new(List::Email, tenant, prefix.as_bytes());
                    let after = match keys.after(page)? {
                        None => String::new(),
                        Some(k) => String::from_utf8(k).map_err(|_| Error::BadCursor)?,
                    };
                    let rows = r.query(
                        "SELECT doc, email FROM kith_customers WHERE tenant_id = $1 \
                         AND email >= $2 AND email < $3 AND email > $4 ORDER BY email LIMIT $5",
                        &[&t, &prefix, &prefix_end(&prefix), &after, &n],
                    )?;
                    paged(
                        rows,
                        limit,
                        &keys,
                        |r| r.get::<_, &str>(1).as_bytes().to_vec(),
                        customer_doc,
                    )
                }
            }
        })
    }

    fn interaction(&self, tenant: &TenantSlug, id: InteractionId) -> Result<Option<Interaction>> {
        let id = uuid(id.to_bytes());
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query_opt(
                "SELECT doc FROM kith_interactions WHERE tenant_id = $1 AND id = $2",
                &[&t, &id],
            )?
            .map(|row| interaction_doc(&row))
            .transpose()
        })
    }

    fn timeline(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
        page: &PageRequest,
    ) -> Result<Page<Interaction>> {
        let limit = page.clamped_limit();
        let n = fetch(page);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let keys = Keys::new(List::Timeline, tenant, &customer.to_bytes());
            let (at, id) = match keys.after(page)? {
                None => (i64::MAX, LAST),
                Some(k) => (key_i64(&k, 0)?, key_uuid(&k, 8)?),
            };
            let rows = r.query(
                "SELECT doc, occurred_at, id FROM kith_interactions WHERE tenant_id = $1 \
                 AND customer = $2 AND (occurred_at, id) < ($3, $4) \
                 ORDER BY occurred_at DESC, id DESC LIMIT $5",
                &[&t, &uuid(customer.to_bytes()), &at, &id, &n],
            )?;
            paged(rows, limit, &keys, time_id_key, interaction_doc)
        })
    }

    fn work(
        &self,
        tenant: &TenantSlug,
        query: &WorkQuery,
        page: &PageRequest,
    ) -> Result<Page<Interaction>> {
        macro_rules! work_sql {
            ($assignee:literal) => {
                concat!(
                    "SELECT doc, work_due, priority, id FROM kith_interactions ",
                    "WHERE tenant_id = $1 AND work_status = ANY($2) AND kind = ANY($3) ",
                    "AND work_due <= $4 AND (work_due, priority, id) > ($5, $6, $7)",
                    $assignee,
                    " ORDER BY work_due, priority, id LIMIT $8"
                )
            };
        }
        let limit = page.clamped_limit();
        let n = fetch(page);
        let statuses: Vec<i16> = query.statuses.iter().map(|s| i16::from(s.code())).collect();
        let kinds: Vec<i16> = if query.kinds.is_empty() {
            InteractionKind::ALL
                .iter()
                .filter(|k| k.has_status())
                .map(|k| i16::from(k.code()))
                .collect()
        } else {
            query.kinds.iter().map(|k| i16::from(k.code())).collect()
        };
        let last_due = query
            .due_before
            .map_or(i64::MAX, |d| d.as_micros().saturating_sub(1));
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let keys = Keys::new(List::Work, tenant, b"");
            let (due, rank, id) = match keys.after(page)? {
                None => (i64::MIN, -1i16, FIRST),
                Some(k) => {
                    let (due, rank, id) = records::split_work_position(&k)?;
                    (due, i16::from(rank), Uuid::from_bytes(id))
                }
            };
            let common: [&(dyn ToSql + Sync); 8] =
                [&t, &statuses, &kinds, &last_due, &due, &rank, &id, &n];
            let rows = match &query.assignees {
                Assignees::Any => r.query(work_sql!(""), &common)?,
                Assignees::Unassigned => r.query(work_sql!(" AND assignee IS NULL"), &common)?,
                Assignees::Users(users) => {
                    let mut params = common.to_vec();
                    params.push(users);
                    r.query(work_sql!(" AND assignee = ANY($9)"), &params)?
                }
            };
            paged(
                rows,
                limit,
                &keys,
                |row| {
                    let rank = u8::try_from(row.get::<_, i16>(2)).unwrap_or(u8::MAX);
                    let id = *row.get::<_, Uuid>(3).as_bytes();
                    records::work_position(row.get(1), rank, id).to_vec()
                },
                interaction_doc,
            )
        })
    }

    fn deal_timeline(
        &self,
        tenant: &TenantSlug,
        deal: DealId,
        page: &PageRequest,
    ) -> Result<Page<Interaction>> {
        let limit = page.clamped_limit();
        let n = fetch(page);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let keys = Keys::new(List::DealTimeline, tenant, &deal.to_bytes());
            let (at, id) = match keys.after(page)? {
                None => (i64::MAX, LAST),
                Some(k) => (key_i64(&k, 0)?, key_uuid(&k, 8)?),
            };
            let rows = r.query(
                "SELECT doc, occurred_at, id FROM kith_interactions WHERE tenant_id = $1 \
                 AND deal = $2 AND (occurred_at, id) < ($3, $4) \
                 ORDER BY occurred_at DESC, id DESC LIMIT $5",
                &[&t, &uuid(deal.to_bytes()), &at, &id, &n],
            )?;
            paged(rows, limit, &keys, time_id_key, interaction_doc)
        })
    }

    fn due_tasks(
        &self,
        tenant: &TenantSlug,
        until: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<Interaction>> {
        let limit = page.clamped_limit();
        let n = fetch(page);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let keys = Keys::new(List::Due, tenant, b"");
            let (at, id) = match keys.after(page)? {
                None => (i64::MIN, FIRST),
                Some(k) => (key_i64(&k, 0)?, key_uuid(&k, 8)?),
            };
            let rows = r.query(
                "SELECT doc, due_at, id FROM kith_interactions WHERE tenant_id = $1 \
                 AND due_at IS NOT NULL AND due_at <= $2 AND (due_at, id) > ($3, $4) \
                 ORDER BY due_at, id LIMIT $5",
                &[&t, &until.as_micros(), &at, &id, &n],
            )?;
            paged(rows, limit, &keys, time_id_key, interaction_doc)
        })
    }

    fn pipeline(&self, tenant: &TenantSlug, id: PipelineId) -> Result<Option<Pipeline>> {
        let id = uuid(id.to_bytes());
        self.one_doc(
            tenant,
            "pipelines",
            "SELECT doc FROM kith_pipelines WHERE tenant_id = $1 AND id = $2",
            move |t| vec![Box::new(t), Box::new(id)],
        )
    }

    fn all_deals(
        &self,
        tenant: &TenantSlug,
        owner: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Deal>> {
        let Some(owner) = owner else {
            return self.list_docs(
                tenant,
                page,
                List::AllDeals,
                "deals",
                "SELECT doc, id FROM kith_deals WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            );
        };
        let limit = page.clamped_limit();
        let n = fetch(page);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let keys = Keys::new(List::DealOwner, tenant, owner.as_bytes());
            let after = keys.after(page)?.map_or(Ok(FIRST), |k| key_uuid(&k, 0))?;
            let rows = r.query(
                "SELECT doc, id FROM kith_deals WHERE tenant_id = $1 AND owner = $2 AND id > $3 \
                 ORDER BY id LIMIT $4",
                &[&t, &owner, &after, &n],
            )?;
            paged(
                rows,
                limit,
                &keys,
                |r| id_key(r, 1),
                |r| decode("deals", r.get::<_, &[u8]>(0)),
            )
        })
    }

    fn pipelines(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<Pipeline>> {
        self.list_docs(
            tenant,
            page,
            List::Pipelines,
            "pipelines",
            "SELECT doc, id FROM kith_pipelines WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
    }

    fn user(&self, tenant: &TenantSlug, id: UserId) -> Result<Option<User>> {
        let id = uuid(id.to_bytes());
        self.one_doc(
            tenant,
            "users",
            "SELECT doc FROM kith_users WHERE tenant_id = $1 AND id = $2",
            move |t| vec![Box::new(t), Box::new(id)],
        )
    }

    fn users(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<User>> {
        self.list_docs(
            tenant,
            page,
            List::Users,
            "users",
            "SELECT doc, id FROM kith_users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
    }

    fn team(&self, tenant: &TenantSlug, id: TeamId) -> Result<Option<Team>> {
        let id = uuid(id.to_bytes());
        self.one_doc(
            tenant,
            "teams",
            "SELECT doc FROM kith_teams WHERE tenant_id = $1 AND id = $2",
            move |t| vec![Box::new(t), Box::new(id)],
        )
    }

    fn teams(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<Team>> {
        self.list_docs(
            tenant,
            page,
            List::Teams,
            "teams",
            "SELECT doc, id FROM kith_teams WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
    }

    fn field_definitions(
        &self,
        tenant: &TenantSlug,
        object: FieldObject,
    ) -> Result<Vec<FieldDefinition>> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query(
                super::txn::FIELD_DEFINITIONS,
                &[&t, &i16::from(object.code())],
            )?
            .iter()
            .map(|row| decode("field_definitions", row.get::<_, &[u8]>(0)))
            .collect()
        })
    }

    fn quotas(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<Quota>> {
        let limit = page.clamped_limit();
        let n = fetch(page);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let keys = Keys::new(List::Quotas, tenant, b"");
            let after = keys.after(page)?.unwrap_or_default();
            let rows = r.query(
                "SELECT doc, key FROM kith_quotas WHERE tenant_id = $1 AND key > $2 \
                 ORDER BY key LIMIT $3",
                &[&t, &after, &n],
            )?;
            paged(
                rows,
                limit,
                &keys,
                |r| r.get::<_, Vec<u8>>(1),
                |r| decode("quotas", r.get::<_, &[u8]>(0)),
            )
        })
    }

    fn team_members(&self, tenant: &TenantSlug, team: TeamId) -> Result<Vec<UserId>> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let rows = r.query(
                "SELECT user_id FROM kith_team_members WHERE tenant_id = $1 AND team = $2 \
                 ORDER BY user_id",
                &[&t, &uuid(team.to_bytes())],
            )?;
            Ok(rows
                .iter()
                .map(|r| UserId::from_bytes(*r.get::<_, Uuid>(0).as_bytes()))
                .collect())
        })
    }

    fn deal(&self, tenant: &TenantSlug, id: DealId) -> Result<Option<Deal>> {
        let id = uuid(id.to_bytes());
        self.one_doc(
            tenant,
            "deals",
            "SELECT doc FROM kith_deals WHERE tenant_id = $1 AND id = $2",
            move |t| vec![Box::new(t), Box::new(id)],
        )
    }

    fn deals(
        &self,
        tenant: &TenantSlug,
        pipeline: PipelineId,
        stage: Option<StageId>,
        page: &PageRequest,
    ) -> Result<Page<Deal>> {
        let limit = page.clamped_limit();
        let n = fetch(page);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let mut filter = pipeline.to_bytes().to_vec();
            if let Some(s) = stage {
                filter.extend_from_slice(&s.to_bytes());
            }
            let keys = Keys::new(List::Deals, tenant, &filter);
            let (after_stage, after_id) = match keys.after(page)? {
                None => (FIRST, FIRST),
                Some(k) => (key_uuid(&k, 0)?, key_uuid(&k, 16)?),
            };
            let p = uuid(pipeline.to_bytes());
            let rows = match stage {
                Some(s) => r.query(
                    "SELECT doc, stage, id FROM kith_deals WHERE tenant_id = $1 AND pipeline = $2 \
                     AND stage = $3 AND (stage, id) > ($4, $5) ORDER BY stage, id LIMIT $6",
                    &[&t, &p, &uuid(s.to_bytes()), &after_stage, &after_id, &n],
                )?,
                None => r.query(
                    "SELECT doc, stage, id FROM kith_deals WHERE tenant_id = $1 AND pipeline = $2 \
                     AND (stage, id) > ($3, $4) ORDER BY stage, id LIMIT $5",
                    &[&t, &p, &after_stage, &after_id, &n],
                )?,
            };
            paged(
                rows,
                limit,
                &keys,
                |r| {
                    let mut k = id_key(r, 1);
                    k.extend_from_slice(&id_key(r, 2));
                    k
                },
                |r| decode("deals", r.get::<_, &[u8]>(0)),
            )
        })
    }

    fn pipeline_report(&self, tenant: &TenantSlug, pipeline: PipelineId) -> Result<PipelineReport> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let mut tx = r.snapshot()?;
            let p = uuid(pipeline.to_bytes());
            let p: Pipeline = tx
                .query_opt(
                    "SELECT doc FROM kith_pipelines WHERE tenant_id = $1 AND id = $2",
                    &[&t, &p],
                )?
                .map(|row| decode("pipelines", row.get::<_, &[u8]>(0)))
                .transpose()?
                .ok_or_else(|| Error::not_found("pipeline", pipeline))?;
            let mut report = ReportBuilder::new(&p);
            for row in tx.query(
                "SELECT doc FROM kith_deals WHERE tenant_id = $1 AND pipeline = $2 \
                 ORDER BY stage, id",
                &[&t, &uuid(pipeline.to_bytes())],
            )? {
                let deal: Deal = decode("deals", row.get::<_, &[u8]>(0))?;
                report.add(&deal);
            }
            Ok(report.finish())
        })
    }

    fn events(&self, tenant: &TenantSlug, after: u64, limit: usize) -> Result<Vec<Event>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit.min(10_000)).unwrap_or(10_000);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query(
                "SELECT seq, doc FROM kith_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&t, &after, &limit],
            )?
            .iter()
            .map(|row| {
                // The number is the row's: events are encoded before they are numbered.
                let mut e = decode_event(row.get::<_, &[u8]>(1))?;
                e.seq = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
                Ok(e)
            })
            .collect()
        })
    }

    fn last_seq(&self, tenant: &TenantSlug) -> Result<u64> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let head: i64 = r
                .query_opt("SELECT head FROM kith_heads WHERE tenant_id = $1", &[&t])?
                .map_or(0, |row| row.get(0));
            Ok(u64::try_from(head).unwrap_or(0))
        })
    }

    fn update_tenant(
        &self,
        slug: &TenantSlug,
        actor: &Actor,
        patch: TenantPatch,
    ) -> Result<Tenant> {
        self.write_ops(slug, actor, |tx, id, actor, now| {
            let mut tenant: Tenant = tx
                .query_opt(
                    "SELECT doc FROM kith_tenants WHERE tenant_id = $1 FOR UPDATE",
                    &[&id],
                )?
                .map(|row| decode("tenants", row.get::<_, &[u8]>(0)))
                .transpose()?
                .ok_or_else(|| Error::TenantNotFound(slug.to_string()))?;
            let changed = tenant.apply(patch.clone())?;
            if !changed.is_empty() {
                tx.execute(
                    "UPDATE kith_tenants SET doc = $2 WHERE tenant_id = $1",
                    &[&id, &encode(&tenant)?],
                )?;
                let ctx = Ctx {
                    actor,
                    now,
                    depth: 0,
                };
                let mut txn = PgTxn::new(tx, id, &self.shared.node);
                let changed = changed.into_iter().map(str::to_owned).collect();
                engine::event(
                    &mut txn,
                    &ctx,
                    EventKind::TenantUpdated,
                    EntityRef::Tenant,
                    changed,
                )?;
                txn.finish()?;
            }
            Ok(tenant)
        })
    }

    fn delete_tenant(&self, slug: &TenantSlug, _actor: &Actor) -> Result<()> {
        self.transact(|tx| {
            let id: i64 = tx
                .query_opt(
                    "SELECT tenant_id FROM kith_tenants WHERE slug = $1 FOR UPDATE",
                    &[&slug.as_str()],
                )?
                .ok_or_else(|| Error::TenantNotFound(slug.to_string()))?
                .get(0);
            for sql in TENANT_TABLES {
                tx.execute(sql, &[&id])?;
            }
            tx.execute("SELECT pg_notify('kith_tenants', $1)", &[&slug.as_str()])?;
            Ok(())
        })?;
        if let Ok(mut t) = self.shared.tenants.write() {
            t.remove(slug.as_str());
        }
        // Its keys are gone with it.
        self.shared.tokens.clear();
        Ok(())
    }

    fn create_tenant_once(
        &self,
        input: TenantInput,
        actor: &Actor,
        key: &IdempotencyKey,
    ) -> Result<Once<Tenant>> {
        self.create_tenant_inner(input, actor, Some(key))
    }

    fn write_once(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
        key: &IdempotencyKey,
    ) -> Result<Once<Vec<Output>>> {
        self.write_outputs(tenant, actor, ops, Some(key))
    }

    fn create_token(
        &self,
        token: TokenRecord,
        key: Option<&IdempotencyKey>,
    ) -> Result<Once<TokenRecord>> {
        self.token_work(
            |tx| {
                let tenant_id: Option<i64> = match token.scope.tenant() {
                    Some(slug) => Some(self.tenant_in(tx, slug)?),
                    None => None,
                };
                if tx
                    .query_opt("SELECT 1 FROM kith_tokens WHERE id = $1", &[&token.id])?
                    .is_some()
                {
                    return Err(Error::Storage(format!(
                        "token id {} exists already; create the token again",
                        token.id
                    )));
                }
                tx.execute(
                    "INSERT INTO kith_tokens (id, tenant_id, doc) VALUES ($1, $2, $3)",
                    &[&token.id, &tenant_id, &encode(&token)?],
                )?;
                Ok(token.clone())
            },
            key,
        )
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        if let Some(record) = self.shared.tokens.get(id) {
            return Ok(Some(record));
        }
        let epoch = self.shared.tokens.epoch();
        let record: Option<TokenRecord> = self.read(|r| {
            r.query_opt("SELECT doc FROM kith_tokens WHERE id = $1", &[&id])?
                .map(|row| decode("tokens", row.get::<_, &[u8]>(0)))
                .transpose()
        })?;
        if let Some(record) = &record {
            self.shared.tokens.put(epoch, record.clone());
        }
        Ok(record)
    }

    fn cached_token(&self, id: &str) -> Option<TokenRecord> {
        self.shared.tokens.get(id)
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        self.read(|r| {
            r.query("SELECT doc FROM kith_tokens ORDER BY id", &[])?
                .iter()
                .map(|row| decode("tokens", row.get::<_, &[u8]>(0)))
                .collect()
        })
    }

    fn revoke_token(&self, id: &str) -> Result<TokenRecord> {
        // Forgotten before and after: no lookup on this node that began before the commit
        // keeps the token, and the other nodes forget it when they hear of it.
        self.shared.tokens.forget(id);
        let revoked = self
            .token_work(
                |tx| {
                    let record = tx
                        .query_opt(
                            "DELETE FROM kith_tokens WHERE id = $1 RETURNING doc",
                            &[&id],
                        )?
                        .map(|row| decode("tokens", row.get::<_, &[u8]>(0)))
                        .transpose()?
                        .ok_or_else(|| Error::not_found("token", id))?;
                    tx.execute("SELECT pg_notify('kith_tokens', $1)", &[&id])?;
                    Ok(record)
                },
                None,
            )
            .map(|o| o.value);
        self.shared.tokens.forget(id);
        revoked
    }

    fn on_commit(&self, listener: CommitListener) {
        if let Ok(mut l) = self.shared.listeners.write() {
            l.push(listener);
        }
    }

    fn check(&self) -> Result<Vec<Inconsistency>> {
        self.read(|r| {
            let mut problems = Vec::new();
            let mut tx = r.snapshot()?;
            for row in tx.query(
                "SELECT t.slug, h.head, count(e.seq), COALESCE(min(e.seq), 0), COALESCE(max(e.seq), 0) \
                 FROM kith_tenants t JOIN kith_heads h ON h.tenant_id = t.tenant_id \
                 LEFT JOIN kith_events e ON e.tenant_id = t.tenant_id \
                 GROUP BY t.slug, h.head ORDER BY t.slug",
                &[],
            )? {
                let (slug, head, count, min, max): (String, i64, i64, i64, i64) =
                    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
                if count != head || (count > 0 && (min != 1 || max != head)) {
                    problems.push(Inconsistency {
                        tenant: slug,
                        problem: format!(
                            "event log: head {head}, {count} events numbered {min} to {max}"
                        ),
                    });
                }
            }
            for row in tx.query(
                "SELECT t.slug, c.doc, c.email, c.phone, c.email_like, c.email_identity \
                 FROM kith_customers c \
                 JOIN kith_tenants t ON t.tenant_id = c.tenant_id",
                &[],
            )? {
                let slug: String = row.get(0);
                let c: Customer = match decode("customers", row.get::<_, &[u8]>(1)) {
                    Ok(c) => c,
                    Err(e) => {
                        problems.push(Inconsistency {
                            tenant: slug,
                            problem: e.to_string(),
                        });
                        continue;
                    }
                };
                let email: Option<String> = row.get(2);
                let phone: Option<String> = row.get(3);
                let like: Option<String> = row.get(4);
                let identity: Option<String> = row.get(5);
                if email.as_deref() != c.email.as_ref().map(Email::as_str)
                    || phone.as_deref() != c.phone.as_ref().map(Phone::as_str)
                    || like != c.email.as_ref().map(Email::likeness)
                    || identity != c.email.as_ref().map(Email::identity)
                {
                    problems.push(Inconsistency {
                        tenant: slug,
                        problem: format!(
                            "customer {}: indexed email, email identity or phone differ",
                            c.id
                        ),
                    });
                }
            }
            // The columns that index work items, deal timelines and deal owners agree with
            // the records.
            for row in tx.query(
                "SELECT t.slug, i.doc, i.deal, i.assignee, i.work_status, i.work_due, i.priority, \
                 i.kind FROM kith_interactions i JOIN kith_tenants t ON t.tenant_id = i.tenant_id",
                &[],
            )? {
                let slug: String = row.get(0);
                let i = match records::decode_interaction(row.get::<_, &[u8]>(1)) {
                    Ok(i) => i,
                    Err(e) => {
                        problems.push(Inconsistency {
                            tenant: slug,
                            problem: e.to_string(),
                        });
                        continue;
                    }
                };
                let w = super::txn::WorkColumns::of(&i);
                let stored = super::txn::WorkColumns {
                    deal: row.get(2),
                    assignee: row.get(3),
                    status: row.get(4),
                    due: row.get(5),
                    priority: row.get(6),
                    kind: row.get::<_, Option<i16>>(7).unwrap_or(-1),
                };
                if stored != w {
                    problems.push(Inconsistency {
                        tenant: slug,
                        problem: format!(
                            "interaction {}: indexed deal, assignee or work columns differ",
                            i.id
                        ),
                    });
                }
            }
            for row in tx.query(
                "SELECT t.slug, d.doc, d.owner FROM kith_deals d \
                 JOIN kith_tenants t ON t.tenant_id = d.tenant_id",
                &[],
            )? {
                let slug: String = row.get(0);
                match decode::<Deal>("deals", row.get::<_, &[u8]>(1)) {
                    Ok(d) if d.owner != row.get::<_, Option<String>>(2) => {
                        problems.push(Inconsistency {
                            tenant: slug,
                            problem: format!("deal {}: indexed owner differs", d.id),
                        });
                    }
                    Ok(_) => {}
                    Err(e) => problems.push(Inconsistency {
                        tenant: slug,
                        problem: e.to_string(),
                    }),
                }
            }
            Ok(problems)
        })
    }

    fn stats(&self) -> Result<Stats> {
        self.read(|r| {
            let count = |r: &mut Reader<'_>, sql: &'static str, t: i64| -> Result<u64> {
                let n: i64 = r.query_opt(sql, &[&t])?.map_or(0, |row| row.get(0));
                Ok(u64::try_from(n).unwrap_or(0))
            };
            let tenants: Vec<(i64, String)> = r
                .query(
                    "SELECT tenant_id, slug FROM kith_tenants ORDER BY slug",
                    &[],
                )?
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect();
            let mut out = Vec::with_capacity(tenants.len());
            for (t, slug) in tenants {
                out.push(TenantStats {
                    tenant: slug,
                    customers: count(
                        r,
                        "SELECT count(*) FROM kith_customers WHERE tenant_id = $1",
                        t,
                    )?,
                    interactions: count(
                        r,
                        "SELECT count(*) FROM kith_interactions WHERE tenant_id = $1",
                        t,
                    )?,
                    pipelines: count(
                        r,
                        "SELECT count(*) FROM kith_pipelines WHERE tenant_id = $1",
                        t,
                    )?,
                    deals: count(r, "SELECT count(*) FROM kith_deals WHERE tenant_id = $1", t)?,
                    events: count(r, "SELECT head FROM kith_heads WHERE tenant_id = $1", t)?,
                });
            }
            let size: i64 = r
                .query_opt("SELECT pg_database_size(current_database())", &[])?
                .map_or(0, |row| row.get(0));
            Ok(Stats {
                schema_version: PG_SCHEMA_VERSION,
                file_bytes: u64::try_from(size).unwrap_or(0),
                tenants: out,
            })
        })
    }

    fn backup(&self, _dest: &Path) -> Result<()> {
        Err(Error::Storage(
            "a PostgreSQL store is backed up by PostgreSQL: use pg_dump, or your provider's \
             snapshots"
                .into(),
        ))
    }

    fn close(&self) {
        PgStore::close(self);
    }
}

/// The key of a row ordered by (time, id): columns 1 and 2.
fn time_id_key(r: &Row) -> Vec<u8> {
    let mut k = r.get::<_, i64>(1).to_be_bytes().to_vec();
    k.extend_from_slice(r.get::<_, Uuid>(2).as_bytes());
    k
}
