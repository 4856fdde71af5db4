//! `AWSStepFunctions.*` actions on the AWS JSON 1.0 protocol.

use super::{epoch, missing, opt_bool, opt_str, req_str, App, AwsError};
use crate::sfn::arn::Scope;
use crate::sfn::executions::StartRequest;
use crate::sfn::machines::{MachineUpdate, NewMachine};
use crate::sfn::model::{Activity, Alias, Execution, MapRun, StoredEvent, Version};
use crate::sfn::test_state::TestStateRequest;
use crate::values::epoch_seconds;
use asl::test_state::TestResult;
use chrono::Utc;
use serde_json::{json, Map, Value};

type R = Result<Value, AwsError>;

/// `(offset, limit)` from `nextToken`/`maxResults`.
fn page(v: &Value, default: usize, max: usize) -> Result<(usize, usize), AwsError> {
    super::page(v, "nextToken", "maxResults", default, max)
}

fn paged<T>(
    rows: Vec<T>,
    offset: usize,
    limit: usize,
    key: &str,
    f: impl Fn(&T) -> Value,
) -> Value {
    super::paged(rows, offset, limit, key, "nextToken", f)
}

fn tags(v: &Value) -> Vec<(String, String)> {
    v.get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    Some((
                        t.get("key")?.as_str()?.to_string(),
                        t.get("value")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn routing(v: &Value) -> Option<Vec<(String, u32)>> {
    v.get("routingConfiguration")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r.get("stateMachineVersionArn")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        r.get("weight").and_then(Value::as_u64).unwrap_or(0) as u32,
                    )
                })
                .collect()
        })
}

fn alias_json(a: &Alias) -> Value {
    json!({
        "stateMachineAliasArn": a.arn,
        "name": a.name,
        "description": a.description,
        "routingConfiguration": a.routing.iter().map(|(v, w)| json!({"stateMachineVersionArn": v, "weight": w})).collect::<Vec<_>>(),
        "creationDate": epoch(&a.created),
        "updateDate": epoch(&a.updated),
    })
}

fn version_json(v: &Version) -> Value {
    json!({"stateMachineVersionArn": v.arn, "creationDate": epoch(&v.created)})
}

fn activity_json(a: &Activity) -> Value {
    json!({"activityArn": a.arn, "name": a.name, "creationDate": epoch(&a.created)})
}

pub fn execution_json(e: &Execution) -> Value {
    let mut m = json!({
        "executionArn": e.arn,
        "stateMachineArn": e.machine_arn,
        "name": e.name,
        "status": e.status,
        "startDate": epoch(&e.start),
        "input": e.input,
        "inputDetails": {"included": true},
        "redriveCount": e.redrive_count,
    });
    let (rs, reason) = e.redrive_status();
    m["redriveStatus"] = json!(rs);
    if let Some(r) = reason {
        m["redriveStatusReason"] = json!(r);
    }
    if let Some(t) = &e.stop {
        m["stopDate"] = epoch(t);
    }
    if let Some(o) = &e.output {
        m["output"] = json!(o);
        m["outputDetails"] = json!({"included": true});
    }
    if let Some(x) = &e.error {
        m["error"] = json!(x);
    }
    if let Some(x) = &e.cause {
        m["cause"] = json!(x);
    }
    if let Some(x) = &e.version_arn {
        m["stateMachineVersionArn"] = json!(x);
    }
    if let Some(x) = &e.alias_arn {
        m["stateMachineAliasArn"] = json!(x);
    }
    if let Some(x) = &e.redrive_date {
        m["redriveDate"] = epoch(x);
    }
    if let Some(x) = &e.trace_header {
        m["traceHeader"] = json!(x);
    }
    if let Some(x) = &e.map_run_arn {
        m["mapRunArn"] = json!(x);
    }
    m
}

fn event_json(e: &StoredEvent, include_data: bool) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".into(), epoch(&e.timestamp));
    m.insert("type".into(), json!(e.kind));
    m.insert("id".into(), json!(e.id));
    m.insert("previousEventId".into(), json!(e.previous_event_id));
    for (k, v) in &e.details {
        let mut d = v.clone();
        if !include_data {
            if let Value::Object(o) = &mut d {
                for key in ["input", "output", "parameters"] {
                    if o.remove(key).is_some() {
                        let details = format!("{key}Details");
                        o.insert(details, json!({"truncated": false}));
                    }
                }
            }
        }
        m.insert(k.clone(), d);
    }
    Value::Object(m)
}

fn map_run_json(r: &MapRun) -> Value {
    // once a run ended (aborted, or failed past its tolerated failures), the children that
    // had not ended were aborted with it
    let running = r.total - r.succeeded - r.failed;
    let (running, aborted) = if r.status == "RUNNING" {
        (running, 0)
    } else {
        (0, running)
    };
    let counts = json!({"pending": 0, "running": running, "succeeded": r.succeeded, "failed": r.failed,
        "timedOut": 0, "aborted": aborted, "total": r.total, "resultsWritten": r.succeeded + r.failed,
        "failuresNotRedrivable": 0, "pendingRedrive": 0});
    let mut m = json!({
        "mapRunArn": r.arn, "executionArn": r.execution_arn, "status": r.status,
        "startDate": epoch(&r.start), "maxConcurrency": r.max_concurrency,
        "toleratedFailurePercentage": r.tolerated_failure_percentage,
        "toleratedFailureCount": r.tolerated_failure_count,
        "itemCounts": counts, "executionCounts": counts, "redriveCount": r.redrive_count,
    });
    if let Some(t) = &r.stop {
        m["stopDate"] = epoch(t);
    }
    if let Some(t) = &r.redrive_date {
        m["redriveDate"] = epoch(t);
    }
    m
}

/// A TestState answer; `inspect` (DEBUG and TRACE) adds the data after each processing step.
fn test_state_json(r: &TestResult, inspect: bool) -> Value {
    let mut m = Map::new();
    m.insert("status".into(), json!(r.status.as_str()));
    let text = |v: &Value| json!(asl::json::compact(v));
    if let Some(o) = &r.output {
        m.insert("output".into(), text(o));
    }
    for (k, x) in [
        ("error", &r.error),
        ("cause", &r.cause),
        ("nextState", &r.next_state),
    ] {
        if let Some(x) = x {
            m.insert(k.into(), json!(x));
        }
    }
    if inspect {
        let i = &r.inspection;
        let mut d = Map::new();
        for (k, x) in [
            ("input", &i.input),
            ("afterInputPath", &i.after_input_path),
            ("afterParameters", &i.after_parameters),
            ("afterArguments", &i.after_arguments),
            ("result", &i.result),
            ("afterResultSelector", &i.after_result_selector),
            ("afterResultPath", &i.after_result_path),
            ("variables", &i.variables),
        ] {
            if let Some(x) = x {
                d.insert(k.into(), text(x));
            }
        }
        if let Some(e) = &i.error_details {
            let mut ed = Map::new();
            if let Some(c) = e.catch_index {
                ed.insert("catchIndex".into(), json!(c));
            }
            if let Some(c) = e.retry_index {
                ed.insert("retryIndex".into(), json!(c));
            }
            if let Some(s) = e.retry_backoff_interval_seconds {
                ed.insert(
                    "retryBackoffIntervalSeconds".into(),
                    json!(s.round() as u64),
                );
            }
            d.insert("errorDetails".into(), Value::Object(ed));
        }
        m.insert("inspectionData".into(), Value::Object(d));
    }
    Value::Object(m)
}

/// A `loggingConfiguration` as AWS shows it: the one set, or logging off.
fn logging_json(set: Option<&Value>) -> Value {
    match set {
        Some(v) if !v.is_null() => v.clone(),
        _ => json!({"level": "OFF", "includeExecutionData": false}),
    }
}

/// A `tracingConfiguration` as AWS shows it: the one set, or tracing off.
fn tracing_json(set: Option<&Value>) -> Value {
    match set {
        Some(v) if !v.is_null() => v.clone(),
        _ => json!({"enabled": false}),
    }
}

/// Answers one Step Functions action. ListExecutions is written straight from its typed items:
/// a `Value` tree per execution cost a listing of a hundred two thirds of what reading it did.
pub async fn handle(
    app: &App,
    scope: &Scope,
    action: &str,
    v: &Value,
) -> Result<super::Answer, AwsError> {
    if action == "ListExecutions" {
        return list_executions(&app.sfn, v).map(super::Answer::Text);
    }
    handle_value(app, scope, action, v)
        .await
        .map(super::Answer::Value)
}

/// One execution as ListExecutions shows it, in AWS's member order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionItem<'a> {
    execution_arn: &'a str,
    state_machine_arn: &'a str,
    name: &'a str,
    status: &'a str,
    start_date: f64,
    redrive_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_machine_version_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_machine_alias_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redrive_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    item_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    map_run_arn: Option<&'a str>,
}

impl ExecutionItem<'_> {
    fn of(e: &crate::sfn::model::ExecutionSummary, by_map_run: bool) -> ExecutionItem<'_> {
        ExecutionItem {
            execution_arn: &e.arn,
            state_machine_arn: &e.machine_arn,
            name: &e.name,
            status: &e.status,
            start_date: epoch_seconds(e.start),
            redrive_count: e.redrive_count,
            stop_date: e.stop.map(epoch_seconds),
            state_machine_version_arn: e.version_arn.as_deref(),
            state_machine_alias_arn: e.alias_arn.as_deref(),
            redrive_date: e.redrive_date.map(epoch_seconds),
            // only in a map run's listing, as on AWS
            item_count: e.item_count.filter(|_| by_map_run),
            map_run_arn: e.map_run_arn.as_deref().filter(|_| by_map_run),
        }
    }
}

#[derive(serde::Serialize)]
struct ExecutionPage<'a> {
    executions: Vec<ExecutionItem<'a>>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn list_executions(sfn: &crate::sfn::Sfn, v: &Value) -> Result<String, AwsError> {
    let (offset, limit) = page(v, 100, 1000)?;
    let status = opt_str(v, "statusFilter")?;
    if let Some(s) = &status {
        if ![
            "RUNNING",
            "SUCCEEDED",
            "FAILED",
            "TIMED_OUT",
            "ABORTED",
            "PENDING_REDRIVE",
        ]
        .contains(&s.as_str())
        {
            return Err(AwsError::new(400, "ValidationException", format!("1 validation error detected: Value '{s}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [SUCCEEDED, TIMED_OUT, PENDING_REDRIVE, ABORTED, FAILED, RUNNING]")));
        }
    }
    let redriven = match opt_str(v, "redriveFilter")?.as_deref() {
        None => None,
        Some("REDRIVEN") => Some(true),
        Some("NOT_REDRIVEN") => Some(false),
        Some(f) => return Err(AwsError::new(400, "ValidationException", format!("1 validation error detected: Value '{f}' at 'redriveFilter' failed to satisfy constraint: Member must satisfy enum value set: [REDRIVEN, NOT_REDRIVEN]"))),
    };
    let status = status.as_deref();
    let by_map_run = v.get("mapRunArn").is_some();
    let rows = match (opt_str(v, "stateMachineArn")?, opt_str(v, "mapRunArn")?) {
        // AWS keeps PENDING_REDRIVE for a map run's children
        (Some(_), None) if status == Some("PENDING_REDRIVE") => {
            return Err(AwsError::new(
                400,
                "ValidationException",
                "The statusFilter PENDING_REDRIVE can only be used with a mapRunArn",
            ))
        }
        (Some(m), None) => sfn.list_executions(&m, status, redriven, offset, limit + 1)?,
        (None, Some(r)) => sfn.list_map_run_executions(&r, status, redriven, offset, limit + 1)?,
        _ => {
            return Err(AwsError::new(
                400,
                "ValidationException",
                "Must provide a StateMachine ARN or MapRun ARN",
            ))
        }
    };
    let (rows, next_token) = super::page_rows(rows, offset, limit);
    let page = ExecutionPage {
        executions: rows
            .iter()
            .map(|e| ExecutionItem::of(e, by_map_run))
            .collect(),
        next_token,
    };
    serde_json::to_string(&page).map_err(|e| {
        AwsError::new(
            500,
            "InternalFailure",
            format!("cannot write the answer: {e}"),
        )
    })
}

async fn handle_value(app: &App, scope: &Scope, action: &str, v: &Value) -> R {
    let sfn = &app.sfn;
    Ok(match action {
        "CreateStateMachine" => {
            let kind = opt_str(v, "type")?.unwrap_or_else(|| "STANDARD".into());
            let (m, version) = sfn
                .create_machine(
                    scope,
                    NewMachine {
                        name: req_str(v, "name")?,
                        definition: req_str(v, "definition")?,
                        role_arn: req_str(v, "roleArn")?,
                        kind,
                        logging: v
                            .get("loggingConfiguration")
                            .cloned()
                            .unwrap_or(Value::Null),
                        tracing: v
                            .get("tracingConfiguration")
                            .cloned()
                            .unwrap_or(Value::Null),
                        publish: opt_bool(v, "publish"),
                        version_description: opt_str(v, "versionDescription")?.unwrap_or_default(),
                        tags: tags(v),
                    },
                )
                .await?;
            let mut out = json!({"stateMachineArn": m.arn, "creationDate": epoch(&m.created)});
            if let Some(ver) = version {
                out["stateMachineVersionArn"] = json!(ver.arn);
            }
            out
        }
        "UpdateStateMachine" => {
            let (m, version) = sfn
                .update_machine(
                    &req_str(v, "stateMachineArn")?,
                    MachineUpdate {
                        definition: opt_str(v, "definition")?,
                        role_arn: opt_str(v, "roleArn")?,
                        logging: v.get("loggingConfiguration").cloned(),
                        tracing: v.get("tracingConfiguration").cloned(),
                        publish: opt_bool(v, "publish"),
                        version_description: opt_str(v, "versionDescription")?.unwrap_or_default(),
                    },
                )
                .await?;
            let mut out = json!({"updateDate": epoch(&Utc::now()), "revisionId": m.revision_id});
            if let Some(ver) = version {
                out["stateMachineVersionArn"] = json!(ver.arn);
            }
            out
        }
        "DescribeStateMachine" => {
            let arn = req_str(v, "stateMachineArn")?;
            let r = sfn.resolve(&arn)?;
            let m = &r.machine;
            let mut out = json!({
                "stateMachineArn": arn,
                "name": m.name,
                "status": "ACTIVE",
                "definition": r.definition,
                "roleArn": r.role_arn,
                "type": m.kind,
                "creationDate": epoch(&m.created),
                "loggingConfiguration": logging_json(Some(&m.logging)),
                "tracingConfiguration": tracing_json(Some(&m.tracing)),
            });
            match &r.version_arn {
                Some(ver) => {
                    let ver = sfn.version(ver)?;
                    out["revisionId"] = json!(ver.revision_id);
                    out["description"] = json!(ver.description);
                    out["creationDate"] = epoch(&ver.created);
                }
                None => out["revisionId"] = json!(m.revision_id),
            }
            out
        }
        "ListStateMachines" => {
            let (offset, limit) = page(v, 100, 1000)?;
            let rows = sfn.list_machines(offset, limit + 1)?;
            paged(
                rows,
                offset,
                limit,
                "stateMachines",
                |m| json!({"stateMachineArn": m.arn, "name": m.name, "type": m.kind, "creationDate": epoch(&m.created)}),
            )
        }
        "DeleteStateMachine" => {
            sfn.delete_machine(&req_str(v, "stateMachineArn")?).await?;
            json!({})
        }
        "DeleteStateMachineVersion" => {
            sfn.delete_version(&req_str(v, "stateMachineVersionArn")?)
                .await?;
            json!({})
        }
        "ValidateStateMachineDefinition" => {
            let def = req_str(v, "definition")?;
            match asl::StateMachine::parse(&def) {
                Ok(_) => json!({"result": "OK", "diagnostics": [], "truncated": false}),
                Err(diags) => json!({
                    "result": "FAIL",
                    "diagnostics": diags.iter().map(|d| json!({"severity": "ERROR", "code": d.code, "message": d.message, "location": d.location})).collect::<Vec<_>>(),
                    "truncated": false,
                }),
            }
        }
        "PublishStateMachineVersion" => {
            let ver = sfn
                .publish_version(
                    &req_str(v, "stateMachineArn")?,
                    opt_str(v, "revisionId")?,
                    opt_str(v, "description")?.unwrap_or_default(),
                )
                .await?;
            version_json(&ver)
        }
        "ListStateMachineVersions" => {
            let (offset, limit) = page(v, 100, 1000)?;
            let rows = sfn.list_versions(&req_str(v, "stateMachineArn")?, offset, limit + 1)?;
            paged(rows, offset, limit, "stateMachineVersions", version_json)
        }
        "CreateStateMachineAlias" => {
            let a = sfn
                .create_alias(
                    &req_str(v, "name")?,
                    opt_str(v, "description")?.unwrap_or_default(),
                    routing(v).ok_or_else(|| missing("routingConfiguration"))?,
                )
                .await?;
            json!({"stateMachineAliasArn": a.arn, "creationDate": epoch(&a.created)})
        }
        "DescribeStateMachineAlias" => {
            alias_json(&sfn.alias(&req_str(v, "stateMachineAliasArn")?)?)
        }
        "UpdateStateMachineAlias" => {
            let a = sfn
                .update_alias(
                    &req_str(v, "stateMachineAliasArn")?,
                    opt_str(v, "description")?,
                    routing(v),
                )
                .await?;
            json!({"updateDate": epoch(&a.updated)})
        }
        "DeleteStateMachineAlias" => {
            sfn.delete_alias(&req_str(v, "stateMachineAliasArn")?)
                .await?;
            json!({})
        }
        "ListStateMachineAliases" => {
            let (offset, limit) = page(v, 100, 1000)?;
            let rows = sfn.list_aliases(&req_str(v, "stateMachineArn")?, offset, limit + 1)?;
            paged(
                rows,
                offset,
                limit,
                "stateMachineAliases",
                |a| json!({"stateMachineAliasArn": a.arn, "creationDate": epoch(&a.created)}),
            )
        }
        "StartExecution" => {
            let arn = req_str(v, "stateMachineArn")?;
            let e = sfn
                .start_execution(
                    scope,
                    StartRequest {
                        state_machine_arn: &arn,
                        name: opt_str(v, "name")?,
                        input: opt_str(v, "input")?,
                        trace_header: opt_str(v, "traceHeader")?,
                        new_name: false,
                    },
                )
                .await?;
            json!({"executionArn": e.arn, "startDate": epoch(&e.start)})
        }
        "StartSyncExecution" => {
            let arn = req_str(v, "stateMachineArn")?;
            let (name, input) = (opt_str(v, "name")?, opt_str(v, "input")?);
            let (s, scope) = (sfn.clone(), scope.clone());
            let r = tokio::task::spawn_blocking(move || s.run_express(&scope, &arn, name, input))
                .await
                .map_err(|e| AwsError::new(500, "InternalFailure", e.to_string()))??;
            let res = &r.result;
            let billed = ((r.stop - r.start).num_milliseconds().max(1) + 99) / 100 * 100;
            let mut out = json!({
                "executionArn": r.arn,
                "stateMachineArn": r.machine_arn,
                "name": r.name,
                "startDate": epoch(&r.start),
                "stopDate": epoch(&r.stop),
                "status": res.status.as_str(),
                "input": r.input,
                "inputDetails": {"included": true},
                "billingDetails": {"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": billed},
            });
            if let Some(o) = &res.output {
                out["output"] = json!(asl::json::compact(o));
                out["outputDetails"] = json!({"included": true});
            }
            if let Some(e) = &res.error {
                out["error"] = json!(e);
            }
            if let Some(c) = &res.cause {
                out["cause"] = json!(c);
            }
            out
        }
        "DescribeExecution" => execution_json(&sfn.execution(&req_str(v, "executionArn")?)?),
        "DescribeStateMachineForExecution" => {
            let e = sfn.execution(&req_str(v, "executionArn")?)?;
            let definition = sfn.definition_text(&e.definition_hash)?;
            let m = sfn.store_machine_or_gone(&e.machine_arn);
            let mut out = json!({
                "stateMachineArn": e.machine_arn,
                "name": e.machine_name,
                "definition": definition,
                "roleArn": e.role_arn,
                "updateDate": epoch(&m.as_ref().map(|m| m.created).unwrap_or(e.start)),
                // the configuration the execution logged with
                "loggingConfiguration": logging_json(e.logging.as_ref()),
                "tracingConfiguration": tracing_json(m.as_ref().map(|m| &m.tracing)),
            });
            // the revision the execution ran: its version's, or the machine's while unchanged
            let revision = match &e.version_arn {
                Some(ver) => sfn.version(ver).ok().map(|v| v.revision_id),
                None => m
                    .filter(|m| m.definition == definition)
                    .map(|m| m.revision_id),
            };
            if let Some(r) = revision {
                out["revisionId"] = json!(r);
            }
            if let Some(run) = &e.map_run_arn {
                out["mapRunArn"] = json!(run);
                if let Some((_, label)) = e.machine_arn.rsplit_once('/') {
                    out["label"] = json!(label);
                }
            }
            out
        }
        "GetExecutionHistory" => {
            let arn = req_str(v, "executionArn")?;
            sfn.execution(&arn)?;
            let (offset, limit) = page(v, 100, 1000)?;
            let include = v
                .get("includeExecutionData")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let reverse = opt_bool(v, "reverseOrder");
            let rows = sfn.history_page(&arn, offset, limit + 1, reverse)?;
            paged(rows, offset, limit, "events", |e| event_json(e, include))
        }
        "DescribeMapRun" => map_run_json(&sfn.map_run(&req_str(v, "mapRunArn")?)?),
        "ListMapRuns" => {
            let (offset, limit) = page(v, 100, 1000)?;
            let rows = sfn.list_map_runs(&req_str(v, "executionArn")?, offset, limit + 1)?;
            paged(rows, offset, limit, "mapRuns", |r| {
                let mut m = json!({"executionArn": r.execution_arn, "mapRunArn": r.arn,
                    "stateMachineArn": r.machine_arn, "startDate": epoch(&r.start)});
                if let Some(t) = &r.stop {
                    m["stopDate"] = epoch(t);
                }
                m
            })
        }
        "TestState" => {
            let level = opt_str(v, "inspectionLevel")?.unwrap_or_else(|| "INFO".into());
            if !["INFO", "DEBUG", "TRACE"].contains(&level.as_str()) {
                return Err(AwsError::new(
                    400,
                    "ValidationException",
                    format!("1 validation error detected: Value '{level}' at 'inspectionLevel' failed to satisfy constraint: Member must satisfy enum value set: [INFO, DEBUG, TRACE]"),
                ));
            }
            let r = sfn
                .test_state(
                    &scope.region,
                    TestStateRequest {
                        definition: req_str(v, "definition")?,
                        state_name: opt_str(v, "stateName")?,
                        input: opt_str(v, "input")?,
                        variables: opt_str(v, "variables")?,
                        context: opt_str(v, "context")?,
                        role_arn: opt_str(v, "roleArn")?,
                        mock: v.get("mock").filter(|m| !m.is_null()).cloned(),
                        retry_count: v
                            .pointer("/stateConfiguration/retrierRetryCount")
                            .and_then(Value::as_u64)
                            .unwrap_or(0),
                    },
                )
                .await?;
            test_state_json(&r, level != "INFO")
        }
        "StopExecution" => {
            let t = sfn
                .stop_execution(
                    &req_str(v, "executionArn")?,
                    opt_str(v, "error")?,
                    opt_str(v, "cause")?,
                )
                .await?;
            json!({"stopDate": epoch(&t)})
        }
        "RedriveExecution" => {
            let e = sfn.redrive_execution(&req_str(v, "executionArn")?).await?;
            json!({"redriveDate": epoch(&e.redrive_date.unwrap_or(e.start))})
        }
        "SendTaskSuccess" => {
            sfn.send_task_success(&req_str(v, "taskToken")?, req_str(v, "output")?)
                .await?;
            json!({})
        }
        "SendTaskFailure" => {
            sfn.send_task_failure(
                &req_str(v, "taskToken")?,
                opt_str(v, "error")?,
                opt_str(v, "cause")?,
            )
            .await?;
            json!({})
        }
        "SendTaskHeartbeat" => {
            sfn.send_task_heartbeat(&req_str(v, "taskToken")?).await?;
            json!({})
        }
        "CreateActivity" => {
            let a = sfn
                .create_activity(scope, &req_str(v, "name")?, tags(v))
                .await?;
            json!({"activityArn": a.arn, "creationDate": epoch(&a.created)})
        }
        "DescribeActivity" => activity_json(&sfn.activity(&req_str(v, "activityArn")?)?),
        "DeleteActivity" => {
            sfn.delete_activity(&req_str(v, "activityArn")?).await?;
            json!({})
        }
        "ListActivities" => {
            let (offset, limit) = page(v, 100, 1000)?;
            let rows = sfn.list_activities(offset, limit + 1)?;
            paged(rows, offset, limit, "activities", activity_json)
        }
        "GetActivityTask" => {
            let arn = req_str(v, "activityArn")?;
            match sfn
                .get_activity_task(&arn, opt_str(v, "workerName")?)
                .await?
            {
                Some(t) => json!({"taskToken": t.token, "input": t.input}),
                None => json!({}),
            }
        }
        "TagResource" => {
            let arn = req_str(v, "resourceArn")?;
            sfn.tag(&arn, tags(v)).await?;
            json!({})
        }
        "UntagResource" => {
            let arn = req_str(v, "resourceArn")?;
            let keys = v
                .get("tagKeys")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|k| k.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            sfn.untag(&arn, keys).await?;
            json!({})
        }
        "ListTagsForResource" => {
            let t = sfn.tags(&req_str(v, "resourceArn")?)?;
            json!({"tags": t.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()})
        }
        other => {
            return Err(AwsError::new(
                400,
                "UnknownOperationException",
                format!("Unknown operation AWSStepFunctions.{other}"),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfn::model::ExecutionSummary;

    #[test]
    fn a_listed_execution_has_the_members_aws_lists_in_its_order() {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let e = ExecutionSummary {
            arn: "arn:e".into(),
            name: "n".into(),
            machine_arn: "arn:m".into(),
            version_arn: Some("arn:m:1".into()),
            alias_arn: None,
            status: "SUCCEEDED".into(),
            start: at("2026-11-24T16:00:15.275715Z"),
            stop: Some(at("2026-11-24T16:00:16Z")),
            redrive_count: 0,
            redrive_date: None,
            map_run_arn: Some("arn:r".into()),
            item_count: Some(3),
        };
        let text = |by_map_run| serde_json::to_string(&ExecutionItem::of(&e, by_map_run)).unwrap();
        let common = r#"{"executionArn":"arn:e","stateMachineArn":"arn:m","name":"n","status":"SUCCEEDED","startDate":1795536015.275,"redriveCount":0,"stopDate":1795536016.0,"stateMachineVersionArn":"arn:m:1""#;
        assert_eq!(text(false), format!("{common}}}"));
        // a map run's listing adds its children's item counts and the map run
        assert_eq!(
            text(true),
            format!(r#"{common},"itemCount":3,"mapRunArn":"arn:r"}}"#)
        );
    }
}
