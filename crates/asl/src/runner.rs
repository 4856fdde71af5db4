//! An in-process executor: runs a whole execution synchronously, recording AWS history events.
//! Tasks are answered by a [`TaskHandler`]; time comes from a [`Clock`] (virtual by default, so
//! a day-long Wait finishes at once). Every decision comes from [`crate::step`], which a durable
//! executor reuses; this runner is what `shoal asl run`, the tests and the benchmarks use.

use crate::context::{Context, ExecutionInfo};
use crate::definition::{Kind, State, StateMachine};
use crate::error::Failure;
use crate::history::{entered_details, exited_details, History, HistoryEvent, MAX_HISTORY_EVENTS};
use crate::io::{self, check_size};
use crate::json::{self, Scope, Variables};
use crate::retry;
use crate::states;
use crate::step::{self, Invocation, Iterations, Outcome, Recovery, Transition};
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
    pub heartbeat_seconds: Option<u64>,
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
    /// The task made progress that history records before its outcome (`TaskSubmitted` for a
    /// callback or `.sync` integration, `ActivityStarted` when a worker takes an activity task);
    /// the runner records the event and asks the handler again.
    Progress {
        kind: &'static str,
        details_key: &'static str,
        details: Value,
    },
    /// The executor stops the run here and resumes it later by replaying the history.
    Suspend,
}

/// The executor interrupted a run (to suspend it, or because it was stopped); a durable
/// executor resumes it by replaying its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupt;

/// Sees every history event as the runner records it: a durable executor persists them and,
/// while replaying, checks them against the stored history.
pub trait Journal {
    /// Takes the event: the runner keeps only its place in the history (ids, the size limit),
    /// not its details, while a journal is attached.
    fn recorded(&mut self, event: HistoryEvent) -> Result<(), Interrupt>;

    /// The id the last recorded event has in the execution's history, when the journal's ids
    /// differ from the runner's (interleaved branches, redriven histories): causes quote it.
    fn last_id(&self) -> Option<u64> {
        None
    }

    /// A distributed Map's run started, finished an item, or ended (for DescribeMapRun).
    fn map_run(&mut self, _run: &MapRunProgress) {}

    /// A child execution of the map run `map_run` starts, to process `items` items (its batch's,
    /// or one): the events recorded until [`Journal::child_ended`] are the child's own history.
    fn child_started(
        &mut self,
        _map_run: &str,
        _items: usize,
        _info: &ExecutionInfo,
        _input: &Value,
    ) -> Result<(), Interrupt> {
        Ok(())
    }

    /// The current child execution ended: with its output, or failed.
    fn child_ended(&mut self, _result: Result<&Value, &Failure>) -> Result<(), Interrupt> {
        Ok(())
    }

    /// The current child execution parked (see [`Journal::parked`]): it is set aside
    /// unfinished, and its parent goes on.
    fn child_parked(&mut self) {}

    /// The runner starts a branch — a Parallel branch or a Map iteration, named by `path` — at
    /// `at`, the time its fan-out began; the branch's replay starts from its first event, and
    /// it goes as far as `reach` (and the branch around it) allows. Called only when the runner
    /// interleaves branches ([`Runner::with_concurrent_branches`]).
    fn enter(&mut self, _path: &str, _at: DateTime<Utc>, _reach: Reach) {}

    /// The runner is back in the branch `path` (`""` is the top level) at time `at`.
    fn resume(&mut self, _path: &str, _at: DateTime<Utc>) {}

    /// Whether the interrupt just raised only parks the current branch, so that the runner may
    /// go on with other branches.
    fn parked(&self) -> Parked {
        Parked::No
    }
}

/// How far a branch may go when the runner enters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// Only replay its events: it parks where they end.
    Stored,
    /// Act, but park at a timer even when it is due, so that every branch of a fan-out first
    /// does what it can at once (as concurrent branches would) before any goes on past a Wait.
    Now,
    /// Act freely.
    Free,
}

/// What an interrupt did to the current branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    /// Nothing: the interrupt stops the run.
    No,
    /// The branch waits: for time, an answer, or (under [`Reach::Stored`]) a live run.
    Waiting,
    /// The branch reached a due timer under [`Reach::Now`]: it can go on at once.
    Yielded,
}

/// Where a distributed Map's run stands.
#[derive(Debug, Clone, PartialEq)]
pub struct MapRunProgress {
    pub arn: String,
    /// `RUNNING`, `SUCCEEDED` or `FAILED`.
    pub status: &'static str,
    pub total: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub max_concurrency: u64,
    pub tolerated_failure_count: u64,
    pub tolerated_failure_percentage: f64,
}

/// A distributed Map's `ItemReader` call.
#[derive(Debug, Clone)]
pub struct ReadCall<'a> {
    pub state: &'a str,
    pub reader: &'a crate::states::item_reader::ItemReader,
    pub request: &'a step::ReadItems,
}

/// A distributed Map's `ResultWriter` export: the objects to put in `export.bucket`.
#[derive(Debug, Clone)]
pub struct WriteCall<'a> {
    pub state: &'a str,
    pub export: &'a crate::states::result_writer::Export,
}

/// Performs Task states, and the S3 reads and writes of distributed Maps.
pub trait TaskHandler {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome;

    /// The items an `ItemReader` reads (parsed with [`crate::states::item_reader::items`]).
    fn read_items(&mut self, call: &ReadCall) -> Result<Result<Vec<Value>, Failure>, Interrupt> {
        Ok(Err(no_object_store(
            crate::states::item_reader::READER_FAILED,
            call.state,
        )))
    }

    /// Puts a `ResultWriter` export's objects.
    fn write_results(&mut self, call: &WriteCall) -> Result<Result<(), Failure>, Interrupt> {
        Ok(Err(no_object_store(
            crate::states::result_writer::WRITER_FAILED,
            call.state,
        )))
    }
}

fn no_object_store(error: &str, state: &str) -> Failure {
    Failure::plain(
        Some(error.into()),
        Some(format!(
            "The Map state '{state}' reads or writes S3 objects, and this in-process run has no object store; run it under `shoal serve`"
        )),
    )
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

/// Where time comes from. `sleep_until` either jumps (virtual), really waits, or interrupts the
/// run so that a durable executor can resume it when the time has come.
pub trait Clock {
    fn now(&self) -> DateTime<Utc>;
    fn sleep_until(&mut self, t: DateTime<Utc>) -> Result<(), Interrupt>;
}

/// A clock that jumps: a Wait of a day costs nothing.
pub struct VirtualClock(pub DateTime<Utc>);

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
    fn sleep_until(&mut self, t: DateTime<Utc>) -> Result<(), Interrupt> {
        if t > self.0 {
            self.0 = t;
        }
        Ok(())
    }
}

/// The final status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed,
    TimedOut,
    /// The executor interrupted the run; it is not finished.
    Interrupted,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Interrupted => "RUNNING",
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

/// How a distributed Map's child ended.
#[derive(Clone)]
struct Ended {
    name: String,
    /// Kept for a `ResultWriter`.
    input: Option<Value>,
    result: Result<Value, Failure>,
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
}

/// Where a branch of a fan-out stands.
enum Slot {
    /// Not finished, and free to act.
    Open,
    /// Waits for time or an answer.
    Waiting,
    /// At a due timer: can go on at once.
    Yielded,
    Done(Value),
}

/// Why a branch stopped early.
enum Stop {
    Failed(Failure),
    /// The execution's `TimeoutSeconds` elapsed: nothing may catch it.
    TimedOut,
    /// The executor interrupted the run.
    Interrupted,
}

impl From<Interrupt> for Stop {
    fn from(_: Interrupt) -> Stop {
        Stop::Interrupted
    }
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
    journal: Option<&'a mut dyn Journal>,
    /// Task tokens are `<prefix>-<n>`; the prefix defaults to the execution name.
    token_prefix: Option<String>,
    history: History,
    deadline: Option<DateTime<Utc>>,
    seed: u64,
    tokens: u64,
    /// Whether history events carry their details (inputs, outputs...); ids and types are
    /// always recorded, since AWS's causes quote event ids.
    details: bool,
    /// Whether branches run as concurrent lanes (see [`Runner::with_concurrent_branches`]).
    concurrent: bool,
    /// The current branch: `""` at the top level, then `.<fan-out>-<branch>` per level.
    path: String,
    /// Fan-outs started so far in the current branch (they name the branches below it).
    fanouts: u32,
    /// How far the current branch may go.
    reach: Reach,
    /// How the last fan-out that parked did (its branches', not only the last one's).
    fan_parked: Option<Parked>,
    /// Events in `history` from runs of branches that ran again since (the history-size limit
    /// counts each event once).
    superseded: usize,
}

/// What is local to a branch, set aside while one of its own branches runs.
struct Lane {
    path: String,
    fanouts: u32,
    tokens: u64,
    seed: u64,
    reach: Reach,
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
            journal: None,
            token_prefix: None,
            history: History::default(),
            deadline: None,
            seed,
            tokens: 0,
            details: false,
            concurrent: false,
            path: String::new(),
            fanouts: 0,
            reach: Reach::Free,
            fan_parked: None,
            superseded: 0,
        }
    }

    /// Runs Parallel branches and inline Map iterations as concurrent lanes, as Step Functions
    /// does, under a journal that can park a branch ([`Journal::parked`]): when a branch must
    /// wait for time or an answer, the next branches run, and the fan-out waits for them all.
    /// Each branch has its own path, clock, random seed and task-token count, so a replay
    /// reproduces every branch however the branches interleaved. Without this, branches run one
    /// after another (the in-process runner's behaviour, where nothing ever waits).
    pub fn with_concurrent_branches(mut self, on: bool) -> Self {
        self.concurrent = on;
        self
    }

    /// Keeps the details of every history event (for `--history` and the API).
    pub fn with_history_details(mut self, on: bool) -> Self {
        self.details = on;
        self
    }

    /// Sends every recorded event to `journal` (which may interrupt the run).
    pub fn with_journal(mut self, journal: &'a mut dyn Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Task tokens become `<prefix>-<n>` (a durable executor makes them unguessable).
    pub fn with_token_prefix(mut self, prefix: String) -> Self {
        self.token_prefix = Some(prefix);
        self
    }

    /// Runs the machine with `input` to completion.
    pub fn run(mut self, sm: &StateMachine, input: Value) -> ExecutionResult {
        let start = self.clock.now();
        self.deadline = sm
            .timeout_seconds
            .map(|s| start + Duration::seconds(s as i64));
        let (role, arn) = (self.info.role_arn.clone(), self.info.state_machine_arn());
        if self
            .record(
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
            )
            .is_err()
        {
            return self.interrupted();
        }
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
                if self.record(now, "ExecutionSucceeded", Some("executionSucceededEventDetails"),
                    || json!({"output": json::compact(&output), "outputDetails": {"truncated": false}}),
                ).is_err() {
                    return self.interrupted();
                }
                ExecutionResult {
                    status: Status::Succeeded,
                    output: Some(output),
                    error: None,
                    cause: None,
                    history: self.history,
                }
            }
            Err(Stop::Failed(f)) => self.failed(f),
            Err(Stop::Interrupted) => self.interrupted(),
            Err(Stop::TimedOut) => {
                if self
                    .record(
                        self.deadline.unwrap_or(now),
                        "ExecutionTimedOut",
                        Some("executionTimedOutEventDetails"),
                        || json!({"error": "States.Timeout", "cause": "The execution timed out."}),
                    )
                    .is_err()
                {
                    return self.interrupted();
                }
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
        if self
            .record(
                at,
                "ExecutionFailed",
                Some("executionFailedEventDetails"),
                || Value::Object(d),
            )
            .is_err()
        {
            return self.interrupted();
        }
        ExecutionResult {
            status: Status::Failed,
            output: None,
            error: f.error,
            cause: f.cause,
            history: self.history,
        }
    }

    fn interrupted(self) -> ExecutionResult {
        ExecutionResult {
            status: Status::Interrupted,
            output: None,
            error: None,
            cause: None,
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
        if self.history.len() - self.superseded >= MAX_HISTORY_EVENTS {
            return Err(Stop::Failed(Failure::plain(
                Some("States.Runtime".into()),
                Some(format!(
                    "The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS})."
                )),
            )));
        }
        let at = self.clock.now();
        Ok(self.record(at, kind, key, details)?)
    }

    /// Appends an event without the history-size check (for the execution's own events).
    fn record(
        &mut self,
        at: DateTime<Utc>,
        kind: &'static str,
        key: Option<&str>,
        details: impl FnOnce() -> Value,
    ) -> Result<u64, Interrupt> {
        let prev = self.history.len() as u64;
        let key = if self.details { key } else { None };
        let details = if key.is_some() {
            details()
        } else {
            Value::Null
        };
        let mut id = self.history.push(at, kind, prev, key, details);
        if let (Some(j), Some(e)) = (self.journal.as_deref_mut(), self.history.events.last_mut()) {
            let event = HistoryEvent {
                details: e.details.take(),
                branch: std::mem::take(&mut e.branch),
                ..*e
            };
            j.recorded(event)?;
            id = j.last_id().unwrap_or(id);
        }
        Ok(id)
    }

    fn map_run(&mut self, run: &MapRunProgress) {
        if let Some(j) = self.journal.as_deref_mut() {
            j.map_run(run);
        }
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
                self.clock.sleep_until(d)?;
                return Err(Stop::TimedOut);
            }
        }
        self.clock.sleep_until(t)?;
        Ok(())
    }

    fn next_seed(&mut self) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.seed
    }

    /// How the interrupt that just reached a fan-out left the branch it came from.
    fn parked(&mut self) -> Parked {
        match self.fan_parked.take() {
            Some(p) => p,
            None => self.journal.as_deref().map_or(Parked::No, |j| j.parked()),
        }
    }

    /// Runs the `n` branches of a fan-out (Parallel branches, inline Map iterations); `run`
    /// runs branch `i`. One after another — or as concurrent lanes
    /// ([`Runner::with_concurrent_branches`]), in rounds:
    /// 1. every branch replays what is stored: a branch whose failure is stored ends the fan-out
    ///    before any other branch acts;
    /// 2. the unfinished branches act, in order, each until it waits — for an answer, a timer
    ///    not yet due, or a due timer ([`Reach::Now`]) — so that each first does what it can at
    ///    once; at most `limit` (MaxConcurrency; 0 is none) are in flight;
    /// 3. the branches at due timers go on ([`Reach::Free`]); when one ends, a slot is free and
    ///    round 2 starts more.
    ///
    /// The fan-out ends when every branch has, at the time of the latest; it fails at the time
    /// its first failure is found; otherwise it parks.
    fn fan_out(
        &mut self,
        n: usize,
        limit: Option<u64>,
        mut run: impl FnMut(&mut Self, usize) -> Result<Value, Stop>,
    ) -> Result<Vec<Value>, Stop> {
        if !self.concurrent || self.journal.is_none() {
            return (0..n).map(|i| run(self, i)).collect();
        }
        let fan = self.fanouts;
        self.fanouts += 1;
        let base = self.next_seed();
        let fork = self.clock.now();
        let mut slots: Vec<Slot> = (0..n).map(|_| Slot::Open).collect();
        // the events each branch's last run added to the runner's history
        let mut added = vec![0; n];
        let mut end = fork;
        let mut go = |r: &mut Self, i: usize, reach: Reach, slots: &mut Vec<Slot>| {
            r.superseded += added[i];
            let before = r.history.len() - r.superseded;
            let (out, at) = r.branch(fan, i, fork, base, reach, |s| run(s, i));
            added[i] = (r.history.len() - r.superseded).saturating_sub(before);
            slots[i] = match out {
                Ok(v) => {
                    end = end.max(at);
                    Slot::Done(v)
                }
                Err(Stop::Interrupted) => match r.parked() {
                    Parked::No => return Err(Stop::Interrupted),
                    _ if reach == Reach::Stored => Slot::Open,
                    Parked::Waiting => Slot::Waiting,
                    Parked::Yielded => Slot::Yielded,
                },
                Err(Stop::Failed(f)) => {
                    r.resume(at);
                    return Err(Stop::Failed(f));
                }
                Err(stop) => return Err(stop),
            };
            Ok(())
        };
        for i in 0..n {
            go(self, i, Reach::Stored, &mut slots)?;
        }
        while self.reach > Reach::Stored && slots.iter().any(|s| matches!(s, Slot::Open)) {
            for i in 0..n {
                let in_flight = slots
                    .iter()
                    .filter(|s| matches!(s, Slot::Waiting | Slot::Yielded))
                    .count() as u64;
                if limit.is_some_and(|l| l > 0 && in_flight >= l) {
                    break;
                }
                if matches!(slots[i], Slot::Open) {
                    go(self, i, Reach::Now, &mut slots)?;
                }
            }
            if self.reach < Reach::Free {
                break;
            }
            let mut freed = false;
            for i in 0..n {
                if matches!(slots[i], Slot::Yielded) {
                    go(self, i, Reach::Free, &mut slots)?;
                    freed |= matches!(slots[i], Slot::Done(_));
                }
            }
            if !freed {
                break;
            }
        }
        if slots.iter().all(|s| matches!(s, Slot::Done(_))) {
            self.resume(end);
            return Ok(slots
                .into_iter()
                .filter_map(|s| match s {
                    Slot::Done(v) => Some(v),
                    _ => None,
                })
                .collect());
        }
        self.fan_parked = Some(if slots.iter().any(|s| matches!(s, Slot::Yielded)) {
            Parked::Yielded
        } else {
            Parked::Waiting
        });
        Err(Stop::Interrupted)
    }

    /// Runs `run` as branch `index` of the current branch's fan-out `fan`, which began at
    /// `fork`: under its own path, random seed (drawn from the fan-out's `base`) and token
    /// count, as far as `reach` allows. Returns what `run` returned and the time the branch
    /// reached.
    #[allow(clippy::too_many_arguments)]
    fn branch<T>(
        &mut self,
        fan: u32,
        index: usize,
        fork: DateTime<Utc>,
        base: u64,
        reach: Reach,
        run: impl FnOnce(&mut Self) -> T,
    ) -> (T, DateTime<Utc>) {
        let reach = reach.min(self.reach);
        let outer = Lane {
            path: format!("{}.{fan}-{index}", self.path),
            fanouts: 0,
            tokens: 0,
            seed: base ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            reach,
        };
        let outer = self.swap_lane(outer);
        if let Some(j) = self.journal.as_deref_mut() {
            j.enter(&self.path, fork, reach);
        }
        let r = run(self);
        let at = self.clock.now();
        self.swap_lane(outer);
        self.resume(fork);
        (r, at)
    }

    fn swap_lane(&mut self, lane: Lane) -> Lane {
        Lane {
            path: std::mem::replace(&mut self.path, lane.path),
            fanouts: std::mem::replace(&mut self.fanouts, lane.fanouts),
            tokens: std::mem::replace(&mut self.tokens, lane.tokens),
            seed: std::mem::replace(&mut self.seed, lane.seed),
            reach: std::mem::replace(&mut self.reach, lane.reach),
        }
    }

    /// Tells the journal the current branch goes on at `at`.
    fn resume(&mut self, at: DateTime<Utc>) {
        if let Some(j) = self.journal.as_deref_mut() {
            j.resume(&self.path, at);
        }
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

    /// Runs one state: starts it, performs what it asks for, and recovers from failures with
    /// its retriers and catchers — all decided by [`crate::step`]. Returns the next state (none
    /// at the end of the branch) and the output.
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
        let is_task = matches!(state.kind, Kind::Task(_));
        let mut attempts = retry::Attempts::default();
        let mut attempt = 0u32;
        let transition = loop {
            let token = match &state.kind {
                Kind::Task(t) if t.resource.ends_with(".waitForTaskToken") => {
                    self.tokens += 1;
                    let prefix = self
                        .token_prefix
                        .as_deref()
                        .unwrap_or(&self.info.execution_name);
                    Some(format!("{prefix}-token{}-{}", self.path, self.tokens))
                }
                _ => None,
            };
            let ctx = if state.uses_context {
                let retry_count = is_task.then_some(attempt);
                self.context(
                    state,
                    entered,
                    if state.uses_execution_input {
                        exec_input
                    } else {
                        &Value::Null
                    },
                    map_item,
                    retry_count,
                    token.as_deref(),
                )
            } else {
                Value::Null
            };
            let scope = Scope::new(&raw, &ctx)
                .with_variables(vars)
                .with_seed(self.next_seed());
            let failure = match self.attempt(state, &raw, exec_input, vars, &scope, token, attempt)
            {
                Ok(t) => break (t, ctx),
                Err(Stop::Failed(f)) => f.located(&state.name, entered_id),
                Err(stop) => return Err(stop),
            };
            if failure.name() == "States.QueryEvaluationError" {
                // AWS records JSONata failures in an EvaluationFailed event.
                let (e, c, n) = (
                    failure.error.clone(),
                    failure.cause.clone(),
                    state.name.clone(),
                );
                self.push(
                    "EvaluationFailed",
                    Some("evaluationFailedEventDetails"),
                    || json!({"state": n, "error": e, "cause": c}),
                )?;
            }
            let jitter = (self.next_seed() >> 11) as f64 / (1u64 << 53) as f64;
            let recovery = step::recover(state, &raw, failure, &mut attempts, jitter, &scope)?;
            if !matches!(recovery, Recovery::Retry { .. }) {
                // a fan-out state records its failure once no retry follows
                match state.kind {
                    Kind::Parallel { .. } => {
                        self.push("ParallelStateFailed", None, || Value::Null)?
                    }
                    Kind::Map(_) => self.push("MapStateFailed", None, || Value::Null)?,
                    _ => 0,
                };
            }
            match recovery {
                Recovery::Retry { delay } => {
                    attempt += 1;
                    let t = self.clock.now() + delay;
                    self.sleep_until(t)?;
                }
                Recovery::Catch(t) => break (t, ctx),
                Recovery::Fail(f) => return Err(Stop::Failed(f)),
            }
        };
        let (
            Transition {
                next,
                output,
                assigned,
            },
            ctx,
        ) = transition;
        // the input is ours now: a deferred ResultPath write moves it instead of copying it
        let scope = Scope::new(&Value::Null, &ctx).with_variables(vars);
        let output = output
            .resolve(raw, &scope)
            .map_err(|f| Stop::Failed(f.located(&state.name, entered_id)))?;
        if let Err(f) = check_size(&state.name, &output) {
            return Err(Stop::Failed(f));
        }
        self.push(exited_kind, Some("stateExitedEventDetails"), || {
            exited_details(&state.name, &output)
        })?;
        io::apply_assignments(vars, assigned);
        Ok((next, output))
    }

    /// One attempt at a state: start it and perform what it asks for.
    #[allow(clippy::too_many_arguments)]
    fn attempt<'m>(
        &mut self,
        state: &'m State,
        raw: &Value,
        exec_input: &Value,
        vars: &Variables,
        scope: &Scope,
        token: Option<String>,
        attempt: u32,
    ) -> Result<Transition<'m>, Stop> {
        let outcome = step::start(state, raw, scope, self.clock.now())?;
        match outcome {
            Outcome::Done(t) => Ok(t),
            Outcome::WaitUntil { until, then } => {
                self.sleep_until(until)?;
                Ok(then)
            }
            Outcome::Invoke(inv) => {
                let result = self.invoke(state, &inv, token, attempt)?;
                Ok(step::task_succeeded(state, raw, result, scope)?)
            }
            Outcome::Branches { input } => {
                let Kind::Parallel { branches } = &state.kind else {
                    unreachable!("only Parallel states ask for branches")
                };
                self.push("ParallelStateStarted", None, || Value::Null)?;
                let results = self.fan_out(branches.len(), None, |r, i| {
                    // A branch sees the outer variables but its assignments stay inside it.
                    let mut inner = vars.clone();
                    r.run_machine(&branches[i], input.clone(), exec_input, &mut inner, None)
                })?;
                self.push("ParallelStateSucceeded", None, || Value::Null)?;
                Ok(step::fan_succeeded(state, raw, results, scope)?)
            }
            Outcome::Iterations(it) => {
                let Kind::Map(m) = &state.kind else {
                    unreachable!("only Map states ask for iterations")
                };
                let result = self.iterations(state, m, it, raw, exec_input, vars, scope)?;
                Ok(step::map_succeeded(state, raw, result, scope)?)
            }
            Outcome::ReadItems(request) => {
                let Kind::Map(m) = &state.kind else {
                    unreachable!("only Map states read items")
                };
                let Some(reader) = &m.item_reader else {
                    unreachable!("only a Map with an ItemReader reads items")
                };
                let call = ReadCall {
                    state: &state.name,
                    reader,
                    request: &request,
                };
                let items = self.tasks.read_items(&call)??;
                let it = step::map_iterations(state, raw, scope, Some(items))?;
                let result = self.iterations(state, m, it, raw, exec_input, vars, scope)?;
                Ok(step::map_succeeded(state, raw, result, scope)?)
            }
        }
    }

    /// Performs a task through the handler, recording AWS's task events (the `Activity*`
    /// events for an activity resource).
    fn invoke(
        &mut self,
        state: &State,
        inv: &Invocation,
        token: Option<String>,
        attempt: u32,
    ) -> Result<Value, Stop> {
        let (rtype, rname) = states::task::resource_type(&inv.resource);
        let activity = states::task::is_activity(&inv.resource);
        let region = self.info.region.clone();
        if activity {
            self.push("ActivityScheduled", Some("activityScheduledEventDetails"), || {
                let mut d = json!({"resource": inv.resource, "input": json::compact(&inv.parameters),
                    "inputDetails": {"truncated": false}});
                if let Some(t) = inv.timeout_seconds {
                    d["timeoutInSeconds"] = json!(t);
                }
                if let Some(h) = inv.heartbeat_seconds {
                    d["heartbeatInSeconds"] = json!(h);
                }
                d
            })?;
        } else {
            self.push("TaskScheduled", Some("taskScheduledEventDetails"), || {
                let mut d = json!({
                    "resourceType": rtype,
                    "resource": rname,
                    "region": region,
                    "parameters": json::compact(&inv.parameters),
                });
                if let Some(t) = inv.timeout_seconds {
                    d["timeoutInSeconds"] = json!(t);
                }
                if let Some(h) = inv.heartbeat_seconds {
                    d["heartbeatInSeconds"] = json!(h);
                }
                d
            })?;
            self.push(
                "TaskStarted",
                Some("taskStartedEventDetails"),
                || json!({"resourceType": rtype, "resource": rname}),
            )?;
        }
        let started = self.clock.now();
        let call = TaskCall {
            state: &state.name,
            resource: &inv.resource,
            parameters: &inv.parameters,
            attempt,
            task_token: token,
            timeout_seconds: inv.timeout_seconds,
            heartbeat_seconds: inv.heartbeat_seconds,
        };
        let outcome = loop {
            match self.tasks.invoke(&call) {
                TaskOutcome::Progress {
                    kind,
                    details_key,
                    details,
                } => {
                    self.push(kind, Some(details_key), || details)?;
                }
                TaskOutcome::Suspend => return Err(Stop::Interrupted),
                other => break other,
            }
        };
        let (succeeded, failed, timed_out) = if activity {
            ("ActivitySucceeded", "ActivityFailed", "ActivityTimedOut")
        } else {
            ("TaskSucceeded", "TaskFailed", "TaskTimedOut")
        };
        let details_of = |kind: &str| {
            let mut k = kind[..1].to_ascii_lowercase();
            k.push_str(&kind[1..]);
            k.push_str("EventDetails");
            k
        };
        let with_resource = |mut d: Value| {
            if !activity {
                d["resourceType"] = json!(rtype);
                d["resource"] = json!(rname);
            }
            d
        };
        match outcome {
            TaskOutcome::Success(result) => {
                self.push(succeeded, Some(&details_of(succeeded)), || {
                    with_resource(json!({"output": json::compact(&result), "outputDetails": {"truncated": false}}))
                })?;
                Ok(result)
            }
            TaskOutcome::Failure { error, cause } => {
                self.push(failed, Some(&details_of(failed)), || {
                    with_resource(json!({"error": error, "cause": cause}))
                })?;
                Err(Stop::Failed(Failure::plain(Some(error), Some(cause))))
            }
            outcome => {
                let timeout = outcome == TaskOutcome::TimedOut;
                let (err, cause) = if timeout {
                    ("States.Timeout", "Task timed out.")
                } else {
                    ("States.HeartbeatTimeout", "Task heartbeat timed out.")
                };
                let waited = if timeout {
                    inv.timeout_seconds
                } else {
                    inv.heartbeat_seconds
                };
                // A handler that really waited has let the time pass; a mocked timeout has not.
                if let Some(t) = waited {
                    self.sleep_until(started + Duration::seconds(t as i64))?;
                }
                self.push(timed_out, Some(&details_of(timed_out)), || {
                    with_resource(json!({"error": err, "cause": cause}))
                })?;
                Err(Stop::Failed(Failure::plain(
                    Some(err.into()),
                    Some(cause.into()),
                )))
            }
        }
    }

    /// Runs a Map's iterations: inline in this history, or distributed as child executions.
    #[allow(clippy::too_many_arguments)]
    fn iterations(
        &mut self,
        state: &State,
        m: &crate::definition::MapState,
        it: Iterations,
        raw: &Value,
        exec_input: &Value,
        vars: &Variables,
        scope: &Scope,
    ) -> Result<Value, Stop> {
        self.push(
            "MapStateStarted",
            Some("mapStateStartedEventDetails"),
            || json!({"length": it.items.len()}),
        )?;
        let limits = states::map::limits(m, &it.effective, scope)?;
        let batched = m.item_batcher.is_some();
        let results = if it.distributed {
            let mut run = MapRunProgress {
                arn: self.info.map_run_arn(m.label.as_deref()),
                status: "RUNNING",
                total: it.inputs.len(),
                succeeded: 0,
                failed: 0,
                max_concurrency: limits.max_concurrency.unwrap_or(0),
                tolerated_failure_count: limits.tolerated_count.unwrap_or(0),
                tolerated_failure_percentage: limits.tolerated_percentage.unwrap_or(0.0),
            };
            self.push("MapRunStarted", Some("mapRunStartedEventDetails"), {
                let arn = run.arn.clone();
                move || json!({"mapRunArn": arn})
            })?;
            self.map_run(&run);
            let inputs = it.inputs;
            let keep_inputs = m.result_writer.is_some();
            // how each child ended, by index; set once the tolerated failures are exceeded
            let mut ended: Vec<Option<Ended>> = vec![None; inputs.len()];
            let mut exceeded = false;
            let arn = run.arn.clone();
            let out = self.fan_out(inputs.len(), limits.max_concurrency, |r, i| {
                let input = inputs[i].clone();
                let value = if batched {
                    input.clone()
                } else {
                    it.items.get(i).cloned().unwrap_or(Value::Null)
                };
                // Child executions keep their own history, as on AWS; the journal sees it
                // between child_started and child_ended (or child_parked).
                let info = r.info.child(i);
                if let Some(j) = r.journal.as_deref_mut() {
                    let items = match batched {
                        true => input.get("Items").and_then(Value::as_array).map_or(0, Vec::len),
                        false => 1,
                    };
                    j.child_started(&arn, items, &info, &input)?;
                }
                let start = r.clock.now();
                let name = info.execution_name.clone();
                let (res, child_parked) = {
                    let mut child = Runner::new(info, &mut *r.clock, &mut *r.tasks);
                    child.deadline = r.deadline;
                    child.details = r.details;
                    child.token_prefix = r.token_prefix.as_ref().map(|p| format!("{p}-c{i}"));
                    (child.concurrent, child.reach) = (r.concurrent, r.reach);
                    if let Some(j) = r.journal.as_deref_mut() {
                        child.journal = Some(j);
                    }
                    let mut inner = vars.clone();
                    let res = child.run_machine(
                        &m.processor,
                        input.clone(),
                        &input,
                        &mut inner,
                        Some(&(i, value)),
                    );
                    (res, child.fan_parked.take())
                };
                let kind = match res {
                    Err(Stop::Interrupted) => {
                        r.fan_parked = child_parked;
                        r.parked()
                    }
                    _ => Parked::No,
                };
                if let Some(j) = r.journal.as_deref_mut() {
                    match &res {
                        Ok(v) => j.child_ended(Ok(v))?,
                        Err(Stop::Failed(f)) => j.child_ended(Err(f))?,
                        Err(Stop::Interrupted) if kind != Parked::No => j.child_parked(),
                        Err(_) => {}
                    }
                }
                let result = match res {
                    Ok(v) => Ok(v),
                    Err(Stop::Failed(f)) => Err(f),
                    Err(stop) => {
                        if kind != Parked::No {
                            // how the child parked is how it parks for the fan-out
                            r.fan_parked = Some(kind);
                        }
                        return Err(stop);
                    }
                };
                let failed = result.is_err();
                // a child ends once: the slot of an ended child is not run again
                match failed {
                    true => run.failed += 1,
                    false => run.succeeded += 1,
                }
                ended[i] = Some(Ended {
                    name,
                    input: keep_inputs.then_some(input),
                    result,
                    start,
                    stop: r.clock.now(),
                });
                r.map_run(&run);
                if failed && limits.exceeded(run.failed, run.total) {
                    exceeded = true;
                    return Err(Stop::Failed(Failure::plain(
                        Some("States.ExceedToleratedFailureThreshold".into()),
                        Some("The specified tolerated failure threshold for the Map Run was exceeded.".into()),
                    )));
                }
                Ok(Value::Null)
            });
            let children: Vec<_> = ended
                .iter()
                .flatten()
                .filter_map(|e| {
                    let input = e.input.clone()?;
                    Some(child_record(
                        &run.arn,
                        e.name.clone(),
                        input,
                        e.result.clone(),
                        e.start,
                        e.stop,
                    ))
                })
                .collect();
            match out {
                Ok(_) => {}
                Err(Stop::Failed(f)) if exceeded => {
                    // the results so far are exported even though the run failed
                    self.export(state, m, raw, scope, &run.arn, &children)?;
                    return Err(self.fail_map_run(&mut run, f));
                }
                Err(stop) => return Err(stop),
            }
            let results: Vec<Value> = ended
                .into_iter()
                .flatten()
                .map(|e| match e.result {
                    Ok(v) => v,
                    Err(f) => json!({"Error": f.error, "Cause": f.cause}),
                })
                .collect();
            let exported = self.export(state, m, raw, scope, &run.arn, &children);
            let exported = match exported {
                Err(Stop::Failed(f)) => return Err(self.fail_map_run(&mut run, f)),
                other => other?,
            };
            run.status = "SUCCEEDED";
            self.map_run(&run);
            self.push("MapRunSucceeded", None, || Value::Null)?;
            self.push("MapStateSucceeded", None, || Value::Null)?;
            return Ok(match (exported, &m.result_writer) {
                (Some(location), _) => location,
                (None, Some(w)) => Value::Array(w.results(&children)),
                (None, None) => Value::Array(results),
            });
        } else {
            let mut inputs = it.inputs;
            // a concurrent branch may run twice in a segment (replay, then live)
            let concurrent = self.concurrent;
            let limit = limits.max_concurrency;
            self.fan_out(inputs.len(), limit, |r, i| {
                let input = match concurrent {
                    true => inputs[i].clone(),
                    false => std::mem::take(&mut inputs[i]),
                };
                let value = if batched {
                    input.clone()
                } else {
                    it.items.get(i).cloned().unwrap_or(Value::Null)
                };
                let name = state.name.clone();
                r.push(
                    "MapIterationStarted",
                    Some("mapIterationStartedEventDetails"),
                    || json!({"name": name, "index": i}),
                )?;
                let mut inner = vars.clone();
                let out = r.run_machine(
                    &m.processor,
                    input,
                    exec_input,
                    &mut inner,
                    Some(&(i, value)),
                );
                let name = state.name.clone();
                match out {
                    Ok(v) => {
                        r.push(
                            "MapIterationSucceeded",
                            Some("mapIterationSucceededEventDetails"),
                            || json!({"name": name, "index": i}),
                        )?;
                        Ok(v)
                    }
                    Err(Stop::Failed(f)) => {
                        r.push(
                            "MapIterationFailed",
                            Some("mapIterationFailedEventDetails"),
                            || json!({"name": name, "index": i}),
                        )?;
                        Err(Stop::Failed(f))
                    }
                    Err(stop) => Err(stop),
                }
            })?
        };
        self.push("MapStateSucceeded", None, || Value::Null)?;
        Ok(Value::Array(results))
    }

    /// Ends a map run as failed with `f`: its record, then `MapRunFailed` in the history.
    /// Returns how the Map stops.
    fn fail_map_run(&mut self, run: &mut MapRunProgress, f: Failure) -> Stop {
        run.status = "FAILED";
        self.map_run(run);
        let (e, c) = (f.error.clone(), f.cause.clone());
        match self.push(
            "MapRunFailed",
            Some("mapRunFailedEventDetails"),
            || json!({"error": e, "cause": c}),
        ) {
            Ok(_) => Stop::Failed(f),
            Err(stop) => stop,
        }
    }

    /// Writes a `ResultWriter` export of the map run's children; its location is the Map's
    /// result. `None` when the writer only shapes the results.
    fn export(
        &mut self,
        state: &State,
        m: &crate::definition::MapState,
        raw: &Value,
        scope: &Scope,
        map_run: &str,
        children: &[crate::states::result_writer::Child],
    ) -> Result<Option<Value>, Stop> {
        let Some(w) = m.result_writer.as_ref().filter(|w| w.exports()) else {
            return Ok(None);
        };
        let parameters = states::map::s3_arguments(state, w.parameters.as_ref(), raw, scope)?;
        let export = w.export(map_run, &parameters, children)?;
        let call = WriteCall {
            state: &state.name,
            export: &export,
        };
        self.tasks.write_results(&call)??;
        Ok(Some(export.output))
    }
}

/// A finished child of the map run `map_run` (`arn:...:mapRun:<machine>/<label>:<id>`), as a
/// `ResultWriter` describes it.
fn child_record(
    map_run: &str,
    name: String,
    input: Value,
    result: Result<Value, Failure>,
    start: DateTime<Utc>,
    stop: DateTime<Utc>,
) -> crate::states::result_writer::Child {
    let (prefix, rest) = map_run.split_once(":mapRun:").unwrap_or((map_run, ""));
    let machine = rest.rsplit_once(':').map_or(rest, |(m, _)| m);
    crate::states::result_writer::Child {
        execution_arn: format!("{prefix}:execution:{machine}:{name}"),
        state_machine_arn: format!("{prefix}:stateMachine:{machine}"),
        name,
        input,
        result,
        start,
        stop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::MachineType;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// What a durable executor does with branches, and nothing more: a task without an answer
    /// waits, a branch under [`Reach::Stored`] parks at its first event (nothing is stored),
    /// and one under [`Reach::Now`] parks at any timer.
    struct Parking {
        answers: HashMap<String, Value>,
        asked: Vec<String>,
        reach: HashMap<String, Reach>,
        path: String,
        parked: Parked,
        now: DateTime<Utc>,
    }

    struct View<'a>(&'a RefCell<Parking>);

    impl Parking {
        fn reach(&self) -> Reach {
            self.reach.get(&self.path).copied().unwrap_or(Reach::Free)
        }
        fn park(&mut self, how: Parked) -> Interrupt {
            self.parked = how;
            Interrupt
        }
    }

    impl Journal for View<'_> {
        fn recorded(&mut self, _: HistoryEvent) -> Result<(), Interrupt> {
            let mut s = self.0.borrow_mut();
            match s.reach() {
                Reach::Stored => Err(s.park(Parked::Waiting)),
                _ => Ok(()),
            }
        }
        fn enter(&mut self, path: &str, at: DateTime<Utc>, reach: Reach) {
            let mut s = self.0.borrow_mut();
            let reach = reach.min(s.reach());
            s.reach.insert(path.to_string(), reach);
            (s.path, s.now) = (path.to_string(), at);
        }
        fn resume(&mut self, path: &str, at: DateTime<Utc>) {
            let mut s = self.0.borrow_mut();
            (s.path, s.now) = (path.to_string(), at);
        }
        fn parked(&self) -> Parked {
            self.0.borrow().parked
        }
    }

    impl Clock for View<'_> {
        fn now(&self) -> DateTime<Utc> {
            self.0.borrow().now
        }
        fn sleep_until(&mut self, t: DateTime<Utc>) -> Result<(), Interrupt> {
            let mut s = self.0.borrow_mut();
            if s.reach() == Reach::Now {
                return Err(s.park(Parked::Yielded));
            }
            s.now = s.now.max(t);
            Ok(())
        }
    }

    impl TaskHandler for View<'_> {
        fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
            let mut s = self.0.borrow_mut();
            let key = format!("{}{}", call.state, call.parameters);
            if let Some(v) = s.answers.get(&key) {
                return TaskOutcome::Success(v.clone());
            }
            s.asked.push(key);
            s.park(Parked::Waiting);
            TaskOutcome::Suspend
        }
    }

    /// Runs `definition` once; returns its status and the tasks that were asked and left waiting.
    fn run(
        definition: Value,
        concurrent: bool,
        answers: &[(&str, Value)],
    ) -> (Status, Value, Vec<String>) {
        let sm = StateMachine::parse(&definition.to_string()).expect("a valid test machine");
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let state = RefCell::new(Parking {
            answers: answers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            asked: Vec::new(),
            reach: HashMap::new(),
            path: String::new(),
            parked: Parked::No,
            now,
        });
        let info = ExecutionInfo {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            state_machine_name: "m".into(),
            execution_name: "e".into(),
            machine_type: MachineType::Standard,
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            start_time: now,
            redrive_count: 0,
            seed: 7,
            parent: None,
        };
        let (mut clock, mut tasks, mut journal) = (View(&state), View(&state), View(&state));
        let r = Runner::new(info, &mut clock, &mut tasks)
            .with_journal(&mut journal)
            .with_concurrent_branches(concurrent)
            .run(&sm, json!({}));
        let asked = state.into_inner().asked;
        (r.status, r.output.unwrap_or(json!(r.error)), asked)
    }

    fn task(name: &str) -> Value {
        json!({"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
               "Parameters": {"n": name}, "End": true})
    }

    fn parallel(branches: Vec<Value>) -> Value {
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": branches}}})
    }

    fn one(name: &str, state: Value) -> Value {
        json!({"StartAt": name, "States": {name: state}})
    }

    #[test]
    fn waiting_branches_let_the_others_start() {
        let m = parallel(vec![one("A", task("a")), one("B", task("b"))]);
        let (status, _, asked) = run(m.clone(), true, &[]);
        assert_eq!(status, Status::Interrupted);
        assert_eq!(asked, ["A{\"n\":\"a\"}", "B{\"n\":\"b\"}"]);
        // one after another, the second branch starts only once the first is answered
        let (_, _, asked) = run(m.clone(), false, &[]);
        assert_eq!(asked, ["A{\"n\":\"a\"}"]);
        let answers = [("A{\"n\":\"a\"}", json!(1)), ("B{\"n\":\"b\"}", json!(2))];
        let (status, out, _) = run(m, true, &answers);
        assert_eq!((status, out), (Status::Succeeded, json!([1, 2])));
    }

    #[test]
    fn max_concurrency_bounds_the_iterations_waiting() {
        // a Pass state gives the Map its items
        let map = |limit: u64| {
            json!({"StartAt": "Items", "States": {
                "Items": {"Type": "Pass", "Result": {"items": [0, 1, 2, 3]}, "Next": "M"},
                "M": {"Type": "Map", "End": true, "MaxConcurrency": limit, "ItemsPath": "$.items",
                    "ItemProcessor": {"StartAt": "T", "States": {"T": {
                        "Type": "Task", "Resource": "arn:aws:states:::http:invoke",
                        "Parameters": {"i.$": "$$.Map.Item.Index"}, "End": true}}}}}})
        };
        let (_, _, asked) = run(map(2), true, &[]);
        assert_eq!(asked, ["T{\"i\":0}", "T{\"i\":1}"]);
        let (_, _, asked) = run(map(0), true, &[]);
        assert_eq!(asked.len(), 4);
        // an answered iteration frees its slot for the next
        let (_, _, asked) = run(map(2), true, &[("T{\"i\":0}", json!(0))]);
        assert_eq!(asked, ["T{\"i\":1}", "T{\"i\":2}"]);
    }

    #[test]
    fn every_branch_starts_before_any_goes_on_past_a_wait() {
        let late_failure = json!({"StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 5, "Next": "F"},
            "F": {"Type": "Fail", "Error": "Late"}}});
        let m = parallel(vec![late_failure, one("A", task("a"))]);
        let (status, out, asked) = run(m, true, &[]);
        // the failure ended the fan-out, but only after the other branch had asked
        assert_eq!((status, out), (Status::Failed, json!("Late")));
        assert_eq!(asked, ["A{\"n\":\"a\"}"]);
    }
}
