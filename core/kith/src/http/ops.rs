//! Operational endpoints: health, readiness, Prometheus metrics and the OpenAPI document. They need
//! no token (bind the server to a private address, or put it behind a proxy, to restrict them).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

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

/// `/healthz`'s answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `/readyz`'s answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Always `ready`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// How many tenants the store holds.
    pub tenants: usize,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Up", body = Health)))]
pub async fn healthz() -> Response {
    json(StatusCode::OK, &Health { status: "ok" })
}

/// The store answers reads: the server can take traffic.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "Ready", body = Readiness), (status = 503, description = "The store does not answer")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.run(|s| Ok(s.tenants()?.len())).await {
        Ok(tenants) => json(
            StatusCode::OK,
            &Readiness {
                status: "ready",
                tenants,
            },
        ),
        Err(e) => {
            let mut r = e.into_response();
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            r
        }
    }
}

/// Prometheus metrics (OpenMetrics text format 1.0).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)],
        state.metrics().render(),
    )
        .into_response()
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations", operation_id = "openapi_document",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub async fn openapi() -> Response {
    // Built once: the document is fixed for the binary, and anyone may ask for it.
    static DOCUMENT: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| match serde_json::to_vec(&super::openapi::document()) {
        Ok(bytes) => Bytes::from(bytes),
        Err(e) => {
            tracing::error!(error = %e, "encoding the OpenAPI document failed");
            Bytes::new()
        }
    });
    ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response()
}
