//! Small readers of JSON values that the API layer and the services both take apart.

use serde_json::Value;

/// The strings of the list member `k` (other items are skipped; a missing list is empty).
pub fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A time as the AWS JSON protocols send it: epoch seconds with milliseconds.
pub fn epoch(t: chrono::DateTime<chrono::Utc>) -> Value {
    serde_json::json!(epoch_seconds(t))
}

/// The number [`epoch`] answers, for answers written from typed items.
pub fn epoch_seconds(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// Member `k` as text: a string as it is, any other JSON as its text (as Step Functions sends
/// a JSON `Message` or `Detail`); absent or null is `None`.
pub fn text(v: &Value, k: &str) -> Option<String> {
    match v.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}
