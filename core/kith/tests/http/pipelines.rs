//! Pipelines, deals and interactions over HTTP: the sales story from a pipeline to its report, and
//! tasks from logging to done.

use super::http_support::{Api, Backend, on_both_backends};
use serde_json::{Value, json};

async fn setup(backend: Backend) -> (Api, String, String) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    (api, key, c["id"].as_str().unwrap().to_owned())
}

fn stage(p: &Value, i: usize) -> String {
    p["stages"][i]["id"].as_str().unwrap().to_owned()
}

async fn a_deal_moves_through_a_pipeline_and_the_report_shows_it(backend: Backend) {
    let (api, key, customer) = setup(backend).await;
    let p = api.pipeline("acme", &key, "Sales").await;
    let pid = p["id"].as_str().unwrap();
    let base = "/v1/tenants/acme";
    api.call(
        "POST",
        &format!("{base}/pipelines"),
        Some(&key),
        Some(json!({ "name": "sales", "stages": [{ "name": "A", "probability": 1 }] })),
    )
    .await
    .problem(409, "duplicate");
    let d = api
        .call(
            "POST",
            &format!("{base}/deals"),
            Some(&key),
            Some(
                json!({ "customer": customer, "pipeline": pid, "title": "Big one",
                         "amount": { "minor": 100000, "currency": "EUR" } }),
            ),
        )
        .await
        .ok(201);
    let did = d["id"].as_str().unwrap();
    assert_eq!(d["stage"].as_str().unwrap(), stage(&p, 0));
    let moved = api
        .call_with(
            "POST",
            &format!("{base}/deals/{did}/move"),
            Some(&key),
            Some(json!({ "stage": stage(&p, 1) })),
            &[("if-match", "\"1\"")],
        )
        .await
        .ok(200);
    assert_eq!(moved["version"], 2);
    api.call_with(
        "POST",
        &format!("{base}/deals/{did}/move"),
        Some(&key),
        Some(json!({ "stage": stage(&p, 2) })),
        &[("if-match", "\"1\"")],
    )
    .await
    .problem(412, "version_conflict");
    api.call(
        "POST",
        &format!("{base}/deals/{did}/move"),
        Some(&key),
        Some(json!({ "stage": customer })),
    )
    .await
    .problem(422, "invalid_input");
    let ann = api.user("acme", &key, json!({ "name": "Ann" })).await;
    let d = api
        .call_with(
            "PATCH",
            &format!("{base}/deals/{did}"),
            Some(&key),
            Some(json!({ "title": "Bigger", "owner": ann })),
            &[("if-match", "\"2\"")],
        )
        .await
        .ok(200);
    assert_eq!(
        (d["title"].as_str(), d["version"].as_u64()),
        (Some("Bigger"), Some(3))
    );

    let list = api
        .call(
            "GET",
            &format!("{base}/pipelines/{pid}/deals?stage={}", stage(&p, 1)),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let empty = api
        .call(
            "GET",
            &format!("{base}/pipelines/{pid}/deals?stage={}", stage(&p, 0)),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert!(empty["items"].as_array().unwrap().is_empty());

    let report = api
        .call(
            "GET",
            &format!("{base}/pipelines/{pid}/report"),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(report["deals"], 1);
    assert_eq!(report["stages"][1]["deals"], 1);
    assert_eq!(report["stages"][1]["amount"][0]["minor"], 100000);
    assert_eq!(report["stages"][1]["weighted_amount"][0]["minor"], 50000);
    assert_eq!(report["stages"][0]["entered"], 1);
    assert_eq!(report["stages"][0]["conversion_to_next"], 1.0);

    // Not deleted while it holds the deal.
    api.call(
        "DELETE",
        &format!("{base}/pipelines/{pid}"),
        Some(&key),
        None,
    )
    .await
    .problem(409, "pipeline_not_empty");
}

async fn pipelines_are_renamed_reordered_and_deleted_when_empty(backend: Backend) {
    let (api, key, _) = setup(backend).await;
    let p = api.pipeline("acme", &key, "Sales").await;
    let pid = p["id"].as_str().unwrap();
    let path = format!("/v1/tenants/acme/pipelines/{pid}");
    let p2 = api
        .call_with(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({ "name": "New business",
                         "stages": [{ "id": stage(&p, 0), "probability": 20 }],
                         "add_stages": [{ "name": "Lost", "probability": 0, "category": "lost" }] })),
            &[("if-match", "\"1\"")],
        )
        .await
        .ok(200);
    assert_eq!(p2["name"], "New business");
    assert_eq!(p2["stages"][0]["probability"], 20);
    assert_eq!(p2["stages"].as_array().unwrap().len(), 4);
    let order = json!({ "stages": [stage(&p2, 3), stage(&p2, 0), stage(&p2, 1), stage(&p2, 2)] });
    let r = api
        .call_with(
            "PUT",
            &format!("{path}/stage-order"),
            Some(&key),
            Some(order.clone()),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(r.header("etag"), Some("\"3\""));
    let p3 = r.ok(200);
    assert_eq!(p3["stages"][0]["name"], "Lost");
    api.call(
        "PUT",
        &format!("{path}/stage-order"),
        Some(&key),
        Some(json!({ "stages": [stage(&p2, 0)] })),
    )
    .await
    .problem(422, "invalid_input");
    let got = api.call("GET", &path, Some(&key), None).await;
    assert_eq!(got.header("etag"), Some("\"3\""));
    let list = api
        .call("GET", "/v1/tenants/acme/pipelines", Some(&key), None)
        .await
        .ok(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.call("DELETE", &path, Some(&key), None)
            .await
            .status
            .as_u16(),
        204
    );
    api.call("GET", &path, Some(&key), None)
        .await
        .problem(404, "not_found");
}

async fn interactions_are_logged_once_per_external_id_and_tasks_close(backend: Backend) {
    let (api, key, customer) = setup(backend).await;
    let base = "/v1/tenants/acme";
    let order = json!({ "customer": customer, "channel": "e-commerce", "kind": "purchase",
                        "amount": { "minor": 4200, "currency": "USD" },
                        "source": "shop", "external_id": "order-1" });
    let first = api
        .call(
            "POST",
            &format!("{base}/interactions"),
            Some(&key),
            Some(order.clone()),
        )
        .await
        .ok(201);
    let again = api
        .call(
            "POST",
            &format!("{base}/interactions"),
            Some(&key),
            Some(order),
        )
        .await
        .ok(200);
    assert_eq!(first["id"], again["id"]);

    let task = api
        .call(
            "POST",
            &format!("{base}/interactions"),
            Some(&key),
            Some(
                json!({ "customer": customer, "channel": "phone", "kind": "task",
                         "subject": "Call back", "due_at": "2024-05-01T09:00:00Z" }),
            ),
        )
        .await
        .ok(201);
    let tid = task["id"].as_str().unwrap();
    assert_eq!(task["status"], "open");
    let due = api
        .call(
            "GET",
            &format!("{base}/tasks/due?until=2024-05-02T00:00:00Z"),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(due["items"][0]["id"], tid);
    let early = api
        .call(
            "GET",
            &format!("{base}/tasks/due?until=2024-04-01"),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert!(early["items"].as_array().unwrap().is_empty());
    let done = api
        .call(
            "PATCH",
            &format!("{base}/interactions/{tid}"),
            Some(&key),
            Some(json!({ "status": "done" })),
        )
        .await
        .ok(200);
    assert_eq!(
        (done["status"].as_str(), done["version"].as_u64()),
        (Some("resolved"), Some(2)),
        "`done` is still accepted, as `resolved`"
    );
    let due = api
        .call(
            "GET",
            &format!("{base}/tasks/due?until=2024-05-02T00:00:00Z"),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert!(due["items"].as_array().unwrap().is_empty());
    // A purchase has no status; an unknown status is a body error with its path.
    let pid = first["id"].as_str().unwrap();
    api.call(
        "PATCH",
        &format!("{base}/interactions/{pid}"),
        Some(&key),
        Some(json!({ "status": "done" })),
    )
    .await
    .problem(422, "invalid_input");
    let body = api
        .call(
            "PATCH",
            &format!("{base}/interactions/{tid}"),
            Some(&key),
            Some(json!({ "status": "finished" })),
        )
        .await
        .problem(400, "invalid_body");
    assert_eq!(body["errors"][0]["field"], "status");
    let got = api
        .call(
            "GET",
            &format!("{base}/interactions/{tid}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(got.header("etag"), Some("\"2\""));
    let timeline = api
        .call(
            "GET",
            &format!("{base}/customers/{customer}/timeline?limit=1"),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(timeline["items"].as_array().unwrap().len(), 1);
    assert!(timeline["next_cursor"].is_string());
}

on_both_backends! {
    a_deal_moves_through_a_pipeline_and_the_report_shows_it,
    pipelines_are_renamed_reordered_and_deleted_when_empty,
    interactions_are_logged_once_per_external_id_and_tasks_close,
}
