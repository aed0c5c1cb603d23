//! Store benchmarks for the figures of the foundation issue, on a generated data set (fixed seed):
//! 100k customers with 2M interactions, a pipeline of 100k deals owned by 100 users, and 100k
//! work items (tasks, tickets, complaints) assigned to the same 100 users and some to nobody.
//!
//! Run: `cargo bench -p kith-store --bench store`. The data set is built once into
//! `target/bench-data/store-v3` and reused; delete that folder to rebuild it. Besides
//! criterion's figures, the queue and report benchmarks print their p50 and p99 over 2,000
//! calls (`p99 ...` lines on stderr).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kith_model::{
    Actor, Channel, CustomerId, CustomerInput, DealInput, Email, InteractionInput, InteractionKind,
    Money, PipelineId, PipelineInput, StageCategory, StageInput, TenantInput, TenantSlug,
    Timestamp,
};
use kith_store::{Op, Output, PageRequest, RedbStore, Store, StoreConfig};
use rand::{RngExt, SeedableRng, rngs::StdRng};

const CUSTOMERS: usize = 100_000;
const INTERACTIONS_PER_CUSTOMER: usize = 20;
const DEALS: usize = 100_000;
/// Users owning the deals, round robin: 1,000 deals each.
const OWNERS: usize = 100;
/// Work items, one per customer: 1 in 10 unassigned, the rest round robin over the owners.
const WORK_ITEMS: usize = 100_000;

struct Dataset {
    store: RedbStore,
    tenant: TenantSlug,
    ids: Vec<CustomerId>,
    emails: Vec<Email>,
    pipeline: PipelineId,
    owners: Vec<String>,
}

fn data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("bench-data/store-v3")
}

fn dataset() -> Dataset {
    let dir = data_dir();
    let complete = dir.join("complete");
    if !complete.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        build(&dir);
        std::fs::write(&complete, b"ok").expect("mark data set complete");
    }
    let store = RedbStore::open(&dir, StoreConfig::default()).expect("open bench store");
    let tenant = TenantSlug::parse("bench").expect("slug");
    let mut ids = Vec::with_capacity(CUSTOMERS);
    let mut emails = Vec::with_capacity(CUSTOMERS);
    let mut page = PageRequest::first(1000);
    loop {
        let p = store
            .customers(&tenant, &kith_store::CustomerFilter::All, &page)
            .expect("list");
        for c in &p.items {
            ids.push(c.id);
            emails.push(c.email.clone().expect("bench customers have emails"));
        }
        match p.next {
            Some(next) => page = PageRequest::after(1000, next),
            None => break,
        }
    }
    let pipeline = store
        .pipelines(&tenant, &PageRequest::first(1))
        .expect("pipelines")
        .items[0]
        .id;
    let owners = store
        .users(&tenant, &PageRequest::first(1000))
        .expect("users")
        .items
        .iter()
        .map(|u| u.id.to_string())
        .collect();
    Dataset {
        store,
        tenant,
        ids,
        emails,
        pipeline,
        owners,
    }
}

fn build(dir: &std::path::Path) {
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
    let mut rng = StdRng::seed_from_u64(42);
    let usd: kith_model::Currency = "USD".parse().expect("USD");
    let mut ids = Vec::with_capacity(CUSTOMERS);
    for chunk in (0..CUSTOMERS).collect::<Vec<_>>().chunks(5000) {
        let ops = chunk
            .iter()
            .map(|i| {
                Op::CreateCustomer(CustomerInput {
                    first_name: Some(format!("First{i}")),
                    last_name: Some(format!("Last{}", rng.random_range(0..5000))),
                    email: Some(format!("customer{i}@example.com")),
                    tags: vec![format!("tag{}", rng.random_range(0..20))],
                    ..CustomerInput::default()
                })
            })
            .collect();
        for r in store.write_each(&tenant, &actor, ops).expect("import") {
            if let Ok(Output::Customer(c)) = r {
                ids.push(c.id);
            }
        }
    }
    let base = Timestamp::from_secs(1_700_000_000);
    let all: Vec<(CustomerId, usize)> = ids
        .iter()
        .flat_map(|c| (0..INTERACTIONS_PER_CUSTOMER).map(move |k| (*c, k)))
        .collect();
    for chunk in all.chunks(10_000) {
        let ops = chunk
            .iter()
            .map(|(c, _)| {
                let kind = if rng.random_bool(0.3) {
                    InteractionKind::Purchase
                } else {
                    InteractionKind::Email
                };
                Op::LogInteraction(InteractionInput {
                    occurred_at: Some(base.plus_micros(rng.random_range(0..31_536_000_000_000))),
                    amount: (kind == InteractionKind::Purchase)
                        .then(|| Money::new(rng.random_range(100..50_000), usd)),
                    subject: Some("Hello".into()),
                    ..InteractionInput::new(*c, Channel::Email, kind)
                })
            })
            .collect();
        store
            .write_each(&tenant, &actor, ops)
            .expect("interactions");
    }
    let stage = |name: &str, probability: u8, category| StageInput {
        name: name.into(),
        probability,
        category,
    };
    let pipeline = store
        .create_pipeline(
            &tenant,
            &actor,
            PipelineInput {
                lost_reasons: Vec::new(),
                name: "Sales".into(),
                stages: vec![
                    stage("initial contact", 10, StageCategory::Open),
                    stage("intent reached", 30, StageCategory::Open),
                    stage("negotiation", 60, StageCategory::Open),
                    stage("contract signed", 100, StageCategory::Won),
                    stage("lost", 0, StageCategory::Lost),
                ],
            },
        )
        .expect("pipeline");
    let owners: Vec<String> = (0..OWNERS)
        .map(|i| {
            let input = kith_model::UserInput {
                name: format!("Seller {i}"),
                ..Default::default()
            };
            match store.write(&tenant, &actor, vec![Op::CreateUser(input)]) {
                Ok(mut o) => match o.pop() {
                    Some(Output::User(u)) => u.id.to_string(),
                    other => panic!("no user: {other:?}"),
                },
                Err(e) => panic!("user: {e}"),
            }
        })
        .collect();
    for chunk in (0..DEALS).collect::<Vec<_>>().chunks(5000) {
        let ops = chunk
            .iter()
            .map(|i| {
                Op::CreateDeal(DealInput {
                    attributes: Default::default(),
                    customer: ids[i % ids.len()],
                    pipeline: pipeline.id,
                    stage: None,
                    title: format!("Deal {i}"),
                    amount: Money::new(rng.random_range(10_000..10_000_000), usd),
                    expected_close: Some(kith_model::Date::from_days(
                        base.date().days() + rng.random_range(0..365),
                    )),
                    owner: Some(owners[i % OWNERS].clone()),
                })
            })
            .collect();
        let deals: Vec<_> = store
            .write_each(&tenant, &actor, ops)
            .expect("deals")
            .into_iter()
            .filter_map(|r| match r {
                Ok(Output::Deal(d)) => Some(d),
                _ => None,
            })
            .collect();
        let moves = deals
            .iter()
            .flat_map(|d| {
                let depth = rng.random_range(0..4usize);
                let lost = rng.random_bool(0.2);
                let mut at = base;
                let mut ops = Vec::new();
                for s in 1..=depth {
                    at = at.plus_micros(rng.random_range(86_400_000_000..(30 * 86_400_000_000)));
                    ops.push(Op::MoveDeal {
                        lost_reason: None,
                        id: d.id,
                        stage: pipeline.stages[s].id,
                        at: Some(at),
                        expected_version: None,
                    });
                }
                if lost && depth < 3 {
                    ops.push(Op::MoveDeal {
                        lost_reason: None,
                        id: d.id,
                        stage: pipeline.stages[4].id,
                        at: Some(at.plus_micros(86_400_000_000)),
                        expected_version: None,
                    });
                }
                ops
            })
            .collect();
        store.write_each(&tenant, &actor, moves).expect("moves");
    }
    let kinds = [
        InteractionKind::Task,
        InteractionKind::Ticket,
        InteractionKind::Complaint,
    ];
    let statuses = kith_model::TaskStatus::ALL;
    for chunk in (0..WORK_ITEMS).collect::<Vec<_>>().chunks(10_000) {
        let ops = chunk
            .iter()
            .map(|i| {
                let mut input = InteractionInput::new(
                    ids[i % ids.len()],
                    Channel::Email,
                    kinds[rng.random_range(0..kinds.len())],
                );
                input.occurred_at = Some(base.plus_micros(rng.random_range(0..31_536_000_000_000)));
                input.assignee = (i % 10 != 0).then(|| owners[i % OWNERS].clone());
                input.priority = Some(kith_model::Priority::ALL[rng.random_range(0..4)]);
                input.status = Some(statuses[rng.random_range(0..statuses.len())]);
                input.due_at = rng
                    .random_bool(0.8)
                    .then(|| base.plus_micros(rng.random_range(0..63_072_000_000_000)));
                input.category = Some(format!("category{}", rng.random_range(0..8)));
                Op::LogInteraction(input)
            })
            .collect();
        store.write_each(&tenant, &actor, ops).expect("work items");
    }
    eprintln!("built the bench data set in {:.1?}", started.elapsed());
}

fn reads(c: &mut Criterion) {
    let d = dataset();
    let mut rng = StdRng::seed_from_u64(7);
    let picks: Vec<usize> = (0..4096)
        .map(|_| rng.random_range(0..d.ids.len()))
        .collect();
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("customer_by_id", |b| {
        b.iter(|| {
            i = (i + 1) % picks.len();
            black_box(d.store.customer(&d.tenant, d.ids[picks[i]]).expect("get"))
        })
    });
    g.bench_function("customer_by_email", |b| {
        b.iter(|| {
            i = (i + 1) % picks.len();
            black_box(
                d.store
                    .customer_by_email(&d.tenant, &d.emails[picks[i]])
                    .expect("get"),
            )
        })
    });
    g.bench_function("timeline_page_50", |b| {
        b.iter(|| {
            i = (i + 1) % picks.len();
            black_box(
                d.store
                    .timeline(&d.tenant, d.ids[picks[i]], &PageRequest::first(50))
                    .expect("timeline"),
            )
        })
    });
    g.finish();
    let mut g = c.benchmark_group("report");
    g.sample_size(20);
    g.bench_function("pipeline_report_100k_deals", |b| {
        b.iter(|| {
            black_box(
                d.store
                    .pipeline_report(&d.tenant, d.pipeline)
                    .expect("report"),
            )
        })
    });
    // What `GET .../reports/sales?owner=...` does: the owner's 1,000 deals from the deal-owner
    // index, through the report builder, by month over a year.
    let pipeline = d
        .store
        .pipeline(&d.tenant, d.pipeline)
        .expect("pipeline")
        .expect("the bench pipeline");
    let from = Timestamp::from_secs(1_700_000_000).date();
    let to = kith_model::Date::from_days(from.days() + 365);
    let mut k = 0;
    g.sample_size(100);
    g.bench_function("owner_sales_report_1k_of_100k_deals", |b| {
        b.iter(|| {
            k = (k + 1) % d.owners.len();
            let owner = &d.owners[k];
            let mut report =
                kith_model::SalesReportBuilder::new(from, to, kith_model::Period::Month);
            let groups = [Some(owner.clone())];
            let mut page = PageRequest::first(1000);
            loop {
                let got = d
                    .store
                    .all_deals(&d.tenant, Some(owner), &page)
                    .expect("deals");
                for deal in &got.items {
                    report.add(deal, &pipeline, &groups);
                }
                match got.next {
                    Some(c) => page = PageRequest::after(1000, c),
                    None => break,
                }
            }
            black_box(report.finish())
        })
    });
    // A member's queue, as `GET .../work?assignee=me` reads it: the first page of 50 of one
    // user's open work (about 540 of the 100k items), by due date then priority.
    let queue = |owner: &str| kith_store::WorkQuery {
        assignees: kith_store::Assignees::Users(vec![owner.to_owned()]),
        ..kith_store::WorkQuery::open()
    };
    let mut k = 0;
    g.bench_function("member_work_queue_page_50_of_100k", |b| {
        b.iter(|| {
            k = (k + 1) % d.owners.len();
            black_box(
                d.store
                    .work(&d.tenant, &queue(&d.owners[k]), &PageRequest::first(50))
                    .expect("queue"),
            )
        })
    });
    // Everyone's open work, as a tenant key's `GET .../work` reads it.
    g.bench_function("tenant_work_queue_page_50_of_100k", |b| {
        b.iter(|| {
            black_box(
                d.store
                    .work(
                        &d.tenant,
                        &kith_store::WorkQuery::open(),
                        &PageRequest::first(50),
                    )
                    .expect("queue"),
            )
        })
    });
    g.finish();
    percentiles("member_work_queue_page_50_of_100k", 2000, |n| {
        let owner = &d.owners[n % d.owners.len()];
        black_box(
            d.store
                .work(&d.tenant, &queue(owner), &PageRequest::first(50))
                .expect("queue"),
        );
    });
    percentiles("owner_sales_report_1k_of_100k_deals", 2000, |n| {
        let owner = &d.owners[n % d.owners.len()];
        let mut report = kith_model::SalesReportBuilder::new(from, to, kith_model::Period::Month);
        let groups = [Some(owner.clone())];
        let mut page = PageRequest::first(1000);
        loop {
            let got = d
                .store
                .all_deals(&d.tenant, Some(owner), &page)
                .expect("deals");
            for deal in &got.items {
                report.add(deal, &pipeline, &groups);
            }
            match got.next {
                Some(c) => page = PageRequest::after(1000, c),
                None => break,
            }
        }
        black_box(report.finish());
    });
}

/// Prints the p50 and p99 of `n` calls of `f` (criterion reports means and medians only).
fn percentiles(name: &str, n: usize, mut f: impl FnMut(usize)) {
    let mut times: Vec<Duration> = (0..n)
        .map(|i| {
            let started = Instant::now();
            f(i);
            started.elapsed()
        })
        .collect();
    times.sort();
    eprintln!(
        "p99 {name}: p50 {:.2?}, p99 {:.2?}, max {:.2?} over {n} calls",
        times[n / 2],
        times[n * 99 / 100],
        times[n - 1]
    );
}

fn fresh_store() -> (tempfile::TempDir, Arc<RedbStore>, TenantSlug) {
    let dir = tempfile::tempdir_in(data_dir().parent().expect("bench-data dir")).expect("temp dir");
    let store = RedbStore::open(dir.path(), StoreConfig::default()).expect("open");
    let slug = store
        .create_tenant(
            TenantInput {
                slug: "w".into(),
                name: None,
                industry: None,
            },
            &Actor::new("bench"),
        )
        .expect("tenant")
        .slug;
    (dir, Arc::new(store), slug)
}

fn writes(c: &mut Criterion) {
    std::fs::create_dir_all(data_dir().parent().expect("parent")).expect("bench-data dir");
    let actor = Actor::new("bench");
    let mut g = c.benchmark_group("write");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(1));

    let (_dir, store, slug) = fresh_store();
    let mut n = 0u64;
    g.bench_function("durable_single_writer", |b| {
        b.iter(|| {
            n += 1;
            let input = CustomerInput {
                email: Some(format!("s{n}@example.com")),
                ..CustomerInput::default()
            };
            store.create_customer(&slug, &actor, input).expect("write")
        })
    });

    let (_dir, store, slug) = fresh_store();
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    g.bench_function("durable_32_writers", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(32);
            let started = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..32 {
                    let (store, slug, actor, counter) = (&store, &slug, &actor, &counter);
                    s.spawn(move || {
                        for _ in 0..per_thread {
                            let k = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let input = CustomerInput {
                                email: Some(format!("c{k}@example.com")),
                                ..CustomerInput::default()
                            };
                            store.create_customer(slug, actor, input).expect("write");
                        }
                    });
                }
            });
            started
                .elapsed()
                .mul_f64(iters as f64 / (per_thread * 32) as f64)
        })
    });
    let (commits, requests) = store.commit_counts();
    eprintln!(
        "32 writers: {requests} requests in {commits} commits ({:.1} per commit)",
        requests as f64 / commits.max(1) as f64
    );

    const BATCH: u64 = 5000;
    let (_dir, store, slug) = fresh_store();
    let mut n = 0u64;
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("bulk_import_5000_customers", |b| {
        b.iter(|| {
            let ops = (0..BATCH)
                .map(|_| {
                    n += 1;
                    Op::CreateCustomer(CustomerInput {
                        first_name: Some(format!("Bulk{n}")),
                        email: Some(format!("bulk{n}@example.com")),
                        tags: vec!["imported".into()],
                        ..CustomerInput::default()
                    })
                })
                .collect();
            store.write_each(&slug, &actor, ops).expect("import")
        })
    });
    g.finish();

    // The disk's own durability cost, to read the write figures against.
    let mut g = c.benchmark_group("fs");
    g.sample_size(20);
    let path = data_dir().parent().expect("parent").join("fsync-probe");
    let mut f = std::fs::File::create(&path).expect("probe file");
    let block = vec![7u8; 4096];
    g.bench_function("write_4k_and_fdatasync", |b| {
        b.iter(|| {
            use std::io::{Seek, Write};
            f.seek(std::io::SeekFrom::Start(0)).expect("seek");
            f.write_all(&block).expect("write");
            f.sync_data().expect("fdatasync");
        })
    });
    g.finish();
    let _ = std::fs::remove_file(path);
}

criterion_group!(benches, reads, writes);
criterion_main!(benches);
