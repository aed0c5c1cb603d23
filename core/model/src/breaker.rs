//! The circuit breaker: after `threshold` consecutive failures a plugin is suspended for the
//! tenant with an exponential backoff; the first success (a retry after the backoff) closes it.
//!
//! It lives in the model because the store applies it: calls' [`Outcomes`] are folded into the
//! health stored at commit time, so two writers (a rescore job and the dispatcher, say) each
//! add their calls instead of one overwriting the other's count.

use std::time::Duration;

use super::{FailureRecord, PluginHealth, Timestamp};

/// The breaker's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    /// Consecutive failures that suspend a plugin (default 5).
    pub threshold: u32,
    /// The first suspension's length (default 30 s); each further one doubles it.
    pub backoff: Duration,
    /// The longest suspension (default 1 h).
    pub max_backoff: Duration,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            threshold: 5,
            backoff: Duration::from_secs(30),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

impl Breaker {
    /// Whether the plugin may run at `now`.
    pub fn allows(&self, health: &PluginHealth, now: Timestamp) -> bool {
        health.suspended_until.is_none_or(|until| now >= until)
    }

    /// Whether a run at `now` is the single retry after a suspension.
    pub fn is_retry(&self, health: &PluginHealth, now: Timestamp) -> bool {
        health.suspended_until.is_some_and(|until| now >= until)
    }

    /// The health after a successful call.
    pub fn succeeded(&self, health: &PluginHealth) -> PluginHealth {
        PluginHealth {
            last_error: health.last_error.clone(),
            ..PluginHealth::default()
        }
    }

    /// The health after a failed call.
    pub fn failed(&self, health: &PluginHealth, error: FailureRecord) -> PluginHealth {
        let failures = health.consecutive_failures.saturating_add(1);
        let mut next = PluginHealth {
            consecutive_failures: failures,
            suspended_until: None,
            suspensions: health.suspensions,
            last_error: Some(error.clone()),
        };
        if failures >= self.threshold {
            let doublings = health.suspensions.min(20);
            let backoff = self
                .backoff
                .saturating_mul(1 << doublings)
                .min(self.max_backoff);
            let micros = i64::try_from(backoff.as_micros()).unwrap_or(i64::MAX);
            next.suspended_until = Some(Timestamp::from_micros(
                error.at.as_micros().saturating_add(micros),
            ));
            next.suspensions = health.suspensions.saturating_add(1);
        }
        next
    }
}

/// The outcomes of a plugin's calls, in order, kept as the breaker needs them: whether any call
/// succeeded and the failures since the last success. [`Outcomes::apply`] gives the health
/// after them from any earlier health, exactly as applying [`Breaker::succeeded`] and
/// [`Breaker::failed`] call by call would.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// Whether at least one call succeeded.
    succeeded: bool,
    /// The latest failure before the last success: it stays the health's last error.
    failed_before: Option<FailureRecord>,
    /// The failures after the last success, oldest first.
    failures: Vec<FailureRecord>,
}

impl Outcomes {
    /// No calls yet.
    pub fn new() -> Outcomes {
        Outcomes::default()
    }

    /// One successful call.
    pub fn success() -> Outcomes {
        let mut o = Outcomes::new();
        o.succeeded();
        o
    }

    /// One failed call.
    pub fn failure(failure: FailureRecord) -> Outcomes {
        let mut o = Outcomes::new();
        o.failed(failure);
        o
    }

    /// Counts a successful call.
    pub fn succeeded(&mut self) {
        if let Some(last) = self.failures.pop() {
            self.failed_before = Some(last);
        }
        self.failures.clear();
        self.succeeded = true;
    }

    /// Counts a failed call.
    pub fn failed(&mut self, failure: FailureRecord) {
        self.failures.push(failure);
    }

    /// Whether no call was counted.
    pub fn is_empty(&self) -> bool {
        !self.succeeded && self.failures.is_empty()
    }

    /// Whether a call failed after the last success.
    pub fn has_failures(&self) -> bool {
        !self.failures.is_empty()
    }

    /// The health after these calls, starting from `health`.
    pub fn apply(&self, breaker: &Breaker, health: &PluginHealth) -> PluginHealth {
        let mut next = health.clone();
        if self.succeeded {
            if let Some(f) = &self.failed_before {
                next.last_error = Some(f.clone());
            }
            next = breaker.succeeded(&next);
        }
        for f in &self.failures {
            next = breaker.failed(&next, f.clone());
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(at: i64) -> FailureRecord {
        FailureRecord {
            code: "trap".into(),
            message: "plugin trapped".into(),
            at: Timestamp::from_micros(at),
        }
    }

    #[test]
    fn five_consecutive_failures_suspend_with_doubling_backoff() {
        let b = Breaker::default();
        let mut h = PluginHealth::default();
        for i in 0..4 {
            h = b.failed(&h, failure(i));
            assert!(
                h.suspended_until.is_none(),
                "suspended after {} failures",
                i + 1
            );
        }
        h = b.failed(&h, failure(10));
        assert_eq!(h.consecutive_failures, 5);
        assert_eq!(
            h.suspended_until,
            Some(Timestamp::from_micros(10 + 30_000_000))
        );
        assert!(!b.allows(&h, Timestamp::from_micros(11)));
        let retry_at = Timestamp::from_micros(10 + 30_000_000);
        assert!(b.allows(&h, retry_at) && b.is_retry(&h, retry_at));
        // The retry fails: suspended again, twice as long.
        h = b.failed(&h, failure(retry_at.as_micros()));
        assert_eq!(
            h.suspended_until,
            Some(Timestamp::from_micros(retry_at.as_micros() + 60_000_000))
        );
        assert_eq!(h.suspensions, 2);
    }

    #[test]
    fn a_success_closes_the_breaker_and_keeps_the_last_error_visible() {
        let b = Breaker::default();
        let mut h = PluginHealth::default();
        for i in 0..5 {
            h = b.failed(&h, failure(i));
        }
        let ok = b.succeeded(&h);
        assert_eq!(ok.consecutive_failures, 0);
        assert_eq!(ok.suspended_until, None);
        assert_eq!(ok.suspensions, 0);
        assert_eq!(ok.last_error, h.last_error);
    }

    #[test]
    fn backoff_is_capped() {
        let b = Breaker::default();
        let h = PluginHealth {
            consecutive_failures: 100,
            suspensions: 60,
            ..PluginHealth::default()
        };
        let next = b.failed(&h, failure(0));
        assert_eq!(
            next.suspended_until,
            Some(Timestamp::from_micros(3_600_000_000))
        );
    }

    #[test]
    fn outcomes_give_the_health_of_their_calls_applied_one_by_one() {
        let b = Breaker::default();
        let starts = [
            PluginHealth::default(),
            (0..4).fold(PluginHealth::default(), |h, i| b.failed(&h, failure(i))),
            (0..7).fold(PluginHealth::default(), |h, i| b.failed(&h, failure(i))),
        ];
        // Every sequence of up to 8 calls (bit set: failed), from each start.
        for len in 0..=8u32 {
            for bits in 0..(1u32 << len) {
                for start in &starts {
                    let mut one_by_one = start.clone();
                    let mut outcomes = Outcomes::new();
                    for k in 0..len {
                        if bits & (1 << k) != 0 {
                            let f = failure(100 + i64::from(k));
                            one_by_one = b.failed(&one_by_one, f.clone());
                            outcomes.failed(f);
                        } else {
                            one_by_one = b.succeeded(&one_by_one);
                            outcomes.succeeded();
                        }
                    }
                    assert_eq!(outcomes.is_empty(), len == 0);
                    assert_eq!(
                        outcomes.apply(&b, start),
                        one_by_one,
                        "calls {bits:0len$b} (1 = failed, first call rightmost)",
                        len = len as usize
                    );
                }
            }
        }
    }

    #[test]
    fn outcomes_keep_only_the_failures_since_the_last_success() {
        let mut o = Outcomes::new();
        for i in 0..1_000 {
            o.failed(failure(i));
        }
        o.succeeded();
        o.failed(failure(5_000));
        assert_eq!(o.failures.len(), 1);
        assert!(o.has_failures());
    }
}
