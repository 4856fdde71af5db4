//! Testing one state on its own, as the TestState API does: run the state once with an input,
//! perform its task through a caller-supplied function (a real call or a mock), and report the
//! status, the next state and the data after each processing step (`inspectionData`).
//!
//! A state runs once: a failure that a retrier would retry is reported as `RETRIABLE` (with the
//! backoff), one a catcher handles as `CAUGHT_ERROR` (with the catcher's transition). Wait states
//! report their transition without waiting. Parallel and Map states, activities, `.sync` and
//! `.waitForTaskToken` are not tested this way (AWS's TestState does not test them either).

use crate::definition::{Kind, QueryLanguage, State, StateMachine};
use crate::error::{Diagnostic, Failure};
use crate::io;
use crate::json::{Scope, Variables};
use crate::retry::{self, Attempts};
use crate::states;
use crate::step::{self, Invocation, Outcome, Recovery, Transition};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// How the tested state ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStatus {
    Succeeded,
    Failed,
    Retriable,
    CaughtError,
}

impl TestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TestStatus::Succeeded => "SUCCEEDED",
            TestStatus::Failed => "FAILED",
            TestStatus::Retriable => "RETRIABLE",
            TestStatus::CaughtError => "CAUGHT_ERROR",
        }
    }
}

/// Which retrier or catcher handled a failure.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorDetails {
    pub catch_index: Option<usize>,
    pub retry_index: Option<usize>,
    pub retry_backoff_interval_seconds: Option<f64>,
}

/// The data after each step of the state's input and output processing; a step the state never
/// reached (or does not have) is `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inspection {
    pub input: Option<Value>,
    pub after_input_path: Option<Value>,
    pub after_parameters: Option<Value>,
    pub after_arguments: Option<Value>,
    pub result: Option<Value>,
    pub after_result_selector: Option<Value>,
    pub after_result_path: Option<Value>,
    pub variables: Option<Value>,
    pub error_details: Option<ErrorDetails>,
}

/// What testing a state found.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResult {
    pub status: TestStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub next_state: Option<String>,
    pub inspection: Inspection,
}

/// Why a state cannot be tested.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TestStateError {
    #[error("{}", crate::error::invalid_definition_message(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("{0}")]
    Unsupported(String),
}

/// The machine a TestState `definition` describes and the name of the state to test. The
/// definition is a single state (its `Next` targets need not exist) or a whole state machine,
/// whose state `state_name` (default: `StartAt`) is tested.
pub fn machine_for(
    definition: &Value,
    state_name: Option<&str>,
) -> Result<(StateMachine, String), TestStateError> {
    let whole = definition.get("States").is_some();
    let (machine, name) = if whole {
        let name = match state_name {
            Some(n) => n.to_string(),
            None => definition
                .get("StartAt")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        };
        (definition.clone(), name)
    } else {
        let name = state_name.unwrap_or("TestState").to_string();
        let mut states = Map::new();
        // Every state the tested one can move to exists, so the definition validates.
        for target in targets(definition) {
            if target != name {
                states.insert(target, serde_json::json!({"Type": "Succeed"}));
            }
        }
        states.insert(name.clone(), definition.clone());
        let mut m = Map::new();
        m.insert("StartAt".into(), Value::String(name.clone()));
        m.insert("States".into(), Value::Object(states));
        if let Some(ql) = definition.get("QueryLanguage") {
            m.insert("QueryLanguage".into(), ql.clone());
        }
        (Value::Object(m), name)
    };
    let sm = StateMachine::from_value(&machine).map_err(TestStateError::Invalid)?;
    if !sm.states.contains_key(&name) {
        return Err(TestStateError::Unsupported(format!(
            "The state '{name}' is not in the definition"
        )));
    }
    Ok((sm, name))
}

/// The names a state definition transitions to: `Next`, `Default`, each choice's and catcher's
/// `Next`.
fn targets(state: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |v: Option<&Value>| {
        if let Some(s) = v.and_then(Value::as_str) {
            out.push(s.to_string());
        }
    };
    push(state.get("Next"));
    push(state.get("Default"));
    for key in ["Choices", "Catch"] {
        for c in state
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(c.get("Next"));
        }
    }
    out
}

/// Tests `state` with `input`. `context` is the context object, `variables` the variables in
/// scope, `retry_count` how many retries were made before this attempt, and `perform` carries
/// out a Task's invocation.
pub fn run(
    state: &State,
    input: &Value,
    context: &Value,
    variables: &Variables,
    retry_count: u64,
    now: DateTime<Utc>,
    perform: impl FnOnce(&Invocation) -> Result<Value, Failure>,
) -> Result<TestResult, TestStateError> {
    match &state.kind {
        Kind::Parallel { .. } | Kind::Map(_) => {
            return Err(TestStateError::Unsupported(
                "TestState does not test Parallel or Map states".into(),
            ))
        }
        Kind::Task(t) => {
            let r = t.resource.as_str();
            if r.ends_with(".waitForTaskToken")
                || r.ends_with(".sync")
                || r.ends_with(".sync:2")
                || states::task::is_activity(r)
            {
                return Err(TestStateError::Unsupported(format!(
                    "TestState does not test activities, .sync or .waitForTaskToken tasks ('{r}')"
                )));
            }
        }
        _ => {}
    }
    let scope = Scope::new(input, context).with_variables(variables);
    let mut inspection = Inspection {
        input: Some(input.clone()),
        ..Inspection::default()
    };
    input_stages(state, &scope, &mut inspection);
    let outcome = step::start(state, input, &scope, now).and_then(|o| match o {
        Outcome::Done(t) => {
            if let Kind::Pass { result } = &state.kind {
                let r = match result {
                    Some(v) => Some(v.clone()),
                    None => inspection
                        .after_parameters
                        .clone()
                        .or_else(|| inspection.after_arguments.clone()),
                };
                if let Some(r) = r {
                    result_stages(state, input, &r, &scope, &mut inspection);
                    inspection.result = Some(r);
                }
            }
            Ok(t)
        }
        Outcome::WaitUntil { then, .. } => Ok(then),
        Outcome::Invoke(inv) => {
            let result = perform(&inv)?;
            result_stages(state, input, &result, &scope, &mut inspection);
            inspection.result = Some(result.clone());
            step::task_succeeded(state, input, result, &scope)
        }
        Outcome::Branches { .. } | Outcome::Iterations(_) | Outcome::ReadItems(_) => Err(
            Failure::runtime("TestState does not test Parallel or Map states"),
        ),
    });
    let (status, transition, failure) = match outcome {
        Ok(t) => (TestStatus::Succeeded, Some(t), None),
        Err(f) => {
            let mut attempts = Attempts(vec![retry_count; state.retry.len()]);
            let name = f.name().to_string();
            match step::recover(state, input, f.clone(), &mut attempts, 0.0, &scope) {
                Ok(Recovery::Retry { delay }) => {
                    inspection.error_details = Some(ErrorDetails {
                        retry_index: state
                            .retry
                            .iter()
                            .position(|r| retry::matches(&r.error_equals, &name)),
                        retry_backoff_interval_seconds: Some(
                            delay.num_milliseconds() as f64 / 1000.0,
                        ),
                        ..ErrorDetails::default()
                    });
                    (TestStatus::Retriable, None, Some(f))
                }
                Ok(Recovery::Catch(t)) => {
                    inspection.error_details = Some(ErrorDetails {
                        catch_index: state
                            .catch
                            .iter()
                            .position(|c| retry::matches(&c.error_equals, &name)),
                        ..ErrorDetails::default()
                    });
                    (TestStatus::CaughtError, Some(t), Some(f))
                }
                Ok(Recovery::Fail(f)) | Err(f) => (TestStatus::Failed, None, Some(f)),
            }
        }
    };
    let mut vars = variables.clone();
    let (mut output, mut next_state) = (None, None);
    if let Some(Transition {
        next,
        output: out,
        assigned,
    }) = transition
    {
        next_state = next.map(str::to_string);
        match out.resolve(input.clone(), &scope) {
            Ok(v) => output = Some(v),
            Err(f) => {
                return Ok(TestResult {
                    status: TestStatus::Failed,
                    output: None,
                    error: f.error.clone(),
                    cause: f.cause.clone(),
                    next_state: None,
                    inspection,
                })
            }
        }
        io::apply_assignments(&mut vars, assigned);
    }
    inspection.variables = Some(Value::Object(vars));
    Ok(TestResult {
        status,
        output,
        error: failure.as_ref().and_then(|f| f.error.clone()),
        cause: failure.as_ref().and_then(|f| f.cause.clone()),
        next_state,
        inspection,
    })
}

/// `afterInputPath` and `afterParameters` (JSONPath) or `afterArguments` (JSONata). A step that
/// fails leaves its field empty; running the state reports the failure.
fn input_stages(state: &State, scope: &Scope, inspection: &mut Inspection) {
    if matches!(
        state.kind,
        Kind::Choice { .. } | Kind::Succeed | Kind::Fail { .. }
    ) {
        return;
    }
    match state.query_language {
        QueryLanguage::JsonPath => {
            inspection.after_input_path = io::input_path(&state.io.input_path, scope)
                .ok()
                .map(|v| v.into_owned());
            if matches!(state.kind, Kind::Wait(_)) {
                return;
            }
            inspection.after_parameters = io::effective_input(state, scope).ok();
        }
        QueryLanguage::Jsonata => {
            if state.io.parameters.is_some() {
                inspection.after_arguments = io::effective_input(state, scope).ok();
            }
        }
    }
}

/// `afterResultSelector` and `afterResultPath` of a result (JSONPath mode).
fn result_stages(
    state: &State,
    raw: &Value,
    result: &Value,
    scope: &Scope,
    inspection: &mut Inspection,
) {
    if state.query_language != QueryLanguage::JsonPath {
        return;
    }
    let selected = match &state.io.result_selector {
        None => Some(result.clone()),
        Some(t) => t.eval(&scope.reborrow().with_input(result), None).ok(),
    };
    if let Some(s) = selected {
        inspection.after_result_path = io::result_path(&state.io.result_path, raw, s.clone()).ok();
        inspection.after_result_selector = Some(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    fn test_at(
        def: &Value,
        state: Option<&str>,
        input: Value,
        retries: u64,
        perform: impl FnOnce(&Invocation) -> Result<Value, Failure>,
    ) -> Result<TestResult, TestStateError> {
        let (sm, name) = machine_for(def, state)?;
        let vars = Variables::new();
        run(
            &sm.states[&name],
            &input,
            &json!({}),
            &vars,
            retries,
            at(),
            perform,
        )
    }

    fn test(
        def: Value,
        input: Value,
        perform: impl FnOnce(&Invocation) -> Result<Value, Failure>,
    ) -> TestResult {
        test_at(&def, None, input, 0, perform).expect("testable")
    }

    #[test]
    fn a_task_shows_every_processing_step() {
        let r = test(
            json!({"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "InputPath": "$.req",
                   "Parameters": {"ApiEndpoint.$": "$.url", "Method": "GET"},
                   "ResultSelector": {"code.$": "$.StatusCode"}, "ResultPath": "$.res", "OutputPath": "$.res",
                   "Next": "After"}),
            json!({"req": {"url": "http://x"}}),
            |inv| {
                assert_eq!(
                    inv.parameters,
                    json!({"ApiEndpoint": "http://x", "Method": "GET"})
                );
                Ok(json!({"StatusCode": 200, "ResponseBody": "ok"}))
            },
        );
        assert_eq!(r.status, TestStatus::Succeeded);
        assert_eq!(r.next_state.as_deref(), Some("After"));
        assert_eq!(r.output, Some(json!({"code": 200})));
        let i = r.inspection;
        assert_eq!(i.after_input_path, Some(json!({"url": "http://x"})));
        assert_eq!(
            i.after_parameters,
            Some(json!({"ApiEndpoint": "http://x", "Method": "GET"}))
        );
        assert_eq!(i.after_result_selector, Some(json!({"code": 200})));
        assert_eq!(
            i.after_result_path,
            Some(json!({"req": {"url": "http://x"}, "res": {"code": 200}}))
        );
    }

    #[test]
    fn failures_are_retriable_caught_or_failed() {
        let def = json!({"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:stopSession",
            "Retry": [{"ErrorEquals": ["Glue.ThrottlingException"], "IntervalSeconds": 3, "MaxAttempts": 2, "BackoffRate": 2}],
            "Catch": [{"ErrorEquals": ["Other"], "Next": "Skip"}, {"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Handle"}],
            "End": true});
        let throttled = || {
            Err(Failure::new(
                "Glue.ThrottlingException",
                "slow down".to_string(),
            ))
        };
        let r = test(def.clone(), json!({}), |_| throttled());
        assert_eq!(r.status, TestStatus::Retriable);
        assert_eq!(
            r.inspection.error_details,
            Some(ErrorDetails {
                retry_index: Some(0),
                retry_backoff_interval_seconds: Some(3.0),
                catch_index: None
            })
        );
        // after both retries the catcher takes it
        let r = test_at(&def, None, json!({}), 2, |_| throttled()).unwrap();
        assert_eq!(r.status, TestStatus::CaughtError);
        assert_eq!(r.next_state.as_deref(), Some("Handle"));
        assert_eq!(
            r.output,
            Some(json!({"err": {"Error": "Glue.ThrottlingException", "Cause": "slow down"}}))
        );
        assert_eq!(r.inspection.error_details.unwrap().catch_index, Some(1));
        // States.Runtime is never caught by States.ALL
        let r = test(
            json!({"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "Parameters": {"x.$": "$.missing"},
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}], "End": true}),
            json!({}),
            |_| unreachable!(),
        );
        assert_eq!(r.status, TestStatus::Failed);
        assert_eq!(r.error.as_deref(), Some("States.Runtime"));
    }

    #[test]
    fn choice_and_variables() {
        let r = test(
            json!({"Type": "Choice", "QueryLanguage": "JSONata",
                   "Choices": [{"Condition": "{% $states.input.n > 1 %}", "Next": "Big", "Assign": {"seen": "{% $states.input.n %}"}}],
                   "Default": "Small"}),
            json!({"n": 5}),
            |_| unreachable!(),
        );
        assert_eq!(r.status, TestStatus::Succeeded);
        assert_eq!(r.next_state.as_deref(), Some("Big"));
        assert_eq!(r.inspection.variables, Some(json!({"seen": 5})));
    }

    #[test]
    fn whole_machines_and_unsupported_states() {
        let def = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Result": 1, "End": true}}});
        let r = test_at(&def, Some("B"), json!({}), 0, |_| unreachable!()).unwrap();
        assert_eq!(r.output, Some(json!(1)));
        assert_eq!(r.inspection.result, Some(json!(1)));
        assert!(matches!(
            machine_for(&def, Some("Z")),
            Err(TestStateError::Unsupported(_))
        ));
        assert!(matches!(
            machine_for(&json!({"Type": "Pass", "Bogus": 1, "End": true}), None),
            Err(TestStateError::Invalid(_))
        ));
        let parallel = json!({"Type": "Parallel", "Branches": [{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}], "End": true});
        assert!(matches!(
            test_at(&parallel, None, json!({}), 0, |_| unreachable!()),
            Err(TestStateError::Unsupported(_))
        ));
    }
}
