//! Commerce webhooks: run the tenant's commerce-hook plugin on the raw delivery and apply its
//! actions before answering. Accepted deliveries are remembered by delivery id, so a platform's
//! retry is answered the same way without applying anything twice.
//!
//! Webhooks come from anyone on the internet, so what they can make the host do is bounded
//! before any plugin code runs:
//! 1. **Signature first, on the host.** When the enablement names a [`WebhookSignature`] (the
//!    reference hooks have one by default, [`known_signature`]), Kith checks the base64
//!    HMAC-SHA256 of the body itself, in constant time. A wrong or missing signature is
//!    answered `rejected(bad-signature)` without calling the plugin, without touching the
//!    delivery records and whether or not the hook is suspended. Only a small unsigned body (a
//!    platform's ping, [`HookBudget::unsigned_body_limit`]) still reaches the plugin, unverified.
//! 2. **Guest work in proportion to the body.** An unverified delivery gets at most
//!    [`HookBudget::base_fuel`] plus [`HookBudget::fuel_per_byte`] per byte of body (and never
//!    more than the tenant's budget); a verified one at least that much (up to the host's
//!    ceiling), so that a genuine large order is not cut short.
//! 3. **The body is hashed once.** A delivery Kith verified reaches the plugin with an
//!    attestation ([`attestation`], in the `kith-signature-verified` header) that the SDK's
//!    `commerce::verify_signature` checks in place of hashing the body again.
//! 4. **Only verified failures suspend.** A failed call on a delivery whose signature Kith
//!    verified counts towards the circuit breaker; a failure on an unverified one is counted in
//!    the call statistics but can never suspend the hook, so junk cannot switch a shop off.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use tracing::info_span;

use super::dispatch::failure_record;
use super::{PluginHost, producer};
use crate::model::{
    Actor, Delivery, Outcomes, TenantSlug, Timestamp, ValidationError, WebhookSignature,
};
use crate::plugin::{
    CallOptions, Capability, RejectionKind, SIGNATURE_VERIFIED_HEADER, Verdict, Webhook,
};
use crate::store::Error as StoreError;
use crate::store::{Once, Op, PluginOp};
use crate::{Error, Result};

/// How much guest work a webhook delivery may cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookBudget {
    /// Fuel every delivery may use whatever its size (default 2 M).
    pub base_fuel: u64,
    /// Fuel per byte of body on top (default 300: the guest's HMAC-SHA256 alone costs about 77
    /// per byte, parsing JSON and mapping the order the rest).
    pub fuel_per_byte: u64,
    /// The largest unsigned body that still reaches a hook whose signature Kith checks, for
    /// platforms' unsigned pings (default 1 KiB). Larger unsigned bodies are refused unread.
    pub unsigned_body_limit: usize,
}

impl Default for HookBudget {
    fn default() -> Self {
        HookBudget {
            base_fuel: 2_000_000,
            fuel_per_byte: 300,
            unsigned_body_limit: 1024,
        }
    }
}

impl HookBudget {
    /// The fuel a delivery of `body` bytes stands for.
    fn proportional(&self, body: usize) -> u64 {
        self.base_fuel
            .saturating_add(self.fuel_per_byte.saturating_mul(body as u64))
    }
}

/// The signature the host checks for a reference commerce hook, by plugin id: what
/// `kith.shopify-orders`, `kith.woocommerce` and `kith.generic-orders` check themselves.
pub fn known_signature(plugin: &str) -> Option<WebhookSignature> {
    let header = match plugin {
        "kith.shopify-orders" => "X-Shopify-Hmac-Sha256",
        "kith.woocommerce" => "X-WC-Webhook-Signature",
        "kith.generic-orders" => "X-Kith-Signature",
        _ => return None,
    };
    Some(WebhookSignature {
        header: header.to_owned(),
        secret: "/secret".to_owned(),
    })
}

/// Checks that `signature` can be verified with `config_json`: a usable header name and a
/// JSON Pointer to a non-empty string. Errors name `signature.header` or `signature.secret`.
pub(super) fn check_signature(
    signature: &WebhookSignature,
    config_json: &str,
) -> std::result::Result<(), ValidationError> {
    let header_ok = !signature.header.is_empty()
        && signature.header.len() <= 128
        && signature
            .header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !header_ok {
        return Err(ValidationError::field(
            "signature.header",
            "an HTTP header name (letters, digits, '-' and '_', at most 128)",
        ));
    }
    if secret(signature, config_json).is_none() {
        return Err(ValidationError::field(
            "signature.secret",
            format!(
                "a JSON Pointer to a non-empty string in the configuration; {:?} is not one",
                signature.secret
            ),
        ));
    }
    Ok(())
}

/// The shared secret `signature` points at in the configuration.
fn secret(signature: &WebhookSignature, config_json: &str) -> Option<String> {
    let config: Value = serde_json::from_str(config_json).ok()?;
    match config.pointer(&signature.secret)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// What the host's signature check found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    /// The signature matches the body; the [`attestation`] that says so.
    Valid(String),
    /// The header is absent.
    Missing,
    /// The header is present and does not match (or is not base64, or the secret is gone).
    Invalid,
}

/// Verifies the base64 HMAC-SHA256 of the body in the signature header, in constant time.
fn verify(signature: &WebhookSignature, config_json: &str, webhook: &Webhook) -> Check {
    let Some(value) = webhook
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&signature.header))
        .map(|(_, v)| v.trim())
    else {
        return Check::Missing;
    };
    let (Some(secret), Ok(expected)) = (secret(signature, config_json), BASE64.decode(value))
    else {
        return Check::Invalid;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return Check::Invalid;
    };
    mac.update(&webhook.body);
    if mac.verify_slice(&expected).is_ok() {
        Check::Valid(attestation(secret.as_bytes(), &expected, webhook))
    } else {
        Check::Invalid
    }
}

/// What the host tells a commerce hook after verifying `digest`, the HMAC-SHA256 of
/// `webhook`'s body under `secret` (see [`SIGNATURE_VERIFIED_HEADER`]): base64 HMAC-SHA256
/// under the same secret of the header's name and a zero byte, the digest, `received_at` and
/// the body's length. The SDK's `commerce::verify_signature` computes the same to check it.
pub fn attestation(secret: &[u8], digest: &[u8], webhook: &Webhook) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        // HMAC takes keys of every length; an empty attestation would only mean hashing again.
        return String::new();
    };
    mac.update(SIGNATURE_VERIFIED_HEADER.as_bytes());
    mac.update(&[0]);
    mac.update(digest);
    mac.update(&webhook.received_at.as_micros().to_be_bytes());
    mac.update(&(webhook.body.len() as u64).to_be_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// How a delivery was handled.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HookResult {
    /// The plugin's verdict (or the host's, for a signature it refused).
    pub verdict: Verdict,
    /// Actions applied (0 unless accepted).
    pub actions_applied: u32,
    /// Whether this delivery id was processed before and this is the stored answer.
    pub replayed: bool,
}

impl HookResult {
    fn refused(reason: String) -> HookResult {
        HookResult {
            verdict: Verdict::Rejected {
                kind: RejectionKind::BadSignature,
                reason,
            },
            actions_applied: 0,
            replayed: false,
        }
    }
}

impl PluginHost {
    /// Handles one webhook delivery for the tenant's enabled commerce-hook plugin `plugin`.
    ///
    /// Errors: the plugin is not enabled for the tenant or is not a commerce hook (`not_found`),
    /// it is suspended (`plugin_suspended`), its call failed (the failure's code), or its actions
    /// were refused (the store's code; nothing was applied). A signature the host checks and
    /// refuses is not an error: the verdict says `rejected(bad-signature)`.
    ///
    /// Only accepted deliveries are remembered: a forged request cannot claim a delivery id
    /// before the genuine one arrives, because it never gets past the signature check.
    pub fn handle_webhook(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        webhook: &Webhook,
    ) -> Result<HookResult> {
        self.run_webhook(tenant, plugin, webhook, true)
    }

    /// [`PluginHost::handle_webhook`]; `retry`: whether a write refused as a duplicate is tried
    /// once more.
    fn run_webhook(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        webhook: &Webhook,
        retry: bool,
    ) -> Result<HookResult> {
        match self.start_webhook(tenant, plugin, webhook)? {
            HookStep::Done(result) => Ok(result),
            HookStep::Writing(mut pending) => {
                let written = futures_executor::block_on(pending.written());
                self.finish_webhook(tenant, plugin, webhook, pending, written, retry)
            }
        }
    }

    /// [`PluginHost::handle_webhook`] up to its write: the plugin has run and its actions (with
    /// the delivery's record) are queued for the commit, which the caller awaits with
    /// [`PendingHook::written`] without holding a thread, then hands to
    /// [`PluginHost::finish_webhook`]. A store that cannot queue writes has written them
    /// already.
    pub fn start_webhook(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        webhook: &Webhook,
    ) -> Result<HookStep> {
        let e = self.enabled(tenant, plugin)?;
        let loaded = self.loaded(&e.hash)?;
        if loaded.capability() != Capability::CommerceHook {
            return Err(Error::not_found("commerce hook", plugin));
        }
        let _span =
            info_span!("webhook", %tenant, plugin, version = %e.version, topic = %webhook.topic)
                .entered();
        let budget = self.config.hooks;
        let attested = match &e.signature {
            None => None,
            Some(sig) => match verify(sig, &e.config_json, webhook) {
                Check::Valid(attestation) => Some(attestation),
                Check::Missing if webhook.body.len() <= budget.unsigned_body_limit => None,
                Check::Missing => {
                    return Ok(HookStep::Done(HookResult::refused(format!(
                        "missing {} header (checked by Kith before the plugin ran)",
                        sig.header
                    ))));
                }
                Check::Invalid => {
                    return Ok(HookStep::Done(HookResult::refused(format!(
                        "the {} signature does not match the body (checked by Kith before the \
                         plugin ran)",
                        sig.header
                    ))));
                }
            },
        };
        let verified = attested.is_some();
        if let Some(id) = &webhook.delivery_id
            && let Some(answer) = self.stored_answer(tenant, plugin, id)?
        {
            return Ok(HookStep::Done(answer));
        }
        let now = Timestamp::now();
        let health = self.store.plugin_health(tenant, plugin)?;
        let breaker = self.config.breaker;
        if !breaker.allows(&health, now) {
            return Err(Error::PluginSuspended {
                plugin: plugin.to_owned(),
                until: health
                    .suspended_until
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                failures: health.consecutive_failures,
                last: health
                    .last_error
                    .as_ref()
                    .map_or_else(String::new, |f| f.code.clone()),
            });
        }
        let mut limits = self.limits(&e, loaded.manifest(), false);
        let proportional = budget.proportional(webhook.body.len());
        limits.fuel = if verified {
            limits
                .fuel
                .max(proportional)
                .min(self.config.ceilings.call.fuel)
        } else {
            limits.fuel.min(proportional)
        };
        let options = CallOptions::for_tenant(&limits, tenant.as_str());
        let (result, _) = match &attested {
            Some(attestation) => self.runtime.handle_verified_webhook(
                &loaded,
                webhook,
                attestation,
                &e.config_json,
                options,
            ),
            None => self
                .runtime
                .handle_webhook(&loaded, webhook, &e.config_json, options),
        };
        let output = match result {
            Ok(o) => o,
            Err(f) => {
                // A busy host says nothing about the plugin, and an unverified sender may be
                // anyone: neither counts towards suspension.
                if verified && f.is_plugin_fault() {
                    let failed = Outcomes::failure(failure_record(&f, now));
                    self.write_outcomes(tenant, plugin, failed)?;
                }
                return Err(Error::Plugin(f));
            }
        };
        let mut ops: Vec<Op> = Vec::new();
        let mut applied = 0u32;
        if output.verdict == Verdict::Accepted {
            applied = u32::try_from(output.actions.len()).unwrap_or(u32::MAX);
            super::validate_phones_ahead(&output.actions);
            if !output.actions.is_empty() {
                ops.push(Op::Caused {
                    depth: 1,
                    ops: output.actions.into_iter().map(Op::Action).collect(),
                });
            }
            if let Some(id) = &webhook.delivery_id {
                ops.push(Op::Plugin(PluginOp::RecordDelivery {
                    plugin: plugin.to_owned(),
                    delivery: Delivery {
                        id: id.clone(),
                        verdict_json: serde_json::to_string(&output.verdict)
                            .map_err(|err| Error::Store(StoreError::Storage(err.to_string())))?,
                        actions_applied: applied,
                        producer: producer(&e),
                        at: now,
                    },
                }));
            }
        }
        if verified && (health.consecutive_failures > 0 || health.suspended_until.is_some()) {
            ops.push(self.outcomes_op(plugin, Outcomes::success()));
        }
        let result = HookResult {
            verdict: output.verdict,
            actions_applied: applied,
            replayed: false,
        };
        if ops.is_empty() {
            return Ok(HookStep::Done(result));
        }
        let actor = Actor::plugin(plugin);
        let write = match self.store.write_nonblocking(tenant, &actor, ops, None) {
            Ok(write) => write,
            Err(ops) => Box::pin(std::future::ready(
                self.store.write(tenant, &actor, ops).map(Once::fresh),
            )),
        };
        Ok(HookStep::Writing(PendingHook {
            write: Some(write),
            result,
            verified,
            at: now,
        }))
    }

    /// The answer given to delivery `id` when it was accepted, if it was.
    fn stored_answer(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        id: &str,
    ) -> Result<Option<HookResult>> {
        let Some(d) = self.store.delivery(tenant, plugin, id)? else {
            return Ok(None);
        };
        let verdict = serde_json::from_str(&d.verdict_json).map_err(|err| {
            Error::Store(StoreError::Corrupt {
                table: "plugin_deliveries",
                detail: err.to_string(),
            })
        })?;
        Ok(Some(HookResult {
            verdict,
            actions_applied: d.actions_applied,
            replayed: true,
        }))
    }

    /// The end of a delivery whose write [`PluginHost::start_webhook`] queued, once `written`
    /// says how the write went. A write refused as a duplicate lost a race with a concurrent
    /// delivery: the same one (then it is answered as that one was) or, for another field,
    /// a delivery that created the same new customer first (then it is run again, once, and
    /// its upsert finds the customer). Any other refused write counts against a verified
    /// delivery's plugin. `retry`: whether a write refused as a duplicate may be run again
    /// (true, except on the run again).
    pub fn finish_webhook(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        webhook: &Webhook,
        pending: PendingHook,
        written: std::result::Result<(), StoreError>,
        retry: bool,
    ) -> Result<HookResult> {
        match written {
            Ok(()) => Ok(pending.result),
            Err(StoreError::Duplicate {
                field: "delivery_id",
                ..
            }) if let Some(id) = &webhook.delivery_id
                && let Some(answer) = self.stored_answer(tenant, plugin, id)? =>
            {
                Ok(answer)
            }
            Err(StoreError::Duplicate { .. }) if retry => {
                self.run_webhook(tenant, plugin, webhook, false)
            }
            Err(err) => {
                if pending.verified {
                    self.write_outcomes(
                        tenant,
                        plugin,
                        Outcomes::failure(crate::model::FailureRecord {
                            code: "invalid-action".into(),
                            message: format!("{}: {err}", err.code()),
                            at: pending.at,
                        }),
                    )?;
                }
                Err(err.into())
            }
        }
    }
}

/// How far [`PluginHost::start_webhook`] took a delivery.
#[derive(Debug)]
pub enum HookStep {
    /// Answered without a write (a refused signature, a replay, nothing to apply).
    Done(HookResult),
    /// The plugin ran and its write is queued.
    Writing(PendingHook),
}

/// A delivery whose actions are queued for the commit.
pub struct PendingHook {
    /// The queued write; taken by [`PendingHook::written`].
    write: Option<crate::store::WriteFuture<Once<Vec<crate::store::Output>>>>,
    /// The answer once the write is durable.
    result: HookResult,
    /// Whether the host verified the delivery's signature.
    verified: bool,
    /// When the delivery was handled.
    at: Timestamp,
}

impl std::fmt::Debug for PendingHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingHook")
            .field("result", &self.result)
            .field("verified", &self.verified)
            .finish_non_exhaustive()
    }
}

impl PendingHook {
    /// The answer, once [`PendingHook::written`] said the write is durable.
    pub fn into_result(self) -> HookResult {
        self.result
    }

    /// Waits until the write is durable or refused (once; later calls answer `Ok`).
    pub async fn written(&mut self) -> std::result::Result<(), StoreError> {
        match self.write.take() {
            Some(write) => write.await.map(|_| ()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(headers: &[(&str, &str)], body: &[u8]) -> Webhook {
        Webhook {
            topic: "orders/create".into(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
            delivery_id: None,
            received_at: Timestamp::from_micros(0),
        }
    }

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        BASE64.encode(mac.finalize().into_bytes())
    }

    #[test]
    fn the_host_verifies_the_reference_schemes_in_any_header_case() {
        let sig = known_signature("kith.shopify-orders").unwrap();
        let config = r#"{"secret":"hush"}"#;
        let body = br#"{"id":1}"#;
        let good = sign("hush", body);
        let delivery = webhook(&[("x-shopify-hmac-sha256", &good)], body);
        let digest = BASE64.decode(&good).unwrap();
        assert_eq!(
            verify(&sig, config, &delivery),
            Check::Valid(attestation(b"hush", &digest, &delivery))
        );
        assert_eq!(
            verify(
                &sig,
                config,
                &webhook(&[("X-Shopify-Hmac-Sha256", &sign("other", body))], body)
            ),
            Check::Invalid
        );
        assert_eq!(
            verify(
                &sig,
                config,
                &webhook(&[("X-Shopify-Hmac-Sha256", "not base64!")], body)
            ),
            Check::Invalid
        );
        assert_eq!(verify(&sig, config, &webhook(&[], body)), Check::Missing);
        // A configuration without the secret verifies nothing.
        assert_eq!(
            verify(
                &sig,
                "{}",
                &webhook(&[("X-Shopify-Hmac-Sha256", &good)], body)
            ),
            Check::Invalid
        );
    }

    #[test]
    fn a_signature_must_point_at_a_secret_in_the_configuration() {
        let sig = known_signature("kith.woocommerce").unwrap();
        assert!(check_signature(&sig, r#"{"secret":"s"}"#).is_ok());
        for config in [r#"{}"#, r#"{"secret":""}"#, r#"{"secret":5}"#] {
            let err = check_signature(&sig, config).unwrap_err();
            assert_eq!(err.errors[0].field, "signature.secret", "{config}");
        }
        let bad = WebhookSignature {
            header: "X-Sig\r\nInjected: 1".into(),
            secret: "/secret".into(),
        };
        assert_eq!(
            check_signature(&bad, r#"{"secret":"s"}"#)
                .unwrap_err()
                .errors[0]
                .field,
            "signature.header"
        );
        assert_eq!(known_signature("acme.custom-hook"), None);
    }

    #[test]
    fn unverified_deliveries_get_fuel_in_proportion_to_their_body() {
        let b = HookBudget::default();
        assert_eq!(b.proportional(0), 2_000_000);
        assert_eq!(b.proportional(200 * 1024), 2_000_000 + 300 * 200 * 1024);
    }
}
