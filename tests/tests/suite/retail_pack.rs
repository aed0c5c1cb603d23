//! The retail pack (kith.clv, kith.churn-risk, kith.rfm-segments, kith.value-tiers) through
//! the plugin runtime, validated on the CDNOW sample against an independent implementation;
//! and kith.clv once through the whole platform: store, population step, rescore job, stored
//! scores.
//!
//! Reference figures come from `tests/data/cdnow/reference.py` run with Python 3.11.7,
//! lifetimes 0.11.3, pandas 3.1.1, numpy 2.4.6 and scipy 1.17.1: the parameters and
//! totals below are copied from what it printed (`tests/data/cdnow/reference.txt`), the
//! per-customer figures are read from the CSV it wrote (`reference_customers.csv`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kith::model::{
    Actor, Channel, CustomerId, CustomerInput, ExternalId, InteractionInput, InteractionKind,
    LifecycleStage, Money, TenantInput, TenantSlug, Timestamp,
};
use kith::plugin::{CustomerView, Limits, Outcome, PluginErrorKind, PluginFailure};
use kith::service::plugins::{EnableRequest, HostConfig, JobState, PluginHost};
use kith::store::{Op, Output, PluginStore, RedbStore, Store, StoreConfig};
use kith_plugin_clv::Model;
use kith_tests::plugins;

use kith_tests::cdnow::*;

/// One row of `reference_customers.csv`.
#[derive(Debug)]
struct Reference {
    customer: String,
    holdout: u64,
    p_alive: f64,
    expected_purchases: f64,
    expected_value: f64,
}

fn reference() -> Vec<Reference> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/cdnow/reference_customers.csv"
    ))
    .expect("reference_customers.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let cols = [
        col("customer"),
        col("holdout"),
        col("p_alive"),
        col("expected_purchases"),
        col("expected_value"),
    ];
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            Reference {
                customer: f[cols[0]].to_owned(),
                holdout: f[cols[1]].parse().expect("holdout"),
                p_alive: f[cols[2]].parse().expect("p_alive"),
                expected_purchases: f[cols[3]].parse().expect("expected_purchases"),
                expected_value: f[cols[4]].parse().expect("expected_value"),
            }
        })
        .collect()
}

/// The first number in a reason message after `prefix`.
fn number_after(message: &str, prefix: &str) -> f64 {
    let rest = message
        .split_once(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} not in {message:?}"))
        .1;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|e| panic!("{message:?}: {e}"))
}

/// The holdout period, weeks 40-78: 273 days = 39 weeks.
const CLV_HOLDOUT: &str = r#"{"currency":"USD","time_unit":"weeks","horizon_days":273}"#;

/// [`CLV_HOLDOUT`] for the host, whose "now" is the wall clock: fit and forecast as of the
/// calibration end.
const CLV_BACKTEST: &str =
    r#"{"currency":"USD","time_unit":"weeks","horizon_days":273,"as_of":"1997-09-30T00:00:00Z"}"#;

/// BG/NBD and Gamma-Gamma parameters printed by reference.py (lifetimes 0.11.3, tol 1e-8).
const REFERENCE_PARAMS: [(&str, f64); 7] = [
    ("r", 0.242_594_522_7),
    ("alpha", 4.413_602_061),
    ("a", 0.792_922_024_9),
    ("b", 2.425_906_719),
    ("p", 9.881_286_289),
    ("q", 3.398_757_526),
    ("gamma", 7.928_569_16),
];

/// Checks a CLV model fitted on the sample's calibration period against [`REFERENCE_PARAMS`]
/// and returns its parameters in that order.
fn assert_fit_matches_reference(m: &Model) -> [f64; 7] {
    assert_eq!(m.now, calibration_end(), "fitted as of the calibration end");
    let fitted = [
        m.bgnbd.r,
        m.bgnbd.alpha,
        m.bgnbd.a,
        m.bgnbd.b,
        m.spend.p,
        m.spend.q,
        m.spend.gamma,
    ];
    // Tolerance: 0.1 % relative (the brief allows 1 %); both optimisers stop far tighter.
    for ((name, want), got) in REFERENCE_PARAMS.iter().zip(fitted) {
        assert!((got / want - 1.0).abs() < 1e-3, "{name}: {got} vs {want}");
    }
    fitted
}

/// `forecast_weeks_40_78` and `actual_weeks_40_78` printed by reference.py.
const REFERENCE_FORECAST: f64 = 1_653.408_683;
const REFERENCE_ACTUAL: u64 = 1_882;

#[test]
fn clv_fitted_in_the_sandbox_on_cdnow_matches_lifetimes() {
    let customers = sample();
    assert_eq!(customers.len(), 2357);
    let reference = reference();
    let actual: u64 = customers.iter().map(|c| c.holdout).sum();
    assert_eq!(
        actual, REFERENCE_ACTUAL,
        "the preparation matches reference.py's"
    );

    let rt = runtime();
    let clv = load(&rt, plugins::CLV);
    assert_eq!(clv.manifest().id, "kith.clv");
    let (model, report) = rt.populate(
        &clv,
        &population(&customers, CLV_HOLDOUT),
        &Limits::population(),
    );
    let bytes = model.expect("populate").expect("a model");
    assert_eq!(report.outcome, Outcome::Ok);
    let m = Model::decode(&bytes).expect("decode");
    let fitted = assert_fit_matches_reference(&m);
    eprintln!(
        "CDNOW sample fit in the sandbox: {} fuel, {:?}, peak memory {} bytes; r={:.6} alpha={:.6} a={:.6} b={:.6} p={:.6} q={:.6} gamma={:.6}",
        report.fuel_used,
        report.wall_time,
        report.peak_memory_bytes,
        fitted[0],
        fitted[1],
        fitted[2],
        fitted[3],
        fitted[4],
        fitted[5],
        fitted[6]
    );

    let (mut forecast, mut max_diff, mut max_p_diff) = (0.0, 0.0f64, 0.0f64);
    for (c, want) in customers.iter().zip(&reference) {
        assert_eq!(c.id, want.customer);
        assert_eq!(c.holdout, want.holdout, "{}", c.id);
        let (output, report) = rt.score(
            &clv,
            &call(c.view(), CLV_HOLDOUT, Some(bytes.clone())),
            &Limits::default(),
        );
        let output = output.unwrap_or_else(|e| panic!("{}: {e}", c.id));
        assert_eq!(report.outcome, Outcome::Ok);
        let codes: Vec<&str> = output.reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["p-alive", "expected-purchases", "expected-value"]);
        let p_alive = number_after(&output.reasons[0].message, "P(alive) ");
        let purchases = number_after(&output.reasons[1].message, "");
        max_p_diff = max_p_diff.max((p_alive - want.p_alive).abs());
        max_diff = max_diff.max((purchases - want.expected_purchases).abs());
        forecast += purchases;
        assert!(
            (output.score - want.expected_value).abs() <= 1e-3 * want.expected_value.max(1.0),
            "{}: value {} vs {}",
            c.id,
            output.score,
            want.expected_value
        );
        assert!(matches!(
            output.grade.as_deref(),
            Some("A" | "B" | "C" | "D" | "E")
        ));
    }
    // Messages round to 4 decimals, so 1e-3 leaves room for the 1e-4 rounding only.
    assert!(
        max_diff < 1e-3,
        "max per-customer expected-purchases difference {max_diff}"
    );
    assert!(
        max_p_diff < 1e-3,
        "max per-customer P(alive) difference {max_p_diff}"
    );
    let relative = forecast / REFERENCE_FORECAST - 1.0;
    assert!(
        relative.abs() < 0.01,
        "forecast {forecast} vs reference {REFERENCE_FORECAST}"
    );
    eprintln!(
        "weeks 40-78: Kith forecast {forecast:.1} purchase occasions, lifetimes {REFERENCE_FORECAST:.1} \
         ({:+.4} %), actual {actual}; max per-customer difference {max_diff:.2e}",
        relative * 100.0
    );
}

fn plugin_error_kind<T: std::fmt::Debug>(result: Result<T, PluginFailure>) -> PluginErrorKind {
    match result {
        Err(PluginFailure::PluginError { kind, .. }) => kind,
        other => panic!("expected the plugin's own error, got {other:?}"),
    }
}

#[test]
fn clv_bad_config_corrupt_model_and_degenerate_data_are_plugin_errors_not_traps() {
    let rt = runtime();
    let clv = load(&rt, plugins::CLV);
    let customers = sample();
    let buyer = customers[0].view();

    let (result, report) = rt.populate(
        &clv,
        &population(&customers, r#"{"horizon_days":0}"#),
        &Limits::population(),
    );
    assert_eq!(plugin_error_kind(result), PluginErrorKind::InvalidConfig);
    assert_eq!(report.outcome, Outcome::Failed("plugin-error"));

    let (result, _) = rt.score(
        &clv,
        &call(buyer.clone(), CLV_HOLDOUT, Some(vec![1, 2, 3])),
        &Limits::default(),
    );
    assert_eq!(plugin_error_kind(result), PluginErrorKind::InvalidInput);
    let (result, _) = rt.score(
        &clv,
        &call(buyer.clone(), CLV_HOLDOUT, None),
        &Limits::default(),
    );
    assert_eq!(plugin_error_kind(result), PluginErrorKind::InvalidInput);

    // Everyone bought once: BG/NBD has no maximum, which must be an error, not NaN or a trap.
    let one_timers: Vec<CdnowCustomer> = customers
        .iter()
        .map(|c| CdnowCustomer {
            count: 1,
            last: c.first,
            ..c.clone()
        })
        .collect();
    let (result, _) = rt.populate(
        &clv,
        &population(&one_timers, CLV_HOLDOUT),
        &Limits::population(),
    );
    assert_eq!(plugin_error_kind(result), PluginErrorKind::InvalidInput);

    let (empty, _) = rt.populate(&clv, &population(&[], CLV_HOLDOUT), &Limits::population());
    assert_eq!(empty.expect("empty population"), None);
    let (none, _) = rt.score(
        &clv,
        &call(view("new", Vec::new()), CLV_HOLDOUT, None),
        &Limits::default(),
    );
    let none = none.expect("a customer without purchases");
    assert_eq!((none.score, none.grade.as_deref()), (0.0, Some("none")));
}

#[test]
fn churn_risk_segments_follow_the_reference_p_alive() {
    let rt = runtime();
    let churn = load(&rt, plugins::CHURN_RISK);
    let customers = sample();
    let reference = reference();
    let (model, report) = rt.populate(&churn, &population(&customers, "{}"), &Limits::population());
    let model = model.expect("populate").expect("a model");
    assert_eq!(report.outcome, Outcome::Ok);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (c, want) in customers.iter().zip(&reference) {
        let (result, _) = rt.classify(
            &churn,
            &call(c.view(), "{}", Some(model.clone())),
            &Limits::default(),
        );
        let memberships = result.unwrap_or_else(|e| panic!("{}: {e}", c.id));
        assert_eq!(memberships.len(), 1, "{}", c.id);
        let segment = memberships[0].segment.as_str();
        let expected = if c.count == 1 {
            "one-time"
        } else if want.p_alive < 0.3 {
            "high-risk"
        } else if want.p_alive < 0.7 {
            "medium-risk"
        } else {
            "low-risk"
        };
        let near_threshold = [0.3, 0.7].iter().any(|t| (want.p_alive - t).abs() < 1e-4);
        assert!(
            segment == expected || near_threshold,
            "{}: {segment} vs {want:?}",
            c.id
        );
        *counts.entry(segment.to_owned()).or_default() += 1;
    }
    assert_eq!(counts["one-time"], 2357 - 946);
    assert!(
        counts.len() == 4,
        "every segment is used on CDNOW: {counts:?}"
    );
}

#[test]
fn rfm_segments_put_every_cdnow_buyer_in_exactly_one_grid_segment() {
    let rt = runtime();
    let rfm = load(&rt, plugins::RFM_SEGMENTS);
    assert_eq!(rfm.manifest().segments.len(), 11);
    let customers = sample();
    let (model, _) = rt.populate(&rfm, &population(&customers, "{}"), &Limits::population());
    let model = model.expect("populate").expect("a model");
    let segment = |c: CustomerView| {
        let (result, _) = rt.classify(
            &rfm,
            &call(c, "{}", Some(model.clone())),
            &Limits::default(),
        );
        let mut m = result.expect("classify");
        assert!(m.len() <= 1);
        m.pop()
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for c in customers.iter().step_by(7) {
        let m = segment(c.view()).expect("a buyer has a segment");
        assert!(m.reason.starts_with("R "), "{}", m.reason);
        *seen.entry(m.segment).or_default() += 1;
    }
    assert!(seen.len() >= 5, "{seen:?}");
    let end = calibration_end();
    let champion = CdnowCustomer {
        id: "best".into(),
        count: 30,
        cents: 100_000,
        first: end - 200 * DAY,
        last: end - DAY,
        ..CdnowCustomer::default()
    };
    assert_eq!(
        segment(champion.view()).expect("segment").segment,
        "champions"
    );
    let lost = CdnowCustomer {
        id: "gone".into(),
        count: 1,
        cents: 1_000,
        first: end - 270 * DAY,
        last: end - 270 * DAY,
        ..CdnowCustomer::default()
    };
    assert_eq!(segment(lost.view()).expect("segment").segment, "lost");
    assert_eq!(segment(view("none", Vec::new())), None);
}

#[test]
fn value_tiers_percentiles_make_a_pyramid_of_cdnow_spend_and_thresholds_still_work() {
    let rt = runtime();
    let tiers = load(&rt, plugins::VALUE_TIERS);
    let customers = sample();
    let config = r#"{"mode":"percentiles"}"#;
    let (model, _) = rt.populate(
        &tiers,
        &population(&customers, config),
        &Limits::population(),
    );
    let model = model.expect("populate").expect("a model");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for c in &customers {
        let (result, _) = rt.classify(
            &tiers,
            &call(c.view(), config, Some(model.clone())),
            &Limits::default(),
        );
        if let Some(m) = result.expect("classify").pop() {
            *counts.entry(m.segment).or_default() += 1;
        }
    }
    let buyers = customers.iter().filter(|c| c.cents > 0).count();
    assert_eq!(counts.values().sum::<usize>(), buyers);
    // Top 1 % / 5 % / 20 % by rank, ties at a cut point going up a tier.
    let at_least = |share: f64| (buyers as f64 * share / 100.0).ceil() as usize;
    assert!(
        counts["vip"] >= at_least(1.0) && counts["vip"] < at_least(1.0) + 5,
        "{counts:?}"
    );
    assert!(
        counts["vip"] + counts["gold"] >= at_least(5.0),
        "{counts:?}"
    );
    assert!(
        counts["vip"] + counts["gold"] + counts["silver"] >= at_least(20.0),
        "{counts:?}"
    );
    assert!(counts["bronze"] > buyers / 2, "{counts:?}");

    // The old threshold configuration needs no model and keeps its meaning.
    let thresholds = r#"{"currency":"USD","vip":100000,"gold":50000,"silver":10000,"bronze":1}"#;
    let (none, _) = rt.populate(
        &tiers,
        &population(&customers, thresholds),
        &Limits::population(),
    );
    assert_eq!(none.expect("populate"), None);
    let rich = CdnowCustomer {
        id: "rich".into(),
        count: 3,
        cents: 60_000,
        first: 0,
        last: DAY,
        ..CdnowCustomer::default()
    };
    let (gold, _) = rt.classify(
        &tiers,
        &call(rich.view(), thresholds, None),
        &Limits::default(),
    );
    assert_eq!(gold.expect("classify")[0].segment, "gold");
}

/// Writes the calibration period of the CDNOW sample into a tenant the way an import would:
/// one customer per CDNOW id, one purchase interaction per customer per day. Returns the
/// store's id of each CDNOW id.
fn import_calibration(store: &RedbStore, tenant: &TenantSlug) -> BTreeMap<String, CustomerId> {
    let actor = Actor::new("cdnow-import");
    let days = occasions(SAMPLE);
    let mut ids: Vec<String> = days.keys().map(|(id, _)| id.clone()).collect();
    ids.dedup();
    let creates = ids
        .iter()
        .map(|id| {
            Op::CreateCustomer(CustomerInput {
                name: Some(format!("CDNOW {id}")),
                external_ids: vec![ExternalId {
                    source: "cdnow".into(),
                    id: id.clone(),
                }],
                lifecycle: Some(LifecycleStage::Customer),
                ..CustomerInput::default()
            })
        })
        .collect();
    let outputs = store.write(tenant, &actor, creates).expect("customers");
    let customers: BTreeMap<String, CustomerId> = ids
        .into_iter()
        .zip(outputs)
        .map(|(id, output)| match output {
            Output::Customer(c) => (id, c.id),
            other => panic!("{id}: {other:?}"),
        })
        .collect();
    let purchases: Vec<Op> = days
        .iter()
        .filter(|((_, at), _)| *at <= calibration_end())
        .map(|((id, at), cents)| {
            let mut input =
                InteractionInput::new(customers[id], Channel::ECommerce, InteractionKind::Purchase);
            input.occurred_at = Some(Timestamp::from_micros(*at));
            input.amount = Some(Money::new(*cents, usd()));
            input.source = Some("cdnow".into());
            input.external_id = Some(format!("{id}-{}", at / DAY));
            Op::LogInteraction(input)
        })
        .collect();
    for chunk in purchases.chunks(1_000) {
        store
            .write(tenant, &actor, chunk.to_vec())
            .expect("purchases");
    }
    customers
}

#[test]
fn clv_through_the_store_population_step_and_rescore_job_matches_lifetimes_on_cdnow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(RedbStore::open(dir.path(), StoreConfig::default()).expect("store"));
    let tenant = TenantSlug::parse("cdnow").expect("slug");
    store
        .create_tenant(
            TenantInput {
                slug: "cdnow".into(),
                name: None,
                industry: Some("retail".into()),
            },
            &Actor::new("test"),
        )
        .expect("tenant");
    let customers = import_calibration(&store, &tenant);
    assert_eq!(customers.len(), 2357);

    let host = PluginHost::open(
        store.clone(),
        HostConfig::with_cache(dir.path().join("plugin-cache")),
    )
    .expect("host");
    let wasm = std::fs::read(plugins::CLV).expect("clv component");
    let installed = host.install(&wasm).expect("install").plugin;
    let config: serde_json::Value = serde_json::from_str(CLV_BACKTEST).expect("config");
    let wait = Duration::from_secs(300);
    let done = |job: u64| {
        let job = host
            .wait_for_job(&tenant, job, wait)
            .expect("the job exists");
        assert_eq!(job.state, JobState::Done, "{job:?}");
        assert_eq!((job.done, job.failed), (2357, 0), "{job:?}");
    };
    // Enabling a scorer starts rescoring the existing customers, population step first.
    let first = host
        .enable(&tenant, EnableRequest::new("kith.clv", config))
        .expect("enable")
        .expect("a rescore job");
    done(first);
    let first_model = store
        .plugin_model(&tenant, "kith.clv")
        .expect("model")
        .expect("the rescore job stored the population step's model");

    // Then the two steps an operator runs after new data: the population step, a rescore.
    let stored = host.populate(&tenant, "kith.clv").expect("population step");
    assert!(stored.computed_at >= first_model.computed_at);
    assert_eq!(stored.customers, 2357);
    assert_eq!(stored.producer.hash, installed.hash);
    done(host.start_rescore(&tenant, "kith.clv").expect("rescore"));
    let head = store.last_seq(&tenant).expect("last seq");

    let model = store
        .plugin_model(&tenant, "kith.clv")
        .expect("model")
        .expect("a model");
    assert_eq!(
        model, stored,
        "the rescore used the stored model, not a new fit"
    );
    let m = Model::decode(model.bytes.as_deref().expect("bytes")).expect("decode");
    assert_fit_matches_reference(&m);
    assert_eq!((m.buyers, m.spenders), (2357, 2349));

    let (mut forecast, mut max_diff) = (0.0, 0.0f64);
    let holdout: BTreeMap<String, u64> = sample().into_iter().map(|c| (c.id, c.holdout)).collect();
    for want in reference() {
        let id = customers[&want.customer];
        let scores = store.scores(&tenant, id).expect("scores");
        assert_eq!(scores.len(), 1, "{}: one score per scorer", want.customer);
        let score = store
            .score(&tenant, id, "kith.clv")
            .expect("score")
            .unwrap_or_else(|| panic!("{} has no stored score", want.customer));
        assert_eq!(score, scores[0]);
        assert_eq!(score.producer.hash, installed.hash);
        assert!(score.as_of <= head, "{}", want.customer);
        let codes: Vec<&str> = score.reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["p-alive", "expected-purchases", "expected-value"]);
        let purchases = number_after(&score.reasons[1].message, "");
        max_diff = max_diff.max((purchases - want.expected_purchases).abs());
        forecast += purchases;
        assert!(
            (score.score - want.expected_value).abs() <= 1e-3 * want.expected_value.max(1.0),
            "{}: value {} vs {}",
            want.customer,
            score.score,
            want.expected_value
        );
        assert_eq!(holdout[&want.customer], want.holdout);
    }
    // Messages round to 4 decimals, as in the runtime test.
    assert!(
        max_diff < 1e-3,
        "max per-customer expected-purchases difference {max_diff}"
    );
    let relative = forecast / REFERENCE_FORECAST - 1.0;
    assert!(
        relative.abs() < 0.01,
        "forecast {forecast} vs lifetimes {REFERENCE_FORECAST}"
    );
    let actual: u64 = holdout.values().sum();
    assert_eq!(
        actual, REFERENCE_ACTUAL,
        "one occasion per customer per day"
    );
    eprintln!(
        "weeks 40-78 through store, population step and rescore: Kith forecast {forecast:.3} \
         purchase occasions, lifetimes {REFERENCE_FORECAST:.3} ({:+.4} %), actual {actual}; \
         max per-customer difference {max_diff:.2e}",
        relative * 100.0
    );
}
