//! `shoal logs tail GROUP [--follow]`: a log group's events, as `aws logs tail` prints them;
//! `shoal logs query GROUP... --query TEXT`: a Logs Insights query's rows as a table.

use super::client::{Client, ServerArgs};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum LogsCommand {
    /// Print a log group's events (newest last); `--follow` keeps printing new ones.
    Tail(TailArgs),
    /// Run a Logs Insights query over log groups and print its rows.
    Query(QueryArgs),
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The log groups, e.g. /aws/lambda/my-function.
    #[arg(required = true)]
    groups: Vec<String>,
    /// The query, e.g. 'filter @message like /ERROR/ | stats count() by bin(5m)'.
    #[arg(long, short)]
    query: String,
    /// How far back to look: 90s, 10m, 2h, 1d.
    #[arg(long, default_value = "1h")]
    since: String,
    /// Print the results as GetQueryResults gives them.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct TailArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The log group, e.g. /aws/lambda/my-function.
    group: String,
    /// Keep printing events as they arrive.
    #[arg(long, short)]
    follow: bool,
    /// How far back to start: 90s, 10m, 2h, 1d.
    #[arg(long, default_value = "10m")]
    since: String,
    /// A filter pattern (terms, "phrases", ?optional, -excluded).
    #[arg(long)]
    filter: Option<String>,
}

fn seconds(text: &str) -> Result<i64> {
    let (num, unit) = text.split_at(
        text.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let n: i64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("'{text}' is not a duration (90s, 10m, 2h, 1d)"))?;
    Ok(n * match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("'{text}' is not a duration (90s, 10m, 2h, 1d)"),
    })
}

pub fn run(c: LogsCommand) -> Result<ExitCode> {
    let a = match c {
        LogsCommand::Tail(a) => a,
        LogsCommand::Query(q) => return query(q),
    };
    let client = Client::new(a.server.clone());
    let mut start = chrono::Utc::now().timestamp_millis() - seconds(&a.since)? * 1000;
    // the events printed at or after `start`: the next poll, from `start`, gives them again
    let mut seen = std::collections::HashMap::new();
    loop {
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"logGroupName": a.group, "startTime": start});
            if let Some(f) = &a.filter {
                body["filterPattern"] = json!(f);
            }
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let out = client.call("Logs_20140328", "logs", "FilterLogEvents", body)?;
            for e in out["events"].as_array().into_iter().flatten() {
                let id = e["eventId"].as_str().unwrap_or_default().to_string();
                let ts = e["timestamp"].as_i64().unwrap_or(0);
                if seen.insert(id, ts).is_some() {
                    continue;
                }
                start = start.max(ts);
                let when = chrono::DateTime::from_timestamp_millis(ts)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .unwrap_or_default();
                println!(
                    "{when} {} {}",
                    e["logStreamName"].as_str().unwrap_or_default(),
                    e["message"].as_str().unwrap_or_default()
                );
            }
            token = out
                .get("nextToken")
                .and_then(Value::as_str)
                .map(String::from);
            if token.is_none() {
                break;
            }
        }
        if !a.follow {
            return Ok(ExitCode::SUCCESS);
        }
        seen.retain(|_, ts| *ts >= start);
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Starts the query, waits for it, prints its rows (the columns in the order first seen).
fn query(a: QueryArgs) -> Result<ExitCode> {
    let client = Client::new(a.server.clone());
    let end = chrono::Utc::now().timestamp();
    let body = json!({
        "logGroupNames": a.groups,
        "startTime": end - seconds(&a.since)?,
        "endTime": end,
        "queryString": a.query,
    });
    let started = client.call("Logs_20140328", "logs", "StartQuery", body)?;
    let id = started["queryId"].as_str().unwrap_or_default().to_string();
    let out = loop {
        let out = client.call(
            "Logs_20140328",
            "logs",
            "GetQueryResults",
            json!({"queryId": id}),
        )?;
        match out["status"].as_str() {
            Some("Scheduled" | "Running") => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Some("Complete") => break out,
            other => anyhow::bail!("the query ended {}", other.unwrap_or("without a status")),
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<(String, String)>> = (out["results"].as_array().into_iter().flatten())
        .map(|row| {
            (row.as_array().into_iter().flatten())
                .filter_map(|f| {
                    Some((
                        f["field"].as_str()?.to_string(),
                        f["value"].as_str()?.to_string(),
                    ))
                })
                .filter(|(k, _)| k != "@ptr")
                .collect()
        })
        .collect();
    let mut columns: Vec<String> = Vec::new();
    for (k, _) in rows.iter().flatten() {
        if !columns.contains(k) {
            columns.push(k.clone());
        }
    }
    let cells: Vec<Vec<String>> = (rows.iter())
        .map(|row| {
            (columns.iter())
                .map(|c| {
                    row.iter()
                        .find(|(k, _)| k == c)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    let header: Vec<&str> = columns.iter().map(String::as_str).collect();
    super::client::table(&header, &cells);
    let stats = &out["statistics"];
    eprintln!(
        "{} row(s); {} of {} event(s) matched",
        cells.len(),
        stats["recordsMatched"].as_f64().unwrap_or(0.0),
        stats["recordsScanned"].as_f64().unwrap_or(0.0)
    );
    Ok(ExitCode::SUCCESS)
}
