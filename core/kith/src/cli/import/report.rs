//! The per-row error report and the progress bar, both on stderr.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

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

/// Counts rejected rows and prints one line per error: `row N, column C: reason`.
#[derive(Debug)]
pub(super) struct Report {
    bar: Option<ProgressBar>,
    rejected: u64,
    badly_encoded: u64,
}

impl Report {
    /// A report with a progress bar over `size` bytes when stderr is a terminal.
    pub(super) fn new(size: Option<u64>) -> Self {
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
            bar,
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
        let text = errors
            .iter()
            .map(|e| match &e.column {
                Some(c) => format!("row {line}, column {c}: {}", e.reason),
                None => format!("row {line}: {}", e.reason),
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.print(&text);
    }

    /// Prints a warning line.
    pub(super) fn warn(&self, message: &str) {
        self.print(&format!("warning: {message}"));
    }

    /// Moves the progress bar to `bytes`.
    pub(super) fn progress(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
        }
    }

    /// Removes the progress bar.
    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// Rows rejected so far.
    pub(super) fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Rows rejected because they were not UTF-8.
    pub(super) fn badly_encoded(&self) -> u64 {
        self.badly_encoded
    }

    fn print(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }
}
