//! The read side of plugin state: [`PluginStore`] for [`RedbStore`].

use serde::de::DeserializeOwned;

use super::RedbStore;
use super::plugin_state::{output_key, plugin_key, read_u64};
use super::query::{Rows, Scope, Snapshot, Table, get_as, scan_page};
use super::tables::{K, T, prefix_end, trailing_id};
use super::tx::decode;
use crate::{CustomerBundle, Page, PageRequest, PluginStore, ScoreRange};
use crate::{Error, Result};
use std::time::Duration;

use kith_model::StoredJob;
use kith_model::{
    Customer, CustomerId, Deal, Delivery, Enablement, InstalledPlugin, Interaction, PluginHealth,
    StoredModel, StoredScore, StoredSegments, TenantSlug,
};

/// Every entry of `table` whose key starts with `prefix`, in key order.
fn scan_all(table: &Table, prefix: &[u8]) -> Result<Rows> {
    let range = match prefix_end(prefix) {
        Some(end) => table.range::<&[u8]>(prefix..end.as_slice())?,
        None => table.range::<&[u8]>(prefix..)?,
    };
    range
        .map(|r| {
            let (k, v) = r?;
            Ok((k.value().to_vec(), v.value().to_vec()))
        })
        .collect()
}

fn decode_all<V: DeserializeOwned>(t: T, rows: &Rows) -> Result<Vec<V>> {
    rows.iter().map(|(_, v)| decode(t, v)).collect()
}

/// The customer id that ends an index key.
fn customer_of(t: T, key: &[u8]) -> Result<CustomerId> {
    trailing_id(key)
        .map(CustomerId::from_bytes)
        .ok_or_else(|| Error::Corrupt {
            table: t.name(),
            detail: "short index key".into(),
        })
}

impl RedbStore {
    fn tenant_get<V: DeserializeOwned>(
        &self,
        tenant: &TenantSlug,
        t: T,
        key: impl FnOnce(u32) -> Vec<u8>,
    ) -> Result<Option<V>> {
        let n = self.tenant_number(tenant)?;
        let snap = self.read()?;
        get_as(snap.table(t)?, t, &key(n))
    }

    fn bundle(snap: &Snapshot, n: u32, customer: Customer) -> Result<CustomerBundle> {
        let prefix = K::t(n).id(customer.id.to_bytes()).done();
        let timeline = scan_all(snap.table(T::IdxTimeline)?, &prefix)?;
        let interactions: Vec<Interaction> = RedbStore::resolve_interactions(snap, n, &timeline)?;
        let deal_keys = scan_all(snap.table(T::IdxCustomerDeals)?, &prefix)?;
        let deals: Vec<Deal> = RedbStore::resolve(snap, n, T::Deals, &deal_keys)?;
        Ok(CustomerBundle {
            customer,
            interactions,
            deals,
        })
    }
}

impl PluginStore for RedbStore {
    fn install_plugin(&self, plugin: InstalledPlugin, bytes: &[u8]) -> Result<bool> {
        self.install(plugin, bytes.to_vec())
    }

    fn uninstall_plugin(&self, hash: &str) -> Result<()> {
        self.uninstall(hash)
    }

    fn installed_plugins(&self) -> Result<Vec<InstalledPlugin>> {
        let snap = self.read()?;
        let rows = scan_all(snap.table(T::Plugins)?, &[])?;
        let mut all: Vec<InstalledPlugin> = decode_all(T::Plugins, &rows)?;
        all.sort_by(|a, b| {
            let va = semver::Version::parse(&a.version).ok();
            let vb = semver::Version::parse(&b.version).ok();
            (&a.id, va, &a.hash).cmp(&(&b.id, vb, &b.hash))
        });
        Ok(all)
    }

    fn installed_plugin(&self, hash: &str) -> Result<Option<InstalledPlugin>> {
        let snap = self.read()?;
        get_as(snap.table(T::Plugins)?, T::Plugins, hash.as_bytes())
    }

    fn plugin_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        let snap = self.read()?;
        Ok(snap
            .table(T::PluginBytes)?
            .get(hash.as_bytes())?
            .map(|g| g.value().to_vec()))
    }

    fn enablements(&self, tenant: &TenantSlug) -> Result<Vec<Enablement>> {
        let n = self.tenant_number(tenant)?;
        let snap = self.read()?;
        let rows = scan_all(snap.table(T::Enablements)?, &K::t(n).done())?;
        rows.iter()
            .map(|(_, v)| crate::records::decode_enablement(v))
            .collect()
    }

    fn enablement(&self, tenant: &TenantSlug, plugin: &str) -> Result<Option<Enablement>> {
        let n = self.tenant_number(tenant)?;
        let snap = self.read()?;
        snap.table(T::Enablements)?
            .get(plugin_key(n, plugin).as_slice())?
            .map(|g| crate::records::decode_enablement(g.value()))
            .transpose()
    }

    fn plugin_cursor(&self, tenant: &TenantSlug, plugin: &str) -> Result<u64> {
        let n = self.tenant_number(tenant)?;
        let snap = self.read()?;
        match snap
            .table(T::Cursors)?
            .get(plugin_key(n, plugin).as_slice())?
        {
            Some(g) => read_u64(g.value()),
            None => Ok(0),
        }
    }

    fn plugin_health(&self, tenant: &TenantSlug, plugin: &str) -> Result<PluginHealth> {
        Ok(self
            .tenant_get(tenant, T::Health, |n| plugin_key(n, plugin))?
            .unwrap_or_default())
    }

    fn plugin_model(&self, tenant: &TenantSlug, plugin: &str) -> Result<Option<StoredModel>> {
        self.tenant_get(tenant, T::Models, |n| plugin_key(n, plugin))
    }

    fn delivery(&self, tenant: &TenantSlug, plugin: &str, id: &str) -> Result<Option<Delivery>> {
        self.tenant_get(tenant, T::Deliveries, |n| {
            K::t(n).word(plugin).text(id).done()
        })
    }

    fn scores(&self, tenant: &TenantSlug, customer: CustomerId) -> Result<Vec<StoredScore>> {
        let n = self.tenant_number(tenant)?;
        let snap = self.read()?;
        let rows = scan_all(
            snap.table(T::Scores)?,
            &K::t(n).id(customer.to_bytes()).done(),
        )?;
        decode_all(T::Scores, &rows)
    }

    fn score(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
        plugin: &str,
    ) -> Result<Option<StoredScore>> {
        self.tenant_get(tenant, T::Scores, |n| output_key(n, customer, plugin))
    }

    fn leaderboard(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        range: ScoreRange,
        page: &PageRequest,
    ) -> Result<Page<StoredScore>> {
        let n = self.tenant_number(tenant)?;
        let snap = self.read()?;
        let prefix = K::t(n).word(plugin).done();
        // Highest first: the scan runs backwards from just past `max`, and stops at `min`.
        let end = range
            .max
            .and_then(|max| prefix_end(&K::t(n).word(plugin).f64(max).done()));
        let (rows, mut next) = scan_page(
            snap.table(T::IdxScoreRank)?,
            Scope::Leaderboard,
            &prefix,
            end,
            page.after.as_ref(),
            page.clamped_limit(),
            true,
        )?;
        let scores = snap.table(T::Scores)?;
        let mut items = Vec::with_capacity(rows.len());
        for (k, _) in &rows {
            let customer = customer_of(T::IdxScoreRank, k)?;
            let score: StoredScore = get_as(scores, T::Scores, &output_key(n, customer, plugin))?
                .ok_or_else(|| Error::Corrupt {
                table: T::IdxScoreRank.name(),
                detail: "index entry points at a missing score".into(),
            })?;
            if range.min.is_some_and(|min| score.score < min) {
                // Every later entry is lower still.
                next = None;
                break;
            }
            items.push(score);
        }
        Ok(Page { items, next })
    }

    fn segment_size(&self, tenant: &TenantSlug, plugin: &str, segment: &str) -> Result<u64> {
        let n = self.tenant_number(tenant)?;
        let snap = self.read()?;
        let prefix = K::t(n).word(plugin).word(segment).done();
        let table = snap.table(T::IdxSegmentMembers)?;
        let range = match prefix_end(&prefix) {
            Some(end) => table.range::<&[u8]>(prefix.as_slice()..end.as_slice())?,
            None => table.range::<&[u8]>(prefix.as_slice()..)?,
        };
        let mut count = 0;
        for entry in range {
            entry?;
            count += 1;
        }
        Ok(count)
    }

    fn segments_of(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
    ) -> Result<Vec<StoredSegments>> {
        let n = self.tenant_number(tenant)?;
        let snap = self.read()?;
        let rows = scan_all(
            snap.table(T::Segments)?,
            &K::t(n).id(customer.to_bytes()).done(),
        )?;
        decode_all(T::Segments, &rows)
    }

    fn segment_members(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        segment: &str,
        page: &PageRequest,
    ) -> Result<Page<CustomerId>> {
        let n = self.tenant_number(tenant)?;
        let snap = self.read()?;
        let prefix = K::t(n).word(plugin).word(segment).done();
        let (rows, next) = scan_page(
            snap.table(T::IdxSegmentMembers)?,
            Scope::SegmentMembers,
            &prefix,
            None,
            page.after.as_ref(),
            page.clamped_limit(),
            false,
        )?;
        let items = rows
            .iter()
            .map(|(k, _)| customer_of(T::IdxSegmentMembers, k))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    fn customer_bundle(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
    ) -> Result<Option<CustomerBundle>> {
        let n = self.tenant_number(tenant)?;
        let snap = self.read()?;
        let found: Option<Customer> = get_as(
            snap.table(T::Customers)?,
            T::Customers,
            &K::t(n).id(customer.to_bytes()).done(),
        )?;
        found.map(|c| Self::bundle(&snap, n, c)).transpose()
    }

    fn customer_bundles(
        &self,
        tenant: &TenantSlug,
        page: &PageRequest,
    ) -> Result<Page<CustomerBundle>> {
        let n = self.tenant_number(tenant)?;
        let snap = self.read()?;
        let (rows, next) = scan_page(
            snap.table(T::Customers)?,
            Scope::Bundles,
            &K::t(n).done(),
            None,
            page.after.as_ref(),
            page.clamped_limit(),
            false,
        )?;
        let items = rows
            .iter()
            .map(|(_, v)| {
                let c: Customer = decode(T::Customers, v)?;
                Self::bundle(&snap, n, c)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Page { items, next })
    }

    fn job(&self, tenant: &TenantSlug, id: u64) -> Result<Option<StoredJob>> {
        self.tenant_get(tenant, T::Jobs, |n| K::t(n).u64(id).done())
    }

    fn node(&self) -> &str {
        &self.shared.node
    }

    fn heartbeat(&self) -> Result<()> {
        Ok(())
    }

    /// The file is locked by one process: only its own node is alive.
    fn node_alive(&self, node: &str, _within: Duration) -> Result<bool> {
        Ok(node == self.shared.node)
    }

    /// One process holds the file, so it holds every lease; the token never changes.
    fn lease(&self, tenant: &TenantSlug, _ttl: Duration) -> Result<Option<u64>> {
        self.tenant_number(tenant)?;
        Ok(Some(1))
    }

    fn release_leases(&self) -> Result<()> {
        Ok(())
    }
}
