//! Instance slots and who may hold them.
//!
//! The pooling allocator has a fixed number of instance slots. A call takes one for its whole
//! run, so without shares one tenant's slow calls (32 dry runs of a looping plugin) could hold
//! every slot and every other tenant's webhooks and scoring would find none. Each tenant may hold
//! at most `per_tenant` slots at once, and each plugin (by id, across tenants) at most
//! `per_plugin`; a call over its share waits for one of its own calls to end, never for another
//! tenant's. Calls without a tenant (the local runner, tests) only count against the total.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::PluginFailure;
use super::error::SlotScope;

/// How many slots there are and how many one tenant or one plugin may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shares {
    /// Slots in all.
    pub(super) total: u32,
    /// Most slots one tenant may hold at once.
    pub(super) per_tenant: u32,
    /// Most slots one plugin id may hold at once, over every tenant.
    pub(super) per_plugin: u32,
}

/// A counting semaphore over the pooling allocator's instance slots with per-tenant and
/// per-plugin shares. More callers than slots queue (briefly) instead of failing.
#[derive(Debug)]
pub(super) struct Slots {
    state: Mutex<State>,
    freed: Condvar,
    shares: Shares,
}

/// Slots in use, in all and by holder, and how many threads wait on `freed`.
///
/// A holder's entry is removed when its count drops to zero, so the maps hold only current
/// holders (at most `total` entries each).
#[derive(Debug, Default)]
struct State {
    in_use: u32,
    tenants: HashMap<String, u32>,
    plugins: HashMap<String, u32>,
    /// Threads in `take` or `wait_for` waiting for a change: without any, a change wakes no one
    /// (a `notify_all` is a system call even when nobody waits).
    waiting: u32,
}

impl State {
    /// Counts one more slot held by `key`, allocating the key only for a new holder.
    fn hold(map: &mut HashMap<String, u32>, key: &str) {
        match map.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                map.insert(key.to_owned(), 1);
            }
        }
    }

    /// Counts one slot fewer held by `key`, forgetting a holder that holds none.
    fn release(map: &mut HashMap<String, u32>, key: &str) {
        if let Some(n) = map.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                map.remove(key);
            }
        }
    }
}

impl State {
    /// Why `tenant` may not take a slot for `plugin` now, or `None` when it may.
    fn blocked(&self, shares: &Shares, tenant: Option<&str>, plugin: &str) -> Option<SlotScope> {
        if self.in_use >= shares.total {
            return Some(SlotScope::Host);
        }
        if let Some(t) = tenant
            && self.tenants.get(t).copied().unwrap_or(0) >= shares.per_tenant
        {
            return Some(SlotScope::Tenant);
        }
        if tenant.is_some() && self.plugins.get(plugin).copied().unwrap_or(0) >= shares.per_plugin {
            return Some(SlotScope::Plugin);
        }
        None
    }
}

/// A taken slot; dropping it frees the slot.
#[derive(Debug)]
pub(super) struct Slot<'a> {
    slots: &'a Slots,
    /// The tenant and plugin it counts against; `None` for a call without a tenant.
    holder: Option<(&'a str, &'a str)>,
}

impl Slots {
    /// Slots shared as `shares` says (each share at least 1, at most the total).
    pub(super) fn new(shares: Shares) -> Self {
        let total = shares.total.max(1);
        Self {
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
            shares: Shares {
                total,
                per_tenant: shares.per_tenant.clamp(1, total),
                per_plugin: shares.per_plugin.clamp(1, total),
            },
        }
    }

    /// The shares in force.
    pub(super) fn shares(&self) -> Shares {
        self.shares
    }

    /// Takes a slot for `plugin`, on behalf of `tenant` when there is one, waiting at most
    /// `patience` for the host, the tenant's or the plugin's share to have room.
    pub(super) fn take<'a>(
        &'a self,
        tenant: Option<&'a str>,
        plugin: &'a str,
        patience: Duration,
    ) -> Result<Slot<'a>, PluginFailure> {
        let start = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(scope) = state.blocked(&self.shares, tenant, plugin) {
            let waited = start.elapsed();
            if waited >= patience {
                return Err(PluginFailure::Busy {
                    slots: match scope {
                        SlotScope::Host => self.shares.total,
                        SlotScope::Tenant => self.shares.per_tenant,
                        SlotScope::Plugin => self.shares.per_plugin,
                    },
                    waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                    scope,
                });
            }
            state.waiting += 1;
            state = self
                .freed
                .wait_timeout(state, patience - waited)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.waiting -= 1;
        }
        state.in_use += 1;
        let holder = tenant.map(|t| (t, plugin));
        if let Some((t, p)) = holder {
            State::hold(&mut state.tenants, t);
            State::hold(&mut state.plugins, p);
        }
        // Watchers of the usage (see `wait_for`) learn of the new holder.
        if state.waiting > 0 {
            self.freed.notify_all();
        }
        Ok(Slot {
            slots: self,
            holder,
        })
    }

    /// Waits until at least `n` slots are in use (by `tenant`, or in all), or `timeout` passes;
    /// returns whether they are.
    pub(super) fn wait_for(&self, tenant: Option<&str>, n: u32, timeout: Duration) -> bool {
        let used = |s: &State| match tenant {
            Some(t) => s.tenants.get(t).copied().unwrap_or(0),
            None => s.in_use,
        };
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.waiting += 1;
        let (mut state, _) = self
            .freed
            .wait_timeout_while(state, timeout, |s| used(s) < n)
            .unwrap_or_else(PoisonError::into_inner);
        state.waiting -= 1;
        used(&state) >= n
    }

    /// Slots in use now: in all, and by the tenant given.
    pub(super) fn in_use(&self, tenant: Option<&str>) -> u32 {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match tenant {
            Some(t) => state.tenants.get(t).copied().unwrap_or(0),
            None => state.in_use,
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = self
            .slots
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.in_use = state.in_use.saturating_sub(1);
        if let Some((tenant, plugin)) = self.holder {
            State::release(&mut state.tenants, tenant);
            State::release(&mut state.plugins, plugin);
        }
        // Waiters are blocked by different shares: wake them all to re-check.
        if state.waiting > 0 {
            self.slots.freed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots() -> Slots {
        Slots::new(Shares {
            total: 4,
            per_tenant: 2,
            per_plugin: 3,
        })
    }

    #[test]
    fn a_tenant_at_its_share_waits_while_another_tenant_gets_a_slot_at_once() {
        let s = slots();
        let a1 = s.take(Some("a"), "p", Duration::ZERO).unwrap();
        let _a2 = s.take(Some("a"), "q", Duration::ZERO).unwrap();
        let busy = s
            .take(Some("a"), "r", Duration::from_millis(1))
            .unwrap_err();
        assert!(
            matches!(
                busy,
                PluginFailure::Busy {
                    slots: 2,
                    scope: SlotScope::Tenant,
                    ..
                }
            ),
            "{busy:?}"
        );
        let _b = s.take(Some("b"), "r", Duration::ZERO).unwrap();
        assert_eq!((s.in_use(None), s.in_use(Some("a"))), (3, 2));
        drop(a1);
        assert_eq!(s.in_use(Some("a")), 1);
        s.take(Some("a"), "r", Duration::ZERO).unwrap();
    }

    #[test]
    fn one_plugin_cannot_hold_every_slot_across_tenants() {
        let s = slots();
        let _held: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|t| s.take(Some(t), "p", Duration::ZERO).unwrap())
            .collect();
        let busy = s.take(Some("d"), "p", Duration::ZERO).unwrap_err();
        assert!(matches!(
            busy,
            PluginFailure::Busy {
                scope: SlotScope::Plugin,
                ..
            }
        ));
        s.take(Some("d"), "other", Duration::ZERO).unwrap();
    }

    #[test]
    fn unaccounted_calls_only_count_against_the_total() {
        let s = slots();
        let _held: Vec<_> = (0..4)
            .map(|_| s.take(None, "p", Duration::ZERO).unwrap())
            .collect();
        let busy = s.take(Some("a"), "q", Duration::ZERO).unwrap_err();
        assert!(matches!(
            busy,
            PluginFailure::Busy {
                slots: 4,
                scope: SlotScope::Host,
                ..
            }
        ));
    }

    #[test]
    fn a_waiting_caller_gets_the_slot_its_own_tenant_frees() {
        let s = slots();
        let a1 = s.take(Some("a"), "p", Duration::ZERO).unwrap();
        let _a2 = s.take(Some("a"), "p", Duration::ZERO).unwrap();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| s.take(Some("a"), "p", Duration::from_secs(60)).is_ok());
            // The waiter is blocked on the tenant's share until a1 goes.
            drop(a1);
            assert!(waiter.join().unwrap());
        });
    }
}
