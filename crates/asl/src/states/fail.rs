//! Fail: stops with an error and cause (fixed, from a path, an intrinsic or JSONata).

use crate::definition::{Field, State};
use crate::error::Failure;
use crate::intrinsics;
use crate::io;
use crate::json::{self, Scope};
use crate::template::eval_jsonata;
use serde_json::Value;

fn text(
    state: &State,
    f: Option<&Field>,
    name: &str,
    scope: &Scope,
) -> Result<Option<String>, Failure> {
    let v = match f {
        None => return Ok(None),
        Some(Field::Value(v)) => v.clone(),
        Some(Field::Path(r)) => r.select(scope).ok_or_else(|| {
            Failure::runtime(format!(
                "The JSONPath '{}' specified for the field '{name}Path' could not be found in the input '{}'",
                r.text(),
                json::compact(scope.input)
            ))
        })?,
        Some(Field::Call(c)) => intrinsics::eval(c, scope).map_err(|e| {
            Failure::new(
                "States.IntrinsicFailure",
                format!("The intrinsic function for the field '{name}Path' failed: {e}"),
            )
        })?,
        Some(Field::Jsonata(e, src)) => {
            let states = io::states_binding(scope.input, scope.context, None, None);
            eval_jsonata(e, src, name, scope, Some(&states))?
        }
    };
    let _ = state;
    Ok(Some(match v {
        Value::String(s) => s,
        other => json::compact(&other),
    }))
}

pub fn run(
    state: &State,
    error: Option<&Field>,
    cause: Option<&Field>,
    scope: &Scope,
) -> Result<Failure, Failure> {
    let e = text(state, error, "Error", scope)?;
    let c = text(state, cause, "Cause", scope)?;
    Ok(Failure::plain(e, c))
}
