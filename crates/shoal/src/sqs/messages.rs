//! SendMessage, ReceiveMessage (long polling, visibility timeout, FIFO groups, redrive to a
//! dead-letter queue), DeleteMessage, ChangeMessageVisibility.

use super::model::Message;
use super::{Result, Sqs, SqsError};
use crate::store::{delete, put, Record, Write};
use chrono::{DateTime, Duration, Utc};
use md5::{Digest, Md5};
use serde_json::Value;
use std::collections::HashSet;

/// What one receive took: the messages, the writes that record it, and when the next message
/// becomes visible.
type Taken = (Vec<Message>, Vec<Write>, Option<DateTime<Utc>>);

/// What SendMessage sends.
pub struct Outgoing {
    pub body: String,
    pub delay: Option<i64>,
    /// `MessageAttributes` as sent (`{name: {DataType, StringValue | BinaryValue}}`).
    pub attributes: Value,
    pub group: Option<String>,
    pub dedup: Option<String>,
}

/// What a send answers.
pub struct Sent {
    pub id: String,
    pub md5_body: String,
    pub md5_attributes: Option<String>,
    pub seq: Option<u64>,
}

pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// AWS's digest of message attributes: each attribute, by name, as length-prefixed name, data
/// type and value with a transport byte (1 text, 2 binary).
pub fn md5_attributes(attrs: &Value) -> Option<String> {
    let obj = attrs.as_object().filter(|o| !o.is_empty())?;
    let mut names: Vec<&String> = obj.keys().collect();
    names.sort();
    fn field(buf: &mut Vec<u8>, b: &[u8]) {
        buf.extend((b.len() as u32).to_be_bytes());
        buf.extend(b);
    }
    let mut buf = Vec::new();
    for n in names {
        let a = &obj[n];
        let kind = a
            .get("DataType")
            .and_then(Value::as_str)
            .unwrap_or("String");
        field(&mut buf, n.as_bytes());
        field(&mut buf, kind.as_bytes());
        if let Some(b) = a.get("BinaryValue").and_then(Value::as_str) {
            let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b)
                .unwrap_or_default();
            buf.push(2);
            field(&mut buf, &raw);
        } else {
            buf.push(1);
            let text = a.get("StringValue").and_then(Value::as_str).unwrap_or("");
            field(&mut buf, text.as_bytes());
        }
    }
    Some(md5_hex(&buf))
}

fn handle(id: &str) -> String {
    format!("{id}#{}", uuid::Uuid::new_v4().simple())
}

fn id_of(receipt: &str) -> Result<&str> {
    receipt.split_once('#').map(|(id, _)| id).ok_or_else(|| {
        SqsError::new(
            "ReceiptHandleIsInvalid",
            "ReceiptHandleIsInvalid",
            format!("The input receipt handle \"{receipt}\" is not a valid receipt handle."),
        )
    })
}

impl Sqs {
    pub async fn send(&self, arn: &str, m: Outgoing) -> Result<Sent> {
        let now = Utc::now();
        let (msg, sent, fresh) = {
            let mut g = self.lock();
            let live = g.get_mut(arn).ok_or_else(SqsError::no_queue)?;
            let q = &live.queue;
            let max = q.number("MaximumMessageSize", 262_144) as usize;
            if m.body.is_empty() || m.body.len() > max {
                return Err(SqsError::invalid(format!(
                    "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
                )));
            }
            let fifo = q.fifo();
            if fifo && m.group.is_none() {
                return Err(SqsError::new(
                    "MissingParameter",
                    "MissingParameter",
                    "The request must contain the parameter MessageGroupId.",
                ));
            }
            if fifo && m.delay.is_some_and(|d| d > 0) {
                return Err(SqsError::invalid(
                    "Value 1 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.",
                ));
            }
            let dedup = match (&m.dedup, fifo) {
                (Some(d), true) => Some(d.clone()),
                (None, true) if q.attributes.get("ContentBasedDeduplication").map(String::as_str) == Some("true") => {
                    Some(sha256_hex(m.body.as_bytes()))
                }
                (None, true) => {
                    return Err(SqsError::invalid(
                        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                    ))
                }
                _ => None,
            };
            let delay = m.delay.unwrap_or_else(|| q.number("DelaySeconds", 0));
            let id = uuid::Uuid::new_v4().to_string();
            let md5_body = md5_hex(m.body.as_bytes());
            let md5_attr = md5_attributes(&m.attributes);
            live.dedup.retain(|_, at| now - *at < Duration::minutes(5));
            // a FIFO duplicate within five minutes is accepted and dropped
            if let Some(d) = &dedup {
                if live.dedup.contains_key(d) {
                    let sent = Sent {
                        id,
                        md5_body,
                        md5_attributes: md5_attr,
                        seq: Some(live.next_seq),
                    };
                    return Ok(sent);
                }
                live.dedup.insert(d.clone(), now);
            }
            let seq = live.next_seq;
            live.next_seq += 1;
            let msg = Message {
                id: id.clone(),
                queue_arn: arn.to_string(),
                seq,
                body: m.body,
                attributes: m.attributes,
                sent: now,
                visible_at: now + Duration::seconds(delay),
                receive_count: 0,
                first_received: None,
                receipt: None,
                group: m.group,
                dedup,
                sender: "AIDASHOALLOCAL".into(),
            };
            live.messages.insert(seq, msg.clone());
            let sent = Sent {
                id,
                md5_body,
                md5_attributes: md5_attr,
                seq: fifo.then_some(seq),
            };
            (msg, sent, live.arrived.clone())
        };
        if let Err(e) = self.store.commit(vec![put(&msg)]).done().await {
            if let Some(l) = self.lock().get_mut(arn) {
                l.messages.remove(&msg.seq);
            }
            return Err(e.into());
        }
        fresh.notify_waiters();
        Ok(sent)
    }

    /// Takes up to `max` messages that are visible now, marking them in flight; messages past
    /// their redrive policy's receive count move to the dead-letter queue instead.
    fn take(&self, arn: &str, max: usize, visibility: Option<i64>) -> Result<Taken> {
        let now = Utc::now();
        let mut g = self.lock();
        let live = g.get_mut(arn).ok_or_else(SqsError::no_queue)?;
        let fifo = live.queue.fifo();
        let timeout = visibility.unwrap_or_else(|| live.queue.number("VisibilityTimeout", 30));
        let redrive = live.queue.redrive();
        let retention = Duration::seconds(live.queue.number("MessageRetentionPeriod", 345_600));
        let mut writes = Vec::new();
        // messages past their retention period are dropped
        let expired: Vec<u64> = live
            .messages
            .values()
            .filter(|m| now - m.sent > retention)
            .map(|m| m.seq)
            .collect();
        for s in expired {
            if let Some(m) = live.messages.remove(&s) {
                writes.push(delete::<Message>(&m.key()));
            }
        }
        // FIFO: a group with a message in flight (or not yet visible) is held back, so its
        // messages go out in order; one receive may take several of one group
        let mut blocked: HashSet<String> = HashSet::new();
        if fifo {
            for m in live.messages.values() {
                if m.visible_at > now {
                    if let Some(g) = &m.group {
                        blocked.insert(g.clone());
                    }
                }
            }
        }
        let mut chosen = Vec::new();
        let mut moved = Vec::new();
        for m in live.messages.values_mut() {
            if chosen.len() >= max {
                break;
            }
            if m.visible_at > now || m.group.as_ref().is_some_and(|g| blocked.contains(g)) {
                continue;
            }
            m.receive_count += 1;
            if let Some((_, limit)) = &redrive {
                if m.receive_count > *limit {
                    moved.push(m.seq);
                    continue;
                }
            }
            m.visible_at = now + Duration::seconds(timeout);
            m.receipt = Some(handle(&m.id));
            m.first_received.get_or_insert(now);
            writes.push(put(&*m));
            chosen.push(m.clone());
        }
        let mut to_dlq = Vec::new();
        for s in moved {
            if let Some(m) = live.messages.remove(&s) {
                writes.push(delete::<Message>(&m.key()));
                to_dlq.push(m);
            }
        }
        let next = live
            .messages
            .values()
            .map(|m| m.visible_at)
            .filter(|t| *t > now)
            .min();
        if let (Some((dlq, _)), false) = (&redrive, to_dlq.is_empty()) {
            match g.get_mut(dlq) {
                Some(d) => {
                    for mut m in to_dlq {
                        m.queue_arn = dlq.clone();
                        m.seq = d.next_seq;
                        d.next_seq += 1;
                        m.visible_at = now;
                        m.receipt = None;
                        m.receive_count = 0;
                        writes.push(put(&m));
                        d.messages.insert(m.seq, m);
                    }
                    d.arrived.notify_waiters();
                }
                None => eprintln!("shoal: the dead-letter queue {dlq} of {arn} does not exist; messages past their receive count were dropped"),
            }
        }
        Ok((chosen, writes, next))
    }

    /// ReceiveMessage: waits up to `wait` seconds (long polling) for a message.
    pub async fn receive(
        &self,
        arn: &str,
        max: usize,
        visibility: Option<i64>,
        wait: Option<i64>,
    ) -> Result<Vec<Message>> {
        if !(1..=10).contains(&max) {
            return Err(SqsError::invalid(format!(
                "Value {max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
            )));
        }
        let wait = match wait {
            Some(w) => w,
            None => self.queue(arn)?.number("ReceiveMessageWaitTimeSeconds", 0),
        };
        if !(0..=20).contains(&wait) {
            return Err(SqsError::invalid(format!(
                "Value {wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
            )));
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(wait as u64);
        loop {
            let arrived = self
                .lock()
                .get(arn)
                .map(|l| l.arrived.clone())
                .ok_or_else(SqsError::no_queue)?;
            let notified = arrived.notified();
            let (chosen, writes, next) = self.take(arn, max, visibility)?;
            if !writes.is_empty() {
                self.store.commit(writes).done().await?;
            }
            let now = tokio::time::Instant::now();
            if !chosen.is_empty() || now >= deadline {
                return Ok(chosen);
            }
            // wake for a new message, for a delayed or invisible one becoming visible, or at the end
            let mut until = deadline;
            if let Some(t) = next {
                let ms = (t - Utc::now()).num_milliseconds().max(1) as u64;
                until = until.min(now + std::time::Duration::from_millis(ms));
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(until) => {}
                _ = crate::stopping::requested() => return Ok(Vec::new()),
            }
        }
    }

    fn find(&self, arn: &str, receipt: &str) -> Result<Option<Message>> {
        let id = id_of(receipt)?;
        let g = self.lock();
        let live = g.get(arn).ok_or_else(SqsError::no_queue)?;
        Ok(live
            .messages
            .values()
            .find(|m| m.id == id && m.receipt.as_deref() == Some(receipt))
            .cloned())
    }

    /// Deletes by receipt handle; a handle of a message already gone is not an error, as on AWS.
    pub async fn delete_message(&self, arn: &str, receipt: &str) -> Result<()> {
        let Some(m) = self.find(arn, receipt)? else {
            return Ok(());
        };
        if let Some(l) = self.lock().get_mut(arn) {
            l.messages.remove(&m.seq);
        }
        self.store
            .commit(vec![delete::<Message>(&m.key())])
            .done()
            .await?;
        Ok(())
    }

    pub async fn change_visibility(&self, arn: &str, receipt: &str, seconds: i64) -> Result<()> {
        if !(0..=43_200).contains(&seconds) {
            return Err(SqsError::invalid(format!(
                "Value {seconds} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200."
            )));
        }
        let now = Utc::now();
        let m = self
            .find(arn, receipt)?
            .filter(|m| m.visible_at > now)
            .ok_or_else(|| {
                SqsError::new(
                    "MessageNotInflight",
                    "AWS.SimpleQueueService.MessageNotInflight",
                    "The message referred to isn't in flight.",
                )
            })?;
        let updated = {
            let mut g = self.lock();
            let live = g.get_mut(arn).ok_or_else(SqsError::no_queue)?;
            let Some(slot) = live.messages.get_mut(&m.seq) else {
                return Ok(());
            };
            slot.visible_at = now + Duration::seconds(seconds);
            let c = slot.clone();
            if seconds == 0 {
                live.arrived.notify_waiters();
            }
            c
        };
        self.store.commit(vec![put(&updated)]).done().await?;
        Ok(())
    }
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Sha256;
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}
