//! Plugin platform load script (not criterion: each figure is one end-to-end run).
//!
//! `cargo bench -p kith-tests --bench platform` (set `KITH_BENCH_CUSTOMERS`, default 100000;
//! `KITH_BENCH_STORE_CACHE`, the store's page cache in bytes, default the server's 64 MiB;
//! `KITH_BENCH_RFM`, another build of the RFM scorer to run instead of the reference one)
//!
//! - rescore: every stored customer (one purchase each) through the RFM scorer, end to end:
//!   read the customer with their interactions, build the view, score in a fresh instance,
//!   store the score (target: at least 100k customers/s).
//! - dispatch lag: with the dispatcher running and the tenant otherwise idle, the time from a
//!   purchase's acknowledged commit to the durable commit of its new score (target: p50 at most
//!   5 ms). Both include an fsync.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kith::model::{
    Actor, Channel, Currency, CustomerInput, InteractionInput, InteractionKind, Money, TenantInput,
    TenantSlug,
};
use kith::service::plugins::{EnableRequest, HostConfig, PluginHost};
use kith::store::{Op, RedbStore, Store, StoreConfig};
use kith_tests::plugins;

fn main() {
    let n: usize = std::env::var("KITH_BENCH_CUSTOMERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = StoreConfig::default();
    if let Some(bytes) = std::env::var("KITH_BENCH_STORE_CACHE")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        config.cache_bytes = bytes;
    }
    let store = Arc::new(RedbStore::open(dir.path(), config).expect("store"));
    let actor = Actor::new("bench");
    let slug = TenantSlug::parse("bench").expect("slug");
    store
        .create_tenant(
            TenantInput {
                slug: slug.to_string(),
                name: None,
                industry: None,
            },
            &actor,
        )
        .expect("tenant");
    let usd = Currency::parse("currency", "USD").expect("USD");
    let started = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let ops = chunk
            .iter()
            .map(|i| {
                Op::CreateCustomer(CustomerInput {
                    email: Some(format!("c{i}@bench.example")),
                    ..CustomerInput::default()
                })
            })
            .collect();
        for out in store.write(&slug, &actor, ops).expect("customers") {
            if let kith::store::Output::Customer(c) = out {
                ids.push(c.id);
            }
        }
    }
    for (k, chunk) in ids.chunks(5_000).enumerate() {
        let ops = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut input =
                    InteractionInput::new(*c, Channel::ECommerce, InteractionKind::Purchase);
                input.amount = Some(Money::new(((k * 5_000 + i) % 997) as i64 * 100 + 100, usd));
                Op::LogInteraction(input)
            })
            .collect();
        store.write(&slug, &actor, ops).expect("purchases");
    }
    println!(
        "setup: {n} customers with a purchase each in {:.1?}",
        started.elapsed()
    );

    let host = PluginHost::open(
        store.clone(),
        HostConfig::with_cache(dir.path().join("plugin-cache")),
    )
    .expect("host");
    let installed = host
        .install(
            &std::fs::read(
                std::env::var("KITH_BENCH_RFM").unwrap_or_else(|_| plugins::RFM_SCORER.to_owned()),
            )
            .expect("rfm component"),
        )
        .expect("install");
    let job = host
        .enable(
            &slug,
            EnableRequest::new(&installed.plugin.id, serde_json::json!({})),
        )
        .expect("enable")
        .expect("job");
    // The enable started a background rescore; time it to the end.
    let t = Instant::now();
    let done = host
        .wait_for_job(&slug, job, Duration::from_secs(3600))
        .expect("job");
    let elapsed = t.elapsed();
    println!(
        "rescore: {} customers ({} failed) in {:.2?} = {:.0} customers/s (includes the population step)",
        done.done,
        done.failed,
        elapsed,
        done.done as f64 / elapsed.as_secs_f64()
    );
    let t = Instant::now();
    let again = host
        .start_rescore(&slug, &installed.plugin.id)
        .expect("rescore");
    let done = host
        .wait_for_job(&slug, again, Duration::from_secs(3600))
        .expect("job");
    assert_eq!(done.failed, 0, "{done:?}");
    let elapsed = t.elapsed();
    println!(
        "rescore again (model cached): {n} customers in {elapsed:.2?} = {:.0} customers/s",
        n as f64 / elapsed.as_secs_f64()
    );

    let _dispatcher = host.spawn_dispatcher();
    let mut lags = Vec::new();
    for i in 0..200 {
        let mut input = InteractionInput::new(
            ids[i % ids.len()],
            Channel::ECommerce,
            InteractionKind::Purchase,
        );
        input.amount = Some(Money::new(1_000, usd));
        store
            .log_interaction(&slug, &actor, input)
            .expect("purchase");
        let seq = store.last_seq(&slug).expect("head");
        let t = Instant::now();
        host.wait_for_cursor(&slug, &installed.plugin.id, seq, Duration::from_secs(10))
            .expect("dispatch");
        lags.push(t.elapsed());
    }
    lags.sort();
    let pct = |p: usize| lags[(lags.len() * p / 100).min(lags.len() - 1)];
    println!(
        "dispatch lag over {} events: p50 {:.2?}, p90 {:.2?}, p99 {:.2?}",
        lags.len(),
        pct(50),
        pct(90),
        pct(99)
    );
}
