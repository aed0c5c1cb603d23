//! The error of a service operation: the store's, a plugin's, or the plugin host's own.

use crate::model::{MoneyError, ValidationError};
use crate::plugin::PluginFailure;
use crate::store::Error as StoreError;

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a service operation. Callers branch on the variant; the message is for
/// people; [`Error::code`] is stable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A read or write of the store failed (invalid input, not found, conflict, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A plugin could not be loaded or a call of it failed.
    #[error(transparent)]
    Plugin(#[from] PluginFailure),
    /// A plugin is suspended for the tenant after repeated failures.
    #[error(
        "plugin {plugin} is suspended for this tenant until {until} after {failures} consecutive failures (last: {last}); an admin can reset it"
    )]
    PluginSuspended {
        /// The plugin's id.
        plugin: String,
        /// When the next retry is allowed.
        until: String,
        /// Consecutive failures.
        failures: u32,
        /// The last failure.
        last: String,
    },
    /// A plugin's population step failed, so it could not model the tenant's customers.
    #[error("the population step of {plugin} failed ({code}): {message}")]
    PopulationFailed {
        /// The plugin's id.
        plugin: String,
        /// The failure's code (`fuel-exhausted`, `trap`, `plugin-error`, ...).
        code: String,
        /// What happened.
        message: String,
    },
    /// A plugin component file that is needed (by the demo tenant) is not there.
    #[error("plugin component {path} is missing; build the reference plugins with: {build}")]
    PluginMissing {
        /// The file that was looked for.
        path: String,
        /// The command that builds it.
        build: String,
    },
}

impl Error {
    /// A stable machine-readable code for this error (used by the CLI and the HTTP API).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Store(e) => e.code(),
            Self::Plugin(f) => f.code(),
            Self::PluginSuspended { .. } => "plugin_suspended",
            Self::PopulationFailed { .. } => "population_failed",
            Self::PluginMissing { .. } => "plugin_missing",
        }
    }

    /// `NotFound` for an entity kind and id.
    pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> Self {
        StoreError::not_found(entity, id).into()
    }

    /// A failure of the storage itself.
    pub(crate) fn storage(detail: impl Into<String>) -> Self {
        StoreError::Storage(detail.into()).into()
    }

    /// The store's error, when that is what this is.
    pub fn as_store(&self) -> Option<&StoreError> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ValidationError> for Error {
    fn from(e: ValidationError) -> Self {
        Self::Store(e.into())
    }
}

impl From<MoneyError> for Error {
    fn from(e: MoneyError) -> Self {
        Self::Store(e.into())
    }
}
