//! Executions: start, run in durable segments, stop, describe, list, history.

use super::arn::{check_name, Arn, MachineRef, Scope};
use super::error::{Result, SfnError};
use super::model::{Answer, Execution, ExecutionSummary, StoredEvent, Token};
use super::replay::{Halt, Opening, State, View};
use super::{Sfn, Slot};
use crate::store::{put, Records, Scan, Write};
use asl::context::{ExecutionInfo, MachineType};
use asl::mock::MockTasks;
use asl::runner::{ExecutionResult, Runner, Status};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// AWS's limit on execution input and output.
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// A StartExecution request.
pub struct StartRequest<'a> {
    pub state_machine_arn: &'a str,
    pub name: Option<String>,
    pub input: Option<String>,
    pub trace_header: Option<String>,
    /// `name` is a UUID the caller made just now, which no execution can hold yet: it is not
    /// looked up, as a generated name is not.
    pub new_name: bool,
}

/// A started (or already running, same name and input) execution, not yet stored.
pub struct Started {
    pub execution: Execution,
    /// The caller gave the name: an execution may hold it already (see [`Sfn::existing`]).
    named: bool,
    definition: Option<Write>,
    /// The definition text the execution runs.
    source: String,
}

impl Started {
    /// What storing the execution writes.
    fn writes(self) -> Vec<Write> {
        let mut w: Vec<Write> = self.definition.into_iter().collect();
        w.push(put(&self.execution));
        w
    }
}

/// The result of a synchronous Express execution.
pub struct SyncResult {
    pub arn: String,
    pub machine_arn: String,
    pub name: String,
    pub start: DateTime<Utc>,
    pub stop: DateTime<Utc>,
    pub input: String,
    pub result: ExecutionResult,
}

pub fn check_input(input: Option<String>) -> Result<String> {
    let text = input.unwrap_or_else(|| "{}".into());
    if text.len() > MAX_PAYLOAD {
        return Err(SfnError::InvalidExecutionInput(format!(
            "Invalid State Machine Execution Input: 'the input is {} bytes, above the 262144-byte limit'",
            text.len()
        )));
    }
    if let Err(e) = serde_json::from_str::<Value>(&text) {
        return Err(SfnError::InvalidExecutionInput(format!(
            "Invalid State Machine Execution Input: '{e}'"
        )));
    }
    Ok(text)
}

fn terminal(status: &str) -> bool {
    status != "RUNNING"
}

impl Sfn {
    pub fn execution(&self, arn: &str) -> Result<Execution> {
        let a = Arn::parse(arn)?;
        if a.kind != "execution" && a.kind != "express" {
            return Err(SfnError::InvalidArn(format!("Invalid Arn: '{arn}'")));
        }
        self.store.load::<Execution>(arn)?.ok_or_else(|| {
            SfnError::ExecutionDoesNotExist(format!("Execution Does Not Exist: '{arn}'"))
        })
    }

    /// Checks and prepares a Standard execution; nothing is stored yet.
    pub fn prepare_start(&self, scope: &Scope, req: StartRequest) -> Result<Started> {
        let (arn_text, test_case) = match req.state_machine_arn.split_once('#') {
            Some((a, t)) => (a, Some(t.to_string())),
            None => (req.state_machine_arn, None),
        };
        if test_case.is_some() && self.config.mock_config.is_none() {
            return Err(SfnError::ValidationException(
                "A test case was given but the server has no mock file (start it with --mock-config FILE)".into(),
            ));
        }
        let resolved = self.resolve(arn_text)?;
        if resolved.machine.kind == "EXPRESS" {
            return Err(SfnError::StateMachineTypeNotSupported(
                "This operation is not supported by EXPRESS state machines here; use StartSyncExecution".into(),
            ));
        }
        let named = req.name.is_some() && !req.new_name;
        let name = req.name.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        check_name(&name, "Execution")?;
        let input = check_input(req.input)?;
        let machine = &resolved.machine;
        let a = Arn::parse(&machine.arn)?;
        let arn = a.base("execution", &format!("{}:{name}", machine.name));
        let (hash, definition) = self.definition_write(&resolved);
        let execution = Execution {
            arn,
            name,
            machine_arn: machine.arn.clone(),
            machine_name: machine.name.clone(),
            version_arn: resolved.version_arn,
            alias_arn: resolved.alias_arn,
            definition_hash: hash,
            role_arn: resolved.role_arn,
            region: scope.region.clone(),
            account: scope.account.clone(),
            status: "RUNNING".into(),
            input,
            output: None,
            error: None,
            cause: None,
            start: Utc::now(),
            stop: None,
            seed: rand::random(),
            token_prefix: format!("{:032x}", rand::random::<u128>()),
            redrive_count: 0,
            redrive_date: None,
            parent_token: None,
            started_by: None,
            test_case,
            trace_header: req.trace_header,
            map_run_arn: None,
            item_count: None,
            logging: super::logging::target(&machine.logging).map(|_| machine.logging.clone()),
            concurrent_branches: true,
        };
        Ok(Started {
            execution,
            named,
            definition,
            source: resolved.definition,
        })
    }

    /// The stored execution that holds `exec`'s name, if any: StartExecution is idempotent for
    /// a running execution with the same input, and refused with `ExecutionAlreadyExists` for
    /// any other.
    fn existing(&self, exec: &Execution) -> Result<Option<Execution>> {
        match self.store.load::<Execution>(&exec.arn)? {
            Some(e) if e.status == "RUNNING" && e.input == exec.input => Ok(Some(e)),
            Some(_) => Err(already_exists(&exec.arn)),
            None => Ok(None),
        }
    }

    pub async fn start_execution(
        self: &Arc<Self>,
        scope: &Scope,
        req: StartRequest<'_>,
    ) -> Result<Execution> {
        let started = self.prepare_start(scope, req)?;
        let execution = started.execution.clone();
        let named = started.named;
        let machine = self.machine_for_start(&execution.definition_hash, &started.source)?;
        let (ack, stored) = tokio::sync::oneshot::channel();
        let opening = Opening {
            hash: execution.definition_hash.clone(),
            machine,
            definition: started.definition,
            execution: started.execution,
            ack,
        };
        // on a multi-threaded runtime's worker, the first segment may run right here
        let inline = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if let Some(other) = self.open(execution.clone(), opening, inline, named) {
            // the same name is being started right now
            return other;
        }
        match stored.await {
            Ok(Ok(())) => Ok(execution),
            Ok(Err(e)) => Err(SfnError::InternalFailure(format!("storage error: {e}"))),
            Err(_) => Err(SfnError::InternalFailure(
                "the execution could not be started".into(),
            )),
        }
    }

    /// Runs a new execution's first segment, which stores it (see [`Opening`]). Answers instead
    /// when an execution of that name is being started already, or (`named`: the caller gave
    /// the name) is stored: the same one (same input, running) or `ExecutionAlreadyExists`.
    ///
    /// `inline`: the caller is a runtime worker, and the segment runs on it first. A segment
    /// that ends without an effect (a machine of Pass, Choice, Succeed and Fail states, a Map
    /// or Parallel of them) then costs StartExecution no hand-off to an executor thread and
    /// back, which on two cores was most of its CPU. One that would commit before its end or
    /// perform an effect is given up, nothing stored, and runs from the start on an executor
    /// thread as without `inline`.
    fn open(
        self: &Arc<Self>,
        exec: Execution,
        mut opening: Opening,
        inline: bool,
        named: bool,
    ) -> Option<Result<Execution>> {
        let flag = match self.claim(&exec, named) {
            Ok(flag) => flag,
            Err(answer) => return Some(*answer),
        };
        let arn = exec.arn.clone();
        if inline {
            let sm = opening.machine.clone();
            // a panic of the engine must not take the request's connection with it: the start
            // fails (its answer is dropped), as it does on an executor thread
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::store::on_worker(|| {
                    self.run_segment(exec.clone(), sm, Vec::new(), &flag, Some(opening), true)
                })
            }));
            match run {
                Ok(Ok(Some(given_up))) => opening = given_up,
                Err(_) => {
                    self.unclaim(&arn);
                    return None;
                }
                Ok(ended) => {
                    if let Err(e) = ended {
                        eprintln!("shoal: execution {arn}: {e}");
                    }
                    if self.segment_ended(&arn) {
                        let sfn = self.clone();
                        self.runtime
                            .spawn_blocking(move || sfn.run_segments(&arn, flag, None));
                    }
                    return None;
                }
            }
        }
        let sfn = self.clone();
        self.runtime
            .spawn_blocking(move || sfn.run_segments(&arn, flag, Some((exec, opening))));
        None
    }

    /// Claims the executor slot of a new execution's name, marked as starting, and gives its
    /// abort flag; or, when the name is taken, the answer to the start instead. An execution is
    /// stored only by whoever holds its name's slot.
    ///
    /// `named`: the caller gave the name, so an execution may hold it already. It is looked up
    /// with the lock held and no slot for the name, so none of this name can be stored
    /// meanwhile (a lookup and then a claim let one be stored, and end, in between).
    fn claim(
        &self,
        exec: &Execution,
        named: bool,
    ) -> std::result::Result<Arc<AtomicBool>, Box<Result<Execution>>> {
        let Ok(mut slots) = self.slots.lock() else {
            return Err(Box::new(Err(SfnError::InternalFailure(
                "the executor is unavailable".into(),
            ))));
        };
        if let Some(slot) = slots.get(&exec.arn) {
            return Err(Box::new(match &slot.starting {
                Some(e) if e.input == exec.input => Ok(e.clone()),
                Some(_) => Err(already_exists(&exec.arn)),
                // stored, and running a segment
                None => {
                    drop(slots);
                    (self.existing(exec)).and_then(|e| e.ok_or_else(|| already_exists(&exec.arn)))
                }
            }));
        }
        if named {
            if let Some(answer) = self.existing(exec).transpose() {
                return Err(Box::new(answer));
            }
        }
        let slot = Slot {
            starting: Some(exec.clone()),
            ..Slot::default()
        };
        let flag = slot.abort.clone();
        slots.insert(exec.arn.clone(), slot);
        Ok(flag)
    }

    /// Gives back a claimed name whose execution was not stored.
    fn unclaim(&self, arn: &str) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.remove(arn);
        }
    }

    /// A new execution is no longer starting: the next start of its name reads its record.
    fn started(&self, arn: &str) {
        if let Ok(mut slots) = self.slots.lock() {
            if let Some(s) = slots.get_mut(arn) {
                s.starting = None;
            }
        }
    }

    /// A new execution's first commit is durable: it is stored and running.
    pub(crate) fn opened(&self, exec: &Execution, hash: &str, machine: Arc<asl::StateMachine>) {
        self.stored_definition(hash, machine);
        self.started(&exec.arn);
    }

    /// Starts a child execution from a task (`states:startExecution[.sync[:2]]`), from an
    /// executor thread. Its name, unless given, comes from `token`, so a repeated start after a
    /// crash finds the same child.
    pub fn start_child(
        self: &Arc<Self>,
        parent: &Execution,
        params: &Value,
        token: &str,
        wait_token: Option<&str>,
    ) -> std::result::Result<Value, asl::runner::TaskOutcome> {
        let fail = |e: SfnError| asl::runner::TaskOutcome::Failure {
            error: format!("StepFunctions.{}", e.code()),
            cause: e.to_string(),
        };
        let machine = params
            .get("StateMachineArn")
            .and_then(Value::as_str)
            .unwrap_or("");
        let input = match params.get("Input") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => Some(asl::json::compact(v)),
        };
        let given = params.get("Name").and_then(Value::as_str);
        let name = given.map(String::from).unwrap_or_else(|| {
            // a UUID-shaped name from the token's hash: the same token, the same child
            let h = super::machines::definition_hash(token);
            let n = u128::from_str_radix(&h[..32], 16).unwrap_or_default();
            uuid::Uuid::from_u128(n).to_string()
        });
        let scope = Scope {
            region: parent.region.clone(),
            account: parent.account.clone(),
        };
        let mut started = self
            .prepare_start(
                &scope,
                StartRequest {
                    state_machine_arn: machine,
                    name: Some(name),
                    input,
                    trace_header: None,
                    new_name: false,
                },
            )
            .map_err(fail)?;
        let answer =
            |e: &Execution| json!({"ExecutionArn": e.arn, "StartDate": e.start.timestamp_millis()});
        started.execution.parent_token = wait_token.map(String::from);
        started.execution.started_by = Some(token.to_string());
        let e = started.execution.clone();
        // the name is given or made from the token: an execution may hold it already
        let flag = match self.claim(&e, true) {
            Ok(flag) => flag,
            Err(other) => {
                return match *other {
                    Err(SfnError::ExecutionAlreadyExists(m)) => {
                        self.own_child(&e, given.is_none(), wait_token, m)
                    }
                    // the start of a running execution's name and input answers that
                    // execution; a `.sync` task whose token it does not answer follows it
                    Ok(running) => match wait_token {
                        Some(wait) if running.parent_token.as_deref() != Some(wait) => {
                            self.follow(&running, wait).map(|()| running)
                        }
                        _ => Ok(running),
                    },
                    other => other,
                }
                .map(|e| answer(&e))
                .map_err(fail);
            }
        };
        let routing = self.status_routing(&e);
        let mut writes = started.writes();
        writes.extend(routing.writes());
        if let Err(err) = self.store.commit_wait(writes) {
            self.unclaim(&e.arn);
            return Err(fail(err.into()));
        }
        self.dispatch(routing.deliveries);
        self.started(&e.arn);
        let (sfn, arn) = (self.clone(), e.arn.clone());
        self.runtime
            .spawn_blocking(move || sfn.run_segments(&arn, flag, None));
        Ok(answer(&e))
    }

    /// The child that a task repeated after a crash started the first time, which may have
    /// ended since: it is the task's own when it records the task's token, or has a name made
    /// from it (children stored before they recorded it). A `.sync` task whose child ended
    /// gets the child's answer unless it has it already. Any other holder of the name is
    /// another execution, and the start is refused with `message`.
    fn own_child(
        self: &Arc<Self>,
        child: &Execution,
        token_name: bool,
        wait_token: Option<&str>,
        message: String,
    ) -> Result<Execution> {
        let refused = || SfnError::ExecutionAlreadyExists(message.clone());
        let Some(stored) = self.store.load::<Execution>(&child.arn)? else {
            return Err(refused());
        };
        let ours = match &stored.started_by {
            Some(by) => Some(by) == child.started_by.as_ref(),
            None => token_name && stored.input == child.input,
        };
        if !ours {
            return Err(refused());
        }
        if let (Some(token), true) = (wait_token, terminal(&stored.status)) {
            self.hand_over(token, &stored)?;
        }
        Ok(stored)
    }

    /// A `.sync` task follows a running child that another task, or a top-level start, made:
    /// its token records the child, so that a restart finds it again, and the child's end
    /// answers it.
    fn follow(self: &Arc<Self>, child: &Execution, token: &str) -> Result<()> {
        {
            let _change = crate::store::hold(&self.token_changes);
            let Some(mut row) = self.token(token)? else {
                return Ok(());
            };
            if row.follows.as_deref() != Some(child.arn.as_str()) {
                row.follows = Some(child.arn.clone());
                self.store.commit_wait(vec![put(&row)])?;
            }
        }
        self.await_child(token, &child.arn)
    }

    /// Registers a task that follows `child_arn` (its token recorded it), then answers it at
    /// once if the child has ended: an end committed before the registration missed it.
    pub(crate) fn await_child(self: &Arc<Self>, token: &str, child_arn: &str) -> Result<()> {
        if let Ok(mut followers) = self.followers.lock() {
            let tokens = followers.entry(child_arn.to_string()).or_default();
            if !tokens.iter().any(|t| t == token) {
                tokens.push(token.to_string());
            }
        }
        let Some(child) = self.store.load::<Execution>(child_arn)? else {
            return Ok(());
        };
        if terminal(&child.status) {
            if let Ok(mut followers) = self.followers.lock() {
                if let Some(tokens) = followers.get_mut(child_arn) {
                    tokens.retain(|t| t != token);
                    if tokens.is_empty() {
                        followers.remove(child_arn);
                    }
                }
            }
            self.hand_over(token, &child)?;
        }
        Ok(())
    }

    /// Answers a `.sync` task's token with its ended child, unless it has its answer already,
    /// and wakes the task's execution.
    fn hand_over(self: &Arc<Self>, token: &str, child: &Execution) -> Result<()> {
        let _change = crate::store::hold(&self.token_changes);
        if let Some(row) = self.child_answer(token, child)? {
            self.store.commit_wait(vec![put(&row)])?;
            self.wake(&row.execution_arn);
        }
        Ok(())
    }

    /// Runs (or re-runs) an execution's next segment on an executor thread, unless one runs
    /// already — then that one goes round again when it ends.
    pub fn wake(self: &Arc<Self>, arn: &str) {
        self.wake_with(arn, false)
    }

    fn wake_with(self: &Arc<Self>, arn: &str, abort: bool) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        if let Some(slot) = slots.get_mut(arn) {
            slot.dirty = true;
            if abort {
                slot.abort.store(true, Ordering::Relaxed);
            }
            return;
        }
        let slot = Slot::default();
        if abort {
            slot.abort.store(true, Ordering::Relaxed);
        }
        let flag = slot.abort.clone();
        slots.insert(arn.to_string(), slot);
        drop(slots);
        let sfn = self.clone();
        let arn = arn.to_string();
        self.runtime
            .spawn_blocking(move || sfn.run_segments(&arn, flag, None));
    }

    fn run_segments(
        self: &Arc<Self>,
        arn: &str,
        abort: Arc<AtomicBool>,
        mut first: Option<(Execution, Opening)>,
    ) {
        loop {
            let r = match first.take() {
                Some((exec, opening)) => {
                    let sm = opening.machine.clone();
                    self.run_segment(exec, sm, Vec::new(), &abort, Some(opening), false)
                        .map(|_| ())
                }
                None => self.segment(arn, &abort),
            };
            if let Err(e) = r {
                eprintln!("shoal: execution {arn}: {e}");
            }
            if !self.segment_ended(arn) {
                return;
            }
        }
    }

    /// After a segment: whether another must run (something happened to the execution while
    /// this one ran); if not, the execution leaves the running ones.
    fn segment_ended(&self, arn: &str) -> bool {
        let Ok(mut slots) = self.slots.lock() else {
            return false;
        };
        match slots.get_mut(arn) {
            Some(s) if s.dirty => {
                s.dirty = false;
                true
            }
            _ => {
                slots.remove(arn);
                false
            }
        }
    }

    fn mock_for(&self, exec: &Execution) -> Result<Option<MockTasks>> {
        match (&exec.test_case, &self.config.mock_config) {
            (Some(case), Some(text)) => MockTasks::from_str(text, case, Some(&exec.machine_name))
                .map(Some)
                .map_err(|e| SfnError::ValidationException(format!("mock file: {e}"))),
            _ => Ok(None),
        }
    }

    /// The stored history of an execution.
    pub fn stored_history(&self, arn: &str) -> Result<Vec<StoredEvent>> {
        let mut events = Vec::new();
        for (_, chunk) in self.store.history(arn)? {
            events.extend(decode_chunk(arn, &chunk)?);
        }
        Ok(events)
    }

    /// Up to `count` events of an execution's history from position `offset`, counted from
    /// the end when `reverse` (and then in that order): GetExecutionHistory's page. Only the
    /// chunks that hold them are decoded — a chunk's first event id says where it starts, the
    /// ids being positions from 1 — so that paging through a long history costs each page its
    /// own events, not the whole history's.
    pub fn history_page(
        &self,
        arn: &str,
        offset: usize,
        count: usize,
        reverse: bool,
    ) -> Result<Vec<StoredEvent>> {
        let chunks = self.store.history(arn)?;
        let Some((last_first, last_text)) = chunks.last() else {
            return Ok(Vec::new());
        };
        // counting from the end needs the last chunk's length; counting from the start does not
        let mut last = None;
        let (from, to) = match reverse {
            false => (offset, offset.saturating_add(count)),
            true => {
                let events = decode_chunk(arn, last_text)?;
                let total = (*last_first as usize).saturating_sub(1) + events.len();
                last = Some(events);
                let end = total.saturating_sub(offset);
                (end.saturating_sub(count), end)
            }
        };
        let mut page = Vec::with_capacity(count.min(1000));
        for (i, (first, text)) in chunks.iter().enumerate() {
            let start = (*first as usize).saturating_sub(1);
            let next = chunks
                .get(i + 1)
                .map(|(f, _)| (*f as usize).saturating_sub(1));
            if start >= to {
                break;
            }
            if next.is_some_and(|n| n <= from) {
                continue;
            }
            let events = match (next, last.take()) {
                (None, Some(events)) => events,
                (_, kept) => {
                    last = kept;
                    decode_chunk(arn, text)?
                }
            };
            let end = next.unwrap_or(start + events.len());
            let laid_out = end.checked_sub(start) == Some(events.len());
            if !laid_out || events.first().is_some_and(|e| e.id != *first) {
                // not laid out as written: read it whole
                let mut all = self.stored_history(arn)?;
                if reverse {
                    all.reverse();
                }
                return Ok(all.into_iter().skip(offset).take(count).collect());
            }
            let skip = from.saturating_sub(start);
            page.extend(
                events
                    .into_iter()
                    .skip(skip)
                    .take(to.min(end).saturating_sub(start + skip)),
            );
        }
        if reverse {
            page.reverse();
        }
        Ok(page)
    }

    /// One segment: replay the stored history, continue live until the execution ends or
    /// must wait, and persist what happened.
    fn segment(self: &Arc<Self>, arn: &str, abort: &Arc<AtomicBool>) -> Result<()> {
        let exec = self.execution(arn)?;
        // a distributed Map's children run inside their parent's segments
        if terminal(&exec.status) || exec.map_run_arn.is_some() {
            return Ok(());
        }
        let sm = self.machine_for_hash(&exec.definition_hash)?;
        let recorded = self.stored_history(arn)?;
        self.run_segment(exec, sm, recorded, abort, None, false)
            .map(|_| ())
    }

    /// Runs a segment of `exec` from its stored history `recorded`. `inline`: see
    /// [`Sfn::open`]; gives the opening back when the segment was given up.
    fn run_segment(
        self: &Arc<Self>,
        exec: Execution,
        sm: Arc<asl::StateMachine>,
        recorded: Vec<StoredEvent>,
        abort: &Arc<AtomicBool>,
        opening: Option<Opening>,
        inline: bool,
    ) -> Result<Option<Opening>> {
        let arn = exec.arn.clone();
        let arn = arn.as_str();
        let input: Value = serde_json::from_str(&exec.input).unwrap_or(Value::Null);
        let mock = match self.mock_for(&exec) {
            Ok(m) => m,
            Err(e) => {
                if let Some(o) = opening {
                    let _ = o.ack.send(Err(e.to_string()));
                }
                return Err(e);
            }
        };
        let info = ExecutionInfo {
            region: exec.region.clone(),
            account: exec.account.clone(),
            state_machine_name: exec.machine_name.clone(),
            execution_name: exec.name.clone(),
            machine_type: MachineType::Standard,
            role_arn: exec.role_arn.clone(),
            start_time: exec.start,
            redrive_count: exec.redrive_count,
            seed: exec.seed,
            parent: None,
        };
        let deadline = sm
            .timeout_seconds
            .map(|s| exec.start + chrono::Duration::seconds(s as i64));
        let state = RefCell::new(State::new(
            self,
            exec,
            recorded,
            mock,
            abort.clone(),
            opening,
            inline,
        ));
        let result = {
            let (mut clock, mut tasks, mut journal) = (View(&state), View(&state), View(&state));
            let prefix = super::replay::token_prefix(&state.borrow().exec);
            let concurrent = state.borrow().exec.concurrent_branches;
            Runner::new(info, &mut clock, &mut tasks)
                .with_journal(&mut journal)
                .with_history_details(true)
                .with_token_prefix(prefix)
                .with_concurrent_branches(concurrent)
                .run(&sm, input)
        };
        let mut state = state.into_inner();
        if state.offloaded {
            return Ok(state.take_opening());
        }
        let mut exec = state.root().clone();
        // the execution's own time: ahead of real time under the virtual clock
        let now = Utc::now().max(state.current);
        // A branch's park stores what was recorded before it, but branches run on after one
        // parks: a sibling's task may have ended since, and a replay that lacked its outcome
        // would take the task for one a crash cut short.
        let parked = result.status == Status::Interrupted
            && matches!(state.halt, None | Some(Halt::Timer(_) | Halt::Token { .. }));
        let stored = state.abort_children_of_failed_runs().and_then(|()| {
            if parked {
                state.store_pending(Vec::new())
            } else {
                Ok(())
            }
        });
        if let Err(e) = stored {
            self.arm(arn, now + chrono::Duration::seconds(1));
            return Err(SfnError::InternalFailure(e.to_string()));
        }
        let r = match result.status {
            Status::Succeeded | Status::Failed | Status::TimedOut => {
                exec.status = result.status.as_str().into();
                exec.output = result.output.as_ref().map(asl::json::compact);
                exec.error = result.error.clone();
                exec.cause = result.cause.clone();
                exec.stop = Some(now);
                self.finish(&mut state, exec)
            }
            Status::Interrupted => match state.halt.clone() {
                Some(Halt::Timer(at)) => {
                    self.arm(arn, at);
                    Ok(())
                }
                Some(Halt::Token { deadline: d }) => {
                    if let Some(dl) = deadline {
                        if now >= dl {
                            return self.close(&mut state, exec, "TIMED_OUT", "ExecutionTimedOut",
                                "executionTimedOutEventDetails",
                                json!({"error": "States.Timeout", "cause": "The execution timed out."})).map(|()| None);
                        }
                    }
                    let at = match (d, deadline) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    if let Some(at) = at {
                        self.arm(arn, at);
                    }
                    Ok(())
                }
                Some(Halt::Abort) => {
                    let details = self
                        .stops
                        .lock()
                        .ok()
                        .and_then(|mut s| s.remove(arn))
                        .unwrap_or_else(|| json!({}));
                    self.close(
                        &mut state,
                        exec,
                        "ABORTED",
                        "ExecutionAborted",
                        "executionAbortedEventDetails",
                        details,
                    )
                }
                Some(Halt::Diverged(why)) => self.close(
                    &mut state,
                    exec,
                    "FAILED",
                    "ExecutionFailed",
                    "executionFailedEventDetails",
                    json!({"error": "States.Runtime", "cause": format!("The execution could not be resumed: {why}")}),
                ),
                Some(Halt::Store(why)) => {
                    // try again shortly: the store may recover (a full disk freed, a lock released)
                    self.arm(arn, now + chrono::Duration::seconds(1));
                    Err(SfnError::InternalFailure(why))
                }
                None => Ok(()),
            },
        };
        if state.opening() {
            // every way out above commits; this only guards the start's answer
            let writes = state.pending_writes();
            state.commit(writes)?;
        }
        r.map(|()| None)
    }

    /// Ends an execution with an event the runner did not record (abort, timeout while
    /// waiting, a failed resume).
    fn close(
        self: &Arc<Self>,
        state: &mut State,
        mut exec: Execution,
        status: &str,
        kind: &'static str,
        key: &str,
        details: Value,
    ) -> Result<()> {
        let now = Utc::now().max(state.current);
        state.current = now;
        state.unwind(true)?;
        state.push_event(kind, key, details.clone());
        exec.status = status.into();
        exec.stop = Some(now);
        exec.error = details
            .get("error")
            .and_then(Value::as_str)
            .map(String::from);
        exec.cause = details
            .get("cause")
            .and_then(Value::as_str)
            .map(String::from);
        self.finish(state, exec)
    }

    /// Persists the final events and status, then tells whoever waits (a parent, the bus).
    fn finish(self: &Arc<Self>, state: &mut State, exec: Execution) -> Result<()> {
        state.unwind(false)?;
        let mut writes = state.pending_writes();
        writes.push(put(&exec));
        let routing = self.status_routing(&exec);
        writes.extend(routing.writes());
        // a `.sync` parent's answer is committed with the end, so no crash can lose it
        let (change, answered) = match &exec.parent_token {
            Some(token) => {
                let change = crate::store::hold(&self.token_changes);
                (Some(change), self.child_answer(token, &exec)?)
            }
            None => (None, None),
        };
        writes.extend(answered.iter().map(put));
        state.commit(writes)?;
        drop(change);
        self.dispatch(routing.deliveries);
        if let Some(row) = answered {
            self.wake(&row.execution_arn);
        }
        // tasks that follow it: each is answered after the end, which a restart finds
        let followers = (self.followers.lock().ok()).and_then(|mut f| f.remove(&exec.arn));
        for token in followers.unwrap_or_default() {
            self.hand_over(&token, &exec)?;
        }
        Ok(())
    }

    /// The answer that a `.sync` parent's task gets from its ended child: its token row, done,
    /// or none when the task has its answer already (a timeout) or is gone. Taken with
    /// `token_changes` held.
    fn child_answer(&self, token: &str, child: &Execution) -> Result<Option<Token>> {
        let Some(mut row) = self.token(token)? else {
            return Ok(None);
        };
        if row.answer.is_some() {
            return Ok(None);
        }
        let v2 = row.input == "sync:2";
        let mut out = json!({
            "ExecutionArn": child.arn,
            "Input": if v2 { serde_json::from_str(&child.input).unwrap_or(Value::Null) } else { json!(child.input) },
            "InputDetails": {"Included": true},
            "Name": child.name,
            "RedriveCount": child.redrive_count,
            "RedriveStatus": "NOT_REDRIVABLE",
            "StartDate": child.start.timestamp_millis(),
            "StateMachineArn": child.machine_arn,
            "Status": child.status,
            "StopDate": child.stop.map(|t| t.timestamp_millis()),
        });
        if let Some(o) = &child.output {
            out["Output"] = if v2 {
                serde_json::from_str(o).unwrap_or(Value::Null)
            } else {
                json!(o)
            };
            out["OutputDetails"] = json!({"Included": true});
        }
        let answer = match child.status.as_str() {
            "SUCCEEDED" => Answer::Success(out),
            "TIMED_OUT" => Answer::Failure {
                error: "States.Timeout".into(),
                cause: asl::json::compact(&out),
            },
            _ => {
                if let Some(e) = &child.error {
                    out["Error"] = json!(e);
                }
                if let Some(c) = &child.cause {
                    out["Cause"] = json!(c);
                }
                Answer::Failure {
                    error: "States.TaskFailed".into(),
                    cause: asl::json::compact(&out),
                }
            }
        };
        row.status = "DONE".into();
        row.answer = Some(answer);
        Ok(Some(row))
    }

    /// Wakes the execution at `at` (a Wait, a retry, a task deadline).
    fn arm(self: &Arc<Self>, arn: &str, at: DateTime<Utc>) {
        let key = (arn.to_string(), at.timestamp_millis());
        if let Ok(mut t) = self.timers.lock() {
            if !t.insert(key.clone()) {
                return;
            }
        }
        let delay = (at - Utc::now()).to_std().unwrap_or_default();
        let sfn = self.clone();
        self.runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Ok(mut t) = sfn.timers.lock() {
                t.remove(&key);
            }
            sfn.wake(&key.0);
        });
    }

    /// Resumes every running execution (at server start).
    pub fn recover(self: &Arc<Self>) -> Result<usize> {
        let running = self.store.list::<Execution>(Scan {
            status: Some("RUNNING"),
            ..Default::default()
        })?;
        let roots: Vec<&Execution> = running.iter().filter(|e| e.map_run_arn.is_none()).collect();
        for e in &roots {
            self.wake(&e.arn);
        }
        Ok(roots.len())
    }

    pub async fn stop_execution(
        self: &Arc<Self>,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<DateTime<Utc>> {
        let exec = self.execution(arn)?;
        if terminal(&exec.status) {
            return Ok(exec.stop.unwrap_or_else(Utc::now));
        }
        let mut details = serde_json::Map::new();
        if let Some(e) = error {
            details.insert("error".into(), json!(e));
        }
        if let Some(c) = cause {
            details.insert("cause".into(), json!(c));
        }
        if let Ok(mut s) = self.stops.lock() {
            s.insert(arn.to_string(), Value::Object(details));
        }
        self.wake_with(arn, true);
        // AWS answers once the execution is stopped: wait for the segment to record it
        for _ in 0..2000 {
            let e = self.execution(arn)?;
            if terminal(&e.status) {
                return Ok(e.stop.unwrap_or_else(Utc::now));
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Ok(Utc::now())
    }

    /// RedriveExecution: a failed, aborted or timed-out Standard execution continues from the
    /// state that failed; see [`super::replay`] for how the failed attempt is re-run.
    pub async fn redrive_execution(self: &Arc<Self>, arn: &str) -> Result<Execution> {
        let _one_at_a_time = self.redrives.lock().await;
        let mut exec = self.execution(arn)?;
        if !matches!(exec.status.as_str(), "FAILED" | "ABORTED" | "TIMED_OUT") {
            return Err(SfnError::ExecutionNotRedrivable(format!(
                "Execution is {} and cannot be redriven",
                exec.status
            )));
        }
        if exec.parent_token.is_some() {
            return Err(SfnError::ExecutionNotRedrivable(
                "Execution was started by a parent execution with .sync and cannot be redriven on its own".into(),
            ));
        }
        let stop = exec.stop.unwrap_or(exec.start);
        if Utc::now() - stop > chrono::Duration::days(14) {
            return Err(SfnError::ExecutionNotRedrivable(
                "Execution stopped more than 14 days ago and cannot be redriven".into(),
            ));
        }
        let stored = self.stored_history(arn)?;
        let id = stored.len() as u64 + 1;
        let now = Utc::now();
        exec.redrive_count += 1;
        let event = json!([{
            "timestamp": now.timestamp_nanos_opt().unwrap_or(0),
            "type": "ExecutionRedriven",
            "id": id,
            "previousEventId": id - 1,
            "executionRedrivenEventDetails": {"redriveCount": exec.redrive_count},
        }]);
        exec.status = "RUNNING".into();
        exec.redrive_date = Some(now);
        exec.stop = None;
        exec.error = None;
        exec.cause = None;
        exec.output = None;
        let routing = self.status_routing(&exec);
        let mut writes = vec![
            Write::History {
                execution: arn.to_string(),
                first_id: id,
                events: event.to_string(),
            },
            put(&exec),
        ];
        writes.extend(routing.writes());
        self.store.commit(writes).done().await?;
        self.dispatch(routing.deliveries);
        self.wake(&exec.arn);
        Ok(exec)
    }

    /// ListExecutions of a machine, or of a version or alias (the executions started through
    /// it), newest first, optionally only those redriven (`Some(true)`) or not.
    pub fn list_executions(
        &self,
        machine: &str,
        status: Option<&str>,
        redriven: Option<bool>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<ExecutionSummary>> {
        let (owner, through) = match MachineRef::parse(machine)? {
            MachineRef::Machine(m) => (m, None),
            r => (r.machine().to_string(), Some(machine)),
        };
        self.machine(&owner)?;
        self.list_owned(&owner, through, status, redriven, offset, limit)
    }

    /// The executions of an owner (a machine or a map run), newest first; `through`: only those
    /// started through that version or alias. Filtered listings are paged after filtering
    /// (every execution of the owner is read then); the others by the store.
    pub(crate) fn list_owned(
        &self,
        owner: &str,
        through: Option<&str>,
        status: Option<&str>,
        redriven: Option<bool>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<ExecutionSummary>> {
        let keep = |e: &ExecutionSummary| {
            through.is_none_or(|t| {
                e.version_arn.as_deref() == Some(t) || e.alias_arn.as_deref() == Some(t)
            }) && redriven.is_none_or(|r| (e.redrive_count > 0) == r)
        };
        let filtered = through.is_some() || redriven.is_some();
        let list = self
            .store
            .list_summaries::<Execution, ExecutionSummary>(Scan {
                owner: Some(owner),
                status,
                descending: true,
                offset: if filtered { 0 } else { offset },
                limit: if filtered { 0 } else { limit },
                ..Default::default()
            })?;
        if !filtered {
            return Ok(list);
        }
        Ok(list
            .into_iter()
            .filter(keep)
            .skip(offset)
            .take(if limit == 0 { usize::MAX } else { limit })
            .collect())
    }

    /// Runs an Express execution in process, synchronously (StartSyncExecution).
    pub fn run_express(
        self: &Arc<Self>,
        scope: &Scope,
        machine_arn: &str,
        name: Option<String>,
        input: Option<String>,
    ) -> Result<SyncResult> {
        let (arn_text, test_case) = match machine_arn.split_once('#') {
            Some((a, t)) => (a, Some(t.to_string())),
            None => (machine_arn, None),
        };
        let resolved = self.resolve(arn_text)?;
        if resolved.machine.kind != "EXPRESS" {
            return Err(SfnError::StateMachineTypeNotSupported(
                "This operation is not supported by STANDARD StateMachine.".into(),
            ));
        }
        let name = name.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        check_name(&name, "Execution")?;
        let input_text = check_input(input)?;
        let sm = self.parsed(&resolved.definition)?;
        let start = Utc::now();
        let info = ExecutionInfo {
            region: scope.region.clone(),
            account: scope.account.clone(),
            state_machine_name: resolved.machine.name.clone(),
            execution_name: name.clone(),
            machine_type: MachineType::Express,
            role_arn: resolved.role_arn.clone(),
            start_time: start,
            redrive_count: 0,
            seed: rand::random(),
            parent: None,
        };
        let arn = info.execution_arn();
        let exec = Execution {
            arn: arn.clone(),
            name: name.clone(),
            machine_arn: resolved.machine.arn.clone(),
            machine_name: resolved.machine.name.clone(),
            version_arn: None,
            alias_arn: None,
            definition_hash: String::new(),
            role_arn: resolved.role_arn.clone(),
            region: scope.region.clone(),
            account: scope.account.clone(),
            status: "RUNNING".into(),
            input: input_text.clone(),
            output: None,
            error: None,
            cause: None,
            start,
            stop: None,
            seed: info.seed,
            token_prefix: String::new(),
            redrive_count: 0,
            redrive_date: None,
            parent_token: None,
            started_by: None,
            test_case,
            trace_header: None,
            map_run_arn: None,
            item_count: None,
            logging: super::logging::target(&resolved.machine.logging)
                .map(|_| resolved.machine.logging.clone()),
            concurrent_branches: false,
        };
        let mock = self.mock_for(&exec)?;
        let mut tasks = super::integrations::LiveTasks {
            sfn: self,
            exec: &exec,
            mock,
        };
        let mut clock = ScaledClock {
            scale: self.config.wait_scale,
            ahead: self.config.virtual_clock.then(chrono::Duration::zero),
        };
        let input: Value = serde_json::from_str(&input_text).unwrap_or(Value::Null);
        // details only when a log group will read them
        let result = Runner::new(info, &mut clock, &mut tasks)
            .with_history_details(exec.logging.is_some())
            .run(&sm, input);
        // an Express execution's only record: its machine's log group
        self.log_history(&exec, &result.history.events);
        Ok(SyncResult {
            arn,
            machine_arn: resolved.machine.arn,
            name,
            start,
            stop: asl::runner::Clock::now(&clock),
            input: input_text,
            result,
        })
    }
}

/// Real time for Express executions, with Waits scaled by `--wait-scale`, or under the virtual
/// clock real time plus the Waits skipped so far (`ahead`).
struct ScaledClock {
    scale: f64,
    ahead: Option<chrono::Duration>,
}

impl asl::runner::Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.ahead.unwrap_or_else(chrono::Duration::zero)
    }
    fn sleep_until(&mut self, t: DateTime<Utc>) -> std::result::Result<(), asl::runner::Interrupt> {
        let now = self.now();
        if let Some(ahead) = &mut self.ahead {
            *ahead += (t - now).max(chrono::Duration::zero());
        } else if let Ok(d) = (t - now).to_std() {
            std::thread::sleep(d.mul_f64(self.scale.max(0.0)));
        }
        Ok(())
    }
}

/// The answer to a start whose name an execution holds (other than a running one with the same
/// input).
fn already_exists(arn: &str) -> SfnError {
    SfnError::ExecutionAlreadyExists(format!("Execution Already Exists: '{arn}'"))
}

/// One stored history chunk's events.
fn decode_chunk(arn: &str, chunk: &str) -> Result<Vec<StoredEvent>> {
    serde_json::from_str(chunk)
        .map_err(|e| SfnError::InternalFailure(format!("the history of {arn} is unreadable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfn::testing::{race, PASS};

    /// A page read from the chunks that hold it is the page of the whole history, forward and
    /// in reverse, at every offset and size, across chunk boundaries.
    #[test]
    fn a_history_page_is_the_slice_of_the_whole_history() {
        let race = race(PASS);
        let arn = "arn:aws:states:us-east-1:123456789012:execution:race:paged";
        let event = |id: u64| StoredEvent {
            timestamp: Utc::now(),
            kind: "PassStateEntered".into(),
            id,
            previous_event_id: id - 1,
            branch: String::new(),
            details: serde_json::Map::new(),
        };
        let mut id = 1;
        for len in [3u64, 1, 5, 2] {
            let chunk: Vec<StoredEvent> = (id..id + len).map(event).collect();
            let w = Write::History {
                execution: arn.into(),
                first_id: id,
                events: serde_json::to_string(&chunk).unwrap(),
            };
            race.sfn.store.commit_wait(vec![w]).unwrap();
            id += len;
        }
        let ids = |v: Vec<StoredEvent>| v.iter().map(|e| e.id).collect::<Vec<_>>();
        let all = ids(race.sfn.stored_history(arn).unwrap());
        assert_eq!(all, (1..=11).collect::<Vec<_>>());
        for reverse in [false, true] {
            let mut order = all.clone();
            if reverse {
                order.reverse();
            }
            for offset in 0..13 {
                for count in 0..13 {
                    let want: Vec<u64> = order.iter().skip(offset).take(count).copied().collect();
                    let got = ids(race.sfn.history_page(arn, offset, count, reverse).unwrap());
                    assert_eq!(got, want, "offset {offset} count {count} reverse {reverse}");
                }
            }
        }
        assert!(race
            .sfn
            .history_page("no-such", 0, 5, false)
            .unwrap()
            .is_empty());
        race.end();
    }

    /// Many callers start the same names at once, on a runtime's workers as the API does.
    #[test]
    fn concurrent_starts_of_one_name_make_one_execution() {
        let race = race(PASS);
        for n in 0..300 {
            let name = format!("race-{n}");
            let starts: Vec<_> = (0..8).map(|_| race.start(&name, "{}")).collect();
            let mut started = Vec::new();
            for s in starts {
                match race.runtime.block_on(s).unwrap() {
                    Ok(e) => started.push(e.start),
                    Err(SfnError::ExecutionAlreadyExists(_)) => {}
                    Err(e) => panic!("{name}: {e}"),
                }
            }
            // every start that succeeded answered the one execution there is
            started.sort();
            started.dedup();
            assert_eq!(started.len(), 1, "{name}: {started:?}");
        }
        race.end();
    }

    /// A parent that waits an hour, for tasks to start children from.
    fn waiting_parent(race: &crate::sfn::testing::Race) -> Execution {
        let holder = race.machine(
            "holder",
            r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}"#,
        );
        let parent = race.start_of(&holder, "parent", "{}");
        race.runtime.block_on(parent).unwrap().unwrap()
    }

    /// Starts a child as `parent`'s task does, from an executor thread.
    fn start_child(
        race: &crate::sfn::testing::Race,
        parent: &Execution,
        params: &Value,
        token: &str,
        wait: Option<&str>,
    ) -> std::result::Result<Value, asl::runner::TaskOutcome> {
        let (sfn, parent, params) = (race.sfn.clone(), parent.clone(), params.clone());
        let (token, wait) = (token.to_string(), wait.map(String::from));
        let child = race
            .runtime
            .spawn_blocking(move || sfn.start_child(&parent, &params, &token, wait.as_deref()));
        race.runtime.block_on(child).unwrap()
    }

    /// Stores the token row of a `.sync` task of `parent` (`input` is `sync` or `sync:2`), as
    /// the task does before it starts its child.
    fn sync_task(race: &crate::sfn::testing::Race, parent: &Execution, token: &str, input: &str) {
        let row = Token {
            token: token.into(),
            execution_arn: parent.arn.clone(),
            child_arn: None,
            follows: None,
            kind: crate::sfn::model::TaskKind::Child,
            activity_arn: String::new(),
            status: "STARTED".into(),
            input: input.into(),
            worker: None,
            started: Utc::now(),
            timeout_at: None,
            heartbeat_seconds: None,
            last_beat: Utc::now(),
            answer: None,
        };
        race.sfn.store.commit_wait(vec![put(&row)]).unwrap();
    }

    /// A task repeated after a crash starts its child again, which may have ended meanwhile:
    /// the start answers that child (named after the token or given a name), where a start by
    /// another task is refused; a `.sync` task whose answer the crash lost gets it then.
    #[test]
    fn a_repeated_child_start_finds_its_own_ended_child() {
        let race = race(PASS);
        let parent = waiting_parent(&race);
        let start = |params: &Value, token: &str, wait: Option<&str>| {
            start_child(&race, &parent, params, token, wait)
        };
        let arn_of = |out: &Value| out["ExecutionArn"].as_str().unwrap().to_string();
        let unnamed = json!({"StateMachineArn": race.machine, "Input": {"k": 1}});
        let named = json!({"StateMachineArn": race.machine, "Name": "kid", "Input": {"k": 2}});
        for params in [&unnamed, &named] {
            let first = start(params, "tok-a", None).unwrap();
            assert_eq!(race.ended(&arn_of(&first)).status, "SUCCEEDED");
            let again = start(params, "tok-a", None).unwrap();
            assert_eq!(again, first, "{params}");
        }
        match start(&named, "tok-b", None) {
            Err(asl::runner::TaskOutcome::Failure { error, .. }) => {
                assert_eq!(error, "StepFunctions.ExecutionAlreadyExists")
            }
            other => panic!("another task's start of the name: {other:?}"),
        }

        // `.sync:2`: the child's end answers the task in the same commit
        sync_task(&race, &parent, "tok-s", "sync:2");
        let synced = json!({"StateMachineArn": race.machine, "Input": {"k": 3}});
        let first = start(&synced, "tok-s", Some("tok-s")).unwrap();
        assert_eq!(race.ended(&arn_of(&first)).status, "SUCCEEDED");
        let answer = || race.sfn.token("tok-s").unwrap().unwrap().answer;
        let want = Some(Answer::Success(json!({"k": 3})));
        let output = |a: Option<Answer>| match a {
            Some(Answer::Success(v)) => Some(Answer::Success(v["Output"].clone())),
            other => other,
        };
        assert_eq!(output(answer()), want);
        // the task's repeated start wrote its row again, without the answer
        sync_task(&race, &parent, "tok-s", "sync:2");
        let again = start(&synced, "tok-s", Some("tok-s")).unwrap();
        assert_eq!(again, first);
        assert_eq!(output(answer()), want);
        race.end();
    }

    /// Two `.sync` tasks start a child of one name and input: the second start is answered
    /// with the running child, and the child's end answers both tasks; a follower registered
    /// after the end (a restart) is answered at once.
    #[test]
    fn a_second_sync_start_of_a_running_child_follows_it_to_its_end() {
        let race = race(PASS);
        let parent = waiting_parent(&race);
        let slow = race.machine(
            "slow",
            r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"Next":"P"},"P":{"Type":"Pass","Parameters":{"got.$":"$.k"},"End":true}}}"#,
        );
        let params = json!({"StateMachineArn": slow, "Name": "shared", "Input": {"k": 7}});
        let start = |token: &str| start_child(&race, &parent, &params, token, Some(token)).unwrap();
        let answer = |token: &str| race.sfn.token(token).unwrap().unwrap().answer;
        sync_task(&race, &parent, "tok-first", "sync:2");
        sync_task(&race, &parent, "tok-second", "sync");
        let first = start("tok-first");
        let second = start("tok-second");
        assert_eq!(second["ExecutionArn"], first["ExecutionArn"]);
        assert_eq!(
            answer("tok-second"),
            None,
            "answered before the child ended"
        );
        let arn = first["ExecutionArn"].as_str().unwrap().to_string();
        assert_eq!(race.ended(&arn).status, "SUCCEEDED");
        let settled = |token: &str| {
            let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                match answer(token) {
                    Some(a) => return a,
                    None if std::time::Instant::now() > end => panic!("{token} was not answered"),
                    None => std::thread::sleep(std::time::Duration::from_millis(2)),
                }
            }
        };
        match settled("tok-first") {
            Answer::Success(v) => assert_eq!(v["Output"], json!({"got": 7})),
            other => panic!("{other:?}"),
        }
        match settled("tok-second") {
            Answer::Success(v) => assert_eq!(v["Output"], json!("{\"got\":7}")),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            race.sfn.token("tok-second").unwrap().unwrap().follows,
            Some(arn.clone())
        );
        // after a restart the follower's execution registers it again: the child has ended
        sync_task(&race, &parent, "tok-late", "sync:2");
        let sfn = race.sfn.clone();
        let late = race
            .runtime
            .spawn_blocking(move || sfn.await_child("tok-late", &arn));
        race.runtime.block_on(late).unwrap().unwrap();
        assert!(matches!(answer("tok-late"), Some(Answer::Success(_))));
        race.end();
    }

    /// Tasks start a child of one name at once, with top-level starts of it, each with its
    /// own input: one start may succeed, the others are told the name is taken.
    #[test]
    fn concurrent_child_starts_of_one_name_make_one_execution() {
        let race = race(PASS);
        let parent = (race.sfn)
            .prepare_start(
                &race.scope,
                StartRequest {
                    state_machine_arn: &race.machine,
                    name: None,
                    input: None,
                    trace_header: None,
                    new_name: false,
                },
            )
            .unwrap()
            .execution;
        for n in 0..200 {
            let name = format!("child-{n}");
            let children: Vec<_> = (0..4)
                .map(|k| {
                    let (sfn, parent) = (race.sfn.clone(), parent.clone());
                    let params =
                        json!({"StateMachineArn": race.machine, "Name": name, "Input": {"k": k}});
                    race.runtime.spawn_blocking(move || {
                        sfn.start_child(&parent, &params, &format!("token-{k}"), None)
                    })
                })
                .collect();
            let tops: Vec<_> = (4..8)
                .map(|k| race.start(&name, &format!("{{\"k\":{k}}}")))
                .collect();
            let mut ok = 0;
            for c in children {
                match race.runtime.block_on(c).unwrap() {
                    Ok(_) => ok += 1,
                    Err(asl::runner::TaskOutcome::Failure { error, .. }) => {
                        assert_eq!(error, "StepFunctions.ExecutionAlreadyExists", "{name}")
                    }
                    Err(other) => panic!("{name}: {other:?}"),
                }
            }
            for t in tops {
                match race.runtime.block_on(t).unwrap() {
                    Ok(_) => ok += 1,
                    Err(SfnError::ExecutionAlreadyExists(_)) => {}
                    Err(e) => panic!("{name}: {e}"),
                }
            }
            assert_eq!(ok, 1, "{name}: {ok} starts of differing inputs succeeded");
        }
        race.end();
    }

    /// Many callers redrive one failed execution at once: each redrive that succeeds is
    /// another one (its own redriveCount), and the execution counts them all.
    #[test]
    fn concurrent_redrives_of_one_execution_are_each_counted() {
        let race = race(r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E"}}}"#);
        let ended = |arn: &str| loop {
            let e = race.sfn.execution(arn).unwrap();
            if e.status != "RUNNING" && race.sfn.slots.lock().unwrap().get(arn).is_none() {
                return e;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        for n in 0..50 {
            let arn = (race
                .runtime
                .block_on(race.start(&format!("failed-{n}"), "{}")))
            .unwrap()
            .unwrap()
            .arn;
            assert_eq!(ended(&arn).status, "FAILED");
            let redrives: Vec<_> = (0..8)
                .map(|_| {
                    let (sfn, arn) = (race.sfn.clone(), arn.clone());
                    race.runtime
                        .spawn(async move { sfn.redrive_execution(&arn).await })
                })
                .collect();
            let mut counts = Vec::new();
            for r in redrives {
                match race.runtime.block_on(r).unwrap() {
                    Ok(e) => counts.push(e.redrive_count),
                    Err(SfnError::ExecutionNotRedrivable(_)) => {}
                    Err(e) => panic!("{arn}: {e}"),
                }
            }
            counts.sort();
            let answered = counts.len();
            counts.dedup();
            assert_eq!(counts.len(), answered, "{arn}: redriveCounts {counts:?}");
            assert_eq!(ended(&arn).redrive_count as usize, answered, "{arn}");
        }
        race.end();
    }

    /// A worker's heartbeats race its answer (a heartbeat thread beside the work, as activity
    /// workers have): the answer is kept, and the execution ends with it.
    #[test]
    fn heartbeats_at_once_with_the_answer_do_not_undo_it() {
        const ACTIVITY: &str = "arn:aws:states:us-east-1:123456789012:activity:work";
        let race = race(&format!(
            r#"{{"StartAt":"W","States":{{"W":{{"Type":"Task","Resource":"{ACTIVITY}","HeartbeatSeconds":600,"End":true}}}}}}"#
        ));
        (race.runtime)
            .block_on(race.sfn.create_activity(&race.scope, "work", Vec::new()))
            .unwrap();
        for n in 0..40 {
            let arn = (race
                .runtime
                .block_on(race.start(&format!("worked-{n}"), "{}")))
            .unwrap()
            .unwrap()
            .arn;
            let task = (race.runtime)
                .block_on(race.sfn.get_activity_task(ACTIVITY, None))
                .unwrap()
                .unwrap();
            let calls: Vec<_> = (0..5)
                .map(|k| {
                    let (sfn, token) = (race.sfn.clone(), task.token.clone());
                    race.runtime.spawn(async move {
                        if k == 2 {
                            sfn.send_task_success(&token, format!("{n}")).await
                        } else {
                            sfn.send_task_heartbeat(&token).await
                        }
                    })
                })
                .collect();
            for (k, c) in calls.into_iter().enumerate() {
                match race.runtime.block_on(c).unwrap() {
                    Ok(()) => {}
                    // a heartbeat after the answer: the task is over, as on AWS
                    Err(SfnError::TaskTimedOut(_)) if k != 2 => {}
                    Err(e) => panic!("{arn}: call {k}: {e}"),
                }
            }
            let e = race.ended(&arn);
            assert_eq!(e.status, "SUCCEEDED", "{arn}");
            assert_eq!(e.output.as_deref(), Some(format!("{n}").as_str()), "{arn}");
        }
        race.end();
    }
}
