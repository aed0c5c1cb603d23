//! Ops that change existing records beyond a field update: merging customers, changing,
//! reordering and deleting pipelines, and changing deals.

use super::ops::check_organization;
use super::{Ctx, Txn, conflict, event, load_customer, load_deal, load_pipeline};
use crate::Output;
use crate::{Error, Result};
use kith_model::{
    CustomerId, CustomerKind, DealId, DealPatch, EntityRef, EventKind, FieldObject, Pipeline,
    PipelineId, ValidationError,
};

pub(super) fn merge_customers(
    txn: &mut dyn Txn,
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
    let survivor = load_customer(txn, survivor_id)?;
    if let Some(v) = expected_version.filter(|v| *v != survivor.version) {
        return Err(conflict("customer", survivor_id, v, survivor.version));
    }
    let duplicate = load_customer(txn, duplicate_id)?;
    let merged = survivor.merge(&duplicate, ctx.now)?;

    // Remove the duplicate first, so that its email, phone, external ids and unique field
    // values are free for the survivor.
    let customer = FieldObject::Customer;
    let (dup, kept) = (duplicate_id.to_bytes(), survivor_id.to_bytes());
    super::fields::write(txn, customer, dup, Some(&duplicate.attributes), None)?;
    let after = Some(&merged.attributes);
    super::fields::write(txn, customer, kept, Some(&survivor.attributes), after)?;
    txn.delete_customer(&duplicate)?;
    for iid in txn.interactions_of(duplicate_id)? {
        let Some(old) = txn.interaction(iid)? else {
            continue;
        };
        let mut new = old.clone();
        new.customer = survivor_id;
        new.version += 1;
        txn.put_interaction(Some(&old), &new)?;
    }
    for did in txn.deals_of(duplicate_id)? {
        let Some(old) = txn.deal(did)? else {
            continue;
        };
        let mut new = old.clone();
        new.customer = survivor_id;
        new.version += 1;
        new.updated_at = ctx.now;
        txn.put_deal(Some(&old), &new)?;
    }
    if duplicate.kind == CustomerKind::Organization {
        for mid in txn.members(duplicate_id)? {
            let Some(old) = txn.customer(mid)? else {
                continue;
            };
            let mut member = old.clone();
            member.organization = Some(survivor_id);
            member.version += 1;
            member.updated_at = ctx.now;
            txn.put_customer(Some(&old), &member)?;
        }
    }
    if merged.organization != survivor.organization {
        check_organization(txn, &merged)?;
    }
    txn.put_customer(Some(&survivor), &merged)?;
    let changed = survivor
        .diff(&merged)
        .into_iter()
        .map(str::to_owned)
        .collect();
    event(
        txn,
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
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    id: PipelineId,
    expected_version: Option<u64>,
    change: impl FnOnce(&mut Pipeline) -> std::result::Result<Vec<&'static str>, ValidationError>,
) -> Result<Output> {
    let old = load_pipeline(txn, id)?;
    if let Some(v) = expected_version.filter(|v| *v != old.version) {
        return Err(conflict("pipeline", id, v, old.version));
    }
    let mut new = old.clone();
    let changed = change(&mut new)?;
    if changed.is_empty() {
        return Ok(Output::Pipeline(old));
    }
    txn.put_pipeline(Some(&old), &new)?;
    let changed = changed.into_iter().map(str::to_owned).collect();
    event(
        txn,
        ctx,
        EventKind::PipelineUpdated,
        EntityRef::Pipeline(id),
        changed,
    )?;
    Ok(Output::Pipeline(new))
}

/// Deletes a pipeline that holds no deals.
pub(super) fn delete_pipeline(txn: &mut dyn Txn, ctx: &Ctx<'_>, id: PipelineId) -> Result<Output> {
    let pipeline = load_pipeline(txn, id)?;
    let deals = txn.deals_in(id)?;
    if deals > 0 {
        return Err(Error::PipelineNotEmpty {
            id: id.to_string(),
            deals,
        });
    }
    txn.delete_pipeline(&pipeline)?;
    event(
        txn,
        ctx,
        EventKind::PipelineDeleted,
        EntityRef::Pipeline(id),
        Vec::new(),
    )?;
    Ok(Output::PipelineDeleted(id))
}

/// Changes a deal's fields.
pub(super) fn update_deal(
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    id: DealId,
    expected_version: Option<u64>,
    patch: DealPatch,
) -> Result<Output> {
    let old = load_deal(txn, id)?;
    if let Some(v) = expected_version.filter(|v| *v != old.version) {
        return Err(conflict("deal", id, v, old.version));
    }
    let mut new = old.clone();
    let mut patch = patch;
    let reason = patch.lost_reason.take();
    let mut changed = new.apply(patch, ctx.now)?;
    if let Some(reason) = reason {
        let pipeline = load_pipeline(txn, new.pipeline)?;
        if new.set_lost_reason(reason.as_deref(), &pipeline)? {
            if changed.is_empty() {
                new.version += 1;
                new.updated_at = ctx.now;
            }
            changed.push("lost_reason");
        }
    }
    if changed.is_empty() {
        return Ok(Output::Deal(old));
    }
    super::check_owner(txn, old.owner.as_deref(), new.owner.as_deref())?;
    let (before, after) = (Some(&old.attributes), Some(&new.attributes));
    super::fields::write(txn, FieldObject::Deal, id.to_bytes(), before, after)?;
    txn.put_deal(Some(&old), &new)?;
    let entity = EntityRef::Deal {
        id,
        customer: new.customer,
    };
    let changed = changed.into_iter().map(str::to_owned).collect();
    event(txn, ctx, EventKind::DealUpdated, entity, changed)?;
    Ok(Output::Deal(new))
}
