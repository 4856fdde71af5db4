//! Execution retention: as on AWS, a Standard execution is kept for 90 days after it closes, then
//! deleted with its history, map runs and task tokens, so that a server that runs for months
//! does not grow without bound. `shoal serve --execution-retention` sets the period.

use super::error::Result;
use super::model::{Execution, MapEffect, MapRun, Token};
use super::Sfn;
use crate::store::{delete, Record, Records, Scan, Write};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

/// How long closed executions are kept: `None` is for ever.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retention(pub Option<Duration>);

/// Executions looked at per store scan.
const PAGE: usize = 256;

/// How a `--execution-retention` value reads: `90d`, `12h`, `30m`, `45s`, or `forever`.
pub fn parse_retention(text: &str) -> std::result::Result<Retention, String> {
    if text == "forever" {
        return Ok(Retention(None));
    }
    let bad = || {
        format!("{text:?} is not a retention: give a number with s, m, h or d (90d), or forever")
    };
    let unit = text.chars().last().ok_or_else(bad)?;
    let n: i64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    let d = match unit {
        's' => Duration::try_seconds(n),
        'm' => Duration::try_minutes(n),
        'h' => Duration::try_hours(n),
        'd' => Duration::try_days(n),
        _ => None,
    };
    d.filter(|d| *d > Duration::zero())
        .map(|d| Retention(Some(d)))
        .ok_or_else(bad)
}

impl Sfn {
    /// Deletes the executions that closed before `cutoff`, with what belongs to them, and the
    /// task tokens left by deleted executions. Gives how many executions it deleted.
    pub async fn sweep(&self, cutoff: DateTime<Utc>) -> Result<usize> {
        let mut deleted = 0;
        for status in ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"] {
            // executions sort by start: one that started after the cutoff closed after it too
            deleted += (self.sweep_status(
                status,
                cutoff,
                |e: &Execution| e.start,
                |e| {
                    let closed = e.stop.unwrap_or(e.start);
                    (closed < cutoff).then(|| self.deletion(e)).transpose()
                },
            ))
            .await?;
        }
        // tokens of tasks started before the cutoff whose execution is gone (deleted above, or
        // earlier): nobody can answer them any more, and no worker should be given them
        for status in ["DONE", "STARTED", "SCHEDULED"] {
            (self.sweep_status(
                status,
                cutoff,
                |t: &Token| t.started,
                |t| {
                    let gone = self.store.load::<Execution>(&t.execution_arn)?.is_none();
                    Ok(gone.then(|| vec![delete::<Token>(&t.token)]))
                },
            ))
            .await?;
        }
        Ok(deleted)
    }

    /// Goes through the records of one status oldest first (by `since`, their sort order),
    /// until one is not older than `cutoff`, and commits what `doomed` says deleting each
    /// takes (`None`: it stays). Gives how many were deleted. Each page is read and deleted
    /// under the redrive lock: a redrive checks and writes an execution under it, so none is
    /// redriven between this look at it and its deletion.
    async fn sweep_status<R: Record>(
        &self,
        status: &str,
        cutoff: DateTime<Utc>,
        since: fn(&R) -> DateTime<Utc>,
        doomed: impl Fn(&R) -> Result<Option<Vec<Write>>>,
    ) -> Result<usize> {
        let (mut kept, mut deleted) = (0, 0);
        // the first look reads one record: mostly nothing is old, and a sweep at startup or
        // every hour should not read and decode pages to find that out
        let mut limit = 1;
        loop {
            let no_redrive = self.redrives.lock().await;
            let page: Vec<R> = self.store.list(Scan {
                kind: "",
                status: Some(status),
                offset: kept,
                limit,
                ..Default::default()
            })?;
            let old = page.iter().take_while(|r| since(r) < cutoff).count();
            let mut writes = Vec::new();
            for r in &page[..old] {
                match doomed(r)? {
                    Some(w) => {
                        writes.extend(w);
                        deleted += 1;
                    }
                    None => kept += 1,
                }
            }
            self.store.commit(writes).done().await?;
            drop(no_redrive);
            if old < limit {
                return Ok(deleted);
            }
            limit = PAGE;
        }
    }

    /// What deleting a closed execution writes.
    fn deletion(&self, e: &Execution) -> Result<Vec<Write>> {
        let mut w = vec![
            delete::<Execution>(&e.arn),
            Write::DropHistory {
                execution: e.arn.clone(),
            },
        ];
        let owned = Scan {
            owner: Some(&e.arn),
            ..Default::default()
        };
        for r in self.store.list::<MapRun>(owned.clone())? {
            w.push(delete::<MapRun>(&r.arn));
        }
        for m in self.store.list::<MapEffect>(owned)? {
            w.push(delete::<MapEffect>(&m.key));
        }
        Ok(w)
    }

    /// Sweeps now and then, for as long as the server runs: every eighth of the retention,
    /// at least every second and at most every hour.
    pub fn keep_sweeping(self: &Arc<Self>, retention: Duration) {
        let every = (retention / 8).to_std().unwrap_or_default().clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(3600),
        );
        crate::sweeper::keep_sweeping(
            &self.runtime,
            self,
            every,
            "execution(s)",
            move |sfn| async move { sfn.sweep(Utc::now() - retention).await },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfn::error::SfnError;
    use crate::sfn::testing::{race, PASS};

    #[test]
    fn retention_reads_as_a_count_and_a_unit_or_forever() {
        assert_eq!(
            parse_retention("90d"),
            Ok(Retention(Some(Duration::days(90))))
        );
        assert_eq!(
            parse_retention("12h"),
            Ok(Retention(Some(Duration::hours(12))))
        );
        assert_eq!(
            parse_retention("30m"),
            Ok(Retention(Some(Duration::minutes(30))))
        );
        assert_eq!(
            parse_retention("45s"),
            Ok(Retention(Some(Duration::seconds(45))))
        );
        assert_eq!(parse_retention("forever"), Ok(Retention(None)));
        for bad in ["", "d", "90", "90w", "0d", "-1d", "1.5d", "x9d"] {
            assert!(parse_retention(bad).is_err(), "{bad:?}");
        }
    }

    /// Closed executions past the cutoff go with their history and tokens; running ones and
    /// those closed since stay, whole.
    #[test]
    fn executions_closed_before_the_cutoff_are_deleted_with_their_history() {
        const ACTIVITY: &str = "arn:aws:states:us-east-1:123456789012:activity:work";
        let r = race(PASS);
        let fail = r.machine(
            "fail",
            r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E"}}}"#,
        );
        let wait = r.machine(
            "wait",
            r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}"#,
        );
        let work = r.machine(
            "work",
            &format!(r#"{{"StartAt":"A","States":{{"A":{{"Type":"Task","Resource":"{ACTIVITY}","End":true}}}}}}"#),
        );
        (r.runtime)
            .block_on(r.sfn.create_activity(&r.scope, "work", Vec::new()))
            .unwrap();
        let start = |machine: &str, name: &str| {
            (r.runtime.block_on(r.start_of(machine, name, "{}")))
                .unwrap()
                .unwrap()
                .arn
        };
        let passed: Vec<String> = (0..5)
            .map(|n| start(&r.machine, &format!("p{n}")))
            .collect();
        let failed = start(&fail, "f");
        let waiting = start(&wait, "w");
        let working = start(&work, "a");
        let settled = |arn: &str, status: &str| {
            assert_eq!(r.ended(arn).status, status, "{arn}");
        };
        settled(&failed, "FAILED");
        let task = (r.runtime)
            .block_on(r.sfn.get_activity_task(ACTIVITY, None))
            .unwrap()
            .unwrap();
        (r.runtime)
            .block_on(r.sfn.stop_execution(&working, None, None))
            .unwrap();
        settled(&working, "ABORTED");
        let history = |arn: &str| r.sfn.stored_history(arn).unwrap().len();
        let before = history(&waiting);
        assert!(before > 0 && history(&passed[0]) > 0);

        // nothing closed an hour ago
        let an_hour_ago = Utc::now() - Duration::hours(1);
        assert_eq!(r.runtime.block_on(r.sfn.sweep(an_hour_ago)).unwrap(), 0);
        assert!(r.sfn.execution(&passed[0]).is_ok());

        let deleted = r.runtime.block_on(r.sfn.sweep(Utc::now())).unwrap();
        assert_eq!(deleted, 7);
        for arn in passed.iter().chain([&failed, &working]) {
            assert!(
                matches!(
                    r.sfn.execution(arn),
                    Err(SfnError::ExecutionDoesNotExist(_))
                ),
                "{arn}"
            );
            assert_eq!(history(arn), 0, "{arn}");
        }
        assert!(r.sfn.store.load::<Token>(&task.token).unwrap().is_none());
        assert_eq!(r.sfn.execution(&waiting).unwrap().status, "RUNNING");
        assert_eq!(history(&waiting), before);
        // a name is free again once its execution is gone, as on AWS after 90 days
        assert_eq!(start(&r.machine, "p0"), passed[0]);
        r.end();
    }
}
