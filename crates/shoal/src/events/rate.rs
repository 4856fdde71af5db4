//! `InvocationRateLimitPerSecond` of API destinations: at most that many calls in any one
//! second. A delivery over the limit waits for the next free slot; waiting costs it no retry
//! attempt, as on AWS, where throttled invocations queue up rather than fail.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Limiter {
    /// The start times of the calls of the last second, by destination ARN.
    calls: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Limiter {
    /// Takes a slot for a call to `key` now (`None`), or says how long to wait for one.
    pub fn slot(&self, key: &str, per_second: u64) -> Option<Duration> {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let recent = calls.entry(key.to_string()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= second)
        {
            recent.pop_front();
        }
        if (recent.len() as u64) < per_second.max(1) {
            recent.push_back(now);
            return None;
        }
        let oldest = recent.front().copied().unwrap_or(now);
        Some((oldest + second).saturating_duration_since(now) + Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::Limiter;

    #[test]
    fn calls_over_the_rate_wait_for_the_next_second() {
        let l = Limiter::default();
        assert_eq!(l.slot("a", 2), None);
        assert_eq!(l.slot("a", 2), None);
        let wait = l
            .slot("a", 2)
            .expect("a third call in the same second waits");
        assert!(wait > std::time::Duration::from_millis(900), "{wait:?}");
        // destinations are limited separately
        assert_eq!(l.slot("b", 2), None);
        std::thread::sleep(wait);
        assert_eq!(l.slot("a", 2), None);
    }
}
