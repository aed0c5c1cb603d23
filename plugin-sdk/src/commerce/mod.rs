//! Helpers for commerce hooks (cargo feature `commerce`): verify a platform's webhook
//! signature, read exact money, ids, emails and timestamps from its JSON, and answer.
//!
//! Every check mirrors what the host accepts, so a delivery the hook accepts never turns into
//! actions the host refuses. Checks of values return `Err(reason)` with a reason that names
//! the field; a hook answers a malformed body with `rejected(malformed)` and that reason,
//! never a trap.
//!
//! The feature pulls in HMAC-SHA256 and base64; scorers and segmenters leave it off.
//!
//! ```
//! use kith_plugin_sdk::commerce::{self, Outcome};
//! use kith_plugin_sdk::{HookOutput, RejectionKind, Verdict, Webhook};
//!
//! fn handle(secret: &str, webhook: &Webhook) -> HookOutput {
//!     if let Err(rejection) = commerce::verify_signature(webhook, "X-Shop-Signature", secret.as_bytes()) {
//!         return rejection;
//!     }
//!     let result = commerce::parse_body::<serde_json::Value>(&webhook.body, "an order")
//!         .and_then(|order| {
//!             let total = commerce::decimal("total", order.get("total"))?;
//!             let money = commerce::money("total", total, "EUR")?;
//!             Ok(Outcome::Ignored(format!("an order of {money}")))
//!         });
//!     commerce::answer(result)
//! }
//!
//! let body = br#"{"total": "19.99"}"#.to_vec();
//! let unsigned = Webhook {
//!     topic: "orders/create".into(), headers: vec![], body, delivery_id: None, received_at: 0,
//! };
//! assert!(matches!(
//!     handle("s3cret", &unsigned).verdict,
//!     Verdict::Rejected(r) if r.kind == RejectionKind::BadSignature
//! ));
//! ```

mod signature;
mod values;

use serde::de::DeserializeOwned;

pub use signature::{VERIFIED_HEADER, sign, signature_is_valid, verify_signature};
pub use values::{
    MAX_ID, MAX_TEXT, clip, country, decimal, email, first_email, id_text, is_known_currency,
    money, optional_id, phone, required_id, text, timestamp,
};

use crate::{Action, HookOutput, PluginError, RejectionKind, Result, Webhook};

/// What a well-formed delivery becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted with these actions.
    Actions(Vec<Action>),
    /// Understood, nothing to do, for this reason.
    Ignored(String),
}

/// The answer to a delivery: accepted or ignored as `result` says, `rejected(malformed)` with
/// the reason when the body was not what its topic promises.
pub fn answer(result: std::result::Result<Outcome, String>) -> HookOutput {
    match result {
        Ok(Outcome::Actions(actions)) => HookOutput::accepted(actions),
        Ok(Outcome::Ignored(reason)) => HookOutput::ignored(reason),
        Err(reason) => HookOutput::rejected(RejectionKind::Malformed, reason),
    }
}

/// The delivery's topic, or the `header` that carries it when the delivery's own is empty
/// (platforms send the topic as a header; the host fills it in when it knows it).
pub fn topic_name<'a>(webhook: &'a Webhook, header: &str) -> &'a str {
    match webhook.topic.as_str() {
        "" => webhook.header(header).unwrap_or_default(),
        topic => topic,
    }
}

/// The answer to a topic the hook does not handle: `ignored`, naming it.
pub fn unhandled_topic(name: &str) -> HookOutput {
    HookOutput::ignored(format!("topic {:?} is not handled", clip(name)))
}

/// The JSON body as `T`, or why not; `what` names the expected document in the reason
/// (`"body is not an order: ..."`). A blank body is `"body is empty"`.
pub fn parse_body<T: DeserializeOwned>(body: &[u8], what: &str) -> std::result::Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err("body is empty".to_owned());
    }
    serde_json::from_slice(body).map_err(|e| format!("body is not {what}: {e}"))
}

/// Checks the two settings every commerce hook has: a non-empty signing secret and an
/// external-id `source` the host accepts (1 to 64 of `a-z 0-9 _ - .`, starting with a letter).
pub fn check_secret_and_source(secret: &str, source: &str) -> Result<()> {
    let invalid = |m: &str| Err(PluginError::InvalidConfig(m.to_owned()));
    if secret.is_empty() {
        return invalid("secret must not be empty");
    }
    let source_ok = source.len() <= 64
        && source.starts_with(|c: char| c.is_ascii_lowercase())
        && source.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        });
    if !source_ok {
        return invalid(
            "source must be 1 to 64 characters a-z, 0-9, '_', '-', '.', starting with a letter",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Verdict;

    fn webhook(topic: &str, headers: &[(&str, &str)], body: &[u8]) -> Webhook {
        Webhook {
            topic: topic.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
            delivery_id: None,
            received_at: 0,
        }
    }

    #[test]
    fn the_topic_comes_from_the_delivery_then_the_header() {
        let w = webhook("orders/create", &[("X-Topic", "orders/paid")], b"");
        assert_eq!(topic_name(&w, "X-Topic"), "orders/create");
        let w = webhook("", &[("x-topic", "orders/paid")], b"");
        assert_eq!(topic_name(&w, "X-Topic"), "orders/paid");
        assert_eq!(topic_name(&webhook("", &[], b""), "X-Topic"), "");
        let long = "t".repeat(1_000);
        match unhandled_topic(&long).verdict {
            Verdict::Ignored(reason) => assert!(reason.len() < 250, "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bodies_must_be_the_promised_json() {
        assert_eq!(
            parse_body::<serde_json::Value>(b" \n\t", "an order"),
            Err("body is empty".to_owned())
        );
        let err = parse_body::<Vec<u32>>(b"{\"a\": 1}", "a list").unwrap_err();
        assert!(err.starts_with("body is not a list: "), "{err}");
        assert_eq!(parse_body::<Vec<u32>>(b"[1, 2]", "a list"), Ok(vec![1, 2]));
    }

    #[test]
    fn answers_follow_the_outcome() {
        assert_eq!(
            answer(Ok(Outcome::Actions(Vec::new()))).verdict,
            Verdict::Accepted
        );
        assert_eq!(
            answer(Ok(Outcome::Ignored("draft".into()))).verdict,
            Verdict::Ignored("draft".into())
        );
        match answer(Err("total is missing".into())).verdict {
            Verdict::Rejected(r) => {
                assert_eq!(r.kind, RejectionKind::Malformed);
                assert_eq!(r.reason, "total is missing");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn secrets_and_sources_are_checked() {
        assert!(check_secret_and_source("s", "shopify").is_ok());
        assert!(check_secret_and_source("s", "my-shop_2.eu").is_ok());
        for (secret, source) in [
            ("", "shopify"),
            ("s", ""),
            ("s", "Shopify"),
            ("s", "1shop"),
            ("s", "shop/eu"),
            ("s", &"s".repeat(65)),
        ] {
            assert!(
                matches!(
                    check_secret_and_source(secret, source),
                    Err(PluginError::InvalidConfig(_))
                ),
                "{secret:?} {source:?}"
            );
        }
    }
}
