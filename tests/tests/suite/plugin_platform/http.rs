//! The plugin routes through the router (`tower::ServiceExt::oneshot`) with real components:
//! the registry, a tenant's plugins, dry runs, rescore jobs, segments, scores, commerce webhooks,
//! metrics, every error path, and tenant isolation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::http_support::{Api, Backend, Resp, on_both_backends};
use axum::body::Body;
use axum::http::{Method, Request};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use kith::http::HttpConfig;
use kith::model::TenantSlug;
use kith::service::plugins::{HostConfig, PluginHost};
use kith_tests::plugins;
use serde_json::{Value, json};
use sha2::Sha256;

const WAIT: Duration = Duration::from_secs(60);
const SECRET: &str = "shpss_http_secret";

struct World {
    api: Api,
    host: Arc<PluginHost>,
    acme: String,
    globex: String,
}

async fn world_with(backend: Backend, config: HttpConfig) -> World {
    world_hosted(backend, config, HostConfig::default()).await
}

async fn world_hosted(backend: Backend, config: HttpConfig, host: HostConfig) -> World {
    let api = Api::on_with_config(backend, config);
    let host = PluginHost::open(api.store.clone(), host).unwrap();
    let _ = api.state.clone().with_plugins(Arc::clone(&host));
    api.tenant("acme").await;
    api.tenant("globex").await;
    let acme = api.key("acme", false).await;
    let globex = api.key("globex", false).await;
    World {
        api,
        host,
        acme,
        globex,
    }
}

async fn world(backend: Backend) -> World {
    world_with(backend, HttpConfig::default()).await
}

fn wasm(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

impl World {
    async fn upload_as(&self, token: &str, bytes: Vec<u8>, content_type: &str) -> Resp {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/v1/plugins?wait=60")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type)
            .body(Body::from(bytes))
            .unwrap();
        self.api.send(req).await
    }

    async fn upload(&self, path: &str) -> Value {
        let r = self
            .upload_as(&self.api.admin, wasm(path), "application/wasm")
            .await;
        assert!(r.status == 201 || r.status == 200, "{}", r.text);
        r.json()
    }

    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.api.call(method, path, Some(token), body).await
    }

    /// The acme tenant's status of `plugin` (must be 200).
    async fn plugin_status(&self, plugin: &str) -> Value {
        let path = format!("/v1/tenants/acme/plugins/{plugin}");
        self.call("GET", &path, &self.acme, None).await.ok(200)
    }

    /// Enables `plugin` for acme and waits for its rescore job.
    async fn enable(&self, plugin: &str, config: Value) -> Value {
        let r = self
            .call(
                "POST",
                "/v1/tenants/acme/plugins",
                &self.acme,
                Some(json!({ "plugin": plugin, "config": config })),
            )
            .await
            .ok(201);
        if let Some(id) = r["job"]["id"].as_u64() {
            let job = self
                .host
                .wait_for_job(&TenantSlug::parse("acme").unwrap(), id, WAIT)
                .unwrap();
            assert_eq!(format!("{:?}", job.state), "Done", "{job:?}");
        }
        r
    }

    /// A customer with `purchases` purchases of `amount` minor units each; returns its id.
    async fn buyer(&self, email: &str, purchases: usize, amount: i64) -> String {
        let c = self
            .api
            .customer("acme", &self.acme, json!({ "email": email, "name": email }))
            .await;
        let id = c["id"].as_str().unwrap().to_owned();
        for _ in 0..purchases {
            self.call(
                "POST",
                "/v1/tenants/acme/interactions",
                &self.acme,
                Some(json!({
                    "customer": id, "channel": "e-commerce", "kind": "purchase",
                    "amount": { "minor": amount, "currency": "EUR" }
                })),
            )
            .await
            .ok(201);
        }
        id
    }

    fn head(&self, tenant: &str) -> u64 {
        self.api
            .store
            .last_seq(&TenantSlug::parse(tenant).unwrap())
            .unwrap()
    }
}

/// A world with shopify-orders enabled for acme, Shopify's orders/create fixture and its
/// signature.
async fn shopify_world(backend: Backend) -> (World, Vec<u8>, String) {
    let w = world(backend).await;
    w.upload(plugins::SHOPIFY_ORDERS).await;
    w.enable("kith.shopify-orders", json!({ "secret": SECRET }))
        .await;
    let body = fixture("orders-create.json");
    let good = sign(&body, SECRET);
    (w, body, good)
}

/// The purchases on a timeline page.
fn purchases(timeline: &Value) -> usize {
    timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "purchase")
        .count()
}

/// The acme customers with `email` (a page), and the first one's timeline.
async fn customer_and_timeline(w: &World, email: &str) -> (Value, Value) {
    let found = w
        .call(
            "GET",
            &format!("/v1/tenants/acme/customers?email={email}"),
            &w.acme,
            None,
        )
        .await
        .ok(200);
    let customer = found["items"][0]["id"].as_str().unwrap().to_owned();
    let timeline = w
        .call(
            "GET",
            &format!("/v1/tenants/acme/customers/{customer}/timeline"),
            &w.acme,
            None,
        )
        .await
        .ok(200);
    (found, timeline)
}

fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

/// A Shopify delivery as Shopify sends it: raw body, HMAC header, topic and webhook id.
fn shopify(topic: &str, delivery: &str, body: &[u8], signature: &str) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri("/v1/tenants/acme/hooks/kith.shopify-orders")
        .header("content-type", "application/json")
        .header("x-shopify-topic", topic)
        .header("x-shopify-hmac-sha256", signature)
        .header("x-shopify-webhook-id", delivery)
        .header("x-shopify-shop-domain", "acme.myshopify.com")
        .body(Body::from(body.to_vec()))
        .unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/data/commerce/shopify/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn the_registry_installs_lists_shows_and_uninstalls_components(backend: Backend) {
    let w = world(backend).await;
    let first = w
        .upload_as(&w.api.admin, wasm(plugins::RFM_SCORER), "application/wasm")
        .await
        .ok(201);
    let hash = first["hash"].as_str().unwrap().to_owned();
    assert_eq!(first["id"], "kith.rfm");
    assert_eq!(first["capability"], "scorer");
    assert_eq!(first["manifest"]["id"], "kith.rfm");
    // The same bytes again: idempotent.
    let again = w
        .upload_as(&w.api.admin, wasm(plugins::RFM_SCORER), "application/wasm")
        .await;
    assert_eq!(again.ok(200)["hash"], hash.as_str());
    w.upload(plugins::RFM_SEGMENTS).await;

    let page = w
        .call("GET", "/v1/plugins?limit=1", &w.api.admin, None)
        .await
        .ok(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = w
        .call(
            "GET",
            &format!("/v1/plugins?limit=5&cursor={cursor}"),
            &w.api.admin,
            None,
        )
        .await
        .ok(200);
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["kith.rfm", "kith.rfm-segments"]);
    assert!(rest["next_cursor"].is_null());

    let got = w
        .call("GET", &format!("/v1/plugins/{hash}"), &w.api.admin, None)
        .await
        .ok(200);
    assert_eq!(got["version"], first["version"]);

    // In use: refused; disabled: removed.
    w.enable("kith.rfm", json!({})).await;
    w.call("DELETE", &format!("/v1/plugins/{hash}"), &w.api.admin, None)
        .await
        .problem(409, "plugin_in_use");
    w.call("DELETE", "/v1/tenants/acme/plugins/kith.rfm", &w.acme, None)
        .await
        .ok(204);
    w.call("DELETE", &format!("/v1/plugins/{hash}"), &w.api.admin, None)
        .await
        .ok(204);
    w.call("GET", &format!("/v1/plugins/{hash}"), &w.api.admin, None)
        .await
        .problem(404, "not_found");
}

/// Without `wait`, new bytes answer 202 with an install job that ends `ready` (the plugin is
/// then listed) or `failed` with the problem a synchronous install gives; the same bytes again
/// answer 200 at once.
async fn installs_are_jobs_that_end_ready_or_failed(backend: Backend) {
    let w = world(backend).await;
    let admin = w.api.admin.clone();
    let send = |bytes: Vec<u8>| {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/v1/plugins")
            .header("authorization", format!("Bearer {admin}"))
            .header("content-type", "application/wasm")
            .body(Body::from(bytes))
            .unwrap();
        w.api.send(req)
    };
    let accepted = send(wasm(plugins::TRIVIAL_SCORER)).await;
    let job = accepted.ok(202);
    let hash = job["hash"].as_str().unwrap().to_owned();
    assert_eq!(hash.len(), 64, "{job}");
    assert!(
        ["compiling", "ready"].contains(&job["state"].as_str().unwrap()),
        "{job}"
    );
    let location = format!("/v1/plugins/installs/{hash}");
    assert_eq!(accepted.header("location"), Some(location.as_str()));
    let done = w
        .call("GET", &format!("{location}?wait=60"), &admin, None)
        .await
        .ok(200);
    assert_eq!(done["state"], "ready", "{done}");
    assert_eq!(done["plugin"]["id"], "kith.test.trivial", "{done}");
    assert!(done["finished_at"].is_string(), "{done}");
    // Installed: the same bytes are answered at once, and the plugin is listed.
    let again = send(wasm(plugins::TRIVIAL_SCORER)).await.ok(200);
    assert_eq!(again["hash"], json!(hash));
    let list = w.call("GET", "/v1/plugins", &admin, None).await.ok(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");

    // A component that is not one fails in its job, with the synchronous answer's problem.
    let junk = send(b"\0asm\x0d\0\x01\0 and then junk".to_vec())
        .await
        .ok(202);
    let junk_hash = junk["hash"].as_str().unwrap();
    let failed = w
        .call(
            "GET",
            &format!("/v1/plugins/installs/{junk_hash}?wait=60"),
            &admin,
            None,
        )
        .await
        .ok(200);
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["error"]["status"], 422, "{failed}");
    assert!(failed.get("plugin").is_none(), "{failed}");
    let list = w.call("GET", "/v1/plugins", &admin, None).await.ok(200);
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing more installed"
    );

    // Unknown installs are 404; install jobs are the admin's.
    w.call(
        "GET",
        &format!("/v1/plugins/installs/{}", "0".repeat(64)),
        &admin,
        None,
    )
    .await
    .problem(404, "not_found");
    w.call("GET", &location, &w.acme, None)
        .await
        .problem(403, "admin_required");
}

async fn uploads_of_anything_but_a_plugin_are_refused_clearly(backend: Backend) {
    let w = world_with(
        backend,
        HttpConfig {
            plugin_limit: 64 * 1024,
            ..HttpConfig::default()
        },
    )
    .await;
    let admin = w.api.admin.clone();
    w.upload_as(&admin, b"not wasm at all".to_vec(), "application/wasm")
        .await
        .problem(422, "not_a_component");
    w.upload_as(&admin, wasm(plugins::TRIVIAL_SCORER), "application/json")
        .await
        .problem(415, "unsupported_media_type");
    let big = w
        .upload_as(&admin, vec![0u8; 64 * 1024 + 1], "application/wasm")
        .await
        .problem(413, "payload_too_large");
    assert!(big["detail"].as_str().unwrap().contains("65536"), "{big}");
    // Only admins manage the registry.
    w.upload_as(&w.acme, wasm(plugins::TRIVIAL_SCORER), "application/wasm")
        .await
        .problem(403, "admin_required");
    let anonymous = Request::builder()
        .method(Method::POST)
        .uri("/v1/plugins")
        .header("content-type", "application/wasm")
        .body(Body::from(wasm(plugins::TRIVIAL_SCORER)))
        .unwrap();
    w.api.send(anonymous).await.problem(401, "unauthorized");
    // Any token reads the catalogue (tenants enable from it); only admins change it.
    let list = w.call("GET", "/v1/plugins", &w.acme, None).await.ok(200);
    assert_eq!(list["items"], json!([]), "nothing was installed");
    let list = w.call("GET", "/v1/plugins", &admin, None).await.ok(200);
    assert_eq!(list["items"], json!([]), "nothing was installed");
}

async fn enabling_scores_customers_and_the_scores_are_searchable(backend: Backend) {
    let w = world(backend).await;
    let big = w.buyer("big@example.com", 6, 90_000).await;
    let mid = w.buyer("mid@example.com", 3, 20_000).await;
    let small = w.buyer("small@example.com", 1, 1_000).await;
    w.upload(plugins::RFM_SCORER).await;
    let enabled = w.enable("kith.rfm", json!({})).await;
    assert_eq!(enabled["status"]["enablement"]["plugin"], "kith.rfm");
    assert!(enabled["job"]["id"].is_u64(), "{enabled}");

    // A customer's scores, with reasons.
    let s = w
        .call(
            "GET",
            &format!("/v1/tenants/acme/customers/{big}/scores"),
            &w.acme,
            None,
        )
        .await
        .ok(200);
    let score = &s["scores"][0];
    assert_eq!(score["producer"]["plugin"], "kith.rfm");
    assert!(!score["reasons"].as_array().unwrap().is_empty(), "{s}");

    // The leaderboard: highest first, and within a range.
    let board = w
        .call("GET", "/v1/tenants/acme/scores/kith.rfm", &w.acme, None)
        .await
        .ok(200);
    let order: Vec<&str> = board["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["customer"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [big.as_str(), mid.as_str(), small.as_str()],
        "{board}"
    );
    let top = board["items"][0]["score"].as_f64().unwrap();
    let low = board["items"][2]["score"].as_f64().unwrap();
    let ranged = w
        .call(
            "GET",
            &format!(
                "/v1/tenants/acme/scores/kith.rfm?min={}&max={}",
                low + 0.001,
                top - 0.001
            ),
            &w.acme,
            None,
        )
        .await
        .ok(200);
    let ids: Vec<&str> = ranged["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["customer"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mid.as_str()], "{ranged}");

    // Customer search by score, sorted by it, paged.
    let first = w
        .call(
            "GET",
            "/v1/tenants/acme/customers?score=kith.rfm&limit=2",
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(first["items"][0]["email"], "big@example.com");
    assert_eq!(first["items"][0]["score"]["producer"]["plugin"], "kith.rfm");
    let next = first["next_cursor"].as_str().unwrap();
    let second = w
        .call(
            "GET",
            &format!("/v1/tenants/acme/customers?score=kith.rfm&limit=2&cursor={next}"),
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(second["items"][0]["email"], "small@example.com");
    assert!(second["next_cursor"].is_null());
    let over = w
        .call(
            "GET",
            &format!(
                "/v1/tenants/acme/customers?score=kith.rfm&min_score={}",
                top
            ),
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(over["items"].as_array().unwrap().len(), 1);
    // Other filters combine with the score list: checked on each customer, highest first still.
    for (q, want) in [
        ("q=small", vec!["small@example.com"]),
        ("email_prefix=big", vec!["big@example.com"]),
        ("q=example&created_before=2000-01-01T00:00:00Z", vec![]),
    ] {
        let found = w
            .call(
                "GET",
                &format!("/v1/tenants/acme/customers?score=kith.rfm&{q}"),
                &w.acme,
                None,
            )
            .await
            .ok(200);
        let emails: Vec<&str> = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails, want, "{q}: {found}");
    }

    // Status: progress, call counters with fuel and latency percentiles.
    let status = w.plugin_status("kith.rfm").await;
    assert!(status["calls"]["calls"].as_u64().unwrap() >= 3, "{status}");
    assert!(status["calls"]["fuel_p50"].as_u64().unwrap() > 0);
    assert!(status["calls"]["latency_micros_p99"].as_u64().unwrap() > 0);
    assert_eq!(status["suspended"], false);
    assert_eq!(status["capability"], "scorer");
    // No dispatcher runs here: the enable event itself is still to be read.
    assert_eq!(status["lag"], 1, "{status}");
    assert!(
        status["model_computed_at"].is_string(),
        "population ran: {status}"
    );

    // A rescore job, with Location and progress.
    let r = w
        .call(
            "POST",
            "/v1/tenants/acme/plugins/kith.rfm/rescore",
            &w.acme,
            None,
        )
        .await;
    let job = r.ok(202);
    let location = r.header("location").unwrap().to_owned();
    w.host
        .wait_for_job(
            &TenantSlug::parse("acme").unwrap(),
            job["id"].as_u64().unwrap(),
            WAIT,
        )
        .unwrap();
    let done = w.call("GET", &location, &w.acme, None).await.ok(200);
    assert_eq!(done["state"], "done");
    assert_eq!(done["done"], 3);
    // Another tenant cannot see it.
    w.call(
        "GET",
        &location.replace("/acme/", "/globex/"),
        &w.globex,
        None,
    )
    .await
    .problem(404, "not_found");

    // A population step on demand.
    let model = w
        .call(
            "POST",
            "/v1/tenants/acme/plugins/kith.rfm/populate",
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(model["customers"], 3);

    // Metrics count the calls.
    let metrics = w.api.call("GET", "/metrics", None, None).await;
    assert!(
        metrics
            .text
            .contains("kith_plugin_calls_total{plugin=\"kith.rfm\""),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("kith_plugin_suspended{tenant=\"acme\",plugin=\"kith.rfm\"} 0")
    );
    // Every family well-formed, the two per-tenant suspension families not interleaved.
    super::http_support::assert_exposition(&metrics.text);
}

async fn segments_are_listed_with_counts_and_their_members_paged(backend: Backend) {
    let w = world(backend).await;
    for i in 0..6 {
        w.buyer(&format!("b{i}@example.com"), i + 1, 10_000 * (i as i64 + 1))
            .await;
    }
    w.upload(plugins::RFM_SEGMENTS).await;
    w.enable("kith.rfm-segments", json!({})).await;
    let list = w
        .call("GET", "/v1/tenants/acme/segments", &w.acme, None)
        .await
        .ok(200);
    let items = list["items"].as_array().unwrap();
    assert!(items.iter().any(|s| s["segment"] == "champions"), "{list}");
    let total: u64 = items.iter().map(|s| s["members"].as_u64().unwrap()).sum();
    assert_eq!(total, 6, "each buyer is in exactly one RFM segment: {list}");
    // One segmenter's segments: the same list; another's (or none enabled): empty.
    let mine = w
        .call(
            "GET",
            "/v1/tenants/acme/segments?plugin=kith.rfm-segments",
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(mine["items"], list["items"]);
    let other = w
        .call(
            "GET",
            "/v1/tenants/acme/segments?plugin=kith.value-tiers",
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(other["items"], json!([]));
    let (seg, n) = items
        .iter()
        .find(|s| s["members"].as_u64().unwrap() > 0)
        .map(|s| {
            (
                s["segment"].as_str().unwrap(),
                s["members"].as_u64().unwrap(),
            )
        })
        .unwrap();
    let members = w
        .call(
            "GET",
            &format!("/v1/tenants/acme/segments/kith.rfm-segments/{seg}?limit=1000"),
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(members["items"].as_array().unwrap().len() as u64, n);
    assert!(
        members["items"][0]["email"].is_string(),
        "customers, not ids"
    );
    let by_search = w
        .call(
            "GET",
            &format!("/v1/tenants/acme/customers?segment=kith.rfm-segments/{seg}"),
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(by_search["items"], members["items"]);
    let email = members["items"][0]["email"].as_str().unwrap();
    let one = w
        .call(
            "GET",
            &format!("/v1/tenants/acme/customers?segment=kith.rfm-segments/{seg}&email={email}"),
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(
        one["items"],
        json!([members["items"][0]]),
        "segment and email"
    );
    w.call(
        "GET",
        "/v1/tenants/acme/segments/kith.rfm-segments/no-such-segment",
        &w.acme,
        None,
    )
    .await
    .problem(404, "not_found");
    // A customer's view shows the segment with its reason.
    let id = members["items"][0]["id"].as_str().unwrap();
    let insight = w
        .call(
            "GET",
            &format!("/v1/tenants/acme/customers/{id}/scores"),
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(insight["segments"][0]["memberships"][0]["segment"], seg);
    assert!(insight["segments"][0]["memberships"][0]["reason"].is_string());
}

async fn a_dry_run_shows_what_would_change_and_writes_nothing(backend: Backend) {
    let w = world(backend).await;
    let a = w.buyer("a@example.com", 4, 50_000).await;
    w.buyer("b@example.com", 1, 500).await;
    w.upload(plugins::RFM_SCORER).await;
    // Installed but not enabled: a dry run with the default configuration.
    let head = w.head("acme");
    let r = w
        .call(
            "POST",
            "/v1/tenants/acme/plugins/kith.rfm/dry-run",
            &w.acme,
            Some(json!({ "customers": [a] })),
        )
        .await
        .ok(200);
    assert_eq!(r["plugin"], "kith.rfm");
    assert_eq!(r["population_ran"], true);
    let outcome = &r["outcomes"][0];
    assert_eq!(outcome["customer"], a.as_str());
    assert!(outcome["score"]["before"].is_null());
    assert!(outcome["score"]["after"].as_f64().is_some());
    assert_eq!(w.head("acme"), head, "a dry run writes nothing");
    let none = w
        .call(
            "GET",
            &format!("/v1/tenants/acme/customers/{a}/scores"),
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(none["scores"], json!([]));

    // Enabled: `before` is the stored score; a sample takes the first customers.
    w.enable("kith.rfm", json!({})).await;
    let r = w
        .call(
            "POST",
            "/v1/tenants/acme/plugins/kith.rfm/dry-run",
            &w.acme,
            Some(json!({ "sample": 2 })),
        )
        .await
        .ok(200);
    let outcomes = r["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 2);
    for o in outcomes {
        assert_eq!(o["score"]["before"], o["score"]["after"], "{o}");
    }

    // Bad requests.
    for (body, code, status) in [
        (json!({ "sample": 0 }), "invalid_input", 422),
        (json!({ "sample": 101 }), "invalid_input", 422),
        (
            json!({ "sample": 1, "customers": [a] }),
            "invalid_input",
            422,
        ),
        (json!({ "customers": ["not-an-id"] }), "invalid_body", 400),
        (json!({ "samples": 1 }), "invalid_body", 400),
        (json!({ "version": "9.9.9" }), "not_found", 404),
        (
            json!({ "config": { "recency_days": "soon" } }),
            "invalid_input",
            422,
        ),
    ] {
        w.call(
            "POST",
            "/v1/tenants/acme/plugins/kith.rfm/dry-run",
            &w.acme,
            Some(body.clone()),
        )
        .await
        .problem(status, code);
    }
    let unknown = "00000000-0000-4000-8000-000000000000";
    w.call(
        "POST",
        "/v1/tenants/acme/plugins/kith.rfm/dry-run",
        &w.acme,
        Some(json!({ "customers": [unknown] })),
    )
    .await
    .problem(404, "not_found");
    w.call(
        "POST",
        "/v1/tenants/acme/plugins/kith.nothing/dry-run",
        &w.acme,
        Some(json!({})),
    )
    .await
    .problem(404, "not_found");
}

async fn enabling_configuring_and_upgrading_refuse_bad_input_and_change_nothing(backend: Backend) {
    let w = world(backend).await;
    w.upload(plugins::SHOPIFY_ORDERS).await;
    let path = "/v1/tenants/acme/plugins";
    for (body, status, code) in [
        (json!({ "plugin": "kith.nothing" }), 404, "not_found"),
        (
            json!({ "plugin": "kith.shopify-orders" }),
            422,
            "invalid_input",
        ),
        (
            json!({ "plugin": "kith.shopify-orders", "config": { "secret": 7 } }),
            422,
            "invalid_input",
        ),
        (
            json!({ "plugin": "kith.shopify-orders", "config": { "secret": "x" }, "limits": { "fuel": 0 } }),
            422,
            "invalid_input",
        ),
        (
            json!({ "plugin": "kith.shopify-orders", "config": { "secret": "x" }, "limits": { "gas": 1 } }),
            400,
            "invalid_body",
        ),
        (
            json!({ "plugin": "kith.shopify-orders", "config": { "secret": "x" }, "population_interval_secs": 5 }),
            422,
            "invalid_input",
        ),
        (
            json!({ "plugin": "kith.shopify-orders", "version": "0.0.1", "config": { "secret": "x" } }),
            404,
            "not_found",
        ),
        (
            json!({ "plugins": "kith.shopify-orders" }),
            400,
            "invalid_body",
        ),
    ] {
        w.call("POST", path, &w.acme, Some(body.clone()))
            .await
            .problem(status, code);
    }
    let bad = w
        .call(
            "POST",
            path,
            &w.acme,
            Some(json!({ "plugin": "kith.shopify-orders", "config": { "secret": 7 } })),
        )
        .await
        .problem(422, "invalid_input");
    assert_eq!(bad["errors"][0]["field"], "config/secret", "{bad}");
    let r = w.api.raw("POST", path, &w.acme, b"{\"plugin\": ").await;
    r.problem(400, "malformed_json");
    let read_only = w.api.key("acme", true).await;
    w.call(
        "POST",
        path,
        &read_only,
        Some(json!({ "plugin": "kith.shopify-orders", "config": { "secret": SECRET } })),
    )
    .await
    .problem(403, "read_only_token");
    let list = w.call("GET", path, &w.acme, None).await.ok(200);
    assert_eq!(list["items"], json!([]), "nothing was enabled");

    // Enabled once; a second time is a conflict, unless it is a retry of the same request.
    let body = json!({ "plugin": "kith.shopify-orders", "config": { "secret": SECRET } });
    let first = w
        .api
        .call_with(
            "POST",
            path,
            Some(&w.acme),
            Some(body.clone()),
            &[("idempotency-key", "k1")],
        )
        .await;
    first.ok(201);
    assert!(
        first
            .header("location")
            .unwrap()
            .ends_with("/plugins/kith.shopify-orders")
    );
    let retry = w
        .api
        .call_with(
            "POST",
            path,
            Some(&w.acme),
            Some(body.clone()),
            &[("idempotency-key", "k1")],
        )
        .await;
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    retry.ok(200);
    w.call("POST", path, &w.acme, Some(body))
        .await
        .problem(409, "duplicate");

    // The secret is never shown; a merge patch keeps it.
    let status = w.plugin_status("kith.shopify-orders").await;
    assert_eq!(status["enablement"]["config"]["secret"], "<redacted>");
    assert!(
        status["lag"].is_null(),
        "a commerce hook follows no event log"
    );
    assert!(!status.to_string().contains(SECRET));
    let patched = w
        .call(
            "PATCH",
            "/v1/tenants/acme/plugins/kith.shopify-orders",
            &w.acme,
            Some(json!({ "limits": { "fuel": 50_000_000 }, "population_interval_secs": 3600 })),
        )
        .await
        .ok(200);
    assert_eq!(patched["enablement"]["limits"]["fuel"], 50_000_000);
    assert_eq!(patched["enablement"]["population_interval_secs"], 3600);
    let before = w.head("acme");
    w.call(
        "PATCH",
        "/v1/tenants/acme/plugins/kith.shopify-orders",
        &w.acme,
        Some(json!({ "config": { "secret": 12 } })),
    )
    .await
    .problem(422, "invalid_input");
    assert_eq!(
        w.head("acme"),
        before,
        "a refused configuration writes nothing"
    );
    w.call(
        "POST",
        "/v1/tenants/acme/plugins/kith.shopify-orders/upgrade",
        &w.acme,
        Some(json!({ "version": "9.9.9" })),
    )
    .await
    .problem(404, "not_found");
    // The secret still verifies webhooks after the patches.
    let body = fixture("orders-create.json");
    let r = w
        .api
        .send(shopify("orders/create", "d-1", &body, &sign(&body, SECRET)))
        .await;
    r.ok(200);
    // A commerce hook has no population step or leaderboard.
    w.call(
        "POST",
        "/v1/tenants/acme/plugins/kith.shopify-orders/populate",
        &w.acme,
        None,
    )
    .await
    .problem(422, "invalid_input");
    w.call(
        "GET",
        "/v1/tenants/acme/scores/kith.shopify-orders",
        &w.acme,
        None,
    )
    .await
    .problem(404, "not_found");
    // Query errors on the score routes.
    for q in ["min=3&max=1", "min=NaN", "min=abc", "limit=0", "bogus=1"] {
        let r = w
            .call(
                "GET",
                &format!("/v1/tenants/acme/scores/kith.shopify-orders?{q}"),
                &w.acme,
                None,
            )
            .await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
    }
    for q in [
        "segment=nope",
        "segment=kith.x/",
        "score=kith.rfm&sort=name",
        "score=kith.rfm&total=true",
        "score=kith.rfm&segment=kith.rfm-segments/champions",
        "min_score=1",
    ] {
        let r = w
            .call(
                "GET",
                &format!("/v1/tenants/acme/customers?{q}"),
                &w.acme,
                None,
            )
            .await;
        r.problem(400, "invalid_query");
    }
}

async fn shopify_webhooks_are_answered_by_the_plugins_verdict_and_applied_once(backend: Backend) {
    // A real orders/create payload: nested customer, line items, prices as strings, shop and
    // presentment money.
    let (w, body, good) = shopify_world(backend).await;

    // A forgery first, with the id the genuine delivery will use: refused, nothing written.
    let head = w.head("acme");
    let forged = w
        .api
        .send(shopify(
            "orders/create",
            "delivery-1",
            &body,
            &sign(&body, "a guess"),
        ))
        .await;
    assert_eq!(
        forged.problem(401, "bad_signature")["detail"],
        "bad signature: the X-Shopify-Hmac-Sha256 signature does not match the body (checked by \
         Kith before the plugin ran)"
    );
    assert_eq!(w.head("acme"), head);

    let r = w
        .api
        .send(shopify("orders/create", "delivery-1", &body, &good))
        .await;
    let accepted = r.ok(200);
    assert_eq!(accepted["verdict"]["verdict"], "accepted");
    assert_eq!(accepted["replayed"], false);
    assert!(
        accepted["actions_applied"].as_u64().unwrap() >= 2,
        "{accepted}"
    );
    let (_, timeline) = customer_and_timeline(&w, "john@example.com").await;
    let purchase = &timeline["items"][0];
    assert_eq!(purchase["kind"], "purchase");
    assert_eq!(purchase["amount"]["minor"], 40_300, "{purchase}");
    // Kith checked the signature and told the plugin so: its call did not hash the body again
    // (the guest's HMAC-SHA256 alone costs about 77 fuel a byte; the whole call with it, over a
    // million on this order).
    let status = w.plugin_status("kith.shopify-orders").await;
    let fuel = status["calls"]["fuel_max"].as_u64().unwrap();
    assert!(
        fuel < 77 * body.len() as u64,
        "{fuel} fuel for {} bytes",
        body.len()
    );

    // The platform retries: same answer, nothing new.
    let head = w.head("acme");
    let again = w
        .api
        .send(shopify("orders/create", "delivery-1", &body, &good))
        .await
        .ok(200);
    assert_eq!(again["replayed"], true);
    assert_eq!(w.head("acme"), head);

    // Another shopper's order with the same phone (a household's): accepted, and the second
    // customer simply has no phone rather than the order being refused.
    let mut other: Value = serde_json::from_slice(&body).unwrap();
    other["id"] = json!(820982911946154999u64);
    other["email"] = json!("jane@example.com");
    other["contact_email"] = json!("jane@example.com");
    other["customer"]["id"] = json!(115310627314723999u64);
    other["customer"]["email"] = json!("jane@example.com");
    let other = serde_json::to_vec(&other).unwrap();
    let r = w
        .api
        .send(shopify(
            "orders/create",
            "delivery-jane",
            &other,
            &sign(&other, SECRET),
        ))
        .await;
    assert_eq!(r.ok(200)["verdict"]["verdict"], "accepted", "{}", r.text);
    let jane = w
        .call(
            "GET",
            "/v1/tenants/acme/customers?email=jane@example.com",
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert!(jane["items"][0]["phone"].is_null(), "{jane}");
    let john = w
        .call(
            "GET",
            "/v1/tenants/acme/customers?email=john@example.com",
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert!(john["items"][0]["phone"].is_string(), "{john}");

    // Ignored topics are 202 with the reason; malformed bodies 400; unknown hooks 404.
    let shop = br#"{"id": 1}"#;
    let ignored = w
        .api
        .send(shopify(
            "shop/update",
            "delivery-2",
            shop,
            &sign(shop, SECRET),
        ))
        .await
        .ok(202);
    assert_eq!(ignored["verdict"]["verdict"], "ignored");
    assert!(
        ignored["verdict"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    // A commerce hook has nothing to rescore: refused, and no job that would fail on every
    // customer (and suspend the hook for the tenant's real webhooks).
    let refused = w
        .call(
            "POST",
            "/v1/tenants/acme/plugins/kith.shopify-orders/rescore",
            &w.acme,
            None,
        )
        .await;
    refused.problem(422, "invalid_input");
    assert!(refused.text.contains("commerce hook"), "{}", refused.text);
    let status = w.plugin_status("kith.shopify-orders").await;
    assert_eq!(status["suspended"], false, "{status}");
    let junk = b"{not json";
    w.api
        .send(shopify(
            "orders/create",
            "delivery-3",
            junk,
            &sign(junk, SECRET),
        ))
        .await
        .problem(400, "malformed_webhook");
    let mut other = shopify("orders/create", "delivery-4", &body, &good);
    *other.uri_mut() = "/v1/tenants/acme/hooks/kith.nothing".parse().unwrap();
    w.api.send(other).await.problem(404, "hook_not_found");
    let mut other = shopify("orders/create", "delivery-4", &body, &good);
    *other.uri_mut() = "/v1/tenants/nobody/hooks/kith.shopify-orders"
        .parse()
        .unwrap();
    w.api.send(other).await.problem(404, "hook_not_found");
    // Enabled for acme only: globex's hook does not exist.
    let globex = w.head("globex");
    let mut other = shopify("orders/create", "delivery-4", &body, &good);
    *other.uri_mut() = "/v1/tenants/globex/hooks/kith.shopify-orders"
        .parse()
        .unwrap();
    w.api.send(other).await.problem(404, "hook_not_found");
    assert_eq!(w.head("globex"), globex);
    // Larger than the JSON limit.
    let huge = vec![b' '; 1024 * 1024 + 1];
    w.api
        .send(shopify(
            "orders/create",
            "delivery-5",
            &huge,
            &sign(&huge, SECRET),
        ))
        .await
        .problem(413, "payload_too_large");
}

async fn another_tenants_key_finds_none_of_the_plugin_routes(backend: Backend) {
    let w = world(backend).await;
    let c = w.buyer("a@example.com", 2, 10_000).await;
    w.upload(plugins::RFM_SCORER).await;
    w.upload(plugins::RFM_SEGMENTS).await;
    w.enable("kith.rfm", json!({})).await;
    w.enable("kith.rfm-segments", json!({})).await;
    let head = w.head("acme");
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/v1/tenants/acme/plugins".into(), None),
        (
            "POST",
            "/v1/tenants/acme/plugins".into(),
            Some(json!({ "plugin": "kith.rfm" })),
        ),
        ("GET", "/v1/tenants/acme/plugins/kith.rfm".into(), None),
        (
            "PATCH",
            "/v1/tenants/acme/plugins/kith.rfm".into(),
            Some(json!({ "config": {} })),
        ),
        ("DELETE", "/v1/tenants/acme/plugins/kith.rfm".into(), None),
        (
            "POST",
            "/v1/tenants/acme/plugins/kith.rfm/upgrade".into(),
            Some(json!({ "version": "0.1.0" })),
        ),
        (
            "POST",
            "/v1/tenants/acme/plugins/kith.rfm/reset".into(),
            None,
        ),
        (
            "POST",
            "/v1/tenants/acme/plugins/kith.rfm/populate".into(),
            None,
        ),
        (
            "POST",
            "/v1/tenants/acme/plugins/kith.rfm/rescore".into(),
            None,
        ),
        (
            "POST",
            "/v1/tenants/acme/plugins/kith.rfm/dry-run".into(),
            Some(json!({})),
        ),
        ("GET", "/v1/tenants/acme/jobs/1".into(), None),
        ("GET", "/v1/tenants/acme/segments".into(), None),
        (
            "GET",
            "/v1/tenants/acme/segments/kith.rfm-segments/champions".into(),
            None,
        ),
        ("GET", "/v1/tenants/acme/scores/kith.rfm".into(), None),
        (
            "GET",
            format!("/v1/tenants/acme/customers/{c}/scores"),
            None,
        ),
        (
            "GET",
            "/v1/tenants/acme/customers?score=kith.rfm".into(),
            None,
        ),
    ];
    for (method, path, body) in routes {
        let r = w.call(method, &path, &w.globex, body).await;
        r.problem(404, "tenant_not_found");
        assert!(!r.text.contains("kith.rfm\""), "{path}: {}", r.text);
    }
    assert_eq!(w.head("acme"), head, "nothing was written");
    let status = w.plugin_status("kith.rfm").await;
    assert_eq!(status["enablement"]["plugin"], "kith.rfm", "still enabled");
}

#[tokio::test]
async fn without_a_plugin_host_the_plugin_routes_say_so() {
    let api = Api::new();
    api.tenant("acme").await;
    api.call("GET", "/v1/plugins", Some(&api.admin), None)
        .await
        .problem(503, "plugins_unavailable");
    api.call("GET", "/v1/tenants/acme/segments", Some(&api.admin), None)
        .await
        .problem(503, "plugins_unavailable");
}

// ---------------------------------------------------------------------------------------------
// The whole story against the real `kith serve` binary.

mod e2e {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    use super::{SECRET, fixture, purchases, sign, wasm};
    use kith_tests::plugins;

    const ADMIN: &str = "kith-e2e-operator-token-0123456789abcdef";

    struct Server {
        child: Child,
        addr: String,
    }

    impl Server {
        fn start(dir: &std::path::Path) -> Server {
            let mut child = Command::new(env!("CARGO_BIN_EXE_kith_under_test"))
                .args([
                    "--data-dir",
                    dir.to_str().unwrap(),
                    "serve",
                    "--listen",
                    "127.0.0.1:0",
                ])
                .env("KITH_ADMIN_TOKEN", ADMIN)
                .env_remove("KITH_LISTEN")
                .env_remove("KITH_DATA_DIR")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start kith serve");
            let addr = kith_tests::listening(&mut child, |_| {});
            Server { child, addr }
        }

        /// One HTTP/1.1 request; returns the status and the body as JSON (Null if not JSON).
        fn send(
            &self,
            method: &str,
            path: &str,
            headers: &[(&str, &str)],
            body: &[u8],
        ) -> (u16, Value) {
            let mut s = TcpStream::connect(&self.addr).unwrap();
            let mut head = format!(
                "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                self.addr,
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(body).unwrap();
            let mut raw = Vec::new();
            s.read_to_end(&mut raw).unwrap();
            let text = String::from_utf8_lossy(&raw);
            let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
            let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            (status, serde_json::from_str(body).unwrap_or(Value::Null))
        }

        fn json(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
            let auth = format!("Bearer {token}");
            let bytes = body
                .map(|b| serde_json::to_vec(&b).unwrap())
                .unwrap_or_default();
            self.send(
                method,
                path,
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                &bytes,
            )
        }

        /// `GET path` until `done` holds for its body (the dispatcher works in the background
        /// and outputs append no events to wait on), for at most a minute.
        fn until(&self, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let (status, body) = self.json("GET", path, token, None);
                assert_eq!(status, 200, "{path}: {body}");
                if done(&body) {
                    return body;
                }
                assert!(Instant::now() < deadline, "{path} never got there: {body}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }

        fn stop(mut self) {
            let ok = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status()
                .unwrap();
            assert!(ok.success());
            assert!(self.child.wait().unwrap().success(), "exit 0 on SIGTERM");
        }
    }

    #[test]
    fn the_whole_story_over_http_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = Server::start(dir.path());
        assert_eq!(
            s.json(
                "POST",
                "/v1/tenants",
                ADMIN,
                Some(json!({ "slug": "acme" }))
            )
            .0,
            201
        );
        let (status, key) = s.json(
            "POST",
            "/v1/tokens",
            ADMIN,
            Some(json!({ "kind": "tenant", "tenant": "acme" })),
        );
        assert_eq!(status, 201, "{key}");
        let key = key["token"].as_str().unwrap().to_owned();

        // Upload and enable the reference plugins.
        let auth = format!("Bearer {ADMIN}");
        for path in [
            plugins::RFM_SCORER,
            plugins::RFM_SEGMENTS,
            plugins::SHOPIFY_ORDERS,
        ] {
            let (status, body) = s.send(
                "POST",
                "/v1/plugins?wait=60",
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/wasm"),
                ],
                &wasm(path),
            );
            assert_eq!(status, 201, "{body}");
        }
        for (plugin, config) in [
            ("kith.rfm", json!({})),
            ("kith.rfm-segments", json!({})),
            ("kith.shopify-orders", json!({ "secret": SECRET })),
        ] {
            let (status, body) = s.json(
                "POST",
                "/v1/tenants/acme/plugins",
                &key,
                Some(json!({ "plugin": plugin, "config": config })),
            );
            assert_eq!(status, 201, "{body}");
        }

        // A signed Shopify order creates the customer and the purchase.
        let order = fixture("orders-create.json");
        let signature = sign(&order, SECRET);
        let hook = |s: &Server, delivery: &str| {
            s.send(
                "POST",
                "/v1/tenants/acme/hooks/kith.shopify-orders",
                &[
                    ("Content-Type", "application/json"),
                    ("X-Shopify-Topic", "orders/create"),
                    ("X-Shopify-Hmac-Sha256", &signature),
                    ("X-Shopify-Webhook-Id", delivery),
                ],
                &order,
            )
        };
        let (status, body) = hook(&s, "e2e-1");
        assert_eq!(status, 200, "{body}");
        let (_, found) = s.json(
            "GET",
            "/v1/tenants/acme/customers?email=john@example.com",
            &key,
            None,
        );
        let customer = found["items"][0]["id"]
            .as_str()
            .expect("the order's customer")
            .to_owned();

        // Scored and segmented by the dispatcher.
        let scores_path = format!("/v1/tenants/acme/customers/{customer}/scores");
        let insight = s.until(&scores_path, &key, |b| {
            !b["scores"].as_array().unwrap().is_empty()
                && !b["segments"].as_array().unwrap().is_empty()
        });
        assert_eq!(insight["scores"][0]["producer"]["plugin"], "kith.rfm");
        assert_eq!(
            insight["segments"][0]["producer"]["plugin"],
            "kith.rfm-segments"
        );

        // A deal through a pipeline, and the report.
        let (status, p) = s.json(
            "POST",
            "/v1/tenants/acme/pipelines",
            &key,
            Some(json!({ "name": "Sales", "stages": [
                { "name": "Lead", "probability": 10 },
                { "name": "Proposal", "probability": 50 },
                { "name": "Won", "probability": 100, "category": "won" },
            ]})),
        );
        assert_eq!(status, 201, "{p}");
        let pid = p["id"].as_str().unwrap().to_owned();
        let (status, d) = s.json(
            "POST",
            "/v1/tenants/acme/deals",
            &key,
            Some(
                json!({ "customer": customer, "pipeline": pid, "title": "Renewal",
                          "amount": { "minor": 250_000, "currency": "USD" } }),
            ),
        );
        assert_eq!(status, 201, "{d}");
        let did = d["id"].as_str().unwrap().to_owned();
        for stage in [1, 2] {
            let (status, body) = s.json(
                "POST",
                &format!("/v1/tenants/acme/deals/{did}/move"),
                &key,
                Some(json!({ "stage": p["stages"][stage]["id"] })),
            );
            assert_eq!(status, 200, "{body}");
        }
        let report_path = format!("/v1/tenants/acme/pipelines/{pid}/report");
        let (status, report) = s.json("GET", &report_path, &key, None);
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["deals"], 1);
        s.stop();

        // After a restart everything is there, and the webhook's retry changes nothing.
        let s = Server::start(dir.path());
        let (status, again) = s.json("GET", &scores_path, &key, None);
        assert_eq!(status, 200);
        // Deal events may have had the plugins look at the customer again: same results.
        assert_eq!(again["scores"][0]["score"], insight["scores"][0]["score"]);
        assert_eq!(
            again["segments"][0]["memberships"],
            insight["segments"][0]["memberships"]
        );
        let (_, report_again) = s.json("GET", &report_path, &key, None);
        assert_eq!(report_again, report);
        let (status, body) = hook(&s, "e2e-1");
        assert_eq!((status, &body["replayed"]), (200, &json!(true)), "{body}");
        let (_, timeline) = s.json(
            "GET",
            &format!("/v1/tenants/acme/customers/{customer}/timeline"),
            &key,
            None,
        );
        assert_eq!(purchases(&timeline), 1, "{timeline}");
        let (status, enabled) = s.json("GET", "/v1/tenants/acme/plugins", &key, None);
        assert_eq!(status, 200);
        assert_eq!(enabled["items"].as_array().unwrap().len(), 3);
        s.stop();
    }

    /// `kith plugin run --wit`: inputs and outputs shaped like the WIT of the component's own
    /// contract version; a shape of another version is refused by JSON Pointer before any call.
    #[test]
    fn the_local_runner_takes_wit_shaped_input_in_the_components_own_version() {
        let dir = tempfile::tempdir().unwrap();
        let run = |plugin: &str, input: &Value| {
            std::fs::write(dir.path().join("wit.json"), input.to_string()).unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_kith_under_test"))
                .args(["plugin", "run", plugin, "--wit", "--input", "wit.json"])
                .current_dir(dir.path())
                .output()
                .unwrap();
            let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            (out.status.code(), report, stderr)
        };
        let id = "0190f0c6-7a4e-7000-8000-000000000001";
        let customer = |extra: Value| {
            let mut c = json!({
                "id": id, "kind": "person", "display-name": "Ada",
                "lifecycle-stage": "customer", "tags": ["chatty"], "attributes": [],
                "marketing-consent": false, "created-at": 0,
                "aggregates": [{ "kind": "purchase", "count": 2,
                    "totals": [{ "amount": 5000, "currency": "USD" }],
                    "first-at": 0, "last-at": 10 }],
                "recent-interactions": [], "open-deals": [],
            });
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            c
        };
        let summary = json!({ "id": "c1", "lifecycle-stage": "customer", "created-at": 0,
                              "aggregates": [], "attributes": [] });
        let v1 = json!({
            "populate": { "input": { "customers": [summary, summary], "config": "{}",
                                     "now": 100, "seed": 1 } },
            "score": { "input": { "customer": customer(json!({})), "config": "{}",
                                  "now": 100, "seed": 1 } },
        });
        let (code, report, stderr) = run(plugins::TEST_CONTRACT_V0_1, &v1);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(report["contract"], "0.1.0");
        let steps = &report["steps"];
        assert_eq!(
            steps[0]["output"],
            json!({ "ok": [2, 0, 0, 0, 0, 0, 0, 0] })
        );
        let score = &steps[1]["output"]["ok"];
        assert_eq!(score["score"], 20.0, "{report}");
        assert_eq!(
            score["reasons"][1]["message"],
            "2 customers in the population"
        );
        assert_eq!(
            score["actions"],
            json!([{ "add-tag": { "customer": { "id": id }, "tag": "contract-0-1" } }])
        );

        // The 0.1.0 shape is not a 0.2.0 customer-input: refused where it differs.
        let (code, report, stderr) = run(
            plugins::TEST_CONTRACT_V0_2,
            &json!({ "score": v1["score"] }),
        );
        assert_ne!(code, Some(0));
        assert_eq!(report, Value::Null, "nothing ran");
        assert!(
            stderr.contains("/input/customer/aggregates/0/first-amount: missing")
                || stderr.contains("/input/customer/closed-deals: missing"),
            "{stderr}"
        );

        let v2 = json!({ "score": { "input": {
            "customer": customer(json!({
                "aggregates": [{ "kind": "purchase", "count": 2,
                    "totals": [{ "amount": 5000, "currency": "USD" }],
                    "first-at": 0, "last-at": 10,
                    "first-amount": { "amount": 1234, "currency": "USD" } }],
                "closed-deals": [{ "id": "d1", "pipeline-id": "p", "pipeline-name": "Sales",
                    "stage": "Won", "probability": 100, "status": "won", "closed-at": 5 }],
            })),
            "config": "{}", "now": 100, "seed": 1 } } });
        let (code, report, stderr) = run(plugins::TEST_CONTRACT_V0_2, &v2);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(report["contract"], "0.2.0");
        let step = &report["steps"][0];
        assert_eq!(step["output"]["ok"]["score"], 2234.0, "{report}");
        assert_eq!(
            step["output"]["ok"]["reasons"][1]["message"],
            "1 won, 0 lost"
        );
        let logs = step["report"]["logs"].as_array().unwrap();
        assert_eq!(logs.len(), 64);
        assert_eq!(
            logs[0],
            json!({ "level": "info", "message": format!("scoring {id}") })
        );
        assert!(
            step["report"]["logs_truncated"]
                .as_str()
                .unwrap()
                .starts_with("37 more lines")
        );

        // Hostile shapes: a wrong type, an unknown case, an unknown function.
        let mut bad = v2.clone();
        bad["score"]["input"]["customer"]["aggregates"][0]["kind"] = json!("bribe");
        let (code, _, stderr) = run(plugins::TEST_CONTRACT_V0_2, &bad);
        assert_ne!(code, Some(0));
        assert!(
            stderr.contains("/input/customer/aggregates/0/kind: expected one of"),
            "{stderr}"
        );
        let mut bad = v2.clone();
        bad["score"]["input"]["seed"] = json!(-1);
        let (_, _, stderr) = run(plugins::TEST_CONTRACT_V0_2, &bad);
        assert!(
            stderr.contains("/input/seed: expected an integer from 0"),
            "{stderr}"
        );
        let (code, _, stderr) = run(plugins::TEST_CONTRACT_V0_2, &json!({ "classify": {} }));
        assert_ne!(code, Some(0));
        assert!(stderr.contains("not a function of a scorer"), "{stderr}");
        let mut bad = v2;
        bad["score"]["input"]["config"] = json!("{\"currency\": 5}");
        let (code, report, _) = run(plugins::RFM_SCORER, &bad);
        assert_ne!(code, Some(0));
        assert!(report["config_error"]["code"].is_string(), "{report}");
    }

    /// `kith plugin inspect` and `kith plugin run` on reference plugins, as an integrator uses
    /// them: no server, no data directory.
    #[test]
    fn the_local_runner_inspects_and_runs_reference_plugins() {
        let dir = tempfile::tempdir().unwrap();
        let kith = |args: &[&str]| {
            let out = Command::new(env!("CARGO_BIN_EXE_kith_under_test"))
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            (
                out.status.code(),
                report,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, manifest, _) = kith(&["plugin", "inspect", plugins::RFM_SCORER]);
        assert_eq!(code, Some(0));
        assert_eq!(manifest["manifest"]["id"], "kith.rfm");
        assert_eq!(manifest["capability"], "scorer");

        let purchase = |count: u64, minor: i64, first: &str, last: &str| {
            json!([{ "kind": "purchase", "count": count,
                     "totals": [{ "minor": minor, "currency": "USD" }],
                     "first_at": first, "last_at": last }])
        };
        let best = purchase(5, 90_000, "2024-03-01T00:00:00Z", "2025-02-20T00:00:00Z");
        let input = json!({
            "population": [
                { "id": "c1", "aggregates": purchase(1, 2_000, "2025-01-10T00:00:00Z", "2025-01-10T00:00:00Z") },
                { "id": "c2", "aggregates": best },
                { "id": "c3", "aggregates": purchase(2, 15_000, "2024-06-01T00:00:00Z", "2024-09-01T00:00:00Z") },
            ],
            "customer": { "id": "c2", "display_name": "Ada", "aggregates": best },
            "now": "2025-03-01T00:00:00Z",
            "seed": 1,
        });
        std::fs::write(dir.path().join("in.json"), input.to_string()).unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"currency": "USD"}"#).unwrap();
        let (code, report, stderr) = kith(&[
            "plugin",
            "run",
            plugins::RFM_SCORER,
            "--input",
            "in.json",
            "--config",
            "config.json",
        ]);
        assert_eq!(code, Some(0), "{stderr}");
        let steps = report["steps"].as_array().unwrap();
        assert_eq!(steps[0]["call"], "populate");
        assert_eq!(steps[1]["call"], "score");
        let score = &steps[1]["output"];
        assert!(score["score"].as_f64().unwrap() > 50.0, "{score}");
        assert!(!score["reasons"].as_array().unwrap().is_empty());
        let cost = &steps[1]["report"];
        assert!(cost["fuel_used"].as_u64().unwrap() > 0);
        assert!(cost["peak_memory_bytes"].as_u64().unwrap() > 0);
        assert!(cost["wall_time_us"].is_u64());

        // A commerce hook with a forged signature: the verdict is printed, the exit status is 0
        // (the call worked; the plugin said no).
        let body = String::from_utf8(fixture("orders-create.json")).unwrap();
        let webhook = json!({
            "topic": "orders/create",
            "headers": { "X-Shopify-Hmac-Sha256": sign(body.as_bytes(), "not the secret") },
            "body": body,
        });
        std::fs::write(dir.path().join("hook.json"), webhook.to_string()).unwrap();
        std::fs::write(
            dir.path().join("shop.json"),
            format!(r#"{{"secret": "{SECRET}"}}"#),
        )
        .unwrap();
        let (code, report, stderr) = kith(&[
            "plugin",
            "run",
            plugins::SHOPIFY_ORDERS,
            "--input",
            "hook.json",
            "--config",
            "shop.json",
        ]);
        assert_eq!(code, Some(0), "{stderr}");
        let verdict = &report["steps"][0]["output"]["verdict"];
        assert_eq!(verdict["verdict"], "rejected", "{report}");
        assert_eq!(verdict["kind"], "bad-signature");

        // An input that is not JSON: exit 1 and one line saying where.
        std::fs::write(dir.path().join("bad.json"), "{ nope").unwrap();
        let (code, _, stderr) =
            kith(&["plugin", "run", plugins::RFM_SCORER, "--input", "bad.json"]);
        assert_ne!(code, Some(0));
        assert!(stderr.contains("bad.json"), "{stderr}");

        // Each figure is shown beside its limit.
        for (figure, limit) in [
            ("fuel_used", "fuel_limit"),
            ("peak_memory_bytes", "memory_limit_bytes"),
            ("wall_time_us", "deadline_us"),
            ("input_bytes", "input_limit_bytes"),
            ("output_bytes", "output_limit_bytes"),
        ] {
            let (used, max) = (
                cost[figure].as_u64().unwrap(),
                cost[limit].as_u64().unwrap(),
            );
            assert!(
                used > 0 && used <= max,
                "{figure} {used} / {limit} {max}: {cost}"
            );
        }

        // A configuration the server would refuse is refused with the server's errors, by
        // JSON Pointer, and the plugin is not called.
        std::fs::write(
            dir.path().join("bad-config.json"),
            r#"{"currency": "usd", "weights": {"recency": -1}}"#,
        )
        .unwrap();
        let (code, report, stderr) = kith(&[
            "plugin",
            "run",
            plugins::RFM_SCORER,
            "--input",
            "in.json",
            "--config",
            "bad-config.json",
        ]);
        assert_eq!(code, Some(1), "{stderr}");
        assert_eq!(report["config_error"]["code"], "invalid_input", "{report}");
        let message = report["config_error"]["message"].as_str().unwrap();
        assert!(
            message.contains("config/currency") && message.contains("config/weights/recency"),
            "{message}"
        );
        assert!(report.get("steps").is_none(), "{report}");

        // Budgets above the server's ceilings and components above the size limit are refused
        // as the server refuses them.
        let (code, _, stderr) = kith(&[
            "plugin",
            "run",
            plugins::RFM_SCORER,
            "--input",
            "in.json",
            "--memory-mib",
            "100000",
        ]);
        assert_eq!(code, Some(1));
        assert!(
            stderr.contains("memory_bytes") && stderr.contains("ceiling"),
            "{stderr}"
        );
        let (code, _, stderr) = kith(&[
            "plugin",
            "run",
            plugins::RFM_SCORER,
            "--input",
            "in.json",
            "--plugin-limit",
            "1000",
        ]);
        assert_eq!(code, Some(1));
        assert!(
            stderr.contains("too large") || stderr.contains("1000"),
            "{stderr}"
        );

        // --profile writes wasmtime's guest profile of each call (the population step's with
        // `.populate` in its name when a customer call follows): a population step that loops
        // until its 300 ms deadline has a sample about every millisecond, in frames of the
        // plugin's own functions.
        std::fs::write(
            dir.path().join("population.json"),
            r#"{"population": [{"id": "c1"}]}"#,
        )
        .unwrap();
        let (code, report, stderr) = kith(&[
            "plugin",
            "run",
            plugins::HOSTILE_SLOW_POPULATION,
            "--input",
            "population.json",
            "--deadline-ms",
            "300",
            "--profile",
            "loop.json",
        ]);
        assert_eq!(code, Some(1), "{stderr}");
        let step = &report["steps"][0];
        assert_eq!(step["error"]["code"], "deadline-exceeded", "{report}");
        assert_eq!(step["profile"], "loop.json", "{report}");
        let text = std::fs::read_to_string(dir.path().join("loop.json")).unwrap();
        let profile: Value = serde_json::from_str(&text).unwrap();
        assert!(profile["meta"].is_object(), "{text:.300}");
        let samples = profile["threads"][0]["samples"]["length"]
            .as_u64()
            .unwrap_or(0);
        assert!(samples >= 50, "{samples} samples: {text:.600}");
        assert!(
            text.contains("populate"),
            "no frame of the plugin: {text:.600}"
        );
        let (code, report, stderr) = kith(&[
            "plugin",
            "run",
            plugins::RFM_SCORER,
            "--input",
            "in.json",
            "--profile",
            "rfm.json",
        ]);
        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(
            report["steps"][0]["profile"], "rfm.populate.json",
            "{report}"
        );
        assert_eq!(report["steps"][1]["profile"], "rfm.json", "{report}");
        assert!(dir.path().join("rfm.populate.json").is_file());

        // What the plugin wrote to stderr is in the report.
        let (code, report, _) = kith(&[
            "plugin",
            "run",
            plugins::HOSTILE_PANIC,
            "--input",
            "in.json",
        ]);
        assert_eq!(code, Some(1));
        let last = report["steps"].as_array().unwrap().last().unwrap().clone();
        assert!(
            last["report"]["stderr"]
                .as_str()
                .unwrap()
                .contains("panics on purpose"),
            "{last}"
        );
    }
}

/// The platform sends the same delivery several times at once (a retry racing the original):
/// it is applied once. A request that lost the race is answered from the stored delivery
/// (200, `replayed`) once the winner's commit is visible; before that (PostgreSQL answers a
/// refused member of a group commit before the group commits) it gets 409 `duplicate`, which
/// the platform retries like any non-2xx, and the retry is answered from the stored delivery.
async fn the_same_delivery_sent_at_once_is_applied_once(backend: Backend) {
    let (w, body, good) = shopify_world(backend).await;
    let send = || {
        w.api
            .send(shopify("orders/create", "delivery-race", &body, &good))
    };
    let head = w.head("acme");
    let (a, b, c, d, e, f) = tokio::join!(send(), send(), send(), send(), send(), send());
    let mut answers: Vec<Value> = Vec::new();
    for r in [a, b, c, d, e, f] {
        if r.status.as_u16() == 409 {
            r.problem(409, "duplicate");
        } else {
            answers.push(r.ok(200));
        }
    }
    let fresh = answers.iter().filter(|a| a["replayed"] == false).count();
    assert_eq!(fresh, 1, "{answers:?}");
    for a in &answers {
        assert_eq!(a["verdict"]["verdict"], "accepted", "{a}");
        assert_eq!(a["actions_applied"], answers[0]["actions_applied"], "{a}");
    }
    let (found, timeline) = customer_and_timeline(&w, "john@example.com").await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(purchases(&timeline), 1, "{timeline}");
    // And once more afterwards: a replay, nothing written.
    let after = w.head("acme");
    assert!(after > head);
    assert_eq!(send().await.ok(200)["replayed"], true);
    assert_eq!(w.head("acme"), after);
}

async fn an_anonymous_webhook_caller_never_sees_the_plugins_message(backend: Backend) {
    // Regression: the 502 sent to an anonymous webhook caller quoted the plugin's stderr.
    let w = world(backend).await;
    w.upload(plugins::HOSTILE_HOOK_PANIC).await;
    w.enable("kith.test.hook-panic", json!({})).await;
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/tenants/acme/hooks/kith.test.hook-panic")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let r = w.api.send(req).await;
    r.problem(502, "trap");
    assert!(!r.text.contains("hunter2"), "{}", r.text);
    assert!(!r.text.contains("stderr"), "{}", r.text);
    // The tenant sees the failure counted in the plugin's status.
    let status = w
        .call(
            "GET",
            "/v1/tenants/acme/plugins/kith.test.hook-panic",
            &w.acme,
            None,
        )
        .await
        .ok(200);
    assert_eq!(status["calls"]["failures"][0][0], "trap", "{status}");
}

async fn budgets_above_the_hosts_ceilings_are_refused_with_the_ceiling(backend: Backend) {
    let w = world(backend).await;
    w.upload(plugins::RFM_SCORER).await;
    let r = w
        .call(
            "POST",
            "/v1/tenants/acme/plugins",
            &w.acme,
            Some(json!({ "plugin": "kith.rfm", "limits": { "deadline_ms": 30000 } })),
        )
        .await;
    let problem = r.problem(422, "invalid_input");
    assert_eq!(problem["errors"][0]["field"], "limits.deadline_ms");
    assert!(
        problem["errors"][0]["expected"]
            .as_str()
            .unwrap()
            .contains("at most 1000 (the host's ceiling)"),
        "{problem}"
    );
    let created = w
        .call(
            "POST",
            "/v1/tenants/acme/plugins",
            &w.acme,
            Some(json!({
                "plugin": "kith.rfm",
                "limits": { "deadline_ms": 200 },
                "population_limits": { "deadline_ms": 30000 }
            })),
        )
        .await
        .ok(201);
    assert_eq!(created["status"]["limits"]["deadline_ms"], 200);
    assert_eq!(created["status"]["population_limits"]["deadline_ms"], 30000);
    assert_eq!(created["status"]["refused_actions"]["chain_depth"], 0);
    let r = w
        .call(
            "PATCH",
            "/v1/tenants/acme/plugins/kith.rfm",
            &w.acme,
            Some(json!({ "population_limits": { "fuel": 1_000_000_000_000u64 } })),
        )
        .await;
    r.problem(422, "invalid_input");
    // The instance shares are visible to the operator.
    let metrics = w.api.call("GET", "/metrics", None, None).await;
    for line in [
        "kith_plugin_instances_limit{scope=\"host\"} 32",
        "kith_plugin_instances_limit{scope=\"tenant\"} 8",
        // The enable's rescore may be running: the gauge is there, its value varies.
        "kith_plugin_instances_in_use ",
        // Nothing waits for a turn: the rescore runs outside the HTTP queues.
        "kith_plugin_calls_queued 0",
    ] {
        assert!(metrics.text.contains(line), "{line} in {}", metrics.text);
    }
}

async fn uploading_other_bytes_under_an_installed_version_is_a_conflict(backend: Backend) {
    let w = world(backend).await;
    let genuine = w.upload(plugins::RFM_SCORER).await;
    let mut impostor = wasm(plugins::RFM_SCORER);
    // A custom section: other bytes, same manifest.
    impostor.extend_from_slice(&[0, 10, 8]);
    impostor.extend_from_slice(b"impostor");
    impostor.push(b'x');
    let r = w
        .upload_as(&w.api.admin, impostor, "application/wasm")
        .await;
    let problem = r.problem(409, "plugin_version_taken");
    let hash = genuine["hash"].as_str().unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains(hash),
        "{problem}"
    );
    let list = w
        .call("GET", "/v1/plugins", &w.api.admin, None)
        .await
        .ok(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_compile_bomb_upload_is_refused_as_too_complex() {
    let api = Api::with_config(HttpConfig::default());
    let mut config = HostConfig::default();
    config.runtime.compiler =
        kith::plugin::Compiler::Subprocess(kith::plugin::SubprocessCompiler {
            exe: env!("CARGO_BIN_EXE_kith_under_test").into(),
            memory_bytes: 128 << 20,
            timeout: Duration::from_secs(120),
        });
    let host = PluginHost::open(api.store.clone(), config).unwrap();
    let _ = api.state.clone().with_plugins(Arc::clone(&host));
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/plugins?wait=60")
        .header("authorization", format!("Bearer {}", api.admin))
        .header("content-type", "application/wasm")
        .body(Body::from(kith_tests::crafted::compile_bomb(600, 600)))
        .unwrap();
    let r = api.send(req).await;
    let problem = r.problem(422, "plugin_too_complex");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("plugin_compile_memory_bytes"),
        "{problem}"
    );
}

async fn unsigned_junk_to_a_hook_is_refused_by_kith_and_suspends_nothing(backend: Backend) {
    let w = world(backend).await;
    w.upload(plugins::SHOPIFY_ORDERS).await;
    let enabled = w
        .enable("kith.shopify-orders", json!({ "secret": SECRET }))
        .await;
    assert_eq!(
        enabled["status"]["enablement"]["signature"],
        json!({ "header": "X-Shopify-Hmac-Sha256", "secret": "/secret" })
    );
    let junk = vec![b'x'; 200 * 1024];
    for i in 0..6 {
        let r = w
            .api
            .send(shopify(
                "orders/create",
                &format!("junk-{i}"),
                &junk,
                "AAAA",
            ))
            .await;
        let problem = r.problem(401, "bad_signature");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("checked by Kith"),
            "{problem}"
        );
    }
    let status = w.plugin_status("kith.shopify-orders").await;
    assert_eq!(status["suspended"], false);
    assert_eq!(status["calls"]["calls"], 0, "no guest code ran: {status}");
    // "none" hands signatures back to the plugin, and is shown as null.
    let patched = w
        .call(
            "PATCH",
            "/v1/tenants/acme/plugins/kith.shopify-orders",
            &w.acme,
            Some(json!({ "signature": "none" })),
        )
        .await
        .ok(200);
    assert_eq!(patched["enablement"]["signature"], Value::Null);
}

/// Regression: each plugin call waiting for its tenant's share of instances held a blocking
/// thread while it waited, so one tenant's flood of slow calls could take every thread of the
/// blocking pool, which every tenant's store reads and webhooks share, and another tenant waited
/// behind the flood. Here the pool has two threads more than a tenant's share: globex floods
/// dry runs of a plugin that loops until its deadline, and acme's read and signed webhook are
/// answered before the first of globex's calls ends.
#[test]
fn a_tenants_queued_plugin_calls_hold_no_thread_another_tenant_needs() {
    const SHARE: u32 = 2;
    const FLOOD: usize = 12;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(SHARE as usize + 2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut config = HostConfig::default();
        config.runtime.instances_per_tenant = SHARE;
        // The deadline, not the fuel, ends each looping call: two seconds.
        config.ceilings.call.fuel = 1_000_000_000_000;
        config.ceilings.call.deadline = Duration::from_secs(2);
        let w = Arc::new(world_hosted(Backend::Redb, HttpConfig::default(), config).await);
        w.upload(plugins::SHOPIFY_ORDERS).await;
        w.enable("kith.shopify-orders", json!({ "secret": SECRET }))
            .await;
        let ann = w
            .api
            .customer("acme", &w.acme, json!({ "email": "ann@acme.test" }))
            .await;
        w.upload(plugins::HOSTILE_INFINITE_LOOP).await;
        w.call(
            "POST",
            "/v1/tenants/globex/plugins",
            &w.globex,
            Some(json!({
                "plugin": "kith.test.infinite-loop",
                "limits": { "fuel": 1_000_000_000_000u64, "deadline_ms": 2_000 }
            })),
        )
        .await
        .ok(201);
        let victim = w
            .api
            .customer("globex", &w.globex, json!({ "email": "bob@globex.test" }))
            .await;
        let answered = Arc::new(AtomicUsize::new(0));
        let flood: Vec<_> = (0..FLOOD)
            .map(|_| {
                let (w, answered) = (Arc::clone(&w), Arc::clone(&answered));
                let body = json!({ "customers": [victim["id"]] });
                tokio::spawn(async move {
                    let path = "/v1/tenants/globex/plugins/kith.test.infinite-loop/dry-run";
                    let r = w.call("POST", path, &w.globex, Some(body)).await;
                    answered.fetch_add(1, Ordering::SeqCst);
                    r
                })
            })
            .collect();
        // Globex's share is running before acme asks anything.
        // (Watched from a thread of its own: the blocking pool is what this test is about.)
        let (tx, rx) = tokio::sync::oneshot::channel();
        let host = Arc::clone(&w.host);
        std::thread::spawn(move || {
            let _ = tx.send(
                host.runtime()
                    .wait_for_instances_in_use(Some("globex"), SHARE, WAIT),
            );
        });
        assert!(rx.await.unwrap(), "globex holds its whole share");
        let read = w
            .call(
                "GET",
                &format!("/v1/tenants/acme/customers/{}", ann["id"].as_str().unwrap()),
                &w.acme,
                None,
            )
            .await;
        assert_eq!(read.status, 200, "{}", read.text);
        let body = fixture("orders-create.json");
        let hook = w
            .api
            .send(shopify(
                "orders/create",
                "gate-1",
                &body,
                &sign(&body, SECRET),
            ))
            .await;
        assert_eq!(hook.status, 200, "{}", hook.text);
        assert_eq!(
            answered.load(Ordering::SeqCst),
            0,
            "acme waited for globex's calls to end"
        );
        // Globex's calls ran in turn; those that waited longer than the deadline were told the
        // tenant's share was busy.
        for call in flood {
            let r = call.await.unwrap();
            match r.status.as_u16() {
                200 => {}
                503 => {
                    r.problem(503, "plugin_busy");
                }
                other => panic!("{other}: {}", r.text),
            }
        }
    });
}

on_both_backends! {
    the_registry_installs_lists_shows_and_uninstalls_components,
    uploads_of_anything_but_a_plugin_are_refused_clearly,
    installs_are_jobs_that_end_ready_or_failed,
    enabling_scores_customers_and_the_scores_are_searchable,
    segments_are_listed_with_counts_and_their_members_paged,
    a_dry_run_shows_what_would_change_and_writes_nothing,
    enabling_configuring_and_upgrading_refuse_bad_input_and_change_nothing,
    shopify_webhooks_are_answered_by_the_plugins_verdict_and_applied_once,
    the_same_delivery_sent_at_once_is_applied_once,
    another_tenants_key_finds_none_of_the_plugin_routes,
    an_anonymous_webhook_caller_never_sees_the_plugins_message,
    budgets_above_the_hosts_ceilings_are_refused_with_the_ceiling,
    uploading_other_bytes_under_an_installed_version_is_a_conflict,
    unsigned_junk_to_a_hook_is_refused_by_kith_and_suspends_nothing,
}
