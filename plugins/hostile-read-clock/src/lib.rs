//! Hostile test plugin `kith.test.read-clock`: `score` reads the wall clock
//! (`SystemTime::now`) and the monotonic clock (`Instant`), ignoring the `now`
//! of its input.
//!
//! Score: the wall clock in microseconds since the epoch (0 if before it).
//! Reasons `system-time` (contribution: the same micros) and `instant`
//! (contribution: nanoseconds between two monotonic readings). A host with
//! deterministic clocks makes both the same for every call.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kith_plugin_sdk::{CustomerInput, Manifest, NoConfig, Plugin, Result, ScoreOutput, Scorer};

/// The plugin.
#[derive(Debug)]
pub struct ReadClock;

impl Plugin for ReadClock {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.read-clock",
            env!("CARGO_PKG_VERSION"),
            "Hostile: read clock",
        )
        .description("Test plugin: reads SystemTime::now and Instant::now and returns them")
    }
}

impl Scorer for ReadClock {
    fn score(_: &NoConfig, _: &CustomerInput) -> Result<ScoreOutput> {
        let wall_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let start = Instant::now();
        let elapsed_nanos = std::hint::black_box(Instant::now())
            .duration_since(start)
            .as_nanos();
        let wall = wall_micros as f64;
        Ok(ScoreOutput::new(wall)
            .reason(
                "system-time",
                format!("SystemTime::now is {wall_micros} us after the epoch"),
                wall,
            )
            .reason(
                "instant",
                format!("two Instant::now readings {elapsed_nanos} ns apart"),
                elapsed_nanos as f64,
            ))
    }
}

kith_plugin_sdk::export_plugin!(ReadClock, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};

    use super::*;

    #[test]
    fn natively_the_real_clock_is_read() {
        assert_manifest_valid::<ReadClock>();
        let output = Harness::<ReadClock>::new("")
            .score(customer("c").build())
            .unwrap();
        assert!(output.score > 1.7e15, "after 2023: {}", output.score);
        assert_eq!(output.reasons.len(), 2);
    }
}
