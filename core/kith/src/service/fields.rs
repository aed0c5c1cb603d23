//! Custom field definitions: list, set and remove, with a change checked against the data.
//!
//! A definition is committed first, so that every write from then on is checked against it,
//! then the records already stored are read (a snapshot taken after that commit): if one breaks
//! the new definition, the old one is put back and the caller gets the records that break it.
//! So no record written before or after the change escapes it, and no write is held up while
//! the data is read.

use serde::Serialize;

use crate::model::{
    Actor, AttributeValue, FieldDefinition, FieldDefinitionInput, FieldObject, TenantSlug,
};
use crate::store::{CustomerFilter, Error};
use crate::store::{Op, Output, PageRequest, Result, Store, WorkQuery, one, unexpected};

/// How many breaking records a refused change reports.
pub const MAX_VIOLATIONS: usize = 10;
/// Records read per page while checking.
const CHECK_PAGE: usize = 1000;

/// A record that breaks a definition.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Violation {
    /// The record's id.
    pub id: String,
    /// The attribute (`attributes.<key>`).
    pub field: String,
    /// What the definition expects.
    pub expected: String,
}

/// What a change of a definition did.
#[derive(Debug)]
pub enum Change {
    /// The definition now (unchanged when the input changed nothing).
    Set {
        /// The definition.
        definition: FieldDefinition,
        /// Whether it did not exist before.
        created: bool,
    },
    /// Records break it: it was not changed.
    Refused {
        /// How many records were read.
        checked: u64,
        /// The first breaking ones (at most [`MAX_VIOLATIONS`]).
        violations: Vec<Violation>,
    },
}

/// The definitions of `object`, by key.
pub fn list(
    store: &dyn Store,
    tenant: &TenantSlug,
    object: FieldObject,
) -> Result<Vec<FieldDefinition>> {
    store.field_definitions(tenant, object)
}

/// One definition.
pub fn get(
    store: &dyn Store,
    tenant: &TenantSlug,
    object: FieldObject,
    key: &str,
) -> Result<FieldDefinition> {
    list(store, tenant, object)?
        .into_iter()
        .find(|d| d.key == key)
        .ok_or_else(|| Error::not_found("field", format!("{}.{key}", object.as_str())))
}

/// Defines or redefines the field `key` of `object`; a stricter definition is checked against
/// the stored records first (see the module's documentation).
pub fn set(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    (object, key): (FieldObject, &str),
    input: FieldDefinitionInput,
    expected_version: Option<u64>,
) -> Result<Change> {
    let expected_version = super::expected_version(expected_version, input.version)?;
    let old = list(store, tenant, object)?
        .into_iter()
        .find(|d| d.key == key);
    let op = Op::SetField {
        object,
        key: key.to_owned(),
        input,
        expected_version,
    };
    let new = match one(store.write(tenant, actor, vec![op])?)? {
        Output::Field(Some(d)) => d,
        other => return Err(unexpected(&other)),
    };
    if !stricter(old.as_ref(), &new) {
        return Ok(Change::Set {
            created: old.is_none(),
            definition: new,
        });
    }
    let (checked, violations) = check(store, tenant, &new)?;
    if violations.is_empty() {
        return Ok(Change::Set {
            created: old.is_none(),
            definition: new,
        });
    }
    let undo = match &old {
        Some(o) => Op::SetField {
            object,
            key: key.to_owned(),
            input: input_of(o),
            expected_version: Some(new.version),
        },
        None => Op::RemoveField {
            object,
            key: key.to_owned(),
            expected_version: Some(new.version),
        },
    };
    store.write(tenant, actor, vec![undo])?;
    Ok(Change::Refused {
        checked,
        violations,
    })
}

/// Removes a definition (at `expected_version`, when given): its values stay, as free-form
/// attributes.
pub fn remove(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    (object, key): (FieldObject, &str),
    expected_version: Option<u64>,
) -> Result<()> {
    let op = Op::RemoveField {
        object,
        key: key.to_owned(),
        expected_version,
    };
    store.write(tenant, actor, vec![op]).map(drop)
}

/// Whether records valid under `old` may break `new`: a new definition, another type, a value
/// now required, or an option removed. (A label or `filterable` changes nothing stored.)
fn stricter(old: Option<&FieldDefinition>, new: &FieldDefinition) -> bool {
    let Some(old) = old else {
        return true;
    };
    old.field_type != new.field_type
        || (new.required && !old.required)
        || old.options.iter().any(|o| !new.options.contains(o))
}

/// Reads every record of the definition's object and returns how many were read and the first
/// [`MAX_VIOLATIONS`] that break it.
fn check(
    store: &dyn Store,
    tenant: &TenantSlug,
    d: &FieldDefinition,
) -> Result<(u64, Vec<Violation>)> {
    let mut checked = 0;
    let mut violations = Vec::new();
    let field = format!("attributes.{}", d.key);
    let mut note = |id: String, value: Option<&AttributeValue>| {
        checked += 1;
        if let Err(e) = d.check(&field, value)
            && violations.len() < MAX_VIOLATIONS
        {
            violations.extend(e.errors.into_iter().map(|f| Violation {
                id: id.clone(),
                field: f.field,
                expected: f.expected,
            }));
        }
        violations.len() < MAX_VIOLATIONS
    };
    let mut page = PageRequest::first(CHECK_PAGE);
    loop {
        let (next, go_on) = match d.object {
            FieldObject::Customer => {
                let p = store.customers(tenant, &CustomerFilter::All, &page)?;
                let go_on = p
                    .items
                    .iter()
                    .all(|c| note(c.id.to_string(), c.attributes.get(&d.key)));
                (p.next, go_on)
            }
            FieldObject::Deal => {
                let p = store.all_deals(tenant, None, &page)?;
                let go_on = p
                    .items
                    .iter()
                    .all(|x| note(x.id.to_string(), x.attributes.get(&d.key)));
                (p.next, go_on)
            }
            FieldObject::WorkItem => {
                let p = store.work(tenant, &WorkQuery::all(), &page)?;
                let go_on = p
                    .items
                    .iter()
                    .all(|x| note(x.id.to_string(), x.attributes.get(&d.key)));
                (p.next, go_on)
            }
        };
        match next {
            Some(cursor) if go_on => page = PageRequest::after(CHECK_PAGE, cursor),
            _ => break,
        }
    }
    Ok((checked, violations))
}

/// The input that sets `d` again.
fn input_of(d: &FieldDefinition) -> FieldDefinitionInput {
    FieldDefinitionInput {
        label: d.label.clone(),
        field_type: d.field_type,
        options: d.options.clone(),
        required: d.required,
        filterable: d.filterable,
        unique: false,
        key: None,
        object: None,
        version: None,
        created_at: None,
        updated_at: None,
    }
}
