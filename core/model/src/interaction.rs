//! Interactions: one touchpoint with a customer on one channel.
//!
//! Tasks, tickets and complaints are also work items: someone is assigned to them, they have a
//! priority, a due date, a status from open to closed, a category, a resolution note, and the
//! times they were opened (`occurred_at`), first answered and resolved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::customer::attribute_key;
use super::error::{Checker, text};
use super::event::FieldChange;
use super::patch::double_option;
use super::{AttributeValue, CustomerId, DealId, InteractionId, Money, Timestamp, ValidationError};

macro_rules! kebab_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),*
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),*]))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The kebab-case name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// A stable code for index keys and columns: the position in `ALL`.
            pub fn code(self) -> u8 {
                Self::ALL.iter().position(|v| *v == self).unwrap_or(0) as u8
            }

            /// Parses the kebab-case name (case-insensitive, `_` accepted for `-`).
            pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
                let s = s.trim().to_ascii_lowercase().replace('_', "-");
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    ValidationError::field(field, format!("one of {}", names.join(", ")))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

kebab_enum!(
    /// The channel an interaction happened on.
    Channel {
        /// Email.
        Email = "email",
        /// Phone call.
        Phone = "phone",
        /// Text message.
        Sms = "sms",
        /// Chat.
        Chat = "chat",
        /// Social network.
        Social = "social",
        /// Website.
        Web = "web",
        /// In person.
        InPerson = "in-person",
        /// Call center.
        CallCenter = "call-center",
        /// Fax.
        Fax = "fax",
        /// Postal mail.
        Mail = "mail",
        /// Online shop.
        ECommerce = "e-commerce",
        /// Anything else.
        Other = "other",
    }
);

kebab_enum!(
    /// What kind of touchpoint an interaction is.
    InteractionKind {
        /// A note.
        Note = "note",
        /// An email.
        Email = "email",
        /// A call.
        Call = "call",
        /// A meeting.
        Meeting = "meeting",
        /// A message.
        Message = "message",
        /// A task (has status and due date).
        Task = "task",
        /// A support ticket (has status and due date).
        Ticket = "ticket",
        /// A complaint.
        Complaint = "complaint",
        /// A purchase (has an amount).
        Purchase = "purchase",
        /// A refund (has an amount).
        Refund = "refund",
        /// A survey response (may have a 0-10 rating).
        SurveyResponse = "survey-response",
        /// A page view.
        PageView = "page-view",
        /// A submitted form.
        FormSubmission = "form-submission",
        /// A demo request.
        DemoRequest = "demo-request",
        /// Anything else.
        Other = "other",
    }
);

kebab_enum!(
    /// Who started the interaction.
    Direction {
        /// The customer reached out.
        Inbound = "inbound",
        /// We reached out.
        Outbound = "outbound",
    }
);

kebab_enum!(
    /// How urgent a work item is.
    Priority {
        /// Whenever there is time.
        Low = "low",
        /// The default.
        Normal = "normal",
        /// Before normal work.
        High = "high",
        /// Before everything else.
        Urgent = "urgent",
    }
);

impl Priority {
    /// Queue order: urgent first (0) to low last (3).
    pub fn rank(self) -> u8 {
        match self {
            Self::Urgent => 0,
            Self::High => 1,
            Self::Normal => 2,
            Self::Low => 3,
        }
    }
}

/// The state of a work item (task, ticket or complaint).
///
/// The declaration order is the stored encoding: the first release stored `done` and
/// `cancelled` where `resolved` and `closed` are now, and those names are still accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TaskStatus {
    /// Not started.
    #[serde(rename = "open")]
    Open,
    /// Being worked on.
    #[serde(rename = "in-progress")]
    InProgress,
    /// Solved (formerly `done`).
    #[serde(rename = "resolved", alias = "done")]
    Resolved,
    /// Finished, solved or not (formerly `cancelled`).
    #[serde(rename = "closed", alias = "cancelled")]
    Closed,
    /// Waiting for the customer or someone else.
    #[serde(rename = "waiting")]
    Waiting,
}

impl TaskStatus {
    /// Every status, in the order work goes through them.
    pub const ALL: &'static [TaskStatus] = &[
        Self::Open,
        Self::InProgress,
        Self::Waiting,
        Self::Resolved,
        Self::Closed,
    ];

    /// The statuses of work still to do.
    pub const OPEN: &'static [TaskStatus] = &[Self::Open, Self::InProgress, Self::Waiting];

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InProgress => "in-progress",
            Self::Waiting => "waiting",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    /// A stable code for index keys (its position in [`TaskStatus::ALL`]).
    pub fn code(self) -> u8 {
        match self {
            Self::Open => 0,
            Self::InProgress => 1,
            Self::Waiting => 2,
            Self::Resolved => 3,
            Self::Closed => 4,
        }
    }

    /// Parses a name (case-insensitive, `_` for `-`; `done` and `cancelled` as of old).
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        match s.as_str() {
            "done" => return Ok(Self::Resolved),
            "cancelled" | "canceled" => return Ok(Self::Closed),
            _ => {}
        }
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                ValidationError::field(field, "one of open, in-progress, waiting, resolved, closed")
            })
    }

    /// Whether work is still to do (open, in progress or waiting).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open | Self::InProgress | Self::Waiting)
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl InteractionKind {
    /// Work items (tasks, tickets and complaints) carry a status, due date, assignee,
    /// priority, category and resolution.
    pub fn has_status(self) -> bool {
        matches!(self, Self::Task | Self::Ticket | Self::Complaint)
    }
}

/// A stored interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Interaction {
    /// Id.
    pub id: InteractionId,
    /// The customer it belongs to.
    pub customer: CustomerId,
    /// Channel.
    pub channel: Channel,
    /// Kind.
    pub kind: InteractionKind,
    /// Direction.
    pub direction: Direction,
    /// When it happened; for a work item, when it was opened.
    pub occurred_at: Timestamp,
    /// Subject line.
    pub subject: Option<String>,
    /// Body text.
    pub body: Option<String>,
    /// Amount (purchases, refunds, ...), never negative.
    pub amount: Option<Money>,
    /// Status (work items only).
    pub status: Option<TaskStatus>,
    /// Due time (work items only).
    pub due_at: Option<Timestamp>,
    /// Rating 0-10 (survey responses only, e.g. NPS).
    pub rating: Option<u8>,
    /// Custom attributes.
    pub attributes: BTreeMap<String, AttributeValue>,
    /// The system it came from, e.g. `shopify`.
    pub source: Option<String>,
    /// Its id in that system: the same external id is stored once per tenant.
    pub external_id: Option<String>,
    /// When Kith recorded it.
    pub created_at: Timestamp,
    /// Incremented by every change.
    pub version: u64,
    /// The deal it is about (a deal of the same customer): it shows in the deal's timeline.
    pub deal: Option<DealId>,
    /// The user it is assigned to (work items only).
    pub assignee: Option<String>,
    /// Priority (work items only; default normal).
    pub priority: Option<Priority>,
    /// Category, lowercase, e.g. `delivery` for a complaint (work items only).
    pub category: Option<String>,
    /// How it was resolved (work items only).
    pub resolution: Option<String>,
    /// When it first left `open` (work items only).
    pub first_answered_at: Option<Timestamp>,
    /// When it was last resolved or closed; cleared when reopened (work items only).
    pub resolved_at: Option<Timestamp>,
}

/// An interaction as received, before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InteractionInput {
    /// The customer.
    pub customer: CustomerId,
    /// Channel.
    pub channel: Channel,
    /// Kind.
    pub kind: InteractionKind,
    /// Direction (default inbound).
    #[serde(default)]
    pub direction: Option<Direction>,
    /// When it happened (default now).
    #[serde(default)]
    pub occurred_at: Option<Timestamp>,
    /// Subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Body.
    #[serde(default)]
    pub body: Option<String>,
    /// Amount.
    #[serde(default)]
    pub amount: Option<Money>,
    /// Status (work items; default open).
    #[serde(default)]
    pub status: Option<TaskStatus>,
    /// Due time (work items).
    #[serde(default)]
    pub due_at: Option<Timestamp>,
    /// Rating 0-10 (survey responses).
    #[serde(default)]
    pub rating: Option<u8>,
    /// Attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeValue>,
    /// Source system.
    #[serde(default)]
    pub source: Option<String>,
    /// Id in the source system.
    #[serde(default)]
    pub external_id: Option<String>,
    /// The deal it is about (of the same customer).
    #[serde(default)]
    pub deal: Option<DealId>,
    /// The user it is assigned to (work items).
    #[serde(default)]
    pub assignee: Option<String>,
    /// Priority (work items; default normal).
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Category (work items).
    #[serde(default)]
    pub category: Option<String>,
    /// Resolution note (work items).
    #[serde(default)]
    pub resolution: Option<String>,
    /// When it was first answered, for imports of past work (default: when it first leaves
    /// `open`).
    #[serde(default)]
    pub first_answered_at: Option<Timestamp>,
    /// When it was resolved, for imports of past work (default: when it becomes resolved or
    /// closed).
    #[serde(default)]
    pub resolved_at: Option<Timestamp>,
}

impl InteractionInput {
    /// A minimal input: `kind` on `channel` for `customer`, everything else default.
    pub fn new(customer: CustomerId, channel: Channel, kind: InteractionKind) -> Self {
        Self {
            customer,
            channel,
            kind,
            direction: None,
            occurred_at: None,
            subject: None,
            body: None,
            amount: None,
            status: None,
            due_at: None,
            rating: None,
            attributes: BTreeMap::new(),
            source: None,
            external_id: None,
            deal: None,
            assignee: None,
            priority: None,
            category: None,
            resolution: None,
            first_answered_at: None,
            resolved_at: None,
        }
    }
}

/// Longest subject.
const SUBJECT_MAX: usize = 500;
/// Longest body.
const BODY_MAX: usize = 65_536;
/// Longest category.
const CATEGORY_MAX: usize = 100;
/// Longest resolution note.
const RESOLUTION_MAX: usize = 10_000;

fn subject(c: &mut Checker, s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
        .and_then(|s| c.take(text("subject", s, SUBJECT_MAX, false)))
}

fn body(c: &mut Checker, s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
        .and_then(|s| c.take(text("body", s, BODY_MAX, true)))
}

fn category(c: &mut Checker, s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
        .and_then(|s| c.take(text("category", s, CATEGORY_MAX, false)))
        .map(|s| s.to_lowercase())
}

fn resolution(c: &mut Checker, s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
        .and_then(|s| c.take(text("resolution", s, RESOLUTION_MAX, true)))
}

fn assignee(c: &mut Checker, s: Option<&str>) -> Option<String> {
    s.map(str::trim).filter(|s| !s.is_empty()).and_then(|s| {
        if s.len() > 64 {
            c.fail("assignee", "a user id");
            None
        } else {
            Some(s.to_owned())
        }
    })
}

impl Interaction {
    /// Validates `input` into a new interaction.
    pub fn new(
        id: InteractionId,
        input: InteractionInput,
        now: Timestamp,
    ) -> Result<Self, ValidationError> {
        let mut c = Checker::default();
        let subject = subject(&mut c, input.subject.as_deref());
        let body = body(&mut c, input.body.as_deref());
        if input.amount.is_some_and(|a| a.minor < 0) {
            c.fail(
                "amount",
                "a non-negative amount (log refunds with kind refund)",
            );
        }
        let work = input.kind.has_status();
        if !work {
            let only = "nothing: only tasks, tickets and complaints have";
            for (field, given) in [
                ("status", input.status.is_some()),
                ("due_at", input.due_at.is_some()),
                ("assignee", input.assignee.is_some()),
                ("priority", input.priority.is_some()),
                ("category", input.category.is_some()),
                ("resolution", input.resolution.is_some()),
                ("first_answered_at", input.first_answered_at.is_some()),
                ("resolved_at", input.resolved_at.is_some()),
            ] {
                if given {
                    c.fail(field, format!("{only} a {field}"));
                }
            }
        }
        if let Some(r) = input.rating {
            if input.kind != InteractionKind::SurveyResponse {
                c.fail("rating", "no rating except on survey responses");
            } else if r > 10 {
                c.fail("rating", "a rating from 0 to 10");
            }
        }
        let source = input
            .source
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| c.take(attribute_key("source", s)));
        let external_id = input
            .external_id
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| c.take(text("external_id", s, 256, false)));
        if input.attributes.len() > 200 {
            c.fail("attributes", "at most 200 attributes");
        }
        let mut attributes = BTreeMap::new();
        for (k, v) in input.attributes {
            let field = format!("attributes.{k}");
            if c.take(attribute_key(&field, &k)).is_some() && c.take(v.validate(&field)).is_some() {
                attributes.insert(k, v);
            }
        }
        let occurred_at = input.occurred_at.unwrap_or(now);
        let status = work.then(|| input.status.unwrap_or(TaskStatus::Open));
        // What happened after opening happened no earlier than it, and no later than now.
        let after_opening = |c: &mut Checker, field: &str, t: Option<Timestamp>| {
            let t = t?;
            if t < occurred_at || t > now.max(occurred_at) {
                c.fail(field, "a time between `occurred_at` and now");
                return None;
            }
            Some(t)
        };
        let mut first_answered_at =
            after_opening(&mut c, "first_answered_at", input.first_answered_at);
        let mut resolved_at = after_opening(&mut c, "resolved_at", input.resolved_at);
        match status {
            Some(s) if s.is_open() => {
                if resolved_at.is_some() {
                    c.fail("resolved_at", "no resolution time while the work is open");
                }
                if s != TaskStatus::Open {
                    first_answered_at.get_or_insert(now.max(occurred_at));
                }
            }
            Some(_) => {
                let resolved = *resolved_at.get_or_insert(now.max(occurred_at));
                first_answered_at.get_or_insert(resolved);
            }
            None => {}
        }
        if let (Some(a), Some(r)) = (first_answered_at, resolved_at)
            && a > r
        {
            c.fail("first_answered_at", "a time not after `resolved_at`");
        }
        let assignee = assignee(&mut c, input.assignee.as_deref());
        let category = category(&mut c, input.category.as_deref());
        let resolution = resolution(&mut c, input.resolution.as_deref());
        c.finish()?;
        Ok(Self {
            id,
            customer: input.customer,
            channel: input.channel,
            kind: input.kind,
            direction: input.direction.unwrap_or(Direction::Inbound),
            occurred_at,
            subject,
            body,
            amount: input.amount,
            status,
            due_at: input.due_at,
            rating: input.rating,
            attributes,
            source,
            external_id,
            created_at: now,
            version: 1,
            deal: input.deal,
            assignee,
            priority: work.then(|| input.priority.unwrap_or(Priority::Normal)),
            category,
            resolution,
            first_answered_at,
            resolved_at,
        })
    }

    /// The key that makes ingestion idempotent: `(source, external id)`, source defaulting to empty.
    pub fn idempotency_key(&self) -> Option<(&str, &str)> {
        self.external_id
            .as_deref()
            .map(|e| (self.source.as_deref().unwrap_or(""), e))
    }

    /// Whether this is a work item still to do with a due date.
    pub fn is_due_work(&self) -> bool {
        self.due_at.is_some() && self.status.is_some_and(TaskStatus::is_open)
    }

    /// Whether this is a work item still to do that is past due at `now`.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.is_due_work() && self.due_at.is_some_and(|d| d < now)
    }

    /// Changes the status of a work item.
    pub fn set_status(
        &mut self,
        status: TaskStatus,
        now: Timestamp,
    ) -> Result<Vec<FieldChange>, ValidationError> {
        self.apply(
            InteractionPatch {
                status: Some(status),
                ..InteractionPatch::default()
            },
            now,
        )
    }

    /// Applies `patch` at `now`: returns the changes with their old and new values (and bumps
    /// the version when there are any). Moving to resolved or closed sets `resolved_at`,
    /// reopening clears it; leaving `open` for the first time sets `first_answered_at`.
    pub fn apply(
        &mut self,
        patch: InteractionPatch,
        now: Timestamp,
    ) -> Result<Vec<FieldChange>, ValidationError> {
        let mut c = Checker::default();
        let r = &patch;
        for (field, differs) in [
            ("id", r.id.is_some_and(|v| v != self.id)),
            ("customer", r.customer.is_some_and(|v| v != self.customer)),
            ("channel", r.channel.is_some_and(|v| v != self.channel)),
            ("kind", r.kind.is_some_and(|v| v != self.kind)),
            (
                "direction",
                r.direction.is_some_and(|v| v != self.direction),
            ),
            (
                "occurred_at",
                r.occurred_at.is_some_and(|v| v != self.occurred_at),
            ),
            ("amount", r.amount.is_some_and(|v| v != self.amount)),
            ("rating", r.rating.is_some_and(|v| v != self.rating)),
            (
                "attributes",
                r.attributes.as_ref().is_some_and(|v| *v != self.attributes),
            ),
            (
                "source",
                r.source.as_ref().is_some_and(|v| *v != self.source),
            ),
            (
                "external_id",
                r.external_id
                    .as_ref()
                    .is_some_and(|v| *v != self.external_id),
            ),
        ] {
            if differs {
                c.fail(
                    field,
                    "its recorded value: an interaction's subject, body, deal and work fields change, not what it recorded",
                );
            }
        }
        let work = self.kind.has_status();
        if !work {
            // Sent back as a GET returns them (null), they change nothing.
            for (field, given) in [
                ("status", patch.status.is_some()),
                ("due_at", patch.due_at.is_some_and(|v| v.is_some())),
                (
                    "assignee",
                    patch.assignee.as_ref().is_some_and(|v| v.is_some()),
                ),
                ("priority", patch.priority.is_some()),
                (
                    "category",
                    patch.category.as_ref().is_some_and(|v| v.is_some()),
                ),
                (
                    "resolution",
                    patch.resolution.as_ref().is_some_and(|v| v.is_some()),
                ),
            ] {
                if given {
                    c.fail(
                        field,
                        format!("a task, ticket or complaint: only they have a {field}"),
                    );
                }
            }
        }
        let new_subject = patch.subject.map(|s| subject(&mut c, s.as_deref()));
        let new_body = patch.body.map(|s| body(&mut c, s.as_deref()));
        let new_assignee = patch.assignee.map(|s| assignee(&mut c, s.as_deref()));
        let new_category = patch.category.map(|s| category(&mut c, s.as_deref()));
        let new_resolution = patch.resolution.map(|s| resolution(&mut c, s.as_deref()));
        c.finish()?;
        let mut changes = Vec::new();
        let ts = |t: &Option<Timestamp>| t.map(|t| t.to_string());
        macro_rules! set {
            ($field:ident, $new:expr, $show:expr) => {
                if let Some(v) = $new
                    && v != self.$field
                {
                    let show = $show;
                    changes.push(FieldChange::new(
                        stringify!($field),
                        show(&self.$field),
                        show(&v),
                    ));
                    self.$field = v;
                }
            };
        }
        let text = |t: &Option<String>| t.clone();
        set!(subject, new_subject, text);
        set!(body, new_body, text);
        set!(due_at, patch.due_at, ts);
        set!(priority, patch.priority.map(Some), |p: &Option<
            Priority,
        >| p
            .map(|p| p.as_str().to_owned()));
        set!(assignee, new_assignee, text);
        set!(category, new_category, text);
        set!(resolution, new_resolution, text);
        set!(deal, patch.deal, |d: &Option<DealId>| d
            .map(|d| d.to_string()));
        if let Some(status) = patch.status
            && self.status != Some(status)
        {
            let was = self.status;
            changes.push(FieldChange::new(
                "status",
                was.map(|s| s.as_str().to_owned()),
                Some(status.as_str().to_owned()),
            ));
            self.status = Some(status);
            if self.first_answered_at.is_none() && status != TaskStatus::Open {
                self.first_answered_at = Some(now);
                changes.push(FieldChange::new("first_answered_at", None, ts(&Some(now))));
            }
            let reopened = status.is_open() && self.resolved_at.is_some();
            let done = !status.is_open() && was.is_none_or(TaskStatus::is_open);
            if reopened || done {
                let resolved = (!status.is_open()).then_some(now);
                changes.push(FieldChange::new(
                    "resolved_at",
                    ts(&self.resolved_at),
                    ts(&resolved),
                ));
                self.resolved_at = resolved;
            }
        }
        if !changes.is_empty() {
            self.version += 1;
        }
        Ok(changes)
    }
}

/// A change to an interaction. Any interaction: subject, body, deal; work items also: due
/// date, priority, assignee, status, category and resolution. A field left out stays; `null`
/// clears a field that may be empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InteractionPatch {
    /// Subject; `null` clears it.
    #[serde(deserialize_with = "double_option")]
    pub subject: Option<Option<String>>,
    /// Body; `null` clears it.
    #[serde(deserialize_with = "double_option")]
    pub body: Option<Option<String>>,
    /// Due time; `null` clears it.
    #[serde(deserialize_with = "double_option")]
    pub due_at: Option<Option<Timestamp>>,
    /// Priority.
    pub priority: Option<Priority>,
    /// Assignee (a user id); `null` unassigns.
    #[serde(deserialize_with = "double_option")]
    pub assignee: Option<Option<String>>,
    /// Status.
    pub status: Option<TaskStatus>,
    /// Category; `null` clears it.
    #[serde(deserialize_with = "double_option")]
    pub category: Option<Option<String>>,
    /// Resolution note; `null` clears it.
    #[serde(deserialize_with = "double_option")]
    pub resolution: Option<Option<String>>,
    /// The deal it is about; `null` unlinks it.
    #[serde(deserialize_with = "double_option")]
    pub deal: Option<Option<DealId>>,
    /// Read-only (a GET's answer may be sent back): like `If-Match`, the version expected.
    pub version: Option<u64>,
    // What the interaction recorded, as a GET returns it: sent back, each must be what it is
    // (only the subject, body, deal and work fields change). The times Kith keeps are ignored.
    /// Read-only: must be the interaction's id.
    pub id: Option<InteractionId>,
    /// Must be its customer.
    pub customer: Option<CustomerId>,
    /// Must be its channel.
    pub channel: Option<Channel>,
    /// Must be its kind.
    pub kind: Option<InteractionKind>,
    /// Must be its direction.
    pub direction: Option<Direction>,
    /// Must be when it happened.
    pub occurred_at: Option<Timestamp>,
    /// Must be its amount.
    #[serde(deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Money>))]
    pub amount: Option<Option<Money>>,
    /// Must be its rating.
    #[serde(deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u8>))]
    pub rating: Option<Option<u8>>,
    /// Must be its attributes.
    pub attributes: Option<BTreeMap<String, AttributeValue>>,
    /// Must be its source.
    #[serde(deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub source: Option<Option<String>>,
    /// Must be its external id.
    #[serde(deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub external_id: Option<Option<String>>,
    /// Ignored.
    pub created_at: Option<Timestamp>,
    /// Ignored (Kith sets it).
    #[serde(deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Timestamp>))]
    pub first_answered_at: Option<Option<Timestamp>>,
    /// Ignored (Kith sets it).
    #[serde(deserialize_with = "double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Timestamp>))]
    pub resolved_at: Option<Option<Timestamp>>,
}
