//! Fires schedules: each schedule's next time in its time zone, within its start and end dates,
//! moved by up to its flexible window; a fire becomes one stored delivery of the templated
//! target (retried under the target's RetryPolicy by the event service's worker). One-time and
//! ended schedules with `ActionAfterCompletion: DELETE` are deleted after their last fire.
//! As with rules, fires missed while the server was down are logged, not run.

use super::model::Schedule;
use super::Scheduler;
use crate::events::model::Delivery;
use crate::events::schedules::Fired;
use crate::store::{delete, put, Records, Scan};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Tz;
use schedule::{Expression, Service};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

type Change = (String, Option<Box<Schedule>>);

struct Timer {
    s: Schedule,
    expr: Expression,
    tz: Tz,
    /// The time the expression names.
    nominal: DateTime<Utc>,
    /// When it fires: the nominal time plus the flexible window's offset.
    due: DateTime<Utc>,
}

fn window(s: &Schedule) -> Duration {
    match s.window.get("Mode").and_then(Value::as_str) {
        Some("FLEXIBLE") => {
            let max = s
                .window
                .get("MaximumWindowInMinutes")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            Duration::milliseconds((rand::random::<f64>() * max as f64 * 60_000.0) as i64)
        }
        _ => Duration::zero(),
    }
}

/// The first fire of `s` strictly after `after`, within its start and end dates.
fn next(s: &Schedule, expr: &Expression, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let from = match s.start {
        Some(start) if start > after => start - Duration::milliseconds(1),
        _ => after,
    };
    let t = expr.next_after(from, tz)?;
    match s.end {
        Some(end) if t > end => None,
        _ => Some(t),
    }
}

fn timer(s: Schedule, anchor: DateTime<Utc>, now: DateTime<Utc>) -> Option<Timer> {
    if s.state != "ENABLED" {
        return None;
    }
    let expr = Expression::parse(&s.expression, Service::Scheduler).ok()?;
    let tz = schedule::time_zone(&s.timezone)?;
    let mut nominal = next(&s, &expr, tz, anchor)?;
    while nominal <= now {
        nominal = next(&s, &expr, tz, nominal)?;
    }
    let due = nominal + window(&s);
    Some(Timer {
        s,
        expr,
        tz,
        nominal,
        due,
    })
}

pub(super) fn spawn(s: &Arc<Scheduler>, rx: UnboundedReceiver<Change>) -> super::Result<()> {
    let now = s.events.now();
    let all: Vec<Schedule> = s.store.list(Scan::default())?;
    let mut timers = HashMap::new();
    for sch in all {
        let last = s.store.load::<Fired>(&sch.arn)?.map(|f| f.last);
        let anchor = last.unwrap_or(sch.created);
        if let (Ok(expr), Some(tz)) = (
            Expression::parse(&sch.expression, Service::Scheduler),
            schedule::time_zone(&sch.timezone),
        ) {
            let missed = expr
                .fire_times(anchor, tz)
                .take_while(|t| *t <= now && sch.end.is_none_or(|e| *t <= e))
                .filter(|t| sch.start.is_none_or(|st| *t >= st))
                .take(100_001)
                .count();
            if missed > 0 && sch.state == "ENABLED" {
                eprintln!(
                    "shoal: schedule {}/{} missed {} fire(s) while the server was down; they are not run, as on AWS",
                    sch.group,
                    sch.name,
                    if missed > 100_000 { "more than 100000".to_string() } else { missed.to_string() }
                );
            }
        }
        let arn = sch.arn.clone();
        if let Some(t) = timer(sch, anchor, now) {
            timers.insert(arn, t);
        }
    }
    let s = s.clone();
    tokio::spawn(async move { run(s, rx, timers).await });
    Ok(())
}

async fn run(
    s: Arc<Scheduler>,
    mut rx: UnboundedReceiver<Change>,
    mut timers: HashMap<String, Timer>,
) {
    let mut clock = s.events.clock_moved.subscribe();
    loop {
        let now = s.events.now();
        while let Some(arn) = timers
            .iter()
            .filter(|(_, t)| t.due <= now)
            .min_by_key(|(_, t)| t.due)
            .map(|(a, _)| a.clone())
        {
            let Some(t) = timers.get_mut(&arn) else { break };
            if let Err(e) = s.fire(&t.s, t.nominal).await {
                eprintln!(
                    "shoal: schedule {} could not fire at {}: {e}",
                    t.s.name, t.nominal
                );
            }
            match next(&t.s, &t.expr, t.tz, t.nominal) {
                Some(n) => {
                    t.nominal = n;
                    t.due = n + window(&t.s);
                }
                None => {
                    let done = timers.remove(&arn);
                    if let Some(t) = done.filter(|t| t.s.after_completion == "DELETE") {
                        let _ = s
                            .store
                            .commit(vec![delete::<Schedule>(&t.s.arn)])
                            .done()
                            .await;
                    }
                }
            }
        }
        let wait = match timers.values().map(|t| t.due).min() {
            Some(d) if !s.events.sfn.config.virtual_clock => (d - now).to_std().ok(),
            _ => None,
        };
        tokio::select! {
            change = rx.recv() => match change {
                None => return,
                Some((arn, sch)) => {
                    let kept = timers.remove(&arn);
                    let Some(sch) = sch.map(|b| *b) else { continue };
                    // an unchanged expression and window keep their next fire
                    let t = match kept {
                        Some(k) if k.s.expression == sch.expression && k.s.timezone == sch.timezone
                            && k.s.start == sch.start && sch.state == "ENABLED" =>
                            Some(Timer { s: sch, ..k }),
                        _ => timer(sch, s.events.now(), s.events.now()),
                    };
                    if let Some(t) = t {
                        timers.insert(arn, t);
                    }
                }
            },
            _ = clock.changed() => {}
            _ = async {
                match wait {
                    Some(w) => tokio::time::sleep(w).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}

/// The Input with Scheduler's context attributes filled in.
fn templated(input: &str, s: &Schedule, at: DateTime<Utc>, id: &str) -> String {
    input
        .replace("<aws.scheduler.schedule-arn>", &s.arn)
        .replace(
            "<aws.scheduler.scheduled-time>",
            &at.to_rfc3339_opts(SecondsFormat::Secs, true),
        )
        .replace("<aws.scheduler.execution-id>", id)
        .replace("<aws.scheduler.attempt-number>", "1")
}

impl Scheduler {
    /// One fire: the target's delivery, stored with the fire time.
    async fn fire(&self, s: &Schedule, at: DateTime<Utc>) -> super::Result<()> {
        let id = uuid::Uuid::new_v4().to_string();
        let input = s
            .target
            .get("Input")
            .and_then(Value::as_str)
            .unwrap_or("{}");
        let input = templated(input, s, at, &id);
        let mut target = s.target.clone();
        target["Id"] = json!(s.name);
        let arn = target
            .get("Arn")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let (region, account) = {
            let p: Vec<&str> = s.arn.split(':').collect();
            (
                p.get(3).copied().unwrap_or(""),
                p.get(4).copied().unwrap_or(""),
            )
        };
        // a bus target gets an event built from EventBridgeParameters, its detail the Input
        let event = if arn.contains(":event-bus/") {
            let detail: Value = serde_json::from_str(&input).unwrap_or_else(|_| json!({}));
            json!({
                "version": "0",
                "id": id,
                "detail-type": s.target.pointer("/EventBridgeParameters/DetailType").and_then(Value::as_str).unwrap_or("Scheduled Event"),
                "source": s.target.pointer("/EventBridgeParameters/Source").and_then(Value::as_str).unwrap_or("scheduler"),
                "account": account,
                "time": at.to_rfc3339_opts(SecondsFormat::Secs, true),
                "region": region,
                "resources": [s.arn],
                "detail": detail,
            })
            .to_string()
        } else {
            input.clone()
        };
        let now = Utc::now();
        let d = Delivery {
            id: uuid::Uuid::new_v4().to_string(),
            event_id: id,
            rule_arn: s.arn.clone(),
            target,
            input,
            event,
            attempts: 0,
            first: now,
            due: now,
            status: "PENDING".into(),
            last_error: None,
        };
        self.store
            .commit(vec![
                put(&d),
                put(&Fired {
                    arn: s.arn.clone(),
                    last: at,
                }),
            ])
            .done()
            .await?;
        self.events.dispatch(vec![d]);
        Ok(())
    }
}
