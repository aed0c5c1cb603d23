//! Every answer a test receives is checked against the OpenAPI document: its status must be
//! documented for the operation (or covered by `default`) and a JSON body must match the
//! schema documented for it. So every HTTP test is also a test of the contract.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use axum::http::{Method, StatusCode};
use serde_json::Value;

struct Contract {
    doc: Value,
    routes: Vec<(Method, &'static str)>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

static CONTRACT: LazyLock<Contract> = LazyLock::new(|| Contract {
    doc: serde_json::to_value(kith::http::openapi::document()).unwrap(),
    routes: kith::http::route_table(),
    validators: Mutex::new(HashMap::new()),
});

/// The route template `path` was served by: the one with the most literal segments.
fn template(method: &Method, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('?').next()?.split('/').collect();
    CONTRACT
        .routes
        .iter()
        .filter(|(m, _)| m == method)
        .filter_map(|(_, t)| {
            let ts: Vec<&str> = t.split('/').collect();
            let fits = ts.len() == segments.len()
                && ts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s);
            fits.then(|| (ts.iter().filter(|t| !t.starts_with('{')).count(), *t))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, t)| t)
}

/// Panics, naming the operation, when the answer is not what the document says.
pub fn check(method: &Method, path: &str, status: StatusCode, content_type: &str, body: &str) {
    let Some(template) = template(method, path) else {
        return; // Not routed (a 404 or 405 of the router itself).
    };
    let op = &CONTRACT.doc["paths"][template][method.as_str().to_ascii_lowercase()];
    assert!(
        op.is_object(),
        "{method} {template} is not in the OpenAPI document"
    );
    let responses = &op["responses"];
    let documented = &responses[status.as_str()];
    let answer = if documented.is_object() {
        documented
    } else if status.is_client_error() || status.is_server_error() {
        &responses["default"]
    } else {
        panic!("{method} {template} answered {status}, which the OpenAPI document does not list")
    };
    let media = content_type.split(';').next().unwrap_or("").trim();
    if body.is_empty() || !(media == "application/json" || media == "application/problem+json") {
        return;
    }
    let Some(schema) = answer["content"][media].get("schema") else {
        panic!(
            "{method} {template} answered {status} with {media}, which the OpenAPI document does not list: {body}"
        )
    };
    let key = format!("{method} {template} {status} {media}");
    let validator = {
        let mut cache = CONTRACT.validators.lock().unwrap();
        cache
            .entry(key)
            .or_insert_with(|| {
                let mut root = schema.clone();
                if let Value::Object(o) = &mut root {
                    o.insert("components".into(), CONTRACT.doc["components"].clone());
                }
                Arc::new(
                    jsonschema::options()
                        .with_draft(jsonschema::Draft::Draft202012)
                        .build(&root)
                        .unwrap_or_else(|e| panic!("{method} {template}: bad schema: {e}")),
                )
            })
            .clone()
    };
    let value: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{method} {template} answered {media} that is not JSON: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template} answered {status} with a body the OpenAPI document does not describe:\n{}\nbody: {body}",
        errors.join("\n")
    );
}
