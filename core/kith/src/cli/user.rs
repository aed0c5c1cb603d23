//! `kith user create|list|update|reassign` and `kith team create|list`: a tenant's people,
//! offline (while `kith serve` runs, use `/v1/tenants/{tenant}/users` and `/teams`).

use std::io::Write;

use clap::Subcommand;

use super::{Exit, actor, tenant_of};
use crate::model::{Role, TeamId, TeamInput, UserId, UserInput, UserPatch};
use crate::service::users;
use crate::store::{PageRequest, Store};

#[derive(Debug, Subcommand)]
pub(super) enum UserCommand {
    /// Add a user to a tenant.
    Create {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// Display name.
        name: String,
        /// Email address (unique in the tenant).
        #[arg(long)]
        email: Option<String>,
        /// admin, manager or member.
        #[arg(long, value_parser = role, default_value = "member")]
        role: Role,
        /// A team id the user belongs to (repeat for several).
        #[arg(long = "team", value_name = "TEAM_ID")]
        teams: Vec<String>,
    },
    /// List a tenant's users.
    List {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Change a user's role, teams or name, or deactivate / reactivate them.
    Update {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// The user's id.
        id: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New role: admin, manager or member.
        #[arg(long, value_parser = role)]
        role: Option<Role>,
        /// Replace the user's teams with these (repeat; `--team ''` for none).
        #[arg(long = "team", value_name = "TEAM_ID")]
        teams: Option<Vec<String>>,
        /// Deactivate: their keys stop working; what they own stays theirs.
        #[arg(long, conflicts_with = "activate")]
        deactivate: bool,
        /// Reactivate.
        #[arg(long)]
        activate: bool,
    },
    /// Give another user all of a user's customers, open deals and open work items.
    Reassign {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// The current owner's id.
        from: String,
        /// The new owner's id (an active user).
        to: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum TeamCommand {
    /// Create a team.
    Create {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// Its name (unique in the tenant).
        name: String,
        /// Members do not see their teammates' records.
        #[arg(long)]
        private: bool,
    },
    /// List a tenant's teams.
    List {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
    },
}

fn role(s: &str) -> Result<Role, String> {
    match s {
        "admin" => Ok(Role::Admin),
        "manager" => Ok(Role::Manager),
        "member" => Ok(Role::Member),
        _ => Err("admin, manager or member".into()),
    }
}

fn team_ids(raw: &[String]) -> anyhow::Result<Vec<TeamId>> {
    raw.iter()
        .filter(|t| !t.is_empty())
        .map(|t| Ok(TeamId::parse("--team", t)?))
        .collect()
}

pub(super) fn run_user(cmd: UserCommand, store: &dyn Store) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    match cmd {
        UserCommand::Create {
            tenant,
            name,
            email,
            role,
            teams,
        } => {
            let t = tenant_of(store, &tenant)?;
            let input = UserInput {
                name,
                email,
                role: Some(role),
                teams: team_ids(&teams)?,
            };
            let u = users::create(store, &t, &actor(), input, None)?.value;
            writeln!(
                out,
                "created user {} ({}, {})",
                u.id,
                u.name,
                u.role.as_str()
            )?;
        }
        UserCommand::List { tenant, json } => {
            let t = tenant_of(store, &tenant)?;
            let mut all = Vec::new();
            let mut page = PageRequest::first(1000);
            loop {
                let p = users::list(store, &t, &page)?;
                all.extend(p.items);
                match p.next {
                    Some(c) => page = PageRequest::after(1000, c),
                    None => break,
                }
            }
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
            } else if all.is_empty() {
                writeln!(
                    out,
                    "no users yet: add one with `kith user create --tenant {t} NAME`"
                )?;
            } else {
                for u in &all {
                    let email = u.email.as_ref().map_or("-", |e| e.as_str());
                    let state = if u.active { "active" } else { "deactivated" };
                    writeln!(
                        out,
                        "{}  {:<8}  {:<11}  {}  {}",
                        u.id,
                        u.role.as_str(),
                        state,
                        u.name,
                        email
                    )?;
                }
            }
        }
        UserCommand::Update {
            tenant,
            id,
            name,
            role,
            teams,
            deactivate,
            activate,
        } => {
            let t = tenant_of(store, &tenant)?;
            let id = UserId::parse("id", &id)?;
            let patch = UserPatch {
                name,
                email: None,
                role,
                teams: teams.as_deref().map(team_ids).transpose()?,
                active: (deactivate || activate).then_some(activate),
                ..Default::default()
            };
            let u = users::update(store, &t, &actor(), id, None, patch)?;
            let state = if u.active { "active" } else { "deactivated" };
            writeln!(
                out,
                "user {} ({}): {}, {state}",
                u.id,
                u.name,
                u.role.as_str()
            )?;
        }
        UserCommand::Reassign { tenant, from, to } => {
            let t = tenant_of(store, &tenant)?;
            let (from, to) = (UserId::parse("from", &from)?, UserId::parse("to", &to)?);
            let (mut customers, mut deals, mut work) = (0, 0, 0);
            loop {
                let r = users::reassign(store, &t, &actor(), from, to)?;
                customers += r.customers;
                deals += r.deals;
                work += r.work;
                if !r.more {
                    break;
                }
            }
            writeln!(
                out,
                "gave {to} {customers} customers, {deals} open deals and {work} open work items of {from}"
            )?;
        }
    }
    Ok(Exit::Ok)
}

pub(super) fn run_team(cmd: TeamCommand, store: &dyn Store) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    match cmd {
        TeamCommand::Create {
            tenant,
            name,
            private,
        } => {
            let t = tenant_of(store, &tenant)?;
            let input = TeamInput {
                name,
                shared: Some(!private),
            };
            let team = users::create_team(store, &t, &actor(), input, None)?.value;
            writeln!(out, "created team {} ({})", team.id, team.name)?;
        }
        TeamCommand::List { tenant } => {
            let t = tenant_of(store, &tenant)?;
            let teams = users::list_teams(store, &t, &PageRequest::first(1000))?;
            for team in teams.items {
                let sharing = if team.shared { "shared" } else { "private" };
                writeln!(out, "{}  {sharing:<7}  {}", team.id, team.name)?;
            }
        }
    }
    Ok(Exit::Ok)
}
