//! Custom field definitions: set and removed as ops, and checked on every write of the records
//! they apply to.

use std::collections::BTreeMap;

use super::{Ctx, Txn, conflict, event};
use crate::{Error, Op, Output, Result};
use kith_model::{
    AttributeValue, EntityRef, EventKind, FieldDefinition, FieldObject, MAX_FIELD_DEFINITIONS,
    ValidationError, attribute_key, check_fields,
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
        _ => Err(Error::Storage(
            "a non-field op reached the field ops".into(),
        )),
    }
}

/// Whether a redefinition changes nothing but its times and version.
fn same(a: &FieldDefinition, b: &FieldDefinition) -> bool {
    (&a.label, a.field_type, &a.options, a.required, a.filterable)
        == (&b.label, b.field_type, &b.options, b.required, b.filterable)
}

/// Checks the attributes a write leaves on a record of `object` against the tenant's
/// definitions.
pub(crate) fn check(
    txn: &mut dyn Txn,
    object: FieldObject,
    attributes: &BTreeMap<String, AttributeValue>,
) -> Result<()> {
    let defs = txn.field_definitions(object)?;
    if defs.is_empty() {
        return Ok(());
    }
    check_fields(&defs, attributes).map_err(Error::from)
}
