//! The conformance corpora in `../shared/conformance`, run through their own runners against the
//! real binary. Every failure must be listed, with a reason, in `tests/conformance/*-known-failures.txt`;
//! a case that starts passing must be removed from its list.

use crate::support::{repo_root, shared_dir};
use std::collections::BTreeSet;
use std::process::Command;

fn known_failures() -> BTreeSet<String> {
    known("asl-known-failures.txt")
}

fn known(file: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("tests/conformance").join(file))
        .unwrap_or_else(|_| panic!("tests/conformance/{file}"));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(" -- ").next().unwrap_or(l).trim().to_string())
        .collect()
}

#[test]
fn asl_corpus_matches_aws() {
    let shared = shared_dir();
    let runner = shared.join("conformance/asl/run.py");
    let cases = shared.join("conformance/asl/cases.jsonl");
    let out = Command::new("python3")
        .arg(&runner)
        .arg("--cmd")
        .arg(format!("{} asl run", env!("CARGO_BIN_EXE_shoal")))
        .args(["--pass-type", "--show-failures", "--jobs", "4"])
        .arg(&cases)
        .output()
        .expect("python3 runs the conformance runner");
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("");
    let (passed, failed) =
        parse_counts(last).unwrap_or_else(|| panic!("runner output ended with '{last}':\n{text}"));
    let failing: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('['))
        .filter_map(|l| l.split_once("] ").map(|(_, n)| n.trim().to_string()))
        .collect();
    let known = known_failures();
    let unexpected: Vec<_> = failing.difference(&known).collect();
    let fixed: Vec<_> = known.difference(&failing).collect();
    assert!(
        unexpected.is_empty(),
        "new conformance failures (not in the known-failures list):\n{}",
        text
    );
    assert!(fixed.is_empty(), "these known failures pass now; remove them from tests/conformance/asl-known-failures.txt: {fixed:?}");
    assert_eq!(passed + failed, 1003, "the corpus has 1,003 cases");
    assert!(
        passed * 100 >= 97 * 1003,
        "at least 97% must pass, got {passed}"
    );
}

fn parse_counts(line: &str) -> Option<(usize, usize)> {
    let (p, rest) = line.split_once(" passed, ")?;
    let f = rest.split_whitespace().next()?;
    Some((p.trim().parse().ok()?, f.parse().ok()?))
}

/// `../shared/conformance/schedules`: cron/rate/at validation for rules and Scheduler, and fire
/// times. The one case the runner skips depends on the bus a rule lives on (tested with the API).
#[test]
fn schedule_corpus_matches_aws() {
    let shared = shared_dir();
    let out = Command::new("python3")
        .arg(shared.join("conformance/schedules/run.py"))
        .arg("--cmd")
        .arg(format!("{} schedule next", env!("CARGO_BIN_EXE_shoal")))
        .arg("--show-failures")
        .output()
        .expect("python3 runs the schedule runner");
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("");
    assert_eq!(last, "126 passed, 0 failed, 1 skipped", "{text}");
}

/// `../shared/conformance/event-patterns`: 1,096 patterns recorded from AWS and from event-ruler.
#[test]
fn event_pattern_corpus_matches_aws() {
    let shared = shared_dir();
    let out = Command::new("python3")
        .arg(shared.join("conformance/event-patterns/run.py"))
        .arg("--cmd")
        .arg(format!(
            "{} events test-pattern",
            env!("CARGO_BIN_EXE_shoal")
        ))
        .args(["--batch", "--show-failures", "2000", "--cases"])
        .arg(shared.join("conformance/event-patterns/cases.jsonl"))
        .output()
        .expect("python3 runs the event-pattern runner");
    let text = String::from_utf8_lossy(&out.stdout);
    let failing: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("- "))
        .filter_map(|l| l.rsplit_once(" [").map(|(n, _)| n.trim().to_string()))
        .collect();
    let known = known("event-patterns-known-failures.txt");
    let unexpected: Vec<_> = failing.difference(&known).collect();
    let fixed: Vec<_> = known.difference(&failing).collect();
    assert!(
        unexpected.is_empty(),
        "new event-pattern failures: {unexpected:?}\n{text}"
    );
    assert!(
        fixed.is_empty(),
        "these known failures pass now; remove them from the list: {fixed:?}"
    );
    let last = text.lines().last().unwrap_or("");
    assert_eq!(
        last,
        format!("{} passed, {} failed", 1096 - known.len(), known.len()),
        "{text}"
    );
}

/// `../shared/conformance/input-transformers`: InputPath and InputTransformer bodies recorded from AWS.
#[test]
fn input_transformer_corpus_matches_aws() {
    let shared = shared_dir();
    let out = Command::new("python3")
        .arg(shared.join("conformance/input-transformers/run.py"))
        .arg("--cmd")
        .arg(format!("{} events transform", env!("CARGO_BIN_EXE_shoal")))
        .arg("--show-failures")
        .output()
        .expect("python3 runs the input-transformer runner");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().last().unwrap_or(""),
        "35 passed, 0 failed",
        "{text}"
    );
}
