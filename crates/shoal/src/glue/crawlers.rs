//! Crawlers: a run lists the objects under each S3 target, classifies them (Parquet footers,
//! JSON and CSV samples), and creates or updates the catalog tables and partitions
//! [`super::infer`] finds. A run is asynchronous, as on AWS: StartCrawler answers at once, the
//! crawler is RUNNING until the catalog is written, and a second start meanwhile gets
//! `CrawlerRunningException`. Runs log to `/aws-glue/crawlers` and emit
//! `Glue Crawler State Change` events.

use super::infer::{self, File, FileSchema, FoundTable};
use super::{Glue, GlueError, Result};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Record, Records, Scan};
use crate::values::epoch;
use chrono::{DateTime, Utc};
use datafusion::parquet::arrow::parquet_to_arrow_schema;
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use md5::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// Bytes of a JSON or CSV file a classifier reads.
const SAMPLE: u64 = 1 << 20;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Crawler {
    pub owner: String,
    pub name: String,
    /// CreateCrawler's members as given.
    pub input: Value,
    /// `READY`, `RUNNING`, `STOPPING`.
    pub state: String,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub version: u64,
    pub last_crawl: Option<Value>,
    /// Seconds of each finished run, newest last (for the median).
    #[serde(default)]
    pub runtimes: Vec<f64>,
    #[serde(default)]
    pub counts: Counts,
    pub started: Option<DateTime<Utc>>,
    #[serde(default)]
    pub stop_asked: bool,
    /// StopCrawlerSchedule paused the schedule (Glue's `NOT_SCHEDULED`).
    #[serde(default)]
    pub schedule_stopped: bool,
}

/// What the last run did to the catalog.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub partitions: u64,
}

impl Record for Crawler {
    const KIND: &'static str = "glue.crawler";
    fn key(&self) -> String {
        format!("{}:{}", self.owner, self.name)
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
    fn status(&self) -> String {
        self.state.clone()
    }
}

impl Crawler {
    /// Glue's `Crawler` shape.
    pub fn shape(&self) -> Value {
        let mut v = json!({
            "Name": self.name,
            "Role": self.input.get("Role").cloned().unwrap_or(Value::Null),
            "Targets": self.input.get("Targets").cloned().unwrap_or(json!({})),
            "Classifiers": self.input.get("Classifiers").cloned().unwrap_or(json!([])),
            "RecrawlPolicy": self.input.get("RecrawlPolicy").cloned().unwrap_or(json!({"RecrawlBehavior": "CRAWL_EVERYTHING"})),
            "SchemaChangePolicy": self.input.get("SchemaChangePolicy").cloned().unwrap_or(json!({"UpdateBehavior": "UPDATE_IN_DATABASE", "DeleteBehavior": "DEPRECATE_IN_DATABASE"})),
            "LineageConfiguration": {"CrawlerLineageSettings": "DISABLE"},
            "State": self.state,
            "CrawlElapsedTime": self.started.filter(|_| self.state != "READY").map_or(0, |s| (Utc::now() - s).num_milliseconds()),
            "CreationTime": epoch(self.created),
            "LastUpdated": epoch(self.updated),
            "Version": self.version,
            "LakeFormationConfiguration": {"UseLakeFormationCredentials": false, "AccountId": ""},
        });
        for k in [
            "DatabaseName",
            "Description",
            "TablePrefix",
            "Configuration",
            "Schedule",
            "CrawlerSecurityConfiguration",
        ] {
            if let Some(x) = self.input.get(k) {
                v[k] = if k == "Schedule" {
                    let state = if self.schedule_stopped {
                        "NOT_SCHEDULED"
                    } else {
                        "SCHEDULED"
                    };
                    json!({"ScheduleExpression": x, "State": state})
                } else {
                    x.clone()
                };
            }
        }
        if let Some(l) = &self.last_crawl {
            v["LastCrawl"] = l.clone();
        }
        v
    }

    /// The schedule expression, if the crawler has one.
    pub fn schedule(&self) -> Option<&str> {
        self.input
            .get("Schedule")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    fn paths(&self) -> Vec<(String, Vec<String>)> {
        self.input
            .pointer("/Targets/S3Targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some((
                    t.get("Path")?.as_str()?.to_string(),
                    crate::values::strings(t, "Exclusions"),
                ))
            })
            .collect()
    }
}

fn check_targets(input: &Value) -> Result<()> {
    if let Some(s) = input.get("Schedule").and_then(Value::as_str) {
        if !s.is_empty() {
            super::schedules::parse(s)?;
        }
    }
    let targets = input
        .get("Targets")
        .ok_or_else(|| GlueError::invalid("Targets is required"))?;
    let s3 = targets.get("S3Targets").and_then(Value::as_array);
    let others = targets
        .as_object()
        .map(|m| {
            m.keys()
                .filter(|k| *k != "S3Targets" && m[*k].as_array().is_some_and(|a| !a.is_empty()))
                .cloned()
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    if !others.is_empty() {
        return Err(GlueError::invalid(format!(
            "shoal crawls S3 targets; {} not supported",
            others.join(", ")
        )));
    }
    for t in s3.into_iter().flatten() {
        let p = t.get("Path").and_then(Value::as_str).unwrap_or("");
        if !p.starts_with("s3://") {
            return Err(GlueError::invalid(format!(
                "S3 target path '{p}' must start with s3://"
            )));
        }
    }
    Ok(())
}

/// An exclusion glob (`**` any folders, `*` within one name, `?` one character).
fn glob(p: &str) -> Option<regex::Regex> {
    let mut re = String::from("^");
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                re.push_str(".*");
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).ok()
}

impl Glue {
    pub fn crawler(&self, scope: &Scope, name: &str) -> Result<Crawler> {
        self.store
            .load::<Crawler>(&Glue::key(scope, name))?
            .ok_or_else(|| GlueError::not_found(format!("Crawler with name {name}")))
    }

    pub fn crawlers(&self, scope: &Scope) -> Result<Vec<Crawler>> {
        self.owned(scope, |r: &Crawler| &r.name)
    }

    pub async fn create_crawler(&self, scope: &Scope, input: &Value) -> Result<()> {
        let _change = self.changes.lock().await;
        let name = input
            .get("Name")
            .and_then(Value::as_str)
            .ok_or_else(|| GlueError::invalid("Name is required"))?;
        if input.get("Role").and_then(Value::as_str).is_none() {
            return Err(GlueError::invalid("Role is required"));
        }
        check_targets(input)?;
        if self
            .store
            .load::<Crawler>(&Glue::key(scope, name))?
            .is_some()
        {
            return Err(GlueError::AlreadyExistsException(format!(
                "{name} already exists"
            )));
        }
        let now = self.now();
        let c = Crawler {
            owner: Glue::owner(scope),
            name: name.into(),
            input: input.clone(),
            state: "READY".into(),
            created: now,
            updated: now,
            version: 1,
            last_crawl: None,
            runtimes: vec![],
            counts: Counts::default(),
            started: None,
            stop_asked: false,
            schedule_stopped: false,
        };
        self.store.commit(vec![put(&c)]).done().await?;
        self.crawler_schedules.notify_one();
        Ok(())
    }

    pub async fn update_crawler(&self, scope: &Scope, input: &Value) -> Result<()> {
        let _change = self.changes.lock().await;
        let name = input
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut c = self.crawler(scope, name)?;
        if c.state != "READY" {
            return Err(GlueError::CrawlerRunningException(format!(
                "Crawler with name {name} is running"
            )));
        }
        if let (Some(m), Some(new)) = (c.input.as_object_mut(), input.as_object()) {
            for (k, v) in new {
                m.insert(k.clone(), v.clone());
            }
        }
        check_targets(&c.input)?;
        c.version += 1;
        c.updated = self.now();
        self.store.commit(vec![put(&c)]).done().await?;
        self.crawler_schedules.notify_one();
        Ok(())
    }

    /// UpdateCrawlerSchedule: a new expression (empty: none), allowed while the crawler runs.
    pub async fn update_crawler_schedule(
        &self,
        scope: &Scope,
        name: &str,
        schedule: Option<&str>,
    ) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut c = self.crawler(scope, name)?;
        if let Some(s) = schedule.filter(|s| !s.is_empty()) {
            super::schedules::parse(s)?;
        }
        if let Some(m) = c.input.as_object_mut() {
            match schedule {
                Some(s) => m.insert("Schedule".into(), json!(s)),
                None => m.remove("Schedule"),
            };
        }
        c.updated = self.now();
        self.store.commit(vec![put(&c)]).done().await?;
        self.crawler_schedules.notify_one();
        Ok(())
    }

    /// Start/StopCrawlerSchedule: SCHEDULED or NOT_SCHEDULED, with Glue's errors.
    pub async fn set_crawler_schedule(&self, scope: &Scope, name: &str, on: bool) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut c = self.crawler(scope, name)?;
        match (c.schedule().is_some(), on, c.schedule_stopped) {
            (false, true, _) => {
                return Err(GlueError::NoScheduleException(format!(
                    "Crawler with name {name} has no schedule"
                )))
            }
            (false, false, _) | (true, false, true) => {
                return Err(GlueError::SchedulerNotRunningException(format!(
                    "Schedule of crawler {name} is not running"
                )))
            }
            (true, true, false) => {
                return Err(GlueError::SchedulerRunningException(format!(
                    "Schedule of crawler {name} is already running"
                )))
            }
            _ => {}
        }
        c.schedule_stopped = !on;
        self.store.commit(vec![put(&c)]).done().await?;
        self.crawler_schedules.notify_one();
        Ok(())
    }

    pub async fn delete_crawler(&self, scope: &Scope, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let c = self.crawler(scope, name)?;
        if c.state != "READY" {
            return Err(GlueError::CrawlerRunningException(format!(
                "Crawler with name {name} is running"
            )));
        }
        self.store
            .commit(vec![delete::<Crawler>(&c.key())])
            .done()
            .await?;
        self.crawler_schedules.notify_one();
        Ok(())
    }

    pub async fn start_crawler(&self, scope: &Scope, name: &str) -> Result<()> {
        let mut c = self.crawler(scope, name)?;
        if c.state != "READY" {
            return Err(GlueError::CrawlerRunningException(format!(
                "Crawler with name {name} has already started"
            )));
        }
        let now = self.now();
        c.state = "RUNNING".into();
        c.started = Some(now);
        c.stop_asked = false;
        self.store.commit(vec![put(&c)]).done().await?;
        if let Some(glue) = self.arc() {
            let scope = scope.clone();
            tokio::spawn(async move { glue.crawl(scope, c).await });
        }
        Ok(())
    }

    pub async fn stop_crawler(&self, scope: &Scope, name: &str) -> Result<()> {
        let mut c = self.crawler(scope, name)?;
        if c.state != "RUNNING" {
            return Err(GlueError::CrawlerNotRunningException(format!(
                "Crawler with name {name} is not running"
            )));
        }
        c.state = "STOPPING".into();
        c.stop_asked = true;
        self.store.commit(vec![put(&c)]).done().await?;
        Ok(())
    }

    /// GetCrawlerMetrics' entry for one crawler.
    pub fn crawler_metrics(&self, c: &Crawler) -> Value {
        let mut r = c.runtimes.clone();
        r.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let median = if r.is_empty() { 0.0 } else { r[r.len() / 2] };
        json!({
            "CrawlerName": c.name,
            "TimeLeftSeconds": 0.0,
            "StillEstimating": c.state == "RUNNING",
            "LastRuntimeSeconds": c.runtimes.last().copied().unwrap_or(0.0),
            "MedianRuntimeSeconds": median,
            "TablesCreated": c.counts.created,
            "TablesUpdated": c.counts.updated,
            "TablesDeleted": c.counts.deleted,
        })
    }

    pub(super) async fn crawl_log(
        &self,
        scope: &Scope,
        c: &Crawler,
        prefix: &str,
        lines: &[String],
    ) {
        let now = self.now().timestamp_millis();
        let events = lines
            .iter()
            .map(|l| (now, format!("[{prefix}] {l}")))
            .collect();
        if let Err(e) = self
            .logs
            .write(scope, "/aws-glue/crawlers", &c.name, events)
            .await
        {
            eprintln!("shoal: cannot write the log of crawler {}: {e}", c.name);
        }
    }

    /// One run of a crawler, from RUNNING back to READY with its LastCrawl.
    async fn crawl(self: Arc<Glue>, scope: Scope, c: Crawler) {
        let prefix = uuid::Uuid::new_v4().to_string();
        let started = c.started.unwrap_or_else(|| self.now());
        self.crawl_log(
            &scope,
            &c,
            &prefix,
            &[format!(
                "BENCHMARK : Running Start Crawl for Crawler {}",
                c.name
            )],
        )
        .await;
        self.emit(
            &scope,
            "Glue Crawler State Change",
            json!({"crawlerName": c.name, "state": "Started", "message": "Crawler Started", "accountId": scope.account}),
            vec![],
        )
        .await;
        let clock = std::time::Instant::now();
        // AWS crawlers spend a while starting; `--glue-crawler-startup` models it
        let startup = self.settings.crawler_startup * self.settings.wait_scale;
        if startup > 0.0 {
            tokio::time::sleep(std::time::Duration::from_secs_f64(startup)).await;
        }
        let outcome = self.crawl_targets(&scope, &c).await;
        let secs = clock.elapsed().as_secs_f64();
        let mut lines = vec![];
        let (status, error, counts) = match outcome {
            Ok((counts, log)) => {
                lines.extend(log);
                lines.push("BENCHMARK : Finished writing to Catalog".into());
                (
                    if self.crawler(&scope, &c.name).is_ok_and(|n| n.stop_asked) {
                        "CANCELLED"
                    } else {
                        "SUCCEEDED"
                    },
                    None,
                    counts,
                )
            }
            Err(e) => {
                lines.push(format!("ERROR : {e}"));
                ("FAILED", Some(e.to_string()), Counts::default())
            }
        };
        lines.push("BENCHMARK : Crawler has finished running and is in state READY".to_string());
        self.crawl_log(&scope, &c, &prefix, &lines).await;
        let Ok(mut now) = self.crawler(&scope, &c.name) else {
            return;
        };
        now.state = "READY".into();
        now.stop_asked = false;
        let mut last = json!({
            "Status": status,
            "LogGroup": "/aws-glue/crawlers",
            "LogStream": c.name,
            "MessagePrefix": prefix,
            "StartTime": epoch(started),
        });
        if let Some(e) = &error {
            last["ErrorMessage"] = json!(e);
        }
        now.last_crawl = Some(last);
        now.runtimes.push(secs);
        if now.runtimes.len() > 50 {
            now.runtimes.remove(0);
        }
        now.counts = counts.clone();
        if let Err(e) = self.store.commit(vec![put(&now)]).done().await {
            eprintln!("shoal: cannot store crawler {}: {e}", c.name);
        }
        let state = match status {
            "SUCCEEDED" => "Succeeded",
            "CANCELLED" => "Cancelled",
            _ => "Failed",
        };
        let mut detail = json!({
            "crawlerName": c.name, "state": state, "accountId": scope.account,
            "tablesCreated": counts.created.to_string(), "tablesUpdated": counts.updated.to_string(),
            "tablesDeleted": counts.deleted.to_string(), "partitionsCreated": counts.partitions.to_string(),
            "runningTime": format!("{secs:.1} sec"), "startTime": started.to_rfc3339(),
            "completionDate": self.now().to_rfc3339(),
            "message": if error.is_some() { "Crawler Failed" } else { "Crawler Succeeded" },
        });
        if let Some(e) = error {
            detail["errorMessage"] = json!(e);
        }
        self.emit(&scope, "Glue Crawler State Change", detail, vec![])
            .await;
    }

    /// Reads every target and writes what it found; the counts and the log lines.
    async fn crawl_targets(&self, scope: &Scope, c: &Crawler) -> Result<(Counts, Vec<String>)> {
        let database = c
            .input
            .get("DatabaseName")
            .and_then(Value::as_str)
            .ok_or_else(|| GlueError::invalid("the crawler has no DatabaseName"))?;
        let db = self.database(scope, database)?;
        let table_prefix = c
            .input
            .get("TablePrefix")
            .and_then(Value::as_str)
            .unwrap_or("");
        let mut counts = Counts::default();
        let mut log = vec![];
        let mut seen = std::collections::HashSet::new();
        for (path, exclusions) in c.paths() {
            let excluded: Vec<regex::Regex> = exclusions.iter().filter_map(|e| glob(e)).collect();
            let (bucket, objects) = crate::lake::json::keys(&self.s3, &path)
                .map_err(|e| GlueError::invalid(e.to_string()))?;
            let (_, base) = crate::lake::json::split_location(&path)
                .map_err(|e| GlueError::invalid(e.to_string()))?;
            let base = if base.is_empty() || base.ends_with('/') {
                base
            } else {
                format!("{base}/")
            };
            let mut files = vec![];
            for o in objects {
                let rel = o.key.strip_prefix(&base).unwrap_or(&o.key).to_string();
                if excluded.iter().any(|r| r.is_match(&rel)) {
                    continue;
                }
                match self.classify(&bucket, &o).await {
                    Ok(Some(schema)) => {
                        let mut folders: Vec<String> = rel.split('/').map(String::from).collect();
                        folders.pop();
                        files.push(File {
                            folders,
                            size: o.size,
                            schema,
                        });
                    }
                    Ok(None) => log.push(format!(
                        "WARN : s3://{bucket}/{} is not Parquet, JSON or CSV; skipped",
                        o.key
                    )),
                    Err(e) => log.push(format!(
                        "WARN : cannot classify s3://{bucket}/{}: {e}",
                        o.key
                    )),
                }
            }
            let root_name = base
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|s| !s.is_empty())
                .unwrap_or(&bucket)
                .to_string();
            let root_location = format!("s3://{bucket}/{base}");
            for t in infer::tables(files, &root_name) {
                let mut location = root_location.clone();
                for seg in &t.root {
                    location.push_str(seg);
                    location.push('/');
                }
                let mut name = format!("{table_prefix}{}", t.name).to_lowercase();
                // two tables of one crawl with one name: Glue tells them apart by a hash suffix
                if !seen.insert(name.clone()) {
                    let h = format!("{:x}", md5::Md5::digest(location.as_bytes()));
                    name = format!("{name}_{}", &h[..8]);
                    seen.insert(name.clone());
                }
                let created = self
                    .write_found(scope, &db.name, &name, &location, &t, &c.name)
                    .await?;
                if created {
                    counts.created += 1;
                    log.push(format!(
                        "INFO : Created table {name} in database {}",
                        db.name
                    ));
                } else {
                    counts.updated += 1;
                    log.push(format!(
                        "INFO : Updated table {name} in database {}",
                        db.name
                    ));
                }
                counts.partitions += t.partitions.len() as u64;
            }
        }
        Ok((counts, log))
    }

    /// Creates or updates one found table and its partitions; true when created.
    pub(crate) async fn write_found(
        &self,
        scope: &Scope,
        database: &str,
        name: &str,
        location: &str,
        t: &FoundTable,
        crawler: &str,
    ) -> Result<bool> {
        let (input_format, output_format, serde, serde_params) = match t.format.as_str() {
            "parquet" => (
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                json!({"serialization.format": "1"}),
            ),
            "json" => (
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "org.openx.data.jsonserde.JsonSerDe",
                json!({"paths": t.columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(",")}),
            ),
            _ => (
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                json!({"field.delim": t.delimiter.unwrap_or(',').to_string()}),
            ),
        };
        let mut params = json!({
            "classification": t.format,
            "compressionType": "none",
            "typeOfData": "file",
            "recordCount": t.rows.to_string(),
            "averageRecordSize": t.bytes.checked_div(t.rows).unwrap_or(0).to_string(),
            "objectCount": t.objects.to_string(),
            "sizeKey": t.bytes.to_string(),
            "CrawlerSchemaSerializerVersion": "1.0",
            "CrawlerSchemaDeserializerVersion": "1.0",
            "UPDATED_BY_CRAWLER": crawler,
        });
        if t.format == "csv" {
            params["delimiter"] = json!(t.delimiter.unwrap_or(',').to_string());
            params["areColumnsQuoted"] = json!("false");
            params["columnsOrdered"] = json!("true");
            if t.header {
                params["skip.header.line.count"] = json!("1");
            }
        }
        let storage = |loc: &str| {
            json!({
                "Columns": t.columns.iter().map(|(n, ty)| json!({"Name": n, "Type": ty})).collect::<Vec<_>>(),
                "Location": loc,
                "InputFormat": input_format,
                "OutputFormat": output_format,
                "Compressed": false,
                "NumberOfBuckets": -1,
                "SerdeInfo": {"SerializationLibrary": serde, "Parameters": serde_params},
                "BucketColumns": [],
                "SortColumns": [],
                "Parameters": params,
                "StoredAsSubDirectories": false,
            })
        };
        let input = json!({
            "Name": name,
            "Owner": "owner",
            "Retention": 0,
            "StorageDescriptor": storage(location),
            "PartitionKeys": t.partition_keys.iter().map(|k| json!({"Name": k, "Type": "string"})).collect::<Vec<_>>(),
            "TableType": "EXTERNAL_TABLE",
            "Parameters": params,
        });
        let created = match self.table(scope, database, name) {
            Ok(_) => {
                self.update_table(scope, database, &input).await?;
                false
            }
            Err(GlueError::EntityNotFoundException(_)) => {
                self.create_table(scope, database, &input).await?;
                true
            }
            Err(e) => return Err(e),
        };
        if !t.partitions.is_empty() {
            let table = self.table(scope, database, name)?;
            let inputs: Vec<Value> = t
                .partitions
                .iter()
                .map(|(values, folders)| {
                    let mut loc = location.to_string();
                    for f in folders {
                        loc.push_str(f);
                        loc.push('/');
                    }
                    json!({"Values": values, "StorageDescriptor": storage(&loc), "Parameters": params})
                })
                .collect();
            let writes = self.partition_writes(scope, &table, &inputs);
            self.store.commit(writes).done().await?;
        }
        Ok(created)
    }

    /// Classifies one object: Parquet by its magic bytes (schema from the footer only), JSON
    /// and CSV from the first MiB.
    async fn classify(
        &self,
        bucket: &str,
        o: &crate::s3::model::Object,
    ) -> Result<Option<FileSchema>> {
        if o.size == 0 {
            return Ok(None);
        }
        let read = |start: u64, len: u64| async move {
            use futures_util::TryStreamExt;
            let chunks: Vec<bytes::Bytes> = self
                .s3
                .body(o, start, len)
                .try_collect()
                .await
                .map_err(GlueError::internal)?;
            Ok::<Vec<u8>, GlueError>(chunks.concat())
        };
        let head = read(0, o.size.min(SAMPLE)).await?;
        if head.starts_with(b"PAR1") && o.size >= 12 {
            let tail = read(o.size - 8, 8).await?;
            if tail.len() != 8 {
                return Ok(None);
            }
            let len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64;
            if &tail[4..] != b"PAR1" || len + 8 > o.size {
                return Err(GlueError::invalid(format!(
                    "s3://{bucket}/{} has a damaged Parquet footer",
                    o.key
                )));
            }
            let footer = read(o.size - 8 - len, len).await?;
            let meta = ParquetMetaDataReader::decode_metadata(&footer)
                .map_err(|e| GlueError::invalid(format!("unreadable Parquet footer: {e}")))?;
            let file = meta.file_metadata();
            let schema = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
                .map_err(|e| GlueError::invalid(format!("unreadable Parquet schema: {e}")))?;
            let fields: Vec<(String, datafusion::arrow::datatypes::DataType)> = schema
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect();
            return Ok(Some(FileSchema {
                format: "parquet".into(),
                columns: infer::columns_of(&fields),
                rows: Some(file.num_rows() as u64),
                delimiter: None,
                header: false,
            }));
        }
        let Ok(text) = std::str::from_utf8(&head) else {
            // a sample may end inside a character; trim to the last whole one
            let cut = match std::str::from_utf8(&head) {
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                _ => return Ok(None),
            };
            return self.classify_text(&String::from_utf8_lossy(&head[..cut]), o.size <= SAMPLE);
        };
        self.classify_text(text, o.size <= SAMPLE)
    }

    fn classify_text(&self, text: &str, whole: bool) -> Result<Option<FileSchema>> {
        let t = text.trim_start_matches('\u{feff}').trim_start();
        if t.starts_with('[') {
            if !whole {
                return Ok(Some(infer::json_schema(&[], true)));
            }
            return Ok(match serde_json::from_str::<Value>(t) {
                Ok(Value::Array(items)) => Some(infer::json_schema(&items, true)),
                _ => None,
            });
        }
        if t.starts_with('{') {
            let mut records = vec![];
            for line in t.lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<Value>(line) {
                    Ok(v) => records.push(v),
                    // the last line of a partial sample may be cut short
                    Err(_) if !whole => break,
                    Err(_) => return Ok(None),
                }
            }
            return Ok(Some(infer::json_schema(&records, false)));
        }
        Ok(infer::csv_schema(t).filter(|s| s.columns.len() >= 2))
    }
}

/// A crawl a restart interrupted ends as FAILED, so the crawler can start again.
pub(crate) async fn recover(glue: &Arc<Glue>) -> Result<()> {
    let mut writes = vec![];
    for state in ["RUNNING", "STOPPING"] {
        let stuck: Vec<Crawler> = glue.store.list(Scan {
            status: Some(state),
            ..Default::default()
        })?;
        for mut c in stuck {
            c.state = "READY".into();
            c.last_crawl = Some(json!({
                "Status": "FAILED",
                "ErrorMessage": "The crawl was interrupted by a restart of shoal",
                "LogGroup": "/aws-glue/crawlers",
                "LogStream": c.name,
                "StartTime": c.started.map(epoch),
            }));
            writes.push(put(&c));
        }
    }
    if !writes.is_empty() {
        glue.store.commit(writes).done().await?;
    }
    Ok(())
}
