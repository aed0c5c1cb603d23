//! The columns of an interactions file: field names with their aliases, and the header check.

use std::fmt;

use super::columns::{Columns, Field};

/// What a column of an interactions file fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum InteractionField {
    CustomerId,
    CustomerEmail,
    CustomerExternal,
    Channel,
    Kind,
    Direction,
    OccurredAt,
    Subject,
    Body,
    Amount,
    Currency,
    Status,
    DueAt,
    Rating,
    Source,
    ExternalId,
    Attribute(String),
}

impl fmt::Display for InteractionField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::CustomerId => "customer_id",
            Self::CustomerEmail => "customer_email",
            Self::CustomerExternal => "customer_external",
            Self::Channel => "channel",
            Self::Kind => "kind",
            Self::Direction => "direction",
            Self::OccurredAt => "occurred_at",
            Self::Subject => "subject",
            Self::Body => "body",
            Self::Amount => "amount",
            Self::Currency => "currency",
            Self::Status => "status",
            Self::DueAt => "due_at",
            Self::Rating => "rating",
            Self::Source => "source",
            Self::ExternalId => "external_id",
            Self::Attribute(k) => return write!(f, "attr.{k}"),
        };
        f.write_str(name)
    }
}

impl Field for InteractionField {
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "customer_id" | "customer" | "contact_id" => Self::CustomerId,
            "customer_email" | "contact_email" | "email" | "e_mail" | "email_address" => {
                Self::CustomerEmail
            }
            "customer_external" | "customer_external_id" | "customer_ref" => Self::CustomerExternal,
            "channel" | "medium" => Self::Channel,
            "kind" | "type" | "interaction_type" | "activity_type" | "activity" => Self::Kind,
            "direction" => Self::Direction,
            "occurred_at" | "date" | "time" | "timestamp" | "datetime" | "when" => Self::OccurredAt,
            "subject" | "title" => Self::Subject,
            "body" | "notes" | "note" | "description" | "content" | "text" | "message" => {
                Self::Body
            }
            "amount" | "value" | "total" => Self::Amount,
            "currency" | "currency_code" => Self::Currency,
            "status" => Self::Status,
            "due_at" | "due" | "due_date" => Self::DueAt,
            "rating" | "score" | "nps" => Self::Rating,
            "source" | "system" => Self::Source,
            "external_id" | "interaction_external_id" => Self::ExternalId,
            _ => return None,
        })
    }

    fn attribute(key: String) -> Self {
        Self::Attribute(key)
    }

    fn external(_source: String) -> Option<Self> {
        None
    }
}

/// The columns that name an interaction's customer, in the order they are tried.
pub(super) const CUSTOMER_COLUMNS: [InteractionField; 3] = [
    InteractionField::CustomerId,
    InteractionField::CustomerExternal,
    InteractionField::CustomerEmail,
];

/// Refuses a file without a column naming the customer, before any row is read.
pub(super) fn check_header(columns: &Columns<InteractionField>) -> anyhow::Result<()> {
    if !CUSTOMER_COLUMNS.iter().any(|f| columns.has(f)) {
        anyhow::bail!(
            "the file has no column naming the customer: add customer_id, customer_email or customer_external (as SOURCE:ID), or map one with --map COLUMN=customer_email (its columns: {})",
            columns.names()
        );
    }
    Ok(())
}
