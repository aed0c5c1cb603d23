//! The domain ops: customers, interactions, pipelines and deals.

use super::{
    Ctx, Txn, conflict, edit, event, event_with, fields, load_customer, load_deal, load_pipeline,
    require_customer,
};
use crate::{Error, Result};
use crate::{Op, Output};
use kith_model::{
    Country, Customer, CustomerId, CustomerInput, CustomerKind, CustomerPatch, Deal, DealId, Email,
    EntityRef, EventKind, FieldObject, Interaction, InteractionId, InteractionPatch, Phone,
    Pipeline, PipelineId, ValidationError,
};

/// [`Op::UpsertCustomer`]: the customer the record's keys find (an id that finds no one is an
/// error, not a creation), changed; or a new one.
fn upsert_customer(txn: &mut dyn Txn, ctx: &Ctx<'_>, patch: CustomerPatch) -> Result<Output> {
    let existing = match patch.id {
        Some(id) => Some(load_customer(txn, id)?),
        None => upsert_match(txn, &patch)?,
    };
    match existing {
        Some(c) => {
            let expected_version = match patch.version {
                Some(v) if v != c.version => return Err(conflict("customer", c.id, v, c.version)),
                _ => c.version,
            };
            let op = Op::UpdateCustomer {
                id: c.id,
                expected_version,
                patch,
            };
            match apply(txn, ctx, op)? {
                Output::Customer(customer) => Ok(Output::Upserted {
                    changed: customer.version != c.version,
                    customer,
                    created: false,
                }),
                other => Ok(other),
            }
        }
        None => match apply(
            txn,
            ctx,
            Op::CreateCustomer(CustomerInput::from_patch(patch)),
        )? {
            Output::Customer(customer) => Ok(Output::Upserted {
                customer,
                created: true,
                changed: true,
            }),
            other => Ok(other),
        },
    }
}

/// The customer an upsert record's external ids, email or phone (in that order) name.
fn upsert_match(txn: &mut dyn Txn, patch: &CustomerPatch) -> Result<Option<Customer>> {
    let ids = patch
        .external_ids
        .iter()
        .flatten()
        .chain(&patch.add_external_ids);
    for x in ids {
        if let Some(id) = txn.customer_by_external(&x.source, &x.id)? {
            return txn.customer(id);
        }
    }
    if let Some(Some(raw)) = &patch.email
        && !raw.trim().is_empty()
        && let Some(id) = txn.customer_by_email(&Email::parse("email", raw)?)?
    {
        return txn.customer(id);
    }
    if let Some(Some(raw)) = &patch.phone
        && !raw.trim().is_empty()
    {
        let location = patch.location.as_ref().and_then(|l| l.country.clone());
        let country = match patch.country.clone().or(location).flatten() {
            Some(c) => Some(Country::parse("country", &c)?),
            None => None,
        };
        if let Some(id) = txn.customer_by_phone(&Phone::parse("phone", raw, country)?)? {
            return txn.customer(id);
        }
    }
    Ok(None)
}

pub(super) fn apply(txn: &mut dyn Txn, ctx: &Ctx<'_>, op: Op) -> Result<Output> {
    match op {
        Op::CreateCustomer(input) => {
            let customer = Customer::new(CustomerId::generate(), input, ctx.now)?;
            let attributes = Some(&customer.attributes);
            fields::write(
                txn,
                FieldObject::Customer,
                customer.id.to_bytes(),
                None,
                attributes,
            )?;
            check_organization(txn, &customer)?;
            super::check_owner(txn, None, customer.owner.as_deref())?;
            txn.put_customer(None, &customer)?;
            let consents = customer.consent_changes(None);
            event_with(
                txn,
                ctx,
                EventKind::CustomerCreated,
                EntityRef::Customer(customer.id),
                Vec::new(),
                consents,
            )?;
            Ok(Output::Customer(customer))
        }
        Op::UpdateCustomer {
            id,
            expected_version,
            patch,
        } => {
            let old = load_customer(txn, id)?;
            if old.version != expected_version {
                return Err(conflict("customer", id, expected_version, old.version));
            }
            let mut new = old.clone();
            let changed = new.apply(patch, ctx.now)?;
            if changed.is_empty() {
                return Ok(Output::Customer(old));
            }
            let (before, after) = (Some(&old.attributes), Some(&new.attributes));
            fields::write(txn, FieldObject::Customer, id.to_bytes(), before, after)?;
            if new.organization != old.organization {
                check_organization(txn, &new)?;
            }
            super::check_owner(txn, old.owner.as_deref(), new.owner.as_deref())?;
            txn.put_customer(Some(&old), &new)?;
            let changed = changed.into_iter().map(str::to_owned).collect();
            let consents = new.consent_changes(Some(&old));
            event_with(
                txn,
                ctx,
                EventKind::CustomerUpdated,
                EntityRef::Customer(id),
                changed,
                consents,
            )?;
            Ok(Output::Customer(new))
        }
        Op::UpsertCustomer(patch) => upsert_customer(txn, ctx, *patch),
        Op::EraseCustomer(id) => {
            erase_customer(txn, ctx, id)?;
            event(
                txn,
                ctx,
                EventKind::CustomerErased,
                EntityRef::Customer(id),
                Vec::new(),
            )?;
            Ok(Output::Erased(id))
        }
        Op::LogInteraction(input) => {
            require_customer(txn, input.customer)?;
            let interaction = Interaction::new(InteractionId::generate(), input, ctx.now)?;
            check_deal(txn, &interaction)?;
            super::check_user(txn, "assignee", None, interaction.assignee.as_deref())?;
            if let Some((source, ext)) = interaction.idempotency_key()
                && let Some(existing) = txn.interaction_by_external(source, ext)?
            {
                let stored = txn.interaction(existing)?.ok_or_else(|| Error::Corrupt {
                    table: "interactions",
                    detail: format!("external id {source}:{ext} names a missing interaction"),
                })?;
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
            if interaction.status.is_some() {
                let attributes = Some(&interaction.attributes);
                let id = interaction.id.to_bytes();
                fields::write(txn, FieldObject::WorkItem, id, None, attributes)?;
            }
            txn.put_interaction(None, &interaction)?;
            let entity = EntityRef::Interaction {
                id: interaction.id,
                customer: interaction.customer,
            };
            event(txn, ctx, EventKind::InteractionLogged, entity, Vec::new())?;
            Ok(Output::Interaction {
                interaction,
                created: true,
            })
        }
        Op::SetInteractionStatus { id, status } => update_interaction(
            txn,
            ctx,
            id,
            None,
            InteractionPatch {
                status: Some(status),
                ..InteractionPatch::default()
            },
        ),
        Op::UpdateInteraction {
            id,
            expected_version,
            patch,
        } => update_interaction(txn, ctx, id, expected_version, patch),
        Op::CreatePipeline(input) => {
            let pipeline = Pipeline::new(PipelineId::generate(), input, ctx.now)?;
            txn.put_pipeline(None, &pipeline)?;
            event(
                txn,
                ctx,
                EventKind::PipelineCreated,
                EntityRef::Pipeline(pipeline.id),
                Vec::new(),
            )?;
            Ok(Output::Pipeline(pipeline))
        }
        Op::CreateDeal(input) => create_deal(txn, ctx, input, ctx.now),
        Op::ReplayDeal { input, opened_at } => {
            if opened_at > ctx.now {
                return Err(ValidationError::field("opened_at", "a time not in the future").into());
            }
            create_deal(txn, ctx, input, opened_at)
        }
        Op::MoveDeal {
            id,
            stage,
            at,
            expected_version,
            lost_reason,
        } => {
            let old = load_deal(txn, id)?;
            if let Some(v) = expected_version.filter(|v| *v != old.version) {
                return Err(conflict("deal", id, v, old.version));
            }
            let pipeline = load_pipeline(txn, old.pipeline)?;
            let mut new = old.clone();
            let mut changed = Vec::new();
            if new.move_to(stage, &pipeline, at.unwrap_or(ctx.now))? {
                changed.push("stage".to_owned());
            }
            if old.lost_reason != new.lost_reason {
                changed.push("lost_reason".to_owned());
            }
            if lost_reason.is_some() && new.set_lost_reason(lost_reason.as_deref(), &pipeline)? {
                if changed.is_empty() {
                    new.version += 1;
                    new.updated_at = ctx.now;
                }
                if !changed.iter().any(|c| c == "lost_reason") {
                    changed.push("lost_reason".to_owned());
                }
            }
            if !changed.is_empty() {
                txn.put_deal(Some(&old), &new)?;
                let entity = EntityRef::Deal {
                    id,
                    customer: new.customer,
                };
                event(txn, ctx, EventKind::DealMoved, entity, changed)?;
            }
            Ok(Output::Deal(new))
        }
        Op::MergeCustomers {
            survivor,
            duplicate,
            expected_version,
        } => edit::merge_customers(txn, ctx, survivor, duplicate, expected_version),
        Op::UpdatePipeline {
            id,
            expected_version,
            patch,
        } => edit::update_pipeline(txn, ctx, id, expected_version, |p| p.apply(patch)),
        Op::ReorderStages {
            id,
            expected_version,
            order,
        } => edit::update_pipeline(txn, ctx, id, expected_version, |p| {
            p.reorder(&order)
                .map(|moved| if moved { vec!["stages"] } else { Vec::new() })
        }),
        Op::DeletePipeline(id) => edit::delete_pipeline(txn, ctx, id),
        Op::UpdateDeal {
            id,
            expected_version,
            patch,
        } => edit::update_deal(txn, ctx, id, expected_version, patch),
        _ => Err(Error::Storage(
            "a composite or user op reached the domain ops".into(),
        )),
    }
}

fn update_interaction(
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    id: InteractionId,
    expected_version: Option<u64>,
    patch: InteractionPatch,
) -> Result<Output> {
    let old = txn
        .interaction(id)?
        .ok_or_else(|| Error::not_found("interaction", id))?;
    if let Some(v) = expected_version.filter(|v| *v != old.version) {
        return Err(conflict("interaction", id, v, old.version));
    }
    let mut new = old.clone();
    let changes = new.apply(patch, ctx.now)?;
    if changes.is_empty() {
        return Ok(Output::Interaction {
            interaction: old,
            created: false,
        });
    }
    if new.deal != old.deal {
        check_deal(txn, &new)?;
    }
    super::check_user(
        txn,
        "assignee",
        old.assignee.as_deref(),
        new.assignee.as_deref(),
    )?;
    txn.put_interaction(Some(&old), &new)?;
    let entity = EntityRef::Interaction {
        id,
        customer: new.customer,
    };
    super::event_with_values(txn, ctx, EventKind::InteractionUpdated, entity, changes)?;
    Ok(Output::Interaction {
        interaction: new,
        created: false,
    })
}

/// The deal an interaction names must be a deal of its customer.
fn check_deal(txn: &mut dyn Txn, i: &Interaction) -> Result<()> {
    let Some(deal) = i.deal else {
        return Ok(());
    };
    match txn.deal(deal)? {
        Some(d) if d.customer == i.customer => Ok(()),
        Some(_) => Err(ValidationError::field(
            "deal",
            "a deal of the same customer (this deal belongs to another one)",
        )
        .into()),
        None => Err(ValidationError::field("deal", "the id of an existing deal").into()),
    }
}

/// The organization a customer names must exist and be an organization.
pub(super) fn check_organization(txn: &mut dyn Txn, c: &Customer) -> Result<()> {
    let Some(org) = c.organization else {
        return Ok(());
    };
    match txn.customer(org)? {
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

/// Erases a customer for privacy: their interactions, deals and plugin outputs go, members of an
/// erased organization are unlinked from it.
fn erase_customer(txn: &mut dyn Txn, ctx: &Ctx<'_>, id: CustomerId) -> Result<()> {
    let customer = load_customer(txn, id)?;
    for iid in txn.interactions_of(id)? {
        if let Some(i) = txn.interaction(iid)? {
            if i.status.is_some() {
                fields::write(
                    txn,
                    FieldObject::WorkItem,
                    iid.to_bytes(),
                    Some(&i.attributes),
                    None,
                )?;
            }
            txn.delete_interaction(&i)?;
        }
    }
    for did in txn.deals_of(id)? {
        if let Some(d) = txn.deal(did)? {
            fields::write(
                txn,
                FieldObject::Deal,
                did.to_bytes(),
                Some(&d.attributes),
                None,
            )?;
            txn.delete_deal(&d)?;
        }
    }
    if customer.kind == CustomerKind::Organization {
        for mid in txn.members(id)? {
            if let Some(old) = txn.customer(mid)? {
                let mut member = old.clone();
                member.organization = None;
                member.version += 1;
                member.updated_at = ctx.now;
                txn.put_customer(Some(&old), &member)?;
            }
        }
    }
    txn.delete_outputs(id)?;
    fields::write(
        txn,
        FieldObject::Customer,
        id.to_bytes(),
        Some(&customer.attributes),
        None,
    )?;
    txn.delete_customer(&customer)
}

fn create_deal(
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    input: kith_model::DealInput,
    opened_at: kith_model::Timestamp,
) -> Result<Output> {
    require_customer(txn, input.customer)?;
    let pipeline = load_pipeline(txn, input.pipeline)?;
    let deal = Deal::new(DealId::generate(), input, &pipeline, opened_at)?;
    fields::write(
        txn,
        FieldObject::Deal,
        deal.id.to_bytes(),
        None,
        Some(&deal.attributes),
    )?;
    super::check_owner(txn, None, deal.owner.as_deref())?;
    txn.put_deal(None, &deal)?;
    let entity = EntityRef::Deal {
        id: deal.id,
        customer: deal.customer,
    };
    event(txn, ctx, EventKind::DealCreated, entity, Vec::new())?;
    Ok(Output::Deal(deal))
}
