//! The domain types of the plugin boundary: what the host passes to plugins and what it accepts
//! back. They mirror the WIT `types` interface but use the model's validated types (ids, money,
//! tags, emails), so a value of these types is already shape-checked.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use kith_model::{Action, CustomerFields, CustomerRef, LogInteraction, PipelineRef};
use kith_model::{
    AttributeValue, Channel, CustomerKind, Direction, InteractionKind, LifecycleStage,
    LimitOverrides, Money, Timestamp,
};

/// A capability a plugin implements; each is one WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Capability {
    /// World `scorer`: `populate` and `score`.
    Scorer,
    /// World `segmenter`: `populate` and `classify`.
    Segmenter,
    /// World `commerce-hook`: `handle`.
    CommerceHook,
}

impl Capability {
    /// The WIT world's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scorer => "scorer",
            Self::Segmenter => "segmenter",
            Self::CommerceHook => "commerce-hook",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin's validated description of itself (WIT `manifest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Manifest {
    /// Reverse-DNS style id, e.g. `kith.rfm`.
    pub id: String,
    /// Semantic version, e.g. `1.2.0`.
    pub version: String,
    /// Display name.
    pub name: String,
    /// What the plugin does.
    pub description: String,
    /// Industries it is meant for.
    pub industries: Vec<String>,
    /// The capabilities it implements (exactly the world of its component).
    pub capabilities: Vec<Capability>,
    /// JSON Schema of its configuration.
    pub config_schema: serde_json::Value,
    /// What input it needs.
    pub needs: InputNeeds,
    /// The segments it provides (segmenters only).
    pub segments: Vec<SegmentInfo>,
    /// The budgets it asks for instead of the host's defaults (contract 0.2.0); the host caps
    /// each at its ceiling and a tenant's overrides still win.
    #[serde(default)]
    pub budgets: ManifestBudgets,
}

/// Default budgets a plugin declares in its manifest (WIT `budgets`, contract 0.2.0); `None`
/// keeps the host's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManifestBudgets {
    /// Per-customer calls and webhooks.
    pub call: LimitOverrides,
    /// The population step.
    pub population: LimitOverrides,
}

/// What input a plugin needs from the host (WIT `input-needs`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InputNeeds {
    /// How many recent interactions to put in each [`CustomerView`].
    pub recent_interactions: u32,
    /// Whether the host must run the population step and pass its model.
    pub population: bool,
    /// Attributes to include in population summaries.
    pub population_attributes: Vec<String>,
    /// How many of the most recently closed deals to put in each [`CustomerView`] (contract
    /// 0.2.0).
    #[serde(default)]
    pub closed_deals: u32,
}

/// A segment a segmenter provides (WIT `segment-info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentInfo {
    /// Stable id, unique within the plugin.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What membership means.
    pub description: String,
}

/// Everything a plugin may know about one customer (WIT `customer-view`).
///
/// Build it with [`CustomerView::from_model`]; in JSON (`kith plugin run`) every field but `id`
/// and `display_name` may be left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerView {
    /// The host's id of the customer (opaque to plugins).
    pub id: String,
    /// Person or organization.
    #[serde(default)]
    pub kind: CustomerKind,
    /// The name to show.
    pub display_name: String,
    /// A person's given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// A person's family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Primary email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Primary phone number (E.164).
    #[serde(default)]
    pub phone: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default)]
    pub country: Option<String>,
    /// Region, state or province.
    #[serde(default)]
    pub region: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// Lifecycle stage.
    #[serde(default)]
    pub lifecycle_stage: LifecycleStage,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Typed custom attributes by name.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeValue>,
    /// Id of the owning staff member.
    #[serde(default)]
    pub owner: Option<String>,
    /// Marketing consent.
    #[serde(default)]
    pub marketing_consent: bool,
    /// When the customer was created in Kith.
    #[serde(default = "epoch")]
    pub created_at: Timestamp,
    /// Totals per interaction kind, only for kinds with at least one interaction.
    #[serde(default)]
    pub aggregates: Vec<InteractionAggregate>,
    /// The most recent interactions, newest first.
    #[serde(default)]
    pub recent_interactions: Vec<InteractionView>,
    /// The customer's open deals.
    #[serde(default)]
    pub open_deals: Vec<DealView>,
    /// The customer's most recently closed deals, newest first (contract 0.2.0; 0.1.0 plugins
    /// do not see them).
    #[serde(default)]
    pub closed_deals: Vec<DealView>,
}

/// The Unix epoch, the default of timestamps left out of JSON input.
fn epoch() -> Timestamp {
    Timestamp::from_micros(0)
}

/// Totals of a customer's interactions of one kind (WIT `interaction-aggregate`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionAggregate {
    /// The kind aggregated.
    pub kind: InteractionKind,
    /// How many interactions of this kind (at least 1).
    pub count: u64,
    /// Sum of their amounts, one entry per currency.
    #[serde(default)]
    pub totals: Vec<Money>,
    /// When the first one happened.
    pub first_at: Timestamp,
    /// The amount of the first one, if it had one (contract 0.2.0).
    #[serde(default)]
    pub first_amount: Option<Money>,
    /// When the latest one happened.
    pub last_at: Timestamp,
}

/// One interaction as shown to a plugin (WIT `interaction`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionView {
    /// The host's id of the interaction.
    pub id: String,
    /// The channel.
    pub channel: Channel,
    /// The kind.
    pub kind: InteractionKind,
    /// Who started it.
    pub direction: Direction,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// The money involved.
    #[serde(default)]
    pub amount: Option<Money>,
    /// A rating, e.g. NPS 0-10.
    #[serde(default)]
    pub rating: Option<u8>,
    /// Status of a task or ticket.
    #[serde(default)]
    pub status: Option<String>,
    /// Custom attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeValue>,
}

/// Where a deal stands (WIT `deal-status`, contract 0.2.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DealStatus {
    /// In a stage of category `open`.
    #[default]
    Open,
    /// Won.
    Won,
    /// Lost.
    Lost,
}

/// A deal as shown to a plugin (WIT `deal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealView {
    /// The host's id of the deal.
    pub id: String,
    /// The id of its pipeline.
    pub pipeline_id: String,
    /// The name of its pipeline.
    pub pipeline_name: String,
    /// The name of its current stage.
    pub stage: String,
    /// Its value.
    #[serde(default)]
    pub amount: Option<Money>,
    /// The stage's win probability in percent.
    #[serde(default)]
    pub probability: u8,
    /// Expected close (midnight UTC of the date).
    #[serde(default)]
    pub expected_close: Option<Timestamp>,
    /// Open, won or lost.
    #[serde(default)]
    pub status: DealStatus,
    /// When a closed deal entered its closing stage.
    #[serde(default)]
    pub closed_at: Option<Timestamp>,
}

/// The input of one per-customer call, `score` or `classify` (WIT `customer-input`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerCall {
    /// The customer to evaluate.
    pub customer: CustomerView,
    /// The tenant's configuration of the plugin, as JSON text (already validated by the caller).
    #[serde(default = "empty_config")]
    pub config: String,
    /// The host's current time: also what the plugin's WASI clocks read.
    pub now: Timestamp,
    /// Seed of the plugin's randomness, WASI random included.
    #[serde(default)]
    pub seed: u64,
    /// The latest population model, if any.
    #[serde(default)]
    pub model: Option<Vec<u8>>,
}

/// `{}`: the configuration used when none is given.
pub(super) fn empty_config() -> String {
    "{}".to_owned()
}

/// A summary of one customer for the population step (WIT `customer-summary`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerSummary {
    /// The host's id of the customer.
    pub id: String,
    /// Lifecycle stage.
    #[serde(default)]
    pub lifecycle_stage: LifecycleStage,
    /// When the customer was created.
    #[serde(default = "epoch")]
    pub created_at: Timestamp,
    /// Totals per interaction kind.
    #[serde(default)]
    pub aggregates: Vec<InteractionAggregate>,
    /// The attributes the manifest's `population_attributes` names that the customer has.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeValue>,
}

/// The input of the population step (WIT `population-input`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopulationInput {
    /// Summaries of all of the tenant's customers.
    pub customers: Vec<CustomerSummary>,
    /// The tenant's configuration, as JSON text.
    #[serde(default = "empty_config")]
    pub config: String,
    /// The host's current time.
    pub now: Timestamp,
    /// Seed of any randomness.
    #[serde(default)]
    pub seed: u64,
}

/// One reason behind a score (WIT `reason`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// How much it added to the score (finite).
    pub contribution: f64,
}

/// What a scorer returned for one customer, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreOutput {
    /// The score (finite).
    pub score: f64,
    /// An optional grade or band.
    pub grade: Option<String>,
    /// Why.
    pub reasons: Vec<Reason>,
    /// Changes to apply with the score.
    pub actions: Vec<Action>,
}

/// Membership of a customer in one of the segments the plugin's manifest declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The segment's id, as declared in the manifest.
    pub segment: String,
    /// Why the customer belongs to it.
    pub reason: String,
}

/// The header in which the host tells a commerce hook that it has verified the delivery's
/// signature itself: base64 HMAC-SHA256, under the secret the signature was checked with, of
/// `kith-signature-verified` and a NUL byte, the 32-byte digest the signature header carried,
/// the delivery's `received-at` (8 bytes, big-endian) and the body's length (8 bytes,
/// big-endian). Only a holder of the secret can make it, and it vouches for no other delivery
/// (`received-at` is the host's own clock). A hook that finds it valid may skip hashing the
/// body; one that ignores it loses nothing. The host never passes on a sender's copy.
pub const SIGNATURE_VERIFIED_HEADER: &str = "kith-signature-verified";

/// A raw webhook delivery, exactly as received (WIT `webhook`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// The topic, e.g. `orders/create`.
    pub topic: String,
    /// HTTP headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The sender's delivery id.
    pub delivery_id: Option<String>,
    /// When the host received it: the plugin's "now" and what its WASI clocks read.
    pub received_at: Timestamp,
}

/// What a commerce hook returned for one webhook, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookOutput {
    /// The decision.
    pub verdict: Verdict,
    /// Changes to apply; only applied when the verdict is `Accepted`.
    pub actions: Vec<Action>,
}

/// A commerce hook's decision about a webhook (WIT `verdict`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Verdict {
    /// Understood and acted upon.
    Accepted,
    /// Understood but not relevant.
    Ignored {
        /// Why it was ignored.
        reason: String,
    },
    /// Refused.
    Rejected {
        /// The kind of rejection.
        kind: RejectionKind,
        /// Why.
        reason: String,
    },
}

/// Why a webhook was rejected (WIT `rejection-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RejectionKind {
    /// Missing or wrong signature.
    BadSignature,
    /// Body or headers could not be understood.
    Malformed,
    /// Any other reason.
    Other,
}
