use kith_plugin_sdk::testing::{
    CustomerBuilder, Harness, assert_manifest_valid, customer, interaction,
};
use kith_plugin_sdk::{AttributeValue, InteractionKind, PluginError, ScoreOutput};

use super::*;

fn text(s: &str) -> AttributeValue {
    AttributeValue::Text(s.to_owned())
}

fn lead(
    id: &str,
    outcome: Option<&str>,
    industry: Option<&str>,
    employees: Option<f64>,
) -> CustomerBuilder {
    let mut c = customer(id);
    if let Some(outcome) = outcome {
        c = c.attribute("deal_outcome", text(outcome));
    }
    if let Some(industry) = industry {
        c = c.attribute("industry", text(industry));
    }
    if let Some(employees) = employees {
        c = c.attribute("employees", AttributeValue::Number(employees));
    }
    c
}

const TWO_FIELDS: &str = r#"{"fields": [
    {"attribute": "industry"},
    {"attribute": "employees", "bands": [100]}
], "min_outcomes": 2}"#;

/// Won: 3 software (2 large, 1 small), 1 retail (small). Lost: 1 software (small),
/// 3 retail (1 large, 2 small). Plus customers without an outcome, which must not count.
fn history() -> Vec<CustomerBuilder> {
    vec![
        lead("w1", Some("won"), Some("Software"), Some(500.0)),
        lead("w2", Some("Won"), Some("software"), Some(150.0)),
        lead("w3", Some("won"), Some("software"), Some(20.0)),
        lead("w4", Some("won"), Some("retail"), Some(10.0)),
        lead("l1", Some("lost"), Some("software"), Some(5.0)),
        lead("l2", Some("lost"), Some("retail"), Some(1000.0)),
        lead("l3", Some(" LOST "), Some("retail"), Some(30.0)),
        lead("l4", Some("lost"), Some("retail"), Some(40.0)),
        lead("open1", None, Some("software"), Some(900.0)),
        lead("open2", Some("open"), Some("software"), Some(900.0)),
    ]
}

fn trained(config: &str) -> Harness<LeadProbability> {
    Harness::<LeadProbability>::new(config)
        .with_population(history())
        .unwrap()
}

fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

fn reason_sum(output: &ScoreOutput) -> f64 {
    output.reasons.iter().map(|r| r.contribution).sum()
}

#[test]
fn manifest_declares_the_population_attributes_with_the_outcome() {
    let manifest = assert_manifest_valid::<LeadProbability>();
    assert_eq!(manifest.id, "kith.lead-probability");
    assert!(manifest.needs.population);
    assert_eq!(manifest.needs.population_attributes[0], "deal_outcome");
    assert!(
        manifest
            .needs
            .population_attributes
            .iter()
            .any(|a| a == "job_title")
    );
}

#[test]
fn population_step_counts_values_among_won_and_lost_only() {
    let h = Harness::<LeadProbability>::new(TWO_FIELDS);
    let bytes = h.populate(history()).unwrap();
    let settings = h.config().unwrap().settings().unwrap();
    let model = Model::decode(&bytes, &settings).unwrap();
    assert_eq!(model.outcomes, Counts { won: 4, lost: 4 });
    let industry = &model.fields[0].values;
    assert_eq!(industry["software"], Counts { won: 3, lost: 1 });
    assert_eq!(industry["retail"], Counts { won: 1, lost: 3 });
    let size = &model.fields[1].values;
    assert_eq!(size[">= 100"], Counts { won: 2, lost: 1 });
    assert_eq!(size["< 100"], Counts { won: 2, lost: 3 });
    assert!(
        String::from_utf8(bytes).unwrap().contains("\"software\""),
        "the model is readable JSON"
    );
}

#[test]
fn probability_is_the_smoothed_naive_bayes_posterior() {
    let h = trained(TWO_FIELDS);
    let output = h
        .score(lead("new", None, Some("SOFTWARE"), Some(700.0)).build())
        .unwrap();
    // Even prior (4 won, 4 lost); each field has 2 values, so a = 1 adds 2 to each class total.
    let p_ind = ((3.0 + 1.0) / (4.0 + 2.0)) / ((1.0 + 1.0) / (4.0 + 2.0));
    let p_size = ((2.0 + 1.0) / (4.0 + 2.0)) / ((1.0 + 1.0) / (4.0 + 2.0));
    let odds: f64 = p_ind * p_size;
    assert_close(output.score, 100.0 * odds / (1.0 + odds));
    assert_close(reason_sum(&output), output.score);
    let codes: Vec<&str> = output.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["field.industry", "field.employees", "base-rate"]);
    assert_close(output.reasons[2].contribution, 50.0);
    assert!(
        output.reasons[0].message.contains("3 of 4 won"),
        "{:?}",
        output.reasons[0]
    );
    assert!(output.grade.is_none());
}

#[test]
fn unknown_and_unseen_values_are_left_out_and_said_so() {
    let h = trained(TWO_FIELDS);
    let output = h
        .score(lead("new", None, Some("mining"), None).build())
        .unwrap();
    assert_close(output.score, 50.0);
    let messages: Vec<(&str, &str)> = output
        .reasons
        .iter()
        .map(|r| (r.code.as_str(), r.message.as_str()))
        .collect();
    assert_eq!(messages[0].0, "base-rate");
    assert!(
        messages.contains(&("field.employees", "employees unknown")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|(c, m)| *c == "field.industry" && m.contains("never occurred")),
        "{messages:?}"
    );
}

#[test]
fn shapley_shares_add_up_and_treat_equal_evidence_equally() {
    let shares = shapley(0.3, &[1.0, 1.0, -0.5]);
    assert_close(shares.iter().sum::<f64>(), percent(1.8) - percent(0.3));
    assert_close(shares[0], shares[1]);
    assert!(shares[2] < 0.0);
    assert_close(shapley(0.0, &[2.0])[0], percent(2.0) - 50.0);
    assert!(shapley(0.0, &[]).is_empty());
}

#[test]
fn bands_transforms_and_interaction_counts_make_categories() {
    let field = |config: FieldConfig| {
        Config {
            fields: Some(vec![config]),
            ..Config::default()
        }
        .settings()
        .unwrap()
        .fields
        .remove(0)
    };
    let employees = field(FieldConfig {
        attribute: Some("employees".into()),
        bands: Some(vec![10.0, 50.0]),
        ..FieldConfig::default()
    });
    let attrs = |v: AttributeValue| {
        vec![kith_plugin_sdk::Attribute {
            name: "employees".into(),
            value: v,
        }]
    };
    assert_eq!(
        employees
            .value(&attrs(AttributeValue::Number(9.0)), &[])
            .as_deref(),
        Some("< 10")
    );
    assert_eq!(
        employees.value(&attrs(text("10-49")), &[]).as_deref(),
        Some("[10, 50)")
    );
    assert_eq!(
        employees
            .value(&attrs(AttributeValue::Number(50.0)), &[])
            .as_deref(),
        Some(">= 50")
    );
    assert_eq!(employees.value(&attrs(text("  ")), &[]), None);
    assert_eq!(employees.value(&[], &[]), None);

    assert_eq!(seniority("VP of Sales"), "vice-president");
    assert_eq!(seniority("Director of IT"), "director");
    assert_eq!(seniority("Chief Executive"), "executive");
    assert_eq!(seniority("Analyst"), "individual");

    let meetings = field(FieldConfig {
        interactions: Some("meeting".into()),
        bands: Some(vec![1.0, 3.0]),
        ..FieldConfig::default()
    });
    assert_eq!(meetings.name, "interactions.meeting");
    let view = customer("c")
        .interaction(interaction(InteractionKind::Meeting).build())
        .interaction(interaction(InteractionKind::Meeting).build())
        .build();
    assert_eq!(
        meetings
            .value(&view.attributes, &view.aggregates)
            .as_deref(),
        Some("[1, 3)")
    );
    assert_eq!(
        meetings.value(&[], &[]).as_deref(),
        Some("< 1"),
        "no meetings is a value"
    );
}

#[test]
fn boolean_and_custom_outcome_values_are_understood() {
    let config = r#"{"fields": [{"attribute": "industry"}], "min_outcomes": 2,
        "outcome": {"won": ["closed-won"], "lost": ["closed-lost"]}}"#;
    let history = vec![
        lead("a", Some("Closed-Won"), Some("software"), None),
        lead("b", Some("closed-lost"), Some("retail"), None),
        lead("c", Some("won"), Some("retail"), None),
        customer("d")
            .attribute("deal_outcome", AttributeValue::Boolean(true))
            .attribute("industry", text("software")),
    ];
    let bytes = Harness::<LeadProbability>::new(config)
        .populate(history)
        .unwrap();
    let model: Model = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        model.outcomes,
        Counts { won: 2, lost: 1 },
        "\"won\" is not a configured value"
    );
}

#[test]
fn no_model_without_enough_outcomes_and_a_neutral_untrained_score() {
    let h = Harness::<LeadProbability>::new("{}");
    assert!(
        h.populate(Vec::<CustomerBuilder>::new())
            .unwrap()
            .is_empty(),
        "empty population"
    );
    let only_won = (0..20).map(|i| lead(&format!("w{i}"), Some("won"), Some("x"), None));
    assert!(h.populate(only_won).unwrap().is_empty(), "no lost customer");
    let few = (0..9).map(|i| {
        lead(
            &format!("c{i}"),
            Some(if i % 2 == 0 { "won" } else { "lost" }),
            None,
            None,
        )
    });
    assert!(
        h.populate(few).unwrap().is_empty(),
        "9 outcomes, 10 needed by default"
    );

    let untrained = h
        .score(lead("new", None, Some("software"), None).build())
        .unwrap();
    assert_eq!(
        (untrained.score, untrained.grade.as_deref()),
        (50.0, Some("untrained"))
    );
    assert_eq!(untrained.reasons[0].code, "no-model");
}

#[test]
fn missing_attributes_train_and_score_without_failing() {
    let history = (0..12).map(|i| {
        let c = customer(format!("c{i}"))
            .attribute("deal_outcome", text(if i < 4 { "won" } else { "lost" }));
        if i % 3 == 0 {
            c.attribute("industry", text("software"))
        } else {
            c
        }
    });
    let h = Harness::<LeadProbability>::new("{}")
        .with_population(history)
        .unwrap();
    let output = h.score(customer("bare").build()).unwrap();
    // Only the meeting count (0 for everybody) is known: it says nothing, the base rate remains.
    assert_close(output.score, 100.0 * 5.0 / 14.0);
    assert_close(reason_sum(&output), output.score);
}

#[test]
fn rare_values_share_one_bucket_beyond_max_values() {
    let config = r#"{"fields": [{"attribute": "industry"}], "min_outcomes": 2, "max_values": 2}"#;
    let history = vec![
        lead("a", Some("won"), Some("software"), None),
        lead("b", Some("won"), Some("software"), None),
        lead("c", Some("lost"), Some("retail"), None),
        lead("d", Some("lost"), Some("retail"), None),
        lead("e", Some("lost"), Some("mining"), None),
    ];
    let h = Harness::<LeadProbability>::new(config)
        .with_population(history)
        .unwrap();
    let model: Model = serde_json::from_slice(
        h.customer_input(customer("x").build())
            .model
            .as_deref()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(model.fields[0].values.len(), 2);
    assert_eq!(model.fields[0].other, Some(Counts { won: 0, lost: 1 }));
    let farming = h
        .score(lead("new", None, Some("farming"), None).build())
        .unwrap();
    assert!(
        farming.score < percent(model.prior_log_odds(1.0)),
        "an unlisted value uses the bucket"
    );
}

#[test]
fn stale_or_corrupt_models_are_invalid_input() {
    let bytes = Harness::<LeadProbability>::new(TWO_FIELDS)
        .populate(history())
        .unwrap();
    let other_fields = r#"{"fields": [{"attribute": "industry"}], "min_outcomes": 2}"#;
    for (config, model) in [
        (other_fields, bytes.clone()),
        (TWO_FIELDS, b"{not json".to_vec()),
        (
            TWO_FIELDS,
            String::from_utf8(bytes)
                .unwrap()
                .replacen("\"version\":1", "\"version\":9", 1)
                .into_bytes(),
        ),
    ] {
        let err = Harness::<LeadProbability>::new(config)
            .model(Some(model))
            .score(customer("c").build())
            .unwrap_err();
        assert!(
            matches!(&err, PluginError::InvalidInput(m) if m.contains("population step again")),
            "{err:?}"
        );
    }
}

#[test]
fn bad_configurations_are_invalid_config_naming_the_field() {
    for (config, field) in [
        (r#"{"fields": []}"#, "fields"),
        (
            r#"{"fields": [{"attribute": "favourite_colour"}]}"#,
            "fields[0].attribute",
        ),
        (
            r#"{"fields": [{"attribute": "deal_outcome"}]}"#,
            "fields[0].attribute",
        ),
        (
            r#"{"fields": [{"attribute": "industry", "interactions": "meeting"}]}"#,
            "fields[0]",
        ),
        (r#"{"fields": [{}]}"#, "fields[0]"),
        (
            r#"{"fields": [{"interactions": "tweet"}]}"#,
            "fields[0].interactions",
        ),
        (
            r#"{"fields": [{"attribute": "employees", "bands": [50, 10]}]}"#,
            "fields[0].bands",
        ),
        (
            r#"{"fields": [{"interactions": "call", "transform": "seniority"}]}"#,
            "fields[0].transform",
        ),
        (
            r#"{"fields": [{"attribute": "industry"}, {"attribute": "industry"}]}"#,
            "fields[1].name",
        ),
        (
            r#"{"fields": [{"attribute": "industry", "name": "Bad Name"}]}"#,
            "fields[0].name",
        ),
        (r#"{"laplace": 0}"#, "laplace"),
        (r#"{"min_outcomes": 1}"#, "min_outcomes"),
        (r#"{"max_values": 0}"#, "max_values"),
        (
            r#"{"outcome": {"won": ["done"], "lost": ["Done"]}}"#,
            "outcome",
        ),
        (r#"{"outcome": {"won": []}}"#, "outcome.won"),
        (r#"{"laplace": "one"}"#, "laplace"),
    ] {
        let h = Harness::<LeadProbability>::new(config);
        for result in [
            h.score(customer("c").build()).map(|_| ()),
            h.populate(history()).map(|_| ()),
        ] {
            match result {
                Err(PluginError::InvalidConfig(message)) => {
                    assert!(message.contains(field), "{config}: {message}");
                }
                other => panic!("{config}: {other:?}"),
            }
        }
    }
    let thirteen: Vec<String> = (0..13)
        .map(|i| format!(r#"{{"attribute": "industry", "name": "f{i}"}}"#))
        .collect();
    let config = format!(r#"{{"fields": [{}]}}"#, thirteen.join(","));
    assert!(matches!(
        Harness::<LeadProbability>::new(config).score(customer("c").build()),
        Err(PluginError::InvalidConfig(m)) if m.contains("fields")
    ));
}
