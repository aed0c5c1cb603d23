//! The store checked against a simple in-memory model (BTreeMaps), as redb fuzzes against a
//! `BTreeMap`: random sequences of writes on two tenants, then every query, index and page is
//! compared with what the model says, and `check()` must find nothing.
//!
//! Values come from small pools so that duplicates, stale versions, repeated external ids and
//! references across tenants happen often. `PROPTEST_CASES` raises the number of cases.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::backend::{Fixture, Kind};
use kith_model::{
    Actor, Channel, Currency, Customer, CustomerId, CustomerInput, CustomerKind, CustomerPatch,
    Deal, DealId, DealInput, Email, EntityRef, EventKind, ExternalId, Interaction, InteractionId,
    InteractionInput, InteractionKind, LifecycleStage, Money, Phone, Pipeline, PipelineId,
    PipelineInput, ReportBuilder, StageCategory, StageId, StageInput, Tag, TaskStatus, TenantInput,
    TenantSlug, Timestamp,
};
use kith_store::Error;
use kith_store::{Clock, CustomerFilter, Op, Output, Page, PageRequest, Store};
use proptest::prelude::*;

/// Seconds since the epoch that every test time is relative to.
const BASE: i64 = 1_700_000_000;
/// Seconds between two steps.
const STEP: i64 = 10;

const NAMES: &[&str] = &["Ada Lovelace", "ada", "Adam", "Bob", "bobby", "Élodie"];
const NAME_PREFIXES: &[&str] = &["", "a", "AD", "bob", "é", "x"];
const EMAILS: &[&str] = &[
    "ada@example.com",
    "ada@EXAMPLE.com",
    "Ada@example.com",
    "bob@example.org",
    "not-an-email",
];
const EMAIL_PREFIXES: &[&str] = &["", "ada@", "A", "bob", "zzz"];
const PHONES: &[&str] = &["+44 20 7946 0000", "+442079460000", "+1 212 555 0100", "12"];
const SOURCES: &[&str] = &["shop", "pos"];
const EXT_IDS: &[&str] = &["1", "2"];
const TAGS: &[&str] = &["vip", "VIP ", "new", "churn-risk"];
const OWNERS: &[&str] = &["ann", "ben"];
const PIPELINE_NAMES: &[&str] = &["Sales", " sales", "Renewals"];
const STAGE_PROBABILITIES: &[u8] = &[10, 40, 70, 100];
const AMOUNTS: &[i64] = &[0, 100, 12_345, -5];
const CURRENCIES: &[&str] = &["USD", "EUR"];
/// Offsets (seconds from BASE) for occurred_at, due_at, deal moves and due-task cutoffs.
const OCCURRED: &[i64] = &[0, 10, 20];
const DUE: &[i64] = &[100, 200, 300];
const MOVE_AT: &[i64] = &[-100, 0, 5, 50, 500, 5000];
const UNTIL: &[i64] = &[0, 150, 250, 10_000];
/// An id no tenant has.
const GHOST: [u8; 16] = [0xEE; 16];

/// A fresh id for what the model creates in a request the store refused (so it has no real id).
fn placeholder() -> [u8; 16] {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut id = GHOST;
    id[8..].copy_from_slice(&NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    id
}

fn at(offset_secs: i64) -> Timestamp {
    Timestamp::from_secs(BASE + offset_secs)
}

fn usd_or_eur(i: usize) -> Currency {
    CURRENCIES[i % CURRENCIES.len()].parse().unwrap()
}

#[derive(Debug)]
struct ManualClock(AtomicI64);

impl ManualClock {
    fn set(&self, t: Timestamp) {
        self.0.store(t.as_micros(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.0.load(Ordering::SeqCst))
    }
}

// ---------------------------------------------------------------------------------------------
// What the generator produces: ops that refer to pools by index, resolved when the step runs.

/// An entity of the acting tenant (or, when `foreign`, of the other tenant), by index into the
/// list of every such entity ever created, erased ones included.
#[derive(Debug, Clone, Copy)]
struct Pick {
    index: u8,
    foreign: bool,
}

#[derive(Debug, Clone)]
enum Change {
    Name(Option<u8>),
    Email(Option<u8>),
    Phone(Option<u8>),
    AddExternalId(u8, u8),
    AddTags(Vec<u8>),
    RemoveTags(Vec<u8>),
    Lifecycle(u8),
    Owner(Option<u8>),
    Organization(Option<Pick>),
    Consent(bool),
}

#[derive(Debug, Clone)]
enum Version {
    Any,
    Current,
    Stale,
}

#[derive(Debug, Clone)]
enum OpSpec {
    CreateCustomer {
        organization_kind: bool,
        name: Option<u8>,
        email: Option<u8>,
        phone: Option<u8>,
        external_id: Option<(u8, u8)>,
        tags: Vec<u8>,
        lifecycle: Option<u8>,
        owner: Option<u8>,
        organization: Option<Pick>,
    },
    UpdateCustomer {
        who: Pick,
        stale: bool,
        changes: Vec<Change>,
    },
    EraseCustomer {
        who: Pick,
    },
    LogInteraction {
        who: Pick,
        kind: u8,
        external_id: Option<(bool, u8)>,
        occurred: Option<u8>,
        due: Option<u8>,
        status: Option<u8>,
    },
    SetStatus {
        what: Pick,
        status: u8,
    },
    CreatePipeline {
        name: u8,
        stages: u8,
    },
    CreateDeal {
        who: Pick,
        pipeline: Pick,
        stage: Option<u8>,
        amount: u8,
        currency: u8,
    },
    MoveDeal {
        deal: Pick,
        /// A stage of the deal's own pipeline, or (when `other_pipeline`) of another one.
        stage: u8,
        other_pipeline: Option<Pick>,
        at: Option<u8>,
        version: Version,
    },
}

#[derive(Debug, Clone)]
enum Mode {
    Single,
    Atomic,
    Each,
}

#[derive(Debug, Clone)]
enum Step {
    Write {
        tenant: u8,
        mode: Mode,
        ops: Vec<OpSpec>,
    },
    UnknownTenant(OpSpec),
    Reopen,
    Verify,
}

fn pick() -> impl Strategy<Value = Pick> {
    (any::<u8>(), prop::bool::weighted(0.1)).prop_map(|(index, foreign)| Pick { index, foreign })
}

fn idx(len: usize) -> impl Strategy<Value = u8> {
    0..u8::try_from(len).unwrap()
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        prop::option::of(idx(NAMES.len())).prop_map(Change::Name),
        prop::option::of(mostly_valid(EMAILS.len())).prop_map(Change::Email),
        prop::option::of(mostly_valid(PHONES.len())).prop_map(Change::Phone),
        (idx(SOURCES.len()), idx(EXT_IDS.len())).prop_map(|(s, i)| Change::AddExternalId(s, i)),
        prop::collection::vec(idx(TAGS.len()), 1..3).prop_map(Change::AddTags),
        prop::collection::vec(idx(TAGS.len()), 1..3).prop_map(Change::RemoveTags),
        idx(LifecycleStage::ALL.len()).prop_map(Change::Lifecycle),
        prop::option::of(idx(OWNERS.len())).prop_map(Change::Owner),
        prop::option::of(pick()).prop_map(Change::Organization),
        any::<bool>().prop_map(Change::Consent),
    ]
}

/// An index into a pool whose last entry is invalid input, picked now and then.
fn mostly_valid(len: usize) -> impl Strategy<Value = u8> {
    let last = u8::try_from(len - 1).unwrap();
    prop_oneof![9 => 0..last, 1 => Just(last)]
}

fn create_customer() -> impl Strategy<Value = OpSpec> {
    (
        prop::bool::weighted(0.3),
        prop::option::weighted(0.8, idx(NAMES.len())),
        prop::option::of(mostly_valid(EMAILS.len())),
        prop::option::of(mostly_valid(PHONES.len())),
        prop::option::of((idx(SOURCES.len()), idx(EXT_IDS.len()))),
        prop::collection::vec(idx(TAGS.len()), 0..3),
        prop::option::of(idx(LifecycleStage::ALL.len())),
        prop::option::of(idx(OWNERS.len())),
        prop::option::weighted(0.2, pick()),
    )
        .prop_map(
            |(org, name, email, phone, external_id, tags, lifecycle, owner, organization)| {
                OpSpec::CreateCustomer {
                    organization_kind: org,
                    name,
                    email,
                    phone,
                    external_id,
                    tags,
                    lifecycle,
                    owner,
                    organization,
                }
            },
        )
}

fn create_pipeline(stages: std::ops::Range<u8>) -> impl Strategy<Value = OpSpec> {
    (idx(PIPELINE_NAMES.len()), stages)
        .prop_map(|(name, stages)| OpSpec::CreatePipeline { name, stages })
}

fn create_deal() -> impl Strategy<Value = OpSpec> {
    (
        pick(),
        pick(),
        prop::option::weighted(0.3, idx(5)),
        mostly_valid(AMOUNTS.len()),
        idx(CURRENCIES.len()),
    )
        .prop_map(
            |(who, pipeline, stage, amount, currency)| OpSpec::CreateDeal {
                who,
                pipeline,
                stage,
                amount,
                currency,
            },
        )
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    let update = (
        pick(),
        prop::bool::weighted(0.2),
        prop::collection::vec(change(), 1..3),
    )
        .prop_map(|(who, stale, changes)| OpSpec::UpdateCustomer {
            who,
            stale,
            changes,
        });
    let log = (
        pick(),
        idx(5),
        prop::option::of((any::<bool>(), idx(2))),
        prop::option::of(idx(OCCURRED.len())),
        prop::option::of(idx(DUE.len() + 1)),
        prop::option::weighted(0.2, idx(TaskStatus::ALL.len())),
    )
        .prop_map(
            |(who, kind, external_id, occurred, due, status)| OpSpec::LogInteraction {
                who,
                kind,
                external_id,
                occurred,
                due,
                status,
            },
        );
    let version = prop_oneof![
        3 => Just(Version::Any),
        2 => Just(Version::Current),
        1 => Just(Version::Stale),
    ];
    let move_deal = (
        pick(),
        idx(5),
        prop::option::weighted(0.1, pick()),
        prop::option::of(idx(MOVE_AT.len())),
        version,
    )
        .prop_map(
            |(deal, stage, other_pipeline, at, version)| OpSpec::MoveDeal {
                deal,
                stage,
                other_pipeline,
                at,
                version,
            },
        );
    prop_oneof![
        8 => create_customer(),
        5 => update,
        2 => pick().prop_map(|who| OpSpec::EraseCustomer { who }),
        6 => log,
        2 => (pick(), idx(TaskStatus::ALL.len()))
            .prop_map(|(what, status)| OpSpec::SetStatus { what, status }),
        1 => create_pipeline(0..5),
        5 => create_deal(),
        6 => move_deal,
    ]
}

/// A pipeline and a few customers in each tenant to start with, so that most later ops find
/// what they refer to; then the random steps.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    let setup = || {
        (
            create_pipeline(3..5),
            prop::collection::vec(create_customer(), 1..5),
            prop::collection::vec(create_deal(), 0..3),
        )
    };
    (setup(), setup(), prop::collection::vec(step(), 1..32)).prop_map(|(first, second, rest)| {
        let mut steps = Vec::new();
        for (tenant, (pipeline, customers, deals)) in [(0, first), (1, second)] {
            let ops = [vec![pipeline], customers, deals].concat();
            steps.extend(ops.into_iter().map(|op| Step::Write {
                tenant,
                mode: Mode::Single,
                ops: vec![op],
            }));
        }
        steps.extend(rest);
        steps
    })
}

fn step() -> impl Strategy<Value = Step> {
    let tenant = 0..2u8;
    prop_oneof![
        30 => (tenant.clone(), op_spec()).prop_map(|(tenant, op)| Step::Write {
            tenant,
            mode: Mode::Single,
            ops: vec![op],
        }),
        3 => (tenant.clone(), prop::collection::vec(op_spec(), 2..4)).prop_map(|(tenant, ops)| {
            Step::Write { tenant, mode: Mode::Atomic, ops }
        }),
        3 => (tenant, prop::collection::vec(op_spec(), 2..4)).prop_map(|(tenant, ops)| {
            Step::Write { tenant, mode: Mode::Each, ops }
        }),
        1 => op_spec().prop_map(Step::UnknownTenant),
        1 => Just(Step::Reopen),
        4 => Just(Step::Verify),
    ]
}

// ---------------------------------------------------------------------------------------------
// The model.

/// What an error says, in a form the model can predict exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fail {
    NotFound(&'static str, String),
    Conflict {
        entity: &'static str,
        id: String,
        expected: u64,
        actual: u64,
    },
    Duplicate {
        field: &'static str,
        value: String,
        existing: String,
    },
    Invalid(Vec<String>),
    TenantNotFound(String),
}

fn fail_of(e: &Error) -> Fail {
    match e {
        Error::NotFound { entity, id } => Fail::NotFound(entity, id.clone()),
        Error::Conflict {
            entity,
            id,
            expected,
            actual,
        } => Fail::Conflict {
            entity,
            id: id.clone(),
            expected: *expected,
            actual: *actual,
        },
        Error::Duplicate {
            field,
            value,
            existing,
        } => Fail::Duplicate {
            field,
            value: value.clone(),
            existing: existing.clone(),
        },
        Error::Invalid(v) => Fail::Invalid(v.errors.iter().map(|f| f.field.clone()).collect()),
        Error::TenantNotFound(t) => Fail::TenantNotFound(t.clone()),
        other => panic!("the store failed unexpectedly: {other}"),
    }
}

fn invalid(e: kith_model::ValidationError) -> Fail {
    Fail::Invalid(e.errors.into_iter().map(|f| f.field).collect())
}

fn not_found(entity: &'static str, id: impl ToString) -> Fail {
    Fail::NotFound(entity, id.to_string())
}

#[derive(Debug, Clone, PartialEq)]
struct ModelEvent {
    at: Timestamp,
    kind: EventKind,
    entity: EntityRef,
    changed: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct TenantModel {
    customers: BTreeMap<CustomerId, Customer>,
    interactions: BTreeMap<InteractionId, Interaction>,
    interaction_ext: BTreeMap<(String, String), InteractionId>,
    pipelines: BTreeMap<PipelineId, Pipeline>,
    deals: BTreeMap<DealId, Deal>,
    events: Vec<ModelEvent>,
}

impl TenantModel {
    fn event(&mut self, now: Timestamp, kind: EventKind, entity: EntityRef, changed: Vec<String>) {
        self.events.push(ModelEvent {
            at: now,
            kind,
            entity,
            changed,
        });
    }

    fn check_organization(&self, c: &Customer) -> Result<(), Fail> {
        match c.organization.map(|o| self.customers.get(&o)) {
            None => Ok(()),
            Some(Some(o)) if o.kind == CustomerKind::Organization => Ok(()),
            Some(_) => Err(Fail::Invalid(vec!["organization".into()])),
        }
    }

    /// The unique values `new` takes that `old` did not hold, checked in the store's order.
    fn check_unique(&self, new: &Customer, old: Option<&Customer>) -> Result<(), Fail> {
        let holder = |f: &dyn Fn(&Customer) -> bool| {
            self.customers
                .values()
                .find(|c| c.id != new.id && f(c))
                .map(|c| format!("customer {}", c.id))
        };
        // One exact address, and one identity (any case) among the addresses that change it.
        let identity = |c: &Customer| c.email.as_ref().map(Email::identity);
        if let Some(e) = &new.email
            && let Some(existing) = (old.is_none_or(|o| o.email.as_ref() != Some(e)))
                .then(|| holder(&|c| c.email.as_ref() == Some(e)))
                .flatten()
                .or_else(|| {
                    (old.and_then(identity) != Some(e.identity()))
                        .then(|| holder(&|c| identity(c) == Some(e.identity())))
                        .flatten()
                })
        {
            return Err(Fail::Duplicate {
                field: "email",
                value: e.to_string(),
                existing,
            });
        }
        if let Some(p) = &new.phone
            && old.is_none_or(|o| o.phone.as_ref() != Some(p))
            && let Some(existing) = holder(&|c| c.phone.as_ref() == Some(p))
        {
            return Err(Fail::Duplicate {
                field: "phone",
                value: p.to_string(),
                existing,
            });
        }
        for x in &new.external_ids {
            if old.is_none_or(|o| !o.external_ids.contains(x))
                && let Some(existing) = holder(&|c| c.external_ids.contains(x))
            {
                return Err(Fail::Duplicate {
                    field: "external_id",
                    value: format!("{}:{}", x.source, x.id),
                    existing,
                });
            }
        }
        Ok(())
    }

    /// Applies `op` as the store should; `hint` is the store's output for it, from which the model
    /// takes the ids the store generated.
    fn apply(&mut self, op: &Op, hint: Option<&Output>, now: Timestamp) -> Result<Output, Fail> {
        match op {
            Op::CreateCustomer(input) => {
                let id = match hint {
                    Some(Output::Customer(c)) => c.id,
                    _ => CustomerId::from_bytes(placeholder()),
                };
                let c = Customer::new(id, input.clone(), now).map_err(invalid)?;
                self.check_organization(&c)?;
                self.check_unique(&c, None)?;
                self.customers.insert(id, c.clone());
                self.event(
                    now,
                    EventKind::CustomerCreated,
                    EntityRef::Customer(id),
                    vec![],
                );
                Ok(Output::Customer(c))
            }
            Op::UpdateCustomer {
                id,
                expected_version,
                patch,
            } => {
                let old = self
                    .customers
                    .get(id)
                    .cloned()
                    .ok_or_else(|| not_found("customer", id))?;
                if old.version != *expected_version {
                    return Err(Fail::Conflict {
                        entity: "customer",
                        id: id.to_string(),
                        expected: *expected_version,
                        actual: old.version,
                    });
                }
                let mut new = old.clone();
                let changed = new.apply(patch.clone(), now).map_err(invalid)?;
                if changed.is_empty() {
                    return Ok(Output::Customer(old));
                }
                if new.organization != old.organization {
                    self.check_organization(&new)?;
                }
                self.check_unique(&new, Some(&old))?;
                self.customers.insert(*id, new.clone());
                let changed = changed.into_iter().map(str::to_owned).collect();
                self.event(
                    now,
                    EventKind::CustomerUpdated,
                    EntityRef::Customer(*id),
                    changed,
                );
                Ok(Output::Customer(new))
            }
            Op::EraseCustomer(id) => {
                let c = self
                    .customers
                    .remove(id)
                    .ok_or_else(|| not_found("customer", id))?;
                let gone: Vec<InteractionId> = self
                    .interactions
                    .values()
                    .filter(|i| i.customer == *id)
                    .map(|i| i.id)
                    .collect();
                for i in gone {
                    self.interactions.remove(&i);
                }
                self.interaction_ext
                    .retain(|_, i| self.interactions.contains_key(i));
                self.deals.retain(|_, d| d.customer != *id);
                if c.kind == CustomerKind::Organization {
                    for m in self.customers.values_mut() {
                        if m.organization == Some(*id) {
                            m.organization = None;
                            m.version += 1;
                            m.updated_at = now;
                        }
                    }
                }
                self.event(
                    now,
                    EventKind::CustomerErased,
                    EntityRef::Customer(*id),
                    vec![],
                );
                Ok(Output::Erased(*id))
            }
            Op::LogInteraction(input) => {
                if !self.customers.contains_key(&input.customer) {
                    return Err(not_found("customer", input.customer));
                }
                let id = match hint {
                    Some(Output::Interaction { interaction, .. }) => interaction.id,
                    _ => InteractionId::from_bytes(placeholder()),
                };
                let i = Interaction::new(id, input.clone(), now).map_err(invalid)?;
                let key = i
                    .idempotency_key()
                    .map(|(s, e)| (s.to_owned(), e.to_owned()));
                if let Some(key) = &key {
                    if let Some(existing) = self.interaction_ext.get(key) {
                        let stored = self.interactions[existing].clone();
                        if stored.customer != i.customer {
                            return Err(Fail::Duplicate {
                                field: "external_id",
                                value: key.1.clone(),
                                existing: format!("interaction {} of another customer", stored.id),
                            });
                        }
                        return Ok(Output::Interaction {
                            interaction: stored,
                            created: false,
                        });
                    }
                    self.interaction_ext.insert(key.clone(), id);
                }
                self.interactions.insert(id, i.clone());
                self.event(
                    now,
                    EventKind::InteractionLogged,
                    EntityRef::Interaction {
                        id,
                        customer: i.customer,
                    },
                    vec![],
                );
                Ok(Output::Interaction {
                    interaction: i,
                    created: true,
                })
            }
            Op::SetInteractionStatus { id, status } => {
                let mut i = self
                    .interactions
                    .get(id)
                    .cloned()
                    .ok_or_else(|| not_found("interaction", id))?;
                let changes = i.set_status(*status, now).map_err(invalid)?;
                if !changes.is_empty() {
                    self.interactions.insert(*id, i.clone());
                    self.event(
                        now,
                        EventKind::InteractionUpdated,
                        EntityRef::Interaction {
                            id: *id,
                            customer: i.customer,
                        },
                        changes.iter().map(|c| c.field.clone()).collect(),
                    );
                }
                Ok(Output::Interaction {
                    interaction: i,
                    created: false,
                })
            }
            Op::CreatePipeline(input) => {
                let id = match hint {
                    Some(Output::Pipeline(p)) => p.id,
                    _ => PipelineId::from_bytes(placeholder()),
                };
                let mut p = Pipeline::new(id, input.clone(), now).map_err(invalid)?;
                // Stage ids are generated: take the store's, the rest must match.
                if let Some(Output::Pipeline(stored)) = hint
                    && stored.stages.len() == p.stages.len()
                {
                    for (mine, theirs) in p.stages.iter_mut().zip(&stored.stages) {
                        mine.id = theirs.id;
                    }
                }
                let lower = p.name.to_lowercase();
                if let Some(holder) = self
                    .pipelines
                    .values()
                    .find(|x| x.name.to_lowercase() == lower)
                {
                    return Err(Fail::Duplicate {
                        field: "name",
                        value: p.name.clone(),
                        existing: format!("pipeline {}", holder.id),
                    });
                }
                self.pipelines.insert(id, p.clone());
                self.event(
                    now,
                    EventKind::PipelineCreated,
                    EntityRef::Pipeline(id),
                    vec![],
                );
                Ok(Output::Pipeline(p))
            }
            Op::CreateDeal(input) => {
                if !self.customers.contains_key(&input.customer) {
                    return Err(not_found("customer", input.customer));
                }
                let pipeline = self
                    .pipelines
                    .get(&input.pipeline)
                    .ok_or_else(|| not_found("pipeline", input.pipeline))?;
                let id = match hint {
                    Some(Output::Deal(d)) => d.id,
                    _ => DealId::from_bytes(placeholder()),
                };
                let d = Deal::new(id, input.clone(), pipeline, now).map_err(invalid)?;
                self.deals.insert(id, d.clone());
                self.event(
                    now,
                    EventKind::DealCreated,
                    EntityRef::Deal {
                        id,
                        customer: d.customer,
                    },
                    vec![],
                );
                Ok(Output::Deal(d))
            }
            Op::MoveDeal {
                id,
                stage,
                at,
                expected_version,
                lost_reason: _,
            } => {
                let mut d = self
                    .deals
                    .get(id)
                    .cloned()
                    .ok_or_else(|| not_found("deal", id))?;
                if let Some(v) = expected_version.filter(|v| *v != d.version) {
                    return Err(Fail::Conflict {
                        entity: "deal",
                        id: id.to_string(),
                        expected: v,
                        actual: d.version,
                    });
                }
                let pipeline = &self.pipelines[&d.pipeline];
                if d.move_to(*stage, pipeline, at.unwrap_or(now))
                    .map_err(invalid)?
                {
                    self.deals.insert(*id, d.clone());
                    self.event(
                        now,
                        EventKind::DealMoved,
                        EntityRef::Deal {
                            id: *id,
                            customer: d.customer,
                        },
                        vec!["stage".into()],
                    );
                }
                Ok(Output::Deal(d))
            }
            other => panic!("the model does not know {other:?}"),
        }
    }

    fn customers_matching(&self, filter: &CustomerFilter) -> Vec<Customer> {
        let mut out: Vec<Customer> = self
            .customers
            .values()
            .filter(|c| match filter {
                CustomerFilter::All => true,
                CustomerFilter::Tag(t) => c.tags.contains(t),
                CustomerFilter::Lifecycle(l) => c.lifecycle == *l,
                CustomerFilter::Owner(o) => c.owner.as_deref() == Some(o.as_str()),
                CustomerFilter::Organization(org) => c.organization == Some(*org),
                CustomerFilter::NamePrefix(p) => {
                    c.name.to_lowercase().starts_with(&p.trim().to_lowercase())
                }
                CustomerFilter::EmailPrefix(p) => c
                    .email
                    .as_ref()
                    .is_some_and(|e| e.as_str().starts_with(p.trim())),
                // The model defines no custom fields: no field has an index.
                CustomerFilter::Field(_) => false,
            })
            .cloned()
            .collect();
        match filter {
            CustomerFilter::NamePrefix(_) => out.sort_by_key(|c| (c.name.to_lowercase(), c.id)),
            CustomerFilter::EmailPrefix(_) => out.sort_by_key(|c| c.email.clone()),
            _ => {} // by id already
        }
        out
    }

    fn timeline(&self, customer: CustomerId) -> Vec<Interaction> {
        let mut out: Vec<Interaction> = self
            .interactions
            .values()
            .filter(|i| i.customer == customer)
            .cloned()
            .collect();
        out.sort_by_key(|i| std::cmp::Reverse((i.occurred_at, i.id)));
        out
    }

    fn due(&self, until: Timestamp) -> Vec<Interaction> {
        let mut out: Vec<Interaction> = self
            .interactions
            .values()
            .filter(|i| i.is_due_work() && i.due_at.is_some_and(|d| d <= until))
            .cloned()
            .collect();
        out.sort_by_key(|i| (i.due_at, i.id));
        out
    }

    fn deals_of(&self, pipeline: PipelineId, stage: Option<StageId>) -> Vec<Deal> {
        let mut out: Vec<Deal> = self
            .deals
            .values()
            .filter(|d| d.pipeline == pipeline && stage.is_none_or(|s| d.stage == s))
            .cloned()
            .collect();
        out.sort_by_key(|d| (d.stage, d.id));
        out
    }
}

/// One tenant: its slug, model, and every id ever created in it (for picks).
#[derive(Debug)]
struct TenantWorld {
    slug: TenantSlug,
    model: TenantModel,
    customers: Vec<CustomerId>,
    /// The customers created as organizations.
    organizations: Vec<CustomerId>,
    interactions: Vec<InteractionId>,
    pipelines: Vec<PipelineId>,
    deals: Vec<DealId>,
    /// The user ids the names in [`OWNERS`] stand for in this tenant.
    owners: Vec<String>,
}

impl TenantWorld {
    fn new(slug: &str, now: Timestamp) -> Self {
        let mut model = TenantModel::default();
        model.event(now, EventKind::TenantCreated, EntityRef::Tenant, vec![]);
        Self {
            slug: slug.parse().unwrap(),
            model,
            customers: Vec::new(),
            organizations: Vec::new(),
            interactions: Vec::new(),
            pipelines: Vec::new(),
            deals: Vec::new(),
            owners: Vec::new(),
        }
    }

    /// Adds a user per name of [`OWNERS`], as the store did at `now`.
    fn add_owners(&mut self, store: &dyn Store, now: Timestamp) {
        for name in OWNERS {
            let input = kith_model::UserInput {
                name: (*name).into(),
                ..Default::default()
            };
            let Some(Output::User(u)) = store
                .write(&self.slug, &actor(), vec![Op::CreateUser(input)])
                .unwrap()
                .pop()
            else {
                panic!("no user");
            };
            let (user, id) = (u.id, u.id.to_string());
            self.model
                .event(now, EventKind::UserCreated, EntityRef::User(user), vec![]);
            self.owners.push(id);
        }
    }

    fn owner(&self, i: u8) -> String {
        self.owners[usize::from(i)].clone()
    }

    fn record(&mut self, out: &Output) {
        match out {
            Output::Customer(c) if !self.customers.contains(&c.id) => {
                self.customers.push(c.id);
                if c.kind == CustomerKind::Organization {
                    self.organizations.push(c.id);
                }
            }
            Output::Interaction { interaction, .. }
                if !self.interactions.contains(&interaction.id) =>
            {
                self.interactions.push(interaction.id);
            }
            Output::Pipeline(p) => self.pipelines.push(p.id),
            Output::Deal(d) if !self.deals.contains(&d.id) => self.deals.push(d.id),
            _ => {}
        }
    }
}

fn choose<T: Copy>(own: &[T], foreign: &[T], p: Pick, ghost: T) -> T {
    let pool = if p.foreign { foreign } else { own };
    if pool.is_empty() {
        ghost
    } else {
        pool[usize::from(p.index) % pool.len()]
    }
}

struct World {
    tenants: [TenantWorld; 2],
}

impl World {
    /// A duplicate's holder may have been created earlier in the same refused request: then it has
    /// no committed id, and the store's (rolled back) and the model's (placeholder) ids differ.
    fn normalize(&self, f: Fail) -> Fail {
        match f {
            Fail::Duplicate {
                field,
                value,
                existing,
            } => {
                let committed = self.tenants.iter().any(|t| {
                    t.customers
                        .iter()
                        .any(|id| existing.contains(&id.to_string()))
                        || t.interactions
                            .iter()
                            .any(|id| existing.contains(&id.to_string()))
                        || t.pipelines
                            .iter()
                            .any(|id| existing.contains(&id.to_string()))
                });
                Fail::Duplicate {
                    field,
                    value,
                    existing: if committed {
                        existing
                    } else {
                        "(created earlier in the refused request)".into()
                    },
                }
            }
            f => f,
        }
    }

    fn pick_customer(&self, t: usize, p: Pick) -> CustomerId {
        choose(
            &self.tenants[t].customers,
            &self.tenants[1 - t].customers,
            p,
            CustomerId::from_bytes(GHOST),
        )
    }

    /// Mostly an organization; one pick in eight is any customer (a person is invalid there).
    fn pick_organization(&self, t: usize, p: Pick) -> CustomerId {
        if p.index % 8 == 7 {
            return self.pick_customer(t, p);
        }
        choose(
            &self.tenants[t].organizations,
            &self.tenants[1 - t].organizations,
            p,
            CustomerId::from_bytes(GHOST),
        )
    }

    fn pick_interaction(&self, t: usize, p: Pick) -> InteractionId {
        choose(
            &self.tenants[t].interactions,
            &self.tenants[1 - t].interactions,
            p,
            InteractionId::from_bytes(GHOST),
        )
    }

    fn pick_pipeline(&self, t: usize, p: Pick) -> PipelineId {
        choose(
            &self.tenants[t].pipelines,
            &self.tenants[1 - t].pipelines,
            p,
            PipelineId::from_bytes(GHOST),
        )
    }

    fn pick_deal(&self, t: usize, p: Pick) -> DealId {
        choose(
            &self.tenants[t].deals,
            &self.tenants[1 - t].deals,
            p,
            DealId::from_bytes(GHOST),
        )
    }

    /// A pipeline known to either tenant's model (for stage lookups).
    fn any_pipeline(&self, id: PipelineId) -> Option<&Pipeline> {
        self.tenants.iter().find_map(|t| t.model.pipelines.get(&id))
    }

    fn build(&self, t: usize, spec: &OpSpec) -> Op {
        let model = &self.tenants[t].model;
        match spec {
            OpSpec::CreateCustomer {
                organization_kind,
                name,
                email,
                phone,
                external_id,
                tags,
                lifecycle,
                owner,
                organization,
            } => Op::CreateCustomer(CustomerInput {
                kind: if *organization_kind {
                    CustomerKind::Organization
                } else {
                    CustomerKind::Person
                },
                name: name.map(|i| NAMES[usize::from(i)].to_owned()),
                email: email.map(|i| EMAILS[usize::from(i)].to_owned()),
                phone: phone.map(|i| PHONES[usize::from(i)].to_owned()),
                external_ids: external_id
                    .iter()
                    .map(|&(s, i)| ExternalId {
                        source: SOURCES[usize::from(s)].to_owned(),
                        id: EXT_IDS[usize::from(i)].to_owned(),
                    })
                    .collect(),
                tags: tags
                    .iter()
                    .map(|&i| TAGS[usize::from(i)].to_owned())
                    .collect(),
                lifecycle: lifecycle.map(|i| LifecycleStage::ALL[usize::from(i)]),
                owner: owner.map(|i| self.tenants[t].owner(i)),
                // An organization belongs to none: only now and then ask for one (invalid).
                organization: organization
                    .filter(|p| !organization_kind || p.index % 8 == 7)
                    .map(|p| self.pick_organization(t, p)),
                ..Default::default()
            }),
            OpSpec::UpdateCustomer {
                who,
                stale,
                changes,
            } => {
                let id = self.pick_customer(t, *who);
                let current = model.customers.get(&id).map_or(1, |c| c.version);
                let expected_version = match (*stale, current) {
                    (false, v) => v,
                    (true, 1) => 2,
                    (true, v) => v - 1,
                };
                let mut patch = CustomerPatch::default();
                for c in changes {
                    let text = |pool: &[&str], i: &Option<u8>| {
                        Some(i.map(|i| pool[usize::from(i)].to_owned()))
                    };
                    match c {
                        Change::Name(i) => patch.name = text(NAMES, i),
                        Change::Email(i) => patch.email = text(EMAILS, i),
                        Change::Phone(i) => patch.phone = text(PHONES, i),
                        Change::AddExternalId(s, i) => patch.add_external_ids.push(ExternalId {
                            source: SOURCES[usize::from(*s)].to_owned(),
                            id: EXT_IDS[usize::from(*i)].to_owned(),
                        }),
                        Change::AddTags(v) => patch
                            .add_tags
                            .extend(v.iter().map(|&i| TAGS[usize::from(i)].to_owned())),
                        Change::RemoveTags(v) => patch
                            .remove_tags
                            .extend(v.iter().map(|&i| TAGS[usize::from(i)].to_owned())),
                        Change::Lifecycle(i) => {
                            patch.lifecycle = Some(LifecycleStage::ALL[usize::from(*i)]);
                        }
                        Change::Owner(i) => {
                            patch.owner = Some(i.map(|i| self.tenants[t].owner(i)));
                        }
                        Change::Organization(p) => {
                            patch.organization = Some(p.map(|p| self.pick_organization(t, p)));
                        }
                        Change::Consent(b) => patch.marketing_consent = Some(*b),
                    }
                }
                Op::UpdateCustomer {
                    id,
                    expected_version,
                    patch,
                }
            }
            OpSpec::EraseCustomer { who } => Op::EraseCustomer(self.pick_customer(t, *who)),
            OpSpec::LogInteraction {
                who,
                kind,
                external_id,
                occurred,
                due,
                status,
            } => {
                let kind = [
                    InteractionKind::Note,
                    InteractionKind::Task,
                    InteractionKind::Ticket,
                    InteractionKind::Purchase,
                    InteractionKind::Call,
                ][usize::from(*kind)];
                let mut input =
                    InteractionInput::new(self.pick_customer(t, *who), Channel::Email, kind);
                if let Some((with_source, i)) = external_id {
                    input.source = with_source.then(|| "shop".to_owned());
                    input.external_id = Some(["o1", "o2"][usize::from(*i)].to_owned());
                }
                input.occurred_at = occurred.map(|i| at(OCCURRED[usize::from(i)]));
                // The last due index means "none"; due dates on non-tasks are invalid input.
                input.due_at = due
                    .and_then(|i| DUE.get(usize::from(i)))
                    .filter(|_| kind.has_status() || status.is_some())
                    .map(|&d| at(d));
                input.status = status.map(|i| TaskStatus::ALL[usize::from(i)]);
                if kind == InteractionKind::Purchase {
                    input.amount = Some(Money::new(999, usd_or_eur(0)));
                }
                Op::LogInteraction(input)
            }
            OpSpec::SetStatus { what, status } => Op::SetInteractionStatus {
                id: self.pick_interaction(t, *what),
                status: TaskStatus::ALL[usize::from(*status)],
            },
            OpSpec::CreatePipeline { name, stages } => Op::CreatePipeline(PipelineInput {
                lost_reasons: Vec::new(),
                name: PIPELINE_NAMES[usize::from(*name)].to_owned(),
                stages: (0..usize::from(*stages))
                    .map(|i| StageInput {
                        name: format!("stage {i}"),
                        probability: STAGE_PROBABILITIES[i],
                        category: match i {
                            3 => StageCategory::Lost,
                            2 => StageCategory::Won,
                            _ => StageCategory::Open,
                        },
                    })
                    .collect(),
            }),
            OpSpec::CreateDeal {
                who,
                pipeline,
                stage,
                amount,
                currency,
            } => {
                let pipeline = self.pick_pipeline(t, *pipeline);
                let stage = stage.and_then(|s| {
                    self.any_pipeline(pipeline)
                        .and_then(|p| p.stages.get(usize::from(s)).map(|s| s.id))
                        .or(Some(StageId::from_bytes(GHOST)))
                });
                Op::CreateDeal(DealInput {
                    attributes: Default::default(),
                    customer: self.pick_customer(t, *who),
                    pipeline,
                    stage,
                    title: "deal".into(),
                    amount: Money::new(
                        AMOUNTS[usize::from(*amount)],
                        usd_or_eur(usize::from(*currency)),
                    ),
                    expected_close: None,
                    owner: None,
                })
            }
            OpSpec::MoveDeal {
                deal,
                stage,
                other_pipeline,
                at: when,
                version,
            } => {
                let id = self.pick_deal(t, *deal);
                let current = model.deals.get(&id);
                let pipeline = match other_pipeline {
                    Some(p) => self.any_pipeline(self.pick_pipeline(t, *p)),
                    None => current.and_then(|d| model.pipelines.get(&d.pipeline)),
                };
                let stage = pipeline
                    .and_then(|p| {
                        let s = usize::from(*stage) % p.stages.len().max(1);
                        p.stages.get(s).map(|s| s.id)
                    })
                    .unwrap_or(StageId::from_bytes(GHOST));
                let v = current.map_or(1, |d| d.version);
                Op::MoveDeal {
                    lost_reason: None,
                    id,
                    stage,
                    at: when.map(|i| at(MOVE_AT[usize::from(i)])),
                    expected_version: match version {
                        Version::Any => None,
                        Version::Current => Some(v),
                        Version::Stale => Some(v + 1),
                    },
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running and verifying.

fn actor() -> Actor {
    Actor::new("model-test")
}

/// Reads every page of a list; a page that promises more is full, and the page after it is not empty.
fn all_pages<T: std::fmt::Debug>(
    limit: usize,
    mut page: impl FnMut(&PageRequest) -> kith_store::Result<Page<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    let mut request = PageRequest::first(limit);
    for _ in 0..10_000 {
        let p = page(&request).unwrap();
        assert!(p.items.len() <= limit, "page longer than its limit");
        if request.after.is_some() {
            assert!(!p.items.is_empty(), "a next cursor led to an empty page");
        }
        let done = p.next.is_none();
        if !done {
            assert_eq!(p.items.len(), limit, "a page with a next cursor is full");
        }
        out.extend(p.items);
        match p.next {
            Some(c) => request = PageRequest::after(limit, c),
            None => return out,
        }
    }
    panic!("paging never ended");
}

fn filters(model: &TenantModel, other: &TenantModel) -> Vec<CustomerFilter> {
    let mut out = vec![CustomerFilter::All];
    out.extend(
        TAGS.iter()
            .map(|t| CustomerFilter::Tag(Tag::parse("tag", t).unwrap())),
    );
    out.extend(
        LifecycleStage::ALL
            .into_iter()
            .map(CustomerFilter::Lifecycle),
    );
    let owners: std::collections::BTreeSet<&String> = model
        .customers
        .values()
        .chain(other.customers.values())
        .filter_map(|c| c.owner.as_ref())
        .collect();
    out.extend(owners.into_iter().map(|o| CustomerFilter::Owner(o.clone())));
    out.extend(
        model
            .customers
            .values()
            .chain(other.customers.values())
            .filter(|c| c.kind == CustomerKind::Organization)
            .map(|c| CustomerFilter::Organization(c.id)),
    );
    out.push(CustomerFilter::Organization(CustomerId::from_bytes(GHOST)));
    out.extend(
        NAME_PREFIXES
            .iter()
            .map(|p| CustomerFilter::NamePrefix((*p).into())),
    );
    out.extend(
        EMAIL_PREFIXES
            .iter()
            .map(|p| CustomerFilter::EmailPrefix((*p).into())),
    );
    out
}

fn verify(store: &dyn Store, world: &World, limit: usize) {
    assert_eq!(store.check().unwrap(), vec![], "check() found problems");
    let stats = store.stats().unwrap();
    assert_eq!(stats.tenants.len(), 2);
    let all_customers: Vec<CustomerId> = world
        .tenants
        .iter()
        .flat_map(|t| t.customers.iter().copied())
        .collect();
    let all_interactions: Vec<InteractionId> = world
        .tenants
        .iter()
        .flat_map(|t| t.interactions.iter().copied())
        .collect();
    let all_deals: Vec<DealId> = world
        .tenants
        .iter()
        .flat_map(|t| t.deals.iter().copied())
        .collect();
    let all_pipelines: Vec<PipelineId> = world
        .tenants
        .iter()
        .flat_map(|t| t.pipelines.iter().copied())
        .collect();
    for (n, tw) in world.tenants.iter().enumerate() {
        let m = &tw.model;
        let other = &world.tenants[1 - n].model;
        let slug = &tw.slug;

        let s = stats
            .tenants
            .iter()
            .find(|s| s.tenant == slug.as_str())
            .unwrap();
        let len = |n: usize| n as u64;
        assert_eq!(
            (s.customers, s.interactions, s.pipelines, s.deals, s.events),
            (
                len(m.customers.len()),
                len(m.interactions.len()),
                len(m.pipelines.len()),
                len(m.deals.len()),
                len(m.events.len())
            ),
            "stats of {slug}"
        );

        // Point reads, with the other tenant's ids too: a tenant never sees another's data.
        for id in &all_customers {
            assert_eq!(
                store.customer(slug, *id).unwrap().as_ref(),
                m.customers.get(id)
            );
        }
        for raw in EMAILS {
            if let Ok(e) = Email::parse("email", raw) {
                // The exact address, else the oldest holder of its identity.
                let want = m
                    .customers
                    .values()
                    .find(|c| c.email.as_ref() == Some(&e))
                    .or_else(|| {
                        m.customers
                            .values()
                            .filter(|c| c.email.as_ref().map(Email::identity) == Some(e.identity()))
                            .min_by_key(|c| c.id)
                    });
                assert_eq!(store.customer_by_email(slug, &e).unwrap().as_ref(), want);
            }
        }
        for raw in PHONES {
            if let Ok(p) = Phone::parse("phone", raw, None) {
                let want = m.customers.values().find(|c| c.phone.as_ref() == Some(&p));
                assert_eq!(store.customer_by_phone(slug, &p).unwrap().as_ref(), want);
            }
        }
        for source in SOURCES {
            for id in EXT_IDS {
                let want = m.customers.values().find(|c| {
                    c.external_ids
                        .iter()
                        .any(|x| x.source == *source && x.id == *id)
                });
                let got = store.customer_by_external_id(slug, source, id).unwrap();
                assert_eq!(got.as_ref(), want);
            }
        }
        for id in &all_interactions {
            assert_eq!(
                store.interaction(slug, *id).unwrap().as_ref(),
                m.interactions.get(id)
            );
        }
        for id in &all_deals {
            assert_eq!(store.deal(slug, *id).unwrap().as_ref(), m.deals.get(id));
        }
        for id in &all_pipelines {
            assert_eq!(
                store.pipeline(slug, *id).unwrap().as_ref(),
                m.pipelines.get(id)
            );
        }

        // Lists, every page.
        for f in filters(m, other) {
            let got = all_pages(limit, |p| store.customers(slug, &f, p));
            assert_eq!(got, m.customers_matching(&f), "customers {f:?} of {slug}");
        }
        for id in &all_customers {
            let got = all_pages(limit, |p| store.timeline(slug, *id, p));
            assert_eq!(got, m.timeline(*id), "timeline of {id} in {slug}");
        }
        for until in UNTIL {
            let until = at(*until);
            let got = all_pages(limit, |p| store.due_tasks(slug, until, p));
            assert_eq!(got, m.due(until), "due tasks until {until} in {slug}");
        }
        let pipelines = all_pages(limit, |p| store.pipelines(slug, p));
        assert_eq!(pipelines, m.pipelines.values().cloned().collect::<Vec<_>>());
        for p in m.pipelines.values() {
            let got = all_pages(limit, |r| store.deals(slug, p.id, None, r));
            assert_eq!(got, m.deals_of(p.id, None), "deals of {}", p.name);
            for s in &p.stages {
                let got = all_pages(limit, |r| store.deals(slug, p.id, Some(s.id), r));
                assert_eq!(got, m.deals_of(p.id, Some(s.id)), "deals in {}", s.name);
            }
            let mut report = ReportBuilder::new(p);
            for d in m.deals_of(p.id, None) {
                report.add(&d);
            }
            assert_eq!(store.pipeline_report(slug, p.id).unwrap(), report.finish());
        }
        for p in other.pipelines.keys() {
            assert!(
                store
                    .deals(slug, *p, None, &PageRequest::first(10))
                    .unwrap()
                    .items
                    .is_empty()
            );
            assert!(matches!(
                store.pipeline_report(slug, *p),
                Err(Error::NotFound { .. })
            ));
        }

        // The event log: gap-free, one per change, in order.
        let events = store.events(slug, 0, 100_000).unwrap();
        assert_eq!(events.len(), m.events.len(), "events of {slug}");
        for (i, (got, want)) in events.iter().zip(&m.events).enumerate() {
            assert_eq!(got.seq, i as u64 + 1);
            assert_eq!(got.actor, actor());
            let got = ModelEvent {
                at: got.at,
                kind: got.kind,
                entity: got.entity,
                changed: got.changed.clone(),
            };
            assert_eq!(&got, want, "event {} of {slug}", i + 1);
        }
        assert_eq!(store.last_seq(slug).unwrap(), len(m.events.len()));
        let tail_from = m.events.len().saturating_sub(3);
        let tail = store.events(slug, tail_from as u64, 2).unwrap();
        assert_eq!(
            tail.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (tail_from as u64 + 1..=m.events.len() as u64)
                .take(2)
                .collect::<Vec<_>>()
        );
    }
}

fn run(kind: Kind, steps: &[Step]) {
    let clock = Arc::new(ManualClock(AtomicI64::new(at(-STEP).as_micros())));
    let fx = Fixture::with_clock(kind, clock.clone());
    let mut store = fx.open();
    let created = at(-STEP);
    for slug in ["alpha", "beta"] {
        let input = TenantInput {
            slug: slug.into(),
            name: None,
            industry: None,
        };
        store.create_tenant(input, &actor()).unwrap();
    }
    let mut world = World {
        tenants: [
            TenantWorld::new("alpha", created),
            TenantWorld::new("beta", created),
        ],
    };
    for tw in &mut world.tenants {
        tw.add_owners(&*store, created);
    }
    let ghost: TenantSlug = "ghost".parse().unwrap();

    for (n, step) in steps.iter().enumerate() {
        let now = at(n as i64 * STEP);
        clock.set(now);
        match step {
            Step::Write { tenant, mode, ops } => {
                let t = usize::from(*tenant);
                let ops: Vec<Op> = ops.iter().map(|s| world.build(t, s)).collect();
                let slug = world.tenants[t].slug.clone();
                let tw = &mut world.tenants[t];
                match mode {
                    Mode::Single | Mode::Atomic => {
                        let got = store.write(&slug, &actor(), ops.clone());
                        let mut next = tw.model.clone();
                        let want: Result<Vec<Output>, Fail> = ops
                            .iter()
                            .enumerate()
                            .map(|(i, op)| {
                                let hint = got.as_ref().ok().and_then(|o| o.get(i));
                                next.apply(op, hint, now)
                            })
                            .collect();
                        match (got, want) {
                            (Ok(got), Ok(want)) => {
                                assert_eq!(got, want, "step {n}: {ops:?}");
                                tw.model = next;
                                got.iter().for_each(|o| tw.record(o));
                            }
                            (Err(e), Err(f)) => assert_eq!(
                                world.normalize(fail_of(&e)),
                                world.normalize(f),
                                "step {n}: {ops:?}"
                            ),
                            (got, want) => panic!(
                                "step {n}: the store gave {got:?}, the model {want:?} for {ops:?}"
                            ),
                        }
                    }
                    Mode::Each => {
                        let got = store.write_each(&slug, &actor(), ops.clone()).unwrap();
                        assert_eq!(got.len(), ops.len());
                        for (op, got) in ops.iter().zip(got) {
                            let mut next = tw.model.clone();
                            let want = next.apply(op, got.as_ref().ok(), now);
                            match (got, want) {
                                (Ok(got), Ok(want)) => {
                                    assert_eq!(got, want, "step {n}: {op:?}");
                                    tw.model = next;
                                    tw.record(&got);
                                }
                                (Err(e), Err(f)) => assert_eq!(fail_of(&e), f, "step {n}: {op:?}"),
                                (got, want) => panic!(
                                    "step {n}: the store gave {got:?}, the model {want:?} for {op:?}"
                                ),
                            }
                        }
                    }
                }
            }
            Step::UnknownTenant(spec) => {
                let op = world.build(0, spec);
                let got = store.write(&ghost, &actor(), vec![op]);
                assert!(
                    matches!(&got, Err(Error::TenantNotFound(t)) if t == "ghost"),
                    "{got:?}"
                );
                assert!(matches!(
                    store.customers(&ghost, &CustomerFilter::All, &PageRequest::first(5)),
                    Err(Error::TenantNotFound(_))
                ));
            }
            Step::Reopen => {
                drop(store);
                store = fx.open();
            }
            Step::Verify => verify(&*store, &world, 1 + n % 3),
        }
        // Cheap enough after every step, and it pins an inconsistency to the step that made it.
        assert_eq!(store.check().unwrap(), vec![], "after step {n}");
    }
    verify(&*store, &world, 2);
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn redb_agrees_with_the_in_memory_model(steps in steps()) {
        run(Kind::Redb, &steps);
    }

    #[test]
    #[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
    fn postgres_agrees_with_the_in_memory_model(steps in steps()) {
        run(Kind::Postgres, &steps);
    }
}
