//! Builds every plugin crate under `plugins/` into a component (wasmtime's
//! `crates/test-programs/artifacts` pattern) and writes `$OUT_DIR/plugins.rs` with one path
//! constant per plugin:
//!
//! ```text
//! pub const RFM_SCORER: &str = "/…/target/plugin-artifacts/wasm32-unknown-unknown/release/kith_plugin_rfm_scorer.wasm";
//! pub const ALL: &[(&str, &str)] = &[("rfm-scorer", RFM_SCORER), …];
//! ```
//!
//! Conventions it enforces (see `plugins/README.md`): the crate in
//! `plugins/<dir>` is named `kith-plugin-<dir>`, its constant is `<DIR>` in upper
//! snake case, and it has at least one `#[test]`; a plugin without a test fails
//! the build.
//!
//! Plugins are built for `wasm32-unknown-unknown`, which the workspace's `.cargo/config.toml`
//! links into a component that imports only the contract; a plugin whose tests need WASI (the
//! hostile ones that probe it) says so in its manifest, and is built for `wasm32-wasip2`:
//!
//! ```toml
//! [package.metadata.kith]
//! target = "wasm32-wasip2"
//! ```
//!
//! The inner `cargo build` uses its own target directory,
//! `<workspace>/target/plugin-artifacts`, whatever `CARGO_TARGET_DIR` says, so it
//! never waits on the lock the outer build holds, and it runs with `--locked` so
//! it never rewrites `Cargo.lock`. Environment that the outer build passes to
//! build scripts (flags, target, target dir, jobserver, profile overrides) is
//! cleared so that it cannot leak into the wasm build. The workspace root is
//! `CARGO_MANIFEST_DIR/..`, or `KITH_WORKSPACE_ROOT` when set.
//!
//! Under `cargo clippy` nothing is built: the tests are only type-checked, and the constants
//! name where the components of a real build land.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "build_languages.rs"]
mod languages;

/// The target plugins are built for unless their manifest says otherwise.
const TARGET: &str = "wasm32-unknown-unknown";

/// The target a plugin may ask for instead, when its tests need WASI.
const WASI_TARGET: &str = "wasm32-wasip2";

/// Prefix of every plugin crate's name; the rest is its directory's name.
const CRATE_PREFIX: &str = "kith-plugin-";

/// The first 8 bytes of a component: `\0asm`, version 0x0d, layer 1.
const COMPONENT_MAGIC: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// Profile settings for the wasm build only, passed with `--config` so the
/// workspace profiles stay untouched: no debug info (a third of the size), one
/// codegen unit (better code). The name section stays, for readable traps.
/// Measured on this tree: `opt-level="s"` was larger than 3, and LTO saved nothing.
const PROFILE_OVERRIDES: &[&str] = &[
    "profile.release.debug=false",
    "profile.release.strip=\"debuginfo\"",
    "profile.release.codegen-units=1",
    "profile.release.opt-level=3",
];

/// Variables the outer build sets or inherits that must not reach the inner one.
const CLEARED_VARS: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
    "CARGO_INCREMENTAL",
    "CARGO_PRIMARY_PACKAGE",
    "RUSTC_WORKSPACE_WRAPPER",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "OPT_LEVEL",
    "PROFILE",
    "DEBUG",
    "NUM_JOBS",
    "__CARGO_FIX_PLZ",
];

/// Prefixes of variable families cleared for the same reason.
const CLEARED_PREFIXES: &[&str] = &["CARGO_CFG_", "CARGO_FEATURE_", "CARGO_PROFILE_", "DEP_"];

/// One crate under `plugins/`.
struct Plugin {
    /// Directory name, e.g. `rfm-scorer`.
    dir_name: String,
    /// Crate name, e.g. `kith-plugin-rfm-scorer`.
    crate_name: String,
    /// Constant name, e.g. `RFM_SCORER`.
    const_name: String,
    /// The target it is built for.
    target: &'static str,
    /// Where the built component lands.
    wasm: PathBuf,
}

fn main() {
    // Tests that need PostgreSQL run when KITH_TEST_DATABASE_URL is set and are reported as
    // ignored, by name, otherwise.
    println!("cargo::rustc-check-cfg=cfg(kith_pg)");
    println!("cargo:rerun-if-env-changed=KITH_TEST_DATABASE_URL");
    if env::var_os("KITH_TEST_DATABASE_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=kith_pg");
    }
    browser();
    println!("cargo:rerun-if-env-changed=KITH_WORKSPACE_ROOT");
    let root = workspace_root();
    for watched in [
        "plugins",
        "plugin-sdk",
        "wit",
        "tests/data/js",
        "Cargo.toml",
        ".cargo/config.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = root.join("target").join("plugin-artifacts");
    let plugins = discover(&root.join("plugins"), &target_dir);
    require_tests(&root, &plugins);
    let compile = !type_checks_only();
    if compile {
        build(&root, &target_dir, &plugins);
        for plugin in &plugins {
            check_component(plugin);
        }
    }
    let out_dir =
        PathBuf::from(env::var_os("OUT_DIR").unwrap_or_else(|| fail("OUT_DIR is not set")));
    let generated = out_dir.join("plugins.rs");
    let mut source = generate(&plugins);
    source.push_str(&languages::build(&root, &out_dir, compile));
    if let Err(err) = fs::write(&generated, source) {
        fail(&format!("cannot write {}: {err}", generated.display()));
    }
}

/// The console's browser tests run when Chromium and its WebDriver are present (`cfg(kith_browser)`,
/// found as `KITH_CHROMIUM` and `KITH_CHROMEDRIVER`, or `chromium` and `chromedriver` on `PATH`),
/// and its accessibility check when axe-core is too (`cfg(kith_axe)`: the `axe-core` package
/// beside a `node_modules/.bin` on `PATH`, as `.ci/run` installs it). Otherwise they are reported
/// as ignored, by name.
fn browser() {
    println!("cargo::rustc-check-cfg=cfg(kith_browser)");
    println!("cargo::rustc-check-cfg=cfg(kith_axe)");
    println!("cargo:rerun-if-env-changed=PATH");
    let path = env::var_os("PATH").unwrap_or_default();
    let find = |var: &str, name: &str| -> Option<PathBuf> {
        println!("cargo:rerun-if-env-changed={var}");
        if let Some(p) = env::var_os(var).filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(p));
        }
        env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    };
    if let (Some(chromium), Some(driver)) = (
        find("KITH_CHROMIUM", "chromium"),
        find("KITH_CHROMEDRIVER", "chromedriver"),
    ) {
        println!("cargo:rustc-cfg=kith_browser");
        println!("cargo:rustc-env=KITH_CHROMIUM_PATH={}", chromium.display());
        println!(
            "cargo:rustc-env=KITH_CHROMEDRIVER_PATH={}",
            driver.display()
        );
    }
    let axe = env::split_paths(&path)
        .filter(|dir| dir.ends_with("node_modules/.bin"))
        .filter_map(|dir| dir.parent().map(|m| m.join("axe-core/axe.min.js")))
        .find(|p| p.is_file());
    if let Some(axe) = axe {
        println!("cargo:rustc-cfg=kith_axe");
        println!("cargo:rustc-env=KITH_AXE_PATH={}", axe.display());
    }
}

/// Whether this build only type-checks the tests: under `cargo clippy` (its driver wraps the
/// workspace's rustc), which needs the paths this script emits, not the components behind them.
/// Building them again there took CI's lint phase half a minute: clippy's build of this script is
/// a new one, so it runs again even when the test build has just run it.
fn type_checks_only() -> bool {
    env::var_os("RUSTC_WORKSPACE_WRAPPER").is_some_and(|wrapper| {
        Path::new(&wrapper)
            .file_stem()
            .is_some_and(|stem| stem == "clippy-driver")
    })
}

/// `KITH_WORKSPACE_ROOT`, or the parent of this package's directory.
fn workspace_root() -> PathBuf {
    let root = match env::var_os("KITH_WORKSPACE_ROOT") {
        Some(root) => PathBuf::from(root),
        None => {
            let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|| fail("CARGO_MANIFEST_DIR is not set"));
            PathBuf::from(manifest_dir).join("..")
        }
    };
    root.canonicalize()
        .unwrap_or_else(|err| fail(&format!("workspace root {}: {err}", root.display())))
}

/// Every plugin crate, sorted by directory name.
fn discover(plugins_dir: &Path, target_dir: &Path) -> Vec<Plugin> {
    let entries = fs::read_dir(plugins_dir)
        .unwrap_or_else(|err| fail(&format!("cannot list {}: {err}", plugins_dir.display())));
    let mut plugins = Vec::new();
    for entry in entries {
        let path = entry
            .unwrap_or_else(|err| fail(&format!("cannot list {}: {err}", plugins_dir.display())))
            .path();
        if !path.is_dir() {
            continue;
        }
        let dir_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let valid_dir = dir_name.starts_with(|c: char| c.is_ascii_lowercase())
            && dir_name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_dir {
            fail(&format!(
                "plugins/{dir_name}: plugin directory names must be lower-case kebab-case"
            ));
        }
        let manifest = path.join("Cargo.toml");
        let text = fs::read_to_string(&manifest)
            .unwrap_or_else(|err| fail(&format!("{}: {err}", manifest.display())));
        let crate_name = package_name(&text)
            .unwrap_or_else(|| fail(&format!("{}: no [package] name", manifest.display())));
        if crate_name != format!("{CRATE_PREFIX}{dir_name}") {
            fail(&format!(
                "{}: the crate in plugins/{dir_name} must be named `{CRATE_PREFIX}{dir_name}`, not `{crate_name}` (see plugins/README.md)",
                manifest.display()
            ));
        }
        let target = match metadata_target(&text) {
            None => TARGET,
            Some(t) if t == WASI_TARGET => WASI_TARGET,
            Some(other) => fail(&format!(
                "{}: [package.metadata.kith] target = {other:?}: the only target a plugin may ask for is {WASI_TARGET:?} (the default is {TARGET:?})",
                manifest.display()
            )),
        };
        let wasm = target_dir
            .join(target)
            .join("release")
            .join(format!("{}.wasm", crate_name.replace('-', "_")));
        let const_name = dir_name.to_ascii_uppercase().replace('-', "_");
        plugins.push(Plugin {
            dir_name,
            crate_name,
            const_name,
            target,
            wasm,
        });
    }
    if plugins.is_empty() {
        fail(&format!("no plugin crates in {}", plugins_dir.display()));
    }
    plugins.sort_by(|a, b| a.dir_name.cmp(&b.dir_name));
    plugins
}

/// The `name` of the `[package]` table of a Cargo.toml.
fn package_name(cargo_toml: &str) -> Option<String> {
    string_value(cargo_toml, "[package]", "name")
}

/// The `target` of the `[package.metadata.kith]` table of a Cargo.toml, if it has one.
fn metadata_target(cargo_toml: &str) -> Option<String> {
    string_value(cargo_toml, "[package.metadata.kith]", "target")
}

/// The string value of `key` in `table`, read without a TOML parser: the plugins' manifests are
/// ours and written plainly (`key = "value"` on one line).
fn string_value(cargo_toml: &str, table: &str, key: &str) -> Option<String> {
    let mut in_table = false;
    for line in cargo_toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == table;
        } else if in_table
            && let Some(value) = line.strip_prefix(key)
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

/// Fails the build naming every plugin without a `#[test]` in `src/` or `tests/`.
fn require_tests(root: &Path, plugins: &[Plugin]) {
    let untested: Vec<&str> = plugins
        .iter()
        .filter(|p| {
            let dir = root.join("plugins").join(&p.dir_name);
            !(contains_test(&dir.join("src")) || contains_test(&dir.join("tests")))
        })
        .map(|p| p.dir_name.as_str())
        .collect();
    if !untested.is_empty() {
        fail(&format!(
            "every plugin needs at least one native test (a `#[test]` in src/ or tests/); none found in: plugins/{}",
            untested.join(", plugins/")
        ));
    }
}

/// Whether any `.rs` file under `dir` contains `#[test]`.
fn contains_test(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().map(|e| e.path()).any(|path| {
        if path.is_dir() {
            contains_test(&path)
        } else {
            path.extension().is_some_and(|e| e == "rs")
                && fs::read_to_string(&path).is_ok_and(|text| text.contains("#[test]"))
        }
    })
}

/// Builds the plugins with one `cargo build` for each target, so that the plugins of a target
/// share compiled dependencies.
fn build(root: &Path, target_dir: &Path, plugins: &[Plugin]) {
    for target in [TARGET, WASI_TARGET] {
        let crates: Vec<&str> = plugins
            .iter()
            .filter(|p| p.target == target)
            .map(|p| p.crate_name.as_str())
            .collect();
        if !crates.is_empty() {
            build_for(root, target_dir, target, &crates);
        }
    }
}

/// Builds `crates` for `target` in one `cargo build`.
fn build_for(root: &Path, target_dir: &Path, target: &str, crates: &[&str]) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .arg("build")
        .arg("--release")
        .arg("--locked")
        .arg(format!("--target={target}"))
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    for setting in PROFILE_OVERRIDES {
        cmd.arg("--config").arg(setting);
    }
    cmd.arg("--config").arg(format!(
        "build.build-dir={:?}",
        target_dir.display().to_string()
    ));
    if let Some(jobs) = env::var_os("NUM_JOBS") {
        cmd.arg("--jobs").arg(jobs);
    }
    for name in crates {
        cmd.arg("--package").arg(name);
    }
    for var in CLEARED_VARS {
        cmd.env_remove(var);
    }
    for (key, _) in env::vars_os() {
        if key
            .to_str()
            .is_some_and(|k| CLEARED_PREFIXES.iter().any(|p| k.starts_with(p)))
        {
            cmd.env_remove(&key);
        }
    }
    // Nothing the inner cargo prints may be read as a `cargo:` directive.
    cmd.stdout(Stdio::from(std::io::stderr()));
    eprintln!("building plugins: {cmd:?}");
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!(
            "building the plugins for {target} failed ({status}); the errors are above"
        )),
        Err(err) => fail(&format!("cannot run cargo to build the plugins: {err}")),
    }
}

/// Fails unless the plugin's artifact exists and is a component.
fn check_component(plugin: &Plugin) {
    let bytes = fs::read(&plugin.wasm)
        .unwrap_or_else(|err| fail(&format!("{}: {err}", plugin.wasm.display())));
    if !bytes.starts_with(&COMPONENT_MAGIC) {
        fail(&format!(
            "{} is not a WebAssembly component (for {TARGET}, `.cargo/config.toml` at the workspace's root makes `wasm-component-ld` the linker: is it there?)",
            plugin.wasm.display()
        ));
    }
}

/// The contents of `plugins.rs`.
fn generate(plugins: &[Plugin]) -> String {
    let mut out = String::from(
        "// Generated by tests/build.rs from plugins/: paths of the built components.\n\n",
    );
    for p in plugins {
        let _ = writeln!(
            out,
            "/// Component built from `plugins/{}` (crate `{}`) for `{}`.",
            p.dir_name, p.crate_name, p.target
        );
        let _ = writeln!(
            out,
            "pub const {}: &str = {:?};\n",
            p.const_name,
            p.wasm.display().to_string()
        );
    }
    out.push_str(
        "/// Every plugin as (directory name under `plugins/`, component path), sorted by name.\n",
    );
    out.push_str("pub const ALL: &[(&str, &str)] = &[\n");
    for p in plugins {
        let _ = writeln!(out, "    ({:?}, {}),", p.dir_name, p.const_name);
    }
    out.push_str("];\n");
    out
}

/// Stops the build with a message cargo shows to the user.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
