//! Deals: create, read, change, move to a stage, list by pipeline and stage.

use crate::model::{
    Actor, Deal, DealId, DealInput, DealPatch, PipelineId, StageId, TenantSlug, Timestamp,
};
use crate::store::{Error, Result};
use crate::store::{IdempotencyKey, Once, Op, Output, Page, PageRequest, Store, unexpected};

use super::customers::write_one;

fn deal(o: Output) -> Result<Deal> {
    match o {
        Output::Deal(d) => Ok(d),
        other => Err(unexpected(&other)),
    }
}

/// Creates a deal.
pub fn create(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    input: DealInput,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Deal>> {
    let once = write_one(store, tenant, actor, Op::CreateDeal(input), key)?;
    Ok(Once {
        value: deal(once.value)?,
        replayed: once.replayed,
    })
}

/// A deal by id.
pub fn get(store: &dyn Store, tenant: &TenantSlug, id: DealId) -> Result<Deal> {
    store
        .deal(tenant, id)?
        .ok_or_else(|| Error::not_found("deal", id))
}

/// Changes a deal's details.
pub fn update(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    id: DealId,
    expected_version: Option<u64>,
    patch: DealPatch,
) -> Result<Deal> {
    let op = Op::UpdateDeal {
        id,
        expected_version,
        patch,
    };
    deal(write_one(store, tenant, actor, op, None)?.value)
}

/// Moves a deal to `stage` (at `at`, default now).
pub fn move_to(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    id: DealId,
    stage: StageId,
    at: Option<Timestamp>,
    expected_version: Option<u64>,
) -> Result<Deal> {
    let op = Op::MoveDeal {
        id,
        stage,
        at,
        expected_version,
    };
    deal(write_one(store, tenant, actor, op, None)?.value)
}

/// Deals of a pipeline, optionally in one stage.
pub fn list(
    store: &dyn Store,
    tenant: &TenantSlug,
    pipeline: PipelineId,
    stage: Option<StageId>,
    page: &PageRequest,
) -> Result<Page<Deal>> {
    super::pipelines::get(store, tenant, pipeline)?;
    store.deals(tenant, pipeline, stage, page)
}
