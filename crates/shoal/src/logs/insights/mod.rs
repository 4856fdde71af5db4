//! CloudWatch Logs Insights: StartQuery runs a query over log groups' events in a time range on
//! a thread of its own, GetQueryResults gives its rows when it is complete, StopQuery cancels
//! it, DescribeQueries lists the recent ones. The language is in [`query`], its evaluation in
//! [`eval`]. Queries live in memory (the last [`KEPT`]), as results on AWS live for a while.

pub mod eval;
pub mod query;

use super::read::{Position, Query as Read, Source};
use super::{Group, Logs, LogsError, Result};
use crate::sfn::arn::Scope;
use crate::store::Record;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How many queries are remembered.
const KEPT: usize = 100;
/// The most queries running at once, as on AWS.
const MAX_RUNNING: usize = 30;
/// The most records a query may hold at once (after its leading `fields`/`filter` commands).
const MAX_HELD: usize = 500_000;
/// The most rows a query gives, as on AWS.
const MAX_ROWS: usize = 10_000;

#[derive(Clone, Debug)]
pub struct Run {
    pub id: String,
    pub query: String,
    pub group: String,
    pub created: i64,
    pub status: &'static str,
    pub rows: Arc<eval::Rows>,
    pub matched: usize,
    pub scanned: usize,
    pub bytes: usize,
    cancel: Arc<AtomicBool>,
}

/// The queries run lately, newest last.
#[derive(Default)]
pub struct Queries(Mutex<VecDeque<Run>>);

impl Queries {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Run>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Run)) {
        if let Some(r) = self.lock().iter_mut().find(|r| r.id == id) {
            f(r);
        }
    }
}

impl Logs {
    /// Starts a query over `groups` (names) from `start` to `end` (seconds, both included).
    pub fn start_query(
        self: &Arc<Self>,
        scope: &Scope,
        groups: &[String],
        (start, end): (i64, i64),
        text: &str,
        limit: Option<usize>,
    ) -> Result<String> {
        let commands = query::parse(text).map_err(|e| {
            LogsError::MalformedQueryException(format!(
                "{} (at characters {}-{})",
                e.message, e.start, e.end
            ))
        })?;
        if end < start {
            return Err(LogsError::InvalidParameterException(
                "endTime must be greater than or equal to startTime".into(),
            ));
        }
        let groups = (groups.iter())
            .map(|g| self.group(scope, g))
            .collect::<Result<Vec<_>>>()?;
        let id = uuid::Uuid::new_v4().to_string();
        let cancel = Arc::new(AtomicBool::new(false));
        {
            let mut q = self.queries.lock();
            if q.iter().filter(|r| r.status == "Running").count() >= MAX_RUNNING {
                return Err(LogsError::LimitExceededException(format!(
                    "Account maximum queries exceeded: {MAX_RUNNING} run at once"
                )));
            }
            q.push_back(Run {
                id: id.clone(),
                query: text.into(),
                group: groups.first().map(|g| g.name.clone()).unwrap_or_default(),
                created: chrono::Utc::now().timestamp_millis(),
                status: "Running",
                rows: Arc::default(),
                matched: 0,
                scanned: 0,
                bytes: 0,
                cancel: cancel.clone(),
            });
            while q.len() > KEPT {
                q.pop_front();
            }
        }
        let (logs, run_id) = (self.clone(), id.clone());
        let limit = limit.unwrap_or(MAX_ROWS).min(MAX_ROWS);
        std::thread::spawn(move || {
            let keys: Vec<(String, String)> = (groups.iter())
                .map(|g| (g.key(), Group::log_field(&g.key())))
                .collect();
            let outcome = logs.scan(&commands, &keys, (start, end), limit, &cancel);
            logs.queries.update(&run_id, |r| match outcome {
                _ if cancel.load(Ordering::Relaxed) => r.status = "Cancelled",
                Ok((rows, matched, scanned, bytes)) => {
                    (r.rows, r.matched, r.scanned, r.bytes) =
                        (Arc::new(rows), matched, scanned, bytes);
                    r.status = "Complete";
                }
                Err(e) => {
                    eprintln!("shoal: Logs Insights query {run_id} failed: {e}");
                    r.status = "Failed";
                }
            });
        });
        Ok(id)
    }

    /// Reads the groups' events in the range page by page, through the per-record commands,
    /// then runs the rest: the rows, and how many events matched, were scanned, and their bytes.
    fn scan(
        &self,
        commands: &[query::Command],
        groups: &[(String, String)],
        (start, end): (i64, i64),
        limit: usize,
        cancel: &AtomicBool,
    ) -> Result<(eval::Rows, usize, usize, usize)> {
        let ran = eval::per_record(commands);
        let (mut held, mut scanned, mut bytes) = (Vec::new(), 0, 0);
        let to = Position::at(end.saturating_add(1).saturating_mul(1000));
        for (key, log) in groups {
            let mut from = Position::at(start.saturating_mul(1000));
            loop {
                if cancel.load(Ordering::Relaxed) {
                    return Ok((Vec::new(), 0, scanned, bytes));
                }
                let q = Read {
                    from,
                    to,
                    backward: false,
                    limit: 10_000,
                    keep: &|_, _| true,
                };
                let page = self.read(&[Source::Group(key)], &q)?;
                for f in &page.events {
                    scanned += 1;
                    bytes += f.event.message.len();
                    let ptr = pointer(key, f.position());
                    let r = eval::record(log, &f.stream, &f.event, ptr);
                    if let Some(r) = eval::pass(&commands[..ran], r) {
                        held.push(r);
                    }
                }
                if held.len() > MAX_HELD {
                    return Err(LogsError::LimitExceededException(format!(
                        "the query keeps more than {MAX_HELD} events before its first sort, stats or limit: filter them first, or query a shorter time range"
                    )));
                }
                match (page.more, page.events.last()) {
                    (true, Some(last)) => from = last.position().next(),
                    _ => break,
                }
            }
        }
        // events of several groups in time order, as one group's are
        held.sort_by(|a, b| {
            let t = |r: &eval::Record| match r.get("@timestamp") {
                Some(eval::Value::Number(n)) => *n,
                _ => 0.0,
            };
            t(a).total_cmp(&t(b))
        });
        let matched = held.len();
        Ok((
            eval::run(commands, ran, held, limit),
            matched,
            scanned,
            bytes,
        ))
    }

    pub fn query_run(&self, id: &str) -> Result<Run> {
        (self.queries.lock().iter().find(|r| r.id == id).cloned()).ok_or_else(|| {
            LogsError::ResourceNotFoundException(format!("Query {id} does not exist."))
        })
    }

    /// Stops a running query: whether it was running.
    pub fn stop_query(&self, id: &str) -> Result<bool> {
        let run = self.query_run(id)?;
        if run.status != "Running" {
            return Ok(false);
        }
        run.cancel.store(true, Ordering::Relaxed);
        self.queries.update(id, |r| r.status = "Cancelled");
        Ok(true)
    }

    /// The queries run lately, newest first.
    pub fn query_runs(&self) -> Vec<Run> {
        self.queries.lock().iter().rev().cloned().collect()
    }
}

/// An event's `@ptr`: its group and position, opaque to clients.
fn pointer(group_key: &str, at: Position) -> String {
    use base64::Engine;
    let text = format!("{group_key}\u{0}{}", at.token());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

impl Logs {
    /// GetLogRecord: every field of the event a `@ptr` points at.
    pub fn log_record(&self, ptr: &str) -> Result<std::collections::BTreeMap<String, String>> {
        use base64::Engine;
        let bad =
            || LogsError::InvalidParameterException(format!("'{ptr}' is not a log record pointer"));
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(ptr)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(bad)?;
        let (key, token) = text.split_once('\u{0}').ok_or_else(bad)?;
        let at = Position::parse(token).ok_or_else(bad)?;
        let q = Read {
            from: at,
            to: at.next(),
            backward: false,
            limit: 1,
            keep: &|_, _| true,
        };
        let found = self.read(&[Source::Group(key)], &q)?.events.pop();
        let f = found.ok_or_else(|| {
            LogsError::ResourceNotFoundException("The log record no longer exists.".into())
        })?;
        let r = eval::record(&Group::log_field(key), &f.stream, &f.event, String::new());
        Ok(eval::fields(&r))
    }
}
