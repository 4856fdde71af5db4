//! CloudWatch metrics and alarms: series kept per minute in memory and stored in hourly chunks
//! (flushed every second), the metrics shoal's services emit (AWS/States, AWS/Lambda,
//! AWS/Events, AWS/SNS), PutMetricData for everyone else, and alarms evaluated on every clock
//! tick, whose state changes publish to SNS topics and put `CloudWatch Alarm State Change`
//! events on the default bus.

pub mod alarms;
pub mod composite;
pub mod rule;
pub mod series;

use crate::sfn::arn::Scope;
use crate::store::{delete, put, Record, Records, Scan, Store};
use alarms::{alarm_arn, evaluate, Alarm, Head, Standing};
use chrono::{DateTime, TimeZone, Utc};
use composite::CompositeAlarm;
use rule::{alarm_name, Rule};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use series::{Series, SeriesKey, Stat};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct MetricsError {
    pub code: &'static str,
    /// The query protocol's code, for `x-amzn-query-error`.
    pub query_code: &'static str,
    pub status: u16,
    pub message: String,
}

impl MetricsError {
    pub fn invalid(message: impl Into<String>) -> MetricsError {
        MetricsError {
            code: "InvalidParameterValueException",
            query_code: "InvalidParameterValue",
            status: 400,
            message: message.into(),
        }
    }

    /// Parameters that cannot go together (or none of a required pair).
    pub fn combination(message: impl Into<String>) -> MetricsError {
        MetricsError {
            code: "InvalidParameterCombinationException",
            query_code: "InvalidParameterCombination",
            ..MetricsError::invalid(message)
        }
    }

    pub fn not_found(message: impl Into<String>) -> MetricsError {
        MetricsError {
            code: "ResourceNotFound",
            query_code: "ResourceNotFound",
            status: 404,
            message: message.into(),
        }
    }
}

impl From<crate::store::StoreError> for MetricsError {
    fn from(e: crate::store::StoreError) -> MetricsError {
        MetricsError {
            code: "InternalServiceFault",
            query_code: "InternalServiceError",
            status: 500,
            message: e.to_string(),
        }
    }
}

pub type Result<T, E = MetricsError> = std::result::Result<T, E>;

/// An hour of a series, as stored.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Chunk {
    pub series: SeriesKey,
    pub hour: i64,
    pub minutes: BTreeMap<i64, Stat>,
    pub unit: Option<String>,
}

impl Record for Chunk {
    const KIND: &'static str = "cw.chunk";
    fn key(&self) -> String {
        format!("{}#{}", self.series.text(), self.hour)
    }
    fn owner(&self) -> String {
        self.series.scope.clone()
    }
    fn sort(&self) -> i64 {
        self.hour
    }
}

/// How long data is kept (CloudWatch keeps one-minute data 15 days).
const RETENTION_S: i64 = 15 * 86_400;

pub struct Metrics {
    pub store: Arc<dyn Store>,
    series: Mutex<HashMap<SeriesKey, Series>>,
    dirty: Mutex<HashSet<(SeriesKey, i64)>>,
    /// Totals since the server started, for `/metrics` (Prometheus).
    totals: Mutex<BTreeMap<SeriesKey, (f64, f64)>>,
    pub events: Arc<crate::events::Events>,
    pub sns: Arc<crate::sns::Sns>,
    evaluating: tokio::sync::Mutex<()>,
}

impl Metrics {
    /// Loads the stored series and starts the flusher and the alarm evaluator.
    pub fn start(
        store: Arc<dyn Store>,
        events: Arc<crate::events::Events>,
        sns: Arc<crate::sns::Sns>,
    ) -> Result<Arc<Metrics>> {
        let mut map: HashMap<SeriesKey, Series> = HashMap::new();
        for c in store.list::<Chunk>(Scan::default())? {
            let s = map.entry(c.series.clone()).or_default();
            s.minutes.extend(c.minutes);
            if s.unit.is_none() {
                s.unit = c.unit;
            }
        }
        let m = Arc::new(Metrics {
            store,
            series: Mutex::new(map),
            dirty: Mutex::new(HashSet::new()),
            totals: Mutex::new(BTreeMap::new()),
            events,
            sns,
            evaluating: tokio::sync::Mutex::new(()),
        });
        let flusher = Arc::downgrade(&m);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let Some(m) = flusher.upgrade() else { return };
                m.flush().await;
            }
        });
        let evaluator = Arc::downgrade(&m);
        let mut moved = m.events.clock_moved.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(10)) => {}
                    r = moved.changed() => if r.is_err() { return },
                }
                let Some(m) = evaluator.upgrade() else { return };
                m.evaluate_all().await;
            }
        });
        Ok(m)
    }

    /// The clock metrics and alarms run on: the server's schedule clock (virtual under
    /// `serve --virtual-clock`).
    pub fn now(&self) -> DateTime<Utc> {
        self.events.now()
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a statistic set at `at` (epoch seconds).
    pub fn add(&self, key: SeriesKey, at: i64, stat: Stat, unit: Option<&str>) {
        // Series already seen are found without cloning the key (several per request).
        {
            let mut map = Metrics::lock(&self.series);
            let s = match map.get_mut(&key) {
                Some(s) => s,
                None => map.entry(key.clone()).or_default(),
            };
            s.add(at, stat);
            if s.unit.is_none() {
                s.unit = unit.map(String::from);
            }
        }
        {
            let mut t = Metrics::lock(&self.totals);
            let e = match t.get_mut(&key) {
                Some(e) => e,
                None => t.entry(key.clone()).or_insert((0.0, 0.0)),
            };
            e.0 += stat.sum;
            e.1 += stat.count;
        }
        Metrics::lock(&self.dirty).insert((key, at - at.rem_euclid(3600)));
    }

    /// Records one value of a service's metric now.
    pub fn emit(
        &self,
        scope: &Scope,
        namespace: &str,
        name: &str,
        dims: &[(&str, &str)],
        value: f64,
        unit: &str,
    ) {
        let now = self.now().timestamp();
        self.emit_at(scope, namespace, name, dims, value, unit, now);
    }

    /// Records one value of a metric at `at` (seconds since the epoch).
    #[allow(clippy::too_many_arguments)]
    pub fn emit_at(
        &self,
        scope: &Scope,
        namespace: &str,
        name: &str,
        dims: &[(&str, &str)],
        value: f64,
        unit: &str,
        at: i64,
    ) {
        let key = SeriesKey::new(
            &format!("{}:{}", scope.account, scope.region),
            namespace,
            name,
            dims.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self.add(key, at, Stat::one(value), Some(unit));
    }

    /// Stores the hours that changed since the last flush, and drops data past retention.
    pub async fn flush(&self) {
        let dirty: Vec<(SeriesKey, i64)> = Metrics::lock(&self.dirty).drain().collect();
        if dirty.is_empty() {
            return;
        }
        let cutoff = self.now().timestamp() - RETENTION_S;
        let mut writes = Vec::new();
        {
            let mut map = Metrics::lock(&self.series);
            for (key, hour) in dirty {
                let Some(s) = map.get_mut(&key) else { continue };
                let old: Vec<i64> = s.minutes.range(..cutoff).map(|(m, _)| *m).collect();
                for m in old {
                    s.minutes.remove(&m);
                }
                let chunk = Chunk {
                    series: key.clone(),
                    hour,
                    minutes: s
                        .minutes
                        .range(hour..hour + 3600)
                        .map(|(m, v)| (*m, *v))
                        .collect(),
                    unit: s.unit.clone(),
                };
                writes.push(if chunk.minutes.is_empty() {
                    delete::<Chunk>(&chunk.key())
                } else {
                    put(&chunk)
                });
            }
        }
        if let Err(e) = self.store.commit(writes).done().await {
            eprintln!("shoal: metric data not stored: {e}");
        }
    }

    /// The series that match a query (all dimensions given must match exactly).
    pub fn series_of(
        &self,
        scope: &Scope,
        namespace: &str,
        name: &str,
        dims: &[(String, String)],
    ) -> Option<Series> {
        let key = SeriesKey::new(
            &format!("{}:{}", scope.account, scope.region),
            namespace,
            name,
            dims.to_vec(),
        );
        Metrics::lock(&self.series).get(&key).cloned()
    }

    /// ListMetrics: the series of a scope, filtered.
    pub fn list(
        &self,
        scope: &Scope,
        namespace: Option<&str>,
        name: Option<&str>,
        dims: &[(String, Option<String>)],
    ) -> Vec<SeriesKey> {
        let s = format!("{}:{}", scope.account, scope.region);
        let mut out: Vec<SeriesKey> = Metrics::lock(&self.series)
            .keys()
            .filter(|k| k.scope == s)
            .filter(|k| namespace.is_none_or(|n| k.namespace == n))
            .filter(|k| name.is_none_or(|n| k.name == n))
            .filter(|k| {
                dims.iter().all(|(dn, dv)| {
                    k.dimensions
                        .iter()
                        .any(|(kn, kv)| kn == dn && dv.as_ref().is_none_or(|v| v == kv))
                })
            })
            .cloned()
            .collect();
        out.sort();
        out
    }

    /// Prometheus text: totals since start per series.
    pub fn prometheus(&self) -> String {
        let mut out = String::from("# shoal: CloudWatch metrics since the server started (sum and sample count per series)\n");
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect()
        };
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        for (k, (sum, count)) in Metrics::lock(&self.totals).iter() {
            let name = format!("{}_{}", clean(&k.namespace), clean(&k.name)).to_lowercase();
            let mut labels = vec![format!("scope=\"{}\"", esc(&k.scope))];
            labels.extend(
                k.dimensions
                    .iter()
                    .map(|(n, v)| format!("{}=\"{}\"", clean(n), esc(v))),
            );
            let l = labels.join(",");
            out.push_str(&format!(
                "{name}_sum{{{l}}} {sum}\n{name}_count{{{l}}} {count}\n"
            ));
        }
        out
    }

    /// PutMetricAlarm: a new alarm, or one that replaces the alarm of its name and keeps that
    /// one's state.
    pub async fn put_alarm(&self, a: Alarm) -> Result<()> {
        self.replace(a, |a| &mut a.standing).await
    }

    /// Stores an alarm of either kind, with the state of the one it replaces. Read and written
    /// under the evaluator's lock, so that an evaluation under way neither writes the replaced
    /// alarm back nor is lost; then the alarms are evaluated.
    async fn replace<R: Record>(
        &self,
        mut r: R,
        standing: fn(&mut R) -> &mut Standing,
    ) -> Result<()> {
        {
            let _one = self.evaluating.lock().await;
            if let Some(mut previous) = self.store.load::<R>(&r.key())? {
                *standing(&mut r) = standing(&mut previous).clone();
            }
            self.store.commit(vec![put(&r)]).done().await?;
        }
        self.evaluate_all().await;
        Ok(())
    }

    /// The alarms of one kind (`Alarm` or `CompositeAlarm`) in a scope, by name.
    pub fn alarms<R: Record>(&self, scope: &Scope) -> Result<Vec<R>> {
        let mut all: Vec<R> = self.store.list(Scan {
            owner: Some(&format!("{}:{}", scope.account, scope.region)),
            ..Default::default()
        })?;
        // keys are `account:region:name`
        all.sort_by_key(|a| a.key());
        Ok(all)
    }

    /// The alarm of one kind named `name` in a scope.
    pub fn alarm<R: Record>(&self, scope: &Scope, name: &str) -> Result<Option<R>> {
        Ok(self
            .store
            .load::<R>(&format!("{}:{}:{name}", scope.account, scope.region))?)
    }

    pub async fn delete_alarms(&self, scope: &Scope, names: &[String]) -> Result<()> {
        let mut writes = Vec::new();
        for n in names {
            if let Some(a) = self.alarm::<Alarm>(scope, n)? {
                writes.push(delete::<Alarm>(&a.key()));
            } else if let Some(c) = self.alarm::<CompositeAlarm>(scope, n)? {
                writes.push(delete::<CompositeAlarm>(&c.key()));
            } else {
                return Err(MetricsError::not_found(format!("Alarm {n} does not exist")));
            }
        }
        self.store.commit(writes).done().await?;
        // composites that named a deleted alarm see it in no state now
        self.evaluate_all().await;
        Ok(())
    }

    /// SetAlarmState: the state holds until the next evaluation, as on AWS.
    pub async fn set_state(
        &self,
        scope: &Scope,
        name: &str,
        state: &str,
        reason: &str,
        data: Option<&str>,
    ) -> Result<()> {
        // read and written under the evaluator's lock: an evaluation under way would write
        // the alarm it read before this change, and undo it
        let _one = self.evaluating.lock().await;
        let (reason, data) = (reason.to_string(), data.unwrap_or("").to_string());
        if let Some(a) = self.alarm::<Alarm>(scope, name)? {
            self.transition(a, state, reason, data).await;
        } else if let Some(c) = self.alarm::<CompositeAlarm>(scope, name)? {
            self.transition_composite(c, state, reason, data).await;
        } else {
            return Err(MetricsError::not_found(format!(
                "Alarm {name} does not exist"
            )));
        }
        // composites follow at once; the metric alarm itself waits for its next evaluation
        self.settle_composites().await;
        Ok(())
    }

    /// PutCompositeAlarm, as [`Metrics::put_alarm`].
    pub async fn put_composite(&self, c: CompositeAlarm) -> Result<()> {
        self.replace(c, |c| &mut c.standing).await
    }

    /// Evaluates every alarm at the current clock: metric alarms from their series, then
    /// composite alarms from the states of the alarms they name, until none changes (a
    /// composite may name another).
    pub async fn evaluate_all(&self) {
        let _one = self.evaluating.lock().await;
        let Ok(all) = self.store.list::<Alarm>(Scan::default()) else {
            return;
        };
        let now = self.now().timestamp();
        for a in all {
            let key = SeriesKey::new(&a.scope, &a.namespace, &a.metric, a.dimensions.clone());
            let series = Metrics::lock(&self.series).get(&key).cloned();
            if let Some(v) = evaluate(&a, series.as_ref(), now) {
                if v.state != a.standing.state {
                    self.transition(a, &v.state, v.reason, v.reason_data).await;
                }
            }
        }
        self.settle_composites().await;
    }

    /// Evaluates the composite alarms until none changes (each pass settles one more level of
    /// composites naming composites; a cycle stops after a few passes).
    async fn settle_composites(&self) {
        for _ in 0..8 {
            if !self.evaluate_composites().await {
                break;
            }
        }
    }

    /// One pass over the composite alarms; whether any changed state.
    async fn evaluate_composites(&self) -> bool {
        let Ok(composites) = self.store.list::<CompositeAlarm>(Scan::default()) else {
            return false;
        };
        if composites.is_empty() {
            return false;
        }
        // every alarm's state, by scope and name
        let mut states: HashMap<(String, String), String> = HashMap::new();
        if let Ok(all) = self.store.list::<Alarm>(Scan::default()) {
            for a in all {
                states.insert((a.scope, a.name), a.standing.state);
            }
        }
        for c in &composites {
            states.insert((c.scope.clone(), c.name.clone()), c.standing.state.clone());
        }
        let mut changed = false;
        for c in composites {
            let Ok(r) = Rule::parse(&c.rule) else {
                continue;
            };
            let state_of = |reference: &str| {
                states
                    .get(&(c.scope.clone(), alarm_name(reference).to_string()))
                    .cloned()
            };
            let state = if r.holds(&state_of) { "ALARM" } else { "OK" };
            if state == c.standing.state {
                continue;
            }
            // AWS names the children that triggered the change
            let triggering: Vec<Value> = r
                .alarms()
                .into_iter()
                .filter_map(|n| {
                    Some(json!({
                        "arn": alarm_arn(&c.scope, alarm_name(n)),
                        "state": {"value": state_of(n)?},
                    }))
                })
                .collect();
            let reason = format!(
                "The alarm rule evaluated to {}: {}",
                if state == "ALARM" { "TRUE" } else { "FALSE" },
                c.rule
            );
            let data = json!({"triggeringAlarms": triggering}).to_string();
            self.transition_composite(c, state, reason, data).await;
            changed = true;
        }
        changed
    }

    /// Stores a metric alarm's state change and carries out its actions.
    async fn transition(&self, mut a: Alarm, state: &str, reason: String, data: String) {
        let before = a.standing.change(state, reason, data, self.now());
        if self.store.commit(vec![put(&a)]).done().await.is_err() || before.state == state {
            return;
        }
        let trigger = json!({
            "MetricName": a.metric,
            "Namespace": a.namespace,
            "StatisticType": "Statistic",
            "Statistic": a.statistic.to_uppercase(),
            "Unit": a.unit,
            "Dimensions": a.dimensions.iter().map(|(n, v)| json!({"value": v, "name": n})).collect::<Vec<_>>(),
            "Period": a.period,
            "EvaluationPeriods": a.evaluation_periods,
            "DatapointsToAlarm": a.datapoints_to_alarm,
            "ComparisonOperator": a.comparison,
            "Threshold": a.threshold,
            "TreatMissingData": a.treat_missing,
            "EvaluateLowSampleCountPercentile": "",
        });
        let configuration = json!({
            "description": a.description,
            "metrics": [{
                "id": "m1",
                "metricStat": {
                    "metric": {
                        "namespace": a.namespace,
                        "name": a.metric,
                        "dimensions": a.dimensions.iter().map(|(n, v)| (n.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
                    },
                    "period": a.period,
                    "stat": a.statistic,
                },
                "returnData": true,
            }],
        });
        self.changed(a.head(), before, ("Trigger", trigger), configuration)
            .await;
    }

    /// Stores a composite alarm's state change and carries out its actions.
    async fn transition_composite(
        &self,
        mut c: CompositeAlarm,
        state: &str,
        reason: String,
        data: String,
    ) {
        let before = c.standing.change(state, reason, data, self.now());
        if self.store.commit(vec![put(&c)]).done().await.is_err() || before.state == state {
            return;
        }
        let configuration = json!({"description": c.description, "alarmRule": c.rule});
        self.changed(
            c.head(),
            before,
            ("AlarmRule", json!(c.rule)),
            configuration,
        )
        .await;
    }

    /// Carries out a stored state change of an alarm of either kind: AWS's alarm message to
    /// the SNS topics among the new state's actions (`kind` is what the kind adds to it:
    /// `Trigger` or `AlarmRule`), and a `CloudWatch Alarm State Change` event with the kind's
    /// `configuration` on the default bus.
    async fn changed(
        &self,
        a: Head<'_>,
        before: Standing,
        kind: (&str, Value),
        configuration: Value,
    ) {
        let (account, region) = a.scope.split_once(':').unwrap_or(("", ""));
        let now = a.standing;
        if a.actions.actions_enabled {
            let mut message = json!({
                "AlarmName": a.name,
                "AlarmDescription": a.description,
                "AWSAccountId": account,
                "AlarmConfigurationUpdatedTimestamp": stamp(&a.configuration_updated),
                "NewStateValue": now.state,
                "NewStateReason": now.reason,
                "StateChangeTime": stamp(&now.state_updated),
                "Region": region_name(region),
                "AlarmArn": a.arn(),
                "OldStateValue": before.state,
                "OKActions": a.actions.ok_actions,
                "AlarmActions": a.actions.alarm_actions,
                "InsufficientDataActions": a.actions.insufficient_data_actions,
            });
            message[kind.0] = kind.1;
            let subject = format!("{}: \"{}\" in {}", now.state, a.name, region_name(region));
            self.notify(
                a.name,
                a.actions.of(&now.state),
                &subject,
                message.to_string(),
            )
            .await;
        }
        let detail = json!({
            "alarmName": a.name,
            "state": state_json(&now.state, &now.reason, &now.reason_data, &now.state_updated),
            "previousState": state_json(&before.state, &before.reason, "", &before.state_updated),
            "configuration": configuration,
        });
        let entry = crate::events::put::Entry {
            source: Some("aws.cloudwatch".into()),
            detail_type: Some("CloudWatch Alarm State Change".into()),
            detail: Some(detail.to_string()),
            resources: vec![a.arn()],
            time: Some(now.state_updated),
            bus: None,
        };
        let scope = Scope {
            region: region.into(),
            account: account.into(),
        };
        if let Err(e) = self
            .events
            .put_events(&scope, &[entry], crate::events::put::Sender::Service)
            .await
        {
            eprintln!(
                "shoal: the state change of alarm {} was not put on the bus: {e}",
                a.name
            );
        }
    }

    /// Publishes an alarm's message to the SNS topics among `actions`.
    async fn notify(&self, alarm: &str, actions: &[String], subject: &str, message: String) {
        for arn in actions {
            if arn.starts_with("arn:aws:sns:") {
                let m = crate::sns::publish::Outgoing {
                    message: message.clone(),
                    subject: Some(subject.chars().take(100).collect()),
                    ..Default::default()
                };
                if let Err(e) = self.sns.publish(arn, m).await {
                    eprintln!("shoal: alarm {alarm} could not notify {arn}: {e}");
                }
            } else {
                eprintln!("shoal: alarm {alarm}: action {arn} is not supported (SNS topics are)");
            }
        }
    }
}

/// A time as alarm messages write it (`2024-01-01T00:00:00.000+0000`).
fn stamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .replace('Z', "+0000")
}

/// An alarm state in a state-change event.
fn state_json(value: &str, reason: &str, data: &str, t: &DateTime<Utc>) -> Value {
    let mut s = json!({"value": value, "reason": reason, "timestamp": stamp(t)});
    if !data.is_empty() {
        s["reasonData"] = json!(data);
    }
    s
}

/// The region's long name, as alarm messages give it.
pub fn region_name(region: &str) -> String {
    match region {
        "us-east-1" => "US East (N. Virginia)",
        "us-east-2" => "US East (Ohio)",
        "us-west-1" => "US West (N. California)",
        "us-west-2" => "US West (Oregon)",
        "eu-west-1" => "EU (Ireland)",
        "eu-west-2" => "EU (London)",
        "eu-west-3" => "EU (Paris)",
        "eu-central-1" => "EU (Frankfurt)",
        "eu-north-1" => "EU (Stockholm)",
        "ap-southeast-1" => "Asia Pacific (Singapore)",
        "ap-southeast-2" => "Asia Pacific (Sydney)",
        "ap-northeast-1" => "Asia Pacific (Tokyo)",
        other => other,
    }
    .to_string()
}

/// Seconds since the epoch as a time.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// A service's link to the metrics (weak: the metrics hold the services that act on alarms).
#[derive(Default)]
pub struct Link(std::sync::OnceLock<std::sync::Weak<Metrics>>);

impl Link {
    pub fn connect(&self, m: std::sync::Weak<Metrics>) {
        let _ = self.0.set(m);
    }

    /// The metrics, while they run.
    pub fn get(&self) -> Option<std::sync::Arc<Metrics>> {
        self.0.get().and_then(std::sync::Weak::upgrade)
    }

    /// Records values of AWS metrics in one namespace with the same dimensions.
    pub fn emit(
        &self,
        scope: &Scope,
        namespace: &str,
        dims: &[(&str, &str)],
        values: &[(&str, f64, &str)],
    ) {
        if let Some(m) = self.0.get().and_then(std::sync::Weak::upgrade) {
            for (name, value, unit) in values {
                m.emit(scope, namespace, name, dims, *value, unit);
            }
        }
    }
}
