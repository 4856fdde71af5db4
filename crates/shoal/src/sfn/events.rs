//! `Step Functions Execution Status Change` events, in AWS's shape, for the event bus.

use super::arn::Scope;
use super::model::Execution;
use super::Sfn;
use crate::events::model::Delivery;
use crate::events::router::{Only, Routed, Routing};
use crate::events::Events;
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
    /// Connects the event bus that status changes go to.
    pub fn set_bus(&self, bus: std::sync::Weak<Events>) {
        let _ = self.bus.set(bus);
    }

    fn events(&self) -> Option<std::sync::Arc<Events>> {
        self.bus.get().and_then(std::sync::Weak::upgrade)
    }

    /// Where an execution's status change goes on the default bus of its account and region:
    /// committed with the change itself, so a crash cannot keep the change and lose the event.
    /// Nothing is built when no rule, archive or tail listens.
    pub(crate) fn status_routing(&self, e: &Execution) -> Routing {
        self.count(e);
        let Some(bus) = self.events() else {
            return Routing::default();
        };
        let scope = Scope {
            region: e.region.clone(),
            account: e.account.clone(),
        };
        let bus_arn = Events::bus_arn(&scope, "default");
        let tailing = bus.tail.receiver_count() > 0;
        if !tailing && !bus.listens(&bus_arn) {
            return Routing::default();
        }
        let text = status_change(e).to_string();
        match bus.route(&bus_arn, &text, chrono::Utc::now(), Only::All) {
            Ok(mut routing) => {
                if tailing {
                    let _ = bus.tail.send(Routed {
                        bus: "default".into(),
                        event: text,
                        rules: std::mem::take(&mut routing.rules),
                    });
                }
                routing
            }
            Err(err) => {
                eprintln!(
                    "shoal: the status change of {} was not routed: {err}",
                    e.arn
                );
                Routing::default()
            }
        }
    }

    /// AWS/States metrics of a status change, by `StateMachineArn`.
    fn count(&self, e: &Execution) {
        let scope = Scope {
            region: e.region.clone(),
            account: e.account.clone(),
        };
        let name = match e.status.as_str() {
            "RUNNING" => "ExecutionsStarted",
            "SUCCEEDED" => "ExecutionsSucceeded",
            "FAILED" => "ExecutionsFailed",
            "ABORTED" => "ExecutionsAborted",
            "TIMED_OUT" => "ExecutionsTimedOut",
            _ => return,
        };
        let mut values = vec![(name, 1.0, "Count")];
        let ms = e.stop.map(|s| (s - e.start).num_milliseconds() as f64);
        if let Some(ms) = ms {
            values.push(("ExecutionTime", ms, "Milliseconds"));
        }
        let dims = [("StateMachineArn", e.machine_arn.as_str())];
        self.metrics.emit(&scope, "AWS/States", &dims, &values);
    }

    /// Hands committed status-change deliveries to the bus.
    pub(crate) fn dispatch(&self, deliveries: Vec<Delivery>) {
        if deliveries.is_empty() {
            return;
        }
        if let Some(bus) = self.events() {
            bus.dispatch(deliveries);
        }
    }
}
