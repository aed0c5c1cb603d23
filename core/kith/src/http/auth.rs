//! Bearer-token authentication and scopes. Tokens are verified by the service (hash, constant-time
//! comparison) and never logged.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::Params;
use crate::model::{Actor, TenantSlug};
use crate::service::tokens::{self, Principal};

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

/// Read access to the tenant in the path. Another tenant's key gets 404, as for a tenant that does
/// not exist.
#[derive(Debug, Clone)]
pub struct TenantRead {
    /// The tenant.
    pub tenant: TenantSlug,
    /// Who asks.
    pub principal: Principal,
}

impl FromRequestParts<AppState> for TenantRead {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let Auth(principal) = Auth::from_request_parts(parts, state).await?;
        let params = Params::from_request_parts(parts, state).await?;
        let tenant = params.tenant()?;
        if !principal.can_see(&tenant) {
            return Err(ApiError::tenant_not_found(tenant.as_str()));
        }
        Ok(Self { tenant, principal })
    }
}

/// Write access to the tenant in the path: as [`TenantRead`], and not a read-only key (403).
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
        let TenantRead { tenant, principal } = TenantRead::from_request_parts(parts, state).await?;
        if principal.read_only {
            return Err(ApiError::forbidden(
                "read_only_token",
                "this key is read-only; use a key that may write",
            ));
        }
        Ok(Self { tenant, principal })
    }
}
