//! Task integrations that need no other shoal service: the HTTP task, the generic
//! `aws-sdk:<service>:<action>` integration over AWS's JSON protocols (SigV4-signed), nested
//! executions (in [`super::executions`]), callbacks and activities (in [`super::replay`]).

use super::model::Execution;
use super::Sfn;
use asl::mock::MockTasks;
use asl::runner::{TaskCall, TaskHandler, TaskOutcome};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// How a Task's resource is carried out.
#[derive(Debug, Clone, PartialEq)]
pub enum Integration {
    /// `arn:aws:states:<r>:<a>:activity:<name>`: a worker takes it with GetActivityTask.
    Activity,
    /// `<base>.waitForTaskToken`: call `base`, then wait for SendTaskSuccess/Failure.
    Callback(String),
    /// `states:startExecution` (fire and forget) or `.sync`/`.sync:2` (wait for the child).
    Child { wait: bool, v2: bool },
    /// A request/response call.
    Direct,
}

pub fn classify(resource: &str) -> Integration {
    if let Some(base) = resource.strip_suffix(".waitForTaskToken") {
        return Integration::Callback(base.to_string());
    }
    let parts: Vec<&str> = resource.split(':').collect();
    if parts.len() >= 7 && parts[2] == "states" && parts[5] == "activity" {
        return Integration::Activity;
    }
    match resource {
        "arn:aws:states:::states:startExecution" => Integration::Child {
            wait: false,
            v2: false,
        },
        "arn:aws:states:::states:startExecution.sync" => Integration::Child {
            wait: true,
            v2: false,
        },
        "arn:aws:states:::states:startExecution.sync:2" => Integration::Child {
            wait: true,
            v2: true,
        },
        _ => Integration::Direct,
    }
}

fn failure(error: impl Into<String>, cause: impl Into<String>) -> TaskOutcome {
    TaskOutcome::Failure {
        error: error.into(),
        cause: cause.into(),
    }
}

/// Performs a request/response integration. `token` names the task: a child execution started
/// without a `Name` is named after it, so starting it again finds the same child.
pub fn call(
    sfn: &Arc<Sfn>,
    exec: &Execution,
    resource: &str,
    call: &TaskCall,
    token: Option<&str>,
) -> Result<Value, TaskOutcome> {
    if resource.starts_with("arn:aws:states:::states:startExecution") {
        return sfn.start_child(exec, call.parameters, token.unwrap_or_default(), None);
    }
    let timeout = call.timeout_seconds.map(Duration::from_secs);
    request(sfn, &exec.region, resource, call.parameters, timeout)
}

/// Task resources that shoal's own services carry out (SNS, SQS, EventBridge ...): the
/// service side lives outside the engine, which only knows this trait.
pub trait LocalTasks: Send + Sync {
    /// Carries out `resource` in `region`, or `None` when it is not a local integration.
    fn call(
        &self,
        region: &str,
        resource: &str,
        parameters: &Value,
    ) -> Option<Result<Value, TaskOutcome>>;

    /// Reads a distributed Map's `ItemReader` items from shoal's S3.
    fn read_items(&self, call: &asl::runner::ReadCall) -> Result<Vec<Value>, asl::Failure>;

    /// Puts a `ResultWriter` export's objects into shoal's S3.
    fn write_results(
        &self,
        export: &asl::states::result_writer::Export,
    ) -> Result<(), asl::Failure>;
}

/// Performs a request/response call that needs no execution: the HTTP task or an AWS SDK call
/// in `region` (TestState uses this too).
pub fn request(
    sfn: &Sfn,
    region: &str,
    resource: &str,
    parameters: &Value,
    timeout: Option<Duration>,
) -> Result<Value, TaskOutcome> {
    if resource == "arn:aws:states:::http:invoke" {
        return http_invoke(parameters, timeout);
    }
    if let Some(local) = sfn.local_tasks() {
        if let Some(r) = local.call(region, resource, parameters) {
            return r;
        }
    }
    if let Some(rest) = resource.strip_prefix("arn:aws:states:::aws-sdk:") {
        let (service, action) = rest.split_once(':').unwrap_or((rest, ""));
        return aws_sdk(sfn, region, service, action, parameters, timeout);
    }
    Err(failure(
        "States.Runtime",
        format!(
            "The resource '{resource}' is not supported by this shoal server yet (supported: activities, http:invoke, sns:publish, sqs:sendMessage, events:putEvents, aws-sdk:<service>:<action> over JSON protocols, states:startExecution[.sync[:2]], and .waitForTaskToken on any of them); give a mock file to test it without the service"
        ),
    ))
}

fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout.unwrap_or(Duration::from_secs(60))))
        .build()
        .into()
}

/// `arn:aws:states:::http:invoke`: a real HTTP request; a non-2xx answer fails the task with
/// `States.Http.StatusCode.<code>`, as on AWS.
fn http_invoke(p: &Value, timeout: Option<Duration>) -> Result<Value, TaskOutcome> {
    let endpoint = p
        .get("ApiEndpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| failure("States.Runtime", "The HTTP task needs an ApiEndpoint"))?;
    let method = p.get("Method").and_then(Value::as_str).unwrap_or("GET");
    let mut url = endpoint.to_string();
    if let Some(Value::Object(q)) = p.get("QueryParameters") {
        let pairs: Vec<String> = q
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                format!("{}={}", encode(k), encode(&v))
            })
            .collect();
        if !pairs.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&pairs.join("&"));
        }
    }
    let mut req = ureq::http::Request::builder().method(method).uri(&url);
    let mut has_type = false;
    if let Some(Value::Object(h)) = p.get("Headers") {
        for (k, v) in h {
            has_type |= k.eq_ignore_ascii_case("content-type");
            let v = v
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| v.to_string());
            req = req.header(k.as_str(), v);
        }
    }
    let body = match p.get("RequestBody") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(v) => {
            if !has_type {
                req = req.header("Content-Type", "application/json");
            }
            asl::json::compact(v).into_bytes()
        }
    };
    let req = req
        .body(body)
        .map_err(|e| failure("States.Runtime", format!("Invalid HTTP request: {e}")))?;
    let mut resp = agent(timeout).run(req).map_err(|e| {
        failure(
            "States.Http.Socket",
            format!("The HTTP request to {url} failed: {e}"),
        )
    })?;
    let status = resp.status();
    let mut headers = Map::new();
    for (k, v) in resp.headers() {
        headers.insert(k.to_string(), json!([v.to_str().unwrap_or("")]));
    }
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
    let out = json!({
        "Headers": headers,
        "ResponseBody": body,
        "StatusCode": status.as_u16(),
        "StatusText": status.canonical_reason().unwrap_or(""),
    });
    if status.is_success() {
        Ok(out)
    } else {
        Err(failure(
            format!("States.Http.StatusCode.{}", status.as_u16()),
            asl::json::compact(&out),
        ))
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A service reachable through the JSON protocol: its target prefix, JSON version, signing
/// name, the name AWS prefixes its errors with, and whether its members are camelCase.
struct JsonService {
    target: &'static str,
    version: &'static str,
    signing: &'static str,
    error_prefix: &'static str,
    camel: bool,
}

fn json_service(name: &str) -> Option<JsonService> {
    let s = |target, version, signing, error_prefix, camel| JsonService {
        target,
        version,
        signing,
        error_prefix,
        camel,
    };
    Some(match name {
        "glue" => s("AWSGlue", "1.1", "glue", "Glue", false),
        "dynamodb" => s("DynamoDB_20120810", "1.0", "dynamodb", "DynamoDb", false),
        "sfn" => s("AWSStepFunctions", "1.0", "states", "Sfn", true),
        "sqs" => s("AmazonSQS", "1.0", "sqs", "Sqs", false),
        "eventbridge" => s("AWSEvents", "1.1", "events", "EventBridge", false),
        "cloudwatchlogs" => s("Logs_20140328", "1.1", "logs", "CloudWatchLogs", true),
        "ssm" => s("AmazonSSM", "1.1", "ssm", "Ssm", false),
        "cloudwatch" => s(
            "GraniteServiceVersion20100801",
            "1.0",
            "monitoring",
            "CloudWatch",
            false,
        ),
        "kms" => s("TrentService", "1.1", "kms", "Kms", false),
        "secretsmanager" => s(
            "secretsmanager",
            "1.1",
            "secretsmanager",
            "SecretsManager",
            false,
        ),
        "athena" => s("AmazonAthena", "1.1", "athena", "Athena", false),
        "kinesis" => s("Kinesis_20131202", "1.1", "kinesis", "Kinesis", false),
        "firehose" => s("Firehose_20150804", "1.1", "firehose", "Firehose", false),
        "ecs" => s(
            "AmazonEC2ContainerServiceV20141113",
            "1.1",
            "ecs",
            "Ecs",
            true,
        ),
        "codebuild" => s("CodeBuild_20161006", "1.1", "codebuild", "CodeBuild", true),
        _ => return None,
    })
}

fn recase(v: &Value, first: fn(char) -> char) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let k = match c.next() {
                        Some(f) => first(f).to_string() + c.as_str(),
                        None => String::new(),
                    };
                    (k, recase(v, first))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| recase(v, first)).collect()),
        other => other.clone(),
    }
}

/// `arn:aws:states:::aws-sdk:<service>:<action>` over the service's JSON protocol.
fn aws_sdk(
    sfn: &Sfn,
    region: &str,
    service: &str,
    action: &str,
    params: &Value,
    timeout: Option<Duration>,
) -> Result<Value, TaskOutcome> {
    let svc = json_service(service).ok_or_else(|| {
        failure(
            "States.Runtime",
            format!("The aws-sdk integration for '{service}' is not supported: shoal calls services that speak AWS's JSON protocol (glue, dynamodb, sfn, sqs, eventbridge, cloudwatchlogs, ssm, kms, secretsmanager, athena, kinesis, firehose, ecs, codebuild)"),
        )
    })?;
    let endpoint = sfn
        .config
        .sdk_endpoints
        .get(service)
        .cloned()
        .unwrap_or_else(|| format!("https://{}.{region}.amazonaws.com", svc.signing));
    let mut op = action.to_string();
    if let Some(f) = op.get(0..1) {
        op = f.to_uppercase() + &op[1..];
    }
    let body_value = if svc.camel {
        recase(params, |c| c.to_ascii_lowercase())
    } else {
        params.clone()
    };
    let body = asl::json::compact(&body_value).into_bytes();
    let mut req = ureq::http::Request::builder()
        .method("POST")
        .uri(endpoint.as_str())
        .header(
            "Content-Type",
            format!("application/x-amz-json-{}", svc.version),
        )
        .header("X-Amz-Target", format!("{}.{op}", svc.target))
        .body(body.clone())
        .map_err(|e| {
            failure(
                "States.Runtime",
                format!("Invalid endpoint '{endpoint}': {e}"),
            )
        })?;
    sign(&mut req, &body, region, svc.signing)
        .map_err(|e| failure("States.Runtime", format!("Could not sign the request: {e}")))?;
    let mut resp = agent(timeout).run(req).map_err(|e| {
        failure(
            format!("{}.SdkClientException", svc.error_prefix),
            format!("Unable to execute HTTP request: {e}"),
        )
    })?;
    let status = resp.status().as_u16();
    let request_id = resp
        .headers()
        .get("x-amzn-requestid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let header_type = resp
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(json!({}));
    if (200..300).contains(&status) {
        return Ok(if svc.camel {
            recase(&value, |c| c.to_ascii_uppercase())
        } else {
            value
        });
    }
    let raw = value
        .get("__type")
        .and_then(Value::as_str)
        .map(String::from)
        .or(header_type)
        .unwrap_or_else(|| format!("Http{status}"));
    let code = raw
        .rsplit('#')
        .next()
        .unwrap_or(&raw)
        .split(':')
        .next()
        .unwrap_or("")
        .to_string();
    // Step Functions names the SDK's exception class: a code like `ParameterNotFound` is
    // reported as `Ssm.ParameterNotFoundException` (as S3's `NoSuchKey` is `S3.NoSuchKeyException`)
    let code = if code.ends_with("Exception") {
        code
    } else {
        format!("{code}Exception")
    };
    let message = value
        .get("message")
        .or_else(|| value.get("Message"))
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(failure(
        format!("{}.{code}", svc.error_prefix),
        format!(
            "{message} (Service: {}, Status Code: {status}, Request ID: {request_id})",
            svc.error_prefix
        ),
    ))
}

/// Signs with the server's AWS credentials (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
/// `AWS_SESSION_TOKEN`; local test servers accept any).
fn sign(
    req: &mut ureq::http::Request<Vec<u8>>,
    body: &[u8],
    region: &str,
    service: &str,
) -> Result<(), String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    let creds = aws_credential_types::Credentials::new(
        std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "shoal".into()),
        std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "shoal".into()),
        std::env::var("AWS_SESSION_TOKEN").ok(),
        None,
        "shoal",
    );
    let identity = creds.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let uri = req.uri().to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    Ok(())
}

/// Tasks for Express executions, which run in memory: request/response integrations only
/// (AWS supports no callbacks, activities or `.sync` in Express workflows either).
pub struct LiveTasks<'a> {
    pub sfn: &'a Arc<Sfn>,
    pub exec: &'a Execution,
    pub mock: Option<MockTasks>,
}

impl TaskHandler for LiveTasks<'_> {
    fn invoke(&mut self, c: &TaskCall) -> TaskOutcome {
        if let Some(m) = &mut self.mock {
            return m.invoke(c);
        }
        match classify(c.resource) {
            Integration::Direct | Integration::Child { wait: false, .. } => {
                match call(self.sfn, self.exec, c.resource, c, Some(&format!("{:016x}-{}", self.exec.seed, c.state))) {
                    Ok(v) => TaskOutcome::Success(v),
                    Err(f) => f,
                }
            }
            _ => failure(
                "States.Runtime",
                format!(
                    "Express state machines do not support the resource '{}' (callbacks, activities and .sync need a Standard state machine)",
                    c.resource
                ),
            ),
        }
    }
}
