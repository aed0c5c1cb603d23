//! Customers: create, read, change (at a version), erase, search, merge, timeline.

use crate::model::{
    Actor, Customer, CustomerId, CustomerInput, CustomerPatch, Email, Interaction, Phone,
    TenantSlug,
};
use crate::store::{
    CustomerFilter, IdempotencyKey, Once, Op, Output, Page, PageRequest, Store, one, unexpected,
};
use crate::store::{Error, Result};

/// How to find customers: an exact lookup by a unique value, or a filtered list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerQuery {
    /// The customer with this email (at most one).
    Email(Email),
    /// The customer with this phone (at most one).
    Phone(Phone),
    /// The customer with this external id (at most one).
    ExternalId {
        /// Source system.
        source: String,
        /// Id there.
        id: String,
    },
    /// A page of a list.
    List(CustomerFilter),
}

/// Writes `ops` (one op) once per key when a key is given.
pub(crate) fn write_one(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    op: Op,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Output>> {
    let once = match key {
        Some(k) => store.write_once(tenant, actor, vec![op], k)?,
        None => Once::fresh(store.write(tenant, actor, vec![op])?),
    };
    Ok(Once {
        value: one(once.value)?,
        replayed: once.replayed,
    })
}

fn customer(o: Output) -> Result<Customer> {
    match o {
        Output::Customer(c) => Ok(c),
        other => Err(unexpected(&other)),
    }
}

/// Creates a customer.
pub fn create(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    input: CustomerInput,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Customer>> {
    let once = write_one(store, tenant, actor, Op::CreateCustomer(input), key)?;
    Ok(Once {
        value: customer(once.value)?,
        replayed: once.replayed,
    })
}

/// A customer by id.
pub fn get(store: &dyn Store, tenant: &TenantSlug, id: CustomerId) -> Result<Customer> {
    store
        .customer(tenant, id)?
        .ok_or_else(|| Error::not_found("customer", id))
}

/// [`get`], awaited rather than run on a blocking thread, when the store can answer so; `None`
/// means "run [`get`]".
pub fn get_nonblocking(
    store: &dyn Store,
    tenant: &TenantSlug,
    id: CustomerId,
) -> Option<impl Future<Output = Result<Customer>> + Send + 'static> {
    let read = store.customer_nonblocking(tenant, id)?;
    Some(async move { read.await?.ok_or_else(|| Error::not_found("customer", id)) })
}

/// Changes a customer. With `expected_version`, fails with a conflict unless the customer is still
/// at that version; without, applies the change to the current version.
pub fn update(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    id: CustomerId,
    expected_version: Option<u64>,
    patch: CustomerPatch,
) -> Result<Customer> {
    let expected_version = match expected_version {
        Some(v) => v,
        None => get(store, tenant, id)?.version,
    };
    store.update_customer(tenant, actor, id, expected_version, patch)
}

/// Erases a customer with their interactions and deals (right to erasure).
pub fn erase(store: &dyn Store, tenant: &TenantSlug, actor: &Actor, id: CustomerId) -> Result<()> {
    store.erase_customer(tenant, actor, id)
}

/// Finds customers.
pub fn search(
    store: &dyn Store,
    tenant: &TenantSlug,
    query: &CustomerQuery,
    page: &PageRequest,
) -> Result<Page<Customer>> {
    let single = |c: Option<Customer>| Page {
        items: c.into_iter().collect(),
        next: None,
    };
    match query {
        CustomerQuery::Email(e) => Ok(single(store.customer_by_email(tenant, e)?)),
        CustomerQuery::Phone(p) => Ok(single(store.customer_by_phone(tenant, p)?)),
        CustomerQuery::ExternalId { source, id } => {
            Ok(single(store.customer_by_external_id(tenant, source, id)?))
        }
        CustomerQuery::List(filter) => store.customers(tenant, filter, page),
    }
}

/// Merges `duplicate` into `survivor` (the rule is on [`Customer::merge`]); returns the survivor.
pub fn merge(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    survivor: CustomerId,
    duplicate: CustomerId,
    expected_version: Option<u64>,
) -> Result<Customer> {
    let op = Op::MergeCustomers {
        survivor,
        duplicate,
        expected_version,
    };
    customer(write_one(store, tenant, actor, op, None)?.value)
}

/// A customer's interactions, newest first.
pub fn timeline(
    store: &dyn Store,
    tenant: &TenantSlug,
    id: CustomerId,
    page: &PageRequest,
) -> Result<Page<Interaction>> {
    get(store, tenant, id)?;
    store.timeline(tenant, id, page)
}
