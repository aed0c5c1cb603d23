//! The HTTP layer: `kith serve`. A thin axum layer over the store and, later, the service functions.
//!
//! Today it serves the operational endpoints (`/healthz`, `/readyz`) and shuts down gracefully;
//! the admin API's resources are added on top of this (see the HTTP admin API issue).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tracing::info;

use crate::store::{RedbStore, Store};

/// What the server shares with every request.
#[derive(Debug, Clone)]
pub struct AppState {
    store: Arc<RedbStore>,
}

/// The router with every route, ready to be served or tested with `tower::ServiceExt::oneshot`.
pub fn router(store: Arc<RedbStore>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState { store })
}

/// The process is up.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// The store answers reads: the server can take traffic.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = Arc::clone(&state.store);
    match tokio::task::spawn_blocking(move || store.tenants().map(|t| t.len())).await {
        Ok(Ok(tenants)) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "tenants": tenants })),
        ),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "detail": e.to_string() })),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable" })),
        ),
    }
}

/// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish and closes
/// the store so that every acknowledged write is durable.
pub async fn serve(store: Arc<RedbStore>, listen: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    info!(%addr, "kith listening");
    eprintln!("kith listening on http://{addr}");
    axum::serve(listener, router(Arc::clone(&store)))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    info!("shutting down: waiting for the last commit");
    store.close();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
