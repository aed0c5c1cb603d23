//! The tenant's configuration: attribute names, aliases onto the fixed vocabularies, families
//! switched off and the NPS survey filter.

use std::collections::BTreeMap;

use kith_plugin_sdk::{PluginError, Result};
use serde::Deserialize;

use crate::taxonomy::{
    GENDERS, INDUSTRIES, REGIONS, builtin_gender, builtin_industry, builtin_region, normalize,
};

/// JSON Schema of the configuration.
pub const CONFIG_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "disabled": { "description": "Families to leave out", "type": "array", "items": { "enum": ["industry", "company-size", "age", "gender", "region", "nps"] } },
    "industry_attribute": { "type": "string", "default": "industry" },
    "industry_aliases": { "description": "Tenant's industry value -> industry slug (e.g. software) or other", "type": "object", "additionalProperties": { "type": "string" } },
    "employees_attribute": { "type": "string", "default": "employees" },
    "birth_date_attribute": { "type": "string", "default": "birth_date" },
    "age_attribute": { "type": "string", "default": "age" },
    "gender_attribute": { "type": "string", "default": "gender" },
    "gender_aliases": { "description": "Tenant's gender value -> female, male, other or none", "type": "object", "additionalProperties": { "enum": ["female", "male", "other", "none"] } },
    "country_regions": { "description": "ISO country code -> region slug, overriding the built-in table", "type": "object", "additionalProperties": { "enum": ["europe", "north-america", "latin-america", "asia-pacific", "middle-east", "africa"] } },
    "nps": {
      "type": "object", "additionalProperties": false,
      "properties": {
        "survey_attribute": { "description": "Only survey responses with this attribute count", "type": ["string", "null"] },
        "survey_contains": { "description": "... whose text contains this (case-insensitive)", "type": ["string", "null"] },
        "max_age_days": { "description": "Ignore answers older than this", "type": ["integer", "null"], "minimum": 0 }
      }
    }
  }
}"##;

/// A family of segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// `industry-*`.
    Industry,
    /// `size-*`.
    CompanySize,
    /// `age-*`.
    Age,
    /// `gender-*`.
    Gender,
    /// `region-*`.
    Region,
    /// `nps-*`.
    Nps,
}

/// Which survey responses count for NPS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NpsConfig {
    /// Only survey responses that have this attribute.
    pub survey_attribute: Option<String>,
    /// ... whose text contains this.
    pub survey_contains: Option<String>,
    /// Only answers at most this many days old.
    pub max_age_days: Option<u32>,
}

/// The tenant's configuration as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Families left out.
    pub disabled: Vec<Family>,
    /// Attribute with the industry (default `industry`).
    pub industry_attribute: Option<String>,
    /// Tenant value -> industry slug.
    pub industry_aliases: BTreeMap<String, String>,
    /// Attribute with the number of employees (default `employees`).
    pub employees_attribute: Option<String>,
    /// Attribute with the date of birth (default `birth_date`).
    pub birth_date_attribute: Option<String>,
    /// Attribute with the age in years, used without a birth date (default `age`).
    pub age_attribute: Option<String>,
    /// Attribute with the gender (default `gender`).
    pub gender_attribute: Option<String>,
    /// Tenant value -> `female`, `male`, `other` or `none`.
    pub gender_aliases: BTreeMap<String, String>,
    /// Country code -> region slug.
    pub country_regions: BTreeMap<String, String>,
    /// NPS survey filter.
    pub nps: NpsConfig,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    disabled: Vec<Family>,
    /// Attribute with the industry.
    pub industry_attribute: String,
    industry_aliases: BTreeMap<String, &'static str>,
    /// Attribute with the number of employees.
    pub employees_attribute: String,
    /// Attribute with the date of birth.
    pub birth_date_attribute: String,
    /// Attribute with the age.
    pub age_attribute: String,
    /// Attribute with the gender.
    pub gender_attribute: String,
    gender_aliases: BTreeMap<String, &'static str>,
    country_regions: BTreeMap<String, &'static str>,
    /// NPS survey filter.
    pub nps: NpsConfig,
}

fn invalid(field: &str, what: impl std::fmt::Display) -> PluginError {
    PluginError::InvalidConfig(format!("invalid configuration at {field}: {what}"))
}

fn attribute(field: &str, value: &Option<String>, default: &str) -> Result<String> {
    let name = value.as_deref().unwrap_or(default).trim();
    if name.is_empty() {
        return Err(invalid(field, "attribute name is empty"));
    }
    Ok(name.to_owned())
}

/// Maps the keys of `aliases` (normalized by `key`) onto slugs of `vocabulary`.
fn aliases(
    field: &str,
    aliases: &BTreeMap<String, String>,
    vocabulary: &[&'static str],
    key: fn(&str) -> String,
) -> Result<BTreeMap<String, &'static str>> {
    let mut out = BTreeMap::new();
    for (raw, target) in aliases {
        let here = format!("{field}.{raw}");
        let slug = vocabulary
            .iter()
            .find(|slug| **slug == target.trim())
            .ok_or_else(|| {
                invalid(
                    &here,
                    format_args!("{target:?} is not one of {}", vocabulary.join(", ")),
                )
            })?;
        let k = key(raw);
        if k.is_empty() {
            return Err(invalid(&here, "empty key"));
        }
        if out.insert(k, *slug).is_some() {
            return Err(invalid(&here, "the same value is listed twice"));
        }
    }
    Ok(out)
}

impl Config {
    /// Checks every field and fills in the defaults.
    pub fn settings(&self) -> Result<Settings> {
        let industries: Vec<&'static str> = INDUSTRIES.iter().map(|(s, _)| *s).collect();
        let genders: Vec<&'static str> = GENDERS
            .iter()
            .map(|(s, _)| *s)
            .chain(std::iter::once("none"))
            .collect();
        let regions: Vec<&'static str> = REGIONS.iter().map(|(s, _)| *s).collect();
        for code in self.country_regions.keys() {
            let c = code.trim();
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(invalid(
                    &format!("country_regions.{code}"),
                    "not an ISO 3166-1 alpha-2 country code",
                ));
            }
        }
        if let (None, Some(_)) = (&self.nps.survey_attribute, &self.nps.survey_contains) {
            return Err(invalid(
                "nps.survey_contains",
                "needs nps.survey_attribute, the attribute whose text to search",
            ));
        }
        Ok(Settings {
            disabled: self.disabled.clone(),
            industry_attribute: attribute(
                "industry_attribute",
                &self.industry_attribute,
                "industry",
            )?,
            industry_aliases: aliases(
                "industry_aliases",
                &self.industry_aliases,
                &industries,
                normalize,
            )?,
            employees_attribute: attribute(
                "employees_attribute",
                &self.employees_attribute,
                "employees",
            )?,
            birth_date_attribute: attribute(
                "birth_date_attribute",
                &self.birth_date_attribute,
                "birth_date",
            )?,
            age_attribute: attribute("age_attribute", &self.age_attribute, "age")?,
            gender_attribute: attribute("gender_attribute", &self.gender_attribute, "gender")?,
            gender_aliases: aliases("gender_aliases", &self.gender_aliases, &genders, normalize)?,
            country_regions: aliases("country_regions", &self.country_regions, &regions, |c| {
                c.trim().to_uppercase()
            })?,
            nps: self.nps.clone(),
        })
    }
}

impl Settings {
    /// Whether the family is switched on.
    pub fn enabled(&self, family: Family) -> bool {
        !self.disabled.contains(&family)
    }

    /// The industry slug of a tenant value: its alias, a built-in name or synonym, else `other`.
    pub fn industry(&self, raw: &str) -> &'static str {
        let key = normalize(raw);
        self.industry_aliases
            .get(&key)
            .copied()
            .or_else(|| builtin_industry(&key))
            .unwrap_or("other")
    }

    /// The gender slug of a tenant value; `None` for values that name no segment.
    pub fn gender(&self, raw: &str) -> Option<&'static str> {
        let key = normalize(raw);
        self.gender_aliases
            .get(&key)
            .copied()
            .or_else(|| builtin_gender(&key))
            .filter(|slug| *slug != "none")
    }

    /// The region slug of a country code.
    pub fn region(&self, country: &str) -> Option<&'static str> {
        let code = country.trim().to_uppercase();
        self.country_regions
            .get(&code)
            .copied()
            .or_else(|| builtin_region(&code))
    }
}
