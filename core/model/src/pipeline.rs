//! Sales pipelines with ordered stages, and the deals that move through them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::customer::attribute_key;
use super::error::{Checker, text};
use super::{
    AttributeValue, CustomerId, Date, DealId, Money, PipelineId, StageId, Timestamp,
    ValidationError,
};

/// Whether a stage is still in play, or ends the deal won or lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum StageCategory {
    /// The deal is still being worked.
    Open,
    /// The deal was won.
    Won,
    /// The deal was lost.
    Lost,
}

/// A deal's status, derived from the category of its current stage.
pub type DealStatus = StageCategory;

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stage {
    /// Id.
    pub id: StageId,
    /// Name, unique within the pipeline.
    pub name: String,
    /// Win probability in percent (0-100), used for the weighted forecast.
    pub probability: u8,
    /// Open, won or lost.
    pub category: StageCategory,
}

/// A stage as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageInput {
    /// Name.
    pub name: String,
    /// Win probability in percent.
    pub probability: u8,
    /// Category (default open).
    #[serde(default = "open")]
    pub category: StageCategory,
}

fn open() -> StageCategory {
    StageCategory::Open
}

/// A sales pipeline: named stages in funnel order.
// In storage (postcard) it is its first shape followed by an extension (see
// [`compact`](super::compact)); in JSON, all its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pipeline {
    /// Id.
    pub id: PipelineId,
    /// Name, unique per tenant.
    pub name: String,
    /// Stages in funnel order.
    pub stages: Vec<Stage>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Incremented by every change.
    pub version: u64,
    /// The reasons a deal of this pipeline may be lost for (empty: any text).
    pub lost_reasons: Vec<String>,
}

/// A pipeline as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineInput {
    /// Name.
    pub name: String,
    /// Stages in funnel order (1 to 50).
    pub stages: Vec<StageInput>,
    /// The reasons a deal may be lost for (at most 50; empty: any text).
    #[serde(default)]
    pub lost_reasons: Vec<String>,
}

impl Pipeline {
    /// Validates `input` into a new pipeline, giving each stage a fresh id.
    pub fn new(
        id: PipelineId,
        input: PipelineInput,
        now: Timestamp,
    ) -> Result<Self, ValidationError> {
        let mut c = Checker::default();
        let name = c.take(text("name", &input.name, 200, false));
        if input.stages.is_empty() || input.stages.len() > 50 {
            c.fail("stages", "1 to 50 stages");
        }
        let mut stages: Vec<Stage> = Vec::with_capacity(input.stages.len());
        for (i, s) in input.stages.into_iter().enumerate() {
            let field = format!("stages[{i}]");
            let sname = c.take(text(&format!("{field}.name"), &s.name, 200, false));
            if s.probability > 100 {
                c.fail(format!("{field}.probability"), "a percentage from 0 to 100");
            }
            if let Some(n) = sname {
                if stages.iter().any(|x| x.name.eq_ignore_ascii_case(&n)) {
                    c.fail(
                        format!("{field}.name"),
                        "a stage name not used by another stage of this pipeline",
                    );
                }
                stages.push(Stage {
                    id: StageId::generate(),
                    name: n,
                    probability: s.probability.min(100),
                    category: s.category,
                });
            }
        }
        let lost_reasons = check_lost_reasons(&mut c, input.lost_reasons);
        c.finish()?;
        Ok(Self {
            id,
            name: name.unwrap_or_default(),
            stages,
            created_at: now,
            version: 1,
            lost_reasons,
        })
    }

    /// The stage with this id.
    pub fn stage(&self, id: StageId) -> Option<&Stage> {
        self.stages.iter().find(|s| s.id == id)
    }

    /// The stage with this name (case-insensitive).
    pub fn stage_named(&self, name: &str) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
    }
}

/// A deal's stay in one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageVisit {
    /// The stage.
    pub stage: StageId,
    /// When the deal entered it.
    pub entered_at: Timestamp,
    /// When it left (none while it is still there).
    pub left_at: Option<Timestamp>,
}

/// A deal with a customer, in one stage of a pipeline.
// In storage (postcard) it is its first shape followed by an extension (see
// [`compact`](super::compact)); in JSON, all its fields.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deal {
    /// Id.
    pub id: DealId,
    /// The customer the deal is with.
    pub customer: CustomerId,
    /// Its pipeline.
    pub pipeline: PipelineId,
    /// Its current stage.
    pub stage: StageId,
    /// Title.
    pub title: String,
    /// Value.
    pub amount: Money,
    /// Expected close date.
    pub expected_close: Option<Date>,
    /// The user responsible.
    pub owner: Option<String>,
    /// Every stage the deal has been in, oldest first; the last entry is the current stage.
    pub history: Vec<StageVisit>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Incremented by every change.
    pub version: u64,
    /// Why it was lost (only while in a lost stage; one of the pipeline's reasons when it
    /// lists any).
    pub lost_reason: Option<String>,
    /// Custom attributes, typed (text, number, boolean, date, money).
    pub attributes: BTreeMap<String, AttributeValue>,
}

/// A deal as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DealInput {
    /// The customer.
    pub customer: CustomerId,
    /// The pipeline.
    pub pipeline: PipelineId,
    /// The starting stage (default: the pipeline's first).
    #[serde(default)]
    pub stage: Option<StageId>,
    /// Title.
    pub title: String,
    /// Value (not negative).
    pub amount: Money,
    /// Expected close date.
    #[serde(default)]
    pub expected_close: Option<Date>,
    /// Owner.
    #[serde(default)]
    pub owner: Option<String>,
    /// Custom attributes (at most 100).
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeValue>,
}

/// Most custom attributes a deal holds.
pub const MAX_DEAL_ATTRIBUTES: usize = 100;

/// Checks and collects attributes: keys as [`attribute_key`] wants them, values valid.
pub(crate) fn check_attributes(
    c: &mut Checker,
    attributes: impl IntoIterator<Item = (String, AttributeValue)>,
) -> BTreeMap<String, AttributeValue> {
    let mut out = BTreeMap::new();
    for (k, v) in attributes {
        let field = format!("attributes.{k}");
        if c.take(attribute_key(&field, &k)).is_some() && c.take(v.validate(&field)).is_some() {
            out.insert(k, v);
        }
    }
    out
}

/// Checks a pipeline's lost reasons: at most 50, each 1 to 100 characters, none twice
/// (ignoring case).
pub(crate) fn check_lost_reasons(c: &mut Checker, reasons: Vec<String>) -> Vec<String> {
    if reasons.len() > 50 {
        c.fail("lost_reasons", "at most 50 reasons");
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(reasons.len());
    for (i, r) in reasons.iter().enumerate() {
        let field = format!("lost_reasons[{i}]");
        if let Some(r) = c.take(text(&field, r, 100, false)) {
            if out.iter().any(|o| o.to_lowercase() == r.to_lowercase()) {
                c.fail(field, "a reason not listed before (ignoring case)");
            } else {
                out.push(r);
            }
        }
    }
    out
}

impl Deal {
    /// Validates `input` against its pipeline into a new deal that enters its first stage at `now`.
    pub fn new(
        id: DealId,
        input: DealInput,
        pipeline: &Pipeline,
        now: Timestamp,
    ) -> Result<Self, ValidationError> {
        let mut c = Checker::default();
        let title = c.take(text("title", &input.title, 300, false));
        if input.amount.minor < 0 {
            c.fail("amount", "a non-negative amount");
        }
        let owner = input
            .owner
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| c.take(text("owner", s, 200, false)));
        if input.attributes.len() > MAX_DEAL_ATTRIBUTES {
            c.fail(
                "attributes",
                format!("at most {MAX_DEAL_ATTRIBUTES} attributes"),
            );
        }
        let attributes = check_attributes(&mut c, input.attributes);
        let stage = match input.stage {
            Some(s) if pipeline.stage(s).is_none() => {
                c.fail("stage", format!("a stage of pipeline '{}'", pipeline.name));
                None
            }
            Some(s) => Some(s),
            None => pipeline.stages.first().map(|s| s.id),
        };
        c.finish()?;
        let stage =
            stage.ok_or_else(|| ValidationError::field("pipeline", "a pipeline with stages"))?;
        Ok(Self {
            id,
            customer: input.customer,
            pipeline: pipeline.id,
            stage,
            title: title.unwrap_or_default(),
            amount: input.amount,
            expected_close: input.expected_close,
            owner,
            history: vec![StageVisit {
                stage,
                entered_at: now,
                left_at: None,
            }],
            created_at: now,
            updated_at: now,
            version: 1,
            lost_reason: None,
            attributes,
        })
    }

    /// Sets why the deal was lost: it must be in a lost stage, and the reason one of the
    /// pipeline's when it lists any (matched ignoring case, stored as the pipeline spells it).
    /// Returns whether it changed (the version is the caller's to bump).
    pub fn set_lost_reason(
        &mut self,
        reason: Option<&str>,
        pipeline: &Pipeline,
    ) -> Result<bool, ValidationError> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        let reason = match reason {
            None => None,
            Some(_) if self.status(pipeline) != StageCategory::Lost => {
                return Err(ValidationError::field(
                    "lost_reason",
                    "nothing: the deal is not in a lost stage (move it to one with the reason)",
                ));
            }
            Some(r) if pipeline.lost_reasons.is_empty() => {
                Some(text("lost_reason", r, 100, false)?)
            }
            Some(r) => Some(
                pipeline
                    .lost_reasons
                    .iter()
                    .find(|l| l.to_lowercase() == r.to_lowercase())
                    .cloned()
                    .ok_or_else(|| {
                        ValidationError::field(
                            "lost_reason",
                            format!(
                                "one of the pipeline's lost reasons: {}",
                                pipeline.lost_reasons.join(", ")
                            ),
                        )
                    })?,
            ),
        };
        if reason == self.lost_reason {
            return Ok(false);
        }
        self.lost_reason = reason;
        Ok(true)
    }

    /// Moves the deal to `stage` at `at`, closing the current visit. Moving to the current stage is a
    /// no-op (returns false).
    pub fn move_to(
        &mut self,
        stage: StageId,
        pipeline: &Pipeline,
        at: Timestamp,
    ) -> Result<bool, ValidationError> {
        if pipeline.stage(stage).is_none() {
            return Err(ValidationError::field(
                "stage",
                format!("a stage of pipeline '{}'", pipeline.name),
            ));
        }
        if stage == self.stage {
            return Ok(false);
        }
        if let Some(last) = self.history.last_mut() {
            if at < last.entered_at {
                return Err(ValidationError::field(
                    "at",
                    format!(
                        "a time after the deal entered its current stage ({})",
                        last.entered_at
                    ),
                ));
            }
            last.left_at = Some(at);
        }
        self.history.push(StageVisit {
            stage,
            entered_at: at,
            left_at: None,
        });
        self.stage = stage;
        self.updated_at = at;
        self.version += 1;
        if pipeline
            .stage(stage)
            .is_some_and(|s| s.category != StageCategory::Lost)
        {
            self.lost_reason = None;
        }
        Ok(true)
    }

    /// The deal's status, from its stage's category.
    pub fn status(&self, pipeline: &Pipeline) -> DealStatus {
        pipeline
            .stage(self.stage)
            .map_or(StageCategory::Open, |s| s.category)
    }
}
