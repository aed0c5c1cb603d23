//! Native tests through the SDK harness, including the CDNOW fast path.

use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};
use kith_plugin_sdk::time::{MICROS_PER_DAY, from_ymd_hms};
use kith_plugin_sdk::{CustomerView, PluginError, Timestamp};

use super::*;

/// The CDNOW sample and the per-customer reference of `tests/data/cdnow/reference.py`.
const SAMPLE: &str = include_str!("../../../tests/data/cdnow/CDNOW_sample.txt");
const REFERENCE: &str = include_str!("../../../tests/data/cdnow/reference_customers.csv");

/// 1997-09-30T00:00Z, the end of the 39-week calibration period.
fn calibration_end() -> Timestamp {
    from_ymd_hms(1997, 9, 30, 0, 0, 0).unwrap()
}

fn date(yyyymmdd: &str) -> Timestamp {
    let n = |r: std::ops::Range<usize>| yyyymmdd[r].parse::<u32>().unwrap();
    from_ymd_hms(n(0..4) as i32, n(4..6), n(6..8), 0, 0, 0).unwrap()
}

/// Calibration-period customers of the sample: one purchase interaction per
/// customer per day (same-day rows summed), amounts in cents.
fn cdnow_customers() -> Vec<CustomerView> {
    let mut days: BTreeMap<(String, Timestamp), i64> = BTreeMap::new();
    for line in SAMPLE.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let at = date(f[2]);
        if at <= calibration_end() {
            let cents = Money::from_decimal(f[4], "USD").unwrap().amount;
            *days.entry((f[0].to_owned(), at)).or_default() += cents;
        }
    }
    let mut customers: BTreeMap<String, kith_plugin_sdk::testing::CustomerBuilder> =
        BTreeMap::new();
    for ((id, at), cents) in days {
        let c = customers
            .remove(&id)
            .unwrap_or_else(|| customer(id.clone()));
        customers.insert(id, c.purchase(at, cents, "USD"));
    }
    customers.into_values().map(|c| c.build()).collect()
}

/// One row of `reference_customers.csv`.
struct Expected {
    id: String,
    p_alive: f64,
    purchases: f64,
    value: f64,
}

fn reference() -> Vec<Expected> {
    let mut lines = REFERENCE.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (id, p, e, v) = (
        col("customer"),
        col("p_alive"),
        col("expected_purchases"),
        col("expected_value"),
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Expected {
                id: f[id].to_owned(),
                p_alive: f[p].parse().unwrap(),
                purchases: f[e].parse().unwrap(),
                value: f[v].parse().unwrap(),
            }
        })
        .collect()
}

/// Horizon of the holdout period, weeks 40-78: 273 days.
const HOLDOUT: &str = r#"{"currency":"USD","time_unit":"weeks","horizon_days":273}"#;

#[test]
fn manifest_declares_a_population_step() {
    let m = assert_manifest_valid::<Clv>();
    assert_eq!(m.id, "kith.clv");
    assert!(m.needs.population);
}

#[test]
fn cdnow_fit_and_forecast_match_the_lifetimes_reference() {
    let customers = cdnow_customers();
    assert_eq!(customers.len(), 2357);
    let h = Harness::<Clv>::new(HOLDOUT).now(calibration_end());
    let bytes = h.populate(customers.clone()).unwrap();
    let model = Model::decode(&bytes).unwrap();
    // tests/data/cdnow/reference.txt (lifetimes 0.11.3, tol 1e-8).
    let bg = model.bgnbd;
    let gg = model.spend;
    for (got, want) in [
        (bg.r, 0.242_594_522_7),
        (bg.alpha, 4.413_602_061),
        (bg.a, 0.792_922_024_9),
        (bg.b, 2.425_906_719),
        (gg.p, 9.881_286_289),
        (gg.q, 3.398_757_526),
        (gg.gamma, 7.928_569_16),
    ] {
        assert!(
            (got / want - 1.0).abs() < 1e-3,
            "{got} vs {want}: {model:?}"
        );
    }
    assert_eq!((model.buyers, model.spenders), (2357, 2349));

    let config = h.config().unwrap();
    let reference = reference();
    let (mut forecast, mut max_diff) = (0.0, 0.0f64);
    let h = h.model(Some(bytes));
    for (view, want) in customers.iter().zip(&reference) {
        assert_eq!(view.id, want.id);
        let history =
            History::from_aggregates(&view.aggregates, "USD", TimeUnit::Weeks, calibration_end())
                .unwrap();
        let f = figures(&config, &model, &history).unwrap();
        assert!(
            (f.p_alive - want.p_alive).abs() < 1e-4,
            "{}: {f:?}",
            want.id
        );
        assert!(
            (f.expected_value - want.value).abs() < 1e-3 * want.value.max(1.0),
            "{}: {f:?}",
            want.id
        );
        max_diff = max_diff.max((f.expected_purchases - want.purchases).abs());
        forecast += f.expected_purchases;
        if view.id.ends_with('7') {
            assert_eq!(h.score(view.clone()).unwrap().score, f.expected_value);
        }
    }
    assert!(max_diff < 1e-3, "max per-customer difference {max_diff}");
    // forecast_weeks_40_78 in reference.txt.
    assert!((forecast / 1_653.408_683 - 1.0).abs() < 1e-3, "{forecast}");
}

/// The first 400 customers of the CDNOW sample: real, heterogeneous buyers.
fn buyers() -> Vec<CustomerView> {
    cdnow_customers().into_iter().take(400).collect()
}

fn usd() -> Harness<Clv> {
    Harness::<Clv>::new(r#"{"currency":"USD"}"#).now(calibration_end())
}

#[test]
fn scores_carry_the_three_figures_and_a_band() {
    let h = usd().with_population(buyers()).unwrap();
    let output = h.score(buyers().remove(9)).unwrap();
    let codes: Vec<&str> = output.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["p-alive", "expected-purchases", "expected-value"]);
    assert!(output.score > 0.0);
    assert_eq!(output.reasons[2].contribution, output.score);
    assert!(
        output.reasons[2].message.contains("USD"),
        "{:?}",
        output.reasons[2]
    );
    let grade = output.grade.unwrap();
    assert!(["A", "B", "C", "D", "E"].contains(&grade.as_str()));
}

#[test]
fn discounting_lowers_the_value_but_not_the_expected_purchases() {
    let plain = usd()
        .with_population(buyers())
        .unwrap()
        .score(buyers().remove(9))
        .unwrap();
    let discounted = Harness::<Clv>::new(r#"{"currency":"USD","annual_discount_rate":0.2}"#)
        .now(calibration_end())
        .with_population(buyers())
        .unwrap()
        .score(buyers().remove(9))
        .unwrap();
    assert!(discounted.score < plain.score && discounted.score > 0.8 * plain.score);
    assert_eq!(plain.reasons[1].message, discounted.reasons[1].message);
}

#[test]
fn as_of_fits_and_scores_at_the_calibration_end_whatever_the_calls_now() {
    let backtest = r#"{"currency":"USD","as_of":"1997-09-30T00:00:00Z"}"#;
    let years_later = calibration_end() + 10_000 * MICROS_PER_DAY;
    let at_end = usd().with_population(buyers()).unwrap();
    let h = Harness::<Clv>::new(backtest)
        .now(years_later)
        .with_population(buyers())
        .unwrap();
    let model =
        Model::decode(h.customer_input(buyers().remove(0)).model.as_ref().unwrap()).unwrap();
    assert_eq!(model.now, calibration_end());
    let want = at_end.score(buyers().remove(9)).unwrap();
    let got = h.score(buyers().remove(9)).unwrap();
    assert_eq!((got.score, &got.reasons), (want.score, &want.reasons));

    // A model fitted with another as_of (or none) is stale.
    let stale = at_end
        .model(h.customer_input(buyers().remove(0)).model)
        .score(buyers().remove(9))
        .unwrap_err();
    assert!(matches!(stale, PluginError::InvalidInput(_)), "{stale:?}");

    // A purchase after as_of would be counted by the aggregate: refused, not silently used.
    let later = customer("late")
        .purchase(calibration_end() - MICROS_PER_DAY, 1_000, "USD")
        .purchase(calibration_end() + MICROS_PER_DAY, 1_000, "USD")
        .build();
    let err = h.score(later.clone()).unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidInput(m) if m.contains("after as_of")),
        "{err:?}"
    );
    let mut population = buyers();
    population.push(later);
    assert!(matches!(
        Harness::<Clv>::new(backtest).populate(population),
        Err(PluginError::InvalidInput(_))
    ));
}

#[test]
fn customers_without_purchases_score_zero_with_or_without_a_model() {
    let output = usd().score(customer("new").build()).unwrap();
    assert_eq!((output.score, output.grade.as_deref()), (0.0, Some("none")));
    let with_model = usd().with_population(buyers()).unwrap();
    assert_eq!(
        with_model.score(customer("new").build()).unwrap().score,
        0.0
    );
}

#[test]
fn empty_population_gives_no_model_and_buyers_then_need_one() {
    assert_eq!(
        usd().populate(Vec::<CustomerView>::new()).unwrap(),
        Vec::<u8>::new()
    );
    assert_eq!(
        usd().populate([customer("x").build()]).unwrap(),
        Vec::<u8>::new()
    );
    let err = usd().score(buyers().remove(3)).unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidInput(m) if m.contains("population step")),
        "{err:?}"
    );
}

#[test]
fn one_time_buyers_only_is_a_clear_error_not_nan() {
    let one_timers: Vec<CustomerView> = (0..30)
        .map(|k| {
            customer(format!("o{k}"))
                .purchase(k * MICROS_PER_DAY, 500 + k, "USD")
                .build()
        })
        .collect();
    let err = usd().populate(one_timers).unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidInput(m) if m.contains("repeat purchase")),
        "{err:?}"
    );
}

#[test]
fn no_spend_in_the_currency_is_a_clear_error() {
    let err = Harness::<Clv>::new(r#"{"currency":"JPY"}"#)
        .now(calibration_end())
        .populate(buyers())
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::InvalidInput(m) if m.contains("JPY")),
        "{err:?}"
    );
}

#[test]
fn bad_config_is_invalid_config() {
    for config in [
        r#"{"horizon_days":0}"#,
        r#"{"horizon_days":100000}"#,
        r#"{"annual_discount_rate":-0.1}"#,
        r#"{"currency":"usd"}"#,
        r#"{"time_unit":"fortnights"}"#,
        r#"{"horizon":365}"#,
        r#"{"horizon_days":"365"}"#,
        r#"{"as_of":"1997-09-30"}"#,
        r#"{"as_of":19970930}"#,
    ] {
        let h = Harness::<Clv>::new(config);
        assert!(
            matches!(
                h.score(buyers().remove(1)),
                Err(PluginError::InvalidConfig(_))
            ),
            "{config}"
        );
        assert!(
            matches!(h.populate(buyers()), Err(PluginError::InvalidConfig(_))),
            "{config}"
        );
    }
}

#[test]
fn corrupt_or_stale_models_are_invalid_input() {
    let err = usd()
        .model(Some(vec![1; 10]))
        .score(buyers().remove(2))
        .unwrap_err();
    assert!(matches!(err, PluginError::InvalidInput(_)));
    let model = usd().populate(buyers()).unwrap();
    let stale = Harness::<Clv>::new(r#"{"currency":"USD","horizon_days":30}"#)
        .model(Some(model))
        .score(buyers().remove(2))
        .unwrap_err();
    assert!(
        matches!(&stale, PluginError::InvalidInput(m) if m.contains("another configuration")),
        "{stale:?}"
    );
}
