//! Arbitrary bytes as a state machine definition: parsing and validation must never panic, and a
//! definition that validates must run to completion (the 25,000-event limit ends loops).
#![no_main]

use asl::context::{ExecutionInfo, MachineType};
use asl::runner::{NoTasks, Runner, VirtualClock};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(sm) = asl::StateMachine::parse(text) else { return };
    let start = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    let info = ExecutionInfo {
        region: "us-east-1".into(),
        account: "000000000000".into(),
        state_machine_name: "fuzz".into(),
        execution_name: "fuzz".into(),
        machine_type: MachineType::Standard,
        role_arn: "arn:aws:iam::000000000000:role/fuzz".into(),
        start_time: start,
        redrive_count: 0,
        seed: 1,
        parent: None,
    };
    let (mut clock, mut tasks) = (VirtualClock(start), NoTasks);
    let input = serde_json::json!({"a": [1, 2, {"b": "c"}], "n": 3, "s": "x", "t": "2024-01-01T00:00:00Z"});
    let _ = Runner::new(info, &mut clock, &mut tasks).run(&sm, input);
});
