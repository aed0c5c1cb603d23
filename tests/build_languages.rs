//! Builds the plugins written in Python and JavaScript (`plugins/*/python`, `plugins/*/js`) when
//! their toolchains are present, and tells the tests which are (`cfg(kith_python)`,
//! `cfg(kith_js)`, `cfg(kith_qjs)`); without one, the tests that need it are reported as ignored,
//! by name.
//!
//! Toolchains are found on `PATH` or named by a variable: `KITH_COMPONENTIZE_PY` (componentize-py;
//! the Python beside it, or `KITH_PYTHON`, must have pytest for the native tests),
//! `KITH_COMPONENTIZE_JS` (componentize-js, StarlingMonkey; `node` runs the native tests) and
//! `KITH_COMPONENTIZE_QJS` (componentize-qjs, QuickJS, built with `--sync`). `.ci/run` installs
//! the pinned versions. The three builds run at the same time; each takes 3 to 20 s.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The WIT every language plugin is built against.
const WIT: &str = "plugin-sdk/wit/since_v0.1.0";

/// One language plugin to build: its constant, where its sources are, what builds it.
struct Build {
    /// Constant in `plugins::languages`, e.g. `RFM_PYTHON`.
    const_name: &'static str,
    /// Output component.
    wasm: PathBuf,
    /// The running build; none when the tests are only type-checked.
    child: Option<Child>,
}

/// A tool named by `var` or found on `PATH` under `name`.
fn tool(var: &str, name: &str) -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed={var}");
    if let Some(path) = env::var_os(var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(path));
    }
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A Python that can import pytest: `KITH_PYTHON`, the one beside componentize-py, or `python3`.
fn python_with_pytest(componentize_py: &Path) -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=KITH_PYTHON");
    let candidates = [
        env::var_os("KITH_PYTHON").map(PathBuf::from),
        componentize_py.parent().map(|d| d.join("python3")),
        Some(PathBuf::from("python3")),
    ];
    candidates.into_iter().flatten().find(|python| {
        Command::new(python)
            .args(["-c", "import pytest"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn spawn(mut cmd: Command, what: &str) -> Child {
    // Nothing the tools print may be read as a `cargo:` directive.
    cmd.stdout(Stdio::from(std::io::stderr()));
    eprintln!("building {what}: {cmd:?}");
    cmd.spawn()
        .unwrap_or_else(|e| super::fail(&format!("cannot run {what}'s toolchain: {e}")))
}

/// Copies the JS plugin of `plugins/<plugin>/js` and the JS SDK into one directory, as an
/// integrator's project has them.
fn stage_js(root: &Path, plugin: &str, stage: &Path) {
    stage_js_dir(root, &root.join("plugins").join(plugin).join("js"), stage);
}

/// Copies the JS sources of `source` and the JS SDK into `stage`.
fn stage_js_dir(root: &Path, source: &Path, stage: &Path) {
    let _ = fs::remove_dir_all(stage);
    fs::create_dir_all(stage).unwrap_or_else(|e| super::fail(&format!("{}: {e}", stage.display())));
    for dir in [root.join("plugin-sdk/js"), source.to_owned()] {
        copy_sources(&dir, "js", stage);
    }
    // For `node --test`: the sources are ES modules.
    let _ = fs::write(stage.join("package.json"), "{\"type\": \"module\"}\n");
}

/// Copies the Python RFM port and the Python SDK into one directory for componentize-py, which
/// writes `__pycache__` beside the sources it imports: in the tree, that would be a change under
/// the directories this script watches, and every later cargo command would run it again
/// (Python and JavaScript builds included, about 30 s here).
fn stage_py(root: &Path, stage: &Path) {
    let _ = fs::remove_dir_all(stage);
    let sdk = stage.join("kith_plugin");
    fs::create_dir_all(&sdk).unwrap_or_else(|e| super::fail(&format!("{}: {e}", sdk.display())));
    copy_sources(&root.join("plugins/rfm-scorer/python"), "py", stage);
    copy_sources(&root.join("plugin-sdk/python/kith_plugin"), "py", &sdk);
}

/// Copies the files of `dir` (not its subdirectories) whose extension is `extension` into `to`.
fn copy_sources(dir: &Path, extension: &str, to: &Path) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| super::fail(&format!("{}: {e}", dir.display())));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == extension) {
            let target = to.join(entry.file_name());
            fs::copy(&path, &target).unwrap_or_else(|e| {
                super::fail(&format!("{} -> {}: {e}", path.display(), target.display()))
            });
        }
    }
}

/// Builds what the toolchains present allow (only names the components when `compile` is false);
/// returns the source of `plugins::languages`.
pub fn build(root: &Path, out_dir: &Path, compile: bool) -> String {
    for cfg in ["kith_python", "kith_js", "kith_qjs"] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    println!("cargo:rerun-if-env-changed=PATH");
    let wit = root.join(WIT);
    let dir = out_dir.join("languages");
    let _ = fs::create_dir_all(&dir);
    let mut builds = Vec::new();
    let mut paths: Vec<(&str, String)> = Vec::new();

    let py = tool("KITH_COMPONENTIZE_PY", "componentize-py")
        .and_then(|c| python_with_pytest(&c).map(|python| (c, python)));
    let py_bindings = dir.join("python-bindings");
    if let Some((componentize_py, python)) = &py {
        println!("cargo:rustc-cfg=kith_python");
        // componentize-py refuses to write into an existing directory.
        if compile {
            let _ = fs::remove_dir_all(&py_bindings);
            let status = Command::new(componentize_py)
                .arg("-d")
                .arg(&wit)
                .args(["-w", "scorer", "bindings"])
                .arg(&py_bindings)
                .stdout(Stdio::from(std::io::stderr()))
                .status();
            if !status.is_ok_and(|s| s.success()) {
                super::fail("componentize-py could not generate the Python bindings");
            }
        }
        let wasm = dir.join("rfm_python.wasm");
        let stage = dir.join("rfm-python");
        stage_py(root, &stage);
        let mut cmd = Command::new(componentize_py);
        cmd.arg("-d")
            .arg(&wit)
            .args(["-w", "scorer", "componentize", "-p"])
            .arg(&stage)
            .arg("app")
            .arg("-o")
            .arg(&wasm);
        builds.push(Build {
            const_name: "RFM_PYTHON",
            wasm,
            child: compile.then(|| spawn(cmd, "the Python RFM port")),
        });
        paths.push(("PYTHON", python.display().to_string()));
    }
    paths.push(("PYTHON_BINDINGS", py_bindings.display().to_string()));

    let js_stage = dir.join("rfm-js");
    let js = tool("KITH_COMPONENTIZE_JS", "componentize-js");
    let qjs = tool("KITH_COMPONENTIZE_QJS", "componentize-qjs");
    if js.is_some() || qjs.is_some() {
        stage_js(root, "rfm-scorer", &js_stage);
    }
    let fetch_stage = dir.join("hostile-fetch");
    if let Some(componentize_js) = &js {
        println!("cargo:rustc-cfg=kith_js");
        stage_js_dir(
            root,
            &root.join("tests/data/js/hostile-fetch"),
            &fetch_stage,
        );
        for (const_name, stage, file, what) in [
            (
                "HOSTILE_FETCH_JS",
                &fetch_stage,
                "hostile_fetch_js.wasm",
                "the hostile fetch plugin",
            ),
            (
                "RFM_JS",
                &js_stage,
                "rfm_js.wasm",
                "the JavaScript RFM port",
            ),
        ] {
            let wasm = dir.join(file);
            let mut cmd = Command::new(componentize_js);
            cmd.current_dir(stage)
                .arg("--wit")
                .arg(&wit)
                .args(["-n", "scorer", "-o"])
                .arg(&wasm)
                .arg("app.js");
            builds.push(Build {
                const_name,
                wasm,
                child: compile.then(|| spawn(cmd, &format!("{what} (componentize-js)"))),
            });
        }
    }
    if let Some(componentize_qjs) = &qjs {
        println!("cargo:rustc-cfg=kith_qjs");
        let wasm = dir.join("rfm_qjs.wasm");
        let mut cmd = Command::new(componentize_qjs);
        cmd.current_dir(&js_stage)
            .arg("--sync")
            .arg("--wit")
            .arg(&wit)
            .args(["-n", "scorer", "--js", "app.js", "-o"])
            .arg(&wasm);
        builds.push(Build {
            const_name: "RFM_QJS",
            wasm,
            child: compile.then(|| spawn(cmd, "the JavaScript RFM port (componentize-qjs)")),
        });
    }
    paths.push(("JS_PROJECT", js_stage.display().to_string()));

    let mut out = String::from(
        "/// Plugins written in Python and JavaScript, built by `tests/build_languages.rs` when \
         their toolchain is present (empty paths otherwise; see the `kith_python`, `kith_js` and \
         `kith_qjs` cfgs).\npub mod languages {\n",
    );
    for name in ["RFM_PYTHON", "RFM_JS", "RFM_QJS", "HOSTILE_FETCH_JS"] {
        let mut path = String::new();
        if let Some(b) = builds.iter_mut().find(|b| b.const_name == name) {
            if let Some(mut child) = b.child.take() {
                let ok = child.wait().is_ok_and(|s| s.success());
                if !ok || !fs::read(&b.wasm).is_ok_and(|w| w.starts_with(&super::COMPONENT_MAGIC)) {
                    super::fail(&format!(
                        "building {} failed; the toolchain's errors are above",
                        b.wasm.display()
                    ));
                }
            }
            path = b.wasm.display().to_string();
        }
        let _ = writeln!(out, "    pub const {name}: &str = {path:?};");
    }
    for (name, value) in &paths {
        let _ = writeln!(out, "    pub const {name}: &str = {value:?};");
    }
    for name in ["PYTHON"] {
        if !paths.iter().any(|(n, _)| *n == name) {
            let _ = writeln!(out, "    pub const {name}: &str = \"\";");
        }
    }
    out.push_str("}\n");
    out
}
