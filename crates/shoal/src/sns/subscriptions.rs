//! Subscriptions: subscribe (queues at once; email and HTTP endpoints after they confirm),
//! confirm, unsubscribe, attributes, and the filter policy each one applies.

use super::model::{Delivery, Subscription};
use super::{Result, Sns, SnsError};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Records, Scan};
use chrono::Utc;
use patterns::filter_policy::{FilterPolicy, Scope as PolicyScope};
use std::collections::BTreeMap;

const SETTABLE: [&str; 6] = [
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
];

/// The protocols shoal delivers to.
pub const PROTOCOLS: [&str; 6] = ["sqs", "lambda", "http", "https", "email", "email-json"];

/// The compiled filter policy of a subscription's attributes, if it has one.
pub fn policy(attributes: &BTreeMap<String, String>) -> Result<Option<FilterPolicy>> {
    let Some(text) = attributes
        .get("FilterPolicy")
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(None);
    };
    let scope = match attributes.get("FilterPolicyScope").map(String::as_str) {
        None | Some("MessageAttributes") => PolicyScope::MessageAttributes,
        Some("MessageBody") => PolicyScope::MessageBody,
        Some(other) => {
            return Err(SnsError::invalid(format!(
                "FilterPolicyScope: Invalid value [{other}]. Please use either MessageBody or MessageAttributes"
            )))
        }
    };
    FilterPolicy::parse(text, scope)
        .map(Some)
        .map_err(|e| SnsError::invalid(e.0))
}

fn check_endpoint(protocol: &str, endpoint: &str) -> Result<()> {
    let ok = match protocol {
        "sqs" => endpoint.starts_with("arn:aws:sqs:") && endpoint.split(':').count() == 6,
        "lambda" => endpoint.starts_with("arn:aws:lambda:") && endpoint.contains(":function:"),
        "http" => endpoint.starts_with("http://"),
        "https" => endpoint.starts_with("https://"),
        "email" | "email-json" => {
            endpoint.parse::<lettre::message::Mailbox>().is_ok() && endpoint.contains('@')
        }
        "firehose" | "application" | "sms" => {
            return Err(SnsError::invalid(format!(
                "Amazon SNS in shoal does not deliver to the {protocol} protocol yet (it delivers to {})",
                PROTOCOLS.join(", ")
            )))
        }
        _ => {
            return Err(SnsError::invalid(format!(
                "Amazon SNS does not support this protocol string: {protocol}"
            )))
        }
    };
    if !ok {
        return Err(SnsError::invalid(format!(
            "Invalid {protocol} endpoint: {endpoint}"
        )));
    }
    Ok(())
}

impl Sns {
    pub async fn subscribe(
        &self,
        topic_arn: &str,
        protocol: &str,
        endpoint: &str,
        attributes: BTreeMap<String, String>,
        scope: &Scope,
    ) -> Result<Subscription> {
        let _change = self.changes.lock().await;
        let topic = self.topic(topic_arn)?;
        check_endpoint(protocol, endpoint)?;
        if let Some(k) = attributes.keys().find(|k| !SETTABLE.contains(&k.as_str())) {
            return Err(SnsError::invalid(format!(
                "Attributes Reason: Unknown attribute {k}"
            )));
        }
        policy(&attributes)?;
        if topic.fifo() && protocol != "sqs" {
            return Err(SnsError::invalid(format!(
                "Invalid parameter: Endpoint Reason: FIFO SNS Topics currently only support Amazon SQS FIFO queues as endpoints; not {protocol}"
            )));
        }
        if let Some(s) = self
            .subscriptions_of(topic_arn)?
            .into_iter()
            .find(|s| s.protocol == protocol && s.endpoint == endpoint)
        {
            if attributes
                .iter()
                .any(|(k, v)| s.attributes.get(k) != Some(v))
            {
                return Err(SnsError::invalid(
                    "Attributes Reason: Subscription already exists with different attributes",
                ));
            }
            return Ok(s);
        }
        let pending = matches!(protocol, "http" | "https" | "email" | "email-json");
        let sub = Subscription {
            arn: format!("{topic_arn}:{}", uuid::Uuid::new_v4()),
            topic_arn: topic_arn.into(),
            protocol: protocol.into(),
            endpoint: endpoint.into(),
            owner: format!("{}:{}", scope.account, scope.region),
            attributes,
            pending,
            token: hex_token(),
            created: Utc::now(),
        };
        let mut writes = vec![put(&sub)];
        let confirmation = pending.then(|| self.confirmation(&topic, &sub));
        if let Some(d) = &confirmation {
            writes.push(put(d));
        }
        self.store.commit(writes).done().await?;
        if let Some(d) = confirmation {
            let _ = self.tx.send(d);
        }
        Ok(sub)
    }

    /// ConfirmSubscription with the token the endpoint received.
    pub async fn confirm(&self, topic_arn: &str, token: &str) -> Result<Subscription> {
        let _change = self.changes.lock().await;
        self.topic(topic_arn)?;
        let mut sub = self
            .subscriptions_of(topic_arn)?
            .into_iter()
            .find(|s| s.token == token)
            .ok_or_else(|| SnsError::invalid("Token"))?;
        if sub.pending {
            sub.pending = false;
            self.store.commit(vec![put(&sub)]).done().await?;
        }
        Ok(sub)
    }

    pub async fn unsubscribe(&self, arn: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        if self.store.load::<Subscription>(arn)?.is_none() {
            return Err(SnsError::not_found("Subscription does not exist"));
        }
        self.store
            .commit(vec![delete::<Subscription>(arn)])
            .done()
            .await?;
        Ok(())
    }

    pub fn subscription(&self, arn: &str) -> Result<Subscription> {
        self.store
            .load::<Subscription>(arn)?
            .ok_or_else(|| SnsError::not_found("Subscription does not exist"))
    }

    pub fn subscriptions_of(&self, topic_arn: &str) -> Result<Vec<Subscription>> {
        Ok(self.store.list(Scan {
            owner: Some(topic_arn),
            ..Default::default()
        })?)
    }

    /// Every subscription to the topics of one account and region.
    pub fn subscriptions(&self, scope: &Scope) -> Result<Vec<Subscription>> {
        let prefix = format!("arn:aws:sns:{}:{}:", scope.region, scope.account);
        let all: Vec<Subscription> = self.store.list(Scan::default())?;
        Ok(all
            .into_iter()
            .filter(|s| s.topic_arn.starts_with(&prefix))
            .collect())
    }

    pub async fn set_subscription_attribute(
        &self,
        arn: &str,
        name: &str,
        value: &str,
    ) -> Result<()> {
        let _change = self.changes.lock().await;
        if !SETTABLE.contains(&name) {
            return Err(SnsError::invalid(format!("AttributeName: {name}")));
        }
        let mut sub = self.subscription(arn)?;
        sub.attributes.insert(name.into(), value.into());
        policy(&sub.attributes)?;
        self.store.commit(vec![put(&sub)]).done().await?;
        Ok(())
    }

    pub fn subscription_attributes(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let s = self.subscription(arn)?;
        let mut a = BTreeMap::from([
            ("SubscriptionArn".to_string(), s.arn.clone()),
            ("TopicArn".to_string(), s.topic_arn.clone()),
            ("Protocol".to_string(), s.protocol.clone()),
            ("Endpoint".to_string(), s.endpoint.clone()),
            (
                "Owner".to_string(),
                s.owner.split(':').next().unwrap_or("").to_string(),
            ),
            ("PendingConfirmation".to_string(), s.pending.to_string()),
            (
                "ConfirmationWasAuthenticated".to_string(),
                (!s.pending).to_string(),
            ),
            ("RawMessageDelivery".to_string(), s.raw().to_string()),
        ]);
        if s.attributes.contains_key("FilterPolicy") {
            a.insert("FilterPolicyScope".into(), "MessageAttributes".into());
        }
        a.extend(s.attributes);
        Ok(a)
    }

    /// The confirmation request a new email or HTTP subscription is sent.
    fn confirmation(&self, topic: &super::model::Topic, sub: &Subscription) -> Delivery {
        let link = format!(
            "{}/?Action=ConfirmSubscription&TopicArn={}&Token={}",
            self.base_url,
            query_encode(&topic.arn),
            sub.token
        );
        let now = Utc::now();
        let message = format!(
            "You have chosen to subscribe to the topic {}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
            topic.arn
        );
        let (body, subject) = if sub.protocol == "email" {
            let name = topic
                .attributes
                .get("DisplayName")
                .filter(|d| !d.is_empty())
                .cloned()
                .unwrap_or_else(|| "AWS Notifications".into());
            (
                format!(
                    "You have chosen to subscribe to the topic: \n{}\n\nTo confirm this subscription, click or visit the link below (If this was in error no action is necessary):\nConfirm subscription\n{link}\n\nPlease do not reply directly to this email. If you wish to remove yourself from receiving all future SNS subscription confirmation requests please send an email to sns-opt-out",
                    topic.arn
                ),
                Some(format!("{name} - Subscription Confirmation")),
            )
        } else {
            let v = serde_json::json!({
                "Type": "SubscriptionConfirmation",
                "MessageId": uuid::Uuid::new_v4().to_string(),
                "Token": sub.token,
                "TopicArn": topic.arn,
                "Message": message,
                "SubscribeURL": link,
                "Timestamp": super::publish::timestamp(now),
            });
            (serde_json::to_string_pretty(&v).unwrap_or_default(), None)
        };
        Delivery {
            id: uuid::Uuid::new_v4().to_string(),
            message_id: uuid::Uuid::new_v4().to_string(),
            topic_arn: topic.arn.clone(),
            subscription_arn: sub.arn.clone(),
            protocol: sub.protocol.clone(),
            endpoint: sub.endpoint.clone(),
            body,
            subject,
            attributes: serde_json::Value::Null,
            group: None,
            dedup: None,
            kind: "SubscriptionConfirmation".into(),
            attempts: 0,
            first: now,
            due: now,
            status: "PENDING".into(),
            last_error: None,
            sign: (sub.protocol != "email")
                .then(|| super::signing::signature_version(topic).to_string()),
        }
    }
}

fn hex_token() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{b}")
}

/// Encodes a query-string value.
pub fn query_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
