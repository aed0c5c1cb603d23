//! One call: a fresh store with limits, instantiate from the `InstancePre`, call, measure,
//! classify failures, validate the output, record the report.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::field::Empty;
use tracing::{Span, debug, info, warn};
use wasmtime::{GuestProfiler, Store, Trap, UpdateDeadline};

use super::bindings::WorldPre;
use super::bindings::latest::types as wit;
use super::convert;
use super::runtime::one_line;
use super::sandbox::{Determinism, HostState};
use super::size::EncodedSize;
use super::{
    Capability, CustomerCall, HookOutput, Limits, LoadedPlugin, Membership, PluginFailure,
    PopulationInput, Runtime, ScoreOutput, Webhook,
};

/// Where a profiled call leaves its guest profile: wasmtime's `GuestProfiler` sampled at every
/// epoch tick (1 ms by default) while guest code runs, in the Firefox Profiler's processed
/// format (open it at <https://profiler.firefox.com> for a flame graph and a call tree).
/// Only the plugin's own modules appear in it.
#[derive(Debug, Default)]
pub struct GuestProfile(std::sync::Mutex<Option<Vec<u8>>>);

impl GuestProfile {
    /// The profile of the last call made with this sink, as JSON; `None` before one ends.
    pub fn take(&self) -> Option<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    fn put(&self, profile: Vec<u8>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(profile);
    }
}

/// How one call runs: its budgets, and the tenant whose share of the instance slots it uses.
///
/// `&Limits` converts into options without a tenant (the local runner, tests), so
/// `runtime.score(&plugin, &input, &limits)` keeps working.
#[derive(Debug, Clone, Copy)]
pub struct CallOptions<'a> {
    /// The call's budgets.
    pub limits: &'a Limits,
    /// The tenant the call runs for: it holds one of that tenant's instance slots, so one
    /// tenant's slow calls can never take every slot. `None`: counted against the total only.
    pub tenant: Option<&'a str>,
    /// Profile the guest and leave the profile here (the local runner's `--profile`). Sampling
    /// checks the epoch every tick instead of every 10: for diagnosis, not for serving.
    pub profile: Option<&'a GuestProfile>,
}

impl<'a> From<&'a Limits> for CallOptions<'a> {
    fn from(limits: &'a Limits) -> Self {
        CallOptions {
            limits,
            tenant: None,
            profile: None,
        }
    }
}

impl<'a> CallOptions<'a> {
    /// Options for a call on behalf of `tenant`.
    pub fn for_tenant(limits: &'a Limits, tenant: &'a str) -> Self {
        CallOptions {
            limits,
            tenant: Some(tenant),
            profile: None,
        }
    }

    /// Options for a call whose guest is profiled into `sink`.
    pub fn profiled(limits: &'a Limits, sink: &'a GuestProfile) -> Self {
        CallOptions {
            limits,
            tenant: None,
            profile: Some(sink),
        }
    }
}

/// How one call went: what it cost and how it ended.
///
/// `fuel_used` is exact except after a deadline trap: wasmtime flushes the fuel counter at
/// calls, so fuel burnt in the loop that was interrupted is not counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallReport {
    /// Fuel (about one unit per wasm instruction) the call used, instantiation included.
    pub fuel_used: u64,
    /// Wall time from creating the store to the call's return.
    pub wall_time: Duration,
    /// The most linear memory the instance had at once.
    pub peak_memory_bytes: u64,
    /// Outgoing HTTP requests the plugin tried to send (all denied).
    pub http_requests_denied: u32,
    /// Encoded size of the input (what [`Limits::input_bytes`] bounds).
    pub input_bytes: u64,
    /// Encoded size of the output, when the plugin returned one (what
    /// [`Limits::output_bytes`] bounds).
    pub output_bytes: u64,
    /// What the plugin wrote to stdout and stderr, if anything (also logged at debug level under
    /// `kith::plugin::stdout` / `kith::plugin::stderr`).
    pub output: Option<Box<PluginOutput>>,
    /// How it ended.
    pub outcome: Outcome,
}

/// What a plugin wrote to stdout and stderr during one call: the first
/// `RuntimeConfig::capture_bytes` of each, and how many bytes past them were dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PluginOutput {
    /// Standard output, lossily decoded as UTF-8.
    pub stdout: String,
    /// Bytes written to stdout past the cap.
    pub stdout_dropped: u64,
    /// Standard error, lossily decoded as UTF-8.
    pub stderr: String,
    /// Bytes written to stderr past the cap.
    pub stderr_dropped: u64,
    /// Lines logged through `kith:plugin/host.log` (contract 0.2.0), at most
    /// [`MAX_LOG_LINES`](crate::MAX_LOG_LINES), each at most
    /// [`MAX_LOG_LINE_BYTES`](crate::MAX_LOG_LINE_BYTES).
    pub logs: Vec<PluginLog>,
    /// Lines logged past the cap.
    pub logs_dropped: u32,
}

/// One line a plugin logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginLog {
    /// How important it is.
    pub level: LogLevel,
    /// The line, cut to the cap.
    pub message: String,
}

/// How important a plugin's log line is (WIT `host.log-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    /// Detail for the plugin's author.
    Debug,
    /// Something worth knowing.
    Info,
    /// Something looks wrong.
    Warn,
    /// Something failed.
    Error,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "code")]
pub enum Outcome {
    /// The plugin returned a valid output.
    Ok,
    /// It failed; the code is [`PluginFailure::code`].
    Failed(&'static str),
}

impl Outcome {
    /// `ok` or the failure's code.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(code) => code,
        }
    }
}

/// What the call costs, before the outcome is known.
#[derive(Debug, Clone, Default)]
pub(super) struct Usage {
    /// Fuel used.
    fuel_used: u64,
    /// Wall time.
    wall_time: Duration,
    /// Peak linear memory.
    peak_memory_bytes: u64,
    /// Outgoing HTTP requests denied.
    http_requests_denied: u32,
    /// Encoded input size.
    input_bytes: u64,
    /// Encoded output size (0 without an output).
    output_bytes: u64,
    /// Captured stdout and stderr, if the plugin wrote any.
    output: Option<Box<PluginOutput>>,
}

/// Clock, randomness and input size of one call.
#[derive(Debug, Clone, Copy)]
pub(super) struct Env {
    /// What the plugin's clocks read and seeds its randomness.
    pub(super) det: Determinism,
    /// Encoded size of the input.
    pub(super) input_size: u64,
}

/// Most of what a failed plugin said last (its stderr or a log line) quoted in a trap's message.
const LAST_WORDS_EXCERPT: usize = 512;

/// Epoch ticks between two checks of a running call for a host shutdown: 10 ms at the default
/// tick, so [`Runtime::interrupt`] stops every call within about that.
const CHECK_TICKS: u64 = 10;

/// The smallest host-call budget: what a guest may hand the host in one crossing (a WASI write
/// is at most 64 KiB; an output lifted at the end of the call is the rest).
const MIN_HOSTCALL_BYTES: u64 = 256 * 1024;

/// The error a call stopped by [`Runtime::interrupt`] ends with.
#[derive(Debug)]
struct HostStopping;

impl std::fmt::Display for HostStopping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plugin host is stopping")
    }
}

impl std::error::Error for HostStopping {}

/// How many bytes the host may copy out of the guest in one crossing: a multiple of the output
/// budget, because the host's copy of a value (Rust strings and vectors) is larger than its
/// encoded size. Without it wasmtime would copy up to 128 MiB before the output budget is
/// checked: 64 reasons pointing at the same 4 MiB of guest memory cost 256 MiB of host memory.
fn hostcall_bytes(limits: &Limits) -> usize {
    usize::try_from(
        limits
            .output_bytes
            .saturating_mul(4)
            .max(MIN_HOSTCALL_BYTES),
    )
    .unwrap_or(usize::MAX)
}

/// Runs `call` in a fresh store with `limits`, and checks the output size.
pub(super) fn run<R: EncodedSize>(
    rt: &Runtime,
    pre: &WorldPre,
    plugin: &str,
    options: CallOptions<'_>,
    env: Env,
    call: impl FnOnce(&WorldPre, &mut Store<HostState>) -> wasmtime::Result<R>,
) -> (Result<R, PluginFailure>, Usage) {
    let limits = options.limits;
    if env.input_size > limits.input_bytes {
        let failure = PluginFailure::InputTooLarge {
            size: env.input_size,
            limit: limits.input_bytes,
        };
        return (Err(failure), Usage::default());
    }
    if rt.interrupted() {
        return (Err(stopping()), Usage::default());
    }
    // More callers than their share of instance slots wait their turn (up to the call's
    // deadline, at least a second) instead of failing; the wait is not part of the call's time.
    let patience = limits.deadline.max(Duration::from_secs(1));
    let _slot = match rt.slots.take(options.tenant, plugin, patience) {
        Ok(slot) => slot,
        Err(busy) => return (Err(busy), Usage::default()),
    };
    // Wakes the epoch thread if it sleeps, before the deadline is set from its epoch.
    let _running = rt.running();
    let start = Instant::now();
    let mut store = Store::new(
        &rt.engine,
        HostState::new(limits, env.det, rt.config.capture_bytes),
    );
    store.limiter(|state| &mut state.limiter);
    if let Err(e) = store.set_fuel(limits.fuel) {
        return (Err(PluginFailure::Host(one_line(&e))), Usage::default());
    }
    store.set_hostcall_fuel(hostcall_bytes(limits));
    // The deadline is checked in steps of CHECK_TICKS so that a shutdown is noticed as well.
    let total = deadline_ticks(limits.deadline, rt.config.epoch_tick);
    // A profiled call is sampled at every tick.
    let step = if options.profile.is_some() {
        store.data_mut().profiler = GuestProfiler::new_component(
            &rt.engine,
            plugin,
            rt.config.epoch_tick,
            pre.component().clone(),
            [],
        )
        .map_err(|e| warn!(error = %one_line(&e), "cannot profile the call"))
        .ok();
        1
    } else {
        CHECK_TICKS
    };
    let tick = rt.config.epoch_tick;
    let first = total.min(step);
    let mut remaining = total - first;
    let host_stopping = Arc::clone(&rt.stopping);
    store.set_epoch_deadline(first);
    store.epoch_deadline_callback(move |mut ctx| {
        if let Some(mut profiler) = ctx.data_mut().profiler.take() {
            profiler.sample(&ctx, tick);
            ctx.data_mut().profiler = Some(profiler);
        }
        if host_stopping.load(Ordering::Acquire) {
            return Err(wasmtime::Error::new(HostStopping));
        }
        if remaining == 0 {
            return Err(wasmtime::Error::new(Trap::Interrupt));
        }
        let next = remaining.min(step);
        remaining -= next;
        Ok(UpdateDeadline::Continue(next))
    });
    let result = call(pre, &mut store);
    if let (Some(sink), Some(profiler)) = (options.profile, store.data_mut().profiler.take()) {
        let mut profile = Vec::new();
        match profiler.finish(&mut profile) {
            Ok(()) => sink.put(profile),
            Err(e) => warn!(error = %one_line(&e), "cannot write the call's profile"),
        }
    }
    let wall_time = start.elapsed();
    let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
    let state = store.data();
    let (stdout, stdout_dropped) = state.stdout.take();
    let (stderr, stderr_dropped) = state.stderr.take();
    if !stdout.is_empty() {
        debug!(target: "kith::plugin::stdout", dropped = stdout_dropped, "{}", stdout.trim_end());
    }
    if !stderr.is_empty() {
        debug!(target: "kith::plugin::stderr", dropped = stderr_dropped, "{}", stderr.trim_end());
    }
    let logs = std::mem::take(&mut store.data_mut().logs);
    let logs_dropped = store.data().logs_dropped;
    for line in &logs {
        debug!(target: "kith::plugin::log", plugin, level = ?line.level, "{}", line.message);
    }
    if logs_dropped > 0 {
        debug!(target: "kith::plugin::log", plugin, dropped = logs_dropped, "log lines dropped");
    }
    let state = store.data();
    let mut output_bytes = 0;
    let result = match result {
        Ok(value) => {
            let size = value.encoded_size();
            output_bytes = size;
            if size > limits.output_bytes {
                Err(PluginFailure::OutputTooLarge {
                    size,
                    limit: limits.output_bytes,
                })
            } else {
                Ok(value)
            }
        }
        Err(e) => Err(classify(&e, state, limits, last_words(&stderr, &logs))),
    };
    if state.deny_http.attempts > 0 {
        debug!(
            attempts = state.deny_http.attempts,
            "plugin tried to send HTTP requests; plugins have no network"
        );
    }
    let usage = Usage {
        fuel_used,
        wall_time,
        peak_memory_bytes: state.limiter.peak_memory as u64,
        http_requests_denied: state.deny_http.attempts,
        input_bytes: env.input_size,
        output_bytes,
        output: (!stdout.is_empty() || !stderr.is_empty() || !logs.is_empty()).then(|| {
            Box::new(PluginOutput {
                stdout,
                stdout_dropped,
                stderr,
                stderr_dropped,
                logs,
                logs_dropped,
            })
        }),
    };
    (result, usage)
}

/// Epoch ticks for `deadline`: at least one, and small enough that wasmtime's
/// `current epoch + ticks` cannot overflow (2^48 ticks of 1 ms is nine thousand years).
fn deadline_ticks(deadline: Duration, tick: Duration) -> u64 {
    let tick = tick.as_nanos().max(1);
    u64::try_from(deadline.as_nanos().div_ceil(tick))
        .unwrap_or(u64::MAX)
        .clamp(1, 1 << 48)
}

/// The failure cause of a call that returned an error.
fn classify(
    e: &wasmtime::Error,
    state: &HostState,
    limits: &Limits,
    said: LastWords<'_>,
) -> PluginFailure {
    if let Some(trap) = e.downcast_ref::<Trap>() {
        return match *trap {
            Trap::OutOfFuel => PluginFailure::FuelExhausted { limit: limits.fuel },
            Trap::Interrupt => PluginFailure::DeadlineExceeded {
                limit: limits.deadline,
            },
            Trap::StackOverflow => {
                PluginFailure::Trap("stack overflow: the call stack is exhausted".to_owned())
            }
            _ if state.limiter.memory_refused => PluginFailure::MemoryLimit {
                limit: limits.memory_bytes,
            },
            // A Rust guest keeps its stack in linear memory below its data; recursing past it
            // wraps the stack pointer, and the next access is out of bounds.
            Trap::MemoryOutOfBounds => PluginFailure::Trap(with_last_words(
                "out of bounds memory access, usually a stack overflow (a Rust plugin's stack \
                 lives in its linear memory and was exhausted)",
                said,
            )),
            Trap::UnreachableCodeReached => PluginFailure::Trap(with_last_words(
                "wasm `unreachable` executed: the plugin panicked or aborted",
                said,
            )),
            other => PluginFailure::Trap(with_last_words(&other.to_string(), said)),
        };
    }
    if e.downcast_ref::<HostStopping>().is_some() {
        return stopping();
    }
    // wasmtime's error type for it is private; its message is stable.
    if e.chain().any(|c| {
        c.to_string()
            .contains("allocated for hostcalls has been exhausted")
    }) {
        return PluginFailure::OutputTooLarge {
            size: hostcall_bytes(limits) as u64,
            limit: limits.output_bytes,
        };
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return PluginFailure::Trap(format!("the plugin called exit({})", exit.0));
    }
    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return PluginFailure::Host(format!("all instance slots are busy: {}", one_line(e)));
    }
    if state.limiter.memory_refused {
        return PluginFailure::MemoryLimit {
            limit: limits.memory_bytes,
        };
    }
    // A host function refused (e.g. a sleep) or WASI trapped: the root cause says what.
    PluginFailure::Trap(with_last_words(&e.root_cause().to_string(), said))
}

/// The failure of a call refused or stopped because the host is shutting down.
fn stopping() -> PluginFailure {
    PluginFailure::Interrupted
}

/// What a failed plugin said last, quoted in its trap's message: where it came from, and the
/// text.
#[derive(Debug, Clone, Copy)]
struct LastWords<'a>(&'static str, &'a str);

/// Its stderr if it wrote any (where a `wasm32-wasip2` Rust plugin's panic message goes), else
/// its last log line if that is at error level (where the SDK logs a panic's message in debug
/// builds without WASI).
fn last_words<'a>(stderr: &'a str, logs: &'a [PluginLog]) -> LastWords<'a> {
    match logs.last() {
        Some(line) if stderr.trim().is_empty() && line.level == LogLevel::Error => {
            LastWords("last log line", &line.message)
        }
        _ => LastWords("stderr", stderr),
    }
}

/// `message`, followed by the end of what the plugin said last, if anything (a panic message).
fn with_last_words(message: &str, LastWords(source, text): LastWords<'_>) -> String {
    let text = text.trim();
    if text.is_empty() {
        return message.to_owned();
    }
    let mut start = text.len().saturating_sub(LAST_WORDS_EXCERPT);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!(
        "{message}; {source}: {}",
        text[start..].replace('\n', " | ")
    )
}

/// Calls `manifest()` (at load time, before a [`LoadedPlugin`] exists).
pub(super) fn manifest(
    rt: &Runtime,
    pre: &WorldPre,
    limits: &Limits,
) -> (Result<wit::Manifest, PluginFailure>, CallReport) {
    let env = Env {
        det: Determinism {
            now_micros: 0,
            seed: 0,
        },
        input_size: 0,
    };
    let (result, usage) = run(rt, pre, "", limits.into(), env, |pre, store| {
        pre.manifest(store)
    });
    let report = report(usage, result.as_ref().err());
    (result, report)
}

/// The report of a finished call.
fn report(usage: Usage, failure: Option<&PluginFailure>) -> CallReport {
    CallReport {
        fuel_used: usage.fuel_used,
        wall_time: usage.wall_time,
        peak_memory_bytes: usage.peak_memory_bytes,
        http_requests_denied: usage.http_requests_denied,
        input_bytes: usage.input_bytes,
        output_bytes: usage.output_bytes,
        output: usage.output,
        outcome: failure.map_or(Outcome::Ok, |f| Outcome::Failed(f.code())),
    }
}

impl Runtime {
    /// Refuses a call the plugin cannot serve: a function of another world, or a plugin loaded
    /// by another runtime (its code belongs to that runtime's engine).
    fn refuse<T>(
        &self,
        plugin: &LoadedPlugin,
        function: &str,
        worlds: &[Capability],
    ) -> Option<(Result<T, PluginFailure>, CallReport)> {
        let failure = if !wasmtime::Engine::same(plugin.engine(), &self.engine) {
            PluginFailure::Host(format!(
                "{} was loaded by another Runtime; load it in this one",
                plugin.manifest().id
            ))
        } else if !worlds.contains(&plugin.capability()) {
            PluginFailure::UnsupportedWit(format!(
                "{} is a {}; it has no {function} function",
                plugin.manifest().id,
                plugin.capability()
            ))
        } else {
            return None;
        };
        let report = report(Usage::default(), Some(&failure));
        Some((Err(failure), report))
    }

    /// Records the report in the plugin's counters and the current span, and logs the outcome.
    pub(super) fn finish<T>(
        &self,
        plugin: &LoadedPlugin,
        result: Result<T, PluginFailure>,
        usage: Usage,
    ) -> (Result<T, PluginFailure>, CallReport) {
        let report = report(usage, result.as_ref().err());
        plugin.counters().record(&report, result.as_ref().err());
        let span = Span::current();
        let wall_us = u64::try_from(report.wall_time.as_micros()).unwrap_or(u64::MAX);
        span.record("fuel_used", report.fuel_used);
        span.record("wall_us", wall_us);
        span.record("peak_memory", report.peak_memory_bytes);
        span.record("outcome", report.outcome.as_str());
        match &result {
            Ok(_) => debug!(
                fuel_used = report.fuel_used,
                wall_us,
                peak_memory = report.peak_memory_bytes,
                "plugin call finished"
            ),
            // Info, not warn: the caller (dispatcher, circuit breaker) decides what is alarming.
            Err(failure) => info!(
                fuel_used = report.fuel_used,
                wall_us,
                peak_memory = report.peak_memory_bytes,
                code = failure.code(),
                error = %failure,
                "plugin call failed"
            ),
        }
        (result, report)
    }

    /// Scores one customer with a scorer.
    ///
    /// The plugin's clocks read `input.now`, its randomness is seeded with `input.seed`.
    #[tracing::instrument(level = "debug", name = "plugin.score", skip_all, fields(
        plugin = %plugin.manifest().id, version = %plugin.manifest().version, hash = %plugin.hash(),
        fuel_used = Empty, wall_us = Empty, peak_memory = Empty, outcome = Empty))]
    pub fn score<'a>(
        &self,
        plugin: &LoadedPlugin,
        input: &CustomerCall,
        options: impl Into<CallOptions<'a>>,
    ) -> (Result<ScoreOutput, PluginFailure>, CallReport) {
        if let Some(refused) = self.refuse(plugin, "score", &[Capability::Scorer]) {
            return refused;
        }
        let arg = wit::CustomerInput::from(input);
        let env = customer_env(input, &arg);
        let (raw, usage) = run(
            self,
            plugin.pre(),
            &plugin.manifest().id,
            options.into(),
            env,
            |pre, store| pre.score(store, arg),
        );
        let result = raw
            .and_then(|r| r.map_err(PluginFailure::from))
            .and_then(ScoreOutput::try_from);
        self.finish(plugin, result, usage)
    }

    /// Puts one customer into segments with a segmenter; every segment returned is one the
    /// manifest declares.
    #[tracing::instrument(level = "debug", name = "plugin.classify", skip_all, fields(
        plugin = %plugin.manifest().id, version = %plugin.manifest().version, hash = %plugin.hash(),
        fuel_used = Empty, wall_us = Empty, peak_memory = Empty, outcome = Empty))]
    pub fn classify<'a>(
        &self,
        plugin: &LoadedPlugin,
        input: &CustomerCall,
        options: impl Into<CallOptions<'a>>,
    ) -> (Result<Vec<Membership>, PluginFailure>, CallReport) {
        if let Some(refused) = self.refuse(plugin, "classify", &[Capability::Segmenter]) {
            return refused;
        }
        let arg = wit::CustomerInput::from(input);
        let env = customer_env(input, &arg);
        let (raw, usage) = run(
            self,
            plugin.pre(),
            &plugin.manifest().id,
            options.into(),
            env,
            |pre, store| pre.classify(store, arg),
        );
        let result = raw
            .and_then(|r| r.map_err(PluginFailure::from))
            .and_then(|list| convert::memberships(plugin.manifest(), list));
        self.finish(plugin, result, usage)
    }

    /// Runs the population step of a scorer or segmenter. `Ok(None)`: the plugin built no model.
    ///
    /// Use [`Limits::population`] (or the runtime's `population_limits`) for its budgets.
    #[tracing::instrument(level = "debug", name = "plugin.populate", skip_all, fields(
        plugin = %plugin.manifest().id, version = %plugin.manifest().version, hash = %plugin.hash(),
        customers = input.customers.len(),
        fuel_used = Empty, wall_us = Empty, peak_memory = Empty, outcome = Empty))]
    pub fn populate<'a>(
        &self,
        plugin: &LoadedPlugin,
        input: &PopulationInput,
        options: impl Into<CallOptions<'a>>,
    ) -> (Result<Option<Vec<u8>>, PluginFailure>, CallReport) {
        if let Some(refused) = self.refuse(
            plugin,
            "populate",
            &[Capability::Scorer, Capability::Segmenter],
        ) {
            return refused;
        }
        let arg = wit::PopulationInput::from(input);
        let env = Env {
            det: Determinism {
                now_micros: input.now.as_micros(),
                seed: input.seed,
            },
            input_size: arg.encoded_size(),
        };
        let (raw, usage) = run(
            self,
            plugin.pre(),
            &plugin.manifest().id,
            options.into(),
            env,
            |pre, store| pre.populate(store, arg),
        );
        let result = raw
            .and_then(|r| r.map_err(PluginFailure::from))
            .map(|model| (!model.is_empty()).then_some(model));
        self.finish(plugin, result, usage)
    }

    /// Handles one webhook delivery with a commerce hook and the tenant's configuration (JSON).
    ///
    /// The plugin's clocks read `webhook.received_at`; its randomness is seeded with 0. A
    /// [`SIGNATURE_VERIFIED_HEADER`](crate::SIGNATURE_VERIFIED_HEADER) among the delivery's
    /// headers is not passed on: only [`Runtime::handle_verified_webhook`] sends one.
    pub fn handle_webhook<'a>(
        &self,
        plugin: &LoadedPlugin,
        webhook: &Webhook,
        config: &str,
        options: impl Into<CallOptions<'a>>,
    ) -> (Result<HookOutput, PluginFailure>, CallReport) {
        self.handle(plugin, webhook, None, config, options.into())
    }

    /// [`Runtime::handle_webhook`] for a delivery whose signature the host has checked:
    /// `attestation` goes to the plugin in the
    /// [`SIGNATURE_VERIFIED_HEADER`](crate::SIGNATURE_VERIFIED_HEADER) header, so that it need
    /// not hash the body again (the SDK's `commerce::verify_signature` checks it).
    pub fn handle_verified_webhook<'a>(
        &self,
        plugin: &LoadedPlugin,
        webhook: &Webhook,
        attestation: &str,
        config: &str,
        options: impl Into<CallOptions<'a>>,
    ) -> (Result<HookOutput, PluginFailure>, CallReport) {
        self.handle(plugin, webhook, Some(attestation), config, options.into())
    }

    #[tracing::instrument(level = "debug", name = "plugin.handle_webhook", skip_all, fields(
        plugin = %plugin.manifest().id, version = %plugin.manifest().version, hash = %plugin.hash(),
        topic = %webhook.topic, delivery = webhook.delivery_id.as_deref().unwrap_or(""),
        verified = attestation.is_some(),
        fuel_used = Empty, wall_us = Empty, peak_memory = Empty, outcome = Empty))]
    fn handle(
        &self,
        plugin: &LoadedPlugin,
        webhook: &Webhook,
        attestation: Option<&str>,
        config: &str,
        options: CallOptions<'_>,
    ) -> (Result<HookOutput, PluginFailure>, CallReport) {
        if let Some(refused) = self.refuse(plugin, "handle", &[Capability::CommerceHook]) {
            return refused;
        }
        let arg = convert::webhook(webhook, attestation);
        let config = config.to_owned();
        let env = Env {
            det: Determinism {
                now_micros: webhook.received_at.as_micros(),
                seed: 0,
            },
            input_size: arg.encoded_size().saturating_add(config.encoded_size()),
        };
        let (raw, usage) = run(
            self,
            plugin.pre(),
            &plugin.manifest().id,
            options,
            env,
            |pre, store| pre.handle(store, arg, &config),
        );
        let result = raw
            .and_then(|r| r.map_err(PluginFailure::from))
            .and_then(HookOutput::try_from);
        self.finish(plugin, result, usage)
    }
}

/// The environment of a per-customer call.
fn customer_env(input: &CustomerCall, arg: &wit::CustomerInput) -> Env {
    Env {
        det: Determinism {
            now_micros: input.now.as_micros(),
            seed: input.seed,
        },
        input_size: arg.encoded_size(),
    }
}
