//! Kith reference plugin `kith.woocommerce`: turns a WooCommerce store's webhooks (REST API
//! v3 payloads) into customers, purchases, refunds and cancellations.
//!
//! 1. Verifies `X-WC-Webhook-Signature`, the base64 HMAC-SHA256 of the raw body keyed with
//!    the webhook's secret (constant-time comparison); missing, undecodable or wrong is
//!    `rejected(bad-signature)`. WooCommerce's unsigned creation ping is `ignored`.
//! 2. Dispatches on the topic (`order.created`, `order.updated`, `customer.created`,
//!    `customer.updated`); other topics are `ignored`.
//! 3. Maps the body to actions; a body that is not what the topic promises is
//!    `rejected(malformed)` with the reason, never a trap.
//!
//! Money is exact (decimal strings to minor units, never floats); every interaction carries
//! the WooCommerce id as its external id, so a re-sent order is logged once. The README has
//! the full mapping.

mod customer;
mod order;

use kith_plugin_sdk::commerce::{self, parse_body as parse};
use kith_plugin_sdk::{CommerceHook, HookOutput, Manifest, Plugin, PluginError, Result, Webhook};
use serde::Deserialize;

pub use order::MAX_LINE_ITEMS;

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-WC-Webhook-Signature";

/// The header carrying the topic, used when the delivery's own topic is empty.
pub const TOPIC_HEADER: &str = "X-WC-Webhook-Topic";

/// JSON Schema of the configuration.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["secret"],
  "properties": {
    "secret": { "description": "The webhook's secret, as entered in WooCommerce", "type": "string", "minLength": 1 },
    "source": { "description": "External-id source for customers, orders and refunds", "type": "string", "pattern": "^[a-z][a-z0-9_.-]{0,63}$", "default": "woocommerce" },
    "purchase_statuses": { "description": "Order statuses that make an order a purchase", "type": "array", "items": { "type": "string", "minLength": 1 }, "default": ["processing", "completed", "refunded"] }
  }
}"#;

/// The plugin.
#[derive(Debug)]
pub struct WooCommerce;

/// The tenant's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The webhook's secret.
    pub secret: String,
    /// External-id source of customers, orders and refunds (one per store if a tenant has several).
    #[serde(default = "default_source")]
    pub source: String,
    /// Order statuses that make an order a purchase (paid, or paid and later refunded).
    #[serde(default = "default_purchase_statuses")]
    pub purchase_statuses: Vec<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("secret", &"<redacted>")
            .field("source", &self.source)
            .field("purchase_statuses", &self.purchase_statuses)
            .finish()
    }
}

fn default_source() -> String {
    "woocommerce".to_owned()
}

fn default_purchase_statuses() -> Vec<String> {
    ["processing", "completed", "refunded"]
        .map(String::from)
        .to_vec()
}

impl Config {
    /// Checks what the SDK's parser cannot: a usable secret, a source the host accepts.
    fn check(&self) -> Result<()> {
        commerce::check_secret_and_source(&self.secret, &self.source)?;
        let invalid = |m: &str| Err(PluginError::InvalidConfig(m.to_owned()));
        if self.purchase_statuses.iter().any(|s| s.trim().is_empty()) {
            return invalid("purchase_statuses must not contain an empty status");
        }
        Ok(())
    }
}

/// The topics handled; every other topic is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `order.created`: a new order (any status).
    OrderCreated,
    /// `order.updated`: an order changed (status, refunds, ...).
    OrderUpdated,
    /// `customer.created` and `customer.updated`: a customer account.
    Customer,
}

impl Topic {
    /// The topic of a WooCommerce topic name, if handled.
    pub fn parse(name: &str) -> Option<Topic> {
        Some(match name {
            "order.created" => Topic::OrderCreated,
            "order.updated" => Topic::OrderUpdated,
            "customer.created" | "customer.updated" => Topic::Customer,
            _ => return None,
        })
    }
}

impl Plugin for WooCommerce {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("kith.woocommerce", env!("CARGO_PKG_VERSION"), "WooCommerce")
            .description(
                "Verifies WooCommerce webhooks and keeps customers, purchases, refunds and \
                 cancellations in step with the store",
            )
            .industries(["retail", "e-commerce"])
            .config_schema(CONFIG_SCHEMA)
    }
}

impl CommerceHook for WooCommerce {
    fn handle(config: &Config, webhook: &Webhook) -> Result<HookOutput> {
        config.check()?;
        // WooCommerce pings a webhook's URL, unsigned, when the webhook is saved.
        if webhook.header(SIGNATURE_HEADER).is_none() && is_ping(&webhook.body) {
            return Ok(HookOutput::ignored(
                "WooCommerce ping: the webhook was saved",
            ));
        }
        if let Err(rejection) =
            commerce::verify_signature(webhook, SIGNATURE_HEADER, config.secret.as_bytes())
        {
            return Ok(rejection);
        }
        let name = commerce::topic_name(webhook, TOPIC_HEADER);
        let Some(topic) = Topic::parse(name) else {
            return Ok(commerce::unhandled_topic(name));
        };
        let result = match topic {
            Topic::OrderCreated | Topic::OrderUpdated => {
                parse::<order::Order>(&webhook.body, "an order")
                    .and_then(|o| o.actions(config, webhook.received_at))
            }
            Topic::Customer => parse::<customer::Customer>(&webhook.body, "a customer")
                .and_then(|c| c.actions(&config.source)),
        };
        Ok(commerce::answer(result))
    }
}

/// Whether `body` is WooCommerce's unsigned ping on saving a webhook: `webhook_id=<digits>`.
fn is_ping(body: &[u8]) -> bool {
    body.strip_prefix(b"webhook_id=")
        .is_some_and(|id| !id.is_empty() && id.len() <= 20 && id.iter().all(u8::is_ascii_digit))
}

kith_plugin_sdk::export_plugin!(WooCommerce, commerce_hook);

#[cfg(test)]
mod tests;
