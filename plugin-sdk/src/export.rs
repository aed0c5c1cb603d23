//! What [`export_plugin!`](crate::export_plugin) expands to: one adapter per
//! world that parses the configuration and calls the plugin's trait.
//!
//! The same functions back [`crate::testing::Harness`], so native tests run the
//! exact code path a component runs, minus the canonical ABI.

use crate::config::parse_config;
use crate::{
    Capability, CommerceHook, CustomerInput, HookOutput, Manifest, Membership, Plugin,
    PopulationInput, Result, ScoreOutput, Scorer, Segmenter, Webhook,
};

/// The manifest, with `capability` added when the plugin did not list it.
pub fn manifest<P: Plugin>(capability: Capability) -> Manifest {
    report_panics();
    let mut manifest = P::manifest();
    if !manifest.capabilities.contains(&capability) {
        manifest.capabilities.push(capability);
    }
    manifest
}

/// Runs the population step; no model becomes an empty list.
pub fn populate<P: Plugin>(input: PopulationInput) -> Result<Vec<u8>> {
    report_panics();
    let config = parse_config::<P::Config>(&input.config)?;
    Ok(P::populate(&config, &input)?.unwrap_or_default())
}

/// Scores one customer.
pub fn score<P: Scorer>(input: CustomerInput) -> Result<ScoreOutput> {
    report_panics();
    let config = parse_config::<P::Config>(&input.config)?;
    P::score(&config, &input)
}

/// Classifies one customer.
pub fn classify<P: Segmenter>(input: CustomerInput) -> Result<Vec<Membership>> {
    report_panics();
    let config = parse_config::<P::Config>(&input.config)?;
    P::classify(&config, &input)
}

/// Handles one webhook.
pub fn handle<P: CommerceHook>(webhook: Webhook, config: String) -> Result<HookOutput> {
    report_panics();
    let config = parse_config::<P::Config>(&config)?;
    P::handle(&config, &webhook)
}

/// Makes a panic's message reach the host in debug builds without WASI, where it would go
/// nowhere (they have no stderr): logged at error level, it shows in the call's report and in the
/// host's message for the trap that follows. Runs at the start of every call, as every call may
/// be an instance's first.
///
/// Only in debug builds: logging needs the contract's `host.log` import, and a component with an
/// import that takes a string is instantiated as three core instances instead of one (the
/// import's lowering needs the memory the main instance exports), which cost 1.3 µs on every
/// call of the trivial scorer (7.5 -> 8.8 µs, `bench/README.md`, twelfth step). A plugin is a
/// pure function of its input, so a panic seen in production is reproduced exactly by a debug
/// build under `kith plugin run` with the same input.
fn report_panics() {
    #[cfg(all(target_arch = "wasm32", target_os = "unknown", debug_assertions))]
    {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            std::panic::set_hook(Box::new(|info| crate::log::error(&info.to_string())));
        });
    }
}

/// Exports a plugin type as the component's implementation of one world.
///
/// The second argument names the world: `scorer`, `segmenter` or `commerce_hook`;
/// the type must implement the matching trait ([`Scorer`](crate::Scorer),
/// [`Segmenter`](crate::Segmenter), [`CommerceHook`](crate::CommerceHook)).
/// Use it once per plugin crate, at the crate root.
///
/// ```
/// use kith_plugin_sdk::{Manifest, NoConfig, Plugin, Result, ScoreOutput, Scorer, CustomerInput};
///
/// struct Constant;
///
/// impl Plugin for Constant {
///     type Config = NoConfig;
///     fn manifest() -> Manifest {
///         Manifest::new("example.constant", "1.0.0", "Constant")
///     }
/// }
///
/// impl Scorer for Constant {
///     fn score(_: &NoConfig, _: &CustomerInput) -> Result<ScoreOutput> {
///         Ok(ScoreOutput::new(1.0))
///     }
/// }
///
/// kith_plugin_sdk::export_plugin!(Constant, scorer);
/// ```
///
/// The wasm exports are generated only when compiling for `wasm32`, so the
/// same crate builds and tests natively; on every target the macro checks that
/// the type implements the world's trait.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty, scorer) => {
        const _: fn() = || $crate::__private::assert_scorer::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct KithPluginExport;
            impl $crate::__private::scorer::Guest for KithPluginExport {
                fn manifest() -> $crate::Manifest {
                    $crate::__private::manifest::<$plugin>($crate::Capability::Scorer)
                }
                fn populate(input: $crate::PopulationInput) -> $crate::Result<::std::vec::Vec<u8>> {
                    $crate::__private::populate::<$plugin>(input)
                }
                fn score(input: $crate::CustomerInput) -> $crate::Result<$crate::ScoreOutput> {
                    $crate::__private::score::<$plugin>(input)
                }
            }
            $crate::__private::scorer::export_scorer!(
                KithPluginExport with_types_in $crate::__private::scorer
            );
        };
    };
    ($plugin:ty, segmenter) => {
        const _: fn() = || $crate::__private::assert_segmenter::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct KithPluginExport;
            impl $crate::__private::segmenter::Guest for KithPluginExport {
                fn manifest() -> $crate::Manifest {
                    $crate::__private::manifest::<$plugin>($crate::Capability::Segmenter)
                }
                fn populate(input: $crate::PopulationInput) -> $crate::Result<::std::vec::Vec<u8>> {
                    $crate::__private::populate::<$plugin>(input)
                }
                fn classify(
                    input: $crate::CustomerInput,
                ) -> $crate::Result<::std::vec::Vec<$crate::Membership>> {
                    $crate::__private::classify::<$plugin>(input)
                }
            }
            $crate::__private::segmenter::export_segmenter!(
                KithPluginExport with_types_in $crate::__private::segmenter
            );
        };
    };
    ($plugin:ty, commerce_hook) => {
        const _: fn() = || $crate::__private::assert_commerce_hook::<$plugin>();
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct KithPluginExport;
            impl $crate::__private::commerce_hook::Guest for KithPluginExport {
                fn manifest() -> $crate::Manifest {
                    $crate::__private::manifest::<$plugin>($crate::Capability::CommerceHook)
                }
                fn handle(
                    webhook: $crate::Webhook,
                    config: ::std::string::String,
                ) -> $crate::Result<$crate::HookOutput> {
                    $crate::__private::handle::<$plugin>(webhook, config)
                }
            }
            $crate::__private::commerce_hook::export_commerce_hook!(
                KithPluginExport with_types_in $crate::__private::commerce_hook
            );
        };
    };
    ($plugin:ty, $world:ident) => {
        ::core::compile_error!(concat!(
            "unknown Kith plugin world `",
            stringify!($world),
            "`: expected `scorer`, `segmenter` or `commerce_hook`"
        ));
    };
}

/// Compile-time check used by [`export_plugin!`](crate::export_plugin).
pub fn assert_scorer<P: Scorer>() {}

/// Compile-time check used by [`export_plugin!`](crate::export_plugin).
pub fn assert_segmenter<P: Segmenter>() {}

/// Compile-time check used by [`export_plugin!`](crate::export_plugin).
pub fn assert_commerce_hook<P: CommerceHook>() {}
