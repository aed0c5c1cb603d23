//! Unit tests for the model's validation: one test per rule, each with the bad input it refuses
//! and the exact field it names.

use std::collections::BTreeMap;

use super::*;

// ---------------------------------------------------------------------------------------------
// Helpers

/// The field paths of a validation error, in the order they were reported.
fn error_fields<T: std::fmt::Debug>(result: Result<T, ValidationError>) -> Vec<String> {
    match result {
        Ok(v) => panic!("expected a validation error, got {v:?}"),
        Err(e) => e.errors.into_iter().map(|e| e.field).collect(),
    }
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse("t", s).unwrap()
}

fn now() -> Timestamp {
    ts("2024-05-01T12:00:00Z")
}

fn later() -> Timestamp {
    ts("2024-05-02T09:15:00Z")
}

fn cur(code: &str) -> Currency {
    Currency::parse("currency", code).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::new(minor, cur("USD"))
}

fn country(code: &str) -> Option<Country> {
    Some(Country::parse("country", code).unwrap())
}

fn phone(raw: &str, country_code: Option<&str>) -> Result<Phone, ValidationError> {
    Phone::parse("phone", raw, country_code.and_then(country))
}

fn ada_input() -> CustomerInput {
    CustomerInput {
        first_name: Some("Ada".into()),
        last_name: Some("Lovelace".into()),
        email: Some("ada@example.com".into()),
        ..Default::default()
    }
}

fn ada() -> Customer {
    Customer::new(CustomerId::generate(), ada_input(), now()).unwrap()
}

fn tag_set(tags: &[&str]) -> std::collections::BTreeSet<Tag> {
    tags.iter().map(|t| Tag::parse("tag", t).unwrap()).collect()
}

fn stage(name: &str, probability: u8, category: StageCategory) -> StageInput {
    StageInput {
        name: name.into(),
        probability,
        category,
    }
}

/// Lead (10%), Demo (40%), Proposal (70%), Won (100%, won), Lost (0%, lost).
fn sales_pipeline() -> Pipeline {
    let input = PipelineInput {
        lost_reasons: Vec::new(),
        name: "Sales".into(),
        stages: vec![
            stage("Lead", 10, StageCategory::Open),
            stage("Demo", 40, StageCategory::Open),
            stage("Proposal", 70, StageCategory::Open),
            stage("Won", 100, StageCategory::Won),
            stage("Lost", 0, StageCategory::Lost),
        ],
    };
    Pipeline::new(PipelineId::generate(), input, now()).unwrap()
}

fn stage_id(p: &Pipeline, name: &str) -> StageId {
    p.stage_named(name).unwrap().id
}

fn deal_input(p: &Pipeline, amount: Money) -> DealInput {
    DealInput {
        attributes: Default::default(),
        customer: CustomerId::generate(),
        pipeline: p.id,
        stage: None,
        title: "Analytical engine".into(),
        amount,
        expected_close: None,
        owner: None,
    }
}

/// A deal that entered the stages of `path` at the given seconds after a fixed start.
fn deal_through(p: &Pipeline, amount: Money, path: &[(&str, i64)]) -> Deal {
    let start = Timestamp::from_secs(1_700_000_000);
    let at = |secs: i64| start.plus_micros(secs * 1_000_000);
    let (first, entered) = path[0];
    let mut input = deal_input(p, amount);
    input.stage = Some(stage_id(p, first));
    let mut deal = Deal::new(DealId::generate(), input, p, at(entered)).unwrap();
    for &(name, entered) in &path[1..] {
        assert!(deal.move_to(stage_id(p, name), p, at(entered)).unwrap());
    }
    deal
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn validation_error_display_lists_every_field_and_nested_prefixes_paths() {
    let mut c = Checker::default();
    c.fail("name", "a non-empty text");
    c.fail("", "a stage");
    let err = c.finish().unwrap_err().nested("stages[1]");
    assert_eq!(
        err.to_string(),
        "stages[1].name: expected a non-empty text; stages[1]: expected a stage"
    );
    assert_eq!(Checker::default().finish(), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// Email

#[test]
fn email_is_trimmed_and_domain_lowercased_and_local_part_kept() {
    let e = Email::parse("email", "  Ada.Lovelace+CRM@Example.CO.UK \n").unwrap();
    assert_eq!(e.as_str(), "Ada.Lovelace+CRM@example.co.uk");
    assert_eq!(e.to_string(), "Ada.Lovelace+CRM@example.co.uk");
}

#[test]
fn email_without_at_is_refused_naming_the_field() {
    let err = Email::parse("contact.email", "ada.example.com").unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].field, "contact.email");
    assert!(err.errors[0].expected.contains("missing '@'"), "{err}");
}

#[test]
fn email_with_empty_or_bad_local_part_is_refused() {
    for raw in [
        "@example.com",
        "ada lovelace@example.com",
        "ada<x>@example.com",
        "a@b@example.com",
    ] {
        assert_eq!(
            error_fields(Email::parse("email", raw)),
            ["email"],
            "{raw:?}"
        );
    }
    let long_local = format!("{}@example.com", "a".repeat(65));
    assert_eq!(error_fields(Email::parse("email", &long_local)), ["email"]);
    let max_local = format!("{}@example.com", "a".repeat(64));
    assert!(Email::parse("email", &max_local).is_ok());
}

#[test]
fn email_with_bad_domain_is_refused() {
    for raw in [
        "ada@",
        "ada@example",
        "ada@-example.com",
        "ada@example-.com",
        "ada@exa_mple.com",
        "ada@example.com.",
        "ada@.example.com",
    ] {
        assert_eq!(
            error_fields(Email::parse("email", raw)),
            ["email"],
            "{raw:?}"
        );
    }
    let long_label = format!("ada@{}.com", "b".repeat(64));
    assert_eq!(error_fields(Email::parse("email", &long_label)), ["email"]);
}

#[test]
fn email_longer_than_254_characters_is_refused() {
    // 64 + 1 + domain; the domain is three labels and ".com".
    let address = |domain_len: usize| {
        let third = domain_len - 63 - 1 - 63 - 1 - 4;
        format!(
            "{}@{}.{}.{}.com",
            "a".repeat(64),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(third)
        )
    };
    let ok = address(189);
    assert_eq!(ok.len(), 254);
    assert_eq!(Email::parse("email", &ok).unwrap().as_str(), ok);
    let too_long = address(190);
    assert_eq!(too_long.len(), 255);
    let err = Email::parse("email", &too_long).unwrap_err();
    assert_eq!(err.errors[0].field, "email");
    assert!(err.errors[0].expected.contains("254"), "{err}");
}

#[test]
fn email_with_consecutive_or_edge_dots_is_refused() {
    for raw in [
        "ada..lovelace@example.com",
        ".ada@example.com",
        "ada.@example.com",
        "ada@example..com",
    ] {
        assert_eq!(
            error_fields(Email::parse("email", raw)),
            ["email"],
            "{raw:?}"
        );
    }
}

/// Regression: the domain was checked before lowercasing, so `İ` (which lowercases to `i` and a
/// combining dot) passed, and the stored address was refused when `Customer::apply` re-read it.
#[test]
fn email_normalized_form_parses_again_unchanged() {
    assert_eq!(
        error_fields(Email::parse("email", "ada@İstanbul.com")),
        ["email"]
    );
    let e = Email::parse("email", "Ada@ÄRGER.Example.DE").unwrap();
    assert_eq!(e.as_str(), "Ada@ärger.example.de");
    assert_eq!(Email::parse("email", e.as_str()).unwrap(), e);
}

/// One address whatever the Unicode spelling: NFC and NFD, fullwidth letters and the fullwidth
/// at sign are the same address as the plain one.
#[test]
fn email_spellings_of_one_address_normalize_to_one_form() {
    let plain = Email::parse("email", "ada@example.com").unwrap();
    for raw in [
        "ａｄａ@example.com",
        "ada＠example.com",
        "ada@ｅｘａｍｐｌｅ.com",
    ] {
        assert_eq!(Email::parse("email", raw).unwrap(), plain, "{raw}");
    }
    let nfc = Email::parse("email", "ren\u{e9}@example.fr").unwrap();
    let nfd = Email::parse("email", "rene\u{301}@example.fr").unwrap();
    assert_eq!(nfc, nfd);
    assert_eq!(nfc.as_str(), "ren\u{e9}@example.fr");
    // The normalized form parses again unchanged.
    assert_eq!(Email::parse("email", nfc.as_str()).unwrap(), nfc);
}

/// Invisible characters are refused, naming the character and where it is, never stripped.
#[test]
fn email_with_invisible_characters_is_refused_naming_the_character() {
    for (raw, code) in [
        ("ada\u{200B}@example.com", "U+200B at character 4"),
        ("\u{FEFF}ada@example.com", "U+FEFF at character 1"),
        ("ad\u{AD}a@example.com", "U+00AD at character 3"),
        ("ada@exa\u{200D}mple.com", "U+200D at character 8"),
        ("ada@example.com\u{202E}", "U+202E at character 16"),
        ("a\u{FE0F}da@example.com", "U+FE0F at character 2"),
    ] {
        let e = Email::parse("email", raw).unwrap_err();
        assert_eq!(e.errors[0].field, "email");
        assert!(e.errors[0].expected.contains(code), "{raw:?}: {e:?}");
    }
    // A hostile length is refused before normalization.
    assert_eq!(
        error_fields(Email::parse("email", &"\u{FDFA}".repeat(2000))),
        ["email"]
    );
}

/// An address stored under older rules (here with a zero-width space) stays readable from the
/// store, while the same text from JSON is refused.
#[test]
fn email_stored_under_older_rules_reads_back_but_json_is_validated() {
    let old = String::from("ada\u{200B}@example.com");
    let bytes = postcard::to_allocvec(&old).unwrap();
    let stored: Email = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(stored.as_str(), old);
    assert!(serde_json::from_value::<Email>(serde_json::json!(old)).is_err());
    let plain: Email = serde_json::from_value(serde_json::json!(" ada@EXAMPLE.com ")).unwrap();
    assert_eq!(plain.as_str(), "ada@example.com");
}

// ---------------------------------------------------------------------------------------------
// Phone

#[test]
fn phone_with_plus_is_e164_without_separators_whatever_the_country() {
    let p = phone("+49 (30) 123-456.78", Some("US")).unwrap();
    assert_eq!(p.as_str(), "+493012345678");
    assert_eq!(
        phone("+44 20/7123 4567", None).unwrap().as_str(),
        "+442071234567"
    );
}

#[test]
fn phone_with_00_prefix_becomes_e164() {
    assert_eq!(
        phone("0049 30 1234567", None).unwrap().as_str(),
        "+49301234567"
    );
    assert_eq!(
        phone("00 1 415 555 2671", Some("DE")).unwrap().as_str(),
        "+14155552671"
    );
}

#[test]
fn phone_national_number_gets_country_calling_code_and_drops_trunk_zero() {
    assert_eq!(
        phone("030 1234567", Some("DE")).unwrap().as_str(),
        "+49301234567"
    );
    assert_eq!(
        phone("020 7123 4567", Some("gb")).unwrap().as_str(),
        "+442071234567"
    );
    assert_eq!(
        phone("01 42 68 53 00", Some("FR")).unwrap().as_str(),
        "+33142685300"
    );
}

/// Numbers parsed on a thread are remembered (a write parses one more than once): the same
/// digits in another country, or with no country, are still parsed for that country.
#[test]
fn phone_parsed_again_is_the_same_and_the_country_still_decides() {
    let digits = "06 12 34 56 78";
    let fr = phone(digits, Some("FR")).unwrap();
    assert_eq!(fr.as_str(), "+33612345678");
    assert_eq!(phone(digits, Some("FR")).unwrap(), fr);
    assert_eq!(phone(&format!("  {digits} "), Some("FR")).unwrap(), fr);
    assert_eq!(phone(digits, Some("NL")).unwrap().as_str(), "+31612345678");
    assert!(
        phone(digits, None).is_err(),
        "a national number needs its country"
    );
    // More numbers than are remembered, then the first again.
    for (n, cc) in [
        ("030 1234567", "DE"),
        ("020 7123 4567", "GB"),
        ("(415) 555-2671", "US"),
        ("02 1234 5678", "IT"),
    ] {
        phone(n, Some(cc)).unwrap();
    }
    assert_eq!(phone(digits, Some("FR")).unwrap(), fr);
    assert_eq!(phone(digits, Some("NL")).unwrap().as_str(), "+31612345678");
}

#[test]
fn phone_north_american_national_number_drops_leading_1_only_on_eleven_digits() {
    assert_eq!(
        phone("(415) 555-2671", Some("US")).unwrap().as_str(),
        "+14155552671"
    );
    assert_eq!(
        phone("1-415-555-2671", Some("US")).unwrap().as_str(),
        "+14155552671"
    );
    assert_eq!(
        phone("416 555 0199", Some("CA")).unwrap().as_str(),
        "+14165550199"
    );
}

#[test]
fn phone_in_italy_keeps_the_leading_zero() {
    assert_eq!(
        phone("06 1234 5678", Some("IT")).unwrap().as_str(),
        "+390612345678"
    );
    assert_eq!(
        phone("0549 882 555", Some("SM")).unwrap().as_str(),
        "+3780549882555"
    );
}

#[test]
fn phone_in_russia_and_kazakhstan_drops_trunk_8() {
    assert_eq!(
        phone("8 (912) 345-67-89", Some("RU")).unwrap().as_str(),
        "+79123456789"
    );
    assert_eq!(
        phone("8 701 234 5678", Some("KZ")).unwrap().as_str(),
        "+77012345678"
    );
}

#[test]
fn phone_in_hungary_drops_trunk_06() {
    assert_eq!(
        phone("06 1 234 5678", Some("HU")).unwrap().as_str(),
        "+3612345678"
    );
    assert_eq!(
        phone("06 30 123 4567", Some("HU")).unwrap().as_str(),
        "+36301234567"
    );
}

#[test]
fn phone_national_number_without_a_country_is_refused_with_what_to_do() {
    let e = phone("030 / 123 456", None).unwrap_err();
    assert!(
        e.errors[0]
            .expected
            .contains("needs the customer's country"),
        "{e:?}"
    );
    assert!(phone("5550199", None).is_err());
    // The same digits with the country are a German number.
    assert_eq!(
        phone("030 / 123 456", Some("DE")).unwrap().as_str(),
        "+4930123456"
    );
}

#[test]
fn phone_that_no_country_uses_is_refused() {
    // Well-formed digits, but no such number: area code 555 does not exist in North America,
    // and +1 needs ten digits.
    for (raw, country) in [
        ("555-625-1199", Some("US")),
        ("+15550100", None),
        ("+999 1234 5678", None),
    ] {
        let e = phone(raw, country).unwrap_err();
        assert!(
            e.errors[0].expected.contains("not a valid number"),
            "{raw}: {e:?}"
        );
    }
    // The same written in other ways is one number.
    for raw in ["+1 212 555 0100", "001 (212) 555-0100", "+1.212.555.0100"] {
        assert_eq!(phone(raw, None).unwrap().as_str(), "+12125550100", "{raw}");
    }
    assert_eq!(
        phone("(212) 555-0100", Some("US")).unwrap().as_str(),
        "+12125550100"
    );
}

/// A number is checked in the customer's country first only to spare libphonenumber's search
/// among the regions sharing its calling code (`is_valid_number`): with any country beside it,
/// or none, the same numbers are accepted and normalized the same.
#[test]
fn phone_country_beside_an_international_number_changes_nothing_but_the_work() {
    let numbers = [
        "+1 613 555 0178",
        "+1 212 555 0100",
        "+1 876 927 1234",
        "+1 242 302 1234",
        "+1 555 625 1199",
        "+1 613 111 0000",
        "+44 20 7123 4567",
        "+44 1534 456789",
        "+44 1534 000000",
        "+7 701 234 5678",
        "+7 912 345 6789",
        "+7 000 345 6789",
        "+49 30 1234567",
    ];
    let countries = [
        "CA", "US", "JM", "BS", "GB", "JE", "GG", "KZ", "RU", "DE", "FR",
    ];
    let mut accepted = 0;
    for raw in numbers {
        let alone = phone(raw, None).ok();
        accepted += usize::from(alone.is_some());
        for c in countries {
            assert_eq!(phone(raw, Some(c)).ok(), alone, "{raw} in {c}");
        }
    }
    assert_eq!(
        phone("+1 613 555 0178", Some("CA")).unwrap().as_str(),
        "+16135550178"
    );
    // Both kinds are among them, or the comparison above proves little.
    assert!(
        (4..numbers.len() - 2).contains(&accepted),
        "{accepted} accepted"
    );
}

/// `contact::parse_international` skips libphonenumber's regular expressions only where they
/// cannot change the answer: wherever it gives a number, the full parse gives the same one. Checked
/// on every region's example numbers of every type, those numbers behind a national prefix, and
/// random digits behind every calling code (with and without the region's prefix in front).
#[test]
fn phone_parse_without_regular_expressions_agrees_with_libphonenumber() {
    use rlibphonenumber::{PHONE_NUMBER_UTIL as UTIL, PhoneNumber, PhoneNumberType};
    let types = [
        PhoneNumberType::FixedLine,
        PhoneNumberType::Mobile,
        PhoneNumberType::TollFree,
        PhoneNumberType::PremiumRate,
        PhoneNumberType::SharedCost,
        PhoneNumberType::VoIP,
        PhoneNumberType::PersonalNumber,
        PhoneNumberType::Pager,
        PhoneNumberType::UAN,
        PhoneNumberType::VoiceMail,
    ];
    let mut inputs: Vec<String> = Vec::new();
    let mut examples = Vec::new();
    for region in UTIL.get_supported_regions() {
        for t in types {
            if let Ok(n) = UTIL.get_example_number_for_type_and_region(region, t) {
                examples.push(n);
            }
        }
    }
    for code in UTIL.get_supported_global_network_calling_codes() {
        if let Ok(n) = UTIL.get_example_number_for_non_geo_entity(code) {
            examples.push(n);
        }
    }
    assert!(examples.len() > 1_000, "{} example numbers", examples.len());
    for n in &examples {
        let national = n.national_number.to_string();
        inputs.push(format!("{}{national}", n.country_code));
        for prefix in ["0", "1", "8", "06", "00"] {
            inputs.push(format!("{}{prefix}{national}", n.country_code));
        }
    }
    // Random digits: a fixed linear congruential sequence, so a failure reproduces.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    for code in UTIL.get_supported_calling_codes() {
        for len in 1..=14 {
            for _ in 0..40 {
                let digits: String = (0..len)
                    .map(|_| char::from(b'0' + (next() % 10) as u8))
                    .collect();
                inputs.push(format!("{code}{digits}"));
                inputs.push(format!("{code}{}{digits}", next() % 10));
            }
        }
    }
    let mut fast = 0;
    let mut valid = 0;
    for digits in &inputs {
        let full = PhoneNumber::parse(format!("+{digits}"), None).ok();
        if let Some(number) = contact::parse_international(digits) {
            fast += 1;
            valid += usize::from(number.is_valid());
            assert_eq!(Some(&number), full.as_ref(), "+{digits}");
        }
    }
    // The fast path is taken often, for valid numbers too, or the comparison proves little.
    assert!(fast > inputs.len() / 4, "{fast} of {}", inputs.len());
    assert!(valid > 1_000, "{valid} valid");
    // North America: plain prefix `1`, the webhook benchmark's numbers.
    assert!(contact::parse_international("16135550178").is_some());
    // A pattern that is not plain digits, or a number starting with its digits: the full parse.
    assert!(contact::parse_international("4402071234567").is_none());
    assert!(contact::parse_international("541123456789").is_none());
}

#[test]
fn phone_too_short_is_refused() {
    assert_eq!(error_fields(phone("123", None)), ["phone"]);
    assert_eq!(error_fields(phone("+49 123", None)), ["phone"]);
    assert_eq!(error_fields(phone("0049 1234", None)), ["phone"]);
    assert_eq!(error_fields(phone("", Some("DE"))), ["phone"]);
    assert_eq!(error_fields(phone("1234", Some("DE"))), ["phone"]);
}

#[test]
fn phone_too_long_is_refused() {
    assert_eq!(error_fields(phone("+1234567890123456", None)), ["phone"]);
    assert_eq!(
        error_fields(phone("1234567890123456", Some("DE"))),
        ["phone"]
    );
    assert_eq!(
        error_fields(phone("123456789012345", Some("DE"))),
        ["phone"]
    );
    assert_eq!(error_fields(phone("+123456789012345", None)), ["phone"]);
    // Hostile length is refused before the parser sees it.
    assert_eq!(
        error_fields(phone(&"1 ".repeat(10_000), Some("DE"))),
        ["phone"]
    );
}

#[test]
fn phone_with_letters_or_misplaced_plus_is_refused() {
    for raw in [
        "+49 30 CALL-NOW",
        "030 1234x",
        "49+301234567",
        "++49301234567",
        "+0301234567",
    ] {
        assert_eq!(error_fields(phone(raw, Some("DE"))), ["phone"], "{raw:?}");
    }
}

/// Regression: a national number could normalize to an E.164 number shorter than the international
/// minimum, which `Customer::apply` then refused when it re-read the stored phone, so the customer
/// could never be updated again.
#[test]
fn phone_normalized_from_national_form_parses_again_unchanged() {
    assert_eq!(error_fields(phone("012345", Some("DE"))), ["phone"]);
    for (raw, cc) in [
        ("030 1234567", "DE"),
        ("(415) 555-2671", "US"),
        ("06 1234 5678", "IT"),
        ("06 1 234 5678", "HU"),
        ("8 912 345 67 89", "RU"),
    ] {
        let first = phone(raw, Some(cc)).unwrap();
        let again = phone(first.as_str(), Some(cc)).unwrap();
        assert_eq!(again, first, "{raw} in {cc}");
    }
}

// ---------------------------------------------------------------------------------------------
// Country and currency

#[test]
fn country_code_is_case_insensitive_and_knows_its_calling_code() {
    let de = Country::parse("country", " de ").unwrap();
    assert_eq!(de.code(), "DE");
    assert_eq!(de.to_string(), "DE");
    assert_eq!(de.calling_code(), 49);
    assert_eq!(country("us").unwrap().calling_code(), 1);
    assert_eq!(country("VA").unwrap().calling_code(), 39);
}

#[test]
fn unknown_country_code_is_refused() {
    for raw in ["XX", "DEU", "D", "", "🇩🇪"] {
        assert_eq!(
            error_fields(Country::parse("location.country", raw)),
            ["location.country"],
            "{raw:?}"
        );
    }
}

#[test]
fn currency_code_is_case_insensitive() {
    let c = Currency::parse("currency", " eur ").unwrap();
    assert_eq!(c.code(), "EUR");
    assert_eq!(c.to_string(), "EUR");
    assert_eq!("usd".parse::<Currency>().unwrap(), cur("USD"));
}

#[test]
fn unknown_currency_code_is_refused() {
    for raw in ["ABC", "US", "USDD", "", "XAU"] {
        assert_eq!(
            error_fields(Currency::parse("amount.currency", raw)),
            ["amount.currency"],
            "{raw:?}"
        );
    }
}

#[test]
fn currency_knows_its_minor_digits() {
    assert_eq!(cur("USD").minor_digits(), 2);
    assert_eq!(cur("JPY").minor_digits(), 0);
    assert_eq!(cur("KWD").minor_digits(), 3);
    assert_eq!(cur("BHD").minor_digits(), 3);
    assert_eq!(cur("CLP").minor_digits(), 0);
}

// ---------------------------------------------------------------------------------------------
// Money

#[test]
fn money_parses_decimals_into_exact_minor_units() {
    let parse = |s: &str, c: &str| Money::parse_decimal("amount", s, cur(c)).unwrap().minor;
    assert_eq!(parse("12.34", "USD"), 1234);
    assert_eq!(parse("12.3", "USD"), 1230);
    assert_eq!(parse("12", "USD"), 1200);
    assert_eq!(parse(" 0.07 ", "USD"), 7);
    assert_eq!(parse(".5", "USD"), 50);
    assert_eq!(parse("1234", "JPY"), 1234);
    assert_eq!(parse("1.234", "KWD"), 1234);
    assert_eq!(parse("0.5", "KWD"), 500);
}

#[test]
fn money_never_goes_through_floats() {
    let parse = |s: &str| Money::parse_decimal("amount", s, cur("USD")).unwrap();
    let sum = parse("0.1").checked_add(parse("0.2")).unwrap();
    assert_eq!(sum, parse("0.3"));
    assert_eq!(sum.minor, 30);
    // 1.15 * 100.0 is 114.999... in f64; 2^53 + 1 cents is not representable in f64.
    assert_eq!(parse("1.15").minor, 115);
    assert_eq!(parse("90071992547409.93").minor, 9_007_199_254_740_993);
}

#[test]
fn money_parses_negative_amounts() {
    let parse = |s: &str| Money::parse_decimal("amount", s, cur("USD")).unwrap().minor;
    assert_eq!(parse("-12.34"), -1234);
    assert_eq!(parse("-0.05"), -5);
    assert_eq!(parse("-0"), 0);
}

#[test]
fn money_refuses_more_decimals_than_currency_has() {
    for (raw, code) in [
        ("12.345", "USD"),
        ("12.340", "USD"),
        ("1.5", "JPY"),
        ("1.2345", "KWD"),
    ] {
        let err = Money::parse_decimal("deal.amount", raw, cur(code)).unwrap_err();
        assert_eq!(err.errors.len(), 1);
        assert_eq!(err.errors[0].field, "deal.amount", "{raw} {code}");
        let digits = cur(code).minor_digits();
        assert!(
            err.errors[0]
                .expected
                .contains(&format!("at most {digits} decimal places for {code}")),
            "{err}"
        );
    }
}

#[test]
fn money_refuses_amounts_that_overflow_i64() {
    let parse = |s: &str| Money::parse_decimal("amount", s, cur("USD"));
    assert_eq!(parse("92233720368547758.07").unwrap().minor, i64::MAX);
    assert_eq!(error_fields(parse("92233720368547758.08")), ["amount"]);
    assert_eq!(error_fields(parse("99999999999999999999")), ["amount"]);
    assert_eq!(error_fields(parse("-99999999999999999999")), ["amount"]);
}

#[test]
fn money_refuses_garbage() {
    for raw in [
        "", " ", ".", "-", "-.", "1.2.3", "1,50", "1e3", "abc", "+1", "--1", "1 000", "0x10", "١٢",
    ] {
        assert_eq!(
            error_fields(Money::parse_decimal("amount", raw, cur("USD"))),
            ["amount"],
            "{raw:?}"
        );
    }
}

#[test]
fn money_displays_with_the_currency_minor_digits() {
    assert_eq!(usd(1234).to_string(), "12.34 USD");
    assert_eq!(usd(5).to_string(), "0.05 USD");
    assert_eq!(usd(-5).to_string(), "-0.05 USD");
    assert_eq!(usd(0).to_string(), "0.00 USD");
    assert_eq!(Money::new(1234, cur("JPY")).to_string(), "1234 JPY");
    assert_eq!(Money::new(-1005, cur("KWD")).to_string(), "-1.005 KWD");
    assert_eq!(usd(i64::MIN).to_string(), "-92233720368547758.08 USD");
}

#[test]
fn money_display_parses_back_to_the_same_amount() {
    for m in [
        usd(1234),
        usd(-5),
        Money::new(7, cur("KWD")),
        Money::new(-42, cur("JPY")),
    ] {
        let shown = m.to_string();
        let (amount, code) = shown.split_once(' ').unwrap();
        assert_eq!(
            Money::parse_decimal("amount", amount, cur(code)).unwrap(),
            m
        );
    }
}

#[test]
fn mixed_currency_addition_is_refused() {
    let eur = Money::new(100, cur("EUR"));
    assert_eq!(
        usd(100).checked_add(eur),
        Err(MoneyError::MixedCurrencies(cur("USD"), cur("EUR")))
    );
}

#[test]
fn money_addition_that_overflows_is_refused() {
    assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(MoneyError::Overflow));
    assert_eq!(
        usd(i64::MIN).checked_add(usd(-1)),
        Err(MoneyError::Overflow)
    );
    assert_eq!(usd(i64::MAX).checked_add(usd(-1)), Ok(usd(i64::MAX - 1)));
    assert_eq!(Money::zero(cur("USD")).checked_add(usd(250)), Ok(usd(250)));
}

// ---------------------------------------------------------------------------------------------
// Time

#[test]
fn timestamp_with_offset_is_converted_to_utc() {
    let t = Timestamp::parse("occurred_at", "2024-05-01T14:30:00+02:00").unwrap();
    assert_eq!(t.as_micros(), 1_714_566_600_000_000);
    assert_eq!(t.to_string(), "2024-05-01T12:30:00Z");
    let west = Timestamp::parse("occurred_at", "2024-04-30T23:30:00-13:00").unwrap();
    assert_eq!(west.to_string(), "2024-05-01T12:30:00Z");
    assert_eq!(west, t);
}

#[test]
fn timestamp_keeps_microseconds() {
    let t = ts("2024-05-01T12:30:00.123456Z");
    assert_eq!(t.as_micros(), 1_714_566_600_123_456);
    assert_eq!(t.to_string(), "2024-05-01T12:30:00.123456Z");
    // Nanoseconds beyond the microsecond are dropped, not rounded.
    assert_eq!(ts("2024-05-01T12:30:00.1234569Z"), t);
}

/// Regression: sub-microsecond digits before 1970 were truncated toward zero, which moved the
/// instant forward (here into the next day and year).
#[test]
fn timestamp_before_1970_drops_sub_microsecond_digits_downwards() {
    let t = ts("1969-12-31T23:59:59.9999995Z");
    assert_eq!(t.as_micros(), -1);
    assert_eq!(t.date(), Date::from_days(-1));
}

#[test]
fn timestamp_from_bare_date_is_midnight_utc() {
    let t = ts("2024-05-01");
    assert_eq!(t.as_micros(), 1_714_521_600_000_000);
    assert_eq!(t.to_string(), "2024-05-01T00:00:00Z");
    assert_eq!(t.date(), Date::from_ymd(2024, 5, 1).unwrap());
}

#[test]
fn timestamp_display_parses_back_to_the_same_instant() {
    for micros in [
        0,
        1,
        -1,
        1_714_566_600_123_456,
        -5_364_662_400_000_000,
        253_402_300_799_999_999,
    ] {
        let t = Timestamp::from_micros(micros);
        assert_eq!(ts(&t.to_string()), t, "{t}");
    }
    assert_eq!(
        Timestamp::from_micros(-1).to_string(),
        "1969-12-31T23:59:59.999999Z"
    );
}

#[test]
fn timestamp_that_is_not_a_real_time_is_refused() {
    for raw in [
        "2024-02-30T00:00:00Z",
        "2023-02-29",
        "2024-05-01T24:00:00Z",
        "2024-05-01T12:00:00",
        "yesterday",
        "",
        "1714566600",
    ] {
        assert_eq!(
            error_fields(Timestamp::parse("occurred_at", raw)),
            ["occurred_at"],
            "{raw:?}"
        );
    }
}

#[test]
fn date_parses_and_displays_as_yyyy_mm_dd() {
    let d = Date::parse("birth_date", " 2024-02-29 ").unwrap();
    assert_eq!(d.days(), 19_782);
    assert_eq!(d.to_string(), "2024-02-29");
    assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
    assert_eq!(Date::from_days(-1).to_string(), "1969-12-31");
    let old: Date = "1815-12-10".parse().unwrap();
    assert_eq!(old.to_string(), "1815-12-10");
    assert_eq!(Timestamp::start_of(d).date(), d);
    assert_eq!(Timestamp::from_micros(-1).date(), Date::from_days(-1));
}

#[test]
fn date_that_is_not_on_the_calendar_is_refused() {
    for raw in [
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-04-31",
        "2024-1-01",
        "2024/01/01",
        "20240101",
        "2024-01-0a",
        "+024-01-01",
        "",
    ] {
        assert_eq!(
            error_fields(Date::parse("birth_date", raw)),
            ["birth_date"],
            "{raw:?}"
        );
    }
    assert_eq!(error_fields(Date::from_ymd(2024, 13, 1)), ["date"]);
    assert_eq!(error_fields(Date::from_ymd(2024, 2, 30)), ["date"]);
}

// ---------------------------------------------------------------------------------------------
// Tenants

#[test]
fn tenant_slug_allows_lowercase_digits_and_inner_hyphens() {
    assert_eq!(TenantSlug::parse("acme-2").unwrap().as_str(), "acme-2");
    assert!(TenantSlug::parse(&"a".repeat(63)).is_ok());
    for raw in [
        "",
        "-acme",
        "acme-",
        "Acme",
        "ac me",
        "acme_2",
        "ä",
        &"a".repeat(64),
    ] {
        assert_eq!(error_fields(TenantSlug::parse(raw)), ["slug"], "{raw:?}");
    }
}

#[test]
fn tenant_name_defaults_to_slug_and_errors_are_collected() {
    let input = TenantInput {
        slug: "acme".into(),
        name: Some("  ".into()),
        industry: Some(" retail ".into()),
    };
    let t = Tenant::new(input, now()).unwrap();
    assert_eq!(
        (t.name.as_str(), t.industry.as_deref()),
        ("acme", Some("retail"))
    );
    let bad = TenantInput {
        slug: "Acme".into(),
        name: Some("x".repeat(201)),
        industry: Some("x".repeat(101)),
    };
    assert_eq!(
        error_fields(Tenant::new(bad, now())),
        ["slug", "name", "industry"]
    );
}

// ---------------------------------------------------------------------------------------------
// Tags, attributes, external ids

#[test]
fn tag_is_trimmed_and_lowercased() {
    assert_eq!(
        Tag::parse("tag", "  VIP Customer ").unwrap().as_str(),
        "vip customer"
    );
    assert_eq!(Tag::parse("tag", "ÄRGER").unwrap().to_string(), "ärger");
}

#[test]
fn tag_length_counts_characters_and_refuses_commas_and_control_characters() {
    assert!(Tag::parse("tag", &"a".repeat(64)).is_ok());
    assert!(Tag::parse("tag", &"é".repeat(64)).is_ok());
    for raw in ["", "   ", "a,b", "a\tb", "a\u{0}b", &"a".repeat(65)] {
        assert_eq!(
            error_fields(Tag::parse("tags[3]", raw)),
            ["tags[3]"],
            "{raw:?}"
        );
    }
}

#[test]
fn attribute_key_is_lowercase_ascii_starting_with_a_letter() {
    assert_eq!(
        attribute_key("k", " ltv.score-2_x ").unwrap(),
        "ltv.score-2_x"
    );
    assert!(attribute_key("k", &"a".repeat(64)).is_ok());
    for raw in ["", "2fa", "_x", "Order", "a b", "a/b", "é", &"a".repeat(65)] {
        assert_eq!(
            error_fields(attribute_key("attributes.x", raw)),
            ["attributes.x"],
            "{raw:?}"
        );
    }
}

#[test]
fn attribute_number_must_be_finite() {
    for n in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(
            error_fields(AttributeValue::Number(n).validate("attributes.score")),
            ["attributes.score"]
        );
    }
    assert!(AttributeValue::Number(f64::MAX).validate("a").is_ok());
    assert!(AttributeValue::Number(-0.0).validate("a").is_ok());
}

#[test]
fn attribute_text_is_at_most_4096_characters() {
    assert!(AttributeValue::Text("é".repeat(4096)).validate("a").is_ok());
    assert_eq!(
        error_fields(AttributeValue::Text("x".repeat(4097)).validate("attributes.note")),
        ["attributes.note"]
    );
}

#[test]
fn external_id_names_the_bad_part() {
    let x = ExternalId::new("external_ids[0]", " shopify ", " 12345 ").unwrap();
    assert_eq!((x.source.as_str(), x.id.as_str()), ("shopify", "12345"));
    assert_eq!(
        error_fields(ExternalId::new("external_ids[0]", "Shop ify", "1")),
        ["external_ids[0].source"]
    );
    assert_eq!(
        error_fields(ExternalId::new("external_ids[0]", "shopify", " ")),
        ["external_ids[0].id"]
    );
    assert_eq!(
        error_fields(ExternalId::new(
            "external_ids[2]",
            "shopify",
            &"9".repeat(257)
        )),
        ["external_ids[2].id"]
    );
}

// ---------------------------------------------------------------------------------------------
// Customers

#[test]
fn person_name_is_derived_from_first_and_last_name() {
    let c = ada();
    assert_eq!(c.name, "Ada Lovelace");
    assert_eq!(c.first_name.as_deref(), Some("Ada"));
    let only_last = CustomerInput {
        last_name: Some(" Lovelace ".into()),
        ..Default::default()
    };
    let c = Customer::new(CustomerId::generate(), only_last, now()).unwrap();
    assert_eq!(c.name, "Lovelace");
    let explicit = CustomerInput {
        name: Some("Countess of Lovelace".into()),
        ..ada_input()
    };
    let c = Customer::new(CustomerId::generate(), explicit, now()).unwrap();
    assert_eq!(c.name, "Countess of Lovelace");
}

#[test]
fn customer_without_a_name_is_named_after_email_then_phone() {
    let by_email = CustomerInput {
        email: Some("Ada@EXAMPLE.com".into()),
        phone: Some("+44 20 7123 4567".into()),
        ..Default::default()
    };
    let c = Customer::new(CustomerId::generate(), by_email, now()).unwrap();
    assert_eq!(c.name, "Ada@example.com");
    let by_phone = CustomerInput {
        phone: Some("020 7123 4567".into()),
        country: Some("gb".into()),
        ..Default::default()
    };
    let c = Customer::new(CustomerId::generate(), by_phone, now()).unwrap();
    assert_eq!(c.name, "+442071234567");
    assert_eq!(c.phone.unwrap().as_str(), "+442071234567");
    assert_eq!(c.location.country, country("GB"));
}

#[test]
fn customer_gets_defaults_version_one_and_creation_time() {
    let c = ada();
    assert_eq!(c.kind, CustomerKind::Person);
    assert_eq!(c.lifecycle, LifecycleStage::Lead);
    assert!(!c.marketing_consent);
    assert_eq!((c.created_at, c.updated_at, c.version), (now(), now(), 1));
}

#[test]
fn customer_without_any_identity_is_refused() {
    assert_eq!(
        error_fields(Customer::new(
            CustomerId::generate(),
            CustomerInput::default(),
            now()
        )),
        ["name"]
    );
    let blank = CustomerInput {
        name: Some("  ".into()),
        email: Some(" ".into()),
        ..Default::default()
    };
    assert_eq!(
        error_fields(Customer::new(CustomerId::generate(), blank, now())),
        ["name"]
    );
}

#[test]
fn organization_with_first_name_or_parent_organization_is_refused() {
    let org = |input: CustomerInput| {
        Customer::new(
            CustomerId::generate(),
            CustomerInput {
                kind: CustomerKind::Organization,
                name: Some("Analytical Engines Ltd".into()),
                ..input
            },
            now(),
        )
    };
    assert_eq!(
        org(CustomerInput::default()).unwrap().name,
        "Analytical Engines Ltd"
    );
    let with_first = CustomerInput {
        first_name: Some("Ada".into()),
        ..Default::default()
    };
    assert_eq!(error_fields(org(with_first)), ["first_name"]);
    let with_last = CustomerInput {
        last_name: Some("Lovelace".into()),
        ..Default::default()
    };
    assert_eq!(error_fields(org(with_last)), ["first_name"]);
    let with_parent = CustomerInput {
        organization: Some(CustomerId::generate()),
        ..Default::default()
    };
    assert_eq!(error_fields(org(with_parent)), ["organization"]);
}

#[test]
fn person_may_belong_to_an_organization() {
    let org = CustomerId::generate();
    let input = CustomerInput {
        organization: Some(org),
        ..ada_input()
    };
    let c = Customer::new(CustomerId::generate(), input, now()).unwrap();
    assert_eq!(c.organization, Some(org));
}

#[test]
fn customer_with_two_external_ids_of_one_source_is_refused() {
    let xid = |source: &str, id: &str| ExternalId {
        source: source.into(),
        id: id.into(),
    };
    let input = CustomerInput {
        external_ids: vec![
            xid("shopify", "1"),
            xid("stripe", "cus_1"),
            xid(" shopify", "2"),
        ],
        ..ada_input()
    };
    assert_eq!(
        error_fields(Customer::new(CustomerId::generate(), input, now())),
        ["external_ids[2]"]
    );
}

#[test]
fn customer_with_more_than_16_external_ids_is_refused() {
    let ids = |n: usize| {
        (0..n)
            .map(|i| ExternalId {
                source: format!("system{i}"),
                id: i.to_string(),
            })
            .collect::<Vec<_>>()
    };
    let ok = CustomerInput {
        external_ids: ids(16),
        ..ada_input()
    };
    assert_eq!(
        Customer::new(CustomerId::generate(), ok, now())
            .unwrap()
            .external_ids
            .len(),
        16
    );
    let too_many = CustomerInput {
        external_ids: ids(17),
        ..ada_input()
    };
    assert_eq!(
        error_fields(Customer::new(CustomerId::generate(), too_many, now())),
        ["external_ids"]
    );
}

#[test]
fn customer_with_more_than_100_distinct_tags_is_refused() {
    let tags = |n: usize| (0..n).map(|i| format!("tag-{i}")).collect::<Vec<_>>();
    let too_many = CustomerInput {
        tags: tags(101),
        ..ada_input()
    };
    assert_eq!(
        error_fields(Customer::new(CustomerId::generate(), too_many, now())),
        ["tags"]
    );
    // Tags that normalize to the same text count once.
    let mut dupes = tags(100);
    dupes.push("TAG-0".into());
    dupes.push(" tag-1 ".into());
    let input = CustomerInput {
        tags: dupes,
        ..ada_input()
    };
    assert_eq!(
        Customer::new(CustomerId::generate(), input, now())
            .unwrap()
            .tags
            .len(),
        100
    );
}

#[test]
fn customer_with_more_than_200_attributes_is_refused() {
    let attrs = |n: usize| {
        (0..n)
            .map(|i| (format!("a{i}"), AttributeValue::Boolean(true)))
            .collect::<BTreeMap<_, _>>()
    };
    let ok = CustomerInput {
        attributes: attrs(200),
        ..ada_input()
    };
    assert!(Customer::new(CustomerId::generate(), ok, now()).is_ok());
    let too_many = CustomerInput {
        attributes: attrs(201),
        ..ada_input()
    };
    assert_eq!(
        error_fields(Customer::new(CustomerId::generate(), too_many, now())),
        ["attributes"]
    );
}

#[test]
fn customer_reports_every_bad_field_at_once() {
    let input = CustomerInput {
        first_name: Some("Ada\u{7}".into()),
        email: Some("ada.example.com".into()),
        phone: Some("12".into()),
        country: Some("XX".into()),
        external_ids: vec![ExternalId {
            source: "Shop ify".into(),
            id: "1".into(),
        }],
        tags: vec!["vip".into(), "a,b".into()],
        attributes: BTreeMap::from([
            ("Bad Key".to_owned(), AttributeValue::Boolean(true)),
            ("score".to_owned(), AttributeValue::Number(f64::NAN)),
        ]),
        region: Some("r".repeat(201)),
        gender: Some("g".repeat(33)),
        owner: Some("own\u{0}er".into()),
        ..Default::default()
    };
    assert_eq!(
        error_fields(Customer::new(CustomerId::generate(), input, now())),
        [
            "first_name",
            "country",
            "email",
            "phone",
            "name",
            "external_ids[0].source",
            "tags[1]",
            "attributes.Bad Key",
            "attributes.score",
            "region",
            "gender",
            "owner",
        ]
    );
}

#[test]
fn customer_phone_uses_the_customer_country() {
    let input = CustomerInput {
        phone: Some("030 1234567".into()),
        country: Some("de".into()),
        ..ada_input()
    };
    let c = Customer::new(CustomerId::generate(), input, now()).unwrap();
    assert_eq!(c.phone.unwrap().as_str(), "+49301234567");
}

#[test]
fn lifecycle_stage_parses_kebab_case_case_insensitively() {
    assert_eq!(
        LifecycleStage::parse("lifecycle", " Marketing_Qualified ").unwrap(),
        LifecycleStage::MarketingQualified
    );
    assert_eq!(
        LifecycleStage::parse("lifecycle", "CHURNED").unwrap(),
        LifecycleStage::Churned
    );
    for l in LifecycleStage::ALL {
        assert_eq!(LifecycleStage::parse("lifecycle", l.as_str()).unwrap(), l);
        assert_eq!(serde_json::to_string(&l).unwrap(), format!("\"{l}\""));
    }
    let codes: std::collections::BTreeSet<u8> =
        LifecycleStage::ALL.iter().map(|l| l.code()).collect();
    assert_eq!(codes.len(), LifecycleStage::ALL.len());
    for raw in ["vip", "", "marketing qualified"] {
        assert_eq!(
            error_fields(LifecycleStage::parse("lifecycle", raw)),
            ["lifecycle"],
            "{raw:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Customer updates

#[test]
fn customer_patch_with_no_change_keeps_version() {
    let mut c = ada();
    let before = c.clone();
    let patch = CustomerPatch {
        email: Some(Some("ada@EXAMPLE.COM".into())),
        first_name: Some(Some(" Ada ".into())),
        ..Default::default()
    };
    assert_eq!(c.apply(patch, later()).unwrap(), Vec::<&str>::new());
    assert_eq!(c, before);
    assert_eq!((c.version, c.updated_at), (1, now()));
}

#[test]
fn customer_patch_bumps_version_and_lists_changed_fields() {
    let mut c = ada();
    let patch = CustomerPatch {
        email: Some(Some("ada@analytical.example".into())),
        lifecycle: Some(LifecycleStage::Customer),
        marketing_consent: Some(true),
        ..Default::default()
    };
    assert_eq!(
        c.apply(patch, later()).unwrap(),
        ["email", "lifecycle", "marketing_consent", "consents"]
    );
    assert_eq!(c.email.as_ref().unwrap().as_str(), "ada@analytical.example");
    assert_eq!(c.lifecycle, LifecycleStage::Customer);
    assert!(c.marketing_consent);
    assert_eq!((c.version, c.created_at, c.updated_at), (2, now(), later()));
    assert_eq!(c.name, "Ada Lovelace");
}

#[test]
fn customer_patch_clears_fields_with_some_none() {
    let mut c = Customer::new(
        CustomerId::generate(),
        CustomerInput {
            phone: Some("+49 30 1234567".into()),
            city: Some("London".into()),
            ..ada_input()
        },
        now(),
    )
    .unwrap();
    let patch = CustomerPatch {
        phone: Some(None),
        city: Some(None),
        ..Default::default()
    };
    assert_eq!(c.apply(patch, later()).unwrap(), ["phone", "location"]);
    assert_eq!((c.phone.as_ref(), c.location.city.as_ref()), (None, None));
    assert_eq!(c.version, 2);
}

#[test]
fn customer_patch_of_first_or_last_name_rederives_the_name() {
    let mut c = ada();
    let patch = CustomerPatch {
        last_name: Some(None),
        ..Default::default()
    };
    assert_eq!(c.apply(patch, later()).unwrap(), ["name", "last_name"]);
    assert_eq!((c.name.as_str(), c.last_name.as_deref()), ("Ada", None));
    let patch = CustomerPatch {
        first_name: Some(Some("Augusta Ada".into())),
        name: Some(Some("Countess of Lovelace".into())),
        ..Default::default()
    };
    assert_eq!(c.apply(patch, later()).unwrap(), ["name", "first_name"]);
    assert_eq!(c.name, "Countess of Lovelace");
    assert_eq!(c.version, 3);
}

#[test]
fn customer_patch_adds_and_removes_tags_case_insensitively() {
    let mut c = Customer::new(
        CustomerId::generate(),
        CustomerInput {
            tags: vec!["VIP".into(), "newsletter".into()],
            ..ada_input()
        },
        now(),
    )
    .unwrap();
    assert_eq!(c.tags, tag_set(&["vip", "newsletter"]));
    let patch = CustomerPatch {
        add_tags: vec![" Churn-Risk ".into(), "newsletter".into()],
        remove_tags: vec!["vip ".into()],
        ..Default::default()
    };
    assert_eq!(c.apply(patch, later()).unwrap(), ["tags"]);
    assert_eq!(c.tags, tag_set(&["churn-risk", "newsletter"]));
    assert_eq!(c.version, 2);
}

#[test]
fn customer_patch_sets_and_removes_attributes() {
    let mut c = Customer::new(
        CustomerId::generate(),
        CustomerInput {
            attributes: BTreeMap::from([("plan".to_owned(), AttributeValue::Text("pro".into()))]),
            ..ada_input()
        },
        now(),
    )
    .unwrap();
    let patch = CustomerPatch {
        remove_attributes: vec!["plan".into()],
        set_attributes: BTreeMap::from([("seats".to_owned(), AttributeValue::Number(12.0))]),
        ..Default::default()
    };
    assert_eq!(c.apply(patch, later()).unwrap(), ["attributes"]);
    assert_eq!(
        c.attributes,
        BTreeMap::from([("seats".to_owned(), AttributeValue::Number(12.0))])
    );
    let bad = CustomerPatch {
        set_attributes: BTreeMap::from([("seats".to_owned(), AttributeValue::Number(f64::NAN))]),
        ..Default::default()
    };
    assert_eq!(error_fields(c.apply(bad, later())), ["attributes.seats"]);
}

#[test]
fn customer_patch_replaces_external_id_of_the_same_source() {
    let mut c = ada();
    let xid = |source: &str, id: &str| ExternalId {
        source: source.into(),
        id: id.into(),
    };
    let patch = CustomerPatch {
        add_external_ids: vec![xid("shopify", "1")],
        ..Default::default()
    };
    assert_eq!(c.apply(patch, later()).unwrap(), ["external_ids"]);
    let patch = CustomerPatch {
        add_external_ids: vec![xid("shopify", "2")],
        ..Default::default()
    };
    assert_eq!(c.apply(patch, later()).unwrap(), ["external_ids"]);
    assert_eq!(c.external_ids, [xid("shopify", "2")]);
}

#[test]
fn failed_customer_patch_leaves_customer_untouched() {
    let mut c = ada();
    let before = c.clone();
    let patch = CustomerPatch {
        email: Some(Some("ada.example.com".into())),
        remove_tags: vec!["a,b".into()],
        lifecycle: Some(LifecycleStage::Churned),
        ..Default::default()
    };
    assert_eq!(error_fields(c.apply(patch, later())), ["remove_tags"]);
    let patch = CustomerPatch {
        email: Some(Some("ada.example.com".into())),
        lifecycle: Some(LifecycleStage::Churned),
        ..Default::default()
    };
    assert_eq!(error_fields(c.apply(patch, later())), ["email"]);
    assert_eq!(c, before);
}

#[test]
fn organization_patch_cannot_add_a_parent_organization() {
    let mut org = Customer::new(
        CustomerId::generate(),
        CustomerInput {
            kind: CustomerKind::Organization,
            name: Some("Analytical Engines Ltd".into()),
            ..Default::default()
        },
        now(),
    )
    .unwrap();
    let patch = CustomerPatch {
        organization: Some(Some(CustomerId::generate())),
        ..Default::default()
    };
    assert_eq!(error_fields(org.apply(patch, later())), ["organization"]);
    assert_eq!(org.version, 1);
}

#[test]
fn customer_patch_that_clears_every_identity_is_refused() {
    let mut c = Customer::new(
        CustomerId::generate(),
        CustomerInput {
            first_name: Some("Ada".into()),
            ..Default::default()
        },
        now(),
    )
    .unwrap();
    let patch = CustomerPatch {
        first_name: Some(None),
        ..Default::default()
    };
    assert_eq!(error_fields(c.apply(patch, later())), ["name"]);
    assert_eq!(c.first_name.as_deref(), Some("Ada"));
}

/// Regression: the display name derived from a 200-character first and last name is longer than
/// an explicit name may be, and `apply` re-validated it as explicit, so such a customer could
/// never be updated.
#[test]
fn customer_with_longest_first_and_last_name_can_still_be_patched() {
    let mut c = Customer::new(
        CustomerId::generate(),
        CustomerInput {
            first_name: Some("a".repeat(200)),
            last_name: Some("b".repeat(200)),
            ..Default::default()
        },
        now(),
    )
    .unwrap();
    assert_eq!(c.name.chars().count(), 401);
    let patch = CustomerPatch {
        marketing_consent: Some(true),
        ..Default::default()
    };
    assert_eq!(
        c.apply(patch, later()).unwrap(),
        ["marketing_consent", "consents"]
    );
    assert_eq!(c.version, 2);
}

/// `apply` re-reads the stored phone, so a normalized national number must parse again.
#[test]
fn customer_with_national_phone_can_still_be_patched() {
    let mut c = Customer::new(
        CustomerId::generate(),
        CustomerInput {
            phone: Some("(415) 555-2671".into()),
            country: Some("US".into()),
            ..ada_input()
        },
        now(),
    )
    .unwrap();
    let patch = CustomerPatch {
        city: Some(Some("San Francisco".into())),
        ..Default::default()
    };
    assert_eq!(c.apply(patch, later()).unwrap(), ["location"]);
    assert_eq!(c.phone.unwrap().as_str(), "+14155552671");
}

// ---------------------------------------------------------------------------------------------
// Interactions

fn interaction(
    kind: InteractionKind,
    edit: impl FnOnce(&mut InteractionInput),
) -> Result<Interaction, ValidationError> {
    let mut input = InteractionInput::new(CustomerId::generate(), Channel::Email, kind);
    edit(&mut input);
    Interaction::new(InteractionId::generate(), input, now())
}

#[test]
fn interaction_gets_defaults() {
    let i = interaction(InteractionKind::Note, |_| {}).unwrap();
    assert_eq!(i.direction, Direction::Inbound);
    assert_eq!((i.occurred_at, i.created_at, i.version), (now(), now(), 1));
    assert_eq!((i.status, i.due_at, i.rating), (None, None, None));
    let i = interaction(InteractionKind::Call, |x| {
        x.occurred_at = Some(ts("2024-04-01"))
    })
    .unwrap();
    assert_eq!(i.occurred_at, ts("2024-04-01"));
}

#[test]
fn task_and_ticket_status_defaults_to_open() {
    let task = interaction(InteractionKind::Task, |_| {}).unwrap();
    assert_eq!(task.status, Some(TaskStatus::Open));
    let ticket = interaction(InteractionKind::Ticket, |x| {
        x.status = Some(TaskStatus::InProgress)
    })
    .unwrap();
    assert_eq!(ticket.status, Some(TaskStatus::InProgress));
}

#[test]
fn status_is_refused_except_on_tasks_and_tickets() {
    let r = interaction(InteractionKind::Note, |x| {
        x.status = Some(TaskStatus::Resolved)
    });
    assert_eq!(error_fields(r), ["status"]);
}

#[test]
fn due_date_is_refused_except_on_tasks_and_tickets() {
    let r = interaction(InteractionKind::Meeting, |x| x.due_at = Some(later()));
    assert_eq!(error_fields(r), ["due_at"]);
    let task = interaction(InteractionKind::Task, |x| x.due_at = Some(later())).unwrap();
    assert_eq!(task.due_at, Some(later()));
    assert!(task.is_due_work());
}

#[test]
fn rating_is_only_on_survey_responses_and_from_0_to_10() {
    for r in [0, 10] {
        let i = interaction(InteractionKind::SurveyResponse, |x| x.rating = Some(r)).unwrap();
        assert_eq!(i.rating, Some(r));
    }
    let r = interaction(InteractionKind::SurveyResponse, |x| x.rating = Some(11));
    let err = r.unwrap_err();
    assert_eq!(err.errors[0].field, "rating");
    assert_eq!(err.errors[0].expected, "a rating from 0 to 10");
    let err = interaction(InteractionKind::Note, |x| x.rating = Some(5)).unwrap_err();
    assert_eq!(err.errors[0].field, "rating");
    assert_eq!(
        err.errors[0].expected,
        "no rating except on survey responses"
    );
}

#[test]
fn negative_interaction_amount_is_refused() {
    let r = interaction(InteractionKind::Refund, |x| x.amount = Some(usd(-1)));
    assert_eq!(error_fields(r), ["amount"]);
    let zero = interaction(InteractionKind::Purchase, |x| x.amount = Some(usd(0))).unwrap();
    assert_eq!(zero.amount, Some(usd(0)));
}

#[test]
fn interaction_body_keeps_newlines_and_is_at_most_65536_characters() {
    let i = interaction(InteractionKind::Email, |x| {
        x.body = Some("Hi,\n\tthanks!\r\n".into())
    })
    .unwrap();
    assert_eq!(i.body.as_deref(), Some("Hi,\n\tthanks!"));
    let max = interaction(InteractionKind::Email, |x| {
        x.body = Some("é".repeat(65_536))
    })
    .unwrap();
    assert_eq!(max.body.unwrap().chars().count(), 65_536);
    let r = interaction(InteractionKind::Email, |x| {
        x.body = Some("x".repeat(65_537))
    });
    assert_eq!(error_fields(r), ["body"]);
    let r = interaction(InteractionKind::Email, |x| {
        x.body = Some("a\u{1b}[31m".into())
    });
    assert_eq!(error_fields(r), ["body"]);
}

#[test]
fn interaction_subject_is_one_line_of_at_most_500_characters() {
    let r = interaction(InteractionKind::Email, |x| {
        x.subject = Some("Hello\nworld".into())
    });
    assert_eq!(error_fields(r), ["subject"]);
    let r = interaction(InteractionKind::Email, |x| {
        x.subject = Some("s".repeat(501))
    });
    assert_eq!(error_fields(r), ["subject"]);
}

#[test]
fn interaction_reports_every_bad_field_at_once() {
    let r = interaction(InteractionKind::Note, |x| {
        x.amount = Some(usd(-100));
        x.status = Some(TaskStatus::Open);
        x.due_at = Some(later());
        x.rating = Some(3);
        x.source = Some("Shop ify".into());
        x.external_id = Some("e".repeat(257));
        x.attributes
            .insert("n".into(), AttributeValue::Number(f64::INFINITY));
    });
    assert_eq!(
        error_fields(r),
        [
            "amount",
            "status",
            "due_at",
            "rating",
            "source",
            "external_id",
            "attributes.n"
        ]
    );
}

#[test]
fn interaction_idempotency_key_is_source_and_external_id() {
    let i = interaction(InteractionKind::Purchase, |x| {
        x.source = Some("shopify".into());
        x.external_id = Some(" order-1 ".into());
    })
    .unwrap();
    assert_eq!(i.idempotency_key(), Some(("shopify", "order-1")));
    let i = interaction(InteractionKind::Purchase, |x| {
        x.external_id = Some("o-2".into())
    })
    .unwrap();
    assert_eq!(i.idempotency_key(), Some(("", "o-2")));
    assert_eq!(
        interaction(InteractionKind::Note, |_| {})
            .unwrap()
            .idempotency_key(),
        None
    );
}

#[test]
fn kebab_enums_parse_case_insensitively_with_underscores() {
    assert_eq!(
        Channel::parse("channel", "In_Person").unwrap(),
        Channel::InPerson
    );
    assert_eq!(
        InteractionKind::parse("kind", "SURVEY-RESPONSE").unwrap(),
        InteractionKind::SurveyResponse
    );
    assert_eq!(
        error_fields(Channel::parse("channel", "pigeon")),
        ["channel"]
    );
    for k in InteractionKind::ALL {
        assert_eq!(serde_json::to_string(k).unwrap(), format!("\"{k}\""));
    }
}

#[test]
fn set_status_is_refused_on_interactions_without_status() {
    let mut note = interaction(InteractionKind::Note, |_| {}).unwrap();
    assert_eq!(
        error_fields(note.set_status(TaskStatus::Resolved, later())),
        ["status"]
    );
    assert_eq!((note.status, note.version), (None, 1));
}

#[test]
fn set_status_bumps_version_only_on_change() {
    let mut task = interaction(InteractionKind::Task, |x| x.due_at = Some(later())).unwrap();
    assert!(
        task.set_status(TaskStatus::Open, later())
            .unwrap()
            .is_empty()
    );
    assert_eq!(task.version, 1);
    assert!(
        !task
            .set_status(TaskStatus::Resolved, later())
            .unwrap()
            .is_empty()
    );
    assert_eq!((task.status, task.version), (Some(TaskStatus::Resolved), 2));
    assert!(!task.is_due_work());
}

#[test]
fn old_status_names_still_parse_and_new_ones_round_trip() {
    assert_eq!(
        TaskStatus::parse("s", "done").unwrap(),
        TaskStatus::Resolved
    );
    assert_eq!(
        TaskStatus::parse("s", "cancelled").unwrap(),
        TaskStatus::Closed
    );
    assert_eq!(
        serde_json::from_str::<TaskStatus>("\"done\"").unwrap(),
        TaskStatus::Resolved
    );
    for s in TaskStatus::ALL {
        let json = serde_json::to_string(s).unwrap();
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(serde_json::from_str::<TaskStatus>(&json).unwrap(), *s);
        assert_eq!(TaskStatus::parse("s", s.as_str()).unwrap(), *s);
    }
    assert_eq!(
        TaskStatus::ALL.iter().filter(|s| s.is_open()).count(),
        TaskStatus::OPEN.len()
    );
    assert!(TaskStatus::parse("s", "finished").is_err());
}

#[test]
fn complaints_are_work_items_with_a_priority_and_lowercase_category() {
    let c = interaction(InteractionKind::Complaint, |x| {
        x.category = Some("  Delivery ".into());
        x.assignee = Some("usr_1".into());
    })
    .unwrap();
    assert_eq!(c.status, Some(TaskStatus::Open));
    assert_eq!(c.priority, Some(Priority::Normal));
    assert_eq!(c.category.as_deref(), Some("delivery"));
    assert_eq!(c.assignee.as_deref(), Some("usr_1"));
    assert_eq!((c.first_answered_at, c.resolved_at), (None, None));
}

#[test]
fn work_fields_are_refused_on_other_interactions() {
    let r = interaction(InteractionKind::Call, |x| {
        x.priority = Some(Priority::High);
        x.assignee = Some("usr_1".into());
        x.category = Some("billing".into());
        x.resolution = Some("fixed".into());
    });
    assert_eq!(
        error_fields(r),
        ["assignee", "priority", "category", "resolution"]
    );
    let mut call = interaction(InteractionKind::Call, |_| {}).unwrap();
    let patch = InteractionPatch {
        priority: Some(Priority::Urgent),
        ..InteractionPatch::default()
    };
    assert_eq!(error_fields(call.apply(patch, later())), ["priority"]);
    assert_eq!(call.version, 1);
}

#[test]
fn work_created_resolved_gets_its_times_and_bad_times_are_refused() {
    let t = interaction(InteractionKind::Ticket, |x| {
        x.occurred_at = Some(ts("2024-04-01"));
        x.status = Some(TaskStatus::Closed);
    })
    .unwrap();
    assert_eq!(t.resolved_at, Some(now()));
    assert_eq!(t.first_answered_at, Some(now()));
    let r = interaction(InteractionKind::Ticket, |x| {
        x.occurred_at = Some(ts("2024-04-01"));
        x.first_answered_at = Some(ts("2024-03-01"));
        x.resolved_at = Some(ts("2024-04-02"));
    });
    // Before opening, and a resolution time on open work.
    assert_eq!(error_fields(r), ["first_answered_at", "resolved_at"]);
    let r = interaction(InteractionKind::Ticket, |x| {
        x.occurred_at = Some(ts("2024-04-01"));
        x.status = Some(TaskStatus::Resolved);
        x.first_answered_at = Some(ts("2024-04-03"));
        x.resolved_at = Some(ts("2024-04-02"));
    });
    assert_eq!(error_fields(r), ["first_answered_at"]);
}

#[test]
fn a_patch_records_old_and_new_values_and_the_work_times() {
    let mut t = interaction(InteractionKind::Ticket, |x| {
        x.subject = Some("Broken".into());
        x.occurred_at = Some(ts("2024-04-01"));
    })
    .unwrap();
    let at = ts("2024-04-02");
    let changes = t
        .apply(
            InteractionPatch {
                subject: Some(Some("Broken lid".into())),
                priority: Some(Priority::Urgent),
                status: Some(TaskStatus::InProgress),
                ..InteractionPatch::default()
            },
            at,
        )
        .unwrap();
    let fields: Vec<_> = changes
        .iter()
        .map(|c| (c.field.as_str(), c.old.as_deref(), c.new.as_deref()))
        .collect();
    assert_eq!(
        fields,
        [
            ("subject", Some("Broken"), Some("Broken lid")),
            ("priority", Some("normal"), Some("urgent")),
            ("status", Some("open"), Some("in-progress")),
            ("first_answered_at", None, Some("2024-04-02T00:00:00Z")),
        ]
    );
    assert_eq!(t.version, 2);
    // Resolving sets the resolution time; the first answer stays.
    let done = ts("2024-04-05");
    t.set_status(TaskStatus::Resolved, done).unwrap();
    assert_eq!((t.first_answered_at, t.resolved_at), (Some(at), Some(done)));
    // Closing after resolving keeps it; reopening clears it.
    t.set_status(TaskStatus::Closed, ts("2024-04-06")).unwrap();
    assert_eq!(t.resolved_at, Some(done));
    let changes = t.set_status(TaskStatus::Waiting, ts("2024-04-07")).unwrap();
    assert_eq!(t.resolved_at, None);
    assert_eq!(
        changes.last().map(|c| c.field.as_str()),
        Some("resolved_at")
    );
    assert!(t.is_due_work() == t.due_at.is_some());
}

#[test]
fn a_change_value_is_cut_at_its_bound() {
    let long = "é".repeat(MAX_CHANGE_VALUE_CHARS + 500);
    let c = FieldChange::new("body", None, Some(long));
    let new = c.new.unwrap();
    assert_eq!(new.chars().count(), MAX_CHANGE_VALUE_CHARS + 1);
    assert!(new.ends_with('…'));
}

#[test]
fn a_patch_with_an_empty_or_oversized_field_is_refused_whole() {
    let mut t = interaction(InteractionKind::Task, |_| {}).unwrap();
    let before = t.clone();
    let patch = InteractionPatch {
        subject: Some(Some("x".repeat(501))),
        category: Some(Some("y".repeat(101))),
        status: Some(TaskStatus::Resolved),
        ..InteractionPatch::default()
    };
    assert_eq!(
        error_fields(t.apply(patch, later())),
        ["subject", "category"]
    );
    assert_eq!(t, before);
}

// ---------------------------------------------------------------------------------------------
// Pipelines

fn pipeline_with(stages: Vec<StageInput>) -> Result<Pipeline, ValidationError> {
    Pipeline::new(
        PipelineId::generate(),
        PipelineInput {
            lost_reasons: Vec::new(),
            name: "Sales".into(),
            stages,
        },
        now(),
    )
}

#[test]
fn pipeline_without_stages_is_refused() {
    assert_eq!(error_fields(pipeline_with(vec![])), ["stages"]);
}

#[test]
fn pipeline_with_more_than_50_stages_is_refused() {
    let stages = |n: usize| {
        (0..n)
            .map(|i| stage(&format!("s{i}"), 10, StageCategory::Open))
            .collect::<Vec<_>>()
    };
    assert_eq!(pipeline_with(stages(50)).unwrap().stages.len(), 50);
    assert_eq!(error_fields(pipeline_with(stages(51))), ["stages"]);
}

#[test]
fn pipeline_stage_names_are_unique_case_insensitively() {
    let r = pipeline_with(vec![
        stage("Lead", 10, StageCategory::Open),
        stage("Demo", 40, StageCategory::Open),
        stage(" LEAD ", 50, StageCategory::Open),
    ]);
    assert_eq!(error_fields(r), ["stages[2].name"]);
}

#[test]
fn stage_probability_above_100_is_refused() {
    let r = pipeline_with(vec![
        stage("Lead", 100, StageCategory::Open),
        stage("Won", 101, StageCategory::Won),
    ]);
    let err = r.unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].field, "stages[1].probability");
    assert_eq!(err.errors[0].expected, "a percentage from 0 to 100");
}

#[test]
fn pipeline_reports_every_bad_field_at_once() {
    let r = Pipeline::new(
        PipelineId::generate(),
        PipelineInput {
            lost_reasons: Vec::new(),
            name: " ".into(),
            stages: vec![
                stage("", 10, StageCategory::Open),
                stage("Won", 200, StageCategory::Won),
            ],
        },
        now(),
    );
    assert_eq!(
        error_fields(r),
        ["name", "stages[0].name", "stages[1].probability"]
    );
}

#[test]
fn every_stage_gets_its_own_id_in_funnel_order() {
    let p = sales_pipeline();
    let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Lead", "Demo", "Proposal", "Won", "Lost"]);
    let ids: std::collections::BTreeSet<StageId> = p.stages.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), 5);
    for s in &p.stages {
        assert_eq!(p.stage(s.id), Some(s));
    }
    assert_eq!(p.stage_named(" demo ").map(|s| s.probability), Some(40));
    assert_eq!(p.stage(StageId::generate()), None);
    assert_eq!(
        (p.name.as_str(), p.version, p.created_at),
        ("Sales", 1, now())
    );
}

#[test]
fn stage_category_defaults_to_open_in_json() {
    let s: StageInput = serde_json::from_str(r#"{"name":"Lead","probability":10}"#).unwrap();
    assert_eq!(s.category, StageCategory::Open);
    let s: StageInput =
        serde_json::from_str(r#"{"name":"Won","probability":100,"category":"won"}"#).unwrap();
    assert_eq!(s.category, StageCategory::Won);
}

// ---------------------------------------------------------------------------------------------
// Deals

#[test]
fn deal_starts_in_the_first_stage_with_one_open_visit() {
    let p = sales_pipeline();
    let d = Deal::new(DealId::generate(), deal_input(&p, usd(500_000)), &p, now()).unwrap();
    let lead = stage_id(&p, "lead");
    assert_eq!(d.stage, lead);
    assert_eq!(
        d.history,
        [StageVisit {
            stage: lead,
            entered_at: now(),
            left_at: None
        }]
    );
    assert_eq!(d.status(&p), DealStatus::Open);
    assert_eq!(
        (d.pipeline, d.version, d.created_at, d.updated_at),
        (p.id, 1, now(), now())
    );
}

#[test]
fn deal_may_start_in_a_named_stage() {
    let p = sales_pipeline();
    let mut input = deal_input(&p, usd(1));
    input.stage = Some(stage_id(&p, "Won"));
    let d = Deal::new(DealId::generate(), input, &p, now()).unwrap();
    assert_eq!(d.stage, stage_id(&p, "Won"));
    assert_eq!(d.status(&p), DealStatus::Won);
}

#[test]
fn deal_in_unknown_stage_is_refused() {
    let p = sales_pipeline();
    let mut input = deal_input(&p, usd(1));
    input.stage = Some(StageId::generate());
    let err = Deal::new(DealId::generate(), input, &p, now()).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].field, "stage");
    assert_eq!(err.errors[0].expected, "a stage of pipeline 'Sales'");
}

#[test]
fn deal_with_negative_amount_is_refused() {
    let p = sales_pipeline();
    let r = Deal::new(DealId::generate(), deal_input(&p, usd(-1)), &p, now());
    assert_eq!(error_fields(r), ["amount"]);
    let zero = Deal::new(DealId::generate(), deal_input(&p, usd(0)), &p, now()).unwrap();
    assert_eq!(zero.amount, usd(0));
}

#[test]
fn deal_reports_every_bad_field_at_once() {
    let p = sales_pipeline();
    let mut input = deal_input(&p, usd(-1));
    input.title = "\t".into();
    input.owner = Some("o".repeat(201));
    input.stage = Some(StageId::generate());
    assert_eq!(
        error_fields(Deal::new(DealId::generate(), input, &p, now())),
        ["title", "amount", "owner", "stage"]
    );
}

#[test]
fn deal_move_closes_the_previous_visit() {
    let p = sales_pipeline();
    let mut d = Deal::new(DealId::generate(), deal_input(&p, usd(1)), &p, now()).unwrap();
    let (lead, demo, won) = (
        stage_id(&p, "Lead"),
        stage_id(&p, "Demo"),
        stage_id(&p, "Won"),
    );
    assert!(d.move_to(demo, &p, later()).unwrap());
    let end = ts("2024-06-01T00:00:00Z");
    assert!(d.move_to(won, &p, end).unwrap());
    assert_eq!(
        d.history,
        [
            StageVisit {
                stage: lead,
                entered_at: now(),
                left_at: Some(later())
            },
            StageVisit {
                stage: demo,
                entered_at: later(),
                left_at: Some(end)
            },
            StageVisit {
                stage: won,
                entered_at: end,
                left_at: None
            },
        ]
    );
    assert_eq!(
        (d.stage, d.version, d.updated_at, d.created_at),
        (won, 3, end, now())
    );
    assert_eq!(d.status(&p), DealStatus::Won);
}

#[test]
fn deal_move_to_current_stage_is_a_no_op() {
    let p = sales_pipeline();
    let mut d = Deal::new(DealId::generate(), deal_input(&p, usd(1)), &p, now()).unwrap();
    let before = d.clone();
    assert!(!d.move_to(stage_id(&p, "Lead"), &p, later()).unwrap());
    assert_eq!(d, before);
}

#[test]
fn deal_move_before_current_stage_entry_is_refused() {
    let p = sales_pipeline();
    let mut d = Deal::new(DealId::generate(), deal_input(&p, usd(1)), &p, later()).unwrap();
    let before = d.clone();
    let err = d.move_to(stage_id(&p, "Demo"), &p, now()).unwrap_err();
    assert_eq!(err.errors[0].field, "at");
    assert!(
        err.errors[0].expected.contains("2024-05-02T09:15:00Z"),
        "{err}"
    );
    assert_eq!(d, before);
    // The instant of entry itself is allowed: a zero-length visit.
    assert!(d.move_to(stage_id(&p, "Demo"), &p, later()).unwrap());
    assert_eq!(d.history[0].left_at, Some(later()));
}

#[test]
fn deal_move_to_unknown_stage_is_refused() {
    let p = sales_pipeline();
    let other = sales_pipeline();
    let mut d = Deal::new(DealId::generate(), deal_input(&p, usd(1)), &p, now()).unwrap();
    let before = d.clone();
    let r = d.move_to(stage_id(&other, "Demo"), &p, later());
    assert_eq!(error_fields(r), ["stage"]);
    assert_eq!(d, before);
}

// ---------------------------------------------------------------------------------------------
// Reports

#[test]
fn weighted_amount_is_rounded_half_up_to_the_minor_unit() {
    let p = pipeline_with(vec![
        stage("Fifteen", 15, StageCategory::Open),
        stage("Half", 50, StageCategory::Open),
        stage("One", 1, StageCategory::Open),
    ])
    .unwrap();
    let mut b = ReportBuilder::new(&p);
    // 10.05 * 15% = 1.5075 -> 1.51; 0.01 * 50% = 0.005 -> 0.01; 0.49 * 1% = 0.0049 -> 0.00.
    b.add(&deal_through(&p, usd(1005), &[("Fifteen", 0)]));
    b.add(&deal_through(&p, usd(1), &[("Half", 0)]));
    b.add(&deal_through(&p, usd(49), &[("One", 0)]));
    let r = b.finish();
    let weighted: Vec<Vec<Money>> = r.stages.iter().map(|s| s.weighted_amount.clone()).collect();
    assert_eq!(weighted, [vec![usd(151)], vec![usd(1)], vec![usd(0)]]);
}

/// Regression: weighted amounts were rounded per deal and then summed, so a stage of many small
/// deals drifted from amount x probability (two deals of 0.50 at 1% gave 0.02, not 0.01).
#[test]
fn weighted_amount_is_rounded_once_per_stage_not_per_deal() {
    let p = pipeline_with(vec![stage("One", 1, StageCategory::Open)]).unwrap();
    let mut b = ReportBuilder::new(&p);
    for _ in 0..2 {
        b.add(&deal_through(&p, usd(50), &[("One", 0)]));
    }
    let r = b.finish();
    assert_eq!(r.stages[0].amount, [usd(100)]);
    assert_eq!(r.stages[0].weighted_amount, [usd(1)]);
}

#[test]
fn report_counts_conversion_over_stage_history_with_lost_stage() {
    let p = sales_pipeline();
    let mut b = ReportBuilder::new(&p);
    b.add(&deal_through(
        &p,
        usd(100),
        &[("Lead", 0), ("Demo", 100), ("Proposal", 150), ("Won", 160)],
    ));
    b.add(&deal_through(
        &p,
        usd(100),
        &[("Lead", 0), ("Demo", 300), ("Lost", 370)],
    ));
    b.add(&deal_through(&p, usd(100), &[("Lead", 0)]));
    b.add(&deal_through(&p, usd(100), &[("Lead", 0), ("Lost", 200)]));
    let r = b.finish();
    assert_eq!((r.pipeline, r.name.as_str(), r.deals), (p.id, "Sales", 4));
    let row = |name: &str| r.stages.iter().find(|s| s.name == name).unwrap();
    let counts: Vec<(u64, u64)> = r.stages.iter().map(|s| (s.deals, s.entered)).collect();
    assert_eq!(counts, [(1, 4), (0, 2), (0, 1), (1, 1), (2, 2)]);
    assert_eq!(row("Lead").conversion_to_next, Some(0.5));
    assert_eq!(row("Demo").conversion_to_next, Some(0.5));
    assert_eq!(row("Proposal").conversion_to_next, Some(1.0));
    assert_eq!(row("Won").conversion_to_next, None);
    assert_eq!(row("Lost").conversion_to_next, None);
}

#[test]
fn report_has_no_conversion_for_stages_no_deal_entered() {
    let p = sales_pipeline();
    let mut b = ReportBuilder::new(&p);
    b.add(&deal_through(&p, usd(100), &[("Lead", 0)]));
    let r = b.finish();
    assert_eq!(r.stages[0].conversion_to_next, Some(0.0));
    assert_eq!(r.stages[1].conversion_to_next, None);
    assert_eq!(r.stages[1].amount, Vec::<Money>::new());
    assert_eq!(r.stages[1].median_seconds_in_stage, None);
}

#[test]
fn report_median_time_in_stage_over_ended_visits() {
    let p = sales_pipeline();
    let mut b = ReportBuilder::new(&p);
    // Lead: 100, 300, 200 seconds (odd count); Demo: 50 and 71 seconds (even count).
    b.add(&deal_through(
        &p,
        usd(1),
        &[("Lead", 0), ("Demo", 100), ("Proposal", 150)],
    ));
    b.add(&deal_through(
        &p,
        usd(1),
        &[("Lead", 0), ("Demo", 300), ("Lost", 371)],
    ));
    b.add(&deal_through(&p, usd(1), &[("Lead", 0), ("Lost", 200)]));
    b.add(&deal_through(&p, usd(1), &[("Lead", 0)]));
    let r = b.finish();
    let medians: Vec<Option<i64>> = r.stages.iter().map(|s| s.median_seconds_in_stage).collect();
    // Even counts take the mean of the middle two, rounded down: (50 + 71) / 2 = 60.
    assert_eq!(medians, [Some(200), Some(60), None, None, None]);
}

#[test]
fn report_keeps_currencies_apart() {
    let p = sales_pipeline();
    let eur = |minor| Money::new(minor, cur("EUR"));
    let mut b = ReportBuilder::new(&p);
    b.add(&deal_through(&p, usd(10_000), &[("Lead", 0)]));
    b.add(&deal_through(&p, eur(5_000), &[("Lead", 0)]));
    b.add(&deal_through(&p, usd(2_000), &[("Lead", 0)]));
    let other = sales_pipeline();
    b.add(&deal_through(&other, usd(999_999), &[("Lead", 0)]));
    let r = b.finish();
    assert_eq!(r.deals, 3);
    assert_eq!(r.stages[0].deals, 3);
    assert_eq!(r.stages[0].amount, [eur(5_000), usd(12_000)]);
    assert_eq!(r.stages[0].weighted_amount, [eur(500), usd(1_200)]);
}

// ---------------------------------------------------------------------------------------------
// Serialization

fn full_customer() -> Customer {
    let input = CustomerInput {
        phone: Some("020 7123 4567".into()),
        country: Some("GB".into()),
        city: Some("London".into()),
        birth_date: Some("1815-12-10".parse().unwrap()),
        external_ids: vec![ExternalId {
            source: "shopify".into(),
            id: "42".into(),
        }],
        tags: vec!["VIP".into(), "math".into()],
        attributes: BTreeMap::from([
            (
                "ltv".to_owned(),
                AttributeValue::Money(Money::new(123_456, cur("GBP"))),
            ),
            ("score".to_owned(), AttributeValue::Number(0.1)),
            (
                "first".to_owned(),
                AttributeValue::Date("1843-09-01".parse().unwrap()),
            ),
            ("active".to_owned(), AttributeValue::Boolean(false)),
            ("note".to_owned(), AttributeValue::Text("Programs".into())),
        ]),
        organization: Some(CustomerId::generate()),
        owner: Some("babbage".into()),
        marketing_consent: true,
        ..ada_input()
    };
    Customer::new(
        CustomerId::generate(),
        input,
        ts("2024-05-01T14:30:00.123456+02:00"),
    )
    .unwrap()
}

#[test]
fn customer_json_round_trip_uses_rfc3339_times_and_plain_codes() {
    let c = full_customer();
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["created_at"], "2024-05-01T12:30:00.123456Z");
    assert_eq!(v["updated_at"], "2024-05-01T12:30:00.123456Z");
    assert_eq!(v["demographics"]["birth_date"], "1815-12-10");
    assert_eq!(v["email"], "ada@example.com");
    assert_eq!(v["phone"], "+442071234567");
    assert_eq!(v["location"]["country"], "GB");
    assert_eq!(v["tags"], serde_json::json!(["math", "vip"]));
    assert_eq!(v["id"], c.id.to_string());
    assert_eq!(
        v["attributes"]["ltv"],
        serde_json::json!({"money": {"minor": 123_456, "currency": "GBP"}})
    );
    assert_eq!(
        v["attributes"]["first"],
        serde_json::json!({"date": "1843-09-01"})
    );
    let back: Customer = serde_json::from_value(v).unwrap();
    assert_eq!(back, c);
}

#[test]
fn customer_json_with_invalid_value_is_refused() {
    let mut v = serde_json::to_value(full_customer()).unwrap();
    v["email"] = "not-an-email".into();
    assert!(serde_json::from_value::<Customer>(v.clone()).is_err());
    v["email"] = "ada@example.com".into();
    v["created_at"] = "2024-02-30T00:00:00Z".into();
    assert!(serde_json::from_value::<Customer>(v).is_err());
}

#[test]
fn customer_input_json_with_unknown_field_is_refused() {
    let ok: CustomerInput = serde_json::from_str(r#"{"email":"ada@example.com"}"#).unwrap();
    assert_eq!(ok.email.as_deref(), Some("ada@example.com"));
    assert!(serde_json::from_str::<CustomerInput>(r#"{"emial":"ada@example.com"}"#).is_err());
}

#[test]
fn customer_postcard_round_trip_is_exact() {
    let c = full_customer();
    let bytes = postcard::to_allocvec(&c).unwrap();
    let back: Customer = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, c);
    // Times are integers in the store, not RFC 3339 text.
    assert!(!bytes.windows(4).any(|w| w == b"2024"));
}

#[test]
fn times_and_dates_are_compact_zigzag_integers_in_postcard() {
    assert_eq!(
        postcard::to_allocvec(&Timestamp::from_micros(300)).unwrap(),
        [0xD8, 0x04]
    );
    assert_eq!(
        postcard::to_allocvec(&Timestamp::from_micros(-1)).unwrap(),
        [0x01]
    );
    assert_eq!(postcard::to_allocvec(&Date::from_days(1)).unwrap(), [0x02]);
    let t = ts("2024-05-01T12:30:00.123456Z");
    let bytes = postcard::to_allocvec(&t).unwrap();
    assert_eq!(bytes.len(), 8);
    assert_eq!(postcard::from_bytes::<Timestamp>(&bytes).unwrap(), t);
    let d = Date::from_days(-56_000);
    assert_eq!(
        postcard::from_bytes::<Date>(&postcard::to_allocvec(&d).unwrap()).unwrap(),
        d
    );
}

#[test]
fn deal_and_interaction_survive_postcard_and_json() {
    let p = sales_pipeline();
    let d = deal_through(&p, usd(1234), &[("Lead", 0), ("Demo", 60)]);
    let back: Deal = postcard::from_bytes(&postcard::to_allocvec(&d).unwrap()).unwrap();
    assert_eq!(back, d);
    let back: Deal = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    assert_eq!(back, d);
    let i = interaction(InteractionKind::Task, |x| {
        x.due_at = Some(later());
        x.amount = Some(Money::new(5, cur("KWD")));
    })
    .unwrap();
    let back: Interaction = postcard::from_bytes(&postcard::to_allocvec(&i).unwrap()).unwrap();
    assert_eq!(back, i);
}

// ---------------------------------------------------------------------------------------------
// Deals: typed attributes, lost reasons, and the stored layout

#[test]
fn deal_attributes_are_typed_validated_and_merged_by_patches() {
    let p = sales_pipeline();
    let mut input = deal_input(&p, usd(100));
    input
        .attributes
        .insert("seats".into(), AttributeValue::Number(25.0));
    input
        .attributes
        .insert("Bad Key".into(), AttributeValue::Boolean(true));
    assert_eq!(
        error_fields(Deal::new(DealId::generate(), input.clone(), &p, now())),
        ["attributes.Bad Key"]
    );
    input.attributes.remove("Bad Key");
    input.attributes.insert(
        "renewal".into(),
        AttributeValue::Date(Date::parse("d", "2027-01-01").unwrap()),
    );
    let mut deal = Deal::new(DealId::generate(), input, &p, now()).unwrap();
    assert_eq!(deal.attributes.len(), 2);
    let mut changes = BTreeMap::new();
    changes.insert("seats".to_owned(), Some(AttributeValue::Number(30.0)));
    changes.insert("renewal".to_owned(), None);
    changes.insert(
        "champion".to_owned(),
        Some(AttributeValue::Text("Ada".into())),
    );
    let changed = deal
        .apply(
            DealPatch {
                attributes: Some(changes),
                ..DealPatch::default()
            },
            later(),
        )
        .unwrap();
    assert_eq!(changed, ["attributes"]);
    assert_eq!(
        deal.attributes.keys().collect::<Vec<_>>(),
        ["champion", "seats"]
    );
    assert_eq!((deal.version, deal.updated_at), (2, later()));
    // Too many, or an invalid value: nothing changes.
    let many = (0..=MAX_DEAL_ATTRIBUTES)
        .map(|i| (format!("a{i}"), Some(AttributeValue::Boolean(true))))
        .collect();
    let before = deal.clone();
    let r = deal.apply(
        DealPatch {
            attributes: Some(many),
            ..DealPatch::default()
        },
        later(),
    );
    assert_eq!(error_fields(r), ["attributes"]);
    let nan = [("x".to_owned(), Some(AttributeValue::Number(f64::NAN)))].into();
    let r = deal.apply(
        DealPatch {
            attributes: Some(nan),
            ..DealPatch::default()
        },
        later(),
    );
    assert_eq!(error_fields(r), ["attributes.x"]);
    assert_eq!(deal, before);
}

#[test]
fn a_lost_reason_needs_a_lost_stage_and_one_of_the_pipeline_s_reasons() {
    let mut input = PipelineInput {
        lost_reasons: vec!["Price".into(), "Timing".into(), "price".into()],
        name: "Sales".into(),
        stages: vec![
            stage("Lead", 10, StageCategory::Open),
            stage("Lost", 0, StageCategory::Lost),
        ],
    };
    assert_eq!(
        error_fields(Pipeline::new(PipelineId::generate(), input.clone(), now())),
        ["lost_reasons[2]"]
    );
    input.lost_reasons.pop();
    let p = Pipeline::new(PipelineId::generate(), input, now()).unwrap();
    let mut deal = Deal::new(DealId::generate(), deal_input(&p, usd(5)), &p, now()).unwrap();
    assert_eq!(
        error_fields(deal.set_lost_reason(Some("Price"), &p)),
        ["lost_reason"],
        "not lost yet"
    );
    deal.move_to(stage_id(&p, "Lost"), &p, later()).unwrap();
    assert_eq!(
        error_fields(deal.set_lost_reason(Some("Budget"), &p)),
        ["lost_reason"]
    );
    assert!(deal.set_lost_reason(Some("  timing "), &p).unwrap());
    assert_eq!(
        deal.lost_reason.as_deref(),
        Some("Timing"),
        "the pipeline's spelling"
    );
    assert!(!deal.set_lost_reason(Some("Timing"), &p).unwrap());
    // Reopened: the reason goes.
    deal.move_to(stage_id(&p, "Lead"), &p, later()).unwrap();
    assert_eq!(deal.lost_reason, None);
    // Without a list, any short text is a reason.
    let free = sales_pipeline();
    let mut d = Deal::new(DealId::generate(), deal_input(&free, usd(5)), &free, now()).unwrap();
    d.move_to(stage_id(&free, "Lost"), &free, later()).unwrap();
    assert!(
        d.set_lost_reason(Some("Went with a competitor"), &free)
            .unwrap()
    );
    assert_eq!(
        error_fields(d.set_lost_reason(Some(&"x".repeat(101)), &free)),
        ["lost_reason"]
    );
    // The report counts lost deals per reason.
    let mut b = ReportBuilder::new(&free);
    b.add(&d);
    let r = b.finish();
    assert_eq!(r.lost_reasons.len(), 1);
    assert_eq!(
        (r.lost_reasons[0].reason.as_deref(), r.lost_reasons[0].deals),
        (Some("Went with a competitor"), 1)
    );
}

#[test]
fn deals_and_pipelines_stored_by_the_first_release_read_with_defaults() {
    let p = sales_pipeline();
    let mut input = deal_input(&p, usd(7));
    input
        .attributes
        .insert("seats".into(), AttributeValue::Number(3.0));
    let deal = Deal::new(DealId::generate(), input, &p, now()).unwrap();
    // Round trips, compact and JSON.
    let bytes = postcard::to_allocvec(&deal).unwrap();
    assert_eq!(postcard::from_bytes::<Deal>(&bytes).unwrap(), deal);
    let json = serde_json::to_value(&deal).unwrap();
    assert_eq!(
        json["attributes"]["seats"],
        serde_json::json!({"number": 3.0}),
        "{json}"
    );
    assert_eq!(serde_json::from_value::<Deal>(json).unwrap(), deal);
    // The first release's layout: the same fields up to `version`, nothing after.
    let old = postcard::to_allocvec(&(
        (
            deal.id,
            deal.customer,
            deal.pipeline,
            deal.stage,
            &deal.title,
            deal.amount,
        ),
        (
            deal.expected_close,
            &deal.owner,
            &deal.history,
            deal.created_at,
            deal.updated_at,
            deal.version,
        ),
    ))
    .unwrap();
    assert!(bytes.starts_with(&old), "new records extend the old layout");
    let read: Deal = postcard::from_bytes(&old).unwrap();
    assert_eq!(
        read,
        Deal {
            attributes: Default::default(),
            lost_reason: None,
            ..deal.clone()
        }
    );
    let old = postcard::to_allocvec(&(p.id, &p.name, &p.stages, p.created_at, p.version)).unwrap();
    let read: Pipeline = postcard::from_bytes(&old).unwrap();
    assert_eq!(read, p);
    assert!(postcard::to_allocvec(&p).unwrap().starts_with(&old));
}

// ---------------------------------------------------------------------------------------------
// Sales performance report, against a brute-force count per cell

mod sales_report {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400;
    const OWNERS: [&str; 3] = ["u-ann", "u-bob", "u-cy"];

    /// A deal to generate: created `created` days after the start, then moved `moves` (stage
    /// names with days after creation), owner, amount, currency, expected close.
    #[derive(Debug, Clone)]
    struct Spec {
        created: i64,
        path: Vec<(&'static str, i64)>,
        owner: Option<usize>,
        minor: i64,
        euro: bool,
        close: Option<i64>,
    }

    fn spec() -> impl Strategy<Value = Spec> {
        let paths = prop_oneof![
            Just(vec![]),
            Just(vec!["Demo"]),
            Just(vec!["Demo", "Proposal", "Won"]),
            Just(vec!["Won"]),
            Just(vec!["Lost"]),
            Just(vec!["Demo", "Lost"]),
        ];
        (
            0..400i64,
            paths,
            prop::collection::vec(1..60i64, 3),
            prop::option::of(0..3usize),
            0..1_000_000i64,
            any::<bool>(),
            prop::option::of(-30..500i64),
        )
            .prop_map(|(created, names, gaps, owner, minor, euro, close)| {
                let mut at = 0;
                let path = names
                    .into_iter()
                    .zip(gaps)
                    .map(|(n, g)| {
                        at += g;
                        (n, at)
                    })
                    .collect();
                Spec {
                    created,
                    path,
                    owner,
                    minor,
                    euro,
                    close,
                }
            })
    }

    pub(super) fn start() -> Timestamp {
        Timestamp::from_secs(1_767_225_600) // 2026-01-01T00:00:00Z
    }

    fn build(p: &Pipeline, s: &Spec) -> Deal {
        let at = |days: i64, secs: i64| start().plus_micros((days * DAY + secs) * 1_000_000);
        let mut input = deal_input(
            p,
            Money::new(s.minor, cur(if s.euro { "EUR" } else { "USD" })),
        );
        input.owner = s.owner.map(|o| OWNERS[o].to_owned());
        input.expected_close = s
            .close
            .map(|d| Date::from_days(start().date().days() + d as i32));
        // A few hours into the day, so that day boundaries are exercised.
        let mut deal = Deal::new(DealId::generate(), input, p, at(s.created, 3_600)).unwrap();
        for &(name, after) in &s.path {
            deal.move_to(stage_id(p, name), p, at(s.created + after, 7_200))
                .unwrap();
        }
        deal
    }

    /// The period key the oracle uses, computed differently from `Period::start`.
    pub(super) fn bucket(period: Period, d: Date) -> String {
        let text = d.to_string();
        match period {
            Period::Day => text,
            Period::Month => text[..7].to_owned(),
            Period::Quarter => {
                let m: u32 = text[5..7].parse().unwrap();
                format!("{}-Q{}", &text[..4], (m - 1) / 3 + 1)
            }
            Period::Week => {
                let mut day = d.days();
                // Walk back to a Monday with the time crate's own calendar.
                loop {
                    let t = ::time::Date::from_julian_day(day + 2_440_588).unwrap();
                    if t.weekday() == ::time::Weekday::Monday {
                        return Date::from_days(day).to_string();
                    }
                    day -= 1;
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_row_equals_a_brute_force_count_of_its_cell(
            specs in prop::collection::vec(spec(), 0..40),
            period in prop_oneof![Just(Period::Day), Just(Period::Week), Just(Period::Month), Just(Period::Quarter)],
            from_day in 0..200i32,
            span in 1..366i32,
        ) {
            let p = sales_pipeline();
            let deals: Vec<Deal> = specs.iter().map(|s| build(&p, s)).collect();
            let from = Date::from_days(start().date().days() + from_day);
            let to = Date::from_days(from.days() + span - 1);
            check_range(from, to, period).unwrap();
            let mut b = SalesReportBuilder::new(from, to, period);
            for d in &deals {
                let groups: Vec<Option<String>> = d.owner.iter().map(|o| Some(o.clone())).collect();
                b.add(d, &p, &groups);
            }
            let report = b.finish();
            let inside = |d: Date| d >= from && d <= to;
            let category = |d: &Deal| d.status(&p);
            let closed_at = |d: &Deal| d.history.last().map(|v| v.entered_at).unwrap();
            // Every row: its counts and amounts equal a scan of all deals for that cell.
            let mut cells = 0;
            for row in &report.rows {
                let key = bucket(period, row.period);
                prop_assert_eq!(period.start(row.period), row.period, "a row starts its period");
                let cell = |d: &&Deal| d.owner == row.group && d.amount.currency == row.currency;
                let created: Vec<&Deal> = deals.iter().filter(cell)
                    .filter(|d| inside(d.created_at.date()) && bucket(period, d.created_at.date()) == key)
                    .collect();
                let closed = |c: StageCategory| -> Vec<&Deal> {
                    deals.iter().filter(cell)
                        .filter(|d| category(d) == c)
                        .filter(|d| inside(closed_at(d).date()) && bucket(period, closed_at(d).date()) == key)
                        .collect()
                };
                let (won, lost) = (closed(StageCategory::Won), closed(StageCategory::Lost));
                let sum = |v: &[&Deal]| v.iter().map(|d| d.amount.minor).sum::<i64>();
                prop_assert_eq!(row.created, created.len() as u64);
                prop_assert_eq!(row.created_amount.minor, sum(&created));
                prop_assert_eq!((row.won, row.won_amount.minor), (won.len() as u64, sum(&won)));
                prop_assert_eq!((row.lost, row.lost_amount.minor), (lost.len() as u64, sum(&lost)));
                let decided = won.len() + lost.len();
                prop_assert_eq!(row.win_rate, (decided > 0).then(|| won.len() as f64 / decided as f64));
                if won.is_empty() {
                    prop_assert_eq!(row.average_cycle_days, None);
                } else {
                    let days: f64 = won.iter()
                        .map(|d| (closed_at(d).as_micros() - d.created_at.as_micros()) as f64 / 86_400e6)
                        .sum::<f64>() / won.len() as f64;
                    let got = row.average_cycle_days.unwrap();
                    prop_assert!((got - days).abs() < 1e-6, "{} vs {}", got, days);
                }
                cells += created.len() + won.len() + lost.len();
            }
            // ...and no deal event inside the range is missing from the rows.
            let events = deals.iter().map(|d| {
                usize::from(inside(d.created_at.date()))
                    + usize::from(category(d) != StageCategory::Open && inside(closed_at(d).date()))
            }).sum::<usize>();
            prop_assert_eq!(cells, events);
            // The open pipeline: every open deal once, weighted by its stage.
            let open: Vec<&Deal> = deals.iter().filter(|d| category(d) == StageCategory::Open).collect();
            prop_assert_eq!(report.pipeline.iter().map(|r| r.deals).sum::<u64>(), open.len() as u64);
            for row in &report.pipeline {
                let mine: Vec<&&Deal> = open.iter().filter(|d| d.owner == row.group && d.amount.currency == row.currency).collect();
                let weighted: i128 = mine.iter().map(|d| {
                    i128::from(d.amount.minor) * i128::from(p.stage(d.stage).unwrap().probability)
                }).sum();
                prop_assert_eq!(row.amount.minor, mine.iter().map(|d| d.amount.minor).sum::<i64>());
                prop_assert_eq!(i128::from(row.weighted_amount.minor), (weighted + 50).div_euclid(100));
            }
            // The forecast: open deals expected to close inside the range, by month.
            let expected = open.iter().filter(|d| d.expected_close.is_some_and(inside)).count() as u64;
            prop_assert_eq!(report.forecast.iter().map(|r| r.deals).sum::<u64>(), expected);
            for row in &report.forecast {
                prop_assert_eq!(row.month.to_string()[8..].to_owned(), "01");
            }
        }
    }

    #[test]
    fn periods_start_on_mondays_first_days_of_months_and_quarters() {
        let d = Date::parse("d", "2026-08-20").unwrap(); // a Thursday
        assert_eq!(Period::Week.start(d).to_string(), "2026-08-17");
        assert_eq!(Period::Month.start(d).to_string(), "2026-08-01");
        assert_eq!(Period::Quarter.start(d).to_string(), "2026-07-01");
        assert_eq!(Period::Day.start(d), d);
        let new_year = Date::parse("d", "2027-01-01").unwrap(); // a Friday
        assert_eq!(Period::Week.start(new_year).to_string(), "2026-12-28");
        assert!(check_range(d, d, Period::Day).is_ok());
        assert!(check_range(d, Date::from_days(d.days() - 1), Period::Month).is_err());
        assert!(check_range(d, Date::from_days(d.days() + 366), Period::Day).is_err());
        assert!(check_range(d, Date::from_days(d.days() + 366), Period::Week).is_ok());
        assert!(
            check_range(
                d,
                Date::from_days(d.days() + MAX_REPORT_DAYS),
                Period::Quarter
            )
            .is_err()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Service figures, against a brute-force count per cell

mod service_report {
    use super::sales_report::{bucket, start};
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600;
    const ASSIGNEES: [&str; 3] = ["u-ann", "u-bob", "u-cy"];

    /// A work item to generate: opened `opened` hours after the start, answered and resolved
    /// some hours later (or not), due some hours after opening (or not).
    #[derive(Debug, Clone)]
    struct Spec {
        kind: InteractionKind,
        opened: i64,
        answered: Option<i64>,
        resolved: Option<(i64, TaskStatus)>,
        open_status: TaskStatus,
        due: Option<i64>,
        assignee: Option<usize>,
        category: Option<&'static str>,
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (
            prop_oneof![
                Just(InteractionKind::Task),
                Just(InteractionKind::Ticket),
                Just(InteractionKind::Complaint)
            ],
            0..(300 * 24i64),
            prop::option::of(0..200i64),
            prop::option::of((0..2000i64, any::<bool>())),
            prop_oneof![
                Just(TaskStatus::Open),
                Just(TaskStatus::InProgress),
                Just(TaskStatus::Waiting)
            ],
            prop::option::of(-10..300i64),
            prop::option::of(0..3usize),
            prop::option::of(prop_oneof![Just("delivery"), Just("billing")]),
        )
            .prop_map(
                |(kind, opened, answered, resolved, open_status, due, assignee, category)| Spec {
                    kind,
                    opened,
                    answered,
                    resolved: resolved.map(|(after, closed)| {
                        let s = if closed {
                            TaskStatus::Closed
                        } else {
                            TaskStatus::Resolved
                        };
                        (after, s)
                    }),
                    open_status,
                    due,
                    assignee,
                    category,
                },
            )
    }

    fn at(hours: i64) -> Timestamp {
        start().plus_micros(hours * HOUR * 1_000_000)
    }

    /// The report's "now": after every generated time.
    fn now() -> Timestamp {
        at(400 * 24)
    }

    fn build(s: &Spec) -> Interaction {
        let mut input = InteractionInput::new(CustomerId::generate(), Channel::Email, s.kind);
        input.occurred_at = Some(at(s.opened));
        input.assignee = s.assignee.map(|a| ASSIGNEES[a].to_owned());
        input.category = s.category.map(str::to_owned);
        input.due_at = s.due.map(|d| at(s.opened + d));
        match s.resolved {
            Some((after, status)) => {
                let answered = s.answered.map_or(after, |a| a.min(after));
                input.status = Some(status);
                input.first_answered_at = Some(at(s.opened + answered));
                input.resolved_at = Some(at(s.opened + after));
            }
            None => {
                input.status = Some(s.open_status);
                if s.open_status != TaskStatus::Open {
                    input.first_answered_at = s.answered.map(|a| at(s.opened + a));
                }
            }
        }
        Interaction::new(InteractionId::generate(), input, now()).unwrap()
    }

    fn median(mut v: Vec<i64>) -> Option<i64> {
        v.sort();
        match v.len() {
            0 => None,
            n if n % 2 == 1 => Some(v[n / 2]),
            n => Some((v[n / 2 - 1] + v[n / 2]).div_euclid(2)),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_row_equals_a_brute_force_count_of_its_cell(
            specs in prop::collection::vec(spec(), 0..40),
            period in prop_oneof![Just(Period::Day), Just(Period::Week), Just(Period::Month), Just(Period::Quarter)],
            from_day in 0..200i32,
            span in 1..366i32,
        ) {
            let items: Vec<Interaction> = specs.iter().map(build).collect();
            let from = Date::from_days(start().date().days() + from_day);
            let to = Date::from_days(from.days() + span - 1);
            let mut b = WorkReportBuilder::new(from, to, period, now());
            for i in &items {
                let groups: Vec<Option<String>> = i.assignee.iter().map(|a| Some(a.clone())).collect();
                b.add(i, &groups);
            }
            let report = b.finish();
            let inside = |d: Date| d >= from && d <= to;
            let secs = |a: Timestamp, b: Timestamp| (b.as_micros() - a.as_micros()) / 1_000_000;
            let mut counted = 0;
            for row in &report.rows {
                let key = bucket(period, row.period);
                let mine = |i: &&Interaction| i.assignee == row.group;
                let opened: Vec<&Interaction> = items.iter().filter(mine)
                    .filter(|i| inside(i.occurred_at.date()) && bucket(period, i.occurred_at.date()) == key)
                    .collect();
                let resolved: Vec<&Interaction> = items.iter().filter(mine)
                    .filter(|i| !i.status.unwrap().is_open())
                    .filter(|i| {
                        let d = i.resolved_at.unwrap().date();
                        inside(d) && bucket(period, d) == key
                    })
                    .collect();
                prop_assert_eq!(row.opened, opened.len() as u64);
                prop_assert_eq!(row.resolved, resolved.len() as u64);
                prop_assert_eq!(
                    row.median_first_response_secs,
                    median(opened.iter().filter_map(|i| i.first_answered_at.map(|a| secs(i.occurred_at, a))).collect())
                );
                prop_assert_eq!(
                    row.median_resolution_secs,
                    median(resolved.iter().map(|i| secs(i.occurred_at, i.resolved_at.unwrap())).collect())
                );
                let with_due: Vec<&&Interaction> = opened.iter().filter(|i| i.due_at.is_some()).collect();
                let late = with_due.iter().filter(|i| {
                    let due = i.due_at.unwrap();
                    match i.resolved_at {
                        Some(r) => r > due,
                        None => now() > due,
                    }
                }).count() as u64;
                prop_assert_eq!(row.overdue, late);
                prop_assert_eq!(row.overdue_share, (!with_due.is_empty()).then(|| late as f64 / with_due.len() as f64));
                counted += opened.len() + resolved.len();
            }
            // No opening or resolution inside the range is missing from the rows.
            let events: usize = items.iter().map(|i| {
                usize::from(inside(i.occurred_at.date()))
                    + usize::from(i.resolved_at.is_some_and(|r| inside(r.date())))
            }).sum();
            prop_assert_eq!(counted, events);
            // Complaints per category: opened, resolved, and still open, per period.
            for row in &report.complaints {
                let key = bucket(period, row.period);
                let mine = |i: &&Interaction| i.kind == InteractionKind::Complaint && i.category == row.category;
                let opened: Vec<&Interaction> = items.iter().filter(mine)
                    .filter(|i| inside(i.occurred_at.date()) && bucket(period, i.occurred_at.date()) == key)
                    .collect();
                let resolved = items.iter().filter(mine)
                    .filter(|i| i.resolved_at.is_some_and(|r| inside(r.date()) && bucket(period, r.date()) == key))
                    .count() as u64;
                prop_assert_eq!(row.opened, opened.len() as u64);
                prop_assert_eq!(row.resolved, resolved);
                prop_assert_eq!(row.still_open, opened.iter().filter(|i| i.status.unwrap().is_open()).count() as u64);
            }
            let complaints: usize = items.iter().filter(|i| i.kind == InteractionKind::Complaint).map(|i| {
                usize::from(inside(i.occurred_at.date()))
                    + usize::from(i.resolved_at.is_some_and(|r| inside(r.date())))
            }).sum();
            prop_assert_eq!(
                report.complaints.iter().map(|r| (r.opened + r.resolved) as usize).sum::<usize>(),
                complaints
            );
        }
    }
}

/// Identity ignores case (the local part keeps its case for display); likeness also ignores the
/// local part's dots and `+tag`, and characters that look alike, and says which of these made
/// two addresses alike.
#[test]
fn email_identity_ignores_case_and_likeness_groups_probable_duplicates() {
    let e = |s: &str| Email::parse("email", s).unwrap();
    let ada = e("ada@example.com");
    assert_eq!(e("ADA@Example.COM").as_str(), "ADA@example.com");
    assert_eq!(e("ADA@Example.COM").identity(), ada.identity());
    assert_eq!(
        e("\u{C9}mile@example.fr").identity(),
        "\u{E9}mile@example.fr"
    );
    assert_ne!(e("a.da@example.com").identity(), ada.identity());
    for (other, why) in [
        ("Ada@example.com", EmailLikeness::Case),
        ("a.da@example.com", EmailLikeness::DotsOrTag),
        ("ada+news@example.com", EmailLikeness::DotsOrTag),
        // A Cyrillic a (U+0430) in place of the Latin one.
        ("\u{430}da@example.com", EmailLikeness::LookAlike),
    ] {
        let other = e(other);
        assert_eq!(other.likeness(), ada.likeness(), "{other}");
        assert_eq!(ada.likeness_reason(&other), why, "{other}");
    }
    for unlike in ["bob@example.com", "ada@example.org", "adam@example.com"] {
        assert_ne!(e(unlike).likeness(), ada.likeness(), "{unlike}");
    }
}

/// A number validated ahead on one thread is taken, once, by the parse of the same input and
/// country on another (the commit thread); nothing is left for an invalid number or another
/// country.
#[test]
fn a_number_validated_ahead_is_taken_once_by_the_commit_threads_parse() {
    let ca = Country::parse("country", "CA").unwrap();
    let us = Country::parse("country", "US").unwrap();
    // A number no other test parses: the hand-off is shared by the process.
    let raw = " +1 613 555 0177 ";
    let phone = Phone::validate_ahead(raw, Some("CA")).unwrap();
    assert_eq!(phone.as_str(), "+16135550177");
    std::thread::spawn(move || {
        assert_eq!(
            contact::take_validated_ahead("+1 613 555 0177", Some(us)),
            None
        );
        assert_eq!(
            contact::take_validated_ahead("+1 613 555 0177", Some(ca)),
            Some(phone)
        );
        assert_eq!(
            contact::take_validated_ahead("+1 613 555 0177", Some(ca)),
            None
        );
    })
    .join()
    .unwrap();
    // Left and taken by the ordinary parse on another thread, which answers the same.
    Phone::validate_ahead("+1 613 555 0178", None).unwrap();
    std::thread::spawn(|| {
        assert_eq!(
            Phone::parse("phone", "+1 613 555 0178", None)
                .unwrap()
                .as_str(),
            "+16135550178"
        );
        assert_eq!(contact::take_validated_ahead("+1 613 555 0178", None), None);
    })
    .join()
    .unwrap();
    assert!(Phone::validate_ahead("+1 613 555 01", None).is_err());
    assert_eq!(contact::take_validated_ahead("+1 613 555 01", None), None);
}

/// The ASCII shortcut of the look-alike key gives exactly the skeleton unicode-security computes:
/// for every ASCII character alone and next to every other (where normalization could join
/// them), and for random ASCII text.
#[test]
fn the_ascii_skeleton_is_the_crates_skeleton() {
    use proptest::prelude::*;
    let crates = |s: &str| unicode_security::skeleton(s).collect::<String>();
    for a in 0u8..128 {
        for b in 0u8..128 {
            let s = String::from_utf8(vec![a, b]).unwrap();
            assert_eq!(contact::skeleton(&s), crates(&s), "{s:?}");
        }
    }
    // Not ASCII: the crate's path, unchanged.
    assert_eq!(contact::skeleton("\u{430}da"), "ada");
    proptest!(ProptestConfig::with_cases(2000), |(s in "[\\x00-\\x7f]{0,64}")| {
        prop_assert_eq!(contact::skeleton(&s), crates(&s));
    });
}

/// An ASCII address's identity is the general path's answer (lowercased, in NFC).
#[test]
fn an_ascii_identity_is_the_general_identity() {
    use proptest::prelude::*;
    use unicode_normalization::UnicodeNormalization as _;
    proptest!(ProptestConfig::with_cases(2000), |(local in "[A-Za-z0-9._%+!#$&'*/=?^`{|}~-]{1,20}", domain in "[A-Za-z0-9]{1,10}\\.[A-Za-z]{2,6}")| {
        let e = Email::parse("email", &format!("{local}@{domain}"));
        prop_assume!(e.is_ok());
        let e = e.unwrap();
        let general: String = e.as_str().to_lowercase().nfc().collect();
        prop_assert_eq!(e.identity(), general);
    });
}

// ---------------------------------------------------------------------------------------------
// Consent records

fn consent(channel: ConsentChannel, purpose: &str, status: ConsentStatus) -> ConsentInput {
    ConsentInput {
        channel,
        purpose: purpose.into(),
        status,
        source: None,
        at: None,
        note: None,
    }
}

#[test]
fn marketing_consent_is_the_email_marketing_record() {
    let c = Customer::new(
        CustomerId::generate(),
        CustomerInput {
            marketing_consent: true,
            consent_source: ConsentSource::Import,
            ..ada_input()
        },
        now(),
    )
    .unwrap();
    assert!(c.marketing_consent);
    assert_eq!(c.consents.len(), 1);
    let r = &c.consents[0];
    assert_eq!(
        (r.channel, r.purpose.as_str(), r.status, r.source, r.at),
        (
            ConsentChannel::Email,
            MARKETING,
            ConsentStatus::Granted,
            ConsentSource::Import,
            now()
        )
    );
    let changes = c.consent_changes(None);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].field, "consents.email.marketing");
    assert_eq!(changes[0].old, None);
    assert!(
        changes[0]
            .new
            .as_deref()
            .unwrap()
            .starts_with("granted (import) at 2024-05-01"),
        "{changes:?}"
    );
    // Never asked is not withdrawn: no record.
    assert!(ada().consents.is_empty());
    assert!(!ada().marketing_consent);
}

#[test]
fn a_withdrawal_replaces_the_record_and_keeps_the_old_one_in_history() {
    let mut c = ada();
    let granted = CustomerPatch {
        consents: Some(vec![ConsentInput {
            source: Some(ConsentSource::Form),
            note: Some("https://example.com/signup".into()),
            ..consent(ConsentChannel::Email, "Marketing", ConsentStatus::Granted)
        }]),
        ..Default::default()
    };
    assert_eq!(
        c.apply(granted, now()).unwrap(),
        ["marketing_consent", "consents"]
    );
    assert!(c.marketing_consent && c.may_contact(ConsentChannel::Email, "marketing"));
    assert!(!c.may_contact(ConsentChannel::Sms, "marketing"));
    let before = c.clone();
    // The shorthand withdraws it too, with the source of where the change came from.
    let withdraw = CustomerPatch {
        marketing_consent: Some(false),
        consent_source: ConsentSource::Plugin,
        ..Default::default()
    };
    c.apply(withdraw, later()).unwrap();
    assert!(!c.marketing_consent && !c.may_contact(ConsentChannel::Email, "marketing"));
    assert_eq!(c.consents[0].status, ConsentStatus::Withdrawn);
    assert_eq!(c.consents[0].source, ConsentSource::Plugin);
    assert_eq!(c.consents[0].at, later());
    assert_eq!(c.consent_history, before.consents);
    let changes = c.consent_changes(Some(&before));
    assert_eq!(changes.len(), 1);
    assert!(
        changes[0]
            .old
            .as_deref()
            .unwrap()
            .starts_with("granted (form)")
    );
    assert!(
        changes[0]
            .new
            .as_deref()
            .unwrap()
            .starts_with("withdrawn (plugin)")
    );
    // The note stays on the record, not in the event log (an erasure removes it).
    assert!(!changes[0].old.as_deref().unwrap().contains("example.com"));
}

#[test]
fn consent_records_sent_back_unchanged_change_nothing() {
    let mut c = ada();
    let patch = CustomerPatch {
        consents: Some(vec![
            consent(ConsentChannel::Sms, "reminders", ConsentStatus::Granted),
            consent(ConsentChannel::Post, "catalogue", ConsentStatus::Withdrawn),
        ]),
        ..Default::default()
    };
    c.apply(patch, now()).unwrap();
    let same = CustomerPatch {
        consents: Some(c.consents.iter().map(ConsentInput::from).collect()),
        marketing_consent: Some(false),
        consent_history: Some(Vec::new()),
        ..Default::default()
    };
    assert!(c.clone().apply(same, later()).unwrap().is_empty());
    // Leaving a pair out leaves it alone; the same status without a time keeps the record's.
    let one = CustomerPatch {
        consents: Some(vec![consent(
            ConsentChannel::Sms,
            "reminders",
            ConsentStatus::Granted,
        )]),
        ..Default::default()
    };
    assert!(c.clone().apply(one, later()).unwrap().is_empty());
    // JSON and the store's layout carry the records.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["consents"][0]["channel"], "sms");
    assert_eq!(json["consents"][1]["status"], "withdrawn");
    assert_eq!(serde_json::from_value::<Customer>(json).unwrap(), c);
    let bytes = postcard::to_allocvec(&c).unwrap();
    assert_eq!(postcard::from_bytes::<Customer>(&bytes).unwrap(), c);
}

#[test]
fn bad_consent_records_name_their_field() {
    let bad = |changes: Vec<ConsentInput>| {
        let patch = CustomerPatch {
            consents: Some(changes),
            ..Default::default()
        };
        error_fields(ada().apply(patch, now()))
    };
    let mut r = consent(ConsentChannel::Email, "news letter", ConsentStatus::Granted);
    assert_eq!(bad(vec![r.clone()]), ["consents[0].purpose"]);
    r.purpose = "n".repeat(65);
    assert_eq!(bad(vec![r.clone()]), ["consents[0].purpose"]);
    r.purpose = "news".into();
    r.at = Some(now().plus_micros(6 * 60 * 1_000_000));
    assert_eq!(bad(vec![r.clone()]), ["consents[0].at"]);
    r.at = Some(now().plus_micros(60 * 1_000_000)); // clock skew is fine
    assert!(
        ada()
            .apply(
                CustomerPatch {
                    consents: Some(vec![r.clone()]),
                    ..Default::default()
                },
                now()
            )
            .is_ok()
    );
    r.at = None;
    r.note = Some("x".repeat(501));
    assert_eq!(bad(vec![r.clone()]), ["consents[0].note"]);
    r.note = None;
    let twice = vec![
        r.clone(),
        ConsentInput {
            purpose: "NEWS".into(),
            ..r.clone()
        },
    ];
    assert_eq!(bad(twice), ["consents[1]"]);
    let many = (0..=MAX_CONSENTS)
        .map(|i| {
            consent(
                ConsentChannel::Post,
                &format!("p{i}"),
                ConsentStatus::Granted,
            )
        })
        .collect();
    assert_eq!(bad(many), ["consents"]);
    // The shorthand and a record of the same pair must agree.
    let patch = CustomerPatch {
        marketing_consent: Some(true),
        consents: Some(vec![consent(
            ConsentChannel::Email,
            "marketing",
            ConsentStatus::Withdrawn,
        )]),
        ..Default::default()
    };
    assert_eq!(
        error_fields(ada().apply(patch, now())),
        ["marketing_consent"]
    );
    // JSON refuses unknown channels and fields.
    let json = serde_json::json!({"name": "A", "consents": [{"channel": "fax", "purpose": "x", "status": "granted"}]});
    assert!(serde_json::from_value::<CustomerInput>(json).is_err());
}

#[test]
fn consent_history_is_bounded() {
    let mut c = ada();
    for i in 0..(MAX_CONSENT_HISTORY + 20) {
        let patch = CustomerPatch {
            marketing_consent: Some(i % 2 == 0),
            ..Default::default()
        };
        c.apply(patch, now().plus_micros(i as i64)).unwrap();
    }
    assert_eq!(c.consents.len(), 1);
    assert_eq!(c.consent_history.len(), MAX_CONSENT_HISTORY);
    // Newest last: the one just replaced.
    assert_eq!(
        c.consent_history.last().unwrap().at,
        now().plus_micros((MAX_CONSENT_HISTORY + 18) as i64)
    );
}

#[test]
fn merging_keeps_the_newer_record_of_each_pair() {
    let mut survivor = ada();
    let mut dup = Customer::new(
        CustomerId::generate(),
        CustomerInput {
            email: None,
            ..ada_input()
        },
        now(),
    )
    .unwrap();
    let set = |c: &mut Customer, r: ConsentInput, at| {
        let patch = CustomerPatch {
            consents: Some(vec![r]),
            ..Default::default()
        };
        c.apply(patch, at).unwrap();
    };
    set(
        &mut survivor,
        consent(ConsentChannel::Email, "marketing", ConsentStatus::Granted),
        now(),
    );
    set(
        &mut dup,
        consent(ConsentChannel::Email, "marketing", ConsentStatus::Withdrawn),
        later(),
    );
    set(
        &mut dup,
        consent(ConsentChannel::Sms, "alerts", ConsentStatus::Granted),
        later(),
    );
    let m = survivor.merge(&dup, later()).unwrap();
    assert!(
        !m.marketing_consent,
        "the duplicate's later withdrawal wins"
    );
    assert_eq!(m.consents.len(), 2);
    assert!(m.may_contact(ConsentChannel::Sms, "alerts"));
    assert_eq!(m.consent_history.len(), 1);
    assert_eq!(m.consent_history[0].status, ConsentStatus::Granted);
}

#[test]
fn customers_stored_before_consent_records_read_their_marketing_consent_as_one() {
    let c = Customer::new(
        CustomerId::generate(),
        CustomerInput {
            marketing_consent: true,
            ..ada_input()
        },
        now(),
    )
    .unwrap();
    let bytes = postcard::to_allocvec(&c).unwrap();
    // The first release's layout is this one without the extension (its last 3 + 3 + ... bytes):
    // encode a customer without consents, then cut the extension's `Some` tag and two empty
    // lists, and set `marketing_consent` as the old record had it.
    let mut plain = c.clone();
    plain.consents.clear();
    plain.marketing_consent = true;
    let mut old = postcard::to_allocvec(&plain).unwrap();
    assert_eq!(old.split_off(old.len() - 3), [1, 0, 0]);
    let read: Customer = postcard::from_bytes(&old).unwrap();
    assert!(read.marketing_consent);
    assert_eq!(read.consents.len(), 1);
    assert_eq!(read.consents[0].status, ConsentStatus::Granted);
    assert_eq!(read.consents[0].at, c.updated_at);
    assert!(bytes.len() > old.len());
    // Without consent, no record.
    let mut none = ada();
    none.marketing_consent = false;
    let mut old = postcard::to_allocvec(&none).unwrap();
    old.truncate(old.len() - 3);
    assert!(
        postcard::from_bytes::<Customer>(&old)
            .unwrap()
            .consents
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Custom field definitions

fn field_input(field_type: FieldType, options: &[&str]) -> FieldDefinitionInput {
    serde_json::from_value(serde_json::json!({
        "label": "Tier", "type": field_type, "options": options,
    }))
    .unwrap()
}

#[test]
fn a_definition_checks_values_by_type_and_options() {
    let select = FieldDefinition::new(
        FieldObject::Customer,
        "tier",
        field_input(FieldType::Select, &["gold", "silver"]),
        None,
        now(),
    )
    .unwrap();
    assert_eq!(
        (select.version, select.filterable, select.required),
        (1, true, false)
    );
    let text = |s: &str| AttributeValue::Text(s.into());
    assert!(select.check("a", Some(&text("gold"))).is_ok());
    assert!(select.check("a", None).is_ok());
    assert_eq!(error_fields(select.check("a", Some(&text("Gold")))), ["a"]);
    assert_eq!(
        error_fields(select.check("a", Some(&AttributeValue::Number(1.0)))),
        ["a"]
    );
    let multi = FieldDefinition::new(
        FieldObject::Deal,
        "topics",
        field_input(FieldType::MultiSelect, &["a", "b"]),
        None,
        now(),
    )
    .unwrap();
    let list = |v: &[&str]| AttributeValue::List(v.iter().map(|s| (*s).to_owned()).collect());
    assert!(multi.check("x", Some(&list(&["b", "a"]))).is_ok());
    assert!(multi.check("x", Some(&list(&[]))).is_ok());
    assert!(multi.check("x", Some(&list(&["a", "a"]))).is_err());
    assert!(multi.check("x", Some(&list(&["c"]))).is_err());
    assert!(multi.check("x", Some(&text("a"))).is_err());
    for (t, ok) in [
        (FieldType::Number, AttributeValue::Number(2.5)),
        (FieldType::Boolean, AttributeValue::Boolean(true)),
        (
            FieldType::Date,
            AttributeValue::Date("2026-01-02".parse().unwrap()),
        ),
        (
            FieldType::Money,
            AttributeValue::Money(Money::new(5, cur("EUR"))),
        ),
        (FieldType::Text, text("anything")),
    ] {
        let mut input = field_input(t, &[]);
        input.required = true;
        let d = FieldDefinition::new(FieldObject::WorkItem, "f", input, None, now()).unwrap();
        assert!(d.check("f", Some(&ok)).is_ok(), "{t:?}");
        assert_eq!(error_fields(d.check("f", None)), ["f"], "{t:?} is required");
        let other = if t == FieldType::Text {
            AttributeValue::Number(1.0)
        } else {
            text("x")
        };
        assert!(d.check("f", Some(&other)).is_err(), "{t:?}");
    }
    // Several definitions at once name each attribute.
    let attrs = BTreeMap::from([("tier".to_owned(), text("tin"))]);
    let mut required = field_input(FieldType::Number, &[]);
    required.required = true;
    let seats =
        FieldDefinition::new(FieldObject::Customer, "seats", required, None, now()).unwrap();
    let err = check_fields(&[select, seats], &attrs).unwrap_err();
    let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["attributes.tier", "attributes.seats"]);
}

#[test]
fn a_redefinition_keeps_its_creation_and_counts_versions() {
    let first = FieldDefinition::new(
        FieldObject::Customer,
        "tier",
        field_input(FieldType::Text, &[]),
        None,
        now(),
    )
    .unwrap();
    let second = FieldDefinition::new(
        FieldObject::Customer,
        "tier",
        field_input(FieldType::Number, &[]),
        Some(&first),
        later(),
    )
    .unwrap();
    assert_eq!(
        (second.version, second.created_at, second.updated_at),
        (2, now(), later())
    );
    // What a GET returns goes back unchanged.
    let json = serde_json::to_value(&second).unwrap();
    assert_eq!(json["type"], "number");
    let back: FieldDefinitionInput = serde_json::from_value(json).unwrap();
    assert!(
        FieldDefinition::new(FieldObject::Customer, "tier", back, Some(&second), later()).is_ok()
    );
}

#[test]
fn bad_definitions_name_their_field() {
    let bad = |key: &str, input: FieldDefinitionInput| {
        error_fields(FieldDefinition::new(
            FieldObject::Customer,
            key,
            input,
            None,
            now(),
        ))
    };
    assert_eq!(bad("Tier", field_input(FieldType::Text, &[])), ["key"]);
    assert_eq!(
        bad("tier", field_input(FieldType::Select, &[])),
        ["options"]
    );
    assert_eq!(
        bad("tier", field_input(FieldType::Select, &["a", " a "])),
        ["options[1]"]
    );
    assert_eq!(
        bad("tier", field_input(FieldType::Select, &[""])),
        ["options[0]"]
    );
    assert_eq!(
        bad("tier", field_input(FieldType::Number, &["a"])),
        ["options"]
    );
    let many: Vec<String> = (0..=MAX_FIELD_OPTIONS).map(|i| format!("o{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        bad("tier", field_input(FieldType::Select, &many)),
        ["options"]
    );
    let mut unique = field_input(FieldType::MultiSelect, &["a"]);
    unique.unique = true;
    assert_eq!(bad("tier", unique), ["unique"]);
    let mut label = field_input(FieldType::Text, &[]);
    label.label = "l".repeat(101);
    assert_eq!(bad("tier", label), ["label"]);
    let mut moved = field_input(FieldType::Text, &[]);
    moved.object = Some(FieldObject::Deal);
    assert_eq!(bad("tier", moved), ["object"]);
    // A list value is bounded on its own.
    let long = AttributeValue::List(vec!["x".into(); 101]);
    assert_eq!(
        error_fields(long.validate("attributes.t")),
        ["attributes.t"]
    );
}

#[test]
fn index_values_sort_as_the_values_do() {
    let def = |t: FieldType| {
        let mut input = field_input(
            t,
            if t == FieldType::MultiSelect {
                &["a", "b"]
            } else {
                &[]
            },
        );
        // A multi-select may be neither unique nor sortable: its entries are still defined.
        input.sortable = t != FieldType::MultiSelect;
        FieldDefinition::new(FieldObject::Customer, "f", input, None, now()).unwrap()
    };
    let sorted = |t: FieldType, values: Vec<AttributeValue>| {
        let d = def(t);
        let keys: Vec<Vec<u8>> = values
            .iter()
            .map(|v| d.index_values(Some(v)).pop().unwrap())
            .collect();
        let mut again = keys.clone();
        again.sort();
        assert_eq!(keys, again, "{t:?}: {values:?}");
        // No value's key is the start of another's: an exact lookup is a prefix scan.
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert!(!b.starts_with(a) && !a.starts_with(b), "{t:?}");
            }
        }
    };
    let n = AttributeValue::Number;
    sorted(
        FieldType::Number,
        vec![
            n(f64::MIN),
            n(-2.5),
            n(-0.5),
            n(0.0),
            n(1e-9),
            n(3.0),
            n(f64::MAX),
        ],
    );
    let text = |s: &str| AttributeValue::Text(s.into());
    sorted(
        FieldType::Text,
        vec![
            text(""),
            text("a"),
            text("a\0"),
            text("a\0b"),
            text("ab"),
            text("b"),
        ],
    );
    let day = |s: &str| AttributeValue::Date(s.parse().unwrap());
    sorted(
        FieldType::Date,
        vec![
            day("1815-12-10"),
            day("1969-12-31"),
            day("1970-01-01"),
            day("2026-12-05"),
        ],
    );
    let eur = |m: i64| AttributeValue::Money(Money::new(m, cur("EUR")));
    sorted(
        FieldType::Money,
        vec![eur(-5), eur(0), eur(7), eur(i64::MAX)],
    );
    sorted(
        FieldType::Boolean,
        vec![
            AttributeValue::Boolean(false),
            AttributeValue::Boolean(true),
        ],
    );
    // -0.0 is 0.0; a multi-select has an entry per option; another type has none.
    let d = def(FieldType::Number);
    assert_eq!(
        d.index_values(Some(&n(-0.0))),
        d.index_values(Some(&n(0.0)))
    );
    assert!(d.index_values(Some(&text("1"))).is_empty());
    assert!(d.index_values(None).is_empty());
    let list = AttributeValue::List(vec!["a".into(), "b".into()]);
    assert_eq!(
        def(FieldType::MultiSelect).index_values(Some(&list)).len(),
        2
    );
}

#[test]
fn an_indexed_text_value_is_bounded() {
    let mut input = field_input(FieldType::Text, &[]);
    input.unique = true;
    let d = FieldDefinition::new(FieldObject::Customer, "code", input, None, now()).unwrap();
    let text = |n: usize| AttributeValue::Text("é".repeat(n));
    assert!(d.check("a", Some(&text(MAX_INDEXED_TEXT))).is_ok());
    assert_eq!(
        error_fields(d.check("a", Some(&text(MAX_INDEXED_TEXT + 1)))),
        ["a"]
    );
    // Not indexed: any text an attribute may hold.
    let free = FieldDefinition::new(
        FieldObject::Customer,
        "note",
        field_input(FieldType::Text, &[]),
        None,
        now(),
    )
    .unwrap();
    assert!(free.check("a", Some(&text(4096))).is_ok());
}
