//! Plugin state keys in redb, and the registry's writes.

use super::tables::{K, T};
use super::tx::Tx;
use crate::records::decode_enablement;
use crate::{Error, Result};
use kith_model::{CustomerId, InstalledPlugin};

/// The key of a per-tenant, per-plugin record.
pub(super) fn plugin_key(tenant: u32, plugin: &str) -> Vec<u8> {
    K::t(tenant).text(plugin).done()
}

/// The key of a customer's output from one plugin.
pub(super) fn output_key(tenant: u32, customer: CustomerId, plugin: &str) -> Vec<u8> {
    K::t(tenant).id(customer.to_bytes()).text(plugin).done()
}

pub(super) fn read_u64(bytes: &[u8]) -> Result<u64> {
    Ok(u64::from_be_bytes(bytes.try_into().map_err(|_| {
        Error::Corrupt {
            table: T::Cursors.name(),
            detail: "cursor is not a u64".into(),
        }
    })?))
}

pub(super) fn install(tx: &mut Tx<'_>, plugin: &InstalledPlugin, bytes: &[u8]) -> Result<bool> {
    let key = plugin.hash.as_bytes();
    if tx.get(T::Plugins, key)?.is_some() {
        return Ok(false);
    }
    // An installed (id, version) is bound to its bytes: checked inside the write transaction,
    // so two concurrent installs of rival builds cannot both succeed.
    for (_, value) in tx.scan(T::Plugins, &[])? {
        let other: InstalledPlugin = super::tx::decode(T::Plugins, &value)?;
        if other.id == plugin.id && other.version == plugin.version {
            return Err(Error::PluginVersionTaken {
                id: other.id,
                version: other.version,
                hash: other.hash,
            });
        }
    }
    tx.put(T::PluginBytes, key, bytes)?;
    tx.put_as(T::Plugins, key, plugin)?;
    Ok(true)
}

/// Uninstalls a component unless a tenant has it enabled.
pub(super) fn uninstall(tx: &mut Tx<'_>, hash: &str, tenant_names: &[(u32, String)]) -> Result<()> {
    if tx.get(T::Plugins, hash.as_bytes())?.is_none() {
        return Err(Error::not_found("plugin", hash));
    }
    let mut users: Vec<String> = Vec::new();
    for (key, value) in tx.scan(T::Enablements, &[])? {
        let e = decode_enablement(&value)?;
        if e.hash != hash {
            continue;
        }
        let n = key
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes);
        // Name the tenants, not their numbers.
        users.push(
            tenant_names
                .iter()
                .find(|(num, _)| Some(*num) == n)
                .map_or_else(|| "an unknown tenant".to_owned(), |(_, s)| s.clone()),
        );
    }
    if !users.is_empty() {
        users.sort();
        users.dedup();
        return Err(Error::PluginInUse {
            hash: hash.to_owned(),
            tenants: users.join(", "),
        });
    }
    tx.del(T::Plugins, hash.as_bytes())?;
    tx.del(T::PluginBytes, hash.as_bytes())?;
    Ok(())
}
