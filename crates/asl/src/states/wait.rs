//! Wait: computes when to continue (`Seconds`, `SecondsPath`, `Timestamp`, `TimestampPath`).

use crate::definition::{Field, QueryLanguage, State, WaitFor};
use crate::error::Failure;
use crate::io::{self, Finished, Output};
use crate::json::{self, Scope};
use crate::template::eval_jsonata;
use crate::time::parse_timestamp;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// AWS refuses waits that end more than a year (and a bit) away.
const MAX_WAIT_SECONDS: i64 = 99_999_999;

pub fn until(
    state: &State,
    w: &WaitFor,
    raw: &Value,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Failure> {
    let input = match state.query_language {
        QueryLanguage::JsonPath => io::input_path(&state.io.input_path, scope)?.into_owned(),
        QueryLanguage::Jsonata => raw.clone(),
    };
    let s = scope.reborrow().with_input(&input);
    let states = io::states_binding(raw, scope.context, None, None);
    match w {
        WaitFor::Seconds(f) => {
            let secs = match f {
                Field::Value(v) => v.as_i64().unwrap_or(0),
                Field::Path(r) => {
                    let v = io::select_or_fail(r, &s)?;
                    let n = match &v {
                        Value::Number(n) => n.as_i64(),
                        _ => None,
                    };
                    let n = n.ok_or_else(|| {
                        Failure::runtime(format!(
                            "The SecondsPath parameter cannot be parsed as a long value: {} == {}",
                            r.text(),
                            json::compact(&v)
                        ))
                    })?;
                    if n < 0 {
                        return Err(Failure::runtime(format!(
                            "The SecondsPath parameter references a negative value: {} == {n}",
                            r.text()
                        )));
                    }
                    n
                }
                Field::Jsonata(e, src) => {
                    let v = eval_jsonata(e, src, "Seconds", &s, Some(&states))?;
                    match v.as_i64() {
                        Some(n) if n >= 0 => n,
                        _ => {
                            return Err(Failure::new(
                                "States.QueryEvaluationError",
                                format!(
                                    "The JSONata expression '{src}' specified for the field 'Seconds' returned an unexpected result type. Expected 'integer', but was '{}' for value: {}",
                                    crate::json_type(&v),
                                    json::compact(&v)
                                ),
                            ))
                        }
                    }
                }
                Field::Call(_) => 0,
            };
            if secs > MAX_WAIT_SECONDS {
                return Err(Failure::runtime("Wait state delay is too long."));
            }
            Ok(now + Duration::seconds(secs))
        }
        WaitFor::Timestamp(f) => {
            let (text, path) = match f {
                Field::Value(v) => (v.as_str().unwrap_or("").to_string(), None),
                Field::Path(r) => {
                    let v = io::select_or_fail(r, &s)?;
                    match v {
                        Value::String(t) => (t, Some(r.text())),
                        other => (json::compact(&other), Some(r.text())),
                    }
                }
                Field::Jsonata(e, src) => {
                    let v = eval_jsonata(e, src, "Timestamp", &s, Some(&states))?;
                    match v.as_str().and_then(parse_timestamp) {
                        Some(t) => return check_far(t.with_timezone(&Utc), now),
                        None => {
                            return Err(Failure::new(
                                "States.QueryEvaluationError",
                                format!(
                                    "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {}",
                                    json::java_to_string(&v)
                                ),
                            ))
                        }
                    }
                }
                Field::Call(_) => (String::new(), None),
            };
            match parse_timestamp(&text) {
                Some(t) => check_far(t.with_timezone(&Utc), now),
                None => Err(Failure::runtime(match path {
                    Some(p) => format!(
                        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {p} == {text}"
                    ),
                    None => format!("The Timestamp field cannot be parsed: {text}"),
                })),
            }
        }
    }
}

fn check_far(t: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, Failure> {
    if (t - now).num_seconds() > MAX_WAIT_SECONDS {
        return Err(Failure::runtime("Wait state delay is too long."));
    }
    Ok(t)
}

/// Output and assignments of a Wait (computed before waiting, applied after).
pub fn finish<'m>(state: &'m State, raw: &Value, scope: &Scope) -> Result<Finished<'m>, Failure> {
    let ql = state.query_language;
    let input = match ql {
        QueryLanguage::JsonPath => io::input_path(&state.io.input_path, scope)?.into_owned(),
        QueryLanguage::Jsonata => raw.clone(),
    };
    let states = io::states_binding(raw, scope.context, None, None);
    let states_ref = (ql == QueryLanguage::Jsonata).then_some(&states);
    let assigned = io::assign_with(&state.assign, ql, &input, scope, states_ref)?;
    let output = match ql {
        QueryLanguage::JsonPath => io::output_path(&state.io.output_path, input.clone(), scope)?,
        QueryLanguage::Jsonata => match &state.io.output {
            Some(t) => t.eval(scope, Some(&states))?,
            None => raw.clone(),
        },
    };
    Ok(Finished {
        output: Output::Ready(output),
        assigned,
    })
}
