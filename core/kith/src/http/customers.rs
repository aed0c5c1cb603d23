//! `/v1/tenants/{tenant}/customers`: create, get, update (`If-Match`), erase, search, merge,
//! timeline, duplicate suggestions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::auth::{ScopedRead, ScopedWrite, TenantRead, TenantWrite};
use super::batch::{BatchAnswer, BatchStatus};
use super::error::{ApiError, ApiResult};
use super::extract::{
    ApiJson, ApiQuery, Create, IfMatch, PageBody, Params, created, invalid_query, json, no_content,
    page_request, versioned,
};
use super::{AppState, Routes};
use crate::model::{
    Customer, CustomerId, CustomerInput, CustomerPatch, Email, Interaction, LifecycleStage, Phone,
    Tag, Timestamp, UserId,
};
use crate::service::access::filtered_page;
use crate::service::customers::{self, Condition, CustomerQuery};
use crate::service::duplicates;
use crate::store::{Cursor, CustomerFilter, Output};

/// The customer routes.
pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/tenants/{tenant}/customers", create)
        .get("/v1/tenants/{tenant}/customers", search)
        .get("/v1/tenants/{tenant}/customers/{id}", get)
        .patch("/v1/tenants/{tenant}/customers/{id}", update)
        .delete("/v1/tenants/{tenant}/customers/{id}", erase)
        .post("/v1/tenants/{tenant}/customers/{id}/merge", merge)
        .post("/v1/tenants/{tenant}/customers/batch/upsert", upsert_batch)
        .get("/v1/tenants/{tenant}/customers/{id}/timeline", timeline)
        .get("/v1/tenants/{tenant}/customers/{id}/duplicates", duplicates)
        .get("/v1/tenants/{tenant}/customers/duplicates", duplicate_pairs)
}

/// Create a customer.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/customers", tag = "customers", operation_id = "create_customer",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first result on a retry")),
    request_body = CustomerInput,
    responses((status = 201, description = "The customer, with its ETag", body = Customer),
        (status = 409, description = "duplicate", body = super::Problem),
        (status = 422, description = "invalid_input", body = super::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    t: ScopedWrite,
    req: Create<CustomerInput>,
) -> ApiResult<Response> {
    let actor = t.actor();
    let tenant = t.tenant.clone();
    let access = t.access.clone();
    let once = state
        .run(move |s| customers::create(s, &tenant, &actor, &access, req.body, req.key.as_ref()))
        .await?;
    let c = once.value;
    let location = format!("/v1/tenants/{}/customers/{}", t.tenant, c.id);
    Ok(created(&c, &location, Some(c.version), once.replayed))
}

/// Search parameters: every filter given applies (AND); none lists all, oldest first.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CustomerSearch {
    /// Exact email (normalized).
    pub email: Option<String>,
    /// Exact phone, international format.
    pub phone: Option<String>,
    /// External id's source (with `external_id`).
    pub external_source: Option<String>,
    /// External id (with `external_source`).
    pub external_id: Option<String>,
    /// A tag.
    pub tag: Option<String>,
    /// A lifecycle stage.
    pub lifecycle: Option<String>,
    /// An owner: a user id, or `me` with a user key.
    pub owner: Option<String>,
    /// Members of this organization (its id).
    pub organization: Option<String>,
    /// Display names starting with this (case-insensitive), by name.
    pub name_prefix: Option<String>,
    /// Emails starting with this, by email.
    pub email_prefix: Option<String>,
    /// Members of a plugin's segment, as `plugin/segment` (e.g. `kith.rfm-segments/champions`);
    /// the other filters are checked on each member. Not with `score`, `sort` or `total`.
    pub segment: Option<String>,
    /// Customers scored by this scorer (e.g. `kith.rfm`), highest score first; each item has the
    /// `score` it was found by; the other filters are checked on each. Not with `segment`,
    /// `sort` or `total`.
    pub score: Option<String>,
    /// With `score`: lowest score included.
    pub min_score: Option<f64>,
    /// With `score`: highest score included.
    pub max_score: Option<f64>,
    /// With `true`: also count every match (`total`), reading at most 10,000 customers;
    /// `total_exact` says whether the count is exact or a lower bound.
    pub total: Option<bool>,
    /// Text contained in the name, email, phone or an external id, ignoring case and accents
    /// (1 to 100 characters; checked on each customer read, see the page budget).
    pub q: Option<String>,
    /// Consent: `true` or `false` (marketing consent given or not), or `channel:purpose`, e.g.
    /// `email:marketing`: may be contacted by email for marketing (its record says granted).
    pub consent: Option<String>,
    /// `KEY:VALUE`: the filterable custom field KEY holds VALUE (of its type; a multi-select
    /// among its options); checked on each customer read. POST `.../customers/search` takes
    /// ranges and OR groups.
    pub attribute: Option<String>,
    /// Changed at or after this time (RFC 3339).
    pub updated_since: Option<String>,
    /// Created at or after this time (RFC 3339).
    pub created_since: Option<String>,
    /// Created before this time (RFC 3339).
    pub created_before: Option<String>,
    /// The order: `created` (oldest first), `name` or `email`. By default: by name with
    /// `name_prefix`, else by email with `email_prefix`, else oldest first.
    pub sort: Option<String>,
    /// Page size (1 to 1000, default 50).
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl CustomerSearch {
    /// The list to read and the conditions its customers must also meet: every filter given
    /// applies (AND). For the order by creation, the most selective filter's list is read (a
    /// unique email, phone or external id first, then organization, owner, tag, lifecycle); for
    /// the order by name or email, the name or email list (from the prefix given).
    fn plan(&self, me: Option<UserId>) -> ApiResult<(CustomerQuery, Vec<Condition>)> {
        // The order asked for, or the one a prefix implies (as when it was the only filter).
        let sort = self.sort.as_deref().map(str::trim).or_else(|| {
            if self.name_prefix.is_some() {
                Some("name")
            } else if self.email_prefix.is_some() {
                Some("email")
            } else {
                None
            }
        });
        let (driver, found) = choose_driver(self.filters(me)?, sort)?;
        let mut conditions: Vec<Condition> = found.into_iter().map(Condition::Is).collect();
        conditions.extend(self.other_conditions()?);
        Ok((driver, conditions))
    }

    /// The conditions of the parameters that are not lists: `q`, `consent` and the times.
    fn other_conditions(&self) -> ApiResult<Vec<Condition>> {
        let mut conditions = Vec::new();
        if let Some(q) = &self.q {
            let text = Condition::text(q).ok_or_else(|| {
                ApiError::field("invalid_query", "q", "a text of 1 to 100 characters")
            })?;
            conditions.push(text);
        }
        if let Some(c) = &self.consent {
            conditions.push(Condition::consent(c).ok_or_else(|| {
                ApiError::field("invalid_query", "consent", Condition::CONSENT_VALUES)
            })?);
        }
        let time = |field: &str, v: &Option<String>| -> ApiResult<Option<Timestamp>> {
            v.as_deref()
                .map(|s| Timestamp::parse(field, s).map_err(invalid_query))
                .transpose()
        };
        if let Some(t) = time("updated_since", &self.updated_since)? {
            conditions.push(Condition::UpdatedSince(t));
        }
        if let Some(t) = time("created_since", &self.created_since)? {
            conditions.push(Condition::CreatedSince(t));
        }
        if let Some(t) = time("created_before", &self.created_before)? {
            conditions.push(Condition::CreatedBefore(t));
        }
        Ok(conditions)
    }

    /// Every filter given; `me` is the user a user key acts as (for `owner=me`).
    fn filters(&self, me: Option<UserId>) -> ApiResult<Vec<CustomerQuery>> {
        let mut found: Vec<CustomerQuery> = Vec::new();
        if let Some(e) = &self.email {
            found.push(CustomerQuery::Email(
                Email::parse("email", e).map_err(invalid_query)?,
            ));
        }
        if let Some(p) = &self.phone {
            found.push(CustomerQuery::Phone(
                Phone::parse("phone", p, None).map_err(invalid_query)?,
            ));
        }
        match (&self.external_source, &self.external_id) {
            (Some(source), Some(id)) => found.push(CustomerQuery::ExternalId {
                source: source.clone(),
                id: id.clone(),
            }),
            (None, None) => {}
            _ => {
                return Err(ApiError::field(
                    "invalid_query",
                    "external_id",
                    "external_source and external_id together",
                ));
            }
        }
        if let Some(t) = &self.tag {
            let tag = Tag::parse("tag", t).map_err(invalid_query)?;
            found.push(CustomerQuery::List(CustomerFilter::Tag(tag)));
        }
        if let Some(l) = &self.lifecycle {
            let l = LifecycleStage::parse("lifecycle", l).map_err(invalid_query)?;
            found.push(CustomerQuery::List(CustomerFilter::Lifecycle(l)));
        }
        if let Some(o) = &self.owner {
            let owner = match (o.trim(), me) {
                ("me", Some(me)) => me.to_string(),
                ("me", None) => {
                    return Err(ApiError::field(
                        "invalid_query",
                        "owner",
                        "a user id: `me` needs a user key",
                    ));
                }
                (o, _) => o.to_owned(),
            };
            found.push(CustomerQuery::List(CustomerFilter::Owner(owner)));
        }
        if let Some(o) = &self.organization {
            let id = CustomerId::parse("organization", o).map_err(invalid_query)?;
            found.push(CustomerQuery::List(CustomerFilter::Organization(id)));
        }
        if let Some(p) = &self.name_prefix {
            found.push(CustomerQuery::List(CustomerFilter::NamePrefix(p.clone())));
        }
        if let Some(p) = &self.email_prefix {
            let p = p.trim().to_owned();
            found.push(CustomerQuery::List(CustomerFilter::EmailPrefix(p)));
        }
        Ok(found)
    }
}

/// The list to read for `sort` among the filters `found`, and the filters left to check on each
/// customer read. For the order by creation, the most selective filter's list is read (a unique
/// email, phone or external id first, then organization, owner, tag, lifecycle); for the order
/// by name or email, the name or email list (from the prefix given).
pub(super) fn choose_driver(
    mut found: Vec<CustomerQuery>,
    sort: Option<&str>,
) -> ApiResult<(CustomerQuery, Vec<CustomerQuery>)> {
    let rank = |q: &CustomerQuery| match q {
        CustomerQuery::Email(_) | CustomerQuery::Phone(_) | CustomerQuery::ExternalId { .. } => 0,
        CustomerQuery::List(CustomerFilter::Organization(_)) => 1,
        CustomerQuery::List(CustomerFilter::Owner(_)) => 2,
        CustomerQuery::List(CustomerFilter::Tag(_)) => 3,
        CustomerQuery::List(CustomerFilter::Lifecycle(_)) => 4,
        CustomerQuery::List(CustomerFilter::NamePrefix(_)) => 5,
        CustomerQuery::List(CustomerFilter::EmailPrefix(_)) => 6,
        CustomerQuery::List(_) => 7,
    };
    found.sort_by_key(rank);
    let sorted_by =
        |want: fn(&CustomerQuery) -> bool, all: CustomerFilter, found: &mut Vec<CustomerQuery>| {
            match found.iter().position(want) {
                Some(i) => found.remove(i),
                None => CustomerQuery::List(all),
            }
        };
    let driver = match sort {
        None => {
            if found.is_empty() {
                CustomerQuery::List(CustomerFilter::All)
            } else {
                found.remove(0)
            }
        }
        Some("name") => sorted_by(
            |q| matches!(q, CustomerQuery::List(CustomerFilter::NamePrefix(_))),
            CustomerFilter::NamePrefix(String::new()),
            &mut found,
        ),
        Some("email") => sorted_by(
            |q| matches!(q, CustomerQuery::List(CustomerFilter::EmailPrefix(_))),
            CustomerFilter::EmailPrefix(String::new()),
            &mut found,
        ),
        Some("created") => match found.iter().position(|q| rank(q) <= 4) {
            Some(i) => found.remove(i),
            None => CustomerQuery::List(CustomerFilter::All),
        },
        Some(_) => {
            return Err(ApiError::field(
                "invalid_query",
                "sort",
                "created, name or email",
            ));
        }
    };
    Ok((driver, found))
}

/// A page of customers, with the count of every match when `total=true` was asked.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CustomerPage {
    /// The customers.
    pub items: Vec<Customer>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// With `total=true`: how many customers match, over all pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// With `total=true`: whether `total` is exact (false: at least that many; the count reads
    /// at most 10,000 customers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_exact: Option<bool>,
}

/// List or search customers.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/customers", tag = "customers", operation_id = "search_customers",
    params(("tenant" = String, Path, description = "Tenant slug"), CustomerSearch),
    responses((status = 200, description = "A page of customers (found by `score`: each with the `score` it was found by)", body = CustomerPage),
        (status = 400, description = "invalid_query or bad_cursor", body = super::Problem)))]
pub async fn search(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiQuery(q): ApiQuery<CustomerSearch>,
) -> ApiResult<Response> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    if let Some(found) = plugin_search(&state, &t, &q, &page).await? {
        return Ok(found);
    }
    if q.min_score.is_some() || q.max_score.is_some() {
        return Err(ApiError::field(
            "invalid_query",
            "min_score",
            "min_score and max_score go with score=<scorer id>",
        ));
    }
    let (query, mut conditions) = q.plan(t.user)?;
    let attribute = super::fields::attribute_filter(
        &state,
        &t.tenant,
        crate::model::FieldObject::Customer,
        q.attribute.as_deref(),
    )
    .await?;
    if let Some((key, value)) = attribute {
        conditions.push(Condition::Attribute {
            key,
            op: customers::AttributeOp::Eq,
            value: Some(value),
        });
    }
    let (page, total) =
        search_and_count(&state, t, query, conditions, page, q.total == Some(true)).await?;
    let page = PageBody::from(page);
    Ok(json(
        StatusCode::OK,
        &CustomerPage {
            items: page.items,
            next_cursor: page.next_cursor,
            total: total.map(|(n, _)| n),
            total_exact: total.map(|(_, exact)| exact),
        },
    ))
}

/// A page of the customers `query` and `conditions` find, and their count when `counted`.
pub(super) async fn search_and_count(
    state: &AppState,
    t: ScopedRead,
    query: CustomerQuery,
    conditions: Vec<Condition>,
    page: crate::store::PageRequest,
    counted: bool,
) -> ApiResult<(crate::store::Page<Customer>, Option<(u64, bool)>)> {
    state
        .run(move |s| {
            let page =
                customers::search_where(s, &t.tenant, &t.access, &query, &conditions, &page)?;
            let total = counted
                .then(|| customers::count_where(s, &t.tenant, &t.access, &query, &conditions))
                .transpose()?;
            Ok((page, total))
        })
        .await
}

/// Answers a search by segment or score (which plugins produced), or `None` for other searches.
async fn plugin_search(
    state: &AppState,
    t: &ScopedRead,
    q: &CustomerSearch,
    page: &crate::store::PageRequest,
) -> ApiResult<Option<Response>> {
    if q.segment.is_none() && q.score.is_none() {
        return Ok(None);
    }
    if let Some(u) = t.access.user() {
        return Err(ApiError::forbidden(
            "role_required",
            &format!(
                "searching by segment or score covers the whole tenant and needs a tenant admin; this key acts as a {}",
                u.role.as_str()
            ),
        ));
    }
    if q.segment.is_some() && q.score.is_some() {
        return Err(ApiError::field(
            "invalid_query",
            "score",
            "segment or score: one plugin list at a time",
        ));
    }
    if q.sort.is_some() || q.total.is_some() {
        return Err(ApiError::field(
            "invalid_query",
            if q.sort.is_some() { "sort" } else { "total" },
            "no sort or total with segment or score: their order is the plugin's (segment members by id, scores highest first)",
        ));
    }
    // Every other filter is checked on each customer of the plugin's list, under the page
    // budget of any combined search.
    let mut conditions: Vec<Condition> =
        q.filters(t.user)?.into_iter().map(Condition::Is).collect();
    conditions.extend(q.other_conditions()?);
    let tenant = t.tenant.clone();
    let page = page.clone();
    if let Some(seg) = &q.segment {
        let Some((plugin, segment)) = seg
            .split_once('/')
            .filter(|(p, s)| !p.is_empty() && !s.is_empty())
        else {
            return Err(ApiError::field(
                "invalid_query",
                "segment",
                "plugin/segment, e.g. kith.rfm-segments/champions",
            ));
        };
        let (plugin, segment) = (plugin.to_owned(), segment.to_owned());
        let found = state
            .run_plugins(move |h| {
                filtered_page(
                    &page,
                    |p| h.segment_members(&tenant, &plugin, &segment, p),
                    |c| Ok(conditions.iter().all(|k| k.matches(c))),
                )
            })
            .await?;
        return Ok(Some(json(StatusCode::OK, &PageBody::from(found))));
    }
    let plugin = q.score.clone().unwrap_or_default();
    let range = super::plugins::score_range(q.min_score, q.max_score, ("min_score", "max_score"))?;
    let found = state
        .run_plugins(move |h| {
            filtered_page(
                &page,
                |p| h.customers_by_score(&tenant, &plugin, range, p),
                |sc| Ok(conditions.iter().all(|k| k.matches(&sc.customer))),
            )
        })
        .await?;
    Ok(Some(json(StatusCode::OK, &PageBody::from(found))))
}

/// Get a customer, with its version as ETag.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/customers/{id}", tag = "customers", operation_id = "get_customer",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Customer id")),
    responses((status = 200, description = "The customer", body = Customer), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
) -> ApiResult<Response> {
    let id: CustomerId = params.id("id", "customer")?;
    let c = match customers::get_nonblocking(state.store(), &t.tenant, t.access.clone(), id) {
        Some(read) => read.await.map_err(ApiError::from)?,
        None => {
            state
                .run(move |s| customers::get(s, &t.tenant, &t.access, id))
                .await?
        }
    };
    Ok(versioned(StatusCode::OK, &c, c.version))
}

/// Change a customer; with `If-Match`, only if it is still at that version (else 412).
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/customers/{id}", tag = "customers", operation_id = "update_customer",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Customer id"),
        ("If-Match" = Option<String>, Header, description = "The ETag from a GET")),
    request_body(content = CustomerPatch, description = "The changes (null clears a field)"),
    responses((status = 200, description = "The customer", body = Customer), (status = 412, description = "version_conflict", body = super::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    t: ScopedWrite,
    params: Params,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<CustomerPatch>,
) -> ApiResult<Response> {
    let id: CustomerId = params.id("id", "customer")?;
    let actor = t.actor();
    let c = state
        .run(move |s| customers::update(s, &t.tenant, &actor, &t.access, id, version, patch))
        .await?;
    Ok(versioned(StatusCode::OK, &c, c.version))
}

/// Erase a customer with their interactions and deals (right to erasure).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/customers/{id}", tag = "customers", operation_id = "erase_customer",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Customer id")),
    responses((status = 204, description = "Erased")))]
pub async fn erase(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
) -> ApiResult<Response> {
    let id: CustomerId = params.id("id", "customer")?;
    let actor = t.actor();
    state
        .run(move |s| customers::erase(s, &t.tenant, &actor, id))
        .await?;
    Ok(no_content())
}

/// The duplicate to merge into the customer in the path.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The duplicate's id; it is removed and its history moves to the survivor.
    #[schema(value_type = String)]
    pub duplicate: CustomerId,
}

/// Merge a duplicate into this customer, which keeps both histories.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/customers/{id}/merge", tag = "customers", operation_id = "merge_customers",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "The surviving customer's id"),
        ("If-Match" = Option<String>, Header, description = "The survivor's ETag")),
    request_body = MergeRequest,
    responses((status = 200, description = "The merged survivor", body = Customer)))]
pub async fn merge(
    State(state): State<AppState>,
    t: ScopedWrite,
    params: Params,
    IfMatch(version): IfMatch,
    ApiJson(req): ApiJson<MergeRequest>,
) -> ApiResult<Response> {
    let id: CustomerId = params.id("id", "customer")?;
    let actor = t.actor();
    let c = state
        .run(move |s| customers::merge(s, &t.tenant, &actor, &t.access, id, req.duplicate, version))
        .await?;
    Ok(versioned(StatusCode::OK, &c, c.version))
}

/// A customer's interactions, newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/customers/{id}/timeline", tag = "interactions", operation_id = "customer_timeline",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Customer id"), super::extract::Paging),
    responses((status = 200, description = "A page of interactions", body = PageBody<Interaction>)))]
pub async fn timeline(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
    ApiQuery(q): ApiQuery<super::extract::Paging>,
) -> ApiResult<Response> {
    let id: CustomerId = params.id("id", "customer")?;
    let page = q.request()?;
    let page = state
        .run(move |s| customers::timeline(s, &t.tenant, &t.access, id, &page))
        .await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// A customer's probable duplicates.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DuplicatesAnswer {
    /// Strongest first: most reasons, then the strongest reason, then oldest.
    pub candidates: Vec<duplicates::Candidate>,
}

/// Probable duplicates of a customer, each with the reasons (emails differing by case, dots, a
/// `+tag` or look-alike characters; alike names at one organization). Merge one with
/// `POST .../customers/{id}/merge`.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/customers/{id}/duplicates", tag = "customers", operation_id = "customer_duplicates",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Customer id")),
    responses((status = 200, description = "The candidates the caller may read", body = DuplicatesAnswer),
        (status = 404, description = "not_found", body = super::Problem)))]
pub async fn duplicates(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
) -> ApiResult<Response> {
    let id: CustomerId = params.id("id", "customer")?;
    let candidates = state
        .run(move |s| duplicates::of_customer(s, &t.tenant, &t.access, id))
        .await?;
    Ok(json(StatusCode::OK, &DuplicatesAnswer { candidates }))
}

/// Where the list of duplicate pairs continues.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PairsQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The tenant's probable duplicate pairs: first by email (differing by case, dots, a `+tag` or
/// look-alike characters), then members of one organization with alike names; the older
/// customer as the survivor. Each page reads at most 10,000 customers' email index entries or
/// 2,000 organization memberships, so a page may hold no pair and still have a `next_cursor`.
/// Needs a key for the whole tenant.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/customers/duplicates", tag = "customers", operation_id = "duplicate_customer_pairs",
    params(("tenant" = String, Path, description = "Tenant slug"), PairsQuery),
    responses((status = 200, description = "A page of pairs", body = duplicates::PairPage)))]
pub async fn duplicate_pairs(
    State(state): State<AppState>,
    t: TenantRead,
    ApiQuery(q): ApiQuery<PairsQuery>,
) -> ApiResult<Response> {
    let after = q.cursor.map(Cursor::from_string);
    let page = state
        .run(move |s| duplicates::pairs(s, &t.tenant, after.as_ref()))
        .await?;
    Ok(json(StatusCode::OK, &page))
}

/// A batch of customers to create or change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertBatch {
    /// 1 to 1,000 records, each in the shape of a PATCH (or of a GET's answer): matched by `id`,
    /// then each external id, then `email`, then `phone`; changed when found, created otherwise.
    pub records: Vec<CustomerPatch>,
}

/// Create or change up to 1,000 customers in one request and one commit; each record succeeds or
/// fails on its own. Needs a key for the whole tenant.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/customers/batch/upsert", tag = "customers", operation_id = "upsert_customers",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = UpsertBatch,
    responses((status = 200, description = "A result per record (some may have failed)", body = BatchAnswer<Customer>),
        (status = 422, description = "invalid_input (more than 1,000 records)", body = super::Problem)))]
pub async fn upsert_batch(
    State(state): State<AppState>,
    t: TenantWrite,
    ApiJson(batch): ApiJson<UpsertBatch>,
) -> ApiResult<Response> {
    let actor = t.actor();
    let outcomes = state
        .run(move |s| customers::upsert_batch(s, &t.tenant, &actor, batch.records))
        .await?;
    let answer = BatchAnswer::of(outcomes, |o| match o {
        Output::Upserted {
            customer,
            created,
            changed,
        } => {
            let status = match (created, changed) {
                (true, _) => BatchStatus::Created,
                (false, true) => BatchStatus::Updated,
                (false, false) => BatchStatus::Unchanged,
            };
            Ok((status, customer))
        }
        other => Err(ApiError::internal(&format!("an upsert answered {other:?}"))),
    })?;
    Ok(json(StatusCode::OK, &answer))
}
