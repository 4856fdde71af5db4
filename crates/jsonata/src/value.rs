//! The evaluator's values: JSON plus `undefined`, sequences and functions.

use crate::parser::Node;
use indexmap::IndexMap;
use serde_json::Value;
use std::rc::Rc;

/// A user-defined function and the scope it closes over.
pub struct Closure {
    pub params: Vec<String>,
    pub body: Rc<(Vec<String>, Node)>,
    pub env: Rc<crate::eval::Frame>,
    pub input: V,
}

#[derive(Clone)]
pub enum V {
    Undef,
    Null,
    Bool(bool),
    Num(f64),
    Str(Rc<str>),
    Arr(Rc<Vec<V>>),
    /// A sequence produced by a path (flattened into its parent when nested).
    Seq(Rc<Vec<V>>),
    Obj(Rc<IndexMap<String, V>>),
    Lambda(Rc<Closure>),
    Builtin(Rc<str>),
    Regex(Rc<regex::Regex>),
}

impl std::fmt::Debug for V {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            V::Lambda(_) | V::Builtin(_) => f.write_str("<function>"),
            V::Regex(r) => write!(f, "/{}/", r.as_str()),
            other => write!(f, "{:?}", other.to_json()),
        }
    }
}

impl V {
    pub fn from_json(v: &Value) -> V {
        match v {
            Value::Null => V::Null,
            Value::Bool(b) => V::Bool(*b),
            Value::Number(n) => V::Num(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => V::Str(Rc::from(s.as_str())),
            Value::Array(a) => V::Arr(Rc::new(a.iter().map(V::from_json).collect())),
            Value::Object(o) => V::Obj(Rc::new(
                o.iter()
                    .map(|(k, v)| (k.clone(), V::from_json(v)))
                    .collect(),
            )),
        }
    }

    /// JSON for the value; `None` for undefined. Functions inside structures become `""` as in
    /// JSONata's JSON serialisation; at top level the caller reports them.
    pub fn to_json(&self) -> Option<Value> {
        Some(match self {
            V::Undef => return None,
            V::Null => Value::Null,
            V::Bool(b) => Value::Bool(*b),
            V::Num(n) => num_to_json(*n),
            V::Str(s) => Value::String(s.to_string()),
            V::Arr(a) | V::Seq(a) => Value::Array(a.iter().filter_map(V::to_json).collect()),
            V::Obj(o) => Value::Object(
                o.iter()
                    .filter_map(|(k, v)| v.to_json().map(|j| (k.clone(), j)))
                    .collect(),
            ),
            V::Lambda(_) | V::Builtin(_) | V::Regex(_) => Value::String(String::new()),
        })
    }

    pub fn is_undef(&self) -> bool {
        matches!(self, V::Undef)
    }

    pub fn is_func(&self) -> bool {
        matches!(self, V::Lambda(_) | V::Builtin(_))
    }

    pub fn is_array(&self) -> bool {
        matches!(self, V::Arr(_) | V::Seq(..))
    }

    /// The members of an array or sequence; a single value as a one-item list; nothing for undefined.
    pub fn items(&self) -> Vec<V> {
        match self {
            V::Undef => vec![],
            V::Arr(a) | V::Seq(a) => a.as_ref().clone(),
            other => vec![other.clone()],
        }
    }

    pub fn str(s: &str) -> V {
        V::Str(Rc::from(s))
    }

    pub fn arr(v: Vec<V>) -> V {
        V::Arr(Rc::new(v))
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            V::Undef => "undefined",
            V::Null => "null",
            V::Bool(_) => "boolean",
            V::Num(_) => "number",
            V::Str(_) => "string",
            V::Arr(_) | V::Seq(..) => "array",
            V::Obj(_) => "object",
            V::Lambda(_) | V::Builtin(_) | V::Regex(_) => "function",
        }
    }

    /// JSONata's boolean cast.
    pub fn truthy(&self) -> bool {
        match self {
            V::Undef | V::Null => false,
            V::Bool(b) => *b,
            V::Num(n) => *n != 0.0,
            V::Str(s) => !s.is_empty(),
            V::Arr(a) | V::Seq(a) => a.iter().any(V::truthy),
            V::Obj(o) => !o.is_empty(),
            V::Lambda(_) | V::Builtin(_) | V::Regex(_) => false,
        }
    }

    /// Deep equality as `=` compares.
    pub fn deep_eq(&self, other: &V) -> bool {
        match (self, other) {
            (V::Num(a), V::Num(b)) => a == b,
            (V::Str(a), V::Str(b)) => a == b,
            (V::Bool(a), V::Bool(b)) => a == b,
            (V::Null, V::Null) => true,
            (V::Arr(a) | V::Seq(a), V::Arr(b) | V::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(x, y)| x.deep_eq(y))
            }
            (V::Obj(a), V::Obj(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .all(|(k, v)| b.get(k).is_some_and(|w| v.deep_eq(w)))
            }
            _ => false,
        }
    }
}

/// Integral numbers print without a fraction, as in JavaScript.
pub fn num_to_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// JavaScript-like number text (15 significant digits, no trailing zeros).
pub fn num_to_string(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        return format!("{}", n as i128);
    }
    let s = format!("{:.15e}", n);
    let v: f64 = s.parse().unwrap_or(n);
    let mut out = format!("{v}");
    if out.contains('e') {
        out = out.replace("e", "e+").replace("e+-", "e-");
    }
    out
}
