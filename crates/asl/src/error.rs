//! The errors of the language: a [`Failure`] is what a state raises at run time (an AWS error
//! name and cause), a [`Diagnostic`] is what validation reports about a definition.

use serde::Serialize;

/// A run-time failure, as `Catch`/`Retry` and the history see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    pub error: Option<String>,
    pub cause: Option<String>,
    /// AWS prefixes engine errors with "An error occurred while executing the state 'X' (entered
    /// at the event id #N)."; the executor knows the state and event, so it adds the prefix.
    #[serde(skip)]
    pub state_prefix: bool,
}

impl Failure {
    /// A failure raised by a task or a Fail state: reported as it is.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Failure {
        Failure {
            error: Some(error.into()),
            cause: Some(cause.into()),
            state_prefix: true,
        }
    }

    /// `States.Runtime` with the state prefix.
    pub fn runtime(cause: impl Into<String>) -> Failure {
        Failure::new("States.Runtime", cause)
    }

    /// A failure whose text is final (no state prefix).
    pub fn plain(error: Option<String>, cause: Option<String>) -> Failure {
        Failure {
            error,
            cause,
            state_prefix: false,
        }
    }

    /// The error name, `States.` names included, as Retry/Catch compare it.
    pub fn name(&self) -> &str {
        self.error.as_deref().unwrap_or("")
    }

    /// Adds AWS's "An error occurred while executing the state ..." prefix.
    pub fn located(mut self, state: &str, entered_event: u64) -> Failure {
        if self.state_prefix {
            let cause = self.cause.take().unwrap_or_default();
            self.cause = Some(format!(
                "An error occurred while executing the state '{state}' (entered at the event id #{entered_event}). {cause}"
            ));
            self.state_prefix = false;
        }
        self
    }
}

/// One problem found in a definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    /// AWS's diagnostic code, e.g. `SCHEMA_VALIDATION_FAILED`.
    pub code: &'static str,
    pub message: String,
    /// A JSON pointer into the definition, e.g. `/States/Wait/Timestamp`.
    pub location: String,
}

impl Diagnostic {
    pub fn schema(message: impl Into<String>, location: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code: "SCHEMA_VALIDATION_FAILED",
            message: message.into(),
            location: location.into(),
        }
    }
}

/// Formats diagnostics the way CreateStateMachine words its `InvalidDefinition` message.
pub fn invalid_definition_message(diags: &[Diagnostic]) -> String {
    if let Some(raw) = diags.iter().find(|d| d.code == "RAW") {
        return raw.message.clone();
    }
    let parts: Vec<String> = diags
        .iter()
        .map(|d| format!("{}: {} at {}", d.code, d.message, d.location))
        .collect();
    format!("Invalid State Machine Definition: '{}'", parts.join(", "))
}
