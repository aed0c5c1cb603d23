//! Build script of the commerce hooks whose deliveries are a few kilobytes of JSON
//! (shopify-orders, woocommerce): links the component with 2 MiB of linear memory instead of the
//! linker's default (the 1 MiB stack and the data, 17 pages). Parsing such a delivery takes more
//! than the room the default leaves above the stack, so every call grew memory by a page; Kith
//! runs every call in a fresh instance, and each grow costs the host two `mprotect` calls (one
//! for the grow, one when the pooled slot is shrunk back for the next instance, which flushes
//! every core's TLB). wasi-libc's allocator uses the room above the stack first, so a delivery
//! now never grows. Measured in bench/README.md; the 2 MiB count towards the plugin's memory
//! budget. Plugins that do not grow per call (the scorers) keep the default: a larger start
//! made them slower.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=--initial-memory=2097152");
    }
}
