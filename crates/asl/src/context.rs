//! The context object (`$$` in JSONPath, `$states.context` in JSONata).

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// Standard or Express: Express executions have no `RedriveCount` and an `express:` ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineType {
    Standard,
    Express,
}

/// Who and what an execution is: names, ARNs, start time.
#[derive(Debug, Clone)]
pub struct ExecutionInfo {
    pub region: String,
    pub account: String,
    pub state_machine_name: String,
    pub execution_name: String,
    pub machine_type: MachineType,
    pub role_arn: String,
    pub start_time: DateTime<Utc>,
    pub redrive_count: u64,
    /// Seeds `States.MathRandom`/`States.UUID`/`$random` so a run is reproducible.
    pub seed: u64,
    /// For a distributed Map child: the parent execution's name, so ARNs nest as on AWS.
    pub parent: Option<String>,
}

impl ExecutionInfo {
    pub fn state_machine_arn(&self) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{}",
            self.region, self.account, self.state_machine_name
        )
    }

    /// Standard: `...:execution:<machine>:<name>`; Express adds a run id after the name,
    /// as StartSyncExecution's ARNs do: `...:express:<machine>:<name>:<id>`.
    pub fn execution_arn(&self) -> String {
        match self.machine_type {
            MachineType::Standard => format!(
                "arn:aws:states:{}:{}:execution:{}:{}",
                self.region, self.account, self.state_machine_name, self.execution_name
            ),
            MachineType::Express => format!(
                "arn:aws:states:{}:{}:express:{}:{}:{:016x}",
                self.region, self.account, self.state_machine_name, self.execution_name, self.seed
            ),
        }
    }

    pub fn map_run_arn(&self, label: Option<&str>) -> String {
        format!(
            "arn:aws:states:{}:{}:mapRun:{}/{}:{}",
            self.region,
            self.account,
            self.state_machine_name,
            label.unwrap_or("Map"),
            self.execution_name
        )
    }

    /// The info of the i-th child execution of a distributed Map.
    pub fn child(&self, i: usize) -> ExecutionInfo {
        let mut c = self.clone();
        c.execution_name = format!("{}-child-{i}", self.execution_name);
        c.parent = Some(self.execution_name.clone());
        c.seed = self.seed.wrapping_add(i as u64 + 1);
        c
    }
}

/// The pieces of one context object.
pub struct Context<'a> {
    pub info: &'a ExecutionInfo,
    pub execution_input: &'a Value,
    pub state_name: &'a str,
    pub entered_time: DateTime<Utc>,
    pub retry_count: Option<u32>,
    pub task_token: Option<&'a str>,
    pub map_item: Option<&'a (usize, Value)>,
}

impl Context<'_> {
    /// Builds the object with AWS's key order.
    pub fn to_value(&self) -> Value {
        let i = self.info;
        let mut exec = Map::new();
        exec.insert("Id".into(), Value::String(i.execution_arn()));
        exec.insert("Input".into(), self.execution_input.clone());
        exec.insert(
            "StartTime".into(),
            Value::String(crate::time::format_time(i.start_time)),
        );
        exec.insert("Name".into(), Value::String(i.execution_name.clone()));
        exec.insert("RoleArn".into(), Value::String(i.role_arn.clone()));
        if i.machine_type == MachineType::Standard {
            exec.insert("RedriveCount".into(), json!(i.redrive_count));
        }
        let mut state = Map::new();
        state.insert("Name".into(), Value::String(self.state_name.to_string()));
        state.insert(
            "EnteredTime".into(),
            Value::String(crate::time::format_time(self.entered_time)),
        );
        if let Some(r) = self.retry_count {
            state.insert("RetryCount".into(), json!(r));
        }
        let mut root = Map::new();
        root.insert("Execution".into(), Value::Object(exec));
        root.insert(
            "StateMachine".into(),
            json!({"Id": i.state_machine_arn(), "Name": i.state_machine_name}),
        );
        root.insert("State".into(), Value::Object(state));
        if let Some(t) = self.task_token {
            root.insert("Task".into(), json!({"Token": t}));
        }
        if let Some((idx, v)) = self.map_item {
            root.insert("Map".into(), json!({"Item": {"Index": idx, "Value": v}}));
        }
        Value::Object(root)
    }
}
