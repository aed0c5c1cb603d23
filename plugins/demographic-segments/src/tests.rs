use kith_plugin_sdk::testing::{
    CustomerBuilder, DEFAULT_NOW, Harness, assert_manifest_valid, customer, interaction,
};
use kith_plugin_sdk::time::{MICROS_PER_DAY, from_ymd_hms};
use kith_plugin_sdk::{AttributeValue, Interaction, InteractionKind, PluginError};

use super::*;

fn text(s: &str) -> AttributeValue {
    AttributeValue::Text(s.to_owned())
}

fn segments(config: &str, c: CustomerBuilder) -> Vec<String> {
    Harness::<DemographicSegments>::new(config)
        .classify(c.build())
        .unwrap()
        .into_iter()
        .map(|m| m.segment)
        .collect()
}

fn with(attribute: &str, value: AttributeValue) -> CustomerBuilder {
    customer("c").attribute(attribute, value)
}

fn survey(days_ago: i64, rating: Option<u8>) -> Interaction {
    let mut b =
        interaction(InteractionKind::SurveyResponse).at(DEFAULT_NOW - days_ago * MICROS_PER_DAY);
    if let Some(r) = rating {
        b = b.rating(r);
    }
    b.build()
}

#[test]
fn manifest_declares_every_segment_once_with_stable_ids() {
    let manifest = assert_manifest_valid::<DemographicSegments>();
    assert_eq!(manifest.id, "kith.demographic-segments");
    let ids: Vec<&str> = manifest.segments.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), 16 + 5 + 7 + 3 + 6 + 3);
    for id in [
        "industry-software",
        "industry-other",
        "size-1-9",
        "size-1000-plus",
        "age-under-18",
        "age-65-plus",
        "gender-female",
        "gender-other",
        "region-asia-pacific",
        "nps-promoter",
        "nps-passive",
        "nps-detractor",
    ] {
        assert!(ids.contains(&id), "{id} missing");
    }
    assert!(ids.iter().all(|id| {
        id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }));
    assert!(!manifest.needs.population);
    assert_eq!(manifest.needs.recent_interactions, RECENT_INTERACTIONS);
}

#[test]
fn industries_map_through_synonyms_and_aliases_with_other_as_fallback() {
    let industry = |config: &str, value: &str| segments(config, with("industry", text(value)));
    assert_eq!(industry("{}", "Software"), ["industry-software"]);
    assert_eq!(industry("{}", "SaaS"), ["industry-software"]);
    assert_eq!(
        industry("{}", "financial_services"),
        ["industry-financial-services"]
    );
    assert_eq!(industry("{}", "Mining"), ["industry-other"]);
    let aliases = r#"{"industry_aliases": {"Mining": "energy", "SaaS": "other"}}"#;
    assert_eq!(industry(aliases, "mining"), ["industry-energy"]);
    assert_eq!(
        industry(aliases, "saas"),
        ["industry-other"],
        "aliases win over synonyms"
    );
    assert_eq!(
        segments(
            r#"{"industry_attribute": "sector"}"#,
            with("sector", text("Retail"))
        ),
        ["industry-retail"]
    );
    assert!(segments("{}", with("industry", text("  "))).is_empty());
    assert!(segments("{}", with("industry", AttributeValue::Number(3.0))).is_empty());
}

#[test]
fn company_sizes_fall_into_fixed_bands() {
    let size = |value: AttributeValue| segments("{}", with("employees", value));
    assert_eq!(size(AttributeValue::Number(1.0)), ["size-1-9"]);
    assert_eq!(size(AttributeValue::Number(9.9)), ["size-1-9"]);
    assert_eq!(size(AttributeValue::Number(10.0)), ["size-10-49"]);
    assert_eq!(size(text("51-200")), ["size-50-249"]);
    assert_eq!(size(AttributeValue::Number(999.0)), ["size-250-999"]);
    assert_eq!(size(text("10,000+")), ["size-1000-plus"]);
    assert!(size(AttributeValue::Number(0.0)).is_empty());
    assert!(size(text("lots")).is_empty());
}

#[test]
fn age_comes_from_the_birth_date_relative_to_now_or_the_age_attribute() {
    let born = |y, m, d| AttributeValue::Date(from_ymd_hms(y, m, d, 0, 0, 0).unwrap());
    // DEFAULT_NOW is 2025-01-01.
    assert_eq!(
        segments("{}", with("birth_date", born(2000, 1, 1))),
        ["age-25-34"]
    );
    assert_eq!(
        segments("{}", with("birth_date", born(2000, 1, 2))),
        ["age-18-24"],
        "turns 25 tomorrow"
    );
    assert_eq!(
        segments("{}", with("birth_date", text("2007-01-02"))),
        ["age-under-18"]
    );
    assert_eq!(
        segments("{}", with("birth_date", born(1960, 1, 1))),
        ["age-65-plus"]
    );
    assert_eq!(
        segments("{}", with("age", AttributeValue::Number(44.9))),
        ["age-35-44"]
    );
    assert!(
        segments("{}", with("birth_date", born(2030, 1, 1))).is_empty(),
        "born in the future"
    );
    assert!(segments("{}", with("birth_date", text("01/02/1990"))).is_empty());
    assert!(segments("{}", with("age", AttributeValue::Number(-1.0))).is_empty());
    let later = Harness::<DemographicSegments>::new("{}")
        .now(from_ymd_hms(2040, 6, 1, 0, 0, 0).unwrap())
        .classify(with("birth_date", born(2000, 1, 1)).build())
        .unwrap();
    assert_eq!(later[0].segment, "age-35-44");
    assert!(later[0].reason.contains("aged 40"), "{}", later[0].reason);
}

#[test]
fn age_at_counts_whole_years_across_leap_days() {
    let at = |y, m, d| from_ymd_hms(y, m, d, 0, 0, 0).unwrap();
    assert_eq!(age_at(at(2000, 2, 29), at(2001, 2, 28)), Some(0));
    assert_eq!(age_at(at(2000, 2, 29), at(2001, 3, 1)), Some(1));
    assert_eq!(age_at(at(1969, 12, 31), at(1970, 1, 1)), Some(0));
    assert_eq!(age_at(at(1800, 1, 1), at(2025, 1, 1)), None);
}

#[test]
fn genders_map_through_words_and_aliases() {
    let gender = |config: &str, value: &str| segments(config, with("gender", text(value)));
    assert_eq!(gender("{}", "Female"), ["gender-female"]);
    assert_eq!(gender("{}", "m"), ["gender-male"]);
    assert_eq!(gender("{}", "Non-binary"), ["gender-other"]);
    assert!(gender("{}", "Prefer not to say").is_empty());
    assert!(
        gender("{}", "agender").is_empty(),
        "unlisted words name no segment"
    );
    assert_eq!(
        gender(r#"{"gender_aliases": {"agender": "other"}}"#, "Agender"),
        ["gender-other"]
    );
    assert!(gender(r#"{"gender_aliases": {"f": "none"}}"#, "F").is_empty());
}

#[test]
fn regions_come_from_the_profile_country() {
    let region =
        |config: &str, country: &str| segments(config, customer("c").location(country, "", ""));
    assert_eq!(region("{}", "DE"), ["region-europe"]);
    assert_eq!(region("{}", "us"), ["region-north-america"]);
    assert_eq!(region("{}", "BR"), ["region-latin-america"]);
    assert_eq!(region("{}", "JP"), ["region-asia-pacific"]);
    assert_eq!(region("{}", "AE"), ["region-middle-east"]);
    assert_eq!(region("{}", "NG"), ["region-africa"]);
    assert!(region("{}", "ZZ").is_empty());
    assert_eq!(
        region(r#"{"country_regions": {"tr": "middle-east"}}"#, "TR"),
        ["region-middle-east"]
    );
}

#[test]
fn nps_groups_follow_the_latest_rated_survey_response() {
    let nps = |config: &str, surveys: Vec<Interaction>| {
        segments(
            config,
            surveys
                .into_iter()
                .fold(customer("c"), CustomerBuilder::interaction),
        )
    };
    assert_eq!(nps("{}", vec![survey(1, Some(10))]), ["nps-promoter"]);
    assert_eq!(nps("{}", vec![survey(1, Some(9))]), ["nps-promoter"]);
    assert_eq!(nps("{}", vec![survey(1, Some(8))]), ["nps-passive"]);
    assert_eq!(nps("{}", vec![survey(1, Some(7))]), ["nps-passive"]);
    assert_eq!(nps("{}", vec![survey(1, Some(6))]), ["nps-detractor"]);
    assert_eq!(nps("{}", vec![survey(1, Some(0))]), ["nps-detractor"]);
    assert_eq!(
        nps("{}", vec![survey(30, Some(10)), survey(2, Some(3))]),
        ["nps-detractor"],
        "latest wins"
    );
    assert_eq!(
        nps("{}", vec![survey(30, Some(10)), survey(2, None)]),
        ["nps-promoter"],
        "unrated answers are skipped"
    );
    assert_eq!(
        nps("{}", vec![survey(30, Some(10)), survey(2, Some(11))]),
        ["nps-promoter"],
        "11 is not NPS"
    );
    assert!(nps("{}", vec![]).is_empty());
    assert!(
        nps(
            r#"{"nps": {"max_age_days": 20}}"#,
            vec![survey(30, Some(10))]
        )
        .is_empty()
    );

    let tagged = |rating: u8, which: &str| {
        interaction(InteractionKind::SurveyResponse)
            .at(DEFAULT_NOW - i64::from(rating) * MICROS_PER_DAY)
            .rating(rating)
            .attribute("survey", text(which))
            .build()
    };
    let filter = r#"{"nps": {"survey_attribute": "survey", "survey_contains": "NPS"}}"#;
    assert_eq!(
        nps(filter, vec![tagged(2, "CSAT Q1"), tagged(9, "nps-2024")]),
        ["nps-promoter"]
    );
}

#[test]
fn a_full_b2c_profile_gets_one_segment_per_family_and_disabled_families_none() {
    let person = customer("p")
        .attribute("birth_date", text("1990-06-15"))
        .attribute("gender", text("F"))
        .location("FR", "IDF", "Paris")
        .interaction(survey(3, Some(7)));
    let memberships = Harness::<DemographicSegments>::new("{}")
        .classify(person.clone().build())
        .unwrap();
    let ids: Vec<&str> = memberships.iter().map(|m| m.segment.as_str()).collect();
    assert_eq!(
        ids,
        ["age-25-34", "gender-female", "region-europe", "nps-passive"]
    );
    assert!(memberships.iter().all(|m| !m.reason.is_empty()));
    assert!(
        memberships[3].reason.contains("rated 7 of 10, 3 days ago"),
        "{}",
        memberships[3].reason
    );
    assert_eq!(
        segments(r#"{"disabled": ["age", "nps", "region"]}"#, person),
        ["gender-female"]
    );
}

#[test]
fn missing_attributes_give_no_segments_and_no_error() {
    assert!(segments("{}", customer("bare")).is_empty());
}

#[test]
fn empty_population_gives_no_model() {
    let h = Harness::<DemographicSegments>::new("{}");
    assert!(
        h.populate(Vec::<CustomerBuilder>::new())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn bad_configurations_are_invalid_config_naming_the_field() {
    for (config, field) in [
        (
            r#"{"industry_aliases": {"Mining": "extraction"}}"#,
            "industry_aliases.Mining",
        ),
        (
            r#"{"industry_aliases": {"SaaS": "software", "saas": "software"}}"#,
            "industry_aliases.saas",
        ),
        (r#"{"gender_aliases": {"x": "robot"}}"#, "gender_aliases.x"),
        (
            r#"{"country_regions": {"Turkey": "europe"}}"#,
            "country_regions.Turkey",
        ),
        (
            r#"{"country_regions": {"TR": "eurasia"}}"#,
            "country_regions.TR",
        ),
        (r#"{"disabled": ["shoe-size"]}"#, "disabled"),
        (r#"{"industry_attribute": " "}"#, "industry_attribute"),
        (
            r#"{"nps": {"survey_contains": "nps"}}"#,
            "nps.survey_contains",
        ),
        (r#"{"nps": {"max_age_days": -3}}"#, "nps.max_age_days"),
        (r#"{"segments": []}"#, "segments"),
    ] {
        match Harness::<DemographicSegments>::new(config).classify(customer("c").build()) {
            Err(PluginError::InvalidConfig(message)) => {
                assert!(message.contains(field), "{config}: {message}");
            }
            other => panic!("{config}: {other:?}"),
        }
    }
}
