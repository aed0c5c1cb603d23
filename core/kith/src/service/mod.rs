//! The operations Kith offers, over the [`Store`]: what the HTTP API and the CLI call, so that
//! neither reimplements a rule. Each function is one operation: it validates what the model does not,
//! calls the store, and turns "nothing there" into a `NotFound`. Operations over the store alone
//! fail with the store's error; the plugin platform's with [`crate::Error`].
//!
//! The plugin platform's operations (registry, enablement, dispatch, webhooks) are in [`plugins`];
//! the demo tenant of `kith serve --demo` is made by [`demo`].

pub mod access;
pub mod customers;
pub mod deals;
pub mod demo;
pub mod duplicates;
pub mod events;
pub mod export;
pub mod fields;
pub mod import;
pub mod interactions;
pub mod pipelines;
pub mod plugins;
pub mod reports;
pub mod tenants;
pub mod tokens;
pub mod users;

use crate::store::{Cursor, Error, Page, PageRequest, Result};

/// A page of an in-memory list sorted by `key`, continuing after the cursor's key. `scope` tells
/// lists apart so that one list's cursor is refused by another.
pub(crate) fn page_of<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    scope: u8,
    page: &PageRequest,
) -> Result<Page<T>> {
    let after = match &page.after {
        Some(c) => Some(String::from_utf8(c.decode(scope, b"")?).map_err(|_| Error::BadCursor)?),
        None => None,
    };
    let limit = page.limit.clamp(1, 1000);
    let mut rest = items
        .into_iter()
        .filter(|i| after.as_deref().is_none_or(|a| key(i) > a));
    let chunk: Vec<T> = rest.by_ref().take(limit).collect();
    let next = match (rest.next(), chunk.last()) {
        (Some(_), Some(last)) => Some(Cursor::encode(scope, b"", key(last).as_bytes())),
        _ => None,
    };
    Ok(Page { items: chunk, next })
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n thing` or `n things`, with `n` in [`thousands`].
pub fn count(n: u64, singular: &str, plural: &str) -> String {
    format!(
        "{} {}",
        thousands(n),
        if n == 1 { singular } else { plural }
    )
}

/// Cursor scopes of the lists this module pages itself (the store's own lists use 1 to 99).
pub(crate) mod scope {
    /// Tenants, by slug.
    pub(crate) const TENANTS: u8 = 100;
    /// Tokens, by id.
    pub(crate) const TOKENS: u8 = 101;
    /// Probable duplicate pairs, by email likeness.
    pub(crate) const DUPLICATES: u8 = 102;
}

/// The version a change expects: `If-Match`, or the `version` of a GET's answer sent back as the
/// body (which must then agree with `If-Match`).
pub(crate) fn expected_version(if_match: Option<u64>, body: Option<u64>) -> Result<Option<u64>> {
    match (if_match, body) {
        (Some(a), Some(b)) if a != b => Err(crate::model::ValidationError::field(
            "version",
            format!("{a}, the version If-Match names (or leave one of them out)"),
        )
        .into()),
        (a, b) => Ok(a.or(b)),
    }
}
