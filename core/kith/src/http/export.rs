//! `GET /v1/tenants/{tenant}/export`: the tenant as JSON Lines, streamed while the server keeps
//! serving ([`crate::service::export`] has the format, shared with `kith export`).
//!
//! Bounds, since an export reads a whole tenant: one export per tenant at a time (409
//! `export_running`) and [`MAX_EXPORTS`] on the server (429 `exports_busy`), so no tenant takes
//! every slot. The reading thread writes into a channel of [`CHUNK`]-byte chunks, at most
//! [`QUEUED`] waiting: memory per export stays under a megabyte however slowly the client
//! reads, and a client that reads nothing for [`STALL`] is cut off, freeing its slot.

use std::collections::HashSet;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::auth::TenantRead;
use super::error::{ApiError, ApiResult};
use super::{AppState, Routes};
use crate::model::TenantSlug;
use crate::service::export::{ExportError, export as write_export};

/// Exports running at once on one server.
pub const MAX_EXPORTS: usize = 4;
/// Bytes per chunk of the answer.
pub const CHUNK: usize = 64 * 1024;
/// Chunks written but not yet sent, per export.
pub const QUEUED: usize = 8;
/// How long the export waits for a client that reads nothing.
pub const STALL: Duration = Duration::from_secs(30);

/// The export route.
pub fn routes() -> Routes {
    Routes::new().get("/v1/tenants/{tenant}/export", export)
}

/// Work that runs one at a time per tenant and a few at a time on the server (exports, the
/// data checks of field definitions): which tenants hold a slot.
#[derive(Debug)]
pub struct Running {
    tenants: Mutex<HashSet<String>>,
    /// Slots on the server.
    max: usize,
    /// What runs, in messages ("an export").
    what: &'static str,
    /// The 409 code when the tenant has one running, and the 429 code when the server is full.
    codes: (&'static str, &'static str),
}

impl Default for Running {
    /// The exports' slots.
    fn default() -> Self {
        Self::new("an export", MAX_EXPORTS, ("export_running", "exports_busy"))
    }
}

/// A running export's place, given back when dropped.
pub(super) struct Slot {
    running: Arc<Running>,
    tenant: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.running
            .tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.tenant);
    }
}

impl Running {
    /// `max` slots on the server for `what`, refused with `codes` (409, 429).
    pub fn new(what: &'static str, max: usize, codes: (&'static str, &'static str)) -> Self {
        Self {
            tenants: Mutex::default(),
            max,
            what,
            codes,
        }
    }

    /// A slot for `tenant`: 409 when it holds one, 429 when the server's are taken.
    pub(super) fn start(self: &Arc<Self>, tenant: &TenantSlug) -> ApiResult<Slot> {
        let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
        if tenants.contains(tenant.as_str()) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                self.codes.0,
                format!(
                    "{} of tenant {tenant} is running; wait for it to finish",
                    self.what
                ),
            ));
        }
        if tenants.len() >= self.max {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                self.codes.1,
                format!(
                    "this server runs {} for at most {} tenants at a time, all busy; try again \
                     in a minute",
                    self.what, self.max
                ),
            ));
        }
        tenants.insert(tenant.to_string());
        Ok(Slot {
            running: Arc::clone(self),
            tenant: tenant.to_string(),
        })
    }
}

/// Writes into the answer's channel, chunk by chunk, waiting at most [`STALL`] for room.
struct ChannelWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<io::Result<Bytes>>,
    runtime: tokio::runtime::Handle,
    /// [`STALL`], shorter in tests.
    stall: Duration,
}

impl ChannelWriter {
    fn send(&mut self, chunk: io::Result<Bytes>) -> io::Result<()> {
        let (tx, stall) = (&self.tx, self.stall);
        self.runtime
            .block_on(async { tokio::time::timeout(stall, tx.send(chunk)).await })
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the client read nothing for {} s", stall.as_secs_f32()),
                )
            })?
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    fn send_buffered(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.send(Ok(chunk))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send_buffered()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffered()
    }
}

/// Export the tenant as JSON Lines: the tenant, each customer followed by their interactions,
/// each pipeline followed by its deals, and a last `end` record with the counts (an answer
/// without it was cut short). Streamed while the server keeps serving; pages are read from
/// successive snapshots. Needs a key for the whole tenant. One export per tenant at a time.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/export", tag = "tenants", operation_id = "export_tenant",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "JSON Lines, one record per line with its `type` first (tenant, customer, interaction, pipeline, deal, end)", body = String, content_type = "application/x-ndjson"),
        (status = 409, description = "export_running", body = super::Problem),
        (status = 429, description = "exports_busy", body = super::Problem)))]
pub async fn export(State(state): State<AppState>, t: TenantRead) -> ApiResult<Response> {
    let slot = state.inner.exports.start(&t.tenant)?;
    let tenant = t.tenant.clone();
    // Refused before the answer starts: afterwards only the connection can say it failed.
    state
        .run({
            let tenant = tenant.clone();
            move |s| {
                s.tenant(&tenant)?
                    .map(drop)
                    .ok_or_else(|| crate::store::Error::TenantNotFound(tenant.to_string()))
            }
        })
        .await?;
    let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(QUEUED);
    let store = state.store_arc();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            buf: Vec::with_capacity(CHUNK),
            tx,
            runtime,
            stall: STALL,
        };
        match write_export(store.as_ref(), &tenant, &mut out) {
            Ok(counts) => {
                tracing::info!(%tenant, customers = counts.customers, interactions = counts.interactions, "export sent");
            }
            Err(ExportError::Write(e)) => {
                tracing::info!(%tenant, error = %e, "export stopped: {e}");
            }
            Err(ExportError::Store(e)) => {
                tracing::warn!(%tenant, error = %e, "export failed reading the store");
                // Ends the answer with an error: the client sees a cut connection, not a
                // complete-looking file.
                let _ = out.send(Err(io::Error::other(e.to_string())));
            }
        }
        // The slot is free before the answer ends (when `out`, the last sender, drops), so a
        // client may start the next export as soon as it has read this one.
        drop(slot);
        drop(out);
    });
    let chunks = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut r = Response::new(Body::from_stream(chunks));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.jsonl\"", t.tenant)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slug(s: &str) -> TenantSlug {
        s.parse().unwrap()
    }

    #[test]
    fn one_export_per_tenant_and_a_few_per_server() {
        let running = Arc::new(Running::default());
        let first = running.start(&slug("t0")).unwrap();
        let again = running.start(&slug("t0")).err().unwrap();
        assert_eq!(
            (again.status(), again.code()),
            (StatusCode::CONFLICT, "export_running")
        );
        let others: Vec<Slot> = (1..MAX_EXPORTS)
            .map(|i| running.start(&slug(&format!("t{i}"))).unwrap())
            .collect();
        let full = running.start(&slug("late")).err().unwrap();
        assert_eq!(
            (full.status(), full.code()),
            (StatusCode::TOO_MANY_REQUESTS, "exports_busy")
        );
        drop(first);
        assert!(
            running.start(&slug("t0")).is_ok(),
            "a finished export frees its slot"
        );
        drop(others);
        assert!(running.tenants.lock().unwrap().is_empty());
    }

    /// A client that reads nothing stops the export after the stall time, with at most
    /// `QUEUED` chunks held; one that went away stops it at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_client_that_stops_reading_stops_the_export() {
        let (tx, rx) = mpsc::channel(QUEUED);
        let runtime = tokio::runtime::Handle::current();
        let written = tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter {
                buf: Vec::new(),
                tx,
                runtime,
                stall: Duration::from_millis(50),
            };
            let line = vec![b'x'; 1024];
            let mut total = 0usize;
            loop {
                if let Err(e) = out.write_all(&line) {
                    return (total, e.kind());
                }
                total += line.len();
            }
        })
        .await
        .unwrap();
        assert_eq!(written.1, io::ErrorKind::TimedOut);
        assert!(
            written.0 <= (QUEUED + 1) * CHUNK,
            "{} bytes held",
            written.0
        );
        drop(rx);

        let (tx, rx) = mpsc::channel(QUEUED);
        drop(rx);
        let runtime = tokio::runtime::Handle::current();
        let kind = tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter {
                buf: Vec::new(),
                tx,
                runtime,
                stall: STALL,
            };
            out.write_all(&[b'x'; CHUNK]).unwrap_err().kind()
        })
        .await
        .unwrap();
        assert_eq!(kind, io::ErrorKind::BrokenPipe);
    }
}
