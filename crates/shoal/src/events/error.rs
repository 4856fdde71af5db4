//! EventBridge API errors, named as AWS names them (boto3 turns each into an exception class,
//! e.g. `client.exceptions.ResourceNotFoundException`).

use crate::store::StoreError;

macro_rules! events_errors {
    ($($name:ident),* $(,)?) => {
        /// An API error: the variant is AWS's error code, the text its message.
        #[derive(Debug, thiserror::Error)]
        #[allow(clippy::enum_variant_names)] // AWS's own names
        pub enum EventsError {
            $(#[error("{0}")] $name(String),)*
        }

        impl EventsError {
            /// AWS's error code (the `__type` of the response).
            pub fn code(&self) -> &'static str {
                match self { $(EventsError::$name(_) => stringify!($name),)* }
            }
        }
    };
}

events_errors!(
    ResourceNotFoundException,
    ResourceAlreadyExistsException,
    ValidationException,
    InvalidEventPatternException,
    LimitExceededException,
    IllegalStatusException,
    InternalException,
);

impl EventsError {
    /// 400 for client errors, 500 for our own failures.
    pub fn status(&self) -> u16 {
        match self {
            EventsError::InternalException(_) => 500,
            _ => 400,
        }
    }
}

impl From<StoreError> for EventsError {
    fn from(e: StoreError) -> EventsError {
        EventsError::InternalException(e.to_string())
    }
}

pub type Result<T, E = EventsError> = std::result::Result<T, E>;
