//! Matching: each bus's enabled rules, compiled once, decide which targets an event reaches and
//! what each receives. The result is one [`Delivery`] per target, stored before it is tried.

use super::archives::{Archive, Archived};
use super::model::{Delivery, Rule};
use super::{Events, EventsError, Result};
use crate::store::{put, Records, Scan, Write};
use chrono::{DateTime, Utc};
use patterns::json::Json;
use patterns::transform::{RuleContext, TargetInput, TransformError};
use patterns::{Pattern, RuleSet};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The enabled event-pattern rules and the archives of one bus, compiled.
pub struct BusRules {
    rules: Vec<Compiled>,
    /// Every rule's pattern in one index: an event's cost does not grow with the rule count.
    matcher: RuleSet<usize>,
    archives: Vec<(String, Option<Pattern>)>,
}

/// Where one event goes: a delivery per target of each matching rule, and a copy into each
/// matching archive — all stored in one commit.
#[derive(Default)]
pub struct Routing {
    pub deliveries: Vec<Delivery>,
    pub archived: Vec<Archived>,
    /// The names of the rules it matched.
    pub rules: Vec<String>,
}

impl Routing {
    pub fn writes(&self) -> Vec<Write> {
        let mut w: Vec<Write> = self.deliveries.iter().map(put).collect();
        w.extend(self.archived.iter().map(put));
        w
    }

    pub fn extend(&mut self, other: Routing) {
        self.deliveries.extend(other.deliveries);
        self.archived.extend(other.archived);
    }
}

/// Which rules a routing may use: all of the bus's, or (a replay's `FilterArns`) some.
pub enum Only<'a> {
    All,
    Rules(&'a [String]),
}

struct Compiled {
    arn: String,
    name: String,
    bus_name: String,
    targets: Vec<(Value, TargetInput)>,
    /// `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`: read-only API calls match too.
    read_only_calls: bool,
}

/// A CloudTrail event of a read-only API call: AWS hands those only to rules enabled with
/// `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
fn read_only_call(event: &Json) -> bool {
    matches!(event.get("detail-type"), Some(Json::Str(t)) if t == "AWS API Call via CloudTrail")
        && matches!(
            event.get("detail").and_then(|d| d.get("readOnly")),
            Some(Json::Bool(true))
        )
}

/// An event accepted on a bus and the rules it matched (what `shoal events tail` shows).
#[derive(Clone, Debug)]
pub struct Routed {
    pub bus: String,
    pub event: String,
    pub rules: Vec<String>,
}

impl Events {
    /// Drops a bus's compiled rules after the bus or one of its rules changed, and says
    /// whether there were any. A compile under way, of rules read before the change, is not
    /// kept (see [`Events::rules_for`]).
    pub(crate) fn forget(&self, bus_arn: &str) -> bool {
        let mut c = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, Ordering::SeqCst);
        c.remove(bus_arn).is_some()
    }

    /// A bus's rules or archives changed (and the change is committed). When events have been
    /// put on the bus since its last change, its rules are compiled again now, by the change,
    /// so that no PutEvents pays for it (with 101 rules the first put after each PutTargets
    /// took 0.4 ms longer). Otherwise the next PutEvents compiles them: rules created in bulk,
    /// before any event, are compiled once, not once per PutRule.
    pub(crate) fn recompile(&self, bus_arn: &str) {
        if self.forget(bus_arn) {
            if let Err(e) = self.rules_for(bus_arn) {
                // the next PutEvents compiles them, or answers the error
                eprintln!("shoal: the rules of {bus_arn} could not be compiled: {e}");
            }
        }
    }

    fn rules_for(&self, bus_arn: &str) -> Result<Arc<BusRules>> {
        let generation = {
            let c = self.compiled.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(r) = c.get(bus_arn) {
                return Ok(r.clone());
            }
            self.generation.load(Ordering::SeqCst)
        };
        let stored: Vec<Rule> = self.store.list(Scan {
            owner: Some(bus_arn),
            ..Default::default()
        })?;
        let mut rules = Vec::new();
        let mut matcher = RuleSet::new();
        for r in stored.into_iter().filter(Rule::enabled) {
            let Some(text) = &r.pattern else { continue };
            // stored rules were validated by PutRule; one that no longer parses matches nothing
            let Ok(pattern) = Pattern::parse(text) else {
                continue;
            };
            let targets = r
                .targets
                .iter()
                .filter_map(|t| Some((t.clone(), super::rules::target_input(t).ok()?)))
                .collect();
            matcher.add(rules.len(), pattern);
            rules.push(Compiled {
                read_only_calls: r.state == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
                arn: r.arn,
                name: r.name,
                bus_name: r.bus_name,
                targets,
            });
        }
        let archives = self
            .store
            .list::<Archive>(Scan {
                owner: Some(bus_arn),
                ..Default::default()
            })?
            .into_iter()
            .map(|a| {
                let p = a.pattern.as_deref().and_then(|p| Pattern::parse(p).ok());
                (a.arn, p)
            })
            .collect();
        let compiled = Arc::new(BusRules {
            rules,
            matcher,
            archives,
        });
        if let Ok(mut c) = self.compiled.lock() {
            // rules read before a change would stand in for the changed ones until the next
            if self.generation.load(Ordering::SeqCst) == generation {
                c.insert(bus_arn.to_string(), compiled.clone());
            }
        }
        Ok(compiled)
    }

    /// Whether any enabled rule with a pattern exists on the bus (events nobody can match
    /// need not even be built).
    pub fn listens(&self, bus_arn: &str) -> bool {
        self.rules_for(bus_arn)
            .map(|r| !r.rules.is_empty() || !r.archives.is_empty())
            .unwrap_or(false)
    }

    /// Where one event (its `text`) put on a bus at `now` goes. A replayed event (`only`
    /// names the replay's rules) is not archived again. The rules read the text directly, only
    /// as far as the fields they look at — `text` is always an event shoal serialized (valid,
    /// one value per key); the event is parsed only when a rule matched or an archive may keep
    /// it.
    pub fn route(
        &self,
        bus_arn: &str,
        text: &str,
        now: DateTime<Utc>,
        only: Only,
    ) -> Result<Routing> {
        let rules = self.rules_for(bus_arn)?;
        if rules.rules.is_empty() && rules.archives.is_empty() {
            return Ok(Routing::default());
        }
        let hits = rules.matcher.matching_serialized(text).map_err(|e| {
            EventsError::InternalException(format!("the event is not valid JSON: {e}"))
        })?;
        if hits.is_empty() && rules.archives.is_empty() {
            return Ok(Routing::default());
        }
        let event = &patterns::json::parse(text).map_err(EventsError::InternalException)?;
        let mut out = Vec::new();
        let mut matched = Vec::new();
        let event_id = match event.get("id") {
            Some(Json::Str(s)) => s.clone(),
            _ => String::new(),
        };
        let replayed = event.get("replay-name").is_some();
        let mut archived = Vec::new();
        for (arn, pattern) in rules.archives.iter().filter(|_| !replayed) {
            if pattern.as_ref().is_none_or(|p| p.matches(event)) {
                archived.push(Archived::new(arn, &event_id, text, event));
            }
        }
        let read_only = read_only_call(event);
        let eligible = |r: &&Compiled| match only {
            Only::All => !read_only || r.read_only_calls,
            Only::Rules(arns) => arns.contains(&r.arn),
        };
        for r in hits.into_iter().map(|&i| &rules.rules[i]).filter(eligible) {
            matched.push(r.name.clone());
            let ctx = RuleContext {
                rule_name: r.name.clone(),
                rule_arn: r.arn.clone(),
                event_bus_name: r.bus_name.clone(),
                ingestion_time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            };
            for (target, input) in &r.targets {
                let body = match input.apply(event, &ctx) {
                    Ok(b) => b,
                    Err(TransformError::Dropped(why)) | Err(TransformError::Invalid(why)) => {
                        eprintln!(
                            "shoal: event {event_id} not delivered to {} of rule {}: {why}",
                            target.get("Id").and_then(Value::as_str).unwrap_or(""),
                            r.name
                        );
                        continue;
                    }
                };
                out.push(Delivery {
                    id: uuid::Uuid::new_v4().to_string(),
                    event_id: event_id.clone(),
                    rule_arn: r.arn.clone(),
                    target: target.clone(),
                    input: body,
                    event: text.to_string(),
                    attempts: 0,
                    first: now,
                    due: now,
                    status: "PENDING".into(),
                    last_error: None,
                });
            }
        }
        Ok(Routing {
            deliveries: out,
            archived,
            rules: matched,
        })
    }
}
