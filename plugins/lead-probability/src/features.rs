//! Fields: how one value per customer is read, the same way from a population summary (for
//! training) and from a customer view (for scoring).

use kith_plugin_sdk::{Attribute, AttributeValue, InteractionAggregate, InteractionKind};

/// Where a field reads its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A custom attribute.
    Attribute(String),
    /// The number of interactions of a kind (0 when there are none).
    Interactions(InteractionKind),
}

/// How a text value is turned into a category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Lower case, words joined by `-`.
    None,
    /// A job title becomes its seniority level (executive, vice-president, director, manager,
    /// junior, individual).
    Seniority,
}

/// A validated field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Name in reasons.
    pub name: String,
    /// Where the value comes from.
    pub source: Source,
    /// Increasing cut points for numbers and counts; empty: exact values.
    pub bands: Vec<f64>,
    /// Transformation of text values.
    pub transform: Transform,
}

impl Field {
    /// Identifies what the field reads, so a model trained on other fields is detected.
    pub fn key(&self) -> String {
        let source = match &self.source {
            Source::Attribute(a) => format!("attribute={a}"),
            Source::Interactions(k) => format!("interactions={k:?}"),
        };
        format!(
            "{}|{source}|bands={:?}|transform={:?}",
            self.name, self.bands, self.transform
        )
    }

    /// The category of a customer with these attributes and aggregates; `None` when unknown.
    pub fn value(
        &self,
        attributes: &[Attribute],
        aggregates: &[InteractionAggregate],
    ) -> Option<String> {
        match &self.source {
            Source::Interactions(kind) => {
                let count = aggregates
                    .iter()
                    .filter(|a| a.kind == *kind)
                    .map(|a| a.count)
                    .sum::<u64>();
                Some(self.number(count as f64))
            }
            Source::Attribute(name) => {
                let value = &attributes.iter().find(|a| &a.name == name)?.value;
                match value {
                    AttributeValue::Text(text) if text.trim().is_empty() => None,
                    AttributeValue::Text(text) if self.transform == Transform::Seniority => {
                        Some(seniority(text).to_owned())
                    }
                    AttributeValue::Text(text) if !self.bands.is_empty() => {
                        leading_number(text).map(|n| self.number(n))
                    }
                    AttributeValue::Text(text) => Some(normalize(text)),
                    AttributeValue::Number(n) => Some(self.number(*n)),
                    AttributeValue::Money(m) => Some(self.number(m.amount as f64)),
                    AttributeValue::Boolean(b) => Some(b.to_string()),
                    AttributeValue::Date(_) => None,
                }
            }
        }
    }

    /// A number as its band (`"< 10"`, `"[10, 50)"`, `">= 1000"`) or, without bands, itself.
    fn number(&self, n: f64) -> String {
        let Some(first) = self.bands.first() else {
            return format!("{n}");
        };
        let above = self.bands.iter().filter(|cut| n >= **cut).count();
        match above {
            0 => format!("< {first}"),
            i if i == self.bands.len() => format!(">= {}", self.bands[i - 1]),
            i => format!("[{}, {})", self.bands[i - 1], self.bands[i]),
        }
    }
}

/// Lower case, trimmed, runs of spaces, `_` and `-` as one `-`.
pub fn normalize(raw: &str) -> String {
    raw.trim()
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The number a text starts with: "250" -> 250, "51-200" -> 51, "1,000+" -> 1000.
fn leading_number(text: &str) -> Option<f64> {
    let text = text.trim().replace(',', "");
    let lower = text.split(['-', '+']).next().unwrap_or_default().trim();
    lower.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Seniority levels and their title keywords (whole words; the longest match wins).
const LEVELS: [(&str, &[&str]); 5] = [
    (
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
    ),
    (
        "vice-president",
        &["vp", "svp", "evp", "vice president", "head of", "head"],
    ),
    ("director", &["director"]),
    ("manager", &["manager", "lead", "supervisor"]),
    (
        "junior",
        &["intern", "student", "trainee", "assistant", "junior"],
    ),
];

/// The seniority level of a job title; "individual" when no keyword matches.
pub fn seniority(title: &str) -> &'static str {
    let words: Vec<String> = title
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let mut best: Option<(usize, &'static str)> = None;
    for (level, keywords) in LEVELS {
        for keyword in keywords {
            let keyword: Vec<&str> = keyword.split(' ').collect();
            let found = words
                .windows(keyword.len())
                .any(|window| window.iter().zip(&keyword).all(|(w, k)| w == k));
            if found && best.is_none_or(|(len, _)| keyword.len() > len) {
                best = Some((keyword.len(), level));
            }
        }
    }
    best.map_or("individual", |(_, level)| level)
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
