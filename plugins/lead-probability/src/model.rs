//! The naive Bayes model: per field, how often each value occurred among won and among lost
//! customers. Stored as JSON so an admin can read what the model learned.

use std::collections::BTreeMap;

use kith_plugin_sdk::{PluginError, Result};
use serde::{Deserialize, Serialize};

use crate::config::Settings;

/// Format version of the encoded model; bump when the layout changes.
const VERSION: u8 = 1;

/// Won and lost counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Won customers.
    pub won: u64,
    /// Lost customers.
    pub lost: u64,
}

impl Counts {
    fn add(&mut self, won: bool) {
        if won {
            self.won += 1;
        } else {
            self.lost += 1;
        }
    }

    fn total(self) -> u64 {
        self.won + self.lost
    }
}

/// What one field learned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldTable {
    /// [`crate::features::Field::key`] of the field it was trained on.
    pub key: String,
    /// Counts per value.
    pub values: BTreeMap<String, Counts>,
    /// Counts of the values dropped to keep at most `max_values`; `None` when none was dropped.
    pub other: Option<Counts>,
}

impl FieldTable {
    /// The counts of `value` (the shared bucket for dropped values), `None` if never seen.
    pub fn counts(&self, value: &str) -> Option<Counts> {
        self.values.get(value).copied().or(self.other)
    }

    /// Totals over every value: customers of each class for which the field was known.
    pub fn totals(&self) -> Counts {
        self.values
            .values()
            .chain(&self.other)
            .fold(Counts::default(), |acc, c| Counts {
                won: acc.won + c.won,
                lost: acc.lost + c.lost,
            })
    }

    /// Distinct values, counting the shared bucket as one.
    pub fn distinct(&self) -> usize {
        self.values.len() + usize::from(self.other.is_some())
    }
}

/// The trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Format version.
    pub version: u8,
    /// Won and lost customers trained on.
    pub outcomes: Counts,
    /// One table per configured field, in order.
    pub fields: Vec<FieldTable>,
}

impl Model {
    /// Trains on `(won, value per field)` examples; `None` when there are fewer than
    /// `min_outcomes` or no won or no lost example.
    pub fn train(
        settings: &Settings,
        examples: impl IntoIterator<Item = (bool, Vec<Option<String>>)>,
    ) -> Option<Model> {
        let mut outcomes = Counts::default();
        let mut tables: Vec<BTreeMap<String, Counts>> =
            vec![BTreeMap::new(); settings.fields.len()];
        for (won, values) in examples {
            outcomes.add(won);
            for (table, value) in tables.iter_mut().zip(values) {
                if let Some(value) = value {
                    table.entry(value).or_default().add(won);
                }
            }
        }
        if outcomes.won == 0 || outcomes.lost == 0 || outcomes.total() < settings.min_outcomes {
            return None;
        }
        let fields = settings
            .fields
            .iter()
            .zip(tables)
            .map(|(field, values)| cap(field.key(), values, settings.max_values))
            .collect();
        Some(Model {
            version: VERSION,
            outcomes,
            fields,
        })
    }

    /// Serializes the model (JSON).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a model written by [`Model::encode`] for the configured fields.
    pub fn decode(bytes: &[u8], settings: &Settings) -> Result<Model> {
        let stale = |why: String| {
            PluginError::InvalidInput(format!(
                "lead-probability model {why}; run the population step again"
            ))
        };
        let model: Model =
            serde_json::from_slice(bytes).map_err(|e| stale(format!("is unreadable ({e})")))?;
        if model.version != VERSION {
            return Err(stale(format!(
                "is version {}, not {VERSION}",
                model.version
            )));
        }
        let trained: Vec<&str> = model.fields.iter().map(|f| f.key.as_str()).collect();
        let configured: Vec<String> = settings.fields.iter().map(|f| f.key()).collect();
        if trained != configured {
            return Err(stale(
                "was trained on other fields than the configuration names".into(),
            ));
        }
        Ok(model)
    }

    /// Log-odds of won before any field is known, with Laplace smoothing.
    pub fn prior_log_odds(&self, laplace: f64) -> f64 {
        ((self.outcomes.won as f64 + laplace) / (self.outcomes.lost as f64 + laplace)).ln()
    }

    /// Weight of evidence of `value` for field `index`: ln P(value | won) / P(value | lost),
    /// each smoothed as (count + a) / (total + a * distinct). `None` when the value was never
    /// seen in training (it then says nothing either way).
    pub fn evidence(&self, index: usize, value: &str, laplace: f64) -> Option<f64> {
        let table = self.fields.get(index)?;
        let counts = table.counts(value)?;
        let totals = table.totals();
        let k = table.distinct() as f64;
        let p_won = (counts.won as f64 + laplace) / (totals.won as f64 + laplace * k);
        let p_lost = (counts.lost as f64 + laplace) / (totals.lost as f64 + laplace * k);
        Some((p_won / p_lost).ln())
    }
}

/// Keeps the `max` most frequent values (ties by value), folding the rest into one bucket.
fn cap(key: String, values: BTreeMap<String, Counts>, max: usize) -> FieldTable {
    if values.len() <= max {
        return FieldTable {
            key,
            values,
            other: None,
        };
    }
    let mut ranked: Vec<(String, Counts)> = values.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then_with(|| a.0.cmp(&b.0)));
    let mut other = Counts::default();
    for (_, counts) in ranked.drain(max..) {
        other.won += counts.won;
        other.lost += counts.lost;
    }
    FieldTable {
        key,
        values: ranked.into_iter().collect(),
        other: Some(other),
    }
}

/// 100 times the logistic function: a log-odds as a probability in percent.
pub fn percent(log_odds: f64) -> f64 {
    100.0 / (1.0 + (-log_odds).exp())
}

/// Exact Shapley values of `percent(base + sum of weights)` over the weights: how many
/// percentage points each field adds, on average over every order in which the fields could
/// be learned. They add up to `percent(base + sum) - percent(base)`, whatever the signs.
///
/// Costs `2^n * n` steps; the configuration allows at most 12 fields.
pub fn shapley(base: f64, weights: &[f64]) -> Vec<f64> {
    let n = weights.len();
    if n == 0 {
        return Vec::new();
    }
    let subsets = 1usize << n;
    let value: Vec<f64> = (0..subsets)
        .map(|mask| {
            let sum: f64 = (0..n)
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| weights[i])
                .sum();
            percent(base + sum)
        })
        .collect();
    // |S|! (n - |S| - 1)! / n! for every size |S|.
    let factorial: Vec<f64> = (0..=n)
        .scan(1.0f64, |acc, i| {
            *acc *= (i.max(1)) as f64;
            Some(*acc)
        })
        .collect();
    let coefficient: Vec<f64> = (0..n)
        .map(|s| factorial[s] * factorial[n - s - 1] / factorial[n])
        .collect();
    let mut phi = vec![0.0; n];
    for mask in 0..subsets {
        let size = mask.count_ones() as usize;
        for (i, p) in phi.iter_mut().enumerate() {
            if mask & (1 << i) == 0 {
                *p += coefficient[size] * (value[mask | (1 << i)] - value[mask]);
            }
        }
    }
    phi
}
