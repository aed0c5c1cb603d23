//! Deals: create, read, change, move to a stage, list by pipeline and stage.

use crate::model::{
    Actor, Deal, DealId, DealInput, DealPatch, PipelineId, StageId, TenantSlug, Timestamp,
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
#[derive(Debug, Clone, Copy)]
pub struct StageMove {
    /// The deal.
    pub id: DealId,
    /// Its new stage.
    pub stage: StageId,
    /// When it moved (default now).
    pub at: Option<Timestamp>,
    /// The version the caller read (`If-Match`).
    pub expected_version: Option<u64>,
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
        id: m.id,
        stage: m.stage,
        at: m.at,
        expected_version,
    };
    deal(write_one(store, tenant, actor, op, None)?.value)
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
