//! A running pipe: long-polls its queue, keeps the records its filters match, enriches the
//! batch, and hands it to the target as one stored delivery before deleting the messages.
//! Records that no filter matches are deleted, as AWS does. A failed enrichment leaves the
//! messages in the queue, to come back after their visibility timeout (and to its dead-letter
//! queue after too many receives); an enrichment that answers nothing (`""`, `{}`, `[]`) filters
//! the batch out, as on AWS.

use super::model::Pipe;
use super::{Enrichment, Pipes};
use crate::events::destinations::HttpOutcome;
use crate::events::model::Delivery;
use crate::events::router::Routing;
use crate::sfn::arn::Scope;
use crate::sqs::model::Message;
use chrono::Utc;
use patterns::Pattern;
use serde_json::{json, Value};
use std::sync::Arc;

/// The record Pipes passes on for an SQS message.
fn record(m: &Message, p: &Pipe) -> Value {
    let region = p.source.split(':').nth(3).unwrap_or("");
    json!({
        "messageId": m.id,
        "receiptHandle": m.receipt,
        "body": m.body,
        "attributes": {
            "ApproximateReceiveCount": m.receive_count.to_string(),
            "SentTimestamp": m.sent.timestamp_millis().to_string(),
            "SenderId": m.sender,
            "ApproximateFirstReceiveTimestamp": m.first_received.map(|t| t.timestamp_millis().to_string()),
        },
        "messageAttributes": m.attributes.as_object().cloned().unwrap_or_default(),
        "md5OfBody": crate::sqs::messages::md5_hex(m.body.as_bytes()),
        "eventSource": "aws:sqs",
        "eventSourceARN": p.source,
        "awsRegion": region,
    })
}

/// Filters see a JSON body as JSON.
fn matches(filters: &[Pattern], record: &Value) -> bool {
    if filters.is_empty() {
        return true;
    }
    let mut seen = record.clone();
    if let Some(body) = record.get("body").and_then(Value::as_str) {
        if let Ok(j) = serde_json::from_str::<Value>(body) {
            seen["body"] = j;
        }
    }
    let text = seen.to_string();
    filters
        .iter()
        .any(|f| f.matches_text(&text).unwrap_or(false))
}

/// Logs a step of a pipe at `level` (ERROR, INFO, TRACE) when its `LogConfiguration` asks for
/// that level: to the server's log, and as Pipes' JSON records (`resourceArn`, `timestamp`,
/// `messageType`, `logLevel`, shoal's `message`) to the CloudWatch Logs group it names, in a
/// stream named after the pipe.
async fn log(pipes: &Pipes, p: &Pipe, level: &str, kind: &str, what: &str) {
    let rank = |l: &str| match l {
        "ERROR" => 1,
        "INFO" => 2,
        "TRACE" => 3,
        _ => 0,
    };
    if rank(level) == 0 || rank(level) > rank(p.log_level()) {
        return;
    }
    eprintln!("shoal: pipe {} [{level}] {what}", p.name);
    let Some(group) = p
        .log_configuration
        .pointer("/CloudwatchLogsLogDestination/LogGroupArn")
        .and_then(Value::as_str)
        .and_then(|arn| arn.split_once(":log-group:"))
        .map(|(_, g)| g.trim_end_matches(":*").to_string())
    else {
        return;
    };
    let now = Utc::now().timestamp_millis();
    let mut entry = json!({
        "resourceArn": p.arn,
        "timestamp": now,
        "messageType": kind,
        "logLevel": level,
        "message": what,
    });
    if level == "ERROR" {
        entry["error"] = json!({"message": what});
    }
    let scope = Scope::of_arn(&p.arn);
    if let Err(e) = pipes
        .logs
        .write(&scope, &group, &p.name, vec![(now, entry.to_string())])
        .await
    {
        eprintln!("shoal: cannot write the log of pipe {}: {e}", p.name);
    }
}

pub(super) async fn poll(pipes: Arc<Pipes>, p: Pipe) {
    let sqs = pipes.events.sqs.clone();
    let batch = super::batch_size(&p.source_parameters).clamp(1, 10) as usize;
    let filters: Vec<Pattern> = p
        .source_parameters
        .pointer("/FilterCriteria/Filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| Pattern::parse(f.get("Pattern")?.as_str()?).ok())
        .collect();
    loop {
        let msgs = match sqs.receive(&p.source, batch, None, Some(20)).await {
            Ok(m) => m,
            Err(e) => {
                let why = format!("cannot read {}: {e}", p.source);
                log(&pipes, &p, "ERROR", "PollingStageFailed", &why).await;
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                continue;
            }
        };
        if msgs.is_empty() {
            // a stopping server answers long polls at once: polling on would spin
            if crate::stopping::is_requested() {
                return;
            }
            continue;
        }
        let records: Vec<Value> = msgs.iter().map(|m| record(m, &p)).collect();
        let kept: Vec<Value> = records
            .iter()
            .filter(|r| matches(&filters, r))
            .cloned()
            .collect();
        let read = format!(
            "{} record(s) read, {} kept by the filters",
            records.len(),
            kept.len()
        );
        log(&pipes, &p, "TRACE", "PollingStageSucceeded", &read).await;
        if !kept.is_empty() {
            let mut payload = Value::Array(kept);
            if let Some(e) = &p.enrichment {
                payload = match enrich(&pipes, &p, e, &payload).await {
                    Ok(v) => v,
                    Err(why) => {
                        // the messages come back after their visibility timeout
                        let why = format!("enrichment {e} failed: {why}");
                        log(&pipes, &p, "ERROR", "EnrichmentInvocationFailed", &why).await;
                        continue;
                    }
                };
            }
            if nothing(&payload) {
                let why = "the enrichment answered nothing: the target is not invoked";
                log(&pipes, &p, "INFO", "ExecutionSucceeded", why).await;
            } else if let Err(e) = hand_over(&pipes, &p, &payload).await {
                let why = format!("cannot hand the batch to {}: {e}", p.target);
                log(&pipes, &p, "ERROR", "TargetInvocationFailed", &why).await;
                continue;
            } else {
                let done = format!("a batch of {} went to {}", msgs.len(), p.target);
                log(&pipes, &p, "INFO", "ExecutionSucceeded", &done).await;
            }
        }
        for m in &msgs {
            if let Some(h) = &m.receipt {
                if let Err(e) = sqs.delete_message(&p.source, h).await {
                    let why = format!("cannot delete message {}: {e}", m.id);
                    log(&pipes, &p, "ERROR", "ExecutionFailed", &why).await;
                }
            }
        }
    }
}

/// Whether an enrichment's answer filters the batch out.
fn nothing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// The most an enrichment may answer, as on AWS.
const MAX_ENRICHMENT_RESPONSE: usize = 6 * 1024 * 1024;

/// What the pipe passes to `InputTemplate`s' `<aws.pipes.*>` variables.
fn context(p: &Pipe) -> super::template::PipeContext<'_> {
    super::template::PipeContext {
        name: &p.name,
        arn: &p.arn,
        source: &p.source,
        target: &p.target,
    }
}

/// Each record of the batch through an `InputTemplate` (in `parameters`), when there is one.
fn shaped(p: &Pipe, parameters: &Value, batch: &Value) -> Result<Value, String> {
    let Some(t) = parameters.get("InputTemplate").and_then(Value::as_str) else {
        return Ok(batch.clone());
    };
    let t = super::template::PipeTemplate::compile(t)?;
    let records = batch
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![batch.clone()]);
    let ctx = context(p);
    Ok(Value::Array(
        records
            .iter()
            .map(|r| t.apply(r, &ctx))
            .collect::<Result<Vec<_>, _>>()?,
    ))
}

/// Runs the enrichment on the batch, shaped by `EnrichmentParameters.InputTemplate`; its answer
/// is the new batch. An Express state machine or a function gets the whole batch as a JSON
/// array; an API destination, which cannot take batches, gets the one record of a batch of one.
async fn enrich(pipes: &Arc<Pipes>, p: &Pipe, arn: &str, batch: &Value) -> Result<Value, String> {
    let input = shaped(p, &p.enrichment_parameters, batch)?;
    match Enrichment::of(arn) {
        Some(Enrichment::StateMachine) => run_express(pipes, arn, &input).await,
        Some(Enrichment::Function) => invoke(pipes, arn, &input).await,
        Some(Enrichment::ApiDestination) => call(pipes, p, arn, &input).await,
        None => Err(format!("{arn} cannot enrich a pipe")),
    }
}

/// An Express state machine run synchronously; its output is the answer (Step Functions
/// bounds it at 256 KiB, well under the enrichment limit).
async fn run_express(pipes: &Arc<Pipes>, arn: &str, input: &Value) -> Result<Value, String> {
    let sfn = pipes.events.sfn.clone();
    let scope = Scope::of_arn(arn);
    let (arn, input) = (arn.to_string(), input.to_string());
    let r = tokio::task::spawn_blocking(move || sfn.run_express(&scope, &arn, None, Some(input)))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    match (r.result.status.as_str(), &r.result.output) {
        ("SUCCEEDED", Some(out)) => Ok(out.clone()),
        (status, _) => Err(format!(
            "the execution ended {status}: {} {}",
            r.result.error.unwrap_or_default(),
            r.result.cause.unwrap_or_default()
        )),
    }
}

/// A function invoked synchronously (RequestResponse); what it returns is the answer, and a
/// function error fails the enrichment.
async fn invoke(pipes: &Arc<Pipes>, arn: &str, input: &Value) -> Result<Value, String> {
    let lambda = pipes
        .events
        .lambda()
        .ok_or("the function service is not running")?;
    let f = lambda
        .function(&Scope::of_arn(arn), arn)
        .map_err(|e| format!("{}: {}", e.code, e.message))?;
    let r = lambda
        .invoke(&f, input.to_string().into())
        .await
        .map_err(|e| format!("{}: {}", e.code, e.message))?;
    let text = String::from_utf8_lossy(&r.payload);
    if let Some(kind) = r.function_error {
        return Err(format!("the function failed ({kind}): {text}"));
    }
    answer(&text)
}

/// An API destination called with the record (and `EnrichmentParameters.HttpParameters`); the
/// response body is the answer.
async fn call(pipes: &Arc<Pipes>, p: &Pipe, arn: &str, input: &Value) -> Result<Value, String> {
    let (dest, conn) = pipes
        .events
        .destination_for(arn)
        .map_err(|e| e.to_string())?;
    let record = match input {
        Value::Array(a) if a.len() == 1 => a[0].clone(),
        Value::Array(a) => {
            return Err(format!(
                "an API destination takes one record at a time, not {}",
                a.len()
            ))
        }
        other => other.clone(),
    };
    let body = match &record {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let params = json!({"HttpParameters": p.enrichment_parameters.get("HttpParameters")});
    let outcome = tokio::task::spawn_blocking(move || {
        crate::events::destinations::invoke(&dest, &conn, &params, &body, true)
    })
    .await
    .map_err(|e| e.to_string())?;
    match outcome {
        HttpOutcome::Delivered(Some(text)) => answer(&text),
        HttpOutcome::Delivered(None) => Err("the answer could not be read".into()),
        HttpOutcome::Retry(why) | HttpOutcome::Fail(why) => Err(why),
    }
}

/// An answer's text: JSON when it is JSON, else the text itself; refused past the limit.
fn answer(text: &str) -> Result<Value, String> {
    if text.len() > MAX_ENRICHMENT_RESPONSE {
        return Err(format!(
            "the answer is larger than {MAX_ENRICHMENT_RESPONSE} bytes"
        ));
    }
    Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())))
}

/// The batch becomes one stored delivery to the target (retried like any event delivery).
async fn hand_over(pipes: &Arc<Pipes>, p: &Pipe, payload: &Value) -> Result<(), String> {
    // an InputTemplate shapes each record of the batch
    let payload = &shaped(p, &p.target_parameters, payload)?;
    let mut target = json!({"Id": p.name, "Arn": p.target});
    if let Some(g) = p
        .target_parameters
        .pointer("/SqsQueueParameters/MessageGroupId")
    {
        target["SqsParameters"] = json!({"MessageGroupId": g});
    }
    let now = Utc::now();
    let text = payload.to_string();
    let d = Delivery {
        id: uuid::Uuid::new_v4().to_string(),
        event_id: uuid::Uuid::new_v4().to_string(),
        rule_arn: p.arn.clone(),
        target,
        input: text.clone(),
        event: text,
        attempts: 0,
        first: now,
        due: now,
        status: "PENDING".into(),
        last_error: None,
    };
    pipes
        .events
        .commit_routing(Routing {
            deliveries: vec![d],
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())
}
