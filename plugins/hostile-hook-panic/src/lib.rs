//! Hostile test plugin `kith.test.hook-panic`: a commerce hook that panics on every delivery,
//! with a message that names an internal detail.
//!
//! The host must answer the (anonymous) webhook caller with the failure's code only: a plugin's
//! panic message and stderr are for the tenant, never for whoever posted the webhook.

use kith_plugin_sdk::{CommerceHook, HookOutput, Manifest, NoConfig, Plugin, Result, Webhook};

/// The plugin.
#[derive(Debug)]
pub struct HookPanic;

/// What the panic says.
pub const MESSAGE: &str = "internal detail: db password is hunter2";

impl Plugin for HookPanic {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.hook-panic",
            env!("CARGO_PKG_VERSION"),
            "Hostile: panicking hook",
        )
        .description("Test plugin: a commerce hook that panics")
    }
}

impl CommerceHook for HookPanic {
    fn handle(_: &NoConfig, _: &Webhook) -> Result<HookOutput> {
        panic!("{MESSAGE}");
    }
}

kith_plugin_sdk::export_plugin!(HookPanic, commerce_hook);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "hunter2")]
    fn every_delivery_panics() {
        let webhook = Webhook {
            topic: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
            delivery_id: None,
            received_at: 0,
        };
        let _ = HookPanic::handle(&NoConfig, &webhook);
    }
}
