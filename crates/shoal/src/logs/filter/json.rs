//! JSON filter patterns: `{ $.selector op value }`, or `{ $.selector IS NULL }` (also `IS
//! TRUE`, `IS FALSE`, `NOT EXISTS`), joined with `&&` and `||` and grouped with parentheses.
//! Selectors walk object keys (`$.user.id`) and array positions (`$.items[0]`). They match
//! only events whose message is JSON.

use super::value::Comparison;
use serde_json::Value;

#[derive(Debug, Clone)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Test(Vec<Step>, Test),
}

#[derive(Debug, Clone)]
pub enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone)]
pub enum Test {
    Compare(Comparison),
    IsNull,
    IsTrue,
    IsFalse,
    NotExists,
}

struct Parser<'a> {
    s: &'a str,
    pattern: &'a str,
}

impl Parser<'_> {
    fn bad(&self, why: &str) -> String {
        format!("Invalid filter pattern '{}': {why}", self.pattern)
    }

    fn eat(&mut self, token: &str) -> bool {
        let t = self.s.trim_start();
        match t.strip_prefix(token) {
            Some(rest) => {
                self.s = rest;
                true
            }
            None => false,
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.eat("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while self.eat("&&") {
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("(") {
            let e = self.or()?;
            if !self.eat(")") {
                return Err(self.bad("a parenthesis is not closed"));
            }
            return Ok(e);
        }
        self.test()
    }

    /// A selector's steps after its `$`: `.key` and `[index]`.
    fn steps(&mut self) -> Result<Vec<Step>, String> {
        let mut steps = vec![];
        loop {
            if let Some(rest) = self.s.strip_prefix('.') {
                let end = rest
                    .find(|c: char| c.is_whitespace() || ".[=!<>()&|".contains(c))
                    .unwrap_or(rest.len());
                if end == 0 {
                    return Err(self.bad("a selector has an empty key"));
                }
                steps.push(Step::Key(rest[..end].to_string()));
                self.s = &rest[end..];
            } else if let Some(rest) = self.s.strip_prefix('[') {
                let end = rest
                    .find(']')
                    .ok_or_else(|| self.bad("a selector's [ is not closed"))?;
                let i = rest[..end]
                    .trim()
                    .parse()
                    .map_err(|_| self.bad("array positions are numbers, as in $.items[0]"))?;
                steps.push(Step::Index(i));
                self.s = &rest[end + 1..];
            } else {
                break;
            }
        }
        Ok(steps)
    }

    fn test(&mut self) -> Result<Expr, String> {
        if !self.eat("$") {
            return Err(self.bad(&format!(
                "expected a selector such as $.field at '{}'",
                self.s.trim()
            )));
        }
        let steps = self.steps()?;
        for (word, test) in [
            ("IS NULL", Test::IsNull),
            ("IS TRUE", Test::IsTrue),
            ("IS FALSE", Test::IsFalse),
            ("NOT EXISTS", Test::NotExists),
        ] {
            if self.eat(word) {
                return Ok(Expr::Test(steps, test));
            }
        }
        let (c, rest) = Comparison::parse(self.s, self.pattern, &[')', '&', '|'])?;
        self.s = rest;
        Ok(Expr::Test(steps, Test::Compare(c)))
    }
}

/// A selector such as `$.user.id` or `$.items[0]`, alone.
pub fn selector(text: &str) -> Result<Vec<Step>, String> {
    let mut p = Parser {
        s: text.strip_prefix('$').unwrap_or("?"),
        pattern: text,
    };
    let steps = p.steps()?;
    if steps.is_empty() || !p.s.is_empty() {
        return Err(format!("'{text}' is not a selector such as $.field"));
    }
    Ok(steps)
}

/// The selectors of a pattern, as written (`$.a.b[0]`), with their steps.
pub fn selectors(e: &Expr) -> Vec<(String, &[Step])> {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            let mut all = selectors(a);
            all.extend(selectors(b));
            all
        }
        Expr::Test(steps, _) => {
            let text = steps.iter().fold(String::from("$"), |t, s| match s {
                Step::Key(k) => format!("{t}.{k}"),
                Step::Index(i) => format!("{t}[{i}]"),
            });
            vec![(text, steps.as_slice())]
        }
    }
}

/// The value at `steps` of a JSON event, as text.
pub fn value(message: &str, steps: &[Step]) -> Option<String> {
    let v: Value = serde_json::from_str(message).ok()?;
    match select(&v, steps)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn parse(t: &str, pattern: &str) -> Result<Expr, String> {
    let inner = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| {
            format!("Invalid filter pattern '{pattern}': a JSON pattern ends with }}")
        })?;
    let mut p = Parser { s: inner, pattern };
    let e = p.or()?;
    if !p.s.trim().is_empty() {
        return Err(p.bad(&format!("unexpected '{}'", p.s.trim())));
    }
    Ok(e)
}

fn select<'v>(v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    steps.iter().try_fold(v, |v, s| match s {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

fn eval(e: &Expr, v: &Value) -> bool {
    match e {
        Expr::And(a, b) => eval(a, v) && eval(b, v),
        Expr::Or(a, b) => eval(a, v) || eval(b, v),
        Expr::Test(steps, t) => {
            let found = select(v, steps);
            match (t, found) {
                (Test::NotExists, f) => f.is_none(),
                (Test::IsNull, f) => f == Some(&Value::Null),
                (Test::IsTrue, f) => f == Some(&Value::Bool(true)),
                (Test::IsFalse, f) => f == Some(&Value::Bool(false)),
                (Test::Compare(c), Some(Value::String(s))) => c.string(s),
                (Test::Compare(c), Some(Value::Number(n))) => {
                    n.as_f64().is_some_and(|f| c.number(f, &n.to_string()))
                }
                (Test::Compare(c), Some(Value::Bool(b))) => {
                    c.text(if *b { "true" } else { "false" })
                }
                (Test::Compare(_), _) => false,
            }
        }
    }
}

pub fn matches(e: &Expr, message: &str) -> bool {
    match serde_json::from_str::<Value>(message.trim()) {
        Ok(v) => eval(e, &v),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Filter;

    #[test]
    fn json_patterns_select_compare_and_combine() {
        let ev = r#"{"eventType": "UpdateTrail", "user": {"id": 2, "admin": true}, "latency": 1500,
                    "users": [{"email": "a@example.com"}], "gone": null, "ip": "123.123.0.9", "code": "7"}"#;
        for (p, want) in [
            (r#"{ $.eventType = "UpdateTrail" }"#, true),
            ("{ $.eventType = Update* }", true),
            ("{ $.eventType != UpdateTrail }", false),
            ("{ $.ip = 123.123.* }", true),
            ("{ $.latency > 1000 }", true),
            ("{ $.latency <= 1000 }", false),
            (
                "{ $.user.id = 2 && $.users[0].email = \"a@example.com\" }",
                true,
            ),
            (
                "{ ($.user.id = 1 && $.latency > 0) || $.user.admin IS TRUE }",
                true,
            ),
            ("{ $.user.admin IS FALSE }", false),
            ("{ $.gone IS NULL }", true),
            ("{ $.missing NOT EXISTS }", true),
            ("{ $.user NOT EXISTS }", false),
            ("{ $.missing = x }", false),
            ("{ $.eventType = %Trail$% }", true),
            // a string holding a number is not ordered like one
            ("{ $.code > 1 }", false),
            ("{ $.code = 7 }", true),
        ] {
            let f = Filter::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_eq!(f.matches(ev), want, "{p}");
        }
        let f = Filter::parse("{ $.a = 1 }").unwrap();
        assert!(!f.matches("a = 1, not JSON"));
        for bad in [
            "{ $.a = 1",
            "{ a = 1 }",
            "{ ($.a = 1 }",
            "{ $.a[x] = 1 }",
            "{ $.a = 1 junk }",
            "{ $.a > b }",
        ] {
            let e = Filter::parse(bad).unwrap_err();
            assert!(e.starts_with("Invalid filter pattern"), "{bad}: {e}");
        }
    }
}
