//! # asl — the Amazon States Language, evaluated without I/O
//!
//! Parse and validate a definition, then run it in process with mocked tasks and a virtual clock:
//!
//! ```
//! use asl::{StateMachine, runner::{Runner, VirtualClock, NoTasks}, context::{ExecutionInfo, MachineType}};
//! let sm = StateMachine::parse(r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Result":{"x":1},"ResultPath":"$.r","End":true}}}"#).unwrap();
//! let start = chrono::Utc::now();
//! let info = ExecutionInfo { region: "us-east-1".into(), account: "123456789012".into(),
//!     state_machine_name: "m".into(), execution_name: "e".into(), machine_type: MachineType::Standard,
//!     role_arn: "arn:aws:iam::123456789012:role/r".into(), start_time: start, redrive_count: 0, seed: 1, parent: None };
//! let (mut clock, mut tasks) = (VirtualClock(start), NoTasks);
//! let result = Runner::new(info, &mut clock, &mut tasks).run(&sm, serde_json::json!({"in": true}));
//! assert_eq!(result.output, Some(serde_json::json!({"in": true, "r": {"x": 1}})));
//! ```
//!
//! The pure libraries decide and the services act: nothing here sleeps, calls the network or
//! touches a disk. The [`runner`] drives whole executions for `shoal asl run`.

pub mod aws_functions;
pub mod choice;
pub mod context;
pub mod definition;
pub mod error;
pub mod history;
pub mod intrinsics;
pub mod io;
pub mod json;
pub mod jsonpath;
pub mod mock;
pub mod retry;
pub mod runner;
pub mod states;
pub mod step;
pub mod template;
pub mod test_state;
pub mod time;

#[cfg(test)]
mod proptests;

pub use definition::StateMachine;
pub use error::{Diagnostic, Failure};

/// JSONata's names for JSON types, as AWS prints them in error messages.
pub fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}
