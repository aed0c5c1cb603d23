//! `GET /v1/tenants/{tenant}/deals`: deals across pipelines with combined filters, paged,
//! checked against filtering every deal by hand; and what a member's key lists.

use super::http_support::{Api, Backend, on_both_backends};
use serde_json::{Value, json};

/// Every page of `url` (which has a `?`), two deals at a time.
async fn all_pages(api: &Api, key: &str, url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match &cursor {
            Some(c) => format!("{url}&limit=2&cursor={c}"),
            None => format!("{url}&limit=2"),
        };
        let r = api.call("GET", &page, Some(key), None).await.ok(200);
        out.extend(r["items"].as_array().unwrap().iter().cloned());
        match r["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn titles(deals: &[Value]) -> Vec<String> {
    let mut t: Vec<String> = deals
        .iter()
        .map(|d| d["title"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

async fn deals_across_pipelines_match_every_filter_combined(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let team = api
        .call(
            "POST",
            "/v1/tenants/acme/teams",
            Some(&key),
            Some(json!({ "name": "Sales" })),
        )
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ann = api
        .user("acme", &key, json!({ "name": "Ann", "teams": [team] }))
        .await;
    let bob = api.user("acme", &key, json!({ "name": "Bob" })).await;
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let cid = c["id"].as_str().unwrap();
    let pipelines = [
        api.pipeline("acme", &key, "New business").await,
        api.pipeline("acme", &key, "Renewals").await,
    ];
    let owners = [Some(ann.clone()), Some(bob.clone()), None];
    for i in 0..12usize {
        let p = &pipelines[i % 2];
        let currency = if i % 3 == 0 { "USD" } else { "EUR" };
        let d = api
            .call(
                "POST",
                "/v1/tenants/acme/deals",
                Some(&key),
                Some(json!({
                    "customer": cid, "pipeline": p["id"], "title": format!("d{i:02}"),
                    "amount": { "minor": 100 * i as i64, "currency": currency },
                    "expected_close": format!("2027-0{}-15", 1 + i % 6),
                    "owner": owners[i % 3],
                })),
            )
            .await
            .ok(201);
        if i % 4 == 1 {
            // The last stage is won.
            let won = p["stages"][2]["id"].clone();
            api.call(
                "POST",
                &format!("/v1/tenants/acme/deals/{}/move", d["id"].as_str().unwrap()),
                Some(&key),
                Some(json!({ "stage": won })),
            )
            .await
            .ok(200);
        }
    }
    let every = all_pages(&api, &key, "/v1/tenants/acme/deals?").await;
    assert_eq!(every.len(), 12);
    let won_stages: Vec<Value> = pipelines
        .iter()
        .map(|p| p["stages"][2]["id"].clone())
        .collect();
    let p0_won = pipelines[0]["stages"][2]["id"].clone();
    let p0: &'static str = pipelines[0]["id"].as_str().unwrap().to_owned().leak();
    type Keep = Box<dyn Fn(&Value) -> bool>;
    let (a1, a2) = (ann.clone(), ann.clone());
    let cases: Vec<(String, Keep)> = vec![
        (
            format!("owner={ann}"),
            Box::new(move |d| d["owner"] == a1.as_str()),
        ),
        (
            format!("team={team}"),
            Box::new(move |d| d["owner"] == a2.as_str()),
        ),
        (
            format!("pipeline={p0}"),
            Box::new(move |d| d["pipeline"] == p0),
        ),
        (
            "status=won".into(),
            Box::new(move |d| won_stages.contains(&d["stage"])),
        ),
        (
            format!("status=open&pipeline={p0}&close_after=2027-02-01&close_before=2027-05-31"),
            Box::new(move |d| {
                let close = d["expected_close"].as_str().unwrap();
                d["pipeline"] == p0
                    && d["stage"] != p0_won
                    && ("2027-02-01".."2027-06-01").contains(&close)
            }),
        ),
        (
            "currency=EUR&min_amount=300&max_amount=900".into(),
            Box::new(|d| {
                let m = d["amount"]["minor"].as_i64().unwrap();
                d["amount"]["currency"] == "EUR" && (300..=900).contains(&m)
            }),
        ),
        (
            format!("owner={bob}&currency=USD"),
            Box::new(move |d| d["owner"] == bob.as_str() && d["amount"]["currency"] == "USD"),
        ),
        (
            "updated_since=2999-01-01T00:00:00Z".into(),
            Box::new(|_| false),
        ),
    ];
    for (q, keep) in &cases {
        let got = all_pages(&api, &key, &format!("/v1/tenants/acme/deals?{q}")).await;
        let want: Vec<Value> = every.iter().filter(|d| keep(d)).cloned().collect();
        assert_eq!(titles(&got), titles(&want), "{q}");
    }
    // A member's key lists their own; `me` means them; a tenant key has no `me`.
    let ann_key = api.user_key("acme", &ann).await;
    let mine = all_pages(&api, &ann_key, "/v1/tenants/acme/deals?").await;
    let by_me = all_pages(&api, &ann_key, "/v1/tenants/acme/deals?owner=me").await;
    assert_eq!(titles(&mine), ["d00", "d03", "d06", "d09"]);
    assert_eq!(titles(&by_me), titles(&mine));
    api.call("GET", "/v1/tenants/acme/deals?owner=me", Some(&key), None)
        .await
        .problem(400, "invalid_query");
    // Bad filters are 400 with the field; a cursor of another query is refused.
    for q in [
        "status=pending",
        "close_after=tomorrow",
        "min_amount=5",
        "currency=EURO",
        "owner=ann",
        "colour=red",
    ] {
        let r = api
            .call(
                "GET",
                &format!("/v1/tenants/acme/deals?{q}"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(r.status.as_u16(), 400, "{q}: {}", r.text);
    }
    let first = api
        .call("GET", "/v1/tenants/acme/deals?limit=1", Some(&key), None)
        .await
        .ok(200);
    let cursor = first["next_cursor"].as_str().unwrap();
    api.call(
        "GET",
        &format!("/v1/tenants/acme/deals?owner={ann}&cursor={cursor}"),
        Some(&key),
        None,
    )
    .await
    .problem(400, "bad_cursor");
    // An unknown team or pipeline is 404, not an empty list.
    api.call(
        "GET",
        "/v1/tenants/acme/deals?team=0190a5a0-0000-7000-8000-000000000000",
        Some(&key),
        None,
    )
    .await
    .problem(404, "not_found");
}

async fn deals_carry_typed_attributes_and_lost_reasons_from_their_pipeline(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let base = "/v1/tenants/acme";
    // A pipeline with its list of lost reasons (a duplicate is refused by position).
    let stages = json!([
        { "name": "Lead", "probability": 10 },
        { "name": "Lost", "probability": 0, "category": "lost" },
    ]);
    let r = api
        .call(
            "POST",
            &format!("{base}/pipelines"),
            Some(&key),
            Some(json!({ "name": "Sales", "stages": stages, "lost_reasons": ["Price", "PRICE"] })),
        )
        .await
        .problem(422, "invalid_input");
    assert_eq!(r["errors"][0]["field"], "lost_reasons[1]");
    let p = api
        .call(
            "POST",
            &format!("{base}/pipelines"),
            Some(&key),
            Some(json!({ "name": "Sales", "stages": stages, "lost_reasons": ["Price", "Timing"] })),
        )
        .await
        .ok(201);
    assert_eq!(p["lost_reasons"], json!(["Price", "Timing"]));
    let lead = p["stages"][0]["id"].as_str().unwrap();
    let lost = p["stages"][1]["id"].as_str().unwrap();
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let deal = api
        .call(
            "POST",
            &format!("{base}/deals"),
            Some(&key),
            Some(json!({ "customer": c["id"], "pipeline": p["id"], "title": "Engine",
                         "amount": { "minor": 5000, "currency": "EUR" },
                         "attributes": { "seats": { "number": 25 }, "signed": { "boolean": false } } })),
        )
        .await
        .ok(201);
    assert_eq!(deal["attributes"]["seats"], json!({ "number": 25.0 }));
    let url = format!("{base}/deals/{}", deal["id"].as_str().unwrap());
    // Attributes merge: set one, remove one; a bad key or value is refused and nothing changes.
    let d = api
        .call(
            "PATCH",
            &url,
            Some(&key),
            Some(json!({ "attributes": { "seats": { "number": 30 }, "signed": null } })),
        )
        .await
        .ok(200);
    assert_eq!(d["attributes"], json!({ "seats": { "number": 30.0 } }));
    let r = api
        .call(
            "PATCH",
            &url,
            Some(&key),
            Some(json!({ "attributes": { "Bad Key": { "text": "x" } } })),
        )
        .await
        .problem(422, "invalid_input");
    assert_eq!(r["errors"][0]["field"], "attributes.Bad Key");
    api.call(
        "PATCH",
        &url,
        Some(&key),
        Some(json!({ "attributes": { "seats": { "color": "red" } } })),
    )
    .await
    .problem(400, "invalid_body");
    // A reason only in a lost stage, and only one of the pipeline's.
    let r = api
        .call(
            "PATCH",
            &url,
            Some(&key),
            Some(json!({ "lost_reason": "Price" })),
        )
        .await
        .problem(422, "invalid_input");
    assert_eq!(r["errors"][0]["field"], "lost_reason");
    let r = api
        .call(
            "POST",
            &format!("{url}/move"),
            Some(&key),
            Some(json!({ "stage": lost, "lost_reason": "Budget" })),
        )
        .await
        .problem(422, "invalid_input");
    assert!(
        r["errors"][0]["expected"]
            .as_str()
            .unwrap()
            .contains("Price, Timing"),
        "{r}"
    );
    let moved = api
        .call(
            "POST",
            &format!("{url}/move"),
            Some(&key),
            Some(json!({ "stage": lost, "lost_reason": "timing" })),
        )
        .await
        .ok(200);
    assert_eq!(moved["lost_reason"], "Timing");
    let report = api
        .call(
            "GET",
            &format!("{base}/pipelines/{}/report", p["id"].as_str().unwrap()),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(
        report["lost_reasons"],
        json!([{ "reason": "Timing", "deals": 1, "amount": [{ "minor": 5000, "currency": "EUR" }] }])
    );
    // Reopening clears the reason; the event names both changes.
    let reopened = api
        .call(
            "POST",
            &format!("{url}/move"),
            Some(&key),
            Some(json!({ "stage": lead })),
        )
        .await
        .ok(200);
    assert_eq!(reopened["lost_reason"], Value::Null);
    let events = api
        .call("GET", &format!("{base}/events?limit=100"), Some(&key), None)
        .await
        .ok(200);
    let last = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["kind"].as_str(), last["changed"].clone()),
        (Some("deal-moved"), json!(["stage", "lost_reason"]))
    );
    // The pipeline's list can change; a deal keeps the reason it was lost for.
    api.call(
        "PATCH",
        &format!("{base}/pipelines/{}", p["id"].as_str().unwrap()),
        Some(&key),
        Some(json!({ "lost_reasons": ["Price"] })),
    )
    .await
    .ok(200);
    let got = api
        .call(
            "GET",
            &format!("{base}/pipelines/{}", p["id"].as_str().unwrap()),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(got["lost_reasons"], json!(["Price"]));
}

async fn deals_sort_by_amount_close_and_update_with_stable_pages(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let base = "/v1/tenants/acme";
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let p = api.pipeline("acme", &key, "Sales").await;
    let mut made = Vec::new();
    for (n, (minor, close)) in [
        (500, Some("2027-03-01")),
        (100, None),
        (500, Some("2027-01-15")),
        (900, Some("2027-03-01")),
        (100, Some("2026-12-31")),
        (300, None),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = json!({ "customer": c["id"], "pipeline": p["id"], "title": format!("D{n}"),
                               "amount": { "minor": minor, "currency": "EUR" } });
        if let Some(close) = close {
            body["expected_close"] = json!(close);
        }
        made.push(
            api.call("POST", &format!("{base}/deals"), Some(&key), Some(body))
                .await
                .ok(201),
        );
    }
    // One in another currency: left out when sorting by EUR amounts.
    api.call(
        "POST",
        &format!("{base}/deals"),
        Some(&key),
        Some(
            json!({ "customer": c["id"], "pipeline": p["id"], "title": "USD",
                     "amount": { "minor": 1, "currency": "USD" } }),
        ),
    )
    .await
    .ok(201);
    let order = |sort_key: &dyn Fn(&Value) -> (i64, String), desc: bool| {
        let mut v: Vec<&Value> = made.iter().collect();
        v.sort_by_key(|d| sort_key(d));
        if desc {
            v.reverse();
        }
        v.iter()
            .map(|d| d["title"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let id = |d: &Value| d["id"].as_str().unwrap().to_owned();
    let by_amount = |d: &Value| (d["amount"]["minor"].as_i64().unwrap(), id(d));
    let by_close = |d: &Value| {
        let days = d["expected_close"].as_str().map_or(i64::MAX, |c| {
            kith::model::Date::parse("c", c).unwrap().days() as i64
        });
        (days, id(d))
    };
    let got = |deals: Vec<Value>| {
        deals
            .iter()
            .map(|d| d["title"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        got(all_pages(
            &api,
            &key,
            &format!("{base}/deals?sort=amount&currency=EUR")
        )
        .await),
        order(&by_amount, false)
    );
    assert_eq!(
        got(all_pages(
            &api,
            &key,
            &format!("{base}/deals?sort=-amount&currency=EUR")
        )
        .await),
        order(&by_amount, true)
    );
    let close = got(all_pages(
        &api,
        &key,
        &format!("{base}/deals?sort=expected_close&currency=EUR"),
    )
    .await);
    assert_eq!(close, order(&by_close, false));
    // Updating one moves it to the end of `updated`.
    let first = &made[0];
    api.call(
        "PATCH",
        &format!("{base}/deals/{}", id(first)),
        Some(&key),
        Some(json!({ "title": "D0 renamed" })),
    )
    .await
    .ok(200);
    let updated = got(all_pages(&api, &key, &format!("{base}/deals?sort=updated")).await);
    assert_eq!(updated.last().map(String::as_str), Some("D0 renamed"));
    // Amounts need a currency; unknown sorts and foreign cursors are refused.
    let r = api
        .call(
            "GET",
            &format!("{base}/deals?sort=amount"),
            Some(&key),
            None,
        )
        .await
        .problem(422, "invalid_input");
    assert_eq!(r["errors"][0]["field"], "currency");
    let r = api
        .call("GET", &format!("{base}/deals?sort=size"), Some(&key), None)
        .await
        .problem(400, "invalid_query");
    assert_eq!(r["errors"][0]["field"], "sort");
    api.call(
        "GET",
        &format!("{base}/deals?sort=updated&cursor=bm9wZQ"),
        Some(&key),
        None,
    )
    .await
    .problem(400, "bad_cursor");
}

/// What GET returns for a deal goes back to PATCH unchanged; the read-only fields are checked.
async fn a_deal_read_is_sent_back_unchanged(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let p = api.pipeline("acme", &key, "Sales").await;
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let created = api
        .call(
            "POST",
            "/v1/tenants/acme/deals",
            Some(&key),
            Some(
                json!({ "customer": c["id"], "pipeline": p["id"], "title": "Engine",
                         "amount": { "minor": 5000, "currency": "EUR" },
                         "attributes": { "seats": { "number": 25 } } }),
            ),
        )
        .await
        .ok(201);
    let path = format!("/v1/tenants/acme/deals/{}", created["id"].as_str().unwrap());
    let read = api.call("GET", &path, Some(&key), None).await.ok(200);
    let same = api
        .call("PATCH", &path, Some(&key), Some(read.clone()))
        .await
        .ok(200);
    assert_eq!(same, read, "sent back as read: nothing changes");
    let mut edited = read.clone();
    edited["title"] = json!("Difference engine");
    let changed = api
        .call("PATCH", &path, Some(&key), Some(edited))
        .await
        .ok(200);
    assert_eq!(changed["title"], "Difference engine");
    assert_eq!(changed["version"], 2);
    api.call("PATCH", &path, Some(&key), Some(read.clone()))
        .await
        .problem(412, "version_conflict");
    for (field, value) in [
        ("stage", p["stages"][1]["id"].clone()),
        ("customer", json!("01a244d8-2d88-733e-9953-a7f3eb2a898c")),
        ("id", json!("01a244d8-2d88-733e-9953-a7f3eb2a898c")),
    ] {
        let mut bad = changed.clone();
        bad[field] = value;
        let r = api
            .call("PATCH", &path, Some(&key), Some(bad))
            .await
            .problem(422, "invalid_input");
        assert_eq!(r["errors"][0]["field"], field, "{r}");
    }
    assert_eq!(
        api.call("GET", &path, Some(&key), None).await.ok(200),
        changed
    );
}

/// A deal batch: records with an `id` change that deal (a GET's answer changes nothing), records
/// without create one; each succeeds or fails on its own, in one commit.
async fn a_deal_batch_creates_changes_or_leaves_each_record_on_its_own(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let p = api.pipeline("acme", &key, "Sales").await;
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let new = |title: &str| {
        json!({ "customer": c["id"], "pipeline": p["id"], "title": title,
                "amount": { "minor": 5000, "currency": "EUR" } })
    };
    let existing = api
        .call(
            "POST",
            "/v1/tenants/acme/deals",
            Some(&key),
            Some(new("Engine")),
        )
        .await
        .ok(201);
    let other = api
        .call(
            "POST",
            "/v1/tenants/acme/deals",
            Some(&key),
            Some(new("Loom")),
        )
        .await
        .ok(201);
    let mut renamed = existing.clone();
    renamed["title"] = json!("Difference engine");
    let mut stale = other.clone();
    stale["version"] = json!(7);
    let mut lost_customer = new("Orphan");
    lost_customer["customer"] = json!("01a244d8-2d88-733e-9953-a7f3eb2a898c");
    let seq = api.last_seq("acme");
    let answer = api
        .call(
            "POST",
            "/v1/tenants/acme/deals/batch/upsert",
            Some(&key),
            Some(json!({"records": [new("Analytical"), renamed, other.clone(), stale, lost_customer]})),
        )
        .await
        .ok(200);
    let statuses: Vec<&str> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["created", "updated", "unchanged", "failed", "failed"],
        "{answer}"
    );
    assert_eq!(
        (
            answer["created"].as_u64(),
            answer["updated"].as_u64(),
            answer["unchanged"].as_u64(),
            answer["failed"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(2))
    );
    assert_eq!(answer["results"][1]["item"]["title"], "Difference engine");
    assert_eq!(answer["results"][1]["item"]["version"], 2);
    assert_eq!(answer["results"][3]["error"]["code"], "version_conflict");
    assert_eq!(answer["results"][4]["error"]["code"], "not_found");
    // One event per written record, nothing for the others.
    assert_eq!(api.last_seq("acme"), seq + 2);
    let loom = api
        .call(
            "GET",
            &format!("/v1/tenants/acme/deals/{}", other["id"].as_str().unwrap()),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(loom, other);

    // The body's bounds: a bad record is 400 naming it, too many are 422.
    let p_missing = api
        .call(
            "POST",
            "/v1/tenants/acme/deals/batch/upsert",
            Some(&key),
            Some(json!({"records": [new("Fine"), {"customer": c["id"], "title": "No amount"}]})),
        )
        .await
        .problem(400, "invalid_body");
    assert!(
        p_missing["errors"][0]["field"]
            .as_str()
            .unwrap()
            .starts_with("records[1]"),
        "{p_missing}"
    );
    api.call(
        "POST",
        "/v1/tenants/acme/deals/batch/upsert",
        Some(&key),
        Some(json!({"records": [["Bob"]]})),
    )
    .await
    .problem(400, "invalid_body");
    let many: Vec<Value> = (0..1001).map(|i| new(&format!("d{i}"))).collect();
    api.call(
        "POST",
        "/v1/tenants/acme/deals/batch/upsert",
        Some(&key),
        Some(json!({"records": many})),
    )
    .await
    .problem(422, "invalid_input");
    let read_only = api.key("acme", true).await;
    api.call(
        "POST",
        "/v1/tenants/acme/deals/batch/upsert",
        Some(&read_only),
        Some(json!({"records": [new("x")]})),
    )
    .await
    .problem(403, "read_only_token");
    assert_eq!(
        api.last_seq("acme"),
        seq + 2,
        "refused batches wrote nothing"
    );
}

on_both_backends! {
    a_deal_batch_creates_changes_or_leaves_each_record_on_its_own,
    a_deal_read_is_sent_back_unchanged,
    deals_across_pipelines_match_every_filter_combined,
    deals_sort_by_amount_close_and_update_with_stable_pages,
    deals_carry_typed_attributes_and_lost_reasons_from_their_pipeline,
}
