//! Hostile test plugin `kith.test.panic`: `score` panics (a trap in wasm, where
//! panics abort).

use kith_plugin_sdk::{CustomerInput, Manifest, NoConfig, Plugin, Result, ScoreOutput, Scorer};

/// The plugin.
#[derive(Debug)]
pub struct Panic;

/// The panic message, for tests that look for it in captured stderr.
pub const MESSAGE: &str = "kith.test.panic panics on purpose";

impl Plugin for Panic {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.panic",
            env!("CARGO_PKG_VERSION"),
            "Hostile: panic",
        )
        .description("Test plugin: panics in score")
    }
}

impl Scorer for Panic {
    fn score(_: &NoConfig, _: &CustomerInput) -> Result<ScoreOutput> {
        panic!("{MESSAGE}")
    }
}

kith_plugin_sdk::export_plugin!(Panic, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};

    use super::*;

    #[test]
    fn manifest_is_valid() {
        assert_manifest_valid::<Panic>();
    }

    #[test]
    #[should_panic(expected = "panics on purpose")]
    fn score_panics() {
        let _ = Harness::<Panic>::new("").score(customer("c").build());
    }
}
