//! Customers: people and organizations, their contact details, tags and typed attributes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::consent::{Consent, ConsentChannel, ConsentInput, ConsentSource, Consents, MARKETING};
use super::error::{Checker, text};
use super::{Country, CustomerId, Date, Email, Money, Phone, Timestamp, ValidationError};

/// Whether a customer is a person or an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CustomerKind {
    /// A natural person.
    #[default]
    Person,
    /// A company or other organization.
    Organization,
}

/// Where a customer stands in the relationship.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LifecycleStage {
    /// Receives communication, not yet a lead.
    Subscriber,
    /// Showed interest.
    #[default]
    Lead,
    /// Qualified by marketing.
    MarketingQualified,
    /// Qualified by sales.
    SalesQualified,
    /// Has an open deal.
    Opportunity,
    /// Bought.
    Customer,
    /// Recommends us.
    Evangelist,
    /// Left.
    Churned,
    /// None of the above.
    Other,
}

impl LifecycleStage {
    /// Every stage, in funnel order.
    pub const ALL: [LifecycleStage; 9] = [
        Self::Subscriber,
        Self::Lead,
        Self::MarketingQualified,
        Self::SalesQualified,
        Self::Opportunity,
        Self::Customer,
        Self::Evangelist,
        Self::Churned,
        Self::Other,
    ];

    /// The kebab-case name used in JSON, CSV and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscriber => "subscriber",
            Self::Lead => "lead",
            Self::MarketingQualified => "marketing-qualified",
            Self::SalesQualified => "sales-qualified",
            Self::Opportunity => "opportunity",
            Self::Customer => "customer",
            Self::Evangelist => "evangelist",
            Self::Churned => "churned",
            Self::Other => "other",
        }
    }

    /// A stable one-byte code for index keys.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Parses the kebab-case name.
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        let s = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL.into_iter().find(|l| l.as_str() == s).ok_or_else(|| {
            ValidationError::field(
                field,
                "one of subscriber, lead, marketing-qualified, sales-qualified, opportunity, customer, evangelist, churned, other",
            )
        })
    }
}

impl fmt::Display for LifecycleStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tag: trimmed, lowercased, 1 to 64 characters, no control characters or commas.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    /// Validates and normalizes a tag.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let t = raw.trim().to_lowercase();
        if t.is_empty()
            || t.chars().count() > 64
            || t.chars().any(|c| c.is_control() || c == ',' || c == '\0')
        {
            return Err(ValidationError::field(
                field,
                "a tag of 1 to 64 characters without commas",
            ));
        }
        Ok(Self(t))
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Tag {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse("tag", &s)
    }
}

impl From<Tag> for String {
    fn from(t: Tag) -> Self {
        t.0
    }
}

/// A custom attribute's name: 1 to 64 characters of `a-z`, `0-9`, `_`, `-` and `.`, starting with a letter.
pub fn attribute_key(field: &str, raw: &str) -> Result<String, ValidationError> {
    let k = raw.trim();
    let ok = !k.is_empty()
        && k.len() <= 64
        && k.starts_with(|c: char| c.is_ascii_lowercase())
        && k.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        });
    if ok {
        Ok(k.to_owned())
    } else {
        Err(ValidationError::field(
            field,
            "an attribute name of 1 to 64 characters a-z, 0-9, '_', '-', '.', starting with a letter",
        ))
    }
}

/// A typed custom attribute value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AttributeValue {
    /// Free text (at most 4096 characters).
    Text(String),
    /// A finite number.
    Number(f64),
    /// True or false.
    Boolean(bool),
    /// A calendar date.
    Date(Date),
    /// An amount of money.
    Money(Money),
    /// Several texts: a multi-select field's options (at most 100, each at most 200 characters).
    List(Vec<String>),
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => f.write_str(t),
            Self::Number(n) => write!(f, "{n}"),
            Self::Boolean(b) => write!(f, "{b}"),
            Self::Date(d) => write!(f, "{d}"),
            Self::Money(m) => write!(f, "{m}"),
            Self::List(items) => f.write_str(&items.join(", ")),
        }
    }
}

impl AttributeValue {
    /// Checks the value's own rules (finite numbers, bounded text).
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        match self {
            Self::Text(t) if t.chars().count() > 4096 => Err(ValidationError::field(
                field,
                "text of at most 4096 characters",
            )),
            Self::Number(n) if !n.is_finite() => {
                Err(ValidationError::field(field, "a finite number"))
            }
            Self::List(items)
                if items.len() > 100 || items.iter().any(|i| i.chars().count() > 200) =>
            {
                Err(ValidationError::field(
                    field,
                    "a list of at most 100 texts of at most 200 characters",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// An id the customer has in another system, unique per tenant: `(source, id)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExternalId {
    /// The system, e.g. `shopify` (1 to 64 characters of a-z, 0-9, '_', '-', '.').
    pub source: String,
    /// The id in that system (1 to 256 characters).
    pub id: String,
}

impl ExternalId {
    /// Validates an external id.
    pub fn new(field: &str, source: &str, id: &str) -> Result<Self, ValidationError> {
        let source = attribute_key(&format!("{field}.source"), source).map_err(|_| {
            ValidationError::field(
                format!("{field}.source"),
                "a source name such as shopify (a-z, 0-9, '_', '-', '.')",
            )
        })?;
        let id = text(&format!("{field}.id"), id, 256, false)?;
        Ok(Self { source, id })
    }
}

/// Where a customer is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Location {
    /// Country.
    pub country: Option<Country>,
    /// Region, state or province.
    pub region: Option<String>,
    /// City.
    pub city: Option<String>,
}

/// Optional demographics of a person.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Demographics {
    /// Date of birth.
    pub birth_date: Option<Date>,
    /// Gender as the customer stated it (free text, at most 32 characters).
    pub gender: Option<String>,
}

/// [`Location`] as sent: a field left out is left alone (on create: not set), `null` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocationPatch {
    /// Country code (ISO 3166-1 alpha-2).
    #[serde(deserialize_with = "super::patch::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub country: Option<Option<String>>,
    /// Region, state or province.
    #[serde(deserialize_with = "super::patch::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub region: Option<Option<String>>,
    /// City.
    #[serde(deserialize_with = "super::patch::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub city: Option<Option<String>>,
}

/// [`Demographics`] as sent: a field left out is left alone (on create: not set), `null` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DemographicsPatch {
    /// Date of birth.
    #[serde(deserialize_with = "super::patch::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Date>))]
    pub birth_date: Option<Option<Date>>,
    /// Gender as the customer stated it.
    #[serde(deserialize_with = "super::patch::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub gender: Option<Option<String>>,
}

/// Puts a nested field's value into its flat twin (`location.city` into `city`); giving both is
/// an error, since they would disagree.
fn nest<T>(
    c: &mut Checker,
    flat: &mut Option<Option<T>>,
    nested: Option<Option<T>>,
    names: (&str, &str),
) {
    if nested.is_none() {
        return;
    }
    if flat.is_some() {
        c.fail(names.1, format!("{} or {}, not both", names.0, names.1));
    } else {
        *flat = nested;
    }
}

/// A stored customer.
///
/// Serialized by name in JSON and in its stored layout in the store (see `compact`).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Customer {
    /// Id.
    pub id: CustomerId,
    /// Person or organization.
    pub kind: CustomerKind,
    /// Display name: "first last" for people, the organization's name otherwise.
    pub name: String,
    /// A person's first name.
    pub first_name: Option<String>,
    /// A person's last name.
    pub last_name: Option<String>,
    /// The organization a person belongs to.
    pub organization: Option<CustomerId>,
    /// Normalized email, unique per tenant.
    pub email: Option<Email>,
    /// Normalized phone, unique per tenant.
    pub phone: Option<Phone>,
    /// Ids in other systems, each unique per tenant.
    pub external_ids: Vec<ExternalId>,
    /// Location.
    pub location: Location,
    /// Demographics.
    pub demographics: Demographics,
    /// Lifecycle stage.
    pub lifecycle: LifecycleStage,
    /// Tags.
    pub tags: BTreeSet<Tag>,
    /// Custom attributes.
    pub attributes: BTreeMap<String, AttributeValue>,
    /// The user responsible for this customer.
    pub owner: Option<String>,
    /// Whether the customer may be emailed for marketing: what its (email, marketing) consent
    /// record says.
    pub marketing_consent: bool,
    /// The current consent record of each channel and purpose, ordered by channel and purpose.
    pub consents: Vec<Consent>,
    /// The records the current ones replaced, newest last (at most 50; every change is also in
    /// the event log).
    pub consent_history: Vec<Consent>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Incremented by every change; updates name the version they expect.
    pub version: u64,
}

/// The fields of a new customer as received (from JSON, CSV or a plugin), before validation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerInput {
    /// Person (default) or organization.
    pub kind: CustomerKind,
    /// An organization's name, or a person's full name when first/last are not given.
    pub name: Option<String>,
    /// A person's first name.
    pub first_name: Option<String>,
    /// A person's last name.
    pub last_name: Option<String>,
    /// The organization a person belongs to.
    pub organization: Option<CustomerId>,
    /// Email.
    pub email: Option<String>,
    /// Phone; national numbers need `country`.
    pub phone: Option<String>,
    /// External ids.
    pub external_ids: Vec<ExternalId>,
    /// Country code.
    pub country: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Date of birth.
    pub birth_date: Option<Date>,
    /// Gender.
    pub gender: Option<String>,
    /// Lifecycle stage (default lead).
    pub lifecycle: Option<LifecycleStage>,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom attributes.
    pub attributes: BTreeMap<String, AttributeValue>,
    /// Owner.
    pub owner: Option<String>,
    /// Marketing consent: `true` records the (email, marketing) consent as granted (default
    /// false: nothing recorded).
    pub marketing_consent: bool,
    /// Consent records (a GET's `consents`): each sets its channel and purpose.
    pub consents: Vec<ConsentInput>,
    /// Read-only: ignored.
    pub consent_history: Option<Vec<Consent>>,
    /// The source of consent records that name none: set by where the input came from.
    #[serde(skip)]
    pub consent_source: ConsentSource,
    /// Location, in the shape a GET returns (or the flat `country`, `region`, `city`).
    pub location: Option<LocationPatch>,
    /// Demographics, in the shape a GET returns (or the flat `birth_date`, `gender`).
    pub demographics: Option<DemographicsPatch>,
    /// Read-only (a GET's answer may be sent back as is): ignored, a new customer gets a new id.
    pub id: Option<CustomerId>,
    /// Read-only: ignored.
    pub created_at: Option<Timestamp>,
    /// Read-only: ignored.
    pub updated_at: Option<Timestamp>,
    /// Read-only: ignored (a new customer is at version 1).
    pub version: Option<u64>,
}

fn opt_text(c: &mut Checker, field: &str, v: Option<&str>, max: usize) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
        .and_then(|s| c.take(text(field, s, max, false)))
}

impl Customer {
    /// Validates `input` into a new customer at version 1.
    pub fn new(
        id: CustomerId,
        input: CustomerInput,
        now: Timestamp,
    ) -> Result<Self, ValidationError> {
        let mut c = Checker::default();
        let mut input = input;
        let location = input.location.take().unwrap_or_default();
        let demographics = input.demographics.take().unwrap_or_default();
        let mut flat = (
            input.country.take().map(Some),
            input.region.take().map(Some),
            input.city.take().map(Some),
            input.birth_date.take().map(Some),
            input.gender.take().map(Some),
        );
        nest(
            &mut c,
            &mut flat.0,
            location.country,
            ("country", "location.country"),
        );
        nest(
            &mut c,
            &mut flat.1,
            location.region,
            ("region", "location.region"),
        );
        nest(
            &mut c,
            &mut flat.2,
            location.city,
            ("city", "location.city"),
        );
        nest(
            &mut c,
            &mut flat.3,
            demographics.birth_date,
            ("birth_date", "demographics.birth_date"),
        );
        nest(
            &mut c,
            &mut flat.4,
            demographics.gender,
            ("gender", "demographics.gender"),
        );
        (
            input.country,
            input.region,
            input.city,
            input.birth_date,
            input.gender,
        ) = (
            flat.0.flatten(),
            flat.1.flatten(),
            flat.2.flatten(),
            flat.3.flatten(),
            flat.4.flatten(),
        );
        let first_name = opt_text(&mut c, "first_name", input.first_name.as_deref(), 200);
        let last_name = opt_text(&mut c, "last_name", input.last_name.as_deref(), 200);
        let explicit = opt_text(&mut c, "name", input.name.as_deref(), 300);
        if input.kind == CustomerKind::Organization && (first_name.is_some() || last_name.is_some())
        {
            c.fail(
                "first_name",
                "no first or last name for an organization (use name)",
            );
        }
        if input.kind == CustomerKind::Organization && input.organization.is_some() {
            c.fail("organization", "no parent organization for an organization");
        }
        let name = explicit
            .clone()
            .or_else(|| full_name(first_name.as_deref(), last_name.as_deref()));
        let country = input
            .country
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| c.take(Country::parse("country", s)));
        let email = input
            .email
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| c.take(Email::parse("email", s)));
        let phone = input
            .phone
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| c.take(Phone::parse("phone", s, country)));
        let name = match name {
            Some(n) => n,
            None => match (&email, &phone) {
                (Some(e), _) => e.as_str().to_owned(),
                (None, Some(p)) => p.as_str().to_owned(),
                (None, None) => {
                    c.fail(
                        "name",
                        "a name, first_name/last_name, email or phone to identify the customer",
                    );
                    String::new()
                }
            },
        };
        let mut external_ids: Vec<ExternalId> = Vec::new();
        for (i, e) in input.external_ids.iter().enumerate() {
            let field = format!("external_ids[{i}]");
            if let Some(x) = c.take(ExternalId::new(&field, &e.source, &e.id)) {
                if external_ids.iter().any(|y| y.source == x.source) {
                    c.fail(field, "one external id per source");
                } else {
                    external_ids.push(x);
                }
            }
        }
        if external_ids.len() > 16 {
            c.fail("external_ids", "at most 16 external ids");
        }
        let tags = parse_tags(&mut c, &input.tags);
        let attributes = check_attributes(&mut c, input.attributes);
        let region = opt_text(&mut c, "region", input.region.as_deref(), 200);
        let city = opt_text(&mut c, "city", input.city.as_deref(), 200);
        let gender = opt_text(&mut c, "gender", input.gender.as_deref(), 32);
        let owner = opt_text(&mut c, "owner", input.owner.as_deref(), 200);
        let mut consents = Consents::default();
        let mut changes = input.consents;
        if input.marketing_consent {
            Consents::marketing(&mut c, &[], true, &mut changes);
        }
        consents.record(&mut c, "consents", &changes, input.consent_source, now);
        c.finish()?;
        Ok(Self {
            id,
            kind: input.kind,
            name,
            first_name,
            last_name,
            organization: input.organization,
            email,
            phone,
            external_ids,
            location: Location {
                country,
                region,
                city,
            },
            demographics: Demographics {
                birth_date: input.birth_date,
                gender,
            },
            lifecycle: input.lifecycle.unwrap_or_default(),
            tags,
            attributes,
            owner,
            marketing_consent: Consents::granted(
                &consents.current,
                ConsentChannel::Email,
                MARKETING,
            ),
            consents: consents.current,
            consent_history: consents.history,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }

    /// Applies `patch`, bumping the version. Returns the names of the fields that changed (empty when
    /// nothing did, in which case the customer is left untouched).
    pub fn apply(
        &mut self,
        patch: CustomerPatch,
        now: Timestamp,
    ) -> Result<Vec<&'static str>, ValidationError> {
        let mut input = CustomerInput {
            kind: self.kind,
            name: Some(self.name.clone()),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            organization: self.organization,
            email: self.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: self.phone.as_ref().map(|p| p.as_str().to_owned()),
            external_ids: self.external_ids.clone(),
            country: self.location.country.map(|c| c.code().to_owned()),
            region: self.location.region.clone(),
            city: self.location.city.clone(),
            birth_date: self.demographics.birth_date,
            gender: self.demographics.gender.clone(),
            lifecycle: Some(self.lifecycle),
            tags: self.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            attributes: self.attributes.clone(),
            owner: self.owner.clone(),
            ..CustomerInput::default()
        };
        let mut patch = patch;
        let mut c = Checker::default();
        let mut consents = Consents {
            current: self.consents.clone(),
            history: self.consent_history.clone(),
        };
        let mut changes = patch.consents.take().unwrap_or_default();
        if let Some(m) = patch.marketing_consent {
            Consents::marketing(&mut c, &consents.current, m, &mut changes);
        }
        consents.record(&mut c, "consents", &changes, patch.consent_source, now);
        if patch.kind.is_some_and(|k| k != self.kind) {
            let kind = match self.kind {
                CustomerKind::Person => "person",
                CustomerKind::Organization => "organization",
            };
            c.fail("kind", format!("{kind} (a customer's kind cannot change)"));
        }
        let location = patch.location.take().unwrap_or_default();
        nest(
            &mut c,
            &mut patch.country,
            location.country,
            ("country", "location.country"),
        );
        nest(
            &mut c,
            &mut patch.region,
            location.region,
            ("region", "location.region"),
        );
        nest(
            &mut c,
            &mut patch.city,
            location.city,
            ("city", "location.city"),
        );
        let demographics = patch.demographics.take().unwrap_or_default();
        nest(
            &mut c,
            &mut patch.birth_date,
            demographics.birth_date,
            ("birth_date", "demographics.birth_date"),
        );
        nest(
            &mut c,
            &mut patch.gender,
            demographics.gender,
            ("gender", "demographics.gender"),
        );
        if let Some(tags) = patch.tags.take() {
            if patch.add_tags.is_empty() && patch.remove_tags.is_empty() {
                input.tags = tags;
            } else {
                c.fail("tags", "tags (every tag) or add_tags/remove_tags, not both");
            }
        }
        if let Some(attributes) = patch.attributes.take() {
            if patch.set_attributes.is_empty() && patch.remove_attributes.is_empty() {
                input.attributes = attributes;
            } else {
                c.fail(
                    "attributes",
                    "attributes (every one) or set_attributes/remove_attributes, not both",
                );
            }
        }
        if let Some(ids) = patch.external_ids.take() {
            if patch.add_external_ids.is_empty() {
                input.external_ids = ids;
            } else {
                c.fail(
                    "external_ids",
                    "external_ids (every one) or add_external_ids, not both",
                );
            }
        }
        let names_changed = patch.first_name.is_some() || patch.last_name.is_some();
        let derived = self.name.as_str()
            == full_name(self.first_name.as_deref(), self.last_name.as_deref()).unwrap_or_default();
        if (names_changed || derived) && patch.name.is_none() {
            // Re-derive the display name from the (new) first/last names. A derived name is never
            // checked as an explicit one: two 200-character parts make it longer than one may be.
            input.name = None;
        }
        set(&mut input.name, patch.name);
        set(&mut input.first_name, patch.first_name);
        set(&mut input.last_name, patch.last_name);
        set(&mut input.organization, patch.organization);
        set(&mut input.email, patch.email);
        set(&mut input.phone, patch.phone);
        set(&mut input.country, patch.country);
        set(&mut input.region, patch.region);
        set(&mut input.city, patch.city);
        set(&mut input.birth_date, patch.birth_date);
        set(&mut input.gender, patch.gender);
        set(&mut input.owner, patch.owner);
        if let Some(l) = patch.lifecycle {
            input.lifecycle = Some(l);
        }
        for x in patch.add_external_ids {
            input.external_ids.retain(|e| e.source != x.source);
            input.external_ids.push(x);
        }
        for t in &patch.remove_tags {
            if let Some(tag) = c.take(Tag::parse("remove_tags", t)) {
                input
                    .tags
                    .retain(|x| x.trim().to_lowercase() != tag.as_str());
            }
        }
        input.tags.extend(patch.add_tags);
        for k in patch.remove_attributes {
            input.attributes.remove(&k);
        }
        input.attributes.extend(patch.set_attributes);
        c.finish()?;
        let mut next = Customer::new(self.id, input, now)?;
        if self.kind == CustomerKind::Organization && next.organization.is_some() {
            return Err(ValidationError::field(
                "organization",
                "no parent organization for an organization",
            ));
        }
        next.created_at = self.created_at;
        next.version = self.version;
        next.marketing_consent =
            Consents::granted(&consents.current, ConsentChannel::Email, MARKETING);
        next.consents = consents.current;
        next.consent_history = consents.history;
        let changed = self.diff(&next);
        if !changed.is_empty() {
            next.version = self.version + 1;
            next.updated_at = now;
            *self = next;
        }
        Ok(changed)
    }

    /// What the event log records of the consent changes from `old` (none for a new customer)
    /// to `self`: one change per channel and purpose, `consents.<channel>.<purpose>`.
    pub fn consent_changes(&self, old: Option<&Customer>) -> Vec<super::FieldChange> {
        Consents::changes(old.map_or(&[], |o| &o.consents), &self.consents)
    }

    /// Whether the customer may be contacted on `channel` for `purpose`: its record of that
    /// pair says granted.
    pub fn may_contact(&self, channel: ConsentChannel, purpose: &str) -> bool {
        Consents::granted(&self.consents, channel, purpose)
    }

    /// Names of the fields that differ between `self` and `other`.
    pub fn diff(&self, other: &Customer) -> Vec<&'static str> {
        let mut out = Vec::new();
        macro_rules! cmp {
            ($($f:ident),*) => { $( if self.$f != other.$f { out.push(stringify!($f)); } )* };
        }
        cmp!(
            kind,
            name,
            first_name,
            last_name,
            organization,
            email,
            phone,
            external_ids,
            location,
            demographics,
            lifecycle,
            tags,
            attributes,
            owner,
            marketing_consent,
            consents
        );
        out
    }
}

impl CustomerInput {
    /// A new customer from a change (the fields it sets), for an upsert that found no one to
    /// change: whole lists or their additions, nested or flat location and demographics.
    pub fn from_patch(patch: CustomerPatch) -> Self {
        let location = patch.location.unwrap_or_default();
        let demographics = patch.demographics.unwrap_or_default();
        let either = |flat: Option<Option<String>>, nested: Option<Option<String>>| {
            flat.or(nested).flatten()
        };
        let mut external_ids = patch.external_ids.unwrap_or_default();
        external_ids.extend(patch.add_external_ids);
        let mut tags = patch.tags.unwrap_or_default();
        tags.extend(patch.add_tags);
        let mut attributes = patch.attributes.unwrap_or_default();
        attributes.extend(patch.set_attributes);
        Self {
            kind: patch.kind.unwrap_or_default(),
            name: patch.name.flatten(),
            first_name: patch.first_name.flatten(),
            last_name: patch.last_name.flatten(),
            organization: patch.organization.flatten(),
            email: patch.email.flatten(),
            phone: patch.phone.flatten(),
            external_ids,
            country: either(patch.country, location.country),
            region: either(patch.region, location.region),
            city: either(patch.city, location.city),
            birth_date: patch.birth_date.or(demographics.birth_date).flatten(),
            gender: either(patch.gender, demographics.gender),
            lifecycle: patch.lifecycle,
            tags,
            attributes,
            owner: patch.owner.flatten(),
            marketing_consent: patch.marketing_consent.unwrap_or(false),
            consents: patch.consents.unwrap_or_default(),
            consent_history: None,
            consent_source: patch.consent_source,
            ..Self::default()
        }
    }
}

/// A person's display name from their first and last names, if they have either.
fn full_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let full = [first, last]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!full.is_empty()).then_some(full)
}

fn set<T>(slot: &mut Option<T>, patch: Option<Option<T>>) {
    if let Some(v) = patch {
        *slot = v;
    }
}

fn parse_tags(c: &mut Checker, raw: &[String]) -> BTreeSet<Tag> {
    let mut tags = BTreeSet::new();
    for (i, t) in raw.iter().enumerate() {
        if let Some(tag) = c.take(Tag::parse(&format!("tags[{i}]"), t)) {
            tags.insert(tag);
        }
    }
    if tags.len() > 100 {
        c.fail("tags", "at most 100 tags");
    }
    tags
}

fn check_attributes(
    c: &mut Checker,
    attrs: BTreeMap<String, AttributeValue>,
) -> BTreeMap<String, AttributeValue> {
    if attrs.len() > 200 {
        c.fail("attributes", "at most 200 attributes");
    }
    let mut out = BTreeMap::new();
    for (k, v) in attrs {
        let field = format!("attributes.{k}");
        if c.take(attribute_key(&field, &k)).is_some() && c.take(v.validate(&field)).is_some() {
            out.insert(k, v);
        }
    }
    out
}

/// A change to a customer: a field left out is left alone, a field sent as `null` is cleared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerPatch {
    /// Display name.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub name: Option<Option<String>>,
    /// First name.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub first_name: Option<Option<String>>,
    /// Last name.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub last_name: Option<Option<String>>,
    /// Organization.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub organization: Option<Option<CustomerId>>,
    /// Email.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub email: Option<Option<String>>,
    /// Phone.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub phone: Option<Option<String>>,
    /// Country.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub country: Option<Option<String>>,
    /// Region.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub region: Option<Option<String>>,
    /// City.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub city: Option<Option<String>>,
    /// Date of birth.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub birth_date: Option<Option<Date>>,
    /// Gender.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub gender: Option<Option<String>>,
    /// Owner.
    #[serde(deserialize_with = "super::patch::double_option")]
    pub owner: Option<Option<String>>,
    /// Lifecycle stage.
    pub lifecycle: Option<LifecycleStage>,
    /// Marketing consent: records a change of the (email, marketing) consent.
    pub marketing_consent: Option<bool>,
    /// Consent records to set, one per channel and purpose; pairs left out are left alone (a
    /// GET's records sent back unchanged change nothing).
    pub consents: Option<Vec<ConsentInput>>,
    /// Read-only: ignored.
    pub consent_history: Option<Vec<Consent>>,
    /// The source of consent records that name none: set by where the change came from.
    #[serde(skip)]
    pub consent_source: ConsentSource,
    /// External ids to add (replacing one of the same source).
    pub add_external_ids: Vec<ExternalId>,
    /// Tags to add.
    pub add_tags: Vec<String>,
    /// Tags to remove.
    pub remove_tags: Vec<String>,
    /// Attributes to set.
    pub set_attributes: BTreeMap<String, AttributeValue>,
    /// Attributes to remove.
    pub remove_attributes: Vec<String>,
    /// Location, in the shape a GET returns (or the flat `country`, `region`, `city`).
    pub location: Option<LocationPatch>,
    /// Demographics, in the shape a GET returns (or the flat `birth_date`, `gender`).
    pub demographics: Option<DemographicsPatch>,
    /// Every tag, replacing the current ones (instead of `add_tags` / `remove_tags`).
    pub tags: Option<Vec<String>>,
    /// Every custom attribute, replacing the current ones (instead of `set_attributes` /
    /// `remove_attributes`).
    pub attributes: Option<BTreeMap<String, AttributeValue>>,
    /// Every external id, replacing the current ones (instead of `add_external_ids`).
    pub external_ids: Option<Vec<ExternalId>>,
    /// Read-only, as a GET returns it: must be the customer's kind, which cannot change.
    pub kind: Option<CustomerKind>,
    /// Read-only: must be the id of the customer changed.
    pub id: Option<CustomerId>,
    /// Read-only: like `If-Match`, the version the change expects.
    pub version: Option<u64>,
    /// Read-only: ignored.
    pub created_at: Option<Timestamp>,
    /// Read-only: ignored.
    pub updated_at: Option<Timestamp>,
}
