//! The parts of a Shopify order webhook body that Kith uses, and the actions they become.

use kith_plugin_sdk::time::parse_rfc3339;
use kith_plugin_sdk::{
    Action, Attribute, AttributeValue, Channel, CustomerFields, CustomerRef, Direction, ExternalId,
    InteractionKind, LogInteraction, Money, Timestamp, UpsertCustomer,
};
use serde::Deserialize;
use serde_json::Value;

/// At most this many line items become attributes; the rest are counted only.
pub const MAX_LINE_ITEMS: usize = 50;

/// Longest text copied from the order into an attribute or name, in characters.
const MAX_TEXT: usize = 200;

/// Longest email address accepted (RFC 5321 path limit).
const MAX_EMAIL: usize = 254;

/// A Shopify order, as sent with `orders/create`.
#[derive(Debug, Deserialize)]
pub struct Order {
    id: Option<Value>,
    name: Option<String>,
    email: Option<String>,
    contact_email: Option<String>,
    total_price: Option<Value>,
    currency: Option<String>,
    processed_at: Option<String>,
    created_at: Option<String>,
    customer: Option<Customer>,
    billing_address: Option<Address>,
    shipping_address: Option<Address>,
    #[serde(default)]
    line_items: Vec<LineItem>,
}

#[derive(Debug, Deserialize)]
struct Customer {
    id: Option<Value>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    default_address: Option<Address>,
    email_marketing_consent: Option<MarketingConsent>,
    accepts_marketing: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct MarketingConsent {
    state: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Address {
    country_code: Option<String>,
    province: Option<String>,
    city: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LineItem {
    title: Option<String>,
    quantity: Option<u64>,
    price: Option<Value>,
    sku: Option<String>,
}

impl Order {
    /// The upsert and purchase actions, or why the order is malformed.
    ///
    /// No actions when the order has neither a customer id nor an email.
    pub fn into_actions(self, source: &str, received_at: Timestamp) -> Result<Vec<Action>, String> {
        let id = self
            .id
            .as_ref()
            .and_then(id_text)
            .ok_or("order id is missing or not a number/string")?;
        let currency = self.currency.as_deref().ok_or("currency is missing")?;
        let total = match &self.total_price {
            Some(Value::String(s)) => {
                Money::from_decimal(s, currency).map_err(|e| format!("total_price: {e}"))?
            }
            Some(_) => return Err("total_price must be a decimal string".to_owned()),
            None => return Err("total_price is missing".to_owned()),
        };
        let occurred_at = match self.processed_at.as_deref().or(self.created_at.as_deref()) {
            Some(s) => parse_rfc3339(s)
                .ok_or_else(|| format!("order date {s:?} is not an RFC 3339 date-time"))?,
            None => received_at,
        };
        let customer_id = match self.customer.as_ref().and_then(|c| c.id.as_ref()) {
            None | Some(Value::Null) => None,
            Some(value) => Some(id_text(value).ok_or("customer.id is not a number/string")?),
        };
        let email = [
            self.customer.as_ref().and_then(|c| c.email.as_deref()),
            self.email.as_deref(),
            self.contact_email.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(|e| e.trim().to_lowercase())
        .find(|e| !e.is_empty());
        if let Some(email) = &email
            && (email.len() > MAX_EMAIL || !email.contains('@'))
        {
            return Err("email is not a valid address".to_owned());
        }
        let reference = match (&customer_id, &email) {
            (Some(id), _) => CustomerRef::External(ExternalId::new(source, id.as_str())),
            (None, Some(email)) => CustomerRef::Email(email.clone()),
            (None, None) => return Ok(Vec::new()),
        };
        let upsert = Action::UpsertCustomer(UpsertCustomer {
            email,
            external_id: customer_id.map(|id| ExternalId::new(source, id)),
            fields: self.customer_fields(),
        });
        let subject = match &self.name {
            Some(name) => format!("Shopify order {}", clip(name)),
            None => format!("Shopify order {id}"),
        };
        let purchase = Action::LogInteraction(LogInteraction {
            customer: reference,
            channel: Channel::ECommerce,
            kind: InteractionKind::Purchase,
            direction: Direction::Inbound,
            occurred_at,
            subject: Some(subject),
            amount: Some(total),
            rating: None,
            status: None,
            attributes: self.attributes(currency),
            external_id: Some(ExternalId::new(source, id)),
        });
        Ok(vec![upsert, purchase])
    }

    fn customer_fields(&self) -> CustomerFields {
        let customer = self.customer.as_ref();
        let text = |s: Option<&String>| s.map(|s| clip(s.trim())).filter(|s| !s.is_empty());
        let given_name = text(customer.and_then(|c| c.first_name.as_ref()));
        let family_name = text(customer.and_then(|c| c.last_name.as_ref()));
        let display_name = match (&given_name, &family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (g, f) => g.clone().or(f.clone()),
        };
        let address = customer
            .and_then(|c| c.default_address.as_ref())
            .or(self.billing_address.as_ref())
            .or(self.shipping_address.as_ref());
        let marketing_consent = customer.and_then(|c| {
            match c
                .email_marketing_consent
                .as_ref()
                .and_then(|m| m.state.as_deref())
            {
                Some("subscribed") => Some(true),
                Some("unsubscribed" | "not_subscribed") => Some(false),
                _ => c.accepts_marketing,
            }
        });
        CustomerFields {
            kind: None,
            display_name,
            given_name,
            family_name,
            phone: text(customer.and_then(|c| c.phone.as_ref())),
            country: text(address.and_then(|a| a.country_code.as_ref())),
            region: text(address.and_then(|a| a.province.as_ref())),
            city: text(address.and_then(|a| a.city.as_ref())),
            marketing_consent,
        }
    }

    fn attributes(&self, currency: &str) -> Vec<Attribute> {
        let mut attributes = Vec::new();
        let mut push = |name: String, value| attributes.push(Attribute { name, value });
        if let Some(name) = &self.name {
            push("order_name".to_owned(), AttributeValue::Text(clip(name)));
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
                && let Ok(price) = Money::from_decimal(price, currency)
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

/// An id sent as a JSON number or string, as text.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() && s.len() <= MAX_TEXT => {
            Some(s.trim().to_owned())
        }
        _ => None,
    }
}

/// At most [`MAX_TEXT`] characters of `s`.
fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((end, _)) => s[..end].to_owned(),
        None => s.to_owned(),
    }
}
