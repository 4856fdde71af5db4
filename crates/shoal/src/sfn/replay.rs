//! Durable execution by replay. An execution runs in segments: each segment re-runs the
//! in-process [`asl::runner::Runner`] from the start, answering time and task results from the
//! stored history until the history ends, then continues live. New events are persisted before
//! every effect (a task call, a suspension), so the stored history always says what happened.
//!
//! Time is frozen between effects: the clock advances only when a sleep or a task returns, to
//! the real time live and to the next stored event's timestamp during replay. That makes a
//! replay compute exactly what the original run computed (Wait deadlines, context times).

use super::integrations::{self, Integration};
use super::model::{Answer, Execution, StoredEvent, TaskKind, Token};
use super::Sfn;
use crate::store::{put, Write};
use asl::history::HistoryEvent;
use asl::mock::MockTasks;
use asl::runner::{Clock, Interrupt, Journal, TaskCall, TaskHandler, TaskOutcome};
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

/// The error a task fails with when the server stopped while it ran and its outcome is unknown.
pub const TASK_INTERRUPTED: &str = "Shoal.TaskInterrupted";

pub struct State<'a> {
    pub sfn: &'a Arc<Sfn>,
    pub exec: Execution,
    pub recorded: Vec<StoredEvent>,
    /// Events stored when the segment began.
    pub loaded: usize,
    /// Events recorded live and not yet persisted.
    pub pending: Vec<HistoryEvent>,
    /// Events persisted so far.
    pub persisted: usize,
    /// Events seen in this segment (replayed or live).
    pub cursor: usize,
    pub current: DateTime<Utc>,
    pub halt: Option<Halt>,
    /// Index of the event that started the current task (TaskStarted / ActivityScheduled).
    pub task_start: usize,
    /// Progress events of the current task (TaskSubmitted, ActivityStarted).
    pub progress: Vec<&'static str>,
    pub mock: Option<MockTasks>,
    pub abort: Arc<AtomicBool>,
}

impl<'a> State<'a> {
    pub fn new(
        sfn: &'a Arc<Sfn>,
        exec: Execution,
        stored: Vec<StoredEvent>,
        mock: Option<MockTasks>,
        abort: Arc<AtomicBool>,
    ) -> State<'a> {
        let persisted = stored.len();
        let recorded = replayable(stored);
        let n = recorded.len();
        let current = exec.start;
        State {
            sfn,
            exec,
            recorded,
            loaded: n,
            pending: Vec::new(),
            persisted,
            cursor: 0,
            current,
            halt: None,
            task_start: 0,
            progress: Vec::new(),
            mock,
            abort,
        }
    }

    /// The writes that persist the pending events.
    pub fn pending_writes(&mut self) -> Vec<Write> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let first_id = self.persisted as u64 + 1;
        let events = serde_json::to_string(&self.pending).unwrap_or_else(|_| "[]".into());
        self.persisted += self.pending.len();
        self.pending.clear();
        vec![Write::History {
            execution: self.exec.arn.clone(),
            first_id,
            events,
        }]
    }

    /// Persists pending events (and `extra`) before an effect.
    fn flush(&mut self, extra: Vec<Write>) -> Result<(), Interrupt> {
        let mut writes = self.pending_writes();
        writes.extend(extra);
        if writes.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.sfn.store.commit(writes).wait() {
            self.halt = Some(Halt::Store(e.to_string()));
            return Err(Interrupt);
        }
        Ok(())
    }

    fn suspend(&mut self, halt: Halt, extra: Vec<Write>) -> TaskOutcome {
        if self.flush(extra).is_ok() {
            self.halt = Some(halt);
        }
        TaskOutcome::Suspend
    }

    fn record(&mut self, e: &HistoryEvent) -> Result<(), Interrupt> {
        if self.abort.load(Ordering::Relaxed) {
            self.halt = Some(Halt::Abort);
            return Err(Interrupt);
        }
        if let Some(stored) = self.recorded.get(self.cursor) {
            if stored.kind != e.kind {
                self.halt = Some(Halt::Diverged(format!(
                    "event {} was {} in the stored history but {} on replay",
                    self.cursor + 1,
                    stored.kind,
                    e.kind
                )));
                return Err(Interrupt);
            }
        } else {
            // ids continue the stored history (a redriven history holds events replay skips)
            let mut e = e.clone();
            e.id = (self.persisted + self.pending.len()) as u64 + 1;
            e.previous_event_id = e.id - 1;
            self.pending.push(e);
        }
        match e.kind {
            "TaskStarted" | "ActivityScheduled" => {
                self.task_start = self.cursor;
                self.progress.clear();
            }
            "TaskSubmitted" | "ActivityStarted" => self.progress.push(e.kind),
            _ => {}
        }
        self.cursor += 1;
        Ok(())
    }

    fn sleep_until(&mut self, t: DateTime<Utc>) -> Result<(), Interrupt> {
        if let Some(next) = self.recorded.get(self.cursor) {
            self.current = next.timestamp;
            return Ok(());
        }
        let scale = self.sfn.config.wait_scale;
        let wait = (t - self.current).max(Duration::zero());
        let wake_at = self.current + scaled(wait, scale);
        let now = Utc::now();
        if wake_at <= now {
            self.current = now.max(self.current);
            return Ok(());
        }
        let left = wake_at - now;
        if left < Duration::milliseconds(5) {
            std::thread::sleep(left.to_std().unwrap_or_default());
            self.current = Utc::now();
            return Ok(());
        }
        self.flush(Vec::new())?;
        self.halt = Some(Halt::Timer(wake_at));
        Err(Interrupt)
    }

    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        if let Some(e) = self.recorded.get(self.cursor) {
            let e = e.clone();
            self.current = e.timestamp;
            let outcome = outcome_of(&e);
            if let (Some(m), false) = (
                &mut self.mock,
                matches!(outcome, TaskOutcome::Progress { .. }),
            ) {
                // keeps the mock's per-state call count where the original run left it
                m.invoke(call);
            }
            return outcome;
        }
        if let Some(m) = &mut self.mock {
            let o = m.invoke(call);
            self.current = Utc::now().max(self.current);
            return o;
        }
        let started_before = self.task_start < self.loaded;
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
                    self.current = Utc::now().max(self.current);
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
                    self.current = Utc::now().max(self.current);
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
                self.current = Utc::now().max(self.current);
                match r {
                    Ok(v) => TaskOutcome::Success(v),
                    Err(f) => f,
                }
            }
        }
    }

    fn new_token(&self, token: String, kind: TaskKind, call: &TaskCall) -> Token {
        let started = self.current;
        Token {
            token,
            execution_arn: self.exec.arn.clone(),
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
                self.halt = Some(Halt::Store(e.to_string()));
                Err(TaskOutcome::Suspend)
            }
        }
    }

    /// A task waiting on a token: its answer, a timeout, or a suspension until one comes.
    fn await_token(&mut self, mut row: Token) -> TaskOutcome {
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
        let now = Utc::now();
        if let Some(answer) = row.answer.clone() {
            self.current = now.max(self.current);
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

/// The prefix of this run's task tokens: a redrive gets fresh tokens, so the tasks it re-runs
/// never meet the answers of the attempt that failed.
pub fn token_prefix(exec: &Execution) -> String {
    format!("{}-r{}", exec.token_prefix, exec.redrive_count)
}

/// The events a replay must reproduce. For each redrive, the failed attempt — from the entry
/// of the innermost state that never exited to the `ExecutionRedriven` event — is left out, so
/// the replay re-enters that state live while everything before it (succeeded Map iterations
/// and Parallel branches included) is answered from history.
fn replayable(stored: Vec<StoredEvent>) -> Vec<StoredEvent> {
    if !stored.iter().any(|e| e.kind == "ExecutionRedriven") {
        return stored;
    }
    let mut keep = vec![true; stored.len()];
    let mut open: Vec<usize> = Vec::new();
    let mut epoch_start = 0;
    for (i, e) in stored.iter().enumerate() {
        if e.kind.ends_with("StateEntered") {
            open.push(i);
        } else if e.kind.ends_with("StateExited") {
            open.pop();
        } else if e.kind == "ExecutionRedriven" {
            // the previous epoch ended at its terminal event; drop its failed attempt
            let from = open.last().copied().unwrap_or(epoch_start.max(1));
            for k in keep.iter_mut().take(i + 1).skip(from) {
                *k = false;
            }
            open.retain(|&o| o < from);
            epoch_start = i + 1;
        }
    }
    stored
        .into_iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect()
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
    fn recorded(&mut self, event: &HistoryEvent) -> Result<(), Interrupt> {
        self.0.borrow_mut().record(event)
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
}
