//! The plugin runtime: runs WebAssembly component plugins (`kith:plugin@0.1.0`) in sandboxed,
//! budgeted, fresh instances, with domain types at the edge.
//!
//! ```no_run
//! use kith_model::Timestamp;
//! use kith_wasm_host::{CustomerCall, CustomerView, Limits, Runtime, RuntimeConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::new(RuntimeConfig {
//!     cache_dir: Some("./kith-data/plugin-cache".into()),
//!     ..RuntimeConfig::default()
//! })?;
//! let plugin = runtime.load(&std::fs::read("rfm_scorer.wasm")?)?;
//! let customer: CustomerView = serde_json::from_str(r#"{"id": "c1", "display_name": "Ada"}"#)?;
//! let input = CustomerCall { customer, config: "{}".into(), now: Timestamp::now(), seed: 1, model: None };
//! let (output, report) = runtime.score(&plugin, &input, &Limits::default());
//! println!("{:?} using {} fuel", output?.score, report.fuel_used);
//! # Ok(()) }
//! ```
//!
//! - Loading ([`Runtime::load`]) refuses non-components and oversized bytes, identifies a
//!   plugin version by the SHA-256 of its bytes, compiles it once (cached on disk under
//!   `cache_dir/<sha256>-<engine hash>.cwasm`), pre-links it per world and validates its manifest.
//!   With [`Compiler::Subprocess`] compilation happens in a child process with memory and time
//!   limits, so a pathological component fails with `too-complex` instead of taking the server.
//! - Every call ([`Runtime::score`], [`Runtime::classify`], [`Runtime::populate`],
//!   [`Runtime::handle_webhook`]) gets a fresh store with the [`Limits`] passed: fuel, an epoch
//!   deadline, linear memory, tables, instances, input and output size. It returns the
//!   validated output or a [`PluginFailure`], and a [`CallReport`] (fuel, wall time, peak memory,
//!   outcome) that is also recorded in a tracing span and in per-plugin counters
//!   ([`LoadedPlugin::stats`], [`Runtime::stats`]). The host copies at most a small multiple
//!   of the output budget out of the guest (wasmtime's host-call fuel), whatever the guest's
//!   output claims.
//! - A call on behalf of a tenant ([`CallOptions::for_tenant`]) holds one of that tenant's
//!   instance slots: one tenant (or one plugin) can never hold them all.
//! - [`Runtime::interrupt`] stops every running call within about 10 ms, for shutdown.
//! - WASI 0.2 is linked in full because every Rust `wasm32-wasip2` component imports parts of
//!   it (a plugin built for `wasm32-unknown-unknown`, as Kith's reference plugins are, imports
//!   none of it, which makes its instances cheaper), but it is the deny-all implementation: no
//!   preopened directories (file opens fail), no environment or arguments, stdin closed,
//!   TCP/UDP/name lookup refused, clocks frozen at the call's `now`, randomness seeded from its
//!   `seed`, stdout/stderr captured (64 KiB each) into
//!   tracing, and waiting on a clock (`sleep`) traps. `wasi:http` is linked too (componentize-js
//!   imports it for `fetch`), as a deny-all stub: sending a request fails with
//!   `HTTP-request-denied` and never reaches the network. A plugin that imports anything else
//!   (another interface, a `kith:plugin` version other than 0.1.0) fails at load with
//!   `UnsupportedWit` naming the import.

mod bindings;
mod call;
mod compile;
mod convert;
mod error;
mod limits;
mod runtime;
mod sandbox;
mod share;
mod size;
mod stats;
mod types;
mod view;
pub mod wit_json;

pub use bindings::VERSIONS as CONTRACT_VERSIONS;
pub use call::{CallOptions, CallReport, GuestProfile, LogLevel, Outcome, PluginLog, PluginOutput};
pub use compile::{CHILD_COMMAND, Compiler, SubprocessCompiler, child_main as compiler_child_main};
pub use error::{PluginErrorKind, PluginFailure, SlotScope};
pub use limits::Limits;
pub use runtime::{
    CompiledFrom, DEFAULT_MAX_PLUGIN_BYTES, LoadedPlugin, Runtime, RuntimeConfig, component_hash,
};
pub use sandbox::{MAX_LOG_LINE_BYTES, MAX_LOG_LINES};
pub use stats::StatsSnapshot;
pub use types::{
    Action, Capability, CustomerCall, CustomerFields, CustomerRef, CustomerSummary, CustomerView,
    DealStatus, DealView, HookOutput, InputNeeds, InteractionAggregate, InteractionView,
    LogInteraction, Manifest, ManifestBudgets, Membership, PipelineRef, PopulationInput, Reason,
    RejectionKind, SIGNATURE_VERIFIED_HEADER, ScoreOutput, SegmentInfo, Verdict, Webhook,
};
pub use wasmtime::component::Val as WitValue;
