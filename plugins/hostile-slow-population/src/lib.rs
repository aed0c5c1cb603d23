//! Hostile test plugin `kith.test.slow-population`: a scorer whose population step never
//! returns (it loops until its fuel or deadline stops it). `score` answers at once, with the
//! number of events the customer has, when it gets to run.
//!
//! The host must keep it from holding up other tenants' dispatch, and stop it at shutdown.

use kith_plugin_sdk::{
    CustomerInput, Manifest, NoConfig, Plugin, PopulationInput, Result, ScoreOutput, Scorer,
};

/// The plugin.
#[derive(Debug)]
pub struct SlowPopulation;

impl Plugin for SlowPopulation {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.slow-population",
            env!("CARGO_PKG_VERSION"),
            "Hostile: slow population step",
        )
        .description("Test plugin: a population step that never ends")
        .population(Vec::<String>::new())
    }

    fn populate(_: &NoConfig, _: &PopulationInput) -> Result<Option<Vec<u8>>> {
        let mut counter = 0u64;
        loop {
            // black_box keeps the optimizer from proving the loop useless.
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }
}

impl Scorer for SlowPopulation {
    fn score(_: &NoConfig, _: &CustomerInput) -> Result<ScoreOutput> {
        Ok(ScoreOutput::new(1.0))
    }
}

kith_plugin_sdk::export_plugin!(SlowPopulation, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::assert_manifest_valid;

    use super::*;

    #[test]
    fn manifest_is_valid_and_asks_for_the_population() {
        assert_manifest_valid::<SlowPopulation>();
        assert!(SlowPopulation::manifest().needs.population);
    }
}
