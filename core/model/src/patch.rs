//! Changes to tenants, pipelines and deals: what a caller may change, validated like a creation.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use super::error::{Checker, text};
use super::pipeline::MAX_DEAL_ATTRIBUTES;
use super::{
    AttributeValue, CustomerId, Date, Deal, DealId, Money, Pipeline, PipelineId, Stage,
    StageCategory, StageId, StageInput, StageVisit, Tenant, Timestamp, ValidationError,
};

/// Deserializes a field present as `null` into `Some(None)` (clear it), so that a missing field
/// (`None`, leave it alone) and an explicit `null` differ.
pub(crate) fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A change to a tenant. The slug never changes: it is in every URL and key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantPatch {
    /// Display name.
    pub name: Option<String>,
    /// Industry; `null` clears it.
    #[serde(deserialize_with = "double_option")]
    pub industry: Option<Option<String>>,
    /// Read-only, as a GET returns it: must be this tenant's slug.
    pub slug: Option<String>,
    /// Read-only: ignored.
    pub created_at: Option<Timestamp>,
}

impl Tenant {
    /// Applies `patch`; returns the names of the fields that changed.
    pub fn apply(&mut self, patch: TenantPatch) -> Result<Vec<&'static str>, ValidationError> {
        let mut c = Checker::default();
        if patch.slug.is_some_and(|s| s != self.slug.as_str()) {
            c.fail(
                "slug",
                format!("{}, this tenant's slug (read-only)", self.slug),
            );
        }
        let name = patch
            .name
            .and_then(|n| c.take(text("name", &n, 200, false)));
        let industry = patch.industry.map(|i| {
            i.filter(|s| !s.trim().is_empty())
                .and_then(|s| c.take(text("industry", &s, 100, false)))
        });
        c.finish()?;
        let mut changed = Vec::new();
        if let Some(n) = name.filter(|n| *n != self.name) {
            self.name = n;
            changed.push("name");
        }
        if let Some(i) = industry.filter(|i| *i != self.industry) {
            self.industry = i;
            changed.push("industry");
        }
        Ok(changed)
    }
}

/// A change to a deal's details. Stages change with a move, never with a patch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DealPatch {
    /// Title.
    pub title: Option<String>,
    /// Value (not negative).
    pub amount: Option<Money>,
    /// Expected close date; `null` clears it.
    #[serde(deserialize_with = "double_option")]
    pub expected_close: Option<Option<Date>>,
    /// Owner; `null` clears it.
    #[serde(deserialize_with = "double_option")]
    pub owner: Option<Option<String>>,
    /// Attributes to set; an attribute given as `null` is removed, others stay.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<BTreeMap<String, AttributeValue>>))]
    pub attributes: Option<BTreeMap<String, Option<AttributeValue>>>,
    /// Why it was lost (only in a lost stage; see [`Deal::set_lost_reason`]); `null` clears
    /// it. Applied by the store, which knows the pipeline.
    #[serde(deserialize_with = "double_option")]
    pub lost_reason: Option<Option<String>>,
    /// Read-only, as a GET returns it: must be this deal's id.
    pub id: Option<DealId>,
    /// Read-only: must be the deal's customer (a deal does not change customer).
    pub customer: Option<CustomerId>,
    /// Read-only: must be the deal's pipeline.
    pub pipeline: Option<PipelineId>,
    /// Read-only: must be the deal's stage (a deal changes stage with `POST .../move`).
    pub stage: Option<StageId>,
    /// Read-only: like `If-Match`, the version the change expects.
    pub version: Option<u64>,
    /// Read-only: ignored.
    pub history: Option<Vec<StageVisit>>,
    /// Read-only: ignored.
    pub created_at: Option<Timestamp>,
    /// Read-only: ignored.
    pub updated_at: Option<Timestamp>,
}

impl Deal {
    /// Applies `patch` at `now`; returns the names of the fields that changed (and bumps the version
    /// when any did).
    pub fn apply(
        &mut self,
        patch: DealPatch,
        now: Timestamp,
    ) -> Result<Vec<&'static str>, ValidationError> {
        let mut c = Checker::default();
        if patch.id.is_some_and(|id| id != self.id) {
            c.fail("id", format!("{}, this deal's id (read-only)", self.id));
        }
        if patch.customer.is_some_and(|x| x != self.customer) {
            c.fail(
                "customer",
                format!("{} (a deal does not change customer)", self.customer),
            );
        }
        if patch.pipeline.is_some_and(|x| x != self.pipeline) {
            c.fail(
                "pipeline",
                format!("{} (a deal does not change pipeline)", self.pipeline),
            );
        }
        if patch.stage.is_some_and(|x| x != self.stage) {
            c.fail(
                "stage",
                format!("{} (move a deal with POST .../move)", self.stage),
            );
        }
        let title = patch
            .title
            .and_then(|t| c.take(text("title", &t, 300, false)));
        if patch.amount.is_some_and(|a| a.minor < 0) {
            c.fail("amount", "a non-negative amount");
        }
        let owner = patch.owner.map(|o| {
            o.filter(|s| !s.trim().is_empty())
                .and_then(|s| c.take(text("owner", &s, 200, false)))
        });
        let mut attributes = self.attributes.clone();
        if let Some(changes) = patch.attributes {
            let (set, removed): (Vec<_>, Vec<_>) =
                changes.into_iter().partition(|(_, v)| v.is_some());
            for (k, _) in removed {
                attributes.remove(&k);
            }
            let set = set.into_iter().filter_map(|(k, v)| v.map(|v| (k, v)));
            attributes.extend(super::pipeline::check_attributes(&mut c, set));
            if attributes.len() > MAX_DEAL_ATTRIBUTES {
                c.fail(
                    "attributes",
                    format!("at most {MAX_DEAL_ATTRIBUTES} attributes"),
                );
            }
        }
        c.finish()?;
        let mut changed = Vec::new();
        if let Some(t) = title.filter(|t| *t != self.title) {
            self.title = t;
            changed.push("title");
        }
        if let Some(a) = patch.amount.filter(|a| *a != self.amount) {
            self.amount = a;
            changed.push("amount");
        }
        if let Some(e) = patch.expected_close.filter(|e| *e != self.expected_close) {
            self.expected_close = e;
            changed.push("expected_close");
        }
        if let Some(o) = owner.filter(|o| *o != self.owner) {
            self.owner = o;
            changed.push("owner");
        }
        if attributes != self.attributes {
            self.attributes = attributes;
            changed.push("attributes");
        }
        if !changed.is_empty() {
            self.version += 1;
            self.updated_at = now;
        }
        Ok(changed)
    }
}

/// A change to one existing stage, named by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageChange {
    /// The stage.
    pub id: StageId,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New win probability in percent.
    #[serde(default)]
    pub probability: Option<u8>,
    /// New category.
    #[serde(default)]
    pub category: Option<StageCategory>,
}

/// A change to a pipeline: its name, its stages' names, probabilities and categories, and new
/// stages appended at the end. Stages are reordered with [`Pipeline::reorder`], never removed (deals
/// keep their history in them). A pipeline as a GET returns it is a patch too: its stages are
/// changes by id (a stage left out is unchanged), `id` is checked, `version` acts as `If-Match`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelinePatch {
    /// New name (unique per tenant).
    pub name: Option<String>,
    /// Changes to existing stages.
    pub stages: Vec<StageChange>,
    /// Stages to append, in order.
    pub add_stages: Vec<StageInput>,
    /// The reasons a deal may be lost for, replacing the list (deals lost for a reason no
    /// longer listed keep it).
    pub lost_reasons: Option<Vec<String>>,
    /// Read-only, as a GET returns it: must be this pipeline's id.
    pub id: Option<PipelineId>,
    /// Read-only: like `If-Match`, the version the change expects.
    pub version: Option<u64>,
    /// Read-only: ignored.
    pub created_at: Option<Timestamp>,
}

impl Pipeline {
    /// Applies `patch`; returns the names of the fields that changed (and bumps the version when
    /// any did).
    pub fn apply(&mut self, patch: PipelinePatch) -> Result<Vec<&'static str>, ValidationError> {
        let mut c = Checker::default();
        if patch.id.is_some_and(|id| id != self.id) {
            c.fail("id", format!("{}, this pipeline's id (read-only)", self.id));
        }
        let name = patch
            .name
            .and_then(|n| c.take(text("name", &n, 200, false)));
        let mut stages = self.stages.clone();
        for (i, change) in patch.stages.into_iter().enumerate() {
            let field = format!("stages[{i}]");
            let Some(stage) = stages.iter_mut().find(|s| s.id == change.id) else {
                c.fail(format!("{field}.id"), "the id of a stage of this pipeline");
                continue;
            };
            if let Some(n) = change
                .name
                .and_then(|n| c.take(text(&format!("{field}.name"), &n, 200, false)))
            {
                stage.name = n;
            }
            if let Some(p) = change.probability {
                if p > 100 {
                    c.fail(format!("{field}.probability"), "a percentage from 0 to 100");
                } else {
                    stage.probability = p;
                }
            }
            if let Some(cat) = change.category {
                stage.category = cat;
            }
        }
        for (i, s) in patch.add_stages.into_iter().enumerate() {
            let field = format!("add_stages[{i}]");
            let sname = c.take(text(&format!("{field}.name"), &s.name, 200, false));
            if s.probability > 100 {
                c.fail(format!("{field}.probability"), "a percentage from 0 to 100");
            }
            if let Some(n) = sname {
                stages.push(Stage {
                    id: StageId::generate(),
                    name: n,
                    probability: s.probability.min(100),
                    category: s.category,
                });
            }
        }
        if stages.len() > 50 {
            c.fail("add_stages", "at most 50 stages in a pipeline");
        }
        for (i, s) in stages.iter().enumerate() {
            if stages[..i]
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(&s.name))
            {
                c.fail(
                    "stages",
                    format!(
                        "stage names unique within the pipeline ('{}' twice)",
                        s.name
                    ),
                );
            }
        }
        let reasons = patch
            .lost_reasons
            .map(|r| super::pipeline::check_lost_reasons(&mut c, r));
        c.finish()?;
        let mut changed = Vec::new();
        if let Some(n) = name.filter(|n| *n != self.name) {
            self.name = n;
            changed.push("name");
        }
        if stages != self.stages {
            self.stages = stages;
            changed.push("stages");
        }
        if let Some(r) = reasons.filter(|r| *r != self.lost_reasons) {
            self.lost_reasons = r;
            changed.push("lost_reasons");
        }
        if !changed.is_empty() {
            self.version += 1;
        }
        Ok(changed)
    }

    /// Puts the stages in `order`, which must name every stage exactly once. Returns whether the
    /// order changed (and bumps the version when it did).
    pub fn reorder(&mut self, order: &[StageId]) -> Result<bool, ValidationError> {
        let mut seen = std::collections::HashSet::new();
        let permutation = order.len() == self.stages.len()
            && order
                .iter()
                .all(|id| self.stage(*id).is_some() && seen.insert(*id));
        if !permutation {
            return Err(ValidationError::field(
                "stages",
                "every stage id of this pipeline exactly once, in the new order",
            ));
        }
        let before: Vec<StageId> = self.stages.iter().map(|s| s.id).collect();
        if before == order {
            return Ok(false);
        }
        let mut stages = Vec::with_capacity(order.len());
        for id in order {
            if let Some(s) = self.stage(*id) {
                stages.push(s.clone());
            }
        }
        self.stages = stages;
        self.version += 1;
        Ok(true)
    }
}
