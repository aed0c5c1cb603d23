//! A tenant's plugin configuration, checked against the JSON Schema in the plugin's manifest.
//!
//! Schemas are compiled without any resolver for remote or file references: a plugin's schema can
//! never make the host open a file or a connection.

use serde_json::Value;

use crate::model::{FieldError, ValidationError};
use crate::plugin::{Manifest, PluginFailure};

/// The largest configuration accepted, as JSON text.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// Checks that a manifest's configuration schema is a usable JSON Schema.
pub(super) fn check_schema(manifest: &Manifest) -> Result<(), PluginFailure> {
    jsonschema::validator_for(&manifest.config_schema)
        .map(|_| ())
        .map_err(|e| {
            PluginFailure::BadManifest(format!("config_schema is not a valid JSON Schema: {e}"))
        })
}

/// Validates `config` against the manifest's schema and returns it as compact JSON text.
///
/// Every violation is reported with the JSON Pointer of the offending value under `config`
/// (`config/weights/recency`), in the order the validator finds them.
pub(super) fn validate(manifest: &Manifest, config: &Value) -> Result<String, crate::Error> {
    let text = serde_json::to_string(config).map_err(|e| {
        ValidationError::field("config", format!("JSON that can be written back: {e}"))
    })?;
    if text.len() > MAX_CONFIG_BYTES {
        return Err(ValidationError::field(
            "config",
            format!(
                "at most {MAX_CONFIG_BYTES} bytes of JSON, not {}",
                text.len()
            ),
        )
        .into());
    }
    let validator = jsonschema::validator_for(&manifest.config_schema).map_err(|e| {
        crate::Error::Plugin(PluginFailure::BadManifest(format!(
            "config_schema is not a valid JSON Schema: {e}"
        )))
    })?;
    let errors: Vec<FieldError> = validator
        .iter_errors(config)
        .map(|e| FieldError {
            field: format!("config{}", e.instance_path()),
            expected: e.to_string(),
        })
        .collect();
    if errors.is_empty() {
        Ok(text)
    } else {
        Err(ValidationError { errors }.into())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::plugin::{Capability, InputNeeds};

    fn manifest(schema: Value) -> Manifest {
        Manifest {
            id: "kith.test".into(),
            version: "1.0.0".into(),
            name: "Test".into(),
            description: "A test".into(),
            industries: vec![],
            capabilities: vec![Capability::Scorer],
            config_schema: schema,
            needs: InputNeeds::default(),
            segments: vec![],
        }
    }

    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["secret"],
            "properties": {
                "secret": {"type": "string", "minLength": 8},
                "weights": {
                    "type": "object",
                    "properties": {"recency": {"type": "number", "minimum": 0}}
                }
            }
        })
    }

    #[test]
    fn every_violation_is_reported_with_its_json_pointer() {
        let m = manifest(schema());
        let err = validate(
            &m,
            &json!({"secret": "short", "weights": {"recency": -1}, "extra": 1}),
        )
        .unwrap_err();
        let crate::Error::Invalid(v) = err else {
            panic!("expected a validation error, got {err:?}");
        };
        let mut fields: Vec<&str> = v.errors.iter().map(|e| e.field.as_str()).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["config", "config/secret", "config/weights/recency"]
        );
        assert!(v.errors.iter().all(|e| !e.expected.is_empty()));
    }

    #[test]
    fn a_missing_required_field_names_the_object() {
        let m = manifest(schema());
        let crate::Error::Invalid(v) = validate(&m, &json!({})).unwrap_err() else {
            panic!("expected a validation error");
        };
        assert_eq!(v.errors.len(), 1);
        assert_eq!(v.errors[0].field, "config");
        assert!(v.errors[0].expected.contains("secret"), "{:?}", v.errors);
    }

    #[test]
    fn a_valid_config_comes_back_as_compact_json() {
        let m = manifest(schema());
        let text = validate(&m, &json!({"secret": "0123456789"})).unwrap();
        assert_eq!(text, r#"{"secret":"0123456789"}"#);
    }

    #[test]
    fn an_oversized_config_is_refused_before_validation() {
        let m = manifest(json!({}));
        let big = json!({"x": "a".repeat(MAX_CONFIG_BYTES)});
        let crate::Error::Invalid(v) = validate(&m, &big).unwrap_err() else {
            panic!("expected a validation error");
        };
        assert_eq!(v.errors[0].field, "config");
    }

    #[test]
    fn a_schema_that_is_not_json_schema_is_a_bad_manifest() {
        let m = manifest(json!({"type": 12}));
        assert!(matches!(
            check_schema(&m),
            Err(PluginFailure::BadManifest(_))
        ));
    }

    #[test]
    fn remote_references_are_never_fetched() {
        let m = manifest(json!({"$ref": "https://example.invalid/schema.json"}));
        assert!(check_schema(&m).is_err());
    }
}
