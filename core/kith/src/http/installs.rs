//! Plugin installs as jobs. Compiling a component takes from under a second (a Rust plugin) to
//! 15 s or more (a Python interpreter, 18 MiB), longer than a request should hold a
//! connection: `POST /v1/plugins` with new bytes answers 202 with an install job that ends
//! `ready` (the plugin is installed) or `failed` (with the problem a synchronous install would
//! have answered). Bytes already installed answer 200 at once; `?wait=SECONDS` waits for the
//! job before answering, as a simple client wants.
//!
//! Bounds: at most [`MAX_PENDING`] installs compile or wait to at once (more: 429
//! `installs_busy`); the compilation itself runs one at a time in a limited child process (see
//! `kith_wasm_host::Compiler`); the [`KEPT`] most recent finished jobs are remembered, each
//! a few hundred bytes (the component's bytes are dropped when its job ends). Uploading bytes
//! that are being compiled joins the running job. Jobs live in the node that received the
//! upload; on another node `GET /v1/plugins/installs/{hash}` reports the plugin once it is in
//! the shared store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::StatusCode;
use serde::Serialize;

use super::error::{ApiError, Problem};
use crate::model::Timestamp;

/// Installs compiling or waiting to compile at once, over the whole server.
pub const MAX_PENDING: usize = 4;

/// Finished installs remembered (the oldest go first).
pub const KEPT: usize = 64;

/// Where an install is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InstallState {
    /// Being compiled, linked and checked.
    Compiling,
    /// Installed: `plugin` describes it.
    Ready,
    /// Refused: `error` says why, as the synchronous answer would have.
    Failed,
}

/// An install job, named by the SHA-256 of the component's bytes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InstallJob {
    /// SHA-256 of the component, hex: the job's id and, once ready, the plugin version's hash.
    pub hash: String,
    /// Where it is.
    pub state: InstallState,
    /// The component's size in bytes.
    pub size: u64,
    /// When the upload arrived.
    pub started_at: Timestamp,
    /// When compilation ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// The installed version (`ready`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub plugin: Option<serde_json::Value>,
    /// Why it was refused (`failed`): the problem a synchronous install would have answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

/// One job and the signal of its end.
#[derive(Debug)]
pub(super) struct Job {
    view: Mutex<InstallJob>,
    /// Turns true when the job ends (what `?wait=` waits for).
    pub(super) ended: tokio::sync::watch::Sender<bool>,
}

impl Job {
    pub(super) fn view(&self) -> InstallJob {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records the outcome and wakes the waiters.
    pub(super) fn finish(&self, outcome: Result<serde_json::Value, ApiError>) {
        let mut v = self.view.lock().unwrap_or_else(PoisonError::into_inner);
        v.finished_at = Some(Timestamp::now());
        match outcome {
            Ok(plugin) => {
                v.state = InstallState::Ready;
                v.plugin = Some(plugin);
            }
            Err(e) => {
                v.state = InstallState::Failed;
                v.error = Some(e.into_problem());
            }
        }
        drop(v);
        self.ended.send_replace(true);
    }

    fn compiling(&self) -> bool {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .state
            == InstallState::Compiling
    }

    fn hash(&self) -> String {
        self.view
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hash
            .clone()
    }
}

/// What [`Installs::admit`] decided.
#[derive(Debug)]
pub(super) enum Admission {
    /// A new job: the caller must run it and [`Job::finish`] it.
    New(Arc<Job>),
    /// These bytes are compiling already: join that job.
    Running(Arc<Job>),
}

/// The server's install jobs, newest last.
#[derive(Debug, Default)]
pub struct Installs {
    jobs: Mutex<VecDeque<Arc<Job>>>,
}

impl Installs {
    /// Registers an install of `hash`, joins the one running, or refuses when
    /// [`MAX_PENDING`] are compiling.
    pub(super) fn admit(&self, hash: &str, size: u64) -> Result<Admission, ApiError> {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(job) = jobs.iter().find(|j| j.compiling() && j.hash() == hash) {
            return Ok(Admission::Running(Arc::clone(job)));
        }
        if jobs.iter().filter(|j| j.compiling()).count() >= MAX_PENDING {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "installs_busy",
                format!(
                    "{MAX_PENDING} plugin installs are compiling on this server; try again when one has finished (GET /v1/plugins/installs/{{hash}})"
                ),
            ));
        }
        // A finished job of the same bytes is replaced: installing them again is a retry.
        jobs.retain(|j| j.compiling() || j.hash() != hash);
        while jobs.len() >= KEPT + MAX_PENDING {
            let Some(oldest) = jobs.iter().position(|j| !j.compiling()) else {
                break;
            };
            jobs.remove(oldest);
        }
        let job = Arc::new(Job {
            view: Mutex::new(InstallJob {
                hash: hash.to_owned(),
                state: InstallState::Compiling,
                size,
                started_at: Timestamp::now(),
                finished_at: None,
                plugin: None,
                error: None,
            }),
            ended: tokio::sync::watch::Sender::new(false),
        });
        jobs.push_back(Arc::clone(&job));
        Ok(Admission::New(job))
    }

    /// The job of `hash`, if this node has it.
    pub(super) fn get(&self, hash: &str) -> Option<Arc<Job>> {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|j| j.hash() == hash)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: usize) -> String {
        format!("{i:064x}")
    }

    #[test]
    fn pending_installs_are_bounded_and_the_same_bytes_join_one_job() {
        let installs = Installs::default();
        let mut jobs = Vec::new();
        for i in 0..MAX_PENDING {
            match installs.admit(&hash(i), 1).unwrap() {
                Admission::New(job) => jobs.push(job),
                Admission::Running(_) => panic!("a new hash joined a job"),
            }
        }
        assert!(matches!(
            installs.admit(&hash(0), 1).unwrap(),
            Admission::Running(j) if Arc::ptr_eq(&j, &jobs[0])
        ));
        let refused = installs.admit(&hash(MAX_PENDING), 1).unwrap_err();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        jobs[1].finish(Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_manifest",
            "x",
        )));
        assert!(matches!(
            installs.admit(&hash(MAX_PENDING), 1).unwrap(),
            Admission::New(_)
        ));
        let failed = installs.get(&hash(1)).unwrap().view();
        assert_eq!(failed.state, InstallState::Failed);
        assert_eq!(failed.error.unwrap().code, "bad_manifest");
        // Retrying failed bytes is a new job.
        jobs.iter()
            .for_each(|j| j.finish(Ok(serde_json::json!({}))));
        assert!(matches!(
            installs.admit(&hash(1), 1).unwrap(),
            Admission::New(_)
        ));
    }

    #[test]
    fn finished_jobs_kept_are_bounded() {
        let installs = Installs::default();
        for i in 0..KEPT * 3 {
            match installs.admit(&hash(i), 1).unwrap() {
                Admission::New(job) => job.finish(Ok(serde_json::json!({}))),
                Admission::Running(_) => panic!("joined"),
            }
        }
        let kept = installs.jobs.lock().unwrap().len();
        assert!(kept <= KEPT + MAX_PENDING, "{kept}");
        assert!(installs.get(&hash(KEPT * 3 - 1)).is_some());
        assert!(installs.get(&hash(0)).is_none());
    }
}
