//! `/v1/tenants/{tenant}/reports/sales`: sales performance by person or team and period, over
//! what the caller may read.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::auth::ScopedRead;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, invalid_query, json};
use super::{AppState, Routes};
use crate::model::{Date, Period, TeamId, UserId};
use crate::service::reports::{self, GroupBy, SalesQuery};

/// The report routes.
pub fn routes() -> Routes {
    Routes::new().get("/v1/tenants/{tenant}/reports/sales", sales)
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
#[utoipa::path(get, path = "/v1/tenants/{tenant}/reports/sales", tag = "reports",
    params(("tenant" = String, Path, description = "Tenant slug"), SalesParams),
    responses((status = 200, description = "The report: from, to, period, rows, pipeline, forecast"),
        (status = 400, description = "invalid_query", body = super::Problem),
        (status = 422, description = "invalid_input (a range too long for its period)", body = super::Problem)))]
pub async fn sales(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiQuery(q): ApiQuery<SalesParams>,
) -> ApiResult<Response> {
    let date = |field: &str, v: &Option<String>| match v.as_deref() {
        Some(d) => Date::parse(field, d).map_err(invalid_query),
        None => Err(ApiError::field(
            "invalid_query",
            field,
            "a date as YYYY-MM-DD",
        )),
    };
    let owner = match q.owner.as_deref().map(str::trim) {
        None => None,
        Some("me") => Some(t.access.user().map(|u| u.id).or(t.user).ok_or_else(|| {
            ApiError::field("invalid_query", "owner", "a user id: `me` needs a user key")
        })?),
        Some(o) => Some(UserId::parse("owner", o).map_err(invalid_query)?),
    };
    let query = SalesQuery {
        from: date("from", &q.from)?,
        to: date("to", &q.to)?,
        period: match q.period.as_deref() {
            None => Period::Month,
            Some(p) => Period::parse("period", p).map_err(invalid_query)?,
        },
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
