//! Running a parsed Logs Insights query over log events: each event is a record of fields — the
//! discovered ones (`@timestamp`, `@message`, `@logStream`, `@log`, `@ingestionTime`) and, for
//! a JSON message, its keys flattened with dots (`user.id`, `items.0`) — passed through the
//! commands in order.

use super::query::{Aggregate, Command, Expr, GroupBy, Op, Pattern};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

/// A field's value: text, or a number where the text is one.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
}

impl Value {
    fn number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Text(t) => t.trim().parse().ok(),
        }
    }

    pub fn text(&self) -> String {
        match self {
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            Value::Number(n) => n.to_string(),
            Value::Text(t) => t.clone(),
        }
    }

    fn cmp(&self, other: &Value) -> Ordering {
        match (self.number(), other.number()) {
            (Some(a), Some(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            _ => self.text().cmp(&other.text()),
        }
    }
}

pub type Record = BTreeMap<String, Value>;

/// Insights' time format: `2026-11-23 19:40:00.123`.
pub fn time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

/// The record of one event; `ptr` is its `@ptr` (see [`super::Logs::log_record`]).
pub fn record(group: &str, stream: &str, e: &super::super::Event, ptr: String) -> Record {
    let mut r = Record::new();
    if let Ok(v @ serde_json::Value::Object(_)) =
        serde_json::from_str::<serde_json::Value>(&e.message)
    {
        flatten("", &v, &mut r);
    }
    lambda_fields(&e.message, &mut r);
    r.insert("@timestamp".into(), Value::Number(e.timestamp as f64));
    r.insert("@ingestionTime".into(), Value::Number(e.ingestion as f64));
    r.insert("@message".into(), Value::Text(e.message.clone()));
    r.insert("@logStream".into(), Value::Text(stream.into()));
    r.insert("@log".into(), Value::Text(group.into()));
    r.insert("@ptr".into(), Value::Text(ptr));
    r
}

/// The fields Insights discovers in a function's START, END and REPORT lines: `@type`,
/// `@requestId`, and from REPORT `@duration`, `@billedDuration`, `@initDuration` (ms),
/// `@memorySize` and `@maxMemoryUsed` (bytes, MB counted as 1,000,000 as AWS does).
fn lambda_fields(message: &str, r: &mut Record) {
    let Some((kind, rest)) = message.split_once(" RequestId: ") else {
        return;
    };
    if !matches!(kind, "START" | "END" | "REPORT") {
        return;
    }
    r.insert("@type".into(), Value::Text(kind.into()));
    let mut parts = rest.trim_end().split('\t');
    let id = parts.next().unwrap_or_default();
    let id = id.split_whitespace().next().unwrap_or_default();
    r.insert("@requestId".into(), Value::Text(id.into()));
    if kind != "REPORT" {
        return;
    }
    for part in parts {
        let Some((name, value)) = part.split_once(": ") else {
            continue;
        };
        let (field, scale) = match name {
            "Duration" => ("@duration", 1.0),
            "Billed Duration" => ("@billedDuration", 1.0),
            "Init Duration" => ("@initDuration", 1.0),
            "Memory Size" => ("@memorySize", 1e6),
            "Max Memory Used" => ("@maxMemoryUsed", 1e6),
            _ => continue,
        };
        let number = value
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<f64>().ok());
        if let Some(n) = number {
            r.insert(field.into(), Value::Number(n * scale));
        }
    }
}

fn flatten(prefix: &str, v: &serde_json::Value, r: &mut Record) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| flatten(&key(k), v, r)),
        serde_json::Value::Array(a) => {
            (a.iter().enumerate()).for_each(|(i, v)| flatten(&key(&i.to_string()), v, r))
        }
        serde_json::Value::Number(n) => {
            r.insert(prefix.into(), Value::Number(n.as_f64().unwrap_or(0.0)));
        }
        serde_json::Value::String(s) => {
            r.insert(prefix.into(), Value::Text(s.clone()));
        }
        serde_json::Value::Bool(b) => {
            r.insert(prefix.into(), Value::Text(b.to_string()));
        }
        serde_json::Value::Null => {}
    }
}

fn value(e: &Expr, r: &Record) -> Option<Value> {
    match e {
        Expr::Field(f) => r.get(f).cloned(),
        Expr::Number(n) => Some(Value::Number(*n)),
        Expr::Text(t) => Some(Value::Text(t.clone())),
        other => Some(Value::Number(if holds(other, r) { 1.0 } else { 0.0 })),
    }
}

/// Whether a record passes a filter expression (a missing field passes no comparison).
pub fn holds(e: &Expr, r: &Record) -> bool {
    match e {
        Expr::And(a, b) => holds(a, r) && holds(b, r),
        Expr::Or(a, b) => holds(a, r) || holds(b, r),
        Expr::Not(a) => !holds(a, r),
        Expr::IsPresent(f) => r.contains_key(f),
        Expr::Compare(a, op, b) => match (value(a, r), value(b, r)) {
            (Some(a), Some(b)) => {
                let o = a.cmp(&b);
                match op {
                    Op::Eq => o == Ordering::Equal,
                    Op::Ne => o != Ordering::Equal,
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                    Op::Gt => o == Ordering::Greater,
                    Op::Ge => o != Ordering::Less,
                }
            }
            _ => false,
        },
        Expr::Like(a, p) => value(a, r).is_some_and(|v| {
            let t = v.text();
            match p {
                Pattern::Regex(re) => re.is_match(&t),
                Pattern::Text(s) => t.contains(s.as_str()),
            }
        }),
        Expr::In(a, items) => value(a, r).is_some_and(|v| {
            (items.iter().filter_map(|i| value(i, r))).any(|i| v.cmp(&i) == Ordering::Equal)
        }),
        Expr::Field(_) | Expr::Number(_) | Expr::Text(_) => {
            value(e, r).is_some_and(|v| v.number().map_or(!v.text().is_empty(), |n| n != 0.0))
        }
    }
}

/// A query's rows: each its fields, in order, as text.
pub type Rows = Vec<Vec<(String, String)>>;

/// How many of the first commands act on each record alone (`fields`, `filter`): they run
/// while events are read, so that only the records they keep are held.
pub fn per_record(commands: &[Command]) -> usize {
    (commands.iter())
        .take_while(|c| {
            matches!(
                c,
                Command::Fields(_) | Command::Filter(_) | Command::Parse { .. }
            )
        })
        .count()
}

/// Runs `fields` and `filter` commands over one record; `None` when a filter drops it.
pub fn pass(commands: &[Command], mut r: Record) -> Option<Record> {
    for c in commands {
        match c {
            Command::Fields(fields) => add_fields(fields, &mut r),
            Command::Filter(e) if !holds(e, &r) => return None,
            Command::Parse {
                field,
                regex,
                names,
            } => parse_into(field, regex, names, &mut r),
            _ => {}
        }
    }
    Some(r)
}

/// Adds the fields a `parse` takes from a record's field (none when it does not match).
fn parse_into(field: &str, regex: &Pattern, names: &[String], r: &mut Record) {
    let (Some(text), Pattern::Regex(re)) = (r.get(field).map(Value::text), regex) else {
        return;
    };
    let Some(caps) = re.captures(&text) else {
        return;
    };
    for (i, name) in names.iter().enumerate() {
        // a regex's groups by name, else by position
        let m = caps.name(name).or_else(|| caps.get(i + 1));
        if let Some(m) = m {
            r.insert(name.clone(), Value::Text(m.as_str().to_string()));
        }
    }
}

fn add_fields(fields: &[(Expr, String)], r: &mut Record) {
    for (e, name) in fields {
        if matches!(e, Expr::Field(f) if f == name) {
            continue;
        }
        if let Some(v) = value(e, r) {
            r.insert(name.clone(), v);
        }
    }
}

/// Runs the commands over the records (in time order, the per-record ones already applied to
/// them: see [`per_record`]), keeping the fields of the `fields` commands among them.
pub fn run(commands: &[Command], ran: usize, records: Vec<Record>, limit: usize) -> Rows {
    let mut rows = records;
    let mut shown: Option<Vec<String>> = None;
    for (k, c) in commands.iter().enumerate() {
        if k < ran {
            if let Command::Fields(fields) = c {
                let names = fields.iter().map(|(_, n)| n.clone());
                shown = Some(shown.unwrap_or_default().into_iter().chain(names).collect());
            }
            continue;
        }
        match c {
            Command::Fields(fields) => {
                rows.iter_mut().for_each(|r| add_fields(fields, r));
                let names = fields.iter().map(|(_, n)| n.clone());
                shown = Some(shown.unwrap_or_default().into_iter().chain(names).collect());
            }
            Command::Display(names) => shown = Some(names.clone()),
            Command::Filter(e) => rows.retain(|r| holds(e, r)),
            Command::Parse {
                field,
                regex,
                names,
            } => (rows.iter_mut()).for_each(|r| parse_into(field, regex, names, r)),
            Command::Dedup(keys) => {
                let mut seen = std::collections::HashSet::new();
                rows.retain(|r| {
                    let key: Option<Vec<String>> =
                        keys.iter().map(|k| r.get(k).map(Value::text)).collect();
                    // a record without one of the fields is never a duplicate
                    key.is_none_or(|k| seen.insert(k))
                });
            }
            Command::Sort(keys) => rows.sort_by(|a, b| {
                for (k, desc) in keys {
                    let o = match (a.get(k), b.get(k)) {
                        (Some(x), Some(y)) => x.cmp(y),
                        (Some(_), None) => Ordering::Less,
                        (None, Some(_)) => Ordering::Greater,
                        (None, None) => Ordering::Equal,
                    };
                    let o = if *desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            }),
            Command::Limit(n) => rows.truncate(*n),
            Command::Stats { aggregates, by } => {
                let names: Vec<String> = (by.iter().map(|(_, n)| n.clone()))
                    .chain(aggregates.iter().map(|(_, n)| n.clone()))
                    .collect();
                rows = aggregate(&rows, aggregates, by);
                shown = Some(names);
            }
        }
    }
    let shown = shown.unwrap_or_else(|| {
        ["@timestamp", "@message", "@logStream", "@log"]
            .map(String::from)
            .to_vec()
    });
    (rows.iter().take(limit))
        .map(|r| {
            (shown.iter())
                .filter_map(|name| {
                    let v = r.get(name)?;
                    Some((name.clone(), display_text(name, v)))
                })
                // an event's rows point back to it (the rows of stats do not)
                .chain(r.get("@ptr").map(|p| ("@ptr".to_string(), p.text())))
                .collect()
        })
        .collect()
}

/// A field's value as results show it: times in Insights' format.
fn display_text(name: &str, v: &Value) -> String {
    match (name, v) {
        ("@timestamp" | "@ingestionTime", Value::Number(ms)) => time_text(*ms as i64),
        _ => v.text(),
    }
}

/// A whole record as GetLogRecord gives it: every field, times in Insights' format.
pub fn fields(r: &Record) -> BTreeMap<String, String> {
    (r.iter())
        .filter(|(k, _)| *k != "@ptr")
        .map(|(k, v)| (k.clone(), display_text(k, v)))
        .collect()
}

/// The nearest-rank percentile `p` of the values.
fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

/// Groups records by the `by` keys and computes the aggregates of each group, groups in the
/// order first seen (bins in time order).
fn aggregate(
    rows: &[Record],
    aggregates: &[(Aggregate, String)],
    by: &[(GroupBy, String)],
) -> Vec<Record> {
    struct Acc {
        key: Vec<Option<Value>>,
        count: Vec<f64>,
        sum: Vec<f64>,
        min: Vec<Option<f64>>,
        max: Vec<Option<f64>>,
        /// Every value, for percentiles.
        values: Vec<Vec<f64>>,
        distinct: Vec<std::collections::HashSet<String>>,
    }
    let n = aggregates.len();
    let mut groups: Vec<Acc> = Vec::new();
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    for r in rows {
        let key: Vec<Option<Value>> = (by.iter())
            .map(|(g, _)| match g {
                GroupBy::Field(f) => r.get(f).cloned(),
                GroupBy::Bin(ms) => r
                    .get("@timestamp")
                    .and_then(Value::number)
                    .map(|t| Value::Number(((t as i64).div_euclid(*ms) * ms) as f64)),
            })
            .collect();
        let text: Vec<String> = key
            .iter()
            .map(|k| k.as_ref().map(Value::text).unwrap_or_default())
            .collect();
        let at = *index.entry(text).or_insert_with(|| {
            groups.push(Acc {
                key,
                count: vec![0.0; n],
                sum: vec![0.0; n],
                min: vec![None; n],
                max: vec![None; n],
                values: vec![Vec::new(); n],
                distinct: vec![Default::default(); n],
            });
            groups.len() - 1
        });
        let g = &mut groups[at];
        for (i, (a, _)) in aggregates.iter().enumerate() {
            let field = match a {
                Aggregate::Count(None) => {
                    g.count[i] += 1.0;
                    continue;
                }
                Aggregate::Count(Some(f)) => {
                    if r.contains_key(f) {
                        g.count[i] += 1.0;
                    }
                    continue;
                }
                Aggregate::CountDistinct(f) => {
                    if let Some(v) = r.get(f) {
                        g.distinct[i].insert(v.text());
                    }
                    continue;
                }
                Aggregate::Pct(f, _) => {
                    if let Some(x) = r.get(f).and_then(Value::number) {
                        g.values[i].push(x);
                    }
                    continue;
                }
                Aggregate::Sum(f) | Aggregate::Avg(f) | Aggregate::Min(f) | Aggregate::Max(f) => f,
            };
            if let Some(x) = r.get(field).and_then(Value::number) {
                g.count[i] += 1.0;
                g.sum[i] += x;
                g.min[i] = Some(g.min[i].map_or(x, |m| m.min(x)));
                g.max[i] = Some(g.max[i].map_or(x, |m| m.max(x)));
            }
        }
    }
    if by.iter().any(|(g, _)| matches!(g, GroupBy::Bin(_))) {
        groups.sort_by(|a, b| {
            (a.key.iter().zip(&b.key))
                .map(|(x, y)| match (x, y) {
                    (Some(x), Some(y)) => x.cmp(y),
                    _ => Ordering::Equal,
                })
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
    }
    (groups.into_iter())
        .map(|mut g| {
            let mut r = Record::new();
            for ((grouping, name), k) in by.iter().zip(g.key) {
                if let Some(k) = k {
                    let v = match (grouping, k) {
                        (GroupBy::Bin(_), Value::Number(ms)) => Value::Text(time_text(ms as i64)),
                        (_, k) => k,
                    };
                    r.insert(name.clone(), v);
                }
            }
            for (i, (a, name)) in aggregates.iter().enumerate() {
                let v = match a {
                    Aggregate::Count(_) => Some(g.count[i]),
                    Aggregate::Sum(_) => (g.count[i] > 0.0).then_some(g.sum[i]),
                    Aggregate::Avg(_) => (g.count[i] > 0.0).then(|| g.sum[i] / g.count[i]),
                    Aggregate::Min(_) => g.min[i],
                    Aggregate::Max(_) => g.max[i],
                    Aggregate::CountDistinct(_) => Some(g.distinct[i].len() as f64),
                    Aggregate::Pct(_, p) => percentile(&mut g.values[i], *p),
                };
                if let Some(v) = v {
                    r.insert(name.clone(), Value::Number(v));
                }
            }
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::query::parse;
    use super::*;
    use crate::logs::Event;

    fn records() -> Vec<Record> {
        let t0 = 1_800_000_000_000i64;
        [
            (
                0,
                r#"{"level":"ERROR","ms":120,"stage":"bronze","user":{"id":7}}"#,
            ),
            (1_000, r#"{"level":"INFO","ms":30,"stage":"bronze"}"#),
            (61_000, r#"{"level":"ERROR","ms":7,"stage":"silver"}"#),
            (62_000, "plain text, timed out"),
        ]
        .into_iter()
        .map(|(dt, m)| {
            let e = Event {
                timestamp: t0 + dt,
                ingestion: t0 + dt,
                message: m.into(),
            };
            record("/g", "s", &e, String::new())
        })
        .collect()
    }

    fn rows(q: &str) -> Vec<Vec<(String, String)>> {
        let c = parse(q).unwrap();
        let ran = per_record(&c);
        let kept = records()
            .into_iter()
            .filter_map(|r| pass(&c[..ran], r))
            .collect();
        let mut rows = run(&c, ran, kept, 10_000);
        rows.iter_mut().for_each(|r| r.retain(|(k, _)| k != "@ptr"));
        rows
    }

    fn pairs(row: &[(&str, &str)]) -> Vec<(String, String)> {
        row.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_functions_report_lines_give_their_fields_and_percentiles_count() {
        let lines = [
            "START RequestId: r1 Version: $LATEST",
            "REPORT RequestId: r1\tDuration: 12.50 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 41 MB\tInit Duration: 402.11 ms",
            "REPORT RequestId: r2\tDuration: 30.00 ms\tBilled Duration: 30 ms\tMemory Size: 128 MB\tMax Memory Used: 44 MB",
            "REPORT RequestId: r3\tDuration: 7.00 ms\tBilled Duration: 7 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB",
            "END RequestId: r3",
        ];
        let records: Vec<Record> = (lines.iter())
            .map(|m| {
                let e = Event {
                    timestamp: 0,
                    ingestion: 0,
                    message: m.to_string(),
                };
                record("/aws/lambda/f", "s", &e, String::new())
            })
            .collect();
        assert_eq!(records[1].get("@maxMemoryUsed"), Some(&Value::Number(41e6)));
        assert_eq!(
            records[1].get("@initDuration"),
            Some(&Value::Number(402.11))
        );
        assert_eq!(
            records[4].get("@requestId"),
            Some(&Value::Text("r3".into()))
        );
        let q = parse(
            "filter @type = 'REPORT' | stats pct(@duration, 50) as p50, max(@duration), \
             count_distinct(@requestId) as calls, max(@maxMemoryUsed) / 1 as m",
        );
        assert!(q.is_err(), "arithmetic is not supported: {q:?}");
        let q = parse(
            "filter @type = 'REPORT' | stats pct(@duration, 50) as p50, pct(@duration, 100) as p100, \
             count_distinct(@requestId) as calls, max(@maxMemoryUsed) as mem",
        )
        .unwrap();
        let ran = per_record(&q);
        let kept = records
            .into_iter()
            .filter_map(|r| pass(&q[..ran], r))
            .collect();
        assert_eq!(
            run(&q, ran, kept, 100),
            [pairs(&[
                ("p50", "12.5"),
                ("p100", "30"),
                ("calls", "3"),
                ("mem", "44000000")
            ])]
        );
    }

    #[test]
    fn parse_takes_fields_from_text_and_dedup_keeps_the_first() {
        assert_eq!(
            rows(
                r#"parse @message "plain *, timed *" as what, how | filter ispresent(what) | display what, how"#
            ),
            [pairs(&[("what", "text"), ("how", "out")])]
        );
        assert_eq!(
            rows("parse @message /plain (?<word>\\w+)/ | filter ispresent(word) | display word"),
            [pairs(&[("word", "text")])]
        );
        // a parse that does not match leaves the event as it is
        assert_eq!(
            rows("parse stage 'x*' as y | filter ispresent(y)"),
            Vec::<Vec<_>>::new()
        );
        assert_eq!(
            rows("dedup stage | display stage, ms"),
            [
                pairs(&[("stage", "bronze"), ("ms", "120")]),
                pairs(&[("stage", "silver"), ("ms", "7")]),
                vec![],
            ]
        );
    }

    #[test]
    fn filters_sorts_fields_and_stats_run_over_the_events() {
        assert_eq!(
            rows("fields ms, user.id | filter level = 'ERROR' and ms > 10"),
            [pairs(&[("ms", "120"), ("user.id", "7")])]
        );
        assert_eq!(
            rows("filter @message like /timed? out/ | display @timestamp, @logStream"),
            [pairs(&[
                ("@timestamp", "2027-01-15 08:01:02.000"),
                ("@logStream", "s")
            ])]
        );
        assert_eq!(
            rows("fields stage | filter stage in ['silver', 'gold'] or not ispresent(stage)"),
            [pairs(&[("stage", "silver")]), vec![]]
        );
        assert_eq!(
            rows("fields ms | filter ispresent(ms) | sort ms desc | limit 2"),
            [pairs(&[("ms", "120")]), pairs(&[("ms", "30")])]
        );
        assert_eq!(
            rows("stats count(*) as n, avg(ms), max(ms) by stage"),
            [
                pairs(&[
                    ("stage", "bronze"),
                    ("n", "2"),
                    ("avg(ms)", "75"),
                    ("max(ms)", "120")
                ]),
                pairs(&[
                    ("stage", "silver"),
                    ("n", "1"),
                    ("avg(ms)", "7"),
                    ("max(ms)", "7")
                ]),
                // the event without a stage is a group of its own, with no value for it
                pairs(&[("n", "1")]),
            ]
        );
        assert_eq!(
            rows("filter ispresent(level) | stats count() by bin(1m)"),
            [
                pairs(&[("bin(1m)", "2027-01-15 08:00:00.000"), ("count()", "2")]),
                pairs(&[("bin(1m)", "2027-01-15 08:01:00.000"), ("count()", "1")]),
            ]
        );
    }
}
