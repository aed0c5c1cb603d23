//! What the host keeps about plugins: installed versions, per-tenant enablement, the outputs
//! plugins produce (scores, segment memberships, population models) and their health.
//!
//! Plugin-produced records name the plugin version that produced them ([`Producer`]), so a
//! score can always be explained and traced to the exact component bytes.

use serde::{Deserialize, Serialize};

use super::{Actor, CustomerId, Timestamp};

/// The prefix of the actor name under which a plugin's actions are recorded.
pub const PLUGIN_ACTOR_PREFIX: &str = "plugin:";

impl Actor {
    /// The actor a plugin's actions are recorded under: `plugin:<id>`.
    pub fn plugin(id: &str) -> Actor {
        Actor::new(format!("{PLUGIN_ACTOR_PREFIX}{id}"))
    }

    /// The plugin id, when this actor is a plugin.
    pub fn plugin_id(&self) -> Option<&str> {
        self.as_str().strip_prefix(PLUGIN_ACTOR_PREFIX)
    }
}

/// One installed plugin version. Its identity is the SHA-256 of its component bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstalledPlugin {
    /// Lower-case hex SHA-256 of the component bytes.
    pub hash: String,
    /// The manifest's id.
    pub id: String,
    /// The manifest's semantic version.
    pub version: String,
    /// The WIT world it implements (`scorer`, `segmenter`, `commerce-hook`).
    pub capability: String,
    /// Size of the component in bytes.
    pub size: u64,
    /// When it was installed.
    pub installed_at: Timestamp,
    /// The manifest as JSON text (its configuration schema is arbitrary JSON).
    pub manifest_json: String,
}

/// Which plugin version produced a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Producer {
    /// The plugin's id.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// The SHA-256 of its component.
    pub hash: String,
}

/// A plugin switched on for one tenant, with that tenant's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Enablement {
    /// The plugin's id: a tenant enables at most one version of a plugin.
    pub plugin: String,
    /// The enabled version's hash.
    pub hash: String,
    /// The enabled version.
    pub version: String,
    /// The configuration, JSON text, valid against the version's schema.
    pub config_json: String,
    /// When it was first enabled.
    pub enabled_at: Timestamp,
    /// When the configuration or version last changed.
    pub updated_at: Timestamp,
    /// This tenant's budgets for the plugin's per-customer and webhook calls, where they differ
    /// from the host's defaults (never above the host's ceilings).
    pub limits: LimitOverrides,
    /// How often the population step runs (seconds); `None`: the host's default.
    pub population_interval_secs: Option<u64>,
    /// This tenant's budgets for the plugin's population step.
    #[serde(default)]
    pub population_limits: LimitOverrides,
    /// For a commerce hook: the signature Kith checks before the plugin runs. `None`: the
    /// plugin checks signatures itself, and its failures on unverified requests never suspend it.
    #[serde(default)]
    pub signature: Option<WebhookSignature>,
}

/// A webhook signature the host verifies itself, before any plugin code runs: the base64
/// HMAC-SHA256 of the raw body under a secret from the tenant's configuration, in a header (the
/// scheme of Shopify, WooCommerce and Kith's generic orders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookSignature {
    /// The header that carries the signature, e.g. `X-Shopify-Hmac-Sha256`.
    pub header: String,
    /// A JSON Pointer into the plugin's configuration to the shared secret, e.g. `/secret`.
    pub secret: String,
}

/// Per-tenant budgets of a plugin's calls; `None` keeps the host's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LimitOverrides {
    /// Instructions per call.
    pub fuel: Option<u64>,
    /// Wall-clock deadline per call, in milliseconds.
    pub deadline_ms: Option<u64>,
    /// Linear memory per call, in bytes (the host's hard cap still applies).
    pub memory_bytes: Option<u64>,
}

/// One reason behind a stored score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoreReason {
    /// Stable machine-readable code.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// How much it added to the score.
    pub contribution: f64,
}

/// A scorer's latest score of one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredScore {
    /// The customer.
    pub customer: CustomerId,
    /// The score (finite).
    pub score: f64,
    /// An optional grade or band.
    pub grade: Option<String>,
    /// Why.
    pub reasons: Vec<ScoreReason>,
    /// The plugin version that computed it.
    pub producer: Producer,
    /// When it was computed.
    pub computed_at: Timestamp,
    /// The tenant's last event sequence number its input reflects: an older result never
    /// replaces a newer one.
    pub as_of: u64,
}

/// A customer's membership of one segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SegmentMembership {
    /// The segment's id, as the plugin's manifest declares it.
    pub segment: String,
    /// Why the customer belongs to it.
    pub reason: String,
}

/// A segmenter's latest classification of one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredSegments {
    /// The customer.
    pub customer: CustomerId,
    /// The segments the customer belongs to (possibly none).
    pub memberships: Vec<SegmentMembership>,
    /// The plugin version that classified them.
    pub producer: Producer,
    /// When.
    pub computed_at: Timestamp,
    /// The tenant's last event sequence number its input reflects.
    pub as_of: u64,
}

/// The model a population step produced, handed to every later call of that plugin version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredModel {
    /// The opaque model bytes (`None`: the plugin returned no model).
    pub bytes: Option<Vec<u8>>,
    /// The plugin version that produced it; a model is only used by that version.
    pub producer: Producer,
    /// How many customers it was computed from.
    pub customers: u64,
    /// When.
    pub computed_at: Timestamp,
}

/// The last failure of a plugin for a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailureRecord {
    /// Stable code of the failure (`fuel_exhausted`, `invalid_action`, ...).
    pub code: String,
    /// What happened.
    pub message: String,
    /// When.
    pub at: Timestamp,
}

/// A plugin's health for one tenant: the circuit breaker's state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PluginHealth {
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// While set, the plugin does not run for the tenant until this time (then one retry).
    pub suspended_until: Option<Timestamp>,
    /// How many times it has been suspended since the last reset or success.
    pub suspensions: u32,
    /// The most recent failure.
    pub last_error: Option<FailureRecord>,
}

/// How a commerce-hook delivery was answered; kept so a redelivery gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    /// The sender's delivery id.
    pub id: String,
    /// The verdict as JSON text, exactly as first answered.
    pub verdict_json: String,
    /// How many actions were applied.
    pub actions_applied: u32,
    /// The plugin version that handled it.
    pub producer: Producer,
    /// When it was processed.
    pub at: Timestamp,
}

/// Where a rescore job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobState {
    /// Waiting for one of its node's rescore slots.
    Queued,
    /// Still going.
    Running,
    /// Every customer was processed (some calls may have failed: see `failed`).
    Done,
    /// Stopped early; `error` says why.
    Failed,
}

impl JobState {
    /// Whether the job is still queued or running.
    pub fn is_active(self) -> bool {
        matches!(self, JobState::Queued | JobState::Running)
    }
}

/// A rescore job, kept in the store so that every node can answer for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredJob {
    /// The job's id, unique within its tenant.
    pub id: u64,
    /// The plugin.
    pub plugin: String,
    /// State.
    pub state: JobState,
    /// Customers when it started.
    pub total: u64,
    /// Customers processed so far.
    pub done: u64,
    /// Of those, calls that failed or whose actions were refused.
    pub failed: u64,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// Why it stopped early.
    pub error: Option<String>,
    /// The node running it (a job whose node stopped is reported failed).
    pub node: String,
}
