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

on_both_backends! {
    sales_report_groups_by_owner_and_team_over_what_the_caller_may_read,
}
