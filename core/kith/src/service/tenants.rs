//! Tenants: create, read, list, change, delete with all their data.

use crate::model::{Actor, Tenant, TenantInput, TenantPatch, TenantSlug};
use crate::store::{Error, Result};
use crate::store::{IdempotencyKey, Once, Page, PageRequest, Store};

/// Creates a tenant; with a key, a retry replays the first result.
pub fn create(
    store: &dyn Store,
    actor: &Actor,
    input: TenantInput,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Tenant>> {
    match key {
        Some(k) => store.create_tenant_once(input, actor, k),
        None => store.create_tenant(input, actor).map(Once::fresh),
    }
}

/// A tenant by slug.
pub fn get(store: &dyn Store, slug: &TenantSlug) -> Result<Tenant> {
    store
        .tenant(slug)?
        .ok_or_else(|| Error::TenantNotFound(slug.to_string()))
}

/// A page of tenants, by slug.
pub fn list(store: &dyn Store, page: &PageRequest) -> Result<Page<Tenant>> {
    super::page_of(
        store.tenants()?,
        |t| t.slug.as_str(),
        super::scope::TENANTS,
        page,
    )
}

/// Changes a tenant's name or industry.
pub fn update(
    store: &dyn Store,
    actor: &Actor,
    slug: &TenantSlug,
    patch: TenantPatch,
) -> Result<Tenant> {
    store.update_tenant(slug, actor, patch)
}

/// Deletes a tenant with all its data and API keys.
pub fn delete(store: &dyn Store, actor: &Actor, slug: &TenantSlug) -> Result<()> {
    store.delete_tenant(slug, actor)
}
