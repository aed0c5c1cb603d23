//! `/v1/tenants`: create, list, get, update, delete (admin; a tenant key may read its own tenant).

use crate::model::Tenant;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::{Admin, ScopedRead};
use super::error::ApiResult;
use super::extract::{
    ApiJson, ApiQuery, Create, PageBody, Paging, Params, created, json, no_content,
};
use super::{AppState, Routes};
use crate::model::{TenantInput, TenantPatch};
use crate::service::tenants;

/// The tenant routes.
pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/tenants", create)
        .get("/v1/tenants", list)
        .get("/v1/tenants/{tenant}", get)
        .patch("/v1/tenants/{tenant}", update)
        .delete("/v1/tenants/{tenant}", delete)
}

/// Create a tenant.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", operation_id = "create_tenant",
    request_body(content = TenantInput, description = "TenantInput: slug, name?, industry?"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first result on a retry")),
    responses((status = 201, description = "The tenant", body = Tenant), (status = 409, description = "tenant_exists", body = super::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    req: Create<TenantInput>,
) -> ApiResult<Response> {
    let actor = admin.actor();
    let once = state
        .run(move |s| tenants::create(s, &actor, req.body, req.key.as_ref()))
        .await?;
    let location = format!("/v1/tenants/{}", once.value.slug);
    Ok(created(&once.value, &location, None, once.replayed))
}

/// List tenants by slug.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", operation_id = "list_tenants", params(Paging),
    responses((status = 200, description = "A page of tenants", body = PageBody<Tenant>)))]
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Response> {
    let page = q.request()?;
    let page = state.run(move |s| tenants::list(s, &page)).await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// Get a tenant (admins, or the tenant's own keys).
#[utoipa::path(get, path = "/v1/tenants/{tenant}", tag = "tenants", operation_id = "get_tenant",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "The tenant", body = Tenant), (status = 404, description = "tenant_not_found", body = super::Problem)))]
pub async fn get(State(state): State<AppState>, t: ScopedRead) -> ApiResult<Response> {
    let tenant = state.run(move |s| tenants::get(s, &t.tenant)).await?;
    Ok(json(StatusCode::OK, &tenant))
}

/// Change a tenant's name or industry.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}", tag = "tenants", operation_id = "update_tenant",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body(content = TenantPatch, description = "TenantPatch: name?, industry? (null clears)"),
    responses((status = 200, description = "The tenant", body = Tenant)))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    params: Params,
    ApiJson(patch): ApiJson<TenantPatch>,
) -> ApiResult<Response> {
    let slug = params.tenant()?;
    let actor = admin.actor();
    let tenant = state
        .run(move |s| tenants::update(s, &actor, &slug, patch))
        .await?;
    Ok(json(StatusCode::OK, &tenant))
}

/// Delete a tenant with all its data, events and API keys.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}", tag = "tenants", operation_id = "delete_tenant",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    params: Params,
) -> ApiResult<Response> {
    let slug = params.tenant()?;
    let actor = admin.actor();
    state
        .run(move |s| tenants::delete(s, &actor, &slug))
        .await?;
    Ok(no_content())
}
