//! Rules with a `ScheduleExpression`: each fire sends AWS's `Scheduled Event` to the rule's
//! targets (through the same stored deliveries as any event).
//!
//! Fires missed while the server was down are not run afterwards — AWS does not backfill
//! either — but they are not dropped silently: startup logs, per rule, how many were missed.
//! Under `--virtual-clock` the schedule clock moves only when told (`shoal clock advance`,
//! `POST /_shoal/clock`), and every fire passed over then happens, in order.

use super::model::Rule;
use super::rules::target_input;
use super::{Events, EventsError, Result};
use crate::store::{put, Record, Records, Scan};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use patterns::transform::RuleContext;
use schedule::{Expression, Service};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

/// When a scheduled rule or a Scheduler schedule (by its ARN) last fired: after a restart its
/// next fire counts from there.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Fired {
    #[serde(alias = "rule_arn")]
    pub arn: String,
    pub last: DateTime<Utc>,
}

impl Record for Fired {
    const KIND: &'static str = "events.fired";
    fn key(&self) -> String {
        self.arn.clone()
    }
}

/// What the schedule task hears.
pub(super) enum Signal {
    /// A rule was created, changed or deleted (`None`: gone).
    Rule(String, Option<Box<Rule>>),
    /// The virtual clock moved.
    Clock,
}

struct Timer {
    rule: Rule,
    expr: Expression,
    next: DateTime<Utc>,
}

fn timer(rule: Rule, anchor: DateTime<Utc>, now: DateTime<Utc>) -> Option<Timer> {
    if !rule.enabled() {
        return None;
    }
    let expr = Expression::parse(rule.schedule.as_deref()?, Service::Rule).ok()?;
    let mut next = expr.next_after(anchor, chrono_tz::UTC)?;
    while next <= now {
        next = expr.next_after(next, chrono_tz::UTC)?;
    }
    Some(Timer { rule, expr, next })
}

impl Events {
    /// The schedule clock: real time, or under `--virtual-clock` the time the server started
    /// plus every [`Events::advance_clock`] since (it stands still in between).
    pub fn now(&self) -> DateTime<Utc> {
        if !self.sfn.config.virtual_clock {
            return Utc::now();
        }
        let offset = self.clock_offset.load(std::sync::atomic::Ordering::Relaxed);
        self.clock_base + Duration::milliseconds(offset)
    }

    /// Moves the virtual clock forward; scheduled rules fire for every time passed over.
    pub fn advance_clock(&self, by: Duration) -> Result<DateTime<Utc>> {
        if !self.sfn.config.virtual_clock {
            return Err(EventsError::ValidationException(
                "The clock moves only on a server started with --virtual-clock".into(),
            ));
        }
        if by < Duration::zero() {
            return Err(EventsError::ValidationException(
                "The clock only moves forward".into(),
            ));
        }
        self.clock_offset
            .fetch_add(by.num_milliseconds(), std::sync::atomic::Ordering::Relaxed);
        let _ = self.schedule.send(Signal::Clock);
        self.clock_moved.send_replace(());
        Ok(self.now())
    }

    /// Tells the schedule task about a changed rule.
    pub(crate) fn rules_changed(&self, rule: &Rule) {
        let _ = self
            .schedule
            .send(Signal::Rule(rule.arn.clone(), Some(Box::new(rule.clone()))));
    }

    pub(crate) fn rule_deleted(&self, arn: &str) {
        let _ = self.schedule.send(Signal::Rule(arn.to_string(), None));
    }

    /// The scheduled rules at startup, with their next fire; logs the fires missed while the
    /// server was down.
    fn scheduled_rules(&self) -> Result<HashMap<String, Timer>> {
        let now = self.now();
        let rules: Vec<Rule> = self.store.list(Scan::default())?;
        let mut timers = HashMap::new();
        for rule in rules.into_iter().filter(|r| r.schedule.is_some()) {
            let last = self.store.load::<Fired>(&rule.arn)?.map(|f| f.last);
            let anchor = last.unwrap_or(rule.created);
            let Some(t) = timer(rule, anchor, now) else {
                continue;
            };
            let missed: Vec<DateTime<Utc>> = t
                .expr
                .fire_times(anchor, chrono_tz::UTC)
                .take_while(|f| *f <= now)
                .take(100_001)
                .collect();
            if let (Some(first), Some(last)) = (missed.first(), missed.last()) {
                let n = if missed.len() > 100_000 {
                    "more than 100000".to_string()
                } else {
                    missed.len().to_string()
                };
                eprintln!(
                    "shoal: rule {} missed {n} scheduled fire(s) while the server was down ({first} to {last}); they are not run, as on AWS",
                    t.rule.name
                );
            }
            timers.insert(t.rule.arn.clone(), t);
        }
        Ok(timers)
    }

    /// One fire of a scheduled rule at `at`: a `Scheduled Event` to each target.
    async fn fire(&self, rule: &Rule, at: DateTime<Utc>) -> Result<()> {
        let id = uuid::Uuid::new_v4().to_string();
        let time = at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let (region, account) = {
            let p: Vec<&str> = rule.arn.split(':').collect();
            (
                p.get(3).copied().unwrap_or(""),
                p.get(4).copied().unwrap_or(""),
            )
        };
        let text = json!({
            "version": "0",
            "id": id,
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": account,
            "time": time,
            "region": region,
            "resources": [rule.arn],
            "detail": {},
        })
        .to_string();
        let event = patterns::json::parse(&text).map_err(EventsError::InternalException)?;
        let ctx = RuleContext {
            rule_name: rule.name.clone(),
            rule_arn: rule.arn.clone(),
            event_bus_name: rule.bus_name.clone(),
            ingestion_time: time.clone(),
        };
        let now = Utc::now();
        let mut deliveries = Vec::new();
        for t in &rule.targets {
            let Ok(input) = target_input(t) else { continue };
            let Ok(body) = input.apply(&event, &ctx) else {
                continue;
            };
            deliveries.push(super::model::Delivery {
                id: uuid::Uuid::new_v4().to_string(),
                event_id: id.clone(),
                rule_arn: rule.arn.clone(),
                target: t.clone(),
                input: body,
                event: text.clone(),
                attempts: 0,
                first: now,
                due: now,
                status: "PENDING".into(),
                last_error: None,
            });
        }
        let mut writes: Vec<_> = deliveries.iter().map(put).collect();
        writes.push(put(&Fired {
            arn: rule.arn.clone(),
            last: at,
        }));
        self.store.commit(writes).done().await?;
        self.dispatch(deliveries);
        let _ = self.tail.send(super::router::Routed {
            bus: rule.bus_name.clone(),
            event: text,
            rules: vec![rule.name.clone()],
        });
        Ok(())
    }
}

pub(super) fn spawn(events: &Arc<Events>, rx: UnboundedReceiver<Signal>) -> Result<()> {
    let timers = events.scheduled_rules()?;
    let events = events.clone();
    tokio::spawn(async move { run(events, rx, timers).await });
    Ok(())
}

async fn run(
    events: Arc<Events>,
    mut rx: UnboundedReceiver<Signal>,
    mut timers: HashMap<String, Timer>,
) {
    loop {
        let now = events.now();
        // every fire that is due, oldest first
        while let Some((arn, at)) = timers
            .iter()
            .filter(|(_, t)| t.next <= now)
            .min_by_key(|(_, t)| t.next)
            .map(|(a, t)| (a.clone(), t.next))
        {
            let Some(t) = timers.get_mut(&arn) else { break };
            if let Err(e) = events.fire(&t.rule, at).await {
                eprintln!(
                    "shoal: scheduled rule {} could not fire at {at}: {e}",
                    t.rule.name
                );
            }
            match t.expr.next_after(at, chrono_tz::UTC) {
                Some(n) => t.next = n,
                None => {
                    timers.remove(&arn);
                }
            }
        }
        let next = timers.values().map(|t| t.next).min();
        // a virtual clock stands still between advances: nothing to wait for but signals
        let wait = match next {
            Some(n) if !events.sfn.config.virtual_clock => (n - now).to_std().ok(),
            _ => None,
        };
        let signal = match wait {
            Some(w) => tokio::select! {
                s = rx.recv() => s,
                _ = tokio::time::sleep(w) => continue,
            },
            None => rx.recv().await,
        };
        match signal {
            None => return,
            Some(Signal::Clock) => {}
            Some(Signal::Rule(arn, rule)) => {
                let now = events.now();
                let kept = timers.remove(&arn);
                let Some(rule) = rule.map(|r| *r).filter(Rule::enabled) else {
                    continue;
                };
                // an unchanged expression keeps its next fire; a new one counts from now
                match kept {
                    Some(k) if k.rule.schedule == rule.schedule => {
                        let (expr, next) = (k.expr, k.next);
                        timers.insert(arn, Timer { rule, expr, next });
                    }
                    _ => {
                        if let Some(t) = timer(rule, now, now) {
                            timers.insert(arn, t);
                        }
                    }
                }
            }
        }
    }
}

/// The virtual clock's request body: `{"advanceSeconds": N}`.
pub fn advance_of(v: &Value) -> Option<Duration> {
    v.get("advanceSeconds")
        .and_then(Value::as_f64)
        .map(|s| Duration::milliseconds((s * 1000.0) as i64))
}
