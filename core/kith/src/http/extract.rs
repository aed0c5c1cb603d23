//! Extractors that turn bad input into problem answers: JSON bodies (with the path of the offending
//! field), query strings, path ids, `If-Match`, `Idempotency-Key`, and paging.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult};
use crate::model::TenantSlug;
use crate::store::{Cursor, IdempotencyKey, Page, PageRequest};

/// A JSON body: `Content-Type: application/json`, within the size limit, well-formed, an object
/// (every body the API takes is one), of the right shape (unknown fields are refused by the
/// model types).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    // serde reads a struct from an array by position (`["Bob"]` as `{"name": "Bob"}`): a body
    // is an object, so an array (or any other value) is refused before it gets that far.
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => {}
        Some(_) => {
            return Err(ApiError::field(
                "invalid_body",
                "",
                "a JSON object ({...}) as the body",
            ));
        }
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let code = match inner.classify() {
            serde_json::error::Category::Data => "invalid_body",
            _ => "malformed_json",
        };
        let field = if path == "." { String::new() } else { path };
        // serde's message ends with " at line 1 column 9": keep it, it locates the problem.
        ApiError::field(code, field, inner.to_string())
    })?;
    Ok(value)
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> ApiResult<Bytes> {
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("application/json") || v.to_ascii_lowercase().ends_with("+json")
        });
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    Bytes::from_request(req, state).await.map_err(|e| match e {
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
    })
}

/// The 413 answer for a body over the limit.
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is larger than the server accepts (JSON bodies: 1 MiB by default)",
    )
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A creating request's JSON body with its optional `Idempotency-Key`, fingerprinted by method,
/// path and body so that reusing the key for another request is refused.
#[derive(Debug)]
pub struct Create<T> {
    /// The parsed body.
    pub body: T,
    /// The key and fingerprint, when the client sent a key.
    pub key: Option<IdempotencyKey>,
}

/// Reads and checks the `Idempotency-Key` header.
fn idempotency_header(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw.to_str().ok().map(str::trim).filter(|k| {
        !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    });
    match key {
        Some(k) => Ok(Some(k.to_owned())),
        None => Err(ApiError::field(
            "bad_idempotency_key",
            "Idempotency-Key",
            "1 to 255 visible ASCII characters, e.g. a UUID",
        )),
    }
}

fn fingerprint(method: &Method, path: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().into()
}

impl<S, T> FromRequest<S> for Create<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let key = idempotency_header(req.headers())?;
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let bytes = body_bytes(req, state).await?;
        let body = parse_json(&bytes)?;
        let key = key.map(|key| IdempotencyKey {
            key,
            fingerprint: fingerprint(&method, &path, &bytes),
        });
        Ok(Self { body, key })
    }
}

/// Query parameters; unknown or malformed ones are a 400 `invalid_query`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("bad query string: {}", e.body_text()),
                )
            })
    }
}

/// The path's parameters by name.
#[derive(Debug)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| Params(p))
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_path", e.body_text()))
    }
}

impl Params {
    /// A parameter's text.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The tenant slug; a malformed one names no tenant (404).
    pub fn tenant(&self) -> ApiResult<TenantSlug> {
        let raw = self.get("tenant");
        TenantSlug::parse(raw).map_err(|_| ApiError::tenant_not_found(raw))
    }

    /// An entity id; a malformed one names no entity (404).
    pub fn id<I: std::str::FromStr>(&self, name: &str, entity: &'static str) -> ApiResult<I> {
        let raw = self.get(name);
        raw.parse().map_err(|_| {
            crate::store::Error::NotFound {
                entity,
                id: raw.to_owned(),
            }
            .into()
        })
    }
}

/// The version named by `If-Match` (`"3"` or `W/"3"`), none when absent or `*`.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<u64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        let Some(raw) = parts.headers.get(header::IF_MATCH) else {
            return Ok(Self(None));
        };
        let bad = || {
            ApiError::field(
                "bad_if_match",
                "If-Match",
                "the ETag of the resource as returned by GET, e.g. \"3\"",
            )
        };
        let text = raw.to_str().map_err(|_| bad())?.trim();
        if text == "*" {
            return Ok(Self(None));
        }
        let tag = text.strip_prefix("W/").unwrap_or(text);
        let version = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(bad)?;
        Ok(Self(Some(version)))
    }
}

/// The ETag of a version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// `limit` and `cursor`, shared by every list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// At most this many items (1 to 1000, default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Paging {
    /// The store's page request.
    pub fn request(&self) -> ApiResult<PageRequest> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::field(
                "invalid_query",
                "limit",
                "a number from 1 to 1000",
            ));
        }
        Ok(PageRequest {
            limit,
            after: self.cursor.clone().map(Cursor::from_string),
        })
    }
}

/// A page of a list as JSON.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PageBody<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for PageBody<T> {
    fn from(p: Page<T>) -> Self {
        Self {
            items: p.items,
            next_cursor: p.next.map(|c| c.as_str().to_owned()),
        }
    }
}

/// A JSON answer.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match serde_json::to_vec(value) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// A JSON answer with the entity's version as its ETag.
pub fn versioned<T: Serialize>(
    status: StatusCode,
    value: &T,
    version: u64,
) -> axum::response::Response {
    let mut r = json(status, value);
    if let Ok(v) = axum::http::HeaderValue::from_str(&etag(version)) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// The answer to a creating POST: 201 with `Location` (and `ETag`), or the replay of the first
/// answer to the same `Idempotency-Key`, marked `Idempotent-Replayed: true`.
pub fn created<T: Serialize>(
    value: &T,
    location: &str,
    version: Option<u64>,
    replayed: bool,
) -> axum::response::Response {
    let mut r = match version {
        Some(v) => versioned(StatusCode::CREATED, value, v),
        None => json(StatusCode::CREATED, value),
    };
    let headers = r.headers_mut();
    if let Ok(l) = axum::http::HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, l);
    }
    if replayed {
        headers.insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    r
}

/// 204.
pub fn no_content() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    StatusCode::NO_CONTENT.into_response()
}

/// A page request from `limit` and `cursor`.
pub fn page_request(limit: Option<usize>, cursor: Option<&str>) -> ApiResult<PageRequest> {
    Paging {
        limit,
        cursor: cursor.map(str::to_owned),
    }
    .request()
}

/// The body length a request declares (`Content-Length`), when it declares one: a body over a
/// limit is refused before any of it is read.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// A 400 `invalid_query` from a validation error of a query parameter.
pub fn invalid_query(e: crate::model::ValidationError) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_query",
        format!("bad query parameter: {e}"),
    );
    err.errors = e.errors;
    err
}
