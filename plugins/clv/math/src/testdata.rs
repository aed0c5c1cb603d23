//! The CDNOW sample (`tests/data/cdnow`), prepared for the models' tests.

use crate::{Observation, Spend};

/// The sample's transactions: customer id, sample id, date, CDs, dollars.
const SAMPLE: &str = include_str!("../../../../tests/data/cdnow/CDNOW_sample.txt");

/// Days since the epoch of a `YYYYMMDD` date (Hinnant's algorithm).
fn day(date: &str) -> i64 {
    let y: i64 = date[0..4].parse().unwrap();
    let m: i64 = date[4..6].parse().unwrap();
    let d: i64 = date[6..8].parse().unwrap();
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// One customer's calibration-period purchases (1997-01-01 .. 1997-09-30), one occasion per day.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// Purchase occasions.
    pub count: u64,
    /// Total dollars.
    pub total: f64,
    /// First purchase, days since the epoch.
    pub first: i64,
    /// Latest purchase, days since the epoch.
    pub last: i64,
}

impl Calibration {
    /// BG/NBD's view in weeks, "now" = 1997-09-30.
    pub fn observation(&self) -> Observation {
        let end = day("19970930");
        Observation {
            frequency: self.count - 1,
            recency: (self.last - self.first) as f64 / 7.0,
            age: (end - self.first) as f64 / 7.0,
        }
    }

    /// Gamma-Gamma's view: all purchases and their mean.
    pub fn spend(&self) -> Spend {
        Spend {
            purchases: self.count,
            mean: self.total / self.count as f64,
        }
    }
}

/// Every customer of the sample, in file order.
pub fn cdnow_sample() -> Vec<Calibration> {
    let end = day("19970930");
    let mut out: Vec<(String, Calibration)> = Vec::new();
    let mut last_day: Option<(String, i64)> = None;
    for line in SAMPLE.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (id, d, dollars) = (f[0].to_owned(), day(f[2]), f[4].parse::<f64>().unwrap());
        if d > end {
            continue;
        }
        let same_day = last_day.as_ref() == Some(&(id.clone(), d));
        match out.last_mut() {
            Some((last_id, c)) if *last_id == id => {
                c.total += dollars;
                if !same_day {
                    c.count += 1;
                    c.last = d;
                }
            }
            _ => out.push((
                id.clone(),
                Calibration {
                    count: 1,
                    total: dollars,
                    first: d,
                    last: d,
                },
            )),
        }
        last_day = Some((id, d));
    }
    out.into_iter().map(|(_, c)| c).collect()
}
