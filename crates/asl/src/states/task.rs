//! Task: resolves timeouts and names the resource the way history events print it.

use crate::definition::Field;
use crate::error::Failure;
use crate::io;
use crate::json::{self, Scope};
use crate::template::eval_jsonata;
use serde_json::Value;

/// `TimeoutSeconds`/`HeartbeatSeconds` (fixed, `...Path` or JSONata), validated as AWS does.
pub fn seconds(f: Option<&Field>, scope: &Scope, name: &str) -> Result<Option<u64>, Failure> {
    let v = match f {
        None => return Ok(None),
        Some(Field::Value(v)) => v.clone(),
        Some(Field::Path(r)) => io::select_or_fail(r, scope)?,
        Some(Field::Jsonata(e, src)) => {
            let states = io::states_binding(scope.input, scope.context, None, None);
            eval_jsonata(e, src, name, scope, Some(&states))?
        }
        Some(Field::Call(_)) => Value::Null,
    };
    match v.as_u64() {
        Some(n) if n >= 1 => Ok(Some(n)),
        _ => Err(Failure::runtime(format!(
            "The {name} value must be a positive integer, but was {}",
            json::compact(&v)
        ))),
    }
}

/// Splits a resource ARN into the `resourceType` and `resource` AWS records:
/// `arn:aws:states:::lambda:invoke` → (`lambda`, `invoke`).
pub fn resource_type(resource: &str) -> (String, String) {
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    if parts.len() == 6 && parts[2] == "states" && parts[3].is_empty() {
        let rest = parts[5];
        if let Some(sdk) = rest.strip_prefix("aws-sdk:") {
            let mut it = sdk.splitn(2, ':');
            let svc = it.next().unwrap_or("");
            return (
                format!("aws-sdk:{svc}"),
                it.next().unwrap_or("").to_string(),
            );
        }
        let mut it = rest.splitn(2, ':');
        return (
            it.next().unwrap_or("").to_string(),
            it.next().unwrap_or("").to_string(),
        );
    }
    if parts.len() >= 6 {
        return (parts[2].to_string(), parts[5..].join(":"));
    }
    ("unknown".to_string(), resource.to_string())
}

/// `arn:aws:states:<region>:<account>:activity:<name>`: history records `Activity*` events.
pub fn is_activity(resource: &str) -> bool {
    let parts: Vec<&str> = resource.splitn(7, ':').collect();
    parts.len() == 7 && parts[2] == "states" && parts[5] == "activity"
}
