//! The tenant's configuration as written (JSON) and as used ([`Rules`]): defaults filled in,
//! keys normalized, every number checked.

use std::collections::BTreeMap;

use kith_plugin_sdk::{Direction, InteractionKind, PluginError, Result};
use serde::Deserialize;

/// JSON Schema of the configuration.
pub const CONFIG_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "additionalProperties": false,
  "$defs": {
    "weight": { "type": "number", "minimum": 0, "default": 1 },
    "unit": { "type": "number", "minimum": 0, "maximum": 1 },
    "table": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "attribute": { "description": "Customer attribute to read", "type": ["string", "null"] },
        "weight": { "$ref": "#/$defs/weight" },
        "scores": { "description": "Value -> fit 0..1 (keys compared case-insensitively)", "type": "object", "additionalProperties": { "$ref": "#/$defs/unit" } },
        "otherwise": { "description": "Fit of a known value missing from scores", "$ref": "#/$defs/unit" }
      }
    }
  },
  "properties": {
    "fit_share": { "description": "Share of the 100 points that fit can earn; engagement earns the rest", "$ref": "#/$defs/unit", "default": 0.5 },
    "fit": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "industry": { "$ref": "#/$defs/table" },
        "country": { "$ref": "#/$defs/table" },
        "company_size": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "attribute": { "type": "string", "default": "employees" },
            "weight": { "$ref": "#/$defs/weight" },
            "bands": { "type": "array", "items": { "type": "object", "additionalProperties": false, "required": ["min", "score"],
              "properties": { "min": { "type": "number", "minimum": 0 }, "score": { "$ref": "#/$defs/unit" } } } }
          }
        },
        "seniority": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "attribute": { "type": "string", "default": "job_title" },
            "weight": { "$ref": "#/$defs/weight" },
            "levels": { "type": "array", "items": { "type": "object", "additionalProperties": false, "required": ["name", "keywords", "score"],
              "properties": { "name": { "type": "string" }, "keywords": { "type": "array", "items": { "type": "string" } }, "score": { "$ref": "#/$defs/unit" } } } },
            "otherwise": { "$ref": "#/$defs/unit", "default": 0.2 }
          }
        }
      }
    },
    "engagement": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "half_life_days": { "description": "Days after which an interaction counts half", "type": "number", "exclusiveMinimum": 0, "default": 30 },
        "scale": { "description": "Decayed points at which engagement earns 63% of its share", "type": "number", "exclusiveMinimum": 0, "default": 40 },
        "signals": { "type": "array", "maxItems": 32, "items": { "type": "object", "additionalProperties": false, "required": ["code", "kind", "points"],
          "properties": {
            "code": { "type": "string", "pattern": "^[a-z][a-z0-9-]{0,39}$" },
            "kind": { "type": "string", "description": "Interaction kind, e.g. form-submission" },
            "direction": { "enum": ["inbound", "outbound", null] },
            "attribute": { "type": ["string", "null"] },
            "contains": { "type": ["string", "null"], "description": "Case-insensitive substring the text attribute must contain" },
            "points": { "type": "number", "minimum": 0 } } } }
      }
    },
    "grades": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "a": { "type": "number", "default": 75 }, "b": { "type": "number", "default": 50 }, "c": { "type": "number", "default": 25 }
      }
    },
    "lifecycle": {
      "description": "Score thresholds that move a customer forward; leave out to never move",
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "marketing_qualified": { "type": ["number", "null"], "minimum": 0, "maximum": 100 },
        "sales_qualified": { "type": ["number", "null"], "minimum": 0, "maximum": 100 }
      }
    }
  }
}"##;

/// The tenant's configuration as written; every field is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Share of the 100 points fit can earn (0-1, default 0.5); engagement earns the rest.
    pub fit_share: Option<f64>,
    /// The four fit criteria.
    pub fit: FitConfig,
    /// Engagement signals and decay.
    pub engagement: EngagementConfig,
    /// Grade thresholds.
    pub grades: GradesConfig,
    /// Lifecycle thresholds (none by default: the plugin never moves a stage unless asked).
    pub lifecycle: LifecycleConfig,
}

/// Fit criteria as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitConfig {
    /// Industry (attribute `industry` by default).
    pub industry: TableConfig,
    /// Country (the profile's country by default).
    pub country: TableConfig,
    /// Company size (attribute `employees` by default).
    pub company_size: SizeConfig,
    /// Job-title seniority (attribute `job_title` by default).
    pub seniority: SeniorityConfig,
}

/// A criterion that looks its value up in a table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TableConfig {
    /// The attribute to read; for country, `null` means the profile's country field.
    pub attribute: Option<String>,
    /// Relative weight (default 1; 0 switches the criterion off).
    pub weight: Option<f64>,
    /// Value to fit 0-1.
    pub scores: Option<BTreeMap<String, f64>>,
    /// Fit of a known value that is not in `scores`.
    pub otherwise: Option<f64>,
}

/// The company-size criterion as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SizeConfig {
    /// The attribute holding the number of employees.
    pub attribute: Option<String>,
    /// Relative weight.
    pub weight: Option<f64>,
    /// Bands: a company with at least `min` employees gets `score` (highest `min` reached wins).
    pub bands: Option<Vec<Band>>,
}

/// One company-size band.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Smallest number of employees in the band.
    pub min: f64,
    /// Fit 0-1 of the band.
    pub score: f64,
}

/// The seniority criterion as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeniorityConfig {
    /// The attribute holding the job title.
    pub attribute: Option<String>,
    /// Relative weight.
    pub weight: Option<f64>,
    /// Seniority levels with the title keywords that identify them.
    pub levels: Option<Vec<Level>>,
    /// Fit of a title that matches no level.
    pub otherwise: Option<f64>,
}

/// A seniority level.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    /// Name shown in reasons, e.g. `"executive"`.
    pub name: String,
    /// Whole words or phrases of a title, e.g. `"vice president"`.
    pub keywords: Vec<String>,
    /// Fit 0-1 of the level.
    pub score: f64,
}

/// Engagement as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngagementConfig {
    /// Days after which an interaction's points count half.
    pub half_life_days: Option<f64>,
    /// Decayed points at which engagement earns 1 - 1/e (63%) of its share.
    pub scale: Option<f64>,
    /// The signals; replaces the default list when given.
    pub signals: Option<Vec<SignalConfig>>,
}

/// An engagement signal as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalConfig {
    /// Stable code, used in reasons as `engagement.<code>`.
    pub code: String,
    /// Interaction kind in kebab case, e.g. `"page-view"`.
    pub kind: String,
    /// Only interactions in this direction (`"inbound"` or `"outbound"`).
    #[serde(default)]
    pub direction: Option<String>,
    /// Only interactions that have this attribute.
    #[serde(default)]
    pub attribute: Option<String>,
    /// ... whose text contains this (case-insensitive).
    #[serde(default)]
    pub contains: Option<String>,
    /// Points of one such interaction happening now.
    pub points: f64,
}

/// Grade thresholds as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GradesConfig {
    /// Lowest score graded A (default 75).
    pub a: Option<f64>,
    /// Lowest score graded B (default 50).
    pub b: Option<f64>,
    /// Lowest score graded C (default 25); below is D.
    pub c: Option<f64>,
}

/// Lifecycle thresholds as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// Score from which a subscriber or lead becomes marketing-qualified.
    pub marketing_qualified: Option<f64>,
    /// Score from which a subscriber, lead or MQL becomes sales-qualified.
    pub sales_qualified: Option<f64>,
}

/// The validated configuration with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Points fit can earn (100 x fit share).
    pub fit_points: f64,
    /// Points engagement can earn (100 - fit points).
    pub engagement_points: f64,
    /// Industry criterion.
    pub industry: Table,
    /// Country criterion.
    pub country: Table,
    /// Company-size criterion.
    pub company_size: Size,
    /// Seniority criterion.
    pub seniority: Seniority,
    /// Half-life of engagement, in days.
    pub half_life_days: f64,
    /// Saturation scale of engagement, in decayed points.
    pub scale: f64,
    /// Engagement signals.
    pub signals: Vec<Signal>,
    /// Grade thresholds A, B, C.
    pub grades: [f64; 3],
    /// Marketing-qualified threshold, if any.
    pub mql: Option<f64>,
    /// Sales-qualified threshold, if any.
    pub sql: Option<f64>,
}

/// Where a criterion reads its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A custom attribute.
    Attribute(String),
    /// The profile's country field.
    ProfileCountry,
}

/// A validated table criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Where the value comes from.
    pub source: Source,
    /// Relative weight.
    pub weight: f64,
    /// Normalized value to fit.
    pub scores: BTreeMap<String, f64>,
    /// Fit of other known values.
    pub otherwise: f64,
}

/// A validated company-size criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Size {
    /// Attribute holding the number of employees.
    pub attribute: String,
    /// Relative weight.
    pub weight: f64,
    /// Bands, highest `min` first.
    pub bands: Vec<Band>,
}

/// A validated seniority criterion.
#[derive(Debug, Clone, PartialEq)]
pub struct Seniority {
    /// Attribute holding the job title.
    pub attribute: String,
    /// Relative weight.
    pub weight: f64,
    /// Levels with their keywords split into lower-case words.
    pub levels: Vec<(String, Vec<Vec<String>>, f64)>,
    /// Fit of a title that matches no level.
    pub otherwise: f64,
}

/// A validated engagement signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Stable code.
    pub code: String,
    /// Interaction kind.
    pub kind: InteractionKind,
    /// Required direction, if any.
    pub direction: Option<Direction>,
    /// Required attribute, if any.
    pub attribute: Option<String>,
    /// Lower-case text the attribute must contain, if any.
    pub contains: Option<String>,
    /// Points when it happens now.
    pub points: f64,
}

fn invalid(field: &str, what: impl std::fmt::Display) -> PluginError {
    PluginError::InvalidConfig(format!("invalid configuration at {field}: {what}"))
}

fn unit(field: &str, value: f64) -> Result<f64> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format_args!("{value} is not between 0 and 1"),
        ))
    }
}

fn weight(field: &str, value: Option<f64>) -> Result<f64> {
    let value = value.unwrap_or(1.0);
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(invalid(field, format_args!("{value} is not a weight >= 0")))
    }
}

fn attribute_name(field: &str, name: String) -> Result<String> {
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err(invalid(field, "attribute name is empty"));
    }
    Ok(name)
}

/// Lower case, trimmed, runs of spaces and underscores as one `-`: "Financial Services" and
/// "financial_services" both become "financial-services".
pub fn normalize_key(raw: &str) -> String {
    raw.trim()
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The lower-case alphanumeric words of a text: "VP, Sales & Ops" -> ["vp", "sales", "ops"].
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The interaction kind written in kebab case.
pub fn parse_kind(raw: &str) -> Option<InteractionKind> {
    use InteractionKind as K;
    Some(match raw {
        "note" => K::Note,
        "email" => K::Email,
        "call" => K::Call,
        "meeting" => K::Meeting,
        "message" => K::Message,
        "task" => K::Task,
        "ticket" => K::Ticket,
        "complaint" => K::Complaint,
        "purchase" => K::Purchase,
        "refund" => K::Refund,
        "survey-response" => K::SurveyResponse,
        "page-view" => K::PageView,
        "form-submission" => K::FormSubmission,
        "other" => K::Other,
        _ => return None,
    })
}

fn default_industries() -> BTreeMap<String, f64> {
    [
        ("software", 1.0),
        ("financial-services", 0.8),
        ("healthcare", 0.7),
        ("professional-services", 0.6),
        ("manufacturing", 0.5),
        ("retail", 0.4),
        ("education", 0.3),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn default_countries() -> BTreeMap<String, f64> {
    [
        ("US", 1.0),
        ("CA", 0.9),
        ("GB", 0.9),
        ("DE", 0.8),
        ("NL", 0.8),
        ("AU", 0.8),
        ("FR", 0.7),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn default_bands() -> Vec<Band> {
    [
        (1000.0, 1.0),
        (200.0, 0.8),
        (50.0, 0.55),
        (10.0, 0.3),
        (1.0, 0.1),
    ]
    .into_iter()
    .map(|(min, score)| Band { min, score })
    .collect()
}

fn default_levels() -> Vec<Level> {
    let level = |name: &str, keywords: &[&str], score| Level {
        name: name.to_owned(),
        keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
        score,
    };
    vec![
        level(
            "executive",
            &[
                "chief",
                "ceo",
                "cto",
                "cfo",
                "coo",
                "cmo",
                "cio",
                "cro",
                "founder",
                "owner",
                "president",
                "managing director",
                "partner",
            ],
            1.0,
        ),
        level(
            "vice-president",
            &["vp", "svp", "evp", "vice president", "head of", "head"],
            0.85,
        ),
        level("director", &["director"], 0.7),
        level("manager", &["manager", "lead", "supervisor"], 0.45),
        level(
            "junior",
            &["intern", "student", "trainee", "assistant", "junior"],
            0.05,
        ),
    ]
}

/// The default engagement signals: demo request, pricing page view, email reply, meeting.
pub fn default_signals() -> Vec<SignalConfig> {
    let signal = |code: &str,
                  kind: &str,
                  direction: Option<&str>,
                  attribute: Option<&str>,
                  contains: Option<&str>,
                  points: f64| SignalConfig {
        code: code.to_owned(),
        kind: kind.to_owned(),
        direction: direction.map(str::to_owned),
        attribute: attribute.map(str::to_owned),
        contains: contains.map(str::to_owned),
        points,
    };
    vec![
        signal(
            "demo-request",
            "form-submission",
            None,
            Some("form"),
            Some("demo"),
            30.0,
        ),
        signal("meeting", "meeting", None, None, None, 20.0),
        signal(
            "pricing-page-view",
            "page-view",
            None,
            Some("url"),
            Some("pricing"),
            10.0,
        ),
        signal("email-reply", "email", Some("inbound"), None, None, 8.0),
    ]
}

impl Config {
    /// Checks every field and fills in the defaults.
    pub fn rules(&self) -> Result<Rules> {
        let fit_share = unit("fit_share", self.fit_share.unwrap_or(0.5))?;
        let industry = table(
            "fit.industry",
            &self.fit.industry,
            Source::Attribute("industry".to_owned()),
            default_industries,
            0.2,
            normalize_key,
        )?;
        let country = table(
            "fit.country",
            &self.fit.country,
            Source::ProfileCountry,
            default_countries,
            0.3,
            |k| k.trim().to_uppercase(),
        )?;
        let company_size = size(&self.fit.company_size)?;
        let seniority = seniority(&self.fit.seniority)?;
        let total_weight =
            industry.weight + country.weight + company_size.weight + seniority.weight;
        if fit_share > 0.0 && total_weight <= 0.0 {
            return Err(invalid(
                "fit",
                "every criterion has weight 0 but fit_share is above 0",
            ));
        }
        let e = &self.engagement;
        let half_life_days = positive("engagement.half_life_days", e.half_life_days, 30.0)?;
        let scale = positive("engagement.scale", e.scale, 40.0)?;
        let signals = match &e.signals {
            Some(list) => list.clone(),
            None => default_signals(),
        };
        if signals.len() > 32 {
            return Err(invalid("engagement.signals", "at most 32 signals"));
        }
        let signals = signals
            .iter()
            .enumerate()
            .map(|(i, s)| signal(&format!("engagement.signals[{i}]"), s))
            .collect::<Result<Vec<_>>>()?;
        for (i, s) in signals.iter().enumerate() {
            if signals[..i].iter().any(|o| o.code == s.code) {
                return Err(invalid(
                    &format!("engagement.signals[{i}].code"),
                    format_args!("{:?} is used twice", s.code),
                ));
            }
        }
        let g = &self.grades;
        let grades = [
            g.a.unwrap_or(75.0),
            g.b.unwrap_or(50.0),
            g.c.unwrap_or(25.0),
        ];
        if grades.iter().any(|x| !x.is_finite())
            || !(grades[0] > grades[1] && grades[1] > grades[2])
        {
            return Err(invalid(
                "grades",
                format_args!("thresholds must be finite with a > b > c, got {grades:?}"),
            ));
        }
        let threshold = |field: &str, value: Option<f64>| -> Result<Option<f64>> {
            match value {
                Some(v) if !(v.is_finite() && (0.0..=100.0).contains(&v)) => Err(invalid(
                    field,
                    format_args!("{v} is not a score between 0 and 100"),
                )),
                other => Ok(other),
            }
        };
        let mql = threshold(
            "lifecycle.marketing_qualified",
            self.lifecycle.marketing_qualified,
        )?;
        let sql = threshold("lifecycle.sales_qualified", self.lifecycle.sales_qualified)?;
        if let (Some(m), Some(s)) = (mql, sql)
            && m >= s
        {
            return Err(invalid(
                "lifecycle",
                format_args!("marketing_qualified ({m}) must be below sales_qualified ({s})"),
            ));
        }
        Ok(Rules {
            fit_points: 100.0 * fit_share,
            engagement_points: 100.0 * (1.0 - fit_share),
            industry,
            country,
            company_size,
            seniority,
            half_life_days,
            scale,
            signals,
            grades,
            mql,
            sql,
        })
    }
}

fn positive(field: &str, value: Option<f64>, default: f64) -> Result<f64> {
    let value = value.unwrap_or(default);
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format_args!("{value} is not a number above 0"),
        ))
    }
}

fn table(
    field: &str,
    config: &TableConfig,
    default_source: Source,
    default_scores: fn() -> BTreeMap<String, f64>,
    default_otherwise: f64,
    normalize: fn(&str) -> String,
) -> Result<Table> {
    let source = match &config.attribute {
        Some(name) => {
            Source::Attribute(attribute_name(&format!("{field}.attribute"), name.clone())?)
        }
        None => default_source,
    };
    let scores = match &config.scores {
        Some(scores) => scores.clone(),
        None => default_scores(),
    };
    let mut normalized = BTreeMap::new();
    for (key, value) in scores {
        let here = format!("{field}.scores.{key}");
        let value = unit(&here, value)?;
        let norm = normalize(&key);
        if norm.is_empty() {
            return Err(invalid(&here, "empty key"));
        }
        if normalized.insert(norm, value).is_some() {
            return Err(invalid(&here, "the same value is listed twice"));
        }
    }
    Ok(Table {
        source,
        weight: weight(&format!("{field}.weight"), config.weight)?,
        scores: normalized,
        otherwise: unit(
            &format!("{field}.otherwise"),
            config.otherwise.unwrap_or(default_otherwise),
        )?,
    })
}

fn size(config: &SizeConfig) -> Result<Size> {
    let mut bands = config.bands.clone().unwrap_or_else(default_bands);
    for (i, band) in bands.iter().enumerate() {
        let here = format!("fit.company_size.bands[{i}]");
        if !(band.min.is_finite() && band.min >= 0.0) {
            return Err(invalid(&here, format_args!("min {} is not >= 0", band.min)));
        }
        unit(&format!("{here}.score"), band.score)?;
    }
    bands.sort_by(|a, b| b.min.total_cmp(&a.min));
    if bands.windows(2).any(|w| w[0].min == w[1].min) {
        return Err(invalid(
            "fit.company_size.bands",
            "two bands have the same min",
        ));
    }
    Ok(Size {
        attribute: attribute_name(
            "fit.company_size.attribute",
            config
                .attribute
                .clone()
                .unwrap_or_else(|| "employees".to_owned()),
        )?,
        weight: weight("fit.company_size.weight", config.weight)?,
        bands,
    })
}

fn seniority(config: &SeniorityConfig) -> Result<Seniority> {
    let levels = config.levels.clone().unwrap_or_else(default_levels);
    let levels = levels
        .into_iter()
        .enumerate()
        .map(|(i, level)| {
            let here = format!("fit.seniority.levels[{i}]");
            let keywords: Vec<Vec<String>> = level.keywords.iter().map(|k| words(k)).collect();
            if level.name.trim().is_empty()
                || keywords.is_empty()
                || keywords.iter().any(Vec::is_empty)
            {
                return Err(invalid(
                    &here,
                    "a level needs a name and keywords with at least one letter or digit each",
                ));
            }
            Ok((
                level.name,
                keywords,
                unit(&format!("{here}.score"), level.score)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Seniority {
        attribute: attribute_name(
            "fit.seniority.attribute",
            config
                .attribute
                .clone()
                .unwrap_or_else(|| "job_title".to_owned()),
        )?,
        weight: weight("fit.seniority.weight", config.weight)?,
        levels,
        otherwise: unit("fit.seniority.otherwise", config.otherwise.unwrap_or(0.2))?,
    })
}

fn signal(field: &str, s: &SignalConfig) -> Result<Signal> {
    let code_ok = (1..=40).contains(&s.code.len())
        && s.code.starts_with(|c: char| c.is_ascii_lowercase())
        && s.code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !code_ok {
        return Err(invalid(
            &format!("{field}.code"),
            format_args!("{:?} is not 1-40 characters a-z, 0-9, '-'", s.code),
        ));
    }
    let kind = parse_kind(&s.kind).ok_or_else(|| {
        invalid(
            &format!("{field}.kind"),
            format_args!(
                "{:?} is not an interaction kind such as \"page-view\"",
                s.kind
            ),
        )
    })?;
    let direction = match s.direction.as_deref() {
        None => None,
        Some("inbound") => Some(Direction::Inbound),
        Some("outbound") => Some(Direction::Outbound),
        Some(other) => {
            return Err(invalid(
                &format!("{field}.direction"),
                format_args!("{other:?} is neither \"inbound\" nor \"outbound\""),
            ));
        }
    };
    if s.contains.is_some() && s.attribute.is_none() {
        return Err(invalid(
            &format!("{field}.contains"),
            "needs the attribute whose text to search",
        ));
    }
    if !(s.points.is_finite() && s.points >= 0.0) {
        return Err(invalid(
            &format!("{field}.points"),
            format_args!("{} is not a number >= 0", s.points),
        ));
    }
    Ok(Signal {
        code: s.code.clone(),
        kind,
        direction,
        attribute: s
            .attribute
            .clone()
            .map(|a| attribute_name(&format!("{field}.attribute"), a))
            .transpose()?,
        contains: s.contains.as_ref().map(|c| c.to_lowercase()),
        points: s.points,
    })
}
