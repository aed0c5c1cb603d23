//! A customer's purchase history as the models see it, read from the host's aggregates.

use kith_plugin_sdk::time::MICROS_PER_DAY;
use kith_plugin_sdk::{InteractionAggregate, InteractionKind, Timestamp};
use serde::Deserialize;

/// The unit time is measured in; the fitted `alpha` and `gamma` are in this unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// One day.
    Days,
    /// Seven days, as in the BG/NBD and Gamma-Gamma papers.
    #[default]
    Weeks,
    /// One twelfth of a Julian year (30.4375 days).
    Months,
}

impl TimeUnit {
    /// Length of the unit in days.
    pub fn days(self) -> f64 {
        match self {
            TimeUnit::Days => 1.0,
            TimeUnit::Weeks => 7.0,
            TimeUnit::Months => 365.25 / 12.0,
        }
    }

    /// Stable one-byte code, for models.
    pub fn code(self) -> u8 {
        match self {
            TimeUnit::Days => 1,
            TimeUnit::Weeks => 2,
            TimeUnit::Months => 3,
        }
    }

    /// The unit of a [`TimeUnit::code`].
    pub fn from_code(code: u8) -> Option<TimeUnit> {
        match code {
            1 => Some(TimeUnit::Days),
            2 => Some(TimeUnit::Weeks),
            3 => Some(TimeUnit::Months),
            _ => None,
        }
    }

    /// Its name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Days => "days",
            TimeUnit::Weeks => "weeks",
            TimeUnit::Months => "months",
        }
    }

    /// The span between two timestamps in this unit (exact, not rounded to days).
    pub fn between(self, earlier: Timestamp, later: Timestamp) -> f64 {
        later.saturating_sub(earlier) as f64 / (self.days() * MICROS_PER_DAY as f64)
    }
}

/// What BG/NBD and Gamma-Gamma need to know about one buyer.
///
/// The host counts purchase *interactions*; the models count purchase
/// *occasions*. They agree when a shop logs at most one purchase per customer
/// per day (sum same-day orders into one interaction), which is how data must
/// be fed for these figures to mean what the papers say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct History {
    /// Repeat purchases: purchase occasions after the first (`count - 1`).
    pub frequency: u64,
    /// Time from the first to the latest purchase (`t_x`).
    pub recency: f64,
    /// Time from the first purchase to now (`T`), at least `recency`.
    pub age: f64,
    /// Number of purchases whose amounts make up `total` (`count`).
    pub purchases: u64,
    /// Sum of the purchase amounts in the chosen currency, in major units.
    pub total: f64,
}

impl History {
    /// The purchase history in `currency` as of `now`, or `None` for a customer
    /// who has not bought or whose first purchase lies after `now`.
    ///
    /// A latest purchase after `now` (clock skew between systems) is taken as `now`.
    pub fn from_aggregates(
        aggregates: &[InteractionAggregate],
        currency: &str,
        unit: TimeUnit,
        now: Timestamp,
    ) -> Option<History> {
        let purchases = aggregates
            .iter()
            .find(|a| a.kind == InteractionKind::Purchase)?;
        if purchases.count == 0 || purchases.first_at > now {
            return None;
        }
        let last = purchases.last_at.clamp(purchases.first_at, now);
        let scale = 10f64.powi(kith_plugin_sdk::currency_exponent(currency) as i32);
        Some(History {
            frequency: purchases.count - 1,
            recency: unit.between(purchases.first_at, last),
            age: unit.between(purchases.first_at, now),
            purchases: purchases.count,
            total: purchases.total_in(currency) as f64 / scale,
        })
    }

    /// Mean spend per purchase in major units.
    pub fn mean_spend(&self) -> f64 {
        self.total / self.purchases.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::customer;

    use super::*;

    const DAY: i64 = MICROS_PER_DAY;

    #[test]
    fn reads_frequency_recency_and_age_in_weeks() {
        let c = customer("c")
            .purchase(0, 1_000, "USD")
            .purchase(14 * DAY, 3_000, "USD")
            .purchase(21 * DAY, 2_000, "USD")
            .build();
        let h = History::from_aggregates(&c.aggregates, "USD", TimeUnit::Weeks, 70 * DAY).unwrap();
        assert_eq!(
            (h.frequency, h.recency, h.age, h.purchases),
            (2, 3.0, 10.0, 3)
        );
        assert_eq!((h.total, h.mean_spend()), (60.0, 20.0));
        let days =
            History::from_aggregates(&c.aggregates, "USD", TimeUnit::Days, 70 * DAY).unwrap();
        assert_eq!((days.recency, days.age), (21.0, 70.0));
    }

    #[test]
    fn no_purchases_or_future_first_purchase_is_no_history() {
        let none = customer("n").build();
        assert_eq!(
            History::from_aggregates(&none.aggregates, "USD", TimeUnit::Weeks, DAY),
            None
        );
        let future = customer("f").purchase(10 * DAY, 1, "USD").build();
        assert_eq!(
            History::from_aggregates(&future.aggregates, "USD", TimeUnit::Weeks, DAY),
            None
        );
    }

    #[test]
    fn other_currencies_and_zero_decimal_currencies() {
        let c = customer("c").purchase(0, 1_500, "JPY").build();
        let jpy = History::from_aggregates(&c.aggregates, "JPY", TimeUnit::Weeks, DAY).unwrap();
        assert_eq!(jpy.total, 1_500.0);
        let usd = History::from_aggregates(&c.aggregates, "USD", TimeUnit::Weeks, DAY).unwrap();
        assert_eq!(usd.total, 0.0);
    }

    #[test]
    fn unit_codes_round_trip() {
        for unit in [TimeUnit::Days, TimeUnit::Weeks, TimeUnit::Months] {
            assert_eq!(TimeUnit::from_code(unit.code()), Some(unit));
        }
        assert_eq!(TimeUnit::from_code(0), None);
    }
}
