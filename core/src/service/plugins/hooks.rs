//! Commerce webhooks: run the tenant's commerce-hook plugin on the raw delivery and apply its
//! actions before answering. Accepted deliveries are remembered by delivery id, so a platform's
//! retry is answered the same way without applying anything twice.

use serde::Serialize;
use tracing::info_span;

use super::dispatch::failure_record;
use super::{PluginHost, producer};
use crate::model::{Actor, Delivery, TenantSlug, Timestamp};
use crate::plugin::{Capability, Verdict, Webhook};
use crate::store::{Op, PluginOp, PluginStore, Store};
use crate::{Error, Result};

/// How a delivery was handled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HookResult {
    /// The plugin's verdict.
    pub verdict: Verdict,
    /// Actions applied (0 unless accepted).
    pub actions_applied: u32,
    /// Whether this delivery id was processed before and this is the stored answer.
    pub replayed: bool,
}

impl PluginHost {
    /// Handles one webhook delivery for the tenant's enabled commerce-hook plugin `plugin`.
    ///
    /// Errors: the plugin is not enabled for the tenant or is not a commerce hook (`not_found`),
    /// it is suspended (`plugin_suspended`), its call failed (the failure's code), or its actions
    /// were refused (the store's code; nothing was applied).
    ///
    /// Only accepted deliveries are remembered: a forged request cannot claim a delivery id
    /// before the genuine one arrives, because it never gets past the signature check.
    pub fn handle_webhook(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        webhook: &Webhook,
    ) -> Result<HookResult> {
        let e = self.enabled(tenant, plugin)?;
        let loaded = self.loaded(&e.hash)?;
        if loaded.capability() != Capability::CommerceHook {
            return Err(Error::not_found("commerce hook", plugin));
        }
        let _span =
            info_span!("webhook", %tenant, plugin, version = %e.version, topic = %webhook.topic)
                .entered();
        if let Some(id) = &webhook.delivery_id
            && let Some(d) = self.store.delivery(tenant, plugin, id)?
        {
            return Ok(HookResult {
                verdict: serde_json::from_str(&d.verdict_json).map_err(|err| Error::Corrupt {
                    table: "plugin_deliveries",
                    detail: err.to_string(),
                })?,
                actions_applied: d.actions_applied,
                replayed: true,
            });
        }
        let now = Timestamp::now();
        let health = self.store.plugin_health(tenant, plugin)?;
        let breaker = self.config.breaker;
        if !breaker.allows(&health, now) {
            return Err(Error::PluginSuspended {
                plugin: plugin.to_owned(),
                until: health
                    .suspended_until
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                failures: health.consecutive_failures,
                last: health
                    .last_error
                    .as_ref()
                    .map_or_else(String::new, |f| f.code.clone()),
            });
        }
        let limits = self.limits(e.limits, false);
        let (result, _) = self
            .runtime
            .handle_webhook(&loaded, webhook, &e.config_json, &limits);
        let output = match result {
            Ok(o) => o,
            Err(f) => {
                // A busy host says nothing about the plugin: it does not count towards suspension.
                if f.is_plugin_fault() {
                    self.write_health_failure(tenant, plugin, failure_record(&f, now))?;
                }
                return Err(Error::Plugin(f));
            }
        };
        let mut ops: Vec<Op> = Vec::new();
        let mut applied = 0u32;
        if output.verdict == Verdict::Accepted {
            applied = u32::try_from(output.actions.len()).unwrap_or(u32::MAX);
            ops.extend(output.actions.into_iter().map(Op::Action));
            if let Some(id) = &webhook.delivery_id {
                ops.push(Op::Plugin(PluginOp::RecordDelivery {
                    plugin: plugin.to_owned(),
                    delivery: Delivery {
                        id: id.clone(),
                        verdict_json: serde_json::to_string(&output.verdict)
                            .map_err(|err| Error::Storage(err.to_string()))?,
                        actions_applied: applied,
                        producer: producer(&e),
                        at: now,
                    },
                }));
            }
        }
        if health.consecutive_failures > 0 || health.suspended_until.is_some() {
            ops.push(Op::Plugin(PluginOp::SetHealth {
                plugin: plugin.to_owned(),
                health: breaker.succeeded(&health),
            }));
        }
        if !ops.is_empty() {
            match self.store.write(tenant, &Actor::plugin(plugin), ops) {
                Ok(_) => {}
                // The same delivery, accepted concurrently: answer as it was answered.
                Err(Error::Duplicate {
                    field: "delivery_id",
                    ..
                }) => {
                    return self.handle_webhook(tenant, plugin, webhook);
                }
                Err(err) => {
                    self.write_health_failure(
                        tenant,
                        plugin,
                        crate::model::FailureRecord {
                            code: "invalid-action".into(),
                            message: format!("{}: {err}", err.code()),
                            at: now,
                        },
                    )?;
                    return Err(err);
                }
            }
        }
        Ok(HookResult {
            verdict: output.verdict,
            actions_applied: applied,
            replayed: false,
        })
    }

    fn write_health_failure(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        failure: crate::model::FailureRecord,
    ) -> Result<()> {
        let health = self.store.plugin_health(tenant, plugin)?;
        let next = self.config.breaker.failed(&health, failure);
        self.store.write(
            tenant,
            &Actor::plugin(plugin),
            vec![Op::Plugin(PluginOp::SetHealth {
                plugin: plugin.to_owned(),
                health: next,
            })],
        )?;
        Ok(())
    }
}
