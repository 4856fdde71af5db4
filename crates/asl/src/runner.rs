//! An in-process executor: runs a whole execution synchronously, recording AWS history events.
//! Tasks are answered by a [`TaskHandler`]; time comes from a [`Clock`] (virtual by default, so
//! a day-long Wait finishes at once). The server's durable executor reuses the same state
//! semantics (`states`, `io`, `retry`); this runner is what `shoal asl run` and the benchmarks use.

use crate::context::{Context, ExecutionInfo};
use crate::definition::{Kind, QueryLanguage, State, StateMachine};
use crate::error::Failure;
use crate::history::{entered_details, exited_details, History, MAX_HISTORY_EVENTS};
use crate::io::{self, check_size, Finished};
use crate::json::{self, Scope, Variables};
use crate::retry;
use crate::states;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// A task invocation handed to the [`TaskHandler`].
#[derive(Debug, Clone)]
pub struct TaskCall<'a> {
    pub state: &'a str,
    pub resource: &'a str,
    pub parameters: &'a Value,
    /// 0 for the first attempt, then 1, 2... for retries.
    pub attempt: u32,
    pub task_token: Option<String>,
    pub timeout_seconds: Option<u64>,
}

/// What a task returned.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    Success(Value),
    Failure {
        error: String,
        cause: String,
    },
    /// The task ran longer than its `TimeoutSeconds` (or stopped heart-beating).
    TimedOut,
    HeartbeatTimedOut,
}

/// Performs Task states.
pub trait TaskHandler {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome;
}

/// Answers every task with a failure: for runs without a mock file.
pub struct NoTasks;

impl TaskHandler for NoTasks {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        TaskOutcome::Failure {
            error: "Shoal.NoTaskHandler".into(),
            cause: format!(
                "The Task state '{}' ({}) has no handler in this in-process run; give a mock file with --mock and --test-case",
                call.state, call.resource
            ),
        }
    }
}

/// Where time comes from. `sleep_until` either jumps (virtual) or really waits.
pub trait Clock {
    fn now(&self) -> DateTime<Utc>;
    fn sleep_until(&mut self, t: DateTime<Utc>);
}

/// A clock that jumps: a Wait of a day costs nothing.
pub struct VirtualClock(pub DateTime<Utc>);

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
    fn sleep_until(&mut self, t: DateTime<Utc>) {
        if t > self.0 {
            self.0 = t;
        }
    }
}

/// The final status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    TimedOut,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
        }
    }
}

/// The result of a whole execution.
#[derive(Debug, Clone)]
pub struct ExecutionResult {
    pub status: Status,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: History,
}

impl ExecutionResult {
    /// The JSON object `shoal asl run` prints.
    pub fn to_json(&self) -> Value {
        match self.status {
            Status::Succeeded => json!({"status": "SUCCEEDED", "output": self.output}),
            s => json!({"status": s.as_str(), "error": self.error, "cause": self.cause}),
        }
    }
}

/// What a state produced: the next state (none at the end), the output, the assignments.
type Step<'m> = (
    Option<&'m str>,
    Value,
    Option<serde_json::Map<String, Value>>,
);

/// Why a branch stopped early.
enum Stop {
    Failed(Failure),
    /// The execution's `TimeoutSeconds` elapsed: nothing may catch it.
    TimedOut,
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        Stop::Failed(f)
    }
}

/// Runs executions in process.
pub struct Runner<'a> {
    pub info: ExecutionInfo,
    pub clock: &'a mut dyn Clock,
    pub tasks: &'a mut dyn TaskHandler,
    history: History,
    deadline: Option<DateTime<Utc>>,
    seed: u64,
    tokens: u64,
    /// Whether history events carry their details (inputs, outputs...); ids and types are
    /// always recorded, since AWS's causes quote event ids.
    details: bool,
}

impl<'a> Runner<'a> {
    pub fn new(
        info: ExecutionInfo,
        clock: &'a mut dyn Clock,
        tasks: &'a mut dyn TaskHandler,
    ) -> Self {
        let seed = info.seed;
        Runner {
            info,
            clock,
            tasks,
            history: History::default(),
            deadline: None,
            seed,
            tokens: 0,
            details: false,
        }
    }

    /// Keeps the details of every history event (for `--history` and the API).
    pub fn with_history_details(mut self, on: bool) -> Self {
        self.details = on;
        self
    }

    /// Runs the machine with `input` to completion.
    pub fn run(mut self, sm: &StateMachine, input: Value) -> ExecutionResult {
        let start = self.clock.now();
        self.deadline = sm
            .timeout_seconds
            .map(|s| start + Duration::seconds(s as i64));
        let (role, arn) = (self.info.role_arn.clone(), self.info.state_machine_arn());
        self.record(
            start,
            "ExecutionStarted",
            Some("executionStartedEventDetails"),
            || {
                json!({
                    "input": json::compact(&input),
                    "inputDetails": {"truncated": false},
                    "roleArn": role,
                    "stateMachineArn": arn,
                })
            },
        );
        if json::size(&input) > io::MAX_PAYLOAD_BYTES {
            let f = Failure::plain(
                Some("States.DataLimitExceeded".into()),
                Some(
                    "The execution input exceeds the maximum number of bytes service limit.".into(),
                ),
            );
            return self.failed(f);
        }
        let mut vars = Variables::new();
        let outcome = self.run_machine(sm, input.clone(), &input, &mut vars, None);
        let now = self.clock.now();
        match outcome {
            Ok(output) => {
                self.record(now, "ExecutionSucceeded", Some("executionSucceededEventDetails"),
                    || json!({"output": json::compact(&output), "outputDetails": {"truncated": false}}),
                );
                ExecutionResult {
                    status: Status::Succeeded,
                    output: Some(output),
                    error: None,
                    cause: None,
                    history: self.history,
                }
            }
            Err(Stop::Failed(f)) => self.failed(f),
            Err(Stop::TimedOut) => {
                self.record(
                    self.deadline.unwrap_or(now),
                    "ExecutionTimedOut",
                    Some("executionTimedOutEventDetails"),
                    || json!({"error": "States.Timeout", "cause": "The execution timed out."}),
                );
                ExecutionResult {
                    status: Status::TimedOut,
                    output: None,
                    error: Some("States.Timeout".into()),
                    cause: None,
                    history: self.history,
                }
            }
        }
    }

    fn failed(mut self, f: Failure) -> ExecutionResult {
        let mut d = serde_json::Map::new();
        if let Some(e) = &f.error {
            d.insert("error".into(), Value::String(e.clone()));
        }
        if let Some(c) = &f.cause {
            d.insert("cause".into(), Value::String(c.clone()));
        }
        let at = self.clock.now();
        self.record(
            at,
            "ExecutionFailed",
            Some("executionFailedEventDetails"),
            || Value::Object(d),
        );
        ExecutionResult {
            status: Status::Failed,
            output: None,
            error: f.error,
            cause: f.cause,
            history: self.history,
        }
    }

    /// Records an event; the details are computed only when the runner keeps them.
    fn push(
        &mut self,
        kind: &'static str,
        key: Option<&str>,
        details: impl FnOnce() -> Value,
    ) -> Result<u64, Stop> {
        if self.history.len() >= MAX_HISTORY_EVENTS {
            return Err(Stop::Failed(Failure::plain(
                Some("States.Runtime".into()),
                Some(format!(
                    "The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS})."
                )),
            )));
        }
        let at = self.clock.now();
        Ok(self.record(at, kind, key, details))
    }

    /// Appends an event without the history-size check (for the execution's own events).
    fn record(
        &mut self,
        at: DateTime<Utc>,
        kind: &'static str,
        key: Option<&str>,
        details: impl FnOnce() -> Value,
    ) -> u64 {
        let prev = self.history.len() as u64;
        let key = if self.details { key } else { None };
        let details = if key.is_some() {
            details()
        } else {
            Value::Null
        };
        self.history.push(at, kind, prev, key, details)
    }

    fn check_deadline(&self) -> Result<(), Stop> {
        match self.deadline {
            Some(d) if self.clock.now() >= d => Err(Stop::TimedOut),
            _ => Ok(()),
        }
    }

    /// Sleeps until `t`, stopping at the execution deadline.
    fn sleep_until(&mut self, t: DateTime<Utc>) -> Result<(), Stop> {
        if let Some(d) = self.deadline {
            if t >= d {
                self.clock.sleep_until(d);
                return Err(Stop::TimedOut);
            }
        }
        self.clock.sleep_until(t);
        Ok(())
    }

    fn next_seed(&mut self) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.seed
    }

    fn run_machine(
        &mut self,
        sm: &StateMachine,
        input: Value,
        exec_input: &Value,
        vars: &mut Variables,
        map_item: Option<&(usize, Value)>,
    ) -> Result<Value, Stop> {
        let mut name = sm.start_at.as_str();
        let mut input = input;
        loop {
            self.check_deadline()?;
            let state = sm
                .states
                .get(name)
                .ok_or_else(|| Failure::runtime(format!("The state '{name}' does not exist")))?;
            let (next, output) = self.run_state(state, input, exec_input, vars, map_item)?;
            match next {
                Some(n) => {
                    name = n;
                    input = output;
                }
                None => return Ok(output),
            }
        }
    }

    fn context(
        &self,
        state: &State,
        entered: DateTime<Utc>,
        exec_input: &Value,
        map_item: Option<&(usize, Value)>,
        retry_count: Option<u32>,
        token: Option<&str>,
    ) -> Value {
        Context {
            info: &self.info,
            execution_input: exec_input,
            state_name: &state.name,
            entered_time: entered,
            retry_count,
            task_token: token,
            map_item,
        }
        .to_value()
    }

    /// Runs one state; returns the next state (None at the end) and the output.
    fn run_state<'m>(
        &mut self,
        state: &'m State,
        raw: Value,
        exec_input: &Value,
        vars: &mut Variables,
        map_item: Option<&(usize, Value)>,
    ) -> Result<(Option<&'m str>, Value), Stop> {
        let (entered_kind, exited_kind) = state.entered_exited();
        let entered_id = self.push(entered_kind, Some("stateEnteredEventDetails"), || {
            entered_details(&state.name, &raw)
        })?;
        let entered = self.clock.now();
        let ctx = if state.uses_context {
            self.context(state, entered, exec_input, map_item, None, None)
        } else {
            Value::Null
        };
        let result = self.execute(state, &raw, exec_input, &ctx, vars, map_item, entered_id);
        let (next, output, assigned) = match result {
            Ok(v) => v,
            Err(Stop::Failed(f)) => {
                let f = f.located(&state.name, entered_id);
                if f.name() == "States.QueryEvaluationError" {
                    // AWS records JSONata failures in an EvaluationFailed event.
                    let (e, c, n) = (f.error.clone(), f.cause.clone(), state.name.clone());
                    self.push(
                        "EvaluationFailed",
                        Some("evaluationFailedEventDetails"),
                        || json!({"state": n, "error": e, "cause": c}),
                    )?;
                }
                match self.catch(state, &raw, &ctx, vars, f)? {
                    Some(v) => v,
                    None => unreachable!("catch returns Err when nothing catches"),
                }
            }
            Err(stop) => return Err(stop),
        };
        if let Err(f) = check_size(&state.name, &output) {
            return Err(Stop::Failed(f));
        }
        if !matches!(state.kind, Kind::Fail { .. }) {
            self.push(exited_kind, Some("stateExitedEventDetails"), || {
                exited_details(&state.name, &output)
            })?;
        }
        io::apply_assignments(vars, assigned);
        Ok((next, output))
    }

    /// Applies the first matching catcher, or returns the failure.
    fn catch<'m>(
        &mut self,
        state: &'m State,
        raw: &Value,
        ctx: &Value,
        vars: &Variables,
        f: Failure,
    ) -> Result<Option<Step<'m>>, Stop> {
        let Some(c) = retry::find_catcher(&state.catch, f.name()) else {
            return Err(Stop::Failed(f));
        };
        let error_output = json!({"Error": f.error, "Cause": f.cause});
        let scope = Scope::new(raw, ctx)
            .with_variables(vars)
            .with_seed(self.next_seed());
        let (output, assigned) = match state.query_language {
            QueryLanguage::JsonPath => {
                let assigned = io::assign_with(
                    &c.assign,
                    QueryLanguage::JsonPath,
                    &error_output,
                    &scope,
                    None,
                )?;
                let out = io::result_path(&c.result_path, raw, error_output)?;
                (out, assigned)
            }
            QueryLanguage::Jsonata => {
                let states = io::states_binding(raw, ctx, None, Some(&error_output));
                let assigned = io::assign_with(
                    &c.assign,
                    QueryLanguage::Jsonata,
                    raw,
                    &scope,
                    Some(&states),
                )?;
                let out = match &c.output {
                    Some(t) => t.eval(&scope, Some(&states))?,
                    None => error_output,
                };
                (out, assigned)
            }
        };
        Ok(Some((Some(c.next.as_str()), output, assigned)))
    }

    #[allow(clippy::too_many_arguments)]
    fn execute<'m>(
        &mut self,
        state: &'m State,
        raw: &Value,
        exec_input: &Value,
        ctx: &Value,
        vars: &Variables,
        map_item: Option<&(usize, Value)>,
        entered_id: u64,
    ) -> Result<Step<'m>, Stop> {
        let seed = self.next_seed();
        let scope = Scope::new(raw, ctx).with_variables(vars).with_seed(seed);
        let next = || state.next.as_deref();
        match &state.kind {
            Kind::Pass { result } => {
                let Finished { output, assigned } =
                    states::pass::run(state, result.as_ref(), raw, &scope)?;
                Ok((next(), output, assigned))
            }
            Kind::Succeed => {
                let output = states::succeed::run(state, raw, &scope)?;
                Ok((None, output, None))
            }
            Kind::Fail { error, cause } => Err(Stop::Failed(states::fail::run(
                state,
                error.as_ref(),
                cause.as_ref(),
                &scope,
            )?)),
            Kind::Choice { choices, default } => {
                let d = states::choice::run(state, choices, default.as_deref(), raw, &scope)?;
                Ok((Some(d.next), d.output, d.assigned))
            }
            Kind::Wait(w) => {
                let now = self.clock.now();
                let until = states::wait::until(state, w, raw, &scope, now)?;
                let f = states::wait::finish(state, raw, &scope)?;
                self.sleep_until(until)?;
                Ok((next(), f.output, f.assigned))
            }
            Kind::Task(task) => self.task(
                state, task, raw, exec_input, ctx, vars, map_item, entered_id,
            ),
            Kind::Parallel { branches } => {
                let eff = io::effective_input(state, &scope)?;
                let mut attempt = 0u32;
                let mut delays = retry::Attempts::default();
                loop {
                    self.push("ParallelStateStarted", None, || Value::Null)?;
                    match self.parallel(branches, &eff, exec_input, vars) {
                        Ok(results) => {
                            self.push("ParallelStateSucceeded", None, || Value::Null)?;
                            let f = io::finish(state, raw, Value::Array(results), &scope)?;
                            return Ok((next(), f.output, f.assigned));
                        }
                        Err(Stop::Failed(f)) => {
                            match self.retry_delay(state, &f, &mut delays, attempt) {
                                Some(d) => {
                                    attempt += 1;
                                    let t = self.clock.now() + d;
                                    self.sleep_until(t)?;
                                }
                                None => {
                                    self.push("ParallelStateFailed", None, || Value::Null)?;
                                    return Err(Stop::Failed(f));
                                }
                            }
                        }
                        Err(stop) => return Err(stop),
                    }
                }
            }
            Kind::Map(m) => {
                let mut attempt = 0u32;
                let mut delays = retry::Attempts::default();
                loop {
                    match self.map(state, m, raw, exec_input, ctx, vars, &scope) {
                        Ok(results) => {
                            let f = io::finish(state, raw, results, &scope)?;
                            return Ok((next(), f.output, f.assigned));
                        }
                        Err(Stop::Failed(f)) => {
                            match self.retry_delay(state, &f, &mut delays, attempt) {
                                Some(d) => {
                                    attempt += 1;
                                    let t = self.clock.now() + d;
                                    self.sleep_until(t)?;
                                }
                                None => return Err(Stop::Failed(f)),
                            }
                        }
                        Err(stop) => return Err(stop),
                    }
                }
            }
        }
    }

    fn retry_delay(
        &mut self,
        state: &State,
        f: &Failure,
        attempts: &mut retry::Attempts,
        _attempt: u32,
    ) -> Option<Duration> {
        let jitter_sample = (self.next_seed() >> 11) as f64 / (1u64 << 53) as f64;
        retry::decide(&state.retry, f.name(), attempts, jitter_sample)
    }

    fn parallel(
        &mut self,
        branches: &[StateMachine],
        input: &Value,
        exec_input: &Value,
        vars: &Variables,
    ) -> Result<Vec<Value>, Stop> {
        let mut out = Vec::with_capacity(branches.len());
        for b in branches {
            // A branch sees the outer variables but its assignments stay inside it.
            let mut inner = vars.clone();
            out.push(self.run_machine(b, input.clone(), exec_input, &mut inner, None)?);
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn map(
        &mut self,
        state: &State,
        m: &crate::definition::MapState,
        raw: &Value,
        exec_input: &Value,
        ctx: &Value,
        vars: &Variables,
        scope: &Scope,
    ) -> Result<Value, Stop> {
        if m.item_reader.is_some() || m.result_writer.is_some() {
            return Err(Stop::Failed(Failure::plain(
                Some("Shoal.Unsupported".into()),
                Some(format!(
                    "The Map state '{}' uses ItemReader or ResultWriter, which read and write S3 objects; the in-process runner has no object store (they work with `shoal serve` once it serves S3)",
                    state.name
                )),
            )));
        }
        let plan = states::map::plan(state, m, raw, ctx, scope)?;
        self.push(
            "MapStateStarted",
            Some("mapStateStartedEventDetails"),
            || json!({"length": plan.items.len()}),
        )?;
        let limits = states::map::limits(m, &plan.effective, scope)?;
        let mut results = Vec::with_capacity(plan.items.len());
        if m.distributed {
            self.push("MapRunStarted", Some("mapRunStartedEventDetails"), {
                let arn = self.info.map_run_arn(m.label.as_deref());
                move || json!({"mapRunArn": arn})
            })?;
            let mut inputs = Vec::with_capacity(plan.items.len());
            for (i, item) in plan.items.iter().enumerate() {
                inputs.push(states::map::item_input(
                    state, m, &plan, i, item, ctx, scope,
                )?);
            }
            // With an ItemBatcher each child execution gets a batch: {"BatchInput": ..., "Items": [...]}.
            let units: Vec<Value> = match &m.item_batcher {
                Some(b) => states::map::batches(state, b, inputs, &plan.effective, scope)?,
                None => inputs,
            };
            let total = units.len();
            let mut failures = 0usize;
            for (i, input) in units.into_iter().enumerate() {
                let item = plan.items.get(i).cloned().unwrap_or(Value::Null);
                // Child executions keep their own history, as on AWS.
                let mut child = Runner::new(self.info.child(i), &mut *self.clock, &mut *self.tasks);
                child.deadline = self.deadline;
                let mut inner = vars.clone();
                let item_ctx = (
                    i,
                    if m.item_batcher.is_some() {
                        input.clone()
                    } else {
                        item
                    },
                );
                let r = child.run_machine(
                    &m.processor,
                    input.clone(),
                    &input,
                    &mut inner,
                    Some(&item_ctx),
                );
                match r {
                    Ok(v) => results.push(v),
                    Err(Stop::TimedOut) => return Err(Stop::TimedOut),
                    Err(Stop::Failed(f)) => {
                        failures += 1;
                        results.push(json!({"Error": f.error, "Cause": f.cause}));
                        if limits.exceeded(failures, total) {
                            self.push("MapRunFailed", Some("mapRunFailedEventDetails"), || json!({"error": "States.ExceedToleratedFailureThreshold", "cause": "The specified tolerated failure threshold for the Map Run was exceeded."}))?;
                            return Err(Stop::Failed(Failure::plain(
                                Some("States.ExceedToleratedFailureThreshold".into()),
                                Some("The specified tolerated failure threshold for the Map Run was exceeded.".into()),
                            )));
                        }
                    }
                }
            }
            self.push("MapRunSucceeded", None, || Value::Null)?;
        } else {
            for (i, item) in plan.items.iter().enumerate() {
                let input = states::map::item_input(state, m, &plan, i, item, ctx, scope)?;
                self.push(
                    "MapIterationStarted",
                    Some("mapIterationStartedEventDetails"),
                    || json!({"name": state.name, "index": i}),
                )?;
                let mut inner = vars.clone();
                let item_ctx = (i, item.clone());
                match self.run_machine(&m.processor, input, exec_input, &mut inner, Some(&item_ctx))
                {
                    Ok(v) => {
                        self.push(
                            "MapIterationSucceeded",
                            Some("mapIterationSucceededEventDetails"),
                            || json!({"name": state.name, "index": i}),
                        )?;
                        results.push(v);
                    }
                    Err(Stop::Failed(f)) => {
                        self.push(
                            "MapIterationFailed",
                            Some("mapIterationFailedEventDetails"),
                            || json!({"name": state.name, "index": i}),
                        )?;
                        self.push("MapStateFailed", None, || Value::Null)?;
                        return Err(Stop::Failed(f));
                    }
                    Err(stop) => return Err(stop),
                }
            }
        }
        self.push("MapStateSucceeded", None, || Value::Null)?;
        Ok(Value::Array(results))
    }

    #[allow(clippy::too_many_arguments)]
    fn task<'m>(
        &mut self,
        state: &'m State,
        task: &crate::definition::Task,
        raw: &Value,
        exec_input: &Value,
        _ctx: &Value,
        vars: &Variables,
        map_item: Option<&(usize, Value)>,
        _entered_id: u64,
    ) -> Result<Step<'m>, Stop> {
        let mut attempts = retry::Attempts::default();
        let mut attempt = 0u32;
        let wait_for_token = task.resource.ends_with(".waitForTaskToken");
        loop {
            let token = if wait_for_token {
                self.tokens += 1;
                Some(format!(
                    "{}-token-{}",
                    self.info.execution_name, self.tokens
                ))
            } else {
                None
            };
            let entered = self.clock.now();
            let ctx = self.context(
                state,
                entered,
                exec_input,
                map_item,
                Some(attempt),
                token.as_deref(),
            );
            let scope = Scope::new(raw, &ctx)
                .with_variables(vars)
                .with_seed(self.next_seed());
            let params = io::effective_input(state, &scope)?;
            let timeout =
                states::task::seconds(task.timeout_seconds.as_ref(), &scope, "TimeoutSeconds")?;
            let heartbeat =
                states::task::seconds(task.heartbeat_seconds.as_ref(), &scope, "HeartbeatSeconds")?;
            let resource_type = states::task::resource_type(&task.resource);
            let region = self.info.region.clone();
            let sched = || {
                let mut d = json!({
                    "resourceType": resource_type.0,
                    "resource": resource_type.1,
                    "region": region,
                    "parameters": json::compact(&params),
                });
                if let Some(t) = timeout {
                    d["timeoutInSeconds"] = json!(t);
                }
                if let Some(h) = heartbeat {
                    d["heartbeatInSeconds"] = json!(h);
                }
                d
            };
            self.push("TaskScheduled", Some("taskScheduledEventDetails"), sched)?;
            self.push(
                "TaskStarted",
                Some("taskStartedEventDetails"),
                || json!({"resourceType": resource_type.0, "resource": resource_type.1}),
            )?;
            let call = TaskCall {
                state: &state.name,
                resource: &task.resource,
                parameters: &params,
                attempt,
                task_token: token.clone(),
                timeout_seconds: timeout,
            };
            let outcome = self.tasks.invoke(&call);
            let failure = match outcome {
                TaskOutcome::Success(result) => {
                    self.push(
                        "TaskSucceeded",
                        Some("taskSucceededEventDetails"),
                        || json!({"resourceType": resource_type.0, "resource": resource_type.1, "output": json::compact(&result), "outputDetails": {"truncated": false}}),
                    )?;
                    if let Err(f) = check_size(&state.name, &result) {
                        return Err(Stop::Failed(f));
                    }
                    let f = io::finish(state, raw, result, &scope)?;
                    return Ok((state.next.as_deref(), f.output, f.assigned));
                }
                TaskOutcome::Failure { error, cause } => {
                    self.push(
                        "TaskFailed",
                        Some("taskFailedEventDetails"),
                        || json!({"resourceType": resource_type.0, "resource": resource_type.1, "error": error, "cause": cause}),
                    )?;
                    Failure::plain(Some(error), Some(cause))
                }
                TaskOutcome::TimedOut | TaskOutcome::HeartbeatTimedOut => {
                    let (err, cause) = if outcome == TaskOutcome::TimedOut {
                        ("States.Timeout", "Task timed out.")
                    } else {
                        ("States.HeartbeatTimeout", "Task heartbeat timed out.")
                    };
                    if let Some(t) = timeout {
                        let until = self.clock.now() + Duration::seconds(t as i64);
                        self.sleep_until(until)?;
                    }
                    self.push(
                        "TaskTimedOut",
                        Some("taskTimedOutEventDetails"),
                        || json!({"resourceType": resource_type.0, "resource": resource_type.1, "error": err, "cause": cause}),
                    )?;
                    Failure::plain(Some(err.into()), Some(cause.into()))
                }
            };
            match self.retry_delay(state, &failure, &mut attempts, attempt) {
                Some(d) => {
                    attempt += 1;
                    let t = self.clock.now() + d;
                    self.sleep_until(t)?;
                }
                None => return Err(Stop::Failed(failure)),
            }
        }
    }
}
