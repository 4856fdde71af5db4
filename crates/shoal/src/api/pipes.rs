//! EventBridge Pipes on its REST-JSON protocol: `/v1/pipes/{Name}`.

use super::{epoch, scope_of, App};
use crate::pipes::model::Pipe;
use crate::pipes::{PipeSpec, PipesError};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::{json, Value};

fn answer(r: Result<Value, PipesError>) -> Response {
    super::rest_answer(
        r.map_err(|e| (e.status(), e.code(), e.to_string())),
        "message",
    )
}

fn state(p: &Pipe) -> Value {
    json!({
        "Arn": p.arn, "Name": p.name, "DesiredState": p.desired_state, "CurrentState": p.desired_state,
        "CreationTime": epoch(&p.created), "LastModifiedTime": epoch(&p.modified),
    })
}

fn full(p: &Pipe) -> Value {
    let mut v = state(p);
    for (k, x) in [
        ("Source", json!(p.source)),
        ("SourceParameters", p.source_parameters.clone()),
        ("Enrichment", json!(p.enrichment)),
        ("EnrichmentParameters", p.enrichment_parameters.clone()),
        ("Target", json!(p.target)),
        ("TargetParameters", p.target_parameters.clone()),
        ("RoleArn", json!(p.role_arn)),
        ("Description", json!(p.description)),
        ("LogConfiguration", p.log_configuration.clone()),
        (
            "Tags",
            json!(p
                .tags
                .iter()
                .cloned()
                .collect::<std::collections::BTreeMap<_, _>>()),
        ),
    ] {
        if !x.is_null() {
            v[k] = x;
        }
    }
    v
}

fn spec(name: &str, bytes: &[u8]) -> Result<PipeSpec, PipesError> {
    let v: Value = if bytes.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(bytes).map_err(|e| {
            PipesError::Validation(format!("The request body is not valid JSON: {e}"))
        })?
    };
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    let obj = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    Ok(PipeSpec {
        name: name.to_string(),
        source: text("Source"),
        source_parameters: obj("SourceParameters"),
        enrichment: text("Enrichment"),
        enrichment_parameters: obj("EnrichmentParameters"),
        target: text("Target"),
        target_parameters: obj("TargetParameters"),
        role_arn: text("RoleArn"),
        desired_state: text("DesiredState"),
        description: text("Description"),
        log_configuration: obj("LogConfiguration"),
        tags: v
            .get("Tags")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, x)| (k.clone(), x.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

pub async fn list(State(app): State<std::sync::Arc<App>>, headers: HeaderMap) -> Response {
    let scope = scope_of(&app, &headers);
    answer(app.pipes.list(&scope).map(|ps| {
        json!({"Pipes": ps.iter().map(|p| {
            let mut v = state(p);
            v["Source"] = json!(p.source);
            v["Target"] = json!(p.target);
            v
        }).collect::<Vec<_>>()})
    }))
}

pub async fn pipe(
    State(app): State<std::sync::Arc<App>>,
    method: Method,
    headers: HeaderMap,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    let scope = scope_of(&app, &headers);
    let pipes = &app.pipes;
    let r = async {
        match method {
            Method::GET => Ok(full(&pipes.pipe(&scope, &name)?)),
            Method::POST | Method::PUT => {
                let p = pipes
                    .put_pipe(&scope, spec(&name, &bytes)?, method == Method::PUT)
                    .await?;
                Ok(state(&p))
            }
            Method::DELETE => {
                let p = pipes.delete_pipe(&scope, &name).await?;
                let mut v = state(&p);
                v["DesiredState"] = json!("DELETED");
                v["CurrentState"] = json!("DELETING");
                Ok(v)
            }
            _ => Err(PipesError::Validation(format!(
                "{method} is not supported on /v1/pipes/{name}"
            ))),
        }
    }
    .await;
    answer(r)
}

pub async fn start_stop(
    State(app): State<std::sync::Arc<App>>,
    headers: HeaderMap,
    Path((name, verb)): Path<(String, String)>,
) -> Response {
    let scope = scope_of(&app, &headers);
    let r = match verb.as_str() {
        "start" => app
            .pipes
            .set_state(&scope, &name, true)
            .await
            .map(|p| state(&p)),
        "stop" => app
            .pipes
            .set_state(&scope, &name, false)
            .await
            .map(|p| state(&p)),
        other => Err(PipesError::NotFound(format!(
            "No such pipe action: {other}"
        ))),
    };
    answer(r)
}
