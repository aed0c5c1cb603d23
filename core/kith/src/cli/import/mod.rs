//! `kith import customers|interactions FILE.csv`: header-based column mapping, validation through
//! the model, a per-row error report that never stops the good rows, and batched writes.

mod columns;
mod customer_fields;
mod customers;
mod interaction_fields;
mod interactions;
mod report;
mod source;
mod writer;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tracing::info;

use self::columns::Columns;
use self::customers::CustomerImport;
use self::interactions::InteractionImport;
use self::report::{Report, RowError};
use self::source::{Shape, Source};
use self::writer::{Writer, Written};
use super::{Exit, tenant_of};
use crate::model::ValidationError;
use crate::store::Store;

/// Rows written per `Store::write_each` call: one commit each.
const BATCH: usize = 5_000;

const CUSTOMER_FIELDS: &str = "\
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
  attr.NAME (attributes.NAME): a text attribute NAME
Other columns are ignored with a warning unless mapped with --map COLUMN=FIELD.";

const INTERACTION_FIELDS: &str = "\
Columns are matched by header, ignoring case, spaces and punctuation. Fields (aliases):
  customer_id, customer_email (email) or customer_external (SOURCE:ID): the customer (one is
    required; tried in that order)
  channel (default other)   kind (type, activity_type; default note)   direction
  occurred_at (date, timestamp; default now)   subject (title)   body (notes, description)
  amount (12.50 with a currency column, or 12.50 EUR)   currency   status   due_at (due)
  rating (0-10)   source   external_id (the same source and external id is stored once)
  attr.NAME (attributes.NAME): a text attribute NAME
Other columns are ignored with a warning unless mapped with --map COLUMN=FIELD.";

#[derive(Debug, Subcommand)]
pub(super) enum ImportCommand {
    /// Import customers from CSV.
    #[command(after_help = CUSTOMER_FIELDS)]
    Customers(ImportArgs),
    /// Import interactions from CSV.
    #[command(after_help = INTERACTION_FIELDS)]
    Interactions(ImportArgs),
}

#[derive(Debug, Args)]
pub(super) struct ImportArgs {
    /// The CSV file, UTF-8 with a header line (- reads stdin).
    file: PathBuf,
    /// The tenant to import into.
    #[arg(long)]
    tenant: String,
    /// Validate every row, including duplicates against the store, and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Read COLUMN as FIELD (repeatable); FIELD `ignore` skips the column.
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    maps: Vec<String>,
}

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

pub(super) fn run(cmd: ImportCommand, store: &dyn Store) -> anyhow::Result<Exit> {
    let (args, customers) = match cmd {
        ImportCommand::Customers(a) => (a, true),
        ImportCommand::Interactions(a) => (a, false),
    };
    let tenant = tenant_of(store, &args.tenant)?;
    let mut source = Source::open(&args.file)?;
    let mut report = Report::new(source.size());
    let (shape, mut importer): (Shape, Box<dyn Importer>) = if customers {
        let columns = Columns::new(source.headers(), &args.maps)?;
        customer_fields::check_header(&columns)?;
        columns.warn_unknown(&report);
        let shape = columns.shape();
        (
            shape,
            Box::new(CustomerImport::new(columns, tenant.clone(), args.dry_run)),
        )
    } else {
        let columns = Columns::new(source.headers(), &args.maps)?;
        interaction_fields::check_header(&columns)?;
        columns.warn_unknown(&report);
        let shape = columns.shape();
        (
            shape,
            Box::new(InteractionImport::new(
                columns,
                tenant.clone(),
                args.dry_run,
            )),
        )
    };
    let outcome = std::thread::scope(|scope| {
        let mut writer = Writer::spawn(scope, store, &tenant);
        let read = drive(
            &mut source,
            &shape,
            importer.as_mut(),
            store,
            &mut writer,
            &mut report,
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
    println!("{}", importer.summary(rejected));
    if report.badly_encoded() > 0 {
        eprintln!(
            "hint: {} not valid UTF-8; the file was probably saved as Latin-1 or Windows-1252: save it as UTF-8 (in Excel: CSV UTF-8) and import it again",
            super::output::count(report.badly_encoded(), "row is", "rows are")
        );
    }
    info!(tenant = %tenant, file = %args.file.display(), rejected, dry_run = args.dry_run, "import finished");
    outcome?;
    Ok(if rejected > 0 {
        Exit::Rejected
    } else {
        Exit::Ok
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
        if importer.pending() >= BATCH {
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
