//! How records whose shape grew are stored: postcard is not self-describing, so a new field
//! cannot simply be added to a stored struct. A deal or pipeline is stored as its first shape
//! followed by an extension; a record written before the extension existed ends early and
//! reads with the extension's defaults, and an older Kith reading a newer record stops where
//! its shape ends. An extension may itself only grow at its end.
//!
//! The choice is made by the serializer: a compact one (postcard, `is_human_readable() ==
//! false`) gets this layout, a human-readable one (JSON) gets every field by name. So every
//! place that stores or reads these records, on either backend, keeps calling serde.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    AttributeValue, Consent, ConsentChannel, ConsentSource, ConsentStatus, Customer, CustomerId,
    CustomerKind, Date, Deal, DealId, Demographics, Email, ExternalId, LifecycleStage, Location,
    MARKETING, Money, Phone, Pipeline, PipelineId, Stage, StageId, StageVisit, Tag, Timestamp,
};
use std::collections::BTreeSet;

/// An extension read leniently: where the record ends before it (a record of an older
/// release), its defaults.
struct Lenient<T>(T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The only error possible here for a record of an older release is its end.
        Ok(Lenient(T::deserialize(d).unwrap_or_default()))
    }
}

impl<T: Serialize> Serialize for Lenient<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Deal")]
struct DealJson {
    id: DealId,
    customer: CustomerId,
    pipeline: PipelineId,
    stage: StageId,
    title: String,
    amount: Money,
    expected_close: Option<Date>,
    owner: Option<String>,
    history: Vec<StageVisit>,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
    #[serde(default)]
    lost_reason: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, AttributeValue>,
}

/// What deals gained after their first shape.
#[derive(Serialize, Deserialize, Default)]
struct DealExt {
    lost_reason: Option<String>,
    attributes: BTreeMap<String, AttributeValue>,
}

/// [`DealStored`] by reference, to write without copying.
#[derive(Serialize)]
struct DealStoredRef<'a> {
    id: DealId,
    customer: CustomerId,
    pipeline: PipelineId,
    stage: StageId,
    title: &'a str,
    amount: Money,
    expected_close: Option<Date>,
    owner: &'a Option<String>,
    history: &'a [StageVisit],
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
    lost_reason: &'a Option<String>,
    attributes: &'a BTreeMap<String, AttributeValue>,
}

/// A deal's stored layout: the first release's fields, then [`DealExt`].
#[derive(Serialize, Deserialize)]
struct DealStored {
    id: DealId,
    customer: CustomerId,
    pipeline: PipelineId,
    stage: StageId,
    title: String,
    amount: Money,
    expected_close: Option<Date>,
    owner: Option<String>,
    history: Vec<StageVisit>,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
    ext: Lenient<DealExt>,
}

impl Serialize for Deal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return DealJson::serialize(self, s);
        }
        // The extension's fields follow the first shape's: postcard lays a struct out as its
        // fields in order, so this is `DealStored`'s layout.
        DealStoredRef {
            id: self.id,
            customer: self.customer,
            pipeline: self.pipeline,
            stage: self.stage,
            title: &self.title,
            amount: self.amount,
            expected_close: self.expected_close,
            owner: &self.owner,
            history: &self.history,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            lost_reason: &self.lost_reason,
            attributes: &self.attributes,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Deal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            return DealJson::deserialize(d);
        }
        let s = DealStored::deserialize(d)?;
        Ok(Deal {
            id: s.id,
            customer: s.customer,
            pipeline: s.pipeline,
            stage: s.stage,
            title: s.title,
            amount: s.amount,
            expected_close: s.expected_close,
            owner: s.owner,
            history: s.history,
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
            lost_reason: s.ext.0.lost_reason,
            attributes: s.ext.0.attributes,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Pipeline")]
struct PipelineJson {
    id: PipelineId,
    name: String,
    stages: Vec<Stage>,
    created_at: Timestamp,
    version: u64,
    #[serde(default)]
    lost_reasons: Vec<String>,
}

/// What pipelines gained after their first shape.
#[derive(Serialize, Deserialize, Default)]
struct PipelineExt {
    lost_reasons: Vec<String>,
}

/// A pipeline's stored layout: the first release's fields, then [`PipelineExt`].
#[derive(Serialize, Deserialize)]
struct PipelineStored {
    id: PipelineId,
    name: String,
    stages: Vec<Stage>,
    created_at: Timestamp,
    version: u64,
    ext: Lenient<PipelineExt>,
}

impl Serialize for Pipeline {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return PipelineJson::serialize(self, s);
        }
        let p = self.clone();
        PipelineStored {
            id: p.id,
            name: p.name,
            stages: p.stages,
            created_at: p.created_at,
            version: p.version,
            ext: Lenient(PipelineExt {
                lost_reasons: p.lost_reasons,
            }),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Pipeline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            return PipelineJson::deserialize(d);
        }
        let s = PipelineStored::deserialize(d)?;
        Ok(Pipeline {
            id: s.id,
            name: s.name,
            stages: s.stages,
            created_at: s.created_at,
            version: s.version,
            lost_reasons: s.ext.0.lost_reasons,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Customer")]
struct CustomerJson {
    id: CustomerId,
    kind: CustomerKind,
    name: String,
    first_name: Option<String>,
    last_name: Option<String>,
    organization: Option<CustomerId>,
    email: Option<Email>,
    phone: Option<Phone>,
    external_ids: Vec<ExternalId>,
    location: Location,
    demographics: Demographics,
    lifecycle: LifecycleStage,
    tags: BTreeSet<Tag>,
    attributes: BTreeMap<String, AttributeValue>,
    owner: Option<String>,
    marketing_consent: bool,
    #[serde(default)]
    consents: Vec<Consent>,
    #[serde(default)]
    consent_history: Vec<Consent>,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
}

/// What customers gained after their first shape.
#[derive(Serialize, Deserialize)]
struct CustomerExt<C> {
    consents: C,
    consent_history: C,
}

/// A customer's stored layout: the first release's fields, then [`CustomerExt`] (absent from a
/// record written before consent records existed).
#[derive(Serialize, Deserialize)]
struct CustomerStored<S, O, E, P, I, L, M, T, A, C> {
    id: CustomerId,
    kind: CustomerKind,
    name: S,
    first_name: O,
    last_name: O,
    organization: Option<CustomerId>,
    email: E,
    phone: P,
    external_ids: I,
    location: L,
    demographics: M,
    lifecycle: LifecycleStage,
    tags: T,
    attributes: A,
    owner: O,
    marketing_consent: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
    ext: C,
}

impl Serialize for Customer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return CustomerJson::serialize(self, s);
        }
        CustomerStored {
            id: self.id,
            kind: self.kind,
            name: &self.name,
            first_name: &self.first_name,
            last_name: &self.last_name,
            organization: self.organization,
            email: &self.email,
            phone: &self.phone,
            external_ids: &self.external_ids,
            location: &self.location,
            demographics: &self.demographics,
            lifecycle: self.lifecycle,
            tags: &self.tags,
            attributes: &self.attributes,
            owner: &self.owner,
            marketing_consent: self.marketing_consent,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
            ext: Some(CustomerExt {
                consents: &self.consents,
                consent_history: &self.consent_history,
            }),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Customer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            return CustomerJson::deserialize(d);
        }
        type Owned = CustomerStored<
            String,
            Option<String>,
            Option<Email>,
            Option<Phone>,
            Vec<ExternalId>,
            Location,
            Demographics,
            BTreeSet<Tag>,
            BTreeMap<String, AttributeValue>,
            Lenient<Option<CustomerExt<Vec<Consent>>>>,
        >;
        let s = Owned::deserialize(d)?;
        let (consents, consent_history) = match s.ext.0 {
            Some(ext) => (ext.consents, ext.consent_history),
            // Written before consent records: `marketing_consent` was all there was, so it
            // becomes the (email, marketing) record, dated no later than the last change.
            None if s.marketing_consent => (
                vec![Consent {
                    channel: ConsentChannel::Email,
                    purpose: MARKETING.to_owned(),
                    status: ConsentStatus::Granted,
                    source: ConsentSource::Api,
                    at: s.updated_at,
                    note: Some("recorded as marketing_consent, before consent records".to_owned()),
                }],
                Vec::new(),
            ),
            None => (Vec::new(), Vec::new()),
        };
        Ok(Customer {
            id: s.id,
            kind: s.kind,
            name: s.name,
            first_name: s.first_name,
            last_name: s.last_name,
            organization: s.organization,
            email: s.email,
            phone: s.phone,
            external_ids: s.external_ids,
            location: s.location,
            demographics: s.demographics,
            lifecycle: s.lifecycle,
            tags: s.tags,
            attributes: s.attributes,
            owner: s.owner,
            marketing_consent: s.marketing_consent,
            consents,
            consent_history,
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: s.version,
        })
    }
}
