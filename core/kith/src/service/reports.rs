//! Reports by person, team and period: sales performance (see [`SalesReport`]) over the deals
//! the caller may read.

use std::collections::{HashMap, HashSet};

use super::access::Access;
use crate::model::{
    Actor, Date, Deal, Money, Period, Pipeline, PipelineId, Quota, QuotaSubject, SalesReport,
    SalesReportBuilder, TeamId, TenantSlug, UserId, check_range,
};
use crate::store::{Op, Output, Page, PageRequest, Result, Store, one, unexpected};

/// How rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// By the deal's owner.
    Owner,
    /// By each team of the deal's owner.
    Team,
}

/// What a sales report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesQuery {
    /// First day.
    pub from: Date,
    /// Last day.
    pub to: Date,
    /// Period length.
    pub period: Period,
    /// Grouping.
    pub by: GroupBy,
    /// Only this owner's deals.
    pub owner: Option<UserId>,
    /// Only deals owned by members of this team.
    pub team: Option<TeamId>,
}

/// Every page of a list.
fn each<T>(
    mut read: impl FnMut(&PageRequest) -> Result<Page<T>>,
    mut f: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let mut page = PageRequest::first(1000);
    loop {
        let got = read(&page)?;
        for item in got.items {
            f(item)?;
        }
        match got.next {
            Some(c) => page = PageRequest::after(1000, c),
            None => return Ok(()),
        }
    }
}

/// The sales performance report. Reads the owner's deals from the deal-owner index when one
/// owner is asked for (or the caller is a member who sees only their own), every deal of the
/// tenant otherwise.
pub fn sales(
    store: &dyn Store,
    tenant: &TenantSlug,
    access: &Access,
    q: &SalesQuery,
) -> Result<SalesReport> {
    check_range(q.from, q.to, q.period)?;
    let members: Option<HashSet<String>> = match q.team {
        Some(t) => Some(super::users::member_ids(store, tenant, t)?),
        None => None,
    };
    let teams_of: HashMap<String, Vec<Option<String>>> = match q.by {
        GroupBy::Owner => HashMap::new(),
        GroupBy::Team => {
            let mut map = HashMap::new();
            each(
                |p| store.users(tenant, p),
                |u| {
                    let teams = u.teams.iter().map(|t| Some(t.to_string())).collect();
                    map.insert(u.id.to_string(), teams);
                    Ok(())
                },
            )?;
            map
        }
    };
    let only = access.only_owner();
    let owner = q.owner.map(|o| o.to_string()).or(only);
    let mut pipelines: HashMap<PipelineId, Option<Pipeline>> = HashMap::new();
    let mut report = SalesReportBuilder::new(q.from, q.to, q.period);
    let mut add = |d: Deal| -> Result<()> {
        let owned = d.owner.as_deref();
        let wanted = access.reads(owned)
            && owner.as_deref().is_none_or(|o| owned == Some(o))
            && members
                .as_ref()
                .is_none_or(|m| owned.is_some_and(|o| m.contains(o)));
        if !wanted {
            return Ok(());
        }
        let pipeline = match pipelines.get(&d.pipeline) {
            Some(p) => p.clone(),
            None => {
                let p = store.pipeline(tenant, d.pipeline)?;
                pipelines.insert(d.pipeline, p.clone());
                p
            }
        };
        let Some(pipeline) = pipeline else {
            return Ok(());
        };
        let groups: Vec<Option<String>> = match (q.by, owned) {
            (_, None) => Vec::new(),
            (GroupBy::Owner, Some(o)) => vec![Some(o.to_owned())],
            (GroupBy::Team, Some(o)) => teams_of.get(o).cloned().unwrap_or_default(),
        };
        report.add(&d, &pipeline, &groups);
        Ok(())
    };
    each(|p| store.all_deals(tenant, owner.as_deref(), p), &mut add)?;
    // Targets of the groups shown: the caller's own, their teams', and what they may read.
    let my_teams: Option<&[TeamId]> = access.user().map(|u| u.teams.as_slice());
    each(
        |p| store.quotas(tenant, p),
        |quota| {
            let shown = match (quota.subject, q.by) {
                (QuotaSubject::User(u), GroupBy::Owner) => {
                    let u = u.to_string();
                    access.reads(Some(&u))
                        && owner.as_deref().is_none_or(|o| o == u)
                        && members.as_ref().is_none_or(|m| m.contains(&u))
                }
                (QuotaSubject::Team(t), GroupBy::Team) => {
                    my_teams.is_none_or(|mine| mine.contains(&t))
                        && q.team.is_none_or(|only| only == t)
                        && owner.is_none()
                }
                _ => false,
            };
            if shown {
                report.quota(&quota);
            }
            Ok(())
        },
    )?;
    Ok(report.finish())
}

/// What a quota is for: a user or a team, a period, a day in it, and the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaTarget {
    /// Whose.
    pub subject: QuotaSubject,
    /// Period length.
    pub period: Period,
    /// Any day of the period.
    pub day: Date,
    /// The amount to win; for removal only its currency counts.
    pub target: Money,
}

fn quota_of(t: &QuotaTarget) -> Result<Quota> {
    Ok(Quota::new(
        t.subject,
        t.period,
        t.day,
        t.target,
        crate::model::Timestamp::now(),
    )?)
}

/// Sets (or replaces) a sales target.
pub fn set_quota(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    t: &QuotaTarget,
) -> Result<Quota> {
    match one(store.write(tenant, actor, vec![Op::SetQuota(quota_of(t)?)])?)? {
        Output::Quota(Some(q)) => Ok(q),
        other => Err(unexpected(&other)),
    }
}

/// Removes a sales target (nothing when there is none).
pub fn remove_quota(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    t: &QuotaTarget,
) -> Result<()> {
    store
        .write(tenant, actor, vec![Op::RemoveQuota(quota_of(t)?)])
        .map(drop)
}

/// A page of the tenant's sales targets.
pub fn quotas(store: &dyn Store, tenant: &TenantSlug, page: &PageRequest) -> Result<Page<Quota>> {
    store.quotas(tenant, page)
}

/// Most groups a funnel report splits into: one per tag or segment can be many.
pub const MAX_FUNNEL_GROUPS: usize = 500;

/// How a funnel report groups deals, by their customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunnelBy {
    /// The customer's lead source: its `lead_source` attribute, else the source of its first
    /// external id.
    Source,
    /// Each tag of the customer.
    Tag,
    /// Each segment a segmenter plugin put the customer in.
    Segment(String),
}

/// One group's funnel.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FunnelGroup {
    /// The source, tag or segment; none for deals whose customer has none.
    pub group: Option<String>,
    /// The funnel of the group's deals.
    pub report: crate::model::PipelineReport,
}

/// The lead source of a customer, as [`FunnelBy::Source`] reads it.
fn lead_source(c: &crate::model::Customer) -> Option<String> {
    match c.attributes.get("lead_source") {
        Some(crate::model::AttributeValue::Text(s)) => Some(s.clone()),
        _ => c.external_ids.first().map(|x| x.source.clone()),
    }
}

/// A pipeline's funnel per lead source, tag or segment of the deals' customers, over the deals
/// the caller may read. Reads every deal of the pipeline and each of their customers once;
/// more than [`MAX_FUNNEL_GROUPS`] groups is refused.
///
/// `plugins` reads segments: needed for [`FunnelBy::Segment`] only.
pub fn funnel(
    store: &dyn Store,
    plugins: Option<&dyn crate::store::PluginStore>,
    tenant: &TenantSlug,
    access: &Access,
    pipeline: PipelineId,
    by: &FunnelBy,
) -> Result<Vec<FunnelGroup>> {
    use crate::model::{CustomerId, ReportBuilder};
    let p = super::pipelines::get(store, tenant, pipeline)?;
    let mut groups: std::collections::BTreeMap<Option<String>, ReportBuilder<'_>> =
        std::collections::BTreeMap::new();
    let mut of_customer: HashMap<CustomerId, Vec<Option<String>>> = HashMap::new();
    let mut add = |d: Deal| -> Result<()> {
        if !access.reads(d.owner.as_deref()) {
            return Ok(());
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = of_customer.entry(d.customer) {
            let keys: Vec<Option<String>> = match (by, store.customer(tenant, d.customer)?) {
                (_, None) => Vec::new(),
                (FunnelBy::Source, Some(c)) => vec![lead_source(&c)],
                (FunnelBy::Tag, Some(c)) => {
                    c.tags.iter().map(|t| Some(t.as_str().to_owned())).collect()
                }
                (FunnelBy::Segment(plugin), Some(c)) => plugins
                    .ok_or_else(|| {
                        crate::store::Error::Unavailable("segments need the plugin host".into())
                    })?
                    .segments_of(tenant, c.id)?
                    .into_iter()
                    .filter(|s| &s.producer.plugin == plugin)
                    .flat_map(|s| s.memberships.into_iter().map(|m| Some(m.segment)))
                    .collect(),
            };
            slot.insert(keys);
        }
        let keys = of_customer
            .get(&d.customer)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let none = [None];
        for key in if keys.is_empty() { &none[..] } else { keys } {
            if !groups.contains_key(key) && groups.len() >= MAX_FUNNEL_GROUPS {
                return Err(crate::model::ValidationError::field(
                    "by",
                    format!("a grouping with at most {MAX_FUNNEL_GROUPS} groups"),
                )
                .into());
            }
            groups
                .entry(key.clone())
                .or_insert_with(|| ReportBuilder::new(&p))
                .add(&d);
        }
        Ok(())
    };
    each(|page| store.deals(tenant, pipeline, None, page), &mut add)?;
    Ok(groups
        .into_iter()
        .map(|(group, b)| FunnelGroup {
            group,
            report: b.finish(),
        })
        .collect())
}
