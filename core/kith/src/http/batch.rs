//! The answer of the batch routes (`.../batch/upsert`, `.../batch`): one result per record, in
//! order, and the counts. Each record succeeds or fails on its own; all are written in one commit.

use serde::Serialize;

use super::Problem;
use super::error::ApiError;
use crate::store::Error as StoreError;

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// A new record.
    Created,
    /// A record matched and changed.
    Updated,
    /// A record matched and this one changed nothing (or was stored already).
    Unchanged,
    /// Refused; nothing of it was written.
    Failed,
}

/// One record's result, at the record's position.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResult<T> {
    /// What happened.
    pub status: BatchStatus,
    /// The record now (not for a failed one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<T>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

/// The answer to a batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchAnswer<T> {
    /// One result per record, in order.
    pub results: Vec<BatchResult<T>>,
    /// Records created.
    pub created: usize,
    /// Records that changed an existing one.
    pub updated: usize,
    /// Records that matched and changed nothing.
    pub unchanged: usize,
    /// Records refused.
    pub failed: usize,
}

impl<T> BatchAnswer<T> {
    /// The answer of `outcomes`, each turned into a status and an item by `ok`.
    pub fn of<O>(
        outcomes: Vec<Result<O, StoreError>>,
        mut ok: impl FnMut(O) -> Result<(BatchStatus, T), ApiError>,
    ) -> Result<Self, ApiError> {
        let mut answer = Self {
            results: Vec::with_capacity(outcomes.len()),
            created: 0,
            updated: 0,
            unchanged: 0,
            failed: 0,
        };
        for outcome in outcomes {
            let result = match outcome {
                Ok(o) => {
                    let (status, item) = ok(o)?;
                    BatchResult {
                        status,
                        item: Some(item),
                        error: None,
                    }
                }
                Err(e) => BatchResult {
                    status: BatchStatus::Failed,
                    item: None,
                    error: Some(ApiError::from(e).into_problem()),
                },
            };
            *match result.status {
                BatchStatus::Created => &mut answer.created,
                BatchStatus::Updated => &mut answer.updated,
                BatchStatus::Unchanged => &mut answer.unchanged,
                BatchStatus::Failed => &mut answer.failed,
            } += 1;
            answer.results.push(result);
        }
        Ok(answer)
    }
}
