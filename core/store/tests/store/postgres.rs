//! What only the PostgreSQL store has: migrations, several nodes on one database (one gap-free
//! log, dispatch leases with fencing, heartbeats) and losing the database under load. Each test
//! gets a fresh database and is reported as ignored, by name, without `KITH_TEST_DATABASE_URL`.

use std::sync::Arc;
use std::time::Duration;

use kith_model::{Actor, CustomerInput, EventKind, TenantInput, TenantSlug};
use kith_store::testing::{Proxy, TestDatabase};
use kith_store::{Error, Op, PG_SCHEMA_VERSION, PgConfig, PgStore, PluginOp, PluginStore, Store};

fn actor() -> Actor {
    Actor::new("test")
}

fn open(db: &TestDatabase) -> PgStore {
    PgStore::open(PgConfig::new(db.url())).unwrap()
}

fn tenant(store: &dyn Store, slug: &str) -> TenantSlug {
    let input = TenantInput {
        slug: slug.into(),
        name: None,
        industry: None,
    };
    store.create_tenant(input, &actor()).unwrap().slug
}

fn person(email: &str) -> CustomerInput {
    CustomerInput {
        email: Some(email.into()),
        ..Default::default()
    }
}

#[test]
#[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
fn migrations_apply_once_and_a_newer_database_is_refused() {
    let db = TestDatabase::create();
    let all: Vec<u32> = (1..=PG_SCHEMA_VERSION).collect();
    assert_eq!(PgStore::migrate(db.url()).unwrap(), all);
    assert_eq!(PgStore::migrate(db.url()).unwrap(), Vec::<u32>::new());
    drop(open(&db));
    assert_eq!(
        db.scalar("SELECT count(*) FROM kith_schema"),
        i64::from(PG_SCHEMA_VERSION)
    );

    db.execute("INSERT INTO kith_schema (version) VALUES (99)");
    let err = PgStore::open(PgConfig::new(db.url())).unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found: 99, supported } if supported == PG_SCHEMA_VERSION),
        "{err:?}"
    );
    assert!(err.to_string().contains("99"), "{err}");
    assert!(
        PgStore::migrate(db.url()).is_err(),
        "kith migrate refuses it too"
    );
}

#[test]
#[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
fn nodes_starting_together_apply_each_migration_once() {
    let db = Arc::new(TestDatabase::create());
    let nodes: Vec<_> = (0..4)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || open(&db))
        })
        .collect();
    for n in nodes {
        n.join().unwrap();
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM kith_schema"),
        i64::from(PG_SCHEMA_VERSION)
    );
}

#[test]
#[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
fn a_bad_url_or_missing_database_fails_at_once_with_the_reason() {
    let err = PgStore::open(PgConfig::new("not a url")).unwrap_err();
    assert_eq!(err.code(), "storage", "{err}");
    assert!(err.to_string().contains("postgres://"), "{err}");
    let db = TestDatabase::create();
    let missing = db.url().replace(db.name(), "kith_no_such_database");
    let err = PgStore::open(PgConfig::new(missing)).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
#[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
fn writers_on_three_nodes_keep_one_gap_free_log() {
    let db = TestDatabase::create();
    let nodes: Vec<Arc<PgStore>> = (0..3).map(|_| Arc::new(open(&db))).collect();
    let t = tenant(nodes[0].as_ref(), "acme");
    let writers: Vec<_> = (0..24)
        .map(|w| {
            let node = Arc::clone(&nodes[w % 3]);
            let t = t.clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| {
                        node.create_customer(&t, &actor(), person(&format!("w{w}-{i}@x.test")))
                            .unwrap()
                            .id
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let ids: Vec<_> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    for node in &nodes {
        let events = node.events(&t, 0, 10_000).unwrap();
        assert_eq!(events.len(), 601, "the tenant and 600 customers");
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1, "the log has a gap");
        }
        let created = events
            .iter()
            .filter(|e| e.kind == EventKind::CustomerCreated)
            .count();
        assert_eq!(created, 600);
    }
    for id in ids {
        assert!(nodes[1].customer(&t, id).unwrap().is_some());
    }
    assert_eq!(nodes[2].check().unwrap(), vec![]);
}

#[test]
#[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
fn a_node_that_lost_its_dispatch_lease_cannot_apply_a_batch() {
    let db = TestDatabase::create();
    let (a, b) = (open(&db), open(&db));
    let t = tenant(&a, "acme");
    let ttl = Duration::from_secs(30);

    let fence = a.lease(&t, ttl).unwrap().expect("a free lease is taken");
    assert_eq!(b.lease(&t, ttl).unwrap(), None, "held by a");
    assert_eq!(
        a.lease(&t, ttl).unwrap(),
        Some(fence),
        "renewing keeps the token"
    );
    let fenced = |node: &PgStore, fence: u64, email: &str| {
        node.write(
            &t,
            &actor(),
            vec![
                Op::Plugin(PluginOp::Fence(fence)),
                Op::CreateCustomer(person(email)),
            ],
        )
    };
    fenced(&a, fence, "first@x.test").unwrap();

    // a's lease runs out (a zero renewal stands for a node that stopped renewing) and b takes
    // it over with a new token: a's next batch is refused and writes nothing.
    a.lease(&t, Duration::ZERO).unwrap();
    let taken = b
        .lease(&t, ttl)
        .unwrap()
        .expect("an expired lease is taken over");
    assert!(taken > fence);
    let err = fenced(&a, fence, "late@x.test").unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Conflict {
                entity: "dispatch lease",
                ..
            }
        ),
        "{err:?}"
    );
    let late = kith_model::Email::parse("email", "late@x.test").unwrap();
    assert!(a.customer_by_email(&t, &late).unwrap().is_none());
    assert_eq!(a.lease(&t, ttl).unwrap(), None);
    fenced(&b, taken, "second@x.test").unwrap();

    // A clean shutdown hands the tenant over at once.
    b.release_leases().unwrap();
    assert!(a.lease(&t, ttl).unwrap().is_some_and(|f| f > taken));
}

#[test]
#[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
fn a_node_is_alive_while_it_beats() {
    let db = TestDatabase::create();
    let (a, b) = (open(&db), open(&db));
    let within = Duration::from_secs(15);
    assert!(!a.node_alive(b.node(), within).unwrap(), "never beat");
    b.heartbeat().unwrap();
    assert!(a.node_alive(b.node(), within).unwrap());
    assert!(
        !a.node_alive(b.node(), Duration::ZERO).unwrap(),
        "not within 0 s"
    );
    assert!(!a.node_alive("some-other-node", within).unwrap());
}

#[test]
#[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
fn losing_the_database_is_unavailable_and_the_store_reconnects_by_itself() {
    let db = TestDatabase::create();
    let admin = std::env::var("KITH_TEST_DATABASE_URL").unwrap();
    let target = Proxy::target_of(&admin);
    let proxy = Proxy::start(&target);
    let mut config = PgConfig::new(proxy.url_for(db.url()));
    config.connect_timeout = Duration::from_secs(1);
    config.pool_size = 4;
    let store = PgStore::open(config).unwrap();
    let t = tenant(&store, "acme");
    let kept = store
        .create_customer(&t, &actor(), person("kept@x.test"))
        .unwrap();

    proxy.cut();
    for _ in 0..3 {
        let err = store
            .create_customer(&t, &actor(), person("lost@x.test"))
            .unwrap_err();
        assert_eq!(err.code(), "store_unavailable", "{err}");
        let err = store.customer(&t, kept.id).unwrap_err();
        assert_eq!(err.code(), "store_unavailable", "{err}");
    }

    proxy.restore();
    let back = store
        .create_customer(&t, &actor(), person("back@x.test"))
        .unwrap();
    assert_eq!(store.customer(&t, kept.id).unwrap(), Some(kept));
    assert!(store.customer(&t, back.id).unwrap().is_some());
    let lost = kith_model::Email::parse("email", "lost@x.test").unwrap();
    assert!(store.customer_by_email(&t, &lost).unwrap().is_none());
    let events = store.events(&t, 0, 100).unwrap();
    assert_eq!(events.len(), 3, "tenant, kept, back: nothing half-applied");
}
