//! Three `kith serve` nodes on one PostgreSQL database, end to end with the real binary: 32
//! clients write purchases through all of them (round robin, retrying on another node with the
//! same Idempotency-Key when one fails), while a random node is SIGKILLed at a random moment,
//! twice (the first one is restarted in between). Then:
//! - every acknowledged write is present and each tenant's event log has no gap;
//! - every event was dispatched to the enabled plugin exactly once: each cursor is at its head,
//!   each score equals the customer's purchases, and a fresh rescore changes no score;
//! - the surviving nodes took the dead node's tenants over within the lease time (printed).
//!
//! Needs `KITH_TEST_DATABASE_URL`; reported as ignored without it. `KITH_CLUSTER_SEED` replays
//! a run.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use kith::model::{CustomerId, InteractionId, InteractionKind, TenantSlug};
use kith::store::testing::TestDatabase;
use kith::store::{PageRequest, PgConfig, PgStore, PluginStore, Store};
use kith_tests::plugins;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

const NODES: usize = 3;
const TENANTS: usize = 4;
const CUSTOMERS: usize = 6;
const CLIENTS: usize = 32;
const LEASE_TTL: Duration = Duration::from_secs(2);
const PLUGIN: &str = "kith.test.counter";
const ADMIN: &str = "cluster-test-admin-token-0123456789abcdef";

/// One `kith serve` process.
struct Node {
    child: Child,
    addr: String,
    name: String,
}

fn start_node(db: &TestDatabase, dir: &std::path::Path) -> Node {
    let config = dir.join("kith.toml");
    std::fs::write(
        &config,
        format!("[plugins]\nlease_ttl_secs = {}\n", LEASE_TTL.as_secs()),
    )
    .expect("write settings");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kith_under_test"))
        .args([
            "--database-url",
            db.url(),
            "--data-dir",
            dir.to_str().expect("utf-8 path"),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--config",
            config.to_str().expect("utf-8 path"),
        ])
        .env("KITH_ADMIN_TOKEN", ADMIN)
        .env("KITH_LOG", "warn")
        .env_remove("KITH_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kith serve");
    let mut name = String::new();
    let addr = kith_tests::listening(&mut child, |line| {
        if let Some(rest) = line.strip_prefix("kith node ") {
            name = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    });
    assert!(!name.is_empty(), "the node did not say its name");
    Node { child, addr, name }
}

/// One HTTP/1.1 request on its own connection; an error when the node is gone.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<(&str, &[u8])>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Value)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let bytes = body.map_or(&[][..], |(_, b)| b);
    if let Some((content_type, b)) = body {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(bytes)?;
    let mut response = Vec::new();
    s.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {text:?}")))?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn json_call(addr: &str, method: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(&body).expect("json");
    request(
        addr,
        method,
        path,
        token,
        Some(("application/json", &bytes)),
        &[],
    )
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Wakes on every commit any node makes (through the database's notifications).
#[derive(Clone, Default)]
struct Commits(Arc<(Mutex<u64>, Condvar)>);

impl Commits {
    fn follow(&self, store: &PgStore) {
        let me = self.clone();
        store.on_commit(Arc::new(move |_| {
            let (lock, cvar) = &*me.0;
            *lock.lock().expect("lock") += 1;
            cvar.notify_all();
        }));
    }

    /// Waits until `done` holds, checking again after the next commit (at most every 20 ms
    /// while commits stream in, and every second in case a notification was missed); panics
    /// after `timeout`.
    fn wait_until(&self, what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        let (lock, cvar) = &*self.0;
        loop {
            let seen = *lock.lock().expect("lock");
            if done() {
                return;
            }
            let now = Instant::now();
            assert!(now < deadline, "timed out waiting until {what}");
            let guard = lock.lock().expect("lock");
            let wait = (deadline - now).min(Duration::from_secs(1));
            let (guard, _) = cvar
                .wait_timeout_while(guard, wait, |n| *n == seen)
                .expect("wait");
            drop(guard);
            // Commits stream in while clients write: look at most every 20 ms.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
#[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
fn three_nodes_lose_two_to_sigkill_and_lose_no_write_and_no_dispatch() {
    let seed: u64 = std::env::var("KITH_CLUSTER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("cluster test seed {seed} (set KITH_CLUSTER_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let db = TestDatabase::create();
    let dirs: Vec<_> = (0..NODES)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let mut nodes: Vec<Option<Node>> = dirs
        .iter()
        .map(|d| Some(start_node(&db, d.path())))
        .collect();
    let addrs: Arc<RwLock<Vec<Option<String>>>> = Arc::new(RwLock::new(
        nodes
            .iter()
            .map(|n| n.as_ref().map(|n| n.addr.clone()))
            .collect(),
    ));
    let first = nodes[0].as_ref().expect("node 0").addr.clone();

    // One plugin, four tenants with a key, the plugin enabled, six customers each.
    let wasm = std::fs::read(plugins::TEST_COUNTER_V1).expect("counter component");
    let (status, _) = request(
        &first,
        "POST",
        "/v1/plugins?wait=60",
        ADMIN,
        Some(("application/wasm", &wasm)),
        &[],
    )
    .expect("upload");
    assert_eq!(status, 201);
    let mut tenants: Vec<(String, String, Vec<String>)> = Vec::new();
    for i in 0..TENANTS {
        let slug = format!("shop-{i}");
        let node = &nodes[i % NODES].as_ref().expect("node").addr;
        assert_eq!(
            json_call(node, "POST", "/v1/tenants", ADMIN, json!({ "slug": slug })).0,
            201
        );
        let (status, key) = json_call(
            node,
            "POST",
            "/v1/tokens",
            ADMIN,
            json!({ "kind": "tenant", "tenant": slug }),
        );
        assert_eq!(status, 201);
        let key = key["token"].as_str().expect("token").to_owned();
        let (status, _) = json_call(
            node,
            "POST",
            &format!("/v1/tenants/{slug}/plugins"),
            &key,
            json!({ "plugin": PLUGIN, "config": {} }),
        );
        assert_eq!(status, 201);
        let customers = (0..CUSTOMERS)
            .map(|c| {
                let (status, body) = json_call(
                    node,
                    "POST",
                    &format!("/v1/tenants/{slug}/customers"),
                    &key,
                    json!({ "email": format!("c{c}@{slug}.test") }),
                );
                assert_eq!(status, 201, "{body}");
                body["id"].as_str().expect("id").to_owned()
            })
            .collect();
        tenants.push((slug, key, customers));
    }
    let tenants = Arc::new(tenants);

    // 32 clients, round robin over the live nodes; a failed request is retried on the next
    // node with the same key, so what is acknowledged is exactly what each client recorded.
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let retries = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (stop, acked, retries, addrs, tenants) = (
                Arc::clone(&stop),
                Arc::clone(&acked),
                Arc::clone(&retries),
                Arc::clone(&addrs),
                Arc::clone(&tenants),
            );
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (c as u64 + 1));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let t = rng.random_range(0..TENANTS);
                    let (slug, key, customers) = &tenants[t];
                    let customer = &customers[rng.random_range(0..CUSTOMERS)];
                    let body = serde_json::to_vec(&json!({
                        "customer": customer, "channel": "e-commerce", "kind": "purchase",
                        "amount": { "minor": 1000, "currency": "EUR" }
                    }))
                    .expect("json");
                    let idem = format!("client-{c}-{n}");
                    let path = format!("/v1/tenants/{slug}/interactions");
                    let mut node = rng.random_range(0..NODES);
                    let mut attempts = 0;
                    let id = loop {
                        attempts += 1;
                        assert!(attempts < 400, "no node took {idem}");
                        node = (node + 1) % NODES;
                        let Some(addr) = addrs.read().expect("addrs")[node].clone() else {
                            continue;
                        };
                        match request(
                            &addr,
                            "POST",
                            &path,
                            key,
                            Some(("application/json", &body)),
                            &[("Idempotency-Key", &idem)],
                        ) {
                            Ok((200 | 201, v)) => break v["id"].as_str().expect("id").to_owned(),
                            Ok((status, v)) if status >= 500 => {
                                retries.fetch_add(1, Ordering::Relaxed);
                                let _ = v;
                            }
                            Ok((status, v)) => panic!("{idem}: {status} {v}"),
                            Err(_) => {
                                retries.fetch_add(1, Ordering::Relaxed);
                                // Every node may be briefly unreachable (one restarting).
                                if attempts % NODES == 0 {
                                    std::thread::sleep(Duration::from_millis(20));
                                }
                            }
                        }
                    };
                    acked.lock().expect("acked").push((t, id));
                }
            })
        })
        .collect();

    let observer = PgStore::open(PgConfig::new(db.url())).expect("observer");
    let commits = Commits::default();
    commits.follow(&observer);
    let slugs: Vec<TenantSlug> = tenants
        .iter()
        .map(|(s, _, _)| TenantSlug::parse(s).expect("slug"))
        .collect();

    let mut takeovers = Vec::new();
    for round in 0..2 {
        // A random moment: let the clients run for a while first.
        std::thread::sleep(Duration::from_millis(rng.random_range(300..1500)));
        let victim = rng.random_range(0..NODES);
        let mut dead = nodes[victim].take().expect("victim is running");
        addrs.write().expect("addrs")[victim] = None;
        dead.child.kill().expect("SIGKILL");
        let killed_at = Instant::now();
        dead.child.wait().expect("reap");
        eprintln!("round {round}: SIGKILLed node {victim} ({})", dead.name);
        // The dead node's tenants pass to the survivors once its leases expire.
        let held = |name: &str| {
            db.scalar(&format!(
                "SELECT count(*) FROM kith_leases WHERE holder = '{name}' AND expires_at > now() - interval '1 hour'"
            ))
        };
        commits.wait_until(
            "the dead node's tenants are taken over",
            LEASE_TTL * 3 + Duration::from_secs(10),
            || held(&dead.name) == 0,
        );
        let took = killed_at.elapsed();
        eprintln!(
            "round {round}: tenants taken over {took:?} after the kill (lease {LEASE_TTL:?})"
        );
        takeovers.push(took);
        // The first victim comes back (a new process on the same data directory).
        if round == 0 {
            let node = start_node(&db, dirs[victim].path());
            addrs.write().expect("addrs")[victim] = Some(node.addr.clone());
            nodes[victim] = Some(node);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let acked = std::mem::take(&mut *acked.lock().expect("acked"));
    eprintln!(
        "{} purchases acknowledged, {} requests retried on another node",
        acked.len(),
        retries.load(Ordering::Relaxed)
    );
    assert!(acked.len() > 100, "the clients wrote through the kills");

    // Every acknowledged write is there, once.
    let mut per_tenant: HashMap<usize, usize> = HashMap::new();
    for (t, id) in &acked {
        let id: InteractionId = id.parse().expect("interaction id");
        assert!(
            observer
                .interaction(&slugs[*t], id)
                .expect("read")
                .is_some(),
            "acknowledged purchase {id} is missing"
        );
        *per_tenant.entry(*t).or_default() += 1;
    }

    // The survivors catch up: every cursor reaches its head.
    commits.wait_until(
        "every tenant is dispatched",
        Duration::from_secs(120),
        || {
            slugs.iter().all(|t| {
                observer.plugin_cursor(t, PLUGIN).expect("cursor")
                    == observer.last_seq(t).expect("head")
            })
        },
    );

    let mut scores: Vec<HashMap<CustomerId, f64>> = Vec::new();
    for (i, t) in slugs.iter().enumerate() {
        let events = observer.events(t, 0, 1_000_000).expect("events");
        for (k, e) in events.iter().enumerate() {
            assert_eq!(e.seq, k as u64 + 1, "{t}: the event log has a gap");
        }
        let mut purchases_total = 0;
        let mut by_customer = HashMap::new();
        for id in &tenants[i].2 {
            let id: CustomerId = id.parse().expect("customer id");
            let purchases = observer
                .timeline(t, id, &PageRequest::first(100_000))
                .expect("timeline")
                .items
                .iter()
                .filter(|x| x.kind == InteractionKind::Purchase)
                .count();
            purchases_total += purchases;
            let score = observer.score(t, id, PLUGIN).expect("score");
            let score = score.map_or(0.0, |s| s.score);
            assert_eq!(score, purchases as f64, "{t}: customer {id}");
            by_customer.insert(id, score);
        }
        assert_eq!(
            purchases_total,
            per_tenant.get(&i).copied().unwrap_or(0),
            "{t}: exactly the acknowledged purchases"
        );
        scores.push(by_customer);
    }
    assert_eq!(observer.check().expect("check"), vec![]);

    // A fresh rescore, through a surviving node, changes no score.
    let live = nodes
        .iter()
        .flatten()
        .next()
        .expect("a live node")
        .addr
        .clone();
    for (i, t) in slugs.iter().enumerate() {
        let (status, job) = json_call(
            &live,
            "POST",
            &format!("/v1/tenants/{t}/plugins/{PLUGIN}/rescore"),
            &tenants[i].1,
            json!({}),
        );
        assert_eq!(status, 202, "{job}");
        let id = job["id"].as_u64().expect("job id");
        commits.wait_until("the rescore is done", Duration::from_secs(120), || {
            observer
                .job(t, id)
                .expect("job")
                .is_some_and(|j| !j.state.is_active())
        });
        let job = observer.job(t, id).expect("job").expect("job");
        assert_eq!(
            (job.state, job.failed),
            (kith::model::JobState::Done, 0),
            "{job:?}"
        );
        for (customer, before) in &scores[i] {
            let after = observer
                .score(t, *customer, PLUGIN)
                .expect("score")
                .map_or(0.0, |s| s.score);
            assert_eq!(after, *before, "{t}: a rescore changed customer {customer}");
        }
    }

    for took in takeovers {
        assert!(
            took <= LEASE_TTL + Duration::from_secs(5),
            "a takeover took {took:?}, far beyond the {LEASE_TTL:?} lease"
        );
    }
    for mut node in nodes.into_iter().flatten() {
        let _ = Command::new("kill")
            .args(["-TERM", &node.child.id().to_string()])
            .status();
        let _ = node.child.wait();
    }
}
