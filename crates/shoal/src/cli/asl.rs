//! `shoal asl run` and `shoal asl validate`.

use anyhow::{Context as _, Result};
use asl::context::{ExecutionInfo, MachineType};
use asl::mock::MockTasks;
use asl::runner::{Clock, NoTasks, Runner, Status, TaskHandler, VirtualClock};
use asl::StateMachine;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum AslCommand {
    /// Run one execution to completion in process and print one JSON object:
    /// {"status":"SUCCEEDED","output":...} or {"status":"FAILED","error":...,"cause":...}.
    ///
    /// Waits use a virtual clock (a day-long Wait finishes at once) unless --real-time is given.
    /// Task states are answered by a Step Functions Local mock file (--mock, --test-case).
    /// Exit status: 0 succeeded, 1 failed or timed out, 2 invalid definition, input or usage.
    Run(RunArgs),
    /// Check a definition the way CreateStateMachine does; print every problem with its
    /// JSON-pointer location. Exit status 0 when valid, 2 otherwise.
    Validate(ValidateArgs),
}

#[derive(Copy, Clone, Debug, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum TypeArg {
    Standard,
    Express,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The state machine definition (ASL JSON).
    #[arg(long, short = 'd')]
    definition: PathBuf,
    /// The execution input as JSON text.
    #[arg(long, short = 'i', default_value = "{}", conflicts_with = "input_file")]
    input: String,
    /// Read the execution input from a file instead.
    #[arg(long)]
    input_file: Option<PathBuf>,
    /// The workflow type: STANDARD or EXPRESS.
    #[arg(long = "type", value_enum, default_value = "STANDARD")]
    machine_type: TypeArg,
    /// A Step Functions Local mock file (MockConfigFile.json) answering Task states.
    #[arg(long, requires = "test_case")]
    mock: Option<PathBuf>,
    /// The test case of the mock file to use.
    #[arg(long, requires = "mock")]
    test_case: Option<String>,
    /// The state machine of the mock file, when several define the test case.
    #[arg(long)]
    state_machine: Option<String>,
    /// Wait for real instead of skipping ahead on a virtual clock.
    #[arg(long)]
    real_time: bool,
    /// Also print the history events (in a "history" member of the result).
    #[arg(long)]
    history: bool,
    /// The execution name (appears in $$.Execution.Name and ARNs).
    #[arg(long, default_value = "local-execution")]
    name: String,
    /// The state machine name (appears in $$.StateMachine.Name and ARNs).
    #[arg(long, default_value = "local-state-machine")]
    machine_name: String,
    /// Seed for States.MathRandom, States.UUID and $random (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The definition file.
    file: PathBuf,
    /// Print the diagnostics as JSON (as ValidateStateMachineDefinition returns them).
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: AslCommand) -> Result<ExitCode> {
    match cmd {
        AslCommand::Run(a) => run_execution(a),
        AslCommand::Validate(a) => validate(a),
    }
}

/// Sleeps for real: the library only decides when; the binary waits.
struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn sleep_until(&mut self, t: DateTime<Utc>) -> Result<(), asl::runner::Interrupt> {
        if let Ok(d) = (t - Utc::now()).to_std() {
            std::thread::sleep(d);
        }
        Ok(())
    }
}

fn print(v: &Value) {
    println!(
        "{}",
        serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
    );
}

fn invalid(cause: &str) -> ExitCode {
    print(&json!({"status": "FAILED", "error": "InvalidDefinition", "cause": cause}));
    ExitCode::from(2)
}

fn run_execution(a: RunArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.definition)
        .with_context(|| format!("cannot read the definition {}", a.definition.display()))?;
    let sm = match StateMachine::parse(&text) {
        Ok(sm) => sm,
        Err(diags) => return Ok(invalid(&asl::error::invalid_definition_message(&diags))),
    };
    let input_text = match &a.input_file {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("cannot read the input {}", p.display()))?,
        None => a.input.clone(),
    };
    let input: Value = match serde_json::from_str(&input_text) {
        Ok(v) => v,
        Err(e) => {
            print(
                &json!({"status": "FAILED", "error": "InvalidExecutionInput", "cause": format!("Invalid State Machine Execution Input: '{e}'")}),
            );
            return Ok(ExitCode::from(2));
        }
    };
    let mut tasks: Box<dyn TaskHandler> = match (&a.mock, &a.test_case) {
        (Some(path), Some(case)) => {
            let t = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the mock file {}", path.display()))?;
            Box::new(
                MockTasks::from_str(&t, case, a.state_machine.as_deref())
                    .with_context(|| format!("in {}", path.display()))?,
            )
        }
        _ => Box::new(NoTasks),
    };
    let start = Utc::now();
    let seed = a
        .seed
        .unwrap_or_else(|| start.timestamp_nanos_opt().unwrap_or(0) as u64);
    let info = ExecutionInfo {
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        account: "000000000000".into(),
        state_machine_name: a.machine_name.clone(),
        execution_name: a.name.clone(),
        machine_type: match a.machine_type {
            TypeArg::Standard => MachineType::Standard,
            TypeArg::Express => MachineType::Express,
        },
        role_arn: "arn:aws:iam::000000000000:role/shoal-local".into(),
        start_time: start,
        redrive_count: 0,
        seed,
        parent: None,
    };
    let mut virtual_clock = VirtualClock(start);
    let mut real_clock = RealClock;
    let clock: &mut dyn Clock = if a.real_time {
        &mut real_clock
    } else {
        &mut virtual_clock
    };
    let result = Runner::new(info, clock, tasks.as_mut())
        .with_history_details(a.history)
        .run(&sm, input);
    let mut out = result.to_json();
    if a.history {
        out["history"] = serde_json::to_value(&result.history.events)?;
    }
    print(&out);
    Ok(match result.status {
        Status::Succeeded => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

fn validate(a: ValidateArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let diags = match StateMachine::parse(&text) {
        Ok(_) => vec![],
        Err(d) => d,
    };
    if a.json {
        let list: Vec<Value> = diags
            .iter()
            .map(|d| json!({"severity": "ERROR", "code": d.code, "message": d.message, "location": d.location}))
            .collect();
        print(
            &json!({"result": if diags.is_empty() { "OK" } else { "FAIL" }, "diagnostics": list}),
        );
    } else if diags.is_empty() {
        println!(
            "OK: {} is a valid state machine definition",
            a.file.display()
        );
    } else {
        for d in &diags {
            println!("ERROR {} at {}: {}", d.code, d.location, d.message);
        }
        println!("{} problem(s) found in {}", diags.len(), a.file.display());
    }
    Ok(if diags.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
