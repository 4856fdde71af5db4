//! What the Step Functions tests share: a service over a real SQLite store, on a runtime with
//! several workers as the server has.

use super::arn::Scope;
use super::error::Result;
use super::executions::StartRequest;
use super::machines::NewMachine;
use super::model::Execution;
use super::{Config, Sfn};
use serde_json::Value;
use std::sync::Arc;

pub const PASS: &str = r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#;

pub struct Race {
    pub runtime: tokio::runtime::Runtime,
    pub sfn: Arc<Sfn>,
    pub scope: Scope,
    /// The machine `race` was given.
    pub machine: String,
    dir: std::path::PathBuf,
}

/// A store, a 4-worker runtime and a machine of `definition`.
pub fn race(definition: &str) -> Race {
    let dir = std::env::temp_dir().join(format!("shoal-race-{}", uuid::Uuid::new_v4()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let store = Arc::new(crate::store::sqlite::SqliteStore::open(&dir).unwrap());
    let sfn = Sfn::new(store, Config::default(), runtime.handle().clone());
    let scope = Scope {
        region: "us-east-1".into(),
        account: "123456789012".into(),
    };
    let mut race = Race {
        runtime,
        sfn,
        scope,
        machine: String::new(),
        dir,
    };
    race.machine = race.machine("race", definition);
    race
}

impl Race {
    pub fn end(self) {
        drop(self.sfn);
        self.runtime
            .shutdown_timeout(std::time::Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(self.dir);
    }

    /// Creates a Standard machine and gives its ARN.
    pub fn machine(&self, name: &str, definition: &str) -> String {
        let new = NewMachine {
            name: name.into(),
            definition: definition.into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            kind: "STANDARD".into(),
            logging: Value::Null,
            tracing: Value::Null,
            publish: false,
            version_description: String::new(),
            tags: Vec::new(),
        };
        let create = self.sfn.create_machine(&self.scope, new);
        self.runtime.block_on(create).unwrap().0.arn
    }

    /// The execution once it has left RUNNING, or as it is after 5 s.
    pub fn ended(&self, arn: &str) -> Execution {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let e = self.sfn.execution(arn).unwrap();
            if e.status != "RUNNING" || std::time::Instant::now() > end {
                return e;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// A top-level start of `race`'s machine, as the API makes it.
    pub fn start(&self, name: &str, input: &str) -> tokio::task::JoinHandle<Result<Execution>> {
        self.start_of(&self.machine, name, input)
    }

    /// A top-level start of `machine`, as the API makes it.
    pub fn start_of(
        &self,
        machine: &str,
        name: &str,
        input: &str,
    ) -> tokio::task::JoinHandle<Result<Execution>> {
        let (sfn, scope, arn) = (self.sfn.clone(), self.scope.clone(), machine.to_string());
        let (name, input) = (name.to_string(), input.to_string());
        self.runtime.spawn(async move {
            let req = StartRequest {
                state_machine_arn: &arn,
                name: Some(name),
                input: Some(input),
                trace_header: None,
                new_name: false,
            };
            sfn.start_execution(&scope, req).await
        })
    }
}
