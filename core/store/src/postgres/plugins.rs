//! [`PluginStore`] for [`PgStore`]: the registry, enablements and what plugins produce.

use std::collections::HashMap;
use std::time::Duration;

use kith_model::{
    Customer, CustomerId, Deal, Delivery, Enablement, InstalledPlugin, Interaction, PluginHealth,
    StoredJob, StoredModel, StoredScore, StoredSegments, TenantSlug,
};
use uuid::Uuid;

use super::PgStore;
use super::conn::Reader;
use super::queries::{FIRST, Keys, List, fetch, id_key, key_uuid, paged};
use super::txn::uuid;
use crate::records::{decode, decode_enablement, encode};
use crate::{CustomerBundle, Error, Page, PageRequest, PluginStore, Result, ScoreRange};

impl PgStore {
    /// Customers with their interactions (oldest first) and deals, from one snapshot.
    fn bundles(
        &self,
        reader: &mut Reader<'_>,
        t: i64,
        customers: Vec<Customer>,
    ) -> Result<Vec<CustomerBundle>> {
        if customers.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = customers.iter().map(|c| uuid(c.id.to_bytes())).collect();
        let mut interactions: HashMap<Uuid, Vec<Interaction>> = HashMap::new();
        for row in reader.query(
            "SELECT customer, doc FROM kith_interactions WHERE tenant_id = $1 AND customer = ANY($2) \
             ORDER BY customer, occurred_at, id",
            &[&t, &ids],
        )? {
            interactions
                .entry(row.get(0))
                .or_default()
                .push(crate::records::decode_interaction(row.get::<_, &[u8]>(1))?);
        }
        let mut deals: HashMap<Uuid, Vec<Deal>> = HashMap::new();
        for row in reader.query(
            "SELECT customer, doc FROM kith_deals WHERE tenant_id = $1 AND customer = ANY($2) \
             ORDER BY customer, id",
            &[&t, &ids],
        )? {
            deals
                .entry(row.get(0))
                .or_default()
                .push(decode("deals", row.get::<_, &[u8]>(1))?);
        }
        Ok(customers
            .into_iter()
            .map(|customer| {
                let id = uuid(customer.id.to_bytes());
                CustomerBundle {
                    interactions: interactions.remove(&id).unwrap_or_default(),
                    deals: deals.remove(&id).unwrap_or_default(),
                    customer,
                }
            })
            .collect())
    }

    fn plugin_row<V: serde::de::DeserializeOwned>(
        &self,
        tenant: &TenantSlug,
        table: &'static str,
        sql: &'static str,
        plugin: &str,
    ) -> Result<Option<V>> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query_opt(sql, &[&t, &plugin])?
                .map(|row| decode(table, row.get::<_, &[u8]>(0)))
                .transpose()
        })
    }
}

impl PluginStore for PgStore {
    fn install_plugin(&self, plugin: InstalledPlugin, bytes: &[u8]) -> Result<bool> {
        self.transact(|tx| {
            if tx
                .query_opt(
                    "SELECT 1 FROM kith_plugins WHERE hash = $1",
                    &[&plugin.hash],
                )?
                .is_some()
            {
                return Ok(false);
            }
            if let Some(row) = tx.query_opt(
                "SELECT hash FROM kith_plugins WHERE id = $1 AND version = $2",
                &[&plugin.id, &plugin.version],
            )? {
                return Err(Error::PluginVersionTaken {
                    id: plugin.id.clone(),
                    version: plugin.version.clone(),
                    hash: row.get(0),
                });
            }
            tx.execute(
                "INSERT INTO kith_plugin_bytes (hash, bytes) VALUES ($1, $2)",
                &[&plugin.hash, &bytes],
            )?;
            tx.execute(
                "INSERT INTO kith_plugins (hash, id, version, doc) VALUES ($1, $2, $3, $4)",
                &[&plugin.hash, &plugin.id, &plugin.version, &encode(&plugin)?],
            )?;
            Ok(true)
        })
    }

    fn uninstall_plugin(&self, hash: &str) -> Result<()> {
        self.transact(|tx| {
            if tx
                .query_opt(
                    "SELECT 1 FROM kith_plugins WHERE hash = $1 FOR UPDATE",
                    &[&hash],
                )?
                .is_none()
            {
                return Err(Error::not_found("plugin", hash));
            }
            let users: Vec<String> = tx
                .query(
                    "SELECT DISTINCT t.slug FROM kith_enablements e JOIN kith_tenants t \
                     ON t.tenant_id = e.tenant_id WHERE e.hash = $1 ORDER BY t.slug",
                    &[&hash],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if !users.is_empty() {
                return Err(Error::PluginInUse {
                    hash: hash.to_owned(),
                    tenants: users.join(", "),
                });
            }
            tx.execute("DELETE FROM kith_plugins WHERE hash = $1", &[&hash])?;
            tx.execute("DELETE FROM kith_plugin_bytes WHERE hash = $1", &[&hash])?;
            Ok(())
        })
    }

    fn installed_plugins(&self) -> Result<Vec<InstalledPlugin>> {
        let mut all: Vec<InstalledPlugin> = self.read(|r| {
            r.query("SELECT doc FROM kith_plugins", &[])?
                .iter()
                .map(|row| decode("plugins", row.get::<_, &[u8]>(0)))
                .collect::<Result<_>>()
        })?;
        all.sort_by(|a, b| {
            let va = semver::Version::parse(&a.version).ok();
            let vb = semver::Version::parse(&b.version).ok();
            (&a.id, va, &a.hash).cmp(&(&b.id, vb, &b.hash))
        });
        Ok(all)
    }

    fn installed_plugin(&self, hash: &str) -> Result<Option<InstalledPlugin>> {
        self.read(|r| {
            r.query_opt("SELECT doc FROM kith_plugins WHERE hash = $1", &[&hash])?
                .map(|row| decode("plugins", row.get::<_, &[u8]>(0)))
                .transpose()
        })
    }

    fn plugin_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        self.read(|r| {
            Ok(r.query_opt(
                "SELECT bytes FROM kith_plugin_bytes WHERE hash = $1",
                &[&hash],
            )?
            .map(|row| row.get::<_, Vec<u8>>(0)))
        })
    }

    fn enablements(&self, tenant: &TenantSlug) -> Result<Vec<Enablement>> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query(
                "SELECT doc FROM kith_enablements WHERE tenant_id = $1 ORDER BY plugin",
                &[&t],
            )?
            .iter()
            .map(|row| decode_enablement(row.get::<_, &[u8]>(0)))
            .collect()
        })
    }

    fn enablement(&self, tenant: &TenantSlug, plugin: &str) -> Result<Option<Enablement>> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query_opt(
                "SELECT doc FROM kith_enablements WHERE tenant_id = $1 AND plugin = $2",
                &[&t, &plugin],
            )?
            .map(|row| decode_enablement(row.get::<_, &[u8]>(0)))
            .transpose()
        })
    }

    fn plugin_cursor(&self, tenant: &TenantSlug, plugin: &str) -> Result<u64> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let seq: i64 = r
                .query_opt(
                    "SELECT seq FROM kith_cursors WHERE tenant_id = $1 AND plugin = $2",
                    &[&t, &plugin],
                )?
                .map_or(0, |row| row.get(0));
            Ok(u64::try_from(seq).unwrap_or(0))
        })
    }

    fn plugin_health(&self, tenant: &TenantSlug, plugin: &str) -> Result<PluginHealth> {
        Ok(self
            .plugin_row(
                tenant,
                "plugin_health",
                "SELECT doc FROM kith_health WHERE tenant_id = $1 AND plugin = $2",
                plugin,
            )?
            .unwrap_or_default())
    }

    fn plugin_model(&self, tenant: &TenantSlug, plugin: &str) -> Result<Option<StoredModel>> {
        self.plugin_row(
            tenant,
            "plugin_models",
            "SELECT doc FROM kith_models WHERE tenant_id = $1 AND plugin = $2",
            plugin,
        )
    }

    fn delivery(&self, tenant: &TenantSlug, plugin: &str, id: &str) -> Result<Option<Delivery>> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query_opt(
                "SELECT doc FROM kith_deliveries WHERE tenant_id = $1 AND plugin = $2 \
                 AND delivery_id = $3",
                &[&t, &plugin, &id],
            )?
            .map(|row| decode("plugin_deliveries", row.get::<_, &[u8]>(0)))
            .transpose()
        })
    }

    fn scores(&self, tenant: &TenantSlug, customer: CustomerId) -> Result<Vec<StoredScore>> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query(
                "SELECT doc FROM kith_scores WHERE tenant_id = $1 AND customer = $2 ORDER BY plugin",
                &[&t, &uuid(customer.to_bytes())],
            )?
            .iter()
            .map(|row| decode("scores", row.get::<_, &[u8]>(0)))
            .collect()
        })
    }

    fn score(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
        plugin: &str,
    ) -> Result<Option<StoredScore>> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query_opt(
                "SELECT doc FROM kith_scores WHERE tenant_id = $1 AND customer = $2 AND plugin = $3",
                &[&t, &uuid(customer.to_bytes()), &plugin],
            )?
            .map(|row| decode("scores", row.get::<_, &[u8]>(0)))
            .transpose()
        })
    }

    fn leaderboard(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        range: ScoreRange,
        page: &PageRequest,
    ) -> Result<Page<StoredScore>> {
        let limit = page.clamped_limit();
        let n = fetch(page);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let keys = Keys::new(List::Leaderboard, tenant, plugin.as_bytes());
            let (score, customer) = match keys.after(page)? {
                None => (f64::INFINITY, Uuid::max()),
                Some(k) => {
                    let bits = k
                        .get(..8)
                        .and_then(|b| <[u8; 8]>::try_from(b).ok())
                        .ok_or(Error::BadCursor)?;
                    (f64::from_bits(u64::from_be_bytes(bits)), key_uuid(&k, 8)?)
                }
            };
            let min = range.min.unwrap_or(f64::NEG_INFINITY);
            let max = range.max.unwrap_or(f64::INFINITY);
            let rows = r.query(
                "SELECT doc, score, customer FROM kith_scores WHERE tenant_id = $1 AND plugin = $2 \
                 AND score >= $3 AND score <= $4 AND (score, customer) < ($5, $6) \
                 ORDER BY score DESC, customer DESC LIMIT $7",
                &[&t, &plugin, &min, &max, &score, &customer, &n],
            )?;
            paged(
                rows,
                limit,
                &keys,
                |row| {
                    let mut k = row.get::<_, f64>(1).to_bits().to_be_bytes().to_vec();
                    k.extend_from_slice(row.get::<_, Uuid>(2).as_bytes());
                    k
                },
                |row| decode("scores", row.get::<_, &[u8]>(0)),
            )
        })
    }

    fn segment_size(&self, tenant: &TenantSlug, plugin: &str, segment: &str) -> Result<u64> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let n: i64 = r
                .query_opt(
                    "SELECT count(*) FROM kith_segment_members WHERE tenant_id = $1 AND plugin = $2 \
                     AND segment = $3",
                    &[&t, &plugin, &segment],
                )?
                .map_or(0, |row| row.get(0));
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn segments_of(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
    ) -> Result<Vec<StoredSegments>> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query(
                "SELECT doc FROM kith_segments WHERE tenant_id = $1 AND customer = $2 ORDER BY plugin",
                &[&t, &uuid(customer.to_bytes())],
            )?
            .iter()
            .map(|row| decode("segments", row.get::<_, &[u8]>(0)))
            .collect()
        })
    }

    fn segment_members(
        &self,
        tenant: &TenantSlug,
        plugin: &str,
        segment: &str,
        page: &PageRequest,
    ) -> Result<Page<CustomerId>> {
        let limit = page.clamped_limit();
        let n = fetch(page);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let mut filter = plugin.as_bytes().to_vec();
            filter.push(0);
            filter.extend_from_slice(segment.as_bytes());
            let keys = Keys::new(List::SegmentMembers, tenant, &filter);
            let after = keys.after(page)?.map_or(Ok(FIRST), |k| key_uuid(&k, 0))?;
            let rows = r.query(
                "SELECT customer FROM kith_segment_members WHERE tenant_id = $1 AND plugin = $2 \
                 AND segment = $3 AND customer > $4 ORDER BY customer LIMIT $5",
                &[&t, &plugin, &segment, &after, &n],
            )?;
            paged(
                rows,
                limit,
                &keys,
                |row| id_key(row, 0),
                |row| Ok(CustomerId::from_bytes(*row.get::<_, Uuid>(0).as_bytes())),
            )
        })
    }

    fn customer_bundle(
        &self,
        tenant: &TenantSlug,
        customer: CustomerId,
    ) -> Result<Option<CustomerBundle>> {
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let Some(c) = r
                .query_opt(
                    "SELECT doc FROM kith_customers WHERE tenant_id = $1 AND id = $2",
                    &[&t, &uuid(customer.to_bytes())],
                )?
                .map(|row| decode::<Customer>("customers", row.get::<_, &[u8]>(0)))
                .transpose()?
            else {
                return Ok(None);
            };
            Ok(self.bundles(r, t, vec![c])?.pop())
        })
    }

    fn customer_bundles(
        &self,
        tenant: &TenantSlug,
        page: &PageRequest,
    ) -> Result<Page<CustomerBundle>> {
        let limit = page.clamped_limit();
        let n = fetch(page);
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            let keys = Keys::new(List::Bundles, tenant, b"");
            let after = keys.after(page)?.map_or(Ok(FIRST), |k| key_uuid(&k, 0))?;
            let rows = r.query(
                "SELECT doc, id FROM kith_customers WHERE tenant_id = $1 AND id > $2 \
                 ORDER BY id LIMIT $3",
                &[&t, &after, &n],
            )?;
            let page: Page<Customer> = paged(
                rows,
                limit,
                &keys,
                |row| id_key(row, 1),
                |row| decode("customers", row.get::<_, &[u8]>(0)),
            )?;
            Ok(Page {
                items: self.bundles(r, t, page.items)?,
                next: page.next,
            })
        })
    }

    fn job(&self, tenant: &TenantSlug, id: u64) -> Result<Option<StoredJob>> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            r.query_opt(
                "SELECT doc FROM kith_jobs WHERE tenant_id = $1 AND job_id = $2",
                &[&t, &id],
            )?
            .map(|row| decode("jobs", row.get::<_, &[u8]>(0)))
            .transpose()
        })
    }

    fn node(&self) -> &str {
        &self.shared.node
    }

    // Single statements: each commits on its own (no transaction needed).
    fn heartbeat(&self) -> Result<()> {
        self.read(|r| {
            r.execute(
                "INSERT INTO kith_nodes (node, heartbeat_at) VALUES ($1, now()) \
                 ON CONFLICT (node) DO UPDATE SET heartbeat_at = now()",
                &[&self.shared.node],
            )?;
            // Nodes gone for a day are forgotten (their jobs were reported failed long ago).
            r.execute(
                "DELETE FROM kith_nodes WHERE heartbeat_at < now() - interval '1 day'",
                &[],
            )?;
            Ok(())
        })?;
        // Events a node committed and died before numbering.
        self.sequence_all()?;
        self.refresh_statistics()
    }

    fn node_alive(&self, node: &str, within: Duration) -> Result<bool> {
        let within = within.as_secs_f64();
        self.read(|r| {
            Ok(r.query_opt(
                "SELECT heartbeat_at > now() - make_interval(secs => $2) FROM kith_nodes \
                 WHERE node = $1",
                &[&node, &within],
            )?
            .is_some_and(|row| row.get::<_, bool>(0)))
        })
    }

    fn lease(&self, tenant: &TenantSlug, ttl: Duration) -> Result<Option<u64>> {
        let ttl = ttl.as_secs_f64();
        self.read(|r| {
            let t = self.tenant_id(r, tenant)?;
            // Taken when free or expired, renewed when held; a new holder gets a new fence.
            let row = r.query_opt(
                "INSERT INTO kith_leases AS l (tenant_id, holder, fence, expires_at) \
                 VALUES ($1, $2, 1, now() + make_interval(secs => $3)) \
                 ON CONFLICT (tenant_id) DO UPDATE \
                 SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at, \
                     fence = CASE WHEN l.holder = EXCLUDED.holder THEN l.fence ELSE l.fence + 1 END \
                 WHERE l.holder = EXCLUDED.holder OR l.expires_at < now() \
                 RETURNING fence",
                &[&t, &self.shared.node, &ttl],
            )?;
            Ok(row.map(|row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)))
        })
    }

    fn release_leases(&self) -> Result<()> {
        self.read(|r| {
            r.execute(
                "UPDATE kith_leases SET expires_at = now() - interval '1 second' WHERE holder = $1",
                &[&self.shared.node],
            )?;
            Ok(())
        })
    }
}
