//! `/v1/tenants/{tenant}/pipelines`: create, list, get, update, reorder stages, delete when empty,
//! report, and the deals of a pipeline.

use crate::model::{Deal, Pipeline, PipelineReport};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::auth::{ScopedRead, TenantWrite};
use super::error::ApiResult;
use super::extract::{
    ApiJson, ApiQuery, Create, IfMatch, PageBody, Params, created, invalid_query, json, no_content,
    page_request, versioned,
};
use super::{AppState, Routes};
use crate::model::{PipelineId, PipelineInput, PipelinePatch, StageId};
use crate::service::{deals, pipelines};

/// The pipeline routes.
pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/tenants/{tenant}/pipelines", create)
        .get("/v1/tenants/{tenant}/pipelines", list)
        .get("/v1/tenants/{tenant}/pipelines/{id}", get)
        .patch("/v1/tenants/{tenant}/pipelines/{id}", update)
        .delete("/v1/tenants/{tenant}/pipelines/{id}", delete)
        .put("/v1/tenants/{tenant}/pipelines/{id}/stage-order", reorder)
        .get("/v1/tenants/{tenant}/pipelines/{id}/report", report)
        .get("/v1/tenants/{tenant}/pipelines/{id}/deals", deals_of)
}

/// Create a pipeline with its stages.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/pipelines", tag = "pipelines", operation_id = "create_pipeline",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first result on a retry")),
    request_body(content = PipelineInput, description = "PipelineInput: name, stages [{name, probability, category?}], lost_reasons? [text]"),
    responses((status = 201, description = "The pipeline", body = Pipeline), (status = 409, description = "duplicate name", body = super::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    t: TenantWrite,
    req: Create<PipelineInput>,
) -> ApiResult<Response> {
    let actor = t.actor();
    let tenant = t.tenant.clone();
    let once = state
        .run(move |s| pipelines::create(s, &tenant, &actor, req.body, req.key.as_ref()))
        .await?;
    let p = once.value;
    let location = format!("/v1/tenants/{}/pipelines/{}", t.tenant, p.id);
    Ok(created(&p, &location, Some(p.version), once.replayed))
}

/// List pipelines, oldest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/pipelines", tag = "pipelines", operation_id = "list_pipelines",
    params(("tenant" = String, Path, description = "Tenant slug"), super::extract::Paging),
    responses((status = 200, description = "A page of pipelines", body = PageBody<Pipeline>)))]
pub async fn list(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiQuery(q): ApiQuery<super::extract::Paging>,
) -> ApiResult<Response> {
    let page = q.request()?;
    let page = state
        .run(move |s| pipelines::list(s, &t.tenant, &page))
        .await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// Get a pipeline.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/pipelines/{id}", tag = "pipelines", operation_id = "get_pipeline",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Pipeline id")),
    responses((status = 200, description = "The pipeline", body = Pipeline)))]
pub async fn get(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
) -> ApiResult<Response> {
    let id: PipelineId = params.id("id", "pipeline")?;
    let p = state.run(move |s| pipelines::get(s, &t.tenant, id)).await?;
    Ok(versioned(StatusCode::OK, &p, p.version))
}

/// Rename a pipeline, change its stages, or append stages. What a GET returns may be sent back
/// unchanged: `id` is checked, `version` acts as `If-Match`, `created_at` is ignored, and each
/// stage is a change by id.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/pipelines/{id}", tag = "pipelines", operation_id = "update_pipeline",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Pipeline id"),
        ("If-Match" = Option<String>, Header, description = "The ETag from a GET")),
    request_body(content = PipelinePatch, description = "PipelinePatch: name?, stages [{id, name?, probability?, category?}], add_stages [...], lost_reasons? [text] (replaces the list); or a GET's answer"),
    responses((status = 200, description = "The pipeline", body = Pipeline), (status = 412, description = "version_conflict", body = super::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<PipelinePatch>,
) -> ApiResult<Response> {
    let id: PipelineId = params.id("id", "pipeline")?;
    let actor = t.actor();
    let p = state
        .run(move |s| pipelines::update(s, &t.tenant, &actor, id, version, patch))
        .await?;
    Ok(versioned(StatusCode::OK, &p, p.version))
}

/// The stages' new order.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageOrder {
    /// Every stage id of the pipeline once, in the new order.
    #[schema(value_type = Vec<String>)]
    pub stages: Vec<StageId>,
}

/// Reorder a pipeline's stages.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/pipelines/{id}/stage-order", tag = "pipelines", operation_id = "reorder_stages",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Pipeline id"),
        ("If-Match" = Option<String>, Header, description = "The ETag from a GET")),
    request_body = StageOrder,
    responses((status = 200, description = "The pipeline", body = Pipeline)))]
pub async fn reorder(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
    IfMatch(version): IfMatch,
    ApiJson(order): ApiJson<StageOrder>,
) -> ApiResult<Response> {
    let id: PipelineId = params.id("id", "pipeline")?;
    let actor = t.actor();
    let p = state
        .run(move |s| pipelines::reorder(s, &t.tenant, &actor, id, version, order.stages))
        .await?;
    Ok(versioned(StatusCode::OK, &p, p.version))
}

/// Delete a pipeline that has no deals (else 409 `pipeline_not_empty`).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/pipelines/{id}", tag = "pipelines", operation_id = "delete_pipeline",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Pipeline id")),
    responses((status = 204, description = "Deleted"), (status = 409, description = "pipeline_not_empty", body = super::Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
) -> ApiResult<Response> {
    let id: PipelineId = params.id("id", "pipeline")?;
    let actor = t.actor();
    state
        .run(move |s| pipelines::delete(s, &t.tenant, &actor, id))
        .await?;
    Ok(no_content())
}

/// The pipeline's funnel: count, amount, weighted amount, conversion and time in stage.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/pipelines/{id}/report", tag = "pipelines", operation_id = "pipeline_report",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Pipeline id")),
    responses((status = 200, description = "The report", body = PipelineReport)))]
pub async fn report(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
) -> ApiResult<Response> {
    let id: PipelineId = params.id("id", "pipeline")?;
    let r = state
        .run(move |s| pipelines::report(s, &t.tenant, &t.access, id))
        .await?;
    Ok(json(StatusCode::OK, &r))
}

/// Which deals of a pipeline to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DealsQuery {
    /// Only deals in this stage (its id).
    pub stage: Option<String>,
    /// Page size (1 to 1000, default 50).
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The deals of a pipeline, optionally of one stage.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/pipelines/{id}/deals", tag = "deals", operation_id = "pipeline_deals",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Pipeline id"), DealsQuery),
    responses((status = 200, description = "A page of deals", body = PageBody<Deal>)))]
pub async fn deals_of(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
    ApiQuery(q): ApiQuery<DealsQuery>,
) -> ApiResult<Response> {
    let id: PipelineId = params.id("id", "pipeline")?;
    let stage = match &q.stage {
        Some(s) => Some(StageId::parse("stage", s).map_err(invalid_query)?),
        None => None,
    };
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let page = state
        .run(move |s| deals::list(s, &t.tenant, &t.access, id, stage, &page))
        .await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}
