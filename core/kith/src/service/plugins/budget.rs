//! What one tenant's plugins may make the host do: ceilings over every per-call budget, and
//! budgets of the writes plugins cause.
//!
//! - **Ceilings.** A tenant may lower its plugins' budgets (fuel, deadline, memory) but never
//!   raise them past the host's ceilings; an override above one is refused with the ceiling in
//!   the error, and a ceiling lowered later clamps what is stored.
//! - **Chains.** An event records how many plugin reactions led to it ([`Event::depth`]). A
//!   plugin's actions in reaction to events of depth `d` get depth `d + 1`; past
//!   [`WriteBudget::max_chain_depth`] they are refused, so two plugins that react to each other
//!   stop after a few rounds instead of writing forever.
//! - **Rate.** A tenant's plugins may apply at most [`WriteBudget::per_tenant_per_minute`]
//!   actions a minute (a token bucket refilled continuously); the actions of a call that would
//!   exceed it are refused.
//!
//! A refused call keeps its score or segments; only its actions are dropped, counted per
//! tenant, plugin and cause ([`RefusedActions`]), shown in the plugin's status and metrics.
//!
//! [`Event::depth`]: crate::model::Event

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::model::{FieldError, LimitOverrides, TenantSlug, ValidationError};
use crate::plugin::Limits;

/// One MiB.
const MIB: u64 = 1 << 20;

/// The most a tenant's overrides may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ceilings {
    /// Per-customer and webhook calls.
    pub call: Limits,
    /// The population step.
    pub population: Limits,
}

impl Default for Ceilings {
    /// Per call: 100 M fuel, 1 s, 64 MiB. Population step: 50 G fuel, 60 s, 256 MiB. Input and
    /// output budgets are the defaults' (tenants cannot change them).
    fn default() -> Self {
        Ceilings {
            call: Limits {
                fuel: 100_000_000,
                deadline: Duration::from_secs(1),
                memory_bytes: 64 * MIB,
                ..Limits::default()
            },
            population: Limits {
                fuel: 50_000_000_000,
                deadline: Duration::from_secs(60),
                memory_bytes: 256 * MIB,
                ..Limits::population()
            },
        }
    }
}

impl Ceilings {
    /// The budgets of a call: `base` with `overrides`, none above the ceiling (nor above
    /// `memory_cap`, the size of an instance slot).
    pub fn apply(
        &self,
        base: Limits,
        overrides: &LimitOverrides,
        population: bool,
        memory_cap: u64,
    ) -> Limits {
        let ceiling = if population {
            self.population
        } else {
            self.call
        };
        Limits {
            fuel: overrides.fuel.unwrap_or(base.fuel).min(ceiling.fuel),
            deadline: overrides
                .deadline_ms
                .map_or(base.deadline, Duration::from_millis)
                .min(ceiling.deadline),
            memory_bytes: overrides
                .memory_bytes
                .unwrap_or(base.memory_bytes)
                .min(ceiling.memory_bytes)
                .min(memory_cap),
            output_bytes: base.output_bytes.min(ceiling.output_bytes),
            input_bytes: base.input_bytes.min(ceiling.input_bytes),
            ..base
        }
    }

    /// Refuses overrides above the ceilings, naming each field (`limits.fuel`,
    /// `population_limits.deadline_ms`) with the ceiling.
    pub fn check(
        &self,
        limits: &LimitOverrides,
        population: &LimitOverrides,
    ) -> Result<(), ValidationError> {
        let mut errors = Vec::new();
        for (prefix, o, c) in [
            ("limits", limits, &self.call),
            ("population_limits", population, &self.population),
        ] {
            let deadline_ms = u64::try_from(c.deadline.as_millis()).unwrap_or(u64::MAX);
            for (field, value, max) in [
                ("fuel", o.fuel, c.fuel),
                ("deadline_ms", o.deadline_ms, deadline_ms),
                ("memory_bytes", o.memory_bytes, c.memory_bytes),
            ] {
                match value {
                    Some(0) => errors.push(FieldError {
                        field: format!("{prefix}.{field}"),
                        expected: "a positive number (leave it out for the default)".into(),
                    }),
                    Some(v) if v > max => errors.push(FieldError {
                        field: format!("{prefix}.{field}"),
                        expected: format!("at most {max} (the host's ceiling), not {v}"),
                    }),
                    _ => {}
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { errors })
        }
    }
}

/// The budgets a call runs with, as the plugin's status shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Budgets {
    /// Instructions.
    pub fuel: u64,
    /// Wall-clock deadline, in milliseconds.
    pub deadline_ms: u64,
    /// Linear memory, in bytes.
    pub memory_bytes: u64,
    /// Encoded input, in bytes.
    pub input_bytes: u64,
    /// Encoded output, in bytes.
    pub output_bytes: u64,
}

impl From<Limits> for Budgets {
    fn from(l: Limits) -> Self {
        Budgets {
            fuel: l.fuel,
            deadline_ms: u64::try_from(l.deadline.as_millis()).unwrap_or(u64::MAX),
            memory_bytes: l.memory_bytes,
            input_bytes: l.input_bytes,
            output_bytes: l.output_bytes,
        }
    }
}

/// Budgets of the writes plugins cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteBudget {
    /// The deepest chain of plugin reactions whose actions are applied (default 4).
    pub max_chain_depth: u8,
    /// Actions a tenant's scorers and segmenters may apply per minute (default 100 000).
    pub per_tenant_per_minute: u32,
}

impl Default for WriteBudget {
    fn default() -> Self {
        WriteBudget {
            max_chain_depth: 4,
            per_tenant_per_minute: 100_000,
        }
    }
}

/// Why a call's actions were not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The chain of plugin reactions that led to the call is too deep.
    ChainDepth,
    /// The tenant's plugins used up their writes for this minute.
    WriteBudget,
}

/// Actions refused for one plugin of one tenant since the host started, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RefusedActions {
    /// Refused because the chain of plugin reactions was deeper than the host allows.
    pub chain_depth: u64,
    /// Refused because the tenant's plugins had used their writes for the minute.
    pub write_budget: u64,
}

/// A tenant's write tokens.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The host's write accounting: a token bucket per tenant and refusal counters.
#[derive(Debug, Default)]
pub(super) struct Writes {
    buckets: Mutex<HashMap<TenantSlug, Bucket>>,
    refused: Mutex<HashMap<(TenantSlug, String), RefusedActions>>,
}

impl Writes {
    /// Admits `actions` actions of `plugin` at chain `depth` for `tenant`, or says why not (and
    /// counts the refusal).
    pub(super) fn admit(
        &self,
        budget: &WriteBudget,
        tenant: &TenantSlug,
        plugin: &str,
        depth: u8,
        actions: usize,
    ) -> Result<(), Refusal> {
        if actions == 0 {
            return Ok(());
        }
        let refusal = if depth > budget.max_chain_depth {
            Some(Refusal::ChainDepth)
        } else if !self.take(budget, tenant, actions) {
            Some(Refusal::WriteBudget)
        } else {
            None
        };
        let Some(refusal) = refusal else {
            return Ok(());
        };
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        let counts = refused
            .entry((tenant.clone(), plugin.to_owned()))
            .or_default();
        let n = actions as u64;
        match refusal {
            Refusal::ChainDepth => counts.chain_depth += n,
            Refusal::WriteBudget => counts.write_budget += n,
        }
        Err(refusal)
    }

    /// Takes `n` tokens from the tenant's bucket if it has them.
    fn take(&self, budget: &WriteBudget, tenant: &TenantSlug, n: usize) -> bool {
        let capacity = f64::from(budget.per_tenant_per_minute);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(tenant.clone()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * capacity / 60.0;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.at = now;
        let n = n as f64;
        if bucket.tokens >= n {
            bucket.tokens -= n;
            true
        } else {
            false
        }
    }

    /// The refusals of one plugin of one tenant.
    pub(super) fn refused(&self, tenant: &TenantSlug, plugin: &str) -> RefusedActions {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.clone(), plugin.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// Every (tenant, plugin) with refusals.
    pub(super) fn all_refused(&self) -> Vec<(TenantSlug, String, RefusedActions)> {
        let mut all: Vec<_> = self
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|((t, p), r)| (t.clone(), p.clone(), *r))
            .collect();
        all.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(s: &str) -> TenantSlug {
        TenantSlug::parse(s).unwrap()
    }

    #[test]
    fn overrides_above_a_ceiling_are_refused_with_the_ceiling() {
        let c = Ceilings::default();
        let err = c
            .check(
                &LimitOverrides {
                    fuel: Some(100_000_001),
                    deadline_ms: Some(30_000),
                    memory_bytes: Some(MIB),
                },
                &LimitOverrides {
                    deadline_ms: Some(30_000),
                    ..LimitOverrides::default()
                },
            )
            .unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limits.fuel", "limits.deadline_ms"]);
        assert!(err.errors[1].expected.contains("at most 1000"), "{err:?}");
    }

    #[test]
    fn applied_budgets_never_exceed_the_ceiling_even_if_stored_above_it() {
        let c = Ceilings::default();
        let stored = LimitOverrides {
            fuel: Some(u64::MAX),
            deadline_ms: Some(u64::MAX),
            memory_bytes: Some(u64::MAX),
        };
        let call = c.apply(Limits::default(), &stored, false, 256 * MIB);
        assert_eq!(
            (call.fuel, call.deadline, call.memory_bytes),
            (c.call.fuel, c.call.deadline, c.call.memory_bytes)
        );
        let lowered = c.apply(
            Limits::default(),
            &LimitOverrides {
                fuel: Some(5),
                ..LimitOverrides::default()
            },
            false,
            256 * MIB,
        );
        assert_eq!(lowered.fuel, 5);
        let population = c.apply(
            Limits::population(),
            &LimitOverrides::default(),
            true,
            32 * MIB,
        );
        assert_eq!(population.memory_bytes, 32 * MIB, "capped by the slot size");
    }

    #[test]
    fn chains_past_the_maximum_depth_are_refused_and_counted() {
        let w = Writes::default();
        let budget = WriteBudget::default();
        let t = tenant("acme");
        assert!(w.admit(&budget, &t, "p", 4, 3).is_ok());
        assert_eq!(w.admit(&budget, &t, "p", 5, 3), Err(Refusal::ChainDepth));
        assert_eq!(w.refused(&t, "p").chain_depth, 3);
        assert_eq!(w.refused(&tenant("other"), "p"), RefusedActions::default());
    }

    #[test]
    fn a_tenant_over_its_write_budget_is_refused_and_another_is_not() {
        let w = Writes::default();
        let budget = WriteBudget {
            max_chain_depth: 4,
            per_tenant_per_minute: 10,
        };
        let (a, b) = (tenant("a"), tenant("b"));
        assert!(w.admit(&budget, &a, "p", 1, 8).is_ok());
        assert_eq!(w.admit(&budget, &a, "p", 1, 8), Err(Refusal::WriteBudget));
        assert!(w.admit(&budget, &b, "p", 1, 8).is_ok());
        assert_eq!(w.refused(&a, "p").write_budget, 8);
        assert_eq!(w.all_refused().len(), 1);
    }
}
