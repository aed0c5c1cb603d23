//! Webhook signatures: the base64 HMAC-SHA256 of the raw body under a shared secret, as
//! Shopify, WooCommerce and Kith's generic order format send it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::{HookOutput, RejectionKind, Webhook};

/// The base64 HMAC-SHA256 of `body` under `secret`: the signature a platform sends with a
/// delivery. For tests, and for systems that send Kith signed documents.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

/// Whether `signature` (base64, surrounding white space ignored) is the HMAC-SHA256 of `body`
/// under `secret`, compared in constant time. Undecodable base64 or a digest of the wrong
/// length is simply not valid.
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

/// Checks the signature the webhook carries in `header` against its body and `secret`.
///
/// Call it before looking at anything else in the delivery. The error is the answer to
/// return: `rejected(bad-signature)`, saying whether the header was missing or wrong.
pub fn verify_signature(webhook: &Webhook, header: &str, secret: &[u8]) -> Result<(), HookOutput> {
    let Some(signature) = webhook.header(header) else {
        return Err(HookOutput::rejected(
            RejectionKind::BadSignature,
            format!("missing {header} header"),
        ));
    };
    if signature_is_valid(secret, &webhook.body, signature) {
        Ok(())
    } else {
        Err(HookOutput::rejected(
            RejectionKind::BadSignature,
            "signature does not match the body",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Verdict;

    const SECRET: &[u8] = b"hush";
    const BODY: &[u8] = br#"{"id":1}"#;

    fn webhook(headers: &[(&str, &str)]) -> Webhook {
        Webhook {
            topic: "orders/create".to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: BODY.to_vec(),
            delivery_id: None,
            received_at: 0,
        }
    }

    fn rejection(result: Result<(), HookOutput>) -> String {
        match result.unwrap_err().verdict {
            Verdict::Rejected(r) if r.kind == RejectionKind::BadSignature => r.reason,
            other => panic!("expected bad-signature, got {other:?}"),
        }
    }

    #[test]
    fn sign_matches_the_rfc_4231_test_vector() {
        // RFC 4231, test case 2.
        let digest = BASE64
            .decode(sign(b"Jefe", b"what do ya want for nothing?"))
            .unwrap();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The example in plugins/generic-orders/README.md.
        assert_eq!(
            sign(b"s3cret", br#"{"id":"1001"}"#),
            "tyVcXO4Q5tFvc+dZlcWKop9Y1dcfGnWvFEjU0aPx3fk="
        );
    }

    #[test]
    fn a_signature_of_the_body_under_the_secret_is_valid() {
        let good = sign(SECRET, BODY);
        assert!(signature_is_valid(SECRET, BODY, &good));
        assert!(signature_is_valid(SECRET, BODY, &format!("  {good}\n")));
        // Any key length works for HMAC, even an empty one.
        assert!(signature_is_valid(b"", BODY, &sign(b"", BODY)));
    }

    #[test]
    fn wrong_or_undecodable_signatures_are_not_valid() {
        let good = sign(SECRET, BODY);
        let digest = BASE64.decode(&good).unwrap();
        let cases = [
            // Another secret, another body.
            sign(b"other", BODY),
            sign(SECRET, b"{\"id\":2}"),
            // Not base64 at all, or base64 with bad padding or characters.
            "not base64!".to_owned(),
            good.trim_end_matches('=').to_owned(),
            format!("{good}="),
            good.replace('+', "-").replace('/', "_") + "-_",
            // Right bytes, wrong length: truncated, extended, empty.
            BASE64.encode(&digest[..31]),
            BASE64.encode([digest.as_slice(), &[0]].concat()),
            String::new(),
            // Hex is a common mistake; it is not what the platforms send.
            digest.iter().map(|b| format!("{b:02x}")).collect(),
        ];
        for bad in cases {
            assert!(!signature_is_valid(SECRET, BODY, &bad), "{bad:?}");
        }
    }

    #[test]
    fn verify_signature_says_whether_the_header_was_missing_or_wrong() {
        let header = "X-Shop-Hmac";
        let good = sign(SECRET, BODY);
        assert!(verify_signature(&webhook(&[("x-shop-hmac", &good)]), header, SECRET).is_ok());
        assert_eq!(
            rejection(verify_signature(&webhook(&[]), header, SECRET)),
            "missing X-Shop-Hmac header"
        );
        assert_eq!(
            rejection(verify_signature(
                &webhook(&[(header, "AAAA")]),
                header,
                SECRET
            )),
            "signature does not match the body"
        );
    }
}
