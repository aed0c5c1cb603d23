//! Prometheus metrics in the text exposition format, written by hand: request latency by route and
//! status class, commit latency and group-commit batch sizes. Other parts of Kith (the plugin
//! platform: calls, fuel, failures, suspensions) add theirs by registering a [`MetricsSource`]
//! with [`Metrics::register`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::http::StatusCode;

use crate::store::{CommitInfo, Store};

/// Something that appends its own metric families (with `# HELP` and `# TYPE`) to the exposition.
pub trait MetricsSource: Send + Sync + std::fmt::Debug {
    /// Appends metric families to `out`.
    fn render(&self, out: &mut String);
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

#[derive(Debug, Clone)]
struct Histogram {
    buckets: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(buckets: &'static [f64]) -> Self {
        Self {
            buckets,
            counts: vec![0; buckets.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        for (b, c) in self.buckets.iter().zip(self.counts.iter_mut()) {
            if v <= *b {
                *c += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.buckets.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug)]
struct Commits {
    latency: Histogram,
    batch: Histogram,
}

/// Request latency per (method, matched route, status class).
type RequestHistograms = BTreeMap<(String, String, &'static str), Histogram>;

/// The server's metrics registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    requests: Arc<Mutex<RequestHistograms>>,
    commits: Arc<Mutex<Commits>>,
    sources: Arc<RwLock<Vec<Arc<dyn MetricsSource>>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self {
            requests: Arc::default(),
            commits: Arc::new(Mutex::new(Commits {
                latency: Histogram::new(LATENCY_BUCKETS),
                batch: Histogram::new(BATCH_BUCKETS),
            })),
            sources: Arc::default(),
        }
    }

    /// Counts `store`'s commits: latency and batch size.
    pub fn attach(&self, store: &dyn Store) {
        let commits = Arc::clone(&self.commits);
        store.on_commit(Arc::new(move |info: &CommitInfo| {
            if let Ok(mut c) = commits.lock() {
                c.latency.observe(info.duration.as_secs_f64());
                c.batch.observe(info.requests as f64);
            }
        }));
    }

    /// Where the plugin platform (and anything else) adds its metric families.
    pub fn register(&self, source: Arc<dyn MetricsSource>) {
        if let Ok(mut s) = self.sources.write() {
            s.push(source);
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
        let class = match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        if let Ok(mut r) = self.requests.lock() {
            r.entry((method.to_owned(), route.to_owned(), class))
                .or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
                .observe(elapsed.as_secs_f64());
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP kith_http_request_duration_seconds Time to answer a request, by method, matched route and status class.\n");
        out.push_str("# TYPE kith_http_request_duration_seconds histogram\n");
        if let Ok(r) = self.requests.lock() {
            for ((method, route, class), h) in r.iter() {
                let labels = format!(
                    "method=\"{method}\",route=\"{}\",status=\"{class}\"",
                    route.replace('\\', "\\\\").replace('"', "\\\"")
                );
                h.render(&mut out, "kith_http_request_duration_seconds", &labels);
            }
        }
        if let Ok(c) = self.commits.lock() {
            out.push_str("# HELP kith_store_commit_duration_seconds Time to apply and durably commit one group of writes.\n");
            out.push_str("# TYPE kith_store_commit_duration_seconds histogram\n");
            c.latency
                .render(&mut out, "kith_store_commit_duration_seconds", "");
            out.push_str(
                "# HELP kith_store_commit_batch_size Write requests that shared one commit.\n",
            );
            out.push_str("# TYPE kith_store_commit_batch_size histogram\n");
            c.batch.render(&mut out, "kith_store_commit_batch_size", "");
        }
        if let Ok(s) = self.sources.read() {
            for source in s.iter() {
                source.render(&mut out);
            }
        }
        out
    }
}
