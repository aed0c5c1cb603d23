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
use crate::store::{Cursor, CustomerFilter, Error};
use crate::store::{Op, Output, PageRequest, Result, Store, WorkQuery, one, unexpected};
use std::collections::BTreeMap;

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
    // A unique or sortable field's index is built from the stored records (the records
    // written from the commit on index themselves); a field turning unique is indexed again,
    // which finds the values two records hold.
    let build = new.indexed()
        && old.as_ref().is_none_or(|o| {
            !o.indexed() || o.field_type != new.field_type || (new.unique && !o.unique)
        });
    if !build && !stricter(old.as_ref(), &new) {
        return Ok(Change::Set {
            created: old.is_none(),
            definition: new,
        });
    }
    let (checked, violations) = check(store, tenant, actor, &new, build)?;
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
    let restored = match one(store.write(tenant, actor, vec![undo])?)? {
        Output::Field(d) => d,
        other => return Err(unexpected(&other)),
    };
    // Putting back an indexed definition whose index the change dropped: build it again.
    if let Some(d) = restored.filter(|d| d.indexed() && build) {
        check(store, tenant, actor, &d, true)?;
    }
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
/// [`MAX_VIOLATIONS`] that break it; with `build`, also indexes each (a unique value another
/// record holds is a violation).
fn check(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    d: &FieldDefinition,
    build: bool,
) -> Result<(u64, Vec<Violation>)> {
    let (mut checked, mut violations) = (0, Vec::new());
    let field = format!("attributes.{}", d.key);
    let mut page = PageRequest::first(CHECK_PAGE);
    loop {
        let (records, next) = records_of(store, tenant, d.object, &page)?;
        for (id, attributes) in &records {
            checked += 1;
            if let Err(e) = d.check(&field, attributes.get(&d.key)) {
                violations.extend(e.errors.into_iter().map(|f| Violation {
                    id: uuid::Uuid::from_bytes(*id).to_string(),
                    field: f.field,
                    expected: f.expected,
                }));
                if violations.len() >= MAX_VIOLATIONS {
                    break;
                }
            }
        }
        let mut go_on = violations.len() < MAX_VIOLATIONS;
        if build && go_on {
            go_on = index(store, tenant, actor, d, &records, &mut violations)?;
        }
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
        unique: d.unique,
        sortable: d.sortable,
        key: None,
        object: None,
        version: None,
        created_at: None,
        updated_at: None,
    }
}

/// The ids and attributes of one page of `object`'s records, and the cursor of the next.
type Records = (
    Vec<([u8; 16], BTreeMap<String, AttributeValue>)>,
    Option<Cursor>,
);

fn records_of(
    store: &dyn Store,
    tenant: &TenantSlug,
    object: FieldObject,
    page: &PageRequest,
) -> Result<Records> {
    Ok(match object {
        FieldObject::Customer => {
            let p = store.customers(tenant, &CustomerFilter::All, page)?;
            let items = p.items.into_iter().map(|c| (c.id.to_bytes(), c.attributes));
            (items.collect(), p.next)
        }
        FieldObject::Deal => {
            let p = store.all_deals(tenant, None, page)?;
            let items = p.items.into_iter().map(|x| (x.id.to_bytes(), x.attributes));
            (items.collect(), p.next)
        }
        FieldObject::WorkItem => {
            let p = store.work(tenant, &WorkQuery::all(), page)?;
            let items = p.items.into_iter().map(|x| (x.id.to_bytes(), x.attributes));
            (items.collect(), p.next)
        }
    })
}

/// Indexes the records that have a value, each on its own, all in one commit; a value another
/// record holds is a violation. False once [`MAX_VIOLATIONS`] are found.
fn index(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    d: &FieldDefinition,
    records: &[([u8; 16], BTreeMap<String, AttributeValue>)],
    violations: &mut Vec<Violation>,
) -> Result<bool> {
    // A record whose value breaks the definition is a violation already, and is not indexed.
    let field = format!("attributes.{}", d.key);
    let ids: Vec<[u8; 16]> = records
        .iter()
        .filter(|(_, a)| a.contains_key(&d.key) && d.check(&field, a.get(&d.key)).is_ok())
        .map(|(id, _)| *id)
        .collect();
    let ops = ids
        .iter()
        .map(|&id| Op::IndexField {
            object: d.object,
            key: d.key.clone(),
            id,
        })
        .collect();
    for (id, outcome) in ids.iter().zip(store.write_each(tenant, actor, ops)?) {
        match outcome {
            Ok(_) => {}
            Err(e @ Error::Duplicate { .. }) if violations.len() < MAX_VIOLATIONS => {
                violations.push(Violation {
                    id: uuid::Uuid::from_bytes(*id).to_string(),
                    field: format!("attributes.{}", d.key),
                    expected: format!("a value no other record holds ({e})"),
                });
            }
            Err(Error::Duplicate { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(violations.len() < MAX_VIOLATIONS)
}
