//! `/v1/tenants/{tenant}/events`: the tenant's event log from a sequence number, as a long-poll
//! (`wait`) or as server-sent events (`Accept: text/event-stream`). Both are woken by the store's
//! commits, never by a polling timer.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::auth::ScopedRead;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, json};
use super::{AppState, Routes};
use crate::model::{Event, TenantSlug};
use crate::service::access::Access;
use crate::service::events;

/// The event routes.
pub fn routes() -> Routes {
    Routes::new().get("/v1/tenants/{tenant}/events", list)
}

/// Where to start and how long to wait.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Events with a greater sequence number (default 0: from the start). For streams, the
    /// `Last-Event-ID` header wins.
    pub after: Option<u64>,
    /// Without `after` (or `Last-Event-ID`): start this many events before the newest, e.g.
    /// `tail=50` for the last 50 and then what comes (a live feed that need not read the whole
    /// log first).
    pub tail: Option<u64>,
    /// At most this many events (1 to 1000, default 100).
    pub limit: Option<usize>,
    /// Long-poll: when there is no event yet, wait up to this long for one (`30s`, `500ms`, `2m`
    /// or seconds; default 0, at most the server's limit).
    pub wait: Option<String>,
}

/// A page of the event log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsPage {
    /// The events, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Event>,
    /// Pass as `after` to continue: the last event's sequence number (or `after` when empty).
    pub next_after: u64,
}

fn parse_wait(raw: &str, max: Duration) -> ApiResult<Duration> {
    let raw = raw.trim();
    let (num, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, "s"), |i| raw.split_at(i));
    let n: u64 = num.parse().map_err(|_| bad_wait(max))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(bad_wait(max)),
    };
    if d > max {
        return Err(bad_wait(max));
    }
    Ok(d)
}

fn bad_wait(max: Duration) -> ApiError {
    ApiError::field(
        "invalid_query",
        "wait",
        format!(
            "a duration such as 30s, 500ms or 2m, at most {}s",
            max.as_secs()
        ),
    )
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// The event log from a sequence number: JSON (optionally long-polling) or a server-sent event
/// stream.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/events", tag = "events", operation_id = "list_events",
    params(("tenant" = String, Path, description = "Tenant slug"), EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume a stream after this sequence number")),
    responses((status = 200, description = "A page of events (application/json), or a stream of them (text/event-stream) whose ids are sequence numbers", body = EventsPage)))]
pub async fn list(
    State(state): State<AppState>,
    t: ScopedRead,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Response> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field(
            "invalid_query",
            "limit",
            "a number from 1 to 1000",
        ));
    }
    let max = state.config().max_wait;
    let wait = match &q.wait {
        Some(w) => parse_wait(w, max)?,
        None => Duration::ZERO,
    };
    let mut after = q.after.unwrap_or(0);
    // Subscribe before the first read, so that a commit between the read and the wait wakes us.
    let commits = state.inner.feed.subscribe();
    let shutdown = state.inner.shutdown.clone();
    if wants_stream(&headers) {
        if let Some(last) = headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
        {
            after = last;
        }
        // Fail now (404, ...) rather than inside the stream.
        let tenant = t.tenant.clone();
        let last = state.run(move |s| s.last_seq(&tenant)).await?;
        if let (None, None, Some(tail)) = (q.after, headers.get("last-event-id"), q.tail) {
            after = last.saturating_sub(tail);
        }
        let follow = Follow {
            state,
            tenant: t.tenant,
            access: t.access,
            after,
            limit,
            commits,
            shutdown,
        };
        return Ok(stream(follow).into_response());
    }
    if let (None, Some(tail)) = (q.after, q.tail) {
        let tenant = t.tenant.clone();
        after = state
            .run(move |s| s.last_seq(&tenant))
            .await?
            .saturating_sub(tail);
    }
    let (items, next_after) = long_poll(
        &state, &t.tenant, &t.access, after, limit, wait, commits, shutdown,
    )
    .await?;
    Ok(json(StatusCode::OK, &EventsPage { items, next_after }))
}

/// The events after `after` the caller may see, and the last sequence number read.
async fn read(
    state: &AppState,
    tenant: &TenantSlug,
    access: &Access,
    after: u64,
    limit: usize,
) -> ApiResult<(Vec<Event>, u64)> {
    let tenant = tenant.clone();
    let access = access.clone();
    state
        .run(move |s| events::after_visible(s, &tenant, &access, after, limit))
        .await
}

#[allow(clippy::too_many_arguments)]
async fn long_poll(
    state: &AppState,
    tenant: &TenantSlug,
    access: &Access,
    mut after: u64,
    limit: usize,
    wait: Duration,
    mut commits: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) -> ApiResult<(Vec<Event>, u64)> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (items, last) = read(state, tenant, access, after, limit).await?;
        let done = (items, last);
        if !done.0.is_empty() || wait.is_zero() || *shutdown.borrow() {
            return Ok(done);
        }
        if last > after {
            // Read events the caller may not see: go on from there without waiting.
            after = last;
            continue;
        }
        tokio::select! {
            changed = commits.changed() => if changed.is_err() { return Ok(done) },
            () = tokio::time::sleep_until(deadline) => return Ok(done),
            _ = shutdown.changed() => return Ok(done),
        }
    }
}

struct Follow {
    state: AppState,
    tenant: TenantSlug,
    access: Access,
    after: u64,
    limit: usize,
    commits: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
}

fn stream(follow: Follow) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let batches = stream::unfold(follow, |mut f| async move {
        loop {
            if *f.shutdown.borrow() {
                return None;
            }
            // A tenant deleted under the stream ends it.
            let (items, last) = read(&f.state, &f.tenant, &f.access, f.after, f.limit)
                .await
                .ok()?;
            let skipped = last > f.after;
            f.after = last;
            if !items.is_empty() {
                let events: Vec<Result<SseEvent, Infallible>> = items
                    .iter()
                    .map(|e| {
                        let data = serde_json::to_string(e).unwrap_or_default();
                        Ok(SseEvent::default()
                            .id(e.seq.to_string())
                            .event("event")
                            .data(data))
                    })
                    .collect();
                return Some((stream::iter(events), f));
            }
            if skipped {
                continue;
            }
            tokio::select! {
                changed = f.commits.changed() => if changed.is_err() { return None },
                _ = f.shutdown.changed() => return None,
            }
        }
    });
    Sse::new(batches.flatten()).keep_alive(KeepAlive::default())
}
