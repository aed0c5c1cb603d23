//! `/docs`: an interactive reference of the API, rendered in the browser from
//! `/v1/openapi.json`. The page, its script and its style are embedded in the binary (no CDN, no
//! download at run time) and served under a strict Content-Security-Policy: only this origin's
//! script and style, no inline code, requests only to this origin, no framing.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::Routes;

const PAGE: &str = include_str!("docs/index.html");
const SCRIPT: &str = include_str!("docs/docs.js");
const STYLE: &str = include_str!("docs/docs.css");

/// The policy every `/docs` answer carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The reference's routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/docs", page)
        .get("/docs/docs.js", script)
        .get("/docs/docs.css", style)
}

/// An embedded file with its type and the page policy's headers (`/docs` and `/console`).
pub(super) fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Embedded in the binary: a new release may change them, so revalidate after a few minutes.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// The API reference (HTML; needs no token: it shows the public document, and "Try it" sends
/// the token typed on the page).
#[utoipa::path(get, path = "/docs", tag = "operations", operation_id = "api_reference",
    responses((status = 200, description = "The API reference page", body = String, content_type = "text/html")))]
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// The reference's script.
#[utoipa::path(get, path = "/docs/docs.js", tag = "operations", operation_id = "api_reference_script",
    responses((status = 200, description = "JavaScript module", body = String, content_type = "text/javascript")))]
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The reference's style sheet.
#[utoipa::path(get, path = "/docs/docs.css", tag = "operations", operation_id = "api_reference_style",
    responses((status = 200, description = "CSS", body = String, content_type = "text/css")))]
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}
