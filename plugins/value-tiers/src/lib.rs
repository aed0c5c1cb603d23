//! Kith reference plugin `kith.value-tiers`: puts each customer into at most one
//! of the segments VIP, gold, silver and bronze by total spend (purchases minus
//! refunds, in the configured currency) against thresholds from the configuration.

use kith_plugin_sdk::{
    CustomerInput, InteractionKind, Manifest, Membership, Money, Plugin, PluginError, Result,
    Segmenter,
};
use serde::Deserialize;

/// JSON Schema of the configuration; thresholds are minor units (cents).
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "currency": { "description": "ISO 4217 currency of spend and thresholds", "type": "string", "pattern": "^[A-Z]{3}$", "default": "USD" },
    "vip":    { "description": "Minimum spend for VIP, in minor units", "type": "integer", "minimum": 0, "default": 500000 },
    "gold":   { "description": "Minimum spend for gold, in minor units", "type": "integer", "minimum": 0, "default": 100000 },
    "silver": { "description": "Minimum spend for silver, in minor units", "type": "integer", "minimum": 0, "default": 25000 },
    "bronze": { "description": "Minimum spend for bronze, in minor units", "type": "integer", "minimum": 0, "default": 1 },
    "net_of_refunds": { "description": "Subtract refunds from purchases", "type": "boolean", "default": true }
  }
}"#;

/// The plugin.
#[derive(Debug)]
pub struct ValueTiers;

/// The tenant's configuration: minimum spend per tier in minor units, highest first.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Currency of spend and thresholds.
    pub currency: String,
    /// Minimum spend for VIP.
    pub vip: i64,
    /// Minimum spend for gold.
    pub gold: i64,
    /// Minimum spend for silver.
    pub silver: i64,
    /// Minimum spend for bronze.
    pub bronze: i64,
    /// Whether refunds reduce spend.
    pub net_of_refunds: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            currency: "USD".to_owned(),
            vip: 500_000,
            gold: 100_000,
            silver: 25_000,
            bronze: 1,
            net_of_refunds: true,
        }
    }
}

/// Segment ids and names, highest tier first.
const TIERS: [(&str, &str); 4] = [
    ("vip", "VIP"),
    ("gold", "Gold"),
    ("silver", "Silver"),
    ("bronze", "Bronze"),
];

impl Plugin for ValueTiers {
    type Config = Config;

    fn manifest() -> Manifest {
        let manifest = Manifest::new("kith.value-tiers", env!("CARGO_PKG_VERSION"), "Value tiers")
            .description("VIP, gold, silver and bronze segments by total spend, thresholds from the configuration")
            .industries(["retail", "e-commerce", "hospitality"])
            .config_schema(CONFIG_SCHEMA);
        TIERS.iter().fold(manifest, |m, (id, name)| {
            m.segment(
                *id,
                *name,
                format!("Customers whose total spend reaches the {name} threshold"),
            )
        })
    }
}

impl Segmenter for ValueTiers {
    fn classify(config: &Config, input: &CustomerInput) -> Result<Vec<Membership>> {
        let thresholds = [config.vip, config.gold, config.silver, config.bronze];
        if thresholds.windows(2).any(|w| w[0] <= w[1]) || config.bronze < 0 {
            return Err(PluginError::InvalidConfig(format!(
                "thresholds must satisfy vip > gold > silver > bronze >= 0, got {thresholds:?}"
            )));
        }
        let total = |kind| {
            input
                .customer
                .aggregate(kind)
                .map_or(0, |a| a.total_in(&config.currency))
        };
        let mut spend = total(InteractionKind::Purchase);
        if config.net_of_refunds {
            spend = spend.saturating_sub(total(InteractionKind::Refund));
        }
        let tier = TIERS
            .iter()
            .zip(thresholds)
            .find(|(_, threshold)| spend >= *threshold);
        Ok(tier
            .map(|((id, name), threshold)| {
                let money = |amount| Money::new(amount, config.currency.as_str());
                Membership::new(
                    *id,
                    format!(
                        "spent {}, at least the {name} threshold of {}",
                        money(spend),
                        money(threshold)
                    ),
                )
            })
            .into_iter()
            .collect())
    }
}

kith_plugin_sdk::export_plugin!(ValueTiers, segmenter);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::InteractionKind::Refund;
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer, interaction};

    use super::*;

    fn tier(config: &str, spent: i64) -> Option<String> {
        let buyer = customer("c").purchase(1, spent, "EUR").build();
        let memberships = Harness::<ValueTiers>::new(config).classify(buyer).unwrap();
        assert!(memberships.len() <= 1);
        memberships.into_iter().next().map(|m| m.segment)
    }

    #[test]
    fn manifest_declares_the_four_segments() {
        let manifest = assert_manifest_valid::<ValueTiers>();
        let ids: Vec<_> = manifest.segments.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["vip", "gold", "silver", "bronze"]);
    }

    #[test]
    fn spend_picks_the_highest_tier_reached() {
        let config = r#"{"currency":"EUR","vip":1000,"gold":500,"silver":100,"bronze":10}"#;
        assert_eq!(tier(config, 1000).as_deref(), Some("vip"));
        assert_eq!(tier(config, 999).as_deref(), Some("gold"));
        assert_eq!(tier(config, 100).as_deref(), Some("silver"));
        assert_eq!(tier(config, 10).as_deref(), Some("bronze"));
        assert_eq!(tier(config, 9), None);
    }

    #[test]
    fn defaults_apply_to_an_empty_config() {
        assert_eq!(
            tier(r#"{"currency":"EUR"}"#, 500_000).as_deref(),
            Some("vip")
        );
        assert_eq!(tier("{}", 500_000), None, "default currency is USD");
    }

    #[test]
    fn refunds_reduce_spend_unless_disabled() {
        let c = customer("c")
            .purchase(1, 1_000, "USD")
            .interaction(interaction(Refund).at(2).amount(900, "USD").build())
            .build();
        let config = r#"{"vip":1000,"gold":500,"silver":200,"bronze":1}"#;
        let net = Harness::<ValueTiers>::new(config)
            .classify(c.clone())
            .unwrap();
        assert_eq!(net[0].segment, "bronze");
        assert!(net[0].reason.contains("1.00 USD"), "{}", net[0].reason);
        let gross = Harness::<ValueTiers>::new(config.replace('}', r#","net_of_refunds":false}"#))
            .classify(c)
            .unwrap();
        assert_eq!(gross[0].segment, "vip");
    }

    #[test]
    fn unordered_thresholds_are_a_config_error() {
        let err = Harness::<ValueTiers>::new(r#"{"vip":1,"gold":2}"#)
            .classify(customer("c").build())
            .unwrap_err();
        assert!(matches!(err, PluginError::InvalidConfig(_)));
    }
}
