//! A tenant's plugin configuration, checked against the JSON Schema in the plugin's manifest.
//!
//! The schema comes from the plugin, so it is untrusted input, and validating against a schema
//! can cost far more than its size suggests: 40 levels of `anyOf` over `$ref`, 2.8 KB of JSON,
//! make a validation that never ends. So, at install ([`check_schema`]):
//! - the schema is at most [`SchemaBudget::max_schema_bytes`] and nests at most
//!   [`SchemaBudget::max_depth`] deep;
//! - it uses only local `$ref`s (`#/...`), and expanded (every reference followed, recursion
//!   unrolled up to the depth limit) it has at most [`SchemaBudget::max_expanded_nodes`]
//!   subschemas: the work one validation does per value of the configuration is bounded by that;
//! - `pattern`s compile within a size limit and run with a backtracking limit.
//!
//! And at each validation ([`validate`]) the configuration is at most [`MAX_CONFIG_BYTES`] and
//! nests at most `max_depth` deep, and the validation runs on a thread of its own with a time
//! budget: one that overruns it answers `too-complex`, and the schema is quarantined so that it
//! is never validated again in this process (the overrunning thread cannot be stopped, but there
//! is at most one per schema).
//!
//! Schemas are compiled without any resolver for remote or file references: a plugin's schema
//! can never make the host open a file or a connection.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::{FieldError, ValidationError};
use crate::plugin::{Manifest, PluginFailure};

/// The largest configuration accepted, as JSON text.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;

/// Keywords whose value is one subschema.
const ONE: &[&str] = &[
    "not",
    "if",
    "then",
    "else",
    "additionalProperties",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
    "contains",
    "propertyNames",
    "items",
];
/// Keywords whose value is a list of subschemas.
const LIST: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems", "items"];
/// Keywords whose value maps names to subschemas.
const MAP: &[&str] = &[
    "properties",
    "patternProperties",
    "dependentSchemas",
    "dependencies",
];

/// Limits of checking a configuration schema and validating configurations against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaBudget {
    /// Largest schema, as JSON text (default 64 KiB).
    pub max_schema_bytes: usize,
    /// Deepest nesting of a schema or a configuration, and of `$ref`s followed (default 32).
    pub max_depth: usize,
    /// Most subschemas the schema may expand to with every `$ref` followed (default 10 000).
    pub max_expanded_nodes: usize,
    /// Longest one validation may take (default 1 s).
    pub timeout: Duration,
}

impl Default for SchemaBudget {
    fn default() -> Self {
        SchemaBudget {
            max_schema_bytes: 64 * 1024,
            max_depth: 32,
            max_expanded_nodes: 10_000,
            timeout: Duration::from_secs(1),
        }
    }
}

/// Validations that overran their time budget: the schemas not to validate again, and how many
/// overrunning threads are still going.
#[derive(Debug, Default)]
pub(super) struct Guard {
    quarantined: Mutex<HashSet<[u8; 32]>>,
    overrunning: Arc<AtomicUsize>,
}

/// At most this many validations may still run past their budget at once; beyond, new
/// validations are refused until they end.
const MAX_OVERRUNNING: usize = 2;

impl Guard {
    /// Validations still running past their budget.
    pub(super) fn overrunning(&self) -> usize {
        self.overrunning.load(Ordering::Acquire)
    }
}

/// Checks that a manifest's configuration schema is a usable JSON Schema within the budget.
pub(super) fn check_schema(
    manifest: &Manifest,
    budget: &SchemaBudget,
) -> Result<(), PluginFailure> {
    let schema = &manifest.config_schema;
    let size = serde_json::to_vec(schema).map_or(usize::MAX, |v| v.len());
    if size > budget.max_schema_bytes {
        return Err(PluginFailure::TooComplex(format!(
            "its config_schema is {size} bytes of JSON; at most {} are allowed",
            budget.max_schema_bytes
        )));
    }
    if depth(schema) > budget.max_depth {
        return Err(PluginFailure::TooComplex(format!(
            "its config_schema nests deeper than {} levels",
            budget.max_depth
        )));
    }
    let mut left = budget.max_expanded_nodes;
    expand(schema, schema, 0, budget.max_depth, &mut left).map_err(PluginFailure::TooComplex)?;
    compile(schema).map(drop)
}

/// What installing and enabling check, for a plugin run outside a server (`kith plugin run`):
/// the manifest's schema is usable within the default budget, and `config` matches it, with
/// the errors the HTTP API gives (JSON Pointers under `config`).
pub fn check_standalone(manifest: &Manifest, config: &Value) -> Result<String, crate::Error> {
    let budget = SchemaBudget::default();
    check_schema(manifest, &budget)?;
    validate(manifest, config, &budget, &Guard::default())
}

/// Validates `config` against the manifest's schema and returns it as compact JSON text.
///
/// Every violation is reported with the JSON Pointer of the offending value under `config`
/// (`config/weights/recency`), in the order the validator finds them.
pub(super) fn validate(
    manifest: &Manifest,
    config: &Value,
    budget: &SchemaBudget,
    guard: &Guard,
) -> Result<String, crate::Error> {
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
    if depth(config) > budget.max_depth {
        return Err(ValidationError::field(
            "config",
            format!("JSON nested at most {} levels deep", budget.max_depth),
        )
        .into());
    }
    let schema = manifest.config_schema.clone();
    let key: [u8; 32] = Sha256::digest(serde_json::to_vec(&schema).unwrap_or_default()).into();
    if guard
        .quarantined
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains(&key)
    {
        return Err(too_slow(budget).into());
    }
    if guard.overrunning() >= MAX_OVERRUNNING {
        return Err(PluginFailure::Busy {
            slots: MAX_OVERRUNNING as u32,
            waited_ms: 0,
            scope: crate::plugin::SlotScope::Host,
        }
        .into());
    }
    let (send, receive) = std::sync::mpsc::channel();
    let config_owned = config.clone();
    let overrunning = Arc::clone(&guard.overrunning);
    let started = std::thread::Builder::new()
        .name("kith-config-check".into())
        .spawn(move || {
            let result = compile(&schema).map(|validator| {
                validator
                    .iter_errors(&config_owned)
                    .map(|e| FieldError {
                        field: format!("config{}", e.instance_path()),
                        expected: e.to_string(),
                    })
                    .collect::<Vec<_>>()
            });
            // A send to a caller that gave up fails: this validation overran its budget.
            if send.send(result).is_err() {
                overrunning.fetch_sub(1, Ordering::AcqRel);
            }
        });
    if let Err(e) = started {
        return Err(PluginFailure::Host(format!("cannot start a configuration check: {e}")).into());
    }
    let errors = match receive.recv_timeout(budget.timeout) {
        Ok(result) => result?,
        Err(_) => {
            guard.overrunning.fetch_add(1, Ordering::AcqRel);
            drop(receive);
            guard
                .quarantined
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key);
            tracing::warn!(plugin = %manifest.id, version = %manifest.version, "configuration check overran its budget; the schema is quarantined");
            return Err(too_slow(budget).into());
        }
    };
    if errors.is_empty() {
        Ok(text)
    } else {
        Err(ValidationError { errors }.into())
    }
}

fn too_slow(budget: &SchemaBudget) -> PluginFailure {
    PluginFailure::TooComplex(format!(
        "validating a configuration against its config_schema takes longer than {} ms",
        budget.timeout.as_millis()
    ))
}

/// The schema compiled with bounded regular expressions and no resolver.
fn compile(schema: &Value) -> Result<jsonschema::Validator, PluginFailure> {
    jsonschema::options()
        .with_pattern_options(
            jsonschema::PatternOptions::fancy_regex()
                .backtrack_limit(10_000)
                .size_limit(1 << 20)
                .dfa_size_limit(1 << 20),
        )
        .build(schema)
        .map_err(|e| {
            PluginFailure::BadManifest(format!("config_schema is not a valid JSON Schema: {e}"))
        })
}

/// How deep a JSON value nests (a scalar is 0).
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// Counts the subschemas `schema` expands to with every local `$ref` followed (recursion
/// unrolled `max_refs` deep), failing as soon as `left` runs out or a reference is not local.
fn expand(
    schema: &Value,
    root: &Value,
    refs: usize,
    max_refs: usize,
    left: &mut usize,
) -> Result<(), String> {
    let Value::Object(map) = schema else {
        return Ok(());
    };
    *left = left.checked_sub(1).ok_or_else(|| {
        "its config_schema expands to too many subschemas once its $refs are followed \
         (each one is checked for every value it applies to)"
            .to_owned()
    })?;
    for key in ["$dynamicRef", "$recursiveRef"] {
        if map.contains_key(key) {
            return Err(format!(
                "its config_schema uses {key}; use local \"$ref\"s instead"
            ));
        }
    }
    if let Some(reference) = map.get("$ref") {
        let target = reference
            .as_str()
            .and_then(|r| r.strip_prefix('#'))
            .filter(|p| p.is_empty() || p.starts_with('/'))
            .ok_or_else(|| {
                format!("its config_schema has the $ref {reference}; only local references (\"#/...\") are allowed")
            })?;
        let resolved = root
            .pointer(target)
            .ok_or_else(|| format!("its config_schema's $ref \"#{target}\" points nowhere"))?;
        if refs < max_refs {
            expand(resolved, root, refs + 1, max_refs, left)?;
        }
    }
    for (key, value) in map {
        let key = key.as_str();
        if ONE.contains(&key) && value.is_object() {
            expand(value, root, refs, max_refs, left)?;
        }
        if LIST.contains(&key)
            && let Value::Array(items) = value
        {
            for item in items {
                expand(item, root, refs, max_refs, left)?;
            }
        }
        if MAP.contains(&key)
            && let Value::Object(entries) = value
        {
            for item in entries.values() {
                expand(item, root, refs, max_refs, left)?;
            }
        }
    }
    Ok(())
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
            budgets: Default::default(),
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

    fn check(m: &Manifest, config: &Value) -> Result<String, crate::Error> {
        validate(m, config, &SchemaBudget::default(), &Guard::default())
    }

    /// `levels` levels of `anyOf` over two references to the level below: 2^levels subschemas.
    pub(crate) fn bomb(levels: usize) -> Value {
        let mut defs = serde_json::Map::new();
        defs.insert("l0".into(), json!({"type": "object"}));
        for i in 1..=levels {
            let below = format!("#/$defs/l{}", i - 1);
            defs.insert(
                format!("l{i}"),
                json!({"anyOf": [{"$ref": below}, {"$ref": below, "required": ["x"]}]}),
            );
        }
        json!({"$defs": defs, "$ref": format!("#/$defs/l{levels}")})
    }

    #[test]
    fn every_violation_is_reported_with_its_json_pointer() {
        let m = manifest(schema());
        let err = check(
            &m,
            &json!({"secret": "short", "weights": {"recency": -1}, "extra": 1}),
        )
        .unwrap_err();
        let crate::Error::Store(crate::store::Error::Invalid(v)) = err else {
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
        let crate::Error::Store(crate::store::Error::Invalid(v)) =
            check(&m, &json!({})).unwrap_err()
        else {
            panic!("expected a validation error");
        };
        assert_eq!(v.errors.len(), 1);
        assert_eq!(v.errors[0].field, "config");
        assert!(v.errors[0].expected.contains("secret"), "{:?}", v.errors);
    }

    #[test]
    fn a_valid_config_comes_back_as_compact_json() {
        let m = manifest(schema());
        let text = check(&m, &json!({"secret": "0123456789"})).unwrap();
        assert_eq!(text, r#"{"secret":"0123456789"}"#);
    }

    #[test]
    fn an_oversized_or_too_deep_config_is_refused_before_validation() {
        let m = manifest(json!({}));
        let big = json!({"x": "a".repeat(MAX_CONFIG_BYTES)});
        let crate::Error::Store(crate::store::Error::Invalid(v)) = check(&m, &big).unwrap_err()
        else {
            panic!("expected a validation error");
        };
        assert_eq!(v.errors[0].field, "config");
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        let crate::Error::Store(crate::store::Error::Invalid(v)) = check(&m, &deep).unwrap_err()
        else {
            panic!("expected a validation error");
        };
        assert!(v.errors[0].expected.contains("32 levels"), "{v:?}");
    }

    #[test]
    fn a_schema_that_is_not_json_schema_is_a_bad_manifest() {
        let m = manifest(json!({"type": 12}));
        assert!(matches!(
            check_schema(&m, &SchemaBudget::default()),
            Err(PluginFailure::BadManifest(_))
        ));
    }

    #[test]
    fn remote_references_are_never_fetched() {
        let m = manifest(json!({"$ref": "https://example.invalid/schema.json"}));
        let err = check_schema(&m, &SchemaBudget::default()).unwrap_err();
        assert!(
            matches!(err, PluginFailure::TooComplex(ref t) if t.contains("only local")),
            "{err:?}"
        );
    }

    #[test]
    fn an_exponential_schema_is_refused_at_install_in_an_instant() {
        let m = manifest(bomb(40));
        assert!(serde_json::to_string(&m.config_schema).unwrap().len() < 4096);
        match check_schema(&m, &SchemaBudget::default()) {
            Err(PluginFailure::TooComplex(text)) => {
                assert!(text.contains("too many subschemas"), "{text}")
            }
            other => panic!("expected too-complex, got {other:?}"),
        }
        // A few levels of the same shape are an ordinary schema.
        check_schema(&manifest(bomb(4)), &SchemaBudget::default()).unwrap();
    }

    #[test]
    fn a_recursive_schema_is_unrolled_to_the_depth_limit_and_allowed() {
        let tree = json!({
            "$defs": {"node": {"type": "object", "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}
            }}},
            "$ref": "#/$defs/node"
        });
        let m = manifest(tree);
        check_schema(&m, &SchemaBudget::default()).unwrap();
        check(&m, &json!({"name": "a", "children": [{"name": "b"}]})).unwrap();
    }

    #[test]
    fn a_validation_past_its_time_budget_is_refused_and_its_schema_quarantined() {
        // Installed under a generous budget, validated under a tiny one.
        let m = manifest(bomb(22));
        let lenient = SchemaBudget {
            max_expanded_nodes: usize::MAX,
            ..SchemaBudget::default()
        };
        check_schema(&m, &lenient).unwrap();
        let strict = SchemaBudget {
            timeout: Duration::from_millis(1),
            ..lenient
        };
        let guard = Guard::default();
        // Not an object: every anyOf tries both branches, 2^22 of them.
        let first = validate(&m, &json!(1), &strict, &guard).unwrap_err();
        assert!(
            matches!(first, crate::Error::Plugin(PluginFailure::TooComplex(_))),
            "{first:?}"
        );
        // Refused at once from now on, without starting another validation.
        let again = validate(&m, &json!({}), &lenient, &guard).unwrap_err();
        assert!(
            matches!(again, crate::Error::Plugin(PluginFailure::TooComplex(_))),
            "{again:?}"
        );
    }
}
