//! `POST /v1/tenants/{tenant}/customers/search`: the search of `GET .../customers` as JSON, with
//! OR groups of filters (modelled on HubSpot's `filterGroups`) and a choice of fields.
//!
//! A search is planned as the GET one: one group reads the list of its most selective indexed
//! filter (or the list of the order asked for) and checks the rest on each customer read;
//! several groups read the list of the order asked for and check each customer against the
//! groups. Bounded like the GET: at most [`MAX_GROUPS`] groups of [`MAX_FILTERS`] filters,
//! [`MAX_VALUES`] values for `in`, and a page reads at most 5,000 customers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::openapi::{ArrayBuilder, Ref, RefOr, Schema};

use super::auth::ScopedRead;
use super::customers::{choose_driver, search_and_count};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, PageBody, json, page_request};
use super::{AppState, Routes};
use crate::model::{
    CustomerId, Email, FieldDefinition, FieldError, FieldObject, LifecycleStage, Phone, Tag,
    Timestamp, UserId, ValidationError,
};
use crate::service::customers::{
    AttributeMatch, AttributeOp, Condition, CustomerQuery, Field, fold,
};
use crate::store::CustomerFilter;

/// The most filter groups (OR) in one search.
pub const MAX_GROUPS: usize = 5;
/// The most filters (AND) in one group.
pub const MAX_FILTERS: usize = 10;
/// The most values of an `in` or `not_in` filter.
pub const MAX_VALUES: usize = 100;

/// The search route.
pub fn routes() -> Routes {
    Routes::new().post("/v1/tenants/{tenant}/customers/search", search)
}

/// A search: customers matching any of `filter_groups` (each: all of its filters) and `q`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// 0 to 5 groups: a customer matches when it meets every filter of at least one group.
    /// None: every customer.
    #[serde(default)]
    pub filter_groups: Vec<FilterGroup>,
    /// Text contained in the name, email, phone or an external id, ignoring case and accents
    /// (1 to 100 characters), on top of the groups.
    pub q: Option<String>,
    /// The order. Default: the order of the most selective indexed filter of a single group
    /// (oldest first for most), else oldest first.
    pub sort: Option<Sort>,
    /// Instead of `sort`: the key of a sortable custom field. Only customers with a value are
    /// listed, in the order of that value (then id), read from its index.
    pub sort_field: Option<String>,
    /// Page size (1 to 1000, default 50).
    pub limit: Option<usize>,
    /// The previous page's `next_cursor` (with the same search).
    pub cursor: Option<String>,
    /// Only these fields of each customer (and always `id`); default: all.
    pub fields: Option<Vec<String>>,
    /// Also count every match (`total`, `total_exact`), reading at most 10,000 customers.
    #[serde(default)]
    pub total: bool,
}

/// Filters that must all hold.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterGroup {
    /// 1 to 10 filters.
    pub filters: Vec<Filter>,
}

/// One filter: a property, an operator and its value (or values).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// What is compared.
    pub property: Property,
    /// How: `eq`, `neq` (email, phone, tag, lifecycle, owner, organization, consent); `in`,
    /// `not_in` (the same, with `values`); `starts_with` (name, email); `contains` (name);
    /// `gte`, `lt` (created_at, updated_at, RFC 3339); `has_property`, `not_has_property`
    /// (email, phone, owner, organization; no value).
    pub operator: Operator,
    /// The value, as text (`true`/`false` or `channel:purpose` such as `email:marketing` for
    /// consent, `me` as an owner with a user key).
    pub value: Option<String>,
    /// For `in` and `not_in`: 1 to 100 values.
    pub values: Option<Vec<String>>,
    /// With `property: attribute`: the key of a filterable custom field of customers.
    pub key: Option<String>,
}

/// A customer property a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Property {
    /// The email (any case).
    Email,
    /// The phone.
    Phone,
    /// A tag.
    Tag,
    /// The lifecycle stage.
    Lifecycle,
    /// The owner (a user id).
    Owner,
    /// The organization (its id).
    Organization,
    /// Consent: marketing consent (`true`/`false`), or whether the customer may be contacted on
    /// a channel for a purpose (`email:marketing`).
    Consent,
    /// The display name.
    Name,
    /// When created.
    CreatedAt,
    /// When last changed.
    UpdatedAt,
    /// A custom field (named by `key`): `eq`, `neq`, `in`, `not_in` (a multi-select holds the
    /// value), `gte`, `lt` (number, date, money amount in minor units), `has_property`,
    /// `not_has_property`.
    Attribute,
}

/// A filter's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Equal.
    Eq,
    /// Not equal (a customer without the property is not equal).
    Neq,
    /// Equal to one of `values`.
    In,
    /// Equal to none of `values`.
    NotIn,
    /// Starts with (name: ignoring case).
    StartsWith,
    /// Contains (ignoring case and accents).
    Contains,
    /// At or after.
    Gte,
    /// Before.
    Lt,
    /// Has a value.
    HasProperty,
    /// Has no value.
    NotHasProperty,
}

/// The order of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Oldest first.
    Created,
    /// By name.
    Name,
    /// By email.
    Email,
}

impl Sort {
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Name => "name",
            Self::Email => "email",
        }
    }
}

/// The fields of a customer's JSON, which `fields` may name.
pub const CUSTOMER_FIELDS: &[&str] = &[
    "id",
    "kind",
    "name",
    "first_name",
    "last_name",
    "organization",
    "email",
    "phone",
    "external_ids",
    "location",
    "demographics",
    "lifecycle",
    "tags",
    "attributes",
    "owner",
    "marketing_consent",
    "consents",
    "consent_history",
    "created_at",
    "updated_at",
    "version",
];

fn items_schema() -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("CustomerFields"))
        .into()
}

/// A page of a search: customers (with the fields asked for), and the count when asked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchPage {
    /// The customers: each a customer's JSON, with only the fields asked for and `id`.
    #[schema(schema_with = items_schema)]
    pub items: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Pass as `cursor` (with the same search) to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// With `total`: how many customers match, over all pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// With `total`: whether `total` is exact (false: at least that many).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_exact: Option<bool>,
}

/// A 422 naming the offending part of the request.
fn bad(field: String, expected: impl Into<String>) -> ApiError {
    let expected = expected.into();
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
        format!("{field}: expected {expected}"),
    );
    e.errors.push(FieldError { field, expected });
    e
}

/// Turns a model validation error into a 422 at `path`.
fn invalid(path: &str) -> impl Fn(ValidationError) -> ApiError + '_ {
    move |e| {
        let expected = e
            .errors
            .first()
            .map_or_else(|| e.to_string(), |f| f.expected.clone());
        bad(path.to_owned(), expected)
    }
}

/// The condition `property = value`.
fn equal(property: Property, value: &str, path: &str, me: Option<UserId>) -> ApiResult<Condition> {
    Ok(match property {
        Property::Email => Condition::Is(CustomerQuery::Email(
            Email::parse("value", value).map_err(invalid(path))?,
        )),
        Property::Phone => Condition::Is(CustomerQuery::Phone(
            Phone::parse("value", value, None).map_err(invalid(path))?,
        )),
        Property::Tag => Condition::Is(CustomerQuery::List(CustomerFilter::Tag(
            Tag::parse("value", value).map_err(invalid(path))?,
        ))),
        Property::Lifecycle => Condition::Is(CustomerQuery::List(CustomerFilter::Lifecycle(
            LifecycleStage::parse("value", value).map_err(invalid(path))?,
        ))),
        Property::Owner => {
            let owner = match (value.trim(), me) {
                ("me", Some(me)) => me.to_string(),
                ("me", None) => {
                    return Err(bad(path.to_owned(), "a user id: `me` needs a user key"));
                }
                (o, _) if o.is_empty() || o.chars().count() > 200 => {
                    return Err(bad(path.to_owned(), "a user id"));
                }
                (o, _) => o.to_owned(),
            };
            Condition::Is(CustomerQuery::List(CustomerFilter::Owner(owner)))
        }
        Property::Organization => Condition::Is(CustomerQuery::List(CustomerFilter::Organization(
            CustomerId::parse("value", value).map_err(invalid(path))?,
        ))),
        Property::Consent => Condition::consent(value)
            .ok_or_else(|| bad(path.to_owned(), Condition::CONSENT_VALUES))?,
        Property::Name | Property::CreatedAt | Property::UpdatedAt | Property::Attribute => {
            return Err(bad(
                path.to_owned(),
                "a property that eq, neq, in and not_in compare: email, phone, tag, lifecycle, owner, organization or consent",
            ));
        }
    })
}

/// The condition one filter states; `fields` are the customers' custom field definitions.
fn condition(
    f: &Filter,
    at: &str,
    me: Option<UserId>,
    fields: &[FieldDefinition],
) -> ApiResult<Condition> {
    if f.property == Property::Attribute {
        return attribute_condition(f, at, fields);
    }
    if f.key.is_some() {
        return Err(bad(
            format!("{at}.key"),
            "no key (only with property attribute)",
        ));
    }
    let value_at = format!("{at}.value");
    let values_at = format!("{at}.values");
    let one = || -> ApiResult<&str> {
        if f.values.is_some() {
            return Err(bad(
                values_at.clone(),
                "no values with this operator (use value)",
            ));
        }
        f.value
            .as_deref()
            .ok_or_else(|| bad(value_at.clone(), "a value"))
    };
    let many = || -> ApiResult<&[String]> {
        if f.value.is_some() {
            return Err(bad(
                value_at.clone(),
                "no value with in or not_in (use values)",
            ));
        }
        match f.values.as_deref() {
            Some(v) if !v.is_empty() && v.len() <= MAX_VALUES => Ok(v),
            _ => Err(bad(values_at.clone(), format!("1 to {MAX_VALUES} values"))),
        }
    };
    let time = |v: &str| Timestamp::parse("value", v).map_err(invalid(&value_at));
    let wrong = |what: &str| Err(bad(format!("{at}.operator"), what.to_owned()));
    match f.operator {
        Operator::Eq => equal(f.property, one()?, &value_at, me),
        Operator::Neq => Ok(Condition::Not(Box::new(equal(
            f.property,
            one()?,
            &value_at,
            me,
        )?))),
        Operator::In | Operator::NotIn => {
            let any = many()?
                .iter()
                .enumerate()
                .map(|(i, v)| equal(f.property, v, &format!("{values_at}[{i}]"), me))
                .collect::<ApiResult<Vec<_>>>()?;
            let any = Condition::Any(any);
            Ok(if f.operator == Operator::In {
                any
            } else {
                Condition::Not(Box::new(any))
            })
        }
        Operator::StartsWith => {
            let v = one()?;
            if v.chars().count() > 254 {
                return Err(bad(value_at, "at most 254 characters"));
            }
            match f.property {
                Property::Name => Ok(Condition::Is(CustomerQuery::List(
                    CustomerFilter::NamePrefix(v.to_owned()),
                ))),
                Property::Email => Ok(Condition::Is(CustomerQuery::List(
                    CustomerFilter::EmailPrefix(v.trim().to_owned()),
                ))),
                _ => wrong("starts_with compares name or email"),
            }
        }
        Operator::Contains => {
            let v = one()?;
            if f.property != Property::Name {
                return wrong("contains compares name (use q for any text)");
            }
            let folded = fold(v.trim());
            if folded.is_empty() || v.chars().count() > 100 {
                return Err(bad(value_at, "a text of 1 to 100 characters"));
            }
            Ok(Condition::NameContains(folded))
        }
        Operator::Gte | Operator::Lt => {
            let t = time(one()?)?;
            match (f.property, f.operator) {
                (Property::CreatedAt, Operator::Gte) => Ok(Condition::CreatedSince(t)),
                (Property::CreatedAt, _) => Ok(Condition::CreatedBefore(t)),
                (Property::UpdatedAt, Operator::Gte) => Ok(Condition::UpdatedSince(t)),
                (Property::UpdatedAt, _) => Ok(Condition::UpdatedBefore(t)),
                _ => wrong("gte and lt compare created_at or updated_at"),
            }
        }
        Operator::HasProperty | Operator::NotHasProperty => {
            if f.value.is_some() || f.values.is_some() {
                return Err(bad(
                    value_at,
                    "no value with has_property or not_has_property",
                ));
            }
            let field = match f.property {
                Property::Email => Field::Email,
                Property::Phone => Field::Phone,
                Property::Owner => Field::Owner,
                Property::Organization => Field::Organization,
                _ => return wrong("has_property checks email, phone, owner or organization"),
            };
            Ok(if f.operator == Operator::HasProperty {
                Condition::Has(field)
            } else {
                Condition::Not(Box::new(Condition::Has(field)))
            })
        }
    }
}

/// The condition a filter on a custom field states: the field must be defined and filterable,
/// the value of its type.
fn attribute_condition(f: &Filter, at: &str, fields: &[FieldDefinition]) -> ApiResult<Condition> {
    let key_at = format!("{at}.key");
    let filterable = || {
        let keys: Vec<&str> = fields
            .iter()
            .filter(|d| d.filterable)
            .map(|d| d.key.as_str())
            .collect();
        if keys.is_empty() {
            "the key of a filterable custom field (customers have none)".to_owned()
        } else {
            format!("the key of a filterable custom field: {}", keys.join(", "))
        }
    };
    let key = f
        .key
        .as_deref()
        .ok_or_else(|| bad(key_at.clone(), filterable()))?;
    let def = fields
        .iter()
        .find(|d| d.key == key && d.filterable)
        .ok_or_else(|| bad(key_at.clone(), filterable()))?;
    let value_at = format!("{at}.value");
    let values_at = format!("{at}.values");
    let parse = |raw: &str, path: &str| {
        AttributeMatch::value(def, raw).map_err(|expected| bad(path.to_owned(), expected))
    };
    let key = def.key.clone();
    let cond = |op: AttributeOp, value: Option<AttributeMatch>| Condition::Attribute {
        key: key.clone(),
        op,
        value,
    };
    let one = || -> ApiResult<&str> {
        f.value
            .as_deref()
            .filter(|_| f.values.is_none())
            .ok_or_else(|| bad(value_at.clone(), "a value (and no values)"))
    };
    Ok(match f.operator {
        Operator::Eq => cond(AttributeOp::Eq, Some(parse(one()?, &value_at)?)),
        Operator::Neq => Condition::Not(Box::new(cond(
            AttributeOp::Eq,
            Some(parse(one()?, &value_at)?),
        ))),
        Operator::In | Operator::NotIn => {
            let values = match (f.value.as_ref(), f.values.as_deref()) {
                (None, Some(v)) if !v.is_empty() && v.len() <= MAX_VALUES => v,
                _ => {
                    return Err(bad(
                        values_at,
                        format!("1 to {MAX_VALUES} values (and no value)"),
                    ));
                }
            };
            let any = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    parse(v, &format!("{values_at}[{i}]")).map(|m| cond(AttributeOp::Eq, Some(m)))
                })
                .collect::<ApiResult<Vec<_>>>()?;
            if f.operator == Operator::In {
                Condition::Any(any)
            } else {
                Condition::Not(Box::new(Condition::Any(any)))
            }
        }
        Operator::Gte | Operator::Lt => {
            let m = parse(one()?, &value_at)?;
            if !m.ordered() {
                return Err(bad(
                    format!("{at}.operator"),
                    "eq, neq, in or not_in for this field (gte and lt compare numbers, dates and money)",
                ));
            }
            let op = if f.operator == Operator::Gte {
                AttributeOp::Gte
            } else {
                AttributeOp::Lt
            };
            cond(op, Some(m))
        }
        Operator::HasProperty => cond(AttributeOp::Has, None),
        Operator::NotHasProperty => Condition::Not(Box::new(cond(AttributeOp::Has, None))),
        Operator::StartsWith | Operator::Contains => {
            return Err(bad(
                format!("{at}.operator"),
                "eq, neq, in, not_in, gte, lt, has_property or not_has_property for a custom field",
            ));
        }
    })
}

impl SearchRequest {
    /// Whether a filter or the order names a custom field (whose definitions are then read).
    fn names_attributes(&self) -> bool {
        self.sort_field.is_some()
            || self
                .filter_groups
                .iter()
                .flat_map(|g| &g.filters)
                .any(|f| f.property == Property::Attribute)
    }

    /// The list to read and the conditions its customers must meet.
    fn plan(
        &self,
        me: Option<UserId>,
        fields: &[FieldDefinition],
    ) -> ApiResult<(CustomerQuery, Vec<Condition>)> {
        if self.filter_groups.len() > MAX_GROUPS {
            return Err(bad(
                "filter_groups".into(),
                format!("at most {MAX_GROUPS} groups"),
            ));
        }
        let mut groups = Vec::with_capacity(self.filter_groups.len());
        for (g, group) in self.filter_groups.iter().enumerate() {
            if group.filters.is_empty() || group.filters.len() > MAX_FILTERS {
                return Err(bad(
                    format!("filter_groups[{g}].filters"),
                    format!("1 to {MAX_FILTERS} filters"),
                ));
            }
            let conditions = group
                .filters
                .iter()
                .enumerate()
                .map(|(i, f)| condition(f, &format!("filter_groups[{g}].filters[{i}]"), me, fields))
                .collect::<ApiResult<Vec<_>>>()?;
            groups.push(conditions);
        }
        let sort = self.sort.map(Sort::as_str);
        let (driver, mut conditions) = if groups.len() == 1 {
            let (found, others): (Vec<Condition>, Vec<Condition>) = groups
                .pop()
                .unwrap_or_default()
                .into_iter()
                .partition(|c| matches!(c, Condition::Is(_)));
            let found = found
                .into_iter()
                .filter_map(|c| match c {
                    Condition::Is(q) => Some(q),
                    _ => None,
                })
                .collect();
            let (driver, rest) = choose_driver(found, sort)?;
            let mut conditions: Vec<Condition> = rest.into_iter().map(Condition::Is).collect();
            conditions.extend(others);
            (driver, conditions)
        } else {
            let (driver, _) = choose_driver(Vec::new(), sort)?;
            let any = groups.into_iter().map(Condition::All).collect::<Vec<_>>();
            (
                driver,
                if any.is_empty() {
                    Vec::new()
                } else {
                    vec![Condition::Any(any)]
                },
            )
        };
        if let Some(q) = &self.q {
            conditions.push(
                Condition::text(q)
                    .ok_or_else(|| bad("q".into(), "a text of 1 to 100 characters"))?,
            );
        }
        let Some(key) = &self.sort_field else {
            return Ok((driver, conditions));
        };
        if self.sort.is_some() {
            return Err(bad("sort_field".into(), "sort or sort_field, not both"));
        }
        if !fields.iter().any(|d| &d.key == key && d.sortable) {
            let keys: Vec<&str> = fields
                .iter()
                .filter(|d| d.sortable)
                .map(|d| d.key.as_str())
                .collect();
            return Err(bad(
                "sort_field".into(),
                format!(
                    "the key of a sortable custom field (customers have: {})",
                    keys.join(", ")
                ),
            ));
        }
        // The field's index is read; what the plan would have read is checked on each.
        if driver != CustomerQuery::List(CustomerFilter::All) {
            conditions.push(Condition::Is(driver));
        }
        Ok((
            CustomerQuery::List(CustomerFilter::Field(key.clone())),
            conditions,
        ))
    }

    /// The fields to keep, `None` for all.
    fn fields(&self) -> ApiResult<Option<Vec<&str>>> {
        let Some(asked) = &self.fields else {
            return Ok(None);
        };
        let mut keep = vec!["id"];
        for (i, f) in asked.iter().enumerate() {
            match CUSTOMER_FIELDS.iter().find(|k| **k == f.as_str()) {
                Some(k) if !keep.contains(k) => keep.push(k),
                Some(_) => {}
                None => {
                    return Err(bad(
                        format!("fields[{i}]"),
                        format!("one of {}", CUSTOMER_FIELDS.join(", ")),
                    ));
                }
            }
        }
        Ok(Some(keep))
    }
}

/// Search customers with OR groups of filters (each group: all its filters), a text query, an
/// order, a choice of fields and a count. A page reads at most 5,000 customers: a rare match
/// answers a short page (even an empty one) with a `next_cursor` to go on from.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/customers/search", tag = "customers", operation_id = "search_customers_by_groups",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = SearchRequest,
    responses((status = 200, description = "A page of customers", body = SearchPage),
        (status = 400, description = "bad_cursor", body = super::Problem),
        (status = 422, description = "invalid_input, naming the filter", body = super::Problem)))]
pub async fn search(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiJson(req): ApiJson<SearchRequest>,
) -> ApiResult<Response> {
    let page = page_request(req.limit, req.cursor.as_deref())?;
    let definitions = if req.names_attributes() {
        let tenant = t.tenant.clone();
        state
            .run(move |s| s.field_definitions(&tenant, FieldObject::Customer))
            .await?
    } else {
        Vec::new()
    };
    let (query, conditions) = req.plan(t.user, &definitions)?;
    let fields = req
        .fields()?
        .map(|f| f.into_iter().map(str::to_owned).collect::<Vec<_>>());
    let (page, total) = search_and_count(&state, t, query, conditions, page, req.total).await?;
    let page = PageBody::from(page);
    let mut items = Vec::with_capacity(page.items.len());
    for c in &page.items {
        let serde_json::Value::Object(mut map) =
            serde_json::to_value(c).map_err(|e| ApiError::internal(&e))?
        else {
            return Err(ApiError::internal(&"a customer is not a JSON object"));
        };
        if let Some(keep) = &fields {
            map.retain(|k, _| keep.iter().any(|f| f == k));
        }
        items.push(map);
    }
    Ok(json(
        StatusCode::OK,
        &SearchPage {
            items,
            next_cursor: page.next_cursor,
            total: total.map(|(n, _)| n),
            total_exact: total.map(|(_, exact)| exact),
        },
    ))
}

/// The `CustomerFields` schema: a customer whose fields are all optional but `id` (what a
/// search with `fields` answers).
pub struct PartialCustomer;

impl utoipa::Modify for PartialCustomer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        let Some(RefOr::T(Schema::Object(customer))) = components.schemas.get("Customer") else {
            return;
        };
        let mut partial = customer.clone();
        partial.required = vec!["id".to_owned()];
        partial.description = Some("A customer with only the fields asked for (and `id`).".into());
        components.schemas.insert(
            "CustomerFields".to_owned(),
            RefOr::T(Schema::Object(partial)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `fields` may name exactly the keys of a customer's JSON.
    #[test]
    fn customer_fields_are_the_keys_of_a_customer() {
        let input = crate::model::CustomerInput {
            name: Some("Ada".into()),
            ..Default::default()
        };
        let c = crate::model::Customer::new(
            CustomerId::generate(),
            input,
            Timestamp::from_secs(1_700_000_000),
        )
        .unwrap();
        let serde_json::Value::Object(map) = serde_json::to_value(&c).unwrap() else {
            panic!("not an object");
        };
        let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
        let mut known = CUSTOMER_FIELDS.to_vec();
        keys.sort_unstable();
        known.sort_unstable();
        assert_eq!(keys, known);
    }
}
