//! Records whose shape grew after they were first stored: events (their chain depth, then the
//! old and new values of changes), enablements (population budgets and the webhook signature
//! the host checks) and interactions (their deal, and the fields of work items).
//!
//! postcard is not self-describing, so a new field cannot simply be added to a stored struct.
//! Instead such a record is stored as its first shape followed by an extension. A record
//! written before the extension existed ends early and reads with the extension's defaults; an
//! older Kith reading a newer record stops where its shape ends and ignores the rest. An
//! extension may itself only grow at its end, the same way. This keeps old files readable
//! without rewriting every event at start-up.
//!
//! Every backend stores records in this encoding (postcard), so what one writes the other reads.

use std::collections::BTreeMap;

use kith_model::{
    Actor, AttributeValue, Channel, CustomerId, DealId, Direction, Enablement, EntityRef, Event,
    EventKind, FieldChange, Interaction, InteractionId, InteractionKind, LimitOverrides, Money,
    Priority, TaskStatus, Timestamp, WebhookSignature,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The events table's name in errors.
const EVENTS: &str = "events";
/// The enablements table's name in errors.
const ENABLEMENTS: &str = "plugin_enablements";
/// The interactions table's name in errors.
pub(crate) const INTERACTIONS: &str = "interactions";

/// Encodes a record.
pub(crate) fn encode<V: Serialize>(value: &V) -> Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|e| Error::Storage(format!("encoding failed: {e}")))
}

/// Decodes a record of `table`.
pub(crate) fn decode<V: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<V> {
    postcard::from_bytes(bytes).map_err(|e| Error::Corrupt {
        table,
        detail: e.to_string(),
    })
}

/// An event's first stored shape.
#[derive(Serialize, Deserialize)]
struct EventV1<A, C> {
    seq: u64,
    at: Timestamp,
    actor: A,
    kind: EventKind,
    entity: EntityRef,
    changed: C,
}

/// What events gained first.
#[derive(Serialize, Deserialize)]
struct EventExt {
    depth: u8,
}

/// What events gained next.
#[derive(Serialize, Deserialize)]
struct EventExt2<C> {
    changes: C,
}

/// Encodes an event; an event with depth 0 and no recorded values is written in its first
/// shape alone.
pub(crate) fn encode_event(e: &Event) -> Result<Vec<u8>> {
    let mut bytes = encode(&EventV1 {
        seq: e.seq,
        at: e.at,
        actor: &e.actor,
        kind: e.kind,
        entity: e.entity,
        changed: &e.changed,
    })?;
    if e.depth > 0 || !e.changes.is_empty() {
        bytes.extend(encode(&EventExt { depth: e.depth })?);
    }
    if !e.changes.is_empty() {
        bytes.extend(encode(&EventExt2 {
            changes: &e.changes,
        })?);
    }
    Ok(bytes)
}

/// Decodes an event of either shape.
pub(crate) fn decode_event(bytes: &[u8]) -> Result<Event> {
    let (v1, rest): (EventV1<Actor, Vec<String>>, _) =
        postcard::take_from_bytes(bytes).map_err(|e| corrupt(EVENTS, &e))?;
    let (ext, rest) = extension_then(EVENTS, rest)?;
    let ext = ext.unwrap_or(EventExt { depth: 0 });
    let ext2: Option<EventExt2<Vec<FieldChange>>> = extension(EVENTS, rest)?;
    Ok(Event {
        seq: v1.seq,
        at: v1.at,
        actor: v1.actor,
        kind: v1.kind,
        entity: v1.entity,
        changed: v1.changed,
        depth: ext.depth,
        changes: ext2.map(|x| x.changes).unwrap_or_default(),
    })
}

/// An enablement's first stored shape.
#[derive(Serialize, Deserialize)]
struct EnablementV1<S> {
    plugin: S,
    hash: S,
    version: S,
    config_json: S,
    enabled_at: Timestamp,
    updated_at: Timestamp,
    limits: LimitOverrides,
    population_interval_secs: Option<u64>,
}

/// What enablements gained since.
#[derive(Serialize, Deserialize, Default)]
struct EnablementExt {
    population_limits: LimitOverrides,
    signature: Option<WebhookSignature>,
}

/// Encodes an enablement.
pub(crate) fn encode_enablement(e: &Enablement) -> Result<Vec<u8>> {
    let mut bytes = encode(&EnablementV1 {
        plugin: e.plugin.as_str(),
        hash: e.hash.as_str(),
        version: e.version.as_str(),
        config_json: e.config_json.as_str(),
        enabled_at: e.enabled_at,
        updated_at: e.updated_at,
        limits: e.limits,
        population_interval_secs: e.population_interval_secs,
    })?;
    bytes.extend(encode(&EnablementExt {
        population_limits: e.population_limits,
        signature: e.signature.clone(),
    })?);
    Ok(bytes)
}

/// Decodes an enablement of either shape.
pub(crate) fn decode_enablement(bytes: &[u8]) -> Result<Enablement> {
    let (v1, rest): (EnablementV1<String>, _) =
        postcard::take_from_bytes(bytes).map_err(|e| corrupt(ENABLEMENTS, &e))?;
    let ext: EnablementExt = extension(ENABLEMENTS, rest)?.unwrap_or_default();
    Ok(Enablement {
        plugin: v1.plugin,
        hash: v1.hash,
        version: v1.version,
        config_json: v1.config_json,
        enabled_at: v1.enabled_at,
        updated_at: v1.updated_at,
        limits: v1.limits,
        population_interval_secs: v1.population_interval_secs,
        population_limits: ext.population_limits,
        signature: ext.signature,
    })
}

/// An extension that may itself be followed by a later one, and what follows it.
fn extension_then<'a, X: for<'de> Deserialize<'de>>(
    t: &'static str,
    rest: &'a [u8],
) -> Result<(Option<X>, &'a [u8])> {
    if rest.is_empty() {
        return Ok((None, rest));
    }
    let (x, rest) = postcard::take_from_bytes(rest).map_err(|e| corrupt(t, &e))?;
    Ok((Some(x), rest))
}

/// An interaction's first stored shape.
#[derive(Serialize, Deserialize)]
struct InteractionV1<S, A> {
    id: InteractionId,
    customer: CustomerId,
    channel: Channel,
    kind: InteractionKind,
    direction: Direction,
    occurred_at: Timestamp,
    subject: Option<S>,
    body: Option<S>,
    amount: Option<Money>,
    status: Option<TaskStatus>,
    due_at: Option<Timestamp>,
    rating: Option<u8>,
    attributes: A,
    source: Option<S>,
    external_id: Option<S>,
    created_at: Timestamp,
    version: u64,
}

/// What interactions gained since: the deal, and the fields of work items.
#[derive(Serialize, Deserialize, Default)]
struct InteractionExt<S> {
    deal: Option<DealId>,
    assignee: Option<S>,
    priority: Option<Priority>,
    category: Option<S>,
    resolution: Option<S>,
    first_answered_at: Option<Timestamp>,
    resolved_at: Option<Timestamp>,
}

/// Encodes an interaction; one without a deal or work fields is written in its first shape.
pub(crate) fn encode_interaction(i: &Interaction) -> Result<Vec<u8>> {
    let mut bytes = encode(&InteractionV1 {
        id: i.id,
        customer: i.customer,
        channel: i.channel,
        kind: i.kind,
        direction: i.direction,
        occurred_at: i.occurred_at,
        subject: i.subject.as_deref(),
        body: i.body.as_deref(),
        amount: i.amount,
        status: i.status,
        due_at: i.due_at,
        rating: i.rating,
        attributes: &i.attributes,
        source: i.source.as_deref(),
        external_id: i.external_id.as_deref(),
        created_at: i.created_at,
        version: i.version,
    })?;
    let ext = InteractionExt {
        deal: i.deal,
        assignee: i.assignee.as_deref(),
        priority: i.priority,
        category: i.category.as_deref(),
        resolution: i.resolution.as_deref(),
        first_answered_at: i.first_answered_at,
        resolved_at: i.resolved_at,
    };
    let plain = ext.deal.is_none()
        && ext.assignee.is_none()
        && ext.priority.is_none()
        && ext.category.is_none()
        && ext.resolution.is_none()
        && ext.first_answered_at.is_none()
        && ext.resolved_at.is_none();
    if !plain {
        bytes.extend(encode(&ext)?);
    }
    Ok(bytes)
}

/// Decodes an interaction of either shape. A work item stored before work items had a
/// priority reads as normal priority.
pub(crate) fn decode_interaction(bytes: &[u8]) -> Result<Interaction> {
    let (v1, rest): (InteractionV1<String, BTreeMap<String, AttributeValue>>, _) =
        postcard::take_from_bytes(bytes).map_err(|e| corrupt(INTERACTIONS, &e))?;
    let ext: InteractionExt<String> = extension(INTERACTIONS, rest)?.unwrap_or_default();
    let priority = ext
        .priority
        .or_else(|| v1.kind.has_status().then_some(Priority::Normal));
    Ok(Interaction {
        id: v1.id,
        customer: v1.customer,
        channel: v1.channel,
        kind: v1.kind,
        direction: v1.direction,
        occurred_at: v1.occurred_at,
        subject: v1.subject,
        body: v1.body,
        amount: v1.amount,
        status: v1.status,
        due_at: v1.due_at,
        rating: v1.rating,
        attributes: v1.attributes,
        source: v1.source,
        external_id: v1.external_id,
        created_at: v1.created_at,
        version: v1.version,
        deal: ext.deal,
        assignee: ext.assignee,
        priority,
        category: ext.category,
        resolution: ext.resolution,
        first_answered_at: ext.first_answered_at,
        resolved_at: ext.resolved_at,
    })
}

/// The extension after a record's first shape, if it has one.
fn extension<X: for<'de> Deserialize<'de>>(t: &'static str, rest: &[u8]) -> Result<Option<X>> {
    if rest.is_empty() {
        return Ok(None);
    }
    postcard::from_bytes(rest)
        .map(Some)
        .map_err(|e| corrupt(t, &e))
}

fn corrupt(table: &'static str, e: &postcard::Error) -> Error {
    Error::Corrupt {
        table,
        detail: e.to_string(),
    }
}

/// The due time a work item sorts by: its due date, or last without one.
pub(crate) fn work_due(i: &Interaction) -> i64 {
    i.due_at.map_or(i64::MAX, Timestamp::as_micros)
}

/// The priority rank a work item sorts by (urgent first).
pub(crate) fn work_rank(i: &Interaction) -> u8 {
    i.priority.unwrap_or(Priority::Normal).rank()
}

/// Length of a [`work_position`].
pub(crate) const WORK_POSITION_LEN: usize = 25;

/// A work item's place in a queue as bytes, in byte order = queue order: due time (signed, in
/// order), priority rank, id. Both backends' queue cursors hold one.
pub(crate) fn work_position(due: i64, rank: u8, id: [u8; 16]) -> [u8; WORK_POSITION_LEN] {
    let mut k = [0u8; WORK_POSITION_LEN];
    k[..8].copy_from_slice(&((due as u64) ^ (1 << 63)).to_be_bytes());
    k[8] = rank;
    k[9..].copy_from_slice(&id);
    k
}

/// The parts of a [`work_position`]: due time, rank, id.
pub(crate) fn split_work_position(k: &[u8]) -> Result<(i64, u8, [u8; 16])> {
    let bad = || Error::BadCursor;
    if k.len() != WORK_POSITION_LEN {
        return Err(bad());
    }
    let due = u64::from_be_bytes(k[..8].try_into().map_err(|_| bad())?) ^ (1 << 63);
    let id: [u8; 16] = k[9..].try_into().map_err(|_| bad())?;
    Ok((due as i64, k[8], id))
}

/// A quota's identity as bytes (subject kind and id, period, start, currency), in the order
/// quotas are listed; both backends key quotas by it, after the tenant.
pub(crate) fn quota_key(q: &kith_model::Quota) -> Vec<u8> {
    let mut k = Vec::with_capacity(25);
    match q.subject {
        kith_model::QuotaSubject::User(u) => {
            k.push(0);
            k.extend_from_slice(&u.to_bytes());
        }
        kith_model::QuotaSubject::Team(t) => {
            k.push(1);
            k.extend_from_slice(&t.to_bytes());
        }
    }
    k.push(q.period.code());
    // Byte order = date order, before 1970 too.
    k.extend_from_slice(&((q.start.days() as u32) ^ (1 << 31)).to_be_bytes());
    k.extend_from_slice(q.target.currency.code().as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_model::CustomerId;

    fn event(depth: u8) -> Event {
        Event {
            seq: 7,
            at: Timestamp::from_micros(1_700_000_000_000_000),
            actor: Actor::new("plugin:kith.test"),
            kind: EventKind::CustomerCreated,
            entity: EntityRef::Customer(CustomerId::generate()),
            changed: vec!["email".into()],
            depth,
            changes: Vec::new(),
        }
    }

    fn enablement() -> Enablement {
        Enablement {
            plugin: "kith.shopify-orders".into(),
            hash: "ab".repeat(32),
            version: "0.2.0".into(),
            config_json: r#"{"secret":"s"}"#.into(),
            enabled_at: Timestamp::from_micros(1),
            updated_at: Timestamp::from_micros(2),
            limits: LimitOverrides {
                fuel: Some(5),
                deadline_ms: None,
                memory_bytes: Some(1 << 20),
            },
            population_interval_secs: Some(3600),
            population_limits: LimitOverrides {
                deadline_ms: Some(20_000),
                ..LimitOverrides::default()
            },
            signature: Some(WebhookSignature {
                header: "X-Shopify-Hmac-Sha256".into(),
                secret: "/secret".into(),
            }),
        }
    }

    #[test]
    fn events_round_trip_with_and_without_depth() {
        for depth in [0, 1, 4, 255] {
            let e = event(depth);
            assert_eq!(decode_event(&encode_event(&e).unwrap()).unwrap(), e);
        }
    }

    #[test]
    fn an_event_stored_before_depths_existed_reads_as_depth_zero() {
        // What the first release wrote: the whole struct, postcard-encoded.
        let e = event(0);
        let old = postcard::to_allocvec(&EventV1 {
            seq: e.seq,
            at: e.at,
            actor: e.actor.clone(),
            kind: e.kind,
            entity: e.entity,
            changed: e.changed.clone(),
        })
        .unwrap();
        assert_eq!(decode_event(&old).unwrap(), e);
        // And an older reader of a new event stops where its shape ends.
        let new = encode_event(&event(3)).unwrap();
        let (v1, rest): (EventV1<Actor, Vec<String>>, _) = postcard::take_from_bytes(&new).unwrap();
        assert_eq!(v1.seq, 7);
        assert!(!rest.is_empty());
    }

    #[test]
    fn events_with_values_round_trip_and_depth_only_ones_still_read() {
        for depth in [0, 2] {
            let mut e = event(depth);
            e.changes = vec![FieldChange::new(
                "status",
                Some("open".into()),
                Some("resolved".into()),
            )];
            assert_eq!(decode_event(&encode_event(&e).unwrap()).unwrap(), e);
        }
        // What the previous release wrote: the first shape and the depth extension.
        let e = event(3);
        let mut old = postcard::to_allocvec(&EventV1 {
            seq: e.seq,
            at: e.at,
            actor: e.actor.clone(),
            kind: e.kind,
            entity: e.entity,
            changed: e.changed.clone(),
        })
        .unwrap();
        old.extend(postcard::to_allocvec(&EventExt { depth: 3 }).unwrap());
        assert_eq!(decode_event(&old).unwrap(), e);
    }

    fn interaction(kind: InteractionKind) -> Interaction {
        let mut input =
            kith_model::InteractionInput::new(CustomerId::generate(), Channel::Email, kind);
        input.subject = Some("Where is my order?".into());
        Interaction::new(
            InteractionId::generate(),
            input,
            Timestamp::from_micros(1_700_000_000_000_000),
        )
        .unwrap()
    }

    #[test]
    fn interactions_round_trip_and_plain_ones_keep_their_first_shape() {
        let mut ticket = interaction(InteractionKind::Ticket);
        ticket.assignee = Some("usr_1".into());
        ticket.category = Some("delivery".into());
        ticket.deal = Some(DealId::generate());
        ticket.first_answered_at = Some(Timestamp::from_micros(1_700_000_100_000_000));
        assert_eq!(
            decode_interaction(&encode_interaction(&ticket).unwrap()).unwrap(),
            ticket
        );
        let note = interaction(InteractionKind::Note);
        let bytes = encode_interaction(&note).unwrap();
        assert_eq!(decode_interaction(&bytes).unwrap(), note);
        // A plain note is exactly what the first release wrote for it.
        let v1 = InteractionV1 {
            id: note.id,
            customer: note.customer,
            channel: note.channel,
            kind: note.kind,
            direction: note.direction,
            occurred_at: note.occurred_at,
            subject: note.subject.clone(),
            body: note.body.clone(),
            amount: note.amount,
            status: note.status,
            due_at: note.due_at,
            rating: note.rating,
            attributes: note.attributes.clone(),
            source: note.source.clone(),
            external_id: note.external_id.clone(),
            created_at: note.created_at,
            version: note.version,
        };
        assert_eq!(postcard::to_allocvec(&v1).unwrap(), bytes);
    }

    #[test]
    fn a_task_stored_by_the_first_release_reads_as_normal_priority_with_old_statuses_renamed() {
        let task = interaction(InteractionKind::Task);
        for (code, status) in [(2u8, TaskStatus::Resolved), (3u8, TaskStatus::Closed)] {
            let mut old = postcard::to_allocvec(&InteractionV1 {
                id: task.id,
                customer: task.customer,
                channel: task.channel,
                kind: task.kind,
                direction: task.direction,
                occurred_at: task.occurred_at,
                subject: task.subject.clone(),
                body: None::<String>,
                amount: None,
                status: None,
                due_at: None,
                rating: None,
                attributes: task.attributes.clone(),
                source: None::<String>,
                external_id: None::<String>,
                created_at: task.created_at,
                version: 1,
            })
            .unwrap();
            // The first release's `done` (2) and `cancelled` (3): patch the status option in.
            let plain_len = old.len();
            let with_status = postcard::to_allocvec(&Some(TaskStatus::Open)).unwrap();
            assert_eq!(with_status, [1, 0]);
            let status_at = status_offset(&task);
            old.splice(status_at..status_at + 1, [1, code]);
            assert_eq!(old.len(), plain_len + 1);
            let read = decode_interaction(&old).unwrap();
            assert_eq!(read.status, Some(status));
            assert_eq!(read.priority, Some(Priority::Normal));
            assert_eq!((read.assignee, read.deal), (None, None));
        }
    }

    /// Where a plain task's `status` option sits in its first shape.
    fn status_offset(task: &Interaction) -> usize {
        let head = postcard::to_allocvec(&(
            task.id,
            task.customer,
            task.channel,
            task.kind,
            task.direction,
            task.occurred_at,
            task.subject.clone(),
            None::<String>,
            None::<Money>,
        ))
        .unwrap();
        head.len()
    }

    #[test]
    fn work_positions_sort_as_queues_do() {
        let id = [7u8; 16];
        let early_low = work_position(-5, 3, id);
        let early_urgent = work_position(-5, 0, id);
        let later = work_position(1_000, 0, id);
        let none = work_position(i64::MAX, 0, id);
        assert!(early_urgent < early_low && early_low < later && later < none);
        assert_eq!(split_work_position(&later).unwrap(), (1_000, 0, id));
        assert!(split_work_position(&later[..24]).is_err());
    }

    #[test]
    fn enablements_round_trip_and_old_ones_read_with_defaults() {
        let e = enablement();
        assert_eq!(
            decode_enablement(&encode_enablement(&e).unwrap()).unwrap(),
            e
        );
        let old = postcard::to_allocvec(&EnablementV1 {
            plugin: e.plugin.clone(),
            hash: e.hash.clone(),
            version: e.version.clone(),
            config_json: e.config_json.clone(),
            enabled_at: e.enabled_at,
            updated_at: e.updated_at,
            limits: e.limits,
            population_interval_secs: e.population_interval_secs,
        })
        .unwrap();
        let read = decode_enablement(&old).unwrap();
        assert_eq!(read.population_limits, LimitOverrides::default());
        assert_eq!(read.signature, None);
        assert_eq!(read.limits, e.limits);
    }

    #[test]
    fn a_damaged_extension_is_reported_as_corruption() {
        let e = enablement();
        let whole = encode_enablement(&e).unwrap();
        let ext_len = encode(&EnablementExt {
            population_limits: e.population_limits,
            signature: e.signature.clone(),
        })
        .unwrap()
        .len();
        let mut bytes = whole[..whole.len() - ext_len].to_vec();
        // An option tag that is neither 0 nor 1.
        bytes.push(0x05);
        assert!(matches!(
            decode_enablement(&bytes),
            Err(Error::Corrupt {
                table: "plugin_enablements",
                ..
            })
        ));
    }
}
