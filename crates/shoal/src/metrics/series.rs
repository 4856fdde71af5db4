//! Metric data: a series (namespace, name, dimensions, in an account and region) holds one
//! statistic set per minute — sample count, sum, minimum, maximum — from which any period and
//! standard statistic is computed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identifies a series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    /// `account:region`.
    pub scope: String,
    pub namespace: String,
    pub name: String,
    /// Sorted by name.
    pub dimensions: Vec<(String, String)>,
}

impl SeriesKey {
    pub fn new(
        scope: &str,
        namespace: &str,
        name: &str,
        mut dimensions: Vec<(String, String)>,
    ) -> SeriesKey {
        dimensions.sort();
        SeriesKey {
            scope: scope.into(),
            namespace: namespace.into(),
            name: name.into(),
            dimensions,
        }
    }

    /// The record key of the series (one line of text).
    pub fn text(&self) -> String {
        let dims: Vec<String> = self
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{}|{}|{}|{}",
            self.scope,
            self.namespace,
            self.name,
            dims.join(",")
        )
    }
}

/// The statistic set of one minute (or of a period, once merged).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    pub fn one(v: f64) -> Stat {
        Stat {
            count: 1.0,
            sum: v,
            min: v,
            max: v,
        }
    }

    pub fn merge(&mut self, o: &Stat) {
        self.count += o.count;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// A standard statistic by its API name.
    pub fn get(&self, statistic: &str) -> Option<f64> {
        Some(match statistic {
            "SampleCount" => self.count,
            "Sum" => self.sum,
            "Minimum" => self.min,
            "Maximum" => self.max,
            "Average" => {
                if self.count == 0.0 {
                    return None;
                }
                self.sum / self.count
            }
            _ => return None,
        })
    }
}

pub const STATISTICS: [&str; 5] = ["SampleCount", "Average", "Sum", "Minimum", "Maximum"];

/// A series' minutes (epoch seconds of the minute's start) and its unit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Series {
    pub minutes: BTreeMap<i64, Stat>,
    pub unit: Option<String>,
}

impl Series {
    pub fn add(&mut self, at: i64, s: Stat) {
        let minute = at - at.rem_euclid(60);
        self.minutes
            .entry(minute)
            .and_modify(|m| m.merge(&s))
            .or_insert(s);
    }

    /// The statistic sets of the periods of `period` seconds that start in `[start, end)`,
    /// aligned to `start`; periods without data are absent.
    pub fn periods(&self, start: i64, end: i64, period: i64) -> BTreeMap<i64, Stat> {
        let mut out: BTreeMap<i64, Stat> = BTreeMap::new();
        let period = period.max(60);
        for (m, s) in self.minutes.range(start..end) {
            let p = start + (m - start) / period * period;
            out.entry(p).and_modify(|x| x.merge(s)).or_insert(*s);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_merge_into_periods() {
        let mut s = Series::default();
        s.add(60, Stat::one(1.0));
        s.add(119, Stat::one(3.0));
        s.add(120, Stat::one(10.0));
        s.add(400, Stat::one(-2.0));
        let p = s.periods(60, 600, 120);
        assert_eq!(p.len(), 2);
        let first = p[&60];
        assert_eq!(
            (first.count, first.sum, first.min, first.max),
            (3.0, 14.0, 1.0, 10.0)
        );
        assert_eq!(first.get("Average"), Some(14.0 / 3.0));
        assert_eq!(p[&300].get("Minimum"), Some(-2.0));
        assert!(s.periods(600, 1200, 60).is_empty());
    }
}
