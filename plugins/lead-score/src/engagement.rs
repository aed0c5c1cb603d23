//! Engagement: decayed points of recent interactions that match the configured signals.

use kith_plugin_sdk::time::MICROS_PER_DAY;
use kith_plugin_sdk::{AttributeValue, CustomerView, Interaction, Reason, Timestamp};

use crate::config::{Rules, Signal};

/// Whether `interaction` is an instance of `signal`.
fn matches(signal: &Signal, interaction: &Interaction) -> bool {
    if interaction.kind != signal.kind
        || signal.direction.is_some_and(|d| d != interaction.direction)
    {
        return false;
    }
    let Some(name) = &signal.attribute else {
        return true;
    };
    let Some(attribute) = interaction.attributes.iter().find(|a| &a.name == name) else {
        return false;
    };
    match (&signal.contains, &attribute.value) {
        (None, _) => true,
        (Some(needle), AttributeValue::Text(text)) => text.to_lowercase().contains(needle),
        (Some(_), _) => false,
    }
}

/// One reason per signal that matched at least one recent interaction; contributions add up to
/// the engagement points earned.
///
/// Each interaction counts for the first signal it matches. One worth `points` that happened
/// `age` days before `now` counts `points * 0.5^(age / half_life_days)` (interactions dated
/// after `now` count as happening now). The decayed total `raw` earns
/// `engagement_points * (1 - e^(-raw / scale))`, shared among signals in proportion to `raw`.
pub fn engagement(rules: &Rules, customer: &CustomerView, now: Timestamp) -> Vec<Reason> {
    // (count, decayed points, newest age in days) per signal.
    let mut per_signal = vec![(0u32, 0.0f64, f64::INFINITY); rules.signals.len()];
    for interaction in &customer.recent_interactions {
        let Some(index) = rules.signals.iter().position(|s| matches(s, interaction)) else {
            continue;
        };
        let age_days =
            now.saturating_sub(interaction.occurred_at).max(0) as f64 / MICROS_PER_DAY as f64;
        let entry = &mut per_signal[index];
        entry.0 += 1;
        entry.1 += rules.signals[index].points * 0.5f64.powf(age_days / rules.half_life_days);
        entry.2 = entry.2.min(age_days);
    }
    let raw: f64 = per_signal.iter().map(|e| e.1).sum();
    if raw <= 0.0 || rules.engagement_points <= 0.0 {
        return Vec::new();
    }
    let earned = rules.engagement_points * (1.0 - (-raw / rules.scale).exp());
    rules
        .signals
        .iter()
        .zip(per_signal)
        .filter(|(_, (count, _, _))| *count > 0)
        .map(|(signal, (count, decayed, newest))| {
            Reason::new(
                format!("engagement.{}", signal.code),
                format!(
                    "{count} x {}, latest {newest:.0} days ago: {decayed:.1} of {} points after decay",
                    signal.code,
                    signal.points * f64::from(count)
                ),
                earned * decayed / raw,
            )
        })
        .collect()
}
