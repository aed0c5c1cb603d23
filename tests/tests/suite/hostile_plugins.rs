//! Every hostile plugin is stopped or refused with its documented error, and the runtime keeps
//! serving good plugins afterwards.

use std::time::Duration;

use kith::model::Timestamp;
use kith::plugin::{
    CallOptions, CustomerCall, CustomerView, Limits, LoadedPlugin, Outcome, PluginFailure, Runtime,
    RuntimeConfig, ScoreOutput, SlotScope, Webhook,
};
use kith_tests::plugins;

/// "Now" of every call: 2025-01-01T00:00:00Z, far from the real clock.
const NOW: i64 = 1_735_689_600_000_000;

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

fn load(rt: &Runtime, path: &str) -> LoadedPlugin {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    rt.load(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn input(config: &str) -> CustomerCall {
    let customer: CustomerView =
        serde_json::from_str(r#"{"id": "c1", "display_name": "Ada"}"#).expect("view");
    CustomerCall {
        customer,
        config: config.to_owned(),
        now: Timestamp::from_micros(NOW),
        seed: 3,
        model: None,
    }
}

fn score(
    rt: &Runtime,
    plugin: &LoadedPlugin,
    limits: &Limits,
) -> Result<ScoreOutput, PluginFailure> {
    rt.score(plugin, &input("{}"), limits).0
}

/// A good plugin on the same runtime still works: nothing was poisoned.
fn assert_healthy(rt: &Runtime) {
    let trivial = load(rt, plugins::TRIVIAL_SCORER);
    let (output, report) = rt.score(&trivial, &input("{}"), &Limits::default());
    assert_eq!(output.expect("trivial scorer").score, 42.0);
    assert_eq!(report.outcome, Outcome::Ok);
}

fn reason(output: &ScoreOutput) -> (&str, &str) {
    let r = output.reasons.first().expect("a reason");
    (r.code.as_str(), r.message.as_str())
}

#[test]
fn infinite_loop_is_stopped_by_its_fuel_budget() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_INFINITE_LOOP);
    let limits = Limits {
        fuel: 2_000_000,
        deadline: Duration::MAX,
        ..Limits::default()
    };
    let (result, report) = rt.score(&plugin, &input("{}"), &limits);
    assert_eq!(
        result,
        Err(PluginFailure::FuelExhausted { limit: 2_000_000 })
    );
    assert_eq!(report.outcome, Outcome::Failed("fuel-exhausted"));
    assert_eq!(report.fuel_used, 2_000_000);
    let stats = plugin.stats();
    assert_eq!(stats.failures, [("fuel-exhausted", 1)]);
    assert_healthy(&rt);
}

/// Runs the infinite loop with a 20 ms deadline and fuel for a few seconds of looping: if the
/// deadline did not come, the call ends on its fuel instead, and the test fails rather than
/// hangs.
fn assert_stopped_by_its_deadline(rt: &Runtime, plugin: &LoadedPlugin) {
    let limits = Limits {
        fuel: 10_000_000_000,
        deadline: Duration::from_millis(20),
        ..Limits::default()
    };
    let (result, report) = rt.score(plugin, &input("{}"), &limits);
    assert_eq!(
        result,
        Err(PluginFailure::DeadlineExceeded {
            limit: Duration::from_millis(20)
        })
    );
    assert_eq!(report.outcome, Outcome::Failed("deadline-exceeded"));
    assert!(report.fuel_used > 0);
}

#[test]
fn infinite_loop_is_stopped_by_its_deadline() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_INFINITE_LOOP);
    assert_stopped_by_its_deadline(&rt, &plugin);
    assert_healthy(&rt);
}

#[test]
fn a_loop_started_while_the_epoch_thread_sleeps_is_still_stopped_by_its_deadline() {
    // The epoch thread sleeps as soon as a tick passes without calls; the next call must wake
    // it, or the deadline would never come.
    let rt = Runtime::new(RuntimeConfig {
        epoch_idle: Duration::ZERO,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let plugin = load(&rt, plugins::HOSTILE_INFINITE_LOOP);
    assert!(
        rt.wait_for_idle_epoch_thread(Duration::from_secs(30)),
        "the epoch thread kept ticking without calls"
    );
    assert_stopped_by_its_deadline(&rt, &plugin);
    assert!(
        rt.wait_for_idle_epoch_thread(Duration::from_secs(30)),
        "the epoch thread did not sleep again after the call"
    );
    assert_healthy(&rt);
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_MEMORY_BOMB);
    // Zeroing each 1 MiB block costs fuel: give it enough to reach the memory limit.
    let generous = Limits {
        fuel: 1_000_000_000,
        deadline: Duration::from_secs(60),
        ..Limits::default()
    };
    let (result, report) = rt.score(&plugin, &input("{}"), &generous);
    assert_eq!(result, Err(PluginFailure::MemoryLimit { limit: 16 << 20 }));
    assert_eq!(report.outcome, Outcome::Failed("memory-limit"));
    assert!(report.peak_memory_bytes <= 16 << 20, "{report:?}");
    assert!(
        report.peak_memory_bytes > 8 << 20,
        "it did grow: {report:?}"
    );

    let small = Limits {
        memory_bytes: 4 << 20,
        ..generous
    };
    let (result, report) = rt.score(&plugin, &input("{}"), &small);
    assert_eq!(result, Err(PluginFailure::MemoryLimit { limit: 4 << 20 }));
    assert!(report.peak_memory_bytes <= 4 << 20);

    // With the default budgets it is stopped too, by whichever limit it reaches first.
    let (result, _) = rt.score(&plugin, &input("{}"), &Limits::default());
    assert!(
        matches!(
            result,
            Err(PluginFailure::MemoryLimit { .. } | PluginFailure::FuelExhausted { .. })
        ),
        "{result:?}"
    );
    assert_healthy(&rt);
}

#[test]
fn deep_recursion_traps_with_a_stack_overflow() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_DEEP_RECURSION);
    match score(&rt, &plugin, &Limits::default()) {
        Err(PluginFailure::Trap(message)) => {
            assert!(message.contains("stack overflow"), "{message}")
        }
        other => panic!("expected a stack overflow trap, got {other:?}"),
    }
    assert_healthy(&rt);
}

#[test]
fn huge_output_is_refused_for_its_size() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_HUGE_OUTPUT);
    match score(&rt, &plugin, &Limits::default()) {
        // The host stops copying at four times the budget: the size is a lower bound.
        Err(PluginFailure::OutputTooLarge { size, limit }) => {
            assert_eq!(limit, 64 * 1024);
            assert!(size > limit, "{size}");
        }
        other => panic!("expected OutputTooLarge, got {other:?}"),
    }
    assert_healthy(&rt);
}

#[test]
fn panic_traps_and_shows_the_panic_message() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_PANIC);
    let (result, report) = rt.score(&plugin, &input("{}"), &Limits::default());
    match result {
        Err(PluginFailure::Trap(message)) => {
            assert!(message.contains("panics on purpose"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(report.outcome, Outcome::Failed("trap"));
    assert_healthy(&rt);
}

/// A release build without WASI has no stderr and no panic hook (the SDK installs one in debug
/// builds only, `language_plugins::a_debug_build_without_wasi_shows_a_panics_message`): its panic
/// traps with the host's own words, and nothing of the plugin's message reaches the report.
#[test]
fn a_panic_in_a_release_build_without_wasi_traps_without_its_message() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_HOOK_PANIC);
    let webhook = Webhook {
        topic: "orders/create".to_owned(),
        headers: Vec::new(),
        body: b"{}".to_vec(),
        delivery_id: None,
        received_at: Timestamp::from_micros(NOW),
    };
    let (result, report) = rt.handle_webhook(&plugin, &webhook, "{}", &Limits::default());
    match result {
        Err(PluginFailure::Trap(message)) => assert_eq!(
            message,
            "wasm `unreachable` executed: the plugin panicked or aborted"
        ),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(report.outcome, Outcome::Failed("trap"));
    assert!(report.output.is_none(), "{:?}", report.output);
    assert_healthy(&rt);
}

#[test]
fn open_file_is_denied_and_no_content_leaks() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_OPEN_FILE);
    for path in ["/etc/passwd", "/proc/self/environ", ".", "Cargo.toml"] {
        let config = serde_json::json!({ "path": path }).to_string();
        let output = rt
            .score(&plugin, &input(&config), &Limits::default())
            .0
            .expect("the plugin handles the error itself");
        let (code, message) = reason(&output);
        assert_eq!(code, "file-denied", "{path}: {message}");
        assert_eq!(output.score, 0.0);
        assert!(!message.contains("root:"), "{message}");
    }
    assert_healthy(&rt);
}

#[test]
fn read_env_sees_no_variables_and_no_arguments() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_READ_ENV);
    let output = score(&rt, &plugin, &Limits::default()).expect("score");
    assert_eq!(
        reason(&output),
        ("env-empty", "no environment variables, 0 arguments")
    );
    assert_eq!(output.score, 0.0);
    assert_healthy(&rt);
}

#[test]
fn read_clock_sees_the_inputs_time_and_a_frozen_monotonic_clock() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_READ_CLOCK);
    let output = score(&rt, &plugin, &Limits::default()).expect("score");
    assert_eq!(
        output.score, NOW as f64,
        "the wall clock reads the input's now"
    );
    let instant = output
        .reasons
        .iter()
        .find(|r| r.code == "instant")
        .expect("instant reason");
    assert_eq!(instant.contribution, 0.0, "{}", instant.message);
    let again = score(&rt, &plugin, &Limits::default()).expect("score");
    assert_eq!(output, again);
    assert_healthy(&rt);
}

#[test]
fn open_socket_is_denied() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_OPEN_SOCKET);
    let output = score(&rt, &plugin, &Limits::default()).expect("score");
    let (code, message) = reason(&output);
    assert_eq!(code, "socket-denied", "{message}");
    assert_eq!(output.score, 0.0);
    assert_healthy(&rt);
}

#[test]
fn foreign_actions_with_malformed_ids_are_refused_whole() {
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_FOREIGN_TENANT_ACTIONS);
    let config = r#"{"customer_id":"other-tenant-customer","deal_id":"other-deal"}"#;
    let (result, report) = rt.score(&plugin, &input(config), &Limits::default());
    match result {
        Err(PluginFailure::InvalidOutput(message)) => {
            assert!(
                message.starts_with("actions[0].add-tag.customer"),
                "{message}"
            )
        }
        other => panic!("expected InvalidOutput, got {other:?}"),
    }
    assert_eq!(report.outcome, Outcome::Failed("invalid-output"));

    // Well-formed ids of entities the tenant may not have pass the shape check; whether they
    // exist in the calling tenant is the store's check when it applies the actions.
    let output = score(&rt, &plugin, &Limits::default()).expect("well-formed actions");
    assert_eq!(output.actions.len(), 4);
    assert_healthy(&rt);
}

#[test]
fn a_looping_plugin_does_not_hold_up_good_calls_on_other_threads() {
    let rt = runtime();
    let looping = load(&rt, plugins::HOSTILE_INFINITE_LOOP);
    let limits = Limits {
        fuel: u64::MAX,
        deadline: Duration::from_millis(200),
        ..Limits::default()
    };
    std::thread::scope(|s| {
        let hostile = s.spawn(|| rt.score(&looping, &input("{}"), &limits).0);
        for _ in 0..20 {
            assert_healthy(&rt);
        }
        assert!(matches!(
            hostile.join().expect("thread"),
            Err(PluginFailure::DeadlineExceeded { .. })
        ));
    });
}

#[test]
fn failures_have_stable_codes() {
    let all = [
        PluginFailure::NotAComponent(String::new()),
        PluginFailure::FuelExhausted { limit: 1 },
        PluginFailure::DeadlineExceeded {
            limit: Duration::from_millis(1),
        },
        PluginFailure::MemoryLimit { limit: 1 },
        PluginFailure::Trap(String::new()),
        PluginFailure::InvalidOutput(String::new()),
    ];
    let codes: Vec<&str> = all.iter().map(PluginFailure::code).collect();
    assert_eq!(
        codes,
        [
            "not-a-component",
            "fuel-exhausted",
            "deadline-exceeded",
            "memory-limit",
            "trap",
            "invalid-output"
        ]
    );
}

/// A line of `/proc/self/status` in KiB (VmRSS, VmHWM).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

#[test]
fn aliased_output_is_refused_without_the_host_copying_it() {
    // Regression: 64 reasons pointing at the same 4 MiB of guest memory were copied out in full
    // (256 MiB per call) before the output budget was checked; 16 concurrent dry runs peaked at
    // 1.9 GB. Now the host stops copying at four times the budget.
    let rt = runtime();
    let plugin = load(&rt, plugins::HOSTILE_ALIASED_OUTPUT);
    let peak_before = status_kib("VmHWM");
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..16)
            .map(|_| s.spawn(|| rt.score(&plugin, &input("{}"), &Limits::default())))
            .collect();
        for call in calls {
            let (result, report) = call.join().expect("thread");
            match result {
                Err(PluginFailure::OutputTooLarge { size, limit }) => {
                    assert_eq!(limit, 64 * 1024);
                    assert!(size <= 4 * limit, "the host copied {size} bytes");
                }
                other => panic!("expected output-too-large, got {other:?}"),
            }
            assert_eq!(report.outcome, Outcome::Failed("output-too-large"));
        }
    });
    // Had they been copied, the process would have grown by 16 x 256 MiB = 4 GiB; the guests'
    // own 4 MiB each and every other test of this binary stay far below 1 GiB.
    let grown_mib = status_kib("VmHWM").saturating_sub(peak_before) / 1024;
    assert!(grown_mib < 1024, "peak memory grew by {grown_mib} MiB");
    assert_healthy(&rt);
}

#[test]
fn interrupt_stops_a_running_call_at_once_and_refuses_new_ones() {
    // Regression: a looping call with a 30 s deadline held shutdown until SIGKILL.
    let rt = runtime();
    let looping = load(&rt, plugins::HOSTILE_INFINITE_LOOP);
    let trivial = load(&rt, plugins::TRIVIAL_SCORER);
    let endless = Limits {
        fuel: u64::MAX,
        deadline: Duration::from_secs(3600),
        ..Limits::default()
    };
    std::thread::scope(|s| {
        let call = s.spawn(|| rt.score(&looping, &input("{}"), &endless));
        assert!(rt.wait_for_instances_in_use(None, 1, Duration::from_secs(60)));
        rt.interrupt();
        let (result, report) = call.join().expect("thread");
        assert_eq!(result, Err(PluginFailure::Interrupted));
        assert_eq!(report.outcome, Outcome::Failed("interrupted"));
    });
    assert!(!PluginFailure::Interrupted.is_plugin_fault());
    let (after, _) = rt.score(&trivial, &input("{}"), &Limits::default());
    assert_eq!(after, Err(PluginFailure::Interrupted));
}

#[test]
fn a_tenant_at_its_share_of_instances_leaves_the_rest_to_other_tenants() {
    // Regression: 32 concurrent slow dry runs of one tenant took every instance slot, and
    // another tenant's signed webhook got 503 plugin_busy.
    let rt = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 4,
        instances_per_tenant: 2,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let looping = load(&rt, plugins::HOSTILE_INFINITE_LOOP);
    let trivial = load(&rt, plugins::TRIVIAL_SCORER);
    let endless = Limits {
        fuel: u64::MAX,
        deadline: Duration::from_secs(3600),
        ..Limits::default()
    };
    let quick = Limits {
        deadline: Duration::from_millis(10),
        ..Limits::default()
    };
    std::thread::scope(|s| {
        let hogs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    rt.score(
                        &looping,
                        &input("{}"),
                        CallOptions::for_tenant(&endless, "a"),
                    )
                    .0
                })
            })
            .collect();
        assert!(rt.wait_for_instances_in_use(Some("a"), 2, Duration::from_secs(60)));
        // A third call of the same tenant waits for its own share, then is busy...
        let (third, _) = rt.score(&trivial, &input("{}"), CallOptions::for_tenant(&quick, "a"));
        match third {
            Err(PluginFailure::Busy { slots, scope, .. }) => {
                assert_eq!((slots, scope), (2, SlotScope::Tenant));
            }
            other => panic!("expected busy, got {other:?}"),
        }
        // ...while another tenant's call runs at once.
        let (other, _) = rt.score(&trivial, &input("{}"), CallOptions::for_tenant(&quick, "b"));
        assert_eq!(other.expect("tenant b's call").score, 42.0);
        rt.interrupt();
        for hog in hogs {
            assert_eq!(hog.join().expect("thread"), Err(PluginFailure::Interrupted));
        }
    });
}
