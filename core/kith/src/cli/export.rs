//! `kith export`: a tenant as JSON Lines, read page by page through the store interface.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Args;
use tracing::info;

use super::output::{count, record};
use super::{Exit, tenant_of};
use crate::model::TenantSlug;
use crate::store::{CustomerFilter, PageRequest, Store};

/// Items per page read from the store.
const PAGE: usize = 1000;

#[derive(Debug, Args)]
pub(super) struct ExportArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// Write here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// How many records of each kind were written.
#[derive(Debug, Default)]
struct Counts {
    customers: u64,
    interactions: u64,
    pipelines: u64,
    deals: u64,
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

/// Writes the tenant, each customer followed by their interactions (newest first), then each
/// pipeline followed by its deals.
fn export(store: &dyn Store, tenant: &TenantSlug, out: &mut impl Write) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    let Some(t) = store.tenant(tenant)? else {
        return Err(crate::store::Error::TenantNotFound(tenant.to_string()).into());
    };
    record(out, "tenant", &t)?;
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
    out.flush()?;
    Ok(counts)
}
