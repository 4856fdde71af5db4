//! A state machine's `loggingConfiguration`: its history events written to the CloudWatch Logs
//! group it names, at its level (`ALL`, `ERROR`, `FATAL`), with or without execution data —
//! the only record an Express execution leaves, as on AWS.

use super::model::Execution;
use super::Sfn;
use asl::history::HistoryEvent;
use serde_json::{json, Map, Value};

/// Whether an event is logged at `level`.
pub fn logged(level: &str, kind: &str) -> bool {
    match level {
        "ALL" => true,
        "ERROR" => {
            kind.ends_with("Failed")
                || kind.ends_with("TimedOut")
                || kind.ends_with("Aborted")
                || kind == "FailStateEntered"
        }
        "FATAL" => matches!(
            kind,
            "ExecutionFailed" | "ExecutionAborted" | "ExecutionTimedOut"
        ),
        _ => false,
    }
}

/// The log group a configuration names (`destinations[0].cloudWatchLogsLogGroup.logGroupArn`),
/// if its level logs anything.
pub fn target(logging: &Value) -> Option<(String, String, bool)> {
    let level = logging.get("level")?.as_str()?.to_string();
    if level == "OFF" {
        return None;
    }
    let arn = logging
        .pointer("/destinations/0/cloudWatchLogsLogGroup/logGroupArn")?
        .as_str()?;
    let group = arn
        .split_once(":log-group:")?
        .1
        .trim_end_matches(":*")
        .to_string();
    let data = logging
        .get("includeExecutionData")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Some((level, group, data))
}

/// One history event as Step Functions writes it to CloudWatch Logs.
fn entry(exec: &Execution, e: &HistoryEvent, data: bool) -> String {
    let mut details: Map<String, Value> = e
        .details
        .as_ref()
        .and_then(|d| d.values().next())
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if !data {
        for k in [
            "input",
            "output",
            "inputDetails",
            "outputDetails",
            "parameters",
            "result",
            "resultDetails",
        ] {
            details.remove(k);
        }
    }
    json!({
        "id": e.id.to_string(),
        "type": e.kind,
        "details": details,
        "previous_event_id": e.previous_event_id.to_string(),
        "event_timestamp": e.timestamp.timestamp_millis().to_string(),
        "execution_arn": exec.arn,
        "redrive_count": exec.redrive_count.to_string(),
    })
    .to_string()
}

impl Sfn {
    /// Connects CloudWatch Logs, where machines with a logging configuration write.
    pub fn set_logs(&self, logs: std::sync::Weak<crate::logs::Logs>) {
        let _ = self.logs.set(logs);
    }

    /// Writes an execution's new history events to its machine's log group, if it has one.
    /// Best effort and at-least-once: events replayed after a crash may be written again.
    pub(crate) fn log_history(&self, exec: &Execution, events: &[HistoryEvent]) {
        let Some((level, group, data)) = exec.logging.as_ref().and_then(target) else {
            return;
        };
        let Some(logs) = self.logs.get().and_then(std::sync::Weak::upgrade) else {
            return;
        };
        let lines: Vec<(i64, String)> = events
            .iter()
            .filter(|e| logged(&level, e.kind))
            .map(|e| (e.timestamp.timestamp_millis(), entry(exec, e, data)))
            .collect();
        if lines.is_empty() {
            return;
        }
        let scope = super::arn::Scope {
            region: exec.region.clone(),
            account: exec.account.clone(),
        };
        let stream = format!("states/{}/{}", exec.machine_name, exec.name);
        self.runtime.spawn(async move {
            if let Err(e) = logs.write(&scope, &group, &stream, lines).await {
                eprintln!("shoal: execution log not written to {group}: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_targets() {
        assert!(logged("ALL", "PassStateEntered"));
        assert!(logged("ERROR", "TaskFailed") && logged("ERROR", "FailStateEntered"));
        assert!(!logged("ERROR", "TaskSucceeded"));
        assert!(logged("FATAL", "ExecutionFailed") && !logged("FATAL", "TaskFailed"));
        let c = json!({"level": "ERROR", "includeExecutionData": true, "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": "arn:aws:logs:us-east-1:1:log-group:/aws/vendedlogs/states/raw:*"}}]});
        assert_eq!(
            target(&c),
            Some(("ERROR".into(), "/aws/vendedlogs/states/raw".into(), true))
        );
        assert_eq!(target(&json!({"level": "OFF"})), None);
    }
}
