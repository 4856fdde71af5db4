//! CloudWatch metrics and alarms on AWS JSON 1.0 (`GraniteServiceVersion20100801.*`), the
//! protocol boto3 and the AWS CLI pick for CloudWatch; errors carry the query protocol's codes
//! too (`x-amzn-query-error`), as the service is query-compatible.

use super::App;
use super::{missing, opt_str, req_str, AwsError};
use crate::metrics::alarms::{Actions, Alarm, Head, Standing, COMPARISONS};
use crate::metrics::composite::CompositeAlarm;
use crate::metrics::rule::{alarm_name, Rule};
use crate::metrics::series::{known, percentile, SeriesKey, Stat, STATISTICS};
use crate::metrics::{at, MetricsError};
use crate::sfn::arn::Scope;
use crate::values::strings;
use serde_json::{json, Value};

impl From<MetricsError> for AwsError {
    fn from(e: MetricsError) -> AwsError {
        let mut a = AwsError::new(e.status, e.code, e.message);
        a.query_code = Some(e.query_code.into());
        a
    }
}

fn invalid(m: impl Into<String>) -> AwsError {
    MetricsError::invalid(m).into()
}

fn dims(v: &Value, k: &str) -> Vec<(String, String)> {
    super::key_values_named(v, k, "Name", "Value")
}

fn time(v: &Value, k: &str) -> Result<i64, AwsError> {
    crate::events::put::time_of(v.get(k))
        .map(|t| t.timestamp())
        .ok_or_else(|| missing(k))
}

fn number(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn series_json(k: &SeriesKey) -> Value {
    json!({
        "Namespace": k.namespace,
        "MetricName": k.name,
        "Dimensions": k.dimensions.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
    })
}

/// What an alarm does on entering each state, from PutMetricAlarm's or PutCompositeAlarm's
/// request.
fn actions(v: &Value) -> Actions {
    Actions {
        actions_enabled: v
            .get("ActionsEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        ok_actions: strings(v, "OKActions"),
        alarm_actions: strings(v, "AlarmActions"),
        insufficient_data_actions: strings(v, "InsufficientDataActions"),
    }
}

/// What DescribeAlarms says of an alarm of either kind; each kind adds its own members.
fn head_json(a: Head<'_>) -> Value {
    let t = |d: &chrono::DateTime<chrono::Utc>| super::epoch(d);
    let mut o = json!({
        "AlarmName": a.name,
        "AlarmArn": a.arn(),
        "AlarmConfigurationUpdatedTimestamp": t(&a.configuration_updated),
        "ActionsEnabled": a.actions.actions_enabled,
        "OKActions": a.actions.ok_actions,
        "AlarmActions": a.actions.alarm_actions,
        "InsufficientDataActions": a.actions.insufficient_data_actions,
        "StateValue": a.standing.state,
        "StateReason": a.standing.reason,
        "StateUpdatedTimestamp": t(&a.standing.state_updated),
        "StateTransitionedTimestamp": t(&a.standing.state_updated),
    });
    if let Some(d) = a.description {
        o["AlarmDescription"] = json!(d);
    }
    if !a.standing.reason_data.is_empty() {
        o["StateReasonData"] = json!(a.standing.reason_data);
    }
    o
}

fn composite_json(c: &CompositeAlarm) -> Value {
    let mut o = head_json(c.head());
    o["AlarmRule"] = json!(c.rule);
    o
}

fn alarm_json(a: &Alarm) -> Value {
    let mut o = head_json(a.head());
    let statistic = if percentile(&a.statistic).is_some() {
        "ExtendedStatistic"
    } else {
        "Statistic"
    };
    for (k, v) in [
        ("MetricName", json!(a.metric)),
        ("Namespace", json!(a.namespace)),
        (statistic, json!(a.statistic)),
        (
            "Dimensions",
            json!(a
                .dimensions
                .iter()
                .map(|(n, v)| json!({"Name": n, "Value": v}))
                .collect::<Vec<_>>()),
        ),
        ("Period", json!(a.period)),
        ("EvaluationPeriods", json!(a.evaluation_periods)),
        ("DatapointsToAlarm", json!(a.datapoints_to_alarm)),
        ("Threshold", json!(a.threshold)),
        ("ComparisonOperator", json!(a.comparison)),
        ("TreatMissingData", json!(a.treat_missing)),
    ] {
        o[k] = v;
    }
    if let Some(u) = &a.unit {
        o["Unit"] = json!(u);
    }
    o
}

pub async fn handle(app: &App, scope: &Scope, action: &str, v: &Value) -> Result<Value, AwsError> {
    let m = &app.metrics;
    let scope_key = format!("{}:{}", scope.account, scope.region);
    Ok(match action {
        "PutMetricData" => {
            let ns = req_str(v, "Namespace")?;
            if ns.starts_with("AWS/") {
                return Err(invalid(format!(
                    "The value {ns} for parameter Namespace is invalid."
                )));
            }
            let data = v
                .get("MetricData")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("MetricData"))?;
            if data.len() > 1000 {
                return Err(invalid(
                    "The collection MetricData must not have a size greater than 1000.",
                ));
            }
            let now = m.now().timestamp();
            for d in data {
                let name = req_str(d, "MetricName")?;
                let key = SeriesKey::new(&scope_key, &ns, &name, dims(d, "Dimensions"));
                let when =
                    crate::events::put::time_of(d.get("Timestamp")).map_or(now, |t| t.timestamp());
                let unit = opt_str(d, "Unit")?;
                // values one by one, so that percentiles can rank them
                let stats: Vec<Stat> = if let Some(s) = d.get("StatisticValues") {
                    vec![Stat {
                        count: number(s, "SampleCount").unwrap_or(0.0),
                        sum: number(s, "Sum").unwrap_or(0.0),
                        min: number(s, "Minimum").unwrap_or(0.0),
                        max: number(s, "Maximum").unwrap_or(0.0),
                    }]
                } else if let Some(values) = d.get("Values").and_then(Value::as_array) {
                    let counts = d.get("Counts").and_then(Value::as_array);
                    let mut each = vec![];
                    for (i, x) in values.iter().enumerate() {
                        let x = x
                            .as_f64()
                            .ok_or_else(|| invalid("Values must be numbers"))?;
                        let c = counts
                            .and_then(|c| c.get(i))
                            .and_then(Value::as_f64)
                            .unwrap_or(1.0);
                        each.push(Stat {
                            count: c,
                            sum: x * c,
                            min: x,
                            max: x,
                        });
                    }
                    if each.is_empty() {
                        return Err(invalid(
                            "The parameter MetricData.member.Values must not be empty.",
                        ));
                    }
                    each
                } else {
                    let x = number(d, "Value").ok_or_else(|| missing("MetricData.member.Value"))?;
                    if !x.is_finite() {
                        return Err(invalid(
                            "The value for parameter MetricData.member.Value is invalid.",
                        ));
                    }
                    vec![Stat::one(x)]
                };
                // CloudWatch refuses what it cannot store (NaN, ±Infinity, overflowing sums)
                if !stats
                    .iter()
                    .all(|s| [s.count, s.sum, s.min, s.max].iter().all(|x| x.is_finite()))
                {
                    return Err(invalid(format!(
                        "The value for parameter MetricData.member.Value of {name} is invalid: values must be finite numbers."
                    )));
                }
                for stat in stats {
                    m.add(key.clone(), when, stat, unit.as_deref());
                }
            }
            json!({})
        }
        "GetMetricStatistics" => {
            let (start, end) = (time(v, "StartTime")?, time(v, "EndTime")?);
            let period = v
                .get("Period")
                .and_then(Value::as_i64)
                .ok_or_else(|| missing("Period"))?;
            if period < 1 || (period >= 60 && period % 60 != 0) {
                return Err(invalid("The parameter Period must be a multiple of 60."));
            }
            let stats = strings(v, "Statistics");
            if let Some(s) = stats.iter().find(|s| !STATISTICS.contains(&s.as_str())) {
                return Err(invalid(format!(
                    "The parameter Statistics contains an invalid value: {s}"
                )));
            }
            let extended = strings(v, "ExtendedStatistics");
            if let Some(s) = extended.iter().find(|s| percentile(s).is_none()) {
                return Err(invalid(format!(
                    "The parameter ExtendedStatistics contains an invalid value: {s}"
                )));
            }
            if stats.is_empty() && extended.is_empty() {
                return Err(MetricsError::combination(
                    "Must specify either Statistics or ExtendedStatistics.",
                )
                .into());
            }
            let name = req_str(v, "MetricName")?;
            let series = m.series_of(
                scope,
                &req_str(v, "Namespace")?,
                &name,
                &dims(v, "Dimensions"),
            );
            let unit = series
                .as_ref()
                .and_then(|s| s.unit.clone())
                .unwrap_or_else(|| "None".into());
            let points: Vec<Value> = series
                .map(|s| s.periods(start, end, period))
                .unwrap_or_default()
                .into_iter()
                .map(|(t, s)| {
                    let mut p = json!({"Timestamp": super::epoch(&at(t)), "Unit": unit});
                    for st in &stats {
                        if let Some(x) = s.get(st) {
                            p[st.as_str()] = json!(x);
                        }
                    }
                    let ext: serde_json::Map<String, Value> = extended
                        .iter()
                        .filter_map(|e| Some((e.clone(), json!(s.get(e)?))))
                        .collect();
                    if !ext.is_empty() {
                        p["ExtendedStatistics"] = Value::Object(ext);
                    }
                    p
                })
                .collect();
            json!({"Label": name, "Datapoints": points})
        }
        "GetMetricData" => {
            let (start, end) = (time(v, "StartTime")?, time(v, "EndTime")?);
            let ascending = opt_str(v, "ScanBy")?.is_some_and(|s| s == "TimestampAscending");
            let queries = v
                .get("MetricDataQueries")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("MetricDataQueries"))?;
            let mut results = Vec::new();
            for q in queries {
                let id = req_str(q, "Id")?;
                if q.get("Expression").is_some() {
                    return Err(invalid(
                        "shoal does not evaluate metric math expressions yet; use MetricStat",
                    ));
                }
                let ms = q.get("MetricStat").ok_or_else(|| missing("MetricStat"))?;
                let metric = ms.get("Metric").ok_or_else(|| missing("Metric"))?;
                let stat = req_str(ms, "Stat")?;
                if !known(&stat) {
                    return Err(invalid(format!(
                        "The statistic {stat} is not supported (shoal computes {} and percentiles such as p99)",
                        STATISTICS.join(", ")
                    )));
                }
                let period = ms
                    .get("Period")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| missing("Period"))?;
                let name = req_str(metric, "MetricName")?;
                let series = m.series_of(
                    scope,
                    &req_str(metric, "Namespace")?,
                    &name,
                    &dims(metric, "Dimensions"),
                );
                let mut points: Vec<(i64, f64)> = series
                    .map(|s| s.periods(start, end, period))
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(t, s)| Some((t, s.get(&stat)?)))
                    .collect();
                if !ascending {
                    points.reverse();
                }
                if q.get("ReturnData").and_then(Value::as_bool) == Some(false) {
                    continue;
                }
                results.push(json!({
                    "Id": id,
                    "Label": opt_str(q, "Label")?.unwrap_or(name),
                    "Timestamps": points.iter().map(|(t, _)| super::epoch(&at(*t))).collect::<Vec<_>>(),
                    "Values": points.iter().map(|(_, x)| *x).collect::<Vec<_>>(),
                    "StatusCode": "Complete",
                }));
            }
            json!({"MetricDataResults": results, "Messages": []})
        }
        "ListMetrics" => {
            let filters: Vec<(String, Option<String>)> = v
                .get("Dimensions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    Some((
                        d.get("Name")?.as_str()?.to_string(),
                        d.get("Value").and_then(Value::as_str).map(String::from),
                    ))
                })
                .collect();
            let ns = opt_str(v, "Namespace")?;
            let name = opt_str(v, "MetricName")?;
            let list = m.list(scope, ns.as_deref(), name.as_deref(), &filters);
            json!({"Metrics": list.iter().map(series_json).collect::<Vec<_>>()})
        }
        "PutMetricAlarm" => {
            if v.get("Metrics").is_some() || v.get("ThresholdMetricId").is_some() {
                return Err(invalid("shoal does not evaluate metric math alarms yet; give MetricName, Namespace and Statistic"));
            }
            let statistic = match (opt_str(v, "Statistic")?, opt_str(v, "ExtendedStatistic")?) {
                (Some(s), None) if STATISTICS.contains(&s.as_str()) => s,
                (Some(s), None) => {
                    return Err(invalid(format!(
                        "The parameter Statistic must be one of {}, not {s}",
                        STATISTICS.join(", ")
                    )))
                }
                (None, Some(e)) if percentile(&e).is_some() => e,
                (None, Some(e)) => {
                    return Err(invalid(format!(
                        "The parameter ExtendedStatistic must be a percentile such as p99, not {e}"
                    )))
                }
                _ => return Err(MetricsError::combination(
                    "Exactly one of the Statistic and ExtendedStatistic parameters must be given.",
                )
                .into()),
            };
            let comparison = req_str(v, "ComparisonOperator")?;
            if !COMPARISONS.contains(&comparison.as_str()) {
                return Err(invalid(format!(
                    "The ComparisonOperator {comparison} is not supported (shoal supports {})",
                    COMPARISONS.join(", ")
                )));
            }
            let period = v
                .get("Period")
                .and_then(Value::as_i64)
                .ok_or_else(|| missing("Period"))?;
            if period < 10 || (period >= 60 && period % 60 != 0) {
                return Err(invalid(
                    "The parameter Period must be 10, 30 or a multiple of 60.",
                ));
            }
            let evaluation_periods =
                v.get("EvaluationPeriods")
                    .and_then(Value::as_u64)
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| missing("EvaluationPeriods"))? as u32;
            let datapoints = v
                .get("DatapointsToAlarm")
                .and_then(Value::as_u64)
                .map_or(evaluation_periods, |n| n as u32);
            if datapoints < 1 || datapoints > evaluation_periods {
                return Err(invalid(
                    "DatapointsToAlarm must be between 1 and EvaluationPeriods.",
                ));
            }
            let treat = opt_str(v, "TreatMissingData")?.unwrap_or_else(|| "missing".into());
            if !["missing", "notBreaching", "breaching", "ignore"].contains(&treat.as_str()) {
                return Err(invalid(format!("The TreatMissingData value {treat} is invalid (missing, notBreaching, breaching, ignore)")));
            }
            let name = req_str(v, "AlarmName")?;
            if m.alarm::<CompositeAlarm>(scope, &name)?.is_some() {
                return Err(invalid(format!(
                    "{name} is a composite alarm; a metric alarm needs a name of its own"
                )));
            }
            let now = m.now();
            let a = Alarm {
                scope: scope_key,
                name,
                description: opt_str(v, "AlarmDescription")?,
                actions: actions(v),
                namespace: req_str(v, "Namespace")?,
                metric: req_str(v, "MetricName")?,
                dimensions: dims(v, "Dimensions"),
                statistic,
                period: period.max(60),
                evaluation_periods,
                datapoints_to_alarm: datapoints,
                threshold: number(v, "Threshold").ok_or_else(|| missing("Threshold"))?,
                comparison,
                treat_missing: treat,
                unit: opt_str(v, "Unit")?,
                // the service keeps the standing of the alarm this one replaces
                standing: Standing::kept(None, now),
                configuration_updated: now,
                tags: Default::default(),
            };
            m.put_alarm(a).await?;
            json!({})
        }
        "DescribeAlarms" => {
            let names = strings(v, "AlarmNames");
            let prefix = opt_str(v, "AlarmNamePrefix")?;
            let state = opt_str(v, "StateValue")?;
            let wanted = |name: &str, s: &str| {
                (names.is_empty() || names.iter().any(|n| n == name))
                    && prefix.as_deref().is_none_or(|p| name.starts_with(p))
                    && state.as_deref().is_none_or(|x| x == s)
            };
            // without AlarmTypes, only metric alarms, as on AWS
            let types = strings(v, "AlarmTypes");
            if let Some(t) = types
                .iter()
                .find(|t| !["MetricAlarm", "CompositeAlarm"].contains(&t.as_str()))
            {
                return Err(invalid(format!(
                    "The AlarmTypes value {t} is invalid (MetricAlarm, CompositeAlarm)"
                )));
            }
            let metric = types.is_empty() || types.iter().any(|t| t == "MetricAlarm");
            let composite = types.iter().any(|t| t == "CompositeAlarm");
            let mut metric_alarms = Vec::new();
            if metric {
                for a in m.alarms::<Alarm>(scope)? {
                    if wanted(&a.name, &a.standing.state) {
                        metric_alarms.push(alarm_json(&a));
                    }
                }
            }
            let mut composite_alarms = Vec::new();
            if composite {
                for c in m.alarms::<CompositeAlarm>(scope)? {
                    if wanted(&c.name, &c.standing.state) {
                        composite_alarms.push(composite_json(&c));
                    }
                }
            }
            json!({"MetricAlarms": metric_alarms, "CompositeAlarms": composite_alarms})
        }
        "PutCompositeAlarm" => {
            let name = req_str(v, "AlarmName")?;
            let rule = req_str(v, "AlarmRule")?;
            let parsed = Rule::parse(&rule).map_err(invalid)?;
            if parsed.alarms().iter().any(|a| alarm_name(a) == name) {
                return Err(invalid(format!(
                    "The alarm rule of {name} names the alarm itself"
                )));
            }
            if m.alarm::<Alarm>(scope, &name)?.is_some() {
                return Err(invalid(format!(
                    "{name} is a metric alarm; a composite alarm needs a name of its own"
                )));
            }
            let now = m.now();
            let c = CompositeAlarm {
                scope: scope_key,
                name,
                description: opt_str(v, "AlarmDescription")?,
                rule,
                actions: actions(v),
                // the service keeps the standing of the alarm this one replaces
                standing: Standing::kept(None, now),
                configuration_updated: now,
                tags: Default::default(),
            };
            m.put_composite(c).await?;
            json!({})
        }
        "DeleteAlarms" => {
            m.delete_alarms(scope, &strings(v, "AlarmNames")).await?;
            json!({})
        }
        "SetAlarmState" => {
            let state = req_str(v, "StateValue")?;
            if !["OK", "ALARM", "INSUFFICIENT_DATA"].contains(&state.as_str()) {
                return Err(invalid(format!("The StateValue {state} is invalid")));
            }
            let data = opt_str(v, "StateReasonData")?;
            m.set_state(
                scope,
                &req_str(v, "AlarmName")?,
                &state,
                &req_str(v, "StateReason")?,
                data.as_deref(),
            )
            .await?;
            json!({})
        }
        other => {
            return Err(AwsError::new(
                400,
                "UnknownOperationException",
                format!("shoal does not implement CloudWatch {other} yet"),
            ))
        }
    })
}
