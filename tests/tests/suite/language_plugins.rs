//! Plugins written in Python (componentize-py) and JavaScript (componentize-js on
//! StarlingMonkey, componentize-qjs on QuickJS) run in the same sandbox as Rust ones, and the
//! reference ports of `kith.rfm` give exactly the Rust plugin's model, scores, grades and
//! reasons on the CDNOW sample. Their SDKs' native test suites (pytest, `node --test`) pass.
//!
//! Each test needs its toolchain (see `tests/build_languages.rs`) and is reported as ignored,
//! by name, without it; `.ci/run` installs them all.

use std::process::Command;

use kith::model::Timestamp;
use kith::plugin::{Limits, LoadedPlugin, LogLevel, PluginFailure, Runtime, ScoreOutput, Webhook};
use kith_tests::cdnow::{CdnowCustomer, call, load, population, runtime, sample};
use kith_tests::plugins::{self, languages};

const CONFIGS: [&str; 3] = [
    r#"{"currency":"USD"}"#,
    r#"{"currency":"USD","weights":{"recency":2,"frequency":0.5,"monetary":1.25}}"#,
    // Another currency: nobody has spent any, every monetary quintile is 1.
    r#"{"currency":"JPY"}"#,
];

/// Score outputs of every CDNOW customer (and one who never bought), with the model the
/// plugin's own population step built, under `config`.
fn scores(
    rt: &Runtime,
    plugin: &LoadedPlugin,
    customers: &[CdnowCustomer],
    config: &str,
) -> (Option<Vec<u8>>, Vec<ScoreOutput>) {
    let (model, report) = rt.populate(
        plugin,
        &population(customers, config),
        &rt.config().population_limits,
    );
    let model = model.unwrap_or_else(|e| panic!("{}: populate: {e}", plugin.manifest().id));
    eprintln!("{} populate: {report:?}", plugin.manifest().id);
    let mut out = Vec::new();
    let never = CdnowCustomer {
        id: "never".into(),
        ..CdnowCustomer::default()
    };
    for (i, c) in customers.iter().chain([&never]).enumerate() {
        let input = call(c.view(), config, model.clone());
        let (output, report) = rt.score(plugin, &input, &rt.config().limits);
        let output = output.unwrap_or_else(|e| panic!("{} on {}: {e}", plugin.manifest().id, c.id));
        if i == 0 {
            eprintln!("{} score: {report:?}", plugin.manifest().id);
        }
        out.push(output);
    }
    (model, out)
}

/// The port gives the Rust plugin's model bytes and, for every customer, the same score (to
/// the bit), grade and reasons (code, message, contribution).
fn assert_port_matches_rust(port: &str) {
    // The stock budgets: a Python or JS RFM call fits them (measured figures in the README).
    let rt = runtime();
    let rust = load(&rt, plugins::RFM_SCORER);
    let ported = load(&rt, port);
    // Every customer under the first configuration; the first 300 under the others (what they
    // change is arithmetic the first already covers), to keep the suite's time down.
    let customers = sample();
    for (i, config) in CONFIGS.into_iter().enumerate() {
        let customers = if i == 0 {
            &customers[..]
        } else {
            &customers[..300]
        };
        let (want_model, want) = scores(&rt, &rust, customers, config);
        let (got_model, got) = scores(&rt, &ported, customers, config);
        assert_eq!(got_model, want_model, "{config}: model");
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                g.score.to_bits(),
                w.score.to_bits(),
                "{config}: {g:?} vs {w:?}"
            );
            assert_eq!(g.grade, w.grade, "{config}");
            assert_eq!(g.reasons, w.reasons, "{config}");
            assert_eq!(g.actions, w.actions, "{config}");
        }
    }
}

#[test]
#[cfg_attr(
    not(kith_python),
    ignore = "needs componentize-py and pytest (.ci/run installs them)"
)]
fn python_rfm_port_matches_rust_on_cdnow() {
    assert_port_matches_rust(languages::RFM_PYTHON);
}

#[test]
#[cfg_attr(
    not(kith_js),
    ignore = "needs componentize-js and node (.ci/run installs them)"
)]
fn javascript_rfm_port_on_starlingmonkey_matches_rust_on_cdnow() {
    assert_port_matches_rust(languages::RFM_JS);
}

#[test]
#[cfg_attr(not(kith_qjs), ignore = "needs componentize-qjs (.ci/run installs it)")]
fn javascript_rfm_port_on_quickjs_matches_rust_on_cdnow() {
    assert_port_matches_rust(languages::RFM_QJS);
}

fn run(cmd: &mut Command) {
    let output = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{text}");
    assert!(output.status.success(), "{cmd:?} failed:\n{text}");
}

#[test]
#[cfg_attr(
    not(kith_python),
    ignore = "needs componentize-py and pytest (.ci/run installs them)"
)]
fn python_sdk_and_port_pass_their_native_tests() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let path = std::env::join_paths([
        languages::PYTHON_BINDINGS.to_owned(),
        format!("{root}/plugin-sdk/python/native"),
        format!("{root}/plugin-sdk/python"),
    ])
    .expect("PYTHONPATH");
    run(Command::new(languages::PYTHON)
        .current_dir(format!("{root}/plugins/rfm-scorer/python"))
        .env("PYTHONPATH", path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"]));
}

#[test]
#[cfg_attr(
    not(kith_js),
    ignore = "needs componentize-js and node (.ci/run installs them)"
)]
fn javascript_sdk_and_port_pass_their_native_tests() {
    run(Command::new("node")
        .current_dir(languages::JS_PROJECT)
        .arg("--test"));
}

/// StarlingMonkey imports wasi:http for `fetch`; the host links it, but a request fails at once
/// and nothing reaches the network: a listener on the URL the plugin calls sees no connection.
#[test]
#[cfg_attr(
    not(kith_js),
    ignore = "needs componentize-js and node (.ci/run installs them)"
)]
fn a_javascript_plugins_fetch_is_denied_and_reaches_no_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("non-blocking");
    let url = format!("http://{}/", listener.local_addr().expect("address"));
    let rt = runtime();
    let plugin = load(&rt, languages::HOSTILE_FETCH_JS);
    let config = format!(r#"{{"url": {url:?}}}"#);
    let customer = sample().remove(0);
    let (output, report) = rt.score(
        &plugin,
        &call(customer.view(), &config, None),
        &rt.config().limits,
    );
    let output = output.expect("the call itself succeeds");
    eprintln!("{output:?} {report:?}");
    assert!(report.http_requests_denied >= 1, "{report:?}");
    let connection = listener.accept();
    assert!(
        matches!(&connection, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a plugin reached the network: {connection:?}"
    );
}

/// `kith plugin new NAME --lang LANG` into a fresh directory outside this repository, then
/// `kith plugin run` of the component the project builds: the score of `input.json` (three
/// purchases, 10 points each).
fn new_project(lang: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = tmp.path().join("acme-fit");
    run(Command::new(env!("CARGO_BIN_EXE_kith_under_test"))
        .args([
            "plugin",
            "new",
            "acme-fit",
            "--id",
            "com.acme.fit",
            "--lang",
            lang,
            "--dir",
        ])
        .arg(&dir));
    (tmp, dir)
}

/// `cargo <args> --target-dir <target>` in `dir`: what the outer cargo passes to its tests
/// (flags, target, target directory) must not reach this build.
fn cargo(dir: &std::path::Path, args: &[&str], target: &std::path::Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir)
        .args(args)
        .arg("--target-dir")
        .arg(target);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn assert_runs(dir: &std::path::Path, wasm: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_kith_under_test"))
        .current_dir(dir)
        .args(["plugin", "run", wasm, "--input", "input.json"])
        .output()
        .expect("kith plugin run");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&text).expect("a JSON report");
    assert_eq!(report["plugin"], "com.acme.fit", "{report}");
    assert_eq!(report["steps"][0]["output"]["score"], 30.0, "{report}");
    assert_eq!(
        report["steps"][0]["output"]["reasons"][0]["message"], "3 purchases",
        "{report}"
    );
}

/// The Rust project builds outside this workspace with its vendored SDK and its own
/// `.cargo/config.toml`, as its README says: its native tests pass and its component, without
/// WASI, runs.
#[test]
fn a_new_rust_plugin_project_tests_builds_and_runs_on_its_own() {
    let (tmp, dir) = new_project("rust");
    let target = tmp.path().join("target");
    for args in [
        &["test", "--quiet"][..],
        // A debug component: it builds faster, and runs the same.
        &["build", "--quiet", "--target", "wasm32-unknown-unknown"][..],
    ] {
        run(&mut cargo(&dir, args, &target));
    }
    // The project's `.cargo/config.toml` made it a component that imports only the contract (in
    // a debug build, `host` too: the SDK logs a panic's message).
    let wasm = target.join("wasm32-unknown-unknown/debug/acme_fit.wasm");
    let wasm = wasm.to_str().expect("a UTF-8 path");
    assert_eq!(
        imported_interfaces(wasm),
        ["kith:plugin/host@0.2.0", "kith:plugin/types@0.2.0"]
    );
    assert_runs(&dir, wasm);
}

#[test]
#[cfg_attr(
    not(kith_python),
    ignore = "needs componentize-py and pytest (.ci/run installs them)"
)]
fn a_new_python_plugin_project_tests_builds_and_runs() {
    let (_tmp, dir) = new_project("python");
    run(Command::new("sh").current_dir(&dir).arg("build.sh"));
    assert_runs(&dir, "acme-fit.wasm");
}

#[test]
#[cfg_attr(
    not(kith_js),
    ignore = "needs componentize-js and node (.ci/run installs them)"
)]
fn a_new_javascript_plugin_project_tests_builds_and_runs() {
    let (_tmp, dir) = new_project("js");
    run(Command::new("npm")
        .current_dir(&dir)
        .args(["test", "--silent"]));
    run(Command::new("npm")
        .current_dir(&dir)
        .args(["run", "build", "--silent"]));
    assert_runs(&dir, "acme-fit.wasm");
}

/// The interfaces a component imports (`package/name@version`); the world's other imports are
/// the types its exports use.
fn imported_interfaces(path: &str) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let wit_component::DecodedWasm::Component(resolve, world) =
        wit_component::decode(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
    else {
        panic!("{path} is not a component");
    };
    resolve.worlds[world]
        .imports
        .keys()
        .map(|key| resolve.name_world_key(key))
        .filter(|name| name.contains(':'))
        .collect()
}

/// `tests/build.rs` builds the plugins for `wasm32-unknown-unknown`, linked into components by
/// the workspace's `.cargo/config.toml`: they import the contract and nothing else, so a call
/// instantiates one core instance and no WASI. The hostile plugins that probe WASI ask for a
/// `wasm32-wasip2` build, and get one.
#[test]
fn the_plugins_import_only_the_contract_unless_they_probe_wasi() {
    let mut with_wasi = Vec::new();
    for (dir, path) in plugins::ALL {
        let interfaces = imported_interfaces(path);
        if path.contains("/wasm32-wasip2/") {
            assert!(
                interfaces.iter().any(|i| i.starts_with("wasi:")),
                "{dir}: {interfaces:?}"
            );
            with_wasi.push(*dir);
        } else {
            assert!(path.contains("/wasm32-unknown-unknown/"), "{path}");
            assert!(
                interfaces.iter().all(|i| i.starts_with("kith:plugin/")),
                "{dir} imports more than the contract: {interfaces:?}"
            );
        }
    }
    assert_eq!(
        with_wasi,
        [
            "hostile-open-file",
            "hostile-open-socket",
            "hostile-panic",
            "hostile-read-clock",
            "hostile-read-env"
        ]
    );
    assert_eq!(
        imported_interfaces(plugins::RFM_SCORER),
        ["kith:plugin/types@0.2.0"]
    );
}

/// Builds `plugins/<dir>` for `target` with cargo's `profile` (`dev` or `release`) in a temporary
/// target directory, which the returned guard removes; the component's path.
fn build_plugin(dir: &str, target: &str, profile: &str) -> (tempfile::TempDir, String) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let tmp = tempfile::tempdir().expect("temporary directory");
    let target_dir = tmp.path().join("target");
    let package = format!("kith-plugin-{dir}");
    let build = [
        "build",
        "--quiet",
        "--locked",
        "--profile",
        profile,
        "--target",
        target,
        "--package",
        &package,
    ];
    run(&mut cargo(root.as_ref(), &build, &target_dir));
    let out = if profile == "dev" { "debug" } else { profile };
    let path = target_dir
        .join(target)
        .join(out)
        .join(format!("kith_plugin_{}.wasm", dir.replace('-', "_")));
    let path = path.to_str().expect("a UTF-8 path").to_owned();
    (tmp, path)
}

/// The RFM scorer built for `wasm32-wasip2`, the SDK's other build, gives the reference build's
/// model and scores on CDNOW to the bit; and a call of the reference build allocates in the room
/// the linker leaves above the data instead of growing memory (the SDK's allocator for
/// `wasm32-unknown-unknown`), so it peaks at exactly its 2 MiB of initial memory.
#[test]
fn the_rfm_scorer_built_with_wasi_scores_the_same() {
    let (_tmp, path) = build_plugin("rfm-scorer", "wasm32-wasip2", "release");
    let path = path.as_str();
    assert!(
        imported_interfaces(path)
            .iter()
            .any(|i| i.starts_with("wasi:")),
        "a wasm32-wasip2 build imports WASI"
    );
    assert_port_matches_rust(path);

    let rt = runtime();
    let plugin = load(&rt, plugins::RFM_SCORER);
    let customers = sample();
    let (model, _) = scores(&rt, &plugin, &customers[..1], CONFIGS[0]);
    let (output, report) = rt.score(
        &plugin,
        &call(customers[0].view(), CONFIGS[0], model),
        &rt.config().limits,
    );
    output.expect("score");
    assert_eq!(report.peak_memory_bytes, 2 << 20, "{report:?}");
}

/// A debug build without WASI has no stderr either, but the SDK logs a panic's message at error
/// level, and the host quotes that line in the trap's message, as it quotes stderr for a
/// `wasm32-wasip2` build (`hostile_plugins::panic_traps_and_shows_the_panic_message`).
#[test]
fn a_debug_build_without_wasi_shows_a_panics_message() {
    let (_tmp, path) = build_plugin("hostile-hook-panic", "wasm32-unknown-unknown", "dev");
    let rt = runtime();
    let plugin = load(&rt, &path);
    let webhook = Webhook {
        topic: "orders/create".to_owned(),
        headers: Vec::new(),
        body: b"{}".to_vec(),
        delivery_id: None,
        received_at: Timestamp::from_micros(1_735_689_600_000_000),
    };
    let (result, report) = rt.handle_webhook(&plugin, &webhook, "{}", &Limits::default());
    match result {
        Err(PluginFailure::Trap(message)) => {
            assert!(message.contains("the plugin panicked"), "{message}");
            assert!(
                message.contains("; last log line: panicked at")
                    && message.contains("db password is hunter2"),
                "{message}"
            );
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    let output = report.output.expect("what the plugin said");
    assert_eq!(output.stderr, "", "a build without WASI has no stderr");
    let last = output.logs.last().expect("the panic's line");
    assert_eq!(last.level, LogLevel::Error);
    assert!(last.message.contains("panicked at"), "{last:?}");
}
