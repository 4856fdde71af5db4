//! What EventBridge Scheduler stores: schedule groups and schedules.

use crate::store::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Group {
    pub arn: String,
    pub name: String,
    /// `account:region`.
    pub owner: String,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

impl Record for Group {
    const KIND: &'static str = "scheduler.group";
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

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Schedule {
    pub arn: String,
    pub name: String,
    pub group: String,
    /// `account:region`.
    pub owner: String,
    pub expression: String,
    pub timezone: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// `{"Mode": "OFF"}` or `{"Mode": "FLEXIBLE", "MaximumWindowInMinutes": n}`.
    pub window: Value,
    /// The templated target as given: Arn, RoleArn, Input, RetryPolicy, DeadLetterConfig,
    /// EventBridgeParameters, ...
    pub target: Value,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
    pub description: Option<String>,
    /// `NONE` or `DELETE`.
    pub after_completion: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
}

impl Record for Schedule {
    const KIND: &'static str = "scheduler.schedule";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
    fn status(&self) -> String {
        self.state.clone()
    }
    fn sort(&self) -> i64 {
        self.created.timestamp_millis()
    }
}
