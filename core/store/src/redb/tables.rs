//! The storage layout: every redb table and how its keys are built, in one place.
//!
//! All tables map bytes to bytes. Tenant data is keyed by the tenant's number (4 bytes, big-endian)
//! first, so each tenant owns a contiguous key range in every table. Ids are UUIDv7 bytes, which sort
//! by creation time; timestamps are encoded so that byte order is time order.

use redb::TableDefinition;

pub(super) type Def = TableDefinition<'static, &'static [u8], &'static [u8]>;

macro_rules! tables {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// Every table of the store.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub(crate) enum T { $($(#[$doc])* $variant),* }

        impl T {
            pub(crate) const ALL: &'static [T] = &[$(T::$variant),*];

            pub(crate) const fn def(self) -> Def {
                match self { $(T::$variant => TableDefinition::new($name)),* }
            }

            pub(crate) const fn name(self) -> &'static str {
                match self { $(T::$variant => $name),* }
            }
        }
    };
}

tables! {
    /// `schema_version` -> u32 LE, `next_tenant` -> u32 LE.
    Meta = "meta",
    /// slug -> TenantRecord.
    Tenants = "tenants",
    /// t -> last event sequence number (u64 BE).
    Heads = "heads",
    /// t + seq -> Event.
    Events = "events",
    /// t + customer -> Customer.
    Customers = "customers",
    /// t + interaction -> Interaction.
    Interactions = "interactions",
    /// t + pipeline -> Pipeline.
    Pipelines = "pipelines",
    /// t + deal -> Deal.
    Deals = "deals",
    /// t + email -> customer (unique).
    IdxEmail = "idx_email",
    /// t + email likeness ([`kith_model::Email::likeness`]) + 0 + identity + 0 + customer -> ().
    /// Not unique: it finds the holder of an identity (case-insensitive) and the
    /// probable duplicates.
    IdxEmailLike = "idx_email_like",
    /// t + phone -> customer (unique).
    IdxPhone = "idx_phone",
    /// t + source + 0 + external id -> customer (unique).
    IdxExternal = "idx_external",
    /// t + tag + 0 + customer -> ().
    IdxTag = "idx_tag",
    /// t + lifecycle code + customer -> ().
    IdxLifecycle = "idx_lifecycle",
    /// t + owner + 0 + customer -> ().
    IdxOwner = "idx_owner",
    /// t + organization + member -> ().
    IdxOrg = "idx_org",
    /// t + lowercase name + 0 + customer -> ().
    IdxName = "idx_name",
    /// t + customer + occurred_at + interaction -> ().
    IdxTimeline = "idx_timeline",
    /// t + source + 0 + external id -> interaction (unique).
    IdxInteractionExt = "idx_interaction_ext",
    /// t + due_at + interaction -> () for open tasks and tickets with a due date.
    IdxDue = "idx_due",
    /// t + lowercase pipeline name -> pipeline (unique).
    IdxPipelineName = "idx_pipeline_name",
    /// t + pipeline + stage + deal -> Deal (a covering index: reports scan it alone).
    IdxDealStage = "idx_deal_stage",
    /// t + customer + deal -> ().
    IdxCustomerDeals = "idx_customer_deals",
    /// Installed plugins (global, no tenant prefix): hex hash -> InstalledPlugin.
    Plugins = "plugins",
    /// Component bytes (global): hex hash -> bytes.
    PluginBytes = "plugin_bytes",
    /// t + plugin id -> Enablement.
    Enablements = "plugin_enablements",
    /// t + plugin id -> last processed event sequence number (u64 BE).
    Cursors = "plugin_cursors",
    /// t + plugin id -> PluginHealth.
    Health = "plugin_health",
    /// t + plugin id -> StoredModel.
    Models = "plugin_models",
    /// t + plugin id + 0 + delivery id -> Delivery.
    Deliveries = "plugin_deliveries",
    /// t + customer + plugin id -> StoredScore.
    Scores = "scores",
    /// t + customer + plugin id -> StoredSegments.
    Segments = "segments",
    /// t + plugin id + 0 + score (ordered bytes) + customer -> () for leaderboards.
    IdxScoreRank = "idx_score_rank",
    /// t + plugin id + 0 + segment + 0 + customer -> () for segment members.
    IdxSegmentMembers = "idx_segment_members",
    /// token id -> TokenRecord (global: admin tokens and every tenant's keys).
    Tokens = "tokens",
    /// t (0 for requests outside a tenant) + client key -> IdempotencyRecord.
    Idempotency = "idempotency",
    /// t + job id -> StoredJob (rescore jobs).
    Jobs = "jobs",
    /// t + user -> User.
    Users = "users",
    /// t + team -> Team.
    Teams = "teams",
    /// t + email -> user (unique).
    IdxUserEmail = "idx_user_email",
    /// t + lowercase team name -> team (unique).
    IdxTeamName = "idx_team_name",
    /// t + team + user -> ().
    IdxTeamMembers = "idx_team_members",
    /// t + owner + 0 + deal -> ().
    IdxDealOwner = "idx_deal_owner",
    /// t + quota key (subject, period, start, currency) -> Quota.
    Quotas = "quotas",
    /// t + slot + 0 + status + work position (due, priority rank, id) -> kind code, for work
    /// items with a status. Each is under two slots: its assignee (`-` when unassigned) and
    /// `*` (everyone's).
    IdxWork = "idx_work",
    /// t + deal + occurred_at + interaction -> () for interactions linked to a deal.
    IdxDealTimeline = "idx_deal_timeline",
    /// t + object code + key -> FieldDefinition (custom fields).
    FieldDefinitions = "field_definitions",
    /// t + object code + key + 0 + encoded value + record -> () for unique or sortable custom
    /// fields (see `FieldDefinition::index_values`).
    IdxField = "idx_field",
}

impl T {
    /// Tables whose entries are derived from primary data; `kith check` verifies them.
    pub(crate) const INDEXES: &'static [T] = &[
        T::IdxEmail,
        T::IdxEmailLike,
        T::IdxPhone,
        T::IdxExternal,
        T::IdxTag,
        T::IdxLifecycle,
        T::IdxOwner,
        T::IdxOrg,
        T::IdxName,
        T::IdxTimeline,
        T::IdxInteractionExt,
        T::IdxDue,
        T::IdxPipelineName,
        T::IdxDealStage,
        T::IdxCustomerDeals,
        T::IdxScoreRank,
        T::IdxSegmentMembers,
        T::IdxUserEmail,
        T::IdxTeamName,
        T::IdxTeamMembers,
        T::IdxDealOwner,
        T::IdxWork,
        T::IdxDealTimeline,
        T::IdxField,
    ];
}

impl T {
    /// Whether every key of the table starts with a tenant number, so that deleting a tenant
    /// deletes its key range here. Exhaustive on purpose: a new table must say which it is.
    pub(crate) const fn tenant_scoped(self) -> bool {
        match self {
            T::Meta | T::Tenants | T::Tokens | T::Plugins | T::PluginBytes => false,
            T::Heads
            | T::Events
            | T::Customers
            | T::Interactions
            | T::Pipelines
            | T::Deals
            | T::IdxEmail
            | T::IdxEmailLike
            | T::IdxPhone
            | T::IdxExternal
            | T::IdxTag
            | T::IdxLifecycle
            | T::IdxOwner
            | T::IdxOrg
            | T::IdxName
            | T::IdxTimeline
            | T::IdxInteractionExt
            | T::IdxDue
            | T::IdxPipelineName
            | T::IdxDealStage
            | T::IdxCustomerDeals
            | T::Idempotency
            | T::Enablements
            | T::Cursors
            | T::Health
            | T::Models
            | T::Deliveries
            | T::Scores
            | T::Segments
            | T::IdxScoreRank
            | T::IdxSegmentMembers
            | T::Jobs
            | T::Users
            | T::Teams
            | T::IdxUserEmail
            | T::IdxTeamName
            | T::IdxTeamMembers
            | T::IdxDealOwner
            | T::Quotas
            | T::IdxWork
            | T::IdxDealTimeline
            | T::FieldDefinitions
            | T::IdxField => true,
        }
    }
}

pub(crate) const SEP: u8 = 0;

/// Builds a key from parts.
#[derive(Debug)]
pub(crate) struct K(Vec<u8>);

impl K {
    pub(crate) fn t(tenant: u32) -> Self {
        let mut v = Vec::with_capacity(48);
        v.extend_from_slice(&tenant.to_be_bytes());
        Self(v)
    }
    pub(crate) fn id(mut self, id: [u8; 16]) -> Self {
        self.0.extend_from_slice(&id);
        self
    }
    pub(crate) fn text(mut self, s: &str) -> Self {
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    /// Text followed by the separator, so that one value is not a prefix of another.
    pub(crate) fn word(mut self, s: &str) -> Self {
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(SEP);
        self
    }
    pub(crate) fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    pub(crate) fn byte(mut self, b: u8) -> Self {
        self.0.push(b);
        self
    }
    pub(crate) fn f64(mut self, x: f64) -> Self {
        self.0.extend_from_slice(&f64_bytes(x));
        self
    }
    pub(crate) fn u64(mut self, n: u64) -> Self {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }
    /// A signed time in byte order = time order.
    pub(crate) fn time(mut self, micros: i64) -> Self {
        self.0.extend_from_slice(&time_bytes(micros));
        self
    }
    pub(crate) fn done(self) -> Vec<u8> {
        self.0
    }
}

/// A finite f64 in byte order = numeric order.
pub(crate) fn f64_bytes(x: f64) -> [u8; 8] {
    // -0.0 and 0.0 are one score.
    let bits = if x == 0.0 { 0.0f64 } else { x }.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits ^ (1 << 63)
    };
    ordered.to_be_bytes()
}

pub(crate) fn time_bytes(micros: i64) -> [u8; 8] {
    ((micros as u64) ^ (1 << 63)).to_be_bytes()
}

/// The last 16 bytes of a key: the id that index keys end with.
pub(crate) fn trailing_id(key: &[u8]) -> Option<[u8; 16]> {
    key.len()
        .checked_sub(16)
        .and_then(|start| key[start..].try_into().ok())
}

/// The smallest key greater than every key starting with `prefix` (None: no such key).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
