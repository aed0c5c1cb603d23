//! Hostile test plugin `kith.test.infinite-loop`: `score` never returns.
//!
//! The host must stop it with its fuel budget or epoch deadline.

use kith_plugin_sdk::{CustomerInput, Manifest, NoConfig, Plugin, Result, ScoreOutput, Scorer};

/// The plugin.
#[derive(Debug)]
pub struct InfiniteLoop;

impl Plugin for InfiniteLoop {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.infinite-loop",
            env!("CARGO_PKG_VERSION"),
            "Hostile: infinite loop",
        )
        .description("Test plugin: score never returns")
    }
}

impl Scorer for InfiniteLoop {
    fn score(_: &NoConfig, _: &CustomerInput) -> Result<ScoreOutput> {
        let mut counter = 0u64;
        loop {
            // black_box keeps the optimizer from proving the loop useless.
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }
}

kith_plugin_sdk::export_plugin!(InfiniteLoop, scorer);

#[cfg(test)]
mod tests {
    #[test]
    fn manifest_is_valid() {
        kith_plugin_sdk::testing::assert_manifest_valid::<super::InfiniteLoop>();
    }
}
