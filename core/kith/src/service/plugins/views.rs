//! What plugins produced, as the API shows it (segments, scores, leaderboards, customers found by
//! segment or score), and dry runs that show what a plugin would change without writing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PluginHost;
use super::dispatch::{Evaluated, failure_record};
use crate::model::{
    Action, Customer, CustomerId, Enablement, FailureRecord, ScoreReason, SegmentMembership,
    StoredScore, StoredSegments, TenantSlug, Timestamp, ValidationError,
};
use crate::plugin::Capability;
use crate::store::Error as StoreError;
use crate::store::{Op, Page, PageRequest, PluginOp, ScoreRange};
use crate::{Error, Result};

/// Most customers one dry run may evaluate.
pub const MAX_DRY_RUN_CUSTOMERS: usize = 100;
/// Customers a dry run evaluates when it names none.
pub const DEFAULT_DRY_RUN_SAMPLE: usize = 10;

/// One segment that an enabled segmenter provides.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SegmentSummary {
    /// The segmenter's id.
    pub plugin: String,
    /// Its enabled version.
    pub version: String,
    /// The segment's id, unique within the plugin.
    pub segment: String,
    /// Display name.
    pub name: String,
    /// What membership means.
    pub description: String,
    /// Customers in it now.
    pub members: u64,
}

/// Everything plugins say about one customer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CustomerInsights {
    /// One score per scorer, with its reasons.
    pub scores: Vec<StoredScore>,
    /// One classification per segmenter.
    pub segments: Vec<StoredSegments>,
}

/// A customer found by score, with that score.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScoredCustomer {
    /// The customer.
    #[serde(flatten)]
    pub customer: Customer,
    /// The score they were found by.
    pub score: StoredScore,
}

/// What a dry run evaluates.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct DryRunRequest {
    /// An installed version (semantic version or hash); by default the enabled one, or the
    /// highest installed when the plugin is not enabled.
    #[serde(default)]
    pub version: Option<String>,
    /// A configuration to try; by default the enabled one (or `{}` when not enabled).
    #[serde(default)]
    pub config: Option<Value>,
    /// These customers (at most 100).
    #[serde(default)]
    pub customers: Vec<CustomerId>,
    /// Or the first `sample` customers by id (at most 100; default 10).
    #[serde(default)]
    pub sample: Option<usize>,
}

/// What a plugin would change for one customer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DryRunOutcome {
    /// The customer.
    pub customer: CustomerId,
    /// A scorer's new score, beside the stored one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreChange>,
    /// A segmenter's new memberships, beside the stored ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<SegmentChange>,
    /// Actions it would ask for (not checked against the store: a real run may refuse some).
    pub actions: Vec<Action>,
    /// Why the call failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FailureRecord>,
}

/// A score before and after.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScoreChange {
    /// The stored score, if any.
    pub before: Option<f64>,
    /// The score the plugin returned.
    pub after: f64,
    /// Its grade.
    pub grade: Option<String>,
    /// Its reasons.
    pub reasons: Vec<ScoreReason>,
}

/// Memberships before and after.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SegmentChange {
    /// Segments the customer is in now.
    pub before: Vec<String>,
    /// Segments the plugin returned, with reasons.
    pub after: Vec<SegmentMembership>,
    /// In `after` but not `before`.
    pub joined: Vec<String>,
    /// In `before` but not `after`.
    pub left: Vec<String>,
}

/// A dry run's result.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DryRun {
    /// The plugin's id.
    pub plugin: String,
    /// The version that ran.
    pub version: String,
    /// Its hash.
    pub hash: String,
    /// Whether the population step ran for this dry run (its model is not stored).
    pub population_ran: bool,
    /// One outcome per customer, in the order asked.
    pub outcomes: Vec<DryRunOutcome>,
}

impl PluginHost {
    /// The segments of every segmenter enabled for the tenant, with their member counts.
    pub fn segments(&self, tenant: &TenantSlug) -> Result<Vec<SegmentSummary>> {
        let mut out = Vec::new();
        for e in self.store.enablements(tenant)? {
            let loaded = self.loaded(&e.hash)?;
            if loaded.capability() != Capability::Segmenter {
                continue;
            }
            for s in &loaded.manifest().segments {
                out.push(SegmentSummary {
                    plugin: e.plugin.clone(),
                    version: e.version.clone(),
                    segment: s.id.clone(),
                    name: s.name.clone(),
                    description: s.description.clone(),
                    members: self.store.segment_size(tenant, &e.plugin, &s.id)?,
                });
            }
        }
        Ok(out)
    }

    /// The members of a segment, by customer id.
    pub fn segment_members(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        segment: &str,
        page: &PageRequest,
    ) -> Result<Page<Customer>> {
        let ids = self.store.segment_members(tenant, plugin, segment, page)?;
        if ids.items.is_empty() && page.after.is_none() {
            // An empty page is fine for a declared segment; an unknown one is a mistake.
            self.declared_segment(tenant, plugin, segment)?;
        }
        Ok(Page {
            items: self.customers_by_id(tenant, ids.items)?,
            next: ids.next,
        })
    }

    /// Customers with a score from `plugin` within `range`, highest first.
    pub fn customers_by_score(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        range: ScoreRange,
        page: &PageRequest,
    ) -> Result<Page<ScoredCustomer>> {
        let scores = self.leaderboard(tenant, plugin, range, page)?;
        let mut items = Vec::with_capacity(scores.items.len());
        for score in scores.items {
            // A customer erased between the two reads is simply left out.
            if let Some(customer) = self.store.customer(tenant, score.customer)? {
                items.push(ScoredCustomer { customer, score });
            }
        }
        Ok(Page {
            items,
            next: scores.next,
        })
    }

    /// A scorer's scores within `range`, highest first.
    pub fn leaderboard(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        range: ScoreRange,
        page: &PageRequest,
    ) -> Result<Page<StoredScore>> {
        let e = self.enabled(tenant, plugin)?;
        if self.loaded(&e.hash)?.capability() != Capability::Scorer {
            return Err(Error::not_found("enabled scorer", plugin));
        }
        Ok(self.store.leaderboard(tenant, plugin, range, page)?)
    }

    /// What every plugin says about one customer.
    pub fn insights(&self, tenant: &TenantSlug, customer: CustomerId) -> Result<CustomerInsights> {
        if self.store.customer(tenant, customer)?.is_none() {
            return Err(Error::not_found("customer", customer));
        }
        Ok(CustomerInsights {
            scores: self.store.scores(tenant, customer)?,
            segments: self.store.segments_of(tenant, customer)?,
        })
    }

    /// Runs a scorer or segmenter for some customers without writing anything, and reports what
    /// it would change. The population step runs too when the plugin has one and no fresh model
    /// of this version is stored; its model is used for these calls only.
    pub fn dry_run(&self, tenant: &TenantSlug, plugin: &str, req: DryRunRequest) -> Result<DryRun> {
        let enabled = self.store.enablement(tenant, plugin)?;
        if self.store.tenant(tenant)?.is_none() {
            return Err(Error::Store(StoreError::TenantNotFound(tenant.to_string())));
        }
        let e = match (&enabled, &req.version, &req.config) {
            (Some(e), None, None) => e.clone(),
            _ => self.trial_enablement(enabled.as_ref(), plugin, &req)?,
        };
        let loaded = self.loaded(&e.hash)?;
        if loaded.capability() == Capability::CommerceHook {
            return Err(ValidationError::field(
                "plugin",
                format!("a scorer or segmenter; {plugin} is a commerce hook (try it with `kith plugin run`)"),
            )
            .into());
        }
        let bundles = self.dry_run_customers(tenant, &req)?;
        let now = Timestamp::now();
        let (model, population_ran) = match self.current_model(tenant, &e, &loaded, now)? {
            Ok((bytes, op)) => (bytes, op.is_some()),
            Err(failure) if !failure.is_plugin_fault() => return Err(failure.into()),
            Err(failure) => {
                return Err(Error::PopulationFailed {
                    plugin: plugin.to_owned(),
                    code: failure.code().to_owned(),
                    message: failure.to_string(),
                });
            }
        };
        let pipelines = self.pipelines(tenant)?;
        let as_of = self.store.last_seq(tenant)?;
        let mut outcomes = Vec::with_capacity(bundles.len());
        for bundle in &bundles {
            let id = bundle.customer.id;
            let mut outcome = DryRunOutcome {
                customer: id,
                score: None,
                segments: None,
                actions: Vec::new(),
                error: None,
            };
            match self.evaluate(
                tenant,
                &e,
                &loaded,
                bundle,
                &pipelines,
                model.as_deref(),
                now,
                as_of,
            ) {
                // A busy host or a shutdown is no answer about this configuration.
                Err(f) if !f.is_plugin_fault() => return Err(f.into()),
                Err(f) => outcome.error = Some(failure_record(&f, now)),
                Ok(Evaluated { output, actions }) => {
                    outcome.actions = actions;
                    match output {
                        Op::Plugin(PluginOp::RecordScore(s)) => {
                            outcome.score = Some(ScoreChange {
                                before: self.store.score(tenant, id, plugin)?.map(|s| s.score),
                                after: s.score,
                                grade: s.grade,
                                reasons: s.reasons,
                            });
                        }
                        Op::Plugin(PluginOp::RecordSegments(s)) => {
                            outcome.segments =
                                Some(segment_change(self.stored_segments(tenant, id, plugin)?, s));
                        }
                        _ => {}
                    }
                }
            }
            outcomes.push(outcome);
        }
        Ok(DryRun {
            plugin: e.plugin,
            version: e.version,
            hash: e.hash,
            population_ran,
            outcomes,
        })
    }

    /// An enablement that exists only for a dry run: the asked version and configuration.
    fn trial_enablement(
        &self,
        enabled: Option<&Enablement>,
        plugin: &str,
        req: &DryRunRequest,
    ) -> Result<Enablement> {
        let version = req
            .version
            .clone()
            .or_else(|| enabled.map(|e| e.hash.clone()));
        let record = self.pick_version(plugin, version.as_deref())?;
        let loaded = self.loaded(&record.hash)?;
        let config = match (&req.config, enabled) {
            (Some(c), _) => c.clone(),
            (None, Some(e)) => serde_json::from_str(&e.config_json).map_err(|err| {
                Error::Store(StoreError::Storage(format!(
                    "stored configuration is not JSON: {err}"
                )))
            })?,
            (None, None) => Value::Object(serde_json::Map::new()),
        };
        let config_json = self.validate_config(loaded.manifest(), &config)?;
        let now = Timestamp::now();
        Ok(Enablement {
            plugin: record.id,
            hash: record.hash,
            version: record.version,
            config_json,
            enabled_at: now,
            updated_at: now,
            limits: enabled.map(|e| e.limits).unwrap_or_default(),
            population_interval_secs: enabled.and_then(|e| e.population_interval_secs),
            population_limits: enabled.map(|e| e.population_limits).unwrap_or_default(),
            signature: None,
        })
    }

    fn dry_run_customers(
        &self,
        tenant: &TenantSlug,
        req: &DryRunRequest,
    ) -> Result<Vec<crate::store::CustomerBundle>> {
        if !req.customers.is_empty() && req.sample.is_some() {
            return Err(
                ValidationError::field("sample", "either customers or sample, not both").into(),
            );
        }
        if req.customers.len() > MAX_DRY_RUN_CUSTOMERS {
            return Err(ValidationError::field(
                "customers",
                format!("at most {MAX_DRY_RUN_CUSTOMERS} customers"),
            )
            .into());
        }
        if !req.customers.is_empty() {
            return req
                .customers
                .iter()
                .map(|id| {
                    self.store
                        .customer_bundle(tenant, *id)?
                        .ok_or_else(|| Error::not_found("customer", id))
                })
                .collect();
        }
        let sample = req.sample.unwrap_or(DEFAULT_DRY_RUN_SAMPLE);
        if sample == 0 || sample > MAX_DRY_RUN_CUSTOMERS {
            return Err(ValidationError::field(
                "sample",
                format!("a number from 1 to {MAX_DRY_RUN_CUSTOMERS}"),
            )
            .into());
        }
        Ok(self
            .store
            .customer_bundles(tenant, &PageRequest::first(sample))?
            .items)
    }

    fn stored_segments(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
        plugin: &str,
    ) -> Result<Vec<String>> {
        Ok(self
            .store
            .segments_of(tenant, customer)?
            .into_iter()
            .filter(|s| s.producer.plugin == plugin)
            .flat_map(|s| s.memberships.into_iter().map(|m| m.segment))
            .collect())
    }

    /// `NotFound` unless `plugin` is a segmenter enabled for the tenant that declares `segment`.
    fn declared_segment(&self, tenant: &TenantSlug, plugin: &str, segment: &str) -> Result<()> {
        let e = self.enabled(tenant, plugin)?;
        let loaded = self.loaded(&e.hash)?;
        if loaded.capability() != Capability::Segmenter
            || !loaded.manifest().segments.iter().any(|s| s.id == segment)
        {
            return Err(Error::not_found("segment", format!("{plugin}/{segment}")));
        }
        Ok(())
    }

    fn customers_by_id(
        &self,
        tenant: &TenantSlug,
        ids: impl IntoIterator<Item = CustomerId>,
    ) -> Result<Vec<Customer>> {
        // A customer erased between the two reads is simply left out.
        let mut out = Vec::new();
        for id in ids {
            out.extend(self.store.customer(tenant, id)?);
        }
        Ok(out)
    }
}

fn segment_change(before: Vec<String>, after: StoredSegments) -> SegmentChange {
    let joined = after
        .memberships
        .iter()
        .filter(|m| !before.contains(&m.segment))
        .map(|m| m.segment.clone())
        .collect();
    let left = before
        .iter()
        .filter(|b| !after.memberships.iter().any(|m| &m.segment == *b))
        .cloned()
        .collect();
    SegmentChange {
        before,
        after: after.memberships,
        joined,
        left,
    }
}
