//! What one call's store holds: a locked-down WASI context and the resource limiter.
//!
//! WASI is linked because every Rust `wasm32-wasip2` component imports `wasi:cli`, `wasi:io`
//! and friends (its context is built at a call's first WASI call, so a plugin that imports none,
//! such as one built for `wasm32-unknown-unknown`, never pays for it), but it grants nothing: no
//! preopened directories (so every filesystem call fails with "not found"/"bad descriptor"), no
//! environment, no arguments, stdin closed, TCP, UDP and name lookup disabled (every socket call
//! is "access denied"), both clocks frozen at the call's `now`, randomness seeded from the call's
//! `seed`, stdout/stderr captured into bounded buffers that go to tracing after the call. Waiting
//! on a clock traps (see `runtime::deny_sleeping`), because a host-side sleep would escape the
//! epoch deadline.
//!
//! `kith:plugin/host@0.2.0`'s `log` keeps the first [`MAX_LOG_LINES`] lines of a call, each cut
//! to [`MAX_LOG_LINE_BYTES`], and counts the rest.
//!
//! `wasi:http` is linked for the toolchains whose runtimes import it whether or not a plugin
//! uses it (componentize-js's StarlingMonkey, for `fetch`): a plugin may build requests and
//! headers, but sending one fails at once with `HTTP-request-denied` ([`DenyHttp`]); nothing
//! reaches the network, and the attempt is counted in the call's report.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use super::Limits;
use super::bindings::latest::host;
use super::call::{LogLevel, PluginLog};

/// Lines one call may log; later ones are counted as dropped.
pub const MAX_LOG_LINES: usize = 64;
/// Longest log line kept, in bytes (cut on a character boundary).
pub const MAX_LOG_LINE_BYTES: usize = 1024;

/// Largest single request for random bytes a plugin may make.
const MAX_RANDOM_BYTES: u64 = 64 * 1024;

/// The data of one call's `Store`.
pub(super) struct HostState {
    /// The locked-down WASI context, built at the plugin's first WASI call: a plugin that imports
    /// no WASI (one built for `wasm32-unknown-unknown`) never pays for it.
    wasi: Option<WasiCtx>,
    /// What the WASI context's clocks read and its randomness is seeded with.
    det: Determinism,
    /// WASI's resources (streams, descriptors).
    table: ResourceTable,
    /// Enforces the memory, table and instance limits, and records what happened.
    pub(super) limiter: CallLimiter,
    /// The plugin's stdout.
    pub(super) stdout: Capture,
    /// The plugin's stderr.
    pub(super) stderr: Capture,
    /// `wasi:http`'s state (header size limits).
    http: WasiHttpCtx,
    /// Refuses every outgoing request and counts the attempts.
    pub(super) deny_http: DenyHttp,
    /// Samples the guest's stack at every epoch tick, when the call is profiled.
    pub(super) profiler: Option<wasmtime::GuestProfiler>,
    /// What the plugin logged (contract 0.2.0), at most [`MAX_LOG_LINES`] lines.
    pub(super) logs: Vec<PluginLog>,
    /// Lines logged past [`MAX_LOG_LINES`].
    pub(super) logs_dropped: u32,
}

impl host::Host for HostState {
    fn log(&mut self, level: host::LogLevel, mut message: String) {
        if self.logs.len() >= MAX_LOG_LINES {
            self.logs_dropped = self.logs_dropped.saturating_add(1);
            return;
        }
        if message.len() > MAX_LOG_LINE_BYTES {
            let mut end = MAX_LOG_LINE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        let level = match level {
            host::LogLevel::Debug => LogLevel::Debug,
            host::LogLevel::Info => LogLevel::Info,
            host::LogLevel::Warn => LogLevel::Warn,
            host::LogLevel::Error => LogLevel::Error,
        };
        self.logs.push(PluginLog { level, message });
    }
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostState")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: self
                .wasi
                .get_or_insert_with(|| wasi_ctx(self.det, &self.stdout, &self.stderr)),
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.deny_http,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// Plugins have no network: every outgoing HTTP request fails with `HTTP-request-denied`
/// before anything is resolved or connected. Counts the attempts, for the call's report.
#[derive(Debug, Default)]
pub(super) struct DenyHttp {
    /// Requests the plugin tried to send.
    pub(super) attempts: u32,
}

/// What `send_request` returns: the response and a future reporting body errors.
type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for DenyHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        self.attempts = self.attempts.saturating_add(1);
        tracing::debug!(uri = %request.uri(), "plugin's outgoing HTTP request denied");
        Box::new(std::future::ready(Err(
            wasmtime_wasi_http::Error::HttpRequestDenied,
        )))
    }
}

/// What the plugin's clocks read and its randomness is seeded with.
#[derive(Debug, Clone, Copy)]
pub(super) struct Determinism {
    /// Microseconds since the Unix epoch: the wall clock, frozen.
    pub(super) now_micros: i64,
    /// Seed of both WASI random generators.
    pub(super) seed: u64,
}

impl HostState {
    /// A fresh state for one call.
    pub(super) fn new(limits: &Limits, det: Determinism, capture_bytes: usize) -> HostState {
        HostState {
            wasi: None,
            det,
            table: ResourceTable::new(),
            limiter: CallLimiter::new(limits),
            stdout: Capture::new(capture_bytes),
            stderr: Capture::new(capture_bytes),
            http: WasiHttpCtx::new(),
            deny_http: DenyHttp::default(),
            profiler: None,
            logs: Vec::new(),
            logs_dropped: 0,
        }
    }
}

/// The locked-down WASI context of one call.
fn wasi_ctx(det: Determinism, stdout: &Capture, stderr: &Capture) -> WasiCtx {
    let since_epoch = Duration::from_micros(u64::try_from(det.now_micros).unwrap_or(0));
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(stdout.clone())
        .stderr(stderr.clone())
        .wall_clock(FrozenWallClock(since_epoch))
        .monotonic_clock(FrozenMonotonicClock(
            u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX),
        ))
        .secure_random(SplitMix64(det.seed))
        .insecure_random(SplitMix64(det.seed.rotate_left(32) ^ 0x6b69_7468))
        .insecure_random_seed(u128::from(det.seed))
        .max_random_size(MAX_RANDOM_BYTES)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    wasi.build()
}

/// A wall clock that always reads the call's `now`.
struct FrozenWallClock(Duration);

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that never advances: two readings are always equal.
struct FrozenMonotonicClock(u64);

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        self.0
    }
}

/// SplitMix64: the plugin's randomness, a pure function of the call's seed.
///
/// Our own algorithm rather than a `rand` generator, whose output may change between
/// versions: a replayed call must see the same bytes after an upgrade. Not cryptographic, and
/// need not be: plugins get no secrets to protect, and the seed is in the input anyway.
struct SplitMix64(u64);

impl rand::TryRng for SplitMix64 {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// Enforces one call's memory, table and instance limits and records peak memory and refusals.
#[derive(Debug)]
pub(super) struct CallLimiter {
    /// Linear memory allowed, summed over memories.
    memory_limit: usize,
    /// Elements allowed per table.
    table_elements: usize,
    /// Instances allowed.
    instances: usize,
    /// Linear memory in use now, summed over memories.
    memory_now: usize,
    /// The most linear memory in use at once.
    pub(super) peak_memory: usize,
    /// Whether a memory growth was refused (the cause of a later trap, if any).
    pub(super) memory_refused: bool,
    /// Whether a table growth was refused.
    pub(super) table_refused: bool,
}

impl CallLimiter {
    /// A limiter enforcing `limits`.
    fn new(limits: &Limits) -> CallLimiter {
        CallLimiter {
            memory_limit: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
            table_elements: usize::try_from(limits.table_elements).unwrap_or(usize::MAX),
            instances: usize::try_from(limits.instances).unwrap_or(usize::MAX),
            memory_now: 0,
            peak_memory: 0,
            memory_refused: false,
            table_refused: false,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .memory_now
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.memory_limit || maximum.is_some_and(|max| desired > max) {
            self.memory_refused = true;
            return Ok(false);
        }
        self.memory_now = total;
        self.peak_memory = self.peak_memory.max(total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_refused = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements || maximum.is_some_and(|max| desired > max) {
            self.table_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_refused = true;
        Ok(())
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances.saturating_mul(4)
    }

    fn memories(&self) -> usize {
        self.instances
    }
}

/// A bounded in-memory sink for stdout or stderr.
///
/// Unlike wasmtime-wasi's `MemoryOutputPipe`, which traps once full, it keeps the first
/// `capacity` bytes and silently counts the rest, so a chatty plugin is not failed for logging.
#[derive(Debug, Clone)]
pub(super) struct Capture(Arc<Mutex<CaptureBuffer>>);

/// The captured bytes and how many were dropped.
#[derive(Debug, Default)]
pub(super) struct CaptureBuffer {
    /// At most `capacity` bytes.
    pub(super) bytes: Vec<u8>,
    /// The most to keep.
    capacity: usize,
    /// Bytes written after the buffer was full.
    pub(super) dropped: u64,
}

impl Capture {
    /// An empty capture keeping at most `capacity` bytes.
    fn new(capacity: usize) -> Capture {
        Capture(Arc::new(Mutex::new(CaptureBuffer {
            bytes: Vec::new(),
            capacity,
            dropped: 0,
        })))
    }

    /// Appends what fits and counts the rest.
    fn push(&self, data: &[u8]) {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let room = buffer.capacity.saturating_sub(buffer.bytes.len());
        let kept = room.min(data.len());
        buffer.bytes.extend_from_slice(&data[..kept]);
        buffer.dropped = buffer.dropped.saturating_add((data.len() - kept) as u64);
    }

    /// Takes the captured text, leaving the buffer empty.
    pub(super) fn take(&self) -> (String, u64) {
        let mut buffer = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let text = String::from_utf8_lossy(&buffer.bytes).into_owned();
        let dropped = buffer.dropped;
        buffer.bytes.clear();
        buffer.dropped = 0;
        (text, dropped)
    }
}

/// How much a guest may write in one `write` call (WASI streams' usual permit).
const WRITE_PERMIT: usize = 64 * 1024;

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
