//! Tenants: the businesses that use Kith, each with isolated data.

use serde::{Deserialize, Serialize};

use super::error::{Checker, text};
use super::{TenantSlug, Timestamp, ValidationError};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    /// Unique slug used in URLs and the CLI.
    pub slug: TenantSlug,
    /// Display name.
    pub name: String,
    /// Industry, e.g. `retail` (free text, used to suggest plugins).
    pub industry: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A tenant as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantInput {
    /// Slug.
    pub slug: String,
    /// Name (defaults to the slug).
    #[serde(default)]
    pub name: Option<String>,
    /// Industry.
    #[serde(default)]
    pub industry: Option<String>,
}

impl Tenant {
    /// Validates `input` into a tenant.
    pub fn new(input: TenantInput, now: Timestamp) -> Result<Self, ValidationError> {
        let mut c = Checker::default();
        let slug = c.take(TenantSlug::parse(&input.slug));
        let name = input
            .name
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| c.take(text("name", s, 200, false)));
        let industry = input
            .industry
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| c.take(text("industry", s, 100, false)));
        c.finish()?;
        let slug = slug.ok_or_else(|| ValidationError::field("slug", "a valid slug"))?;
        Ok(Self {
            name: name.unwrap_or_else(|| slug.as_str().to_owned()),
            slug,
            industry,
            created_at: now,
        })
    }
}
