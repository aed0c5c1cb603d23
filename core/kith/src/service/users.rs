//! Users and teams: add, read, list, change (including deactivation), delete empty teams, and
//! reassign one user's open records to another.

use crate::model::{
    Actor, Team, TeamId, TeamInput, TeamPatch, TenantSlug, User, UserId, UserInput, UserPatch,
};
use crate::store::{Error, Result};
use crate::store::{IdempotencyKey, Once, Op, Output, Page, PageRequest, Store, unexpected};

use super::customers::write_one;

/// Most records one reassignment call moves; the answer says when more are left.
pub const REASSIGN_BATCH: usize = 1000;

fn user(o: Output) -> Result<User> {
    match o {
        Output::User(u) => Ok(u),
        other => Err(unexpected(&other)),
    }
}

fn team(o: Output) -> Result<Team> {
    match o {
        Output::Team(t) => Ok(t),
        other => Err(unexpected(&other)),
    }
}

/// Adds a user.
pub fn create(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    input: UserInput,
    key: Option<&IdempotencyKey>,
) -> Result<Once<User>> {
    let once = write_one(store, tenant, actor, Op::CreateUser(input), key)?;
    Ok(Once {
        value: user(once.value)?,
        replayed: once.replayed,
    })
}

/// A user by id.
pub fn get(store: &dyn Store, tenant: &TenantSlug, id: UserId) -> Result<User> {
    store
        .user(tenant, id)?
        .ok_or_else(|| Error::not_found("user", id))
}

/// A page of users, oldest first.
pub fn list(store: &dyn Store, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<User>> {
    store.users(tenant, page)
}

/// Changes a user; `active: false` deactivates them (their records stay theirs).
pub fn update(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    id: UserId,
    expected_version: Option<u64>,
    patch: UserPatch,
) -> Result<User> {
    let expected_version = super::expected_version(expected_version, patch.version)?;
    let op = Op::UpdateUser {
        id,
        expected_version,
        patch,
    };
    user(write_one(store, tenant, actor, op, None)?.value)
}

/// What one reassignment call moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Reassigned {
    /// Customers given to the new owner.
    pub customers: u64,
    /// Open deals given to the new owner.
    pub deals: u64,
    /// Open work items (tasks, tickets, complaints) given to the new assignee.
    pub work: u64,
    /// Whether records are left to move: call again.
    pub more: bool,
}

/// Gives `to` up to [`REASSIGN_BATCH`] of the customers and open deals `from` owns and the
/// open work assigned to them.
pub fn reassign(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    from: UserId,
    to: UserId,
) -> Result<Reassigned> {
    let op = Op::Reassign {
        from,
        to,
        limit: REASSIGN_BATCH,
    };
    match write_one(store, tenant, actor, op, None)?.value {
        Output::Reassigned {
            customers,
            deals,
            work,
            more,
        } => Ok(Reassigned {
            customers,
            deals,
            work,
            more,
        }),
        other => Err(unexpected(&other)),
    }
}

/// Creates a team.
pub fn create_team(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    input: TeamInput,
    key: Option<&IdempotencyKey>,
) -> Result<Once<Team>> {
    let once = write_one(store, tenant, actor, Op::CreateTeam(input), key)?;
    Ok(Once {
        value: team(once.value)?,
        replayed: once.replayed,
    })
}

/// A team by id.
pub fn get_team(store: &dyn Store, tenant: &TenantSlug, id: TeamId) -> Result<Team> {
    store
        .team(tenant, id)?
        .ok_or_else(|| Error::not_found("team", id))
}

/// A page of teams, oldest first.
pub fn list_teams(
    store: &dyn Store,
    tenant: &TenantSlug,
    page: &PageRequest,
) -> Result<Page<Team>> {
    store.teams(tenant, page)
}

/// The ids of a team's members, as owner fields hold them (`NotFound` for no such team).
pub fn member_ids(
    store: &dyn Store,
    tenant: &TenantSlug,
    team: TeamId,
) -> Result<std::collections::HashSet<String>> {
    get_team(store, tenant, team)?;
    Ok(store
        .team_members(tenant, team)?
        .iter()
        .map(UserId::to_string)
        .collect())
}

/// The members of a team.
pub fn team_members(store: &dyn Store, tenant: &TenantSlug, id: TeamId) -> Result<Vec<User>> {
    get_team(store, tenant, id)?;
    store
        .team_members(tenant, id)?
        .into_iter()
        .filter_map(|u| store.user(tenant, u).transpose())
        .collect()
}

/// Renames a team or changes whether it shares its members' records.
pub fn update_team(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    id: TeamId,
    expected_version: Option<u64>,
    patch: TeamPatch,
) -> Result<Team> {
    let expected_version = super::expected_version(expected_version, patch.version)?;
    let op = Op::UpdateTeam {
        id,
        expected_version,
        patch,
    };
    team(write_one(store, tenant, actor, op, None)?.value)
}

/// Deletes a team nobody belongs to.
pub fn delete_team(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    id: TeamId,
) -> Result<()> {
    write_one(store, tenant, actor, Op::DeleteTeam(id), None).map(drop)
}
