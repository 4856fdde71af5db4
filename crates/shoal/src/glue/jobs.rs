//! Jobs and job runs. A job is one of three kinds, told apart by its definition:
//! - a **visual job**: `CodeGenConfigurationNodes` as Glue Studio saves them (see [`super::visual`]);
//! - a **SQL job** (shoal's extension): a `ScriptLocation` ending in `.sql`, run over the catalog
//!   and S3 paths, its result written where the `--target_path` argument says;
//! - a **Python shell job** (`Command.Name` `pythonshell`): the script run as a local process with
//!   `--JOB_NAME`, `--JOB_RUN_ID` and the job's arguments, `AWS_ENDPOINT_URL` pointing at shoal.
//!
//! Runs log to `/aws-glue/jobs/output` and `/aws-glue/jobs/error` (stream = run id), record
//! execution time and DPU-seconds, honour `Timeout`, and emit `Glue Job State Change` events. A
//! run a restart interrupted ends FAILED.

use super::{Glue, GlueError, Result};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Record, Records, Scan};
use crate::values::epoch;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Runs in progress: their stop switches.
#[derive(Default)]
pub(crate) struct Live {
    stops: Mutex<HashMap<String, tokio::sync::watch::Sender<bool>>>,
    /// Wakes `.sync` waiters when any run ends.
    pub(crate) ended: tokio::sync::Notify,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Job {
    pub owner: String,
    pub name: String,
    /// CreateJob's members as given.
    pub input: Value,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

impl Record for Job {
    const KIND: &'static str = "glue.job";
    fn key(&self) -> String {
        format!("{}:{}", self.owner, self.name)
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct JobRun {
    pub owner: String,
    pub job: String,
    pub id: String,
    /// `RUNNING`, `STOPPING`, `STOPPED`, `SUCCEEDED`, `FAILED`, `TIMEOUT`.
    pub state: String,
    pub arguments: Map<String, Value>,
    pub started: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// Minutes.
    pub timeout: i64,
    pub dpus: f64,
    pub worker_type: Option<String>,
    pub workers: Option<i64>,
    pub glue_version: String,
    #[serde(default)]
    pub rows_written: u64,
}

impl Record for JobRun {
    const KIND: &'static str = "glue.jobrun";
    fn key(&self) -> String {
        format!("{}:{}:{}", self.owner, self.job, self.id)
    }
    fn owner(&self) -> String {
        format!("{}:{}", self.owner, self.job)
    }
    fn status(&self) -> String {
        self.state.clone()
    }
    fn sort(&self) -> i64 {
        self.started.timestamp_millis()
    }
}

pub fn finished(state: &str) -> bool {
    matches!(
        state,
        "STOPPED" | "SUCCEEDED" | "FAILED" | "TIMEOUT" | "ERROR" | "EXPIRED"
    )
}

impl Job {
    /// Glue's `Job` shape.
    pub fn shape(&self) -> Value {
        let mut v = match &self.input {
            Value::Object(m) => Value::Object(m.clone()),
            _ => json!({}),
        };
        v["Name"] = json!(self.name);
        v["CreatedOn"] = epoch(self.created);
        v["LastModifiedOn"] = epoch(self.modified);
        if v.get("GlueVersion").is_none() {
            v["GlueVersion"] = json!("4.0");
        }
        if v.get("Timeout").is_none() {
            v["Timeout"] = json!(2880);
        }
        if v.get("ExecutionProperty").is_none() {
            v["ExecutionProperty"] = json!({"MaxConcurrentRuns": 1});
        }
        v
    }

    fn kind(&self) -> &'static str {
        let script = self
            .input
            .pointer("/Command/ScriptLocation")
            .and_then(Value::as_str)
            .unwrap_or("");
        let command = self
            .input
            .pointer("/Command/Name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if self
            .input
            .get("CodeGenConfigurationNodes")
            .is_some_and(|n| n.as_object().is_some_and(|m| !m.is_empty()))
        {
            "visual"
        } else if command == "pythonshell" {
            "pythonshell"
        } else if script.ends_with(".sql") {
            "sql"
        } else {
            "spark"
        }
    }

    fn dpus(&self) -> f64 {
        let i = &self.input;
        match (
            i.get("NumberOfWorkers").and_then(Value::as_f64),
            i.get("WorkerType").and_then(Value::as_str),
            i.get("MaxCapacity").and_then(Value::as_f64),
        ) {
            (Some(n), Some(t), _) => n * super::sessions::worker_dpus(t),
            (_, _, Some(c)) => c,
            _ if self.kind() == "pythonshell" => 0.0625,
            _ => 10.0,
        }
    }
}

impl JobRun {
    /// Glue's `JobRun` shape.
    pub fn shape(&self) -> Value {
        let end = self.completed.unwrap_or_else(Utc::now);
        let secs = (end - self.started).num_milliseconds().max(0) as f64 / 1000.0;
        let mut v = json!({
            "Id": self.id,
            "Attempt": 0,
            "JobName": self.job,
            "JobMode": "SCRIPT",
            "StartedOn": epoch(self.started),
            "LastModifiedOn": epoch(end),
            "JobRunState": self.state,
            "Arguments": self.arguments,
            "PredecessorRuns": [],
            "AllocatedCapacity": self.dpus.ceil() as i64,
            "ExecutionTime": secs.round() as i64,
            "Timeout": self.timeout,
            "MaxCapacity": self.dpus,
            "LogGroupName": "/aws-glue/jobs",
            "GlueVersion": self.glue_version,
            // billed per second with a one-minute minimum
            "DPUSeconds": secs.max(60.0) * self.dpus,
        });
        if let Some(c) = self.completed {
            v["CompletedOn"] = epoch(c);
        }
        if let Some(e) = &self.error {
            v["ErrorMessage"] = json!(e);
        }
        if let Some(t) = &self.worker_type {
            v["WorkerType"] = json!(t);
        }
        if let Some(n) = self.workers {
            v["NumberOfWorkers"] = json!(n);
        }
        v
    }
}

/// Why a run ended, when it did not succeed.
enum End {
    Failed(String),
    Stopped,
    Timeout,
}

impl Glue {
    pub fn job(&self, scope: &Scope, name: &str) -> Result<Job> {
        self.store
            .load::<Job>(&Glue::key(scope, name))?
            .ok_or_else(|| GlueError::not_found(format!("Job {name}")))
    }

    pub fn jobs(&self, scope: &Scope) -> Result<Vec<Job>> {
        self.owned(scope, |r: &Job| &r.name)
    }

    fn check_job(&self, input: &Value) -> Result<()> {
        if input.get("Role").and_then(Value::as_str).is_none() {
            return Err(GlueError::invalid("Role is required"));
        }
        if input
            .pointer("/Command/Name")
            .and_then(Value::as_str)
            .is_none()
        {
            return Err(GlueError::invalid("Command.Name is required"));
        }
        if let Some(nodes) = input.get("CodeGenConfigurationNodes") {
            super::visual::Plan::parse(nodes)?;
        }
        Ok(())
    }

    pub async fn create_job(&self, scope: &Scope, input: &Value) -> Result<String> {
        let _change = self.changes.lock().await;
        let name = input
            .get("Name")
            .and_then(Value::as_str)
            .ok_or_else(|| GlueError::invalid("Name is required"))?;
        self.check_job(input)?;
        if self.store.load::<Job>(&Glue::key(scope, name))?.is_some() {
            return Err(GlueError::AlreadyExistsException(format!(
                "Job {name} already exists"
            )));
        }
        let now = self.now();
        let job = Job {
            owner: Glue::owner(scope),
            name: name.into(),
            input: input.clone(),
            created: now,
            modified: now,
        };
        self.store.commit(vec![put(&job)]).done().await?;
        Ok(name.into())
    }

    pub async fn update_job(&self, scope: &Scope, name: &str, update: &Value) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut job = self.job(scope, name)?;
        let mut input = update.clone();
        input["Name"] = json!(name);
        self.check_job(&input)?;
        job.input = input;
        job.modified = self.now();
        self.store.commit(vec![put(&job)]).done().await?;
        Ok(())
    }

    pub async fn delete_job(&self, scope: &Scope, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let job = self.job(scope, name)?;
        self.store
            .commit(vec![delete::<Job>(&job.key())])
            .done()
            .await?;
        Ok(())
    }

    pub fn job_run(&self, scope: &Scope, job: &str, id: &str) -> Result<JobRun> {
        self.store
            .load::<JobRun>(&format!("{}:{job}:{id}", Glue::owner(scope)))?
            .ok_or_else(|| GlueError::not_found(format!("Job run {id}")))
    }

    pub fn job_runs(&self, scope: &Scope, job: &str) -> Result<Vec<JobRun>> {
        self.job(scope, job)?;
        Ok(self.store.list(Scan {
            owner: Some(&format!("{}:{job}", Glue::owner(scope))),
            descending: true,
            ..Default::default()
        })?)
    }

    /// StartJobRun: stores the run RUNNING, answers its id, and runs it in the background.
    pub async fn start_job_run(
        &self,
        scope: &Scope,
        name: &str,
        request: &Value,
    ) -> Result<String> {
        let job = self.job(scope, name)?;
        if job.kind() == "spark" {
            return Err(GlueError::invalid(format!(
                "Job {name} is a Spark script; shoal runs visual jobs (CodeGenConfigurationNodes), SQL scripts (.sql) and Python shell jobs"
            )));
        }
        let max = job
            .input
            .pointer("/ExecutionProperty/MaxConcurrentRuns")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let running = self
            .job_runs(scope, name)?
            .iter()
            .filter(|r| !finished(&r.state))
            .count() as i64;
        if running >= max {
            return Err(GlueError::ConcurrentRunsExceededException(format!(
                "Concurrent runs exceeded for {name}"
            )));
        }
        let mut arguments = job
            .input
            .get("DefaultArguments")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(m) = request.get("Arguments").and_then(Value::as_object) {
            arguments.extend(m.clone());
        }
        if let Some(m) = job
            .input
            .get("NonOverridableArguments")
            .and_then(Value::as_object)
        {
            arguments.extend(m.clone());
        }
        let id = format!(
            "jr_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let run = JobRun {
            owner: Glue::owner(scope),
            job: name.into(),
            id: id.clone(),
            state: "RUNNING".into(),
            arguments,
            started: self.now(),
            completed: None,
            error: None,
            timeout: request
                .get("Timeout")
                .or_else(|| job.input.get("Timeout"))
                .and_then(Value::as_i64)
                .unwrap_or(2880),
            dpus: job.dpus(),
            worker_type: job
                .input
                .get("WorkerType")
                .and_then(Value::as_str)
                .map(String::from),
            workers: job.input.get("NumberOfWorkers").and_then(Value::as_i64),
            glue_version: job
                .input
                .get("GlueVersion")
                .and_then(Value::as_str)
                .unwrap_or("4.0")
                .into(),
            rows_written: 0,
        };
        self.store.commit(vec![put(&run)]).done().await?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        self.runs
            .stops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), tx);
        if let Some(glue) = self.arc() {
            let scope = scope.clone();
            tokio::spawn(async move { glue.run_job(scope, job, run, rx).await });
        }
        Ok(id)
    }

    /// BatchStopJobRun for one run.
    pub async fn stop_job_run(&self, scope: &Scope, job: &str, id: &str) -> Result<()> {
        let mut run = self.job_run(scope, job, id)?;
        if finished(&run.state) {
            return Err(GlueError::invalid(format!(
                "Job run {id} has already finished ({})",
                run.state
            )));
        }
        run.state = "STOPPING".into();
        self.store.commit(vec![put(&run)]).done().await?;
        if let Some(tx) = self
            .runs
            .stops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            let _ = tx.send(true);
        }
        Ok(())
    }

    async fn job_log(&self, scope: &Scope, group: &str, run: &str, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        let now = self.now().timestamp_millis();
        let events = lines.into_iter().map(|l| (now, l)).collect();
        if let Err(e) = self.logs.write(scope, group, run, events).await {
            eprintln!("shoal: cannot write the log of job run {run}: {e}");
        }
    }

    async fn run_job(
        self: Arc<Glue>,
        scope: Scope,
        job: Job,
        mut run: JobRun,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let scale = if self.settings.wait_scale > 0.0 {
            self.settings.wait_scale
        } else {
            1.0
        };
        let limit = std::time::Duration::from_secs_f64((run.timeout.max(1) as f64) * 60.0 * scale);
        let work = self
            .clone()
            .job_work(scope.clone(), job.clone(), run.clone());
        let end = tokio::select! {
            r = tokio::time::timeout(limit, work) => match r {
                Ok(Ok(rows)) => { run.rows_written = rows; None }
                Ok(Err(e)) => Some(End::Failed(e)),
                Err(_) => Some(End::Timeout),
            },
            _ = stop.wait_for(|s| *s) => Some(End::Stopped),
        };
        self.runs
            .stops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&run.id);
        run.completed = Some(self.now());
        let (state, severity, message) = match end {
            None => ("SUCCEEDED", "INFO", "Job run succeeded".to_string()),
            Some(End::Failed(e)) => {
                run.error = Some(e.clone());
                ("FAILED", "ERROR", e)
            }
            Some(End::Stopped) => ("STOPPED", "INFO", "Job run stopped".to_string()),
            Some(End::Timeout) => {
                let m = format!("Job run timed out after {} minutes", run.timeout);
                run.error = Some(m.clone());
                ("TIMEOUT", "ERROR", m)
            }
        };
        run.state = state.into();
        if let Err(e) = self.store.commit(vec![put(&run)]).done().await {
            eprintln!("shoal: cannot store job run {}: {e}", run.id);
        }
        self.runs.ended.notify_waiters();
        self.emit(
            &scope,
            "Glue Job State Change",
            json!({"jobName": run.job, "severity": severity, "state": state, "jobRunId": run.id, "message": message}),
            vec![],
        )
        .await;
    }

    /// The work of a run; the rows it wrote.
    async fn job_work(self: Arc<Glue>, scope: Scope, job: Job, run: JobRun) -> Result<u64, String> {
        match job.kind() {
            "visual" => {
                let nodes = job
                    .input
                    .get("CodeGenConfigurationNodes")
                    .cloned()
                    .unwrap_or(json!({}));
                let plan = super::visual::Plan::parse(&nodes).map_err(|e| e.to_string())?;
                let (rows, log) = plan.run(&self, &scope).await;
                self.job_log(&scope, "/aws-glue/jobs/output", &run.id, log.lines)
                    .await;
                self.job_log(&scope, "/aws-glue/jobs/error", &run.id, log.errors)
                    .await;
                rows
            }
            "sql" => {
                let r = self.sql_job(&scope, &job, &run).await;
                match &r {
                    Ok(n) => {
                        self.job_log(
                            &scope,
                            "/aws-glue/jobs/output",
                            &run.id,
                            vec![format!("Wrote {n} rows")],
                        )
                        .await
                    }
                    Err(e) => {
                        self.job_log(&scope, "/aws-glue/jobs/error", &run.id, vec![e.clone()])
                            .await
                    }
                }
                r
            }
            _ => self.python_shell(&scope, &job, &run).await.map(|_| 0),
        }
    }

    /// A script's text: from shoal's S3 (`s3://`) or a local file.
    async fn script(&self, job: &Job) -> Result<String, String> {
        let loc = job
            .input
            .pointer("/Command/ScriptLocation")
            .and_then(Value::as_str)
            .ok_or("the job has no Command.ScriptLocation")?;
        if loc.starts_with("s3://") {
            let (bucket, key) =
                crate::lake::json::split_location(loc).map_err(|e| e.to_string())?;
            let bytes = crate::lake::json::object_bytes(&self.s3, &bucket, &key)
                .await
                .map_err(|e| e.to_string())?;
            return String::from_utf8(bytes).map_err(|_| format!("{loc} is not UTF-8 text"));
        }
        let path = loc.strip_prefix("file://").unwrap_or(loc);
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the script {loc}: {e}"))
    }

    async fn sql_job(&self, scope: &Scope, job: &Job, run: &JobRun) -> Result<u64, String> {
        let sql = self.script(job).await?;
        let arg = |k: &str| {
            run.arguments
                .get(&format!("--{k}"))
                .and_then(Value::as_str)
                .map(String::from)
        };
        let target = arg("target_path")
            .ok_or("a SQL job needs the argument --target_path s3://bucket/prefix/")?;
        let glue = self.arc().ok_or("shutting down")?;
        let lake = crate::lake::Lake::new(glue);
        let ctx = lake.context(scope, arg("database").as_deref());
        let df = ctx.sql(&sql).await.map_err(|e| format!("SQL error: {e}"))?;
        let t = crate::lake::write::Target {
            location: target,
            format: arg("target_format").unwrap_or_else(|| "parquet".into()),
            compression: arg("compression"),
            partition_keys: arg("partition_keys")
                .map(|p| {
                    p.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            overwrite: arg("write_mode").is_some_and(|m| m.eq_ignore_ascii_case("overwrite")),
        };
        let w = crate::lake::write::write(&self.s3, df, &t)
            .await
            .map_err(|e| e.to_string())?;
        Ok(w.rows)
    }

    async fn python_shell(&self, scope: &Scope, job: &Job, run: &JobRun) -> Result<(), String> {
        let script = self.script(job).await?;
        // removed on drop: also when the run is stopped or times out and this future is dropped
        let dir = tempfile::Builder::new()
            .prefix(&format!("shoal-glue-{}-", run.id))
            .tempdir()
            .map_err(|e| e.to_string())?;
        let file = dir.path().join("script.py");
        std::fs::write(&file, script).map_err(|e| e.to_string())?;
        let python = match &self.settings.python {
            Some(p) => p.clone(),
            None => self.lambda.python().await.map_err(|e| e.to_string())?,
        };
        let mut args = vec![
            file.display().to_string(),
            "--JOB_NAME".into(),
            run.job.clone(),
            "--JOB_RUN_ID".into(),
            run.id.clone(),
        ];
        for (k, v) in &run.arguments {
            args.push(k.clone());
            args.push(
                v.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string()),
            );
        }
        let mut child = tokio::process::Command::new(&python)
            .args(&args)
            .current_dir(dir.path())
            .env("AWS_ENDPOINT_URL", &self.settings.endpoint)
            .env("AWS_ACCESS_KEY_ID", "shoal")
            .env("AWS_SECRET_ACCESS_KEY", "shoal")
            .env("AWS_DEFAULT_REGION", &scope.region)
            .env("AWS_REGION", &scope.region)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        let pipe = |r: Option<tokio::process::ChildStdout>| async move {
            let mut out = String::new();
            if let Some(mut r) = r {
                use tokio::io::AsyncReadExt;
                let _ = r.read_to_string(&mut out).await;
            }
            out
        };
        let err_pipe = |r: Option<tokio::process::ChildStderr>| async move {
            let mut out = String::new();
            if let Some(mut r) = r {
                use tokio::io::AsyncReadExt;
                let _ = r.read_to_string(&mut out).await;
            }
            out
        };
        let (out, err, status) = tokio::join!(
            pipe(child.stdout.take()),
            err_pipe(child.stderr.take()),
            child.wait()
        );
        drop(dir);
        self.job_log(
            scope,
            "/aws-glue/jobs/output",
            &run.id,
            out.lines().map(String::from).collect(),
        )
        .await;
        self.job_log(
            scope,
            "/aws-glue/jobs/error",
            &run.id,
            err.lines().map(String::from).collect(),
        )
        .await;
        let status = status.map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_string();
            Err(format!(
                "Command failed with exit code {}{}",
                status.code().unwrap_or(-1),
                if last.is_empty() {
                    String::new()
                } else {
                    format!(": {last}")
                }
            ))
        }
    }

    /// Waits until a run has finished (the `.sync` integration).
    pub async fn wait_job_run(&self, scope: &Scope, job: &str, id: &str) -> Result<JobRun> {
        loop {
            let ended = self.runs.ended.notified();
            let run = self.job_run(scope, job, id)?;
            if finished(&run.state) {
                return Ok(run);
            }
            let _ = tokio::time::timeout(std::time::Duration::from_millis(500), ended).await;
        }
    }
}

impl Glue {
    /// Creates or updates the catalog table a job target wrote (`EnableUpdateCatalog`), with
    /// the output's columns and a partition per `key=value` folder written.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn catalog_output(
        &self,
        scope: &Scope,
        database: &str,
        table: &str,
        location: &str,
        format: &str,
        schema: &datafusion::arrow::datatypes::Schema,
        partition_keys: &[String],
        written: &[String],
    ) -> Result<()> {
        let fields: Vec<(String, datafusion::arrow::datatypes::DataType)> = schema
            .fields()
            .iter()
            .filter(|f| !partition_keys.contains(f.name()))
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        let (_, base) = crate::lake::json::split_location(&crate::lake::folder_of(location))
            .map_err(|e| GlueError::invalid(e.to_string()))?;
        let mut partitions: Vec<(Vec<String>, Vec<String>)> = vec![];
        for key in written {
            let rest = key.strip_prefix(&base).unwrap_or(key);
            let folders: Vec<String> = rest.split('/').map(String::from).collect();
            let folders = folders[..folders.len().saturating_sub(1)].to_vec();
            if folders.len() != partition_keys.len() || folders.is_empty() {
                continue;
            }
            let values: Vec<String> = folders
                .iter()
                .map(|f| f.split_once('=').map_or(f.as_str(), |(_, v)| v).to_string())
                .collect();
            if !partitions.iter().any(|(v, _)| *v == values) {
                partitions.push((values, folders));
            }
        }
        let found = super::infer::FoundTable {
            name: table.to_string(),
            root: vec![],
            format: if format == "glueparquet" {
                "parquet".into()
            } else {
                format.to_string()
            },
            columns: super::infer::columns_of(&fields),
            partition_keys: partition_keys.to_vec(),
            partitions,
            rows: 0,
            objects: written.len() as u64,
            bytes: 0,
            delimiter: Some(','),
            header: true,
        };
        self.database(scope, database)?;
        self.write_found(
            scope,
            database,
            table,
            &crate::lake::folder_of(location),
            &found,
            "glue-job",
        )
        .await?;
        Ok(())
    }
}

/// Runs a restart interrupted end FAILED.
pub(crate) async fn recover(glue: &Arc<Glue>) -> Result<()> {
    let mut writes = vec![];
    for state in ["RUNNING", "STOPPING"] {
        let stuck: Vec<JobRun> = glue.store.list(Scan {
            status: Some(state),
            ..Default::default()
        })?;
        for mut r in stuck {
            r.state = "FAILED".into();
            r.error = Some("The job run was interrupted by a restart of shoal".into());
            r.completed = Some(Utc::now());
            writes.push(put(&r));
        }
    }
    if !writes.is_empty() {
        glue.store.commit(writes).done().await?;
    }
    Ok(())
}
