//! `kith token create|list|revoke`: admin tokens and tenant API keys, offline (stop `kith serve`
//! first: the data directory is locked while it runs; use `POST /v1/tokens` then).

use std::io::Write;

use clap::Subcommand;

use super::{Exit, tenant_of};
use crate::service::tokens;
use crate::store::{PageRequest, Store, TokenScope};

#[derive(Debug, Subcommand)]
pub(super) enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// An admin token (manages tenants and tokens).
        #[arg(long, conflicts_with = "tenant", required_unless_present = "tenant")]
        admin: bool,
        /// A tenant API key for this tenant.
        #[arg(long, value_name = "SLUG")]
        tenant: Option<String>,
        /// A user key: acts as this user (their id) of `--tenant`, with the user's role.
        #[arg(long, value_name = "USER_ID", requires = "tenant")]
        user: Option<String>,
        /// The key may only read (tenant keys only).
        #[arg(long, requires = "tenant")]
        read_only: bool,
        /// A label, e.g. shop-sync.
        #[arg(long)]
        name: Option<String>,
    },
    /// List tokens (ids and scopes; never secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id.
    Revoke {
        /// The token's id (as listed).
        id: String,
    },
}

pub(super) fn run(cmd: TokenCommand, store: &dyn Store) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    match cmd {
        TokenCommand::Create {
            admin: _,
            tenant,
            user,
            read_only,
            name,
        } => {
            let scope = match (tenant, user) {
                (Some(t), Some(u)) => TokenScope::User {
                    tenant: tenant_of(store, &t)?,
                    user: crate::model::UserId::parse("--user", &u)?,
                },
                (Some(t), None) => TokenScope::Tenant(tenant_of(store, &t)?),
                (None, _) => TokenScope::Admin,
            };
            let new = tokens::create(store, scope, read_only, name, None)?;
            let secret = new.secret.unwrap_or_default();
            writeln!(out, "{secret}")?;
            eprintln!(
                "created token {}: store it now, it is not shown again",
                new.record.id
            );
        }
        TokenCommand::List { json } => {
            let mut all = Vec::new();
            let mut page = PageRequest::first(1000);
            loop {
                let p = tokens::list(store, &page)?;
                all.extend(p.items);
                match p.next {
                    Some(c) => page = PageRequest::after(1000, c),
                    None => break,
                }
            }
            if json {
                let rows: Vec<_> = all
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id,
                            "kind": match t.scope { TokenScope::Admin => "admin", TokenScope::Tenant(_) => "tenant", TokenScope::User { .. } => "user" },
                            "tenant": t.scope.tenant().map(|s| s.as_str()),
                            "user": match &t.scope { TokenScope::User { user, .. } => Some(user.to_string()), _ => None },
                            "read_only": t.read_only,
                            "name": t.name,
                            "created_at": t.created_at,
                        })
                    })
                    .collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
            } else if all.is_empty() {
                writeln!(
                    out,
                    "no tokens yet: create one with `kith token create --admin`"
                )?;
            } else {
                for t in &all {
                    let scope = match &t.scope {
                        TokenScope::Admin => "admin".to_owned(),
                        TokenScope::Tenant(s) => format!("tenant {s}"),
                        TokenScope::User { tenant, user } => format!("user {user} of {tenant}"),
                    };
                    let mode = if t.read_only {
                        "read-only"
                    } else {
                        "read-write"
                    };
                    let name = t.name.as_deref().unwrap_or("");
                    writeln!(out, "{}  {scope}  {mode}  {name}", t.id)?;
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let t = tokens::revoke(store, &id)?;
            writeln!(out, "revoked token {}", t.id)?;
        }
    }
    Ok(Exit::Ok)
}
