//! EventBridge Scheduler: schedule groups and schedules (`cron`, `rate`, `at`, in any IANA time
//! zone, between a start and an end date, with a flexible window) whose templated targets —
//! StartExecution, PutEvents — receive their `Input` through the event service's stored,
//! retried deliveries.

pub mod model;
pub mod runner;
pub mod schedules;

use crate::events::Events;
use crate::store::ChangeLock;
use crate::store::Store;
use std::sync::Arc;

/// Scheduler's errors, with AWS's codes and HTTP statuses (a REST API).
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Internal(String),
}

impl SchedulerError {
    pub fn code(&self) -> &'static str {
        match self {
            SchedulerError::NotFound(_) => "ResourceNotFoundException",
            SchedulerError::Conflict(_) => "ConflictException",
            SchedulerError::Validation(_) => "ValidationException",
            SchedulerError::Internal(_) => "InternalServerException",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            SchedulerError::NotFound(_) => 404,
            SchedulerError::Conflict(_) => 409,
            SchedulerError::Validation(_) => 400,
            SchedulerError::Internal(_) => 500,
        }
    }
}

impl From<crate::store::StoreError> for SchedulerError {
    fn from(e: crate::store::StoreError) -> SchedulerError {
        SchedulerError::Internal(e.to_string())
    }
}

impl From<crate::events::EventsError> for SchedulerError {
    fn from(e: crate::events::EventsError) -> SchedulerError {
        SchedulerError::Internal(e.to_string())
    }
}

pub type Result<T, E = SchedulerError> = std::result::Result<T, E>;

pub struct Scheduler {
    /// The change lock (see [`ChangeLock`]) of schedules and groups (`changes` is the
    /// runner's channel).
    edits: ChangeLock,
    pub store: Arc<dyn Store>,
    pub events: Arc<Events>,
    /// Changes for the runner: the schedule's ARN and what it is now (`None`: deleted).
    changes: tokio::sync::mpsc::UnboundedSender<(String, Option<Box<model::Schedule>>)>,
}

impl Scheduler {
    pub fn start(store: Arc<dyn Store>, events: Arc<Events>) -> Result<Arc<Scheduler>> {
        let (changes, rx) = tokio::sync::mpsc::unbounded_channel();
        let s = Arc::new(Scheduler {
            edits: ChangeLock::default(),
            store,
            events,
            changes,
        });
        runner::spawn(&s, rx)?;
        Ok(s)
    }
}
