//! `kith export`: a tenant as JSON Lines ([`crate::service::export`]), read page by page through
//! the store interface.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use clap::Args;
use tracing::info;

use super::output::count;
use super::{Exit, tenant_of};
use crate::service::export::export;
use crate::store::Store;

#[derive(Debug, Args)]
pub(super) struct ExportArgs {
    /// The tenant.
    #[arg(long)]
    pub(super) tenant: String,
    /// Write here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub(super) output: Option<PathBuf>,
}

pub(super) fn run(args: &ExportArgs, store: &dyn Store) -> anyhow::Result<Exit> {
    let tenant = tenant_of(store, &args.tenant)?;
    let counts = match &args.output {
        Some(path) => {
            let file = File::create(path).map_err(|source| crate::store::Error::Io {
                path: path.display().to_string(),
                source,
            })?;
            let mut out = BufWriter::new(file);
            let counts = export(store, &tenant, &mut out)?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            counts
        }
        None => export(
            store,
            &tenant,
            &mut BufWriter::new(std::io::stdout().lock()),
        )?,
    };
    info!(tenant = %tenant, customers = counts.customers, interactions = counts.interactions, "export finished");
    eprintln!(
        "exported tenant {tenant}: {}, {}, {}, {}{}",
        count(counts.customers, "customer", "customers"),
        count(counts.interactions, "interaction", "interactions"),
        count(counts.pipelines, "pipeline", "pipelines"),
        count(counts.deals, "deal", "deals"),
        args.output
            .as_ref()
            .map(|p| format!(" to {}", p.display()))
            .unwrap_or_default(),
    );
    Ok(Exit::Ok)
}
