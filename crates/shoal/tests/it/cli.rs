//! The command line as users meet it: exit codes, messages, and no panics on bad input.

use crate::support::{run, shared_dir, shoal, temp_file};
use serde_json::{json, Value};

fn run_def(def: &str, input: &str, extra: &[&str]) -> (i32, Value, String) {
    let p = temp_file(&format!("def-{}.json", fxhash(def)), def);
    let (code, out, err) = run(shoal()
        .args(["asl", "run", "--definition"])
        .arg(&p)
        .args(["--input", input])
        .args(extra));
    let v = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    (code, v, err)
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

#[test]
fn help_explains_the_commands() {
    let (code, out, _) = run(shoal().arg("--help"));
    assert_eq!(code, 0);
    assert!(out.contains("asl"), "{out}");
    let (code, out, _) = run(shoal().args(["asl", "run", "--help"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("--mock") && out.contains("--real-time") && out.contains("--history"),
        "{out}"
    );
}

#[test]
fn invalid_definitions_exit_2_with_aws_message() {
    let (code, v, _) = run_def(r#"{"StartAt": "A"}"#, "{}", &[]);
    assert_eq!(code, 2);
    assert_eq!(
        v,
        json!({"status": "FAILED", "error": "InvalidDefinition", "cause": "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These fields are required: [States] at /'"})
    );
}

#[test]
fn malformed_json_is_reported_with_line_and_column() {
    let (code, v, err) = run_def("{\n  \"StartAt\": \"A\",\n  oops\n}", "{}", &[]);
    assert_eq!(code, 2);
    let cause = v["cause"].as_str().unwrap_or("");
    assert!(cause.contains("line 3 column"), "{cause}");
    assert!(!err.contains("panicked"));
}

#[test]
fn malformed_input_exits_2() {
    let (code, v, _) = run_def(
        r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#,
        "{not json",
        &[],
    );
    assert_eq!(code, 2);
    assert_eq!(v["error"], "InvalidExecutionInput");
}

#[test]
fn missing_file_is_a_clear_error() {
    let (code, out, err) =
        run(shoal().args(["asl", "run", "--definition", "/nonexistent/def.json"]));
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("cannot read the definition /nonexistent/def.json"),
        "{err}"
    );
}

#[test]
fn failed_executions_exit_1() {
    let (code, v, _) = run_def(
        r#"{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","Cause":"C"}}}"#,
        "{}",
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(v, json!({"status": "FAILED", "error": "E", "cause": "C"}));
}

#[test]
fn a_day_long_wait_passes_on_the_virtual_clock() {
    let def = r#"{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":86400,"End":true}}}"#;
    let (code, v, _) = run_def(def, r#"{"a":1}"#, &["--history"]);
    assert_eq!(code, 0);
    assert_eq!(v["output"], json!({"a": 1}));
    let h = v["history"].as_array().expect("history");
    let t = |i: usize| {
        chrono::DateTime::parse_from_rfc3339(h[i]["timestamp"].as_str().expect("ts"))
            .expect("rfc3339")
    };
    assert_eq!(h[1]["type"], "WaitStateEntered");
    assert_eq!(h[2]["type"], "WaitStateExited");
    assert_eq!((t(2) - t(1)).num_seconds(), 86400);
}

#[test]
fn execution_timeout_gives_timed_out() {
    let def = r#"{"TimeoutSeconds":5,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}}"#;
    let (code, v, _) = run_def(def, "{}", &["--history"]);
    assert_eq!(code, 1);
    assert_eq!(v["status"], "TIMED_OUT");
    let types: Vec<&str> = v["history"]
        .as_array()
        .expect("h")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert_eq!(
        types,
        ["ExecutionStarted", "WaitStateEntered", "ExecutionTimedOut"]
    );
}

#[test]
fn task_without_mock_fails_clearly() {
    let def = r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","End":true}}}"#;
    let (code, v, _) = run_def(def, "{}", &[]);
    assert_eq!(code, 1);
    assert_eq!(v["error"], "Shoal.NoTaskHandler");
    assert!(v["cause"].as_str().unwrap_or("").contains("--mock"), "{v}");
}

#[test]
fn validate_lists_every_problem_with_pointers() {
    let p = temp_file(
        "bad.json",
        r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Gone"},"B":{"Type":"Choice","Choices":[]}}}"#,
    );
    let (code, out, _) = run(shoal().args(["asl", "validate"]).arg(&p));
    assert_eq!(code, 2);
    assert!(
        out.contains("MISSING_TRANSITION_TARGET at /States/A/Next"),
        "{out}"
    );
    assert!(out.contains("/States/B/Choices"), "{out}");
    let (code, out, _) = run(shoal().args(["asl", "validate", "--json"]).arg(&p));
    assert_eq!(code, 2);
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v["result"], "FAIL");
    assert!(v["diagnostics"].as_array().is_some_and(|d| d.len() >= 2));
}

#[test]
fn seed_pipeline_definitions_validate_and_run_with_mocks() {
    let dir = shared_dir().join("fixtures/amazonwebshark/asl");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("fixtures") {
        let p = e.expect("entry").path();
        let (code, out, _) = run(shoal().args(["asl", "validate"]).arg(&p));
        assert_eq!(code, 0, "{}: {out}", p.display());
        n += 1;
    }
    assert_eq!(n, 5);
    // v1: raw and bronze Lambdas; a raw failure is caught and published, and the execution still succeeds
    let v1 = dir.join("v1_2024-03-27_WordPress_Raw_To_Bronze.asl.json");
    let def: Value =
        serde_json::from_str(&std::fs::read_to_string(&v1).expect("read")).expect("json");
    let states: Vec<String> = def["States"]
        .as_object()
        .expect("states")
        .keys()
        .cloned()
        .collect();
    let raw = states
        .iter()
        .find(|s| s.contains("raw"))
        .expect("raw state")
        .clone();
    let publish = states
        .iter()
        .find(|s| s.contains("Publish"))
        .expect("publish state")
        .clone();
    let mock = json!({"StateMachines": {"wp": {"TestCases": {"RawFails": {raw.clone(): "Boom", publish.clone(): "Published"}}}},
        "MockedResponses": {"Boom": {"0": {"Throw": {"Error": "Lambda.Unknown", "Cause": "endpoint down"}}},
                            "Published": {"0": {"Return": {"MessageId": "m-1"}}}}});
    let mp = temp_file("seed-mock.json", &mock.to_string());
    let (code, out, _) = run(shoal()
        .args(["asl", "run", "--history", "--definition"])
        .arg(&v1)
        .args(["--input", "{}", "--mock"])
        .arg(&mp)
        .args(["--test-case", "RawFails"]));
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "SUCCEEDED");
    let entered: Vec<&str> = v["history"]
        .as_array()
        .expect("h")
        .iter()
        .filter(|e| e["type"] == "TaskStateEntered")
        .filter_map(|e| e["stateEnteredEventDetails"]["name"].as_str())
        .collect();
    assert_eq!(entered, [raw.as_str(), publish.as_str()]);
}

#[test]
fn garbage_never_panics() {
    let inputs = [
        "",
        "null",
        "[]",
        "\"x\"",
        "{\"States\": 1, \"StartAt\": 2}",
        r#"{"StartAt":"A","States":{"A":{"Type":"Nope"}}}"#,
        r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"States.Format("},"End":true}}}"#,
        r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"a.$":"$..[?(@"},"End":true}}}"#,
        r#"{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% ((((( %}","End":true}}}"#,
        r#"{"StartAt":"A","States":{"A":{"Type":"Map","ItemProcessor":{},"End":true}}}"#,
        r#"{"StartAt":"A","States":{"A":{"Type":"Choice","Choices":[{"Variable":"$","Nope":1,"Next":"A"}]}}}"#,
    ];
    for d in inputs {
        let (code, _, err) = run_def(d, "{}", &[]);
        assert_eq!(code, 2, "{d}");
        assert!(!err.contains("panicked"), "{d}: {err}");
    }
}

/// The README's examples, run as written, so the README stays true.
#[test]
fn readme_examples_behave_as_documented() {
    let root = crate::support::repo_root();
    let ex = |p: &str| root.join(p);
    let (code, out, _) = run(shoal()
        .args(["asl", "validate"])
        .arg(ex("examples/quickstart/typo.asl.json")));
    assert_eq!(code, 2);
    assert!(
        out.contains(
            "ERROR MISSING_TRANSITION_TARGET at /States/Raw/Next: Missing 'Next' target: Bronz"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "ERROR MISSING_TRANSITION_TARGET at /States/Bronze: State \"Bronze\" is not reachable."
        ),
        "{out}"
    );
    let runs = [
        (
            "examples/quickstart/double.asl.json",
            r#"{"n": 3}"#,
            0,
            json!({"status": "SUCCEEDED", "output": {"n": 3, "result": {"doubled": 6}}}),
        ),
        (
            "examples/quickstart/double.asl.json",
            r#"{"n": 60}"#,
            1,
            json!({"status": "FAILED", "error": "TooBig", "cause": "the doubled value is over 100"}),
        ),
        (
            "examples/quickstart/missing-path.asl.json",
            "{}",
            1,
            json!({"status": "FAILED", "error": "States.Runtime", "cause": "An error occurred while executing the state 'Pick' (entered at the event id #2). The JSONPath '$.missing' specified for the field 'value.$' could not be found in the input '{}'"}),
        ),
    ];
    for (def, input, want_code, want) in runs {
        let (code, out, _) = run(shoal()
            .args(["asl", "run", "--definition"])
            .arg(ex(def))
            .args(["--input", input]));
        assert_eq!(code, want_code, "{def}");
        assert_eq!(
            serde_json::from_str::<Value>(out.trim()).expect("json"),
            want,
            "{def}"
        );
    }
    for case in ["HappyPath", "FlakyRaw", "PartialRaw", "BronzeBroken"] {
        let (code, out, _) = run(shoal()
            .args(["asl", "run", "--history", "--definition"])
            .arg(ex("examples/pipeline/definition.asl.json"))
            .args(["--input", r#"{"endpoints": ["posts", "pages"]}"#, "--mock"])
            .arg(ex("examples/pipeline/mock.json"))
            .args(["--test-case", case]));
        let v: Value = serde_json::from_str(out.trim()).expect("json");
        assert_eq!(
            (code, &v["status"]),
            (0, &json!("SUCCEEDED")),
            "{case}: {v}"
        );
        let types: Vec<&str> = v["history"]
            .as_array()
            .expect("h")
            .iter()
            .filter_map(|e| e["type"].as_str())
            .collect();
        let failed = types.iter().filter(|t| **t == "TaskFailed").count();
        match case {
            "FlakyRaw" => assert_eq!(failed, 2, "{types:?}"),
            "BronzeBroken" => assert_eq!(
                v["output"]["MessageId"],
                "5d5e3b6a-0000-4000-8000-000000000001"
            ),
            "PartialRaw" => {
                assert!(types.iter().filter(|t| **t == "TaskStateEntered").count() == 3)
            }
            _ => assert_eq!(failed, 0),
        }
    }
}

#[test]
fn schedule_next_prints_fire_times_and_rejects_bad_input() {
    let (code, out, _) = run(shoal().args([
        "schedule",
        "next",
        "cron(0 7 * * ? *)",
        "--from",
        "2024-02-02T00:00:00Z",
        "--count",
        "2",
    ]));
    assert_eq!(
        (code, out.as_str()),
        (0, "2024-02-02T07:00:00Z\n2024-02-03T07:00:00Z\n")
    );
    // 07:00 in London is 06:00Z in summer
    let (code, out, _) = run(shoal().args([
        "schedule",
        "next",
        "cron(0 7 * * ? *)",
        "--kind",
        "scheduler",
        "--tz",
        "Europe/London",
        "--from",
        "2024-06-01T00:00:00Z",
        "--count",
        "1",
    ]));
    assert_eq!((code, out.as_str()), (0, "2024-06-01T06:00:00Z\n"));
    // the README's example, across the spring-forward weekend
    let (code, out, _) = run(shoal().args([
        "schedule",
        "next",
        "cron(0 7 * * ? *)",
        "--kind",
        "scheduler",
        "--tz",
        "Europe/London",
        "--from",
        "2024-03-29T12:00:00Z",
        "--count",
        "3",
    ]));
    assert_eq!(
        (code, out.as_str()),
        (
            0,
            "2024-03-30T07:00:00Z\n2024-03-31T06:00:00Z\n2024-04-01T06:00:00Z\n"
        )
    );
    let (code, out, err) = run(shoal().args(["schedule", "next", "rate(1 minutes)"]));
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("ValidationException: Parameter ScheduleExpression is not valid."),
        "{err}"
    );
    let (code, _, err) = run(shoal().args([
        "schedule",
        "next",
        "cron(0 1 * * * *)",
        "--kind",
        "scheduler",
    ]));
    assert_eq!(code, 2);
    assert!(
        err.contains("Invalid Schedule Expression cron(0 1 * * * *)."),
        "{err}"
    );
    let (code, _, err) = run(shoal().args([
        "schedule",
        "next",
        "cron(0 7 * * ? *)",
        "--kind",
        "scheduler",
        "--tz",
        "Mars/Olympus",
    ]));
    assert_eq!(code, 2);
    assert!(err.contains("Invalid ScheduleExpressionTimezone"), "{err}");
}

#[test]
fn events_commands_follow_the_design_interface() {
    let (code, out, _) = run(shoal().args([
        "events",
        "test-pattern",
        "--pattern",
        r#"{"source": ["aws.glue"]}"#,
        "--event",
        r#"{"source": "aws.glue"}"#,
    ]));
    assert_eq!((code, out.as_str()), (0, "true\n"));
    let (code, out, err) = run(shoal().args([
        "events",
        "test-pattern",
        "--pattern",
        r#"{"source": "aws.glue"}"#,
        "--event",
        "{}",
    ]));
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("InvalidEventPatternException"), "{err}");
    // the cost-control rule's transformer
    let event = r#"{"source": "aws.glue", "detail": {"eventName": "CreateSession", "requestParameters": {"id": "sess-1"}}}"#;
    let (code, out, _) = run(shoal().args([
        "events",
        "transform",
        "--event",
        event,
        "--input-paths-map",
        r#"{"id": "$.detail.requestParameters.id"}"#,
        "--input-template",
        r#"{"session_id": <id>}"#,
    ]));
    assert_eq!((code, out.as_str()), (0, "{\"session_id\": \"sess-1\"}\n"));
    let (code, _, err) = run(shoal().args([
        "events",
        "transform",
        "--event",
        event,
        "--input-paths-map",
        r#"{"p": "$.detail"}"#,
        "--input-template",
        r#"{"x": "<p>"}"#,
    ]));
    assert_eq!(code, 3, "{err}");
    let (code, _, _) = run(shoal().args([
        "events",
        "transform",
        "--event",
        event,
        "--input-template",
        r#""<undefined>""#,
    ]));
    assert_eq!(code, 2);
}
