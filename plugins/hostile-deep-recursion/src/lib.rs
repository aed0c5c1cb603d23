//! Hostile test plugin `kith.test.deep-recursion`: `score` recurses without
//! bound, using stack in every frame, until the stack is exhausted (a trap).

use kith_plugin_sdk::{CustomerInput, Manifest, NoConfig, Plugin, Result, ScoreOutput, Scorer};

/// The plugin.
#[derive(Debug)]
pub struct DeepRecursion;

impl Plugin for DeepRecursion {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.deep-recursion",
            env!("CARGO_PKG_VERSION"),
            "Hostile: deep recursion",
        )
        .description("Test plugin: recurses until the stack overflows")
    }
}

/// Recurses forever; black_box on a local buffer defeats tail calls and inlining.
#[expect(unconditional_recursion, reason = "exhausting the stack is the point")]
fn descend(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 32]);
    descend(std::hint::black_box(depth + 1)).wrapping_add(frame[(depth % 32) as usize])
}

impl Scorer for DeepRecursion {
    fn score(_: &NoConfig, input: &CustomerInput) -> Result<ScoreOutput> {
        Ok(ScoreOutput::new(descend(input.seed) as f64))
    }
}

kith_plugin_sdk::export_plugin!(DeepRecursion, scorer);

#[cfg(test)]
mod tests {
    #[test]
    fn manifest_is_valid() {
        kith_plugin_sdk::testing::assert_manifest_valid::<super::DeepRecursion>();
    }
}
