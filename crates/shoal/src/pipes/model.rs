//! A pipe as stored.

use crate::store::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Pipe {
    pub arn: String,
    pub name: String,
    /// `account:region`.
    pub owner: String,
    pub source: String,
    pub source_parameters: Value,
    pub enrichment: Option<String>,
    pub enrichment_parameters: Value,
    pub target: String,
    pub target_parameters: Value,
    pub role_arn: String,
    /// `RUNNING` or `STOPPED`.
    pub desired_state: String,
    pub description: Option<String>,
    pub log_configuration: Value,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

impl Record for Pipe {
    const KIND: &'static str = "pipes.pipe";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
    fn sort(&self) -> i64 {
        self.created.timestamp_millis()
    }
}

impl Pipe {
    /// The log level (`OFF`, `ERROR`, `INFO`, `TRACE`).
    pub fn log_level(&self) -> &str {
        self.log_configuration
            .get("Level")
            .and_then(Value::as_str)
            .unwrap_or("OFF")
    }
}
