//! What one request may see and change in its tenant, from the role of the user its key acts as.
//!
//! Tenant keys, admin tokens and users with role `admin` see everything ([`Access::Full`]).
//! A manager or member gets [`Access::Limited`]: the set of owners whose records they may read
//! and the (smaller or equal) set whose records they may change, computed once per request
//! from their teams:
//! - manager: their own records, their teams' members' records, and unowned records;
//! - member: their own records (read and write) and, read-only, the records of teammates in
//!   teams that share (`shared: true`).
//!
//! A record the caller may not read is answered as missing (404), so a key cannot probe which
//! ids exist. Lists and reports are computed over the readable records only.

use std::collections::HashSet;
use std::sync::Arc;

use crate::model::{Customer, Deal, Role, TenantSlug, User, UserId};
use crate::store::{Error, Page, PageRequest, Result, Store, TokenScope};

/// Most records a limited list reads to fill one page; past it the page comes back short with
/// a cursor to continue, so a member whose records are rare cannot make one request scan a
/// whole tenant.
pub const MAX_SCANNED_PER_PAGE: usize = 5_000;

/// What the request may see.
#[derive(Debug, Clone)]
pub enum Access {
    /// Everything in the tenant.
    Full,
    /// What a manager's or member's role allows.
    Limited(Arc<Visibility>),
}

/// The owners whose records a limited user may read and change.
#[derive(Debug)]
pub struct Visibility {
    /// The user.
    pub user: User,
    read: HashSet<String>,
    write: HashSet<String>,
    unowned: bool,
}

impl Visibility {
    /// Whether records owned by `owner` (none: unowned) may be read.
    pub fn reads(&self, owner: Option<&str>) -> bool {
        match owner {
            Some(o) => self.read.contains(o),
            None => self.unowned,
        }
    }

    /// Whether records owned by `owner` may be changed.
    pub fn writes(&self, owner: Option<&str>) -> bool {
        match owner {
            Some(o) => self.write.contains(o),
            None => self.unowned,
        }
    }

    /// The one owner whose records are all this user may read, when that is so (a member
    /// without shared teams): lists then read that owner's index alone.
    pub fn only_owner(&self) -> Option<&str> {
        match (self.unowned, self.read.len()) {
            (false, 1) => self.read.iter().next().map(String::as_str),
            _ => None,
        }
    }
}

/// Why a user key cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The user was deleted or never existed in this tenant.
    NoSuchUser,
    /// The user is deactivated.
    Deactivated,
}

impl Access {
    /// What a principal with `scope` may see in `tenant` (already checked to be its tenant).
    pub fn resolve(
        store: &dyn Store,
        tenant: &TenantSlug,
        scope: &TokenScope,
    ) -> Result<std::result::Result<Access, Refused>> {
        let TokenScope::User { user, .. } = scope else {
            return Ok(Ok(Access::Full));
        };
        let Some(user) = store.user(tenant, *user)? else {
            return Ok(Err(Refused::NoSuchUser));
        };
        if !user.active {
            return Ok(Err(Refused::Deactivated));
        }
        Ok(Ok(Self::of_user(store, tenant, user)?))
    }

    /// The access of `user` (active) in `tenant`.
    pub fn of_user(store: &dyn Store, tenant: &TenantSlug, user: User) -> Result<Access> {
        let me = user.id.to_string();
        let mut read = HashSet::from([me.clone()]);
        let mut write = HashSet::from([me]);
        let unowned = match user.role {
            Role::Admin => return Ok(Access::Full),
            Role::Manager => {
                for team in &user.teams {
                    for m in store.team_members(tenant, *team)? {
                        read.insert(m.to_string());
                        write.insert(m.to_string());
                    }
                }
                true
            }
            Role::Member => {
                for team in &user.teams {
                    if store.team(tenant, *team)?.is_some_and(|t| t.shared) {
                        read.extend(
                            store
                                .team_members(tenant, *team)?
                                .iter()
                                .map(UserId::to_string),
                        );
                    }
                }
                false
            }
        };
        Ok(Access::Limited(Arc::new(Visibility {
            user,
            read,
            write,
            unowned,
        })))
    }

    /// The one owner whose records are all this access may read (see
    /// [`Visibility::only_owner`]); none for full access.
    pub fn only_owner(&self) -> Option<String> {
        match self {
            Self::Full => None,
            Self::Limited(v) => v.only_owner().map(str::to_owned),
        }
    }

    /// Whether this is full access.
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full)
    }

    /// The user a limited access belongs to.
    pub fn user(&self) -> Option<&User> {
        match self {
            Self::Full => None,
            Self::Limited(v) => Some(&v.user),
        }
    }

    /// Whether records owned by `owner` may be read.
    pub fn reads(&self, owner: Option<&str>) -> bool {
        match self {
            Self::Full => true,
            Self::Limited(v) => v.reads(owner),
        }
    }

    /// Whether records owned by `owner` may be changed.
    pub fn writes(&self, owner: Option<&str>) -> bool {
        match self {
            Self::Full => true,
            Self::Limited(v) => v.writes(owner),
        }
    }

    /// The customer, or `NotFound` when the caller may not read it.
    pub fn readable_customer(&self, c: Customer) -> Result<Customer> {
        if self.reads(c.owner.as_deref()) {
            Ok(c)
        } else {
            Err(Error::not_found("customer", c.id))
        }
    }

    /// `NotFound` when the caller may not read the customer, `Forbidden` when they may read but
    /// not change it.
    pub fn check_customer_write(&self, c: &Customer) -> Result<()> {
        if !self.reads(c.owner.as_deref()) {
            return Err(Error::not_found("customer", c.id));
        }
        if !self.writes(c.owner.as_deref()) {
            return Err(Error::Forbidden(format!(
                "customer {} is shared with your team read-only: its owner or a manager can change it",
                c.id
            )));
        }
        Ok(())
    }

    /// The deal, or `NotFound` when the caller may not read it.
    pub fn readable_deal(&self, d: Deal) -> Result<Deal> {
        if self.reads(d.owner.as_deref()) {
            Ok(d)
        } else {
            Err(Error::not_found("deal", d.id))
        }
    }

    /// As [`Access::check_customer_write`], for a deal.
    pub fn check_deal_write(&self, d: &Deal) -> Result<()> {
        if !self.reads(d.owner.as_deref()) {
            return Err(Error::not_found("deal", d.id));
        }
        if !self.writes(d.owner.as_deref()) {
            return Err(Error::Forbidden(format!(
                "deal {} is shared with your team read-only: its owner or a manager can change it",
                d.id
            )));
        }
        Ok(())
    }

    /// The owner a new record gets: the one asked for, if the caller may give records to them;
    /// none asked: the caller themselves (a limited user's new records are theirs).
    pub fn owner_for_new(&self, asked: Option<String>) -> Result<Option<String>> {
        match (self, asked) {
            (Self::Full, asked) => Ok(asked),
            (Self::Limited(v), None) => Ok(Some(v.user.id.to_string())),
            (Self::Limited(v), Some(o)) if v.write.contains(o.trim()) => Ok(Some(o)),
            (Self::Limited(v), Some(_)) => Err(Error::Forbidden(match v.user.role {
                Role::Manager => "a manager gives records only to themselves or members of their teams".into(),
                _ => "a member's new records are their own: leave `owner` out or set it to your user id".into(),
            })),
        }
    }

    /// Checks a change of owner from `old` to `new` (unchanged: nothing to check).
    pub fn check_owner_change(&self, old: Option<&str>, new: Option<&str>) -> Result<()> {
        if old == new || self.is_full() {
            return Ok(());
        }
        match new {
            Some(o) if self.writes(Some(o)) => Ok(()),
            _ => Err(Error::Forbidden(
                "you may give records only to yourself or, as a manager, to members of your teams"
                    .into(),
            )),
        }
    }
}

/// A page of the records `read` returns that `keep` accepts, reading further pages until
/// `page.limit` are found, the list ends, or [`MAX_SCANNED_PER_PAGE`] were read; the cursor
/// continues where the reading stopped.
pub fn filtered_page<T, E>(
    page: &PageRequest,
    mut read: impl FnMut(&PageRequest) -> std::result::Result<Page<T>, E>,
    mut keep: impl FnMut(&T) -> std::result::Result<bool, E>,
) -> std::result::Result<Page<T>, E> {
    let limit = page.limit.clamp(1, 1000);
    let mut items = Vec::new();
    let mut after = page.after.clone();
    let mut scanned = 0usize;
    loop {
        let want = limit - items.len();
        let got = read(&PageRequest {
            limit: want,
            after: after.clone(),
        })?;
        scanned += got.items.len();
        for item in got.items {
            if keep(&item)? {
                items.push(item);
            }
        }
        after = got.next;
        if after.is_none() || items.len() >= limit || scanned >= MAX_SCANNED_PER_PAGE {
            return Ok(Page { items, next: after });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Cursor;

    /// A member whose records are rare: a page reads at most the budget, then hands back a
    /// cursor rather than scanning on.
    #[test]
    fn a_limited_page_reads_at_most_its_budget_and_returns_a_cursor() {
        let mut read = 0usize;
        let page = filtered_page(
            &PageRequest::first(50),
            |p| {
                read += p.limit;
                Ok(Page {
                    items: vec![0u8; p.limit],
                    next: Some(Cursor::from_string(format!("after-{read}"))),
                })
            },
            |_| Ok::<_, Error>(false),
        )
        .unwrap();
        assert!(page.items.is_empty());
        assert!(page.next.is_some(), "the caller can go on");
        assert!(
            (MAX_SCANNED_PER_PAGE..MAX_SCANNED_PER_PAGE + 50).contains(&read),
            "{read}"
        );
    }
}
