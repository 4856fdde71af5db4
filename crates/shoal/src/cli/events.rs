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
    let EventsCommand::TestPattern(a) = cmd;
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
                Ok(m) => m.to_string(),
                Err(_) => "invalid".into(),
            },
            _ => "invalid".into(),
        };
        writeln!(out, "{verdict}")?;
    }
    Ok(ExitCode::SUCCESS)
}
