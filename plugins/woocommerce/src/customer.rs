//! WooCommerce customers: who an order is about, and the profile fields Kith keeps.

use kith_plugin_sdk::{Action, CustomerFields, CustomerRef, ExternalId, UpsertCustomer};
use serde::Deserialize;
use serde_json::Value;

use kith_plugin_sdk::commerce::{self, Outcome, country, optional_id, phone, required_id, text};

/// A billing or shipping address (REST API v3 `billing`/`shipping`).
#[derive(Debug, Default, Deserialize)]
pub struct Address {
    first_name: Option<String>,
    last_name: Option<String>,
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

impl Address {
    /// The address's email (billing addresses carry the customer's).
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// Profile fields from this address; `given`/`family` override its names when set.
    pub fn fields(&self, given: Option<&str>, family: Option<&str>) -> CustomerFields {
        let given_name = text(given).or_else(|| text(self.first_name.as_deref()));
        let family_name = text(family).or_else(|| text(self.last_name.as_deref()));
        let display_name = match (&given_name, &family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (g, f) => g.clone().or(f.clone()),
        };
        CustomerFields {
            kind: None,
            display_name,
            given_name,
            family_name,
            phone: phone(self.phone.as_deref()),
            country: country(self.country.as_deref()),
            region: text(self.state.as_deref()),
            city: text(self.city.as_deref()),
            marketing_consent: None,
        }
    }
}

/// How a customer is known: by a WooCommerce customer id (and maybe an email) or, for a
/// guest, by email alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Who {
    /// A registered customer: `(source, customer id)`.
    Account {
        /// `(source, WooCommerce customer id)`.
        id: ExternalId,
        /// The email address, normalized, if known.
        email: Option<String>,
    },
    /// A guest known by email only.
    Guest {
        /// The email address, normalized.
        email: String,
    },
}

impl Who {
    /// Who has this id and the first non-blank of these emails; `None` when neither.
    ///
    /// An unusable email is dropped when the id identifies the customer anyway, and makes
    /// the delivery malformed when it is all there is.
    pub fn identify<'a>(
        source: &str,
        id: Option<String>,
        emails: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Result<Option<Who>, String> {
        let email = match commerce::first_email(emails) {
            Ok(email) => email,
            Err(_) if id.is_some() => None,
            Err(reason) => return Err(reason),
        };
        Ok(match (id, email) {
            (Some(id), email) => Some(Who::Account {
                id: ExternalId::new(source, id),
                email,
            }),
            (None, Some(email)) => Some(Who::Guest { email }),
            (None, None) => None,
        })
    }

    /// The reference later actions use: the external id, else the email.
    pub fn reference(&self) -> CustomerRef {
        match self {
            Who::Account { id, .. } => CustomerRef::External(id.clone()),
            Who::Guest { email } => CustomerRef::Email(email.clone()),
        }
    }

    /// Finds or creates the customer and sets `fields`.
    pub fn upsert(&self, fields: CustomerFields) -> Action {
        let (external_id, email) = match self {
            Who::Account { id, email } => (Some(id.clone()), email.clone()),
            Who::Guest { email } => (None, Some(email.clone())),
        };
        Action::UpsertCustomer(UpsertCustomer {
            email,
            external_id,
            fields,
        })
    }
}

/// A WooCommerce customer, as sent with `customer.created` and `customer.updated`.
#[derive(Debug, Deserialize)]
pub struct Customer {
    id: Option<Value>,
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    #[serde(default)]
    billing: Address,
}

impl Customer {
    /// Upsert the customer by id and email, with names (else the billing names), phone and
    /// location from the billing address.
    pub fn actions(self, source: &str) -> Result<Outcome, String> {
        let id = required_id("id", self.id.as_ref())?;
        // 0 would be a guest, which has no customer record to send.
        if optional_id("id", self.id.as_ref())?.is_none() {
            return Err("id must not be 0".to_owned());
        }
        let who = Who::identify(
            source,
            Some(id),
            [self.email.as_deref(), self.billing.email()],
        )?
        .ok_or("customer has no id")?;
        let fields = self
            .billing
            .fields(self.first_name.as_deref(), self.last_name.as_deref());
        Ok(Outcome::Actions(vec![who.upsert(fields)]))
    }
}
