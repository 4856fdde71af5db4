//! EventBridge Pipes: a source (an SQS queue) polled in batches, a filter (event patterns), an
//! optional enrichment (an Express state machine, a Lambda function or an API destination,
//! called synchronously) and a target. What reaches the target becomes a stored delivery of
//! the event service — retried under the same rules — before the source's messages are
//! deleted, so nothing is lost between the two.

pub mod model;
pub mod runner;
pub mod template;

use crate::events::Events;
use crate::sfn::arn::Scope;
use crate::store::ChangeLock;
use crate::store::{delete, put, Records, Scan, Store};
use chrono::Utc;
use model::Pipe;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Pipes' errors with their HTTP statuses (a REST API).
#[derive(Debug, thiserror::Error)]
pub enum PipesError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Internal(String),
}

impl PipesError {
    pub fn code(&self) -> &'static str {
        match self {
            PipesError::NotFound(_) => "NotFoundException",
            PipesError::Conflict(_) => "ConflictException",
            PipesError::Validation(_) => "ValidationException",
            PipesError::Internal(_) => "InternalException",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            PipesError::NotFound(_) => 404,
            PipesError::Conflict(_) => 409,
            PipesError::Validation(_) => 400,
            PipesError::Internal(_) => 500,
        }
    }
}

impl From<crate::store::StoreError> for PipesError {
    fn from(e: crate::store::StoreError) -> PipesError {
        PipesError::Internal(e.to_string())
    }
}

pub type Result<T, E = PipesError> = std::result::Result<T, E>;

/// What CreatePipe and UpdatePipe set.
pub struct PipeSpec {
    pub name: String,
    pub source: Option<String>,
    pub source_parameters: Value,
    pub enrichment: Option<String>,
    pub enrichment_parameters: Value,
    pub target: Option<String>,
    pub target_parameters: Value,
    pub role_arn: Option<String>,
    pub desired_state: Option<String>,
    pub description: Option<String>,
    pub log_configuration: Value,
    pub tags: Vec<(String, String)>,
}

pub struct Pipes {
    /// The change lock (see [`ChangeLock`]) of pipes.
    changes: ChangeLock,
    pub store: Arc<dyn Store>,
    pub events: Arc<Events>,
    /// Where pipes with a `LogConfiguration` log.
    pub logs: Arc<crate::logs::Logs>,
    /// The pollers of running pipes.
    running: Mutex<HashMap<String, tokio::task::AbortHandle>>,
}

fn pipe_arn(scope: &Scope, name: &str) -> String {
    format!(
        "arn:aws:pipes:{}:{}:pipe/{name}",
        scope.region, scope.account
    )
}

/// What an enrichment ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enrichment {
    /// An Express state machine, run synchronously on the batch.
    StateMachine,
    /// A Lambda function, invoked RequestResponse with the batch.
    Function,
    /// An API destination, called with the one record of a batch of one.
    ApiDestination,
}

impl Enrichment {
    pub(crate) fn of(arn: &str) -> Option<Enrichment> {
        if arn.starts_with("arn:aws:states:") {
            Some(Enrichment::StateMachine)
        } else if arn.starts_with("arn:aws:lambda:") {
            Some(Enrichment::Function)
        } else if arn.starts_with("arn:aws:events:") && arn.contains(":api-destination/") {
            Some(Enrichment::ApiDestination)
        } else {
            None
        }
    }
}

/// How many messages a pipe reads from its queue at once (`SqsQueueParameters.BatchSize`,
/// 10 unless set).
pub(crate) fn batch_size(source_parameters: &Value) -> u64 {
    source_parameters
        .pointer("/SqsQueueParameters/BatchSize")
        .and_then(Value::as_u64)
        .unwrap_or(10)
}

fn check(spec: &PipeSpec, source: &str, target: &str) -> Result<()> {
    let ok = !spec.name.is_empty()
        && spec.name.len() <= 64
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(PipesError::Validation(format!(
            "1 validation error detected: Value '{}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
            spec.name
        )));
    }
    if !source.starts_with("arn:aws:sqs:") {
        return Err(PipesError::Validation(format!(
            "Source {source} is not supported here: shoal's pipes read SQS queues"
        )));
    }
    if !target.starts_with("arn:") {
        return Err(PipesError::Validation(format!(
            "Target {target} is not an ARN"
        )));
    }
    if let Some(e) = &spec.enrichment {
        let Some(kind) = Enrichment::of(e) else {
            return Err(PipesError::Validation(format!(
                "Enrichment {e} is not supported here: use an Express state machine, a Lambda function or an API destination"
            )));
        };
        // an API destination takes no batches: the source must read one message at a time
        let batch = batch_size(&spec.source_parameters);
        if kind == Enrichment::ApiDestination && batch != 1 {
            return Err(PipesError::Validation(format!(
                "Enrichment {e} is an API destination, which does not support batching: set SourceParameters.SqsQueueParameters.BatchSize to 1 (it is {batch})"
            )));
        }
    }
    for (field, parameters) in [
        ("TargetParameters", &spec.target_parameters),
        ("EnrichmentParameters", &spec.enrichment_parameters),
    ] {
        if let Some(t) = parameters.get("InputTemplate") {
            let t = t.as_str().ok_or_else(|| {
                PipesError::Validation(format!("{field}.InputTemplate must be a string"))
            })?;
            template::PipeTemplate::compile(t).map_err(PipesError::Validation)?;
        }
    }
    for f in spec
        .source_parameters
        .pointer("/FilterCriteria/Filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let p = f.get("Pattern").and_then(Value::as_str).unwrap_or("");
        patterns::Pattern::parse(p).map_err(|e| {
            PipesError::Validation(format!("FilterCriteria pattern is not valid: {e}"))
        })?;
    }
    if let Some(s) = &spec.desired_state {
        if s != "RUNNING" && s != "STOPPED" {
            return Err(PipesError::Validation(format!(
                "DesiredState must be RUNNING or STOPPED, not {s}"
            )));
        }
    }
    Ok(())
}

impl Pipes {
    /// Loads the pipes and starts the running ones.
    pub fn start(
        store: Arc<dyn Store>,
        events: Arc<Events>,
        logs: Arc<crate::logs::Logs>,
    ) -> Result<Arc<Pipes>> {
        let pipes = Arc::new(Pipes {
            changes: ChangeLock::default(),
            store,
            events,
            logs,
            running: Mutex::new(HashMap::new()),
        });
        for p in pipes.store.list::<Pipe>(Scan::default())? {
            if p.desired_state == "RUNNING" {
                pipes.run(&p);
            }
        }
        Ok(pipes)
    }

    fn run(self: &Arc<Self>, p: &Pipe) {
        let me = self.clone();
        let pipe = p.clone();
        let task = tokio::spawn(async move { runner::poll(me, pipe).await });
        if let Ok(mut r) = self.running.lock() {
            if let Some(old) = r.insert(p.arn.clone(), task.abort_handle()) {
                old.abort();
            }
        }
    }

    fn halt(&self, arn: &str) {
        if let Some(h) = self.running.lock().ok().and_then(|mut r| r.remove(arn)) {
            h.abort();
        }
    }

    pub fn pipe(&self, scope: &Scope, name: &str) -> Result<Pipe> {
        self.store
            .load::<Pipe>(&pipe_arn(scope, name))?
            .ok_or_else(|| PipesError::NotFound(format!("Pipe {name} does not exist.")))
    }

    /// Creates a pipe, or (`update`) replaces the settings of one.
    pub async fn put_pipe(
        self: &Arc<Self>,
        scope: &Scope,
        spec: PipeSpec,
        update: bool,
    ) -> Result<Pipe> {
        let _change = self.changes.lock().await;
        let arn = pipe_arn(scope, &spec.name);
        let old = self.store.load::<Pipe>(&arn)?;
        match (&old, update) {
            (Some(_), false) => {
                return Err(PipesError::Conflict(format!(
                    "Pipe {} already exists.",
                    spec.name
                )))
            }
            (None, true) => {
                return Err(PipesError::NotFound(format!(
                    "Pipe {} does not exist.",
                    spec.name
                )))
            }
            _ => {}
        }
        let source = spec
            .source
            .clone()
            .or_else(|| old.as_ref().map(|o| o.source.clone()))
            .ok_or_else(|| PipesError::Validation("Source is required.".into()))?;
        let target = spec
            .target
            .clone()
            .or_else(|| old.as_ref().map(|o| o.target.clone()))
            .ok_or_else(|| PipesError::Validation("Target is required.".into()))?;
        check(&spec, &source, &target)?;
        let now = Utc::now();
        let desired = spec
            .desired_state
            .clone()
            .or_else(|| old.as_ref().map(|o| o.desired_state.clone()))
            .unwrap_or_else(|| "RUNNING".into());
        let p = Pipe {
            arn: arn.clone(),
            name: spec.name,
            owner: format!("{}:{}", scope.account, scope.region),
            source,
            source_parameters: spec.source_parameters,
            enrichment: spec.enrichment,
            enrichment_parameters: spec.enrichment_parameters,
            target,
            target_parameters: spec.target_parameters,
            role_arn: spec.role_arn.unwrap_or_default(),
            desired_state: desired.clone(),
            description: spec.description,
            log_configuration: spec.log_configuration,
            created: old.as_ref().map_or(now, |o| o.created),
            modified: now,
            tags: if spec.tags.is_empty() {
                old.map(|o| o.tags).unwrap_or_default()
            } else {
                spec.tags
            },
        };
        self.store.commit(vec![put(&p)]).done().await?;
        self.halt(&arn);
        if desired == "RUNNING" {
            self.run(&p);
        }
        Ok(p)
    }

    pub async fn set_state(
        self: &Arc<Self>,
        scope: &Scope,
        name: &str,
        running: bool,
    ) -> Result<Pipe> {
        let _change = self.changes.lock().await;
        let mut p = self.pipe(scope, name)?;
        p.desired_state = if running { "RUNNING" } else { "STOPPED" }.into();
        p.modified = Utc::now();
        self.store.commit(vec![put(&p)]).done().await?;
        self.halt(&p.arn);
        if running {
            self.run(&p);
        }
        Ok(p)
    }

    pub async fn delete_pipe(&self, scope: &Scope, name: &str) -> Result<Pipe> {
        let _change = self.changes.lock().await;
        let p = self.pipe(scope, name)?;
        self.halt(&p.arn);
        self.store
            .commit(vec![delete::<Pipe>(&p.arn)])
            .done()
            .await?;
        Ok(p)
    }

    pub fn list(&self, scope: &Scope) -> Result<Vec<Pipe>> {
        let owner = format!("{}:{}", scope.account, scope.region);
        let mut all: Vec<Pipe> = self.store.list(Scan {
            owner: Some(&owner),
            ..Default::default()
        })?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }
}
