//! Kith reference plugin `kith.generic-orders`: a documented, platform-neutral JSON order
//! format for shops and importers that are not Shopify or WooCommerce.
//!
//! One signed document per order, refund or cancellation (see the README for the format and
//! how to sign it). The mapping is deliberately small so that replaying a whole order
//! history is fast: upsert the customer, log one interaction whose external id is the
//! document's id, so each order is logged once however often it is sent.
//!
//! 1. Verifies `X-Kith-Signature`, the base64 HMAC-SHA256 of the raw body keyed with the
//!    tenant's secret (constant-time comparison); otherwise `rejected(bad-signature)`.
//! 2. Dispatches on the topic: `order.created`, `order.refunded`, `order.cancelled`;
//!    other topics are `ignored`.
//! 3. A body that is not a valid order document is `rejected(malformed)` with the reason.

mod order;

use kith_plugin_sdk::commerce::{self, Outcome};
use kith_plugin_sdk::{CommerceHook, HookOutput, Manifest, Plugin, Result, Webhook};
use serde::Deserialize;

pub use order::{MAX_ITEMS, MAX_LISTED_ITEMS, OrderDocument};

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Kith-Signature";

/// The header carrying the topic, used when the delivery's own topic is empty.
pub const TOPIC_HEADER: &str = "X-Kith-Topic";

/// JSON Schema of the configuration.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["secret"],
  "properties": {
    "secret": { "description": "The shared secret the sender signs bodies with", "type": "string", "minLength": 1 },
    "source": { "description": "External-id source for customers, orders and refunds", "type": "string", "pattern": "^[a-z][a-z0-9_.-]{0,63}$", "default": "generic" }
  }
}"#;

/// The plugin.
#[derive(Debug)]
pub struct GenericOrders;

/// The tenant's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The shared secret the sender signs bodies with.
    pub secret: String,
    /// External-id source of customers and interactions (one per sending system).
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
    "generic".to_owned()
}

impl Config {
    /// Checks what the SDK's parser cannot: a usable secret, a source the host accepts.
    fn check(&self) -> Result<()> {
        commerce::check_secret_and_source(&self.secret, &self.source)
    }
}

/// The topics handled; every other topic is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `order.created`: a purchase.
    Created,
    /// `order.refunded`: a refund of an earlier order (`refund_of` names it).
    Refunded,
    /// `order.cancelled`: an earlier order was cancelled.
    Cancelled,
}

impl Topic {
    /// The topic of a topic name, if handled.
    pub fn parse(name: &str) -> Option<Topic> {
        Some(match name {
            "order.created" => Topic::Created,
            "order.refunded" => Topic::Refunded,
            "order.cancelled" => Topic::Cancelled,
            _ => return None,
        })
    }
}

impl Plugin for GenericOrders {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.generic-orders",
            env!("CARGO_PKG_VERSION"),
            "Generic orders",
        )
        .description(
            "Verifies signed orders, refunds and cancellations in Kith's platform-neutral \
                 JSON format, upserts the customer and logs one interaction per document",
        )
        .industries(["retail", "e-commerce"])
        .config_schema(CONFIG_SCHEMA)
    }
}

impl CommerceHook for GenericOrders {
    fn handle(config: &Config, webhook: &Webhook) -> Result<HookOutput> {
        config.check()?;
        if let Err(rejection) =
            commerce::verify_signature(webhook, SIGNATURE_HEADER, config.secret.as_bytes())
        {
            return Ok(rejection);
        }
        let name = commerce::topic_name(webhook, TOPIC_HEADER);
        let Some(topic) = Topic::parse(name) else {
            return Ok(commerce::unhandled_topic(name));
        };
        let result = commerce::parse_body::<OrderDocument>(&webhook.body, "an order document")
            .and_then(|doc| doc.actions(&config.source, topic))
            .map(Outcome::Actions);
        Ok(commerce::answer(result))
    }
}

kith_plugin_sdk::export_plugin!(GenericOrders, commerce_hook);

#[cfg(test)]
mod tests;
