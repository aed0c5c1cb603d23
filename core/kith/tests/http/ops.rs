//! Operations: the OpenAPI document lists every route, metrics, request ids and timeouts.

use std::time::Duration;

use super::http_support::{Api, Backend, on_both_backends};
use serde_json::json;

async fn every_route_of_the_router_is_in_the_openapi_document(backend: Backend) {
    let api = Api::on(backend);
    let doc = api
        .call("GET", "/v1/openapi.json", None, None)
        .await
        .ok(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    let mut missing = Vec::new();
    let table = kith::http::route_table();
    assert!(table.len() >= 30, "the route table is suspiciously short");
    for (method, path) in &table {
        let m = method.as_str().to_ascii_lowercase();
        if paths.get(*path).and_then(|p| p.get(&m)).is_none() {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
    // And nothing documented that the router does not serve.
    let mut extra = Vec::new();
    for (path, item) in paths {
        for m in item.as_object().unwrap().keys() {
            if !table
                .iter()
                .any(|(tm, tp)| tp == path && tm.as_str().eq_ignore_ascii_case(m))
            {
                extra.push(format!("{m} {path}"));
            }
        }
    }
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

async fn metrics_count_requests_by_route_and_commits_by_batch(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    api.customer("acme", &key, json!({ "name": "Ada" })).await;
    api.call("GET", "/v1/tenants/acme/customers/nope", Some(&key), None)
        .await;
    let r = api.call("GET", "/metrics", None, None).await;
    assert_eq!(r.status.as_u16(), 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    super::http_support::assert_exposition(&r.text);
    let text = &r.text;
    assert!(text.contains(
        r#"kith_http_request_duration_seconds_count{method="POST",route="/v1/tenants/{tenant}/customers",status="2xx"} 1"#
    ), "{text}");
    assert!(text.contains(
        r#"kith_http_request_duration_seconds_count{method="GET",route="/v1/tenants/{tenant}/customers/{id}",status="4xx"} 1"#
    ), "{text}");
    assert!(text.contains("# TYPE kith_store_commit_duration_seconds histogram"));
    // Three commits: tenant, token, customer (the admin token was created before the listener).
    assert!(
        text.contains("kith_store_commit_batch_size_count 3"),
        "{text}"
    );
}

async fn request_ids_are_echoed_or_generated(backend: Backend) {
    let api = Api::on(backend);
    let r = api
        .call_with(
            "GET",
            "/healthz",
            None,
            None,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("abc-123"));
    let r = api.call("GET", "/v1/nope", None, None).await;
    let id = r.header("x-request-id").unwrap();
    assert_eq!(id.len(), 36, "a generated UUID: {id}");
    let r = api
        .call_with(
            "GET",
            "/healthz",
            None,
            None,
            &[("x-request-id", "bad id with spaces")],
        )
        .await;
    assert_ne!(r.header("x-request-id"), Some("bad id with spaces"));
}

async fn a_request_over_the_timeout_is_a_408_problem(backend: Backend) {
    let api = Api::on_with_config(
        backend,
        kith::http::HttpConfig {
            request_timeout: Duration::ZERO,
            ..Default::default()
        },
    );
    api.call("GET", "/v1/tenants", Some(&api.admin.clone()), None)
        .await
        .problem(408, "request_timeout");
}

async fn the_api_reference_is_served_from_the_binary_under_a_strict_policy(backend: Backend) {
    let api = Api::on(backend);
    let page = api.call("GET", "/docs", None, None).await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(
        page.text
            .contains(r#"<script type="module" src="/docs/docs.js"></script>"#)
    );
    // No inline script, nothing fetched from elsewhere (the assets ship in the binary).
    assert_eq!(page.text.matches("<script").count(), 1, "{}", page.text);
    for (path, kind) in [
        ("/docs/docs.js", "text/javascript"),
        ("/docs/docs.css", "text/css"),
    ] {
        let r = api.call("GET", path, None, None).await;
        assert_eq!(r.status.as_u16(), 200, "{path}");
        assert!(
            r.header("content-type").unwrap().starts_with(kind),
            "{path}"
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert!(
            !r.text.contains("http://") && !r.text.contains("https://"),
            "{path} names another origin"
        );
    }
    // The script reads the document this server serves, and writes values as text, never HTML.
    let script = api.call("GET", "/docs/docs.js", None, None).await.text;
    assert!(script.contains(r#"fetch("/v1/openapi.json")"#));
    assert!(!script.contains("innerHTML") && !script.contains("insertAdjacentHTML"));
    assert!(
        !script.contains("localStorage") && !script.contains("document.cookie"),
        "the token stays in the page"
    );
}

/// `POST /v1/admin/backup` streams a consistent copy of a running server's store, one at a time,
/// leaving nothing behind; an admin's only; PostgreSQL says to use its own tools.
async fn a_running_server_streams_its_backup_one_at_a_time(backend: Backend) {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    let place = super::http_support::Place::new(backend);
    let store = place.open();
    let data_dir = place.dir.path().to_owned();
    let config = kith::http::HttpConfig {
        backup_dir: (backend == Backend::Redb).then(|| data_dir.clone()),
        ..Default::default()
    };
    let api = Api::over(place, store, config);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    api.customer(
        "acme",
        &key,
        json!({ "name": "Ada", "email": "ada@example.com" }),
    )
    .await;
    let r = api.call("POST", "/v1/admin/backup", Some(&key), None).await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.text);
    let request = || {
        Request::post("/v1/admin/backup")
            .header("authorization", format!("Bearer {}", api.admin))
            .body(Body::empty())
            .unwrap()
    };
    if backend == Backend::Postgres {
        api.send(request()).await.problem(409, "backup_unsupported");
        return;
    }
    // The first answer is not read yet: its snapshot holds the one backup slot.
    let first = api.router.clone().oneshot(request()).await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    assert_eq!(first.headers()["content-type"], "application/octet-stream");
    api.send(request()).await.problem(409, "backup_running");
    let len: usize = first.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = first.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes.len(), len);
    // Sent: the slot is free, and no snapshot file is left in the data directory.
    let again = api.router.clone().oneshot(request()).await.unwrap();
    assert_eq!(again.status().as_u16(), 200);
    drop(again);
    let leftovers: Vec<_> = std::fs::read_dir(&data_dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".backup-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The copy is a store of its own with the data.
    let restored = tempfile::tempdir().unwrap();
    std::fs::write(restored.path().join("kith.redb"), &bytes).unwrap();
    let copy =
        kith::store::RedbStore::open(restored.path(), kith::store::StoreConfig::default()).unwrap();
    let acme = kith::model::TenantSlug::parse("acme").unwrap();
    let email = kith::model::Email::parse("email", "ada@example.com").unwrap();
    use kith::store::Store as _;
    assert_eq!(
        copy.customer_by_email(&acme, &email).unwrap().unwrap().name,
        "Ada"
    );
}

on_both_backends! {
    a_running_server_streams_its_backup_one_at_a_time,
    the_api_reference_is_served_from_the_binary_under_a_strict_policy,
    every_route_of_the_router_is_in_the_openapi_document,
    metrics_count_requests_by_route_and_commits_by_batch,
    request_ids_are_echoed_or_generated,
    a_request_over_the_timeout_is_a_408_problem,
}

/// PostgreSQL going away under load: requests fail with 503 `store_unavailable` (never a
/// half-applied write), and the server serves again by itself once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
async fn losing_the_database_is_a_503_and_the_server_recovers_by_itself() {
    use kith::store::testing::Proxy;
    use kith::store::{PgConfig, PgStore};
    use std::sync::Arc;
    use std::time::Duration;

    let place = super::http_support::Place::new(Backend::Postgres);
    let url = place.db.as_ref().unwrap().url().to_owned();
    let proxy = Proxy::start(&Proxy::target_of(&url));
    let mut config = PgConfig::new(proxy.url_for(&url));
    config.connect_timeout = Duration::from_secs(1);
    config.pool_size = 4;
    let store = Arc::new(PgStore::open(config).unwrap());
    let api = Api::over(place, store, kith::http::HttpConfig::default());
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let ada = api
        .customer("acme", &key, json!({ "email": "ada@example.com" }))
        .await;
    let path = format!("/v1/tenants/acme/customers/{}", ada["id"].as_str().unwrap());

    proxy.cut();
    for _ in 0..2 {
        api.call("GET", &path, Some(&key), None)
            .await
            .problem(503, "store_unavailable");
        api.call(
            "POST",
            "/v1/tenants/acme/customers",
            Some(&key),
            Some(json!({ "email": "lost@example.com" })),
        )
        .await
        .problem(503, "store_unavailable");
    }

    proxy.restore();
    assert_eq!(api.call("GET", &path, Some(&key), None).await.ok(200), ada);
    let r = api
        .call(
            "GET",
            "/v1/tenants/acme/customers?email=lost@example.com",
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(
        r["items"],
        json!([]),
        "nothing of the failed write was kept"
    );
    api.customer("acme", &key, json!({ "email": "back@example.com" }))
        .await;
}

/// The document is a contract a client can be generated from: one unique operationId per
/// operation, a schema for every success body and request body (no bare `object`), and every
/// error as `application/problem+json` (with a `default` for the statuses an operation does not
/// list). That answers match these schemas is checked by every HTTP test (`http_support`).
#[test]
fn the_openapi_document_is_a_complete_contract() {
    let doc = serde_json::to_value(kith::http::openapi::document()).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    // A schema that says what the value is: a reference that resolves, a composition, or a type
    // (an object with its properties, an array with its items).
    fn specific(
        s: &serde_json::Value,
        schemas: &serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        if let Some(r) = s["$ref"].as_str() {
            return r
                .strip_prefix("#/components/schemas/")
                .is_some_and(|name| schemas.contains_key(name));
        }
        if ["oneOf", "allOf", "anyOf"]
            .iter()
            .any(|k| s.get(*k).is_some())
        {
            return true;
        }
        match s["type"].as_str() {
            Some("object") => {
                s.get("properties").is_some() || s.get("additionalProperties").is_some()
            }
            Some("array") => specific(&s["items"], schemas),
            Some(_) => true,
            None => false,
        }
    }
    let mut ids = std::collections::HashSet::new();
    let mut faults = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{} {path}", method.to_uppercase());
            match op["operationId"].as_str() {
                Some(id) if !ids.insert(id.to_owned()) => {
                    faults.push(format!("{name}: operationId {id} is used twice"))
                }
                Some(_) => {}
                None => faults.push(format!("{name}: no operationId")),
            }
            let responses = op["responses"].as_object().unwrap();
            if !responses.contains_key("default") {
                faults.push(format!("{name}: no default (error) response"));
            }
            for (status, answer) in responses {
                let content = answer["content"].as_object();
                if status.starts_with('2') && status != "204" {
                    // The OpenAPI document itself is the one body described only as an object.
                    let Some(content) = content else {
                        faults.push(format!("{name} {status}: no body schema"));
                        continue;
                    };
                    for (media, c) in content {
                        if !specific(&c["schema"], schemas) && path != "/v1/openapi.json" {
                            faults.push(format!(
                                "{name} {status} {media}: unspecific schema {}",
                                c["schema"]
                            ));
                        }
                    }
                } else if status.starts_with(['4', '5']) || status == "default" {
                    let problem = content
                        .and_then(|c| c.get("application/problem+json"))
                        .map(|c| &c["schema"]["$ref"]);
                    if problem.and_then(|r| r.as_str()) != Some("#/components/schemas/Problem")
                        || content.unwrap().len() != 1
                    {
                        faults.push(format!(
                            "{name} {status}: not an application/problem+json Problem"
                        ));
                    }
                }
            }
            if let Some(body) = op.get("requestBody") {
                for (media, c) in body["content"].as_object().unwrap() {
                    if !specific(&c["schema"], schemas) {
                        faults.push(format!(
                            "{name} request body {media}: unspecific schema {}",
                            c["schema"]
                        ));
                    }
                }
            }
        }
    }
    assert!(
        ids.len() >= 70,
        "suspiciously few operations: {}",
        ids.len()
    );
    assert!(
        faults.is_empty(),
        "the OpenAPI document is incomplete:\n{}",
        faults.join("\n")
    );
    // An example for the error body, which every client meets first.
    assert!(schemas["Problem"]["example"]["code"].is_string());
}
