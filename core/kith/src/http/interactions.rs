//! `/v1/tenants/{tenant}/interactions` and due tasks: log, get, edit (`If-Match`), list due work.

use crate::model::Interaction;
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
use crate::model::{InteractionId, InteractionInput, InteractionPatch, Timestamp};
use crate::service::interactions;
use crate::store::{Op, Output};

/// The interaction routes.
pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/tenants/{tenant}/interactions", log)
        .post("/v1/tenants/{tenant}/interactions/batch", log_batch)
        .get("/v1/tenants/{tenant}/interactions/{id}", get)
        .patch("/v1/tenants/{tenant}/interactions/{id}", update)
        .get("/v1/tenants/{tenant}/tasks/due", due)
}

/// Log an interaction. An external id seen before returns the stored one with 200.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/interactions", tag = "interactions", operation_id = "log_interaction",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("Idempotency-Key" = Option<String>, Header, description = "Replays the first result on a retry")),
    request_body(content = InteractionInput, description = "InteractionInput"),
    responses((status = 201, description = "Logged", body = Interaction), (status = 200, description = "Already stored under its external id", body = Interaction)))]
pub async fn log(
    State(state): State<AppState>,
    t: ScopedWrite,
    req: Create<InteractionInput>,
) -> ApiResult<Response> {
    let actor = t.actor();
    let op = if t.access.is_full() {
        // Full access reads nothing before the write: the op is built here, off the store.
        Op::LogInteraction(req.body)
    } else {
        let (tenant, access) = (t.tenant.clone(), t.access.clone());
        state
            .run(move |s| interactions::log_op(s, &tenant, &access, req.body))
            .await?
    };
    let written = state.write(&t.tenant, &actor, vec![op], req.key).await?;
    let once = interactions::logged(written)?;
    let i = &once.value.interaction;
    if !once.value.created {
        return Ok(versioned(StatusCode::OK, i, i.version));
    }
    let location = format!("/v1/tenants/{}/interactions/{}", t.tenant, i.id);
    Ok(created(i, &location, Some(i.version), once.replayed))
}

/// Get an interaction.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/interactions/{id}", tag = "interactions", operation_id = "get_interaction",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Interaction id")),
    responses((status = 200, description = "The interaction", body = Interaction), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    t: ScopedRead,
    params: Params,
) -> ApiResult<Response> {
    let id: InteractionId = params.id("id", "interaction")?;
    let i = state
        .run(move |s| interactions::get(s, &t.tenant, &t.access, id))
        .await?;
    Ok(versioned(StatusCode::OK, &i, i.version))
}

/// Change an interaction: subject, body or deal of any; due date, priority, assignee, status,
/// category and resolution of a task, ticket or complaint. The event records each field's old
/// and new value. Moving to `resolved` or `closed` sets `resolved_at` (reopening clears it);
/// leaving `open` the first time sets `first_answered_at`.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/interactions/{id}", tag = "interactions", operation_id = "update_interaction",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Interaction id"),
        ("If-Match" = Option<String>, Header, description = "The ETag from a GET")),
    request_body(content = InteractionPatch, description = "InteractionPatch: subject?, body?, due_at?, priority?, assignee?, status?, category?, resolution?, deal? (null clears)"),
    responses((status = 200, description = "The interaction", body = Interaction),
        (status = 403, description = "not_permitted", body = super::Problem),
        (status = 412, description = "version_conflict", body = super::Problem),
        (status = 422, description = "invalid_input", body = super::Problem)))]
pub async fn update(
    State(state): State<AppState>,
    t: ScopedWrite,
    params: Params,
    IfMatch(version): IfMatch,
    ApiJson(patch): ApiJson<InteractionPatch>,
) -> ApiResult<Response> {
    let id: InteractionId = params.id("id", "interaction")?;
    let actor = t.actor();
    let i = state
        .run(move |s| interactions::update(s, &t.tenant, &actor, &t.access, id, version, patch))
        .await?;
    Ok(versioned(StatusCode::OK, &i, i.version))
}

/// Which due work to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DueQuery {
    /// Due at or before this time (RFC 3339; default now).
    pub until: Option<String>,
    /// Page size (1 to 1000, default 50).
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Open tasks and tickets due by `until`, earliest first.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/tasks/due", tag = "interactions", operation_id = "due_tasks",
    params(("tenant" = String, Path, description = "Tenant slug"), DueQuery),
    responses((status = 200, description = "A page of interactions", body = PageBody<Interaction>)))]
pub async fn due(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiQuery(q): ApiQuery<DueQuery>,
) -> ApiResult<Response> {
    let until = match &q.until {
        Some(u) => Timestamp::parse("until", u).map_err(invalid_query)?,
        None => Timestamp::now(),
    };
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let page = state
        .run(move |s| interactions::due(s, &t.tenant, &t.access, until, &page))
        .await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// Interactions to log.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionBatch {
    /// 1 to 1,000 interactions; one whose external id is stored already is `unchanged`.
    pub records: Vec<InteractionInput>,
}

/// Log up to 1,000 interactions in one request and one commit; each record succeeds or fails on
/// its own. Needs a key for the whole tenant.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/interactions/batch", tag = "interactions", operation_id = "log_interactions",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = InteractionBatch,
    responses((status = 200, description = "A result per record (some may have failed)", body = BatchAnswer<Interaction>),
        (status = 422, description = "invalid_input (more than 1,000 records)", body = super::Problem)))]
pub async fn log_batch(
    State(state): State<AppState>,
    t: TenantWrite,
    ApiJson(batch): ApiJson<InteractionBatch>,
) -> ApiResult<Response> {
    let actor = t.actor();
    let outcomes = state
        .run(move |s| interactions::log_batch(s, &t.tenant, &actor, batch.records))
        .await?;
    let answer = BatchAnswer::of(outcomes, |o| match o {
        Output::Interaction {
            interaction,
            created,
        } => Ok((
            if created {
                BatchStatus::Created
            } else {
                BatchStatus::Unchanged
            },
            interaction,
        )),
        other => Err(ApiError::internal(&format!("logging answered {other:?}"))),
    })?;
    Ok(json(StatusCode::OK, &answer))
}
