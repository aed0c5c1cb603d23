//! `kith plugin inspect|run`: develop a plugin locally, without a server or a data directory.
//!
//! `run` reads one input JSON file whose shape depends on the plugin's world:
//!
//! - scorer or segmenter, one customer (`score` or `classify`):
//!   `{"customer": {"id": "c1", "display_name": "Ada", "aggregates": [...], ...},
//!     "now": "2025-01-31T12:00:00Z", "seed": 1, "model_base64": "..."}`
//!   (`customer` is a `CustomerView` in JSON: snake_case fields, RFC 3339 times, money as
//!   `{"minor": 1999, "currency": "EUR"}`; only `id` and `display_name` are required).
//! - scorer or segmenter, population step: `{"population": [{"id": "c1", "aggregates": [...]}, ...],
//!   "now": ..., "seed": ...}`; with a `customer` as well, the model it returns is passed to
//!   the customer call.
//! - commerce hook: `{"topic": "orders/create", "headers": {"X-Shopify-Hmac-Sha256": "..."},
//!   "body": "<raw body as a string>", "delivery_id": "...", "received_at": "..."}`; `headers`
//!   may also be a list of `[name, value]` pairs, and `body_base64` replaces `body` for bytes
//!   that are not UTF-8. A signature must be computed over exactly the body's bytes.
//!
//! `now`/`received_at` default to the current time, `seed` to 0, the configuration (`--config`)
//! to `{}`. The result is printed as JSON on stdout with the call's fuel, peak memory and wall
//! time; a failed call prints its report and exits with status 1.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Subcommand;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::model::{LimitOverrides, Timestamp};
use crate::plugin::{
    CallOptions, CallReport, Capability, Compiler, CustomerCall, CustomerSummary, CustomerView,
    GuestProfile, Limits, LoadedPlugin, PluginFailure, PopulationInput, Runtime, RuntimeConfig,
    SubprocessCompiler, Webhook,
};
use crate::service::plugins::Ceilings;

/// `kith plugin ...`.
#[derive(Debug, Subcommand)]
pub(super) enum PluginCommand {
    /// Print a plugin's manifest, hash and world as JSON.
    Inspect {
        /// The plugin component (.wasm).
        file: PathBuf,
        /// Largest component accepted, in bytes, as `kith serve --plugin-limit` [default:
        /// 33554432].
        #[arg(long, value_name = "BYTES")]
        plugin_limit: Option<usize>,
        #[command(flatten)]
        compile: CompileArgs,
    },
    /// Run one call of a plugin on an input file and print the output and what it cost.
    #[command(after_long_help = INPUT_HELP)]
    Run {
        /// The plugin component (.wasm).
        file: PathBuf,
        /// The input JSON: a customer, a population, or a webhook (shapes below).
        #[arg(long, value_name = "FILE.json")]
        input: PathBuf,
        /// Read the input, and print the outputs, shaped exactly like the WIT types of the
        /// component's contract version: `{"score": {"input": <customer-input>}}` (below).
        #[arg(long, conflicts_with = "config")]
        wit: bool,
        /// The tenant's configuration of the plugin, JSON (default `{}`).
        #[arg(long, value_name = "FILE.json")]
        config: Option<PathBuf>,
        /// Instruction budget (default 10 000 000; 10 000 000 000 for the population step).
        #[arg(long)]
        fuel: Option<u64>,
        /// Linear memory limit in MiB (default 16; 256 for the population step).
        #[arg(long, value_name = "MIB")]
        memory_mib: Option<u64>,
        /// Wall-clock deadline in milliseconds (default 50; 10 000 for the population step).
        #[arg(long, value_name = "MS")]
        deadline_ms: Option<u64>,
        /// Largest component accepted, in bytes, as `kith serve --plugin-limit` [default:
        /// 33554432].
        #[arg(long, value_name = "BYTES")]
        plugin_limit: Option<usize>,
        /// Profile the guest (wasmtime's guest profiler, a sample every millisecond) and write
        /// the profile here, in the Firefox Profiler's format (open it at
        /// https://profiler.firefox.com for a flame graph). With a population step and a
        /// customer call, the population step's goes to FILE with `.populate` before its
        /// extension.
        #[arg(long, value_name = "FILE.json")]
        profile: Option<PathBuf>,
        #[command(flatten)]
        compile: CompileArgs,
    },
    /// Write a new plugin project (a scorer with native tests, the SDK and the contract) in
    /// Rust, Python or JavaScript, ready to test, build and run with `kith plugin run`.
    New {
        /// The plugin's name: lower-case letters, digits and '-', e.g. acme-fit.
        name: String,
        /// The language.
        #[arg(long, value_enum)]
        lang: super::new::Lang,
        /// Where to write it (default: ./NAME); it must not exist or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The manifest's id (default: example.NAME).
        #[arg(long)]
        id: Option<String>,
    },
}

/// Limits of compiling a component: it happens in a child process (`kith __compile-plugin`) so
/// that a pathological component fails with `too-complex` instead of exhausting the machine.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(super) struct CompileArgs {
    /// Memory the compiler process may use, in bytes [default: 2147483648].
    #[arg(long, env = "KITH_PLUGIN_COMPILE_MEMORY", value_name = "BYTES")]
    pub(super) plugin_compile_memory: Option<u64>,
    /// Seconds the compiler process may take [default: 60].
    #[arg(long, env = "KITH_PLUGIN_COMPILE_TIMEOUT", value_name = "SECS")]
    pub(super) plugin_compile_timeout: Option<u64>,
}

impl CompileArgs {
    /// The compiler: this executable in a child process, with these limits over the defaults
    /// (and over `memory`/`timeout` from a settings file, which the flags beat).
    pub(super) fn compiler(
        self,
        memory: Option<u64>,
        timeout: Option<u64>,
    ) -> anyhow::Result<Compiler> {
        let mut child = SubprocessCompiler::this_executable()
            .context("cannot find this executable to compile plugins with")?;
        if let Some(m) = self.plugin_compile_memory.or(memory) {
            child.memory_bytes = m;
        }
        if let Some(t) = self.plugin_compile_timeout.or(timeout) {
            child.timeout = Duration::from_secs(t.max(1));
        }
        Ok(Compiler::Subprocess(child))
    }
}

/// The input shapes, shown by `kith plugin run --help`.
const INPUT_HELP: &str = r#"Input shapes (JSON; times RFC 3339, money {"minor": 1999, "currency": "EUR"}):
  scorer or segmenter, one customer:
    {"customer": {"id": "c1", "display_name": "Ada", "aggregates": [{"kind": "purchase",
      "count": 2, "totals": [{"minor": 5000, "currency": "USD"}], "first_at": "...",
      "last_at": "..."}]}, "now": "2025-03-01T00:00:00Z", "seed": 1, "model_base64": "..."}
  scorer or segmenter, population step (then the customer, if given, with its model):
    {"population": [{"id": "c1", "aggregates": [...]}, ...], "now": "...", "seed": 1}
  commerce hook:
    {"topic": "orders/create", "headers": {"X-Shopify-Hmac-Sha256": "..."},
     "body": "<raw body>", "delivery_id": "d1", "received_at": "..."}
    (headers may be [["name", "value"], ...]; body_base64 instead of body for binary bodies;
     a signature must cover exactly the body's bytes)
now and received_at default to the current time, seed to 0, --config to {}.

With --wit, the input names the functions to call, in order (populate, then score or classify;
or handle), each with its parameters as the WIT declares them, in the component's own contract
version (0.1.0 or 0.2.0; `kith plugin inspect` shows it):
    {"populate": {"input": {"customers": [...], "config": "{}", "now": 0, "seed": 1}},
     "score": {"input": {"customer": {"id": "c1", "kind": "person", ...}, "config": "{}",
       "now": 1740787200000000, "seed": 1}}}
  records are objects keyed by WIT field names ("display-name"; option fields may be left
  out), enums their case name ("purchase"), variants {"case": value} or "case", options null
  or the value, results {"ok": ..} or {"err": ..}, timestamps integers (microseconds), lists
  arrays. The population step's model goes into the next call's input.model when that is
  absent. Each config string is checked against the manifest's schema first. Outputs are
  printed as the plugin returned them, in the same shapes, not validated as a server would.
Exit status 1 when the call fails; the report is printed either way."#;

/// Runs `kith plugin ...`.
pub(super) fn run(cmd: PluginCommand) -> anyhow::Result<()> {
    match cmd {
        PluginCommand::New {
            name,
            lang,
            dir,
            id,
        } => {
            let dir = super::new::write(&name, lang, dir, id)?;
            println!(
                "wrote {} ({lang:?}); next:\n{}",
                dir.display(),
                super::new::next_steps(lang, &dir)
            );
            Ok(())
        }
        PluginCommand::Inspect {
            file,
            plugin_limit,
            compile,
        } => {
            let (_, plugin) = load(&file, compile, plugin_limit)?;
            print(&json!({
                "hash": plugin.hash(),
                "size": plugin.size(),
                "capability": plugin.capability(),
                "contract": plugin.contract(),
                "manifest": plugin.manifest(),
            }))
        }
        PluginCommand::Run {
            file,
            input,
            wit,
            config,
            fuel,
            memory_mib,
            deadline_ms,
            plugin_limit,
            profile,
            compile,
        } => {
            let overrides = Overrides {
                fuel,
                memory_mib,
                deadline_ms,
            };
            overrides.check()?;
            let config = match config {
                Some(path) => {
                    let text = read_text(&path)?;
                    serde_json::from_str::<Value>(&text)
                        .with_context(|| format!("{} is not JSON", path.display()))?
                }
                None => json!({}),
            };
            let input_text = read_text(&input)?;
            let profiler = Profiler {
                path: profile,
                sink: GuestProfile::default(),
            };
            if wit {
                let input: Value = serde_json::from_str(&input_text)
                    .with_context(|| format!("{} is not JSON", input.display()))?;
                let (runtime, plugin) = load(&file, compile, plugin_limit)?;
                return run_wit(&runtime, &plugin, &input, &overrides, &profiler);
            }
            let input: RunInput = serde_json::from_str(&input_text)
                .with_context(|| format!("{} is not a valid input", input.display()))?;
            let (runtime, plugin) = load(&file, compile, plugin_limit)?;
            let config = check_config(&plugin, &config)?;
            run_call(&runtime, &plugin, input, config, &overrides, &profiler)
        }
    }
}

/// The checks a server makes when a tenant enables `plugin` with `config`: the configuration
/// as the plugin gets it, or the server's error, printed as JSON and returned.
fn check_config(plugin: &LoadedPlugin, config: &Value) -> anyhow::Result<String> {
    crate::service::plugins::check_config(plugin.manifest(), config).or_else(|e| {
        print(&json!({
            "plugin": plugin.manifest().id,
            "config_error": { "code": e.code(), "message": e.to_string() },
        }))?;
        bail!("the configuration was refused, as a server would refuse it: {e}")
    })
}

/// Where `--profile` writes the profiles of the calls, and the sink each call fills.
#[derive(Debug)]
struct Profiler {
    /// `--profile`.
    path: Option<PathBuf>,
    /// The last call's profile.
    sink: GuestProfile,
}

impl Profiler {
    /// The options of a call: profiled when `--profile` was given.
    fn options<'a>(&'a self, limits: &'a Limits) -> CallOptions<'a> {
        match self.path {
            Some(_) => CallOptions::profiled(limits, &self.sink),
            None => CallOptions::from(limits),
        }
    }

    /// Writes the profile of the call that just ended, named for `call` when `suffixed`;
    /// returns where, for the report.
    fn write(&self, call: &str, suffixed: bool) -> anyhow::Result<Option<String>> {
        let (Some(base), Some(profile)) = (&self.path, self.sink.take()) else {
            return Ok(None);
        };
        let path = if suffixed {
            let stem = base.file_stem().unwrap_or_default().to_string_lossy();
            let name = match base.extension() {
                Some(ext) => format!("{stem}.{call}.{}", ext.to_string_lossy()),
                None => format!("{stem}.{call}"),
            };
            base.with_file_name(name)
        } else {
            base.clone()
        };
        std::fs::write(&path, profile)
            .with_context(|| format!("cannot write the profile to {}", path.display()))?;
        Ok(Some(path.display().to_string()))
    }
}

/// Limit overrides from the command line.
#[derive(Debug, Clone, Copy)]
struct Overrides {
    /// `--fuel`.
    fuel: Option<u64>,
    /// `--memory-mib`.
    memory_mib: Option<u64>,
    /// `--deadline-ms`.
    deadline_ms: Option<u64>,
}

impl Overrides {
    /// Refuses budgets a server would refuse a tenant: above the host's default ceilings
    /// (`kith serve`'s `[plugins]` settings may differ), with the same errors.
    fn check(self) -> anyhow::Result<()> {
        let overrides = LimitOverrides {
            fuel: self.fuel,
            deadline_ms: self.deadline_ms,
            memory_bytes: self.memory_mib.map(|m| m.saturating_mul(1 << 20)),
        };
        let ceilings = Ceilings::default();
        // A flag applies to the population step and to the call after it: each is held to its
        // own ceiling, as a tenant's `limits` and `population_limits` are.
        let call = ceilings.check(&overrides, &LimitOverrides::default());
        let population = ceilings.check(&LimitOverrides::default(), &overrides);
        match (call, population) {
            (Err(call), Err(_)) => bail!("over the server's ceilings: {call}"),
            _ => Ok(()),
        }
    }

    /// The budgets of `plugin`'s calls (`population`: of its population step) as a server
    /// gives them: `runtime`'s defaults, replaced by those the manifest declares (capped at the
    /// default ceilings), then by the flags.
    fn limits(self, runtime: &Runtime, plugin: &LoadedPlugin, population: bool) -> Limits {
        let (base, declared) = if population {
            (
                runtime.config().population_limits,
                &plugin.manifest().budgets.population,
            )
        } else {
            (runtime.config().limits, &plugin.manifest().budgets.call)
        };
        let declared = Ceilings::default().apply(base, declared, population, u64::MAX);
        self.apply(declared)
    }

    /// `base` with the overrides applied.
    fn apply(self, base: Limits) -> Limits {
        Limits {
            fuel: self.fuel.unwrap_or(base.fuel),
            memory_bytes: self
                .memory_mib
                .map_or(base.memory_bytes, |m| m.saturating_mul(1 << 20)),
            deadline: self
                .deadline_ms
                .map_or(base.deadline, Duration::from_millis),
            ..base
        }
    }
}

/// The input file of `kith plugin run`: the fields of every world, all optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunInput {
    /// The customer to score or classify.
    customer: Option<CustomerView>,
    /// Customers for the population step.
    population: Option<Vec<CustomerSummary>>,
    /// A population model (from an earlier `populate`), base64.
    model_base64: Option<String>,
    /// The host's time (default: now).
    now: Option<Timestamp>,
    /// Seed of randomness (default 0).
    #[serde(default)]
    seed: u64,
    /// Webhook topic.
    topic: Option<String>,
    /// Webhook headers: an object or a list of pairs.
    headers: Option<Headers>,
    /// Webhook body as text.
    body: Option<String>,
    /// Webhook body as base64.
    body_base64: Option<String>,
    /// Webhook delivery id.
    delivery_id: Option<String>,
    /// When the webhook was received (default: now).
    received_at: Option<Timestamp>,
}

/// Webhook headers in either JSON shape.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Headers {
    /// `{"Name": "value"}`.
    Map(BTreeMap<String, String>),
    /// `[["Name", "value"]]`, order and duplicates kept.
    Pairs(Vec<(String, String)>),
}

/// Reads a UTF-8 file, naming it in the error.
fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// A runtime without a disk cache that compiles in a limited child process, and the plugin
/// loaded in it.
fn load(
    file: &Path,
    compile: CompileArgs,
    plugin_limit: Option<usize>,
) -> anyhow::Result<(Runtime, LoadedPlugin)> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let defaults = RuntimeConfig::default();
    let runtime = Runtime::new(RuntimeConfig {
        compiler: compile.compiler(None, None)?,
        max_plugin_bytes: plugin_limit.unwrap_or(defaults.max_plugin_bytes),
        ..defaults
    })?;
    let plugin = runtime
        .load(&bytes)
        .with_context(|| format!("cannot load {}", file.display()))?;
    Ok((runtime, plugin))
}

/// Prints `value` as pretty JSON on stdout.
fn print(value: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// The report as JSON, each figure beside its limit, times in microseconds, and what the plugin
/// wrote to stdout and stderr (the first `capture` bytes of each).
fn report_json(report: &CallReport, limits: &Limits, capture: usize) -> Value {
    let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let mut out = json!({
        "outcome": report.outcome.as_str(),
        "fuel_used": report.fuel_used,
        "fuel_limit": limits.fuel,
        "peak_memory_bytes": report.peak_memory_bytes,
        "memory_limit_bytes": limits.memory_bytes,
        "wall_time_us": micros(report.wall_time),
        "deadline_us": micros(limits.deadline),
        "input_bytes": report.input_bytes,
        "input_limit_bytes": limits.input_bytes,
        "output_bytes": report.output_bytes,
        "output_limit_bytes": limits.output_bytes,
    });
    if report.http_requests_denied > 0 {
        out["http_requests_denied"] = json!(report.http_requests_denied);
    }
    if let Some(o) = &report.output {
        for (name, text, dropped) in [
            ("stdout", &o.stdout, o.stdout_dropped),
            ("stderr", &o.stderr, o.stderr_dropped),
        ] {
            if !text.is_empty() {
                out[name] = json!(text);
            }
            if dropped > 0 {
                out[format!("{name}_truncated")] = json!(format!(
                    "{dropped} more bytes were written and dropped: at most {capture} are kept"
                ));
            }
        }
        if !o.logs.is_empty() {
            out["logs"] = json!(o.logs);
        }
        if o.logs_dropped > 0 {
            out["logs_truncated"] = json!(format!(
                "{} more lines were logged and dropped: at most {} are kept",
                o.logs_dropped,
                crate::plugin::MAX_LOG_LINES
            ));
        }
    }
    out
}

/// One step's printed result: its output or failure, and its report.
fn step<T: serde::Serialize>(
    runtime: &Runtime,
    name: &str,
    result: &Result<T, PluginFailure>,
    (report, limits): (&CallReport, &Limits),
) -> anyhow::Result<Value> {
    let report = report_json(report, limits, runtime.config().capture_bytes);
    Ok(match result {
        Ok(output) => {
            json!({ "call": name, "output": serde_json::to_value(output)?, "report": report })
        }
        Err(failure) => json!({
            "call": name,
            "error": { "code": failure.code(), "message": failure.to_string() },
            "report": report,
        }),
    })
}

/// Adds where the last step's profile was written to that step.
fn with_profile(steps: &mut [Value], path: Option<String>) {
    if let (Some(last), Some(path)) = (steps.last_mut(), path) {
        last["profile"] = json!(path);
    }
}

/// Runs the WIT-shaped calls `input` names (`--wit`) and prints the steps, outputs as the plugin
/// returned them.
fn run_wit(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    input: &Value,
    overrides: &Overrides,
    profiler: &Profiler,
) -> anyhow::Result<()> {
    let world = plugin.capability();
    let functions: &[&str] = match world {
        Capability::Scorer => &["populate", "score"],
        Capability::Segmenter => &["populate", "classify"],
        Capability::CommerceHook => &["handle"],
    };
    let calls = input
        .as_object()
        .filter(|o| !o.is_empty())
        .context(r#"a --wit input is an object of calls: {"score": {"input": {...}}}"#)?;
    if let Some(unknown) = calls.keys().find(|k| !functions.contains(&k.as_str())) {
        bail!(
            "{unknown:?} is not a function of a {world}: it has {}",
            functions.join(", ")
        );
    }
    let mut steps = Vec::new();
    let mut failure = None;
    let mut model: Option<Value> = None;
    for function in functions.iter().copied() {
        let Some(args) = calls.get(function) else {
            continue;
        };
        let mut args = args.clone();
        // The model the population step just built feeds the call after it.
        if let (Some(model), Some(call_input)) = (
            model.take(),
            args.get_mut("input").and_then(Value::as_object_mut),
        ) && call_input.get("model").is_none_or(Value::is_null)
        {
            call_input.insert("model".to_owned(), model);
        }
        for config in ["/input/config", "/config"]
            .map(|at| args.pointer(at))
            .into_iter()
            .flatten()
        {
            let Some(text) = config.as_str() else {
                continue;
            };
            let value: Value = serde_json::from_str(text)
                .with_context(|| format!("{function}: the config string is not JSON"))?;
            check_config(plugin, &value)?;
        }
        let values = runtime
            .wit_args(plugin, function, &args)
            .map_err(|e| anyhow::anyhow!("the input of {function} does not match the WIT: {e}"))?;
        let now = ["/input/now", "/webhook/received-at"]
            .iter()
            .find_map(|at| args.pointer(at).and_then(Value::as_i64))
            .unwrap_or(0);
        let seed = args
            .pointer("/input/seed")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let population = function == "populate";
        let limits = overrides.limits(runtime, plugin, population);
        let (result, report) = runtime.call_wit(
            plugin,
            function,
            values,
            args.to_string().len() as u64,
            now,
            seed,
            profiler.options(&limits),
        );
        if population {
            model = result
                .as_ref()
                .ok()
                .and_then(|out| out.get("ok"))
                .filter(|m| m.as_array().is_some_and(|bytes| !bytes.is_empty()))
                .cloned();
        }
        steps.push(step(runtime, function, &result, (&report, &limits))?);
        with_profile(
            &mut steps,
            profiler.write(function, population && calls.len() > 1)?,
        );
        if let Err(e) = result {
            failure = Some(e);
            break;
        }
    }
    print(&json!({
        "plugin": plugin.manifest().id,
        "version": plugin.manifest().version,
        "hash": plugin.hash(),
        "contract": plugin.contract(),
        "steps": steps,
    }))?;
    match failure {
        Some(f) => Err(anyhow::Error::new(f).context("the plugin call failed")),
        None => Ok(()),
    }
}

/// Runs the call the input describes and prints the steps.
fn run_call(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    input: RunInput,
    config: String,
    overrides: &Overrides,
    profiler: &Profiler,
) -> anyhow::Result<()> {
    let now = input.now.unwrap_or_else(Timestamp::now);
    let both = input.population.is_some() && input.customer.is_some();
    let mut steps = Vec::new();
    let mut failure = None;
    match plugin.capability() {
        Capability::CommerceHook => {
            let body = match (input.body, input.body_base64) {
                (Some(text), None) => text.into_bytes(),
                (None, Some(b64)) => BASE64
                    .decode(b64.trim())
                    .context("body_base64 is not base64")?,
                (None, None) => Vec::new(),
                (Some(_), Some(_)) => bail!("give either body or body_base64, not both"),
            };
            let webhook = Webhook {
                topic: input.topic.unwrap_or_default(),
                headers: match input.headers {
                    Some(Headers::Map(map)) => map.into_iter().collect(),
                    Some(Headers::Pairs(pairs)) => pairs,
                    None => Vec::new(),
                },
                body,
                delivery_id: input.delivery_id,
                received_at: input.received_at.unwrap_or(now),
            };
            let limits = overrides.limits(runtime, plugin, false);
            let (result, report) =
                runtime.handle_webhook(plugin, &webhook, &config, profiler.options(&limits));
            steps.push(step(runtime, "handle", &result, (&report, &limits))?);
            with_profile(&mut steps, profiler.write("handle", false)?);
            failure = result.err();
        }
        world @ (Capability::Scorer | Capability::Segmenter) => {
            if input.population.is_none() && input.customer.is_none() {
                bail!("the input of a {world} needs \"customer\", \"population\" or both");
            }
            let mut model = input
                .model_base64
                .map(|b| BASE64.decode(b.trim()))
                .transpose()
                .context("model_base64 is not base64")?;
            if let Some(customers) = input.population {
                let population = PopulationInput {
                    customers,
                    config: config.clone(),
                    now,
                    seed: input.seed,
                };
                let limits = overrides.limits(runtime, plugin, true);
                let (result, report) =
                    runtime.populate(plugin, &population, profiler.options(&limits));
                let shown = result.as_ref().map(|m| {
                    json!({
                        "model_bytes": m.as_ref().map_or(0, Vec::len),
                        "model_base64": m.as_ref().map(|m| BASE64.encode(m)),
                    })
                });
                steps.push(step(
                    runtime,
                    "populate",
                    &shown.map_err(Clone::clone),
                    (&report, &limits),
                )?);
                with_profile(&mut steps, profiler.write("populate", both)?);
                match result {
                    Ok(m) => model = m,
                    Err(e) => failure = Some(e),
                }
            }
            if let (Some(customer), None) = (input.customer, &failure) {
                let call = CustomerCall {
                    customer,
                    config,
                    now,
                    seed: input.seed,
                    model,
                };
                let limits = overrides.limits(runtime, plugin, false);
                if world == Capability::Scorer {
                    let (result, report) = runtime.score(plugin, &call, profiler.options(&limits));
                    steps.push(step(runtime, "score", &result, (&report, &limits))?);
                    with_profile(&mut steps, profiler.write("score", false)?);
                    failure = result.err();
                } else {
                    let (result, report) =
                        runtime.classify(plugin, &call, profiler.options(&limits));
                    steps.push(step(runtime, "classify", &result, (&report, &limits))?);
                    with_profile(&mut steps, profiler.write("classify", false)?);
                    failure = result.err();
                }
            }
        }
    }
    print(&json!({
        "plugin": plugin.manifest().id,
        "version": plugin.manifest().version,
        "hash": plugin.hash(),
        "now": now,
        "steps": steps,
    }))?;
    match failure {
        Some(f) => Err(anyhow::Error::new(f).context("the plugin call failed")),
        None => Ok(()),
    }
}
