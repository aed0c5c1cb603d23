//! Records whose shape grew after they were first stored: events (their chain depth) and
//! enablements (population budgets and the webhook signature the host checks).
//!
//! postcard is not self-describing, so a new field cannot simply be added to a stored struct.
//! Instead such a record is stored as its first shape followed by an extension. A record
//! written before the extension existed ends early and reads with the extension's defaults; an
//! older Kith reading a newer record stops where its shape ends and ignores the rest. An
//! extension may itself only grow at its end, the same way. This keeps old files readable
//! without rewriting every event at start-up.
//!
//! Every backend stores records in this encoding (postcard), so what one writes the other reads.

use kith_model::{
    Actor, Enablement, EntityRef, Event, EventKind, LimitOverrides, Timestamp, WebhookSignature,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The events table's name in errors.
const EVENTS: &str = "events";
/// The enablements table's name in errors.
const ENABLEMENTS: &str = "plugin_enablements";

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

/// What events gained since.
#[derive(Serialize, Deserialize)]
struct EventExt {
    depth: u8,
}

/// Encodes an event; an event with depth 0 is written in its first shape alone.
pub(crate) fn encode_event(e: &Event) -> Result<Vec<u8>> {
    let mut bytes = encode(&EventV1 {
        seq: e.seq,
        at: e.at,
        actor: &e.actor,
        kind: e.kind,
        entity: e.entity,
        changed: &e.changed,
    })?;
    if e.depth > 0 {
        bytes.extend(encode(&EventExt { depth: e.depth })?);
    }
    Ok(bytes)
}

/// Decodes an event of either shape.
pub(crate) fn decode_event(bytes: &[u8]) -> Result<Event> {
    let (v1, rest): (EventV1<Actor, Vec<String>>, _) =
        postcard::take_from_bytes(bytes).map_err(|e| corrupt(EVENTS, &e))?;
    let ext = extension(EVENTS, rest)?.unwrap_or(EventExt { depth: 0 });
    Ok(Event {
        seq: v1.seq,
        at: v1.at,
        actor: v1.actor,
        kind: v1.kind,
        entity: v1.entity,
        changed: v1.changed,
        depth: ext.depth,
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
