//! The index entries each entity implies. Writes and `kith check` both use these functions, so
//! what is written and what is verified cannot drift apart.

use kith_model::{Customer, Deal, Interaction, Pipeline, StoredScore, StoredSegments, Team, User};

use super::tables::{K, T};
use crate::records;

/// One index entry: table, key, value.
pub(crate) type Entry = (T, Vec<u8>, Vec<u8>);

pub(crate) fn customer_entries(t: u32, c: &Customer) -> Vec<Entry> {
    let id = c.id.to_bytes();
    let mut out = Vec::with_capacity(8 + c.tags.len());
    if let Some(e) = &c.email {
        out.push((T::IdxEmail, K::t(t).text(e.as_str()).done(), id.to_vec()));
        out.push((
            T::IdxEmailLike,
            email_like_key(t, e).id(id).done(),
            Vec::new(),
        ));
    }
    if let Some(p) = &c.phone {
        out.push((T::IdxPhone, K::t(t).text(p.as_str()).done(), id.to_vec()));
    }
    for x in &c.external_ids {
        out.push((
            T::IdxExternal,
            K::t(t).word(&x.source).text(&x.id).done(),
            id.to_vec(),
        ));
    }
    for tag in &c.tags {
        out.push((
            T::IdxTag,
            K::t(t).word(tag.as_str()).id(id).done(),
            Vec::new(),
        ));
    }
    out.push((
        T::IdxLifecycle,
        K::t(t).byte(c.lifecycle.code()).id(id).done(),
        Vec::new(),
    ));
    if let Some(o) = &c.owner {
        out.push((T::IdxOwner, K::t(t).word(o).id(id).done(), Vec::new()));
    }
    if let Some(org) = c.organization {
        out.push((
            T::IdxOrg,
            K::t(t).id(org.to_bytes()).id(id).done(),
            Vec::new(),
        ));
    }
    out.push((
        T::IdxName,
        K::t(t).word(&c.name.to_lowercase()).id(id).done(),
        Vec::new(),
    ));
    out
}

/// The email likeness index's key for `e` up to the customer id: likeness, then identity, so
/// that the holders of one identity are one short range inside the likeness's.
pub(crate) fn email_like_key(t: u32, e: &kith_model::Email) -> K {
    K::t(t).word(&e.likeness()).word(&e.identity())
}

/// Index entries that must be unique per tenant (their value is the owner's id).
pub(crate) fn is_unique(table: T) -> bool {
    matches!(
        table,
        T::IdxEmail
            | T::IdxPhone
            | T::IdxExternal
            | T::IdxInteractionExt
            | T::IdxPipelineName
            | T::IdxUserEmail
            | T::IdxTeamName
    )
}

pub(crate) fn interaction_entries(t: u32, i: &Interaction) -> Vec<Entry> {
    let id = i.id.to_bytes();
    let mut out = Vec::with_capacity(6);
    out.push((
        T::IdxTimeline,
        K::t(t)
            .id(i.customer.to_bytes())
            .time(i.occurred_at.as_micros())
            .id(id)
            .done(),
        Vec::new(),
    ));
    if let Some((source, ext)) = i.idempotency_key() {
        out.push((
            T::IdxInteractionExt,
            K::t(t).word(source).text(ext).done(),
            id.to_vec(),
        ));
    }
    if let (true, Some(due)) = (i.is_due_work(), i.due_at) {
        out.push((
            T::IdxDue,
            K::t(t).time(due.as_micros()).id(id).done(),
            Vec::new(),
        ));
    }
    if let Some(status) = i.status {
        let position = records::work_position(records::work_due(i), records::work_rank(i), id);
        let slot = i.assignee.as_deref().unwrap_or(UNASSIGNED_SLOT);
        for slot in [slot, EVERYONE_SLOT] {
            out.push((
                T::IdxWork,
                K::t(t)
                    .word(slot)
                    .byte(status.code())
                    .bytes(&position)
                    .done(),
                vec![i.kind.code()],
            ));
        }
    }
    if let Some(deal) = i.deal {
        out.push((
            T::IdxDealTimeline,
            K::t(t)
                .id(deal.to_bytes())
                .time(i.occurred_at.as_micros())
                .id(id)
                .done(),
            Vec::new(),
        ));
    }
    out
}

/// The work-index slot of unassigned work.
pub(crate) const UNASSIGNED_SLOT: &str = "-";
/// The work-index slot holding everyone's work.
pub(crate) const EVERYONE_SLOT: &str = "*";

pub(crate) fn pipeline_entries(t: u32, p: &Pipeline) -> Vec<Entry> {
    vec![(
        T::IdxPipelineName,
        K::t(t).text(&p.name.to_lowercase()).done(),
        p.id.to_bytes().to_vec(),
    )]
}

/// `encoded` is the deal's stored bytes: the stage index covers the whole deal.
pub(crate) fn deal_entries(t: u32, d: &Deal, encoded: &[u8]) -> Vec<Entry> {
    let id = d.id.to_bytes();
    let mut out = vec![
        (
            T::IdxDealStage,
            K::t(t)
                .id(d.pipeline.to_bytes())
                .id(d.stage.to_bytes())
                .id(id)
                .done(),
            encoded.to_vec(),
        ),
        (
            T::IdxCustomerDeals,
            K::t(t).id(d.customer.to_bytes()).id(id).done(),
            Vec::new(),
        ),
    ];
    if let Some(o) = &d.owner {
        out.push((T::IdxDealOwner, K::t(t).word(o).id(id).done(), Vec::new()));
    }
    out
}

pub(crate) fn user_entries(t: u32, u: &User) -> Vec<Entry> {
    let id = u.id.to_bytes();
    let mut out = Vec::with_capacity(1 + u.teams.len());
    if let Some(e) = &u.email {
        out.push((
            T::IdxUserEmail,
            K::t(t).text(e.as_str()).done(),
            id.to_vec(),
        ));
    }
    for team in &u.teams {
        out.push((
            T::IdxTeamMembers,
            K::t(t).id(team.to_bytes()).id(id).done(),
            Vec::new(),
        ));
    }
    out
}

pub(crate) fn team_entries(t: u32, team: &Team) -> Vec<Entry> {
    vec![(
        T::IdxTeamName,
        K::t(t).text(&team.name.to_lowercase()).done(),
        team.id.to_bytes().to_vec(),
    )]
}

pub(crate) fn score_entries(t: u32, s: &StoredScore) -> Vec<Entry> {
    vec![(
        T::IdxScoreRank,
        K::t(t)
            .word(&s.producer.plugin)
            .f64(s.score)
            .id(s.customer.to_bytes())
            .done(),
        Vec::new(),
    )]
}

pub(crate) fn segment_entries(t: u32, s: &StoredSegments) -> Vec<Entry> {
    s.memberships
        .iter()
        .map(|m| {
            (
                T::IdxSegmentMembers,
                K::t(t)
                    .word(&s.producer.plugin)
                    .word(&m.segment)
                    .id(s.customer.to_bytes())
                    .done(),
                Vec::new(),
            )
        })
        .collect()
}
