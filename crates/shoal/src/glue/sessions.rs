//! Interactive sessions: PROVISIONING → READY → STOPPED (or TIMEOUT when idle too long), with
//! statements run as SQL over the catalog, and the DPU-seconds a session costs — which is why
//! the cost-control workflow stops them.
//!
//! A session provisions for `--glue-session-startup` seconds of the server's clock (scaled by
//! `--wait-scale`; under the virtual clock, until the clock passes it), so the
//! `IllegalSessionStateException` a stop meets while PROVISIONING happens here as on AWS.

use super::{Glue, GlueError, Result};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Record, Records, Scan};
use crate::values::epoch;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

/// Wakes the session clock when a session starts or changes.
#[derive(Default)]
pub(crate) struct Live {
    wake: Arc<tokio::sync::Notify>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Session {
    pub owner: String,
    pub id: String,
    /// `PROVISIONING`, `READY`, `STOPPING`, `STOPPED`, `TIMEOUT`, `FAILED`.
    pub status: String,
    /// The members CreateSession took, as given (`Role`, `Command`, `DefaultArguments`, ...).
    pub input: Value,
    pub created: DateTime<Utc>,
    /// When it becomes (or became) READY.
    pub ready_at: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
    /// The last statement's end (or READY): idle time counts from here.
    pub active: DateTime<Utc>,
    /// Minutes idle before the session times out.
    pub idle_timeout: i64,
    /// Minutes a session may live.
    pub timeout: i64,
    pub dpus: f64,
    #[serde(default)]
    pub statements: u64,
    #[serde(default)]
    pub error: Option<String>,
}

impl Record for Session {
    const KIND: &'static str = "glue.session";
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
        self.created.timestamp_millis()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Statement {
    pub owner: String,
    pub session: String,
    pub id: u64,
    pub code: String,
    /// `WAITING`, `RUNNING`, `AVAILABLE`, `CANCELLING`, `CANCELLED`, `ERROR`.
    pub state: String,
    pub output: Option<Value>,
    pub started: DateTime<Utc>,
    pub completed: Option<DateTime<Utc>>,
}

impl Record for Statement {
    const KIND: &'static str = "glue.statement";
    fn key(&self) -> String {
        format!("{}:{}:{:010}", self.owner, self.session, self.id)
    }
    fn owner(&self) -> String {
        format!("{}:{}", self.owner, self.session)
    }
    fn sort(&self) -> i64 {
        self.id as i64
    }
}

/// DPUs of one worker of each type.
pub(crate) fn worker_dpus(kind: &str) -> f64 {
    match kind {
        "G.025X" => 0.25,
        "G.2X" | "Z.2X" => 2.0,
        "G.4X" => 4.0,
        "G.8X" => 8.0,
        "G.12X" => 12.0,
        "G.16X" => 16.0,
        _ => 1.0,
    }
}

impl Session {
    /// Seconds the session has run (READY until now or its end).
    fn running_seconds(&self, now: DateTime<Utc>) -> f64 {
        if self.status == "PROVISIONING" || now < self.ready_at {
            return 0.0;
        }
        let end = self.completed.unwrap_or(now);
        (end - self.ready_at).num_milliseconds().max(0) as f64 / 1000.0
    }

    /// Glue's `Session` shape.
    pub fn shape(&self, now: DateTime<Utc>) -> Value {
        let mut v = json!({
            "Id": self.id,
            "CreatedOn": epoch(self.created),
            "Status": self.status,
            "Role": self.input.get("Role").cloned().unwrap_or(Value::Null),
            "Command": self.input.get("Command").cloned().unwrap_or(json!({})),
            "DefaultArguments": self.input.get("DefaultArguments").cloned().unwrap_or(json!({})),
            "Progress": if self.status == "PROVISIONING" { 0.0 } else { 1.0 },
            "IdleTimeout": self.idle_timeout,
            "GlueVersion": self.input.get("GlueVersion").cloned().unwrap_or(json!("4.0")),
            "MaxCapacity": self.dpus,
        });
        for k in [
            "Description",
            "Connections",
            "SecurityConfiguration",
            "NumberOfWorkers",
            "WorkerType",
            "ProfileName",
        ] {
            if let Some(x) = self.input.get(k) {
                v[k] = x.clone();
            }
        }
        let secs = self.running_seconds(now);
        v["ExecutionTime"] = json!(secs);
        // billed per second with a one-minute minimum once the session is up
        v["DPUSeconds"] = json!(if secs > 0.0 || self.status != "PROVISIONING" {
            secs.max(60.0) * self.dpus
        } else {
            0.0
        });
        if let Some(c) = self.completed {
            v["CompletedOn"] = epoch(c);
        }
        if let Some(e) = &self.error {
            v["ErrorMessage"] = json!(e);
        }
        v
    }
}

impl Statement {
    /// Glue's `Statement` shape.
    pub fn shape(&self) -> Value {
        let mut v = json!({
            "Id": self.id,
            "Code": self.code,
            "State": self.state,
            "Progress": if self.completed.is_some() { 1.0 } else { 0.0 },
            "StartedOn": self.started.timestamp_millis(),
        });
        if let Some(o) = &self.output {
            v["Output"] = o.clone();
        }
        if let Some(c) = self.completed {
            v["CompletedOn"] = json!(c.timestamp_millis());
        }
        v
    }
}

/// The SQL a statement carries: plain SQL, a `%%sql` cell, or `spark.sql("...")`.
pub fn statement_sql(code: &str) -> Option<String> {
    let code = code.trim();
    if let Some(rest) = code.strip_prefix("%%sql") {
        return Some(rest.trim().to_string());
    }
    let re = regex::Regex::new(r#"(?s)^spark\.sql\(\s*(?:"""(.*?)"""|'''(.*?)'''|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\)(?:\.show\(\s*\d*\s*\))?\s*;?$"#).ok()?;
    if let Some(c) = re.captures(code) {
        return (1..=4)
            .find_map(|i| c.get(i))
            .map(|m| m.as_str().to_string());
    }
    let first = code
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    ["SELECT", "WITH", "SHOW", "DESCRIBE", "EXPLAIN", "VALUES"]
        .contains(&first.as_str())
        .then(|| code.to_string())
}

impl Glue {
    fn scale(&self) -> f64 {
        if self.settings.wait_scale > 0.0 {
            self.settings.wait_scale
        } else {
            1.0
        }
    }

    pub fn session(&self, scope: &Scope, id: &str) -> Result<Session> {
        self.store
            .load::<Session>(&Glue::key(scope, id))?
            .ok_or_else(|| GlueError::not_found(format!("Session {id}")))
    }

    pub async fn create_session(&self, scope: &Scope, input: &Value) -> Result<Session> {
        let id = super::catalog::catalog_name(input, "Id")
            .map(|_| input["Id"].as_str().unwrap_or_default().to_string())?;
        if input.get("Role").and_then(Value::as_str).is_none() {
            return Err(GlueError::invalid("Role is required"));
        }
        let command = input.get("Command").cloned().unwrap_or(Value::Null);
        if command.get("Name").and_then(Value::as_str).is_none() {
            return Err(GlueError::invalid("Command.Name is required"));
        }
        if self
            .store
            .load::<Session>(&Glue::key(scope, &id))?
            .is_some()
        {
            return Err(GlueError::AlreadyExistsException(format!(
                "Session with id {id} already exists"
            )));
        }
        let timeout = input.get("Timeout").and_then(Value::as_i64).unwrap_or(2880);
        let idle = input
            .get("IdleTimeout")
            .and_then(Value::as_i64)
            .unwrap_or(timeout);
        if timeout < 1 || idle < 1 {
            return Err(GlueError::invalid(
                "Timeout and IdleTimeout must be at least 1 minute",
            ));
        }
        let dpus = match (
            input.get("NumberOfWorkers").and_then(Value::as_f64),
            input.get("WorkerType").and_then(Value::as_str),
            input.get("MaxCapacity").and_then(Value::as_f64),
        ) {
            (Some(n), Some(t), _) => n * worker_dpus(t),
            (Some(n), None, _) => n,
            (None, _, Some(c)) => c,
            _ if command["Name"] == "pythonshell" => 0.0625,
            _ => 5.0,
        };
        let now = self.now();
        let startup = self.settings.session_startup * self.scale();
        let ready_at = now + Duration::milliseconds((startup * 1000.0) as i64);
        let s = Session {
            owner: Glue::owner(scope),
            id,
            status: "PROVISIONING".into(),
            input: input.clone(),
            created: now,
            ready_at,
            completed: None,
            active: ready_at,
            idle_timeout: idle,
            timeout,
            dpus,
            statements: 0,
            error: None,
        };
        self.store.commit(vec![put(&s)]).done().await?;
        self.sessions.wake.notify_one();
        Ok(s)
    }

    pub fn sessions(&self, scope: &Scope) -> Result<Vec<Session>> {
        Ok(self.store.list(Scan {
            owner: Some(&Glue::owner(scope)),
            ..Default::default()
        })?)
    }

    /// StopSession: only a READY session stops; one still PROVISIONING refuses, as on AWS.
    pub async fn stop_session(&self, scope: &Scope, id: &str) -> Result<()> {
        let mut s = self.session(scope, id)?;
        self.advance(&mut s, self.now());
        match s.status.as_str() {
            "READY" => {}
            other => {
                return Err(GlueError::IllegalSessionStateException(format!(
                    "Session {id} is {other}; only a READY session can be stopped"
                )))
            }
        }
        s.status = "STOPPED".into();
        s.completed = Some(self.now());
        self.store.commit(vec![put(&s)]).done().await?;
        Ok(())
    }

    pub async fn delete_session(&self, scope: &Scope, id: &str) -> Result<()> {
        let s = self.session(scope, id)?;
        let statements: Vec<Statement> = self.store.list(Scan {
            owner: Some(&s.key()),
            ..Default::default()
        })?;
        let mut writes = vec![delete::<Session>(&s.key())];
        writes.extend(statements.iter().map(|t| delete::<Statement>(&t.key())));
        self.store.commit(writes).done().await?;
        Ok(())
    }

    /// Moves a session through the states its times have passed; true if it changed.
    fn advance(&self, s: &mut Session, now: DateTime<Utc>) -> bool {
        let before = s.status.clone();
        if s.status == "PROVISIONING" && now >= s.ready_at {
            s.status = "READY".into();
        }
        if s.status == "READY" {
            let minute = Duration::milliseconds((60_000.0 * self.scale()) as i64);
            let idle_end = s.active + minute * s.idle_timeout as i32;
            let life_end = s.ready_at + minute * s.timeout as i32;
            let end = idle_end.min(life_end);
            if now >= end {
                s.status = "TIMEOUT".into();
                s.completed = Some(end);
            }
        }
        s.status != before
    }

    /// When a session next changes state by itself.
    fn next_change(&self, s: &Session) -> Option<DateTime<Utc>> {
        let minute = Duration::milliseconds((60_000.0 * self.scale()) as i64);
        match s.status.as_str() {
            "PROVISIONING" => Some(s.ready_at),
            "READY" => Some(
                (s.active + minute * s.idle_timeout as i32)
                    .min(s.ready_at + minute * s.timeout as i32),
            ),
            _ => None,
        }
    }

    /// A fresh view of a session (states its times have passed applied).
    pub fn session_now(&self, scope: &Scope, id: &str) -> Result<Session> {
        let mut s = self.session(scope, id)?;
        self.advance(&mut s, self.now());
        Ok(s)
    }

    pub async fn run_statement(&self, scope: &Scope, id: &str, code: &str) -> Result<u64> {
        let mut s = self.session_now(scope, id)?;
        if s.status != "READY" {
            return Err(GlueError::IllegalSessionStateException(format!(
                "Session {id} is {}; statements run only in a READY session",
                s.status
            )));
        }
        let n = s.statements;
        s.statements += 1;
        let now = self.now();
        s.active = now;
        let st = Statement {
            owner: s.owner.clone(),
            session: s.id.clone(),
            id: n,
            code: code.to_string(),
            state: "RUNNING".into(),
            output: None,
            started: now,
            completed: None,
        };
        self.store.commit(vec![put(&s), put(&st)]).done().await?;
        if let Some(glue) = self.arc() {
            let scope = scope.clone();
            tokio::spawn(async move { glue.finish_statement(scope, st).await });
        }
        Ok(n)
    }

    async fn finish_statement(self: Arc<Glue>, scope: Scope, mut st: Statement) {
        let output = match statement_sql(&st.code) {
            None => Err((
                "NotSupported".to_string(),
                "shoal's sessions run SQL: plain SQL, a %%sql cell, or spark.sql(\"...\")"
                    .to_string(),
            )),
            Some(sql) => crate::lake::Lake::new(self.clone())
                .query(&scope, &sql)
                .await
                .map(|r| r.text())
                .map_err(|e| ("SqlError".to_string(), e.to_string())),
        };
        let n = st.id;
        st.output = Some(match &output {
            Ok(text) => json!({"Data": {"TextPlain": text}, "ExecutionCount": n, "Status": "ok"}),
            Err((name, value)) => json!({
                "ExecutionCount": n, "Status": "error", "ErrorName": name, "ErrorValue": value,
                "Traceback": [format!("{name}: {value}")],
            }),
        });
        st.state = if output.is_ok() { "AVAILABLE" } else { "ERROR" }.into();
        let now = self.now();
        st.completed = Some(now);
        let mut writes = vec![put(&st)];
        if let Ok(mut s) = self.session(&scope, &st.session) {
            s.active = now;
            writes.push(put(&s));
        }
        if let Err(e) = self.store.commit(writes).done().await {
            eprintln!(
                "shoal: cannot store statement {n} of session {}: {e}",
                st.session
            );
        }
        self.sessions.wake.notify_one();
    }

    pub fn statement(&self, scope: &Scope, session: &str, id: u64) -> Result<Statement> {
        let s = self.session(scope, session)?;
        self.store
            .load::<Statement>(&format!("{}:{}:{:010}", s.owner, s.id, id))?
            .ok_or_else(|| GlueError::not_found(format!("Statement {id}")))
    }

    pub fn statements(&self, scope: &Scope, session: &str) -> Result<Vec<Statement>> {
        let s = self.session(scope, session)?;
        Ok(self.store.list(Scan {
            owner: Some(&s.key()),
            ..Default::default()
        })?)
    }

    /// One pass of the session clock: stores the changes time has made; returns the next time
    /// anything changes.
    async fn tick(&self) -> Option<DateTime<Utc>> {
        let now = self.now();
        let mut next: Option<DateTime<Utc>> = None;
        let mut writes = vec![];
        for status in ["PROVISIONING", "READY"] {
            let live: Vec<Session> = match self.store.list(Scan {
                status: Some(status),
                ..Default::default()
            }) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("shoal: cannot read sessions: {e}");
                    continue;
                }
            };
            for mut s in live {
                if self.advance(&mut s, now) {
                    writes.push(put(&s));
                }
                if let Some(t) = self.next_change(&s) {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            }
        }
        if !writes.is_empty() {
            if let Err(e) = self.store.commit(writes).done().await {
                eprintln!("shoal: cannot store session changes: {e}");
            }
        }
        next
    }
}

/// Starts the session clock: PROVISIONING sessions become READY, idle ones time out.
pub(crate) fn start(glue: &Arc<Glue>) -> Result<()> {
    let bell = glue.sessions.wake.clone();
    glue.on_clock(bell, (), |glue, ()| async move { ((), glue.tick().await) });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::statement_sql;

    #[test]
    fn statements_carry_sql_in_the_forms_notebooks_send() {
        assert_eq!(statement_sql("SELECT 1").as_deref(), Some("SELECT 1"));
        assert_eq!(
            statement_sql("%%sql\nselect * from t").as_deref(),
            Some("select * from t")
        );
        assert_eq!(
            statement_sql("spark.sql(\"select 2\").show()").as_deref(),
            Some("select 2")
        );
        assert_eq!(
            statement_sql("spark.sql('''select 3''')").as_deref(),
            Some("select 3")
        );
        assert_eq!(statement_sql("df = spark.read.parquet('s3://x')"), None);
    }
}
