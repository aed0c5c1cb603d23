//! The fixed vocabularies segments are declared from: industries, size bands, age bands,
//! genders, world regions and NPS groups. Segment ids derive from these and never change.

/// Industries with a segment each (`industry-<slug>`), with their display names.
pub const INDUSTRIES: [(&str, &str); 16] = [
    ("software", "Software & IT"),
    ("financial-services", "Financial services"),
    ("healthcare", "Healthcare & life sciences"),
    ("manufacturing", "Manufacturing"),
    ("retail", "Retail & e-commerce"),
    ("education", "Education"),
    ("government", "Government & public sector"),
    ("professional-services", "Professional services"),
    ("media", "Media & entertainment"),
    ("energy", "Energy & utilities"),
    ("real-estate", "Real estate & construction"),
    ("hospitality", "Hospitality & travel"),
    ("transportation", "Transportation & logistics"),
    ("telecommunications", "Telecommunications"),
    ("nonprofit", "Nonprofit"),
    ("other", "Other industries"),
];

/// Built-in synonyms (normalized) of the industry slugs.
const INDUSTRY_SYNONYMS: [(&str, &str); 45] = [
    ("saas", "software"),
    ("technology", "software"),
    ("tech", "software"),
    ("it", "software"),
    ("information-technology", "software"),
    ("computer-software", "software"),
    ("finance", "financial-services"),
    ("banking", "financial-services"),
    ("insurance", "financial-services"),
    ("fintech", "financial-services"),
    ("health", "healthcare"),
    ("medical", "healthcare"),
    ("pharma", "healthcare"),
    ("pharmaceuticals", "healthcare"),
    ("biotech", "healthcare"),
    ("industrial", "manufacturing"),
    ("automotive", "manufacturing"),
    ("e-commerce", "retail"),
    ("ecommerce", "retail"),
    ("consumer-goods", "retail"),
    ("higher-education", "education"),
    ("edtech", "education"),
    ("public-sector", "government"),
    ("public-administration", "government"),
    ("consulting", "professional-services"),
    ("legal", "professional-services"),
    ("accounting", "professional-services"),
    ("entertainment", "media"),
    ("publishing", "media"),
    ("advertising", "media"),
    ("marketing", "media"),
    ("utilities", "energy"),
    ("oil-and-gas", "energy"),
    ("construction", "real-estate"),
    ("property", "real-estate"),
    ("travel", "hospitality"),
    ("hotels", "hospitality"),
    ("restaurants", "hospitality"),
    ("logistics", "transportation"),
    ("transport", "transportation"),
    ("shipping", "transportation"),
    ("telecom", "telecommunications"),
    ("non-profit", "nonprofit"),
    ("ngo", "nonprofit"),
    ("charity", "nonprofit"),
];

/// Company size bands by employees: (segment id, name, smallest count).
pub const SIZE_BANDS: [(&str, &str, u64); 5] = [
    ("size-1-9", "Micro (1-9 employees)", 1),
    ("size-10-49", "Small (10-49 employees)", 10),
    ("size-50-249", "Medium (50-249 employees)", 50),
    ("size-250-999", "Large (250-999 employees)", 250),
    ("size-1000-plus", "Enterprise (1000+ employees)", 1000),
];

/// Age bands: (segment id, name, youngest age).
pub const AGE_BANDS: [(&str, &str, u32); 7] = [
    ("age-under-18", "Under 18", 0),
    ("age-18-24", "Aged 18-24", 18),
    ("age-25-34", "Aged 25-34", 25),
    ("age-35-44", "Aged 35-44", 35),
    ("age-45-54", "Aged 45-54", 45),
    ("age-55-64", "Aged 55-64", 55),
    ("age-65-plus", "Aged 65+", 65),
];

/// Genders with a segment each (`gender-<slug>`).
pub const GENDERS: [(&str, &str); 3] = [
    ("female", "Female"),
    ("male", "Male"),
    ("other", "Non-binary or other gender"),
];

/// Built-in gender words (lower case); `none` means "stated, but no segment".
const GENDER_WORDS: [(&str, &str); 17] = [
    ("female", "female"),
    ("f", "female"),
    ("woman", "female"),
    ("w", "female"),
    ("male", "male"),
    ("m", "male"),
    ("man", "male"),
    ("non-binary", "other"),
    ("nonbinary", "other"),
    ("diverse", "other"),
    ("d", "other"),
    ("x", "other"),
    ("other", "other"),
    ("genderqueer", "other"),
    ("unknown", "none"),
    ("prefer-not-to-say", "none"),
    ("not-specified", "none"),
];

/// World regions with a segment each (`region-<slug>`).
pub const REGIONS: [(&str, &str); 6] = [
    ("europe", "Europe"),
    ("north-america", "North America"),
    ("latin-america", "Latin America & Caribbean"),
    ("asia-pacific", "Asia-Pacific"),
    ("middle-east", "Middle East"),
    ("africa", "Africa"),
];

/// ISO 3166-1 alpha-2 codes per region.
const COUNTRIES: [(&str, &str); 6] = [
    (
        "europe",
        "AD AL AM AT AX AZ BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GE GG GI GR HR HU IE IM IS \
         IT JE LI LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM TR UA VA XK",
    ),
    ("north-america", "BM CA GL PM US"),
    (
        "latin-america",
        "AG AI AR AW BB BL BO BQ BR BS BZ CL CO CR CU CW DM DO EC FK GD GF GP GT GY HN HT JM KN KY \
         LC MF MQ MS MX NI PA PE PR PY SR SV SX TC TT UY VC VE VG VI",
    ),
    (
        "asia-pacific",
        "AF AS AU BD BN BT CC CK CN CX FJ FM GU HK ID IN IO JP KG KH KI KP KR KZ LA LK MH MM MN MO \
         MP MV MY NC NF NP NR NU NZ PF PG PH PK PN PW SB SG TH TJ TK TL TM TO TV TW UZ VN VU WF WS",
    ),
    ("middle-east", "AE BH IL IQ IR JO KW LB OM PS QA SA SY YE"),
    (
        "africa",
        "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG \
         ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW",
    ),
];

/// NPS groups: (segment id, name, lowest rating).
pub const NPS_GROUPS: [(&str, &str, u8); 3] = [
    ("nps-detractor", "NPS detractors (0-6)", 0),
    ("nps-passive", "NPS passives (7-8)", 7),
    ("nps-promoter", "NPS promoters (9-10)", 9),
];

/// Lower case, trimmed, runs of spaces, `_` and `-` as one `-`; `&` becomes `and`.
pub fn normalize(raw: &str) -> String {
    raw.trim()
        .to_lowercase()
        .replace('&', " and ")
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-' || c == '/')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The industry slug of a normalized value by built-in names and synonyms.
pub fn builtin_industry(normalized: &str) -> Option<&'static str> {
    INDUSTRIES
        .iter()
        .find(|(slug, name)| *slug == normalized || normalize(name) == normalized)
        .map(|(slug, _)| *slug)
        .or_else(|| {
            INDUSTRY_SYNONYMS
                .iter()
                .find(|(word, _)| *word == normalized)
                .map(|(_, slug)| *slug)
        })
}

/// The gender slug (or `"none"`) of a normalized value by built-in words.
pub fn builtin_gender(normalized: &str) -> Option<&'static str> {
    GENDER_WORDS
        .iter()
        .find(|(word, _)| *word == normalized)
        .map(|(_, slug)| *slug)
}

/// The region slug of an upper-case ISO country code.
pub fn builtin_region(country: &str) -> Option<&'static str> {
    if country.len() != 2 {
        return None;
    }
    COUNTRIES
        .iter()
        .find(|(_, codes)| codes.split_whitespace().any(|c| c == country))
        .map(|(region, _)| *region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_country_is_in_exactly_one_region() {
        let mut seen = std::collections::BTreeSet::new();
        for (_, codes) in COUNTRIES {
            for code in codes.split_whitespace() {
                assert!(
                    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
                    "{code}"
                );
                assert!(seen.insert(code), "{code} is in two regions");
            }
        }
        assert!(seen.len() > 230, "{} countries", seen.len());
    }

    #[test]
    fn synonyms_point_at_declared_industries() {
        for (word, slug) in INDUSTRY_SYNONYMS {
            assert_eq!(normalize(word), word);
            assert!(
                INDUSTRIES.iter().any(|(s, _)| *s == slug),
                "{word} -> {slug}"
            );
        }
        assert_eq!(
            builtin_industry(&normalize("Financial Services")),
            Some("financial-services")
        );
        assert_eq!(
            builtin_industry(&normalize("Software & IT")),
            Some("software")
        );
        assert_eq!(builtin_industry(&normalize("Oil & Gas")), Some("energy"));
        assert_eq!(builtin_industry("mining"), None);
    }
}
