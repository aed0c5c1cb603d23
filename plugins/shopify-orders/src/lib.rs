//! Kith reference plugin `kith.shopify-orders`: turns a shop's Shopify webhooks into
//! customers, purchases, refunds, cancellations, abandoned-checkout follow-ups and privacy
//! erasures.
//!
//! 1. Verifies `X-Shopify-Hmac-Sha256`, the base64 HMAC-SHA256 of the raw body keyed with
//!    the shop's webhook secret (constant-time comparison); a missing, undecodable or wrong
//!    signature is `rejected(bad-signature)`, before anything else is looked at.
//! 2. Dispatches on the topic (see [`Topic`]); topics it does not handle are `ignored`.
//! 3. Maps the body to actions; a body that is not what the topic promises is
//!    `rejected(malformed)` with the reason, never a trap.
//!
//! Money is exact (decimal strings to minor units, never floats); every interaction carries
//! the Shopify id as its external id, so a redelivered webhook is harmless. The README
//! has the full mapping.

mod checkout;
mod customer;
mod order;
mod refund;

use kith_plugin_sdk::commerce::{self, parse_body as parse};
use kith_plugin_sdk::time::MICROS_PER_SECOND;
use kith_plugin_sdk::{CommerceHook, HookOutput, Manifest, Plugin, PluginError, Result, Webhook};
use serde::Deserialize;

pub use order::MAX_LINE_ITEMS;

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Shopify-Hmac-Sha256";

/// The header carrying the topic, used when the delivery's own topic is empty.
pub const TOPIC_HEADER: &str = "X-Shopify-Topic";

/// The topic whose delivery logs the purchase unless configured otherwise.
pub const TOPIC: &str = "orders/create";

/// The default tag of customers who started a checkout ([`Config::abandoned_checkout_tag`]).
pub const DEFAULT_CHECKOUT_TAG: &str = "abandoned-checkout";

/// The default delay of the abandoned-checkout follow-up task, in hours.
pub const DEFAULT_CHECKOUT_DELAY_HOURS: u32 = 24;

/// The longest follow-up delay accepted, in hours (one year).
pub const MAX_CHECKOUT_DELAY_HOURS: u32 = 8_784;

/// Why `refunds/create` is ignored: Shopify's refund payload names the order but not the
/// customer, and the contract can only attach an interaction to a customer.
pub const REFUNDS_CREATE_REASON: &str = "refunds/create carries no customer, so the refund cannot be attached to one; \
     refunds are logged from the refunds of orders/updated and orders/cancelled deliveries";

/// JSON Schema of the configuration.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "required": ["secret"],
  "properties": {
    "secret": { "description": "The shop's webhook signing secret", "type": "string", "minLength": 1 },
    "source": { "description": "External-id source for customers, orders and refunds", "type": "string", "pattern": "^[a-z][a-z0-9_.-]{0,63}$", "default": "shopify" },
    "purchase_topic": { "description": "Which order topic logs the purchase", "enum": ["orders/create", "orders/paid"], "default": "orders/create" },
    "abandoned_checkout_tag": { "description": "Tag added to customers who start a checkout", "type": "string", "minLength": 1, "maxLength": 64, "default": "abandoned-checkout" },
    "abandoned_checkout_delay_hours": { "description": "Hours after the checkout when the follow-up task is due", "type": "integer", "minimum": 0, "maximum": 8784, "default": 24 }
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
    /// External-id source of customers, orders and refunds (one per shop if a tenant has several).
    #[serde(default = "default_source")]
    pub source: String,
    /// Which order topic logs the purchase.
    #[serde(default)]
    pub purchase_topic: PurchaseTopic,
    /// Tag added to a customer who starts a checkout.
    #[serde(default = "default_checkout_tag")]
    pub abandoned_checkout_tag: String,
    /// Hours after the webhook's receipt when the checkout follow-up task is due.
    #[serde(default = "default_checkout_delay")]
    pub abandoned_checkout_delay_hours: u32,
}

/// Which order topic logs the purchase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum PurchaseTopic {
    /// Every order placed is a purchase (Shopify sends `orders/create` once per order).
    #[default]
    #[serde(rename = "orders/create")]
    Create,
    /// Only paid orders are purchases (`orders/paid`).
    #[serde(rename = "orders/paid")]
    Paid,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("secret", &"<redacted>")
            .field("source", &self.source)
            .field("purchase_topic", &self.purchase_topic)
            .field("abandoned_checkout_tag", &self.abandoned_checkout_tag)
            .field(
                "abandoned_checkout_delay_hours",
                &self.abandoned_checkout_delay_hours,
            )
            .finish()
    }
}

fn default_source() -> String {
    "shopify".to_owned()
}

fn default_checkout_tag() -> String {
    DEFAULT_CHECKOUT_TAG.to_owned()
}

fn default_checkout_delay() -> u32 {
    DEFAULT_CHECKOUT_DELAY_HOURS
}

impl Config {
    /// Checks what the schema cannot express to the SDK's parser: a usable secret, a source
    /// and a tag the host accepts, a delay in range.
    fn check(&self) -> Result<()> {
        commerce::check_secret_and_source(&self.secret, &self.source)?;
        let invalid = |m: &str| Err(PluginError::InvalidConfig(m.to_owned()));
        let tag = self.abandoned_checkout_tag.trim();
        if tag.is_empty()
            || tag.chars().count() > 64
            || tag.chars().any(|c| c.is_control() || c == ',')
        {
            return invalid("abandoned_checkout_tag must be 1 to 64 characters without commas");
        }
        if self.abandoned_checkout_delay_hours > MAX_CHECKOUT_DELAY_HOURS {
            return invalid("abandoned_checkout_delay_hours must be at most 8784 (one year)");
        }
        Ok(())
    }

    /// The follow-up delay in microseconds.
    fn checkout_delay(&self) -> i64 {
        i64::from(self.abandoned_checkout_delay_hours) * 3_600 * MICROS_PER_SECOND
    }
}

/// The topics handled; every other topic is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `orders/create`: a new order.
    OrderCreated,
    /// `orders/paid`: an order was paid.
    OrderPaid,
    /// `orders/updated`: an order changed (refunds appear here).
    OrderUpdated,
    /// `orders/cancelled`: an order was cancelled.
    OrderCancelled,
    /// `refunds/create`: a refund, which names no customer (ignored, see [`REFUNDS_CREATE_REASON`]).
    RefundCreated,
    /// `customers/create` and `customers/update`: a customer's profile.
    Customer,
    /// `checkouts/create`: a checkout was started.
    CheckoutCreated,
    /// `customers/redact`: the shop asks to erase a customer's data.
    CustomerRedact,
}

impl Topic {
    /// The topic of a Shopify topic name, if handled.
    pub fn parse(name: &str) -> Option<Topic> {
        Some(match name {
            "orders/create" => Topic::OrderCreated,
            "orders/paid" => Topic::OrderPaid,
            "orders/updated" => Topic::OrderUpdated,
            "orders/cancelled" => Topic::OrderCancelled,
            "refunds/create" => Topic::RefundCreated,
            "customers/create" | "customers/update" => Topic::Customer,
            "checkouts/create" => Topic::CheckoutCreated,
            "customers/redact" => Topic::CustomerRedact,
            _ => return None,
        })
    }
}

impl Plugin for ShopifyOrders {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.shopify-orders",
            env!("CARGO_PKG_VERSION"),
            "Shopify orders",
        )
        .description(
            "Verifies Shopify webhooks and keeps customers, purchases, refunds, cancellations, \
                 abandoned-checkout follow-ups and privacy erasures in step with the shop",
        )
        .industries(["retail", "e-commerce"])
        .config_schema(CONFIG_SCHEMA)
    }
}

impl CommerceHook for ShopifyOrders {
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
        let result = match topic {
            Topic::OrderCreated
            | Topic::OrderPaid
            | Topic::OrderUpdated
            | Topic::OrderCancelled => parse::<order::Order>(&webhook.body, "an order")
                .and_then(|o| o.actions(config, topic, webhook.received_at)),
            Topic::RefundCreated => return Ok(HookOutput::ignored(REFUNDS_CREATE_REASON)),
            Topic::Customer => parse::<customer::Customer>(&webhook.body, "a customer")
                .and_then(|c| c.actions(&config.source)),
            Topic::CheckoutCreated => parse::<checkout::Checkout>(&webhook.body, "a checkout")
                .and_then(|c| c.actions(config, webhook.received_at)),
            Topic::CustomerRedact => {
                parse::<customer::RedactRequest>(&webhook.body, "a redact request")
                    .and_then(|r| r.actions(&config.source))
            }
        };
        Ok(commerce::answer(result))
    }
}

kith_plugin_sdk::export_plugin!(ShopifyOrders, commerce_hook);

#[cfg(test)]
mod tests;
