//! `kith import customers|interactions FILE.csv` ([`crate::service::import`] does the work).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tracing::info;

use super::{Exit, actor, tenant_of};
use crate::service::import::{
    CUSTOMER_FIELDS, INTERACTION_FIELDS, ImportKind, ImportOptions, Report, encoding_hint, import,
};
use crate::store::Store;

/// Rows written per commit.
const BATCH: usize = 5_000;

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
    pub(super) file: PathBuf,
    /// The tenant to import into.
    #[arg(long)]
    pub(super) tenant: String,
    /// Validate every row, including duplicates against the store, and write nothing.
    #[arg(long)]
    pub(super) dry_run: bool,
    /// Read COLUMN as FIELD (repeatable); FIELD `ignore` skips the column.
    #[arg(long = "map", value_name = "COLUMN=FIELD")]
    pub(super) maps: Vec<String>,
}

pub(super) fn run(cmd: ImportCommand, store: &dyn Store) -> anyhow::Result<Exit> {
    let (args, kind) = match cmd {
        ImportCommand::Customers(a) => (a, ImportKind::Customers),
        ImportCommand::Interactions(a) => (a, ImportKind::Interactions),
    };
    let tenant = tenant_of(store, &args.tenant)?;
    let options = ImportOptions {
        kind,
        dry_run: args.dry_run,
        maps: args.maps.clone(),
        batch: BATCH,
    };
    let outcome = import(
        store,
        &tenant,
        &actor(),
        &args.file,
        &options,
        Report::terminal,
    )?;
    println!("{}", outcome.summary);
    if let Some(hint) = encoding_hint(outcome.badly_encoded) {
        eprintln!("hint: {hint}");
    }
    let rejected = outcome.rejected;
    info!(tenant = %tenant, file = %args.file.display(), rejected, dry_run = args.dry_run, "import finished");
    if let Some(e) = outcome.stopped {
        return Err(e);
    }
    Ok(if rejected > 0 {
        Exit::Rejected
    } else {
        Exit::Ok
    })
}
