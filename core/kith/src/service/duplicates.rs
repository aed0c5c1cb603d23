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
//! [`PAIRS_SCAN_BUDGET`] index entries per page of the tenant-wide list.

use serde::Serialize;

use super::access::Access;
use super::customers::fold;
use super::scope;
use crate::model::{Customer, CustomerId, Email, EmailLikeness, TenantSlug};
use crate::store::{Cursor, CustomerFilter, Error, PageRequest, Result, Store};

/// Jaro-Winkler similarity from which two members' names count as alike.
pub const NAME_SIMILARITY: f64 = 0.92;
/// The most customers sharing one email likeness read for one customer.
pub const MAX_EMAIL_MATCHES: usize = 50;
/// The most members of an organization compared with one customer.
pub const MAX_ORGANIZATION_MEMBERS: usize = 1000;
/// The most email index entries one page of the tenant-wide list reads.
pub const PAIRS_SCAN_BUDGET: usize = 10_000;

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
        let mine = fold(&me.name);
        let members = store.customers(
            tenant,
            &CustomerFilter::Organization(org),
            &PageRequest::first(MAX_ORGANIZATION_MEMBERS),
        )?;
        for other in members.items {
            if other.id == me.id || !access.reads(other.owner.as_deref()) {
                continue;
            }
            let similarity = strsim::jaro_winkler(&mine, &fold(&other.name));
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

/// One page of the tenant's probable duplicate pairs by email likeness. Each group of
/// customers sharing a likeness gives one pair per newer member, with the oldest as survivor.
/// Needs a key for the whole tenant: a limited user's page would be a partial view of the
/// index whose cost the tenant pays anyway.
pub fn pairs(store: &dyn Store, tenant: &TenantSlug, after: Option<&Cursor>) -> Result<PairPage> {
    let after = match after {
        Some(c) => Some(
            String::from_utf8(c.decode(scope::DUPLICATES, b"")?).map_err(|_| Error::BadCursor)?,
        ),
        None => None,
    };
    let (groups, next) =
        store.email_likeness_groups(tenant, after.as_deref(), PAIRS_SCAN_BUDGET)?;
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
    Ok(PairPage {
        pairs,
        next_cursor: next.map(|l| Cursor::encode(scope::DUPLICATES, b"", l.as_bytes())),
    })
}
