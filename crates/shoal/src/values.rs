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
