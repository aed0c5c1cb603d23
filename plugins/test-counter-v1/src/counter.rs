// `kith.test.counter`, shared by both versions' crates; each defines `VERSION` first.

use kith_plugin_sdk::{
    Action, Attribute, AttributeValue, CustomerInput, InteractionKind, Manifest, NoConfig, Plugin,
    Result, ScoreOutput, Scorer, SetAttribute,
};

/// The plugin.
#[derive(Debug)]
pub struct Counter;

impl Plugin for Counter {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new("kith.test.counter", format!("{VERSION}.0.0"), "Purchase counter")
            .description("Test plugin: scores the number of purchases times the major version")
    }
}

impl Scorer for Counter {
    fn score(_: &NoConfig, input: &CustomerInput) -> Result<ScoreOutput> {
        let purchases = input
            .customer
            .aggregate(InteractionKind::Purchase)
            .map_or(0, |a| u32::try_from(a.count).unwrap_or(u32::MAX));
        Ok(ScoreOutput::new(f64::from(purchases) * f64::from(VERSION))
            .reason(
                "purchases",
                format!("{purchases} purchases (version {VERSION})"),
                f64::from(purchases),
            )
            .action(Action::SetAttribute(SetAttribute {
                customer: input.customer.reference(),
                attribute: Attribute {
                    name: "counter_version".to_owned(),
                    value: AttributeValue::Number(f64::from(VERSION)),
                },
            })))
    }
}

kith_plugin_sdk::export_plugin!(Counter, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};

    use super::*;

    #[test]
    fn scores_purchases_times_the_version() {
        assert_manifest_valid::<Counter>();
        let none = Harness::<Counter>::new("")
            .score(customer("c").build())
            .unwrap();
        assert_eq!(none.score, 0.0);
        assert_eq!(none.actions.len(), 1);
        let two = customer("d")
            .purchase(1_000_000, 500, "EUR")
            .purchase(2_000_000, 700, "EUR")
            .build();
        let scored = Harness::<Counter>::new("").score(two).unwrap();
        assert_eq!(scored.score, 2.0 * f64::from(VERSION));
    }
}
