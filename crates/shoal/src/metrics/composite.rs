//! Composite alarms: an `AlarmRule` over other alarms' states (see [`super::rule`]), stored
//! with its actions and state. The rule holding puts it in ALARM, otherwise OK; it starts in
//! INSUFFICIENT_DATA until first evaluated.

use crate::store::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CompositeAlarm {
    /// `account:region`.
    pub scope: String,
    pub name: String,
    pub description: Option<String>,
    pub rule: String,
    pub actions_enabled: bool,
    pub ok_actions: Vec<String>,
    pub alarm_actions: Vec<String>,
    pub insufficient_data_actions: Vec<String>,
    pub state: String,
    pub reason: String,
    pub reason_data: String,
    pub state_updated: DateTime<Utc>,
    pub configuration_updated: DateTime<Utc>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl CompositeAlarm {
    pub fn arn(&self) -> String {
        let (account, region) = self.scope.split_once(':').unwrap_or(("", ""));
        format!("arn:aws:cloudwatch:{region}:{account}:alarm:{}", self.name)
    }

    pub fn actions_for(&self, state: &str) -> &[String] {
        super::alarms::actions_for(
            state,
            &self.alarm_actions,
            &self.ok_actions,
            &self.insufficient_data_actions,
        )
    }
}

impl Record for CompositeAlarm {
    const KIND: &'static str = "cw.composite";
    fn key(&self) -> String {
        format!("{}:{}", self.scope, self.name)
    }
    fn owner(&self) -> String {
        self.scope.clone()
    }
}
