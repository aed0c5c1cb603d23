//! Test plugin `kith.test.contract-v0-1`: a scorer built against the released contract
//! `kith:plugin@0.1.0` with wit-bindgen alone, not the SDK (which speaks the latest contract).
//! The host must keep installing and running it unchanged beside plugins of later versions.
//!
//! Its score is ten per purchase plus one per open deal, so a test can tell that the 0.1.0
//! view (aggregates, open deals) reached it; it asks for the population step and reports the
//! population's size from its model; it tags the customer `contract-0-1`, so that actions
//! convert up too.

/// The bindings of the 0.1.0 `scorer` world, and the export.
mod bindings {
    #![allow(
        unsafe_code,
        missing_docs,
        missing_debug_implementations,
        unused_qualifications,
        clippy::all,
        reason = "generated code"
    )]

    wit_bindgen::generate!({
        path: "../../plugin-sdk/wit/since_v0.1.0",
        world: "kith:plugin/scorer@0.1.0",
    });

    use super::Fixture;

    export!(Fixture);
}

use bindings::kith::plugin::types::{
    Action, Capability, CustomerInput, CustomerRef, InputNeeds, InteractionKind, Manifest,
    PluginError, PopulationInput, Reason, ScoreOutput, TagChange,
};

/// The plugin.
#[derive(Debug)]
pub struct Fixture;

impl bindings::Guest for Fixture {
    fn manifest() -> Manifest {
        Manifest {
            id: "kith.test.contract-v0-1".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            name: "Contract 0.1.0 fixture".into(),
            description: "Test plugin built against kith:plugin@0.1.0 without the SDK".into(),
            industries: Vec::new(),
            capabilities: vec![Capability::Scorer],
            config_schema: r#"{"type":"object"}"#.into(),
            needs: InputNeeds {
                recent_interactions: 0,
                population: true,
                population_attributes: Vec::new(),
            },
            segments: Vec::new(),
        }
    }

    fn populate(input: PopulationInput) -> Result<Vec<u8>, PluginError> {
        Ok((input.customers.len() as u64).to_le_bytes().to_vec())
    }

    fn score(input: CustomerInput) -> Result<ScoreOutput, PluginError> {
        score(&input)
    }
}

/// Ten per purchase plus one per open deal; the population's size as a reason.
pub fn score(input: &CustomerInput) -> Result<ScoreOutput, PluginError> {
    let customer = &input.customer;
    let purchases = customer
        .aggregates
        .iter()
        .find(|a| a.kind == InteractionKind::Purchase)
        .map_or(0, |a| a.count);
    let population = match &input.model {
        Some(bytes) => u64::from_le_bytes(
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| PluginError::InvalidInput("the model is not 8 bytes".into()))?,
        ),
        None => 0,
    };
    let deals = customer.open_deals.len() as u64;
    Ok(ScoreOutput {
        score: (purchases * 10 + deals) as f64,
        grade: None,
        reasons: vec![
            Reason {
                code: "purchases".into(),
                message: format!("{purchases} purchases, {deals} open deals"),
                contribution: (purchases * 10) as f64,
            },
            Reason {
                code: "population".into(),
                message: format!("{population} customers in the population"),
                contribution: 0.0,
            },
        ],
        actions: vec![Action::AddTag(TagChange {
            customer: CustomerRef::Id(customer.id.clone()),
            tag: "contract-0-1".into(),
        })],
    })
}

#[cfg(test)]
mod tests {
    use super::bindings::Guest;
    use super::bindings::kith::plugin::types::{
        CustomerKind, CustomerSummary, CustomerView, InteractionAggregate, LifecycleStage,
    };
    use super::*;

    fn view(purchases: u64) -> CustomerView {
        CustomerView {
            id: "c1".into(),
            kind: CustomerKind::Person,
            display_name: "Ada".into(),
            given_name: None,
            family_name: None,
            email: None,
            phone: None,
            country: None,
            region: None,
            city: None,
            lifecycle_stage: LifecycleStage::Customer,
            tags: Vec::new(),
            attributes: Vec::new(),
            owner: None,
            marketing_consent: false,
            created_at: 0,
            aggregates: vec![InteractionAggregate {
                kind: InteractionKind::Purchase,
                count: purchases,
                totals: Vec::new(),
                first_at: 0,
                last_at: 0,
            }],
            recent_interactions: Vec::new(),
            open_deals: Vec::new(),
        }
    }

    #[test]
    fn scores_purchases_and_reads_its_model() {
        let summary = CustomerSummary {
            id: "c1".into(),
            lifecycle_stage: LifecycleStage::Customer,
            created_at: 0,
            aggregates: Vec::new(),
            attributes: Vec::new(),
        };
        let model = Fixture::populate(PopulationInput {
            customers: vec![summary.clone(), summary],
            config: "{}".into(),
            now: 0,
            seed: 0,
        })
        .unwrap();
        let input = CustomerInput {
            customer: view(3),
            config: "{}".into(),
            now: 0,
            seed: 0,
            model: Some(model),
        };
        let output = score(&input).unwrap();
        assert_eq!(output.score, 30.0);
        assert_eq!(output.reasons[1].message, "2 customers in the population");
        let bad = CustomerInput {
            model: Some(vec![1, 2]),
            ..input
        };
        assert!(matches!(score(&bad), Err(PluginError::InvalidInput(_))));
    }
}
