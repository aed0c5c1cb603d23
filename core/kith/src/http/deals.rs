//! `/v1/tenants/{tenant}/deals`: create, get, update, move to a stage.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::auth::{ScopedRead, ScopedWrite};
use super::error::ApiResult;
use super::extract::{ApiJson, Create, IfMatch, Params, created, versioned};
use super::{AppState, Routes};
use crate::model::{DealId, DealInput, DealPatch, StageId, Timestamp};
use crate::service::deals;

/// The deal routes.
pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/tenants/{tenant}/deals", create)
        .get("/v1/tenants/{tenant}/deals/{id}", get)
        .patch("/v1/tenants/{tenant}/deals/{id}", update)
        .post("/v1/tenants/{tenant}/deals/{id}/move", move_to)
}

/// Create a deal in its pipeline's first (or given) stage.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/deals", tag = "deals",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first result on a retry")),
    request_body(content = Object, description = "DealInput: customer, pipeline, stage?, title, amount {minor, currency}, expected_close?, owner?"),
    responses((status = 201, description = "The deal")))]
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
#[utoipa::path(get, path = "/v1/tenants/{tenant}/deals/{id}", tag = "deals",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Deal id")),
    responses((status = 200, description = "The deal")))]
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
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/deals/{id}", tag = "deals",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Deal id"),
        ("If-Match" = Option<String>, Header, description = "The ETag from a GET")),
    request_body(content = Object, description = "DealPatch: title?, amount?, expected_close?, owner? (null clears)"),
    responses((status = 200, description = "The deal"), (status = 412, description = "version_conflict", body = super::Problem)))]
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
}

/// Move a deal to another stage of its pipeline.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/deals/{id}/move", tag = "deals",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Deal id"),
        ("If-Match" = Option<String>, Header, description = "The ETag from a GET")),
    request_body = Move,
    responses((status = 200, description = "The deal")))]
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
            };
            deals::move_to(s, &t.tenant, &actor, &t.access, m)
        })
        .await?;
    Ok(versioned(StatusCode::OK, &d, d.version))
}
