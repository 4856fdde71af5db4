//! Athena, the subset boto3 and awswrangler use: queries over the Glue Data Catalog run on
//! DataFusion in the background; results are written as Athena writes them (a CSV with every
//! value quoted and NULL left empty, under the output location, named after the query id) and
//! paged back by GetQueryResults with a header row first.

use crate::glue::Glue;
use crate::lake::Lake;
use crate::sfn::arn::Scope;
use crate::store::{put, Record, Records, Scan};
use crate::values::epoch;
use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum AthenaError {
    #[error("{0}")]
    InvalidRequestException(String),
    #[error("{0}")]
    InternalServerException(String),
}

impl AthenaError {
    pub fn code(&self) -> &'static str {
        match self {
            AthenaError::InvalidRequestException(_) => "InvalidRequestException",
            AthenaError::InternalServerException(_) => "InternalServerException",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            AthenaError::InternalServerException(_) => 500,
            _ => 400,
        }
    }
}

impl From<crate::store::StoreError> for AthenaError {
    fn from(e: crate::store::StoreError) -> AthenaError {
        AthenaError::InternalServerException(e.to_string())
    }
}

type Result<T, E = AthenaError> = std::result::Result<T, E>;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct QueryExecution {
    pub owner: String,
    pub id: String,
    pub query: String,
    pub database: Option<String>,
    pub workgroup: String,
    /// `s3://bucket/prefix/<id>.csv`, when the query has an output location.
    pub output: Option<String>,
    /// `QUEUED`, `RUNNING`, `SUCCEEDED`, `FAILED`, `CANCELLED`.
    pub state: String,
    pub reason: Option<String>,
    pub submitted: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
    /// `(name, Athena type)` of each result column.
    #[serde(default)]
    pub columns: Vec<(String, String)>,
    #[serde(default)]
    pub scanned: u64,
}

impl Record for QueryExecution {
    const KIND: &'static str = "athena.query";
    fn key(&self) -> String {
        format!("{}:{}", self.owner, self.id)
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
    fn status(&self) -> String {
        self.state.clone()
    }
    fn sort(&self) -> i64 {
        self.submitted.timestamp_millis()
    }
}

/// A finished query's rows as text (NULL as `None`), kept for GetQueryResults.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ResultRows {
    pub owner: String,
    pub id: String,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Record for ResultRows {
    const KIND: &'static str = "athena.rows";
    fn key(&self) -> String {
        format!("{}:{}", self.owner, self.id)
    }
}

/// Athena's (Trino's) name of an Arrow type.
pub fn athena_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "varbinary".into(),
        DataType::List(_) | DataType::LargeList(_) => "array".into(),
        DataType::Struct(_) => "row".into(),
        DataType::Map(_, _) => "map".into(),
        _ => "varchar".into(),
    }
}

/// A CSV field as Athena writes it: quoted, quotes doubled; NULL empty.
fn csv_field(v: &Option<String>) -> String {
    match v {
        None => String::new(),
        Some(s) => format!("\"{}\"", s.replace('"', "\"\"")),
    }
}

impl QueryExecution {
    pub fn shape(&self) -> Value {
        let end = self.completed.unwrap_or_else(Utc::now);
        let ms = (end - self.submitted).num_milliseconds().max(0);
        let first = self
            .query
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let kind = match first.as_str() {
            "SELECT" | "WITH" | "VALUES" | "INSERT" => "DML",
            "SHOW" | "DESCRIBE" | "EXPLAIN" => "UTILITY",
            _ => "DDL",
        };
        let mut status = json!({"State": self.state, "SubmissionDateTime": epoch(self.submitted)});
        if let Some(c) = self.completed {
            status["CompletionDateTime"] = epoch(c);
        }
        if let Some(r) = &self.reason {
            status["StateChangeReason"] = json!(r);
            status["AthenaError"] = json!({"ErrorCategory": 2, "ErrorType": 1301, "Retryable": false, "ErrorMessage": r});
        }
        let mut v = json!({
            "QueryExecutionId": self.id,
            "Query": self.query,
            "StatementType": kind,
            "ResultConfiguration": {},
            "QueryExecutionContext": {"Catalog": "awsdatacatalog"},
            "Status": status,
            "Statistics": {
                "EngineExecutionTimeInMillis": ms,
                "DataScannedInBytes": self.scanned,
                "TotalExecutionTimeInMillis": ms,
                "QueryQueueTimeInMillis": 0,
                "ServiceProcessingTimeInMillis": 0,
            },
            "WorkGroup": self.workgroup,
            "EngineVersion": {"SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": "Athena engine version 3"},
        });
        if let Some(o) = &self.output {
            v["ResultConfiguration"]["OutputLocation"] = json!(o);
        }
        if let Some(d) = &self.database {
            v["QueryExecutionContext"]["Database"] = json!(d);
        }
        v
    }
}

pub struct Athena {
    glue: Arc<Glue>,
}

impl Athena {
    pub fn new(glue: Arc<Glue>) -> Arc<Athena> {
        Arc::new(Athena { glue })
    }

    fn owner(scope: &Scope) -> String {
        format!("{}:{}", scope.account, scope.region)
    }

    pub fn query(&self, scope: &Scope, id: &str) -> Result<QueryExecution> {
        self.glue
            .store
            .load::<QueryExecution>(&format!("{}:{id}", Athena::owner(scope)))?
            .ok_or_else(|| {
                AthenaError::InvalidRequestException(format!("QueryExecution {id} was not found"))
            })
    }

    pub fn queries(&self, scope: &Scope) -> Result<Vec<QueryExecution>> {
        Ok(self.glue.store.list(Scan {
            owner: Some(&Athena::owner(scope)),
            descending: true,
            ..Default::default()
        })?)
    }

    /// StartQueryExecution: stores the query QUEUED and runs it in the background.
    pub async fn start(self: &Arc<Self>, scope: &Scope, input: &Value) -> Result<String> {
        let query = input
            .get("QueryString")
            .and_then(Value::as_str)
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| AthenaError::InvalidRequestException("QueryString is required".into()))?
            .to_string();
        let id = uuid::Uuid::new_v4().to_string();
        let output = input
            .pointer("/ResultConfiguration/OutputLocation")
            .and_then(Value::as_str)
            .map(|o| format!("{}/{id}.csv", o.trim_end_matches('/')));
        if let Some(o) = &output {
            crate::lake::json::split_location(o)
                .map_err(|e| AthenaError::InvalidRequestException(e.to_string()))?;
        }
        let q = QueryExecution {
            owner: Athena::owner(scope),
            id: id.clone(),
            query,
            database: input
                .pointer("/QueryExecutionContext/Database")
                .and_then(Value::as_str)
                .map(String::from),
            workgroup: input
                .get("WorkGroup")
                .and_then(Value::as_str)
                .unwrap_or("primary")
                .to_string(),
            output,
            state: "RUNNING".into(),
            reason: None,
            submitted: self.glue.now(),
            completed: None,
            columns: vec![],
            scanned: 0,
        };
        self.glue.store.commit(vec![put(&q)]).done().await?;
        let me = self.clone();
        let scope = scope.clone();
        tokio::spawn(async move { me.run(scope, q).await });
        Ok(id)
    }

    async fn run(self: Arc<Self>, scope: Scope, mut q: QueryExecution) {
        let lake = Lake::new(self.glue.clone());
        let outcome = lake.query_in(&scope, q.database.as_deref(), &q.query).await;
        let mut writes = vec![];
        match outcome {
            Ok(answer) => {
                q.columns = answer
                    .schema
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), athena_type(f.data_type())))
                    .collect();
                let rows = answer.strings();
                q.scanned = answer
                    .batches
                    .iter()
                    .map(|b| b.get_array_memory_size() as u64)
                    .sum();
                if let Some(o) = &q.output {
                    let mut csv = q
                        .columns
                        .iter()
                        .map(|(n, _)| csv_field(&Some(n.clone())))
                        .collect::<Vec<_>>()
                        .join(",");
                    csv.push('\n');
                    for r in &rows {
                        csv.push_str(&r.iter().map(csv_field).collect::<Vec<_>>().join(","));
                        csv.push('\n');
                    }
                    if let Err(e) = self.store_csv(o, csv).await {
                        q.state = "FAILED".into();
                        q.reason = Some(format!("cannot write the results to {o}: {e}"));
                    }
                }
                if q.state != "FAILED" {
                    q.state = "SUCCEEDED".into();
                    writes.push(put(&ResultRows {
                        owner: q.owner.clone(),
                        id: q.id.clone(),
                        rows,
                    }));
                }
            }
            Err(e) => {
                q.state = "FAILED".into();
                q.reason = Some(e.to_string());
            }
        }
        if self
            .query(&scope, &q.id)
            .is_ok_and(|now| now.state == "CANCELLED")
        {
            return;
        }
        q.completed = Some(self.glue.now());
        writes.push(put(&q));
        if let Err(e) = self.glue.store.commit(writes).done().await {
            eprintln!("shoal: cannot store Athena query {}: {e}", q.id);
        }
    }

    async fn store_csv(&self, location: &str, csv: String) -> Result<(), String> {
        let (bucket, key) =
            crate::lake::json::split_location(location).map_err(|e| e.to_string())?;
        let headers = crate::s3::model::Headers {
            content_type: Some("text/csv".into()),
            ..Default::default()
        };
        let body: crate::s3::BodyStream = Box::pin(futures_util::stream::iter(vec![Ok(
            bytes::Bytes::from(csv),
        )]));
        self.glue
            .s3
            .put_object(&bucket, &key, body, headers, &Default::default())
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    pub async fn stop(&self, scope: &Scope, id: &str) -> Result<()> {
        let mut q = self.query(scope, id)?;
        if matches!(q.state.as_str(), "QUEUED" | "RUNNING") {
            q.state = "CANCELLED".into();
            q.completed = Some(self.glue.now());
            self.glue.store.commit(vec![put(&q)]).done().await?;
        }
        Ok(())
    }

    /// GetQueryResults: the header row, then the rows, a page at a time.
    pub fn results(
        &self,
        scope: &Scope,
        id: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Value, bool)> {
        let q = self.query(scope, id)?;
        match q.state.as_str() {
            "SUCCEEDED" => {}
            "FAILED" => {
                return Err(AthenaError::InvalidRequestException(format!(
                    "Query has not yet finished. Current state: FAILED. {}",
                    q.reason.unwrap_or_default()
                )))
            }
            s => {
                return Err(AthenaError::InvalidRequestException(format!(
                    "Query has not yet finished. Current state: {s}"
                )))
            }
        }
        let rows = self
            .glue
            .store
            .load::<ResultRows>(&q.key())?
            .map(|r| r.rows)
            .unwrap_or_default();
        let header: Vec<Option<String>> = q.columns.iter().map(|(n, _)| Some(n.clone())).collect();
        let all = std::iter::once(&header).chain(rows.iter());
        let page: Vec<Value> = all
            .skip(offset)
            .take(limit)
            .map(|r| json!({"Data": r.iter().map(|v| match v { Some(s) => json!({"VarCharValue": s}), None => json!({}) }).collect::<Vec<_>>()}))
            .collect();
        let more = offset + limit < rows.len() + 1;
        let info: Vec<Value> = q
            .columns
            .iter()
            .map(|(n, t)| json!({"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": n, "Label": n, "Type": t, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": t == "varchar"}))
            .collect();
        Ok((
            json!({"UpdateCount": 0, "ResultSet": {"Rows": page, "ResultSetMetadata": {"ColumnInfo": info}}}),
            more,
        ))
    }
}
