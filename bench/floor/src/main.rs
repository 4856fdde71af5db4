//! The benchmark's floor: answers CreateStateMachine, StartExecution and DescribeExecution in
//! the AWS JSON 1.0 shape boto3 parses, from the request alone. Nothing runs and nothing is
//! stored, so every execution reads as SUCCEEDED with an empty output: the harness counts them
//! wrong, and `bench/sfn-peers.sh` reports the floor as server CPU per execution started.
//!
//! With `--raw` it answers from blocking threads, one per connection, with a bare HTTP/1.1
//! reader instead of tokio and hyper: about the least any server can do for these calls (read
//! the request, parse its JSON, write the answer), so its figure is a floor for every design,
//! not only for shoal's stack.
//!
//! Usage: `shoal-bench-floor [--raw] [ADDR]` (default 127.0.0.1:4630).

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
    (
        [("content-type", "application/x-amz-json-1.0")],
        reply(target, &body),
    )
}

/// The answer to the call `target` (`AWSStepFunctions.<Action>`) with JSON `body`.
fn reply(target: &str, body: &[u8]) -> String {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
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
    reply.to_string()
}

/// Serves one keep-alive connection with a bare HTTP/1.1 reader: headers up to the blank line,
/// then `content-length` bytes of body.
fn serve_raw(mut tcp: std::net::TcpStream) -> std::io::Result<()> {
    use std::io::{Read, Write};
    tcp.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = tcp.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < end + length {
            let n = tcp.read(&mut chunk)?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let target = header("x-amz-target").unwrap_or_default();
        let body = reply(&target, &buf[end..end + length]);
        buf.drain(..end + length);
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(answer.as_bytes())?;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let raw = args.iter().any(|a| a == "--raw");
    let addr = (args.iter().find(|a| !a.starts_with("--")))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:4630".into());
    if raw {
        let listener = std::net::TcpListener::bind(&addr)?;
        println!("floor (raw) listening on {addr}");
        for tcp in listener.incoming() {
            let tcp = tcp?;
            std::thread::spawn(move || serve_raw(tcp));
        }
        return Ok(());
    }
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
