//! How the CLI fails: one line on stderr and an exit code, never a backtrace.

use std::io::ErrorKind;

use crate::store::Error as StoreError;

/// Exit code of a usage error (clap's convention).
const USAGE: i32 = 2;
/// Exit code after a panic.
const PANIC: i32 = 101;
/// Exit code when stdout was closed early (`kith export | head`), as if killed by SIGPIPE.
const BROKEN_PIPE: i32 = 141;

/// Replaces the default panic output (message and backtrace) with one line and exit code 101.
/// `println!` panics when stdout is closed (`kith openapi | head`): that exits quietly with 141,
/// as a program killed by SIGPIPE would, not as a bug.
pub(super) fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        // std's wording for print macros that hit a closed pipe.
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(BROKEN_PIPE);
        }
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        super::logging::try_flush();
        eprintln!(
            "error: internal error: {}{place}; this is a bug in kith, please report it",
            one_line(&message)
        );
        std::process::exit(PANIC);
    }));
}

/// Prints a command-line parsing error (or help and version, which clap reports the same way).
pub(super) fn usage(e: &clap::Error) -> i32 {
    use clap::error::ErrorKind as K;
    if matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) || !e.use_stderr() {
        let _ = e.print();
        return 0;
    }
    let rendered = e.render().to_string();
    let mut text = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect::<Vec<_>>()
        .join(" ");
    if !text.starts_with("error:") {
        text = format!("error: {text}");
    }
    eprintln!("{text} (see kith --help)");
    USAGE
}

/// Prints a fatal error as one line and returns the exit code.
pub(super) fn report(e: &anyhow::Error) -> i32 {
    // Printing JSON wraps the io error in serde_json's.
    let broken_pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| c.downcast_ref::<serde_json::Error>()?.io_error_kind())
            == Some(ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return BROKEN_PIPE;
    }
    let mut text = chain_text(e);
    let store = e.downcast_ref::<StoreError>().or_else(|| {
        e.downcast_ref::<crate::Error>()
            .and_then(crate::Error::as_store)
    });
    if let Some(hint) = store.and_then(hint) {
        text.push_str(&hint);
    }
    super::logging::error(&format!("error: {}", one_line(&text)));
    super::Exit::Failed as i32
}

/// The error and its causes joined with `: `, leaving out a cause the text already says (an
/// error that prints its source, like `path: os error`, would otherwise say it twice).
fn chain_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

/// What to do about a store error, where the message alone does not say it.
fn hint(e: &StoreError) -> Option<String> {
    match e {
        StoreError::TenantNotFound(slug) => Some(format!(
            " (see `kith tenant list`, or create it with `kith tenant create {slug}`)"
        )),
        StoreError::Locked(_) => Some(": stop it first, or use another --data-dir".to_owned()),
        _ => None,
    }
}

/// Folds a message onto one line.
fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_stdout_under_json_printing_is_the_sigpipe_status() {
        let json = serde_json::Error::io(std::io::Error::from(ErrorKind::BrokenPipe));
        let e = anyhow::Error::new(json).context("printing");
        assert_eq!(report(&e), BROKEN_PIPE);
        let plain = anyhow::Error::new(std::io::Error::from(ErrorKind::BrokenPipe));
        assert_eq!(report(&plain), BROKEN_PIPE);
    }

    #[test]
    fn an_error_that_prints_its_source_says_it_once() {
        let io = std::io::Error::new(ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::new(StoreError::Io {
            path: "/backups/x".into(),
            source: io,
        });
        assert_eq!(chain_text(&e), "/backups/x: No such file or directory");
        // A context and a cause that says something new are both kept.
        let e = anyhow::Error::new(std::io::Error::other("disk full")).context("cannot write x");
        assert_eq!(chain_text(&e), "cannot write x: disk full");
    }
}
