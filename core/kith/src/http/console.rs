//! `/console`: the admin console, a small single-page application in plain JavaScript modules
//! that drives the same HTTP API as any other client (no private route, no server-side session).
//!
//! Why plain modules and not a front-end toolchain or server-rendered pages: every screen is a
//! view of an API answer the token may read, so the browser can render it from the API alone;
//! the files are embedded as written (nothing to build, no Node for `cargo test` or `kith serve`,
//! nothing generated to keep in step), and they are served under the same strict
//! Content-Security-Policy as `/docs`: only this origin's scripts and styles, no inline code,
//! requests only to this origin, no framing. Every value from the API reaches the page as text
//! (`textContent`), never as HTML.
//!
//! The token typed at sign-in is kept in the tab's `sessionStorage` (gone when the tab closes):
//! never in a URL, never in a cookie, so no request the browser sends on its own carries it and
//! there is nothing for a cross-site request to ride on. The event feed reads the server-sent
//! events stream with `fetch` (which can send `Authorization`), not `EventSource` (which cannot).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Routes;
use super::docs::asset;
use super::error::ApiError;
use super::extract::Params;

/// The console's files: name, media type, contents.
const FILES: &[(&str, &str, &str)] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("console/console.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("console/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("console/api.js"),
    ),
    (
        "dom.js",
        "text/javascript; charset=utf-8",
        include_str!("console/dom.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_str!("console/pages.js"),
    ),
    (
        "plugins.js",
        "text/javascript; charset=utf-8",
        include_str!("console/plugins.js"),
    ),
];

const PAGE: &str = include_str!("console/index.html");

/// The console's routes, and `/` leading to it.
pub fn routes() -> Routes {
    Routes::new()
        .get("/", root)
        .get("/console", page)
        .get("/console/{file}", file)
}

/// Leads to the console.
#[utoipa::path(get, path = "/", tag = "operations", operation_id = "root",
    responses((status = 303, description = "See /console")))]
pub async fn root() -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static("/console"));
    r
}

/// The admin console (HTML; it asks for a token and then reads the API with it).
#[utoipa::path(get, path = "/console", tag = "operations", operation_id = "console",
    responses((status = 200, description = "The console's page", body = String, content_type = "text/html")))]
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// One of the console's scripts or its style sheet.
#[utoipa::path(get, path = "/console/{file}", tag = "operations", operation_id = "console_file",
    params(("file" = String, Path, description = "`app.js`, `api.js`, `dom.js`, `pages.js`, `plugins.js` or `console.css`")),
    responses((status = 200, description = "JavaScript module or CSS", body = String, content_type = "text/javascript"),
        (status = 404, description = "not_found", body = super::Problem)))]
pub async fn file(params: Params) -> Result<Response, ApiError> {
    let name = params.get("file");
    FILES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, kind, body)| asset(kind, body))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("the console has no file {name:?}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy allows no inline code: the page must not need any.
    #[test]
    fn the_page_and_files_hold_no_inline_code_or_styles() {
        let lower = PAGE.to_ascii_lowercase();
        for (i, _) in lower.match_indices("<script") {
            let tag = &lower[i..i + lower[i..].find('>').unwrap()];
            assert!(tag.contains(" src="), "inline script in index.html: {tag}");
        }
        assert!(!lower.contains(" style="), "inline style in index.html");
        assert!(!lower.contains("<style"), "style element in index.html");
        for (name, _, body) in FILES.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            for bad in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "setAttribute(\"style\"",
                "setAttribute(\"on",
            ] {
                assert!(
                    !body.contains(bad),
                    "{name} uses {bad}: build the page from text nodes"
                );
            }
        }
    }

    /// Every module the page or a module imports is served.
    #[test]
    fn every_imported_module_is_served() {
        let mut wanted: Vec<&str> = Vec::new();
        for text in std::iter::once(PAGE).chain(FILES.iter().map(|f| f.2)) {
            for part in text
                .split("\"./")
                .skip(1)
                .chain(text.split("\"/console/").skip(1))
            {
                let name = &part[..part.find('"').unwrap()];
                if name.ends_with(".js") || name.ends_with(".css") {
                    wanted.push(name);
                }
            }
        }
        assert!(wanted.contains(&"app.js"), "{wanted:?}");
        for w in wanted {
            assert!(
                FILES.iter().any(|f| f.0 == w),
                "{w} is referenced but not served"
            );
        }
    }
}
