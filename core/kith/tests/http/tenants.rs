//! Tenants over HTTP: create (idempotent), list, get, update, and delete with all their data so
//! that nothing of it leaks into a tenant created later with the same slug.

use super::http_support::{Api, Backend, on_both_backends};
use serde_json::json;

async fn tenants_are_created_listed_read_updated_and_conflicts_are_409(backend: Backend) {
    let api = Api::on(backend);
    let admin = api.admin.clone();
    let r = api
        .call_with(
            "POST",
            "/v1/tenants",
            Some(&admin),
            Some(json!({ "slug": "acme", "industry": "retail" })),
            &[("idempotency-key", "t1")],
        )
        .await;
    assert_eq!(r.header("location"), Some("/v1/tenants/acme"));
    let t = r.ok(201);
    assert_eq!(t["name"], "acme");
    let again = api
        .call_with(
            "POST",
            "/v1/tenants",
            Some(&admin),
            Some(json!({ "slug": "acme", "industry": "retail" })),
            &[("idempotency-key", "t1")],
        )
        .await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.ok(201), t);
    api.call(
        "POST",
        "/v1/tenants",
        Some(&admin),
        Some(json!({ "slug": "acme" })),
    )
    .await
    .problem(409, "tenant_exists");
    let r = api
        .call(
            "POST",
            "/v1/tenants",
            Some(&admin),
            Some(json!({ "slug": "Bad Slug!" })),
        )
        .await;
    let body = r.problem(422, "invalid_input");
    assert_eq!(body["errors"][0]["field"], "slug");
    for s in ["beta", "gamma"] {
        api.tenant(s).await;
    }
    let page = api
        .call("GET", "/v1/tenants?limit=2", Some(&admin), None)
        .await
        .ok(200);
    let slugs: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].clone())
        .collect();
    assert_eq!(slugs, vec!["acme", "beta"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let page = api
        .call(
            "GET",
            &format!("/v1/tenants?limit=2&cursor={cursor}"),
            Some(&admin),
            None,
        )
        .await
        .ok(200);
    assert_eq!(page["items"][0]["slug"], "gamma");
    assert_eq!(page["next_cursor"], serde_json::Value::Null);

    let t = api
        .call(
            "PATCH",
            "/v1/tenants/acme",
            Some(&admin),
            Some(json!({ "name": "Acme Inc", "industry": null })),
        )
        .await
        .ok(200);
    assert_eq!(
        (t["name"].as_str(), t["industry"].is_null()),
        (Some("Acme Inc"), true)
    );
    let key = api.key("acme", true).await;
    assert_eq!(
        api.call("GET", "/v1/tenants/acme", Some(&key), None)
            .await
            .ok(200)["name"],
        "Acme Inc"
    );
    api.call(
        "PATCH",
        "/v1/tenants/ghost",
        Some(&admin),
        Some(json!({ "name": "X" })),
    )
    .await
    .problem(404, "tenant_not_found");
}

async fn a_deleted_tenant_leaves_nothing_behind_for_its_successor_or_its_old_keys(
    backend: Backend,
) {
    let api = Api::on(backend);
    let admin = api.admin.clone();
    api.tenant("acme").await;
    api.tenant("beta").await;
    let old_key = api.key("acme", false).await;
    let beta_key = api.key("beta", false).await;
    let c = api
        .customer("acme", &old_key, json!({ "email": "ada@example.com" }))
        .await;
    api.pipeline("acme", &old_key, "Sales").await;
    api.customer("beta", &beta_key, json!({ "email": "ada@example.com" }))
        .await;
    let beta_before = api
        .call("GET", "/v1/tenants/beta/events", Some(&beta_key), None)
        .await
        .ok(200);

    let r = api
        .call("DELETE", "/v1/tenants/acme", Some(&admin), None)
        .await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    api.call("GET", "/v1/tenants/acme", Some(&admin), None)
        .await
        .problem(404, "tenant_not_found");
    api.call("GET", "/v1/tenants/acme/customers", Some(&old_key), None)
        .await
        .problem(401, "unauthorized");

    api.tenant("acme").await;
    let new_key = api.key("acme", false).await;
    api.call("GET", "/v1/tenants/acme/customers", Some(&old_key), None)
        .await
        .problem(401, "unauthorized");
    let list = api
        .call("GET", "/v1/tenants/acme/customers", Some(&new_key), None)
        .await
        .ok(200);
    assert!(list["items"].as_array().unwrap().is_empty());
    api.call(
        "GET",
        &format!("/v1/tenants/acme/customers/{}", c["id"].as_str().unwrap()),
        Some(&new_key),
        None,
    )
    .await
    .problem(404, "not_found");
    let pipelines = api
        .call("GET", "/v1/tenants/acme/pipelines", Some(&new_key), None)
        .await
        .ok(200);
    assert!(pipelines["items"].as_array().unwrap().is_empty());
    let events = api
        .call("GET", "/v1/tenants/acme/events", Some(&new_key), None)
        .await
        .ok(200);
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
    assert_eq!(events["items"][0]["kind"], "tenant-created");
    // The neighbour is untouched.
    let beta_after = api
        .call("GET", "/v1/tenants/beta/events", Some(&beta_key), None)
        .await
        .ok(200);
    assert_eq!(beta_after, beta_before);
    api.customer("acme", &new_key, json!({ "email": "ada@example.com" }))
        .await;
    assert!(
        kith::store::Store::check(api.store.as_ref())
            .unwrap()
            .is_empty()
    );
}

/// A running tenant exports as JSON Lines, streamed: the tenant, each customer with their
/// interactions, each pipeline with its deals, and an `end` record with the counts. Another
/// tenant's data never appears; only a key for the whole tenant may export.
async fn a_tenant_exports_as_json_lines_ending_with_its_counts(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    api.tenant("beta").await;
    let key = api.key("acme", false).await;
    let beta = api.key("beta", false).await;
    let mut customers = Vec::new();
    for i in 0..3 {
        let c = api
            .customer(
                "acme",
                &key,
                json!({ "email": format!("c{i}@example.com") }),
            )
            .await;
        for n in 0..=i {
            api.call(
                "POST",
                "/v1/tenants/acme/interactions",
                Some(&key),
                Some(json!({ "customer": c["id"], "channel": "email", "kind": "email", "subject": format!("s{i}-{n}") })),
            )
            .await
            .ok(201);
        }
        customers.push(c);
    }
    let p = api.pipeline("acme", &key, "Sales").await;
    api.call(
        "POST",
        "/v1/tenants/acme/deals",
        Some(&key),
        Some(json!({ "customer": customers[0]["id"], "pipeline": p["id"], "title": "Big one", "amount": { "minor": 5000, "currency": "EUR" } })),
    )
    .await
    .ok(201);
    api.customer("beta", &beta, json!({ "email": "secret@beta.example" }))
        .await;
    api.call(
        "PUT",
        "/v1/tenants/acme/fields/customer/tier",
        Some(&key),
        Some(json!({ "label": "Tier", "type": "text" })),
    )
    .await
    .ok(201);

    let r = api
        .call("GET", "/v1/tenants/acme/export", Some(&key), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"acme.jsonl\"")
    );
    let records: Vec<serde_json::Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let types: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "tenant",
            "field",
            "customer",
            "interaction",
            "customer",
            "interaction",
            "interaction",
            "customer",
            "interaction",
            "interaction",
            "interaction",
            "pipeline",
            "deal",
            "end"
        ]
    );
    assert_eq!(records[0]["slug"], "acme");
    assert_eq!(records[1]["field"]["key"], "tier");
    assert_eq!(records[1]["field"]["type"], "text");
    assert_eq!(
        records.last().unwrap(),
        &json!({ "type": "end", "customers": 3, "interactions": 6, "pipelines": 1, "deals": 1, "fields": 1 })
    );
    assert!(!r.text.contains("beta.example"), "another tenant's data");
    // The same again: nothing was left running.
    let again = api
        .call("GET", "/v1/tenants/acme/export", Some(&key), None)
        .await;
    assert_eq!(again.text, r.text);

    // Who may not.
    let reader = api.key("acme", true).await;
    assert_eq!(
        api.call("GET", "/v1/tenants/acme/export", Some(&reader), None)
            .await
            .status,
        200,
        "a read-only key reads everything anyway"
    );
    api.call("GET", "/v1/tenants/acme/export", Some(&beta), None)
        .await
        .problem(404, "tenant_not_found");
    api.call("GET", "/v1/tenants/acme/export", None, None)
        .await
        .problem(401, "unauthorized");
    let admin = api.admin.clone();
    api.call("GET", "/v1/tenants/nobody/export", Some(&admin), None)
        .await
        .problem(404, "tenant_not_found");
}

/// What a GET of a tenant, pipeline, user or team returns goes back to its PATCH unchanged
/// (nothing changes, not even the version), edited in place (the edit applies), with another
/// id (422 naming it) or an old version (412).
async fn every_read_goes_back_to_its_patch_unchanged(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let admin = api.admin.clone();
    let pipeline = api.pipeline("acme", &key, "Sales").await;
    let team = api
        .call(
            "POST",
            "/v1/tenants/acme/teams",
            Some(&key),
            Some(json!({ "name": "North", "shared": true })),
        )
        .await
        .ok(201);
    let user = api
        .user(
            "acme",
            &key,
            json!({ "name": "Ann", "email": "ann@acme.example", "role": "manager", "teams": [team["id"]] }),
        )
        .await;
    let cases = [
        (
            "/v1/tenants/acme".to_owned(),
            admin.clone(),
            "name",
            "slug",
            json!("another"),
        ),
        (
            format!(
                "/v1/tenants/acme/pipelines/{}",
                pipeline["id"].as_str().unwrap()
            ),
            key.clone(),
            "name",
            "id",
            json!("01890000-0000-7000-8000-000000000000"),
        ),
        (
            format!("/v1/tenants/acme/users/{user}"),
            key.clone(),
            "name",
            "id",
            json!("01890000-0000-7000-8000-000000000000"),
        ),
        (
            format!("/v1/tenants/acme/teams/{}", team["id"].as_str().unwrap()),
            key.clone(),
            "name",
            "id",
            json!("01890000-0000-7000-8000-000000000000"),
        ),
    ];
    for (path, token, field, id_field, other_id) in cases {
        let read = api.call("GET", &path, Some(&token), None).await.ok(200);
        let same = api
            .call("PATCH", &path, Some(&token), Some(read.clone()))
            .await
            .ok(200);
        assert_eq!(same, read, "{path}: sent back as read, nothing changes");
        let mut edited = read.clone();
        edited[field] = json!("Renamed");
        let changed = api
            .call("PATCH", &path, Some(&token), Some(edited))
            .await
            .ok(200);
        assert_eq!(changed[field], "Renamed", "{path}");
        let mut wrong = changed.clone();
        wrong[id_field] = other_id;
        let problem = api
            .call("PATCH", &path, Some(&token), Some(wrong))
            .await
            .problem(422, "invalid_input");
        assert_eq!(problem["errors"][0]["field"], id_field, "{path}");
        if read.get("version").is_some() {
            // The read's version is old now: the change is refused.
            let mut stale = read.clone();
            stale[field] = json!("Stale");
            api.call("PATCH", &path, Some(&token), Some(stale))
                .await
                .problem(412, "version_conflict");
        }
    }
}

on_both_backends! {
    every_read_goes_back_to_its_patch_unchanged,
    a_tenant_exports_as_json_lines_ending_with_its_counts,
    tenants_are_created_listed_read_updated_and_conflicts_are_409,
    a_deleted_tenant_leaves_nothing_behind_for_its_successor_or_its_old_keys,
}
