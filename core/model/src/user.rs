//! The people of a tenant: users with a role, and the teams they belong to.
//!
//! A role decides what a user's API key may see and change:
//! - `admin`: everything in the tenant, as a tenant key does;
//! - `manager`: records owned by anyone in the manager's teams, and records nobody owns yet;
//! - `member`: records they own, and (read-only) records owned by teammates in a team that
//!   shares its records.
//!
//! Ownership fields (`owner` of customers and deals) hold a user's id. A deactivated user keeps
//! what they own (their history stays theirs) until someone reassigns it explicitly; they can no
//! longer be given new records and their keys stop working.

use serde::{Deserialize, Serialize};

use super::error::{Checker, text};
use super::{Email, TeamId, Timestamp, UserId, ValidationError};

/// Most teams one user belongs to: scopes are computed from them on every request.
pub const MAX_TEAMS_PER_USER: usize = 20;

/// What a user may see and do in their tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Everything in the tenant.
    Admin,
    /// Everything owned by the members of their teams, and unowned records.
    Manager,
    /// What they own, plus what teammates share with their team (read-only).
    #[default]
    Member,
}

impl Role {
    /// The role's name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::Member => "member",
        }
    }
}

/// A user of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Id; what `owner` fields hold.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Normalized email, unique per tenant when present (users adopted from free-text owners
    /// have none until one is set).
    pub email: Option<Email>,
    /// What they may see and do.
    pub role: Role,
    /// Teams they belong to, without repeats.
    pub teams: Vec<TeamId>,
    /// False once deactivated: their keys stop working and nothing new can be given to them.
    pub active: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Incremented by every change; the ETag.
    pub version: u64,
}

/// A user as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInput {
    /// Display name.
    pub name: String,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Role (default `member`).
    #[serde(default)]
    pub role: Option<Role>,
    /// Teams.
    #[serde(default)]
    pub teams: Vec<TeamId>,
}

/// A change to a user: absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New email (`null` removes it).
    #[serde(default, deserialize_with = "super::patch::double_option")]
    pub email: Option<Option<String>>,
    /// New role.
    #[serde(default)]
    pub role: Option<Role>,
    /// The user's teams, replacing the current list.
    #[serde(default)]
    pub teams: Option<Vec<TeamId>>,
    /// False deactivates the user, true reactivates them.
    #[serde(default)]
    pub active: Option<bool>,
    /// Read-only, as a GET returns it: must be this user's id.
    #[serde(default)]
    pub id: Option<UserId>,
    /// Read-only: like `If-Match`, the version the change expects.
    #[serde(default)]
    pub version: Option<u64>,
    /// Read-only: ignored.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Read-only: ignored.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

fn teams(c: &mut Checker, teams: &[TeamId]) -> Vec<TeamId> {
    let mut out: Vec<TeamId> = Vec::with_capacity(teams.len());
    for t in teams {
        if !out.contains(t) {
            out.push(*t);
        }
    }
    if out.len() > MAX_TEAMS_PER_USER {
        c.take::<()>(Err(ValidationError::field(
            "teams",
            format!("at most {MAX_TEAMS_PER_USER} teams"),
        )));
    }
    out
}

impl User {
    /// Validates `input` into a new active user.
    pub fn new(id: UserId, input: UserInput, now: Timestamp) -> Result<Self, ValidationError> {
        let mut c = Checker::default();
        let name = c.take(text("name", &input.name, 200, false));
        let email = input
            .email
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| c.take(Email::parse("email", s)));
        let teams = teams(&mut c, &input.teams);
        c.finish()?;
        Ok(Self {
            id,
            name: name.unwrap_or_default(),
            email,
            role: input.role.unwrap_or_default(),
            teams,
            active: true,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }

    /// Applies `patch`; returns the names of the fields that changed (none: nothing to store).
    pub fn apply(
        &mut self,
        patch: UserPatch,
        now: Timestamp,
    ) -> Result<Vec<&'static str>, ValidationError> {
        let mut c = Checker::default();
        if patch.id.is_some_and(|id| id != self.id) {
            c.fail("id", format!("{}, this user's id (read-only)", self.id));
        }
        let name = patch
            .name
            .and_then(|n| c.take(text("name", &n, 200, false)));
        let email = patch.email.map(|e| match e.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => c.take(Email::parse("email", s)),
        });
        let new_teams = patch.teams.map(|t| teams(&mut c, &t));
        c.finish()?;
        let mut changed = Vec::new();
        if let Some(n) = name.filter(|n| *n != self.name) {
            self.name = n;
            changed.push("name");
        }
        if let Some(e) = email.filter(|e| *e != self.email) {
            self.email = e;
            changed.push("email");
        }
        if let Some(r) = patch.role.filter(|r| *r != self.role) {
            self.role = r;
            changed.push("role");
        }
        if let Some(t) = new_teams.filter(|t| *t != self.teams) {
            self.teams = t;
            changed.push("teams");
        }
        if let Some(a) = patch.active.filter(|a| *a != self.active) {
            self.active = a;
            changed.push("active");
        }
        if !changed.is_empty() {
            self.updated_at = now;
            self.version += 1;
        }
        Ok(changed)
    }
}

/// A team of users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Team {
    /// Id.
    pub id: TeamId,
    /// Display name, unique per tenant (case-insensitive).
    pub name: String,
    /// Whether members see (read-only) what their teammates own.
    pub shared: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Incremented by every change; the ETag.
    pub version: u64,
}

/// A team as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamInput {
    /// Display name.
    pub name: String,
    /// Whether members see what their teammates own (default true).
    #[serde(default)]
    pub shared: Option<bool>,
}

/// A change to a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New sharing setting.
    #[serde(default)]
    pub shared: Option<bool>,
    /// Read-only, as a GET returns it: must be this team's id.
    #[serde(default)]
    pub id: Option<TeamId>,
    /// Read-only: like `If-Match`, the version the change expects.
    #[serde(default)]
    pub version: Option<u64>,
    /// Read-only: ignored.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Read-only: ignored.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

impl Team {
    /// Validates `input` into a new team.
    pub fn new(id: TeamId, input: TeamInput, now: Timestamp) -> Result<Self, ValidationError> {
        let name = text("name", &input.name, 100, false)?;
        Ok(Self {
            id,
            name,
            shared: input.shared.unwrap_or(true),
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }

    /// Applies `patch`; returns the names of the fields that changed.
    pub fn apply(
        &mut self,
        patch: TeamPatch,
        now: Timestamp,
    ) -> Result<Vec<&'static str>, ValidationError> {
        if patch.id.is_some_and(|id| id != self.id) {
            return Err(ValidationError::field(
                "id",
                format!("{}, this team's id (read-only)", self.id),
            ));
        }
        let name = patch
            .name
            .map(|n| text("name", &n, 100, false))
            .transpose()?;
        let mut changed = Vec::new();
        if let Some(n) = name.filter(|n| *n != self.name) {
            self.name = n;
            changed.push("name");
        }
        if let Some(s) = patch.shared.filter(|s| *s != self.shared) {
            self.shared = s;
            changed.push("shared");
        }
        if !changed.is_empty() {
            self.updated_at = now;
            self.version += 1;
        }
        Ok(changed)
    }
}
