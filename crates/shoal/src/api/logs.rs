//! CloudWatch Logs on AWS JSON 1.1 (`Logs_20140328.*`).

use super::App;
use super::{missing, opt_str, req_str, AwsError};
use crate::logs::filter::Filter;
use crate::logs::{Found, LogsError};
use crate::sfn::arn::Scope;
use serde_json::{json, Value};

impl From<LogsError> for AwsError {
    fn from(e: LogsError) -> AwsError {
        let status = if matches!(e, LogsError::ServiceUnavailableException(_)) {
            500
        } else {
            400
        };
        AwsError::new(status, e.code(), e.to_string())
    }
}

fn group_name(v: &Value) -> Result<String, AwsError> {
    match (
        opt_str(v, "logGroupName")?,
        opt_str(v, "logGroupIdentifier")?,
    ) {
        (Some(n), _) => Ok(n),
        // an identifier is a name or an ARN
        (None, Some(id)) => Ok(id
            .rsplit_once(":log-group:")
            .map_or(id.clone(), |(_, n)| n.trim_end_matches(":*").to_string())),
        (None, None) => Err(missing("logGroupName")),
    }
}

fn limit(v: &Value, default: usize, max: usize) -> Result<usize, AwsError> {
    match v.get("limit").and_then(Value::as_i64) {
        None => Ok(default),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(n) => Err(AwsError::new(400, "InvalidParameterException", format!("1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {max}"))),
    }
}

fn in_range(v: &Value, f: &Found) -> bool {
    let t = f.event.timestamp;
    v.get("startTime")
        .and_then(Value::as_i64)
        .is_none_or(|s| t >= s)
        && v.get("endTime")
            .and_then(Value::as_i64)
            .is_none_or(|e| t <= e)
}

pub async fn handle(app: &App, scope: &Scope, action: &str, v: &Value) -> Result<Value, AwsError> {
    let logs = &app.logs;
    Ok(match action {
        "CreateLogGroup" => {
            logs.create_group(scope, &req_str(v, "logGroupName")?)
                .await?;
            json!({})
        }
        "DeleteLogGroup" => {
            logs.delete_group(scope, &req_str(v, "logGroupName")?)
                .await?;
            json!({})
        }
        "PutRetentionPolicy" => {
            let days = v
                .get("retentionInDays")
                .and_then(Value::as_u64)
                .ok_or_else(|| missing("retentionInDays"))?;
            logs.set_retention(scope, &req_str(v, "logGroupName")?, Some(days as u32))
                .await?;
            json!({})
        }
        "DeleteRetentionPolicy" => {
            logs.set_retention(scope, &req_str(v, "logGroupName")?, None)
                .await?;
            json!({})
        }
        "DescribeLogGroups" => {
            let prefix = opt_str(v, "logGroupNamePrefix")?.unwrap_or_default();
            let groups = logs.groups(scope, &prefix)?;
            let (offset, limit) = super::page(v, "nextToken", "limit", 50, 50)?;
            let rows: Vec<_> = groups.into_iter().skip(offset).take(limit + 1).collect();
            super::paged(rows, offset, limit, "logGroups", "nextToken", |g| {
                let mut o = json!({
                    "logGroupName": g.name,
                    "creationTime": g.created.timestamp_millis(),
                    "metricFilterCount": 0,
                    "arn": format!("{}:*", g.arn()),
                    "logGroupArn": g.arn(),
                    "storedBytes": 0,
                    "logGroupClass": "STANDARD",
                });
                if let Some(d) = g.retention_days {
                    o["retentionInDays"] = json!(d);
                }
                o
            })
        }
        "CreateLogStream" => {
            logs.create_stream(
                scope,
                &req_str(v, "logGroupName")?,
                &req_str(v, "logStreamName")?,
            )
            .await?;
            json!({})
        }
        "DescribeLogStreams" => {
            let g = logs.group(scope, &group_name(v)?)?;
            let prefix = opt_str(v, "logStreamNamePrefix")?.unwrap_or_default();
            let mut rows = Vec::new();
            for s in logs
                .streams(&g)?
                .into_iter()
                .filter(|s| s.name.starts_with(&prefix))
            {
                let events = logs.stream_events(&s)?;
                let mut o = json!({
                    "logStreamName": s.name,
                    "creationTime": s.created.timestamp_millis(),
                    "arn": format!("{}:log-stream:{}", g.arn(), s.name),
                    "storedBytes": 0,
                });
                if let (Some(first), Some(last)) = (
                    events.iter().map(|f| f.event.timestamp).min(),
                    events.iter().map(|f| f.event.timestamp).max(),
                ) {
                    o["firstEventTimestamp"] = json!(first);
                    o["lastEventTimestamp"] = json!(last);
                    o["lastIngestionTime"] = json!(events.iter().map(|f| f.event.ingestion).max());
                }
                rows.push(o);
            }
            let by_time = opt_str(v, "orderBy")?.is_some_and(|o| o == "LastEventTime");
            if by_time {
                rows.sort_by_key(|o| o["lastEventTimestamp"].as_i64().unwrap_or(0));
            } else {
                rows.sort_by(|a, b| {
                    a["logStreamName"]
                        .as_str()
                        .cmp(&b["logStreamName"].as_str())
                });
            }
            if super::opt_bool(v, "descending") {
                rows.reverse();
            }
            let (offset, limit) = super::page(v, "nextToken", "limit", 50, 50)?;
            let rows: Vec<_> = rows.into_iter().skip(offset).take(limit + 1).collect();
            super::paged(rows, offset, limit, "logStreams", "nextToken", Value::clone)
        }
        "PutLogEvents" => {
            let events: Vec<(i64, String)> = v
                .get("logEvents")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("logEvents"))?
                .iter()
                .map(|e| {
                    (
                        e.get("timestamp").and_then(Value::as_i64).unwrap_or(0),
                        e.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    )
                })
                .collect();
            if events.is_empty() || events.len() > 10_000 {
                return Err(AwsError::new(400, "InvalidParameterException", "1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length between 1 and 10000"));
            }
            let rejected = logs
                .put_events(
                    scope,
                    &req_str(v, "logGroupName")?,
                    &req_str(v, "logStreamName")?,
                    events,
                )
                .await?;
            let mut out = json!({"nextSequenceToken": uuid::Uuid::new_v4().simple().to_string()});
            if !rejected.is_empty() {
                let mut info = serde_json::Map::new();
                for (k, at) in [
                    ("tooOldLogEventEndIndex", rejected.too_old_end),
                    ("expiredLogEventEndIndex", rejected.expired_end),
                    ("tooNewLogEventStartIndex", rejected.too_new_start),
                ] {
                    if let Some(at) = at {
                        info.insert(k.into(), json!(at));
                    }
                }
                out["rejectedLogEventsInfo"] = Value::Object(info);
            }
            out
        }
        "GetLogEvents" => {
            let s = logs.stream(scope, &group_name(v)?, &req_str(v, "logStreamName")?)?;
            let all: Vec<Found> = logs
                .stream_events(&s)?
                .into_iter()
                .filter(|f| in_range(v, f))
                .collect();
            let limit = limit(v, 10_000, 10_000)?;
            let token = opt_str(v, "nextToken")?;
            let bad = || {
                AwsError::new(
                    400,
                    "InvalidParameterException",
                    "The specified nextToken is invalid.",
                )
            };
            let (start, end) = match token.as_deref() {
                Some(t) if t.starts_with("f/") => {
                    let at: usize = t[2..].parse().map_err(|_| bad())?;
                    let at = at.min(all.len());
                    (at, (at + limit).min(all.len()))
                }
                Some(t) if t.starts_with("b/") => {
                    let at: usize = t[2..].parse().map_err(|_| bad())?;
                    let at = at.min(all.len());
                    (at.saturating_sub(limit), at)
                }
                Some(_) => return Err(bad()),
                None if super::opt_bool(v, "startFromHead") => (0, limit.min(all.len())),
                None => (all.len().saturating_sub(limit), all.len()),
            };
            json!({
                "events": all[start..end].iter().map(|f| json!({"timestamp": f.event.timestamp, "message": f.event.message, "ingestionTime": f.event.ingestion})).collect::<Vec<_>>(),
                "nextForwardToken": format!("f/{end}"),
                "nextBackwardToken": format!("b/{start}"),
            })
        }
        "FilterLogEvents" => {
            let g = logs.group(scope, &group_name(v)?)?;
            let names: Vec<String> = v
                .get("logStreamNames")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let prefix = opt_str(v, "logStreamNamePrefix")?;
            let filter = Filter::parse(&opt_str(v, "filterPattern")?.unwrap_or_default())
                .map_err(|e| AwsError::new(400, "InvalidParameterException", e))?;
            let found: Vec<Found> = logs
                .group_events(&g, &names, prefix.as_deref())?
                .into_iter()
                .filter(|f| in_range(v, f) && filter.matches(&f.event.message))
                .collect();
            let limit = limit(v, 10_000, 10_000)?;
            let offset = match opt_str(v, "nextToken")? {
                Some(t) => super::token_offset(&t).ok_or_else(|| {
                    AwsError::new(
                        400,
                        "InvalidParameterException",
                        "The specified nextToken is invalid.",
                    )
                })?,
                None => 0,
            };
            let rows: Vec<Found> = found.into_iter().skip(offset).take(limit + 1).collect();
            let mut out = super::paged(rows, offset, limit, "events", "nextToken", |f| {
                json!({
                    "logStreamName": f.stream,
                    "timestamp": f.event.timestamp,
                    "message": f.event.message,
                    "ingestionTime": f.event.ingestion,
                    "eventId": format!("{}{:06}", f.seq, f.index),
                })
            });
            out["searchedLogStreams"] = json!([]);
            out
        }
        other => {
            return Err(AwsError::new(
                400,
                "UnknownOperationException",
                format!("shoal does not implement Logs_20140328.{other} yet"),
            ))
        }
    })
}
