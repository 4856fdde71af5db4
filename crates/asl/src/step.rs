//! One step of an execution as pure functions: what a state does with its input, what a task or
//! fan-out result turns into, and how a failure is recovered (retry, catch or fail).
//!
//! An executor — the in-process [`crate::runner`], or a durable one that persists each outcome
//! as history before acting on it — drives a state like this:
//!
//! 1. [`start`] the state: it is [`Outcome::Done`] at once (Pass, Choice, Succeed), waits
//!    ([`Outcome::WaitUntil`]), asks for a task ([`Outcome::Invoke`]) or for branches or items to
//!    run ([`Outcome::Branches`], [`Outcome::Iterations`]);
//! 2. hand the task's or fan-out's result to [`task_succeeded`] / [`fan_succeeded`];
//! 3. hand any failure to [`recover`], which answers [`Recovery::Retry`] after a delay,
//!    [`Recovery::Catch`] with the catcher's transition, or [`Recovery::Fail`].
//!
//! Nothing here sleeps, performs a task or records history.

use crate::definition::{Kind, QueryLanguage, State};
use crate::error::Failure;
use crate::io::{self, check_size, Finished, Output};
use crate::json::Scope;
use crate::retry::{self, Attempts};
use crate::states;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

/// Leaving a state: where to go (none at the end of a branch), the output, and the variables
/// to assign once the state is done.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition<'m> {
    pub next: Option<&'m str>,
    pub output: Output<'m>,
    pub assigned: Option<Map<String, Value>>,
}

/// A task to perform.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub resource: String,
    pub parameters: Value,
    pub timeout_seconds: Option<u64>,
    pub heartbeat_seconds: Option<u64>,
    /// `.waitForTaskToken`: the result arrives with SendTaskSuccess for the token.
    pub wait_for_task_token: bool,
}

/// The iterations of a Map state.
#[derive(Debug, Clone, PartialEq)]
pub struct Iterations {
    /// The items (for `$$.Map.Item.Value`).
    pub items: Vec<Value>,
    /// The input of each iteration (after `ItemSelector`; one per batch with an `ItemBatcher`).
    pub inputs: Vec<Value>,
    /// DISTRIBUTED: each input runs as a child execution.
    pub distributed: bool,
    /// The effective input the Map's own fields (limits) are read from.
    pub effective: Value,
}

/// What a state asks of its executor.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<'m> {
    Done(Transition<'m>),
    WaitUntil {
        until: DateTime<Utc>,
        then: Transition<'m>,
    },
    Invoke(Invocation),
    Branches {
        input: Value,
    },
    Iterations(Iterations),
    /// A distributed Map's `ItemReader` call: perform it, then hand its items to
    /// [`map_iterations`].
    ReadItems(ReadItems),
}

/// An `ItemReader` call with its fields evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadItems {
    pub resource: String,
    /// `Bucket` with `Key` (getObject) or `Prefix` (listObjectsV2).
    pub parameters: Value,
    pub max_items: Option<u64>,
}

/// Starts `state` with raw input `raw`. `scope.input` is `raw`; its context is the state's
/// context object (with `Task.Token` and `State.RetryCount` for tasks).
pub fn start<'m>(
    state: &'m State,
    raw: &Value,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Outcome<'m>, Failure> {
    let next = || state.next.as_deref();
    Ok(match &state.kind {
        Kind::Pass { result } => {
            let f = states::pass::run(state, result.as_ref(), raw, scope)?;
            Outcome::Done(transition(next(), f))
        }
        Kind::Succeed => Outcome::Done(Transition {
            next: None,
            output: Output::Ready(states::succeed::run(state, raw, scope)?),
            assigned: None,
        }),
        Kind::Fail { error, cause } => {
            return Err(states::fail::run(
                state,
                error.as_ref(),
                cause.as_ref(),
                scope,
            )?)
        }
        Kind::Choice { choices, default } => {
            let d = states::choice::run(state, choices, default.as_deref(), raw, scope)?;
            Outcome::Done(Transition {
                next: Some(d.next),
                output: Output::Ready(d.output),
                assigned: d.assigned,
            })
        }
        Kind::Wait(w) => {
            let until = states::wait::until(state, w, raw, scope, now)?;
            let f = states::wait::finish(state, raw, scope)?;
            Outcome::WaitUntil {
                until,
                then: transition(next(), f),
            }
        }
        Kind::Task(task) => Outcome::Invoke(Invocation {
            resource: task.resource.clone(),
            parameters: io::effective_input(state, scope)?,
            timeout_seconds: states::task::seconds(
                task.timeout_seconds.as_ref(),
                scope,
                "TimeoutSeconds",
            )?,
            heartbeat_seconds: states::task::seconds(
                task.heartbeat_seconds.as_ref(),
                scope,
                "HeartbeatSeconds",
            )?,
            wait_for_task_token: task.resource.ends_with(".waitForTaskToken"),
        }),
        Kind::Parallel { .. } => Outcome::Branches {
            input: io::effective_input(state, scope)?,
        },
        Kind::Map(m) => match &m.item_reader {
            Some(r) => Outcome::ReadItems(states::map::read_request(state, r, raw, scope)?),
            None => Outcome::Iterations(map_iterations(state, raw, scope, None)?),
        },
    })
}

/// A Map state's iterations: over its input's items, or over `read` (the items its
/// `ItemReader` returned).
pub fn map_iterations(
    state: &State,
    raw: &Value,
    scope: &Scope,
    read: Option<Vec<Value>>,
) -> Result<Iterations, Failure> {
    let Kind::Map(m) = &state.kind else {
        return Err(Failure::runtime(format!(
            "The state '{}' is not a Map",
            state.name
        )));
    };
    let plan = states::map::plan(state, m, raw, scope.context, scope, read)?;
    let mut inputs = Vec::with_capacity(plan.items.len());
    let mut ctx = scope.context.clone();
    for (i, item) in plan.items.iter().enumerate() {
        inputs.push(states::map::item_input(
            state, m, &plan, i, item, &mut ctx, scope,
        )?);
    }
    // With an ItemBatcher each iteration gets a batch: {"BatchInput": ..., "Items": [...]}.
    if let Some(b) = &m.item_batcher {
        inputs = states::map::batches(state, b, inputs, &plan.effective, scope)?;
    }
    Ok(Iterations {
        items: plan.items,
        inputs,
        distributed: m.distributed,
        effective: plan.effective,
    })
}

fn transition<'m>(next: Option<&'m str>, f: Finished<'m>) -> Transition<'m> {
    Transition {
        next,
        output: f.output,
        assigned: f.assigned,
    }
}

/// A task returned `result`: `ResultSelector`, `ResultPath`, `OutputPath`, `Assign` (or JSONata
/// `Output`/`Assign`) make the transition.
pub fn task_succeeded<'m>(
    state: &'m State,
    raw: &Value,
    result: Value,
    scope: &Scope,
) -> Result<Transition<'m>, Failure> {
    check_size(&state.name, &result)?;
    Ok(transition(
        state.next.as_deref(),
        io::finish(state, raw, result, scope)?,
    ))
}

/// Every branch or iteration finished with `results` (in order).
pub fn fan_succeeded<'m>(
    state: &'m State,
    raw: &Value,
    results: Vec<Value>,
    scope: &Scope,
) -> Result<Transition<'m>, Failure> {
    Ok(transition(
        state.next.as_deref(),
        io::finish(state, raw, Value::Array(results), scope)?,
    ))
}

/// A Map finished with `result`: its results (an array), or an export's location.
pub fn map_succeeded<'m>(
    state: &'m State,
    raw: &Value,
    result: Value,
    scope: &Scope,
) -> Result<Transition<'m>, Failure> {
    Ok(transition(
        state.next.as_deref(),
        io::finish(state, raw, result, scope)?,
    ))
}

/// What a failure leads to.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery<'m> {
    /// Run the state again after `delay`.
    Retry { delay: Duration },
    /// A catcher handles it: take this transition.
    Catch(Transition<'m>),
    /// Nothing handles it: the branch (or execution) fails.
    Fail(Failure),
}

/// Decides how `state` recovers from `failure`: the first matching retrier with attempts left
/// retries (`jitter` in `[0, 1)` scales FULL jitter), else the first matching catcher catches.
pub fn recover<'m>(
    state: &'m State,
    raw: &Value,
    failure: Failure,
    attempts: &mut Attempts,
    jitter: f64,
    scope: &Scope,
) -> Result<Recovery<'m>, Failure> {
    if let Some(delay) = retry::decide(&state.retry, failure.name(), attempts, jitter) {
        return Ok(Recovery::Retry { delay });
    }
    let Some(c) = retry::find_catcher(&state.catch, failure.name()) else {
        return Ok(Recovery::Fail(failure));
    };
    let error_output = json!({"Error": failure.error, "Cause": failure.cause});
    let (output, assigned) = match state.query_language {
        QueryLanguage::JsonPath => {
            let assigned = io::assign_with(
                &c.assign,
                QueryLanguage::JsonPath,
                &error_output,
                scope,
                None,
            )?;
            (
                io::result_path(&c.result_path, raw, error_output)?,
                assigned,
            )
        }
        QueryLanguage::Jsonata => {
            let states = io::states_binding(raw, scope.context, None, Some(&error_output));
            let assigned =
                io::assign_with(&c.assign, QueryLanguage::Jsonata, raw, scope, Some(&states))?;
            let output = match &c.output {
                Some(t) => t.eval(scope, Some(&states))?,
                None => error_output.clone(),
            };
            (output, assigned)
        }
    };
    Ok(Recovery::Catch(Transition {
        next: Some(c.next.as_str()),
        output: Output::Ready(output),
        assigned,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StateMachine;

    fn machine(v: Value) -> StateMachine {
        StateMachine::from_value(&v).expect("valid")
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn pass_is_done_at_once() {
        let sm = machine(
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "ResultPath": "$.r", "Next": "E"}, "E": {"Type": "Succeed"}}}),
        );
        let input = json!({"a": 0});
        let ctx = json!({});
        let scope = Scope::new(&input, &ctx);
        let Outcome::Done(t) = start(&sm.states["P"], &input, &scope, at()).unwrap() else {
            panic!("a Pass state is done at once")
        };
        assert_eq!(t.next, Some("E"));
        // with no Retry or Catch the ResultPath write is left to the executor, which owns the input
        assert!(t.output.ready().is_none());
        assert_eq!(
            t.output.resolve(input.clone(), &scope).unwrap(),
            json!({"a": 0, "r": 1})
        );
    }

    #[test]
    fn wait_asks_for_a_time() {
        let sm = machine(
            json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}}),
        );
        let input = json!({"s": 30});
        let ctx = json!({});
        let o = start(&sm.states["W"], &input, &Scope::new(&input, &ctx), at()).unwrap();
        assert_eq!(
            o,
            Outcome::WaitUntil {
                until: at() + Duration::seconds(30),
                then: Transition {
                    next: None,
                    output: Output::Ready(input.clone()),
                    assigned: None
                }
            }
        );
    }

    #[test]
    fn task_asks_for_an_invocation_then_retries_then_catches() {
        let sm = machine(json!({"StartAt": "T", "States": {
            "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Parameters": {"x.$": "$.x"}, "TimeoutSeconds": 60,
                  "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 1, "IntervalSeconds": 4}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "C"}], "End": true},
            "C": {"Type": "Succeed"}}}));
        let state = &sm.states["T"];
        let input = json!({"x": 1});
        let ctx = json!({});
        let scope = Scope::new(&input, &ctx);
        let o = start(state, &input, &scope, at()).unwrap();
        assert_eq!(
            o,
            Outcome::Invoke(Invocation {
                resource: "arn:aws:states:::lambda:invoke.waitForTaskToken".into(),
                parameters: json!({"x": 1}),
                timeout_seconds: Some(60),
                heartbeat_seconds: None,
                wait_for_task_token: true
            })
        );
        let mut attempts = Attempts::default();
        let fail = || Failure::plain(Some("E".into()), Some("boom".into()));
        assert_eq!(
            recover(state, &input, fail(), &mut attempts, 0.0, &scope).unwrap(),
            Recovery::Retry {
                delay: Duration::seconds(4)
            }
        );
        let caught = recover(state, &input, fail(), &mut attempts, 0.0, &scope).unwrap();
        assert_eq!(
            caught,
            Recovery::Catch(Transition {
                next: Some("C"),
                output: Output::Ready(json!({"x": 1, "err": {"Error": "E", "Cause": "boom"}})),
                assigned: None
            })
        );
        let done = task_succeeded(state, &input, json!({"ok": true}), &scope).unwrap();
        assert_eq!(done.output, Output::Ready(json!({"ok": true})));
    }

    #[test]
    fn map_lists_its_iterations() {
        let sm = machine(
            json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.xs", "ItemSelector": {"v.$": "$$.Map.Item.Value"},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}),
        );
        let input = json!({"xs": [1, 2]});
        let ctx = json!({});
        match start(&sm.states["M"], &input, &Scope::new(&input, &ctx), at()).unwrap() {
            Outcome::Iterations(it) => {
                assert_eq!(it.inputs, vec![json!({"v": 1}), json!({"v": 2})]);
                assert!(!it.distributed);
            }
            other => panic!("{other:?}"),
        }
    }
}
