//! Archives and replays: a bus's events (those an archive's pattern matches) are kept with the
//! deliveries of the same commit, and a replay sends a time range of them to the bus again —
//! marked with `replay-name` and not archived twice — for all its rules or the ones named.

use super::router::Only;
use super::{Events, EventsError, Result};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Record, Records, Scan, Write};
use chrono::{DateTime, Duration, Utc};
use patterns::json::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Archive {
    pub arn: String,
    pub name: String,
    pub bus_arn: String,
    pub description: Option<String>,
    pub pattern: Option<String>,
    /// 0 keeps events for ever.
    pub retention_days: u32,
    pub created: DateTime<Utc>,
}

impl Record for Archive {
    const KIND: &'static str = "events.archive";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn owner(&self) -> String {
        self.bus_arn.clone()
    }
    fn sort(&self) -> i64 {
        self.created.timestamp_millis()
    }
}

/// One archived event.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Archived {
    pub archive_arn: String,
    pub event_id: String,
    /// The event's `time`.
    pub time: DateTime<Utc>,
    pub event: String,
}

impl Archived {
    pub fn new(archive_arn: &str, event_id: &str, text: &str, event: &Json) -> Archived {
        let time = match event.get("time") {
            Some(Json::Str(t)) => DateTime::parse_from_rfc3339(t).map(|t| t.to_utc()).ok(),
            _ => None,
        };
        Archived {
            archive_arn: archive_arn.into(),
            event_id: event_id.into(),
            time: time.unwrap_or_else(Utc::now),
            event: text.into(),
        }
    }
}

impl Record for Archived {
    const KIND: &'static str = "events.archived";
    fn key(&self) -> String {
        format!("{}/{}", self.archive_arn, self.event_id)
    }
    fn owner(&self) -> String {
        self.archive_arn.clone()
    }
    fn sort(&self) -> i64 {
        self.time.timestamp_millis()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Replay {
    pub arn: String,
    pub name: String,
    pub owner: String,
    pub description: Option<String>,
    pub archive_arn: String,
    /// `{"Arn": bus, "FilterArns": [rule, ...]}`.
    pub destination: Value,
    pub event_start: DateTime<Utc>,
    pub event_end: DateTime<Utc>,
    /// STARTING, RUNNING, CANCELLING, COMPLETED, CANCELLED or FAILED.
    pub state: String,
    pub reason: Option<String>,
    pub last_replayed: Option<DateTime<Utc>>,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
}

impl Record for Replay {
    const KIND: &'static str = "events.replay";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
    fn status(&self) -> String {
        self.state.clone()
    }
    fn sort(&self) -> i64 {
        self.started.timestamp_millis()
    }
}

/// What StartReplay asks for.
pub struct NewReplay {
    pub name: String,
    pub description: Option<String>,
    pub archive_arn: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub destination: Value,
}

fn archive_arn(scope: &Scope, name: &str) -> String {
    format!(
        "arn:aws:events:{}:{}:archive/{name}",
        scope.region, scope.account
    )
}

fn in_scope(arn: &str, scope: &Scope) -> bool {
    arn.starts_with(&format!(
        "arn:aws:events:{}:{}:",
        scope.region, scope.account
    ))
}

impl Events {
    pub async fn create_archive(
        &self,
        scope: &Scope,
        name: &str,
        bus_arn: &str,
        description: Option<String>,
        pattern: Option<String>,
        retention_days: u32,
    ) -> Result<Archive> {
        let _change = self.changes.lock().await;
        super::rules::check_name(name)?;
        let bus = self.bus(scope, Some(bus_arn))?;
        if let Some(p) = &pattern {
            patterns::Pattern::parse(p)
                .map_err(|e| EventsError::InvalidEventPatternException(e.to_string()))?;
        }
        let arn = archive_arn(scope, name);
        if self.store.load::<Archive>(&arn)?.is_some() {
            return Err(EventsError::ResourceAlreadyExistsException(format!(
                "Archive {name} already exists."
            )));
        }
        let a = Archive {
            arn,
            name: name.into(),
            bus_arn: bus.arn.clone(),
            description,
            pattern,
            retention_days,
            created: Utc::now(),
        };
        self.store.commit(vec![put(&a)]).done().await?;
        self.recompile(&bus.arn);
        Ok(a)
    }

    pub fn archive(&self, scope: &Scope, name: &str) -> Result<Archive> {
        self.store
            .load::<Archive>(&archive_arn(scope, name))?
            .ok_or_else(|| {
                EventsError::ResourceNotFoundException(format!("Archive {name} does not exist."))
            })
    }

    pub async fn update_archive(
        &self,
        scope: &Scope,
        name: &str,
        description: Option<String>,
        pattern: Option<String>,
        retention_days: Option<u32>,
    ) -> Result<Archive> {
        let _change = self.changes.lock().await;
        let mut a = self.archive(scope, name)?;
        if let Some(p) = &pattern {
            patterns::Pattern::parse(p)
                .map_err(|e| EventsError::InvalidEventPatternException(e.to_string()))?;
            a.pattern = pattern;
        }
        if description.is_some() {
            a.description = description;
        }
        if let Some(r) = retention_days {
            a.retention_days = r;
        }
        self.store.commit(vec![put(&a)]).done().await?;
        self.recompile(&a.bus_arn);
        self.sweep_archive(&a, Utc::now()).await?;
        Ok(a)
    }

    /// Deletes an archive and the events it kept.
    pub async fn delete_archive(&self, scope: &Scope, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let a = self.archive(scope, name)?;
        // all of them: those past the retention too, which a sweep has yet to delete
        let kept: Vec<Archived> = self.store.list(Scan {
            owner: Some(&a.arn),
            ..Default::default()
        })?;
        let mut writes = vec![delete::<Archive>(&a.arn)];
        writes.extend(kept.iter().map(|e| delete::<Archived>(&e.key())));
        self.store.commit(writes).done().await?;
        self.recompile(&a.bus_arn);
        Ok(())
    }

    pub fn list_archives(&self, scope: &Scope) -> Result<Vec<Archive>> {
        let mut all: Vec<Archive> = self.store.list(Scan::default())?;
        all.retain(|a| in_scope(&a.arn, scope));
        Ok(all)
    }

    /// An archive's events within its retention, oldest first.
    pub fn archived(&self, archive_arn: &str) -> Result<Vec<Archived>> {
        let mut events: Vec<Archived> = self.store.list(Scan {
            owner: Some(archive_arn),
            ..Default::default()
        })?;
        if let Some(a) = self.store.load::<Archive>(archive_arn)? {
            if a.retention_days > 0 {
                let oldest = Utc::now() - Duration::days(a.retention_days as i64);
                events.retain(|e| e.time >= oldest);
            }
        }
        Ok(events)
    }

    /// Deletes archived events past their archive's retention and gives how many (reads
    /// already skip them).
    pub async fn sweep_archives(&self, now: DateTime<Utc>) -> Result<usize> {
        let archives: Vec<Archive> = self.store.list(Scan::default())?;
        let mut deleted = 0;
        for a in &archives {
            deleted += self.sweep_archive(a, now).await?;
        }
        Ok(deleted)
    }

    /// One archive's sweep, oldest events first.
    async fn sweep_archive(&self, a: &Archive, now: DateTime<Utc>) -> Result<usize> {
        if a.retention_days == 0 {
            return Ok(0);
        }
        let oldest = now - Duration::days(a.retention_days as i64);
        let expired = |e: &Archived| e.time < oldest;
        Ok(crate::store::delete_expired(&*self.store, &a.arn, expired).await?)
    }

    pub async fn start_replay(self: &Arc<Self>, scope: &Scope, r: NewReplay) -> Result<Replay> {
        let _change = self.changes.lock().await;
        super::rules::check_name(&r.name)?;
        let archive_name = r.archive_arn.rsplit('/').next().unwrap_or("");
        let archive = self.archive(scope, archive_name)?;
        if r.end <= r.start {
            return Err(EventsError::ValidationException(
                "Parameter EventEndTime is not valid. Reason: EventStartTime must be before EventEndTime.".into(),
            ));
        }
        let dest = r
            .destination
            .get("Arn")
            .and_then(Value::as_str)
            .unwrap_or("");
        if dest != archive.bus_arn {
            return Err(EventsError::ValidationException(format!(
                "Parameter Destination.Arn is not valid. Reason: Cross event bus replay is not permitted: the archive's events come from {}.",
                archive.bus_arn
            )));
        }
        let arn = format!(
            "arn:aws:events:{}:{}:replay/{}",
            scope.region, scope.account, r.name
        );
        if self.store.load::<Replay>(&arn)?.is_some() {
            return Err(EventsError::ResourceAlreadyExistsException(format!(
                "Replay {} already exists.",
                r.name
            )));
        }
        let replay = Replay {
            arn,
            name: r.name,
            owner: format!("{}:{}", scope.account, scope.region),
            description: r.description,
            archive_arn: archive.arn,
            destination: r.destination,
            event_start: r.start,
            event_end: r.end,
            state: "STARTING".into(),
            reason: None,
            last_replayed: None,
            started: Utc::now(),
            ended: None,
        };
        self.store.commit(vec![put(&replay)]).done().await?;
        let events = self.clone();
        let run = replay.clone();
        tokio::spawn(async move { events.run_replay(run).await });
        Ok(replay)
    }

    pub fn replay(&self, scope: &Scope, name: &str) -> Result<Replay> {
        let arn = format!(
            "arn:aws:events:{}:{}:replay/{name}",
            scope.region, scope.account
        );
        self.store.load::<Replay>(&arn)?.ok_or_else(|| {
            EventsError::ResourceNotFoundException(format!("Replay {name} does not exist."))
        })
    }

    pub fn list_replays(&self, scope: &Scope) -> Result<Vec<Replay>> {
        Ok(self.store.list(Scan {
            owner: Some(&format!("{}:{}", scope.account, scope.region)),
            ..Default::default()
        })?)
    }

    pub async fn cancel_replay(&self, scope: &Scope, name: &str) -> Result<Replay> {
        let _change = self.changes.lock().await;
        let mut r = self.replay(scope, name)?;
        if !matches!(r.state.as_str(), "STARTING" | "RUNNING") {
            return Err(EventsError::IllegalStatusException(format!(
                "Replay {name} is not in a state that can be cancelled."
            )));
        }
        r.state = "CANCELLING".into();
        self.store.commit(vec![put(&r)]).done().await?;
        Ok(r)
    }

    /// Replays that a restart interrupted continue after the last event they sent.
    pub(super) fn resume_replays(self: &Arc<Self>) -> Result<()> {
        for state in ["STARTING", "RUNNING", "CANCELLING"] {
            let open: Vec<Replay> = self.store.list(Scan {
                status: Some(state),
                ..Default::default()
            })?;
            for r in open {
                let events = self.clone();
                tokio::spawn(async move { events.run_replay(r).await });
            }
        }
        Ok(())
    }

    async fn run_replay(self: Arc<Self>, mut r: Replay) {
        let result = self.replay_events(&mut r).await;
        if let Err(e) = result {
            r.state = "FAILED".into();
            r.reason = Some(e.to_string());
        }
        r.ended = Some(Utc::now());
        let _change = self.changes.lock().await;
        if let Err(e) = self.store.commit(vec![put(&r)]).done().await {
            eprintln!("shoal: replay {} could not record its end: {e}", r.name);
        }
    }

    /// Records a replay's progress with `writes`, unless CancelReplay has asked it to stop:
    /// then it is CANCELLED and nothing is written. Checked and written under the change lock,
    /// so that the progress never overwrites a CANCELLING written in between.
    async fn progress(&self, r: &mut Replay, mut writes: Vec<Write>) -> Result<bool> {
        let _change = self.changes.lock().await;
        let stored = self.store.load::<Replay>(&r.arn)?;
        if stored.is_some_and(|now| now.state == "CANCELLING") {
            r.state = "CANCELLED".into();
            return Ok(false);
        }
        writes.push(put(&*r));
        self.store.commit(writes).done().await?;
        Ok(true)
    }

    async fn replay_events(&self, r: &mut Replay) -> Result<()> {
        let events = self.archived(&r.archive_arn)?;
        let bus = r
            .destination
            .get("Arn")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let filter: Vec<String> = r
            .destination
            .get("FilterArns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(String::from))
            .collect();
        r.state = "RUNNING".into();
        if !self.progress(r, Vec::new()).await? {
            return Ok(());
        }
        let (from, to, after) = (r.event_start, r.event_end, r.last_replayed);
        let todo = events
            .into_iter()
            .filter(|e| e.time >= from && e.time < to && after.is_none_or(|l| e.time > l));
        for e in todo {
            let mut v: Value = serde_json::from_str(&e.event)
                .map_err(|err| EventsError::InternalException(err.to_string()))?;
            v["replay-name"] = Value::String(r.name.clone());
            let text = v.to_string();
            let only = if filter.is_empty() {
                Only::All
            } else {
                Only::Rules(&filter)
            };
            let routing = self.route(&bus, &text, Utc::now(), only)?;
            let last = r.last_replayed.replace(e.time);
            if !self.progress(r, routing.writes()).await? {
                r.last_replayed = last;
                return Ok(());
            }
            self.dispatch(routing.deliveries);
        }
        r.state = "COMPLETED".into();
        Ok(())
    }
}
