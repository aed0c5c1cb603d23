//! Applying a plugin's [`Action`] inside the transaction: the customers, pipelines, stages and
//! deals it names are resolved against the calling tenant's data only, then it becomes an
//! ordinary [`Op`]. Earlier actions of the same call are visible to later ones, so a plugin can
//! upsert a customer by email and log a purchase for that email in one call.

use super::{Ctx, Txn, apply as apply_op, load_deal};
use crate::{Error, Result};
use crate::{Op, Output};
use kith_model::{
    Action, Channel, ConsentSource, Country, Customer, CustomerFields, CustomerInput,
    CustomerPatch, CustomerRef, DealInput, Direction, InteractionInput, InteractionKind, Phone,
    Pipeline, PipelineRef, TaskStatus, ValidationError,
};

pub(super) fn apply(tx: &mut dyn Txn, ctx: &Ctx<'_>, action: Action) -> Result<Output> {
    match action {
        Action::UpsertCustomer {
            email,
            external_id,
            fields,
        } => {
            let by_external = match &external_id {
                Some(x) => find(tx, &CustomerRef::External(x.clone()))?,
                None => None,
            };
            let existing = match (by_external, &email) {
                (Some(c), _) => Some(c),
                (None, Some(e)) => find(tx, &CustomerRef::Email(e.clone()))?,
                (None, None) => None,
            };
            // A phone that already belongs to another customer (a household's, a shop's
            // placeholder) is left out rather than refusing the whole upsert: the customer is
            // matched by email or external id, and one shared number must not stop a shop's
            // orders.
            let mut fields = fields;
            if let Some(raw) = &fields.phone
                && phone_taken(tx, raw, fields.country.as_deref(), existing.as_ref())?
            {
                fields.phone = None;
            }
            match existing {
                Some(c) => {
                    let mut patch = fields_patch(fields);
                    if c.email.is_none() {
                        patch.email = email.map(|e| Some(e.as_str().to_owned()));
                    }
                    if let Some(x) = external_id
                        && !c.external_ids.contains(&x)
                    {
                        patch.add_external_ids.push(x);
                    }
                    update(tx, ctx, &c, patch)
                }
                None => {
                    let name = fields
                        .display_name
                        .clone()
                        .or_else(|| email.as_ref().map(|e| e.as_str().to_owned()))
                        .or_else(|| {
                            external_id
                                .as_ref()
                                .map(|x| format!("{}:{}", x.source, x.id))
                        });
                    let input = CustomerInput {
                        kind: fields.kind.unwrap_or_default(),
                        name,
                        first_name: fields.given_name,
                        last_name: fields.family_name,
                        email: email.map(|e| e.as_str().to_owned()),
                        phone: fields.phone,
                        external_ids: external_id.into_iter().collect(),
                        country: fields.country,
                        region: fields.region,
                        city: fields.city,
                        marketing_consent: fields.marketing_consent.unwrap_or(false),
                        consent_source: ConsentSource::Plugin,
                        ..CustomerInput::default()
                    };
                    apply_op(tx, ctx, Op::CreateCustomer(input))
                }
            }
        }
        Action::SetAttribute {
            customer,
            name,
            value,
        } => {
            let c = resolve(tx, &customer)?;
            let mut patch = CustomerPatch::default();
            patch.set_attributes.insert(name, value);
            update(tx, ctx, &c, patch)
        }
        Action::ClearAttribute { customer, name } => {
            let c = resolve(tx, &customer)?;
            let patch = CustomerPatch {
                remove_attributes: vec![name],
                ..CustomerPatch::default()
            };
            update(tx, ctx, &c, patch)
        }
        Action::AddTag { customer, tag } => {
            let c = resolve(tx, &customer)?;
            let patch = CustomerPatch {
                add_tags: vec![tag.as_str().to_owned()],
                ..CustomerPatch::default()
            };
            update(tx, ctx, &c, patch)
        }
        Action::RemoveTag { customer, tag } => {
            let c = resolve(tx, &customer)?;
            let patch = CustomerPatch {
                remove_tags: vec![tag.as_str().to_owned()],
                ..CustomerPatch::default()
            };
            update(tx, ctx, &c, patch)
        }
        Action::SetLifecycleStage { customer, stage } => {
            let c = resolve(tx, &customer)?;
            let patch = CustomerPatch {
                lifecycle: Some(stage),
                ..CustomerPatch::default()
            };
            update(tx, ctx, &c, patch)
        }
        Action::LogInteraction(l) => {
            let c = resolve(tx, &l.customer)?;
            let (source, external_id) = match l.external_id {
                Some(x) => (Some(x.source), Some(x.id)),
                None => (None, None),
            };
            let input = InteractionInput {
                direction: Some(l.direction),
                occurred_at: Some(l.occurred_at),
                subject: l.subject,
                amount: l.amount,
                status: l.status,
                rating: l.rating,
                attributes: l.attributes,
                source,
                external_id,
                ..InteractionInput::new(c.id, l.channel, l.kind)
            };
            apply_op(tx, ctx, Op::LogInteraction(input))
        }
        Action::CreateTask {
            customer,
            subject,
            due_at,
        } => {
            let c = resolve(tx, &customer)?;
            let input = InteractionInput {
                direction: Some(Direction::Outbound),
                subject: Some(subject),
                status: Some(TaskStatus::Open),
                due_at,
                ..InteractionInput::new(c.id, Channel::Other, InteractionKind::Task)
            };
            apply_op(tx, ctx, Op::LogInteraction(input))
        }
        Action::CreateDeal {
            customer,
            pipeline,
            stage,
            amount,
            expected_close,
        } => {
            let c = resolve(tx, &customer)?;
            let pipeline = pipeline_by_ref(tx, &pipeline)?;
            let stage = match stage {
                Some(name) => Some(stage_by_name(&pipeline, &name)?),
                None => None,
            };
            let amount = amount.ok_or_else(|| {
                ValidationError::field("amount", "the deal's value: Kith keeps one for every deal")
            })?;
            let input = DealInput {
                attributes: Default::default(),
                customer: c.id,
                pipeline: pipeline.id,
                stage,
                title: format!("{}: {}", pipeline.name, c.name),
                amount,
                expected_close: expected_close.map(|t| t.date()),
                owner: active_owner(tx, c.owner.as_deref())?,
            };
            apply_op(tx, ctx, Op::CreateDeal(input))
        }
        Action::MoveDeal { deal, stage } => {
            let d = load_deal(tx, deal)?;
            let pipeline = pipeline_by_ref(tx, &PipelineRef::Id(d.pipeline))?;
            let stage = stage_by_name(&pipeline, &stage)?;
            apply_op(
                tx,
                ctx,
                Op::MoveDeal {
                    lost_reason: None,
                    id: deal,
                    stage,
                    at: None,
                    expected_version: None,
                },
            )
        }
        Action::EraseCustomer { customer } => match find(tx, &customer)? {
            // A repeated privacy request finds nothing left: that is success.
            None => Ok(Output::Done),
            Some(c) => apply_op(tx, ctx, Op::EraseCustomer(c.id)),
        },
    }
}

/// The patch that sets the given profile fields and leaves the others.
fn fields_patch(f: CustomerFields) -> CustomerPatch {
    CustomerPatch {
        name: f.display_name.map(Some),
        first_name: f.given_name.map(Some),
        last_name: f.family_name.map(Some),
        phone: f.phone.map(Some),
        country: f.country.map(Some),
        region: f.region.map(Some),
        city: f.city.map(Some),
        marketing_consent: f.marketing_consent,
        consent_source: ConsentSource::Plugin,
        ..CustomerPatch::default()
    }
}

/// Applies `patch` to the customer as it is now in this transaction.
fn update(tx: &mut dyn Txn, ctx: &Ctx<'_>, c: &Customer, patch: CustomerPatch) -> Result<Output> {
    apply_op(
        tx,
        ctx,
        Op::UpdateCustomer {
            id: c.id,
            expected_version: c.version,
            patch,
        },
    )
}

/// The customer a reference names, or `NotFound`.
fn resolve(tx: &mut dyn Txn, r: &CustomerRef) -> Result<Customer> {
    find(tx, r)?.ok_or_else(|| match r {
        CustomerRef::Id(id) => Error::not_found("customer", id),
        CustomerRef::Email(e) => Error::not_found("customer with email", e.as_str()),
        CustomerRef::External(x) => Error::not_found(
            "customer with external id",
            format!("{}:{}", x.source, x.id),
        ),
    })
}

/// Whether `raw` (once normalized) is the phone of a customer other than `me`. A phone that does
/// not parse is not taken: validation reports it as usual.
fn phone_taken(
    tx: &mut dyn Txn,
    raw: &str,
    country: Option<&str>,
    me: Option<&Customer>,
) -> Result<bool> {
    let country = country
        .and_then(|c| Country::parse("country", c).ok())
        .or_else(|| me.and_then(|c| c.location.country));
    let Ok(phone) = Phone::parse("phone", raw, country) else {
        return Ok(false);
    };
    let holder = tx.customer_by_phone(&phone)?;
    Ok(holder.is_some_and(|id| me.is_none_or(|c| c.id != id)))
}

/// The customer a reference names in the calling tenant, if any.
fn find(tx: &mut dyn Txn, r: &CustomerRef) -> Result<Option<Customer>> {
    let id = match r {
        CustomerRef::Id(id) => Some(*id),
        CustomerRef::Email(e) => tx.customer_by_email(e)?,
        CustomerRef::External(x) => tx.customer_by_external(&x.source, &x.id)?,
    };
    match id {
        Some(id) => tx.customer(id),
        None => Ok(None),
    }
}

fn pipeline_by_ref(tx: &mut dyn Txn, r: &PipelineRef) -> Result<Pipeline> {
    let id = match r {
        PipelineRef::Id(id) => *id,
        PipelineRef::Name(name) => tx
            .pipeline_by_name(name)?
            .ok_or_else(|| Error::not_found("pipeline named", name))?,
    };
    tx.pipeline(id)?
        .ok_or_else(|| Error::not_found("pipeline", id))
}

fn stage_by_name(p: &Pipeline, name: &str) -> Result<kith_model::StageId> {
    p.stages
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .map(|s| s.id)
        .ok_or_else(|| {
            ValidationError::field(
                "stage",
                format!(
                    "a stage of pipeline '{}': {}",
                    p.name,
                    p.stages
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .into()
        })
}

/// The customer's owner for a deal a plugin creates, unless they were deactivated (a new deal
/// is not given to someone who can no longer work it).
fn active_owner(tx: &mut dyn Txn, owner: Option<&str>) -> Result<Option<String>> {
    let Some(id) = owner.and_then(|o| kith_model::UserId::parse("owner", o).ok()) else {
        return Ok(None);
    };
    Ok(tx.user(id)?.filter(|u| u.active).map(|u| u.id.to_string()))
}
