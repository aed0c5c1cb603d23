//! Values read from a delivery's JSON: exact money, ids, emails, timestamps, text, phones and
//! countries, each checked the way the host checks it.

use serde_json::Value;

use crate::time::parse_rfc3339;
use crate::{Money, Timestamp};

/// Longest id (order, customer, refund) accepted, in bytes; longer ids are malformed.
pub const MAX_ID: usize = 128;

/// Longest text copied from a delivery into an attribute, subject or name, in characters.
pub const MAX_TEXT: usize = 200;

/// The earliest time the host stores (0001-01-01T00:00:00Z).
const MIN_TIMESTAMP: Timestamp = -62_135_596_800_000_000;

/// Active ISO 4217 codes the host knows (its table, funds and precious metals omitted), sorted.
const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// Whether `code` is an active ISO 4217 currency the host knows (upper case, as `"EUR"`).
pub fn is_known_currency(code: &str) -> bool {
    CURRENCIES.binary_search(&code).is_ok()
}

/// A non-negative decimal amount (`"19.99"`) in `currency` as exact minor units.
///
/// The currency must be one the host knows. Fraction digits beyond the currency's
/// exponent are refused unless they are zeros (`"1000.00"` JPY is exactly 1000: platforms
/// format every amount with the shop's decimal setting); nothing is ever rounded.
/// `field` names the amount in the reason.
pub fn money(field: &str, amount: &str, currency: &str) -> Result<Money, String> {
    if !is_known_currency(currency) {
        return Err(format!(
            "{field}: currency {:?} is not an ISO 4217 code Kith knows",
            clip(currency)
        ));
    }
    let money = Money::from_decimal(amount, currency).map_err(|e| format!("{field}: {e}"))?;
    if money.amount < 0 {
        return Err(format!("{field}: {amount:?} must not be negative"));
    }
    Ok(money)
}

/// The decimal string of a JSON value that must be one (`"19.99"`, never a float).
pub fn decimal<'a>(field: &str, value: Option<&'a Value>) -> Result<&'a str, String> {
    match value {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(format!("{field} is missing")),
        Some(_) => Err(format!(
            "{field} must be a decimal string such as \"19.99\""
        )),
    }
}

/// An email address as the host stores it (trimmed, domain lower-cased), or why not.
///
/// Mirrors the host's rules: one `@`, 1 to 64 characters before it without spaces, quotes,
/// commas or angle brackets, a dotted domain of letters, digits and hyphens, 254 at most.
pub fn email(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let bad = || Err(format!("{:?} is not a valid email address", clip(s)));
    let Some((local, domain)) = s.rsplit_once('@') else {
        return bad();
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "@\",<>".contains(c));
    let domain = domain.to_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    let address = format!("{}@{domain}", local.to_lowercase());
    if local_ok && domain_ok && address.len() <= 254 {
        Ok(address)
    } else {
        bad()
    }
}

/// The first non-blank address of `candidates`, validated; `None` when all are blank.
pub fn first_email<'a>(
    candidates: impl IntoIterator<Item = Option<&'a str>>,
) -> Result<Option<String>, String> {
    match candidates
        .into_iter()
        .flatten()
        .find(|e| !e.trim().is_empty())
    {
        Some(raw) => email(raw).map(Some),
        None => Ok(None),
    }
}

/// An id sent as a JSON integer or a non-blank string, as text; `None` for anything else.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() && s.trim().len() <= MAX_ID => {
            Some(s.trim().to_owned())
        }
        _ => None,
    }
}

/// A required id: `field` must be an integer or a short non-blank string.
pub fn required_id(field: &str, value: Option<&Value>) -> Result<String, String> {
    value
        .and_then(id_text)
        .ok_or_else(|| format!("{field} is missing or not an integer or short string"))
}

/// An optional id: absent, `null`, `0` and `""` mean none; anything else must be an id.
pub fn optional_id(field: &str, value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => id_text(v)
            .map(Some)
            .ok_or_else(|| format!("{field} is not an integer or short string")),
    }
}

/// An RFC 3339 date-time the host can store, or why not.
pub fn timestamp(field: &str, raw: &str) -> Result<Timestamp, String> {
    parse_rfc3339(raw)
        .filter(|t| *t >= MIN_TIMESTAMP)
        .ok_or_else(|| format!("{field} {:?} is not an RFC 3339 date-time", clip(raw)))
}

/// At most [`MAX_TEXT`] characters of `s`, trimmed; `None` when blank.
pub fn text(s: Option<&str>) -> Option<String> {
    s.map(|s| clip(s.trim())).filter(|s| !s.is_empty())
}

/// At most [`MAX_TEXT`] characters of `s`.
pub fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}

/// A two-letter country code in upper case, or `None` (the field is then left unchanged).
pub fn country(code: Option<&str>) -> Option<String> {
    let code = code?.trim();
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| code.to_ascii_uppercase())
}

/// A phone number the host can normalize, as sent, or `None` (left unchanged).
///
/// Digits with the usual separators, optionally international (`+` or `00`): 8 to 15
/// digits then, 6 to 13 for a national number the host completes with the country code.
pub fn phone(raw: Option<&str>) -> Option<String> {
    let s = raw?.trim();
    let mut digits = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return None,
        }
    }
    let plus = s.starts_with('+');
    let international = plus || digits.starts_with("00");
    if !plus && international {
        digits.drain(..2);
    }
    let ok = if international {
        (8..=15).contains(&digits.len()) && !digits.starts_with('0')
    } else {
        (6..=13).contains(&digits.len())
    };
    ok.then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn money_uses_the_currency_exponent_and_never_floats() {
        assert_eq!(money("t", "19.99", "USD"), Ok(Money::new(1999, "USD")));
        // 0.29 * 100 is 28.999999999999996 in floating point.
        assert_eq!(money("t", "0.29", "USD"), Ok(Money::new(29, "USD")));
        assert_eq!(money("t", "1500", "JPY"), Ok(Money::new(1500, "JPY")));
        assert_eq!(money("t", "1500.00", "JPY"), Ok(Money::new(1500, "JPY")));
        assert_eq!(money("t", "1.234", "KWD"), Ok(Money::new(1234, "KWD")));
        assert_eq!(money("t", "12.340", "USD"), Ok(Money::new(1234, "USD")));
        assert_eq!(money("t", "0", "EUR"), Ok(Money::new(0, "EUR")));
        assert_eq!(
            money("t", "92233720368547758.07", "USD"),
            Ok(Money::new(i64::MAX, "USD"))
        );
    }

    #[test]
    fn money_refuses_what_it_cannot_take_exactly() {
        for (amount, currency, why) in [
            ("12.345", "USD", "more precise than its currency"),
            ("1.5", "JPY", "more precise than its currency"),
            ("1.2345", "KWD", "more precise than its currency"),
            ("-1.00", "USD", "must not be negative"),
            ("-0.01", "EUR", "must not be negative"),
            ("92233720368547758.08", "USD", "too large"),
            ("99999999999999999999", "JPY", "too large"),
            ("1e3", "USD", "invalid decimal amount"),
            ("1.5E2", "USD", "invalid decimal amount"),
            (" 1.00", "USD", "invalid decimal amount"),
            ("1.00 ", "USD", "invalid decimal amount"),
            ("1 000", "USD", "invalid decimal amount"),
            ("1,00", "EUR", "invalid decimal amount"),
            ("", "USD", "invalid decimal amount"),
            (".5", "USD", "invalid decimal amount"),
            ("5.", "USD", "invalid decimal amount"),
            ("NaN", "USD", "invalid decimal amount"),
            ("0x10", "USD", "invalid decimal amount"),
            ("1.00", "XXX", "not an ISO 4217 code Kith knows"),
            ("1.00", "ABC", "not an ISO 4217 code Kith knows"),
            ("1.00", "usd", "not an ISO 4217 code Kith knows"),
            ("1.00", " USD", "not an ISO 4217 code Kith knows"),
            ("1.00", "", "not an ISO 4217 code Kith knows"),
        ] {
            let err = money("total", amount, currency).unwrap_err();
            assert!(
                err.starts_with("total: ") && err.contains(why),
                "{amount:?} {currency:?}: {err}"
            );
        }
    }

    #[test]
    fn currencies_are_sorted_for_binary_search() {
        assert!(CURRENCIES.windows(2).all(|w| w[0] < w[1]));
        assert!(CURRENCIES.iter().all(|c| c.len() == 3));
        assert!(is_known_currency("EUR") && is_known_currency("ZWG"));
        assert!(!is_known_currency("XAU"), "precious metals are left out");
    }

    #[test]
    fn decimals_must_be_json_strings() {
        assert_eq!(decimal("total", Some(&json!("19.99"))), Ok("19.99"));
        assert_eq!(decimal("total", None), Err("total is missing".into()));
        assert_eq!(
            decimal("total", Some(&json!(null))),
            Err("total is missing".into())
        );
        for bad in [json!(19.99), json!(1999), json!(["19.99"]), json!(true)] {
            let err = decimal("total", Some(&bad)).unwrap_err();
            assert!(err.contains("decimal string"), "{bad}: {err}");
        }
    }

    #[test]
    fn emails_follow_the_hosts_rules() {
        assert_eq!(
            email(" Jon.Snow@Example.COM "),
            Ok("jon.snow@example.com".into())
        );
        for bad in [
            "",
            "jon",
            "@example.com",
            "jon@",
            "jon@localhost",
            "jon snow@example.com",
            ".jon@example.com",
            "jon.@example.com",
            "jo..n@example.com",
            "jon@exa_mple.com",
            "jon@-example.com",
            "jon@example..com",
            "\"jon\"@example.com",
            &format!("{}@example.com", "x".repeat(65)),
            &format!("jon@{}.com", "d".repeat(64)),
            &format!("jon@{}.com", vec!["d".repeat(60); 5].join(".")),
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            first_email([None, Some("  "), Some("a@b.co")]),
            Ok(Some("a@b.co".into()))
        );
        assert_eq!(first_email([None, Some("")]), Ok(None));
        assert!(first_email([Some("nope"), Some("a@b.co")]).is_err());
    }

    #[test]
    fn ids_are_integers_or_short_strings() {
        assert_eq!(
            id_text(&json!(820982911946154508u64)),
            Some("820982911946154508".into())
        );
        assert_eq!(id_text(&json!(-7)), Some("-7".into()));
        assert_eq!(id_text(&json!(" A-1 ")), Some("A-1".into()));
        assert_eq!(
            id_text(&json!("x".repeat(MAX_ID))),
            Some("x".repeat(MAX_ID))
        );
        for bad in [
            json!(1.5),
            json!(1e3),
            json!(""),
            json!("   "),
            json!(true),
            json!({}),
            json!(null),
            json!("x".repeat(MAX_ID + 1)),
        ] {
            assert_eq!(id_text(&bad), None, "{bad}");
        }
        assert_eq!(required_id("id", Some(&json!(5))), Ok("5".into()));
        assert!(
            required_id("id", None)
                .unwrap_err()
                .starts_with("id is missing")
        );
        for none in [None, Some(json!(null)), Some(json!(0)), Some(json!(" "))] {
            assert_eq!(optional_id("c", none.as_ref()), Ok(None), "{none:?}");
        }
        assert!(optional_id("c", Some(&json!([1]))).is_err());
    }

    #[test]
    fn text_is_trimmed_and_clipped_on_character_boundaries() {
        assert_eq!(text(Some("  hi ")), Some("hi".into()));
        assert_eq!(text(Some("   ")), None);
        assert_eq!(text(None), None);
        let long = "é".repeat(MAX_TEXT + 10);
        assert_eq!(clip(&long).chars().count(), MAX_TEXT);
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn phones_and_countries_the_host_cannot_store_are_dropped() {
        assert_eq!(
            phone(Some("+1 (613) 555-0100")),
            Some("+1 (613) 555-0100".into())
        );
        assert_eq!(phone(Some("555-625-1199")), Some("555-625-1199".into()));
        assert_eq!(
            phone(Some("0044 20 7946 0958")),
            Some("0044 20 7946 0958".into())
        );
        assert_eq!(phone(Some("+0123456789")), None);
        assert_eq!(phone(Some("call me")), None);
        assert_eq!(phone(Some("12+3456789")), None);
        assert_eq!(phone(Some("123")), None);
        assert_eq!(phone(None), None);
        assert_eq!(country(Some(" ca ")), Some("CA".into()));
        assert_eq!(country(Some("Canada")), None);
        assert_eq!(country(Some("C1")), None);
    }

    #[test]
    fn timestamps_must_be_rfc3339_within_the_hosts_range() {
        assert_eq!(timestamp("t", "1970-01-01T00:00:01Z"), Ok(1_000_000));
        assert_eq!(timestamp("t", "0001-01-01T00:00:00Z"), Ok(MIN_TIMESTAMP));
        for bad in [
            "0000-01-01T00:00:00Z",
            "2024-05-01 10:00",
            "2024-02-30T00:00:00Z",
            "1714557600",
            "",
        ] {
            let err = timestamp("created_at", bad).unwrap_err();
            assert!(err.starts_with("created_at "), "{bad:?}: {err}");
        }
    }
}
