//! `kith backup`, `kith check` and `kith stats`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::output::{bytes, count, thousands};
use super::{DATA_FILE, Exit, Location};
use crate::store::{PgStore, Stats, Store};

#[derive(Debug, Args)]
pub(super) struct BackupArgs {
    /// A new file to write, or an existing directory to write kith.redb into.
    pub(super) path: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct StatsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(super) json: bool,
}

pub(super) fn backup(
    args: &BackupArgs,
    store: &dyn Store,
    data_dir: &Path,
) -> anyhow::Result<Exit> {
    let dest = if args.path.is_dir() {
        args.path.join(DATA_FILE)
    } else {
        args.path.clone()
    };
    // A mistyped directory is not created: the backup would land somewhere nobody looks.
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        anyhow::bail!(
            "cannot write the backup to {}: the directory {} does not exist (create it first)",
            dest.display(),
            parent.display()
        );
    }
    store.backup(&dest)?;
    let size = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "backup written to {} ({})",
        dest.display(),
        bytes(size)
    )?;
    writeln!(
        out,
        "to restore: stop kith, then copy it to {}",
        data_dir.join(DATA_FILE).display()
    )?;
    Ok(Exit::Ok)
}

pub(super) fn check(store: &dyn Store) -> anyhow::Result<Exit> {
    let problems = store.check()?;
    let tenants = store.tenants()?.len() as u64;
    let mut out = std::io::stdout().lock();
    if problems.is_empty() {
        writeln!(
            out,
            "ok: {}, no inconsistencies",
            count(tenants, "tenant", "tenants")
        )?;
        return Ok(Exit::Ok);
    }
    for p in &problems {
        if p.tenant.is_empty() {
            writeln!(out, "inconsistency: {}", p.problem)?;
        } else {
            writeln!(out, "inconsistency in tenant {}: {}", p.tenant, p.problem)?;
        }
    }
    out.flush()?;
    eprintln!(
        "error: {} found",
        count(problems.len() as u64, "inconsistency", "inconsistencies")
    );
    Ok(Exit::Failed)
}

/// `kith migrate`: applies the migrations a database lacks (the embedded store migrates its
/// file when opened) and prints the schema version.
pub(super) fn migrate(at: &Location) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    match at {
        Location::Database(url) => {
            let applied = PgStore::migrate(url)?;
            match (applied.first(), applied.last()) {
                (Some(first), Some(last)) => writeln!(
                    out,
                    "{at}: applied migrations {first} to {last}; schema version {last}"
                )?,
                _ => writeln!(
                    out,
                    "{at}: schema version {} is current",
                    crate::store::PG_SCHEMA_VERSION
                )?,
            }
        }
        Location::Dir(dir) => {
            let store = super::open_redb(dir)?;
            let version = store.stats()?.schema_version;
            writeln!(out, "{at}: schema version {version} is current")?;
        }
    }
    Ok(Exit::Ok)
}

pub(super) fn stats(args: &StatsArgs, store: &dyn Store, at: &Location) -> anyhow::Result<Exit> {
    let stats = store.stats()?;
    let place = match at {
        Location::Dir(_) => format!("data file: {at}"),
        Location::Database(_) => format!("database: {at}"),
    };
    print_stats(&stats, args.json, &place)
}

/// Prints stats as JSON or as a table; `place` says where the data is.
pub(super) fn print_stats(stats: &Stats, json: bool, place: &str) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(stats)?)?;
        return Ok(Exit::Ok);
    }
    writeln!(out, "schema version: {}", stats.schema_version)?;
    writeln!(out, "{place} ({})", bytes(stats.file_bytes))?;
    if stats.tenants.is_empty() {
        writeln!(out, "no tenants")?;
        return Ok(Exit::Ok);
    }
    let width = stats
        .tenants
        .iter()
        .map(|t| t.tenant.len())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(
        out,
        "{:width$}  {:>12}  {:>12}  {:>9}  {:>10}  {:>12}",
        "TENANT", "CUSTOMERS", "INTERACTIONS", "PIPELINES", "DEALS", "EVENTS"
    )?;
    for t in &stats.tenants {
        writeln!(
            out,
            "{:width$}  {:>12}  {:>12}  {:>9}  {:>10}  {:>12}",
            t.tenant,
            thousands(t.customers),
            thousands(t.interactions),
            thousands(t.pipelines),
            thousands(t.deals),
            thousands(t.events)
        )?;
    }
    Ok(Exit::Ok)
}
