//! Authentication and scopes, walked over every route of the router: 401 without a valid token,
//! 403 for a valid token without the scope, 404 for another tenant's resources.

use super::http_support::{Api, Backend, on_both_backends};
use serde_json::json;

/// Routes without a Kith token: operations, and commerce webhooks (the plugin checks the
/// platform's signature; `tests/tests/suite/plugin_platform/http.rs` covers them).
fn is_ops(path: &str) -> bool {
    !path.starts_with("/v1/") || path == "/v1/openapi.json" || path.contains("/hooks/")
}

/// Routes any valid token may read: who it is, and the plugin catalogue tenants enable from.
fn any_token(method: &str, path: &str) -> bool {
    method == "GET" && ["/v1/whoami", "/v1/plugins", "/v1/plugins/{hash}"].contains(&path)
}

fn admin_only(method: &str, path: &str) -> bool {
    path == "/v1/tenants"
        || path.starts_with("/v1/tokens")
        || path.starts_with("/v1/admin")
        || path.starts_with("/v1/plugins")
        || (path == "/v1/tenants/{tenant}" && method != "GET")
}

fn fill(path: &str, tenant: &str, id: &str) -> String {
    path.replace("{tenant}", tenant).replace("{id}", id)
}

async fn every_route_needs_a_valid_token_in_the_right_scope(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    api.tenant("beta").await;
    let acme_rw = api.key("acme", false).await;
    let acme_ro = api.key("acme", true).await;
    let id = "0190a5a0-0000-7000-8000-000000000000";
    let forged = format!("kith_0123456789abcdef_{}", "A".repeat(43));
    let before = (api.last_seq("acme"), api.last_seq("beta"));
    for (method, path) in kith::http::route_table() {
        let method = method.as_str();
        if is_ops(path) {
            continue;
        }
        let own = fill(path, "acme", id);
        let body = Some(json!({}));
        for token in [None, Some("nonsense"), Some(forged.as_str())] {
            let r = api.call(method, &own, token, body.clone()).await;
            r.problem(401, "unauthorized");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer"),
                "{method} {path}"
            );
        }
        if any_token(method, path) {
            for key in [&acme_rw, &acme_ro] {
                let r = api.call(method, &own, Some(key), None).await;
                assert!(
                    ![401, 403].contains(&r.status.as_u16()),
                    "{method} {path}: {}",
                    r.text
                );
            }
            continue;
        }
        if admin_only(method, path) {
            for key in [&acme_rw, &acme_ro] {
                let r = api.call(method, &own, Some(key), body.clone()).await;
                r.problem(403, "admin_required");
            }
            continue;
        }
        // Another tenant's key: the tenant might as well not exist.
        let other = fill(path, "beta", id);
        let r = api.call(method, &other, Some(&acme_rw), body.clone()).await;
        r.problem(404, "tenant_not_found");
        let ghost = fill(path, "ghost", id);
        let r2 = api.call(method, &ghost, Some(&acme_rw), body.clone()).await;
        let (a, b) = (r.json(), r2.json());
        assert_eq!(
            a["detail"].as_str().map(|d| d.replace("beta", "X")),
            b["detail"].as_str().map(|d| d.replace("ghost", "X")),
            "{method} {path}: another tenant and no tenant look the same"
        );
        // A read-only key may read, never write.
        let r = api.call(method, &own, Some(&acme_ro), body.clone()).await;
        // A search is a read, whatever its method.
        if method == "GET" || path.ends_with("/customers/search") {
            assert!(
                ![401, 403].contains(&r.status.as_u16()),
                "{method} {path}: {}",
                r.text
            );
        } else {
            r.problem(403, "read_only_token");
        }
    }
    assert_eq!(
        (api.last_seq("acme"), api.last_seq("beta")),
        before,
        "nothing written"
    );
}

async fn a_tenant_key_cannot_reach_another_tenants_resources_by_id(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    api.tenant("beta").await;
    let acme = api.key("acme", false).await;
    let beta = api.key("beta", false).await;
    let c = api
        .customer("beta", &beta, json!({ "email": "ada@example.com" }))
        .await;
    let cid = c["id"].as_str().unwrap();
    let p = api.pipeline("beta", &beta, "Sales").await;
    let pid = p["id"].as_str().unwrap();
    let i = api
        .call(
            "POST",
            "/v1/tenants/beta/interactions",
            Some(&beta),
            Some(json!({ "customer": cid, "channel": "email", "kind": "note" })),
        )
        .await
        .ok(201);
    let iid = i["id"].as_str().unwrap();
    let d = api
        .call(
            "POST",
            "/v1/tenants/beta/deals",
            Some(&beta),
            Some(json!({ "customer": cid, "pipeline": pid, "title": "Deal",
                         "amount": { "minor": 100, "currency": "USD" } })),
        )
        .await
        .ok(201);
    let did = d["id"].as_str().unwrap();
    let before = api.last_seq("beta");
    // Beta's ids under acme's path: not found in acme.
    for path in [
        format!("/v1/tenants/acme/customers/{cid}"),
        format!("/v1/tenants/acme/customers/{cid}/timeline"),
        format!("/v1/tenants/acme/interactions/{iid}"),
        format!("/v1/tenants/acme/pipelines/{pid}"),
        format!("/v1/tenants/acme/pipelines/{pid}/report"),
        format!("/v1/tenants/acme/pipelines/{pid}/deals"),
        format!("/v1/tenants/acme/deals/{did}"),
    ] {
        api.call("GET", &path, Some(&acme), None)
            .await
            .problem(404, "not_found");
    }
    for (method, path, body) in [
        (
            "PATCH",
            format!("/v1/tenants/acme/customers/{cid}"),
            json!({ "name": "X" }),
        ),
        (
            "DELETE",
            format!("/v1/tenants/acme/customers/{cid}"),
            json!({}),
        ),
        (
            "PATCH",
            format!("/v1/tenants/acme/interactions/{iid}"),
            json!({ "status": "done" }),
        ),
        (
            "DELETE",
            format!("/v1/tenants/acme/pipelines/{pid}"),
            json!({}),
        ),
        (
            "PATCH",
            format!("/v1/tenants/acme/deals/{did}"),
            json!({ "title": "X" }),
        ),
    ] {
        api.call(method, &path, Some(&acme), Some(body))
            .await
            .problem(404, "not_found");
    }
    // An acme interaction cannot point at beta's customer either.
    api.call(
        "POST",
        "/v1/tenants/acme/interactions",
        Some(&acme),
        Some(json!({ "customer": cid, "channel": "email", "kind": "note" })),
    )
    .await
    .problem(404, "not_found");
    assert_eq!(api.last_seq("beta"), before);
    // And the events of beta are beta's only.
    api.call("GET", "/v1/tenants/beta/events", Some(&acme), None)
        .await
        .problem(404, "tenant_not_found");
}

async fn revoked_tokens_stop_working_and_the_operator_token_is_an_admin(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    api.call("GET", "/v1/tenants/acme/customers", Some(&key), None)
        .await
        .ok(200);
    let list = api
        .call("GET", "/v1/tokens", Some(&api.admin), None)
        .await
        .ok(200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|t| t.get("token").is_none() && t.get("hash").is_none())
    );
    let id = items.iter().find(|t| t["kind"] == "tenant").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.call(
        "DELETE",
        &format!("/v1/tokens/{id}"),
        Some(&api.admin),
        None,
    )
    .await
    .ok(200);
    api.call("GET", "/v1/tenants/acme/customers", Some(&key), None)
        .await
        .problem(401, "unauthorized");
    api.call(
        "DELETE",
        &format!("/v1/tokens/{id}"),
        Some(&api.admin),
        None,
    )
    .await
    .problem(404, "not_found");

    let operator = "op-secret-0123456789abcdef0123456789abcdef";
    let config = kith::http::HttpConfig {
        env_admin: Some(kith::service::tokens::check_operator_token(operator).unwrap()),
        ..Default::default()
    };
    let api = Api::on_with_config(backend, config);
    api.call("GET", "/v1/tenants", Some(operator), None)
        .await
        .ok(200);
    api.call(
        "GET",
        "/v1/tenants",
        Some("op-secret-0123456789abcdef0123456789abcdeX"),
        None,
    )
    .await
    .problem(401, "unauthorized");
}

async fn token_creation_validates_its_scope(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let post = |body| api.call("POST", "/v1/tokens", Some(&api.admin), Some(body));
    post(json!({ "kind": "tenant" }))
        .await
        .problem(400, "invalid_body");
    post(json!({ "kind": "admin", "tenant": "acme" }))
        .await
        .problem(400, "invalid_body");
    post(json!({ "kind": "admin", "read_only": true }))
        .await
        .problem(422, "invalid_input");
    post(json!({ "kind": "tenant", "tenant": "ghost" }))
        .await
        .problem(404, "tenant_not_found");
    post(json!({ "kind": "root" }))
        .await
        .problem(400, "invalid_body");
    let r = post(json!({ "kind": "admin", "name": "ci" })).await;
    let t = r.ok(201);
    assert!(t["token"].as_str().unwrap().starts_with("kith_"));
    // An idempotent replay returns the token without its secret.
    let again = api
        .call_with(
            "POST",
            "/v1/tokens",
            Some(&api.admin),
            Some(json!({ "kind": "tenant", "tenant": "acme" })),
            &[("idempotency-key", "k1")],
        )
        .await
        .ok(201);
    let replay = api
        .call_with(
            "POST",
            "/v1/tokens",
            Some(&api.admin),
            Some(json!({ "kind": "tenant", "tenant": "acme" })),
            &[("idempotency-key", "k1")],
        )
        .await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let replay = replay.ok(201);
    assert_eq!(replay["id"], again["id"]);
    assert!(replay.get("token").is_none());
}

on_both_backends! {
    every_route_needs_a_valid_token_in_the_right_scope,
    a_tenant_key_cannot_reach_another_tenants_resources_by_id,
    revoked_tokens_stop_working_and_the_operator_token_is_an_admin,
    token_creation_validates_its_scope,
}
