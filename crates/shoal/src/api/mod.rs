//! The HTTP front: decodes AWS wire protocols, calls a service, encodes the answer. Requests
//! may be SigV4-signed with any credentials; the region comes from the signature.

pub mod athena;
pub mod cloudwatch;
pub mod events;
pub mod glue;
pub mod lambda;
pub mod logs;
pub mod pipes;
pub mod query;
pub mod s3;
pub mod scheduler;
pub mod sfn;
pub mod shoal;
pub mod sns;
pub mod sqs;
pub mod ssm;
pub mod xml;

use crate::sfn::arn::Scope;
use crate::sfn::Sfn;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Everything the handlers reach, shared by them all (one reference count per request).
pub struct App {
    pub sfn: Arc<Sfn>,
    pub events: Arc<crate::events::Events>,
    pub scheduler: Arc<crate::scheduler::Scheduler>,
    pub ssm: Arc<crate::ssm::Ssm>,
    pub sqs: Arc<crate::sqs::Sqs>,
    pub pipes: Arc<crate::pipes::Pipes>,
    pub s3: Arc<crate::s3::S3>,
    pub sns: Arc<crate::sns::Sns>,
    pub logs: Arc<crate::logs::Logs>,
    pub lambda: Arc<crate::lambda::Lambda>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub glue: Arc<crate::glue::Glue>,
    pub athena: Arc<crate::athena::Athena>,
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/_shoal/clock", any(shoal::clock))
        .route("/_shoal/events", axum::routing::post(shoal::service_events))
        .route("/_shoal/events/tail", axum::routing::get(shoal::tail))
        .route("/_shoal/events/failed", axum::routing::get(shoal::failed))
        .route("/_shoal/mail", axum::routing::get(shoal::mail))
        .route("/_shoal/sql", axum::routing::post(shoal::sql))
        .route("/metrics", axum::routing::get(shoal::prometheus))
        .route("/_shoal/sns/failed", axum::routing::get(shoal::sns_failed))
        .route("/v1/pipes", axum::routing::get(pipes::list))
        .route("/v1/pipes/{name}", any(pipes::pipe))
        .route(
            "/v1/pipes/{name}/{verb}",
            axum::routing::post(pipes::start_stop),
        )
        .route("/schedules", axum::routing::get(scheduler::schedules))
        .route("/schedules/{name}", any(scheduler::schedule))
        .route("/schedule-groups", axum::routing::get(scheduler::groups))
        .route("/schedule-groups/{name}", any(scheduler::group))
        .route("/2015-03-31/{*rest}", any(lambda::entry))
        .route("/2017-10-31/{*rest}", any(lambda::entry))
        .route("/2018-10-31/{*rest}", any(lambda::entry))
        .route("/2019-09-25/{*rest}", any(lambda::entry))
        .route("/2019-09-30/{*rest}", any(lambda::entry))
        .route("/", any(dispatch))
        .route("/{*path}", any(dispatch))
        .with_state(Arc::new(app))
        .layer(axum::middleware::map_response(request_id))
}

/// Every JSON answer carries a request id in `x-amzn-RequestId`, as AWS's do (boto3's
/// `ResponseMetadata["RequestId"]`). S3 and Lambda set their own; XML answers carry theirs in
/// the body.
async fn request_id(mut r: Response) -> Response {
    let h = r.headers_mut();
    let xml =
        (h.get(axum::http::header::CONTENT_TYPE)).is_some_and(|v| v.as_bytes().ends_with(b"xml"));
    if !xml && !h.contains_key("x-amz-request-id") && !h.contains_key("x-amzn-requestid") {
        if let Ok(v) = uuid::Uuid::new_v4().to_string().parse() {
            h.insert("x-amzn-requestid", v);
        }
    }
    r
}

/// An AWS JSON-protocol error: `{"__type": code, "message": text}` with its HTTP status.
pub struct AwsError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// For query-compatible JSON services (SQS): the query protocol's error code, which
    /// the SDKs map to their exception classes (`x-amzn-query-error`).
    pub query_code: Option<String>,
}

impl AwsError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            status,
            code: code.into(),
            message: message.into(),
            query_code: None,
        }
    }
}

impl From<crate::sfn::error::SfnError> for AwsError {
    fn from(e: crate::sfn::error::SfnError) -> AwsError {
        AwsError::new(e.status(), e.code(), e.to_string())
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({"__type": self.code, "message": self.message}).to_string();
        let mut r = (
            status,
            [
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amzn-errortype", self.code.as_str()),
            ],
            body,
        )
            .into_response();
        let fault = if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        };
        if let Some(v) = self
            .query_code
            .and_then(|q| axum::http::HeaderValue::from_str(&format!("{q};{fault}")).ok())
        {
            r.headers_mut().insert("x-amzn-query-error", v);
        }
        r
    }
}

pub(crate) fn missing(field: &str) -> AwsError {
    AwsError::new(
        400,
        "ValidationException",
        format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"),
    )
}

pub(crate) fn opt_str(v: &Value, k: &str) -> Result<Option<String>, AwsError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AwsError::new(
            400,
            "SerializationException",
            format!("The member '{k}' must be a string"),
        )),
    }
}

pub(crate) fn req_str(v: &Value, k: &str) -> Result<String, AwsError> {
    opt_str(v, k)?.ok_or_else(|| missing(k))
}

/// A `[{"Key": ..., "Value": ...}]` list (EventBridge, Scheduler, SSM).
pub(crate) fn key_values(v: &Value, k: &str) -> Vec<(String, String)> {
    key_values_named(v, k, "Key", "Value")
}

/// A list of name/value objects with the member names given (`Name`/`Value` in CloudWatch).
pub(crate) fn key_values_named(
    v: &Value,
    k: &str,
    key: &str,
    value: &str,
) -> Vec<(String, String)> {
    v.get(k)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t.get(key)?.as_str()?.to_string(),
                t.get(value)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ))
        })
        .collect()
}

pub(crate) fn opt_bool(v: &Value, k: &str) -> bool {
    v.get(k).and_then(Value::as_bool).unwrap_or(false)
}

/// `(offset, limit)` from a pagination token and a page size (`nextToken`/`maxResults` in
/// Step Functions, `NextToken`/`Limit` in EventBridge).
pub(crate) fn page(
    v: &Value,
    token_key: &str,
    limit_key: &str,
    default: usize,
    max: usize,
) -> Result<(usize, usize), AwsError> {
    let limit = match v.get(limit_key).and_then(Value::as_i64) {
        None | Some(0) => default,
        Some(n) if n < 0 || n as usize > max => {
            return Err(AwsError::new(
                400,
                "ValidationException",
                format!("1 validation error detected: Value '{n}' at '{limit_key}' failed to satisfy constraint: Member must have value less than or equal to {max}"),
            ))
        }
        Some(n) => n as usize,
    };
    let offset = match opt_str(v, token_key)? {
        None => 0,
        Some(t) => token_offset(&t)
            .ok_or_else(|| AwsError::new(400, "InvalidToken", format!("Invalid Token: '{t}'")))?,
    };
    Ok((offset, limit))
}

/// The offset a pagination token that [`paged`] wrote stands for.
pub(crate) fn token_offset(t: &str) -> Option<usize> {
    base64::engine::general_purpose::STANDARD
        .decode(t.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("shoal:").and_then(|n| n.parse().ok()))
}

/// Timestamps as the AWS JSON protocols send them: epoch seconds.
pub(crate) fn epoch(t: &chrono::DateTime<chrono::Utc>) -> Value {
    crate::values::epoch(*t)
}

/// Where a request acts: the region of its signature, shoal's account.
pub(crate) fn scope_of(app: &App, headers: &HeaderMap) -> Scope {
    Scope {
        region: region(headers).unwrap_or_else(|| app.sfn.config.default_region.clone()),
        account: app.sfn.config.account.clone(),
    }
}

/// A REST-JSON answer: the value, or the error as `x-amzn-errortype` with the message under
/// `message_key` (`message` for Pipes, `Message` for Scheduler).
pub(crate) fn rest_answer(
    r: Result<Value, (u16, &'static str, String)>,
    message_key: &str,
) -> Response {
    match r {
        Ok(v) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            v.to_string(),
        )
            .into_response(),
        Err((status, code, message)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let body = json!({ message_key: message }).to_string();
            (
                status,
                [
                    ("content-type", "application/json"),
                    ("x-amzn-errortype", code),
                ],
                body,
            )
                .into_response()
        }
    }
}

/// Lists one page: asks for one more row than the page holds to know whether more follow.
pub(crate) fn paged<T>(
    rows: Vec<T>,
    offset: usize,
    limit: usize,
    key: &str,
    token_key: &str,
    f: impl Fn(&T) -> Value,
) -> Value {
    let (rows, next) = page_rows(rows, offset, limit);
    let mut out = Map::new();
    out.insert(key.into(), Value::Array(rows.iter().map(f).collect()));
    if let Some(next) = next {
        out.insert(token_key.into(), json!(next));
    }
    Value::Object(out)
}

/// The page in `rows`, read `limit + 1` from `offset`: its first `limit`, and the token of the
/// page after when there is one.
pub(crate) fn page_rows<T>(
    mut rows: Vec<T>,
    offset: usize,
    limit: usize,
) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    (rows, more.then(|| token(offset + limit)))
}

/// The pagination token of the page that starts at `offset` (read by [`token_offset`]).
pub(crate) fn token(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("shoal:{offset}"))
}

pub(crate) fn json_response(v: Value) -> Response {
    json_text_response(v.to_string())
}

/// An answer already written as JSON text.
fn json_text_response(text: String) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        text,
    )
        .into_response()
}

/// What a JSON-protocol action answers: a value, or JSON text written straight from typed
/// items (see [`sfn::handle`]).
pub(crate) enum Answer {
    Value(Value),
    Text(String),
}

/// The region of a signed request (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`).
pub(crate) fn region(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    let region = cred.split('/').nth(2)?;
    (!region.is_empty()).then(|| region.to_string())
}

/// The service a signed request names (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`).
pub(crate) fn signing_service(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    let service = cred.split('/').nth(3)?;
    (!service.is_empty()).then(|| service.to_string())
}

/// A JSON-protocol request body: an object (an empty body counts as `{}`).
pub(crate) fn json_body(body: &[u8]) -> Result<Value, AwsError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(AwsError::new(
            400,
            "SerializationException",
            "The request body must be a JSON object",
        )),
        Err(e) => Err(AwsError::new(
            400,
            "SerializationException",
            format!("The request body is not valid JSON: {e}"),
        )),
    }
}

/// Most bytes a JSON-protocol request may carry.
const MAX_JSON: usize = 2 << 20;

/// Requests that name no route: S3's REST-XML requests, and the JSON protocols by
/// `X-Amz-Target`.
async fn dispatch(State(app): State<Arc<App>>, req: axum::extract::Request) -> Response {
    let headers = req.headers();
    if req.method() == axum::http::Method::GET {
        if let Some(name) = req.uri().path().strip_prefix('/') {
            if name.starts_with("SimpleNotificationService-") && name.ends_with(".pem") {
                return shoal::sns_certificate(&app, name);
            }
        }
    }
    if !headers.contains_key("x-amz-target") {
        if query::wants(headers, req.method(), req.uri()) {
            return query::handle(&app, req).await;
        }
        if s3::wants(headers, req.method(), req.uri()) {
            return s3::handle(&app, req).await;
        }
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_JSON).await {
        Ok(b) => b,
        Err(e) => {
            return AwsError::new(
                400,
                "SerializationException",
                format!("cannot read the request body: {e}"),
            )
            .into_response()
        }
    };
    json_dispatch(app, parts.headers, body).await
}

async fn json_dispatch(app: Arc<App>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let scope = scope_of(&app, &headers);
    let result = match target.split_once('.') {
        Some((service @ ("AWSStepFunctions" | "AWSEvents" | "AmazonSSM" | "AmazonSQS" | "Logs_20140328" | "GraniteServiceVersion20100801" | "AWSGlue" | "AmazonAthena"), action)) => {
            let input = match json_body(&body) {
                Ok(v) => v,
                Err(e) => return e.into_response(),
            };
            match service {
                "AWSEvents" => events::handle(&app, &scope, action, &input).await.map(Answer::Value),
                "AmazonSSM" => ssm::handle(&app, &scope, action, &input).await.map(Answer::Value),
                "AWSGlue" => glue::handle(&app, &scope, &headers, action, &input).await.map(Answer::Value),
                "AmazonAthena" => athena::handle(&app, &scope, action, &input).await.map(Answer::Value),
                "Logs_20140328" => logs::handle(&app, &scope, action, &input).await.map(Answer::Value),
                "GraniteServiceVersion20100801" => {
                    cloudwatch::handle(&app, &scope, action, &input)
                        .await
                        .map(Answer::Value)
                }
                "AmazonSQS" => {
                    // queue URLs name this server as the client reached it
                    let host = headers
                        .get("host")
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("127.0.0.1:4566");
                    let base = format!("http://{host}");
                    sqs::handle(&app, &scope, &base, action, &input).await.map(Answer::Value)
                }
                _ => sfn::handle(&app, &scope, action, &input).await,
            }
        }
        _ if target.is_empty() => Err(AwsError::new(
            400,
            "UnknownOperationException",
            "The request has no X-Amz-Target header; shoal serves the AWS JSON protocols (Step Functions: AWSStepFunctions.*, EventBridge: AWSEvents.*, Parameter Store: AmazonSSM.*, SQS: AmazonSQS.*, CloudWatch Logs: Logs_20140328.*); S3 and SNS speak REST-XML and query",
        )),
        _ => Err(AwsError::new(
            400,
            "UnknownOperationException",
            format!("Unknown operation {target}"),
        )),
    };
    let mut response = match result {
        Ok(Answer::Value(v)) => json_response(v),
        Ok(Answer::Text(text)) => json_text_response(text),
        Err(e) => e.into_response(),
    };
    if [
        "AWSEvents.",
        "AmazonSSM.",
        "Logs_20140328.",
        "AWSGlue.",
        "AmazonAthena.",
    ]
    .iter()
    .any(|p| target.starts_with(p))
    {
        // EventBridge, SSM, Logs, Glue and Athena speak AWS JSON 1.1
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/x-amz-json-1.1"),
        );
    }
    response
}
