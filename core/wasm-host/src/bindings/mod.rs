//! The contract versions this host runs, side by side, one bindings module per version
//! (Zed's pattern): `since_v0_1_0` (`kith:plugin@0.1.0`) and `since_v0_2_0`
//! (`kith:plugin@0.2.0`, the latest). The host's own conversions (`convert.rs`) speak the latest
//! version's types; an older version converts its inputs down from them and its outputs up into
//! them, so everything outside this module sees one set of types.
//!
//! A released version's module never changes meaning: a component built against it keeps
//! running unchanged.

use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::Store;

use wasmtime::component::{
    Component, ComponentNamedList, InstancePre, Lift, Linker, Lower, TypedFunc,
};

use super::Capability;
use super::sandbox::HostState;

/// The typed pre-linked instances of one contract version's three worlds, called in the latest
/// version's types: `down` turns an input of the latest version into this version's, `up` a
/// call's result of this version into the latest's, `up_manifest` a manifest. Expanded in each
/// version's module, where `scorer`, `segmenter`, `commerce_hook` and `types` are its bindings.
macro_rules! world_pre {
    (down: $down:path, up: $up:path, up_manifest: $up_manifest:path $(,)?) => {
        /// A component's pre-linked instance, typed by its world, and which of its exports
        /// have been typechecked.
        pub(crate) struct WorldPre {
            world: World,
            populate: super::Checked,
            call: super::Checked,
        }

        /// The pre-linked instance of each world.
        enum World {
            /// World `scorer`.
            Scorer(scorer::ScorerPre<HostState>),
            /// World `segmenter`.
            Segmenter(segmenter::SegmenterPre<HostState>),
            /// World `commerce-hook`.
            CommerceHook(commerce_hook::CommerceHookPre<HostState>),
        }

        impl WorldPre {
            /// Checks the component's exports against `world` and wraps the pre-linked instance.
            pub(crate) fn new(
                world: Capability,
                pre: InstancePre<HostState>,
            ) -> wasmtime::Result<Self> {
                let world = match world {
                    Capability::Scorer => World::Scorer(scorer::ScorerPre::new(pre)?),
                    Capability::Segmenter => World::Segmenter(segmenter::SegmenterPre::new(pre)?),
                    Capability::CommerceHook => {
                        World::CommerceHook(commerce_hook::CommerceHookPre::new(pre)?)
                    }
                };
                Ok(WorldPre {
                    world,
                    populate: super::Checked::default(),
                    call: super::Checked::default(),
                })
            }

            /// The untyped pre-linked instance.
            pub(crate) fn instance_pre(&self) -> &InstancePre<HostState> {
                match &self.world {
                    World::Scorer(p) => p.instance_pre(),
                    World::Segmenter(p) => p.instance_pre(),
                    World::CommerceHook(p) => p.instance_pre(),
                }
            }

            /// Instantiates and calls `manifest`.
            pub(crate) fn manifest(
                &self,
                store: &mut Store<HostState>,
            ) -> wasmtime::Result<latest::Manifest> {
                let manifest = match &self.world {
                    World::Scorer(p) => p.instantiate(&mut *store)?.call_manifest(store),
                    World::Segmenter(p) => p.instantiate(&mut *store)?.call_manifest(store),
                    World::CommerceHook(p) => p.instantiate(&mut *store)?.call_manifest(store),
                };
                manifest.map($up_manifest)
            }

            /// Instantiates and calls `populate` (scorers and segmenters).
            pub(crate) fn populate(
                &self,
                store: &mut Store<HostState>,
                input: latest::PopulationInput,
            ) -> Returned<Vec<u8>> {
                let input: types::PopulationInput = $down(input);
                $up(match &self.world {
                    World::Scorer(_) | World::Segmenter(_) => {
                        super::call_export::<_, Result<Vec<u8>, types::PluginError>>(
                            self.instance_pre(),
                            store,
                            "populate",
                            &self.populate,
                            (&input,),
                        )
                    }
                    World::CommerceHook(_) => {
                        Err(wasmtime::format_err!("not a scorer or segmenter"))
                    }
                })
            }

            /// Instantiates and calls `score` (scorers).
            pub(crate) fn score(
                &self,
                store: &mut Store<HostState>,
                input: latest::CustomerInput,
            ) -> Returned<latest::ScoreOutput> {
                let input: types::CustomerInput = $down(input);
                $up(match &self.world {
                    World::Scorer(p) => super::call_export::<
                        _,
                        Result<types::ScoreOutput, types::PluginError>,
                    >(
                        p.instance_pre(), store, "score", &self.call, (&input,)
                    ),
                    _ => Err(wasmtime::format_err!("not a scorer")),
                })
            }

            /// Instantiates and calls `classify` (segmenters).
            pub(crate) fn classify(
                &self,
                store: &mut Store<HostState>,
                input: latest::CustomerInput,
            ) -> Returned<Vec<latest::Membership>> {
                let input: types::CustomerInput = $down(input);
                $up(match &self.world {
                    World::Segmenter(p) => {
                        super::call_export::<_, Result<Vec<types::Membership>, types::PluginError>>(
                            p.instance_pre(),
                            store,
                            "classify",
                            &self.call,
                            (&input,),
                        )
                    }
                    _ => Err(wasmtime::format_err!("not a segmenter")),
                })
            }

            /// Instantiates and calls `handle` (commerce hooks).
            pub(crate) fn handle(
                &self,
                store: &mut Store<HostState>,
                webhook: latest::Webhook,
                config: &str,
            ) -> Returned<latest::HookOutput> {
                let webhook: types::Webhook = $down(webhook);
                $up(match &self.world {
                    World::CommerceHook(p) => {
                        super::call_export::<_, Result<types::HookOutput, types::PluginError>>(
                            p.instance_pre(),
                            store,
                            "handle",
                            &self.call,
                            (&webhook, config),
                        )
                    }
                    _ => Err(wasmtime::format_err!("not a commerce hook")),
                })
            }
        }
    };
}

/// Whether one export of a component has been typechecked against the Rust types it is called
/// with. Each `Checked` belongs to one export and one signature: the calls in `world_pre!`
/// always pass the same export name with the same types for a given `Checked`.
#[derive(Default)]
struct Checked(AtomicBool);

/// Instantiates `pre` and calls its export `name` with `params`.
///
/// The generated `instantiate` typechecks every export of the world on every instance, 13 % of
/// a fresh-instance call (1.8 of 14 µs for the trivial scorer, `--bench plugin`). The types of
/// a component's exports are the same in every instance of it, so the export is typechecked
/// on the first call and taken as typed on the next ones.
fn call_export<P, R>(
    pre: &InstancePre<HostState>,
    store: &mut Store<HostState>,
    name: &str,
    checked: &Checked,
    params: P,
) -> wasmtime::Result<R>
where
    P: ComponentNamedList + Lower,
    (R,): ComponentNamedList + Lift,
{
    let instance = pre.instantiate(&mut *store)?;
    let typed = if checked.0.load(Ordering::Acquire) {
        let func = instance
            .get_func(&mut *store, name)
            .ok_or_else(|| wasmtime::format_err!("the component has no export `{name}`"))?;
        // SAFETY: `checked` is set only after `get_typed_func::<P, (R,)>` succeeded for export
        // `name` of an instance of this same `InstancePre`; every instance of a component has
        // the same export types (the contract defines no resources, whose types would be per
        // instance), and `checked` is only ever used with this name and these types. This is
        // what the generated bindings do after their own typecheck (`new_unchecked` per call).
        #[allow(unsafe_code)]
        unsafe {
            TypedFunc::<P, (R,)>::new_unchecked(func)
        }
    } else {
        let typed = instance.get_typed_func::<P, (R,)>(&mut *store, name)?;
        checked.0.store(true, Ordering::Release);
        typed
    };
    let (result,) = typed.call(&mut *store, params)?;
    Ok(result)
}

pub(super) mod since_v0_1_0;
pub(super) mod since_v0_2_0;

/// The latest version: what the host's conversions speak.
pub(super) use since_v0_2_0 as latest;

use latest::{Returned, types};

/// The contract versions this host implements, oldest first.
pub const VERSIONS: &[&str] = &[since_v0_1_0::VERSION, since_v0_2_0::VERSION];

/// A contract version a component was built against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    /// `kith:plugin@0.1.0`.
    V0_1,
    /// `kith:plugin@0.2.0`.
    V0_2,
}

impl Version {
    /// Newest first: the order in which a component that names no version is tried.
    pub(super) const NEWEST_FIRST: [Version; 2] = [Version::V0_2, Version::V0_1];

    /// The version whose interfaces include `import` (e.g. `kith:plugin/types@0.1.0`).
    pub(super) fn of_import(import: &str) -> Option<Version> {
        if since_v0_1_0::INTERFACES.contains(&import) {
            Some(Version::V0_1)
        } else if since_v0_2_0::INTERFACES.contains(&import) {
            Some(Version::V0_2)
        } else {
            None
        }
    }

    /// The version's number, e.g. `0.1.0`.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Version::V0_1 => since_v0_1_0::VERSION,
            Version::V0_2 => since_v0_2_0::VERSION,
        }
    }
}

/// Adds what every supported version imports from the host.
pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    since_v0_1_0::add_to_linker(linker)?;
    since_v0_2_0::add_to_linker(linker)
}

/// A plugin's pre-linked instance, typed by its contract version and world. Calls take and
/// return the latest version's types.
pub(super) enum WorldPre {
    /// Built against 0.1.0.
    V0_1(since_v0_1_0::WorldPre),
    /// Built against 0.2.0.
    V0_2(since_v0_2_0::WorldPre),
}

impl WorldPre {
    /// Checks the component's exports against `world` of `version`.
    pub(super) fn new(
        version: Version,
        world: Capability,
        pre: InstancePre<HostState>,
    ) -> wasmtime::Result<WorldPre> {
        Ok(match version {
            Version::V0_1 => WorldPre::V0_1(since_v0_1_0::WorldPre::new(world, pre)?),
            Version::V0_2 => WorldPre::V0_2(since_v0_2_0::WorldPre::new(world, pre)?),
        })
    }

    /// The contract version.
    pub(super) fn version(&self) -> Version {
        match self {
            WorldPre::V0_1(_) => Version::V0_1,
            WorldPre::V0_2(_) => Version::V0_2,
        }
    }

    /// The untyped pre-linked instance.
    pub(super) fn instance_pre(&self) -> &InstancePre<HostState> {
        match self {
            WorldPre::V0_1(p) => p.instance_pre(),
            WorldPre::V0_2(p) => p.instance_pre(),
        }
    }

    /// The compiled component.
    pub(super) fn component(&self) -> &Component {
        self.instance_pre().component()
    }

    /// Instantiates and calls `manifest`.
    pub(super) fn manifest(
        &self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<types::Manifest> {
        match self {
            WorldPre::V0_1(p) => p.manifest(store),
            WorldPre::V0_2(p) => p.manifest(store),
        }
    }

    /// Instantiates and calls `populate`.
    pub(super) fn populate(
        &self,
        store: &mut Store<HostState>,
        input: types::PopulationInput,
    ) -> Returned<Vec<u8>> {
        match self {
            WorldPre::V0_1(p) => p.populate(store, input),
            WorldPre::V0_2(p) => p.populate(store, input),
        }
    }

    /// Instantiates and calls `score`.
    pub(super) fn score(
        &self,
        store: &mut Store<HostState>,
        input: types::CustomerInput,
    ) -> Returned<types::ScoreOutput> {
        match self {
            WorldPre::V0_1(p) => p.score(store, input),
            WorldPre::V0_2(p) => p.score(store, input),
        }
    }

    /// Instantiates and calls `classify`.
    pub(super) fn classify(
        &self,
        store: &mut Store<HostState>,
        input: types::CustomerInput,
    ) -> Returned<Vec<types::Membership>> {
        match self {
            WorldPre::V0_1(p) => p.classify(store, input),
            WorldPre::V0_2(p) => p.classify(store, input),
        }
    }

    /// Instantiates and calls `handle`.
    pub(super) fn handle(
        &self,
        store: &mut Store<HostState>,
        webhook: types::Webhook,
        config: &str,
    ) -> Returned<types::HookOutput> {
        match self {
            WorldPre::V0_1(p) => p.handle(store, webhook, config),
            WorldPre::V0_2(p) => p.handle(store, webhook, config),
        }
    }
}
