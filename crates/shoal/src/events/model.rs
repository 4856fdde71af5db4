//! What the event service stores: buses, rules (with their targets) and deliveries in flight.

use crate::store::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Bus {
    pub arn: String,
    pub name: String,
    pub region: String,
    pub account: String,
    pub description: Option<String>,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

impl Record for Bus {
    const KIND: &'static str = "events.bus";
    fn key(&self) -> String {
        self.arn.clone()
    }
    /// Buses are listed per account and region.
    fn owner(&self) -> String {
        format!("{}:{}", self.account, self.region)
    }
    fn sort(&self) -> i64 {
        self.created.timestamp_millis()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Rule {
    pub arn: String,
    pub name: String,
    pub bus_name: String,
    pub bus_arn: String,
    pub pattern: Option<String>,
    pub schedule: Option<String>,
    /// `ENABLED`, `DISABLED` or `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub state: String,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub created: DateTime<Utc>,
    /// The targets as PutTargets received them (validated), in the order they were put.
    #[serde(default)]
    pub targets: Vec<Value>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

impl Rule {
    pub fn enabled(&self) -> bool {
        self.state.starts_with("ENABLED")
    }
}

impl Record for Rule {
    const KIND: &'static str = "events.rule";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn owner(&self) -> String {
        self.bus_arn.clone()
    }
    fn sort(&self) -> i64 {
        self.created.timestamp_millis()
    }
}

/// One event on its way to one target: stored when the event is accepted, deleted once the
/// target took it, so a restart resumes every delivery in flight (at-least-once).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub rule_arn: String,
    /// The target as the rule held it when the event matched.
    pub target: Value,
    /// The body the target receives (after Input, InputPath or InputTransformer).
    pub input: String,
    /// The event itself, for bus targets and dead-letter messages.
    pub event: String,
    pub attempts: u32,
    pub first: DateTime<Utc>,
    pub due: DateTime<Utc>,
    /// `PENDING`, or `FAILED` once retries are spent (kept for inspection).
    pub status: String,
    pub last_error: Option<String>,
}

impl Record for Delivery {
    const KIND: &'static str = "events.delivery";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.rule_arn.clone()
    }
    fn status(&self) -> String {
        self.status.clone()
    }
    fn sort(&self) -> i64 {
        self.due.timestamp_millis()
    }
}
