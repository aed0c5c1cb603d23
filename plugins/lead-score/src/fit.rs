//! Fit: how closely a customer's firmographics match the tenant's ideal customer profile.

use kith_plugin_sdk::{AttributeValue, CustomerView, Reason};

use crate::config::{Rules, Seniority, Size, Source, Table, normalize_key, words};

/// One reason per fit criterion with a weight above 0; contributions add up to the fit points.
///
/// A criterion whose value is unknown contributes 0: missing data is never rewarded.
pub fn fit(rules: &Rules, customer: &CustomerView) -> Vec<Reason> {
    let total = rules.industry.weight
        + rules.country.weight
        + rules.company_size.weight
        + rules.seniority.weight;
    if total <= 0.0 || rules.fit_points <= 0.0 {
        return Vec::new();
    }
    let points = |weight: f64, fit: f64| rules.fit_points * weight * fit / total;
    let mut reasons = Vec::new();
    let mut push = |code: &str, weight: f64, found: Option<(f64, String)>, missing: String| {
        if weight <= 0.0 {
            return;
        }
        reasons.push(match found {
            Some((fit, message)) => Reason::new(code, message, points(weight, fit)),
            None => Reason::new(code, missing, 0.0),
        });
    };
    push(
        "fit.industry",
        rules.industry.weight,
        table(&rules.industry, customer, normalize_key)
            .map(|(value, fit)| (fit, format!("industry {value:?} fits {:.0}%", fit * 100.0))),
        missing("industry", &rules.industry.source),
    );
    push(
        "fit.country",
        rules.country.weight,
        table(&rules.country, customer, |c| c.trim().to_uppercase())
            .map(|(value, fit)| (fit, format!("country {value} fits {:.0}%", fit * 100.0))),
        missing("country", &rules.country.source),
    );
    push(
        "fit.company-size",
        rules.company_size.weight,
        company_size(&rules.company_size, customer).map(|(employees, fit)| {
            (
                fit,
                format!("{employees} employees fits {:.0}%", fit * 100.0),
            )
        }),
        missing(
            "company size",
            &Source::Attribute(rules.company_size.attribute.clone()),
        ),
    );
    push(
        "fit.seniority",
        rules.seniority.weight,
        seniority(&rules.seniority, customer).map(|(title, level, fit)| {
            (
                fit,
                format!("job title {title:?} ({level}) fits {:.0}%", fit * 100.0),
            )
        }),
        missing(
            "job title",
            &Source::Attribute(rules.seniority.attribute.clone()),
        ),
    );
    reasons
}

fn missing(what: &str, source: &Source) -> String {
    match source {
        Source::Attribute(name) => format!("{what} unknown: attribute {name:?} is not set"),
        Source::ProfileCountry => format!("{what} unknown: the profile has no country"),
    }
}

/// The text of attribute `name`, if it is non-blank text.
fn text<'a>(customer: &'a CustomerView, name: &str) -> Option<&'a str> {
    match customer.attribute(name)? {
        AttributeValue::Text(t) if !t.trim().is_empty() => Some(t.trim()),
        _ => None,
    }
}

/// The value as shown in reasons and its fit.
fn table(
    table: &Table,
    customer: &CustomerView,
    normalize: fn(&str) -> String,
) -> Option<(String, f64)> {
    let raw = match &table.source {
        Source::Attribute(name) => text(customer, name)?,
        Source::ProfileCountry => customer
            .country
            .as_deref()
            .filter(|c| !c.trim().is_empty())?,
    };
    let fit = table
        .scores
        .get(&normalize(raw))
        .copied()
        .unwrap_or(table.otherwise);
    Some((raw.to_owned(), fit))
}

/// Number of employees from a number or a text such as "250", "51-200" (lower bound) or "1000+".
pub fn employees(value: &AttributeValue) -> Option<f64> {
    let n = match value {
        AttributeValue::Number(n) => *n,
        AttributeValue::Text(t) => {
            let t = t.trim().replace(',', "");
            let lower = t
                .split(['-', '+', '–'])
                .next()
                .map(str::trim)
                .unwrap_or_default();
            lower.parse::<f64>().ok()?
        }
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some(n)
}

fn company_size(size: &Size, customer: &CustomerView) -> Option<(f64, f64)> {
    let n = employees(customer.attribute(&size.attribute)?)?;
    let fit = size
        .bands
        .iter()
        .find(|band| n >= band.min)
        .map_or(0.0, |band| band.score);
    Some((n, fit))
}

/// The seniority level of a job title: the level with the longest keyword found as whole
/// words in the title (so "vice president" beats "president"; ties go to the earlier level).
pub fn seniority_level<'a>(seniority: &'a Seniority, title: &str) -> Option<(&'a str, f64)> {
    let title = words(title);
    let mut best: Option<(usize, &str, f64)> = None;
    for (name, keywords, score) in &seniority.levels {
        for keyword in keywords {
            let found = title
                .windows(keyword.len())
                .any(|window| window == keyword.as_slice());
            if found && best.is_none_or(|(len, _, _)| keyword.len() > len) {
                best = Some((keyword.len(), name, *score));
            }
        }
    }
    best.map(|(_, name, score)| (name, score))
}

fn seniority<'a>(
    seniority: &'a Seniority,
    customer: &'a CustomerView,
) -> Option<(&'a str, &'a str, f64)> {
    let title = text(customer, &seniority.attribute)?;
    Some(match seniority_level(seniority, title) {
        Some((level, fit)) => (title, level, fit),
        None => (title, "no listed level", seniority.otherwise),
    })
}
