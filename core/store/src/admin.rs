//! What the store keeps for running Kith as a server: API tokens, idempotency records and commit
//! notifications.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use kith_model::{Tenant, TenantSlug, Timestamp, UserId};

use crate::Output;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenScope {
    /// Manage tenants and tokens, and everything a tenant key may do in any tenant.
    Admin,
    /// Read and write one tenant's data.
    Tenant(TenantSlug),
    /// Act as one user of a tenant: every request is checked against the user's role.
    User {
        /// The tenant.
        tenant: TenantSlug,
        /// The user.
        user: UserId,
    },
}

impl TokenScope {
    /// The tenant a tenant key or user key belongs to (none for admin tokens).
    pub fn tenant(&self) -> Option<&TenantSlug> {
        match self {
            Self::Admin => None,
            Self::Tenant(t) | Self::User { tenant: t, .. } => Some(t),
        }
    }
}

/// A stored API token. The secret itself is never stored: only its SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public id, part of the token text, used to find the record and to revoke it.
    pub id: String,
    /// SHA-256 of the token's secret part (never shown by the API or the CLI).
    pub hash: [u8; 32],
    /// What it may do.
    pub scope: TokenScope,
    /// Whether it may only read.
    pub read_only: bool,
    /// A label to tell tokens apart (e.g. `shop-sync`).
    pub name: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// The key a client sent with a creating request, and the fingerprint of that request (method,
/// path and body), so that a reused key with a different request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// The client's key (1 to 255 visible ASCII characters).
    pub key: String,
    /// SHA-256 of the request.
    pub fingerprint: [u8; 32],
}

/// A result of an idempotent write: the value, and whether it is the stored result of an earlier
/// request with the same key (nothing was written this time).
#[derive(Debug, Clone, PartialEq)]
pub struct Once<T> {
    /// The result of the first request with this key.
    pub value: T,
    /// True when this request wrote nothing and replays the first one's result.
    pub replayed: bool,
}

impl<T> Once<T> {
    /// A fresh result.
    pub fn fresh(value: T) -> Self {
        Self {
            value,
            replayed: false,
        }
    }
}

/// Facts about one durable commit, handed to commit listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The commit generation (1 for the first commit since the store was opened).
    pub generation: u64,
    /// How many write requests shared the commit (the group-commit batch size).
    pub requests: usize,
    /// How long applying and committing the batch took.
    pub duration: Duration,
    /// The tenants the batch's requests wrote to (each once; requests that failed included).
    pub tenants: Vec<TenantSlug>,
}

/// Called on the committer thread after every durable commit, before any writer of the batch hears
/// back. It must be quick and must not write to the store.
pub type CommitListener = Arc<dyn Fn(&CommitInfo) + Send + Sync>;

/// The result of a request, as an idempotency record keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Stored {
    Tenant(Tenant),
    Outputs(Vec<Output>),
    Token(TokenRecord),
}

/// What the idempotency table stores per key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdempotencyRecord {
    pub(crate) fingerprint: [u8; 32],
    pub(crate) created_at: Timestamp,
    pub(crate) result: Stored,
}
