//! Topics: create (idempotent by name), delete (with their subscriptions), attributes, tags.

use super::model::{Subscription, Topic};
use super::{Result, Sns, SnsError};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Records, Scan};
use chrono::Utc;
use std::collections::BTreeMap;

/// Attributes a client may set on a topic.
const SETTABLE: [&str; 10] = [
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "SignatureVersion",
    "TracingConfig",
    "FifoTopic",
    "ContentBasedDeduplication",
    "ArchivePolicy",
    "FifoThroughputScope",
];

fn check_name(name: &str, attributes: &BTreeMap<String, String>) -> Result<()> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let ok = (1..=256).contains(&name.len())
        && !base.is_empty()
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(SnsError::invalid("Topic Name"));
    }
    let fifo = attributes
        .get("FifoTopic")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if fifo != name.ends_with(".fifo") {
        return Err(SnsError::invalid(
            "Fifo Topic names must end with .fifo and Standard Topic cannot end with .fifo",
        ));
    }
    Ok(())
}

impl Sns {
    pub async fn create_topic(
        &self,
        scope: &Scope,
        name: &str,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<Topic> {
        let _change = self.changes.lock().await;
        check_name(name, &attributes)?;
        if let Some(k) = attributes.keys().find(|k| !SETTABLE.contains(&k.as_str())) {
            return Err(SnsError::invalid(format!(
                "Attributes Reason: Unknown attribute {k}"
            )));
        }
        if let Some(v) = attributes.get("SignatureVersion") {
            check_signature_version(v)?;
        }
        let arn = format!("arn:aws:sns:{}:{}:{name}", scope.region, scope.account);
        if let Some(t) = self.store.load::<Topic>(&arn)? {
            let differs = attributes
                .iter()
                .any(|(k, v)| t.attributes.get(k) != Some(v));
            if differs {
                return Err(SnsError::invalid(
                    "Attributes Reason: Topic already exists with different attributes",
                ));
            }
            return Ok(t);
        }
        let topic = Topic {
            arn,
            name: name.into(),
            owner: format!("{}:{}", scope.account, scope.region),
            attributes,
            tags,
            created: Utc::now(),
        };
        self.store.commit(vec![put(&topic)]).done().await?;
        Ok(topic)
    }

    pub fn topic(&self, arn: &str) -> Result<Topic> {
        self.store
            .load::<Topic>(arn)?
            .ok_or_else(|| SnsError::not_found("Topic does not exist"))
    }

    pub fn topics(&self, scope: &Scope) -> Result<Vec<Topic>> {
        Ok(self.store.list(Scan {
            owner: Some(&format!("{}:{}", scope.account, scope.region)),
            ..Default::default()
        })?)
    }

    /// DeleteTopic: deleting a topic that does not exist succeeds, as on AWS.
    pub async fn delete_topic(&self, arn: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut writes = vec![delete::<Topic>(arn)];
        for s in self.subscriptions_of(arn)? {
            writes.push(delete::<Subscription>(&s.arn));
        }
        self.store.commit(writes).done().await?;
        Ok(())
    }

    pub async fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        if !SETTABLE.contains(&name) || name == "FifoTopic" {
            return Err(SnsError::invalid(format!("AttributeName: {name}")));
        }
        if name == "SignatureVersion" {
            check_signature_version(value)?;
        }
        let mut t = self.topic(arn)?;
        t.attributes.insert(name.into(), value.into());
        self.store.commit(vec![put(&t)]).done().await?;
        Ok(())
    }

    /// GetTopicAttributes: the set attributes and the ones SNS computes.
    pub fn topic_attributes(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let t = self.topic(arn)?;
        let subs = self.subscriptions_of(arn)?;
        let account = t.owner.split(':').next().unwrap_or("").to_string();
        let mut a = BTreeMap::from([
            ("TopicArn".to_string(), t.arn.clone()),
            ("Owner".to_string(), account.clone()),
            (
                "SubscriptionsConfirmed".to_string(),
                subs.iter().filter(|s| !s.pending).count().to_string(),
            ),
            (
                "SubscriptionsPending".to_string(),
                subs.iter().filter(|s| s.pending).count().to_string(),
            ),
            ("SubscriptionsDeleted".to_string(), "0".to_string()),
            ("DisplayName".to_string(), String::new()),
            (
                "EffectiveDeliveryPolicy".to_string(),
                r#"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}"#.to_string(),
            ),
            (
                "Policy".to_string(),
                serde_json::json!({
                    "Version": "2008-10-17",
                    "Id": "__default_policy_ID",
                    "Statement": [{
                        "Sid": "__default_statement_ID",
                        "Effect": "Allow",
                        "Principal": {"AWS": "*"},
                        "Action": ["SNS:Publish", "SNS:Subscribe", "SNS:Receive", "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:DeleteTopic", "SNS:ListSubscriptionsByTopic", "SNS:AddPermission", "SNS:RemovePermission"],
                        "Resource": t.arn,
                        "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
                    }],
                })
                .to_string(),
            ),
        ]);
        if t.fifo() {
            a.insert("FifoTopic".into(), "true".into());
            a.insert("ContentBasedDeduplication".into(), "false".into());
        }
        a.extend(t.attributes);
        Ok(a)
    }

    pub async fn tag_topic(
        &self,
        arn: &str,
        add: BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut t = self.store.load::<Topic>(arn)?.ok_or_else(|| SnsError {
            code: "ResourceNotFound",
            status: 404,
            message: "Resource does not exist".into(),
        })?;
        t.tags.extend(add);
        for k in remove {
            t.tags.remove(k);
        }
        if t.tags.len() > 50 {
            return Err(SnsError {
                code: "TagLimitExceeded",
                status: 400,
                message: "Could not complete request: tag quota of per resource exceeded".into(),
            });
        }
        self.store.commit(vec![put(&t)]).done().await?;
        Ok(())
    }
}

/// SNS signs with SHA1 (version 1) or SHA256 (version 2).
fn check_signature_version(v: &str) -> Result<()> {
    match v {
        "1" | "2" => Ok(()),
        _ => Err(SnsError::invalid(
            "Attributes Reason: SignatureVersion: Invalid value [".to_string()
                + v
                + "]. Valid values: [1, 2]",
        )),
    }
}
