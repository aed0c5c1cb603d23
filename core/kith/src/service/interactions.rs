//! Interactions: log, read, change the status of tasks and tickets, list due work.

use crate::model::{
    Actor, Interaction, InteractionId, InteractionInput, TaskStatus, TenantSlug, Timestamp,
};
use crate::store::{Error, Result};
use crate::store::{IdempotencyKey, Once, Op, Output, Page, PageRequest, Store, unexpected};

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

/// Logs an interaction.
pub fn log(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    input: InteractionInput,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Logged>> {
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

/// An interaction by id.
pub fn get(store: &dyn Store, tenant: &TenantSlug, id: InteractionId) -> Result<Interaction> {
    store
        .interaction(tenant, id)?
        .ok_or_else(|| Error::not_found("interaction", id))
}

/// Changes the status of a task or ticket.
pub fn set_status(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    id: InteractionId,
    status: TaskStatus,
) -> Result<Interaction> {
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
    until: Timestamp,
    page: &PageRequest,
) -> Result<Page<Interaction>> {
    store.due_tasks(tenant, until, page)
}
