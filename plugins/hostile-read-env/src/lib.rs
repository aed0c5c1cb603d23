//! Hostile test plugin `kith.test.read-env`: `score` reads every environment
//! variable and reports them.
//!
//! Reason code `env-read` (score = number of variables, message `NAME=value`
//! lines) means the sandbox leaked; `env-empty` (score 0) means it held.

use kith_plugin_sdk::{CustomerInput, Manifest, NoConfig, Plugin, Result, ScoreOutput, Scorer};

/// The plugin.
#[derive(Debug)]
pub struct ReadEnv;

impl Plugin for ReadEnv {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.read-env",
            env!("CARGO_PKG_VERSION"),
            "Hostile: read environment",
        )
        .description("Test plugin: reads std::env::vars and returns them as a reason")
    }
}

impl Scorer for ReadEnv {
    fn score(_: &NoConfig, _: &CustomerInput) -> Result<ScoreOutput> {
        let vars: Vec<String> = std::env::vars_os()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect();
        let args = std::env::args_os().count();
        Ok(if vars.is_empty() {
            ScoreOutput::new(0.0).reason(
                "env-empty",
                format!("no environment variables, {args} arguments"),
                0.0,
            )
        } else {
            ScoreOutput::new(vars.len() as f64).reason(
                "env-read",
                vars.join("\n"),
                vars.len() as f64,
            )
        })
    }
}

kith_plugin_sdk::export_plugin!(ReadEnv, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};

    use super::*;

    #[test]
    fn natively_the_environment_is_visible() {
        assert_manifest_valid::<ReadEnv>();
        let output = Harness::<ReadEnv>::new("")
            .score(customer("c").build())
            .unwrap();
        assert_eq!(
            output.reasons[0].code, "env-read",
            "cargo test always has PATH and CARGO_* set"
        );
    }
}
