//! Durable execution by replay. An execution runs in segments: each segment re-runs the
//! in-process [`asl::runner::Runner`] from the start, answering time and task results from the
//! stored history until the history ends, then continues live. New events are persisted before
//! every effect (a task call, a suspension), so the stored history always says what happened.
//!
//! Time is frozen between effects: the clock advances only when a sleep or a task returns, to
//! the real time live and to the next stored event's timestamp during replay. That makes a
//! replay compute exactly what the original run computed (Wait deadlines, context times).

use super::integrations::LocalTasks;
use super::integrations::{self, Integration};
use super::lanes::Lanes;
use super::model::{Answer, Execution, MapEffect, MapRun, StoredEvent, TaskKind, Token};
use super::Sfn;
use crate::store::{put, Record, Records, Scan, Write};
use asl::context::ExecutionInfo;
use asl::history::HistoryEvent;
use asl::mock::MockTasks;
use asl::runner::{
    Clock, Interrupt, Journal, MapRunProgress, Parked, Reach, ReadCall, TaskCall, TaskHandler,
    TaskOutcome, WriteCall,
};
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why a segment stopped before the execution finished.
#[derive(Debug, Clone)]
pub enum Halt {
    /// A Wait, a retry delay or the execution deadline: resume at this real time.
    Timer(DateTime<Utc>),
    /// A task waits for an answer (callback, activity, child execution); resume when it comes
    /// or at the deadline.
    Token { deadline: Option<DateTime<Utc>> },
    /// StopExecution asked for it.
    Abort,
    /// The replay did not reproduce the stored history.
    Diverged(String),
    /// The store failed; the segment is retried later.
    Store(String),
}

impl Halt {
    /// What two parked branches wait for together: the earlier time, or an answer to either.
    fn and(self, other: Halt) -> Halt {
        let earliest = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (self, other) {
            (Halt::Timer(a), Halt::Timer(b)) => Halt::Timer(a.min(b)),
            (Halt::Timer(t), Halt::Token { deadline })
            | (Halt::Token { deadline }, Halt::Timer(t)) => Halt::Token {
                deadline: earliest(deadline, Some(t)),
            },
            (Halt::Token { deadline: a }, Halt::Token { deadline: b }) => Halt::Token {
                deadline: earliest(a, b),
            },
            // only Timer and Token park; a halt that stopped the segment stays
            (stop @ (Halt::Abort | Halt::Diverged(_) | Halt::Store(_)), _) => stop,
            (_, other) => other,
        }
    }
}

/// The error a task fails with when the server stopped while it ran and its outcome is unknown.
pub const TASK_INTERRUPTED: &str = "Shoal.TaskInterrupted";

/// Most events a new execution runs before its first commit, so that StartExecution answers
/// promptly even when the machine computes for long before its first effect.
const OPENING_EVENTS: usize = 256;

/// A new execution's first segment. The execution is stored by the segment's first commit,
/// together with the events that ran before it, and StartExecution answers once that commit is
/// durable: an execution that ends before its first effect costs one commit.
pub struct Opening {
    /// The write that stores the execution's definition, when it is new.
    pub definition: Option<Write>,
    /// The execution as it starts: stored by the first commit, unless that commit stores a
    /// later state of it (a segment that ends the execution), which spares serialising it.
    pub execution: Execution,
    pub ack: tokio::sync::oneshot::Sender<Result<(), String>>,
    pub hash: String,
    pub machine: Arc<asl::StateMachine>,
}

pub struct State<'a> {
    pub sfn: &'a Arc<Sfn>,
    pub exec: Execution,
    /// The stored events the replay reproduces, branch by branch.
    lanes: Lanes,
    /// Events recorded live and not yet persisted.
    pub pending: Vec<HistoryEvent>,
    /// Events persisted so far.
    pub persisted: usize,
    pub current: DateTime<Utc>,
    /// Why the segment stopped; with parked branches, what they wait for together.
    pub halt: Option<Halt>,
    /// Whether the last interrupt parked a branch rather than stopping the segment.
    parked: Parked,
    /// The id in the history of the event recorded last.
    last_id: u64,
    /// Index of the event that started the current task (TaskStarted / ActivityScheduled).
    pub task_start: usize,
    /// Progress events of the current task (TaskSubmitted, ActivityStarted).
    pub progress: Vec<&'static str>,
    pub mock: Option<MockTasks>,
    /// Stored answers the mock has counted in this segment.
    mocked: std::collections::HashSet<(String, usize)>,
    pub abort: Arc<AtomicBool>,
    /// While a distributed Map's child runs, the frames of the executions around it (the
    /// fields above are the child's).
    pub parents: Vec<Frame>,
    /// Records to store with the next events (child executions, map runs).
    pub records: Vec<Write>,
    pub map_runs: Vec<MapRun>,
    /// A map run changed since the map runs were last written.
    map_runs_changed: bool,
    /// Set until a new execution's first commit.
    opening: Option<Opening>,
    /// The segment runs on a runtime worker (a new execution's first): it may commit only at
    /// its end and perform no effect, or it is offloaded.
    inline: bool,
    /// The inline segment came to a commit before its end or to an effect, and was given up
    /// there: nothing of it is stored, and it runs from the start on an executor thread. Once
    /// set, why the segment stopped (`halt`) no longer matters.
    pub offloaded: bool,
    /// Under the virtual clock: how far this execution's time runs ahead of real time (the
    /// Waits it skipped).
    ahead: Duration,
}

/// The per-execution part of a [`State`], set aside while a child execution runs.
pub struct Frame {
    exec: Execution,
    lanes: Lanes,
    pending: Vec<HistoryEvent>,
    persisted: usize,
    task_start: usize,
    progress: Vec<&'static str>,
}

impl<'a> State<'a> {
    pub fn new(
        sfn: &'a Arc<Sfn>,
        exec: Execution,
        stored: Vec<StoredEvent>,
        mock: Option<MockTasks>,
        abort: Arc<AtomicBool>,
        opening: Option<Opening>,
        inline: bool,
    ) -> State<'a> {
        let persisted = stored.len();
        let lanes = Lanes::new(replayable(stored), Reach::Free);
        let current = exec.start;
        State {
            sfn,
            exec,
            lanes,
            pending: Vec::new(),
            persisted,
            current,
            halt: None,
            parked: Parked::No,
            last_id: 0,
            task_start: 0,
            progress: Vec::new(),
            mock,
            mocked: Default::default(),
            abort,
            parents: Vec::new(),
            records: Vec::new(),
            map_runs: Vec::new(),
            map_runs_changed: false,
            opening,
            inline,
            offloaded: false,
            ahead: Duration::zero(),
        }
    }

    /// Commits and waits. A new execution's first commit stores the execution, so it also
    /// answers the StartExecution that waits for it.
    pub fn commit(&mut self, writes: Vec<Write>) -> Result<(), crate::store::StoreError> {
        // the execution record (and its definition) come first: later writes may replace it
        let (mut all, started) = match &mut self.opening {
            Some(o) => {
                let mut first: Vec<Write> = o.definition.take().into_iter().collect();
                let key = o.execution.key();
                let replaced = writes.iter().any(|w| {
                    matches!(w, Write::Put(r) if r.kind == <Execution as Record>::KIND && r.key == key)
                });
                if !replaced {
                    first.push(put(&o.execution));
                }
                (first, self.sfn.status_routing(self.root()))
            }
            None => Default::default(),
        };
        all.extend(writes);
        all.extend(started.writes());
        let r = self.sfn.store.commit_wait(all);
        if let Some(o) = self.opening.take() {
            if r.is_ok() {
                self.sfn.opened(self.root(), &o.hash, o.machine);
                self.sfn.dispatch(started.deliveries);
            }
            let _ = o
                .ack
                .send(r.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        }
        r
    }

    /// Whether the execution is new and not yet stored.
    pub fn opening(&self) -> bool {
        self.opening.is_some()
    }

    /// The opening of an offloaded segment, to run again elsewhere.
    pub fn take_opening(&mut self) -> Option<Opening> {
        self.opening.take()
    }

    /// Gives up an inline segment at a commit before its end or an effect: stops it as
    /// [`State::stop`] does.
    fn offload(&mut self) -> Interrupt {
        self.offloaded = true;
        self.parked = Parked::No;
        Interrupt
    }

    /// The writes that persist the pending events (of the children being run too) and records.
    pub fn pending_writes(&mut self) -> Vec<Write> {
        let mut writes = std::mem::take(&mut self.records);
        if std::mem::take(&mut self.map_runs_changed) {
            writes.extend(self.map_runs.iter().map(put));
        }
        for f in &mut self.parents {
            self.sfn.log_history(&f.exec, &f.pending);
            writes.extend(history_write(&f.exec.arn, &mut f.pending, &mut f.persisted));
        }
        self.sfn.log_history(&self.exec, &self.pending);
        writes.extend(history_write(
            &self.exec.arn,
            &mut self.pending,
            &mut self.persisted,
        ));
        writes
    }

    /// The execution this segment runs (a child's parent, while a child runs).
    pub fn root(&self) -> &Execution {
        self.parents.first().map_or(&self.exec, |f| &f.exec)
    }

    fn root_arn(&self) -> &str {
        &self.root().arn
    }

    /// Appends an event the runner does not record (a child's start and end, an abort).
    pub fn push_event(&mut self, kind: &'static str, key: &str, details: Value) {
        let id = (self.persisted + self.pending.len()) as u64 + 1;
        self.pending.push(HistoryEvent {
            timestamp: self.current,
            kind,
            id,
            previous_event_id: id - 1,
            details: Some([(key.to_string(), details)].into_iter().collect()),
            branch: String::new(),
        });
    }

    fn swap_frame(&mut self, f: Frame) -> Frame {
        Frame {
            exec: std::mem::replace(&mut self.exec, f.exec),
            lanes: std::mem::replace(&mut self.lanes, f.lanes),
            pending: std::mem::replace(&mut self.pending, f.pending),
            persisted: std::mem::replace(&mut self.persisted, f.persisted),
            task_start: std::mem::replace(&mut self.task_start, f.task_start),
            progress: std::mem::replace(&mut self.progress, f.progress),
        }
    }

    /// Runs a distributed Map's child: loads (or creates) its execution and makes it current.
    fn enter_child(
        &mut self,
        map_run: &str,
        items: usize,
        info: &asl::context::ExecutionInfo,
        input: &Value,
    ) -> Result<(), Interrupt> {
        let (prefix, rest) = map_run.split_once(":mapRun:").unwrap_or((map_run, ""));
        let qualified = rest.rsplit_once(':').map_or(rest, |(l, _)| l);
        let arn = format!("{prefix}:execution:{qualified}:{}", info.execution_name);
        let stored = self
            .sfn
            .store
            .load::<Execution>(&arn)
            .map_err(|e| e.to_string())
            .and_then(|e| match e {
                None => Ok(None),
                Some(e) => Ok(Some((
                    e,
                    self.sfn.stored_history(&arn).map_err(|e| e.to_string())?,
                ))),
            });
        let stored = match stored {
            Ok(s) => s,
            Err(why) => return Err(self.stop(Halt::Store(why))),
        };
        // a branch that may only replay neither starts a child nor redrives one
        let reach = self.lanes.reach();
        if stored.is_none() && reach == Reach::Stored {
            return Err(self.park(None));
        }
        let root = self.root();
        let root_redriven = root.redrive_date;
        let Some((mut exec, mut history)) = stored else {
            let exec = Execution {
                arn,
                name: info.execution_name.clone(),
                machine_arn: format!(
                    "{}/{}",
                    root.machine_arn,
                    qualified.rsplit_once('/').map_or(qualified, |(_, l)| l)
                ),
                machine_name: root.machine_name.clone(),
                version_arn: None,
                alias_arn: None,
                definition_hash: root.definition_hash.clone(),
                role_arn: root.role_arn.clone(),
                region: root.region.clone(),
                account: root.account.clone(),
                status: "RUNNING".into(),
                input: asl::json::compact(input),
                output: None,
                error: None,
                cause: None,
                start: self.current,
                stop: None,
                seed: info.seed,
                token_prefix: uuid::Uuid::new_v4().simple().to_string(),
                redrive_count: 0,
                redrive_date: None,
                parent_token: None,
                started_by: None,
                test_case: root.test_case.clone(),
                trace_header: None,
                map_run_arn: Some(map_run.to_string()),
                item_count: Some(items as u64),
                // a distributed Map's children log with their parent
                logging: root.logging.clone(),
                concurrent_branches: root.concurrent_branches,
            };
            let f = self.swap_frame(Frame::of(exec, Vec::new(), reach));
            self.parents.push(f);
            let details = json!({"input": asl::json::compact(input), "inputDetails": {"truncated": false}, "roleArn": self.exec.role_arn});
            self.push_event("ExecutionStarted", "executionStartedEventDetails", details);
            self.records.push(put(&self.exec));
            return Ok(());
        };
        let failed = matches!(exec.status.as_str(), "FAILED" | "ABORTED" | "TIMED_OUT");
        let redrive = failed && root_redriven.is_some_and(|r| exec.stop.is_some_and(|s| s <= r));
        if redrive && reach == Reach::Stored {
            return Err(self.park(None));
        }
        if redrive {
            // the parent was redriven: so is this failed child, from the state that failed
            exec.redrive_count += 1;
            exec.redrive_date = Some(self.current);
            exec.status = "RUNNING".into();
            (exec.stop, exec.error, exec.cause) = (None, None, None);
            let id = history.len() as u64 + 1;
            let details = json!({"redriveCount": exec.redrive_count});
            history.push(StoredEvent {
                timestamp: self.current,
                kind: "ExecutionRedriven".into(),
                id,
                previous_event_id: id - 1,
                branch: String::new(),
                details: [("executionRedrivenEventDetails".to_string(), details.clone())]
                    .into_iter()
                    .collect(),
            });
            let f = self.swap_frame(Frame::of(exec, history, reach));
            self.parents.push(f);
            // the event is in `recorded`'s source already; store it once
            self.persisted -= 1;
            self.push_event(
                "ExecutionRedriven",
                "executionRedrivenEventDetails",
                details,
            );
            self.records.push(put(&self.exec));
            return Ok(());
        }
        // a child that ended (aborted with its failed run, say) replays what it did and no more
        let reach = match exec.status.as_str() {
            "RUNNING" => reach,
            _ => Reach::Stored,
        };
        let f = self.swap_frame(Frame::of(exec, history, reach));
        self.parents.push(f);
        Ok(())
    }

    /// The current child ended: record its end (unless a replay found it ended already) and
    /// make its parent current again. A branch that may only replay leaves an end that is not
    /// stored to its live run, and parks.
    fn leave_child(&mut self, result: Result<&Value, &asl::Failure>) -> Result<(), Interrupt> {
        if self.exec.status == "RUNNING" && self.lanes.reach() == Reach::Stored {
            self.set_child_aside();
            return Err(self.park(None));
        }
        if self.exec.status == "RUNNING" {
            match result {
                Ok(v) => {
                    let out = asl::json::compact(v);
                    self.push_event(
                        "ExecutionSucceeded",
                        "executionSucceededEventDetails",
                        json!({"output": out, "outputDetails": {"truncated": false}}),
                    );
                    self.exec.status = "SUCCEEDED".into();
                    self.exec.output = Some(out);
                }
                Err(f) => {
                    self.push_event(
                        "ExecutionFailed",
                        "executionFailedEventDetails",
                        json!({"error": f.error, "cause": f.cause}),
                    );
                    self.exec.status = "FAILED".into();
                    (self.exec.error, self.exec.cause) = (f.error.clone(), f.cause.clone());
                }
            }
            self.exec.stop = Some(self.current);
            self.records.push(put(&self.exec));
        }
        self.set_child_aside();
        Ok(())
    }

    /// Makes the current child's parent current again; the child keeps its status (it may
    /// have parked, to go on in a later segment).
    fn set_child_aside(&mut self) {
        if let Some(f) = self.parents.pop() {
            let child = self.swap_frame(f);
            self.finish_frame(child);
        }
    }

    /// Keeps a finished child's unsaved events: they are stored with the parent's next write.
    fn finish_frame(&mut self, mut child: Frame) {
        self.sfn.log_history(&child.exec, &child.pending);
        self.records.extend(history_write(
            &child.exec.arn,
            &mut child.pending,
            &mut child.persisted,
        ));
    }

    /// Ends every child still running (the execution ended while children waited, or stopped,
    /// timed out or failed to resume): each is aborted, with its map run. `stopped` (an end the
    /// run did not reach) also looks for map runs this segment did not meet.
    pub fn unwind(&mut self, stopped: bool) -> Result<(), crate::store::StoreError> {
        while let Some(f) = self.parents.pop() {
            if self.exec.status == "RUNNING" {
                self.push_event(
                    "ExecutionAborted",
                    "executionAbortedEventDetails",
                    json!({}),
                );
                self.exec.status = "ABORTED".into();
                self.exec.stop = Some(self.current);
                self.records.push(put(&self.exec));
            }
            let child = self.swap_frame(f);
            self.finish_frame(child);
        }
        // runs and children not met in this segment: children waiting concurrently were set
        // aside, and a segment that stops early enters none
        if !stopped && self.map_runs.is_empty() {
            return Ok(());
        }
        let stored: Vec<MapRun> = self
            .sfn
            .store
            .list(Scan {
                owner: Some(&self.exec.arn),
                status: Some("RUNNING"),
                ..Default::default()
            })
            .unwrap_or_default();
        for r in stored {
            if !self.map_runs.iter().any(|m| m.arn == r.arn) {
                self.map_runs.push(r);
            }
        }
        let now = self.current;
        let mut aborted = Vec::new();
        for r in &mut self.map_runs {
            if r.status == "RUNNING" {
                r.status = "ABORTED".into();
                r.stop = Some(now);
                self.map_runs_changed = true;
                aborted.push(r.arn.clone());
            }
        }
        if !aborted.is_empty() {
            // the store must know every child this segment started or ended
            self.store_pending(Vec::new())?;
        }
        for run in aborted {
            self.abort_running_children(&run, now);
        }
        Ok(())
    }

    /// Aborts the children still running of the map runs that failed in this segment (past
    /// their tolerated failures), as AWS does when a Map Run fails, whether or not a Catch
    /// lets the execution go on.
    pub fn abort_children_of_failed_runs(&mut self) -> Result<(), crate::store::StoreError> {
        let failed: Vec<String> = (self.map_runs.iter())
            .filter(|r| r.status == "FAILED")
            .map(|r| r.arn.clone())
            .collect();
        if failed.is_empty() {
            return Ok(());
        }
        // the store must know every child this segment started or ended
        self.store_pending(Vec::new())?;
        for run in failed {
            self.abort_running_children(&run, self.current);
        }
        Ok(())
    }

    /// Stores what is pending (and `extra`): a new execution's first commit stores it even
    /// with nothing else to write.
    pub fn store_pending(&mut self, extra: Vec<Write>) -> Result<(), crate::store::StoreError> {
        let mut writes = self.pending_writes();
        writes.extend(extra);
        if writes.is_empty() && self.opening.is_none() {
            return Ok(());
        }
        self.commit(writes)
    }

    /// Ends each stored child of `run` still running with `ExecutionAborted` (to be stored with
    /// the next write).
    fn abort_running_children(&mut self, run: &str, now: DateTime<Utc>) {
        let running: Vec<Execution> = self
            .sfn
            .store
            .list(Scan {
                owner: Some(run),
                status: Some("RUNNING"),
                ..Default::default()
            })
            .unwrap_or_default();
        for mut child in running {
            let mut persisted = self.sfn.stored_history(&child.arn).map_or(0, |h| h.len());
            let id = persisted as u64 + 1;
            let mut aborted = vec![HistoryEvent {
                timestamp: now,
                kind: "ExecutionAborted",
                id,
                previous_event_id: id - 1,
                details: Some(
                    [("executionAbortedEventDetails".to_string(), json!({}))]
                        .into_iter()
                        .collect(),
                ),
                branch: String::new(),
            }];
            self.records
                .extend(history_write(&child.arn, &mut aborted, &mut persisted));
            child.status = "ABORTED".into();
            child.stop = Some(now);
            self.records.push(put(&child));
        }
    }

    fn map_run(&mut self, p: &MapRunProgress) {
        let now = self.current;
        let i = match self.map_runs.iter().position(|r| r.arn == p.arn) {
            Some(i) => i,
            None => {
                let r = match self.sfn.store.load::<MapRun>(&p.arn) {
                    Ok(Some(mut r)) => {
                        let redriven = self.root().redrive_date;
                        if r.status != "RUNNING"
                            && p.status == "RUNNING"
                            && redriven.is_some_and(|d| r.stop.is_some_and(|s| s <= d))
                        {
                            r.redrive_count += 1;
                            r.redrive_date = redriven;
                        }
                        r
                    }
                    _ => {
                        let label = p.arn.rsplit_once(':').map_or("", |(l, _)| l);
                        let label = label.rsplit_once('/').map_or("", |(_, l)| l);
                        MapRun {
                            arn: p.arn.clone(),
                            execution_arn: self.root_arn().to_string(),
                            machine_arn: format!("{}/{label}", self.root().machine_arn),
                            status: "RUNNING".into(),
                            start: now,
                            stop: None,
                            max_concurrency: p.max_concurrency,
                            tolerated_failure_count: p.tolerated_failure_count,
                            tolerated_failure_percentage: p.tolerated_failure_percentage,
                            total: 0,
                            succeeded: 0,
                            failed: 0,
                            redrive_count: 0,
                            redrive_date: None,
                        }
                    }
                };
                self.map_runs.push(r);
                self.map_runs.len() - 1
            }
        };
        let r = &mut self.map_runs[i];
        r.status = p.status.into();
        (r.total, r.succeeded, r.failed) = (p.total as u64, p.succeeded as u64, p.failed as u64);
        r.stop = (p.status != "RUNNING").then_some(now);
        self.map_runs_changed = true;
    }

    /// Persists pending events (and `extra`) before an effect.
    fn flush(&mut self, extra: Vec<Write>) -> Result<(), Interrupt> {
        if self.inline && self.opening.is_some() {
            return Err(self.offload());
        }
        self.store_pending(extra)
            .map_err(|e| self.stop(Halt::Store(e.to_string())))
    }

    /// Parks the current branch until `halt` (together with what the other parked branches
    /// wait for), or, without one, because it may only replay and its stored events ended.
    fn park(&mut self, halt: Option<Halt>) -> Interrupt {
        self.parked = Parked::Waiting;
        if let Some(h) = halt {
            self.halt = Some(match self.halt.take() {
                Some(other) => other.and(h),
                None => h,
            });
        }
        Interrupt
    }

    /// Parks the current branch at a due timer, to go on once its siblings did what they could
    /// at once (see [`Reach::Now`]).
    fn yield_now(&mut self) -> Interrupt {
        self.parked = Parked::Yielded;
        Interrupt
    }

    /// Stops the whole segment.
    fn stop(&mut self, halt: Halt) -> Interrupt {
        self.parked = Parked::No;
        self.halt = Some(halt);
        Interrupt
    }

    fn suspend(&mut self, halt: Halt, extra: Vec<Write>) -> TaskOutcome {
        if self.flush(extra).is_ok() {
            self.park(Some(halt));
        }
        TaskOutcome::Suspend
    }

    fn record(&mut self, mut e: HistoryEvent) -> Result<(), Interrupt> {
        if self.abort.load(Ordering::Relaxed) {
            return Err(self.stop(Halt::Abort));
        }
        let position = self.lanes.position();
        let kind = e.kind;
        if let Some(stored) = self.lanes.next() {
            if stored.kind != e.kind {
                let why = format!(
                    "event {} was {} in the stored history but {} on replay",
                    position + 1,
                    stored.kind,
                    e.kind
                );
                return Err(self.stop(Halt::Diverged(why)));
            }
            self.last_id = stored.id;
            self.lanes.advance();
        } else if self.lanes.reach() == Reach::Stored {
            return Err(self.park(None));
        } else {
            // ids continue the stored history (a redriven history holds events replay skips)
            e.id = (self.persisted + self.pending.len()) as u64 + 1;
            e.previous_event_id = e.id - 1;
            e.branch = self.lanes.path().to_string();
            self.last_id = e.id;
            self.lanes.recorded_live(&e);
            self.pending.push(e);
            if self.opening.is_some() && self.pending.len() >= OPENING_EVENTS {
                self.flush(Vec::new())?;
            }
        }
        match kind {
            "TaskStarted" | "ActivityScheduled" => {
                self.task_start = position;
                self.progress.clear();
            }
            "TaskSubmitted" | "ActivityStarted" => self.progress.push(kind),
            _ => {}
        }
        Ok(())
    }

    /// The execution's time after an effect: real time, or under the virtual clock real time
    /// plus the Waits it skipped; never before the time it had reached.
    fn live_now(&mut self) -> DateTime<Utc> {
        let real = Utc::now();
        if !self.sfn.config.virtual_clock {
            return real.max(self.current);
        }
        let now = real + self.ahead;
        if now < self.current {
            // resumed after a restart: the stored history is ahead of real time
            self.ahead = self.current - real;
            return self.current;
        }
        now
    }

    fn sleep_until(&mut self, t: DateTime<Utc>) -> Result<(), Interrupt> {
        if let Some(next) = self.lanes.next() {
            self.current = next.timestamp;
            return Ok(());
        }
        let reach = self.lanes.reach();
        if reach == Reach::Stored {
            return Err(self.park(None));
        }
        if self.sfn.config.virtual_clock {
            if reach == Reach::Now {
                return Err(self.yield_now());
            }
            let now = self.live_now();
            if t > now {
                self.ahead += t - now;
            }
            self.current = t.max(now);
            return Ok(());
        }
        let scale = self.sfn.config.wait_scale;
        let wait = (t - self.current).max(Duration::zero());
        let wake_at = self.current + scaled(wait, scale);
        let now = Utc::now();
        let left = wake_at - now;
        if reach == Reach::Now && left < Duration::milliseconds(5) {
            return Err(self.yield_now());
        }
        if wake_at <= now {
            self.current = now.max(self.current);
            return Ok(());
        }
        if left < Duration::milliseconds(5) {
            if self.inline {
                return Err(self.offload());
            }
            std::thread::sleep(left.to_std().unwrap_or_default());
            self.current = Utc::now();
            return Ok(());
        }
        self.flush(Vec::new())?;
        Err(self.park(Some(Halt::Timer(wake_at))))
    }

    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        if let Some(e) = self.lanes.next() {
            let e = e.clone();
            self.current = e.timestamp;
            let outcome = outcome_of(&e);
            let position = self.lanes.position();
            if let (Some(m), false) = (
                &mut self.mock,
                matches!(outcome, TaskOutcome::Progress { .. }),
            ) {
                // keeps the mock's per-state call count where the original run left it (once
                // per stored answer: a branch may replay twice in a segment)
                if self.mocked.insert((self.exec.arn.clone(), position)) {
                    m.invoke(call);
                }
            }
            return outcome;
        }
        if let Some(m) = &mut self.mock {
            // the answer's position: a later run of this branch replays it without counting
            self.mocked
                .insert((self.exec.arn.clone(), self.lanes.position()));
            let o = m.invoke(call);
            self.current = self.live_now();
            return o;
        }
        if self.lanes.reach() == Reach::Stored {
            self.park(None);
            return TaskOutcome::Suspend;
        }
        let started_before = self.task_start < self.lanes.loaded();
        let token_base = format!("{}-{}", token_prefix(&self.exec), self.task_start + 1);
        match integrations::classify(call.resource) {
            Integration::Activity => {
                let token = format!("{token_base}-a");
                match self.load_token(&token) {
                    Err(o) => o,
                    Ok(Some(row)) => self.await_token(row),
                    Ok(None) => {
                        let row = self.new_token(token, TaskKind::Activity, call);
                        let deadline = row.deadline();
                        let o = self.suspend(Halt::Token { deadline }, vec![put(&row)]);
                        self.sfn.activity_ready();
                        o
                    }
                }
            }
            Integration::Callback(base) => {
                let token = call.task_token.clone().unwrap_or(token_base);
                if !self.progress.contains(&"TaskSubmitted") {
                    if started_before {
                        return interrupted(call);
                    }
                    let row = self.new_token(token.clone(), TaskKind::Callback, call);
                    if self.flush(vec![put(&row)]).is_err() {
                        return TaskOutcome::Suspend;
                    }
                    let r = integrations::call(self.sfn, &self.exec, &base, call, Some(&token));
                    self.current = self.live_now();
                    return match r {
                        Ok(out) => submitted(call.resource, &out),
                        Err(f) => f,
                    };
                }
                match self.load_token(&token) {
                    Err(o) => o,
                    Ok(Some(row)) => self.await_token(row),
                    Ok(None) => interrupted(call),
                }
            }
            Integration::Child { wait, v2 } => {
                let token = format!("{token_base}-c");
                if !self.progress.contains(&"TaskSubmitted") {
                    // Starting the child is idempotent (its name comes from the token), so an
                    // interrupted start is simply repeated.
                    let mut extra = Vec::new();
                    if wait {
                        let mut row = self.new_token(token.clone(), TaskKind::Child, call);
                        row.input = if v2 { "sync:2" } else { "sync" }.into();
                        extra.push(put(&row));
                    }
                    if self.flush(extra).is_err() {
                        return TaskOutcome::Suspend;
                    }
                    let r = self.sfn.start_child(
                        &self.exec,
                        call.parameters,
                        &token,
                        wait.then_some(token.as_str()),
                    );
                    self.current = self.live_now();
                    return match r {
                        Ok(out) if wait => submitted(call.resource, &out),
                        Ok(out) => TaskOutcome::Success(out),
                        Err(f) => f,
                    };
                }
                match self.load_token(&token) {
                    Err(o) => o,
                    Ok(Some(row)) => self.await_token(row),
                    Ok(None) => interrupted(call),
                }
            }
            Integration::Direct => {
                if started_before {
                    return interrupted(call);
                }
                if self.flush(Vec::new()).is_err() {
                    return TaskOutcome::Suspend;
                }
                let r = integrations::call(self.sfn, &self.exec, call.resource, call, None);
                self.current = self.live_now();
                match r {
                    Ok(v) => TaskOutcome::Success(v),
                    Err(f) => f,
                }
            }
        }
    }

    /// A distributed Map's S3 effect, performed once: a replay answers with what the first
    /// run got (stored with the events after it) and performs it again only when nothing was
    /// stored — reads and exports are both safe to repeat.
    fn map_effect(
        &mut self,
        perform: impl FnOnce(&dyn LocalTasks) -> Result<Option<Vec<Value>>, asl::Failure>,
    ) -> Result<Result<Option<Vec<Value>>, asl::Failure>, Interrupt> {
        let key = format!("{}#{}", self.exec.arn, self.lanes.position());
        match self.sfn.store.load::<MapEffect>(&key) {
            Ok(Some(done)) => {
                return Ok(match done.failure {
                    Some((error, cause)) => Err(asl::Failure::plain(error, cause)),
                    None => Ok(done.items),
                })
            }
            Ok(None) if self.lanes.reach() == Reach::Stored => return Err(self.park(None)),
            Ok(None) => {}
            Err(e) => return Err(self.stop(Halt::Store(e.to_string()))),
        }
        if self.inline {
            return Err(self.offload());
        }
        let Some(local) = self.sfn.local_tasks() else {
            return Ok(Err(asl::Failure::plain(
                Some("States.Runtime".into()),
                Some("This server runs no S3 for the Map's ItemReader or ResultWriter".into()),
            )));
        };
        let r = perform(&*local);
        if self.lanes.next().is_none() {
            self.current = self.live_now();
        }
        self.records.push(put(&MapEffect {
            key,
            execution_arn: self.exec.arn.clone(),
            items: r.as_ref().ok().cloned().flatten(),
            failure: r.as_ref().err().map(|f| (f.error.clone(), f.cause.clone())),
        }));
        Ok(r)
    }

    fn new_token(&self, token: String, kind: TaskKind, call: &TaskCall) -> Token {
        let started = self.current;
        Token {
            token,
            // answers wake the execution a segment runs, a Map's child's parent included
            execution_arn: self.root_arn().to_string(),
            child_arn: (!self.parents.is_empty()).then(|| self.exec.arn.clone()),
            follows: None,
            kind,
            activity_arn: if kind == TaskKind::Activity {
                call.resource.to_string()
            } else {
                String::new()
            },
            status: if kind == TaskKind::Activity {
                "SCHEDULED".into()
            } else {
                "STARTED".into()
            },
            input: asl::json::compact(call.parameters),
            worker: None,
            started,
            timeout_at: call
                .timeout_seconds
                .map(|s| started + Duration::seconds(s as i64)),
            heartbeat_seconds: call.heartbeat_seconds,
            last_beat: started,
            answer: None,
        }
    }

    fn load_token(&mut self, token: &str) -> Result<Option<Token>, TaskOutcome> {
        match self.sfn.token(token) {
            Ok(t) => Ok(t),
            Err(e) => {
                self.stop(Halt::Store(e.to_string()));
                Err(TaskOutcome::Suspend)
            }
        }
    }

    /// A task waiting on a token: its answer, a timeout, or a suspension until one comes.
    ///
    /// A timeout is decided under the token lock, which the API holds from its read of a token
    /// to its write, on the token as it is then: an answer or a heartbeat may have come while
    /// this thread read it. Without the lock, a SendTaskSuccess at the deadline could be
    /// answered OK while the execution went on as timed out.
    fn await_token(&mut self, mut row: Token) -> TaskOutcome {
        if let (None, Some(child)) = (&row.answer, &row.follows) {
            // a task that follows another's child: registered again after a restart, and
            // answered here if the child ended meanwhile
            if let Err(e) = self.sfn.await_child(&row.token, child) {
                self.stop(Halt::Store(e.to_string()));
                return TaskOutcome::Suspend;
            }
            match self.load_token(&row.token) {
                Err(o) => return o,
                Ok(fresh) => row = fresh.unwrap_or(row),
            }
        }
        let now = Utc::now();
        if row.answer.is_none() && row.deadline().is_some_and(|d| now >= d) {
            let sfn = self.sfn;
            let _change = crate::store::hold(&sfn.token_changes);
            let row = match self.load_token(&row.token) {
                Err(o) => return o,
                Ok(fresh) => fresh.unwrap_or(row),
            };
            return self.settle(row, Utc::now());
        }
        self.settle(row, now)
    }

    /// What a token says at `now`. Past its deadline only under the token lock (see
    /// [`Self::await_token`]).
    fn settle(&mut self, mut row: Token, now: DateTime<Utc>) -> TaskOutcome {
        if row.kind == TaskKind::Activity
            && row.worker.is_some()
            && !self.progress.contains(&"ActivityStarted")
        {
            return TaskOutcome::Progress {
                kind: "ActivityStarted",
                details_key: "activityStartedEventDetails",
                details: json!({"workerName": row.worker}),
            };
        }
        if let Some(answer) = row.answer.clone() {
            self.current = self.live_now();
            return match answer {
                Answer::Success(v) => TaskOutcome::Success(v),
                Answer::Failure { error, cause } => TaskOutcome::Failure { error, cause },
                Answer::TimedOut => TaskOutcome::TimedOut,
                Answer::HeartbeatTimedOut => TaskOutcome::HeartbeatTimedOut,
            };
        }
        if let Some(d) = row.deadline() {
            if now >= d {
                let timed_out = row.timeout_at.is_some_and(|t| now >= t);
                let answer = if timed_out {
                    Answer::TimedOut
                } else {
                    Answer::HeartbeatTimedOut
                };
                row.status = "DONE".into();
                row.answer = Some(answer.clone());
                if self.flush(vec![put(&row)]).is_err() {
                    return TaskOutcome::Suspend;
                }
                self.current = now.max(self.current);
                return if timed_out {
                    TaskOutcome::TimedOut
                } else {
                    TaskOutcome::HeartbeatTimedOut
                };
            }
        }
        self.suspend(
            Halt::Token {
                deadline: row.deadline(),
            },
            Vec::new(),
        )
    }
}

impl Frame {
    /// A child execution's frame: a child's history starts and ends with events its runner
    /// does not record (`ExecutionStarted`, its end), so replay skips them.
    fn of(exec: Execution, stored: Vec<StoredEvent>, reach: Reach) -> Frame {
        let persisted = stored.len();
        let recorded: Vec<StoredEvent> = replayable(stored)
            .into_iter()
            .filter(|e| !e.kind.starts_with("Execution"))
            .collect();
        Frame {
            exec,
            lanes: Lanes::new(recorded, reach),
            pending: Vec::new(),
            persisted,
            task_start: 0,
            progress: Vec::new(),
        }
    }
}

/// The most events in one stored history chunk. A page of GetExecutionHistory decodes the
/// chunks that hold its events: one chunk of a long segment's 24,000 events, decoded for each
/// of 241 pages, took 6 s of CPU to page through.
const CHUNK_EVENTS: usize = 500;

/// The writes that append an execution's pending events, in chunks of at most
/// [`CHUNK_EVENTS`].
fn history_write(arn: &str, pending: &mut Vec<HistoryEvent>, persisted: &mut usize) -> Vec<Write> {
    let mut writes = Vec::new();
    for chunk in pending.chunks(CHUNK_EVENTS) {
        let first_id = *persisted as u64 + 1;
        let stored: Vec<Stored> = chunk.iter().map(Stored).collect();
        let events = serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into());
        *persisted += chunk.len();
        writes.push(Write::History {
            execution: arn.to_string(),
            first_id,
            events,
        });
    }
    pending.clear();
    writes
}

/// A history event written as [`StoredEvent`] reads it (integer timestamps).
struct Stored<'a>(&'a HistoryEvent);

impl serde::Serialize for Stored<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("timestamp", &e.timestamp.timestamp_nanos_opt().unwrap_or(0))?;
        m.serialize_entry("type", e.kind)?;
        m.serialize_entry("id", &e.id)?;
        m.serialize_entry("previousEventId", &e.previous_event_id)?;
        if !e.branch.is_empty() {
            m.serialize_entry("branch", &e.branch)?;
        }
        for (k, v) in e.details.iter().flatten() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// The prefix of this run's task tokens: a redrive gets fresh tokens, so the tasks it re-runs
/// never meet the answers of the attempt that failed.
pub fn token_prefix(exec: &Execution) -> String {
    format!("{}-r{}", exec.token_prefix, exec.redrive_count)
}

/// The events a replay must reproduce. For each redrive, the failed attempt is left out: in
/// each branch still running when the execution failed (see [`Epoch`]), from the entry of its
/// innermost state that never exited to the `ExecutionRedriven` event, and in the branches
/// around it from the first event so left out. The replay re-enters those states live while
/// everything before them (succeeded Map iterations and Parallel branches included) is
/// answered from history.
fn replayable(stored: Vec<StoredEvent>) -> Vec<StoredEvent> {
    if !stored.iter().any(|e| e.kind == "ExecutionRedriven") {
        return stored;
    }
    let mut keep = vec![true; stored.len()];
    let mut epoch = Epoch::default();
    let mut epoch_start = 0;
    for (i, e) in stored.iter().enumerate() {
        if e.kind == "ExecutionRedriven" {
            let from = epoch.failed_attempt(epoch_start.max(1));
            for (k, ev) in stored.iter().enumerate().take(i + 1) {
                if from.get(ev.branch.as_str()).is_some_and(|&f| k >= f) {
                    keep[k] = false;
                }
            }
            for (branch, f) in from {
                if let Some(o) = epoch.open.get_mut(&branch) {
                    o.retain(|&x| x < f);
                }
            }
            epoch_start = i + 1;
        } else {
            epoch.see(i, e);
        }
    }
    stored
        .into_iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect()
}

/// The states open in each branch of a history as it is read, and which fan-out state each
/// branch ran in.
#[derive(Default)]
struct Epoch {
    /// Per branch, the positions of the entries of its states that have not exited.
    open: std::collections::HashMap<String, Vec<usize>>,
    /// Per branch but the top level, the entry of the fan-out state it ran in.
    owner: std::collections::HashMap<String, usize>,
}

impl Epoch {
    fn see(&mut self, i: usize, e: &StoredEvent) {
        if !e.branch.is_empty() && !self.owner.contains_key(&e.branch) {
            // a branch's first event: its fan-out is its parent's innermost open state
            let entry = self
                .open
                .get(parent(&e.branch))
                .and_then(|o| o.last().copied());
            self.owner
                .insert(e.branch.clone(), entry.unwrap_or(usize::MAX));
        }
        if e.kind.ends_with("StateEntered") {
            self.open.entry(e.branch.clone()).or_default().push(i);
        } else if e.kind.ends_with("StateExited") {
            if let Some(o) = self.open.get_mut(&e.branch) {
                o.pop();
            }
        }
    }

    /// Whether `branch` was still running: its fan-out state has not exited, nor has any
    /// around it. (A branch of a fan-out that failed may have been left waiting.)
    fn running(&self, branch: &str) -> bool {
        if branch.is_empty() {
            return true;
        }
        let p = parent(branch);
        let owner = self.owner.get(branch).copied().unwrap_or(usize::MAX);
        self.open.get(p).is_some_and(|o| o.contains(&owner)) && self.running(p)
    }

    /// Where the failed attempt starts in each branch it touches: in a running branch with
    /// open states and no running branch with open states below it, at its innermost open
    /// entry; in the branches around those, at the earliest of theirs. With no open state
    /// anywhere, the top level's attempt starts at `otherwise`.
    fn failed_attempt(&self, otherwise: usize) -> std::collections::HashMap<String, usize> {
        let active: Vec<(&str, usize)> = self
            .open
            .iter()
            .filter(|(b, o)| !o.is_empty() && self.running(b))
            .filter_map(|(b, o)| o.last().map(|&l| (b.as_str(), l)))
            .collect();
        let innermost = active
            .iter()
            .filter(|(b, _)| !active.iter().any(|(d, _)| below(d, b)));
        let mut from = std::collections::HashMap::new();
        for &(b, start) in innermost {
            let mut branch = b;
            loop {
                let f = from.entry(branch.to_string()).or_insert(start);
                *f = (*f).min(start);
                if branch.is_empty() {
                    break;
                }
                branch = parent(branch);
            }
        }
        if from.is_empty() {
            from.insert(String::new(), otherwise);
        }
        from
    }
}

/// The branch a branch's fan-out ran in (`.0-1.2-0` → `.0-1`).
fn parent(branch: &str) -> &str {
    branch.rfind('.').map_or("", |i| &branch[..i])
}

/// Whether `inner` is a branch of a fan-out run in `outer`, at any depth.
fn below(inner: &str, outer: &str) -> bool {
    inner.len() > outer.len() && inner.starts_with(outer) && inner[outer.len()..].starts_with('.')
}

fn scaled(d: Duration, scale: f64) -> Duration {
    if scale == 1.0 {
        return d;
    }
    let ms = d.num_milliseconds() as f64 * scale;
    Duration::milliseconds(ms.round() as i64)
}

fn interrupted(call: &TaskCall) -> TaskOutcome {
    TaskOutcome::Failure {
        error: TASK_INTERRUPTED.into(),
        cause: format!(
            "The server stopped while the task '{}' ({}) was running, so its outcome is unknown. It was not run again; add a Retry on {TASK_INTERRUPTED} to run it again.",
            call.state, call.resource
        ),
    }
}

fn submitted(resource: &str, out: &Value) -> TaskOutcome {
    let (rtype, rname) = asl::states::task::resource_type(resource);
    TaskOutcome::Progress {
        kind: "TaskSubmitted",
        details_key: "taskSubmittedEventDetails",
        details: json!({"resourceType": rtype, "resource": rname,
            "output": asl::json::compact(out), "outputDetails": {"truncated": false}}),
    }
}

/// What a stored task event tells a replaying runner.
fn outcome_of(e: &StoredEvent) -> TaskOutcome {
    let d = e.detail().cloned().unwrap_or(Value::Null);
    let text = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    match e.kind.as_str() {
        "TaskSucceeded" | "ActivitySucceeded" => {
            TaskOutcome::Success(serde_json::from_str(&text("output")).unwrap_or(Value::Null))
        }
        "TaskFailed" | "ActivityFailed" => TaskOutcome::Failure {
            error: text("error"),
            cause: text("cause"),
        },
        "TaskTimedOut" | "ActivityTimedOut" => {
            if text("error") == "States.HeartbeatTimeout" {
                TaskOutcome::HeartbeatTimedOut
            } else {
                TaskOutcome::TimedOut
            }
        }
        "TaskSubmitted" => TaskOutcome::Progress {
            kind: "TaskSubmitted",
            details_key: "taskSubmittedEventDetails",
            details: d,
        },
        "ActivityStarted" => TaskOutcome::Progress {
            kind: "ActivityStarted",
            details_key: "activityStartedEventDetails",
            details: d,
        },
        // anything else means the replay diverged; the journal reports it on the next event
        _ => TaskOutcome::Failure {
            error: "States.Runtime".into(),
            cause: format!("unexpected stored event {} for a task", e.kind),
        },
    }
}

/// One view of the shared state per role the runner needs.
pub struct View<'r, 'a>(pub &'r RefCell<State<'a>>);

impl Journal for View<'_, '_> {
    fn recorded(&mut self, event: HistoryEvent) -> Result<(), Interrupt> {
        self.0.borrow_mut().record(event)
    }

    fn last_id(&self) -> Option<u64> {
        Some(self.0.borrow().last_id)
    }

    fn map_run(&mut self, run: &MapRunProgress) {
        self.0.borrow_mut().map_run(run)
    }

    fn child_started(
        &mut self,
        map_run: &str,
        items: usize,
        info: &ExecutionInfo,
        input: &Value,
    ) -> Result<(), Interrupt> {
        self.0.borrow_mut().enter_child(map_run, items, info, input)
    }

    fn child_ended(&mut self, result: Result<&Value, &asl::Failure>) -> Result<(), Interrupt> {
        self.0.borrow_mut().leave_child(result)
    }

    fn child_parked(&mut self) {
        self.0.borrow_mut().set_child_aside()
    }

    fn enter(&mut self, path: &str, at: DateTime<Utc>, reach: Reach) {
        let mut s = self.0.borrow_mut();
        if reach == Reach::Free && !s.records.is_empty() {
            // the branch ran before in this segment: the child executions it started must be
            // in the store when it meets them again (a failure halts the segment)
            let _ = s.flush(Vec::new());
        }
        s.lanes.enter(path, reach);
        s.current = at;
    }

    fn resume(&mut self, path: &str, at: DateTime<Utc>) {
        let mut s = self.0.borrow_mut();
        s.lanes.resume(path);
        s.current = at;
    }

    fn parked(&self) -> Parked {
        self.0.borrow().parked
    }
}

impl Clock for View<'_, '_> {
    fn now(&self) -> DateTime<Utc> {
        self.0.borrow().current
    }
    fn sleep_until(&mut self, t: DateTime<Utc>) -> Result<(), Interrupt> {
        self.0.borrow_mut().sleep_until(t)
    }
}

impl TaskHandler for View<'_, '_> {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        self.0.borrow_mut().invoke(call)
    }

    fn read_items(
        &mut self,
        call: &ReadCall,
    ) -> Result<Result<Vec<Value>, asl::Failure>, Interrupt> {
        self.0
            .borrow_mut()
            .map_effect(|local| local.read_items(call).map(Some))
            .map(|r| r.map(Option::unwrap_or_default))
    }

    fn write_results(&mut self, call: &WriteCall) -> Result<Result<(), asl::Failure>, Interrupt> {
        self.0
            .borrow_mut()
            .map_effect(|local| local.write_results(call.export).map(|_| None))
            .map(|r| r.map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A history from `(branch, type)` pairs.
    fn events(list: &[(&str, &str)]) -> Vec<StoredEvent> {
        list.iter()
            .enumerate()
            .map(|(i, (branch, kind))| StoredEvent {
                timestamp: DateTime::<Utc>::from_timestamp(i as i64, 0).unwrap_or_default(),
                kind: kind.to_string(),
                id: i as u64 + 1,
                previous_event_id: i as u64,
                branch: branch.to_string(),
                details: Default::default(),
            })
            .collect()
    }

    fn kept(list: &[(&str, &str)]) -> Vec<u64> {
        replayable(events(list)).iter().map(|e| e.id).collect()
    }

    #[test]
    fn a_redrive_reruns_the_failed_branch_and_keeps_the_succeeded_one() {
        let history = [
            ("", "ExecutionStarted"),     // 1
            ("", "ParallelStateEntered"), // 2
            ("", "ParallelStateStarted"), // 3
            (".0-0", "PassStateEntered"), // 4
            (".0-1", "TaskStateEntered"), // 5
            (".0-0", "PassStateExited"),  // 6
            (".0-1", "TaskFailed"),       // 7
            ("", "ParallelStateFailed"),  // 8
            ("", "ExecutionFailed"),      // 9
            ("", "ExecutionRedriven"),    // 10
        ];
        assert_eq!(kept(&history), vec![1, 2, 3, 4, 6]);
    }

    #[test]
    fn a_branch_left_waiting_by_a_failed_fan_out_does_not_move_the_cut() {
        let history = [
            ("", "ExecutionStarted"),     // 1
            ("", "ParallelStateEntered"), // 2
            ("", "ParallelStateStarted"), // 3
            (".0-0", "TaskStateEntered"), // 4: waits for a callback, then is left behind
            (".0-1", "FailStateEntered"), // 5
            ("", "ParallelStateFailed"),  // 6
            ("", "ParallelStateExited"),  // 7: caught
            ("", "PassStateEntered"),     // 8
            ("", "PassStateExited"),      // 9
            ("", "TaskStateEntered"),     // 10
            ("", "TaskFailed"),           // 11
            ("", "ExecutionFailed"),      // 12
            ("", "ExecutionRedriven"),    // 13
        ];
        assert_eq!(kept(&history), (1..=9).collect::<Vec<_>>());
    }

    #[test]
    fn nested_branches_cut_at_the_innermost_failure_only() {
        let history = [
            ("", "ExecutionStarted"),              // 1
            ("", "ParallelStateEntered"),          // 2
            (".0-0", "MapStateEntered"),           // 3
            (".0-0.0-0", "MapIterationStarted"),   // 4
            (".0-0.0-0", "PassStateEntered"),      // 5
            (".0-0.0-0", "PassStateExited"),       // 6
            (".0-0.0-0", "MapIterationSucceeded"), // 7
            (".0-0.0-1", "MapIterationStarted"),   // 8
            (".0-0.0-1", "TaskStateEntered"),      // 9
            (".0-1", "WaitStateEntered"),          // 10: a sibling still waiting at the failure
            (".0-0.0-1", "MapIterationFailed"),    // 11
            (".0-0", "MapStateFailed"),            // 12
            ("", "ParallelStateFailed"),           // 13
            ("", "ExecutionFailed"),               // 14
            ("", "ExecutionRedriven"),             // 15
        ];
        // the failed iteration from its failed state, the waiting sibling from its Wait
        assert_eq!(kept(&history), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn histories_without_branches_cut_as_before() {
        let history = [
            ("", "ExecutionStarted"),
            ("", "PassStateEntered"),
            ("", "PassStateExited"),
            ("", "TaskStateEntered"),
            ("", "TaskFailed"),
            ("", "ExecutionFailed"),
            ("", "ExecutionRedriven"),
        ];
        assert_eq!(kept(&history), vec![1, 2, 3]);
    }

    #[test]
    fn parked_branches_wait_together() {
        let (a, b) = (
            DateTime::<Utc>::from_timestamp(10, 0).unwrap_or_default(),
            DateTime::<Utc>::from_timestamp(20, 0).unwrap_or_default(),
        );
        assert!(matches!(Halt::Timer(b).and(Halt::Timer(a)), Halt::Timer(t) if t == a));
        let token = Halt::Token { deadline: None };
        assert!(matches!(token.and(Halt::Timer(b)), Halt::Token { deadline: Some(t) } if t == b));
        let token = Halt::Token { deadline: Some(b) };
        assert!(
            matches!(token.and(Halt::Token { deadline: Some(a) }), Halt::Token { deadline: Some(t) } if t == a)
        );
    }
}
