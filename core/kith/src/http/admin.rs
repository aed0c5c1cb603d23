//! `/v1/admin`: operating a running server. `POST /v1/admin/backup` streams a consistent copy of
//! the embedded store while others keep reading and writing, so nobody has to stop Kith to back
//! it up.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::io::AsyncReadExt as _;

use super::auth::Admin;
use super::error::{ApiError, ApiResult};
use super::{AppState, Routes};
use crate::model::Timestamp;

/// Bytes read from the snapshot per chunk of the answer.
const CHUNK: usize = 256 * 1024;

/// The admin routes.
pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/admin/backup", backup)
        .get("/v1/admin/stats", stats)
}

/// A consistent copy of the whole embedded store (every tenant), as a redb file: save it as
/// `kith.redb` in an empty data directory to restore. One backup runs at a time (409
/// `backup_running`); a PostgreSQL store answers 409 `backup_unsupported` (use `pg_dump`).
#[utoipa::path(post, path = "/v1/admin/backup", tag = "operations", operation_id = "backup",
    responses((status = 200, description = "The snapshot (application/octet-stream, with Content-Length)", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 409, description = "backup_running or backup_unsupported", body = super::Problem)))]
pub async fn backup(State(state): State<AppState>, _: Admin) -> ApiResult<Response> {
    let Some(dir) = state.config().backup_dir.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "backup_unsupported",
            "this server stores its data in PostgreSQL: back it up with pg_dump or your provider's snapshots",
        ));
    };
    // Held until the answer is sent or dropped: one snapshot on disk at a time.
    let permit = Arc::clone(&state.inner.backups)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                StatusCode::CONFLICT,
                "backup_running",
                "a backup is being taken or sent; try again when it has finished",
            )
        })?;
    let path = dir.join(format!(".backup-{}.partial-redb", uuid::Uuid::now_v7()));
    let at = path.clone();
    state.run(move |s| s.backup(&at)).await?;
    let opened = tokio::fs::File::open(&path).await;
    // Unlinked at once: the open file stays readable, and nothing is left behind whatever
    // becomes of the answer (a client that goes away, a crash).
    let _ = std::fs::remove_file(&path);
    let file = opened.map_err(|e| ApiError::internal(&e))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal(&e))?
        .len();
    let chunks = futures_util::stream::unfold((file, permit), |(mut file, permit)| async move {
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), (file, permit)))
            }
            Err(e) => Some((Err(e), (file, permit))),
        }
    });
    let mut r = Response::new(Body::from_stream(chunks));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let name = format!(
        "attachment; filename=\"kith-{}.redb\"",
        Timestamp::now().to_string().replace(':', "-")
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// Counts of one tenant's records.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TenantCounts {
    /// The tenant's slug.
    pub tenant: String,
    /// Customers.
    pub customers: u64,
    /// Interactions.
    pub interactions: u64,
    /// Pipelines.
    pub pipelines: u64,
    /// Deals.
    pub deals: u64,
    /// Events in its log.
    pub events: u64,
}

/// The store's schema version, size and per-tenant counts (what `kith stats` prints).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct StatsBody {
    /// The store's schema version.
    pub schema_version: u32,
    /// The data file's size (the embedded store) or the database's (PostgreSQL), in bytes.
    pub file_bytes: u64,
    /// Every tenant's counts.
    pub tenants: Vec<TenantCounts>,
}

/// The store's schema version, size and every tenant's counts, as `kith stats` prints them.
/// Counting reads every record: on a big store it takes seconds.
#[utoipa::path(get, path = "/v1/admin/stats", tag = "operations", operation_id = "store_stats",
    responses((status = 200, description = "The counts", body = StatsBody)))]
pub async fn stats(State(state): State<AppState>, _: Admin) -> ApiResult<Response> {
    let s = state.run(|s| s.stats()).await?;
    let body = StatsBody {
        schema_version: s.schema_version,
        file_bytes: s.file_bytes,
        tenants: s
            .tenants
            .into_iter()
            .map(|t| TenantCounts {
                tenant: t.tenant,
                customers: t.customers,
                interactions: t.interactions,
                pipelines: t.pipelines,
                deals: t.deals,
                events: t.events,
            })
            .collect(),
    };
    Ok(super::extract::json(StatusCode::OK, &body))
}
