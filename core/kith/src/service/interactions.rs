//! Interactions and work items: log, read, edit (`If-Match`), the work queue, overdue counts,
//! service figures, and a deal's timeline.
//!
//! A limited user (manager or member) reads an interaction when they may read its customer or
//! its assignee's records, and changes it when they may change either: work assigned to a
//! member is theirs to work even on a customer someone else owns.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::model::{
    Actor, CustomerId, Date, DealId, Interaction, InteractionId, InteractionInput, InteractionKind,
    InteractionPatch, Period, TaskStatus, TeamId, TenantSlug, Timestamp, WorkReport,
    WorkReportBuilder, check_range,
};
use crate::store::{Assignees, Error, MAX_QUEUE_ASSIGNEES, Result, WorkQuery};
use crate::store::{IdempotencyKey, Once, Op, Output, Page, PageRequest, Store, unexpected};

use super::access::{Access, filtered_page};
use super::customers::{AttributeMatch, AttributeOp, write_one};

/// A logged interaction and whether this request stored it (false: its external id, or the
/// idempotency key, was seen before).
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    /// The interaction.
    pub interaction: Interaction,
    /// Whether it is new.
    pub created: bool,
}

/// Logs an interaction; a limited user logs only on customers they may change, and their new
/// work items are assigned to them unless they name someone they may give work to.
pub fn log(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    access: &Access,
    input: InteractionInput,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Logged>> {
    let ops = vec![log_op(store, tenant, access, input)?];
    logged(match key {
        Some(k) => store.write_once(tenant, actor, ops, k)?,
        None => Once::fresh(store.write(tenant, actor, ops)?),
    })
}

/// The op that logs `input` for `access`: a limited user's checks read the customer; full
/// access needs no read (so a caller with full access may build the op without the store).
pub fn log_op(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    input: InteractionInput,
) -> Result<Op> {
    let mut input = input;
    if !access.is_full() {
        let c = store
            .customer(tenant, input.customer)?
            .ok_or_else(|| Error::not_found("customer", input.customer))?;
        access.check_customer_write(&c)?;
        if input.kind.has_status() {
            // A limited user's new work is theirs unless given to someone they may give it to.
            input.assignee = access.owner_for_new(input.assignee.take())?;
        }
    }
    Ok(Op::LogInteraction(input))
}

/// What the write of [`log_op`]'s op answered, as a [`Logged`].
pub fn logged(once: Once<Vec<Output>>) -> Result<Once<Logged>> {
    match crate::store::one(once.value)? {
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

/// The owners of customers already looked up in one request.
#[derive(Default)]
struct Owners(HashMap<CustomerId, Option<Option<String>>>);

impl Owners {
    /// The owner of `customer` (outer none: no such customer).
    fn of(
        &mut self,
        store: &dyn Store,
        tenant: &TenantSlug,
        customer: CustomerId,
    ) -> Result<Option<Option<String>>> {
        if let Some(o) = self.0.get(&customer) {
            return Ok(o.clone());
        }
        let owner = store.customer(tenant, customer)?.map(|c| c.owner);
        self.0.insert(customer, owner.clone());
        Ok(owner)
    }
}

/// Whether the caller may read `i`: its customer, or its assignee's records.
fn readable(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    owners: &mut Owners,
    i: &Interaction,
) -> Result<bool> {
    if access.is_full() || (i.assignee.is_some() && access.reads(i.assignee.as_deref())) {
        return Ok(true);
    }
    Ok(owners
        .of(store, tenant, i.customer)?
        .is_some_and(|o| access.reads(o.as_deref())))
}

/// An interaction by id (missing too when the caller may not read it).
pub fn get(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    id: InteractionId,
) -> Result<Interaction> {
    let i = store
        .interaction(tenant, id)?
        .ok_or_else(|| Error::not_found("interaction", id))?;
    if !readable(store, tenant, access, &mut Owners::default(), &i)? {
        return Err(Error::not_found("interaction", id));
    }
    Ok(i)
}

/// Changes an interaction (see [`InteractionPatch`]); with `expected_version`, only if it is
/// still at that version. A limited user changes only what they may change, and assigns work
/// only as they may give records (to themselves; a manager also to their teams' members).
pub fn update(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    access: &Access,
    id: InteractionId,
    expected_version: Option<u64>,
    patch: InteractionPatch,
) -> Result<Interaction> {
    let mut expected_version = super::expected_version(expected_version, patch.version)?;
    if !access.is_full() {
        let i = get(store, tenant, access, id)?;
        let mut owners = Owners::default();
        let customer_owner = owners.of(store, tenant, i.customer)?.flatten();
        let assigned = i.assignee.is_some() && access.writes(i.assignee.as_deref());
        if !assigned && !access.writes(customer_owner.as_deref()) {
            return Err(Error::Forbidden(format!(
                "interaction {id} is shared with your team read-only: its assignee, its customer's owner or a manager can change it"
            )));
        }
        if let Some(new) = &patch.assignee {
            access.check_owner_change(i.assignee.as_deref(), new.as_deref())?;
        }
        // Pin the version checked, so a change in between (a reassignment) is a conflict.
        expected_version = Some(expected_version.unwrap_or(i.version));
    }
    let op = Op::UpdateInteraction {
        id,
        expected_version,
        patch,
    };
    match write_one(store, tenant, actor, op, None)?.value {
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
    let mut owners = Owners::default();
    filtered_page(
        page,
        |p| store.due_tasks(tenant, until, p),
        |i| readable(store, tenant, access, &mut owners, i),
    )
}

/// Whose work a queue shows, as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whose {
    /// Everyone's the caller may read.
    Anyone,
    /// Nobody's.
    Nobody,
    /// One user's.
    User(String),
    /// The members of a team.
    Team(TeamId),
}

/// What a work queue lists.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueQuery {
    /// Whose.
    pub whose: Whose,
    /// Statuses (empty: open, in progress and waiting).
    pub statuses: Vec<TaskStatus>,
    /// Kinds (empty: all work kinds).
    pub kinds: Vec<InteractionKind>,
    /// Due strictly before.
    pub due_before: Option<Timestamp>,
    /// A custom field (its key) holds this value.
    pub attribute: Option<(String, AttributeMatch)>,
}

/// The work queue: work items by due date (none last), then priority (urgent first).
pub fn queue(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    q: &QueueQuery,
    page: &PageRequest,
) -> Result<Page<Interaction>> {
    for k in &q.kinds {
        if !k.has_status() {
            return Err(
                crate::model::ValidationError::field("kind", "task, ticket or complaint").into(),
            );
        }
    }
    let assignees = match &q.whose {
        Whose::Anyone => Assignees::Any,
        Whose::Nobody => Assignees::Unassigned,
        Whose::User(u) => Assignees::Users(vec![u.clone()]),
        Whose::Team(t) => {
            let members: Vec<String> = super::users::member_ids(store, tenant, *t)?
                .into_iter()
                .collect();
            if members.len() > MAX_QUEUE_ASSIGNEES {
                return Err(crate::model::ValidationError::field(
                    "team",
                    format!(
                        "a team of at most {MAX_QUEUE_ASSIGNEES} members: list a larger team's work by `assignee`"
                    ),
                )
                .into());
            }
            if members.is_empty() {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            }
            Assignees::Users(members)
        }
    };
    let query = WorkQuery {
        assignees,
        statuses: if q.statuses.is_empty() {
            TaskStatus::OPEN.to_vec()
        } else {
            q.statuses.clone()
        },
        kinds: q.kinds.clone(),
        due_before: q.due_before,
    };
    if access.is_full() && q.attribute.is_none() {
        return store.work(tenant, &query, page);
    }
    let holds = |i: &Interaction| {
        q.attribute.as_ref().is_none_or(|(key, value)| {
            i.attributes
                .get(key)
                .is_some_and(|v| value.holds(AttributeOp::Eq, v))
        })
    };
    let mut owners = Owners::default();
    filtered_page(
        page,
        |p| store.work(tenant, &query, p),
        |i| Ok(holds(i) && readable(store, tenant, access, &mut owners, i)?),
    )
}

/// Open work per assignee at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OverdueCount {
    /// The assignee's user id; none for unassigned work.
    pub assignee: Option<String>,
    /// Work still to do.
    pub open: u64,
    /// Of it, past its due date.
    pub overdue: u64,
}

/// Most open work items one overdue count reads; past it the answer says it is partial.
pub const MAX_COUNTED: usize = 200_000;

/// Open and overdue work per assignee at `now`, over the work the caller may read.
pub fn overdue(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    now: Timestamp,
) -> Result<(Vec<OverdueCount>, bool)> {
    let mut counts: BTreeMap<Option<String>, (u64, u64)> = BTreeMap::new();
    let mut owners = Owners::default();
    let query = WorkQuery::open();
    let mut page = PageRequest::first(1000);
    let mut read = 0usize;
    loop {
        let got = store.work(tenant, &query, &page)?;
        read += got.items.len();
        for i in got.items {
            if readable(store, tenant, access, &mut owners, &i)? {
                let c = counts.entry(i.assignee.clone()).or_default();
                c.0 += 1;
                c.1 += u64::from(i.is_overdue(now));
            }
        }
        match got.next {
            Some(c) if read < MAX_COUNTED => page = PageRequest::after(1000, c),
            Some(_) => break,
            None => {
                return Ok((finish_counts(counts), false));
            }
        }
    }
    Ok((finish_counts(counts), true))
}

fn finish_counts(counts: BTreeMap<Option<String>, (u64, u64)>) -> Vec<OverdueCount> {
    counts
        .into_iter()
        .map(|(assignee, (open, overdue))| OverdueCount {
            assignee,
            open,
            overdue,
        })
        .collect()
}

/// How service figures are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkGroup {
    /// By assignee.
    Assignee,
    /// By each team of the assignee.
    Team,
    /// One group for everything.
    All,
}

/// What a service report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceQuery {
    /// First day.
    pub from: Date,
    /// Last day.
    pub to: Date,
    /// Period length.
    pub period: Period,
    /// Grouping.
    pub by: WorkGroup,
    /// Only these kinds (empty: tasks, tickets and complaints).
    pub kinds: Vec<InteractionKind>,
    /// Only work assigned to this user.
    pub assignee: Option<String>,
    /// Only work assigned to members of this team.
    pub team: Option<TeamId>,
}

/// Service figures (see [`WorkReport`]) over the work items the caller may read, judged at
/// `now`. Reads every work item of the tenant (the work index, not every interaction).
pub fn service_report(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    q: &ServiceQuery,
    now: Timestamp,
) -> Result<WorkReport> {
    check_range(q.from, q.to, q.period)?;
    let members: Option<HashSet<String>> = match q.team {
        Some(t) => Some(super::users::member_ids(store, tenant, t)?),
        None => None,
    };
    let mut teams_of: HashMap<String, Vec<Option<String>>> = HashMap::new();
    if q.by == WorkGroup::Team {
        let mut page = PageRequest::first(1000);
        loop {
            let got = store.users(tenant, &page)?;
            for u in got.items {
                teams_of.insert(
                    u.id.to_string(),
                    u.teams.iter().map(|t| Some(t.to_string())).collect(),
                );
            }
            match got.next {
                Some(c) => page = PageRequest::after(1000, c),
                None => break,
            }
        }
    }
    let query = WorkQuery {
        assignees: match &q.assignee {
            Some(a) => Assignees::Users(vec![a.clone()]),
            None => Assignees::Any,
        },
        kinds: q.kinds.clone(),
        ..WorkQuery::all()
    };
    let mut owners = Owners::default();
    let mut report = WorkReportBuilder::new(q.from, q.to, q.period, now);
    let mut page = PageRequest::first(1000);
    loop {
        let got = store.work(tenant, &query, &page)?;
        for i in got.items {
            let assignee = i.assignee.as_deref();
            let wanted = members
                .as_ref()
                .is_none_or(|m| assignee.is_some_and(|a| m.contains(a)));
            if !wanted || !readable(store, tenant, access, &mut owners, &i)? {
                continue;
            }
            let groups: Vec<Option<String>> = match (q.by, assignee) {
                (WorkGroup::All, _) => vec![None],
                (_, None) => Vec::new(),
                (WorkGroup::Assignee, Some(a)) => vec![Some(a.to_owned())],
                (WorkGroup::Team, Some(a)) => teams_of.get(a).cloned().unwrap_or_default(),
            };
            report.add(&i, &groups);
        }
        match got.next {
            Some(c) => page = PageRequest::after(1000, c),
            None => break,
        }
    }
    Ok(report.finish())
}

/// A deal's timeline: the interactions linked to it, newest first (missing when the caller may
/// not read the deal).
pub fn deal_timeline(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    deal: DealId,
    page: &PageRequest,
) -> Result<Page<Interaction>> {
    super::deals::get(store, tenant, access, deal)?;
    store.deal_timeline(tenant, deal, page)
}

/// Logs each record on its own (one record's failure leaves the others), all in one commit; a
/// record whose external id is stored already answers the stored interaction.
pub fn log_batch(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    records: Vec<InteractionInput>,
) -> Result<Vec<Result<Output>>> {
    super::customers::check_batch(records.len())?;
    let ops = records.into_iter().map(Op::LogInteraction).collect();
    store.write_each(tenant, actor, ops)
}
