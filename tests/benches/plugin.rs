//! Plugin runtime benchmarks.
//!
//! `cargo bench -p kith-tests --bench plugin`
//!
//! - `trivial_score_fresh_instance`: one `Runtime::score` of the trivial scorer: input
//!   conversion, a fresh store (its WASI context is built only if the plugin calls WASI, which
//!   a reference plugin never does), instantiation from the `InstancePre`, the call, output
//!   validation, drop (target: median at most 10 us).
//! - `rfm_score`: one RFM score with a population model.
//! - `rfm_score_native`: the same scorer's logic compiled natively and called through the SDK's
//!   test harness (no sandbox, no serialization), on the same customer (the same purchase
//!   aggregate), parsing the configuration and decoding the model on every call as the component
//!   does: the baseline for "the scoring step at most 3x native". Compare it with `rfm_score`
//!   (the whole sandboxed call) and with `rfm_score` minus `trivial_score_fresh_instance` (the
//!   step without the fixed cost of a fresh instance).
//! - `shopify_orders_create`, `woocommerce_order_created`: one signed webhook through the commerce
//!   hook, on the realistic fixtures of `tests/data/commerce/` (signature check, JSON parsing,
//!   actions validated by the host); `..._verified`: the same as Kith's server calls it after
//!   checking the signature itself, with its attestation (the hook does not hash the body again).
//!   `KITH_BENCH_SHOPIFY` names another build of shopify-orders to run instead of the reference.
//! - `restart_load_20_from_cache`: a new `Runtime` plus 20 plugin loads served by the compile
//!   cache, i.e. restart readiness (target: under 1 s).

use std::hint::black_box;

use base64::Engine as _;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kith::model::{Currency, InteractionKind, Money, Timestamp};
use kith::plugin::{
    CustomerCall, CustomerSummary, CustomerView, InteractionAggregate, Limits, LoadedPlugin,
    PopulationInput, Runtime, RuntimeConfig, Verdict, Webhook,
};
use kith_tests::plugins;

const DAY: i64 = 86_400_000_000;
const NOW: i64 = 1_000 * DAY;

fn customer(k: i64) -> CustomerView {
    let mut view: CustomerView =
        serde_json::from_str(r#"{"id": "c", "display_name": "Ada"}"#).expect("view");
    view.id = format!("c{k}");
    let usd = Currency::parse("currency", "USD").expect("USD");
    view.aggregates = vec![InteractionAggregate {
        kind: InteractionKind::Purchase,
        count: k as u64,
        totals: vec![Money::new(1_000 * k * k, usd)],
        first_at: Timestamp::from_micros(NOW - (100 - 9 * k) * DAY),
        last_at: Timestamp::from_micros(NOW - (100 - 10 * k) * DAY),
        first_amount: None,
    }];
    view
}

fn call(customer: CustomerView, model: Option<Vec<u8>>) -> CustomerCall {
    CustomerCall {
        customer,
        config: r#"{"currency":"USD"}"#.to_owned(),
        now: Timestamp::from_micros(NOW),
        seed: 1,
        model,
    }
}

fn calls(c: &mut Criterion) {
    let rt = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let load = |path: &str| {
        rt.load(&std::fs::read(path).expect("plugin"))
            .expect("load")
    };
    let limits = Limits::default();

    // One fresh-instance call of `plugin` on `input` per iteration.
    let bench_score =
        |c: &mut Criterion, name: &str, plugin: &LoadedPlugin, input: &CustomerCall| {
            c.bench_function(name, |b| {
                b.iter(|| {
                    let (output, _report) = rt.score(plugin, black_box(input), &limits);
                    black_box(output.expect("score"));
                })
            });
        };
    // Another build of a reference scorer, named by `var` (e.g. its `wasm32-wasip2` build),
    // measured beside it as `<name>_alt`.
    let alt = |var: &str| std::env::var(var).ok().map(|path| load(&path));

    let trivial = load(plugins::TRIVIAL_SCORER);
    let input = call(customer(3), None);
    bench_score(c, "trivial_score_fresh_instance", &trivial, &input);
    if let Some(other) = alt("KITH_BENCH_TRIVIAL") {
        bench_score(c, "trivial_score_fresh_instance_alt", &other, &input);
    }

    let rfm = load(plugins::RFM_SCORER);
    let population = PopulationInput {
        customers: (1..=10)
            .map(|k| CustomerSummary::from_view(&customer(k), &[]))
            .collect(),
        config: r#"{"currency":"USD"}"#.to_owned(),
        now: Timestamp::from_micros(NOW),
        seed: 1,
    };
    let model = rt
        .populate(&rfm, &population, &Limits::population())
        .0
        .expect("populate");
    let input = call(customer(7), model);
    bench_score(c, "rfm_score", &rfm, &input);
    if let Some(other) = alt("KITH_BENCH_RFM") {
        bench_score(c, "rfm_score_alt", &other, &input);
    }
}

/// A delivery of `fixture` (under `tests/data/commerce/`) signed as its platform signs it.
fn delivery(fixture: &str, topic: &str, secret: &str, signature_header: &str) -> Webhook {
    use hmac::{Hmac, KeyInit, Mac};
    let path = format!("{}/data/commerce/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(&path).expect("fixture");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(&body);
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    Webhook {
        topic: topic.to_owned(),
        headers: vec![(signature_header.to_owned(), signature)],
        body,
        delivery_id: Some("bench".to_owned()),
        received_at: Timestamp::from_micros(NOW),
    }
}

fn hooks(c: &mut Criterion) {
    let rt = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let limits = Limits::default();
    let shopify = std::env::var("KITH_BENCH_SHOPIFY");
    for (name, path, fixture, topic, header) in [
        (
            "shopify_orders_create",
            shopify.as_deref().unwrap_or(plugins::SHOPIFY_ORDERS),
            "shopify/orders-create.json",
            "orders/create",
            "X-Shopify-Hmac-Sha256",
        ),
        (
            "woocommerce_order_created",
            plugins::WOOCOMMERCE,
            "woocommerce/order-created.json",
            "order.created",
            "X-WC-Webhook-Signature",
        ),
    ] {
        let hook = rt
            .load(&std::fs::read(path).expect("plugin"))
            .expect("load");
        let webhook = delivery(fixture, topic, "bench-secret", header);
        let config = r#"{"secret":"bench-secret"}"#;
        let (output, report) = rt.handle_webhook(&hook, &webhook, config, &limits);
        assert_eq!(output.expect("handle").verdict, Verdict::Accepted, "{name}");
        c.bench_function(name, |b| {
            b.iter(|| {
                let (output, _report) =
                    rt.handle_webhook(&hook, black_box(&webhook), config, &limits);
                black_box(output.expect("handle"));
            })
        });
        // As Kith's server calls it after checking the signature itself.
        let digest = base64::engine::general_purpose::STANDARD
            .decode(&webhook.headers[0].1)
            .expect("signature");
        let attested = kith::service::plugins::attestation(b"bench-secret", &digest, &webhook);
        let (output, verified) =
            rt.handle_verified_webhook(&hook, &webhook, &attested, config, &limits);
        assert_eq!(output.expect("handle").verdict, Verdict::Accepted, "{name}");
        eprintln!(
            "{name}: fuel {} unverified, {} with Kith's attestation ({} body bytes)",
            report.fuel_used,
            verified.fuel_used,
            webhook.body.len()
        );
        c.bench_function(&format!("{name}_verified"), |b| {
            b.iter(|| {
                let (output, _report) = rt.handle_verified_webhook(
                    &hook,
                    black_box(&webhook),
                    &attested,
                    config,
                    &limits,
                );
                black_box(output.expect("handle"));
            })
        });
    }
}

fn native(c: &mut Criterion) {
    use kith_plugin_rfm_scorer::Rfm;
    use kith_plugin_sdk::testing::{Harness, customer};
    let view = |k: i64| {
        let mut b = customer(format!("c{k}"));
        for n in 0..k {
            b = b.purchase(NOW - (100 - 10 * k + n) * DAY, 1_000 * k, "USD");
        }
        b.build()
    };
    let harness = Harness::<Rfm>::new(r#"{"currency":"USD"}"#)
        .now(NOW)
        .with_population((1..=10).map(view))
        .expect("population");
    // The sandboxed bench's customer: the same purchase aggregate (7 purchases, 49,000 USD
    // cents, the last 30 days ago) and no interaction list, which the scorer does not read.
    let mut seven = view(7);
    seven.recent_interactions.clear();
    // The copy of the view is the bench's own work, not the scorer's: made before the clock
    // starts, and the output dropped after it stops, as criterion's batched iteration does.
    c.bench_function("rfm_score_native", |b| {
        b.iter_batched(
            || seven.clone(),
            |view| harness.score(black_box(view)).expect("score"),
            BatchSize::SmallInput,
        )
    });
}

fn restart(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || RuntimeConfig {
        cache_dir: Some(dir.path().to_owned()),
        ..RuntimeConfig::default()
    };
    let wasm: Vec<Vec<u8>> = plugins::ALL
        .iter()
        .cycle()
        .take(20)
        .map(|(_, path)| std::fs::read(path).expect("plugin"))
        .collect();
    {
        let warm = Runtime::new(config()).expect("runtime");
        for bytes in &wasm {
            warm.load(bytes).expect("load");
        }
    }
    let mut group = c.benchmark_group("restart");
    group.sample_size(10);
    group.bench_function("restart_load_20_from_cache", |b| {
        b.iter(|| {
            let rt = Runtime::new(config()).expect("runtime");
            for bytes in &wasm {
                black_box(rt.load(bytes).expect("load"));
            }
            assert_eq!(rt.compilations(), 0, "every load came from the cache");
        })
    });
    group.finish();
}

criterion_group!(benches, calls, hooks, native, restart);
criterion_main!(benches);
