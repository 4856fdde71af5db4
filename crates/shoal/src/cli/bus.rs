//! `shoal events put|import-cloudtrail|rules|tail|failed` and `shoal clock`: EventBridge on a
//! running `shoal serve`.

use super::client::{read_arg, table, Client, ServerArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::io::BufRead;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct PutArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long)]
    source: String,
    #[arg(long)]
    detail_type: String,
    /// The detail: a JSON object, or @FILE.
    #[arg(long, default_value = "{}")]
    detail: String,
    /// The bus (name or ARN; default: the default bus).
    #[arg(long)]
    bus: Option<String>,
    /// A resource ARN of the event (repeatable).
    #[arg(long = "resource")]
    resources: Vec<String>,
    /// Put it as an AWS service would, so `aws.*` sources are accepted (PutEvents refuses them
    /// from clients, as AWS does).
    #[arg(long)]
    as_service: bool,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// A CloudTrail log file (`{"Records": [...]}`), a JSON array of records or JSON Lines.
    file: String,
    #[arg(long)]
    bus: Option<String>,
}

#[derive(Args, Debug)]
pub struct BusArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// The bus (name or ARN; default: the default bus).
    #[arg(long)]
    bus: Option<String>,
}

#[derive(Args, Debug)]
pub struct FailedArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Args, Debug)]
pub struct ClockArgs {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    command: Option<ClockCommand>,
}

#[derive(Subcommand, Debug)]
pub enum ClockCommand {
    /// Move the virtual clock forward (90s, 5m, 2h, 1d or seconds); scheduled rules fire for
    /// every time passed over.
    Advance { by: String },
}

/// Prints PutEvents' answer; exits 1 when an entry failed.
fn put_answer(out: &Value) -> Result<ExitCode> {
    for e in out["Entries"].as_array().into_iter().flatten() {
        match e.get("EventId") {
            Some(id) => println!("{}", id.as_str().unwrap_or_default()),
            None => eprintln!(
                "{}: {}",
                e["ErrorCode"].as_str().unwrap_or("Error"),
                e["ErrorMessage"].as_str().unwrap_or("")
            ),
        }
    }
    Ok(if out["FailedEntryCount"].as_u64() == Some(0) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn put(a: PutArgs) -> Result<ExitCode> {
    let c = Client::new(a.server);
    let detail = read_arg(&a.detail)?;
    let mut entry = json!({"Source": a.source, "DetailType": a.detail_type, "Detail": detail, "Resources": a.resources});
    if let Some(b) = a.bus {
        entry["EventBusName"] = json!(b);
    }
    let body = json!({"Entries": [entry]});
    let out = if a.as_service {
        c.shoal("/_shoal/events", Some(body))?
    } else {
        c.events("PutEvents", body)?
    };
    put_answer(&out)
}

/// The EventBridge event CloudTrail's record becomes (`AWS API Call via CloudTrail`, ...).
fn cloudtrail_entry(r: &Value, bus: Option<&str>) -> Option<Value> {
    let service = r.get("eventSource")?.as_str()?.split('.').next()?;
    let detail_type = match r.get("eventType").and_then(Value::as_str) {
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        Some("AwsConsoleSignIn") => "AWS Console Sign In via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    };
    let mut e = json!({
        "Source": format!("aws.{service}"),
        "DetailType": detail_type,
        "Detail": r.to_string(),
    });
    if let Some(t) = r.get("eventTime").and_then(Value::as_str) {
        e["Time"] = json!(t);
    }
    if let Some(b) = bus {
        e["EventBusName"] = json!(b);
    }
    Some(e)
}

fn cloudtrail_records(text: &str) -> Result<Vec<Value>> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Ok(match v {
            Value::Object(mut o) => match o.remove("Records") {
                Some(Value::Array(a)) => a,
                _ => vec![Value::Object(o)],
            },
            Value::Array(a) => a,
            _ => bail!("expected CloudTrail records"),
        });
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("line {}", i + 1)))
        .collect()
}

pub fn import_cloudtrail(a: ImportArgs) -> Result<ExitCode> {
    let c = Client::new(a.server);
    let text =
        std::fs::read_to_string(&a.file).with_context(|| format!("cannot read {}", a.file))?;
    let records =
        cloudtrail_records(&text).with_context(|| format!("{} is not CloudTrail JSON", a.file))?;
    let entries: Vec<Value> = records
        .iter()
        .filter_map(|r| cloudtrail_entry(r, a.bus.as_deref()))
        .collect();
    let skipped = records.len() - entries.len();
    let mut failed = 0;
    for chunk in entries.chunks(10) {
        let out = c.shoal("/_shoal/events", Some(json!({"Entries": chunk})))?;
        failed += out["FailedEntryCount"].as_u64().unwrap_or(0);
    }
    println!(
        "{} event(s) put, {failed} refused, {skipped} record(s) without an eventSource skipped",
        entries.len() as u64 - failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn rules(a: BusArgs) -> Result<ExitCode> {
    let c = Client::new(a.server);
    let mut body = json!({});
    if let Some(b) = &a.bus {
        body["EventBusName"] = json!(b);
    }
    let out = c.events("ListRules", body.clone())?;
    let mut rows = Vec::new();
    for r in out["Rules"].as_array().into_iter().flatten() {
        let name = r["Name"].as_str().unwrap_or_default();
        let mut q = body.clone();
        q["Rule"] = json!(name);
        let targets = c.events("ListTargetsByRule", q)?;
        let targets: Vec<String> = targets["Targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["Arn"].as_str().unwrap_or_default().to_string())
            .collect();
        let what = r
            .get("EventPattern")
            .or(r.get("ScheduleExpression"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        rows.push(vec![
            name.to_string(),
            r["State"].as_str().unwrap_or_default().to_string(),
            what.to_string(),
            targets.join(", "),
        ]);
    }
    table(&["NAME", "STATE", "PATTERN / SCHEDULE", "TARGETS"], &rows);
    Ok(ExitCode::SUCCESS)
}

pub fn tail(a: BusArgs) -> Result<ExitCode> {
    let c = Client::new(a.server);
    let bus = a.bus.unwrap_or_else(|| "default".into());
    let reader = c.stream(&format!("/_shoal/events/tail?bus={bus}"))?;
    eprintln!("tailing bus {bus} (Ctrl-C stops)");
    for line in reader.lines() {
        let line = line.context("the server closed the tail")?;
        let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if let Some(n) = v.get("lagged") {
            eprintln!("... {n} event(s) skipped: the tail could not keep up");
            continue;
        }
        let e = &v["event"];
        let rules: Vec<&str> = v["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{}  {}  {}  -> {}",
            e["time"].as_str().unwrap_or_default(),
            e["source"].as_str().unwrap_or_default(),
            e["detail-type"].as_str().unwrap_or_default(),
            if rules.is_empty() {
                "(no rule)".to_string()
            } else {
                rules.join(", ")
            }
        );
        println!("    {}", e["detail"]);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn failed(a: FailedArgs) -> Result<ExitCode> {
    let c = Client::new(a.server);
    let out = c.shoal(&format!("/_shoal/events/failed?limit={}", a.limit), None)?;
    let rows: Vec<Vec<String>> = out["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            vec![
                d["first"].as_str().unwrap_or_default().to_string(),
                d["rule"]
                    .as_str()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                d["targetArn"].as_str().unwrap_or_default().to_string(),
                d["attempts"].to_string(),
                d["error"].as_str().unwrap_or_default().to_string(),
            ]
        })
        .collect();
    table(&["FIRST", "RULE", "TARGET", "ATTEMPTS", "ERROR"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// `90s`, `5m`, `2h`, `1d`, or seconds.
fn duration(text: &str) -> Result<f64> {
    let (num, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
        .with_context(|| format!("'{text}' is not a duration (90s, 5m, 2h, 1d)"))?;
    Ok(n * match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86400.0,
        _ => bail!("'{text}' is not a duration (90s, 5m, 2h, 1d)"),
    })
}

pub fn clock(a: ClockArgs) -> Result<ExitCode> {
    let c = Client::new(a.server);
    let out = match a.command {
        None => c.shoal("/_shoal/clock", None)?,
        Some(ClockCommand::Advance { by }) => {
            let secs = duration(&by)?;
            c.shoal("/_shoal/clock", Some(json!({"advanceSeconds": secs})))?
        }
    };
    println!(
        "{}{}",
        out["now"].as_str().unwrap_or_default(),
        if out["virtual"] == true {
            " (virtual)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::duration("90").ok(), Some(90.0));
        assert_eq!(super::duration("5m").ok(), Some(300.0));
        assert_eq!(super::duration("1d").ok(), Some(86400.0));
        assert!(super::duration("1w").is_err());
        assert!(super::duration("-1s").is_err());
    }

    #[test]
    fn cloudtrail_records_become_service_events() {
        let r = serde_json::json!({"eventSource": "glue.amazonaws.com", "eventName": "CreateSession", "eventTime": "2024-01-01T00:00:00Z", "readOnly": false});
        let e = super::cloudtrail_entry(&r, None).unwrap();
        assert_eq!(e["Source"], "aws.glue");
        assert_eq!(e["DetailType"], "AWS API Call via CloudTrail");
        assert_eq!(e["Time"], "2024-01-01T00:00:00Z");
        let lines = format!("{r}\n{r}\n");
        assert_eq!(super::cloudtrail_records(&lines).unwrap().len(), 2);
        let file = serde_json::json!({"Records": [r]}).to_string();
        assert_eq!(super::cloudtrail_records(&file).unwrap().len(), 1);
    }
}
