//! Logs on stderr through tracing, filtered by `KITH_LOG` (default `warn`).

use tracing_subscriber::EnvFilter;

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Format {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber. A bad `KITH_LOG` falls back to `warn` with a warning.
pub(super) fn init(format: Format) {
    let (filter, bad) = match std::env::var("KITH_LOG") {
        Ok(spec) => match EnvFilter::try_new(&spec) {
            Ok(f) => (f, None),
            Err(e) => (
                EnvFilter::new("warn"),
                Some(format!("KITH_LOG={spec}: {e}")),
            ),
        },
        Err(_) => (EnvFilter::new("warn"), None),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        Format::Human => builder.try_init(),
        Format::Json => builder.json().try_init(),
    };
    if installed.is_err() {
        eprintln!("warning: logging was already set up");
    }
    if let Some(bad) = bad {
        eprintln!("warning: ignoring {bad}; logging at warn");
    }
}
