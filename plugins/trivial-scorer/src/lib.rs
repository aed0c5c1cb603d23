//! Test plugin `kith.test.trivial`: returns the constant score 42 with no
//! reasons, so benchmarks measure the host's instantiate-and-call cost only.

use kith_plugin_sdk::{CustomerInput, Manifest, NoConfig, Plugin, Result, ScoreOutput, Scorer};

/// The plugin.
#[derive(Debug)]
pub struct Trivial;

impl Plugin for Trivial {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.trivial",
            env!("CARGO_PKG_VERSION"),
            "Trivial scorer",
        )
        .description("Test plugin: always scores 42")
    }
}

impl Scorer for Trivial {
    fn score(_: &NoConfig, _: &CustomerInput) -> Result<ScoreOutput> {
        Ok(ScoreOutput::new(42.0))
    }
}

kith_plugin_sdk::export_plugin!(Trivial, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};

    use super::*;

    #[test]
    fn scores_a_constant() {
        assert_manifest_valid::<Trivial>();
        let output = Harness::<Trivial>::new("")
            .score(customer("c").build())
            .unwrap();
        assert_eq!(output.score, 42.0);
        assert!(output.reasons.is_empty() && output.actions.is_empty());
    }
}
