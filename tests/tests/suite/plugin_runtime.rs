//! The reference plugins through the plugin runtime, the compile cache, load-time refusals and
//! determinism.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use kith::model::{
    AttributeValue, Currency, CustomerKind, InteractionKind, LifecycleStage, Money, Timestamp,
};
use kith::plugin::{
    Action, Capability, CompiledFrom, Compiler, CustomerCall, CustomerRef, CustomerSummary,
    CustomerView, DealStatus, DealView, InteractionAggregate, Limits, LoadedPlugin, LogLevel,
    ManifestBudgets, Outcome, PluginFailure, PluginLog, PopulationInput, RejectionKind, Runtime,
    RuntimeConfig, SubprocessCompiler, Verdict, Webhook, component_hash,
};
use kith_tests::plugins;
use sha2::Sha256;

const DAY: i64 = 86_400_000_000;
/// "Now" of every call: day 1000 after the epoch.
const NOW: i64 = 1_000 * DAY;

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load(runtime: &Runtime, path: &str) -> LoadedPlugin {
    runtime
        .load(&bytes(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::parse("currency", "USD").unwrap())
}

fn purchases(
    count: u64,
    total: Money,
    first_days_ago: i64,
    last_days_ago: i64,
) -> InteractionAggregate {
    InteractionAggregate {
        kind: InteractionKind::Purchase,
        count,
        totals: vec![total],
        first_at: Timestamp::from_micros(NOW - first_days_ago * DAY),
        last_at: Timestamp::from_micros(NOW - last_days_ago * DAY),
        first_amount: None,
    }
}

fn view(id: &str, aggregates: Vec<InteractionAggregate>) -> CustomerView {
    CustomerView {
        id: id.to_owned(),
        kind: CustomerKind::Person,
        display_name: format!("Customer {id}"),
        given_name: None,
        family_name: None,
        email: Some(format!("{id}@example.com")),
        phone: None,
        country: Some("DE".to_owned()),
        region: None,
        city: None,
        lifecycle_stage: LifecycleStage::Customer,
        tags: vec!["vip".to_owned()],
        attributes: BTreeMap::from([("tier".to_owned(), AttributeValue::Text("x".to_owned()))]),
        owner: None,
        marketing_consent: true,
        created_at: Timestamp::from_micros(NOW - 400 * DAY),
        aggregates,
        recent_interactions: Vec::new(),
        open_deals: Vec::new(),
        closed_deals: Vec::new(),
    }
}

fn call(customer: CustomerView, config: &str, model: Option<Vec<u8>>) -> CustomerCall {
    CustomerCall {
        customer,
        config: config.to_owned(),
        now: Timestamp::from_micros(NOW),
        seed: 7,
        model,
    }
}

/// Ten customers: customer k bought k times for k * 10.00 USD each; higher k bought more recently
/// (the same base as the RFM plugin's native tests).
fn rfm_base() -> Vec<CustomerView> {
    (1..=10)
        .map(|k: i64| {
            let last = 100 - k * 10;
            view(
                &format!("c{k}"),
                vec![purchases(k as u64, usd(1_000 * k * k), last + k - 1, last)],
            )
        })
        .collect()
}

#[test]
fn rfm_population_model_feeds_scores_with_reasons_and_a_three_digit_grade() {
    let rt = runtime();
    let rfm = load(&rt, plugins::RFM_SCORER);
    assert_eq!(rfm.capability(), Capability::Scorer);
    assert_eq!(rfm.manifest().id, "kith.rfm");
    assert!(rfm.manifest().needs.population);

    let population = PopulationInput {
        customers: rfm_base()
            .iter()
            .map(|v| CustomerSummary::from_view(v, &[]))
            .collect(),
        config: r#"{"currency":"USD"}"#.to_owned(),
        now: Timestamp::from_micros(NOW),
        seed: 1,
    };
    let (model, report) = rt.populate(&rfm, &population, &Limits::population());
    let model = model.expect("populate").expect("a model");
    assert_eq!(model.len(), 97);
    assert_eq!(report.outcome, Outcome::Ok);
    assert!(report.fuel_used > 0 && report.peak_memory_bytes > 0);

    let best = rfm_base().pop().unwrap();
    let (output, report) = rt.score(
        &rfm,
        &call(best, r#"{"currency":"USD"}"#, Some(model.clone())),
        &Limits::default(),
    );
    let output = output.expect("score");
    assert_eq!(output.grade.as_deref(), Some("555"));
    assert!((output.score - 100.0).abs() < 1e-9, "{}", output.score);
    let codes: Vec<&str> = output.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["recency", "frequency", "monetary"]);
    assert!(
        output.reasons[2].message.contains("1000.00 USD"),
        "{:?}",
        output.reasons[2]
    );
    assert!(report.fuel_used > 0 && report.fuel_used < Limits::default().fuel);

    let weakest = rfm_base().remove(0);
    let (output, _) = rt.score(&rfm, &call(weakest, "{}", Some(model)), &Limits::default());
    let output = output.expect("score");
    assert_eq!(output.grade.as_deref(), Some("111"));
    let grade = output.grade.unwrap();
    assert!(grade.len() == 3 && grade.bytes().all(|b| (b'1'..=b'5').contains(&b)));

    let stats = rfm.stats();
    assert_eq!((stats.calls, stats.succeeded), (3, 3));
    assert!(stats.fuel_p50 > 0 && stats.fuel_max >= stats.fuel_p50);
}

#[test]
fn rfm_reports_a_corrupt_model_as_the_plugins_own_error() {
    let rt = runtime();
    let rfm = load(&rt, plugins::RFM_SCORER);
    let customer = rfm_base().remove(3);
    let (result, report) = rt.score(
        &rfm,
        &call(customer, "{}", Some(vec![1, 2, 3])),
        &Limits::default(),
    );
    assert!(
        matches!(result, Err(PluginFailure::PluginError { .. })),
        "{result:?}"
    );
    assert_eq!(report.outcome, Outcome::Failed("plugin-error"));
}

#[test]
fn value_tiers_classify_with_the_tenants_thresholds() {
    let rt = runtime();
    let tiers = load(&rt, plugins::VALUE_TIERS);
    assert_eq!(tiers.capability(), Capability::Segmenter);
    let segments: Vec<&str> = tiers
        .manifest()
        .segments
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(segments, ["vip", "gold", "silver", "bronze"]);

    let config = r#"{"currency":"USD","vip":100000,"gold":50000,"silver":10000,"bronze":1}"#;
    let classify = |spent: i64| {
        let customer = view("c", vec![purchases(3, usd(spent), 30, 2)]);
        let (result, _) = rt.classify(&tiers, &call(customer, config, None), &Limits::default());
        result.expect("classify")
    };
    let gold = classify(60_000);
    assert_eq!(gold.len(), 1);
    assert_eq!(gold[0].segment, "gold");
    assert!(gold[0].reason.contains("600.00 USD"), "{}", gold[0].reason);
    assert_eq!(classify(100_000)[0].segment, "vip");
    assert!(classify(0).is_empty());

    let (bad, _) = rt.classify(
        &tiers,
        &call(view("c", Vec::new()), r#"{"vip":1,"gold":2}"#, None),
        &Limits::default(),
    );
    assert!(
        matches!(bad, Err(PluginFailure::PluginError { .. })),
        "{bad:?}"
    );
}

const SECRET: &str = "shpss_test_secret";

fn sign(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

fn order_body() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": 820982911946154508u64,
        "name": "#1001",
        "email": "Jon@Example.COM",
        "processed_at": "2024-05-01T10:00:05-04:00",
        "currency": "EUR",
        "total_price": "199.29",
        "customer": {
            "id": 115310627314723954u64,
            "email": "Jon@Example.COM",
            "first_name": "Jon",
            "last_name": "Snow",
            "default_address": { "country_code": "CA", "province": "Ontario", "city": "Ottawa" }
        },
        "line_items": [
            { "title": "Wool scarf", "quantity": 2, "price": "49.90", "sku": "SC-1" },
            { "title": "Gloves", "quantity": 1, "price": "99.49", "sku": "" }
        ]
    }))
    .unwrap()
}

fn webhook(topic: &str, body: Vec<u8>, signature: Option<String>) -> Webhook {
    let mut headers = vec![("X-Shopify-Topic".to_owned(), topic.to_owned())];
    if let Some(signature) = signature {
        headers.push(("X-Shopify-Hmac-Sha256".to_owned(), signature));
    }
    Webhook {
        topic: topic.to_owned(),
        headers,
        body,
        delivery_id: Some("delivery-1".to_owned()),
        received_at: Timestamp::from_micros(NOW),
    }
}

fn shopify_config() -> String {
    format!(r#"{{"secret":"{SECRET}"}}"#)
}

#[test]
fn shopify_signed_order_is_accepted_with_upsert_and_exact_purchase() {
    let rt = runtime();
    let hook = load(&rt, plugins::SHOPIFY_ORDERS);
    assert_eq!(hook.capability(), Capability::CommerceHook);
    let body = order_body();
    let signature = sign(&body, SECRET);
    let (output, report) = rt.handle_webhook(
        &hook,
        &webhook("orders/create", body, Some(signature)),
        &shopify_config(),
        &Limits::default(),
    );
    let output = output.expect("handle");
    assert_eq!(output.verdict, Verdict::Accepted);
    assert_eq!(report.outcome, Outcome::Ok);
    let [
        Action::UpsertCustomer {
            email,
            external_id,
            fields,
        },
        Action::LogInteraction(log),
    ] = output.actions.as_slice()
    else {
        panic!("unexpected actions {:?}", output.actions)
    };
    assert_eq!(email.as_ref().map(|e| e.as_str()), Some("jon@example.com"));
    let shopify_id = external_id.clone().expect("external id");
    assert_eq!(
        (shopify_id.source.as_str(), shopify_id.id.as_str()),
        ("shopify", "115310627314723954")
    );
    assert_eq!(fields.display_name.as_deref(), Some("Jon Snow"));
    assert_eq!(log.customer, CustomerRef::External(shopify_id));
    assert_eq!(log.kind, InteractionKind::Purchase);
    let amount = log.amount.expect("amount");
    assert_eq!((amount.minor, amount.currency.code()), (19_929, "EUR"));
    assert_eq!(
        log.occurred_at,
        Timestamp::parse("t", "2024-05-01T14:00:05Z").unwrap()
    );
    assert_eq!(
        log.attributes.get("line_item.1"),
        Some(&AttributeValue::Text(
            "2 x Wool scarf (SKU SC-1) @ 49.90 EUR".to_owned()
        ))
    );
    assert_eq!(
        log.external_id.as_ref().map(|e| e.id.as_str()),
        Some("820982911946154508")
    );
}

#[test]
fn shopify_rejects_bad_signatures_ignores_other_topics_and_rejects_malformed_bodies() {
    let rt = runtime();
    let hook = load(&rt, plugins::SHOPIFY_ORDERS);
    let handle = |w: Webhook| {
        let (output, _) = rt.handle_webhook(&hook, &w, &shopify_config(), &Limits::default());
        output.expect("handle")
    };

    let forged = handle(webhook(
        "orders/create",
        order_body(),
        Some(sign(&order_body(), "guess")),
    ));
    assert!(
        matches!(
            &forged.verdict,
            Verdict::Rejected {
                kind: RejectionKind::BadSignature,
                ..
            }
        ),
        "{forged:?}"
    );
    assert!(forged.actions.is_empty());
    let unsigned = handle(webhook("orders/create", order_body(), None));
    assert!(matches!(
        &unsigned.verdict,
        Verdict::Rejected {
            kind: RejectionKind::BadSignature,
            ..
        }
    ));

    let other = handle(webhook(
        "products/update",
        b"{}".to_vec(),
        Some(sign(b"{}", SECRET)),
    ));
    assert!(
        matches!(&other.verdict, Verdict::Ignored { .. }),
        "{other:?}"
    );
    assert!(other.actions.is_empty());

    let garbage = b"{not json".to_vec();
    let signature = sign(&garbage, SECRET);
    let malformed = handle(webhook("orders/create", garbage, Some(signature)));
    assert!(
        matches!(
            &malformed.verdict,
            Verdict::Rejected {
                kind: RejectionKind::Malformed,
                ..
            }
        ),
        "{malformed:?}"
    );
}

fn deal_view(id: &str, status: DealStatus, closed_days_ago: Option<i64>) -> DealView {
    DealView {
        id: id.to_owned(),
        pipeline_id: "p1".to_owned(),
        pipeline_name: "Sales".to_owned(),
        stage: "Stage".to_owned(),
        amount: Some(usd(50_000)),
        probability: 50,
        expected_close: None,
        status,
        closed_at: closed_days_ago.map(|d| Timestamp::from_micros(NOW - d * DAY)),
    }
}

/// The id of [`contract_view`]'s customer (a real id: the 0.1.0 plugin's action names it).
const CONTRACT_CUSTOMER: &str = "0190f0c6-7a4e-7000-8000-000000000001";

/// A customer with two purchases (the first of 12.34 USD), one open deal and two closed ones:
/// what 0.2.0 added, for a 0.1.0 and a 0.2.0 plugin side by side.
fn contract_view(tags: &[&str]) -> CustomerView {
    let mut purchases = purchases(2, usd(5_000), 30, 10);
    purchases.first_amount = Some(usd(1_234));
    let mut v = view(CONTRACT_CUSTOMER, vec![purchases]);
    v.tags = tags.iter().map(|t| (*t).to_owned()).collect();
    v.open_deals = vec![deal_view("d0", DealStatus::Open, None)];
    v.closed_deals = vec![
        deal_view("d2", DealStatus::Lost, Some(2)),
        deal_view("d1", DealStatus::Won, Some(5)),
    ];
    v
}

#[test]
fn a_0_1_0_component_runs_unchanged_beside_a_0_2_0_one() {
    let rt = runtime();
    let old = load(&rt, plugins::TEST_CONTRACT_V0_1);
    let new = load(&rt, plugins::TEST_CONTRACT_V0_2);
    assert_eq!((old.contract(), new.contract()), ("0.1.0", "0.2.0"));
    assert_eq!(kith::plugin::CONTRACT_VERSIONS, ["0.1.0", "0.2.0"]);
    // A 0.1.0 manifest converts up: no closed deals, no budgets.
    assert!(old.manifest().needs.population);
    assert_eq!(old.manifest().needs.closed_deals, 0);
    assert_eq!(old.manifest().budgets, ManifestBudgets::default());
    assert_eq!(new.manifest().needs.closed_deals, 2);
    assert_eq!(new.manifest().budgets.call.memory_bytes, Some(32 << 20));
    assert_eq!(new.manifest().budgets.call.fuel, Some(20_000_000));

    // The 0.1.0 plugin's population step and score, through the 0.1.0 bindings: its inputs
    // convert down (the first amount and closed deals left out), its outputs up.
    let population = PopulationInput {
        customers: (0..3)
            .map(|i| CustomerSummary {
                id: format!("c{i}"),
                ..CustomerSummary::from_view(&contract_view(&[]), &[])
            })
            .collect(),
        config: "{}".to_owned(),
        now: Timestamp::from_micros(NOW),
        seed: 1,
    };
    let (model, report) = rt.populate(&old, &population, &Limits::population());
    let model = model.unwrap().expect("a model");
    assert_eq!(report.outcome, Outcome::Ok);
    let (out, _) = rt.score(
        &old,
        &call(contract_view(&[]), "{}", Some(model)),
        &Limits::default(),
    );
    let out = out.unwrap();
    assert_eq!(out.score, 21.0, "ten per purchase and one open deal");
    assert_eq!(out.reasons[1].message, "3 customers in the population");
    assert!(
        matches!(
            &out.actions[..],
            [Action::AddTag { customer: CustomerRef::Id(id), tag }]
                if id.to_string() == CONTRACT_CUSTOMER && tag.as_str() == "contract-0-1"
        ),
        "{:?}",
        out.actions
    );

    // The 0.2.0 plugin sees the first amount and the closed deals, and logs.
    let (out, report) = rt.score(
        &new,
        &call(contract_view(&[]), "{}", None),
        &Limits::default(),
    );
    let out = out.unwrap();
    assert_eq!(out.score, 1_234.0 + 2_000.0);
    assert_eq!(out.reasons[1].message, "1 won, 1 lost");
    let logged = report.output.expect("the plugin logged");
    assert_eq!(
        logged.logs,
        [PluginLog {
            level: LogLevel::Info,
            message: format!("scoring {CONTRACT_CUSTOMER}")
        }]
    );
    assert_eq!(logged.logs_dropped, 0);
}

#[test]
fn a_plugins_log_is_capped_in_lines_and_bytes_per_call() {
    let rt = runtime();
    let new = load(&rt, plugins::TEST_CONTRACT_V0_2);
    let (out, report) = rt.score(
        &new,
        &call(contract_view(&["chatty"]), "{}", None),
        &Limits::default(),
    );
    assert!(out.is_ok(), "logging never fails the call: {out:?}");
    let logged = report.output.expect("the plugin logged");
    // 101 lines: "scoring", a 5000-byte warning and 99 debug lines.
    assert_eq!(logged.logs.len(), kith::plugin::MAX_LOG_LINES);
    assert_eq!(logged.logs_dropped, 101 - 64);
    assert_eq!(logged.logs[1].level, LogLevel::Warn);
    assert_eq!(
        logged.logs[1].message,
        "x".repeat(kith::plugin::MAX_LOG_LINE_BYTES)
    );
    assert_eq!(logged.logs[63].message, "line 61");
}

#[test]
fn same_input_gives_identical_output() {
    let rt = runtime();
    let rfm = load(&rt, plugins::RFM_SCORER);
    let input = call(rfm_base().remove(5), r#"{"currency":"USD"}"#, None);
    let (first, a) = rt.score(&rfm, &input, &Limits::default());
    let (second, b) = rt.score(&rfm, &input, &Limits::default());
    assert_eq!(first.expect("first"), second.expect("second"));
    assert_eq!(a.fuel_used, b.fuel_used, "fuel is deterministic too");

    let hook = load(&rt, plugins::SHOPIFY_ORDERS);
    let body = order_body();
    let w = webhook("orders/create", body.clone(), Some(sign(&body, SECRET)));
    let (x, _) = rt.handle_webhook(&hook, &w, &shopify_config(), &Limits::default());
    let (y, _) = rt.handle_webhook(&hook, &w, &shopify_config(), &Limits::default());
    assert_eq!(x.expect("x"), y.expect("y"));
}

#[test]
fn calling_a_function_of_another_world_is_refused() {
    let rt = runtime();
    let tiers = load(&rt, plugins::VALUE_TIERS);
    let (result, report) = rt.score(
        &tiers,
        &call(view("c", Vec::new()), "{}", None),
        &Limits::default(),
    );
    assert!(
        matches!(result, Err(PluginFailure::UnsupportedWit(_))),
        "{result:?}"
    );
    assert_eq!(report.fuel_used, 0);
}

#[test]
fn a_plugin_loaded_by_another_runtime_is_refused_not_a_panic() {
    let first = runtime();
    let second = runtime();
    let trivial = load(&first, plugins::TRIVIAL_SCORER);
    let input = call(view("c", Vec::new()), "{}", None);
    let (result, _) = second.score(&trivial, &input, &Limits::default());
    assert!(matches!(result, Err(PluginFailure::Host(_))), "{result:?}");
    let (result, _) = first.score(&trivial, &input, &Limits::default());
    assert_eq!(result.unwrap().score, 42.0);
}

#[test]
fn oversized_input_is_refused_before_running() {
    let rt = runtime();
    let rfm = load(&rt, plugins::RFM_SCORER);
    let mut customer = view("c", Vec::new());
    customer.display_name = "x".repeat(300 * 1024);
    let (result, report) = rt.score(&rfm, &call(customer, "{}", None), &Limits::default());
    assert!(
        matches!(result, Err(PluginFailure::InputTooLarge { limit, .. }) if limit == 256 * 1024),
        "{result:?}"
    );
    assert_eq!(report.outcome, Outcome::Failed("input-too-large"));
    assert_eq!(report.fuel_used, 0);
}

#[test]
fn second_runtime_loads_from_the_compile_cache() {
    let dir = tempfile::tempdir().unwrap();
    let config = || RuntimeConfig {
        cache_dir: Some(dir.path().to_owned()),
        ..RuntimeConfig::default()
    };
    let wasm = bytes(plugins::VALUE_TIERS);
    let hash = component_hash(&wasm);

    let first = Runtime::new(config()).unwrap();
    let compiled = first.load(&wasm).unwrap();
    assert_eq!(compiled.compiled_from(), CompiledFrom::Compiled);
    assert_eq!((first.compilations(), first.cache_hits()), (1, 0));
    assert_eq!(compiled.hash(), hash);
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with(&format!("{hash}-")) && files[0].ends_with(".cwasm"));
    drop(first);

    let second = Runtime::new(config()).unwrap();
    let cached = second.load(&wasm).unwrap();
    assert_eq!(cached.compiled_from(), CompiledFrom::Cache);
    assert_eq!((second.compilations(), second.cache_hits()), (0, 1));
    let config_json = r#"{"currency":"USD","vip":100,"gold":50,"silver":10,"bronze":1}"#;
    let customer = view("c", vec![purchases(1, usd(60), 3, 3)]);
    let (result, _) = second.classify(
        &cached,
        &call(customer, config_json, None),
        &Limits::default(),
    );
    assert_eq!(result.unwrap()[0].segment, "gold");
}

#[test]
fn corrupt_or_truncated_cache_files_fall_back_to_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let config = || RuntimeConfig {
        cache_dir: Some(dir.path().to_owned()),
        ..RuntimeConfig::default()
    };
    let wasm = bytes(plugins::TRIVIAL_SCORER);
    Runtime::new(config()).unwrap().load(&wasm).unwrap();
    let path = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let original = std::fs::read(&path).unwrap();

    // A flipped byte in the middle.
    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    std::fs::write(&path, &flipped).unwrap();
    let rt = Runtime::new(config()).unwrap();
    let plugin = rt.load(&wasm).unwrap();
    assert_eq!(plugin.compiled_from(), CompiledFrom::Compiled);
    assert_eq!(rt.compilations(), 1);
    let (score, _) = rt.score(
        &plugin,
        &call(view("c", Vec::new()), "{}", None),
        &Limits::default(),
    );
    assert_eq!(score.unwrap().score, 42.0);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        original,
        "the cache file was rewritten"
    );

    // Truncated, then empty, then garbage.
    for broken in [
        &original[..original.len() / 3],
        &[][..],
        &b"not a cwasm at all, not even close"[..],
    ] {
        std::fs::write(&path, broken).unwrap();
        let rt = Runtime::new(config()).unwrap();
        assert_eq!(
            rt.load(&wasm).unwrap().compiled_from(),
            CompiledFrom::Compiled
        );
    }
}

#[test]
fn non_components_and_oversized_plugins_are_refused() {
    let rt = runtime();
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    assert!(
        matches!(rt.load(&core_module), Err(PluginFailure::NotAComponent(m)) if m.contains("core WebAssembly module")),
    );
    assert!(matches!(
        rt.load(b"hello world"),
        Err(PluginFailure::NotAComponent(_))
    ));
    assert!(matches!(rt.load(&[]), Err(PluginFailure::NotAComponent(_))));
    let mut truncated = bytes(plugins::TRIVIAL_SCORER);
    truncated.truncate(truncated.len() / 2);
    let err = rt.load(&truncated).unwrap_err();
    assert!(matches!(err, PluginFailure::NotAComponent(_)), "{err:?}");
    assert_eq!(err.code(), "not-a-component");

    // A valid component that exports no Kith world: the smallest one is its header alone.
    let empty_component = b"\0asm\x0d\0\x01\0".to_vec();
    match rt.load(&empty_component) {
        Err(PluginFailure::UnsupportedWit(message)) => {
            assert!(message.contains("kith:plugin@0.1.0"), "{message}")
        }
        other => panic!("expected UnsupportedWit, got {other:?}"),
    }

    let big = vec![0u8; 32 * 1024 * 1024 + 1];
    let err = rt.load(&big).unwrap_err();
    assert_eq!(
        err,
        PluginFailure::TooLarge {
            size: big.len(),
            limit: 32 * 1024 * 1024
        }
    );
    assert_eq!(err.code(), "too-large");

    let small = Runtime::new(RuntimeConfig {
        max_plugin_bytes: 1024,
        ..RuntimeConfig::default()
    })
    .unwrap();
    assert!(matches!(
        small.load(&bytes(plugins::TRIVIAL_SCORER)),
        Err(PluginFailure::TooLarge { .. })
    ));
}

#[test]
fn every_plugin_in_the_tree_loads_with_a_valid_manifest() {
    let rt = runtime();
    for (dir, path) in plugins::ALL {
        let plugin = load(&rt, path);
        let manifest = plugin.manifest();
        assert_eq!(manifest.capabilities, [plugin.capability()], "{dir}");
        assert!(manifest.id.starts_with("kith."), "{dir}: {}", manifest.id);
        assert!(manifest.config_schema.is_object(), "{dir}");
    }
}

#[test]
fn more_callers_than_instance_slots_wait_their_turn_instead_of_failing() {
    let rt = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 1,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let rfm = load(&rt, plugins::RFM_SCORER);
    let input = call(rfm_base().remove(5), r#"{"currency":"USD"}"#, None);
    std::thread::scope(|s| {
        let callers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..25)
                        .map(|_| rt.score(&rfm, &input, &Limits::default()).0)
                        .filter(Result::is_err)
                        .count()
                })
            })
            .collect();
        let failed: usize = callers.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(failed, 0, "every call got the one slot in turn");
    });
    assert_eq!(rfm.stats().calls, 100);
}

/// A runtime that compiles in a `kith __compile-plugin` child with these limits.
fn compiling_in_a_child(memory_bytes: u64, timeout: std::time::Duration) -> Runtime {
    Runtime::new(RuntimeConfig {
        compiler: Compiler::Subprocess(SubprocessCompiler {
            exe: env!("CARGO_BIN_EXE_kith_under_test").into(),
            memory_bytes,
            timeout,
        }),
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

#[test]
fn a_compile_bomb_is_refused_as_too_complex_and_the_server_stays_small() {
    // Regression: a 224 KB component drove compilation past 2.5 GB and the server was
    // OOM-killed. Compiled in a child limited to 128 MiB, this 27 KB one (which needs about
    // 300 MB) fails there, and the runtime goes on compiling good plugins the same way.
    let rt = compiling_in_a_child(128 << 20, std::time::Duration::from_secs(120));
    let bomb = kith_tests::crafted::compile_bomb(600, 600);
    assert!(bomb.len() < 32 * 1024, "{}", bomb.len());
    match rt.load(&bomb) {
        Err(PluginFailure::TooComplex(message)) => {
            assert!(message.contains("MiB of memory"), "{message}");
        }
        other => panic!("expected too-complex, got {other:?}"),
    }
    assert_eq!(rt.compilations(), 0);
    let trivial = load(&rt, plugins::TRIVIAL_SCORER);
    assert_eq!(trivial.compiled_from(), CompiledFrom::Compiled);
    let (out, _) = rt.score(
        &trivial,
        &call(view("c1", vec![]), "{}", None),
        &Limits::default(),
    );
    assert_eq!(out.expect("score").score, 42.0);
}

#[test]
fn a_compilation_past_its_time_limit_is_killed_and_refused() {
    // Given all the memory it wants, the same kind of component still may not take all day:
    // this one needs about 6 s of compilation; the limit is 1 s (and grows 4 s per MiB).
    let rt = compiling_in_a_child(16 << 30, std::time::Duration::from_secs(1));
    match rt.load(&kith_tests::crafted::compile_bomb(1000, 1000)) {
        Err(PluginFailure::TooComplex(message)) => {
            assert!(message.contains("longer than"), "{message}");
        }
        other => panic!("expected too-complex, got {other:?}"),
    }
}

#[test]
fn an_invalid_component_compiled_in_a_child_is_not_a_component() {
    let rt = compiling_in_a_child(512 << 20, std::time::Duration::from_secs(60));
    // A component header followed by garbage.
    let mut bytes = vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    bytes.extend_from_slice(b"not a section at all");
    match rt.load(&bytes) {
        Err(PluginFailure::NotAComponent(message)) => {
            assert!(message.starts_with("invalid component"), "{message}")
        }
        other => panic!("expected not-a-component, got {other:?}"),
    }
}

#[test]
fn kith_plugin_inspect_refuses_a_compile_bomb_with_its_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bomb.wasm");
    std::fs::write(&path, kith_tests::crafted::compile_bomb(600, 600)).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kith_under_test"))
        .args(["plugin", "inspect"])
        .arg(&path)
        .env("KITH_PLUGIN_COMPILE_MEMORY", (128u64 << 20).to_string())
        .output()
        .expect("run kith plugin inspect");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("too complex"), "{stderr}");
    assert!(stderr.contains("plugin_compile_memory_bytes"), "{stderr}");
}
