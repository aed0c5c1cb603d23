//! The rules of every write, once, above the backends.
//!
//! An [`Op`] (create a customer, merge two, apply a plugin's action, advance a plugin's cursor,
//! ...) is turned into reads and writes of whole records through a [`Txn`]: one tenant's view of
//! one backend transaction. The engine decides (validation through the model, version checks,
//! which customer an action names, what a merge moves, whether an older score may replace a
//! newer one); the backend only stores records, maintains their indexes, enforces uniqueness,
//! numbers events without gaps and commits. So a second backend implements [`Txn`] and inherits
//! every rule, and both behave the same by construction.

mod actions;
mod edit;
mod fields;
mod ops;
mod plugins;
mod users;

pub(crate) use users::{check_owner, check_user};

use crate::{Error, Result};
use crate::{Op, Output};
use kith_model::{
    Actor, Customer, CustomerId, Deal, DealId, Delivery, Email, Enablement, EntityRef, Event,
    EventKind, FieldChange, FieldDefinition, FieldObject, Interaction, InteractionId, Phone,
    Pipeline, PipelineId, PluginHealth, Quota, StoredJob, StoredModel, StoredScore, StoredSegments,
    Team, TeamId, Timestamp, User, UserId,
};

/// Who writes, when, and how deep in a chain of plugin reactions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    /// Recorded in each event.
    pub(crate) actor: &'a Actor,
    /// The time of the write.
    pub(crate) now: Timestamp,
    /// The chain depth events record (see [`Op::Caused`]).
    pub(crate) depth: u8,
}

/// A point a [`Txn`] can roll back to.
pub(crate) type Mark = u64;

/// One tenant's records inside one backend write transaction.
///
/// Every method reads or writes the calling tenant only. `put_*` methods store a record with
/// its index entries, given the record it replaces (`None` for a new one), and refuse a unique
/// value held by another record of the tenant with [`Error::Duplicate`] (email, phone and
/// external ids of customers, external ids of interactions, pipeline names, delivery ids).
pub(crate) trait Txn {
    /// A customer.
    fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>>;
    /// Whether the customer exists (and, where the store locks rows, is locked as `customer`
    /// locks it). Stores override it to skip decoding the record.
    fn has_customer(&mut self, id: CustomerId) -> Result<bool> {
        Ok(self.customer(id)?.is_some())
    }
    /// The customer holding this normalized email.
    fn customer_by_email(&mut self, email: &Email) -> Result<Option<CustomerId>>;
    /// The customer holding this normalized phone.
    fn customer_by_phone(&mut self, phone: &Phone) -> Result<Option<CustomerId>>;
    /// The customer holding this external id.
    fn customer_by_external(&mut self, source: &str, id: &str) -> Result<Option<CustomerId>>;
    /// Stores a customer.
    fn put_customer(&mut self, old: Option<&Customer>, new: &Customer) -> Result<()>;
    /// Removes a customer record and its index entries (nothing else).
    fn delete_customer(&mut self, c: &Customer) -> Result<()>;
    /// The members of an organization.
    fn members(&mut self, organization: CustomerId) -> Result<Vec<CustomerId>>;

    /// An interaction.
    fn interaction(&mut self, id: InteractionId) -> Result<Option<Interaction>>;
    /// The interaction logged with this source and external id.
    fn interaction_by_external(&mut self, source: &str, id: &str) -> Result<Option<InteractionId>>;
    /// Stores an interaction.
    fn put_interaction(&mut self, old: Option<&Interaction>, new: &Interaction) -> Result<()>;
    /// Removes an interaction and its index entries.
    fn delete_interaction(&mut self, i: &Interaction) -> Result<()>;
    /// A customer's interactions.
    fn interactions_of(&mut self, customer: CustomerId) -> Result<Vec<InteractionId>>;
    /// Up to `limit` work items still to do (open, in progress, waiting) assigned to `user`.
    fn open_work_of(&mut self, user: &str, limit: usize) -> Result<Vec<InteractionId>>;

    /// A pipeline.
    fn pipeline(&mut self, id: PipelineId) -> Result<Option<Pipeline>>;
    /// The pipeline with this name (case-insensitive).
    fn pipeline_by_name(&mut self, name: &str) -> Result<Option<PipelineId>>;
    /// Stores a pipeline.
    fn put_pipeline(&mut self, old: Option<&Pipeline>, new: &Pipeline) -> Result<()>;
    /// Removes a pipeline and its index entries.
    fn delete_pipeline(&mut self, p: &Pipeline) -> Result<()>;
    /// How many deals a pipeline holds.
    fn deals_in(&mut self, pipeline: PipelineId) -> Result<u64>;

    /// A deal.
    fn deal(&mut self, id: DealId) -> Result<Option<Deal>>;
    /// Stores a deal.
    fn put_deal(&mut self, old: Option<&Deal>, new: &Deal) -> Result<()>;
    /// Removes a deal and its index entries.
    fn delete_deal(&mut self, d: &Deal) -> Result<()>;
    /// A customer's deals.
    fn deals_of(&mut self, customer: CustomerId) -> Result<Vec<DealId>>;

    /// A user.
    fn user(&mut self, id: UserId) -> Result<Option<User>>;
    /// Stores a user (email unique per tenant) and their team memberships.
    fn put_user(&mut self, old: Option<&User>, new: &User) -> Result<()>;
    /// A team.
    fn team(&mut self, id: TeamId) -> Result<Option<Team>>;
    /// Stores a team (name unique per tenant, case-insensitive).
    fn put_team(&mut self, old: Option<&Team>, new: &Team) -> Result<()>;
    /// Removes a team and its index entries.
    fn delete_team(&mut self, t: &Team) -> Result<()>;
    /// The users in a team.
    fn team_members(&mut self, team: TeamId) -> Result<Vec<UserId>>;
    /// The quota with the subject, period, start and currency of `key` (its target is ignored).
    fn quota(&mut self, key: &Quota) -> Result<Option<Quota>>;
    /// Stores a quota, replacing the one with the same subject, period, start and currency.
    fn put_quota(&mut self, q: &Quota) -> Result<()>;
    /// Removes a quota.
    fn delete_quota(&mut self, q: &Quota) -> Result<()>;
    /// The custom field definitions of `object`, by key. Writes check their values against
    /// them; a change of a definition waits for such writes and is seen by the ones after it.
    fn field_definitions(&mut self, object: FieldObject) -> Result<Vec<FieldDefinition>>;
    /// Waits for the writes checking values against the field definitions and holds the writes
    /// after it until this transaction ends: before a definition changes. (A backend with one
    /// writer at a time has nothing to do.)
    fn lock_field_definitions(&mut self) -> Result<()> {
        Ok(())
    }
    /// Stores a field definition, replacing the one of its object and key.
    fn put_field_definition(&mut self, d: &FieldDefinition) -> Result<()>;
    /// Removes a field definition.
    fn delete_field_definition(&mut self, d: &FieldDefinition) -> Result<()>;
    /// The records whose field `key` of `object` has the index entry `value` (at most
    /// `limit`). Writers of one value serialize from here to their commit (PostgreSQL: a lock
    /// per tenant, field and value), so two cannot both find it free.
    fn field_index_holders(
        &mut self,
        object: FieldObject,
        key: &str,
        value: &[u8],
        limit: usize,
    ) -> Result<Vec<[u8; 16]>>;
    /// Adds an index entry of a record's field value.
    fn put_field_index(
        &mut self,
        object: FieldObject,
        key: &str,
        value: &[u8],
        id: [u8; 16],
    ) -> Result<()>;
    /// Removes an index entry of a record's field value.
    fn delete_field_index(
        &mut self,
        object: FieldObject,
        key: &str,
        value: &[u8],
        id: [u8; 16],
    ) -> Result<()>;
    /// Removes every index entry of a field.
    fn purge_field_index(&mut self, object: FieldObject, key: &str) -> Result<()>;
    /// Every distinct `owner` value of the tenant's customers and deals.
    fn owners(&mut self) -> Result<Vec<String>>;
    /// The customers whose owner is `owner`, oldest first.
    fn customers_owned_by(&mut self, owner: &str) -> Result<Vec<CustomerId>>;
    /// The deals whose owner is `owner`, oldest first.
    fn deals_owned_by(&mut self, owner: &str) -> Result<Vec<DealId>>;

    /// The tenant's last event sequence number, as this transaction sees it.
    fn head(&mut self) -> Result<u64>;
    /// Appends an event. The backend numbers it with the tenant's next sequence number, without
    /// gaps and in commit order, by the time the transaction commits.
    fn append(&mut self, event: NewEvent) -> Result<()>;

    /// A plugin's enablement.
    fn enablement(&mut self, plugin: &str) -> Result<Option<Enablement>>;
    /// Stores an enablement.
    fn put_enablement(&mut self, e: &Enablement) -> Result<()>;
    /// Removes a plugin's enablement, cursor, health and model.
    fn delete_plugin_state(&mut self, plugin: &str) -> Result<()>;
    /// A plugin's dispatch cursor.
    fn cursor(&mut self, plugin: &str) -> Result<Option<u64>>;
    /// Stores a plugin's dispatch cursor.
    fn put_cursor(&mut self, plugin: &str, seq: u64) -> Result<()>;
    /// The plugin's health as this transaction sees it (locked until it ends where the store
    /// locks rows), `None` when none was stored.
    fn health(&mut self, plugin: &str) -> Result<Option<PluginHealth>>;
    /// Stores a plugin's health.
    fn put_health(&mut self, plugin: &str, health: &PluginHealth) -> Result<()>;
    /// Stores a plugin's population model.
    fn put_model(&mut self, plugin: &str, model: &StoredModel) -> Result<()>;
    /// A plugin's score of a customer.
    fn score(&mut self, customer: CustomerId, plugin: &str) -> Result<Option<StoredScore>>;
    /// Stores a score (and its leaderboard entry).
    fn put_score(&mut self, old: Option<&StoredScore>, new: &StoredScore) -> Result<()>;
    /// A plugin's segments of a customer.
    fn segments(&mut self, customer: CustomerId, plugin: &str) -> Result<Option<StoredSegments>>;
    /// Stores segments (and their member entries).
    fn put_segments(&mut self, old: Option<&StoredSegments>, new: &StoredSegments) -> Result<()>;
    /// Removes every plugin's score and segments of a customer.
    fn delete_outputs(&mut self, customer: CustomerId) -> Result<()>;
    /// Whether a delivery id was recorded for a plugin.
    fn delivery_seen(&mut self, plugin: &str, id: &str) -> Result<bool>;
    /// Records a delivery.
    fn put_delivery(&mut self, plugin: &str, delivery: &Delivery) -> Result<()>;
    /// A rescore job.
    fn job(&mut self, id: u64) -> Result<Option<StoredJob>>;
    /// Every rescore job of the tenant, by id.
    fn jobs(&mut self) -> Result<Vec<StoredJob>>;
    /// Stores a rescore job.
    fn put_job(&mut self, job: &StoredJob) -> Result<()>;
    /// Removes a rescore job.
    fn delete_job(&mut self, id: u64) -> Result<()>;
    /// A conflict unless this node holds the tenant's dispatch lease with this token (and
    /// keeps holding it until the transaction ends).
    fn check_fence(&mut self, fence: u64) -> Result<()>;

    /// A point to roll back to.
    fn mark(&mut self) -> Result<Mark>;
    /// Undoes every write since `mark`.
    fn rollback(&mut self, mark: Mark) -> Result<()>;
    /// Keeps every write since `mark`, which will not be rolled back to any more (a backend
    /// may then drop what it kept to undo them).
    fn release(&mut self, _mark: Mark) -> Result<()> {
        Ok(())
    }
}

/// An event before the backend numbers it.
#[derive(Debug, Clone)]
pub(crate) struct NewEvent {
    /// What happened.
    pub(crate) kind: EventKind,
    /// To what.
    pub(crate) entity: EntityRef,
    /// Which fields changed.
    pub(crate) changed: Vec<String>,
    /// Who, when and at what chain depth.
    pub(crate) actor: Actor,
    /// When.
    pub(crate) at: Timestamp,
    /// Plugin reactions that led to it.
    pub(crate) depth: u8,
    /// Old and new values, for changes that record them.
    pub(crate) changes: Vec<FieldChange>,
}

impl NewEvent {
    /// The stored event once numbered.
    pub(crate) fn numbered(self, seq: u64) -> Event {
        Event {
            seq,
            at: self.at,
            actor: self.actor,
            kind: self.kind,
            entity: self.entity,
            changed: self.changed,
            depth: self.depth,
            changes: self.changes,
        }
    }
}

/// Appends one event for this write.
pub(crate) fn event(
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    kind: EventKind,
    entity: EntityRef,
    changed: Vec<String>,
) -> Result<()> {
    event_with(txn, ctx, kind, entity, changed, Vec::new())
}

/// Appends one event for this write naming the `changed` fields and recording the old and new
/// values of some (`changes`).
pub(crate) fn event_with(
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    kind: EventKind,
    entity: EntityRef,
    changed: Vec<String>,
    changes: Vec<FieldChange>,
) -> Result<()> {
    txn.append(NewEvent {
        kind,
        entity,
        changed,
        actor: ctx.actor.clone(),
        at: ctx.now,
        depth: ctx.depth,
        changes,
    })
}

/// Appends one event for this write recording each field's old and new value (its `changed`
/// lists the same fields).
pub(crate) fn event_with_values(
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    kind: EventKind,
    entity: EntityRef,
    changes: Vec<FieldChange>,
) -> Result<()> {
    txn.append(NewEvent {
        kind,
        entity,
        changed: changes.iter().map(|c| c.field.clone()).collect(),
        actor: ctx.actor.clone(),
        at: ctx.now,
        depth: ctx.depth,
        changes,
    })
}

/// Applies one op.
pub(crate) fn apply(txn: &mut dyn Txn, ctx: &Ctx<'_>, op: Op) -> Result<Output> {
    match op {
        Op::Plugin(op) => plugins::apply(txn, ctx, op),
        Op::Action(action) => actions::apply(txn, ctx, action),
        Op::Attempt(ops) => {
            let mark = txn.mark()?;
            let mut outputs = Vec::with_capacity(ops.len());
            for op in ops {
                match apply(txn, ctx, op) {
                    Ok(o) => outputs.push(o),
                    Err(e) => {
                        txn.rollback(mark)?;
                        txn.release(mark)?;
                        return Ok(Output::Failed {
                            code: e.code().to_owned(),
                            message: e.to_string(),
                        });
                    }
                }
            }
            txn.release(mark)?;
            Ok(Output::Attempted(outputs))
        }
        Op::Caused { depth, ops } => {
            let ctx = Ctx { depth, ..*ctx };
            let outputs = ops
                .into_iter()
                .map(|op| apply(txn, &ctx, op))
                .collect::<Result<Vec<_>>>()?;
            Ok(Output::Attempted(outputs))
        }
        op @ (Op::CreateUser(_)
        | Op::UpdateUser { .. }
        | Op::CreateTeam(_)
        | Op::UpdateTeam { .. }
        | Op::DeleteTeam(_)
        | Op::Reassign { .. }
        | Op::AdoptOwners
        | Op::SetQuota(_)
        | Op::RemoveQuota(_)) => users::apply(txn, ctx, op),
        op @ (Op::SetField { .. } | Op::RemoveField { .. } | Op::IndexField { .. }) => {
            fields::apply(txn, ctx, op)
        }
        other => ops::apply(txn, ctx, other),
    }
}

/// Applies ops in order; the first error stops (the caller rolls back).
pub(crate) fn apply_all(txn: &mut dyn Txn, ctx: &Ctx<'_>, ops: Vec<Op>) -> Result<Vec<Output>> {
    ops.into_iter().map(|op| apply(txn, ctx, op)).collect()
}

/// Applies each op on its own: a failed one is rolled back and reported, the others stay.
pub(crate) fn apply_each(
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    ops: Vec<Op>,
) -> Result<Vec<Result<Output>>> {
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        let mark = txn.mark()?;
        let r = apply(txn, ctx, op);
        if r.is_err() {
            txn.rollback(mark)?;
        }
        txn.release(mark)?;
        results.push(r);
    }
    Ok(results)
}

/// `NotFound` unless the customer exists; cheaper than [`load_customer`] where the record
/// itself is not needed (a score, an interaction or a deal of the customer).
pub(crate) fn require_customer(txn: &mut dyn Txn, id: CustomerId) -> Result<()> {
    if txn.has_customer(id)? {
        Ok(())
    } else {
        Err(Error::not_found("customer", id))
    }
}

/// A customer, or `NotFound`.
pub(crate) fn load_customer(txn: &mut dyn Txn, id: CustomerId) -> Result<Customer> {
    txn.customer(id)?
        .ok_or_else(|| Error::not_found("customer", id))
}

/// A pipeline, or `NotFound`.
pub(crate) fn load_pipeline(txn: &mut dyn Txn, id: PipelineId) -> Result<Pipeline> {
    txn.pipeline(id)?
        .ok_or_else(|| Error::not_found("pipeline", id))
}

/// A deal, or `NotFound`.
pub(crate) fn load_deal(txn: &mut dyn Txn, id: DealId) -> Result<Deal> {
    txn.deal(id)?.ok_or_else(|| Error::not_found("deal", id))
}

/// The optimistic-concurrency conflict of a record at another version than the caller read.
pub(crate) fn conflict(
    entity: &'static str,
    id: impl ToString,
    expected: u64,
    actual: u64,
) -> Error {
    Error::Conflict {
        entity,
        id: id.to_string(),
        expected,
        actual,
    }
}
