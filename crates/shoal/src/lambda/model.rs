//! What the function service stores: functions (their configuration in AWS's shape), layer
//! versions, and the asynchronous invocations still to run.

use crate::store::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Function {
    pub name: String,
    /// `account:region`.
    pub scope: String,
    pub runtime: String,
    pub handler: String,
    pub role: String,
    pub description: String,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub environment: BTreeMap<String, String>,
    /// Layer version ARNs, in order.
    pub layers: Vec<String>,
    /// Where the unpacked code lives.
    pub code_dir: String,
    /// A local folder the function runs from directly (shoal's extension), if any.
    #[serde(default)]
    pub local_folder: Option<String>,
    pub code_sha256: String,
    pub code_size: u64,
    pub modified: DateTime<Utc>,
    pub revision: String,
    #[serde(default)]
    pub reserved_concurrency: Option<u32>,
    /// PutFunctionEventInvokeConfig, as given.
    #[serde(default)]
    pub event_invoke: Option<Value>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Function {
    pub fn region(&self) -> &str {
        self.scope.split_once(':').map_or("", |(_, r)| r)
    }

    pub fn account(&self) -> &str {
        self.scope.split_once(':').map_or("", |(a, _)| a)
    }

    /// The account and region the function lives in, as a request scope.
    pub fn region_scope(&self) -> crate::sfn::arn::Scope {
        crate::sfn::arn::Scope {
            region: self.region().into(),
            account: self.account().into(),
        }
    }

    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region(),
            self.account(),
            self.name
        )
    }

    /// Maximum retries of an asynchronous invocation (0–2, default 2).
    pub fn async_retries(&self) -> u32 {
        self.event_invoke
            .as_ref()
            .and_then(|c| c.get("MaximumRetryAttempts")?.as_u64())
            .unwrap_or(2) as u32
    }

    /// Maximum age of an asynchronous event (60 s – 6 h, default 6 h).
    pub fn async_max_age_s(&self) -> i64 {
        self.event_invoke
            .as_ref()
            .and_then(|c| c.get("MaximumEventAgeInSeconds")?.as_i64())
            .unwrap_or(21_600)
    }
}

impl Record for Function {
    const KIND: &'static str = "lambda.function";
    fn key(&self) -> String {
        format!("{}:{}", self.scope, self.name)
    }
    fn owner(&self) -> String {
        self.scope.clone()
    }
    fn sort(&self) -> i64 {
        0
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct LayerVersion {
    pub scope: String,
    pub name: String,
    pub version: u64,
    pub description: String,
    pub runtimes: Vec<String>,
    pub code_dir: String,
    pub code_sha256: String,
    pub code_size: u64,
    pub created: DateTime<Utc>,
}

impl LayerVersion {
    pub fn layer_arn(&self) -> String {
        let (account, region) = self.scope.split_once(':').unwrap_or(("", ""));
        format!("arn:aws:lambda:{region}:{account}:layer:{}", self.name)
    }

    pub fn arn(&self) -> String {
        format!("{}:{}", self.layer_arn(), self.version)
    }
}

impl Record for LayerVersion {
    const KIND: &'static str = "lambda.layer";
    fn key(&self) -> String {
        self.arn()
    }
    fn owner(&self) -> String {
        format!("{}:{}", self.scope, self.name)
    }
    fn sort(&self) -> i64 {
        self.version as i64
    }
}

/// An `Event` invocation accepted and not yet done.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct AsyncInvocation {
    pub id: String,
    /// The function's record key.
    pub function: String,
    pub payload: String,
    pub attempts: u32,
    pub first: DateTime<Utc>,
    pub due: DateTime<Utc>,
}

impl Record for AsyncInvocation {
    const KIND: &'static str = "lambda.async";
    fn key(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.function.clone()
    }
    fn sort(&self) -> i64 {
        self.due.timestamp_millis()
    }
}
