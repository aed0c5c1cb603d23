//! The plugin platform end to end on a real store: the registry, per-tenant enablement with
//! schema-checked configuration, event-log dispatch, rescoring, segments, commerce webhooks, the
//! circuit breaker, refused actions and upgrades; and the demo tenant of `kith serve --demo`.

/// A store on either backend, the router over it (shared with `kith`'s HTTP tests).
#[path = "../../../core/kith/tests/http_support/mod.rs"]
mod http_support;

/// The same platform through the HTTP routes, and `kith serve` end to end (one test binary:
/// each binary costs CI a link of wasmtime).
#[path = "plugin_platform/http.rs"]
mod http;

/// What one tenant, one plugin or one anonymous caller can make the host do, bounded: the
/// regressions of issue 10's findings.
#[path = "plugin_platform/isolation.rs"]
mod isolation;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use self::http_support::{Backend, Place, on_both_backends_blocking};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use kith::Error;
use kith::model::{
    Actor, AttributeValue, Breaker, Channel, Currency, CustomerId, CustomerInput, Email, EventKind,
    FailureRecord, InteractionInput, InteractionKind, LimitOverrides, Money, Outcomes,
    StageCategory, TenantInput, TenantSlug, Timestamp,
};
use kith::plugin::{RejectionKind, Verdict, Webhook};
use kith::service::access::Access;
use kith::service::plugins::{EnableRequest, HostConfig, JobState, PluginHost};
use kith::service::{demo, pipelines, reports, tokens};
use kith::store::{
    CustomerFilter, Error as StoreError, Op, PageRequest, PluginOp, PluginStore, RedbStore,
    ScoreRange, StoreConfig,
};
use kith_tests::plugins;
use serde_json::json;
use sha2::Sha256;

const WAIT: Duration = Duration::from_secs(60);

struct World {
    store: Arc<dyn PluginStore>,
    host: Arc<PluginHost>,
    /// Where the store keeps its data, for as long as the world lives.
    _place: Place,
}

fn world() -> World {
    world_with(|_| {})
}

/// A world whose host settings `configure` changes.
fn world_with(configure: impl FnOnce(&mut HostConfig)) -> World {
    world_on_with(Backend::Redb, configure)
}

fn world_on(backend: Backend) -> World {
    world_on_with(backend, |_| {})
}

/// A world on `backend` whose host settings `configure` changes.
fn world_on_with(backend: Backend, configure: impl FnOnce(&mut HostConfig)) -> World {
    let place = Place::new(backend);
    let store = place.open();
    let mut config = HostConfig::with_cache(place.dir.path().join("plugin-cache"));
    configure(&mut config);
    let host = PluginHost::open(store.clone(), config).unwrap();
    for slug in ["acme", "globex"] {
        store
            .create_tenant(
                TenantInput {
                    slug: slug.into(),
                    name: None,
                    industry: None,
                },
                &Actor::new("test"),
            )
            .unwrap();
    }
    World {
        store,
        host,
        _place: place,
    }
}

fn slug(s: &str) -> TenantSlug {
    TenantSlug::parse(s).unwrap()
}

fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn customer(w: &World, tenant: &str, email: &str) -> CustomerId {
    w.store
        .create_customer(
            &slug(tenant),
            &Actor::new("test"),
            CustomerInput {
                name: Some(email.into()),
                email: Some(email.into()),
                ..CustomerInput::default()
            },
        )
        .unwrap()
        .id
}

fn purchase(w: &World, tenant: &str, c: CustomerId, minor: i64) -> u64 {
    let mut input = InteractionInput::new(c, Channel::ECommerce, InteractionKind::Purchase);
    input.amount = Some(Money::new(
        minor,
        Currency::parse("currency", "USD").unwrap(),
    ));
    w.store
        .log_interaction(&slug(tenant), &Actor::new("test"), input)
        .unwrap();
    w.store.last_seq(&slug(tenant)).unwrap()
}

fn install(w: &World, path: &str) -> String {
    w.host.install(&bytes(path)).unwrap().plugin.hash
}

fn score_of(w: &World, tenant: &str, c: CustomerId, plugin: &str) -> Option<f64> {
    w.store
        .score(&slug(tenant), c, plugin)
        .unwrap()
        .map(|s| s.score)
}

fn field_paths(e: &Error) -> Vec<String> {
    match e {
        Error::Store(kith::store::Error::Invalid(v)) => {
            v.errors.iter().map(|f| f.field.clone()).collect()
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn installing_refuses_what_is_not_a_plugin_and_is_idempotent() {
    let w = world();
    for (bad, code) in [
        (b"not wasm at all".to_vec(), "not-a-component"),
        (
            vec![0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
            "not-a-component",
        ),
    ] {
        let err = w.host.install(&bad).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
    }
    assert!(w.host.plugins().unwrap().is_empty(), "nothing was stored");

    let first = w.host.install(&bytes(plugins::RFM_SCORER)).unwrap();
    assert!(first.created);
    assert_eq!(first.plugin.id, "kith.rfm");
    let again = w.host.install(&bytes(plugins::RFM_SCORER)).unwrap();
    assert!(!again.created);
    assert_eq!(again.plugin, first.plugin);
    assert_eq!(w.host.plugins().unwrap().len(), 1);
    assert_eq!(
        w.host.plugin(&first.plugin.hash).unwrap().manifest.id,
        "kith.rfm"
    );
}

#[test]
fn an_oversized_component_is_refused_before_it_is_compiled() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path(), StoreConfig::default()).unwrap());
    let mut config = HostConfig::default();
    config.runtime.max_plugin_bytes = 1024;
    let host = PluginHost::open(store, config).unwrap();
    let err = host.install(&bytes(plugins::RFM_SCORER)).unwrap_err();
    assert_eq!(err.code(), "too-large");
    assert!(host.plugins().unwrap().is_empty());
}

#[test]
fn a_bad_configuration_reports_every_error_by_json_path_and_enables_nothing() {
    let w = world();
    install(&w, plugins::VALUE_TIERS);
    let head = w.store.last_seq(&slug("acme")).unwrap();
    let err = w
        .host
        .enable(
            &slug("acme"),
            EnableRequest::new(
                "kith.value-tiers",
                json!({"currency": "euro", "vip": -5, "platinum": 1}),
            ),
        )
        .unwrap_err();
    let mut paths = field_paths(&err);
    paths.sort();
    assert_eq!(paths, ["config", "config/currency", "config/vip"]);
    assert!(w.host.enabled_plugins(&slug("acme")).unwrap().is_empty());
    assert_eq!(
        w.store.last_seq(&slug("acme")).unwrap(),
        head,
        "no event written"
    );

    let err = w
        .host
        .enable(&slug("acme"), EnableRequest::new("kith.nope", json!({})))
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
}

/// A tenant enables a plugin built against the released contract 0.1.0 and one built against
/// 0.2.0: both score, each with its own bindings; the 0.2.0 one's declared budgets apply, capped
/// at the host's ceilings, under the tenant's overrides.
#[test]
fn plugins_of_contracts_0_1_0_and_0_2_0_run_side_by_side_in_one_tenant() {
    let w = world();
    install(&w, plugins::TEST_CONTRACT_V0_1);
    install(&w, plugins::TEST_CONTRACT_V0_2);
    let a = customer(&w, "acme", "a@acme.test");
    purchase(&w, "acme", a, 1000);
    purchase(&w, "acme", a, 2500);
    let old = "kith.test.contract-v0-1";
    let new = "kith.test.contract-v0-2";
    let request = EnableRequest {
        limits: LimitOverrides {
            fuel: Some(30_000_000),
            ..LimitOverrides::default()
        },
        ..EnableRequest::new(new, json!({}))
    };
    for (plugin, request) in [(old, EnableRequest::new(old, json!({}))), (new, request)] {
        let job = w
            .host
            .enable(&slug("acme"), request)
            .unwrap()
            .expect("a rescore job");
        let done = w.host.wait_for_job(&slug("acme"), job, WAIT).unwrap();
        assert_eq!(
            (done.state, done.done, done.failed),
            (JobState::Done, 1, 0),
            "{plugin}"
        );
    }
    // 0.1.0: ten per purchase; its population model counted the one customer; its action applied.
    assert_eq!(score_of(&w, "acme", a, old), Some(20.0));
    let stored = w.store.score(&slug("acme"), a, old).unwrap().unwrap();
    assert_eq!(stored.reasons[1].message, "1 customers in the population");
    let tags = w.store.customer(&slug("acme"), a).unwrap().unwrap().tags;
    assert!(
        tags.iter().any(|t| t.as_str() == "contract-0-1"),
        "{tags:?}"
    );
    // 0.2.0: the first purchase's amount.
    assert_eq!(score_of(&w, "acme", a, new), Some(1000.0));

    let status = w.host.status(&slug("acme"), new).unwrap();
    assert_eq!(status.limits.fuel, 30_000_000, "the tenant's override wins");
    assert_eq!(
        status.limits.memory_bytes,
        32 << 20,
        "the manifest's budget"
    );
    let ceiling = HostConfig::default().ceilings.population.fuel;
    assert_eq!(
        status.population_limits.fuel, ceiling,
        "capped at the ceiling"
    );
    let status = w.host.status(&slug("acme"), old).unwrap();
    assert_eq!(status.limits.memory_bytes, 16 << 20, "the host's default");
}

fn enabling_scores_existing_customers_and_events_rescore_only_that_tenant(backend: Backend) {
    let w = world_on(backend);
    install(&w, plugins::TEST_COUNTER_V1);
    let a = customer(&w, "acme", "a@acme.test");
    let b = customer(&w, "acme", "b@acme.test");
    purchase(&w, "acme", a, 1000);
    let g = customer(&w, "globex", "g@globex.test");
    purchase(&w, "globex", g, 1000);

    let job = w
        .host
        .enable(
            &slug("acme"),
            EnableRequest::new("kith.test.counter", json!({})),
        )
        .unwrap()
        .expect("a scorer starts a rescore job");
    let done = w.host.wait_for_job(&slug("acme"), job, WAIT).unwrap();
    assert_eq!(done.state, JobState::Done, "{done:?}");
    assert_eq!((done.done, done.failed), (2, 0));
    assert_eq!(score_of(&w, "acme", a, "kith.test.counter"), Some(1.0));
    assert_eq!(score_of(&w, "acme", b, "kith.test.counter"), Some(0.0));
    let stored = w
        .store
        .score(&slug("acme"), a, "kith.test.counter")
        .unwrap()
        .unwrap();
    assert_eq!(stored.producer.version, "1.0.0");
    assert_eq!(stored.reasons[0].code, "purchases");

    let _dispatcher = w.host.spawn_dispatcher();
    let seq = purchase(&w, "acme", a, 2500);
    let cursor = w
        .host
        .wait_for_cursor(&slug("acme"), "kith.test.counter", seq, WAIT)
        .unwrap();
    assert!(cursor >= seq);
    assert_eq!(score_of(&w, "acme", a, "kith.test.counter"), Some(2.0));
    // The plugin's action ran as the plugin, once.
    let customer = w.store.customer(&slug("acme"), a).unwrap().unwrap();
    assert_eq!(
        customer.attributes.get("counter_version"),
        Some(&AttributeValue::Number(1.0))
    );
    let by_plugin: Vec<_> = w
        .store
        .events(&slug("acme"), 0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.actor.plugin_id() == Some("kith.test.counter"))
        .collect();
    assert!(
        by_plugin
            .iter()
            .all(|e| e.kind == EventKind::CustomerUpdated)
    );

    // Never enabled for globex: nothing of globex was scored.
    assert_eq!(score_of(&w, "globex", g, "kith.test.counter"), None);
    assert_eq!(
        w.store
            .plugin_cursor(&slug("globex"), "kith.test.counter")
            .unwrap(),
        0
    );

    let board = w
        .store
        .leaderboard(
            &slug("acme"),
            "kith.test.counter",
            ScoreRange::ALL,
            &PageRequest::first(10),
        )
        .unwrap();
    let order: Vec<CustomerId> = board.items.iter().map(|s| s.customer).collect();
    assert_eq!(order, [a, b]);
    assert!(w.store.check().unwrap().is_empty());
}

fn segments_are_stored_with_reasons_and_listed_by_member(backend: Backend) {
    let w = world_on(backend);
    install(&w, plugins::VALUE_TIERS);
    let big = customer(&w, "acme", "big@acme.test");
    let small = customer(&w, "acme", "small@acme.test");
    purchase(&w, "acme", big, 600_000);
    purchase(&w, "acme", small, 30_000);
    let job = w
        .host
        .enable(
            &slug("acme"),
            EnableRequest::new("kith.value-tiers", json!({})),
        )
        .unwrap()
        .unwrap();
    assert_eq!(
        w.host.wait_for_job(&slug("acme"), job, WAIT).unwrap().state,
        JobState::Done
    );
    let vip = w
        .store
        .segment_members(
            &slug("acme"),
            "kith.value-tiers",
            "vip",
            &PageRequest::first(10),
        )
        .unwrap();
    assert_eq!(vip.items, [big]);
    let silver = w
        .store
        .segment_members(
            &slug("acme"),
            "kith.value-tiers",
            "silver",
            &PageRequest::first(10),
        )
        .unwrap();
    assert_eq!(silver.items, [small]);
    let of_big = w.store.segments_of(&slug("acme"), big).unwrap();
    assert_eq!(of_big.len(), 1);
    assert!(!of_big[0].memberships[0].reason.is_empty());

    // A rescore keeps the unchanged memberships (written again, their index entries left as
    // they were) and moves the changed one from its old segment's members to its new one's.
    purchase(&w, "acme", small, 600_000);
    let again = w
        .host
        .start_rescore(&slug("acme"), "kith.value-tiers")
        .unwrap();
    assert_eq!(
        w.host
            .wait_for_job(&slug("acme"), again, WAIT)
            .unwrap()
            .state,
        JobState::Done
    );
    let members = |segment: &str| {
        w.store
            .segment_members(
                &slug("acme"),
                "kith.value-tiers",
                segment,
                &PageRequest::first(10),
            )
            .unwrap()
            .items
    };
    let mut both = vec![big, small];
    both.sort();
    assert_eq!(members("vip"), both);
    assert!(members("silver").is_empty());
    assert!(w.store.check().unwrap().is_empty());

    // Erasure takes the customer's outputs and their index entries with it.
    w.store
        .erase_customer(&slug("acme"), &Actor::new("test"), big)
        .unwrap();
    let vip = w
        .store
        .segment_members(
            &slug("acme"),
            "kith.value-tiers",
            "vip",
            &PageRequest::first(10),
        )
        .unwrap();
    assert_eq!(vip.items, [small]);
    assert!(w.store.check().unwrap().is_empty());
}

fn uninstall_is_refused_while_a_tenant_has_the_plugin_enabled(backend: Backend) {
    let w = world_on(backend);
    let hash = install(&w, plugins::TEST_COUNTER_V1);
    w.host
        .enable(
            &slug("globex"),
            EnableRequest::new("kith.test.counter", json!({})),
        )
        .unwrap();
    let err = w.host.uninstall(&hash).unwrap_err();
    assert_eq!(err.code(), "plugin_in_use");
    assert!(err.to_string().contains("globex"), "{err}");
    assert_eq!(w.host.plugins().unwrap().len(), 1);
    w.host
        .disable(&slug("globex"), "kith.test.counter")
        .unwrap();
    w.host.uninstall(&hash).unwrap();
    assert!(w.host.plugins().unwrap().is_empty());
    assert_eq!(w.host.uninstall(&hash).unwrap_err().code(), "not_found");
}

const SECRET: &str = "shpss_platform_secret";

fn shopify_delivery(delivery: &str, secret: &str) -> Webhook {
    let body = serde_json::to_vec(&json!({
        "id": 4501,
        "email": "jon@example.com",
        "processed_at": "2024-05-01T10:00:05-04:00",
        "currency": "EUR",
        "total_price": "19.90",
        "customer": {"id": 77, "email": "jon@example.com", "first_name": "Jon", "last_name": "Snow"},
        "line_items": [{"title": "Scarf", "quantity": 1, "price": "19.90"}]
    }))
    .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&body);
    let signature = BASE64.encode(mac.finalize().into_bytes());
    Webhook {
        topic: "orders/create".into(),
        headers: vec![
            ("X-Shopify-Topic".into(), "orders/create".into()),
            ("X-Shopify-Hmac-Sha256".into(), signature),
        ],
        body,
        delivery_id: Some(delivery.into()),
        received_at: Timestamp::now(),
    }
}

fn a_webhook_is_applied_once_per_delivery_and_a_forgery_changes_nothing(backend: Backend) {
    let w = world_on(backend);
    install(&w, plugins::SHOPIFY_ORDERS);
    w.host
        .enable(
            &slug("acme"),
            EnableRequest::new("kith.shopify-orders", json!({"secret": SECRET})),
        )
        .unwrap();

    // A forged delivery claiming the id first: rejected, and it does not poison the id.
    let head = w.store.last_seq(&slug("acme")).unwrap();
    let forged = w
        .host
        .handle_webhook(
            &slug("acme"),
            "kith.shopify-orders",
            &shopify_delivery("d-1", "wrong"),
        )
        .unwrap();
    assert!(
        matches!(
            forged.verdict,
            Verdict::Rejected {
                kind: RejectionKind::BadSignature,
                ..
            }
        ),
        "{forged:?}"
    );
    assert_eq!(
        w.store.last_seq(&slug("acme")).unwrap(),
        head,
        "nothing written"
    );

    let first = w
        .host
        .handle_webhook(
            &slug("acme"),
            "kith.shopify-orders",
            &shopify_delivery("d-1", SECRET),
        )
        .unwrap();
    assert_eq!(first.verdict, Verdict::Accepted);
    assert!(first.actions_applied >= 2 && !first.replayed);
    let jon = w
        .store
        .customer_by_email(
            &slug("acme"),
            &Email::parse("email", "jon@example.com").unwrap(),
        )
        .unwrap()
        .expect("the customer was upserted");
    let after_first = w.store.last_seq(&slug("acme")).unwrap();
    let timeline = w
        .store
        .timeline(&slug("acme"), jon.id, &PageRequest::first(10))
        .unwrap();
    assert_eq!(timeline.items.len(), 1);
    assert_eq!(timeline.items[0].kind, InteractionKind::Purchase);
    let events = w.store.events(&slug("acme"), head, 100).unwrap();
    assert!(
        events
            .iter()
            .all(|e| e.actor.plugin_id() == Some("kith.shopify-orders"))
    );

    let again = w
        .host
        .handle_webhook(
            &slug("acme"),
            "kith.shopify-orders",
            &shopify_delivery("d-1", SECRET),
        )
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.verdict, Verdict::Accepted);
    assert_eq!(
        w.store.last_seq(&slug("acme")).unwrap(),
        after_first,
        "nothing new"
    );

    // Not enabled for globex: the hook does not run there.
    let err = w
        .host
        .handle_webhook(
            &slug("globex"),
            "kith.shopify-orders",
            &shopify_delivery("d-2", SECRET),
        )
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
}

fn refused_actions_are_recorded_and_the_triggering_write_stands(backend: Backend) {
    let w = world_on(backend);
    install(&w, plugins::HOSTILE_FOREIGN_TENANT_ACTIONS);
    let victim = customer(&w, "globex", "victim@globex.test");
    let before = customer(&w, "acme", "before@acme.test");
    let job = w
        .host
        .enable(
            &slug("acme"),
            EnableRequest::new(
                "kith.test.foreign-tenant-actions",
                json!({"customer_id": victim.to_string()}),
            ),
        )
        .unwrap()
        .unwrap();
    // The rescore's call succeeded but the store refused its actions: the customer counts as
    // failed in the job's progress, written with the batch's outputs.
    let job = w.host.wait_for_job(&slug("acme"), job, WAIT).unwrap();
    assert_eq!(
        (job.state, job.done, job.failed),
        (JobState::Done, 1, 1),
        "{job:?}"
    );
    assert_eq!(w.store.scores(&slug("acme"), before).unwrap(), []);
    let _dispatcher = w.host.spawn_dispatcher();
    let mine = customer(&w, "acme", "me@acme.test");
    let seq = w.store.last_seq(&slug("acme")).unwrap();
    w.host
        .wait_for_cursor(&slug("acme"), "kith.test.foreign-tenant-actions", seq, WAIT)
        .unwrap();

    // The core write stands; the other tenant's customer is untouched; no score was stored.
    assert!(w.store.customer(&slug("acme"), mine).unwrap().is_some());
    let v = w.store.customer(&slug("globex"), victim).unwrap().unwrap();
    assert!(v.tags.is_empty() && v.attributes.is_empty() && v.version == 1);
    assert_eq!(w.store.scores(&slug("acme"), mine).unwrap(), []);
    let status = w
        .host
        .status(&slug("acme"), "kith.test.foreign-tenant-actions")
        .unwrap();
    let last = status.health.last_error.expect("the refusal is recorded");
    assert_eq!(last.code, "invalid-action");
    assert!(last.message.contains("not found"), "{}", last.message);
}

fn five_consecutive_failures_suspend_the_plugin_until_reset(backend: Backend) {
    let w = world_on(backend);
    install(&w, plugins::HOSTILE_PANIC);
    let job = w
        .host
        .enable(
            &slug("acme"),
            EnableRequest::new("kith.test.panic", json!({})),
        )
        .unwrap();
    // The enable's rescore may still run beside the dispatcher: both count their failures into
    // the stored health, so neither can write back a health from before the other's.
    let customers: Vec<CustomerId> = (0..7)
        .map(|i| customer(&w, "acme", &format!("c{i}@acme.test")))
        .collect();
    w.host.dispatch_pending().unwrap();
    let status = w.host.status(&slug("acme"), "kith.test.panic").unwrap();
    assert!(status.suspended, "{status:?}");
    assert!(status.health.consecutive_failures >= 5);
    assert_eq!(status.health.last_error.as_ref().unwrap().code, "trap");
    assert!(
        customers
            .iter()
            .all(|c| w.store.scores(&slug("acme"), *c).unwrap().is_empty())
    );
    // Suspended: new events wait, the cursor stays.
    let cursor = status.cursor;
    customer(&w, "acme", "late@acme.test");
    w.host.dispatch_pending().unwrap();
    assert_eq!(
        w.store
            .plugin_cursor(&slug("acme"), "kith.test.panic")
            .unwrap(),
        cursor
    );
    // Every customer was still created: the plugin never undid a core write.
    assert_eq!(
        w.store
            .customers(
                &slug("acme"),
                &CustomerFilter::All,
                &PageRequest::first(100)
            )
            .unwrap()
            .items
            .len(),
        8
    );
    if let Some(job) = job {
        w.host.wait_for_job(&slug("acme"), job, WAIT).unwrap();
    }
    w.host.reset(&slug("acme"), "kith.test.panic").unwrap();
    let status = w.host.status(&slug("acme"), "kith.test.panic").unwrap();
    assert!(!status.suspended && status.health.consecutive_failures == 0);
    assert!(
        status.health.last_error.is_some(),
        "the last error stays visible"
    );
}

/// Two writers that read the plugin's health before either wrote (the dispatcher and a rescore
/// job) both count: the later one cannot write back the health it read and so undo the
/// other's suspension (a lost update while health was written as a computed value).
fn outcomes_from_two_writers_both_count_in_the_stored_health(backend: Backend) {
    let w = world_on(backend);
    install(&w, plugins::HOSTILE_PANIC);
    let acme = slug("acme");
    let plugin = "kith.test.panic";
    let job = w
        .host
        .enable(&acme, EnableRequest::new(plugin, json!({})))
        .unwrap();
    if let Some(job) = job {
        w.host.wait_for_job(&acme, job, WAIT).unwrap();
    }
    let breaker = Breaker::default();
    let t0 = Timestamp::now().as_micros();
    let failure = |after: i64| FailureRecord {
        code: "trap".into(),
        message: "plugin trapped".into(),
        at: Timestamp::from_micros(t0 + after),
    };
    let write = |outcomes: Outcomes| {
        w.store
            .write(
                &acme,
                &Actor::plugin(plugin),
                vec![Op::Plugin(PluginOp::RecordOutcomes {
                    plugin: plugin.to_owned(),
                    outcomes,
                    breaker,
                })],
            )
            .unwrap()
    };
    // Both read a healthy plugin; the first writer's five failures suspend it.
    let read_by_both = w.store.plugin_health(&acme, plugin).unwrap();
    assert_eq!(read_by_both.consecutive_failures, 0);
    let mut first = Outcomes::new();
    for i in 0..5 {
        first.failed(failure(i));
    }
    write(first);
    // The second writer's one failure adds to them: still suspended, for twice as long.
    write(Outcomes::failure(failure(100)));
    let health = w.store.plugin_health(&acme, plugin).unwrap();
    assert_eq!(health.consecutive_failures, 6, "{health:?}");
    assert_eq!(health.suspensions, 2, "{health:?}");
    assert_eq!(
        health.suspended_until,
        Some(Timestamp::from_micros(t0 + 100 + 60_000_000)),
    );
    assert!(w.host.status(&acme, plugin).unwrap().suspended);
    // What replacing the health with the second writer's own reading would have stored:
    // one failure, not suspended.
    let overwritten = breaker.failed(&read_by_both, failure(100));
    assert!(overwritten.suspended_until.is_none());
    // A success then closes the breaker and keeps the last error visible.
    write(Outcomes::success());
    let health = w.store.plugin_health(&acme, plugin).unwrap();
    assert_eq!(
        (health.consecutive_failures, health.suspended_until),
        (0, None)
    );
    assert_eq!(health.last_error, Some(failure(100)));
    // Outcomes of a plugin the tenant has not enabled are refused and write nothing.
    let refused = w.store.write(
        &acme,
        &Actor::plugin("kith.test.absent"),
        vec![Op::Plugin(PluginOp::RecordOutcomes {
            plugin: "kith.test.absent".to_owned(),
            outcomes: Outcomes::failure(failure(1)),
            breaker,
        })],
    );
    assert!(
        matches!(refused, Err(StoreError::NotFound { .. })),
        "{refused:?}"
    );
    assert_eq!(
        w.store
            .plugin_health(&acme, "kith.test.absent")
            .unwrap()
            .consecutive_failures,
        0
    );
}

fn upgrading_while_events_flow_moves_scoring_to_the_new_version_without_losing_events(
    backend: Backend,
) {
    let w = world_on(backend);
    install(&w, plugins::TEST_COUNTER_V1);
    install(&w, plugins::TEST_COUNTER_V2);
    let c = customer(&w, "acme", "c@acme.test");
    let job = w
        .host
        .enable(
            &slug("acme"),
            EnableRequest {
                version: Some("1.0.0".into()),
                ..EnableRequest::new("kith.test.counter", json!({}))
            },
        )
        .unwrap()
        .unwrap();
    w.host.wait_for_job(&slug("acme"), job, WAIT).unwrap();
    let dispatcher = w.host.spawn_dispatcher();
    let writer = {
        let store = Arc::clone(&w.store);
        std::thread::spawn(move || {
            for _ in 0..40 {
                let mut input =
                    InteractionInput::new(c, Channel::ECommerce, InteractionKind::Purchase);
                input.amount = Some(Money::new(100, Currency::parse("c", "USD").unwrap()));
                store
                    .log_interaction(&slug("acme"), &Actor::new("test"), input)
                    .unwrap();
            }
        })
    };
    let job = w
        .host
        .upgrade(&slug("acme"), "kith.test.counter", "2.0.0", None)
        .unwrap()
        .unwrap();
    writer.join().unwrap();
    w.host.wait_for_job(&slug("acme"), job, WAIT).unwrap();
    let head = w.store.last_seq(&slug("acme")).unwrap();
    w.host
        .wait_for_cursor(&slug("acme"), "kith.test.counter", head, WAIT)
        .unwrap();
    dispatcher.stop();
    // Settle anything the dispatcher wrote itself after the head we waited for.
    w.host.dispatch_pending().unwrap();
    let score = w
        .store
        .score(&slug("acme"), c, "kith.test.counter")
        .unwrap()
        .unwrap();
    assert_eq!(score.producer.version, "2.0.0");
    assert_eq!(score.score, 80.0, "40 purchases, scored by version 2");
    let status = w.host.status(&slug("acme"), "kith.test.counter").unwrap();
    assert_eq!(status.enablement.version, "2.0.0");
    assert_eq!(status.cursor, status.head);
    let customer = w.store.customer(&slug("acme"), c).unwrap().unwrap();
    assert_eq!(
        customer.attributes.get("counter_version"),
        Some(&AttributeValue::Number(2.0))
    );
}

fn a_stale_cursor_advance_is_refused_so_a_batch_cannot_apply_twice(backend: Backend) {
    use kith::store::{Op, PluginOp};
    let w = world_on(backend);
    install(&w, plugins::TEST_COUNTER_V1);
    w.host
        .enable(
            &slug("acme"),
            EnableRequest::new("kith.test.counter", json!({})),
        )
        .unwrap();
    customer(&w, "acme", "x@acme.test");
    let from = w
        .store
        .plugin_cursor(&slug("acme"), "kith.test.counter")
        .unwrap();
    let advance = |to| {
        vec![Op::Plugin(PluginOp::AdvanceCursor {
            plugin: "kith.test.counter".into(),
            from,
            to,
        })]
    };
    w.store
        .write(
            &slug("acme"),
            &Actor::plugin("kith.test.counter"),
            advance(from + 1),
        )
        .unwrap();
    let err = w
        .store
        .write(
            &slug("acme"),
            &Actor::plugin("kith.test.counter"),
            advance(from + 1),
        )
        .unwrap_err();
    assert_eq!(err.code(), "version_conflict");
}

/// Where the build script put the components: the demo's plugin directory.
fn plugin_dir() -> &'static Path {
    Path::new(plugins::RFM_SCORER)
        .parent()
        .expect("a component path has a directory")
}

#[test]
fn the_demo_lists_every_reference_plugin_and_no_test_plugin() {
    let mut reference: Vec<&str> = plugins::ALL
        .iter()
        .map(|(dir, _)| *dir)
        .filter(|d| !d.starts_with("hostile-") && !d.starts_with("test-") && *d != "trivial-scorer")
        .collect();
    reference.sort_unstable();
    let mut listed = demo::PLUGINS.to_vec();
    listed.sort_unstable();
    assert_eq!(listed, reference);
    for (dir, path) in plugins::ALL {
        if demo::PLUGINS.contains(dir) {
            assert_eq!(demo::component_path(plugin_dir(), dir), Path::new(path));
        }
    }
}

#[test]
fn seeding_the_demo_creates_a_scored_tenant_once_and_a_restart_changes_nothing() {
    let w = world();
    let report = demo::seed(&w.host, plugin_dir()).unwrap();
    let t = slug(demo::TENANT);
    assert!(report.created);
    assert!(
        report.problems().is_empty(),
        "every rescore finished without failures: {:?}",
        report.problems()
    );

    // A tenant key for the demo tenant only, shown once.
    let key = report.tenant_key.clone().expect("a new tenant key");
    let principal = tokens::authenticate(w.store.as_ref(), &key, None)
        .unwrap()
        .expect("the demo key is valid");
    assert!(principal.can_see(&t) && !principal.can_see(&slug("acme")));
    assert!(!principal.is_admin() && !principal.read_only);

    let counts = &report.counts;
    assert!(counts.customers >= 250, "{counts:?}");
    assert!(counts.interactions >= 1000, "{counts:?}");
    assert_eq!(counts.pipelines, 2);

    // Every reference plugin is enabled and healthy.
    let ids: Vec<String> = report.plugins.iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids.len(), demo::PLUGINS.len());
    let enabled: Vec<String> = w
        .host
        .enabled_plugins(&t)
        .unwrap()
        .into_iter()
        .map(|e| e.plugin)
        .collect();
    for id in &ids {
        assert!(enabled.contains(id), "{id} is enabled");
        let status = w.host.status(&t, id).unwrap();
        assert!(!status.suspended, "{id} is not suspended");
        assert_eq!(status.health.consecutive_failures, 0, "{id}");
    }

    // Scores: every customer has one from each scorer, and buyers have a real RFM score.
    let scorers = [
        "kith.rfm",
        "kith.clv",
        "kith.lead-score",
        "kith.lead-probability",
    ];
    let (mut buyers, mut page) = (0, PageRequest::first(100));
    loop {
        let bundles = w.store.customer_bundles(&t, &page).unwrap();
        for b in &bundles.items {
            let c = b.customer.id;
            for plugin in scorers {
                assert!(
                    score_of(&w, "demo", c, plugin).is_some(),
                    "{plugin} scored {c}"
                );
            }
            if b.interactions
                .iter()
                .any(|i| i.kind == InteractionKind::Purchase)
            {
                buyers += 1;
                assert!(score_of(&w, "demo", c, "kith.rfm").unwrap() > 0.0);
            }
        }
        match bundles.next {
            Some(next) => page = PageRequest::after(100, next),
            None => break,
        }
    }
    assert!(buyers >= 100, "{buyers} buyers");
    let trained = w
        .store
        .plugin_model(&t, "kith.lead-probability")
        .unwrap()
        .and_then(|m| m.bytes);
    assert!(
        trained.is_some_and(|b| !b.is_empty()),
        "lead-probability trained on the won and lost deals"
    );

    // Segments: each segmenter has members, and a few that a demo must show.
    let members = |plugin: &str, segment: &str| {
        w.store
            .segment_members(&t, plugin, segment, &PageRequest::first(1000))
            .unwrap()
            .items
            .len()
    };
    for info in w.host.plugins().unwrap() {
        if info.manifest.segments.is_empty() {
            continue;
        }
        let total: usize = info
            .manifest
            .segments
            .iter()
            .map(|s| members(&info.plugin.id, &s.id))
            .sum();
        assert!(total > 0, "{} has members", info.plugin.id);
    }
    for (plugin, segment) in [
        ("kith.value-tiers", "vip"),
        ("kith.churn-risk", "one-time"),
        ("kith.demographic-segments", "industry-software"),
        ("kith.demographic-segments", "nps-promoter"),
        ("kith.demographic-segments", "age-25-34"),
    ] {
        assert!(members(plugin, segment) > 0, "{plugin} {segment}");
    }

    // Both pipelines report deals in several stages, won and lost ones among them.
    let list = pipelines::list(w.store.as_ref(), &t, &PageRequest::first(10)).unwrap();
    assert_eq!(list.items.len(), 2);
    for p in &list.items {
        let report = pipelines::report(w.store.as_ref(), &t, &Access::Full, p.id).unwrap();
        let busy = report.stages.iter().filter(|s| s.deals > 0).count();
        assert!(report.deals >= 10 && busy >= 3, "{}: {report:?}", p.name);
        // Deals moved over weeks, not at one instant.
        assert!(
            report
                .stages
                .iter()
                .any(|s| s.median_seconds_in_stage.is_some_and(|m| m >= 86_400)),
            "{}: days in stage",
            p.name
        );
        for category in [StageCategory::Won, StageCategory::Lost] {
            assert!(
                report
                    .stages
                    .iter()
                    .any(|s| s.category == category && s.deals > 0),
                "{}: a {category:?} deal",
                p.name
            );
        }
    }

    // The funnel of a pipeline by a plugin's segments: each group holds exactly the deals of
    // the customers the plugin put in that segment.
    let p = &list.items[0];
    let groups = reports::funnel(
        w.store.as_ref(),
        Some(w.store.as_ref()),
        &t,
        &Access::Full,
        p.id,
        &reports::FunnelBy::Segment("kith.demographic-segments".into()),
    )
    .unwrap();
    let mut deals = Vec::new();
    let mut page = PageRequest::first(1000);
    loop {
        let got = w.store.deals(&t, p.id, None, &page).unwrap();
        deals.extend(got.items);
        match got.next {
            Some(c) => page = PageRequest::after(1000, c),
            None => break,
        }
    }
    assert!(groups.iter().any(|g| g.group.is_some()), "{groups:?}");
    for g in &groups {
        let segment_of = |c| -> Vec<Option<String>> {
            let found: Vec<Option<String>> = w
                .store
                .segments_of(&t, c)
                .unwrap()
                .into_iter()
                .filter(|s| s.producer.plugin == "kith.demographic-segments")
                .flat_map(|s| s.memberships.into_iter().map(|m| Some(m.segment)))
                .collect();
            if found.is_empty() { vec![None] } else { found }
        };
        let expected = deals
            .iter()
            .filter(|d| segment_of(d.customer).contains(&g.group))
            .count() as u64;
        assert_eq!(g.report.deals, expected, "{:?}", g.group);
    }
    // The demo's deals and customers belong to its Sales team's users.
    let users = w.store.users(&t, &PageRequest::first(10)).unwrap().items;
    assert_eq!(users.len(), 3);
    let ids: Vec<String> = users.iter().map(|u| u.id.to_string()).collect();
    assert!(
        deals
            .iter()
            .all(|d| d.owner.as_ref().is_some_and(|o| ids.contains(o)))
    );

    // Assigned work: complaints by category, answered and resolved over hours and days, some
    // still open; follow-up tasks on their deal's timeline.
    let mut work = Vec::new();
    let mut page = PageRequest::first(1000);
    loop {
        let got = w
            .store
            .work(&t, &kith::store::WorkQuery::all(), &page)
            .unwrap();
        work.extend(got.items);
        match got.next {
            Some(c) => page = PageRequest::after(1000, c),
            None => break,
        }
    }
    let complaints: Vec<_> = work
        .iter()
        .filter(|i| i.kind == InteractionKind::Complaint)
        .collect();
    assert!(complaints.len() >= 10, "{}", complaints.len());
    assert!(complaints.iter().all(|c| c.category.is_some()));
    assert!(
        complaints
            .iter()
            .any(|c| c.status.is_some_and(|s| s.is_open()))
    );
    assert!(complaints.iter().any(|c| c.resolved_at.is_some()));
    assert!(work.iter().any(|i| i.assignee.is_none()));
    assert!(
        work.iter()
            .filter_map(|i| i.assignee.as_ref())
            .all(|a| ids.contains(a))
    );
    let task = work
        .iter()
        .find(|i| i.kind == InteractionKind::Task && i.deal.is_some())
        .expect("a follow-up task on a deal");
    let timeline = w
        .store
        .deal_timeline(&t, task.deal.unwrap(), &PageRequest::first(10))
        .unwrap();
    assert!(timeline.items.iter().any(|i| i.id == task.id));
    let today = Timestamp::now().date();
    let service = kith::service::interactions::service_report(
        w.store.as_ref(),
        &t,
        &Access::Full,
        &kith::service::interactions::ServiceQuery {
            from: kith::model::Date::from_days(today.days() - 700),
            to: today,
            period: kith::model::Period::Quarter,
            by: kith::service::interactions::WorkGroup::Assignee,
            kinds: Vec::new(),
            assignee: None,
            team: None,
        },
        Timestamp::now(),
    )
    .unwrap();
    assert!(
        service
            .rows
            .iter()
            .any(|r| r.median_first_response_secs.is_some_and(|s| s > 0)
                && r.median_resolution_secs.is_some_and(|s| s > 3_600)),
        "{service:?}"
    );
    assert!(service.complaints.len() >= 3, "{service:?}");

    // A restart: the tenant is left as it is, even without the components at hand.
    let events = w.store.last_seq(&t).unwrap();
    let tokens_before = w.store.tokens().unwrap().len();
    let again = demo::seed(&w.host, Path::new("/nonexistent/plugins")).unwrap();
    assert!(!again.created && again.tenant_key.is_none() && again.plugins.is_empty());
    assert_eq!(again.counts, report.counts);
    assert_eq!(w.store.last_seq(&t).unwrap(), events, "no new events");
    assert_eq!(w.store.tokens().unwrap().len(), tokens_before);
}

#[test]
fn a_missing_demo_component_is_named_with_the_build_command_and_nothing_is_written() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    for (name, path) in plugins::ALL {
        if *name != "clv" {
            std::fs::copy(path, dir.path().join(Path::new(path).file_name().unwrap())).unwrap();
        }
    }
    let err = demo::seed(&w.host, dir.path()).unwrap_err();
    assert_eq!(err.code(), "plugin_missing", "{err}");
    let message = err.to_string();
    assert!(message.contains("kith_plugin_clv.wasm"), "{message}");
    assert!(message.contains(&demo::build_command()), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    for dir in demo::PLUGINS {
        assert!(demo::build_command().contains(&format!(" -p kith-plugin-{dir}")));
    }

    assert!(
        w.store.tenant(&slug(demo::TENANT)).unwrap().is_none(),
        "no tenant"
    );
    assert!(w.host.plugins().unwrap().is_empty(), "nothing installed");
    assert!(w.store.tokens().unwrap().is_empty(), "no key");
}

fn a_population_model_follows_the_tenant_as_it_grows_and_on_its_schedule(backend: Backend) {
    let w = world_on(backend);
    install(&w, plugins::RFM_SEGMENTS);
    install(&w, plugins::RFM_SCORER);
    // Enabled while the tenant is empty: the population step finds no buyers, so no model.
    let job = w
        .host
        .enable(
            &slug("acme"),
            EnableRequest::new("kith.rfm-segments", json!({})),
        )
        .unwrap()
        .unwrap();
    w.host.wait_for_job(&slug("acme"), job, WAIT).unwrap();
    let empty = w
        .store
        .plugin_model(&slug("acme"), "kith.rfm-segments")
        .unwrap()
        .unwrap();
    assert!(empty.bytes.is_none(), "no buyers, no model");
    let _dispatcher = w.host.spawn_dispatcher();
    // The first buyer gets a segment at once: the small population is modelled again rather
    // than every call failing for want of a model until the daily refresh.
    let c = customer(&w, "acme", "first@acme.test");
    let seq = purchase(&w, "acme", c, 12_000);
    assert!(
        w.host
            .wait_for_cursor(&slug("acme"), "kith.rfm-segments", seq, WAIT)
            .unwrap()
            >= seq
    );
    let segments = w.store.segments_of(&slug("acme"), c).unwrap();
    assert_eq!(segments.len(), 1, "{segments:?}");
    assert_eq!(segments[0].memberships.len(), 1);
    let status = w.host.status(&slug("acme"), "kith.rfm-segments").unwrap();
    assert_eq!(status.health.consecutive_failures, 0, "{status:?}");
    let model = w
        .store
        .plugin_model(&slug("acme"), "kith.rfm-segments")
        .unwrap()
        .unwrap();
    assert_eq!(model.customers, 1);
    assert!(model.bytes.is_some());

    // A schedule of 0 s: every batch models the population again before it scores.
    let mut request = EnableRequest::new("kith.rfm", json!({}));
    request.population_interval_secs = Some(0);
    let job = w.host.enable(&slug("acme"), request).unwrap().unwrap();
    w.host.wait_for_job(&slug("acme"), job, WAIT).unwrap();
    let before = w
        .store
        .plugin_model(&slug("acme"), "kith.rfm")
        .unwrap()
        .unwrap();
    let seq = purchase(&w, "acme", c, 5_000);
    w.host
        .wait_for_cursor(&slug("acme"), "kith.rfm", seq, WAIT)
        .unwrap();
    let after = w
        .store
        .plugin_model(&slug("acme"), "kith.rfm")
        .unwrap()
        .unwrap();
    assert!(
        after.computed_at > before.computed_at,
        "{before:?} {after:?}"
    );
}

on_both_backends_blocking! {
    enabling_scores_existing_customers_and_events_rescore_only_that_tenant,
    segments_are_stored_with_reasons_and_listed_by_member,
    uninstall_is_refused_while_a_tenant_has_the_plugin_enabled,
    a_webhook_is_applied_once_per_delivery_and_a_forgery_changes_nothing,
    refused_actions_are_recorded_and_the_triggering_write_stands,
    five_consecutive_failures_suspend_the_plugin_until_reset,
    outcomes_from_two_writers_both_count_in_the_stored_health,
    upgrading_while_events_flow_moves_scoring_to_the_new_version_without_losing_events,
    a_stale_cursor_advance_is_refused_so_a_batch_cannot_apply_twice,
    a_population_model_follows_the_tenant_as_it_grows_and_on_its_schedule,
}
