//! Kith reference plugin `kith.lead-probability`: the probability that a lead is won, from a
//! naive Bayes model trained on the tenant's won and lost customers (as Odoo's predictive lead
//! scoring does).
//!
//! - **Population step**: customers whose `deal_outcome` attribute says won or lost are the
//!   training set (population summaries carry no deals, so the outcome must be an attribute).
//!   For each configured field (an attribute such as `industry`, or a count of interactions of
//!   one kind, optionally in bands) the model counts how often each value occurred among won
//!   and among lost customers.
//! - **Score**: the win probability in percent (0-100):
//!   `P(won | values) ∝ P(won) × Π P(value | won)` with Laplace smoothing. A field whose value is
//!   unknown, or was never seen in training, is left out. Reasons: one per field with its exact
//!   Shapley share of the move away from the base rate (in percentage points, largest first),
//!   then the base rate; they add up to the score.
//!
//! ```
//! use kith_plugin_sdk::testing::{customer, Harness};
//! use kith_plugin_sdk::AttributeValue::Text;
//! use kith_plugin_lead_probability::LeadProbability;
//!
//! let lead = |id: &str, industry: &str, outcome: &str| {
//!     customer(id)
//!         .attribute("industry", Text(industry.into()))
//!         .attribute("deal_outcome", Text(outcome.into()))
//! };
//! let history = [
//!     lead("a", "software", "won"), lead("b", "software", "won"), lead("c", "software", "lost"),
//!     lead("d", "retail", "lost"), lead("e", "retail", "lost"), lead("f", "retail", "won"),
//! ];
//! let h = Harness::<LeadProbability>::new(r#"{"fields": [{"attribute": "industry"}], "min_outcomes": 2}"#)
//!     .with_population(history)
//!     .unwrap();
//! let software = h.score(customer("new").attribute("industry", Text("Software".into())).build()).unwrap();
//! // Even prior; P(software | won) = (2+1)/(3+2), P(software | lost) = (1+1)/(3+2): odds 1.5.
//! assert!((software.score - 60.0).abs() < 1e-9, "{}", software.score);
//! assert_eq!(software.reasons[0].code, "field.industry");
//! ```

mod config;
mod features;
mod model;

use kith_plugin_sdk::{
    AttributeValue, CustomerInput, Manifest, Plugin, PopulationInput, Reason, Result, ScoreOutput,
    Scorer,
};

pub use config::{
    CONFIG_SCHEMA, Config, FieldConfig, MAX_FIELDS, OUTCOME_ATTRIBUTE, OutcomeConfig,
    POPULATION_ATTRIBUTES, Settings, default_fields,
};
pub use features::{Field, Source, Transform, seniority};
pub use model::{Counts, FieldTable, Model, percent, shapley};

/// The plugin.
#[derive(Debug)]
pub struct LeadProbability;

/// Whether a `deal_outcome` value means won (`Some(true)`), lost (`Some(false)`) or neither.
fn outcome(settings: &Settings, value: &AttributeValue) -> Option<bool> {
    match value {
        AttributeValue::Boolean(won) => Some(*won),
        AttributeValue::Text(text) => {
            let text = text.trim().to_lowercase();
            if settings.won.contains(&text) {
                Some(true)
            } else if settings.lost.contains(&text) {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

impl Plugin for LeadProbability {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.lead-probability",
            env!("CARGO_PKG_VERSION"),
            "Lead win probability",
        )
        .description(
            "Win probability in percent (0-100) from a naive Bayes model trained in the population \
             step on customers whose deal_outcome attribute is won or lost; reasons give each \
             field's share in percentage points.",
        )
        .industries(["b2b", "saas", "software", "professional-services"])
        .config_schema(CONFIG_SCHEMA)
        .population(POPULATION_ATTRIBUTES)
    }

    fn populate(config: &Config, input: &PopulationInput) -> Result<Option<Vec<u8>>> {
        let settings = config.settings()?;
        let examples = input.customers.iter().filter_map(|c| {
            let value = &c
                .attributes
                .iter()
                .find(|a| a.name == OUTCOME_ATTRIBUTE)?
                .value;
            let won = outcome(&settings, value)?;
            let values = settings
                .fields
                .iter()
                .map(|f| f.value(&c.attributes, &c.aggregates))
                .collect();
            Some((won, values))
        });
        Ok(Model::train(&settings, examples).map(|m| m.encode()))
    }
}

impl Scorer for LeadProbability {
    fn score(config: &Config, input: &CustomerInput) -> Result<ScoreOutput> {
        let settings = config.settings()?;
        let Some(bytes) = &input.model else {
            return Ok(ScoreOutput::new(50.0).grade("untrained").reason(
                "no-model",
                format!(
                    "no model yet: the population step needs at least {} customers whose \
                     deal_outcome is won or lost, with at least one of each; 50% until then",
                    settings.min_outcomes
                ),
                50.0,
            ));
        };
        let model = Model::decode(bytes, &settings)?;
        let customer = &input.customer;
        let base = model.prior_log_odds(settings.laplace);
        let mut used = Vec::new();
        let mut silent = Vec::new();
        for (index, field) in settings.fields.iter().enumerate() {
            let code = format!("field.{}", field.name);
            match field.value(&customer.attributes, &customer.aggregates) {
                None => silent.push(Reason::new(code, format!("{} unknown", field.name), 0.0)),
                Some(value) => match model.evidence(index, &value, settings.laplace) {
                    Some(weight) => used.push((code, field, index, value, weight)),
                    None => silent.push(Reason::new(
                        code,
                        format!(
                            "{} {value:?} never occurred among won or lost customers",
                            field.name
                        ),
                        0.0,
                    )),
                },
            }
        }
        let weights: Vec<f64> = used.iter().map(|u| u.4).collect();
        let shares = shapley(base, &weights);
        let mut reasons: Vec<Reason> = used
            .iter()
            .zip(&shares)
            .map(|((code, field, index, value, weight), share)| {
                let counts = model.fields[*index].counts(value).unwrap_or_default();
                let totals = model.fields[*index].totals();
                Reason::new(
                    code.clone(),
                    format!(
                        "{} {value:?}: {} of {} won and {} of {} lost customers had it; odds x{:.2}",
                        field.name,
                        counts.won,
                        totals.won,
                        counts.lost,
                        totals.lost,
                        weight.exp()
                    ),
                    *share,
                )
            })
            .collect();
        reasons.sort_by(|a, b| {
            b.contribution
                .abs()
                .total_cmp(&a.contribution.abs())
                .then_with(|| a.code.cmp(&b.code))
        });
        let prior = percent(base);
        reasons.push(Reason::new(
            "base-rate",
            format!(
                "{} of {} closed customers were won: base rate {prior:.1}%",
                model.outcomes.won,
                model.outcomes.won + model.outcomes.lost
            ),
            prior,
        ));
        reasons.extend(silent);
        let score = percent(base + weights.iter().sum::<f64>());
        let mut output = ScoreOutput::new(score);
        output.reasons = reasons;
        Ok(output)
    }
}

kith_plugin_sdk::export_plugin!(LeadProbability, scorer);

#[cfg(test)]
mod tests;
