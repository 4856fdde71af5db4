//! shoal's own endpoints under `/_shoal/`, for the CLI and for tests: the virtual clock,
//! events from AWS services, a live tail of a bus, failed deliveries.

use super::{json_body, json_response, scope_of, App, AwsError};
use crate::events::put::Sender;
use crate::events::Events;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;

/// `GET` reads the clock; `POST {"advanceSeconds": N}` moves it (only under `--virtual-clock`).
pub async fn clock(
    State(app): State<std::sync::Arc<App>>,
    method: Method,
    body: Bytes,
) -> Response {
    if method == Method::POST {
        let by = json_body(&body).and_then(|v| {
            crate::events::schedules::advance_of(&v).ok_or_else(|| {
                AwsError::new(
                    400,
                    "ValidationException",
                    "The body must be {\"advanceSeconds\": N}",
                )
            })
        });
        if let Err(e) = by.and_then(|by| app.events.advance_clock(by).map_err(AwsError::from)) {
            return e.into_response();
        }
    }
    json_response(json!({
        "now": app.events.now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "virtual": app.sfn.config.virtual_clock,
    }))
}

/// `POST {"Entries": [...]}`: PutEvents on behalf of an AWS service, so sources `aws.*` are
/// accepted (`shoal events put --as-service`, `shoal events import-cloudtrail`).
pub async fn service_events(
    State(app): State<std::sync::Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scope = scope_of(&app, &headers);
    let result = async {
        let v = json_body(&body)?;
        let entries = super::events::entries(&v)?;
        let results = app
            .events
            .put_events(&scope, &entries, Sender::Service)
            .await?;
        Ok::<Value, AwsError>(super::events::put_events_answer(results))
    }
    .await;
    match result {
        Ok(v) => json_response(v),
        Err(e) => e.into_response(),
    }
}

/// `GET ?bus=NAME`: every event accepted on the bus from now on, one JSON line each, with the
/// rules it matched.
pub async fn tail(
    State(app): State<std::sync::Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let scope = scope_of(&app, &headers);
    let (bus, _) = Events::bus_ref(&scope, q.get("bus").map(String::as_str));
    if let Err(e) = app.events.bus(&scope, Some(&bus)) {
        return AwsError::from(e).into_response();
    }
    let rx = app.events.tail.subscribe();
    let lines = futures_util::stream::unfold((rx, bus), |(mut rx, bus)| async move {
        loop {
            match rx.recv().await {
                Ok(r) if r.bus == bus => {
                    let event: Value = serde_json::from_str(&r.event).unwrap_or(Value::Null);
                    let line = json!({"bus": r.bus, "rules": r.rules, "event": event});
                    let bytes = Bytes::from(format!("{line}\n"));
                    return Some((Ok::<Bytes, std::io::Error>(bytes), (rx, bus)));
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let line = json!({"bus": bus, "lagged": n});
                    let bytes = Bytes::from(format!("{line}\n"));
                    return Some((Ok(bytes), (rx, bus)));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    (
        [("content-type", "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response()
}

/// `GET ?limit=N`: deliveries that failed for good, newest first.
pub async fn failed(
    State(app): State<std::sync::Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let limit = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    match app.events.failed_deliveries(limit) {
        Ok(list) => json_response(json!({
            "deliveries": list
                .iter()
                .map(|d| json!({
                    "id": d.id,
                    "eventId": d.event_id,
                    "rule": d.rule_arn,
                    "target": d.target.get("Id"),
                    "targetArn": d.target.get("Arn"),
                    "attempts": d.attempts,
                    "first": d.first.to_rfc3339(),
                    "error": d.last_error,
                    "input": d.input,
                }))
                .collect::<Vec<_>>()
        })),
        Err(e) => AwsError::from(e).into_response(),
    }
}

/// The email outbox (kept when no SMTP server is configured), oldest first.
pub async fn mail(State(app): State<std::sync::Arc<App>>) -> Response {
    match app.sns.outbox() {
        Ok(list) => json_response(json!({ "mail": list })),
        Err(e) => AwsError::new(500, "InternalError", e.to_string()).into_response(),
    }
}

/// SNS deliveries whose retries are spent, newest first.
pub async fn sns_failed(State(app): State<std::sync::Arc<App>>) -> Response {
    match app.sns.failed_deliveries() {
        Ok(list) => json_response(json!({ "deliveries": list })),
        Err(e) => AwsError::new(500, "InternalError", e.to_string()).into_response(),
    }
}

/// The certificate SNS messages name in `SigningCertURL` (S3 bucket names cannot hold its
/// capitals, so the path is unambiguous).
pub fn sns_certificate(app: &App, name: &str) -> Response {
    match app.sns.signer.keys() {
        Ok(k) if k.certificate_name == name => (
            [("content-type", "application/x-pem-file")],
            k.certificate.clone(),
        )
            .into_response(),
        Ok(_) => AwsError::new(404, "NotFound", format!("no certificate {name}")).into_response(),
        Err(e) => AwsError::new(500, "InternalError", e).into_response(),
    }
}

/// The CloudWatch metrics as Prometheus text.
pub async fn prometheus(State(app): State<std::sync::Arc<App>>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        app.metrics.prometheus(),
    )
        .into_response()
}

/// `POST {"sql", "database"?, "format": "table"|"csv"|"json"|"parquet"}`: a query over the Glue
/// Data Catalog for `shoal sql`; the answer's `body` is text, or base64 for Parquet.
pub async fn sql(
    State(app): State<std::sync::Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scope = scope_of(&app, &headers);
    let result = async {
        let v = json_body(&body)?;
        let sql = super::req_str(&v, "sql")?;
        let database = super::opt_str(&v, "database")?;
        let lake = crate::lake::Lake::new(app.glue.clone());
        let answer = lake
            .query_in(&scope, database.as_deref(), &sql)
            .await
            .map_err(|e| AwsError::new(400, "InvalidRequestException", e.to_string()))?;
        let bad = |e: crate::lake::LakeError| {
            AwsError::new(500, "InternalServerException", e.to_string())
        };
        let format = super::opt_str(&v, "format")?.unwrap_or_else(|| "table".into());
        let body = match format.as_str() {
            "table" => answer.text(),
            "csv" => String::from_utf8_lossy(&answer.csv().map_err(bad)?).into_owned(),
            "json" => {
                serde_json::to_string_pretty(&answer.json_rows().map_err(bad)?).unwrap_or_default()
            }
            "parquet" => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(answer.parquet().map_err(bad)?)
            }
            other => {
                return Err(AwsError::new(
                    400,
                    "ValidationException",
                    format!("unknown format '{other}' (table, csv, json, parquet)"),
                ))
            }
        };
        Ok(json!({"rows": answer.rows(), "body": body}))
    }
    .await;
    match result {
        Ok(v) => json_response(v),
        Err(e) => e.into_response(),
    }
}
