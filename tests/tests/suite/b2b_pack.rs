//! The B2B pack through the plugin runtime: `kith.lead-score`, `kith.lead-probability` and
//! `kith.demographic-segments` as components, and their quality measured on the generated data
//! set in `tests/data/b2b/` (see its README for the generative process and the ground truth).

#[path = "../../data/b2b/generator.rs"]
mod generator;

use std::collections::BTreeMap;
use std::path::PathBuf;

use kith::model::{
    AttributeValue, Channel, CustomerKind, Date, Direction, InteractionKind, LifecycleStage,
    Timestamp,
};
use kith::plugin::{
    Action, Capability, CustomerCall, CustomerRef, CustomerSummary, CustomerView,
    InteractionAggregate, InteractionView, Limits, LoadedPlugin, PluginErrorKind, PluginFailure,
    PopulationInput, Runtime, RuntimeConfig, ScoreOutput,
};
use kith_tests::plugins;

const DAY: i64 = 86_400_000_000;
/// The data set's "now": 2025-01-01T00:00:00Z.
const NOW: i64 = 20_089 * DAY;

/// Spearman correlation of the default lead score with latent quality must reach this.
const MIN_SPEARMAN: f64 = 0.78;
/// Share of the top-scored 10% whose latent quality is in the top quarter (base rate 0.25).
const MIN_TOP_DECILE_PRECISION: f64 = 0.85;
/// Held-out AUC of the naive Bayes win probability must reach this (0.5 is guessing).
const MIN_AUC: f64 = 0.70;

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

fn load(runtime: &Runtime, path: &str) -> LoadedPlugin {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    runtime
        .load(&bytes)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/b2b")
}

fn text(s: &str) -> AttributeValue {
    AttributeValue::Text(s.to_owned())
}

/// A customer id the host accepts in actions (a UUID), one per lead number.
fn uuid(n: usize) -> String {
    format!("01890000-0000-7000-8000-{n:012}")
}

/// One lead read back from `leads.csv`.
#[derive(Debug, Clone)]
struct Lead {
    number: usize,
    quality: f64,
    industry: Option<String>,
    employees: Option<f64>,
    country: Option<String>,
    job_title: Option<String>,
    outcome: Option<String>,
    interactions: Vec<InteractionView>,
}

fn field(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// The committed data set, parsed from its CSV files.
fn data_set() -> Vec<Lead> {
    let leads_csv = std::fs::read_to_string(data_dir().join("leads.csv")).expect("leads.csv");
    let mut lines = leads_csv.lines();
    assert_eq!(lines.next(), Some(generator::LEADS_HEADER));
    let mut leads: Vec<Lead> = lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 7, "{line}");
            Lead {
                number: f[0].trim_start_matches("lead-").parse().expect("id"),
                quality: f[1].parse().expect("quality"),
                industry: field(f[2]),
                employees: field(f[3]).map(|e| e.parse().expect("employees")),
                country: field(f[4]),
                job_title: field(f[5]),
                outcome: field(f[6]),
                interactions: Vec::new(),
            }
        })
        .collect();
    let touches_csv =
        std::fs::read_to_string(data_dir().join("interactions.csv")).expect("interactions.csv");
    let mut lines = touches_csv.lines();
    assert_eq!(lines.next(), Some(generator::TOUCHES_HEADER));
    for (row, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 6, "{line}");
        let number: usize = f[0].trim_start_matches("lead-").parse().expect("lead id");
        let kind = InteractionKind::parse("kind", f[1]).expect("kind");
        let days_ago: f64 = f[3].parse().expect("days_ago");
        let attributes = match field(f[4]) {
            Some(name) => BTreeMap::from([(name, text(f[5]))]),
            None => BTreeMap::new(),
        };
        leads[number - 1].interactions.push(InteractionView {
            id: format!("i{row}"),
            channel: match kind {
                InteractionKind::Email => Channel::Email,
                InteractionKind::Meeting => Channel::InPerson,
                _ => Channel::Web,
            },
            kind,
            direction: Direction::parse("direction", f[2]).expect("direction"),
            occurred_at: Timestamp::from_micros(NOW - (days_ago * DAY as f64) as i64),
            amount: None,
            rating: None,
            status: None,
            attributes,
        });
    }
    for lead in &mut leads {
        lead.interactions
            .sort_by_key(|i| std::cmp::Reverse(i.occurred_at));
    }
    leads
}

/// Totals per kind, as the host computes them.
fn aggregates(interactions: &[InteractionView]) -> Vec<InteractionAggregate> {
    let mut by_kind: BTreeMap<InteractionKind, InteractionAggregate> = BTreeMap::new();
    for i in interactions {
        let a = by_kind.entry(i.kind).or_insert(InteractionAggregate {
            kind: i.kind,
            count: 0,
            totals: Vec::new(),
            first_at: i.occurred_at,
            last_at: i.occurred_at,
            first_amount: None,
        });
        a.count += 1;
        a.first_at = a.first_at.min(i.occurred_at);
        a.last_at = a.last_at.max(i.occurred_at);
    }
    by_kind.into_values().collect()
}

/// The customer view of a lead; `with_outcome` decides whether `deal_outcome` is set.
fn view(lead: &Lead, stage: LifecycleStage, with_outcome: bool) -> CustomerView {
    let mut attributes = BTreeMap::new();
    if let Some(industry) = &lead.industry {
        attributes.insert("industry".to_owned(), text(industry));
    }
    if let Some(employees) = lead.employees {
        attributes.insert("employees".to_owned(), AttributeValue::Number(employees));
    }
    if let Some(title) = &lead.job_title {
        attributes.insert("job_title".to_owned(), text(title));
    }
    // Population summaries carry no profile fields, so the model reads country as an attribute.
    if let Some(country) = &lead.country {
        attributes.insert("country".to_owned(), text(country));
    }
    if let (Some(outcome), true) = (&lead.outcome, with_outcome) {
        attributes.insert("deal_outcome".to_owned(), text(outcome));
    }
    CustomerView {
        id: uuid(lead.number),
        kind: CustomerKind::Person,
        display_name: format!("Lead {}", lead.number),
        given_name: None,
        family_name: None,
        email: None,
        phone: None,
        country: lead.country.clone(),
        region: None,
        city: None,
        lifecycle_stage: stage,
        tags: Vec::new(),
        attributes,
        owner: None,
        marketing_consent: true,
        created_at: Timestamp::from_micros(NOW - 400 * DAY),
        aggregates: aggregates(&lead.interactions),
        recent_interactions: lead.interactions.clone(),
        open_deals: Vec::new(),
        closed_deals: Vec::new(),
    }
}

fn call(customer: CustomerView, config: &str, model: Option<Vec<u8>>) -> CustomerCall {
    CustomerCall {
        customer,
        config: config.to_owned(),
        now: Timestamp::from_micros(NOW),
        seed: 1,
        model,
    }
}

fn score(rt: &Runtime, plugin: &LoadedPlugin, call: &CustomerCall) -> ScoreOutput {
    let (result, _) = rt.score(plugin, call, &Limits::default());
    result.unwrap_or_else(|e| panic!("score {}: {e}", call.customer.id))
}

/// Ranks 1..n, ties sharing their average rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = average;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation (Pearson correlation of the ranks).
fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let (rx, ry) = (ranks(x), ranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

/// Area under the ROC curve: the chance a random positive outranks a random negative.
fn auc(scores: &[f64], positive: &[bool]) -> f64 {
    let r = ranks(scores);
    let n_pos = positive.iter().filter(|p| **p).count() as f64;
    let n_neg = positive.len() as f64 - n_pos;
    let rank_sum: f64 = r
        .iter()
        .zip(positive)
        .filter(|(_, p)| **p)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Share of the `top` highest `scores` whose `truth` is among the `truth_top` highest.
fn precision_at(scores: &[f64], truth: &[f64], top: usize, truth_top: usize) -> f64 {
    let mut by_truth: Vec<usize> = (0..truth.len()).collect();
    by_truth.sort_by(|&a, &b| truth[b].total_cmp(&truth[a]));
    let best: std::collections::BTreeSet<usize> = by_truth[..truth_top].iter().copied().collect();
    let mut by_score: Vec<usize> = (0..scores.len()).collect();
    by_score.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    by_score[..top].iter().filter(|i| best.contains(i)).count() as f64 / top as f64
}

#[test]
fn committed_b2b_data_set_is_what_the_generator_writes() {
    let data = generator::generate(generator::SEED, generator::LEADS);
    let (leads, touches) = (data.leads_csv(), data.touches_csv());
    if std::env::var_os("KITH_WRITE_B2B_DATA").is_some() {
        std::fs::write(data_dir().join("leads.csv"), &leads).expect("write leads.csv");
        std::fs::write(data_dir().join("interactions.csv"), &touches)
            .expect("write interactions.csv");
    }
    let committed = |name: &str| std::fs::read_to_string(data_dir().join(name)).expect(name);
    assert!(
        committed("leads.csv") == leads && committed("interactions.csv") == touches,
        "tests/data/b2b differs from its generator; rerun with KITH_WRITE_B2B_DATA=1 and commit"
    );
    let parsed = data_set();
    assert_eq!(parsed.len(), generator::LEADS);
    assert_eq!(
        parsed.iter().map(|l| l.interactions.len()).sum::<usize>(),
        data.touches.len()
    );
}

/// Spearman and top-decile precision of `config`'s scores against latent quality.
fn lead_score_quality(
    rt: &Runtime,
    plugin: &LoadedPlugin,
    leads: &[Lead],
    config: &str,
) -> (f64, f64) {
    let scores: Vec<f64> = leads
        .iter()
        .map(|lead| {
            score(
                rt,
                plugin,
                &call(view(lead, LifecycleStage::Lead, false), config, None),
            )
            .score
        })
        .collect();
    let quality: Vec<f64> = leads.iter().map(|l| l.quality).collect();
    let n = leads.len();
    (
        spearman(&scores, &quality),
        precision_at(&scores, &quality, n / 10, n / 4),
    )
}

#[test]
fn lead_score_ranks_leads_by_their_latent_quality() {
    let rt = runtime();
    let plugin = load(&rt, plugins::LEAD_SCORE);
    assert_eq!(plugin.capability(), Capability::Scorer);
    assert_eq!(plugin.manifest().id, "kith.lead-score");
    let leads = data_set();
    let (rho, precision) = lead_score_quality(&rt, &plugin, &leads, "{}");
    let (fit_rho, _) = lead_score_quality(&rt, &plugin, &leads, r#"{"fit_share": 1}"#);
    let (engagement_rho, _) = lead_score_quality(&rt, &plugin, &leads, r#"{"fit_share": 0}"#);
    eprintln!(
        "lead score vs latent quality: spearman {rho:.3} (fit only {fit_rho:.3}, engagement only \
         {engagement_rho:.3}), top-decile precision {precision:.3}"
    );
    assert!(rho >= MIN_SPEARMAN, "spearman {rho:.3} < {MIN_SPEARMAN}");
    assert!(
        precision >= MIN_TOP_DECILE_PRECISION,
        "top-decile precision {precision:.3} < {MIN_TOP_DECILE_PRECISION}"
    );
    assert!(
        rho > fit_rho && rho > engagement_rho,
        "fit and engagement together ({rho:.3}) must rank better than fit ({fit_rho:.3}) or engagement ({engagement_rho:.3}) alone"
    );
}

#[test]
fn lead_score_explains_itself_and_grades_through_the_runtime() {
    let rt = runtime();
    let plugin = load(&rt, plugins::LEAD_SCORE);
    let leads = data_set();
    let best = leads
        .iter()
        .max_by(|a, b| a.quality.total_cmp(&b.quality))
        .expect("leads");
    let output = score(
        &rt,
        &plugin,
        &call(view(best, LifecycleStage::Lead, false), "{}", None),
    );
    let sum: f64 = output.reasons.iter().map(|r| r.contribution).sum();
    assert!(
        (sum - output.score).abs() < 1e-6,
        "{sum} vs {}",
        output.score
    );
    assert!(
        output
            .reasons
            .windows(2)
            .all(|w| w[0].contribution >= w[1].contribution),
        "largest first: {:?}",
        output.reasons
    );
    let grade = output.grade.as_deref().expect("grade");
    assert!(["A", "B", "C", "D"].contains(&grade), "{grade}");
    assert!(
        output.actions.is_empty(),
        "no lifecycle thresholds configured"
    );

    let bare = CustomerView {
        attributes: BTreeMap::new(),
        country: None,
        recent_interactions: Vec::new(),
        aggregates: Vec::new(),
        ..view(best, LifecycleStage::Lead, false)
    };
    let output = score(&rt, &plugin, &call(bare, "{}", None));
    assert_eq!((output.score, output.grade.as_deref()), (0.0, Some("D")));
}

const LIFECYCLE: &str = r#"{"lifecycle": {"marketing_qualified": 45, "sales_qualified": 70}}"#;

fn moved_to(output: &ScoreOutput, id: &str) -> Option<LifecycleStage> {
    match output.actions.as_slice() {
        [] => None,
        [
            Action::SetLifecycleStage {
                customer: CustomerRef::Id(c),
                stage,
            },
        ] => {
            assert_eq!(c.to_string(), id);
            Some(*stage)
        }
        other => panic!("unexpected actions {other:?}"),
    }
}

#[test]
fn lifecycle_moves_happen_exactly_once_across_the_data_set() {
    let rt = runtime();
    let plugin = load(&rt, plugins::LEAD_SCORE);
    let leads = data_set();
    let mut moved = BTreeMap::new();
    for lead in &leads {
        let output = score(
            &rt,
            &plugin,
            &call(view(lead, LifecycleStage::Lead, false), LIFECYCLE, None),
        );
        let target = moved_to(&output, &uuid(lead.number));
        match target {
            Some(LifecycleStage::SalesQualified) => assert!(output.score >= 70.0),
            Some(LifecycleStage::MarketingQualified) => {
                assert!((45.0..70.0).contains(&output.score));
            }
            None => assert!(output.score < 45.0, "{}", output.score),
            Some(other) => panic!("moved to {other:?}"),
        }
        if let Some(stage) = target {
            moved.insert(lead.number, stage);
        }
    }
    let sql = moved
        .values()
        .filter(|s| **s == LifecycleStage::SalesQualified)
        .count();
    eprintln!(
        "lifecycle: {} of {} leads moved, {sql} to sales-qualified",
        moved.len(),
        leads.len()
    );
    assert!(
        sql > 0 && moved.len() > sql,
        "the data set crosses both thresholds"
    );
    // The host applied the moves; scoring everyone again with the new stage moves nobody.
    for lead in &leads {
        let stage = moved
            .get(&lead.number)
            .copied()
            .unwrap_or(LifecycleStage::Lead);
        let output = score(
            &rt,
            &plugin,
            &call(view(lead, stage, false), LIFECYCLE, None),
        );
        assert_eq!(
            moved_to(&output, &uuid(lead.number)),
            None,
            "lead {} at {stage:?} moved again",
            lead.number
        );
    }
    // An MQL whose score reaches the SQL threshold later moves on, once.
    let hot = leads
        .iter()
        .find(|l| moved.get(&l.number) == Some(&LifecycleStage::SalesQualified))
        .expect("a sales-qualified lead");
    let output = score(
        &rt,
        &plugin,
        &call(
            view(hot, LifecycleStage::MarketingQualified, false),
            LIFECYCLE,
            None,
        ),
    );
    assert_eq!(
        moved_to(&output, &uuid(hot.number)),
        Some(LifecycleStage::SalesQualified)
    );
}

/// Trains on even-numbered leads (odd ones' outcomes are hidden) and returns the model.
fn train(rt: &Runtime, plugin: &LoadedPlugin, leads: &[Lead], config: &str) -> Option<Vec<u8>> {
    let wanted = &plugin.manifest().needs.population_attributes;
    let population = PopulationInput {
        customers: leads
            .iter()
            .map(|l| {
                CustomerSummary::from_view(
                    &view(l, LifecycleStage::Lead, l.number % 2 == 0),
                    wanted,
                )
            })
            .collect(),
        config: config.to_owned(),
        now: Timestamp::from_micros(NOW),
        seed: 1,
    };
    let (model, report) = rt.populate(plugin, &population, &Limits::population());
    eprintln!(
        "lead-probability population step: {} fuel",
        report.fuel_used
    );
    model.expect("populate")
}

#[test]
fn lead_probability_beats_the_base_rate_on_held_out_leads() {
    let rt = runtime();
    let plugin = load(&rt, plugins::LEAD_PROBABILITY);
    assert!(plugin.manifest().needs.population);
    assert!(
        plugin
            .manifest()
            .needs
            .population_attributes
            .contains(&"deal_outcome".to_owned())
    );
    let leads = data_set();
    let model = train(&rt, &plugin, &leads, "{}").expect("a model");
    let train_closed: Vec<&Lead> = leads
        .iter()
        .filter(|l| l.number % 2 == 0 && l.outcome.is_some())
        .collect();
    let base_rate = train_closed
        .iter()
        .filter(|l| l.outcome.as_deref() == Some("won"))
        .count() as f64
        / train_closed.len() as f64;

    let held_out: Vec<&Lead> = leads
        .iter()
        .filter(|l| l.number % 2 == 1 && l.outcome.is_some())
        .collect();
    let mut probabilities = Vec::new();
    let mut won = Vec::new();
    for lead in &held_out {
        let output = score(
            &rt,
            &plugin,
            &call(
                view(lead, LifecycleStage::Lead, false),
                "{}",
                Some(model.clone()),
            ),
        );
        assert!((0.0..=100.0).contains(&output.score));
        let sum: f64 = output.reasons.iter().map(|r| r.contribution).sum();
        assert!(
            (sum - output.score).abs() < 1e-6,
            "{sum} vs {}",
            output.score
        );
        probabilities.push(output.score / 100.0);
        won.push(lead.outcome.as_deref() == Some("won"));
    }
    let area = auc(&probabilities, &won);
    let brier = |p: &dyn Fn(usize) -> f64| {
        won.iter()
            .enumerate()
            .map(|(i, w)| (p(i) - f64::from(u8::from(*w))).powi(2))
            .sum::<f64>()
            / won.len() as f64
    };
    let model_brier = brier(&|i| probabilities[i]);
    let base_brier = brier(&|_| base_rate);
    eprintln!(
        "lead probability on {} held-out closed leads: AUC {area:.3}, Brier {model_brier:.4} vs \
         base rate {base_rate:.3} Brier {base_brier:.4}",
        held_out.len()
    );
    assert!(area >= MIN_AUC, "AUC {area:.3} < {MIN_AUC}");
    assert!(
        model_brier < base_brier,
        "Brier {model_brier:.4} not below the base rate's {base_brier:.4}"
    );
}

#[test]
fn lead_probability_without_outcomes_has_no_model_and_says_so() {
    let rt = runtime();
    let plugin = load(&rt, plugins::LEAD_PROBABILITY);
    let empty = PopulationInput {
        customers: Vec::new(),
        config: "{}".to_owned(),
        now: Timestamp::from_micros(NOW),
        seed: 1,
    };
    let (model, _) = rt.populate(&plugin, &empty, &Limits::population());
    assert_eq!(model.expect("populate"), None);
    let leads = data_set();
    let open_only: Vec<Lead> = leads
        .iter()
        .take(50)
        .cloned()
        .map(|l| Lead { outcome: None, ..l })
        .collect();
    assert_eq!(train(&rt, &plugin, &open_only, "{}"), None);
    let output = score(
        &rt,
        &plugin,
        &call(view(&leads[0], LifecycleStage::Lead, false), "{}", None),
    );
    assert_eq!(
        (output.score, output.grade.as_deref()),
        (50.0, Some("untrained"))
    );
    assert_eq!(output.reasons[0].code, "no-model");
}

#[test]
fn lead_probability_refuses_a_model_trained_on_other_fields() {
    let rt = runtime();
    let plugin = load(&rt, plugins::LEAD_PROBABILITY);
    let leads = data_set();
    let model = train(&rt, &plugin, &leads, "{}").expect("a model");
    let other = r#"{"fields": [{"attribute": "industry"}]}"#;
    let (result, _) = rt.score(
        &plugin,
        &call(
            view(&leads[0], LifecycleStage::Lead, false),
            other,
            Some(model),
        ),
        &Limits::default(),
    );
    assert!(
        matches!(&result, Err(PluginFailure::PluginError { kind: PluginErrorKind::InvalidInput, message }) if message.contains("population step again")),
        "{result:?}"
    );
}

fn person(
    id: usize,
    attributes: &[(&str, AttributeValue)],
    country: &str,
    nps: Option<u8>,
) -> CustomerView {
    let lead = Lead {
        number: id,
        quality: 0.0,
        industry: None,
        employees: None,
        country: Some(country.to_owned()),
        job_title: None,
        outcome: None,
        interactions: nps
            .map(|rating| InteractionView {
                id: "s1".to_owned(),
                channel: Channel::Email,
                kind: InteractionKind::SurveyResponse,
                direction: Direction::Inbound,
                occurred_at: Timestamp::from_micros(NOW - 3 * DAY),
                amount: None,
                rating: Some(rating),
                status: None,
                attributes: BTreeMap::new(),
            })
            .into_iter()
            .collect(),
    };
    let mut view = view(&lead, LifecycleStage::Customer, false);
    view.attributes = attributes
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    view
}

#[test]
fn demographic_segments_classify_b2b_and_b2c_customers_through_the_runtime() {
    let rt = runtime();
    let plugin = load(&rt, plugins::DEMOGRAPHIC_SEGMENTS);
    assert_eq!(plugin.capability(), Capability::Segmenter);
    assert_eq!(plugin.manifest().segments.len(), 40);
    let classify = |customer: CustomerView, config: &str| -> Vec<String> {
        let (result, _) = rt.classify(&plugin, &call(customer, config, None), &Limits::default());
        result
            .expect("classify")
            .into_iter()
            .map(|m| m.segment)
            .collect()
    };
    let company = person(
        1,
        &[("industry", text("Banking")), ("employees", text("51-200"))],
        "GB",
        Some(2),
    );
    assert_eq!(
        classify(company, "{}"),
        [
            "industry-financial-services",
            "size-50-249",
            "region-europe",
            "nps-detractor"
        ]
    );
    let shopper = person(
        2,
        &[
            (
                "birth_date",
                AttributeValue::Date(Date::from_ymd(1995, 3, 1).expect("date")),
            ),
            ("gender", text("woman")),
        ],
        "BR",
        Some(10),
    );
    assert_eq!(
        classify(shopper.clone(), "{}"),
        [
            "age-25-34",
            "gender-female",
            "region-latin-america",
            "nps-promoter"
        ]
    );
    assert_eq!(
        classify(
            shopper,
            r#"{"disabled": ["nps"], "country_regions": {"BR": "north-america"}}"#
        ),
        ["age-25-34", "gender-female", "region-north-america"]
    );

    // Every lead of the data set: segments the host accepts, at most one per family.
    for lead in data_set().iter().take(200) {
        let segments = classify(view(lead, LifecycleStage::Lead, false), "{}");
        for family in ["industry-", "size-", "region-"] {
            assert!(
                segments.iter().filter(|s| s.starts_with(family)).count() <= 1,
                "{segments:?}"
            );
        }
        assert_eq!(
            segments.iter().any(|s| s.starts_with("industry-")),
            lead.industry.is_some()
        );
        assert_eq!(
            segments.iter().any(|s| s.starts_with("size-")),
            lead.employees.is_some()
        );
    }
}

#[test]
fn b2b_plugins_report_bad_configuration_as_invalid_config() {
    let rt = runtime();
    let customer = || view(&data_set()[0], LifecycleStage::Lead, false);
    let invalid_config = |result: Result<(), PluginFailure>, what: &str| {
        assert!(
            matches!(&result, Err(PluginFailure::PluginError { kind: PluginErrorKind::InvalidConfig, message }) if message.contains(what)),
            "{result:?}"
        );
    };
    let score_plugin = load(&rt, plugins::LEAD_SCORE);
    let (result, _) = rt.score(
        &score_plugin,
        &call(customer(), r#"{"fit_share": 3}"#, None),
        &Limits::default(),
    );
    invalid_config(result.map(|_| ()), "fit_share");
    let probability = load(&rt, plugins::LEAD_PROBABILITY);
    let (result, _) = rt.score(
        &probability,
        &call(
            customer(),
            r#"{"fields": [{"attribute": "shoe_size"}]}"#,
            None,
        ),
        &Limits::default(),
    );
    invalid_config(result.map(|_| ()), "fields[0].attribute");
    let segments = load(&rt, plugins::DEMOGRAPHIC_SEGMENTS);
    let (result, _) = rt.classify(
        &segments,
        &call(customer(), r#"{"industry_aliases": {"x": "y"}}"#, None),
        &Limits::default(),
    );
    invalid_config(result.map(|_| ()), "industry_aliases.x");
}
