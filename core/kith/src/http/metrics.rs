//! Prometheus metrics, encoded by `prometheus-client` in the OpenMetrics text format: request
//! latency by route and status class, commit latency and group-commit batch sizes. Other parts of
//! Kith (the plugin platform: calls, fuel, failures, suspensions) add theirs by registering a
//! [`Collector`] with [`Metrics::register`], which is asked for its families on each scrape.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::{CommitInfo, Store};

/// The exposition's content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The labels of a request's latency. The route is the matched template (bounded by the router),
/// never the raw path, so a caller cannot create series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: &'static str,
}

fn latency() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

/// The server's metrics registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<RwLock<Registry>>,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the request family.
    pub fn new() -> Self {
        let requests = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency as fn() -> Histogram,
        );
        let mut registry = Registry::default();
        registry.register(
            "kith_http_request_duration_seconds",
            "Time to answer a request, by method, matched route and status class",
            requests.clone(),
        );
        Self {
            registry: Arc::new(RwLock::new(registry)),
            requests,
        }
    }

    /// Counts `store`'s commits: latency and batch size.
    pub fn attach(&self, store: &dyn Store) {
        let commit_latency = latency();
        let batch = Histogram::new(BATCH_BUCKETS.iter().copied());
        if let Ok(mut r) = self.registry.write() {
            r.register(
                "kith_store_commit_duration_seconds",
                "Time to apply and durably commit one group of writes",
                commit_latency.clone(),
            );
            r.register(
                "kith_store_commit_batch_size",
                "Write requests that shared one commit",
                batch.clone(),
            );
        }
        store.on_commit(Arc::new(move |info: &CommitInfo| {
            commit_latency.observe(info.duration.as_secs_f64());
            batch.observe(info.requests as f64);
        }));
    }

    /// Where the plugin platform (and anything else) adds its metric families.
    pub fn register(&self, collector: Box<dyn Collector>) {
        if let Ok(mut r) = self.registry.write() {
            r.register_collector(collector);
        }
    }

    /// Adds a gauge that its owner keeps current.
    pub fn register_gauge(&self, name: &str, help: &str, gauge: Gauge) {
        if let Ok(mut r) = self.registry.write() {
            r.register(name, help, gauge);
        }
    }

    /// Records one request's latency under its matched route and status class.
    pub fn observe_request(
        &self,
        method: &str,
        route: &str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let status = match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The exposition text (ends with `# EOF`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.read()
            && let Err(e) = prometheus_client::encoding::text::encode(&mut out, &r)
        {
            tracing::error!(error = %e, "encoding the metrics failed");
        }
        out
    }
}
