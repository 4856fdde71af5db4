//! Behaviour as data: every `tests/cases/**/*.json` file is a definition, an input, a mock
//! test case and the expected result, run through `shoal asl run --history`.

use crate::support::{repo_root, run, shoal, temp_file};
use chrono::DateTime;
use serde_json::{json, Value};

fn case_files() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![repo_root().join("tests/cases")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("tests/cases exists") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Seconds from each event of a `from` type to the next event of type `to`.
fn delays(history: &[Value], from: &[&str], to: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let mut start: Option<DateTime<chrono::FixedOffset>> = None;
    for e in history {
        let t =
            DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap_or("")).expect("timestamp");
        let kind = e["type"].as_str().unwrap_or("");
        if from.contains(&kind) {
            start = Some(t);
        } else if kind == to {
            if let Some(s) = start.take() {
                out.push((t - s).num_milliseconds() as f64 / 1000.0);
            }
        }
    }
    out
}

/// Retry delays: from a failed or timed-out attempt to the next TaskScheduled.
fn retry_delays(history: &[Value]) -> Vec<f64> {
    delays(history, &["TaskFailed", "TaskTimedOut"], "TaskScheduled")
}

/// How long each Wait state waited.
fn wait_delays(history: &[Value]) -> Vec<f64> {
    delays(history, &["WaitStateEntered"], "WaitStateExited")
}

#[test]
fn behaviour_cases() {
    let files = case_files();
    assert!(
        files.len() >= 10,
        "expected the case files under tests/cases"
    );
    let mut failures = Vec::new();
    for f in &files {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(f).expect("read case"))
            .expect("case is JSON");
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let def = temp_file(&format!("{name}.def.json"), &case["definition"].to_string());
        let mock = json!({"StateMachines": {"M": {"TestCases": {"T": case["mock"].as_object().map(|m| m.keys().map(|k| (k.clone(), json!(format!("{k}-resp")))).collect::<serde_json::Map<_, _>>()).unwrap_or_default()}}},
                          "MockedResponses": case["mock"].as_object().map(|m| m.iter().map(|(k, v)| (format!("{k}-resp"), v.clone())).collect::<serde_json::Map<_, _>>()).unwrap_or_default()});
        let mock_path = temp_file(&format!("{name}.mock.json"), &mock.to_string());
        let (code, out, err) = run(shoal()
            .args(["asl", "run", "--history", "--seed", "7", "--definition"])
            .arg(&def)
            .args(["--input", &case["input"].to_string(), "--mock"])
            .arg(&mock_path)
            .args(["--test-case", "T"]));
        let result: Value = match serde_json::from_str(out.trim()) {
            Ok(v) => v,
            Err(_) => {
                failures.push(format!("{name}: no JSON output (exit {code}): {out} {err}"));
                continue;
            }
        };
        let exp = &case["expected"];
        for key in ["status", "output", "error", "cause"] {
            if exp.get(key).is_some() && result.get(key) != exp.get(key) {
                failures.push(format!(
                    "{name}: {key} = {}, expected {}",
                    result.get(key).unwrap_or(&Value::Null),
                    exp[key]
                ));
            }
        }
        let want_code = if exp["status"] == "SUCCEEDED" { 0 } else { 1 };
        if code != want_code {
            failures.push(format!("{name}: exit code {code}, expected {want_code}"));
        }
        let history = result["history"].as_array().cloned().unwrap_or_default();
        if let Some(types) = case.get("history_types") {
            let got: Vec<Value> = history.iter().map(|e| e["type"].clone()).collect();
            if &Value::Array(got.clone()) != types {
                failures.push(format!("{name}: history {got:?}"));
            }
        }
        let delays = retry_delays(&history);
        if let Some(want) = case.get("retry_delays") {
            let want: Vec<f64> = want
                .as_array()
                .expect("array")
                .iter()
                .filter_map(Value::as_f64)
                .collect();
            if delays != want {
                failures.push(format!(
                    "{name}: retry delays {delays:?}, expected {want:?}"
                ));
            }
        }
        if let Some(want) = case.get("wait_delays") {
            let want: Vec<f64> = want
                .as_array()
                .expect("array")
                .iter()
                .filter_map(Value::as_f64)
                .collect();
            let got = wait_delays(&history);
            if got != want {
                failures.push(format!("{name}: wait delays {got:?}, expected {want:?}"));
            }
        }
        if let Some(max) = case.get("retry_delays_at_most") {
            let max: Vec<f64> = max
                .as_array()
                .expect("array")
                .iter()
                .filter_map(Value::as_f64)
                .collect();
            if delays.len() != max.len() || delays.iter().zip(&max).any(|(d, m)| *d < 0.0 || d > m)
            {
                failures.push(format!(
                    "{name}: jittered delays {delays:?} outside [0, {max:?}]"
                ));
            }
        }
        // every history is well formed: ids count up from 1, the first event starts the execution
        for (i, e) in history.iter().enumerate() {
            if e["id"].as_u64() != Some(i as u64 + 1) {
                failures.push(format!("{name}: event {i} has id {}", e["id"]));
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
