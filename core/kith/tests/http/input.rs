//! Every kind of bad input gets a stable code, the right status, the offending field's path, and
//! nothing written.

use super::http_support::{Api, Backend, on_both_backends};
use axum::body::Body;
use axum::http::Request;
use serde_json::json;

async fn setup(backend: Backend) -> (Api, String) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    (api, key)
}

async fn malformed_json_wrong_types_unknown_and_missing_fields_name_the_path(backend: Backend) {
    let (api, key) = setup(backend).await;
    let before = api.last_seq("acme");
    let p = "/v1/tenants/acme/pipelines";

    let r = api
        .raw("POST", p, &key, br#"{"name": "Sales", "stages": [}"#)
        .await;
    let body = r.problem(400, "malformed_json");
    assert!(
        body["detail"].as_str().unwrap().contains("line 1"),
        "{body}"
    );

    let r = api
        .raw(
            "POST",
            p,
            &key,
            br#"{"name": "Sales", "stages": [{"name": "A", "probability": "high"}]}"#,
        )
        .await;
    let body = r.problem(400, "invalid_body");
    assert_eq!(body["errors"][0]["field"], "stages[0].probability");

    let r = api
        .raw(
            "POST",
            p,
            &key,
            br#"{"name": "Sales", "stages": [{"name": "A", "probability": 1, "colour": "red"}]}"#,
        )
        .await;
    let body = r.problem(400, "invalid_body");
    assert_eq!(body["errors"][0]["field"], "stages[0].colour");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`")
    );

    let r = api.raw("POST", p, &key, br#"{"stages": []}"#).await;
    let body = r.problem(400, "invalid_body");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("missing field `name`")
    );

    let r = api.raw("POST", p, &key, b"").await;
    r.problem(400, "malformed_json");

    let r = api.raw("POST", p, &key, b"[1, 2]").await;
    r.problem(400, "invalid_body");

    // A struct is never read from an array by position: `["Bob"]` once created a customer.
    let seq = api.last_seq("acme");
    for body in [&br#" ["Bob"]"#[..], b"\"Bob\"", b"null", b"42"] {
        let r = api
            .raw("POST", "/v1/tenants/acme/customers", &key, body)
            .await;
        let problem = r.problem(400, "invalid_body");
        assert!(
            problem["detail"].as_str().unwrap().contains("JSON object"),
            "{problem}"
        );
    }
    assert_eq!(api.last_seq("acme"), seq, "nothing was written");

    // Valid JSON, invalid values: 422 with every offending field.
    let r = api
        .call(
            "POST",
            p,
            Some(&key),
            Some(json!({ "name": " ", "stages": [{ "name": "A", "probability": 101 }] })),
        )
        .await;
    let body = r.problem(422, "invalid_input");
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, vec!["name", "stages[0].probability"]);

    let r = api
        .call(
            "POST",
            "/v1/tenants/acme/customers",
            Some(&key),
            Some(json!({ "email": "not-an-email", "tags": ["ok", "bad,tag"] })),
        )
        .await;
    let body = r.problem(422, "invalid_input");
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["email", "name", "tags[1]"]);
    assert_eq!(api.last_seq("acme"), before, "nothing written");
}

async fn a_body_that_is_not_json_or_too_large_is_refused(backend: Backend) {
    let api = Api::on_with_config(
        backend,
        kith::http::HttpConfig {
            json_limit: 1024,
            ..Default::default()
        },
    );
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let before = api.last_seq("acme");
    let req = Request::builder()
        .method("POST")
        .uri("/v1/tenants/acme/customers")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "text/plain")
        .body(Body::from(r#"{"name":"Ada"}"#))
        .unwrap();
    api.send(req).await.problem(415, "unsupported_media_type");
    let big = format!(r#"{{"name": "{}"}}"#, "a".repeat(4096));
    api.raw("POST", "/v1/tenants/acme/customers", &key, big.as_bytes())
        .await
        .problem(413, "payload_too_large");
    assert_eq!(api.last_seq("acme"), before);
}

async fn the_default_json_limit_is_one_mebibyte(backend: Backend) {
    let (api, key) = setup(backend).await;
    let big = format!(r#"{{"name": "{}"}}"#, "a".repeat(1024 * 1024));
    api.raw("POST", "/v1/tenants/acme/customers", &key, big.as_bytes())
        .await
        .problem(413, "payload_too_large");
}

async fn bad_query_parameters_cursors_and_paths_are_refused(backend: Backend) {
    let (api, key) = setup(backend).await;
    for i in 0..3 {
        api.customer("acme", &key, json!({ "name": format!("C{i}") }))
            .await;
    }
    let get = |path: String| {
        let key = key.clone();
        let api = &api;
        async move { api.call("GET", &path, Some(&key), None).await }
    };
    let base = "/v1/tenants/acme/customers";
    get(format!("{base}?colour=red"))
        .await
        .problem(400, "invalid_query");
    get(format!("{base}?limit=0"))
        .await
        .problem(400, "invalid_query");
    get(format!("{base}?limit=1001"))
        .await
        .problem(400, "invalid_query");
    get(format!("{base}?limit=many"))
        .await
        .problem(400, "invalid_query");
    // Filters combine, but a plugin's segment takes no sort and no score.
    get(format!(
        "{base}?segment=kith.rfm-segments/champions&score=kith.rfm"
    ))
    .await
    .problem(400, "invalid_query");
    get(format!("{base}?tag=vip&sort=colour"))
        .await
        .problem(400, "invalid_query");
    get(format!("{base}?lifecycle=royalty"))
        .await
        .problem(400, "invalid_query");
    get(format!("{base}?email=nope"))
        .await
        .problem(400, "invalid_query");
    get(format!("{base}?external_id=1"))
        .await
        .problem(400, "invalid_query");
    get(format!("{base}?organization=xyz"))
        .await
        .problem(400, "invalid_query");
    get(format!("{base}?cursor=garbage!"))
        .await
        .problem(400, "bad_cursor");
    // A cursor of another list is refused, not silently used.
    let page = get(format!("{base}?limit=1")).await.ok(200);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    get(format!("{base}?limit=1&cursor={cursor}")).await.ok(200);
    get(format!("{base}?tag=vip&cursor={cursor}"))
        .await
        .problem(400, "bad_cursor");
    get(format!("/v1/tenants/acme/pipelines?cursor={cursor}"))
        .await
        .problem(400, "bad_cursor");
    get("/v1/tenants/acme/tasks/due?until=yesterday".into())
        .await
        .problem(400, "invalid_query");
    get("/v1/tenants/acme/events?wait=forever".into())
        .await
        .problem(400, "invalid_query");
    get("/v1/tenants/acme/events?wait=10m".into())
        .await
        .problem(400, "invalid_query");
    get("/v1/tenants/acme/events?after=-1".into())
        .await
        .problem(400, "invalid_query");
    get(format!("{base}/not-a-uuid"))
        .await
        .problem(404, "not_found");
    get("/v1/tenants/NOT_A_SLUG/customers".into())
        .await
        .problem(404, "tenant_not_found");
    get("/v1/no/such/route".into())
        .await
        .problem(404, "no_route");
    api.call("PUT", base, Some(&key), None)
        .await
        .problem(405, "method_not_allowed");
}

async fn bad_if_match_and_idempotency_key_headers_are_refused_and_write_nothing(backend: Backend) {
    let (api, key) = setup(backend).await;
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let path = format!("/v1/tenants/acme/customers/{}", c["id"].as_str().unwrap());
    let before = api.last_seq("acme");
    for bad in ["3", "\"three\"", "W/3", "\"\""] {
        api.call_with(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({ "name": "Bob" })),
            &[("if-match", bad)],
        )
        .await
        .problem(400, "bad_if_match");
    }
    let long = "k".repeat(256);
    for bad in ["", long.as_str()] {
        api.call_with(
            "POST",
            "/v1/tenants/acme/customers",
            Some(&key),
            Some(json!({ "name": "Bob" })),
            &[("idempotency-key", bad)],
        )
        .await
        .problem(400, "bad_idempotency_key");
    }
    assert_eq!(api.last_seq("acme"), before);
}

on_both_backends! {
    malformed_json_wrong_types_unknown_and_missing_fields_name_the_path,
    a_body_that_is_not_json_or_too_large_is_refused,
    the_default_json_limit_is_one_mebibyte,
    bad_query_parameters_cursors_and_paths_are_refused,
    bad_if_match_and_idempotency_key_headers_are_refused_and_write_nothing,
}
