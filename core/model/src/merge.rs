//! Merging two customer records that describe the same person or organization.
//!
//! The rule, applied by [`Customer::merge`]:
//! - The survivor keeps its id, creation time and every value it has; a value only the duplicate
//!   has (name parts, organization, email, phone, location, demographics, owner) fills the gap.
//! - Email and phone are unique per tenant and a customer has one of each: when both records have
//!   a different one, the duplicate's is kept as the text attribute `merged_email` or
//!   `merged_phone` (unless the survivor already has that attribute).
//! - External ids: the union, one per source. For a source both have, the survivor's id stays
//!   and the duplicate's is kept as the text attribute `merged_external_id.<source>`.
//! - Tags: the union. Attributes: the union; the survivor's value wins for a name both have.
//! - Lifecycle stage: the survivor's. Consent: per channel and purpose, the newer record (the
//!   other joins the history); `marketing_consent` follows the (email, marketing) record.
//! - Both must be of the same kind (two people or two organizations).

use super::consent::{ConsentChannel, Consents, MARKETING};
use super::{AttributeValue, Customer, Timestamp, ValidationError};

/// The most tags, attributes and external ids a customer may have (as in [`Customer::new`]).
const MAX_TAGS: usize = 100;
const MAX_ATTRIBUTES: usize = 200;
const MAX_EXTERNAL_IDS: usize = 16;

impl Customer {
    /// The survivor `self` after absorbing `duplicate` at `now`, at the next version.
    pub fn merge(&self, duplicate: &Customer, now: Timestamp) -> Result<Customer, ValidationError> {
        if self.id == duplicate.id {
            return Err(ValidationError::field(
                "duplicate",
                "another customer than the survivor",
            ));
        }
        if self.kind != duplicate.kind {
            return Err(ValidationError::field(
                "duplicate",
                "a customer of the same kind as the survivor (two people or two organizations)",
            ));
        }
        let mut m = self.clone();
        let d = duplicate;
        if m.first_name.is_none() && m.last_name.is_none() && m.name == m.email_or_phone() {
            // A name derived from contact details only: the duplicate's real name is better.
            m.name.clone_from(&d.name);
        }
        fill(&mut m.first_name, &d.first_name);
        fill(&mut m.last_name, &d.last_name);
        if m.organization.is_none() && d.organization != Some(m.id) {
            m.organization = d.organization;
        }
        if m.organization == Some(d.id) {
            m.organization = None;
        }
        match (&m.email, &d.email) {
            (None, Some(e)) => m.email = Some(e.clone()),
            (Some(a), Some(b)) if a != b => {
                keep_aside(&mut m, "merged_email", b.as_str());
            }
            _ => {}
        }
        match (&m.phone, &d.phone) {
            (None, Some(p)) => m.phone = Some(p.clone()),
            (Some(a), Some(b)) if a != b => {
                keep_aside(&mut m, "merged_phone", b.as_str());
            }
            _ => {}
        }
        for x in &d.external_ids {
            match m.external_ids.iter().find(|y| y.source == x.source) {
                None => m.external_ids.push(x.clone()),
                Some(y) if y.id != x.id => {
                    let key = format!("merged_external_id.{}", x.source);
                    keep_aside(&mut m, &key, &x.id);
                }
                Some(_) => {}
            }
        }
        fill(&mut m.location.country, &d.location.country);
        fill(&mut m.location.region, &d.location.region);
        fill(&mut m.location.city, &d.location.city);
        fill(&mut m.demographics.birth_date, &d.demographics.birth_date);
        fill(&mut m.demographics.gender, &d.demographics.gender);
        fill(&mut m.owner, &d.owner);
        m.tags.extend(d.tags.iter().cloned());
        for (k, v) in &d.attributes {
            m.attributes.entry(k.clone()).or_insert_with(|| v.clone());
        }
        if m.tags.len() > MAX_TAGS {
            return Err(ValidationError::field(
                "duplicate",
                format!("customers with at most {MAX_TAGS} tags together"),
            ));
        }
        if m.attributes.len() > MAX_ATTRIBUTES {
            return Err(ValidationError::field(
                "duplicate",
                format!("customers with at most {MAX_ATTRIBUTES} attributes together"),
            ));
        }
        if m.external_ids.len() > MAX_EXTERNAL_IDS {
            return Err(ValidationError::field(
                "duplicate",
                format!("customers with at most {MAX_EXTERNAL_IDS} external ids together"),
            ));
        }
        let mut consents = Consents {
            current: std::mem::take(&mut m.consents),
            history: std::mem::take(&mut m.consent_history),
        };
        consents.merge(Consents {
            current: d.consents.clone(),
            history: d.consent_history.clone(),
        })?;
        m.marketing_consent =
            Consents::granted(&consents.current, ConsentChannel::Email, MARKETING);
        m.consents = consents.current;
        m.consent_history = consents.history;
        m.version = self.version + 1;
        m.updated_at = now;
        Ok(m)
    }

    fn email_or_phone(&self) -> String {
        match (&self.email, &self.phone) {
            (Some(e), _) => e.as_str().to_owned(),
            (None, Some(p)) => p.as_str().to_owned(),
            (None, None) => String::new(),
        }
    }
}

fn fill<T: Clone>(slot: &mut Option<T>, other: &Option<T>) {
    if slot.is_none() {
        slot.clone_from(other);
    }
}

fn keep_aside(m: &mut Customer, key: &str, value: &str) {
    m.attributes
        .entry(key.to_owned())
        .or_insert_with(|| AttributeValue::Text(value.to_owned()));
}
