//! API tokens: `kith_<id>_<secret>`, where the id is public (it names the token in lists and
//! revocations) and the secret is 256 random bits. Only the SHA-256 of the secret is stored, and it
//! is compared in constant time.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::model::{Actor, TenantSlug, Timestamp, ValidationError};
use crate::store::{Error, Result};
use crate::store::{IdempotencyKey, Once, Page, PageRequest, Store, TokenRecord, TokenScope};

/// Every token starts with this, so leaked tokens are easy to recognise and scan for.
pub const PREFIX: &str = "kith_";

/// A new token's text (shown once) and what was stored for it.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The whole token, to hand to the client. Never stored, never logged.
    pub secret: Option<String>,
    /// The stored record (without the secret).
    pub record: TokenRecord,
}

/// Who a request comes from, once its token is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's id (`env` for the `KITH_ADMIN_TOKEN` one).
    pub token_id: String,
    /// What it may do.
    pub scope: TokenScope,
    /// Whether it may only read.
    pub read_only: bool,
}

impl Principal {
    /// Whether this principal manages tenants and tokens.
    pub fn is_admin(&self) -> bool {
        self.scope == TokenScope::Admin
    }

    /// Whether this principal may see `tenant`'s data.
    pub fn can_see(&self, tenant: &TenantSlug) -> bool {
        match self.scope.tenant() {
            None => true,
            Some(t) => t == tenant,
        }
    }

    /// The actor recorded in the event log for this principal's changes: the user a user key
    /// acts as, else the token.
    pub fn actor(&self) -> Actor {
        match &self.scope {
            TokenScope::User { user, .. } => Actor::new(format!("user:{user}")),
            _ => Actor::new(format!("token:{}", self.token_id)),
        }
    }
}

/// SHA-256 of `text`.
pub fn hash(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Compares two hashes in time independent of where they differ.
pub fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Splits `kith_<id>_<secret>` into id and secret.
fn parse(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && secret.len() == 43;
    ok.then_some((id, secret))
}

/// Creates a token for `scope`. With an idempotency key, a retry returns the first record and no
/// secret (the secret is shown once and never stored).
pub fn create(
    store: &dyn Store,
    scope: TokenScope,
    read_only: bool,
    name: Option<String>,
    key: Option<&IdempotencyKey>,
) -> Result<NewToken> {
    let name = match name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(n) if n.chars().count() <= 100 && !n.chars().any(char::is_control) => {
            Some(n.to_owned())
        }
        Some(_) => {
            return Err(ValidationError::field("name", "a label of at most 100 characters").into());
        }
    };
    if let TokenScope::User { tenant, user } = &scope {
        match store.user(tenant, *user) {
            Ok(Some(u)) if u.active => {}
            Ok(Some(_)) => {
                return Err(ValidationError::field(
                    "user",
                    "an active user: this one is deactivated",
                )
                .into());
            }
            Ok(None) => return Err(Error::not_found("user", user)),
            Err(e) => return Err(e),
        }
    }
    if read_only && scope == TokenScope::Admin {
        return Err(ValidationError::field(
            "read_only",
            "false for admin tokens (read-only tokens are tenant keys)",
        )
        .into());
    }
    let id_bytes: [u8; 8] = rand::random();
    let id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let secret_bytes: [u8; 32] = rand::random();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes);
    let record = TokenRecord {
        id: id.clone(),
        hash: hash(&secret),
        scope,
        read_only,
        name,
        created_at: Timestamp::now(),
    };
    let Once { value, replayed } = store.create_token(record, key)?;
    Ok(NewToken {
        secret: (!replayed).then(|| format!("{PREFIX}{id}_{secret}")),
        record: value,
    })
}

/// A page of tokens, by id.
pub fn list(store: &dyn Store, page: &PageRequest) -> Result<Page<TokenRecord>> {
    super::page_of(
        store.tokens()?,
        |t| t.id.as_str(),
        super::scope::TOKENS,
        page,
    )
}

/// Revokes a token by id.
pub fn revoke(store: &dyn Store, id: &str) -> Result<TokenRecord> {
    store.revoke_token(id)
}

/// Creates the first admin token when the store has none; returns its text (to print once).
pub fn bootstrap_admin(store: &dyn Store) -> Result<Option<String>> {
    if store.tokens()?.iter().any(|t| t.scope == TokenScope::Admin) {
        return Ok(None);
    }
    let t = create(
        store,
        TokenScope::Admin,
        false,
        Some("bootstrap".into()),
        None,
    )?;
    Ok(t.secret)
}

/// The principal a bearer token stands for, or `None` when it is not a valid token. `env_admin` is
/// the hash of the `KITH_ADMIN_TOKEN` value, when one was given.
pub fn authenticate(
    store: &dyn Store,
    token: &str,
    env_admin: Option<&[u8; 32]>,
) -> Result<Option<Principal>> {
    match authenticate_without_blocking(store, token, env_admin) {
        Some(decided) => Ok(decided),
        None => authenticate_from_store(store, token),
    }
}

/// The rest of [`authenticate`] once [`authenticate_without_blocking`] could not decide: the
/// token is well formed and not cached, so the store is asked.
pub fn authenticate_from_store(store: &dyn Store, token: &str) -> Result<Option<Principal>> {
    let Some((id, secret)) = parse(token) else {
        return Ok(None);
    };
    Ok(store.token(id)?.and_then(|record| check(&record, secret)))
}

/// [`authenticate`] when it can be answered without waiting for the store (the operator's
/// token, a malformed one, or one the store has cached); `None` when the store must be asked.
pub fn authenticate_without_blocking(
    store: &dyn Store,
    token: &str,
    env_admin: Option<&[u8; 32]>,
) -> Option<Option<Principal>> {
    if let Some(admin) = env_admin
        && constant_time_eq(&hash(token), admin)
    {
        return Some(Some(Principal {
            token_id: "env".into(),
            scope: TokenScope::Admin,
            read_only: false,
        }));
    }
    let Some((id, secret)) = parse(token) else {
        return Some(None);
    };
    let record = store.cached_token(id)?;
    Some(check(&record, secret))
}

/// The principal of `record` if `secret` is its secret.
fn check(record: &TokenRecord, secret: &str) -> Option<Principal> {
    constant_time_eq(&hash(secret), &record.hash).then(|| Principal {
        token_id: record.id.clone(),
        scope: record.scope.clone(),
        read_only: record.read_only,
    })
}

/// Checks a token text given by an operator (`KITH_ADMIN_TOKEN`): long enough to be a secret.
pub fn check_operator_token(token: &str) -> Result<[u8; 32]> {
    if token.trim().len() < 32 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Invalid(ValidationError::field(
            "KITH_ADMIN_TOKEN",
            "at least 32 characters without spaces (e.g. the output of `openssl rand -hex 32`)",
        )));
    }
    Ok(hash(token))
}
