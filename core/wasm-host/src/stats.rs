//! Per-plugin call counters: calls, failures by cause, fuel percentiles. Lock-free, in memory.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use super::PluginFailure;
use super::call::CallReport;

/// Sub-buckets per power of two in the fuel histogram (relative error at most 1/8).
const SUB: u32 = 8;
/// Values below this get a bucket each.
const LINEAR: u64 = 16;
/// Number of buckets: 16 linear ones, then 8 per power of two from 2^4 to 2^63.
const BUCKETS: usize = LINEAR as usize + (64 - 4) * SUB as usize;

/// Counters of one plugin version (one component hash), shared by every call of it.
#[derive(Debug)]
pub(super) struct PluginStats {
    /// Calls made, successful or not.
    calls: AtomicU64,
    /// Failed calls by [`PluginFailure::index`].
    failures: [AtomicU64; PluginFailure::CODES.len()],
    /// Fuel used per call, as a log-linear histogram.
    fuel: [AtomicU64; BUCKETS],
    /// Most fuel any call used.
    fuel_max: AtomicU64,
    /// Total wall time in microseconds.
    wall_micros: AtomicU64,
    /// Wall time per call in microseconds, as a log-linear histogram.
    latency: [AtomicU64; BUCKETS],
    /// Longest call in microseconds.
    latency_max: AtomicU64,
    /// Highest peak memory of any call.
    peak_memory_max: AtomicU64,
}

impl Default for PluginStats {
    fn default() -> PluginStats {
        PluginStats {
            calls: AtomicU64::new(0),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
            fuel: std::array::from_fn(|_| AtomicU64::new(0)),
            fuel_max: AtomicU64::new(0),
            wall_micros: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_max: AtomicU64::new(0),
            peak_memory_max: AtomicU64::new(0),
        }
    }
}

/// The histogram bucket of `value`.
fn bucket(value: u64) -> usize {
    if value < LINEAR {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros(); // >= 4
    let sub = (value >> (exponent - 3)) & u64::from(SUB - 1);
    LINEAR as usize + (exponent as usize - 4) * SUB as usize + sub as usize
}

/// The largest value that falls in bucket `index`.
fn bucket_upper(index: usize) -> u64 {
    if index < LINEAR as usize {
        return index as u64;
    }
    let rel = index - LINEAR as usize;
    let exponent = (rel / SUB as usize) as u32 + 4;
    let sub = (rel % SUB as usize) as u64;
    let width = 1u64 << (exponent - 3);
    ((u64::from(SUB) + sub) << (exponent - 3)).saturating_add(width - 1)
}

impl PluginStats {
    /// Counts one finished call.
    pub(super) fn record(&self, report: &CallReport, failure: Option<&PluginFailure>) {
        self.calls.fetch_add(1, Relaxed);
        if let Some(f) = failure {
            self.failures[f.index()].fetch_add(1, Relaxed);
        }
        self.fuel[bucket(report.fuel_used)].fetch_add(1, Relaxed);
        self.fuel_max.fetch_max(report.fuel_used, Relaxed);
        let micros = u64::try_from(report.wall_time.as_micros()).unwrap_or(u64::MAX);
        self.wall_micros.fetch_add(micros, Relaxed);
        self.latency[bucket(micros)].fetch_add(1, Relaxed);
        self.latency_max.fetch_max(micros, Relaxed);
        self.peak_memory_max
            .fetch_max(report.peak_memory_bytes, Relaxed);
    }

    /// A consistent-enough copy for the admin API (counters are read one by one).
    pub(super) fn snapshot(&self) -> StatsSnapshot {
        let fuel = Percentiles::read(&self.fuel, &self.fuel_max);
        let latency = Percentiles::read(&self.latency, &self.latency_max);
        let failures = PluginFailure::CODES
            .iter()
            .zip(&self.failures)
            .map(|(code, n)| (*code, n.load(Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect::<Vec<_>>();
        let failed = failures.iter().map(|(_, n)| n).sum::<u64>();
        let calls = self.calls.load(Relaxed);
        StatsSnapshot {
            calls,
            succeeded: calls.saturating_sub(failed),
            failures,
            fuel_p50: fuel.at(50),
            fuel_p90: fuel.at(90),
            fuel_p99: fuel.at(99),
            fuel_max: fuel.max,
            latency_micros_p50: latency.at(50),
            latency_micros_p90: latency.at(90),
            latency_micros_p99: latency.at(99),
            latency_micros_max: latency.max,
            wall_micros_total: self.wall_micros.load(Relaxed),
            peak_memory_max: self.peak_memory_max.load(Relaxed),
        }
    }
}

/// A histogram read once, for percentiles.
struct Percentiles {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Percentiles {
    fn read(buckets: &[AtomicU64; BUCKETS], max: &AtomicU64) -> Self {
        let counts: Vec<u64> = buckets.iter().map(|c| c.load(Relaxed)).collect();
        Self {
            total: counts.iter().sum(),
            counts,
            max: max.load(Relaxed),
        }
    }

    /// The `p`th percentile's bucket bound, capped at the largest value seen (0 when empty).
    fn at(&self, p: u64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = (self.total * p).div_ceil(100).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_upper(i).min(self.max);
            }
        }
        self.max
    }
}

/// Counters of one plugin version at one moment.
///
/// Fuel and latency percentiles come from log-linear histograms: each is an upper bound within
/// 12.5%.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsSnapshot {
    /// Calls made.
    pub calls: u64,
    /// Calls that returned a valid output.
    pub succeeded: u64,
    /// Failed calls by [`PluginFailure::code`], only codes that occurred.
    pub failures: Vec<(&'static str, u64)>,
    /// Median fuel per call.
    pub fuel_p50: u64,
    /// 90th percentile of fuel per call.
    pub fuel_p90: u64,
    /// 99th percentile of fuel per call.
    pub fuel_p99: u64,
    /// Most fuel one call used.
    pub fuel_max: u64,
    /// Median wall time per call, in microseconds.
    pub latency_micros_p50: u64,
    /// 90th percentile of wall time per call, in microseconds.
    pub latency_micros_p90: u64,
    /// 99th percentile of wall time per call, in microseconds.
    pub latency_micros_p99: u64,
    /// Longest call, in microseconds.
    pub latency_micros_max: u64,
    /// Wall time of all calls together, in microseconds.
    pub wall_micros_total: u64,
    /// Highest peak linear memory of one call.
    pub peak_memory_max: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lies_within_its_bucket() {
        for v in (0..5000u64).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX, 1 << 40]) {
            let b = bucket(v);
            assert!(b < BUCKETS, "{v}");
            assert!(v <= bucket_upper(b), "{v} above bucket {b}");
            if b > 0 {
                assert!(v > bucket_upper(b - 1), "{v} below bucket {b}");
            }
        }
    }
}
