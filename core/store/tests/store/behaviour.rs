//! Behaviour of the redb store: conflicts, duplicates, atomicity, group commit, erasure, paging,
//! reports, schema versions, locking, `check()` and backup.

use std::path::Path;
use std::sync::{Arc, Barrier, Condvar, Mutex, mpsc};

use crate::backend::{Fixture, Kind, on_both_backends};
use kith_model::{
    Actor, AttributeValue, Channel, Currency, Customer, CustomerId, CustomerInput, CustomerKind,
    CustomerPatch, DealInput, Email, EntityRef, Event, EventKind, ExternalId, FieldObject,
    InteractionInput, InteractionKind, LifecycleStage, Money, Phone, PipelineInput, StageCategory,
    StageInput, Tag, TaskStatus, TenantInput, TenantSlug, Timestamp,
};
use kith_store::Error;
use kith_store::{
    Clock, Cursor, CustomerFilter, Op, Output, Page, PageRequest, RedbStore, SCHEMA_VERSION, Store,
    StoreConfig,
};
use redb::{ReadableTable, TableDefinition};

type Raw = TableDefinition<'static, &'static [u8], &'static [u8]>;
const META: Raw = TableDefinition::new("meta");
const EVENTS: Raw = TableDefinition::new("events");
const IDX_EMAIL: Raw = TableDefinition::new("idx_email");
const IDX_PHONE: Raw = TableDefinition::new("idx_phone");
const IDX_TAG: Raw = TableDefinition::new("idx_tag");
const IDX_FIELD: Raw = TableDefinition::new("idx_field");

/// 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000;
const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// A clock the test sets; `hold` makes the committer wait inside `now()` until `release`, which
/// lets a test queue requests so that they share the next commit.
#[derive(Debug)]
struct TestClock {
    state: Mutex<ClockState>,
    changed: Condvar,
}

#[derive(Debug)]
struct ClockState {
    micros: i64,
    hold: bool,
    held: bool,
}

impl TestClock {
    fn at(secs: i64) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(ClockState {
                micros: Timestamp::from_secs(secs).as_micros(),
                hold: false,
                held: false,
            }),
            changed: Condvar::new(),
        })
    }

    fn set(&self, secs: i64) {
        self.state.lock().unwrap().micros = Timestamp::from_secs(secs).as_micros();
    }

    fn hold(&self) {
        self.state.lock().unwrap().hold = true;
    }

    /// Blocks until the committer waits inside `now()`.
    fn wait_until_held(&self) {
        let mut s = self.state.lock().unwrap();
        while !s.held {
            s = self.changed.wait(s).unwrap();
        }
    }

    fn release(&self) {
        self.state.lock().unwrap().hold = false;
        self.changed.notify_all();
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let mut s = self.state.lock().unwrap();
        if s.hold {
            s.held = true;
            self.changed.notify_all();
            while s.hold {
                s = self.changed.wait(s).unwrap();
            }
            s.held = false;
        }
        // Every commit gets its own second, so events of one commit share a time.
        s.micros += 1_000_000;
        Timestamp::from_micros(s.micros)
    }
}

fn actor() -> Actor {
    Actor::new("test")
}

fn usd() -> Currency {
    "USD".parse().unwrap()
}

fn open(dir: &Path) -> RedbStore {
    RedbStore::open(dir, StoreConfig::default()).unwrap()
}

fn open_with(dir: &Path, clock: &Arc<TestClock>) -> RedbStore {
    let config = StoreConfig {
        clock: clock.clone(),
        ..StoreConfig::default()
    };
    RedbStore::open(dir, config).unwrap()
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

fn create(store: &dyn Store, t: &TenantSlug, input: CustomerInput) -> Customer {
    store.create_customer(t, &actor(), input).unwrap()
}

fn email(s: &str) -> Email {
    Email::parse("email", s).unwrap()
}

fn tag(s: &str) -> Tag {
    Tag::parse("tag", s).unwrap()
}

fn all_events(store: &dyn Store, t: &TenantSlug) -> Vec<Event> {
    store.events(t, 0, 100_000).unwrap()
}

fn assert_gap_free(events: &[Event]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "event log has a gap");
    }
}

fn all_pages<T>(
    limit: usize,
    mut page: impl FnMut(&PageRequest) -> kith_store::Result<Page<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    let mut request = PageRequest::first(limit);
    loop {
        let p = page(&request).unwrap();
        out.extend(p.items);
        match p.next {
            Some(c) => request = PageRequest::after(limit, c),
            None => return out,
        }
    }
}

fn ids(customers: &[Customer]) -> Vec<CustomerId> {
    customers.iter().map(|c| c.id).collect()
}

fn task(customer: CustomerId, due_secs: i64) -> InteractionInput {
    InteractionInput {
        due_at: Some(Timestamp::from_secs(due_secs)),
        ..InteractionInput::new(customer, Channel::Phone, InteractionKind::Task)
    }
}

fn raw_db(dir: &Path) -> redb::Database {
    redb::Database::create(dir.join("kith.redb")).unwrap()
}

fn set_schema_version(dir: &Path, version: u32) {
    let db = raw_db(dir);
    let txn = db.begin_write().unwrap();
    txn.open_table(META)
        .unwrap()
        .insert(
            b"schema_version".as_slice(),
            version.to_le_bytes().as_slice(),
        )
        .unwrap();
    txn.commit().unwrap();
}

// ---------------------------------------------------------------------------------------------

/// The worked example of the issue (a sales training deck): 80, 30, 16 and 10 deals in four
/// stages with totals 11.25M, 3.18M, 1.68M and 1.08M; deals further down came through the earlier
/// stages, so 136 entered the first, 56 the second, 26 the third and 10 the last.
fn pipeline_report_matches_the_sales_training_funnel(kind: Kind) {
    let clock = TestClock::at(T0 - 1);
    let fx = Fixture::with_clock(kind, clock.clone());
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let buyer = create(&*store, &t, person("buyer@example.com"));
    let stages = [
        ("initial contact", 10, StageCategory::Open),
        ("intent reached", 30, StageCategory::Open),
        ("negotiation", 60, StageCategory::Open),
        ("contract signed", 100, StageCategory::Won),
    ];
    let pipeline = store
        .create_pipeline(
            &t,
            &actor(),
            PipelineInput {
                lost_reasons: Vec::new(),
                name: "Sales".into(),
                stages: stages
                    .iter()
                    .map(|(name, probability, category)| StageInput {
                        name: (*name).into(),
                        probability: *probability,
                        category: *category,
                    })
                    .collect(),
            },
        )
        .unwrap();
    let stage_ids: Vec<_> = pipeline.stages.iter().map(|s| s.id).collect();

    // Deals per final stage and their total in whole dollars.
    let groups: [(usize, i64); 4] = [
        (80, 11_250_000),
        (30, 3_180_000),
        (16, 1_680_000),
        (10, 1_080_000),
    ];
    let mut amounts = Vec::new(); // (final stage, cents)
    for (stage, (n, total)) in groups.iter().enumerate() {
        let base = total / *n as i64;
        assert_eq!(base * *n as i64, *total);
        for i in 0..*n {
            // Pairs of +d/-d around the mean: varied amounts with an exact sum.
            let d = ((i / 2) as i64 + 1) * 1_000;
            let delta = match (i % 2, n % 2 == 1 && i == n - 1) {
                (_, true) => 0,
                (0, _) => d,
                _ => -d,
            };
            amounts.push((stage, (base + delta) * 100));
        }
    }
    // Every deal enters the first stage at T0.
    clock.set(T0 - 1);
    let ops = amounts
        .iter()
        .map(|(_, cents)| {
            Op::CreateDeal(DealInput {
                attributes: Default::default(),
                customer: buyer.id,
                pipeline: pipeline.id,
                stage: None,
                title: "deal".into(),
                amount: Money::new(*cents, usd()),
                expected_close: None,
                owner: None,
            })
        })
        .collect();
    let deals: Vec<_> = store
        .write(&t, &actor(), ops)
        .unwrap()
        .into_iter()
        .map(|o| match o {
            Output::Deal(d) => d,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        deals
            .iter()
            .all(|d| d.created_at == Timestamp::from_secs(T0))
    );

    // Deals that go past stage s stay there (j+1) days, hours, minutes for the 1st, 2nd, 3rd stage.
    let unit = [DAY, HOUR, 60];
    let mut entered = vec![T0; deals.len()];
    for s in 0..3 {
        let movers: Vec<usize> = (0..deals.len()).filter(|&i| amounts[i].0 > s).collect();
        let ops = movers
            .iter()
            .enumerate()
            .map(|(j, &i)| {
                entered[i] += (j as i64 + 1) * unit[s];
                Op::MoveDeal {
                    lost_reason: None,
                    id: deals[i].id,
                    stage: stage_ids[s + 1],
                    at: Some(Timestamp::from_secs(entered[i])),
                    expected_version: None,
                }
            })
            .collect();
        store.write(&t, &actor(), ops).unwrap();
    }

    let report = store.pipeline_report(&t, pipeline.id).unwrap();
    assert_eq!(report.deals, 136);
    let names: Vec<_> = report.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "initial contact",
            "intent reached",
            "negotiation",
            "contract signed"
        ]
    );
    let counts: Vec<u64> = report.stages.iter().map(|s| s.deals).collect();
    assert_eq!(counts, [80, 30, 16, 10]);
    let cents = |dollars: i64| vec![Money::new(dollars * 100, usd())];
    for (s, (_, total)) in report.stages.iter().zip(groups) {
        assert_eq!(s.amount, cents(total), "{}", s.name);
        assert_eq!(
            s.weighted_amount,
            cents(total * i64::from(s.probability) / 100),
            "{}",
            s.name
        );
    }
    assert_eq!(report.stages[0].weighted_amount, cents(1_125_000));
    assert_eq!(report.stages[3].weighted_amount, cents(1_080_000));
    let entered: Vec<u64> = report.stages.iter().map(|s| s.entered).collect();
    assert_eq!(entered, [136, 56, 26, 10]);
    let conversion: Vec<Option<f64>> = report.stages.iter().map(|s| s.conversion_to_next).collect();
    assert_eq!(
        conversion,
        [
            Some(56.0 / 136.0),
            Some(26.0 / 56.0),
            Some(10.0 / 26.0),
            None
        ]
    );
    // Medians of 1..=56 days, 1..=26 hours and 1..=10 minutes; no deal left the last stage.
    let medians: Vec<Option<i64>> = report
        .stages
        .iter()
        .map(|s| s.median_seconds_in_stage)
        .collect();
    assert_eq!(
        medians,
        [
            Some(28 * DAY + DAY / 2),
            Some(13 * HOUR + HOUR / 2),
            Some(330),
            None
        ]
    );
    // Each deal went through every stage up to its own, in order.
    for (i, (s, n)) in stage_ids.iter().zip([80, 30, 16, 10]).enumerate() {
        let in_stage = all_pages(7, |p| store.deals(&t, pipeline.id, Some(*s), p));
        assert_eq!(in_stage.len(), n);
        for d in in_stage {
            let path: Vec<_> = d.history.iter().map(|v| v.stage).collect();
            assert_eq!(path, stage_ids[..=i]);
        }
    }
    assert_eq!(store.check().unwrap(), vec![]);
}

fn stale_version_update_is_a_conflict_and_writes_nothing(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let ada = create(&*store, &t, person("ada@example.com"));
    let patch = |city: &str| CustomerPatch {
        city: Some(Some(city.into())),
        ..Default::default()
    };
    let v2 = store
        .update_customer(&t, &actor(), ada.id, 1, patch("London"))
        .unwrap();
    assert_eq!(v2.version, 2);
    let seq = store.last_seq(&t).unwrap();

    let err = store
        .update_customer(&t, &actor(), ada.id, 1, patch("Paris"))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { entity: "customer", expected: 1, actual: 2, id } if *id == ada.id.to_string()),
        "{err:?}"
    );
    assert_eq!(err.code(), "version_conflict");
    assert!(err.to_string().contains("version 1") && err.to_string().contains("version 2"));
    assert_eq!(store.customer(&t, ada.id).unwrap(), Some(v2.clone()));
    assert_eq!(
        store.last_seq(&t).unwrap(),
        seq,
        "a conflict wrote an event"
    );

    // Deals too, when the move names a version.
    let pipeline = store
        .create_pipeline(
            &t,
            &actor(),
            PipelineInput {
                lost_reasons: Vec::new(),
                name: "Sales".into(),
                stages: ["a", "b"]
                    .map(|n| StageInput {
                        name: n.into(),
                        probability: 50,
                        category: StageCategory::Open,
                    })
                    .to_vec(),
            },
        )
        .unwrap();
    let deal = store
        .create_deal(
            &t,
            &actor(),
            DealInput {
                attributes: Default::default(),
                customer: ada.id,
                pipeline: pipeline.id,
                stage: None,
                title: "big one".into(),
                amount: Money::new(100, usd()),
                expected_close: None,
                owner: None,
            },
        )
        .unwrap();
    let seq = store.last_seq(&t).unwrap();
    let stale = Op::MoveDeal {
        lost_reason: None,
        id: deal.id,
        stage: pipeline.stages[1].id,
        at: None,
        expected_version: Some(2),
    };
    let err = store.write(&t, &actor(), vec![stale]).unwrap_err();
    assert!(matches!(
        err,
        Error::Conflict {
            entity: "deal",
            expected: 2,
            actual: 1,
            ..
        }
    ));
    assert_eq!(store.deal(&t, deal.id).unwrap(), Some(deal));
    assert_eq!(store.last_seq(&t).unwrap(), seq);
    assert_eq!(store.check().unwrap(), vec![]);
}

/// Every group of customers sharing an email likeness, paging with `budget`.
fn likeness_groups(store: &dyn Store, t: &TenantSlug, budget: usize) -> Vec<Vec<CustomerId>> {
    let (mut all, mut after) = (Vec::new(), None::<String>);
    for _ in 0..100 {
        let (groups, next) = store
            .email_likeness_groups(t, after.as_deref(), budget)
            .unwrap();
        all.extend(groups);
        match next {
            Some(n) => after = Some(n),
            None => return all,
        }
    }
    panic!("the groups never ended");
}

fn email_identity_ignores_case_and_likeness_finds_probable_duplicates(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let other = tenant(&*store, "other");
    let ada = create(&*store, &t, person("Ada@Example.com"));
    assert_eq!(ada.email, Some(email("Ada@example.com")), "typed case kept");
    let seq = store.last_seq(&t).unwrap();
    // Another case of the same address is the same identity: refused, naming the holder.
    for raw in ["ada@example.com", "ADA@EXAMPLE.COM"] {
        let err = store
            .create_customer(&t, &actor(), person(raw))
            .unwrap_err();
        assert!(
            matches!(&err, Error::Duplicate { field: "email", existing, .. } if *existing == format!("customer {}", ada.id)),
            "{raw}: {err:?}"
        );
    }
    assert_eq!(
        store.last_seq(&t).unwrap(),
        seq,
        "a refused write left an event"
    );
    // Found in any case; another tenant may hold it.
    let found = store
        .customer_by_email(&t, &email("ADA@example.COM"))
        .unwrap();
    assert_eq!(found.map(|c| c.id), Some(ada.id));
    create(&*store, &other, person("ada@example.com"));
    // Its holder may change the case; someone else may not take it.
    let ada = store
        .update_customer(
            &t,
            &actor(),
            ada.id,
            ada.version,
            CustomerPatch {
                email: Some(Some("ADA@example.com".into())),
                ..Default::default()
            },
        )
        .unwrap();
    let bob = create(&*store, &t, person("bob@example.com"));
    let err = store
        .update_customer(
            &t,
            &actor(),
            bob.id,
            bob.version,
            CustomerPatch {
                email: Some(Some("ada@example.com".into())),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Duplicate { field: "email", .. }),
        "{err:?}"
    );
    // Dots, a +tag and a Cyrillic look-alike are other identities, but alike.
    let alike: Vec<Customer> = [
        "a.da@example.com",
        "ada+news@example.com",
        "\u{430}da@example.com",
    ]
    .into_iter()
    .map(|e| create(&*store, &t, person(e)))
    .collect();
    let zed = create(&*store, &t, person("zed@example.org"));
    let z_ed = create(&*store, &t, person("z.ed@example.org"));
    let mut group: Vec<CustomerId> = alike.iter().map(|c| c.id).collect();
    group.push(ada.id);
    group.sort();
    let mut found: Vec<CustomerId> = store
        .customers_by_email_likeness(&t, &email("ada@example.com").likeness(), 50)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    found.sort();
    assert_eq!(found, group);
    let sorted = |groups: Vec<Vec<CustomerId>>| {
        let mut groups: Vec<Vec<CustomerId>> = groups
            .into_iter()
            .map(|mut g| {
                g.sort();
                g
            })
            .collect();
        groups.sort();
        groups
    };
    let mut expected = vec![group, vec![zed.id, z_ed.id]];
    expected.iter_mut().for_each(|g| g.sort());
    expected.sort();
    // The whole list in one page, or one group per page with a tiny budget: the same groups.
    assert_eq!(sorted(likeness_groups(&*store, &t, 10_000)), expected);
    assert_eq!(sorted(likeness_groups(&*store, &t, 1)), expected);
    assert!(likeness_groups(&*store, &other, 10_000).is_empty());
    // Erasing a customer takes it out of the index.
    store.erase_customer(&t, &actor(), z_ed.id).unwrap();
    assert_eq!(
        sorted(likeness_groups(&*store, &t, 10_000)),
        expected[..1].to_vec()
    );
    assert_eq!(store.check().unwrap(), vec![]);
}

/// Customers stored before identity ignored case are indexed on upgrade, and two that differ
/// only by case stay (both readable, listed as a pair) until someone merges them.
fn emails_stored_before_identity_are_indexed_on_upgrade(kind: Kind) {
    let fx = Fixture::new(kind);
    let (t, a, b) = {
        let store = fx.open();
        let t = tenant(&*store, "acme");
        let a = create(&*store, &t, person("ada@example.com"));
        let b = create(&*store, &t, person("bob@example.com"));
        store.close();
        (t, a, b)
    };
    // Make it look as an older release left it: b holds `ADA@example.com` too, and the
    // identity index is missing.
    let b_old = Customer {
        email: Some(email("ADA@example.com")),
        ..b.clone()
    };
    match kind {
        Kind::Redb => {
            type Raw = TableDefinition<'static, &'static [u8], &'static [u8]>;
            let db = redb::Database::create(fx.dir().join("kith.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut customers = txn.open_table(Raw::new("customers")).unwrap();
                let key: Vec<u8> = customers
                    .iter()
                    .unwrap()
                    .map(|r| r.unwrap().0.value().to_vec())
                    .find(|k| k.ends_with(&b.id.to_bytes()))
                    .unwrap();
                let bytes = postcard::to_allocvec(&b_old).unwrap();
                customers.insert(key.as_slice(), bytes.as_slice()).unwrap();
                let mut by_email = txn.open_table(Raw::new("idx_email")).unwrap();
                let old_key: Vec<u8> = by_email
                    .iter()
                    .unwrap()
                    .map(|r| r.unwrap())
                    .find(|(_, v)| v.value() == b.id.to_bytes())
                    .map(|(k, _)| k.value().to_vec())
                    .unwrap();
                by_email.remove(old_key.as_slice()).unwrap();
                let mut new_key = old_key[..4].to_vec();
                new_key.extend_from_slice(b"ADA@example.com");
                by_email
                    .insert(new_key.as_slice(), b.id.to_bytes().as_slice())
                    .unwrap();
            }
            txn.delete_table(Raw::new("idx_email_like")).unwrap();
            txn.open_table(Raw::new("meta"))
                .unwrap()
                .insert(b"schema_version".as_slice(), 3u32.to_le_bytes().as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        Kind::Postgres => {
            let db = fx.db().unwrap();
            let hex: String = postcard::to_allocvec(&b_old)
                .unwrap()
                .iter()
                .map(|x| format!("{x:02x}"))
                .collect();
            db.execute(&format!(
                "UPDATE kith_customers SET doc = '\\x{hex}', email = 'ADA@example.com' \
                 WHERE id = '{}'",
                b.id
            ));
            db.execute("UPDATE kith_customers SET email_like = NULL, email_identity = NULL");
            db.execute("INSERT INTO kith_upgrades (step) VALUES ('backfill-email-identity')");
        }
    }
    let store = fx.open();
    assert_eq!(store.check().unwrap(), vec![]);
    let mut pair = vec![a.id, b.id];
    pair.sort();
    assert_eq!(likeness_groups(&*store, &t, 10_000), vec![pair]);
    // Each is still found by its exact address; a third spelling finds the older.
    let by = |e: &str| {
        store
            .customer_by_email(&t, &email(e))
            .unwrap()
            .map(|c| c.id)
    };
    assert_eq!(by("ADA@example.com"), Some(b.id));
    assert_eq!(by("ada@example.com"), Some(a.id));
    assert_eq!(by("Ada@example.com"), Some(a.id.min(b.id)));
    // Either can still be changed without touching the email; a new one may not join them.
    store
        .update_customer(
            &t,
            &actor(),
            b.id,
            b.version,
            CustomerPatch {
                name: Some(Some("Ada Lovelace".into())),
                ..Default::default()
            },
        )
        .unwrap();
    let err = store
        .create_customer(&t, &actor(), person("adA@example.com"))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Duplicate { field: "email", .. }),
        "{err:?}"
    );
}

fn duplicate_email_phone_or_external_id_names_the_holder_and_writes_nothing(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let ada = create(
        &*store,
        &t,
        CustomerInput {
            email: Some("ada@example.com".into()),
            phone: Some("+442079460000".into()),
            external_ids: vec![ExternalId {
                source: "shop".into(),
                id: "1".into(),
            }],
            ..Default::default()
        },
    );
    let bob = create(&*store, &t, person("bob@example.com"));
    let seq = store.last_seq(&t).unwrap();
    let holder = format!("customer {}", ada.id);

    let attempts: [(CustomerInput, &str, &str); 3] = [
        (person("ada@EXAMPLE.com"), "email", "ada@example.com"),
        (
            CustomerInput {
                name: Some("Imposter".into()),
                phone: Some("+44 20 7946 0000".into()),
                ..Default::default()
            },
            "phone",
            "+442079460000",
        ),
        (
            CustomerInput {
                name: Some("Imposter".into()),
                external_ids: vec![
                    ExternalId {
                        source: "pos".into(),
                        id: "9".into(),
                    },
                    ExternalId {
                        source: "shop".into(),
                        id: "1".into(),
                    },
                ],
                ..Default::default()
            },
            "external_id",
            "shop:1",
        ),
    ];
    for (input, field, value) in attempts {
        let err = store.create_customer(&t, &actor(), input).unwrap_err();
        match &err {
            Error::Duplicate {
                field: f,
                value: v,
                existing,
            } => {
                assert_eq!((*f, v.as_str(), existing), (field, value, &holder));
            }
            other => panic!("expected a duplicate {field}, got {other:?}"),
        }
        assert_eq!(err.code(), "duplicate");
        assert!(err.to_string().contains(&ada.id.to_string()), "{err}");
    }
    // An update that takes someone else's email is refused the same way.
    let err = store
        .update_customer(
            &t,
            &actor(),
            bob.id,
            1,
            CustomerPatch {
                email: Some(Some("ada@example.com".into())),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::Duplicate { field: "email", existing, .. } if *existing == holder)
    );

    assert_eq!(
        store.last_seq(&t).unwrap(),
        seq,
        "a refused write left an event"
    );
    let everyone = all_pages(10, |p| store.customers(&t, &CustomerFilter::All, p));
    assert_eq!(everyone, vec![ada.clone(), bob.clone()]);
    assert!(
        store
            .customer_by_external_id(&t, "pos", "9")
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .customer_by_email(&t, &email("ada@example.com"))
            .unwrap(),
        Some(ada)
    );
    assert_eq!(store.customer(&t, bob.id).unwrap(), Some(bob));

    // Pipeline names too (case-insensitive).
    let pipeline = |name: &str| PipelineInput {
        lost_reasons: Vec::new(),
        name: name.into(),
        stages: vec![StageInput {
            name: "open".into(),
            probability: 10,
            category: StageCategory::Open,
        }],
    };
    let sales = store
        .create_pipeline(&t, &actor(), pipeline("Sales"))
        .unwrap();
    let err = store
        .create_pipeline(&t, &actor(), pipeline("sales"))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Duplicate { field: "name", existing, .. } if *existing == format!("pipeline {}", sales.id)),
        "{err:?}"
    );
    assert_eq!(store.check().unwrap(), vec![]);
}

/// X's atomic write fails at its second op while Y's and Z's requests wait in the same queue: all
/// three are committed together, X leaves nothing behind, Y and Z are kept.
#[test]
fn failed_atomic_write_leaves_nothing_while_batched_neighbours_commit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(T0);
    let store = Arc::new(open_with(dir.path(), &clock));
    let t = tenant(&*store, "acme");
    let old = create(&*store, &t, person("old@example.com"));

    let mut shared_commit = false;
    for attempt in 0..20 {
        let (commits_before, requests_before) = store.commit_counts();
        let seq_before = store.last_seq(&t).unwrap();
        // Hold the committer inside a commit of a gate request, queue X, Y, Z, then let it go.
        clock.hold();
        let gate = {
            let (store, t) = (store.clone(), t.clone());
            std::thread::spawn(move || {
                create(&*store, &t, person(&format!("gate{attempt}@example.com")));
            })
        };
        clock.wait_until_held();
        let start = Arc::new(Barrier::new(4));
        let x = {
            let (store, t, start) = (store.clone(), t.clone(), start.clone());
            std::thread::spawn(move || {
                let ops = vec![
                    Op::CreateCustomer(person(&format!("x{attempt}@example.com"))),
                    Op::UpdateCustomer {
                        id: old.id,
                        expected_version: 99,
                        patch: CustomerPatch::default(),
                    },
                ];
                start.wait();
                store.write(&t, &actor(), ops)
            })
        };
        let others: Vec<_> = ["y", "z"]
            .map(|who| {
                let (store, t, start) = (store.clone(), t.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    create(&*store, &t, person(&format!("{who}{attempt}@example.com")))
                })
            })
            .into_iter()
            .collect();
        start.wait();
        clock.release();
        gate.join().unwrap();
        let x = x.join().unwrap();
        let others: Vec<Customer> = others.into_iter().map(|h| h.join().unwrap()).collect();

        assert!(
            matches!(x, Err(Error::Conflict { expected: 99, .. })),
            "{x:?}"
        );
        let x_email = email(&format!("x{attempt}@example.com"));
        assert_eq!(store.customer_by_email(&t, &x_email).unwrap(), None);
        for c in &others {
            assert_eq!(store.customer(&t, c.id).unwrap().as_ref(), Some(c));
        }
        // Gate, Y and Z each wrote one event; X none.
        let events = store.events(&t, seq_before, 100).unwrap();
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|e| e.kind == EventKind::CustomerCreated));
        let created: Vec<_> = events.iter().filter_map(|e| e.entity.customer()).collect();
        assert!(others.iter().all(|c| created.contains(&c.id)));
        assert_eq!(store.check().unwrap(), vec![]);

        let (commits, requests) = store.commit_counts();
        assert_eq!(requests - requests_before, 4);
        if commits - commits_before == 2 {
            // The gate alone, then X, Y and Z in one commit.
            assert_eq!(events[1].at, events[2].at);
            shared_commit = true;
            break;
        }
    }
    assert!(shared_commit, "X, Y and Z never shared a commit");
}

/// A write awaited without a thread of its own (`write_nonblocking`): queued at once even while
/// the committer is busy, resolved only with its durable commit, its idempotency key replayed
/// like `write_once`, and kept when its future is dropped.
#[test]
fn a_write_awaited_without_a_thread_resolves_with_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at(T0);
    let store = Arc::new(open_with(dir.path(), &clock));
    let t = tenant(&*store, "acme");
    let key = kith_store::IdempotencyKey {
        key: "k-1".into(),
        fingerprint: [7; 32],
    };
    let ops = || vec![Op::CreateCustomer(person("ada@example.com"))];

    // Hold the committer inside a gate request's commit.
    clock.hold();
    let gate = {
        let (store, t) = (store.clone(), t.clone());
        std::thread::spawn(move || create(&*store, &t, person("gate@example.com")))
    };
    clock.wait_until_held();
    let generation = store.generation();
    let mut pending = store
        .write_nonblocking(&t, &actor(), ops(), Some(&key))
        .unwrap_or_else(|_| panic!("the embedded store awaits writes"));
    let dropped = store
        .write_nonblocking(
            &t,
            &actor(),
            vec![Op::CreateCustomer(person("bo@example.com"))],
            None,
        )
        .unwrap_or_else(|_| panic!("the embedded store awaits writes"));
    drop(dropped);
    // Queued, not answered: the committer is still inside the gate's commit.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(pending.as_mut().poll(&mut cx).is_pending());
    assert_eq!(store.generation(), generation);
    clock.release();
    gate.join().unwrap();

    let first = futures_executor::block_on(pending).unwrap();
    assert!(!first.replayed);
    let ada = match first.value.as_slice() {
        [Output::Customer(c)] => c.clone(),
        other => panic!("{other:?}"),
    };
    // Answered only once durable and visible: a read after the answer sees it.
    assert!(store.generation() > generation);
    assert_eq!(store.customer(&t, ada.id).unwrap(), Some(ada.clone()));

    // The same key again replays the first answer and writes nothing.
    let seq = store.last_seq(&t).unwrap();
    let again = futures_executor::block_on(
        store
            .write_nonblocking(&t, &actor(), ops(), Some(&key))
            .unwrap_or_else(|_| panic!("the embedded store awaits writes")),
    )
    .unwrap();
    assert!(again.replayed);
    assert_eq!(again.value, first.value);

    // The dropped write was committed all the same (requests commit in the order queued).
    let bo = store
        .customer_by_email(&t, &email("bo@example.com"))
        .unwrap();
    assert!(bo.is_some());
    assert_eq!(store.last_seq(&t).unwrap(), seq);

    // An unknown tenant is refused before anything is queued.
    let nowhere = TenantSlug::parse("nowhere").unwrap();
    let refused = futures_executor::block_on(
        store
            .write_nonblocking(&nowhere, &actor(), ops(), None)
            .unwrap_or_else(|_| panic!("the embedded store awaits writes")),
    );
    assert!(
        matches!(refused, Err(Error::TenantNotFound(_))),
        "{refused:?}"
    );
}

fn write_each_applies_the_good_ops_and_reports_the_bad(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let ada = create(&*store, &t, person("ada@example.com"));
    let seq = store.last_seq(&t).unwrap();
    let results = store
        .write_each(
            &t,
            &actor(),
            vec![
                Op::CreateCustomer(person("one@example.com")),
                Op::CreateCustomer(person("ada@example.com")),
                Op::UpdateCustomer {
                    id: ada.id,
                    expected_version: 7,
                    patch: CustomerPatch::default(),
                },
                Op::CreateCustomer(CustomerInput::default()),
                Op::CreateCustomer(person("two@example.com")),
            ],
        )
        .unwrap();
    assert_eq!(results.len(), 5);
    assert!(
        matches!(&results[0], Ok(Output::Customer(c)) if c.email == Some(email("one@example.com")))
    );
    assert!(matches!(
        &results[1],
        Err(Error::Duplicate { field: "email", .. })
    ));
    assert!(matches!(&results[2], Err(Error::Conflict { .. })));
    assert!(matches!(&results[3], Err(Error::Invalid(_))));
    assert!(
        matches!(&results[4], Ok(Output::Customer(c)) if c.email == Some(email("two@example.com")))
    );
    for e in ["one@example.com", "two@example.com"] {
        assert!(store.customer_by_email(&t, &email(e)).unwrap().is_some());
    }
    let events = store.events(&t, seq, 100).unwrap();
    assert_eq!(events.len(), 2, "one event per applied op");
    assert_eq!(store.check().unwrap(), vec![]);
}

fn interaction_with_a_known_external_id_is_stored_once_with_one_event(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let ada = create(&*store, &t, person("ada@example.com"));
    let bob = create(&*store, &t, person("bob@example.com"));
    let order = |customer: CustomerId, source: &str, subject: &str| InteractionInput {
        source: Some(source.into()),
        external_id: Some("order-1".into()),
        subject: Some(subject.into()),
        amount: Some(Money::new(4_200, usd())),
        ..InteractionInput::new(customer, Channel::ECommerce, InteractionKind::Purchase)
    };
    let seq = store.last_seq(&t).unwrap();
    let (first, created) = store
        .log_interaction(&t, &actor(), order(ada.id, "shop", "first delivery"))
        .unwrap();
    assert!(created);
    let (again, created) = store
        .log_interaction(&t, &actor(), order(ada.id, "shop", "redelivered"))
        .unwrap();
    assert!(!created);
    assert_eq!(again, first, "the stored interaction is returned unchanged");
    // Twice more in one request: still once.
    let results = store
        .write_each(
            &t,
            &actor(),
            vec![
                Op::LogInteraction(order(ada.id, "shop", "x")),
                Op::LogInteraction(order(ada.id, "shop", "y")),
            ],
        )
        .unwrap();
    assert!(results.iter().all(|r| matches!(
        r,
        Ok(Output::Interaction { interaction, created: false }) if interaction.id == first.id
    )));
    let timeline = store.timeline(&t, ada.id, &PageRequest::first(10)).unwrap();
    assert_eq!(timeline.items, vec![first.clone()]);
    let events = store.events(&t, seq, 100).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::InteractionLogged);

    // The same id from another source is another interaction; for another customer it is refused.
    let (other, created) = store
        .log_interaction(&t, &actor(), order(ada.id, "pos", "in store"))
        .unwrap();
    assert!(created && other.id != first.id);
    let err = store
        .log_interaction(&t, &actor(), order(bob.id, "shop", "stolen id"))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Duplicate { field: "external_id", existing, .. } if existing.contains(&first.id.to_string())),
        "{err:?}"
    );
    assert_eq!(store.last_seq(&t).unwrap(), seq + 2);
    assert_eq!(store.check().unwrap(), vec![]);
}

fn erasure_removes_customer_interactions_deals_and_index_entries_leaving_one_event(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let org = create(
        &*store,
        &t,
        CustomerInput {
            kind: CustomerKind::Organization,
            name: Some("Analytical Engines Ltd".into()),
            ..Default::default()
        },
    );
    let ann = super::backend::user(&*store, &t, "Ann");
    let ada = create(
        &*store,
        &t,
        CustomerInput {
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.com".into()),
            phone: Some("+442079460000".into()),
            external_ids: vec![ExternalId {
                source: "shop".into(),
                id: "42".into(),
            }],
            tags: vec!["vip".into()],
            owner: Some(ann.clone()),
            lifecycle: Some(LifecycleStage::Customer),
            organization: Some(org.id),
            ..Default::default()
        },
    );
    let keeper = CustomerInput {
        name: Some("Ada Byron".into()),
        email: Some("byron@example.com".into()),
        tags: vec!["vip".into()],
        owner: Some(ann.clone()),
        lifecycle: Some(LifecycleStage::Customer),
        organization: Some(org.id),
        ..Default::default()
    };
    let keeper = create(&*store, &t, keeper);
    let purchase = InteractionInput {
        source: Some("shop".into()),
        external_id: Some("o-1".into()),
        ..InteractionInput::new(ada.id, Channel::ECommerce, InteractionKind::Purchase)
    };
    let (bought, _) = store
        .log_interaction(&t, &actor(), purchase.clone())
        .unwrap();
    let (todo, _) = store
        .log_interaction(&t, &actor(), task(ada.id, T0))
        .unwrap();
    let (kept_task, _) = store
        .log_interaction(&t, &actor(), task(keeper.id, T0))
        .unwrap();
    let pipeline = store
        .create_pipeline(
            &t,
            &actor(),
            PipelineInput {
                lost_reasons: Vec::new(),
                name: "Sales".into(),
                stages: vec![StageInput {
                    name: "open".into(),
                    probability: 20,
                    category: StageCategory::Open,
                }],
            },
        )
        .unwrap();
    let deal_for = |customer| DealInput {
        attributes: Default::default(),
        customer,
        pipeline: pipeline.id,
        stage: None,
        title: "deal".into(),
        amount: Money::new(1_000, usd()),
        expected_close: None,
        owner: None,
    };
    let deal = store.create_deal(&t, &actor(), deal_for(ada.id)).unwrap();
    let kept_deal = store
        .create_deal(&t, &actor(), deal_for(keeper.id))
        .unwrap();
    let seq = store.last_seq(&t).unwrap();

    store.erase_customer(&t, &actor(), ada.id).unwrap();

    assert_eq!(store.customer(&t, ada.id).unwrap(), None);
    assert_eq!(
        store
            .customer_by_email(&t, &email("ada@example.com"))
            .unwrap(),
        None
    );
    let phone = Phone::parse("phone", "+442079460000", None).unwrap();
    assert_eq!(store.customer_by_phone(&t, &phone).unwrap(), None);
    assert_eq!(
        store.customer_by_external_id(&t, "shop", "42").unwrap(),
        None
    );
    assert_eq!(store.interaction(&t, bought.id).unwrap(), None);
    assert_eq!(store.interaction(&t, todo.id).unwrap(), None);
    assert!(
        store
            .timeline(&t, ada.id, &PageRequest::first(10))
            .unwrap()
            .items
            .is_empty()
    );
    let due = store
        .due_tasks(&t, Timestamp::from_secs(T0 + DAY), &PageRequest::first(10))
        .unwrap();
    assert_eq!(due.items, vec![kept_task]);
    assert_eq!(store.deal(&t, deal.id).unwrap(), None);
    let deals = store
        .deals(&t, pipeline.id, None, &PageRequest::first(10))
        .unwrap();
    assert_eq!(deals.items, vec![kept_deal]);
    assert_eq!(store.pipeline_report(&t, pipeline.id).unwrap().deals, 1);
    for filter in [
        CustomerFilter::All,
        CustomerFilter::Tag(tag("vip")),
        CustomerFilter::Owner(ann.clone()),
        CustomerFilter::Lifecycle(LifecycleStage::Customer),
        CustomerFilter::Organization(org.id),
        CustomerFilter::NamePrefix("ada".into()),
        CustomerFilter::EmailPrefix("".into()),
    ] {
        let found = all_pages(10, |p| store.customers(&t, &filter, p));
        assert!(!ids(&found).contains(&ada.id), "{filter:?} still lists her");
        assert!(
            ids(&found).contains(&keeper.id),
            "{filter:?} lost the other customer"
        );
    }

    let events = store.events(&t, seq, 100).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, EventKind::CustomerErased);
    assert_eq!(events[0].entity, EntityRef::Customer(ada.id));
    assert!(events[0].changed.is_empty());
    assert_eq!(store.check().unwrap(), vec![]);
    let stats = store.stats().unwrap();
    assert_eq!(
        (
            stats.tenants[0].customers,
            stats.tenants[0].interactions,
            stats.tenants[0].deals
        ),
        (2, 1, 1)
    );

    // Her order id is free again, and erasing twice is "not found".
    let (again, created) = store
        .log_interaction(
            &t,
            &actor(),
            InteractionInput {
                customer: keeper.id,
                ..purchase
            },
        )
        .unwrap();
    assert!(created && again.id != bought.id);
    let err = store.erase_customer(&t, &actor(), ada.id).unwrap_err();
    assert!(matches!(
        err,
        Error::NotFound {
            entity: "customer",
            ..
        }
    ));
    assert_eq!(store.check().unwrap(), vec![]);
}

fn erasing_an_organization_unlinks_its_members(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let org = create(
        &*store,
        &t,
        CustomerInput {
            kind: CustomerKind::Organization,
            name: Some("Initech".into()),
            ..Default::default()
        },
    );
    let member = |e: &str| CustomerInput {
        organization: Some(org.id),
        ..person(e)
    };
    let peter = create(&*store, &t, member("peter@initech.example"));
    let milton = create(&*store, &t, member("milton@initech.example"));
    let members = all_pages(1, |p| {
        store.customers(&t, &CustomerFilter::Organization(org.id), p)
    });
    assert_eq!(ids(&members), vec![peter.id, milton.id]);
    let seq = store.last_seq(&t).unwrap();

    store.erase_customer(&t, &actor(), org.id).unwrap();

    for before in [peter, milton] {
        let after = store.customer(&t, before.id).unwrap().unwrap();
        assert_eq!(after.organization, None);
        assert_eq!(after.version, before.version + 1);
        assert_eq!(after.email, before.email);
    }
    let members = store
        .customers(
            &t,
            &CustomerFilter::Organization(org.id),
            &PageRequest::first(10),
        )
        .unwrap();
    assert!(members.items.is_empty());
    let events = store.events(&t, seq, 10).unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventKind::CustomerErased]
    );
    assert_eq!(store.check().unwrap(), vec![]);
    // A new member of the erased organization is refused.
    let err = store
        .create_customer(&t, &actor(), member("bob@initech.example"))
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err:?}");
}

fn due_tasks_are_ordered_cut_at_until_and_leave_when_closed(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let ada = create(&*store, &t, person("ada@example.com"));
    let log = |input: InteractionInput| store.log_interaction(&t, &actor(), input).unwrap().0;
    let at3 = log(task(ada.id, T0 + 3 * HOUR));
    let at1 = log(task(ada.id, T0 + HOUR));
    let at2 = log(task(ada.id, T0 + 2 * HOUR));
    let ticket_at2 = log(InteractionInput {
        kind: InteractionKind::Ticket,
        ..task(ada.id, T0 + 2 * HOUR)
    });
    let _no_due = log(InteractionInput::new(
        ada.id,
        Channel::Phone,
        InteractionKind::Task,
    ));
    let note = log(InteractionInput::new(
        ada.id,
        Channel::Phone,
        InteractionKind::Note,
    ));
    let _done = log(InteractionInput {
        status: Some(TaskStatus::Resolved),
        ..task(ada.id, T0)
    });
    let due = |until: i64, limit: usize| {
        let until = Timestamp::from_secs(until);
        all_pages(limit, |p| store.due_tasks(&t, until, p))
            .into_iter()
            .map(|i| i.id)
            .collect::<Vec<_>>()
    };
    let mut same_time = [at2.id, ticket_at2.id];
    same_time.sort();
    let want = [vec![at1.id], same_time.to_vec(), vec![at3.id]].concat();
    assert_eq!(due(T0 + DAY, 1), want);
    assert_eq!(due(T0 + DAY, 10), want);
    // `until` is inclusive, and nothing after it leaks onto a further page.
    assert_eq!(due(T0 + 2 * HOUR, 1), want[..3].to_vec());
    let page = store
        .due_tasks(
            &t,
            Timestamp::from_secs(T0 + 2 * HOUR),
            &PageRequest::first(3),
        )
        .unwrap();
    assert_eq!(page.items.len(), 3);
    assert_eq!(page.next, None, "a page at the cutoff promises no more");
    assert_eq!(due(T0 + HOUR - 1, 1), Vec::new());
    // Regression: a cursor from a later `until`, passed back with an earlier one, is an empty
    // last page (the scan's start lay past its end).
    let late = store
        .due_tasks(&t, Timestamp::from_secs(T0 + DAY), &PageRequest::first(3))
        .unwrap()
        .next
        .unwrap();
    let early = store
        .due_tasks(
            &t,
            Timestamp::from_secs(T0 + HOUR),
            &PageRequest::after(3, late),
        )
        .unwrap();
    assert_eq!((early.items.len(), early.next), (0, None));

    let set = |id, status| {
        store
            .write(&t, &actor(), vec![Op::SetInteractionStatus { id, status }])
            .unwrap()
    };
    set(at1.id, TaskStatus::Resolved);
    set(at2.id, TaskStatus::InProgress);
    set(at3.id, TaskStatus::Closed);
    assert_eq!(due(T0 + DAY, 2), same_time.to_vec());
    set(at3.id, TaskStatus::Open);
    assert_eq!(
        due(T0 + DAY, 2),
        [same_time.to_vec(), vec![at3.id]].concat()
    );
    let err = store
        .write(
            &t,
            &actor(),
            vec![Op::SetInteractionStatus {
                id: note.id,
                status: TaskStatus::Resolved,
            }],
        )
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)));
    assert_eq!(store.check().unwrap(), vec![]);
}

/// Items that existed when paging started are each seen exactly once, whatever is inserted
/// between pages (before or after the cursor).
fn pagination_is_stable_under_concurrent_inserts(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let named = |name: String| CustomerInput {
        name: Some(name),
        tags: vec!["vip".into()],
        ..Default::default()
    };
    let initial: Vec<Customer> = (0..20)
        .map(|i| create(&*store, &t, named(format!("m{:02}", i * 2))))
        .collect();
    let ada = initial[0].id;
    let first_calls: Vec<_> = (0..10)
        .map(|i| {
            let input = InteractionInput {
                occurred_at: Some(Timestamp::from_secs(T0 + i * 10)),
                ..InteractionInput::new(ada, Channel::Phone, InteractionKind::Call)
            };
            store.log_interaction(&t, &actor(), input).unwrap().0.id
        })
        .collect();

    for filter in [
        CustomerFilter::NamePrefix("m".into()),
        CustomerFilter::Tag(tag("vip")),
    ] {
        let mut seen = Vec::new();
        let mut request = PageRequest::first(3);
        for round in 0.. {
            let page = store.customers(&t, &filter, &request).unwrap();
            seen.extend(ids(&page.items));
            let Some(next) = page.next else { break };
            // Names sorting before the cursor, just after it and at the end; only for a few
            // rounds, so that paging ends.
            let names = [
                format!("m{round:02}a"),
                format!("m{:02}b", round * 3),
                format!("z{round}"),
            ];
            for name in names.into_iter().filter(|_| round < 4) {
                create(&*store, &t, named(name));
            }
            request = PageRequest::after(3, next);
        }
        for c in &initial {
            assert_eq!(
                seen.iter().filter(|id| **id == c.id).count(),
                1,
                "{filter:?}"
            );
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{filter:?} repeated an item");
    }

    // A timeline (newest first) while newer and older calls arrive.
    let mut seen = Vec::new();
    let mut request = PageRequest::first(4);
    for round in 0.. {
        let page = store.timeline(&t, ada, &request).unwrap();
        seen.extend(page.items.iter().map(|i| i.id));
        let Some(next) = page.next else { break };
        let times = [T0 + 1_000 + round, T0 + 45, T0 - 1_000 - round];
        for when in times.into_iter().filter(|_| round < 4) {
            let input = InteractionInput {
                occurred_at: Some(Timestamp::from_secs(when)),
                ..InteractionInput::new(ada, Channel::Phone, InteractionKind::Call)
            };
            store.log_interaction(&t, &actor(), input).unwrap();
        }
        request = PageRequest::after(4, next);
    }
    for id in &first_calls {
        assert_eq!(seen.iter().filter(|x| *x == id).count(), 1);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len());
}

fn cursor_from_another_query_or_tenant_or_forged_is_a_bad_cursor(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let a = tenant(&*store, "alpha");
    let b = tenant(&*store, "beta");
    let mut a_ids = Vec::new();
    for t in [&a, &b] {
        let vip = super::backend::user(&*store, t, "vip");
        for i in 0..4 {
            let c = create(
                &*store,
                t,
                CustomerInput {
                    name: Some(format!("vip {i}")),
                    tags: vec!["vip".into()],
                    owner: Some(vip.clone()),
                    ..Default::default()
                },
            );
            store
                .log_interaction(t, &actor(), task(c.id, T0 + i))
                .unwrap();
            store
                .log_interaction(t, &actor(), task(c.id, T0 + i + 1))
                .unwrap();
            if t == &a {
                a_ids.push(c.id);
            }
        }
    }
    let next = |page: Page<Customer>| page.next.expect("a second page");
    let by_tag = CustomerFilter::Tag(tag("vip"));
    let cursor = next(
        store
            .customers(&a, &by_tag, &PageRequest::first(2))
            .unwrap(),
    );
    let after = PageRequest::after(2, cursor.clone());
    // It works where it came from...
    assert_eq!(store.customers(&a, &by_tag, &after).unwrap().items.len(), 2);
    // ...and nowhere else.
    let bad = |r: kith_store::Result<Page<Customer>>| matches!(r, Err(Error::BadCursor));
    assert!(
        bad(store.customers(&b, &by_tag, &after)),
        "another tenant's cursor"
    );
    assert!(
        bad(store.customers(&a, &CustomerFilter::Owner("vip".into()), &after)),
        "another filter's"
    );
    assert!(bad(store.customers(
        &a,
        &CustomerFilter::Tag(tag("new")),
        &after
    )));
    let all = next(
        store
            .customers(&a, &CustomerFilter::All, &PageRequest::first(2))
            .unwrap(),
    );
    assert!(bad(store.customers(
        &a,
        &CustomerFilter::Lifecycle(LifecycleStage::Lead),
        &PageRequest::after(2, all.clone())
    )));
    assert!(matches!(
        store.due_tasks(
            &a,
            Timestamp::from_secs(T0 + DAY),
            &PageRequest::after(2, all.clone())
        ),
        Err(Error::BadCursor)
    ));
    assert!(matches!(
        store.pipelines(&a, &PageRequest::after(2, all)),
        Err(Error::BadCursor)
    ));
    let timeline = store
        .timeline(&a, a_ids[0], &PageRequest::first(1))
        .unwrap()
        .next
        .unwrap();
    assert!(bad(store.customers(
        &a,
        &CustomerFilter::Organization(a_ids[0]),
        &PageRequest::after(2, timeline.clone())
    )));
    assert!(matches!(
        store.timeline(&a, a_ids[1], &PageRequest::after(2, timeline)),
        Err(Error::BadCursor)
    ));
    let by_name = next(
        store
            .customers(
                &a,
                &CustomerFilter::NamePrefix("vip".into()),
                &PageRequest::first(1),
            )
            .unwrap(),
    );
    assert!(bad(store.customers(
        &a,
        &CustomerFilter::NamePrefix("v".into()),
        &PageRequest::after(2, by_name)
    )));
    for forged in [
        "",
        "!!not base64!!",
        "AAAA",
        cursor.as_str().get(..4).unwrap(),
    ] {
        let request = PageRequest::after(2, Cursor::from_string(forged.into()));
        assert!(bad(store.customers(&a, &by_tag, &request)), "{forged:?}");
    }
}

fn unknown_tenant_is_an_error_for_reads_and_writes(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let ghost: TenantSlug = "nope".parse().unwrap();
    assert_eq!(store.tenant(&ghost).unwrap(), None);
    let is_unknown = |e: Error| {
        matches!(&e, Error::TenantNotFound(s) if s == "nope") && e.code() == "tenant_not_found"
    };
    assert!(is_unknown(
        store
            .create_customer(&ghost, &actor(), person("a@example.com"))
            .unwrap_err()
    ));
    assert!(is_unknown(
        store.write_each(&ghost, &actor(), vec![]).unwrap_err()
    ));
    assert!(is_unknown(
        store.customer(&ghost, CustomerId::generate()).unwrap_err()
    ));
    assert!(is_unknown(
        store
            .customers(&ghost, &CustomerFilter::All, &PageRequest::first(5))
            .unwrap_err()
    ));
    assert!(is_unknown(store.events(&ghost, 0, 5).unwrap_err()));
    assert!(is_unknown(store.last_seq(&ghost).unwrap_err()));
    let again = TenantInput {
        slug: "acme".into(),
        name: None,
        industry: None,
    };
    assert!(
        matches!(store.create_tenant(again, &actor()), Err(Error::TenantExists(s)) if s == "acme")
    );
    assert_eq!(store.tenants().unwrap().len(), 1);
    assert_eq!(store.last_seq(&t).unwrap(), 1);
}

#[test]
fn a_file_from_a_newer_kith_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    set_schema_version(dir.path(), SCHEMA_VERSION + 1);
    let err = RedbStore::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("newer") && msg.contains("upgrade"), "{msg}");
    assert!(msg.contains(&(SCHEMA_VERSION + 1).to_string()), "{msg}");
}

#[test]
fn a_file_from_an_older_unmigratable_kith_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let t = tenant(&store, "acme");
        create(&store, &t, person("ada@example.com"));
    }
    // Version 1 is migrated (see `a_version_1_file_gets_users_for_its_free_text_owners`);
    // nothing older was ever written.
    set_schema_version(dir.path(), 0);
    let err = RedbStore::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooOld { found, supported } if found == 0 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    assert_eq!(err.code(), "schema_too_old");
    // Nothing was rewritten: restoring the version gives the data back.
    set_schema_version(dir.path(), SCHEMA_VERSION);
    let store = open(dir.path());
    let t: TenantSlug = "acme".parse().unwrap();
    assert!(
        store
            .customer_by_email(&t, &email("ada@example.com"))
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_second_open_of_the_same_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let first = open(dir.path());
    let err = RedbStore::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Locked(d) if d.contains(&*dir.path().to_string_lossy())),
        "{err:?}"
    );
    assert_eq!(err.code(), "locked");
    drop(first);
    open(dir.path());
}

#[test]
fn check_reports_tampered_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let ada = {
        let store = open(dir.path());
        let t = tenant(&store, "acme");
        let ada = create(
            &store,
            &t,
            CustomerInput {
                phone: Some("+442079460000".into()),
                ..person("ada@example.com")
            },
        );
        assert_eq!(store.check().unwrap(), vec![]);
        ada
    };
    let tenant_key = |rest: &[u8]| [1u32.to_be_bytes().as_slice(), rest].concat();
    {
        let db = raw_db(dir.path());
        let txn = db.begin_write().unwrap();
        {
            // Point her email at someone else, drop her phone, invent a tag.
            let mut emails = txn.open_table(IDX_EMAIL).unwrap();
            let key = tenant_key(b"ada@example.com");
            assert!(emails.get(key.as_slice()).unwrap().is_some());
            emails.insert(key.as_slice(), [7u8; 16].as_slice()).unwrap();
            let mut phones = txn.open_table(IDX_PHONE).unwrap();
            assert!(
                phones
                    .remove(tenant_key(b"+442079460000").as_slice())
                    .unwrap()
                    .is_some()
            );
            let mut tags = txn.open_table(IDX_TAG).unwrap();
            let stray = [tenant_key(b"ghost\0").as_slice(), &ada.id.to_bytes()].concat();
            tags.insert(stray.as_slice(), [].as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = open(dir.path());
    let problems = store.check().unwrap();
    assert!(problems.iter().all(|p| p.tenant == "acme"), "{problems:?}");
    let has = |s: &str| problems.iter().any(|p| p.problem.contains(s));
    assert!(has("idx_email: stray or stale entry"), "{problems:?}");
    assert!(has("idx_email: missing entry"), "{problems:?}");
    assert!(has("idx_phone: missing entry"), "{problems:?}");
    assert!(has("idx_tag: stray or stale entry"), "{problems:?}");
    assert_eq!(problems.len(), 4, "{problems:?}");
}

#[test]
fn check_verifies_the_custom_field_index() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let t = tenant(&store, "acme");
        let define = Op::SetField {
            object: FieldObject::Customer,
            key: "score".into(),
            input: serde_json::from_value(serde_json::json!({
                "label": "Score", "type": "number", "sortable": true
            }))
            .unwrap(),
            expected_version: None,
        };
        store.write(&t, &actor(), vec![define]).unwrap();
        for (i, e) in ["a@example.com", "b@example.com"].into_iter().enumerate() {
            let mut input = person(e);
            input
                .attributes
                .insert("score".into(), AttributeValue::Number(i as f64));
            create(&store, &t, input);
        }
        assert_eq!(store.check().unwrap(), vec![]);
    }
    {
        // Drop one entry.
        let db = raw_db(dir.path());
        let txn = db.begin_write().unwrap();
        {
            let mut index = txn.open_table(IDX_FIELD).unwrap();
            let first = index
                .first()
                .unwrap()
                .map(|(k, _)| k.value().to_vec())
                .unwrap();
            index.remove(first.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let problems = open(dir.path()).check().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].problem.contains("idx_field: missing entry"),
        "{problems:?}"
    );
}

#[test]
fn check_reports_a_gap_in_the_event_log() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        let t = tenant(&store, "acme");
        for e in ["a@example.com", "b@example.com"] {
            create(&store, &t, person(e));
        }
        assert_eq!(store.last_seq(&t).unwrap(), 3);
    }
    {
        let db = raw_db(dir.path());
        let txn = db.begin_write().unwrap();
        let key = [1u32.to_be_bytes().as_slice(), 2u64.to_be_bytes().as_slice()].concat();
        assert!(
            txn.open_table(EVENTS)
                .unwrap()
                .remove(key.as_slice())
                .unwrap()
                .is_some()
        );
        txn.commit().unwrap();
    }
    let store = open(dir.path());
    let problems = store.check().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].tenant, "acme");
    assert!(
        problems[0].problem.contains("expected sequence 2, found 3"),
        "{problems:?}"
    );
}

#[test]
fn backup_while_eight_threads_write_is_a_consistent_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let t = tenant(&*store, "acme");
    let (started, progress) = mpsc::channel();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (store, t, started) = (store.clone(), t.clone(), started.clone());
            std::thread::spawn(move || {
                for i in 0..60 {
                    // A customer and their first call in one atomic write.
                    let c = create(&*store, &t, person(&format!("w{w}-{i}@example.com")));
                    let call = InteractionInput::new(c.id, Channel::Phone, InteractionKind::Call);
                    store.log_interaction(&t, &actor(), call).unwrap();
                    if i == 10 {
                        started.send(()).unwrap();
                    }
                }
            })
        })
        .collect();
    for _ in 0..8 {
        progress.recv().unwrap();
    }
    let backup = dir.path().join("backup.redb");
    store.backup(&backup).unwrap();
    for w in writers {
        w.join().unwrap();
    }
    assert!(
        store.backup(&backup).is_err(),
        "a backup never overwrites a file"
    );

    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&backup, restored.path().join("kith.redb")).unwrap();
    let copy = open(restored.path());
    assert_eq!(copy.check().unwrap(), vec![]);
    let events = all_events(&copy, &t);
    assert_gap_free(&events);
    assert_eq!(copy.last_seq(&t).unwrap(), events.len() as u64);
    let stats = copy.stats().unwrap();
    let s = &stats.tenants[0];
    assert!(s.customers >= 80, "the backup was taken after 88 writes");
    let created = events
        .iter()
        .filter(|e| e.kind == EventKind::CustomerCreated)
        .count();
    let logged = events
        .iter()
        .filter(|e| e.kind == EventKind::InteractionLogged)
        .count();
    assert_eq!(
        (s.customers, s.interactions),
        (created as u64, logged as u64)
    );
    // Everything in the copy is what the live store has.
    for c in all_pages(100, |p| copy.customers(&t, &CustomerFilter::All, p)) {
        assert_eq!(store.customer(&t, c.id).unwrap(), Some(c));
    }
    assert_eq!(all_events(&*store, &t)[..events.len()], events[..]);
}

fn concurrent_writers_every_write_is_kept_and_the_log_stays_gap_free(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let (store, t) = (store.clone(), t.clone());
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| create(&*store, &t, person(&format!("w{w}-{i}@example.com"))))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let written: Vec<Customer> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    for c in &written {
        assert_eq!(store.customer(&t, c.id).unwrap().as_ref(), Some(c));
    }
    assert_eq!(store.stats().unwrap().tenants[0].customers, 1_600);
    let events = all_events(&*store, &t);
    assert_eq!(events.len(), 1_601);
    assert_gap_free(&events);
    assert_eq!(store.check().unwrap(), vec![]);
}

/// Writers racing to create one address in different cases: exactly one wins, every other is
/// refused as a duplicate (on PostgreSQL, where writers run in parallel transactions, the lock
/// per identity is what makes the second see the first).
fn racing_writers_of_one_email_in_different_cases_create_one_customer(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let spellings = [
        "ada@example.com",
        "ADA@example.com",
        "Ada@example.com",
        "aDa@example.com",
    ];
    for round in 0..5 {
        let start = Arc::new(Barrier::new(spellings.len() * 2));
        let writers: Vec<_> = spellings
            .iter()
            .chain(spellings.iter())
            .map(|e| {
                let (store, t, start) = (store.clone(), t.clone(), start.clone());
                let email = e.replace("@", &format!("{round}@"));
                std::thread::spawn(move || {
                    start.wait();
                    store.create_customer(&t, &actor(), person(&email))
                })
            })
            .collect();
        let results: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        let created = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(created, 1, "round {round}: {results:?}");
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(r, Error::Duplicate { field: "email", .. }),
                "{r:?}"
            );
        }
    }
    assert_eq!(store.stats().unwrap().tenants[0].customers, 5);
    assert_eq!(store.check().unwrap(), vec![]);
}

fn reopening_after_drop_keeps_everything(kind: Kind) {
    let fx = Fixture::new(kind);
    let (t, customers, events, report, pipeline) = {
        let store = fx.open();
        let t = tenant(&*store, "acme");
        tenant(&*store, "other");
        let ada = create(&*store, &t, person("ada@example.com"));
        create(&*store, &t, person("bob@example.com"));
        store
            .log_interaction(&t, &actor(), task(ada.id, T0))
            .unwrap();
        let pipeline = store
            .create_pipeline(
                &t,
                &actor(),
                PipelineInput {
                    lost_reasons: Vec::new(),
                    name: "Sales".into(),
                    stages: ["a", "b"]
                        .map(|n| StageInput {
                            name: n.into(),
                            probability: 50,
                            category: StageCategory::Open,
                        })
                        .to_vec(),
                },
            )
            .unwrap();
        let deal = store
            .create_deal(
                &t,
                &actor(),
                DealInput {
                    attributes: Default::default(),
                    customer: ada.id,
                    pipeline: pipeline.id,
                    stage: None,
                    title: "deal".into(),
                    amount: Money::new(5_000, usd()),
                    expected_close: None,
                    owner: None,
                },
            )
            .unwrap();
        store
            .move_deal(&t, &actor(), deal.id, pipeline.stages[1].id, None)
            .unwrap();
        let customers = all_pages(10, |p| store.customers(&t, &CustomerFilter::All, p));
        let report = store.pipeline_report(&t, pipeline.id).unwrap();
        let events = all_events(&*store, &t);
        (t, customers, events, report, pipeline.id)
    };
    let store = fx.open();
    assert_eq!(store.tenants().unwrap().len(), 2);
    assert_eq!(
        all_pages(10, |p| store.customers(&t, &CustomerFilter::All, p)),
        customers
    );
    assert_eq!(all_events(&*store, &t), events);
    assert_eq!(store.pipeline_report(&t, pipeline).unwrap(), report);
    let due = store
        .due_tasks(&t, Timestamp::from_secs(T0), &PageRequest::first(10))
        .unwrap();
    assert_eq!(due.items.len(), 1);
    // The log continues where it stopped.
    create(&*store, &t, person("carol@example.com"));
    let after = all_events(&*store, &t);
    assert_eq!(after.len(), events.len() + 1);
    assert_gap_free(&after);
    assert_eq!(store.check().unwrap(), vec![]);
}

/// A custom field defined while writers store values it refuses: every refused value that was
/// stored is visible to a read made right after the definition's commit (the data check a
/// definition change runs), and none is stored after it. On PostgreSQL, where writers run in
/// parallel transactions, the definitions' advisory lock is what holds them to that.
fn a_field_defined_under_concurrent_writes_misses_no_stored_value(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    for round in 0..4 {
        let key = format!("tier{round}");
        let start = Arc::new(Barrier::new(5));
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (store, t, start, key) = (store.clone(), t.clone(), start.clone(), key.clone());
                std::thread::spawn(move || {
                    start.wait();
                    let mut bad = Vec::new();
                    for i in 0..30 {
                        let mut input = person(&format!("w{w}i{i}r{round}@example.com"));
                        input
                            .attributes
                            .insert(key.clone(), AttributeValue::Text("bronze".into()));
                        match store.create_customer(&t, &actor(), input) {
                            Ok(c) => bad.push(c.id),
                            Err(Error::Invalid(_)) => {}
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    bad
                })
            })
            .collect();
        start.wait();
        let define = Op::SetField {
            object: FieldObject::Customer,
            key: key.clone(),
            input: serde_json::from_value(serde_json::json!({
                "label": "Tier", "type": "select", "options": ["gold"]
            }))
            .unwrap(),
            expected_version: None,
        };
        store.write(&t, &actor(), vec![define]).unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut page = PageRequest::first(1000);
        loop {
            let p = store.customers(&t, &CustomerFilter::All, &page).unwrap();
            seen.extend(p.items.iter().map(|c| c.id));
            match p.next {
                Some(c) => page = PageRequest::after(1000, c),
                None => break,
            }
        }
        for w in writers {
            for id in w.join().unwrap() {
                assert!(
                    seen.contains(&id),
                    "round {round}: {id} was stored with a refused value after the definition"
                );
            }
        }
    }
}

/// Writers racing to store one value of a unique custom field: exactly one wins, every other is
/// refused as a duplicate (on PostgreSQL, the lock per field and value makes the second see
/// the first).
fn racing_writers_of_one_unique_field_value_store_it_once(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let define = Op::SetField {
        object: FieldObject::Customer,
        key: "code".into(),
        input: serde_json::from_value(serde_json::json!({
            "label": "Code", "type": "text", "unique": true
        }))
        .unwrap(),
        expected_version: None,
    };
    store.write(&t, &actor(), vec![define]).unwrap();
    for round in 0..5 {
        let start = Arc::new(Barrier::new(8));
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (store, t, start) = (store.clone(), t.clone(), start.clone());
                std::thread::spawn(move || {
                    let mut input = person(&format!("w{w}r{round}@example.com"));
                    let code = AttributeValue::Text(format!("C{round}"));
                    input.attributes.insert("code".into(), code);
                    start.wait();
                    store.create_customer(&t, &actor(), input)
                })
            })
            .collect();
        let results: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {results:?}"
        );
        for r in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(
                    r,
                    Error::Duplicate {
                        field: "attributes",
                        ..
                    }
                ),
                "{r:?}"
            );
        }
    }
    assert_eq!(store.stats().unwrap().tenants[0].customers, 5);
    assert_eq!(
        store.check().unwrap(),
        vec![],
        "the field index matches the records"
    );
}

/// Organizations' memberships, read a slice at a time: in organization then member order,
/// after an organization, at most `limit`.
fn organization_members_are_read_in_order_a_slice_at_a_time(kind: Kind) {
    let fx = Fixture::new(kind);
    let store = fx.open();
    let t = tenant(&*store, "acme");
    let other = tenant(&*store, "other");
    let org = |store: &dyn Store, t: &TenantSlug, name: &str| {
        let input = CustomerInput {
            kind: CustomerKind::Organization,
            name: Some(name.into()),
            ..CustomerInput::default()
        };
        create(store, t, input).id
    };
    let mut orgs: Vec<CustomerId> = (0..3).map(|i| org(&*store, &t, &format!("O{i}"))).collect();
    orgs.sort();
    let mut expected = Vec::new();
    for (i, o) in orgs.iter().enumerate() {
        for m in 0..=i {
            let input = CustomerInput {
                organization: Some(*o),
                ..person(&format!("m{m}o{i}@example.com"))
            };
            expected.push((*o, create(&*store, &t, input).id));
        }
    }
    expected.sort();
    // Another tenant's memberships are not read.
    let theirs = org(&*store, &other, "Theirs");
    let input = CustomerInput {
        organization: Some(theirs),
        ..person("x@example.com")
    };
    create(&*store, &other, input);
    assert_eq!(store.organization_members(&t, None, 100).unwrap(), expected);
    assert_eq!(
        store.organization_members(&t, None, 4).unwrap(),
        expected[..4]
    );
    assert_eq!(
        store.organization_members(&t, Some(orgs[0]), 100).unwrap(),
        expected[1..]
    );
    assert_eq!(
        store.organization_members(&t, Some(orgs[2]), 100).unwrap(),
        vec![]
    );
}

on_both_backends! {
    pipeline_report_matches_the_sales_training_funnel,
    stale_version_update_is_a_conflict_and_writes_nothing,
    duplicate_email_phone_or_external_id_names_the_holder_and_writes_nothing,
    email_identity_ignores_case_and_likeness_finds_probable_duplicates,
    emails_stored_before_identity_are_indexed_on_upgrade,
    write_each_applies_the_good_ops_and_reports_the_bad,
    interaction_with_a_known_external_id_is_stored_once_with_one_event,
    erasure_removes_customer_interactions_deals_and_index_entries_leaving_one_event,
    erasing_an_organization_unlinks_its_members,
    due_tasks_are_ordered_cut_at_until_and_leave_when_closed,
    pagination_is_stable_under_concurrent_inserts,
    cursor_from_another_query_or_tenant_or_forged_is_a_bad_cursor,
    unknown_tenant_is_an_error_for_reads_and_writes,
    concurrent_writers_every_write_is_kept_and_the_log_stays_gap_free,
    racing_writers_of_one_email_in_different_cases_create_one_customer,
    a_field_defined_under_concurrent_writes_misses_no_stored_value,
    racing_writers_of_one_unique_field_value_store_it_once,
    organization_members_are_read_in_order_a_slice_at_a_time,
    reopening_after_drop_keeps_everything,
}
