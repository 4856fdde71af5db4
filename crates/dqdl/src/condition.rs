//! Conditions: what a rule's value must satisfy. Operands are expressions over numbers, text,
//! times (`now()`, `"2024-01-31"`) and durations (`3 days`), evaluated at a given `now`.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

/// A value a rule computed, or an operand evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Num(f64),
    Str(String),
    Time(DateTime<Utc>),
    /// Seconds.
    Duration(f64),
    Null,
    Empty,
    WhitespacesOnly,
}

impl std::fmt::Display for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Val::Num(n) => write!(f, "{n}"),
            Val::Str(s) => write!(f, "{s}"),
            Val::Time(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M:%S")),
            Val::Duration(s) => write!(f, "{s} seconds"),
            Val::Null => f.write_str("NULL"),
            Val::Empty => f.write_str("EMPTY"),
            Val::WhitespacesOnly => f.write_str("WHITESPACES_ONLY"),
        }
    }
}

/// An operand as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    Str(String),
    Now,
    /// A number with a unit: `days`, `hours`, `minutes` (and singulars); seconds.
    Duration(f64),
    Null,
    Empty,
    WhitespacesOnly,
    Binary(Box<Expr>, char, Box<Expr>),
    /// A function of dynamic rules (`last(3)`, `avg(...)`); needs run history.
    Call(String, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Compare(Op, Expr),
    Between {
        low: Expr,
        high: Expr,
        negated: bool,
    },
    In {
        items: Vec<Expr>,
        negated: bool,
    },
    Matches {
        pattern: String,
        negated: bool,
    },
}

/// A condition that cannot be judged (a type mismatch, or a dynamic-rule function).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

impl Expr {
    pub fn eval(&self, now: DateTime<Utc>) -> Result<Val, EvalError> {
        Ok(match self {
            Expr::Num(n) => Val::Num(*n),
            Expr::Str(s) => Val::Str(s.clone()),
            Expr::Now => Val::Time(now),
            Expr::Duration(s) => Val::Duration(*s),
            Expr::Null => Val::Null,
            Expr::Empty => Val::Empty,
            Expr::WhitespacesOnly => Val::WhitespacesOnly,
            Expr::Call(f, _) => {
                return Err(EvalError(format!(
                    "{f}() belongs to dynamic rules, which need the history of earlier runs"
                )))
            }
            Expr::Binary(a, op, b) => {
                let (a, b) = (a.eval(now)?, b.eval(now)?);
                let ms = |s: f64| Duration::milliseconds((s * 1000.0) as i64);
                match (a, *op, b) {
                    (Val::Num(x), '+', Val::Num(y)) => Val::Num(x + y),
                    (Val::Num(x), '-', Val::Num(y)) => Val::Num(x - y),
                    (Val::Num(x), '*', Val::Num(y)) => Val::Num(x * y),
                    (Val::Num(x), '/', Val::Num(y)) => Val::Num(x / y),
                    (Val::Time(t), '+', Val::Duration(d)) => Val::Time(t + ms(d)),
                    (Val::Time(t), '-', Val::Duration(d)) => Val::Time(t - ms(d)),
                    (Val::Duration(x), '+', Val::Duration(y)) => Val::Duration(x + y),
                    (a, op, b) => return Err(EvalError(format!("cannot compute {a} {op} {b}"))),
                }
            }
        })
    }
}

/// Orders two values of comparable kinds (numbers; times, text read as times; text).
fn order(a: &Val, b: &Val) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Time(x), Val::Time(y)) => Some(x.cmp(y)),
        (Val::Time(x), Val::Str(s)) => parse_time(s).map(|y| x.cmp(&y)),
        (Val::Str(s), Val::Time(y)) => parse_time(s).map(|x| x.cmp(y)),
        (Val::Duration(x), Val::Duration(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Num(x), Val::Str(s)) => s.parse::<f64>().ok().and_then(|y| x.partial_cmp(&y)),
        (Val::Str(s), Val::Num(y)) => s.parse::<f64>().ok().and_then(|x| x.partial_cmp(y)),
        _ => None,
    }
}

fn member(v: &Val, item: &Val) -> bool {
    match (v, item) {
        (Val::Null, Val::Null) => true,
        (Val::Str(s), Val::Empty) => s.is_empty(),
        (Val::Str(s), Val::WhitespacesOnly) => !s.is_empty() && s.trim().is_empty(),
        (Val::Null, _) | (_, Val::Null | Val::Empty | Val::WhitespacesOnly) => false,
        _ => order(v, item) == Some(std::cmp::Ordering::Equal),
    }
}

impl Condition {
    /// Whether `v` satisfies the condition. NULL passes only `!=` and `not in` (without NULL).
    pub fn holds(&self, v: &Val, now: DateTime<Utc>) -> Result<bool, EvalError> {
        use std::cmp::Ordering::*;
        let is_null = matches!(v, Val::Null) || matches!(v, Val::Num(n) if n.is_nan());
        Ok(match self {
            Condition::Compare(op, e) => {
                let rhs = e.eval(now)?;
                if matches!(rhs, Val::Null) {
                    return Ok(match op {
                        Op::Eq => is_null,
                        Op::Ne => !is_null,
                        _ => false,
                    });
                }
                if is_null {
                    return Ok(*op == Op::Ne);
                }
                let o = order(v, &rhs)
                    .ok_or_else(|| EvalError(format!("cannot compare {v} with {rhs}")))?;
                match op {
                    Op::Eq => o == Equal,
                    Op::Ne => o != Equal,
                    Op::Gt => o == Greater,
                    Op::Ge => o != Less,
                    Op::Lt => o == Less,
                    Op::Le => o != Greater,
                }
            }
            Condition::Between { low, high, negated } => {
                if is_null {
                    return Ok(false);
                }
                let (lo, hi) = (low.eval(now)?, high.eval(now)?);
                let a = order(v, &lo)
                    .ok_or_else(|| EvalError(format!("cannot compare {v} with {lo}")))?;
                let b = order(v, &hi)
                    .ok_or_else(|| EvalError(format!("cannot compare {v} with {hi}")))?;
                if *negated {
                    a != Greater || b != Less
                } else {
                    a == Greater && b == Less
                }
            }
            Condition::In { items, negated } => {
                let items: Vec<Val> = items
                    .iter()
                    .map(|e| e.eval(now))
                    .collect::<Result<_, _>>()?;
                let found = items.iter().any(|i| member(v, i));
                if *negated {
                    !found
                } else {
                    found
                }
            }
            Condition::Matches { pattern, negated } => {
                if is_null {
                    return Ok(false);
                }
                let Val::Str(s) = v else {
                    return Err(EvalError(format!("matches needs text, not {v}")));
                };
                let re = full_match(pattern)?;
                re.is_match(s) != *negated
            }
        })
    }

    /// The condition over SQL expression `col` as a predicate that is never NULL, with AWS's
    /// NULL rules; `now()` becomes a timestamp literal of `now`.
    pub fn sql(&self, col: &str, now: DateTime<Utc>) -> Result<String, EvalError> {
        let lit = |e: &Expr| -> Result<String, EvalError> { literal(&e.eval(now)?) };
        Ok(match self {
            Condition::Compare(op, e) => {
                let rhs = e.eval(now)?;
                if matches!(rhs, Val::Null) {
                    return Ok(match op {
                        Op::Eq => format!("({col} IS NULL)"),
                        Op::Ne => format!("({col} IS NOT NULL)"),
                        _ => "false".into(),
                    });
                }
                let o = match op {
                    Op::Eq => "=",
                    Op::Ne => "<>",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                    Op::Lt => "<",
                    Op::Le => "<=",
                };
                let cmp = format!("{col} {o} {}", literal(&rhs)?);
                if *op == Op::Ne {
                    format!("({col} IS NULL OR {cmp})")
                } else {
                    format!("coalesce({cmp}, false)")
                }
            }
            Condition::Between { low, high, negated } => {
                let (lo, hi) = (lit(low)?, lit(high)?);
                if *negated {
                    format!("coalesce(({col} <= {lo} OR {col} >= {hi}), false)")
                } else {
                    format!("coalesce(({col} > {lo} AND {col} < {hi}), false)")
                }
            }
            Condition::In { items, negated } => {
                let mut alts = vec![];
                let mut plain = vec![];
                for i in items {
                    match i.eval(now)? {
                        Val::Null => alts.push(format!("{col} IS NULL")),
                        Val::Empty => alts.push(format!("{col} = ''")),
                        Val::WhitespacesOnly => {
                            alts.push(format!("({col} <> '' AND trim({col}) = '')"))
                        }
                        v => plain.push(literal(&v)?),
                    }
                }
                if !plain.is_empty() {
                    alts.push(format!("{col} IN ({})", plain.join(", ")));
                }
                let any = if alts.is_empty() {
                    "false".to_string()
                } else {
                    format!("coalesce(({}), false)", alts.join(" OR "))
                };
                if *negated {
                    format!("(NOT {any})")
                } else {
                    any
                }
            }
            Condition::Matches { pattern, negated } => {
                full_match(pattern)?;
                let p = format!("^(?:{pattern})$").replace('\'', "''");
                let m = format!("coalesce(regexp_like(CAST({col} AS VARCHAR), '{p}'), false)");
                if *negated {
                    format!("({col} IS NOT NULL AND NOT {m})")
                } else {
                    m
                }
            }
        })
    }
}

fn full_match(pattern: &str) -> Result<regex::Regex, EvalError> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| EvalError(format!("invalid regular expression '{pattern}': {e}")))
}

/// A value as a SQL literal.
fn literal(v: &Val) -> Result<String, EvalError> {
    Ok(match v {
        Val::Num(n) => {
            if n.fract() == 0.0 && n.abs() < 1e15 {
                format!("{}", *n as i64)
            } else {
                format!("{n}")
            }
        }
        Val::Str(s) => format!("'{}'", s.replace('\'', "''")),
        Val::Time(t) => format!("TIMESTAMP '{}'", t.format("%Y-%m-%dT%H:%M:%S%.6f")),
        Val::Duration(_) | Val::Null | Val::Empty | Val::WhitespacesOnly => {
            return Err(EvalError(format!(
                "{v} cannot be compared with a column value"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2024-09-02T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn between_excludes_and_not_between_includes_the_bounds() {
        let b = Condition::Between {
            low: Expr::Num(0.0),
            high: Expr::Num(13.0),
            negated: false,
        };
        assert!(b.holds(&Val::Num(1.0), now()).unwrap());
        assert!(!b.holds(&Val::Num(13.0), now()).unwrap());
        assert!(!b.holds(&Val::Null, now()).unwrap());
        let nb = Condition::Between {
            low: Expr::Num(0.0),
            high: Expr::Num(13.0),
            negated: true,
        };
        assert!(nb.holds(&Val::Num(13.0), now()).unwrap());
        assert!(!nb.holds(&Val::Num(5.0), now()).unwrap());
    }

    #[test]
    fn null_passes_only_not_equal_and_not_in() {
        let ne = Condition::Compare(Op::Ne, Expr::Num(1.0));
        let eq = Condition::Compare(Op::Eq, Expr::Num(1.0));
        assert!(ne.holds(&Val::Null, now()).unwrap());
        assert!(!eq.holds(&Val::Null, now()).unwrap());
        let nin = Condition::In {
            items: vec![Expr::Str("a".into())],
            negated: true,
        };
        assert!(nin.holds(&Val::Null, now()).unwrap());
        let inn = Condition::In {
            items: vec![Expr::Null, Expr::Empty],
            negated: false,
        };
        assert!(inn.holds(&Val::Null, now()).unwrap());
        assert!(inn.holds(&Val::Str(String::new()), now()).unwrap());
        assert!(!inn.holds(&Val::Str("x".into()), now()).unwrap());
        assert_eq!(eq.sql("c", now()).unwrap(), "coalesce(c = 1, false)");
        assert_eq!(ne.sql("c", now()).unwrap(), "(c IS NULL OR c <> 1)");
    }

    #[test]
    fn times_compare_with_now_arithmetic_and_date_text() {
        let c = Condition::Compare(
            Op::Ge,
            Expr::Binary(
                Box::new(Expr::Now),
                '-',
                Box::new(Expr::Duration(3.0 * 86400.0)),
            ),
        );
        let t: DateTime<Utc> = "2024-08-31T00:00:00Z".parse().unwrap();
        assert!(c.holds(&Val::Time(t), now()).unwrap());
        let c = Condition::Compare(Op::Le, Expr::Str("2024-01-31".into()));
        assert!(!c.holds(&Val::Time(t), now()).unwrap());
        assert_eq!(
            Condition::Compare(Op::Le, Expr::Now)
                .sql("d", now())
                .unwrap(),
            "coalesce(d <= TIMESTAMP '2024-09-02T12:00:00.000000', false)"
        );
    }

    #[test]
    fn matches_is_a_full_match() {
        let m = Condition::Matches {
            pattern: "post.*".into(),
            negated: false,
        };
        assert!(m.holds(&Val::Str("posts".into()), now()).unwrap());
        assert!(!m.holds(&Val::Str("a post".into()), now()).unwrap());
    }
}
