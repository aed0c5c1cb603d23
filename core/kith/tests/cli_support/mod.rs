//! Runs the real `kith` binary against a temporary data directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stderr lines.
    pub fn errors(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// Parses stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// A scratch directory holding a data directory and files.
pub struct Kith {
    pub tmp: tempfile::TempDir,
}

impl Kith {
    /// A fresh scratch directory (no store yet).
    pub fn new() -> Self {
        Self {
            tmp: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A scratch directory with tenant `acme`.
    pub fn with_tenant() -> Self {
        let k = Self::new();
        let r = k.ok(&["tenant", "create", "acme", "--name", "Acme Inc"]);
        assert_eq!(r.stdout, "created tenant acme (Acme Inc)\n");
        k
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// A path inside the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Runs `kith --data-dir DATA args...`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_in(&self.data(), args)
    }

    /// Runs `kith --data-dir DIR args...`.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_kith"))
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .env_remove("KITH_DATA_DIR")
            .env_remove("KITH_DATABASE_URL")
            .env_remove("KITH_LOG")
            .stdin(Stdio::null())
            .output()
            .expect("run kith");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts exit code 0.
    pub fn ok(&self, args: &[&str]) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, 0, "kith {args:?} failed: {r:?}");
        r
    }

    /// `kith stats --json` as JSON.
    pub fn stats(&self) -> serde_json::Value {
        self.ok(&["stats", "--json"]).json()
    }

    /// The number of customers in tenant `acme`.
    pub fn customers(&self) -> u64 {
        tenant_count(&self.stats(), "acme", "customers")
    }

    /// The number of interactions in tenant `acme`.
    pub fn interactions(&self) -> u64 {
        tenant_count(&self.stats(), "acme", "interactions")
    }

    /// The id of the customer with `email` in `acme`.
    pub fn id_of(&self, email: &str) -> String {
        let c = self
            .ok(&["customer", "get", "--tenant", "acme", "--email", email])
            .json();
        c["id"].as_str().expect("id").to_owned()
    }
}

/// A count from `kith stats --json`.
pub fn tenant_count(stats: &serde_json::Value, tenant: &str, what: &str) -> u64 {
    stats["tenants"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["tenant"] == tenant))
        .and_then(|t| t[what].as_u64())
        .unwrap_or_else(|| panic!("no {what} for {tenant} in {stats}"))
}

/// A fixture in `tests/data`.
pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}
