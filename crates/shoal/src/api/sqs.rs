//! `AmazonSQS.*` on the AWS JSON 1.0 protocol (query-compatible: errors also carry the query
//! code the SDKs map to their exception classes).

use super::{missing, opt_str, req_str, App, AwsError};
use crate::sfn::arn::Scope;
use crate::sqs::messages::Outgoing;
use crate::sqs::model::Message;
use crate::sqs::queues::{arn_of_url, url_of};
use crate::sqs::SqsError;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

type R = Result<Value, AwsError>;

impl From<SqsError> for AwsError {
    fn from(e: SqsError) -> AwsError {
        let status = if e.name == "InternalError" { 500 } else { 400 };
        let mut a = AwsError::new(
            status,
            &format!("com.amazonaws.sqs#{}", e.name),
            e.to_string(),
        );
        a.query_code = Some(e.query_code.to_string());
        a
    }
}

fn strings(v: &Value, k: &str) -> HashMap<String, String> {
    v.get(k)
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn list(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(String::from))
        .collect()
}

fn int(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

fn queue(scope: &Scope, v: &Value) -> Result<String, AwsError> {
    Ok(arn_of_url(scope, &req_str(v, "QueueUrl")?)?)
}

fn outgoing(v: &Value) -> Result<Outgoing, AwsError> {
    Ok(Outgoing {
        body: req_str(v, "MessageBody")?,
        delay: int(v, "DelaySeconds"),
        attributes: v.get("MessageAttributes").cloned().unwrap_or(Value::Null),
        group: opt_str(v, "MessageGroupId")?,
        dedup: opt_str(v, "MessageDeduplicationId")?,
    })
}

/// A received message as ReceiveMessage shows it.
fn message(m: &Message, system: &[String], wanted: &[String]) -> Value {
    let mut out = json!({
        "MessageId": m.id,
        "ReceiptHandle": m.receipt,
        "MD5OfBody": crate::sqs::messages::md5_hex(m.body.as_bytes()),
        "Body": m.body,
    });
    let all = |names: &[String]| names.iter().any(|n| n == "All" || n == ".*");
    let mut attrs = Map::new();
    let mut add = |k: &str, v: String| {
        if all(system) || system.iter().any(|n| n == k) {
            attrs.insert(k.into(), json!(v));
        }
    };
    add("SenderId", m.sender.clone());
    add("SentTimestamp", m.sent.timestamp_millis().to_string());
    add("ApproximateReceiveCount", m.receive_count.to_string());
    if let Some(t) = m.first_received {
        add(
            "ApproximateFirstReceiveTimestamp",
            t.timestamp_millis().to_string(),
        );
    }
    if let Some(g) = &m.group {
        add("MessageGroupId", g.clone());
        add("SequenceNumber", format!("{:020}", m.seq));
    }
    if let Some(d) = &m.dedup {
        add("MessageDeduplicationId", d.clone());
    }
    if !attrs.is_empty() {
        out["Attributes"] = Value::Object(attrs);
    }
    if let Some(o) = m.attributes.as_object() {
        let picked: Map<String, Value> = o
            .iter()
            .filter(|(k, _)| {
                all(wanted)
                    || wanted
                        .iter()
                        .any(|w| w == *k || w.strip_suffix(".*").is_some_and(|p| k.starts_with(p)))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !picked.is_empty() {
            let picked = Value::Object(picked);
            if let Some(md5) = crate::sqs::messages::md5_attributes(&picked) {
                out["MD5OfMessageAttributes"] = json!(md5);
            }
            out["MessageAttributes"] = picked;
        }
    }
    out
}

/// The ids and errors of a batch call.
fn batch_answer(ok: Vec<Value>, failed: Vec<(String, SqsError)>) -> Value {
    json!({
        "Successful": ok,
        "Failed": failed.into_iter().map(|(id, e)| json!({
            "Id": id, "SenderFault": true, "Code": e.query_code, "Message": e.to_string()
        })).collect::<Vec<_>>(),
    })
}

/// A batch call's entries (1 to 10), each with its `Id`.
fn entries(v: &Value) -> Result<Vec<(String, Value)>, AwsError> {
    let e = v
        .get("Entries")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| missing("entries"))?;
    if e.is_empty() || e.len() > 10 {
        return Err(SqsError::new(
            "TooManyEntriesInBatchRequest",
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are 10. You have sent {}.",
                e.len()
            ),
        )
        .into());
    }
    Ok(e.into_iter()
        .map(|x| {
            let id = x
                .get("Id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            (id, x)
        })
        .collect())
}

pub async fn handle(app: &App, scope: &Scope, base: &str, action: &str, v: &Value) -> R {
    let sqs = &app.sqs;
    Ok(match action {
        "CreateQueue" => {
            let tags: BTreeMap<String, String> = strings(v, "tags").into_iter().collect();
            let q = sqs
                .create_queue(
                    scope,
                    &req_str(v, "QueueName")?,
                    &strings(v, "Attributes"),
                    tags,
                )
                .await?;
            json!({"QueueUrl": url_of(base, &q)})
        }
        "GetQueueUrl" => {
            let name = req_str(v, "QueueName")?;
            let q = sqs.queue(&crate::sqs::queues::queue_arn(scope, &name))?;
            json!({"QueueUrl": url_of(base, &q)})
        }
        "ListQueues" => {
            let qs = sqs.list_queues(scope, opt_str(v, "QueueNamePrefix")?.as_deref());
            json!({"QueueUrls": qs.iter().map(|q| url_of(base, q)).collect::<Vec<_>>()})
        }
        "DeleteQueue" => {
            sqs.delete_queue(&queue(scope, v)?).await?;
            json!({})
        }
        "GetQueueAttributes" => {
            json!({"Attributes": sqs.attributes(&queue(scope, v)?, &list(v, "AttributeNames"))?})
        }
        "SetQueueAttributes" => {
            sqs.set_attributes(&queue(scope, v)?, &strings(v, "Attributes"))
                .await?;
            json!({})
        }
        "TagQueue" => {
            let tags: BTreeMap<String, String> = strings(v, "Tags").into_iter().collect();
            sqs.retag(&queue(scope, v)?, tags, &[]).await?;
            json!({})
        }
        "UntagQueue" => {
            sqs.retag(&queue(scope, v)?, BTreeMap::new(), &list(v, "TagKeys"))
                .await?;
            json!({})
        }
        "ListQueueTags" => json!({"Tags": sqs.queue(&queue(scope, v)?)?.tags}),
        "PurgeQueue" => {
            sqs.purge(&queue(scope, v)?).await?;
            json!({})
        }
        "SendMessage" => {
            let s = sqs.send(&queue(scope, v)?, outgoing(v)?).await?;
            let mut out = json!({"MessageId": s.id, "MD5OfMessageBody": s.md5_body});
            if let Some(m) = s.md5_attributes {
                out["MD5OfMessageAttributes"] = json!(m);
            }
            if let Some(n) = s.seq {
                out["SequenceNumber"] = json!(format!("{n:020}"));
            }
            out
        }
        "SendMessageBatch" => {
            let arn = queue(scope, v)?;
            let (mut ok, mut failed) = (Vec::new(), Vec::new());
            for (id, e) in entries(v)? {
                let sent = match outgoing(&e) {
                    Ok(m) => sqs.send(&arn, m).await,
                    Err(err) => Err(SqsError::invalid(err.message)),
                };
                match sent {
                    Ok(s) => {
                        let mut r =
                            json!({"Id": id, "MessageId": s.id, "MD5OfMessageBody": s.md5_body});
                        if let Some(m) = s.md5_attributes {
                            r["MD5OfMessageAttributes"] = json!(m);
                        }
                        ok.push(r);
                    }
                    Err(e) => failed.push((id, e)),
                }
            }
            batch_answer(ok, failed)
        }
        "ReceiveMessage" => {
            let arn = queue(scope, v)?;
            let max = int(v, "MaxNumberOfMessages").unwrap_or(1);
            let got = sqs
                .receive(
                    &arn,
                    max.clamp(0, 100) as usize,
                    int(v, "VisibilityTimeout"),
                    int(v, "WaitTimeSeconds"),
                )
                .await?;
            let mut system = list(v, "AttributeNames");
            system.extend(list(v, "MessageSystemAttributeNames"));
            let wanted = list(v, "MessageAttributeNames");
            json!({"Messages": got.iter().map(|m| message(m, &system, &wanted)).collect::<Vec<_>>()})
        }
        "DeleteMessage" => {
            sqs.delete_message(&queue(scope, v)?, &req_str(v, "ReceiptHandle")?)
                .await?;
            json!({})
        }
        "DeleteMessageBatch" => {
            let arn = queue(scope, v)?;
            let (mut ok, mut failed) = (Vec::new(), Vec::new());
            for (id, e) in entries(v)? {
                let handle = e.get("ReceiptHandle").and_then(Value::as_str).unwrap_or("");
                match sqs.delete_message(&arn, handle).await {
                    Ok(()) => ok.push(json!({"Id": id})),
                    Err(e) => failed.push((id, e)),
                }
            }
            batch_answer(ok, failed)
        }
        "ChangeMessageVisibility" => {
            let secs = int(v, "VisibilityTimeout").ok_or_else(|| missing("visibilityTimeout"))?;
            sqs.change_visibility(&queue(scope, v)?, &req_str(v, "ReceiptHandle")?, secs)
                .await?;
            json!({})
        }
        "ChangeMessageVisibilityBatch" => {
            let arn = queue(scope, v)?;
            let (mut ok, mut failed) = (Vec::new(), Vec::new());
            for (id, e) in entries(v)? {
                let handle = e.get("ReceiptHandle").and_then(Value::as_str).unwrap_or("");
                let secs = e
                    .get("VisibilityTimeout")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                match sqs.change_visibility(&arn, handle, secs).await {
                    Ok(()) => ok.push(json!({"Id": id})),
                    Err(e) => failed.push((id, e)),
                }
            }
            batch_answer(ok, failed)
        }
        _ => {
            return Err(AwsError::new(
                400,
                "UnknownOperationException",
                format!("Unknown operation AmazonSQS.{action}"),
            ))
        }
    })
}
