//! How each [`PluginOp`] changes a tenant's plugin state.

use super::{Ctx, Txn, event};
use crate::{Error, Result};
use crate::{Output, PluginOp};
use kith_model::{CustomerId, EntityRef, EventKind};

pub(super) fn apply(txn: &mut dyn Txn, ctx: &Ctx<'_>, op: PluginOp) -> Result<Output> {
    match op {
        PluginOp::Enable(enablement) => {
            let kind = match txn.enablement(&enablement.plugin)? {
                None => {
                    // Start after the tenant's latest event: existing customers are scored by a
                    // rescore, not by replaying history.
                    let head = txn.head()?;
                    txn.put_cursor(&enablement.plugin, head)?;
                    EventKind::PluginEnabled
                }
                Some(_) => EventKind::PluginReconfigured,
            };
            let changed = vec![enablement.plugin.clone(), enablement.version.clone()];
            txn.put_enablement(&enablement)?;
            event(txn, ctx, kind, EntityRef::Tenant, changed)?;
            Ok(Output::Done)
        }
        PluginOp::Disable { plugin } => {
            let old = txn
                .enablement(&plugin)?
                .ok_or_else(|| Error::not_found("enabled plugin", &plugin))?;
            txn.delete_plugin_state(&plugin)?;
            event(
                txn,
                ctx,
                EventKind::PluginDisabled,
                EntityRef::Tenant,
                vec![plugin, old.version],
            )?;
            Ok(Output::Done)
        }
        PluginOp::RecordScore(score) => {
            require_customer(txn, score.customer)?;
            let old = txn.score(score.customer, &score.producer.plugin)?;
            // An older result never replaces one that reflects later events.
            if old.as_ref().is_some_and(|o| o.as_of > score.as_of) {
                return Ok(Output::Done);
            }
            txn.put_score(old.as_ref(), &score)?;
            Ok(Output::Done)
        }
        PluginOp::RecordSegments(segments) => {
            require_customer(txn, segments.customer)?;
            let old = txn.segments(segments.customer, &segments.producer.plugin)?;
            if old.as_ref().is_some_and(|o| o.as_of > segments.as_of) {
                return Ok(Output::Done);
            }
            txn.put_segments(old.as_ref(), &segments)?;
            Ok(Output::Done)
        }
        PluginOp::RecordModel { plugin, model } => {
            txn.put_model(&plugin, &model)?;
            Ok(Output::Done)
        }
        PluginOp::AdvanceCursor { plugin, from, to } => {
            let current = txn
                .cursor(&plugin)?
                .ok_or_else(|| Error::not_found("enabled plugin", &plugin))?;
            if current != from {
                return Err(Error::Conflict {
                    entity: "plugin cursor",
                    id: plugin,
                    expected: from,
                    actual: current,
                });
            }
            txn.put_cursor(&plugin, to)?;
            Ok(Output::Done)
        }
        PluginOp::SetHealth { plugin, health } => {
            if txn.enablement(&plugin)?.is_none() {
                return Err(Error::not_found("enabled plugin", &plugin));
            }
            txn.put_health(&plugin, &health)?;
            Ok(Output::Done)
        }
        PluginOp::RecordDelivery { plugin, delivery } => {
            if txn.delivery_seen(&plugin, &delivery.id)? {
                return Err(Error::Duplicate {
                    field: "delivery_id",
                    value: delivery.id,
                    existing: format!("an earlier delivery to {plugin}"),
                });
            }
            txn.put_delivery(&plugin, &delivery)?;
            Ok(Output::Done)
        }
    }
}

fn require_customer(txn: &mut dyn Txn, customer: CustomerId) -> Result<()> {
    match txn.customer(customer)? {
        Some(_) => Ok(()),
        None => Err(Error::not_found("customer", customer)),
    }
}
