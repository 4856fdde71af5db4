//! `AWSEvents.*` actions (EventBridge) on the AWS JSON 1.1 protocol.

use super::{epoch, missing, opt_str, page, paged, req_str, App, AwsError};
use crate::events::archives::{Archive, NewReplay, Replay};
use crate::events::destinations::{public_auth, ApiDestination, Connection, NewDestination};
use crate::events::model::{Bus, Rule};
use crate::events::put::{Entry, Sender};
use crate::events::rules::RuleSpec;
use crate::events::EventsError;
use crate::sfn::arn::Scope;
use serde_json::{json, Value};

type R = Result<Value, AwsError>;

impl From<EventsError> for AwsError {
    fn from(e: EventsError) -> AwsError {
        AwsError::new(e.status(), e.code(), e.to_string())
    }
}

fn tags(v: &Value) -> Vec<(String, String)> {
    super::key_values(v, "Tags")
}

fn bus_json(b: &Bus) -> Value {
    let mut v = json!({"Name": b.name, "Arn": b.arn, "CreationTime": epoch(&b.created), "LastModifiedTime": epoch(&b.created)});
    if let Some(d) = &b.description {
        v["Description"] = json!(d);
    }
    v
}

fn rule_json(r: &Rule) -> Value {
    let mut v = json!({"Name": r.name, "Arn": r.arn, "State": r.state, "EventBusName": r.bus_name});
    for (k, x) in [
        ("EventPattern", &r.pattern),
        ("ScheduleExpression", &r.schedule),
        ("Description", &r.description),
        ("RoleArn", &r.role_arn),
    ] {
        if let Some(x) = x {
            v[k] = json!(x);
        }
    }
    v
}

fn connection_json(c: &Connection, full: bool) -> Value {
    let mut v = json!({
        "ConnectionArn": c.arn,
        "Name": c.name,
        "ConnectionState": "AUTHORIZED",
        "AuthorizationType": c.authorization_type,
        "CreationTime": epoch(&c.created),
        "LastModifiedTime": epoch(&c.created),
        "LastAuthorizedTime": epoch(&c.created),
    });
    if full {
        v["AuthParameters"] = public_auth(c);
        if let Some(d) = &c.description {
            v["Description"] = json!(d);
        }
    }
    v
}

fn destination_json(d: &ApiDestination) -> Value {
    let mut v = json!({
        "ApiDestinationArn": d.arn,
        "Name": d.name,
        "ApiDestinationState": "ACTIVE",
        "ConnectionArn": d.connection_arn,
        "InvocationEndpoint": d.endpoint,
        "HttpMethod": d.method,
        "CreationTime": epoch(&d.created),
        "LastModifiedTime": epoch(&d.created),
    });
    if let Some(r) = d.rate_limit {
        v["InvocationRateLimitPerSecond"] = json!(r);
    }
    if let Some(x) = &d.description {
        v["Description"] = json!(x);
    }
    v
}

fn retention(v: &Value) -> Result<Option<u32>, AwsError> {
    match v.get("RetentionDays") {
        None | Some(Value::Null) => Ok(None),
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                AwsError::new(
                    400,
                    "ValidationException",
                    "RetentionDays must be a number of days ≥ 0",
                )
            }),
    }
}

fn archive_json(ev: &crate::events::Events, a: &Archive, full: bool) -> Result<Value, AwsError> {
    let kept = ev.archived(&a.arn)?;
    let mut v = json!({
        "ArchiveName": a.name,
        "EventSourceArn": a.bus_arn,
        "State": "ENABLED",
        "RetentionDays": a.retention_days,
        "SizeBytes": kept.iter().map(|e| e.event.len()).sum::<usize>(),
        "EventCount": kept.len(),
        "CreationTime": epoch(&a.created),
    });
    if full {
        v["ArchiveArn"] = json!(a.arn);
        if let Some(d) = &a.description {
            v["Description"] = json!(d);
        }
        if let Some(p) = &a.pattern {
            v["EventPattern"] = json!(p);
        }
    }
    Ok(v)
}

fn replay_json(r: &Replay, full: bool) -> Value {
    let mut v = json!({
        "ReplayName": r.name,
        "EventSourceArn": r.archive_arn,
        "State": r.state,
        "EventStartTime": epoch(&r.event_start),
        "EventEndTime": epoch(&r.event_end),
        "ReplayStartTime": epoch(&r.started),
    });
    if let Some(t) = &r.last_replayed {
        v["EventLastReplayedTime"] = epoch(t);
    }
    if let Some(t) = &r.ended {
        v["ReplayEndTime"] = epoch(t);
    }
    if let Some(why) = &r.reason {
        v["StateReason"] = json!(why);
    }
    if full {
        v["ReplayArn"] = json!(r.arn);
        v["Destination"] = r.destination.clone();
        if let Some(d) = &r.description {
            v["Description"] = json!(d);
        }
    }
    v
}

/// One page of an in-memory list under EventBridge's `NextToken`/`Limit`.
fn listed<T>(v: &Value, rows: Vec<T>, key: &str, f: impl Fn(&T) -> Value) -> R {
    let (offset, limit) = page(v, "NextToken", "Limit", 100, 100)?;
    let rows: Vec<T> = rows.into_iter().skip(offset).take(limit + 1).collect();
    Ok(paged(rows, offset, limit, key, "NextToken", f))
}

fn failed(entries: Vec<(String, String, String)>) -> Value {
    json!({
        "FailedEntryCount": entries.len(),
        "FailedEntries": entries
            .iter()
            .map(|(id, code, msg)| json!({"TargetId": id, "ErrorCode": code, "ErrorMessage": msg}))
            .collect::<Vec<_>>(),
    })
}

pub fn entries(v: &Value) -> Result<Vec<Entry>, AwsError> {
    let Some(list) = v.get("Entries").and_then(Value::as_array) else {
        return Err(missing("entries"));
    };
    Ok(list.iter().map(Entry::from_json).collect())
}

/// TestEventPattern's event must carry the envelope's fields.
fn check_test_event(text: &str) -> Result<(), AwsError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|_| AwsError::new(400, "ValidationException", "Parameter Event is not valid."))?;
    for k in ["id", "account", "source", "time", "region", "detail-type"] {
        if v.get(k).is_none() {
            return Err(AwsError::new(
                400,
                "ValidationException",
                format!("Parameter Event is not valid: the event has no '{k}'."),
            ));
        }
    }
    Ok(())
}

/// PutEvents' answer: an event id or an error per entry.
pub fn put_events_answer(results: Vec<crate::events::put::EntryResult>) -> Value {
    let failed = results.iter().filter(|r| r.is_err()).count();
    let entries: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok(id) => json!({"EventId": id}),
            Err((code, msg)) => json!({"ErrorCode": code, "ErrorMessage": msg}),
        })
        .collect();
    json!({"FailedEntryCount": failed, "Entries": entries})
}

pub async fn handle(app: &App, scope: &Scope, action: &str, v: &Value) -> R {
    let ev = &app.events;
    let bus = opt_str(v, "EventBusName")?;
    let bus = bus.as_deref();
    Ok(match action {
        "CreateEventBus" => {
            let b = ev
                .create_bus(
                    scope,
                    &req_str(v, "Name")?,
                    opt_str(v, "Description")?,
                    tags(v),
                )
                .await?;
            let mut out = json!({"EventBusArn": b.arn});
            if let Some(d) = b.description {
                out["Description"] = json!(d);
            }
            out
        }
        "DescribeEventBus" => bus_json(&ev.bus(scope, opt_str(v, "Name")?.as_deref())?),
        "DeleteEventBus" => {
            ev.delete_bus(scope, &req_str(v, "Name")?).await?;
            json!({})
        }
        "ListEventBuses" => {
            let buses = ev.list_buses(scope, opt_str(v, "NamePrefix")?.as_deref())?;
            listed(v, buses, "EventBuses", bus_json)?
        }
        "PutRule" => {
            let spec = RuleSpec {
                name: req_str(v, "Name")?,
                bus: opt_str(v, "EventBusName")?,
                pattern: opt_str(v, "EventPattern")?,
                schedule: opt_str(v, "ScheduleExpression")?,
                state: opt_str(v, "State")?,
                description: opt_str(v, "Description")?,
                role_arn: opt_str(v, "RoleArn")?,
                tags: tags(v),
            };
            json!({"RuleArn": ev.put_rule(scope, spec).await?.arn})
        }
        "DescribeRule" => {
            let r = ev.rule(scope, &req_str(v, "Name")?, bus)?;
            let mut out = rule_json(&r);
            out["CreatedBy"] = json!(scope.account);
            out
        }
        "ListRules" => {
            let rules = ev.list_rules(scope, bus, opt_str(v, "NamePrefix")?.as_deref())?;
            listed(v, rules, "Rules", rule_json)?
        }
        "EnableRule" | "DisableRule" => {
            let on = action == "EnableRule";
            ev.set_rule_state(scope, &req_str(v, "Name")?, bus, on)
                .await?;
            json!({})
        }
        "DeleteRule" => {
            ev.delete_rule(scope, &req_str(v, "Name")?, bus).await?;
            json!({})
        }
        "PutTargets" => {
            let Some(targets) = v.get("Targets").and_then(Value::as_array) else {
                return Err(missing("targets"));
            };
            failed(
                ev.put_targets(scope, &req_str(v, "Rule")?, bus, targets)
                    .await?,
            )
        }
        "RemoveTargets" => {
            let ids: Vec<String> = v
                .get("Ids")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("ids"))?
                .iter()
                .filter_map(|i| i.as_str().map(String::from))
                .collect();
            failed(
                ev.remove_targets(scope, &req_str(v, "Rule")?, bus, &ids)
                    .await?,
            )
        }
        "ListTargetsByRule" => {
            let r = ev.rule(scope, &req_str(v, "Rule")?, bus)?;
            listed(v, r.targets, "Targets", Value::clone)?
        }
        "ListRuleNamesByTarget" => {
            let names = ev.rule_names_by_target(scope, &req_str(v, "TargetArn")?, bus)?;
            listed(v, names, "RuleNames", |n| json!(n))?
        }
        "PutEvents" => put_events_answer(ev.put_events(scope, &entries(v)?, Sender::Client).await?),
        "CreateConnection" => {
            let c = ev
                .create_connection(
                    scope,
                    &req_str(v, "Name")?,
                    opt_str(v, "Description")?,
                    &req_str(v, "AuthorizationType")?,
                    v.get("AuthParameters")
                        .cloned()
                        .ok_or_else(|| missing("authParameters"))?,
                )
                .await?;
            json!({"ConnectionArn": c.arn, "ConnectionState": "AUTHORIZED", "CreationTime": epoch(&c.created), "LastModifiedTime": epoch(&c.created)})
        }
        "DescribeConnection" => connection_json(&ev.connection(scope, &req_str(v, "Name")?)?, true),
        "DeleteConnection" => {
            let c = ev.delete_connection(scope, &req_str(v, "Name")?).await?;
            json!({"ConnectionArn": c.arn, "ConnectionState": "DELETING", "CreationTime": epoch(&c.created), "LastModifiedTime": epoch(&c.created)})
        }
        "ListConnections" => {
            let mut list = ev.list_connections(scope)?;
            if let Some(p) = opt_str(v, "NamePrefix")? {
                list.retain(|c| c.name.starts_with(&p));
            }
            listed(v, list, "Connections", |c| connection_json(c, false))?
        }
        "CreateApiDestination" => {
            let rate = v
                .get("InvocationRateLimitPerSecond")
                .and_then(Value::as_u64);
            let spec = NewDestination {
                name: req_str(v, "Name")?,
                description: opt_str(v, "Description")?,
                connection_arn: req_str(v, "ConnectionArn")?,
                endpoint: req_str(v, "InvocationEndpoint")?,
                method: req_str(v, "HttpMethod")?,
                rate_limit: rate,
            };
            let d = ev.create_api_destination(scope, spec).await?;
            json!({"ApiDestinationArn": d.arn, "ApiDestinationState": "ACTIVE", "CreationTime": epoch(&d.created), "LastModifiedTime": epoch(&d.created)})
        }
        "DescribeApiDestination" => {
            destination_json(&ev.api_destination(scope, &req_str(v, "Name")?)?)
        }
        "DeleteApiDestination" => {
            ev.delete_api_destination(scope, &req_str(v, "Name")?)
                .await?;
            json!({})
        }
        "ListApiDestinations" => {
            let mut list = ev.list_api_destinations(scope)?;
            if let Some(p) = opt_str(v, "NamePrefix")? {
                list.retain(|d| d.name.starts_with(&p));
            }
            listed(v, list, "ApiDestinations", destination_json)?
        }
        "CreateArchive" => {
            let a = ev
                .create_archive(
                    scope,
                    &req_str(v, "ArchiveName")?,
                    &req_str(v, "EventSourceArn")?,
                    opt_str(v, "Description")?,
                    opt_str(v, "EventPattern")?,
                    retention(v)?.unwrap_or(0),
                )
                .await?;
            json!({"ArchiveArn": a.arn, "State": "ENABLED", "CreationTime": epoch(&a.created)})
        }
        "DescribeArchive" => {
            let a = ev.archive(scope, &req_str(v, "ArchiveName")?)?;
            archive_json(ev, &a, true)?
        }
        "UpdateArchive" => {
            let a = ev
                .update_archive(
                    scope,
                    &req_str(v, "ArchiveName")?,
                    opt_str(v, "Description")?,
                    opt_str(v, "EventPattern")?,
                    retention(v)?,
                )
                .await?;
            json!({"ArchiveArn": a.arn, "State": "ENABLED", "CreationTime": epoch(&a.created)})
        }
        "DeleteArchive" => {
            ev.delete_archive(scope, &req_str(v, "ArchiveName")?)
                .await?;
            json!({})
        }
        "ListArchives" => {
            let mut list = ev.list_archives(scope)?;
            if let Some(p) = opt_str(v, "NamePrefix")? {
                list.retain(|a| a.name.starts_with(&p));
            }
            if let Some(src) = opt_str(v, "EventSourceArn")? {
                list.retain(|a| a.bus_arn == src);
            }
            let rows: Result<Vec<Value>, AwsError> =
                list.iter().map(|a| archive_json(ev, a, false)).collect();
            listed(v, rows?, "Archives", Value::clone)?
        }
        "StartReplay" => {
            let time = |k: &str| crate::events::put::time_of(v.get(k)).ok_or_else(|| missing(k));
            let r = NewReplay {
                name: req_str(v, "ReplayName")?,
                description: opt_str(v, "Description")?,
                archive_arn: req_str(v, "EventSourceArn")?,
                start: time("EventStartTime")?,
                end: time("EventEndTime")?,
                destination: v
                    .get("Destination")
                    .cloned()
                    .ok_or_else(|| missing("destination"))?,
            };
            let r = ev.start_replay(scope, r).await?;
            json!({"ReplayArn": r.arn, "State": r.state, "ReplayStartTime": epoch(&r.started)})
        }
        "DescribeReplay" => replay_json(&ev.replay(scope, &req_str(v, "ReplayName")?)?, true),
        "ListReplays" => {
            let mut list = ev.list_replays(scope)?;
            if let Some(p) = opt_str(v, "NamePrefix")? {
                list.retain(|r| r.name.starts_with(&p));
            }
            if let Some(s) = opt_str(v, "State")? {
                list.retain(|r| r.state == s);
            }
            listed(v, list, "Replays", |r| replay_json(r, false))?
        }
        "CancelReplay" => {
            let r = ev.cancel_replay(scope, &req_str(v, "ReplayName")?).await?;
            json!({"ReplayArn": r.arn, "State": r.state})
        }
        "TagResource" => {
            ev.tag_resource(&req_str(v, "ResourceARN")?, tags(v))
                .await?;
            json!({})
        }
        "UntagResource" => {
            let keys: Vec<String> = v
                .get("TagKeys")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("tagKeys"))?
                .iter()
                .filter_map(|k| k.as_str().map(String::from))
                .collect();
            ev.untag_resource(&req_str(v, "ResourceARN")?, &keys)
                .await?;
            json!({})
        }
        "ListTagsForResource" => {
            let t = ev.tags_of(&req_str(v, "ResourceARN")?)?;
            json!({"Tags": t.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()})
        }
        "TestEventPattern" => {
            let pattern = req_str(v, "EventPattern")?;
            let event = req_str(v, "Event")?;
            check_test_event(&event)?;
            let p = patterns::Pattern::parse(&pattern)
                .map_err(|e| AwsError::new(400, "InvalidEventPatternException", e.to_string()))?;
            let m = p.matches_text(&event).map_err(|e| {
                AwsError::new(
                    400,
                    "ValidationException",
                    format!("Parameter Event is not valid: {e}"),
                )
            })?;
            json!({"Result": m})
        }
        _ => {
            return Err(AwsError::new(
                400,
                "UnknownOperationException",
                format!("Unknown operation AWSEvents.{action}"),
            ))
        }
    })
}
