//! The traits a plugin implements, one per capability.

use serde::de::{Deserialize, DeserializeOwned, Deserializer, IgnoredAny};

use crate::{
    CustomerInput, HookOutput, Manifest, Membership, PopulationInput, Result, ScoreOutput, Webhook,
};

/// What every plugin has: a manifest, a configuration type and an optional population step.
///
/// Plugins are stateless: the host runs every call in a fresh instance, so all
/// methods are associated functions that get everything they need as arguments.
pub trait Plugin {
    /// The tenant's configuration, deserialized from the JSON the host passes.
    ///
    /// Use `#[serde(default)]` for optional fields and [`NoConfig`] when the
    /// plugin has no configuration. A configuration that does not deserialize
    /// fails the call with [`PluginError::InvalidConfig`](crate::PluginError::InvalidConfig)
    /// naming the field.
    type Config: DeserializeOwned;

    /// Describes the plugin.
    ///
    /// [`export_plugin!`](crate::export_plugin) adds the capability of the
    /// exported world to `capabilities` if it is missing.
    fn manifest() -> Manifest;

    /// Builds a model from summaries of all customers (scorers and segmenters only).
    ///
    /// The host calls it when the manifest sets `needs.population`, stores the
    /// bytes and passes them as `model` to every later `score`/`classify` call.
    /// Return `None` for no model. Never called for commerce hooks.
    fn populate(config: &Self::Config, input: &PopulationInput) -> Result<Option<Vec<u8>>> {
        let _ = (config, input);
        Ok(None)
    }
}

/// A plugin that scores customers (world `scorer`).
pub trait Scorer: Plugin {
    /// Scores one customer; may also return actions to apply with the score.
    fn score(config: &Self::Config, input: &CustomerInput) -> Result<ScoreOutput>;
}

/// A plugin that puts customers into the segments its manifest declares (world `segmenter`).
pub trait Segmenter: Plugin {
    /// Returns the segments the customer belongs to, each with a reason.
    fn classify(config: &Self::Config, input: &CustomerInput) -> Result<Vec<Membership>>;
}

/// A plugin that handles a commerce platform's webhooks (world `commerce-hook`).
pub trait CommerceHook: Plugin {
    /// Handles one delivery: verify it, decide a verdict, return actions.
    ///
    /// Anything wrong with the delivery itself (signature, body) should be a
    /// [`Verdict::Rejected`](crate::Verdict::Rejected), not an error: errors mean
    /// the plugin itself failed.
    fn handle(config: &Self::Config, webhook: &Webhook) -> Result<HookOutput>;
}

/// Configuration type of a plugin that has none: accepts any JSON value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoConfig;

impl<'de> Deserialize<'de> for NoConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer)?;
        Ok(NoConfig)
    }
}
