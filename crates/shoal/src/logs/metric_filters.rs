//! Metric filters: a log group's filter pattern whose matching events become CloudWatch metric
//! values as they are put (PutMetricFilter, DescribeMetricFilters, DeleteMetricFilter), with
//! the value and dimensions a number or a field of the event (`$.path`, `$name`); and
//! TestMetricFilter. Values are recorded at the events' own times.

use super::filter::{Filter, Selector};
use super::{Group, Logs, LogsError, Result};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Record, Records, Scan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most metric filters a log group has, as on AWS.
const MAX_PER_GROUP: usize = 100;
const MAX_DIMENSIONS: usize = 3;

/// What a metric filter records: AWS's `MetricTransformation`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Transformation {
    pub metric_name: String,
    pub metric_namespace: String,
    /// A number, or a field of the event.
    pub metric_value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<f64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct MetricFilter {
    /// The group's record key.
    pub group: String,
    pub name: String,
    pub pattern: String,
    pub transformation: Transformation,
    pub created: DateTime<Utc>,
}

impl Record for MetricFilter {
    const KIND: &'static str = "logs.metric-filter";
    fn key(&self) -> String {
        format!("{}\u{0}{}", self.group, self.name)
    }
    fn owner(&self) -> String {
        self.group.clone()
    }
}

/// A number, or the text of an event's field.
#[derive(Debug, Clone)]
enum Value {
    Number(f64),
    Field(Selector),
}

/// A metric filter ready to apply.
#[derive(Debug)]
pub struct Compiled {
    filter: Filter,
    value: Value,
    dimensions: Vec<(String, Selector)>,
    t: Transformation,
}

impl Compiled {
    /// Checks a metric filter as PutMetricFilter does.
    pub fn new(pattern: &str, t: &Transformation) -> Result<Compiled> {
        let invalid = LogsError::InvalidParameterException;
        let filter = Filter::parse(pattern).map_err(invalid)?;
        let field = |text: &str| filter.selector(text).map_err(invalid);
        let value = match t.metric_value.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => Value::Number(n),
            _ => Value::Field(field(&t.metric_value)?),
        };
        if t.dimensions.len() > MAX_DIMENSIONS {
            return Err(invalid(format!(
                "A metric filter has at most {MAX_DIMENSIONS} dimensions"
            )));
        }
        if !t.dimensions.is_empty() && t.default_value.is_some() {
            return Err(invalid(
                "A metric filter with dimensions cannot have a default value".into(),
            ));
        }
        let dimensions = (t.dimensions.iter())
            .map(|(name, text)| Ok((name.clone(), field(text)?)))
            .collect::<Result<_>>()?;
        for (what, text) in [
            ("metricName", &t.metric_name),
            ("metricNamespace", &t.metric_namespace),
        ] {
            if text.is_empty() || text.len() > 255 || text.contains([':', '*', '$']) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{text}' at '{what}' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*$]*"
                )));
            }
        }
        Ok(Compiled {
            filter,
            value,
            dimensions,
            t: t.clone(),
        })
    }

    /// The metric value and dimensions an event gives, if it matches (and its fields are
    /// there, and the value is a number).
    fn apply(&self, message: &str) -> Option<(f64, Vec<(String, String)>)> {
        if !self.filter.matches(message) {
            return None;
        }
        let value = match &self.value {
            Value::Number(n) => *n,
            Value::Field(s) => self.filter.value(message, s)?.trim().parse().ok()?,
        };
        let dims = (self.dimensions.iter())
            .map(|(name, s)| Some((name.clone(), self.filter.value(message, s)?)))
            .collect::<Option<_>>()?;
        Some((value, dims))
    }
}

/// The scope of a group's record key (`account:region:name`).
fn scope_of(group_key: &str) -> Scope {
    let (account, region, _) = super::group_key_parts(group_key);
    Scope {
        account: account.into(),
        region: region.into(),
    }
}

impl Logs {
    fn metric_filters_of(&self, group_key: &str) -> Result<Vec<MetricFilter>> {
        Ok(self.store.list(Scan {
            owner: Some(group_key),
            ..Default::default()
        })?)
    }

    /// The group's metric filters, compiled, from memory after the first write.
    fn compiled(&self, group_key: &str) -> Result<Arc<Vec<Compiled>>> {
        let mut cache = self
            .metric_filters
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(group_key) {
            return Ok(c.clone());
        }
        let compiled: Vec<Compiled> = (self.metric_filters_of(group_key)?.iter())
            .filter_map(|f| Compiled::new(&f.pattern, &f.transformation).ok())
            .collect();
        let compiled = Arc::new(compiled);
        cache.insert(group_key.to_string(), compiled.clone());
        Ok(compiled)
    }

    pub(super) fn forget_metric_filters(&self, group_key: &str) {
        (self
            .metric_filters
            .lock()
            .unwrap_or_else(|p| p.into_inner()))
        .remove(group_key);
    }

    /// Records the metric values of newly stored events (one put's) of a group.
    pub(super) fn measure(&self, group_key: &str, events: &[&super::Event]) {
        let Ok(filters) = self.compiled(group_key) else {
            return;
        };
        if filters.is_empty() {
            return;
        }
        let Some(metrics) = self.metrics.get() else {
            return;
        };
        let scope = scope_of(group_key);
        for f in filters.iter() {
            let t = &f.t;
            let unit = t.unit.as_deref().unwrap_or("None");
            let mut matched = false;
            for e in events {
                if let Some((value, dims)) = f.apply(&e.message) {
                    matched = true;
                    let dims: Vec<(&str, &str)> =
                        dims.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let at = e.timestamp.div_euclid(1000);
                    let (ns, name) = (&t.metric_namespace, &t.metric_name);
                    metrics.emit_at(&scope, ns, name, &dims, value, unit, at);
                }
            }
            // a put with no match records the default value, once
            if let (false, Some(default), Some(last)) = (matched, t.default_value, events.last()) {
                let (ns, name) = (&t.metric_namespace, &t.metric_name);
                let at = last.timestamp.div_euclid(1000);
                metrics.emit_at(&scope, ns, name, &[], default, unit, at);
            }
        }
    }

    pub async fn put_metric_filter(
        &self,
        scope: &Scope,
        group: &str,
        name: &str,
        pattern: &str,
        t: Transformation,
    ) -> Result<()> {
        let _change = self.changes.lock().await;
        let g = self.group(scope, group)?;
        if name.is_empty() || name.len() > 512 || name.contains([':', '*']) {
            return Err(LogsError::InvalidParameterException(format!(
                "1 validation error detected: Value '{name}' at 'filterName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
            )));
        }
        Compiled::new(pattern, &t)?;
        let existing = self.metric_filters_of(&g.key())?;
        if existing.len() >= MAX_PER_GROUP && !existing.iter().any(|f| f.name == name) {
            return Err(LogsError::LimitExceededException(format!(
                "A log group has at most {MAX_PER_GROUP} metric filters"
            )));
        }
        let f = MetricFilter {
            group: g.key(),
            name: name.into(),
            pattern: pattern.into(),
            transformation: t,
            created: Utc::now(),
        };
        self.store.commit(vec![put(&f)]).done().await?;
        self.forget_metric_filters(&g.key());
        Ok(())
    }

    pub async fn delete_metric_filter(&self, scope: &Scope, group: &str, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let g = self.group(scope, group)?;
        let key = format!("{}\u{0}{name}", g.key());
        if self.store.load::<MetricFilter>(&key)?.is_none() {
            return Err(LogsError::ResourceNotFoundException(
                "The specified metric filter does not exist.".into(),
            ));
        }
        self.store
            .commit(vec![delete::<MetricFilter>(&key)])
            .done()
            .await?;
        self.forget_metric_filters(&g.key());
        Ok(())
    }

    /// The metric filters of a group, or of all the scope's groups, by group and name.
    pub fn metric_filters(
        &self,
        scope: &Scope,
        group: Option<&Group>,
    ) -> Result<Vec<MetricFilter>> {
        let mut all = match group {
            Some(g) => self.metric_filters_of(&g.key())?,
            None => {
                let mut all = Vec::new();
                for g in self.groups(scope, "")? {
                    all.extend(self.metric_filters_of(&g.key())?);
                }
                all
            }
        };
        all.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
        Ok(all)
    }
}

/// A message TestMetricFilter found: its number (from 1), its text, the fields the pattern
/// names.
pub struct Tested {
    pub number: usize,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

/// TestMetricFilter: the messages the pattern matches.
pub fn test(pattern: &str, messages: &[String]) -> Result<Vec<Tested>> {
    let filter = Filter::parse(pattern).map_err(LogsError::InvalidParameterException)?;
    Ok((messages.iter().enumerate())
        .filter(|(_, m)| filter.matches(m))
        .map(|(i, m)| Tested {
            number: i + 1,
            message: m.clone(),
            fields: filter.fields(m),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(value: &str, dims: &[(&str, &str)], default: Option<f64>) -> Transformation {
        Transformation {
            metric_name: "Errors".into(),
            metric_namespace: "App".into(),
            metric_value: value.into(),
            default_value: default,
            dimensions: dims
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            unit: None,
        }
    }

    #[test]
    fn values_and_dimensions_come_from_the_events_fields() {
        let json = Compiled::new(
            r#"{ $.level = "ERROR" }"#,
            &t("$.ms", &[("Stage", "$.stage")], None),
        )
        .unwrap();
        assert_eq!(
            json.apply(r#"{"level":"ERROR","ms":12.5,"stage":"bronze"}"#),
            Some((12.5, vec![("Stage".into(), "bronze".into())]))
        );
        assert_eq!(json.apply(r#"{"level":"INFO","ms":1,"stage":"x"}"#), None);
        // no such field, or not a number: nothing recorded
        assert_eq!(json.apply(r#"{"level":"ERROR","stage":"x"}"#), None);
        assert_eq!(
            json.apply(r#"{"level":"ERROR","ms":"slow","stage":"x"}"#),
            None
        );
        let fields = Compiled::new(
            "[ip, user, ..., status = 5*, bytes]",
            &t("$bytes", &[], None),
        )
        .unwrap();
        assert_eq!(
            fields.apply("1.2.3.4 bob GET /x 503 1534"),
            Some((1534.0, vec![]))
        );
        assert_eq!(fields.apply("1.2.3.4 bob GET /x 200 1534"), None);
        let terms = Compiled::new("ERROR", &t("1", &[], Some(0.0))).unwrap();
        assert_eq!(terms.apply("an ERROR here"), Some((1.0, vec![])));
        for (pattern, tr) in [
            ("ERROR", t("$.ms", &[], None)),
            ("[a, b]", t("$c", &[], None)),
            ("{ $.a = 1 }", t("$.a", &[("D", "$.d")], Some(0.0))),
            (
                "{ $.a = 1 }",
                t(
                    "$.a",
                    &[("A", "$.a"), ("B", "$.b"), ("C", "$.c"), ("D", "$.d")],
                    None,
                ),
            ),
            ("{ $.a = ", t("1", &[], None)),
        ] {
            assert!(Compiled::new(pattern, &tr).is_err(), "{pattern} {tr:?}");
        }
    }
}
