//! Header-based column mapping: names and aliases, `attr.NAME` and `external:SOURCE` columns, and
//! `--map COLUMN=FIELD` overrides.

use std::fmt;

use super::report::Report;
use super::source::Shape;
use crate::model::{ConsentChannel, attribute_key, consent_purpose};

/// The fields one kind of import fills from columns.
pub(super) trait Field: Clone + PartialEq + fmt::Display + Sized {
    /// The field a normalized header (lowercase words joined by `_`) names, aliases included.
    fn named(name: &str) -> Option<Self>;
    /// A text attribute column, `attr.NAME`.
    fn attribute(key: String) -> Self;
    /// An external id column, `external:SOURCE`, where this import has them.
    fn external(source: String) -> Option<Self>;
    /// A consent column, `consent:CHANNEL:PURPOSE`, where this import has them.
    fn consent(_channel: ConsentChannel, _purpose: String) -> Option<Self> {
        None
    }
}

/// Which field each column of the file fills.
#[derive(Debug)]
pub(super) struct Columns<F> {
    headers: Vec<String>,
    fields: Vec<Option<F>>,
    /// Columns neither recognised nor mapped.
    unknown: Vec<String>,
}

/// What a `--map` target asks for.
enum Target<F> {
    Field(F),
    Ignore,
}

impl<F: Field> Columns<F> {
    /// Maps `headers`, applying `maps` first.
    pub(super) fn new(headers: &[String], maps: &[String]) -> anyhow::Result<Self> {
        let mut overrides: Vec<(usize, Target<F>)> = Vec::new();
        for m in maps {
            let Some((column, field)) = m.rsplit_once('=') else {
                anyhow::bail!(
                    "--map {m}: expected COLUMN=FIELD, e.g. --map 'E-Mail Adresse=email'"
                );
            };
            let Some(i) = find_header(headers, column) else {
                anyhow::bail!(
                    "--map {m}: the file has no column '{}' (its columns: {})",
                    column.trim(),
                    headers.join(", ")
                );
            };
            let target = match field.trim().to_lowercase().as_str() {
                "ignore" | "-" => Target::Ignore,
                _ => match resolve::<F>(field)? {
                    Some(f) => Target::Field(f),
                    None => anyhow::bail!(
                        "--map {m}: '{}' is not a field this import fills (see --help for the fields)",
                        field.trim()
                    ),
                },
            };
            overrides.retain(|(j, _)| *j != i);
            overrides.push((i, target));
        }
        let mut fields = Vec::with_capacity(headers.len());
        let mut unknown = Vec::new();
        for (i, h) in headers.iter().enumerate() {
            let field = match overrides.iter().position(|(j, _)| *j == i) {
                Some(k) => match &overrides[k].1 {
                    Target::Field(f) => Some(f.clone()),
                    Target::Ignore => None,
                },
                None => {
                    let f = resolve::<F>(h)?;
                    if f.is_none() {
                        unknown.push(h.as_str());
                    }
                    f
                }
            };
            if let Some(f) = &field
                && let Some(j) = fields
                    .iter()
                    .position(|g: &Option<F>| g.as_ref() == Some(f))
            {
                anyhow::bail!(
                    "columns '{}' and '{h}' both fill {f}: skip one with --map '{h}=ignore'",
                    headers[j]
                );
            }
            fields.push(field);
        }
        Ok(Self {
            headers: headers.to_vec(),
            fields,
            unknown: unknown.into_iter().map(str::to_owned).collect(),
        })
    }

    /// Warns about the columns that will be ignored.
    pub(super) fn warn_unknown(&self, report: &Report) {
        if !self.unknown.is_empty() {
            report.warn(&format!(
                "ignoring unknown columns: {} (import them with --map COLUMN=FIELD, or silence this with --map COLUMN=ignore)",
                self.unknown.join(", ")
            ));
        }
    }

    /// The first column that fills a field matching `pred`.
    pub(super) fn find(&self, pred: impl Fn(&F) -> bool) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.as_ref().is_some_and(&pred))
    }

    /// Whether some column fills `field`.
    pub(super) fn has(&self, field: &F) -> bool {
        self.find(|f| f == field).is_some()
    }

    /// The column's name as in the file.
    pub(super) fn header(&self, i: usize) -> &str {
        self.headers.get(i).map_or("?", String::as_str)
    }

    /// The mapped columns with their fields.
    pub(super) fn mapped(&self) -> impl Iterator<Item = (usize, &F)> {
        self.fields
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i, f)))
    }

    /// The column names, for messages.
    pub(super) fn names(&self) -> String {
        self.headers.join(", ")
    }

    /// The header's shape, for checking rows.
    pub(super) fn shape(&self) -> Shape {
        Shape {
            headers: self.headers.clone(),
            used: self.fields.iter().map(Option::is_some).collect(),
        }
    }
}

/// The header `name` refers to: equal ignoring case, or equal once normalized.
fn find_header(headers: &[String], name: &str) -> Option<usize> {
    let name = name.trim();
    headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case(name) || h.to_lowercase() == name.to_lowercase())
        .or_else(|| {
            let n = normalize(name);
            headers.iter().position(|h| normalize(h) == n)
        })
}

/// The field a header (or `--map` target) names; an error for a malformed `attr.`/`external:` name.
fn resolve<F: Field>(header: &str) -> anyhow::Result<Option<F>> {
    let lower = header.trim().to_lowercase();
    for prefix in ["attr.", "attribute.", "attributes."] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            let key = rest.split_whitespace().collect::<Vec<_>>().join("_");
            attribute_key("attribute", &key).map_err(|e| {
                anyhow::anyhow!("column '{}': {}", header.trim(), e.errors[0].expected)
            })?;
            return Ok(Some(F::attribute(key)));
        }
    }
    if let Some(rest) = lower.strip_prefix("consent:") {
        let bad = || {
            anyhow::anyhow!(
                "column '{}': expected consent:CHANNEL:PURPOSE, such as consent:email:marketing (channels: email, sms, phone, post)",
                header.trim()
            )
        };
        let (channel, purpose) = rest.split_once(':').ok_or_else(bad)?;
        let channel = ConsentChannel::parse("channel", channel).map_err(|_| bad())?;
        let purpose = consent_purpose("purpose", purpose).map_err(|_| bad())?;
        return Ok(F::consent(channel, purpose));
    }
    if let Some(rest) = lower.strip_prefix("external:") {
        let source = rest.trim().to_owned();
        attribute_key("source", &source).map_err(|_| {
            anyhow::anyhow!(
                "column '{}': expected external:SOURCE with a source name such as shopify (a-z, 0-9, '_', '-', '.')",
                header.trim()
            )
        })?;
        return Ok(F::external(source));
    }
    Ok(F::named(&normalize(&lower)))
}

/// Lowercase words joined by `_`: `E-Mail` and `e mail` become `e_mail`.
pub(super) fn normalize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    out
}

/// A value for an error message: quoted, shortened when long.
pub(super) fn shown(value: &str) -> String {
    const MAX: usize = 60;
    if value.chars().count() <= MAX {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{:?}...", head)
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn headers_normalize_to_words() {
        assert_eq!(normalize(" E-Mail "), "e_mail");
        assert_eq!(normalize("First Name"), "first_name");
        assert_eq!(normalize("email_address"), "email_address");
        assert_eq!(normalize("Date of birth"), "date_of_birth");
    }
}
