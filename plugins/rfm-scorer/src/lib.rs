//! Kith reference plugin `kith.rfm`: retail RFM scoring.
//!
//! Recency (days since the last purchase), frequency (number of purchases) and
//! monetary value (purchase total in the configured currency) are each ranked
//! into quintiles 1-5 against the tenant's whole customer base; the quintile cut
//! points come from the population step. The grade is the three-digit RFM code
//! (`"555"` is the best customer); the score is the weighted mean quintile
//! scaled to 0-100 (`"111"` scores 20; customers without purchases score 0, grade `"000"`).

mod model;

use kith_plugin_sdk::time::days_between;
use kith_plugin_sdk::{
    CustomerInput, InteractionKind, Manifest, Money, Plugin, PluginError, PopulationInput, Result,
    ScoreOutput, Scorer,
};
use schemars::JsonSchema;
use serde::Deserialize;

pub use model::Model;
use model::{quintile_high, quintile_low};

/// The plugin.
#[derive(Debug)]
pub struct Rfm;

// The JSON Schema, defaults included, is generated from this type
// (`Manifest::config_schema_of`): the schema the host validates against, the defaults and the
// type the plugin reads cannot disagree.
/// How the RFM scorer ranks a tenant's customers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// ISO 4217 currency whose purchase totals count as monetary value
    #[schemars(pattern(r"^[A-Z]{3}$"))]
    pub currency: String,
    /// Relative weight of each dimension in the 0-100 score
    pub weights: Weights,
}

/// Relative weights of recency, frequency and monetary value.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    /// Weight of recency.
    #[schemars(range(min = 0))]
    pub recency: f64,
    /// Weight of frequency.
    #[schemars(range(min = 0))]
    pub frequency: f64,
    /// Weight of monetary value.
    #[schemars(range(min = 0))]
    pub monetary: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            currency: "USD".to_owned(),
            weights: Weights::default(),
        }
    }
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            recency: 1.0,
            frequency: 1.0,
            monetary: 1.0,
        }
    }
}

impl Config {
    fn validate(&self) -> Result<()> {
        let w = &self.weights;
        let all = [w.recency, w.frequency, w.monetary];
        if all.iter().any(|x| !x.is_finite() || *x < 0.0) || all.iter().sum::<f64>() <= 0.0 {
            return Err(PluginError::InvalidConfig(
                "weights must be finite, non-negative and not all zero".to_owned(),
            ));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(PluginError::InvalidConfig(format!(
                "currency {:?} is not an ISO 4217 code",
                self.currency
            )));
        }
        Ok(())
    }
}

/// Recency, frequency and monetary value of one customer, if they bought.
fn rfm_values(
    aggregates: &[kith_plugin_sdk::InteractionAggregate],
    currency: &str,
    now: i64,
) -> Option<(i64, i64, i64)> {
    let purchases = aggregates
        .iter()
        .find(|a| a.kind == InteractionKind::Purchase)?;
    let recency = days_between(purchases.last_at, now).max(0);
    let frequency = i64::try_from(purchases.count).unwrap_or(i64::MAX);
    Some((recency, frequency, purchases.total_in(currency)))
}

impl Plugin for Rfm {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("kith.rfm", env!("CARGO_PKG_VERSION"), "RFM scorer")
            .description(
                "Ranks customers by recency, frequency and monetary value of their purchases into quintiles \
                 of the tenant's customer base. Grade: the RFM code (555 best); score 0-100.",
            )
            .industries(["retail", "e-commerce"])
            .config_schema_of::<Config>()
            .population(Vec::<String>::new())
    }

    fn populate(config: &Config, input: &PopulationInput) -> Result<Option<Vec<u8>>> {
        config.validate()?;
        let (mut r, mut f, mut m) = (Vec::new(), Vec::new(), Vec::new());
        for customer in &input.customers {
            if let Some((recency, frequency, monetary)) =
                rfm_values(&customer.aggregates, &config.currency, input.now)
            {
                r.push(recency);
                f.push(frequency);
                m.push(monetary);
            }
        }
        Ok(Model::fit(r, f, m).map(|model| model.encode()))
    }
}

impl Scorer for Rfm {
    fn score(config: &Config, input: &CustomerInput) -> Result<ScoreOutput> {
        config.validate()?;
        let Some((recency, frequency, monetary)) =
            rfm_values(&input.customer.aggregates, &config.currency, input.now)
        else {
            return Ok(ScoreOutput::new(0.0).grade("000").reason(
                "no-purchases",
                "no purchases yet",
                0.0,
            ));
        };
        let (model, fitted) = match &input.model {
            Some(bytes) => (Model::decode(bytes)?, true),
            None => (Model::default_for(&config.currency), false),
        };
        let q = [
            quintile_low(recency, &model.recency_days),
            quintile_high(frequency, &model.frequency),
            quintile_high(monetary, &model.monetary),
        ];
        let w = &config.weights;
        let weights = [w.recency, w.frequency, w.monetary];
        let total_weight: f64 = weights.iter().sum();
        let contribution = |i: usize| 100.0 * weights[i] * f64::from(q[i]) / (5.0 * total_weight);
        let score: f64 = (0..3).map(contribution).sum();
        let mut output = ScoreOutput::new(score)
            .grade(format!("{}{}{}", q[0], q[1], q[2]))
            .reason(
                "recency",
                format!("last purchase {recency} days ago (quintile {} of 5)", q[0]),
                contribution(0),
            )
            .reason(
                "frequency",
                format!("{frequency} purchases (quintile {} of 5)", q[1]),
                contribution(1),
            )
            .reason(
                "monetary",
                format!(
                    "{} spent (quintile {} of 5)",
                    Money::new(monetary, config.currency.as_str()),
                    q[2]
                ),
                contribution(2),
            );
        if !fitted {
            output = output.reason(
                "default-thresholds",
                "no population model yet; typical retail thresholds used",
                0.0,
            );
        }
        Ok(output)
    }
}

kith_plugin_sdk::export_plugin!(Rfm, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};
    use kith_plugin_sdk::time::MICROS_PER_DAY;

    use super::*;

    const NOW: i64 = 1_000 * MICROS_PER_DAY;

    fn days_ago(days: i64) -> i64 {
        NOW - days * MICROS_PER_DAY
    }

    /// Ten customers: customer k bought k times for k * 10.00 USD each; higher k bought more recently.
    fn base() -> Vec<kith_plugin_sdk::CustomerView> {
        (1..=10)
            .map(|k: i64| {
                let mut c = customer(format!("c{k}"));
                for n in 0..k {
                    c = c.purchase(days_ago(100 - k * 10 + n), 1_000 * k, "USD");
                }
                c.build()
            })
            .collect()
    }

    fn harness() -> Harness<Rfm> {
        Harness::<Rfm>::new(r#"{"currency":"USD"}"#).now(NOW)
    }

    #[test]
    fn manifest_declares_population_step() {
        let manifest = assert_manifest_valid::<Rfm>();
        assert!(manifest.needs.population);
        assert_eq!(manifest.id, "kith.rfm");
    }

    /// The schema generated from `Config` says what the hand-written one said: the defaults of
    /// `Config::default()`, the currency's pattern, weights of at least 0, no unknown fields.
    #[test]
    fn the_config_schema_comes_from_the_config_type() {
        let manifest = Rfm::manifest();
        let schema: serde_json::Value = serde_json::from_str(&manifest.config_schema).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["additionalProperties"], false);
        let currency = &schema["properties"]["currency"];
        assert_eq!(currency["pattern"], "^[A-Z]{3}$");
        assert_eq!(currency["default"], "USD", "{schema}");
        let weights = &schema["$defs"]["Weights"];
        assert_eq!(weights["additionalProperties"], false, "{schema}");
        for dimension in ["recency", "frequency", "monetary"] {
            let weight = &weights["properties"][dimension];
            assert_eq!(weight["minimum"], 0, "{schema}");
            assert_eq!(weight["default"], 1.0, "{schema}");
        }
    }

    #[test]
    fn best_customer_gets_555_and_100() {
        let h = harness().with_population(base()).unwrap();
        let best = base().pop().unwrap();
        let output = h.score(best).unwrap();
        assert_eq!(output.grade.as_deref(), Some("555"));
        assert!((output.score - 100.0).abs() < 1e-9, "{}", output.score);
        let codes: Vec<_> = output.reasons.iter().map(|r| r.code.as_str()).collect();
        assert_eq!(codes, ["recency", "frequency", "monetary"]);
        let sum: f64 = output.reasons.iter().map(|r| r.contribution).sum();
        assert!((sum - output.score).abs() < 1e-9);
    }

    #[test]
    fn weakest_customer_gets_111_and_20() {
        let h = harness().with_population(base()).unwrap();
        let output = h.score(base().remove(0)).unwrap();
        assert_eq!(output.grade.as_deref(), Some("111"));
        assert!((output.score - 20.0).abs() < 1e-9);
    }

    #[test]
    fn model_is_compact_and_deterministic() {
        let a = harness().populate(base()).unwrap();
        let b = harness()
            .seed(7)
            .populate(base().into_iter().rev())
            .unwrap();
        assert_eq!(a.len(), 97);
        assert_eq!(a, b);
    }

    #[test]
    fn customers_without_purchases_score_zero() {
        let output = harness().score(customer("new").build()).unwrap();
        assert_eq!((output.score, output.grade.as_deref()), (0.0, Some("000")));
    }

    #[test]
    fn population_without_buyers_gives_no_model_and_defaults_apply() {
        let h = harness().with_population([customer("x")]).unwrap();
        let output = h
            .score(customer("y").purchase(days_ago(5), 10_000, "USD").build())
            .unwrap();
        assert!(
            output
                .reasons
                .iter()
                .any(|r| r.code == "default-thresholds")
        );
        assert_eq!(output.grade.as_deref(), Some("512"));
    }

    #[test]
    fn other_currencies_do_not_count_as_monetary() {
        let h = harness().with_population(base()).unwrap();
        let output = h
            .score(
                customer("eur")
                    .purchase(days_ago(1), 99_999_999, "EUR")
                    .build(),
            )
            .unwrap();
        assert_eq!(output.grade.as_deref().map(|g| &g[2..]), Some("1"));
    }

    #[test]
    fn corrupt_model_and_bad_config_are_clear_errors() {
        let err = harness()
            .model(Some(vec![1, 2, 3]))
            .score(base().remove(0))
            .unwrap_err();
        assert!(matches!(err, PluginError::InvalidInput(_)));
        let err = Harness::<Rfm>::new(r#"{"weights":{"recency":-1}}"#)
            .score(base().remove(0))
            .unwrap_err();
        assert!(matches!(err, PluginError::InvalidConfig(_)));
        let err = Harness::<Rfm>::new(r#"{"currency":5}"#)
            .score(base().remove(0))
            .unwrap_err();
        assert!(
            matches!(&err, PluginError::InvalidConfig(m) if m.contains("currency")),
            "{err:?}"
        );
    }
}
