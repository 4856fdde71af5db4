//! EventBridge's six-field cron: `minutes hours day-of-month month day-of-week year`, with
//! `, - * /` everywhere, `?` in the day fields, `L`, `W`, `LW` in day-of-month and `L`, `nL`,
//! `d#n` in day-of-week (1 = Sunday), years 1970-2199.

use chrono::{Datelike, NaiveDate};

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    pub(crate) minutes: u64,
    pub(crate) hours: u32,
    pub(crate) day_of_month: DayOfMonth,
    pub(crate) months: u16,
    pub(crate) day_of_week: DayOfWeek,
    /// Bit `y - 1970` for every allowed year.
    pub(crate) years: [u64; 4],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DayOfMonth {
    /// `?`: the day-of-week field decides.
    Unspecified,
    Days(u32),
    /// `L`: the last day of the month.
    Last,
    /// `LW`: the last weekday of the month.
    LastWeekday,
    /// `nW`: the weekday nearest to day n, without leaving the month.
    NearestWeekday(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DayOfWeek {
    Unspecified,
    /// Bits 1..=7, 1 = Sunday.
    Days(u8),
    /// `nL`: the last such weekday of the month.
    Last(u32),
    /// `d#n`: the n-th such weekday of the month.
    Nth(u32, u32),
}

pub const FIRST_YEAR: i32 = 1970;
pub const LAST_YEAR: i32 = 2199;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Parses the inside of `cron(...)`. The error is a short reason (the caller words AWS's message).
pub fn parse(body: &str) -> Result<Cron, String> {
    let fields: Vec<&str> = body.split(' ').collect();
    if fields.len() != 6 || fields.iter().any(|f| f.is_empty()) {
        return Err(format!(
            "expected 6 fields separated by single spaces, got '{body}'"
        ));
    }
    let minutes = set(fields[0], 0, 59, &[])? as u64;
    let minutes = if fields[0].contains(['?', 'L', 'W', '#']) {
        return Err("minutes accept only numbers and , - * /".into());
    } else {
        minutes
    };
    let hours = set(fields[1], 0, 23, &[])? as u32;
    if fields[1].contains(['?', 'L', 'W', '#']) {
        return Err("hours accept only numbers and , - * /".into());
    }
    let months = set(fields[3], 1, 12, &MONTHS)? as u16;
    let day_of_month = day_of_month(fields[2])?;
    let day_of_week = day_of_week(fields[4])?;
    let years_mask = set_wide(fields[5], FIRST_YEAR as u32, LAST_YEAR as u32)?;
    match (&day_of_month, &day_of_week) {
        (DayOfMonth::Unspecified, DayOfWeek::Unspecified) => {
            return Err("day-of-month and day-of-week cannot both be ?".into())
        }
        (DayOfMonth::Unspecified, _) | (_, DayOfWeek::Unspecified) => {}
        _ => return Err("one of day-of-month and day-of-week must be ?".into()),
    }
    Ok(Cron {
        minutes,
        hours,
        day_of_month,
        months,
        day_of_week,
        years: years_mask,
    })
}

fn number(tok: &str, min: u32, max: u32, names: &[&str]) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(tok)) {
        return Ok(min + i as u32);
    }
    if tok.is_empty() || !tok.bytes().all(|b| b.is_ascii_digit()) || tok.len() > 4 {
        return Err(format!("'{tok}' is not a number"));
    }
    let n: u32 = tok
        .parse()
        .map_err(|_| format!("'{tok}' is not a number"))?;
    if n < min || n > max {
        return Err(format!("{n} is outside {min}-{max}"));
    }
    Ok(n)
}

/// Values of one field as a list of numbers in `min..=max`.
fn values(field: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(number(s, 1, max.max(1), &[])?)),
            None => (item, None),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (number(a, min, max, names)?, number(b, min, max, names)?)
        } else {
            let a = number(range, min, max, names)?;
            // `a/n` runs from a to the end of the range
            (a, if step.is_some() { max } else { a })
        };
        let step = step.unwrap_or(1);
        if lo <= hi {
            let mut v = lo;
            while v <= hi {
                out.push(v);
                v += step;
            }
        } else {
            // a wrapping range such as FRI-MON or 22-2
            let span = (max - lo + 1) + (hi - min + 1);
            let mut k = 0;
            while k < span {
                let v = if lo + k <= max {
                    lo + k
                } else {
                    min + (lo + k - max - 1)
                };
                out.push(v);
                k += step;
            }
        }
    }
    Ok(out)
}

fn set(field: &str, min: u32, max: u32, names: &[&str]) -> Result<u128, String> {
    if field.contains('?') {
        return Err("? is only allowed in day-of-month and day-of-week".into());
    }
    Ok(values(field, min, max, names)?
        .into_iter()
        .fold(0u128, |m, v| m | (1u128 << v)))
}

fn set_wide(field: &str, min: u32, max: u32) -> Result<[u64; 4], String> {
    if field.contains(['?', 'L', 'W', '#']) {
        return Err("year accepts only numbers and , - * /".into());
    }
    let mut m = [0u64; 4];
    for v in values(field, min, max, &[])? {
        let i = (v - min) as usize;
        m[i / 64] |= 1 << (i % 64);
    }
    Ok(m)
}

fn day_of_month(f: &str) -> Result<DayOfMonth, String> {
    Ok(match f {
        "?" => DayOfMonth::Unspecified,
        "L" => DayOfMonth::Last,
        "LW" => DayOfMonth::LastWeekday,
        _ if f.len() > 1 && f.ends_with('W') => {
            DayOfMonth::NearestWeekday(number(&f[..f.len() - 1], 1, 31, &[])?)
        }
        _ => {
            if f.contains(['L', 'W', '#']) {
                return Err(format!("'{f}' is not a valid day-of-month"));
            }
            DayOfMonth::Days(
                values(f, 1, 31, &[])?
                    .into_iter()
                    .fold(0, |m, v| m | (1 << v)),
            )
        }
    })
}

fn day_of_week(f: &str) -> Result<DayOfWeek, String> {
    Ok(match f {
        "?" => DayOfWeek::Unspecified,
        // `L` alone is the last day of the week: every Saturday (Quartz's reading)
        "L" => DayOfWeek::Days(1 << 7),
        _ if f.len() > 1 && f.ends_with('L') => {
            DayOfWeek::Last(number(&f[..f.len() - 1], 1, 7, &DAYS)?)
        }
        _ if f.contains('#') => {
            let (d, n) = f.split_once('#').unwrap_or((f, ""));
            DayOfWeek::Nth(number(d, 1, 7, &DAYS)?, number(n, 1, 5, &[])?)
        }
        _ => {
            if f.contains(['L', 'W']) && !DAYS.iter().any(|d| f.to_ascii_uppercase().contains(d)) {
                return Err(format!("'{f}' is not a valid day-of-week"));
            }
            DayOfWeek::Days(
                values(f, 1, 7, &DAYS)?
                    .into_iter()
                    .fold(0, |m, v| m | (1 << v)),
            )
        }
    })
}

fn last_day(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map(|d| d.day())
        .unwrap_or(28)
}

/// 1 = Sunday ... 7 = Saturday.
fn weekday(d: NaiveDate) -> u32 {
    d.weekday().num_days_from_sunday() + 1
}

impl Cron {
    pub(crate) fn year_allowed(&self, y: i32) -> bool {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&y) {
            return false;
        }
        let i = (y - FIRST_YEAR) as usize;
        self.years[i / 64] & (1 << (i % 64)) != 0
    }

    /// The last year any fire time can fall in.
    pub(crate) fn last_year(&self) -> Option<i32> {
        (FIRST_YEAR..=LAST_YEAR)
            .rev()
            .find(|y| self.year_allowed(*y))
    }

    pub(crate) fn hours(&self) -> impl Iterator<Item = u32> + '_ {
        (0..24).filter(|h| self.hours & (1 << h) != 0)
    }

    pub(crate) fn minutes(&self) -> impl Iterator<Item = u32> + '_ {
        (0..60).filter(|m| self.minutes & (1 << m) != 0)
    }

    /// Whether the schedule runs on this (local) date.
    pub fn matches_date(&self, d: NaiveDate) -> bool {
        if !self.year_allowed(d.year()) || self.months & (1 << d.month()) == 0 {
            return false;
        }
        let last = last_day(d.year(), d.month());
        let dom_ok = match &self.day_of_month {
            DayOfMonth::Unspecified => true,
            DayOfMonth::Days(bits) => bits & (1 << d.day()) != 0,
            DayOfMonth::Last => d.day() == last,
            DayOfMonth::LastWeekday => {
                let mut day = last;
                while let Some(x) = d.with_day(day) {
                    if (2..=6).contains(&weekday(x)) {
                        break;
                    }
                    day -= 1;
                }
                d.day() == day
            }
            DayOfMonth::NearestWeekday(n) => {
                if *n > last {
                    false
                } else {
                    let target = d.with_day(*n).map(weekday).unwrap_or(2);
                    let day = match target {
                        7 if *n == 1 => 3,        // Saturday the 1st: Monday the 3rd
                        7 => n - 1,               // Saturday: the Friday before
                        1 if *n == last => n - 2, // Sunday the last: the Friday before
                        1 => n + 1,               // Sunday: the Monday after
                        _ => *n,
                    };
                    d.day() == day
                }
            }
        };
        let w = weekday(d);
        let dow_ok = match &self.day_of_week {
            DayOfWeek::Unspecified => true,
            DayOfWeek::Days(bits) => bits & (1 << w) != 0,
            DayOfWeek::Last(k) => w == *k && d.day() + 7 > last,
            DayOfWeek::Nth(k, n) => w == *k && (d.day() - 1) / 7 + 1 == *n,
        };
        dom_ok && dow_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn parses_aws_forms() {
        for ok in [
            "0 7 * * ? *",
            "0/15 * * * ? *",
            "0 18 ? * MON-FRI *",
            "15 10 ? * 6L 2002-2005",
            "0 2 ? * SAT#3 *",
            "0 12 15W * ? *",
            "0 12 L * ? *",
            "0-59/10 0-23/2 ? * * *",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0 12 * * ?",
            "0 12 * * ? * *",
            "60 12 * * ? *",
            "0 24 * * ? *",
            "0 12 32 * ? *",
            "0 12 ? * 0 *",
            "0 12 * * ? 2200",
            "0 12 1 * MON *",
            "0 12 * * MON *",
            "0 1 * * * *",
            "INVALID",
            "7 20 * * NOT *",
            "0 dummy ? * MON-FRI *",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn day_rules() {
        let last_friday = parse("0 12 ? * 6L *").unwrap();
        assert!(last_friday.matches_date(date(2024, 1, 26)));
        assert!(!last_friday.matches_date(date(2024, 1, 19)));
        let w = parse("0 12 15W * ? *").unwrap();
        assert!(w.matches_date(date(2024, 6, 14))); // the 15th is a Saturday
        let first = parse("0 12 1W * ? *").unwrap();
        assert!(first.matches_date(date(2024, 6, 3))); // Saturday the 1st → Monday the 3rd
        let third_sat = parse("0 2 ? * SAT#3 *").unwrap();
        assert!(third_sat.matches_date(date(2024, 1, 20)));
        let wrap = parse("0 0 ? * FRI-MON *").unwrap();
        assert!(wrap.matches_date(date(2024, 2, 4))); // Sunday
        assert!(!wrap.matches_date(date(2024, 2, 6))); // Tuesday
    }
}
