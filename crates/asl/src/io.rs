//! Input and output processing around a state, as AWS documents it:
//! JSONPath mode `InputPath → Parameters → (work) → ResultSelector → ResultPath → OutputPath`,
//! JSONata mode `Arguments → (work) → Output`, and `Assign` in both.

use crate::definition::{QueryLanguage, State};
use crate::error::Failure;
use crate::json::{self, Scope, Variables};
use crate::jsonpath::JsonPath;
use crate::template::{Reference, Template};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The largest payload a state may produce: 256 KiB.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Applies `InputPath` (JSONPath mode): `null` gives `{}`.
pub fn input_path<'a>(
    p: &Option<Option<Reference>>,
    scope: &Scope<'a>,
) -> Result<Cow<'a, Value>, Failure> {
    match p {
        None => Ok(Cow::Borrowed(scope.input)),
        Some(None) => Ok(Cow::Owned(Value::Object(Map::new()))),
        Some(Some(r)) => select_or_fail(r, scope).map(Cow::Owned),
    }
}

/// Selects a reference or fails the way Jayway words a miss.
pub fn select_or_fail(r: &Reference, scope: &Scope) -> Result<Value, Failure> {
    r.select(scope).ok_or_else(|| {
        Failure::runtime(format!(
            "Invalid path '{}' : No results for path: {}",
            r.text(),
            r.normalized()
        ))
    })
}

/// The `$states` object JSONata expressions see, borrowed: nothing is copied to bind it.
#[derive(Clone, Copy)]
pub struct States<'a> {
    pub input: &'a Value,
    pub context: &'a Value,
    pub result: Option<&'a Value>,
    pub error_output: Option<&'a Value>,
}

impl<'a> States<'a> {
    /// The members in the order AWS documents them, in a fixed array (no allocation) with the
    /// number of members used.
    pub fn fields(&self) -> ([(&'static str, &'a Value); 4], usize) {
        let mut f = [
            ("input", self.input),
            ("context", self.context),
            ("", self.input),
            ("", self.input),
        ];
        let mut n = 2;
        for (name, v) in [("result", self.result), ("errorOutput", self.error_output)] {
            if let Some(v) = v {
                f[n] = (name, v);
                n += 1;
            }
        }
        (f, n)
    }
}

/// Builds the `$states` binding.
pub fn states_binding<'a>(
    input: &'a Value,
    context: &'a Value,
    result: Option<&'a Value>,
    error_output: Option<&'a Value>,
) -> States<'a> {
    States {
        input,
        context,
        result,
        error_output,
    }
}

/// The effective input of a state: what `Parameters`/`Arguments` (or the bare input) produce.
pub fn effective_input(state: &State, scope: &Scope) -> Result<Value, Failure> {
    match state.query_language {
        QueryLanguage::JsonPath => {
            let after = input_path(&state.io.input_path, scope)?;
            match &state.io.parameters {
                None => Ok(after.into_owned()),
                Some(t) => {
                    let s = scope.reborrow().with_input(&after);
                    t.eval(&s, None)
                }
            }
        }
        QueryLanguage::Jsonata => match &state.io.parameters {
            None => Ok(scope.input.clone()),
            Some(t) => {
                let states = states_binding(scope.input, scope.context, None, None);
                t.eval(scope, Some(&states))
            }
        },
    }
}

/// Writes `result` into `raw` at `ResultPath` (absent: replaces; `null`: discards).
pub fn result_path(
    p: &Option<Option<JsonPath>>,
    raw: &Value,
    result: Value,
) -> Result<Value, Failure> {
    match p {
        None => Ok(result),
        Some(None) => Ok(raw.clone()),
        Some(Some(path)) => {
            if path.is_root() {
                return Ok(result);
            }
            let mut out = raw.clone();
            write_result(path, &mut out, result)?;
            Ok(out)
        }
    }
}

/// Writes `result` at a (non-root) `ResultPath` inside `target`, the state's input.
fn write_result(path: &JsonPath, target: &mut Value, result: Value) -> Result<(), Failure> {
    path.set(target, result).map_err(|e| {
        Failure::new(
            "States.ResultPathMatchFailure",
            format!(
                "Unable to apply ResultPath \"{path}\" to input \"{}\": {e}",
                json::compact(target)
            ),
        )
    })
}

/// `OutputPath` (JSONPath mode): `null` gives `{}`.
pub fn output_path(
    p: &Option<Option<Reference>>,
    value: Value,
    scope: &Scope,
) -> Result<Value, Failure> {
    match p {
        None => Ok(value),
        Some(None) => Ok(Value::Object(Map::new())),
        Some(Some(r)) => {
            let s = scope.reborrow().with_input(&value);
            select_or_fail(r, &s)
        }
    }
}

/// What a finished state produces: its output and its variable assignments.
pub struct Finished<'m> {
    pub output: Output<'m>,
    pub assigned: Option<Map<String, Value>>,
}

/// A state's output. `ResultPath` writes the result into the state's input; when nothing could
/// need that input afterwards (no Retry, no Catch) the write is left to the executor, which owns
/// the input and can move it instead of copying it.
#[derive(Debug, Clone, PartialEq)]
pub enum Output<'m> {
    Ready(Value),
    /// Write `result` at `path` in the state's input, then apply `output_path`.
    Merge {
        result: Value,
        path: &'m JsonPath,
        output_path: &'m Option<Option<Reference>>,
    },
}

impl Output<'_> {
    /// The output value, given the state's raw input (moved in) and the scope for `OutputPath`.
    pub fn resolve(self, raw: Value, scope: &Scope) -> Result<Value, Failure> {
        match self {
            Output::Ready(v) => Ok(v),
            Output::Merge {
                result,
                path,
                output_path: op,
            } => {
                let mut merged = raw;
                write_result(path, &mut merged, result)?;
                output_path(op, merged, scope)
            }
        }
    }

    /// The value when it is already computed.
    pub fn ready(&self) -> Option<&Value> {
        match self {
            Output::Ready(v) => Some(v),
            Output::Merge { .. } => None,
        }
    }
}

/// Completes a state that produced `result` from raw input `raw` (Pass, Task, Parallel, Map).
/// Assignments are computed from the values before this state's own assignments, as AWS does.
pub fn finish<'m>(
    state: &'m State,
    raw: &Value,
    result: Value,
    scope: &Scope,
) -> Result<Finished<'m>, Failure> {
    match state.query_language {
        QueryLanguage::JsonPath => {
            let selected = match &state.io.result_selector {
                None => result,
                Some(t) => {
                    let s = scope.reborrow().with_input(&result);
                    t.eval(&s, None)?
                }
            };
            let assigned = match &state.assign {
                None => None,
                Some(t) => {
                    let s = scope.reborrow().with_input(&selected);
                    Some(as_object(t.eval(&s, None)?))
                }
            };
            if let Some(Some(path)) = &state.io.result_path {
                if !path.is_root() && state.retry.is_empty() && state.catch.is_empty() {
                    let output = Output::Merge {
                        result: selected,
                        path,
                        output_path: &state.io.output_path,
                    };
                    return Ok(Finished { output, assigned });
                }
            }
            let merged = result_path(&state.io.result_path, raw, selected)?;
            let s = scope.reborrow().with_input(raw);
            let output = Output::Ready(output_path(&state.io.output_path, merged, &s)?);
            Ok(Finished { output, assigned })
        }
        QueryLanguage::Jsonata => {
            let states = states_binding(raw, scope.context, Some(&result), None);
            let s = scope.reborrow().with_input(raw);
            let assigned = match &state.assign {
                None => None,
                Some(t) => Some(as_object(t.eval(&s, Some(&states))?)),
            };
            let output = match &state.io.output {
                None => result,
                Some(t) => t.eval(&s, Some(&states))?,
            };
            Ok(Finished {
                output: Output::Ready(output),
                assigned,
            })
        }
    }
}

fn as_object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Applies assignments to the variables (after the state's expressions were all evaluated).
pub fn apply_assignments(vars: &mut Variables, assigned: Option<Map<String, Value>>) {
    if let Some(a) = assigned {
        for (k, v) in a {
            vars.insert(k, v);
        }
    }
}

/// Evaluates an `Assign` template against a given `$` (Choice, Wait, Catch).
pub fn assign_with(
    t: &Option<Template>,
    ql: QueryLanguage,
    dollar: &Value,
    scope: &Scope,
    states: Option<&States>,
) -> Result<Option<Map<String, Value>>, Failure> {
    let Some(t) = t else { return Ok(None) };
    let s = scope.reborrow().with_input(dollar);
    let v = match ql {
        QueryLanguage::JsonPath => t.eval(&s, None)?,
        QueryLanguage::Jsonata => t.eval(&s, states)?,
    };
    Ok(Some(as_object(v)))
}

/// The 256 KiB check on a state's output.
pub fn check_size(state: &str, v: &Value) -> Result<(), Failure> {
    if json::exceeds(v, MAX_PAYLOAD_BYTES) {
        return Err(Failure::plain(
            Some("States.DataLimitExceeded".into()),
            Some(format!(
                "The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit."
            )),
        ));
    }
    Ok(())
}
