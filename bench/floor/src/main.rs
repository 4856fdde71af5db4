//! The benchmark's floor: answers CreateStateMachine, StartExecution and DescribeExecution in
//! the AWS JSON 1.0 shape boto3 parses, from the request alone. Nothing runs and nothing is
//! stored, so every execution reads as SUCCEEDED with an empty output: the harness counts them
//! wrong, and `bench/sfn-peers.sh` reports the floor as server CPU per execution started.
//!
//! Usage: `shoal-bench-floor [ADDR]` (default 127.0.0.1:4630).

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::any;
use axum::Router;
use serde_json::{json, Value};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:floor";

/// One answer per call: parses the body as shoal does, builds the reply as shoal does.
async fn answer(headers: HeaderMap, body: Bytes) -> ([(&'static str, &'static str); 1], String) {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let now = 1.7e9;
    let reply = match target.rsplit('.').next().unwrap_or("") {
        "CreateStateMachine" => json!({"stateMachineArn": MACHINE, "creationDate": now}),
        "StartExecution" => {
            let name = request["name"].as_str().unwrap_or("unnamed");
            json!({"executionArn": format!("{MACHINE}:{name}").replace(":stateMachine:", ":execution:"), "startDate": now})
        }
        "DescribeExecution" => json!({
            "executionArn": request["executionArn"],
            "stateMachineArn": MACHINE,
            "status": "SUCCEEDED",
            "startDate": now,
            "stopDate": now,
            "input": "{}",
            "output": "{}",
        }),
        _ => json!({}),
    };
    (
        [("content-type", "application/x-amz-json-1.0")],
        reply.to_string(),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4630".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        use axum::serve::ListenerExt;
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        // as shoal does: small answers go out at once
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        println!("floor listening on {addr}");
        axum::serve(listener, Router::new().fallback(any(answer))).await?;
        Ok(())
    })
}
