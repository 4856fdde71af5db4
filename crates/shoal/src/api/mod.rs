//! The HTTP front: decodes AWS wire protocols, calls a service, encodes the answer. Requests
//! may be SigV4-signed with any credentials; the region comes from the signature.

pub mod sfn;

use crate::sfn::arn::Scope;
use crate::sfn::Sfn;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};
use std::sync::Arc;

/// Everything the handlers reach.
#[derive(Clone)]
pub struct App {
    pub sfn: Arc<Sfn>,
}

pub fn router(app: App) -> Router {
    Router::new()
        .route("/", any(dispatch))
        .route("/{*path}", any(dispatch))
        .with_state(app)
}

/// An AWS JSON-protocol error: `{"__type": code, "message": text}` with its HTTP status.
pub struct AwsError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            status,
            code: code.into(),
            message: message.into(),
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
        (
            status,
            [
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amzn-errortype", self.code.as_str()),
            ],
            body,
        )
            .into_response()
    }
}

fn json_response(v: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        v.to_string(),
    )
        .into_response()
}

/// The region of a signed request (`Credential=AKID/DATE/REGION/SERVICE/aws4_request`).
fn region(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    let region = cred.split('/').nth(2)?;
    (!region.is_empty()).then(|| region.to_string())
}

async fn dispatch(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let scope = Scope {
        region: region(&headers).unwrap_or_else(|| app.sfn.config.default_region.clone()),
        account: app.sfn.config.account.clone(),
    };
    let result = match target.split_once('.') {
        Some(("AWSStepFunctions", action)) => {
            let input: Value = if body.is_empty() {
                json!({})
            } else {
                match serde_json::from_slice(&body) {
                    Ok(v @ Value::Object(_)) => v,
                    Ok(_) => {
                        return AwsError::new(400, "SerializationException", "The request body must be a JSON object").into_response()
                    }
                    Err(e) => {
                        return AwsError::new(
                            400,
                            "SerializationException",
                            format!("The request body is not valid JSON: {e}"),
                        )
                        .into_response()
                    }
                }
            };
            sfn::handle(&app, &scope, action, &input).await
        }
        _ if target.is_empty() => Err(AwsError::new(
            400,
            "UnknownOperationException",
            "The request has no X-Amz-Target header; shoal serves the AWS JSON protocols (Step Functions: AWSStepFunctions.*)",
        )),
        _ => Err(AwsError::new(
            400,
            "UnknownOperationException",
            format!("Unknown operation {target}"),
        )),
    };
    match result {
        Ok(v) => json_response(v),
        Err(e) => e.into_response(),
    }
}
