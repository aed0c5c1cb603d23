//! Hostile test plugin `kith.test.schema-bomb`: its configuration schema is 2.8 KB of JSON
//! with 40 levels of `anyOf` over `$ref`, so that validating a configuration against it would
//! visit 2^40 subschemas.
//!
//! The host must refuse it at install (`too-complex`), in an instant.

use kith_plugin_sdk::{CustomerInput, Manifest, NoConfig, Plugin, Result, ScoreOutput, Scorer};

/// The plugin.
#[derive(Debug)]
pub struct SchemaBomb;

/// Levels of `anyOf`.
const LEVELS: usize = 40;

/// `{"$defs": {"l0": {...}, "l1": {"anyOf": [{"$ref": "#/$defs/l0"}, ...]}, ...}, "$ref": ...}`.
pub fn schema() -> String {
    let mut defs = vec![r#""l0":{"type":"object"}"#.to_owned()];
    for i in 1..=LEVELS {
        let below = i - 1;
        defs.push(format!(
            r##""l{i}":{{"anyOf":[{{"$ref":"#/$defs/l{below}"}},{{"$ref":"#/$defs/l{below}","required":["x"]}}]}}"##
        ));
    }
    format!(
        r##"{{"$defs":{{{}}},"$ref":"#/$defs/l{LEVELS}"}}"##,
        defs.join(",")
    )
}

impl Plugin for SchemaBomb {
    type Config = NoConfig;

    fn manifest() -> Manifest {
        Manifest::new(
            "kith.test.schema-bomb",
            env!("CARGO_PKG_VERSION"),
            "Hostile: schema bomb",
        )
        .description("Test plugin: an exponential configuration schema")
        .config_schema(schema())
    }
}

impl Scorer for SchemaBomb {
    fn score(_: &NoConfig, _: &CustomerInput) -> Result<ScoreOutput> {
        Ok(ScoreOutput::new(0.0))
    }
}

kith_plugin_sdk::export_plugin!(SchemaBomb, scorer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_is_small_json() {
        let text = schema();
        assert!(text.len() < 4096, "{}", text.len());
        let _: serde_json::Value = serde_json::from_str(&text).unwrap();
    }
}
