//! Checks of the values a delivery carries, mirroring what the host accepts, so that an
//! accepted delivery never turns into actions the host refuses.
//!
//! Every plugin of the commerce pack has its own copy of this module, so each plugin
//! crate stays self-contained (a plugin is one shipped file); keep the copies in step.
//! This copy leaves out what the generic format has no use for (phones, countries, JSON
//! decimals).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use kith_plugin_sdk::time::parse_rfc3339;
use kith_plugin_sdk::{Money, Timestamp};
use serde_json::Value;
use sha2::Sha256;

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

/// Whether `signature` (base64) is the HMAC-SHA256 of `body` under `secret`, compared in
/// constant time. Undecodable base64 is simply not valid.
pub fn signature_is_valid(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Ok(expected) = BASE64.decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// A non-negative decimal amount (`"19.99"`) in `currency` as exact minor units.
///
/// The currency must be one the host knows. Fraction digits beyond the currency's
/// exponent are refused unless they are zeros (`"1000.00"` JPY is exactly 1000: platforms
/// format every amount with the shop's decimal setting); nothing is ever rounded.
/// `field` names the amount in the reason.
pub fn money(field: &str, amount: &str, currency: &str) -> Result<Money, String> {
    if CURRENCIES.binary_search(&currency).is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_uses_the_currency_exponent_and_never_floats() {
        assert_eq!(money("t", "19.99", "USD"), Ok(Money::new(1999, "USD")));
        assert_eq!(money("t", "0.29", "USD"), Ok(Money::new(29, "USD")));
        assert_eq!(money("t", "1500", "JPY"), Ok(Money::new(1500, "JPY")));
        assert_eq!(money("t", "1500.00", "JPY"), Ok(Money::new(1500, "JPY")));
        assert_eq!(money("t", "1.234", "KWD"), Ok(Money::new(1234, "KWD")));
        assert_eq!(money("t", "0", "EUR"), Ok(Money::new(0, "EUR")));
        for (amount, currency) in [
            ("1.5", "JPY"),
            ("1.001", "USD"),
            ("1.2345", "KWD"),
            ("-1.00", "USD"),
            ("1e3", "USD"),
            ("", "USD"),
            ("92233720368547758.08", "USD"),
            ("1.00", "XXX"),
            ("1.00", "usd"),
            ("1.00", ""),
        ] {
            assert!(money("t", amount, currency).is_err(), "{amount} {currency}");
        }
    }

    #[test]
    fn currencies_are_sorted_for_binary_search() {
        assert!(CURRENCIES.windows(2).all(|w| w[0] < w[1]));
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
            "jon@exa_mple.com",
            "jon@-example.com",
            &format!("{}@example.com", "x".repeat(65)),
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_integers_or_short_strings() {
        assert_eq!(
            id_text(&serde_json::json!(820982911946154508u64)),
            Some("820982911946154508".into())
        );
        assert_eq!(id_text(&serde_json::json!(" A-1 ")), Some("A-1".into()));
        for bad in [
            serde_json::json!(1.5),
            serde_json::json!(""),
            serde_json::json!(true),
            serde_json::json!({}),
            serde_json::json!("x".repeat(MAX_ID + 1)),
        ] {
            assert_eq!(id_text(&bad), None, "{bad}");
        }
        assert_eq!(optional_id("c", Some(&serde_json::json!(0))), Ok(None));
        assert!(optional_id("c", Some(&serde_json::json!([1]))).is_err());
    }

    #[test]
    fn timestamps_must_be_rfc3339_within_the_hosts_range() {
        assert_eq!(timestamp("t", "1970-01-01T00:00:01Z"), Ok(1_000_000));
        assert!(timestamp("t", "0000-01-01T00:00:00Z").is_err());
        assert!(timestamp("t", "2024-05-01 10:00").is_err());
    }
}
