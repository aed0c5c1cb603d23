//! Users, teams and roles over HTTP: the permission matrix of user keys over every route, what
//! a member and a manager see and may change, deactivation and reassignment.

use super::http_support::{Api, Backend, on_both_backends};
use serde_json::{Value, json};

fn is_ops(path: &str) -> bool {
    !path.starts_with("/v1/") || path == "/v1/openapi.json" || path.contains("/hooks/")
}

/// Routes for admin tokens only (managing tenants, tokens, the plugin registry, backups).
/// Routes any valid token may read: who it is, and the plugin catalogue tenants enable from.
fn any_token(method: &str, path: &str) -> bool {
    method == "GET" && ["/v1/whoami", "/v1/plugins", "/v1/plugins/{hash}"].contains(&path)
}

fn global_admin(method: &str, path: &str) -> bool {
    path == "/v1/tenants"
        || path.starts_with("/v1/tokens")
        || path.starts_with("/v1/admin")
        || path.starts_with("/v1/plugins")
        || (path == "/v1/tenants/{tenant}" && method != "GET")
}

/// The tenant routes a manager's or member's key may use, limited to what their role lets them
/// see. Every other tenant route needs a tenant admin.
const SCOPED: &[(&str, &str)] = &[
    ("GET", "/v1/tenants/{tenant}"),
    ("POST", "/v1/tenants/{tenant}/customers"),
    ("GET", "/v1/tenants/{tenant}/customers"),
    ("GET", "/v1/tenants/{tenant}/customers/{id}"),
    ("PATCH", "/v1/tenants/{tenant}/customers/{id}"),
    ("POST", "/v1/tenants/{tenant}/customers/{id}/merge"),
    ("GET", "/v1/tenants/{tenant}/customers/{id}/timeline"),
    ("GET", "/v1/tenants/{tenant}/customers/{id}/scores"),
    ("GET", "/v1/tenants/{tenant}/customers/{id}/duplicates"),
    ("POST", "/v1/tenants/{tenant}/customers/search"),
    ("POST", "/v1/tenants/{tenant}/interactions"),
    ("GET", "/v1/tenants/{tenant}/interactions/{id}"),
    ("PATCH", "/v1/tenants/{tenant}/interactions/{id}"),
    ("GET", "/v1/tenants/{tenant}/tasks/due"),
    ("GET", "/v1/tenants/{tenant}/work"),
    ("GET", "/v1/tenants/{tenant}/work/overdue"),
    ("GET", "/v1/tenants/{tenant}/reports/service"),
    ("GET", "/v1/tenants/{tenant}/deals/{id}/timeline"),
    ("GET", "/v1/tenants/{tenant}/pipelines"),
    ("GET", "/v1/tenants/{tenant}/pipelines/{id}"),
    ("GET", "/v1/tenants/{tenant}/pipelines/{id}/report"),
    ("GET", "/v1/tenants/{tenant}/pipelines/{id}/deals"),
    ("POST", "/v1/tenants/{tenant}/deals"),
    ("GET", "/v1/tenants/{tenant}/deals"),
    ("GET", "/v1/tenants/{tenant}/deals/{id}"),
    ("PATCH", "/v1/tenants/{tenant}/deals/{id}"),
    ("POST", "/v1/tenants/{tenant}/deals/{id}/move"),
    ("GET", "/v1/tenants/{tenant}/events"),
    ("GET", "/v1/tenants/{tenant}/reports/sales"),
    ("GET", "/v1/tenants/{tenant}/reports/funnel"),
    ("GET", "/v1/tenants/{tenant}/users"),
    ("GET", "/v1/tenants/{tenant}/users/{id}"),
    ("GET", "/v1/tenants/{tenant}/teams"),
    ("GET", "/v1/tenants/{tenant}/teams/{id}"),
    ("GET", "/v1/tenants/{tenant}/teams/{id}/members"),
];

async fn team(api: &Api, key: &str, name: &str, shared: bool) -> String {
    let r = api
        .call(
            "POST",
            "/v1/tenants/acme/teams",
            Some(key),
            Some(json!({ "name": name, "shared": shared })),
        )
        .await
        .ok(201);
    r["id"].as_str().unwrap().to_owned()
}

async fn every_route_answers_a_user_key_by_its_role(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let sales = team(&api, &key, "Sales", true).await;
    let mut keys = Vec::new();
    for role in ["member", "manager"] {
        let u = api
            .user(
                "acme",
                &key,
                json!({ "name": role, "role": role, "teams": [sales] }),
            )
            .await;
        keys.push((role, api.user_key("acme", &u).await));
    }
    let admin = api
        .user("acme", &key, json!({ "name": "boss", "role": "admin" }))
        .await;
    let admin_key = api.user_key("acme", &admin).await;
    let id = "0190a5a0-0000-7000-8000-000000000000";
    let before = api.last_seq("acme");
    let routes = kith::http::route_table();
    for &(m, p) in SCOPED {
        assert!(
            routes.iter().any(|(rm, rp)| rm.as_str() == m && *rp == p),
            "{m} {p} is not a route any more"
        );
    }
    for (method, path) in routes {
        let method = method.as_str();
        if is_ops(path) {
            continue;
        }
        let url = path.replace("{tenant}", "acme").replace("{id}", id);
        for (role, k) in &keys {
            let r = api.call(method, &url, Some(k), Some(json!({}))).await;
            if any_token(method, path) {
                assert!(
                    ![401, 403].contains(&r.status.as_u16()),
                    "{role}: {method} {path}: {}",
                    r.text
                );
            } else if global_admin(method, path) {
                r.problem(403, "admin_required");
            } else if SCOPED.contains(&(method, path)) {
                assert!(
                    ![401, 403].contains(&r.status.as_u16()),
                    "{role}: {method} {path}: {}",
                    r.text
                );
            } else {
                let body = r.problem(403, "role_required");
                assert!(
                    body["detail"].as_str().unwrap().contains(role),
                    "{}",
                    r.text
                );
            }
        }
        // A user with role admin may do what a tenant key may.
        let r = api
            .call(method, &url, Some(&admin_key), Some(json!({})))
            .await;
        if global_admin(method, path) && !any_token(method, path) {
            r.problem(403, "admin_required");
        } else {
            assert!(
                ![401, 403].contains(&r.status.as_u16()),
                "admin user: {method} {path}: {}",
                r.text
            );
        }
    }
    assert_eq!(api.last_seq("acme"), before, "nothing written");
}

/// A tenant with a shared team Sales (manager Mia, members Ann and Bob), a private team Solo
/// (member Cy), one customer owned by each and one owned by nobody.
struct Office {
    api: Api,
    key: String,
    ids: std::collections::HashMap<&'static str, String>,
    customers: std::collections::HashMap<&'static str, String>,
    keys: std::collections::HashMap<&'static str, String>,
}

impl Office {
    async fn new(backend: Backend) -> Office {
        let api = Api::on(backend);
        api.tenant("acme").await;
        let key = api.key("acme", false).await;
        let sales = team(&api, &key, "Sales", true).await;
        let solo = team(&api, &key, "Solo", false).await;
        let mut ids = std::collections::HashMap::new();
        let mut keys = std::collections::HashMap::new();
        for (name, role, t) in [
            ("mia", "manager", &sales),
            ("ann", "member", &sales),
            ("bob", "member", &sales),
            ("cy", "member", &solo),
        ] {
            let id = api
                .user(
                    "acme",
                    &key,
                    json!({ "name": name, "role": role, "teams": [t] }),
                )
                .await;
            keys.insert(name, api.user_key("acme", &id).await);
            ids.insert(name, id);
        }
        let mut customers = std::collections::HashMap::new();
        for name in ["mia", "ann", "bob", "cy", "nobody"] {
            let owner = ids.get(name).cloned().map_or(Value::Null, Value::String);
            let c = api
                .customer(
                    "acme",
                    &key,
                    json!({ "name": format!("customer of {name}"), "owner": owner }),
                )
                .await;
            customers.insert(name, c["id"].as_str().unwrap().to_owned());
        }
        Office {
            api,
            key,
            ids,
            customers,
            keys,
        }
    }

    /// The names of the customers `who` lists.
    async fn listed(&self, who: &str) -> Vec<String> {
        let r = self
            .api
            .call(
                "GET",
                "/v1/tenants/acme/customers?limit=2",
                Some(&self.keys[who]),
                None,
            )
            .await
            .ok(200);
        let mut names: Vec<String> = r["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        let mut next = r["next_cursor"].as_str().map(str::to_owned);
        while let Some(c) = next {
            let r = self
                .api
                .call(
                    "GET",
                    &format!("/v1/tenants/acme/customers?limit=2&cursor={c}"),
                    Some(&self.keys[who]),
                    None,
                )
                .await
                .ok(200);
            names.extend(
                r["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["name"].as_str().unwrap().to_owned()),
            );
            next = r["next_cursor"].as_str().map(str::to_owned);
        }
        names.sort();
        names
    }

    fn customer(&self, of: &str) -> String {
        format!("/v1/tenants/acme/customers/{}", self.customers[of])
    }
}

fn names(of: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = of.iter().map(|n| format!("customer of {n}")).collect();
    v.sort();
    v
}

async fn members_and_managers_see_and_change_only_what_their_role_allows(backend: Backend) {
    let o = Office::new(backend).await;
    let api = &o.api;
    // Lists.
    assert_eq!(o.listed("ann").await, names(&["ann", "bob", "mia"]));
    assert_eq!(o.listed("cy").await, names(&["cy"]));
    assert_eq!(
        o.listed("mia").await,
        names(&["ann", "bob", "mia", "nobody"])
    );
    // `owner=me` lists one's own.
    let mine = api
        .call(
            "GET",
            "/v1/tenants/acme/customers?owner=me",
            Some(&o.keys["bob"]),
            None,
        )
        .await
        .ok(200);
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["name"], "customer of bob");
    api.call(
        "GET",
        "/v1/tenants/acme/customers?owner=me",
        Some(&o.key),
        None,
    )
    .await
    .problem(400, "invalid_query");
    // Reads by id: what one may not see does not exist.
    api.call("GET", &o.customer("cy"), Some(&o.keys["ann"]), None)
        .await
        .problem(404, "not_found");
    api.call("GET", &o.customer("nobody"), Some(&o.keys["ann"]), None)
        .await
        .problem(404, "not_found");
    api.call(
        "GET",
        &format!("{}/timeline", o.customer("cy")),
        Some(&o.keys["ann"]),
        None,
    )
    .await
    .problem(404, "not_found");
    api.call("GET", &o.customer("bob"), Some(&o.keys["ann"]), None)
        .await
        .ok(200);
    // Changes: a teammate's record is read-only to a member; one's own is not.
    let seq = api.last_seq("acme");
    let r = api
        .call(
            "PATCH",
            &o.customer("bob"),
            Some(&o.keys["ann"]),
            Some(json!({ "name": "mine now" })),
        )
        .await;
    r.problem(403, "not_permitted");
    api.call(
        "PATCH",
        &o.customer("cy"),
        Some(&o.keys["ann"]),
        Some(json!({ "name": "mine now" })),
    )
    .await
    .problem(404, "not_found");
    api.call(
        "PATCH",
        &o.customer("ann"),
        Some(&o.keys["ann"]),
        Some(json!({ "owner": o.ids["bob"] })),
    )
    .await
    .problem(403, "not_permitted");
    assert_eq!(api.last_seq("acme"), seq, "refused changes write nothing");
    api.call(
        "PATCH",
        &o.customer("ann"),
        Some(&o.keys["ann"]),
        Some(json!({ "add_tags": ["mine"] })),
    )
    .await
    .ok(200);
    // A member's new customer is theirs; they cannot give it away.
    let c = api
        .customer("acme", &o.keys["ann"], json!({ "name": "new lead" }))
        .await;
    assert_eq!(c["owner"], o.ids["ann"].as_str());
    api.call(
        "POST",
        "/v1/tenants/acme/customers",
        Some(&o.keys["ann"]),
        Some(json!({ "name": "gift", "owner": o.ids["bob"] })),
    )
    .await
    .problem(403, "not_permitted");
    // A manager gives records within their teams and takes unowned ones, not beyond.
    api.call(
        "PATCH",
        &o.customer("nobody"),
        Some(&o.keys["mia"]),
        Some(json!({ "owner": o.ids["bob"] })),
    )
    .await
    .ok(200);
    api.call(
        "PATCH",
        &o.customer("ann"),
        Some(&o.keys["mia"]),
        Some(json!({ "owner": o.ids["cy"] })),
    )
    .await
    .problem(403, "not_permitted");
    // Interactions follow their customer.
    let note = json!({ "customer": o.customers["cy"], "channel": "phone", "kind": "note" });
    let i = api
        .call(
            "POST",
            "/v1/tenants/acme/interactions",
            Some(&o.key),
            Some(note.clone()),
        )
        .await
        .ok(201);
    api.call(
        "GET",
        &format!(
            "/v1/tenants/acme/interactions/{}",
            i["id"].as_str().unwrap()
        ),
        Some(&o.keys["ann"]),
        None,
    )
    .await
    .problem(404, "not_found");
    api.call(
        "POST",
        "/v1/tenants/acme/interactions",
        Some(&o.keys["ann"]),
        Some(note),
    )
    .await
    .problem(404, "not_found");
    // The event stream leaves out what one may not see.
    let events = api
        .call(
            "GET",
            "/v1/tenants/acme/events?limit=1000",
            Some(&o.keys["ann"]),
            None,
        )
        .await
        .ok(200);
    let seen: Vec<&Value> = events["items"].as_array().unwrap().iter().collect();
    let cy = o.customers["cy"].as_str();
    assert!(
        seen.iter().all(|e| !e["entity"].to_string().contains(cy)),
        "no event about cy's customer"
    );
    assert!(seen.iter().any(|e| {
        e["entity"]
            .to_string()
            .contains(o.customers["ann"].as_str())
    }));
    assert_eq!(
        events["next_after"].as_u64(),
        Some(api.last_seq("acme")),
        "the reader still moves past what it may not see"
    );
}

async fn deals_and_reports_count_only_what_the_caller_may_see(backend: Backend) {
    let o = Office::new(backend).await;
    let api = &o.api;
    let p = api.pipeline("acme", &o.key, "Sales").await;
    let pid = p["id"].as_str().unwrap();
    for (who, minor) in [("ann", 100), ("bob", 200), ("cy", 400)] {
        api.call(
            "POST",
            "/v1/tenants/acme/deals",
            Some(&o.key),
            Some(
                json!({ "customer": o.customers[who], "pipeline": pid, "title": who,
                         "amount": { "minor": minor, "currency": "EUR" }, "owner": o.ids[who] }),
            ),
        )
        .await
        .ok(201);
    }
    let amount = |key: String| async move {
        let r = api
            .call(
                "GET",
                &format!("/v1/tenants/acme/pipelines/{pid}/report"),
                Some(&key),
                None,
            )
            .await
            .ok(200);
        r["stages"][0]["amount"].clone()
    };
    assert_eq!(
        amount(o.key.clone()).await,
        json!([{ "minor": 700, "currency": "EUR" }])
    );
    assert_eq!(
        amount(o.keys["ann"].clone()).await,
        json!([{ "minor": 300, "currency": "EUR" }])
    );
    assert_eq!(
        amount(o.keys["cy"].clone()).await,
        json!([{ "minor": 400, "currency": "EUR" }])
    );
    let listed = api
        .call(
            "GET",
            &format!("/v1/tenants/acme/pipelines/{pid}/deals"),
            Some(&o.keys["cy"]),
            None,
        )
        .await
        .ok(200);
    let titles: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["cy"]);
    // A member's deal on a customer they cannot see is refused as if it did not exist.
    api.call(
        "POST",
        "/v1/tenants/acme/deals",
        Some(&o.keys["cy"]),
        Some(
            json!({ "customer": o.customers["ann"], "pipeline": pid, "title": "poach",
                     "amount": { "minor": 1, "currency": "EUR" } }),
        ),
    )
    .await
    .problem(404, "not_found");
}

async fn deactivating_a_user_stops_their_keys_and_reassigning_moves_their_records(
    backend: Backend,
) {
    let o = Office::new(backend).await;
    let api = &o.api;
    let ann = o.ids["ann"].as_str();
    // Only a tenant admin manages people.
    api.call(
        "PATCH",
        &format!("/v1/tenants/acme/users/{ann}"),
        Some(&o.keys["mia"]),
        Some(json!({ "active": false })),
    )
    .await
    .problem(403, "role_required");
    let u = api
        .call(
            "PATCH",
            &format!("/v1/tenants/acme/users/{ann}"),
            Some(&o.key),
            Some(json!({ "active": false })),
        )
        .await
        .ok(200);
    assert_eq!(u["active"], false);
    let r = api
        .call(
            "GET",
            "/v1/tenants/acme/customers",
            Some(&o.keys["ann"]),
            None,
        )
        .await;
    let body = r.problem(401, "unauthorized");
    assert!(body["detail"].as_str().unwrap().contains("deactivated"));
    // Their records stay theirs: nothing was reassigned silently.
    let c = api
        .call("GET", &o.customer("ann"), Some(&o.key), None)
        .await
        .ok(200);
    assert_eq!(c["owner"], ann);
    // No new key for them, nothing new given to them.
    api.call(
        "POST",
        "/v1/tokens",
        Some(&api.admin),
        Some(json!({ "kind": "user", "tenant": "acme", "user": ann })),
    )
    .await
    .problem(422, "invalid_input");
    api.call(
        "PATCH",
        &o.customer("bob"),
        Some(&o.key),
        Some(json!({ "owner": ann })),
    )
    .await
    .problem(422, "invalid_input");
    // Reassigning hands them to Bob, who then sees and changes them.
    let r = api
        .call(
            "POST",
            &format!("/v1/tenants/acme/users/{ann}/reassign"),
            Some(&o.key),
            Some(json!({ "to": o.ids["bob"] })),
        )
        .await
        .ok(200);
    assert_eq!(
        r,
        json!({ "customers": 1, "deals": 0, "work": 0, "more": false })
    );
    api.call(
        "PATCH",
        &o.customer("ann"),
        Some(&o.keys["bob"]),
        Some(json!({ "add_tags": ["inherited"] })),
    )
    .await
    .ok(200);
    api.call(
        "POST",
        &format!("/v1/tenants/acme/users/{}/reassign", o.ids["bob"]),
        Some(&o.key),
        Some(json!({ "to": ann })),
    )
    .await
    .problem(422, "invalid_input");
    // Reactivated, their key works again.
    api.call(
        "PATCH",
        &format!("/v1/tenants/acme/users/{ann}"),
        Some(&o.key),
        Some(json!({ "active": true })),
    )
    .await
    .ok(200);
    api.call(
        "GET",
        "/v1/tenants/acme/customers",
        Some(&o.keys["ann"]),
        None,
    )
    .await
    .ok(200);
}

async fn user_and_team_input_is_validated(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    api.tenant("beta").await;
    let key = api.key("acme", false).await;
    let beta = api.key("beta", false).await;
    let post = |path: &'static str, body: Value| {
        let key = key.clone();
        let api = &api;
        async move {
            api.call(
                "POST",
                &format!("/v1/tenants/acme/{path}"),
                Some(&key),
                Some(body),
            )
            .await
        }
    };
    let seq = api.last_seq("acme");
    post("users", json!({ "name": "x", "role": "root" }))
        .await
        .problem(400, "invalid_body");
    post("users", json!({ "name": "x", "password": "hunter2" }))
        .await
        .problem(400, "invalid_body");
    post("users", json!({ "name": "x", "email": "not an email" }))
        .await
        .problem(422, "invalid_input");
    post("users", json!({ "name": "x".repeat(201) }))
        .await
        .problem(422, "invalid_input");
    let teams: Vec<String> = (0..21)
        .map(|i| format!("0190a5a0-0000-7000-8000-{i:012}"))
        .collect();
    post("users", json!({ "name": "x", "teams": teams }))
        .await
        .problem(422, "invalid_input");
    post("teams", json!({ "name": "" }))
        .await
        .problem(422, "invalid_input");
    assert_eq!(api.last_seq("acme"), seq, "nothing written");
    let ann = api
        .user(
            "acme",
            &key,
            json!({ "name": "Ann", "email": "ann@example.com" }),
        )
        .await;
    post(
        "users",
        json!({ "name": "Ann 2", "email": "ann@example.com" }),
    )
    .await
    .problem(409, "duplicate");
    let t = team(&api, &key, "Sales", true).await;
    post("teams", json!({ "name": "sales" }))
        .await
        .problem(409, "duplicate");
    api.call(
        "PATCH",
        &format!("/v1/tenants/acme/users/{ann}"),
        Some(&key),
        Some(json!({ "teams": [t] })),
    )
    .await
    .ok(200);
    let members = api
        .call(
            "GET",
            &format!("/v1/tenants/acme/teams/{t}/members"),
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(members["items"][0]["id"], ann.as_str());
    api.call(
        "DELETE",
        &format!("/v1/tenants/acme/teams/{t}"),
        Some(&key),
        None,
    )
    .await
    .problem(409, "team_not_empty");
    // Another tenant's user is not a user here, for keys or owners.
    api.call(
        "GET",
        &format!("/v1/tenants/beta/users/{ann}"),
        Some(&beta),
        None,
    )
    .await
    .problem(404, "not_found");
    api.call(
        "POST",
        "/v1/tokens",
        Some(&api.admin),
        Some(json!({ "kind": "user", "tenant": "beta", "user": ann })),
    )
    .await
    .problem(404, "not_found");
    api.call(
        "POST",
        "/v1/tenants/beta/customers",
        Some(&beta),
        Some(json!({ "name": "x", "owner": ann })),
    )
    .await
    .problem(422, "invalid_input");
    api.call(
        "POST",
        "/v1/tokens",
        Some(&api.admin),
        Some(json!({ "kind": "user", "tenant": "acme" })),
    )
    .await
    .problem(400, "invalid_body");
    api.call(
        "POST",
        "/v1/tokens",
        Some(&api.admin),
        Some(json!({ "kind": "tenant", "tenant": "acme", "user": ann })),
    )
    .await
    .problem(400, "invalid_body");
}

on_both_backends! {
    every_route_answers_a_user_key_by_its_role,
    members_and_managers_see_and_change_only_what_their_role_allows,
    deals_and_reports_count_only_what_the_caller_may_see,
    deactivating_a_user_stops_their_keys_and_reassigning_moves_their_records,
    user_and_team_input_is_validated,
}
