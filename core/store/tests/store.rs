//! The store: behaviour (`behaviour`), administration (`admin`) and the model-based property test
//! (`model`). One test binary for all of them: each binary costs CI a link of wasmtime.

#[path = "store/admin.rs"]
mod admin;
#[path = "store/backend.rs"]
mod backend;
#[path = "store/behaviour.rs"]
mod behaviour;
#[path = "store/model.rs"]
mod model;
#[path = "store/postgres.rs"]
mod postgres;
#[path = "store/users.rs"]
mod users;
#[path = "store/work.rs"]
mod work;
