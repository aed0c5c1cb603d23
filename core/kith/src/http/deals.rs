//! `/v1/tenants/{tenant}/deals`: create, get, update, move to a stage.

use crate::model::{Deal, Interaction};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::auth::{ScopedRead, ScopedWrite, TenantWrite};
use super::batch::{BatchAnswer, BatchStatus};
use super::error::{ApiError, ApiResult};
use super::extract::{
    ApiJson, ApiQuery, Create, IfMatch, PageBody, Params, created, invalid_query, json,
    page_request, versioned,
};
use super::{AppState, Routes};
use crate::model::{
    Currency, Date, DealId, DealInput, DealPatch, FieldObject, PipelineId, StageCategory, StageId,
    TeamId, Timestamp, UserId,
};
use crate::service::customers::AttributeMatch;
use crate::service::deals::{self, DealQuery, DealRecord, Upserted};

/// The deal routes.
pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/tenants/{tenant}/deals", create)
        .post("/v1/tenants/{tenant}/deals/batch/upsert", upsert_batch)
        .get("/v1/tenants/{tenant}/deals", search)
        .get("/v1/tenants/{tenant}/deals/{id}", get)
        .patch("/v1/tenants/{tenant}/deals/{id}", update)
        .post("/v1/tenants/{tenant}/deals/{id}/move", move_to)
        .get("/v1/tenants/{tenant}/deals/{id}/timeline", timeline)
}

/// A page of a deal's timeline.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Page size (1 to 1000, default 50).
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The deal's own activities: the interactions linked to it (`deal` set when logged or
/// edited), newest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/deals/{id}/timeline", tag = "deals", operation_id = "deal_timeline",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Deal id"), TimelineQuery),
    responses((status = 200, description = "A page of interactions", body = PageBody<Interaction>), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn timeline(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> ApiResult<Response> {
    let id: DealId = params.id("id", "deal")?;
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let page = state
        .run(move |s| {
            crate::service::interactions::deal_timeline(s, &t.tenant, &t.access, id, &page)
        })
        .await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// Filters of the deals list; every one given must hold.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DealSearch {
    /// Owner: a user id, or `me` for the user a user key acts as.
    pub owner: Option<String>,
    /// Owned by a member of this team (its id).
    pub team: Option<String>,
    /// In this pipeline (its id).
    pub pipeline: Option<String>,
    /// `open`, `won` or `lost`: the category of the deal's current stage.
    pub status: Option<String>,
    /// Expected to close on or after this date (YYYY-MM-DD).
    pub close_after: Option<String>,
    /// Expected to close on or before this date (YYYY-MM-DD).
    pub close_before: Option<String>,
    /// Amounts in this currency (ISO 4217); needed with `min_amount` or `max_amount`.
    pub currency: Option<String>,
    /// Lowest amount, in minor units.
    pub min_amount: Option<i64>,
    /// Highest amount, in minor units.
    pub max_amount: Option<i64>,
    /// Changed at or after this time (RFC 3339).
    pub updated_since: Option<String>,
    /// `KEY:VALUE`: the filterable custom field KEY of deals holds VALUE (of its type; a
    /// multi-select holds it among its options); checked on each deal read.
    pub attribute: Option<String>,
    /// `created` (default: oldest first), `amount` (with `currency`), `expected_close` (none
    /// last) or `updated`; `-` in front descends. Ties go by creation. Other than the default,
    /// the search reads every match to sort it: at most 20,000 matching deals (422 beyond:
    /// narrow it).
    pub sort: Option<String>,
    /// Page size (1 to 1000, default 50).
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl DealSearch {
    fn query(
        &self,
        me: Option<UserId>,
        attribute: Option<(String, AttributeMatch)>,
    ) -> ApiResult<(DealQuery, bool)> {
        let owner = match self.owner.as_deref().map(str::trim) {
            None => None,
            Some("me") => Some(me.ok_or_else(|| {
                ApiError::field("invalid_query", "owner", "a user id: `me` needs a user key")
            })?),
            Some(o) => Some(UserId::parse("owner", o).map_err(invalid_query)?),
        };
        let status = match self.status.as_deref() {
            None => None,
            Some("open") => Some(StageCategory::Open),
            Some("won") => Some(StageCategory::Won),
            Some("lost") => Some(StageCategory::Lost),
            Some(_) => {
                return Err(ApiError::field(
                    "invalid_query",
                    "status",
                    "open, won or lost",
                ));
            }
        };
        let date = |field: &str, v: &Option<String>| {
            v.as_deref()
                .map(|d| Date::parse(field, d).map_err(invalid_query))
                .transpose()
        };
        let currency = self
            .currency
            .as_deref()
            .map(|c| Currency::parse("currency", c).map_err(invalid_query))
            .transpose()?;
        if currency.is_none() && (self.min_amount.is_some() || self.max_amount.is_some()) {
            return Err(ApiError::field(
                "invalid_query",
                "currency",
                "the currency of min_amount and max_amount (amounts in different currencies are not compared)",
            ));
        }
        let (sort, desc) = match self.sort.as_deref() {
            None => (deals::DealSort::Created, false),
            Some(s) => deals::DealSort::parse(s).map_err(invalid_query)?,
        };
        let query = DealQuery {
            sort,
            owner,
            team: self
                .team
                .as_deref()
                .map(|t| TeamId::parse("team", t).map_err(invalid_query))
                .transpose()?,
            pipeline: self
                .pipeline
                .as_deref()
                .map(|p| PipelineId::parse("pipeline", p).map_err(invalid_query))
                .transpose()?,
            status,
            close_from: date("close_after", &self.close_after)?,
            close_to: date("close_before", &self.close_before)?,
            currency,
            min_amount: self.min_amount,
            max_amount: self.max_amount,
            updated_since: self
                .updated_since
                .as_deref()
                .map(|u| Timestamp::parse("updated_since", u).map_err(invalid_query))
                .transpose()?,
            attribute,
        };
        Ok((query, desc))
    }
}

/// Deals across pipelines, oldest first or in the order of `sort`, with filters combined; a
/// user key lists only what its role lets it read. A page may hold fewer than `limit` deals when few match: follow
/// `next_cursor` until it is null.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/deals", tag = "deals", operation_id = "search_deals",
    params(("tenant" = String, Path, description = "Tenant slug"), DealSearch),
    responses((status = 200, description = "A page of deals", body = PageBody<Deal>),
        (status = 400, description = "invalid_query or bad_cursor", body = super::Problem)))]
pub async fn search(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiQuery(q): ApiQuery<DealSearch>,
) -> ApiResult<Response> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let me = t.me();
    let attribute = super::fields::attribute_filter(
        &state,
        &t.tenant,
        FieldObject::Deal,
        q.attribute.as_deref(),
    )
    .await?;
    let (query, desc) = q.query(me, attribute)?;
    let found = state
        .run(move |s| deals::search_sorted(s, &t.tenant, &t.access, &query, desc, &page))
        .await?;
    Ok(json(StatusCode::OK, &PageBody::from(found)))
}

/// Create a deal in its pipeline's first (or given) stage.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/deals", tag = "deals", operation_id = "create_deal",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first result on a retry")),
    request_body(content = DealInput, description = "DealInput: customer, pipeline, stage?, title, amount {minor, currency}, expected_close?, owner?, attributes? {key: {text|number|boolean|date|money: value}}"),
    responses((status = 201, description = "The deal", body = Deal)))]
pub async fn create(
    State(state): State<AppState>,
    t: ScopedWrite,
    req: Create<DealInput>,
) -> ApiResult<Response> {
    let actor = t.actor();
    let tenant = t.tenant.clone();
    let access = t.access.clone();
    let once = state
        .run(move |s| deals::create(s, &tenant, &actor, &access, req.body, req.key.as_ref()))
        .await?;
    let d = once.value;
    let location = format!("/v1/tenants/{}/deals/{}", t.tenant, d.id);
    Ok(created(&d, &location, Some(d.version), once.replayed))
}

/// Get a deal with its stage history.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/deals/{id}", tag = "deals", operation_id = "get_deal",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Deal id")),
    responses((status = 200, description = "The deal", body = Deal)))]
pub async fn get(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
) -> ApiResult<Response> {
    let id: DealId = params.id("id", "deal")?;
    let d = state
        .run(move |s| deals::get(s, &t.tenant, &t.access, id))
        .await?;
    Ok(versioned(StatusCode::OK, &d, d.version))
}

/// Change a deal's title, amount, expected close or owner.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/deals/{id}", tag = "deals", operation_id = "update_deal",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Deal id"),
        ("If-Match" = Option<String>, Header, description = "The ETag from a GET")),
    request_body(content = DealPatch, description = "DealPatch: title?, amount?, expected_close?, owner?, attributes? (a null attribute is removed), lost_reason? (in a lost stage; null clears)"),
    responses((status = 200, description = "The deal", body = Deal), (status = 412, description = "version_conflict", body = super::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    t: ScopedWrite,
    params: Params,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<DealPatch>,
) -> ApiResult<Response> {
    let id: DealId = params.id("id", "deal")?;
    let actor = t.actor();
    let d = state
        .run(move |s| deals::update(s, &t.tenant, &actor, &t.access, id, version, patch))
        .await?;
    Ok(versioned(StatusCode::OK, &d, d.version))
}

/// Where to move a deal.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Move {
    /// The target stage's id.
    #[schema(value_type = String)]
    pub stage: StageId,
    /// When it moved (RFC 3339; default now).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub at: Option<Timestamp>,
    /// Why it was lost, when the stage is a lost one: one of the pipeline's `lost_reasons`
    /// when it lists any (422 otherwise). Moving out of a lost stage clears it.
    #[serde(default)]
    pub lost_reason: Option<String>,
}

/// Move a deal to another stage of its pipeline.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/deals/{id}/move", tag = "deals", operation_id = "move_deal",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Deal id"),
        ("If-Match" = Option<String>, Header, description = "The ETag from a GET")),
    request_body = Move,
    responses((status = 200, description = "The deal", body = Deal)))]
pub async fn move_to(
    State(state): State<AppState>,
    t: ScopedWrite,
    params: Params,
    IfMatch(version): IfMatch,
    ApiJson(m): ApiJson<Move>,
) -> ApiResult<Response> {
    let id: DealId = params.id("id", "deal")?;
    let actor = t.actor();
    let d = state
        .run(move |s| {
            let m = deals::StageMove {
                id,
                stage: m.stage,
                at: m.at,
                expected_version: version,
                lost_reason: m.lost_reason,
            };
            deals::move_to(s, &t.tenant, &actor, &t.access, m)
        })
        .await?;
    Ok(versioned(StatusCode::OK, &d, d.version))
}

/// A record of a deal batch: with an `id`, a change of that deal in the shape of a PATCH (a
/// GET's answer works too); without, a new deal in the shape of a POST.
#[derive(Debug)]
pub struct DealRecordBody(pub DealRecord);

impl<'de> Deserialize<'de> for DealRecordBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = serde_json::Value::deserialize(d)?;
        let serde_json::Value::Object(map) = &value else {
            return Err(D::Error::custom("a deal as a JSON object"));
        };
        let named = map.get("id").is_some_and(|id| !id.is_null());
        // The record's own path within it, as the body's errors give paths.
        fn parse<T: serde::de::DeserializeOwned, E: serde::de::Error>(
            v: serde_json::Value,
        ) -> Result<T, E> {
            serde_path_to_error::deserialize(v).map_err(|e| {
                let path = e.path().to_string();
                E::custom(format!("{path}: {}", e.into_inner()))
            })
        }
        if named {
            let patch: DealPatch = parse(value)?;
            let id = patch.id.ok_or_else(|| D::Error::custom("id: a deal id"))?;
            Ok(Self(DealRecord::Change(id, patch)))
        } else {
            parse(value).map(|input| Self(DealRecord::New(input)))
        }
    }
}

fn records_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder, Ref};
    ArrayBuilder::new()
        .items(
            OneOfBuilder::new()
                .item(Ref::from_schema_name("DealInput"))
                .item(Ref::from_schema_name("DealPatch")),
        )
        .min_items(Some(1))
        .max_items(Some(crate::service::customers::MAX_BATCH))
        .into()
}

/// A batch of deals to create or change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealBatch {
    /// 1 to 1,000 records: with an `id`, a change of that deal (PATCH's shape; `version` acts
    /// as `If-Match`); without, a new deal (POST's shape).
    #[schema(schema_with = records_schema)]
    pub records: Vec<DealRecordBody>,
}

/// Create or change up to 1,000 deals in one request and one commit; each record succeeds or
/// fails on its own (its custom fields checked, its customer and pipeline found). Deals have no
/// external ids, so a record names the deal to change by `id`. Needs a key for the whole tenant.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/deals/batch/upsert", tag = "deals", operation_id = "upsert_deals",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = DealBatch,
    responses((status = 200, description = "A result per record (some may have failed)", body = BatchAnswer<Deal>),
        (status = 422, description = "invalid_input (more than 1,000 records)", body = super::Problem)))]
pub async fn upsert_batch(
    State(state): State<AppState>,
    t: TenantWrite,
    ApiJson(batch): ApiJson<DealBatch>,
) -> ApiResult<Response> {
    let actor = t.actor();
    let records = batch.records.into_iter().map(|r| r.0).collect();
    let outcomes = state
        .run(move |s| deals::upsert_batch(s, &t.tenant, &actor, records))
        .await?;
    let answer = BatchAnswer::of(outcomes, |(deal, done)| {
        let status = match done {
            Upserted::Created => BatchStatus::Created,
            Upserted::Updated => BatchStatus::Updated,
            Upserted::Unchanged => BatchStatus::Unchanged,
        };
        Ok((status, deal))
    })?;
    Ok(json(StatusCode::OK, &answer))
}
