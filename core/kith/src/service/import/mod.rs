//! Importing customers or interactions from CSV: header-based column mapping, validation through
//! the model, a per-row error report that never stops the good rows, and batched writes. Run by
//! `kith import customers|interactions FILE.csv` and by an HTTP import job
//! (`POST /v1/tenants/{t}/imports/{kind}`).

mod columns;
mod customer_fields;
mod customers;
mod interaction_fields;
mod interactions;
mod jsonl;
mod report;
mod source;
mod writer;

use std::path::Path;

use serde::{Deserialize, Serialize};

use self::columns::Columns;
use self::customers::CustomerImport;
use self::interactions::InteractionImport;
pub use self::jsonl::{MAX_LINE, import_jsonl};
use self::report::RowError;
pub use self::report::{ImportProgress, MAX_KEPT_ERRORS, Report, RowProblem};
use self::source::{Shape, Source};
use self::writer::{Writer, Written};
use crate::model::{Actor, FieldObject, TenantSlug, ValidationError};
use crate::store::Store;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    /// Customers.
    Customers,
    /// Interactions.
    Interactions,
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// What the file holds.
    pub kind: ImportKind,
    /// Validate every row, including duplicates against the store, and write nothing.
    pub dry_run: bool,
    /// `COLUMN=FIELD` overrides of the header mapping (`FIELD` `ignore` skips the column).
    pub maps: Vec<String>,
    /// Rows written per commit.
    pub batch: usize,
}

/// What an import did.
#[derive(Debug)]
pub struct Outcome {
    /// One line: what was imported (or would be, in a dry run).
    pub summary: String,
    /// Rows rejected.
    pub rejected: u64,
    /// Rows rejected because they were not UTF-8.
    pub badly_encoded: u64,
    /// What stopped the import part way (a file that cannot be read on, a failing store),
    /// after the rows before it were written.
    pub stopped: Option<anyhow::Error>,
}

/// The hint for rows that were not UTF-8, when there were some.
pub fn encoding_hint(badly_encoded: u64) -> Option<String> {
    (badly_encoded > 0).then(|| {
        format!(
            "{} not valid UTF-8; the file was probably saved as Latin-1 or Windows-1252: save it as UTF-8 (in Excel: CSV UTF-8) and import it again",
            crate::service::count(badly_encoded, "row is", "rows are")
        )
    })
}

pub const CUSTOMER_FIELDS: &str = "\
Columns are matched by header, ignoring case, spaces and punctuation. Fields (aliases):
  kind (type): person or organization       name (full_name, display_name)
  first_name (first name, given_name)        last_name (surname, family_name)
  email (e-mail, email_address, mail)        phone (phone_number, telephone, mobile)
  country (country_code)  region (state)  city  birth_date (dob, date_of_birth)  gender
  lifecycle (lifecycle_stage, stage)         owner (account_owner, assigned_to)
  tags: separated by ; or |                  marketing_consent (consent, opt_in): yes/no
  company (company_name, organization, account): links a person to the organization of that
    name, created when the tenant has none
  organization_id: the id of an existing organization
  external_id with external_source, or external:SOURCE columns: ids in other systems
  consent:CHANNEL:PURPOSE (e.g. consent:email:newsletter): yes grants, no withdraws, empty
    leaves it (source: import)
  attr.NAME (attributes.NAME): the attribute NAME, as its custom field's type (1234.5, yes/no,
    YYYY-MM-DD, 12.34 EUR, options separated by ; or |), text when NAME has no definition
Other columns are ignored with a warning unless mapped with --map COLUMN=FIELD.";

pub const INTERACTION_FIELDS: &str = "\
Columns are matched by header, ignoring case, spaces and punctuation. Fields (aliases):
  customer_id, customer_email (email) or customer_external (SOURCE:ID): the customer (one is
    required; tried in that order)
  channel (default other)   kind (type, activity_type; default note)   direction
  occurred_at (date, timestamp; default now)   subject (title)   body (notes, description)
  amount (12.50 with a currency column, or 12.50 EUR)   currency   status   due_at (due)
  rating (0-10)   source   external_id (the same source and external id is stored once)
  attr.NAME (attributes.NAME): a text attribute NAME
Other columns are ignored with a warning unless mapped with --map COLUMN=FIELD.";

/// The outcome of one row: accepted, or its errors.
type RowResult = Result<(), Vec<RowError>>;

/// One kind of import.
trait Importer {
    /// Validates a row and keeps it for the next batch. Err only for a failing store.
    fn add(
        &mut self,
        store: &dyn Store,
        line: u64,
        row: &source::Row<'_>,
    ) -> anyhow::Result<RowResult>;
    /// Rows kept.
    fn pending(&self) -> usize;
    /// Hands the kept rows to `writer` (in a dry run, only counts them).
    fn flush(
        &mut self,
        store: &dyn Store,
        writer: &mut Writer,
        report: &mut Report,
    ) -> anyhow::Result<()>;
    /// Counts a written batch and reports the rows the store refused.
    fn absorb(&mut self, written: Written, report: &mut Report);
    /// The closing line.
    fn summary(&self, rejected: u64) -> String;
}

/// Imports the CSV file at `path` (`-`: stdin) into `tenant` as `actor`. `report` makes the
/// report once the file's size is known. Rows that fail are reported and skipped. An error is a
/// file that cannot be opened or a header that cannot be mapped (nothing was written); what
/// stops the import part way is in [`Outcome::stopped`].
pub fn import(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    path: &Path,
    options: &ImportOptions,
    report: impl FnOnce(Option<u64>) -> Report,
) -> anyhow::Result<Outcome> {
    let mut source = Source::open(path)?;
    let mut report = report(source.size());
    let (shape, mut importer): (Shape, Box<dyn Importer>) = match options.kind {
        ImportKind::Customers => {
            let columns = Columns::new(source.headers(), &options.maps)?;
            customer_fields::check_header(&columns)?;
            columns.warn_unknown(&report);
            let shape = columns.shape();
            (
                shape,
                Box::new(CustomerImport::new(
                    columns,
                    tenant.clone(),
                    actor.clone(),
                    options.dry_run,
                    store.field_definitions(tenant, FieldObject::Customer)?,
                )),
            )
        }
        ImportKind::Interactions => {
            let columns = Columns::new(source.headers(), &options.maps)?;
            interaction_fields::check_header(&columns)?;
            columns.warn_unknown(&report);
            let shape = columns.shape();
            (
                shape,
                Box::new(InteractionImport::new(
                    columns,
                    tenant.clone(),
                    options.dry_run,
                )),
            )
        }
    };
    let batch = options.batch.max(1);
    let outcome = std::thread::scope(|scope| {
        let mut writer = Writer::spawn(scope, store, tenant, actor.clone());
        let read = drive(
            &mut source,
            &shape,
            importer.as_mut(),
            store,
            &mut writer,
            &mut report,
            batch,
        );
        // Whatever stopped the reading, the batch in flight is counted and reported.
        let last = writer.wait();
        if let Ok(Some(written)) = last {
            importer.absorb(written, &mut report);
            read
        } else {
            read.and(last.map(drop))
        }
    });
    report.finish();
    let rejected = report.rejected();
    Ok(Outcome {
        summary: importer.summary(rejected),
        rejected,
        badly_encoded: report.badly_encoded(),
        stopped: outcome.err(),
    })
}

/// Reads every row, validating each and writing them in batches.
fn drive(
    source: &mut Source,
    shape: &Shape,
    importer: &mut dyn Importer,
    store: &dyn Store,
    writer: &mut Writer,
    report: &mut Report,
    batch: usize,
) -> anyhow::Result<()> {
    let mut record = csv::ByteRecord::new();
    loop {
        match source.next(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // The rows read so far are good: keep them, then report why reading stopped.
                importer.flush(store, writer, report)?;
                return Err(e);
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        let outcome = match shape.row(&record) {
            None => Ok(()),
            Some(Err(errors)) => Err(errors),
            Some(Ok(row)) => importer.add(store, line, &row)?,
        };
        if let Err(errors) = outcome {
            report.reject(line, &errors);
        }
        if importer.pending() >= batch {
            importer.flush(store, writer, report)?;
        }
        report.progress(source.position());
    }
    importer.flush(store, writer, report)
}

/// Row errors for one column's value from a model validation error.
fn field_errors(column: &str, value: &str, e: ValidationError) -> Vec<RowError> {
    e.errors
        .into_iter()
        .map(|fe| {
            RowError::at(
                column,
                format!("expected {}, got {}", fe.expected, columns::shown(value)),
            )
        })
        .collect()
}

/// `yes`/`no`, `true`/`false`, `1`/`0`, `y`/`n`, `on`/`off`.
fn boolean(v: &str) -> Option<bool> {
    match v.trim().to_lowercase().as_str() {
        "yes" | "y" | "true" | "t" | "1" | "on" | "x" => Some(true),
        "no" | "n" | "false" | "f" | "0" | "off" | "" => Some(false),
        _ => None,
    }
}
