//! Pass: returns `Result` (or the effective input) through the usual result processing.

use crate::definition::{QueryLanguage, State};
use crate::error::Failure;
use crate::io::{self, Finished, Output};
use crate::json::Scope;
use serde_json::Value;

pub fn run<'m>(
    state: &'m State,
    result: Option<&Value>,
    raw: &Value,
    scope: &Scope,
) -> Result<Finished<'m>, Failure> {
    let produced = match (state.query_language, result) {
        (QueryLanguage::JsonPath, Some(r)) => {
            // InputPath still has to resolve even though Result replaces the value.
            io::input_path(&state.io.input_path, scope)?;
            r.clone()
        }
        (QueryLanguage::JsonPath, None) => io::effective_input(state, scope)?,
        // JSONata Pass has no result: Output (default: the input) and Assign see $states.input.
        (QueryLanguage::Jsonata, _) => {
            let states = io::states_binding(raw, scope.context, None, None);
            let assigned = io::assign_with(
                &state.assign,
                QueryLanguage::Jsonata,
                raw,
                scope,
                Some(&states),
            )?;
            let output = match &state.io.output {
                Some(t) => t.eval(scope, Some(&states))?,
                None => raw.clone(),
            };
            return Ok(Finished {
                output: Output::Ready(output),
                assigned,
            });
        }
    };
    io::finish(state, raw, produced, scope)
}
