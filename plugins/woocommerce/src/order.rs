//! The parts of a WooCommerce order (REST API v3) that Kith uses, and the actions they become.

use kith_plugin_sdk::{
    Action, Attribute, AttributeValue, Channel, CustomerRef, Direction, ExternalId,
    InteractionKind, LogInteraction, Money, Timestamp,
};
use serde::Deserialize;
use serde_json::Value;

use crate::Config;
use crate::customer::{Address, Who};
use kith_plugin_sdk::commerce::{self, Outcome, clip, decimal, optional_id, required_id, text};

/// At most this many line items become attributes; the rest are counted only.
pub const MAX_LINE_ITEMS: usize = 50;

/// At most this many refunds of one order are logged from one delivery; an order with
/// more is malformed (a real one has a handful).
pub const MAX_REFUNDS: usize = 100;

/// A WooCommerce order, as sent with `order.created` and `order.updated`.
#[derive(Debug, Deserialize)]
pub struct Order {
    id: Option<Value>,
    number: Option<String>,
    status: Option<String>,
    currency: Option<String>,
    total: Option<Value>,
    customer_id: Option<Value>,
    date_created_gmt: Option<String>,
    date_modified_gmt: Option<String>,
    payment_method_title: Option<String>,
    #[serde(default)]
    billing: Address,
    #[serde(default)]
    line_items: Vec<LineItem>,
    #[serde(default)]
    refunds: Vec<Refund>,
}

#[derive(Debug, Deserialize)]
struct LineItem {
    name: Option<String>,
    quantity: Option<i64>,
    total: Option<Value>,
    sku: Option<String>,
}

/// A refund as listed in an order: WooCommerce sends its total negative (`"-10.00"`).
#[derive(Debug, Deserialize)]
struct Refund {
    id: Option<Value>,
    reason: Option<String>,
    total: Option<Value>,
}

/// A WooCommerce GMT date: `2017-03-22T19:28:02` (no offset, UTC) or full RFC 3339.
fn gmt(field: &str, raw: &str) -> Result<Timestamp, String> {
    if raw.len() == 19 {
        commerce::timestamp(field, &format!("{raw}Z"))
    } else {
        commerce::timestamp(field, raw)
    }
}

impl Order {
    /// The actions of an order delivery.
    ///
    /// Upsert the customer; log the purchase when the status is one of
    /// `purchase_statuses`, the cancellation when it is `cancelled`, and every refund
    /// listed. An order with neither a customer id nor a billing email is ignored.
    pub fn actions(self, config: &Config, received_at: Timestamp) -> Result<Outcome, String> {
        let source = config.source.as_str();
        let id = required_id("id", self.id.as_ref())?;
        let currency = self.currency.as_deref().ok_or("currency is missing")?;
        let total = commerce::money("total", decimal("total", self.total.as_ref())?, currency)?;
        let status = self
            .status
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or("status is missing")?;
        let created_at = match self.date_created_gmt.as_deref() {
            Some(s) => gmt("date_created_gmt", s)?,
            None => received_at,
        };
        let modified_at = match self.date_modified_gmt.as_deref() {
            Some(s) => gmt("date_modified_gmt", s)?,
            None => received_at,
        };
        if self.refunds.len() > MAX_REFUNDS {
            return Err(format!(
                "{} refunds, at most {MAX_REFUNDS} are accepted",
                self.refunds.len()
            ));
        }
        let customer_id = optional_id("customer_id", self.customer_id.as_ref())?;
        let Some(who) = Who::identify(source, customer_id, [self.billing.email()])? else {
            return Ok(Outcome::Ignored(
                "order has neither a customer nor a billing email".to_owned(),
            ));
        };
        let reference = who.reference();
        let mut actions = vec![who.upsert(self.billing.fields(None, None))];
        if config.purchase_statuses.iter().any(|s| s.trim() == status) {
            actions.push(self.purchase(source, &id, status, &reference, total, created_at));
        }
        if status == "cancelled" {
            actions.push(self.cancellation(source, &id, &reference, modified_at));
        }
        for refund in &self.refunds {
            actions.push(self.refund(source, &id, refund, &reference, currency, modified_at)?);
        }
        Ok(Outcome::Actions(actions))
    }

    /// The subject of interactions about this order: "WooCommerce order #727".
    fn title(&self, id: &str) -> String {
        format!(
            "WooCommerce order #{}",
            text(self.number.as_deref()).unwrap_or_else(|| id.to_owned())
        )
    }

    fn purchase(
        &self,
        source: &str,
        id: &str,
        status: &str,
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
            attributes: self.attributes(status, &total.currency),
            amount: Some(total),
            rating: None,
            status: None,
            external_id: Some(ExternalId::new(source, id)),
        })
    }

    /// Kind `other`, external id `(source, "cancel-" + order id)`, `cancellation_of` naming
    /// the purchase's external id; at the order's modification time.
    fn cancellation(
        &self,
        source: &str,
        id: &str,
        customer: &CustomerRef,
        occurred_at: Timestamp,
    ) -> Action {
        Action::LogInteraction(LogInteraction {
            customer: customer.clone(),
            channel: Channel::ECommerce,
            kind: InteractionKind::Other,
            direction: Direction::Inbound,
            occurred_at,
            subject: Some(format!("{} cancelled", self.title(id))),
            amount: None,
            rating: None,
            status: None,
            attributes: vec![Attribute {
                name: "cancellation_of".to_owned(),
                value: AttributeValue::Text(id.to_owned()),
            }],
            external_id: Some(ExternalId::new(source, format!("cancel-{id}"))),
        })
    }

    /// Kind `refund`, the refunded amount as a positive number, external id
    /// `(source, "refund-" + refund id)`, `refund_of` naming the purchase's external id;
    /// at the order's modification time (the listed refund carries no date).
    fn refund(
        &self,
        source: &str,
        id: &str,
        refund: &Refund,
        customer: &CustomerRef,
        currency: &str,
        occurred_at: Timestamp,
    ) -> Result<Action, String> {
        let refund_id = required_id("refunds[].id", refund.id.as_ref())?;
        let field = format!("refund {refund_id} total");
        let raw = decimal(&field, refund.total.as_ref())?;
        let magnitude = raw.strip_prefix('-').unwrap_or(raw);
        let amount = commerce::money(&field, magnitude, currency)?;
        let mut attributes = vec![Attribute {
            name: "refund_of".to_owned(),
            value: AttributeValue::Text(id.to_owned()),
        }];
        if let Some(reason) = text(refund.reason.as_deref()) {
            attributes.push(Attribute {
                name: "refund_reason".to_owned(),
                value: AttributeValue::Text(reason),
            });
        }
        Ok(Action::LogInteraction(LogInteraction {
            customer: customer.clone(),
            channel: Channel::ECommerce,
            kind: InteractionKind::Refund,
            direction: Direction::Inbound,
            occurred_at,
            subject: Some(format!("Refund of {}", self.title(id))),
            amount: Some(amount),
            rating: None,
            status: None,
            attributes,
            external_id: Some(ExternalId::new(source, format!("refund-{refund_id}"))),
        }))
    }

    fn attributes(&self, status: &str, currency: &str) -> Vec<Attribute> {
        let mut attributes = Vec::new();
        let mut push = |name: &str, value| {
            attributes.push(Attribute {
                name: name.to_owned(),
                value,
            })
        };
        if let Some(number) = text(self.number.as_deref()) {
            push("order_number", AttributeValue::Text(number));
        }
        push("order_status", AttributeValue::Text(clip(status)));
        if let Some(method) = text(self.payment_method_title.as_deref()) {
            push("payment_method", AttributeValue::Text(method));
        }
        let quantity: u64 = self
            .line_items
            .iter()
            .map(|i| i.quantity.map_or(1, i64::unsigned_abs))
            .fold(0, u64::saturating_add);
        push(
            "line_item_count",
            AttributeValue::Number(self.line_items.len() as f64),
        );
        push("item_quantity", AttributeValue::Number(quantity as f64));
        for (n, item) in self.line_items.iter().take(MAX_LINE_ITEMS).enumerate() {
            let mut line = format!(
                "{} x {}",
                item.quantity.unwrap_or(1),
                clip(item.name.as_deref().unwrap_or("(unnamed)"))
            );
            if let Some(sku) = text(item.sku.as_deref()) {
                line.push_str(&format!(" (SKU {sku})"));
            }
            if let Some(Value::String(total)) = &item.total
                && let Ok(total) = commerce::money("line total", total, currency)
            {
                line.push_str(&format!(" = {total}"));
            }
            push(&format!("line_item.{}", n + 1), AttributeValue::Text(line));
        }
        if self.line_items.len() > MAX_LINE_ITEMS {
            push("line_items_truncated", AttributeValue::Boolean(true));
        }
        attributes
    }
}
