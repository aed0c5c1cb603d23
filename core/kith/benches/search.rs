//! Customer search over one tenant of 1,000,000 customers (the embedded store), for the figures
//! of the search issue: an indexed filter under 50 ms p99 and a text query under 200 ms p99 per
//! page. Each case runs the service the HTTP routes call (`customers::search_where`,
//! `count_where`, the email lookup) and prints its p50 and p99 over `CALLS` calls, varying the
//! value looked for.
//!
//! Run: `cargo bench -p kith --bench search`. The data set (fixed seed) is built once into
//! `target/bench-data/search-v2-1000000` and reused; delete the folder to rebuild it. Each
//! customer has a sortable custom field `score` (kept in the field index), a select `region`
//! and, for 40%, a granted (email, marketing) consent record. `KITH_BENCH_CUSTOMERS=100000` builds a smaller one elsewhere for a quick look.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kith::model::{
    Actor, AttributeValue, ConsentChannel, CustomerInput, Email, FieldObject, LifecycleStage, Tag,
    TenantInput, TenantSlug,
};
use kith::service::access::Access;
use kith::service::customers::{self, AttributeMatch, AttributeOp, Condition, CustomerQuery};
use kith::store::{CustomerFilter, Op, PageRequest, RedbStore, Store, StoreConfig};
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// Calls per case.
const CALLS: usize = 300;
const TAGS: usize = 20;
const REGIONS: [&str; 4] = ["emea", "apac", "amer", "latam"];
const SURNAMES: &[&str] = &[
    "Smith", "Jones", "Garcia", "Müller", "Rossi", "Dubois", "Novak", "Kowalski", "Tanaka",
    "Silva", "Nguyen", "Okafor", "Hansen", "Lefèvre", "Costa", "Ivanova",
];

fn customers() -> usize {
    std::env::var("KITH_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn data_dir(n: usize) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join(format!("bench-data/search-v2-{n}"))
}

fn build(dir: &std::path::Path, n: usize) {
    let started = Instant::now();
    let store = RedbStore::open(dir, StoreConfig::default()).expect("create bench store");
    let actor = Actor::new("bench");
    let tenant = store
        .create_tenant(
            TenantInput {
                slug: "bench".into(),
                name: None,
                industry: None,
            },
            &actor,
        )
        .expect("tenant")
        .slug;
    let fields = [
        (
            "score",
            serde_json::json!({"label": "Score", "type": "number", "sortable": true}),
        ),
        (
            "region",
            serde_json::json!({"label": "Region", "type": "select", "options": REGIONS}),
        ),
    ];
    for (key, def) in fields {
        let op = Op::SetField {
            object: FieldObject::Customer,
            key: key.into(),
            input: serde_json::from_value(def).expect("definition"),
            expected_version: None,
        };
        store.write(&tenant, &actor, vec![op]).expect("define");
    }
    let mut rng = StdRng::seed_from_u64(7);
    let lifecycles = [
        "subscriber",
        "lead",
        "opportunity",
        "customer",
        "evangelist",
    ];
    for start in (0..n).step_by(10_000) {
        let ops = (start..(start + 10_000).min(n))
            .map(|i| {
                let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
                Op::CreateCustomer(CustomerInput {
                    first_name: Some(format!("First{i}")),
                    last_name: Some(format!("{surname}{}", rng.random_range(0..1000))),
                    email: Some(format!("person{i}@example{}.com", i % 50)),
                    tags: (0..rng.random_range(0..3))
                        .map(|_| format!("tag{}", rng.random_range(0..TAGS)))
                        .collect(),
                    lifecycle: Some(
                        LifecycleStage::parse(
                            "lifecycle",
                            lifecycles[rng.random_range(0..lifecycles.len())],
                        )
                        .expect("stage"),
                    ),
                    marketing_consent: rng.random_bool(0.4),
                    attributes: [
                        (
                            "score".to_owned(),
                            AttributeValue::Number(rng.random_range(0.0..1e6)),
                        ),
                        (
                            "region".to_owned(),
                            AttributeValue::Text(REGIONS[i % REGIONS.len()].into()),
                        ),
                    ]
                    .into(),
                    ..CustomerInput::default()
                })
            })
            .collect();
        for r in store.write_each(&tenant, &actor, ops).expect("write") {
            r.expect("a generated customer is valid");
        }
    }
    store.close();
    eprintln!("built {n} customers in {:.0?}", started.elapsed());
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Runs `call` CALLS times (with the call number) and prints p50 and p99.
fn case(name: &str, mut call: impl FnMut(usize) -> usize) {
    let mut times = Vec::with_capacity(CALLS);
    let mut found = 0usize;
    for i in 0..CALLS {
        let t = Instant::now();
        found += call(i);
        times.push(t.elapsed());
    }
    times.sort_unstable();
    println!(
        "{name:<58} p50 {:>8.2} ms  p99 {:>8.2} ms  ({:.1} found per call)",
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        found as f64 / CALLS as f64
    );
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` passes nothing to run.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = customers();
    let dir = data_dir(n);
    let complete = dir.join("complete");
    if !complete.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        build(&dir, n);
        std::fs::write(&complete, b"ok").expect("mark complete");
    }
    let store = RedbStore::open(&dir, StoreConfig::default()).expect("open bench store");
    let store: &dyn Store = &store;
    let tenant = TenantSlug::parse("bench").expect("slug");
    let all = Access::Full;
    let page = PageRequest::first(50);
    let tag = |i: usize| Tag::parse("tag", &format!("tag{}", i % TAGS)).expect("tag");
    let list = |f: CustomerFilter| CustomerQuery::List(f);
    let search = |q: &CustomerQuery, conditions: &[Condition]| {
        customers::search_where(store, &tenant, &all, q, conditions, &page)
            .expect("search")
            .items
            .len()
    };
    println!("{n} customers, first page of 50, {CALLS} calls per case");

    case("indexed: tag", |i| {
        search(&list(CustomerFilter::Tag(tag(i))), &[])
    });
    case("indexed: lifecycle", |i| {
        let l = ["lead", "customer", "evangelist"][i % 3];
        search(
            &list(CustomerFilter::Lifecycle(
                LifecycleStage::parse("lifecycle", l).expect("stage"),
            )),
            &[],
        )
    });
    case("indexed: name prefix (sorted by name)", |i| {
        let prefix = format!("first{}", i * 3217 % n);
        search(&list(CustomerFilter::NamePrefix(prefix)), &[])
    });
    case("indexed: email, in another case (identity lookup)", |i| {
        let email = Email::parse(
            "email",
            &format!("PERSON{}@example{}.com", i * 3217 % n, (i * 3217 % n) % 50),
        )
        .expect("email");
        search(&CustomerQuery::Email(email), &[])
    });
    case("combined: tag + lifecycle + consent", |i| {
        search(
            &list(CustomerFilter::Tag(tag(i))),
            &[
                Condition::Is(list(CustomerFilter::Lifecycle(
                    LifecycleStage::parse("lifecycle", "customer").expect("stage"),
                ))),
                Condition::Consent(true),
            ],
        )
    });
    case("consent: may be emailed for marketing (a record)", |_| {
        let c = Condition::MayContact(ConsentChannel::Email, "marketing".into());
        search(&list(CustomerFilter::All), &[c])
    });
    case("custom field: region = a value (checked on each)", |i| {
        let c = Condition::Attribute {
            key: "region".into(),
            op: AttributeOp::Eq,
            value: Some(AttributeMatch::Text(REGIONS[i % REGIONS.len()].into())),
        };
        search(&list(CustomerFilter::All), &[c])
    });
    // Cursors at 300 places in the score order (a page of 1,000 apart), read before timing.
    let by_score = list(CustomerFilter::Field("score".into()));
    let mut cursors = Vec::with_capacity(CALLS);
    let mut at = PageRequest::first(1000);
    while cursors.len() < CALLS {
        let p = customers::search_where(store, &tenant, &all, &by_score, &[], &at).expect("page");
        let Some(next) = p.next else { break };
        cursors.push(next.clone());
        at = PageRequest::after(1000, next);
    }
    case("custom field: sorted by score (its index), a page", |i| {
        let p = match cursors.get(i) {
            Some(c) => PageRequest::after(50, c.clone()),
            None => PageRequest::first(50),
        };
        customers::search_where(store, &tenant, &all, &by_score, &[], &p)
            .expect("sorted")
            .items
            .len()
    });
    case("custom field: sorted by score + tag condition", |i| {
        search(
            &list(CustomerFilter::Field("score".into())),
            &[Condition::Is(list(CustomerFilter::Tag(tag(i))))],
        )
    });
    case("OR groups: (tag a AND customer) OR tag b", |i| {
        search(
            &list(CustomerFilter::All),
            &[Condition::Any(vec![
                Condition::All(vec![
                    Condition::Is(list(CustomerFilter::Tag(tag(i)))),
                    Condition::Is(list(CustomerFilter::Lifecycle(
                        LifecycleStage::parse("lifecycle", "customer").expect("stage"),
                    ))),
                ]),
                Condition::Is(list(CustomerFilter::Tag(tag(i + 7)))),
            ])],
        )
    });
    case("text: q=a common surname", |i| {
        let q = Condition::text(SURNAMES[i % SURNAMES.len()]).expect("q");
        search(&list(CustomerFilter::All), &[q])
    });
    case("text: q=a rare name (reads the whole page budget)", |i| {
        let q = Condition::text(&format!("first{}x", i * 3217 % n)).expect("q");
        search(&list(CustomerFilter::All), &[q])
    });
    case("text: q=an accented surname, folded (lefevre)", |_| {
        let q = Condition::text("lefevre").expect("q");
        search(&list(CustomerFilter::All), &[q])
    });
    case("count: tag, total=true (reads at most 10,000)", |i| {
        let (count, _) = customers::count_where(
            store,
            &tenant,
            &all,
            &list(CustomerFilter::Tag(tag(i))),
            &[],
        )
        .expect("count");
        usize::try_from(count).unwrap_or(usize::MAX)
    });
}
