//! Interactions: log, read, change the status of tasks and tickets, list due work.

use crate::model::{
    Actor, Interaction, InteractionId, InteractionInput, TaskStatus, TenantSlug, Timestamp,
};
use crate::store::{Error, Result};
use crate::store::{IdempotencyKey, Once, Op, Output, Page, PageRequest, Store, unexpected};

use super::access::{Access, filtered_page};
use super::customers::write_one;

/// A logged interaction and whether this request stored it (false: its external id, or the
/// idempotency key, was seen before).
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    /// The interaction.
    pub interaction: Interaction,
    /// Whether it is new.
    pub created: bool,
}

/// Logs an interaction; a limited user logs only on customers they may change.
pub fn log(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    access: &Access,
    input: InteractionInput,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Logged>> {
    if !access.is_full() {
        let c = store
            .customer(tenant, input.customer)?
            .ok_or_else(|| Error::not_found("customer", input.customer))?;
        access.check_customer_write(&c)?;
    }
    let once = write_one(store, tenant, actor, Op::LogInteraction(input), key)?;
    match once.value {
        Output::Interaction {
            interaction,
            created,
        } => Ok(Once {
            value: Logged {
                interaction,
                created,
            },
            replayed: once.replayed,
        }),
        other => Err(unexpected(&other)),
    }
}

/// An interaction by id (missing too when the caller may not read its customer).
pub fn get(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    id: InteractionId,
) -> Result<Interaction> {
    let i = store
        .interaction(tenant, id)?
        .ok_or_else(|| Error::not_found("interaction", id))?;
    if !customer_readable(store, tenant, access, &i)? {
        return Err(Error::not_found("interaction", id));
    }
    Ok(i)
}

/// Whether the caller may read the interaction's customer.
fn customer_readable(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    i: &Interaction,
) -> Result<bool> {
    if access.is_full() {
        return Ok(true);
    }
    Ok(store
        .customer(tenant, i.customer)?
        .is_some_and(|c| access.reads(c.owner.as_deref())))
}

/// Changes the status of a task or ticket.
pub fn set_status(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    access: &Access,
    id: InteractionId,
    status: TaskStatus,
) -> Result<Interaction> {
    if !access.is_full() {
        let i = get(store, tenant, access, id)?;
        let c = store
            .customer(tenant, i.customer)?
            .ok_or_else(|| Error::not_found("interaction", id))?;
        access.check_customer_write(&c)?;
    }
    match write_one(
        store,
        tenant,
        actor,
        Op::SetInteractionStatus { id, status },
        None,
    )?
    .value
    {
        Output::Interaction { interaction, .. } => Ok(interaction),
        other => Err(unexpected(&other)),
    }
}

/// Open tasks and tickets due at or before `until`, earliest first.
pub fn due(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    until: Timestamp,
    page: &PageRequest,
) -> Result<Page<Interaction>> {
    if access.is_full() {
        return store.due_tasks(tenant, until, page);
    }
    filtered_page(
        page,
        |p| store.due_tasks(tenant, until, p),
        |i| customer_readable(store, tenant, access, i),
    )
}
