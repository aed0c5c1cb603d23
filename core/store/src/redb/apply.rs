//! Creating a tenant: its number, its record and the first event of its log.

use serde::{Deserialize, Serialize};

use super::tables::T;
use super::tx::Tx;
use super::txn::RedbTxn;
use crate::engine::{Ctx, event};
use crate::{Error, Result};
use kith_model::{Actor, EntityRef, EventKind, Tenant, TenantInput, Timestamp};

/// What the tenants table stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TenantRecord {
    pub(crate) number: u32,
    pub(crate) tenant: Tenant,
}

pub(crate) fn create_tenant(
    tx: &mut Tx<'_>,
    input: TenantInput,
    actor: &Actor,
    now: Timestamp,
) -> Result<TenantRecord> {
    let tenant = Tenant::new(input, now)?;
    if tx
        .get(T::Tenants, tenant.slug.as_str().as_bytes())?
        .is_some()
    {
        return Err(Error::TenantExists(tenant.slug.to_string()));
    }
    let number = match tx.get(T::Meta, b"next_tenant")? {
        Some(b) => u32::from_le_bytes(b.as_slice().try_into().map_err(|_| corrupt_meta())?),
        None => 1,
    };
    let next = number
        .checked_add(1)
        .ok_or_else(|| Error::Storage("tenant numbers exhausted".into()))?;
    tx.put(T::Meta, b"next_tenant", &next.to_le_bytes())?;
    let record = TenantRecord { number, tenant };
    tx.put_as(T::Tenants, record.tenant.slug.as_str().as_bytes(), &record)?;
    let ctx = Ctx {
        actor,
        now,
        depth: 0,
    };
    event(
        &mut RedbTxn::new(tx, number),
        &ctx,
        EventKind::TenantCreated,
        EntityRef::Tenant,
        Vec::new(),
    )?;
    Ok(record)
}

fn corrupt_meta() -> Error {
    Error::Corrupt {
        table: "meta",
        detail: "bad counter".into(),
    }
}
