//! `/v1/tenants/{tenant}/imports`: CSV imports into a running server, as jobs. The upload is
//! saved to a temporary file and answered 202 with the job; the import runs on its own thread
//! ([`crate::service::import`], the same code as `kith import`: column mapping, a per-row report
//! that never stops the good rows, a dry run) and `GET .../imports/{id}` shows its progress and
//! the rows it rejected.
//!
//! Bounds: an upload of at most [`HttpConfig::import_limit`](super::HttpConfig) bytes, sent
//! within [`UPLOAD_TIMEOUT`]; one import running per tenant (409 `import_running`) and
//! [`MAX_RUNNING`] per server (429 `imports_busy`); rows written [`BATCH`] per commit, so other
//! writers interleave; the first 1,000 row errors kept; the last [`KEPT_JOBS`] jobs of a tenant
//! kept in memory, each for [`KEPT_FOR`] after it ends (jobs do not survive a restart; the rows
//! they wrote do).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;

use super::auth::{TenantRead, TenantWrite};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, Params, json};
use super::{AppState, Routes};
use crate::model::{Actor, TenantSlug, Timestamp};
use crate::service::import::{
    ImportKind, ImportOptions, ImportProgress, Report, RowProblem, encoding_hint, import,
    import_jsonl,
};

/// Imports running at once on one server.
pub const MAX_RUNNING: usize = 2;
/// Jobs a tenant's list keeps (finished ones beyond it are forgotten, oldest first).
pub const KEPT_JOBS: usize = 20;
/// Rows written per commit.
pub const BATCH: usize = 1000;
/// How long an upload may take.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a finished job is kept (with its row errors) before it is forgotten.
pub const KEPT_FOR: Duration = Duration::from_secs(3600);

/// The import routes.
pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/tenants/{tenant}/customers/import", import_customers)
        .post(
            "/v1/tenants/{tenant}/interactions/import",
            import_interactions,
        )
        .get("/v1/tenants/{tenant}/imports", list)
        .get("/v1/tenants/{tenant}/imports/{id}", get)
}

/// Where an import job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Reading and writing rows.
    Running,
    /// Every row was read (some may have been rejected: see `rejected`).
    Done,
    /// Stopped: see `error`. Rows before the failure were written (unless a dry run).
    Failed,
}

/// An import job as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportJob {
    /// The job's id.
    pub id: String,
    /// What the file holds.
    pub kind: ImportKind,
    /// Whether nothing is written.
    pub dry_run: bool,
    /// Where it is.
    pub status: JobStatus,
    /// When it started.
    #[schema(value_type = String, format = DateTime)]
    pub started_at: Timestamp,
    /// When it ended.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    /// The file's size.
    pub bytes_total: u64,
    /// Bytes read so far.
    pub bytes_read: u64,
    /// Rows rejected so far.
    pub rejected: u64,
    /// When it ended: what was imported, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Advice (a file that is not UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Columns that were ignored.
    pub warnings: Vec<String>,
    /// The first 1,000 row errors.
    pub errors: Vec<RowProblem>,
}

/// A job and its live progress.
#[derive(Debug)]
struct Job {
    progress: Arc<ImportProgress>,
    view: Mutex<ImportJob>,
    /// Turns true when the job ends (what `?wait=` waits for).
    ended: tokio::sync::watch::Sender<bool>,
}

impl Job {
    fn view(&self) -> ImportJob {
        let mut v = self
            .view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        v.bytes_read = self.progress.bytes_read();
        v.rejected = self.progress.rejected();
        v.errors = self.progress.errors();
        v.warnings = self.progress.warnings();
        v
    }

    fn finish(
        &self,
        status: JobStatus,
        summary: Option<String>,
        error: Option<String>,
        hint: Option<String>,
    ) {
        let mut v = self.view.lock().unwrap_or_else(PoisonError::into_inner);
        v.status = status;
        v.summary = summary;
        v.error = error;
        v.hint = hint;
        v.finished_at = Some(Timestamp::now());
        drop(v);
        self.ended.send_replace(true);
    }
}

/// Every tenant's recent jobs.
#[derive(Debug, Default)]
pub struct Imports {
    tenants: Mutex<HashMap<String, VecDeque<Arc<Job>>>>,
}

impl Imports {
    fn running(jobs: &VecDeque<Arc<Job>>) -> usize {
        jobs.iter()
            .filter(|j| {
                j.view.lock().unwrap_or_else(PoisonError::into_inner).status == JobStatus::Running
            })
            .count()
    }

    /// Registers a new job, or says why not.
    fn admit(&self, tenant: &TenantSlug, job: Arc<Job>) -> ApiResult<()> {
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        if tenants
            .get(tenant.as_str())
            .is_some_and(|jobs| Self::running(jobs) > 0)
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "import_running",
                format!(
                    "an import into tenant {tenant} is running; wait for it to finish (GET .../imports)"
                ),
            ));
        }
        if tenants.values().map(Self::running).sum::<usize>() >= MAX_RUNNING {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "imports_busy",
                format!(
                    "{MAX_RUNNING} imports are running on this server; try again in a few minutes"
                ),
            ));
        }
        // Finished jobs older than KEPT_FOR go, in every tenant: what jobs hold stays bounded by
        // what ran in the last hour, not by every tenant that ever imported.
        let cutoff = Timestamp::now().as_micros() - KEPT_FOR.as_micros() as i64;
        tenants.retain(|_, jobs| {
            jobs.retain(|j| {
                j.view
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .finished_at
                    .is_none_or(|at| at.as_micros() > cutoff)
            });
            !jobs.is_empty()
        });
        let jobs = tenants.entry(tenant.to_string()).or_default();
        jobs.push_front(job);
        while jobs.len() > KEPT_JOBS {
            // The oldest finished one (a running one is never dropped).
            match jobs.iter().rposition(|j| {
                j.view.lock().unwrap_or_else(PoisonError::into_inner).status != JobStatus::Running
            }) {
                Some(i) => {
                    jobs.remove(i);
                }
                None => break,
            }
        }
        Ok(())
    }

    fn jobs(&self, tenant: &TenantSlug) -> Vec<Arc<Job>> {
        self.tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant.as_str())
            .map(|jobs| jobs.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// How to read the upload.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Validate every row, including duplicates against the store, and write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Column mapping overrides, `COLUMN=FIELD` pairs separated by commas (FIELD `ignore` skips
    /// the column), as `kith import --map`.
    pub map: Option<String>,
}

/// Removes the uploaded file when the job is done with it (or the upload failed).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Import customers from a CSV file (UTF-8, a header line; the columns `kith import customers
/// --help` lists) or from JSON Lines (`application/x-ndjson`: each line a record as the batch
/// upsert takes, matched the same way). Answers 202 with the job at once; follow it with
/// `GET .../imports/{id}`. Needs a key for the whole tenant that may write.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/customers/import", tag = "customers", operation_id = "import_customers",
    params(("tenant" = String, Path, description = "Tenant slug"), ImportQuery),
    request_body(content((String = "text/csv"), (String = "application/x-ndjson")), description = "A CSV file, or JSON Lines: one record per line in the shape the API takes (an export's lines work)"),
    responses((status = 202, description = "The job, started (Location: its URL)", body = ImportJob),
        (status = 409, description = "import_running", body = super::Problem),
        (status = 413, description = "payload_too_large", body = super::Problem),
        (status = 415, description = "unsupported_media_type", body = super::Problem),
        (status = 429, description = "imports_busy", body = super::Problem)))]
pub async fn import_customers(
    State(state): State<AppState>,
    t: TenantWrite,
    ApiQuery(q): ApiQuery<ImportQuery>,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    start(state, t, q, request, ImportKind::Customers).await
}

/// Import interactions from a CSV file (the columns `kith import interactions --help` lists)
/// or JSON Lines (each line an interaction as `POST .../interactions` takes), as a job like
/// `POST .../customers/import`.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/interactions/import", tag = "interactions", operation_id = "import_interactions",
    params(("tenant" = String, Path, description = "Tenant slug"), ImportQuery),
    request_body(content((String = "text/csv"), (String = "application/x-ndjson")), description = "A CSV file, or JSON Lines: one record per line in the shape the API takes (an export's lines work)"),
    responses((status = 202, description = "The job, started (Location: its URL)", body = ImportJob),
        (status = 409, description = "import_running", body = super::Problem),
        (status = 413, description = "payload_too_large", body = super::Problem),
        (status = 415, description = "unsupported_media_type", body = super::Problem),
        (status = 429, description = "imports_busy", body = super::Problem)))]
pub async fn import_interactions(
    State(state): State<AppState>,
    t: TenantWrite,
    ApiQuery(q): ApiQuery<ImportQuery>,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    start(state, t, q, request, ImportKind::Interactions).await
}

async fn start(
    state: AppState,
    t: TenantWrite,
    q: ImportQuery,
    request: axum::extract::Request,
    kind: ImportKind,
) -> ApiResult<Response> {
    let media = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let jsonl = match media.as_deref() {
        Some("text/csv" | "text/plain" | "application/octet-stream") => false,
        Some("application/x-ndjson" | "application/jsonl" | "application/json-lines") => true,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send a CSV file with Content-Type: text/csv, or JSON Lines with \
                 Content-Type: application/x-ndjson",
            ));
        }
    };
    if jsonl && q.map.is_some() {
        return Err(ApiError::field(
            "invalid_query",
            "map",
            "no column map for JSON Lines (its records name their fields)",
        ));
    }
    let maps: Vec<String> = q
        .map
        .as_deref()
        .map(|m| {
            m.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if maps.len() > 200 {
        return Err(ApiError::field(
            "invalid_query",
            "map",
            "at most 200 COLUMN=FIELD pairs",
        ));
    }
    let limit = state.config().import_limit;
    let too_big = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "an import file may be at most {limit} bytes (import_limit_bytes in kith.toml); split it"
            ),
        )
    };
    if super::extract::declared_length(request.headers()).is_some_and(|n| n > limit as u64) {
        return Err(too_big());
    }
    let id = uuid::Uuid::now_v7().to_string();
    let suffix = if jsonl { "jsonl" } else { "csv" };
    let path = std::env::temp_dir().join(format!("kith-import-{id}.{suffix}"));
    let file = TempFile(path.clone());
    let size = tokio::time::timeout(UPLOAD_TIMEOUT, save(request.into_body(), &path, limit))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "upload_timeout",
                format!(
                    "the file was not sent within {} s",
                    UPLOAD_TIMEOUT.as_secs()
                ),
            )
        })??
        .ok_or_else(too_big)?;
    let job = Arc::new(Job {
        progress: Arc::default(),
        view: Mutex::new(ImportJob {
            id: id.clone(),
            kind,
            dry_run: q.dry_run,
            status: JobStatus::Running,
            started_at: Timestamp::now(),
            finished_at: None,
            bytes_total: size,
            bytes_read: 0,
            rejected: 0,
            summary: None,
            error: None,
            hint: None,
            warnings: Vec::new(),
            errors: Vec::new(),
        }),
        ended: tokio::sync::watch::Sender::new(false),
    });
    state.inner.imports.admit(&t.tenant, Arc::clone(&job))?;
    let options = ImportOptions {
        kind,
        dry_run: q.dry_run,
        maps,
        batch: BATCH,
    };
    let (store, tenant, actor): (_, TenantSlug, Actor) =
        (state.store_arc(), t.tenant.clone(), t.actor());
    // As accepted: the job may end before this answer is sent.
    let accepted = job.view();
    let running = Arc::clone(&job);
    tokio::task::spawn_blocking(move || {
        let _file = file;
        let progress = Arc::clone(&running.progress);
        let report = |_| Report::shared(progress);
        let done = if jsonl {
            import_jsonl(store.as_ref(), &tenant, &actor, &path, &options, report)
        } else {
            import(store.as_ref(), &tenant, &actor, &path, &options, report)
        };
        match done {
            Ok(outcome) => {
                let hint = encoding_hint(outcome.badly_encoded);
                let (status, error) = match outcome.stopped {
                    None => (JobStatus::Done, None),
                    Some(e) => (JobStatus::Failed, Some(format!("{e:#}"))),
                };
                tracing::info!(%tenant, rejected = outcome.rejected, "import finished: {}", outcome.summary);
                running.finish(status, Some(outcome.summary), error, hint);
            }
            Err(e) => {
                tracing::info!(%tenant, "import refused: {e:#}");
                running.finish(JobStatus::Failed, None, Some(format!("{e:#}")), None);
            }
        }
    });
    let mut r = json(StatusCode::ACCEPTED, &accepted);
    if let Ok(l) = HeaderValue::from_str(&format!("/v1/tenants/{}/imports/{id}", t.tenant)) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    Ok(r)
}

/// Writes the body to `path`; `None` when it is longer than `limit`.
async fn save(body: Body, path: &std::path::Path, limit: usize) -> ApiResult<Option<u64>> {
    let unreadable = |e: &dyn std::fmt::Display| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            format!("the request body could not be read: {e}"),
        )
    };
    // Written through tokio's file (on its blocking pool), so a big upload never holds a
    // runtime thread on the disk.
    let file = tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let mut out = tokio::io::BufWriter::new(file);
    let mut stream = body.into_data_stream();
    let mut size = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| unreadable(&e))?;
        size += chunk.len() as u64;
        if size > limit as u64 {
            return Ok(None);
        }
        out.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    out.flush().await.map_err(|e| ApiError::internal(&e))?;
    Ok(Some(size))
}

/// The tenant's recent import jobs, newest first (at most 20; not kept across restarts).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/imports", tag = "tenants", operation_id = "list_imports",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "The jobs", body = ImportList)))]
pub async fn list(State(state): State<AppState>, t: TenantRead) -> ApiResult<Response> {
    let items = state
        .inner
        .imports
        .jobs(&t.tenant)
        .iter()
        .map(|j| j.view())
        .collect();
    Ok(json(StatusCode::OK, &ImportList { items }))
}

/// A tenant's import jobs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ImportList {
    /// Newest first.
    pub items: Vec<ImportJob>,
}

/// How long to wait for a job.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobWait {
    /// Wait up to this many seconds (at most the server's `max_wait_secs`, 60 by default) for
    /// a running job to end before answering.
    pub wait: Option<u64>,
}

/// An import job: progress, counts, the first 1,000 row errors, and the summary once done.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/imports/{id}", tag = "tenants", operation_id = "get_import",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "The job's id"), JobWait),
    responses((status = 200, description = "The job", body = ImportJob),
        (status = 404, description = "not_found", body = super::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    t: TenantRead,
    params: Params,
    ApiQuery(q): ApiQuery<JobWait>,
) -> ApiResult<Response> {
    let id = params.get("id");
    let job = state
        .inner
        .imports
        .jobs(&t.tenant)
        .into_iter()
        .find(|j| j.view.lock().unwrap_or_else(PoisonError::into_inner).id == id)
        .ok_or_else(|| crate::store::Error::not_found("import", id))?;
    wait_for_end(&state, &job.ended, q.wait).await;
    Ok(json(StatusCode::OK, &job.view()))
}

/// Waits up to `secs` seconds (at most the server's `max_wait_secs`) for a job's `ended` to
/// turn true, or for the server to stop; returns at once without `secs`.
pub(super) async fn wait_for_end(
    state: &AppState,
    ended: &tokio::sync::watch::Sender<bool>,
    secs: Option<u64>,
) {
    let Some(secs) = secs else { return };
    let wait = Duration::from_secs(secs).min(state.config().max_wait);
    let mut ended = ended.subscribe();
    let mut stopping = state.inner.shutdown.clone();
    tokio::select! {
        _ = tokio::time::timeout(wait, ended.wait_for(|e| *e)) => {}
        _ = stopping.wait_for(|s| *s) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: JobStatus) -> Arc<Job> {
        Arc::new(Job {
            progress: Arc::default(),
            view: Mutex::new(ImportJob {
                id: uuid::Uuid::now_v7().to_string(),
                kind: ImportKind::Customers,
                dry_run: false,
                status,
                started_at: Timestamp::now(),
                finished_at: None,
                bytes_total: 0,
                bytes_read: 0,
                rejected: 0,
                summary: None,
                error: None,
                hint: None,
                warnings: Vec::new(),
                errors: Vec::new(),
            }),
            ended: tokio::sync::watch::Sender::new(false),
        })
    }

    fn slug(s: &str) -> TenantSlug {
        s.parse().unwrap()
    }

    #[test]
    fn one_import_per_tenant_a_few_per_server_and_a_bounded_history() {
        let imports = Imports::default();
        let first = job(JobStatus::Running);
        imports.admit(&slug("a"), Arc::clone(&first)).unwrap();
        let again = imports
            .admit(&slug("a"), job(JobStatus::Running))
            .unwrap_err();
        assert_eq!(
            (again.status(), again.code()),
            (StatusCode::CONFLICT, "import_running")
        );
        imports.admit(&slug("b"), job(JobStatus::Running)).unwrap();
        let full = imports
            .admit(&slug("c"), job(JobStatus::Running))
            .unwrap_err();
        assert_eq!(
            (full.status(), full.code()),
            (StatusCode::TOO_MANY_REQUESTS, "imports_busy")
        );
        // A finished job frees its place; the history keeps the newest KEPT_JOBS.
        first.finish(JobStatus::Done, None, None, None);
        assert!(*first.ended.borrow());
        for _ in 0..KEPT_JOBS + 5 {
            imports.admit(&slug("a"), job(JobStatus::Done)).unwrap();
        }
        assert_eq!(imports.jobs(&slug("a")).len(), KEPT_JOBS);
        assert!(imports.jobs(&slug("z")).is_empty());
        // A job that ended more than KEPT_FOR ago is forgotten at the next admission, in any
        // tenant; a running one never is.
        let old = job(JobStatus::Done);
        old.view.lock().unwrap().finished_at = Some(Timestamp::from_secs(1_000));
        imports.admit(&slug("old"), Arc::clone(&old)).unwrap();
        let running = job(JobStatus::Running);
        imports.admit(&slug("busy"), Arc::clone(&running)).unwrap();
        assert!(imports.jobs(&slug("old")).is_empty(), "an old job was kept");
        assert_eq!(imports.jobs(&slug("busy")).len(), 1);
    }
}
