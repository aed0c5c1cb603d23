//! The plugin platform's routes: the registry (`/v1/plugins`, admin), a tenant's plugins
//! (enable, configure, upgrade, disable, status, reset, populate, rescore jobs, dry runs),
//! commerce webhooks (`/v1/tenants/{tenant}/hooks/{plugin}`, authenticated by the plugin's
//! signature check), segments and scores. Each handler calls one [`PluginHost`] function.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::{Admin, TenantRead, TenantWrite};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, PageBody, Paging, Params, json, no_content, too_large};
use super::imports::{JobWait, wait_for_end};
use super::installs::{Admission, InstallJob, InstallState};
use super::{AppState, Routes};
use crate::model::Customer;
use crate::model::StoredScore;
use crate::model::{
    CustomerId, Enablement, LimitOverrides, PluginHealth, StoredModel, TenantSlug, Timestamp,
    WebhookSignature,
};
use crate::plugin::{Capability, Manifest, RejectionKind, StatsSnapshot, Verdict, Webhook};
use crate::service::plugins::{
    Budgets, DryRunRequest, EnableRequest, HookResult, HookStep, Job, PluginHost, PluginInfo,
    PluginStatus, RefusedActions, SettingsChange,
};
use crate::service::plugins::{CustomerInsights, DryRun, SegmentSummary};
use crate::store::{Page, ScoreRange};

/// Cursor namespaces of the lists kept in memory (see [`Page::of_sorted`]).
const LIST_PLUGINS: u8 = 130;
const LIST_ENABLED: u8 = 131;
const LIST_SEGMENTS: u8 = 132;

/// The install routes: they wait on purpose (`?wait=`, up to `max_wait_secs`) and bound their
/// own work (the upload's body is read within the request timeout).
pub fn install_routes() -> Routes {
    Routes::new()
        .post("/v1/plugins", upload)
        .get("/v1/plugins/installs/{hash}", install_job)
}

/// The plugin routes (but installs).
pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/plugins", list)
        .get("/v1/plugins/{hash}", get)
        .delete("/v1/plugins/{hash}", uninstall)
        .get("/v1/tenants/{tenant}/plugins", enabled)
        .post("/v1/tenants/{tenant}/plugins", enable)
        .get("/v1/tenants/{tenant}/plugins/{plugin}", status)
        .patch("/v1/tenants/{tenant}/plugins/{plugin}", configure)
        .delete("/v1/tenants/{tenant}/plugins/{plugin}", disable)
        .post("/v1/tenants/{tenant}/plugins/{plugin}/upgrade", upgrade)
        .post("/v1/tenants/{tenant}/plugins/{plugin}/reset", reset)
        .post("/v1/tenants/{tenant}/plugins/{plugin}/populate", populate)
        .post("/v1/tenants/{tenant}/plugins/{plugin}/rescore", rescore)
        .post("/v1/tenants/{tenant}/plugins/{plugin}/dry-run", dry_run)
        .get("/v1/tenants/{tenant}/jobs/{id}", job)
        .post("/v1/tenants/{tenant}/hooks/{plugin}", hook)
        .get("/v1/tenants/{tenant}/segments", segments)
        .get("/v1/tenants/{tenant}/segments/{plugin}/{segment}", members)
        .get("/v1/tenants/{tenant}/scores/{plugin}", leaderboard)
        .get("/v1/tenants/{tenant}/customers/{id}/scores", insights)
}

// ---------------------------------------------------------------------------------------------
// Views

/// An installed plugin version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PluginView {
    hash: String,
    id: String,
    version: String,
    capability: String,
    size: u64,
    installed_at: Timestamp,
    manifest: Manifest,
}

impl From<PluginInfo> for PluginView {
    fn from(i: PluginInfo) -> Self {
        let p = i.plugin;
        Self {
            hash: p.hash,
            id: p.id,
            version: p.version,
            capability: p.capability,
            size: p.size,
            installed_at: p.installed_at,
            manifest: i.manifest,
        }
    }
}

/// A tenant's enablement, with its configuration as JSON and secrets redacted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EnablementView {
    plugin: String,
    version: String,
    hash: String,
    config: Value,
    enabled_at: Timestamp,
    updated_at: Timestamp,
    limits: LimitOverrides,
    population_interval_secs: Option<u64>,
    population_limits: LimitOverrides,
    /// The webhook signature Kith checks (commerce hooks); `null` when the plugin checks alone.
    signature: Option<WebhookSignature>,
}

impl From<Enablement> for EnablementView {
    fn from(e: Enablement) -> Self {
        let config = serde_json::from_str(&e.config_json).map_or(Value::Null, redact);
        Self {
            plugin: e.plugin,
            version: e.version,
            hash: e.hash,
            config,
            enabled_at: e.enabled_at,
            updated_at: e.updated_at,
            limits: e.limits,
            population_interval_secs: e.population_interval_secs,
            population_limits: e.population_limits,
            signature: e.signature,
        }
    }
}

/// Whether a configuration key names a secret, whose value the API never shows.
fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "secret", "password", "token", "api_key", "apikey", "private",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// The configuration with every secret's value replaced by `"<redacted>"`, at any depth.
fn redact(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if is_secret(&k) && !v.is_null() {
                        Value::String("<redacted>".into())
                    } else {
                        redact(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

/// A plugin's state for one tenant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct StatusView {
    enablement: EnablementView,
    capability: String,
    health: PluginHealth,
    suspended: bool,
    cursor: u64,
    head: u64,
    /// Events not yet processed; none for commerce hooks, which do not follow the event log.
    lag: Option<u64>,
    calls: StatsSnapshot,
    model_computed_at: Option<Timestamp>,
    /// The budgets its per-customer and webhook calls run with.
    limits: Budgets,
    /// The budgets its population step runs with.
    population_limits: Budgets,
    /// Actions the write budgets refused since the server started.
    refused_actions: RefusedActions,
}

impl From<PluginStatus> for StatusView {
    fn from(s: PluginStatus) -> Self {
        Self {
            enablement: s.enablement.into(),
            capability: s.capability.to_string(),
            health: s.health,
            suspended: s.suspended,
            cursor: s.cursor,
            head: s.head,
            lag: (s.capability != Capability::CommerceHook)
                .then(|| s.head.saturating_sub(s.cursor)),
            calls: s.calls,
            model_computed_at: s.model_computed_at,
            limits: s.limits,
            population_limits: s.population_limits,
            refused_actions: s.refused_actions,
        }
    }
}

/// The answer to enable and upgrade: the new state and the rescore job it started.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ChangeView {
    status: StatusView,
    job: Option<Job>,
}

/// A population step's model, without its bytes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ModelView {
    plugin: String,
    version: String,
    customers: u64,
    bytes: usize,
    computed_at: Timestamp,
}

impl From<StoredModel> for ModelView {
    fn from(m: StoredModel) -> Self {
        Self {
            plugin: m.producer.plugin,
            version: m.producer.version,
            customers: m.customers,
            bytes: m.bytes.as_ref().map_or(0, Vec::len),
            computed_at: m.computed_at,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The registry (admin)

/// Install a plugin component (its bytes are the body). New bytes answer 202 with an install
/// job (compiling can take seconds); bytes installed already answer 200 at once.
#[utoipa::path(post, path = "/v1/plugins", tag = "plugins", operation_id = "install_plugin",
    params(JobWait),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "A WebAssembly component (32 MiB at most by default)"),
    responses((status = 202, description = "Compiling: the install job (Location: /v1/plugins/installs/{hash}); with `wait`, it was still compiling when the wait ended", body = InstallJob),
        (status = 201, description = "With `wait`: installed", body = PluginView),
        (status = 200, description = "These bytes were installed already", body = PluginView),
        (status = 413, description = "payload_too_large", body = super::Problem),
        (status = 415, description = "unsupported_media_type", body = super::Problem),
        (status = 422, description = "With `wait`: not_a_component, unsupported_wit, bad_manifest or invalid_input (its configuration schema)", body = super::Problem),
        (status = 429, description = "installs_busy: too many installs compiling", body = super::Problem)))]
pub async fn upload(
    State(state): State<AppState>,
    _: Admin,
    ApiQuery(q): ApiQuery<JobWait>,
    request: Request,
) -> ApiResult<Response> {
    let binary = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("application/wasm")
                || v.eq_ignore_ascii_case("application/octet-stream")
        });
    if !binary {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the component's bytes with Content-Type: application/wasm",
        ));
    }
    let limit = state.config().plugin_limit;
    let too_big = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("plugin components may be at most {limit} bytes (kith serve --plugin-limit)"),
        )
    };
    if super::extract::declared_length(request.headers()).is_some_and(|n| n > limit as u64) {
        return Err(too_big());
    }
    let read = http_body_util::Limited::new(request.into_body(), limit).collect();
    let body = tokio::time::timeout(state.config().request_timeout, read)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the component's bytes did not arrive within {}s",
                    state.config().request_timeout.as_secs()
                ),
            )
        })?
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_big()
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    format!("the request body could not be read: {e}"),
                )
            }
        })?
        .to_bytes();
    let hash = crate::plugin::component_hash(&body);
    let known = hash.clone();
    if let Some(info) = state
        .run_plugins(move |h| match h.plugin(&known) {
            Ok(info) => Ok(Some(info)),
            Err(e) if e.code() == "not_found" => Ok(None),
            Err(e) => Err(e),
        })
        .await?
    {
        return Ok(plugin_response(StatusCode::OK, PluginView::from(info)));
    }
    let host = state.plugins()?;
    let job = match state.inner.installs.admit(&hash, body.len() as u64)? {
        Admission::Running(job) => job,
        Admission::New(job) => {
            let running = Arc::clone(&job);
            tokio::spawn(async move {
                let outcome = tokio::task::spawn_blocking(move || host.install(&body))
                    .await
                    .map_err(|e| ApiError::internal(&e))
                    .and_then(|r| r.map_err(ApiError::from))
                    .and_then(|installed| {
                        serde_json::to_value(PluginView::from(PluginInfo {
                            plugin: installed.plugin,
                            manifest: installed.manifest,
                        }))
                        .map_err(|e| ApiError::internal(&e))
                    });
                running.finish(outcome);
            });
            job
        }
    };
    if q.wait.is_some() {
        wait_for_end(&state, &job.ended, q.wait).await;
        let view = job.view();
        match view.state {
            InstallState::Ready => {
                let location = format!("/v1/plugins/{hash}");
                let mut r = json(StatusCode::CREATED, &view.plugin);
                if let Ok(l) = HeaderValue::from_str(&location) {
                    r.headers_mut().insert(header::LOCATION, l);
                }
                return Ok(r);
            }
            InstallState::Failed => {
                return Ok(problem_response(view.error));
            }
            InstallState::Compiling => {}
        }
    }
    let mut r = json(StatusCode::ACCEPTED, &job.view());
    if let Ok(l) = HeaderValue::from_str(&format!("/v1/plugins/installs/{hash}")) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Ok(r)
}

/// A plugin version's view with its Location.
fn plugin_response(status: StatusCode, view: PluginView) -> Response {
    let location = format!("/v1/plugins/{}", view.hash);
    let mut r = json(status, &view);
    if let Ok(l) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

/// A failed install's problem, answered as the synchronous install would have.
fn problem_response(problem: Option<super::Problem>) -> Response {
    let Some(problem) = problem else {
        return ApiError::internal(&"a failed install has no problem").into_response();
    };
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let mut r = json(status, &problem);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(super::error::PROBLEM_JSON),
    );
    r
}

/// An install job: compiling, ready (with the installed version) or failed (with the problem).
/// Jobs live on the node that received the upload; on another node, a ready install is found
/// in the shared store.
#[utoipa::path(get, path = "/v1/plugins/installs/{hash}", tag = "plugins", operation_id = "get_install",
    params(("hash" = String, Path, description = "SHA-256 of the component (hex)"), JobWait),
    responses((status = 200, description = "The job", body = InstallJob),
        (status = 404, description = "not_found", body = super::Problem)))]
pub async fn install_job(
    State(state): State<AppState>,
    _: Admin,
    params: Params,
    ApiQuery(q): ApiQuery<JobWait>,
) -> ApiResult<Response> {
    let hash = params.get("hash").to_owned();
    let Some(job) = state.inner.installs.get(&hash) else {
        // Another node's install, or one this node has forgotten: the store knows the result.
        let info = state.run_plugins(move |h| h.plugin(&hash)).await?;
        let plugin = PluginView::from(info);
        let view = InstallJob {
            hash: plugin.hash.clone(),
            state: InstallState::Ready,
            size: plugin.size,
            started_at: plugin.installed_at,
            finished_at: Some(plugin.installed_at),
            plugin: Some(serde_json::to_value(&plugin).map_err(|e| ApiError::internal(&e))?),
            error: None,
        };
        return Ok(json(StatusCode::OK, &view));
    };
    wait_for_end(&state, &job.ended, q.wait).await;
    Ok(json(StatusCode::OK, &job.view()))
}

/// List installed plugin versions (by id, then hash): the catalogue tenants enable plugins
/// from, so any valid token may read it (only admins install and uninstall).
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins", operation_id = "list_plugins", params(Paging),
    responses((status = 200, description = "A page of installed versions", body = PageBody<PluginView>)))]
pub async fn list(
    State(state): State<AppState>,
    _: super::auth::Auth,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Response> {
    let page = q.request()?;
    let all = state.run_plugins(|h| h.plugins()).await?;
    let page = Page::of_sorted(
        all,
        |p| format!("{}\u{1}{}", p.plugin.id, p.plugin.hash),
        LIST_PLUGINS,
        &page,
    )?;
    Ok(json(StatusCode::OK, &views(page, PluginView::from)))
}

/// Get an installed version and its manifest (any valid token, like the list).
#[utoipa::path(get, path = "/v1/plugins/{hash}", tag = "plugins", operation_id = "get_plugin",
    params(("hash" = String, Path, description = "The component's SHA-256, hex")),
    responses((status = 200, description = "The version", body = PluginView), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn get(
    State(state): State<AppState>,
    _: super::auth::Auth,
    params: Params,
) -> ApiResult<Response> {
    let hash = params.get("hash").to_owned();
    let info = state.run_plugins(move |h| h.plugin(&hash)).await?;
    Ok(json(StatusCode::OK, &PluginView::from(info)))
}

/// Uninstall a version; refused while a tenant has it enabled.
#[utoipa::path(delete, path = "/v1/plugins/{hash}", tag = "plugins", operation_id = "uninstall_plugin",
    params(("hash" = String, Path, description = "The component's SHA-256, hex")),
    responses((status = 204, description = "Uninstalled"),
        (status = 404, description = "not_found", body = super::Problem),
        (status = 409, description = "plugin_in_use", body = super::Problem)))]
pub async fn uninstall(
    State(state): State<AppState>,
    _: Admin,
    params: Params,
) -> ApiResult<Response> {
    let hash = params.get("hash").to_owned();
    state.run_plugins(move |h| h.uninstall(&hash)).await?;
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------------
// A tenant's plugins

/// Budgets of a tenant's calls; absent fields keep the host's defaults.
#[derive(Debug, Default, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    /// Instructions per call.
    pub fuel: Option<u64>,
    /// Wall-clock deadline per call, in milliseconds.
    pub deadline_ms: Option<u64>,
    /// Linear memory per call, in bytes (the host's hard cap still applies).
    pub memory_bytes: Option<u64>,
}

impl LimitsBody {
    /// The overrides; the service checks them against the host's ceilings.
    fn overrides(self) -> LimitOverrides {
        LimitOverrides {
            fuel: self.fuel,
            deadline_ms: self.deadline_ms,
            memory_bytes: self.memory_bytes,
        }
    }
}

/// The webhook signature Kith checks before a commerce hook runs: `"none"`, or the header and
/// where the secret is in the configuration.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum SignatureBody {
    /// `"none"`: Kith checks no signature; the plugin does, and its failures on such
    /// deliveries never suspend it.
    Keyword(SignatureKeyword),
    /// The base64 HMAC-SHA256 of the raw body in `header`, keyed by the configuration's string
    /// at the JSON Pointer `secret`.
    Check(SignatureCheck),
}

/// `"none"`.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureKeyword {
    /// No signature check by Kith.
    None,
}

/// A signature check by Kith.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignatureCheck {
    /// The header carrying the signature, e.g. `X-Shopify-Hmac-Sha256`.
    pub header: String,
    /// A JSON Pointer to the secret in the configuration, e.g. `/secret`.
    pub secret: String,
}

impl SignatureBody {
    fn into_choice(self) -> Option<WebhookSignature> {
        match self {
            SignatureBody::Keyword(SignatureKeyword::None) => None,
            SignatureBody::Check(c) => Some(WebhookSignature {
                header: c.header,
                secret: c.secret,
            }),
        }
    }
}

/// A 422 `invalid_input` naming one field, like the service's validation errors.
fn invalid(field: &str, expected: &str) -> ApiError {
    crate::Error::from(crate::model::ValidationError::field(field, expected)).into()
}

fn check_interval(secs: Option<u64>) -> ApiResult<()> {
    if secs.is_some_and(|s| s < 60) {
        return Err(invalid("population_interval_secs", "at least 60 seconds"));
    }
    Ok(())
}

/// What to enable.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableBody {
    /// The plugin's id, e.g. `kith.rfm`.
    pub plugin: String,
    /// A semantic version or hash; the highest installed version by default.
    pub version: Option<String>,
    /// The configuration, validated against the version's JSON Schema (default `{}`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Option<Value>,
    /// Budgets of per-customer and webhook calls for this tenant (at most the host's ceilings).
    #[serde(default)]
    pub limits: LimitsBody,
    /// Budgets of the population step for this tenant (at most the host's ceilings).
    #[serde(default)]
    pub population_limits: LimitsBody,
    /// How often the population step runs, in seconds (default daily).
    pub population_interval_secs: Option<u64>,
    /// Commerce hooks: the signature Kith checks before the plugin runs. Default: the reference
    /// hooks' own scheme (`kith.shopify-orders`, `kith.woocommerce`, `kith.generic-orders`),
    /// none for other hooks.
    pub signature: Option<SignatureBody>,
}

/// The plugins enabled for the tenant.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/plugins", tag = "tenant plugins", operation_id = "list_enabled_plugins",
    params(("tenant" = String, Path, description = "Tenant slug"), Paging),
    responses((status = 200, description = "A page of enablements (secrets redacted)", body = PageBody<EnablementView>)))]
pub async fn enabled(
    State(state): State<AppState>,
    t: TenantRead,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Response> {
    let page = q.request()?;
    let tenant = t.tenant.clone();
    let all = state
        .run_plugins(move |h| {
            require_tenant(h, &tenant)?;
            h.enabled_plugins(&tenant)
        })
        .await?;
    let page = Page::of_sorted(all, |e| e.plugin.clone(), LIST_ENABLED, &page)?;
    Ok(json(StatusCode::OK, &views(page, EnablementView::from)))
}

/// Enable a plugin version for the tenant with a configuration. Scorers and segmenters start
/// following the tenant's events and a rescore job scores the existing customers. A retry with
/// the same `Idempotency-Key` and body, once enabled, answers 200 with the current state.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins", tag = "tenant plugins", operation_id = "enable_plugin",
    params(("tenant" = String, Path, description = "Tenant slug"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer with the current state")),
    request_body = EnableBody,
    responses((status = 201, description = "Enabled: status and the rescore job", body = ChangeView),
        (status = 200, description = "A replay of the same Idempotency-Key: the status now", body = ChangeView),
        (status = 404, description = "not_found (no such plugin or version)", body = super::Problem),
        (status = 409, description = "duplicate (already enabled)", body = super::Problem),
        (status = 422, description = "invalid_input (configuration errors by JSON pointer)", body = super::Problem)))]
pub async fn enable(
    State(state): State<AppState>,
    t: TenantWrite,
    headers: HeaderMap,
    ApiJson(body): ApiJson<EnableBody>,
) -> ApiResult<Response> {
    let limits = body.limits.overrides();
    let population_limits = body.population_limits.overrides();
    check_interval(body.population_interval_secs)?;
    let retry = headers.contains_key("idempotency-key");
    let tenant = t.tenant.clone();
    let request = EnableRequest {
        plugin: body.plugin.trim().to_owned(),
        version: body.version,
        config: body
            .config
            .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
        limits,
        population_interval_secs: body.population_interval_secs,
        population_limits,
        signature: body.signature.map(SignatureBody::into_choice),
    };
    let plugin = request.plugin.clone();
    let (replayed, status, job) = state
        .run_plugins(move |h| {
            require_tenant(h, &tenant)?;
            let job = match h.enable(&tenant, request.clone()) {
                Ok(job) => job,
                // The same request again, after it succeeded: answer with what is there.
                Err(crate::Error::Store(crate::store::Error::Duplicate { .. }))
                    if retry && same_enablement(h, &tenant, &request)? =>
                {
                    return Ok((true, h.status(&tenant, &request.plugin)?, None));
                }
                Err(e) => return Err(e),
            };
            Ok((
                false,
                h.status(&tenant, &request.plugin)?,
                job.map(|id| h.job(&tenant, id)).transpose()?.flatten(),
            ))
        })
        .await?;
    let view = ChangeView {
        status: status.into(),
        job,
    };
    let mut r = json(
        if replayed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &view,
    );
    let location = format!("/v1/tenants/{}/plugins/{plugin}", t.tenant);
    if let Ok(l) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    if replayed {
        r.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(r)
}

/// Whether the enabled state is what `request` asked for (so a retry may be answered with it).
fn same_enablement(
    h: &PluginHost,
    tenant: &TenantSlug,
    request: &EnableRequest,
) -> crate::Result<bool> {
    let e = h.enabled(tenant, &request.plugin)?;
    let config: Value = serde_json::from_str(&e.config_json).unwrap_or(Value::Null);
    Ok(config == request.config
        && e.limits == request.limits
        && e.population_interval_secs == request.population_interval_secs
        && request
            .version
            .as_ref()
            .is_none_or(|v| *v == e.version || *v == e.hash))
}

/// A plugin's state for the tenant: enablement, health, suspension, progress, call counters
/// (calls, failures by cause, fuel and latency percentiles).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/plugins/{plugin}", tag = "tenant plugins", operation_id = "plugin_status",
    params(("tenant" = String, Path, description = "Tenant slug"), ("plugin" = String, Path, description = "Plugin id")),
    responses((status = 200, description = "The status", body = StatusView), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn status(
    State(state): State<AppState>,
    t: TenantRead,
    params: Params,
) -> ApiResult<Response> {
    let plugin = params.get("plugin").to_owned();
    let s = state
        .run_plugins(move |h| h.status(&t.tenant, &plugin))
        .await?;
    Ok(json(StatusCode::OK, &StatusView::from(s)))
}

/// Changes to an enabled plugin.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigureBody {
    /// A JSON merge patch (RFC 7396) onto the configuration: keys set replace, `null` removes,
    /// absent keys (such as secrets, which are never shown) stay.
    #[schema(value_type = Object)]
    pub config: Option<Value>,
    /// New budgets of per-customer and webhook calls (replace the current ones).
    pub limits: Option<LimitsBody>,
    /// New budgets of the population step (replace the current ones).
    pub population_limits: Option<LimitsBody>,
    /// A new webhook signature check (commerce hooks), or `"none"`.
    pub signature: Option<SignatureBody>,
    /// New population interval in seconds; `null` for the default.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u64>)]
    pub population_interval_secs: Option<Option<u64>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

/// RFC 7396 JSON merge patch.
fn merge_patch(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(serde_json::Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        merge_patch(t.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other,
    }
}

/// Change an enabled plugin's configuration (merge patch, validated against its schema), budgets
/// or population schedule.
#[utoipa::path(patch, path = "/v1/tenants/{tenant}/plugins/{plugin}", tag = "tenant plugins", operation_id = "configure_plugin",
    params(("tenant" = String, Path, description = "Tenant slug"), ("plugin" = String, Path, description = "Plugin id")),
    request_body = ConfigureBody,
    responses((status = 200, description = "The new status", body = StatusView), (status = 422, description = "invalid_input", body = super::Problem)))]
pub async fn configure(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
    ApiJson(body): ApiJson<ConfigureBody>,
) -> ApiResult<Response> {
    let plugin = params.get("plugin").to_owned();
    let limits = body.limits.map(LimitsBody::overrides);
    let population_limits = body.population_limits.map(LimitsBody::overrides);
    if let Some(i) = body.population_interval_secs {
        check_interval(i)?;
    }
    let s = state
        .run_plugins(move |h| {
            let current = h.enabled(&t.tenant, &plugin)?;
            let config = body.config.map(|patch| {
                let mut config: Value =
                    serde_json::from_str(&current.config_json).unwrap_or(Value::Null);
                merge_patch(&mut config, patch);
                config
            });
            h.change_settings(
                &t.tenant,
                &plugin,
                SettingsChange {
                    config,
                    limits,
                    population_limits,
                    population_interval_secs: body.population_interval_secs,
                    signature: body.signature.map(SignatureBody::into_choice),
                },
            )?;
            h.status(&t.tenant, &plugin)
        })
        .await?;
    Ok(json(StatusCode::OK, &StatusView::from(s)))
}

/// Disable a plugin for the tenant: it stops running there at once. Its stored scores and
/// segments stay until it is enabled again and rescored.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/plugins/{plugin}", tag = "tenant plugins", operation_id = "disable_plugin",
    params(("tenant" = String, Path, description = "Tenant slug"), ("plugin" = String, Path, description = "Plugin id")),
    responses((status = 204, description = "Disabled"), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn disable(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
) -> ApiResult<Response> {
    let plugin = params.get("plugin").to_owned();
    state
        .run_plugins(move |h| {
            h.enabled(&t.tenant, &plugin)?;
            h.disable(&t.tenant, &plugin)
        })
        .await?;
    Ok(no_content())
}

/// Which version to move to.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeBody {
    /// An installed semantic version or hash of the same plugin.
    pub version: String,
    /// A new configuration (whole); by default the current one, validated against the new
    /// version's schema.
    #[schema(value_type = Object)]
    pub config: Option<Value>,
}

/// Move the tenant to another installed version (up or down); a rescore job re-scores every
/// customer with it.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{plugin}/upgrade", tag = "tenant plugins", operation_id = "upgrade_plugin",
    params(("tenant" = String, Path, description = "Tenant slug"), ("plugin" = String, Path, description = "Plugin id")),
    request_body = UpgradeBody,
    responses((status = 200, description = "The new status and the rescore job", body = ChangeView),
        (status = 404, description = "not_found", body = super::Problem),
        (status = 422, description = "invalid_input", body = super::Problem)))]
pub async fn upgrade(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
    ApiJson(body): ApiJson<UpgradeBody>,
) -> ApiResult<Response> {
    let plugin = params.get("plugin").to_owned();
    let view = state
        .run_plugins(move |h| {
            let job = h.upgrade(&t.tenant, &plugin, body.version.trim(), body.config)?;
            Ok(ChangeView {
                status: h.status(&t.tenant, &plugin)?.into(),
                job: job.map(|id| h.job(&t.tenant, id)).transpose()?.flatten(),
            })
        })
        .await?;
    Ok(json(StatusCode::OK, &view))
}

/// Clear a suspension and the failure count: the plugin runs again at once.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{plugin}/reset", tag = "tenant plugins", operation_id = "reset_plugin",
    params(("tenant" = String, Path, description = "Tenant slug"), ("plugin" = String, Path, description = "Plugin id")),
    responses((status = 200, description = "The new status", body = StatusView), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn reset(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
) -> ApiResult<Response> {
    let plugin = params.get("plugin").to_owned();
    let s = state
        .run_plugins(move |h| {
            h.reset(&t.tenant, &plugin)?;
            h.status(&t.tenant, &plugin)
        })
        .await?;
    Ok(json(StatusCode::OK, &StatusView::from(s)))
}

/// Run the plugin's population step now; later calls use its model.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{plugin}/populate", tag = "tenant plugins", operation_id = "populate_plugin",
    params(("tenant" = String, Path, description = "Tenant slug"), ("plugin" = String, Path, description = "Plugin id")),
    responses((status = 200, description = "The new model's summary", body = ModelView),
        (status = 422, description = "invalid_input (no population step)", body = super::Problem),
        (status = 502, description = "the step failed (its code)", body = super::Problem)))]
pub async fn populate(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
) -> ApiResult<Response> {
    let plugin = params.get("plugin").to_owned();
    let model = state
        .run_plugins(move |h| h.populate(&t.tenant, &plugin))
        .await?;
    Ok(json(StatusCode::OK, &ModelView::from(model)))
}

/// Re-score every customer in the background; the answer is the job, whose progress
/// `GET /v1/tenants/{tenant}/jobs/{id}` reports.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{plugin}/rescore", tag = "tenant plugins", operation_id = "rescore",
    params(("tenant" = String, Path, description = "Tenant slug"), ("plugin" = String, Path, description = "Plugin id")),
    responses((status = 202, description = "The job, with Location", body = Job), (status = 404, description = "not_found", body = super::Problem),
        (status = 409, description = "plugin_suspended: reset it, or wait until the time the detail names", body = super::Problem)))]
pub async fn rescore(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
) -> ApiResult<Response> {
    let plugin = params.get("plugin").to_owned();
    let tenant = t.tenant.clone();
    let job = state
        .run_plugins(move |h| {
            let id = h.start_rescore(&tenant, &plugin)?;
            h.job(&tenant, id)?
                .ok_or_else(|| crate::Error::storage("the new job vanished"))
        })
        .await?;
    let mut r = json(StatusCode::ACCEPTED, &job);
    let location = format!("/v1/tenants/{}/jobs/{}", t.tenant, job.id);
    if let Ok(l) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    Ok(r)
}

/// A rescore job's progress (from any node: jobs live in the store).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/jobs/{id}", tag = "tenant plugins", operation_id = "get_job",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = u64, Path, description = "Job id")),
    responses((status = 200, description = "The job", body = Job), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn job(
    State(state): State<AppState>,
    t: TenantRead,
    params: Params,
) -> ApiResult<Response> {
    let id: u64 = params.id("id", "job")?;
    let job = state
        .run_plugins(move |h| {
            h.job(&t.tenant, id)?
                .ok_or_else(|| crate::Error::not_found("job", id))
        })
        .await?;
    Ok(json(StatusCode::OK, &job))
}

/// Run a scorer or segmenter for some customers without writing anything: what it would change.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/plugins/{plugin}/dry-run", tag = "tenant plugins", operation_id = "dry_run",
    params(("tenant" = String, Path, description = "Tenant slug"), ("plugin" = String, Path, description = "Plugin id (enabled or only installed)")),
    request_body(content = DryRunRequest, description = "version?, config?, customers? (ids, at most 100) or sample? (first N customers, default 10)"),
    responses((status = 200, description = "Per customer: score or segments before and after, actions, or the call's error", body = DryRun),
        (status = 404, description = "not_found", body = super::Problem),
        (status = 422, description = "invalid_input", body = super::Problem),
        (status = 503, description = "plugin_busy: the tenant's plugin calls kept its share of instances busy for a call's deadline; retry shortly", body = super::Problem)))]
pub async fn dry_run(
    State(state): State<AppState>,
    t: TenantWrite,
    params: Params,
    ApiJson(body): ApiJson<DryRunRequest>,
) -> ApiResult<Response> {
    let plugin = params.get("plugin").to_owned();
    let tenant = t.tenant.clone();
    let result = state
        .run_tenant_plugins(&tenant, move |h| h.dry_run(&t.tenant, &plugin, body))
        .await?;
    Ok(json(StatusCode::OK, &result))
}

// ---------------------------------------------------------------------------------------------
// Commerce webhooks

/// Headers that carry a platform's delivery id, in the order they are looked for.
const DELIVERY_HEADERS: &[&str] = &[
    "x-shopify-webhook-id",
    "x-wc-webhook-delivery-id",
    "x-kith-delivery-id",
    "x-delivery-id",
];
/// Headers that carry a platform's topic.
const TOPIC_HEADERS: &[&str] = &["x-shopify-topic", "x-wc-webhook-topic", "x-kith-topic"];
/// Headers a plugin never sees: they may carry Kith's or a proxy's credentials.
const HIDDEN_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Receive a commerce platform's webhook for the tenant's enabled commerce-hook plugin. No Kith
/// token: the plugin checks the platform's signature. Accepted → 200, ignored → 202, bad
/// signature → 401, malformed → 400, other rejections → 422. A delivery id seen before gets the
/// first answer again (`replayed: true`) and changes nothing.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/hooks/{plugin}", tag = "webhooks", operation_id = "commerce_hook",
    params(("tenant" = String, Path, description = "Tenant slug"), ("plugin" = String, Path, description = "The commerce hook's id, e.g. kith.shopify-orders"),
        ("X-Shopify-Webhook-Id" = Option<String>, Header, description = "Delivery id (or X-WC-Webhook-Delivery-ID, X-Kith-Delivery-Id)")),
    request_body(content = Vec<u8>, description = "The platform's raw body, exactly as signed"),
    responses((status = 200, description = "accepted", body = HookResult), (status = 202, description = "ignored, with the reason", body = HookResult),
        (status = 400, description = "malformed_webhook", body = super::Problem),
        (status = 401, description = "bad_signature", body = super::Problem),
        (status = 404, description = "hook_not_found", body = super::Problem),
        (status = 422, description = "webhook_rejected", body = super::Problem),
        (status = 502, description = "the plugin failed (its code); the platform should retry", body = super::Problem),
        (status = 503, description = "plugin_suspended: too many failures in a row; or plugin_busy: the tenant's plugin calls kept its share of instances busy. Retry later", body = super::Problem)),
    security(()))]
pub async fn hook(
    State(state): State<AppState>,
    params: Params,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(ref f)
            if f.status() == StatusCode::PAYLOAD_TOO_LARGE =>
        {
            too_large()
        }
        other => ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            format!("the request body could not be read: {other}"),
        ),
    })?;
    let plugin = params.get("plugin").to_owned();
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "hook_not_found",
            format!("no commerce hook {plugin} is enabled for this tenant"),
        )
    };
    let tenant = params.tenant().map_err(|_| not_found())?;
    let find = |names: &[&str]| {
        names.iter().find_map(|n| {
            headers
                .get(*n)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
    };
    let delivery_id = find(DELIVERY_HEADERS);
    if delivery_id.as_ref().is_some_and(|d| d.len() > 255) {
        return Err(ApiError::field(
            "invalid_header",
            "delivery id",
            "at most 255 characters",
        ));
    }
    let webhook = Webhook {
        topic: find(TOPIC_HEADERS).unwrap_or_default(),
        headers: headers
            .iter()
            .filter(|(n, _)| !HIDDEN_HEADERS.contains(&n.as_str()))
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
        delivery_id,
        received_at: Timestamp::now(),
    };
    // The plugin runs on a blocking thread once the tenant's turn comes; its write is awaited
    // here, holding no thread.
    let webhook = Arc::new(webhook);
    let (t, p, w) = (tenant.clone(), plugin.clone(), Arc::clone(&webhook));
    let result = match state
        .run_tenant_plugins(&tenant, move |h| h.start_webhook(&t, &p, &w))
        .await
    {
        Ok(HookStep::Done(result)) => Ok(result),
        Ok(HookStep::Writing(mut pending)) => match pending.written().await {
            Ok(()) => Ok(pending.into_result()),
            Err(err) => {
                let (t, p) = (tenant.clone(), plugin.clone());
                // Finishing may run the plugin again (a lost race for a new customer).
                state
                    .run_tenant_plugins(&tenant, move |h| {
                        h.finish_webhook(&t, &p, &webhook, pending, Err(err), true)
                    })
                    .await
            }
        },
        Err(e) => Err(e),
    };
    let result: HookResult = match result {
        Ok(r) => r,
        Err(e) if e.status() == StatusCode::NOT_FOUND => return Err(not_found()),
        // Suspended until a time: the platform retries a 5xx delivery, and it will be taken
        // then.
        Err(e) if e.code() == "plugin_suspended" => {
            return Err(e.with_status(StatusCode::SERVICE_UNAVAILABLE));
        }
        // The caller is anonymous: the plugin's message (and its stderr, quoted in traps) is
        // for the tenant, who sees it in the plugin's status.
        Err(e) if e.status() == StatusCode::BAD_GATEWAY => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                e.code(),
                format!(
                    "the commerce hook failed ({}); retry later. The shop's Kith tenant can see \
                     the cause in the plugin's status",
                    e.code()
                ),
            ));
        }
        Err(e) => return Err(e),
    };
    match &result.verdict {
        Verdict::Accepted => Ok(json(StatusCode::OK, &result)),
        Verdict::Ignored { .. } => Ok(json(StatusCode::ACCEPTED, &result)),
        Verdict::Rejected { kind, reason } => Err(match kind {
            RejectionKind::BadSignature => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                format!("bad signature: {reason}"),
            ),
            RejectionKind::Malformed => ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_webhook",
                format!("the plugin could not read the delivery: {reason}"),
            ),
            RejectionKind::Other => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "webhook_rejected",
                format!("the plugin rejected the delivery: {reason}"),
            ),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Segments and scores

/// Which segments to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SegmentsQuery {
    /// Only this segmenter's segments (e.g. `kith.value-tiers`).
    pub plugin: Option<String>,
    /// At most this many items (1 to 1000, default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The segments of every segmenter enabled for the tenant (or of one), with member counts, by
/// plugin and segment id.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/segments", tag = "segments and scores", operation_id = "list_segments",
    params(("tenant" = String, Path, description = "Tenant slug"), SegmentsQuery),
    responses((status = 200, description = "A page of segments: plugin, segment, name, description, members", body = PageBody<SegmentSummary>)))]
pub async fn segments(
    State(state): State<AppState>,
    t: TenantRead,
    ApiQuery(q): ApiQuery<SegmentsQuery>,
) -> ApiResult<Response> {
    let page = Paging {
        limit: q.limit,
        cursor: q.cursor.clone(),
    }
    .request()?;
    let tenant = t.tenant.clone();
    let mut all = state
        .run_plugins(move |h| {
            require_tenant(h, &tenant)?;
            h.segments(&tenant)
        })
        .await?;
    if let Some(plugin) = q.plugin.as_deref().map(str::trim) {
        all.retain(|s| s.plugin == plugin);
    }
    let page = Page::of_sorted(
        all,
        |s| format!("{}\u{1}{}", s.plugin, s.segment),
        LIST_SEGMENTS,
        &page,
    )?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// A segment's members (customers, by id).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/segments/{plugin}/{segment}", tag = "segments and scores", operation_id = "segment_members",
    params(("tenant" = String, Path, description = "Tenant slug"), ("plugin" = String, Path, description = "The segmenter's id"),
        ("segment" = String, Path, description = "The segment's id"), Paging),
    responses((status = 200, description = "A page of customers", body = PageBody<Customer>), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn members(
    State(state): State<AppState>,
    t: TenantRead,
    params: Params,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Response> {
    let page = q.request()?;
    let plugin = params.get("plugin").to_owned();
    let segment = params.get("segment").to_owned();
    let page = state
        .run_plugins(move |h| h.segment_members(&t.tenant, &plugin, &segment, &page))
        .await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// Leaderboard parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScoreQuery {
    /// Lowest score included.
    pub min: Option<f64>,
    /// Highest score included.
    pub max: Option<f64>,
    /// Page size (1 to 1000, default 50).
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A [`ScoreRange`] from query bounds, checked.
pub fn score_range(
    min: Option<f64>,
    max: Option<f64>,
    names: (&str, &str),
) -> ApiResult<ScoreRange> {
    for (name, v) in [(names.0, min), (names.1, max)] {
        if v.is_some_and(|v| !v.is_finite()) {
            return Err(ApiError::field("invalid_query", name, "a finite number"));
        }
    }
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        return Err(ApiError::field(
            "invalid_query",
            names.0,
            format!("at most {} ({hi})", names.1),
        ));
    }
    Ok(ScoreRange { min, max })
}

/// A scorer's leaderboard: its scores, highest first, optionally within `min`..=`max`.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/scores/{plugin}", tag = "segments and scores", operation_id = "leaderboard",
    params(("tenant" = String, Path, description = "Tenant slug"), ("plugin" = String, Path, description = "The scorer's id"), ScoreQuery),
    responses((status = 200, description = "A page of scores with reasons", body = PageBody<StoredScore>), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn leaderboard(
    State(state): State<AppState>,
    t: TenantRead,
    params: Params,
    ApiQuery(q): ApiQuery<ScoreQuery>,
) -> ApiResult<Response> {
    let range = score_range(q.min, q.max, ("min", "max"))?;
    let page = super::extract::page_request(q.limit, q.cursor.as_deref())?;
    let plugin = params.get("plugin").to_owned();
    let page = state
        .run_plugins(move |h| h.leaderboard(&t.tenant, &plugin, range, &page))
        .await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// A customer's scores (with reasons) and segments, one per plugin.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/customers/{id}/scores", tag = "segments and scores", operation_id = "customer_insights",
    params(("tenant" = String, Path, description = "Tenant slug"), ("id" = String, Path, description = "Customer id")),
    responses((status = 200, description = "scores and segments", body = CustomerInsights), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn insights(
    State(state): State<AppState>,
    t: super::auth::ScopedRead,
    params: Params,
) -> ApiResult<Response> {
    let id: CustomerId = params.id("id", "customer")?;
    if !t.access.is_full() {
        let (tenant, access) = (t.tenant.clone(), t.access.clone());
        state
            .run(move |s| crate::service::customers::get(s, &tenant, &access, id))
            .await?;
    }
    let found = state
        .run_plugins(move |h| h.insights(&t.tenant, id))
        .await?;
    Ok(json(StatusCode::OK, &found))
}

// ---------------------------------------------------------------------------------------------
// Helpers and metrics

/// `TenantNotFound` when the tenant does not exist (lists would otherwise be empty).
fn require_tenant(h: &PluginHost, tenant: &TenantSlug) -> crate::Result<()> {
    match h.store().tenant(tenant)? {
        Some(_) => Ok(()),
        None => Err(crate::store::Error::TenantNotFound(tenant.to_string()).into()),
    }
}

fn views<T, V: Serialize>(page: Page<T>, f: impl Fn(T) -> V) -> PageBody<V> {
    PageBody::from(Page {
        items: page.items.into_iter().map(f).collect(),
        next: page.next,
    })
}

/// The plugin platform's metric families: calls, failures by cause, fuel and latency
/// percentiles per loaded version, and suspended plugins per tenant.
#[derive(Debug)]
pub struct PluginMetrics {
    host: Arc<PluginHost>,
}

impl PluginMetrics {
    /// Metrics of `host`.
    pub fn new(host: Arc<PluginHost>) -> Self {
        Self { host }
    }
}

/// Encodes one family of constant values: `(labels, value)` per series.
fn family<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    series: impl IntoIterator<Item = (L, M)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in series {
        value.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

impl Collector for PluginMetrics {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats = self.host.call_stats();
        let version = |id: &str, v: &str| [("plugin", id.to_owned()), ("version", v.to_owned())];
        family(
            &mut e,
            "kith_plugin_calls",
            "Plugin calls made since start, by plugin version",
            MetricType::Counter,
            stats
                .iter()
                .map(|(id, v, s)| (version(id, v), ConstCounter::new(s.calls))),
        )?;
        family(
            &mut e,
            "kith_plugin_failures",
            "Failed plugin calls since start, by cause",
            MetricType::Counter,
            stats.iter().flat_map(|(id, v, s)| {
                s.failures.iter().map(move |(code, n)| {
                    let [p, v] = version(id, v);
                    ([p, v, ("code", (*code).to_owned())], ConstCounter::new(*n))
                })
            }),
        )?;
        let quantiles = |id: &str, v: &str, values: [f64; 3]| {
            let labels = version(id, v);
            ["0.5", "0.9", "0.99"]
                .into_iter()
                .zip(values)
                .map(move |(q, value)| {
                    let [p, v] = labels.clone();
                    ([p, v, ("quantile", q.to_owned())], ConstGauge::new(value))
                })
        };
        family(
            &mut e,
            "kith_plugin_call_fuel",
            "Fuel (instructions) per plugin call since start, at the 0.5, 0.9 and 0.99 quantiles",
            MetricType::Gauge,
            stats.iter().flat_map(|(id, v, s)| {
                quantiles(
                    id,
                    v,
                    [s.fuel_p50, s.fuel_p90, s.fuel_p99].map(|f| f as f64),
                )
            }),
        )?;
        family(
            &mut e,
            "kith_plugin_call_latency_seconds",
            "Wall time per plugin call since start, at the 0.5, 0.9 and 0.99 quantiles",
            MetricType::Gauge,
            stats.iter().flat_map(|(id, v, s)| {
                let micros = [
                    s.latency_micros_p50,
                    s.latency_micros_p90,
                    s.latency_micros_p99,
                ];
                quantiles(id, v, micros.map(|m| m as f64 / 1e6))
            }),
        )?;
        family(
            &mut e,
            "kith_plugin_call_wall_seconds",
            "Wall time of all plugin calls since start",
            MetricType::Counter,
            stats.iter().map(|(id, v, s)| {
                (
                    version(id, v),
                    ConstCounter::new(s.wall_micros_total as f64 / 1e6),
                )
            }),
        )?;
        let health = self.host.health_of_all().unwrap_or_default();
        let tenant =
            |t: &TenantSlug, p: &str| [("tenant", t.to_string()), ("plugin", p.to_owned())];
        family(
            &mut e,
            "kith_plugin_suspended",
            "Whether a plugin is suspended for a tenant (1) by its circuit breaker",
            MetricType::Gauge,
            health
                .iter()
                .map(|(t, p, suspended, _)| (tenant(t, p), ConstGauge::new(i64::from(*suspended)))),
        )?;
        family(
            &mut e,
            "kith_plugin_suspensions",
            "Times a plugin was suspended for a tenant since its last success or reset",
            MetricType::Gauge,
            health
                .iter()
                .map(|(t, p, _, h)| (tenant(t, p), ConstGauge::new(i64::from(h.suspensions)))),
        )?;
        family(
            &mut e,
            "kith_plugin_actions_refused",
            "Plugin actions refused by the write budgets since start, by cause (chain-depth, write-budget)",
            MetricType::Counter,
            self.host
                .refused_actions()
                .into_iter()
                .flat_map(|(t, p, r)| {
                    [
                        ("chain-depth", r.chain_depth),
                        ("write-budget", r.write_budget),
                    ]
                    .into_iter()
                    .map(move |(cause, n)| {
                        let [t, p] = tenant(&t, &p);
                        ([t, p, ("cause", cause.to_owned())], ConstCounter::new(n))
                    })
                }),
        )?;
        let runtime = self.host.runtime();
        let in_use = e.encode_descriptor(
            "kith_plugin_instances_in_use",
            "Plugin instances running now",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(runtime.instances_in_use(None) as i64).encode(in_use)?;
        let (total, per_tenant, per_plugin) = runtime.instance_shares();
        family(
            &mut e,
            "kith_plugin_instances_limit",
            "Plugin instances that may run at once: in all, per tenant, per plugin",
            MetricType::Gauge,
            [
                ("host", total),
                ("tenant", per_tenant),
                ("plugin", per_plugin),
            ]
            .map(|(scope, n)| ([("scope", scope)], ConstGauge::new(n as i64))),
        )?;
        Ok(())
    }
}
