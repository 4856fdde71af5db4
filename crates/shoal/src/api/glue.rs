//! `AWSGlue.*` on the AWS JSON 1.1 protocol: the Data Catalog, crawlers, jobs, data quality and
//! interactive sessions. Every call that changes something is also recorded as CloudTrail would
//! (see [`crate::glue::trail`]).

use super::{missing, page, paged, req_str, App, AwsError};
use crate::glue::trail::Caller;
use crate::glue::{Glue, GlueError};
use crate::sfn::arn::Scope;
use axum::http::HeaderMap;
use serde_json::{json, Value};

type R = Result<Value, AwsError>;

impl From<GlueError> for AwsError {
    fn from(e: GlueError) -> AwsError {
        AwsError::new(e.status(), e.code(), e.to_string())
    }
}

/// Who called, for the CloudTrail record.
pub fn caller(headers: &HeaderMap) -> Caller {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    Caller {
        access_key: h("authorization").and_then(|a| {
            let c = a.split("Credential=").nth(1)?;
            Some(c.split('/').next()?.to_string())
        }),
        user_agent: h("user-agent"),
        source_ip: h("x-forwarded-for")
            .map(|f| f.split(',').next().unwrap_or("").trim().to_string()),
    }
}

pub async fn handle(
    app: &App,
    scope: &Scope,
    headers: &HeaderMap,
    action: &str,
    input: &Value,
) -> R {
    let result = dispatch(app, scope, action, input).await;
    let glue = &app.glue;
    match &result {
        Ok(v) => {
            glue.record_call(scope, &caller(headers), action, input, Ok(v))
                .await
        }
        Err(e) => {
            glue.record_call(
                scope,
                &caller(headers),
                action,
                input,
                Err((&e.code, &e.message)),
            )
            .await
        }
    }
    result
}

fn values_list(v: &Value, k: &str) -> Vec<Vec<String>> {
    v.get(k)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| crate::values::strings(p, "Values"))
        .collect()
}

fn error_detail(values: &[String], e: &GlueError) -> Value {
    json!({"PartitionValues": values, "ErrorDetail": {"ErrorCode": e.code(), "ErrorMessage": e.to_string()}})
}

async fn dispatch(app: &App, scope: &Scope, action: &str, v: &Value) -> R {
    let glue: &Glue = &app.glue;
    let db = || req_str(v, "DatabaseName");
    Ok(match action {
        // ---- catalog: databases
        "CreateDatabase" => {
            let input = v
                .get("DatabaseInput")
                .ok_or_else(|| missing("databaseInput"))?;
            glue.create_database(scope, input).await?;
            json!({})
        }
        "GetDatabase" => json!({"Database": glue.database(scope, &req_str(v, "Name")?)?.body}),
        "GetDatabases" => listing(v, glue.databases(scope)?, 100, 100, "DatabaseList", |d| {
            d.body.clone()
        })?,
        "UpdateDatabase" => {
            let input = v
                .get("DatabaseInput")
                .ok_or_else(|| missing("databaseInput"))?;
            glue.update_database(scope, &req_str(v, "Name")?, input)
                .await?;
            json!({})
        }
        "DeleteDatabase" => {
            glue.delete_database(scope, &req_str(v, "Name")?).await?;
            json!({})
        }
        // ---- catalog: tables
        "CreateTable" => {
            let input = v.get("TableInput").ok_or_else(|| missing("tableInput"))?;
            glue.create_table(scope, &db()?, input).await?;
            json!({})
        }
        "GetTable" => json!({"Table": glue.table(scope, &db()?, &req_str(v, "Name")?)?.body}),
        "GetTables" => {
            let pattern = super::opt_str(v, "Expression")?
                .map(|e| name_pattern(&e))
                .transpose()?;
            let all: Vec<_> = glue
                .tables(scope, &db()?)?
                .into_iter()
                .filter(|t| pattern.as_ref().is_none_or(|p| p.is_match(&t.name)))
                .collect();
            listing(v, all, 100, 100, "TableList", |t| t.body.clone())?
        }
        "UpdateTable" => {
            let input = v.get("TableInput").ok_or_else(|| missing("tableInput"))?;
            glue.update_table(scope, &db()?, input).await?;
            json!({})
        }
        "DeleteTable" => {
            glue.delete_table(scope, &db()?, &req_str(v, "Name")?)
                .await?;
            json!({})
        }
        "BatchDeleteTable" => {
            let db = db()?;
            let mut errors = vec![];
            for name in crate::values::strings(v, "TablesToDelete") {
                if let Err(e) = glue.delete_table(scope, &db, &name).await {
                    errors.push(json!({"TableName": name, "ErrorDetail": {"ErrorCode": e.code(), "ErrorMessage": e.to_string()}}));
                }
            }
            json!({"Errors": errors})
        }
        "GetTableVersions" => {
            json!({"TableVersions": glue.table_versions(scope, &db()?, &req_str(v, "TableName")?)?})
        }
        "GetTableVersion" => {
            let all = glue.table_versions(scope, &db()?, &req_str(v, "TableName")?)?;
            let found = match super::opt_str(v, "VersionId")? {
                None => all.into_iter().next(),
                Some(id) => all.into_iter().find(|t| t["VersionId"] == json!(id)),
            };
            json!({"TableVersion": found.ok_or_else(|| GlueError::not_found("Version"))?})
        }
        // ---- catalog: partitions
        "CreatePartition" => {
            let input = v
                .get("PartitionInput")
                .ok_or_else(|| missing("partitionInput"))?;
            let errors = glue
                .create_partitions(
                    scope,
                    &db()?,
                    &req_str(v, "TableName")?,
                    std::slice::from_ref(input),
                )
                .await?;
            if let Some((_, e)) = errors.into_iter().next() {
                return Err(e.into());
            }
            json!({})
        }
        "BatchCreatePartition" => {
            let inputs: Vec<Value> = v
                .get("PartitionInputList")
                .and_then(Value::as_array)
                .cloned()
                .ok_or_else(|| missing("partitionInputList"))?;
            let errors = glue
                .create_partitions(scope, &db()?, &req_str(v, "TableName")?, &inputs)
                .await?;
            json!({"Errors": errors.iter().map(|(vals, e)| error_detail(vals, e)).collect::<Vec<_>>()})
        }
        "GetPartition" => {
            let values = crate::values::strings(v, "PartitionValues");
            json!({"Partition": glue.partition(scope, &db()?, &req_str(v, "TableName")?, &values)?.body})
        }
        "GetPartitions" => {
            let expr = super::opt_str(v, "Expression")?;
            let all = glue.partitions(scope, &db()?, &req_str(v, "TableName")?, expr.as_deref())?;
            listing(v, all, 1000, 1000, "Partitions", |p| p.body.clone())?
        }
        "BatchGetPartition" => {
            let (db, table) = (db()?, req_str(v, "TableName")?);
            let mut found = vec![];
            let mut missing_keys = vec![];
            for values in values_list(v, "PartitionsToGet") {
                match glue.partition(scope, &db, &table, &values) {
                    Ok(p) => found.push(p.body),
                    Err(GlueError::EntityNotFoundException(_)) => {
                        missing_keys.push(json!({"Values": values}))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            json!({"Partitions": found, "UnprocessedKeys": missing_keys})
        }
        "DeletePartition" => {
            let values = crate::values::strings(v, "PartitionValues");
            let errors = glue
                .delete_partitions(scope, &db()?, &req_str(v, "TableName")?, &[values])
                .await?;
            if let Some((_, e)) = errors.into_iter().next() {
                return Err(e.into());
            }
            json!({})
        }
        "BatchDeletePartition" => {
            let values = values_list(v, "PartitionsToDelete");
            let errors = glue
                .delete_partitions(scope, &db()?, &req_str(v, "TableName")?, &values)
                .await?;
            json!({"Errors": errors.iter().map(|(vals, e)| error_detail(vals, e)).collect::<Vec<_>>()})
        }
        "UpdatePartition" => {
            let values = crate::values::strings(v, "PartitionValueList");
            let input = v
                .get("PartitionInput")
                .ok_or_else(|| missing("partitionInput"))?;
            glue.update_partition(scope, &db()?, &req_str(v, "TableName")?, &values, input)
                .await?;
            json!({})
        }
        // ---- crawlers
        "CreateCrawler" => {
            glue.create_crawler(scope, v).await?;
            json!({})
        }
        "UpdateCrawler" => {
            glue.update_crawler(scope, v).await?;
            json!({})
        }
        "GetCrawler" => json!({"Crawler": glue.crawler(scope, &req_str(v, "Name")?)?.shape()}),
        "GetCrawlers" => listing(v, glue.crawlers(scope)?, 100, 1000, "Crawlers", |c| {
            c.shape()
        })?,
        "ListCrawlers" => listing(v, glue.crawlers(scope)?, 100, 1000, "CrawlerNames", |c| {
            json!(c.name)
        })?,
        "BatchGetCrawlers" => {
            let mut found = vec![];
            let mut missing_names = vec![];
            for n in crate::values::strings(v, "CrawlerNames") {
                match glue.crawler(scope, &n) {
                    Ok(c) => found.push(c.shape()),
                    Err(_) => missing_names.push(n),
                }
            }
            json!({"Crawlers": found, "CrawlersNotFound": missing_names})
        }
        "StartCrawler" => {
            glue.start_crawler(scope, &req_str(v, "Name")?).await?;
            json!({})
        }
        "StopCrawler" => {
            glue.stop_crawler(scope, &req_str(v, "Name")?).await?;
            json!({})
        }
        "UpdateCrawlerSchedule" => {
            let schedule = v.get("Schedule").and_then(Value::as_str);
            glue.update_crawler_schedule(scope, &req_str(v, "CrawlerName")?, schedule)
                .await?;
            json!({})
        }
        "StartCrawlerSchedule" | "StopCrawlerSchedule" => {
            let on = action == "StartCrawlerSchedule";
            glue.set_crawler_schedule(scope, &req_str(v, "CrawlerName")?, on)
                .await?;
            json!({})
        }
        "DeleteCrawler" => {
            glue.delete_crawler(scope, &req_str(v, "Name")?).await?;
            json!({})
        }
        "GetCrawlerMetrics" => {
            let names = crate::values::strings(v, "CrawlerNameList");
            let all = glue.crawlers(scope)?;
            let list: Vec<Value> = all
                .iter()
                .filter(|c| names.is_empty() || names.contains(&c.name))
                .map(|c| glue.crawler_metrics(c))
                .collect();
            json!({"CrawlerMetricsList": list})
        }
        // ---- jobs
        "CreateJob" => json!({"Name": glue.create_job(scope, v).await?}),
        "GetJob" => json!({"Job": glue.job(scope, &req_str(v, "JobName")?)?.shape()}),
        "GetJobs" => listing(v, glue.jobs(scope)?, 100, 1000, "Jobs", |j| j.shape())?,
        "ListJobs" => listing(v, glue.jobs(scope)?, 100, 1000, "JobNames", |j| {
            json!(j.name)
        })?,
        "UpdateJob" => {
            let name = req_str(v, "JobName")?;
            let update = v.get("JobUpdate").ok_or_else(|| missing("jobUpdate"))?;
            glue.update_job(scope, &name, update).await?;
            json!({"JobName": name})
        }
        "DeleteJob" => {
            // deleting a job that does not exist is not an error on AWS
            let name = req_str(v, "JobName")?;
            match glue.delete_job(scope, &name).await {
                Ok(()) | Err(GlueError::EntityNotFoundException(_)) => json!({"JobName": name}),
                Err(e) => return Err(e.into()),
            }
        }
        "StartJobRun" => {
            json!({"JobRunId": glue.start_job_run(scope, &req_str(v, "JobName")?, v).await?})
        }
        "GetJobRun" => {
            json!({"JobRun": glue.job_run(scope, &req_str(v, "JobName")?, &req_str(v, "RunId")?)?.shape()})
        }
        "GetJobRuns" => listing(
            v,
            glue.job_runs(scope, &req_str(v, "JobName")?)?,
            100,
            200,
            "JobRuns",
            |r| r.shape(),
        )?,
        "BatchStopJobRun" => {
            let name = req_str(v, "JobName")?;
            let mut ok = vec![];
            let mut errors = vec![];
            for id in crate::values::strings(v, "JobRunIds") {
                match glue.stop_job_run(scope, &name, &id).await {
                    Ok(()) => ok.push(json!({"JobName": name, "JobRunId": id})),
                    Err(e) => errors.push(json!({"JobName": name, "JobRunId": id, "ErrorDetail": {"ErrorCode": e.code(), "ErrorMessage": e.to_string()}})),
                }
            }
            json!({"SuccessfulSubmissions": ok, "Errors": errors})
        }
        // ---- data quality
        "CreateDataQualityRuleset" => json!({"Name": glue.create_ruleset(scope, v).await?}),
        "GetDataQualityRuleset" => glue.ruleset(scope, &req_str(v, "Name")?)?.shape(),
        "UpdateDataQualityRuleset" => glue.update_ruleset(scope, v).await?,
        "DeleteDataQualityRuleset" => {
            glue.delete_ruleset(scope, &req_str(v, "Name")?).await?;
            json!({})
        }
        "ListDataQualityRulesets" => {
            listing(v, glue.rulesets(scope)?, 100, 100, "Rulesets", |r| {
                let mut s = r.shape();
                if let Some(m) = s.as_object_mut() {
                    m.remove("Ruleset");
                }
                s
            })?
        }
        "StartDataQualityRulesetEvaluationRun" => {
            json!({"RunId": glue.start_evaluation(scope, v).await?})
        }
        "GetDataQualityRulesetEvaluationRun" => {
            glue.evaluation_run(scope, &req_str(v, "RunId")?)?.shape()
        }
        "ListDataQualityRulesetEvaluationRuns" => {
            listing(v, glue.evaluation_runs(scope)?, 100, 100, "Runs", |r| {
                r.shape()
            })?
        }
        "GetDataQualityResult" => glue.quality_result(scope, &req_str(v, "ResultId")?)?.body,
        "BatchGetDataQualityResult" => {
            let mut found = vec![];
            let mut missing_ids = vec![];
            for id in crate::values::strings(v, "ResultIds") {
                match glue.quality_result(scope, &id) {
                    Ok(r) => found.push(r.body),
                    Err(_) => missing_ids.push(id),
                }
            }
            json!({"Results": found, "ResultsNotFound": missing_ids})
        }
        "ListDataQualityResults" => listing(
            v,
            glue.quality_results(scope)?,
            100,
            100,
            "Results",
            |r| json!({"ResultId": r.id, "DataSource": r.body["DataSource"], "StartedOn": r.body["StartedOn"]}),
        )?,
        // ---- interactive sessions
        "CreateSession" => {
            let s = glue.create_session(scope, v).await?;
            json!({"Session": s.shape(glue.now())})
        }
        "GetSession" => {
            json!({"Session": glue.session_now(scope, &req_str(v, "Id")?)?.shape(glue.now())})
        }
        "ListSessions" => {
            let now = glue.now();
            let mut out = listing(v, glue.sessions(scope)?, 1000, 1000, "Sessions", |s| {
                s.shape(now)
            })?;
            let ids: Vec<Value> = out["Sessions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["Id"].clone())
                .collect();
            out["Ids"] = json!(ids);
            out
        }
        "StopSession" => {
            let id = req_str(v, "Id")?;
            glue.stop_session(scope, &id).await?;
            json!({"Id": id})
        }
        "DeleteSession" => {
            let id = req_str(v, "Id")?;
            glue.delete_session(scope, &id).await?;
            json!({"Id": id})
        }
        "RunStatement" => {
            let id = glue
                .run_statement(scope, &req_str(v, "SessionId")?, &req_str(v, "Code")?)
                .await?;
            json!({"Id": id})
        }
        "GetStatement" => {
            let n = v
                .get("Id")
                .and_then(Value::as_u64)
                .ok_or_else(|| missing("id"))?;
            json!({"Statement": glue.statement(scope, &req_str(v, "SessionId")?, n)?.shape()})
        }
        "ListStatements" => {
            let all = glue.statements(scope, &req_str(v, "SessionId")?)?;
            json!({"Statements": all.iter().map(|s| s.shape()).collect::<Vec<_>>()})
        }
        _ => {
            return Err(AwsError::new(
                400,
                "UnknownOperationException",
                format!("shoal does not implement the Glue operation {action}"),
            ))
        }
    })
}

/// One page of `all` under `key` (Glue's `NextToken` and `MaxResults`), each shaped by `f`.
fn listing<T>(
    v: &Value,
    all: Vec<T>,
    default: usize,
    max: usize,
    key: &str,
    f: impl Fn(&T) -> Value,
) -> R {
    let (offset, limit) = page(v, "NextToken", "MaxResults", default, max)?;
    let rows: Vec<T> = all.into_iter().skip(offset).take(limit + 1).collect();
    Ok(paged(rows, offset, limit, key, "NextToken", f))
}

/// GetTables' `Expression`: a regular expression over names, where `*` stands for any text as
/// in Hive's table patterns.
fn name_pattern(e: &str) -> Result<regex::Regex, AwsError> {
    let mut re = String::new();
    let mut prev = ' ';
    for c in e.chars() {
        if c == '*' && prev != '.' {
            re.push_str(".*");
        } else {
            re.push(c);
        }
        prev = c;
    }
    regex::Regex::new(&format!("^(?:{re})$"))
        .map_err(|err| GlueError::invalid(format!("Invalid Expression '{e}': {err}")).into())
}
