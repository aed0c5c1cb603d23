//! Hostile test plugin `kith.test.spawner-a`: every score creates `fanout` new customers (one
//! by default), named after the customer scored.
//!
//! With its twin `kith.test.spawner-b` enabled, each one's new customers are the other's
//! input: without a bound on chains of plugin writes, one customer write becomes an unbounded
//! number. The host must stop the chain at its maximum depth and cap a tenant's plugin writes
//! per minute.

use kith_plugin_sdk::{
    Action, CustomerFields, CustomerInput, Manifest, Plugin, Result, ScoreOutput, Scorer,
    UpsertCustomer,
};
use serde::Deserialize;

/// The plugin.
#[derive(Debug)]
pub struct Spawner;

/// How many customers each score creates.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Config {
    /// New customers per call.
    pub fanout: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config { fanout: 1 }
    }
}

impl Plugin for Spawner {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.spawner-a",
            env!("CARGO_PKG_VERSION"),
            "Hostile: spawner A",
        )
        .description("Test plugin: every score creates new customers")
        .config_schema(
            r#"{"type":"object","properties":{"fanout":{"type":"integer","minimum":0,"maximum":256}}}"#,
        )
    }
}

impl Scorer for Spawner {
    fn score(config: &Config, input: &CustomerInput) -> Result<ScoreOutput> {
        let mut out = ScoreOutput::new(1.0);
        for i in 0..config.fanout {
            out = out.action(Action::UpsertCustomer(UpsertCustomer {
                email: Some(format!("a{i}-{}@spawn.test", input.customer.id)),
                external_id: None,
                fields: CustomerFields {
                    kind: None,
                    display_name: Some(format!("Spawned by a from {}", input.customer.id)),
                    given_name: None,
                    family_name: None,
                    phone: None,
                    country: None,
                    region: None,
                    city: None,
                    marketing_consent: None,
                },
            }));
        }
        Ok(out)
    }
}

kith_plugin_sdk::export_plugin!(Spawner, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, customer};

    use super::*;

    #[test]
    fn each_score_asks_for_fanout_new_customers() {
        let out = Harness::<Spawner>::new(r#"{"fanout": 3}"#)
            .score(customer("c1").build())
            .unwrap();
        assert_eq!(out.actions.len(), 3);
    }
}
