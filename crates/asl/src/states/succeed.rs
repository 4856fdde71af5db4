//! Succeed: ends the execution (or branch) with its input, after `InputPath`/`OutputPath`.

use crate::definition::{QueryLanguage, State};
use crate::error::Failure;
use crate::io;
use crate::json::Scope;
use serde_json::Value;

pub fn run(state: &State, raw: &Value, scope: &Scope) -> Result<Value, Failure> {
    match state.query_language {
        QueryLanguage::JsonPath => {
            let v = io::input_path(&state.io.input_path, scope)?.into_owned();
            io::output_path(&state.io.output_path, v, scope)
        }
        QueryLanguage::Jsonata => match &state.io.output {
            None => Ok(raw.clone()),
            Some(t) => {
                let states = io::states_binding(raw, scope.context, None, None);
                t.eval(scope, Some(&states))
            }
        },
    }
}
