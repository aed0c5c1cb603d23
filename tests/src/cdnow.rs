//! The CDNOW sample (`data/cdnow`): its customers as the host would summarize them, and the
//! inputs of plugin calls over them, shared by the tests that validate plugins on it.

use std::collections::BTreeMap;

use kith::model::{Currency, InteractionKind, LifecycleStage, Money, Timestamp};
use kith::plugin::{
    CustomerCall, CustomerSummary, CustomerView, InteractionAggregate, LoadedPlugin,
    PopulationInput, Runtime, RuntimeConfig,
};

pub const DAY: i64 = 86_400_000_000;

/// Days since the epoch of a `YYYYMMDD` date (Hinnant's algorithm).
pub fn day(date: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| date[r].parse::<i64>().expect("date");
    let (y, m, d) = (n(0..4), n(4..6), n(6..8));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// 1997-09-30T00:00Z: the end of the 39-week calibration period, "now" of every call.
pub fn calibration_end() -> i64 {
    day("19970930") * DAY
}

/// One CDNOW customer: calibration-period purchase occasions and holdout occasions.
#[derive(Debug, Clone, Default)]
pub struct CdnowCustomer {
    pub id: String,
    /// Calibration occasions (one per day), cents, and first/last day (micros).
    pub count: u64,
    pub cents: i64,
    pub first: i64,
    pub last: i64,
    /// Cents of the first occasion.
    pub first_cents: i64,
    /// Purchase occasions in weeks 40-78 (1997-10-01 .. 1998-06-30).
    pub holdout: u64,
}

/// Reads a CDNOW file (`sample`: 5 columns, `master`: 4 columns and a header): cents per
/// customer and day (micros), each customer's same-day rows summed into one purchase occasion.
pub fn occasions(path: &str) -> BTreeMap<(String, i64), i64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut days: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (date, dollars) = match f.len() {
            5 => (f[2], f[4]),
            4 if f[0] != "customer_id" => (f[1], f[3]),
            _ => continue,
        };
        let cents = Money::parse_decimal("dollar_value", dollars, usd())
            .expect("a dollar amount")
            .minor;
        *days.entry((f[0].to_owned(), day(date) * DAY)).or_default() += cents;
    }
    days
}

/// The customers of a CDNOW file with their calibration and holdout occasions.
pub fn cdnow(path: &str) -> Vec<CdnowCustomer> {
    let days = occasions(path);
    let (end, holdout_end) = (calibration_end(), day("19980630") * DAY);
    let mut customers: BTreeMap<String, CdnowCustomer> = BTreeMap::new();
    for ((id, at), cents) in days {
        let c = customers
            .entry(id.clone())
            .or_insert_with(|| CdnowCustomer {
                id,
                first: at,
                ..CdnowCustomer::default()
            });
        if at <= end {
            if c.count == 0 {
                c.first_cents = cents;
            }
            c.count += 1;
            c.cents += cents;
            c.last = at;
        } else if at <= holdout_end {
            c.holdout += 1;
        }
    }
    customers.into_values().collect()
}

pub fn usd() -> Currency {
    Currency::parse("currency", "USD").expect("USD")
}

pub const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/cdnow/CDNOW_sample.txt");

pub fn sample() -> Vec<CdnowCustomer> {
    cdnow(SAMPLE)
}

impl CdnowCustomer {
    /// The calibration-period purchase aggregate the host would keep.
    pub fn aggregates(&self) -> Vec<InteractionAggregate> {
        if self.count == 0 {
            return Vec::new();
        }
        vec![InteractionAggregate {
            kind: InteractionKind::Purchase,
            count: self.count,
            totals: vec![Money::new(self.cents, usd())],
            first_at: Timestamp::from_micros(self.first),
            last_at: Timestamp::from_micros(self.last),
            first_amount: Some(Money::new(self.first_cents, usd())),
        }]
    }

    pub fn summary(&self) -> CustomerSummary {
        CustomerSummary {
            id: self.id.clone(),
            lifecycle_stage: LifecycleStage::Customer,
            created_at: Timestamp::from_micros(self.first),
            aggregates: self.aggregates(),
            attributes: BTreeMap::new(),
        }
    }

    pub fn view(&self) -> CustomerView {
        view(&self.id, self.aggregates())
    }
}

pub fn view(id: &str, aggregates: Vec<InteractionAggregate>) -> CustomerView {
    CustomerView {
        id: id.to_owned(),
        kind: kith::model::CustomerKind::Person,
        display_name: id.to_owned(),
        given_name: None,
        family_name: None,
        email: None,
        phone: None,
        country: None,
        region: None,
        city: None,
        lifecycle_stage: LifecycleStage::Customer,
        tags: Vec::new(),
        attributes: BTreeMap::new(),
        owner: None,
        marketing_consent: false,
        created_at: Timestamp::from_micros(0),
        aggregates,
        recent_interactions: Vec::new(),
        open_deals: Vec::new(),
        closed_deals: Vec::new(),
    }
}

pub fn population(customers: &[CdnowCustomer], config: &str) -> PopulationInput {
    PopulationInput {
        customers: customers.iter().map(CdnowCustomer::summary).collect(),
        config: config.to_owned(),
        now: Timestamp::from_micros(calibration_end()),
        seed: 0,
    }
}

pub fn call(customer: CustomerView, config: &str, model: Option<Vec<u8>>) -> CustomerCall {
    CustomerCall {
        customer,
        config: config.to_owned(),
        now: Timestamp::from_micros(calibration_end()),
        seed: 0,
        model,
    }
}

pub fn load(rt: &Runtime, path: &str) -> LoadedPlugin {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    rt.load(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}
