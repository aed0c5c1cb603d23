//! Duplicate suggestions: customers that are probably one person or company, each pair with the
//! reasons, so that someone can merge them (`POST .../customers/{id}/merge`).
//!
//! Identity already refuses two customers with one email in any letter case, one phone number
//! in any format (numbers are stored in E.164) or one external id. What is left to suggest:
//! - emails with one [`Email::likeness`]: the same identity stored before identity ignored case,
//!   the same address with dots or a `+tag` in its local part, or with look-alike characters
//!   from another script (`аda@` with a Cyrillic `а`);
//! - at one organization, members whose names are alike (Jaro-Winkler similarity of the folded
//!   names at least [`NAME_SIMILARITY`]).
//!
//! Every read is bounded: at most [`MAX_EMAIL_MATCHES`] customers per likeness and
//! [`MAX_ORGANIZATION_MEMBERS`] members per organization for one customer, and at most
//! [`PAIRS_SCAN_BUDGET`] email index entries or [`ORGANIZATION_SCAN_BUDGET`] memberships per
//! page of the tenant-wide list (an organization's first [`MAX_ORGANIZATION_GROUP`] members
//! compared pairwise).

use serde::Serialize;

use super::access::Access;
use super::customers::fold;
use super::scope;
use crate::model::{Customer, CustomerId, Email, EmailLikeness, TenantSlug};
use crate::store::{Cursor, CustomerFilter, Error, PageRequest, Result, Store};

/// Jaro-Winkler similarity from which two members' names count as alike.
pub const NAME_SIMILARITY: f64 = 0.92;
/// Characters of a folded name compared: Jaro-Winkler costs up to the product of the lengths,
/// and names may be 300 characters (an organization's 200 members are compared pairwise).
pub const COMPARED_NAME_CHARS: usize = 64;
/// The most customers sharing one email likeness read for one customer.
pub const MAX_EMAIL_MATCHES: usize = 50;
/// The most members of an organization compared with one customer.
pub const MAX_ORGANIZATION_MEMBERS: usize = 1000;
/// The most email index entries one page of the tenant-wide list reads.
pub const PAIRS_SCAN_BUDGET: usize = 10_000;
/// The most organization memberships one page of the tenant-wide list reads (each member is
/// then read, and the members of one organization compared pairwise).
pub const ORGANIZATION_SCAN_BUDGET: usize = 2_000;
/// The members of one organization compared pairwise in the tenant-wide list (at most
/// 19,900 comparisons).
pub const MAX_ORGANIZATION_GROUP: usize = 200;

/// Why two customers are probably one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The emails differ only by letter case (stored before identity ignored case).
    EmailCase,
    /// The emails differ by dots or a `+tag` before the `@`.
    EmailDotsOrTag,
    /// The emails differ by characters that look alike, often from another script.
    EmailLookAlike,
    /// Members of one organization with alike names.
    NameAtOrganization,
}

/// One reason, with what was compared.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Reason {
    /// What matched.
    pub code: ReasonCode,
    /// The two values, in words.
    pub detail: String,
}

/// A probable duplicate of the customer asked about.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    /// The other customer.
    pub customer: Customer,
    /// Why, strongest first.
    pub reasons: Vec<Reason>,
}

/// Two customers that are probably one: merge `duplicate` into `survivor` (the older).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pair {
    /// The older customer, which a merge would keep.
    #[schema(value_type = String)]
    pub survivor: CustomerId,
    /// The newer one.
    #[schema(value_type = String)]
    pub duplicate: CustomerId,
    /// Why.
    pub reasons: Vec<Reason>,
}

/// A page of the tenant-wide list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PairPage {
    /// Pairs found on this page (possibly none while `next_cursor` is set: keep going).
    pub pairs: Vec<Pair>,
    /// Where the next page starts; absent at the end.
    #[schema(value_type = Option<String>)]
    pub next_cursor: Option<Cursor>,
}

fn email_reason(a: &Email, b: &Email) -> Reason {
    let (code, how) = match a.likeness_reason(b) {
        EmailLikeness::Case => (ReasonCode::EmailCase, "only by letter case"),
        EmailLikeness::DotsOrTag => (ReasonCode::EmailDotsOrTag, "by dots or a +tag"),
        EmailLikeness::LookAlike => (ReasonCode::EmailLookAlike, "by look-alike characters"),
    };
    Reason {
        code,
        detail: format!("{a} and {b} differ {how}"),
    }
}

/// Probable duplicates of one customer, strongest reason first.
pub fn of_customer(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    id: CustomerId,
) -> Result<Vec<Candidate>> {
    let me = super::customers::get(store, tenant, access, id)?;
    let mut out: Vec<Candidate> = Vec::new();
    if let Some(email) = &me.email {
        for other in
            store.customers_by_email_likeness(tenant, &email.likeness(), MAX_EMAIL_MATCHES)?
        {
            let Some(theirs) = other.email.clone() else {
                continue;
            };
            if other.id == me.id || !access.reads(other.owner.as_deref()) {
                continue;
            }
            out.push(Candidate {
                reasons: vec![email_reason(email, &theirs)],
                customer: other,
            });
        }
    }
    if let Some(org) = me.organization {
        let mine = comparable(&me.name);
        let members = store.customers(
            tenant,
            &CustomerFilter::Organization(org),
            &PageRequest::first(MAX_ORGANIZATION_MEMBERS),
        )?;
        for other in members.items {
            if other.id == me.id || !access.reads(other.owner.as_deref()) {
                continue;
            }
            let similarity = strsim::jaro_winkler(&mine, &comparable(&other.name));
            if similarity < NAME_SIMILARITY {
                continue;
            }
            let reason = Reason {
                code: ReasonCode::NameAtOrganization,
                detail: format!(
                    "{:?} and {:?} at organization {org} (similarity {similarity:.2})",
                    me.name, other.name
                ),
            };
            match out.iter_mut().find(|c| c.customer.id == other.id) {
                Some(c) => c.reasons.push(reason),
                None => out.push(Candidate {
                    customer: other,
                    reasons: vec![reason],
                }),
            }
        }
    }
    // Most reasons first, then the stronger first reason, then oldest.
    out.sort_by(|a, b| {
        b.reasons
            .len()
            .cmp(&a.reasons.len())
            .then(a.reasons[0].code.cmp(&b.reasons[0].code))
            .then(a.customer.id.cmp(&b.customer.id))
    });
    Ok(out)
}

/// One page of the tenant's probable duplicate pairs: first by email likeness (each group of
/// customers sharing a likeness gives one pair per newer member, with the oldest as survivor),
/// then, once those are done, members of one organization with alike names (each alike pair,
/// the older as survivor; an organization's first [`MAX_ORGANIZATION_GROUP`] members). A pair
/// alike in both ways is listed in both. Needs a key for the whole tenant: a limited user's
/// page would be a partial view of the index whose cost the tenant pays anyway.
pub fn pairs(store: &dyn Store, tenant: &TenantSlug, after: Option<&Cursor>) -> Result<PairPage> {
    let phase = match after {
        None => Phase::Email(None),
        Some(c) => match c.decode(scope::DUPLICATES, b"") {
            Ok(raw) => Phase::Email(Some(String::from_utf8(raw).map_err(|_| Error::BadCursor)?)),
            Err(_) => {
                let raw = c.decode(scope::DUPLICATES, ORGANIZATIONS)?;
                let org = match &raw[ORGANIZATIONS.len()..] {
                    [] => None,
                    raw => Some(CustomerId::from_bytes(
                        raw.try_into().map_err(|_| Error::BadCursor)?,
                    )),
                };
                Phase::Organizations(org)
            }
        },
    };
    match phase {
        Phase::Email(after) => {
            let (pairs, next) = email_pairs(store, tenant, after.as_deref())?;
            Ok(PairPage {
                pairs,
                next_cursor: Some(match next {
                    Some(l) => Cursor::encode(scope::DUPLICATES, b"", l.as_bytes()),
                    // The emails are done: the organizations come next, from the first.
                    None => Cursor::encode(scope::DUPLICATES, ORGANIZATIONS, ORGANIZATIONS),
                }),
            })
        }
        Phase::Organizations(after) => {
            let (pairs, next) = organization_pairs(store, tenant, after)?;
            Ok(PairPage {
                pairs,
                next_cursor: next.map(|o| {
                    let key = [ORGANIZATIONS, &o.to_bytes()].concat();
                    Cursor::encode(scope::DUPLICATES, ORGANIZATIONS, &key)
                }),
            })
        }
    }
}

/// The cursor prefix of the organizations' part of the tenant-wide list.
const ORGANIZATIONS: &[u8] = b"org";

/// Where a page of the tenant-wide list starts.
enum Phase {
    /// In the email likeness index, after this likeness.
    Email(Option<String>),
    /// In the organizations, after this one.
    Organizations(Option<CustomerId>),
}

/// A page of pairs by email likeness, and the likeness to go on after.
fn email_pairs(
    store: &dyn Store,
    tenant: &TenantSlug,
    after: Option<&str>,
) -> Result<(Vec<Pair>, Option<String>)> {
    let (groups, next) = store.email_likeness_groups(tenant, after, PAIRS_SCAN_BUDGET)?;
    let mut pairs = Vec::new();
    for mut ids in groups {
        ids.sort();
        let Some((&oldest, rest)) = ids.split_first() else {
            continue;
        };
        let Some(survivor) = store.customer(tenant, oldest)? else {
            continue;
        };
        for &other in rest {
            let Some(dup) = store.customer(tenant, other)? else {
                continue;
            };
            if let (Some(a), Some(b)) = (&survivor.email, &dup.email) {
                pairs.push(Pair {
                    survivor: oldest,
                    duplicate: other,
                    reasons: vec![email_reason(a, b)],
                });
            }
        }
    }
    Ok((pairs, next))
}

/// A page of pairs of alike names at one organization: organizations after `after`, reading
/// at most [`ORGANIZATION_SCAN_BUDGET`] memberships. Returns the pairs and the organization to
/// go on after (`None`: the list is done).
fn organization_pairs(
    store: &dyn Store,
    tenant: &TenantSlug,
    after: Option<CustomerId>,
) -> Result<(Vec<Pair>, Option<CustomerId>)> {
    let rows = store.organization_members(tenant, after, ORGANIZATION_SCAN_BUDGET)?;
    let cut = rows.len() >= ORGANIZATION_SCAN_BUDGET;
    let mut groups: Vec<(CustomerId, Vec<CustomerId>)> = Vec::new();
    for (org, member) in rows {
        match groups.last_mut() {
            Some((o, members)) if *o == org => members.push(member),
            _ => groups.push((org, vec![member])),
        }
    }
    if cut && groups.len() > 1 {
        // The budget may have cut the last organization: the next page reads it whole.
        groups.pop();
    }
    let next = if cut {
        groups.last().map(|(o, _)| *o)
    } else {
        None
    };
    let mut pairs = Vec::new();
    for (org, mut members) in groups {
        members.truncate(MAX_ORGANIZATION_GROUP);
        if members.len() < 2 {
            continue;
        }
        let mut named = Vec::with_capacity(members.len());
        for id in members {
            if let Some(c) = store.customer(tenant, id)? {
                named.push((c.id, comparable(&c.name), c.name));
            }
        }
        named.sort_by_key(|(id, _, _)| *id);
        for (i, (a, folded_a, name_a)) in named.iter().enumerate() {
            for (b, folded_b, name_b) in &named[i + 1..] {
                let similarity = strsim::jaro_winkler(folded_a, folded_b);
                if similarity >= NAME_SIMILARITY {
                    pairs.push(Pair {
                        survivor: *a,
                        duplicate: *b,
                        reasons: vec![Reason {
                            code: ReasonCode::NameAtOrganization,
                            detail: format!(
                                "{name_a:?} and {name_b:?} at organization {org} (similarity {similarity:.2})"
                            ),
                        }],
                    });
                }
            }
        }
    }
    Ok((pairs, next))
}

/// A name as two are compared: [`fold`]ed, its first [`COMPARED_NAME_CHARS`] characters.
fn comparable(name: &str) -> String {
    fold(name).chars().take(COMPARED_NAME_CHARS).collect()
}
