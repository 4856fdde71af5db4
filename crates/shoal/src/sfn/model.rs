//! The records the Step Functions service stores.

use crate::store::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

fn millis(t: &DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A state machine (its latest revision).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub arn: String,
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    /// `STANDARD` or `EXPRESS`.
    pub kind: String,
    pub created: DateTime<Utc>,
    pub revision_id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub logging: Value,
    #[serde(default)]
    pub tracing: Value,
    /// The highest version number ever published (versions are never renumbered).
    #[serde(default)]
    pub last_version: u64,
}

impl Record for Machine {
    const KIND: &'static str = "sfn.machine";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn sort(&self) -> i64 {
        millis(&self.created)
    }
}

/// A published, immutable version of a state machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    pub arn: String,
    pub machine_arn: String,
    pub version: u64,
    pub definition: String,
    pub role_arn: String,
    pub kind: String,
    pub created: DateTime<Utc>,
    pub revision_id: String,
    #[serde(default)]
    pub description: String,
}

impl Record for Version {
    const KIND: &'static str = "sfn.version";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn owner(&self) -> String {
        self.machine_arn.clone()
    }
    fn sort(&self) -> i64 {
        self.version as i64
    }
}

/// An alias routing executions to one or two versions by weight.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alias {
    pub arn: String,
    pub machine_arn: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `(version ARN, weight)` pairs.
    pub routing: Vec<(String, u32)>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

impl Record for Alias {
    const KIND: &'static str = "sfn.alias";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn owner(&self) -> String {
        self.machine_arn.clone()
    }
    fn sort(&self) -> i64 {
        millis(&self.created)
    }
}

/// A definition text, stored once however many executions use it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Definition {
    pub hash: String,
    pub text: String,
}

impl Record for Definition {
    const KIND: &'static str = "sfn.definition";
    fn key(&self) -> String {
        self.hash.clone()
    }
}

/// An execution: what it started from and where it stands. Its history is stored separately.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Execution {
    pub arn: String,
    pub name: String,
    pub machine_arn: String,
    pub machine_name: String,
    #[serde(default)]
    pub version_arn: Option<String>,
    #[serde(default)]
    pub alias_arn: Option<String>,
    pub definition_hash: String,
    pub role_arn: String,
    pub region: String,
    pub account: String,
    pub status: String,
    pub input: String,
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
    pub start: DateTime<Utc>,
    #[serde(default)]
    pub stop: Option<DateTime<Utc>>,
    pub seed: u64,
    /// Task tokens are `<token_prefix>-...`: random, so tokens cannot be guessed.
    pub token_prefix: String,
    #[serde(default)]
    pub redrive_count: u64,
    #[serde(default)]
    pub redrive_date: Option<DateTime<Utc>>,
    /// For a child started by `states:startExecution.sync`: the parent's token.
    #[serde(default)]
    pub parent_token: Option<String>,
    /// For a child started by a task (`states:startExecution[.sync[:2]]`): the task's token,
    /// by which the task, repeated after a crash, knows the child as its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// The mock-file test case (`stateMachineArn#TestCase`, as Step Functions Local).
    #[serde(default)]
    pub test_case: Option<String>,
    #[serde(default)]
    pub trace_header: Option<String>,
    /// For a child execution of a distributed Map: its map run (its parent drives it).
    #[serde(default)]
    pub map_run_arn: Option<String>,
    /// For a child execution of a distributed Map: the items it processes (its batch's, or 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<u64>,
    /// The machine's `loggingConfiguration` when the execution started, if it logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<serde_json::Value>,
    /// Whether its Parallel branches and Map iterations run concurrently. Executions stored
    /// before shoal ran them so keep running them one after another, which their stored
    /// histories record.
    #[serde(default)]
    pub concurrent_branches: bool,
}

impl Execution {
    /// `redriveStatus` and `redriveStatusReason` as AWS reports them.
    pub fn redrive_status(&self) -> (&'static str, Option<String>) {
        match self.status.as_str() {
            "FAILED" | "ABORTED" | "TIMED_OUT" => ("REDRIVABLE", None),
            s => (
                "NOT_REDRIVABLE",
                Some(format!("Execution is {s} and cannot be redriven")),
            ),
        }
    }
}

impl Record for Execution {
    const KIND: &'static str = "sfn.execution";
    fn key(&self) -> String {
        self.arn.clone()
    }
    /// A map run's children are listed by their map run, the others by their machine.
    fn owner(&self) -> String {
        self.map_run_arn
            .clone()
            .unwrap_or_else(|| self.machine_arn.clone())
    }
    fn status(&self) -> String {
        self.status.clone()
    }
    fn sort(&self) -> i64 {
        millis(&self.start)
    }
    fn summary(&self) -> Option<String> {
        serde_json::to_string(&ExecutionSummary::from(self)).ok()
    }
}

/// What ListExecutions shows of an execution, stored beside it: a listing reads this, not the
/// execution's input and output (up to 256 KiB each). Its members are the execution's own, so
/// an execution stored without a summary decodes to one too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionSummary {
    pub arn: String,
    pub name: String,
    pub machine_arn: String,
    #[serde(default)]
    pub version_arn: Option<String>,
    #[serde(default)]
    pub alias_arn: Option<String>,
    pub status: String,
    pub start: DateTime<Utc>,
    #[serde(default)]
    pub stop: Option<DateTime<Utc>>,
    #[serde(default)]
    pub redrive_count: u64,
    #[serde(default)]
    pub redrive_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub map_run_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<u64>,
}

impl From<&Execution> for ExecutionSummary {
    fn from(e: &Execution) -> ExecutionSummary {
        ExecutionSummary {
            arn: e.arn.clone(),
            name: e.name.clone(),
            machine_arn: e.machine_arn.clone(),
            version_arn: e.version_arn.clone(),
            alias_arn: e.alias_arn.clone(),
            status: e.status.clone(),
            start: e.start,
            stop: e.stop,
            redrive_count: e.redrive_count,
            redrive_date: e.redrive_date,
            map_run_arn: e.map_run_arn.clone(),
            item_count: e.item_count,
        }
    }
}

/// What a distributed Map's S3 effect (an `ItemReader` read, a `ResultWriter` export) gave,
/// stored with the events after it: a replay reuses it instead of reading again, so it maps over
/// the same items even when the object changed since.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MapEffect {
    /// `<execution ARN>#<events recorded before the effect>`.
    pub key: String,
    pub execution_arn: String,
    /// The items read (none for an export).
    #[serde(default)]
    pub items: Option<Vec<Value>>,
    /// The failure's error and cause, when it failed.
    #[serde(default)]
    pub failure: Option<(Option<String>, Option<String>)>,
}

impl Record for MapEffect {
    const KIND: &'static str = "sfn.mapeffect";
    fn key(&self) -> String {
        self.key.clone()
    }
    fn owner(&self) -> String {
        self.execution_arn.clone()
    }
}

/// A distributed Map's run: its limits and how its child executions stand.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MapRun {
    pub arn: String,
    pub execution_arn: String,
    /// The machine ARN qualified with the Map's label, as the children report it.
    pub machine_arn: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED` or `ABORTED`.
    pub status: String,
    pub start: DateTime<Utc>,
    #[serde(default)]
    pub stop: Option<DateTime<Utc>>,
    pub max_concurrency: u64,
    pub tolerated_failure_count: u64,
    pub tolerated_failure_percentage: f64,
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    #[serde(default)]
    pub redrive_count: u64,
    #[serde(default)]
    pub redrive_date: Option<DateTime<Utc>>,
}

impl Record for MapRun {
    const KIND: &'static str = "sfn.maprun";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn owner(&self) -> String {
        self.execution_arn.clone()
    }
    fn status(&self) -> String {
        self.status.clone()
    }
    fn sort(&self) -> i64 {
        millis(&self.start)
    }
}

/// What a task waiting for an outside answer is: a callback, an activity, a child execution.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum TaskKind {
    Callback,
    Activity,
    Child,
}

/// The answer a waiting task got.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum Answer {
    Success(Value),
    Failure { error: String, cause: String },
    TimedOut,
    HeartbeatTimedOut,
}

/// A task token and the task waiting on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    pub token: String,
    /// The execution whose segments run the task: a distributed Map child's parent.
    pub execution_arn: String,
    /// The distributed Map child whose task this is, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_arn: Option<String>,
    /// The running execution a `.sync` task waits on that another task started: a start of a
    /// running execution's name with its input is answered with that execution, whose end then
    /// answers this token too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<String>,
    pub kind: TaskKind,
    /// The activity ARN for activity tasks.
    #[serde(default)]
    pub activity_arn: String,
    /// `SCHEDULED` (activity not yet taken), `STARTED`, `DONE`.
    pub status: String,
    #[serde(default)]
    pub input: String,
    #[serde(default)]
    pub worker: Option<String>,
    pub started: DateTime<Utc>,
    #[serde(default)]
    pub timeout_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub heartbeat_seconds: Option<u64>,
    pub last_beat: DateTime<Utc>,
    #[serde(default)]
    pub answer: Option<Answer>,
}

impl Token {
    /// When the task times out unless a heartbeat or an answer comes first.
    pub fn deadline(&self) -> Option<DateTime<Utc>> {
        let beat = self
            .heartbeat_seconds
            .map(|h| self.last_beat + chrono::Duration::seconds(h as i64));
        match (self.timeout_at, beat) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Record for Token {
    const KIND: &'static str = "sfn.token";
    fn key(&self) -> String {
        self.token.clone()
    }
    fn owner(&self) -> String {
        self.activity_arn.clone()
    }
    fn status(&self) -> String {
        self.status.clone()
    }
    fn sort(&self) -> i64 {
        millis(&self.started)
    }
}

/// An activity: a queue of tasks that outside workers take with GetActivityTask.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Activity {
    pub arn: String,
    pub name: String,
    pub created: DateTime<Utc>,
}

impl Record for Activity {
    const KIND: &'static str = "sfn.activity";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn sort(&self) -> i64 {
        millis(&self.created)
    }
}

/// The tags of one resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Tags {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
}

impl Record for Tags {
    const KIND: &'static str = "sfn.tags";
    fn key(&self) -> String {
        self.arn.clone()
    }
}

/// One history event as stored: AWS's shape, with its details member; the timestamp is
/// stored as nanoseconds since the epoch (RFC 3339 text is read too).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredEvent {
    #[serde(with = "nanos")]
    pub timestamp: DateTime<Utc>,
    #[serde(rename = "type")]
    pub kind: String,
    pub id: u64,
    #[serde(rename = "previousEventId")]
    pub previous_event_id: u64,
    /// The Parallel branch or Map iteration the event belongs to (see [`super::lanes`]);
    /// empty at the top level. Internal: the API does not show it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub branch: String,
    #[serde(flatten)]
    pub details: serde_json::Map<String, Value>,
}

impl StoredEvent {
    /// The `...EventDetails` object, whatever its key.
    pub fn detail(&self) -> Option<&Value> {
        self.details.values().next()
    }
}

/// Timestamps as integer nanoseconds: exact (a replay reproduces the clock to the nanosecond)
/// and far cheaper to write than RFC 3339 text, which is still accepted when read.
pub mod nanos {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        match t.timestamp_nanos_opt() {
            Some(n) => s.serialize_i64(n),
            None => s.collect_str(&t.to_rfc3339()),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Nanos(i64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        match Either::deserialize(d)? {
            Either::Nanos(n) => Ok(DateTime::from_timestamp_nanos(n)),
            Either::Text(t) => DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom),
        }
    }
}
