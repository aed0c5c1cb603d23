//! Kith reference plugin `kith.demographic-segments`: puts each customer into the segments
//! its firmographics, demographics and latest NPS answer imply.
//!
//! Every segment is declared in the manifest from a fixed vocabulary, so ids never change:
//!
//! | family | segments | read from |
//! | --- | --- | --- |
//! | industry (B2B) | `industry-<slug>` for 15 industries and `industry-other` | attribute `industry` (text) through built-in synonyms and the tenant's `industry_aliases` |
//! | company size (B2B) | `size-1-9`, `size-10-49`, `size-50-249`, `size-250-999`, `size-1000-plus` | attribute `employees` (number, or text like `"51-200"`: lower bound) |
//! | age (B2C) | `age-under-18`, `age-18-24`, ... `age-65-plus` | attribute `birth_date` (date or `YYYY-MM-DD`) relative to `now`, else attribute `age` |
//! | gender (B2C) | `gender-female`, `gender-male`, `gender-other` | attribute `gender` through built-in words and `gender_aliases` |
//! | region | `region-europe`, `region-north-america`, `region-latin-america`, `region-asia-pacific`, `region-middle-east`, `region-africa` | the profile's country, with `country_regions` overrides |
//! | NPS | `nps-promoter` (9-10), `nps-passive` (7-8), `nps-detractor` (0-6) | rating of the latest rated survey-response in the recent interactions |
//!
//! Plugins do not see the host's demographics fields, so age and gender come from attributes.
//! A customer gets at most one segment per family, and none when the value is unknown.
//!
//! ```
//! use kith_plugin_sdk::testing::{customer, interaction, Harness};
//! use kith_plugin_sdk::{AttributeValue, InteractionKind};
//! use kith_plugin_demographic_segments::DemographicSegments;
//!
//! let acme = customer("acme")
//!     .attribute("industry", AttributeValue::Text("SaaS".into()))
//!     .attribute("employees", AttributeValue::Number(120.0))
//!     .location("DE", "BE", "Berlin")
//!     .interaction(interaction(InteractionKind::SurveyResponse).rating(9).build())
//!     .build();
//! let segments: Vec<String> = Harness::<DemographicSegments>::new("{}")
//!     .classify(acme)
//!     .unwrap()
//!     .into_iter()
//!     .map(|m| m.segment)
//!     .collect();
//! assert_eq!(segments, ["industry-software", "size-50-249", "region-europe", "nps-promoter"]);
//! ```

mod config;
mod taxonomy;

use kith_plugin_sdk::time::{MICROS_PER_DAY, days_between};
use kith_plugin_sdk::{
    AttributeValue, CustomerInput, InteractionKind, Manifest, Membership, Plugin, Result,
    Segmenter, Timestamp,
};

pub use config::{CONFIG_SCHEMA, Config, Family, NpsConfig, Settings};
pub use taxonomy::{AGE_BANDS, GENDERS, INDUSTRIES, NPS_GROUPS, REGIONS, SIZE_BANDS, normalize};

/// How many recent interactions the plugin asks for, to find the latest survey response.
pub const RECENT_INTERACTIONS: u32 = 200;

/// The plugin.
#[derive(Debug)]
pub struct DemographicSegments;

impl Plugin for DemographicSegments {
    type Config = Config;

    fn manifest() -> Manifest {
        let mut manifest = Manifest::new(
            "kith.demographic-segments",
            env!("CARGO_PKG_VERSION"),
            "Demographic segments",
        )
        .description(
            "B2B segments by industry and company size, B2C segments by age band, gender and \
             world region, and NPS promoters, passives and detractors from the latest survey answer.",
        )
        .industries(["b2b", "saas", "retail", "e-commerce", "hospitality", "services"])
        .config_schema(CONFIG_SCHEMA)
        .recent_interactions(RECENT_INTERACTIONS);
        for (slug, name) in INDUSTRIES {
            manifest = manifest.segment(
                format!("industry-{slug}"),
                name,
                format!("Organizations or their people whose industry is {name}"),
            );
        }
        for (id, name, _) in SIZE_BANDS {
            manifest = manifest.segment(id, name, format!("Companies of size {name}"));
        }
        for (id, name, _) in AGE_BANDS {
            manifest = manifest.segment(id, name, format!("People {}", name.to_lowercase()));
        }
        for (slug, name) in GENDERS {
            manifest = manifest.segment(
                format!("gender-{slug}"),
                name,
                format!("People who stated their gender as {}", name.to_lowercase()),
            );
        }
        for (slug, name) in REGIONS {
            manifest = manifest.segment(
                format!("region-{slug}"),
                name,
                format!("Customers whose country is in {name}"),
            );
        }
        for (id, name, _) in NPS_GROUPS {
            manifest = manifest.segment(
                id,
                name,
                format!("{name} by the rating of their latest survey response"),
            );
        }
        manifest
    }
}

impl Segmenter for DemographicSegments {
    fn classify(config: &Config, input: &CustomerInput) -> Result<Vec<Membership>> {
        let settings = config.settings()?;
        let customer = &input.customer;
        let mut memberships = Vec::new();
        let text = |name: &str| match customer.attribute(name) {
            Some(AttributeValue::Text(t)) if !t.trim().is_empty() => Some(t.trim()),
            _ => None,
        };
        if settings.enabled(Family::Industry)
            && let Some(raw) = text(&settings.industry_attribute)
        {
            let slug = settings.industry(raw);
            memberships.push(Membership::new(
                format!("industry-{slug}"),
                format!("{} {raw:?} counts as {slug}", settings.industry_attribute),
            ));
        }
        if settings.enabled(Family::CompanySize)
            && let Some(employees) = customer
                .attribute(&settings.employees_attribute)
                .and_then(employees)
            && let Some((id, _, _)) = SIZE_BANDS
                .iter()
                .rev()
                .find(|(_, _, min)| employees >= *min)
        {
            memberships.push(Membership::new(
                *id,
                format!("{employees} employees ({})", settings.employees_attribute),
            ));
        }
        if settings.enabled(Family::Age)
            && let Some((age, source)) = age(&settings, customer, input.now)
            && let Some((id, _, _)) = AGE_BANDS.iter().rev().find(|(_, _, min)| age >= *min)
        {
            memberships.push(Membership::new(*id, format!("aged {age} ({source})")));
        }
        if settings.enabled(Family::Gender)
            && let Some(raw) = text(&settings.gender_attribute)
            && let Some(slug) = settings.gender(raw)
        {
            memberships.push(Membership::new(
                format!("gender-{slug}"),
                format!("{} {raw:?}", settings.gender_attribute),
            ));
        }
        if settings.enabled(Family::Region)
            && let Some(country) = customer.country.as_deref()
            && let Some(region) = settings.region(country)
        {
            memberships.push(Membership::new(
                format!("region-{region}"),
                format!("country {} is in {region}", country.trim().to_uppercase()),
            ));
        }
        if settings.enabled(Family::Nps)
            && let Some((rating, at)) = latest_rating(&settings.nps, customer, input.now)
        {
            let (id, _, _) = NPS_GROUPS
                .iter()
                .rev()
                .find(|(_, _, min)| rating >= *min)
                .unwrap_or(&NPS_GROUPS[0]);
            memberships.push(Membership::new(
                *id,
                format!(
                    "latest survey response rated {rating} of 10, {} days ago",
                    days_between(at, input.now).max(0)
                ),
            ));
        }
        Ok(memberships)
    }
}

/// Whole employees from a number or a text such as "250", "51-200" (lower bound) or "1,000+".
fn employees(value: &AttributeValue) -> Option<u64> {
    let n = match value {
        AttributeValue::Number(n) => *n,
        AttributeValue::Text(t) => {
            let t = t.trim().replace(',', "");
            t.split(['-', '+']).next()?.trim().parse::<f64>().ok()?
        }
        _ => return None,
    };
    (n.is_finite() && n >= 1.0).then(|| n.floor() as u64)
}

/// The civil date (year, month, day) of a timestamp (Howard Hinnant's algorithm).
fn civil(at: Timestamp) -> (i64, u32, u32) {
    let z = at.div_euclid(MICROS_PER_DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whole years from `birth` to `now`; `None` when born after `now` or older than 130.
pub fn age_at(birth: Timestamp, now: Timestamp) -> Option<u32> {
    let (by, bm, bd) = civil(birth);
    let (ny, nm, nd) = civil(now);
    let years = ny - by - i64::from((nm, nd) < (bm, bd));
    u32::try_from(years).ok().filter(|age| *age <= 130)
}

/// The customer's age and where it came from.
fn age(
    settings: &Settings,
    customer: &kith_plugin_sdk::CustomerView,
    now: Timestamp,
) -> Option<(u32, String)> {
    let birth = match customer.attribute(&settings.birth_date_attribute) {
        Some(AttributeValue::Date(at)) => Some(*at),
        Some(AttributeValue::Text(t)) => parse_date(t.trim()),
        _ => None,
    };
    if let Some(birth) = birth {
        return age_at(birth, now)
            .map(|age| (age, format!("from {}", settings.birth_date_attribute)));
    }
    match customer.attribute(&settings.age_attribute) {
        Some(AttributeValue::Number(n)) if n.is_finite() && (0.0..=130.0).contains(n) => {
            Some((n.floor() as u32, format!("from {}", settings.age_attribute)))
        }
        _ => None,
    }
}

/// Midnight UTC of a `YYYY-MM-DD` date.
fn parse_date(text: &str) -> Option<Timestamp> {
    let mut parts = text.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    kith_plugin_sdk::time::from_ymd_hms(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?, 0, 0, 0)
}

/// Rating (0-10) and time of the latest survey response that has one and passes the filter.
fn latest_rating(
    nps: &NpsConfig,
    customer: &kith_plugin_sdk::CustomerView,
    now: Timestamp,
) -> Option<(u8, Timestamp)> {
    customer
        .recent_interactions
        .iter()
        .filter(|i| i.kind == InteractionKind::SurveyResponse)
        .filter(|i| i.rating.is_some_and(|r| r <= 10))
        .filter(|i| match (&nps.survey_attribute, &nps.survey_contains) {
            (None, _) => true,
            (Some(name), contains) => i.attributes.iter().any(|a| {
                &a.name == name
                    && match (contains, &a.value) {
                        (None, _) => true,
                        (Some(needle), AttributeValue::Text(t)) => {
                            t.to_lowercase().contains(&needle.to_lowercase())
                        }
                        (Some(_), _) => false,
                    }
            }),
        })
        .filter(|i| {
            nps.max_age_days
                .is_none_or(|days| days_between(i.occurred_at, now) <= i64::from(days))
        })
        .max_by_key(|i| i.occurred_at)
        .and_then(|i| Some((i.rating?, i.occurred_at)))
}

kith_plugin_sdk::export_plugin!(DemographicSegments, segmenter);

#[cfg(test)]
mod tests;
