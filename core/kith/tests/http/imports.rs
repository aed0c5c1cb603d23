//! CSV imports into a running server: a job per upload, its progress and row errors, a dry run,
//! the interactions of imported customers, and the bounds on what an upload may be.

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};

use super::http_support::{Api, Backend, on_both_backends};

const CUSTOMERS: &str = include_str!("../../../../examples/customers.csv");
const INTERACTIONS: &str = include_str!("../../../../examples/interactions.csv");

async fn upload(
    api: &Api,
    key: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> super::http_support::Resp {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", content_type)
        .body(Body::from(body.to_owned()))
        .unwrap();
    api.send(req).await
}

/// Starts an import and waits (long-poll) until it ends; returns the finished job.
async fn import(api: &Api, key: &str, kind: &str, query: &str, csv: &str) -> Value {
    let r = upload(
        api,
        key,
        &format!("/v1/tenants/acme/{kind}/import{query}"),
        "text/csv",
        csv,
    )
    .await;
    let job = r.ok(202);
    assert_eq!(job["status"], "running", "{job}");
    let location = r.header("location").unwrap().to_owned();
    assert_eq!(
        location,
        format!("/v1/tenants/acme/imports/{}", job["id"].as_str().unwrap())
    );
    let done = api
        .call("GET", &format!("{location}?wait=60"), Some(key), None)
        .await
        .ok(200);
    assert_ne!(
        done["status"], "running",
        "the long-poll ended before the job: {done}"
    );
    done
}

async fn customers(api: &Api, key: &str) -> Vec<Value> {
    api.call(
        "GET",
        "/v1/tenants/acme/customers?limit=100",
        Some(key),
        None,
    )
    .await
    .ok(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn a_csv_upload_imports_as_a_job_with_its_row_report(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;

    // A dry run validates every row and writes nothing.
    let dry = import(&api, &key, "customers", "?dry_run=true", CUSTOMERS).await;
    assert_eq!(dry["status"], "done", "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert!(customers(&api, &key).await.is_empty(), "a dry run wrote");

    // A bad row is reported with its line and column, and the good rows are imported.
    let csv = format!("{CUSTOMERS}Bad,Row,not-an-email,,,,,,,\n");
    let job = import(&api, &key, "customers", "", &csv).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["rejected"], 1);
    let lines = CUSTOMERS.lines().count() as u64 + 1;
    assert_eq!(job["errors"][0]["line"], lines, "{job}");
    assert_eq!(job["errors"][0]["column"], "Email");
    assert_eq!(job["bytes_read"], job["bytes_total"]);
    assert!(
        job["summary"].as_str().unwrap().contains("imported"),
        "{job}"
    );
    let imported = customers(&api, &key).await;
    let mut emails: Vec<&str> = imported
        .iter()
        .filter_map(|c| c["email"].as_str())
        .collect();
    emails.sort_unstable();
    assert!(
        emails.contains(&"ada@example.com") && emails.contains(&"grace@example.com"),
        "{emails:?}"
    );

    // Interactions find their customers by email.
    let job = import(&api, &key, "interactions", "", INTERACTIONS).await;
    assert_eq!(
        (job["status"].as_str(), job["rejected"].as_u64()),
        (Some("done"), Some(0)),
        "{job}"
    );
    let ada = imported
        .iter()
        .find(|c| c["email"] == "ada@example.com")
        .unwrap();
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
    assert!(!timeline["items"].as_array().unwrap().is_empty());

    // A header that cannot be mapped fails the job, naming the problem; nothing is written.
    let before = customers(&api, &key).await.len();
    let job = import(
        &api,
        &key,
        "customers",
        "?map=Email=nonsense",
        "Email\nx@example.com\n",
    )
    .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("nonsense"), "{job}");
    assert_eq!(customers(&api, &key).await.len(), before);

    // The list, newest first; another tenant sees none of it.
    let list = api
        .call("GET", "/v1/tenants/acme/imports", Some(&key), None)
        .await
        .ok(200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["id"], job["id"]);
    api.tenant("beta").await;
    let beta = api.key("beta", false).await;
    api.call(
        "GET",
        &format!("/v1/tenants/beta/imports/{}", job["id"].as_str().unwrap()),
        Some(&beta),
        None,
    )
    .await
    .problem(404, "not_found");
    let read_only = api.key("acme", true).await;
    upload(
        &api,
        &read_only,
        "/v1/tenants/acme/customers/import",
        "text/csv",
        CUSTOMERS,
    )
    .await
    .problem(403, "read_only_token");
}

/// What an upload may not be: another media type, bigger than the limit, a bad query.
async fn an_upload_that_breaks_a_bound_is_refused_and_writes_nothing(backend: Backend) {
    let config = kith::http::HttpConfig {
        import_limit: 100,
        ..Default::default()
    };
    let api = Api::on_with_config(backend, config);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let path = "/v1/tenants/acme/customers/import";
    upload(&api, &key, path, "application/json", "[]")
        .await
        .problem(415, "unsupported_media_type");
    upload(&api, &key, path, "text/csv", CUSTOMERS)
        .await
        .problem(413, "payload_too_large");
    // Without a declared length, the limit is met while reading.
    let chunks = futures_util::stream::iter(
        CUSTOMERS
            .as_bytes()
            .chunks(32)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "text/csv")
        .body(Body::from_stream(chunks))
        .unwrap();
    api.send(req).await.problem(413, "payload_too_large");
    upload(
        &api,
        &key,
        &format!("{path}?dry_run=maybe"),
        "text/csv",
        "Email\n",
    )
    .await
    .problem(400, "invalid_query");
    let many = vec!["a=ignore"; 201].join(",");
    upload(
        &api,
        &key,
        &format!("{path}?map={many}"),
        "text/csv",
        "Email\n",
    )
    .await
    .problem(400, "invalid_query");
    let list = api
        .call("GET", "/v1/tenants/acme/imports", Some(&key), None)
        .await
        .ok(200);
    assert_eq!(list["items"], json!([]), "a refused upload left a job");
    assert!(customers(&api, &key).await.is_empty());
}

/// `attr.` cells are read as their custom field's type and checked as a write would be (a dry
/// run too); `consent:CHANNEL:PURPOSE` columns record consent with the source `import`.
async fn typed_attribute_and_consent_columns_import_as_their_definitions_say(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    for (field, body) in [
        ("seats", json!({"label": "Seats", "type": "number"})),
        ("renewal", json!({"label": "Renewal", "type": "date"})),
        ("arr", json!({"label": "ARR", "type": "money"})),
        (
            "topics",
            json!({"label": "Topics", "type": "multi_select", "options": ["billing", "api"]}),
        ),
        (
            "tier",
            json!({"label": "Tier", "type": "select", "options": ["gold"], "required": true}),
        ),
    ] {
        api.call(
            "PUT",
            &format!("/v1/tenants/acme/fields/customer/{field}"),
            Some(&key),
            Some(body),
        )
        .await
        .ok(201);
    }
    let csv = "name,attr.seats,attr.renewal,attr.arr,attr.topics,attr.tier,consent:email:newsletter,consent:sms:alerts\n\
               Ada,12,2027-01-31,1200.50 EUR,billing;api,gold,yes,no\n\
               Bob,twelve,2027-01-31,,,gold,,\n\
               Cy,3,,,,silver,,\n\
               Di,3,,,,,maybe,\n";
    let dry = import(&api, &key, "customers", "?dry_run=true", csv).await;
    assert_eq!(dry["rejected"], 3, "{dry}");
    let job = import(&api, &key, "customers", "", csv).await;
    assert_eq!(job["rejected"], 3, "{job}");
    assert!(
        job["summary"]
            .as_str()
            .unwrap()
            .starts_with("imported 1 customer;"),
        "{job}"
    );
    let columns: Vec<&str> = job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["column"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["attr.seats", "attr.tier", "consent:email:newsletter"],
        "{job}"
    );
    let all = customers(&api, &key).await;
    assert_eq!(all.len(), 1);
    let ada = &all[0];
    assert_eq!(ada["attributes"]["seats"], json!({"number": 12.0}));
    assert_eq!(ada["attributes"]["renewal"], json!({"date": "2027-01-31"}));
    assert_eq!(ada["attributes"]["arr"]["money"]["minor"], 120050);
    assert_eq!(
        ada["attributes"]["topics"],
        json!({"list": ["billing", "api"]})
    );
    let consents = ada["consents"].as_array().unwrap();
    assert_eq!(consents.len(), 2, "{ada}");
    assert!(consents.iter().all(|c| c["source"] == "import"), "{ada}");
    assert_eq!(consents[0]["channel"], "email");
    assert_eq!(consents[0]["status"], "granted");
    assert_eq!(consents[1]["status"], "withdrawn");
}

/// JSON Lines: each line a record in the API's shape, upserted (customers) or logged
/// (interactions); bad lines are reported by number and field, an export's lines of other types
/// are skipped, a line past 1 MiB is refused without stopping the rest, a dry run writes nothing.
async fn json_lines_import_as_records_of_the_api(backend: Backend) {
    let api = Api::on(backend);
    api.tenant("acme").await;
    let key = api.key("acme", false).await;
    let ada = api
        .customer(
            "acme",
            &key,
            json!({"name": "Ada", "email": "ada@example.com"}),
        )
        .await;
    let lines = [
        r#"{"email": "ada@example.com", "tags": ["vip"]}"#.to_owned(),
        r#"{"name": "Bob", "phone": "+44 20 7946 0000"}"#.to_owned(),
        String::new(),
        "not json".to_owned(),
        r#"["an", "array"]"#.to_owned(),
        r#"{"name": "Cy", "tags": 5}"#.to_owned(),
        r#"{"name": "Di", "email": "not-an-email"}"#.to_owned(),
        r#"{"type": "pipeline", "name": "Sales"}"#.to_owned(),
        r#"{"type": "customer", "name": "Eve", "consents": [{"channel": "email", "purpose": "news", "status": "granted"}]}"#.to_owned(),
        format!(r#"{{"name": "{}"}}"#, "x".repeat(1024 * 1024 + 10)),
        r#"{"name": "Fay"}"#.to_owned(),
    ];
    let body = lines.join("\n") + "\n";
    let import_lines = |query: &str, body: String| {
        let path = format!("/v1/tenants/acme/customers/import{query}");
        let (api, key) = (&api, &key);
        async move {
            let r = upload(api, key, &path, "application/x-ndjson", &body).await;
            let job = r.ok(202);
            let location = r.header("location").unwrap().to_owned();
            let done = api
                .call("GET", &format!("{location}?wait=60"), Some(key), None)
                .await
                .ok(200);
            assert_eq!(done["status"], "done", "{job} {done}");
            done
        }
    };
    let dry = import_lines("?dry_run=true", body.clone()).await;
    assert_eq!(
        customers(&api, &key).await.len(),
        1,
        "a dry run wrote: {dry}"
    );
    let job = import_lines("", body).await;
    // Shape errors are found as lines are read, the store's as each batch is written.
    let mut errors: Vec<(u64, Option<&str>)> = job["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_str()))
        .collect();
    errors.sort_unstable();
    assert_eq!(
        errors,
        [
            (4, None),
            (5, None),
            (6, Some("tags")),
            (7, Some("email")),
            (10, None)
        ],
        "{job}"
    );
    assert_eq!(job["rejected"], 5);
    let summary = job["summary"].as_str().unwrap();
    assert!(
        summary
            .starts_with("imported 4 customers; 5 lines rejected; 1 line of other types skipped"),
        "{summary}"
    );
    let all = customers(&api, &key).await;
    let mut names: Vec<&str> = all.iter().map(|c| c["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Ada", "Bob", "Eve", "Fay"]);
    let ada_now = all.iter().find(|c| c["id"] == ada["id"]).unwrap();
    assert_eq!(
        ada_now["tags"],
        json!(["vip"]),
        "matched by email and changed"
    );
    let eve = all.iter().find(|c| c["name"] == "Eve").unwrap();
    assert_eq!(eve["consents"][0]["source"], "import");
    // Running it again changes nothing.
    let again = import_lines("", lines[..2].join("\n")).await;
    assert_eq!(customers(&api, &key).await.len(), 4, "{again}");

    // Interactions: each line as POST .../interactions takes it.
    let bob = all.iter().find(|c| c["name"] == "Bob").unwrap();
    let body = format!(
        "{}\n{}\n",
        json!({"customer": bob["id"], "channel": "email", "kind": "note", "subject": "hello"}),
        json!({"customer": bob["id"], "channel": "pigeon", "kind": "note"}),
    );
    let r = upload(
        &api,
        &key,
        "/v1/tenants/acme/interactions/import",
        "application/x-ndjson",
        &body,
    )
    .await;
    let location = r.header("location").unwrap().to_owned();
    let done = api
        .call("GET", &format!("{location}?wait=60"), Some(&key), None)
        .await
        .ok(200);
    assert_eq!(done["rejected"], 1, "{done}");
    assert_eq!(done["errors"][0]["line"], 2);
    // A column map means nothing to JSON Lines.
    upload(
        &api,
        &key,
        "/v1/tenants/acme/customers/import?map=a=b",
        "application/x-ndjson",
        "{}",
    )
    .await
    .problem(400, "invalid_query");
}

on_both_backends! {
    json_lines_import_as_records_of_the_api,
    typed_attribute_and_consent_columns_import_as_their_definitions_say,
    a_csv_upload_imports_as_a_job_with_its_row_report,
    an_upload_that_breaks_a_bound_is_refused_and_writes_nothing,
}
