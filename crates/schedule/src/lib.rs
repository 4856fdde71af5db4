//! # schedule — EventBridge schedule expressions
//!
//! `cron(...)`, `rate(...)` and (for EventBridge Scheduler) `at(...)`, validated the way each
//! service validates them, with next fire times in any IANA time zone and AWS's daylight-saving
//! rules: a time that does not exist (clocks spring forward) is skipped, a time that happens
//! twice (clocks fall back) fires once.
//!
//! ```
//! use schedule::{Expression, Service};
//! let e = Expression::parse("cron(0 7 * * ? *)", Service::Rule).unwrap();
//! let from = "2024-02-02T00:00:00Z".parse().unwrap();
//! let next: Vec<String> = e.fire_times(from, chrono_tz::UTC).take(2).map(|t| t.to_rfc3339()).collect();
//! assert_eq!(next, ["2024-02-02T07:00:00+00:00", "2024-02-03T07:00:00+00:00"]);
//! ```

pub mod cron;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Which service validates the expression: rules accept `cron` and `rate`; Scheduler also `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Rule,
    Scheduler,
}

/// A rejected expression, with the message the service returns (as a `ValidationException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidExpression {
    pub message: String,
    /// Why, in our words (AWS gives no detail).
    pub reason: String,
}

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expression {
    Cron(cron::Cron),
    Rate(Duration),
    /// A one-time schedule at this local date and time.
    At(NaiveDateTime),
}

fn invalid(text: &str, service: Service, reason: impl Into<String>) -> InvalidExpression {
    InvalidExpression {
        message: match service {
            Service::Rule => "Parameter ScheduleExpression is not valid.".to_string(),
            Service::Scheduler => format!("Invalid Schedule Expression {text}."),
        },
        reason: reason.into(),
    }
}

impl Expression {
    /// Parses and validates an expression exactly as sent (AWS accepts no extra spaces).
    pub fn parse(text: &str, service: Service) -> Result<Expression, InvalidExpression> {
        let bad = |r: &str| invalid(text, service, r);
        if let Some(body) = text.strip_prefix("cron(").and_then(|b| b.strip_suffix(')')) {
            return cron::parse(body).map(Expression::Cron).map_err(|r| bad(&r));
        }
        if let Some(body) = text.strip_prefix("rate(").and_then(|b| b.strip_suffix(')')) {
            return rate(body).map(Expression::Rate).map_err(|r| bad(&r));
        }
        if let Some(body) = text.strip_prefix("at(").and_then(|b| b.strip_suffix(')')) {
            if service == Service::Rule {
                return Err(bad("EventBridge rules accept only cron() and rate()"));
            }
            return NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M:%S")
                .ok()
                .filter(|_| body.len() == 19)
                .map(Expression::At)
                .ok_or_else(|| bad("at() takes yyyy-mm-ddThh:mm:ss"));
        }
        Err(bad("expected cron(...), rate(...) or at(...)"))
    }

    /// Fire times strictly after `from`, in order, in time zone `tz` (rules always use UTC).
    /// `rate()` counts from `from`, as a schedule created at that moment would.
    pub fn fire_times(&self, from: DateTime<Utc>, tz: Tz) -> FireTimes<'_> {
        FireTimes {
            expr: self,
            tz,
            after: from,
        }
    }

    /// The first fire time strictly after `after`, if any.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        match self {
            Expression::Rate(d) => Some(after + *d),
            Expression::At(local) => {
                let t = resolve(tz, *local)?;
                (t > after).then_some(t)
            }
            Expression::Cron(c) => next_cron(c, after, tz),
        }
    }
}

/// The iterator behind [`Expression::fire_times`].
pub struct FireTimes<'a> {
    expr: &'a Expression,
    tz: Tz,
    after: DateTime<Utc>,
}

impl Iterator for FireTimes<'_> {
    type Item = DateTime<Utc>;
    fn next(&mut self) -> Option<DateTime<Utc>> {
        let t = self.expr.next_after(self.after, self.tz)?;
        self.after = t;
        Some(t)
    }
}

/// `rate(value unit)`: a positive integer; `minute`/`hour`/`day` for 1, plural otherwise.
fn rate(body: &str) -> Result<Duration, String> {
    let (n, unit) = body.split_once(' ').ok_or("expected 'value unit'")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{n}' is not a positive integer"));
    }
    let v: i64 = n.parse().map_err(|_| format!("'{n}' is too large"))?;
    if v <= 0 {
        return Err("the value must be positive".into());
    }
    let expected_plural = v != 1;
    let (base, plural) = match unit {
        "minute" => (60, false),
        "minutes" => (60, true),
        "hour" => (3600, false),
        "hours" => (3600, true),
        "day" => (86400, false),
        "days" => (86400, true),
        _ => {
            return Err(format!(
                "unknown unit '{unit}' (minute(s), hour(s), day(s))"
            ))
        }
    };
    if plural != expected_plural {
        return Err("the unit is singular for 1 and plural otherwise".into());
    }
    v.checked_mul(base)
        .and_then(Duration::try_seconds)
        .ok_or_else(|| "the rate is too large".to_string())
}

/// A local time in `tz` as UTC: skipped when it does not exist, the earlier when it is ambiguous.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

fn next_cron(c: &cron::Cron, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let last_year = c.last_year()?;
    // start one day early so a time zone ahead of UTC cannot skip the first local day
    let mut day: NaiveDate = after.with_timezone(&tz).date_naive().pred_opt()?;
    loop {
        if day.year() > last_year {
            return None;
        }
        if c.matches_date(day) {
            for h in c.hours() {
                for m in c.minutes() {
                    let local = day.and_hms_opt(h, m, 0)?;
                    if let Some(t) = resolve(tz, local) {
                        if t > after {
                            return Some(t);
                        }
                    }
                }
            }
        }
        day = day.succ_opt()?;
    }
}

/// Parses an IANA time zone name (`Europe/London`), as `ScheduleExpressionTimezone` takes it.
pub fn time_zone(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(expr: &str, service: Service, from: &str, tz: &str, n: usize) -> Vec<String> {
        let e = Expression::parse(expr, service).unwrap();
        let from: DateTime<Utc> = from.parse().unwrap();
        e.fire_times(from, time_zone(tz).unwrap())
            .take(n)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .collect()
    }

    #[test]
    fn daily_at_seven_in_utc_and_in_a_zone() {
        assert_eq!(
            times(
                "cron(0 7 * * ? *)",
                Service::Rule,
                "2024-02-02T00:00:00Z",
                "UTC",
                2
            ),
            ["2024-02-02T07:00:00Z", "2024-02-03T07:00:00Z"]
        );
        // 07:00 in London is 07:00Z in winter and 06:00Z in summer
        assert_eq!(
            times(
                "cron(0 7 * * ? *)",
                Service::Scheduler,
                "2024-03-30T12:00:00Z",
                "Europe/London",
                2
            ),
            ["2024-03-31T06:00:00Z", "2024-04-01T06:00:00Z"]
        );
    }

    #[test]
    fn spring_forward_skips_and_fall_back_fires_once() {
        // 01:30 does not exist in London on 2024-03-31 (01:00 → 02:00): that day is skipped
        assert_eq!(
            times(
                "cron(30 1 * * ? *)",
                Service::Scheduler,
                "2024-03-30T12:00:00Z",
                "Europe/London",
                2
            ),
            ["2024-04-01T00:30:00Z", "2024-04-02T00:30:00Z"]
        );
        // 01:30 happens twice on 2024-10-27: it fires once, at the first
        assert_eq!(
            times(
                "cron(30 1 * * ? *)",
                Service::Scheduler,
                "2024-10-26T12:00:00Z",
                "Europe/London",
                2
            ),
            ["2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"]
        );
    }

    #[test]
    fn rate_units_and_plurals() {
        assert_eq!(
            Expression::parse("rate(1 minute)", Service::Rule),
            Ok(Expression::Rate(Duration::minutes(1)))
        );
        assert_eq!(
            Expression::parse("rate(12 hours)", Service::Rule),
            Ok(Expression::Rate(Duration::hours(12)))
        );
        for bad in [
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(-1 minutes)",
            "rate(10 MINUTES)",
            "rate( 10 minutes )",
            "rate(10)",
            "rate(1 week)",
        ] {
            assert!(Expression::parse(bad, Service::Rule).is_err(), "{bad}");
        }
    }

    #[test]
    fn at_is_scheduler_only_and_fires_once() {
        let err = Expression::parse("at(2030-01-01T00:00:00)", Service::Rule).unwrap_err();
        assert_eq!(err.message, "Parameter ScheduleExpression is not valid.");
        assert_eq!(
            times(
                "at(2030-01-01T00:00:00)",
                Service::Scheduler,
                "2029-12-31T00:00:00Z",
                "UTC",
                5
            ),
            ["2030-01-01T00:00:00Z"]
        );
        assert_eq!(
            Expression::parse("at(2030-01-01T00:00)", Service::Scheduler)
                .unwrap_err()
                .message,
            "Invalid Schedule Expression at(2030-01-01T00:00)."
        );
    }

    #[test]
    fn schedules_end_with_their_years() {
        assert_eq!(
            times(
                "cron(30 9 * * ? 2025)",
                Service::Rule,
                "2025-12-29T10:00:00Z",
                "UTC",
                5
            ),
            ["2025-12-30T09:30:00Z", "2025-12-31T09:30:00Z"]
        );
        assert!(times(
            "cron(0 0 1 1 ? 1999)",
            Service::Rule,
            "2024-01-01T00:00:00Z",
            "UTC",
            5
        )
        .is_empty());
    }

    proptest::proptest! {
        #[test]
        fn fire_times_increase_and_match(min in 0u32..60, hour in 0u32..24, start in 0i64..2_000_000_000) {
            let e = Expression::parse(&format!("cron({min} {hour} * * ? *)"), Service::Rule).unwrap();
            let from = DateTime::from_timestamp(start, 0).unwrap();
            let ts: Vec<_> = e.fire_times(from, chrono_tz::UTC).take(3).collect();
            proptest::prop_assert_eq!(ts.len(), 3);
            proptest::prop_assert!(ts[0] > from && ts[0] - from <= Duration::days(1));
            for w in ts.windows(2) {
                proptest::prop_assert_eq!(w[1] - w[0], Duration::days(1));
            }
            for t in ts {
                proptest::prop_assert_eq!(t.format("%M %H").to_string(), format!("{min:02} {hour:02}"));
            }
        }

        #[test]
        fn parsing_never_panics(s in "(cron|rate|at)\\([ 0-9A-Z*?/,#LW-]{0,30}\\)") {
            let _ = Expression::parse(&s, Service::Scheduler);
        }
    }
}
