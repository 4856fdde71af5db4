//! How long log events live, as CloudWatch Logs has it: PutLogEvents takes events from the last
//! 14 days (and within the group's retention) up to 2 hours ahead and refuses the rest by
//! position; reads skip events past the group's retention; a sweep deletes them.

use super::{Batch, Group, Logs, LogsError, Result};
use crate::store::{Record, Records, Scan};
use chrono::{DateTime, Utc};

const DAY_MS: i64 = 86_400_000;
/// PutLogEvents refuses events older than this.
const MAX_AGE_MS: i64 = 14 * DAY_MS;
/// ... or further ahead than this.
const MAX_AHEAD_MS: i64 = 2 * 3_600_000;
/// ... and a call whose kept events span more than this.
const MAX_SPAN_MS: i64 = DAY_MS;
/// ... or whose messages, at 26 bytes more each, exceed this.
pub const MAX_BATCH_BYTES: usize = 1_048_576;

impl Group {
    /// The time (ms) of the oldest event the group keeps at `now_ms`; `None` keeps all.
    pub fn kept_from(&self, now_ms: i64) -> Option<i64> {
        self.retention_days
            .map(|d| now_ms.saturating_sub(i64::from(d).saturating_mul(DAY_MS)))
    }
}

/// The events of a PutLogEvents call that are not stored, by position, as AWS's
/// `rejectedLogEventsInfo` names them (the events are in time order, so each kind is a run).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rejected {
    /// Events before this index are more than 14 days old.
    pub too_old_end: Option<usize>,
    /// Events before this index (and past the too-old ones) are older than the retention.
    pub expired_end: Option<usize>,
    /// Events from this index on are more than 2 hours ahead.
    pub too_new_start: Option<usize>,
}

impl Rejected {
    pub fn is_empty(&self) -> bool {
        *self == Rejected::default()
    }
}

/// Splits a PutLogEvents call's events (timestamps in time order) into those to store (a range
/// of positions) and those refused; kept events that span more than a day fail the whole call.
pub fn admit(
    timestamps: &[i64],
    kept_from: Option<i64>,
    now_ms: i64,
) -> Result<(std::ops::Range<usize>, Rejected)> {
    let too_old = timestamps.partition_point(|&t| t < now_ms - MAX_AGE_MS);
    let expired = match kept_from {
        Some(k) => too_old + timestamps[too_old..].partition_point(|&t| t < k),
        None => too_old,
    };
    let too_new = timestamps.partition_point(|&t| t <= now_ms + MAX_AHEAD_MS);
    let kept = expired..too_new.max(expired);
    if !kept.is_empty() && timestamps[kept.end - 1] - timestamps[kept.start] > MAX_SPAN_MS {
        return Err(LogsError::InvalidParameterException(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.".into(),
        ));
    }
    let rejected = Rejected {
        too_old_end: (too_old > 0).then_some(too_old),
        expired_end: (expired > too_old).then_some(expired),
        too_new_start: (too_new < timestamps.len()).then_some(too_new.max(expired)),
    };
    Ok((kept, rejected))
}

impl Logs {
    /// Deletes the stored batches whose events are all past their group's retention, and
    /// gives how many. A group's batches are listed in time order (of their earliest events),
    /// so the sweep stops at the first batch it must keep.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<usize> {
        let groups: Vec<Group> = self.store.list(Scan::default())?;
        let mut deleted = 0;
        for g in groups {
            if let Some(kept_from) = g.kept_from(now.timestamp_millis()) {
                deleted += self.sweep_group(&g, kept_from).await?;
            }
        }
        Ok(deleted)
    }

    pub(super) async fn sweep_group(&self, g: &Group, kept_from: i64) -> Result<usize> {
        let expired = |b: &Batch| b.events.iter().all(|e| e.timestamp < kept_from);
        Ok(crate::store::delete_expired(&*self.store, &g.key(), expired).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{Position, Source};

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn events_outside_the_window_are_refused_by_position() {
        let ts = [
            NOW - 15 * DAY_MS,
            NOW - 3 * DAY_MS,
            NOW - 1000,
            NOW,
            NOW + 3 * 3_600_000,
        ];
        let (kept, rejected) = admit(&ts, Some(NOW - DAY_MS), NOW).unwrap();
        assert_eq!(kept, 2..4);
        assert_eq!(
            rejected,
            Rejected {
                too_old_end: Some(1),
                expired_end: Some(2),
                too_new_start: Some(4),
            }
        );
        let (kept, rejected) = admit(&ts[2..4], None, NOW).unwrap();
        assert_eq!((kept, rejected.is_empty()), (0..2, true));
    }

    /// Against a real store: batches all past the retention are deleted, oldest first; reads
    /// skip expired events wherever they are.
    #[test]
    fn the_sweep_deletes_batches_past_the_retention_and_reads_skip_them() {
        let f = crate::logs::Fixture::new();
        let (logs, rt, scope) = (&f.logs, &f.rt, &f.scope);
        let now = Utc::now().timestamp_millis();
        let line = |days_ago: i64, m: &str| (now - days_ago * DAY_MS, m.to_string());
        rt.block_on(async {
            logs.write(scope, "/app", "s", vec![line(5, "old"), line(4, "old too")])
                .await
                .unwrap();
            logs.write(
                scope,
                "/app",
                "s",
                vec![line(3, "expired"), line(0, "kept")],
            )
            .await
            .unwrap();
            logs.write(scope, "/app", "s", vec![line(2, "late and expired")])
                .await
                .unwrap();
            logs.set_retention(scope, "/app", Some(1)).await.unwrap();
        });
        let g = logs.group(scope, "/app").unwrap();
        let read = |backward| {
            let q = super::super::Query {
                from: Position::at(g.kept_from(now).unwrap()),
                to: Position::LAST,
                backward,
                limit: 10,
                keep: &|_, _| true,
            };
            let page = logs.read(&[Source::Group(&g.key())], &q).unwrap();
            page.events
                .into_iter()
                .map(|f| f.event.message)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            (read(false), read(true)),
            (vec!["kept".to_string()], vec!["kept".into()])
        );
        let batches = |logs: &Logs| -> Vec<Batch> {
            (logs.store.list(Scan {
                owner: Some(&g.key()),
                ..Default::default()
            }))
            .unwrap()
        };
        // the writes' events were cut into batches of one each (more than a minute apart);
        // in time order, set_retention's sweep reached every one past the retention
        assert_eq!(batches(logs).len(), 1);
        let later = Utc::now() + chrono::Duration::days(2);
        assert_eq!(rt.block_on(logs.sweep(later)).unwrap(), 1);
        assert!(batches(logs).is_empty());
    }

    #[test]
    fn all_refused_keeps_nothing_and_a_span_over_a_day_fails() {
        let (kept, rejected) = admit(&[NOW - 20 * DAY_MS], None, NOW).unwrap();
        assert!(kept.is_empty());
        assert_eq!(rejected.too_old_end, Some(1));
        let (kept, rejected) = admit(&[NOW + DAY_MS], None, NOW).unwrap();
        assert!(kept.is_empty());
        assert_eq!(rejected.too_new_start, Some(0));
        assert!(admit(&[NOW - 2 * DAY_MS, NOW], None, NOW).is_err());
    }
}
