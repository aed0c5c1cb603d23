//! Typed configuration: the host passes JSON, plugins see their own types.

use serde::de::DeserializeOwned;

use crate::{PluginError, Result};

/// Deserializes a tenant configuration; an empty string counts as `{}`.
///
/// The error names the path of the offending field, e.g.
/// `invalid configuration at tiers.vip: invalid type: string "x", expected i64`.
pub fn parse_config<C: DeserializeOwned>(json: &str) -> Result<C> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    let config: C = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            PluginError::InvalidConfig(format!("invalid configuration: {inner}"))
        } else {
            PluginError::InvalidConfig(format!("invalid configuration at {path}: {inner}"))
        }
    })?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        #[serde(default)]
        tiers: Tiers,
    }

    #[derive(Debug, Default, Deserialize)]
    struct Tiers {
        #[serde(default)]
        vip: i64,
    }

    #[test]
    fn empty_config_means_defaults() {
        let config: Config = parse_config("  ").unwrap();
        assert_eq!(config.tiers.vip, 0);
    }

    #[test]
    fn bad_config_names_the_field() {
        let err = parse_config::<Config>(r#"{"tiers":{"vip":"x"}}"#).unwrap_err();
        let PluginError::InvalidConfig(message) = err else {
            panic!("wrong variant: {err:?}")
        };
        assert!(message.contains("tiers.vip"), "{message}");
    }

    #[test]
    fn unknown_field_is_reported() {
        let err = parse_config::<Config>(r#"{"tier":{}}"#).unwrap_err();
        assert!(
            matches!(&err, PluginError::InvalidConfig(m) if m.contains("tier")),
            "{err:?}"
        );
    }

    #[test]
    fn malformed_json_is_an_invalid_config() {
        assert!(matches!(
            parse_config::<Config>("{"),
            Err(PluginError::InvalidConfig(_))
        ));
    }
}
