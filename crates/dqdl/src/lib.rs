//! # dqdl — AWS Glue Data Quality Definition Language
//!
//! Parses a ruleset into rules (with composite `and`/`or`, `where` clauses, `with threshold`
//! and labels), judges a rule's condition against a computed value, and renders a row-level
//! condition as a SQL predicate so an engine can count the rows that pass. Semantics follow
//! AWS's documentation: `between` excludes its bounds, `not between` includes them, and a NULL
//! value fails every condition except `!=` and `not in`.
//!
//! ```
//! let rs = dqdl::parse(r#"Rules = [ RowCount > 0, ColumnValues "month" between 0 and 13 ]"#).unwrap();
//! assert_eq!(rs.rules.len(), 2);
//! let dqdl::Rule::Check(c) = &rs.rules[1] else { panic!() };
//! assert_eq!(c.kind, "ColumnValues");
//! let cond = c.condition.as_ref().unwrap();
//! let now = chrono::Utc::now();
//! assert!(cond.holds(&dqdl::Val::Num(12.0), now).unwrap());
//! assert!(!cond.holds(&dqdl::Val::Num(13.0), now).unwrap());
//! assert_eq!(cond.sql("\"month\"", now).unwrap(), "coalesce((\"month\" > 0 AND \"month\" < 13), false)");
//! ```

pub mod condition;
mod lexer;
mod parser;

pub use condition::{Condition, Expr, Op, Val};
pub use parser::parse;

use std::collections::BTreeMap;

/// A ruleset that does not parse: where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ParseError {
    fn at(line: usize, column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }
}

/// A parsed DQDL document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    pub metadata: BTreeMap<String, Vec<String>>,
    pub data_sources: BTreeMap<String, Vec<String>>,
    /// `name = "text"` or `name = ["a", "b"]`, used as `$name`.
    pub variables: BTreeMap<String, Vec<String>>,
    pub rules: Vec<Rule>,
    pub analyzers: Vec<Check>,
}

/// One entry of `Rules = [...]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Check(Box<Check>),
    /// `(r1) and (r2) ...`
    All(Vec<Rule>, String),
    /// `(r1) or (r2) ...`
    Any(Vec<Rule>, String),
}

impl Rule {
    /// The rule as written (whitespace collapsed): Glue's `Description` of a rule result.
    pub fn text(&self) -> &str {
        match self {
            Rule::Check(c) => &c.text,
            Rule::All(_, t) | Rule::Any(_, t) => t,
        }
    }
}

/// A rule of one type: `ColumnValues "col" > 3 where "x = 1" with threshold > 0.9`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The rule type, e.g. `IsComplete`.
    pub kind: String,
    /// Parameters in order (`$variables` resolved; lists are joined with `,`).
    pub params: Vec<String>,
    pub condition: Option<Condition>,
    /// The `where` clause: a SQL boolean expression.
    pub filter: Option<String>,
    /// `with threshold <condition>`.
    pub threshold: Option<Condition>,
    pub labels: BTreeMap<String, String>,
    pub text: String,
}
