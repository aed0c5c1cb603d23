//! `/v1/tenants/{tenant}/users` and `/teams`: the tenant's people. Everyone with a key of the
//! tenant may read the directory (to pick an owner); adding, changing, deactivating, deleting
//! teams and reassigning need a tenant admin.

use crate::model::{Team, User};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::auth::{ScopedRead, TenantWrite};
use super::error::ApiResult;
use super::extract::{
    ApiJson, ApiQuery, Create, IfMatch, PageBody, Paging, Params, created, json, no_content,
    versioned,
};
use super::{AppState, Routes};
use crate::model::{TeamId, TeamInput, TeamPatch, UserId, UserInput, UserPatch};
use crate::service::users;

/// The user and team routes.
pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/tenants/{tenant}/users", create)
        .get("/v1/tenants/{tenant}/users", list)
        .get("/v1/tenants/{tenant}/users/{id}", get)
        .patch("/v1/tenants/{tenant}/users/{id}", update)
        .post("/v1/tenants/{tenant}/users/{id}/reassign", reassign)
        .post("/v1/tenants/{tenant}/teams", create_team)
        .get("/v1/tenants/{tenant}/teams", list_teams)
        .get("/v1/tenants/{tenant}/teams/{id}", get_team)
        .patch("/v1/tenants/{tenant}/teams/{id}", update_team)
        .delete("/v1/tenants/{tenant}/teams/{id}", delete_team)
        .get("/v1/tenants/{tenant}/teams/{id}/members", team_members)
}

/// Add a user (role `admin`, `manager` or `member`; default `member`).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/users", tag = "users", operation_id = "create_user",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first result on a retry")),
    request_body(content = UserInput, description = "UserInput: name, email?, role?, teams? [team ids]"),
    responses((status = 201, description = "The user, with its ETag", body = User),
        (status = 403, description = "role_required", body = super::Problem),
        (status = 409, description = "duplicate email", body = super::Problem),
        (status = 422, description = "invalid_input", body = super::Problem)))]
pub async fn create(
    State(state): State<AppState>,
    t: TenantWrite,
    req: Create<UserInput>,
) -> ApiResult<Response> {
    let actor = t.actor();
    let tenant = t.tenant.clone();
    let once = state
        .run(move |s| users::create(s, &tenant, &actor, req.body, req.key.as_ref()))
        .await?;
    let u = once.value;
    let location = format!("/v1/tenants/{}/users/{}", t.tenant, u.id);
    Ok(created(&u, &location, Some(u.version), once.replayed))
}

/// List users, oldest first (deactivated ones included, with `active: false`).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/users", tag = "users", operation_id = "list_users",
    params(("tenant" = String, Path, description = "Tenant slug"), Paging),
    responses((status = 200, description = "A page of users", body = PageBody<User>)))]
pub async fn list(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Response> {
    let page = q.request()?;
    let page = state.run(move |s| users::list(s, &t.tenant, &page)).await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// Get a user.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/users/{id}", tag = "users", operation_id = "get_user",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user", body = User), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
) -> ApiResult<Response> {
    let id: UserId = params.id("id", "user")?;
    let u = state.run(move |s| users::get(s, &t.tenant, id)).await?;
    Ok(versioned(StatusCode::OK, &u, u.version))
}

/// Change a user's name, email, role or teams; `active: false` deactivates them: their keys
/// stop working, their records stay theirs until reassigned.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/users/{id}", tag = "users", operation_id = "update_user",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "The ETag from a GET")),
    request_body(content = UserPatch, description = "UserPatch: name?, email? (null removes), role?, teams?, active?"),
    responses((status = 200, description = "The user", body = User), (status = 412, description = "version_conflict", body = super::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Response> {
    let id: UserId = params.id("id", "user")?;
    let actor = t.actor();
    let u = state
        .run(move |s| users::update(s, &t.tenant, &actor, id, version, patch))
        .await?;
    Ok(versioned(StatusCode::OK, &u, u.version))
}

/// Whom to give a user's records to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    /// The new owner (an active user).
    #[schema(value_type = String)]
    pub to: UserId,
}

/// Give another user this user's customers and open deals (won and lost deals stay credited
/// to who closed them), up to 1,000 records per call: repeat while `more` is true.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/users/{id}/reassign", tag = "users", operation_id = "reassign_user",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "The current owner's user id")),
    request_body = ReassignRequest,
    responses((status = 200, description = "What moved", body = users::Reassigned),
        (status = 422, description = "invalid_input (deactivated or same target)", body = super::Problem)))]
pub async fn reassign(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
    ApiJson(req): ApiJson<ReassignRequest>,
) -> ApiResult<Response> {
    let from: UserId = params.id("id", "user")?;
    let actor = t.actor();
    let r = state
        .run(move |s| users::reassign(s, &t.tenant, &actor, from, req.to))
        .await?;
    Ok(json(StatusCode::OK, &r))
}

/// Create a team (`shared`, default true: members see their teammates' records read-only).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/teams", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first result on a retry")),
    request_body(content = TeamInput, description = "TeamInput: name, shared?"),
    responses((status = 201, description = "The team", body = Team), (status = 409, description = "duplicate name", body = super::Problem)))]
pub async fn create_team(
    State(state): State<AppState>,
    t: TenantWrite,
    req: Create<TeamInput>,
) -> ApiResult<Response> {
    let actor = t.actor();
    let tenant = t.tenant.clone();
    let once = state
        .run(move |s| users::create_team(s, &tenant, &actor, req.body, req.key.as_ref()))
        .await?;
    let team = once.value;
    let location = format!("/v1/tenants/{}/teams/{}", t.tenant, team.id);
    Ok(created(&team, &location, Some(team.version), once.replayed))
}

/// List teams, oldest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/teams", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"), Paging),
    responses((status = 200, description = "A page of teams", body = PageBody<Team>)))]
pub async fn list_teams(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Response> {
    let page = q.request()?;
    let page = state
        .run(move |s| users::list_teams(s, &t.tenant, &page))
        .await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// Get a team.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/teams/{id}", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Team id")),
    responses((status = 200, description = "The team", body = Team), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn get_team(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
) -> ApiResult<Response> {
    let id: TeamId = params.id("id", "team")?;
    let team = state
        .run(move |s| users::get_team(s, &t.tenant, id))
        .await?;
    Ok(versioned(StatusCode::OK, &team, team.version))
}

/// The users who belong to a team.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/teams/{id}/members", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Team id")),
    responses((status = 200, description = "The team's users (every one: a team has at most as many as the tenant)", body = PageBody<User>)))]
pub async fn team_members(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
) -> ApiResult<Response> {
    let id: TeamId = params.id("id", "team")?;
    let members = state
        .run(move |s| users::team_members(s, &t.tenant, id))
        .await?;
    Ok(json(
        StatusCode::OK,
        &PageBody {
            items: members,
            next_cursor: None,
        },
    ))
}

/// Rename a team or change whether it shares records.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/teams/{id}", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Team id"),
        ("If-Match" = Option<String>, Header, description = "The ETag from a GET")),
    request_body(content = TeamPatch, description = "TeamPatch: name?, shared?"),
    responses((status = 200, description = "The team", body = Team), (status = 412, description = "version_conflict", body = super::Problem)))]
pub async fn update_team(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<TeamPatch>,
) -> ApiResult<Response> {
    let id: TeamId = params.id("id", "team")?;
    let actor = t.actor();
    let team = state
        .run(move |s| users::update_team(s, &t.tenant, &actor, id, version, patch))
        .await?;
    Ok(versioned(StatusCode::OK, &team, team.version))
}

/// Delete a team nobody belongs to (else 409 `team_not_empty`).
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/teams/{id}", tag = "users",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Team id")),
    responses((status = 204, description = "Deleted"), (status = 409, description = "team_not_empty", body = super::Problem)))]
pub async fn delete_team(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
) -> ApiResult<Response> {
    let id: TeamId = params.id("id", "team")?;
    let actor = t.actor();
    state
        .run(move |s| users::delete_team(s, &t.tenant, &actor, id))
        .await?;
    Ok(no_content())
}
