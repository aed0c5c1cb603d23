//! Dispatch survives SIGKILL: a child process runs the dispatcher while it logs purchases and is
//! killed at random moments; after a restart the dispatcher catches up and every event has been
//! processed exactly once: the cursor is at the head, every score counts every purchase, and the
//! store checks clean.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use kith::model::{InteractionKind, TenantSlug};
use kith::service::plugins::{HostConfig, PluginHost};
use kith::store::{CustomerFilter, PageRequest, PluginStore, RedbStore, Store, StoreConfig};
use kith_tests::plugins;
use rand::{RngExt, SeedableRng};

const CUSTOMERS: usize = 12;
const PLUGIN: &str = "kith.test.counter";

#[test]
fn every_event_is_processed_exactly_once_across_sigkills() {
    let seed: u64 = std::env::var("KITH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("dispatch crash test seed {seed} (set KITH_CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let slug = TenantSlug::parse("crash").expect("slug");
    let mut last_acked = 0u64;
    for _ in 0..4 {
        let kill_after = rng.random_range(1..=120usize);
        let mut child = Command::new(env!("CARGO_BIN_EXE_dispatch_worker"))
            .args([
                dir.path().to_str().expect("utf-8 path"),
                plugins::TEST_COUNTER_V1,
                &CUSTOMERS.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dispatch_worker");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        assert_eq!(
            lines.next().and_then(Result::ok).as_deref(),
            Some("ready"),
            "worker did not start"
        );
        for line in lines.by_ref().take(kill_after) {
            let line = line.expect("read child output");
            let seq: u64 = line
                .strip_prefix("ack ")
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
            last_acked = last_acked.max(seq);
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }

    let store = Arc::new(RedbStore::open(dir.path(), StoreConfig::default()).expect("reopen"));
    let host = PluginHost::open(
        store.clone(),
        HostConfig::with_cache(dir.path().join("plugin-cache")),
    )
    .expect("host");
    assert_eq!(
        host.runtime().compilations(),
        0,
        "restart used the compile cache"
    );
    host.dispatch_pending().expect("catch up");
    let head = store.last_seq(&slug).expect("head");
    assert!(head >= last_acked);
    assert_eq!(store.plugin_cursor(&slug, PLUGIN).expect("cursor"), head);
    let customers = store
        .customers(&slug, &CustomerFilter::All, &PageRequest::first(CUSTOMERS))
        .expect("customers")
        .items;
    assert_eq!(customers.len(), CUSTOMERS);
    let mut total = 0;
    for c in customers {
        let purchases = store
            .timeline(&slug, c.id, &PageRequest::first(10_000))
            .expect("timeline")
            .items
            .iter()
            .filter(|i| i.kind == InteractionKind::Purchase)
            .count();
        total += purchases;
        let score = store.score(&slug, c.id, PLUGIN).expect("score");
        match score {
            Some(s) => assert_eq!(s.score, purchases as f64, "customer {}", c.id),
            None => assert_eq!(purchases, 0, "customer {} was never scored", c.id),
        }
    }
    assert!(total > 0);
    assert_eq!(store.check().expect("check"), []);
    let events = store.events(&slug, 0, 1_000_000).expect("events");
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as u64 + 1),
        "gap-free"
    );
}
