//! Ops that change existing records beyond a field update: merging customers, changing,
//! reordering and deleting pipelines, and changing deals.

use super::apply::{
    Ctx, append_event, check_organization, dangling, load_customer, load_pipeline, put_customer,
    put_deal, put_interaction, replace_entries,
};
use super::derive;
use super::tables::{K, T, trailing_id};
use super::tx::Tx;
use crate::model::{
    Customer, CustomerId, CustomerKind, Deal, DealId, DealPatch, EntityRef, EventKind, Interaction,
    Pipeline, PipelineId, ValidationError,
};
use crate::store::Output;
use crate::{Error, Result};

fn conflict(entity: &'static str, id: impl ToString, expected: u64, actual: u64) -> Error {
    Error::Conflict {
        entity,
        id: id.to_string(),
        expected,
        actual,
    }
}

pub(super) fn merge_customers(
    tx: &mut Tx<'_>,
    ctx: &Ctx<'_>,
    survivor_id: CustomerId,
    duplicate_id: CustomerId,
    expected_version: Option<u64>,
) -> Result<Output> {
    if survivor_id == duplicate_id {
        return Err(
            ValidationError::field("duplicate", "another customer than the survivor").into(),
        );
    }
    let survivor = load_customer(tx, ctx, survivor_id)?;
    if let Some(v) = expected_version.filter(|v| *v != survivor.version) {
        return Err(conflict("customer", survivor_id, v, survivor.version));
    }
    let duplicate = load_customer(tx, ctx, duplicate_id)?;
    let merged = survivor.merge(&duplicate, ctx.now)?;
    let t = ctx.tenant;

    // Remove the duplicate first, so that its email, phone and external ids are free for the
    // survivor.
    for (table, k, _) in derive::customer_entries(t, &duplicate) {
        tx.del(table, &k)?;
    }
    tx.del(T::Customers, &K::t(t).id(duplicate_id.to_bytes()).done())?;

    for (key, _) in tx.scan(T::IdxTimeline, &K::t(t).id(duplicate_id.to_bytes()).done())? {
        let iid = trailing_id(&key).ok_or_else(|| dangling(T::IdxTimeline))?;
        let old: Interaction = tx
            .get_as(T::Interactions, &K::t(t).id(iid).done())?
            .ok_or_else(|| dangling(T::IdxTimeline))?;
        let mut new = old.clone();
        new.customer = survivor_id;
        new.version += 1;
        put_interaction(tx, ctx, Some(&old), &new)?;
    }
    for (key, _) in tx.scan(
        T::IdxCustomerDeals,
        &K::t(t).id(duplicate_id.to_bytes()).done(),
    )? {
        let did = trailing_id(&key).ok_or_else(|| dangling(T::IdxCustomerDeals))?;
        let old: Deal = tx
            .get_as(T::Deals, &K::t(t).id(did).done())?
            .ok_or_else(|| dangling(T::IdxCustomerDeals))?;
        let mut new = old.clone();
        new.customer = survivor_id;
        new.version += 1;
        new.updated_at = ctx.now;
        put_deal(tx, ctx, Some(&old), &new)?;
    }
    if duplicate.kind == CustomerKind::Organization {
        for (key, _) in tx.scan(T::IdxOrg, &K::t(t).id(duplicate_id.to_bytes()).done())? {
            let mid = trailing_id(&key).ok_or_else(|| dangling(T::IdxOrg))?;
            let old: Customer = tx
                .get_as(T::Customers, &K::t(t).id(mid).done())?
                .ok_or_else(|| dangling(T::IdxOrg))?;
            let mut member = old.clone();
            member.organization = Some(survivor_id);
            member.version += 1;
            member.updated_at = ctx.now;
            put_customer(tx, ctx, Some(&old), &member)?;
        }
    }
    if merged.organization != survivor.organization {
        check_organization(tx, ctx, &merged)?;
    }
    put_customer(tx, ctx, Some(&survivor), &merged)?;
    let changed = survivor
        .diff(&merged)
        .into_iter()
        .map(str::to_owned)
        .collect();
    append_event(
        tx,
        ctx,
        EventKind::CustomersMerged,
        EntityRef::Merged {
            survivor: survivor_id,
            duplicate: duplicate_id,
        },
        changed,
    )?;
    Ok(Output::Customer(merged))
}

/// Changes a pipeline with `change` (which returns the changed fields), keeping its name unique.
pub(super) fn update_pipeline(
    tx: &mut Tx<'_>,
    ctx: &Ctx<'_>,
    id: PipelineId,
    expected_version: Option<u64>,
    change: impl FnOnce(&mut Pipeline) -> std::result::Result<Vec<&'static str>, ValidationError>,
) -> Result<Output> {
    let old = load_pipeline(tx, ctx, id)?;
    if let Some(v) = expected_version.filter(|v| *v != old.version) {
        return Err(conflict("pipeline", id, v, old.version));
    }
    let mut new = old.clone();
    let changed = change(&mut new)?;
    if changed.is_empty() {
        return Ok(Output::Pipeline(old));
    }
    let old_entries = derive::pipeline_entries(ctx.tenant, &old);
    let new_entries = derive::pipeline_entries(ctx.tenant, &new);
    replace_entries(tx, &old_entries, &new_entries, |_, holder| {
        Error::Duplicate {
            field: "name",
            value: new.name.clone(),
            existing: match <[u8; 16]>::try_from(holder) {
                Ok(id) => format!("pipeline {}", PipelineId::from_bytes(id)),
                Err(_) => "another pipeline".into(),
            },
        }
    })?;
    tx.put_as(
        T::Pipelines,
        &K::t(ctx.tenant).id(id.to_bytes()).done(),
        &new,
    )?;
    let changed = changed.into_iter().map(str::to_owned).collect();
    append_event(
        tx,
        ctx,
        EventKind::PipelineUpdated,
        EntityRef::Pipeline(id),
        changed,
    )?;
    Ok(Output::Pipeline(new))
}

pub(super) fn delete_pipeline(tx: &mut Tx<'_>, ctx: &Ctx<'_>, id: PipelineId) -> Result<Output> {
    let pipeline = load_pipeline(tx, ctx, id)?;
    let deals = tx
        .scan(T::IdxDealStage, &K::t(ctx.tenant).id(id.to_bytes()).done())?
        .len() as u64;
    if deals > 0 {
        return Err(Error::PipelineNotEmpty {
            id: id.to_string(),
            deals,
        });
    }
    for (table, k, _) in derive::pipeline_entries(ctx.tenant, &pipeline) {
        tx.del(table, &k)?;
    }
    tx.del(T::Pipelines, &K::t(ctx.tenant).id(id.to_bytes()).done())?;
    append_event(
        tx,
        ctx,
        EventKind::PipelineDeleted,
        EntityRef::Pipeline(id),
        Vec::new(),
    )?;
    Ok(Output::PipelineDeleted(id))
}

pub(super) fn update_deal(
    tx: &mut Tx<'_>,
    ctx: &Ctx<'_>,
    id: DealId,
    expected_version: Option<u64>,
    patch: DealPatch,
) -> Result<Output> {
    let old: Deal = tx
        .get_as(T::Deals, &K::t(ctx.tenant).id(id.to_bytes()).done())?
        .ok_or_else(|| Error::not_found("deal", id))?;
    if let Some(v) = expected_version.filter(|v| *v != old.version) {
        return Err(conflict("deal", id, v, old.version));
    }
    let mut new = old.clone();
    let changed = new.apply(patch, ctx.now)?;
    if changed.is_empty() {
        return Ok(Output::Deal(old));
    }
    put_deal(tx, ctx, Some(&old), &new)?;
    let entity = EntityRef::Deal {
        id,
        customer: new.customer,
    };
    let changed = changed.into_iter().map(str::to_owned).collect();
    append_event(tx, ctx, EventKind::DealUpdated, entity, changed)?;
    Ok(Output::Deal(new))
}
