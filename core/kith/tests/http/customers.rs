//! Customers over HTTP: create with idempotency, ETag and If-Match, search by every filter,
//! erasure, merge.

use super::http_support::{Api, Backend, on_both_backends};
use serde_json::json;

async fn setup(backend: Backend) -> (Api, String) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    (api, key)
}

async fn create_get_and_update_with_if_match_and_a_stale_etag_is_412(backend: Backend) {
    let (api, key) = setup(backend).await;
    let r = api
        .call(
            "POST",
            "/v1/tenants/acme/customers",
            Some(&key),
            Some(json!({ "first_name": "Ada", "email": "ada@EXAMPLE.com", "city": "London" })),
        )
        .await;
    assert_eq!(r.header("etag"), Some("\"1\""));
    let c = r.ok(201);
    let id = c["id"].as_str().unwrap();
    let path = format!("/v1/tenants/acme/customers/{id}");
    assert_eq!(r.header("location"), Some(path.as_str()));
    assert_eq!(c["email"], "ada@example.com");

    let got = api.call("GET", &path, Some(&key), None).await;
    assert_eq!(got.header("etag"), Some("\"1\""));
    assert_eq!(got.ok(200), c);

    let r = api
        .call_with(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({ "last_name": "Lovelace", "city": null })),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.header("etag"), Some("\"2\""));
    let c2 = r.ok(200);
    assert_eq!(c2["name"], "Ada Lovelace");
    assert_eq!(
        c2["location"]["city"],
        serde_json::Value::Null,
        "null clears a field"
    );

    let ann = api.user("acme", &key, json!({ "name": "Ann" })).await;
    let ben = api.user("acme", &key, json!({ "name": "Ben" })).await;
    let seq = api.last_seq("acme");
    let r = api
        .call_with(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({ "owner": ann })),
            &[("if-match", "\"1\"")],
        )
        .await;
    let body = r.problem(412, "version_conflict");
    assert!(body["detail"].as_str().unwrap().contains("version 2"));
    assert_eq!(api.last_seq("acme"), seq, "a stale update writes nothing");
    // Weak and wildcard tags are accepted.
    api.call_with(
        "PATCH",
        &path,
        Some(&key),
        Some(json!({ "owner": ann })),
        &[("if-match", "W/\"2\"")],
    )
    .await
    .ok(200);
    api.call_with(
        "PATCH",
        &path,
        Some(&key),
        Some(json!({ "owner": ben })),
        &[("if-match", "*")],
    )
    .await
    .ok(200);
    // Without If-Match the change applies to the current version.
    let c = api
        .call(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({ "add_tags": ["vip"] })),
        )
        .await
        .ok(200);
    assert_eq!(c["version"], 5);
    // A duplicate email is a 409 naming the holder.
    let other = api
        .customer("acme", &key, json!({ "email": "bob@example.com" }))
        .await;
    let r = api
        .call(
            "PATCH",
            &format!(
                "/v1/tenants/acme/customers/{}",
                other["id"].as_str().unwrap()
            ),
            Some(&key),
            Some(json!({ "email": "ada@example.com" })),
        )
        .await;
    let body = r.problem(409, "duplicate");
    assert!(body["detail"].as_str().unwrap().contains(id));
}

async fn a_retried_create_with_the_same_idempotency_key_writes_nothing_new(backend: Backend) {
    let (api, key) = setup(backend).await;
    let body = json!({ "email": "ada@example.com" });
    let send = |body: serde_json::Value, k: &'static str| {
        let key = key.clone();
        let api = &api;
        async move {
            api.call_with(
                "POST",
                "/v1/tenants/acme/customers",
                Some(&key),
                Some(body),
                &[("idempotency-key", k)],
            )
            .await
        }
    };
    let first = send(body.clone(), "req-1").await;
    assert_eq!(first.header("idempotent-replayed"), None);
    let first_body = first.ok(201);
    let seq = api.last_seq("acme");
    let again = send(body.clone(), "req-1").await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.ok(201), first_body);
    assert_eq!(api.last_seq("acme"), seq, "the replay wrote nothing");
    send(json!({ "email": "bob@example.com" }), "req-1")
        .await
        .problem(422, "idempotency_key_reused");
    // Without a key, the same body is a second request: a duplicate.
    api.call("POST", "/v1/tenants/acme/customers", Some(&key), Some(body))
        .await
        .problem(409, "duplicate");
    assert_eq!(api.last_seq("acme"), seq);
    let list = api
        .call("GET", "/v1/tenants/acme/customers", Some(&key), None)
        .await
        .ok(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

async fn search_by_every_filter_and_page_through_the_results(backend: Backend) {
    let (api, key) = setup(backend).await;
    let org = api
        .customer(
            "acme",
            &key,
            json!({ "kind": "organization", "name": "Acme Ltd" }),
        )
        .await;
    let org_id = org["id"].as_str().unwrap();
    let ann = api.user("acme", &key, json!({ "name": "Ann" })).await;
    let ada = api
        .customer(
            "acme",
            &key,
            json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                    "phone": "+44 20 7946 0000", "tags": ["vip"], "owner": ann,
                    "lifecycle": "customer", "organization": org_id,
                    "external_ids": [{ "source": "shop", "id": "42" }] }),
        )
        .await;
    for i in 0..4 {
        api.customer(
            "acme",
            &key,
            json!({ "name": format!("Adam {i}"), "email": format!("adam{i}@example.org") }),
        )
        .await;
    }
    let ids = |q: &str| {
        let key = key.clone();
        let api = &api;
        let q = q.to_owned();
        async move {
            let r = api
                .call(
                    "GET",
                    &format!("/v1/tenants/acme/customers?{q}"),
                    Some(&key),
                    None,
                )
                .await
                .ok(200);
            r["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    for q in [
        "email=ada@Example.COM",
        "phone=%2B442079460000",
        "external_source=shop&external_id=42",
        "tag=VIP",
        "lifecycle=customer",
        &format!("owner={ann}"),
        &format!("organization={org_id}"),
        "name_prefix=ada%20l",
        "email_prefix=ada@",
    ] {
        assert_eq!(ids(q).await, vec![ada_id.clone()], "{q}");
    }
    assert!(ids("email=nobody@example.com").await.is_empty());
    assert_eq!(ids("name_prefix=adam").await.len(), 4);
    // Paging: 6 customers, 4 per page.
    let mut seen = Vec::new();
    let mut url = "/v1/tenants/acme/customers?limit=4".to_owned();
    loop {
        let page = api.call("GET", &url, Some(&key), None).await.ok(200);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/v1/tenants/acme/customers?limit=4&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
}

async fn erasure_removes_the_customer_and_their_history(backend: Backend) {
    let (api, key) = setup(backend).await;
    let c = api
        .customer("acme", &key, json!({ "email": "ada@example.com" }))
        .await;
    let id = c["id"].as_str().unwrap();
    api.call(
        "POST",
        "/v1/tenants/acme/interactions",
        Some(&key),
        Some(json!({ "customer": id, "channel": "email", "kind": "note", "body": "secret" })),
    )
    .await
    .ok(201);
    let path = format!("/v1/tenants/acme/customers/{id}");
    let r = api.call("DELETE", &path, Some(&key), None).await;
    assert_eq!(r.status.as_u16(), 204);
    api.call("GET", &path, Some(&key), None)
        .await
        .problem(404, "not_found");
    api.call("GET", &format!("{path}/timeline"), Some(&key), None)
        .await
        .problem(404, "not_found");
    api.call("DELETE", &path, Some(&key), None)
        .await
        .problem(404, "not_found");
    let events = api
        .call("GET", "/v1/tenants/acme/events", Some(&key), None)
        .await
        .ok(200);
    let last = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "customer-erased");
    assert!(!events.to_string().contains("secret"));
}

async fn merge_keeps_both_histories_under_the_survivor_with_one_event(backend: Backend) {
    let (api, key) = setup(backend).await;
    let a = api
        .customer(
            "acme",
            &key,
            json!({ "first_name": "Ada", "email": "ada@example.com", "tags": ["vip"] }),
        )
        .await;
    let b = api
        .customer("acme", &key, json!({ "last_name": "Lovelace", "email": "ada@work.example", "phone": "+1 212 555 0100" }))
        .await;
    let (aid, bid) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    for (who, subject) in [(aid, "one"), (bid, "two")] {
        api.call(
            "POST",
            "/v1/tenants/acme/interactions",
            Some(&key),
            Some(
                json!({ "customer": who, "channel": "email", "kind": "email", "subject": subject }),
            ),
        )
        .await
        .ok(201);
    }
    let path = format!("/v1/tenants/acme/customers/{aid}/merge");
    let seq = api.last_seq("acme");
    api.call_with(
        "POST",
        &path,
        Some(&key),
        Some(json!({ "duplicate": bid })),
        &[("if-match", "\"7\"")],
    )
    .await
    .problem(412, "version_conflict");
    api.call("POST", &path, Some(&key), Some(json!({ "duplicate": aid })))
        .await
        .problem(422, "invalid_input");
    assert_eq!(api.last_seq("acme"), seq);
    let r = api
        .call_with(
            "POST",
            &path,
            Some(&key),
            Some(json!({ "duplicate": bid })),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(r.header("etag"), Some("\"2\""));
    let m = r.ok(200);
    assert_eq!(m["name"], "Ada");
    assert_eq!(m["last_name"], "Lovelace");
    assert_eq!(m["phone"], "+12125550100");
    assert_eq!(m["attributes"]["merged_email"]["text"], "ada@work.example");
    api.call(
        "GET",
        &format!("/v1/tenants/acme/customers/{bid}"),
        Some(&key),
        None,
    )
    .await
    .problem(404, "not_found");
    let timeline = api
        .call(
            "GET",
            &format!("/v1/tenants/acme/customers/{aid}/timeline"),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    let subjects: Vec<_> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects.len(), 2);
    assert!(subjects.contains(&"one") && subjects.contains(&"two"));
    let events = api
        .call(
            "GET",
            &format!("/v1/tenants/acme/events?after={seq}"),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "customers-merged");
    assert_eq!(items[0]["entity"]["merged"]["duplicate"], bid);
}

/// What GET returns goes back to PATCH (and POST) unchanged: one shape in and out.
async fn a_customer_read_is_sent_back_unchanged(backend: Backend) {
    let (api, key) = setup(backend).await;
    let created = api
        .customer(
            "acme",
            &key,
            json!({
                "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
                "phone": "+44 20 7946 0000", "tags": ["vip", "b2b"], "lifecycle": "customer",
                "location": { "country": "GB", "city": "London" },
                "demographics": { "birth_date": "1815-12-10" },
                "external_ids": [{ "source": "shopify", "id": "1001" }],
                "attributes": { "tier": { "text": "gold" } },
                "marketing_consent": true,
            }),
        )
        .await;
    assert_eq!(created["location"]["city"], "London");
    assert_eq!(created["demographics"]["birth_date"], "1815-12-10");
    let path = format!(
        "/v1/tenants/acme/customers/{}",
        created["id"].as_str().unwrap()
    );
    let read = api.call("GET", &path, Some(&key), None).await.ok(200);
    // Sent back as read: accepted, nothing changes (not even the version).
    let same = api
        .call("PATCH", &path, Some(&key), Some(read.clone()))
        .await
        .ok(200);
    assert_eq!(same, read);
    // Edited in place: the nested objects and whole lists are the fields.
    let mut edited = read.clone();
    edited["location"]["city"] = json!("Cambridge");
    edited["demographics"]["gender"] = json!("female");
    edited["tags"] = json!(["vip"]);
    edited["attributes"] = json!({ "tier": { "text": "platinum" } });
    let changed = api
        .call("PATCH", &path, Some(&key), Some(edited))
        .await
        .ok(200);
    assert_eq!(changed["location"]["city"], "Cambridge");
    assert_eq!(changed["location"]["country"], "GB");
    assert_eq!(changed["demographics"]["gender"], "female");
    assert_eq!(changed["tags"], json!(["vip"]));
    assert_eq!(changed["attributes"]["tier"]["text"], "platinum");
    assert_eq!(changed["version"], 2);
    // The read-only fields are checked: a stale version is a conflict, like If-Match.
    api.call("PATCH", &path, Some(&key), Some(read.clone()))
        .await
        .problem(412, "version_conflict");
    let mut other = changed.clone();
    other["id"] = json!("01a244d8-2d88-733e-9953-a7f3eb2a898c");
    api.call("PATCH", &path, Some(&key), Some(other))
        .await
        .problem(422, "invalid_input");
    let mut kind = changed.clone();
    kind["kind"] = json!("organization");
    let r = api.call("PATCH", &path, Some(&key), Some(kind)).await;
    r.problem(422, "invalid_input");
    assert!(r.text.contains("cannot change"), "{}", r.text);
    // A whole list and its add/remove form together disagree.
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({ "tags": ["a"], "add_tags": ["b"] })),
        )
        .await;
    r.problem(422, "invalid_input");
    let r = api
        .call(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({ "city": "Oxford", "location": { "city": "Bath" } })),
        )
        .await;
    r.problem(422, "invalid_input");
    assert!(r.text.contains("location.city"), "{}", r.text);
    assert_eq!(
        api.call("GET", &path, Some(&key), None).await.ok(200),
        changed,
        "nothing written"
    );
    // And a read creates its copy (read-only fields ignored) once the original is gone.
    api.call("DELETE", &path, Some(&key), None).await.ok(204);
    let copy = api.customer("acme", &key, changed.clone()).await;
    assert_ne!(copy["id"], changed["id"]);
    assert_eq!(copy["version"], 1);
    for field in [
        "name",
        "email",
        "phone",
        "location",
        "demographics",
        "tags",
        "attributes",
        "external_ids",
        "lifecycle",
        "marketing_consent",
    ] {
        assert_eq!(copy[field], changed[field], "{field}");
    }
}

async fn events(api: &Api, key: &str) -> usize {
    let r = api
        .call(
            "GET",
            "/v1/tenants/acme/events?after=0&limit=1000",
            Some(key),
            None,
        )
        .await
        .ok(200);
    r["items"].as_array().unwrap().len()
}

/// A batch upsert: each record matched by id, external id, email or phone, created or changed
/// on its own (a bad record fails alone), all in one request.
async fn a_batch_upsert_creates_changes_or_leaves_each_record_on_its_own(backend: Backend) {
    let (api, key) = setup(backend).await;
    let ada = api
        .customer(
            "acme",
            &key,
            json!({ "name": "Ada", "email": "ada@example.com" }),
        )
        .await;
    let url = "/v1/tenants/acme/customers/batch/upsert";
    let before = events(&api, &key).await;
    let batch = json!({ "records": [
        { "email": "ada@example.com", "lifecycle": "customer" },
        { "external_ids": [{ "source": "shopify", "id": "7" }], "name": "Bob" },
        { "email": "ada@example.com", "lifecycle": "customer" },
        { "email": "not-an-email", "name": "Eve" },
        { "phone": "+44 20 7946 0000", "name": "Carol" },
        { "id": "01a244d8-2d88-733e-9953-a7f3eb2a898c", "name": "Nobody" },
    ]});
    let r = api
        .call("POST", url, Some(&key), Some(batch.clone()))
        .await
        .ok(200);
    let status: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        status,
        [
            "updated",
            "created",
            "unchanged",
            "failed",
            "created",
            "failed"
        ],
        "{r}"
    );
    assert_eq!(
        (
            r["created"].as_u64(),
            r["updated"].as_u64(),
            r["unchanged"].as_u64(),
            r["failed"].as_u64()
        ),
        (Some(2), Some(1), Some(1), Some(2))
    );
    assert_eq!(r["results"][0]["item"]["id"], ada["id"]);
    assert_eq!(r["results"][0]["item"]["lifecycle"], "customer");
    assert_eq!(r["results"][3]["error"]["code"], "invalid_input");
    assert_eq!(r["results"][3]["error"]["errors"][0]["field"], "email");
    assert_eq!(r["results"][5]["error"]["code"], "not_found");
    // Only what succeeded was written: one event per change (Ada changed, Bob and Carol created).
    assert_eq!(events(&api, &key).await, before + 3);
    let bob = api
        .call(
            "GET",
            "/v1/tenants/acme/customers?external_source=shopify&external_id=7",
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(bob["items"][0]["name"], "Bob");
    // The same batch again changes nothing: the good records match what they created.
    let again = api.call("POST", url, Some(&key), Some(batch)).await.ok(200);
    assert_eq!(
        (
            again["created"].as_u64(),
            again["unchanged"].as_u64(),
            again["failed"].as_u64()
        ),
        (Some(0), Some(4), Some(2)),
        "{again}"
    );
    assert_eq!(events(&api, &key).await, before + 3);
    // More than 1,000 records is refused whole; a read-only key may not write.
    let many: Vec<_> = (0..1001)
        .map(|i| json!({ "name": format!("c{i}") }))
        .collect();
    let r = api
        .call("POST", url, Some(&key), Some(json!({ "records": many })))
        .await;
    r.problem(422, "invalid_input");
    assert!(r.text.contains("at most 1000"), "{}", r.text);
    let read_only = api.key("acme", true).await;
    api.call(
        "POST",
        url,
        Some(&read_only),
        Some(json!({ "records": [] })),
    )
    .await
    .problem(403, "read_only_token");
    assert_eq!(events(&api, &key).await, before + 3);
}

/// Filters combine (AND): every combination answers exactly what a brute-force filter of all
/// customers gives, in the order asked for, paged with a cursor.
async fn combined_filters_answer_what_a_brute_force_filter_gives(backend: Backend) {
    let (api, key) = setup(backend).await;
    let ann = api.user("acme", &key, json!({ "name": "Ann" })).await;
    let mut all = Vec::new();
    for i in 0..36u32 {
        let mut tags = vec![];
        if i % 2 == 0 {
            tags.push("b2b");
        }
        if i % 3 == 0 {
            tags.push("vip");
        }
        let body = json!({
            "name": format!("{} {i}", ["Ada", "Bob", "Cy", "Di"][(i * 7 % 4) as usize]),
            "email": format!("p{i}@{}.example", if i % 5 == 0 { "b" } else { "a" }),
            "tags": tags,
            "lifecycle": if i % 4 == 0 { "customer" } else { "lead" },
            "marketing_consent": i % 3 != 1,
            "owner": if i % 6 == 0 { Some(ann.clone()) } else { None },
        });
        all.push(api.customer("acme", &key, body).await);
    }
    // Some change later: updated_since finds them.
    let mark = api
        .call(
            "GET",
            &format!(
                "/v1/tenants/acme/customers/{}",
                all[35]["id"].as_str().unwrap()
            ),
            Some(&key),
            None,
        )
        .await
        .ok(200)["updated_at"]
        .clone();
    for i in [3usize, 8, 21] {
        let path = format!(
            "/v1/tenants/acme/customers/{}",
            all[i]["id"].as_str().unwrap()
        );
        all[i] = api
            .call(
                "PATCH",
                &path,
                Some(&key),
                Some(json!({ "add_tags": ["later"] })),
            )
            .await
            .ok(200);
    }
    let has =
        |c: &serde_json::Value, tag: &str| c["tags"].as_array().unwrap().iter().any(|t| t == tag);
    type Pred = Box<dyn Fn(&serde_json::Value) -> bool>;
    let since = mark.as_str().unwrap().to_owned();
    let ann2 = ann.clone();
    let cases: Vec<(String, Pred, Option<&str>)> = vec![
        (
            "tag=b2b&lifecycle=customer".into(),
            Box::new(move |c| has(c, "b2b") && c["lifecycle"] == "customer"),
            None,
        ),
        ("tag=b2b&tag_unused=1".into(), Box::new(|_| false), None),
        (
            "tag=vip&consent=true&sort=name".into(),
            Box::new(move |c| has(c, "vip") && c["marketing_consent"] == true),
            Some("name"),
        ),
        (
            "lifecycle=lead&email_prefix=p1&consent=false".into(),
            Box::new(|c| {
                c["lifecycle"] == "lead"
                    && c["email"].as_str().unwrap().starts_with("p1")
                    && c["marketing_consent"] == false
            }),
            Some("email"),
        ),
        (
            format!("owner={ann2}&tag=b2b"),
            Box::new(move |c| c["owner"] == ann.as_str() && has(c, "b2b")),
            None,
        ),
        (
            "name_prefix=ada&sort=created".into(),
            Box::new(|c| {
                c["name"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .starts_with("ada")
            }),
            None,
        ),
        (
            format!("updated_since={since}&tag=later"),
            Box::new(move |c| has(c, "later")),
            None,
        ),
        (
            "consent=true&sort=email".into(),
            Box::new(|c| c["marketing_consent"] == true),
            Some("email"),
        ),
        (
            "q=B.EXAMPLE&tag=b2b".into(),
            Box::new(move |c| c["email"].as_str().unwrap().contains("b.example") && has(c, "b2b")),
            None,
        ),
        (
            "q=cy%201&sort=name".into(),
            Box::new(|c| c["name"].as_str().unwrap().to_lowercase().contains("cy 1")),
            Some("name"),
        ),
    ];
    for (q, keep, order) in cases {
        if q.contains("tag_unused") {
            api.call(
                "GET",
                &format!("/v1/tenants/acme/customers?{q}"),
                Some(&key),
                None,
            )
            .await
            .problem(400, "invalid_query");
            continue;
        }
        let mut want: Vec<&serde_json::Value> = all.iter().filter(|c| keep(c)).collect();
        match order {
            Some("name") => want.sort_by_key(|c| c["name"].as_str().unwrap().to_lowercase()),
            Some("email") => want.sort_by_key(|c| c["email"].as_str().unwrap().to_owned()),
            _ => want.sort_by_key(|c| c["id"].as_str().unwrap().to_owned()),
        }
        let want: Vec<&str> = want.iter().map(|c| c["id"].as_str().unwrap()).collect();
        assert!(!want.is_empty(), "{q}: the case finds nobody");
        // The count of every match, asked with the first page.
        let counted = api
            .call(
                "GET",
                &format!("/v1/tenants/acme/customers?{q}&limit=3&total=true"),
                Some(&key),
                None,
            )
            .await
            .ok(200);
        assert_eq!(counted["total"], want.len(), "{q}");
        assert_eq!(counted["total_exact"], true, "{q}");
        let mut got = Vec::new();
        let mut url = format!("/v1/tenants/acme/customers?{q}&limit=3");
        loop {
            let page = api.call("GET", &url, Some(&key), None).await.ok(200);
            got.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    url = format!("/v1/tenants/acme/customers?{q}&limit=3&cursor={cursor}")
                }
                None => break,
            }
        }
        assert_eq!(got, want, "{q}");
    }
    // Text ignores case and accents, and finds phones by their digits.
    let emile = api
        .customer(
            "acme",
            &key,
            json!({ "name": "Émile Zoë", "phone": "+33 1 42 68 53 00" }),
        )
        .await;
    for q in [
        "emile",
        "ZOE",
        "%C3%A9mile%20zo%C3%AB",
        "142685",
        "%2B33%201%2042",
    ] {
        let r = api
            .call(
                "GET",
                &format!("/v1/tenants/acme/customers?q={q}"),
                Some(&key),
                None,
            )
            .await
            .ok(200);
        let ids: Vec<&str> = r["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [emile["id"].as_str().unwrap()], "q={q}");
    }
    // Bad input: an unknown order, a time that is not one, segment with a sort, a text too long
    // or empty once folded.
    let long = format!("q={}", "x".repeat(101));
    // One letter and 500 combining accents: refused before it is folded.
    let hostile = format!("q=a{}", "%CC%81".repeat(500));
    for q in [
        "sort=shoe_size",
        "updated_since=yesterday",
        "segment=kith.rfm-segments/champions&sort=name",
        long.as_str(),
        "q=%CC%81",
        hostile.as_str(),
        "q=%20",
    ] {
        let r = api
            .call(
                "GET",
                &format!("/v1/tenants/acme/customers?{q}"),
                Some(&key),
                None,
            )
            .await;
        r.problem(400, "invalid_query");
    }
}

/// One address is one customer whatever its Unicode spelling; invisible characters are refused.
async fn email_spellings_are_one_identity_and_invisible_characters_are_refused(backend: Backend) {
    let (api, key) = setup(backend).await;
    api.customer("acme", &key, json!({ "email": "ada@example.com" }))
        .await;
    let url = "/v1/tenants/acme/customers";
    for spelling in [
        "ａｄａ@example.com",
        "ada＠ｅｘａｍｐｌｅ.com",
        "ADA@EXAMPLE.COM",
        "Ada@example.com",
    ] {
        api.call("POST", url, Some(&key), Some(json!({ "email": spelling })))
            .await
            .problem(409, "duplicate");
        let found = api
            .call(
                "GET",
                &format!("{url}?email={}", urlencode(spelling)),
                Some(&key),
                None,
            )
            .await
            .ok(200);
        assert_eq!(found["items"].as_array().unwrap().len(), 1, "{spelling}");
    }
    let r = api
        .call(
            "POST",
            url,
            Some(&key),
            Some(json!({ "email": "ada\u{200B}@example.com" })),
        )
        .await;
    r.problem(422, "invalid_input");
    assert!(r.text.contains("U+200B"), "{}", r.text);
    let all = api.call("GET", url, Some(&key), None).await.ok(200);
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        1,
        "nothing else was created"
    );
}

/// Probable duplicates: by email likeness (dots, look-alike characters, case of older data) and
/// by alike names at one organization, each with its reason; the tenant-wide pairs; the merge
/// they lead to.
async fn duplicates_are_suggested_with_their_reasons_and_merged_from_there(backend: Backend) {
    let (api, key) = setup(backend).await;
    let id = |v: &serde_json::Value| v["id"].as_str().unwrap().to_owned();
    let ada = id(&api
        .customer(
            "acme",
            &key,
            json!({ "name": "Ada Lovelace", "email": "ada@example.com" }),
        )
        .await);
    let dotted = id(&api
        .customer(
            "acme",
            &key,
            json!({ "name": "A. Lovelace", "email": "a.da@example.com" }),
        )
        .await);
    let cyrillic = id(&api
        .customer(
            "acme",
            &key,
            json!({ "name": "Ada L", "email": "\u{430}da@example.com" }),
        )
        .await);
    api.customer(
        "acme",
        &key,
        json!({ "name": "Bob", "email": "bob@example.com" }),
    )
    .await;
    let org = id(&api
        .customer(
            "acme",
            &key,
            json!({ "name": "Analytical Engines", "kind": "organization" }),
        )
        .await);
    let charles = id(&api
        .customer(
            "acme",
            &key,
            json!({ "name": "Charles Babbage", "organization": org }),
        )
        .await);
    let charlie = id(&api
        .customer(
            "acme",
            &key,
            json!({ "name": "Charles  Babage", "organization": org }),
        )
        .await);
    api.customer(
        "acme",
        &key,
        json!({ "name": "Augusta King", "organization": org }),
    )
    .await;

    let url = |c: &str| format!("/v1/tenants/acme/customers/{c}/duplicates");
    let got = api.call("GET", &url(&ada), Some(&key), None).await.ok(200);
    let found: Vec<(String, String)> = got["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                id(&c["customer"]),
                c["reasons"][0]["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (dotted.clone(), "email_dots_or_tag".to_owned()),
            (cyrillic.clone(), "email_look_alike".to_owned()),
        ]
    );
    assert!(
        got["candidates"][1]["reasons"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("look-alike"),
        "{got}"
    );
    let got = api
        .call("GET", &url(&charles), Some(&key), None)
        .await
        .ok(200);
    let candidates = got["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "{got}");
    assert_eq!(id(&candidates[0]["customer"]), charlie);
    assert_eq!(candidates[0]["reasons"][0]["code"], "name_at_organization");
    let bob_like = api.call("GET", &url(&org), Some(&key), None).await.ok(200);
    assert_eq!(bob_like["candidates"], json!([]));

    // Tenant-wide: the oldest of a group survives.
    let pairs = api
        .call(
            "GET",
            "/v1/tenants/acme/customers/duplicates",
            Some(&key),
            None,
        )
        .await
        .ok(200);
    let listed: Vec<(String, String)> = pairs["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["survivor"].as_str().unwrap().to_owned(),
                p["duplicate"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            (ada.clone(), dotted.clone()),
            (ada.clone(), cyrillic.clone())
        ]
    );
    // Then the organizations: members with alike names, the older as survivor; then the end.
    let cursor = pairs["next_cursor"]
        .as_str()
        .expect("the organizations come next");
    let orgs = api
        .call(
            "GET",
            &format!("/v1/tenants/acme/customers/duplicates?cursor={cursor}"),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    let listed = orgs["pairs"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{orgs}");
    assert_eq!(
        (
            listed[0]["survivor"].as_str(),
            listed[0]["duplicate"].as_str()
        ),
        (Some(charles.as_str()), Some(charlie.as_str()))
    );
    assert_eq!(listed[0]["reasons"][0]["code"], "name_at_organization");
    assert!(
        orgs.get("next_cursor")
            .is_none_or(serde_json::Value::is_null),
        "{orgs}"
    );

    // Hostile and wrong input.
    api.call("GET", &url("not-an-id"), Some(&key), None)
        .await
        .problem(404, "not_found");
    api.call(
        "GET",
        &url("01890000-0000-7000-8000-000000000000"),
        Some(&key),
        None,
    )
    .await
    .problem(404, "not_found");
    api.call(
        "GET",
        "/v1/tenants/acme/customers/duplicates?cursor=AAAA",
        Some(&key),
        None,
    )
    .await
    .problem(400, "bad_cursor");
    api.call(
        "GET",
        "/v1/tenants/acme/customers/duplicates?limit=5",
        Some(&key),
        None,
    )
    .await
    .problem(400, "invalid_query");

    // Merging a suggestion removes it.
    api.call(
        "POST",
        &format!("/v1/tenants/acme/customers/{ada}/merge"),
        Some(&key),
        Some(json!({ "duplicate": dotted })),
    )
    .await
    .ok(200);
    let got = api.call("GET", &url(&ada), Some(&key), None).await.ok(200);
    assert_eq!(got["candidates"].as_array().unwrap().len(), 1, "{got}");
}

/// `POST .../customers/search`: OR groups of filters answer what a brute-force filter over every
/// customer gives, in the order asked, over pages; `fields` keeps only those; bad or oversized
/// searches are 422 naming the filter.
async fn a_search_with_or_groups_answers_what_a_brute_force_filter_gives(backend: Backend) {
    let (api, key) = setup(backend).await;
    let ann = api.user("acme", &key, json!({ "name": "Ann" })).await;
    let mut all = Vec::new();
    for i in 0..30u32 {
        let body = json!({
            "name": format!("{} {i}", ["Ada", "Bob", "Cy"][(i % 3) as usize]),
            "email": if i % 7 == 0 { None } else { Some(format!("p{i}@example.com")) },
            "tags": if i % 2 == 0 { vec!["b2b"] } else { vec![] },
            "lifecycle": if i % 4 == 0 { "customer" } else { "lead" },
            "marketing_consent": i % 3 != 1,
            "owner": if i % 5 == 0 { Some(ann.clone()) } else { None },
        });
        all.push(api.customer("acme", &key, body).await);
    }
    let url = "/v1/tenants/acme/customers/search";
    let has =
        |c: &serde_json::Value, tag: &str| c["tags"].as_array().unwrap().iter().any(|t| t == tag);
    type Pred = Box<dyn Fn(&serde_json::Value) -> bool>;
    let ann2 = ann.clone();
    let cases: Vec<(serde_json::Value, Pred)> = vec![
        (
            json!({ "filter_groups": [
                { "filters": [{ "property": "tag", "operator": "eq", "value": "b2b" },
                              { "property": "lifecycle", "operator": "eq", "value": "customer" }] },
                { "filters": [{ "property": "owner", "operator": "eq", "value": ann2 }] },
            ]}),
            Box::new(move |c| {
                (has(c, "b2b") && c["lifecycle"] == "customer") || c["owner"] == ann.as_str()
            }),
        ),
        (
            json!({ "filter_groups": [{ "filters": [
                { "property": "email", "operator": "not_has_property" }] },
                { "filters": [{ "property": "name", "operator": "starts_with", "value": "cy" },
                              { "property": "consent", "operator": "eq", "value": "false" }] },
            ]}),
            Box::new(|c| {
                c["email"].is_null()
                    || (c["name"].as_str().unwrap().starts_with("Cy")
                        && c["marketing_consent"] == false)
            }),
        ),
        (
            json!({ "filter_groups": [{ "filters": [
                { "property": "lifecycle", "operator": "in", "values": ["customer", "lead"] },
                { "property": "tag", "operator": "neq", "value": "b2b" },
                { "property": "name", "operator": "contains", "value": "ADA" },
            ]}]}),
            Box::new(move |c| !has(c, "b2b") && c["name"].as_str().unwrap().starts_with("Ada")),
        ),
        (json!({}), Box::new(|_| true)),
        (
            json!({ "q": "p1", "filter_groups": [{ "filters": [
                { "property": "email", "operator": "has_property" }] }] }),
            Box::new(|c| c["email"].as_str().is_some_and(|e| e.contains("p1"))),
        ),
    ];
    for (sort, order) in [
        ("created", "created_at"),
        ("name", "name"),
        ("email", "email"),
    ] {
        for (search, pred) in &cases {
            let mut want: Vec<&serde_json::Value> = all.iter().filter(|c| pred(c)).collect();
            want.sort_by_key(|c| match order {
                "created_at" => String::new(),
                field => c[field].as_str().unwrap_or_default().to_lowercase(),
            });
            if sort == "email" {
                want.retain(|c| c["email"].is_string());
            }
            let mut got: Vec<serde_json::Value> = Vec::new();
            let mut cursor: Option<String> = None;
            for _ in 0..20 {
                let mut body = search.clone();
                body["sort"] = json!(sort);
                body["limit"] = json!(4);
                body["total"] = json!(true);
                if let Some(c) = &cursor {
                    body["cursor"] = json!(c);
                }
                let page = api.call("POST", url, Some(&key), Some(body)).await.ok(200);
                assert_eq!(page["total"], want.len(), "{search} by {sort}");
                got.extend(page["items"].as_array().unwrap().iter().cloned());
                match page["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            let ids =
                |v: Vec<&serde_json::Value>| v.iter().map(|c| c["id"].clone()).collect::<Vec<_>>();
            assert_eq!(ids(got.iter().collect()), ids(want), "{search} by {sort}");
        }
    }
    // Only the fields asked for, and the id.
    let page = api
        .call(
            "POST",
            url,
            Some(&key),
            Some(json!({ "fields": ["email", "name", "email"], "limit": 2 })),
        )
        .await
        .ok(200);
    for item in page["items"].as_array().unwrap() {
        let mut keys: Vec<&String> = item.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["email", "id", "name"], "{item}");
    }
    // Bad and oversized searches: 422 naming the part, 400 for what does not parse.
    let filter = json!({ "property": "tag", "operator": "eq", "value": "b2b" });
    let group = json!({ "filters": [filter] });
    for (body, field) in [
        (
            json!({ "filter_groups": vec![group.clone(); 6] }),
            "filter_groups",
        ),
        (
            json!({ "filter_groups": [{ "filters": vec![filter.clone(); 11] }] }),
            "filter_groups[0].filters",
        ),
        (
            json!({ "filter_groups": [{ "filters": [] }] }),
            "filter_groups[0].filters",
        ),
        (
            json!({ "filter_groups": [group, { "filters": [{ "property": "tag", "operator": "in", "values": vec!["x"; 101] }] }] }),
            "filter_groups[1].filters[0].values",
        ),
        (
            json!({ "filter_groups": [{ "filters": [{ "property": "tag", "operator": "eq" }] }] }),
            "filter_groups[0].filters[0].value",
        ),
        (
            json!({ "filter_groups": [{ "filters": [{ "property": "lifecycle", "operator": "eq", "value": "zombie" }] }] }),
            "filter_groups[0].filters[0].value",
        ),
        (
            json!({ "filter_groups": [{ "filters": [{ "property": "consent", "operator": "contains", "value": "x" }] }] }),
            "filter_groups[0].filters[0].operator",
        ),
        (
            json!({ "filter_groups": [{ "filters": [{ "property": "created_at", "operator": "gte", "value": "yesterday" }] }] }),
            "filter_groups[0].filters[0].value",
        ),
        (json!({ "fields": ["email", "password"] }), "fields[1]"),
        (json!({ "q": "x".repeat(500) }), "q"),
    ] {
        let r = api.call("POST", url, Some(&key), Some(body.clone())).await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        let problem = r.problem(422, "invalid_input");
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    for body in [
        json!({ "filter_groups": [{ "filters": [{ "property": "password", "operator": "eq", "value": "x" }] }] }),
        json!({ "filter_groups": {} }),
        json!({ "sort": "random" }),
        json!({ "unknown": 1 }),
        json!([]),
    ] {
        api.call("POST", url, Some(&key), Some(body))
            .await
            .problem(400, "invalid_body");
    }
    api.call("POST", url, Some(&key), Some(json!({ "cursor": "AAAA" })))
        .await
        .problem(400, "bad_cursor");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A batch of interactions: each logged on its own, an external id seen before answers the
/// stored one (`unchanged`), a bad record fails alone.
async fn a_batch_of_interactions_logs_each_on_its_own(backend: Backend) {
    let (api, key) = setup(backend).await;
    let ada = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let url = "/v1/tenants/acme/interactions/batch";
    let note = |ext: &str| {
        json!({ "customer": ada["id"], "channel": "email", "kind": "note", "direction": "inbound",
                "subject": format!("note {ext}"), "source": "mail", "external_id": ext })
    };
    let batch = json!({ "records": [
        note("m1"),
        { "customer": "01a244d8-2d88-733e-9953-a7f3eb2a898c", "channel": "email", "kind": "note", "direction": "inbound" },
        note("m2"),
        note("m1"),
    ]});
    let before = events(&api, &key).await;
    let r = api
        .call("POST", url, Some(&key), Some(batch.clone()))
        .await
        .ok(200);
    let status: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["created", "failed", "created", "unchanged"], "{r}");
    assert_eq!(r["results"][1]["error"]["code"], "not_found");
    assert_eq!(r["results"][3]["item"]["id"], r["results"][0]["item"]["id"]);
    assert_eq!(events(&api, &key).await, before + 2);
    let timeline = api
        .call(
            "GET",
            &format!(
                "/v1/tenants/acme/customers/{}/timeline",
                ada["id"].as_str().unwrap()
            ),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(timeline["items"].as_array().unwrap().len(), 2);
    // Again: nothing new.
    let again = api.call("POST", url, Some(&key), Some(batch)).await.ok(200);
    assert_eq!(
        (again["created"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(3))
    );
    let many: Vec<_> = (0..1001).map(|i| note(&format!("x{i}"))).collect();
    api.call("POST", url, Some(&key), Some(json!({ "records": many })))
        .await
        .problem(422, "invalid_input");
    assert_eq!(events(&api, &key).await, before + 2);
}

/// Counting reads at most its budget of customers, then says the count is a lower bound.
async fn a_count_stops_at_its_budget_and_says_so(backend: Backend) {
    let (api, key) = setup(backend).await;
    let budget = kith::service::customers::MAX_COUNTED;
    for chunk in 0..=budget / 1000 {
        let records: Vec<_> = (0..1000)
            .map(|i| json!({ "name": format!("c{chunk}-{i}"), "tags": ["bulk"] }))
            .collect();
        let r = api
            .call(
                "POST",
                "/v1/tenants/acme/customers/batch/upsert",
                Some(&key),
                Some(json!({ "records": records })),
            )
            .await
            .ok(200);
        assert_eq!(r["created"], 1000);
    }
    let page = api
        .call(
            "GET",
            "/v1/tenants/acme/customers?tag=bulk&limit=1&total=true",
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(page["total_exact"], false, "{}", page["total"]);
    assert_eq!(page["total"], budget);
    let small = api
        .call(
            "GET",
            "/v1/tenants/acme/customers?tag=bulk&name_prefix=c0-99&total=true",
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(
        (small["total"].as_u64(), small["total_exact"].as_bool()),
        (Some(11), Some(true))
    );
}

/// Consent as records per channel and purpose: given with its source and evidence, withdrawn
/// with the old record kept, in the event log, and a filter "may be contacted by email for
/// marketing"; bad records are refused by field and write nothing.
async fn consent_is_recorded_per_channel_and_purpose_and_filtered(backend: Backend) {
    let (api, key) = setup(backend).await;
    let base = "/v1/tenants/acme/customers";
    let ada = api
        .customer(
            "acme",
            &key,
            json!({
                "name": "Ada", "email": "ada@example.com",
                "consents": [{
                    "channel": "email", "purpose": "marketing", "status": "granted",
                    "source": "form", "at": "2026-01-02T03:04:05Z",
                    "note": "https://example.com/signup",
                }],
            }),
        )
        .await;
    assert_eq!(ada["marketing_consent"], true);
    assert_eq!(ada["consents"][0]["source"], "form");
    assert_eq!(ada["consents"][0]["at"], "2026-01-02T03:04:05Z");
    let bob = api
        .customer(
            "acme",
            &key,
            json!({"name": "Bob", "consents": [
                {"channel": "sms", "purpose": "Marketing", "status": "granted"},
                {"channel": "email", "purpose": "marketing", "status": "withdrawn"},
            ]}),
        )
        .await;
    assert_eq!(bob["marketing_consent"], false);
    assert_eq!(bob["consents"][1]["purpose"], "marketing");
    assert_eq!(bob["consents"][1]["source"], "api");
    let cy = api.customer("acme", &key, json!({"name": "Cy"})).await;
    assert_eq!(cy["consents"], json!([]));
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let get = |q: &str| {
        let path = format!("{base}?{q}");
        let api = &api;
        let key = &key;
        async move { api.call("GET", &path, Some(key), None).await }
    };
    assert_eq!(
        names(&get("consent=email:marketing").await.ok(200)),
        ["Ada"]
    );
    assert_eq!(names(&get("consent=sms:marketing").await.ok(200)), ["Bob"]);
    assert_eq!(names(&get("consent=true").await.ok(200)), ["Ada"]);
    assert_eq!(
        names(&get("consent=post:marketing").await.ok(200)),
        Vec::<String>::new()
    );
    let not = json!({"filter_groups": [{"filters": [
        {"property": "consent", "operator": "neq", "value": "email:marketing"}
    ]}]});
    let page = api
        .call("POST", &format!("{base}/search"), Some(&key), Some(not))
        .await
        .ok(200);
    assert_eq!(names(&page), ["Bob", "Cy"]);
    for bad in ["fax:marketing", "email:", "email:news letter", "yes"] {
        get(&format!("consent={}", urlencode(bad)))
            .await
            .problem(400, "invalid_query");
    }

    // Withdrawn: the granted record joins the history, and the event log has both.
    let path = format!("{base}/{}", ada["id"].as_str().unwrap());
    let withdrawn = api
        .call(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({"consents": [
                {"channel": "email", "purpose": "marketing", "status": "withdrawn"}
            ]})),
        )
        .await
        .ok(200);
    assert_eq!(withdrawn["marketing_consent"], false);
    assert_eq!(withdrawn["consents"][0]["status"], "withdrawn");
    assert_eq!(withdrawn["consent_history"][0]["status"], "granted");
    assert_eq!(
        withdrawn["consent_history"][0]["note"],
        "https://example.com/signup"
    );
    let log = api
        .call(
            "GET",
            "/v1/tenants/acme/events?after=0&limit=1000",
            Some(&key),
            None,
        )
        .await
        .ok(200);
    let last = log["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "customer-updated");
    let change = last["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "consents.email.marketing")
        .unwrap_or_else(|| panic!("{last}"));
    assert!(
        change["old"]
            .as_str()
            .unwrap()
            .starts_with("granted (form) at 2026-01-02")
    );
    assert!(
        change["new"]
            .as_str()
            .unwrap()
            .starts_with("withdrawn (api)")
    );
    assert_eq!(
        names(&get("consent=email:marketing").await.ok(200)),
        Vec::<String>::new()
    );

    // Hostile records: refused by field, nothing written.
    for (record, field) in [
        (
            json!({"channel": "email", "purpose": "x", "status": "granted", "at": "2999-01-01T00:00:00Z"}),
            "consents[0].at",
        ),
        (
            json!({"channel": "email", "purpose": "x".repeat(65), "status": "granted"}),
            "consents[0].purpose",
        ),
        (
            json!({"channel": "email", "purpose": "x", "status": "granted", "note": "n".repeat(501)}),
            "consents[0].note",
        ),
    ] {
        let p = api
            .call(
                "PATCH",
                &path,
                Some(&key),
                Some(json!({"consents": [record]})),
            )
            .await
            .problem(422, "invalid_input");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    let many: Vec<_> = (0..33)
        .map(|i| json!({"channel": "post", "purpose": format!("p{i}"), "status": "granted"}))
        .collect();
    api.call("PATCH", &path, Some(&key), Some(json!({"consents": many})))
        .await
        .problem(422, "invalid_input");
    api.call(
        "PATCH",
        &path,
        Some(&key),
        Some(json!({"consents": [{"channel": "fax", "purpose": "x", "status": "granted"}]})),
    )
    .await
    .problem(400, "invalid_body");
    let now = api.call("GET", &path, Some(&key), None).await.ok(200);
    assert_eq!(now["version"], withdrawn["version"]);
}

on_both_backends! {
    consent_is_recorded_per_channel_and_purpose_and_filtered,
    a_search_with_or_groups_answers_what_a_brute_force_filter_gives,
    duplicates_are_suggested_with_their_reasons_and_merged_from_there,
    a_count_stops_at_its_budget_and_says_so,
    a_batch_of_interactions_logs_each_on_its_own,
    email_spellings_are_one_identity_and_invisible_characters_are_refused,
    combined_filters_answer_what_a_brute_force_filter_gives,
    a_batch_upsert_creates_changes_or_leaves_each_record_on_its_own,
    a_customer_read_is_sent_back_unchanged,
    create_get_and_update_with_if_match_and_a_stale_etag_is_412,
    a_retried_create_with_the_same_idempotency_key_writes_nothing_new,
    search_by_every_filter_and_page_through_the_results,
    erasure_removes_the_customer_and_their_history,
    merge_keeps_both_histories_under_the_survivor_with_one_event,
}
