//! Users, teams, who may own a record, bulk reassignment, and adopting the free-text owners
//! stored before users existed.

use std::collections::HashMap;

use super::{Ctx, Txn, conflict, event, load_pipeline};
use crate::{Error, Op, Output, Result};
use kith_model::{
    CustomerId, DealId, EntityRef, EventKind, InteractionPatch, Quota, QuotaSubject, Role,
    StageCategory, Team, TeamId, TeamPatch, User, UserId, UserInput, UserPatch, ValidationError,
};

/// A user, or `NotFound`.
pub(crate) fn load_user(txn: &mut dyn Txn, id: UserId) -> Result<User> {
    txn.user(id)?.ok_or_else(|| Error::not_found("user", id))
}

fn load_team(txn: &mut dyn Txn, id: TeamId) -> Result<Team> {
    txn.team(id)?.ok_or_else(|| Error::not_found("team", id))
}

/// A record may be given to `new` only if it names an active user of the tenant. An owner
/// that does not change is not checked again, so records of a deactivated user stay editable.
pub(crate) fn check_owner(txn: &mut dyn Txn, old: Option<&str>, new: Option<&str>) -> Result<()> {
    check_user(txn, "owner", old, new)
}

/// A user named in `field` (an owner or assignee) that changes from `old` to `new` must be an
/// active user of the tenant; an unchanged one is not checked again.
pub(crate) fn check_user(
    txn: &mut dyn Txn,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> Result<()> {
    let Some(new) = new.filter(|n| Some(*n) != old) else {
        return Ok(());
    };
    let expected = "the id of an active user of this tenant (GET /v1/tenants/{tenant}/users)";
    let id = UserId::parse(field, new).map_err(|_| ValidationError::field(field, expected))?;
    match txn.user(id)? {
        Some(u) if u.active => Ok(()),
        Some(_) => Err(ValidationError::field(
            field,
            format!(
                "an active user: this user is deactivated (reactivate them or pick another {field})"
            ),
        )
        .into()),
        None => Err(ValidationError::field(field, expected).into()),
    }
}

fn check_teams(txn: &mut dyn Txn, teams: &[TeamId]) -> Result<()> {
    for t in teams {
        if txn.team(*t)?.is_none() {
            return Err(
                ValidationError::field("teams", format!("existing teams: {t} is not one")).into(),
            );
        }
    }
    Ok(())
}

pub(super) fn apply(txn: &mut dyn Txn, ctx: &Ctx<'_>, op: Op) -> Result<Output> {
    match op {
        Op::CreateUser(input) => create_user(txn, ctx, input),
        Op::UpdateUser {
            id,
            expected_version,
            patch,
        } => update_user(txn, ctx, id, expected_version, patch),
        Op::CreateTeam(input) => {
            let team = Team::new(TeamId::generate(), input, ctx.now)?;
            txn.put_team(None, &team)?;
            event(
                txn,
                ctx,
                EventKind::TeamCreated,
                EntityRef::Team(team.id),
                Vec::new(),
            )?;
            Ok(Output::Team(team))
        }
        Op::UpdateTeam {
            id,
            expected_version,
            patch,
        } => update_team(txn, ctx, id, expected_version, patch),
        Op::DeleteTeam(id) => {
            let team = load_team(txn, id)?;
            let members = txn.team_members(id)?.len() as u64;
            if members > 0 {
                return Err(Error::TeamNotEmpty {
                    id: id.to_string(),
                    members,
                });
            }
            txn.delete_team(&team)?;
            event(
                txn,
                ctx,
                EventKind::TeamDeleted,
                EntityRef::Team(id),
                Vec::new(),
            )?;
            Ok(Output::TeamDeleted(id))
        }
        Op::Reassign { from, to, limit } => reassign(txn, ctx, from, to, limit),
        Op::AdoptOwners => adopt_owners(txn, ctx),
        Op::SetQuota(q) => {
            match q.subject {
                QuotaSubject::User(u) => drop(load_user(txn, u)?),
                QuotaSubject::Team(t) => drop(load_team(txn, t)?),
            }
            let q = Quota {
                updated_at: ctx.now,
                ..q
            };
            if txn.quota(&q)?.is_some_and(|old| old.target == q.target) {
                return Ok(Output::Quota(Some(q)));
            }
            txn.put_quota(&q)?;
            quota_event(txn, ctx, EventKind::QuotaSet, &q)?;
            Ok(Output::Quota(Some(q)))
        }
        Op::RemoveQuota(key) => {
            let Some(q) = txn.quota(&key)? else {
                return Ok(Output::Quota(None));
            };
            txn.delete_quota(&q)?;
            quota_event(txn, ctx, EventKind::QuotaRemoved, &q)?;
            Ok(Output::Quota(None))
        }
        _ => Err(Error::Storage("a non-user op reached the user ops".into())),
    }
}

fn quota_event(txn: &mut dyn Txn, ctx: &Ctx<'_>, kind: EventKind, q: &Quota) -> Result<()> {
    let entity = match q.subject {
        QuotaSubject::User(u) => EntityRef::User(u),
        QuotaSubject::Team(t) => EntityRef::Team(t),
    };
    let what = vec![
        format!("{:?}", q.period).to_lowercase(),
        q.start.to_string(),
        q.target.currency.code().to_owned(),
    ];
    event(txn, ctx, kind, entity, what)
}

fn create_user(txn: &mut dyn Txn, ctx: &Ctx<'_>, input: UserInput) -> Result<Output> {
    let user = User::new(UserId::generate(), input, ctx.now)?;
    check_teams(txn, &user.teams)?;
    txn.put_user(None, &user)?;
    event(
        txn,
        ctx,
        EventKind::UserCreated,
        EntityRef::User(user.id),
        Vec::new(),
    )?;
    Ok(Output::User(user))
}

fn update_user(
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    id: UserId,
    expected_version: Option<u64>,
    patch: UserPatch,
) -> Result<Output> {
    let old = load_user(txn, id)?;
    if let Some(v) = expected_version.filter(|v| *v != old.version) {
        return Err(conflict("user", id, v, old.version));
    }
    let mut new = old.clone();
    let changed = new.apply(patch, ctx.now)?;
    if changed.is_empty() {
        return Ok(Output::User(old));
    }
    if new.teams != old.teams {
        check_teams(txn, &new.teams)?;
    }
    txn.put_user(Some(&old), &new)?;
    let changed = changed.into_iter().map(str::to_owned).collect();
    event(
        txn,
        ctx,
        EventKind::UserUpdated,
        EntityRef::User(id),
        changed,
    )?;
    Ok(Output::User(new))
}

fn update_team(
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    id: TeamId,
    expected_version: Option<u64>,
    patch: TeamPatch,
) -> Result<Output> {
    let old = load_team(txn, id)?;
    if let Some(v) = expected_version.filter(|v| *v != old.version) {
        return Err(conflict("team", id, v, old.version));
    }
    let mut new = old.clone();
    let changed = new.apply(patch, ctx.now)?;
    if changed.is_empty() {
        return Ok(Output::Team(old));
    }
    txn.put_team(Some(&old), &new)?;
    let changed = changed.into_iter().map(str::to_owned).collect();
    event(
        txn,
        ctx,
        EventKind::TeamUpdated,
        EntityRef::Team(id),
        changed,
    )?;
    Ok(Output::Team(new))
}

/// Gives `to` the customers and open deals `from` owns, at most `limit` records per call (one
/// event each), so a user with a large book is moved in bounded transactions. Won and lost
/// deals keep their owner: reports credit the person who closed them.
fn reassign(
    txn: &mut dyn Txn,
    ctx: &Ctx<'_>,
    from: UserId,
    to: UserId,
    limit: usize,
) -> Result<Output> {
    load_user(txn, from)?;
    let target = load_user(txn, to)?;
    if !target.active {
        return Err(ValidationError::field(
            "to",
            "an active user: this user is deactivated and can be given nothing new",
        )
        .into());
    }
    if from == to {
        return Err(ValidationError::field("to", "another user than `from`").into());
    }
    let (from_s, to_s) = (from.to_string(), to.to_string());
    let mut customers = 0u64;
    let mut deals = 0u64;
    let mut left = limit.max(1);
    let owned = txn.customers_owned_by(&from_s)?;
    let mut more = owned.len() > left;
    for id in owned.into_iter().take(left) {
        let old = txn
            .customer(id)?
            .ok_or_else(|| Error::not_found("customer", id))?;
        let mut new = old.clone();
        new.owner = Some(to_s.clone());
        new.version += 1;
        new.updated_at = ctx.now;
        txn.put_customer(Some(&old), &new)?;
        event(
            txn,
            ctx,
            EventKind::CustomerUpdated,
            EntityRef::Customer(id),
            vec!["owner".into()],
        )?;
        customers += 1;
        left -= 1;
    }
    let mut pipelines = HashMap::new();
    for id in txn.deals_owned_by(&from_s)? {
        let old = txn.deal(id)?.ok_or_else(|| Error::not_found("deal", id))?;
        let category = match pipelines.get(&old.pipeline) {
            Some(p) => old.status(p),
            None => {
                let p = load_pipeline(txn, old.pipeline)?;
                let c = old.status(&p);
                pipelines.insert(old.pipeline, p);
                c
            }
        };
        if category != StageCategory::Open {
            continue;
        }
        if left == 0 {
            more = true;
            break;
        }
        let mut new = old.clone();
        new.owner = Some(to_s.clone());
        new.version += 1;
        new.updated_at = ctx.now;
        txn.put_deal(Some(&old), &new)?;
        let entity = EntityRef::Deal {
            id,
            customer: new.customer,
        };
        event(
            txn,
            ctx,
            EventKind::DealUpdated,
            entity,
            vec!["owner".into()],
        )?;
        deals += 1;
        left -= 1;
    }
    let mut work = 0u64;
    if left > 0 {
        let assigned = txn.open_work_of(&from_s, left + 1)?;
        more |= assigned.len() > left;
        for id in assigned.into_iter().take(left) {
            let old = txn
                .interaction(id)?
                .ok_or_else(|| Error::not_found("interaction", id))?;
            let mut new = old.clone();
            let changes = new.apply(
                InteractionPatch {
                    assignee: Some(Some(to_s.clone())),
                    ..InteractionPatch::default()
                },
                ctx.now,
            )?;
            txn.put_interaction(Some(&old), &new)?;
            let entity = EntityRef::Interaction {
                id,
                customer: new.customer,
            };
            super::event_with_values(txn, ctx, EventKind::InteractionUpdated, entity, changes)?;
            work += 1;
        }
    } else {
        more |= !txn.open_work_of(&from_s, 1)?.is_empty();
    }
    Ok(Output::Reassigned {
        customers,
        deals,
        work,
        more,
    })
}

/// Turns every owner that does not name a user into one: a user per distinct free-text value
/// (named after it, role `member`, no email), and rewrites the records that held the text to
/// hold the new user's id. Only the users' creation is logged: the records keep their version,
/// since they are owned by the same person as before. Idempotent.
fn adopt_owners(txn: &mut dyn Txn, ctx: &Ctx<'_>) -> Result<Output> {
    let mut adopted = Vec::new();
    for owner in txn.owners()? {
        if let Ok(id) = UserId::parse("owner", &owner)
            && txn.user(id)?.is_some()
        {
            continue;
        }
        let name: String = owner
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let input = UserInput {
            name: if name.trim().is_empty() {
                "(unnamed owner)".into()
            } else {
                name
            },
            email: None,
            role: Some(Role::Member),
            teams: Vec::new(),
        };
        let user = User::new(UserId::generate(), input, ctx.now)?;
        txn.put_user(None, &user)?;
        event(
            txn,
            ctx,
            EventKind::UserCreated,
            EntityRef::User(user.id),
            Vec::new(),
        )?;
        let id = user.id.to_string();
        for c in txn.customers_owned_by(&owner)? {
            rewrite_customer(txn, c, &id)?;
        }
        for d in txn.deals_owned_by(&owner)? {
            rewrite_deal(txn, d, &id)?;
        }
        adopted.push(user);
    }
    Ok(Output::Adopted(adopted))
}

fn rewrite_customer(txn: &mut dyn Txn, id: CustomerId, owner: &str) -> Result<()> {
    let old = txn
        .customer(id)?
        .ok_or_else(|| Error::not_found("customer", id))?;
    let mut new = old.clone();
    new.owner = Some(owner.to_owned());
    txn.put_customer(Some(&old), &new)
}

fn rewrite_deal(txn: &mut dyn Txn, id: DealId, owner: &str) -> Result<()> {
    let old = txn.deal(id)?.ok_or_else(|| Error::not_found("deal", id))?;
    let mut new = old.clone();
    new.owner = Some(owner.to_owned());
    txn.put_deal(Some(&old), &new)
}
