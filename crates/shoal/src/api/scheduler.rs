//! EventBridge Scheduler on its REST-JSON protocol: `/schedules/{Name}` and
//! `/schedule-groups/{Name}`, errors as `x-amzn-ErrorType` plus `{"Message": ...}`.

use super::{epoch, scope_of, App};
use crate::scheduler::model::{Group, Schedule};
use crate::scheduler::schedules::ScheduleSpec;
use crate::scheduler::SchedulerError;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

fn answer(r: Result<Value, SchedulerError>) -> Response {
    super::rest_answer(
        r.map_err(|e| (e.status(), e.code(), e.to_string())),
        "Message",
    )
}

fn body(bytes: &[u8]) -> Result<Value, SchedulerError> {
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(SchedulerError::Validation(
            "The request body must be a JSON object".into(),
        )),
    }
}

fn time(v: &Value, k: &str) -> Result<Option<DateTime<Utc>>, SchedulerError> {
    match v.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(|s| DateTime::from_timestamp_millis((s * 1000.0) as i64))
            .map(Some)
            .ok_or_else(|| SchedulerError::Validation(format!("{k} is not a valid time"))),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.to_utc()))
            .map_err(|_| SchedulerError::Validation(format!("{k} is not a valid time"))),
        Some(_) => Err(SchedulerError::Validation(format!(
            "{k} is not a valid time"
        ))),
    }
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(String::from)
}

fn schedule_json(s: &Schedule) -> Value {
    let mut v = json!({
        "Arn": s.arn,
        "Name": s.name,
        "GroupName": s.group,
        "ScheduleExpression": s.expression,
        "ScheduleExpressionTimezone": s.timezone,
        "FlexibleTimeWindow": s.window,
        "Target": s.target,
        "State": s.state,
        "ActionAfterCompletion": s.after_completion,
        "CreationDate": epoch(&s.created),
        "LastModificationDate": epoch(&s.modified),
    });
    if let Some(t) = &s.start {
        v["StartDate"] = epoch(t);
    }
    if let Some(t) = &s.end {
        v["EndDate"] = epoch(t);
    }
    if let Some(d) = &s.description {
        v["Description"] = json!(d);
    }
    v
}

fn group_json(g: &Group) -> Value {
    json!({"Arn": g.arn, "Name": g.name, "State": "ACTIVE", "CreationDate": epoch(&g.created), "LastModificationDate": epoch(&g.created)})
}

/// One page of a list under `NextToken`/`MaxResults`.
fn page<T>(
    q: &HashMap<String, String>,
    rows: Vec<T>,
    key: &str,
    f: impl Fn(&T) -> Value,
) -> Result<Value, SchedulerError> {
    let limit = q
        .get("MaxResults")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 100);
    let offset = match q.get("NextToken") {
        None => 0,
        Some(t) => super::token_offset(t)
            .ok_or_else(|| SchedulerError::Validation(format!("Invalid NextToken: {t}")))?,
    };
    let rows: Vec<T> = rows.into_iter().skip(offset).take(limit + 1).collect();
    Ok(super::paged(rows, offset, limit, key, "NextToken", f))
}

pub async fn schedules(
    State(app): State<std::sync::Arc<App>>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let scope = scope_of(&app, &headers);
    answer((|| {
        let mut list = app
            .scheduler
            .list_schedules(&scope, q.get("ScheduleGroup").map(String::as_str))?;
        if let Some(p) = q.get("NamePrefix") {
            list.retain(|s| s.name.starts_with(p.as_str()));
        }
        if let Some(st) = q.get("State") {
            list.retain(|s| &s.state == st);
        }
        page(&q, list, "Schedules", |s| {
            json!({"Arn": s.arn, "Name": s.name, "GroupName": s.group, "State": s.state,
                   "CreationDate": epoch(&s.created), "LastModificationDate": epoch(&s.modified),
                   "Target": {"Arn": s.target.get("Arn")}})
        })
    })())
}

pub async fn schedule(
    State(app): State<std::sync::Arc<App>>,
    method: Method,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Q,
    bytes: Bytes,
) -> Response {
    let scope = scope_of(&app, &headers);
    let sch = &app.scheduler;
    let r = async {
        let group = q.get("groupName").cloned();
        match method {
            Method::GET => Ok(schedule_json(&sch.schedule(&scope, group.as_deref(), &name)?)),
            Method::DELETE => {
                sch.delete_schedule(&scope, group.as_deref(), &name).await?;
                Ok(json!({}))
            }
            Method::POST | Method::PUT => {
                let v = body(&bytes)?;
                let spec = ScheduleSpec {
                    name: name.clone(),
                    group: text(&v, "GroupName"),
                    expression: text(&v, "ScheduleExpression").ok_or_else(|| {
                        SchedulerError::Validation("1 validation error detected: Value null at 'scheduleExpression' failed to satisfy constraint: Member must not be null".into())
                    })?,
                    timezone: text(&v, "ScheduleExpressionTimezone"),
                    start: time(&v, "StartDate")?,
                    end: time(&v, "EndDate")?,
                    window: v.get("FlexibleTimeWindow").cloned(),
                    target: v.get("Target").cloned(),
                    state: text(&v, "State"),
                    description: text(&v, "Description"),
                    after_completion: text(&v, "ActionAfterCompletion"),
                };
                let s = sch.put_schedule(&scope, spec, method == Method::PUT).await?;
                Ok(json!({"ScheduleArn": s.arn}))
            }
            _ => Err(SchedulerError::Validation(format!("{method} is not supported on /schedules/{name}"))),
        }
    }
    .await;
    answer(r)
}

pub async fn groups(
    State(app): State<std::sync::Arc<App>>,
    headers: HeaderMap,
    Query(q): Q,
) -> Response {
    let scope = scope_of(&app, &headers);
    answer((|| {
        let mut list = app.scheduler.list_groups(&scope)?;
        if let Some(p) = q.get("NamePrefix") {
            list.retain(|g| g.name.starts_with(p.as_str()));
        }
        page(&q, list, "ScheduleGroups", group_json)
    })())
}

pub async fn group(
    State(app): State<std::sync::Arc<App>>,
    method: Method,
    headers: HeaderMap,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Response {
    let scope = scope_of(&app, &headers);
    let sch = &app.scheduler;
    let r = async {
        match method {
            Method::GET => Ok(group_json(&sch.group(&scope, &name)?)),
            Method::DELETE => {
                sch.delete_group(&scope, &name).await?;
                Ok(json!({}))
            }
            Method::POST => {
                let v = body(&bytes)?;
                let tags = super::key_values(&v, "Tags");
                let g = sch.create_group(&scope, &name, tags).await?;
                Ok(json!({"ScheduleGroupArn": g.arn}))
            }
            _ => Err(SchedulerError::Validation(format!(
                "{method} is not supported on /schedule-groups/{name}"
            ))),
        }
    }
    .await;
    answer(r)
}
