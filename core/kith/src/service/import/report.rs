//! The per-row error report and the progress: on stderr with a progress bar for the CLI, or
//! collected in an [`ImportProgress`] that an HTTP import job answers from.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Why a row was rejected, in one column (or the row as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RowError {
    column: Option<String>,
    reason: String,
    encoding: bool,
}

impl RowError {
    /// A problem with the value in `column`.
    pub(super) fn at(column: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            column: Some(column.into()),
            reason: reason.into(),
            encoding: false,
        }
    }

    /// A problem with the row as a whole.
    pub(super) fn row(reason: impl Into<String>) -> Self {
        Self {
            column: None,
            reason: reason.into(),
            encoding: false,
        }
    }

    /// Bytes in `column` that are not UTF-8.
    pub(super) fn encoding(column: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            encoding: true,
            ..Self::at(column, reason)
        }
    }
}

/// The most row errors an [`ImportProgress`] keeps (the count goes on).
pub const MAX_KEPT_ERRORS: usize = 1000;

/// One rejected row's error as an HTTP import job lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    /// The row's line in the file (the header is line 1).
    pub line: u64,
    /// The column, when one is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// What is wrong and what was expected.
    pub reason: String,
}

/// The progress of an import, shared with whoever watches it.
#[derive(Debug, Default)]
pub struct ImportProgress {
    bytes_read: AtomicU64,
    rejected: AtomicU64,
    errors: Mutex<Vec<RowProblem>>,
    warnings: Mutex<Vec<String>>,
}

impl ImportProgress {
    /// Bytes of the file read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// Rows rejected so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// The first [`MAX_KEPT_ERRORS`] row errors.
    pub fn errors(&self) -> Vec<RowProblem> {
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Warnings about the file (unknown columns).
    pub fn warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Where a report goes.
#[derive(Debug)]
enum Sink {
    /// Lines on stderr, under a progress bar when stderr is a terminal.
    Terminal(Option<ProgressBar>),
    /// Kept for an HTTP job.
    Shared(Arc<ImportProgress>),
}

/// Counts rejected rows and reports each: `row N, column C: reason`.
#[derive(Debug)]
pub struct Report {
    sink: Sink,
    rejected: u64,
    badly_encoded: u64,
}

impl Report {
    /// A report on stderr, with a progress bar over `size` bytes when stderr is a terminal.
    pub fn terminal(size: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(size.unwrap_or(0));
            let template = if size.is_some() {
                "{bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)"
            } else {
                "{spinner} {bytes} ({bytes_per_sec})"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            sink: Sink::Terminal(bar),
            rejected: 0,
            badly_encoded: 0,
        }
    }

    /// A report kept in `progress`.
    pub fn shared(progress: Arc<ImportProgress>) -> Self {
        Self {
            sink: Sink::Shared(progress),
            rejected: 0,
            badly_encoded: 0,
        }
    }

    /// Reports a rejected row: `line` is its line number in the file.
    pub(super) fn reject(&mut self, line: u64, errors: &[RowError]) {
        self.rejected += 1;
        if errors.iter().any(|e| e.encoding) {
            self.badly_encoded += 1;
        }
        match &self.sink {
            Sink::Terminal(bar) => {
                let text = errors
                    .iter()
                    .map(|e| match &e.column {
                        Some(c) => format!("row {line}, column {c}: {}", e.reason),
                        None => format!("row {line}: {}", e.reason),
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                print(bar.as_ref(), &text);
            }
            Sink::Shared(p) => {
                p.rejected.fetch_add(1, Ordering::Relaxed);
                let mut kept = p.errors.lock().unwrap_or_else(PoisonError::into_inner);
                for e in errors {
                    if kept.len() >= MAX_KEPT_ERRORS {
                        break;
                    }
                    kept.push(RowProblem {
                        line,
                        column: e.column.clone(),
                        reason: e.reason.clone(),
                    });
                }
            }
        }
    }

    /// Reports a warning.
    pub(super) fn warn(&self, message: &str) {
        match &self.sink {
            Sink::Terminal(bar) => print(bar.as_ref(), &format!("warning: {message}")),
            Sink::Shared(p) => {
                let mut w = p.warnings.lock().unwrap_or_else(PoisonError::into_inner);
                if w.len() < MAX_KEPT_ERRORS {
                    w.push(message.to_owned());
                }
            }
        }
    }

    /// Moves the progress to `bytes`.
    pub(super) fn progress(&self, bytes: u64) {
        match &self.sink {
            Sink::Terminal(Some(bar)) => bar.set_position(bytes),
            Sink::Terminal(None) => {}
            Sink::Shared(p) => p.bytes_read.store(bytes, Ordering::Relaxed),
        }
    }

    /// Removes the progress bar.
    pub(super) fn finish(&self) {
        if let Sink::Terminal(Some(bar)) = &self.sink {
            bar.finish_and_clear();
        }
    }

    /// Rows rejected so far.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Rows rejected because they were not UTF-8.
    pub fn badly_encoded(&self) -> u64 {
        self.badly_encoded
    }
}

fn print(bar: Option<&ProgressBar>, text: &str) {
    match bar {
        Some(bar) => bar.suspend(|| eprintln!("{text}")),
        None => eprintln!("{text}"),
    }
}
