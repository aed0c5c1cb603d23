//! Shared setup for the HTTP tests: a store (in a temp dir, or a fresh PostgreSQL database),
//! the router over it, an admin token, and a `call` that sends one request through the router
//! with `tower::ServiceExt::oneshot`.
//!
//! A test written as `async fn name(backend: Backend)` and listed in [`on_both_backends!`]
//! runs on each store: `on_redb::name` and `on_postgres::name` (ignored, by name, without
//! `KITH_TEST_DATABASE_URL`).
#![allow(dead_code, unused_macros, unused_imports)]

mod contract;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use kith::http::{AppState, HttpConfig, router};
use kith::model::TenantSlug;
use kith::service::tokens;
use kith::store::testing::TestDatabase;
use kith::store::{PgConfig, PgStore, PluginStore, RedbStore, Store, StoreConfig, TokenScope};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Redb,
    Postgres,
}

/// Where a test's store keeps its data, alive as long as the test.
pub struct Place {
    pub dir: tempfile::TempDir,
    pub db: Option<TestDatabase>,
}

impl Place {
    pub fn new(backend: Backend) -> Place {
        Place {
            dir: tempfile::tempdir().unwrap(),
            db: (backend == Backend::Postgres).then(TestDatabase::create),
        }
    }

    /// Opens the store (again).
    pub fn open(&self) -> Arc<dyn PluginStore> {
        match &self.db {
            None => Arc::new(RedbStore::open(self.dir.path(), StoreConfig::default()).unwrap()),
            Some(db) => {
                let mut config = PgConfig::new(db.url());
                config.pool_size = 8;
                Arc::new(PgStore::open(config).unwrap())
            }
        }
    }
}

/// A server under test.
pub struct Api {
    pub router: Router,
    pub store: Arc<dyn PluginStore>,
    pub admin: String,
    pub state: AppState,
    pub place: Place,
}

/// An answer.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    /// The body as JSON (Null when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem answer with this status and code.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{}", self.text);
        assert_eq!(body["status"], status);
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        body
    }

    /// Asserts a status and returns the JSON body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        self.json()
    }
}

impl Api {
    pub fn new() -> Self {
        Self::with_config(HttpConfig::default())
    }

    pub fn with_config(config: HttpConfig) -> Self {
        Self::on_with_config(Backend::Redb, config)
    }

    pub fn on(backend: Backend) -> Self {
        Self::on_with_config(backend, HttpConfig::default())
    }

    pub fn on_with_config(backend: Backend, config: HttpConfig) -> Self {
        let place = Place::new(backend);
        let store = place.open();
        Self::over(place, store, config)
    }

    /// The server over a store the test opened itself on `place`.
    pub fn over(place: Place, store: Arc<dyn PluginStore>, config: HttpConfig) -> Self {
        let admin = tokens::create(store.as_ref(), TokenScope::Admin, false, None, None)
            .unwrap()
            .secret
            .unwrap();
        let dyn_store: Arc<dyn Store> = store.clone();
        let state = AppState::new(dyn_store, config, None);
        Self {
            router: router(state.clone()),
            store,
            admin,
            state,
            place,
        }
    }

    /// Sends a prepared request.
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let (method, path) = (req.method().clone(), req.uri().to_string());
        let r = self.router.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        let resp = Resp {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        };
        let content_type = resp.header("content-type").unwrap_or_default().to_owned();
        contract::check(&method, &path, status, &content_type, &resp.text);
        resp
    }

    /// Sends `method path` with a bearer token and an optional JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.call_with(method, path, token, body, &[]).await
    }

    /// As [`Api::call`], with extra headers.
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&v).unwrap()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }

    /// Sends raw bytes as a JSON body.
    pub async fn raw(&self, method: &str, path: &str, token: &str, body: &[u8]) -> Resp {
        let req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_vec()))
            .unwrap();
        self.send(req).await
    }

    /// Creates a tenant through the API.
    pub async fn tenant(&self, slug: &str) {
        self.call(
            "POST",
            "/v1/tenants",
            Some(&self.admin),
            Some(json!({ "slug": slug })),
        )
        .await
        .ok(201);
    }

    /// Creates a tenant key through the API.
    pub async fn key(&self, slug: &str, read_only: bool) -> String {
        let body = json!({ "kind": "tenant", "tenant": slug, "read_only": read_only });
        let r = self
            .call("POST", "/v1/tokens", Some(&self.admin), Some(body))
            .await
            .ok(201);
        r["token"].as_str().unwrap().to_owned()
    }

    /// Adds a user (`body`: name, role, teams, ...); returns their id.
    pub async fn user(&self, slug: &str, key: &str, body: Value) -> String {
        let r = self
            .call(
                "POST",
                &format!("/v1/tenants/{slug}/users"),
                Some(key),
                Some(body),
            )
            .await
            .ok(201);
        r["id"].as_str().unwrap().to_owned()
    }

    /// A key acting as `user` of `slug`.
    pub async fn user_key(&self, slug: &str, user: &str) -> String {
        let body = json!({ "kind": "user", "tenant": slug, "user": user });
        let r = self
            .call("POST", "/v1/tokens", Some(&self.admin), Some(body))
            .await
            .ok(201);
        r["token"].as_str().unwrap().to_owned()
    }

    /// Creates a customer; returns its JSON.
    pub async fn customer(&self, slug: &str, key: &str, body: Value) -> Value {
        self.call(
            "POST",
            &format!("/v1/tenants/{slug}/customers"),
            Some(key),
            Some(body),
        )
        .await
        .ok(201)
    }

    /// Creates a two-stage pipeline; returns its JSON.
    pub async fn pipeline(&self, slug: &str, key: &str, name: &str) -> Value {
        let body = json!({ "name": name, "stages": [
            { "name": "Lead", "probability": 10 },
            { "name": "Proposal", "probability": 50 },
            { "name": "Won", "probability": 100, "category": "won" },
        ]});
        self.call(
            "POST",
            &format!("/v1/tenants/{slug}/pipelines"),
            Some(key),
            Some(body),
        )
        .await
        .ok(201)
    }

    /// The tenant's last event sequence number.
    pub fn last_seq(&self, slug: &str) -> u64 {
        self.store
            .last_seq(&TenantSlug::parse(slug).unwrap())
            .unwrap()
    }
}

/// Makes an `on_redb` and an `on_postgres` tokio test of each listed `async fn(Backend)`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_redb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Redb).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

/// Makes an `on_redb` and an `on_postgres` test of each listed `fn(Backend)`.
macro_rules! on_both_backends_blocking {
    ($($name:ident),* $(,)?) => {
        mod on_redb {
            $(
                #[test]
                fn $name() {
                    super::$name(super::Backend::Redb)
                }
            )*
        }
        mod on_postgres {
            $(
                #[test]
                #[cfg_attr(not(kith_pg), ignore = "needs KITH_TEST_DATABASE_URL")]
                fn $name() {
                    super::$name(super::Backend::Postgres)
                }
            )*
        }
    };
}
pub(crate) use on_both_backends_blocking;

/// Asserts that `text` is a well-formed OpenMetrics exposition: each family declared once by its
/// `# TYPE` line, its samples right after it (never interleaved with another family's), sample
/// names of its own, and `# EOF` last.
pub fn assert_exposition(text: &str) {
    let mut families = std::collections::HashSet::new();
    let mut current: Option<(String, String)> = None;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "the exposition must end with # EOF"
    );
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                families.insert(name.to_owned()),
                "family {name} declared twice"
            );
            current = Some((name.to_owned(), kind.to_owned()));
        } else if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        } else {
            let sample = line.split(['{', ' ']).next().unwrap_or_default();
            let (family, kind) = current
                .as_ref()
                .unwrap_or_else(|| panic!("{line}: no family"));
            let suffixes: &[&str] = match kind.as_str() {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                _ => &[""],
            };
            assert!(
                suffixes.iter().any(|s| sample == format!("{family}{s}")),
                "sample {sample} appears inside family {family} ({kind})"
            );
            let value = line.rsplit(' ').next().unwrap_or_default();
            assert!(
                value.parse::<f64>().is_ok(),
                "{line}: the value is not a number"
            );
        }
    }
}
