//! A child process for the crash test: many concurrent writers that print each write they got
//! acknowledged, until the test kills the process with SIGKILL.
//!
//! Usage: `crash-writer DATA_DIR WRITERS RUN` — RUN makes this run's emails distinct.

use std::io::Write;
use std::sync::Arc;

use kith::model::{
    Actor, Channel, CustomerInput, InteractionInput, InteractionKind, TenantInput, TenantSlug,
};
use kith::store::{RedbStore, Store, StoreConfig};

fn main() {
    if let Err(e) = run() {
        eprintln!("crash-writer: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("missing DATA_DIR")?;
    let writers: usize = args.next().ok_or("missing WRITERS")?.parse()?;
    let run: String = args.next().ok_or("missing RUN")?;
    let store = Arc::new(RedbStore::open(&dir, StoreConfig::default())?);
    let slug = TenantSlug::parse("crash")?;
    let actor = Actor::new("crash-writer");
    if store.tenant(&slug)?.is_none() {
        store.create_tenant(
            TenantInput {
                slug: slug.to_string(),
                name: None,
                industry: None,
            },
            &actor,
        )?;
    }
    println!("ready");
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let store = Arc::clone(&store);
            let (slug, actor, run) = (slug.clone(), actor.clone(), run.clone());
            std::thread::spawn(move || -> Result<(), String> {
                for i in 0u64.. {
                    let email = format!("r{run}-w{w}-{i}@crash.example");
                    let input = CustomerInput {
                        email: Some(email.clone()),
                        ..CustomerInput::default()
                    };
                    let c = store
                        .create_customer(&slug, &actor, input)
                        .map_err(|e| e.to_string())?;
                    // Every third customer also gets an interaction, so several tables are in flight.
                    if i % 3 == 0 {
                        let input = InteractionInput {
                            external_id: Some(format!("{email}-note")),
                            ..InteractionInput::new(c.id, Channel::Email, InteractionKind::Note)
                        };
                        store
                            .log_interaction(&slug, &actor, input)
                            .map_err(|e| e.to_string())?;
                        println!("ack {email} note");
                    } else {
                        println!("ack {email}");
                    }
                    std::io::stdout().flush().map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "writer panicked")??;
    }
    Ok(())
}
