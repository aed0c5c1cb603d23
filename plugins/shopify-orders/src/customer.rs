//! Shopify customers: who an order, checkout or privacy request is about, and the profile
//! fields Kith keeps.

use kith_plugin_sdk::{Action, CustomerFields, CustomerRef, ExternalId, UpsertCustomer};
use serde::Deserialize;
use serde_json::Value;

use kith_plugin_sdk::commerce::{self, Outcome, country, optional_id, phone, text};

/// A Shopify customer, as embedded in orders and checkouts and sent with `customers/*`.
#[derive(Debug, Deserialize)]
pub struct Customer {
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

/// A postal address (customer default, billing or shipping).
#[derive(Debug, Deserialize)]
pub struct Address {
    country_code: Option<String>,
    province: Option<String>,
    city: Option<String>,
}

/// How a customer is known: by a Shopify customer id (and maybe an email) or, for a
/// guest, by email alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Who {
    /// A customer with a Shopify account: `(source, customer id)`.
    Account {
        /// `(source, Shopify customer id)`.
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
    /// Who has this Shopify id and/or email; `None` when neither is known.
    pub fn new(source: &str, id: Option<String>, email: Option<String>) -> Option<Who> {
        match (id, email) {
            (Some(id), email) => Some(Who::Account {
                id: ExternalId::new(source, id),
                email,
            }),
            (None, Some(email)) => Some(Who::Guest { email }),
            (None, None) => None,
        }
    }

    /// Who has this Shopify id and the first non-blank of these emails.
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
        Ok(Who::new(source, id, email))
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

impl Customer {
    /// The Shopify customer id, if any (`null` and `0` mean none).
    pub fn id(&self) -> Result<Option<String>, String> {
        optional_id("customer.id", self.id.as_ref())
    }

    /// The customer's own email, if any.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// The profile fields to set: name, phone, location (own default address, else
    /// `fallback`) and marketing consent (`email_marketing_consent.state`, else
    /// `accepts_marketing`, else `fallback_consent`).
    pub fn fields(
        &self,
        fallback: Option<&Address>,
        fallback_consent: Option<bool>,
    ) -> CustomerFields {
        let given_name = text(self.first_name.as_deref());
        let family_name = text(self.last_name.as_deref());
        let consent = match self
            .email_marketing_consent
            .as_ref()
            .and_then(|m| m.state.as_deref())
        {
            Some("subscribed") => Some(true),
            Some("unsubscribed" | "not_subscribed") => Some(false),
            _ => self.accepts_marketing.or(fallback_consent),
        };
        let mut fields = person(given_name, family_name);
        fields.phone = phone(self.phone.as_deref());
        fields.marketing_consent = consent;
        locate(&mut fields, self.default_address.as_ref().or(fallback));
        fields
    }

    /// `customers/create` and `customers/update`: upsert the customer.
    pub fn actions(self, source: &str) -> Result<Outcome, String> {
        let id = self
            .id()?
            .ok_or("customer.id is missing: a customer payload needs its id")?;
        let who = Who::identify(source, Some(id), [self.email()])?.ok_or("customer has no id")?;
        Ok(Outcome::Actions(vec![who.upsert(self.fields(None, None))]))
    }
}

/// Fields of a person with these names (display name "given family").
pub fn person(given_name: Option<String>, family_name: Option<String>) -> CustomerFields {
    let display_name = match (&given_name, &family_name) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (g, f) => g.clone().or(f.clone()),
    };
    CustomerFields {
        kind: None,
        display_name,
        given_name,
        family_name,
        phone: None,
        country: None,
        region: None,
        city: None,
        marketing_consent: None,
    }
}

/// Sets country, region and city from `address`.
pub fn locate(fields: &mut CustomerFields, address: Option<&Address>) {
    if let Some(a) = address {
        fields.country = country(a.country_code.as_deref());
        fields.region = text(a.province.as_deref());
        fields.city = text(a.city.as_deref());
    }
}

/// The body of `customers/redact`: Shopify's request to erase a customer's data.
#[derive(Debug, Deserialize)]
pub struct RedactRequest {
    customer: Option<RedactCustomer>,
}

#[derive(Debug, Deserialize)]
struct RedactCustomer {
    id: Option<Value>,
    email: Option<String>,
}

impl RedactRequest {
    /// Erase the customer by Shopify id and by email: either may be how Kith knows them,
    /// and erasing someone who is not there does nothing.
    pub fn actions(self, source: &str) -> Result<Outcome, String> {
        let customer = self.customer.ok_or("customer is missing")?;
        let id = optional_id("customer.id", customer.id.as_ref())?;
        let email = match customer.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => match commerce::email(raw) {
                Ok(email) => Some(email),
                // An id alone still identifies them; an unusable email adds nothing.
                Err(_) if id.is_some() => None,
                Err(reason) => return Err(format!("customer.email: {reason}")),
            },
        };
        let mut actions = Vec::with_capacity(2);
        if let Some(id) = id {
            actions.push(Action::EraseCustomer(CustomerRef::External(
                ExternalId::new(source, id),
            )));
        }
        if let Some(email) = email {
            actions.push(Action::EraseCustomer(CustomerRef::Email(email)));
        }
        if actions.is_empty() {
            return Err("customer has neither an id nor an email".to_owned());
        }
        Ok(Outcome::Actions(actions))
    }
}
