//! `shoal schedule next`.

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use schedule::{Expression, Service};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum ScheduleCommand {
    /// Print the next fire times of a schedule expression, one per line (YYYY-MM-DDTHH:MM:SSZ),
    /// strictly after --from; fewer than --count when the schedule ends. An expression the
    /// service rejects prints AWS's message on stderr and exits 2.
    ///
    /// Examples: `shoal schedule next 'cron(0 7 * * ? *)'`,
    /// `shoal schedule next 'cron(0 7 * * ? *)' --kind scheduler --tz Europe/London`.
    Next(NextArgs),
    /// The schedules of a running server — rules with a ScheduleExpression and EventBridge
    /// Scheduler schedules — with their next fire on the server's clock (`~` for `rate()`,
    /// which counts from the last fire).
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    server: super::client::ServerArgs,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
pub enum KindArg {
    /// An EventBridge rule's ScheduleExpression (cron and rate, always UTC).
    Rule,
    /// An EventBridge Scheduler schedule (cron, rate and at, in --tz).
    Scheduler,
}

#[derive(Args, Debug)]
pub struct NextArgs {
    /// The expression, e.g. 'cron(0 7 * * ? *)', 'rate(5 minutes)', 'at(2030-01-01T00:00:00)'.
    expression: String,
    /// Which service validates it.
    #[arg(long, value_enum, default_value = "rule")]
    kind: KindArg,
    /// List fire times after this instant (RFC 3339; default: now).
    #[arg(long)]
    from: Option<String>,
    /// The IANA time zone of a Scheduler schedule (ScheduleExpressionTimezone).
    #[arg(long, default_value = "UTC")]
    tz: String,
    /// How many fire times to print.
    #[arg(long, default_value_t = 5)]
    count: usize,
}

pub fn run(cmd: ScheduleCommand) -> Result<ExitCode> {
    let a = match cmd {
        ScheduleCommand::Next(a) => a,
        ScheduleCommand::List(l) => return list(l),
    };
    let service = match a.kind {
        KindArg::Rule => Service::Rule,
        KindArg::Scheduler => Service::Scheduler,
    };
    let Some(tz) = schedule::time_zone(&a.tz) else {
        eprintln!(
            "ValidationException: Invalid ScheduleExpressionTimezone {}.",
            a.tz
        );
        return Ok(ExitCode::from(2));
    };
    if service == Service::Rule && tz != chrono_tz::UTC {
        eprintln!("error: EventBridge rules always run in UTC; --tz applies to --kind scheduler");
        return Ok(ExitCode::from(2));
    }
    let from: DateTime<Utc> = match &a.from {
        None => Utc::now(),
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => {
                eprintln!("error: --from '{s}' is not an RFC 3339 time: {e}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let expr = match Expression::parse(&a.expression, service) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ValidationException: {} ({})", e.message, e.reason);
            return Ok(ExitCode::from(2));
        }
    };
    for t in expr.fire_times(from, tz).take(a.count) {
        println!("{}", t.format("%Y-%m-%dT%H:%M:%SZ"));
    }
    Ok(ExitCode::SUCCESS)
}

/// The next fire of an expression after `now` in `tz`, as the list shows it.
fn next_fire(expr: &str, service: Service, tz: &str, now: DateTime<Utc>) -> String {
    let (Ok(e), Some(z)) = (Expression::parse(expr, service), schedule::time_zone(tz)) else {
        return "-".into();
    };
    let approx = if matches!(e, Expression::Rate(_)) {
        "~"
    } else {
        ""
    };
    e.next_after(now, z).map_or_else(
        || "none".into(),
        |t| format!("{approx}{}", t.format("%Y-%m-%dT%H:%M:%SZ")),
    )
}

fn list(a: ListArgs) -> Result<ExitCode> {
    use serde_json::{json, Value};
    let c = super::client::Client::new(a.server);
    let clock = c.shoal("/_shoal/clock", None)?;
    let now = clock["now"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let mut rows = Vec::new();
    let rules = c.events("ListRules", json!({}))?;
    for r in rules["Rules"].as_array().into_iter().flatten() {
        let Some(expr) = r["ScheduleExpression"].as_str() else {
            continue;
        };
        rows.push(vec![
            "rule".into(),
            text(r, "Name"),
            expr.to_string(),
            "UTC".into(),
            text(r, "State"),
            next_fire(expr, Service::Rule, "UTC", now),
        ]);
    }
    let listed = c.shoal("/schedules?MaxResults=100", None)?;
    for s in listed["Schedules"].as_array().into_iter().flatten() {
        let path = format!(
            "/schedules/{}?groupName={}",
            text(s, "Name"),
            text(s, "GroupName")
        );
        let d = c.shoal(&path, None)?;
        let (expr, tz) = (
            text(&d, "ScheduleExpression"),
            text(&d, "ScheduleExpressionTimezone"),
        );
        rows.push(vec![
            "schedule".into(),
            format!("{}/{}", text(&d, "GroupName"), text(&d, "Name")),
            expr.clone(),
            tz.clone(),
            text(&d, "State"),
            next_fire(&expr, Service::Scheduler, &tz, now),
        ]);
    }
    println!(
        "server clock: {}{}",
        now.format("%Y-%m-%dT%H:%M:%SZ"),
        if clock["virtual"] == true {
            " (virtual)"
        } else {
            ""
        }
    );
    super::client::table(
        &["KIND", "NAME", "EXPRESSION", "TIME ZONE", "STATE", "NEXT"],
        &rows,
    );
    Ok(ExitCode::SUCCESS)
}
