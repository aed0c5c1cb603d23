//! Work items over HTTP: a team's day (a manager assigns, a member works their queue, the
//! manager reads the figures), the queue's order, filters and pages against a brute-force
//! sort, edits with `If-Match` and their old and new values in the event log, a deal's
//! timeline, and bad input.

use super::http_support::{Api, Backend, on_both_backends};
use serde_json::{Value, json};

const BASE: &str = "/v1/tenants/acme";

async fn log(api: &Api, key: &str, body: Value) -> Value {
    api.call(
        "POST",
        &format!("{BASE}/interactions"),
        Some(key),
        Some(body),
    )
    .await
    .ok(201)
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_team_s_day_in_the_work_queue(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let support = api
        .call(
            "POST",
            &format!("{BASE}/teams"),
            Some(&key),
            Some(json!({ "name": "Support", "shared": false })),
        )
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = |name: &'static str, role: &'static str| {
        let (api, key, support) = (&api, key.clone(), support.clone());
        async move {
            let id = api
                .user(
                    "acme",
                    &key,
                    json!({ "name": name, "role": role, "teams": [support] }),
                )
                .await;
            let k = api.user_key("acme", &id).await;
            (id, k)
        }
    };
    let (mia, mia_key) = user("Mia", "manager").await;
    let (ann, ann_key) = user("Ann", "member").await;
    let (bob, _) = user("Bob", "member").await;
    let c = api
        .customer("acme", &mia_key, json!({ "name": "Ada" }))
        .await;
    let cid = c["id"].as_str().unwrap();
    // The manager assigns: an overdue high ticket to Ann, an urgent one to Bob, a complaint
    // to nobody.
    let late = log(
        &api,
        &mia_key,
        json!({ "customer": cid, "channel": "email", "kind": "ticket",
                "subject": "Parcel lost", "assignee": ann, "priority": "high",
                "due_at": "2020-01-01T00:00:00Z", "category": "Delivery" }),
    )
    .await;
    assert_eq!(
        (late["status"].as_str(), late["category"].as_str()),
        (Some("open"), Some("delivery"))
    );
    let urgent = log(
        &api,
        &mia_key,
        json!({ "customer": cid, "channel": "phone", "kind": "ticket",
                "assignee": bob, "priority": "urgent", "due_at": "2099-01-01T00:00:00Z" }),
    )
    .await;
    let complaint = log(
        &api,
        &key,
        json!({ "customer": cid, "channel": "email", "kind": "complaint",
                "category": "delivery" }),
    )
    .await;
    assert_eq!(complaint["assignee"], Value::Null);
    // Ann's queue is hers alone; Bob's ticket is not even readable to her.
    let mine = api
        .call(
            "GET",
            &format!("{BASE}/work?assignee=me"),
            Some(&ann_key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(ids(&mine), [late["id"].as_str().unwrap()]);
    let everyone = api
        .call("GET", &format!("{BASE}/work"), Some(&ann_key), None)
        .await
        .ok(200);
    assert_eq!(ids(&everyone), ids(&mine), "a member reads their own work");
    let bobs = format!("{BASE}/interactions/{}", urgent["id"].as_str().unwrap());
    api.call("GET", &bobs, Some(&ann_key), None)
        .await
        .problem(404, "not_found");
    // She works it: a stale If-Match is refused, the right one goes through.
    let url = format!("{BASE}/interactions/{}", late["id"].as_str().unwrap());
    api.call_with(
        "PATCH",
        &url,
        Some(&ann_key),
        Some(json!({ "status": "in-progress" })),
        &[("if-match", "\"7\"")],
    )
    .await
    .problem(412, "version_conflict");
    let working = api
        .call_with(
            "PATCH",
            &url,
            Some(&ann_key),
            Some(json!({ "status": "in-progress", "subject": "Parcel lost in transit" })),
            &[("if-match", "\"1\"")],
        )
        .await
        .ok(200);
    assert!(working["first_answered_at"].is_string());
    assert_eq!(working["resolved_at"], Value::Null);
    // She may not hand it to Bob (a member gives work only to herself).
    api.call(
        "PATCH",
        &url,
        Some(&ann_key),
        Some(json!({ "assignee": bob })),
    )
    .await
    .problem(403, "not_permitted");
    let resolved = api
        .call(
            "PATCH",
            &url,
            Some(&ann_key),
            Some(json!({ "status": "resolved", "resolution": "Resent the parcel" })),
        )
        .await
        .ok(200);
    assert_eq!(resolved["version"], 3);
    assert!(resolved["resolved_at"].is_string());
    // The event log holds each change with its old and new value.
    let events = api
        .call("GET", &format!("{BASE}/events?limit=100"), Some(&key), None)
        .await
        .ok(200);
    let updates: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "interaction-updated")
        .collect();
    assert_eq!(updates.len(), 2, "{events}");
    let first = &updates[0]["changes"];
    assert!(
        first.as_array().unwrap().contains(&json!({
            "field": "subject", "old": "Parcel lost", "new": "Parcel lost in transit"
        })),
        "{first}"
    );
    assert!(first.as_array().unwrap().contains(&json!({
        "field": "status", "old": "open", "new": "in-progress"
    })));
    assert_eq!(
        updates[1]["changed"],
        json!(["resolution", "status", "resolved_at"])
    );
    // Ann's own event stream follows her work (on a customer she may not read), not Bob's.
    let hers = api
        .call(
            "GET",
            &format!("{BASE}/events?limit=100"),
            Some(&ann_key),
            None,
        )
        .await
        .ok(200);
    let about: Vec<&str> = hers["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["entity"]["interaction"]["id"].as_str())
        .collect();
    let late_id = late["id"].as_str().unwrap();
    assert_eq!(about, [late_id, late_id, late_id], "{hers}");
    // The manager sees the team's queue, the overdue counts and the figures.
    let team_queue = api
        .call(
            "GET",
            &format!("{BASE}/work?team={support}&status=open,in-progress,waiting,resolved"),
            Some(&mia_key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(
        ids(&team_queue),
        [late["id"].as_str().unwrap(), urgent["id"].as_str().unwrap()],
        "by due date first"
    );
    let counts = api
        .call("GET", &format!("{BASE}/work/overdue"), Some(&key), None)
        .await
        .ok(200);
    let counts = counts["counts"].as_array().unwrap().clone();
    assert!(counts.contains(&json!({ "assignee": bob, "open": 1, "overdue": 0 })));
    assert!(counts.contains(&json!({ "assignee": null, "open": 1, "overdue": 0 })));
    assert!(
        !counts.iter().any(|c| c["assignee"] == json!(ann)),
        "Ann has nothing open: {counts:?}"
    );
    let year = chrono_year();
    let report = api
        .call(
            "GET",
            &format!("{BASE}/reports/service?from={year}-01-01&to={year}-12-31&period=quarter"),
            Some(&mia_key),
            None,
        )
        .await
        .ok(200);
    let rows = report["rows"].as_array().unwrap();
    let anns: Vec<&Value> = rows.iter().filter(|r| r["group"] == json!(ann)).collect();
    assert_eq!(anns.len(), 1, "{report}");
    assert_eq!(
        (anns[0]["opened"].as_u64(), anns[0]["resolved"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(anns[0]["overdue"], 1, "resolved after its due date");
    assert_eq!(anns[0]["overdue_share"], 1.0);
    assert!(anns[0]["median_resolution_secs"].as_i64().is_some());
    assert_eq!(
        report["complaints"],
        json!([{ "category": "delivery", "period": format!("{}", rows[0]["period"].as_str().unwrap()),
                 "opened": 1, "resolved": 0, "still_open": 1 }])
    );
    // Ann's own report covers her work only.
    let hers = api
        .call(
            "GET",
            &format!("{BASE}/reports/service?from={year}-01-01&to={year}-12-31&by=all"),
            Some(&ann_key),
            None,
        )
        .await
        .ok(200);
    let opened: u64 = hers["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["opened"].as_u64().unwrap())
        .sum();
    assert_eq!(opened, 1);
    // Deactivated users receive no new work; reassigning moves Bob's open ticket.
    api.call(
        "PATCH",
        &format!("{BASE}/users/{bob}"),
        Some(&key),
        Some(json!({ "active": false })),
    )
    .await
    .ok(200);
    api.call(
        "PATCH",
        &bobs,
        Some(&key),
        Some(json!({ "assignee": bob, "priority": "low" })),
    )
    .await
    .ok(200);
    let r = api
        .call(
            "POST",
            &format!("{BASE}/users/{bob}/reassign"),
            Some(&key),
            Some(json!({ "to": mia })),
        )
        .await
        .ok(200);
    assert_eq!(r["work"], 1, "{r}");
    let moved = api.call("GET", &bobs, Some(&key), None).await.ok(200);
    assert_eq!(moved["assignee"], json!(mia));
    let r = api
        .call("PATCH", &bobs, Some(&key), Some(json!({ "assignee": bob })))
        .await
        .problem(422, "invalid_input");
    assert_eq!(r["errors"][0]["field"], "assignee", "{r}");
}

/// The current UTC year (interactions above are opened now).
fn chrono_year() -> String {
    kith::model::Timestamp::now().date().to_string()[..4].to_owned()
}

async fn the_queue_sorts_filters_and_pages_like_a_brute_force_sort(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let ann = api.user("acme", &key, json!({ "name": "Ann" })).await;
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let cid = c["id"].as_str().unwrap();
    let kinds = ["task", "ticket", "complaint"];
    let priorities = ["low", "normal", "high", "urgent"];
    let dues = [
        Some("2030-01-01T00:00:00Z"),
        None,
        Some("2021-06-01T00:00:00Z"),
        Some("2030-01-01T00:00:00Z"),
    ];
    let mut all = Vec::new();
    for n in 0..14usize {
        let mut body = json!({ "customer": cid, "channel": "email", "kind": kinds[n % 3],
                               "priority": priorities[n % 4] });
        if let Some(d) = dues[n % 4] {
            body["due_at"] = json!(d);
        }
        if n % 2 == 0 {
            body["assignee"] = json!(ann);
        }
        if n % 5 == 0 {
            body["status"] = json!("waiting");
        }
        all.push(log(&api, &key, body).await);
    }
    let rank = |p: &str| priorities.len() - 1 - priorities.iter().position(|x| *x == p).unwrap();
    let sorted = |filter: &dyn Fn(&Value) -> bool| {
        let mut v: Vec<&Value> = all.iter().filter(|i| filter(i)).collect();
        v.sort_by_key(|i| {
            (
                i["due_at"].as_str().map_or("~".to_owned(), str::to_owned),
                rank(i["priority"].as_str().unwrap()),
                i["id"].as_str().unwrap().to_owned(),
            )
        });
        v.iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let pages = |query: String| {
        let api = &api;
        let key = key.clone();
        async move {
            let mut got = Vec::new();
            let mut url = format!("{BASE}/work?limit=3{query}");
            loop {
                let page = api.call("GET", &url, Some(&key), None).await.ok(200);
                got.extend(ids(&page));
                match page["next_cursor"].as_str() {
                    Some(c) => url = format!("{BASE}/work?limit=3{query}&cursor={c}"),
                    None => return got,
                }
            }
        }
    };
    assert_eq!(pages(String::new()).await, sorted(&|_| true));
    assert_eq!(
        pages(format!("&assignee={ann}")).await,
        sorted(&|i| i["assignee"] == json!(ann))
    );
    assert_eq!(
        pages("&assignee=none".into()).await,
        sorted(&|i| i["assignee"].is_null())
    );
    assert_eq!(
        pages("&kind=complaint,task".into()).await,
        sorted(&|i| i["kind"] != "ticket")
    );
    assert_eq!(
        pages("&status=waiting".into()).await,
        sorted(&|i| i["status"] == "waiting")
    );
    assert_eq!(
        pages("&due_before=2025-01-01T00:00:00Z".into()).await,
        sorted(&|i| i["due_at"] == "2021-06-01T00:00:00Z")
    );
    // Closing one takes it out of the open queue.
    let first = sorted(&|_| true)[0].clone();
    api.call(
        "PATCH",
        &format!("{BASE}/interactions/{first}"),
        Some(&key),
        Some(json!({ "status": "closed" })),
    )
    .await
    .ok(200);
    assert_eq!(
        pages(String::new()).await,
        sorted(&|i| i["id"] != json!(first))
    );
    assert_eq!(pages("&status=closed".into()).await, [first]);
    // Bad queries are refused with the field named.
    for (query, field) in [
        ("status=finished", "status"),
        ("kind=note", "kind"),
        ("assignee=me", "assignee"),
        ("assignee=nobody-here", "assignee"),
        ("team=x&assignee=none", "team"),
        ("due_before=tomorrow", "due_before"),
        (
            "status=open,open,open,open,open,open,open,open,open,open,open",
            "status",
        ),
    ] {
        let r = api
            .call("GET", &format!("{BASE}/work?{query}"), Some(&key), None)
            .await
            .problem(400, "invalid_query");
        assert_eq!(r["errors"][0]["field"], field, "{query}: {r}");
    }
    api.call("GET", &format!("{BASE}/work?cursor=AAAA"), Some(&key), None)
        .await
        .problem(400, "bad_cursor");
    // A team's queue merges at most 50 members' queues.
    let big = api
        .call(
            "POST",
            &format!("{BASE}/teams"),
            Some(&key),
            Some(json!({ "name": "Everyone" })),
        )
        .await
        .ok(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..51 {
        api.user(
            "acme",
            &key,
            json!({ "name": format!("Member {n}"), "teams": [big] }),
        )
        .await;
    }
    let r = api
        .call("GET", &format!("{BASE}/work?team={big}"), Some(&key), None)
        .await
        .problem(422, "invalid_input");
    assert_eq!(r["errors"][0]["field"], "team");
    api.call(
        "GET",
        &format!("{BASE}/reports/service?from=2024-01-01&to=2026-12-31&period=day"),
        Some(&key),
        None,
    )
    .await
    .problem(422, "invalid_input");
}

async fn a_deal_has_a_timeline_of_its_own_activities(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let ada = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let bea = api.customer("acme", &key, json!({ "name": "Bea" })).await;
    let p = api.pipeline("acme", &key, "Sales").await;
    let deal = |c: &Value| {
        let body = json!({ "customer": c["id"], "pipeline": p["id"], "title": "Deal",
                           "amount": { "minor": 100, "currency": "EUR" } });
        let api = &api;
        let key = key.clone();
        async move {
            api.call("POST", &format!("{BASE}/deals"), Some(&key), Some(body))
                .await
                .ok(201)
        }
    };
    let d = deal(&ada).await;
    let other = deal(&bea).await;
    let call = log(
        &api,
        &key,
        json!({ "customer": ada["id"], "channel": "phone", "kind": "call", "deal": d["id"],
                "occurred_at": "2024-03-01T10:00:00Z" }),
    )
    .await;
    let task = log(
        &api,
        &key,
        json!({ "customer": ada["id"], "channel": "email", "kind": "task",
                "occurred_at": "2024-03-02T10:00:00Z" }),
    )
    .await;
    let r = api
        .call(
            "POST",
            &format!("{BASE}/interactions"),
            Some(&key),
            Some(
                json!({ "customer": ada["id"], "channel": "phone", "kind": "call",
                         "deal": other["id"] }),
            ),
        )
        .await
        .problem(422, "invalid_input");
    assert_eq!(r["errors"][0]["field"], "deal");
    let url = format!("{BASE}/deals/{}/timeline", d["id"].as_str().unwrap());
    let page = api.call("GET", &url, Some(&key), None).await.ok(200);
    assert_eq!(ids(&page), [call["id"].as_str().unwrap()]);
    // Linking the task later puts it first (newest first).
    api.call(
        "PATCH",
        &format!("{BASE}/interactions/{}", task["id"].as_str().unwrap()),
        Some(&key),
        Some(json!({ "deal": d["id"] })),
    )
    .await
    .ok(200);
    let page = api.call("GET", &url, Some(&key), None).await.ok(200);
    assert_eq!(
        ids(&page),
        [task["id"].as_str().unwrap(), call["id"].as_str().unwrap()]
    );
    // Unlinking takes it off.
    api.call(
        "PATCH",
        &format!("{BASE}/interactions/{}", call["id"].as_str().unwrap()),
        Some(&key),
        Some(json!({ "deal": null })),
    )
    .await
    .ok(200);
    let page = api.call("GET", &url, Some(&key), None).await.ok(200);
    assert_eq!(ids(&page), [task["id"].as_str().unwrap()]);
    let missing = format!("{BASE}/deals/0190a5a0-0000-7000-8000-000000000000/timeline");
    api.call("GET", &missing, Some(&key), None)
        .await
        .problem(404, "not_found");
}

async fn hostile_edits_are_refused_whole_and_write_nothing(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let note = log(
        &api,
        &key,
        json!({ "customer": c["id"], "channel": "email", "kind": "note" }),
    )
    .await;
    let task = log(
        &api,
        &key,
        json!({ "customer": c["id"], "channel": "email", "kind": "task" }),
    )
    .await;
    let url = |i: &Value| format!("{BASE}/interactions/{}", i["id"].as_str().unwrap());
    let before = api.last_seq("acme");
    for (target, body, status, code) in [
        (&note, json!({ "priority": "high" }), 422, "invalid_input"),
        (
            &task,
            json!({ "resolution": "x".repeat(10_001) }),
            422,
            "invalid_input",
        ),
        (&task, json!({ "status": "shipped" }), 400, "invalid_body"),
        (&task, json!({ "priority": "now" }), 400, "invalid_body"),
        (
            &task,
            json!({ "assignee": "usr_nobody" }),
            422,
            "invalid_input",
        ),
        (
            &task,
            json!({ "assignee": "0190a5a0-0000-7000-8000-000000000000" }),
            422,
            "invalid_input",
        ),
        (&task, json!({ "owner": "me" }), 400, "invalid_body"),
        (
            &task,
            json!({ "subject": ["not", "text"] }),
            400,
            "invalid_body",
        ),
    ] {
        let r = api
            .call("PATCH", &url(target), Some(&key), Some(body.clone()))
            .await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text);
        assert_eq!(r.json()["code"], code, "{body}: {}", r.text);
    }
    api.call_with(
        "PATCH",
        &url(&task),
        Some(&key),
        Some(json!({ "status": "closed" })),
        &[("if-match", "not-a-version")],
    )
    .await
    .problem(400, "bad_if_match");
    assert_eq!(api.last_seq("acme"), before, "nothing was written");
    let stored = api.call("GET", &url(&task), Some(&key), None).await.ok(200);
    assert_eq!(
        (stored["version"].as_u64(), stored["status"].as_str()),
        (Some(1), Some("open"))
    );
    // An edit that changes nothing writes nothing either.
    api.call(
        "PATCH",
        &url(&task),
        Some(&key),
        Some(json!({ "status": "open", "priority": "normal" })),
    )
    .await
    .ok(200);
    assert_eq!(api.last_seq("acme"), before);
}

/// What GET returns for an interaction goes back to PATCH unchanged: what it recorded is checked,
/// the work fields and subject change.
async fn an_interaction_read_is_sent_back_unchanged(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    for body in [
        json!({ "customer": c["id"], "channel": "email", "kind": "note", "direction": "inbound", "subject": "Hi" }),
        json!({ "customer": c["id"], "channel": "phone", "kind": "ticket", "direction": "inbound",
                "subject": "Broken", "priority": "high", "category": "Delivery" }),
    ] {
        let i = log(&api, &key, body).await;
        let path = format!("{BASE}/interactions/{}", i["id"].as_str().unwrap());
        let read = api.call("GET", &path, Some(&key), None).await.ok(200);
        let same = api
            .call("PATCH", &path, Some(&key), Some(read.clone()))
            .await
            .ok(200);
        assert_eq!(same, read, "sent back as read: nothing changes");
        let mut edited = read.clone();
        edited["subject"] = json!("Changed");
        let changed = api
            .call("PATCH", &path, Some(&key), Some(edited))
            .await
            .ok(200);
        assert_eq!(changed["subject"], "Changed");
        assert_eq!(changed["version"], 2);
        api.call("PATCH", &path, Some(&key), Some(read.clone()))
            .await
            .problem(412, "version_conflict");
        for (field, value) in [
            ("kind", json!("call")),
            ("occurred_at", json!("2020-01-01T00:00:00Z")),
            ("rating", json!(5)),
        ] {
            let mut bad = changed.clone();
            bad[field] = value;
            let r = api
                .call("PATCH", &path, Some(&key), Some(bad))
                .await
                .problem(422, "invalid_input");
            assert_eq!(r["errors"][0]["field"], field, "{r}");
        }
        api.call("PATCH", &path, Some(&key), Some(json!({ "colour": "red" })))
            .await
            .problem(400, "invalid_body");
        assert_eq!(
            api.call("GET", &path, Some(&key), None).await.ok(200),
            changed
        );
    }
}

on_both_backends!(
    an_interaction_read_is_sent_back_unchanged,
    a_team_s_day_in_the_work_queue,
    the_queue_sorts_filters_and_pages_like_a_brute_force_sort,
    a_deal_has_a_timeline_of_its_own_activities,
    hostile_edits_are_refused_whole_and_write_nothing,
);
