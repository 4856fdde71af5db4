//! What the queue service stores: queues and their messages (each message its own record, so a
//! receive or a delete writes only what it changes).

use crate::store::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Queue {
    pub arn: String,
    pub name: String,
    /// `account:region`.
    pub owner: String,
    /// The settable attributes, as strings (AWS's wire form).
    pub attributes: BTreeMap<String, String>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Queue {
    pub fn fifo(&self) -> bool {
        self.name.ends_with(".fifo")
    }

    pub fn number(&self, attribute: &str, default: i64) -> i64 {
        self.attributes
            .get(attribute)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// `RedrivePolicy`: the dead-letter queue's ARN and the receives allowed before a message
    /// moves there.
    pub fn redrive(&self) -> Option<(String, u32)> {
        let p: Value = serde_json::from_str(self.attributes.get("RedrivePolicy")?).ok()?;
        let arn = p.get("deadLetterTargetArn")?.as_str()?.to_string();
        let max = match p.get("maxReceiveCount")? {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        Some((arn, max as u32))
    }
}

impl Record for Queue {
    const KIND: &'static str = "sqs.queue";
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
pub struct Message {
    pub id: String,
    pub queue_arn: String,
    /// Order of arrival in its queue.
    pub seq: u64,
    pub body: String,
    #[serde(default)]
    pub attributes: Value,
    pub sent: DateTime<Utc>,
    /// Not receivable before this time (delay, or a receive's visibility timeout).
    pub visible_at: DateTime<Utc>,
    pub receive_count: u32,
    pub first_received: Option<DateTime<Utc>>,
    /// The handle of the latest receive (only it may delete the message or change its
    /// visibility).
    pub receipt: Option<String>,
    pub group: Option<String>,
    pub dedup: Option<String>,
    pub sender: String,
}

impl Record for Message {
    const KIND: &'static str = "sqs.message";
    fn key(&self) -> String {
        format!("{}/{}", self.queue_arn, self.id)
    }
    fn owner(&self) -> String {
        self.queue_arn.clone()
    }
    fn sort(&self) -> i64 {
        self.seq as i64
    }
}
