//! The parts of a Shopify order webhook body that Kith uses, and the actions they become.

use kith_plugin_sdk::{
    Action, Attribute, AttributeValue, Channel, CustomerRef, Direction, ExternalId,
    InteractionKind, LogInteraction, Money, Timestamp,
};
use serde::Deserialize;
use serde_json::Value;

use crate::customer::{Address, Customer, Who};
use crate::refund::Refund;
use crate::{Config, PurchaseTopic, Topic};
use kith_plugin_sdk::commerce::{self, Outcome, clip, decimal, required_id, text, timestamp};

/// At most this many line items become attributes; the rest are counted only.
pub const MAX_LINE_ITEMS: usize = 50;

/// At most this many refunds of one order are logged from one delivery; an order with
/// more is malformed (a real one has a handful).
pub const MAX_REFUNDS: usize = 100;

/// A Shopify order, as sent with `orders/*`.
#[derive(Debug, Deserialize)]
pub struct Order {
    id: Option<Value>,
    name: Option<String>,
    email: Option<String>,
    contact_email: Option<String>,
    total_price: Option<Value>,
    currency: Option<String>,
    financial_status: Option<String>,
    processed_at: Option<String>,
    created_at: Option<String>,
    cancelled_at: Option<String>,
    cancel_reason: Option<String>,
    /// Shopify's test orders (placed with a test gateway): never a purchase or a customer.
    test: Option<bool>,
    buyer_accepts_marketing: Option<bool>,
    customer: Option<Customer>,
    billing_address: Option<Address>,
    shipping_address: Option<Address>,
    #[serde(default)]
    line_items: Vec<LineItem>,
    #[serde(default)]
    refunds: Vec<Refund>,
}

#[derive(Debug, Deserialize)]
struct LineItem {
    title: Option<String>,
    quantity: Option<u64>,
    price: Option<Value>,
    sku: Option<String>,
}

impl Order {
    /// The actions of an order delivery on `topic`, or why the order is malformed.
    ///
    /// Every order topic upserts the customer and logs the order's refunds; the configured
    /// purchase topic also logs the purchase (unless the order is voided or cancelled already),
    /// `orders/cancelled` the cancellation. An order with neither a customer id nor an email,
    /// and a test order, are ignored.
    pub fn actions(
        self,
        config: &Config,
        topic: Topic,
        received_at: Timestamp,
    ) -> Result<Outcome, String> {
        let source = config.source.as_str();
        let id = required_id("id", self.id.as_ref())?;
        if self.test == Some(true) {
            return Ok(Outcome::Ignored(
                "a test order (test: true) is neither a purchase nor a customer".to_owned(),
            ));
        }
        let currency = match self.currency.as_deref() {
            Some(c) => c,
            None => return Err("currency is missing".to_owned()),
        };
        let total = commerce::money(
            "total_price",
            decimal("total_price", self.total_price.as_ref())?,
            currency,
        )?;
        let occurred_at = match self.processed_at.as_deref().or(self.created_at.as_deref()) {
            Some(s) => timestamp("order date", s)?,
            None => received_at,
        };
        let customer_id = match &self.customer {
            Some(c) => c.id()?,
            None => None,
        };
        let who = Who::identify(
            source,
            customer_id,
            [
                self.customer.as_ref().and_then(Customer::email),
                self.email.as_deref(),
                self.contact_email.as_deref(),
            ],
        )?;
        if self.refunds.len() > MAX_REFUNDS {
            return Err(format!(
                "{} refunds, at most {MAX_REFUNDS} are accepted",
                self.refunds.len()
            ));
        }
        let Some(who) = who else {
            return Ok(Outcome::Ignored(
                "order has neither a customer nor an email".to_owned(),
            ));
        };
        let reference = who.reference();
        let fallback_address = self
            .billing_address
            .as_ref()
            .or(self.shipping_address.as_ref());
        let fields = match &self.customer {
            Some(c) => c.fields(fallback_address, self.buyer_accepts_marketing),
            None => {
                let mut fields = crate::customer::person(None, None);
                crate::customer::locate(&mut fields, fallback_address);
                fields
            }
        };
        let mut actions = vec![who.upsert(fields)];
        let purchase_topic = match config.purchase_topic {
            PurchaseTopic::Create => Topic::OrderCreated,
            PurchaseTopic::Paid => Topic::OrderPaid,
        };
        // A voided order (its payment authorization cancelled) or one cancelled already is no
        // revenue: the purchase is not logged.
        let voided = self
            .financial_status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("voided"));
        if topic == purchase_topic && !voided && self.cancelled_at.is_none() {
            actions.push(self.purchase(source, &id, &reference, total, occurred_at));
        }
        if topic == Topic::OrderCancelled {
            actions.push(self.cancellation(source, &id, &reference, received_at)?);
        }
        let title = self.title(&id);
        for refund in &self.refunds {
            if let Some(action) =
                refund.interaction(source, &id, &title, &reference, currency, received_at)?
            {
                actions.push(action);
            }
        }
        Ok(Outcome::Actions(actions))
    }

    /// The subject of interactions about this order: "Shopify order #1001".
    fn title(&self, id: &str) -> String {
        match text(self.name.as_deref()) {
            Some(name) => format!("Shopify order {name}"),
            None => format!("Shopify order {id}"),
        }
    }

    /// The purchase: the exact total, external id `(source, order id)`.
    fn purchase(
        &self,
        source: &str,
        id: &str,
        customer: &CustomerRef,
        total: Money,
        occurred_at: Timestamp,
    ) -> Action {
        Action::LogInteraction(LogInteraction {
            customer: customer.clone(),
            channel: Channel::ECommerce,
            kind: InteractionKind::Purchase,
            direction: Direction::Inbound,
            occurred_at,
            subject: Some(self.title(id)),
            attributes: self.attributes(&total.currency),
            amount: Some(total),
            rating: None,
            status: None,
            external_id: Some(ExternalId::new(source, id)),
        })
    }

    /// The cancellation: kind `other`, external id `(source, "cancel-" + order id)`,
    /// attribute `cancellation_of` naming the purchase's external id.
    fn cancellation(
        &self,
        source: &str,
        id: &str,
        customer: &CustomerRef,
        received_at: Timestamp,
    ) -> Result<Action, String> {
        let occurred_at = match self.cancelled_at.as_deref() {
            Some(s) => timestamp("cancelled_at", s)?,
            None => received_at,
        };
        let mut attributes = vec![Attribute {
            name: "cancellation_of".to_owned(),
            value: AttributeValue::Text(id.to_owned()),
        }];
        if let Some(reason) = text(self.cancel_reason.as_deref()) {
            attributes.push(Attribute {
                name: "cancel_reason".to_owned(),
                value: AttributeValue::Text(reason),
            });
        }
        Ok(Action::LogInteraction(LogInteraction {
            customer: customer.clone(),
            channel: Channel::ECommerce,
            kind: InteractionKind::Other,
            direction: Direction::Inbound,
            occurred_at,
            subject: Some(format!("{} cancelled", self.title(id))),
            amount: None,
            rating: None,
            status: None,
            attributes,
            external_id: Some(ExternalId::new(source, format!("cancel-{id}"))),
        }))
    }

    fn attributes(&self, currency: &str) -> Vec<Attribute> {
        let mut attributes = Vec::new();
        let mut push = |name: String, value| attributes.push(Attribute { name, value });
        if let Some(name) = &self.name {
            push("order_name".to_owned(), AttributeValue::Text(clip(name)));
        }
        if let Some(status) = text(self.financial_status.as_deref()) {
            push("financial_status".to_owned(), AttributeValue::Text(status));
        }
        let quantity: u64 = self
            .line_items
            .iter()
            .map(|i| i.quantity.unwrap_or(1))
            .fold(0, u64::saturating_add);
        push(
            "line_item_count".to_owned(),
            AttributeValue::Number(self.line_items.len() as f64),
        );
        push(
            "item_quantity".to_owned(),
            AttributeValue::Number(quantity as f64),
        );
        for (n, item) in self.line_items.iter().take(MAX_LINE_ITEMS).enumerate() {
            let mut text = format!(
                "{} x {}",
                item.quantity.unwrap_or(1),
                clip(item.title.as_deref().unwrap_or("(untitled)"))
            );
            if let Some(sku) = item.sku.as_deref().filter(|s| !s.is_empty()) {
                text.push_str(&format!(" (SKU {})", clip(sku)));
            }
            if let Some(Value::String(price)) = &item.price
                && let Ok(price) = commerce::money("price", price, currency)
            {
                text.push_str(&format!(" @ {price}"));
            }
            push(format!("line_item.{}", n + 1), AttributeValue::Text(text));
        }
        if self.line_items.len() > MAX_LINE_ITEMS {
            push(
                "line_items_truncated".to_owned(),
                AttributeValue::Boolean(true),
            );
        }
        attributes
    }
}
