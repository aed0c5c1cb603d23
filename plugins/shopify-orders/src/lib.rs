//! Kith reference plugin `kith.shopify-orders`: handles Shopify's `orders/create`
//! webhook.
//!
//! 1. Verifies `X-Shopify-Hmac-Sha256`, the base64 HMAC-SHA256 of the raw body
//!    keyed with the shop's webhook secret (constant-time comparison); a
//!    missing or wrong signature is `rejected(bad-signature)`.
//! 2. Ignores every other topic.
//! 3. Upserts the customer by Shopify customer id and by email, and logs a
//!    purchase interaction with the exact order total, the line items as
//!    attributes and the order id as external id (so redeliveries are harmless).
//!    A body that is not a Shopify order is `rejected(malformed)`.

mod order;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use kith_plugin_sdk::{
    CommerceHook, HookOutput, Manifest, Plugin, PluginError, RejectionKind, Result, Webhook,
};
use serde::Deserialize;
use sha2::Sha256;

use order::Order;

/// The topic handled; every other topic is ignored.
pub const TOPIC: &str = "orders/create";

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Shopify-Hmac-Sha256";

/// JSON Schema of the configuration.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["secret"],
  "properties": {
    "secret": { "description": "The shop's webhook signing secret", "type": "string", "minLength": 1 },
    "source": { "description": "External-id source for customers and orders", "type": "string", "minLength": 1, "default": "shopify" }
  }
}"#;

/// The plugin.
#[derive(Debug)]
pub struct ShopifyOrders;

/// The tenant's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The shop's webhook signing secret.
    pub secret: String,
    /// External-id source of customers and orders (one per shop if a tenant has several).
    #[serde(default = "default_source")]
    pub source: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("secret", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

fn default_source() -> String {
    "shopify".to_owned()
}

/// Whether `signature` (base64) is the HMAC-SHA256 of `body` under `secret`, compared in constant time.
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

impl Plugin for ShopifyOrders {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("kith.shopify-orders", env!("CARGO_PKG_VERSION"), "Shopify orders")
            .description(
                "Verifies Shopify orders/create webhooks, upserts the customer and logs the order as a purchase",
            )
            .industries(["retail", "e-commerce"])
            .config_schema(CONFIG_SCHEMA)
    }
}

impl CommerceHook for ShopifyOrders {
    fn handle(config: &Config, webhook: &Webhook) -> Result<HookOutput> {
        if config.secret.is_empty() {
            return Err(PluginError::InvalidConfig(
                "secret must not be empty".to_owned(),
            ));
        }
        let Some(signature) = webhook.header(SIGNATURE_HEADER) else {
            return Ok(HookOutput::rejected(
                RejectionKind::BadSignature,
                format!("missing {SIGNATURE_HEADER} header"),
            ));
        };
        if !signature_is_valid(config.secret.as_bytes(), &webhook.body, signature) {
            return Ok(HookOutput::rejected(
                RejectionKind::BadSignature,
                "signature does not match the body",
            ));
        }
        let topic = match webhook.topic.as_str() {
            "" => webhook.header("X-Shopify-Topic").unwrap_or_default(),
            topic => topic,
        };
        if topic != TOPIC {
            return Ok(HookOutput::ignored(format!(
                "topic {topic:?} is not handled"
            )));
        }
        let order: Order = match serde_json::from_slice(&webhook.body) {
            Ok(order) => order,
            Err(err) => {
                return Ok(HookOutput::rejected(
                    RejectionKind::Malformed,
                    format!("body is not an order: {err}"),
                ));
            }
        };
        match order.into_actions(&config.source, webhook.received_at) {
            Ok(actions) if actions.is_empty() => Ok(HookOutput::ignored(
                "order has neither a customer nor an email",
            )),
            Ok(actions) => Ok(HookOutput::accepted(actions)),
            Err(reason) => Ok(HookOutput::rejected(RejectionKind::Malformed, reason)),
        }
    }
}

kith_plugin_sdk::export_plugin!(ShopifyOrders, commerce_hook);

#[cfg(test)]
mod tests;
