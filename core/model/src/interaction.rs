//! Interactions: one touchpoint with a customer on one channel.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::customer::attribute_key;
use super::error::{Checker, text};
use super::{AttributeValue, CustomerId, InteractionId, Money, Timestamp, ValidationError};

macro_rules! kebab_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The kebab-case name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
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
    /// The state of a task or ticket.
    TaskStatus {
        /// Not started.
        Open = "open",
        /// Being worked on.
        InProgress = "in-progress",
        /// Finished.
        Done = "done",
        /// Dropped.
        Cancelled = "cancelled",
    }
);

impl TaskStatus {
    /// Whether work is still due.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open | Self::InProgress)
    }
}

impl InteractionKind {
    /// Tasks and tickets carry a status and due date.
    pub fn has_status(self) -> bool {
        matches!(self, Self::Task | Self::Ticket)
    }
}

/// A stored interaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// When it happened.
    pub occurred_at: Timestamp,
    /// Subject line.
    pub subject: Option<String>,
    /// Body text.
    pub body: Option<String>,
    /// Amount (purchases, refunds, ...), never negative.
    pub amount: Option<Money>,
    /// Status (tasks and tickets only).
    pub status: Option<TaskStatus>,
    /// Due time (tasks and tickets only).
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
}

/// An interaction as received, before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Status (tasks and tickets; default open).
    #[serde(default)]
    pub status: Option<TaskStatus>,
    /// Due time (tasks and tickets).
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
        }
    }
}

impl Interaction {
    /// Validates `input` into a new interaction.
    pub fn new(
        id: InteractionId,
        input: InteractionInput,
        now: Timestamp,
    ) -> Result<Self, ValidationError> {
        let mut c = Checker::default();
        let subject = input
            .subject
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| c.take(text("subject", s, 500, false)));
        let body = input
            .body
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| c.take(text("body", s, 65_536, true)));
        if input.amount.is_some_and(|a| a.minor < 0) {
            c.fail(
                "amount",
                "a non-negative amount (log refunds with kind refund)",
            );
        }
        let has_status = input.kind.has_status();
        if !has_status && input.status.is_some() {
            c.fail("status", "no status except on tasks and tickets");
        }
        if !has_status && input.due_at.is_some() {
            c.fail("due_at", "no due date except on tasks and tickets");
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
        c.finish()?;
        Ok(Self {
            id,
            customer: input.customer,
            channel: input.channel,
            kind: input.kind,
            direction: input.direction.unwrap_or(Direction::Inbound),
            occurred_at: input.occurred_at.unwrap_or(now),
            subject,
            body,
            amount: input.amount,
            status: if has_status {
                Some(input.status.unwrap_or(TaskStatus::Open))
            } else {
                None
            },
            due_at: input.due_at,
            rating: input.rating,
            attributes,
            source,
            external_id,
            created_at: now,
            version: 1,
        })
    }

    /// The key that makes ingestion idempotent: `(source, external id)`, source defaulting to empty.
    pub fn idempotency_key(&self) -> Option<(&str, &str)> {
        self.external_id
            .as_deref()
            .map(|e| (self.source.as_deref().unwrap_or(""), e))
    }

    /// Whether this is a task or ticket that is still due (open or in progress, with a due date).
    pub fn is_due_work(&self) -> bool {
        self.due_at.is_some() && self.status.is_some_and(TaskStatus::is_open)
    }

    /// Changes the status of a task or ticket.
    pub fn set_status(&mut self, status: TaskStatus) -> Result<bool, ValidationError> {
        if !self.kind.has_status() {
            return Err(ValidationError::field(
                "status",
                "a task or ticket (only they have a status)",
            ));
        }
        if self.status == Some(status) {
            return Ok(false);
        }
        self.status = Some(status);
        self.version += 1;
        Ok(true)
    }
}
