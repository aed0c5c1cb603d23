//! Deals: create, read, change, move to a stage, list by pipeline and stage.

use std::collections::{HashMap, HashSet};

use crate::model::{
    Actor, Currency, Date, Deal, DealId, DealInput, DealPatch, Pipeline, PipelineId, StageCategory,
    StageId, TeamId, TenantSlug, Timestamp, UserId,
};
use crate::store::{Error, Result};
use crate::store::{IdempotencyKey, Once, Op, Output, Page, PageRequest, Store, unexpected};

use super::access::{Access, filtered_page};
use super::customers::write_one;
use super::customers::{AttributeMatch, AttributeOp};

fn deal(o: Output) -> Result<Deal> {
    match o {
        Output::Deal(d) => Ok(d),
        other => Err(unexpected(&other)),
    }
}

/// Creates a deal; a limited user needs to see the customer, and the deal is theirs unless
/// they give it to someone they may.
pub fn create(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    access: &Access,
    mut input: DealInput,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Deal>> {
    if !access.is_full() {
        super::customers::get(store, tenant, access, input.customer)?;
    }
    input.owner = access.owner_for_new(input.owner.take())?;
    let once = write_one(store, tenant, actor, Op::CreateDeal(input), key)?;
    Ok(Once {
        value: deal(once.value)?,
        replayed: once.replayed,
    })
}

/// A deal by id (missing too when the caller may not read it).
pub fn get(store: &dyn Store, tenant: &TenantSlug, access: &Access, id: DealId) -> Result<Deal> {
    let d = store
        .deal(tenant, id)?
        .ok_or_else(|| Error::not_found("deal", id))?;
    access.readable_deal(d)
}

/// For a limited user: the version to change the deal at, after checking they may.
fn pinned(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    id: DealId,
    expected_version: Option<u64>,
) -> Result<(Option<u64>, Option<Deal>)> {
    if access.is_full() {
        return Ok((expected_version, None));
    }
    let d = store
        .deal(tenant, id)?
        .ok_or_else(|| Error::not_found("deal", id))?;
    access.check_deal_write(&d)?;
    Ok((Some(expected_version.unwrap_or(d.version)), Some(d)))
}

/// Changes a deal's details.
pub fn update(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    access: &Access,
    id: DealId,
    expected_version: Option<u64>,
    patch: DealPatch,
) -> Result<Deal> {
    // A GET's answer sent back: its version is the one expected, like If-Match.
    let expected_version = super::expected_version(expected_version, patch.version)?;
    let (expected_version, current) = pinned(store, tenant, access, id, expected_version)?;
    if let (Some(d), Some(owner)) = (&current, &patch.owner) {
        access.check_owner_change(d.owner.as_deref(), owner.as_deref())?;
    }
    let op = Op::UpdateDeal {
        id,
        expected_version,
        patch,
    };
    deal(write_one(store, tenant, actor, op, None)?.value)
}

/// A record of a deal batch: a new deal, or a change of the deal it names.
#[derive(Debug, Clone)]
pub enum DealRecord {
    /// Create this deal.
    New(DealInput),
    /// Change the deal with this id (at the patch's `version`, when given).
    Change(DealId, DealPatch),
}

/// What a record of a deal batch did, with the deal now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// Created.
    Created,
    /// Changed.
    Updated,
    /// Named a deal and changed nothing.
    Unchanged,
}

/// Creates or changes each record on its own (one record's failure leaves the others), all in
/// one commit, for a key that writes the whole tenant.
pub fn upsert_batch(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    records: Vec<DealRecord>,
) -> Result<Vec<Result<(Deal, Upserted)>>> {
    super::customers::check_batch(records.len())?;
    // The version each change starts from, to tell a change from a no-op (the op answers the
    // deal as it is either way); a deal changed in between is only labelled `updated`.
    let mut before = Vec::with_capacity(records.len());
    let ops = records
        .into_iter()
        .map(|r| {
            Ok(match r {
                DealRecord::New(input) => {
                    before.push(None);
                    Op::CreateDeal(input)
                }
                DealRecord::Change(id, patch) => {
                    let version = match patch.version {
                        Some(v) => Some(v),
                        None => store.deal(tenant, id)?.map(|d| d.version),
                    };
                    before.push(Some(version));
                    Op::UpdateDeal {
                        id,
                        expected_version: patch.version,
                        patch,
                    }
                }
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let outcomes = store.write_each(tenant, actor, ops)?;
    Ok(outcomes
        .into_iter()
        .zip(before)
        .map(|(outcome, before)| {
            let d = deal(outcome?)?;
            let status = match before {
                None => Upserted::Created,
                Some(v) if v == Some(d.version) => Upserted::Unchanged,
                Some(_) => Upserted::Updated,
            };
            Ok((d, status))
        })
        .collect())
}

/// Where a deal moves.
#[derive(Debug, Clone)]
pub struct StageMove {
    /// The deal.
    pub id: DealId,
    /// Its new stage.
    pub stage: StageId,
    /// When it moved (default now).
    pub at: Option<Timestamp>,
    /// The version the caller read (`If-Match`).
    pub expected_version: Option<u64>,
    /// Why it was lost, when moving to a lost stage.
    pub lost_reason: Option<String>,
}

/// Moves a deal to another stage.
pub fn move_to(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    access: &Access,
    m: StageMove,
) -> Result<Deal> {
    let (expected_version, _) = pinned(store, tenant, access, m.id, m.expected_version)?;
    let op = Op::MoveDeal {
        lost_reason: m.lost_reason,
        id: m.id,
        stage: m.stage,
        at: m.at,
        expected_version,
    };
    deal(write_one(store, tenant, actor, op, None)?.value)
}

/// Which deals to list across pipelines: every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DealQuery {
    /// Owned by this user (id).
    pub owner: Option<UserId>,
    /// Owned by a member of this team.
    pub team: Option<TeamId>,
    /// In this pipeline.
    pub pipeline: Option<PipelineId>,
    /// Whose current stage is of this category (open, won, lost).
    pub status: Option<StageCategory>,
    /// Expected to close on or after this date.
    pub close_from: Option<Date>,
    /// Expected to close on or before this date.
    pub close_to: Option<Date>,
    /// In this currency (needed with an amount range: amounts of different currencies are
    /// never compared).
    pub currency: Option<Currency>,
    /// At least this amount, in minor units.
    pub min_amount: Option<i64>,
    /// At most this amount, in minor units.
    pub max_amount: Option<i64>,
    /// Changed at or after this time.
    pub updated_since: Option<Timestamp>,
    /// A custom field (its key) holds this value (a multi-select: among its options).
    pub attribute: Option<(String, AttributeMatch)>,
    /// The order (default: oldest first).
    pub sort: DealSort,
}

/// The order of a deal search; each breaks ties by id (creation order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DealSort {
    /// Oldest first (the default; read straight from an index).
    #[default]
    Created,
    /// By amount (needs a `currency`: amounts of different currencies are not compared).
    Amount,
    /// By expected close date (deals without one last).
    ExpectedClose,
    /// By last change.
    Updated,
}

impl DealSort {
    /// Parses `created`, `amount`, `expected_close` or `updated`, each optionally prefixed with
    /// `-` for descending; returns the sort and whether it descends.
    pub fn parse(s: &str) -> std::result::Result<(Self, bool), crate::model::ValidationError> {
        let (desc, name) = match s.trim().strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, s.trim()),
        };
        let sort = match name {
            "created" => Self::Created,
            "amount" => Self::Amount,
            "expected_close" => Self::ExpectedClose,
            "updated" => Self::Updated,
            _ => {
                return Err(crate::model::ValidationError::field(
                    "sort",
                    "created, amount, expected_close or updated, with - in front to descend",
                ));
            }
        };
        Ok((sort, desc))
    }

    /// The sort key of a deal (then its id): an i64 in ascending order.
    fn key(self, d: &Deal) -> i64 {
        match self {
            Self::Created => 0,
            Self::Amount => d.amount.minor,
            Self::ExpectedClose => d.expected_close.map_or(i64::MAX, |c| i64::from(c.days())),
            Self::Updated => d.updated_at.as_micros(),
        }
    }
}

/// Most matching deals a sorted search sorts (every match must be read to sort them); past it
/// the search answers 422 asking for narrower filters. It reads at most
/// [`MAX_SCANNED_PER_PAGE`](super::access::MAX_SCANNED_PER_PAGE) deals per 1,000 matches, so
/// 100,000 at most.
pub const MAX_SORTED_SCAN: usize = 20_000;

/// Deals across pipelines matching `query` that the caller may read, oldest first. The owner
/// filter (and a member's own view) reads the deal-owner index, the pipeline filter the
/// pipeline's; other filters are checked on the deals read, at most
/// [`MAX_SCANNED_PER_PAGE`](super::access::MAX_SCANNED_PER_PAGE) per page (a page may then be
/// short: follow its cursor).
pub fn search(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    query: &DealQuery,
    page: &PageRequest,
) -> Result<Page<Deal>> {
    search_sorted(store, tenant, access, query, false, page)
}

/// As [`search`], in the order of `query.sort` (descending with `desc`). Other than the
/// default order, every matching deal is read and sorted (at most [`MAX_SORTED_SCAN`]), and
/// the cursor holds the last deal's sort key and id.
pub fn search_sorted(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    query: &DealQuery,
    desc: bool,
    page: &PageRequest,
) -> Result<Page<Deal>> {
    if query.sort == DealSort::Created && !desc {
        return search_in_order(store, tenant, access, query, page);
    }
    if query.sort == DealSort::Amount && query.currency.is_none() {
        return Err(crate::model::ValidationError::field(
            "currency",
            "a currency to sort by amount (amounts in different currencies are not compared)",
        )
        .into());
    }
    let after = match &page.after {
        Some(c) => Some(sort_cursor::decode(c.as_str())?),
        None => None,
    };
    let mut matched: Vec<Deal> = Vec::new();
    let mut read = 0usize;
    let mut p = PageRequest::first(1000);
    loop {
        let got = search_in_order(store, tenant, access, query, &p)?;
        matched.extend(got.items);
        read += 1000;
        match got.next {
            Some(c) if read < MAX_SORTED_SCAN => p = PageRequest::after(1000, c),
            Some(_) => {
                return Err(crate::model::ValidationError::field(
                    "sort",
                    format!(
                        "filters that match fewer deals: sorting reads at most {MAX_SORTED_SCAN} deals (narrow with owner, team, pipeline or status, or use the default order)"
                    ),
                )
                .into());
            }
            None => break,
        }
    }
    let sort = query.sort;
    let key = |d: &Deal| (sort.key(d), d.id.to_bytes());
    matched.sort_by_key(key);
    if desc {
        matched.reverse();
    }
    let past = |d: &Deal| match &after {
        None => true,
        Some(a) if desc => key(d) < *a,
        Some(a) => key(d) > *a,
    };
    let limit = page.limit.clamp(1, 1000);
    let mut items: Vec<Deal> = matched
        .into_iter()
        .filter(|d| past(d))
        .take(limit + 1)
        .collect();
    let next = (items.len() > limit).then(|| {
        items.truncate(limit);
        items
            .last()
            .map(|d| crate::store::Cursor::from_string(sort_cursor::encode(key(d))))
    });
    Ok(Page {
        items,
        next: next.flatten(),
    })
}

/// The cursor of a sorted deal search: the last deal's sort key and id.
mod sort_cursor {
    use base64::Engine as _;

    use crate::store::{Error, Result};

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    pub(super) fn encode((key, id): (i64, [u8; 16])) -> String {
        let mut raw = vec![b's'];
        raw.extend_from_slice(&key.to_be_bytes());
        raw.extend_from_slice(&id);
        B64.encode(raw)
    }

    pub(super) fn decode(s: &str) -> Result<(i64, [u8; 16])> {
        let raw = B64.decode(s).map_err(|_| Error::BadCursor)?;
        match raw.split_first() {
            Some((b's', rest)) if rest.len() == 24 => {
                let key = i64::from_be_bytes(rest[..8].try_into().map_err(|_| Error::BadCursor)?);
                let id = rest[8..].try_into().map_err(|_| Error::BadCursor)?;
                Ok((key, id))
            }
            _ => Err(Error::BadCursor),
        }
    }
}

fn search_in_order(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    query: &DealQuery,
    page: &PageRequest,
) -> Result<Page<Deal>> {
    let team: Option<HashSet<String>> = match query.team {
        Some(t) => Some(super::users::member_ids(store, tenant, t)?),
        None => None,
    };
    let only = access.only_owner();
    let owner = query.owner.map(|o| o.to_string()).or(only);
    if let Some(p) = query.pipeline {
        super::pipelines::get(store, tenant, p)?;
    }
    let mut pipelines: HashMap<PipelineId, Option<Pipeline>> = HashMap::new();
    let mut keep = |d: &Deal| -> Result<bool> {
        let q = query;
        let owned = d.owner.as_deref();
        let basic = access.reads(owned)
            && owner.as_deref().is_none_or(|o| owned == Some(o))
            && team
                .as_ref()
                .is_none_or(|t| owned.is_some_and(|o| t.contains(o)))
            && q.pipeline.is_none_or(|p| d.pipeline == p)
            && q.close_from
                .is_none_or(|f| d.expected_close.is_some_and(|c| c >= f))
            && q.close_to
                .is_none_or(|t| d.expected_close.is_some_and(|c| c <= t))
            && q.currency.is_none_or(|c| d.amount.currency == c)
            && q.min_amount.is_none_or(|m| d.amount.minor >= m)
            && q.max_amount.is_none_or(|m| d.amount.minor <= m)
            && q.updated_since.is_none_or(|u| d.updated_at >= u)
            && q.attribute.as_ref().is_none_or(|(key, value)| {
                d.attributes
                    .get(key)
                    .is_some_and(|v| value.holds(AttributeOp::Eq, v))
            });
        let Some(status) = q.status.filter(|_| basic) else {
            return Ok(basic);
        };
        let pipeline = match pipelines.get(&d.pipeline) {
            Some(p) => p.clone(),
            None => {
                let p = store.pipeline(tenant, d.pipeline)?;
                pipelines.insert(d.pipeline, p.clone());
                p
            }
        };
        Ok(pipeline.is_some_and(|p| d.status(&p) == status))
    };
    match (&owner, query.pipeline) {
        (Some(o), _) => filtered_page(page, |p| store.all_deals(tenant, Some(o), p), &mut keep),
        (None, Some(pipeline)) => {
            filtered_page(page, |p| store.deals(tenant, pipeline, None, p), &mut keep)
        }
        (None, None) => filtered_page(page, |p| store.all_deals(tenant, None, p), &mut keep),
    }
}

/// Deals of a pipeline, optionally in one stage.
pub fn list(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    pipeline: PipelineId,
    stage: Option<StageId>,
    page: &PageRequest,
) -> Result<Page<Deal>> {
    super::pipelines::get(store, tenant, pipeline)?;
    if access.is_full() {
        return store.deals(tenant, pipeline, stage, page);
    }
    filtered_page(
        page,
        |p| store.deals(tenant, pipeline, stage, p),
        |d| Ok(access.reads(d.owner.as_deref())),
    )
}
