//! `shoal sfn`: Step Functions conveniences over a running `shoal serve`, through the same
//! JSON API boto3 uses. Output is readable (tables, `key: value`); `--json` prints the API's
//! answers for scripts.

use super::client::{read_arg, table, Client, ServerArgs};
use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct SfnArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Print the API's JSON answers instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: SfnCommand,
}

#[derive(Subcommand, Debug)]
pub enum SfnCommand {
    /// Create a state machine from a definition file (or update it with --update).
    Create {
        name: String,
        /// The ASL definition (a JSON file; `-` reads standard input).
        #[arg(long)]
        definition: String,
        #[arg(long = "type", default_value = "STANDARD", value_parser = ["STANDARD", "EXPRESS"])]
        kind: String,
        #[arg(long, default_value = "arn:aws:iam::123456789012:role/shoal")]
        role: String,
        /// Update the definition if the machine exists.
        #[arg(long)]
        update: bool,
    },
    /// Start an execution of a machine (name or ARN).
    Start {
        machine: String,
        /// The input: JSON text, or @FILE.
        #[arg(long, default_value = "{}")]
        input: String,
        #[arg(long)]
        name: Option<String>,
        /// Wait until it ends and print how (exit status 1 unless it succeeded).
        #[arg(long)]
        wait: bool,
    },
    /// Describe an execution (ARN, or MACHINE:NAME).
    Describe { execution: String },
    /// Show an execution's history as a table of events.
    History {
        execution: String,
        /// Newest first.
        #[arg(long)]
        reverse: bool,
    },
    /// Redrive a failed, aborted or timed-out execution from the state that failed.
    Redrive {
        execution: String,
        #[arg(long)]
        wait: bool,
    },
    /// List state machines, or the executions of one.
    List {
        machine: Option<String>,
        #[arg(long, value_parser = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"])]
        status: Option<String>,
    },
}

/// Step Functions names for the shared client.
impl Client {
    fn machine_arn(&self, m: &str) -> String {
        if m.starts_with("arn:") {
            m.to_string()
        } else {
            format!(
                "arn:aws:states:{}:{}:stateMachine:{m}",
                self.region, self.account
            )
        }
    }

    fn execution_arn(&self, e: &str) -> anyhow::Result<String> {
        if e.starts_with("arn:") {
            return Ok(e.to_string());
        }
        match e.split_once(':') {
            Some((m, n)) => Ok(format!(
                "arn:aws:states:{}:{}:execution:{m}:{n}",
                self.region, self.account
            )),
            None => bail!("name an execution by its ARN or as MACHINE:NAME (got '{e}')"),
        }
    }

    /// Polls until the execution leaves RUNNING.
    fn wait(&self, arn: &str) -> anyhow::Result<Value> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(20);
        loop {
            let d = self.sfn("DescribeExecution", json!({"executionArn": arn}))?;
            if d["status"] != "RUNNING" && d["status"] != "PENDING_REDRIVE" {
                return Ok(d);
            }
            if started.elapsed() > Duration::from_secs(5) && delay < Duration::from_secs(1) {
                delay *= 2;
            }
            std::thread::sleep(delay);
        }
    }
}

/// A string member as text (empty when absent).
fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    let secs = v.as_f64()?;
    DateTime::from_timestamp_millis((secs * 1000.0).round() as i64)
}

fn show_time(v: &Value) -> String {
    time(v).map_or_else(
        || "-".into(),
        |t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
    )
}

fn print_execution(d: &Value) {
    for key in [
        "executionArn",
        "stateMachineArn",
        "name",
        "status",
        "startDate",
        "stopDate",
        "input",
        "output",
        "error",
        "cause",
        "redriveCount",
        "redriveStatus",
        "mapRunArn",
    ] {
        let Some(v) = d.get(key) else { continue };
        let text = match key {
            "startDate" | "stopDate" => show_time(v),
            _ => match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        };
        println!("{key:<16} {text}");
    }
}

/// The short description of an event: its state, its error, or its output.
fn event_detail(e: &Value) -> String {
    let Some(d) = e
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.ends_with("EventDetails")))
        .map(|(_, v)| v)
    else {
        return String::new();
    };
    let text = |k: &str| d.get(k).and_then(Value::as_str);
    if let Some(name) = text("name") {
        return name.to_string();
    }
    if let Some(err) = text("error") {
        return match text("cause") {
            Some(c) => format!("{err}: {c}"),
            None => err.to_string(),
        };
    }
    if let Some(r) = text("resource") {
        return format!("{} {r}", text("resourceType").unwrap_or_default());
    }
    text("output")
        .or(text("input"))
        .unwrap_or_default()
        .to_string()
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    format!("{}…", s.chars().take(n - 1).collect::<String>())
}

fn finished(c: &Client, arn: &str, json_out: bool) -> anyhow::Result<ExitCode> {
    let d = c.wait(arn)?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print_execution(&d);
    }
    Ok(if d["status"] == "SUCCEEDED" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn run(a: SfnArgs) -> anyhow::Result<ExitCode> {
    let c = Client::new(a.server);
    let json_out = a.json;
    let print = |v: &Value| -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    };
    match a.command {
        SfnCommand::Create {
            name,
            definition,
            kind,
            role,
            update,
        } => {
            let def = match definition.as_str() {
                "-" => read_arg("-")?,
                path => read_arg(&format!("@{path}"))?,
            };
            serde_json::from_str::<Value>(&def)
                .map_err(|e| anyhow!("{definition} is not JSON: {e}"))?;
            let arn = c.machine_arn(&name);
            let created = c.sfn(
                "CreateStateMachine",
                json!({"name": name, "definition": def, "roleArn": role, "type": kind}),
            );
            let out = match created {
                Err(e) if update && e.to_string().starts_with("StateMachineAlreadyExists") => c
                    .sfn(
                        "UpdateStateMachine",
                        json!({"stateMachineArn": arn, "definition": def, "roleArn": role}),
                    )?,
                other => other?,
            };
            if json_out {
                print(&out)?;
            } else {
                println!("{arn}");
            }
        }
        SfnCommand::Start {
            machine,
            input,
            name,
            wait,
        } => {
            let input = read_arg(&input)?;
            serde_json::from_str::<Value>(&input)
                .map_err(|e| anyhow!("the input is not JSON: {e}"))?;
            let mut body = json!({"stateMachineArn": c.machine_arn(&machine), "input": input});
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            let out = c.sfn("StartExecution", body)?;
            let arn = text(&out["executionArn"]);
            if wait {
                return finished(&c, &arn, json_out);
            }
            if json_out {
                print(&out)?;
            } else {
                println!("{arn}");
            }
        }
        SfnCommand::Describe { execution } => {
            let d = c.sfn(
                "DescribeExecution",
                json!({"executionArn": c.execution_arn(&execution)?}),
            )?;
            if json_out {
                print(&d)?;
            } else {
                print_execution(&d);
            }
        }
        SfnCommand::History { execution, reverse } => {
            let arn = c.execution_arn(&execution)?;
            let mut events = Vec::new();
            let mut token: Option<String> = None;
            loop {
                let mut body =
                    json!({"executionArn": arn, "reverseOrder": reverse, "maxResults": 1000});
                if let Some(t) = &token {
                    body["nextToken"] = json!(t);
                }
                let page = c.sfn("GetExecutionHistory", body)?;
                events.extend(page["events"].as_array().cloned().unwrap_or_default());
                match page.get("nextToken").and_then(Value::as_str) {
                    Some(t) => token = Some(t.to_string()),
                    None => break,
                }
            }
            if json_out {
                return print(&json!({"events": events})).map(|_| ExitCode::SUCCESS);
            }
            let start = events.iter().filter_map(|e| time(&e["timestamp"])).min();
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|e| {
                    let at = match (time(&e["timestamp"]), start) {
                        (Some(t), Some(s)) => format!("+{}ms", (t - s).num_milliseconds()),
                        _ => "-".into(),
                    };
                    vec![
                        e["id"].to_string(),
                        text(&e["type"]),
                        at,
                        cut(&event_detail(e), 100),
                    ]
                })
                .collect();
            table(&["ID", "TYPE", "AFTER", "DETAIL"], &rows);
        }
        SfnCommand::Redrive { execution, wait } => {
            let arn = c.execution_arn(&execution)?;
            let out = c.sfn("RedriveExecution", json!({"executionArn": arn}))?;
            if wait {
                return finished(&c, &arn, json_out);
            }
            if json_out {
                print(&out)?;
            } else {
                println!("redriven at {}", show_time(&out["redriveDate"]));
            }
        }
        SfnCommand::List { machine: None, .. } => {
            let out = c.sfn("ListStateMachines", json!({"maxResults": 1000}))?;
            if json_out {
                return print(&out).map(|_| ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = out["stateMachines"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    vec![
                        text(&m["name"]),
                        text(&m["type"]),
                        show_time(&m["creationDate"]),
                        m["stateMachineArn"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    ]
                })
                .collect();
            table(&["NAME", "TYPE", "CREATED", "ARN"], &rows);
        }
        SfnCommand::List {
            machine: Some(m),
            status,
        } => {
            let mut body = json!({"stateMachineArn": c.machine_arn(&m), "maxResults": 1000});
            if let Some(s) = status {
                body["statusFilter"] = json!(s);
            }
            let out = c.sfn("ListExecutions", body)?;
            if json_out {
                return print(&out).map(|_| ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = out["executions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    vec![
                        text(&e["name"]),
                        text(&e["status"]),
                        show_time(&e["startDate"]),
                        show_time(&e["stopDate"]),
                    ]
                })
                .collect();
            table(&["NAME", "STATUS", "STARTED", "STOPPED"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}
