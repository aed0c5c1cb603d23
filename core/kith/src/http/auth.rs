//! Bearer-token authentication and scopes. Tokens are verified by the service (hash, constant-time
//! comparison) and never logged.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::Params;
use crate::model::{Actor, TenantSlug, UserId};
use crate::service::access::{Access, Refused};
use crate::service::tokens::{self, Principal};
use crate::store::TokenScope;

/// Any valid token.
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(Self(p.clone()));
        }
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("send a token: Authorization: Bearer kith_...")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("use the Bearer scheme: Authorization: Bearer kith_...")
            })?;
        let env_admin = state.env_admin().copied();
        let decided =
            tokens::authenticate_without_blocking(state.store(), token, env_admin.as_ref());
        let principal = match decided {
            Some(p) => p,
            None => {
                // The lookup may block (a PostgreSQL round trip): off the async workers, like
                // every other store call.
                let token = token.to_owned();
                state
                    .run(move |store| tokens::authenticate_from_store(store, &token))
                    .await?
            }
        }
        .ok_or_else(|| ApiError::unauthorized("the token is not valid (revoked or mistyped)"))?;
        parts.extensions.insert(principal.clone());
        Ok(Self(principal))
    }
}

/// An admin token: manages tenants and tokens.
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl Admin {
    /// The actor for the event log.
    pub fn actor(&self) -> Actor {
        self.0.actor()
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Auth(p) = Auth::from_request_parts(parts, state).await?;
        if !p.is_admin() {
            return Err(ApiError::forbidden(
                "admin_required",
                "this needs an admin token; tenant API keys manage only their tenant's data",
            ));
        }
        Ok(Self(p))
    }
}

/// The tenant in the path and what the principal may see there. Another tenant's key gets
/// 404, as for a tenant that does not exist; a user key whose user was deactivated or removed
/// gets 401.
async fn tenant_access(
    parts: &mut Parts,
    state: &AppState,
) -> ApiResult<(TenantSlug, Principal, Access)> {
    let Auth(principal) = Auth::from_request_parts(parts, state).await?;
    let params = Params::from_request_parts(parts, state).await?;
    let tenant = params.tenant()?;
    if !principal.can_see(&tenant) {
        return Err(ApiError::tenant_not_found(tenant.as_str()));
    }
    if let Some(access) = parts.extensions.get::<Access>() {
        return Ok((tenant, principal, access.clone()));
    }
    let access = if matches!(principal.scope, TokenScope::User { .. }) {
        let (t, scope) = (tenant.clone(), principal.scope.clone());
        state
            .run(move |s| Access::resolve(s, &t, &scope))
            .await?
            .map_err(|why| {
                ApiError::unauthorized(match why {
                    Refused::Deactivated => {
                        "the user this key acts as is deactivated: ask a tenant admin to reactivate them"
                    }
                    Refused::NoSuchUser => "the user this key acts as no longer exists",
                })
            })?
    } else {
        Access::Full
    };
    parts.extensions.insert(access.clone());
    Ok((tenant, principal, access))
}

fn role_required(access: &Access) -> ApiResult<()> {
    match access.user() {
        None => Ok(()),
        Some(u) => Err(ApiError::forbidden(
            "role_required",
            &format!(
                "this needs a tenant admin (a tenant key or a user with role admin); this key acts as a {}",
                u.role.as_str()
            ),
        )),
    }
}

fn writable(principal: &Principal) -> ApiResult<()> {
    if principal.read_only {
        return Err(ApiError::forbidden(
            "read_only_token",
            "this key is read-only; use a key that may write",
        ));
    }
    Ok(())
}

/// Read access to all of the tenant in the path: a tenant key, an admin token, or a user key of
/// a user with role `admin` (others: 403 `role_required`).
#[derive(Debug, Clone)]
pub struct TenantRead {
    /// The tenant.
    pub tenant: TenantSlug,
}

impl FromRequestParts<AppState> for TenantRead {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let (tenant, _, access) = tenant_access(parts, state).await?;
        role_required(&access)?;
        Ok(Self { tenant })
    }
}

/// Write access to all of the tenant in the path: as [`TenantRead`], and not a read-only key
/// (403).
#[derive(Debug, Clone)]
pub struct TenantWrite {
    /// The tenant.
    pub tenant: TenantSlug,
    /// Who asks.
    pub principal: Principal,
}

impl TenantWrite {
    /// The actor for the event log.
    pub fn actor(&self) -> Actor {
        self.principal.actor()
    }
}

impl FromRequestParts<AppState> for TenantWrite {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let (tenant, principal, access) = tenant_access(parts, state).await?;
        role_required(&access)?;
        writable(&principal)?;
        Ok(Self { tenant, principal })
    }
}

/// Read access to what the principal may see of the tenant in the path: every key of the
/// tenant, limited by the role of the user a user key acts as.
#[derive(Debug, Clone)]
pub struct ScopedRead {
    /// The tenant.
    pub tenant: TenantSlug,
    /// What they may see.
    pub access: Access,
    /// The user a user key acts as (whatever their role).
    pub user: Option<UserId>,
}

impl ScopedRead {
    /// The user `me` stands for: the user a user key acts as, whatever its role.
    pub fn me(&self) -> Option<UserId> {
        self.access.user().map(|u| u.id).or(self.user)
    }
}

impl FromRequestParts<AppState> for ScopedRead {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let (tenant, principal, access) = tenant_access(parts, state).await?;
        let user = match principal.scope {
            TokenScope::User { user, .. } => Some(user),
            _ => None,
        };
        Ok(Self {
            tenant,
            access,
            user,
        })
    }
}

/// As [`ScopedRead`], for changes: not a read-only key (403).
#[derive(Debug, Clone)]
pub struct ScopedWrite {
    /// The tenant.
    pub tenant: TenantSlug,
    /// Who asks.
    pub principal: Principal,
    /// What they may see and change.
    pub access: Access,
}

impl ScopedWrite {
    /// The actor for the event log.
    pub fn actor(&self) -> Actor {
        self.principal.actor()
    }
}

impl FromRequestParts<AppState> for ScopedWrite {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let (tenant, principal, access) = tenant_access(parts, state).await?;
        writable(&principal)?;
        Ok(Self {
            tenant,
            principal,
            access,
        })
    }
}
