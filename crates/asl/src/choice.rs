//! Choice rules: the comparison operators (and their `Path` variants), the `Is*` tests,
//! `And`/`Or`/`Not`, and JSONata `Condition`s.

use crate::definition::QueryLanguage;
use crate::error::{Diagnostic, Failure};
use crate::io::States;
use crate::json::Scope;
use crate::template::{compile_jsonata, eval_jsonata, jsonata_source, Reference};
use crate::time::parse_timestamp;
use serde_json::Value;
use std::cmp::Ordering;

/// A compiled boolean expression.
#[derive(Debug, Clone)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare {
        variable: Reference,
        op: Op,
        operand: Operand,
    },
    Jsonata(Box<jsonata::Expr>, String),
}

/// The right-hand side: a literal or (for `...Path` operators) a reference.
#[derive(Debug, Clone)]
pub enum Operand {
    Literal(Value),
    Path(Reference),
}

/// The comparison families.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    String(Cmp),
    Numeric(Cmp),
    Timestamp(Cmp),
    BooleanEquals,
    StringMatches,
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

const OPERATORS: &[(&str, Op)] = &[
    ("StringEquals", Op::String(Cmp::Eq)),
    ("StringLessThan", Op::String(Cmp::Lt)),
    ("StringGreaterThan", Op::String(Cmp::Gt)),
    ("StringLessThanEquals", Op::String(Cmp::Le)),
    ("StringGreaterThanEquals", Op::String(Cmp::Ge)),
    ("NumericEquals", Op::Numeric(Cmp::Eq)),
    ("NumericLessThan", Op::Numeric(Cmp::Lt)),
    ("NumericGreaterThan", Op::Numeric(Cmp::Gt)),
    ("NumericLessThanEquals", Op::Numeric(Cmp::Le)),
    ("NumericGreaterThanEquals", Op::Numeric(Cmp::Ge)),
    ("TimestampEquals", Op::Timestamp(Cmp::Eq)),
    ("TimestampLessThan", Op::Timestamp(Cmp::Lt)),
    ("TimestampGreaterThan", Op::Timestamp(Cmp::Gt)),
    ("TimestampLessThanEquals", Op::Timestamp(Cmp::Le)),
    ("TimestampGreaterThanEquals", Op::Timestamp(Cmp::Ge)),
    ("BooleanEquals", Op::BooleanEquals),
    ("StringMatches", Op::StringMatches),
    ("IsNull", Op::IsNull),
    ("IsPresent", Op::IsPresent),
    ("IsNumeric", Op::IsNumeric),
    ("IsString", Op::IsString),
    ("IsBoolean", Op::IsBoolean),
    ("IsTimestamp", Op::IsTimestamp),
];

/// Parses one rule. A top-level rule (in `Choices`) returns its `Next`.
pub fn parse_rule(
    v: &Value,
    at: &str,
    ql: QueryLanguage,
    top: bool,
) -> Result<(Condition, Option<String>), Vec<Diagnostic>> {
    let err = |m: String| vec![Diagnostic::schema(m, at.to_string())];
    let o = v
        .as_object()
        .ok_or_else(|| err("A choice rule must be an object".into()))?;
    let next = if top {
        Some(
            o.get("Next")
                .and_then(Value::as_str)
                .ok_or_else(|| err("These fields are required: [Next]".into()))?
                .to_string(),
        )
    } else {
        if o.contains_key("Next") {
            return Err(err("Nested choice rules cannot have 'Next'".into()));
        }
        None
    };
    if ql == QueryLanguage::Jsonata {
        let c = o
            .get("Condition")
            .ok_or_else(|| err("These fields are required: [Condition]".into()))?;
        let cond = match c {
            Value::Bool(b) => Condition::Jsonata(
                Box::new(compile_jsonata(if *b { "true" } else { "false" }).map_err(err)?),
                b.to_string(),
            ),
            Value::String(s) => {
                let src = jsonata_source(s).ok_or_else(|| {
                    err("Condition must be a JSONata expression '{% ... %}'".into())
                })?;
                Condition::Jsonata(
                    Box::new(compile_jsonata(src).map_err(err)?),
                    src.to_string(),
                )
            }
            _ => return Err(err("Condition must be a JSONata expression".into())),
        };
        return Ok((cond, next));
    }
    let sub = |k: &str, i: usize, r: &Value| {
        parse_rule(r, &format!("{at}/{k}/{i}"), ql, false).map(|(c, _)| c)
    };
    for k in ["And", "Or"] {
        if let Some(list) = o.get(k) {
            let list = list
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| err(format!("'{k}' must be a non-empty array")))?;
            let mut cs = Vec::new();
            for (i, r) in list.iter().enumerate() {
                cs.push(sub(k, i, r)?);
            }
            return Ok((
                if k == "And" {
                    Condition::And(cs)
                } else {
                    Condition::Or(cs)
                },
                next,
            ));
        }
    }
    if let Some(r) = o.get("Not") {
        let (c, _) = parse_rule(r, &format!("{at}/Not"), ql, false)?;
        return Ok((Condition::Not(Box::new(c)), next));
    }
    let var = o
        .get("Variable")
        .and_then(Value::as_str)
        .ok_or_else(|| err("These fields are required: [Variable]".into()))?;
    let variable = Reference::parse(var).map_err(|_| {
        err(format!(
            "The value for the field 'Variable' must be a valid JSONPath: {var}"
        ))
    })?;
    for (name, op) in OPERATORS {
        if let Some(rhs) = o.get(*name) {
            let ok = match op {
                Op::String(_) | Op::StringMatches => rhs.is_string(),
                Op::Numeric(_) => rhs.is_number(),
                Op::Timestamp(_) => rhs.as_str().and_then(parse_timestamp).is_some(),
                _ => rhs.is_boolean(),
            };
            if !ok {
                return Err(err(format!("The value of '{name}' has the wrong type")));
            }
            return Ok((
                Condition::Compare {
                    variable,
                    op: *op,
                    operand: Operand::Literal(rhs.clone()),
                },
                next,
            ));
        }
        let path_name = format!("{name}Path");
        if let Some(rhs) = o.get(&path_name) {
            let r = rhs
                .as_str()
                .and_then(|s| Reference::parse(s).ok())
                .ok_or_else(|| {
                    err(format!(
                        "The value for the field '{path_name}' must be a valid JSONPath"
                    ))
                })?;
            return Ok((
                Condition::Compare {
                    variable,
                    op: *op,
                    operand: Operand::Path(r),
                },
                next,
            ));
        }
    }
    Err(err("A choice rule needs a comparison operator".into()))
}

/// Evaluates a condition. JSONata conditions must produce a boolean.
pub fn eval(c: &Condition, scope: &Scope, states: Option<&States>) -> Result<bool, Failure> {
    Ok(match c {
        Condition::And(cs) => {
            for c in cs {
                if !eval(c, scope, states)? {
                    return Ok(false);
                }
            }
            true
        }
        Condition::Or(cs) => {
            for c in cs {
                if eval(c, scope, states)? {
                    return Ok(true);
                }
            }
            false
        }
        Condition::Not(c) => !eval(c, scope, states)?,
        Condition::Jsonata(e, src) => match eval_jsonata(e, src, "Condition", scope, states)? {
            Value::Bool(b) => b,
            other => {
                return Err(Failure::new(
                    "States.QueryEvaluationError",
                    format!(
                        "The JSONata expression '{src}' specified for the field 'Condition' returned an unexpected result type. Expected 'boolean', but was '{}' for value: {}",
                        crate::json_type(&other),
                        crate::json::compact(&other)
                    ),
                ))
            }
        },
        Condition::Compare { variable, op, operand } => {
            let value = variable.select(scope);
            if *op == Op::IsPresent {
                let want = operand_bool(operand);
                return Ok(value.is_some() == want);
            }
            let Some(value) = value else {
                return Err(Failure::runtime(format!(
                    "Invalid path '{}': The choice state's condition path references an invalid value.",
                    variable.text()
                )));
            };
            let rhs = match operand {
                Operand::Literal(v) => v.clone(),
                Operand::Path(r) => r.select(scope).ok_or_else(|| {
                    Failure::runtime(format!(
                        "Invalid path '{}': The choice state's condition path references an invalid value.",
                        r.text()
                    ))
                })?,
            };
            test(&value, *op, &rhs)
        }
    })
}

fn operand_bool(o: &Operand) -> bool {
    matches!(o, Operand::Literal(Value::Bool(true)))
}

fn ordered(ord: Option<Ordering>, c: Cmp) -> bool {
    let Some(o) = ord else { return false };
    match c {
        Cmp::Eq => o == Ordering::Equal,
        Cmp::Lt => o == Ordering::Less,
        Cmp::Gt => o == Ordering::Greater,
        Cmp::Le => o != Ordering::Greater,
        Cmp::Ge => o != Ordering::Less,
    }
}

/// One comparison: values of the wrong type never match (AWS does not coerce).
pub fn test(v: &Value, op: Op, rhs: &Value) -> bool {
    match op {
        Op::String(c) => match (v, rhs) {
            (Value::String(a), Value::String(b)) => ordered(Some(a.cmp(b)), c),
            _ => false,
        },
        Op::Numeric(c) => match (v, rhs) {
            (Value::Number(a), Value::Number(b)) => {
                let ord = match (a.as_i64(), b.as_i64()) {
                    (Some(x), Some(y)) => Some(x.cmp(&y)),
                    _ => a.as_f64().partial_cmp(&b.as_f64()),
                };
                ordered(ord, c)
            }
            _ => false,
        },
        Op::Timestamp(c) => match (
            v.as_str().and_then(parse_timestamp),
            rhs.as_str().and_then(parse_timestamp),
        ) {
            (Some(a), Some(b)) => ordered(Some(a.cmp(&b)), c),
            _ => false,
        },
        Op::BooleanEquals => matches!((v, rhs), (Value::Bool(a), Value::Bool(b)) if a == b),
        Op::StringMatches => match (v, rhs) {
            (Value::String(a), Value::String(p)) => wildcard_match(p, a),
            _ => false,
        },
        Op::IsNull => v.is_null() == (rhs == &Value::Bool(true)),
        Op::IsNumeric => v.is_number() == (rhs == &Value::Bool(true)),
        Op::IsString => v.is_string() == (rhs == &Value::Bool(true)),
        Op::IsBoolean => v.is_boolean() == (rhs == &Value::Bool(true)),
        Op::IsTimestamp => {
            v.as_str().and_then(parse_timestamp).is_some() == (rhs == &Value::Bool(true))
        }
        Op::IsPresent => true,
    }
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are literal.
pub fn wildcard_match(pattern: &str, s: &str) -> bool {
    #[derive(PartialEq)]
    enum Tok {
        Star,
        Ch(char),
    }
    let mut toks = Vec::new();
    let mut it = pattern.chars();
    while let Some(c) = it.next() {
        match c {
            '\\' => match it.next() {
                Some(n) => toks.push(Tok::Ch(n)),
                None => toks.push(Tok::Ch('\\')),
            },
            '*' => toks.push(Tok::Star),
            c => toks.push(Tok::Ch(c)),
        }
    }
    let s: Vec<char> = s.chars().collect();
    // classic greedy wildcard matching with backtracking to the last star
    let (mut p, mut i) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    while i < s.len() {
        if p < toks.len() && toks[p] == Tok::Ch(s[i]) {
            p += 1;
            i += 1;
        } else if p < toks.len() && toks[p] == Tok::Star {
            star = Some(p);
            mark = i;
            p += 1;
        } else if let Some(sp) = star {
            p = sp + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    while p < toks.len() && toks[p] == Tok::Star {
        p += 1;
    }
    p == toks.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.log", "a.log"));
        assert!(wildcard_match("log-*-x", "log-abc-x"));
        assert!(!wildcard_match("*.log", "a.txt"));
        assert!(wildcard_match("a\\*b", "a*b"));
        assert!(!wildcard_match("a\\*b", "axb"));
    }

    #[test]
    fn types_never_coerce() {
        assert!(!test(&json!("1"), Op::Numeric(Cmp::Eq), &json!(1)));
        assert!(test(&json!(1.0), Op::Numeric(Cmp::Eq), &json!(1)));
        assert!(test(
            &json!("2016-03-14T01:59:00Z"),
            Op::Timestamp(Cmp::Lt),
            &json!("2016-03-14T02:00:00Z")
        ));
        assert!(!test(&json!([]), Op::BooleanEquals, &json!(true)));
    }
}
