//! The end-to-end tests of the plugins and the platform, in one test binary: each binary costs a
//! link of wasmtime and its own copies of the generic code it uses, and in one binary the slow
//! tests (the language toolchains, building a new project) run beside the others instead of
//! after them. `cargo test -p kith-tests --test suite MODULE::` runs one module.

mod b2b_pack;
mod cluster;
mod commerce_pack;
mod console;
mod crash;
mod dispatch_crash;
mod hostile_plugins;
mod language_plugins;
mod plugin_platform;
mod plugin_runtime;
mod retail_pack;
