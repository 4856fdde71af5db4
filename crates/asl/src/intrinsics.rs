//! The 18 intrinsic functions of JSONPath mode (`States.Format`, `States.Array`, ...): a parser
//! for the call syntax and an evaluator over a [`Scope`].

use crate::json::{self, Scope};
use crate::jsonpath::JsonPath;
use base64::Engine as _;
use serde_json::{Map, Value};

/// A parsed intrinsic call, e.g. `States.Format('{}', $.a)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Arg>,
}

/// One argument of an intrinsic call.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Literal(Value),
    /// `$.x` over the state input.
    Path(JsonPath),
    /// `$$.x` over the context object.
    Context(JsonPath),
    /// `$name.x` over a variable.
    Variable(String, JsonPath),
    Call(Box<Call>),
}

/// The known functions and their arity bounds (min, max).
const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("States.Format", 1, usize::MAX),
    ("States.StringToJson", 1, 1),
    ("States.JsonToString", 1, 1),
    ("States.Array", 0, usize::MAX),
    ("States.ArrayPartition", 2, 2),
    ("States.ArrayContains", 2, 2),
    ("States.ArrayRange", 3, 3),
    ("States.ArrayGetItem", 2, 2),
    ("States.ArrayLength", 1, 1),
    ("States.ArrayUnique", 1, 1),
    ("States.Base64Encode", 1, 1),
    ("States.Base64Decode", 1, 1),
    ("States.Hash", 2, 2),
    ("States.JsonMerge", 3, 3),
    ("States.MathRandom", 2, 3),
    ("States.MathAdd", 2, 2),
    ("States.StringSplit", 2, 2),
    ("States.UUID", 0, 0),
];

/// True when a string looks like an intrinsic call (it starts with `States.` and a name).
pub fn looks_like_call(s: &str) -> bool {
    s.trim_start().starts_with("States.")
}

/// Parses an intrinsic call. The error text says what is wrong.
pub fn parse(text: &str) -> Result<Call, String> {
    let mut p = P {
        s: text,
        i: 0,
        depth: 0,
    };
    p.ws();
    let call = p.call()?;
    p.ws();
    if p.i != text.len() {
        return Err(format!(
            "unexpected text after the call: '{}'",
            &text[p.i..]
        ));
    }
    Ok(call)
}

struct P<'a> {
    s: &'a str,
    i: usize,
    depth: usize,
}

impl P<'_> {
    fn rest(&self) -> &str {
        &self.s[self.i..]
    }
    fn ws(&mut self) {
        while self.rest().starts_with([' ', '\t', '\n', '\r']) {
            self.i += 1;
        }
    }
    fn call(&mut self) -> Result<Call, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("intrinsic functions are nested too deeply".into());
        }
        let start = self.i;
        while self
            .rest()
            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            self.i += 1;
        }
        let name = self.s[start..self.i].to_string();
        let Some(&(_, min, max)) = FUNCTIONS.iter().find(|(n, _, _)| *n == name) else {
            return Err(format!("unknown intrinsic function '{name}'"));
        };
        self.ws();
        if !self.rest().starts_with('(') {
            return Err(format!("expected '(' after {name}"));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.ws();
        if self.rest().starts_with(')') {
            self.i += 1;
        } else {
            loop {
                self.ws();
                args.push(self.arg()?);
                self.ws();
                if self.rest().starts_with(',') {
                    self.i += 1;
                } else if self.rest().starts_with(')') {
                    self.i += 1;
                    break;
                } else {
                    return Err(format!("expected ',' or ')' in the arguments of {name}"));
                }
            }
        }
        if args.len() < min || args.len() > max {
            return Err(format!(
                "{name} takes {}, got {} arguments",
                arity(min, max),
                args.len()
            ));
        }
        self.depth -= 1;
        Ok(Call { name, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        let r = self.rest();
        if r.starts_with('\'') {
            return Ok(Arg::Literal(Value::String(self.string()?)));
        }
        if r.starts_with("States.") {
            return Ok(Arg::Call(Box::new(self.call()?)));
        }
        if r.starts_with('$') {
            let start = self.i;
            let mut depth = 0i32;
            let mut quote: Option<char> = None;
            for (off, c) in self.rest().char_indices() {
                if let Some(q) = quote {
                    if c == q {
                        quote = None;
                    }
                    continue;
                }
                match c {
                    '\'' | '"' if depth > 0 => quote = Some(c),
                    '[' | '(' => depth += 1,
                    ']' => depth -= 1,
                    ')' if depth > 0 => depth -= 1,
                    ',' | ')' if depth == 0 => {
                        self.i = start + off;
                        return path_arg(self.s[start..self.i].trim_end());
                    }
                    _ => {}
                }
            }
            self.i = self.s.len();
            return path_arg(self.s[start..].trim_end());
        }
        // number, true, false, null
        let end = r.find([',', ')']).unwrap_or(r.len());
        let tok = r[..end].trim().to_string();
        self.i += end;
        let tok = tok.as_str();
        match serde_json::from_str::<Value>(tok) {
            Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => Ok(Arg::Literal(v)),
            _ => Err(format!("invalid argument '{tok}'")),
        }
    }

    /// A single-quoted string; `\'`, `\{`, `\}`, `\\` and `\n` are the escapes AWS accepts.
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.s[self.i..].char_indices();
        while let Some((off, c)) = chars.next() {
            match c {
                '\'' => {
                    self.i += off + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('\'' | '{' | '}' | '\\'))) => {
                        out.push('\\');
                        out.push(e);
                    }
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, e)) => {
                        return Err(format!("illegal escape '\\{e}' in a string literal"))
                    }
                    None => break,
                },
                _ => out.push(c),
            }
        }
        Err("unterminated string literal".into())
    }
}

fn arity(min: usize, max: usize) -> String {
    if min == max {
        format!("{min} argument(s)")
    } else if max == usize::MAX {
        format!("at least {min} argument(s)")
    } else {
        format!("{min} to {max} arguments")
    }
}

fn path_arg(text: &str) -> Result<Arg, String> {
    let perr = |e: crate::jsonpath::PathError| e.to_string();
    if let Some(ctx) = text.strip_prefix("$$") {
        return Ok(Arg::Context(
            JsonPath::parse(&format!("${ctx}")).map_err(perr)?,
        ));
    }
    if let Some((name, path)) = json::split_variable(text) {
        return Ok(Arg::Variable(
            name.to_string(),
            JsonPath::parse(&format!("${path}")).map_err(perr)?,
        ));
    }
    Ok(Arg::Path(JsonPath::parse(text).map_err(perr)?))
}

/// Removes the intrinsic escapes kept in literals (`\'`, `\{`, `\}`, `\\`) so that only
/// `States.Format` sees escaped braces.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Evaluates a call. Errors carry AWS's cause text (the caller adds the state prefix).
pub fn eval(call: &Call, scope: &Scope) -> Result<Value, String> {
    let mut args = Vec::with_capacity(call.args.len());
    for a in &call.args {
        let v = match a {
            Arg::Literal(Value::String(s)) if call.name == "States.Format" && args.is_empty() => {
                // the template keeps its escapes for brace handling below
                Value::String(s.clone())
            }
            Arg::Literal(Value::String(s)) => Value::String(unescape(s)),
            Arg::Literal(v) => v.clone(),
            Arg::Path(p) => p.select(scope.input).ok_or_else(|| {
                format!(
                    "The JSONPath {} could not be found in the input {}",
                    p,
                    json::compact(scope.input)
                )
            })?,
            Arg::Context(p) => p.select(scope.context).ok_or_else(|| {
                format!(
                    "The JSONPath ${} could not be found in the context object",
                    p
                )
            })?,
            Arg::Variable(name, p) => {
                let v = scope
                    .variable(name)
                    .ok_or_else(|| format!("The variable '${name}' is not defined"))?;
                p.select(v).ok_or_else(|| {
                    format!("The path '{p}' could not be found in variable '${name}'")
                })?
            }
            Arg::Call(c) => eval(c, scope)?,
        };
        args.push(v);
    }
    apply(&call.name, args, scope)
}

/// A number truncated to an integer (`States.MathRandom` accepts `12.5` as AWS does).
fn want_number_as_int(v: &Value, f: &str, what: &str) -> Result<i64, String> {
    match v.as_f64() {
        Some(x) if x.is_finite() => Ok(x.trunc() as i64),
        _ => Err(format!(
            "The {what} argument of {f} must be a number, got {}",
            json::compact(v)
        )),
    }
}

fn want_int(v: &Value, f: &str, what: &str) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64))
            .ok_or_else(|| format!("The {what} argument of {f} must be an integer, got {n}")),
        other => Err(format!(
            "The {what} argument of {f} must be an integer, got {}",
            json::compact(other)
        )),
    }
}

fn want_str<'a>(v: &'a Value, f: &str) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{f} expects a string, got {}", json::compact(v)))
}

fn want_array<'a>(v: &'a Value, f: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{f} expects an array, got {}", json::compact(v)))
}

/// Java's `Math.round`: half up, towards positive infinity.
fn java_round(x: f64) -> i64 {
    (x + 0.5).floor() as i64
}

fn apply(name: &str, args: Vec<Value>, scope: &Scope) -> Result<Value, String> {
    match name {
        "States.Format" => {
            let template = want_str(&args[0], name)?;
            let mut out = String::new();
            let mut rest = args[1..].iter();
            let mut it = template.chars().peekable();
            let mut used = 0;
            while let Some(c) = it.next() {
                match c {
                    '\\' => {
                        if let Some(n) = it.next() {
                            out.push(n);
                        }
                    }
                    '{' if it.peek() == Some(&'}') => {
                        it.next();
                        let v = rest.next().ok_or_else(|| {
                            "The number of arguments does not match the number of placeholders"
                                .to_string()
                        })?;
                        used += 1;
                        out.push_str(&json::java_to_string(v));
                    }
                    _ => out.push(c),
                }
            }
            if used != args.len() - 1 {
                return Err(
                    "The number of arguments does not match the number of placeholders".into(),
                );
            }
            Ok(Value::String(out))
        }
        "States.StringToJson" => {
            let s = want_str(&args[0], name)?;
            if s.trim().is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_str(s).map_err(|e| format!("{name}: the string is not JSON: {e}"))
        }
        "States.JsonToString" => Ok(Value::String(json::compact(&args[0]))),
        "States.Array" => Ok(Value::Array(args)),
        "States.ArrayPartition" => {
            let a = want_array(&args[0], name)?;
            let n = want_int(&args[1], name, "second")?;
            if n <= 0 {
                return Err(format!("{name}: the chunk size must be positive, got {n}"));
            }
            Ok(Value::Array(
                a.chunks(n as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            ))
        }
        "States.ArrayContains" => {
            let a = want_array(&args[0], name)?;
            Ok(Value::Bool(a.iter().any(|x| json::equal(x, &args[1]))))
        }
        "States.ArrayRange" => {
            let s = want_int(&args[0], name, "first")?;
            let e = want_int(&args[1], name, "second")?;
            let st = want_int(&args[2], name, "third")?;
            range(s, e, st)
                .map(Value::Array)
                .map_err(|e| format!("{name}: {e}"))
        }
        "States.ArrayGetItem" => {
            let a = want_array(&args[0], name)?;
            let i = want_int(&args[1], name, "second")?;
            usize::try_from(i)
                .ok()
                .and_then(|u| a.get(u))
                .cloned()
                .ok_or_else(|| format!("{name}: index {i} is out of bounds"))
        }
        "States.ArrayLength" => Ok(Value::from(want_array(&args[0], name)?.len())),
        "States.ArrayUnique" => {
            let a = want_array(&args[0], name)?;
            let mut out: Vec<Value> = Vec::new();
            for v in a {
                if !out.iter().any(|o| json::equal(o, v)) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        "States.Base64Encode" => {
            let s = want_str(&args[0], name)?;
            if s.len() > 10_000 {
                return Err(format!("{name}: the input is longer than 10000 characters"));
            }
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(s.as_bytes()),
            ))
        }
        "States.Base64Decode" => {
            let s = want_str(&args[0], name)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|e| format!("{name}: the input is not base64: {e}"))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| format!("{name}: the decoded bytes are not UTF-8"))
        }
        "States.Hash" => {
            let data = want_str(&args[0], name)?;
            let alg = want_str(&args[1], name)?;
            Ok(Value::String(hash(data.as_bytes(), alg).ok_or_else(|| {
                format!(
                    "{name}: unsupported algorithm '{alg}' (use MD5, SHA-1, SHA-256, SHA-384 or SHA-512)"
                )
            })?))
        }
        "States.JsonMerge" => {
            let (Value::Object(a), Value::Object(b)) = (&args[0], &args[1]) else {
                return Err(format!("{name}: both inputs must be objects"));
            };
            if args[2] != Value::Bool(false) {
                return Err(format!(
                    "{name}: deep merging is not supported; the third argument must be false"
                ));
            }
            let mut out: Map<String, Value> = a.clone();
            for (k, v) in b {
                out.insert(k.clone(), v.clone());
            }
            Ok(Value::Object(out))
        }
        "States.MathRandom" => {
            let lo = want_number_as_int(&args[0], name, "first")?;
            let hi = want_number_as_int(&args[1], name, "second")?;
            if hi <= lo {
                return Err(format!("{name}: the end must be greater than the start"));
            }
            let seed = match args.get(2) {
                Some(v) => Some(want_int(v, name, "third")?),
                None => None,
            };
            Ok(Value::from(scope.random_between(lo, hi, seed)))
        }
        "States.MathAdd" => {
            let num = |v: &Value| {
                v.as_f64()
                    .ok_or_else(|| format!("{name} expects numbers, got {}", json::compact(v)))
            };
            Ok(Value::from(
                java_round(num(&args[0])?) + java_round(num(&args[1])?),
            ))
        }
        "States.StringSplit" => {
            let s = want_str(&args[0], name)?;
            let d = want_str(&args[1], name)?;
            let parts: Vec<Value> = s
                .split(|c: char| d.contains(c))
                .filter(|p| !p.is_empty())
                .map(|p| Value::String(p.to_string()))
                .collect();
            Ok(Value::Array(parts))
        }
        "States.UUID" => Ok(Value::String(scope.uuid())),
        _ => Err(format!("unknown intrinsic function '{name}'")),
    }
}

/// `start..=end` by `step`, at most 1000 values (`States.ArrayRange` and JSONata's `$range`).
pub(crate) fn range(start: i64, end: i64, step: i64) -> Result<Vec<Value>, String> {
    if step == 0 {
        return Err("the step cannot be 0".into());
    }
    let count = if (step > 0 && end >= start) || (step < 0 && end <= start) {
        (end - start) / step + 1
    } else {
        0
    };
    if count > 1000 {
        return Err(format!(
            "the range has {count} items; at most 1000 are allowed"
        ));
    }
    Ok((0..count).map(|k| Value::from(start + k * step)).collect())
}

/// The hex digest `States.Hash` and JSONata's `$hash` return; `None` for an unknown algorithm.
pub(crate) fn hash(data: &[u8], alg: &str) -> Option<String> {
    use sha2::Digest;
    let bytes: Vec<u8> = match alg {
        "MD5" => md5::Md5::digest(data).to_vec(),
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    };
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(expr: &str, input: Value) -> Result<Value, String> {
        let ctx = json!({});
        let scope = Scope::new(&input, &ctx);
        eval(&parse(expr)?, &scope)
    }

    #[test]
    fn format_and_escapes() {
        assert_eq!(
            run(
                "States.Format('a {} b \\{\\} {}', $.x, $.y)",
                json!({"x": 1, "y": {"k": [1, "s"]}})
            ),
            Ok(json!("a 1 b {} {k=[1, s]}"))
        );
        assert!(run("States.Format('{}')", json!({})).is_err());
    }

    #[test]
    fn math_add_rounds_like_java() {
        for (a, b, r) in [
            (1.5, 0.0, 2),
            (-1.5, 0.0, -1),
            (-2.5, 0.0, -2),
            (1.49, 1.5, 3),
        ] {
            assert_eq!(
                run("States.MathAdd($.a, $.b)", json!({"a": a, "b": b})),
                Ok(json!(r))
            );
        }
    }

    #[test]
    fn arrays() {
        assert_eq!(
            run("States.ArrayRange(1, 9, 2)", json!({})),
            Ok(json!([1, 3, 5, 7, 9]))
        );
        assert_eq!(
            run("States.ArrayPartition($.a, 2)", json!({"a": [1, 2, 3]})),
            Ok(json!([[1, 2], [3]]))
        );
        assert_eq!(
            run("States.ArrayUnique($.a)", json!({"a": [1, 1.0, 2]})),
            Ok(json!([1, 2]))
        );
        assert_eq!(
            run("States.ArrayGetItem($.a, 1)", json!({"a": [1, 2]})),
            Ok(json!(2))
        );
        assert!(run("States.ArrayGetItem($.a, 5)", json!({"a": [1]})).is_err());
    }

    #[test]
    fn strings_and_hashes() {
        assert_eq!(
            run("States.StringSplit(', , ,', ',')", json!({})),
            Ok(json!([" ", " "]))
        );
        assert_eq!(
            run("States.Hash('input data', 'MD5')", json!({})),
            Ok(json!("812f45842bc6d66ee14572ce20db8e86"))
        );
        assert_eq!(
            run("States.Base64Decode(States.Base64Encode('hé'))", json!({})),
            Ok(json!("hé"))
        );
    }

    /// One example per function, so each of the 18 has a unit test of its own.
    #[test]
    fn every_function() {
        let input = json!({"s": "a,b", "o": {"k": 1}, "a": [1, 2, 2], "j": "{\"x\":1}"});
        let table: &[(&str, Value)] = &[
            ("States.Format('{}-{}', $.s, 2)", json!("a,b-2")),
            ("States.StringToJson($.j)", json!({"x": 1})),
            ("States.JsonToString($.o)", json!("{\"k\":1}")),
            ("States.Array(1, 'x', $.o)", json!([1, "x", {"k": 1}])),
            ("States.ArrayPartition($.a, 2)", json!([[1, 2], [2]])),
            ("States.ArrayContains($.a, 2)", json!(true)),
            ("States.ArrayRange(0, 6, 3)", json!([0, 3, 6])),
            ("States.ArrayGetItem($.a, 0)", json!(1)),
            ("States.ArrayLength($.a)", json!(3)),
            ("States.ArrayUnique($.a)", json!([1, 2])),
            ("States.Base64Encode('hi')", json!("aGk=")),
            ("States.Base64Decode('aGk=')", json!("hi")),
            (
                "States.Hash('input data', 'SHA-1')",
                json!("aaff4a450a104cd177d28d18d74485e8cae074b7"),
            ),
            (
                "States.JsonMerge($.o, States.StringToJson($.j), false)",
                json!({"k": 1, "x": 1}),
            ),
            ("States.MathAdd(2, -5)", json!(-3)),
            ("States.StringSplit($.s, ',')", json!(["a", "b"])),
        ];
        for (expr, want) in table {
            assert_eq!(run(expr, input.clone()).as_ref(), Ok(want), "{expr}");
        }
        // the two random functions: shape and bounds
        let r = run("States.MathRandom(1, 10)", input.clone()).unwrap();
        assert!((1..=10).contains(&r.as_i64().unwrap()));
        let seeded = |s: &str| run(&format!("States.MathRandom(1, 1000, {s})"), json!({})).unwrap();
        assert_eq!(seeded("7"), seeded("7"));
        let u = run("States.UUID()", input).unwrap();
        assert_eq!(u.as_str().map(str::len), Some(36));
    }

    #[test]
    fn syntax_errors() {
        assert!(parse("States.Nope(1)").is_err());
        assert!(parse("States.Array(1").is_err());
        assert!(parse("States.Format('a \\\" b')").is_err());
        assert!(parse("States.UUID(1)").is_err());
    }
}
