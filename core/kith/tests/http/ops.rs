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
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
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

on_both_backends! {
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
