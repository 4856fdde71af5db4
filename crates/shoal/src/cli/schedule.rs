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
    let ScheduleCommand::Next(a) = cmd;
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
