//! Parameter Store (SSM): parameters with versions and labels, hierarchies by path, and
//! SecureString values sealed at rest with a key kept outside the database.

pub mod crypto;
pub mod parameters;

use crate::store::ChangeLock;
use crate::store::{Record, Store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

macro_rules! ssm_errors {
    ($($name:ident),* $(,)?) => {
        /// An API error: the variant is AWS's error code, the text its message.
        #[derive(Debug, thiserror::Error)]
        pub enum SsmError {
            $(#[error("{0}")] $name(String),)*
        }

        impl SsmError {
            pub fn code(&self) -> &'static str {
                match self { $(SsmError::$name(_) => stringify!($name),)* }
            }
        }
    };
}

ssm_errors!(
    ParameterNotFound,
    ParameterAlreadyExists,
    ParameterVersionNotFound,
    ParameterPatternMismatchException,
    ParameterVersionLabelLimitExceeded,
    ParameterMaxVersionLimitExceeded,
    HierarchyLevelLimitExceededException,
    UnsupportedParameterType,
    ValidationException,
    InternalServerError,
);

impl SsmError {
    pub fn status(&self) -> u16 {
        match self {
            SsmError::InternalServerError(_) => 500,
            _ => 400,
        }
    }
}

impl From<crate::store::StoreError> for SsmError {
    fn from(e: crate::store::StoreError) -> SsmError {
        SsmError::InternalServerError(e.to_string())
    }
}

pub type Result<T, E = SsmError> = std::result::Result<T, E>;

/// One version of a parameter. A SecureString's value is stored sealed.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Version {
    pub version: u64,
    pub value: String,
    /// `String`, `StringList` or `SecureString`.
    pub kind: String,
    pub description: Option<String>,
    pub key_id: Option<String>,
    pub allowed_pattern: Option<String>,
    pub data_type: String,
    pub tier: String,
    pub labels: Vec<String>,
    pub modified: DateTime<Utc>,
}

/// A parameter and its versions (oldest first; at most 100, as on AWS).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Parameter {
    pub name: String,
    /// `account:region`.
    pub owner: String,
    pub versions: Vec<Version>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

impl Parameter {
    pub fn latest(&self) -> Option<&Version> {
        self.versions.last()
    }
}

impl Record for Parameter {
    const KIND: &'static str = "ssm.parameter";
    fn key(&self) -> String {
        format!("{}:{}", self.owner, self.name)
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
}

pub struct Ssm {
    /// The change lock (see [`ChangeLock`]) of parameters (a version, a label, tags).
    changes: ChangeLock,
    pub store: Arc<dyn Store>,
    sealer: crypto::Sealer,
}

impl Ssm {
    pub fn new(store: Arc<dyn Store>, sealer: crypto::Sealer) -> Ssm {
        Ssm {
            store,
            sealer,
            changes: ChangeLock::default(),
        }
    }
}
