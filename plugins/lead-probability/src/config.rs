//! The tenant's configuration as written, and the [`Field`]s it names once validated.

use kith_plugin_sdk::{PluginError, Result};
use serde::Deserialize;

use crate::features::{Field, Source, Transform};

/// The attribute that holds a customer's deal outcome (`won` or `lost`); the host or an
/// integration must set it, because population summaries carry no deals.
pub const OUTCOME_ATTRIBUTE: &str = "deal_outcome";

/// The custom attributes the population step receives: the outcome and the firmographics a
/// field may read. The manifest must name them before any configuration is known, so a
/// field can only read one of these.
pub const POPULATION_ATTRIBUTES: [&str; 12] = [
    OUTCOME_ATTRIBUTE,
    "industry",
    "employees",
    "company_size",
    "annual_revenue",
    "country",
    "region",
    "job_title",
    "seniority",
    "department",
    "lead_source",
    "plan",
];

/// Most fields a configuration may name (the Shapley reasons cost 2^fields evaluations).
pub const MAX_FIELDS: usize = 12;

/// JSON Schema of the configuration.
pub const CONFIG_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "fields": {
      "description": "What the model learns from; each field reads one attribute or one interaction count",
      "type": "array", "minItems": 1, "maxItems": 12,
      "items": {
        "type": "object", "additionalProperties": false,
        "properties": {
          "name": { "type": "string", "pattern": "^[a-z][a-z0-9_.-]{0,39}$" },
          "attribute": { "enum": ["industry", "employees", "company_size", "annual_revenue", "country", "region", "job_title", "seniority", "department", "lead_source", "plan"] },
          "interactions": { "type": "string", "description": "Interaction kind whose count is the value, e.g. meeting" },
          "bands": { "type": "array", "items": { "type": "number" }, "description": "Increasing cut points for numbers and counts" },
          "transform": { "enum": ["seniority"] }
        },
        "oneOf": [ { "required": ["attribute"] }, { "required": ["interactions"] } ]
      }
    },
    "outcome": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "won": { "type": "array", "items": { "type": "string" }, "default": ["won"] },
        "lost": { "type": "array", "items": { "type": "string" }, "default": ["lost"] }
      }
    },
    "laplace": { "description": "Additive smoothing of value counts", "type": "number", "exclusiveMinimum": 0, "default": 1 },
    "min_outcomes": { "description": "Won plus lost customers needed to train (at least one of each)", "type": "integer", "minimum": 2, "default": 10 },
    "max_values": { "description": "Distinct values kept per field; rarer ones share one bucket", "type": "integer", "minimum": 1, "maximum": 1000, "default": 200 }
  }
}"##;

/// The tenant's configuration as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The fields to learn from; [`default_fields`] when left out.
    pub fields: Option<Vec<FieldConfig>>,
    /// Which `deal_outcome` values mean won and lost.
    pub outcome: OutcomeConfig,
    /// Laplace smoothing (default 1).
    pub laplace: Option<f64>,
    /// Won plus lost customers needed to train (default 10).
    pub min_outcomes: Option<u64>,
    /// Distinct values kept per field (default 200).
    pub max_values: Option<u64>,
}

/// One field as written: exactly one of `attribute` and `interactions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldConfig {
    /// Name in reasons; defaults to the attribute or `interactions.<kind>`.
    pub name: Option<String>,
    /// A custom attribute from [`POPULATION_ATTRIBUTES`].
    pub attribute: Option<String>,
    /// An interaction kind whose count is the value.
    pub interactions: Option<String>,
    /// Increasing cut points that turn numbers and counts into bands.
    pub bands: Option<Vec<f64>>,
    /// `"seniority"`: a job title becomes its seniority level.
    pub transform: Option<String>,
}

/// The outcome values as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutcomeConfig {
    /// Values meaning won (default `["won"]`), compared case-insensitively.
    pub won: Option<Vec<String>>,
    /// Values meaning lost (default `["lost"]`).
    pub lost: Option<Vec<String>>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The fields, in configured order.
    pub fields: Vec<Field>,
    /// Lower-case values meaning won.
    pub won: Vec<String>,
    /// Lower-case values meaning lost.
    pub lost: Vec<String>,
    /// Laplace smoothing.
    pub laplace: f64,
    /// Won plus lost customers needed to train.
    pub min_outcomes: u64,
    /// Distinct values kept per field.
    pub max_values: usize,
}

/// Industry, employee band, country, seniority of the job title and number of meetings.
pub fn default_fields() -> Vec<FieldConfig> {
    let attribute = |name: &str| FieldConfig {
        attribute: Some(name.to_owned()),
        ..FieldConfig::default()
    };
    vec![
        attribute("industry"),
        FieldConfig {
            bands: Some(vec![10.0, 50.0, 200.0, 1000.0]),
            ..attribute("employees")
        },
        attribute("country"),
        FieldConfig {
            transform: Some("seniority".to_owned()),
            ..attribute("job_title")
        },
        FieldConfig {
            interactions: Some("meeting".to_owned()),
            bands: Some(vec![1.0, 2.0, 4.0]),
            ..FieldConfig::default()
        },
    ]
}

fn invalid(field: &str, what: impl std::fmt::Display) -> PluginError {
    PluginError::InvalidConfig(format!("invalid configuration at {field}: {what}"))
}

impl Config {
    /// Checks every field and fills in the defaults.
    pub fn settings(&self) -> Result<Settings> {
        let fields = self.fields.clone().unwrap_or_else(default_fields);
        if fields.is_empty() || fields.len() > MAX_FIELDS {
            return Err(invalid(
                "fields",
                format_args!("between 1 and {MAX_FIELDS} fields, got {}", fields.len()),
            ));
        }
        let fields = fields
            .iter()
            .enumerate()
            .map(|(i, f)| field(&format!("fields[{i}]"), f))
            .collect::<Result<Vec<_>>>()?;
        for (i, f) in fields.iter().enumerate() {
            if fields[..i].iter().any(|o| o.name == f.name) {
                return Err(invalid(
                    &format!("fields[{i}].name"),
                    format_args!("{:?} is used twice", f.name),
                ));
            }
        }
        let values =
            |field: &str, list: &Option<Vec<String>>, default: &str| -> Result<Vec<String>> {
                let list: Vec<String> = match list {
                    Some(list) => list.iter().map(|v| v.trim().to_lowercase()).collect(),
                    None => vec![default.to_owned()],
                };
                if list.is_empty() || list.iter().any(String::is_empty) {
                    return Err(invalid(field, "needs at least one non-empty value"));
                }
                Ok(list)
            };
        let won = values("outcome.won", &self.outcome.won, "won")?;
        let lost = values("outcome.lost", &self.outcome.lost, "lost")?;
        if let Some(both) = won.iter().find(|w| lost.contains(w)) {
            return Err(invalid(
                "outcome",
                format_args!("{both:?} cannot mean both won and lost"),
            ));
        }
        let laplace = self.laplace.unwrap_or(1.0);
        if !(laplace.is_finite() && laplace > 0.0) {
            return Err(invalid("laplace", format_args!("{laplace} is not above 0")));
        }
        let min_outcomes = self.min_outcomes.unwrap_or(10);
        if min_outcomes < 2 {
            return Err(invalid("min_outcomes", "at least 2 (one won, one lost)"));
        }
        let max_values = self.max_values.unwrap_or(200);
        if !(1..=1000).contains(&max_values) {
            return Err(invalid("max_values", "between 1 and 1000"));
        }
        Ok(Settings {
            fields,
            won,
            lost,
            laplace,
            min_outcomes,
            max_values: max_values as usize,
        })
    }
}

fn field(path: &str, f: &FieldConfig) -> Result<Field> {
    let (source, default_name) = match (&f.attribute, &f.interactions) {
        (Some(attribute), None) => {
            if attribute == OUTCOME_ATTRIBUTE
                || !POPULATION_ATTRIBUTES.contains(&attribute.as_str())
            {
                return Err(invalid(
                    &format!("{path}.attribute"),
                    format_args!(
                        "{attribute:?} is not one of the attributes the population step receives: {}",
                        POPULATION_ATTRIBUTES[1..].join(", ")
                    ),
                ));
            }
            (Source::Attribute(attribute.clone()), attribute.clone())
        }
        (None, Some(kind)) => {
            let parsed = crate::features::parse_kind(kind).ok_or_else(|| {
                invalid(
                    &format!("{path}.interactions"),
                    format_args!("{kind:?} is not an interaction kind such as \"meeting\""),
                )
            })?;
            (Source::Interactions(parsed), format!("interactions.{kind}"))
        }
        _ => {
            return Err(invalid(
                path,
                "give exactly one of \"attribute\" and \"interactions\"",
            ));
        }
    };
    let name = f.name.clone().unwrap_or(default_name);
    let name_ok = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b));
    if !name_ok {
        return Err(invalid(
            &format!("{path}.name"),
            format_args!("{name:?} is not 1-40 characters a-z, 0-9, '_', '.', '-'"),
        ));
    }
    let bands = f.bands.clone().unwrap_or_default();
    if bands.iter().any(|b| !b.is_finite()) || bands.windows(2).any(|w| w[0] >= w[1]) {
        return Err(invalid(
            &format!("{path}.bands"),
            "cut points must be finite and strictly increasing",
        ));
    }
    let transform = match f.transform.as_deref() {
        None => Transform::None,
        Some("seniority") if matches!(source, Source::Attribute(_)) => Transform::Seniority,
        Some(other) => {
            return Err(invalid(
                &format!("{path}.transform"),
                format_args!("{other:?} is not \"seniority\" on an attribute"),
            ));
        }
    };
    Ok(Field {
        name,
        source,
        bands,
        transform,
    })
}
