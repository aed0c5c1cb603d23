//! JSON Lines imports: one record per line, in the shape the API takes. Customers are upserted as
//! `POST .../customers/batch/upsert` does (matched by id, external id, email, then phone);
//! interactions are logged as `POST .../interactions` does (a `source` + `external_id` stored
//! already is left). A line of an export (`{"type": "customer", ...}`) works: the `type` is
//! read, and lines of the other types are skipped and counted.
//!
//! Each line is at most [`MAX_LINE`] bytes; a longer one is rejected without being held whole.
//! Lines are written [`ImportOptions::batch`] at a time, each on its own in one commit. A dry
//! run checks each line's JSON shape and writes nothing (the store's rules, such as an email
//! another customer holds, are checked only by a real import).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use super::report::{Report, RowError};
use super::{ImportKind, ImportOptions, Outcome};
use crate::model::{Actor, CustomerPatch, InteractionInput, TenantSlug};
use crate::service::count;
use crate::store::{Error, Op, Store};

/// The longest line read, in bytes.
pub const MAX_LINE: usize = 1024 * 1024;

/// Imports the JSON Lines file at `path` (see the module's documentation).
pub fn import_jsonl(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    path: &Path,
    options: &ImportOptions,
    report: impl FnOnce(Option<u64>) -> Report,
) -> anyhow::Result<Outcome> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    let size = file.metadata().ok().map(|m| m.len());
    let mut report = report(size);
    let mut input = BufReader::new(file);
    let (wanted, noun) = match options.kind {
        ImportKind::Customers => ("customer", ("customer", "customers")),
        ImportKind::Interactions => ("interaction", ("interaction", "interactions")),
    };
    let batch = options.batch.max(1);
    let (mut pending, mut lines): (Vec<Op>, Vec<u64>) = (Vec::new(), Vec::new());
    let (mut line_no, mut read, mut imported, mut skipped) = (0u64, 0u64, 0u64, 0u64);
    let mut buf = Vec::new();
    let stopped = loop {
        buf.clear();
        let n = match (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
        {
            Ok(n) => n,
            Err(e) => break Some(anyhow::anyhow!("reading the file failed: {e}")),
        };
        if n == 0 {
            break None;
        }
        read += n as u64;
        line_no += 1;
        if buf.len() > MAX_LINE && !buf.ends_with(b"\n") {
            // Skip the rest of the line without holding it.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                match (&mut input).take(64 * 1024).read_until(b'\n', &mut rest) {
                    Ok(0) => break,
                    Ok(k) => {
                        read += k as u64;
                        if rest.ends_with(b"\n") {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            let reason = format!("a line of at most {MAX_LINE} bytes");
            report.reject(line_no, &[RowError::row(reason)]);
            report.progress(read);
            continue;
        }
        match parse(&buf, wanted, options.kind) {
            Ok(None) if buf.iter().all(u8::is_ascii_whitespace) => {}
            Ok(None) => skipped += 1,
            Ok(Some(_)) if options.dry_run => imported += 1,
            Ok(Some(op)) => {
                pending.push(op);
                lines.push(line_no);
            }
            Err(e) => report.reject(line_no, &[e]),
        }
        if pending.len() >= batch
            && let Err(e) = flush(store, tenant, actor, &mut pending, &mut lines, &mut report)
                .map(|n| imported += n)
        {
            break Some(e);
        }
        report.progress(read);
    };
    let stopped = match stopped {
        Some(e) => Some(e),
        None => flush(store, tenant, actor, &mut pending, &mut lines, &mut report)
            .map(|n| imported += n)
            .err(),
    };
    report.finish();
    let rejected = report.rejected();
    let verb = if options.dry_run {
        "would import"
    } else {
        "imported"
    };
    let mut summary = format!(
        "{verb} {}; {} rejected",
        count(imported, noun.0, noun.1),
        count(rejected, "line", "lines")
    );
    if skipped > 0 {
        summary.push_str(&format!(
            "; {} of other types skipped",
            count(skipped, "line", "lines")
        ));
    }
    Ok(Outcome {
        summary,
        rejected,
        badly_encoded: 0,
        stopped,
    })
}

/// The op of one line; `None` for an empty line or a record of another type.
fn parse(line: &[u8], wanted: &str, kind: ImportKind) -> Result<Option<Op>, RowError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut value: Value = serde_json::from_slice(line)
        .map_err(|e| RowError::row(format!("a JSON object on one line ({e})")))?;
    let Some(object) = value.as_object_mut() else {
        return Err(RowError::row("a JSON object ({...}) on the line"));
    };
    match object.remove("type") {
        None => {}
        Some(Value::String(t)) if t == wanted => {}
        Some(Value::String(_)) => return Ok(None),
        Some(_) => return Err(RowError::at("type", "the record's type, as text")),
    }
    let shape = |e: serde_path_to_error::Error<serde_json::Error>| {
        let path = e.path().to_string();
        RowError::at(path, e.into_inner().to_string())
    };
    Ok(Some(match kind {
        ImportKind::Customers => {
            let mut patch: CustomerPatch =
                serde_path_to_error::deserialize(value).map_err(shape)?;
            patch.consent_source = crate::model::ConsentSource::Import;
            Op::UpsertCustomer(Box::new(patch))
        }
        ImportKind::Interactions => {
            let input: InteractionInput = serde_path_to_error::deserialize(value).map_err(shape)?;
            Op::LogInteraction(input)
        }
    }))
}

/// Writes the pending lines, each on its own, in one commit; rejects the refused ones. Returns
/// how many were written.
fn flush(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    pending: &mut Vec<Op>,
    lines: &mut Vec<u64>,
    report: &mut Report,
) -> anyhow::Result<u64> {
    if pending.is_empty() {
        return Ok(0);
    }
    let outcomes = store.write_each(tenant, actor, std::mem::take(pending))?;
    let mut written = 0;
    for (line, outcome) in lines.drain(..).zip(outcomes) {
        match outcome {
            Ok(_) => written += 1,
            Err(e) => report.reject(line, &store_error(&e)),
        }
    }
    Ok(written)
}

/// A refused line's errors: each invalid field by its JSON path, or what the store said.
fn store_error(e: &Error) -> Vec<RowError> {
    match e {
        Error::Invalid(v) => v
            .errors
            .iter()
            .map(|f| RowError::at(f.field.clone(), format!("expected {}", f.expected)))
            .collect(),
        other => vec![RowError::row(other.to_string())],
    }
}
