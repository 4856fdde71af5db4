//! The delivery worker: sends each stored delivery when it is due and deletes it once the
//! endpoint took it; otherwise retries on SNS's schedule for the protocol (queues: 100,015
//! attempts over 23 days; email: 50 over 6 hours; HTTP/S: the `DeliveryPolicy`, by default
//! three retries 20 seconds apart). A delivery whose retries are spent goes to the
//! subscription's dead-letter queue, or is kept as `FAILED` and logged — never dropped silently.

use super::model::{Delivery, Subscription, Topic};
use super::Sns;
use crate::sqs::messages::Outgoing;
use crate::store::{delete, put, Records, Scan};
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

/// One phase of a retry schedule: `count` retries whose delays go from `from` to `to` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Phase {
    count: u32,
    from: f64,
    to: f64,
    exponential: bool,
}

const fn phase(count: u32, from: f64, to: f64, exponential: bool) -> Phase {
    Phase {
        count,
        from,
        to,
        exponential,
    }
}

/// AWS-managed endpoints (SQS, Lambda).
const MANAGED: [Phase; 4] = [
    phase(3, 0.0, 0.0, false),
    phase(2, 1.0, 1.0, false),
    phase(10, 1.0, 20.0, true),
    phase(100_000, 20.0, 20.0, false),
];
/// SMTP.
const SMTP: [Phase; 3] = [
    phase(2, 10.0, 10.0, false),
    phase(10, 10.0, 600.0, true),
    phase(38, 600.0, 600.0, false),
];

/// The HTTP/S schedule of a `DeliveryPolicy` (the subscription's `healthyRetryPolicy`, else the
/// topic's `http.defaultHealthyRetryPolicy`, else three retries 20 seconds apart).
fn http_schedule(sub: Option<&Subscription>, topic: Option<&Topic>) -> Vec<Phase> {
    let parse = |t: Option<&String>| t.and_then(|t| serde_json::from_str::<Value>(t).ok());
    let policy = parse(sub.and_then(|s| s.attributes.get("DeliveryPolicy")))
        .and_then(|p| p.get("healthyRetryPolicy").cloned())
        .or_else(|| {
            parse(topic.and_then(|t| t.attributes.get("DeliveryPolicy")))
                .and_then(|p| p.pointer("/http/defaultHealthyRetryPolicy").cloned())
        })
        .unwrap_or(Value::Null);
    let n = |k: &str, d: u64| policy.get(k).and_then(Value::as_u64).unwrap_or(d);
    let (min, max) = (
        n("minDelayTarget", 20) as f64,
        n("maxDelayTarget", 20) as f64,
    );
    let retries = n("numRetries", 3) as u32;
    let (none, at_min, at_max) = (
        n("numNoDelayRetries", 0) as u32,
        n("numMinDelayRetries", 0) as u32,
        n("numMaxDelayRetries", 0) as u32,
    );
    let backoff = retries.saturating_sub(none + at_min + at_max);
    let exponential = policy
        .get("backoffFunction")
        .and_then(Value::as_str)
        .is_some_and(|f| f != "linear");
    vec![
        phase(none, 0.0, 0.0, false),
        phase(at_min, min, min, false),
        phase(backoff, min, max, exponential),
        phase(at_max, max, max, false),
    ]
}

/// The delay before retry `n` (1-based), or `None` once the schedule is spent.
fn delay(schedule: &[Phase], n: u32) -> Option<f64> {
    let mut left = n;
    for p in schedule {
        if left <= p.count {
            if p.count <= 1 || p.from == p.to {
                return Some(p.from);
            }
            let f = (left - 1) as f64 / (p.count - 1) as f64;
            return Some(if p.exponential {
                p.from * (p.to / p.from.max(0.001)).powf(f)
            } else {
                p.from + (p.to - p.from) * f
            });
        }
        left -= p.count;
    }
    None
}

/// What one attempt came to.
enum Outcome {
    Delivered,
    Retry(String),
    Fail(String),
}

pub(super) fn spawn(sns: &Arc<Sns>, rx: UnboundedReceiver<Delivery>, pending: Vec<Delivery>) {
    let sns = sns.clone();
    crate::due::spawn(
        rx,
        pending,
        |d| (d.due.timestamp_millis(), d.id.clone()),
        move |d| {
            let sns = sns.clone();
            async move { sns.attempt(d).await }
        },
    );
}

impl Sns {
    pub(super) fn pending_deliveries(&self) -> super::Result<Vec<Delivery>> {
        Ok(self.store.list(Scan {
            status: Some("PENDING"),
            ..Default::default()
        })?)
    }

    /// Deliveries whose retries are spent, newest first.
    pub fn failed_deliveries(&self) -> super::Result<Vec<Delivery>> {
        Ok(self.store.list(Scan {
            status: Some("FAILED"),
            descending: true,
            ..Default::default()
        })?)
    }

    async fn attempt(&self, mut d: Delivery) {
        if let Some(version) = d.sign.take() {
            // RSA takes a couple of milliseconds: off the runtime's task list while it runs
            d.body = tokio::task::block_in_place(|| {
                self.signer.sign_body(&d.body, &version, &self.base_url)
            });
        }
        let outcome = self.send(&d).await;
        d.attempts += 1;
        if d.kind == "Notification" {
            let (scope, name) = super::topic_scope(&d.topic_arn);
            let metric = match outcome {
                Outcome::Delivered => Some("NumberOfNotificationsDelivered"),
                Outcome::Fail(_) => Some("NumberOfNotificationsFailed"),
                Outcome::Retry(_) => None,
            };
            if let Some(metric) = metric {
                self.metrics.emit(
                    &scope,
                    "AWS/SNS",
                    &[("TopicName", name.as_str())],
                    &[(metric, 1.0, "Count")],
                );
            }
        }
        match outcome {
            Outcome::Delivered => {
                let _ = self
                    .store
                    .commit(vec![delete::<Delivery>(&d.id)])
                    .done()
                    .await;
            }
            Outcome::Retry(why) => {
                let sub = self
                    .store
                    .load::<Subscription>(&d.subscription_arn)
                    .ok()
                    .flatten();
                let topic = self.store.load::<Topic>(&d.topic_arn).ok().flatten();
                let schedule = match d.protocol.as_str() {
                    "http" | "https" => http_schedule(sub.as_ref(), topic.as_ref()),
                    "email" | "email-json" => SMTP.to_vec(),
                    _ => MANAGED.to_vec(),
                };
                match delay(&schedule, d.attempts) {
                    Some(s) if sub.is_some() || d.kind == "SubscriptionConfirmation" => {
                        let ms = (s * self.wait_scale * 1000.0) as i64;
                        d.due = Utc::now() + Duration::milliseconds(ms);
                        d.last_error = Some(why);
                        if self.store.commit(vec![put(&d)]).done().await.is_ok() {
                            let _ = self.tx.send(d);
                        }
                    }
                    _ => self.give_up(d, sub.as_ref(), why).await,
                }
            }
            Outcome::Fail(why) => {
                let sub = self
                    .store
                    .load::<Subscription>(&d.subscription_arn)
                    .ok()
                    .flatten();
                self.give_up(d, sub.as_ref(), why).await;
            }
        }
    }

    async fn send(&self, d: &Delivery) -> Outcome {
        match d.protocol.as_str() {
            "sqs" => {
                let m = Outgoing {
                    body: d.body.clone(),
                    delay: None,
                    attributes: if d.attributes.is_null() {
                        json!({})
                    } else {
                        d.attributes.clone()
                    },
                    group: d.group.clone(),
                    dedup: d.dedup.clone(),
                };
                match self.sqs.send(&d.endpoint, m).await {
                    Ok(_) => Outcome::Delivered,
                    Err(e) => Outcome::Retry(format!("{}: {e}", e.name)),
                }
            }
            "lambda" => {
                let Some(lambda) = self.lambda.get().and_then(std::sync::Weak::upgrade) else {
                    return Outcome::Retry("the function service is not running yet".into());
                };
                let scope = crate::sfn::arn::Scope::of_arn(&d.endpoint);
                // SNS invokes functions asynchronously; their own retries take it from there
                match lambda.function(&scope, &d.endpoint) {
                    Ok(f) => match lambda.invoke_async(&f, d.body.clone().into()).await {
                        Ok(_) => Outcome::Delivered,
                        Err(e) => Outcome::Retry(format!("{}: {}", e.code, e.message)),
                    },
                    Err(e) => Outcome::Retry(format!("{}: {}", e.code, e.message)),
                }
            }
            "http" | "https" => {
                let d = d.clone();
                tokio::task::spawn_blocking(move || post(&d))
                    .await
                    .unwrap_or_else(|e| Outcome::Retry(e.to_string()))
            }
            "email" | "email-json" => {
                let subject = d.subject.clone().unwrap_or_default();
                match self.mail.send(&d.endpoint, &subject, &d.body).await {
                    Ok(()) => Outcome::Delivered,
                    Err(e) if e.starts_with("bad ") => Outcome::Fail(e),
                    Err(e) => Outcome::Retry(e),
                }
            }
            p => Outcome::Fail(format!("shoal does not deliver to the {p} protocol")),
        }
    }

    /// Sends a spent delivery to the subscription's dead-letter queue, or keeps it as FAILED.
    async fn give_up(&self, mut d: Delivery, sub: Option<&Subscription>, why: String) {
        let dlq = sub
            .and_then(|s| s.attributes.get("RedrivePolicy"))
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| p.get("deadLetterTargetArn")?.as_str().map(String::from));
        if let Some(dlq) = dlq {
            let m = Outgoing {
                body: d.body.clone(),
                delay: None,
                attributes: json!({}),
                group: d.group.clone(),
                dedup: d.dedup.clone(),
            };
            if self.sqs.send(&dlq, m).await.is_ok() {
                eprintln!(
                    "shoal: SNS message {} to {} failed after {} attempt(s) ({why}); sent to its dead-letter queue {dlq}",
                    d.message_id, d.endpoint, d.attempts
                );
                let _ = self
                    .store
                    .commit(vec![delete::<Delivery>(&d.id)])
                    .done()
                    .await;
                return;
            }
        }
        eprintln!(
            "shoal: SNS message {} to {} ({}) failed after {} attempt(s): {why}",
            d.message_id, d.endpoint, d.protocol, d.attempts
        );
        d.status = "FAILED".into();
        d.last_error = Some(why);
        let _ = self.store.commit(vec![put(&d)]).done().await;
    }
}

/// POSTs a notification or confirmation to an HTTP/S endpoint as SNS does. 2xx is delivered;
/// 5xx, 429 and network errors are retried; other answers are final.
fn post(d: &Delivery) -> Outcome {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(15)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder()
        .method("POST")
        .uri(&d.endpoint)
        .header("Content-Type", "text/plain; charset=UTF-8")
        .header("User-Agent", "Amazon Simple Notification Service Agent")
        .header("x-amz-sns-message-type", d.kind.as_str())
        .header("x-amz-sns-message-id", d.message_id.as_str())
        .header("x-amz-sns-topic-arn", d.topic_arn.as_str());
    if d.kind == "Notification" {
        req = req.header("x-amz-sns-subscription-arn", d.subscription_arn.as_str());
    }
    let req = match req.body(d.body.as_bytes().to_vec()) {
        Ok(r) => r,
        Err(e) => return Outcome::Fail(format!("invalid endpoint {}: {e}", d.endpoint)),
    };
    match agent.run(req) {
        Ok(r) => {
            let s = r.status().as_u16();
            match s {
                200..=299 => Outcome::Delivered,
                429 | 500..=599 => Outcome::Retry(format!("the endpoint answered {s}")),
                _ => Outcome::Fail(format!("the endpoint answered {s}")),
            }
        }
        Err(e) => Outcome::Retry(format!("cannot reach {}: {e}", d.endpoint)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_aws() {
        // SQS: 3 immediate, 2 at 1 s, backoff to 20 s, then 20 s
        assert_eq!(delay(&MANAGED, 1), Some(0.0));
        assert_eq!(delay(&MANAGED, 4), Some(1.0));
        assert_eq!(delay(&MANAGED, 6), Some(1.0));
        assert!((delay(&MANAGED, 15).unwrap() - 20.0).abs() < 1e-9);
        assert_eq!(delay(&MANAGED, 100_015), Some(20.0));
        assert_eq!(delay(&MANAGED, 100_016), None);
        // email: 50 attempts in all, about 6 hours
        let total: f64 = (1..=49).map(|n| delay(&SMTP, n).unwrap()).sum();
        assert!(delay(&SMTP, 50).is_some() && delay(&SMTP, 51).is_none());
        assert!((5.0 * 3600.0..7.5 * 3600.0).contains(&total), "{total}");
        // HTTP default: 3 retries 20 s apart
        let http = http_schedule(None, None);
        assert_eq!(
            (1..=4).map(|n| delay(&http, n)).collect::<Vec<_>>(),
            [Some(20.0), Some(20.0), Some(20.0), None]
        );
    }
}
