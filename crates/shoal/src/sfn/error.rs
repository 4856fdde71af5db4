//! The Step Functions API's errors, named as AWS names them (boto3 turns the name into an
//! exception class, e.g. `client.exceptions.StateMachineDoesNotExist`).

use crate::store::StoreError;

macro_rules! sfn_errors {
    ($($name:ident),* $(,)?) => {
        /// An API error: the variant is AWS's error code, the text its message.
        #[derive(Debug, thiserror::Error)]
        pub enum SfnError {
            $(#[error("{0}")] $name(String),)*
        }

        impl SfnError {
            /// AWS's error code (the `__type` of the response).
            pub fn code(&self) -> &'static str {
                match self { $(SfnError::$name(_) => stringify!($name),)* }
            }
        }
    };
}

sfn_errors!(
    StateMachineDoesNotExist,
    StateMachineAlreadyExists,
    StateMachineTypeNotSupported,
    ExecutionDoesNotExist,
    ExecutionAlreadyExists,
    ExecutionNotRedrivable,
    InvalidDefinition,
    InvalidArn,
    InvalidName,
    InvalidExecutionInput,
    InvalidOutput,
    InvalidToken,
    TaskDoesNotExist,
    TaskTimedOut,
    ActivityDoesNotExist,
    ResourceNotFound,
    ConflictException,
    ValidationException,
    TooManyTags,
    InternalFailure,
);

impl SfnError {
    /// The HTTP status AWS answers with: 400 for client errors, 500 for our own failures.
    pub fn status(&self) -> u16 {
        match self {
            SfnError::InternalFailure(_) => 500,
            _ => 400,
        }
    }
}

impl From<StoreError> for SfnError {
    fn from(e: StoreError) -> SfnError {
        SfnError::InternalFailure(e.to_string())
    }
}

pub type Result<T, E = SfnError> = std::result::Result<T, E>;
