//! Operational endpoints: health, readiness, Prometheus metrics and the OpenAPI document. They need
//! no token (bind the server to a private address, or put it behind a proxy, to restrict them).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::extract::json;
use super::{AppState, Routes};

/// The operational routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/healthz", healthz)
        .get("/readyz", readyz)
        .get("/metrics", metrics)
        .get("/v1/openapi.json", openapi)
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Up")))]
pub async fn healthz() -> Response {
    json(StatusCode::OK, &json!({ "status": "ok" }))
}

/// The store answers reads: the server can take traffic.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready"), (status = 503, description = "The store does not answer")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.run(|s| Ok(s.tenants()?.len())).await {
        Ok(tenants) => json(
            StatusCode::OK,
            &json!({ "status": "ready", "tenants": tenants }),
        ),
        Err(e) => {
            let mut r = e.into_response();
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            r
        }
    }
}

/// Prometheus metrics (text exposition format 0.0.4).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(),
    )
        .into_response()
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document")))]
pub async fn openapi() -> Response {
    json(StatusCode::OK, &super::openapi::document())
}
