//! Test plugin `kith.test.counter` version 1.0.0: the score is the customer's purchase count
//! times 1, and the attribute `counter_version` records which version scored last.

/// The version this crate builds.
const VERSION: u32 = 1;

include!("../../test-counter-v1/src/counter.rs");
