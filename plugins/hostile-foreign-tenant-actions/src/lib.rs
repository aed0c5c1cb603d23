//! Hostile test plugin `kith.test.foreign-tenant-actions`: `score` returns
//! actions on a customer and a deal it cannot know: ids that do not exist, or
//! (set through the configuration by a test) another tenant's.
//!
//! The host must reject all of the call's actions and write nothing.

use kith_plugin_sdk::{
    Action, Attribute, AttributeValue, Channel, CustomerInput, CustomerRef, Direction, ExternalId,
    InteractionKind, LogInteraction, Manifest, MoveDeal, Plugin, Result, ScoreOutput, Scorer,
    SetAttribute, TagChange,
};
use serde::Deserialize;

/// The plugin.
#[derive(Debug)]
pub struct ForeignTenantActions;

/// A well-formed UUIDv7 that no tenant has.
pub const UNKNOWN_ID: &str = "01890000-0000-7000-8000-00000000dead";

/// Configuration: which ids to act on.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Customer id to act on (default: [`UNKNOWN_ID`]).
    pub customer_id: String,
    /// Deal id to move (default: [`UNKNOWN_ID`]).
    pub deal_id: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            customer_id: UNKNOWN_ID.to_owned(),
            deal_id: UNKNOWN_ID.to_owned(),
        }
    }
}

impl Plugin for ForeignTenantActions {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new("kith.test.foreign-tenant-actions", env!("CARGO_PKG_VERSION"), "Hostile: foreign actions")
            .description("Test plugin: returns actions on a customer and deal that are not the caller's")
            .config_schema(
                r#"{"type":"object","properties":{"customer_id":{"type":"string"},"deal_id":{"type":"string"}}}"#,
            )
    }
}

impl Scorer for ForeignTenantActions {
    fn score(config: &Config, input: &CustomerInput) -> Result<ScoreOutput> {
        let target = || CustomerRef::Id(config.customer_id.clone());
        Ok(ScoreOutput::new(0.0)
            .action(Action::AddTag(TagChange {
                customer: target(),
                tag: "pwned".to_owned(),
            }))
            .action(Action::SetAttribute(SetAttribute {
                customer: target(),
                attribute: Attribute {
                    name: "pwned".to_owned(),
                    value: AttributeValue::Boolean(true),
                },
            }))
            .action(Action::LogInteraction(LogInteraction {
                customer: target(),
                channel: Channel::Other,
                kind: InteractionKind::Note,
                direction: Direction::Outbound,
                occurred_at: input.now,
                subject: Some("written by kith.test.foreign-tenant-actions".to_owned()),
                amount: None,
                rating: None,
                status: None,
                attributes: Vec::new(),
                external_id: Some(ExternalId::new(
                    "kith.test",
                    format!("foreign-{}", input.seed),
                )),
            }))
            .action(Action::MoveDeal(MoveDeal {
                deal_id: config.deal_id.clone(),
                stage: "won".to_owned(),
            })))
    }
}

kith_plugin_sdk::export_plugin!(ForeignTenantActions, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};

    use super::*;

    #[test]
    fn every_action_targets_the_configured_ids() {
        assert_manifest_valid::<ForeignTenantActions>();
        let config = r#"{"customer_id":"other-tenant-customer","deal_id":"other-deal"}"#;
        let output = Harness::<ForeignTenantActions>::new(config)
            .score(customer("mine").build())
            .unwrap();
        assert_eq!(output.actions.len(), 4);
        let foreign = CustomerRef::Id("other-tenant-customer".to_owned());
        for action in &output.actions {
            match action {
                Action::AddTag(TagChange { customer, .. })
                | Action::SetAttribute(SetAttribute { customer, .. })
                | Action::LogInteraction(LogInteraction { customer, .. }) => {
                    assert_eq!(customer, &foreign)
                }
                Action::MoveDeal(m) => assert_eq!(m.deal_id, "other-deal"),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}
