//! Metric alarms: the stored configuration and state, and the pure evaluation that decides a
//! state from the last `EvaluationPeriods` periods of a series (`DatapointsToAlarm` of them
//! breaching, `TreatMissingData` as AWS documents it).

use super::series::Series;
use crate::store::Record;
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Alarm {
    /// `account:region`.
    pub scope: String,
    pub name: String,
    pub description: Option<String>,
    #[serde(flatten)]
    pub actions: Actions,
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    pub statistic: String,
    pub period: i64,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    pub threshold: f64,
    pub comparison: String,
    pub treat_missing: String,
    pub unit: Option<String>,
    #[serde(flatten)]
    pub standing: Standing,
    pub configuration_updated: DateTime<Utc>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Alarm {
    pub fn head(&self) -> Head<'_> {
        Head {
            scope: &self.scope,
            name: &self.name,
            description: self.description.as_deref(),
            actions: &self.actions,
            standing: &self.standing,
            configuration_updated: self.configuration_updated,
        }
    }
}

/// What alarms of either kind have in common, as their state changes and descriptions show it.
pub struct Head<'a> {
    /// `account:region`.
    pub scope: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub actions: &'a Actions,
    pub standing: &'a Standing,
    pub configuration_updated: DateTime<Utc>,
}

impl Head<'_> {
    pub fn arn(&self) -> String {
        alarm_arn(self.scope, self.name)
    }
}

/// The ARN of the alarm `name` in `scope` (`account:region`), of either kind.
pub fn alarm_arn(scope: &str, name: &str) -> String {
    let (account, region) = scope.split_once(':').unwrap_or(("", ""));
    format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}")
}

/// What an alarm of either kind does on entering a state (stored flattened into the alarm).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Actions {
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
}

impl Actions {
    /// The actions of `state`.
    pub fn of(&self, state: &str) -> &[String] {
        match state {
            "ALARM" => &self.alarm_actions,
            "OK" => &self.ok_actions,
            _ => &self.insufficient_data_actions,
        }
    }
}

/// Where an alarm of either kind stands (stored flattened into the alarm).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Standing {
    pub state: String,
    pub reason: String,
    pub reason_data: String,
    pub state_updated: DateTime<Utc>,
}

impl Standing {
    /// Moves to `state` at `at`; where it stood before.
    pub fn change(
        &mut self,
        state: &str,
        reason: String,
        data: String,
        at: DateTime<Utc>,
    ) -> Standing {
        std::mem::replace(
            self,
            Standing {
                state: state.into(),
                reason,
                reason_data: data,
                state_updated: at,
            },
        )
    }

    /// A new alarm's, or the one a replaced alarm keeps.
    pub fn kept(previous: Option<&Standing>, now: DateTime<Utc>) -> Standing {
        previous.cloned().unwrap_or_else(|| Standing {
            state: "INSUFFICIENT_DATA".into(),
            reason: "Unchecked: Initial alarm creation".into(),
            reason_data: String::new(),
            state_updated: now,
        })
    }
}

impl Record for Alarm {
    const KIND: &'static str = "cw.alarm";
    fn key(&self) -> String {
        format!("{}:{}", self.scope, self.name)
    }
    fn owner(&self) -> String {
        self.scope.clone()
    }
}

pub const COMPARISONS: [&str; 4] = [
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];

fn breaches(op: &str, v: f64, t: f64) -> bool {
    match op {
        "GreaterThanOrEqualToThreshold" => v >= t,
        "GreaterThanThreshold" => v > t,
        "LessThanThreshold" => v < t,
        _ => v <= t,
    }
}

fn words(op: &str) -> &'static str {
    match op {
        "GreaterThanOrEqualToThreshold" => "greater than or equal to",
        "GreaterThanThreshold" => "greater than",
        "LessThanThreshold" => "less than",
        _ => "less than or equal to",
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// What an evaluation decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub state: String,
    pub reason: String,
    pub reason_data: String,
}

/// Evaluates an alarm at `now` (epoch seconds) over the periods that ended by the last whole
/// minute. `None`: keep the current state (`TreatMissingData: ignore` with no data).
pub fn evaluate(a: &Alarm, series: Option<&Series>, now: i64) -> Option<Verdict> {
    let n = a.evaluation_periods.max(1) as i64;
    let end = now - now.rem_euclid(60);
    let start = end - n * a.period;
    let periods = series
        .map(|s| s.periods(start, end, a.period))
        .unwrap_or_default();
    let values: Vec<(i64, Option<f64>)> = (0..n)
        .map(|i| {
            let p = start + i * a.period;
            (p, periods.get(&p).and_then(|s| s.get(&a.statistic)))
        })
        .collect();
    let present: Vec<(i64, f64)> = values
        .iter()
        .filter_map(|(t, v)| v.map(|v| (*t, v)))
        .collect();
    let missing = values.len() - present.len();
    let m = a.datapoints_to_alarm.clamp(1, n as u32) as usize;
    let stamp = |t: i64| {
        Utc.timestamp_opt(t, 0)
            .single()
            .map(|d| d.format("%d/%m/%y %H:%M:%S").to_string())
            .unwrap_or_default()
    };
    let shown: Vec<String> = present
        .iter()
        .rev()
        .map(|(t, v)| format!("{v:?} ({})", stamp(*t)))
        .collect();
    let data = serde_json::json!({
        "version": "1.0",
        "queryDate": Utc.timestamp_opt(now, 0).single().map(|d| d.to_rfc3339()).unwrap_or_default(),
        "startDate": Utc.timestamp_opt(start, 0).single().map(|d| d.to_rfc3339()).unwrap_or_default(),
        "statistic": a.statistic,
        "period": a.period,
        "recentDatapoints": present.iter().rev().map(|(_, v)| *v).collect::<Vec<_>>(),
        "threshold": a.threshold,
        "evaluatedDatapoints": present.iter().rev().map(|(t, v)| serde_json::json!({
            "timestamp": Utc.timestamp_opt(*t, 0).single().map(|d| d.to_rfc3339()).unwrap_or_default(),
            "sampleCount": periods.get(t).map_or(0.0, |s| s.stat.count),
            "value": v,
        })).collect::<Vec<_>>(),
    })
    .to_string();
    let verdict = |state: &str, reason: String| {
        Some(Verdict {
            state: state.into(),
            reason,
            reason_data: data.clone(),
        })
    };
    if present.is_empty() {
        return match a.treat_missing.as_str() {
            "ignore" => None,
            "breaching" if n as usize >= m => verdict(
                "ALARM",
                format!("Threshold Crossed: no datapoints were received for {} and {} treated as [Breaching].", plural(missing, "period"), plural(missing, "missing datapoint")),
            ),
            "notBreaching" => verdict(
                "OK",
                format!("Threshold Crossed: no datapoints were received for {} and {} treated as [NonBreaching].", plural(missing, "period"), plural(missing, "missing datapoint")),
            ),
            _ => verdict("INSUFFICIENT_DATA", format!("Insufficient Data: {} {} unknown.", plural(missing, "datapoint"), if missing == 1 { "was" } else { "were" })),
        };
    }
    let mut breaching = present
        .iter()
        .filter(|(_, v)| breaches(&a.comparison, *v, a.threshold))
        .count();
    if a.treat_missing == "breaching" {
        breaching += missing;
    }
    let op = words(&a.comparison);
    if breaching >= m {
        verdict(
            "ALARM",
            format!(
                "Threshold Crossed: {} out of the last {} [{}] {} {op} the threshold ({:?}) (minimum {} for OK -> ALARM transition).",
                breaching,
                plural(n as usize, "datapoint"),
                shown.join(", "),
                if breaching == 1 { "was" } else { "were" },
                a.threshold,
                plural(m, "datapoint"),
            ),
        )
    } else {
        verdict(
            "OK",
            format!(
                "Threshold Crossed: {} [{}] {} not {op} the threshold ({:?}) (minimum {} for ALARM -> OK transition).",
                plural(present.len(), "datapoint"),
                shown.join(", "),
                if present.len() == 1 { "was" } else { "were" },
                a.threshold,
                plural(n as usize - m + 1, "datapoint"),
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::series::Stat;

    fn alarm(treat: &str) -> Alarm {
        Alarm {
            scope: "1:r".into(),
            name: "a".into(),
            description: None,
            actions: Actions {
                actions_enabled: true,
                ok_actions: vec![],
                alarm_actions: vec![],
                insufficient_data_actions: vec![],
            },
            namespace: "AWS/States".into(),
            metric: "ExecutionsFailed".into(),
            dimensions: vec![],
            statistic: "Sum".into(),
            period: 60,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            threshold: 0.0,
            comparison: "GreaterThanThreshold".into(),
            treat_missing: treat.into(),
            unit: None,
            standing: Standing::kept(None, Utc::now()),
            configuration_updated: Utc::now(),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn stored_alarms_keep_their_flat_layout() {
        // records written before actions and standing were structs still load
        let j = serde_json::to_value(alarm("missing")).unwrap();
        assert_eq!(j["state"], "INSUFFICIENT_DATA");
        assert_eq!(j["actions_enabled"], true);
        assert!(j.get("standing").is_none() && j.get("actions").is_none());
        let back: Alarm = serde_json::from_value(j).unwrap();
        assert_eq!(back.standing.state, "INSUFFICIENT_DATA");
    }

    #[test]
    fn sum_over_a_minute_alarms_then_recovers() {
        let mut s = Series::default();
        s.add(6_000, Stat::one(1.0));
        s.add(6_010, Stat::one(1.0));
        // the minute is not over: nothing yet
        let a = alarm("missing");
        assert_eq!(
            evaluate(&a, Some(&s), 6_030).unwrap().state,
            "INSUFFICIENT_DATA"
        );
        let v = evaluate(&a, Some(&s), 6_061).unwrap();
        assert_eq!(v.state, "ALARM");
        assert!(
            v.reason
                .starts_with("Threshold Crossed: 1 out of the last 1 datapoint [2.0 ("),
            "{}",
            v.reason
        );
        // the next minute has no data
        assert_eq!(
            evaluate(&alarm("notBreaching"), Some(&s), 6_130)
                .unwrap()
                .state,
            "OK"
        );
        assert_eq!(
            evaluate(&alarm("breaching"), Some(&s), 6_130)
                .unwrap()
                .state,
            "ALARM"
        );
        assert_eq!(evaluate(&alarm("ignore"), Some(&s), 6_130), None);
        assert_eq!(
            evaluate(&alarm("missing"), None, 6_130).unwrap().state,
            "INSUFFICIENT_DATA"
        );
    }

    #[test]
    fn m_out_of_n() {
        let mut a = alarm("missing");
        a.evaluation_periods = 3;
        a.datapoints_to_alarm = 2;
        let mut s = Series::default();
        s.add(0, Stat::one(5.0));
        s.add(60, Stat::one(0.0));
        assert_eq!(evaluate(&a, Some(&s), 180).unwrap().state, "OK");
        s.add(120, Stat::one(3.0));
        assert_eq!(evaluate(&a, Some(&s), 180).unwrap().state, "ALARM");
    }
}
