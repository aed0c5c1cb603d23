//! A tenant as JSON Lines: the `tenant` first, then its custom `field` definitions (of
//! customers, deals and work items; each under `field`, whose own `type` is the field's),
//! each `customer` followed by their
//! `interaction`s (newest first), each `pipeline` followed by its `deal`s, and last an `end`
//! record with the counts, so that a reader can tell a whole export from a cut one. Each line
//! is a record's JSON with its `type` first. `kith export` writes it to a file;
//! `GET /v1/tenants/{t}/export` streams it.
//!
//! Pages of 1,000 are read one after the other, each from a fresh snapshot: a record written
//! during the export may or may not be in it, but none is torn or repeated.

use std::io::{self, Write};

use serde::Serialize;

use crate::model::{FieldObject, TenantSlug};
use crate::store::{CustomerFilter, PageRequest, Store};

/// Items per page read from the store.
const PAGE: usize = 1000;

/// How many records of each kind were written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Customers.
    pub customers: u64,
    /// Interactions.
    pub interactions: u64,
    /// Pipelines.
    pub pipelines: u64,
    /// Deals.
    pub deals: u64,
    /// Custom field definitions.
    pub fields: u64,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// Writing the output failed (a full disk, a client that went away).
    #[error("writing the export failed: {0}")]
    Write(#[from] io::Error),
}

/// A field definition's record: under `field`, since its own `type` is the field's type.
#[derive(Serialize)]
struct FieldRecord<'a> {
    field: &'a crate::model::FieldDefinition,
}

/// Writes one record: its JSON object with `"type": kind` first.
pub fn record(out: &mut impl Write, kind: &str, value: &impl Serialize) -> io::Result<()> {
    let body = serde_json::to_string(value).map_err(io::Error::other)?;
    match body.strip_prefix('{') {
        Some("}") => writeln!(out, "{{\"type\":\"{kind}\"}}"),
        Some(rest) => writeln!(out, "{{\"type\":\"{kind}\",{rest}"),
        None => Err(io::Error::other(format!(
            "cannot export a {kind} that is not a JSON object"
        ))),
    }
}

/// Writes the tenant's export to `out` and flushes it.
pub fn export(
    store: &dyn Store,
    tenant: &TenantSlug,
    out: &mut impl Write,
) -> Result<Counts, ExportError> {
    let mut counts = Counts::default();
    let Some(t) = store.tenant(tenant)? else {
        return Err(crate::store::Error::TenantNotFound(tenant.to_string()).into());
    };
    record(out, "tenant", &t)?;
    for object in [
        FieldObject::Customer,
        FieldObject::Deal,
        FieldObject::WorkItem,
    ] {
        for d in store.field_definitions(tenant, object)? {
            record(out, "field", &FieldRecord { field: &d })?;
            counts.fields += 1;
        }
    }
    let mut page = PageRequest::first(PAGE);
    loop {
        let customers = store.customers(tenant, &CustomerFilter::All, &page)?;
        for c in &customers.items {
            record(out, "customer", c)?;
            counts.customers += 1;
            let mut tl = PageRequest::first(PAGE);
            loop {
                let items = store.timeline(tenant, c.id, &tl)?;
                for i in &items.items {
                    record(out, "interaction", i)?;
                    counts.interactions += 1;
                }
                let Some(next) = items.next else { break };
                tl = PageRequest::after(PAGE, next);
            }
        }
        let Some(next) = customers.next else { break };
        page = PageRequest::after(PAGE, next);
    }
    let mut page = PageRequest::first(PAGE);
    loop {
        let pipelines = store.pipelines(tenant, &page)?;
        for p in &pipelines.items {
            record(out, "pipeline", p)?;
            counts.pipelines += 1;
            let mut dp = PageRequest::first(PAGE);
            loop {
                let deals = store.deals(tenant, p.id, None, &dp)?;
                for d in &deals.items {
                    record(out, "deal", d)?;
                    counts.deals += 1;
                }
                let Some(next) = deals.next else { break };
                dp = PageRequest::after(PAGE, next);
            }
        }
        let Some(next) = pipelines.next else { break };
        page = PageRequest::after(PAGE, next);
    }
    record(out, "end", &counts)?;
    out.flush()?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_start_with_their_type() {
        let mut out = Vec::new();
        record(&mut out, "x", &serde_json::json!({"a": 1})).ok();
        record(&mut out, "y", &serde_json::json!({})).ok();
        assert!(record(&mut out, "z", &serde_json::json!([1])).is_err());
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\"type\":\"x\",\"a\":1}\n{\"type\":\"y\"}\n"
        );
    }
}
