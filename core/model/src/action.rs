//! The changes an automated actor (a plugin) may ask for. The only way a plugin changes
//! anything: the host resolves the entities they name and applies all of one call's actions in
//! one transaction, or none.
//!
//! These values are shape-checked when built (ids, emails, tags, currencies, finite numbers);
//! whether the entities exist and belong to the tenant is checked when they are applied.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    AttributeValue, Channel, CustomerId, CustomerKind, DealId, Direction, Email, ExternalId,
    InteractionKind, LifecycleStage, Money, PipelineId, Tag, TaskStatus, Timestamp,
};

/// How an action names a customer (WIT `customer-ref`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CustomerRef {
    /// By the host's id.
    Id(CustomerId),
    /// By email address.
    Email(Email),
    /// By an id in another system.
    External(ExternalId),
}

/// How an action names a pipeline (WIT `pipeline-ref`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PipelineRef {
    /// By the host's id.
    Id(PipelineId),
    /// By name (case-insensitive).
    Name(String),
}

/// Profile fields an upsert sets; `None` leaves a field unchanged (WIT `customer-fields`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerFields {
    /// Person or organization.
    pub kind: Option<CustomerKind>,
    /// The name to show.
    pub display_name: Option<String>,
    /// A person's given name.
    pub given_name: Option<String>,
    /// A person's family name.
    pub family_name: Option<String>,
    /// Phone number, as given (the store normalizes it).
    pub phone: Option<String>,
    /// ISO 3166-1 alpha-2 country code, as given.
    pub country: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Marketing consent.
    pub marketing_consent: Option<bool>,
}

/// An interaction a plugin asks to log (WIT `log-interaction`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogInteraction {
    /// The customer it belongs to.
    pub customer: CustomerRef,
    /// The channel.
    pub channel: Channel,
    /// The kind.
    pub kind: InteractionKind,
    /// Who started it.
    pub direction: Direction,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// Subject line.
    pub subject: Option<String>,
    /// Money involved.
    pub amount: Option<Money>,
    /// Rating.
    pub rating: Option<u8>,
    /// Task or ticket status.
    pub status: Option<TaskStatus>,
    /// Custom attributes.
    pub attributes: BTreeMap<String, AttributeValue>,
    /// Id in the source system, for idempotent logging.
    pub external_id: Option<ExternalId>,
}

/// A change a plugin asks the host to make (WIT `action`), shape-validated.
///
/// Whether the entities exist and belong to the calling tenant is the store's check when it
/// applies the actions; this type guarantees well-formed ids, emails, tags, attribute names,
/// currencies and finite numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    /// Find a customer by external id, then email; update it or create it.
    UpsertCustomer {
        /// Email to match and set.
        email: Option<Email>,
        /// External id to match and attach.
        external_id: Option<ExternalId>,
        /// Fields to set.
        fields: CustomerFields,
    },
    /// Set a custom attribute.
    SetAttribute {
        /// The customer.
        customer: CustomerRef,
        /// The attribute's name.
        name: String,
        /// Its new value.
        value: AttributeValue,
    },
    /// Remove a custom attribute.
    ClearAttribute {
        /// The customer.
        customer: CustomerRef,
        /// The attribute's name.
        name: String,
    },
    /// Add a tag.
    AddTag {
        /// The customer.
        customer: CustomerRef,
        /// The tag.
        tag: Tag,
    },
    /// Remove a tag.
    RemoveTag {
        /// The customer.
        customer: CustomerRef,
        /// The tag.
        tag: Tag,
    },
    /// Set the lifecycle stage.
    SetLifecycleStage {
        /// The customer.
        customer: CustomerRef,
        /// The new stage.
        stage: LifecycleStage,
    },
    /// Log an interaction.
    LogInteraction(LogInteraction),
    /// Create a task for the customer's owner.
    CreateTask {
        /// The customer.
        customer: CustomerRef,
        /// What to do.
        subject: String,
        /// When it is due.
        due_at: Option<Timestamp>,
    },
    /// Create a deal.
    CreateDeal {
        /// The customer.
        customer: CustomerRef,
        /// The pipeline.
        pipeline: PipelineRef,
        /// First stage by name; `None` for the pipeline's first.
        stage: Option<String>,
        /// Its value.
        amount: Option<Money>,
        /// Expected close.
        expected_close: Option<Timestamp>,
    },
    /// Move a deal to another stage of its pipeline.
    MoveDeal {
        /// The deal.
        deal: DealId,
        /// Target stage by name.
        stage: String,
    },
    /// Erase a customer for privacy; nothing happens if there is no such customer.
    EraseCustomer {
        /// The customer.
        customer: CustomerRef,
    },
}
