//! Sales performance by person or team and period: deals created, won and lost (count and
//! amount), win rate and sales cycle per period; the open pipeline weighted by stage
//! probability; and the forecast of open deals by expected-close month. Amounts stay per
//! currency: rows are per (group, period, currency), never summed across currencies.
//!
//! A deal counts for its current owner (for teams: each team of its owner). It was created in
//! the period of its `created_at`, and won or lost in the period it entered its current won or
//! lost stage; its sales cycle is the time between the two.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Currency, Date, Deal, Money, Pipeline, StageCategory, ValidationError};

/// The length of a report's periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Period {
    /// Calendar days (UTC).
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months.
    Month,
    /// Calendar quarters.
    Quarter,
}

impl Period {
    /// Parses `day`, `week`, `month` or `quarter`.
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        match s.trim() {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            "quarter" => Ok(Self::Quarter),
            _ => Err(ValidationError::field(field, "day, week, month or quarter")),
        }
    }

    /// The first day of the period that holds `d`.
    pub fn start(self, d: Date) -> Date {
        match self {
            Self::Day => d,
            // 1970-01-01 was a Thursday: three days after a Monday.
            Self::Week => Date::from_days(d.days() - (d.days() + 3).rem_euclid(7)),
            Self::Month => d.first_of_month(1),
            Self::Quarter => d.first_of_month(3),
        }
    }
}

/// Most days a report may span: its rows stay few enough to answer at once.
pub const MAX_REPORT_DAYS: i32 = 3 * 366;
/// Most days a report by day may span.
pub const MAX_DAILY_REPORT_DAYS: i32 = 366;

/// Checks a report's range: `from` not after `to`, and not longer than the period allows.
pub fn check_range(from: Date, to: Date, period: Period) -> Result<(), ValidationError> {
    let days = to.days() - from.days() + 1;
    if days < 1 {
        return Err(ValidationError::field("to", "a date on or after `from`"));
    }
    let max = match period {
        Period::Day => MAX_DAILY_REPORT_DAYS,
        _ => MAX_REPORT_DAYS,
    };
    if days > max {
        return Err(ValidationError::field(
            "to",
            format!("at most {max} days after `from` for periods of this length"),
        ));
    }
    Ok(())
}

/// One group's figures in one period and currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SalesRow {
    /// The owner's user id or the team id; none for deals nobody owns (or whose owner is in
    /// no team).
    pub group: Option<String>,
    /// The first day of the period.
    pub period: Date,
    /// The currency of every amount of the row.
    pub currency: Currency,
    /// Deals created in the period.
    pub created: u64,
    /// Their total amount.
    pub created_amount: Money,
    /// Deals won in the period.
    pub won: u64,
    /// Their total amount.
    pub won_amount: Money,
    /// Deals lost in the period.
    pub lost: u64,
    /// Their total amount.
    pub lost_amount: Money,
    /// won / (won + lost), by count; none without any.
    pub win_rate: Option<f64>,
    /// Mean days from creation to winning, over the deals won in the period.
    pub average_cycle_days: Option<f64>,
    /// The group's target for this period and currency, when one is set (see [`Quota`]).
    pub quota: Option<Money>,
    /// won_amount / quota; none without a quota or with a zero one.
    pub attainment: Option<f64>,
}

/// One group's open deals now, in one currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PipelineRow {
    /// As in [`SalesRow::group`].
    pub group: Option<String>,
    /// The currency.
    pub currency: Currency,
    /// Open deals.
    pub deals: u64,
    /// Their total amount.
    pub amount: Money,
    /// Each weighted by its stage's win probability (rounded half up to the minor unit).
    pub weighted_amount: Money,
}

/// One group's open deals expected to close in one month (within the report's range).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ForecastRow {
    /// As in [`SalesRow::group`].
    pub group: Option<String>,
    /// The first day of the month.
    pub month: Date,
    /// The currency.
    pub currency: Currency,
    /// Open deals expected to close in the month.
    pub deals: u64,
    /// Their total amount.
    pub amount: Money,
    /// Weighted by stage probability.
    pub weighted_amount: Money,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SalesReport {
    /// First day covered.
    pub from: Date,
    /// Last day covered.
    pub to: Date,
    /// The period length.
    pub period: Period,
    /// Per group, period and currency, by group then period; periods with nothing are left out.
    pub rows: Vec<SalesRow>,
    /// The open pipeline per group and currency.
    pub pipeline: Vec<PipelineRow>,
    /// The forecast per group, month and currency.
    pub forecast: Vec<ForecastRow>,
}

#[derive(Default)]
struct Cell {
    created: u64,
    created_amount: i128,
    won: u64,
    won_amount: i128,
    lost: u64,
    lost_amount: i128,
    cycle_seconds: i128,
}

#[derive(Default)]
struct Open {
    deals: u64,
    amount: i128,
    /// Minor units times probability percent.
    weighted: i128,
}

type Group = Option<String>;

/// Builds a [`SalesReport`] from deals one at a time, so a store can stream them.
pub struct SalesReportBuilder {
    from: Date,
    to: Date,
    period: Period,
    cells: BTreeMap<(Group, Date, Currency), Cell>,
    quotas: BTreeMap<(Group, Date, Currency), i64>,
    open: BTreeMap<(Group, Currency), Open>,
    forecast: BTreeMap<(Group, Date, Currency), Open>,
}

impl std::fmt::Debug for SalesReportBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SalesReportBuilder")
            .field("cells", &self.cells.len())
            .finish_non_exhaustive()
    }
}

impl SalesReportBuilder {
    /// A report over `from..=to` in periods of `period` (check the range with [`check_range`]).
    pub fn new(from: Date, to: Date, period: Period) -> Self {
        Self {
            from,
            to,
            period,
            cells: BTreeMap::new(),
            quotas: BTreeMap::new(),
            open: BTreeMap::new(),
            forecast: BTreeMap::new(),
        }
    }

    fn within(&self, d: Date) -> bool {
        d >= self.from && d <= self.to
    }

    /// Sets the target of `quota`'s group in its period, when the quota is for this report's
    /// period length and range; its row then shows even without deals.
    pub fn quota(&mut self, quota: &Quota) {
        let start_in = quota.start >= self.period.start(self.from) && quota.start <= self.to;
        if quota.period != self.period || !start_in {
            return;
        }
        let key = (Some(quota.group()), quota.start, quota.target.currency);
        self.cells.entry(key.clone()).or_default();
        self.quotas.insert(key, quota.target.minor);
    }

    /// Counts `deal` (of `pipeline`) for each of `groups` (an empty list: the unowned group).
    pub fn add(&mut self, deal: &Deal, pipeline: &Pipeline, groups: &[Group]) {
        let none = [None];
        let groups = if groups.is_empty() { &none[..] } else { groups };
        let period = self.period;
        let currency = deal.amount.currency;
        let amount = i128::from(deal.amount.minor);
        let stage = pipeline.stage(deal.stage);
        let category = stage.map_or(StageCategory::Open, |s| s.category);
        let created = deal.created_at.date();
        let closed_at = match category {
            StageCategory::Open => None,
            _ => deal.history.last().map(|v| v.entered_at),
        };
        for g in groups {
            if self.within(created) {
                let c = self
                    .cells
                    .entry((g.clone(), period.start(created), currency))
                    .or_default();
                c.created += 1;
                c.created_amount += amount;
            }
            if let Some(at) = closed_at.filter(|at| self.within(at.date())) {
                let c = self
                    .cells
                    .entry((g.clone(), period.start(at.date()), currency))
                    .or_default();
                if category == StageCategory::Won {
                    c.won += 1;
                    c.won_amount += amount;
                    c.cycle_seconds +=
                        i128::from((at.as_micros() - deal.created_at.as_micros()) / 1_000_000);
                } else {
                    c.lost += 1;
                    c.lost_amount += amount;
                }
            }
            if category == StageCategory::Open {
                let probability = i128::from(stage.map_or(0, |s| s.probability));
                let o = self.open.entry((g.clone(), currency)).or_default();
                o.deals += 1;
                o.amount += amount;
                o.weighted += amount * probability;
                if let Some(close) = deal.expected_close.filter(|c| self.within(*c)) {
                    let f = self
                        .forecast
                        .entry((g.clone(), Period::Month.start(close), currency))
                        .or_default();
                    f.deals += 1;
                    f.amount += amount;
                    f.weighted += amount * probability;
                }
            }
        }
    }

    /// The finished report.
    pub fn finish(self) -> SalesReport {
        let money = |v: i128, c: Currency| Money::new(i64::try_from(v).unwrap_or(i64::MAX), c);
        // Half up to the minor unit: floor((x + 50) / 100).
        let weighted = |v: i128, c: Currency| money((v + 50).div_euclid(100), c);
        let quotas = self.quotas;
        let rows = self
            .cells
            .into_iter()
            .map(|((group, period, currency), c)| {
                let quota = quotas.get(&(group.clone(), period, currency)).copied();
                (
                    quota,
                    SalesRow {
                        group,
                        period,
                        currency,
                        created: c.created,
                        created_amount: money(c.created_amount, currency),
                        won: c.won,
                        won_amount: money(c.won_amount, currency),
                        lost: c.lost,
                        lost_amount: money(c.lost_amount, currency),
                        win_rate: (c.won + c.lost > 0)
                            .then(|| c.won as f64 / (c.won + c.lost) as f64),
                        average_cycle_days: (c.won > 0)
                            .then(|| c.cycle_seconds as f64 / 86_400.0 / c.won as f64),
                        quota: quota.map(|q| Money::new(q, currency)),
                        attainment: quota
                            .filter(|q| *q > 0)
                            .map(|q| c.won_amount as f64 / q as f64),
                    },
                )
            })
            .map(|(_, row)| row)
            .collect();
        let pipeline = self
            .open
            .into_iter()
            .map(|((group, currency), o)| PipelineRow {
                group,
                currency,
                deals: o.deals,
                amount: money(o.amount, currency),
                weighted_amount: weighted(o.weighted, currency),
            })
            .collect();
        let forecast = self
            .forecast
            .into_iter()
            .map(|((group, month, currency), o)| ForecastRow {
                group,
                month,
                currency,
                deals: o.deals,
                amount: money(o.amount, currency),
                weighted_amount: weighted(o.weighted, currency),
            })
            .collect();
        SalesReport {
            from: self.from,
            to: self.to,
            period: self.period,
            rows,
            pipeline,
            forecast,
        }
    }
}

/// Whose target a quota is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum QuotaSubject {
    /// One user's.
    User(super::UserId),
    /// One team's.
    Team(super::TeamId),
}

/// A sales target: what `subject` should win in one period, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quota {
    /// The user or team.
    pub subject: QuotaSubject,
    /// The period length.
    pub period: Period,
    /// The first day of the period.
    pub start: Date,
    /// The amount to win (not negative).
    pub target: Money,
    /// Last change.
    pub updated_at: super::Timestamp,
}

impl Quota {
    /// A quota for the period of `period` that holds `day`; refuses a negative target.
    pub fn new(
        subject: QuotaSubject,
        period: Period,
        day: Date,
        target: Money,
        now: super::Timestamp,
    ) -> Result<Self, ValidationError> {
        if target.minor < 0 {
            return Err(ValidationError::field("target", "a non-negative amount"));
        }
        Ok(Self {
            subject,
            period,
            start: period.start(day),
            target,
            updated_at: now,
        })
    }

    /// The group a sales report by owner or team gives this quota's subject.
    pub fn group(&self) -> String {
        match self.subject {
            QuotaSubject::User(u) => u.to_string(),
            QuotaSubject::Team(t) => t.to_string(),
        }
    }
}

impl Period {
    /// A stable one-byte code, for keys.
    pub fn code(self) -> u8 {
        match self {
            Self::Day => 0,
            Self::Week => 1,
            Self::Month => 2,
            Self::Quarter => 3,
        }
    }
}
