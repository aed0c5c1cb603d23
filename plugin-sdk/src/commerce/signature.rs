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

/// The header in which Kith says that it verified the delivery's signature itself (see
/// [`verify_signature`]).
pub const VERIFIED_HEADER: &str = "kith-signature-verified";

/// Checks the signature the webhook carries in `header` against its body and `secret`.
///
/// Call it before looking at anything else in the delivery. The error is the answer to
/// return: `rejected(bad-signature)`, saying whether the header was missing or wrong.
///
/// When Kith has checked the signature itself (a hook enabled with a `signature`, as the
/// reference hooks are by default), the delivery carries [`VERIFIED_HEADER`]: an HMAC under the
/// same secret of the signature's digest, the delivery's `received-at` and the body's length.
/// Checking that costs a few dozen bytes of hashing instead of the whole body; only a holder of
/// the secret can make one, and one made for another delivery does not match. Without it, or
/// when it does not match, the body is hashed as before, so a hook is never less strict.
pub fn verify_signature(webhook: &Webhook, header: &str, secret: &[u8]) -> Result<(), HookOutput> {
    let Some(signature) = webhook.header(header) else {
        return Err(HookOutput::rejected(
            RejectionKind::BadSignature,
            format!("missing {header} header"),
        ));
    };
    if attested(webhook, signature, secret) || signature_is_valid(secret, &webhook.body, signature)
    {
        Ok(())
    } else {
        Err(HookOutput::rejected(
            RejectionKind::BadSignature,
            "signature does not match the body",
        ))
    }
}

/// Whether the webhook's [`VERIFIED_HEADER`] is Kith's attestation that `signature` is the
/// HMAC-SHA256 of this body under `secret`: the MAC of the header's name and a zero byte, the
/// digest, `received-at` and the body's length, as the host computes it
/// (`kith::service::plugins::attestation`).
fn attested(webhook: &Webhook, signature: &str, secret: &[u8]) -> bool {
    let Some(attestation) = webhook.header(VERIFIED_HEADER) else {
        return false;
    };
    let (Ok(digest), Ok(attestation)) = (
        BASE64.decode(signature.trim()),
        BASE64.decode(attestation.trim()),
    ) else {
        return false;
    };
    if digest.len() != 32 {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(VERIFIED_HEADER.as_bytes());
    mac.update(&[0]);
    mac.update(&digest);
    mac.update(&webhook.received_at.to_be_bytes());
    mac.update(&(webhook.body.len() as u64).to_be_bytes());
    mac.verify_slice(&attestation).is_ok()
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

    /// Kith's attestation, computed here from its definition in the host's documentation.
    fn attestation(secret: &[u8], signature: &str, received_at: i64, body_len: u64) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
        mac.update(b"kith-signature-verified\0");
        mac.update(&BASE64.decode(signature).unwrap());
        mac.update(&received_at.to_be_bytes());
        mac.update(&body_len.to_be_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn an_attestation_from_kith_stands_for_hashing_the_body() {
        let header = "X-Shop-Hmac";
        let good = sign(SECRET, BODY);
        let attested = attestation(SECRET, &good, 0, BODY.len() as u64);
        let mut delivery = webhook(&[(header, &good), (VERIFIED_HEADER, &attested)]);
        assert!(verify_signature(&delivery, header, SECRET).is_ok());
        // The body is not hashed again: a body of the same length that the signature does not
        // match passes, because the host (which hashed the body it received) vouched for it.
        delivery.body = br#"{"id":2}"#.to_vec();
        assert!(verify_signature(&delivery, header, SECRET).is_ok());
        // In any header case.
        let upper = VERIFIED_HEADER.to_uppercase();
        let delivery = webhook(&[(header, &good), (upper.as_str(), &attested)]);
        assert!(verify_signature(&delivery, header, SECRET).is_ok());
    }

    #[test]
    fn an_attestation_for_anything_else_is_ignored_and_the_body_hashed() {
        let header = "X-Shop-Hmac";
        let good = sign(SECRET, BODY);
        let other_body = sign(SECRET, br#"{"id":2}"#);
        let len = BODY.len() as u64;
        let forged = [
            // Made without the secret, or for another delivery: another time, another length,
            // another signature.
            attestation(b"guess", &good, 0, len),
            attestation(SECRET, &good, 1, len),
            attestation(SECRET, &good, 0, len + 1),
            attestation(SECRET, &other_body, 0, len),
            // The signature itself, garbage, nothing.
            good.clone(),
            "not base64!".to_owned(),
            String::new(),
        ];
        for attested in forged {
            // A genuine body still passes, by hashing it.
            let delivery = webhook(&[(header, &good), (VERIFIED_HEADER, &attested)]);
            assert!(
                verify_signature(&delivery, header, SECRET).is_ok(),
                "{attested:?}"
            );
            // A body the signature does not match is refused.
            let mut tampered = webhook(&[(header, &good), (VERIFIED_HEADER, &attested)]);
            tampered.body = br#"{"id":2}"#.to_vec();
            assert_eq!(
                rejection(verify_signature(&tampered, header, SECRET)),
                "signature does not match the body",
                "{attested:?}"
            );
        }
        // A signature that is not a 32-byte digest is refused even with a matching MAC.
        let short = BASE64.encode([0u8; 16]);
        let attested = attestation(SECRET, &short, 0, len);
        let delivery = webhook(&[(header, &short), (VERIFIED_HEADER, &attested)]);
        assert_eq!(
            rejection(verify_signature(&delivery, header, SECRET)),
            "signature does not match the body"
        );
    }
}
