//! Pipeline reports: the funnel computed from deals and their stage histories.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Currency, Deal, Money, Pipeline, PipelineId, StageCategory, StageId};

/// One stage's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageReport {
    /// The stage.
    pub stage: StageId,
    /// Its name.
    pub name: String,
    /// Its win probability in percent.
    pub probability: u8,
    /// Its category.
    pub category: StageCategory,
    /// Deals currently in the stage.
    pub deals: u64,
    /// Total value of those deals, one entry per currency.
    pub amount: Vec<Money>,
    /// Value weighted by the stage's probability (rounded half up to the minor unit), per currency.
    pub weighted_amount: Vec<Money>,
    /// Deals that have ever entered the stage.
    pub entered: u64,
    /// Share of the deals that entered this stage and later reached a stage further down the funnel
    /// that is not a lost stage. None for the last such stage, and for stages no deal entered.
    pub conversion_to_next: Option<f64>,
    /// Median time deals spent in the stage, over visits that ended (seconds). None when none ended.
    pub median_seconds_in_stage: Option<i64>,
}

/// The funnel of one pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineReport {
    /// The pipeline.
    pub pipeline: PipelineId,
    /// Its name.
    pub name: String,
    /// One row per stage, in funnel order.
    pub stages: Vec<StageReport>,
    /// Deals in the pipeline.
    pub deals: u64,
    /// The deals now in a lost stage, per reason (none: lost without a reason), by reason.
    pub lost_reasons: Vec<LostReasonReport>,
}

/// The deals lost for one reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LostReasonReport {
    /// The reason; none for deals lost without one.
    pub reason: Option<String>,
    /// Deals now in a lost stage for it.
    pub deals: u64,
    /// Their value, one entry per currency.
    pub amount: Vec<Money>,
}

#[derive(Default)]
struct Acc {
    deals: u64,
    amount: BTreeMap<Currency, i128>,
    /// Sum of minor units x probability percent (100 times the weighted amount).
    weighted: BTreeMap<Currency, i128>,
    entered: u64,
    converted: u64,
    durations: Vec<i64>,
}

/// Incrementally builds a [`PipelineReport`] from deals, so a store can stream them.
#[derive(Debug)]
pub struct ReportBuilder<'p> {
    pipeline: &'p Pipeline,
    index: BTreeMap<StageId, usize>,
    acc: Vec<AccCell>,
    deals: u64,
    lost: BTreeMap<Option<String>, (u64, BTreeMap<Currency, i128>)>,
}

#[derive(Default)]
struct AccCell(Acc);

impl std::fmt::Debug for AccCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acc").field("deals", &self.0.deals).finish()
    }
}

impl<'p> ReportBuilder<'p> {
    /// An empty report for `pipeline`.
    pub fn new(pipeline: &'p Pipeline) -> Self {
        let index = pipeline
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        let acc = pipeline.stages.iter().map(|_| AccCell::default()).collect();
        Self {
            pipeline,
            index,
            acc,
            deals: 0,
            lost: BTreeMap::new(),
        }
    }

    /// Adds one deal of this pipeline.
    pub fn add(&mut self, deal: &Deal) {
        if deal.pipeline != self.pipeline.id {
            return;
        }
        self.deals += 1;
        if let Some(&i) = self.index.get(&deal.stage) {
            let prob = i128::from(self.pipeline.stages[i].probability);
            let a = &mut self.acc[i].0;
            a.deals += 1;
            *a.amount.entry(deal.amount.currency).or_default() += i128::from(deal.amount.minor);
            // Exact sum of amount x percent; divided and rounded once in `finish`, because rounding
            // each deal first lets a stage of many small deals drift from its amount x probability.
            *a.weighted.entry(deal.amount.currency).or_default() +=
                i128::from(deal.amount.minor) * prob;
            if self.pipeline.stages[i].category == StageCategory::Lost {
                let (n, amount) = self.lost.entry(deal.lost_reason.clone()).or_default();
                *n += 1;
                *amount.entry(deal.amount.currency).or_default() += i128::from(deal.amount.minor);
            }
        }
        // Stages visited, by funnel position, with the furthest non-lost position reached after each.
        let mut visited = vec![false; self.pipeline.stages.len()];
        for v in &deal.history {
            if let Some(&i) = self.index.get(&v.stage) {
                visited[i] = true;
                if let Some(left) = v.left_at {
                    self.acc[i]
                        .0
                        .durations
                        .push((left.as_micros() - v.entered_at.as_micros()) / 1_000_000);
                }
            }
        }
        let mut later_reached = false;
        for i in (0..visited.len()).rev() {
            if visited[i] {
                let a = &mut self.acc[i].0;
                a.entered += 1;
                if later_reached {
                    a.converted += 1;
                }
                if self.pipeline.stages[i].category != StageCategory::Lost {
                    later_reached = true;
                }
            }
        }
    }

    /// The finished report.
    pub fn finish(self) -> PipelineReport {
        let last_forward = self
            .pipeline
            .stages
            .iter()
            .rposition(|s| s.category != StageCategory::Lost);
        let money = |m: &BTreeMap<Currency, i128>| -> Vec<Money> {
            m.iter()
                .map(|(c, v)| Money::new(i64::try_from(*v).unwrap_or(i64::MAX), *c))
                .collect()
        };
        let stages = self
            .pipeline
            .stages
            .iter()
            .zip(self.acc)
            .enumerate()
            .map(|(i, (s, AccCell(mut a)))| {
                let has_next =
                    last_forward.is_some_and(|l| i < l) && s.category != StageCategory::Lost;
                StageReport {
                    stage: s.id,
                    name: s.name.clone(),
                    probability: s.probability,
                    category: s.category,
                    deals: a.deals,
                    amount: money(&a.amount),
                    weighted_amount: money(
                        &a.weighted
                            .iter()
                            // Half up to the minor unit: floor((x + 50) / 100).
                            .map(|(c, v)| (*c, (v + 50).div_euclid(100)))
                            .collect(),
                    ),
                    entered: a.entered,
                    conversion_to_next: (has_next && a.entered > 0)
                        .then(|| a.converted as f64 / a.entered as f64),
                    median_seconds_in_stage: median(&mut a.durations),
                }
            })
            .collect();
        let lost_reasons = self
            .lost
            .iter()
            .map(|(reason, (deals, amount))| LostReasonReport {
                reason: reason.clone(),
                deals: *deals,
                amount: money(amount),
            })
            .collect();
        PipelineReport {
            pipeline: self.pipeline.id,
            name: self.pipeline.name.clone(),
            stages,
            deals: self.deals,
            lost_reasons,
        }
    }
}

fn median(v: &mut [i64]) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable(mid);
    let m = *m;
    if v.len() % 2 == 1 {
        Some(m)
    } else {
        let lower = v[..mid].iter().copied().max().unwrap_or(m);
        Some(lower + (m - lower) / 2)
    }
}
