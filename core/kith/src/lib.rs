//! Kith: the plugin host, the HTTP admin API and the `kith` command line, over the crates below
//! it, which it re-exports so that one path reaches everything:
//!
//! - [`model`] (`kith-model`): the domain model;
//! - [`store`] (`kith-store`): the store, the rules of every write and its backends;
//! - [`plugin`] (`kith-wasm-host`): the sandboxed WebAssembly plugin runtime;
//! - [`service`], [`http`], [`cli`]: what this crate adds.
//!
//! The compiler enforces the direction: `model` knows nothing of the others, `store` and
//! `plugin` know `model` only, and only this crate knows them all.
//!
//! ```no_run
//! use kith::model::{Actor, CustomerInput, TenantInput, Timestamp};
//! use kith::store::{RedbStore, Store, StoreConfig};
//!
//! # fn main() -> kith::Result<()> {
//! let store = RedbStore::open("./kith-data", StoreConfig::default())?;
//! let tenant = store.create_tenant(
//!     TenantInput { slug: "acme".into(), name: None, industry: Some("retail".into()) },
//!     &Actor::new("docs"),
//! )?;
//! let input = CustomerInput { email: Some("ada@example.com".into()), ..Default::default() };
//! let ada = store.create_customer(&tenant.slug, &Actor::new("docs"), input)?;
//! assert_eq!(store.customer(&tenant.slug, ada.id)?.map(|c| c.version), Some(1));
//! # Ok(()) }
//! ```

pub mod cli;
mod error;
pub mod http;
pub mod service;

pub use error::{Error, Result};
pub use kith_model as model;
pub use kith_store as store;
pub use kith_wasm_host as plugin;
