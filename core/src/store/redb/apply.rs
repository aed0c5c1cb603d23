//! How each op changes the tables: entity, index entries and one event, inside a [`Tx`].

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::derive::{self, Entry};
use super::edit;
use super::tables::{K, T, trailing_id};
use super::tx::Tx;
use crate::model::{
    Actor, Customer, CustomerId, CustomerKind, Deal, DealId, EntityRef, Event, EventKind,
    Interaction, InteractionId, Pipeline, PipelineId, Tenant, TenantInput, Timestamp,
    ValidationError,
};
use crate::store::{Op, Output};
use crate::{Error, Result};

/// What the tenants table stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TenantRecord {
    pub(crate) number: u32,
    pub(crate) tenant: Tenant,
}

/// The context of one request.
pub(crate) struct Ctx<'a> {
    pub(crate) tenant: u32,
    pub(crate) actor: &'a Actor,
    pub(crate) now: Timestamp,
    /// The chain depth events record (see [`Op::Caused`]).
    pub(crate) depth: u8,
}

pub(crate) fn create_tenant(
    tx: &mut Tx<'_>,
    input: TenantInput,
    actor: &Actor,
    now: Timestamp,
) -> Result<TenantRecord> {
    let tenant = Tenant::new(input, now)?;
    if tx
        .get(T::Tenants, tenant.slug.as_str().as_bytes())?
        .is_some()
    {
        return Err(Error::TenantExists(tenant.slug.to_string()));
    }
    let number = match tx.get(T::Meta, b"next_tenant")? {
        Some(b) => u32::from_le_bytes(b.as_slice().try_into().map_err(|_| corrupt_meta())?),
        None => 1,
    };
    let next = number
        .checked_add(1)
        .ok_or_else(|| Error::Storage("tenant numbers exhausted".into()))?;
    tx.put(T::Meta, b"next_tenant", &next.to_le_bytes())?;
    let record = TenantRecord { number, tenant };
    tx.put_as(T::Tenants, record.tenant.slug.as_str().as_bytes(), &record)?;
    let ctx = Ctx {
        tenant: number,
        actor,
        now,
        depth: 0,
    };
    append_event(
        tx,
        &ctx,
        EventKind::TenantCreated,
        EntityRef::Tenant,
        Vec::new(),
    )?;
    Ok(record)
}

fn corrupt_meta() -> Error {
    Error::Corrupt {
        table: "meta",
        detail: "bad counter".into(),
    }
}

pub(crate) fn apply(tx: &mut Tx<'_>, ctx: &Ctx<'_>, op: Op) -> Result<Output> {
    match op {
        Op::Plugin(op) => super::plugin_state::apply(tx, ctx, op),
        Op::Action(action) => super::actions::apply(tx, ctx, action),
        Op::Attempt(ops) => {
            let mark = tx.mark();
            let mut outputs = Vec::with_capacity(ops.len());
            for op in ops {
                match apply(tx, ctx, op) {
                    Ok(o) => outputs.push(o),
                    Err(e) => {
                        tx.rollback(mark)?;
                        return Ok(Output::Failed {
                            code: e.code().to_owned(),
                            message: e.to_string(),
                        });
                    }
                }
            }
            Ok(Output::Attempted(outputs))
        }
        Op::Caused { depth, ops } => {
            let ctx = Ctx { depth, ..*ctx };
            let outputs = ops
                .into_iter()
                .map(|op| apply(tx, &ctx, op))
                .collect::<Result<Vec<_>>>()?;
            Ok(Output::Attempted(outputs))
        }
        Op::CreateCustomer(input) => {
            let customer = Customer::new(CustomerId::generate(), input, ctx.now)?;
            check_organization(tx, ctx, &customer)?;
            put_customer(tx, ctx, None, &customer)?;
            append_event(
                tx,
                ctx,
                EventKind::CustomerCreated,
                EntityRef::Customer(customer.id),
                Vec::new(),
            )?;
            Ok(Output::Customer(customer))
        }
        Op::UpdateCustomer {
            id,
            expected_version,
            patch,
        } => {
            let old = load_customer(tx, ctx, id)?;
            if old.version != expected_version {
                return Err(Error::Conflict {
                    entity: "customer",
                    id: id.to_string(),
                    expected: expected_version,
                    actual: old.version,
                });
            }
            let mut new = old.clone();
            let changed = new.apply(patch, ctx.now)?;
            if changed.is_empty() {
                return Ok(Output::Customer(old));
            }
            if new.organization != old.organization {
                check_organization(tx, ctx, &new)?;
            }
            put_customer(tx, ctx, Some(&old), &new)?;
            let changed = changed.into_iter().map(str::to_owned).collect();
            append_event(
                tx,
                ctx,
                EventKind::CustomerUpdated,
                EntityRef::Customer(id),
                changed,
            )?;
            Ok(Output::Customer(new))
        }
        Op::EraseCustomer(id) => {
            erase_customer(tx, ctx, id)?;
            super::plugin_state::erase_outputs(tx, ctx.tenant, id)?;
            append_event(
                tx,
                ctx,
                EventKind::CustomerErased,
                EntityRef::Customer(id),
                Vec::new(),
            )?;
            Ok(Output::Erased(id))
        }
        Op::LogInteraction(input) => {
            load_customer(tx, ctx, input.customer)?;
            let interaction = Interaction::new(InteractionId::generate(), input, ctx.now)?;
            if let Some((source, ext)) = interaction.idempotency_key() {
                let key = K::t(ctx.tenant).word(source).text(ext).done();
                if let Some(existing) = tx.get(T::IdxInteractionExt, &key)? {
                    let id = id16(T::IdxInteractionExt, &existing)?;
                    let stored: Interaction = tx
                        .get_as(T::Interactions, &K::t(ctx.tenant).id(id).done())?
                        .ok_or_else(|| dangling(T::IdxInteractionExt))?;
                    if stored.customer != interaction.customer {
                        return Err(Error::Duplicate {
                            field: "external_id",
                            value: ext.to_owned(),
                            existing: format!("interaction {} of another customer", stored.id),
                        });
                    }
                    return Ok(Output::Interaction {
                        interaction: stored,
                        created: false,
                    });
                }
            }
            put_interaction(tx, ctx, None, &interaction)?;
            let entity = EntityRef::Interaction {
                id: interaction.id,
                customer: interaction.customer,
            };
            append_event(tx, ctx, EventKind::InteractionLogged, entity, Vec::new())?;
            Ok(Output::Interaction {
                interaction,
                created: true,
            })
        }
        Op::SetInteractionStatus { id, status } => {
            let key = K::t(ctx.tenant).id(id.to_bytes()).done();
            let old: Interaction = tx
                .get_as(T::Interactions, &key)?
                .ok_or_else(|| Error::not_found("interaction", id))?;
            let mut new = old.clone();
            if new.set_status(status)? {
                put_interaction(tx, ctx, Some(&old), &new)?;
                let entity = EntityRef::Interaction {
                    id,
                    customer: new.customer,
                };
                append_event(
                    tx,
                    ctx,
                    EventKind::InteractionUpdated,
                    entity,
                    vec!["status".into()],
                )?;
            }
            Ok(Output::Interaction {
                interaction: new,
                created: false,
            })
        }
        Op::CreatePipeline(input) => {
            let pipeline = Pipeline::new(PipelineId::generate(), input, ctx.now)?;
            let entries = derive::pipeline_entries(ctx.tenant, &pipeline);
            insert_entries(tx, &entries, |_, holder| Error::Duplicate {
                field: "name",
                value: pipeline.name.clone(),
                existing: match <[u8; 16]>::try_from(holder) {
                    Ok(id) => format!("pipeline {}", PipelineId::from_bytes(id)),
                    Err(_) => "another pipeline".into(),
                },
            })?;
            tx.put_as(
                T::Pipelines,
                &K::t(ctx.tenant).id(pipeline.id.to_bytes()).done(),
                &pipeline,
            )?;
            append_event(
                tx,
                ctx,
                EventKind::PipelineCreated,
                EntityRef::Pipeline(pipeline.id),
                Vec::new(),
            )?;
            Ok(Output::Pipeline(pipeline))
        }
        Op::CreateDeal(input) => {
            load_customer(tx, ctx, input.customer)?;
            let pipeline = load_pipeline(tx, ctx, input.pipeline)?;
            let deal = Deal::new(DealId::generate(), input, &pipeline, ctx.now)?;
            put_deal(tx, ctx, None, &deal)?;
            let entity = EntityRef::Deal {
                id: deal.id,
                customer: deal.customer,
            };
            append_event(tx, ctx, EventKind::DealCreated, entity, Vec::new())?;
            Ok(Output::Deal(deal))
        }
        Op::MoveDeal {
            id,
            stage,
            at,
            expected_version,
        } => {
            let key = K::t(ctx.tenant).id(id.to_bytes()).done();
            let old: Deal = tx
                .get_as(T::Deals, &key)?
                .ok_or_else(|| Error::not_found("deal", id))?;
            if let Some(v) = expected_version.filter(|v| *v != old.version) {
                return Err(Error::Conflict {
                    entity: "deal",
                    id: id.to_string(),
                    expected: v,
                    actual: old.version,
                });
            }
            let pipeline = load_pipeline(tx, ctx, old.pipeline)?;
            let mut new = old.clone();
            if new.move_to(stage, &pipeline, at.unwrap_or(ctx.now))? {
                put_deal(tx, ctx, Some(&old), &new)?;
                let entity = EntityRef::Deal {
                    id,
                    customer: new.customer,
                };
                append_event(tx, ctx, EventKind::DealMoved, entity, vec!["stage".into()])?;
            }
            Ok(Output::Deal(new))
        }
        Op::MergeCustomers {
            survivor,
            duplicate,
            expected_version,
        } => edit::merge_customers(tx, ctx, survivor, duplicate, expected_version),
        Op::UpdatePipeline {
            id,
            expected_version,
            patch,
        } => edit::update_pipeline(tx, ctx, id, expected_version, |p| p.apply(patch)),
        Op::ReorderStages {
            id,
            expected_version,
            order,
        } => edit::update_pipeline(tx, ctx, id, expected_version, |p| {
            p.reorder(&order)
                .map(|moved| if moved { vec!["stages"] } else { Vec::new() })
        }),
        Op::DeletePipeline(id) => edit::delete_pipeline(tx, ctx, id),
        Op::UpdateDeal {
            id,
            expected_version,
            patch,
        } => edit::update_deal(tx, ctx, id, expected_version, patch),
    }
}

fn id16(t: T, bytes: &[u8]) -> Result<[u8; 16]> {
    bytes.try_into().map_err(|_| Error::Corrupt {
        table: t.name(),
        detail: "index value is not an id".into(),
    })
}

pub(super) fn dangling(t: T) -> Error {
    Error::Corrupt {
        table: t.name(),
        detail: "index entry points at a missing record".into(),
    }
}

pub(super) fn load_customer(tx: &Tx<'_>, ctx: &Ctx<'_>, id: CustomerId) -> Result<Customer> {
    tx.get_as(T::Customers, &K::t(ctx.tenant).id(id.to_bytes()).done())?
        .ok_or_else(|| Error::not_found("customer", id))
}

pub(super) fn load_pipeline(tx: &Tx<'_>, ctx: &Ctx<'_>, id: PipelineId) -> Result<Pipeline> {
    tx.get_as(T::Pipelines, &K::t(ctx.tenant).id(id.to_bytes()).done())?
        .ok_or_else(|| Error::not_found("pipeline", id))
}

pub(super) fn check_organization(tx: &Tx<'_>, ctx: &Ctx<'_>, c: &Customer) -> Result<()> {
    let Some(org) = c.organization else {
        return Ok(());
    };
    match tx.get_as::<Customer>(T::Customers, &K::t(ctx.tenant).id(org.to_bytes()).done())? {
        Some(o) if o.kind == CustomerKind::Organization => Ok(()),
        Some(_) => Err(ValidationError::field(
            "organization",
            "the id of an organization, not of a person",
        )
        .into()),
        None => {
            Err(ValidationError::field("organization", "the id of an existing organization").into())
        }
    }
}

/// Inserts index entries, refusing a unique key that belongs to another entity.
fn insert_entries(
    tx: &mut Tx<'_>,
    entries: &[Entry],
    dup: impl Fn(&Entry, &[u8]) -> Error,
) -> Result<()> {
    for e in entries {
        let (table, key, value) = e;
        if derive::is_unique(*table)
            && let Some(existing) = tx.get(*table, key)?
        {
            if existing != *value {
                return Err(dup(e, &existing));
            }
            continue;
        }
        tx.put(*table, key, value)?;
    }
    Ok(())
}

/// Removes `old` entries not in `new`, then inserts `new` entries not in `old`.
pub(super) fn replace_entries(
    tx: &mut Tx<'_>,
    old: &[Entry],
    new: &[Entry],
    dup: impl Fn(&Entry, &[u8]) -> Error,
) -> Result<()> {
    let new_set: HashSet<&Entry> = new.iter().collect();
    let old_set: HashSet<&Entry> = old.iter().collect();
    for e in old.iter().filter(|e| !new_set.contains(e)) {
        tx.del(e.0, &e.1)?;
    }
    let added: Vec<Entry> = new
        .iter()
        .filter(|e| !old_set.contains(e))
        .cloned()
        .collect();
    insert_entries(tx, &added, dup)
}

pub(super) fn put_customer(
    tx: &mut Tx<'_>,
    ctx: &Ctx<'_>,
    old: Option<&Customer>,
    new: &Customer,
) -> Result<()> {
    let old_entries = old
        .map(|c| derive::customer_entries(ctx.tenant, c))
        .unwrap_or_default();
    let new_entries = derive::customer_entries(ctx.tenant, new);
    replace_entries(tx, &old_entries, &new_entries, |(table, key, _), holder| {
        let (field, value) = match table {
            T::IdxEmail => ("email", new.email.as_ref().map(ToString::to_string)),
            T::IdxPhone => ("phone", new.phone.as_ref().map(ToString::to_string)),
            // The external id whose entry is taken, not all of them.
            _ => (
                "external_id",
                new.external_ids
                    .iter()
                    .find(|x| K::t(ctx.tenant).word(&x.source).text(&x.id).done() == *key)
                    .map(|x| format!("{}:{}", x.source, x.id)),
            ),
        };
        let value = value.unwrap_or_default();
        match <[u8; 16]>::try_from(holder) {
            Ok(id) => Error::duplicate_customer(field, &value, CustomerId::from_bytes(id)),
            Err(_) => dangling(*table),
        }
    })?;
    tx.put_as(
        T::Customers,
        &K::t(ctx.tenant).id(new.id.to_bytes()).done(),
        new,
    )?;
    Ok(())
}

pub(super) fn put_interaction(
    tx: &mut Tx<'_>,
    ctx: &Ctx<'_>,
    old: Option<&Interaction>,
    new: &Interaction,
) -> Result<()> {
    let old_entries = old
        .map(|i| derive::interaction_entries(ctx.tenant, i))
        .unwrap_or_default();
    let new_entries = derive::interaction_entries(ctx.tenant, new);
    replace_entries(tx, &old_entries, &new_entries, |_, _| Error::Duplicate {
        field: "external_id",
        value: new.external_id.clone().unwrap_or_default(),
        existing: "another interaction".into(),
    })?;
    tx.put_as(
        T::Interactions,
        &K::t(ctx.tenant).id(new.id.to_bytes()).done(),
        new,
    )?;
    Ok(())
}

pub(super) fn put_deal(
    tx: &mut Tx<'_>,
    ctx: &Ctx<'_>,
    old: Option<&Deal>,
    new: &Deal,
) -> Result<()> {
    let bytes = tx.put_as(
        T::Deals,
        &K::t(ctx.tenant).id(new.id.to_bytes()).done(),
        new,
    )?;
    let old_entries = match old {
        Some(d) => derive::deal_entries(ctx.tenant, d, &super::tx::encode(d)?),
        None => Vec::new(),
    };
    let new_entries = derive::deal_entries(ctx.tenant, new, &bytes);
    // Covering index: the value changes with the deal, so always rewrite the stage entry.
    for (t, k, _) in &old_entries {
        tx.del(*t, k)?;
    }
    insert_entries(tx, &new_entries, |_, _| {
        Error::Storage("deal index collision".into())
    })
}

fn erase_customer(tx: &mut Tx<'_>, ctx: &Ctx<'_>, id: CustomerId) -> Result<()> {
    let customer = load_customer(tx, ctx, id)?;
    let t = ctx.tenant;
    for (key, _) in tx.scan(T::IdxTimeline, &K::t(t).id(id.to_bytes()).done())? {
        let iid = trailing_id(&key).ok_or_else(|| dangling(T::IdxTimeline))?;
        let ikey = K::t(t).id(iid).done();
        if let Some(i) = tx.get_as::<Interaction>(T::Interactions, &ikey)? {
            for (table, k, _) in derive::interaction_entries(t, &i) {
                tx.del(table, &k)?;
            }
        }
        tx.del(T::Interactions, &ikey)?;
    }
    for (key, _) in tx.scan(T::IdxCustomerDeals, &K::t(t).id(id.to_bytes()).done())? {
        let did = trailing_id(&key).ok_or_else(|| dangling(T::IdxCustomerDeals))?;
        let dkey = K::t(t).id(did).done();
        if let Some(d) = tx.get_as::<Deal>(T::Deals, &dkey)? {
            for (table, k, _) in derive::deal_entries(t, &d, &[]) {
                tx.del(table, &k)?;
            }
        }
        tx.del(T::Deals, &dkey)?;
    }
    if customer.kind == CustomerKind::Organization {
        for (key, _) in tx.scan(T::IdxOrg, &K::t(t).id(id.to_bytes()).done())? {
            let mid = trailing_id(&key).ok_or_else(|| dangling(T::IdxOrg))?;
            if let Some(old) = tx.get_as::<Customer>(T::Customers, &K::t(t).id(mid).done())? {
                let mut member = old.clone();
                member.organization = None;
                member.version += 1;
                member.updated_at = ctx.now;
                put_customer(tx, ctx, Some(&old), &member)?;
            }
        }
    }
    for (table, k, _) in derive::customer_entries(t, &customer) {
        tx.del(table, &k)?;
    }
    tx.del(T::Customers, &K::t(t).id(id.to_bytes()).done())
}

pub(super) fn append_event(
    tx: &mut Tx<'_>,
    ctx: &Ctx<'_>,
    kind: EventKind,
    entity: EntityRef,
    changed: Vec<String>,
) -> Result<u64> {
    let seq = tx.next_seq(ctx.tenant)?;
    let event = Event {
        seq,
        at: ctx.now,
        actor: ctx.actor.clone(),
        kind,
        entity,
        changed,
        depth: ctx.depth,
    };
    tx.put(
        T::Events,
        &K::t(ctx.tenant).u64(seq).done(),
        &super::records::encode_event(&event)?,
    )?;
    Ok(seq)
}
