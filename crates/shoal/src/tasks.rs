//! The Step Functions integrations that shoal's own services carry out: `lambda:invoke` (and
//! Lambda function ARNs as resources), `sns:publish`, `sqs:sendMessage` and
//! `events:putEvents`, each with AWS's parameters, output shape and error names
//! (`SNS.NotFoundException`, a function's own error type, ...).

use crate::events::put::{Entry, Sender};
use crate::events::Events;
use crate::sfn::arn::Scope;
use crate::sfn::integrations::LocalTasks;
use crate::sns::Sns;
use crate::sqs::Sqs;
use crate::values::text;
use asl::runner::{ReadCall, TaskOutcome};
use asl::states::result_writer::Export;
use asl::Failure;
use patterns::filter_policy::Attribute;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;

pub struct Local {
    pub sns: Arc<Sns>,
    pub sqs: Arc<Sqs>,
    pub events: Arc<Events>,
    pub lambda: Arc<crate::lambda::Lambda>,
    pub glue: Arc<crate::glue::Glue>,
    pub s3: Arc<crate::s3::S3>,
    pub account: String,
    pub runtime: tokio::runtime::Handle,
}

fn failure(error: String, cause: impl Into<String>) -> TaskOutcome {
    TaskOutcome::Failure {
        error,
        cause: cause.into(),
    }
}

/// The metadata the optimized integrations add to a service's answer.
fn with_metadata(mut v: Value) -> Value {
    let id = uuid::Uuid::new_v4().to_string();
    v["SdkHttpMetadata"] = json!({
        "AllHttpHeaders": {"x-amzn-RequestId": [id]},
        "HttpHeaders": {"x-amzn-RequestId": id},
        "HttpStatusCode": 200,
    });
    v["SdkResponseMetadata"] = json!({"RequestId": id});
    v
}

/// `{name: {DataType, StringValue | BinaryValue}}`, the SDK shape of message attributes.
fn attributes(p: &Value) -> Vec<Attribute> {
    p.get("MessageAttributes")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, a)| Attribute {
            name: name.clone(),
            data_type: a
                .get("DataType")
                .and_then(Value::as_str)
                .unwrap_or("String")
                .to_string(),
            value: a
                .get("StringValue")
                .or_else(|| a.get("BinaryValue"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
        .collect()
}

impl Local {
    /// Runs a service call from the engine's blocking thread.
    fn wait<T>(&self, f: impl Future<Output = T>) -> T {
        tokio::task::block_in_place(|| self.runtime.block_on(f))
    }

    fn publish(&self, p: &Value) -> Result<Value, TaskOutcome> {
        let invalid = |m: &str| {
            failure(
                "SNS.InvalidParameterException".into(),
                format!("Invalid parameter: {m}"),
            )
        };
        let topic = text(p, "TopicArn")
            .or_else(|| text(p, "TargetArn"))
            .ok_or_else(|| {
                invalid("TopicArn or TargetArn Reason: no value for required parameter")
            })?;
        let m = crate::sns::publish::Outgoing {
            message: text(p, "Message")
                .ok_or_else(|| invalid("Message Reason: no value for required parameter"))?,
            subject: text(p, "Subject"),
            attributes: attributes(p),
            per_protocol: text(p, "MessageStructure").is_some_and(|s| s == "json"),
            group: text(p, "MessageGroupId"),
            dedup: text(p, "MessageDeduplicationId"),
        };
        match self.wait(self.sns.publish(&topic, m)) {
            Ok(r) => {
                let mut out = json!({"MessageId": r.message_id});
                if let Some(s) = r.sequence {
                    out["SequenceNumber"] = json!(s);
                }
                Ok(with_metadata(out))
            }
            Err(e) => Err(failure(format!("SNS.{}Exception", e.code), e.message)),
        }
    }

    fn send_message(&self, region: &str, p: &Value) -> Result<Value, TaskOutcome> {
        let scope = Scope {
            region: region.into(),
            account: self.account.clone(),
        };
        let missing = |k: &str| {
            failure(
                "SQS.MissingParameterException".into(),
                format!("The request must contain the parameter {k}."),
            )
        };
        let url = text(p, "QueueUrl").ok_or_else(|| missing("QueueUrl"))?;
        let body = text(p, "MessageBody").ok_or_else(|| missing("MessageBody"))?;
        let sqs_error = |e: crate::sqs::SqsError| {
            failure(
                format!("SQS.{}Exception", e.name.trim_end_matches("Exception")),
                e.message,
            )
        };
        let arn = crate::sqs::queues::arn_of_url(&scope, &url).map_err(sqs_error)?;
        let m = crate::sqs::messages::Outgoing {
            body,
            delay: p.get("DelaySeconds").and_then(Value::as_i64),
            attributes: p.get("MessageAttributes").cloned().unwrap_or(json!({})),
            group: text(p, "MessageGroupId"),
            dedup: text(p, "MessageDeduplicationId"),
        };
        let sent = self.wait(self.sqs.send(&arn, m)).map_err(sqs_error)?;
        let mut out = json!({"MD5OfMessageBody": sent.md5_body, "MessageId": sent.id});
        if let Some(a) = sent.md5_attributes {
            out["MD5OfMessageAttributes"] = json!(a);
        }
        if let Some(s) = sent.seq {
            out["SequenceNumber"] = json!(s.to_string());
        }
        Ok(with_metadata(out))
    }

    fn put_events(&self, region: &str, p: &Value) -> Result<Value, TaskOutcome> {
        let scope = Scope {
            region: region.into(),
            account: self.account.clone(),
        };
        let list = p
            .get("Entries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let entries: Vec<Entry> = list.iter().map(Entry::from_json).collect();
        let results = self
            .wait(self.events.put_events(&scope, &entries, Sender::Client))
            .map_err(|e| failure(format!("EventBridge.{}", e.code()), e.to_string()))?;
        let failed = results.iter().filter(|r| r.is_err()).count();
        let out: Vec<Value> = results
            .into_iter()
            .map(|r| match r {
                Ok(id) => json!({"EventId": id}),
                Err((code, message)) => json!({"ErrorCode": code, "ErrorMessage": message}),
            })
            .collect();
        let v = json!({"Entries": out, "FailedEntryCount": failed});
        if failed > 0 {
            return Err(failure("EventBridge.FailedEntry".into(), v.to_string()));
        }
        Ok(with_metadata(v))
    }
}

impl Local {
    /// `lambda:invoke` (`whole`: the integration's output with `Payload`, `StatusCode` ...)
    /// or a function ARN as the resource (the output is the function's result).
    fn invoke(
        &self,
        region: &str,
        name: &str,
        payload: Vec<u8>,
        kind: &str,
        whole: bool,
    ) -> Result<Value, TaskOutcome> {
        let scope = Scope {
            region: region.into(),
            account: self.account.clone(),
        };
        let service =
            |e: crate::lambda::LambdaError| failure(format!("Lambda.{}", e.code), e.message);
        let f = self.lambda.function(&scope, name).map_err(service)?;
        match kind {
            "Event" => {
                self.wait(self.lambda.invoke_async(&f, payload.into()))
                    .map_err(service)?;
                return Ok(with_metadata(json!({"Payload": "", "StatusCode": 202})));
            }
            "DryRun" => return Ok(with_metadata(json!({"Payload": "", "StatusCode": 204}))),
            _ => {}
        }
        let r = self
            .wait(self.lambda.invoke(&f, payload.into()))
            .map_err(service)?;
        let text = String::from_utf8_lossy(&r.payload).into_owned();
        if r.function_error.is_some() {
            let error = r.error_type().unwrap_or_else(|| "Lambda.Unknown".into());
            return Err(failure(error, text));
        }
        let result = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
        if !whole {
            return Ok(result);
        }
        Ok(with_metadata(
            json!({"ExecutedVersion": "$LATEST", "Payload": result, "StatusCode": 200}),
        ))
    }
}

impl Local {
    /// `glue:startJobRun` answers the run id; `.sync` waits for the run's end, and a run that
    /// does not succeed fails the state with `States.TaskFailed` and the run as its cause.
    fn start_job_run(&self, region: &str, p: &Value, sync: bool) -> Result<Value, TaskOutcome> {
        let scope = Scope {
            region: region.to_string(),
            account: self.account.clone(),
        };
        let glue_error =
            |e: crate::glue::GlueError| failure(format!("Glue.{}", e.code()), e.to_string());
        let Some(name) = text(p, "JobName") else {
            return Err(failure(
                "Glue.InvalidInputException".into(),
                "JobName is required",
            ));
        };
        let id = self
            .wait(self.glue.start_job_run(&scope, &name, p))
            .map_err(glue_error)?;
        if !sync {
            return Ok(json!({"JobRunId": id}));
        }
        let run = self
            .wait(self.glue.wait_job_run(&scope, &name, &id))
            .map_err(glue_error)?;
        let shape = run.shape();
        if run.state == "SUCCEEDED" {
            Ok(shape)
        } else {
            Err(failure("States.TaskFailed".into(), shape.to_string()))
        }
    }
}

impl LocalTasks for Local {
    fn read_items(&self, call: &ReadCall) -> Result<Vec<Value>, Failure> {
        use asl::states::item_reader::{items, listed_object, Source, READER_FAILED};
        let p = &call.request.parameters;
        let failed = |cause: String| Failure::plain(Some(READER_FAILED.into()), Some(cause));
        let bucket = text(p, "Bucket")
            .ok_or_else(|| failed("The ItemReader's Parameters need a Bucket string".into()))?;
        match call.reader.source {
            Source::ListObjects => {
                let prefix = text(p, "Prefix").unwrap_or_default();
                let objects = self
                    .s3
                    .objects_under(&bucket, &prefix)
                    .map_err(|e| failed(format!("Listing s3://{bucket}/{prefix} failed: {e}")))?;
                let limit = call.request.max_items.map_or(usize::MAX, |m| m as usize);
                Ok(objects
                    .iter()
                    .take(limit)
                    .map(|o| listed_object(&o.key, &o.etag, o.modified.timestamp(), o.size))
                    .collect())
            }
            Source::GetObject => {
                let key = text(p, "Key").ok_or_else(|| {
                    failed("The ItemReader's Parameters need a Key string".into())
                })?;
                let body = self
                    .s3
                    .head_object(&bucket, &key)
                    .and_then(|o| self.wait(self.s3.read_all(&o)))
                    .map_err(|e| failed(format!("Reading s3://{bucket}/{key} failed: {e}")))?;
                items(call.reader, &body, call.request.max_items)
            }
        }
    }

    fn write_results(&self, export: &Export) -> Result<(), Failure> {
        for (key, body) in &export.objects {
            let headers = crate::s3::model::Headers {
                content_type: Some("application/json".into()),
                ..Default::default()
            };
            let bytes = bytes::Bytes::from(body.clone());
            let body: crate::s3::BodyStream =
                Box::pin(futures_util::stream::once(async move { Ok(bytes) }));
            self.wait(
                self.s3
                    .put_object(&export.bucket, key, body, headers, &Default::default()),
            )
            .map_err(|e| {
                Failure::plain(
                    Some(asl::states::result_writer::WRITER_FAILED.into()),
                    Some(format!("Writing s3://{}/{key} failed: {e}", export.bucket)),
                )
            })?;
        }
        Ok(())
    }

    fn call(&self, region: &str, resource: &str, p: &Value) -> Option<Result<Value, TaskOutcome>> {
        Some(match resource {
            "arn:aws:states:::sns:publish" => self.publish(p),
            "arn:aws:states:::glue:startJobRun" => self.start_job_run(region, p, false),
            "arn:aws:states:::glue:startJobRun.sync" => self.start_job_run(region, p, true),
            "arn:aws:states:::sqs:sendMessage" => self.send_message(region, p),
            "arn:aws:states:::events:putEvents" => self.put_events(region, p),
            "arn:aws:states:::lambda:invoke" => {
                let Some(name) = text(p, "FunctionName") else {
                    return Some(Err(failure(
                        "Lambda.InvalidParameterValueException".into(),
                        "FunctionName is required",
                    )));
                };
                let name = match text(p, "Qualifier") {
                    Some(q) => format!("{name}:{q}"),
                    None => name,
                };
                let payload = match p.get("Payload") {
                    None | Some(Value::Null) => b"{}".to_vec(),
                    Some(v) => v.to_string().into_bytes(),
                };
                let kind = text(p, "InvocationType").unwrap_or_else(|| "RequestResponse".into());
                self.invoke(region, &name, payload, &kind, true)
            }
            r if r.starts_with("arn:aws:lambda:") && r.contains(":function:") => {
                let region = r
                    .split(':')
                    .nth(3)
                    .filter(|s| !s.is_empty())
                    .unwrap_or(region);
                self.invoke(
                    region,
                    r,
                    p.to_string().into_bytes(),
                    "RequestResponse",
                    false,
                )
            }
            _ => return None,
        })
    }
}
