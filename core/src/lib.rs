//! Kith's core: the CRM domain model, the durable store, and the `kith` command line.
//!
//! ```no_run
//! use kith_core::model::{Actor, CustomerInput, TenantInput, Timestamp};
//! use kith_core::store::{RedbStore, Store, StoreConfig};
//!
//! # fn main() -> kith_core::Result<()> {
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
pub mod model;
pub mod plugin;
pub mod service;
pub mod store;

pub use error::{Error, Result};
