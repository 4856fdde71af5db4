//! Publish and PublishBatch: each message checked as SNS checks it, filtered per subscription,
//! and turned into one durable delivery per subscriber before the call answers.

use super::model::{Delivery, Subscription, Topic};
use super::signing::signature_version;
use super::subscriptions::{policy, query_encode};
use super::{Result, Sns, SnsError};
use crate::store::put;
use chrono::{DateTime, SecondsFormat, Utc};
use patterns::filter_policy::{Attribute, Scope as PolicyScope};
use serde_json::{json, Map, Value};
use sha2::Digest;

/// Largest message, attributes included (256 KiB).
pub const MAX_BYTES: usize = 256 * 1024;

/// One message to publish.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    pub message: String,
    pub subject: Option<String>,
    /// `(name, DataType, value)`; binary values are base64 as the client sent them.
    pub attributes: Vec<Attribute>,
    /// `MessageStructure: json`: `message` holds a text per protocol and a `default`.
    pub per_protocol: bool,
    pub group: Option<String>,
    pub dedup: Option<String>,
}

/// What a publish answers.
pub struct Published {
    pub message_id: String,
    pub sequence: Option<String>,
}

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn check(m: &Outgoing, topic: &Topic) -> Result<Option<Map<String, Value>>> {
    if m.message.is_empty() {
        return Err(SnsError::invalid("Empty message"));
    }
    let size = m.message.len()
        + m.attributes
            .iter()
            .map(|a| a.name.len() + a.data_type.len() + a.value.len())
            .sum::<usize>();
    if size > MAX_BYTES {
        return Err(SnsError::invalid("Message too long"));
    }
    if let Some(s) = &m.subject {
        if s.is_empty() || s.len() > 100 || s.contains(['\n', '\r']) || !s.is_ascii() {
            return Err(SnsError::invalid("Subject"));
        }
    }
    for a in &m.attributes {
        let base = a.data_type.split('.').next().unwrap_or("");
        let ok = match base {
            "String" => true,
            "Number" => a.value.trim().parse::<f64>().is_ok(),
            "Binary" => true,
            _ => false,
        };
        if !ok {
            return Err(SnsError::invalid(format!(
                "The message attribute '{}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.",
                a.name
            )));
        }
        if a.data_type == "String.Array" && !a.value.trim_start().starts_with('[') {
            return Err(SnsError::invalid(format!(
                "The message attribute '{}' with type 'String.Array' must be a JSON array.",
                a.name
            )));
        }
    }
    if topic.fifo() && m.group.is_none() {
        return Err(SnsError::invalid(
            "The MessageGroupId parameter is required for FIFO topics",
        ));
    }
    if topic.fifo()
        && m.dedup.is_none()
        && topic
            .attributes
            .get("ContentBasedDeduplication")
            .is_none_or(|v| v != "true")
    {
        return Err(SnsError::invalid(
            "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
        ));
    }
    if !m.per_protocol {
        return Ok(None);
    }
    let Ok(Value::Object(texts)) = serde_json::from_str::<Value>(&m.message) else {
        return Err(SnsError::invalid(
            "Message Structure - JSON message body failed to parse",
        ));
    };
    if !texts.get("default").is_some_and(Value::is_string) {
        return Err(SnsError::invalid(
            "Message Structure - No default entry in JSON message body",
        ));
    }
    Ok(Some(texts))
}

impl Sns {
    pub async fn publish(&self, topic_arn: &str, m: Outgoing) -> Result<Published> {
        let topic = self.topic(topic_arn)?;
        let subs = self.subscriptions_of(topic_arn)?;
        let (published, deliveries) = self.prepare(&topic, &subs, &m)?;
        self.commit(deliveries).await?;
        self.count_published(topic_arn, 1);
        Ok(published)
    }

    /// PublishBatch: each entry succeeds or fails on its own, as on SNS.
    pub async fn publish_batch(
        &self,
        topic_arn: &str,
        entries: Vec<(String, Outgoing)>,
    ) -> Result<Vec<(String, Result<Published>)>> {
        let topic = self.topic(topic_arn)?;
        let subs = self.subscriptions_of(topic_arn)?;
        let mut out = Vec::new();
        let mut all = Vec::new();
        for (id, m) in entries {
            match self.prepare(&topic, &subs, &m) {
                Ok((p, d)) => {
                    all.extend(d);
                    out.push((id, Ok(p)));
                }
                Err(e) => out.push((id, Err(e))),
            }
        }
        self.commit(all).await?;
        self.count_published(topic_arn, out.iter().filter(|(_, r)| r.is_ok()).count());
        Ok(out)
    }

    fn count_published(&self, topic_arn: &str, n: usize) {
        let (scope, name) = super::topic_scope(topic_arn);
        let dims = [("TopicName", name.as_str())];
        let values = [("NumberOfMessagesPublished", n as f64, "Count")];
        self.metrics.emit(&scope, "AWS/SNS", &dims, &values);
    }

    async fn commit(&self, deliveries: Vec<Delivery>) -> Result<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        self.store
            .commit(deliveries.iter().map(put).collect())
            .done()
            .await?;
        for d in deliveries {
            let _ = self.tx.send(d);
        }
        Ok(())
    }

    /// Checks a message and builds a delivery for each confirmed subscription it passes.
    fn prepare(
        &self,
        topic: &Topic,
        subs: &[Subscription],
        m: &Outgoing,
    ) -> Result<(Published, Vec<Delivery>)> {
        let texts = check(m, topic)?;
        let now = Utc::now();
        let message_id = uuid::Uuid::new_v4().to_string();
        let sequence = topic
            .fifo()
            .then(|| format!("{:020}", now.timestamp_nanos_opt().unwrap_or_default()));
        let dedup = m.dedup.clone().or_else(|| {
            topic.fifo().then(|| {
                let d = sha2::Sha256::digest(m.message.as_bytes());
                d.iter().map(|b| format!("{b:02x}")).collect()
            })
        });
        let mut deliveries = Vec::new();
        for s in subs.iter().filter(|s| !s.pending) {
            let text = match &texts {
                Some(t) => t
                    .get(&s.protocol)
                    .or_else(|| t.get("default"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                None => m.message.clone(),
            };
            if !passes(s, m, &text)? {
                continue;
            }
            let unsubscribe = format!(
                "{}/?Action=Unsubscribe&SubscriptionArn={}",
                self.base_url,
                query_encode(&s.arn)
            );
            let notification = || {
                let mut n = Map::new();
                n.insert("Type".into(), json!("Notification"));
                n.insert("MessageId".into(), json!(message_id));
                if let Some(q) = &sequence {
                    n.insert("SequenceNumber".into(), json!(q));
                }
                n.insert("TopicArn".into(), json!(topic.arn));
                if let Some(sub) = &m.subject {
                    n.insert("Subject".into(), json!(sub));
                }
                n.insert("Message".into(), json!(text));
                n.insert("Timestamp".into(), json!(timestamp(now)));
                n.insert("UnsubscribeURL".into(), json!(unsubscribe));
                if !m.attributes.is_empty() {
                    let attrs: Map<String, Value> = m
                        .attributes
                        .iter()
                        .map(|a| {
                            (
                                a.name.clone(),
                                json!({"Type": a.data_type, "Value": a.value}),
                            )
                        })
                        .collect();
                    n.insert("MessageAttributes".into(), Value::Object(attrs));
                }
                serde_json::to_string_pretty(&Value::Object(n)).unwrap_or_default()
            };
            let raw = s.raw() && matches!(s.protocol.as_str(), "sqs" | "http" | "https");
            // the JSON notification is signed; raw messages, plain email and Lambda events are not
            let signed =
                !raw && matches!(s.protocol.as_str(), "sqs" | "http" | "https" | "email-json");
            let body = match s.protocol.as_str() {
                "lambda" => {
                    let attrs: Map<String, Value> = m
                        .attributes
                        .iter()
                        .map(|a| (a.name.clone(), json!({"Type": a.data_type, "Value": a.value})))
                        .collect();
                    json!({"Records": [{
                        "EventSource": "aws:sns",
                        "EventVersion": "1.0",
                        "EventSubscriptionArn": s.arn,
                        "Sns": {
                            "Type": "Notification",
                            "MessageId": message_id,
                            "TopicArn": topic.arn,
                            "Subject": m.subject,
                            "Message": text,
                            "Timestamp": timestamp(now),
                            "UnsubscribeUrl": unsubscribe,
                            "MessageAttributes": attrs,
                        },
                    }]})
                    .to_string()
                }
                "email" => format!(
                    "{text}\n\n--\nIf you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:\n{unsubscribe}\n\nPlease do not reply directly to this email. If you have any questions or comments regarding this email, please contact us at https://aws.amazon.com/support"
                ),
                _ if raw => text.clone(),
                _ => notification(),
            };
            let attributes = if raw && s.protocol == "sqs" {
                Value::Object(
                    m.attributes
                        .iter()
                        .map(|a| {
                            let key = if a.data_type.starts_with("Binary") {
                                "BinaryValue"
                            } else {
                                "StringValue"
                            };
                            (
                                a.name.clone(),
                                json!({"DataType": a.data_type, key: a.value}),
                            )
                        })
                        .collect(),
                )
            } else {
                Value::Null
            };
            let subject = match s.protocol.as_str() {
                "email" | "email-json" => Some(m.subject.clone().unwrap_or_else(|| {
                    topic
                        .attributes
                        .get("DisplayName")
                        .filter(|d| !d.is_empty())
                        .cloned()
                        .unwrap_or_else(|| "AWS Notification Message".into())
                })),
                _ => m.subject.clone(),
            };
            deliveries.push(Delivery {
                id: uuid::Uuid::new_v4().to_string(),
                message_id: message_id.clone(),
                topic_arn: topic.arn.clone(),
                subscription_arn: s.arn.clone(),
                protocol: s.protocol.clone(),
                endpoint: s.endpoint.clone(),
                body,
                subject,
                attributes,
                group: m.group.clone(),
                dedup: dedup.clone(),
                kind: "Notification".into(),
                attempts: 0,
                first: now,
                due: now,
                status: "PENDING".into(),
                last_error: None,
                sign: signed.then(|| signature_version(topic).to_string()),
            });
        }
        Ok((
            Published {
                message_id,
                sequence,
            },
            deliveries,
        ))
    }
}

/// Whether a message passes a subscription's filter policy.
fn passes(s: &Subscription, m: &Outgoing, text: &str) -> Result<bool> {
    let Some(p) = policy(&s.attributes)? else {
        return Ok(true);
    };
    Ok(match p.scope() {
        PolicyScope::MessageAttributes => p.matches_attributes(&m.attributes),
        PolicyScope::MessageBody => p.matches_body(text),
    })
}
