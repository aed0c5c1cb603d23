//! Hostile test plugin `kith.test.huge-output`: `score` returns a reason whose
//! message is several MiB (4 by default, `{"mib": n}` to change).
//!
//! The host must refuse the output for exceeding its output budget.

use kith_plugin_sdk::{CustomerInput, Manifest, Plugin, Result, ScoreOutput, Scorer};
use serde::Deserialize;

/// The plugin.
#[derive(Debug)]
pub struct HugeOutput;

/// Configuration: the size of the reason in MiB.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Size of the reason message in MiB.
    pub mib: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config { mib: 4 }
    }
}

impl Plugin for HugeOutput {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.huge-output",
            env!("CARGO_PKG_VERSION"),
            "Hostile: huge output",
        )
        .description("Test plugin: returns a multi-MiB reason")
        .config_schema(
            r#"{"type":"object","properties":{"mib":{"type":"integer","minimum":0,"default":4}}}"#,
        )
    }
}

impl Scorer for HugeOutput {
    fn score(config: &Config, _: &CustomerInput) -> Result<ScoreOutput> {
        let size = usize::try_from(config.mib)
            .unwrap_or(usize::MAX)
            .saturating_mul(1 << 20);
        Ok(ScoreOutput::new(0.0).reason("huge", "x".repeat(size), 0.0))
    }
}

kith_plugin_sdk::export_plugin!(HugeOutput, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};

    use super::*;

    #[test]
    fn reason_is_four_mib_by_default() {
        assert_manifest_valid::<HugeOutput>();
        let output = Harness::<HugeOutput>::new("{}")
            .score(customer("c").build())
            .unwrap();
        assert_eq!(output.reasons[0].message.len(), 4 << 20);
    }
}
