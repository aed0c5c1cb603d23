//! Request-wide behaviour: the request id, one tracing span per request, metrics, the timeout, and
//! problem answers for unknown routes and methods.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;
use super::error::ApiError;

/// The header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Keeps the caller's request id when it is a sane one (1 to 128 visible ASCII characters).
fn incoming_id(req: &Request) -> Option<HeaderValue> {
    req.headers()
        .get(REQUEST_ID)
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty() && b.len() <= 128 && b.iter().all(u8::is_ascii_graphic)
        })
        .cloned()
}

/// The tenant in a `/v1/tenants/{tenant}/...` path, for the span.
fn tenant_of(path: &str) -> &str {
    path.strip_prefix("/v1/tenants/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
}

/// Request id (echoed or generated), a span with method, route, tenant, status and latency, and
/// the request's latency in the metrics.
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = incoming_id(&req).unwrap_or_else(|| {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .unwrap_or(HeaderValue::from_static("-"))
    });
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_owned();
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        tenant = %tenant_of(req.uri().path()),
        request_id = %id.to_str().unwrap_or("-"),
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    span.record("status", status.as_u16());
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::info!("request finished"));
    state
        .metrics()
        .observe_request(method.as_str(), &route, status, elapsed);
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// Answers 408 when a request takes longer than the configured timeout.
///
/// The timer only fires on its next tick, so a response that finished after the limit but before
/// the tick is also answered 408: the limit holds exactly, whatever the timer's granularity.
pub async fn timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) if started.elapsed() <= limit => r,
        _ => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request took longer than {}s; a write may still complete: retry with the same Idempotency-Key",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

/// 404 for a path no route matches.
pub async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such endpoint; the API is described at /v1/openapi.json",
    )
}

/// 405 for a method the route does not have.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take this method; see /v1/openapi.json",
    )
}
