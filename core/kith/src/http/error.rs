//! [`ApiError`]: every error the API returns, as an RFC 9457 `application/problem+json` body with a
//! stable `code`. The only place that maps errors to HTTP statuses.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::Error;
use crate::model::FieldError;
use crate::store::Error as StoreError;

/// The media type of error bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: status, stable code, a human detail and, for input errors, every offending
/// field by its JSON path.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    pub(super) errors: Vec<FieldError>,
    /// Sent as `WWW-Authenticate` (401 only).
    challenge: Option<&'static str>,
}

/// The RFC 9457 body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "type": "urn:kith:problem:invalid_input",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "1 field is invalid",
    "code": "invalid_input",
    "errors": [{ "field": "email", "expected": "an email address like name@example.com (missing '@')" }]
}))]
pub struct Problem {
    /// A URI naming the problem type: `urn:kith:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong and what to do about it.
    pub detail: String,
    /// A stable machine-readable code, e.g. `invalid_input`, `version_conflict`.
    pub code: String,
    /// For input errors: each offending field (JSON path) and what was expected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ApiError {
    /// An error with a status, a code and a detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            challenge: None,
        }
    }

    /// The same error with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// A 400 naming one offending field.
    pub fn field(
        code: &'static str,
        field: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        let field = field.into();
        let expected = expected.into();
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            code,
            format!("{field}: expected {expected}"),
        );
        e.errors.push(FieldError { field, expected });
        e
    }

    /// 401: no token, or not a valid one.
    pub fn unauthorized(detail: &str) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        e.challenge = Some("Bearer");
        e
    }

    /// 403: a valid token without the scope for this request.
    pub fn forbidden(code: &'static str, detail: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// 404 for a tenant the caller may not see, worded like one that does not exist.
    pub fn tenant_not_found(slug: &str) -> Self {
        StoreError::TenantNotFound(slug.to_owned()).into()
    }

    /// 500 without internals: the cause is logged with the request's id.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(
            error = %cause,
            request_id = %super::middleware::current_request_id(),
            "internal error"
        );
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle the request; the cause is in its log under this request's x-request-id",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::Store(s) => return Self::from_store(s),
            Error::Plugin(f) => return Self::plugin(f),
            // The tenant's plugin is in a state (suspended until a time, or until reset) that
            // refuses the request: not the server failing. The webhook route answers 503
            // instead, so that the platform retries the delivery later.
            Error::PluginSuspended { .. } => StatusCode::CONFLICT,
            Error::PopulationFailed { .. } => StatusCode::BAD_GATEWAY,
            _ => return Self::internal(&e),
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::from_store(&e)
    }
}

impl ApiError {
    /// The store's errors: bad input 422, missing 404, taken 409, stale 412, closed 503, and
    /// anything else a 500 whose cause is only logged.
    fn from_store(e: &StoreError) -> Self {
        let status = match e {
            StoreError::Invalid(_) | StoreError::Money(_) | StoreError::IdempotencyKeyReused(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            StoreError::TenantNotFound(_) | StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::TenantExists(_)
            | StoreError::Duplicate { .. }
            | StoreError::PipelineNotEmpty { .. }
            | StoreError::TeamNotEmpty { .. }
            | StoreError::PluginInUse { .. }
            | StoreError::PluginVersionTaken { .. } => StatusCode::CONFLICT,
            StoreError::Conflict { .. } => StatusCode::PRECONDITION_FAILED,
            StoreError::Forbidden(_) => StatusCode::FORBIDDEN,
            StoreError::BadCursor => StatusCode::BAD_REQUEST,
            StoreError::Closed | StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => return Self::internal(e),
        };
        let errors = match e {
            StoreError::Invalid(v) => v.errors.clone(),
            _ => Vec::new(),
        };
        Self {
            status,
            code: e.code(),
            detail: e.to_string(),
            errors,
            challenge: None,
        }
    }
}

impl ApiError {
    /// A plugin's failure: bad components are the uploader's mistake (413, 422); a failed call
    /// is a bad gateway (502), which webhook senders retry.
    fn plugin(f: &crate::plugin::PluginFailure) -> Self {
        use crate::plugin::PluginFailure as F;
        let status = match f {
            F::TooLarge { .. } | F::InputTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            F::NotAComponent(_) | F::UnsupportedWit(_) | F::BadManifest(_) | F::TooComplex(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            F::Interrupted => {
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting_down",
                    "the server is shutting down; retry on another node or after it restarts",
                );
            }
            F::Host(_) => return Self::internal(f),
            F::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_GATEWAY,
        };
        // The failure codes are kebab-case (they are stored in health records); problem codes
        // are snake_case like every other.
        let code = PLUGIN_CODES
            .iter()
            .find(|(kebab, _)| *kebab == f.code())
            .map_or("plugin_failed", |(_, snake)| snake);
        Self::new(status, code, f.to_string())
    }
}

/// Plugin failure codes and their problem codes.
const PLUGIN_CODES: &[(&str, &str)] = &[
    ("not-a-component", "not_a_component"),
    ("too-large", "payload_too_large"),
    ("unsupported-wit", "unsupported_wit"),
    ("bad-manifest", "bad_manifest"),
    ("fuel-exhausted", "fuel_exhausted"),
    ("deadline-exceeded", "deadline_exceeded"),
    ("memory-limit", "memory_limit"),
    ("trap", "trap"),
    ("input-too-large", "input_too_large"),
    ("output-too-large", "output_too_large"),
    ("plugin-error", "plugin_error"),
    ("invalid-output", "invalid_output"),
    ("busy", "plugin_busy"),
    ("too-complex", "plugin_too_complex"),
];

impl ApiError {
    /// The RFC 9457 body (also one record's result in a batch answer).
    pub fn into_problem(self) -> Problem {
        Problem {
            kind: format!("urn:kith:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            errors: self.errors,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, challenge) = (self.status, self.challenge);
        let body = self.into_problem();
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(c) = challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(c));
        }
        response
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suspended_plugin_is_a_conflict_not_a_server_error() {
        let e = ApiError::from(Error::PluginSuspended {
            plugin: "kith.rfm".into(),
            until: "2026-12-05T13:45:26Z".into(),
            failures: 5,
            last: "memory-limit".into(),
        });
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::CONFLICT, "plugin_suspended")
        );
        // The webhook route turns it into a 503 so that the platform retries.
        let hook = e.with_status(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(hook.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(hook.code(), "plugin_suspended");
    }
}
