//! Conversions between the domain types and the WIT-generated ones, at the edge.
//!
//! Inputs convert infallibly (domain -> WIT). Outputs convert with validation (WIT -> domain):
//! every error names the offending path, e.g. `actions[2].log-interaction.amount.currency`.

use std::collections::{BTreeMap, BTreeSet};

use kith_model::{
    self as model, AttributeValue, Channel, CustomerId, CustomerKind, DealId, Direction, Email,
    ExternalId, InteractionKind, LifecycleStage, Money, PipelineId, Tag, TaskStatus, Timestamp,
    attribute_key,
};

use super::bindings::latest::types as wit;
use super::types::{
    Action, Capability, CustomerCall, CustomerFields, CustomerRef, CustomerSummary, CustomerView,
    DealStatus, DealView, HookOutput, InputNeeds, InteractionAggregate, InteractionView,
    LogInteraction, Manifest, ManifestBudgets, Membership, PipelineRef, PopulationInput, Reason,
    RejectionKind, SIGNATURE_VERIFIED_HEADER, ScoreOutput, SegmentInfo, Verdict, Webhook,
};
use super::{PluginErrorKind, PluginFailure};

/// Microseconds in a day, for date attributes.
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Longest text a plugin may return in a message, reason or attribute.
const MAX_TEXT: usize = 4096;
/// Longest code, grade, segment id or other short identifier a plugin may return.
const MAX_CODE: usize = 64;
/// Longest name (stage, pipeline, display name, subject) a plugin may return.
const MAX_NAME: usize = 500;
/// Most reasons one score may carry.
const MAX_REASONS: usize = 64;
/// Most actions one call may return.
const MAX_ACTIONS: usize = 256;
/// Most recent interactions a manifest may ask for.
const MAX_RECENT_INTERACTIONS: u32 = 1_000;
/// Most closed deals a manifest may ask for.
const MAX_CLOSED_DEALS: u32 = 1_000;

/// A validation failure of plugin output, with the path of the offending field.
fn invalid(path: &str, what: impl std::fmt::Display) -> PluginFailure {
    PluginFailure::InvalidOutput(format!("{path}: {what}"))
}

/// Turns a model validation error into an output error at `path`.
fn model_err(path: &str, e: model::ValidationError) -> PluginFailure {
    invalid(path, e)
}

// ---------------------------------------------------------------------------------------------
// Inputs: domain -> WIT

impl From<CustomerKind> for wit::CustomerKind {
    fn from(kind: CustomerKind) -> Self {
        match kind {
            CustomerKind::Person => Self::Person,
            CustomerKind::Organization => Self::Organization,
        }
    }
}

impl From<wit::CustomerKind> for CustomerKind {
    fn from(kind: wit::CustomerKind) -> Self {
        match kind {
            wit::CustomerKind::Person => Self::Person,
            wit::CustomerKind::Organization => Self::Organization,
        }
    }
}

impl From<LifecycleStage> for wit::LifecycleStage {
    fn from(stage: LifecycleStage) -> Self {
        match stage {
            LifecycleStage::Subscriber => Self::Subscriber,
            LifecycleStage::Lead => Self::Lead,
            LifecycleStage::MarketingQualified => Self::MarketingQualified,
            LifecycleStage::SalesQualified => Self::SalesQualified,
            LifecycleStage::Opportunity => Self::Opportunity,
            LifecycleStage::Customer => Self::Customer,
            LifecycleStage::Evangelist => Self::Evangelist,
            LifecycleStage::Churned => Self::Churned,
            LifecycleStage::Other => Self::Other,
        }
    }
}

impl From<wit::LifecycleStage> for LifecycleStage {
    fn from(stage: wit::LifecycleStage) -> Self {
        match stage {
            wit::LifecycleStage::Subscriber => Self::Subscriber,
            wit::LifecycleStage::Lead => Self::Lead,
            wit::LifecycleStage::MarketingQualified => Self::MarketingQualified,
            wit::LifecycleStage::SalesQualified => Self::SalesQualified,
            wit::LifecycleStage::Opportunity => Self::Opportunity,
            wit::LifecycleStage::Customer => Self::Customer,
            wit::LifecycleStage::Evangelist => Self::Evangelist,
            wit::LifecycleStage::Churned => Self::Churned,
            wit::LifecycleStage::Other => Self::Other,
        }
    }
}

impl From<Channel> for wit::Channel {
    fn from(channel: Channel) -> Self {
        match channel {
            Channel::Email => Self::Email,
            Channel::Phone => Self::Phone,
            Channel::Sms => Self::Sms,
            Channel::Chat => Self::Chat,
            Channel::Social => Self::Social,
            Channel::Web => Self::Web,
            Channel::InPerson => Self::InPerson,
            Channel::CallCenter => Self::CallCenter,
            Channel::Fax => Self::Fax,
            Channel::Mail => Self::Mail,
            Channel::ECommerce => Self::ECommerce,
            Channel::Other => Self::Other,
        }
    }
}

impl From<wit::Channel> for Channel {
    fn from(channel: wit::Channel) -> Self {
        match channel {
            wit::Channel::Email => Self::Email,
            wit::Channel::Phone => Self::Phone,
            wit::Channel::Sms => Self::Sms,
            wit::Channel::Chat => Self::Chat,
            wit::Channel::Social => Self::Social,
            wit::Channel::Web => Self::Web,
            wit::Channel::InPerson => Self::InPerson,
            wit::Channel::CallCenter => Self::CallCenter,
            wit::Channel::Fax => Self::Fax,
            wit::Channel::Mail => Self::Mail,
            wit::Channel::ECommerce => Self::ECommerce,
            wit::Channel::Other => Self::Other,
        }
    }
}

/// The WIT kind of a model kind; kinds the contract does not know (`demo-request`) are `other`.
impl From<InteractionKind> for wit::InteractionKind {
    fn from(kind: InteractionKind) -> Self {
        match kind {
            InteractionKind::Note => Self::Note,
            InteractionKind::Email => Self::Email,
            InteractionKind::Call => Self::Call,
            InteractionKind::Meeting => Self::Meeting,
            InteractionKind::Message => Self::Message,
            InteractionKind::Task => Self::Task,
            InteractionKind::Ticket => Self::Ticket,
            InteractionKind::Complaint => Self::Complaint,
            InteractionKind::Purchase => Self::Purchase,
            InteractionKind::Refund => Self::Refund,
            InteractionKind::SurveyResponse => Self::SurveyResponse,
            InteractionKind::PageView => Self::PageView,
            InteractionKind::FormSubmission => Self::FormSubmission,
            InteractionKind::DemoRequest | InteractionKind::Other => Self::Other,
        }
    }
}

impl From<wit::InteractionKind> for InteractionKind {
    fn from(kind: wit::InteractionKind) -> Self {
        match kind {
            wit::InteractionKind::Note => Self::Note,
            wit::InteractionKind::Email => Self::Email,
            wit::InteractionKind::Call => Self::Call,
            wit::InteractionKind::Meeting => Self::Meeting,
            wit::InteractionKind::Message => Self::Message,
            wit::InteractionKind::Task => Self::Task,
            wit::InteractionKind::Ticket => Self::Ticket,
            wit::InteractionKind::Complaint => Self::Complaint,
            wit::InteractionKind::Purchase => Self::Purchase,
            wit::InteractionKind::Refund => Self::Refund,
            wit::InteractionKind::SurveyResponse => Self::SurveyResponse,
            wit::InteractionKind::PageView => Self::PageView,
            wit::InteractionKind::FormSubmission => Self::FormSubmission,
            wit::InteractionKind::Other => Self::Other,
        }
    }
}

impl From<Direction> for wit::Direction {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Inbound => Self::Inbound,
            Direction::Outbound => Self::Outbound,
        }
    }
}

impl From<wit::Direction> for Direction {
    fn from(direction: wit::Direction) -> Self {
        match direction {
            wit::Direction::Inbound => Self::Inbound,
            wit::Direction::Outbound => Self::Outbound,
        }
    }
}

impl From<&Money> for wit::Money {
    fn from(money: &Money) -> Self {
        wit::Money {
            amount: money.minor,
            currency: money.currency.code().to_owned(),
        }
    }
}

impl From<&AttributeValue> for wit::AttributeValue {
    fn from(value: &AttributeValue) -> Self {
        match value {
            AttributeValue::Text(text) => Self::Text(text.clone()),
            AttributeValue::Number(n) => Self::Number(*n),
            AttributeValue::Boolean(b) => Self::Boolean(*b),
            AttributeValue::Date(date) => Self::Date(Timestamp::start_of(*date).as_micros()),
            AttributeValue::Money(money) => Self::Money(money.into()),
            // The 0.1 contract has no list: a multi-select's options reach plugins as one text.
            AttributeValue::List(items) => Self::Text(items.join("; ")),
        }
    }
}

/// Attributes by name as the WIT list, sorted by name.
fn attributes_to_wit(attributes: &BTreeMap<String, AttributeValue>) -> Vec<wit::Attribute> {
    attributes
        .iter()
        .map(|(name, value)| wit::Attribute {
            name: name.clone(),
            value: value.into(),
        })
        .collect()
}

/// Aggregates as the WIT list, merging kinds that share a WIT kind (`demo-request` and `other`).
fn aggregates_to_wit(aggregates: &[InteractionAggregate]) -> Vec<wit::InteractionAggregate> {
    let mut out: Vec<wit::InteractionAggregate> = Vec::with_capacity(aggregates.len());
    for a in aggregates {
        let kind = wit::InteractionKind::from(a.kind);
        let totals: Vec<wit::Money> = a.totals.iter().map(Into::into).collect();
        match out.iter_mut().find(|o| o.kind == kind) {
            Some(o) => {
                o.count = o.count.saturating_add(a.count);
                if a.first_at.as_micros() < o.first_at {
                    o.first_amount = a.first_amount.as_ref().map(Into::into);
                }
                o.first_at = o.first_at.min(a.first_at.as_micros());
                o.last_at = o.last_at.max(a.last_at.as_micros());
                for t in totals {
                    match o.totals.iter_mut().find(|x| x.currency == t.currency) {
                        Some(x) => x.amount = x.amount.saturating_add(t.amount),
                        None => o.totals.push(t),
                    }
                }
            }
            None => out.push(wit::InteractionAggregate {
                kind,
                count: a.count,
                totals,
                first_at: a.first_at.as_micros(),
                last_at: a.last_at.as_micros(),
                first_amount: a.first_amount.as_ref().map(Into::into),
            }),
        }
    }
    out
}

impl From<&InteractionView> for wit::Interaction {
    fn from(i: &InteractionView) -> Self {
        wit::Interaction {
            id: i.id.clone(),
            channel: i.channel.into(),
            kind: i.kind.into(),
            direction: i.direction.into(),
            occurred_at: i.occurred_at.as_micros(),
            amount: i.amount.as_ref().map(Into::into),
            rating: i.rating,
            status: i.status.clone(),
            attributes: attributes_to_wit(&i.attributes),
        }
    }
}

impl From<&DealView> for wit::Deal {
    fn from(d: &DealView) -> Self {
        wit::Deal {
            id: d.id.clone(),
            pipeline_id: d.pipeline_id.clone(),
            pipeline_name: d.pipeline_name.clone(),
            stage: d.stage.clone(),
            amount: d.amount.as_ref().map(Into::into),
            probability: d.probability.min(100),
            expected_close: d.expected_close.map(Timestamp::as_micros),
            status: match d.status {
                DealStatus::Open => wit::DealStatus::Open,
                DealStatus::Won => wit::DealStatus::Won,
                DealStatus::Lost => wit::DealStatus::Lost,
            },
            closed_at: d.closed_at.map(Timestamp::as_micros),
        }
    }
}

impl From<&CustomerView> for wit::CustomerView {
    fn from(c: &CustomerView) -> Self {
        wit::CustomerView {
            id: c.id.clone(),
            kind: c.kind.into(),
            display_name: c.display_name.clone(),
            given_name: c.given_name.clone(),
            family_name: c.family_name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            country: c.country.clone(),
            region: c.region.clone(),
            city: c.city.clone(),
            lifecycle_stage: c.lifecycle_stage.into(),
            tags: c.tags.clone(),
            attributes: attributes_to_wit(&c.attributes),
            owner: c.owner.clone(),
            marketing_consent: c.marketing_consent,
            created_at: c.created_at.as_micros(),
            aggregates: aggregates_to_wit(&c.aggregates),
            recent_interactions: c.recent_interactions.iter().map(Into::into).collect(),
            open_deals: c.open_deals.iter().map(Into::into).collect(),
            closed_deals: c.closed_deals.iter().map(Into::into).collect(),
        }
    }
}

impl From<&CustomerCall> for wit::CustomerInput {
    fn from(call: &CustomerCall) -> Self {
        wit::CustomerInput {
            customer: (&call.customer).into(),
            config: call.config.clone(),
            now: call.now.as_micros(),
            seed: call.seed,
            model: call.model.clone(),
        }
    }
}

impl From<&CustomerSummary> for wit::CustomerSummary {
    fn from(s: &CustomerSummary) -> Self {
        wit::CustomerSummary {
            id: s.id.clone(),
            lifecycle_stage: s.lifecycle_stage.into(),
            created_at: s.created_at.as_micros(),
            aggregates: aggregates_to_wit(&s.aggregates),
            attributes: attributes_to_wit(&s.attributes),
        }
    }
}

impl From<&PopulationInput> for wit::PopulationInput {
    fn from(p: &PopulationInput) -> Self {
        wit::PopulationInput {
            customers: p.customers.iter().map(Into::into).collect(),
            config: p.config.clone(),
            now: p.now.as_micros(),
            seed: p.seed,
        }
    }
}

/// The delivery as the plugin sees it: its headers without any [`SIGNATURE_VERIFIED_HEADER`]
/// the sender put there, then the host's `attestation`, if it verified the signature.
pub(crate) fn webhook(w: &Webhook, attestation: Option<&str>) -> wit::Webhook {
    let mut headers: Vec<(String, String)> = w
        .headers
        .iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case(SIGNATURE_VERIFIED_HEADER))
        .cloned()
        .collect();
    if let Some(attestation) = attestation {
        headers.push((SIGNATURE_VERIFIED_HEADER.to_owned(), attestation.to_owned()));
    }
    wit::Webhook {
        topic: w.topic.clone(),
        headers,
        body: w.body.clone(),
        delivery_id: w.delivery_id.clone(),
        received_at: w.received_at.as_micros(),
    }
}

// ---------------------------------------------------------------------------------------------
// Outputs: WIT -> domain, validated

impl From<wit::PluginError> for PluginFailure {
    fn from(e: wit::PluginError) -> Self {
        let (kind, message) = match e {
            wit::PluginError::InvalidConfig(m) => (PluginErrorKind::InvalidConfig, m),
            wit::PluginError::InvalidInput(m) => (PluginErrorKind::InvalidInput, m),
            wit::PluginError::Internal(m) => (PluginErrorKind::Internal, m),
        };
        PluginFailure::PluginError {
            kind,
            message: truncate(message, MAX_TEXT),
        }
    }
}

/// `text` cut to at most `max` bytes on a character boundary (for messages we only show).
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// Checks that `text` has at most `max` characters (and, when `required`, is not blank).
fn text(path: &str, value: String, max: usize, required: bool) -> Result<String, PluginFailure> {
    if required && value.trim().is_empty() {
        return Err(invalid(path, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(path, format_args!("longer than {max} characters")));
    }
    Ok(value)
}

/// Like [`text`] for an optional value.
fn opt_text(
    path: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, PluginFailure> {
    value.map(|v| text(path, v, max, true)).transpose()
}

/// A finite number.
fn finite(path: &str, value: f64) -> Result<f64, PluginFailure> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(invalid(
            path,
            format_args!("{value} is not a finite number"),
        ))
    }
}

/// Money with an upper-case ISO 4217 code the host knows.
fn money(path: &str, m: wit::Money) -> Result<Money, PluginFailure> {
    let well_formed = m.currency.len() == 3 && m.currency.bytes().all(|b| b.is_ascii_uppercase());
    if !well_formed {
        return Err(invalid(
            &format!("{path}.currency"),
            format_args!(
                "{:?} is not an upper-case ISO 4217 code",
                truncate(m.currency, 16)
            ),
        ));
    }
    let currency = model::Currency::parse(&format!("{path}.currency"), &m.currency)
        .map_err(|e| model_err(&format!("{path}.currency"), e))?;
    Ok(Money::new(m.amount, currency))
}

/// A timestamp the model can represent as an RFC 3339 instant.
fn timestamp(path: &str, micros: i64) -> Result<Timestamp, PluginFailure> {
    // Years 0001 to 9999: what RFC 3339 can write.
    const MIN: i64 = -62_135_596_800_000_000;
    const MAX: i64 = 253_402_300_799_999_999;
    if (MIN..=MAX).contains(&micros) {
        Ok(Timestamp::from_micros(micros))
    } else {
        Err(invalid(
            path,
            format_args!("{micros} is not a time between years 1 and 9999"),
        ))
    }
}

/// An attribute value, checked like the model checks its own.
fn attribute_value(
    path: &str,
    value: wit::AttributeValue,
) -> Result<AttributeValue, PluginFailure> {
    let value = match value {
        wit::AttributeValue::Text(t) => AttributeValue::Text(t),
        wit::AttributeValue::Number(n) => AttributeValue::Number(finite(path, n)?),
        wit::AttributeValue::Boolean(b) => AttributeValue::Boolean(b),
        wit::AttributeValue::Date(micros) => {
            if micros.rem_euclid(MICROS_PER_DAY) != 0 {
                return Err(invalid(
                    path,
                    "a date must be the timestamp of a midnight UTC",
                ));
            }
            AttributeValue::Date(timestamp(path, micros)?.date())
        }
        wit::AttributeValue::Money(m) => AttributeValue::Money(money(path, m)?),
    };
    value.validate(path).map_err(|e| model_err(path, e))?;
    Ok(value)
}

/// Attributes by name; names must be valid attribute keys and unique.
fn attributes(
    path: &str,
    list: Vec<wit::Attribute>,
) -> Result<BTreeMap<String, AttributeValue>, PluginFailure> {
    let mut out = BTreeMap::new();
    for (i, a) in list.into_iter().enumerate() {
        let here = format!("{path}[{i}]");
        let name = attribute_key(&format!("{here}.name"), &a.name)
            .map_err(|e| model_err(&format!("{here}.name"), e))?;
        let value = attribute_value(&format!("{here}.value"), a.value)?;
        if out.insert(name, value).is_some() {
            return Err(invalid(&here, "attribute name given twice"));
        }
    }
    Ok(out)
}

/// An external id (`source` a lower-case key, `id` up to 256 characters).
fn external_id(path: &str, e: wit::ExternalId) -> Result<ExternalId, PluginFailure> {
    ExternalId::new(path, &e.source, &e.id).map_err(|err| model_err(path, err))
}

/// A customer reference with a well-formed id, email or external id.
fn customer_ref(path: &str, r: wit::CustomerRef) -> Result<CustomerRef, PluginFailure> {
    Ok(match r {
        wit::CustomerRef::Id(id) => {
            CustomerRef::Id(CustomerId::parse(path, &id).map_err(|e| model_err(path, e))?)
        }
        wit::CustomerRef::Email(email) => {
            CustomerRef::Email(Email::parse(path, &email).map_err(|e| model_err(path, e))?)
        }
        wit::CustomerRef::External(e) => CustomerRef::External(external_id(path, e)?),
    })
}

/// A tag, normalized like the model normalizes tags.
fn tag(path: &str, raw: &str) -> Result<Tag, PluginFailure> {
    Tag::parse(path, raw).map_err(|e| model_err(path, e))
}

impl TryFrom<wit::CustomerFields> for CustomerFields {
    type Error = PluginFailure;
    fn try_from(f: wit::CustomerFields) -> Result<Self, PluginFailure> {
        Ok(CustomerFields {
            kind: f.kind.map(Into::into),
            display_name: opt_text("display-name", f.display_name, MAX_NAME)?,
            given_name: opt_text("given-name", f.given_name, MAX_NAME)?,
            family_name: opt_text("family-name", f.family_name, MAX_NAME)?,
            phone: opt_text("phone", f.phone, MAX_CODE)?,
            country: opt_text("country", f.country, MAX_CODE)?,
            region: opt_text("region", f.region, MAX_NAME)?,
            city: opt_text("city", f.city, MAX_NAME)?,
            marketing_consent: f.marketing_consent,
        })
    }
}

/// One action, validated; `path` is where it sits in the output.
fn action(path: &str, a: wit::Action) -> Result<Action, PluginFailure> {
    let at = |field: &str| format!("{path}.{field}");
    Ok(match a {
        wit::Action::UpsertCustomer(u) => {
            if u.email.is_none() && u.external_id.is_none() {
                return Err(invalid(
                    path,
                    "upsert-customer needs an email or an external id",
                ));
            }
            let email = u
                .email
                .map(|e| Email::parse(&at("email"), &e).map_err(|err| model_err(&at("email"), err)))
                .transpose()?;
            let external_id = u
                .external_id
                .map(|e| external_id(&at("external-id"), e))
                .transpose()?;
            let fields = CustomerFields::try_from(u.fields).map_err(|e| match e {
                PluginFailure::InvalidOutput(m) => invalid(&at("fields"), m),
                other => other,
            })?;
            Action::UpsertCustomer {
                email,
                external_id,
                fields,
            }
        }
        wit::Action::SetAttribute(s) => Action::SetAttribute {
            customer: customer_ref(&at("customer"), s.customer)?,
            name: attribute_key(&at("attribute.name"), &s.attribute.name)
                .map_err(|e| model_err(&at("attribute.name"), e))?,
            value: attribute_value(&at("attribute.value"), s.attribute.value)?,
        },
        wit::Action::ClearAttribute(c) => Action::ClearAttribute {
            customer: customer_ref(&at("customer"), c.customer)?,
            name: attribute_key(&at("name"), &c.name).map_err(|e| model_err(&at("name"), e))?,
        },
        wit::Action::AddTag(t) => Action::AddTag {
            customer: customer_ref(&at("customer"), t.customer)?,
            tag: tag(&at("tag"), &t.tag)?,
        },
        wit::Action::RemoveTag(t) => Action::RemoveTag {
            customer: customer_ref(&at("customer"), t.customer)?,
            tag: tag(&at("tag"), &t.tag)?,
        },
        wit::Action::SetLifecycleStage(s) => Action::SetLifecycleStage {
            customer: customer_ref(&at("customer"), s.customer)?,
            stage: s.stage.into(),
        },
        wit::Action::LogInteraction(l) => Action::LogInteraction(LogInteraction {
            customer: customer_ref(&at("customer"), l.customer)?,
            channel: l.channel.into(),
            kind: l.kind.into(),
            direction: l.direction.into(),
            occurred_at: timestamp(&at("occurred-at"), l.occurred_at)?,
            subject: opt_text(&at("subject"), l.subject, MAX_NAME)?,
            amount: l.amount.map(|m| money(&at("amount"), m)).transpose()?,
            rating: l.rating,
            status: l
                .status
                .map(|s| {
                    TaskStatus::parse(&at("status"), &s).map_err(|e| model_err(&at("status"), e))
                })
                .transpose()?,
            attributes: attributes(&at("attributes"), l.attributes)?,
            external_id: l
                .external_id
                .map(|e| external_id(&at("external-id"), e))
                .transpose()?,
        }),
        wit::Action::CreateTask(t) => Action::CreateTask {
            customer: customer_ref(&at("customer"), t.customer)?,
            subject: text(&at("subject"), t.subject, MAX_NAME, true)?,
            due_at: t.due_at.map(|d| timestamp(&at("due-at"), d)).transpose()?,
        },
        wit::Action::CreateDeal(d) => Action::CreateDeal {
            customer: customer_ref(&at("customer"), d.customer)?,
            pipeline: match d.pipeline {
                wit::PipelineRef::Id(id) => PipelineRef::Id(
                    PipelineId::parse(&at("pipeline"), &id)
                        .map_err(|e| model_err(&at("pipeline"), e))?,
                ),
                wit::PipelineRef::Name(name) => {
                    PipelineRef::Name(text(&at("pipeline"), name, MAX_NAME, true)?)
                }
            },
            stage: opt_text(&at("stage"), d.stage, MAX_NAME)?,
            amount: d.amount.map(|m| money(&at("amount"), m)).transpose()?,
            expected_close: d
                .expected_close
                .map(|t| timestamp(&at("expected-close"), t))
                .transpose()?,
        },
        wit::Action::MoveDeal(m) => Action::MoveDeal {
            deal: DealId::parse(&at("deal-id"), &m.deal_id)
                .map_err(|e| model_err(&at("deal-id"), e))?,
            stage: text(&at("stage"), m.stage, MAX_NAME, true)?,
        },
        wit::Action::EraseCustomer(c) => Action::EraseCustomer {
            customer: customer_ref(&at("customer"), c)?,
        },
    })
}

/// The WIT name of an action, for error paths.
fn action_name(a: &wit::Action) -> &'static str {
    match a {
        wit::Action::UpsertCustomer(_) => "upsert-customer",
        wit::Action::SetAttribute(_) => "set-attribute",
        wit::Action::ClearAttribute(_) => "clear-attribute",
        wit::Action::AddTag(_) => "add-tag",
        wit::Action::RemoveTag(_) => "remove-tag",
        wit::Action::SetLifecycleStage(_) => "set-lifecycle-stage",
        wit::Action::LogInteraction(_) => "log-interaction",
        wit::Action::CreateTask(_) => "create-task",
        wit::Action::CreateDeal(_) => "create-deal",
        wit::Action::MoveDeal(_) => "move-deal",
        wit::Action::EraseCustomer(_) => "erase-customer",
    }
}

/// Every action of one call, validated; one bad action fails the whole call's output.
pub(super) fn actions(list: Vec<wit::Action>) -> Result<Vec<Action>, PluginFailure> {
    if list.len() > MAX_ACTIONS {
        return Err(invalid(
            "actions",
            format_args!("{} actions, at most {MAX_ACTIONS} allowed", list.len()),
        ));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, a)| {
            let path = format!("actions[{i}].{}", action_name(&a));
            action(&path, a)
        })
        .collect()
}

impl TryFrom<wit::ScoreOutput> for ScoreOutput {
    type Error = PluginFailure;
    fn try_from(o: wit::ScoreOutput) -> Result<Self, PluginFailure> {
        if o.reasons.len() > MAX_REASONS {
            return Err(invalid(
                "reasons",
                format_args!("{} reasons, at most {MAX_REASONS} allowed", o.reasons.len()),
            ));
        }
        let reasons = o
            .reasons
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(Reason {
                    code: text(&format!("reasons[{i}].code"), r.code, MAX_CODE, true)?,
                    message: text(&format!("reasons[{i}].message"), r.message, MAX_TEXT, false)?,
                    contribution: finite(&format!("reasons[{i}].contribution"), r.contribution)?,
                })
            })
            .collect::<Result<_, PluginFailure>>()?;
        Ok(ScoreOutput {
            score: finite("score", o.score)?,
            grade: opt_text("grade", o.grade, MAX_CODE)?,
            reasons,
            actions: actions(o.actions)?,
        })
    }
}

/// Memberships, each in a segment the manifest declares, each segment at most once.
pub(super) fn memberships(
    manifest: &Manifest,
    list: Vec<wit::Membership>,
) -> Result<Vec<Membership>, PluginFailure> {
    let mut seen = BTreeSet::new();
    list.into_iter()
        .enumerate()
        .map(|(i, m)| {
            let path = format!("memberships[{i}]");
            if !manifest.segments.iter().any(|s| s.id == m.segment) {
                return Err(invalid(
                    &format!("{path}.segment"),
                    format_args!(
                        "{:?} is not a segment the manifest declares",
                        truncate(m.segment, MAX_CODE)
                    ),
                ));
            }
            if !seen.insert(m.segment.clone()) {
                return Err(invalid(
                    &path,
                    format_args!("segment {:?} listed twice", m.segment),
                ));
            }
            Ok(Membership {
                reason: text(&format!("{path}.reason"), m.reason, MAX_TEXT, false)?,
                segment: m.segment,
            })
        })
        .collect()
}

impl From<wit::RejectionKind> for RejectionKind {
    fn from(kind: wit::RejectionKind) -> Self {
        match kind {
            wit::RejectionKind::BadSignature => Self::BadSignature,
            wit::RejectionKind::Malformed => Self::Malformed,
            wit::RejectionKind::Other => Self::Other,
        }
    }
}

impl TryFrom<wit::HookOutput> for HookOutput {
    type Error = PluginFailure;
    fn try_from(o: wit::HookOutput) -> Result<Self, PluginFailure> {
        let verdict = match o.verdict {
            wit::Verdict::Accepted => Verdict::Accepted,
            wit::Verdict::Ignored(reason) => Verdict::Ignored {
                reason: text("verdict.ignored", reason, MAX_TEXT, false)?,
            },
            wit::Verdict::Rejected(r) => Verdict::Rejected {
                kind: r.kind.into(),
                reason: text("verdict.rejected.reason", r.reason, MAX_TEXT, false)?,
            },
        };
        Ok(HookOutput {
            verdict,
            actions: actions(o.actions)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The manifest

impl From<wit::Capability> for Capability {
    fn from(c: wit::Capability) -> Self {
        match c {
            wit::Capability::Scorer => Self::Scorer,
            wit::Capability::Segmenter => Self::Segmenter,
            wit::Capability::CommerceHook => Self::CommerceHook,
        }
    }
}

/// A manifest failure.
fn bad(what: impl std::fmt::Display) -> PluginFailure {
    PluginFailure::BadManifest(what.to_string())
}

/// Whether `id` is reverse-DNS style: dot-separated labels of `a-z`, `0-9`, `-`, `_`,
/// at least two labels, starting with a letter, at most 128 characters.
fn is_plugin_id(id: &str) -> bool {
    let labels_ok = id.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    });
    id.len() <= 128
        && id.contains('.')
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && labels_ok
}

/// Converts and validates the manifest a component of world `world` returned.
pub(super) fn manifest(m: wit::Manifest, world: Capability) -> Result<Manifest, PluginFailure> {
    if !is_plugin_id(&m.id) {
        return Err(bad(format_args!(
            "id {:?} is not a reverse-DNS id such as \"kith.rfm\" (lower-case labels separated by dots)",
            truncate(m.id, 140)
        )));
    }
    if let Err(e) = semver::Version::parse(&m.version) {
        return Err(bad(format_args!(
            "version {:?} is not a semantic version such as \"1.2.0\": {e}",
            truncate(m.version, 64)
        )));
    }
    let name = text("name", m.name, 200, true).map_err(|e| bad(plain(e)))?;
    let description =
        text("description", m.description, MAX_TEXT, false).map_err(|e| bad(plain(e)))?;
    let industries = m
        .industries
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            text(&format!("industries[{i}]"), s, MAX_CODE, true).map_err(|e| bad(plain(e)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut capabilities: Vec<Capability> = m.capabilities.into_iter().map(Into::into).collect();
    capabilities.sort();
    capabilities.dedup();
    if capabilities != [world] {
        let listed: Vec<&str> = capabilities.iter().map(|c| c.as_str()).collect();
        return Err(bad(format_args!(
            "capabilities are [{}] but the component implements the {world} world",
            listed.join(", ")
        )));
    }
    let config_schema: serde_json::Value = serde_json::from_str(&m.config_schema)
        .map_err(|e| bad(format_args!("config-schema is not JSON: {e}")))?;
    if !(config_schema.is_object() || config_schema.is_boolean()) {
        return Err(bad(
            "config-schema must be a JSON Schema: an object or a boolean",
        ));
    }
    let needs = &m.needs;
    if needs.recent_interactions > MAX_RECENT_INTERACTIONS {
        return Err(bad(format_args!(
            "needs.recent-interactions is {}, at most {MAX_RECENT_INTERACTIONS} allowed",
            needs.recent_interactions
        )));
    }
    if needs.closed_deals > MAX_CLOSED_DEALS {
        return Err(bad(format_args!(
            "needs.closed-deals is {}, at most {MAX_CLOSED_DEALS} allowed",
            needs.closed_deals
        )));
    }
    if world == Capability::CommerceHook && needs.population {
        return Err(bad(
            "a commerce hook has no population step: needs.population must be false",
        ));
    }
    for (i, a) in needs.population_attributes.iter().enumerate() {
        let field = format!("needs.population-attributes[{i}]");
        attribute_key(&field, a).map_err(bad)?;
    }
    let segments = segments(m.segments, world)?;
    let budgets = m.budgets.map(budgets).transpose()?.unwrap_or_default();
    Ok(Manifest {
        id: m.id,
        version: m.version,
        name,
        description,
        industries,
        capabilities,
        config_schema,
        needs: InputNeeds {
            recent_interactions: m.needs.recent_interactions,
            population: m.needs.population,
            population_attributes: m.needs.population_attributes,
            closed_deals: m.needs.closed_deals,
        },
        segments,
        budgets,
    })
}

/// The budgets a manifest declares: every one given must be positive (the host caps them at its
/// ceilings when it applies them).
fn budgets(b: wit::Budgets) -> Result<ManifestBudgets, PluginFailure> {
    let one = |name: &str, b: wit::Budget| {
        for (field, value) in [
            ("fuel", b.fuel),
            ("memory-bytes", b.memory_bytes),
            ("deadline-ms", b.deadline_ms),
        ] {
            if value == Some(0) {
                return Err(bad(format_args!(
                    "budgets.{name}.{field} is 0: leave it out for the host's default"
                )));
            }
        }
        Ok(model::LimitOverrides {
            fuel: b.fuel,
            deadline_ms: b.deadline_ms,
            memory_bytes: b.memory_bytes,
        })
    };
    Ok(ManifestBudgets {
        call: one("call", b.call)?,
        population: one("population", b.population)?,
    })
}

/// The message of an output failure without its "invalid plugin output" prefix.
fn plain(e: PluginFailure) -> String {
    match e {
        PluginFailure::InvalidOutput(m) => m,
        other => other.to_string(),
    }
}

/// A segmenter's segments (at least one, unique ids); other worlds declare none.
fn segments(
    list: Vec<wit::SegmentInfo>,
    world: Capability,
) -> Result<Vec<SegmentInfo>, PluginFailure> {
    if world != Capability::Segmenter {
        return if list.is_empty() {
            Ok(Vec::new())
        } else {
            Err(bad(format_args!("a {world} declares no segments")))
        };
    }
    if list.is_empty() {
        return Err(bad("a segmenter must declare at least one segment"));
    }
    let mut seen = BTreeSet::new();
    list.into_iter()
        .enumerate()
        .map(|(i, s)| {
            let path = format!("segments[{i}]");
            let id =
                text(&format!("{path}.id"), s.id, MAX_CODE, true).map_err(|e| bad(plain(e)))?;
            if !seen.insert(id.clone()) {
                return Err(bad(format_args!(
                    "{path}.id: segment {id:?} declared twice"
                )));
            }
            Ok(SegmentInfo {
                id,
                name: text(&format!("{path}.name"), s.name, 200, true)
                    .map_err(|e| bad(plain(e)))?,
                description: text(
                    &format!("{path}.description"),
                    s.description,
                    MAX_TEXT,
                    false,
                )
                .map_err(|e| bad(plain(e)))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wit_manifest() -> wit::Manifest {
        wit::Manifest {
            id: "kith.example".into(),
            version: "1.2.0".into(),
            name: "Example".into(),
            description: String::new(),
            industries: vec!["retail".into()],
            capabilities: vec![wit::Capability::Scorer],
            config_schema: r#"{"type":"object"}"#.into(),
            needs: wit::InputNeeds {
                recent_interactions: 5,
                population: false,
                population_attributes: Vec::new(),
                closed_deals: 3,
            },
            segments: Vec::new(),
            budgets: Some(wit::Budgets {
                call: wit::Budget {
                    fuel: Some(20_000_000),
                    memory_bytes: None,
                    deadline_ms: None,
                },
                population: wit::Budget {
                    fuel: None,
                    memory_bytes: Some(1 << 30),
                    deadline_ms: Some(5_000),
                },
            }),
        }
    }

    fn bad_manifest(change: impl FnOnce(&mut wit::Manifest), world: Capability) -> String {
        let mut m = wit_manifest();
        change(&mut m);
        match manifest(m, world) {
            Err(PluginFailure::BadManifest(message)) => message,
            other => panic!("expected BadManifest, got {other:?}"),
        }
    }

    #[test]
    fn a_sane_manifest_converts() {
        let m = manifest(wit_manifest(), Capability::Scorer).unwrap();
        assert_eq!(
            (m.id.as_str(), m.version.as_str()),
            ("kith.example", "1.2.0")
        );
        assert_eq!(m.capabilities, [Capability::Scorer]);
        assert_eq!(m.needs.recent_interactions, 5);
        assert_eq!(m.needs.closed_deals, 3);
        assert_eq!(m.budgets.call.fuel, Some(20_000_000));
        assert_eq!(m.budgets.call.memory_bytes, None);
        assert_eq!(m.budgets.population.memory_bytes, Some(1 << 30));
        assert_eq!(m.budgets.population.deadline_ms, Some(5_000));
        let none = wit::Manifest {
            budgets: None,
            ..wit_manifest()
        };
        let m = manifest(none, Capability::Scorer).unwrap();
        assert_eq!(m.budgets, ManifestBudgets::default());
    }

    #[test]
    fn insane_manifests_are_refused_with_the_reason() {
        let s = Capability::Scorer;
        assert!(bad_manifest(|m| m.id = "Not An Id".into(), s).contains("reverse-DNS"));
        assert!(bad_manifest(|m| m.id = "nodots".into(), s).contains("reverse-DNS"));
        assert!(bad_manifest(|m| m.version = "1.2".into(), s).contains("semantic version"));
        assert!(bad_manifest(|m| m.name = " ".into(), s).contains("name"));
        assert!(bad_manifest(|_| (), Capability::Segmenter).contains("capabilities"));
        let both = vec![wit::Capability::Scorer, wit::Capability::CommerceHook];
        assert!(bad_manifest(|m| m.capabilities = both, s).contains("capabilities"));
        assert!(bad_manifest(|m| m.config_schema = "{".into(), s).contains("not JSON"));
        assert!(bad_manifest(|m| m.config_schema = "3".into(), s).contains("JSON Schema"));
        assert!(bad_manifest(|m| m.needs.recent_interactions = u32::MAX, s).contains("recent"));
        assert!(bad_manifest(|m| m.needs.closed_deals = 1_001, s).contains("closed-deals"));
        let zero_fuel = |m: &mut wit::Manifest| {
            if let Some(b) = m.budgets.as_mut() {
                b.population.fuel = Some(0);
            }
        };
        assert!(bad_manifest(zero_fuel, s).contains("budgets.population.fuel is 0"));
        let no_segments = |m: &mut wit::Manifest| m.capabilities = vec![wit::Capability::Segmenter];
        assert!(bad_manifest(no_segments, Capability::Segmenter).contains("at least one segment"));
    }

    fn score(score: f64) -> wit::ScoreOutput {
        wit::ScoreOutput {
            score,
            grade: None,
            reasons: Vec::new(),
            actions: Vec::new(),
        }
    }

    fn invalid_output(result: Result<impl std::fmt::Debug, PluginFailure>) -> String {
        match result {
            Err(PluginFailure::InvalidOutput(message)) => message,
            other => panic!("expected InvalidOutput, got {other:?}"),
        }
    }

    #[test]
    fn non_finite_scores_and_contributions_are_invalid() {
        assert!(invalid_output(ScoreOutput::try_from(score(f64::NAN))).starts_with("score:"));
        assert!(invalid_output(ScoreOutput::try_from(score(f64::INFINITY))).starts_with("score:"));
        let mut output = score(1.0);
        output.reasons.push(wit::Reason {
            code: "r".into(),
            message: String::new(),
            contribution: f64::NAN,
        });
        assert_eq!(
            invalid_output(ScoreOutput::try_from(output)),
            "reasons[0].contribution: NaN is not a finite number"
        );
    }

    fn log(amount: wit::Money) -> wit::Action {
        wit::Action::LogInteraction(wit::LogInteraction {
            customer: wit::CustomerRef::Email("ada@example.com".into()),
            channel: wit::Channel::ECommerce,
            kind: wit::InteractionKind::Purchase,
            direction: wit::Direction::Inbound,
            occurred_at: 0,
            subject: None,
            amount: Some(amount),
            rating: None,
            status: None,
            attributes: Vec::new(),
            external_id: None,
        })
    }

    #[test]
    fn money_needs_a_known_upper_case_currency_and_keeps_exact_minor_units() {
        let money = |currency: &str| wit::Money {
            amount: 19_929,
            currency: currency.into(),
        };
        for bad in ["eur", "EURO", "XYZ", ""] {
            let message = invalid_output(actions(vec![log(money(bad))]));
            assert!(
                message.starts_with("actions[0].log-interaction.amount.currency"),
                "{bad}: {message}"
            );
        }
        let converted = actions(vec![log(money("EUR"))]).unwrap();
        let [Action::LogInteraction(l)] = converted.as_slice() else {
            panic!("one log-interaction: {converted:?}")
        };
        let amount = l.amount.unwrap();
        assert_eq!((amount.minor, amount.currency.code()), (19_929, "EUR"));
    }

    #[test]
    fn malformed_references_tags_and_attributes_are_invalid() {
        let tag = |customer: wit::CustomerRef, tag: &str| {
            wit::Action::AddTag(wit::TagChange {
                customer,
                tag: tag.into(),
            })
        };
        let id = |s: &str| wit::CustomerRef::Id(s.into());
        let ok = "01890000-0000-7000-8000-00000000dead";
        assert!(actions(vec![tag(id(ok), "vip")]).is_ok());
        assert!(
            invalid_output(actions(vec![tag(id("c1"), "vip")]))
                .starts_with("actions[0].add-tag.customer")
        );
        assert!(
            invalid_output(actions(vec![tag(id(ok), "a,b")])).starts_with("actions[0].add-tag.tag")
        );
        let email = wit::CustomerRef::Email("not an email".into());
        assert!(invalid_output(actions(vec![tag(email, "x")])).contains("customer"));
        let set = wit::Action::SetAttribute(wit::SetAttribute {
            customer: id(ok),
            attribute: wit::Attribute {
                name: "Bad Name".into(),
                value: wit::AttributeValue::Boolean(true),
            },
        });
        assert!(invalid_output(actions(vec![set])).contains("attribute.name"));
        let upsert = wit::Action::UpsertCustomer(wit::UpsertCustomer {
            email: None,
            external_id: None,
            fields: wit::CustomerFields {
                kind: None,
                display_name: None,
                given_name: None,
                family_name: None,
                phone: None,
                country: None,
                region: None,
                city: None,
                marketing_consent: None,
            },
        });
        assert!(invalid_output(actions(vec![upsert])).contains("email or an external id"));
    }

    #[test]
    fn memberships_must_name_declared_segments_once() {
        let mut m = wit_manifest();
        m.capabilities = vec![wit::Capability::Segmenter];
        m.segments = vec![wit::SegmentInfo {
            id: "vip".into(),
            name: "VIP".into(),
            description: String::new(),
        }];
        let manifest = manifest(m, Capability::Segmenter).unwrap();
        let member = |segment: &str| wit::Membership {
            segment: segment.into(),
            reason: "because".into(),
        };
        assert_eq!(
            memberships(&manifest, vec![member("vip")]).unwrap().len(),
            1
        );
        assert!(
            invalid_output(memberships(&manifest, vec![member("gold")])).contains("not a segment")
        );
        assert!(
            invalid_output(memberships(&manifest, vec![member("vip"), member("vip")]))
                .contains("twice")
        );
    }

    #[test]
    fn demo_requests_merge_into_the_other_aggregate() {
        let t = Timestamp::from_micros;
        let usd = |minor| Money::new(minor, model::Currency::parse("c", "USD").unwrap());
        let aggregate = |kind, count, at, first| InteractionAggregate {
            kind,
            count,
            totals: Vec::new(),
            first_at: t(at),
            last_at: t(at),
            first_amount: Some(usd(first)),
        };
        let merged = aggregates_to_wit(&[
            aggregate(InteractionKind::Other, 3, 9, 900),
            aggregate(InteractionKind::DemoRequest, 2, 5, 500),
        ]);
        assert_eq!(merged.len(), 1);
        assert_eq!(
            (merged[0].count, merged[0].first_at, merged[0].last_at),
            (5, 5, 9)
        );
        assert_eq!(
            merged[0].first_amount.as_ref().map(|m| m.amount),
            Some(500),
            "the earlier kind's first amount"
        );
    }
}
