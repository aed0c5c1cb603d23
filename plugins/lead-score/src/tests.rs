use kith_plugin_sdk::testing::{
    CustomerBuilder, Harness, assert_manifest_valid, customer, interaction,
};
use kith_plugin_sdk::time::MICROS_PER_DAY;
use kith_plugin_sdk::{
    AttributeValue, Direction, InteractionKind, LifecycleStage, PluginError, ScoreOutput,
};

use super::*;

const NOW: i64 = 1_000 * MICROS_PER_DAY;

fn days_ago(days: f64) -> i64 {
    NOW - (days * MICROS_PER_DAY as f64) as i64
}

fn text(s: &str) -> AttributeValue {
    AttributeValue::Text(s.to_owned())
}

fn harness(config: &str) -> Harness<LeadScore> {
    Harness::<LeadScore>::new(config).now(NOW)
}

/// A lead matching the default profile perfectly.
fn ideal(id: &str) -> CustomerBuilder {
    customer(id)
        .attribute("industry", text("Software"))
        .attribute("employees", AttributeValue::Number(5_000.0))
        .attribute("job_title", text("Chief Technology Officer"))
        .location("US", "NY", "New York")
}

fn demo_request(days: f64) -> kith_plugin_sdk::Interaction {
    interaction(InteractionKind::FormSubmission)
        .at(days_ago(days))
        .attribute("form", text("Request a demo"))
        .build()
}

fn page_view(days: f64, url: &str) -> kith_plugin_sdk::Interaction {
    interaction(InteractionKind::PageView)
        .at(days_ago(days))
        .attribute("url", text(url))
        .build()
}

fn contribution(output: &ScoreOutput, code: &str) -> Option<f64> {
    output
        .reasons
        .iter()
        .find(|r| r.code == code)
        .map(|r| r.contribution)
}

fn assert_close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

#[test]
fn manifest_asks_for_recent_interactions_and_no_population() {
    let manifest = assert_manifest_valid::<LeadScore>();
    assert_eq!(manifest.id, "kith.lead-score");
    assert_eq!(manifest.needs.recent_interactions, RECENT_INTERACTIONS);
    assert!(!manifest.needs.population);
    assert!(
        harness("{}")
            .populate(Vec::<CustomerBuilder>::new())
            .unwrap()
            .is_empty(),
        "no population step, so an empty population gives no model"
    );
}

#[test]
fn ideal_fit_earns_every_fit_point_and_reasons_add_up() {
    let output = harness("{}").score(ideal("c").build()).unwrap();
    assert_close(output.score, 50.0);
    for code in [
        "fit.industry",
        "fit.country",
        "fit.company-size",
        "fit.seniority",
    ] {
        assert_close(contribution(&output, code).unwrap(), 12.5);
    }
    assert_eq!(output.grade.as_deref(), Some("B"));
    assert!(
        output.actions.is_empty(),
        "no lifecycle thresholds by default"
    );
}

#[test]
fn missing_attributes_contribute_nothing_and_say_so() {
    let output = harness("{}").score(customer("bare").build()).unwrap();
    assert_eq!((output.score, output.grade.as_deref()), (0.0, Some("D")));
    assert_eq!(output.reasons.len(), 4);
    for reason in &output.reasons {
        assert_eq!(reason.contribution, 0.0);
        assert!(reason.message.contains("unknown"), "{reason:?}");
    }
    let industry = output
        .reasons
        .iter()
        .find(|r| r.code == "fit.industry")
        .unwrap();
    assert!(industry.message.contains("\"industry\""), "{industry:?}");
    let country = output
        .reasons
        .iter()
        .find(|r| r.code == "fit.country")
        .unwrap();
    assert!(country.message.contains("no country"), "{country:?}");
}

#[test]
fn fit_values_are_looked_up_case_insensitively_with_otherwise_for_unlisted_values() {
    let lead = customer("c")
        .attribute("industry", text("Financial Services"))
        .attribute("employees", text("51-200"))
        .attribute("job_title", text("Astronaut"))
        .location("br", "SP", "São Paulo")
        .build();
    let output = harness("{}").score(lead).unwrap();
    // 12.5 points per criterion times the fit of each value.
    assert_close(contribution(&output, "fit.industry").unwrap(), 12.5 * 0.8);
    assert_close(contribution(&output, "fit.country").unwrap(), 12.5 * 0.3);
    assert_close(
        contribution(&output, "fit.company-size").unwrap(),
        12.5 * 0.55,
    );
    assert_close(contribution(&output, "fit.seniority").unwrap(), 12.5 * 0.2);
}

#[test]
fn attribute_names_weights_and_tables_are_configurable() {
    let config = r#"{
        "fit_share": 1,
        "fit": {
            "industry": {"attribute": "sector", "weight": 3, "scores": {"Logistics": 1}, "otherwise": 0},
            "country": {"weight": 0},
            "company_size": {"attribute": "headcount", "bands": [{"min": 10, "score": 0.5}]},
            "seniority": {"weight": 0}
        }
    }"#;
    let lead = customer("c")
        .attribute("sector", text("logistics"))
        .attribute("industry", text("software"))
        .attribute("headcount", AttributeValue::Number(12.0))
        .build();
    let output = harness(config).score(lead).unwrap();
    assert_close(contribution(&output, "fit.industry").unwrap(), 75.0);
    assert_close(contribution(&output, "fit.company-size").unwrap(), 12.5);
    assert!(
        contribution(&output, "fit.country").is_none(),
        "weight 0 is off"
    );
    assert_close(output.score, 87.5);
    assert_eq!(output.grade.as_deref(), Some("A"));
}

#[test]
fn seniority_matches_whole_words_and_prefers_the_longest_keyword() {
    let rules = Config::default().rules().unwrap();
    let level = |title: &str| seniority_level(&rules.seniority, title).map(|(name, _)| name);
    assert_eq!(level("Vice President, Sales"), Some("vice-president"));
    assert_eq!(level("President"), Some("executive"));
    assert_eq!(level("CTO"), Some("executive"));
    assert_eq!(
        level("Director of IT"),
        Some("director"),
        "not \"cto\" inside \"director\""
    );
    assert_eq!(level("Managing Director"), Some("executive"));
    assert_eq!(level("Head of Marketing"), Some("vice-president"));
    assert_eq!(level("Team Lead"), Some("manager"));
    assert_eq!(level("Marketing Intern"), Some("junior"));
    assert_eq!(level("Software Engineer"), None);
}

#[test]
fn employee_counts_read_numbers_and_ranges() {
    assert_eq!(fit::employees(&AttributeValue::Number(42.0)), Some(42.0));
    assert_eq!(fit::employees(&text("1,000+")), Some(1000.0));
    assert_eq!(fit::employees(&text(" 51-200 ")), Some(51.0));
    assert_eq!(fit::employees(&text("many")), None);
    assert_eq!(fit::employees(&AttributeValue::Number(-3.0)), None);
    assert_eq!(fit::employees(&AttributeValue::Boolean(true)), None);
}

#[test]
fn engagement_halves_every_half_life_and_saturates() {
    let h = harness(r#"{"fit_share": 0}"#);
    let fresh = h
        .score(customer("a").interaction(demo_request(0.0)).build())
        .unwrap();
    let old = h
        .score(customer("b").interaction(demo_request(30.0)).build())
        .unwrap();
    // 30 points now, 15 after one 30-day half-life; 100 engagement points, scale 40.
    assert_close(fresh.score, 100.0 * (1.0 - (-30.0f64 / 40.0).exp()));
    assert_close(old.score, 100.0 * (1.0 - (-15.0f64 / 40.0).exp()));
    let many = (0..50).fold(customer("c"), |c, _| c.interaction(demo_request(0.0)));
    let saturated = h.score(many.build()).unwrap();
    assert!(
        saturated.score > 99.9 && saturated.score <= 100.0,
        "{}",
        saturated.score
    );
    let short = harness(r#"{"fit_share": 0, "engagement": {"half_life_days": 10}}"#)
        .score(customer("b").interaction(demo_request(30.0)).build())
        .unwrap();
    assert_close(short.score, 100.0 * (1.0 - (-3.75f64 / 40.0).exp()));
}

#[test]
fn interactions_after_now_count_as_now() {
    let h = harness(r#"{"fit_share": 0}"#);
    let future = h
        .score(customer("a").interaction(demo_request(-5.0)).build())
        .unwrap();
    let now = h
        .score(customer("b").interaction(demo_request(0.0)).build())
        .unwrap();
    assert_close(future.score, now.score);
}

#[test]
fn default_signals_map_to_kinds_directions_and_attributes() {
    let outbound_email = interaction(InteractionKind::Email)
        .direction(Direction::Outbound)
        .at(days_ago(1.0))
        .build();
    let reply = interaction(InteractionKind::Email)
        .at(days_ago(1.0))
        .build();
    let meeting = interaction(InteractionKind::Meeting)
        .direction(Direction::Outbound)
        .at(days_ago(2.0))
        .build();
    let newsletter_form = interaction(InteractionKind::FormSubmission)
        .at(days_ago(1.0))
        .attribute("form", text("newsletter"))
        .build();
    let lead = customer("c")
        .interaction(outbound_email)
        .interaction(reply)
        .interaction(meeting)
        .interaction(newsletter_form)
        .interaction(page_view(3.0, "https://x.example/Pricing"))
        .interaction(page_view(3.0, "https://x.example/blog"))
        .interaction(demo_request(4.0))
        .build();
    let output = harness(r#"{"fit_share": 0}"#).score(lead).unwrap();
    let counted: Vec<(&str, &str)> = output
        .reasons
        .iter()
        .map(|r| (r.code.as_str(), &r.message[..3]))
        .collect();
    assert_eq!(
        counted,
        [
            ("engagement.demo-request", "1 x"),
            ("engagement.meeting", "1 x"),
            ("engagement.pricing-page-view", "1 x"),
            ("engagement.email-reply", "1 x"),
        ],
        "largest first; outbound email, newsletter form and blog view do not count"
    );
    let sum: f64 = output.reasons.iter().map(|r| r.contribution).sum();
    assert_close(sum, output.score);
}

#[test]
fn custom_signals_replace_the_defaults() {
    let config = r#"{"fit_share": 0, "engagement": {"scale": 10, "signals": [
        {"code": "webinar", "kind": "other", "attribute": "event", "contains": "webinar", "points": 10}
    ]}}"#;
    let webinar = interaction(InteractionKind::Other)
        .at(NOW)
        .attribute("event", text("Spring Webinar"))
        .build();
    let output = harness(config)
        .score(
            customer("c")
                .interaction(webinar)
                .interaction(demo_request(0.0))
                .build(),
        )
        .unwrap();
    let codes: Vec<&str> = output.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["engagement.webinar"]);
    assert_close(output.score, 100.0 * (1.0 - (-1.0f64).exp()));
}

#[test]
fn grades_follow_the_thresholds() {
    let config = |share: f64| {
        format!(r#"{{"fit_share": {share}, "grades": {{"a": 80, "b": 60, "c": 40}}}}"#)
    };
    let grade = |share| {
        harness(&config(share))
            .score(ideal("c").build())
            .unwrap()
            .grade
            .unwrap()
    };
    assert_eq!(grade(0.8), "A");
    assert_eq!(grade(0.79), "B");
    assert_eq!(grade(0.6), "B");
    assert_eq!(grade(0.5), "C");
    assert_eq!(grade(0.39), "D");
}

fn hot_lead(stage: LifecycleStage) -> kith_plugin_sdk::CustomerView {
    ideal("hot")
        .stage(stage)
        .interaction(demo_request(1.0))
        .interaction(
            interaction(InteractionKind::Meeting)
                .at(days_ago(2.0))
                .build(),
        )
        .build()
}

const LIFECYCLE: &str = r#"{"lifecycle": {"marketing_qualified": 50, "sales_qualified": 80}}"#;

fn moved_to(output: &ScoreOutput) -> Option<LifecycleStage> {
    match output.actions.as_slice() {
        [] => None,
        [Action::SetLifecycleStage(set)] => {
            assert_eq!(set.customer, kith_plugin_sdk::CustomerRef::Id("hot".into()));
            Some(set.stage)
        }
        other => panic!("unexpected actions {other:?}"),
    }
}

#[test]
fn crossing_a_threshold_moves_the_lead_forward_exactly_once() {
    let h = harness(LIFECYCLE);
    let first = h.score(hot_lead(LifecycleStage::Lead)).unwrap();
    assert!(first.score >= 80.0, "{}", first.score);
    assert_eq!(moved_to(&first), Some(LifecycleStage::SalesQualified));
    let lifecycle = first
        .reasons
        .iter()
        .find(|r| r.code == "lifecycle")
        .unwrap();
    assert!(
        lifecycle.message.contains("lead -> sales-qualified"),
        "{lifecycle:?}"
    );
    // The host applied the move; the next score sees the new stage and moves nothing.
    let again = h.score(hot_lead(LifecycleStage::SalesQualified)).unwrap();
    assert_eq!(again.score, first.score);
    assert_eq!(moved_to(&again), None);
    assert!(again.reasons.iter().all(|r| r.code != "lifecycle"));
}

#[test]
fn only_lower_stages_move_and_never_backwards() {
    let h = harness(LIFECYCLE);
    let mql_score = h.score(ideal("hot").build()).unwrap();
    assert!((50.0..80.0).contains(&mql_score.score));
    assert_eq!(
        moved_to(&mql_score),
        Some(LifecycleStage::MarketingQualified)
    );
    assert_eq!(
        moved_to(&h.score(hot_lead(LifecycleStage::Subscriber)).unwrap()),
        Some(LifecycleStage::SalesQualified)
    );
    assert_eq!(
        moved_to(
            &h.score(hot_lead(LifecycleStage::MarketingQualified))
                .unwrap()
        ),
        Some(LifecycleStage::SalesQualified)
    );
    for stage in [
        LifecycleStage::SalesQualified,
        LifecycleStage::Opportunity,
        LifecycleStage::Customer,
        LifecycleStage::Evangelist,
        LifecycleStage::Churned,
        LifecycleStage::Other,
    ] {
        assert_eq!(
            moved_to(&h.score(hot_lead(stage)).unwrap()),
            None,
            "{stage:?}"
        );
    }
    // An MQL whose score dropped below the MQL threshold stays an MQL.
    let cold = ideal("hot")
        .stage(LifecycleStage::MarketingQualified)
        .build();
    let cold = harness(r#"{"lifecycle": {"marketing_qualified": 90}}"#)
        .score(cold)
        .unwrap();
    assert_eq!(moved_to(&cold), None);
}

#[test]
fn bad_configurations_are_invalid_config_naming_the_field() {
    let lead = || ideal("c").build();
    for (config, field) in [
        (r#"{"fit_share": 2}"#, "fit_share"),
        (r#"{"fit_share": "half"}"#, "fit_share"),
        (
            r#"{"fit": {"industry": {"weight": -1}}}"#,
            "fit.industry.weight",
        ),
        (
            r#"{"fit": {"industry": {"scores": {"software": 1.5}}}}"#,
            "fit.industry.scores.software",
        ),
        (
            r#"{"fit": {"company_size": {"bands": [{"min": 5, "score": 1}, {"min": 5, "score": 0}]}}}"#,
            "fit.company_size",
        ),
        (
            r#"{"fit": {"seniority": {"levels": [{"name": "x", "keywords": ["--"], "score": 1}]}}}"#,
            "fit.seniority.levels[0]",
        ),
        (
            r#"{"fit": {"industry": {"weight": 0}, "country": {"weight": 0}, "company_size": {"weight": 0}, "seniority": {"weight": 0}}}"#,
            "fit",
        ),
        (
            r#"{"engagement": {"half_life_days": 0}}"#,
            "engagement.half_life_days",
        ),
        (
            r#"{"engagement": {"signals": [{"code": "x", "kind": "tweet", "points": 1}]}}"#,
            "engagement.signals[0].kind",
        ),
        (
            r#"{"engagement": {"signals": [{"code": "x", "kind": "email", "direction": "up", "points": 1}]}}"#,
            "engagement.signals[0].direction",
        ),
        (
            r#"{"engagement": {"signals": [{"code": "x", "kind": "email", "contains": "a", "points": 1}]}}"#,
            "engagement.signals[0].contains",
        ),
        (
            r#"{"engagement": {"signals": [{"code": "X", "kind": "email", "points": 1}]}}"#,
            "engagement.signals[0].code",
        ),
        (
            r#"{"engagement": {"signals": [{"code": "x", "kind": "email", "points": 1}, {"code": "x", "kind": "call", "points": 1}]}}"#,
            "engagement.signals[1].code",
        ),
        (r#"{"grades": {"a": 10, "b": 50}}"#, "grades"),
        (
            r#"{"lifecycle": {"marketing_qualified": 80, "sales_qualified": 50}}"#,
            "lifecycle",
        ),
        (
            r#"{"lifecycle": {"sales_qualified": 101}}"#,
            "lifecycle.sales_qualified",
        ),
        (r#"{"lifecycle": {"opportunity": 90}}"#, "opportunity"),
        ("[", "invalid configuration"),
    ] {
        match harness(config).score(lead()) {
            Err(PluginError::InvalidConfig(message)) => {
                assert!(message.contains(field), "{config}: {message}");
            }
            other => panic!("{config}: {other:?}"),
        }
    }
}
