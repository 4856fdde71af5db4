//! TestState: one state run on its own, outside any execution. [`asl::test_state`] decides;
//! this performs the state's task (a real HTTP or AWS SDK call, or the request's mock).

use super::error::{Result, SfnError};
use super::integrations;
use super::Sfn;
use asl::runner::TaskOutcome;
use asl::test_state::{self, TestResult, TestStateError};
use asl::Failure;
use chrono::Utc;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// A TestState request, parsed.
#[derive(Debug, Default)]
pub struct TestStateRequest {
    pub definition: String,
    pub state_name: Option<String>,
    pub input: Option<String>,
    pub variables: Option<String>,
    pub context: Option<String>,
    pub role_arn: Option<String>,
    /// `mock.result` (JSON text) or `mock.errorOutput` (`{error, cause}`).
    pub mock: Option<Value>,
    /// `stateConfiguration.retrierRetryCount`: retries made before this attempt.
    pub retry_count: u64,
}

/// AWS lets TestState run for five minutes at most.
const LIMIT: Duration = Duration::from_secs(300);

fn json_text(text: Option<&str>, what: &str, err: fn(String) -> SfnError) -> Result<Value> {
    match text {
        None => Ok(json!({})),
        Some(t) => {
            serde_json::from_str(t).map_err(|e| err(format!("The {what} is not valid JSON: {e}")))
        }
    }
}

impl Sfn {
    pub async fn test_state(
        self: &Arc<Sfn>,
        region: &str,
        req: TestStateRequest,
    ) -> Result<TestResult> {
        let definition: Value = serde_json::from_str(&req.definition).map_err(|e| {
            SfnError::InvalidDefinition(format!(
                "Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: {e}'"
            ))
        })?;
        let input = json_text(
            req.input.as_deref(),
            "input",
            SfnError::InvalidExecutionInput,
        )?;
        let variables = match json_text(
            req.variables.as_deref(),
            "variables",
            SfnError::ValidationException,
        )? {
            Value::Object(m) => m,
            _ => {
                return Err(SfnError::ValidationException(
                    "The variables must be a JSON object".into(),
                ))
            }
        };
        let (sm, name) = test_state::machine_for(&definition, req.state_name.as_deref()).map_err(
            |e| match e {
                TestStateError::Invalid(_) => SfnError::InvalidDefinition(e.to_string()),
                TestStateError::Unsupported(m) => SfnError::ValidationException(m),
            },
        )?;
        let now = Utc::now();
        let context = self.test_context(region, &req, &name, &input, now)?;
        let sfn = self.clone();
        let region = region.to_string();
        let mock = req.mock;
        let retry_count = req.retry_count;
        let work = tokio::task::spawn_blocking(move || {
            let state = &sm.states[&name];
            test_state::run(
                state,
                &input,
                &context,
                &variables,
                retry_count,
                now,
                |inv| {
                    if let Some(m) = &mock {
                        return mocked(m);
                    }
                    let timeout = inv
                        .timeout_seconds
                        .map(Duration::from_secs)
                        .unwrap_or(LIMIT);
                    integrations::request(
                        &sfn,
                        &region,
                        &inv.resource,
                        &inv.parameters,
                        Some(timeout),
                    )
                    .map_err(|o| match o {
                        TaskOutcome::Failure { error, cause } => {
                            Failure::plain(Some(error), Some(cause))
                        }
                        _ => Failure::plain(
                            Some("States.Timeout".into()),
                            Some("The task timed out".into()),
                        ),
                    })
                },
            )
        });
        match work.await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(SfnError::ValidationException(e.to_string())),
            Err(e) => Err(SfnError::InternalFailure(format!("TestState failed: {e}"))),
        }
    }

    /// The context object a tested state sees: a made-up execution, overridden member by member
    /// by the request's `context`.
    fn test_context(
        &self,
        region: &str,
        req: &TestStateRequest,
        state: &str,
        input: &Value,
        now: chrono::DateTime<Utc>,
    ) -> Result<Value> {
        let account = &self.config.account;
        let time = asl::time::format_time(now);
        let mut ctx = json!({
            "Execution": {
                "Id": format!("arn:aws:states:{region}:{account}:execution:TestStateMachine:test-state"),
                "Input": input,
                "Name": "test-state",
                "RoleArn": req.role_arn.clone().unwrap_or_default(),
                "StartTime": time,
                "RedriveCount": 0,
            },
            "State": {"EnteredTime": time, "Name": state, "RetryCount": req.retry_count},
            "StateMachine": {
                "Id": format!("arn:aws:states:{region}:{account}:stateMachine:TestStateMachine"),
                "Name": "TestStateMachine",
            },
        });
        if let Value::Object(extra) = json_text(
            req.context.as_deref(),
            "context",
            SfnError::ValidationException,
        )? {
            if let Value::Object(base) = &mut ctx {
                for (k, v) in extra {
                    base.insert(k, v);
                }
            }
        }
        Ok(ctx)
    }
}

/// The mock's answer: its `result` (JSON text) or its `errorOutput`.
fn mocked(m: &Value) -> std::result::Result<Value, Failure> {
    if let Some(e) = m.get("errorOutput") {
        let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
        return Err(Failure::plain(text("error"), text("cause")));
    }
    match m.get("result").and_then(Value::as_str) {
        Some(t) => serde_json::from_str(t).map_err(|e| {
            Failure::plain(
                Some("States.Runtime".into()),
                Some(format!("The mock result is not valid JSON: {e}")),
            )
        }),
        None => Ok(Value::Object(Map::new())),
    }
}
