//! Kith reference plugin `kith.value-tiers`: puts each customer into at most one
//! of the segments VIP, gold, silver and bronze by total spend (purchases minus
//! refunds, in the configured currency), either against thresholds from the
//! configuration (`"mode": "thresholds"`, the default) or by spend percentile
//! among the tenant's buyers, computed in the population step
//! (`"mode": "percentiles"`: a value pyramid, by default VIP the top 1 %, gold
//! the next 4 %, silver the next 15 %, bronze the rest).

use kith_plugin_sdk::{
    CustomerInput, InteractionAggregate, InteractionKind, Manifest, Membership, Money, Plugin,
    PluginError, PopulationInput, Result, Segmenter,
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
    "net_of_refunds": { "description": "Subtract refunds from purchases", "type": "boolean", "default": true },
    "mode": { "description": "Tiers by fixed spend thresholds or by spend percentile among buyers", "enum": ["thresholds", "percentiles"], "default": "thresholds" },
    "percentiles": {
      "description": "Percentile mode: share of buyers (in percent, by spend, highest first) in each tier; bronze is every other buyer reaching the bronze threshold",
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "vip":    { "type": "number", "exclusiveMinimum": 0, "maximum": 100, "default": 1 },
        "gold":   { "type": "number", "exclusiveMinimum": 0, "maximum": 100, "default": 4 },
        "silver": { "type": "number", "exclusiveMinimum": 0, "maximum": 100, "default": 15 }
      }
    }
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
    /// Fixed thresholds or population percentiles.
    pub mode: Mode,
    /// Shares of buyers per tier in percentile mode.
    pub percentiles: Percentiles,
}

/// How tiers are decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// By the fixed spend thresholds `vip`, `gold`, `silver`, `bronze`.
    #[default]
    Thresholds,
    /// By spend percentile among buyers, from the population step.
    Percentiles,
}

/// Percent of buyers in each tier, highest spend first; bronze is the rest.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Percentiles {
    /// Share of buyers that are VIP.
    pub vip: f64,
    /// Share of buyers that are gold.
    pub gold: f64,
    /// Share of buyers that are silver.
    pub silver: f64,
}

impl Default for Percentiles {
    fn default() -> Percentiles {
        Percentiles {
            vip: 1.0,
            gold: 4.0,
            silver: 15.0,
        }
    }
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
            mode: Mode::Thresholds,
            percentiles: Percentiles::default(),
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

impl Config {
    fn validate(&self) -> Result<()> {
        match self.mode {
            Mode::Thresholds => {
                let thresholds = [self.vip, self.gold, self.silver, self.bronze];
                if thresholds.windows(2).any(|w| w[0] <= w[1]) || self.bronze < 0 {
                    return Err(PluginError::InvalidConfig(format!(
                        "thresholds must satisfy vip > gold > silver > bronze >= 0, got {thresholds:?}"
                    )));
                }
            }
            Mode::Percentiles => {
                let p = self.percentiles;
                let shares = [p.vip, p.gold, p.silver];
                if shares.iter().any(|s| !(s.is_finite() && *s > 0.0))
                    || shares.iter().sum::<f64>() > 100.0
                {
                    return Err(PluginError::InvalidConfig(format!(
                        "percentiles.vip, .gold and .silver must be positive and add up to at most 100, got {shares:?}"
                    )));
                }
                if self.bronze < 0 {
                    return Err(PluginError::InvalidConfig(format!(
                        "bronze must be >= 0, got {}",
                        self.bronze
                    )));
                }
            }
        }
        Ok(())
    }

    /// What a percentile model depends on; a model built under another one is stale.
    fn fingerprint(&self) -> u64 {
        let p = self.percentiles;
        let text = format!(
            "kith.value-tiers/1|{}|{}|{}|{}|{}",
            self.currency, self.net_of_refunds, p.vip, p.gold, p.silver
        );
        // FNV-1a 64.
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
            (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// Total spend of a customer in the configured currency.
    fn spend(&self, aggregates: &[InteractionAggregate]) -> i64 {
        let total = |kind| {
            aggregates
                .iter()
                .find(|a| a.kind == kind)
                .map_or(0, |a| a.total_in(&self.currency))
        };
        let mut spend = total(InteractionKind::Purchase);
        if self.net_of_refunds {
            spend = spend.saturating_sub(total(InteractionKind::Refund));
        }
        spend
    }
}

/// Format version of the percentile model.
const MODEL_VERSION: u8 = 1;

/// Encoded size of the percentile model: version, fingerprint, 3 cut points, buyers.
pub const MODEL_LEN: usize = 1 + 8 + 3 * 8 + 8;

/// Minimum spend of VIP, gold and silver in percentile mode, from the population step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    /// Fingerprint of the configuration the cut points belong to.
    pub fingerprint: u64,
    /// Minimum spend (minor units) of VIP, gold and silver.
    pub cuts: [i64; 3],
    /// Buyers (customers with positive spend) ranked.
    pub buyers: u64,
}

impl Model {
    /// Serializes the model (little-endian, 41 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![MODEL_VERSION];
        bytes.extend_from_slice(&self.fingerprint.to_le_bytes());
        for cut in self.cuts {
            bytes.extend_from_slice(&cut.to_le_bytes());
        }
        bytes.extend_from_slice(&self.buyers.to_le_bytes());
        bytes
    }

    /// Reads a model written by [`Model::encode`]; anything else is `invalid-input`.
    pub fn decode(bytes: &[u8]) -> Result<Model> {
        if bytes.len() != MODEL_LEN || bytes[0] != MODEL_VERSION {
            return Err(PluginError::InvalidInput(format!(
                "value-tiers model is not version {MODEL_VERSION} of {MODEL_LEN} bytes (got {} bytes); \
                 run the population step again",
                bytes.len()
            )));
        }
        let word = |i: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes[1 + 8 * i..9 + 8 * i]);
            raw
        };
        Ok(Model {
            fingerprint: u64::from_le_bytes(word(0)),
            cuts: [1, 2, 3].map(|i| i64::from_le_bytes(word(i))),
            buyers: u64::from_le_bytes(word(4)),
        })
    }

    /// Cut points for buyers' spends: the spend of the buyer at rank
    /// ceil(N × share) from the top, for the cumulative shares of VIP, gold and silver.
    pub fn fit(mut spends: Vec<i64>, percentiles: Percentiles, fingerprint: u64) -> Option<Model> {
        spends.retain(|s| *s > 0);
        if spends.is_empty() {
            return None;
        }
        spends.sort_unstable_by(|a, b| b.cmp(a));
        let n = spends.len();
        let mut cumulative = 0.0;
        let cuts = [percentiles.vip, percentiles.gold, percentiles.silver].map(|share| {
            cumulative += share;
            let rank = ((n as f64 * cumulative / 100.0).ceil() as usize).clamp(1, n);
            spends[rank - 1]
        });
        Some(Model {
            fingerprint,
            cuts,
            buyers: n as u64,
        })
    }
}

impl Plugin for ValueTiers {
    type Config = Config;

    fn manifest() -> Manifest {
        let manifest = Manifest::new("kith.value-tiers", env!("CARGO_PKG_VERSION"), "Value tiers")
            .description(
                "VIP, gold, silver and bronze segments by total spend, by thresholds from the configuration \
                 or by spend percentile among the tenant's buyers (a value pyramid)",
            )
            .industries(["retail", "e-commerce", "hospitality"])
            .config_schema(CONFIG_SCHEMA)
            .population(Vec::<String>::new());
        TIERS.iter().fold(manifest, |m, (id, name)| {
            m.segment(
                *id,
                *name,
                format!("Customers whose total spend reaches the {name} threshold or percentile"),
            )
        })
    }

    fn populate(config: &Config, input: &PopulationInput) -> Result<Option<Vec<u8>>> {
        config.validate()?;
        if config.mode == Mode::Thresholds {
            return Ok(None);
        }
        let spends = input
            .customers
            .iter()
            .map(|c| config.spend(&c.aggregates))
            .collect();
        Ok(Model::fit(spends, config.percentiles, config.fingerprint()).map(|m| m.encode()))
    }
}

impl Segmenter for ValueTiers {
    fn classify(config: &Config, input: &CustomerInput) -> Result<Vec<Membership>> {
        config.validate()?;
        let spend = config.spend(&input.customer.aggregates);
        let money = |amount| Money::new(amount, config.currency.as_str());
        if config.mode == Mode::Thresholds {
            let thresholds = [config.vip, config.gold, config.silver, config.bronze];
            let tier = TIERS
                .iter()
                .zip(thresholds)
                .find(|(_, threshold)| spend >= *threshold);
            return Ok(tier
                .map(|((id, name), threshold)| {
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
                .collect());
        }
        if spend <= 0 || spend < config.bronze {
            return Ok(Vec::new());
        }
        let Some(bytes) = &input.model else {
            return Err(PluginError::InvalidInput(
                "percentile tiers need the population step's model, and there is none yet"
                    .to_owned(),
            ));
        };
        let model = Model::decode(bytes)?;
        if model.fingerprint != config.fingerprint() {
            return Err(PluginError::InvalidInput(
                "the value-tiers model was built under another currency, refund setting or percentiles; \
                 run the population step again"
                    .to_owned(),
            ));
        }
        let p = config.percentiles;
        let tops = [p.vip, p.vip + p.gold, p.vip + p.gold + p.silver];
        let reason = match (0..3).find(|&i| spend >= model.cuts[i]) {
            Some(i) => {
                let (id, name) = TIERS[i];
                (
                    id,
                    format!(
                        "spent {}, in the top {}% of {} buyers ({name} from {})",
                        money(spend),
                        tops[i],
                        model.buyers,
                        money(model.cuts[i])
                    ),
                )
            }
            None => (
                "bronze",
                format!(
                    "spent {}, below the top {}% of {} buyers (silver from {})",
                    money(spend),
                    tops[2],
                    model.buyers,
                    money(model.cuts[2])
                ),
            ),
        };
        Ok(vec![Membership::new(reason.0, reason.1)])
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

    /// 200 buyers spending 1..=200 EUR, and one customer who never bought.
    fn pyramid_base() -> Vec<kith_plugin_sdk::CustomerView> {
        let mut all: Vec<_> = (1..=200)
            .map(|k| {
                customer(format!("c{k}"))
                    .purchase(1, k * 100, "EUR")
                    .build()
            })
            .collect();
        all.push(customer("none").build());
        all
    }

    const PYRAMID: &str = r#"{"currency":"EUR","mode":"percentiles"}"#;

    fn pyramid_tier(h: &Harness<ValueTiers>, euros: i64) -> Option<Membership> {
        let mut m = h
            .classify(customer("x").purchase(1, euros * 100, "EUR").build())
            .unwrap();
        assert!(m.len() <= 1);
        m.pop()
    }

    #[test]
    fn percentiles_make_a_pyramid_of_1_4_15_and_the_rest() {
        let h = Harness::<ValueTiers>::new(PYRAMID)
            .with_population(pyramid_base())
            .unwrap();
        let model = Model::decode(h.populate(pyramid_base()).unwrap().as_slice()).unwrap();
        // Top 1 % of 200 is 2 buyers (199, 200 EUR), top 5 % is 10 (from 191), top 20 % is 40 (from 161).
        assert_eq!((model.cuts, model.buyers), ([19_900, 19_100, 16_100], 200));
        let counts = pyramid_base().into_iter().fold([0; 5], |mut counts, c| {
            let i = match h.classify(c).unwrap().pop().map(|m| m.segment) {
                Some(s) => TIERS.iter().position(|(id, _)| *id == s).unwrap(),
                None => 4,
            };
            counts[i] += 1;
            counts
        });
        assert_eq!(counts, [2, 8, 30, 160, 1]);
        let vip = pyramid_tier(&h, 500).unwrap();
        assert_eq!(vip.segment, "vip");
        assert!(
            vip.reason.contains("top 1% of 200 buyers"),
            "{}",
            vip.reason
        );
        let bronze = pyramid_tier(&h, 3).unwrap();
        assert_eq!(bronze.segment, "bronze");
        assert!(
            bronze.reason.contains("below the top 20% of 200 buyers"),
            "{}",
            bronze.reason
        );
        assert!(pyramid_tier(&h, 0).is_none());
    }

    #[test]
    fn percentiles_are_configurable_and_validated() {
        let h = Harness::<ValueTiers>::new(r#"{"currency":"EUR","mode":"percentiles","percentiles":{"vip":10,"gold":20,"silver":30}}"#)
            .with_population(pyramid_base())
            .unwrap();
        assert_eq!(pyramid_tier(&h, 181).unwrap().segment, "vip");
        assert_eq!(pyramid_tier(&h, 180).unwrap().segment, "gold");
        for bad in [
            r#"{"mode":"percentiles","percentiles":{"vip":60,"gold":30,"silver":20}}"#,
            r#"{"mode":"percentiles","percentiles":{"vip":0}}"#,
            r#"{"mode":"percentiles","percentiles":{"platinum":1}}"#,
            r#"{"mode":"pyramid"}"#,
        ] {
            let err = Harness::<ValueTiers>::new(bad)
                .populate(pyramid_base())
                .unwrap_err();
            assert!(matches!(err, PluginError::InvalidConfig(_)), "{bad}");
        }
    }

    #[test]
    fn percentile_mode_without_buyers_or_model() {
        let h = Harness::<ValueTiers>::new(PYRAMID);
        assert!(h.populate([customer("none").build()]).unwrap().is_empty());
        assert!(
            h.populate(Vec::<kith_plugin_sdk::CustomerView>::new())
                .unwrap()
                .is_empty()
        );
        let err = h
            .classify(customer("x").purchase(1, 100, "EUR").build())
            .unwrap_err();
        assert!(matches!(err, PluginError::InvalidInput(_)));
        let corrupt = Harness::<ValueTiers>::new(PYRAMID)
            .model(Some(vec![1; 7]))
            .classify(customer("x").purchase(1, 100, "EUR").build());
        assert!(matches!(corrupt, Err(PluginError::InvalidInput(_))));
        let model = h.populate(pyramid_base()).unwrap();
        let stale = Harness::<ValueTiers>::new(r#"{"currency":"USD","mode":"percentiles"}"#)
            .model(Some(model))
            .classify(customer("x").purchase(1, 100, "USD").build());
        assert!(
            matches!(stale, Err(PluginError::InvalidInput(m)) if m.contains("another currency"))
        );
    }

    #[test]
    fn threshold_mode_builds_no_model() {
        assert!(
            Harness::<ValueTiers>::new("{}")
                .populate(pyramid_base())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn unordered_thresholds_are_a_config_error() {
        let err = Harness::<ValueTiers>::new(r#"{"vip":1,"gold":2}"#)
            .classify(customer("c").build())
            .unwrap_err();
        assert!(matches!(err, PluginError::InvalidConfig(_)));
    }
}
