//! Crawler schedules. A crawler with a `Schedule` (Glue takes only `cron(...)`, always in UTC)
//! starts by itself at each fire time while its schedule is SCHEDULED. A fire that finds the
//! crawler still running is skipped, as on Glue, and the skip is logged in the crawler's log.
//! Fires missed while the server was down are not run afterwards; under `--virtual-clock` a
//! clock advance that passes fire times starts the crawler once.

use super::crawlers::Crawler;
use super::{Glue, GlueError, Result};
use crate::sfn::arn::Scope;
use crate::store::{Record, Records, Scan};
use chrono::{DateTime, Utc};
use schedule::{Expression, Service};
use std::collections::HashMap;
use std::sync::Arc;

/// A crawler's schedule expression, checked as Glue checks it.
pub fn parse(text: &str) -> Result<Expression> {
    let bad = |why: &str| {
        GlueError::invalid(format!(
            "Invalid schedule expression '{text}': {why}. Glue takes a cron expression such as cron(15 12 * * ? *)"
        ))
    };
    if !text.starts_with("cron(") {
        return Err(bad("only cron() expressions are supported"));
    }
    Expression::parse(text, Service::Rule).map_err(|e| bad(&e.reason))
}

/// The next fire of each scheduled crawler, by record key, with the expression it came from.
type Fires = HashMap<String, (String, DateTime<Utc>)>;

impl Glue {
    /// Starts every scheduled crawler whose fire time has come; the earliest fire still ahead.
    async fn fire_due(&self, fires: &mut Fires) -> Option<DateTime<Utc>> {
        let now = self.now();
        let crawlers: Vec<Crawler> = match self.store.list(Scan::default()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("shoal: cannot read the crawlers for their schedules: {e}");
                return None;
            }
        };
        let mut seen = HashMap::new();
        for c in crawlers {
            let Some(text) = c.schedule().filter(|_| !c.schedule_stopped) else {
                continue;
            };
            let Ok(expr) = parse(text) else { continue };
            let due = match fires.get(&c.key()) {
                Some((t, at)) if t == text => *at,
                _ => match expr.next_after(now, chrono_tz::UTC) {
                    Some(at) => at,
                    None => continue,
                },
            };
            let next = if due <= now {
                self.fire(&c, due).await;
                expr.next_after(now, chrono_tz::UTC)
            } else {
                Some(due)
            };
            if let Some(at) = next {
                seen.insert(c.key(), (text.to_string(), at));
            }
        }
        *fires = seen;
        fires.values().map(|(_, at)| *at).min()
    }

    async fn fire(&self, c: &Crawler, at: DateTime<Utc>) {
        let (account, region) = c.owner.split_once(':').unwrap_or((&c.owner, ""));
        let scope = Scope {
            account: account.into(),
            region: region.into(),
        };
        if let Err(e) = self.start_crawler(&scope, &c.name).await {
            let line = format!(
                "The scheduled run at {} did not start: {e}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            self.crawl_log(&scope, c, "schedule", &[line]).await;
        }
    }
}

/// Starts the schedule clock of the crawlers.
pub(crate) fn start(glue: &Arc<Glue>) {
    let bell = glue.crawler_schedules.clone();
    glue.on_clock(bell, Fires::new(), |glue, mut fires| async move {
        let next = glue.fire_due(&mut fires).await;
        (fires, next)
    });
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn crawler_schedules_are_cron_only() {
        assert!(parse("cron(15 12 * * ? *)").is_ok());
        let e = parse("rate(1 day)").unwrap_err().to_string();
        assert!(e.contains("only cron()"), "{e}");
        let e = parse("cron(61 12 * * ? *)").unwrap_err().to_string();
        assert!(
            e.starts_with("Invalid schedule expression 'cron(61 12 * * ? *)'"),
            "{e}"
        );
        assert!(parse("cron(15 12 * * * *)").is_err());
    }
}
