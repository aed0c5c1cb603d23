//! Test plugin `kith.test.counter` version 2.0.0: the score is the customer's purchase count
//! times 2, and the attribute `counter_version` records which version scored last.

/// The version this crate builds.
const VERSION: u32 = 2;

include!("../../test-counter-v1/src/counter.rs");

#[cfg(test)]
mod version_tests {
    use kith_plugin_sdk::Plugin as _;

    #[test]
    fn manifest_says_version_two() {
        assert_eq!(super::Counter::manifest().version, "2.0.0");
    }
}
