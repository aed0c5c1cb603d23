//! Logs on stderr through tracing, filtered by `KITH_LOG` (default `info` for `kith serve`, which
//! logs each request, `warn` for the other commands).
//!
//! `kith serve` writes its info and debug lines (one per request) in batches: a line waits at
//! most [`BATCH_INTERVAL`] or until [`BATCH_BYTES`] are pending, and a warning or an error is
//! written at once, after the lines before it. One `write` per request line cost 7 % of the
//! server's CPU under load (a system call, and stderr's lock taken in turn by every worker).

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The longest an info line waits before it is written, once batching is on.
const BATCH_INTERVAL: Duration = Duration::from_millis(50);
/// Pending bytes that are written at once, whatever their age: the most a batch holds.
const BATCH_BYTES: usize = 64 * 1024;

/// Whether info lines are batched ([`batch_info_lines`]); off, every line is written at once.
static BATCHING: AtomicBool = AtomicBool::new(false);
/// Lines not written yet, in order.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Whether log lines are JSON, so that the lines Kith always prints are too.
static JSON: AtomicBool = AtomicBool::new(false);

/// Prints a line an operator always needs (the address, the node, where the admin token
/// went) on stderr whatever the log level: plain, or a JSON object shaped like the JSON log
/// lines (`timestamp`, `level`, `fields.message`, `target`) with `--log-format json`.
pub(super) fn notice(message: &str) {
    line("INFO", message);
}

/// As [`notice`], for the one-line error a failing command ends with.
pub(super) fn error(message: &str) {
    line("ERROR", message);
}

fn line(level: &str, message: &str) {
    flush();
    if JSON.load(Ordering::Relaxed) {
        let line = serde_json::json!({
            "timestamp": crate::model::Timestamp::now().to_string(),
            "level": level,
            "fields": { "message": message },
            "target": "kith",
        });
        eprintln!("{line}");
    } else {
        eprintln!("{message}");
    }
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Format {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber at `default` (an `EnvFilter` spec). A bad `KITH_LOG` falls back to
/// `default` with a warning.
pub(super) fn init(format: Format, default: &str) {
    JSON.store(format == Format::Json, Ordering::Relaxed);
    let (filter, bad) = match std::env::var("KITH_LOG") {
        Ok(spec) => match EnvFilter::try_new(&spec) {
            Ok(f) => (f, None),
            Err(e) => (
                EnvFilter::new(default),
                Some(format!("KITH_LOG={spec}: {e}")),
            ),
        },
        Err(_) => (EnvFilter::new(default), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let installed = match format {
        Format::Human => builder.try_init(),
        Format::Json => builder.json().try_init(),
    };
    if installed.is_err() {
        notice("warning: logging was already set up");
    }
    if let Some(bad) = bad {
        notice(&format!("warning: ignoring {bad}; logging at {default}"));
    }
}

/// From now on, info and debug lines wait up to [`BATCH_INTERVAL`] to be written with others (a
/// thread writes them out); warnings and errors are still written at once. `kith serve` turns
/// it on; a process killed with SIGKILL loses at most the last [`BATCH_INTERVAL`] of info lines.
pub(super) fn batch_info_lines() {
    if BATCHING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("kith-log".into())
        .spawn(|| {
            loop {
                std::thread::sleep(BATCH_INTERVAL);
                flush();
            }
        });
    if spawned.is_err() {
        // Without the thread nothing would write the pending lines: write each at once.
        BATCHING.store(false, Ordering::Release);
    }
}

/// Writes the pending lines. Called by the batching thread, before Kith's own lines, and
/// before the process exits.
pub(super) fn flush() {
    let mut pending = PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    write_out(&mut pending);
}

/// As [`flush`], unless the lines are being written or added to right now: for the panic hook,
/// which may run on the thread that holds them.
pub(super) fn try_flush() {
    if let Ok(mut pending) = PENDING.try_lock() {
        write_out(&mut pending);
    }
}

/// Writes `pending` to stderr and empties it. Called with the lock held, so that lines keep
/// their order. A failed write (stderr closed) drops the lines: there is nowhere to say so.
fn write_out(pending: &mut Vec<u8>) {
    if !pending.is_empty() {
        let _ = std::io::stderr().lock().write_all(pending);
        pending.clear();
        // A burst's buffer is not kept for the quiet times after it.
        pending.shrink_to(BATCH_BYTES);
    }
}

/// The subscriber's writer: stderr, through the batch when batching is on.
struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { urgent: true }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        Line {
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

/// One formatted line (tracing's fmt layer writes each event with one `write_all`).
struct Line {
    /// A warning or an error: written now, with what is pending before it.
    urgent: bool,
}

impl Write for Line {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut pending = PENDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.extend_from_slice(buf);
        if self.urgent || pending.len() >= BATCH_BYTES || !BATCHING.load(Ordering::Acquire) {
            write_out(&mut pending);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
