//! Hostile test plugin `kith.test.memory-bomb`: `score` allocates 1 MiB blocks,
//! touching each, until an allocation fails (the allocator then aborts: a trap).
//!
//! The host must cap linear memory and report the call as out of memory.

use kith_plugin_sdk::{CustomerInput, Manifest, NoConfig, Plugin, Result, ScoreOutput, Scorer};

/// The plugin.
#[derive(Debug)]
pub struct MemoryBomb;

/// Size of each allocation.
const BLOCK: usize = 1 << 20;

impl Plugin for MemoryBomb {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.memory-bomb",
            env!("CARGO_PKG_VERSION"),
            "Hostile: memory bomb",
        )
        .description("Test plugin: grows memory until it fails")
    }
}

impl Scorer for MemoryBomb {
    fn score(_: &NoConfig, _: &CustomerInput) -> Result<ScoreOutput> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block = vec![0u8; BLOCK];
            block.iter_mut().step_by(4096).for_each(|b| *b = 1);
            hoard.push(std::hint::black_box(block));
        }
    }
}

kith_plugin_sdk::export_plugin!(MemoryBomb, scorer);

#[cfg(test)]
mod tests {
    #[test]
    fn manifest_is_valid() {
        kith_plugin_sdk::testing::assert_manifest_valid::<super::MemoryBomb>();
    }
}
