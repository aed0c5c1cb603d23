//! Customers: create, read, change (at a version), erase, search, merge, timeline.

use crate::model::{
    Actor, AttributeValue, ConsentChannel, Customer, CustomerId, CustomerInput, CustomerPatch,
    Email, Interaction, Phone, TenantSlug, Timestamp, ValidationError, consent_purpose,
};
use crate::model::{Date, FieldDefinition, FieldType};
use crate::store::{
    CustomerFilter, IdempotencyKey, Once, Op, Output, Page, PageRequest, Store, one, unexpected,
};
use crate::store::{Error, Result};

use super::access::{Access, filtered_page};

/// How to find customers: an exact lookup by a unique value, or a filtered list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerQuery {
    /// The customer with this email (at most one).
    Email(Email),
    /// The customer with this phone (at most one).
    Phone(Phone),
    /// The customer with this external id (at most one).
    ExternalId {
        /// Source system.
        source: String,
        /// Id there.
        id: String,
    },
    /// A page of a list.
    List(CustomerFilter),
}

/// A condition a found customer must meet besides the list it is read from.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// What a [`CustomerQuery`] would find: this email, phone, external id or filter.
    Is(CustomerQuery),
    /// Marketing consent given (true) or not (false).
    Consent(bool),
    /// May be contacted on this channel for this purpose: its consent record says granted.
    MayContact(ConsentChannel, String),
    /// Changed at or after this time.
    UpdatedSince(Timestamp),
    /// Created at or after this time.
    CreatedSince(Timestamp),
    /// Created before this time.
    CreatedBefore(Timestamp),
    /// Text contained in the name, email, phone or an external id: see [`Condition::text`].
    Text {
        /// The query, [`fold`]ed.
        folded: String,
        /// Its digits, looked for in the phone when there are three or more.
        digits: String,
    },
    /// Changed before this time.
    UpdatedBefore(Timestamp),
    /// Text contained in the name ([`fold`]ed).
    NameContains(String),
    /// The field has a value.
    Has(Field),
    /// The condition does not hold.
    Not(Box<Condition>),
    /// A custom attribute compares with a value (or has one, for [`AttributeOp::Has`]).
    Attribute {
        /// The attribute's key.
        key: String,
        /// How.
        op: AttributeOp,
        /// With what (none for [`AttributeOp::Has`]).
        value: Option<AttributeMatch>,
    },
    /// Every one holds.
    All(Vec<Condition>),
    /// At least one holds.
    Any(Vec<Condition>),
}

/// How a [`Condition::Attribute`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeOp {
    /// Equal (a multi-select: holds the value).
    Eq,
    /// At least.
    Gte,
    /// Less than.
    Lt,
    /// Has a value.
    Has,
}

/// A value a custom attribute is compared with, of its field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeMatch {
    /// Text, select and multi-select fields.
    Text(String),
    /// Numbers.
    Number(f64),
    /// Booleans.
    Boolean(bool),
    /// Dates.
    Date(Date),
    /// Money: the amount in minor units, whatever the currency.
    Minor(i64),
}

impl AttributeMatch {
    /// `raw` as a value of `def`'s type; Err says what was expected.
    pub fn value(def: &FieldDefinition, raw: &str) -> std::result::Result<Self, String> {
        let raw = raw.trim();
        match def.field_type {
            FieldType::Text => Ok(Self::Text(raw.to_owned())),
            FieldType::Select | FieldType::MultiSelect => {
                if def.options.iter().any(|o| o == raw) {
                    Ok(Self::Text(raw.to_owned()))
                } else {
                    Err(format!("one of the options: {}", def.options.join(", ")))
                }
            }
            FieldType::Number => raw
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(Self::Number)
                .ok_or_else(|| "a number".to_owned()),
            FieldType::Boolean => match raw {
                "true" => Ok(Self::Boolean(true)),
                "false" => Ok(Self::Boolean(false)),
                _ => Err("true or false".to_owned()),
            },
            FieldType::Date => Date::parse("value", raw)
                .map(Self::Date)
                .map_err(|_| "a date as YYYY-MM-DD".to_owned()),
            FieldType::Money => raw
                .parse::<i64>()
                .map(Self::Minor)
                .map_err(|_| "an amount in minor units (1234 for 12.34)".to_owned()),
        }
    }

    /// Whether `gte` and `lt` compare it.
    pub fn ordered(&self) -> bool {
        matches!(self, Self::Number(_) | Self::Date(_) | Self::Minor(_))
    }

    /// Whether `v` compares to it as `op` says.
    pub fn holds(&self, op: AttributeOp, v: &AttributeValue) -> bool {
        use std::cmp::Ordering;
        let ord = match (self, v) {
            (Self::Text(a), AttributeValue::Text(b)) => Some(b.as_str().cmp(a.as_str())),
            (Self::Text(a), AttributeValue::List(items)) => {
                return op == AttributeOp::Eq && items.contains(a);
            }
            (Self::Number(a), AttributeValue::Number(b)) => b.partial_cmp(a),
            (Self::Boolean(a), AttributeValue::Boolean(b)) => Some(b.cmp(a)),
            (Self::Date(a), AttributeValue::Date(b)) => Some(b.cmp(a)),
            (Self::Minor(a), AttributeValue::Money(m)) => Some(m.minor.cmp(a)),
            _ => None,
        };
        match (op, ord) {
            (AttributeOp::Has, _) => true,
            (_, None) => false,
            (AttributeOp::Eq, Some(o)) => o == Ordering::Equal,
            (AttributeOp::Gte, Some(o)) => o != Ordering::Less,
            (AttributeOp::Lt, Some(o)) => o == Ordering::Less,
        }
    }
}

/// An optional field of a customer, for [`Condition::Has`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `email`.
    Email,
    /// `phone`.
    Phone,
    /// `owner`.
    Owner,
    /// `organization`.
    Organization,
}

/// Text as a search compares it: compatibility-decomposed (NFKD), without combining marks
/// (accents), lowercase. "Émile" and "EMILE" fold to "emile".
pub fn fold(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    use unicode_normalization::char::is_combining_mark;
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

impl Condition {
    /// The text condition of a query `q`: `None` when it is empty once folded or longer than
    /// 100 characters (a raw text of more than 400 is refused before folding, which may
    /// lengthen it).
    pub fn text(q: &str) -> Option<Self> {
        let q = q.trim();
        if q.chars().count() > 400 {
            return None;
        }
        let folded = fold(q);
        if folded.is_empty() || folded.chars().count() > 100 {
            return None;
        }
        let digits = folded.chars().filter(char::is_ascii_digit).collect();
        Some(Self::Text { folded, digits })
    }

    /// The condition a `consent` filter's value states: `true` or `false` (marketing consent,
    /// as `marketing_consent`), or `channel:purpose` (e.g. `email:marketing`: may be contacted
    /// by email for marketing). `None` when the value is neither.
    pub fn consent(value: &str) -> Option<Self> {
        match value.trim() {
            "true" => Some(Self::Consent(true)),
            "false" => Some(Self::Consent(false)),
            v => {
                let (channel, purpose) = v.split_once(':')?;
                let channel = ConsentChannel::parse("consent", channel).ok()?;
                let purpose = consent_purpose("consent", purpose).ok()?;
                Some(Self::MayContact(channel, purpose))
            }
        }
    }

    /// What [`Condition::consent`] accepts, for errors.
    pub const CONSENT_VALUES: &str =
        "true, false, or channel:purpose (e.g. email:marketing; channels: email, sms, phone, post)";

    /// Whether `c` meets it.
    pub fn matches(&self, c: &Customer) -> bool {
        match self {
            // As a lookup by email finds it: in any case.
            Self::Is(CustomerQuery::Email(e)) => {
                c.email.as_ref().map(Email::identity) == Some(e.identity())
            }
            Self::Is(CustomerQuery::Phone(p)) => c.phone.as_ref() == Some(p),
            Self::Is(CustomerQuery::ExternalId { source, id }) => c
                .external_ids
                .iter()
                .any(|x| &x.source == source && &x.id == id),
            Self::Is(CustomerQuery::List(f)) => match f {
                CustomerFilter::Tag(t) => c.tags.contains(t),
                CustomerFilter::Lifecycle(l) => c.lifecycle == *l,
                CustomerFilter::Owner(o) => c.owner.as_deref() == Some(o.as_str()),
                CustomerFilter::Organization(o) => c.organization == Some(*o),
                // As the name index folds them.
                CustomerFilter::NamePrefix(p) => c
                    .name
                    .trim()
                    .to_lowercase()
                    .starts_with(&p.trim().to_lowercase()),
                CustomerFilter::EmailPrefix(p) => c
                    .email
                    .as_ref()
                    .is_some_and(|e| e.as_str().starts_with(p.trim())),
                _ => true,
            },
            Self::Consent(given) => c.marketing_consent == *given,
            Self::MayContact(channel, purpose) => c.may_contact(*channel, purpose),
            Self::UpdatedSince(t) => c.updated_at >= *t,
            Self::CreatedSince(t) => c.created_at >= *t,
            Self::CreatedBefore(t) => c.created_at < *t,
            Self::Text { folded: q, digits } => {
                fold(&c.name).contains(q.as_str())
                    || c.email
                        .as_ref()
                        .is_some_and(|e| fold(e.as_str()).contains(q.as_str()))
                    || c.external_ids
                        .iter()
                        .any(|x| fold(&x.id).contains(q.as_str()))
                    || (digits.len() >= 3
                        && c.phone
                            .as_ref()
                            .is_some_and(|p| p.as_str().contains(digits.as_str())))
            }
            Self::UpdatedBefore(t) => c.updated_at < *t,
            Self::NameContains(q) => fold(&c.name).contains(q.as_str()),
            Self::Has(Field::Email) => c.email.is_some(),
            Self::Has(Field::Phone) => c.phone.is_some(),
            Self::Has(Field::Owner) => c.owner.is_some(),
            Self::Has(Field::Organization) => c.organization.is_some(),
            Self::Attribute { key, op, value } => {
                c.attributes.get(key).is_some_and(|v| match value {
                    None => true,
                    Some(m) => m.holds(*op, v),
                })
            }
            Self::Not(k) => !k.matches(c),
            Self::All(ks) => ks.iter().all(|k| k.matches(c)),
            Self::Any(ks) => ks.iter().any(|k| k.matches(c)),
        }
    }
}

/// The list to read `filter` from for `access`: a member who sees only their own records reads
/// their owner index alone; `None` when the caller may read nothing of it.
fn visible_list(access: &Access, filter: &CustomerFilter) -> Option<CustomerFilter> {
    let Access::Limited(v) = access else {
        return Some(filter.clone());
    };
    match (filter, v.only_owner()) {
        (CustomerFilter::All, Some(me)) => Some(CustomerFilter::Owner(me.to_owned())),
        (CustomerFilter::Owner(o), _) if !v.reads(Some(o)) => None,
        (f, _) => Some(f.clone()),
    }
}

/// Finds customers read from `query`'s list that meet every one of `conditions`, among those the
/// caller may read. The list is read through: a page reads at most
/// [`MAX_SCANNED_PER_PAGE`](super::access::MAX_SCANNED_PER_PAGE) customers, so a rare
/// combination answers a short page (even an empty one) with a cursor to go on from.
pub fn search_where(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    query: &CustomerQuery,
    conditions: &[Condition],
    page: &PageRequest,
) -> Result<Page<Customer>> {
    if conditions.is_empty() {
        return search(store, tenant, access, query, page);
    }
    let meets =
        |c: &Customer| access.reads(c.owner.as_deref()) && conditions.iter().all(|k| k.matches(c));
    match query {
        CustomerQuery::List(filter) => {
            let Some(filter) = visible_list(access, filter) else {
                return Ok(Page {
                    items: Vec::new(),
                    next: None,
                });
            };
            filtered_page(
                page,
                |p| store.customers(tenant, &filter, p),
                |c| Ok(meets(c)),
            )
        }
        single => {
            let mut found = search(store, tenant, access, single, page)?;
            found.items.retain(meets);
            Ok(found)
        }
    }
}

/// Customers a count may read: beyond it the count is a lower bound.
pub const MAX_COUNTED: usize = 10_000;

/// How many customers [`search_where`] would find over all pages, reading at most
/// [`MAX_COUNTED`]; `true` when the count is exact (the list ended within the budget).
pub fn count_where(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    query: &CustomerQuery,
    conditions: &[Condition],
) -> Result<(u64, bool)> {
    let meets =
        |c: &Customer| access.reads(c.owner.as_deref()) && conditions.iter().all(|k| k.matches(c));
    let CustomerQuery::List(filter) = query else {
        let found = search(store, tenant, access, query, &PageRequest::first(1))?;
        return Ok((found.items.iter().filter(|c| meets(c)).count() as u64, true));
    };
    let Some(filter) = visible_list(access, filter) else {
        return Ok((0, true));
    };
    let (mut count, mut read) = (0u64, 0usize);
    let mut page = PageRequest::first(1000);
    loop {
        let got = store.customers(tenant, &filter, &page)?;
        read += got.items.len();
        count += got.items.iter().filter(|c| meets(c)).count() as u64;
        match got.next {
            None => return Ok((count, true)),
            Some(_) if read >= MAX_COUNTED => return Ok((count, false)),
            Some(next) => page.after = Some(next),
        }
    }
}

/// Writes `ops` (one op) once per key when a key is given.
pub(crate) fn write_one(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    op: Op,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Output>> {
    let once = match key {
        Some(k) => store.write_once(tenant, actor, vec![op], k)?,
        None => Once::fresh(store.write(tenant, actor, vec![op])?),
    };
    Ok(Once {
        value: one(once.value)?,
        replayed: once.replayed,
    })
}

fn customer(o: Output) -> Result<Customer> {
    match o {
        Output::Customer(c) => Ok(c),
        other => Err(unexpected(&other)),
    }
}

/// Creates a customer; a limited user's new customer is theirs unless they give it to someone
/// they may (see [`Access::owner_for_new`]).
pub fn create(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    access: &Access,
    mut input: CustomerInput,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Customer>> {
    input.owner = access.owner_for_new(input.owner.take())?;
    // Validated here rather than on the commit thread every tenant shares (an invalid number is
    // refused by the write as before).
    if let Some(raw) = input.phone.as_deref() {
        let _ = Phone::validate_ahead(raw, input.country.as_deref());
    }
    let once = write_one(store, tenant, actor, Op::CreateCustomer(input), key)?;
    Ok(Once {
        value: customer(once.value)?,
        replayed: once.replayed,
    })
}

/// A customer by id (missing too when the caller may not read it).
pub fn get(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    id: CustomerId,
) -> Result<Customer> {
    let c = store
        .customer(tenant, id)?
        .ok_or_else(|| Error::not_found("customer", id))?;
    access.readable_customer(c)
}

/// [`get`], awaited rather than run on a blocking thread, when the store can answer so; `None`
/// means "run [`get`]".
pub fn get_nonblocking(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: Access,
    id: CustomerId,
) -> Option<impl Future<Output = Result<Customer>> + Send + 'static> {
    let read = store.customer_nonblocking(tenant, id)?;
    Some(async move {
        let c = read
            .await?
            .ok_or_else(|| Error::not_found("customer", id))?;
        access.readable_customer(c)
    })
}

/// The customer at the version the caller read (`None`: the current one), checked writable.
fn for_change(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    id: CustomerId,
    expected_version: Option<u64>,
) -> Result<Customer> {
    let c = store
        .customer(tenant, id)?
        .ok_or_else(|| Error::not_found("customer", id))?;
    access.check_customer_write(&c)?;
    if let Some(v) = expected_version.filter(|v| *v != c.version) {
        return Err(Error::Conflict {
            entity: "customer",
            id: id.to_string(),
            expected: v,
            actual: c.version,
        });
    }
    Ok(c)
}

/// Changes a customer. With `expected_version`, fails with a conflict unless the customer is still
/// at that version; without, applies the change to the current version.
///
/// The write is made at the version the access check read, so a record reassigned in between
/// fails with a conflict rather than being changed by someone who may no longer do so.
pub fn update(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    access: &Access,
    id: CustomerId,
    expected_version: Option<u64>,
    patch: CustomerPatch,
) -> Result<Customer> {
    // What a GET returned may be sent back as is: its id must be this customer's, and its
    // version is the one expected (like If-Match, which it must then agree with).
    if patch.id.is_some_and(|other| other != id) {
        return Err(
            ValidationError::field("id", format!("{id}, this customer's id (read-only)")).into(),
        );
    }
    let expected_version = super::expected_version(expected_version, patch.version)?;
    let version = match (access, expected_version) {
        // Full access: the store checks the version; read only to learn the current one.
        (Access::Full, Some(v)) => v,
        (Access::Full, None) => get(store, tenant, access, id)?.version,
        (Access::Limited(_), _) => {
            let c = for_change(store, tenant, access, id, expected_version)?;
            if let Some(owner) = &patch.owner {
                access.check_owner_change(c.owner.as_deref(), owner.as_deref())?;
            }
            c.version
        }
    };
    store.update_customer(tenant, actor, id, version, patch)
}

/// Erases a customer with their interactions and deals (right to erasure).
pub fn erase(store: &dyn Store, tenant: &TenantSlug, actor: &Actor, id: CustomerId) -> Result<()> {
    store.erase_customer(tenant, actor, id)
}

/// Finds customers, among those the caller may read.
pub fn search(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    query: &CustomerQuery,
    page: &PageRequest,
) -> Result<Page<Customer>> {
    let single = |c: Option<Customer>| Page {
        items: c
            .into_iter()
            .filter(|c| access.reads(c.owner.as_deref()))
            .collect(),
        next: None,
    };
    if let (CustomerQuery::List(filter), Access::Limited(v)) = (query, access) {
        let Some(filter) = visible_list(access, filter) else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        return filtered_page(
            page,
            |p| store.customers(tenant, &filter, p),
            |c| Ok(v.reads(c.owner.as_deref())),
        );
    }
    match query {
        CustomerQuery::Email(e) => Ok(single(store.customer_by_email(tenant, e)?)),
        CustomerQuery::Phone(p) => Ok(single(store.customer_by_phone(tenant, p)?)),
        CustomerQuery::ExternalId { source, id } => {
            Ok(single(store.customer_by_external_id(tenant, source, id)?))
        }
        CustomerQuery::List(filter) => store.customers(tenant, filter, page),
    }
}

/// Merges `duplicate` into `survivor` (the rule is on [`Customer::merge`]); returns the survivor.
///
/// A limited user must be able to change both.
pub fn merge(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    access: &Access,
    survivor: CustomerId,
    duplicate: CustomerId,
    expected_version: Option<u64>,
) -> Result<Customer> {
    let expected_version = if access.is_full() {
        expected_version
    } else {
        for_change(store, tenant, access, duplicate, None)?;
        Some(for_change(store, tenant, access, survivor, expected_version)?.version)
    };
    let op = Op::MergeCustomers {
        survivor,
        duplicate,
        expected_version,
    };
    customer(write_one(store, tenant, actor, op, None)?.value)
}

/// A customer's interactions, newest first.
pub fn timeline(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    id: CustomerId,
    page: &PageRequest,
) -> Result<Page<Interaction>> {
    get(store, tenant, access, id)?;
    store.timeline(tenant, id, page)
}

/// Records one batch may carry.
pub const MAX_BATCH: usize = 1_000;

/// Refuses a batch of more than [`MAX_BATCH`] records.
pub(crate) fn check_batch(records: usize) -> Result<()> {
    if records > MAX_BATCH {
        return Err(ValidationError::field(
            "records",
            format!("at most {MAX_BATCH} records per batch (send more batches)"),
        )
        .into());
    }
    Ok(())
}

/// Upserts each record on its own (one record's failure leaves the others), all in one commit:
/// matched by id, external ids, email or phone, changed or created.
pub fn upsert_batch(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    records: Vec<CustomerPatch>,
) -> Result<Vec<Result<Output>>> {
    check_batch(records.len())?;
    let ops = records
        .into_iter()
        .map(|r| Op::UpsertCustomer(Box::new(r)))
        .collect();
    store.write_each(tenant, actor, ops)
}
