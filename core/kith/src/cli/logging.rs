//! Logs on stderr through tracing, filtered by `KITH_LOG` (default `info` for `kith serve`, which
//! logs each request, `warn` for the other commands).

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

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
        .with_writer(std::io::stderr)
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
