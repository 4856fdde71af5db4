//! Execution history events, shaped as GetExecutionHistory returns them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

/// The most events one execution may record; AWS fails the execution past it.
pub const MAX_HISTORY_EVENTS: usize = 25_000;

/// One history event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    pub timestamp: DateTime<Utc>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: u64,
    pub previous_event_id: u64,
    /// The `...EventDetails` member, keyed by its AWS name (absent for events without details).
    #[serde(flatten)]
    pub details: Option<serde_json::Map<String, Value>>,
    /// The Parallel branch or Map iteration the event belongs to, when an executor interleaves
    /// branches (`""` at the top level); it keys their replay, and AWS's history has no such
    /// field.
    #[serde(skip)]
    pub branch: String,
}

/// The event log of one execution.
#[derive(Debug, Default, Clone)]
pub struct History {
    pub events: Vec<HistoryEvent>,
}

impl History {
    /// The id the next event will get.
    pub fn next_id(&self) -> u64 {
        self.events.len() as u64 + 1
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Appends an event; `details_key` names the AWS details member (e.g. `stateEnteredEventDetails`).
    pub fn push(
        &mut self,
        at: DateTime<Utc>,
        kind: &'static str,
        previous: u64,
        details_key: Option<&str>,
        details: Value,
    ) -> u64 {
        let id = self.next_id();
        let details = details_key.map(|k| {
            let mut m = serde_json::Map::new();
            m.insert(k.to_string(), details);
            m
        });
        self.events.push(HistoryEvent {
            timestamp: at,
            kind,
            id,
            previous_event_id: previous,
            details,
            branch: String::new(),
        });
        id
    }

    /// The event types in order (what the conformance corpus records).
    pub fn types(&self) -> Vec<&str> {
        self.events.iter().map(|e| e.kind).collect()
    }
}

/// `{"name":..., "input":..., "inputDetails":{"truncated":false}}` for StateEntered.
pub fn entered_details(name: &str, input: &Value) -> Value {
    json!({"name": name, "input": crate::json::compact(input), "inputDetails": {"truncated": false}})
}

/// Details for StateExited.
pub fn exited_details(name: &str, output: &Value) -> Value {
    json!({"name": name, "output": crate::json::compact(output), "outputDetails": {"truncated": false}})
}
