//! The store's error type: what a read or a write can fail with, in domain words.

use kith_model::{CustomerId, MoneyError, ValidationError};

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
    /// A team that still has members cannot be deleted.
    #[error("team {id} still has {members} member(s): take them out of it before deleting it")]
    TeamNotEmpty {
        /// The team.
        id: String,
        /// How many users belong to it.
        members: u64,
    },
    /// The caller's role does not allow this (a user key acting beyond its user's records).
    #[error("not permitted: {0}")]
    Forbidden(String),
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
    /// The database cannot be reached (or the connection broke mid-request): nothing of the
    /// request was applied unless the error says the outcome is unknown. Retry later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
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
    /// A stable machine-readable code for this error (used by the CLI and the HTTP API).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_input",
            Self::TenantNotFound(_) => "tenant_not_found",
            Self::TenantExists(_) => "tenant_exists",
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "version_conflict",
            Self::Duplicate { .. } => "duplicate",
            Self::PipelineNotEmpty { .. } => "pipeline_not_empty",
            Self::TeamNotEmpty { .. } => "team_not_empty",
            Self::Forbidden(_) => "not_permitted",
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
            Self::Unavailable(_) => "store_unavailable",
            Self::Closed => "closed",
            Self::Io { .. } => "io",
        }
    }

    /// `NotFound` for an entity kind and id.
    pub fn not_found(entity: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            entity,
            id: id.to_string(),
        }
    }

    /// `Duplicate` for a customer's unique field held by `existing`.
    pub fn duplicate_customer(field: &'static str, value: &str, existing: CustomerId) -> Self {
        Self::Duplicate {
            field,
            value: value.to_owned(),
            existing: format!("customer {existing}"),
        }
    }
}
