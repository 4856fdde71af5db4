//! CloudWatch Logs on AWS JSON 1.1 (`Logs_20140328.*`).

use super::App;
use super::{missing, opt_str, req_str, AwsError};
use crate::logs::filter::Filter;
use crate::logs::metric_filters::{MetricFilter, Transformation};
use crate::logs::{Found, Group, Logs, LogsError, Position, Query, Source, Stream};
use crate::sfn::arn::Scope;
use crate::store::Record;
use serde_json::{json, Value};
use std::collections::BTreeMap;

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

/// The group a `logGroupIdentifier` names: it is a name or an ARN.
fn identified(id: &str) -> String {
    id.rsplit_once(":log-group:")
        .map_or(id, |(_, n)| n.trim_end_matches(":*"))
        .to_string()
}

fn group_name(v: &Value) -> Result<String, AwsError> {
    match (
        opt_str(v, "logGroupName")?,
        opt_str(v, "logGroupIdentifier")?,
    ) {
        (Some(n), _) => Ok(n),
        (None, Some(id)) => Ok(identified(&id)),
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

/// The positions a read covers: `startTime..=endTime`, within the group's retention.
fn window(v: &Value, g: &Group) -> (Position, Position) {
    let kept_from = g.kept_from(chrono::Utc::now().timestamp_millis());
    let start = v.get("startTime").and_then(Value::as_i64).max(kept_from);
    let end = v.get("endTime").and_then(Value::as_i64);
    (
        start.map_or(Position::FIRST, Position::at),
        end.map_or(Position::LAST, |e| Position::at(e.saturating_add(1))),
    )
}

/// A map of tags (`{"key": "value"}`) in the request, empty when absent.
fn tag_map(v: &Value, field: &str) -> Result<BTreeMap<String, String>, AwsError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(t) => {
            serde_json::from_value(t.clone()).map_err(|e| invalid(format!("{field}: {e}")).into())
        }
    }
}

/// The group a tagging request names: by `resourceArn`, or by `logGroupName`.
fn tagged_group(scope: &Scope, v: &Value) -> Result<String, AwsError> {
    match opt_str(v, "resourceArn")? {
        Some(arn) => Ok(crate::logs::tags::group_of_arn(scope, &arn)?.to_string()),
        None => req_str(v, "logGroupName"),
    }
}

fn invalid(why: String) -> LogsError {
    LogsError::InvalidParameterException(why)
}

fn bad_token() -> AwsError {
    AwsError::new(
        400,
        "InvalidParameterException",
        "The specified nextToken is invalid.",
    )
}

/// A stream's first or last event in its group's retention.
fn end_event(logs: &Logs, g: &Group, s: &Stream, last: bool) -> Result<Option<Found>, AwsError> {
    let (from, to) = window(&Value::Null, g);
    let q = Query {
        from,
        to,
        backward: last,
        limit: 1,
        keep: &|_, _| true,
    };
    Ok(logs.read(&[Source::Stream(&s.key())], &q)?.events.pop())
}

pub async fn handle(app: &App, scope: &Scope, action: &str, v: &Value) -> Result<Value, AwsError> {
    let logs = &app.logs;
    Ok(match action {
        "CreateLogGroup" => {
            let tags = tag_map(v, "tags")?;
            logs.create_group(scope, &req_str(v, "logGroupName")?, tags)
                .await?;
            json!({})
        }
        "TagResource" | "TagLogGroup" => {
            let tags = tag_map(v, "tags")?;
            logs.tag(scope, &tagged_group(scope, v)?, tags).await?;
            json!({})
        }
        "UntagResource" | "UntagLogGroup" => {
            // by ARN the keys are `tagKeys`; by name, `tags`
            let field = if action == "UntagResource" {
                "tagKeys"
            } else {
                "tags"
            };
            let keys: Vec<String> = (v.get(field).and_then(Value::as_array))
                .ok_or_else(|| missing(field))?
                .iter()
                .filter_map(|k| k.as_str().map(String::from))
                .collect();
            logs.untag(scope, &tagged_group(scope, v)?, &keys).await?;
            json!({})
        }
        "ListTagsForResource" | "ListTagsLogGroup" => {
            let g = logs.group(scope, &tagged_group(scope, v)?)?;
            json!({"tags": g.tags})
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
            let rows = (groups.into_iter().skip(offset).take(limit + 1))
                .map(|g| Ok((logs.stored_bytes(&g)?, g)))
                .collect::<Result<Vec<_>, LogsError>>()?;
            super::paged(
                rows,
                offset,
                limit,
                "logGroups",
                "nextToken",
                |(bytes, g)| {
                    let mut o = json!({
                        "logGroupName": g.name,
                        "creationTime": g.created.timestamp_millis(),
                        "metricFilterCount": logs.metric_filters(scope, Some(g)).map_or(0, |f| f.len()),
                        "arn": format!("{}:*", g.arn()),
                        "logGroupArn": g.arn(),
                        "storedBytes": bytes,
                        "logGroupClass": "STANDARD",
                    });
                    if let Some(d) = g.retention_days {
                        o["retentionInDays"] = json!(d);
                    }
                    o
                },
            )
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
        "DeleteLogStream" => {
            logs.delete_stream(
                scope,
                &req_str(v, "logGroupName")?,
                &req_str(v, "logStreamName")?,
            )
            .await?;
            json!({})
        }
        "PutMetricFilter" => {
            let ts: Vec<Transformation> = serde_json::from_value(
                v.get("metricTransformations")
                    .cloned()
                    .ok_or_else(|| missing("metricTransformations"))?,
            )
            .map_err(|e| invalid(format!("metricTransformations: {e}")))?;
            let [t] = <[Transformation; 1]>::try_from(ts).map_err(|_| {
                invalid("1 validation error detected: Value at 'metricTransformations' failed to satisfy constraint: Member must have length less than or equal to 1".into())
            })?;
            logs.put_metric_filter(
                scope,
                &req_str(v, "logGroupName")?,
                &req_str(v, "filterName")?,
                &opt_str(v, "filterPattern")?.unwrap_or_default(),
                t,
            )
            .await?;
            json!({})
        }
        "DeleteMetricFilter" => {
            let (group, name) = (req_str(v, "logGroupName")?, req_str(v, "filterName")?);
            logs.delete_metric_filter(scope, &group, &name).await?;
            json!({})
        }
        "DescribeMetricFilters" => {
            let prefix = opt_str(v, "filterNamePrefix")?;
            let group = match opt_str(v, "logGroupName")? {
                Some(name) => Some(logs.group(scope, &name)?),
                None if prefix.is_some() => {
                    return Err(invalid("filterNamePrefix needs logGroupName".into()).into())
                }
                None => None,
            };
            let metric = (opt_str(v, "metricName")?, opt_str(v, "metricNamespace")?);
            let all: Vec<MetricFilter> = (logs.metric_filters(scope, group.as_ref())?.into_iter())
                .filter(|f| prefix.as_deref().is_none_or(|p| f.name.starts_with(p)))
                .filter(|f| {
                    metric
                        .0
                        .as_ref()
                        .is_none_or(|n| *n == f.transformation.metric_name)
                        && metric
                            .1
                            .as_ref()
                            .is_none_or(|n| *n == f.transformation.metric_namespace)
                })
                .collect();
            let (offset, limit) = super::page(v, "nextToken", "limit", 50, 50)?;
            let rows: Vec<_> = all.into_iter().skip(offset).take(limit + 1).collect();
            super::paged(rows, offset, limit, "metricFilters", "nextToken", |f| {
                json!({
                    "filterName": f.name,
                    "filterPattern": f.pattern,
                    "metricTransformations": [f.transformation],
                    "creationTime": f.created.timestamp_millis(),
                    "logGroupName": crate::logs::group_key_parts(&f.group).2,
                })
            })
        }
        "TestMetricFilter" => {
            let messages: Vec<String> = (v.get("logEventMessages").and_then(Value::as_array))
                .ok_or_else(|| missing("logEventMessages"))?
                .iter()
                .map(|m| m.as_str().unwrap_or_default().to_string())
                .collect();
            let pattern = opt_str(v, "filterPattern")?.unwrap_or_default();
            let found = crate::logs::metric_filters::test(&pattern, &messages)?;
            json!({"matches": found.into_iter().map(|t| json!({
                "eventNumber": t.number, "eventMessage": t.message, "extractedValues": t.fields,
            })).collect::<Vec<_>>()})
        }
        "StartQuery" => {
            let mut groups: Vec<String> = Vec::new();
            if let Some(g) = opt_str(v, "logGroupName")? {
                groups.push(g);
            }
            for field in ["logGroupNames", "logGroupIdentifiers"] {
                for g in (v.get(field).and_then(Value::as_array).into_iter().flatten())
                    .filter_map(Value::as_str)
                {
                    groups.push(identified(g));
                }
            }
            if groups.is_empty() || groups.len() > 50 {
                return Err(invalid("StartQuery needs one to 50 log groups: logGroupName, logGroupNames or logGroupIdentifiers".into()).into());
            }
            let time = |field: &str| {
                v.get(field)
                    .and_then(Value::as_i64)
                    .ok_or_else(|| missing(field))
            };
            let range = (time("startTime")?, time("endTime")?);
            let limit = v.get("limit").and_then(Value::as_u64).map(|n| n as usize);
            let id = logs.start_query(scope, &groups, range, &req_str(v, "queryString")?, limit)?;
            json!({"queryId": id})
        }
        "GetQueryResults" => {
            let run = logs.query_run(&req_str(v, "queryId")?)?;
            let results: Vec<Value> = (run.rows.iter())
                .map(|row| {
                    let fields =
                        (row.iter()).map(|(field, value)| json!({"field": field, "value": value}));
                    Value::Array(fields.collect())
                })
                .collect();
            json!({
                "results": results,
                "statistics": {
                    "recordsMatched": run.matched as f64,
                    "recordsScanned": run.scanned as f64,
                    "bytesScanned": run.bytes as f64,
                },
                "status": run.status,
            })
        }
        "GetLogRecord" => {
            json!({"logRecord": logs.log_record(&req_str(v, "logRecordPointer")?)?})
        }
        "StopQuery" => json!({"success": logs.stop_query(&req_str(v, "queryId")?)?}),
        "DescribeQueries" => {
            let group = opt_str(v, "logGroupName")?;
            let status = opt_str(v, "status")?;
            let queries: Vec<Value> = (logs.query_runs().into_iter())
                .filter(|r| group.as_ref().is_none_or(|g| *g == r.group))
                .filter(|r| status.as_ref().is_none_or(|s| s == r.status))
                .map(|r| {
                    json!({
                        "queryId": r.id, "queryString": r.query, "status": r.status,
                        "createTime": r.created, "logGroupName": r.group,
                    })
                })
                .collect();
            json!({"queries": queries})
        }
        "DescribeLogStreams" => {
            let g = logs.group(scope, &group_name(v)?)?;
            let prefix = opt_str(v, "logStreamNamePrefix")?.unwrap_or_default();
            let mut streams: Vec<(Stream, Option<i64>)> = (logs.streams(&g)?.into_iter())
                .filter(|s| s.name.starts_with(&prefix))
                .map(|s| (s, None))
                .collect();
            let by_time = opt_str(v, "orderBy")?.is_some_and(|o| o == "LastEventTime");
            if by_time {
                for (s, last) in &mut streams {
                    *last = end_event(logs, &g, s, true)?.map(|f| f.event.timestamp);
                }
                streams.sort_by_key(|(_, last)| last.unwrap_or(0));
            } else {
                streams.sort_by(|a, b| a.0.name.cmp(&b.0.name));
            }
            if super::opt_bool(v, "descending") {
                streams.reverse();
            }
            let (offset, limit) = super::page(v, "nextToken", "limit", 50, 50)?;
            // the events' times of the page's streams only
            let mut rows = Vec::new();
            for (s, _) in streams.into_iter().skip(offset).take(limit + 1) {
                let mut o = json!({
                    "logStreamName": s.name,
                    "creationTime": s.created.timestamp_millis(),
                    "arn": format!("{}:log-stream:{}", g.arn(), s.name),
                    // no longer kept per stream on AWS (since 2019): always zero
                    "storedBytes": 0,
                });
                let first = end_event(logs, &g, &s, false)?;
                if let (Some(first), Some(last)) = (first, end_event(logs, &g, &s, true)?) {
                    o["firstEventTimestamp"] = json!(first.event.timestamp);
                    o["lastEventTimestamp"] = json!(last.event.timestamp);
                    o["lastIngestionTime"] = json!(last.event.ingestion);
                }
                rows.push(o);
            }
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
            let g = logs.group(scope, &group_name(v)?)?;
            let s = logs.stream_in(&g, &req_str(v, "logStreamName")?)?;
            let (lo, hi) = window(v, &g);
            // a token is a direction and the position a page ends at
            let (backward, at) = match opt_str(v, "nextToken")? {
                Some(t) => match t.split_once('/') {
                    Some(("f", p)) => (false, Position::parse(p).ok_or_else(bad_token)?),
                    Some(("b", p)) => (true, Position::parse(p).ok_or_else(bad_token)?),
                    _ => return Err(bad_token()),
                },
                None if super::opt_bool(v, "startFromHead") => (false, lo),
                None => (true, hi),
            };
            let (from, to) = if backward {
                (lo, at.clamp(lo, hi))
            } else {
                (at.clamp(lo, hi), hi)
            };
            let q = Query {
                from,
                to,
                backward,
                limit: limit(v, 10_000, 10_000)?,
                keep: &|_, _| true,
            };
            let page = logs.read(&[Source::Stream(&s.key())], &q)?;
            // an empty page leaves both tokens where the read began
            let begun = if backward { to } else { from };
            let first = page.events.first().map_or(begun, Found::position);
            let end = (page.events.last()).map_or(begun, |f| f.position().next());
            json!({
                "events": page.events.iter().map(|f| json!({"timestamp": f.event.timestamp, "message": f.event.message, "ingestionTime": f.event.ingestion})).collect::<Vec<_>>(),
                "nextForwardToken": format!("f/{}", end.token()),
                "nextBackwardToken": format!("b/{}", first.token()),
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
            let (lo, hi) = window(v, &g);
            let from = match opt_str(v, "nextToken")? {
                Some(t) => Position::parse(&t).ok_or_else(bad_token)?.max(lo),
                None => lo,
            };
            // named streams are read each by itself; otherwise the whole group at once
            let keys: Vec<String> = (names.iter())
                .map(|n| format!("{}\u{0}{n}", g.key()))
                .collect();
            let group_key = g.key();
            let sources: Vec<Source> = if keys.is_empty() {
                vec![Source::Group(&group_key)]
            } else {
                keys.iter().map(|k| Source::Stream(k)).collect()
            };
            let keep = |stream: &str, e: &crate::logs::Event| {
                prefix.as_deref().is_none_or(|p| stream.starts_with(p))
                    && filter.matches(&e.message)
            };
            let q = Query {
                from,
                to: hi,
                backward: false,
                limit: limit(v, 10_000, 10_000)?,
                keep: &keep,
            };
            let page = logs.read(&sources, &q)?;
            let mut out = json!({
                "events": page.events.iter().map(|f| json!({
                    "logStreamName": f.stream,
                    "timestamp": f.event.timestamp,
                    "message": f.event.message,
                    "ingestionTime": f.event.ingestion,
                    "eventId": format!("{}{:06}", f.seq, f.index),
                })).collect::<Vec<_>>(),
                "searchedLogStreams": [],
            });
            if let (true, Some(last)) = (page.more, page.events.last()) {
                out["nextToken"] = json!(last.position().next().token());
            }
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
