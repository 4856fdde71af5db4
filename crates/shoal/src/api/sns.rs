//! SNS on the query protocol: actions translated to the topic service, answers as SNS's XML
//! result elements.

use super::query::{indexed, list, map, Params, QueryError};
use super::xml::Xml;
use super::App;
use crate::sfn::arn::Scope;
use crate::sns::publish::Outgoing;
use crate::sns::SnsError;
use patterns::filter_policy::Attribute;
use std::collections::BTreeMap;

impl From<SnsError> for QueryError {
    fn from(e: SnsError) -> QueryError {
        QueryError {
            status: e.status,
            code: e.code.into(),
            message: e.message,
        }
    }
}

fn required<'a>(p: &'a Params, k: &str) -> Result<&'a str, QueryError> {
    p.get(k).map(String::as_str).ok_or_else(|| {
        SnsError::invalid(format!("{k} Reason: no value for required parameter")).into()
    })
}

/// Pages of 100, as ListTopics and ListSubscriptions return them.
fn page<T>(rows: Vec<T>, p: &Params) -> Result<(Vec<T>, Option<String>), QueryError> {
    let offset = match p.get("NextToken") {
        Some(t) => super::token_offset(t)
            .ok_or_else(|| QueryError::from(SnsError::invalid("NextToken")))?,
        None => 0,
    };
    let mut rows: Vec<T> = rows.into_iter().skip(offset).collect();
    let more = rows.len() > 100;
    rows.truncate(100);
    let next = more.then(|| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("shoal:{}", offset + 100))
    });
    Ok((rows, next))
}

fn attributes_xml(x: &mut Xml, a: &BTreeMap<String, String>) {
    x.open("Attributes");
    for (k, v) in a {
        x.open("entry").text("key", k).text("value", v).close();
    }
    x.close();
}

/// `MessageAttributes.entry.N.Name` / `.Value.DataType` / `.Value.StringValue|BinaryValue`.
fn message_attributes(p: &Params, prefix: &str) -> Vec<Attribute> {
    indexed(p, prefix)
        .into_iter()
        .filter_map(|e| {
            Some(Attribute {
                name: e.get("Name")?.clone(),
                data_type: e.get("Value.DataType").cloned().unwrap_or_default(),
                value: e
                    .get("Value.StringValue")
                    .or_else(|| e.get("Value.BinaryValue"))
                    .cloned()
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn outgoing(p: &Params, attributes_prefix: &str) -> Result<Outgoing, QueryError> {
    Ok(Outgoing {
        message: required(p, "Message")?.to_string(),
        subject: p.get("Subject").cloned(),
        attributes: message_attributes(p, attributes_prefix),
        per_protocol: p.get("MessageStructure").is_some_and(|s| s == "json"),
        group: p.get("MessageGroupId").cloned(),
        dedup: p.get("MessageDeduplicationId").cloned(),
    })
}

pub async fn handle(
    app: &App,
    scope: &Scope,
    action: &str,
    p: &Params,
) -> Result<String, QueryError> {
    let sns = &app.sns;
    let mut x = Xml::fragment();
    let result = format!("{action}Result");
    match action {
        "CreateTopic" => {
            let attributes = map(p, "Attributes.entry", "key", "value");
            let tags = map(p, "Tags.member", "Key", "Value");
            let t = sns.create_topic(scope, required(p, "Name")?, attributes, tags).await?;
            x.open(&result).text("TopicArn", &t.arn).close();
        }
        "DeleteTopic" => sns.delete_topic(required(p, "TopicArn")?).await?,
        "ListTopics" => {
            let (topics, next) = page(sns.topics(scope)?, p)?;
            x.open(&result).open("Topics");
            for t in topics {
                x.open("member").text("TopicArn", &t.arn).close();
            }
            x.close().maybe("NextToken", next).close();
        }
        "GetTopicAttributes" => {
            let a = sns.topic_attributes(required(p, "TopicArn")?)?;
            x.open(&result);
            attributes_xml(&mut x, &a);
            x.close();
        }
        "SetTopicAttributes" => {
            let value = p.get("AttributeValue").map(String::as_str).unwrap_or("");
            sns.set_topic_attribute(required(p, "TopicArn")?, required(p, "AttributeName")?, value)
                .await?
        }
        "Subscribe" => {
            let attributes = map(p, "Attributes.entry", "key", "value");
            let endpoint = p.get("Endpoint").map(String::as_str).unwrap_or("");
            let s = sns
                .subscribe(required(p, "TopicArn")?, required(p, "Protocol")?, endpoint, attributes, scope)
                .await?;
            let shown = if s.pending && p.get("ReturnSubscriptionArn").is_none_or(|v| v != "true") {
                "pending confirmation".to_string()
            } else {
                s.arn
            };
            x.open(&result).text("SubscriptionArn", shown).close();
        }
        "ConfirmSubscription" => {
            let s = sns.confirm(required(p, "TopicArn")?, required(p, "Token")?).await?;
            x.open(&result).text("SubscriptionArn", &s.arn).close();
        }
        "Unsubscribe" => sns.unsubscribe(required(p, "SubscriptionArn")?).await?,
        "ListSubscriptions" | "ListSubscriptionsByTopic" => {
            let subs = match action {
                "ListSubscriptions" => sns.subscriptions(scope)?,
                _ => {
                    let arn = required(p, "TopicArn")?;
                    sns.topic(arn)?;
                    sns.subscriptions_of(arn)?
                }
            };
            let (subs, next) = page(subs, p)?;
            x.open(&result).open("Subscriptions");
            for s in subs {
                let arn = if s.pending { "PendingConfirmation".to_string() } else { s.arn.clone() };
                x.open("member")
                    .text("TopicArn", &s.topic_arn)
                    .text("Protocol", &s.protocol)
                    .text("SubscriptionArn", arn)
                    .text("Owner", s.owner.split(':').next().unwrap_or(""))
                    .text("Endpoint", &s.endpoint)
                    .close();
            }
            x.close().maybe("NextToken", next).close();
        }
        "GetSubscriptionAttributes" => {
            let a = sns.subscription_attributes(required(p, "SubscriptionArn")?)?;
            x.open(&result);
            attributes_xml(&mut x, &a);
            x.close();
        }
        "SetSubscriptionAttributes" => {
            let value = p.get("AttributeValue").map(String::as_str).unwrap_or("");
            sns.set_subscription_attribute(required(p, "SubscriptionArn")?, required(p, "AttributeName")?, value)
                .await?
        }
        "Publish" => {
            let topic = p
                .get("TopicArn")
                .or_else(|| p.get("TargetArn"))
                .ok_or_else(|| {
                    if p.contains_key("PhoneNumber") {
                        QueryError::from(SnsError::invalid("PhoneNumber Reason: shoal does not send SMS"))
                    } else {
                        QueryError::from(SnsError::invalid("TopicArn or TargetArn Reason: no value for required parameter"))
                    }
                })?;
            let r = sns.publish(topic, outgoing(p, "MessageAttributes.entry")?).await?;
            x.open(&result).text("MessageId", &r.message_id).maybe("SequenceNumber", r.sequence).close();
        }
        "PublishBatch" => {
            let topic = required(p, "TopicArn")?;
            let entries = indexed(p, "PublishBatchRequestEntries.member");
            if entries.is_empty() {
                return Err(QueryError { status: 400, code: "EmptyBatchRequest".into(), message: "The batch request doesn't contain any entries".into() });
            }
            if entries.len() > 10 {
                return Err(QueryError { status: 400, code: "TooManyEntriesInBatchRequest".into(), message: "The batch request contains more entries than permissible".into() });
            }
            let ids: Vec<&str> = entries.iter().filter_map(|e| e.get("Id").map(String::as_str)).collect();
            if ids.iter().enumerate().any(|(i, id)| ids[..i].contains(id)) {
                return Err(QueryError { status: 400, code: "BatchEntryIdsNotDistinct".into(), message: "Two or more batch entries in the request have the same Id".into() });
            }
            let mut batch = Vec::new();
            let mut failed = Vec::new();
            for e in &entries {
                let id = e.get("Id").cloned().unwrap_or_default();
                match outgoing(e, "MessageAttributes.entry") {
                    Ok(m) => batch.push((id, m)),
                    Err(err) => failed.push((id, err.code, err.message)),
                }
            }
            let results = sns.publish_batch(topic, batch).await?;
            x.open(&result).open("Successful");
            for (id, r) in &results {
                if let Ok(r) = r {
                    x.open("member").text("Id", id).text("MessageId", &r.message_id).maybe("SequenceNumber", r.sequence.as_ref()).close();
                }
            }
            x.close().open("Failed");
            for (id, r) in results {
                if let Err(e) = r {
                    failed.push((id, e.code.into(), e.message));
                }
            }
            for (id, code, message) in failed {
                x.open("member").text("Id", id).text("Code", code).text("Message", message).text("SenderFault", true).close();
            }
            x.close().close();
        }
        "TagResource" => {
            let tags = map(p, "Tags.member", "Key", "Value");
            sns.tag_topic(required(p, "ResourceArn")?, tags, &[]).await?;
            x.open(&result).close();
        }
        "UntagResource" => {
            let keys = list(p, "TagKeys.member");
            sns.tag_topic(required(p, "ResourceArn")?, BTreeMap::new(), &keys).await?;
            x.open(&result).close();
        }
        "ListTagsForResource" => {
            let t = sns.topic(required(p, "ResourceArn")?)?;
            x.open(&result).open("Tags");
            for (k, v) in &t.tags {
                x.open("member").text("Key", k).text("Value", v).close();
            }
            x.close().close();
        }
        "" => {
            return Err(QueryError { status: 400, code: "MissingAction".into(), message: "The request must contain the parameter Action.".into() })
        }
        other => {
            return Err(QueryError { status: 400, code: "InvalidAction".into(), message: format!("The action {other} is not valid for this endpoint (shoal serves SNS on the query protocol)") })
        }
    }
    Ok(x.finish())
}
