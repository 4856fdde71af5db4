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
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// The longest compile of a bus's rules that a change to them waits for (a bus of about 150
/// rules); bigger buses are compiled off the request (see [`Events::recompile`]).
const INLINE_COMPILE: Duration = Duration::from_millis(1);

/// The enabled event-pattern rules and the archives of one bus, compiled.
pub struct BusRules {
    rules: Vec<Compiled>,
    /// Every rule's pattern in one index: an event's cost does not grow with the rule count.
    matcher: RuleSet<usize>,
    archives: Vec<(String, Option<Pattern>)>,
}

/// The compiled rules of each bus, by bus ARN.
pub type Indexes = HashMap<String, BusIndex>;

/// One bus's compiled rules and what their compiles share.
#[derive(Default)]
pub struct BusIndex {
    /// The rules last compiled: current unless `stale`. Stale ones still lend their parsed
    /// patterns to the next compile, for the rules whose pattern did not change.
    rules: Option<Arc<BusRules>>,
    stale: bool,
    /// Changes to the bus's rules so far: a compile of rules read before the latest is stale.
    changes: u64,
    /// Held by a compile: a PutEvents that finds one under way (the compiler task's, after a
    /// change) waits for it instead of compiling the same rules beside it.
    compiling: Arc<Mutex<()>>,
    /// How long the last compile took.
    took: Option<Duration>,
}

impl BusIndex {
    fn current(&self) -> Option<Arc<BusRules>> {
        self.rules.clone().filter(|_| !self.stale)
    }
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
    /// The rule as stored, shared with the store's cache; a compile after a change parses only
    /// the patterns whose text differs from this one's.
    rule: Arc<Rule>,
    targets: Vec<(Value, TargetInput)>,
}

impl Compiled {
    /// `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`: read-only API calls match too.
    fn read_only_calls(&self) -> bool {
        self.rule.state == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    }
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

/// Starts the task that compiles the rules of changed buses (see [`Events::recompile`]). Changes
/// that arrive during a compile are taken together after it, each bus compiled once.
pub(super) fn spawn_compiler(events: &Arc<Events>, mut rx: UnboundedReceiver<String>) {
    let events = Arc::downgrade(events);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut buses = BTreeSet::from([first]);
            while let Ok(bus) = rx.try_recv() {
                buses.insert(bus);
            }
            let Some(ev) = events.upgrade() else { return };
            // reading the store and compiling patterns is blocking work
            let compiled = tokio::task::spawn_blocking(move || {
                for bus in buses {
                    ev.compile(&bus);
                }
            });
            let _ = compiled.await;
        }
    });
}

impl Events {
    /// Drops a bus's compiled rules after the bus or one of its rules changed, and says
    /// whether there were any. A compile under way, of rules read before the change, is kept
    /// stale, never used to route (see [`Events::rules_for`]).
    pub(crate) fn forget(&self, bus_arn: &str) -> bool {
        let mut c = self.indexes();
        let b = c.entry(bus_arn.to_string()).or_default();
        b.changes += 1;
        let current = b.current().is_some();
        b.stale = true;
        current
    }

    fn indexes(&self) -> std::sync::MutexGuard<'_, Indexes> {
        self.compiled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A bus's rules or archives changed (and the change is committed). When events have been
    /// put on the bus since its last change, its rules are compiled again at once, so that
    /// the next PutEvents does not pay for it (with 101 rules the first put after each
    /// PutTargets took 0.4 ms longer). A bus whose last compile took under [`INLINE_COMPILE`]
    /// is compiled by the change itself; a bigger one by the compiler task, off the request,
    /// as compiling within each change made PutRule cost 8 µs per rule already on the bus
    /// (12 ms at 3,000 rules, quadratic time to create them). A PutEvents that comes before
    /// that compile is done waits for it. Rules created in bulk before any event are compiled
    /// once, by the first PutEvents.
    pub(crate) fn recompile(&self, bus_arn: &str) {
        if !self.forget(bus_arn) {
            return;
        }
        let took = self.indexes().get(bus_arn).and_then(|b| b.took);
        if took.is_some_and(|t| t < INLINE_COMPILE) {
            self.compile(bus_arn);
        } else {
            // closed only when the server stops: the next PutEvents compiles them then
            let _ = self.compile.send(bus_arn.to_string());
        }
    }

    /// Compiles a bus's rules ahead of its events.
    fn compile(&self, bus_arn: &str) {
        if let Err(e) = self.rules_for(bus_arn) {
            // the next PutEvents compiles them, or answers the error
            eprintln!("shoal: the rules of {bus_arn} could not be compiled: {e}");
        }
    }

    fn rules_for(&self, bus_arn: &str) -> Result<Arc<BusRules>> {
        let one = {
            let mut c = self.indexes();
            // every PutEvents comes here: no key is allocated for a bus already compiled
            if let Some(r) = c.get(bus_arn).and_then(BusIndex::current) {
                return Ok(r);
            }
            c.entry(bus_arn.to_string()).or_default().compiling.clone()
        };
        let _compiling = one.lock().unwrap_or_else(|p| p.into_inner());
        let (seen, previous) = {
            let mut c = self.indexes();
            let b = c.entry(bus_arn.to_string()).or_default();
            // built while this waited
            if let Some(r) = b.current() {
                return Ok(r);
            }
            (b.changes, b.rules.clone())
        };
        let started = Instant::now();
        let stored: Vec<Arc<Rule>> = self.store.list_shared(Scan {
            owner: Some(bus_arn),
            ..Default::default()
        })?;
        // the patterns parsed before, by rule
        let mut parsed: HashMap<&str, (Option<&str>, &Pattern)> = HashMap::new();
        if let Some(p) = &previous {
            for (&i, pattern) in p.matcher.patterns() {
                let r = &p.rules[i].rule;
                parsed.insert(&r.arn, (r.pattern.as_deref(), pattern));
            }
        }
        let mut rules = Vec::new();
        let mut matcher = RuleSet::new();
        for r in stored.iter().filter(|r| r.enabled()) {
            let Some(text) = &r.pattern else { continue };
            let pattern = match parsed.get(r.arn.as_str()) {
                Some((before, p)) if *before == Some(text.as_str()) => (*p).clone(),
                // stored rules were validated by PutRule; one that no longer parses matches
                // nothing
                _ => match Pattern::parse(text) {
                    Ok(p) => p,
                    Err(_) => continue,
                },
            };
            let targets = r
                .targets
                .iter()
                .filter_map(|t| Some((t.clone(), super::rules::target_input(t).ok()?)))
                .collect();
            matcher.add(rules.len(), pattern);
            rules.push(Compiled {
                rule: r.clone(),
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
        let mut c = self.indexes();
        let b = c.entry(bus_arn.to_string()).or_default();
        b.took = Some(started.elapsed());
        // rules read before a change would stand in for the changed ones until the next
        b.stale = b.changes != seen;
        b.rules = Some(compiled.clone());
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
            Only::All => !read_only || r.read_only_calls(),
            Only::Rules(arns) => arns.contains(&r.rule.arn),
        };
        for c in hits.into_iter().map(|&i| &rules.rules[i]).filter(eligible) {
            let r = &c.rule;
            matched.push(r.name.clone());
            let ctx = RuleContext {
                rule_name: r.name.clone(),
                rule_arn: r.arn.clone(),
                event_bus_name: r.bus_name.clone(),
                ingestion_time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            };
            for (target, input) in &c.targets {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::put::{Entry, Sender};
    use crate::events::rules::RuleSpec;
    use crate::sfn::arn::Scope;

    fn rule(name: &str, source: &str) -> RuleSpec {
        RuleSpec {
            name: name.into(),
            bus: None,
            pattern: Some(format!(r#"{{"source": ["{source}"]}}"#)),
            schedule: None,
            state: None,
            description: None,
            role_arn: None,
            tags: vec![],
        }
    }

    fn event(source: &str) -> Entry {
        Entry {
            source: Some(source.into()),
            detail_type: Some("t".into()),
            detail: Some("{}".into()),
            resources: vec![],
            time: None,
            bus: None,
        }
    }

    /// Makes the bus look slow to compile: its next change leaves the compile to the task.
    fn slow(ev: &Events, bus: &str) {
        ev.indexes().entry(bus.to_string()).or_default().took = Some(Duration::from_secs(1));
    }

    fn compiled(ev: &Events, bus: &str) -> Option<Arc<BusRules>> {
        ev.indexes().get(bus).and_then(BusIndex::current)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changed_rules_are_compiled_at_once_and_events_see_them() {
        let dir = tempfile::Builder::new()
            .prefix("shoal-router-")
            .tempdir()
            .unwrap();
        let store: Arc<dyn crate::store::Store> =
            Arc::new(crate::store::sqlite::SqliteStore::open(dir.path()).unwrap());
        let sfn = crate::sfn::Sfn::new(
            store.clone(),
            Default::default(),
            tokio::runtime::Handle::current(),
        );
        let sqs = crate::sqs::Sqs::open(store.clone()).unwrap();
        let ev = Events::start(store, sfn, sqs).unwrap();
        let scope = Scope {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        };
        let bus = Events::bus_arn(&scope, "default");
        let routed = |source: &str| {
            let text = format!(r#"{{"source": "{source}", "detail": {{}}}}"#);
            ev.route(&bus, &text, Utc::now(), Only::All).unwrap().rules
        };

        // rules made before any event wait for the first one: nothing compiles them
        ev.put_rule(&scope, rule("a", "a")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(compiled(&ev, &bus).is_none());
        ev.put_events(&scope, &[event("a")], Sender::Client)
            .await
            .unwrap();
        assert_eq!(compiled(&ev, &bus).map(|r| r.rules.len()), Some(1));

        // once events flow, a change to a small bus compiles it before it answers
        ev.put_rule(&scope, rule("b", "b")).await.unwrap();
        assert_eq!(compiled(&ev, &bus).map(|r| r.rules.len()), Some(2));

        // a bus slow to compile is compiled by the compiler task, without a PutEvents
        slow(&ev, &bus);
        ev.put_rule(&scope, rule("c", "c")).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while compiled(&ev, &bus).is_none_or(|r| r.rules.len() != 3) {
            assert!(Instant::now() < deadline, "never compiled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // and an event right after each change is routed by the rules as changed, whoever
        // compiles them
        for k in 0..30 {
            if k % 2 == 0 {
                slow(&ev, &bus);
            }
            let name = format!("r{k}");
            ev.put_rule(&scope, rule(&name, &name)).await.unwrap();
            assert_eq!(routed(&name), vec![name.clone()]);
        }
        ev.set_rule_state(&scope, "a", None, false).await.unwrap();
        assert!(routed("a").is_empty());
        assert_eq!(routed("b"), vec!["b".to_string()]);

        // a rule's new pattern replaces the one parsed before, by either compile
        for by_task in [false, true] {
            if by_task {
                slow(&ev, &bus);
            }
            let now = format!("b-{by_task}");
            ev.put_rule(&scope, rule("b", &now)).await.unwrap();
            assert_eq!(routed(&now), vec!["b".to_string()]);
            assert!(routed("b").is_empty());
            assert_eq!(routed("c"), vec!["c".to_string()]);
        }

        // a compile is made stale only by a change to its own bus, not by changes elsewhere
        let changes = |ev: &Events| ev.indexes().get(&bus).map_or(0, |b| b.changes);
        let seen = changes(&ev);
        ev.forget(&Events::bus_arn(&scope, "other"));
        assert_eq!(changes(&ev), seen);
        ev.forget(&bus);
        assert_ne!(changes(&ev), seen);
    }
}
