//! `kith serve` end to end: the real binary on an ephemeral port, health and readiness over HTTP,
//! a graceful exit on SIGTERM, and the data still there after a restart.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

fn start(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kith"))
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
    assert!(sigterm(&mut child).success());
}
