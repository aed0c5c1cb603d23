//! The encoded size of values crossing the boundary, for the input and output budgets.
//!
//! It approximates the canonical ABI: every string and list costs its bytes plus 8 (pointer and
//! length), scalars their width, options and variants one discriminant byte plus the payload.
//! One walk over the value, no serialization.

use super::bindings::latest::types as wit;

/// A value whose encoded size the budgets count.
pub(super) trait EncodedSize {
    /// The size of every value of the type, when it is fixed (lets lists skip the walk).
    const FIXED: Option<u64> = None;

    /// Size in bytes.
    fn encoded_size(&self) -> u64;
}

/// Fixed-width values.
macro_rules! fixed {
    ($($t:ty),*) => {
        $(impl EncodedSize for $t {
            const FIXED: Option<u64> = Some(std::mem::size_of::<$t>() as u64);

            fn encoded_size(&self) -> u64 {
                std::mem::size_of::<$t>() as u64
            }
        })*
    };
}

fixed!(u8, u32, u64, i64, f64, bool);

impl EncodedSize for String {
    fn encoded_size(&self) -> u64 {
        8 + self.len() as u64
    }
}

impl<T: EncodedSize> EncodedSize for Vec<T> {
    fn encoded_size(&self) -> u64 {
        match T::FIXED {
            Some(size) => (self.len() as u64).saturating_mul(size).saturating_add(8),
            None => self
                .iter()
                .fold(8u64, |sum, item| sum.saturating_add(item.encoded_size())),
        }
    }
}

impl<T: EncodedSize> EncodedSize for Option<T> {
    fn encoded_size(&self) -> u64 {
        1 + self.as_ref().map_or(0, EncodedSize::encoded_size)
    }
}

impl<A: EncodedSize, B: EncodedSize> EncodedSize for (A, B) {
    fn encoded_size(&self) -> u64 {
        self.0.encoded_size().saturating_add(self.1.encoded_size())
    }
}

impl<T: EncodedSize, E: EncodedSize> EncodedSize for Result<T, E> {
    fn encoded_size(&self) -> u64 {
        1 + match self {
            Ok(v) => v.encoded_size(),
            Err(e) => e.encoded_size(),
        }
    }
}

/// Records: the sum of their fields.
macro_rules! record {
    ($($t:ty { $($field:ident),* $(,)? })*) => {
        $(impl EncodedSize for $t {
            fn encoded_size(&self) -> u64 {
                0u64 $(.saturating_add(self.$field.encoded_size()))*
            }
        })*
    };
}

/// Enums without payload: one byte.
macro_rules! enums {
    ($($t:ty),*) => {
        $(impl EncodedSize for $t {
            const FIXED: Option<u64> = Some(1);

            fn encoded_size(&self) -> u64 {
                1
            }
        })*
    };
}

enums!(
    wit::CustomerKind,
    wit::LifecycleStage,
    wit::Channel,
    wit::InteractionKind,
    wit::Direction,
    wit::RejectionKind,
    wit::Capability,
    wit::DealStatus
);

record! {
    wit::Money { amount, currency }
    wit::Attribute { name, value }
    wit::ExternalId { source, id }
    wit::Interaction { id, channel, kind, direction, occurred_at, amount, rating, status, attributes }
    wit::InteractionAggregate { kind, count, totals, first_at, last_at, first_amount }
    wit::Deal {
        id, pipeline_id, pipeline_name, stage, amount, probability, expected_close, status,
        closed_at,
    }
    wit::CustomerView {
        id, kind, display_name, given_name, family_name, email, phone, country, region, city,
        lifecycle_stage, tags, attributes, owner, marketing_consent, created_at, aggregates,
        recent_interactions, open_deals, closed_deals,
    }
    wit::CustomerInput { customer, config, now, seed, model }
    wit::CustomerSummary { id, lifecycle_stage, created_at, aggregates, attributes }
    wit::PopulationInput { customers, config, now, seed }
    wit::Reason { code, message, contribution }
    wit::CustomerFields {
        kind, display_name, given_name, family_name, phone, country, region, city,
        marketing_consent,
    }
    wit::UpsertCustomer { email, external_id, fields }
    wit::SetAttribute { customer, attribute }
    wit::ClearAttribute { customer, name }
    wit::TagChange { customer, tag }
    wit::SetLifecycleStage { customer, stage }
    wit::LogInteraction {
        customer, channel, kind, direction, occurred_at, subject, amount, rating, status,
        attributes, external_id,
    }
    wit::CreateTask { customer, subject, due_at }
    wit::CreateDeal { customer, pipeline, stage, amount, expected_close }
    wit::MoveDeal { deal_id, stage }
    wit::ScoreOutput { score, grade, reasons, actions }
    wit::Membership { segment, reason }
    wit::Webhook { topic, headers, body, delivery_id, received_at }
    wit::Rejection { kind, reason }
    wit::HookOutput { verdict, actions }
    wit::SegmentInfo { id, name, description }
    wit::InputNeeds { recent_interactions, population, population_attributes, closed_deals }
    wit::Budget { fuel, memory_bytes, deadline_ms }
    wit::Budgets { call, population }
    wit::Manifest {
        id, version, name, description, industries, capabilities, config_schema, needs, segments,
        budgets,
    }
}

impl EncodedSize for wit::AttributeValue {
    fn encoded_size(&self) -> u64 {
        1 + match self {
            Self::Text(t) => t.encoded_size(),
            Self::Number(_) | Self::Date(_) => 8,
            Self::Boolean(_) => 1,
            Self::Money(m) => m.encoded_size(),
        }
    }
}

impl EncodedSize for wit::CustomerRef {
    fn encoded_size(&self) -> u64 {
        1 + match self {
            Self::Id(s) | Self::Email(s) => s.encoded_size(),
            Self::External(e) => e.encoded_size(),
        }
    }
}

impl EncodedSize for wit::PipelineRef {
    fn encoded_size(&self) -> u64 {
        1 + match self {
            Self::Id(s) | Self::Name(s) => s.encoded_size(),
        }
    }
}

impl EncodedSize for wit::Action {
    fn encoded_size(&self) -> u64 {
        1 + match self {
            Self::UpsertCustomer(a) => a.encoded_size(),
            Self::SetAttribute(a) => a.encoded_size(),
            Self::ClearAttribute(a) => a.encoded_size(),
            Self::AddTag(a) | Self::RemoveTag(a) => a.encoded_size(),
            Self::SetLifecycleStage(a) => a.encoded_size(),
            Self::LogInteraction(a) => a.encoded_size(),
            Self::CreateTask(a) => a.encoded_size(),
            Self::CreateDeal(a) => a.encoded_size(),
            Self::MoveDeal(a) => a.encoded_size(),
            Self::EraseCustomer(a) => a.encoded_size(),
        }
    }
}

impl EncodedSize for wit::Verdict {
    fn encoded_size(&self) -> u64 {
        1 + match self {
            Self::Accepted => 0,
            Self::Ignored(reason) => reason.encoded_size(),
            Self::Rejected(r) => r.encoded_size(),
        }
    }
}

impl EncodedSize for wit::PluginError {
    fn encoded_size(&self) -> u64 {
        1 + match self {
            Self::InvalidConfig(m) | Self::InvalidInput(m) | Self::Internal(m) => m.encoded_size(),
        }
    }
}
