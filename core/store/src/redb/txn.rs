//! The engine's [`Txn`] over redb tables: records under their keys, the index entries `derive`
//! says they imply, uniqueness checked against those entries, and the event log.

use std::collections::HashSet;

use super::derive::{self, Entry};
use super::plugin_state::{output_key, plugin_key, read_u64};
use super::tables::{K, T, trailing_id};
use super::tx::{Tx, decode, encode};
use crate::engine::{Mark, NewEvent, Txn};
use crate::records::{decode_enablement, encode_enablement, encode_event, quota_key};
use crate::{Error, Result};
use kith_model::StoredJob;
use kith_model::{
    Customer, CustomerId, Deal, DealId, Delivery, Email, Enablement, FieldDefinition, FieldObject,
    Interaction, InteractionId, Phone, Pipeline, PipelineId, PluginHealth, Quota, StoredModel,
    StoredScore, StoredSegments, TaskStatus, Team, TeamId, User, UserId,
};

/// One tenant's view of a redb write transaction.
pub(crate) struct RedbTxn<'a, 'txn> {
    tx: &'a mut Tx<'txn>,
    tenant: u32,
}

impl<'a, 'txn> RedbTxn<'a, 'txn> {
    pub(crate) fn new(tx: &'a mut Tx<'txn>, tenant: u32) -> Self {
        Self { tx, tenant }
    }

    fn key(&self, id: [u8; 16]) -> Vec<u8> {
        K::t(self.tenant).id(id).done()
    }

    /// The id an index entry points at.
    fn index_id(&self, t: T, key: &[u8]) -> Result<Option<[u8; 16]>> {
        match self.tx.get(t, key)? {
            Some(v) => Ok(Some(v.as_slice().try_into().map_err(|_| {
                Error::Corrupt {
                    table: t.name(),
                    detail: "index value is not an id".into(),
                }
            })?)),
            None => Ok(None),
        }
    }

    /// The ids at the end of every key of `t` under `prefix`.
    fn ids_under(&self, t: T, prefix: &[u8]) -> Result<Vec<[u8; 16]>> {
        self.tx
            .scan(t, prefix)?
            .into_iter()
            .map(|(key, _)| trailing_id(&key).ok_or_else(|| dangling(t)))
            .collect()
    }

    /// Up to `limit` customers whose email has `email`'s identity (any case).
    fn identity_holders(&self, email: &Email, limit: usize) -> Result<Vec<CustomerId>> {
        let prefix = derive::email_like_key(self.tenant, email).done();
        self.tx
            .scan_keys(T::IdxEmailLike, &prefix, limit)?
            .iter()
            .map(|k| {
                trailing_id(k)
                    .map(CustomerId::from_bytes)
                    .ok_or_else(|| dangling(T::IdxEmailLike))
            })
            .collect()
    }

    /// Inserts index entries, refusing a unique key that belongs to another entity.
    fn insert_entries(
        &mut self,
        entries: &[Entry],
        dup: impl Fn(&Entry, &[u8]) -> Error,
    ) -> Result<()> {
        for e in entries {
            let (table, key, value) = e;
            if derive::is_unique(*table)
                && let Some(existing) = self.tx.get(*table, key)?
            {
                if existing != *value {
                    return Err(dup(e, &existing));
                }
                continue;
            }
            self.tx.put(*table, key, value)?;
        }
        Ok(())
    }

    /// Removes `old` entries not in `new`, then inserts `new` entries not in `old`.
    fn replace_entries(
        &mut self,
        old: &[Entry],
        new: &[Entry],
        dup: impl Fn(&Entry, &[u8]) -> Error,
    ) -> Result<()> {
        let new_set: HashSet<&Entry> = new.iter().collect();
        let old_set: HashSet<&Entry> = old.iter().collect();
        for e in old.iter().filter(|e| !new_set.contains(e)) {
            self.tx.del(e.0, &e.1)?;
        }
        let added: Vec<Entry> = new
            .iter()
            .filter(|e| !old_set.contains(e))
            .cloned()
            .collect();
        self.insert_entries(&added, dup)
    }

    /// [`replace_entries`](Self::replace_entries) for an index without unique keys: an output
    /// written again as it was (a rescore that changes nothing) writes no index entry.
    fn replace_index_entries(&mut self, old: &[Entry], new: &[Entry]) -> Result<()> {
        self.replace_entries(old, new, |(table, _, _), _| Error::Corrupt {
            table: table.name(),
            detail: "a unique entry in an index without unique keys".into(),
        })
    }

    fn delete_entries(&mut self, entries: Vec<Entry>) -> Result<()> {
        for (table, k, _) in entries {
            self.tx.del(table, &k)?;
        }
        Ok(())
    }
}

/// An index entry pointing at a missing record.
pub(crate) fn dangling(t: T) -> Error {
    Error::Corrupt {
        table: t.name(),
        detail: "index entry points at a missing record".into(),
    }
}

impl Txn for RedbTxn<'_, '_> {
    fn customer(&mut self, id: CustomerId) -> Result<Option<Customer>> {
        self.tx.get_as(T::Customers, &self.key(id.to_bytes()))
    }

    fn has_customer(&mut self, id: CustomerId) -> Result<bool> {
        self.tx.contains(T::Customers, &self.key(id.to_bytes()))
    }

    fn customer_by_email(&mut self, email: &Email) -> Result<Option<CustomerId>> {
        let key = K::t(self.tenant).text(email.as_str()).done();
        if let Some(id) = self.index_id(T::IdxEmail, &key)? {
            return Ok(Some(CustomerId::from_bytes(id)));
        }
        Ok(self.identity_holders(email, 1)?.first().copied())
    }

    fn customer_by_phone(&mut self, phone: &Phone) -> Result<Option<CustomerId>> {
        let key = K::t(self.tenant).text(phone.as_str()).done();
        Ok(self
            .index_id(T::IdxPhone, &key)?
            .map(CustomerId::from_bytes))
    }

    fn customer_by_external(&mut self, source: &str, id: &str) -> Result<Option<CustomerId>> {
        let key = K::t(self.tenant).word(source).text(id).done();
        Ok(self
            .index_id(T::IdxExternal, &key)?
            .map(CustomerId::from_bytes))
    }

    fn put_customer(&mut self, old: Option<&Customer>, new: &Customer) -> Result<()> {
        let t = self.tenant;
        if let Some(e) = &new.email
            && old.and_then(|o| o.email.as_ref()).map(Email::identity) != Some(e.identity())
        {
            // Two holders at most: this customer (not yet re-indexed) and one other.
            if let Some(holder) = self
                .identity_holders(e, 2)?
                .into_iter()
                .find(|h| *h != new.id)
            {
                return Err(Error::duplicate_customer("email", e.as_str(), holder));
            }
        }
        let old_entries = old
            .map(|c| derive::customer_entries(t, c))
            .unwrap_or_default();
        let new_entries = derive::customer_entries(t, new);
        self.replace_entries(&old_entries, &new_entries, |(table, key, _), holder| {
            let (field, value) = match table {
                T::IdxEmail => ("email", new.email.as_ref().map(ToString::to_string)),
                T::IdxPhone => ("phone", new.phone.as_ref().map(ToString::to_string)),
                // The external id whose entry is taken, not all of them.
                _ => (
                    "external_id",
                    new.external_ids
                        .iter()
                        .find(|x| K::t(t).word(&x.source).text(&x.id).done() == *key)
                        .map(|x| format!("{}:{}", x.source, x.id)),
                ),
            };
            let value = value.unwrap_or_default();
            match <[u8; 16]>::try_from(holder) {
                Ok(id) => Error::duplicate_customer(field, &value, CustomerId::from_bytes(id)),
                Err(_) => dangling(*table),
            }
        })?;
        let key = self.key(new.id.to_bytes());
        self.tx.put_as(T::Customers, &key, new)?;
        Ok(())
    }

    fn delete_customer(&mut self, c: &Customer) -> Result<()> {
        self.delete_entries(derive::customer_entries(self.tenant, c))?;
        let key = self.key(c.id.to_bytes());
        self.tx.del(T::Customers, &key)
    }

    fn members(&mut self, organization: CustomerId) -> Result<Vec<CustomerId>> {
        let prefix = self.key(organization.to_bytes());
        Ok(self
            .ids_under(T::IdxOrg, &prefix)?
            .into_iter()
            .map(CustomerId::from_bytes)
            .collect())
    }

    fn interaction(&mut self, id: InteractionId) -> Result<Option<Interaction>> {
        self.tx.get_interaction(&self.key(id.to_bytes()))
    }

    fn interaction_by_external(&mut self, source: &str, id: &str) -> Result<Option<InteractionId>> {
        let key = K::t(self.tenant).word(source).text(id).done();
        Ok(self
            .index_id(T::IdxInteractionExt, &key)?
            .map(InteractionId::from_bytes))
    }

    fn put_interaction(&mut self, old: Option<&Interaction>, new: &Interaction) -> Result<()> {
        let t = self.tenant;
        let old_entries = old
            .map(|i| derive::interaction_entries(t, i))
            .unwrap_or_default();
        let new_entries = derive::interaction_entries(t, new);
        self.replace_entries(&old_entries, &new_entries, |_, _| Error::Duplicate {
            field: "external_id",
            value: new.external_id.clone().unwrap_or_default(),
            existing: "another interaction".into(),
        })?;
        let key = self.key(new.id.to_bytes());
        self.tx.put(
            T::Interactions,
            &key,
            &crate::records::encode_interaction(new)?,
        )?;
        Ok(())
    }

    fn delete_interaction(&mut self, i: &Interaction) -> Result<()> {
        self.delete_entries(derive::interaction_entries(self.tenant, i))?;
        let key = self.key(i.id.to_bytes());
        self.tx.del(T::Interactions, &key)
    }

    fn interactions_of(&mut self, customer: CustomerId) -> Result<Vec<InteractionId>> {
        let prefix = self.key(customer.to_bytes());
        Ok(self
            .ids_under(T::IdxTimeline, &prefix)?
            .into_iter()
            .map(InteractionId::from_bytes)
            .collect())
    }

    fn pipeline(&mut self, id: PipelineId) -> Result<Option<Pipeline>> {
        self.tx.get_as(T::Pipelines, &self.key(id.to_bytes()))
    }

    fn pipeline_by_name(&mut self, name: &str) -> Result<Option<PipelineId>> {
        let key = K::t(self.tenant).text(&name.to_lowercase()).done();
        Ok(self
            .index_id(T::IdxPipelineName, &key)?
            .map(PipelineId::from_bytes))
    }

    fn put_pipeline(&mut self, old: Option<&Pipeline>, new: &Pipeline) -> Result<()> {
        let t = self.tenant;
        let old_entries = old
            .map(|p| derive::pipeline_entries(t, p))
            .unwrap_or_default();
        let new_entries = derive::pipeline_entries(t, new);
        self.replace_entries(&old_entries, &new_entries, |_, holder| Error::Duplicate {
            field: "name",
            value: new.name.clone(),
            existing: match <[u8; 16]>::try_from(holder) {
                Ok(id) => format!("pipeline {}", PipelineId::from_bytes(id)),
                Err(_) => "another pipeline".into(),
            },
        })?;
        let key = self.key(new.id.to_bytes());
        self.tx.put_as(T::Pipelines, &key, new)?;
        Ok(())
    }

    fn delete_pipeline(&mut self, p: &Pipeline) -> Result<()> {
        self.delete_entries(derive::pipeline_entries(self.tenant, p))?;
        let key = self.key(p.id.to_bytes());
        self.tx.del(T::Pipelines, &key)
    }

    fn deals_in(&mut self, pipeline: PipelineId) -> Result<u64> {
        let prefix = self.key(pipeline.to_bytes());
        Ok(self.tx.scan(T::IdxDealStage, &prefix)?.len() as u64)
    }

    fn deal(&mut self, id: DealId) -> Result<Option<Deal>> {
        self.tx.get_as(T::Deals, &self.key(id.to_bytes()))
    }

    fn put_deal(&mut self, old: Option<&Deal>, new: &Deal) -> Result<()> {
        let t = self.tenant;
        let key = self.key(new.id.to_bytes());
        let bytes = self.tx.put_as(T::Deals, &key, new)?;
        // Covering index: the value changes with the deal, so always rewrite the stage entry.
        if let Some(d) = old {
            self.delete_entries(derive::deal_entries(t, d, &[]))?;
        }
        let new_entries = derive::deal_entries(t, new, &bytes);
        self.insert_entries(&new_entries, |_, _| {
            Error::Storage("deal index collision".into())
        })
    }

    fn delete_deal(&mut self, d: &Deal) -> Result<()> {
        self.delete_entries(derive::deal_entries(self.tenant, d, &[]))?;
        let key = self.key(d.id.to_bytes());
        self.tx.del(T::Deals, &key)
    }

    fn deals_of(&mut self, customer: CustomerId) -> Result<Vec<DealId>> {
        let prefix = self.key(customer.to_bytes());
        Ok(self
            .ids_under(T::IdxCustomerDeals, &prefix)?
            .into_iter()
            .map(DealId::from_bytes)
            .collect())
    }

    fn user(&mut self, id: UserId) -> Result<Option<User>> {
        self.tx.get_as(T::Users, &self.key(id.to_bytes()))
    }

    fn put_user(&mut self, old: Option<&User>, new: &User) -> Result<()> {
        let t = self.tenant;
        let old_entries = old.map(|u| derive::user_entries(t, u)).unwrap_or_default();
        let new_entries = derive::user_entries(t, new);
        self.replace_entries(&old_entries, &new_entries, |_, holder| Error::Duplicate {
            field: "email",
            value: new
                .email
                .as_ref()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
            existing: match <[u8; 16]>::try_from(holder) {
                Ok(id) => format!("user {}", UserId::from_bytes(id)),
                Err(_) => "another user".into(),
            },
        })?;
        let key = self.key(new.id.to_bytes());
        self.tx.put_as(T::Users, &key, new)?;
        Ok(())
    }

    fn team(&mut self, id: TeamId) -> Result<Option<Team>> {
        self.tx.get_as(T::Teams, &self.key(id.to_bytes()))
    }

    fn put_team(&mut self, old: Option<&Team>, new: &Team) -> Result<()> {
        let t = self.tenant;
        let old_entries = old.map(|x| derive::team_entries(t, x)).unwrap_or_default();
        let new_entries = derive::team_entries(t, new);
        self.replace_entries(&old_entries, &new_entries, |_, holder| Error::Duplicate {
            field: "name",
            value: new.name.clone(),
            existing: match <[u8; 16]>::try_from(holder) {
                Ok(id) => format!("team {}", TeamId::from_bytes(id)),
                Err(_) => "another team".into(),
            },
        })?;
        let key = self.key(new.id.to_bytes());
        self.tx.put_as(T::Teams, &key, new)?;
        Ok(())
    }

    fn delete_team(&mut self, team: &Team) -> Result<()> {
        self.delete_entries(derive::team_entries(self.tenant, team))?;
        let key = self.key(team.id.to_bytes());
        self.tx.del(T::Teams, &key)
    }

    fn team_members(&mut self, team: TeamId) -> Result<Vec<UserId>> {
        let prefix = self.key(team.to_bytes());
        Ok(self
            .ids_under(T::IdxTeamMembers, &prefix)?
            .into_iter()
            .map(UserId::from_bytes)
            .collect())
    }

    fn quota(&mut self, key: &Quota) -> Result<Option<Quota>> {
        let k = K::t(self.tenant).bytes(&quota_key(key)).done();
        self.tx.get_as(T::Quotas, &k)
    }

    fn put_quota(&mut self, q: &Quota) -> Result<()> {
        let k = K::t(self.tenant).bytes(&quota_key(q)).done();
        self.tx.put_as(T::Quotas, &k, q)?;
        Ok(())
    }

    fn delete_quota(&mut self, q: &Quota) -> Result<()> {
        let k = K::t(self.tenant).bytes(&quota_key(q)).done();
        self.tx.del(T::Quotas, &k)
    }

    fn field_definitions(&mut self, object: FieldObject) -> Result<Vec<FieldDefinition>> {
        let prefix = K::t(self.tenant).byte(object.code()).done();
        self.tx
            .scan(T::FieldDefinitions, &prefix)?
            .iter()
            .map(|(_, v)| decode(T::FieldDefinitions, v))
            .collect()
    }

    fn put_field_definition(&mut self, d: &FieldDefinition) -> Result<()> {
        let k = K::t(self.tenant)
            .byte(d.object.code())
            .bytes(d.key.as_bytes())
            .done();
        self.tx.put_as(T::FieldDefinitions, &k, d)?;
        Ok(())
    }

    fn delete_field_definition(&mut self, d: &FieldDefinition) -> Result<()> {
        let k = K::t(self.tenant)
            .byte(d.object.code())
            .bytes(d.key.as_bytes())
            .done();
        self.tx.del(T::FieldDefinitions, &k)
    }

    fn field_index_holders(
        &mut self,
        object: FieldObject,
        key: &str,
        value: &[u8],
        limit: usize,
    ) -> Result<Vec<[u8; 16]>> {
        let prefix = field_index_key(self.tenant, object, key)
            .bytes(value)
            .done();
        self.tx
            .scan_keys(T::IdxField, &prefix, limit)?
            .iter()
            .map(|k| trailing_id(k).ok_or_else(|| dangling(T::IdxField)))
            .collect()
    }

    fn put_field_index(
        &mut self,
        object: FieldObject,
        key: &str,
        value: &[u8],
        id: [u8; 16],
    ) -> Result<()> {
        self.tx.put(
            T::IdxField,
            &field_entry(self.tenant, (object, key), value, id),
            &[],
        )
    }

    fn delete_field_index(
        &mut self,
        object: FieldObject,
        key: &str,
        value: &[u8],
        id: [u8; 16],
    ) -> Result<()> {
        self.tx.del(
            T::IdxField,
            &field_entry(self.tenant, (object, key), value, id),
        )
    }

    fn purge_field_index(&mut self, object: FieldObject, key: &str) -> Result<()> {
        // Entry by entry, so that an op undone (a failed record of a batch) puts them back.
        let prefix = field_index_key(self.tenant, object, key).done();
        for k in self.tx.scan_keys(T::IdxField, &prefix, usize::MAX)? {
            self.tx.del(T::IdxField, &k)?;
        }
        Ok(())
    }

    fn owners(&mut self) -> Result<Vec<String>> {
        let prefix = K::t(self.tenant).done();
        let mut out = std::collections::BTreeSet::new();
        for t in [T::IdxOwner, T::IdxDealOwner] {
            for (key, _) in self.tx.scan(t, &prefix)? {
                let owner = key
                    .get(4..key.len().saturating_sub(17))
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .ok_or_else(|| dangling(t))?;
                out.insert(owner.to_owned());
            }
        }
        Ok(out.into_iter().collect())
    }

    fn customers_owned_by(&mut self, owner: &str) -> Result<Vec<CustomerId>> {
        let prefix = K::t(self.tenant).word(owner).done();
        Ok(self
            .ids_under(T::IdxOwner, &prefix)?
            .into_iter()
            .map(CustomerId::from_bytes)
            .collect())
    }

    fn open_work_of(&mut self, user: &str, limit: usize) -> Result<Vec<InteractionId>> {
        let mut out = Vec::new();
        for status in TaskStatus::OPEN {
            let prefix = K::t(self.tenant).word(user).byte(status.code()).done();
            for key in self.tx.scan_keys(T::IdxWork, &prefix, limit - out.len())? {
                out.push(InteractionId::from_bytes(
                    trailing_id(&key).ok_or_else(|| dangling(T::IdxWork))?,
                ));
            }
        }
        Ok(out)
    }

    fn deals_owned_by(&mut self, owner: &str) -> Result<Vec<DealId>> {
        let prefix = K::t(self.tenant).word(owner).done();
        Ok(self
            .ids_under(T::IdxDealOwner, &prefix)?
            .into_iter()
            .map(DealId::from_bytes)
            .collect())
    }

    fn head(&mut self) -> Result<u64> {
        self.tx.head(self.tenant)
    }

    fn append(&mut self, event: NewEvent) -> Result<()> {
        let seq = self.tx.next_seq(self.tenant)?;
        let key = K::t(self.tenant).u64(seq).done();
        self.tx
            .put(T::Events, &key, &encode_event(&event.numbered(seq))?)
    }

    fn enablement(&mut self, plugin: &str) -> Result<Option<Enablement>> {
        self.tx
            .get(T::Enablements, &plugin_key(self.tenant, plugin))?
            .map(|b| decode_enablement(&b))
            .transpose()
    }

    fn put_enablement(&mut self, e: &Enablement) -> Result<()> {
        let key = plugin_key(self.tenant, &e.plugin);
        self.tx.put(T::Enablements, &key, &encode_enablement(e)?)
    }

    fn delete_plugin_state(&mut self, plugin: &str) -> Result<()> {
        let key = plugin_key(self.tenant, plugin);
        for table in [T::Enablements, T::Cursors, T::Health, T::Models] {
            self.tx.del(table, &key)?;
        }
        Ok(())
    }

    fn cursor(&mut self, plugin: &str) -> Result<Option<u64>> {
        self.tx
            .get(T::Cursors, &plugin_key(self.tenant, plugin))?
            .map(|b| read_u64(&b))
            .transpose()
    }

    fn put_cursor(&mut self, plugin: &str, seq: u64) -> Result<()> {
        let key = plugin_key(self.tenant, plugin);
        self.tx.put(T::Cursors, &key, &seq.to_be_bytes())
    }

    fn health(&mut self, plugin: &str) -> Result<Option<PluginHealth>> {
        self.tx.get_as(T::Health, &plugin_key(self.tenant, plugin))
    }

    fn put_health(&mut self, plugin: &str, health: &PluginHealth) -> Result<()> {
        let key = plugin_key(self.tenant, plugin);
        self.tx.put_as(T::Health, &key, health).map(drop)
    }

    fn put_model(&mut self, plugin: &str, model: &StoredModel) -> Result<()> {
        let key = plugin_key(self.tenant, plugin);
        self.tx.put_as(T::Models, &key, model).map(drop)
    }

    fn score(&mut self, customer: CustomerId, plugin: &str) -> Result<Option<StoredScore>> {
        self.tx
            .get_as(T::Scores, &output_key(self.tenant, customer, plugin))
    }

    fn put_score(&mut self, old: Option<&StoredScore>, new: &StoredScore) -> Result<()> {
        let t = self.tenant;
        let old_entries = old.map_or_else(Vec::new, |old| derive::score_entries(t, old));
        self.replace_index_entries(&old_entries, &derive::score_entries(t, new))?;
        let key = output_key(t, new.customer, &new.producer.plugin);
        self.tx.put_as(T::Scores, &key, new).map(drop)
    }

    fn segments(&mut self, customer: CustomerId, plugin: &str) -> Result<Option<StoredSegments>> {
        self.tx
            .get_as(T::Segments, &output_key(self.tenant, customer, plugin))
    }

    fn put_segments(&mut self, old: Option<&StoredSegments>, new: &StoredSegments) -> Result<()> {
        let t = self.tenant;
        let old_entries = old.map_or_else(Vec::new, |old| derive::segment_entries(t, old));
        self.replace_index_entries(&old_entries, &derive::segment_entries(t, new))?;
        let key = output_key(t, new.customer, &new.producer.plugin);
        self.tx.put_as(T::Segments, &key, new).map(drop)
    }

    fn delete_outputs(&mut self, customer: CustomerId) -> Result<()> {
        let t = self.tenant;
        let prefix = self.key(customer.to_bytes());
        for (key, value) in self.tx.scan(T::Scores, &prefix)? {
            let score: StoredScore = decode(T::Scores, &value)?;
            self.delete_entries(derive::score_entries(t, &score))?;
            self.tx.del(T::Scores, &key)?;
        }
        for (key, value) in self.tx.scan(T::Segments, &prefix)? {
            let segments: StoredSegments = decode(T::Segments, &value)?;
            self.delete_entries(derive::segment_entries(t, &segments))?;
            self.tx.del(T::Segments, &key)?;
        }
        Ok(())
    }

    fn delivery_seen(&mut self, plugin: &str, id: &str) -> Result<bool> {
        let key = K::t(self.tenant).word(plugin).text(id).done();
        Ok(self.tx.get(T::Deliveries, &key)?.is_some())
    }

    fn put_delivery(&mut self, plugin: &str, delivery: &Delivery) -> Result<()> {
        let key = K::t(self.tenant).word(plugin).text(&delivery.id).done();
        self.tx.put(T::Deliveries, &key, &encode(delivery)?)
    }

    fn job(&mut self, id: u64) -> Result<Option<StoredJob>> {
        let key = K::t(self.tenant).u64(id).done();
        self.tx.get_as(T::Jobs, &key)
    }

    fn jobs(&mut self) -> Result<Vec<StoredJob>> {
        self.tx
            .scan(T::Jobs, &K::t(self.tenant).done())?
            .iter()
            .map(|(_, v)| decode(T::Jobs, v))
            .collect()
    }

    fn put_job(&mut self, job: &StoredJob) -> Result<()> {
        let key = K::t(self.tenant).u64(job.id).done();
        self.tx.put_as(T::Jobs, &key, job).map(drop)
    }

    fn delete_job(&mut self, id: u64) -> Result<()> {
        self.tx.del(T::Jobs, &K::t(self.tenant).u64(id).done())
    }

    /// One process holds the file: its dispatcher holds every lease.
    fn check_fence(&mut self, _fence: u64) -> Result<()> {
        Ok(())
    }

    fn mark(&mut self) -> Result<Mark> {
        Ok(self.tx.mark() as Mark)
    }

    fn rollback(&mut self, mark: Mark) -> Result<()> {
        self.tx
            .rollback(usize::try_from(mark).unwrap_or(usize::MAX))
    }
}

/// The start of a field's index entries: tenant, object, key.
pub(super) fn field_index_key(tenant: u32, object: FieldObject, key: &str) -> K {
    K::t(tenant).byte(object.code()).word(key)
}

/// The index entry of a record's field value: tenant, object, key, value, record.
fn field_entry(
    tenant: u32,
    (object, key): (FieldObject, &str),
    value: &[u8],
    id: [u8; 16],
) -> Vec<u8> {
    field_index_key(tenant, object, key)
        .bytes(value)
        .id(id)
        .done()
}
