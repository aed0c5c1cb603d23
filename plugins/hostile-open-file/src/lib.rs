//! Hostile test plugin `kith.test.open-file`: `score` tries to read a file
//! (`/etc/passwd`, or `{"path": ...}`) and reports what it got.
//!
//! Reason code `file-read` (score 1, message: the first 4 KiB) means the
//! sandbox leaked; `file-denied` (score 0, message: the error) means it held.

use kith_plugin_sdk::{CustomerInput, Manifest, Plugin, Result, ScoreOutput, Scorer};
use serde::Deserialize;

/// The plugin.
#[derive(Debug)]
pub struct OpenFile;

/// Configuration: which file to try.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The path to read.
    pub path: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            path: "/etc/passwd".to_owned(),
        }
    }
}

impl Plugin for OpenFile {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.open-file",
            env!("CARGO_PKG_VERSION"),
            "Hostile: open file",
        )
        .description(
            "Test plugin: tries std::fs::read of /etc/passwd and returns what it got as a reason",
        )
        .config_schema(
            r#"{"type":"object","properties":{"path":{"type":"string","default":"/etc/passwd"}}}"#,
        )
    }
}

impl Scorer for OpenFile {
    fn score(config: &Config, _: &CustomerInput) -> Result<ScoreOutput> {
        Ok(match std::fs::read(&config.path) {
            Ok(bytes) => {
                let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
                ScoreOutput::new(1.0).reason("file-read", shown, 1.0)
            }
            Err(err) => ScoreOutput::new(0.0).reason("file-denied", err.to_string(), 0.0),
        })
    }
}

kith_plugin_sdk::export_plugin!(OpenFile, scorer);

#[cfg(test)]
mod tests {
    use kith_plugin_sdk::testing::{Harness, assert_manifest_valid, customer};

    use super::*;

    #[test]
    fn reports_a_missing_file_as_denied() {
        assert_manifest_valid::<OpenFile>();
        let config = r#"{"path":"/nonexistent/kith-test"}"#;
        let output = Harness::<OpenFile>::new(config)
            .score(customer("c").build())
            .unwrap();
        assert_eq!(output.reasons[0].code, "file-denied");
        assert_eq!(output.score, 0.0);
    }
}
