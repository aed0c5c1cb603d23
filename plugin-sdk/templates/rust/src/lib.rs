//! {{name}}: a Kith scorer.
//!
//! Scores a customer from their purchases: 10 points per purchase, up to `max_points`. Replace
//! `score` with your own logic; `populate` can learn from all of a tenant's customers first.

use kith_plugin_sdk::{CustomerInput, InteractionKind, Manifest, Plugin, Result, ScoreOutput, Scorer};
use schemars::JsonSchema;
use serde::Deserialize;

/// The plugin.
#[derive(Debug)]
pub struct {{class}};

/// The tenant's configuration. Its JSON Schema (which the host validates every tenant's
/// configuration against), with the defaults of `Config::default()`, is generated from this
/// type by `config_schema_of`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The most points a customer can get.
    #[schemars(range(min = 0))]
    pub max_points: f64,
}

impl Default for Config {
    fn default() -> Config {
        Config { max_points: 100.0 }
    }
}

impl Plugin for {{class}} {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("{{id}}", env!("CARGO_PKG_VERSION"), "{{name}}")
            .description("Scores customers by how often they bought (10 points a purchase).")
            .config_schema_of::<Config>()
    }
}

impl Scorer for {{class}} {
    fn score(config: &Config, input: &CustomerInput) -> Result<ScoreOutput> {
        let count = input
            .customer
            .aggregates
            .iter()
            .find(|a| a.kind == InteractionKind::Purchase)
            .map_or(0, |a| a.count);
        let points = (10.0 * count as f64).min(config.max_points);
        Ok(ScoreOutput::new(points)
            .grade(if points >= 50.0 { "A" } else { "B" })
            .reason("purchases", format!("{count} purchases"), points))
    }
}

kith_plugin_sdk::export_plugin!({{class}}, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};
    use kith_plugin_sdk::time::MICROS_PER_DAY;

    use super::*;

    #[test]
    fn ten_points_a_purchase_up_to_the_maximum() {
        assert_eq!(assert_manifest_valid::<{{class}}>().id, "{{id}}");
        let mut buyer = customer("c1");
        for day in 0..3 {
            buyer = buyer.purchase(day * MICROS_PER_DAY, 1999, "EUR");
        }
        let output = Harness::<{{class}}>::new("{}").score(buyer.clone().build()).unwrap();
        assert_eq!((output.score, output.grade.as_deref()), (30.0, Some("B")));
        let capped = Harness::<{{class}}>::new(r#"{"max_points": 20}"#).score(buyer.build());
        assert_eq!(capped.unwrap().score, 20.0);
    }
}
