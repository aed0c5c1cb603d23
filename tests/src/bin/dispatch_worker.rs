//! A child process for the dispatch crash test: the plugin dispatcher follows a tenant's event
//! log while a writer logs purchases and prints each acknowledged one, until the test kills the
//! process with SIGKILL.
//!
//! Usage: `dispatch_worker DATA_DIR PLUGIN.wasm CUSTOMERS`.

use std::io::Write;
use std::sync::Arc;

use kith::model::{
    Actor, Channel, Currency, CustomerInput, InteractionInput, InteractionKind, Money, TenantInput,
    TenantSlug,
};
use kith::service::plugins::{EnableRequest, HostConfig, PluginHost};
use kith::store::{CustomerFilter, PageRequest, RedbStore, Store, StoreConfig};

fn main() {
    if let Err(e) = run() {
        eprintln!("dispatch-worker: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("missing DATA_DIR")?;
    let plugin = args.next().ok_or("missing PLUGIN.wasm")?;
    let count: usize = args.next().ok_or("missing CUSTOMERS")?.parse()?;
    let store = Arc::new(RedbStore::open(&dir, StoreConfig::default())?);
    let host = PluginHost::open(
        store.clone(),
        HostConfig::with_cache(std::path::Path::new(&dir).join("plugin-cache")),
    )?;
    let slug = TenantSlug::parse("crash")?;
    let actor = Actor::new("dispatch-worker");
    if store.tenant(&slug)?.is_none() {
        store.create_tenant(
            TenantInput {
                slug: slug.to_string(),
                name: None,
                industry: None,
            },
            &actor,
        )?;
        for i in 0..count {
            store.create_customer(
                &slug,
                &actor,
                CustomerInput {
                    email: Some(format!("c{i}@crash.example")),
                    ..CustomerInput::default()
                },
            )?;
        }
        let installed = host.install(&std::fs::read(&plugin)?)?;
        host.enable(
            &slug,
            EnableRequest::new(&installed.plugin.id, serde_json::json!({})),
        )?;
    }
    let customers: Vec<_> = store
        .customers(&slug, &CustomerFilter::All, &PageRequest::first(count))?
        .items
        .into_iter()
        .map(|c| c.id)
        .collect();
    let _dispatcher = host.spawn_dispatcher();
    println!("ready");
    let usd = Currency::parse("currency", "USD")?;
    let mut out = std::io::stdout().lock();
    for i in 0usize.. {
        let mut input = InteractionInput::new(
            customers[i % customers.len()],
            Channel::ECommerce,
            InteractionKind::Purchase,
        );
        input.amount = Some(Money::new(100, usd));
        store.log_interaction(&slug, &actor, input)?;
        writeln!(out, "ack {}", store.last_seq(&slug)?)?;
        out.flush()?;
    }
    Ok(())
}
