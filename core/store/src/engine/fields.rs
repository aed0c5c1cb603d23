//! Custom field definitions: set and removed as ops, and checked on every write of the records
//! they apply to.

use std::collections::BTreeMap;

use super::{Ctx, Txn, conflict, event};
use crate::{Error, Op, Output, Result};
use kith_model::{
    AttributeValue, CustomerId, DealId, EntityRef, EventKind, FieldDefinition, FieldObject,
    InteractionId, MAX_FIELD_DEFINITIONS, ValidationError, attribute_key, check_fields,
};

pub(super) fn apply(txn: &mut dyn Txn, ctx: &Ctx<'_>, op: Op) -> Result<Output> {
    match op {
        Op::SetField {
            object,
            key,
            input,
            expected_version,
        } => {
            let key = attribute_key("key", &key)?;
            txn.lock_field_definitions()?;
            let defs = txn.field_definitions(object)?;
            let old = defs.iter().find(|d| d.key == key);
            if let Some(v) = expected_version {
                let actual = old.map_or(0, |o| o.version);
                if v != actual {
                    return Err(conflict(
                        "field",
                        format!("{}.{key}", object.as_str()),
                        v,
                        actual,
                    ));
                }
            }
            if old.is_none() && defs.len() >= MAX_FIELD_DEFINITIONS {
                return Err(ValidationError::field(
                    "key",
                    format!("at most {MAX_FIELD_DEFINITIONS} field definitions per object"),
                )
                .into());
            }
            let new = FieldDefinition::new(object, &key, input, old, ctx.now)?;
            if let Some(old) = old
                && same(old, &new)
            {
                return Ok(Output::Field(Some(old.clone())));
            }
            // The index is rebuilt (by `Op::IndexField`) when its encoding changes, and
            // dropped when no longer needed.
            if old
                .is_some_and(|o| o.indexed() && (!new.indexed() || o.field_type != new.field_type))
            {
                txn.purge_field_index(object, &key)?;
            }
            txn.put_field_definition(&new)?;
            let changed = vec![format!("{}.{key}", object.as_str())];
            event(
                txn,
                ctx,
                EventKind::FieldDefined,
                EntityRef::Tenant,
                changed,
            )?;
            Ok(Output::Field(Some(new)))
        }
        Op::RemoveField {
            object,
            key,
            expected_version,
        } => {
            txn.lock_field_definitions()?;
            let defs = txn.field_definitions(object)?;
            let Some(old) = defs.into_iter().find(|d| d.key == key) else {
                return Ok(Output::Field(None));
            };
            if let Some(v) = expected_version.filter(|v| *v != old.version) {
                let id = format!("{}.{key}", object.as_str());
                return Err(conflict("field", id, v, old.version));
            }
            txn.purge_field_index(object, &key)?;
            txn.delete_field_definition(&old)?;
            let changed = vec![format!("{}.{key}", object.as_str())];
            event(
                txn,
                ctx,
                EventKind::FieldRemoved,
                EntityRef::Tenant,
                changed,
            )?;
            Ok(Output::Field(None))
        }
        Op::IndexField { object, key, id } => {
            index_record(txn, object, &key, id)?;
            Ok(Output::Done)
        }
        _ => Err(Error::Storage(
            "a non-field op reached the field ops".into(),
        )),
    }
}

/// Whether a redefinition changes nothing but its times and version.
fn same(a: &FieldDefinition, b: &FieldDefinition) -> bool {
    (
        &a.label,
        a.field_type,
        &a.options,
        (a.required, a.filterable, a.unique, a.sortable),
    ) == (
        &b.label,
        b.field_type,
        &b.options,
        (b.required, b.filterable, b.unique, b.sortable),
    )
}

/// Checks the attributes a write leaves on a record of `object` (`new`; none when the record
/// is deleted) against the tenant's definitions, and keeps the index entries of its unique and
/// sortable fields: a unique value another record holds is refused as a duplicate. `old` is
/// what the record held before (none for a new record).
pub(crate) fn write(
    txn: &mut dyn Txn,
    object: FieldObject,
    id: [u8; 16],
    old: Option<&BTreeMap<String, AttributeValue>>,
    new: Option<&BTreeMap<String, AttributeValue>>,
) -> Result<()> {
    if old.is_some() && old == new {
        return Ok(());
    }
    let defs = txn.field_definitions(object)?;
    if defs.is_empty() {
        return Ok(());
    }
    if let Some(new) = new {
        check_fields(&defs, new)?;
    }
    for d in defs.iter().filter(|d| d.indexed()) {
        let before = d.index_values(old.and_then(|a| a.get(&d.key)));
        let after = d.index_values(new.and_then(|a| a.get(&d.key)));
        for v in before.iter().filter(|v| !after.contains(v)) {
            txn.delete_field_index(object, &d.key, v, id)?;
        }
        for v in after.iter().filter(|v| !before.contains(v)) {
            if d.unique {
                let shown = new.and_then(|a| a.get(&d.key)).map(ToString::to_string);
                claim(txn, d, v, id, shown.unwrap_or_default())?;
            }
            txn.put_field_index(object, &d.key, v, id)?;
        }
    }
    Ok(())
}

/// Refuses a unique value another record holds. An entry whose record no longer holds the
/// value (left by a backfill that read it before a change) is dropped.
fn claim(
    txn: &mut dyn Txn,
    d: &FieldDefinition,
    value: &[u8],
    id: [u8; 16],
    shown: String,
) -> Result<()> {
    for holder in txn.field_index_holders(d.object, &d.key, value, 8)? {
        if holder == id {
            continue;
        }
        if attributes_of(txn, d.object, holder)?
            .is_some_and(|a| d.index_values(a.get(&d.key)).iter().any(|v| v == value))
        {
            return Err(Error::Duplicate {
                field: "attributes",
                value: format!("{} = {shown}", d.key),
                existing: format!("{} {}", d.object.as_str(), uuid::Uuid::from_bytes(holder)),
            });
        }
        txn.delete_field_index(d.object, &d.key, value, holder)?;
    }
    Ok(())
}

/// The attributes of a record of `object`, if it exists.
fn attributes_of(
    txn: &mut dyn Txn,
    object: FieldObject,
    id: [u8; 16],
) -> Result<Option<BTreeMap<String, AttributeValue>>> {
    Ok(match object {
        FieldObject::Customer => txn
            .customer(CustomerId::from_bytes(id))?
            .map(|c| c.attributes),
        FieldObject::Deal => txn.deal(DealId::from_bytes(id))?.map(|d| d.attributes),
        FieldObject::WorkItem => txn
            .interaction(InteractionId::from_bytes(id))?
            .map(|i| i.attributes),
    })
}

/// Indexes one record under the definition of `key` (after it became unique or sortable): its
/// current value, a unique one checked against the others' (a duplicate is refused).
fn index_record(txn: &mut dyn Txn, object: FieldObject, key: &str, id: [u8; 16]) -> Result<()> {
    let defs = txn.field_definitions(object)?;
    let Some(d) = defs.iter().find(|d| d.key == key && d.indexed()) else {
        return Ok(());
    };
    let Some(attributes) = attributes_of(txn, object, id)? else {
        return Ok(());
    };
    for v in d.index_values(attributes.get(key)) {
        if d.unique {
            let shown = attributes
                .get(key)
                .map(ToString::to_string)
                .unwrap_or_default();
            claim(txn, d, &v, id, shown)?;
        }
        txn.put_field_index(object, key, &v, id)?;
    }
    Ok(())
}
