//! Lambda's REST-JSON API: functions, invocations, event-invoke configs, concurrency, layers.

use super::App;
use crate::lambda::functions::{configuration, layer_json};
use crate::lambda::LambdaError;
use crate::sfn::arn::Scope;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;

/// Largest request body: a 50 MB zip, base64 in JSON.
const MAX_BODY: usize = 72 << 20;

fn error(e: LambdaError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let kind = if e.status >= 500 { "Service" } else { "User" };
    (
        status,
        [
            ("content-type", "application/json"),
            ("x-amzn-errortype", e.code),
        ],
        json!({"Type": kind, "message": e.message}).to_string(),
    )
        .into_response()
}

fn ok(status: StatusCode, v: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Every request under Lambda's API prefixes (a request signed for S3 there is S3's: a
/// bucket may be named like a date).
pub async fn entry(State(app): State<std::sync::Arc<App>>, req: Request) -> Response {
    if super::signing_service(req.headers()).as_deref() == Some("s3") {
        return super::s3::handle(&app, req).await;
    }
    let scope = super::scope_of(&app, req.headers());
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return error(LambdaError::new(
                "RequestTooLargeException",
                413,
                e.to_string(),
            ))
        }
    };
    let q: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let segs: Vec<String> = parts
        .uri
        .path()
        .trim_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match route(&app, &scope, &parts.method, &segs, &q, &parts.headers, body).await {
        Ok(r) => r,
        Err(e) => error(e),
    }
}

fn json_of(body: &[u8]) -> Result<Value, LambdaError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| LambdaError::invalid(format!("The request body is not valid JSON: {e}")))
}

async fn route(
    app: &App,
    scope: &Scope,
    m: &Method,
    segs: &[&str],
    q: &HashMap<String, String>,
    h: &HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, LambdaError> {
    let l = &app.lambda;
    let with_qualifier = |name: &str| match q.get("Qualifier") {
        Some(qual) => format!("{name}:{qual}"),
        None => name.to_string(),
    };
    let layers_of = |f: &crate::lambda::model::Function| l.layers_of(f);
    Ok(match (m.as_str(), segs) {
        ("POST", ["2015-03-31", "functions"]) => {
            let f = l.create_function(scope, &json_of(&body)?, &app.s3).await?;
            ok(StatusCode::CREATED, configuration(&f, &layers_of(&f)))
        }
        ("GET", ["2015-03-31", "functions"] | ["2015-03-31", "functions", ""]) => {
            let all = l.functions(scope)?;
            let start = q
                .get("Marker")
                .and_then(|m| super::token_offset(m))
                .unwrap_or(0);
            let max = q
                .get("MaxItems")
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=50).contains(n))
                .unwrap_or(50);
            let page: Vec<Value> = all
                .iter()
                .skip(start)
                .take(max)
                .map(|f| configuration(f, &layers_of(f)))
                .collect();
            let mut out = json!({"Functions": page});
            if all.len() > start + max {
                use base64::Engine;
                out["NextMarker"] = json!(base64::engine::general_purpose::STANDARD
                    .encode(format!("shoal:{}", start + max)));
            }
            ok(StatusCode::OK, out)
        }
        ("GET", ["2015-03-31", "functions", name]) => {
            let f = l.function(scope, &with_qualifier(name))?;
            let mut out = json!({
                "Configuration": configuration(&f, &layers_of(&f)),
                "Code": {"RepositoryType": "S3", "Location": format!("file://{}", f.local_folder.as_deref().unwrap_or(&f.code_dir))},
            });
            if !f.tags.is_empty() {
                out["Tags"] = json!(f.tags);
            }
            if let Some(n) = f.reserved_concurrency {
                out["Concurrency"] = json!({"ReservedConcurrentExecutions": n});
            }
            ok(StatusCode::OK, out)
        }
        ("DELETE", ["2015-03-31", "functions", name]) => {
            l.delete_function(scope, &with_qualifier(name)).await?;
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", ["2015-03-31", "functions", name, "configuration"]) => {
            let f = l.function(scope, &with_qualifier(name))?;
            ok(StatusCode::OK, configuration(&f, &layers_of(&f)))
        }
        ("PUT", ["2015-03-31", "functions", name, "configuration"]) => {
            let f = l
                .update_configuration(scope, name, &json_of(&body)?)
                .await?;
            ok(StatusCode::OK, configuration(&f, &layers_of(&f)))
        }
        ("PUT", ["2015-03-31", "functions", name, "code"]) => {
            let f = l
                .update_code(scope, name, &json_of(&body)?, &app.s3)
                .await?;
            ok(StatusCode::OK, configuration(&f, &layers_of(&f)))
        }
        ("POST", ["2015-03-31", "functions", name, "invocations"]) => {
            let f = l.function(scope, &with_qualifier(name))?;
            let kind = h
                .get("x-amz-invocation-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("RequestResponse");
            match kind {
                "DryRun" => StatusCode::NO_CONTENT.into_response(),
                "Event" => {
                    let id = l.invoke_async(&f, body).await?;
                    (StatusCode::ACCEPTED, [("x-amzn-requestid", id)], "").into_response()
                }
                "RequestResponse" => {
                    let r = l.invoke(&f, body).await?;
                    let mut resp = axum::http::Response::builder()
                        .status(StatusCode::OK)
                        .header("content-type", "application/json")
                        .header("x-amz-executed-version", "$LATEST")
                        .header("x-amzn-requestid", r.request_id.clone());
                    if let Some(e) = &r.function_error {
                        resp = resp.header("x-amz-function-error", e.as_str());
                    }
                    if h.get("x-amz-log-type").and_then(|v| v.to_str().ok()) == Some("Tail") {
                        resp = resp.header("x-amz-log-result", r.log_tail());
                    }
                    resp.body(Body::from(r.payload)).map_err(LambdaError::internal)?
                }
                other => return Err(LambdaError::invalid(format!("1 validation error detected: Value '{other}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"))),
            }
        }
        ("PUT" | "POST", ["2019-09-25", "functions", name, "event-invoke-config"]) => {
            let f = l
                .put_event_invoke_config(scope, &with_qualifier(name), &json_of(&body)?)
                .await?;
            ok(StatusCode::OK, event_invoke(&f))
        }
        ("GET", ["2019-09-25", "functions", name, "event-invoke-config"]) => {
            let f = l.function(scope, &with_qualifier(name))?;
            if f.event_invoke.is_none() {
                return Err(LambdaError::not_found(format!(
                    "The function {}:$LATEST doesn't have an EventInvokeConfig",
                    f.arn()
                )));
            }
            ok(StatusCode::OK, event_invoke(&f))
        }
        ("DELETE", ["2019-09-25", "functions", name, "event-invoke-config"]) => {
            l.delete_event_invoke_config(scope, &with_qualifier(name))
                .await?;
            StatusCode::NO_CONTENT.into_response()
        }
        ("PUT", ["2017-10-31", "functions", name, "concurrency"]) => {
            let v = json_of(&body)?;
            let n = v
                .get("ReservedConcurrentExecutions")
                .and_then(Value::as_u64)
                .ok_or_else(|| LambdaError::invalid("ReservedConcurrentExecutions is required"))?;
            l.put_concurrency(scope, name, Some(n as u32)).await?;
            ok(StatusCode::OK, json!({"ReservedConcurrentExecutions": n}))
        }
        ("DELETE", ["2017-10-31", "functions", name, "concurrency"]) => {
            l.put_concurrency(scope, name, None).await?;
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", ["2019-09-30", "functions", name, "concurrency"]) => {
            let f = l.function(scope, name)?;
            ok(
                StatusCode::OK,
                match f.reserved_concurrency {
                    Some(n) => json!({"ReservedConcurrentExecutions": n}),
                    None => json!({}),
                },
            )
        }
        ("GET", ["2018-10-31", "layers"]) => {
            let layers: Vec<Value> = l
                .layers(scope)?
                .iter()
                .map(|v| json!({"LayerName": v.name, "LayerArn": v.layer_arn(), "LatestMatchingVersion": layer_json(v)}))
                .collect();
            ok(StatusCode::OK, json!({"Layers": layers}))
        }
        ("POST", ["2018-10-31", "layers", name, "versions"]) => {
            let v = l
                .publish_layer(scope, name, &json_of(&body)?, &app.s3)
                .await?;
            ok(StatusCode::CREATED, layer_json(&v))
        }
        ("GET", ["2018-10-31", "layers", name, "versions"]) => {
            let versions: Vec<Value> = l
                .layer_versions(scope, name)?
                .iter()
                .rev()
                .map(layer_json)
                .collect();
            ok(StatusCode::OK, json!({"LayerVersions": versions}))
        }
        ("GET", ["2018-10-31", "layers", name, "versions", n]) => {
            let n = n
                .parse()
                .map_err(|_| LambdaError::invalid(format!("Invalid layer version {n}")))?;
            ok(
                StatusCode::OK,
                layer_json(&l.layer_version(scope, name, n)?),
            )
        }
        _ => {
            return Err(LambdaError::new(
                "UnknownOperationException",
                404,
                format!("shoal does not implement {} /{} yet", m, segs.join("/")),
            ))
        }
    })
}

fn event_invoke(f: &crate::lambda::model::Function) -> Value {
    let mut v = f.event_invoke.clone().unwrap_or(json!({}));
    v["FunctionArn"] = json!(format!("{}:$LATEST", f.arn()));
    v["LastModified"] = json!(f.modified.timestamp());
    v
}
