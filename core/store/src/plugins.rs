//! The plugin side of the store: the registry of installed components, per-tenant enablement,
//! dispatch cursors, and what plugins produce (scores, segments, models, deliveries).
//!
//! Per-tenant state changes are [`PluginOp`]s inside an ordinary [`Store::write`], so a plugin's
//! outputs, its actions and its cursor advance commit in one transaction. Only enabling,
//! reconfiguring and disabling append an event (the audit trail); outputs, cursors and health do
//! not, so that following the event log never feeds on itself.

use crate::Result;
use crate::{Page, PageRequest, Store};
use kith_model::{
    Breaker, Customer, CustomerId, Deal, Delivery, Enablement, InstalledPlugin, Interaction,
    JobState, Outcomes, PluginHealth, StoredJob, StoredModel, StoredScore, StoredSegments,
    TenantSlug,
};
use std::time::Duration;

/// A change to one tenant's plugin state, applied inside [`Store::write`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PluginOp {
    /// Enable a plugin version or change its version or configuration (appends an event). A
    /// first enablement starts the plugin's cursor at the tenant's current event.
    Enable(Enablement),
    /// Disable a plugin: its enablement, cursor, health and model go; its scores and segments
    /// stay, naming the version that produced them (appends an event).
    Disable {
        /// The plugin's id.
        plugin: String,
    },
    /// Store a scorer's score of a customer, replacing its previous one unless that one reflects
    /// a later event (`as_of`).
    RecordScore(StoredScore),
    /// Store a segmenter's classification of a customer, replacing its previous one.
    RecordSegments(StoredSegments),
    /// Store a population model.
    RecordModel {
        /// The plugin's id.
        plugin: String,
        /// The model.
        model: StoredModel,
    },
    /// Move the plugin's dispatch cursor from `from` to `to`: a conflict unless it is at `from`,
    /// so two dispatchers can never both apply the same events.
    AdvanceCursor {
        /// The plugin's id.
        plugin: String,
        /// Where the caller read it.
        from: u64,
        /// The last event now processed.
        to: u64,
    },
    /// Replace the plugin's health (circuit breaker state) for the tenant: an administrator's
    /// reset. Calls' results are [`PluginOp::RecordOutcomes`], which cannot undo a concurrent
    /// writer's count.
    SetHealth {
        /// The plugin's id.
        plugin: String,
        /// The new state.
        health: PluginHealth,
    },
    /// Count calls' outcomes into the plugin's health as stored when the write commits, with
    /// `breaker`'s rules: two writers that each read the health before the other wrote (a
    /// rescore job and the dispatcher) both count, where replacing it would lose one of them.
    RecordOutcomes {
        /// The plugin's id.
        plugin: String,
        /// The calls' outcomes, in order.
        outcomes: Outcomes,
        /// The circuit breaker's settings.
        breaker: Breaker,
    },
    /// Record a processed webhook delivery: a duplicate if its id was processed before.
    RecordDelivery {
        /// The plugin's id.
        plugin: String,
        /// The delivery.
        delivery: Delivery,
    },
    /// Start a rescore job of a plugin, unless one is queued or running already: returns
    /// [`Output::Job`](crate::Output::Job) with that one (`started: false`) or the new one.
    /// Only the newest [`JOBS_KEPT`] finished jobs of a tenant are kept.
    StartJob {
        /// The plugin's id.
        plugin: String,
        /// Customers to process.
        total: u64,
        /// The node that will run it.
        node: String,
        /// An active job whose node stopped: it is marked failed and a new one starts.
        replace: Option<u64>,
    },
    /// Record a job's progress: adds `done` and `failed`; `state` moves it (a final state
    /// records when it ended, and `error` why it stopped early).
    JobProgress {
        /// The job.
        id: u64,
        /// Customers processed since the last report.
        done: u64,
        /// Of those, how many failed.
        failed: u64,
        /// The new state, if it changed.
        state: Option<JobState>,
        /// Why it stopped early.
        error: Option<String>,
    },
    /// Fail the write with a conflict unless this node still holds the tenant's dispatch lease
    /// with this fencing token ([`PluginStore::lease`]): a node that lost its lease can never
    /// apply a batch.
    Fence(u64),
}

/// How many finished rescore jobs a tenant keeps (the oldest go first).
pub const JOBS_KEPT: usize = 1000;

/// A customer with everything a plugin's view of them is built from.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerBundle {
    /// The customer.
    pub customer: Customer,
    /// All their interactions, oldest first.
    pub interactions: Vec<Interaction>,
    /// All their deals.
    pub deals: Vec<Deal>,
}

/// Bounds on a scorer's scores, both inclusive; `None` leaves that side open.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ScoreRange {
    /// Lowest score included.
    pub min: Option<f64>,
    /// Highest score included.
    pub max: Option<f64>,
}

impl ScoreRange {
    /// Every score.
    pub const ALL: ScoreRange = ScoreRange {
        min: None,
        max: None,
    };

    /// Whether `score` lies in the range.
    pub fn contains(&self, score: f64) -> bool {
        self.min.is_none_or(|m| score >= m) && self.max.is_none_or(|m| score <= m)
    }
}

/// Reads and registry writes of plugin state.
pub trait PluginStore: Store {
    /// Stores a component under its hash; `false` when that hash was installed already.
    fn install_plugin(&self, plugin: InstalledPlugin, bytes: &[u8]) -> Result<bool>;
    /// Removes an installed version; refused with `PluginInUse` while a tenant has it enabled.
    fn uninstall_plugin(&self, hash: &str) -> Result<()>;
    /// Every installed version, by id then version.
    fn installed_plugins(&self) -> Result<Vec<InstalledPlugin>>;
    /// One installed version.
    fn installed_plugin(&self, hash: &str) -> Result<Option<InstalledPlugin>>;
    /// The component bytes of an installed version.
    fn plugin_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>>;

    /// The plugins enabled for a tenant, by id.
    fn enablements(&self, tenant: &TenantSlug) -> Result<Vec<Enablement>>;
    /// One plugin's enablement for a tenant.
    fn enablement(&self, tenant: &TenantSlug, plugin: &str) -> Result<Option<Enablement>>;
    /// The last event a plugin has processed for a tenant (0 when it is not enabled).
    fn plugin_cursor(&self, tenant: &TenantSlug, plugin: &str) -> Result<u64>;
    /// A plugin's circuit-breaker state for a tenant.
    fn plugin_health(&self, tenant: &TenantSlug, plugin: &str) -> Result<PluginHealth>;
    /// A plugin's latest population model for a tenant.
    fn plugin_model(&self, tenant: &TenantSlug, plugin: &str) -> Result<Option<StoredModel>>;
    /// How a delivery was answered, if it was processed.
    fn delivery(&self, tenant: &TenantSlug, plugin: &str, id: &str) -> Result<Option<Delivery>>;

    /// A customer's scores, one per scorer.
    fn scores(&self, tenant: &TenantSlug, customer: CustomerId) -> Result<Vec<StoredScore>>;
    /// One scorer's score of a customer.
    fn score(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
        plugin: &str,
    ) -> Result<Option<StoredScore>>;
    /// A scorer's scores within `range`, highest first.
    fn leaderboard(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        range: ScoreRange,
        page: &PageRequest,
    ) -> Result<Page<StoredScore>>;
    /// How many customers one segment of one segmenter has.
    fn segment_size(&self, tenant: &TenantSlug, plugin: &str, segment: &str) -> Result<u64>;
    /// A customer's classifications, one per segmenter.
    fn segments_of(&self, tenant: &TenantSlug, customer: CustomerId)
    -> Result<Vec<StoredSegments>>;
    /// The members of one segment of one segmenter, by customer id.
    fn segment_members(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        segment: &str,
        page: &PageRequest,
    ) -> Result<Page<CustomerId>>;

    /// A customer with all their interactions and deals, from one snapshot.
    fn customer_bundle(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
    ) -> Result<Option<CustomerBundle>>;
    /// A page of customers (in id order) with their interactions and deals, from one snapshot.
    fn customer_bundles(
        &self,
        tenant: &TenantSlug,
        page: &PageRequest,
    ) -> Result<Page<CustomerBundle>>;

    /// A rescore job.
    fn job(&self, tenant: &TenantSlug, id: u64) -> Result<Option<StoredJob>>;

    /// This store handle's node: unique per process that opened it.
    fn node(&self) -> &str;
    /// Records that this node is alive (every few seconds while it runs).
    fn heartbeat(&self) -> Result<()>;
    /// Whether a node has recorded a heartbeat within `within` (the embedded store has one node:
    /// this one).
    fn node_alive(&self, node: &str, within: Duration) -> Result<bool>;
    /// Takes or renews the tenant's dispatch lease for `ttl`: the fencing token while this node
    /// holds it, `None` while another live node does. A lease not renewed within its `ttl` is
    /// taken over with a new token, so writes fenced with the old one fail.
    fn lease(&self, tenant: &TenantSlug, ttl: Duration) -> Result<Option<u64>>;
    /// Gives up every lease this node holds (on shutdown, so others take over at once).
    fn release_leases(&self) -> Result<()>;
}
