//! The Kith plugin SDK: write a Kith plugin in plain Rust, test it with
//! `cargo test`, build it with `cargo build --target wasm32-unknown-unknown --release`
//! (see "Faster calls" below for the two lines of `.cargo/config.toml` that build needs).
//!
//! A Kith plugin is a WebAssembly component implementing one world of the
//! `kith:plugin@0.2.0` WIT contract: a [`Scorer`], a [`Segmenter`] or a
//! [`CommerceHook`]. It is a pure function: the host hands it the input its
//! [`Manifest`] asks for, and it answers with a score, segments or a verdict,
//! plus [`Action`]s the host validates and applies atomically. It has no clock,
//! entropy, files, network or environment: `now` and a `seed` come in the input.
//!
//! ```
//! use kith_plugin_sdk::{
//!     CustomerInput, InteractionKind, Manifest, Plugin, Result, ScoreOutput, Scorer,
//! };
//! use serde::Deserialize;
//!
//! /// Scores customers by how often they bought.
//! struct Loyalty;
//!
//! #[derive(Deserialize)]
//! struct Config {
//!     #[serde(default = "ten")]
//!     points_per_purchase: f64,
//! }
//! fn ten() -> f64 { 10.0 }
//!
//! impl Plugin for Loyalty {
//!     type Config = Config;
//!     fn manifest() -> Manifest {
//!         Manifest::new("example.loyalty", env!("CARGO_PKG_VERSION"), "Loyalty")
//!             .description("Points per purchase, capped at 100")
//!             .industries(["retail"])
//!             .config_schema(r#"{"type":"object","properties":{"points_per_purchase":{"type":"number","default":10}}}"#)
//!     }
//! }
//!
//! impl Scorer for Loyalty {
//!     fn score(config: &Config, input: &CustomerInput) -> Result<ScoreOutput> {
//!         let purchases = input.customer.aggregate(InteractionKind::Purchase).map_or(0, |a| a.count);
//!         let score = (purchases as f64 * config.points_per_purchase).min(100.0);
//!         Ok(ScoreOutput::new(score).reason("purchases", format!("{purchases} purchases"), score))
//!     }
//! }
//!
//! kith_plugin_sdk::export_plugin!(Loyalty, scorer);
//!
//! // The same plugin, tested natively:
//! use kith_plugin_sdk::testing::{customer, Harness};
//! let bob = customer("bob").purchase(0, 1_000, "EUR").purchase(1, 2_000, "EUR").build();
//! let output = Harness::<Loyalty>::new(r#"{"points_per_purchase": 5}"#).score(bob).unwrap();
//! assert_eq!(output.score, 10.0);
//! ```
//!
//! Everything the contract defines is re-exported here as plain Rust types
//! (see [`CustomerView`], [`Action`], [`Webhook`]); the WIT-generated bindings
//! stay private. [`testing`] has builders and a [`testing::Harness`] for native
//! unit tests. Plugin crates use `crate-type = ["cdylib", "rlib"]`.
//!
//! With the cargo feature `commerce`, the `commerce` module has what every commerce
//! hook needs: webhook signature checks (HMAC-SHA256, constant time), exact money from
//! decimal strings, and the id, email, timestamp and text checks the host applies.
//!
//! # Faster calls: a plugin without WASI
//!
//! Kith runs every call in a fresh instance, so what an instance costs to create and reset is
//! part of every call. A `wasm32-wasip2` build imports a dozen WASI functions for Rust's
//! standard library (stdio, environment, exit), which wasmtime links into three core
//! instances on every call. A plugin has no use for them: Kith gives it no files, network,
//! clock or environment, and everything it needs comes through the contract. Built for
//! `wasm32-unknown-unknown` and linked by `wasm-component-ld` (the linker the Rust toolchain
//! ships for `wasm32-wasip2`, which makes the component), it imports only the contract and
//! instantiates as one core instance. A project created by `kith plugin new --lang rust` has
//! this in its `.cargo/config.toml`, and Kith's own plugins are built so:
//!
//! ```toml
//! [target.wasm32-unknown-unknown]
//! linker = "wasm-component-ld"
//! rustflags = ["-C", "link-arg=--initial-memory=2097152"]
//! ```
//!
//! ```sh
//! rustup target add wasm32-unknown-unknown
//! cargo build --release --target wasm32-unknown-unknown
//! # the component: target/wasm32-unknown-unknown/release/my_plugin.wasm
//! ```
//!
//! The SDK makes dlmalloc the allocator of such a build: it takes the room the linker leaves
//! above the data before it grows memory (Rust's own allocator for that target grows on the
//! first allocation, and a grow costs the host an `mprotect` on every call). The
//! `--initial-memory` of 2 MiB leaves about 1 MiB of that room above the 1 MiB stack; the
//! 2 MiB count towards the plugin's memory budget.
//!
//! Such a build has no stderr: `println!` and `eprintln!` print nothing (use [`log`]). In a
//! debug build the SDK logs a panic's message at error level, where the call's report and the
//! host's message for the trap show it; a release build traps with "the plugin panicked" alone,
//! because the hook's `log` import would make every call about 15 % slower (an import that takes
//! a string makes the component three core instances instead of one). A plugin is a pure
//! function of its input, so a debug build under `kith plugin run` with the same input shows the
//! message of a panic seen in production. Measured with the trivial scorer (`bench/README.md`):
//! 7.5 µs a call against 9.9 µs for its `wasm32-wasip2` build, which still works and needs no
//! configuration (`cargo build --release --target wasm32-wasip2`).

extern crate self as kith_plugin_sdk;

/// The allocator of builds without WASI (see "Faster calls" above).
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

mod bindings;
#[cfg(feature = "commerce")]
pub mod commerce;
mod config;
mod export;
mod ext;
pub mod log;
mod money;
mod plugin;
pub mod testing;
pub mod time;

pub use bindings::types::{
    Action, Attribute, AttributeValue, Budget, Budgets, Capability, Channel, ClearAttribute,
    CreateDeal, CreateTask, CustomerFields, CustomerInput, CustomerKind, CustomerRef,
    CustomerSummary, CustomerView, Deal, DealStatus, Direction, ExternalId, HookOutput, InputNeeds,
    Interaction, InteractionAggregate, InteractionKind, LifecycleStage, LogInteraction, Manifest,
    Membership, Money, MoveDeal, PipelineRef, PluginError, PopulationInput, Reason, Rejection,
    RejectionKind, ScoreOutput, SegmentInfo, SetAttribute, SetLifecycleStage, TagChange, Timestamp,
    UpsertCustomer, Verdict, Webhook,
};
pub use config::parse_config;
pub use money::{MoneyError, currency_exponent};
pub use plugin::{CommerceHook, NoConfig, Plugin, Scorer, Segmenter};

/// The result of a plugin call.
pub type Result<T, E = PluginError> = std::result::Result<T, E>;

/// Support for [`export_plugin!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::{commerce_hook, scorer, segmenter};
    pub use crate::export::{
        assert_commerce_hook, assert_scorer, assert_segmenter, classify, handle, manifest,
        populate, score,
    };
    pub use wit_bindgen;
}
