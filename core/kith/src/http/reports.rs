//! `/v1/tenants/{tenant}/reports/sales`: sales performance by person or team and period, over
//! what the caller may read.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::auth::{ScopedRead, TenantRead, TenantWrite};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, PageBody, Paging, invalid_query, json, no_content};
use super::{AppState, Routes};
use crate::model::{Currency, Date, Money, Period, PipelineId, QuotaSubject, TeamId, UserId};
use crate::service::reports::{self, FunnelBy, GroupBy, QuotaTarget, SalesQuery};

/// The report routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/tenants/{tenant}/reports/sales", sales)
        .get("/v1/tenants/{tenant}/reports/funnel", funnel)
        .put("/v1/tenants/{tenant}/quotas", set_quota)
        .get("/v1/tenants/{tenant}/quotas", list_quotas)
        .delete("/v1/tenants/{tenant}/quotas", remove_quota)
}

/// Which funnel to split, and how.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FunnelParams {
    /// The pipeline (its id).
    pub pipeline: Option<String>,
    /// `source` (the customer's `lead_source` attribute, else its first external id's source),
    /// `tag`, or `segment` (with `plugin`).
    pub by: Option<String>,
    /// With `by=segment`: the segmenter plugin's id, e.g. `kith.rfm-segments`.
    pub plugin: Option<String>,
}

/// A pipeline's funnel (deals, amounts, conversion and time per stage) per lead source, tag
/// or plugin segment of the deals' customers, over the deals the caller may read. A deal whose
/// customer has several tags or segments counts in each.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/reports/funnel", tag = "reports", operation_id = "funnel_report",
    params(("tenant" = String, Path, description = "Tenant slug"), FunnelParams),
    responses((status = 200, description = "[{group, report}], one funnel per group", body = Vec<reports::FunnelGroup>),
        (status = 400, description = "invalid_query", body = super::Problem),
        (status = 422, description = "invalid_input (too many groups)", body = super::Problem)))]
pub async fn funnel(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiQuery(q): ApiQuery<FunnelParams>,
) -> ApiResult<Response> {
    let pipeline = match q.pipeline.as_deref() {
        Some(p) => PipelineId::parse("pipeline", p).map_err(invalid_query)?,
        None => {
            return Err(ApiError::field(
                "invalid_query",
                "pipeline",
                "a pipeline id",
            ));
        }
    };
    let by = match (q.by.as_deref(), q.plugin) {
        (Some("source"), None) => FunnelBy::Source,
        (Some("tag"), None) => FunnelBy::Tag,
        (Some("segment"), Some(plugin)) if !plugin.trim().is_empty() => FunnelBy::Segment(plugin),
        (Some("segment"), _) => {
            return Err(ApiError::field(
                "invalid_query",
                "plugin",
                "the segmenter's plugin id, e.g. kith.rfm-segments",
            ));
        }
        (Some("source" | "tag"), Some(_)) => {
            return Err(ApiError::field(
                "invalid_query",
                "plugin",
                "only with by=segment",
            ));
        }
        _ => {
            return Err(ApiError::field(
                "invalid_query",
                "by",
                "source, tag or segment",
            ));
        }
    };
    let groups = match by {
        FunnelBy::Segment(_) => {
            state
                .run_plugins(move |h| {
                    let store = h.store().as_ref();
                    Ok(reports::funnel(
                        store,
                        Some(store),
                        &t.tenant,
                        &t.access,
                        pipeline,
                        &by,
                    )?)
                })
                .await?
        }
        _ => {
            state
                .run(move |s| reports::funnel(s, None, &t.tenant, &t.access, pipeline, &by))
                .await?
        }
    };
    Ok(json(StatusCode::OK, &groups))
}

/// A sales target, as sent.
#[derive(Debug, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QuotaBody {
    /// The user whose target it is (or `team`).
    pub user: Option<String>,
    /// The team whose target it is (or `user`).
    pub team: Option<String>,
    /// `day`, `week`, `month` or `quarter`.
    pub period: String,
    /// Any day of the period (YYYY-MM-DD): the quota is for the whole period that holds it.
    pub start: String,
    /// The amount to win, in minor units (to set a quota).
    #[serde(default)]
    pub target: Option<i64>,
    /// Its currency (ISO 4217).
    pub currency: String,
}

impl QuotaBody {
    fn target(&self, code: &'static str) -> ApiResult<QuotaTarget> {
        let bad = |field: &str, expected: &str| ApiError::field(code, field, expected);
        let subject = match (&self.user, &self.team) {
            (Some(u), None) => {
                QuotaSubject::User(UserId::parse("user", u).map_err(|_| bad("user", "a user id"))?)
            }
            (None, Some(t)) => {
                QuotaSubject::Team(TeamId::parse("team", t).map_err(|_| bad("team", "a team id"))?)
            }
            _ => return Err(bad("user", "either user or team")),
        };
        let currency = Currency::parse("currency", &self.currency)
            .map_err(|_| bad("currency", "an ISO 4217 code such as EUR"))?;
        Ok(QuotaTarget {
            subject,
            period: Period::parse("period", &self.period)
                .map_err(|_| bad("period", "day, week, month or quarter"))?,
            day: Date::parse("start", &self.start)
                .map_err(|_| bad("start", "a date as YYYY-MM-DD"))?,
            target: Money::new(self.target.unwrap_or(0), currency),
        })
    }
}

/// Set a user's or team's sales target for one period (replacing the one there); the sales
/// report shows it, with attainment, on that group's row of that period.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/quotas", tag = "reports",
    params(("tenant" = String, Path, description = "Tenant slug")),
    request_body = QuotaBody,
    responses((status = 200, description = "The quota", body = crate::model::Quota),
        (status = 404, description = "not_found (user or team)", body = super::Problem),
        (status = 422, description = "invalid_input", body = super::Problem)))]
pub async fn set_quota(
    State(state): State<AppState>,
    t: TenantWrite,
    ApiJson(body): ApiJson<QuotaBody>,
) -> ApiResult<Response> {
    if body.target.is_none() {
        return Err(ApiError::field(
            "invalid_body",
            "target",
            "the amount to win, in minor units",
        ));
    }
    let target = body.target("invalid_body")?;
    let actor = t.actor();
    let q = state
        .run(move |s| reports::set_quota(s, &t.tenant, &actor, &target))
        .await?;
    Ok(json(StatusCode::OK, &q))
}

/// The tenant's sales targets, by subject, period and start.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/quotas", tag = "reports",
    params(("tenant" = String, Path, description = "Tenant slug"), Paging),
    responses((status = 200, description = "A page of quotas", body = PageBody<crate::model::Quota>)))]
pub async fn list_quotas(
    State(state): State<AppState>,
    t: TenantRead,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Response> {
    let page = q.request()?;
    let page = state
        .run(move |s| reports::quotas(s, &t.tenant, &page))
        .await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// Remove a sales target, named by `user` or `team`, `period`, `start` and `currency`.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/quotas", tag = "reports",
    params(("tenant" = String, Path, description = "Tenant slug"), QuotaBody),
    responses((status = 204, description = "Removed (or there was none)")))]
pub async fn remove_quota(
    State(state): State<AppState>,
    t: TenantWrite,
    ApiQuery(q): ApiQuery<QuotaBody>,
) -> ApiResult<Response> {
    let target = q.target("invalid_query")?;
    let actor = t.actor();
    state
        .run(move |s| reports::remove_quota(s, &t.tenant, &actor, &target))
        .await?;
    Ok(no_content())
}

/// A report's required date parameter.
pub(super) fn required_date(field: &str, v: Option<&str>) -> ApiResult<Date> {
    match v {
        Some(d) => Date::parse(field, d).map_err(invalid_query),
        None => Err(ApiError::field(
            "invalid_query",
            field,
            "a date as YYYY-MM-DD",
        )),
    }
}

/// A report's period parameter (default month).
pub(super) fn period(v: Option<&str>) -> ApiResult<Period> {
    match v {
        None => Ok(Period::Month),
        Some(p) => Period::parse("period", p).map_err(invalid_query),
    }
}

/// What the sales report covers.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SalesParams {
    /// First day (YYYY-MM-DD).
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD); at most 366 days after `from` by day, 1,098 otherwise.
    pub to: Option<String>,
    /// `day`, `week` (ISO, from Monday), `month` (default) or `quarter`.
    pub period: Option<String>,
    /// Rows per `owner` (default) or per `team` (of the deal's owner).
    pub by: Option<String>,
    /// Only this owner's deals: a user id, or `me` with a user key.
    pub owner: Option<String>,
    /// Only deals owned by members of this team.
    pub team: Option<String>,
}

/// Sales performance: per group, period and currency, deals created, won and lost (count and
/// amount), win rate and average sales cycle; the open pipeline weighted by stage probability;
/// and the forecast of open deals by expected-close month. A user key's report covers the deals
/// its role lets it read.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/reports/sales", tag = "reports", operation_id = "sales_report",
    params(("tenant" = String, Path, description = "Tenant slug"), SalesParams),
    responses((status = 200, description = "The report: from, to, period, rows, pipeline, forecast", body = crate::model::SalesReport),
        (status = 400, description = "invalid_query", body = super::Problem),
        (status = 422, description = "invalid_input (a range too long for its period)", body = super::Problem)))]
pub async fn sales(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiQuery(q): ApiQuery<SalesParams>,
) -> ApiResult<Response> {
    let owner = match q.owner.as_deref().map(str::trim) {
        None => None,
        Some("me") => Some(t.me().ok_or_else(|| {
            ApiError::field("invalid_query", "owner", "a user id: `me` needs a user key")
        })?),
        Some(o) => Some(UserId::parse("owner", o).map_err(invalid_query)?),
    };
    let query = SalesQuery {
        from: required_date("from", q.from.as_deref())?,
        to: required_date("to", q.to.as_deref())?,
        period: period(q.period.as_deref())?,
        by: match q.by.as_deref() {
            None | Some("owner") => GroupBy::Owner,
            Some("team") => GroupBy::Team,
            Some(_) => return Err(ApiError::field("invalid_query", "by", "owner or team")),
        },
        owner,
        team: q
            .team
            .as_deref()
            .map(|v| TeamId::parse("team", v).map_err(invalid_query))
            .transpose()?,
    };
    let report = state
        .run(move |s| reports::sales(s, &t.tenant, &t.access, &query))
        .await?;
    Ok(json(StatusCode::OK, &report))
}
