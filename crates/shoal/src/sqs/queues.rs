//! CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, Get/SetQueueAttributes, PurgeQueue.

use super::model::Queue;
use super::{Live, Result, Sqs, SqsError};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Record};
use chrono::Utc;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A numeric attribute's default, least and greatest value.
type Range = (i64, i64, i64);

/// The attributes CreateQueue and SetQueueAttributes accept, with their defaults and ranges.
const SETTABLE: &[(&str, Option<Range>)] = &[
    ("DelaySeconds", Some((0, 0, 900))),
    ("MaximumMessageSize", Some((262_144, 1024, 262_144))),
    ("MessageRetentionPeriod", Some((345_600, 60, 1_209_600))),
    ("ReceiveMessageWaitTimeSeconds", Some((0, 0, 20))),
    ("VisibilityTimeout", Some((30, 0, 43_200))),
    ("RedrivePolicy", None),
    ("RedriveAllowPolicy", None),
    ("FifoQueue", None),
    ("ContentBasedDeduplication", None),
    ("DeduplicationScope", None),
    ("FifoThroughputLimit", None),
    ("KmsMasterKeyId", None),
    ("KmsDataKeyReusePeriodSeconds", None),
    ("SqsManagedSseEnabled", None),
    ("Policy", None),
];

pub fn queue_arn(scope: &Scope, name: &str) -> String {
    format!("arn:aws:sqs:{}:{}:{name}", scope.region, scope.account)
}

/// The queue a URL names (`.../ACCOUNT/NAME`), in the request's region.
pub fn arn_of_url(scope: &Scope, url: &str) -> Result<String> {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let (Some(name), Some(account)) = (parts.next(), parts.next()) else {
        return Err(SqsError::no_queue());
    };
    if name.is_empty() || account.is_empty() {
        return Err(SqsError::no_queue());
    }
    Ok(format!("arn:aws:sqs:{}:{account}:{name}", scope.region))
}

pub fn url_of(base: &str, q: &Queue) -> String {
    let account = q.arn.split(':').nth(4).unwrap_or("");
    format!("{}/{account}/{}", base.trim_end_matches('/'), q.name)
}

/// Checks attributes and fills in the defaults.
fn attributes(name: &str, given: &HashMap<String, String>) -> Result<BTreeMap<String, String>> {
    let fifo = name.ends_with(".fifo");
    let mut out = BTreeMap::new();
    for (k, range) in SETTABLE {
        if let Some((default, _, _)) = range {
            out.insert(k.to_string(), default.to_string());
        }
    }
    for (k, v) in given {
        let Some((_, range)) = SETTABLE.iter().find(|(n, _)| n == k) else {
            return Err(SqsError::new(
                "InvalidAttributeName",
                "InvalidAttributeName",
                format!("Unknown Attribute {k}."),
            ));
        };
        if let Some((_, lo, hi)) = range {
            let ok = v.parse::<i64>().is_ok_and(|n| (*lo..=*hi).contains(&n));
            if !ok {
                return Err(SqsError::new(
                    "InvalidAttributeValue",
                    "InvalidAttributeValue",
                    format!("Invalid value for the parameter {k}."),
                ));
            }
        }
        if k == "RedrivePolicy" {
            let p: serde_json::Value = serde_json::from_str(v).map_err(|_| {
                SqsError::new("InvalidAttributeValue", "InvalidAttributeValue", "Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.")
            })?;
            if p.get("deadLetterTargetArn")
                .and_then(|a| a.as_str())
                .is_none()
                || p.get("maxReceiveCount").is_none()
            {
                return Err(SqsError::new("InvalidAttributeValue", "InvalidAttributeValue", "Value {} for parameter RedrivePolicy is invalid. Reason: Redrive policy requires deadLetterTargetArn and maxReceiveCount."));
            }
        }
        out.insert(k.clone(), v.clone());
    }
    match (fifo, given.get("FifoQueue").map(String::as_str)) {
        (true, None | Some("true")) => {
            out.insert("FifoQueue".into(), "true".into());
        }
        (false, Some("true")) => {
            return Err(SqsError::invalid(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
            ))
        }
        (true, Some(_)) => {
            return Err(SqsError::invalid("A queue whose name ends with .fifo must be a FIFO queue."))
        }
        _ => {}
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<()> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let ok = !base.is_empty()
        && name.len() <= 80
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SqsError::invalid(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ))
    }
}

impl Sqs {
    pub async fn create_queue(
        &self,
        scope: &Scope,
        name: &str,
        given: &HashMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<Queue> {
        check_name(name)?;
        let attrs = attributes(name, given)?;
        let arn = queue_arn(scope, name);
        if let Some(live) = self.lock().get(&arn) {
            // the same name and attributes: the same queue
            let differs = given
                .iter()
                .find(|(k, v)| live.queue.attributes.get(*k) != Some(*v));
            return match differs {
                None => Ok(live.queue.clone()),
                Some((k, _)) => Err(SqsError::new(
                    "QueueNameExists",
                    "QueueAlreadyExists",
                    format!("A queue already exists with the same name and a different value for attribute {k}"),
                )),
            };
        }
        let now = Utc::now();
        let q = Queue {
            arn: arn.clone(),
            name: name.into(),
            owner: format!("{}:{}", scope.account, scope.region),
            attributes: attrs,
            created: now,
            modified: now,
            tags,
        };
        self.store.commit(vec![put(&q)]).done().await?;
        self.lock().entry(arn).or_insert_with(|| Live {
            queue: q.clone(),
            messages: BTreeMap::new(),
            next_seq: 1,
            dedup: HashMap::new(),
            arrived: Arc::new(tokio::sync::Notify::new()),
        });
        Ok(q)
    }

    pub fn queue(&self, arn: &str) -> Result<Queue> {
        self.lock()
            .get(arn)
            .map(|l| l.queue.clone())
            .ok_or_else(SqsError::no_queue)
    }

    pub fn list_queues(&self, scope: &Scope, prefix: Option<&str>) -> Vec<Queue> {
        let owner = format!("{}:{}", scope.account, scope.region);
        let mut qs: Vec<Queue> = self
            .lock()
            .values()
            .map(|l| l.queue.clone())
            .filter(|q| q.owner == owner && prefix.is_none_or(|p| q.name.starts_with(p)))
            .collect();
        qs.sort_by(|a, b| a.name.cmp(&b.name));
        qs
    }

    pub async fn delete_queue(&self, arn: &str) -> Result<()> {
        let live = self.lock().remove(arn).ok_or_else(SqsError::no_queue)?;
        let mut writes = vec![delete::<Queue>(arn)];
        writes.extend(
            live.messages
                .values()
                .map(|m| delete::<super::model::Message>(&m.key())),
        );
        self.store.commit(writes).done().await?;
        Ok(())
    }

    pub async fn set_attributes(&self, arn: &str, given: &HashMap<String, String>) -> Result<()> {
        let ack = {
            let mut g = self.lock();
            let live = g.get_mut(arn).ok_or_else(SqsError::no_queue)?;
            let mut merged: HashMap<String, String> = live
                .queue
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            merged.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
            live.queue.attributes = attributes(&live.queue.name, &merged)?;
            live.queue.modified = Utc::now();
            // queued under the lock: two changes at once commit in the order they were made
            self.store.commit(vec![put(&live.queue)])
        };
        ack.done().await?;
        Ok(())
    }

    /// Every attribute (settable and computed), or the ones named.
    pub fn attributes(&self, arn: &str, names: &[String]) -> Result<BTreeMap<String, String>> {
        let g = self.lock();
        let live = g.get(arn).ok_or_else(SqsError::no_queue)?;
        let now = Utc::now();
        let mut out = live.queue.attributes.clone();
        let visible = live
            .messages
            .values()
            .filter(|m| m.visible_at <= now)
            .count();
        let inflight = live
            .messages
            .values()
            .filter(|m| m.visible_at > now && m.receipt.is_some())
            .count();
        let delayed = live
            .messages
            .values()
            .filter(|m| m.visible_at > now && m.receipt.is_none())
            .count();
        out.insert("QueueArn".into(), arn.to_string());
        out.insert("ApproximateNumberOfMessages".into(), visible.to_string());
        out.insert(
            "ApproximateNumberOfMessagesNotVisible".into(),
            inflight.to_string(),
        );
        out.insert(
            "ApproximateNumberOfMessagesDelayed".into(),
            delayed.to_string(),
        );
        out.insert(
            "CreatedTimestamp".into(),
            live.queue.created.timestamp().to_string(),
        );
        out.insert(
            "LastModifiedTimestamp".into(),
            live.queue.modified.timestamp().to_string(),
        );
        if names.is_empty() || names.iter().any(|n| n == "All") {
            return Ok(out);
        }
        Ok(out.into_iter().filter(|(k, _)| names.contains(k)).collect())
    }

    /// TagQueue (`tags`) and UntagQueue (`remove`).
    pub async fn retag(
        &self,
        arn: &str,
        tags: BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<()> {
        let ack = {
            let mut g = self.lock();
            let live = g.get_mut(arn).ok_or_else(SqsError::no_queue)?;
            live.queue.tags.extend(tags);
            live.queue.tags.retain(|k, _| !remove.contains(k));
            self.store.commit(vec![put(&live.queue)])
        };
        ack.done().await?;
        Ok(())
    }

    pub async fn purge(&self, arn: &str) -> Result<()> {
        let gone: Vec<String> = {
            let mut g = self.lock();
            let live = g.get_mut(arn).ok_or_else(SqsError::no_queue)?;
            let keys = live.messages.values().map(|m| m.key()).collect();
            live.messages.clear();
            keys
        };
        let writes = gone
            .iter()
            .map(|k| delete::<super::model::Message>(k))
            .collect();
        self.store.commit(writes).done().await?;
        Ok(())
    }
}
