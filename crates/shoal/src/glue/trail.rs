//! `AWS API Call via CloudTrail` events for Glue API calls, as CloudTrail hands them to
//! EventBridge: the default bus of the caller's region receives one per call that changes
//! something (EventBridge drops read-only `Get*`/`List*`/`Describe*`/`BatchGet*` calls), failed
//! calls included with their `errorCode`. This is what the cost-control rule listens for.

use super::Glue;
use crate::events::put::{Entry, Sender};
use crate::sfn::arn::Scope;
use serde_json::{json, Map, Value};

/// Who made a call, as far as the request tells.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    pub access_key: Option<String>,
    pub user_agent: Option<String>,
    pub source_ip: Option<String>,
}

/// Whether EventBridge receives CloudTrail's record of this action.
pub fn delivered(action: &str) -> bool {
    !["Get", "List", "Describe", "BatchGet", "Search"]
        .iter()
        .any(|p| action.starts_with(p))
}

/// Members whose values are maps keyed by user text; CloudTrail keeps their keys as sent.
const MAPS: &[&str] = &[
    "DefaultArguments",
    "Arguments",
    "NonOverridableArguments",
    "Tags",
    "Parameters",
    "AdditionalOptions",
];

/// CloudTrail writes request members in lower camel case (`Id` → `id`).
fn camel(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let key = match c.next() {
                        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
                        None => String::new(),
                    };
                    let v = if MAPS.contains(&k.as_str()) {
                        v.clone()
                    } else {
                        camel(v)
                    };
                    (key, v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(camel).collect()),
        other => other.clone(),
    }
}

impl Glue {
    /// Puts the CloudTrail record of one API call on the default bus. `outcome` is the
    /// response, or the error code and message.
    pub async fn record_call(
        &self,
        scope: &Scope,
        caller: &Caller,
        action: &str,
        request: &Value,
        outcome: Result<&Value, (&str, &str)>,
    ) {
        if !delivered(action) {
            return;
        }
        let now = self.now();
        let key = caller
            .access_key
            .clone()
            .unwrap_or_else(|| "AKIASHOALLOCAL000000".into());
        let mut detail = Map::new();
        detail.insert("eventVersion".into(), json!("1.08"));
        detail.insert(
            "userIdentity".into(),
            json!({
                "type": "IAMUser",
                "principalId": format!("AIDA{}", &key.chars().rev().take(16).collect::<String>()),
                "arn": format!("arn:aws:iam::{}:user/shoal", scope.account),
                "accountId": scope.account,
                "accessKeyId": key,
                "userName": "shoal",
            }),
        );
        detail.insert(
            "eventTime".into(),
            json!(now.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
        detail.insert("eventSource".into(), json!("glue.amazonaws.com"));
        detail.insert("eventName".into(), json!(action));
        detail.insert("awsRegion".into(), json!(scope.region));
        detail.insert(
            "sourceIPAddress".into(),
            json!(caller
                .source_ip
                .clone()
                .unwrap_or_else(|| "127.0.0.1".into())),
        );
        detail.insert(
            "userAgent".into(),
            json!(caller.user_agent.clone().unwrap_or_else(|| "shoal".into())),
        );
        match outcome {
            Ok(response) => {
                detail.insert("requestParameters".into(), camel(request));
                let r = camel(response);
                let empty = r.as_object().is_some_and(Map::is_empty);
                detail.insert(
                    "responseElements".into(),
                    if empty { Value::Null } else { r },
                );
            }
            Err((code, message)) => {
                detail.insert("errorCode".into(), json!(code));
                detail.insert("errorMessage".into(), json!(message));
                detail.insert("requestParameters".into(), camel(request));
                detail.insert("responseElements".into(), Value::Null);
            }
        }
        detail.insert("requestID".into(), json!(uuid::Uuid::new_v4().to_string()));
        detail.insert("eventID".into(), json!(uuid::Uuid::new_v4().to_string()));
        detail.insert("readOnly".into(), json!(false));
        detail.insert("eventType".into(), json!("AwsApiCall"));
        detail.insert("managementEvent".into(), json!(true));
        detail.insert("recipientAccountId".into(), json!(scope.account));
        detail.insert("eventCategory".into(), json!("Management"));
        let entry = Entry {
            source: Some("aws.glue".into()),
            detail_type: Some("AWS API Call via CloudTrail".into()),
            detail: Some(Value::Object(detail).to_string()),
            resources: vec![],
            time: Some(now),
            bus: None,
        };
        if let Err(e) = self
            .events
            .put_events(scope, &[entry], Sender::Service)
            .await
        {
            eprintln!("shoal: cannot put the CloudTrail event of glue:{action}: {e}");
        }
    }

    /// An event a Glue component emits itself (`Glue Job State Change`, `Glue Crawler State
    /// Change`, `Data Quality Evaluation Results Available`).
    pub async fn emit(
        &self,
        scope: &Scope,
        detail_type: &str,
        detail: Value,
        resources: Vec<String>,
    ) {
        let entry = Entry {
            source: Some("aws.glue".into()),
            detail_type: Some(detail_type.into()),
            detail: Some(detail.to_string()),
            resources,
            time: Some(self.now()),
            bus: None,
        };
        if let Err(e) = self
            .events
            .put_events(scope, &[entry], Sender::Service)
            .await
        {
            eprintln!("shoal: cannot put the {detail_type} event: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_lower_camel_but_map_keys_are_kept() {
        let v = camel(
            &json!({"Id": "s1", "Command": {"Name": "glueetl", "PythonVersion": "3"},
            "DefaultArguments": {"--Enable": "true"}, "Tags": {"Team": "data"}}),
        );
        assert_eq!(
            v,
            json!({"id": "s1", "command": {"name": "glueetl", "pythonVersion": "3"},
                "defaultArguments": {"--Enable": "true"}, "tags": {"Team": "data"}})
        );
        assert!(delivered("CreateSession") && delivered("StopSession"));
        assert!(!delivered("GetSession") && !delivered("ListSessions"));
    }
}
