//! The read side: [`Store`] for [`RedbStore`]. Each query reads one consistent snapshot.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use redb::{ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable};
use serde::de::DeserializeOwned;

use super::apply::TenantRecord;
use super::derive;
use super::tables::{K, T, prefix_end, trailing_id};
use super::tx::decode;
use super::{RedbStore, Work};
use crate::records;
use crate::{
    Assignees, CommitListener, Cursor, CustomerFilter, IdempotencyKey, Inconsistency, Once, Op,
    Output, Page, PageRequest, Stats, Store, TenantStats, TokenRecord, WorkQuery,
};
use crate::{Error, Result};
use kith_model::{
    Actor, Customer, CustomerId, Deal, DealId, Email, Event, FieldDefinition, FieldObject,
    Interaction, InteractionId, Phone, Pipeline, PipelineId, PipelineReport, Quota, ReportBuilder,
    StageId, Team, TeamId, Tenant, TenantInput, TenantPatch, TenantSlug, Timestamp, User, UserId,
};

pub(super) type Table = ReadOnlyTable<&'static [u8], &'static [u8]>;

pub(super) fn open(txn: &ReadTransaction, t: T) -> Result<Table> {
    Ok(txn.open_table(t.def())?)
}

/// A read snapshot shared by every query until the next commit, with tables opened on first use:
/// a point read then costs one B-tree lookup instead of a new transaction and table open.
pub(crate) struct Snapshot {
    generation: u64,
    txn: ReadTransaction,
    tables: Vec<OnceLock<Table>>,
}

impl Snapshot {
    fn new(generation: u64, txn: ReadTransaction) -> Self {
        Self {
            generation,
            txn,
            tables: T::ALL.iter().map(|_| OnceLock::new()).collect(),
        }
    }

    pub(super) fn table(&self, t: T) -> Result<&Table> {
        let slot = &self.tables[t as usize];
        if let Some(table) = slot.get() {
            return Ok(table);
        }
        let table = open(&self.txn, t)?;
        Ok(slot.get_or_init(|| table))
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("generation", &self.generation)
            .finish()
    }
}

pub(super) fn get_as<V: DeserializeOwned>(table: &Table, t: T, key: &[u8]) -> Result<Option<V>> {
    match table.get(key)? {
        Some(g) => decode(t, g.value()).map(Some),
        None => Ok(None),
    }
}

/// Raw key/value pairs read from a table.
pub(super) type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// One item of a redb range iterator over byte tables.
type RangeItem<'a> = std::result::Result<
    (
        redb::AccessGuard<'a, &'static [u8]>,
        redb::AccessGuard<'a, &'static [u8]>,
    ),
    redb::StorageError,
>;

/// The kinds of list a cursor can continue. With the list's key prefix (tenant and filter), it
/// binds a cursor to the one list that issued it: another list's cursor is a [`Error::BadCursor`],
/// never a silently wrong page.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scope {
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

/// Most work-index entries one page of a queue reads: a filter that matches rarely (a kind)
/// gets a short page and a cursor rather than a scan of the tenant's whole queue.
pub const MAX_WORK_SCANNED: usize = 5_000;

/// A range over a byte table.
type RangeOf<'a> = redb::Range<'a, &'static [u8], &'static [u8]>;

/// Scans up to `limit` entries whose key starts with `prefix` (and is below `end`, when given),
/// continuing after `after`. Returns the entries and the cursor of the next page.
pub(super) fn scan_page(
    table: &Table,
    scope: Scope,
    prefix: &[u8],
    end: Option<Vec<u8>>,
    after: Option<&Cursor>,
    limit: usize,
    reverse: bool,
) -> Result<(Rows, Option<Cursor>)> {
    let after_key = match after {
        Some(c) => Some(c.decode(scope as u8, prefix)?),
        None => None,
    };
    let end = end.or_else(|| prefix_end(prefix));
    if let (Some(k), Some(e), false) = (&after_key, &end, reverse)
        && k >= e
    {
        // A cursor past a narrower list's end (e.g. due tasks with an earlier `until`).
        return Ok((Vec::new(), None));
    }
    let (lo, hi): (Bound<&[u8]>, Bound<&[u8]>) = match (&after_key, reverse) {
        (Some(k), false) => (
            Bound::Excluded(k),
            end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        ),
        (None, false) => (
            Bound::Included(prefix),
            end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        ),
        (Some(k), true) => (Bound::Included(prefix), Bound::Excluded(k)),
        (None, true) => (
            Bound::Included(prefix),
            end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        ),
    };
    let range = table.range::<&[u8]>((lo, hi))?;
    let mut out = Vec::with_capacity(limit.min(64));
    let mut more = false;
    let mut push = |r: RangeItem<'_>| -> Result<bool> {
        let (k, v) = r?;
        if out.len() == limit {
            more = true;
            return Ok(false);
        }
        out.push((k.value().to_vec(), v.value().to_vec()));
        Ok(true)
    };
    if reverse {
        for r in range.rev() {
            if !push(r)? {
                break;
            }
        }
    } else {
        for r in range {
            if !push(r)? {
                break;
            }
        }
    }
    let next = if more {
        out.last()
            .map(|(k, _)| Cursor::encode(scope as u8, prefix, k))
    } else {
        None
    };
    Ok((out, next))
}

impl RedbStore {
    /// A snapshot that includes every commit acknowledged before this call.
    pub(super) fn read(&self) -> Result<Arc<Snapshot>> {
        let shared = self.shared();
        // Read the generation before beginning a transaction: a snapshot begun after that point
        // holds at least every commit counted in it.
        let generation = shared.generation.load(Ordering::Acquire);
        if let Ok(guard) = shared.snapshot.read()
            && let Some(s) = guard.as_ref().filter(|s| s.generation == generation)
        {
            return Ok(Arc::clone(s));
        }
        let snapshot = Arc::new(Snapshot::new(generation, shared.db.begin_read()?));
        if let Ok(mut guard) = shared.snapshot.write()
            && guard.as_ref().is_none_or(|s| s.generation < generation)
        {
            *guard = Some(Arc::clone(&snapshot));
        }
        Ok(snapshot)
    }

    fn read_fresh(&self) -> Result<ReadTransaction> {
        Ok(self.shared().db.begin_read()?)
    }

    /// A page of a tenant's records of table `t`, oldest first.
    fn list_records<V: DeserializeOwned>(
        &self,
        tenant: &TenantSlug,
        t: T,
        scope: Scope,
        page: &PageRequest,
    ) -> Result<Page<V>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let (rows, next) = scan_page(
            txn.table(t)?,
            scope,
            &K::t(n).done(),
            None,
            page.after.as_ref(),
            page.clamped_limit(),
            false,
        )?;
        let items = rows
            .iter()
            .map(|(_, v)| decode(t, v))
            .collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    fn get_entity<V: DeserializeOwned>(
        &self,
        tenant: &TenantSlug,
        t: T,
        id: [u8; 16],
    ) -> Result<Option<V>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        get_as(txn.table(t)?, t, &K::t(n).id(id).done())
    }

    /// Up to `limit` customers under `prefix` in the email likeness index.
    fn customers_by_email_key(&self, n: u32, prefix: &[u8], limit: usize) -> Result<Vec<Customer>> {
        let txn = self.read()?;
        let (index, customers) = (txn.table(T::IdxEmailLike)?, txn.table(T::Customers)?);
        let range = match prefix_end(prefix) {
            Some(e) => index.range::<&[u8]>(prefix..e.as_slice())?,
            None => index.range::<&[u8]>(prefix..)?,
        };
        let mut out = Vec::new();
        for row in range.take(limit) {
            let (k, _) = row?;
            let id = trailing_id(k.value()).ok_or_else(|| super::txn::dangling(T::IdxEmailLike))?;
            let c = get_as(customers, T::Customers, &K::t(n).id(id).done())?
                .ok_or_else(|| super::txn::dangling(T::IdxEmailLike))?;
            out.push(c);
        }
        Ok(out)
    }

    fn customer_by_index(
        &self,
        tenant: &TenantSlug,
        t: T,
        key: impl FnOnce(u32) -> Vec<u8>,
    ) -> Result<Option<Customer>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let Some(id) = txn
            .table(t)?
            .get(key(n).as_slice())?
            .map(|g| g.value().to_vec())
        else {
            return Ok(None);
        };
        let id: [u8; 16] = id.as_slice().try_into().map_err(|_| Error::Corrupt {
            table: t.name(),
            detail: "bad id".into(),
        })?;
        get_as(
            txn.table(T::Customers)?,
            T::Customers,
            &K::t(n).id(id).done(),
        )
    }

    /// Resolves index keys ending in an id to the entities they point at.
    pub(super) fn resolve<V: DeserializeOwned>(
        txn: &Snapshot,
        n: u32,
        t: T,
        keys: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<V>> {
        Self::resolve_with(txn, n, t, keys, |b| decode(t, b))
    }

    /// As [`RedbStore::resolve`], for interactions (stored in their own encoding).
    pub(super) fn resolve_interactions(
        txn: &Snapshot,
        n: u32,
        keys: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<Interaction>> {
        Self::resolve_with(txn, n, T::Interactions, keys, records::decode_interaction)
    }

    fn resolve_with<V>(
        txn: &Snapshot,
        n: u32,
        t: T,
        keys: &[(Vec<u8>, Vec<u8>)],
        decode: impl Fn(&[u8]) -> Result<V>,
    ) -> Result<Vec<V>> {
        let table = txn.table(t)?;
        keys.iter()
            .map(|(k, _)| {
                let id = trailing_id(k).ok_or_else(|| Error::Corrupt {
                    table: t.name(),
                    detail: "short index key".into(),
                })?;
                match table.get(K::t(n).id(id).done().as_slice())? {
                    Some(g) => decode(g.value()),
                    None => Err(Error::Corrupt {
                        table: t.name(),
                        detail: "index entry points at a missing record".into(),
                    }),
                }
            })
            .collect()
    }
}

impl Store for RedbStore {
    fn create_tenant(&self, input: TenantInput, actor: &Actor) -> Result<Tenant> {
        self.new_tenant(input, actor, None).map(|o| o.value)
    }

    fn tenant(&self, slug: &TenantSlug) -> Result<Option<Tenant>> {
        let txn = self.read()?;
        Ok(
            get_as::<TenantRecord>(txn.table(T::Tenants)?, T::Tenants, slug.as_str().as_bytes())?
                .map(|r| r.tenant),
        )
    }

    fn tenants(&self) -> Result<Vec<Tenant>> {
        let txn = self.read()?;
        let table = txn.table(T::Tenants)?;
        table
            .iter()?
            .map(|r| {
                let (_, v) = r?;
                decode::<TenantRecord>(T::Tenants, v.value()).map(|r| r.tenant)
            })
            .collect()
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
        self.write_independent(tenant, actor, ops)
    }

    /// Queued for the committer at once; the future only waits for the durable commit, so a
    /// writer holds no thread while its group's fsync runs (each blocked writer used to hold
    /// one blocking thread and two wake-ups per write).
    fn write_nonblocking(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
        key: Option<&IdempotencyKey>,
    ) -> std::result::Result<crate::WriteFuture<Once<Vec<Output>>>, Vec<Op>> {
        Ok(self.write_outputs_nonblocking(tenant, actor, ops, key))
    }

    fn customer(&self, tenant: &TenantSlug, id: CustomerId) -> Result<Option<Customer>> {
        self.get_entity(tenant, T::Customers, id.to_bytes())
    }

    /// Read here, on the caller's thread: one lookup in the shared snapshot, answered from
    /// redb's page cache in microseconds. Handing it to a blocking thread and back cost more
    /// than the read (thread wake-ups were about a quarter of the server's CPU under `GET
    /// customer` load; `bench/README.md`). A page not in the cache is one read of the file on
    /// the async worker, as for any request that touches a cold page.
    fn customer_nonblocking(
        &self,
        tenant: &TenantSlug,
        id: CustomerId,
    ) -> Option<crate::ReadFuture<Option<Customer>>> {
        Some(Box::pin(std::future::ready(self.customer(tenant, id))))
    }

    fn customer_by_email(&self, tenant: &TenantSlug, email: &Email) -> Result<Option<Customer>> {
        let exact =
            self.customer_by_index(tenant, T::IdxEmail, |n| K::t(n).text(email.as_str()).done())?;
        if exact.is_some() {
            return Ok(exact);
        }
        let n = self.tenant_number(tenant)?;
        let prefix = derive::email_like_key(n, email).done();
        Ok(self.customers_by_email_key(n, &prefix, 1)?.pop())
    }

    fn customers_by_email_likeness(
        &self,
        tenant: &TenantSlug,
        likeness: &str,
        limit: usize,
    ) -> Result<Vec<Customer>> {
        let n = self.tenant_number(tenant)?;
        self.customers_by_email_key(n, &K::t(n).word(likeness).done(), limit)
    }

    fn email_likeness_groups(
        &self,
        tenant: &TenantSlug,
        after: Option<&str>,
        budget: usize,
    ) -> Result<(Vec<Vec<CustomerId>>, Option<String>)> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let table = txn.table(T::IdxEmailLike)?;
        let tenant_end = prefix_end(&K::t(n).done());
        let past = |likeness: &[u8]| prefix_end(&K::t(n).bytes(likeness).byte(0).done());
        let mut lo = match after {
            Some(a) => past(a.as_bytes()),
            None => Some(K::t(n).done()),
        };
        let (mut groups, mut read) = (Vec::new(), 0usize);
        while let Some(from) = lo.take() {
            let range = match &tenant_end {
                Some(e) => table.range::<&[u8]>(from.as_slice()..e.as_slice())?,
                None => table.range::<&[u8]>(from.as_slice()..)?,
            };
            let mut likeness: Option<Vec<u8>> = None;
            let mut ids = Vec::new();
            for row in range {
                let (k, _) = row?;
                let key = k.value();
                let this = key
                    .get(4..)
                    .and_then(|rest| rest.split(|b| *b == 0).next())
                    .ok_or_else(|| super::txn::dangling(T::IdxEmailLike))?;
                if likeness.as_deref().is_some_and(|l| l != this)
                    || ids.len() == crate::MAX_LIKENESS_GROUP
                {
                    break;
                }
                likeness.get_or_insert_with(|| this.to_vec());
                ids.push(CustomerId::from_bytes(
                    trailing_id(key).ok_or_else(|| super::txn::dangling(T::IdxEmailLike))?,
                ));
                read += 1;
            }
            let Some(likeness) = likeness else { break };
            if ids.len() > 1 {
                groups.push(ids);
            }
            lo = past(&likeness);
            if lo.is_some() && read >= budget {
                return Ok((
                    groups,
                    Some(String::from_utf8_lossy(&likeness).into_owned()),
                ));
            }
        }
        Ok((groups, None))
    }

    fn organization_members(
        &self,
        tenant: &TenantSlug,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<Vec<(CustomerId, CustomerId)>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let table = txn.table(T::IdxOrg)?;
        let from = match after {
            Some(org) => prefix_end(&K::t(n).id(org.to_bytes()).done()),
            None => Some(K::t(n).done()),
        };
        let (Some(from), Some(end)) = (from, prefix_end(&K::t(n).done())) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for row in table
            .range::<&[u8]>(from.as_slice()..end.as_slice())?
            .take(limit)
        {
            let (k, _) = row?;
            let key = k.value();
            let id = |at: usize| {
                key.get(at..at + 16)
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .map(CustomerId::from_bytes)
                    .ok_or_else(|| super::txn::dangling(T::IdxOrg))
            };
            out.push((id(4)?, id(20)?));
        }
        Ok(out)
    }

    fn customer_by_phone(&self, tenant: &TenantSlug, phone: &Phone) -> Result<Option<Customer>> {
        self.customer_by_index(tenant, T::IdxPhone, |n| K::t(n).text(phone.as_str()).done())
    }

    fn customer_by_external_id(
        &self,
        tenant: &TenantSlug,
        source: &str,
        id: &str,
    ) -> Result<Option<Customer>> {
        self.customer_by_index(tenant, T::IdxExternal, |n| {
            K::t(n).word(source).text(id).done()
        })
    }

    fn customers(
        &self,
        tenant: &TenantSlug,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<Customer>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let limit = page.clamped_limit();
        let after = page.after.as_ref();
        let (table, scope, prefix) = match filter {
            CustomerFilter::All => {
                let (rows, next) = scan_page(
                    txn.table(T::Customers)?,
                    Scope::Customers,
                    &K::t(n).done(),
                    None,
                    after,
                    limit,
                    false,
                )?;
                let items = rows
                    .iter()
                    .map(|(_, v)| decode(T::Customers, v))
                    .collect::<Result<_>>()?;
                return Ok(Page { items, next });
            }
            CustomerFilter::Tag(tag) => (T::IdxTag, Scope::Tag, K::t(n).word(tag.as_str()).done()),
            CustomerFilter::Lifecycle(l) => (
                T::IdxLifecycle,
                Scope::Lifecycle,
                K::t(n).byte(l.code()).done(),
            ),
            CustomerFilter::Owner(o) => (T::IdxOwner, Scope::Owner, K::t(n).word(o).done()),
            CustomerFilter::Organization(org) => (
                T::IdxOrg,
                Scope::Organization,
                K::t(n).id(org.to_bytes()).done(),
            ),
            CustomerFilter::Field(key) => (
                T::IdxField,
                Scope::Field,
                super::txn::field_index_key(n, FieldObject::Customer, key).done(),
            ),
            CustomerFilter::NamePrefix(p) => (
                T::IdxName,
                Scope::Name,
                K::t(n).text(&p.trim().to_lowercase()).done(),
            ),
            CustomerFilter::EmailPrefix(p) => {
                let (rows, next) = scan_page(
                    txn.table(T::IdxEmail)?,
                    Scope::Email,
                    &K::t(n).text(p.trim()).done(),
                    None,
                    after,
                    limit,
                    false,
                )?;
                let table = txn.table(T::Customers)?;
                let items = rows
                    .iter()
                    .map(|(_, id)| {
                        let id: [u8; 16] =
                            id.as_slice().try_into().map_err(|_| Error::Corrupt {
                                table: "idx_email",
                                detail: "bad id".into(),
                            })?;
                        get_as(table, T::Customers, &K::t(n).id(id).done())?.ok_or_else(|| {
                            Error::Corrupt {
                                table: "idx_email",
                                detail: "dangling entry".into(),
                            }
                        })
                    })
                    .collect::<Result<_>>()?;
                return Ok(Page { items, next });
            }
        };
        let (rows, next) = scan_page(txn.table(table)?, scope, &prefix, None, after, limit, false)?;
        let items = Self::resolve(&txn, n, T::Customers, &rows)?;
        Ok(Page { items, next })
    }

    fn interaction(&self, tenant: &TenantSlug, id: InteractionId) -> Result<Option<Interaction>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let key = K::t(n).id(id.to_bytes()).done();
        match txn.table(T::Interactions)?.get(key.as_slice())? {
            Some(g) => records::decode_interaction(g.value()).map(Some),
            None => Ok(None),
        }
    }

    fn timeline(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
        page: &PageRequest,
    ) -> Result<Page<Interaction>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let prefix = K::t(n).id(customer.to_bytes()).done();
        let (rows, next) = scan_page(
            txn.table(T::IdxTimeline)?,
            Scope::Timeline,
            &prefix,
            None,
            page.after.as_ref(),
            page.clamped_limit(),
            true,
        )?;
        let items = Self::resolve_interactions(&txn, n, &rows)?;
        Ok(Page { items, next })
    }

    fn due_tasks(
        &self,
        tenant: &TenantSlug,
        until: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<Interaction>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let prefix = K::t(n).done();
        // Stop the scan itself at `until`, so that a full last page promises no further one.
        let end = until
            .as_micros()
            .checked_add(1)
            .map(|after_until| K::t(n).time(after_until).done());
        let (rows, next) = scan_page(
            txn.table(T::IdxDue)?,
            Scope::Due,
            &prefix,
            end,
            page.after.as_ref(),
            page.clamped_limit(),
            false,
        )?;
        let items = Self::resolve_interactions(&txn, n, &rows)?;
        Ok(Page { items, next })
    }

    fn work(
        &self,
        tenant: &TenantSlug,
        query: &WorkQuery,
        page: &PageRequest,
    ) -> Result<Page<Interaction>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let table = txn.table(T::IdxWork)?;
        let limit = page.clamped_limit();
        let base = K::t(n).done();
        let after = match &page.after {
            Some(c) => {
                let key = c.decode(Scope::Work as u8, &base)?;
                let position = key.get(base.len()..).ok_or(Error::BadCursor)?.to_vec();
                records::split_work_position(&position)?;
                Some(position)
            }
            None => None,
        };
        let slots: Vec<&str> = match &query.assignees {
            Assignees::Any => vec![derive::EVERYONE_SLOT],
            Assignees::Unassigned => vec![derive::UNASSIGNED_SLOT],
            Assignees::Users(users) => users.iter().map(String::as_str).collect(),
        };
        let kinds: Vec<u8> = query.kinds.iter().map(|k| k.code()).collect();
        let before = query
            .due_before
            .map(|d| records::work_position(d.as_micros(), 0, [0; 16]));
        // Each (slot, status) range is in queue order: merging them lazily reads the page's
        // entries and one more per range, or stops at the scan budget (a rare kind) with a
        // cursor at the last entry read, so the next page goes on from there.
        let mut ranges = Vec::with_capacity(slots.len() * query.statuses.len());
        for slot in slots {
            for status in &query.statuses {
                let prefix = K::t(n).word(slot).byte(status.code()).done();
                let lo = match &after {
                    Some(a) => Bound::Excluded([prefix.as_slice(), a].concat()),
                    None => Bound::Included(prefix.clone()),
                };
                let hi = match &before {
                    Some(b) => [prefix.as_slice(), b].concat(),
                    None => K::t(n).word(slot).byte(status.code() + 1).done(),
                };
                let lo = lo.as_ref().map(Vec::as_slice);
                ranges.push(table.range::<&[u8]>((lo, Bound::Excluded(hi.as_slice())))?);
            }
        }
        let next_of = |r: &mut RangeOf<'_>| -> Result<Option<(Vec<u8>, u8)>> {
            match r.next() {
                Some(row) => {
                    let (k, v) = row?;
                    let key = k.value();
                    let position = key[key.len() - records::WORK_POSITION_LEN..].to_vec();
                    Ok(Some((
                        position,
                        v.value().first().copied().unwrap_or(u8::MAX),
                    )))
                }
                None => Ok(None),
            }
        };
        let mut heads = BinaryHeap::with_capacity(ranges.len());
        for (i, r) in ranges.iter_mut().enumerate() {
            if let Some((position, kind)) = next_of(r)? {
                heads.push(Reverse((position, kind, i)));
            }
        }
        let mut found: Vec<Vec<u8>> = Vec::with_capacity(limit.min(64));
        let mut last: Option<Vec<u8>> = None;
        let mut scanned = 0usize;
        while found.len() < limit && scanned < MAX_WORK_SCANNED {
            let Some(Reverse((position, kind, i))) = heads.pop() else {
                break;
            };
            scanned += 1;
            if let Some((p, k)) = next_of(&mut ranges[i])? {
                heads.push(Reverse((p, k, i)));
            }
            if kinds.is_empty() || kinds.contains(&kind) {
                found.push(position.clone());
            }
            last = Some(position);
        }
        let next = match (heads.is_empty(), last) {
            (false, Some(last)) => Some(Cursor::encode(
                Scope::Work as u8,
                &base,
                &[base.as_slice(), &last].concat(),
            )),
            _ => None,
        };
        let records = txn.table(T::Interactions)?;
        let items = found
            .iter()
            .map(|position| {
                let (_, _, id) = records::split_work_position(position)?;
                match records.get(K::t(n).id(id).done().as_slice())? {
                    Some(g) => records::decode_interaction(g.value()),
                    None => Err(Error::Corrupt {
                        table: T::IdxWork.name(),
                        detail: "index entry points at a missing interaction".into(),
                    }),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    fn deal_timeline(
        &self,
        tenant: &TenantSlug,
        deal: DealId,
        page: &PageRequest,
    ) -> Result<Page<Interaction>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let prefix = K::t(n).id(deal.to_bytes()).done();
        let (rows, next) = scan_page(
            txn.table(T::IdxDealTimeline)?,
            Scope::DealTimeline,
            &prefix,
            None,
            page.after.as_ref(),
            page.clamped_limit(),
            true,
        )?;
        let items = Self::resolve_interactions(&txn, n, &rows)?;
        Ok(Page { items, next })
    }

    fn pipeline(&self, tenant: &TenantSlug, id: PipelineId) -> Result<Option<Pipeline>> {
        self.get_entity(tenant, T::Pipelines, id.to_bytes())
    }

    fn all_deals(
        &self,
        tenant: &TenantSlug,
        owner: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Deal>> {
        let Some(owner) = owner else {
            return self.list_records(tenant, T::Deals, Scope::AllDeals, page);
        };
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let (rows, next) = scan_page(
            txn.table(T::IdxDealOwner)?,
            Scope::DealOwner,
            &K::t(n).word(owner).done(),
            None,
            page.after.as_ref(),
            page.clamped_limit(),
            false,
        )?;
        let items = Self::resolve(&txn, n, T::Deals, &rows)?;
        Ok(Page { items, next })
    }

    fn pipelines(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<Pipeline>> {
        self.list_records(tenant, T::Pipelines, Scope::Pipelines, page)
    }

    fn user(&self, tenant: &TenantSlug, id: UserId) -> Result<Option<User>> {
        self.get_entity(tenant, T::Users, id.to_bytes())
    }

    fn users(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<User>> {
        self.list_records(tenant, T::Users, Scope::Users, page)
    }

    fn team(&self, tenant: &TenantSlug, id: TeamId) -> Result<Option<Team>> {
        self.get_entity(tenant, T::Teams, id.to_bytes())
    }

    fn teams(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<Team>> {
        self.list_records(tenant, T::Teams, Scope::Teams, page)
    }

    fn quotas(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<Quota>> {
        self.list_records(tenant, T::Quotas, Scope::Quotas, page)
    }

    fn field_definitions(
        &self,
        tenant: &TenantSlug,
        object: FieldObject,
    ) -> Result<Vec<FieldDefinition>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let table = txn.table(T::FieldDefinitions)?;
        let prefix = K::t(n).byte(object.code()).done();
        let end = prefix_end(&prefix);
        let range = match &end {
            Some(e) => table.range(prefix.as_slice()..e.as_slice())?,
            None => table.range(prefix.as_slice()..)?,
        };
        let mut out = Vec::new();
        for row in range {
            let (_, v) = row?;
            out.push(decode(T::FieldDefinitions, v.value())?);
        }
        Ok(out)
    }

    fn team_members(&self, tenant: &TenantSlug, team: TeamId) -> Result<Vec<UserId>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let table = txn.table(T::IdxTeamMembers)?;
        let prefix = K::t(n).id(team.to_bytes()).done();
        let end = prefix_end(&prefix);
        let mut out = Vec::new();
        let range = match &end {
            Some(e) => table.range(prefix.as_slice()..e.as_slice())?,
            None => table.range(prefix.as_slice()..)?,
        };
        for row in range {
            let (k, _) = row?;
            let id =
                trailing_id(k.value()).ok_or_else(|| super::txn::dangling(T::IdxTeamMembers))?;
            out.push(UserId::from_bytes(id));
        }
        Ok(out)
    }

    fn deal(&self, tenant: &TenantSlug, id: DealId) -> Result<Option<Deal>> {
        self.get_entity(tenant, T::Deals, id.to_bytes())
    }

    fn deals(
        &self,
        tenant: &TenantSlug,
        pipeline: PipelineId,
        stage: Option<StageId>,
        page: &PageRequest,
    ) -> Result<Page<Deal>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let mut prefix = K::t(n).id(pipeline.to_bytes());
        if let Some(s) = stage {
            prefix = prefix.id(s.to_bytes());
        }
        let (rows, next) = scan_page(
            txn.table(T::IdxDealStage)?,
            Scope::Deals,
            &prefix.done(),
            None,
            page.after.as_ref(),
            page.clamped_limit(),
            false,
        )?;
        let items = rows
            .iter()
            .map(|(_, v)| decode(T::IdxDealStage, v))
            .collect::<Result<_>>()?;
        Ok(Page { items, next })
    }

    fn pipeline_report(&self, tenant: &TenantSlug, pipeline: PipelineId) -> Result<PipelineReport> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let p: Pipeline = get_as(
            txn.table(T::Pipelines)?,
            T::Pipelines,
            &K::t(n).id(pipeline.to_bytes()).done(),
        )?
        .ok_or_else(|| Error::not_found("pipeline", pipeline))?;
        let mut report = ReportBuilder::new(&p);
        let table = txn.table(T::IdxDealStage)?;
        let prefix = K::t(n).id(pipeline.to_bytes()).done();
        let end = prefix_end(&prefix);
        let range = match &end {
            Some(e) => table.range::<&[u8]>(prefix.as_slice()..e.as_slice())?,
            None => table.range::<&[u8]>(prefix.as_slice()..)?,
        };
        for row in range {
            let (_, v) = row?;
            let deal: Deal = decode(T::IdxDealStage, v.value())?;
            report.add(&deal);
        }
        Ok(report.finish())
    }

    fn events(&self, tenant: &TenantSlug, after: u64, limit: usize) -> Result<Vec<Event>> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let table = txn.table(T::Events)?;
        let start = K::t(n).u64(after.saturating_add(1)).done();
        let end = K::t(n).u64(u64::MAX).done();
        table
            .range::<&[u8]>(start.as_slice()..=end.as_slice())?
            .take(limit.min(10_000))
            .map(|r| {
                let (_, v) = r?;
                records::decode_event(v.value())
            })
            .collect()
    }

    fn last_seq(&self, tenant: &TenantSlug) -> Result<u64> {
        let n = self.tenant_number(tenant)?;
        let txn = self.read()?;
        let head = txn
            .table(T::Heads)?
            .get(K::t(n).done().as_slice())?
            .map(|g| g.value().to_vec());
        Ok(head
            .and_then(|b| b.as_slice().try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    fn update_tenant(
        &self,
        slug: &TenantSlug,
        actor: &Actor,
        patch: TenantPatch,
    ) -> Result<Tenant> {
        self.change_tenant(slug, actor, patch)
    }

    fn delete_tenant(&self, slug: &TenantSlug, actor: &Actor) -> Result<()> {
        self.remove_tenant(slug, actor)
    }

    fn create_tenant_once(
        &self,
        input: TenantInput,
        actor: &Actor,
        key: &IdempotencyKey,
    ) -> Result<Once<Tenant>> {
        self.new_tenant(input, actor, Some(key))
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
        self.token_work(Work::CreateToken(token), key)
    }

    fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        let txn = self.read()?;
        get_as(txn.table(T::Tokens)?, T::Tokens, id.as_bytes())
    }

    /// Read here, like [`Store::customer_nonblocking`]: a lookup in the shared snapshot, which
    /// is as current as the last commit (a revoked token is gone from the next snapshot on), so
    /// authenticating a request needs no blocking thread. An unknown id or a failed read is
    /// `None`: the caller then asks [`Store::token`] on a blocking thread, which reports it.
    fn cached_token(&self, id: &str) -> Option<TokenRecord> {
        self.token(id).ok().flatten()
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let txn = self.read()?;
        txn.table(T::Tokens)?
            .iter()?
            .map(|r| {
                let (_, v) = r?;
                decode(T::Tokens, v.value())
            })
            .collect()
    }

    fn revoke_token(&self, id: &str) -> Result<TokenRecord> {
        self.token_work(Work::RevokeToken(id.to_owned()), None)
            .map(|o| o.value)
    }

    fn on_commit(&self, listener: CommitListener) {
        self.add_listener(listener);
    }

    fn check(&self) -> Result<Vec<Inconsistency>> {
        super::check::check(&self.read_fresh()?)
    }

    fn stats(&self) -> Result<Stats> {
        let txn = self.read()?;
        let count = |t: T, n: u32| -> Result<u64> {
            let table = txn.table(t)?;
            let prefix = K::t(n).done();
            let end = prefix_end(&prefix);
            let range = match &end {
                Some(e) => table.range::<&[u8]>(prefix.as_slice()..e.as_slice())?,
                None => table.range::<&[u8]>(prefix.as_slice()..)?,
            };
            Ok(range.count() as u64)
        };
        let mut tenants = Vec::new();
        for row in txn.table(T::Tenants)?.iter()? {
            let (_, v) = row?;
            let r: TenantRecord = decode(T::Tenants, v.value())?;
            let n = r.number;
            tenants.push(TenantStats {
                tenant: r.tenant.slug.to_string(),
                customers: count(T::Customers, n)?,
                interactions: count(T::Interactions, n)?,
                pipelines: count(T::Pipelines, n)?,
                deals: count(T::Deals, n)?,
                events: count(T::Events, n)?,
            });
        }
        let file_bytes = std::fs::metadata(self.path()).map(|m| m.len()).unwrap_or(0);
        Ok(Stats {
            schema_version: super::SCHEMA_VERSION,
            file_bytes,
            tenants,
        })
    }

    fn close(&self) {
        RedbStore::close(self);
    }

    fn backup(&self, dest: &Path) -> Result<()> {
        let io = |source| Error::Io {
            path: dest.display().to_string(),
            source,
        };
        if dest.exists() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the backup file exists already; choose a new path",
            )));
        }
        let txn = self.read_fresh()?;
        let partial = dest.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        {
            let copy = redb::Database::create(&partial)?;
            let w = copy.begin_write()?;
            for t in T::ALL {
                let src = open(&txn, *t)?;
                let mut dst = w.open_table(t.def())?;
                for row in src.iter()? {
                    let (k, v) = row?;
                    dst.insert(k.value(), v.value())?;
                }
            }
            w.commit()?;
        }
        std::fs::rename(&partial, dest).map_err(io)?;
        Ok(())
    }
}
