//! Mocked task responses in the format of Step Functions Local's `MockConfigFile.json`:
//!
//! ```json
//! {"StateMachines": {"Pipeline": {"TestCases": {"HappyPath": {"Raw": "RawOk"}}}},
//!  "MockedResponses": {"RawOk": {"0": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "busy"}},
//!                                "1-2": {"Return": {"StatusCode": 200, "Payload": {"ok": true}}}}}}
//! ```
//!
//! A test case maps state names to responses; each response maps invocation numbers (`"0"`,
//! `"1-2"`) to a `Return` value or a `Throw`n error, so retries see a sequence.

use crate::runner::{TaskCall, TaskHandler, TaskOutcome};
use serde_json::Value;
use std::collections::HashMap;

/// Why a mock file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("the mock file is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the mock file has no test case named '{0}'")]
    NoTestCase(String),
    #[error(
        "the test case '{0}' exists in several state machines ({1}); name one with --state-machine"
    )]
    Ambiguous(String, String),
    #[error("the mock file is malformed at {at}: {reason}")]
    Malformed { at: String, reason: String },
}

#[derive(Debug, Clone)]
enum Response {
    Return(Value),
    Throw { error: String, cause: String },
}

/// A [`TaskHandler`] that answers from a mock file's test case.
#[derive(Debug, Clone)]
pub struct MockTasks {
    /// state name → ordered (first, last, response) ranges
    states: HashMap<String, Vec<(u64, u64, Response)>>,
    calls: HashMap<String, u64>,
}

impl MockTasks {
    /// Loads `test_case` (optionally of `state_machine`) from mock-file text.
    pub fn from_str(
        text: &str,
        test_case: &str,
        state_machine: Option<&str>,
    ) -> Result<MockTasks, MockError> {
        let v: Value = serde_json::from_str(text)?;
        let bad = |at: &str, reason: &str| MockError::Malformed {
            at: at.into(),
            reason: reason.into(),
        };
        let machines = v
            .get("StateMachines")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("/StateMachines", "expected an object"))?;
        let mut found = Vec::new();
        for (name, m) in machines {
            if state_machine.is_some_and(|s| s != name) {
                continue;
            }
            if let Some(tc) = m.get("TestCases").and_then(|t| t.get(test_case)) {
                found.push((name.clone(), tc.clone()));
            }
        }
        let (_, case) = match found.len() {
            0 => return Err(MockError::NoTestCase(test_case.into())),
            1 => found.remove(0),
            _ => {
                let names: Vec<String> = found.iter().map(|(n, _)| n.clone()).collect();
                return Err(MockError::Ambiguous(test_case.into(), names.join(", ")));
            }
        };
        let responses = v
            .get("MockedResponses")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("/MockedResponses", "expected an object"))?;
        let case = case
            .as_object()
            .ok_or_else(|| bad(&format!("/TestCases/{test_case}"), "expected an object"))?;
        let mut states = HashMap::new();
        for (state, resp_name) in case {
            let rn = resp_name.as_str().ok_or_else(|| {
                bad(
                    &format!("/TestCases/{test_case}/{state}"),
                    "expected a response name",
                )
            })?;
            let at = format!("/MockedResponses/{rn}");
            let r = responses
                .get(rn)
                .and_then(Value::as_object)
                .ok_or_else(|| bad(&at, "no such mocked response"))?;
            let mut ranges = Vec::new();
            for (k, body) in r {
                let (first, last) = parse_range(k).ok_or_else(|| {
                    bad(
                        &format!("{at}/{k}"),
                        "keys are invocation numbers like \"0\" or \"1-3\"",
                    )
                })?;
                let resp = if let Some(ret) = body.get("Return") {
                    Response::Return(ret.clone())
                } else if let Some(t) = body.get("Throw") {
                    Response::Throw {
                        error: t
                            .get("Error")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        cause: t
                            .get("Cause")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    }
                } else {
                    return Err(bad(&format!("{at}/{k}"), "expected 'Return' or 'Throw'"));
                };
                ranges.push((first, last, resp));
            }
            ranges.sort_by_key(|r| r.0);
            states.insert(state.clone(), ranges);
        }
        Ok(MockTasks {
            states,
            calls: HashMap::new(),
        })
    }
}

fn parse_range(k: &str) -> Option<(u64, u64)> {
    match k.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a <= b).then_some((a, b))
        }
        None => {
            let n = k.trim().parse().ok()?;
            Some((n, n))
        }
    }
}

impl TaskHandler for MockTasks {
    fn invoke(&mut self, call: &TaskCall) -> TaskOutcome {
        let Some(ranges) = self.states.get(call.state) else {
            return TaskOutcome::Failure {
                error: "Shoal.NoMockedResponse".into(),
                cause: format!(
                    "The test case has no mocked response for the Task state '{}'",
                    call.state
                ),
            };
        };
        let n = self.calls.entry(call.state.to_string()).or_insert(0);
        let idx = *n;
        *n += 1;
        let resp = ranges
            .iter()
            .find(|(a, b, _)| (*a..=*b).contains(&idx))
            .or_else(|| ranges.last())
            .map(|r| r.2.clone());
        match resp {
            Some(Response::Return(v)) => TaskOutcome::Success(v),
            Some(Response::Throw { error, cause }) => {
                if error == "States.Timeout" {
                    TaskOutcome::TimedOut
                } else if error == "States.HeartbeatTimeout" {
                    TaskOutcome::HeartbeatTimedOut
                } else {
                    TaskOutcome::Failure { error, cause }
                }
            }
            None => TaskOutcome::Failure {
                error: "Shoal.NoMockedResponse".into(),
                cause: format!("The mocked response for '{}' is empty", call.state),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sequences_follow_invocation_numbers() {
        let text = r#"{"StateMachines":{"M":{"TestCases":{"T":{"S":"R"}}}},
            "MockedResponses":{"R":{"0":{"Throw":{"Error":"E","Cause":"c"}},"1-2":{"Return":{"ok":1}}}}}"#;
        let mut m = MockTasks::from_str(text, "T", None).unwrap();
        let p = json!({});
        let call = TaskCall {
            state: "S",
            resource: "arn:aws:states:::lambda:invoke",
            parameters: &p,
            attempt: 0,
            task_token: None,
            timeout_seconds: None,
            heartbeat_seconds: None,
        };
        assert_eq!(
            m.invoke(&call),
            TaskOutcome::Failure {
                error: "E".into(),
                cause: "c".into()
            }
        );
        assert_eq!(m.invoke(&call), TaskOutcome::Success(json!({"ok": 1})));
        assert_eq!(m.invoke(&call), TaskOutcome::Success(json!({"ok": 1})));
    }

    #[test]
    fn unknown_test_case_is_an_error() {
        let text = r#"{"StateMachines":{},"MockedResponses":{}}"#;
        assert!(matches!(
            MockTasks::from_str(text, "T", None),
            Err(MockError::NoTestCase(_))
        ));
    }
}
