//! Custom field definitions over HTTP: defined per object, checked on every write, a stricter
//! change checked against the stored data, filtered on in a search.

use super::http_support::{Api, Backend, on_both_backends};
use serde_json::{Value, json};

const FIELDS: &str = "/v1/tenants/acme/fields";

async fn setup(backend: Backend) -> (Api, String) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    (api, key)
}

async fn define(api: &Api, key: &str, object: &str, field: &str, body: Value) -> Value {
    api.call(
        "PUT",
        &format!("{FIELDS}/{object}/{field}"),
        Some(key),
        Some(body),
    )
    .await
    .ok(201)
}

/// The items of the first page of a tenant list (`deals?...`, `work?...`).
async fn listed(api: &Api, key: &str, list: &str) -> Vec<Value> {
    let page = api
        .call("GET", &format!("/v1/tenants/acme/{list}"), Some(key), None)
        .await
        .ok(200);
    page["items"].as_array().unwrap().clone()
}

fn names(page: &Value) -> Vec<String> {
    let mut v: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn search(api: &Api, key: &str, filter: Value) -> Value {
    let body = json!({"filter_groups": [{"filters": [filter]}]});
    api.call(
        "POST",
        "/v1/tenants/acme/customers/search",
        Some(key),
        Some(body),
    )
    .await
    .ok(200)
}

/// A select field: values checked on create and change, filtered on; a change that stored
/// customers break is refused with them, and nothing changes.
async fn a_defined_field_is_checked_on_every_write_and_filtered_on(backend: Backend) {
    let (api, key) = setup(backend).await;
    let tier = define(
        &api,
        &key,
        "customer",
        "tier",
        json!({"label": "Tier", "type": "select", "options": ["gold", "silver"]}),
    )
    .await;
    assert_eq!(
        (
            tier["key"].as_str(),
            tier["version"].as_u64(),
            tier["filterable"].as_bool()
        ),
        (Some("tier"), Some(1), Some(true))
    );
    let customers = "/v1/tenants/acme/customers";
    let bronze = json!({"name": "Bo", "attributes": {"tier": {"text": "bronze"}}});
    let p = api
        .call("POST", customers, Some(&key), Some(bronze.clone()))
        .await
        .problem(422, "invalid_input");
    assert_eq!(p["errors"][0]["field"], "attributes.tier", "{p}");
    assert!(
        p["errors"][0]["expected"]
            .as_str()
            .unwrap()
            .contains("gold, silver")
    );
    let wrong_type = json!({"name": "Bo", "attributes": {"tier": {"number": 1}}});
    api.call("POST", customers, Some(&key), Some(wrong_type))
        .await
        .problem(422, "invalid_input");
    let gold = api
        .customer(
            "acme",
            &key,
            json!({"name": "Gil", "attributes": {"tier": {"text": "gold"}}}),
        )
        .await;
    let plain = api.customer("acme", &key, json!({"name": "Pat"})).await;
    // A change of a stored customer is checked too (a batch upsert goes through the same).
    let path = format!("{customers}/{}", gold["id"].as_str().unwrap());
    api.call(
        "PATCH",
        &path,
        Some(&key),
        Some(json!({"set_attributes": {"tier": {"text": "tin"}}})),
    )
    .await
    .problem(422, "invalid_input");

    // Required: Pat has no tier, so the change is refused naming Pat, and the definition stays.
    let strict =
        json!({"label": "Tier", "type": "select", "options": ["gold", "silver"], "required": true});
    let p = api
        .call(
            "PUT",
            &format!("{FIELDS}/customer/tier"),
            Some(&key),
            Some(strict.clone()),
        )
        .await
        .problem(409, "field_conflicts_with_data");
    assert_eq!(p["errors"].as_array().unwrap().len(), 1, "{p}");
    assert!(
        p["errors"][0]["expected"]
            .as_str()
            .unwrap()
            .contains(plain["id"].as_str().unwrap()),
        "{p}"
    );
    let now = api
        .call("GET", &format!("{FIELDS}/customer/tier"), Some(&key), None)
        .await
        .ok(200);
    assert_eq!(now["required"], false);
    api.call("POST", customers, Some(&key), Some(json!({"name": "Nia"})))
        .await
        .ok(201);
    // Removing an option a customer holds is refused the same way.
    let p = api
        .call(
            "PUT",
            &format!("{FIELDS}/customer/tier"),
            Some(&key),
            Some(json!({"label": "Tier", "type": "select", "options": ["silver"]})),
        )
        .await
        .problem(409, "field_conflicts_with_data");
    assert!(
        p["errors"][0]["expected"]
            .as_str()
            .unwrap()
            .contains(gold["id"].as_str().unwrap())
    );
    // A label change needs no check; a stale If-Match is 412; the GET's answer goes back as is.
    let relabel = api
        .call(
            "PUT",
            &format!("{FIELDS}/customer/tier"),
            Some(&key),
            Some(
                json!({"label": "Customer tier", "type": "select", "options": ["gold", "silver"]}),
            ),
        )
        .await
        .ok(200);
    assert_eq!(relabel["label"], "Customer tier");
    let mut stale = relabel.clone();
    stale["version"] = json!(1);
    api.call(
        "PUT",
        &format!("{FIELDS}/customer/tier"),
        Some(&key),
        Some(stale),
    )
    .await
    .problem(412, "version_conflict");
    let same = api
        .call(
            "PUT",
            &format!("{FIELDS}/customer/tier"),
            Some(&key),
            Some(relabel.clone()),
        )
        .await
        .ok(200);
    assert_eq!(same, relabel);

    // Filters: eq, in, not_in, has_property; an unknown key or a value that is no option is 422.
    let eq = search(
        &api,
        &key,
        json!({"property": "attribute", "key": "tier", "operator": "eq", "value": "gold"}),
    )
    .await;
    assert_eq!(names(&eq), ["Gil"]);
    let not_in = search(
        &api,
        &key,
        json!({"property": "attribute", "key": "tier", "operator": "not_in", "values": ["gold"]}),
    )
    .await;
    assert_eq!(names(&not_in), ["Nia", "Pat"]);
    let get = api
        .call(
            "GET",
            "/v1/tenants/acme/customers?attribute=tier:gold",
            Some(&key),
            None,
        )
        .await
        .ok(200);
    assert_eq!(names(&get), ["Gil"]);
    api.call(
        "GET",
        "/v1/tenants/acme/customers?attribute=tier:tin",
        Some(&key),
        None,
    )
    .await
    .problem(400, "invalid_query");
    let has = search(
        &api,
        &key,
        json!({"property": "attribute", "key": "tier", "operator": "has_property"}),
    )
    .await;
    assert_eq!(names(&has), ["Gil"]);
    for (filter, field) in [
        (
            json!({"property": "attribute", "key": "nope", "operator": "eq", "value": "x"}),
            "filter_groups[0].filters[0].key",
        ),
        (
            json!({"property": "attribute", "operator": "eq", "value": "x"}),
            "filter_groups[0].filters[0].key",
        ),
        (
            json!({"property": "attribute", "key": "tier", "operator": "eq", "value": "tin"}),
            "filter_groups[0].filters[0].value",
        ),
        (
            json!({"property": "attribute", "key": "tier", "operator": "gte", "value": "gold"}),
            "filter_groups[0].filters[0].operator",
        ),
        (
            json!({"property": "tag", "key": "tier", "operator": "eq", "value": "x"}),
            "filter_groups[0].filters[0].key",
        ),
    ] {
        let body = json!({"filter_groups": [{"filters": [filter]}]});
        let p = api
            .call(
                "POST",
                "/v1/tenants/acme/customers/search",
                Some(&key),
                Some(body),
            )
            .await
            .problem(422, "invalid_input");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }

    // Removed (at the version read, or any): the values stay, as free-form attributes, and are
    // no longer checked.
    let tier = format!("{FIELDS}/customer/tier");
    api.call_with("DELETE", &tier, Some(&key), None, &[("if-match", "\"1\"")])
        .await
        .problem(412, "version_conflict");
    let version = format!("\"{}\"", same["version"]);
    api.call_with("DELETE", &tier, Some(&key), None, &[("if-match", &version)])
        .await
        .ok(204);
    api.call("DELETE", &tier, Some(&key), None).await.ok(204);
    api.call("POST", customers, Some(&key), Some(bronze))
        .await
        .ok(201);
    let list = api
        .call("GET", &format!("{FIELDS}/customer"), Some(&key), None)
        .await
        .ok(200);
    assert_eq!(list["items"], json!([]));
}

/// Number, date and multi-select fields, on customers and deals; ranges filter numbers.
async fn typed_fields_compare_by_their_type(backend: Backend) {
    let (api, key) = setup(backend).await;
    define(
        &api,
        &key,
        "customer",
        "employees",
        json!({"label": "Employees", "type": "number"}),
    )
    .await;
    define(
        &api,
        &key,
        "customer",
        "interests",
        json!({"label": "Interests", "type": "multi_select", "options": ["golf", "sailing", "chess"]}),
    )
    .await;
    for (name, n, interests) in [
        ("Small", 5.0, vec!["golf"]),
        ("Mid", 50.0, vec!["chess", "sailing"]),
        ("Big", 500.0, vec![]),
    ] {
        api.customer(
            "acme",
            &key,
            json!({"name": name, "attributes": {"employees": {"number": n}, "interests": {"list": interests}}}),
        )
        .await;
    }
    let twice = json!({"name": "X", "attributes": {"interests": {"list": ["golf", "golf"]}}});
    api.call(
        "POST",
        "/v1/tenants/acme/customers",
        Some(&key),
        Some(twice),
    )
    .await
    .problem(422, "invalid_input");
    let ge = search(
        &api,
        &key,
        json!({"property": "attribute", "key": "employees", "operator": "gte", "value": "50"}),
    )
    .await;
    assert_eq!(names(&ge), ["Big", "Mid"]);
    let lt = search(
        &api,
        &key,
        json!({"property": "attribute", "key": "employees", "operator": "lt", "value": "50"}),
    )
    .await;
    assert_eq!(names(&lt), ["Small"]);
    let sailing = search(
        &api,
        &key,
        json!({"property": "attribute", "key": "interests", "operator": "eq", "value": "sailing"}),
    )
    .await;
    assert_eq!(names(&sailing), ["Mid"]);
    let bad = json!({"filter_groups": [{"filters": [{"property": "attribute", "key": "employees", "operator": "gte", "value": "many"}]}]});
    api.call(
        "POST",
        "/v1/tenants/acme/customers/search",
        Some(&key),
        Some(bad),
    )
    .await
    .problem(422, "invalid_input");

    // Deals: a required date, checked when a deal is created.
    define(
        &api,
        &key,
        "deal",
        "signed",
        json!({"label": "Signed", "type": "date", "required": true}),
    )
    .await;
    let customer = api.customer("acme", &key, json!({"name": "Dee"})).await;
    let pipeline = api.pipeline("acme", &key, "Sales").await;
    let deal = |attributes: Value| {
        json!({
            "customer": customer["id"], "pipeline": pipeline["id"], "title": "Renewal",
            "amount": {"minor": 100, "currency": "EUR"}, "attributes": attributes,
        })
    };
    let p = api
        .call(
            "POST",
            "/v1/tenants/acme/deals",
            Some(&key),
            Some(deal(json!({}))),
        )
        .await
        .problem(422, "invalid_input");
    assert_eq!(p["errors"][0]["field"], "attributes.signed", "{p}");
    api.call(
        "POST",
        "/v1/tenants/acme/deals",
        Some(&key),
        Some(deal(json!({"signed": {"date": "2026-12-01"}}))),
    )
    .await
    .ok(201);

    // The deals list filters on a deal field: KEY:VALUE, of its type.
    define(
        &api,
        &key,
        "deal",
        "region",
        json!({"label": "Region", "type": "select", "options": ["emea", "apac"]}),
    )
    .await;
    for region in ["emea", "apac", "emea"] {
        let attrs = json!({"signed": {"date": "2026-12-02"}, "region": {"text": region}});
        api.call(
            "POST",
            "/v1/tenants/acme/deals",
            Some(&key),
            Some(deal(attrs)),
        )
        .await
        .ok(201);
    }
    let emea = listed(&api, &key, "deals?attribute=region:emea").await;
    assert_eq!(emea.len(), 2);
    assert!(
        emea.iter()
            .all(|d| d["attributes"]["region"]["text"] == "emea")
    );
    // The work queue too, on a work item field.
    define(
        &api,
        &key,
        "work_item",
        "severity",
        json!({"label": "Severity", "type": "select", "options": ["low", "high"]}),
    )
    .await;
    for severity in ["high", "low", "high"] {
        let task = json!({
            "customer": customer["id"], "channel": "email", "kind": "task",
            "attributes": {"severity": {"text": severity}},
        });
        api.call(
            "POST",
            "/v1/tenants/acme/interactions",
            Some(&key),
            Some(task),
        )
        .await
        .ok(201);
    }
    let high = listed(&api, &key, "work?attribute=severity:high").await;
    assert_eq!(high.len(), 2);
    assert!(
        high.iter()
            .all(|i| i["attributes"]["severity"]["text"] == "high")
    );
    let bad_task = json!({
        "customer": customer["id"], "channel": "email", "kind": "task",
        "attributes": {"severity": {"text": "meh"}},
    });
    api.call(
        "POST",
        "/v1/tenants/acme/interactions",
        Some(&key),
        Some(bad_task),
    )
    .await
    .problem(422, "invalid_input");
    api.call(
        "GET",
        "/v1/tenants/acme/work?attribute=severity:meh",
        Some(&key),
        None,
    )
    .await
    .problem(400, "invalid_query");
    for bad in ["region:mars", "nope:x", "region", "signed:yesterday"] {
        let p = api
            .call(
                "GET",
                &format!("/v1/tenants/acme/deals?attribute={bad}"),
                Some(&key),
                None,
            )
            .await
            .problem(400, "invalid_query");
        assert_eq!(p["errors"][0]["field"], "attribute", "{p}");
    }
}

/// Bad definitions are refused by field; only a key that writes the whole tenant may define;
/// an unknown object is 404.
async fn bad_definitions_are_refused_and_write_nothing(backend: Backend) {
    let (api, key) = setup(backend).await;
    let put = |field: &str, body: Value| {
        let path = format!("{FIELDS}/customer/{field}");
        let api = &api;
        let key = &key;
        async move { api.call("PUT", &path, Some(key), Some(body)).await }
    };
    for (field, body, error) in [
        ("Tier", json!({"label": "T", "type": "text"}), "key"),
        ("tier", json!({"label": "", "type": "text"}), "label"),
        ("tier", json!({"label": "T", "type": "select"}), "options"),
        (
            "tier",
            json!({"label": "T", "type": "select", "options": ["a", "a"]}),
            "options[1]",
        ),
        (
            "tier",
            json!({"label": "T", "type": "text", "options": ["a"]}),
            "options",
        ),
        (
            "tier",
            json!({"label": "T", "type": "multi_select", "options": ["a"], "unique": true}),
            "unique",
        ),
        (
            "tier",
            json!({"label": "T", "type": "multi_select", "options": ["a"], "sortable": true}),
            "sortable",
        ),
        (
            "tier",
            json!({"label": "T", "type": "text", "key": "other"}),
            "key",
        ),
    ] {
        let p = put(field, body).await.problem(422, "invalid_input");
        assert_eq!(p["errors"][0]["field"], error, "{p}");
    }
    let many: Vec<String> = (0..101).map(|i| format!("o{i}")).collect();
    put(
        "tier",
        json!({"label": "T", "type": "select", "options": many}),
    )
    .await
    .problem(422, "invalid_input");
    put("tier", json!({"label": "T", "type": "colour"}))
        .await
        .problem(400, "invalid_body");
    api.call(
        "PUT",
        "/v1/tenants/acme/fields/invoice/x",
        Some(&key),
        Some(json!({"label": "T", "type": "text"})),
    )
    .await
    .problem(404, "not_found");
    let read_only = api.key("acme", true).await;
    api.call(
        "PUT",
        &format!("{FIELDS}/customer/tier"),
        Some(&read_only),
        Some(json!({"label": "T", "type": "text"})),
    )
    .await
    .problem(403, "read_only_token");
    let list = api
        .call("GET", &format!("{FIELDS}/customer"), Some(&read_only), None)
        .await
        .ok(200);
    assert_eq!(list["items"], json!([]));
    api.call("GET", &format!("{FIELDS}/customer/tier"), Some(&key), None)
        .await
        .problem(404, "not_found");
    // At most 100 per object (deals count on their own).
    for i in 0..100 {
        put(&format!("f{i}"), json!({"label": "F", "type": "boolean"}))
            .await
            .ok(201);
    }
    let p = put("f100", json!({"label": "F", "type": "boolean"}))
        .await
        .problem(422, "invalid_input");
    assert!(p["detail"].as_str().unwrap().contains("at most 100"), "{p}");
    put("f0", json!({"label": "Changed", "type": "boolean"}))
        .await
        .ok(200);
    api.call(
        "PUT",
        &format!("{FIELDS}/deal/f100"),
        Some(&key),
        Some(json!({"label": "F", "type": "boolean"})),
    )
    .await
    .ok(201);
}

/// The names of the customers with a score, in its order, two per page.
async fn sorted_by_score(api: &Api, key: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut body = json!({"sort_field": "score", "limit": 2, "fields": ["name"]});
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let page = api
            .call(
                "POST",
                "/v1/tenants/acme/customers/search",
                Some(key),
                Some(body),
            )
            .await
            .ok(200);
        let items = page["items"].as_array().unwrap();
        names.extend(items.iter().map(|c| c["name"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return names,
        }
    }
}

/// A unique field refuses a value another customer holds (stored data with duplicates refuses
/// the definition); a sortable field lists customers in its order, pages and all, and its index
/// follows every change, erasure and redefinition.
async fn unique_and_sortable_fields_keep_an_index(backend: Backend) {
    let (api, key) = setup(backend).await;
    let customers = "/v1/tenants/acme/customers";
    let with = |name: &str, attrs: Value| json!({"name": name, "attributes": attrs});
    let a = api
        .customer("acme", &key, with("A", json!({"code": {"text": "X1"}})))
        .await;
    let b = api
        .customer("acme", &key, with("B", json!({"code": {"text": "X1"}})))
        .await;
    api.customer("acme", &key, with("C", json!({"code": {"text": "X2"}})))
        .await;
    let code = json!({"label": "Code", "type": "text", "unique": true});
    let p = api
        .call(
            "PUT",
            &format!("{FIELDS}/customer/code"),
            Some(&key),
            Some(code.clone()),
        )
        .await
        .problem(409, "field_conflicts_with_data");
    assert!(
        p["errors"][0]["expected"]
            .as_str()
            .unwrap()
            .contains("no other record holds"),
        "{p}"
    );
    api.call("GET", &format!("{FIELDS}/customer/code"), Some(&key), None)
        .await
        .problem(404, "not_found");
    let b_path = format!("{customers}/{}", b["id"].as_str().unwrap());
    api.call(
        "PATCH",
        &b_path,
        Some(&key),
        Some(json!({"set_attributes": {"code": {"text": "X3"}}})),
    )
    .await
    .ok(200);
    define(&api, &key, "customer", "code", code).await;
    let p = api
        .call(
            "POST",
            customers,
            Some(&key),
            Some(with("D", json!({"code": {"text": "X1"}}))),
        )
        .await
        .problem(409, "duplicate");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains(a["id"].as_str().unwrap()),
        "{p}"
    );
    // A holder that lets go of a value frees it; so does an erased one.
    let a_path = format!("{customers}/{}", a["id"].as_str().unwrap());
    api.call(
        "PATCH",
        &a_path,
        Some(&key),
        Some(json!({"set_attributes": {"code": {"text": "X9"}}})),
    )
    .await
    .ok(200);
    api.customer("acme", &key, with("D", json!({"code": {"text": "X1"}})))
        .await;
    // An indexed text fits a B-tree row: a long one is refused by field, not by the store.
    let long = with("L", json!({"code": {"text": "é".repeat(2000)}}));
    let p = api
        .call("POST", customers, Some(&key), Some(long))
        .await
        .problem(422, "invalid_input");
    assert_eq!(p["errors"][0]["field"], "attributes.code", "{p}");
    api.call(
        "POST",
        customers,
        Some(&key),
        Some(with("E", json!({"code": {"text": "X9"}}))),
    )
    .await
    .problem(409, "duplicate");
    api.call("DELETE", &a_path, Some(&key), None).await.ok(204);
    api.customer("acme", &key, with("E", json!({"code": {"text": "X9"}})))
        .await;

    // Sortable: customers with a value, in its order, paged.
    for (name, score) in [("S5", json!(5)), ("Sm1", json!(-1)), ("S35", json!(3.5))] {
        api.customer(
            "acme",
            &key,
            with(name, json!({"score": {"number": score}})),
        )
        .await;
    }
    define(
        &api,
        &key,
        "customer",
        "score",
        json!({"label": "Score", "type": "number", "sortable": true}),
    )
    .await;
    api.customer("acme", &key, with("S0", json!({"score": {"number": 0}})))
        .await;
    assert_eq!(
        sorted_by_score(&api, &key).await,
        ["Sm1", "S0", "S35", "S5"]
    );
    // A change moves a customer in the order.
    let s5 = api
        .call("GET", &format!("{customers}?q=S5"), Some(&key), None)
        .await
        .ok(200)["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.call(
        "PATCH",
        &format!("{customers}/{s5}"),
        Some(&key),
        Some(json!({"set_attributes": {"score": {"number": -7}}})),
    )
    .await
    .ok(200);
    assert_eq!(
        sorted_by_score(&api, &key).await,
        ["S5", "Sm1", "S0", "S35"]
    );
    // A redefinition the data refuses puts the old one back, its index rebuilt.
    api.call(
        "PUT",
        &format!("{FIELDS}/customer/score"),
        Some(&key),
        Some(json!({"label": "Score", "type": "text", "sortable": true})),
    )
    .await
    .problem(409, "field_conflicts_with_data");
    assert_eq!(
        sorted_by_score(&api, &key).await,
        ["S5", "Sm1", "S0", "S35"]
    );
    for (body, field) in [
        (json!({"sort_field": "score", "sort": "name"}), "sort_field"),
        (json!({"sort_field": "code"}), "sort_field"),
        (json!({"sort_field": "nope"}), "sort_field"),
    ] {
        let p = api
            .call(
                "POST",
                "/v1/tenants/acme/customers/search",
                Some(&key),
                Some(body),
            )
            .await
            .problem(422, "invalid_input");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    // Turning unique a sortable field two customers share a value of is refused; the order
    // stays.
    api.customer("acme", &key, with("S5b", json!({"score": {"number": 3.5}})))
        .await;
    let p = api
        .call(
            "PUT",
            &format!("{FIELDS}/customer/score"),
            Some(&key),
            Some(json!({"label": "Score", "type": "number", "sortable": true, "unique": true})),
        )
        .await
        .problem(409, "field_conflicts_with_data");
    assert!(
        p["errors"][0]["expected"]
            .as_str()
            .unwrap()
            .contains("no other record holds"),
        "{p}"
    );
    assert_eq!(
        sorted_by_score(&api, &key).await,
        ["S5", "Sm1", "S0", "S35", "S5b"]
    );
    // No longer sortable: its index is gone and the order is refused.
    api.call(
        "PUT",
        &format!("{FIELDS}/customer/score"),
        Some(&key),
        Some(json!({"label": "Score", "type": "number"})),
    )
    .await
    .ok(200);
    api.call(
        "POST",
        "/v1/tenants/acme/customers/search",
        Some(&key),
        Some(json!({"sort_field": "score"})),
    )
    .await
    .problem(422, "invalid_input");
}

on_both_backends! {
    unique_and_sortable_fields_keep_an_index,
    a_defined_field_is_checked_on_every_write_and_filtered_on,
    typed_fields_compare_by_their_type,
    bad_definitions_are_refused_and_write_nothing,
}
