//! The crate's error type.

use crate::model::{CustomerId, MoneyError, ValidationError};

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in domain words. Callers branch on the variant; the message is for people.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input failed validation; every offending field is listed.
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    /// No tenant has this slug.
    #[error("tenant '{0}' not found")]
    TenantNotFound(String),
    /// A tenant with this slug exists already.
    #[error("tenant '{0}' already exists")]
    TenantExists(String),
    /// The entity does not exist (in this tenant).
    #[error("{entity} {id} not found")]
    NotFound {
        /// `customer`, `interaction`, `pipeline`, `deal`, ...
        entity: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The entity changed since the caller read it.
    #[error(
        "{entity} {id} was changed by someone else: you sent version {expected}, it is now at version {actual}; read it again and retry"
    )]
    Conflict {
        /// Entity kind.
        entity: &'static str,
        /// Its id.
        id: String,
        /// The version the caller expected.
        expected: u64,
        /// The stored version.
        actual: u64,
    },
    /// A unique value (email, phone, external id, pipeline name) belongs to another entity.
    #[error("{field} '{value}' already belongs to {existing}")]
    Duplicate {
        /// The unique field.
        field: &'static str,
        /// Its value.
        value: String,
        /// Who has it, e.g. `customer 0190...`.
        existing: String,
    },
    /// A pipeline that still has deals cannot be deleted.
    #[error("pipeline {id} still has {deals} deal(s): move or erase them before deleting it")]
    PipelineNotEmpty {
        /// The pipeline.
        id: String,
        /// How many deals it has.
        deals: u64,
    },
    /// An idempotency key was used before with a different request.
    #[error(
        "idempotency key '{0}' was already used for a different request: use a new key for a new request"
    )]
    IdempotencyKeyReused(String),
    /// Amounts in different currencies were combined, or overflowed.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// A cursor that this store did not issue for this query.
    #[error("invalid cursor: pass back the next_cursor of the previous page unchanged")]
    BadCursor,
    /// The data file was written by a newer version of Kith.
    #[error(
        "the data file was written by a newer Kith (schema version {found}; this build supports up to {supported}): upgrade kith to open it"
    )]
    SchemaTooNew {
        /// Version in the file.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
    /// The data file is from an older version that this build cannot migrate.
    #[error(
        "the data file has schema version {found}, which this build cannot migrate (it reads {supported}): open it with an older kith and export it"
    )]
    SchemaTooOld {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// Another process has the data directory open.
    #[error("the data directory {0} is in use by another kith process")]
    Locked(String),
    /// The storage engine failed (I/O, corruption).
    #[error("storage error: {0}")]
    Storage(String),
    /// Stored bytes could not be decoded: the file is damaged.
    #[error("corrupt record in {table}: {detail}")]
    Corrupt {
        /// Which table.
        table: &'static str,
        /// What failed.
        detail: String,
    },
    /// An installed plugin version cannot be removed while a tenant uses it.
    #[error("plugin version {hash} is enabled for {tenants}; disable it there first")]
    PluginInUse {
        /// The version's hash.
        hash: String,
        /// The tenants that have it enabled, comma-separated.
        tenants: String,
    },
    /// Another component is installed under this plugin id and version: an installed version
    /// is bound to its bytes, and a new build must carry a new version.
    #[error(
        "{id} {version} is already installed with other bytes (sha256 {hash}); give the new build a new version"
    )]
    PluginVersionTaken {
        /// The plugin id.
        id: String,
        /// The version.
        version: String,
        /// The hash of the component installed under it.
        hash: String,
    },
    /// A plugin could not be loaded or a call of it failed.
    #[error(transparent)]
    Plugin(#[from] crate::plugin::PluginFailure),
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
    /// The store is shutting down and accepts no more writes.
    #[error("the store is closed")]
    Closed,
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// A stable machine-readable code for this error (used by the CLI and, later, the HTTP API).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_input",
            Self::TenantNotFound(_) => "tenant_not_found",
            Self::TenantExists(_) => "tenant_exists",
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "version_conflict",
            Self::Duplicate { .. } => "duplicate",
            Self::PipelineNotEmpty { .. } => "pipeline_not_empty",
            Self::IdempotencyKeyReused(_) => "idempotency_key_reused",
            Self::Money(_) => "money",
            Self::BadCursor => "bad_cursor",
            Self::SchemaTooNew { .. } => "schema_too_new",
            Self::SchemaTooOld { .. } => "schema_too_old",
            Self::Locked(_) => "locked",
            Self::Storage(_) => "storage",
            Self::Corrupt { .. } => "corrupt",
            Self::PluginInUse { .. } => "plugin_in_use",
            Self::PluginVersionTaken { .. } => "plugin_version_taken",
            Self::Plugin(f) => f.code(),
            Self::PluginSuspended { .. } => "plugin_suspended",
            Self::PopulationFailed { .. } => "population_failed",
            Self::PluginMissing { .. } => "plugin_missing",
            Self::Closed => "closed",
            Self::Io { .. } => "io",
        }
    }

    pub(crate) fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    pub(crate) fn duplicate_customer(
        field: &'static str,
        value: &str,
        existing: CustomerId,
    ) -> Self {
        Self::Duplicate {
            field,
            value: value.to_owned(),
            existing: format!("customer {existing}"),
        }
    }
}
