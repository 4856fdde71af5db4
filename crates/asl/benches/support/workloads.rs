//! The benchmark workloads, shared by the criterion benchmark and the callgrind example.

use asl::context::{ExecutionInfo, MachineType};
use asl::runner::{NoTasks, Runner, Status, VirtualClock};
use asl::StateMachine;
use serde_json::{json, Map, Value};

pub fn info() -> ExecutionInfo {
    ExecutionInfo {
        region: "us-east-1".into(),
        account: "000000000000".into(),
        state_machine_name: "bench".into(),
        execution_name: "bench".into(),
        machine_type: MachineType::Standard,
        role_arn: "arn:aws:iam::000000000000:role/bench".into(),
        start_time: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
        redrive_count: 0,
        seed: 1,
        parent: None,
    }
}

pub fn run(sm: &StateMachine, input: &Value) {
    let i = info();
    let (mut clock, mut tasks) = (VirtualClock(i.start_time), NoTasks);
    let r = Runner::new(i, &mut clock, &mut tasks).run(sm, input.clone());
    assert_eq!(r.status, Status::Succeeded, "{:?} {:?}", r.error, r.cause);
}

/// 100 Pass states, each building a small object from the input and storing it with ResultPath.
pub fn pass_chain(jsonata: bool) -> StateMachine {
    let mut states = Map::new();
    for i in 0..100 {
        let mut s = if jsonata {
            json!({"Type": "Pass", "Output": "{% $merge([$states.input, {'step': $states.input.step + 1, 'last': {'name': $states.input.name, 'i': $states.input.step}}]) %}"})
        } else {
            json!({"Type": "Pass", "Parameters": {"name.$": "$.name", "i.$": "$.step"}, "ResultPath": "$.last"})
        };
        if i == 99 {
            s["End"] = json!(true);
        } else {
            s["Next"] = json!(format!("S{}", i + 1));
        }
        states.insert(format!("S{i}"), s);
    }
    let mut d = json!({"StartAt": "S0", "States": states});
    if jsonata {
        d["QueryLanguage"] = json!("JSONata");
    }
    StateMachine::from_value(&d).expect("valid")
}

/// A counter loop: Increment (Pass) then Check (Choice with three rules) until the count is reached.
pub fn choice_loop(jsonata: bool, n: u64) -> StateMachine {
    let d = if jsonata {
        json!({"QueryLanguage": "JSONata", "StartAt": "Inc", "States": {
            "Inc": {"Type": "Pass", "Output": "{% {'i': $states.input.i + 1, 'n': $states.input.n, 'kind': $states.input.kind} %}", "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [
                {"Condition": "{% $states.input.kind = 'never' %}", "Next": "Done"},
                {"Condition": "{% $states.input.i >= $states.input.n %}", "Next": "Done"},
                {"Condition": "{% $states.input.i < $states.input.n %}", "Next": "Inc"}], "Default": "Done"},
            "Done": {"Type": "Succeed"}}})
    } else {
        json!({"StartAt": "Inc", "States": {
            "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)", "n.$": "$.n", "kind.$": "$.kind"}, "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [
                {"Variable": "$.kind", "StringEquals": "never", "Next": "Done"},
                {"Variable": "$.i", "NumericGreaterThanEqualsPath": "$.n", "Next": "Done"},
                {"And": [{"Variable": "$.i", "IsNumeric": true}, {"Variable": "$.i", "NumericLessThanPath": "$.n"}], "Next": "Inc"}], "Default": "Done"},
            "Done": {"Type": "Succeed"}}})
    };
    let _ = n;
    StateMachine::from_value(&d).expect("valid")
}

/// A distributed Map (an inline Map of 10,000 items would pass AWS's 25,000-event history limit,
/// as it does on AWS): each item runs as a child execution with its own history.
pub fn map_items(jsonata: bool) -> StateMachine {
    let d = if jsonata {
        json!({"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {"Type": "Map", "Items": "{% $states.input.items %}",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% {'v': $states.input.v * 2} %}", "End": true}}}, "End": true}}})
    } else {
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"v.$": "$.v"}, "End": true}}}, "End": true}}})
    };
    StateMachine::from_value(&d).expect("valid")
}

/// An inline Map whose items read the context object (`$$.Map.Item.Value`, the execution's
/// name): its cost per item must not grow with the number of items.
pub fn map_context(jsonata: bool) -> StateMachine {
    let d = if jsonata {
        json!({"QueryLanguage": "JSONata", "StartAt": "M", "States": {"M": {"Type": "Map", "Items": "{% $states.input.items %}",
            "ItemSelector": "{% {'v': $states.context.Map.Item.Value.v} %}",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Output": "{% {'v': $states.input.v, 'by': $states.context.Execution.Name} %}", "End": true}}}, "End": true}}})
    } else {
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
            "ItemSelector": {"v.$": "$$.Map.Item.Value.v"},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"v.$": "$.v", "by.$": "$$.Execution.Name"}, "End": true}}}, "End": true}}})
    };
    StateMachine::from_value(&d).expect("valid")
}
