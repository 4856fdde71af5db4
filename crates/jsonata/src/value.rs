//! The evaluator's values: JSON plus `undefined`, sequences and functions.

use crate::parser::Node;
use serde_json::Value;
use std::borrow::Cow;
use std::rc::Rc;

/// An object: a short list of members in insertion order. JSONata objects are small, so a
/// linear scan beats hashing; keys borrowed from the input are not copied.
#[derive(Clone, Default)]
pub struct ObjMap<'a>(Vec<(Cow<'a, str>, V<'a>)>);

impl<'a> ObjMap<'a> {
    pub fn new() -> Self {
        ObjMap(Vec::new())
    }

    pub fn get(&self, k: &str) -> Option<&V<'a>> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }

    /// Sets a member, keeping the position of an existing key.
    pub fn insert(&mut self, k: impl Into<Cow<'a, str>>, v: V<'a>) {
        let k = k.into();
        match self.0.iter_mut().find(|(n, _)| *n == k) {
            Some(slot) => slot.1 = v,
            None => self.0.push((k, v)),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Cow<'a, str>, &V<'a>)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Cow<'a, str>> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V<'a>> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a, K: Into<Cow<'a, str>>> FromIterator<(K, V<'a>)> for ObjMap<'a> {
    fn from_iter<I: IntoIterator<Item = (K, V<'a>)>>(it: I) -> Self {
        let mut m = ObjMap::new();
        for (k, v) in it {
            m.insert(k, v);
        }
        m
    }
}

/// A user-defined function and the scope it closes over.
pub struct Closure<'a> {
    pub params: Vec<String>,
    pub body: std::sync::Arc<(Vec<String>, Node)>,
    pub env: Rc<crate::eval::Frame<'a>>,
    pub input: V<'a>,
}

/// A value. `Ref` borrows caller-owned JSON so that inputs and bindings are never copied;
/// [`V::resolve`] turns it into the owned variants one level at a time.
#[derive(Clone)]
pub enum V<'a> {
    Undef,
    Ref(&'a Value),
    Null,
    Bool(bool),
    Num(f64),
    Str(Rc<str>),
    Arr(Rc<Vec<V<'a>>>),
    /// A sequence produced by a path (flattened into its parent when nested).
    Seq(Rc<Vec<V<'a>>>),
    Obj(Rc<ObjMap<'a>>),
    Lambda(Rc<Closure<'a>>),
    Builtin(Rc<str>),
    Regex(std::sync::Arc<regex::Regex>),
}

impl std::fmt::Debug for V<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            V::Lambda(_) | V::Builtin(_) => f.write_str("<function>"),
            V::Regex(r) => write!(f, "/{}/", r.as_str()),
            other => write!(f, "{:?}", other.to_json()),
        }
    }
}

impl<'a> V<'a> {
    /// Replaces a borrowed value by the owned variant of its top level (children stay borrowed).
    pub fn resolve(&self) -> V<'a> {
        match self {
            V::Ref(v) => match v {
                Value::Null => V::Null,
                Value::Bool(b) => V::Bool(*b),
                Value::Number(n) => V::Num(n.as_f64().unwrap_or(0.0)),
                Value::String(s) => V::Str(Rc::from(s.as_str())),
                Value::Array(a) => V::Arr(Rc::new(a.iter().map(V::Ref).collect())),
                Value::Object(o) => V::Obj(Rc::new(ObjMap(
                    o.iter()
                        .map(|(k, v)| (Cow::Borrowed(k.as_str()), V::Ref(v)))
                        .collect(),
                ))),
            },
            other => other.clone(),
        }
    }

    pub fn from_json(v: &Value) -> V<'a> {
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
            V::Ref(v) => (*v).clone(),
            V::Null => Value::Null,
            V::Bool(b) => Value::Bool(*b),
            V::Num(n) => num_to_json(*n),
            V::Str(s) => Value::String(s.to_string()),
            V::Arr(a) | V::Seq(a) => {
                let mut out = Vec::with_capacity(a.len());
                out.extend(a.iter().filter_map(V::to_json));
                Value::Array(out)
            }
            V::Obj(o) => {
                // sized up front: growing the map rehashes every key
                let mut m = serde_json::Map::with_capacity(o.len());
                for (k, v) in o.iter() {
                    if let Some(j) = v.to_json() {
                        m.insert(k.to_string(), j);
                    }
                }
                Value::Object(m)
            }
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
        matches!(self, V::Arr(_) | V::Seq(..) | V::Ref(Value::Array(_)))
    }

    /// The members of an array or sequence (each resolved one level); a single value as a
    /// one-item list; nothing for undefined.
    pub fn items(&self) -> Vec<V<'a>> {
        match self {
            V::Undef => vec![],
            V::Ref(Value::Array(a)) => a.iter().map(|x| V::Ref(x).resolve()).collect(),
            V::Ref(_) => vec![self.resolve()],
            V::Arr(a) | V::Seq(a) => a.iter().map(V::resolve).collect(),
            other => vec![other.clone()],
        }
    }

    pub fn str(s: &str) -> V<'a> {
        V::Str(Rc::from(s))
    }

    pub fn arr(v: Vec<V<'a>>) -> V<'a> {
        V::Arr(Rc::new(v))
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            V::Ref(_) => self.resolve().type_name(),
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
            V::Ref(_) => self.resolve().truthy(),
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
        if let (V::Ref(a), V::Ref(b)) = (self, other) {
            if a == b {
                return true;
            }
        }
        if matches!(self, V::Ref(_)) || matches!(other, V::Ref(_)) {
            return self.resolve().deep_eq(&other.resolve());
        }
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
