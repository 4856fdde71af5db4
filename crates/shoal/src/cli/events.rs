//! `shoal events test-pattern`.

use anyhow::{Context as _, Result};
use clap::{Args, Subcommand};
use patterns::Pattern;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// Test an event pattern against an event, as TestEventPattern does: prints `true` or
    /// `false`; an invalid pattern prints AWS's reason on stderr and exits 2.
    ///
    /// With --cases FILE.jsonl (lines with "pattern"/"pattern_text" and "event"/"event_text"),
    /// prints one line per case: true, false or invalid.
    TestPattern(TestPatternArgs),
    /// Build the body EventBridge delivers to a target for an event: the whole event, or what
    /// InputPath / InputTransformer (InputPathsMap + InputTemplate) make of it. A configuration
    /// PutTargets rejects exits 2; a result that is not valid JSON (EventBridge drops the event)
    /// exits 3; each with a message on stderr.
    Transform(TransformArgs),
    /// Put an event on a bus of a running server (PutEvents); prints its id.
    Put(super::bus::PutArgs),
    /// Turn CloudTrail records into `AWS API Call via CloudTrail` events and put them as the
    /// AWS service would (so rules on `aws.*` sources can be tried locally).
    ImportCloudtrail(super::bus::ImportArgs),
    /// The rules of a bus with their patterns or schedules and targets.
    Rules(super::bus::BusArgs),
    /// Print the events accepted on a bus as they come, with the rules each matched.
    Tail(super::bus::BusArgs),
    /// Deliveries that failed for good (target missing, retries spent).
    Failed(super::bus::FailedArgs),
}

#[derive(Args, Debug)]
pub struct TransformArgs {
    /// The event (JSON object, as EventBridge hands it to targets).
    #[arg(long)]
    event: String,
    /// A constant Input (JSON text).
    #[arg(long)]
    input: Option<String>,
    /// InputPath, e.g. `$.detail`.
    #[arg(long)]
    input_path: Option<String>,
    /// InputTransformer's InputPathsMap (a JSON object of name → path).
    #[arg(long)]
    input_paths_map: Option<String>,
    /// InputTransformer's InputTemplate.
    #[arg(long)]
    input_template: Option<String>,
    /// For <aws.events.rule-name>.
    #[arg(long, default_value = "")]
    rule_name: String,
    /// For <aws.events.rule-arn>.
    #[arg(long, default_value = "")]
    rule_arn: String,
    /// The bus the rule belongs to.
    #[arg(long, default_value = "default")]
    event_bus_name: String,
    /// For <aws.events.event.ingestion-time> (default: the event's time).
    #[arg(long)]
    ingestion_time: Option<String>,
}

#[derive(Args, Debug)]
pub struct TestPatternArgs {
    /// The event pattern (JSON).
    #[arg(long, required_unless_present = "cases", requires = "event")]
    pattern: Option<String>,
    /// The event (JSON object).
    #[arg(long)]
    event: Option<String>,
    /// A JSON Lines file of cases to test in one run.
    #[arg(long, conflicts_with_all = ["pattern", "event"])]
    cases: Option<PathBuf>,
}

pub fn run(cmd: EventsCommand) -> Result<ExitCode> {
    let a = match cmd {
        EventsCommand::TestPattern(a) => a,
        EventsCommand::Transform(t) => return transform(t),
        EventsCommand::Put(a) => return super::bus::put(a),
        EventsCommand::ImportCloudtrail(a) => return super::bus::import_cloudtrail(a),
        EventsCommand::Rules(a) => return super::bus::rules(a),
        EventsCommand::Tail(a) => return super::bus::tail(a),
        EventsCommand::Failed(a) => return super::bus::failed(a),
    };
    if let Some(path) = a.cases {
        return batch(&path);
    }
    let (Some(pattern), Some(event)) = (a.pattern, a.event) else {
        anyhow::bail!("--pattern and --event are required");
    };
    let p = match Pattern::parse(&pattern) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("InvalidEventPatternException: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    match p.matches_text(&event) {
        Ok(m) => {
            println!("{m}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("InvalidEventPatternException: Event is not valid: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The raw text of a member, or its `_text` twin when the case keeps exact text.
fn member_text(line: &str, name: &str) -> Result<Option<String>> {
    let v =
        patterns::json::parse(line).map_err(|e| anyhow::anyhow!("a case line is not JSON: {e}"))?;
    if let Some(patterns::json::Json::Str(t)) = v.get(&format!("{name}_text")) {
        return Ok(Some(t.clone()));
    }
    Ok(v.get(name).map(render))
}

/// Writes JSON back as text, keeping number literals as they were written.
fn render(j: &patterns::json::Json) -> String {
    use patterns::json::Json;
    match j {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Num(n) => n.clone(),
        Json::Str(s) => serde_json::to_string(s).unwrap_or_default(),
        Json::Arr(a) => format!("[{}]", a.iter().map(render).collect::<Vec<_>>().join(",")),
        Json::Obj(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!(
                    "{}:{}",
                    serde_json::to_string(k).unwrap_or_default(),
                    render(v)
                ))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn batch(path: &PathBuf) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let pattern = member_text(line, "pattern")?;
        let event = member_text(line, "event")?;
        let verdict = match (pattern.map(|p| Pattern::parse(&p)), event) {
            (Some(Ok(p)), Some(e)) => match p.matches_text(&e) {
                Ok(m) => {
                    // the bus's indexed matcher, reading the text directly, must agree
                    let mut set = patterns::RuleSet::new();
                    set.add((), p);
                    match set.matching_text(&e) {
                        Ok(hits) if hits.is_empty() != m => m.to_string(),
                        _ => format!("{m} (the rule-set matcher disagrees)"),
                    }
                }
                Err(_) => "invalid".into(),
            },
            _ => "invalid".into(),
        };
        writeln!(out, "{verdict}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn transform(a: TransformArgs) -> Result<ExitCode> {
    use patterns::transform::{RuleContext, TargetInput, TransformError};
    let event = match patterns::json::parse(&a.event) {
        Ok(e @ patterns::json::Json::Obj(_)) => e,
        _ => {
            eprintln!("error: --event must be a JSON object");
            return Ok(ExitCode::from(2));
        }
    };
    let map = match a.input_paths_map.as_deref().map(patterns::json::parse) {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(e)) => {
            eprintln!("ValidationException: InputPathsMap is not valid JSON: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let target = TargetInput::new(
        a.input.as_deref(),
        a.input_path.as_deref(),
        map.as_ref(),
        a.input_template.as_deref(),
    );
    let ctx = RuleContext {
        rule_name: a.rule_name,
        rule_arn: a.rule_arn,
        event_bus_name: a.event_bus_name,
        ingestion_time: a.ingestion_time.unwrap_or_else(|| match event.get("time") {
            Some(patterns::json::Json::Str(t)) => t.clone(),
            _ => String::new(),
        }),
    };
    match target.and_then(|t| t.apply(&event, &ctx)) {
        Ok(body) => {
            println!("{body}");
            Ok(ExitCode::SUCCESS)
        }
        Err(TransformError::Invalid(m)) => {
            eprintln!("ValidationException: {m}");
            Ok(ExitCode::from(2))
        }
        Err(e @ TransformError::Dropped(_)) => {
            eprintln!("{e}");
            Ok(ExitCode::from(3))
        }
    }
}
