//! Service figures over work items (tasks, tickets, complaints) per period and per assignee or
//! team: opened and resolved counts, median time to first answer and to resolution, the share
//! that ran late, and complaints by category (complaint analysis).
//!
//! An item is opened in the period of its `occurred_at` and resolved in the period of its
//! `resolved_at`. Its first answer counts with its opening, its resolution time with its
//! resolution. It ran late when it has a due date and was resolved after it, or is still open
//! past it at the time of the report.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Date, Interaction, InteractionKind, Period, Timestamp};

/// One group's figures in one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkRow {
    /// The assignee's user id or the team id; none for unassigned work (or whose assignee is
    /// in no team), or for the whole tenant when not grouped.
    pub group: Option<String>,
    /// The first day of the period.
    pub period: Date,
    /// Items opened in the period.
    pub opened: u64,
    /// Items resolved (or closed) in the period.
    pub resolved: u64,
    /// Median seconds from opening to first answer, over the items opened in the period that
    /// were answered.
    pub median_first_response_secs: Option<i64>,
    /// Median seconds from opening to resolution, over the items resolved in the period.
    pub median_resolution_secs: Option<i64>,
    /// Items opened in the period with a due date that ran late.
    pub overdue: u64,
    /// overdue / items opened in the period with a due date; none without any.
    pub overdue_share: Option<f64>,
}

/// Complaints of one category in one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryRow {
    /// The category; none for complaints without one.
    pub category: Option<String>,
    /// The first day of the period.
    pub period: Date,
    /// Complaints opened in the period.
    pub opened: u64,
    /// Complaints resolved in the period.
    pub resolved: u64,
    /// Of those opened in the period, how many are still open.
    pub still_open: u64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkReport {
    /// First day covered.
    pub from: Date,
    /// Last day covered.
    pub to: Date,
    /// The period length.
    pub period: Period,
    /// Per group and period, by group then period; periods with nothing are left out.
    pub rows: Vec<WorkRow>,
    /// Complaints per category and period, by category then period.
    pub complaints: Vec<CategoryRow>,
}

#[derive(Default)]
struct Cell {
    opened: u64,
    resolved: u64,
    first_response: Vec<i64>,
    resolution: Vec<i64>,
    with_due: u64,
    overdue: u64,
}

#[derive(Default)]
struct Complaints {
    opened: u64,
    resolved: u64,
    still_open: u64,
}

type Group = Option<String>;

/// Builds a [`WorkReport`] from work items one at a time, so a store can stream them.
pub struct WorkReportBuilder {
    from: Date,
    to: Date,
    period: Period,
    now: Timestamp,
    cells: BTreeMap<(Group, Date), Cell>,
    complaints: BTreeMap<(Option<String>, Date), Complaints>,
}

impl std::fmt::Debug for WorkReportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkReportBuilder")
            .field("cells", &self.cells.len())
            .finish_non_exhaustive()
    }
}

fn seconds(from: Timestamp, to: Timestamp) -> i64 {
    (to.as_micros() - from.as_micros()) / 1_000_000
}

fn median(mut v: Vec<i64>) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        // The mean of the middle two, rounded down.
        (v[mid - 1] + v[mid]).div_euclid(2)
    })
}

impl WorkReportBuilder {
    /// A report over `from..=to` in periods of `period`, with "still open" and "late" judged
    /// at `now` (check the range with [`check_range`](super::check_range)).
    pub fn new(from: Date, to: Date, period: Period, now: Timestamp) -> Self {
        Self {
            from,
            to,
            period,
            now,
            cells: BTreeMap::new(),
            complaints: BTreeMap::new(),
        }
    }

    fn within(&self, d: Date) -> bool {
        d >= self.from && d <= self.to
    }

    /// Counts `item` for each of `groups` (empty: the unassigned group). Items that are not
    /// work items (no status) are ignored.
    pub fn add(&mut self, item: &Interaction, groups: &[Group]) {
        let Some(status) = item.status else {
            return;
        };
        let none = [None];
        let groups = if groups.is_empty() { &none[..] } else { groups };
        let opened = item.occurred_at.date();
        let opened_in = self.within(opened).then(|| self.period.start(opened));
        let resolved_at = item.resolved_at.filter(|_| !status.is_open());
        let resolved_in = resolved_at
            .map(Timestamp::date)
            .filter(|d| self.within(*d))
            .map(|d| self.period.start(d));
        let late = item.due_at.map(|due| match resolved_at {
            Some(r) => r > due,
            None => status.is_open() && self.now > due,
        });
        for g in groups {
            if let Some(p) = opened_in {
                let c = self.cells.entry((g.clone(), p)).or_default();
                c.opened += 1;
                if let Some(a) = item.first_answered_at {
                    c.first_response.push(seconds(item.occurred_at, a));
                }
                if let Some(late) = late {
                    c.with_due += 1;
                    c.overdue += u64::from(late);
                }
            }
            if let (Some(p), Some(r)) = (resolved_in, resolved_at) {
                let c = self.cells.entry((g.clone(), p)).or_default();
                c.resolved += 1;
                c.resolution.push(seconds(item.occurred_at, r));
            }
        }
        if item.kind == InteractionKind::Complaint {
            if let Some(p) = opened_in {
                let c = self
                    .complaints
                    .entry((item.category.clone(), p))
                    .or_default();
                c.opened += 1;
                c.still_open += u64::from(status.is_open());
            }
            if let Some(p) = resolved_in {
                let c = self
                    .complaints
                    .entry((item.category.clone(), p))
                    .or_default();
                c.resolved += 1;
            }
        }
    }

    /// The finished report.
    pub fn finish(self) -> WorkReport {
        let rows = self
            .cells
            .into_iter()
            .map(|((group, period), c)| WorkRow {
                group,
                period,
                opened: c.opened,
                resolved: c.resolved,
                median_first_response_secs: median(c.first_response),
                median_resolution_secs: median(c.resolution),
                overdue: c.overdue,
                overdue_share: (c.with_due > 0).then(|| c.overdue as f64 / c.with_due as f64),
            })
            .collect();
        let complaints = self
            .complaints
            .into_iter()
            .map(|((category, period), c)| CategoryRow {
                category,
                period,
                opened: c.opened,
                resolved: c.resolved,
                still_open: c.still_open,
            })
            .collect();
        WorkReport {
            from: self.from,
            to: self.to,
            period: self.period,
            rows,
            complaints,
        }
    }
}
