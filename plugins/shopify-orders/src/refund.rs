//! Shopify refunds, as listed in an order's `refunds`, and the refund interaction each becomes.

use kith_plugin_sdk::{
    Action, Attribute, AttributeValue, Channel, CustomerRef, Direction, ExternalId,
    InteractionKind, LogInteraction, Money, Timestamp,
};
use serde::Deserialize;
use serde_json::Value;

use kith_plugin_sdk::commerce::{self, decimal, required_id, text, timestamp};

/// One refund of an order.
#[derive(Debug, Deserialize)]
pub struct Refund {
    id: Option<Value>,
    created_at: Option<String>,
    processed_at: Option<String>,
    note: Option<String>,
    #[serde(default)]
    refund_line_items: Vec<RefundLineItem>,
    #[serde(default)]
    transactions: Vec<Transaction>,
}

#[derive(Debug, Deserialize)]
struct RefundLineItem {
    quantity: Option<u64>,
}

/// A payment transaction; refunds move money with `kind: "refund"`.
#[derive(Debug, Deserialize)]
struct Transaction {
    kind: Option<String>,
    status: Option<String>,
    amount: Option<Value>,
    currency: Option<String>,
}

impl Refund {
    /// The refund interaction of this refund of order `order_id` (`order_title` for the subject), or `None` when it moved
    /// no money (no successful refund transaction, e.g. a restock only).
    ///
    /// Kind `refund`, amount the sum of its successful refund transactions (positive, as
    /// the contract wants), external id `(source, "refund-" + refund id)`, attribute
    /// `refund_of` naming the purchase's external id (the order id).
    pub fn interaction(
        &self,
        source: &str,
        order_id: &str,
        order_title: &str,
        customer: &CustomerRef,
        order_currency: &str,
        received_at: Timestamp,
    ) -> Result<Option<Action>, String> {
        let id = required_id("refunds[].id", self.id.as_ref())?;
        let mut amount: Option<Money> = None;
        for t in &self.transactions {
            if t.kind.as_deref() != Some("refund") || t.status.as_deref() != Some("success") {
                continue;
            }
            let currency = t.currency.as_deref().unwrap_or(order_currency);
            let field = format!("refund {id} transaction amount");
            let money = commerce::money(&field, decimal(&field, t.amount.as_ref())?, currency)?;
            amount = Some(match amount {
                None => money,
                Some(sum) if sum.currency == money.currency => Money::new(
                    sum.amount
                        .checked_add(money.amount)
                        .ok_or_else(|| format!("refund {id} total is too large"))?,
                    sum.currency,
                ),
                Some(sum) => {
                    return Err(format!(
                        "refund {id} mixes currencies {} and {}",
                        sum.currency, money.currency
                    ));
                }
            });
        }
        let Some(amount) = amount else {
            return Ok(None);
        };
        let occurred_at = match self.processed_at.as_deref().or(self.created_at.as_deref()) {
            Some(s) => timestamp("refund date", s)?,
            None => received_at,
        };
        let quantity = self
            .refund_line_items
            .iter()
            .map(|i| i.quantity.unwrap_or(0))
            .fold(0u64, u64::saturating_add);
        let mut attributes = vec![
            Attribute {
                name: "refund_of".to_owned(),
                value: AttributeValue::Text(order_id.to_owned()),
            },
            Attribute {
                name: "refunded_item_quantity".to_owned(),
                value: AttributeValue::Number(quantity as f64),
            },
        ];
        if let Some(note) = text(self.note.as_deref()) {
            attributes.push(Attribute {
                name: "refund_note".to_owned(),
                value: AttributeValue::Text(note),
            });
        }
        Ok(Some(Action::LogInteraction(LogInteraction {
            customer: customer.clone(),
            channel: Channel::ECommerce,
            kind: InteractionKind::Refund,
            direction: Direction::Inbound,
            occurred_at,
            subject: Some(format!("Refund of {order_title}")),
            amount: Some(amount),
            rating: None,
            status: None,
            attributes,
            external_id: Some(ExternalId::new(source, format!("refund-{id}"))),
        })))
    }
}
