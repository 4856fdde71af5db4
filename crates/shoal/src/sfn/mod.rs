//! Step Functions: state machines, versions, aliases, activities, and durable executions.
//!
//! The service decides nothing about ASL itself: [`asl`] evaluates; this module stores, replays
//! and performs (see [`replay`] for how executions survive a crash).

pub mod arn;
pub mod error;
pub mod events;
pub mod executions;
pub mod integrations;
pub mod lanes;
pub mod logging;
pub mod machines;
pub mod map_runs;
pub mod model;
pub mod replay;
pub mod retention;
pub mod test_state;
#[cfg(test)]
pub(crate) mod testing;
pub mod tokens;

use crate::store::ChangeLock;
use crate::store::Store;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// Server settings the service needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Multiplies every Wait and retry delay: 0 skips them, 0.01 runs a minute in 0.6 s.
    pub wait_scale: f64,
    /// Waits end at once and the execution's clock jumps to their end (timestamps, `$$` times
    /// and `$now` show the waited-for time), so day-long workflows run in tests in milliseconds.
    pub virtual_clock: bool,
    /// PutEvents from clients may use `aws.*` sources (AWS refuses them; benchmarks and some
    /// local setups need them).
    pub allow_aws_sources: bool,
    /// The SFN-Local mock file (`stateMachineArn#TestCase` selects a test case).
    pub mock_config: Option<String>,
    /// Endpoints for `aws-sdk:<service>:*` tasks, by service name (`glue` → URL).
    pub sdk_endpoints: HashMap<String, String>,
    pub account: String,
    pub default_region: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            wait_scale: 1.0,
            virtual_clock: false,
            allow_aws_sources: false,
            mock_config: None,
            sdk_endpoints: HashMap::new(),
            account: "123456789012".into(),
            default_region: "us-east-1".into(),
        }
    }
}

/// One execution that a thread is working on right now.
#[derive(Default)]
pub(crate) struct Slot {
    /// Something happened while the segment ran (an answer, a timer): run again.
    dirty: bool,
    abort: Arc<AtomicBool>,
    /// A new execution not stored yet (its first segment runs): a second start of the same
    /// name answers from here.
    starting: Option<model::Execution>,
}

pub struct Sfn {
    pub store: Arc<dyn Store>,
    pub config: Config,
    parsed: Mutex<HashMap<String, machines::Cached>>,
    /// Definition hashes by source (version ARN, or machine ARN at a revision).
    hashes: Mutex<HashMap<String, String>>,
    slots: Mutex<HashMap<String, Slot>>,
    /// Wakes GetActivityTask pollers when an activity task is queued.
    activity_signal: tokio::sync::Notify,
    /// Held by a change to a task token from the API (an activity task given to a worker, an
    /// answer, a heartbeat) from its read to its commit. A heartbeat read before an answer and
    /// written after it put the token back to waiting, and the execution never ended.
    token_changes: tokio::sync::Mutex<()>,
    timers: Mutex<HashSet<(String, i64)>>,
    /// The tokens of `.sync` tasks that follow a child another task started (see
    /// [`model::Token::follows`]), by child ARN: the child's end answers them.
    followers: Mutex<HashMap<String, Vec<String>>>,
    /// The change lock (see [`ChangeLock`]) of machines, versions, aliases, activities and tags.
    changes: ChangeLock,
    /// Held by a redrive from its check of the execution to its commit. A redrive is the one
    /// change to an ended execution, so two redrives of one cannot both find it redrivable.
    redrives: tokio::sync::Mutex<()>,
    /// StopExecution's error and cause, until the stopped execution records them.
    stops: Mutex<HashMap<String, serde_json::Value>>,
    /// The event bus that `Step Functions Execution Status Change` events go to.
    bus: std::sync::OnceLock<std::sync::Weak<crate::events::Events>>,
    /// The task integrations shoal's other services carry out (`sns:publish`, ...).
    local: std::sync::OnceLock<std::sync::Weak<dyn integrations::LocalTasks>>,
    /// AWS/States metrics.
    pub metrics: crate::metrics::Link,
    /// Where machines with a `loggingConfiguration` write.
    logs: std::sync::OnceLock<std::sync::Weak<crate::logs::Logs>>,
    runtime: tokio::runtime::Handle,
}

impl Sfn {
    /// Connects the services that carry out `sns:publish` and the other local integrations.
    pub fn set_local_tasks(&self, local: std::sync::Weak<dyn integrations::LocalTasks>) {
        let _ = self.local.set(local);
    }

    pub(crate) fn local_tasks(&self) -> Option<Arc<dyn integrations::LocalTasks>> {
        self.local.get().and_then(std::sync::Weak::upgrade)
    }

    pub fn new(store: Arc<dyn Store>, config: Config, runtime: tokio::runtime::Handle) -> Arc<Sfn> {
        Arc::new(Sfn {
            store,
            config,
            parsed: Mutex::new(HashMap::new()),
            hashes: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            activity_signal: tokio::sync::Notify::new(),
            token_changes: tokio::sync::Mutex::new(()),
            followers: Mutex::new(HashMap::new()),
            timers: Mutex::new(HashSet::new()),
            changes: ChangeLock::default(),
            redrives: tokio::sync::Mutex::new(()),
            stops: Mutex::new(HashMap::new()),
            bus: std::sync::OnceLock::new(),
            local: std::sync::OnceLock::new(),
            metrics: Default::default(),
            logs: std::sync::OnceLock::new(),
            runtime,
        })
    }
}
