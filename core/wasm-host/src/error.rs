//! Why loading or calling a plugin failed: one enum with stable codes.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a plugin could not be loaded or a call did not produce a usable result.
///
/// [`PluginFailure::code`] is a stable machine-readable code; the `Display` text is for people.
/// Load-time causes: `NotAComponent`, `TooLarge`, `UnsupportedWit`, `BadManifest`, `TooComplex`.
/// Every other cause comes from one call and never affects the next call or another plugin.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginFailure {
    /// The bytes are not a valid WebAssembly component (a core module, garbage, or invalid).
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// The component is larger than the runtime accepts.
    #[error("plugin is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the bytes offered.
        size: usize,
        /// The configured maximum.
        limit: usize,
    },
    /// The component does not implement a supported world or imports what the host does not provide.
    #[error("unsupported plugin contract: {0}")]
    UnsupportedWit(String),
    /// The manifest is missing, inconsistent with the world, or malformed.
    #[error("bad manifest: {0}")]
    BadManifest(String),
    /// The call used up its instruction budget.
    #[error("fuel budget of {limit} exhausted")]
    FuelExhausted {
        /// The budget the call had.
        limit: u64,
    },
    /// The call ran past its wall-clock deadline.
    #[error("deadline of {} ms exceeded", limit.as_millis())]
    DeadlineExceeded {
        /// The deadline the call had.
        limit: Duration,
    },
    /// The plugin tried to grow its memory (or tables) past the limit and then failed.
    #[error("memory limit of {limit} bytes reached")]
    MemoryLimit {
        /// The linear-memory limit the call had.
        limit: u64,
    },
    /// The plugin trapped: a panic, `unreachable`, a stack overflow, an out-of-bounds access.
    #[error("plugin trapped: {0}")]
    Trap(String),
    /// The input is larger than the call's input budget; the plugin was not run.
    #[error("input is {size} bytes, over the limit of {limit} bytes")]
    InputTooLarge {
        /// Encoded size of the input.
        size: u64,
        /// The budget.
        limit: u64,
    },
    /// The plugin returned more than the call's output budget.
    #[error("output is {size} bytes, over the limit of {limit} bytes")]
    OutputTooLarge {
        /// Encoded size of the output.
        size: u64,
        /// The budget.
        limit: u64,
    },
    /// The plugin ran and returned its own error.
    #[error("plugin reported {kind}: {message}")]
    PluginError {
        /// The plugin's category of the error.
        kind: PluginErrorKind,
        /// The plugin's explanation.
        message: String,
    },
    /// The plugin returned a value the host refuses (NaN score, bad currency, unknown segment, ...).
    #[error("invalid plugin output: {0}")]
    InvalidOutput(String),
    /// The host could not run the call; not the plugin's fault.
    #[error("host could not run the plugin: {0}")]
    Host(String),
    /// Every instance slot the call could use stayed busy while it waited for one: the host's,
    /// or its tenant's or plugin's share of them. Not the plugin's fault, and worth retrying.
    #[error(
        "every one of the {slots} plugin instance slots {scope} stayed busy for {waited_ms} ms; retry shortly"
    )]
    Busy {
        /// Instances that may run at once in the share that was full.
        slots: u32,
        /// How long the call waited.
        waited_ms: u64,
        /// Which share was full.
        scope: SlotScope,
    },
    /// Compiling the component, or checking its configuration schema, needs more time or memory
    /// than the host allows; it is refused rather than allowed to starve the server.
    #[error("plugin is too complex: {0}")]
    TooComplex(String),
    /// The host is shutting down: it refused the call or stopped it midway. Not the plugin's
    /// fault; nothing the call did was applied.
    #[error("the plugin host is stopping")]
    Interrupted,
}

/// Which share of the instance slots a busy call found full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotScope {
    /// Every slot of the host.
    Host,
    /// The slots one tenant may hold at once.
    Tenant,
    /// The slots one plugin may hold at once, over every tenant.
    Plugin,
}

impl fmt::Display for SlotScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Host => "of the host",
            Self::Tenant => "this tenant may hold at once",
            Self::Plugin => "this plugin may hold at once",
        })
    }
}

impl PluginFailure {
    /// Every code [`PluginFailure::code`] can return, in declaration order.
    pub const CODES: [&'static str; 16] = [
        "not-a-component",
        "too-large",
        "unsupported-wit",
        "bad-manifest",
        "fuel-exhausted",
        "deadline-exceeded",
        "memory-limit",
        "trap",
        "input-too-large",
        "output-too-large",
        "plugin-error",
        "invalid-output",
        "host",
        "busy",
        "too-complex",
        "interrupted",
    ];

    /// A stable machine-readable code, e.g. `fuel-exhausted`.
    pub fn code(&self) -> &'static str {
        Self::CODES[self.index()]
    }

    /// The position of this failure's code in [`PluginFailure::CODES`].
    pub(super) fn index(&self) -> usize {
        match self {
            Self::NotAComponent(_) => 0,
            Self::TooLarge { .. } => 1,
            Self::UnsupportedWit(_) => 2,
            Self::BadManifest(_) => 3,
            Self::FuelExhausted { .. } => 4,
            Self::DeadlineExceeded { .. } => 5,
            Self::MemoryLimit { .. } => 6,
            Self::Trap(_) => 7,
            Self::InputTooLarge { .. } => 8,
            Self::OutputTooLarge { .. } => 9,
            Self::PluginError { .. } => 10,
            Self::InvalidOutput(_) => 11,
            Self::Host(_) => 12,
            Self::Busy { .. } => 13,
            Self::TooComplex(_) => 14,
            Self::Interrupted => 15,
        }
    }

    /// Whether the failure is the plugin's doing (as opposed to the host's or the input's).
    ///
    /// A circuit breaker counts these; `InputTooLarge`, `Host`, `Busy` and `Interrupted` say
    /// nothing about the plugin.
    pub fn is_plugin_fault(&self) -> bool {
        !matches!(
            self,
            Self::InputTooLarge { .. } | Self::Host(_) | Self::Busy { .. } | Self::Interrupted
        )
    }
}

/// The category of an error a plugin returns itself (WIT `plugin-error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginErrorKind {
    /// The tenant's configuration could not be used.
    InvalidConfig,
    /// The input could not be used (e.g. a stale or corrupt model).
    InvalidInput,
    /// Any other failure inside the plugin.
    Internal,
}

impl PluginErrorKind {
    /// The kebab-case name, as in the WIT.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidConfig => "invalid-config",
            Self::InvalidInput => "invalid-input",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for PluginErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
