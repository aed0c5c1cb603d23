//! Work items: the queue (`/work`), open and overdue counts per assignee
//! (`/work/overdue`), and service figures (`/reports/service`).

use crate::model::Interaction;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::auth::ScopedRead;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, PageBody, invalid_query, json, page_request};
use super::reports::{period, required_date};
use super::{AppState, Routes};
use crate::model::{FieldObject, InteractionKind, TaskStatus, TeamId, Timestamp, UserId};
use crate::service::access::Access;
use crate::service::interactions::{
    self, OverdueCount, QueueQuery, ServiceQuery, Whose, WorkGroup,
};

/// The work routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/tenants/{tenant}/work", queue)
        .get("/v1/tenants/{tenant}/work/overdue", overdue)
        .get("/v1/tenants/{tenant}/reports/service", service)
}

/// Which work to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// `me` (with a user key), `none` (unassigned) or a user id; default everyone's the caller
    /// may read.
    pub assignee: Option<String>,
    /// Only work assigned to members of this team (at most 50 members).
    pub team: Option<String>,
    /// Comma-separated statuses: `open`, `in-progress`, `waiting`, `resolved`, `closed`
    /// (default the first three: work still to do).
    pub status: Option<String>,
    /// Comma-separated kinds: `task`, `ticket`, `complaint` (default all three).
    pub kind: Option<String>,
    /// Only work due strictly before this time (RFC 3339); work without a due date is then
    /// left out.
    pub due_before: Option<String>,
    /// `KEY:VALUE`: the filterable custom field KEY of work items holds VALUE (of its type);
    /// checked on each item read.
    pub attribute: Option<String>,
    /// Page size (1 to 1000, default 50).
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Most values a comma-separated filter takes (each status or kind once is 5 or 3).
const MAX_LIST_VALUES: usize = 10;

fn list<T: PartialEq>(
    field: &str,
    v: Option<&str>,
    parse: impl Fn(&str) -> Result<T, crate::model::ValidationError>,
) -> ApiResult<Vec<T>> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (n, part) in v.split(',').enumerate() {
        if n >= MAX_LIST_VALUES {
            return Err(ApiError::field(
                "invalid_query",
                field,
                format!("at most {MAX_LIST_VALUES} comma-separated values"),
            ));
        }
        let x = parse(part).map_err(invalid_query)?;
        if !out.contains(&x) {
            out.push(x);
        }
    }
    Ok(out)
}

fn kinds(v: Option<&str>) -> ApiResult<Vec<InteractionKind>> {
    let kinds = list("kind", v, |s| InteractionKind::parse("kind", s))?;
    if kinds.iter().any(|k| !k.has_status()) {
        return Err(ApiError::field(
            "invalid_query",
            "kind",
            "task, ticket or complaint (only they are work items)",
        ));
    }
    Ok(kinds)
}

/// The user a `me` stands for.
fn me(t: &ScopedRead, field: &str) -> ApiResult<String> {
    t.me().map(|u| u.to_string()).ok_or_else(|| {
        ApiError::field(
            "invalid_query",
            field,
            "a user id: `me` needs a user key (kind user), and this key acts for no user",
        )
    })
}

fn user_id(field: &str, v: &str) -> ApiResult<String> {
    UserId::parse(field, v)
        .map(|u| u.to_string())
        .map_err(invalid_query)
}

/// The work queue: tasks, tickets and complaints by due date (none last), then priority
/// (urgent first), then id. A user key lists only the work its role lets it read.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/work", tag = "work", operation_id = "work_queue",
    params(("tenant" = String, Path, description = "Tenant slug"), QueueParams),
    responses((status = 200, description = "A page of interactions", body = PageBody<Interaction>),
        (status = 400, description = "invalid_query", body = super::Problem)))]
pub async fn queue(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiQuery(q): ApiQuery<QueueParams>,
) -> ApiResult<Response> {
    let whose = match (q.assignee.as_deref().map(str::trim), q.team.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                "invalid_query",
                "team",
                "either `assignee` or `team`, not both",
            ));
        }
        (None, None) => Whose::Anyone,
        (None, Some(team)) => Whose::Team(TeamId::parse("team", team).map_err(invalid_query)?),
        (Some("me"), None) => Whose::User(me(&t, "assignee")?),
        (Some("none"), None) => Whose::Nobody,
        (Some(u), None) => Whose::User(user_id("assignee", u)?),
    };
    let query = QueueQuery {
        whose,
        statuses: list("status", q.status.as_deref(), |s| {
            TaskStatus::parse("status", s)
        })?,
        kinds: kinds(q.kind.as_deref())?,
        due_before: q
            .due_before
            .as_deref()
            .map(|d| Timestamp::parse("due_before", d).map_err(invalid_query))
            .transpose()?,
        attribute: super::fields::attribute_filter(
            &state,
            &t.tenant,
            FieldObject::WorkItem,
            q.attribute.as_deref(),
        )
        .await?,
    };
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let page = state
        .run(move |s| interactions::queue(s, &t.tenant, &t.access, &query, &page))
        .await?;
    Ok(json(StatusCode::OK, &PageBody::from(page)))
}

/// Open and overdue work per assignee.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OverdueBody {
    /// When it was counted: work due before this is overdue.
    #[schema(value_type = String)]
    pub at: Timestamp,
    /// Per assignee (none: unassigned), by assignee.
    pub counts: Vec<OverdueCount>,
    /// True when the tenant has more open work than one count reads (200,000 items): the
    /// counts then cover the earliest-due part of it.
    pub partial: bool,
}

/// Work still to do and how much of it is overdue, per assignee, over the work the caller may
/// read.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/work/overdue", tag = "work", operation_id = "work_overdue",
    params(("tenant" = String, Path, description = "Tenant slug")),
    responses((status = 200, description = "Counts per assignee", body = OverdueBody)))]
pub async fn overdue(State(state): State<AppState>, t: ScopedRead) -> ApiResult<Response> {
    let at = Timestamp::now();
    let (counts, partial) = state
        .run(move |s| interactions::overdue(s, &t.tenant, &t.access, at))
        .await?;
    Ok(json(
        StatusCode::OK,
        &OverdueBody {
            at,
            counts,
            partial,
        },
    ))
}

/// What the service report covers.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceParams {
    /// First day (YYYY-MM-DD).
    pub from: Option<String>,
    /// Last day (YYYY-MM-DD); at most 366 days after `from` by day, 1,098 otherwise.
    pub to: Option<String>,
    /// `day`, `week` (ISO, from Monday), `month` (default) or `quarter`.
    pub period: Option<String>,
    /// Rows per `assignee` (default), per `team` (of the assignee), or `all` together.
    pub by: Option<String>,
    /// Comma-separated kinds: `task`, `ticket`, `complaint` (default all three).
    pub kind: Option<String>,
    /// Only work assigned to this user: a user id, or `me` with a user key.
    pub assignee: Option<String>,
    /// Only work assigned to members of this team.
    pub team: Option<String>,
}

/// Service figures: per group and period, work opened and resolved, median seconds to first
/// answer and to resolution, and the share that ran late; and complaints per category and
/// period (opened, resolved, still open). A user key's report covers the work its role lets it
/// read.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/reports/service", tag = "reports", operation_id = "service_report",
    params(("tenant" = String, Path, description = "Tenant slug"), ServiceParams),
    responses((status = 200, description = "The report: from, to, period, rows, complaints", body = crate::model::WorkReport),
        (status = 400, description = "invalid_query", body = super::Problem),
        (status = 422, description = "invalid_input (a range too long for its period)", body = super::Problem)))]
pub async fn service(
    State(state): State<AppState>,
    t: ScopedRead,
    ApiQuery(q): ApiQuery<ServiceParams>,
) -> ApiResult<Response> {
    let assignee = match q.assignee.as_deref().map(str::trim) {
        None => None,
        Some("me") => Some(me(&t, "assignee")?),
        Some(u) => Some(user_id("assignee", u)?),
    };
    let query = ServiceQuery {
        from: required_date("from", q.from.as_deref())?,
        to: required_date("to", q.to.as_deref())?,
        period: period(q.period.as_deref())?,
        by: match q.by.as_deref() {
            None | Some("assignee") => WorkGroup::Assignee,
            Some("team") => WorkGroup::Team,
            Some("all") => WorkGroup::All,
            Some(_) => {
                return Err(ApiError::field(
                    "invalid_query",
                    "by",
                    "assignee, team or all",
                ));
            }
        },
        kinds: kinds(q.kind.as_deref())?,
        assignee,
        team: q
            .team
            .as_deref()
            .map(|v| TeamId::parse("team", v).map_err(invalid_query))
            .transpose()?,
    };
    let now = Timestamp::now();
    let access: Access = t.access.clone();
    let report = state
        .run(move |s| interactions::service_report(s, &t.tenant, &access, &query, now))
        .await?;
    Ok(json(StatusCode::OK, &report))
}
