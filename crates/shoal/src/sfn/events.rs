//! `Step Functions Execution Status Change` events, in AWS's shape, for the event bus.

use super::model::Execution;
use super::Sfn;
use serde_json::{json, Value};

/// The EventBridge event AWS sends when an execution changes status.
pub fn status_change(e: &Execution) -> Value {
    let (redrive_status, redrive_reason) = e.redrive_status();
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": e.account,
        "time": e.stop.unwrap_or(e.start).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": e.region,
        "resources": [e.arn],
        "detail": {
            "executionArn": e.arn,
            "stateMachineArn": e.machine_arn,
            "name": e.name,
            "status": e.status,
            "startDate": e.start.timestamp_millis(),
            "stopDate": e.stop.map(|t| t.timestamp_millis()),
            "input": e.input,
            "output": e.output,
            "inputDetails": {"included": true},
            "outputDetails": e.output.as_ref().map(|_| json!({"included": true})),
            "error": e.error,
            "cause": e.cause,
            "redriveCount": e.redrive_count,
            "redriveDate": e.redrive_date.map(|t| t.timestamp_millis()),
            "redriveStatus": redrive_status,
            "redriveStatusReason": redrive_reason,
        }
    })
}

impl Sfn {
    pub(crate) fn emit_status(&self, e: &Execution) {
        // with nobody listening (no bus yet) the event is not even built
        if self.events.receiver_count() > 0 {
            let _ = self.events.send(status_change(e));
        }
    }
}
