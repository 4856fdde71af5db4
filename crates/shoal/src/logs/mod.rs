//! CloudWatch Logs: log groups with retention, streams, and their events, stored in batches
//! as they are put. Lambda functions and state machines write here; clients read with
//! GetLogEvents and FilterLogEvents (see [`filter`]).

pub mod filter;
pub mod retention;

pub use retention::Rejected;

use crate::sfn::arn::Scope;
use crate::store::ChangeLock;
use crate::store::{delete, put, Record, Records, Scan, Store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
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
    ServiceUnavailableException(String),
}

impl LogsError {
    pub fn code(&self) -> &'static str {
        match self {
            LogsError::ResourceNotFoundException(_) => "ResourceNotFoundException",
            LogsError::ResourceAlreadyExistsException(_) => "ResourceAlreadyExistsException",
            LogsError::InvalidParameterException(_) => "InvalidParameterException",
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
}

impl Group {
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

/// The events of one PutLogEvents call (or one batch a service wrote).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Batch {
    /// The stream's record key.
    pub stream: String,
    pub seq: u64,
    pub events: Vec<Event>,
}

impl Record for Batch {
    const KIND: &'static str = "logs.batch";
    fn key(&self) -> String {
        format!("{}\u{0}{:020}", self.stream, self.seq)
    }
    fn owner(&self) -> String {
        self.stream.clone()
    }
    fn sort(&self) -> i64 {
        self.seq as i64
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

pub struct Logs {
    pub store: Arc<dyn Store>,
    seq: AtomicU64,
    /// Streams known to exist (services create theirs on first write).
    known: Mutex<HashSet<String>>,
    /// The change lock (see [`ChangeLock`]) of groups and streams (two creates of one group at
    /// once both succeeded).
    changes: ChangeLock,
}

impl Logs {
    pub fn new(store: Arc<dyn Store>) -> Arc<Logs> {
        // sequence numbers grow across restarts: start from the clock
        let start = Utc::now().timestamp_micros().max(0) as u64;
        Arc::new(Logs {
            store,
            seq: AtomicU64::new(start),
            known: Mutex::new(HashSet::new()),
            changes: ChangeLock::default(),
        })
    }

    fn scope_key(scope: &Scope) -> String {
        format!("{}:{}", scope.account, scope.region)
    }

    pub fn group(&self, scope: &Scope, name: &str) -> Result<Group> {
        self.store
            .load::<Group>(&format!("{}:{name}", Logs::scope_key(scope)))?
            .ok_or_else(LogsError::no_group)
    }

    pub async fn create_group(&self, scope: &Scope, name: &str) -> Result<Group> {
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
        };
        self.store.commit(vec![put(&g)]).done().await?;
        Ok(g)
    }

    pub async fn delete_group(&self, scope: &Scope, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let g = self.group(scope, name)?;
        let mut writes = vec![delete::<Group>(&g.key())];
        for s in self.streams(&g)? {
            for b in self.batches(&s.key())? {
                writes.push(delete::<Batch>(&b.key()));
            }
            writes.push(delete::<Stream>(&s.key()));
            self.known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&s.key());
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

    pub fn stream(&self, scope: &Scope, group: &str, name: &str) -> Result<Stream> {
        self.stream_in(&self.group(scope, group)?, name)
    }

    fn stream_in(&self, g: &Group, name: &str) -> Result<Stream> {
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

    fn batches(&self, stream_key: &str) -> Result<Vec<Batch>> {
        Ok(self.store.list(Scan {
            owner: Some(stream_key),
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
        let b = Batch {
            stream: stream_key.into(),
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
            events: events
                .into_iter()
                .map(|(timestamp, message)| Event {
                    timestamp,
                    ingestion: now,
                    message,
                })
                .collect(),
        };
        self.store.commit(vec![put(&b)]).done().await?;
        Ok(())
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
                match self.create_group(scope, group).await {
                    Ok(_) | Err(LogsError::ResourceAlreadyExistsException(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            match self.create_stream(scope, group, stream).await {
                Ok(_) | Err(LogsError::ResourceAlreadyExistsException(_)) => {}
                Err(e) => return Err(e),
            }
            self.known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone());
        }
        self.append(&key, events).await
    }

    /// A stream's events in order, but those past its group's retention.
    pub fn stream_events(&self, s: &Stream) -> Result<Vec<Found>> {
        let kept_from = self
            .store
            .load::<Group>(&s.group)?
            .and_then(|g| g.kept_from(Utc::now().timestamp_millis()));
        self.events_of(s, kept_from)
    }

    fn events_of(&self, s: &Stream, kept_from: Option<i64>) -> Result<Vec<Found>> {
        let mut out = Vec::new();
        for b in self.batches(&s.key())? {
            for (index, event) in b.events.into_iter().enumerate() {
                if kept_from.is_some_and(|k| event.timestamp < k) {
                    continue;
                }
                out.push(Found {
                    stream: s.name.clone(),
                    seq: b.seq,
                    index,
                    event,
                });
            }
        }
        Ok(out)
    }

    /// The events of a group's streams (all, or those named or prefixed), in time order.
    pub fn group_events(
        &self,
        g: &Group,
        names: &[String],
        prefix: Option<&str>,
    ) -> Result<Vec<Found>> {
        let kept_from = g.kept_from(Utc::now().timestamp_millis());
        let mut out = Vec::new();
        for s in self.streams(g)? {
            if !names.is_empty() && !names.contains(&s.name) {
                continue;
            }
            if prefix.is_some_and(|p| !s.name.starts_with(p)) {
                continue;
            }
            out.extend(self.events_of(&s, kept_from)?);
        }
        out.sort_by_key(|f| (f.event.timestamp, f.seq, f.index));
        Ok(out)
    }
}
