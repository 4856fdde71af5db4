//! PutEvents: entries checked as AWS checks them, wrapped in AWS's envelope, routed, and their
//! deliveries committed before the call answers.

use super::model::Delivery;
use super::router::{Only, Routed, Routing};
use super::{Events, EventsError, Result};
use crate::sfn::arn::Scope;
use crate::store::{put, Write};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// Most entries in one PutEvents call, and most bytes they may total.
pub const MAX_ENTRIES: usize = 10;
pub const MAX_BYTES: usize = 256 * 1024;

/// One PutEvents entry.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub source: Option<String>,
    pub detail_type: Option<String>,
    pub detail: Option<String>,
    pub resources: Vec<String>,
    pub time: Option<DateTime<Utc>>,
    pub bus: Option<String>,
}

/// A time as the AWS JSON protocols send it: epoch seconds, or an ISO-8601 text.
pub fn time_of(v: Option<&Value>) -> Option<DateTime<Utc>> {
    match v? {
        Value::Number(n) => DateTime::from_timestamp_millis((n.as_f64()? * 1000.0) as i64),
        Value::String(s) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc()),
        _ => None,
    }
}

impl Entry {
    /// An entry as PutEvents (or the `events:putEvents` task) gives it. `Detail` may be JSON,
    /// which is taken as its text, as Step Functions does; `Time` is epoch seconds or ISO 8601.
    pub fn from_json(e: &Value) -> Entry {
        let text = |k: &str| crate::values::text(e, k);
        Entry {
            source: text("Source"),
            detail_type: text("DetailType"),
            detail: text("Detail"),
            resources: e
                .get("Resources")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            time: time_of(e.get("Time")),
            bus: text("EventBusName"),
        }
    }
}

/// An entry's result: the event id, or AWS's error code and message.
pub type EntryResult = std::result::Result<String, (String, String)>;

/// Who puts the events: a client (sources `aws.*` are refused) or one of shoal's services.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Client,
    Service,
}

/// An entry's size as EventBridge counts it toward the 256 KiB limit.
fn entry_size(e: &Entry) -> usize {
    14 + e.source.as_deref().map_or(0, str::len)
        + e.detail_type.as_deref().map_or(0, str::len)
        + e.detail.as_deref().map_or(0, str::len)
        + e.resources.iter().map(String::len).sum::<usize>()
}

/// The event EventBridge builds from an entry, as text (AWS's member order).
pub fn envelope(scope: &Scope, id: &str, e: &Entry, detail: Value, now: DateTime<Utc>) -> String {
    json!({
        "version": "0",
        "id": id,
        "detail-type": e.detail_type,
        "source": e.source,
        "account": scope.account,
        "time": e.time.unwrap_or(now).to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": scope.region,
        "resources": e.resources,
        "detail": detail,
    })
    .to_string()
}

fn invalid(field: &str) -> (String, String) {
    (
        "InvalidArgument".into(),
        format!("Parameter {field} is not valid. Reason: {field} is a required argument."),
    )
}

impl Events {
    pub async fn put_events(
        &self,
        scope: &Scope,
        entries: &[Entry],
        sender: Sender,
    ) -> Result<Vec<EntryResult>> {
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Err(EventsError::ValidationException(format!(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and {MAX_ENTRIES} (it has {})",
                entries.len()
            )));
        }
        if entries.iter().map(entry_size).sum::<usize>() > MAX_BYTES {
            return Err(EventsError::ValidationException(
                "Total size of the entries in the request is over the limit.".into(),
            ));
        }
        let now = Utc::now();
        let mut results = Vec::new();
        let mut routing = Routing::default();
        let mut routed = Vec::new();
        for e in entries {
            match self.accept(scope, e, sender, now) {
                Ok((id, d, r)) => {
                    results.push(Ok(id));
                    routing.extend(d);
                    routed.push(r);
                }
                Err(err) => results.push(Err(err)),
            }
        }
        // State machine targets start now, while the other deliveries are stored; a target
        // whose execution is durably started needs no stored delivery, one that did not start
        // is stored after and left to the worker (at-least-once either way).
        let all = std::mem::take(&mut routing.deliveries);
        let (prompt, rest): (Vec<&Delivery>, Vec<&Delivery>) = all
            .iter()
            .partition(|d| super::delivery::state_machine_target(d).is_some());
        let mut writes: Vec<Write> = rest.iter().map(|d| put(*d)).collect();
        writes.extend(routing.writes());
        let (stored, started) = futures_util::future::join(
            self.store.commit(writes).done(),
            self.start_promptly(&prompt),
        )
        .await;
        stored?;
        let left: Vec<Write> = (prompt.iter())
            .filter(|d| !started.contains(&d.id))
            .map(|d| put(*d))
            .collect();
        self.store.commit(left).done().await?;
        self.count_matches(&all);
        for d in all {
            if started.contains(&d.id) {
                self.count(&d, "Invocations");
            } else {
                let _ = self.queue.send(d);
            }
        }
        for r in routed {
            let _ = self.tail.send(r);
        }
        Ok(results)
    }

    /// Checks, wraps and routes one entry.
    fn accept(
        &self,
        scope: &Scope,
        e: &Entry,
        sender: Sender,
        now: DateTime<Utc>,
    ) -> std::result::Result<(String, Routing, Routed), (String, String)> {
        let source = e.source.as_deref().filter(|s| !s.is_empty());
        let source = source.ok_or_else(|| invalid("Source"))?;
        if e.detail_type.as_deref().is_none_or(str::is_empty) {
            return Err(invalid("DetailType"));
        }
        let Some(detail) = e.detail.as_deref() else {
            return Err(invalid("Detail"));
        };
        let detail: Value = match serde_json::from_str(detail) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err(("MalformedDetail".into(), "Detail is malformed.".into())),
        };
        if sender == Sender::Client
            && source.starts_with("aws.")
            && !self.sfn.config.allow_aws_sources
        {
            return Err((
                "NotAuthorizedForSourceException".into(),
                "Not authorized for the source.".into(),
            ));
        }
        let bus = self
            .bus(scope, e.bus.as_deref())
            .map_err(|err| (err.code().to_string(), err.to_string()))?;
        let id = uuid::Uuid::new_v4().to_string();
        let text = envelope(scope, &id, e, detail, now);
        let internal = |err: EventsError| ("InternalFailure".to_string(), err.to_string());
        let mut routing = self
            .route(&bus.arn, &text, now, Only::All)
            .map_err(internal)?;
        let rules = std::mem::take(&mut routing.rules);
        Ok((
            id,
            routing,
            Routed {
                bus: bus.name,
                event: text,
                rules,
            },
        ))
    }

    /// Stores deliveries and archived copies, then hands the deliveries to the worker.
    pub(crate) async fn commit_routing(&self, routing: Routing) -> Result<()> {
        let writes = routing.writes();
        if writes.is_empty() {
            return Ok(());
        }
        self.store.commit(writes).done().await?;
        self.dispatch(routing.deliveries);
        Ok(())
    }

    /// Hands committed deliveries to the worker.
    pub(crate) fn dispatch(&self, deliveries: Vec<Delivery>) {
        self.count_matches(&deliveries);
        for d in deliveries {
            let _ = self.queue.send(d);
        }
    }

    /// AWS/Events: each rule an event triggered, once whatever its number of targets.
    fn count_matches(&self, deliveries: &[Delivery]) {
        let mut seen = std::collections::HashSet::new();
        for d in deliveries.iter().filter(|d| d.rule_arn.contains(":rule/")) {
            if seen.insert((d.event_id.as_str(), d.rule_arn.as_str())) {
                self.count(d, "MatchedEvents");
                self.count(d, "TriggeredRules");
            }
        }
    }
}
