//! The event log: one entry per mutation, gap-free sequence numbers per tenant.

use serde::{Deserialize, Serialize};

use super::{Actor, CustomerId, DealId, InteractionId, PipelineId, TeamId, Timestamp, UserId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventKind {
    /// The tenant was created (always sequence number 1).
    TenantCreated,
    /// A customer was created.
    CustomerCreated,
    /// A customer was changed.
    CustomerUpdated,
    /// A customer and their interactions and deals were erased for privacy; only this event remains.
    CustomerErased,
    /// An interaction was logged.
    InteractionLogged,
    /// An interaction was changed.
    InteractionUpdated,
    /// A pipeline was created.
    PipelineCreated,
    /// A deal was created.
    DealCreated,
    /// A deal was changed.
    DealUpdated,
    /// A deal moved to another stage.
    DealMoved,
    /// A plugin was enabled for the tenant (`changed`: plugin id, version).
    PluginEnabled,
    /// An enabled plugin's configuration or version changed (`changed`: plugin id, version).
    PluginReconfigured,
    /// A plugin was disabled for the tenant (`changed`: plugin id, version).
    PluginDisabled,
    /// The tenant's name or industry changed.
    TenantUpdated,
    /// A duplicate customer was merged into a survivor, which kept both histories.
    CustomersMerged,
    /// A pipeline's name or stages changed (including their order).
    PipelineUpdated,
    /// An empty pipeline was deleted.
    PipelineDeleted,
    /// A user was added to the tenant.
    UserCreated,
    /// A user's name, email, role, teams or active flag changed.
    UserUpdated,
    /// A team was created.
    TeamCreated,
    /// A team's name or sharing changed.
    TeamUpdated,
    /// A team without members was deleted.
    TeamDeleted,
    /// A user's or team's sales target for a period was set (`changed`: period, start,
    /// currency).
    QuotaSet,
    /// A sales target was removed (`changed` as for [`EventKind::QuotaSet`]).
    QuotaRemoved,
    /// A custom field was defined or redefined (entity: the tenant; `changed`:
    /// `<object>.<key>`).
    FieldDefined,
    /// A custom field's definition was removed (`changed` as for [`EventKind::FieldDefined`]).
    FieldRemoved,
}

/// The entity an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EntityRef {
    /// The tenant itself.
    Tenant,
    /// A customer.
    Customer(CustomerId),
    /// An interaction, with its customer so followers need not look it up.
    Interaction {
        /// The interaction.
        id: InteractionId,
        /// Its customer.
        customer: CustomerId,
    },
    /// A pipeline.
    Pipeline(PipelineId),
    /// A deal, with its customer.
    Deal {
        /// The deal.
        id: DealId,
        /// Its customer.
        customer: CustomerId,
    },
    /// Two customers merged: the survivor stays, the duplicate is gone.
    Merged {
        /// The customer that kept both histories.
        survivor: CustomerId,
        /// The customer merged into it (no longer exists).
        duplicate: CustomerId,
    },
    /// A user.
    User(UserId),
    /// A team.
    Team(TeamId),
}

impl EntityRef {
    /// The customer the event concerns, if any: what plugin dispatch rescores.
    pub fn customer(&self) -> Option<CustomerId> {
        match *self {
            Self::Customer(c) => Some(c),
            Self::Interaction { customer, .. } | Self::Deal { customer, .. } => Some(customer),
            Self::Merged { survivor, .. } => Some(survivor),
            Self::Tenant | Self::Pipeline(_) | Self::User(_) | Self::Team(_) => None,
        }
    }
}

/// One entry of a tenant's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Sequence number: 1, 2, 3, ... per tenant, without gaps.
    pub seq: u64,
    /// When it was committed.
    pub at: Timestamp,
    /// Who did it.
    pub actor: Actor,
    /// What happened.
    pub kind: EventKind,
    /// To what.
    pub entity: EntityRef,
    /// Names of the fields that changed (empty for creations and erasures).
    pub changed: Vec<String>,
    /// How many plugin reactions led to it: 0 for a change made by a person or a client of the
    /// API, 1 for a plugin's action taken in reaction to such a change (or to a webhook or a
    /// rescore), 2 for a plugin's reaction to that, and so on. Plugin writes past the host's
    /// maximum depth are refused, so two plugins reacting to each other cannot write forever.
    #[serde(default)]
    pub depth: u8,
    /// The old and new value of each changed field, for changes that record them (edits of
    /// interactions and work items); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FieldChange>,
}

/// Longest value a [`FieldChange`] keeps, in characters: a longer one (a body) is cut there
/// and ends with `…`, so one edit cannot make the event log grow by megabytes.
pub const MAX_CHANGE_VALUE_CHARS: usize = 1_000;

/// One field's change: its value before and after, as text (`null`: empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldChange {
    /// The field.
    pub field: String,
    /// Its value before.
    pub old: Option<String>,
    /// Its value after.
    pub new: Option<String>,
}

impl FieldChange {
    /// A change of `field` from `old` to `new`, each cut to [`MAX_CHANGE_VALUE_CHARS`].
    pub fn new(field: &str, old: Option<String>, new: Option<String>) -> Self {
        Self {
            field: field.to_owned(),
            old: old.map(cut),
            new: new.map(cut),
        }
    }
}

fn cut(mut s: String) -> String {
    if let Some((i, _)) = s.char_indices().nth(MAX_CHANGE_VALUE_CHARS) {
        s.truncate(i);
        s.push('…');
    }
    s
}
