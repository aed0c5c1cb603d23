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
