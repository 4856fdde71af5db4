//! The HTTP client the online subcommands (`shoal sfn`, `shoal events`, `shoal clock`) share:
//! AWS JSON-protocol calls to a running `shoal serve`, and shoal's own `/_shoal/*` endpoints.

use anyhow::{bail, Context};
use chrono::Utc;
use clap::Args;
use serde_json::Value;
use std::time::Duration;

/// Where the server is and which account and region requests act in.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// The shoal server.
    #[arg(
        long,
        global = true,
        env = "SHOAL_ENDPOINT",
        default_value = "http://127.0.0.1:4566"
    )]
    pub endpoint: String,
    /// The region names and ARNs are built in.
    #[arg(long, global = true, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
    /// The account names are resolved in (shoal's default).
    #[arg(long, global = true, default_value = "123456789012")]
    pub account: String,
}

pub struct Client {
    endpoint: String,
    agent: ureq::Agent,
    pub region: String,
    pub account: String,
}

impl Client {
    pub fn new(a: ServerArgs) -> Client {
        Client {
            endpoint: a.endpoint.trim_end_matches('/').to_string(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(120)))
                .build()
                .into(),
            region: a.region,
            account: a.account,
        }
    }

    /// The credential scope SigV4 clients send: the region travels in it.
    fn authorization(&self, signing_name: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=shoal/{}/{}/{signing_name}/aws4_request, SignedHeaders=host, Signature=0",
            Utc::now().format("%Y%m%d"),
            self.region
        )
    }

    fn unreachable(&self) -> String {
        format!(
            "cannot reach the shoal server at {} (is `shoal serve` running?)",
            self.endpoint
        )
    }

    /// Reads an answer; an AWS error answer becomes `Code: message`.
    fn answer(mut resp: ureq::http::Response<ureq::Body>) -> anyhow::Result<Value> {
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string()?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status >= 400 {
            let code = v.get("__type").and_then(Value::as_str).unwrap_or("Error");
            let code = code.rsplit('#').next().unwrap_or(code);
            let msg = v.get("message").and_then(Value::as_str).unwrap_or(&text);
            bail!("{code}: {msg}");
        }
        Ok(v)
    }

    /// Calls `<target>.<action>` on the AWS JSON protocol.
    pub fn call(
        &self,
        target: &str,
        signing_name: &str,
        action: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let resp = self
            .agent
            .post(format!("{}/", self.endpoint))
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("X-Amz-Target", format!("{target}.{action}"))
            .header("Authorization", self.authorization(signing_name))
            .send(body.to_string())
            .with_context(|| self.unreachable())?;
        Client::answer(resp)
    }

    pub fn sfn(&self, action: &str, body: Value) -> anyhow::Result<Value> {
        self.call("AWSStepFunctions", "states", action, body)
    }

    pub fn events(&self, action: &str, body: Value) -> anyhow::Result<Value> {
        self.call("AWSEvents", "events", action, body)
    }

    /// shoal's own endpoints: `GET` without a body, `POST` with one.
    pub fn shoal(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.endpoint);
        let auth = self.authorization("shoal");
        let resp = match body {
            Some(b) => self
                .agent
                .post(&url)
                .header("Authorization", auth)
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            None => self.agent.get(&url).header("Authorization", auth).call(),
        };
        Client::answer(resp.with_context(|| self.unreachable())?)
    }

    /// A streamed answer of JSON lines (no overall timeout).
    pub fn stream(&self, path: &str) -> anyhow::Result<impl std::io::BufRead> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let resp = agent
            .get(format!("{}{path}", self.endpoint))
            .header("Authorization", self.authorization("shoal"))
            .call()
            .with_context(|| self.unreachable())?;
        if resp.status().as_u16() >= 400 {
            Client::answer(resp)?;
            bail!("the server refused {path}");
        }
        Ok(std::io::BufReader::new(resp.into_body().into_reader()))
    }
}

pub fn read_arg(text: &str) -> anyhow::Result<String> {
    if text == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        return Ok(s);
    }
    if let Some(path) = text.strip_prefix('@') {
        return std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"));
    }
    Ok(text.to_string())
}

/// Prints rows under a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let n = cells.len();
        let parts: Vec<String> = cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 == n {
                    c
                } else {
                    format!("{c:<0$}", w[i])
                }
            })
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        line(r.clone());
    }
}
