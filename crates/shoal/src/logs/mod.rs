//! CloudWatch Logs: log groups with retention, streams, and their events, stored in batches
//! as they are put. Lambda functions and state machines write here; clients read with
//! GetLogEvents and FilterLogEvents (see [`filter`]).

pub mod filter;
pub mod insights;
pub mod metric_filters;
pub mod read;
pub mod retention;
pub mod tags;

pub use read::{Position, Query, Source};
pub use retention::Rejected;

use crate::sfn::arn::Scope;
use crate::store::ChangeLock;
use crate::store::{delete, put, Record, Records, Scan, Store, Write};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
#[allow(clippy::enum_variant_names)] // AWS's own names
pub enum LogsError {
    #[error("{0}")]
    ResourceNotFoundException(String),
    #[error("{0}")]
    ResourceAlreadyExistsException(String),
    #[error("{0}")]
    InvalidParameterException(String),
    #[error("{0}")]
    LimitExceededException(String),
    #[error("{0}")]
    TooManyTagsException(String),
    #[error("{0}")]
    MalformedQueryException(String),
    #[error("{0}")]
    ServiceUnavailableException(String),
}

impl LogsError {
    pub fn code(&self) -> &'static str {
        match self {
            LogsError::ResourceNotFoundException(_) => "ResourceNotFoundException",
            LogsError::ResourceAlreadyExistsException(_) => "ResourceAlreadyExistsException",
            LogsError::InvalidParameterException(_) => "InvalidParameterException",
            LogsError::LimitExceededException(_) => "LimitExceededException",
            LogsError::TooManyTagsException(_) => "TooManyTagsException",
            LogsError::MalformedQueryException(_) => "MalformedQueryException",
            LogsError::ServiceUnavailableException(_) => "ServiceUnavailableException",
        }
    }

    fn no_group() -> LogsError {
        LogsError::ResourceNotFoundException("The specified log group does not exist.".into())
    }
}

impl From<crate::store::StoreError> for LogsError {
    fn from(e: crate::store::StoreError) -> LogsError {
        LogsError::ServiceUnavailableException(e.to_string())
    }
}

pub type Result<T, E = LogsError> = std::result::Result<T, E>;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Group {
    /// `account:region`.
    pub scope: String,
    pub name: String,
    pub created: DateTime<Utc>,
    pub retention_days: Option<u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// The parts of a group's record key, `account:region:name` (the name may hold `:`).
pub fn group_key_parts(key: &str) -> (&str, &str, &str) {
    let mut parts = key.splitn(3, ':');
    let mut next = || parts.next().unwrap_or_default();
    (next(), next(), next())
}

/// A stream's record key, `<group key>\0<stream name>`, split into the two.
fn stream_key_parts(key: &str) -> (&str, &str) {
    key.split_once('\u{0}').unwrap_or((key, ""))
}

impl Group {
    /// Insights' `@log`: `account:name`.
    pub fn log_field(key: &str) -> String {
        let (account, _, name) = group_key_parts(key);
        format!("{account}:{name}")
    }

    pub fn arn(&self) -> String {
        let (account, region) = self.scope.split_once(':').unwrap_or(("", ""));
        format!("arn:aws:logs:{region}:{account}:log-group:{}", self.name)
    }
}

impl Record for Group {
    const KIND: &'static str = "logs.group";
    fn key(&self) -> String {
        format!("{}:{}", self.scope, self.name)
    }
    fn owner(&self) -> String {
        self.scope.clone()
    }
    fn sort(&self) -> i64 {
        self.created.timestamp_millis()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Stream {
    /// The group's record key.
    pub group: String,
    pub name: String,
    pub created: DateTime<Utc>,
}

impl Record for Stream {
    const KIND: &'static str = "logs.stream";
    fn key(&self) -> String {
        format!("{}\u{0}{}", self.group, self.name)
    }
    fn owner(&self) -> String {
        self.group.clone()
    }
    fn sort(&self) -> i64 {
        self.created.timestamp_millis()
    }
}

/// One log event: its time, when it was stored, its text.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Event {
    pub timestamp: i64,
    pub ingestion: i64,
    pub message: String,
}

/// Events of one stream stored together: those of one PutLogEvents call (or of one write of a
/// service), cut where they would span more than [`read::SPAN_MS`]. Listed by group (the owner)
/// or by stream (the status column), both in the time order of their earliest event, which is
/// what lets [`read`] read a page without the rest.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Batch {
    /// The stream's record key (`<group key>\0<stream name>`).
    pub stream: String,
    pub seq: u64,
    pub events: Vec<Event>,
}

impl Batch {
    fn earliest(&self) -> i64 {
        self.events.iter().map(|e| e.timestamp).min().unwrap_or(0)
    }

    fn latest(&self) -> i64 {
        self.events.iter().map(|e| e.timestamp).max().unwrap_or(0)
    }

    /// The stream's name.
    fn stream_name(&self) -> &str {
        stream_key_parts(&self.stream).1
    }
}

impl Record for Batch {
    const KIND: &'static str = "logs.events";
    /// The stream's key, the batch's time span and its sequence number: a listing of keys
    /// alone tells which batches a read needs (see [`read::Listed`]).
    fn key(&self) -> String {
        let (earliest, latest, seq) = (self.earliest(), self.latest(), self.seq);
        format!("{}\u{0}{earliest}\u{0}{latest}\u{0}{seq:020}", self.stream)
    }
    fn owner(&self) -> String {
        stream_key_parts(&self.stream).0.to_string()
    }
    fn status(&self) -> String {
        self.stream.clone()
    }
    fn sort(&self) -> i64 {
        self.earliest()
    }
}

/// A batch as shoal stored it before reads went in time order: listed by stream in the order
/// stored. [`Logs::open`] converts them once.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(transparent)]
struct Legacy(Batch);

impl Record for Legacy {
    const KIND: &'static str = "logs.batch";
    fn key(&self) -> String {
        format!("{}\u{0}{:020}", self.0.stream, self.0.seq)
    }
}

/// An event found in a group, with its stream.
#[derive(Debug, Clone)]
pub struct Found {
    pub stream: String,
    pub seq: u64,
    pub index: usize,
    pub event: Event,
}

impl Found {
    pub fn position(&self) -> Position {
        Position {
            timestamp: self.event.timestamp,
            seq: self.seq,
            index: self.index as u32,
        }
    }
}

/// The most streams [`Logs::write`] remembers to exist.
const MAX_KNOWN: usize = 10_000;

pub struct Logs {
    pub store: Arc<dyn Store>,
    seq: AtomicU64,
    /// Streams known to exist (services create theirs on first write).
    known: Mutex<HashSet<String>>,
    /// The change lock (see [`ChangeLock`]) of groups and streams (two creates of one group at
    /// once both succeeded).
    changes: ChangeLock,
    /// The metric filters of the groups written to, compiled, by group key.
    metric_filters: Mutex<HashMap<String, Arc<Vec<metric_filters::Compiled>>>>,
    /// Where metric filters record their values.
    pub metrics: crate::metrics::Link,
    /// Logs Insights queries run lately.
    queries: insights::Queries,
}

impl Logs {
    /// The service over `store`, whose batches of an older shoal it first converts.
    pub fn open(store: Arc<dyn Store>) -> Result<Arc<Logs>> {
        // sequence numbers grow across restarts: start from the clock
        let start = Utc::now().timestamp_micros().max(0) as u64;
        let logs = Arc::new(Logs {
            store,
            seq: AtomicU64::new(start),
            known: Mutex::new(HashSet::new()),
            changes: ChangeLock::default(),
            metric_filters: Mutex::new(HashMap::new()),
            metrics: Default::default(),
            queries: Default::default(),
        });
        logs.convert_legacy()?;
        Ok(logs)
    }

    /// Rewrites the batches stored by an older shoal as [`Batch`]es, a page per commit; each
    /// page's old records are deleted in the commit that writes their new ones.
    fn convert_legacy(&self) -> Result<()> {
        let mut converted = 0;
        loop {
            let page: Vec<Legacy> = self.store.list(Scan {
                // a batch holds up to 1 MiB of messages: a few per commit
                limit: 16,
                ..Default::default()
            })?;
            if page.is_empty() {
                break;
            }
            if converted == 0 {
                eprintln!("shoal: converting stored log events to the time-ordered layout; once");
            }
            let mut writes = Vec::new();
            for old in &page {
                writes.push(delete::<Legacy>(&old.key()));
                for new in self.cut(&old.0.stream, old.0.events.clone()) {
                    writes.push(put(&new));
                }
            }
            converted += page.len();
            self.store.commit_wait(writes)?;
        }
        Ok(())
    }

    fn scope_key(scope: &Scope) -> String {
        format!("{}:{}", scope.account, scope.region)
    }

    pub fn group(&self, scope: &Scope, name: &str) -> Result<Group> {
        self.store
            .load::<Group>(&format!("{}:{name}", Logs::scope_key(scope)))?
            .ok_or_else(LogsError::no_group)
    }

    pub async fn create_group(
        &self,
        scope: &Scope,
        name: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<Group> {
        let _change = self.changes.lock().await;
        let ok = (1..=512).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-/.#".contains(c));
        if !ok {
            return Err(LogsError::InvalidParameterException(format!(
                "1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
            )));
        }
        tags::check(&tags)?;
        if self.group(scope, name).is_ok() {
            return Err(LogsError::ResourceAlreadyExistsException(
                "The specified log group already exists".into(),
            ));
        }
        let g = Group {
            scope: Logs::scope_key(scope),
            name: name.into(),
            created: Utc::now(),
            retention_days: None,
            tags,
        };
        self.store.commit(vec![put(&g)]).done().await?;
        Ok(g)
    }

    pub async fn delete_group(&self, scope: &Scope, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let g = self.group(scope, name)?;
        let mut writes = vec![delete::<Group>(&g.key())];
        writes.extend(self.batch_deletes(Some(&g.key()), None)?);
        for f in self.metric_filters(scope, Some(&g))? {
            writes.push(delete::<metric_filters::MetricFilter>(&f.key()));
        }
        self.forget_metric_filters(&g.key());
        for s in self.streams(&g)? {
            writes.push(delete::<Stream>(&s.key()));
            (self.known.lock().unwrap_or_else(|p| p.into_inner())).remove(&s.key());
        }
        self.store.commit(writes).done().await?;
        Ok(())
    }

    pub async fn set_retention(&self, scope: &Scope, name: &str, days: Option<u32>) -> Result<()> {
        let _change = self.changes.lock().await;
        const ALLOWED: [u32; 22] = [
            1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
            2922, 3288, 3653,
        ];
        if let Some(d) = days.filter(|d| !ALLOWED.contains(d)) {
            return Err(LogsError::InvalidParameterException(format!(
                "1 validation error detected: Value '{d}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: {ALLOWED:?}"
            )));
        }
        let mut g = self.group(scope, name)?;
        g.retention_days = days;
        self.store.commit(vec![put(&g)]).done().await?;
        if let Some(kept_from) = g.kept_from(Utc::now().timestamp_millis()) {
            self.sweep_group(&g, kept_from).await?;
        }
        Ok(())
    }

    pub fn groups(&self, scope: &Scope, prefix: &str) -> Result<Vec<Group>> {
        let mut all: Vec<Group> = self.store.list(Scan {
            owner: Some(&Logs::scope_key(scope)),
            ..Default::default()
        })?;
        all.retain(|g| g.name.starts_with(prefix));
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// A group's `storedBytes`: the size of its stored event batches (JSON text, uncompressed;
    /// AWS counts its own compressed storage, and updates the figure with a delay).
    pub fn stored_bytes(&self, g: &Group) -> Result<u64> {
        Ok(self.store.stored_bytes(Batch::KIND, &g.key())?)
    }

    pub async fn create_stream(&self, scope: &Scope, group: &str, name: &str) -> Result<Stream> {
        let _change = self.changes.lock().await;
        let g = self.group(scope, group)?;
        if name.is_empty() || name.len() > 512 || name.contains(':') || name.contains('*') {
            return Err(LogsError::InvalidParameterException(format!(
                "1 validation error detected: Value '{name}' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
            )));
        }
        let s = Stream {
            group: g.key(),
            name: name.into(),
            created: Utc::now(),
        };
        if self.store.load::<Stream>(&s.key())?.is_some() {
            return Err(LogsError::ResourceAlreadyExistsException(
                "The specified log stream already exists".into(),
            ));
        }
        self.store.commit(vec![put(&s)]).done().await?;
        Ok(s)
    }

    /// Deletes a stream and its events (in one commit).
    pub async fn delete_stream(&self, scope: &Scope, group: &str, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let s = self.stream_in(&self.group(scope, group)?, name)?;
        let mut writes = self.batch_deletes(None, Some(&s.key()))?;
        writes.push(delete::<Stream>(&s.key()));
        (self.known.lock().unwrap_or_else(|p| p.into_inner())).remove(&s.key());
        self.store.commit(writes).done().await?;
        Ok(())
    }

    /// The deletes of a group's (`group`: its key) or a stream's (`stream`: its key) event
    /// batches, found through the listing indexes without reading the batches.
    fn batch_deletes(&self, group: Option<&str>, stream: Option<&str>) -> Result<Vec<Write>> {
        let batches = self.store.scan(&Scan {
            kind: Batch::KIND,
            owner: group,
            status: stream,
            keys_only: true,
            ..Default::default()
        })?;
        Ok((batches.iter())
            .map(|(key, _)| delete::<Batch>(key))
            .collect())
    }

    pub fn stream_in(&self, g: &Group, name: &str) -> Result<Stream> {
        self.store
            .load::<Stream>(&format!("{}\u{0}{name}", g.key()))?
            .ok_or_else(|| {
                LogsError::ResourceNotFoundException(
                    "The specified log stream does not exist.".into(),
                )
            })
    }

    pub fn streams(&self, g: &Group) -> Result<Vec<Stream>> {
        Ok(self.store.list(Scan {
            owner: Some(&g.key()),
            ..Default::default()
        })?)
    }

    /// PutLogEvents: events must be in time order, as CloudWatch requires; those outside its
    /// window are refused by position (see [`retention::admit`]) and the rest stored.
    pub async fn put_events(
        &self,
        scope: &Scope,
        group: &str,
        stream: &str,
        mut events: Vec<(i64, String)>,
    ) -> Result<Rejected> {
        let g = self.group(scope, group)?;
        let s = self.stream_in(&g, stream)?;
        if events.windows(2).any(|w| w[0].0 > w[1].0) {
            return Err(LogsError::InvalidParameterException(
                "Log events in a single PutLogEvents request must be in chronological order."
                    .into(),
            ));
        }
        let bytes: usize = events.iter().map(|(_, m)| m.len() + 26).sum();
        if bytes > retention::MAX_BATCH_BYTES {
            return Err(LogsError::InvalidParameterException(format!(
                "Upload too large: {bytes} bytes exceeds limit of {}",
                retention::MAX_BATCH_BYTES
            )));
        }
        let now = Utc::now().timestamp_millis();
        let kept_from = g.kept_from(now);
        let times: Vec<i64> = events.iter().map(|e| e.0).collect();
        let (kept, rejected) = retention::admit(&times, kept_from, now)?;
        events.truncate(kept.end);
        events.drain(..kept.start);
        self.append(&s.key(), events).await?;
        Ok(rejected)
    }

    async fn append(&self, stream_key: &str, events: Vec<(i64, String)>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let now = Utc::now().timestamp_millis();
        let events = events.into_iter().map(|(timestamp, message)| Event {
            timestamp,
            ingestion: now,
            message,
        });
        let batches = self.cut(stream_key, events.collect());
        self.store
            .commit(batches.iter().map(put).collect())
            .done()
            .await?;
        let group_key = stream_key_parts(stream_key).0;
        let stored: Vec<&Event> = batches.iter().flat_map(|b| &b.events).collect();
        self.measure(group_key, &stored);
        Ok(())
    }

    /// A stream's new events as batches: cut where an event would stretch a batch over more
    /// than [`read::SPAN_MS`], each with a sequence number of its own.
    fn cut(&self, stream_key: &str, events: Vec<Event>) -> Vec<Batch> {
        let mut runs: Vec<(i64, i64, Vec<Event>)> = Vec::new();
        for e in events {
            let t = e.timestamp;
            match runs.last_mut() {
                Some((lo, hi, run)) if t.max(*hi).abs_diff(t.min(*lo)) <= read::SPAN_MS as u64 => {
                    (*lo, *hi) = (t.min(*lo), t.max(*hi));
                    run.push(e);
                }
                _ => runs.push((t, t, vec![e])),
            }
        }
        let first = self.seq.fetch_add(runs.len() as u64, Ordering::Relaxed);
        (runs.into_iter().zip(first..))
            .map(|((_, _, events), seq)| Batch {
                stream: stream_key.into(),
                seq,
                events,
            })
            .collect()
    }

    /// Writes a service's own log lines (Lambda, Step Functions), creating the group and the
    /// stream when they are missing.
    pub async fn write(
        &self,
        scope: &Scope,
        group: &str,
        stream: &str,
        events: Vec<(i64, String)>,
    ) -> Result<()> {
        let key = format!("{}:{group}\u{0}{stream}", Logs::scope_key(scope));
        let known = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key);
        if !known {
            if self.group(scope, group).is_err() {
                match self.create_group(scope, group, BTreeMap::new()).await {
                    Ok(_) | Err(LogsError::ResourceAlreadyExistsException(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            match self.create_stream(scope, group, stream).await {
                Ok(_) | Err(LogsError::ResourceAlreadyExistsException(_)) => {}
                Err(e) => return Err(e),
            }
            let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            // a stream per execution would make this grow without end: start over now and then
            // (a stream not remembered is looked up again)
            if known.len() >= MAX_KNOWN {
                known.clear();
            }
            known.insert(key.clone());
        }
        self.append(&key, events).await
    }
}

/// A service over a real store in a folder of its own (removed afterwards), for tests.
#[cfg(test)]
pub(crate) struct Fixture {
    pub dir: std::path::PathBuf,
    pub store: Arc<crate::store::sqlite::SqliteStore>,
    pub logs: Arc<Logs>,
    pub rt: tokio::runtime::Runtime,
    pub scope: Scope,
}

#[cfg(test)]
impl Fixture {
    pub fn new() -> Fixture {
        let dir = std::env::temp_dir().join(format!("shoal-logs-{}", uuid::Uuid::new_v4()));
        let store = Arc::new(crate::store::sqlite::SqliteStore::open(&dir).unwrap());
        let logs = Logs::open(store.clone()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let scope = Scope {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        };
        Fixture {
            dir,
            store,
            logs,
            rt,
            scope,
        }
    }
}

#[cfg(test)]
impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// Events an older shoal stored are read in time order once the service has opened.
    #[test]
    fn batches_of_an_older_shoal_are_converted_when_the_service_opens() {
        let dir = std::env::temp_dir().join(format!("shoal-logs-{}", uuid::Uuid::new_v4()));
        let store = Arc::new(SqliteStore::open(&dir).unwrap());
        let event = |timestamp, message: &str| Event {
            timestamp,
            ingestion: 7,
            message: message.into(),
        };
        let stream = "123456789012:us-east-1:/g\u{0}s".to_string();
        let old = [
            (
                1,
                vec![
                    event(5_000_000, "late"),
                    event(5_000_000 + read::SPAN_MS * 2, "later"),
                ],
            ),
            (2, vec![event(1_000, "early")]),
        ];
        let writes = (old.into_iter())
            .map(|(seq, events)| {
                let stream = stream.clone();
                put(&Legacy(Batch {
                    stream,
                    seq,
                    events,
                }))
            })
            .collect();
        store.commit_wait(writes).unwrap();
        let logs = Logs::open(store.clone()).unwrap();
        assert!(store.list::<Legacy>(Scan::default()).unwrap().is_empty());
        let q = Query {
            from: Position::FIRST,
            to: Position::LAST,
            backward: false,
            limit: 10,
            keep: &|_, _| true,
        };
        let page = logs.read(&[Source::Stream(&stream)], &q).unwrap();
        let got: Vec<(&str, &str, i64)> = (page.events.iter())
            .map(|f| {
                (
                    f.stream.as_str(),
                    f.event.message.as_str(),
                    f.event.ingestion,
                )
            })
            .collect();
        assert_eq!(
            got,
            [("s", "early", 7), ("s", "late", 7), ("s", "later", 7)]
        );
        drop(logs);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
