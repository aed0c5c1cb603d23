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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
}

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
            && q.updated_since.is_none_or(|u| d.updated_at >= u);
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
