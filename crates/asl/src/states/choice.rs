//! Choice: picks the first matching rule's `Next`, else `Default`, else `States.NoChoiceMatched`.

use crate::choice;
use crate::definition::{ChoiceRule, QueryLanguage, State};
use crate::error::Failure;
use crate::io;
use crate::json::Scope;
use serde_json::{Map, Value};

pub struct Decision<'m> {
    pub next: &'m str,
    pub output: Value,
    pub assigned: Option<Map<String, Value>>,
}

pub fn run<'m>(
    state: &'m State,
    choices: &'m [ChoiceRule],
    default: Option<&'m str>,
    raw: &Value,
    scope: &Scope,
) -> Result<Decision<'m>, Failure> {
    let ql = state.query_language;
    let input = match ql {
        QueryLanguage::JsonPath => io::input_path(&state.io.input_path, scope)?.into_owned(),
        QueryLanguage::Jsonata => raw.clone(),
    };
    let s = scope.reborrow().with_input(&input);
    let states = io::states_binding(raw, scope.context, None, None);
    let states_ref = (ql == QueryLanguage::Jsonata).then_some(&states);
    let mut picked: Option<&ChoiceRule> = None;
    for rule in choices {
        if choice::eval(&rule.condition, &s, states_ref)? {
            picked = Some(rule);
            break;
        }
    }
    let (next, rule_assign, rule_output) = match picked {
        Some(r) => (r.next.as_str(), &r.assign, &r.output),
        None => match default {
            Some(d) => (d, &state.assign, &state.io.output),
            None => {
                return Err(Failure::plain(
                    Some("States.NoChoiceMatched".into()),
                    Some("No Matches!".into()),
                ))
            }
        },
    };
    // A matched rule's Assign/Output replace the state's; with Default the state's apply.
    let assign_t = if picked.is_some() && rule_assign.is_none() {
        &state.assign
    } else {
        rule_assign
    };
    let output_t = if picked.is_some() && rule_output.is_none() {
        &state.io.output
    } else {
        rule_output
    };
    let assigned = io::assign_with(assign_t, ql, &input, scope, states_ref)?;
    let output = match ql {
        QueryLanguage::JsonPath => io::output_path(&state.io.output_path, input.clone(), scope)?,
        QueryLanguage::Jsonata => match output_t {
            Some(t) => t.eval(&s, Some(&states))?,
            None => raw.clone(),
        },
    };
    Ok(Decision {
        next,
        output,
        assigned,
    })
}
