//! Hostile test plugin `kith.test.aliased-output`: `score` returns 64 reasons whose messages all
//! point at the same 4 MiB of its memory.
//!
//! The guest pays for 4 MiB; a host that copied the output before checking its size would
//! allocate 256 MiB per call. The host must stop copying at a small multiple of the output
//! budget and fail the call with `output-too-large`.
//!
//! Building the aliased strings breaks Rust's ownership rules on purpose (the post-return hook
//! frees the same buffer 64 times, after the host has lifted, or refused, the output): this is
//! what a plugin written to do harm looks like, not what a plugin author should write.

#![allow(unsafe_code)]

use kith_plugin_sdk::{
    CustomerInput, Manifest, NoConfig, Plugin, Reason, Result, ScoreOutput, Scorer,
};

/// The plugin.
#[derive(Debug)]
pub struct AliasedOutput;

/// Size of the shared buffer.
const BUFFER: usize = 4 << 20;
/// How many reasons point at it.
const REASONS: usize = 64;

impl Plugin for AliasedOutput {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.aliased-output",
            env!("CARGO_PKG_VERSION"),
            "Hostile: aliased output",
        )
        .description("Test plugin: 64 reasons sharing one 4 MiB buffer")
    }
}

impl Scorer for AliasedOutput {
    fn score(_: &NoConfig, _: &CustomerInput) -> Result<ScoreOutput> {
        Ok(ScoreOutput {
            score: 0.0,
            grade: None,
            reasons: aliased(),
            actions: Vec::new(),
        })
    }
}

/// 64 reasons whose messages share one leaked buffer.
fn aliased() -> Vec<Reason> {
    if !cfg!(target_family = "wasm") {
        // Natively (in the unit test) the aliasing would corrupt the test's own heap.
        return vec![Reason::new("aliased", "x", 0.0)];
    }
    let buffer: &'static mut [u8] = Box::leak(vec![b'x'; BUFFER].into_boxed_slice());
    let ptr = buffer.as_mut_ptr();
    (0..REASONS)
        .map(|_| Reason {
            code: "aliased".into(),
            // SAFETY: none, deliberately: every message claims the same buffer.
            message: unsafe { String::from_raw_parts(ptr, BUFFER, BUFFER) },
            contribution: 0.0,
        })
        .collect()
}

kith_plugin_sdk::export_plugin!(AliasedOutput, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};

    use super::*;

    #[test]
    fn manifest_is_valid() {
        assert_manifest_valid::<AliasedOutput>();
    }

    #[test]
    fn natively_it_returns_one_harmless_reason() {
        let out = Harness::<AliasedOutput>::new("{}")
            .score(customer("c").build())
            .unwrap();
        assert_eq!(out.reasons.len(), 1);
    }
}
