//! Shopify checkouts (`checkouts/create`): a customer started to pay and may abandon.

use kith_plugin_sdk::{Action, CreateTask, TagChange, Timestamp};
use serde::Deserialize;
use serde_json::Value;

use crate::Config;
use crate::customer::{Address, Customer, Who, locate, person};
use kith_plugin_sdk::commerce::{self, Outcome, decimal, required_id, text};

/// The latest time the host stores (9999-12-31T23:59:59.999999Z).
const MAX_TIMESTAMP: Timestamp = 253_402_300_799_999_999;

/// A Shopify checkout.
#[derive(Debug, Deserialize)]
pub struct Checkout {
    id: Option<Value>,
    name: Option<String>,
    email: Option<String>,
    currency: Option<String>,
    total_price: Option<Value>,
    completed_at: Option<String>,
    buyer_accepts_marketing: Option<bool>,
    customer: Option<Customer>,
    billing_address: Option<Address>,
    shipping_address: Option<Address>,
    #[serde(default)]
    line_items: Vec<Value>,
}

impl Checkout {
    /// Upsert the customer, tag them and create a follow-up task due
    /// `abandoned_checkout_delay_hours` after the webhook was received.
    ///
    /// A completed checkout, or one with neither a customer id nor an email (nobody to
    /// follow up), is ignored.
    pub fn actions(self, config: &Config, received_at: Timestamp) -> Result<Outcome, String> {
        let id = required_id("id", self.id.as_ref())?;
        let currency = self.currency.as_deref().ok_or("currency is missing")?;
        let total = commerce::money(
            "total_price",
            decimal("total_price", self.total_price.as_ref())?,
            currency,
        )?;
        if self.completed_at.as_deref().is_some_and(|c| !c.is_empty()) {
            return Ok(Outcome::Ignored(format!(
                "checkout {id} is already completed"
            )));
        }
        let customer_id = match &self.customer {
            Some(c) => c.id()?,
            None => None,
        };
        let who = Who::identify(
            &config.source,
            customer_id,
            [
                self.customer.as_ref().and_then(Customer::email),
                self.email.as_deref(),
            ],
        )?;
        let Some(who) = who else {
            return Ok(Outcome::Ignored(format!(
                "checkout {id} has neither a customer nor an email to follow up"
            )));
        };
        let fallback_address = self
            .billing_address
            .as_ref()
            .or(self.shipping_address.as_ref());
        let fields = match &self.customer {
            Some(c) => c.fields(fallback_address, self.buyer_accepts_marketing),
            None => {
                let mut fields = person(None, None);
                locate(&mut fields, fallback_address);
                fields.marketing_consent = self.buyer_accepts_marketing;
                fields
            }
        };
        let reference = who.reference();
        let name = text(self.name.as_deref()).unwrap_or_else(|| id.clone());
        let items = self.line_items.len();
        let subject = format!(
            "Follow up abandoned checkout {name}: {total}, {items} item{}",
            if items == 1 { "" } else { "s" }
        );
        let due_at = received_at
            .saturating_add(config.checkout_delay())
            .min(MAX_TIMESTAMP);
        Ok(Outcome::Actions(vec![
            who.upsert(fields),
            Action::AddTag(TagChange {
                customer: reference.clone(),
                tag: config.abandoned_checkout_tag.trim().to_owned(),
            }),
            Action::CreateTask(CreateTask {
                customer: reference,
                subject,
                due_at: Some(due_at),
            }),
        ]))
    }
}
