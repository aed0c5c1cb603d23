//! The order document (see the README) and the two actions it becomes.

use kith_plugin_sdk::{
    Action, Attribute, AttributeValue, Channel, CustomerFields, CustomerRef, Direction, ExternalId,
    InteractionKind, LogInteraction, Money, UpsertCustomer, currency_exponent,
};
use serde::Deserialize;
use serde_json::Value;

use crate::Topic;
use kith_plugin_sdk::commerce::{self, clip, optional_id, required_id, text, timestamp};

/// Most items one document may list.
pub const MAX_ITEMS: usize = 1_000;

/// At most this many items become `line_item.<n>` attributes; all are counted.
pub const MAX_LISTED_ITEMS: usize = 50;

/// Largest quantity of one item.
const MAX_QUANTITY: u64 = 1_000_000;

/// One order, refund or cancellation, as documented in the README.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderDocument {
    id: Value,
    occurred_at: String,
    customer: Customer,
    currency: String,
    total: String,
    #[serde(default)]
    items: Vec<Item>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    refund_of: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Customer {
    #[serde(default)]
    external_id: Option<Value>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    #[serde(default)]
    sku: Option<String>,
    #[serde(default)]
    name: Option<String>,
    quantity: u64,
    #[serde(default)]
    unit_price: Option<String>,
}

/// What a document records, by topic.
enum Document {
    /// `order.created`.
    Purchase,
    /// `order.refunded`, of the order with this id.
    Refund { of: String },
    /// `order.cancelled`.
    Cancellation,
}

/// `amount` in `currency` with at most the currency's fraction digits, exactly.
fn strict_money(field: &str, amount: &str, currency: &str) -> Result<Money, String> {
    let digits = amount.split_once('.').map_or(0, |(_, f)| f.len());
    let exponent = currency_exponent(currency) as usize;
    if digits > exponent {
        return Err(format!(
            "{field}: {:?} has {digits} fraction digits, {currency} has {exponent}",
            clip(amount)
        ));
    }
    commerce::money(field, amount, currency)
}

impl OrderDocument {
    /// Upsert the customer, then log the document's one interaction.
    ///
    /// `order.created`: a purchase, external id `(source, id)`. `order.refunded`: a refund
    /// of `total` (positive), external id `(source, "refund-" + id)`, attribute `refund_of`.
    /// `order.cancelled`: kind `other`, external id `(source, "cancel-" + id)`, attribute
    /// `cancellation_of` = `id`.
    pub fn actions(self, source: &str, topic: Topic) -> Result<Vec<Action>, String> {
        let id = required_id("id", Some(&self.id))?;
        let occurred_at = timestamp("occurred_at", &self.occurred_at)?;
        let amount = strict_money("total", &self.total, &self.currency)?;
        let refund_of = optional_id("refund_of", self.refund_of.as_ref())?;
        let document = match (topic, refund_of) {
            (Topic::Created, None) => Document::Purchase,
            (Topic::Refunded, Some(of)) => Document::Refund { of },
            (Topic::Cancelled, None) => Document::Cancellation,
            (Topic::Refunded, None) => {
                return Err("refund_of is required with order.refunded".to_owned());
            }
            (Topic::Created | Topic::Cancelled, Some(_)) => {
                return Err("refund_of is only allowed with order.refunded".to_owned());
            }
        };
        if self.items.len() > MAX_ITEMS {
            return Err(format!(
                "{} items, at most {MAX_ITEMS} are accepted",
                self.items.len()
            ));
        }
        let status = match self.status.as_deref().map(str::trim) {
            Some(s) if s.chars().count() > 64 => {
                return Err("status is longer than 64 characters".to_owned());
            }
            Some("") | None => None,
            Some(s) => Some(s.to_owned()),
        };
        let customer_id = optional_id("customer.external_id", self.customer.external_id.as_ref())?;
        let email = commerce::first_email([self.customer.email.as_deref()])
            .map_err(|e| format!("customer.email: {e}"))?;
        let (reference, external_id) = match (customer_id, &email) {
            (Some(id), _) => {
                let id = ExternalId::new(source, id);
                (CustomerRef::External(id.clone()), Some(id))
            }
            (None, Some(email)) => (CustomerRef::Email(email.clone()), None),
            (None, None) => {
                return Err("customer needs an external_id or an email".to_owned());
            }
        };
        let upsert = Action::UpsertCustomer(UpsertCustomer {
            email,
            external_id,
            fields: CustomerFields {
                kind: None,
                display_name: text(self.customer.name.as_deref()),
                given_name: None,
                family_name: None,
                phone: None,
                country: None,
                region: None,
                city: None,
                marketing_consent: None,
            },
        });
        let mut attributes = self.item_attributes(&self.currency)?;
        if let Some(status) = status {
            attributes.push(Attribute {
                name: "order_status".to_owned(),
                value: AttributeValue::Text(status),
            });
        }
        let (kind, amount, external, subject) = match document {
            Document::Purchase => (
                InteractionKind::Purchase,
                Some(amount),
                id.clone(),
                format!("Order {id}"),
            ),
            Document::Refund { of } => {
                let subject = format!("Refund {id} of order {of}");
                attributes.push(Attribute {
                    name: "refund_of".to_owned(),
                    value: AttributeValue::Text(of),
                });
                (
                    InteractionKind::Refund,
                    Some(amount),
                    format!("refund-{id}"),
                    subject,
                )
            }
            Document::Cancellation => {
                attributes.push(Attribute {
                    name: "cancellation_of".to_owned(),
                    value: AttributeValue::Text(id.clone()),
                });
                (
                    InteractionKind::Other,
                    None,
                    format!("cancel-{id}"),
                    format!("Order {id} cancelled"),
                )
            }
        };
        let log = Action::LogInteraction(LogInteraction {
            customer: reference,
            channel: Channel::ECommerce,
            kind,
            direction: Direction::Inbound,
            occurred_at,
            subject: Some(subject),
            amount,
            rating: None,
            status: None,
            attributes,
            external_id: Some(ExternalId::new(source, external)),
        });
        Ok(vec![upsert, log])
    }

    /// `item_quantity`, `line_item_count` and `line_item.<n>` (first [`MAX_LISTED_ITEMS`]).
    fn item_attributes(&self, currency: &str) -> Result<Vec<Attribute>, String> {
        let mut attributes = Vec::new();
        if self.items.is_empty() {
            return Ok(attributes);
        }
        let mut quantity: u64 = 0;
        for (n, item) in self.items.iter().enumerate() {
            if item.quantity == 0 || item.quantity > MAX_QUANTITY {
                return Err(format!("items[{n}].quantity must be 1 to {MAX_QUANTITY}"));
            }
            quantity += item.quantity;
            let price = item
                .unit_price
                .as_deref()
                .map(|p| strict_money(&format!("items[{n}].unit_price"), p, currency))
                .transpose()?;
            if n < MAX_LISTED_ITEMS {
                let mut line = format!(
                    "{} x {}",
                    item.quantity,
                    text(item.name.as_deref()).unwrap_or_else(|| "(unnamed)".to_owned())
                );
                if let Some(sku) = text(item.sku.as_deref()) {
                    line.push_str(&format!(" (SKU {sku})"));
                }
                if let Some(price) = price {
                    line.push_str(&format!(" @ {price}"));
                }
                attributes.push(Attribute {
                    name: format!("line_item.{}", n + 1),
                    value: AttributeValue::Text(line),
                });
            }
        }
        attributes.push(Attribute {
            name: "line_item_count".to_owned(),
            value: AttributeValue::Number(self.items.len() as f64),
        });
        attributes.push(Attribute {
            name: "item_quantity".to_owned(),
            value: AttributeValue::Number(quantity as f64),
        });
        if self.items.len() > MAX_LISTED_ITEMS {
            attributes.push(Attribute {
                name: "line_items_truncated".to_owned(),
                value: AttributeValue::Boolean(true),
            });
        }
        Ok(attributes)
    }
}
