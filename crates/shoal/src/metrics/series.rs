//! Metric data: a series (namespace, name, dimensions, in an account and region) holds one
//! statistic set per minute — sample count, sum, minimum, maximum — from which any period and
//! standard statistic is computed, and a sketch of the minute's values for percentiles
//! (`p99`, `p50`, `p99.9`).

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

/// The percentile a statistic name asks for (`p99` → 0.99, `p99.9` → 0.999), if it is one.
pub fn percentile(statistic: &str) -> Option<f64> {
    let n: f64 = statistic.strip_prefix('p')?.parse().ok()?;
    let digits = statistic.split_once('.').map_or(0, |(_, d)| d.len());
    ((0.0..=100.0).contains(&n) && digits <= 10).then_some(n / 100.0)
}

/// Whether the API takes `statistic` (a standard statistic or a percentile).
pub fn known(statistic: &str) -> bool {
    STATISTICS.contains(&statistic) || percentile(statistic).is_some()
}

/// Relative accuracy of the percentile sketch: an answer is within 1% of a value that was
/// recorded at that rank.
const ACCURACY: f64 = 0.01;

/// How values spread: counts in logarithmic buckets, each 2% wide, as DDSketch keeps them.
/// As on CloudWatch, there are no percentiles for data with negative values or published as
/// statistic sets; such a sketch is not `usable`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sketch {
    pub buckets: BTreeMap<i32, f64>,
    pub zeros: f64,
    pub usable: bool,
}

impl Default for Sketch {
    fn default() -> Sketch {
        Sketch {
            buckets: BTreeMap::new(),
            zeros: 0.0,
            usable: true,
        }
    }
}

fn gamma() -> f64 {
    (1.0 + ACCURACY) / (1.0 - ACCURACY)
}

impl Sketch {
    /// Records what a statistic set says of its values: all of them, when they are one
    /// value repeated; otherwise the sketch can no longer answer.
    fn add(&mut self, s: &Stat) {
        if s.min != s.max || s.min < 0.0 {
            self.usable = false;
        } else if s.min == 0.0 {
            self.zeros += s.count;
        } else {
            let i = (s.min.ln() / gamma().ln()).ceil() as i32;
            *self.buckets.entry(i).or_default() += s.count;
        }
    }

    fn merge(&mut self, o: &Sketch) {
        self.usable &= o.usable;
        self.zeros += o.zeros;
        for (i, c) in &o.buckets {
            *self.buckets.entry(*i).or_default() += c;
        }
    }

    /// The value at quantile `q` (0..=1) of the recorded values, if it can tell.
    pub fn quantile(&self, q: f64, stat: &Stat) -> Option<f64> {
        let total = self.zeros + self.buckets.values().sum::<f64>();
        if !self.usable || total <= 0.0 {
            return None;
        }
        let rank = q * (total - 1.0);
        let mut seen = self.zeros;
        if rank < seen {
            return Some(0.0);
        }
        let g = gamma();
        for (i, c) in &self.buckets {
            seen += c;
            if rank < seen {
                let v = 2.0 * g.powi(*i) / (g + 1.0);
                // the bucket's middle, kept within what was recorded
                return Some(v.clamp(stat.min, stat.max));
            }
        }
        Some(stat.max)
    }
}

/// A period's statistic set and the sketch of its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub stat: Stat,
    pub sketch: Sketch,
}

impl Period {
    /// A standard statistic or a percentile by its API name.
    pub fn get(&self, statistic: &str) -> Option<f64> {
        match percentile(statistic) {
            Some(q) => self.sketch.quantile(q, &self.stat),
            None => self.stat.get(statistic),
        }
    }
}

/// A series' minutes (epoch seconds of the minute's start) and its unit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Series {
    pub minutes: BTreeMap<i64, Stat>,
    pub unit: Option<String>,
    /// The sketch of each minute's values.
    #[serde(default)]
    pub sketches: BTreeMap<i64, Sketch>,
}

impl Series {
    pub fn add(&mut self, at: i64, s: Stat) {
        let minute = at - at.rem_euclid(60);
        self.minutes
            .entry(minute)
            .and_modify(|m| m.merge(&s))
            .or_insert(s);
        self.sketches.entry(minute).or_default().add(&s);
    }

    /// The statistic sets of the periods of `period` seconds that start in `[start, end)`,
    /// aligned to `start`; periods without data are absent.
    pub fn periods(&self, start: i64, end: i64, period: i64) -> BTreeMap<i64, Period> {
        let mut out: BTreeMap<i64, Period> = BTreeMap::new();
        let period = period.max(60);
        // minutes stored before sketches were kept have none to give
        let unknown = Sketch {
            usable: false,
            ..Sketch::default()
        };
        for (m, s) in self.minutes.range(start..end) {
            let p = start + (m - start) / period * period;
            let sketch = self.sketches.get(m).unwrap_or(&unknown);
            match out.get_mut(&p) {
                Some(x) => {
                    x.stat.merge(s);
                    x.sketch.merge(sketch);
                }
                None => {
                    out.insert(
                        p,
                        Period {
                            stat: *s,
                            sketch: sketch.clone(),
                        },
                    );
                }
            }
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
        let first = p[&60].stat;
        assert_eq!(
            (first.count, first.sum, first.min, first.max),
            (3.0, 14.0, 1.0, 10.0)
        );
        assert_eq!(p[&60].get("Average"), Some(14.0 / 3.0));
        assert_eq!(p[&300].get("Minimum"), Some(-2.0));
        assert!(s.periods(600, 1200, 60).is_empty());
    }

    #[test]
    fn percentiles_come_within_a_percent() {
        let mut s = Series::default();
        for i in 1..=1000 {
            s.add(i % 120, Stat::one(i as f64));
        }
        let p = &s.periods(0, 120, 120)[&0];
        for (name, want) in [
            ("p50", 500.0),
            ("p99", 990.0),
            ("p99.9", 999.0),
            ("p100", 1000.0),
        ] {
            let got = p.get(name).unwrap();
            assert!((got - want).abs() <= want * 0.011, "{name}: {got}");
        }
        assert_eq!(p.get("p0"), Some(1.0));
        // negative values or statistic sets: no percentiles, as on CloudWatch
        s.add(0, Stat::one(-1.0));
        assert_eq!(s.periods(0, 120, 120)[&0].get("p50"), None);
        let mut t = Series::default();
        t.add(
            0,
            Stat {
                count: 2.0,
                sum: 3.0,
                min: 1.0,
                max: 2.0,
            },
        );
        assert_eq!(t.periods(0, 60, 60)[&0].get("p50"), None);
        assert_eq!(t.periods(0, 60, 60)[&0].get("Sum"), Some(3.0));
        assert!(known("p99.99") && known("Sum") && !known("p101") && !known("q5"));
    }
}
