//! Kith reference plugin `kith.churn-risk`: puts each buyer into one churn-risk
//! segment from the BG/NBD probability that they are still alive.
//!
//! The population step fits BG/NBD (the same code as `kith.clv`, from
//! `kith-clv-math`) over the tenant's buyers; `classify` computes P(alive) and
//! picks `low-risk`, `medium-risk` or `high-risk` by the configured thresholds.
//! Buyers without a repeat purchase go to `one-time`: BG/NBD gives them
//! P(alive) = 1 by construction (dropout happens only after a purchase), which
//! says nothing about their risk.

use kith_clv_math::{BgNbd, History, Observation, Reader, TimeUnit, Writer, fingerprint};
use kith_plugin_sdk::{
    CustomerInput, Manifest, Membership, Plugin, PluginError, PopulationInput, Result, Segmenter,
    Timestamp,
};
use serde::Deserialize;

/// JSON Schema of the configuration.
pub const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "time_unit": { "description": "Unit BG/NBD measures time in", "enum": ["days", "weeks", "months"], "default": "weeks" },
    "high_risk_below": { "description": "P(alive) below this is high risk", "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.3 },
    "medium_risk_below": { "description": "P(alive) below this (and not high) is medium risk", "type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.7 }
  }
}"#;

/// Format version of the encoded model.
const VERSION: u8 = 1;

/// Encoded size: version, fingerprint, now, unit, r, alpha, a, b, buyers.
pub const ENCODED_LEN: usize = 1 + 8 + 8 + 1 + 4 * 8 + 8;

/// The plugin.
#[derive(Debug)]
pub struct ChurnRisk;

/// The tenant's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Unit of time of the model.
    pub time_unit: TimeUnit,
    /// P(alive) below this is high risk.
    pub high_risk_below: f64,
    /// P(alive) below this, and not high, is medium risk.
    pub medium_risk_below: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            time_unit: TimeUnit::Weeks,
            high_risk_below: 0.3,
            medium_risk_below: 0.7,
        }
    }
}

impl Config {
    fn validate(&self) -> Result<()> {
        let (high, medium) = (self.high_risk_below, self.medium_risk_below);
        if !(high > 0.0 && high < medium && medium < 1.0) {
            return Err(PluginError::InvalidConfig(format!(
                "thresholds must satisfy 0 < high_risk_below < medium_risk_below < 1, got {high} and {medium}"
            )));
        }
        Ok(())
    }

    fn fingerprint(&self) -> u64 {
        fingerprint(&format!("kith.churn-risk/1|{}", self.time_unit.name()))
    }
}

/// The fitted BG/NBD model and what it was fitted under.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    /// Fingerprint of the configuration (time unit) it was fitted under.
    pub fingerprint: u64,
    /// The population step's time.
    pub now: Timestamp,
    /// Time unit of `alpha`.
    pub unit: TimeUnit,
    /// The fitted parameters.
    pub bgnbd: BgNbd,
    /// Buyers the fit used.
    pub buyers: u64,
}

impl Model {
    /// Serializes the model (little-endian, 58 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let m = self.bgnbd;
        Writer::new()
            .u8(VERSION)
            .u64(self.fingerprint)
            .i64(self.now)
            .u8(self.unit.code())
            .f64(m.r)
            .f64(m.alpha)
            .f64(m.a)
            .f64(m.b)
            .u64(self.buyers)
            .finish()
    }

    /// Reads a model written by [`Model::encode`]; anything else is `invalid-input`.
    pub fn decode(bytes: &[u8]) -> Result<Model> {
        let corrupt = || {
            PluginError::InvalidInput(format!(
                "churn-risk model is not version {VERSION} of {ENCODED_LEN} bytes with positive finite \
                 parameters (got {} bytes); run the population step again",
                bytes.len()
            ))
        };
        let mut r = Reader::new(bytes);
        if bytes.len() != ENCODED_LEN || r.u8() != Some(VERSION) {
            return Err(corrupt());
        }
        let fingerprint = r.u64().ok_or_else(corrupt)?;
        let now = r.i64().ok_or_else(corrupt)?;
        let unit = r.u8().and_then(TimeUnit::from_code).ok_or_else(corrupt)?;
        let mut p = [0.0; 4];
        for v in &mut p {
            *v = r
                .f64()
                .filter(|v| v.is_finite() && *v > 0.0)
                .ok_or_else(corrupt)?;
        }
        let buyers = r.u64().ok_or_else(corrupt)?;
        Ok(Model {
            fingerprint,
            now,
            unit,
            bgnbd: BgNbd {
                r: p[0],
                alpha: p[1],
                a: p[2],
                b: p[3],
            },
            buyers,
        })
    }
}

/// Segment ids, names and descriptions.
const SEGMENTS: [(&str, &str, &str); 4] = [
    (
        "low-risk",
        "Low churn risk",
        "Repeat buyers whose P(alive) is at least medium_risk_below",
    ),
    (
        "medium-risk",
        "Medium churn risk",
        "Repeat buyers whose P(alive) is between the two thresholds",
    ),
    (
        "high-risk",
        "High churn risk",
        "Repeat buyers whose P(alive) is below high_risk_below",
    ),
    (
        "one-time",
        "One-time buyers",
        "Buyers without a repeat purchase, whose dropout BG/NBD cannot estimate",
    ),
];

fn observation(history: &History) -> Observation {
    Observation {
        frequency: history.frequency,
        recency: history.recency,
        age: history.age,
    }
}

/// Spend plays no part here; any currency code reads the dates and counts.
const ANY_CURRENCY: &str = "XXX";

impl Plugin for ChurnRisk {
    type Config = Config;

    fn manifest() -> Manifest {
        let manifest = Manifest::new("kith.churn-risk", env!("CARGO_PKG_VERSION"), "Churn risk")
            .description(
                "Low, medium or high churn risk from the BG/NBD probability that a repeat buyer is still \
                 active, fitted to the tenant's buyers; one-time buyers in their own segment.",
            )
            .industries(["retail", "e-commerce"])
            .config_schema(CONFIG_SCHEMA)
            .population(Vec::<String>::new());
        SEGMENTS
            .iter()
            .fold(manifest, |m, (id, name, description)| {
                m.segment(*id, *name, *description)
            })
    }

    fn populate(config: &Config, input: &PopulationInput) -> Result<Option<Vec<u8>>> {
        config.validate()?;
        let observations: Vec<Observation> = input
            .customers
            .iter()
            .filter_map(|c| {
                History::from_aggregates(&c.aggregates, ANY_CURRENCY, config.time_unit, input.now)
            })
            .map(|h| observation(&h))
            .collect();
        if observations.is_empty() {
            return Ok(None);
        }
        let fit = BgNbd::fit(&observations)
            .map_err(|e| PluginError::InvalidInput(format!("cannot fit BG/NBD: {e}")))?;
        let model = Model {
            fingerprint: config.fingerprint(),
            now: input.now,
            unit: config.time_unit,
            bgnbd: fit.model,
            buyers: fit.customers,
        };
        Ok(Some(model.encode()))
    }
}

impl Segmenter for ChurnRisk {
    fn classify(config: &Config, input: &CustomerInput) -> Result<Vec<Membership>> {
        config.validate()?;
        let unit = config.time_unit;
        let Some(history) =
            History::from_aggregates(&input.customer.aggregates, ANY_CURRENCY, unit, input.now)
        else {
            return Ok(Vec::new());
        };
        let Some(bytes) = &input.model else {
            return Err(PluginError::InvalidInput(
                "no churn-risk model yet: the population step has not run or found no buyers"
                    .to_owned(),
            ));
        };
        let model = Model::decode(bytes)?;
        if model.fingerprint != config.fingerprint() {
            return Err(PluginError::InvalidInput(
                "the churn-risk model was fitted with another time unit; run the population step again".to_owned(),
            ));
        }
        let unit = unit.name();
        if history.frequency == 0 {
            return Ok(vec![Membership::new(
                "one-time",
                format!(
                    "one purchase, {:.1} {unit} ago; BG/NBD estimates dropout only after a repeat purchase",
                    history.age
                ),
            )]);
        }
        let p = model.bgnbd.p_alive(&observation(&history));
        let (segment, band) = if p < config.high_risk_below {
            ("high-risk", format!("below {}", config.high_risk_below))
        } else if p < config.medium_risk_below {
            ("medium-risk", format!("below {}", config.medium_risk_below))
        } else {
            ("low-risk", format!("at least {}", config.medium_risk_below))
        };
        Ok(vec![Membership::new(
            segment,
            format!(
                "P(alive) {p:.4} ({band}): {} repeat purchases, the latest {:.1} {unit} ago, first {:.1} {unit} ago",
                history.frequency,
                history.age - history.recency,
                history.age
            ),
        )])
    }
}

kith_plugin_sdk::export_plugin!(ChurnRisk, segmenter);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::CustomerView;
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};
    use kith_plugin_sdk::time::MICROS_PER_DAY;

    use super::*;

    const WEEK: i64 = 7 * MICROS_PER_DAY;
    const NOW: i64 = 60 * WEEK;

    /// Forty buyers: customer k buys every (k % 4 + 1) weeks from week k % 10 and
    /// stops after week 10 + k; plus a one-time buyer.
    fn base() -> Vec<CustomerView> {
        let mut all: Vec<CustomerView> = (0..40i64)
            .map(|k| {
                let mut c = customer(format!("c{k}"));
                let mut week = k % 10;
                while week <= 10 + k {
                    c = c.purchase(week * WEEK, 1_000, "USD");
                    week += k % 4 + 1;
                }
                c.build()
            })
            .collect();
        all.push(customer("once").purchase(5 * WEEK, 500, "USD").build());
        all
    }

    fn harness() -> Harness<ChurnRisk> {
        Harness::<ChurnRisk>::new("{}")
            .now(NOW)
            .with_population(base())
            .unwrap()
    }

    fn segment(h: &Harness<ChurnRisk>, c: CustomerView) -> Membership {
        let mut m = h.classify(c).unwrap();
        assert_eq!(m.len(), 1);
        m.remove(0)
    }

    #[test]
    fn manifest_declares_the_four_segments() {
        let m = assert_manifest_valid::<ChurnRisk>();
        let ids: Vec<&str> = m.segments.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["low-risk", "medium-risk", "high-risk", "one-time"]);
        assert!(m.needs.population);
    }

    #[test]
    fn recent_regulars_are_low_risk_and_lapsed_regulars_high_risk() {
        let h = harness();
        let regular = customer("r")
            .purchase(0, 1, "USD")
            .purchase(30 * WEEK, 1, "USD")
            .purchase(59 * WEEK, 1, "USD");
        let low = segment(&h, regular.build());
        assert_eq!(low.segment, "low-risk", "{low:?}");
        assert!(low.reason.starts_with("P(alive) "), "{}", low.reason);
        let mut lapsed = customer("l");
        for week in 0..10 {
            lapsed = lapsed.purchase(week * WEEK, 1, "USD");
        }
        let high = segment(&h, lapsed.build());
        assert_eq!(high.segment, "high-risk", "{high:?}");
    }

    #[test]
    fn one_time_buyers_and_non_buyers() {
        let h = harness();
        assert_eq!(
            segment(&h, customer("o").purchase(WEEK, 1, "USD").build()).segment,
            "one-time"
        );
        assert!(h.classify(customer("n").build()).unwrap().is_empty());
    }

    #[test]
    fn thresholds_move_customers_between_segments() {
        let c = base().remove(5);
        let strict =
            Harness::<ChurnRisk>::new(r#"{"high_risk_below":0.98,"medium_risk_below":0.99}"#)
                .now(NOW)
                .with_population(base())
                .unwrap();
        assert_eq!(segment(&strict, c).segment, "high-risk");
    }

    #[test]
    fn empty_population_one_time_only_and_missing_model() {
        let h = Harness::<ChurnRisk>::new("{}").now(NOW);
        assert!(h.populate(Vec::<CustomerView>::new()).unwrap().is_empty());
        let once: Vec<CustomerView> = (0..5)
            .map(|k| {
                customer(format!("o{k}"))
                    .purchase(k * WEEK, 1, "USD")
                    .build()
            })
            .collect();
        let err = h.populate(once).unwrap_err();
        assert!(
            matches!(&err, PluginError::InvalidInput(m) if m.contains("repeat purchase")),
            "{err:?}"
        );
        let err = h.classify(base().remove(1)).unwrap_err();
        assert!(matches!(err, PluginError::InvalidInput(_)));
    }

    #[test]
    fn bad_config_and_corrupt_or_stale_models() {
        for config in [
            r#"{"high_risk_below":0.8}"#,
            r#"{"medium_risk_below":1.5}"#,
            r#"{"risk":1}"#,
            r#"{"time_unit":"years"}"#,
        ] {
            let err = Harness::<ChurnRisk>::new(config)
                .classify(base().remove(0))
                .unwrap_err();
            assert!(matches!(err, PluginError::InvalidConfig(_)), "{config}");
        }
        let err = harness()
            .model(Some(vec![VERSION; ENCODED_LEN]))
            .classify(base().remove(0))
            .unwrap_err();
        assert!(matches!(err, PluginError::InvalidInput(_)));
        let model = harness().populate(base()).unwrap();
        assert_eq!(Model::decode(&model).unwrap().buyers, 41);
        let err = Harness::<ChurnRisk>::new(r#"{"time_unit":"days"}"#)
            .now(NOW)
            .model(Some(model))
            .classify(base().remove(0))
            .unwrap_err();
        assert!(
            matches!(&err, PluginError::InvalidInput(m) if m.contains("time unit")),
            "{err:?}"
        );
    }
}
