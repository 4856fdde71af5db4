//! Retry and Catch decisions: pure functions of the retriers/catchers, the error name and the
//! attempts made so far.

use crate::definition::{Catcher, Retrier};
use chrono::Duration;

/// Whether `ErrorEquals` matches an error name. `States.ALL` matches everything except the
/// terminal `States.Runtime` and `States.DataLimitExceeded`; `States.TaskFailed` matches any
/// task error except `States.Timeout` (AWS's error-handling guide).
pub fn matches(error_equals: &[String], error: &str) -> bool {
    error_equals.iter().any(|e| {
        e == error
            || (e == "States.ALL"
                && error != "States.Runtime"
                && error != "States.DataLimitExceeded")
            || (e == "States.TaskFailed" && !error.starts_with("States.") && !error.is_empty())
    })
}

/// The first catcher that handles `error`.
pub fn find_catcher<'a>(catchers: &'a [Catcher], error: &str) -> Option<&'a Catcher> {
    catchers.iter().find(|c| matches(&c.error_equals, error))
}

/// Attempts made so far, per retrier (AWS counts each retrier separately).
#[derive(Debug, Default, Clone)]
pub struct Attempts(pub Vec<u64>);

/// The delay before the next attempt, or `None` when no retrier applies or attempts are spent.
/// `jitter_sample` is a number in `[0, 1)`; FULL jitter scales the delay by it.
pub fn decide(
    retriers: &[Retrier],
    error: &str,
    attempts: &mut Attempts,
    jitter_sample: f64,
) -> Option<Duration> {
    let (i, r) = retriers
        .iter()
        .enumerate()
        .find(|(_, r)| matches(&r.error_equals, error))?;
    if attempts.0.len() < retriers.len() {
        attempts.0.resize(retriers.len(), 0);
    }
    let done = attempts.0[i];
    if done >= r.max_attempts {
        return None;
    }
    attempts.0[i] += 1;
    Some(Duration::milliseconds(
        (delay_seconds(r, done, jitter_sample) * 1000.0).round() as i64,
    ))
}

/// `IntervalSeconds × BackoffRate^attempt`, capped by `MaxDelaySeconds`, then jittered.
pub fn delay_seconds(r: &Retrier, attempt: u64, jitter_sample: f64) -> f64 {
    let mut d = r.interval_seconds * r.backoff_rate.powi(attempt.min(1000) as i32);
    if let Some(max) = r.max_delay_seconds {
        d = d.min(max);
    }
    if r.jitter {
        d *= jitter_sample.clamp(0.0, 1.0);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retrier(
        errors: &[&str],
        interval: f64,
        max: u64,
        rate: f64,
        cap: Option<f64>,
        jitter: bool,
    ) -> Retrier {
        Retrier {
            error_equals: errors.iter().map(|s| s.to_string()).collect(),
            interval_seconds: interval,
            max_attempts: max,
            backoff_rate: rate,
            max_delay_seconds: cap,
            jitter,
        }
    }

    #[test]
    fn states_all_skips_terminal_errors() {
        let all = vec!["States.ALL".to_string()];
        assert!(matches(&all, "Custom"));
        assert!(matches(&all, "States.Timeout"));
        assert!(!matches(&all, "States.Runtime"));
        assert!(!matches(&all, "States.DataLimitExceeded"));
        let tf = vec!["States.TaskFailed".to_string()];
        assert!(matches(&tf, "Lambda.Unknown"));
        assert!(!matches(&tf, "States.Timeout"));
    }

    #[test]
    fn backoff_arithmetic_and_cap() {
        let r = retrier(&["E"], 2.0, 5, 3.0, Some(30.0), false);
        let ds: Vec<f64> = (0..4).map(|a| delay_seconds(&r, a, 0.5)).collect();
        assert_eq!(ds, vec![2.0, 6.0, 18.0, 30.0]);
    }

    #[test]
    fn full_jitter_stays_within_bounds() {
        let r = retrier(&["E"], 10.0, 3, 2.0, None, true);
        for s in [0.0, 0.25, 0.999] {
            let d = delay_seconds(&r, 2, s);
            assert!((0.0..=40.0).contains(&d));
        }
        assert_eq!(delay_seconds(&r, 2, 0.5), 20.0);
    }

    #[test]
    fn attempts_run_out_per_retrier() {
        let rs = vec![
            retrier(&["A"], 1.0, 2, 2.0, None, false),
            retrier(&["States.ALL"], 1.0, 1, 2.0, None, false),
        ];
        let mut a = Attempts::default();
        assert_eq!(decide(&rs, "A", &mut a, 0.0), Some(Duration::seconds(1)));
        assert_eq!(decide(&rs, "A", &mut a, 0.0), Some(Duration::seconds(2)));
        assert_eq!(decide(&rs, "A", &mut a, 0.0), None);
        assert_eq!(decide(&rs, "B", &mut a, 0.0), Some(Duration::seconds(1)));
        assert_eq!(decide(&rs, "B", &mut a, 0.0), None);
        assert_eq!(decide(&rs, "States.Runtime", &mut a, 0.0), None);
    }

    #[test]
    fn zero_max_attempts_never_retries() {
        let rs = vec![retrier(&["A"], 1.0, 0, 2.0, None, false)];
        assert_eq!(decide(&rs, "A", &mut Attempts::default(), 0.0), None);
    }
}
