//! A function written for AWS Lambda with the `lambda_runtime` crate: it answers
//! `{"greeting": "hello <name>", "function": <its name>}` and fails on an empty name. Built as
//! the `bootstrap` of a `provided.al2023` function, it runs under shoal unchanged.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let name = event
        .payload
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        return Err("a name is required".into());
    }
    Ok(json!({
        "greeting": format!("hello {name}"),
        "function": event.context.env_config.function_name,
        "request": event.context.request_id,
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
