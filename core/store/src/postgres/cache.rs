//! API tokens recently looked up, so that an authenticated request costs one round trip to
//! PostgreSQL (its own query), not two.
//!
//! Only tokens that exist are kept: a guessed id always asks the database, so nobody can fill
//! the cache with junk. A revocation or a tenant's deletion empties the entry on this node at
//! once and on the others through `NOTIFY kith_tokens` / `kith_tenants`; the whole cache is
//! dropped when the listener reconnects (it may have missed notifications) and every entry
//! expires after [`TTL`] in any case, which bounds how long a revoked token can outlive a lost
//! notification.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::TokenRecord;

/// How long an entry is trusted without asking the database again.
pub(super) const TTL: Duration = Duration::from_secs(10);
/// At most this many tokens are kept (a few hundred bytes each).
pub(super) const CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Moves with every invalidation, so that a lookup that raced one does not store what it
    /// read before it.
    epoch: u64,
    entries: HashMap<String, (TokenRecord, Instant)>,
}

impl TokenCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token, if known and fresh.
    pub(super) fn get(&self, id: &str) -> Option<TokenRecord> {
        let inner = self.lock();
        let (record, at) = inner.entries.get(id)?;
        (at.elapsed() < TTL).then(|| record.clone())
    }

    /// The epoch to hand back to [`TokenCache::put`] after reading the database.
    pub(super) fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Keeps what was read from the database, unless something was invalidated since `epoch`.
    pub(super) fn put(&self, epoch: u64, record: TokenRecord) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        if inner.entries.len() >= CAPACITY {
            inner.entries.retain(|_, (_, at)| at.elapsed() < TTL);
            if inner.entries.len() >= CAPACITY {
                inner.entries.clear();
            }
        }
        inner
            .entries
            .insert(record.id.clone(), (record, Instant::now()));
    }

    /// Forgets one token.
    pub(super) fn forget(&self, id: &str) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.entries.remove(id);
    }

    /// Forgets every token.
    pub(super) fn clear(&self) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.entries.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokenScope;

    fn record(id: &str) -> TokenRecord {
        TokenRecord {
            id: id.into(),
            hash: [7; 32],
            scope: TokenScope::Admin,
            read_only: false,
            name: None,
            created_at: kith_model::Timestamp::now(),
        }
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_kept() {
        let cache = TokenCache::default();
        let epoch = cache.epoch();
        cache.forget("a");
        cache.put(epoch, record("a"));
        assert!(cache.get("a").is_none());
        cache.put(cache.epoch(), record("a"));
        assert_eq!(cache.get("a").unwrap().id, "a");
        cache.forget("a");
        assert!(cache.get("a").is_none());
        cache.put(cache.epoch(), record("b"));
        cache.clear();
        assert!(cache.get("b").is_none());
    }

    #[test]
    fn the_cache_never_holds_more_than_its_capacity() {
        let cache = TokenCache::default();
        for i in 0..CAPACITY * 2 + 7 {
            cache.put(cache.epoch(), record(&format!("t{i}")));
            assert!(cache.len() <= CAPACITY);
        }
        assert!(cache.get(&format!("t{}", CAPACITY * 2 + 6)).is_some());
    }
}
