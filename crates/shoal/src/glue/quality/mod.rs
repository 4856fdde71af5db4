//! Data quality: DQDL rulesets and their evaluation runs over catalog tables. Each rule becomes
//! one or two SQL queries against the table (registered as `primary`, as Glue's CustomSql
//! calls it); [`dqdl`] judges the values. A rule that cannot be evaluated (a missing column, an
//! unknown reference, a rule type shoal lacks) is an `ERROR` result, not a failed run. Runs end
//! with `Data Quality Evaluation Results Available` events.
//!
//! References (`RowCountMatch "db.table"`, `ReferentialIntegrity "id" "db.table.id"`) resolve
//! through `AdditionalDataSources` aliases first, else as `database.table` in the catalog.

mod comparisons;

use super::{Glue, GlueError, Result};
use crate::lake::Lake;
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Record, Records, Scan};
use crate::values::epoch;
use chrono::{DateTime, Utc};
use datafusion::arrow::array::Array;
use datafusion::prelude::SessionContext;
use dqdl::{Condition, Expr, Op, Rule, Val};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Ruleset {
    pub owner: String,
    pub name: String,
    pub input: Value,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

impl Record for Ruleset {
    const KIND: &'static str = "glue.dqruleset";
    fn key(&self) -> String {
        format!("{}:{}", self.owner, self.name)
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct EvaluationRun {
    pub owner: String,
    pub id: String,
    pub input: Value,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`.
    pub status: String,
    pub started: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
    pub result_ids: Vec<String>,
    pub error: Option<String>,
}

impl Record for EvaluationRun {
    const KIND: &'static str = "glue.dqrun";
    fn key(&self) -> String {
        format!("{}:{}", self.owner, self.id)
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
    fn status(&self) -> String {
        self.status.clone()
    }
    fn sort(&self) -> i64 {
        self.started.timestamp_millis()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct QualityResult {
    pub owner: String,
    pub id: String,
    /// GetDataQualityResult's shape.
    pub body: Value,
    pub started: DateTime<Utc>,
}

impl Record for QualityResult {
    const KIND: &'static str = "glue.dqresult";
    fn key(&self) -> String {
        format!("{}:{}", self.owner, self.id)
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
    fn sort(&self) -> i64 {
        self.started.timestamp_millis()
    }
}

fn hex_id(prefix: &str) -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &(a + &b)[..40])
}

impl Ruleset {
    pub fn shape(&self) -> Value {
        let mut v = json!({
            "Name": self.name,
            "Ruleset": self.input.get("Ruleset").cloned().unwrap_or(json!("")),
            "CreatedOn": epoch(self.created),
            "LastModifiedOn": epoch(self.modified),
        });
        for k in ["Description", "TargetTable"] {
            if let Some(x) = self.input.get(k) {
                v[k] = x.clone();
            }
        }
        v
    }
}

impl EvaluationRun {
    pub fn shape(&self) -> Value {
        let mut v = json!({
            "RunId": self.id,
            "DataSource": self.input.get("DataSource").cloned().unwrap_or(json!({})),
            "Role": self.input.get("Role").cloned().unwrap_or(Value::Null),
            "NumberOfWorkers": self.input.get("NumberOfWorkers").cloned().unwrap_or(json!(5)),
            "Timeout": self.input.get("Timeout").cloned().unwrap_or(json!(2880)),
            "Status": self.status,
            "StartedOn": epoch(self.started),
            "LastModifiedOn": epoch(self.completed.unwrap_or(self.started)),
            "RulesetNames": self.input.get("RulesetNames").cloned().unwrap_or(json!([])),
            "ResultIds": self.result_ids,
        });
        for k in ["AdditionalRunOptions", "AdditionalDataSources"] {
            if let Some(x) = self.input.get(k) {
                v[k] = x.clone();
            }
        }
        if let Some(c) = self.completed {
            v["CompletedOn"] = epoch(c);
            v["ExecutionTime"] = json!((c - self.started).num_seconds());
        }
        if let Some(e) = &self.error {
            v["ErrorString"] = json!(e);
        }
        v
    }
}

/// What one rule came to.
struct Outcome {
    result: &'static str,
    message: Option<String>,
    metrics: Map<String, Value>,
}

impl Outcome {
    fn error(m: impl Into<String>) -> Outcome {
        Outcome {
            result: "ERROR",
            message: Some(m.into()),
            metrics: Map::new(),
        }
    }
}

/// Glue (Java) writes doubles with a fractional part: `14.0`.
fn java(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.1}")
    } else {
        format!("{n}")
    }
}

fn unmet(v: &str) -> String {
    format!("Value: {v} does not meet the constraint requirement!")
}

impl Glue {
    pub fn ruleset(&self, scope: &Scope, name: &str) -> Result<Ruleset> {
        self.store
            .load::<Ruleset>(&Glue::key(scope, name))?
            .ok_or_else(|| {
                GlueError::not_found(format!(
                    "Cannot find Data Quality Ruleset in account {} with name {name}",
                    scope.account
                ))
            })
    }

    pub fn rulesets(&self, scope: &Scope) -> Result<Vec<Ruleset>> {
        self.owned(scope, |r: &Ruleset| &r.name)
    }

    fn check_dqdl(input: &Value) -> Result<()> {
        let text = input
            .get("Ruleset")
            .and_then(Value::as_str)
            .ok_or_else(|| GlueError::invalid("Ruleset is required"))?;
        dqdl::parse(text)
            .map_err(|e| GlueError::invalid(format!("The ruleset is not valid DQDL: {e}")))?;
        Ok(())
    }

    pub async fn create_ruleset(&self, scope: &Scope, input: &Value) -> Result<String> {
        let name = input
            .get("Name")
            .and_then(Value::as_str)
            .ok_or_else(|| GlueError::invalid("Name is required"))?;
        Glue::check_dqdl(input)?;
        if self
            .store
            .load::<Ruleset>(&Glue::key(scope, name))?
            .is_some()
        {
            return Err(GlueError::AlreadyExistsException(format!(
                "A ruleset with name {name} already exists"
            )));
        }
        let now = self.now();
        let r = Ruleset {
            owner: Glue::owner(scope),
            name: name.into(),
            input: input.clone(),
            created: now,
            modified: now,
        };
        self.store.commit(vec![put(&r)]).done().await?;
        Ok(name.into())
    }

    pub async fn update_ruleset(&self, scope: &Scope, input: &Value) -> Result<Value> {
        let name = input
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut r = self.ruleset(scope, name)?;
        if input.get("Ruleset").is_some() {
            Glue::check_dqdl(input)?;
        }
        if let (Some(m), Some(new)) = (r.input.as_object_mut(), input.as_object()) {
            for (k, v) in new {
                m.insert(k.clone(), v.clone());
            }
        }
        r.modified = self.now();
        self.store.commit(vec![put(&r)]).done().await?;
        Ok(
            json!({"Name": r.name, "Description": r.input.get("Description"), "Ruleset": r.input.get("Ruleset")}),
        )
    }

    pub async fn delete_ruleset(&self, scope: &Scope, name: &str) -> Result<()> {
        let r = self.ruleset(scope, name)?;
        self.store
            .commit(vec![delete::<Ruleset>(&r.key())])
            .done()
            .await?;
        Ok(())
    }

    pub fn evaluation_run(&self, scope: &Scope, id: &str) -> Result<EvaluationRun> {
        self.store
            .load::<EvaluationRun>(&format!("{}:{id}", Glue::owner(scope)))?
            .ok_or_else(|| GlueError::not_found(format!("Run {id}")))
    }

    pub fn evaluation_runs(&self, scope: &Scope) -> Result<Vec<EvaluationRun>> {
        Ok(self.store.list(Scan {
            owner: Some(&Glue::owner(scope)),
            descending: true,
            ..Default::default()
        })?)
    }

    pub fn quality_result(&self, scope: &Scope, id: &str) -> Result<QualityResult> {
        self.store
            .load::<QualityResult>(&format!("{}:{id}", Glue::owner(scope)))?
            .ok_or_else(|| GlueError::not_found(format!("Result {id}")))
    }

    pub fn quality_results(&self, scope: &Scope) -> Result<Vec<QualityResult>> {
        Ok(self.store.list(Scan {
            owner: Some(&Glue::owner(scope)),
            descending: true,
            ..Default::default()
        })?)
    }

    /// StartDataQualityRulesetEvaluationRun: checks the table and rulesets, answers the run id
    /// at once and evaluates in the background.
    pub async fn start_evaluation(&self, scope: &Scope, input: &Value) -> Result<String> {
        let (db, table) = glue_table(input.get("DataSource"))?;
        self.table(scope, &db, &table)?;
        let names = crate::values::strings(input, "RulesetNames");
        if names.is_empty() {
            return Err(GlueError::invalid(
                "RulesetNames must name at least one ruleset",
            ));
        }
        for n in &names {
            self.ruleset(scope, n)?;
        }
        let run = EvaluationRun {
            owner: Glue::owner(scope),
            id: hex_id("dqrun"),
            input: input.clone(),
            status: "RUNNING".into(),
            started: self.now(),
            completed: None,
            result_ids: vec![],
            error: None,
        };
        self.store.commit(vec![put(&run)]).done().await?;
        if let Some(glue) = self.arc() {
            let scope = scope.clone();
            let r = run.clone();
            tokio::spawn(async move { glue.evaluate_run(scope, r).await });
        }
        Ok(run.id)
    }

    async fn evaluate_run(self: Arc<Glue>, scope: Scope, mut run: EvaluationRun) {
        let outcome = self.evaluate_all(&scope, &run).await;
        run.completed = Some(self.now());
        match outcome {
            Ok(results) => {
                run.status = "SUCCEEDED".into();
                run.result_ids = results.iter().map(|r| r.id.clone()).collect();
                let mut writes: Vec<_> = results.iter().map(put).collect();
                writes.push(put(&run));
                if let Err(e) = self.store.commit(writes).done().await {
                    eprintln!("shoal: cannot store data quality run {}: {e}", run.id);
                    return;
                }
                for r in results {
                    let b = &r.body;
                    let count = |s: &str| {
                        b["RuleResults"]
                            .as_array()
                            .map_or(0, |a| a.iter().filter(|x| x["Result"] == s).count())
                    };
                    let detail = json!({
                        "context": {
                            "contextType": "GLUE_DATA_CATALOG",
                            "runId": run.id,
                            "databaseName": b.pointer("/DataSource/GlueTable/DatabaseName"),
                            "tableName": b.pointer("/DataSource/GlueTable/TableName"),
                            "catalogId": scope.account,
                        },
                        "resultID": r.id,
                        "rulesetNames": [b["RulesetName"]],
                        "state": "SUCCEEDED",
                        "score": b["Score"],
                        "rulesSucceeded": count("PASS"),
                        "rulesFailed": count("FAIL"),
                        "rulesSkipped": count("ERROR"),
                    });
                    self.emit(
                        &scope,
                        "Data Quality Evaluation Results Available",
                        detail,
                        vec![],
                    )
                    .await;
                }
            }
            Err(e) => {
                run.status = "FAILED".into();
                run.error = Some(e.to_string());
                if let Err(e) = self.store.commit(vec![put(&run)]).done().await {
                    eprintln!("shoal: cannot store data quality run {}: {e}", run.id);
                }
            }
        }
    }

    async fn evaluate_all(&self, scope: &Scope, run: &EvaluationRun) -> Result<Vec<QualityResult>> {
        let (db, table) = glue_table(run.input.get("DataSource"))?;
        let glue = self
            .arc()
            .ok_or_else(|| GlueError::internal("shutting down"))?;
        let lake = Lake::new(glue);
        let ctx = lake.scratch(scope);
        let primary = lake
            .table(scope, &db, &table)
            .await
            .map_err(|e| GlueError::invalid(e.to_string()))?;
        ctx.register_table("primary", primary)
            .map_err(GlueError::internal)?;
        let eval = Evaluator {
            lake: &lake,
            ctx: &ctx,
            scope,
            now: self.now(),
            aliases: aliases(&run.input),
            refs: std::sync::Mutex::new(BTreeMap::new()),
            counted: std::sync::Mutex::new(BTreeMap::new()),
        };
        let mut out = vec![];
        for name in crate::values::strings(&run.input, "RulesetNames") {
            let rs = self.ruleset(scope, &name)?;
            let text = rs
                .input
                .get("Ruleset")
                .and_then(Value::as_str)
                .unwrap_or("");
            let parsed = dqdl::parse(text).map_err(|e| GlueError::invalid(e.to_string()))?;
            let started = self.now();
            let mut rule_results = vec![];
            let mut passed = 0;
            for (i, rule) in parsed.rules.iter().enumerate() {
                let o = eval.rule(rule).await;
                if o.result == "PASS" {
                    passed += 1;
                }
                let mut r = json!({
                    "Name": format!("Rule_{}", i + 1),
                    "Description": rule.text(),
                    "Result": o.result,
                    "EvaluatedMetrics": o.metrics,
                    "EvaluatedRule": rule.text(),
                });
                if let Some(m) = o.message {
                    r["EvaluationMessage"] = json!(m);
                }
                if let Rule::Check(c) = rule {
                    if !c.labels.is_empty() {
                        r["Labels"] = json!(c.labels);
                    }
                }
                rule_results.push(r);
            }
            let total = rule_results.len();
            let id = hex_id("dqresult");
            let rows = eval.rows("primary").await.unwrap_or(0.0);
            let body = json!({
                "ResultId": id,
                "Score": if total == 0 { 1.0 } else { passed as f64 / total as f64 },
                "DataSource": run.input.get("DataSource"),
                "RulesetName": name,
                "EvaluationContext": "",
                "StartedOn": epoch(started),
                "CompletedOn": epoch(self.now()),
                "RulesetEvaluationRunId": run.id,
                "RuleResults": rule_results,
                "AnalyzerResults": [],
                "Observations": [],
                "AggregatedMetrics": {
                    "TotalRowsProcessed": rows,
                    "TotalRulesProcessed": total,
                    "TotalRulesPassed": passed,
                    "TotalRulesFailed": total - passed,
                },
            });
            out.push(QualityResult {
                owner: Glue::owner(scope),
                id,
                body,
                started,
            });
        }
        Ok(out)
    }
}

fn glue_table(source: Option<&Value>) -> Result<(String, String)> {
    let t = source
        .and_then(|s| s.get("GlueTable"))
        .ok_or_else(|| GlueError::invalid("DataSource.GlueTable is required"))?;
    let s = |k: &str| {
        t.get(k)
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| GlueError::invalid(format!("DataSource.GlueTable.{k} is required")))
    };
    Ok((s("DatabaseName")?, s("TableName")?))
}

fn aliases(input: &Value) -> BTreeMap<String, (String, String)> {
    input
        .get("AdditionalDataSources")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(alias, src)| Some((alias.clone(), glue_table(Some(src)).ok()?)))
        .collect()
}

struct Evaluator<'a> {
    lake: &'a Lake,
    ctx: &'a SessionContext,
    scope: &'a Scope,
    now: DateTime<Utc>,
    aliases: BTreeMap<String, (String, String)>,
    /// Reference aliases already registered, by alias.
    refs: std::sync::Mutex<BTreeMap<String, String>>,
    /// Row counts already taken, by the `FROM` they counted: most rules need the dataset's.
    counted: std::sync::Mutex<BTreeMap<String, f64>>,
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Evaluator<'_> {
    async fn scalar(&self, sql: &str) -> Result<Val, String> {
        let df = self.ctx.sql(sql).await.map_err(|e| e.to_string())?;
        let batches = df.collect().await.map_err(|e| e.to_string())?;
        let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok(Val::Null);
        };
        let col = b.column(0);
        if col.is_null(0) {
            return Ok(Val::Null);
        }
        let as_f64 =
            datafusion::arrow::compute::cast(col, &datafusion::arrow::datatypes::DataType::Float64);
        if let Ok(a) = as_f64 {
            if let Some(f) = a
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Float64Array>()
            {
                if !f.is_null(0) {
                    return Ok(Val::Num(f.value(0)));
                }
            }
        }
        let text = datafusion::arrow::util::display::array_value_to_string(col, 0)
            .map_err(|e| e.to_string())?;
        Ok(Val::Str(text))
    }

    /// The rows of a `FROM` clause (`primary`, `primary WHERE (...)`, a reference), counted once.
    async fn rows(&self, from: &str) -> Result<f64, String> {
        if let Some(n) = self
            .counted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(from)
        {
            return Ok(*n);
        }
        let n = self.count(&format!("SELECT count(*) FROM {from}")).await?;
        self.counted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(from.to_string(), n);
        Ok(n)
    }

    async fn count(&self, sql: &str) -> Result<f64, String> {
        match self.scalar(sql).await? {
            Val::Num(n) => Ok(n),
            _ => Ok(0.0),
        }
    }

    async fn columns(&self) -> Vec<String> {
        match self.ctx.table("primary").await {
            Ok(df) => df
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
            Err(_) => vec![],
        }
    }

    /// The column a rule names, matched without regard to case.
    fn column(&self, cols: &[String], name: &str) -> Result<String, String> {
        cols.iter()
            .find(|c| *c == name)
            .or_else(|| cols.iter().find(|c| c.eq_ignore_ascii_case(name)))
            .map(|c| quote(c))
            .ok_or_else(|| format!("Column {name} does not exist in the dataset"))
    }

    /// The SQL name of a reference dataset (registered on first use).
    async fn reference(&self, alias: &str) -> Result<String, String> {
        if let Some(t) = self
            .refs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(alias)
        {
            return Ok(t.clone());
        }
        let (db, table) = match self.aliases.get(alias) {
            Some(x) => x.clone(),
            None => match alias.split_once('.') {
                Some((d, t)) => (d.to_string(), t.to_string()),
                None => return Err(format!("Reference dataset '{alias}' is not among AdditionalDataSources and is not database.table")),
            },
        };
        let provider = self
            .lake
            .table(self.scope, &db, &table)
            .await
            .map_err(|e| format!("Reference dataset '{alias}': {e}"))?;
        let name = {
            let refs = self.refs.lock().unwrap_or_else(|p| p.into_inner());
            format!("reference_{}", refs.len())
        };
        self.ctx
            .register_table(name.as_str(), provider)
            .map_err(|e| e.to_string())?;
        self.refs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(alias.to_string(), name.clone());
        Ok(name)
    }

    fn rule<'b>(
        &'b self,
        rule: &'b Rule,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send + 'b>> {
        Box::pin(async move {
            match rule {
                Rule::Check(c) => match self.check(c).await {
                    Ok(o) => o,
                    Err(e) => Outcome::error(e),
                },
                Rule::All(parts, _) | Rule::Any(parts, _) => {
                    let all = matches!(rule, Rule::All(..));
                    let mut metrics = Map::new();
                    let mut results = vec![];
                    for p in parts {
                        let o = self.rule(p).await;
                        metrics.extend(o.metrics);
                        if o.result == "ERROR" {
                            return Outcome {
                                result: "ERROR",
                                message: o.message,
                                metrics,
                            };
                        }
                        results.push(o.result == "PASS");
                    }
                    let ok = if all {
                        results.iter().all(|b| *b)
                    } else {
                        results.iter().any(|b| *b)
                    };
                    Outcome {
                        result: if ok { "PASS" } else { "FAIL" },
                        message: (!ok)
                            .then(|| "One or more rules of the composite failed".to_string()),
                        metrics,
                    }
                }
            }
        })
    }

    /// Judges a number against the rule's condition.
    fn judge(&self, c: &dqdl::Check, v: f64, metric: String) -> Result<Outcome, String> {
        let cond = c
            .condition
            .as_ref()
            .ok_or_else(|| format!("{} needs a condition", c.kind))?;
        let ok = cond
            .holds(&Val::Num(v), self.now)
            .map_err(|e| e.to_string())?;
        Ok(self.outcome(ok, v, metric))
    }

    fn outcome(&self, ok: bool, v: f64, metric: String) -> Outcome {
        let mut metrics = Map::new();
        metrics.insert(metric, json!(v));
        Outcome {
            result: if ok { "PASS" } else { "FAIL" },
            message: (!ok).then(|| unmet(&java(v))),
            metrics,
        }
    }

    fn from(&self, c: &dqdl::Check) -> String {
        match &c.filter {
            Some(f) => format!("primary WHERE ({f})"),
            None => "primary".into(),
        }
    }

    async fn check(&self, c: &dqdl::Check) -> Result<Outcome, String> {
        let cols = self.columns().await;
        let p = |i: usize| {
            c.params
                .get(i)
                .cloned()
                .ok_or_else(|| format!("{} needs more parameters", c.kind))
        };
        let from = self.from(c);
        match c.kind.as_str() {
            "RowCount" => {
                let n = self.rows(&from).await?;
                self.judge(c, n, "Dataset.*.RowCount".into())
            }
            "ColumnCount" => self.judge(c, cols.len() as f64, "Dataset.*.ColumnCount".into()),
            "ColumnExists" => {
                let ok = self.column(&cols, &p(0)?).is_ok();
                Ok(Outcome {
                    result: if ok { "PASS" } else { "FAIL" },
                    message: (!ok)
                        .then(|| format!("Column {} does not exist", p(0).unwrap_or_default())),
                    metrics: Map::new(),
                })
            }
            "ColumnNamesMatchPattern" => {
                let re =
                    regex::Regex::new(&format!("^(?:{})$", p(0)?)).map_err(|e| e.to_string())?;
                let bad: Vec<&String> = cols.iter().filter(|c| !re.is_match(c)).collect();
                Ok(Outcome {
                    result: if bad.is_empty() { "PASS" } else { "FAIL" },
                    message: (!bad.is_empty()).then(|| {
                        format!(
                            "Columns that do not match the pattern: {}",
                            bad.iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }),
                    metrics: Map::new(),
                })
            }
            "RowCountMatch" => {
                let r = self.reference(&p(0)?).await?;
                let n = self.rows(&from).await?;
                let m = self.rows(&r).await?;
                let ratio = if m == 0.0 {
                    if n == 0.0 {
                        1.0
                    } else {
                        f64::INFINITY
                    }
                } else {
                    n / m
                };
                self.judge(c, ratio, format!("Dataset.{}.RowCountMatch", p(0)?))
            }
            "IsComplete" | "Completeness" => {
                let col = self.column(&cols, &p(0)?)?;
                let v = self.count(&format!("SELECT CASE WHEN count(*) = 0 THEN 1.0 ELSE CAST(count({col}) AS DOUBLE) / count(*) END FROM {from}")).await?;
                let metric = format!("Column.{}.Completeness", p(0)?);
                if c.kind == "IsComplete" {
                    Ok(self.outcome(v == 1.0, v, metric))
                } else {
                    self.judge(c, v, metric)
                }
            }
            "IsUnique" | "Uniqueness" | "IsPrimaryKey" => {
                let cs: Vec<String> = c
                    .params
                    .iter()
                    .flat_map(|s| s.split(','))
                    .map(|s| self.column(&cols, s.trim()))
                    .collect::<Result<_, _>>()?;
                let list = cs.join(", ");
                let u = self.count(&format!("SELECT CASE WHEN sum(k) = 0 OR sum(k) IS NULL THEN 1.0 ELSE CAST(sum(CASE WHEN k = 1 THEN 1 ELSE 0 END) AS DOUBLE) / sum(k) END FROM (SELECT count(*) AS k FROM {from} GROUP BY {list})")).await?;
                let label = c.params.join(",");
                let mut metrics = Map::new();
                metrics.insert(format!("Column.{label}.Uniqueness"), json!(u));
                let mut ok = match c.kind.as_str() {
                    "Uniqueness" => c
                        .condition
                        .as_ref()
                        .ok_or("Uniqueness needs a condition")?
                        .holds(&Val::Num(u), self.now)
                        .map_err(|e| e.to_string())?,
                    _ => u == 1.0,
                };
                let mut message = (!ok).then(|| unmet(&java(u)));
                if c.kind == "IsPrimaryKey" {
                    for (name, col) in c.params.iter().zip(&cs) {
                        let comp = self.count(&format!("SELECT CASE WHEN count(*) = 0 THEN 1.0 ELSE CAST(count({col}) AS DOUBLE) / count(*) END FROM {from}")).await?;
                        metrics.insert(format!("Column.{name}.Completeness"), json!(comp));
                        if comp < 1.0 && ok {
                            ok = false;
                            message = Some(unmet(&java(comp)));
                        }
                    }
                }
                Ok(Outcome {
                    result: if ok { "PASS" } else { "FAIL" },
                    message,
                    metrics,
                })
            }
            "DistinctValuesCount"
            | "UniqueValueRatio"
            | "Mean"
            | "Sum"
            | "StandardDeviation"
            | "Variance"
            | "Entropy" => {
                let col = self.column(&cols, &p(0)?)?;
                let sql = match c.kind.as_str() {
                    "DistinctValuesCount" => format!("SELECT count(DISTINCT {col}) FROM {from}"),
                    "UniqueValueRatio" => format!("SELECT CASE WHEN count(*) = 0 THEN 0.0 ELSE CAST(sum(CASE WHEN k = 1 THEN 1 ELSE 0 END) AS DOUBLE) / count(*) END FROM (SELECT count(*) AS k FROM {from} WHERE {col} IS NOT NULL GROUP BY {col})"),
                    "Mean" => format!("SELECT avg({col}) FROM {from}"),
                    "Sum" => format!("SELECT sum({col}) FROM {from}"),
                    "StandardDeviation" => format!("SELECT stddev_pop({col}) FROM {from}"),
                    "Variance" => format!("SELECT var_pop({col}) FROM {from}"),
                    _ => format!("SELECT -sum((CAST(k AS DOUBLE) / t) * ln(CAST(k AS DOUBLE) / t)) FROM (SELECT count(*) AS k, sum(count(*)) OVER () AS t FROM {from} GROUP BY {col})"),
                };
                let v = self.count(&sql).await?;
                self.judge(c, v, format!("Column.{}.{}", p(0)?, c.kind))
            }
            "ColumnValues" | "ColumnLength" => {
                let name = p(0)?;
                let col = self.column(&cols, &name)?;
                let subject = if c.kind == "ColumnLength" {
                    format!("length(CAST({col} AS VARCHAR))")
                } else {
                    col.clone()
                };
                let cond = c
                    .condition
                    .as_ref()
                    .ok_or_else(|| format!("{} needs a condition", c.kind))?;
                let pred = cond.sql(&subject, self.now).map_err(|e| e.to_string())?;
                self.rows_pass(
                    c,
                    &from,
                    &pred,
                    &subject,
                    &format!("Column.{name}.{}", c.kind),
                )
                .await
            }
            "DataFreshness" => {
                let name = p(0)?;
                let col = self.column(&cols, &name)?;
                let cond = c
                    .condition
                    .as_ref()
                    .ok_or("DataFreshness needs a condition")?;
                let pred = freshness(cond, self.now)?
                    .sql(&format!("CAST({col} AS TIMESTAMP)"), self.now)
                    .map_err(|e| e.to_string())?;
                let n = self.rows(&from).await?;
                let ok_rows = self
                    .count(&format!("SELECT count(*) FROM {from} WHERE {pred}"))
                    .await?;
                let frac = if n == 0.0 { 1.0 } else { ok_rows / n };
                let pass = match &c.threshold {
                    Some(t) => t
                        .holds(&Val::Num(frac), self.now)
                        .map_err(|e| e.to_string())?,
                    None => frac == 1.0,
                };
                let mut metrics = Map::new();
                metrics.insert(
                    format!("Column.{name}.DataFreshness.Compliance"),
                    json!(frac),
                );
                Ok(Outcome {
                    result: if pass { "PASS" } else { "FAIL" },
                    message: (!pass)
                        .then(|| format!("{:.2} % of rows passed the threshold", frac * 100.0)),
                    metrics,
                })
            }
            "CustomSql" => {
                let sql = p(0)?;
                match &c.condition {
                    Some(cond) => {
                        let v = self.scalar(&sql).await?;
                        let ok = cond.holds(&v, self.now).map_err(|e| e.to_string())?;
                        let shown = match &v {
                            Val::Num(n) => java(*n),
                            other => other.to_string(),
                        };
                        let mut metrics = Map::new();
                        if let Val::Num(n) = v {
                            metrics.insert("Dataset.*.CustomSQL".into(), json!(n));
                        }
                        Ok(Outcome {
                            result: if ok { "PASS" } else { "FAIL" },
                            message: (!ok).then(|| unmet(&shown)),
                            metrics,
                        })
                    }
                    None => {
                        let n = self.rows("primary").await?;
                        let m = self.count(&format!("SELECT count(*) FROM ({sql})")).await?;
                        let frac = if n == 0.0 { 1.0 } else { m / n };
                        let pass = match &c.threshold {
                            Some(t) => t
                                .holds(&Val::Num(frac), self.now)
                                .map_err(|e| e.to_string())?,
                            None => frac >= 1.0,
                        };
                        let mut metrics = Map::new();
                        metrics.insert("Dataset.*.CustomSQL.Compliance".into(), json!(frac));
                        Ok(Outcome {
                            result: if pass { "PASS" } else { "FAIL" },
                            message: (!pass).then(|| unmet(&java(frac))),
                            metrics,
                        })
                    }
                }
            }
            "ReferentialIntegrity" => {
                let mine: Vec<String> = p(0)?.split(',').map(|s| s.trim().to_string()).collect();
                let target = p(1)?;
                // "alias.col" or "alias.{a,b}": the alias is everything before the last '.'
                let (alias, theirs) = match target.find(".{") {
                    Some(i) => (
                        target[..i].to_string(),
                        target[i + 2..]
                            .trim_end_matches('}')
                            .split(',')
                            .map(|s| s.trim().to_string())
                            .collect::<Vec<_>>(),
                    ),
                    None => {
                        let (a, col) = target
                            .rsplit_once('.')
                            .ok_or_else(|| format!("'{target}' must be alias.column"))?;
                        (a.to_string(), vec![col.to_string()])
                    }
                };
                if mine.len() != theirs.len() {
                    return Err(
                        "ReferentialIntegrity needs as many reference columns as columns".into(),
                    );
                }
                let r = self.reference(&alias).await?;
                let on: Vec<String> = mine
                    .iter()
                    .zip(&theirs)
                    .map(|(a, b)| Ok(format!("p.{} = r.{}", self.column(&cols, a)?, quote(b))))
                    .collect::<Result<_, String>>()?;
                let frac = self.share_found(&from, &r, &on).await?;
                self.judge(c, frac, format!("Column.{}.ReferentialIntegrity", p(0)?))
            }
            "ColumnCorrelation" | "SchemaMatch" | "DatasetMatch" | "AggregateMatch"
            | "ColumnDataType" => self.compare(c, &cols, &from).await,
            other => Err(format!("Rule type {other} is not supported by shoal")),
        }
    }

    /// The share of the rows of `from` (as `p`) that have a row in reference `r` (as `r`) on
    /// which every condition of `on` holds; 1 when `from` is empty.
    async fn share_found(&self, from: &str, r: &str, on: &[String]) -> Result<f64, String> {
        let n = self.rows(from).await?;
        let found = self.count(&format!("SELECT count(*) FROM (SELECT * FROM {from}) p WHERE EXISTS (SELECT 1 FROM {r} r WHERE {})", on.join(" AND "))).await?;
        Ok(if n == 0.0 { 1.0 } else { found / n })
    }

    /// A row-level rule: the share of rows whose value passes `pred`.
    async fn rows_pass(
        &self,
        c: &dqdl::Check,
        from: &str,
        pred: &str,
        subject: &str,
        metric: &str,
    ) -> Result<Outcome, String> {
        let n = self.rows(from).await?;
        let ok_rows = self
            .count(&format!("SELECT count(*) FROM {from} WHERE {pred}"))
            .await?;
        let frac = if n == 0.0 { 1.0 } else { ok_rows / n };
        let mut metrics = Map::new();
        metrics.insert(format!("{metric}.Compliance"), json!(frac));
        let pass = match &c.threshold {
            Some(t) => t
                .holds(&Val::Num(frac), self.now)
                .map_err(|e| e.to_string())?,
            None => frac == 1.0,
        };
        let message = if pass {
            None
        } else if c.threshold.is_some() {
            Some(unmet(&java(frac)))
        } else {
            let first = self
                .scalar(&format!(
                    "SELECT CAST({subject} AS VARCHAR) FROM {from} WHERE NOT {pred} LIMIT 1"
                ))
                .await?;
            Some(unmet(&match first {
                Val::Null => "NULL".to_string(),
                Val::Num(n) => java(n),
                v => v.to_string(),
            }))
        };
        Ok(Outcome {
            result: if pass { "PASS" } else { "FAIL" },
            message,
            metrics,
        })
    }
}

/// DataFreshness compares each value's age (`now - value`) with durations; as a condition on the
/// timestamp itself: `age <= 24 hours` ⇔ `value >= now - 24 hours`.
fn freshness(c: &Condition, now: DateTime<Utc>) -> Result<Condition, String> {
    let back = |e: &Expr| -> Result<Expr, String> {
        match e.eval(now).map_err(|e| e.to_string())? {
            Val::Duration(d) => Ok(Expr::Binary(
                Box::new(Expr::Now),
                '-',
                Box::new(Expr::Duration(d)),
            )),
            v => Err(format!(
                "DataFreshness compares durations (e.g. 24 hours), not {v}"
            )),
        }
    };
    Ok(match c {
        Condition::Compare(op, e) => {
            let flipped = match op {
                Op::Gt => Op::Lt,
                Op::Ge => Op::Le,
                Op::Lt => Op::Gt,
                Op::Le => Op::Ge,
                o => *o,
            };
            Condition::Compare(flipped, back(e)?)
        }
        Condition::Between { low, high, negated } => Condition::Between {
            low: back(high)?,
            high: back(low)?,
            negated: *negated,
        },
        _ => return Err("DataFreshness takes a comparison or between".into()),
    })
}
