//! Request-wide behaviour: the request id, one log line per request, metrics, the timeout, and
//! problem answers for unknown routes and methods.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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

/// The tenant in a `/v1/tenants/{tenant}/...` path, for the request's log line.
fn tenant_of(path: &str) -> &str {
    path.strip_prefix("/v1/tenants/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
}

tokio::task_local! {
    /// The id of the request being handled, for log lines written while handling it.
    static CURRENT_ID: HeaderValue;
}

/// The id of the request this task is handling (`-` outside a request), for log lines that
/// must be found by it, such as the cause of a 500 (`ApiError::internal`).
pub fn current_request_id() -> String {
    CURRENT_ID
        .try_with(|id| id.to_str().unwrap_or("-").to_owned())
        .unwrap_or_else(|_| "-".to_owned())
}

/// Request id (echoed or generated), one log line when the request is answered (method, route,
/// tenant, request id, status, latency), and the request's latency in the metrics.
///
/// The line is one event, not a span around the request with an event in it: a span cost
/// about as much again (created, formatted, entered at every poll, recorded twice, closed),
/// 10 % of a `GET customer`'s CPU for both (bench/README.md). A line logged while the request
/// is handled that must be found by the request id carries it itself ([`current_request_id`]).
pub async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let id = incoming_id(&req).unwrap_or_else(new_id);
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    let tenant = tenant_of(req.uri().path()).to_owned();
    let started = Instant::now();
    let mut response = CURRENT_ID.scope(id.clone(), next.run(req)).await;
    let elapsed = started.elapsed();
    let status = response.status();
    tracing::info!(
        method = %method,
        route = %route,
        tenant = %tenant,
        request_id = %id.to_str().unwrap_or("-"),
        status = status.as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request finished"
    );
    state
        .metrics()
        .observe_request(method.as_str(), route, status, elapsed);
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

/// A new request id: a UUIDv7, which sorts by time.
fn new_id() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("-"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_request_id_is_known_while_the_request_is_handled_and_only_then() {
        let id = HeaderValue::from_static("req-1");
        let inside = CURRENT_ID.scope(id, async { current_request_id() }).await;
        assert_eq!(inside, "req-1");
        assert_eq!(current_request_id(), "-");
    }

    #[test]
    fn new_ids_are_uuids_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        for id in [a, b] {
            let text = id.to_str().expect("ASCII");
            assert!(uuid::Uuid::parse_str(text).is_ok(), "{text}");
        }
    }
}
