//! Composite alarms: an `AlarmRule` over other alarms' states (see [`super::rule`]), stored
//! with its actions and state. The rule holding puts it in ALARM, otherwise OK; it starts in
//! INSUFFICIENT_DATA until first evaluated.

use super::alarms::{Actions, Head, Standing};
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
    #[serde(flatten)]
    pub actions: Actions,
    #[serde(flatten)]
    pub standing: Standing,
    pub configuration_updated: DateTime<Utc>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl CompositeAlarm {
    pub fn head(&self) -> Head<'_> {
        Head {
            scope: &self.scope,
            name: &self.name,
            description: self.description.as_deref(),
            actions: &self.actions,
            standing: &self.standing,
            configuration_updated: self.configuration_updated,
        }
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
