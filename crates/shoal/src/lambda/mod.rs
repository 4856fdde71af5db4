//! Lambda: functions whose code runs unmodified as local processes speaking the Lambda Runtime
//! API (Python and Node handlers through shoal's bootstraps, `provided.*` through the
//! function's own `bootstrap`), warm workers reused between invocations, timeouts and memory
//! limits enforced, logs in CloudWatch Logs with AWS's START/END/REPORT lines, and durable
//! asynchronous invocations with retries and destinations.

pub mod code;
pub mod functions;
pub mod invoke;
pub mod model;
pub mod runtimes;
pub mod worker;

use crate::store::ChangeLock;
use crate::store::Store;
use model::AsyncInvocation;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;
use worker::Worker;

/// An API error: AWS's error type, HTTP status and message.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct LambdaError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl LambdaError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> LambdaError {
        LambdaError {
            code,
            status,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> LambdaError {
        LambdaError::new("InvalidParameterValueException", 400, message)
    }

    pub fn not_found(what: impl Into<String>) -> LambdaError {
        LambdaError::new("ResourceNotFoundException", 404, what)
    }

    pub fn internal(message: impl std::fmt::Display) -> LambdaError {
        LambdaError::new("ServiceException", 500, message.to_string())
    }
}

impl From<crate::store::StoreError> for LambdaError {
    fn from(e: crate::store::StoreError) -> LambdaError {
        LambdaError::internal(e)
    }
}

pub type Result<T, E = LambdaError> = std::result::Result<T, E>;

/// How functions run.
pub struct Settings {
    /// Where code, layers and the managed runtime environment live.
    pub dir: PathBuf,
    /// The Python that runs `python3.*` functions; `None`: a virtual environment shoal
    /// creates under `dir` with boto3 installed, as AWS's Python runtimes provide it.
    pub python: Option<PathBuf>,
    pub node: PathBuf,
    /// The URL functions reach shoal at (`AWS_ENDPOINT_URL`).
    pub endpoint: String,
    pub wait_scale: f64,
}

pub struct Lambda {
    /// The change lock (see [`ChangeLock`]) of functions and layers (a setting, a layer
    /// version number).
    changes: ChangeLock,
    pub store: Arc<dyn Store>,
    pub logs: Arc<crate::logs::Logs>,
    pub settings: Settings,
    /// Idle warm workers by function key, and how many are busy.
    pub(crate) pool: Mutex<HashMap<String, Pool>>,
    pub(crate) tx: UnboundedSender<AsyncInvocation>,
    /// Where asynchronous results go (destinations).
    pub sqs: Arc<crate::sqs::Sqs>,
    pub sns: Arc<crate::sns::Sns>,
    pub events: Arc<crate::events::Events>,
    pub(crate) python: tokio::sync::OnceCell<PathBuf>,
    /// AWS/Lambda metrics.
    pub metrics: crate::metrics::Link,
}

#[derive(Default)]
pub(crate) struct Pool {
    pub idle: Vec<Arc<Worker>>,
    pub busy: u32,
}

impl Lambda {
    pub fn start(
        store: Arc<dyn Store>,
        logs: Arc<crate::logs::Logs>,
        settings: Settings,
        sqs: Arc<crate::sqs::Sqs>,
        sns: Arc<crate::sns::Sns>,
        events: Arc<crate::events::Events>,
    ) -> Result<Arc<Lambda>> {
        std::fs::create_dir_all(&settings.dir).map_err(LambdaError::internal)?;
        runtimes::write_bootstraps(&settings.dir).map_err(LambdaError::internal)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let lambda = Arc::new(Lambda {
            changes: ChangeLock::default(),
            store,
            logs,
            settings,
            pool: Mutex::new(HashMap::new()),
            tx,
            sqs,
            sns,
            events,
            python: tokio::sync::OnceCell::new(),
            metrics: Default::default(),
        });
        let pending = lambda.pending_async()?;
        let l = lambda.clone();
        crate::due::spawn(
            rx,
            pending,
            |a| (a.due.timestamp_millis(), a.id.clone()),
            move |a| {
                let l = l.clone();
                async move { l.run_async(a).await }
            },
        );
        Ok(lambda)
    }

    pub(crate) fn pools(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pool>> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }
}
