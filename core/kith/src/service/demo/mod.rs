//! The demo tenant behind `kith serve --demo`: a tenant `demo` with a few hundred customers
//! (retail shoppers, and organizations with their B2B contacts), two years of interactions, two
//! pipelines with deals, and every reference plugin enabled and already run, so that scores,
//! segments and pipeline reports answer from the first request.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kith::service::{demo, plugins::{HostConfig, PluginHost}};
//! use kith::store::{RedbStore, StoreConfig};
//!
//! # fn main() -> kith::Result<()> {
//! let store = Arc::new(RedbStore::open("./kith-data", StoreConfig::default())?);
//! let host = PluginHost::open(store, HostConfig::default())?;
//! let report = demo::seed(&host, "target/wasm32-unknown-unknown/release".as_ref())?;
//! println!("{report}");
//! # Ok(()) }
//! ```
//!
//! Seeding happens once: when the tenant exists, [`seed`] changes nothing. Every component file
//! is read before anything is written, so a missing one leaves the store as it was. An interrupted
//! seed (the process killed while it runs) leaves a partial tenant that later starts keep as it
//! is; delete the tenant to seed it again.

mod data;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracing::{info, instrument, warn};

use super::plugins::{EnableRequest, Job, JobState, PluginHost};
use super::tokens;
use crate::model::{Actor, CustomerId, CustomerKind, DealInput, Money, TenantInput, TenantSlug};
use crate::model::{
    Currency, Period, Quota, QuotaSubject, TeamInput, Timestamp, UserId, UserInput,
};
use crate::store::Error as StoreError;
use crate::store::{Op, Output, Store, TenantStats, TokenScope, unexpected};
use crate::{Error, Result};

/// The demo tenant's slug.
pub const TENANT: &str = "demo";

/// The Shopify hook's signing secret in the demo tenant.
pub const SHOPIFY_SECRET: &str = "demo-shopify-secret";
/// The WooCommerce hook's signing secret in the demo tenant.
pub const WOOCOMMERCE_SECRET: &str = "demo-woocommerce-secret";
/// The generic orders hook's signing secret in the demo tenant.
pub const GENERIC_ORDERS_SECRET: &str = "demo-generic-secret";

/// The reference plugins the demo installs, by their directory under `plugins/` (the crate is
/// `kith-plugin-<dir>`). Commerce hooks first: they have no rescore to wait for.
pub const PLUGINS: &[&str] = &[
    "shopify-orders",
    "woocommerce",
    "generic-orders",
    "rfm-scorer",
    "value-tiers",
    "clv",
    "churn-risk",
    "rfm-segments",
    "lead-score",
    "lead-probability",
    "demographic-segments",
];

/// How long one plugin's first rescore of the demo tenant may take.
const RESCORE_TIMEOUT: Duration = Duration::from_secs(600);

/// Interactions per write.
const CHUNK: usize = 500;

/// The component file of the reference plugin in `plugins/<dir>`, inside `plugin_dir`.
pub fn component_path(plugin_dir: &Path, dir: &str) -> PathBuf {
    plugin_dir.join(format!("kith_plugin_{}.wasm", dir.replace('-', "_")))
}

/// The command that builds every component the demo needs into
/// `target/wasm32-unknown-unknown/release/`.
pub fn build_command() -> String {
    let mut command = String::from("cargo build --release --target wasm32-unknown-unknown");
    for dir in PLUGINS {
        command.push_str(" -p kith-plugin-");
        command.push_str(dir);
    }
    command
}

/// The configuration the demo enables a plugin with: the plugin's documented defaults, made
/// explicit where that shows what can be configured.
fn config(dir: &str) -> Value {
    match dir {
        "shopify-orders" => json!({"secret": SHOPIFY_SECRET}),
        "woocommerce" => json!({"secret": WOOCOMMERCE_SECRET}),
        "generic-orders" => json!({"secret": GENERIC_ORDERS_SECRET}),
        "rfm-scorer" => json!({"currency": "USD"}),
        "value-tiers" => json!({
            "currency": "USD",
            "mode": "percentiles",
            "percentiles": {"vip": 5, "gold": 15, "silver": 30}
        }),
        "clv" => json!({"currency": "USD", "time_unit": "weeks", "horizon_days": 365}),
        "churn-risk" => json!({"time_unit": "weeks"}),
        "lead-score" => json!({"lifecycle": {"marketing_qualified": 50, "sales_qualified": 75}}),
        "lead-probability" => json!({
            "fields": [
                {"attribute": "industry"},
                {"attribute": "employees", "bands": [50, 200, 1000]},
                {"attribute": "job_title", "transform": "seniority", "name": "seniority"},
                {"interactions": "meeting", "bands": [1, 2, 4]},
                {"attribute": "lead_source"}
            ],
            "min_outcomes": 10
        }),
        "demographic-segments" => json!({"industry_aliases": {"Logistics": "transportation"}}),
        _ => json!({}),
    }
}

/// A plugin the demo enabled.
#[derive(Debug, Clone)]
pub struct SeededPlugin {
    /// The plugin's id (`kith.rfm`).
    pub id: String,
    /// The enabled version.
    pub version: String,
    /// Its first rescore of the tenant, finished (`None` for commerce hooks, which have none).
    pub job: Option<Job>,
}

/// What [`seed`] did.
#[derive(Clone)]
pub struct DemoReport {
    /// Whether this call created the tenant (`false`: it existed, nothing was changed).
    pub created: bool,
    /// The tenant's counts now.
    pub counts: TenantStats,
    /// The plugins enabled by this call (empty when the tenant existed).
    pub plugins: Vec<SeededPlugin>,
    /// A new tenant API key for `demo`, when the tenant was just created. Shown once: only its
    /// hash is stored.
    pub tenant_key: Option<String>,
    /// How long seeding took.
    pub elapsed: Duration,
}

impl fmt::Debug for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoReport")
            .field("created", &self.created)
            .field("counts", &self.counts)
            .field("plugins", &self.plugins)
            .field(
                "tenant_key",
                &self.tenant_key.as_ref().map(|_| "<redacted>"),
            )
            .field("elapsed", &self.elapsed)
            .finish()
    }
}

impl DemoReport {
    /// Plugins whose first rescore stopped early or had failed calls, with why.
    pub fn problems(&self) -> Vec<String> {
        self.plugins
            .iter()
            .filter_map(|p| {
                let job = p.job.as_ref()?;
                match (job.state, job.failed) {
                    (JobState::Done, 0) => None,
                    (JobState::Done, n) => Some(format!("{}: {n} customer(s) failed", p.id)),
                    (_, _) => Some(format!(
                        "{}: rescore {}",
                        p.id,
                        job.error.as_deref().unwrap_or("did not finish")
                    )),
                }
            })
            .collect()
    }
}

impl fmt::Display for DemoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        if self.created {
            write!(
                f,
                "demo tenant '{TENANT}' created in {:.1}s: {} customers, {} interactions, {} pipelines with {} deals; {} plugins enabled and run",
                self.elapsed.as_secs_f64(),
                c.customers,
                c.interactions,
                c.pipelines,
                c.deals,
                self.plugins.len()
            )
        } else {
            write!(
                f,
                "demo tenant '{TENANT}' exists already ({} customers, {} deals): left as it is",
                c.customers, c.deals
            )
        }
    }
}

/// Creates the demo tenant and enables every reference plugin from `plugin_dir` in it, unless
/// the tenant exists (then nothing changes). Waits for each plugin's first rescore, so scores
/// and segments are there when it returns.
///
/// Fails with [`Error::PluginMissing`] (naming the file and the build command) before writing
/// anything when a component is not in `plugin_dir`.
#[instrument(skip_all, fields(tenant = TENANT))]
pub fn seed(host: &Arc<PluginHost>, plugin_dir: &Path) -> Result<DemoReport> {
    let started = Instant::now();
    let store = host.store().as_ref();
    let tenant = TenantSlug::parse(TENANT)?;
    if store.tenant(&tenant)?.is_some() {
        info!("demo tenant exists already; left as it is");
        return Ok(DemoReport {
            created: false,
            counts: counts(store, &tenant)?,
            plugins: Vec::new(),
            tenant_key: None,
            elapsed: started.elapsed(),
        });
    }
    let components = read_components(plugin_dir)?;
    // Installing is store-wide and idempotent; a component that does not load stops the seed
    // here, still before the tenant exists.
    let installed = components
        .iter()
        .map(|bytes| host.install(bytes))
        .collect::<Result<Vec<_>>>()?;

    let actor = Actor::new("demo");
    super::tenants::create(
        store,
        &actor,
        TenantInput {
            slug: TENANT.into(),
            name: Some("Kith demo".into()),
            industry: Some("software".into()),
        },
        None,
    )?;
    write_data(store, &tenant, &actor, &data::plan(Timestamp::now())?)?;
    let key = tokens::create(
        store,
        TokenScope::Tenant(tenant.clone()),
        false,
        Some("demo".into()),
        None,
    )?;

    // One plugin at a time: rescore jobs running side by side would share the cores and push
    // single calls past their wall-clock deadline on a small machine.
    let mut plugins = Vec::with_capacity(PLUGINS.len());
    for (dir, i) in PLUGINS.iter().zip(&installed) {
        let request = EnableRequest {
            version: Some(i.plugin.hash.clone()),
            ..EnableRequest::new(&i.plugin.id, config(dir))
        };
        let job = match host.enable(&tenant, request)? {
            Some(id) => Some(
                host.wait_for_job(&tenant, id, RESCORE_TIMEOUT)
                    .ok_or_else(|| {
                        Error::Store(StoreError::Storage(format!(
                            "rescore job {id} of {} vanished",
                            i.plugin.id
                        )))
                    })?,
            ),
            None => None,
        };
        plugins.push(SeededPlugin {
            id: i.plugin.id.clone(),
            version: i.plugin.version.clone(),
            job,
        });
    }
    let report = DemoReport {
        created: true,
        counts: counts(store, &tenant)?,
        plugins,
        tenant_key: key.secret,
        elapsed: started.elapsed(),
    };
    for problem in report.problems() {
        warn!(problem, "demo plugin did not score every customer");
    }
    info!(
        customers = report.counts.customers,
        interactions = report.counts.interactions,
        deals = report.counts.deals,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "demo tenant created"
    );
    Ok(report)
}

/// Every reference component's bytes, or the first missing one as [`Error::PluginMissing`].
fn read_components(plugin_dir: &Path) -> Result<Vec<Vec<u8>>> {
    PLUGINS
        .iter()
        .map(|dir| {
            let path = component_path(plugin_dir, dir);
            std::fs::read(&path).map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => Error::PluginMissing {
                    path: path.display().to_string(),
                    build: build_command(),
                },
                _ => Error::Store(StoreError::Io {
                    path: path.display().to_string(),
                    source,
                }),
            })
        })
        .collect()
}

fn counts(store: &dyn Store, tenant: &TenantSlug) -> Result<TenantStats> {
    store
        .stats()?
        .tenants
        .into_iter()
        .find(|t| t.tenant == tenant.as_str())
        .ok_or_else(|| Error::Store(StoreError::TenantNotFound(tenant.to_string())))
}

/// Writes the plan: organizations, then people (linked to them), pipelines, deals and their
/// moves, then the interactions in chunks.
/// The demo's sales team: its manager and two members, by the handle the plan uses as owner.
fn write_team(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
) -> Result<std::collections::HashMap<&'static str, UserId>> {
    let team = match store
        .write(
            tenant,
            actor,
            vec![Op::CreateTeam(TeamInput {
                name: "Sales".into(),
                shared: Some(true),
            })],
        )?
        .pop()
    {
        Some(Output::Team(t)) => t.id,
        other => return Err(StoreError::Storage(format!("demo team: {other:?}")).into()),
    };
    let mut users = std::collections::HashMap::new();
    for (handle, name, role) in data::USERS {
        let input = UserInput {
            name: (*name).into(),
            email: Some(format!("{handle}@demo.kith.example")),
            role: Some(*role),
            teams: vec![team],
        };
        match store
            .write(tenant, actor, vec![Op::CreateUser(input)])?
            .pop()
        {
            Some(Output::User(u)) => users.insert(*handle, u.id),
            other => return Err(StoreError::Storage(format!("demo user: {other:?}")).into()),
        };
    }
    // Targets for this quarter: each seller's, and the team's, so the sales report shows
    // attainment.
    let usd = Currency::parse("currency", "USD")?;
    let today = Timestamp::now().date();
    let mut ops: Vec<Op> = users
        .values()
        .map(|u| QuotaSubject::User(*u))
        .chain([QuotaSubject::Team(team)])
        .map(|subject| {
            let target = match subject {
                QuotaSubject::Team(_) => 150_000_000,
                QuotaSubject::User(_) => 50_000_000,
            };
            Quota::new(
                subject,
                Period::Quarter,
                today,
                Money::new(target, usd),
                Timestamp::now(),
            )
            .map(Op::SetQuota)
        })
        .collect::<std::result::Result<_, _>>()?;
    ops.sort_by_key(|op| match op {
        Op::SetQuota(q) => q.subject,
        _ => QuotaSubject::Team(team),
    });
    store.write(tenant, actor, ops)?;
    Ok(users)
}

fn write_data(
    store: &dyn Store,
    tenant: &TenantSlug,
    actor: &Actor,
    plan: &data::Plan,
) -> Result<()> {
    let users = write_team(store, tenant, actor)?;
    let user_of = |owner: &str| users.get(owner).map(UserId::to_string);
    let mut ids: Vec<Option<CustomerId>> = vec![None; plan.customers.len()];
    for kind in [CustomerKind::Organization, CustomerKind::Person] {
        let mut indexes = Vec::new();
        let mut ops = Vec::new();
        for (i, c) in plan.customers.iter().enumerate() {
            if c.input.kind != kind {
                continue;
            }
            let mut input = c.input.clone();
            input.organization = c.organization.and_then(|o| ids[o]);
            input.owner = input.owner.as_deref().and_then(user_of);
            indexes.push(i);
            ops.push(Op::CreateCustomer(input));
        }
        for (i, output) in indexes.into_iter().zip(store.write(tenant, actor, ops)?) {
            match output {
                Output::Customer(c) => ids[i] = Some(c.id),
                other => return Err(unexpected(&other).into()),
            }
        }
    }
    let id = |i: usize| {
        ids.get(i).copied().flatten().ok_or_else(|| {
            Error::Store(StoreError::Storage(format!(
                "demo plan: customer {i} was not created"
            )))
        })
    };

    let ops = plan
        .pipelines
        .iter()
        .map(|p| Op::CreatePipeline(p.clone()))
        .collect();
    let mut pipelines = Vec::new();
    for output in store.write(tenant, actor, ops)? {
        match output {
            Output::Pipeline(p) => pipelines.push(p),
            other => return Err(unexpected(&other).into()),
        }
    }

    let usd = Currency::parse("currency", "USD")?;
    let today = Timestamp::now().date().days();
    let stage = |pipeline: usize, s: usize| {
        pipelines
            .get(pipeline)
            .and_then(|p| p.stages.get(s))
            .map(|s| s.id)
            .ok_or_else(|| {
                Error::Store(StoreError::Storage(format!(
                    "demo plan: no stage {s} in pipeline {pipeline}"
                )))
            })
    };
    // Each deal was opened 20 to 200 days ago and moved through its stages since, at uneven
    // intervals, so time in stage, sales cycles and the periods of the sales report are real.
    let now = Timestamp::now();
    const DAY_MICROS: i64 = 86_400_000_000;
    let opened = |i: usize| now.plus_micros(-((20 + (i * 37 % 181) as i64) * DAY_MICROS));
    let moved = |i: usize, step: usize, steps: usize| {
        let age = 20 + (i * 37 % 181) as i64;
        // Later steps come closer together, and the last one is at least a day ago.
        let share = (step as i64 * 100) / (steps as i64 + 1) + ((i + step) % 7) as i64;
        now.plus_micros(-((age - (age - 1) * share.min(99) / 100) * DAY_MICROS))
    };
    let mut ops = Vec::with_capacity(plan.deals.len());
    for (i, d) in plan.deals.iter().enumerate() {
        let pipeline = pipelines.get(d.pipeline).ok_or_else(|| {
            Error::Store(StoreError::Storage(format!(
                "demo plan: no pipeline {}",
                d.pipeline
            )))
        })?;
        let input = DealInput {
            attributes: Default::default(),
            customer: id(d.customer)?,
            pipeline: pipeline.id,
            stage: Some(stage(d.pipeline, d.path[0])?),
            title: d.title.clone(),
            amount: Money::new(d.amount_minor, usd),
            expected_close: d
                .closes_in_days
                .map(|n| crate::model::Date::from_days(today + n)),
            owner: user_of(d.owner),
        };
        ops.push(Op::ReplayDeal {
            input,
            opened_at: opened(i),
        });
    }
    let mut moves = Vec::new();
    let mut deal_ids = Vec::with_capacity(plan.deals.len());
    let written = store.write(tenant, actor, ops)?;
    for (i, (d, output)) in plan.deals.iter().zip(written).enumerate() {
        let Output::Deal(deal) = output else {
            return Err(unexpected(&output).into());
        };
        deal_ids.push(deal.id);
        let steps = d.path.len() - 1;
        for (step, &s) in d.path[1..].iter().enumerate() {
            moves.push(Op::MoveDeal {
                lost_reason: None,
                id: deal.id,
                stage: stage(d.pipeline, s)?,
                at: Some(moved(i, step + 1, steps)),
                expected_version: None,
            });
        }
    }
    store.write(tenant, actor, moves)?;

    // Work is assigned to the sellers' users; follow-ups are about the customer's deal.
    let mut deal_of = std::collections::HashMap::new();
    for (d, id) in plan.deals.iter().zip(&deal_ids) {
        deal_of.entry(d.customer).or_insert(*id);
    }
    for chunk in plan.touches.chunks(CHUNK) {
        let ops = chunk
            .iter()
            .map(|t| {
                let mut input = t.input(id(t.customer())?, now)?;
                input.assignee = input.assignee.as_deref().and_then(user_of);
                if t.on_deal() {
                    input.deal = deal_of.get(&t.customer()).copied();
                }
                Ok(Op::LogInteraction(input))
            })
            .collect::<Result<Vec<_>>>()?;
        store.write(tenant, actor, ops)?;
    }
    Ok(())
}
