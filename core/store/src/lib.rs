//! The store: the one narrow, domain-typed interface the rest of Kith uses to keep its data.
//!
//! [`Store`] is implemented by [`RedbStore`], the embedded default. Every mutation is expressed as
//! a list of [`Op`]s applied atomically together with one event per op in the tenant's event log, so
//! another backend only has to implement this trait: model, service and HTTP code stay untouched.

mod admin;
mod engine;
mod error;
mod plugins;
mod postgres;
mod records;
mod redb;
#[cfg(feature = "testing")]
pub mod testing;

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

pub use self::error::{Error, Result};
use kith_model::{
    Action, Actor, Customer, CustomerId, CustomerInput, CustomerPatch, Deal, DealId, DealInput,
    DealPatch, Email, Event, FieldDefinition, FieldDefinitionInput, FieldObject, Interaction,
    InteractionId, InteractionInput, InteractionKind, InteractionPatch, LifecycleStage, Phone,
    Pipeline, PipelineId, PipelineInput, PipelinePatch, PipelineReport, Quota, StageId, Tag,
    TaskStatus, Team, TeamId, TeamInput, TeamPatch, Tenant, TenantInput, TenantPatch, TenantSlug,
    Timestamp, User, UserId, UserInput, UserPatch,
};

pub use self::admin::{CommitInfo, CommitListener, IdempotencyKey, Once, TokenRecord, TokenScope};
pub use self::plugins::{CustomerBundle, JOBS_KEPT, PluginOp, PluginStore, ScoreRange};
pub use self::postgres::{PG_SCHEMA_VERSION, PgConfig, PgStore};
pub use self::redb::{MAX_WORK_SCANNED, RedbStore, SCHEMA_VERSION};

/// Whose work a queue lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignees {
    /// Everyone's and nobody's.
    Any,
    /// Work nobody is assigned to.
    Unassigned,
    /// Work assigned to one of these users (at most [`MAX_QUEUE_ASSIGNEES`]).
    Users(Vec<String>),
}

/// Most assignees one queue merges (a team larger than this is listed per member).
pub const MAX_QUEUE_ASSIGNEES: usize = 50;

/// Which work items a queue lists (see [`Store::work`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkQuery {
    /// Whose.
    pub assignees: Assignees,
    /// In one of these statuses (empty: none).
    pub statuses: Vec<TaskStatus>,
    /// Of one of these kinds (empty: tasks, tickets and complaints).
    pub kinds: Vec<InteractionKind>,
    /// Due strictly before this time (work without a due date is then left out).
    pub due_before: Option<Timestamp>,
}

impl WorkQuery {
    /// Everything still to do, of everyone.
    pub fn open() -> Self {
        Self {
            assignees: Assignees::Any,
            statuses: TaskStatus::OPEN.to_vec(),
            kinds: Vec::new(),
            due_before: None,
        }
    }

    /// Every work item of the tenant, in any status.
    pub fn all() -> Self {
        Self {
            statuses: TaskStatus::ALL.to_vec(),
            ..Self::open()
        }
    }
}

/// One mutation. A list of ops is applied atomically, each appending one event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// Create a customer (fails on a duplicate email, phone or external id).
    CreateCustomer(CustomerInput),
    /// Change a customer; fails with a conflict unless it is still at `expected_version`.
    UpdateCustomer {
        /// The customer.
        id: CustomerId,
        /// The version the caller read.
        expected_version: u64,
        /// The change.
        patch: CustomerPatch,
    },
    /// Change the customer this record names, or create it: matched by `id`, then each external
    /// id, then email, then phone; the record's fields are set as a PATCH sets them.
    UpsertCustomer(Box<CustomerPatch>),
    /// Erase a customer with their interactions and deals (right to erasure); members of an erased
    /// organization are unlinked from it.
    EraseCustomer(CustomerId),
    /// Log an interaction; an external id already stored for this tenant returns the stored one.
    LogInteraction(InteractionInput),
    /// Change the status of a work item.
    SetInteractionStatus {
        /// The interaction.
        id: InteractionId,
        /// The new status.
        status: TaskStatus,
    },
    /// Change an interaction (see [`InteractionPatch`]); its event records old and new values.
    UpdateInteraction {
        /// The interaction.
        id: InteractionId,
        /// When given, fails with a conflict unless the interaction is at this version.
        expected_version: Option<u64>,
        /// The change.
        patch: InteractionPatch,
    },
    /// Create a pipeline (name unique per tenant).
    CreatePipeline(PipelineInput),
    /// Create a deal in the first (or given) stage of its pipeline.
    CreateDeal(DealInput),
    /// Create a deal as [`Op::CreateDeal`], opened at a past time (imports and the demo replay
    /// history: its first stage is entered then, and [`Op::MoveDeal`]s with `at` follow).
    ReplayDeal {
        /// The deal.
        input: DealInput,
        /// When it was opened: not after the write.
        opened_at: Timestamp,
    },
    /// Move a deal to another stage of its pipeline.
    MoveDeal {
        /// The deal.
        id: DealId,
        /// The target stage.
        stage: StageId,
        /// When it moved (default: now). Lets imports replay history.
        at: Option<Timestamp>,
        /// When given, the move fails with a conflict unless the deal is at this version.
        expected_version: Option<u64>,
        /// Why it was lost, when the target stage is a lost one (see
        /// [`Deal::set_lost_reason`](kith_model::Deal::set_lost_reason)).
        lost_reason: Option<String>,
    },
    /// A change to the tenant's plugin state (registry and outputs: see [`PluginOp`]).
    Plugin(PluginOp),
    /// A change a plugin asked for: the entities it names are resolved in the transaction.
    Action(Action),
    /// Apply these ops together or not at all, without failing the write: a failure undoes them
    /// and becomes [`Output::Failed`], so one plugin call's bad actions cannot sink a batch.
    Attempt(Vec<Op>),
    /// Apply these ops as the `depth`-th plugin reaction in a chain: the events they append
    /// record that depth ([`Event::depth`](kith_model::Event)). The store records it; the
    /// plugin host decides how deep a chain may go.
    Caused {
        /// Plugin reactions that led here (1: reacting to a person's change).
        depth: u8,
        /// The ops.
        ops: Vec<Op>,
    },
    /// Merge `duplicate` into `survivor` (see [`Customer::merge`] for the rule): the duplicate's
    /// interactions, deals and organization members move to the survivor and the duplicate is
    /// removed, with one `customers-merged` event.
    MergeCustomers {
        /// The customer that stays.
        survivor: CustomerId,
        /// The customer merged into it.
        duplicate: CustomerId,
        /// When given, fails with a conflict unless the survivor is at this version.
        expected_version: Option<u64>,
    },
    /// Change a pipeline's name or stages.
    UpdatePipeline {
        /// The pipeline.
        id: PipelineId,
        /// When given, fails with a conflict unless the pipeline is at this version.
        expected_version: Option<u64>,
        /// The change.
        patch: PipelinePatch,
    },
    /// Put a pipeline's stages in a new order.
    ReorderStages {
        /// The pipeline.
        id: PipelineId,
        /// When given, fails with a conflict unless the pipeline is at this version.
        expected_version: Option<u64>,
        /// Every stage id, in the new order.
        order: Vec<StageId>,
    },
    /// Delete a pipeline that has no deals.
    DeletePipeline(PipelineId),
    /// Change a deal's title, amount, expected close or owner.
    UpdateDeal {
        /// The deal.
        id: DealId,
        /// When given, fails with a conflict unless the deal is at this version.
        expected_version: Option<u64>,
        /// The change.
        patch: DealPatch,
    },
    /// Add a user (email unique per tenant; teams must exist).
    CreateUser(UserInput),
    /// Change a user's name, email, role, teams or active flag.
    UpdateUser {
        /// The user.
        id: UserId,
        /// When given, fails with a conflict unless the user is at this version.
        expected_version: Option<u64>,
        /// The change.
        patch: UserPatch,
    },
    /// Create a team (name unique per tenant, case-insensitive).
    CreateTeam(TeamInput),
    /// Rename a team or change whether it shares records.
    UpdateTeam {
        /// The team.
        id: TeamId,
        /// When given, fails with a conflict unless the team is at this version.
        expected_version: Option<u64>,
        /// The change.
        patch: TeamPatch,
    },
    /// Delete a team nobody belongs to.
    DeleteTeam(TeamId),
    /// Give `to` the customers and open deals `from` owns, at most `limit` records (one event
    /// each); [`Output::Reassigned`] says whether more are left.
    Reassign {
        /// The current owner.
        from: UserId,
        /// The new owner (must be active).
        to: UserId,
        /// Most records changed by this op.
        limit: usize,
    },
    /// Create a user for every stored owner that names none, and point the records at it (the
    /// upgrade from free-text owners; idempotent).
    AdoptOwners,
    /// Set (or replace) a user's or team's target for one period and currency.
    SetQuota(Quota),
    /// Remove the target of this subject, period, start and currency (nothing if none).
    RemoveQuota(Quota),
    /// Define (or redefine) a custom field. The data is checked against it by the caller after
    /// the commit (see `kith::service::fields`).
    SetField {
        /// The object.
        object: FieldObject,
        /// The attribute's key.
        key: String,
        /// The definition.
        input: FieldDefinitionInput,
        /// The version the change expects (`None`: any, or none yet).
        expected_version: Option<u64>,
    },
    /// Remove a custom field's definition (its values stay, as free-form attributes).
    RemoveField {
        /// The object.
        object: FieldObject,
        /// The attribute's key.
        key: String,
        /// When given, fails with a conflict unless the definition is at this version.
        expected_version: Option<u64>,
    },
    /// Index a record's value of a unique or sortable field (after the field became one): a
    /// unique value another record holds fails as a duplicate.
    IndexField {
        /// The object.
        object: FieldObject,
        /// The field's key.
        key: String,
        /// The record's id.
        id: [u8; 16],
    },
}

/// What an op produced. Serializable so that an idempotent write can store it and replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Output {
    /// The created or updated customer.
    Customer(Customer),
    /// What an upsert did.
    Upserted {
        /// The customer now.
        customer: Customer,
        /// Whether it was created (false: an existing customer was matched).
        created: bool,
        /// Whether anything was written (false: the record changed nothing).
        changed: bool,
    },
    /// The erased customer's id.
    Erased(CustomerId),
    /// The interaction; `created` is false when its external id was already stored.
    Interaction {
        /// The stored interaction.
        interaction: Interaction,
        /// Whether this op stored it (false: it was there already).
        created: bool,
    },
    /// The created pipeline.
    Pipeline(Pipeline),
    /// The created, changed or moved deal.
    Deal(Deal),
    /// The op changed plugin state or applied an action that has nothing to return.
    Done,
    /// Every op of an [`Op::Attempt`] succeeded.
    Attempted(Vec<Output>),
    /// An [`Op::Attempt`] failed and was undone.
    Failed {
        /// The error's stable code.
        code: String,
        /// What went wrong.
        message: String,
    },
    /// The deleted pipeline's id.
    PipelineDeleted(PipelineId),
    /// The created or changed user.
    User(User),
    /// The created or changed team.
    Team(Team),
    /// The deleted team's id.
    TeamDeleted(TeamId),
    /// What a reassignment moved.
    Reassigned {
        /// Customers given to the new owner.
        customers: u64,
        /// Open deals given to the new owner.
        deals: u64,
        /// Open work items given to the new assignee.
        work: u64,
        /// Whether `from` still owns records to move (repeat the op).
        more: bool,
    },
    /// Users created for free-text owners.
    Adopted(Vec<User>),
    /// The quota set; none when a removed quota was not there.
    Quota(Option<Quota>),
    /// A rescore job; `started` is false when an active one was returned instead of a new one.
    Job {
        /// The job.
        job: kith_model::StoredJob,
        /// Whether this op created it.
        started: bool,
    },
    /// The field definition set; none when a removed one was not there. (Variants are only
    /// added at the end: idempotency records store outputs.)
    Field(Option<FieldDefinition>),
}

/// Which customers to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerFilter {
    /// All, oldest first.
    All,
    /// With this tag.
    Tag(Tag),
    /// In this lifecycle stage.
    Lifecycle(LifecycleStage),
    /// Owned by this user.
    Owner(String),
    /// Members of this organization.
    Organization(CustomerId),
    /// Whose display name starts with this text (case-insensitive), by name.
    NamePrefix(String),
    /// Whose normalized email starts with this text, by email.
    EmailPrefix(String),
    /// With a value of this sortable custom field, in the order of that value (then id).
    Field(String),
}

/// An opaque position in a list, returned as `next` and passed back to get the following page.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// A cursor at `key` in the list `scope` + `prefix` (which kind of list, and the tenant and
    /// filter its keys start with): it continues that list only.
    pub fn encode(scope: u8, prefix: &[u8], key: &[u8]) -> Self {
        let mut raw = Vec::with_capacity(3 + key.len());
        raw.push(scope);
        raw.extend_from_slice(&prefix_len(prefix));
        raw.extend_from_slice(key);
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
    }

    /// The key, when this cursor was issued for the list `scope` + `prefix`.
    pub fn decode(&self, scope: u8, prefix: &[u8]) -> Result<Vec<u8>> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.0)
            .map_err(|_| Error::BadCursor)?;
        match raw.split_at_checked(3) {
            Some((head, key))
                if head[0] == scope
                    && head[1..] == prefix_len(prefix)
                    && key.starts_with(prefix) =>
            {
                Ok(key.to_vec())
            }
            _ => Err(Error::BadCursor),
        }
    }

    /// The cursor as text, for URLs and the CLI.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A cursor received as text.
    pub fn from_string(s: String) -> Self {
        Self(s)
    }
}

fn prefix_len(prefix: &[u8]) -> [u8; 2] {
    u16::try_from(prefix.len())
        .unwrap_or(u16::MAX)
        .to_be_bytes()
}

/// Which page of a list to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items (clamped to 1..=1000).
    pub limit: usize,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// The first page of `limit` items.
    pub fn first(limit: usize) -> Self {
        Self { limit, after: None }
    }

    /// The page after `cursor`.
    pub fn after(limit: usize, cursor: Cursor) -> Self {
        Self {
            limit,
            after: Some(cursor),
        }
    }

    pub(crate) fn clamped_limit(&self) -> usize {
        self.limit.clamp(1, 1000)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(50)
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; none on the last page.
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// A page of a short list held in memory, ordered by the unique text `key` of its items;
    /// `list` tells this list's cursors apart from others' (values from 128 up; the store's own
    /// lists use lower ones).
    pub fn of_sorted(
        mut items: Vec<T>,
        key: impl Fn(&T) -> String,
        list: u8,
        page: &PageRequest,
    ) -> Result<Page<T>> {
        items.sort_by_key(|i| key(i));
        let start = match &page.after {
            Some(c) => {
                let after = c.decode(list, &[])?;
                items.partition_point(|i| key(i).as_bytes() <= after.as_slice())
            }
            None => 0,
        };
        let limit = page.clamped_limit();
        let mut rest: Vec<T> = items.into_iter().skip(start).collect();
        let next = if rest.len() > limit {
            rest.truncate(limit);
            rest.last()
                .map(|last| Cursor::encode(list, &[], key(last).as_bytes()))
        } else {
            None
        };
        Ok(Page { items: rest, next })
    }
}

/// The most members of one email likeness group that [`Store::email_likeness_groups`] lists: a
/// group of thousands (`ada+1@`, `ada+2@`, ...) is read this deep, then skipped.
pub const MAX_LIKENESS_GROUP: usize = 50;

/// Counts of what a tenant holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantStats {
    /// The tenant.
    pub tenant: String,
    /// Customers.
    pub customers: u64,
    /// Interactions.
    pub interactions: u64,
    /// Pipelines.
    pub pipelines: u64,
    /// Deals.
    pub deals: u64,
    /// Events in the log (= the last sequence number).
    pub events: u64,
}

/// Counts for the whole store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Schema version of the file.
    pub schema_version: u32,
    /// Size of the data file in bytes.
    pub file_bytes: u64,
    /// One entry per tenant.
    pub tenants: Vec<TenantStats>,
}

/// One inconsistency found by [`Store::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inconsistency {
    /// The tenant (empty for store-wide problems).
    pub tenant: String,
    /// What is wrong.
    pub problem: String,
}

/// Reads the current time; replaceable so tests control time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Settings for opening a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Most write requests that share one commit.
    pub max_batch: usize,
    /// Where timestamps come from.
    pub clock: Arc<dyn Clock>,
    /// Bytes of the embedded store's page cache (reads and not yet flushed writes), resident in
    /// the server's memory: [`DEFAULT_CACHE_BYTES`]. Pages beyond it are read from the file
    /// again (from the operating system's page cache when it still holds them).
    pub cache_bytes: usize,
}

/// The embedded store's page cache by default: 64 MiB. redb's own default is 1 GiB, which a
/// server that wrote a few hundred thousand records kept resident (bench/README.md).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_batch: 512,
            clock: Arc::new(SystemClock),
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// A read that is awaited rather than waited for ([`Store::customer_nonblocking`]).
pub type ReadFuture<T> = std::pin::Pin<Box<dyn Future<Output = Result<T>> + Send>>;

/// A write in flight, awaited without a thread of its own: see [`Store::write_nonblocking`].
pub type WriteFuture<T> = ReadFuture<T>;

/// The store interface: every read and write Kith makes, in domain types.
///
/// Writes are durable when they return: an acknowledged write survives a crash or power loss.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Creates a tenant and starts its event log.
    fn create_tenant(&self, input: TenantInput, actor: &Actor) -> Result<Tenant>;
    /// A tenant by slug.
    fn tenant(&self, slug: &TenantSlug) -> Result<Option<Tenant>>;
    /// All tenants, by slug.
    fn tenants(&self) -> Result<Vec<Tenant>>;

    /// Applies `ops` atomically: all of them with their events, or none (the first error).
    fn write(&self, tenant: &TenantSlug, actor: &Actor, ops: Vec<Op>) -> Result<Vec<Output>>;
    /// Applies each op atomically on its own, all in one commit: one op's failure does not affect
    /// the others. For imports.
    fn write_each(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
    ) -> Result<Vec<Result<Output>>>;

    /// [`Store::write`] (or [`Store::write_once`] with a key) as a future that holds no thread
    /// while its commit is in flight, when the backend can: `Err` gives the ops back, meaning
    /// "call [`Store::write`] on a blocking thread". The embedded store queues the request for
    /// its committer and the future resolves when the commit holding it is durable, exactly as
    /// [`Store::write`] returns; a caller that drops the future does not undo the write.
    #[allow(clippy::type_complexity)]
    fn write_nonblocking(
        &self,
        _tenant: &TenantSlug,
        _actor: &Actor,
        ops: Vec<Op>,
        _key: Option<&IdempotencyKey>,
    ) -> std::result::Result<WriteFuture<Once<Vec<Output>>>, Vec<Op>> {
        Err(ops)
    }

    /// A customer by id.
    fn customer(&self, tenant: &TenantSlug, id: CustomerId) -> Result<Option<Customer>>;
    /// [`Store::customer`], answered without blocking a thread, when the backend can: `None`
    /// means "call [`Store::customer`] on a blocking thread". PostgreSQL answers so for tenants
    /// this node knows, which saves the hottest read its thread hand-offs.
    fn customer_nonblocking(
        &self,
        _tenant: &TenantSlug,
        _id: CustomerId,
    ) -> Option<ReadFuture<Option<Customer>>> {
        None
    }
    /// A customer by normalized email.
    fn customer_by_email(&self, tenant: &TenantSlug, email: &Email) -> Result<Option<Customer>>;
    /// Up to `limit` customers whose email has this likeness ([`Email::likeness`]): the same
    /// identity in another case, or a probable duplicate.
    fn customers_by_email_likeness(
        &self,
        tenant: &TenantSlug,
        likeness: &str,
        limit: usize,
    ) -> Result<Vec<Customer>>;
    /// Groups of two or more customers sharing an email likeness, in likeness order, from the
    /// first likeness after `after`, reading at most `budget` customers' index entries (and each
    /// group's first [`MAX_LIKENESS_GROUP`] members). Returns the groups and the likeness to pass
    /// as `after` for the rest (`None`: nothing is left).
    fn email_likeness_groups(
        &self,
        tenant: &TenantSlug,
        after: Option<&str>,
        budget: usize,
    ) -> Result<(Vec<Vec<CustomerId>>, Option<String>)>;
    /// Up to `limit` (organization, member) pairs of the organizations after `after` (all when
    /// `None`), in organization then member order: organizations read a slice at a time.
    fn organization_members(
        &self,
        tenant: &TenantSlug,
        after: Option<CustomerId>,
        limit: usize,
    ) -> Result<Vec<(CustomerId, CustomerId)>>;
    /// A customer by normalized phone.
    fn customer_by_phone(&self, tenant: &TenantSlug, phone: &Phone) -> Result<Option<Customer>>;
    /// A customer by external id.
    fn customer_by_external_id(
        &self,
        tenant: &TenantSlug,
        source: &str,
        id: &str,
    ) -> Result<Option<Customer>>;
    /// A page of customers matching `filter`.
    fn customers(
        &self,
        tenant: &TenantSlug,
        filter: &CustomerFilter,
        page: &PageRequest,
    ) -> Result<Page<Customer>>;

    /// An interaction by id.
    fn interaction(&self, tenant: &TenantSlug, id: InteractionId) -> Result<Option<Interaction>>;
    /// A customer's interactions, newest first.
    fn timeline(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
        page: &PageRequest,
    ) -> Result<Page<Interaction>>;
    /// Open tasks and tickets due at or before `until`, earliest first.
    fn due_tasks(
        &self,
        tenant: &TenantSlug,
        until: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<Interaction>>;
    /// Work items (tasks, tickets, complaints) matching `query`, by due date (none last), then
    /// priority (urgent first), then id; read from the work index. The embedded store reads at
    /// most [`MAX_WORK_SCANNED`] index entries per page: a rarely matching `kinds` filter gets
    /// a short page with a cursor.
    fn work(
        &self,
        tenant: &TenantSlug,
        query: &WorkQuery,
        page: &PageRequest,
    ) -> Result<Page<Interaction>>;
    /// The interactions linked to a deal, newest first.
    fn deal_timeline(
        &self,
        tenant: &TenantSlug,
        deal: DealId,
        page: &PageRequest,
    ) -> Result<Page<Interaction>>;

    /// A pipeline by id.
    fn pipeline(&self, tenant: &TenantSlug, id: PipelineId) -> Result<Option<Pipeline>>;
    /// A page of pipelines, oldest first.
    fn pipelines(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<Pipeline>>;
    /// A deal by id.
    fn deal(&self, tenant: &TenantSlug, id: DealId) -> Result<Option<Deal>>;
    /// Deals of a pipeline, optionally only those in one stage.
    fn deals(
        &self,
        tenant: &TenantSlug,
        pipeline: PipelineId,
        stage: Option<StageId>,
        page: &PageRequest,
    ) -> Result<Page<Deal>>;
    /// Deals of every pipeline, oldest first; with `owner`, only theirs (read from the owner
    /// index).
    fn all_deals(
        &self,
        tenant: &TenantSlug,
        owner: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Deal>>;
    /// The funnel report of a pipeline.
    fn pipeline_report(&self, tenant: &TenantSlug, pipeline: PipelineId) -> Result<PipelineReport>;

    /// A user by id.
    fn user(&self, tenant: &TenantSlug, id: UserId) -> Result<Option<User>>;
    /// A page of users, oldest first.
    fn users(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<User>>;
    /// A team by id.
    fn team(&self, tenant: &TenantSlug, id: TeamId) -> Result<Option<Team>>;
    /// A page of teams, oldest first.
    fn teams(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<Team>>;
    /// The users who belong to a team, oldest first.
    fn team_members(&self, tenant: &TenantSlug, team: TeamId) -> Result<Vec<UserId>>;
    /// A page of the tenant's sales targets, by subject, period, start and currency.
    fn quotas(&self, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<Quota>>;
    /// The custom field definitions of `object`, by key (at most 100).
    fn field_definitions(
        &self,
        tenant: &TenantSlug,
        object: FieldObject,
    ) -> Result<Vec<FieldDefinition>>;

    /// Events with sequence numbers greater than `after`, oldest first, at most `limit`.
    fn events(&self, tenant: &TenantSlug, after: u64, limit: usize) -> Result<Vec<Event>>;
    /// The last sequence number of the tenant's event log.
    fn last_seq(&self, tenant: &TenantSlug) -> Result<u64>;

    /// Changes a tenant's name or industry.
    fn update_tenant(&self, slug: &TenantSlug, actor: &Actor, patch: TenantPatch)
    -> Result<Tenant>;
    /// Deletes a tenant with all of its data, its event log, idempotency records and API keys.
    /// A tenant created later with the same slug starts empty.
    fn delete_tenant(&self, slug: &TenantSlug, actor: &Actor) -> Result<()>;
    /// [`Store::create_tenant`] once per idempotency key: a retry replays the first result.
    fn create_tenant_once(
        &self,
        input: TenantInput,
        actor: &Actor,
        key: &IdempotencyKey,
    ) -> Result<Once<Tenant>>;
    /// [`Store::write`] once per idempotency key and tenant: a retry with the same key and request
    /// replays the first outputs and writes nothing; the same key with another request is
    /// [`Error::IdempotencyKeyReused`].
    fn write_once(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
        key: &IdempotencyKey,
    ) -> Result<Once<Vec<Output>>>;

    /// Stores a new API token (its hash); a tenant token needs an existing tenant. With a key, a
    /// retry replays the first record.
    fn create_token(
        &self,
        token: TokenRecord,
        key: Option<&IdempotencyKey>,
    ) -> Result<Once<TokenRecord>>;
    /// A token by its public id.
    fn token(&self, id: &str) -> Result<Option<TokenRecord>>;
    /// The token, when this store can answer without blocking (a cache hit); `None` means "ask
    /// [`Store::token`]", not "no such token". Lets authentication skip a blocking hop.
    fn cached_token(&self, _id: &str) -> Option<TokenRecord> {
        None
    }
    /// Every token, by id.
    fn tokens(&self) -> Result<Vec<TokenRecord>>;
    /// Deletes a token; returns what it was.
    fn revoke_token(&self, id: &str) -> Result<TokenRecord>;

    /// Registers a function called after every durable commit (to wake event followers and count
    /// commits for metrics).
    fn on_commit(&self, listener: CommitListener);

    /// Verifies every index entry against the primary data, and the event log's sequence.
    fn check(&self) -> Result<Vec<Inconsistency>>;
    /// Counts.
    fn stats(&self) -> Result<Stats>;
    /// Writes a consistent copy of the store to `dest` (a new file) while writes go on.
    fn backup(&self, dest: &Path) -> Result<()>;
    /// Stops accepting writes and waits until every acknowledged one is durable; later calls
    /// fail with [`Error::Closed`]. Idempotent.
    fn close(&self);

    /// Creates a customer.
    fn create_customer(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        input: CustomerInput,
    ) -> Result<Customer> {
        match one(self.write(tenant, actor, vec![Op::CreateCustomer(input)])?)? {
            Output::Customer(c) => Ok(c),
            other => Err(unexpected(&other)),
        }
    }

    /// Updates a customer at `expected_version`.
    fn update_customer(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        id: CustomerId,
        expected_version: u64,
        patch: CustomerPatch,
    ) -> Result<Customer> {
        let op = Op::UpdateCustomer {
            id,
            expected_version,
            patch,
        };
        match one(self.write(tenant, actor, vec![op])?)? {
            Output::Customer(c) => Ok(c),
            other => Err(unexpected(&other)),
        }
    }

    /// Erases a customer for privacy.
    fn erase_customer(&self, tenant: &TenantSlug, actor: &Actor, id: CustomerId) -> Result<()> {
        self.write(tenant, actor, vec![Op::EraseCustomer(id)])
            .map(drop)
    }

    /// Logs an interaction; returns it and whether it was new.
    fn log_interaction(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        input: InteractionInput,
    ) -> Result<(Interaction, bool)> {
        match one(self.write(tenant, actor, vec![Op::LogInteraction(input)])?)? {
            Output::Interaction {
                interaction,
                created,
            } => Ok((interaction, created)),
            other => Err(unexpected(&other)),
        }
    }

    /// Creates a pipeline.
    fn create_pipeline(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        input: PipelineInput,
    ) -> Result<Pipeline> {
        match one(self.write(tenant, actor, vec![Op::CreatePipeline(input)])?)? {
            Output::Pipeline(p) => Ok(p),
            other => Err(unexpected(&other)),
        }
    }

    /// Creates a deal.
    fn create_deal(&self, tenant: &TenantSlug, actor: &Actor, input: DealInput) -> Result<Deal> {
        match one(self.write(tenant, actor, vec![Op::CreateDeal(input)])?)? {
            Output::Deal(d) => Ok(d),
            other => Err(unexpected(&other)),
        }
    }

    /// Moves a deal to `stage`.
    fn move_deal(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        id: DealId,
        stage: StageId,
        at: Option<Timestamp>,
    ) -> Result<Deal> {
        let op = Op::MoveDeal {
            lost_reason: None,
            id,
            stage,
            at,
            expected_version: None,
        };
        match one(self.write(tenant, actor, vec![op])?)? {
            Output::Deal(d) => Ok(d),
            other => Err(unexpected(&other)),
        }
    }
}

/// Gives every free-text owner of every tenant a user (the upgrade to owners that are users).
pub(crate) fn adopt_owners(store: &dyn Store) -> Result<()> {
    let actor = Actor::new("kith-upgrade");
    for t in store.tenants()? {
        let adopted = store.write(&t.slug, &actor, vec![Op::AdoptOwners])?;
        if let Some(Output::Adopted(users)) = adopted.first()
            && !users.is_empty()
        {
            tracing::info!(tenant = %t.slug, users = users.len(), "made users of free-text owners");
        }
    }
    Ok(())
}

/// The single output of a one-op write.
pub fn one(mut outputs: Vec<Output>) -> Result<Output> {
    outputs
        .pop()
        .ok_or_else(|| Error::Storage("a write returned no output".into()))
}

/// The error for a write that returned another kind of output than its op produces.
pub fn unexpected(o: &Output) -> Error {
    Error::Storage(format!("a write returned an unexpected output: {o:?}"))
}
