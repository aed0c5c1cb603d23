//! Installing and removing plugin versions, and enabling them per tenant.

use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use super::budget::{Budgets, RefusedActions};
use super::hooks::{check_signature, known_signature};
use super::{PluginHost, PluginInfo, config, enable_op};
use crate::model::{
    Actor, Enablement, InstalledPlugin, LimitOverrides, PluginHealth, TenantSlug, Timestamp,
    ValidationError, WebhookSignature,
};
use crate::plugin::{Capability, LoadedPlugin, Manifest, StatsSnapshot};
use crate::store::Error as StoreError;
use crate::store::{Op, PluginOp};
use crate::{Error, Result};

/// The result of an install.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    /// The installed version.
    pub plugin: InstalledPlugin,
    /// Its manifest.
    pub manifest: Manifest,
    /// `false` when the same bytes were installed already (installing is idempotent).
    pub created: bool,
}

/// What to enable for a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct EnableRequest {
    /// The plugin's id.
    pub plugin: String,
    /// Which version: a semantic version or a hash; `None` for the highest installed version.
    pub version: Option<String>,
    /// The configuration, validated against that version's schema.
    pub config: Value,
    /// Budgets of per-customer and webhook calls for this tenant (at most the host's ceilings).
    pub limits: LimitOverrides,
    /// How often the population step runs, in seconds (`None`: the host's default).
    pub population_interval_secs: Option<u64>,
    /// Budgets of the population step for this tenant (at most the host's ceilings).
    pub population_limits: LimitOverrides,
    /// For a commerce hook, the signature Kith checks before the plugin runs: `None` for the
    /// default ([`known_signature`] of the plugin's id, if any), `Some(None)` for none.
    pub signature: Option<Option<WebhookSignature>>,
}

impl EnableRequest {
    /// The highest installed version of `plugin` with `config` and default budgets.
    pub fn new(plugin: &str, config: Value) -> Self {
        Self {
            plugin: plugin.to_owned(),
            version: None,
            config,
            limits: LimitOverrides::default(),
            population_interval_secs: None,
            population_limits: LimitOverrides::default(),
            signature: None,
        }
    }
}

/// A change to an enabled plugin's settings; `None` fields stay as they are. Everything is
/// validated before anything is written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsChange {
    /// The new configuration (validated against the enabled version's schema).
    pub config: Option<Value>,
    /// New budgets of per-customer and webhook calls.
    pub limits: Option<LimitOverrides>,
    /// New budgets of the population step.
    pub population_limits: Option<LimitOverrides>,
    /// A new population interval (`Some(None)`: the host's default).
    pub population_interval_secs: Option<Option<u64>>,
    /// A new webhook signature (`Some(None)`: none; commerce hooks only).
    pub signature: Option<Option<WebhookSignature>>,
}

/// A plugin's state for one tenant.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    /// The enablement.
    pub enablement: Enablement,
    /// The enabled version's capability (`scorer`, `segmenter`, `commerce-hook`).
    pub capability: Capability,
    /// The circuit breaker's state.
    pub health: PluginHealth,
    /// Whether the plugin is suspended right now.
    pub suspended: bool,
    /// The last event it has processed.
    pub cursor: u64,
    /// The tenant's last event.
    pub head: u64,
    /// Call counters of the enabled version since the process started (all tenants).
    pub calls: StatsSnapshot,
    /// When the population model was computed, if the plugin has one.
    pub model_computed_at: Option<Timestamp>,
    /// The budgets its per-customer and webhook calls run with (defaults, overrides, ceilings).
    pub limits: Budgets,
    /// The budgets its population step runs with.
    pub population_limits: Budgets,
    /// Actions of its calls that the write budgets refused since the host started.
    pub refused_actions: RefusedActions,
}

impl PluginHost {
    /// Loads every installed version; a version that no longer loads is logged and skipped.
    pub(super) fn load_installed(&self) -> Result<()> {
        for record in self.store.installed_plugins()? {
            let Some(bytes) = self.store.plugin_bytes(&record.hash)? else {
                warn!(plugin = %record.id, hash = %record.hash, "installed plugin has no bytes; skipped");
                continue;
            };
            match self.runtime.load(&bytes) {
                Ok(p) => {
                    if let Ok(mut l) = self.loaded.write() {
                        l.insert(record.hash.clone(), p);
                    }
                }
                Err(e) => {
                    warn!(plugin = %record.id, hash = %record.hash, error = %e, "installed plugin no longer loads; skipped");
                }
            }
        }
        Ok(())
    }

    /// Installs a component: it must be a component of a supported WIT version, within the size
    /// limit, with a sane manifest whose configuration schema is valid JSON Schema.
    pub fn install(&self, bytes: &[u8]) -> Result<Installed> {
        let plugin = self.runtime.load(bytes)?;
        config::check_schema(plugin.manifest(), &self.config.schemas)?;
        let manifest = plugin.manifest().clone();
        let record = InstalledPlugin {
            hash: plugin.hash().to_owned(),
            id: manifest.id.clone(),
            version: manifest.version.clone(),
            capability: plugin.capability().as_str().to_owned(),
            size: bytes.len() as u64,
            installed_at: Timestamp::now(),
            manifest_json: serde_json::to_string(&manifest).map_err(|e| {
                Error::Store(StoreError::Storage(format!(
                    "manifest encoding failed: {e}"
                )))
            })?,
        };
        let created = self.store.install_plugin(record.clone(), bytes)?;
        if let Ok(mut l) = self.loaded.write() {
            l.insert(record.hash.clone(), plugin);
        }
        let record = if created {
            info!(plugin = %record.id, version = %record.version, hash = %record.hash, "plugin installed");
            record
        } else {
            self.store.installed_plugin(&record.hash)?.unwrap_or(record)
        };
        Ok(Installed {
            plugin: record,
            manifest,
            created,
        })
    }

    /// Removes an installed version; refused while any tenant has it enabled.
    pub fn uninstall(&self, hash: &str) -> Result<()> {
        self.store.uninstall_plugin(hash)?;
        if let Ok(mut l) = self.loaded.write() {
            l.remove(hash);
        }
        info!(hash, "plugin uninstalled");
        Ok(())
    }

    /// Every installed version with its manifest.
    pub fn plugins(&self) -> Result<Vec<PluginInfo>> {
        self.store
            .installed_plugins()?
            .into_iter()
            .map(info_of)
            .collect()
    }

    /// One installed version by hash.
    pub fn plugin(&self, hash: &str) -> Result<PluginInfo> {
        let record = self
            .store
            .installed_plugin(hash)?
            .ok_or_else(|| Error::not_found("plugin", hash))?;
        info_of(record)
    }

    /// The installed version a request names: a hash, a semantic version, or the highest.
    pub(super) fn pick_version(
        &self,
        plugin: &str,
        version: Option<&str>,
    ) -> Result<InstalledPlugin> {
        let candidates: Vec<InstalledPlugin> = self
            .store
            .installed_plugins()?
            .into_iter()
            .filter(|p| p.id == plugin)
            .collect();
        let found = match version {
            Some(v) => candidates
                .into_iter()
                .find(|p| p.hash == v || p.version == v),
            // Sorted by id then semantic version: the last is the highest.
            None => candidates.into_iter().last(),
        };
        found.ok_or_else(|| match version {
            Some(v) => Error::not_found("plugin version", format!("{plugin} {v}")),
            None => Error::not_found("plugin", plugin),
        })
    }

    /// Enables a plugin version for a tenant with a validated configuration. A scorer or
    /// segmenter then follows the tenant's events from now on, and a rescore job (preceded by
    /// the population step when the plugin has one) scores the existing customers; its id is
    /// returned.
    pub fn enable(&self, tenant: &TenantSlug, request: EnableRequest) -> Result<Option<u64>> {
        if self.store.enablement(tenant, &request.plugin)?.is_some() {
            return Err(Error::Store(StoreError::Duplicate {
                field: "plugin",
                value: request.plugin,
                existing: format!(
                    "the plugins enabled for {tenant}; change its configuration or version instead"
                ),
            }));
        }
        self.config
            .ceilings
            .check(&request.limits, &request.population_limits)?;
        let record = self.pick_version(&request.plugin, request.version.as_deref())?;
        let plugin = self.loaded(&record.hash)?;
        let config_json = self.validate_config(plugin.manifest(), &request.config)?;
        let signature = match request.signature {
            Some(choice) => choice,
            None if plugin.capability() == Capability::CommerceHook => known_signature(&record.id),
            None => None,
        };
        check_hook_signature(&plugin, signature.as_ref(), &config_json)?;
        let now = Timestamp::now();
        let enablement = Enablement {
            plugin: record.id.clone(),
            hash: record.hash.clone(),
            version: record.version.clone(),
            config_json,
            enabled_at: now,
            updated_at: now,
            limits: request.limits,
            population_interval_secs: request.population_interval_secs,
            population_limits: request.population_limits,
            signature,
        };
        self.store
            .write(tenant, &Actor::new("admin"), vec![enable_op(enablement)])?;
        info!(%tenant, plugin = %record.id, version = %record.version, "plugin enabled");
        self.after_change(tenant, &record.id, &plugin)
    }

    /// Replaces an enabled plugin's configuration (validated against the enabled version).
    pub fn configure(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        config: Value,
    ) -> Result<Enablement> {
        self.change_settings(
            tenant,
            plugin,
            SettingsChange {
                config: Some(config),
                ..SettingsChange::default()
            },
        )
    }

    /// Changes an enabled plugin's configuration, budgets, schedule or webhook signature: all
    /// of it is validated (budgets against the host's ceilings, the signature against the new
    /// configuration) before one write, so a refused change changes nothing.
    pub fn change_settings(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        change: SettingsChange,
    ) -> Result<Enablement> {
        let mut e = self.enabled(tenant, plugin)?;
        let loaded = self.loaded(&e.hash)?;
        if let Some(config) = &change.config {
            e.config_json = self.validate_config(loaded.manifest(), config)?;
        }
        e.limits = change.limits.unwrap_or(e.limits);
        e.population_limits = change.population_limits.unwrap_or(e.population_limits);
        self.config
            .ceilings
            .check(&e.limits, &e.population_limits)?;
        if let Some(interval) = change.population_interval_secs {
            e.population_interval_secs = interval;
        }
        if let Some(signature) = change.signature {
            e.signature = signature;
        }
        check_hook_signature(&loaded, e.signature.as_ref(), &e.config_json)?;
        e.updated_at = Timestamp::now();
        self.store
            .write(tenant, &Actor::new("admin"), vec![enable_op(e.clone())])?;
        Ok(e)
    }

    /// Validates a configuration against a manifest's schema within the host's schema budget.
    pub(super) fn validate_config(&self, manifest: &Manifest, config: &Value) -> Result<String> {
        config::validate(manifest, config, &self.config.schemas, &self.schema_guard)
    }

    /// Moves a tenant to another installed version of an enabled plugin, with a new
    /// configuration or the current one (validated against the new version's schema). Calls
    /// already running finish on the old version; the cursor carries over, and a rescore job
    /// re-scores every customer with the new version (its id is returned).
    pub fn upgrade(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        version: &str,
        config: Option<Value>,
    ) -> Result<Option<u64>> {
        let mut e = self.enabled(tenant, plugin)?;
        let record = self.pick_version(plugin, Some(version))?;
        let loaded = self.loaded(&record.hash)?;
        let old = self.loaded(&e.hash)?;
        if loaded.capability() != old.capability() {
            return Err(ValidationError::field(
                "version",
                format!(
                    "a version with the same capability ({}), not {}",
                    old.capability(),
                    loaded.capability()
                ),
            )
            .into());
        }
        let config = match config {
            Some(c) => c,
            None => serde_json::from_str(&e.config_json).map_err(|err| {
                Error::Store(StoreError::Storage(format!(
                    "stored configuration is not JSON: {err}"
                )))
            })?,
        };
        e.config_json = self.validate_config(loaded.manifest(), &config)?;
        check_hook_signature(&loaded, e.signature.as_ref(), &e.config_json)?;
        e.hash = record.hash.clone();
        e.version = record.version.clone();
        e.updated_at = Timestamp::now();
        self.store
            .write(tenant, &Actor::new("admin"), vec![enable_op(e)])?;
        info!(%tenant, plugin, version = %record.version, "plugin upgraded");
        self.after_change(tenant, plugin, &loaded)
    }

    /// Disables a plugin for a tenant: it stops running there at once.
    pub fn disable(&self, tenant: &TenantSlug, plugin: &str) -> Result<()> {
        self.store.write(
            tenant,
            &Actor::new("admin"),
            vec![Op::Plugin(PluginOp::Disable {
                plugin: plugin.to_owned(),
            })],
        )?;
        info!(%tenant, plugin, "plugin disabled");
        Ok(())
    }

    /// Clears a suspension and the failure count: the plugin runs again at once.
    pub fn reset(&self, tenant: &TenantSlug, plugin: &str) -> Result<()> {
        let health = self.store.plugin_health(tenant, plugin)?;
        self.enabled(tenant, plugin)?;
        self.store.write(
            tenant,
            &Actor::new("admin"),
            vec![Op::Plugin(PluginOp::SetHealth {
                plugin: plugin.to_owned(),
                health: PluginHealth {
                    last_error: health.last_error,
                    ..PluginHealth::default()
                },
            })],
        )?;
        self.progressed();
        Ok(())
    }

    /// The plugins enabled for a tenant.
    pub fn enabled_plugins(&self, tenant: &TenantSlug) -> Result<Vec<Enablement>> {
        Ok(self.store.enablements(tenant)?)
    }

    /// A plugin's enablement for a tenant, or `NotFound`.
    pub fn enabled(&self, tenant: &TenantSlug, plugin: &str) -> Result<Enablement> {
        self.store
            .enablement(tenant, plugin)?
            .ok_or_else(|| Error::not_found("enabled plugin", plugin))
    }

    /// A plugin's state for a tenant: enablement, health, progress and call counters.
    pub fn status(&self, tenant: &TenantSlug, plugin: &str) -> Result<PluginStatus> {
        let enablement = self.enabled(tenant, plugin)?;
        let health = self.store.plugin_health(tenant, plugin)?;
        let loaded = self.loaded(&enablement.hash)?;
        Ok(PluginStatus {
            capability: loaded.capability(),
            suspended: !self.config.breaker.allows(&health, Timestamp::now()),
            cursor: self.store.plugin_cursor(tenant, plugin)?,
            head: self.store.last_seq(tenant)?,
            calls: loaded.stats(),
            model_computed_at: self
                .store
                .plugin_model(tenant, plugin)?
                .map(|m| m.computed_at),
            limits: self.limits(&enablement, loaded.manifest(), false).into(),
            population_limits: self.limits(&enablement, loaded.manifest(), true).into(),
            refused_actions: self.writes.refused(tenant, plugin),
            enablement,
            health,
        })
    }

    /// Actions refused by the write budgets, for every (tenant, plugin) with any.
    pub fn refused_actions(&self) -> Vec<(TenantSlug, String, RefusedActions)> {
        self.writes.all_refused()
    }

    /// After enabling or upgrading: start scoring the existing customers.
    fn after_change(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        loaded: &LoadedPlugin,
    ) -> Result<Option<u64>> {
        self.progressed();
        match loaded.capability() {
            Capability::CommerceHook => Ok(None),
            Capability::Scorer | Capability::Segmenter => {
                self.start_rescore(tenant, plugin).map(Some)
            }
        }
    }
}

/// Refuses a signature on a plugin that is not a commerce hook, or one that cannot be checked
/// with the configuration.
fn check_hook_signature(
    plugin: &LoadedPlugin,
    signature: Option<&WebhookSignature>,
    config_json: &str,
) -> std::result::Result<(), ValidationError> {
    match signature {
        None => Ok(()),
        Some(_) if plugin.capability() != Capability::CommerceHook => Err(ValidationError::field(
            "signature",
            format!(
                "no signature: {} is a {}, not a commerce hook",
                plugin.manifest().id,
                plugin.capability()
            ),
        )),
        Some(s) => check_signature(s, config_json),
    }
}

/// A registry record with its manifest decoded.
fn info_of(record: InstalledPlugin) -> Result<PluginInfo> {
    let manifest = serde_json::from_str(&record.manifest_json).map_err(|e| {
        Error::Store(StoreError::Corrupt {
            table: "plugins",
            detail: format!("manifest of {}: {e}", record.hash),
        })
    })?;
    Ok(PluginInfo {
        plugin: record,
        manifest,
    })
}
