//! `GET /v1/tenants/{tenant}/reports/sales`: rows per owner or team, what a member's key
//! counts, and bad parameters.

use super::http_support::{Api, Backend, on_both_backends};
use serde_json::{Value, json};

fn total(report: &Value, field: &str) -> u64 {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[field].as_u64().unwrap())
        .sum()
}

fn groups(report: &Value, list: &str) -> Vec<String> {
    let mut g: Vec<String> = report[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["group"].as_str().unwrap_or("-").to_owned())
        .collect();
    g.sort();
    g.dedup();
    g
}

async fn sales_report_groups_by_owner_and_team_over_what_the_caller_may_read(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let team = |name: &'static str| {
        let api = &api;
        let key = key.clone();
        async move {
            api.call(
                "POST",
                "/v1/tenants/acme/teams",
                Some(&key),
                Some(json!({ "name": name })),
            )
            .await
            .ok(201)["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (sales, solo) = (team("Sales").await, team("Solo").await);
    let ann = api
        .user("acme", &key, json!({ "name": "Ann", "teams": [sales] }))
        .await;
    let bob = api
        .user("acme", &key, json!({ "name": "Bob", "teams": [sales] }))
        .await;
    let cy = api
        .user("acme", &key, json!({ "name": "Cy", "teams": [solo] }))
        .await;
    let c = api.customer("acme", &key, json!({ "name": "Ada" })).await;
    let p = api.pipeline("acme", &key, "Sales").await;
    let won = p["stages"][2]["id"].clone();
    let today = kith::model::Timestamp::now().date();
    let close = kith::model::Date::from_days(today.days() + 40).to_string();
    for (owner, minor, win) in [
        (&ann, 100, true),
        (&ann, 200, false),
        (&bob, 400, true),
        (&cy, 800, false),
    ] {
        let d = api
            .call(
                "POST",
                "/v1/tenants/acme/deals",
                Some(&key),
                Some(
                    json!({ "customer": c["id"], "pipeline": p["id"], "title": "d",
                             "amount": { "minor": minor, "currency": "EUR" },
                             "expected_close": close, "owner": owner }),
                ),
            )
            .await
            .ok(201);
        if win {
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
    let from = kith::model::Date::from_days(today.days() - 30);
    let to = kith::model::Date::from_days(today.days() + 90);
    let url = |extra: &str| format!("/v1/tenants/acme/reports/sales?from={from}&to={to}{extra}");
    let get = |k: String, extra: &str| {
        let api = &api;
        let u = url(extra);
        async move { api.call("GET", &u, Some(&k), None).await.ok(200) }
    };

    let all = get(key.clone(), "").await;
    assert_eq!((total(&all, "created"), total(&all, "won")), (4, 2));
    let mut want = vec![ann.clone(), bob.clone(), cy.clone()];
    want.sort();
    assert_eq!(groups(&all, "rows"), want);
    let ann_row = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == ann.as_str())
        .unwrap();
    assert_eq!(
        ann_row["won_amount"],
        json!({ "minor": 100, "currency": "EUR" })
    );
    assert_eq!(ann_row["win_rate"], 1.0);
    // The open pipeline and its forecast month: Ann 200 at 10 %, Cy 800 at 10 %.
    let weighted: i64 = all["pipeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["weighted_amount"]["minor"].as_i64().unwrap())
        .sum();
    assert_eq!(weighted, 100);
    assert_eq!(
        all["forecast"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["deals"].as_u64().unwrap())
            .sum::<u64>(),
        2
    );

    let by_team = get(key.clone(), "&by=team&period=week").await;
    let mut teams = vec![sales.clone(), solo.clone()];
    teams.sort();
    assert_eq!(groups(&by_team, "rows"), teams);
    let only_sales = get(key.clone(), &format!("&team={sales}")).await;
    assert_eq!(total(&only_sales, "created"), 3);

    // Ann (member of the shared Sales team) counts her team's deals, not Cy's; `me` is hers.
    let ann_key = api.user_key("acme", &ann).await;
    let hers = get(ann_key.clone(), "").await;
    assert_eq!(total(&hers, "created"), 3);
    assert!(!groups(&hers, "rows").contains(&cy));
    let mine = get(ann_key.clone(), "&owner=me").await;
    assert_eq!(groups(&mine, "rows"), vec![ann.clone()]);
    let cy_key = api.user_key("acme", &cy).await;
    let cys = get(cy_key, &format!("&owner={ann}")).await;
    assert_eq!(
        total(&cys, "created"),
        0,
        "asking for another's deals gives nothing"
    );

    // Quotas: a target per user (or team) and period; the report shows attainment.
    let this_month = kith::model::Period::Month.start(today).to_string();
    let put = |body: Value| {
        let api = &api;
        let key = key.clone();
        async move {
            api.call("PUT", "/v1/tenants/acme/quotas", Some(&key), Some(body))
                .await
        }
    };
    let q = put(
        json!({ "user": ann, "period": "month", "start": today.to_string(),
                        "target": 400, "currency": "EUR" }),
    )
    .await
    .ok(200);
    assert_eq!(
        q["start"],
        this_month.as_str(),
        "a quota covers the whole period"
    );
    put(json!({ "team": sales, "period": "month", "start": this_month, "target": 1000, "currency": "EUR" }))
        .await
        .ok(200);
    // A user with no deals this month still gets a row for their target.
    put(json!({ "user": cy, "period": "month", "start": this_month, "target": 50, "currency": "USD" }))
        .await
        .ok(200);
    let row_of = |report: &Value, group: &str, currency: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"] == group && r["currency"] == currency)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let with = get(key.clone(), "").await;
    let a = row_of(&with, &ann, "EUR");
    assert_eq!(
        (a["quota"]["minor"].as_i64(), a["attainment"].as_f64()),
        (Some(400), Some(0.25))
    );
    let c = row_of(&with, &cy, "USD");
    assert_eq!(
        (c["created"].as_u64(), c["attainment"].as_f64()),
        (Some(0), Some(0.0))
    );
    let t = row_of(&get(key.clone(), "&by=team").await, &sales, "EUR");
    assert_eq!(t["attainment"].as_f64(), Some(0.5), "Sales won 500 of 1000");
    assert_eq!(
        row_of(&get(key.clone(), "&period=week").await, &ann, "EUR")["quota"],
        Value::Null,
        "a monthly target is not shown on weekly rows"
    );
    // A member sees her own and her team's targets in her report, not Cy's; only a tenant
    // admin sets them.
    let hers = get(ann_key.clone(), "").await;
    assert_eq!(row_of(&hers, &ann, "EUR")["quota"]["minor"], 400);
    assert_eq!(row_of(&hers, &cy, "USD"), Value::Null);
    api.call(
        "PUT",
        "/v1/tenants/acme/quotas",
        Some(&ann_key),
        Some(json!({ "user": ann, "period": "month", "start": this_month, "target": 1, "currency": "EUR" })),
    )
    .await
    .problem(403, "role_required");
    let seq = api.last_seq("acme");
    for (body, status, code) in [
        (
            json!({ "user": ann, "team": sales, "period": "month", "start": this_month, "target": 1, "currency": "EUR" }),
            400,
            "invalid_body",
        ),
        (
            json!({ "user": ann, "period": "year", "start": this_month, "target": 1, "currency": "EUR" }),
            400,
            "invalid_body",
        ),
        (
            json!({ "user": ann, "period": "month", "start": this_month, "currency": "EUR" }),
            400,
            "invalid_body",
        ),
        (
            json!({ "user": ann, "period": "month", "start": this_month, "target": -1, "currency": "EUR" }),
            422,
            "invalid_input",
        ),
        (
            json!({ "user": "0190a5a0-0000-7000-8000-000000000000", "period": "month", "start": this_month, "target": 1, "currency": "EUR" }),
            404,
            "not_found",
        ),
    ] {
        put(body).await.problem(status, code);
    }
    assert_eq!(api.last_seq("acme"), seq, "refused quotas write nothing");
    let listed = api
        .call("GET", "/v1/tenants/acme/quotas", Some(&key), None)
        .await
        .ok(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 3);
    let r = api
        .call(
            "DELETE",
            &format!(
                "/v1/tenants/acme/quotas?user={ann}&period=month&start={this_month}&currency=EUR"
            ),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(r.status.as_u16(), 204, "{}", r.text);
    assert_eq!(
        row_of(&get(key.clone(), "").await, &ann, "EUR")["quota"],
        Value::Null
    );

    for (extra, status) in [
        ("&period=year", 400),
        ("&by=region", 400),
        ("&owner=me", 400),
        ("&colour=red", 400),
    ] {
        let r = api.call("GET", &url(extra), Some(&key), None).await;
        assert_eq!(r.status.as_u16(), status, "{extra}: {}", r.text);
    }
    api.call(
        "GET",
        "/v1/tenants/acme/reports/sales?to=2027-01-01",
        Some(&key),
        None,
    )
    .await
    .problem(400, "invalid_query");
    api.call(
        "GET",
        "/v1/tenants/acme/reports/sales?from=2026-01-01&to=2027-06-01&period=day",
        Some(&key),
        None,
    )
    .await
    .problem(422, "invalid_input");
    api.call(
        "GET",
        "/v1/tenants/acme/reports/sales?from=2027-01-01&to=2026-01-01",
        Some(&key),
        None,
    )
    .await
    .problem(422, "invalid_input");
}

async fn funnel_splits_a_pipeline_by_the_customers_source_and_tags(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let p = api.pipeline("acme", &key, "Sales").await;
    let pid = p["id"].as_str().unwrap();
    let customers = [
        json!({ "name": "a", "tags": ["vip", "b2b"], "attributes": { "lead_source": { "text": "webinar" } } }),
        json!({ "name": "b", "tags": ["vip"], "external_ids": [{ "source": "shop", "id": "1" }] }),
        json!({ "name": "c" }),
    ];
    let mut deals_of = Vec::new();
    for (i, c) in customers.into_iter().enumerate() {
        let c = api.customer("acme", &key, c).await;
        for _ in 0..=i {
            api.call(
                "POST",
                "/v1/tenants/acme/deals",
                Some(&key),
                Some(json!({ "customer": c["id"], "pipeline": pid, "title": "d",
                             "amount": { "minor": 10, "currency": "EUR" } })),
            )
            .await
            .ok(201);
        }
        deals_of.push(i as u64 + 1);
    }
    let funnel = |by: &str| {
        let api = &api;
        let key = key.clone();
        let url = format!("/v1/tenants/acme/reports/funnel?pipeline={pid}&by={by}");
        async move { api.call("GET", &url, Some(&key), None).await.ok(200) }
    };
    let counts = |r: Value| -> Vec<(Value, u64)> {
        r.as_array()
            .unwrap()
            .iter()
            .map(|g| (g["group"].clone(), g["report"]["deals"].as_u64().unwrap()))
            .collect()
    };
    // a: 1 deal, b: 2, c: 3. Tags: vip = a + b, b2b = a, none = c.
    assert_eq!(
        counts(funnel("tag").await),
        vec![
            (Value::Null, deals_of[2]),
            (json!("b2b"), deals_of[0]),
            (json!("vip"), deals_of[0] + deals_of[1]),
        ]
    );
    assert_eq!(
        counts(funnel("source").await),
        vec![
            (Value::Null, deals_of[2]),
            (json!("shop"), deals_of[1]),
            (json!("webinar"), deals_of[0]),
        ]
    );
    // Each group's funnel is the pipeline's funnel of its deals: the untagged group has c's 3.
    let untagged = &funnel("tag").await[0]["report"];
    assert_eq!(untagged["stages"][0]["deals"], 3);
    assert_eq!(
        untagged["stages"][0]["amount"],
        json!([{ "minor": 30, "currency": "EUR" }])
    );
    for q in ["by=colour", "by=segment", "by=tag&plugin=x", ""] {
        let r = api
            .call(
                "GET",
                &format!("/v1/tenants/acme/reports/funnel?pipeline={pid}&{q}"),
                Some(&key),
                None,
            )
            .await;
        r.problem(400, "invalid_query");
    }
    api.call(
        "GET",
        "/v1/tenants/acme/reports/funnel?by=tag&pipeline=0190a5a0-0000-7000-8000-000000000000",
        Some(&key),
        None,
    )
    .await
    .problem(404, "not_found");
}

/// A hostile grouping: customers with many distinct tags would split the funnel into thousands
/// of reports; past 500 groups the request is refused.
async fn a_funnel_with_more_than_500_groups_is_refused(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let p = api.pipeline("acme", &key, "Sales").await;
    for c in 0..6 {
        let tags: Vec<String> = (0..100).map(|t| format!("t{c}-{t}")).collect();
        let customer = api
            .customer("acme", &key, json!({ "name": "x", "tags": tags }))
            .await;
        api.call(
            "POST",
            "/v1/tenants/acme/deals",
            Some(&key),
            Some(
                json!({ "customer": customer["id"], "pipeline": p["id"], "title": "d",
                         "amount": { "minor": 1, "currency": "EUR" } }),
            ),
        )
        .await
        .ok(201);
    }
    let url = format!(
        "/v1/tenants/acme/reports/funnel?pipeline={}&by=tag",
        p["id"].as_str().unwrap()
    );
    let body = api
        .call("GET", &url, Some(&key), None)
        .await
        .problem(422, "invalid_input");
    assert!(body["detail"].as_str().unwrap().contains("500"), "{body}");
}

on_both_backends! {
    sales_report_groups_by_owner_and_team_over_what_the_caller_may_read,
    a_funnel_with_more_than_500_groups_is_refused,
    funnel_splits_a_pipeline_by_the_customers_source_and_tags,
}
