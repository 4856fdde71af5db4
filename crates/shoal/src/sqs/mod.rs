//! SQS (the JSON protocol): standard and FIFO queues, visibility timeouts, long polling,
//! dead-letter queues by redrive policy — every message a durable record, with an in-memory
//! view of each queue for receives.

pub mod messages;
pub mod model;
pub mod queues;

use crate::store::{Records, Scan, Store};
use model::{Message, Queue};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// An API error: AWS's error shape name, the query-protocol code boto3 maps it by, the text.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SqsError {
    pub name: &'static str,
    pub query_code: &'static str,
    pub message: String,
}

impl SqsError {
    pub fn new(name: &'static str, query_code: &'static str, message: impl Into<String>) -> Self {
        SqsError {
            name,
            query_code,
            message: message.into(),
        }
    }

    pub fn no_queue() -> SqsError {
        SqsError::new(
            "QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
        )
    }

    pub fn invalid(message: impl Into<String>) -> SqsError {
        SqsError::new("InvalidParameterValue", "InvalidParameterValue", message)
    }

    pub fn internal(message: impl Into<String>) -> SqsError {
        SqsError::new("InternalError", "InternalError", message)
    }
}

impl From<crate::store::StoreError> for SqsError {
    fn from(e: crate::store::StoreError) -> SqsError {
        SqsError::internal(e.to_string())
    }
}

pub type Result<T, E = SqsError> = std::result::Result<T, E>;

/// A queue and its messages in arrival order.
pub(crate) struct Live {
    pub queue: Queue,
    pub messages: BTreeMap<u64, Message>,
    pub next_seq: u64,
    /// FIFO deduplication ids seen in the last five minutes.
    pub dedup: HashMap<String, chrono::DateTime<chrono::Utc>>,
    pub arrived: Arc<tokio::sync::Notify>,
}

pub struct Sqs {
    pub store: Arc<dyn Store>,
    pub(crate) queues: Mutex<HashMap<String, Live>>,
}

impl Sqs {
    /// Loads every queue and message.
    pub fn open(store: Arc<dyn Store>) -> Result<Arc<Sqs>> {
        let mut queues = HashMap::new();
        for q in store.list::<Queue>(Scan::default())? {
            let msgs: Vec<Message> = store.list(Scan {
                owner: Some(&q.arn),
                ..Default::default()
            })?;
            let next_seq = msgs.iter().map(|m| m.seq + 1).max().unwrap_or(1);
            queues.insert(
                q.arn.clone(),
                Live {
                    messages: msgs.into_iter().map(|m| (m.seq, m)).collect(),
                    queue: q,
                    next_seq,
                    dedup: HashMap::new(),
                    arrived: Arc::new(tokio::sync::Notify::new()),
                },
            );
        }
        Ok(Arc::new(Sqs {
            store,
            queues: Mutex::new(queues),
        }))
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }
}
