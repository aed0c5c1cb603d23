//! `kith serve` end to end: the real binary on an ephemeral port, health and readiness over HTTP,
//! the admin API over plain HTTP with the printed admin token, settings from a TOML file, a
//! graceful exit on SIGTERM, and the data still there after a restart.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

fn start(dir: &std::path::Path) -> (Child, String) {
    start_with_env(dir, &[])
}

fn start_with_env(dir: &std::path::Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kith"))
        .envs(env.iter().copied())
        .args([
            "--data-dir",
            dir.to_str().expect("utf-8 path"),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kith serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("kith serve exited before listening")
            .expect("read stderr");
        if let Some(url) = line.strip_prefix("kith listening on http://") {
            break url.to_owned();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

fn sigterm(child: &mut Child) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success());
    child.wait().expect("wait for kith serve")
}

/// The names of a running process's threads (a thread that ends while they are listed is left
/// out).
#[cfg(target_os = "linux")]
fn thread_names(child: &Child) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{}/task", child.id()))
        .expect("list the server's threads")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

/// README, "What bounds the server's memory": the server's allocator returns freed pages to the
/// system with background threads of its own, unless `_RJEM_MALLOC_CONF` says otherwise.
#[cfg(target_os = "linux")]
#[test]
fn the_server_returns_freed_memory_with_jemallocs_background_threads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, addr) = start(dir.path());
    assert_eq!(get(&addr, "/healthz").0, 200);
    let names = thread_names(&child);
    assert!(names.iter().any(|n| n == "jemalloc_bg_thd"), "{names:?}");
    assert!(sigterm(&mut child).success());

    let (mut child, addr) = start_with_env(
        dir.path(),
        &[("_RJEM_MALLOC_CONF", "background_thread:false")],
    );
    assert_eq!(get(&addr, "/healthz").0, 200);
    let names = thread_names(&child);
    assert!(!names.iter().any(|n| n == "jemalloc_bg_thd"), "{names:?}");
    assert!(sigterm(&mut child).success());
}

#[test]
fn serve_answers_health_and_readiness_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, addr) = start(dir.path());
    let (status, body) = get(&addr, "/healthz");
    assert_eq!(status, 200);
    assert!(body.contains(r#""status":"ok""#), "{body}");
    let (status, body) = get(&addr, "/readyz");
    assert_eq!(status, 200);
    assert!(body.contains(r#""tenants":0"#), "{body}");
    assert_eq!(get(&addr, "/no-such-route").0, 404);
    let status = sigterm(&mut child);
    assert!(status.success(), "kith serve exited with {status}");

    // The data directory is released and usable by the next process.
    let out = Command::new(env!("CARGO_BIN_EXE_kith"))
        .args([
            "--data-dir",
            dir.path().to_str().expect("utf-8"),
            "tenant",
            "create",
            "acme",
        ])
        .output()
        .expect("kith tenant create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut child, addr) = start(dir.path());
    let (status, body) = get(&addr, "/readyz");
    assert_eq!(status, 200);
    assert!(body.contains(r#""tenants":1"#), "{body}");
    let status = sigterm(&mut child);
    assert!(status.success(), "kith serve exited with {status}");
}

/// Starts `kith serve` with `args` and `env`; returns the child, the address, and the admin token
/// printed on stdout (if one was printed before the server listened).
fn start_with(args: &[&str], env: &[(&str, &str)]) -> (Child, String, Option<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kith"));
    cmd.args(args)
        .env_remove("KITH_ADMIN_TOKEN")
        .env_remove("KITH_LISTEN")
        .env_remove("KITH_DATA_DIR")
        .env_remove("KITH_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start kith serve");
    let stderr = child.stderr.take().expect("stderr");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("kith serve exited before listening")
            .expect("read stderr");
        if let Some(url) = line.strip_prefix("kith listening on http://") {
            break url.to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    // The token, when printed, comes before the server listens; stdout is closed or silent after.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let token = rx
        .recv_timeout(std::time::Duration::from_millis(500))
        .ok()
        .and_then(|l| l.strip_prefix("admin token: ").map(str::to_owned));
    (child, addr, token)
}

fn request(addr: &str, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

fn json_field(body: &str, field: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).expect("json body");
    v[field].as_str().expect("string field").to_owned()
}

#[test]
fn the_admin_api_works_over_http_with_the_printed_token_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().to_str().expect("utf-8");
    let args = ["--data-dir", data, "serve", "--listen", "127.0.0.1:0"];
    let (mut child, addr, token) = start_with(&args, &[]);
    let admin = token.expect("the first start prints an admin token");
    assert!(admin.starts_with("kith_"));

    let (status, _) = request(
        &addr,
        "POST",
        "/v1/tenants",
        &admin,
        Some(r#"{"slug":"acme"}"#),
    );
    assert_eq!(status, 201);
    let (status, body) = request(
        &addr,
        "POST",
        "/v1/tokens",
        &admin,
        Some(r#"{"kind":"tenant","tenant":"acme"}"#),
    );
    assert_eq!(status, 201, "{body}");
    let key = json_field(&body, "token");
    let (status, body) = request(
        &addr,
        "POST",
        "/v1/tenants/acme/customers",
        &key,
        Some(r#"{"email":"ada@example.com"}"#),
    );
    assert_eq!(status, 201, "{body}");
    let id = json_field(&body, "id");
    let (status, _) = request(&addr, "GET", "/v1/tenants", &key, None);
    assert_eq!(status, 403);
    assert!(sigterm(&mut child).success());

    // Restart: no new admin token is printed, the old one and the key still work, the data is there.
    let (mut child, addr, token) = start_with(&args, &[]);
    assert_eq!(token, None);
    let (status, body) = request(
        &addr,
        "GET",
        &format!("/v1/tenants/acme/customers/{id}"),
        &key,
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("ada@example.com"));
    let (status, _) = request(&addr, "GET", "/v1/tenants", &admin, None);
    assert_eq!(status, 200);
    assert!(sigterm(&mut child).success());
}

#[test]
fn settings_come_from_a_toml_file_and_kith_admin_token_replaces_the_printed_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = dir.path().join("kith.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\nrequest_timeout_secs = 5\n",
            data.to_str().expect("utf-8")
        ),
    )
    .expect("write config");
    let operator = "operator-token-0123456789abcdef0123456789";
    let (mut child, addr, token) = start_with(
        &["serve", "--config", config.to_str().expect("utf-8")],
        &[("KITH_ADMIN_TOKEN", operator)],
    );
    assert_eq!(
        token, None,
        "no token is created when KITH_ADMIN_TOKEN is given"
    );
    let (status, _) = request(
        &addr,
        "POST",
        "/v1/tenants",
        operator,
        Some(r#"{"slug":"acme"}"#),
    );
    assert_eq!(status, 201);
    assert!(sigterm(&mut child).success());
    assert!(
        data.join("kith.redb").exists(),
        "data_dir came from the file"
    );

    // A bad settings file is refused with the key list.
    std::fs::write(&config, "colour = \"red\"\n").expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_kith"))
        .args(["serve", "--config", config.to_str().expect("utf-8")])
        .output()
        .expect("run kith serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown field") && err.contains("request_timeout_secs"),
        "{err}"
    );
}

/// The store's page cache comes from `--store-cache` or `store_cache_bytes`; a value that is
/// not a byte count is refused before anything is opened.
#[test]
fn the_store_cache_setting_is_read_and_a_bad_value_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8");
    let (mut child, addr, token) = start_with(
        &[
            "--data-dir",
            data_arg,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store-cache",
            "0",
        ],
        &[],
    );
    let token = token.expect("admin token");
    let (status, _) = request(
        &addr,
        "POST",
        "/v1/tenants",
        &token,
        Some(r#"{"slug":"acme"}"#),
    );
    assert_eq!(status, 201, "a store without a page cache still serves");
    assert!(sigterm(&mut child).success());

    let config = dir.path().join("kith.toml");
    for (flags, file, named) in [
        (vec!["--store-cache", "lots"], None, "--store-cache"),
        (vec!["--store-cache=-1"], None, "--store-cache"),
        (
            vec![],
            Some("store_cache_bytes = -1\n"),
            "store_cache_bytes",
        ),
        (
            vec![],
            Some("store_cache_bytes = \"64M\"\n"),
            "store_cache_bytes",
        ),
    ] {
        let mut args = vec!["--data-dir", data_arg, "serve", "--listen", "127.0.0.1:0"];
        args.extend(flags.iter().copied());
        if let Some(text) = file {
            std::fs::write(&config, text).expect("write config");
            args.extend(["--config", config.to_str().expect("utf-8")]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_kith"))
            .args(&args)
            .output()
            .expect("run kith serve");
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{args:?}: {err}");
    }
}

/// An admin token given through `KITH_ADMIN_TOKEN`.
const OPERATOR_TOKEN: &str = "kith_operator_token_for_connection_tests_0123456789";

/// Starts `kith serve` on a fresh data directory with these extra flags.
fn serve_with(dir: &std::path::Path, flags: &[&str]) -> (Child, String) {
    let data = dir.to_str().expect("utf-8");
    let mut args = vec!["--data-dir", data, "serve", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(flags);
    let (child, addr, _) = start_with(&args, &[("KITH_ADMIN_TOKEN", OPERATOR_TOKEN)]);
    (child, addr)
}

/// Reads until the peer closes the connection (or 30 s pass: then the server never closed it).
fn read_until_closed(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(all),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            // A reset is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(all),
            Err(e) => return Err(e),
        }
    }
}

/// Reads one response of a keep-alive connection: its status, up to the end of its body.
fn read_response(s: &mut TcpStream) -> u16 {
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).expect("read head"), 1, "closed mid-head");
        seen.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&seen).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).expect("read body");
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status")
}

#[test]
fn half_sent_and_idle_connections_are_closed_after_the_header_timeout() {
    // Regression: idle or half-sent connections were never closed (2,000 of them held 131 MB).
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, addr) = serve_with(dir.path(), &["--header-timeout", "1"]);
    // Headers that never end.
    let mut half = TcpStream::connect(&addr).expect("connect");
    write!(half, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n").expect("send");
    let answer = read_until_closed(&mut half).expect("the server closed the connection");
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");
    // A keep-alive connection that goes quiet after one request.
    let mut idle = TcpStream::connect(&addr).expect("connect");
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
    assert_eq!(read_response(&mut idle), 200);
    assert!(
        read_until_closed(&mut idle)
            .expect("closed when idle")
            .is_empty()
    );
    assert!(sigterm(&mut child).success());
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, addr) = serve_with(
        dir.path(),
        &["--max-connections", "2", "--header-timeout", "60"],
    );
    let first = TcpStream::connect(&addr).expect("connect");
    let _second = TcpStream::connect(&addr).expect("connect");
    let mut third = TcpStream::connect(&addr).expect("connect");
    write!(third, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send");
    // Accepted in order: the third waits in the backlog while two connections are open...
    third
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    let waiting = third
        .read(&mut byte)
        .expect_err("no answer while at the cap");
    assert!(
        matches!(
            waiting.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{waiting}"
    );
    // ...and is served as soon as one of them closes.
    drop(first);
    assert_eq!(read_response(&mut third), 200);
    assert!(sigterm(&mut child).success());
}

#[test]
fn sigterm_ends_within_the_grace_period_whatever_a_client_sends() {
    // Regression: one half-sent request blocked the graceful SIGTERM stop indefinitely.
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut child, addr) = serve_with(
        dir.path(),
        &["--shutdown-grace", "1", "--request-timeout", "3600"],
    );
    let mut slow = TcpStream::connect(&addr).expect("connect");
    write!(
        slow,
        "POST /v1/tenants HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {OPERATOR_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"slug\":"
    )
    .expect("send");
    // The request is in flight (its handler waits for the body) when the stop begins.
    let (status, _) = get(&addr, "/healthz");
    assert_eq!(status, 200);
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success());
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let status = exited
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("kith serve exited within its grace period")
        .expect("wait");
    assert!(status.success(), "{status}");
    assert!(read_until_closed(&mut slow).is_ok());
}

#[test]
fn with_json_logs_every_line_on_stderr_is_json() {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kith"))
        .args([
            "--log-format",
            "json",
            "--data-dir",
            dir.path().to_str().expect("utf-8 path"),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("KITH_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kith serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("kith serve exited before listening")
            .expect("read stderr");
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let message = v["fields"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        seen.push(message.clone());
        if let Some(url) = message.strip_prefix("kith listening on http://") {
            break url.to_owned();
        }
    };
    assert!(
        seen.iter()
            .any(|m| m.starts_with("created the first admin token")),
        "{seen:?}"
    );
    let (status, _) = get(&addr, "/healthz");
    assert_eq!(status, 200);
    let is_request_line = |line: &str| {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["fields"]["message"] != "request finished" {
            return false;
        }
        assert_eq!(v["fields"]["route"], "/healthz", "{line}");
        assert_eq!(v["fields"]["status"], 200, "{line}");
        assert_eq!(v["fields"]["method"], "GET", "{line}");
        assert_eq!(
            v["fields"]["request_id"].as_str().map(str::len),
            Some(36),
            "a generated UUID: {line}"
        );
        true
    };
    // At the default level (no KITH_LOG), each request is logged with its route and status.
    // Request lines are written in batches, by a thread, while the server runs: the line comes
    // without waiting for the server to stop.
    loop {
        let line = lines
            .next()
            .expect("kith serve closed stderr before the request line")
            .expect("read stderr");
        if is_request_line(&line) {
            break;
        }
    }
    assert!(sigterm(&mut child).success());
    let later = lines
        .map_while(Result::ok)
        .filter(|l| is_request_line(l))
        .count();
    assert_eq!(later, 0, "one request, one request log line");
}

#[test]
fn a_busy_address_is_named_with_the_flag_and_nothing_is_created() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_kith"))
        .args([
            "--data-dir",
            data.to_str().expect("utf-8 path"),
            "serve",
            "--listen",
            &addr,
        ])
        .env_remove("KITH_ADMIN_TOKEN")
        .output()
        .expect("run kith serve");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("--listen"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(out.stdout.is_empty(), "no admin token was made");
    assert!(!data.exists(), "no data directory was created");
}

/// Runs `kith --server http://ADDR --token TOKEN args...` and returns (exit code, stdout, stderr).
fn remote(addr: &str, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kith"))
        .args(["--server", &format!("http://{addr}"), "--token", token])
        .args(args)
        .env_remove("KITH_SERVER")
        .env_remove("KITH_TOKEN")
        .env_remove("KITH_DATA_DIR")
        .env_remove("KITH_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run kith");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `import`, `export`, `stats`, `backup` and `customer` run against a running server with
/// `--server URL --token T`, printing what their local forms print; nobody stops Kith.
#[test]
fn the_data_commands_run_against_a_running_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let admin = "remote-test-admin-token-0123456789abcdef";
    let args = [
        "--data-dir",
        data.to_str().expect("utf-8"),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ];
    let (mut child, addr, _) = start_with(&args, &[("KITH_ADMIN_TOKEN", admin)]);
    let (status, _) = request(
        &addr,
        "POST",
        "/v1/tenants",
        admin,
        Some(r#"{"slug":"acme"}"#),
    );
    assert_eq!(status, 201);
    let (status, body) = request(
        &addr,
        "POST",
        "/v1/tokens",
        admin,
        Some(r#"{"kind":"tenant","tenant":"acme"}"#),
    );
    assert_eq!(status, 201, "{body}");
    let key = json_field(&body, "token");
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let customers = format!("{examples}/customers.csv");
    let interactions = format!("{examples}/interactions.csv");

    // A dry run writes nothing; the import writes; a second import reports its rows as duplicates.
    let (code, out, err) = remote(
        &addr,
        &key,
        &[
            "import",
            "customers",
            &customers,
            "--tenant",
            "acme",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = remote(
        &addr,
        &key,
        &["import", "customers", &customers, "--tenant", "acme"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported"), "{out}");
    let (code, _, err) = remote(
        &addr,
        &key,
        &["import", "customers", &customers, "--tenant", "acme"],
    );
    assert_eq!(code, 3, "rows rejected: {err}");
    assert!(err.contains("row 2, column"), "{err}");
    let (code, out, err) = remote(
        &addr,
        &key,
        &["import", "interactions", &interactions, "--tenant", "acme"],
    );
    assert_eq!(code, 0, "{out}{err}");

    // Customers by any spelling of their email, and lists.
    let (code, out, err) = remote(
        &addr,
        &key,
        &[
            "customer",
            "get",
            "--tenant",
            "acme",
            "--email",
            "ADA@example.com",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let ada: serde_json::Value = serde_json::from_str(&out).expect("a customer as JSON");
    assert_eq!(ada["email"], "ada@example.com");
    let (code, out, _) = remote(
        &addr,
        &key,
        &["customer", "find", "--tenant", "acme", "--tag", "vip"],
    );
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (code, _, err) = remote(
        &addr,
        &key,
        &[
            "customer",
            "get",
            "--tenant",
            "acme",
            "--email",
            "nobody@example.com",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("no customer with email nobody@example.com"),
        "{err}"
    );

    // An export to a file, ending with its counts.
    let file = dir.path().join("acme.jsonl");
    let (code, _, err) = remote(
        &addr,
        &key,
        &[
            "export",
            "--tenant",
            "acme",
            "--output",
            file.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.starts_with("exported tenant acme: 5 customers, 4 interactions"),
        "{err}"
    );
    let text = std::fs::read_to_string(&file).expect("export file");
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.contains(r#""type":"end""#))
    );

    // Stats and a backup need the admin token.
    let (code, _, err) = remote(&addr, &key, &["stats"]);
    assert_eq!(code, 1);
    assert!(err.contains("403 admin_required"), "{err}");
    let (code, out, err) = remote(&addr, admin, &["stats", "--json"]);
    assert_eq!(code, 0, "{err}");
    let stats: serde_json::Value = serde_json::from_str(&out).expect("stats JSON");
    assert_eq!(stats["tenants"][0]["customers"], 5, "{stats}");
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).expect("mkdir");
    let (code, out, err) = remote(&addr, admin, &["backup", copy.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("backup written to"), "{out}");
    let (code, _, err) = remote(&addr, admin, &["backup", copy.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "an existing backup is not overwritten");
    assert!(err.contains("exists"), "{err}");

    // What goes wrong is said plainly.
    let (code, _, err) = remote(&addr, "kith_not_a_real_token", &["stats"]);
    assert_eq!((code, err.contains("401 unauthorized")), (1, true), "{err}");
    let (code, _, err) = remote(&addr, &key, &["check"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("with --server, kith runs import, export"),
        "{err}"
    );
    assert!(sigterm(&mut child).success());
    let (code, _, err) = remote(&addr, &key, &["stats"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach the server"), "{err}");

    // The backup is a store of its own.
    let out = Command::new(env!("CARGO_BIN_EXE_kith"))
        .args([
            "--data-dir",
            copy.to_str().expect("utf-8"),
            "stats",
            "--json",
        ])
        .env_remove("KITH_SERVER")
        .output()
        .expect("run kith");
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stats JSON");
    assert_eq!(stats["tenants"][0]["customers"], 5, "{stats}");
}
