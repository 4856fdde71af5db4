//! `AmazonAthena.*` on the AWS JSON 1.1 protocol: queries, their state and their results, and
//! the `primary` work group.

use super::{page, req_str, App, AwsError};
use crate::athena::AthenaError;
use crate::sfn::arn::Scope;
use serde_json::{json, Value};

type R = Result<Value, AwsError>;

impl From<AthenaError> for AwsError {
    fn from(e: AthenaError) -> AwsError {
        AwsError::new(e.status(), e.code(), e.to_string())
    }
}

pub async fn handle(app: &App, scope: &Scope, action: &str, v: &Value) -> R {
    let athena = &app.athena;
    Ok(match action {
        "StartQueryExecution" => json!({"QueryExecutionId": athena.start(scope, v).await?}),
        "GetQueryExecution" => {
            json!({"QueryExecution": athena.query(scope, &req_str(v, "QueryExecutionId")?)?.shape()})
        }
        "BatchGetQueryExecution" => {
            let mut found = vec![];
            let mut missing = vec![];
            for id in crate::values::strings(v, "QueryExecutionIds") {
                match athena.query(scope, &id) {
                    Ok(q) => found.push(q.shape()),
                    Err(e) => missing.push(json!({"QueryExecutionId": id, "ErrorCode": e.code(), "ErrorMessage": e.to_string()})),
                }
            }
            json!({"QueryExecutions": found, "UnprocessedQueryExecutionIds": missing})
        }
        "ListQueryExecutions" => {
            let (offset, limit) = page(v, "NextToken", "MaxResults", 50, 50)?;
            let all: Vec<Value> = athena
                .queries(scope)?
                .into_iter()
                .skip(offset)
                .take(limit + 1)
                .map(|q| json!(q.id))
                .collect();
            super::paged(
                all,
                offset,
                limit,
                "QueryExecutionIds",
                "NextToken",
                Value::clone,
            )
        }
        "GetQueryResults" => {
            let (offset, limit) = page(v, "NextToken", "MaxResults", 1000, 1000)?;
            let (mut out, more) =
                athena.results(scope, &req_str(v, "QueryExecutionId")?, offset, limit)?;
            if more {
                out["NextToken"] = json!(super::token(offset + limit));
            }
            out
        }
        "StopQueryExecution" => {
            athena.stop(scope, &req_str(v, "QueryExecutionId")?).await?;
            json!({})
        }
        "GetWorkGroup" => {
            let name = req_str(v, "WorkGroup")?;
            if name != "primary" {
                return Err(AwsError::new(
                    400,
                    "InvalidRequestException",
                    format!("WorkGroup {name} is not found."),
                ));
            }
            json!({"WorkGroup": {"Name": "primary", "State": "ENABLED", "Description": "",
                "Configuration": {"ResultConfiguration": {}, "EnforceWorkGroupConfiguration": false,
                    "PublishCloudWatchMetricsEnabled": false, "RequesterPaysEnabled": false,
                    "EngineVersion": {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"}}}})
        }
        _ => {
            return Err(AwsError::new(
                400,
                "UnknownOperationException",
                format!("shoal does not implement the Athena operation {action}"),
            ))
        }
    })
}
