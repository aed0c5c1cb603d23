//! Pipelines: create, read, list, change, reorder stages, delete when empty, report.

use crate::model::{
    Actor, Pipeline, PipelineId, PipelineInput, PipelinePatch, PipelineReport, ReportBuilder,
    StageId, TenantSlug,
};
use crate::store::{Error, Result};
use crate::store::{IdempotencyKey, Once, Op, Output, Page, PageRequest, Store, unexpected};

use super::access::Access;
use super::customers::write_one;

fn pipeline(o: Output) -> Result<Pipeline> {
    match o {
        Output::Pipeline(p) => Ok(p),
        other => Err(unexpected(&other)),
    }
}

/// Creates a pipeline.
pub fn create(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    input: PipelineInput,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Pipeline>> {
    let once = write_one(store, tenant, actor, Op::CreatePipeline(input), key)?;
    Ok(Once {
        value: pipeline(once.value)?,
        replayed: once.replayed,
    })
}

/// A pipeline by id.
pub fn get(store: &dyn Store, tenant: &TenantSlug, id: PipelineId) -> Result<Pipeline> {
    store
        .pipeline(tenant, id)?
        .ok_or_else(|| Error::not_found("pipeline", id))
}

/// A page of pipelines, oldest first.
pub fn list(store: &dyn Store, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<Pipeline>> {
    store.pipelines(tenant, page)
}

/// Changes a pipeline's name or stages.
pub fn update(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    id: PipelineId,
    expected_version: Option<u64>,
    patch: PipelinePatch,
) -> Result<Pipeline> {
    let expected_version = super::expected_version(expected_version, patch.version)?;
    let op = Op::UpdatePipeline {
        id,
        expected_version,
        patch,
    };
    pipeline(write_one(store, tenant, actor, op, None)?.value)
}

/// Puts the stages in a new order (every stage id once).
pub fn reorder(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    id: PipelineId,
    expected_version: Option<u64>,
    order: Vec<StageId>,
) -> Result<Pipeline> {
    let op = Op::ReorderStages {
        id,
        expected_version,
        order,
    };
    pipeline(write_one(store, tenant, actor, op, None)?.value)
}

/// Deletes a pipeline that has no deals.
pub fn delete(store: &dyn Store, tenant: &TenantSlug, actor: &Actor, id: PipelineId) -> Result<()> {
    write_one(store, tenant, actor, Op::DeletePipeline(id), None).map(drop)
}

/// The funnel report, over the deals the caller may read.
pub fn report(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    id: PipelineId,
) -> Result<PipelineReport> {
    if access.is_full() {
        return store.pipeline_report(tenant, id);
    }
    let pipeline = get(store, tenant, id)?;
    let mut report = ReportBuilder::new(&pipeline);
    let mut page = PageRequest::first(1000);
    loop {
        let got = store.deals(tenant, id, None, &page)?;
        for d in got
            .items
            .iter()
            .filter(|d| access.reads(d.owner.as_deref()))
        {
            report.add(d);
        }
        match got.next {
            Some(c) => page = PageRequest::after(1000, c),
            None => break,
        }
    }
    Ok(report.finish())
}
