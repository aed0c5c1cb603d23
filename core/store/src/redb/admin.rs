//! Work outside the domain ops: changing and deleting tenants, API tokens, and the idempotency
//! records that make a retried creating request replay its first result.

use super::apply::TenantRecord;
use super::tables::{K, T};
use super::tx::Tx;
use super::txn::RedbTxn;
use crate::admin::{IdempotencyRecord, Stored};
use crate::engine::{Ctx, event};
use crate::{Error, Result};
use crate::{IdempotencyKey, TokenRecord};
use kith_model::{Actor, EntityRef, EventKind, Tenant, TenantPatch, TenantSlug, Timestamp};

fn idempotency_key(scope: u32, key: &IdempotencyKey) -> Vec<u8> {
    K::t(scope).text(&key.key).done()
}

/// The stored result for `key` in `scope` (a tenant number, or 0 outside tenants): `Ok(None)` when
/// the key is new, an error when it was used for another request.
pub(super) fn replay(tx: &Tx<'_>, scope: u32, key: &IdempotencyKey) -> Result<Option<Stored>> {
    match tx.get_as::<IdempotencyRecord>(T::Idempotency, &idempotency_key(scope, key))? {
        None => Ok(None),
        Some(r) if r.fingerprint == key.fingerprint => Ok(Some(r.result)),
        Some(_) => Err(Error::IdempotencyKeyReused(key.key.clone())),
    }
}

/// Records the result of the first request with `key`.
pub(super) fn remember(
    tx: &mut Tx<'_>,
    scope: u32,
    key: &IdempotencyKey,
    now: Timestamp,
    result: Stored,
) -> Result<()> {
    let record = IdempotencyRecord {
        fingerprint: key.fingerprint,
        created_at: now,
        result,
    };
    tx.put_as(T::Idempotency, &idempotency_key(scope, key), &record)?;
    Ok(())
}

fn load_tenant(tx: &Tx<'_>, slug: &TenantSlug) -> Result<TenantRecord> {
    tx.get_as(T::Tenants, slug.as_str().as_bytes())?
        .ok_or_else(|| Error::TenantNotFound(slug.to_string()))
}

pub(super) fn update_tenant(
    tx: &mut Tx<'_>,
    slug: &TenantSlug,
    patch: TenantPatch,
    actor: &Actor,
    now: Timestamp,
) -> Result<Tenant> {
    let mut record = load_tenant(tx, slug)?;
    let changed = record.tenant.apply(patch)?;
    if !changed.is_empty() {
        tx.put_as(T::Tenants, slug.as_str().as_bytes(), &record)?;
        let ctx = Ctx {
            actor,
            now,
            depth: 0,
        };
        let changed = changed.into_iter().map(str::to_owned).collect();
        event(
            &mut RedbTxn::new(tx, record.number),
            &ctx,
            EventKind::TenantUpdated,
            EntityRef::Tenant,
            changed,
        )?;
    }
    Ok(record.tenant)
}

/// Deletes the tenant's key range in every tenant-scoped table, its keys and its record. Returns
/// the tenant's number. Checks first and then purges without undo: after the first purge only a
/// storage error can stop it, and that abandons the whole commit.
pub(super) fn delete_tenant(tx: &mut Tx<'_>, slug: &TenantSlug) -> Result<u32> {
    let record = load_tenant(tx, slug)?;
    let n = record.number;
    let keys: Vec<Vec<u8>> = tx
        .scan(T::Tokens, &[])?
        .into_iter()
        .filter_map(|(k, v)| {
            let token: TokenRecord = super::tx::decode(T::Tokens, &v).ok()?;
            (token.scope.tenant() == Some(slug)).then_some(k)
        })
        .collect();
    for t in T::ALL.iter().filter(|t| t.tenant_scoped()) {
        tx.purge_prefix(*t, &K::t(n).done())?;
    }
    tx.forget_head(n);
    for k in keys {
        tx.del(T::Tokens, &k)?;
    }
    tx.del(T::Tenants, slug.as_str().as_bytes())?;
    Ok(n)
}

pub(super) fn create_token(tx: &mut Tx<'_>, token: TokenRecord) -> Result<TokenRecord> {
    if let Some(slug) = token.scope.tenant() {
        load_tenant(tx, slug)?;
    }
    if tx.get(T::Tokens, token.id.as_bytes())?.is_some() {
        return Err(Error::Storage(format!(
            "token id {} exists already; create the token again",
            token.id
        )));
    }
    tx.put_as(T::Tokens, token.id.as_bytes(), &token)?;
    Ok(token)
}

pub(super) fn revoke_token(tx: &mut Tx<'_>, id: &str) -> Result<TokenRecord> {
    let token: TokenRecord = tx
        .get_as(T::Tokens, id.as_bytes())?
        .ok_or_else(|| Error::not_found("token", id))?;
    tx.del(T::Tokens, id.as_bytes())?;
    Ok(token)
}
