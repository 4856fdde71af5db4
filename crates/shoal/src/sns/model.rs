//! What the topic service stores: topics, subscriptions, the deliveries in flight, and the
//! outbox of email kept when no SMTP server is configured.

use crate::store::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Topic {
    pub arn: String,
    pub name: String,
    /// `account:region`.
    pub owner: String,
    /// The settable attributes (`DisplayName`, `Policy`, `DeliveryPolicy`, `FifoTopic`, ...).
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub created: DateTime<Utc>,
}

impl Topic {
    pub fn fifo(&self) -> bool {
        self.name.ends_with(".fifo")
    }
}

impl Record for Topic {
    const KIND: &'static str = "sns.topic";
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
pub struct Subscription {
    pub arn: String,
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    /// `account:region` of the subscriber.
    pub owner: String,
    /// `FilterPolicy`, `FilterPolicyScope`, `RawMessageDelivery`, `RedrivePolicy`, ...
    pub attributes: BTreeMap<String, String>,
    /// Email and HTTP subscriptions wait for their endpoint to confirm.
    pub pending: bool,
    pub token: String,
    pub created: DateTime<Utc>,
}

impl Subscription {
    pub fn raw(&self) -> bool {
        self.attributes
            .get("RawMessageDelivery")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

impl Record for Subscription {
    const KIND: &'static str = "sns.subscription";
    fn key(&self) -> String {
        self.arn.clone()
    }
    fn owner(&self) -> String {
        self.topic_arn.clone()
    }
    fn status(&self) -> String {
        if self.pending { "PENDING" } else { "CONFIRMED" }.into()
    }
    fn sort(&self) -> i64 {
        self.created.timestamp_millis()
    }
}

/// One message on its way to one subscriber.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub message_id: String,
    pub topic_arn: String,
    pub subscription_arn: String,
    pub protocol: String,
    pub endpoint: String,
    /// What the endpoint receives: the JSON notification, or the raw message.
    pub body: String,
    /// Email subject (and the `Subject` of the notification).
    pub subject: Option<String>,
    /// Message attributes for raw SQS deliveries, as SQS takes them.
    #[serde(default)]
    pub attributes: serde_json::Value,
    pub group: Option<String>,
    pub dedup: Option<String>,
    /// The HTTP `x-amz-sns-message-type`: `Notification` or `SubscriptionConfirmation`.
    pub kind: String,
    pub attempts: u32,
    pub first: DateTime<Utc>,
    pub due: DateTime<Utc>,
    /// `PENDING`, or `FAILED` once retries are spent (kept for inspection).
    pub status: String,
    pub last_error: Option<String>,
    /// The `SignatureVersion` the body is still to be signed with: notifications are signed
    /// when they are sent, on the delivery's own task, so that Publish does not wait for RSA.
    #[serde(default)]
    pub sign: Option<String>,
}

impl Record for Delivery {
    const KIND: &'static str = "sns.delivery";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.topic_arn.clone()
    }
    fn status(&self) -> String {
        self.status.clone()
    }
    fn sort(&self) -> i64 {
        self.due.timestamp_millis()
    }
}

/// An email shoal would have sent: kept when no SMTP server is configured (`shoal mail`).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Mail {
    pub id: String,
    pub to: String,
    pub from: String,
    pub subject: String,
    pub body: String,
    pub at: DateTime<Utc>,
}

impl Record for Mail {
    const KIND: &'static str = "sns.mail";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn sort(&self) -> i64 {
        self.at.timestamp_millis()
    }
}
