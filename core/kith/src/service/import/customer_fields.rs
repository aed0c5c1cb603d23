//! The columns of a customers file: field names with their aliases, and the header checks.

use std::fmt;

use super::columns::{Columns, Field};
use crate::model::ConsentChannel;

/// What a column of a customers file fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CustomerField {
    Kind,
    Name,
    FirstName,
    LastName,
    Email,
    Phone,
    Country,
    Region,
    City,
    BirthDate,
    Gender,
    Lifecycle,
    Tags,
    Owner,
    MarketingConsent,
    /// The name of the organization a person belongs to, found or created.
    Company,
    OrganizationId,
    ExternalId,
    ExternalSource,
    External(String),
    Attribute(String),
    /// `consent:CHANNEL:PURPOSE`: yes records it granted, no withdrawn (an empty cell is
    /// skipped like any other).
    Consent(ConsentChannel, String),
}

impl fmt::Display for CustomerField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Kind => "kind",
            Self::Name => "name",
            Self::FirstName => "first_name",
            Self::LastName => "last_name",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Country => "country",
            Self::Region => "region",
            Self::City => "city",
            Self::BirthDate => "birth_date",
            Self::Gender => "gender",
            Self::Lifecycle => "lifecycle",
            Self::Tags => "tags",
            Self::Owner => "owner",
            Self::MarketingConsent => "marketing_consent",
            Self::Company => "company",
            Self::OrganizationId => "organization_id",
            Self::ExternalId => "external_id",
            Self::ExternalSource => "external_source",
            Self::External(s) => return write!(f, "external:{s}"),
            Self::Attribute(k) => return write!(f, "attr.{k}"),
            Self::Consent(c, p) => return write!(f, "consent:{}:{p}", c.as_str()),
        };
        f.write_str(name)
    }
}

impl Field for CustomerField {
    fn named(name: &str) -> Option<Self> {
        Some(match name {
            "kind" | "type" | "customer_type" => Self::Kind,
            "name" | "full_name" | "display_name" | "contact_name" | "customer_name" => Self::Name,
            "first_name" | "firstname" | "given_name" | "forename" | "first" => Self::FirstName,
            "last_name" | "lastname" | "surname" | "family_name" | "last" => Self::LastName,
            "email" | "e_mail" | "email_address" | "e_mail_address" | "mail" => Self::Email,
            "phone" | "phone_number" | "telephone" | "tel" | "mobile" | "mobile_phone" | "cell" => {
                Self::Phone
            }
            "country" | "country_code" => Self::Country,
            "region" | "state" | "province" => Self::Region,
            "city" | "town" => Self::City,
            "birth_date" | "birthdate" | "date_of_birth" | "dob" | "birthday" => Self::BirthDate,
            "gender" | "sex" => Self::Gender,
            "lifecycle" | "lifecycle_stage" | "stage" => Self::Lifecycle,
            "tags" | "tag" | "labels" => Self::Tags,
            "owner" | "account_owner" | "assigned_to" => Self::Owner,
            "marketing_consent" | "consent" | "opt_in" | "newsletter" => Self::MarketingConsent,
            "company" | "company_name" | "organization" | "organisation" | "organization_name"
            | "account" | "account_name" => Self::Company,
            "organization_id" | "organisation_id" | "org_id" | "company_id" => Self::OrganizationId,
            "external_id" | "external_ref" => Self::ExternalId,
            "external_source" | "external_system" => Self::ExternalSource,
            _ => return None,
        })
    }

    fn attribute(key: String) -> Self {
        Self::Attribute(key)
    }

    fn external(source: String) -> Option<Self> {
        Some(Self::External(source))
    }

    fn consent(channel: ConsentChannel, purpose: String) -> Option<Self> {
        Some(Self::Consent(channel, purpose))
    }
}

/// Refuses a header that cannot describe a customer, before any row is read.
pub(super) fn check_header(columns: &Columns<CustomerField>) -> anyhow::Result<()> {
    use CustomerField as F;
    let identifying = [F::Name, F::FirstName, F::LastName, F::Email, F::Phone];
    if !identifying.iter().any(|f| columns.has(f)) {
        anyhow::bail!(
            "the file has no column for a customer's name, first_name, last_name, email or phone (its columns: {}); rename one or map it with --map COLUMN=FIELD",
            columns.names()
        );
    }
    if columns.has(&F::ExternalId) && !columns.has(&F::ExternalSource) {
        anyhow::bail!(
            "column external_id needs an external_source column naming the system, or name it in the header as external:SOURCE (e.g. external:shopify)"
        );
    }
    if columns.has(&F::Company) && columns.has(&F::OrganizationId) {
        anyhow::bail!("use either a company column (by name) or organization_id (by id), not both");
    }
    Ok(())
}
