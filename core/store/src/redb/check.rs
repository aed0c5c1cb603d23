//! `kith check`: every index entry against the primary data, and each event log's sequence.

use std::collections::{BTreeMap, HashSet};

use redb::{ReadTransaction, ReadableTable};

use super::apply::TenantRecord;
use super::derive::{self, Entry};
use super::query::open;
use super::tables::T;
use super::tx::decode;
use super::txn::field_index_key;
use crate::Inconsistency;
use crate::Result;
use kith_model::{
    AttributeValue, Customer, Deal, FieldDefinition, FieldObject, Pipeline, StoredScore,
    StoredSegments, Team, User,
};

/// Derives the index entries of one primary record (tenant number, key, value), or says what is wrong.
type Derive<'a> = dyn FnMut(u32, &[u8], &[u8]) -> std::result::Result<Vec<Entry>, String> + 'a;

pub(super) fn check(txn: &ReadTransaction) -> Result<Vec<Inconsistency>> {
    let mut problems = Vec::new();
    let mut tenants: BTreeMap<u32, String> = BTreeMap::new();
    for row in open(txn, T::Tenants)?.iter()? {
        let (_, v) = row?;
        match decode::<TenantRecord>(T::Tenants, v.value()) {
            Ok(r) => {
                tenants.insert(r.number, r.tenant.slug.to_string());
            }
            Err(e) => problems.push(Inconsistency {
                tenant: String::new(),
                problem: e.to_string(),
            }),
        }
    }
    let name = |key: &[u8]| -> Option<(u32, String)> {
        let n = u32::from_be_bytes(key.get(..4)?.try_into().ok()?);
        tenants.get(&n).map(|s| (n, s.clone()))
    };
    let mut report = |key: &[u8], problem: String| {
        let tenant = name(key)
            .map(|(_, s)| s)
            .unwrap_or_else(|| "(unknown tenant)".into());
        problems.push(Inconsistency { tenant, problem });
    };

    // The unique and sortable custom fields, whose values the field index holds.
    let mut indexed: BTreeMap<(u32, FieldObject), Vec<FieldDefinition>> = BTreeMap::new();
    for row in open(txn, T::FieldDefinitions)?.iter()? {
        let (k, v) = row?;
        let n = k
            .value()
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes);
        match (n, decode::<FieldDefinition>(T::FieldDefinitions, v.value())) {
            (Some(n), Ok(d)) if d.indexed() => indexed.entry((n, d.object)).or_default().push(d),
            (_, Err(e)) => report(k.value(), e.to_string()),
            _ => {}
        }
    }
    let field_entries = |n: u32,
                         object: FieldObject,
                         id: [u8; 16],
                         attributes: &BTreeMap<String, AttributeValue>| {
        let mut out = Vec::new();
        for d in indexed.get(&(n, object)).into_iter().flatten() {
            for v in d.index_values(attributes.get(&d.key)) {
                let key = field_index_key(n, object, &d.key).bytes(&v).id(id).done();
                out.push((T::IdxField, key, Vec::new()));
            }
        }
        out
    };

    // What the primary data says the indexes must hold.
    let mut expected: HashSet<Entry> = HashSet::new();
    let mut scan = |t: T, f: &mut Derive<'_>| -> Result<Vec<(Vec<u8>, String)>> {
        let mut bad = Vec::new();
        for row in open(txn, t)?.iter()? {
            let (k, v) = row?;
            let key = k.value();
            let Some(n) = key
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
            else {
                bad.push((
                    key.to_vec(),
                    format!("{}: key shorter than a tenant prefix", t.name()),
                ));
                continue;
            };
            match f(n, key, v.value()) {
                Ok(entries) => expected.extend(entries),
                Err(e) => bad.push((key.to_vec(), e)),
            }
        }
        Ok(bad)
    };
    let mut bad = Vec::new();
    bad.extend(scan(T::Customers, &mut |n, k, v| {
        let c: Customer = decode(T::Customers, v).map_err(|e| e.to_string())?;
        if k.get(4..) != Some(&c.id.to_bytes()[..]) {
            return Err(format!("customer {} stored under another key", c.id));
        }
        let mut entries = derive::customer_entries(n, &c);
        entries.extend(field_entries(
            n,
            FieldObject::Customer,
            c.id.to_bytes(),
            &c.attributes,
        ));
        Ok(entries)
    })?);
    bad.extend(scan(T::Interactions, &mut |n, _, v| {
        let i = crate::records::decode_interaction(v).map_err(|e| e.to_string())?;
        let mut entries = derive::interaction_entries(n, &i);
        if i.status.is_some() {
            let id = i.id.to_bytes();
            entries.extend(field_entries(n, FieldObject::WorkItem, id, &i.attributes));
        }
        Ok(entries)
    })?);
    bad.extend(scan(T::Pipelines, &mut |n, _, v| {
        let p: Pipeline = decode(T::Pipelines, v).map_err(|e| e.to_string())?;
        Ok(derive::pipeline_entries(n, &p))
    })?);
    bad.extend(scan(T::Deals, &mut |n, _, v| {
        let d: Deal = decode(T::Deals, v).map_err(|e| e.to_string())?;
        let mut entries = derive::deal_entries(n, &d, v);
        entries.extend(field_entries(
            n,
            FieldObject::Deal,
            d.id.to_bytes(),
            &d.attributes,
        ));
        Ok(entries)
    })?);
    bad.extend(scan(T::Users, &mut |n, _, v| {
        let u: User = decode(T::Users, v).map_err(|e| e.to_string())?;
        Ok(derive::user_entries(n, &u))
    })?);
    bad.extend(scan(T::Teams, &mut |n, _, v| {
        let t: Team = decode(T::Teams, v).map_err(|e| e.to_string())?;
        Ok(derive::team_entries(n, &t))
    })?);
    bad.extend(scan(T::Scores, &mut |n, _, v| {
        let s: StoredScore = decode(T::Scores, v).map_err(|e| e.to_string())?;
        Ok(derive::score_entries(n, &s))
    })?);
    bad.extend(scan(T::Segments, &mut |n, _, v| {
        let s: StoredSegments = decode(T::Segments, v).map_err(|e| e.to_string())?;
        Ok(derive::segment_entries(n, &s))
    })?);
    for (k, p) in bad {
        report(&k, p);
    }

    // References between primary records.
    let customers = open(txn, T::Customers)?;
    let exists = |n: u32, id: [u8; 16]| -> Result<bool> {
        let mut key = n.to_be_bytes().to_vec();
        key.extend_from_slice(&id);
        Ok(customers.get(key.as_slice())?.is_some())
    };
    for t in [T::Interactions, T::Deals] {
        for row in open(txn, t)?.iter()? {
            let (k, v) = row?;
            let Some(n) = k
                .value()
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
            else {
                continue;
            };
            let customer = match t {
                T::Interactions => {
                    crate::records::decode_interaction(v.value()).map(|i| i.customer)
                }
                _ => decode::<Deal>(t, v.value()).map(|d| d.customer),
            };
            if let Ok(c) = customer
                && !exists(n, c.to_bytes())?
            {
                report(
                    k.value(),
                    format!("{} entry refers to missing customer {c}", t.name()),
                );
            }
        }
    }

    // Every index entry must be expected, and every expected entry present.
    let mut seen: HashSet<Entry> = HashSet::new();
    for t in T::INDEXES {
        for row in open(txn, *t)?.iter()? {
            let (k, v) = row?;
            let entry = (*t, k.value().to_vec(), v.value().to_vec());
            if expected.contains(&entry) {
                seen.insert(entry);
            } else {
                report(k.value(), format!("{}: stray or stale entry", t.name()));
            }
        }
    }
    let mut missing: Vec<&Entry> = expected.difference(&seen).collect();
    missing.sort();
    for (t, k, _) in missing {
        report(k, format!("{}: missing entry", t.name()));
    }

    // Event logs: 1..=head without gaps, nothing past the head.
    let heads = open(txn, T::Heads)?;
    let events = open(txn, T::Events)?;
    for (n, slug) in &tenants {
        let head = heads
            .get(n.to_be_bytes().as_slice())?
            .and_then(|g| g.value().try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        let start = n.to_be_bytes().to_vec();
        let mut end = start.clone();
        end.extend_from_slice(&u64::MAX.to_be_bytes());
        let mut want = 1u64;
        for row in events.range::<&[u8]>(start.as_slice()..=end.as_slice())? {
            let (k, v) = row?;
            let seq = k
                .value()
                .get(4..12)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if seq != want {
                problems.push(Inconsistency {
                    tenant: slug.clone(),
                    problem: format!("event log: expected sequence {want}, found {seq}"),
                });
            }
            match crate::records::decode_event(v.value()) {
                Ok(e) if e.seq == seq => {}
                Ok(e) => problems.push(Inconsistency {
                    tenant: slug.clone(),
                    problem: format!("event {seq} records sequence {}", e.seq),
                }),
                Err(e) => problems.push(Inconsistency {
                    tenant: slug.clone(),
                    problem: e.to_string(),
                }),
            }
            want = seq + 1;
        }
        if want - 1 != head {
            problems.push(Inconsistency {
                tenant: slug.clone(),
                problem: format!("event log ends at {} but its head says {head}", want - 1),
            });
        }
    }
    Ok(problems)
}
