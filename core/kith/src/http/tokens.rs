//! `/v1/tokens`: create, list and revoke API tokens (admin).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::auth::{Admin, Auth};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, Create, PageBody, Paging, Params, created, json};
use super::{AppState, Routes};
use crate::model::{TenantSlug, Timestamp, UserId};
use crate::service::tokens;
use crate::store::{TokenRecord, TokenScope};

/// The token routes.
pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/tokens", create)
        .get("/v1/tokens", list)
        .delete("/v1/tokens/{id}", revoke)
        .get("/v1/whoami", whoami)
}

/// Who a token is: what a client (the console) shows and offers to the bearer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// The token's public id (`env` for `KITH_ADMIN_TOKEN`).
    pub token_id: String,
    /// `admin`, `tenant` or `user`.
    pub kind: TokenKind,
    /// The tenant of a tenant or user key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The user a user key acts as (their id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The user's name, for a user key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The user's role (`admin`, `manager` or `member`), for a user key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Whether it may only read.
    pub read_only: bool,
}

/// Who the token in `Authorization` is (any valid token; 401 otherwise).
#[utoipa::path(get, path = "/v1/whoami", tag = "tokens", operation_id = "whoami",
    responses((status = 200, description = "The token's kind, tenant and user", body = WhoAmI),
        (status = 401, description = "unauthorized", body = super::Problem)))]
pub async fn whoami(State(state): State<AppState>, Auth(p): Auth) -> ApiResult<Response> {
    let (kind, tenant, user) = match &p.scope {
        TokenScope::Admin => (TokenKind::Admin, None, None),
        TokenScope::Tenant(t) => (TokenKind::Tenant, Some(t.clone()), None),
        TokenScope::User { tenant, user } => (TokenKind::User, Some(tenant.clone()), Some(*user)),
    };
    let found = match (&tenant, user) {
        (Some(t), Some(u)) => {
            let t = t.clone();
            state.run(move |s| s.user(&t, u)).await?
        }
        _ => None,
    };
    let body = WhoAmI {
        token_id: p.token_id,
        kind,
        tenant: tenant.map(|t| t.to_string()),
        user: user.map(|u| u.to_string()),
        user_name: found.as_ref().map(|u| u.name.clone()),
        role: found.map(|u| u.role.as_str().to_owned()),
        read_only: p.read_only,
    };
    Ok(json(StatusCode::OK, &body))
}

/// A token to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// `admin`, `tenant` for a tenant API key, or `user` for a key that acts as one user of a
    /// tenant (checked against the user's role on every request).
    pub kind: TokenKind,
    /// The tenant of a tenant or user key.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The user a user key acts as (their id).
    #[serde(default)]
    pub user: Option<String>,
    /// Whether the key may only read (tenant keys only).
    #[serde(default)]
    pub read_only: bool,
    /// A label.
    #[serde(default)]
    pub name: Option<String>,
}

/// Kinds of token.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Manages tenants and tokens.
    Admin,
    /// One tenant's API key.
    Tenant,
    /// A key acting as one user of a tenant.
    User,
}

/// A token as shown: never its hash; its secret only in the answer that created it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    /// Public id (used to revoke it).
    pub id: String,
    /// `admin` or `tenant`.
    pub kind: TokenKind,
    /// The tenant of a tenant or user key.
    pub tenant: Option<String>,
    /// The user a user key acts as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Whether it may only read.
    pub read_only: bool,
    /// Its label.
    pub name: Option<String>,
    /// When it was created.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// The token, shown once: store it now. Absent in lists and in idempotent replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl TokenView {
    fn new(r: TokenRecord, token: Option<String>) -> Self {
        let (kind, tenant, user) = match r.scope {
            TokenScope::Admin => (TokenKind::Admin, None, None),
            TokenScope::Tenant(t) => (TokenKind::Tenant, Some(t.to_string()), None),
            TokenScope::User { tenant, user } => (
                TokenKind::User,
                Some(tenant.to_string()),
                Some(user.to_string()),
            ),
        };
        Self {
            id: r.id,
            kind,
            tenant,
            user,
            read_only: r.read_only,
            name: r.name,
            created_at: r.created_at,
            token,
        }
    }
}

/// Create an admin token or a tenant API key.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", operation_id = "create_token", request_body = NewToken,
    params(("Idempotency-Key" = Option<String>, Header, description = "A replay returns the token without its secret")),
    responses((status = 201, description = "The token, with its secret shown once", body = TokenView)))]
pub async fn create(
    State(state): State<AppState>,
    _: Admin,
    req: Create<NewToken>,
) -> ApiResult<Response> {
    let body = req.body;
    let slug = |t: &str| {
        TenantSlug::parse(t)
            .map_err(|_| ApiError::from(crate::store::Error::TenantNotFound(t.to_owned())))
    };
    let scope = match (body.kind, body.tenant.as_deref(), body.user.as_deref()) {
        (TokenKind::Admin, None, None) => TokenScope::Admin,
        (TokenKind::Tenant, Some(t), None) => TokenScope::Tenant(slug(t)?),
        (TokenKind::User, Some(t), Some(u)) => TokenScope::User {
            tenant: slug(t)?,
            user: UserId::parse("user", u)
                .map_err(|_| ApiError::field("invalid_body", "user", "a user id (a UUID)"))?,
        },
        (TokenKind::Admin, _, _) => {
            return Err(ApiError::field(
                "invalid_body",
                "tenant",
                "no tenant or user for an admin token",
            ));
        }
        (_, None, _) => {
            return Err(ApiError::field(
                "invalid_body",
                "tenant",
                "the tenant slug of a tenant or user key",
            ));
        }
        (TokenKind::Tenant, Some(_), Some(_)) => {
            return Err(ApiError::field(
                "invalid_body",
                "user",
                "no user for a tenant key (use kind: user)",
            ));
        }
        (TokenKind::User, Some(_), None) => {
            return Err(ApiError::field(
                "invalid_body",
                "user",
                "the id of the user the key acts as",
            ));
        }
    };
    let key = req.key;
    let new = state
        .run(move |s| tokens::create(s, scope, body.read_only, body.name, key.as_ref()))
        .await?;
    let replayed = new.secret.is_none();
    let location = format!("/v1/tokens/{}", new.record.id);
    let view = TokenView::new(new.record, new.secret);
    Ok(created(&view, &location, None, replayed))
}

/// List tokens (without secrets or hashes).
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", operation_id = "list_tokens", params(Paging),
    responses((status = 200, description = "A page of tokens", body = PageBody<TokenView>)))]
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
    ApiQuery(q): ApiQuery<Paging>,
) -> ApiResult<Response> {
    let page = q.request()?;
    let page = state.run(move |s| tokens::list(s, &page)).await?;
    let body = PageBody {
        items: page
            .items
            .into_iter()
            .map(|r| TokenView::new(r, None))
            .collect::<Vec<_>>(),
        next_cursor: page.next.map(|c| c.as_str().to_owned()),
    };
    Ok(json(StatusCode::OK, &body))
}

/// Revoke a token.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens", operation_id = "revoke_token",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, description = "The revoked token", body = TokenView), (status = 404, description = "not_found", body = super::Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    _: Admin,
    params: Params,
) -> ApiResult<Response> {
    let id = params.get("id").to_owned();
    let record = state.run(move |s| tokens::revoke(s, &id)).await?;
    Ok(json(StatusCode::OK, &TokenView::new(record, None)))
}
