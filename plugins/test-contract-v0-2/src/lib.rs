//! Test plugin `kith.test.contract-v0-2`: a scorer on `kith:plugin@0.2.0` (through the SDK)
//! that uses what 0.2.0 added, for the tests that run it beside a 0.1.0 component.
//!
//! - Its score is the first purchase's amount in minor units plus 1000 per closed deal it was
//!   given (it asks for 2).
//! - It logs one line per call; a customer tagged `chatty` makes it log 100 more, the first
//!   5000 bytes long, to test the host's caps.
//! - Its manifest declares budgets: 20 M fuel and 32 MiB per call, and a population fuel budget
//!   far above any host's ceiling (to test the cap).

use kith_plugin_sdk::{
    Budget, CustomerInput, DealStatus, InteractionKind, Manifest, NoConfig, Plugin, Result,
    ScoreOutput, Scorer, log,
};

/// The plugin.
#[derive(Debug)]
pub struct Fixture;

impl Plugin for Fixture {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.contract-v0-2",
            env!("CARGO_PKG_VERSION"),
            "Contract 0.2.0 fixture",
        )
        .description("Test plugin using first amounts, closed deals, logs and budgets")
        .closed_deals(2)
        .call_budget(Budget::new().fuel(20_000_000).memory_mib(32))
        .population_budget(Budget::new().fuel(1_000_000_000_000))
    }
}

impl Scorer for Fixture {
    fn score(_: &NoConfig, input: &CustomerInput) -> Result<ScoreOutput> {
        let customer = &input.customer;
        log::info(&format!("scoring {}", customer.id));
        if customer.has_tag("chatty") {
            log::warn(&"x".repeat(5000));
            for i in 0..99 {
                log::debug(&format!("line {i}"));
            }
        }
        let first = customer
            .aggregate(InteractionKind::Purchase)
            .and_then(|a| a.first_amount.as_ref())
            .map_or(0, |m| m.amount);
        let closed = &customer.closed_deals;
        let won = closed
            .iter()
            .filter(|d| d.status == DealStatus::Won)
            .count();
        let score = first as f64 + 1000.0 * closed.len() as f64;
        Ok(ScoreOutput::new(score)
            .reason(
                "first-purchase",
                format!("first purchase {first}"),
                first as f64,
            )
            .reason(
                "closed-deals",
                format!("{won} won, {} lost", closed.len() - won),
                1000.0 * closed.len() as f64,
            ))
    }
}

kith_plugin_sdk::export_plugin!(Fixture, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer, take_logs};
    use kith_plugin_sdk::{Deal, log::Level};

    use super::*;

    fn deal(id: &str, status: DealStatus, closed_at: i64) -> Deal {
        Deal {
            id: id.into(),
            pipeline_id: "p".into(),
            pipeline_name: "Sales".into(),
            stage: "Closed".into(),
            amount: None,
            probability: 0,
            expected_close: None,
            status,
            closed_at: Some(closed_at),
        }
    }

    #[test]
    fn scores_the_first_purchase_and_closed_deals_and_logs() {
        let manifest = assert_manifest_valid::<Fixture>();
        assert_eq!(manifest.needs.closed_deals, 2);
        let budgets = manifest.budgets.expect("declared");
        assert_eq!(budgets.call.memory_bytes, Some(32 << 20));
        take_logs();
        let ada = customer("ada")
            .purchase(2, 2_500, "USD")
            .purchase(1, 1_000, "USD")
            .deal(deal("d1", DealStatus::Won, 5))
            .deal(deal("d2", DealStatus::Lost, 9))
            .build();
        assert_eq!(ada.closed_deals[0].id, "d2", "newest first");
        let output = Harness::<Fixture>::new("").score(ada).unwrap();
        assert_eq!(output.score, 3000.0);
        assert_eq!(output.reasons[1].message, "1 won, 1 lost");
        assert_eq!(take_logs(), [(Level::Info, "scoring ada".to_owned())]);
    }
}
