//! The HTTP admin API: `kith serve`. A thin axum layer over [`crate::service`]: handlers
//! authenticate, parse and validate the request's shape, call one service function and render its
//! result; every rule lives in the service, store and model.
//!
//! Conventions: JSON in and out; errors are RFC 9457 problem+json with a stable `code`
//! ([`ApiError`]); lists page with `limit`, `cursor` and `next_cursor`; creating POSTs honour
//! `Idempotency-Key`; updates honour `If-Match` with the ETag from a GET.

mod admin;
mod auth;
mod batch;
mod console;
mod customer_search;
mod customers;
mod deals;
mod docs;
mod error;
mod events;
mod export;
mod extract;
mod fields;
mod gate;
mod imports;
mod installs;
mod interactions;
mod metrics;
mod middleware;
pub mod openapi;
mod ops;
mod pipelines;
mod plugins;
mod reports;
mod routes;
mod tenants;
mod tokens;
mod users;
mod work;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::sync::watch;
use tracing::info;

pub use self::error::{ApiError, ApiResult, PROBLEM_JSON, Problem};
pub use self::metrics::Metrics;
pub use self::routes::Routes;
use crate::model::{Actor, TenantSlug};
use crate::service::events::CommitFeed;
use crate::service::plugins::{DispatcherHandle, PluginHost};
use crate::store::{IdempotencyKey, Once, Op, Output, Store};

/// Limits and secrets of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest JSON body accepted (bytes).
    pub json_limit: usize,
    /// Longest a request may take before it is answered with 408 (long-polls and event streams
    /// have their own `wait`).
    pub request_timeout: Duration,
    /// Longest `wait` a long-poll of the event log may ask for.
    pub max_wait: Duration,
    /// SHA-256 of `KITH_ADMIN_TOKEN`, when the operator supplies the admin token.
    pub env_admin: Option<[u8; 32]>,
    /// Largest plugin component accepted by `POST /v1/plugins` (bytes).
    pub plugin_limit: usize,
    /// Most connections served at once; further clients wait in the listen backlog until one
    /// closes.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and how long a keep-alive
    /// connection may sit idle between requests, before it is closed.
    pub header_timeout: Duration,
    /// How long a graceful stop lets in-flight requests finish before it closes what is left.
    pub shutdown_grace: Duration,
    /// Where `POST /v1/admin/backup` writes its snapshot while it streams it (the embedded
    /// store's data directory: same disk, and the file is gone once the answer ends); `None`
    /// (a PostgreSQL store) answers that PostgreSQL is backed up with its own tools.
    pub backup_dir: Option<std::path::PathBuf>,
    /// Largest CSV file accepted by `POST .../customers/import` and `.../interactions/import`
    /// (bytes); saved to the system's temporary directory while it is imported.
    pub import_limit: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            json_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(60),
            env_admin: None,
            plugin_limit: crate::plugin::DEFAULT_MAX_PLUGIN_BYTES,
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            backup_dir: None,
            import_limit: 64 * 1024 * 1024,
        }
    }
}

/// What the server shares with every request.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    config: HttpConfig,
    feed: CommitFeed,
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
    /// Kept so that `shutdown` never reports a closed channel in tests that never shut down.
    _shutdown_sender: Option<watch::Sender<bool>>,
    /// The plugin host, when plugins run in this process (the plugin routes answer 503 without).
    plugins: OnceLock<Arc<PluginHost>>,
    /// The per-tenant queues in front of plugin calls, set with `plugins`.
    plugin_gate: OnceLock<Arc<gate::PluginGate>>,
    /// One backup at a time: each holds a snapshot the size of the store on disk.
    backups: Arc<tokio::sync::Semaphore>,
    /// Exports running: one per tenant, [`export::MAX_EXPORTS`] in all.
    exports: Arc<export::Running>,
    /// Import jobs, running and recent.
    imports: imports::Imports,
    /// Plugin install jobs, compiling and recent.
    installs: installs::Installs,
    /// Field definition checks running: one per tenant, [`fields::MAX_CHECKS`] in all.
    field_checks: Arc<export::Running>,
}

impl AppState {
    /// State over `store`, with commit notifications and metrics attached to it. `shutdown` turns
    /// true when the server stops: long-polls and event streams then end.
    pub fn new(
        store: Arc<dyn Store>,
        config: HttpConfig,
        shutdown: Option<watch::Receiver<bool>>,
    ) -> Self {
        let feed = CommitFeed::attach(store.as_ref());
        let metrics = Metrics::new();
        metrics.attach(store.as_ref());
        let (sender, shutdown) = match shutdown {
            Some(r) => (None, r),
            None => {
                let (s, r) = watch::channel(false);
                (Some(s), r)
            }
        };
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                feed,
                metrics,
                shutdown,
                _shutdown_sender: sender,
                plugins: OnceLock::new(),
                plugin_gate: OnceLock::new(),
                backups: Arc::new(tokio::sync::Semaphore::new(1)),
                exports: Arc::default(),
                imports: imports::Imports::default(),
                installs: installs::Installs::default(),
                field_checks: Arc::new(fields::checks()),
            }),
        }
    }

    /// The slots of field definition checks.
    fn field_checks(&self) -> &Arc<export::Running> {
        &self.inner.field_checks
    }

    /// Serves the plugin routes with `host` (whose store must be this state's store), and adds
    /// its metrics to `/metrics`. A second host is ignored.
    #[must_use]
    pub fn with_plugins(self, host: Arc<PluginHost>) -> Self {
        if self.inner.plugins.set(Arc::clone(&host)).is_ok() {
            let (_, share, _) = host.runtime().instance_shares();
            // A call waits for its tenant's turn as long as it would for an instance slot.
            let patience = host
                .config()
                .ceilings
                .call
                .deadline
                .max(Duration::from_secs(1));
            let gate = Arc::new(gate::PluginGate::new(share, patience));
            self.inner.metrics.register_gauge(
                "kith_plugin_calls_queued",
                "Plugin calls waiting (without a thread) for their tenant's share of instances",
                gate.waiting().clone(),
            );
            let _ = self.inner.plugin_gate.set(gate);
            self.inner
                .metrics
                .register(Box::new(plugins::PluginMetrics::new(host)));
        }
        self
    }

    /// The plugin host, or 503 when this server runs without one.
    fn plugins(&self) -> ApiResult<Arc<PluginHost>> {
        self.inner.plugins.get().cloned().ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "plugins_unavailable",
                "this server runs without the plugin host",
            )
        })
    }

    /// Runs a blocking plugin-host call off the async workers.
    async fn run_plugins<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&PluginHost) -> crate::Result<T> + Send + 'static,
    {
        let host = self.plugins()?;
        match tokio::task::spawn_blocking(move || f(host.as_ref())).await {
            Ok(r) => r.map_err(ApiError::from),
            Err(e) => Err(ApiError::internal(&e)),
        }
    }

    /// Runs a blocking plugin-host call that runs `tenant`'s plugin code: it waits for the
    /// tenant's turn first, holding no thread, so that at most the tenant's share of instances
    /// worth of its calls hold blocking threads (see [`gate`]). Busy (503) when the turn does not
    /// come within a call's deadline.
    async fn run_tenant_plugins<T, F>(&self, tenant: &TenantSlug, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&PluginHost) -> crate::Result<T> + Send + 'static,
    {
        let gate = self.inner.plugin_gate.get().ok_or_else(|| {
            self.plugins()
                .err()
                .unwrap_or_else(|| ApiError::internal(&"the plugin gate is missing"))
        })?;
        let pass = gate
            .enter(tenant)
            .await
            .map_err(|f| ApiError::from(crate::Error::Plugin(f)))?;
        // The pass goes with the call: a client that leaves does not free its place before the
        // call it started has ended.
        self.run_plugins(move |h| {
            let _pass = pass;
            f(h)
        })
        .await
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    fn store_arc(&self) -> Arc<dyn Store> {
        Arc::clone(&self.inner.store)
    }

    fn env_admin(&self) -> Option<&[u8; 32]> {
        self.inner.config.env_admin.as_ref()
    }

    /// The metrics registry (plugin metrics register a collector here).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    fn config(&self) -> &HttpConfig {
        &self.inner.config
    }

    /// Runs a blocking service call (store reads and durable writes) off the async workers.
    async fn run<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> crate::store::Result<T> + Send + 'static,
    {
        let store = self.store_arc();
        match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
            Ok(r) => r.map_err(ApiError::from),
            Err(e) => Err(ApiError::internal(&e)),
        }
    }
}

impl AppState {
    /// Writes `ops` atomically (once per `key`), durable when it returns. The embedded store
    /// queues them for its committer and this awaits the commit without holding a thread;
    /// other stores run [`Store::write`] on a blocking thread.
    async fn write(
        &self,
        tenant: &TenantSlug,
        actor: &Actor,
        ops: Vec<Op>,
        key: Option<IdempotencyKey>,
    ) -> ApiResult<Once<Vec<Output>>> {
        match self
            .store()
            .write_nonblocking(tenant, actor, ops, key.as_ref())
        {
            Ok(pending) => pending.await.map_err(ApiError::from),
            Err(ops) => {
                let (tenant, actor) = (tenant.clone(), actor.clone());
                self.run(move |s| match key {
                    Some(k) => s.write_once(&tenant, &actor, ops, &k),
                    None => s.write(&tenant, &actor, ops).map(Once::fresh),
                })
                .await
            }
        }
    }
}

/// Every route with its method and path, the way the router was built: the OpenAPI test checks
/// that each one is documented.
pub fn route_table() -> Vec<(axum::http::Method, &'static str)> {
    let (bounded, waiting) = all_routes();
    bounded.merge(waiting).table().to_vec()
}

fn all_routes() -> (Routes, Routes) {
    // Routes bounded by the request timeout, and routes that wait on purpose (long-poll, SSE).
    let bounded = Routes::new()
        .merge(ops::routes())
        .merge(docs::routes())
        .merge(console::routes())
        .merge(tenants::routes())
        .merge(tokens::routes())
        .merge(customers::routes())
        .merge(customer_search::routes())
        .merge(interactions::routes())
        .merge(work::routes())
        .merge(pipelines::routes())
        .merge(deals::routes())
        .merge(users::routes())
        .merge(reports::routes())
        .merge(plugins::routes());
    // Routes that wait on purpose (long-poll, SSE) or copy a whole store or tenant (backup,
    // export): these bound their own work.
    (
        bounded,
        events::routes()
            .merge(admin::routes())
            .merge(export::routes())
            .merge(imports::routes())
            .merge(plugins::install_routes())
            // A definition's check reads every record of its object (one per tenant, a few on
            // the server).
            .merge(fields::routes()),
    )
}

/// The router with every route, ready to be served or tested with `tower::ServiceExt::oneshot`.
pub fn router(state: AppState) -> Router {
    let (bounded, waiting) = all_routes();
    let timeout = state.config().request_timeout;
    let bounded = bounded
        .into_router()
        .layer(axum::middleware::from_fn_with_state(
            timeout,
            middleware::timeout,
        ));
    Router::new()
        .merge(bounded)
        .merge(waiting.into_router())
        .fallback(middleware::no_route)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config().json_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::observe,
        ))
        .with_state(state)
}

/// The plugin platform, when the server runs it: the host, and its dispatcher thread.
#[derive(Debug)]
pub struct PluginRuntime {
    /// The host the plugin routes use.
    pub host: Arc<PluginHost>,
    /// The dispatcher, stopped before the store closes.
    pub dispatcher: Option<DispatcherHandle>,
}

/// Serves until SIGTERM or SIGINT, then stops accepting, ends long-polls and event streams, lets
/// in-flight requests finish for at most [`HttpConfig::shutdown_grace`] and closes what is left,
/// stops the plugin dispatcher (interrupting running calls), and closes the store so that every
/// acknowledged write is durable. `listener` is bound by the caller (so that a busy address is
/// known before anything else starts); `on_listening` is told its address (useful with port 0).
///
/// Connections are bounded: at most [`HttpConfig::max_connections`] at once, and one that does
/// not send a request's headers within [`HttpConfig::header_timeout`] (slowly, half, or not at
/// all between keep-alive requests) is closed.
pub async fn serve(
    store: Arc<dyn Store>,
    listener: std::net::TcpListener,
    config: HttpConfig,
    plugins: Option<PluginRuntime>,
    on_listening: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    // Before the address is announced: a signal sent as soon as a client sees it must stop the
    // server, not kill it (the handlers used to be installed at the accept loop's first look
    // at them, which under load could come after a test's SIGTERM).
    let shutdown = shutdown_signal()?;
    // The caller announces the address (`kith serve` prints `kith listening on ...`).
    on_listening(addr);
    let (stop, stopped) = watch::channel(false);
    let limits = (
        config.max_connections,
        config.header_timeout,
        config.shutdown_grace,
    );
    let mut state = AppState::new(Arc::clone(&store), config, Some(stopped.clone()));
    let dispatcher = match plugins {
        Some(p) => {
            state = state.with_plugins(p.host);
            p.dispatcher
        }
        None => None,
    };
    let connections = serve_connections(listener, router(state), limits, stopped, async move {
        shutdown.await;
        info!("shutting down: finishing in-flight requests");
        stop.send_replace(true);
    });
    connections.await;
    if let Some(d) = dispatcher {
        info!("shutting down: stopping the plugin dispatcher");
        tokio::task::spawn_blocking(move || d.stop()).await.ok();
    }
    info!("shutting down: waiting for the last commit");
    store.close();
    Ok(())
}

/// Accepts and serves connections until `shutdown` completes, then lets them finish within the
/// grace period and drops the rest.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: Router,
    (max_connections, header_timeout, grace): (usize, Duration, Duration),
    stopped: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Wait for room before accepting: clients beyond the cap stay in the kernel's backlog.
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most likely: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut stop = stopped.clone();
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                () = stopping(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let open = connections.len();
    let finished = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            open,
            still_open = connections.len(),
            grace_secs = grace.as_secs_f64(),
            "shutting down: closing connections still open after the grace period"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// Completes when the server starts to stop.
async fn stopping(stopped: &mut watch::Receiver<bool>) {
    // A closed channel means the server is gone: stop too.
    let _ = stopped.wait_for(|s| *s).await;
}

/// Completes on SIGTERM or SIGINT. On Unix the handlers are installed when this returns, not when
/// the future is first polled, so no signal sent after it returned is lost.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
