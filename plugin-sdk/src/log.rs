//! Logging to the host (contract 0.2.0): lines a plugin's author reads in `kith plugin run`'s
//! report and an operator in the server's log (target `kith::plugin::log`, debug level).
//!
//! The host keeps the first 64 lines of a call, each cut to 1 KiB, and counts the rest; logging
//! never fails and never changes a call's result. A plugin has no other way to say anything:
//! what it prints to stdout or stderr is captured the same way, but without a level.
//!
//! In native tests (`cargo test`), lines go to a per-thread buffer that
//! [`testing::take_logs`](crate::testing::take_logs) returns.
//!
//! ```
//! kith_plugin_sdk::log::info(&format!("scored {} purchases", 3));
//! let lines = kith_plugin_sdk::testing::take_logs();
//! assert_eq!(lines, [(kith_plugin_sdk::log::Level::Info, "scored 3 purchases".to_owned())]);
//! ```

/// How important a line is.
pub use crate::bindings::host::LogLevel as Level;

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    native::push(level, message);
}

/// Logs `message` at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Where lines go outside WebAssembly: a buffer per thread, for native tests.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native {
    use std::cell::RefCell;

    use super::Level;

    thread_local! {
        static LINES: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    }

    /// Keeps one line.
    pub(crate) fn push(level: Level, message: &str) {
        LINES.with(|lines| lines.borrow_mut().push((level, message.to_owned())));
    }

    /// The lines kept on this thread, oldest first, emptying the buffer.
    pub(crate) fn take() -> Vec<(Level, String)> {
        LINES.with(|lines| std::mem::take(&mut *lines.borrow_mut()))
    }
}
