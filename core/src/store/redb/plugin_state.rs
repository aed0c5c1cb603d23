//! Plugin state in redb: how each [`PluginOp`] changes the tables, and the registry's writes.

use super::apply::{Ctx, append_event};
use super::derive;
use super::records::{decode_enablement, encode_enablement};
use super::tables::{K, T};
use super::tx::Tx;
use crate::model::{
    CustomerId, EntityRef, EventKind, InstalledPlugin, StoredScore, StoredSegments,
};
use crate::store::{Output, PluginOp};
use crate::{Error, Result};

/// The key of a per-tenant, per-plugin record.
pub(super) fn plugin_key(tenant: u32, plugin: &str) -> Vec<u8> {
    K::t(tenant).text(plugin).done()
}

/// The key of a customer's output from one plugin.
pub(super) fn output_key(tenant: u32, customer: CustomerId, plugin: &str) -> Vec<u8> {
    K::t(tenant).id(customer.to_bytes()).text(plugin).done()
}

pub(super) fn apply(tx: &mut Tx<'_>, ctx: &Ctx<'_>, op: PluginOp) -> Result<Output> {
    let t = ctx.tenant;
    match op {
        PluginOp::Enable(enablement) => {
            let key = plugin_key(t, &enablement.plugin);
            let old = tx
                .get(T::Enablements, &key)?
                .map(|b| decode_enablement(&b))
                .transpose()?;
            let kind = match &old {
                None => {
                    // Start after the tenant's latest event: existing customers are scored by a
                    // rescore, not by replaying history.
                    let head = tx.head(t)?;
                    tx.put(T::Cursors, &key, &head.to_be_bytes())?;
                    EventKind::PluginEnabled
                }
                Some(_) => EventKind::PluginReconfigured,
            };
            let changed = vec![enablement.plugin.clone(), enablement.version.clone()];
            tx.put(T::Enablements, &key, &encode_enablement(&enablement)?)?;
            append_event(tx, ctx, kind, EntityRef::Tenant, changed)?;
            Ok(Output::Done)
        }
        PluginOp::Disable { plugin } => {
            let key = plugin_key(t, &plugin);
            let old = tx
                .get(T::Enablements, &key)?
                .map(|b| decode_enablement(&b))
                .transpose()?
                .ok_or_else(|| Error::not_found("enabled plugin", &plugin))?;
            for table in [T::Enablements, T::Cursors, T::Health, T::Models] {
                tx.del(table, &key)?;
            }
            append_event(
                tx,
                ctx,
                EventKind::PluginDisabled,
                EntityRef::Tenant,
                vec![plugin, old.version],
            )?;
            Ok(Output::Done)
        }
        PluginOp::RecordScore(score) => {
            require_customer(tx, t, score.customer)?;
            let key = output_key(t, score.customer, &score.producer.plugin);
            if let Some(old) = tx.get_as::<StoredScore>(T::Scores, &key)? {
                if old.as_of > score.as_of {
                    return Ok(Output::Done);
                }
                for (table, k, _) in derive::score_entries(t, &old) {
                    tx.del(table, &k)?;
                }
            }
            for (table, k, v) in derive::score_entries(t, &score) {
                tx.put(table, &k, &v)?;
            }
            tx.put_as(T::Scores, &key, &score)?;
            Ok(Output::Done)
        }
        PluginOp::RecordSegments(segments) => {
            require_customer(tx, t, segments.customer)?;
            let key = output_key(t, segments.customer, &segments.producer.plugin);
            if let Some(old) = tx.get_as::<StoredSegments>(T::Segments, &key)? {
                if old.as_of > segments.as_of {
                    return Ok(Output::Done);
                }
                for (table, k, _) in derive::segment_entries(t, &old) {
                    tx.del(table, &k)?;
                }
            }
            for (table, k, v) in derive::segment_entries(t, &segments) {
                tx.put(table, &k, &v)?;
            }
            tx.put_as(T::Segments, &key, &segments)?;
            Ok(Output::Done)
        }
        PluginOp::RecordModel { plugin, model } => {
            tx.put_as(T::Models, &plugin_key(t, &plugin), &model)?;
            Ok(Output::Done)
        }
        PluginOp::AdvanceCursor { plugin, from, to } => {
            let key = plugin_key(t, &plugin);
            let current = match tx.get(T::Cursors, &key)? {
                Some(b) => read_u64(&b)?,
                None => return Err(Error::not_found("enabled plugin", &plugin)),
            };
            if current != from {
                return Err(Error::Conflict {
                    entity: "plugin cursor",
                    id: plugin,
                    expected: from,
                    actual: current,
                });
            }
            tx.put(T::Cursors, &key, &to.to_be_bytes())?;
            Ok(Output::Done)
        }
        PluginOp::SetHealth { plugin, health } => {
            let key = plugin_key(t, &plugin);
            if tx.get(T::Enablements, &key)?.is_none() {
                return Err(Error::not_found("enabled plugin", &plugin));
            }
            tx.put_as(T::Health, &key, &health)?;
            Ok(Output::Done)
        }
        PluginOp::RecordDelivery { plugin, delivery } => {
            let key = K::t(t).word(&plugin).text(&delivery.id).done();
            if tx.get(T::Deliveries, &key)?.is_some() {
                return Err(Error::Duplicate {
                    field: "delivery_id",
                    value: delivery.id,
                    existing: format!("an earlier delivery to {plugin}"),
                });
            }
            tx.put_as(T::Deliveries, &key, &delivery)?;
            Ok(Output::Done)
        }
    }
}

fn require_customer(tx: &Tx<'_>, t: u32, customer: CustomerId) -> Result<()> {
    match tx.get(T::Customers, &K::t(t).id(customer.to_bytes()).done())? {
        Some(_) => Ok(()),
        None => Err(Error::not_found("customer", customer)),
    }
}

pub(super) fn read_u64(bytes: &[u8]) -> Result<u64> {
    Ok(u64::from_be_bytes(bytes.try_into().map_err(|_| {
        Error::Corrupt {
            table: T::Cursors.name(),
            detail: "cursor is not a u64".into(),
        }
    })?))
}

/// Removes every plugin output about an erased customer, with their index entries.
pub(super) fn erase_outputs(tx: &mut Tx<'_>, t: u32, customer: CustomerId) -> Result<()> {
    let prefix = K::t(t).id(customer.to_bytes()).done();
    for (key, value) in tx.scan(T::Scores, &prefix)? {
        let score: StoredScore = super::tx::decode(T::Scores, &value)?;
        for (table, k, _) in derive::score_entries(t, &score) {
            tx.del(table, &k)?;
        }
        tx.del(T::Scores, &key)?;
    }
    for (key, value) in tx.scan(T::Segments, &prefix)? {
        let segments: StoredSegments = super::tx::decode(T::Segments, &value)?;
        for (table, k, _) in derive::segment_entries(t, &segments) {
            tx.del(table, &k)?;
        }
        tx.del(T::Segments, &key)?;
    }
    Ok(())
}

/// Installs a component; `false` when the same bytes were installed before.
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
