//! `kith tenant create|list`.

use std::io::Write;

use clap::Subcommand;

use super::{Exit, actor};
use crate::model::TenantInput;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub(super) enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Its slug: a-z, 0-9 and '-'.
        slug: String,
        /// Display name (default: the slug).
        #[arg(long)]
        name: Option<String>,
        /// Industry, e.g. retail.
        #[arg(long)]
        industry: Option<String>,
    },
    /// List tenants.
    List {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(cmd: TenantCommand, store: &dyn Store) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    match cmd {
        TenantCommand::Create {
            slug,
            name,
            industry,
        } => {
            let input = TenantInput {
                slug,
                name,
                industry,
            };
            let t = store.create_tenant(input, &actor())?;
            writeln!(out, "created tenant {} ({})", t.slug, t.name)?;
        }
        TenantCommand::List { json } => {
            let tenants = store.tenants()?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&tenants)?)?;
            } else if tenants.is_empty() {
                writeln!(
                    out,
                    "no tenants yet: create one with `kith tenant create SLUG`"
                )?;
            } else {
                let width = tenants
                    .iter()
                    .map(|t| t.slug.as_str().len())
                    .max()
                    .unwrap_or(4);
                writeln!(
                    out,
                    "{:width$}  {:<24}  {:<16}  CREATED",
                    "SLUG", "NAME", "INDUSTRY"
                )?;
                for t in tenants {
                    let industry = t.industry.as_deref().unwrap_or("-");
                    writeln!(
                        out,
                        "{:width$}  {:<24}  {:<16}  {}",
                        t.slug.as_str(),
                        t.name,
                        industry,
                        t.created_at
                    )?;
                }
            }
        }
    }
    Ok(Exit::Ok)
}
