//! The delivery worker: tries each stored delivery when it is due, deletes it once the target
//! took it, and otherwise retries with exponential backoff and jitter under the target's
//! `RetryPolicy` (AWS's defaults: 185 attempts, 24 hours). A delivery that cannot succeed (the
//! target does not exist) or has spent its retries is kept as `FAILED`.

use super::destinations::HttpOutcome;
use super::model::Delivery;
use super::router::Only;
use super::Events;
use crate::sfn::arn::Scope;
use crate::sfn::error::SfnError;
use crate::sfn::executions::StartRequest;
use crate::sqs::messages::Outgoing;
use crate::store::{delete, put, Records, Scan};
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

const DEFAULT_ATTEMPTS: u32 = 185;
const DEFAULT_MAX_AGE_S: i64 = 86_400;
/// The longest pause between two attempts.
const MAX_BACKOFF_S: f64 = 180.0;

/// What one attempt came to.
enum Outcome {
    Delivered,
    /// Worth another attempt.
    Retry(String),
    /// No attempt can succeed.
    Fail(String),
    /// Not attempted: the target's rate limit is reached; try again after this long.
    Later(std::time::Duration),
}

pub(super) fn spawn(events: &Arc<Events>, rx: UnboundedReceiver<Delivery>, pending: Vec<Delivery>) {
    let events = events.clone();
    crate::due::spawn(
        rx,
        pending,
        |d| (d.due.timestamp_millis(), d.id.clone()),
        move |d| {
            let ev = events.clone();
            async move { ev.attempt(d).await }
        },
    );
}

impl Events {
    /// Deliveries a previous run left in flight.
    pub(super) fn pending_deliveries(&self) -> super::Result<Vec<Delivery>> {
        Ok(self.store.list(Scan {
            status: Some("PENDING"),
            ..Default::default()
        })?)
    }

    /// Deliveries that failed for good, newest first (`shoal events failed`).
    pub fn failed_deliveries(&self, limit: usize) -> super::Result<Vec<Delivery>> {
        Ok(self.store.list(Scan {
            status: Some("FAILED"),
            descending: true,
            limit,
            ..Default::default()
        })?)
    }

    /// AWS/Events metrics of a delivery, by `RuleName`.
    pub(super) fn count(&self, d: &Delivery, metric: &str) {
        let scope = Scope::of_arn(&d.rule_arn);
        let rule = d.rule_arn.rsplit('/').next().unwrap_or_default();
        self.metrics.emit(
            &scope,
            "AWS/Events",
            &[("RuleName", rule)],
            &[(metric, 1.0, "Count")],
        );
    }

    async fn attempt(self: Arc<Self>, mut d: Delivery) {
        let outcome = self.deliver(&d).await;
        if matches!(outcome, Outcome::Delivered) {
            self.count(&d, "Invocations");
        }
        let why = match outcome {
            Outcome::Delivered => {
                // a crash before this commit delivers again: at-least-once, as on AWS
                let _ = self.store.commit(vec![delete::<Delivery>(&d.id)]);
                return;
            }
            Outcome::Retry(why) => why,
            Outcome::Fail(why) => return self.give_up(d, why).await,
            Outcome::Later(wait) => {
                d.due =
                    Utc::now() + Duration::from_std(wait).unwrap_or_else(|_| Duration::seconds(1));
                let _ = self.queue.send(d);
                return;
            }
        };
        d.attempts += 1;
        let policy = d.target.get("RetryPolicy");
        let max_attempts = policy
            .and_then(|p| p.get("MaximumRetryAttempts"))
            .and_then(Value::as_u64)
            .map_or(DEFAULT_ATTEMPTS, |n| n as u32);
        let max_age = policy
            .and_then(|p| p.get("MaximumEventAgeInSeconds"))
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_MAX_AGE_S);
        let now = Utc::now();
        if d.attempts > max_attempts || now - d.first >= Duration::seconds(max_age) {
            let why = format!("retries exhausted after {} attempt(s): {why}", d.attempts);
            return self.give_up(d, why).await;
        }
        d.due = now + self.backoff(d.attempts);
        d.last_error = Some(why);
        let _ = self.store.commit(vec![put(&d)]);
        let _ = self.queue.send(d);
    }

    /// The pause before attempt `n + 1`: exponential with jitter, scaled like Wait states
    /// (`--wait-scale`, and none under the virtual clock).
    fn backoff(&self, n: u32) -> Duration {
        let c = &self.sfn.config;
        if c.virtual_clock {
            return Duration::zero();
        }
        let base = 2f64
            .powi(n.saturating_sub(1).min(16) as i32)
            .min(MAX_BACKOFF_S);
        let jitter = 0.5 + rand::random::<f64>() / 2.0;
        Duration::milliseconds((base * jitter * c.wait_scale * 1000.0) as i64)
    }

    /// A delivery that cannot succeed: to the target's dead-letter queue when it has one (the
    /// event, with AWS's ERROR_CODE, ERROR_MESSAGE, RULE_ARN and TARGET_ARN attributes), and
    /// kept as FAILED.
    async fn give_up(&self, mut d: Delivery, why: String) {
        self.count(&d, "FailedInvocations");
        let target = d.target.get("Arn").and_then(Value::as_str).unwrap_or("");
        let mut dead = String::new();
        if let Some(dlq) = d
            .target
            .pointer("/DeadLetterConfig/Arn")
            .and_then(Value::as_str)
        {
            let text = |v: &str| json!({"DataType": "String", "StringValue": v});
            let code = if why.contains("retries exhausted") {
                "RETRIES_EXHAUSTED"
            } else {
                "NO_PERMISSIONS_OR_RESOURCE"
            };
            let m = Outgoing {
                body: d.event.clone(),
                delay: None,
                attributes: json!({
                    "ERROR_CODE": text(code),
                    "ERROR_MESSAGE": text(&why),
                    "RULE_ARN": text(&d.rule_arn),
                    "TARGET_ARN": text(target),
                }),
                group: dlq.ends_with(".fifo").then(|| d.event_id.clone()),
                dedup: dlq.ends_with(".fifo").then(|| d.id.clone()),
            };
            dead = match self.sqs.send(dlq, m).await {
                Ok(_) => format!("; sent to its dead-letter queue {dlq}"),
                Err(e) => format!("; its dead-letter queue {dlq} refused it: {e}"),
            };
        }
        eprintln!(
            "shoal: event {} to target {} of {} failed: {why}{dead}",
            d.event_id,
            d.target.get("Id").and_then(Value::as_str).unwrap_or(""),
            d.rule_arn
        );
        d.status = "FAILED".into();
        d.last_error = Some(format!("{why}{dead}"));
        let _ = self.store.commit(vec![put(&d)]);
    }

    async fn deliver(self: &Arc<Self>, d: &Delivery) -> Outcome {
        let arn = d.target.get("Arn").and_then(Value::as_str).unwrap_or("");
        let Some((service, resource, scope)) = target_parts(arn) else {
            return Outcome::Fail(format!("'{arn}' is not a target ARN"));
        };
        match service {
            "states" if resource.starts_with("stateMachine:") => {
                self.start_execution(&scope, arn, d).await
            }
            "events" if resource.starts_with("event-bus/") => self.forward(&scope, arn, d).await,
            "events" if resource.starts_with("api-destination/") => {
                self.call_destination(arn, d).await
            }
            "sqs" => self.enqueue(arn, d).await,
            "lambda" if resource.starts_with("function:") => self.invoke(&scope, arn, d).await,
            "sns" => self.publish(arn, d).await,
            _ => Outcome::Fail(format!(
                "shoal does not deliver to {service} targets yet ({arn})"
            )),
        }
    }

    /// Starts the executions of the state machine targets among `deliveries` (new, not yet
    /// stored) at once, so that PutEvents answers after them and a client that lists executions
    /// next finds them. Answers the ids of the deliveries whose execution is durably started:
    /// those need no stored delivery. The others (an Express machine, a start that failed) are
    /// left to the worker.
    pub(super) async fn start_promptly(&self, deliveries: &[&Delivery]) -> HashSet<String> {
        let starts = deliveries.iter().filter_map(|d| {
            let (arn, scope) = state_machine_target(d)?;
            let req = StartRequest {
                state_machine_arn: arn,
                name: Some(d.id.clone()),
                input: Some(d.input.clone()),
                trace_header: None,
                // a delivery's id is a UUID made as the event was routed
                new_name: true,
            };
            Some(async move {
                let started = self.sfn.start_execution(&scope, req).await.is_ok();
                started.then(|| d.id.clone())
            })
        });
        let started = futures_util::future::join_all(starts).await;
        started.into_iter().flatten().collect()
    }

    /// A state machine target: StartExecution with the delivery's id as the execution name,
    /// so a delivery tried again after a crash finds the execution it started.
    async fn start_execution(self: &Arc<Self>, scope: &Scope, arn: &str, d: &Delivery) -> Outcome {
        let req = StartRequest {
            state_machine_arn: arn,
            name: Some(d.id.clone()),
            input: Some(d.input.clone()),
            trace_header: None,
            new_name: false,
        };
        match self.sfn.start_execution(scope, req).await {
            Ok(_) | Err(SfnError::ExecutionAlreadyExists(_)) => Outcome::Delivered,
            Err(SfnError::StateMachineTypeNotSupported(_)) => {
                // an Express machine: run it in memory, at-least-once, as AWS does
                let (sfn, scope, arn) = (self.sfn.clone(), scope.clone(), arn.to_string());
                let (name, input) = (d.id.clone(), d.input.clone());
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = sfn.run_express(&scope, &arn, Some(name), Some(input)) {
                        eprintln!("shoal: express execution of {arn} failed to start: {e}");
                    }
                });
                Outcome::Delivered
            }
            Err(
                e @ (SfnError::StateMachineDoesNotExist(_)
                | SfnError::InvalidArn(_)
                | SfnError::InvalidExecutionInput(_)
                | SfnError::InvalidName(_)),
            ) => Outcome::Fail(format!("{}: {e}", e.code())),
            Err(e) => Outcome::Retry(format!("{}: {e}", e.code())),
        }
    }

    /// The `SqsParameters.MessageGroupId` of a target (FIFO queues and topics).
    fn message_group(d: &Delivery) -> Option<String> {
        d.target
            .pointer("/SqsParameters/MessageGroupId")
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// A queue target: the input as the message body (`SqsParameters.MessageGroupId` for FIFO
    /// queues, the event id as the deduplication id).
    async fn enqueue(&self, arn: &str, d: &Delivery) -> Outcome {
        let m = Outgoing {
            body: d.input.clone(),
            delay: None,
            attributes: Value::Null,
            group: Events::message_group(d),
            dedup: arn.ends_with(".fifo").then(|| d.event_id.clone()),
        };
        match self.sqs.send(arn, m).await {
            Ok(_) => Outcome::Delivered,
            Err(e) if e.name == "InternalError" => Outcome::Retry(e.to_string()),
            Err(e) => Outcome::Fail(format!("{}: {e}", e.name)),
        }
    }

    /// A function target: an asynchronous invocation with the input as its event, as
    /// EventBridge invokes functions.
    async fn invoke(&self, scope: &Scope, arn: &str, d: &Delivery) -> Outcome {
        let Some(lambda) = self.lambda() else {
            return Outcome::Retry("the function service is not running yet".into());
        };
        let f = match lambda.function(scope, arn) {
            Ok(f) => f,
            Err(e) if e.status == 404 => {
                return Outcome::Fail(format!("{}: {}", e.code, e.message))
            }
            Err(e) => return Outcome::Retry(e.message),
        };
        match lambda.invoke_async(&f, d.input.clone().into()).await {
            Ok(_) => Outcome::Delivered,
            Err(e) if e.status >= 500 => Outcome::Retry(e.message),
            Err(e) => Outcome::Fail(format!("{}: {}", e.code, e.message)),
        }
    }

    /// A topic target: the input published as the message.
    async fn publish(&self, arn: &str, d: &Delivery) -> Outcome {
        let Some(sns) = self.targets.get().and_then(|t| t.sns.upgrade()) else {
            return Outcome::Retry("the topic service is not running yet".into());
        };
        let m = crate::sns::publish::Outgoing {
            message: d.input.clone(),
            group: Events::message_group(d),
            dedup: arn.ends_with(".fifo").then(|| d.event_id.clone()),
            ..Default::default()
        };
        match sns.publish(arn, m).await {
            Ok(_) => Outcome::Delivered,
            Err(e) if e.status >= 500 => Outcome::Retry(e.message),
            Err(e) => Outcome::Fail(format!("{}: {}", e.code, e.message)),
        }
    }

    /// An API destination: an HTTP request with the connection's authorization.
    async fn call_destination(self: &Arc<Self>, arn: &str, d: &Delivery) -> Outcome {
        let (dest, conn) = match self.destination_for(arn) {
            Ok(x) => x,
            Err(e) => return Outcome::Fail(e.to_string()),
        };
        if let Some(wait) = dest.rate_limit.and_then(|r| self.rate.slot(arn, r)) {
            return Outcome::Later(wait);
        }
        let (target, input) = (d.target.clone(), d.input.clone());
        let r = tokio::task::spawn_blocking(move || {
            super::destinations::invoke(&dest, &conn, &target, &input, false)
        })
        .await;
        match r {
            Ok(HttpOutcome::Delivered(_)) => Outcome::Delivered,
            Ok(HttpOutcome::Retry(why)) => Outcome::Retry(why),
            Ok(HttpOutcome::Fail(why)) => Outcome::Fail(why),
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    /// A bus target: the same event, routed by the rules of that bus.
    async fn forward(self: &Arc<Self>, scope: &Scope, arn: &str, d: &Delivery) -> Outcome {
        let bus = match self.bus(scope, Some(arn)) {
            Ok(b) => b,
            Err(e) => return Outcome::Fail(e.to_string()),
        };
        // the stored event is text shoal wrote; one that does not parse can never be delivered
        if let Err(e) = patterns::json::parse(&d.event) {
            return Outcome::Fail(format!("the event is not valid JSON: {e}"));
        }
        let mut routing = match self.route(&bus.arn, &d.event, Utc::now(), Only::All) {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let rules = std::mem::take(&mut routing.rules);
        if let Err(e) = self.commit_routing(routing).await {
            return Outcome::Retry(e.to_string());
        }
        let _ = self.tail.send(super::router::Routed {
            bus: bus.name,
            event: d.event.clone(),
            rules,
        });
        Outcome::Delivered
    }
}

/// A target ARN's service, resource and scope (`arn:aws:<service>:<region>:<account>:<resource>`).
fn target_parts(arn: &str) -> Option<(&str, &str, Scope)> {
    match arn.splitn(6, ':').collect::<Vec<_>>().as_slice() {
        [_, _, service, region, account, resource] => Some((
            service,
            resource,
            Scope {
                region: region.to_string(),
                account: account.to_string(),
            },
        )),
        _ => None,
    }
}

/// A delivery's target when it is a state machine: its ARN and scope.
pub(super) fn state_machine_target(d: &Delivery) -> Option<(&str, Scope)> {
    let arn = d.target.get("Arn")?.as_str()?;
    let (service, resource, scope) = target_parts(arn)?;
    (service == "states" && resource.starts_with("stateMachine:")).then_some((arn, scope))
}
