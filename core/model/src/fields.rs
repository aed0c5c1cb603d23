//! Custom field definitions: a tenant names the attributes its customers, deals and work items
//! carry, with a type, a label, options and whether a value is required or may be filtered on.
//!
//! Values stay in `attributes`; a definition makes the attribute of its key checked on every
//! write (from the API, an import, a batch or a plugin's action). Attributes without a
//! definition stay free-form, as before definitions existed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::text;
use super::{AttributeValue, Checker, Timestamp, ValidationError, attribute_key};

/// The most definitions per tenant and object.
pub const MAX_FIELD_DEFINITIONS: usize = 100;
/// The most options of a select field.
pub const MAX_FIELD_OPTIONS: usize = 100;
/// The longest text value of a unique or sortable field, in characters: its index entry must
/// fit a PostgreSQL B-tree row (about 2.7 KB) whatever the characters.
pub const MAX_INDEXED_TEXT: usize = 500;

/// What a definition applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldObject {
    /// Customers' `attributes`.
    Customer,
    /// Deals' `attributes`.
    Deal,
    /// Work items' (tasks, tickets, complaints) `attributes`, checked when one is opened.
    WorkItem,
}

impl FieldObject {
    /// Its name, as in paths and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Deal => "deal",
            Self::WorkItem => "work_item",
        }
    }

    /// Parses a name.
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        match s {
            "customer" => Ok(Self::Customer),
            "deal" => Ok(Self::Deal),
            "work_item" => Ok(Self::WorkItem),
            _ => Err(ValidationError::field(field, "customer, deal or work_item")),
        }
    }

    /// Its byte in stored keys.
    pub fn code(self) -> u8 {
        match self {
            Self::Customer => 1,
            Self::Deal => 2,
            Self::WorkItem => 3,
        }
    }
}

/// A field's type: which [`AttributeValue`] it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FieldType {
    /// `{"text": ...}`.
    Text,
    /// `{"number": ...}`.
    Number,
    /// `{"boolean": ...}`.
    Boolean,
    /// `{"date": "YYYY-MM-DD"}`.
    Date,
    /// `{"money": {"amount": minor units, "currency": ...}}`.
    Money,
    /// `{"text": ...}`, one of the options.
    Select,
    /// `{"list": [...]}`, each one of the options, each at most once.
    MultiSelect,
}

impl FieldType {
    fn expected(self) -> &'static str {
        match self {
            Self::Text => "a text value ({\"text\": ...})",
            Self::Number => "a number value ({\"number\": ...})",
            Self::Boolean => "a boolean value ({\"boolean\": ...})",
            Self::Date => "a date value ({\"date\": \"YYYY-MM-DD\"})",
            Self::Money => "a money value ({\"money\": {...}})",
            Self::Select => "one of the options ({\"text\": ...})",
            Self::MultiSelect => "options, each once ({\"list\": [...]})",
        }
    }

    fn has_options(self) -> bool {
        matches!(self, Self::Select | Self::MultiSelect)
    }
}

/// A custom field definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldDefinition {
    /// What it applies to.
    pub object: FieldObject,
    /// The attribute's name (as attribute names: 1 to 64 characters a-z, 0-9, '_', '-', '.').
    pub key: String,
    /// What people read (1 to 100 characters).
    pub label: String,
    /// The type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// For select and multi_select: the allowed values (1 to 100, each 1 to 100 characters).
    pub options: Vec<String>,
    /// Every record must have a value.
    pub required: bool,
    /// May be filtered on in a search.
    pub filterable: bool,
    /// No two records of the tenant hold one value (kept in an index).
    pub unique: bool,
    /// Customers may be listed in the order of its value (kept in an index).
    pub sortable: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Incremented by every change.
    pub version: u64,
}

/// A definition as received; what a GET returns may be sent back (the read-only fields are
/// ignored, `version` acts as `If-Match`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldDefinitionInput {
    /// The label (1 to 100 characters).
    pub label: String,
    /// The type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// For select and multi_select: the allowed values.
    #[serde(default)]
    pub options: Vec<String>,
    /// Every record must have a value (default false).
    #[serde(default)]
    pub required: bool,
    /// May be filtered on (default true).
    #[serde(default = "yes")]
    pub filterable: bool,
    /// No two records of the tenant hold one value (default false; not for multi_select).
    #[serde(default)]
    pub unique: bool,
    /// Records may be listed in the order of its value (default false).
    #[serde(default)]
    pub sortable: bool,
    /// Read-only: must be the path's key when given.
    #[serde(default)]
    pub key: Option<String>,
    /// Read-only: must be the path's object when given.
    #[serde(default)]
    pub object: Option<FieldObject>,
    /// Read-only: like `If-Match`, the version the change expects.
    #[serde(default)]
    pub version: Option<u64>,
    /// Read-only: ignored.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Read-only: ignored.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

fn yes() -> bool {
    true
}

impl FieldDefinition {
    /// Validates `input` as the definition of `key` on `object`, replacing `old` (if any) at
    /// `now`.
    pub fn new(
        object: FieldObject,
        key: &str,
        input: FieldDefinitionInput,
        old: Option<&FieldDefinition>,
        now: Timestamp,
    ) -> Result<Self, ValidationError> {
        let mut c = Checker::default();
        let key = c.take(attribute_key("key", key)).unwrap_or_default();
        if input.key.as_deref().is_some_and(|k| k != key) {
            c.fail(
                "key",
                format!("{key} (the key in the path; a key cannot change)"),
            );
        }
        if input.object.is_some_and(|o| o != object) {
            c.fail(
                "object",
                format!("{} (the object in the path)", object.as_str()),
            );
        }
        if input.field_type == FieldType::MultiSelect {
            if input.unique {
                c.fail("unique", "false for a multi_select (its values are sets)");
            }
            if input.sortable {
                c.fail("sortable", "false for a multi_select (its values are sets)");
            }
        }
        let label = c
            .take(text("label", &input.label, 100, false))
            .unwrap_or_default();
        let mut options: Vec<String> = Vec::new();
        if input.field_type.has_options() {
            if input.options.is_empty() || input.options.len() > MAX_FIELD_OPTIONS {
                c.fail("options", format!("1 to {MAX_FIELD_OPTIONS} options"));
            }
            for (i, o) in input.options.iter().enumerate().take(MAX_FIELD_OPTIONS + 1) {
                let field = format!("options[{i}]");
                if let Some(o) = c.take(text(&field, o, 100, false)) {
                    if options.contains(&o) {
                        c.fail(field, "each option once");
                    } else {
                        options.push(o);
                    }
                }
            }
        } else if !input.options.is_empty() {
            c.fail(
                "options",
                "no options (only select and multi_select have them)",
            );
        }
        c.finish()?;
        Ok(Self {
            object,
            key,
            label,
            field_type: input.field_type,
            options,
            required: input.required,
            filterable: input.filterable,
            unique: input.unique,
            sortable: input.sortable,
            created_at: old.map_or(now, |o| o.created_at),
            updated_at: now,
            version: old.map_or(1, |o| o.version + 1),
        })
    }

    /// Whether its values are kept in an index (for `unique` or `sortable`).
    pub fn indexed(&self) -> bool {
        self.unique || self.sortable
    }

    /// The index entries of a value of this field: each an order-preserving encoding (a
    /// multi-select has one per option). Nothing for no value or a value of another type.
    pub fn index_values(&self, value: Option<&AttributeValue>) -> Vec<Vec<u8>> {
        let one = |v: &AttributeValue| -> Option<Vec<u8>> {
            Some(match (self.field_type, v) {
                (FieldType::Text | FieldType::Select, AttributeValue::Text(t)) => {
                    escaped(t.as_bytes())
                }
                (FieldType::Number, AttributeValue::Number(n)) => {
                    // IEEE 754 bits in an order that compares as the numbers do (-0.0 as 0.0).
                    let bits = (n + 0.0).to_bits();
                    let ordered = if bits >> 63 == 1 {
                        !bits
                    } else {
                        bits | 1 << 63
                    };
                    ordered.to_be_bytes().to_vec()
                }
                (FieldType::Boolean, AttributeValue::Boolean(b)) => vec![u8::from(*b)],
                (FieldType::Date, AttributeValue::Date(d)) => {
                    ((d.days() as u32) ^ (1 << 31)).to_be_bytes().to_vec()
                }
                (FieldType::Money, AttributeValue::Money(m)) => {
                    let mut out = m.currency.code().as_bytes().to_vec();
                    out.extend(((m.minor as u64) ^ (1 << 63)).to_be_bytes());
                    out
                }
                _ => return None,
            })
        };
        match value {
            None => Vec::new(),
            Some(AttributeValue::List(items)) if self.field_type == FieldType::MultiSelect => {
                items.iter().map(|i| escaped(i.as_bytes())).collect()
            }
            Some(v) => one(v).into_iter().collect(),
        }
    }

    /// Checks one record's value of this field (`None`: it has none), naming `field`.
    pub fn check(
        &self,
        field: &str,
        value: Option<&AttributeValue>,
    ) -> Result<(), ValidationError> {
        let Some(v) = value else {
            return if self.required {
                Err(ValidationError::field(
                    field,
                    format!("{} (required)", self.field_type.expected()),
                ))
            } else {
                Ok(())
            };
        };
        let ok = match (self.field_type, v) {
            (FieldType::Text, AttributeValue::Text(_))
            | (FieldType::Number, AttributeValue::Number(_))
            | (FieldType::Boolean, AttributeValue::Boolean(_))
            | (FieldType::Date, AttributeValue::Date(_))
            | (FieldType::Money, AttributeValue::Money(_)) => true,
            (FieldType::Select, AttributeValue::Text(t)) => self.options.contains(t),
            (FieldType::MultiSelect, AttributeValue::List(items)) => {
                items.iter().all(|i| self.options.contains(i))
                    && items
                        .iter()
                        .enumerate()
                        .all(|(n, i)| !items[..n].contains(i))
            }
            _ => false,
        };
        if ok {
            return match v {
                AttributeValue::Text(t)
                    if self.indexed() && t.chars().count() > MAX_INDEXED_TEXT =>
                {
                    Err(ValidationError::field(
                        field,
                        format!(
                            "text of at most {MAX_INDEXED_TEXT} characters (a unique or sortable field is indexed)"
                        ),
                    ))
                }
                _ => Ok(()),
            };
        }
        let expected = if self.field_type.has_options() {
            format!(
                "{}: {}",
                self.field_type.expected(),
                self.options.join(", ")
            )
        } else {
            self.field_type.expected().to_owned()
        };
        Err(ValidationError::field(field, expected))
    }
}

/// Checks `attributes` against every definition of their object: each defined attribute has a
/// value of its type (and is there when required); others are free-form.
pub fn check_fields(
    definitions: &[FieldDefinition],
    attributes: &BTreeMap<String, AttributeValue>,
) -> Result<(), ValidationError> {
    let mut c = Checker::default();
    for d in definitions {
        c.take(d.check(&format!("attributes.{}", d.key), attributes.get(&d.key)));
    }
    c.finish()
}

/// `bytes` with each 0 written as 0, 1 and a 0, 0 end: fixed-width values need no end, and this
/// keeps byte order and makes no value a prefix of another.
fn escaped(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 2);
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(1);
        }
    }
    out.extend([0, 0]);
    out
}
