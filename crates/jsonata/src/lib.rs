//! # jsonata — JSONata expressions over `serde_json` values
//!
//! ```
//! use jsonata::{Expr, Env, NoHost, Output};
//! let e = Expr::parse("$sum(orders.price) * 2").unwrap();
//! let input = serde_json::json!({"orders": [{"price": 1}, {"price": 2.5}]});
//! let out = e.evaluate(&input, &Env::new(&NoHost)).unwrap();
//! assert_eq!(out, Output::Value(serde_json::json!(7)));
//! ```
//!
//! Written for shoal's Step Functions engine: variables are bound from borrowed JSON (converted
//! only when read), and a [`Host`] adds functions such as AWS's `$partition` or `$uuid`.

mod eval;
mod functions;
mod parser;
mod value;

use serde_json::Value;
use std::fmt;

/// A JSONata error: its code (`T1006`, `D3030`...) and message.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: &'static str,
    pub message: String,
    pub position: Option<usize>,
}

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            position: None,
        }
    }

    pub fn at(mut self, pos: usize) -> Error {
        self.position = Some(pos);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// Functions supplied by the embedder, consulted before the built-in library.
pub trait Host {
    /// `None` when the host has no function of that name.
    fn call(&self, name: &str, args: &[Option<Value>]) -> Option<Result<Option<Value>, Error>>;
    /// Whether `call` knows `name` (so `$name` evaluates to a function).
    fn has(&self, name: &str) -> bool {
        let _ = name;
        false
    }
    /// Whether an array returned by `name` is a sequence (a single item then stands alone).
    fn returns_sequence(&self, name: &str) -> bool {
        let _ = name;
        false
    }
}

/// A host with no functions.
pub struct NoHost;

impl Host for NoHost {
    fn call(&self, _: &str, _: &[Option<Value>]) -> Option<Result<Option<Value>, Error>> {
        None
    }
}

/// Variable bindings (borrowed) and the host.
pub struct Env<'h> {
    vars: Vec<(&'h str, &'h Value)>,
    object: Option<(&'h str, &'h [(&'h str, &'h Value)])>,
    host: &'h dyn Host,
}

impl<'h> Env<'h> {
    pub fn new(host: &'h dyn Host) -> Env<'h> {
        Env {
            vars: Vec::new(),
            object: None,
            host,
        }
    }

    /// Binds `$name` to `value`.
    pub fn bind(&mut self, name: &'h str, value: &'h Value) {
        self.vars.push((name, value));
    }

    fn object_fields(&self) -> Option<(&'h str, &'h [(&'h str, &'h Value)])> {
        self.object
    }

    fn get(&self, name: &str) -> Option<value::V<'h>> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| value::V::Ref(v))
    }

    /// Binds `$name` to an object assembled from borrowed members, without copying them
    /// (how Step Functions' `$states` is bound). One such binding at a time: a later call
    /// replaces it.
    pub fn bind_object(&mut self, name: &'h str, fields: &'h [(&'h str, &'h Value)]) {
        self.object = Some((name, fields));
    }

    fn host_has(&self, name: &str) -> bool {
        self.host.has(name)
    }
}

/// What an expression produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Value(Value),
    Undefined,
    /// A function (which has no JSON form).
    Function,
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub struct Expr {
    root: parser::Node,
}

impl Expr {
    /// Parses an expression.
    pub fn parse(src: &str) -> Result<Expr, Error> {
        let toks = parser::tokenize(src)?;
        let root = parser::Parser::new(toks).parse_all()?;
        Ok(Expr { root })
    }

    pub(crate) fn root(&self) -> &parser::Node {
        &self.root
    }

    /// Evaluates against `input` with `env`'s bindings.
    pub fn evaluate<'h>(&self, input: &'h Value, env: &Env<'h>) -> Result<Output, Error> {
        let v = value::V::Ref(input);
        let mut cx = eval::Ctx::new(env, v.clone());
        let frame = cx.frame(None);
        let out = cx.eval(&self.root, &v, &frame)?;
        Ok(match out {
            value::V::Undef => Output::Undefined,
            f if f.is_func() => Output::Function,
            other => match other.to_json() {
                Some(j) => Output::Value(j),
                None => Output::Undefined,
            },
        })
    }
}

#[cfg(test)]
mod tests;
