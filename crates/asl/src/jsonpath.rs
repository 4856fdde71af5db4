//! JSONPath as Step Functions evaluates it (the Jayway dialect): `$`, `.name`, `['name']`,
//! `[n]`, `[a,b]`, `[start:end:step]`, `[*]`, `.*`, `..name`, filters `[?(@.x < 1)]` and
//! `.length()`. A *definite* path (only names and single indices) yields one value or none;
//! any other path yields a list, possibly empty, as Jayway does.

use serde_json::{Map, Value};
use std::fmt;

/// A parsed JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Name(String),
    Index(i64),
    Names(Vec<String>),
    Indices(Vec<i64>),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Wildcard,
    /// `..` followed by a selector applied at every depth.
    Descend(Box<Segment>),
    Filter(Filter),
    Length,
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Exists(Vec<Segment>),
    Compare(Operand, CmpOp, Operand),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Current(Vec<Segment>),
    Root(Vec<Segment>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Why a path could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid JSONPath '{path}': {reason}")]
pub struct PathError {
    pub path: String,
    pub reason: String,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl JsonPath {
    /// Parses a path that starts with `$` (a context path `$$...` is parsed by stripping one `$`).
    pub fn parse(text: &str) -> Result<JsonPath, PathError> {
        let err = |reason: &str| PathError {
            path: text.to_string(),
            reason: reason.to_string(),
        };
        let rest = text
            .strip_prefix('$')
            .ok_or_else(|| err("must start with '$'"))?;
        let mut p = Parser {
            s: rest.as_bytes(),
            src: rest,
            i: 0,
        };
        let segments = p.segments(false).map_err(|r| err(&r))?;
        if p.i != p.s.len() {
            return Err(err(&format!(
                "unexpected character at position {}",
                p.i + 1
            )));
        }
        Ok(JsonPath {
            text: text.to_string(),
            segments,
        })
    }

    /// The source text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the path selects at most one value (no wildcard, slice, filter, list or `..`).
    pub fn is_definite(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Name(_) | Segment::Index(_) | Segment::Length))
    }

    /// True for `$` alone.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// Evaluates the path. `None` means a definite path found nothing; an indefinite path always
    /// returns an array (Jayway returns `[]` when nothing matches).
    pub fn select(&self, root: &Value) -> Option<Value> {
        if let Some((Segment::Length, prefix)) = self.segments.split_last() {
            let inner = JsonPath {
                text: String::new(),
                segments: prefix.to_vec(),
            };
            return match inner.select(root)? {
                Value::Array(a) => Some(Value::from(a.len())),
                Value::Object(o) => Some(Value::from(o.len())),
                Value::String(s) => Some(Value::from(s.chars().count())),
                _ => None,
            };
        }
        if self.is_definite() {
            let mut cur = root;
            for seg in &self.segments {
                match seg {
                    Segment::Name(n) => cur = cur.as_object()?.get(n)?,
                    Segment::Index(i) => {
                        let a = cur.as_array()?;
                        let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                        if idx < 0 {
                            return None;
                        }
                        cur = a.get(idx as usize)?;
                    }
                    _ => return None,
                }
            }
            return Some(cur.clone());
        }
        let mut found = Vec::new();
        select_into(root, root, &self.segments, &mut found);
        Some(Value::Array(found.into_iter().cloned().collect()))
    }

    /// Writes `value` at this (definite) path inside `target`, creating objects on the way as
    /// `ResultPath` does. Fails when the path crosses a non-object or names a missing index.
    pub fn set(&self, target: &mut Value, value: Value) -> Result<(), String> {
        if self.segments.is_empty() {
            *target = value;
            return Ok(());
        }
        let mut cur = target;
        let last = self.segments.len() - 1;
        for (n, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Name(name) => {
                    let obj = match cur {
                        Value::Object(o) => o,
                        other => {
                            return Err(format!(
                            "the path segment '{name}' crosses a value that is not an object: {}",
                            crate::json::compact(other)
                        ))
                        }
                    };
                    if n == last {
                        obj.insert(name.clone(), value);
                        return Ok(());
                    }
                    cur = obj
                        .entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                }
                Segment::Index(i) => {
                    let arr = match cur {
                        Value::Array(a) => a,
                        _ => return Err(format!("index [{i}] applied to a non-array")),
                    };
                    let idx = if *i < 0 { arr.len() as i64 + i } else { *i };
                    let slot = usize::try_from(idx)
                        .ok()
                        .and_then(|u| arr.get_mut(u))
                        .ok_or_else(|| format!("index [{i}] is out of bounds"))?;
                    if n == last {
                        *slot = value;
                        return Ok(());
                    }
                    cur = slot;
                }
                _ => return Err("only definite paths can be written".to_string()),
            }
        }
        Ok(())
    }

    /// Jayway's normalised form of the path, used in AWS's "No results for path" messages:
    /// `$.a.b[0]` prints as `$['a']['b'][0]`.
    pub fn normalized(&self) -> String {
        let mut out = String::from("$");
        for s in &self.segments {
            match s {
                Segment::Name(n) => out.push_str(&format!("['{n}']")),
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
                _ => return self.text.clone(),
            }
        }
        out
    }
}

fn select_into<'a>(root: &'a Value, cur: &'a Value, segs: &[Segment], out: &mut Vec<&'a Value>) {
    let Some((seg, rest)) = segs.split_first() else {
        out.push(cur);
        return;
    };
    match seg {
        Segment::Name(n) => {
            if let Some(v) = cur.as_object().and_then(|o| o.get(n)) {
                select_into(root, v, rest, out);
            }
        }
        Segment::Index(i) => {
            if let Some(a) = cur.as_array() {
                let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                if let Some(v) = usize::try_from(idx).ok().and_then(|u| a.get(u)) {
                    select_into(root, v, rest, out);
                }
            }
        }
        Segment::Names(ns) => {
            if let Some(o) = cur.as_object() {
                for n in ns {
                    if let Some(v) = o.get(n) {
                        select_into(root, v, rest, out);
                    }
                }
            }
        }
        Segment::Indices(is) => {
            if let Some(a) = cur.as_array() {
                for i in is {
                    let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                    if let Some(v) = usize::try_from(idx).ok().and_then(|u| a.get(u)) {
                        select_into(root, v, rest, out);
                    }
                }
            }
        }
        Segment::Slice(start, end, step) => {
            if let Some(a) = cur.as_array() {
                let len = a.len() as i64;
                let norm = |x: i64| if x < 0 { (len + x).max(0) } else { x.min(len) };
                let s = start.map(norm).unwrap_or(0);
                let e = end.map(norm).unwrap_or(len);
                let st = step.unwrap_or(1).max(1);
                let mut i = s;
                while i < e {
                    select_into(root, &a[i as usize], rest, out);
                    i += st;
                }
            }
        }
        Segment::Wildcard => match cur {
            Value::Array(a) => a.iter().for_each(|v| select_into(root, v, rest, out)),
            Value::Object(o) => o.values().for_each(|v| select_into(root, v, rest, out)),
            _ => {}
        },
        Segment::Descend(inner) => {
            let mut stack = vec![cur];
            let mut nodes = Vec::new();
            while let Some(v) = stack.pop() {
                nodes.push(v);
                match v {
                    Value::Array(a) => stack.extend(a.iter().rev()),
                    Value::Object(o) => stack.extend(o.values().rev()),
                    _ => {}
                }
            }
            let mut path = vec![(**inner).clone()];
            path.extend_from_slice(rest);
            for v in nodes {
                select_into(root, v, &path, out);
            }
        }
        Segment::Filter(f) => {
            let items: Vec<&Value> = match cur {
                Value::Array(a) => a.iter().collect(),
                Value::Object(_) => vec![cur],
                _ => vec![],
            };
            for v in items {
                if filter_matches(root, v, f) {
                    select_into(root, v, rest, out);
                }
            }
        }
        // The parser admits `.length()` only as the last segment, which `select` handles.
        Segment::Length => {}
    }
}

fn operand_value(root: &Value, cur: &Value, op: &Operand) -> Option<Value> {
    let (base, segs) = match op {
        Operand::Literal(v) => return Some(v.clone()),
        Operand::Current(s) => (cur, s),
        Operand::Root(s) => (root, s),
    };
    let p = JsonPath {
        text: String::new(),
        segments: segs.clone(),
    };
    let v = p.select(base)?;
    if p.is_definite() {
        Some(v)
    } else {
        match v {
            Value::Array(a) if a.len() == 1 => a.into_iter().next(),
            Value::Array(a) if a.is_empty() => None,
            other => Some(other),
        }
    }
}

fn filter_matches(root: &Value, cur: &Value, f: &Filter) -> bool {
    match f {
        Filter::Exists(segs) => operand_value(root, cur, &Operand::Current(segs.clone())).is_some(),
        Filter::And(a, b) => filter_matches(root, cur, a) && filter_matches(root, cur, b),
        Filter::Or(a, b) => filter_matches(root, cur, a) || filter_matches(root, cur, b),
        Filter::Not(a) => !filter_matches(root, cur, a),
        Filter::Compare(l, op, r) => {
            let (Some(l), Some(r)) = (operand_value(root, cur, l), operand_value(root, cur, r))
            else {
                return false;
            };
            compare(&l, *op, &r)
        }
    }
}

fn compare(l: &Value, op: CmpOp, r: &Value) -> bool {
    use std::cmp::Ordering;
    let ord = match (l, r) {
        (Value::Number(a), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => Some(a.cmp(b)),
        (a, b) if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
            if a == b {
                Some(Ordering::Equal)
            } else {
                None
            }
        }
        _ => None,
    };
    match op {
        CmpOp::Eq => ord == Some(Ordering::Equal),
        CmpOp::Ne => ord != Some(Ordering::Equal),
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Segments until the end, or (inside a filter) until a character that ends an operand.
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Segment>, String> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => break,
                Some(b'.') => {
                    self.i += 1;
                    if self.eat(b'.') {
                        let inner = if self.peek() == Some(b'[') {
                            self.bracket()?
                        } else if self.eat(b'*') {
                            Segment::Wildcard
                        } else {
                            Segment::Name(self.name()?)
                        };
                        out.push(Segment::Descend(Box::new(inner)));
                    } else if self.eat(b'*') {
                        out.push(Segment::Wildcard);
                    } else {
                        let n = self.name()?;
                        if n == "length" && self.src[self.i..].starts_with("()") {
                            self.i += 2;
                            out.push(Segment::Length);
                            if !in_filter && self.i != self.s.len() {
                                return Err("length() must end the path".to_string());
                            }
                        } else {
                            out.push(Segment::Name(n));
                        }
                    }
                }
                Some(b'[') => out.push(self.bracket()?),
                Some(_) if in_filter => break,
                Some(c) => return Err(format!("unexpected character '{}'", c as char)),
            }
        }
        Ok(out)
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if matches!(
                c,
                b'.' | b'[' | b']' | b' ' | b'(' | b')' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|'
            ) {
                break;
            }
            self.i += 1;
        }
        if self.i == start {
            return Err("empty name".to_string());
        }
        Ok(self.src[start..self.i].to_string())
    }

    fn quoted(&mut self) -> Result<String, String> {
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err("expected a quoted name".to_string()),
        };
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.src[self.i..];
            let c = rest.chars().next().ok_or("unterminated string")?;
            self.i += c.len_utf8();
            if c as u32 == q as u32 {
                return Ok(out);
            }
            // Jayway unescapes only the quote and the backslash; `\"` inside '...' stays as is.
            let n = self.src[self.i..].chars().next();
            if c == '\\' && (n == Some(q as char) || n == Some('\\')) {
                let n = n.unwrap_or('\\');
                self.i += n.len_utf8();
                out.push(n);
            } else {
                out.push(c);
            }
        }
    }

    fn int(&mut self) -> Result<Option<i64>, String> {
        self.ws();
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        if self.i == start {
            return Ok(None);
        }
        let v = self.src[start..self.i]
            .parse::<i64>()
            .map_err(|_| format!("bad number '{}'", &self.src[start..self.i]))?;
        self.ws();
        Ok(Some(v))
    }

    fn bracket(&mut self) -> Result<Segment, String> {
        self.i += 1; // '['
        self.ws();
        let seg = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                Segment::Wildcard
            }
            Some(b'\'' | b'"') => {
                let mut names = vec![self.quoted()?];
                self.ws();
                while self.eat(b',') {
                    self.ws();
                    names.push(self.quoted()?);
                    self.ws();
                }
                if names.len() == 1 {
                    Segment::Name(names.remove(0))
                } else {
                    Segment::Names(names)
                }
            }
            Some(b'?') => {
                self.i += 1;
                self.ws();
                if !self.eat(b'(') {
                    return Err("expected '(' after '?'".to_string());
                }
                let f = self.filter_or()?;
                self.ws();
                if !self.eat(b')') {
                    return Err("expected ')' to close the filter".to_string());
                }
                Segment::Filter(f)
            }
            _ => {
                let first = self.int()?;
                if self.eat(b':') {
                    let end = self.int()?;
                    let step = if self.eat(b':') { self.int()? } else { None };
                    Segment::Slice(first, end, step)
                } else {
                    let first = first.ok_or("expected an index, a name or '*'")?;
                    let mut idx = vec![first];
                    while self.eat(b',') {
                        idx.push(self.int()?.ok_or("expected an index")?);
                    }
                    if idx.len() == 1 {
                        Segment::Index(first)
                    } else {
                        Segment::Indices(idx)
                    }
                }
            }
        };
        self.ws();
        if !self.eat(b']') {
            return Err("expected ']'".to_string());
        }
        Ok(seg)
    }

    fn filter_or(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_and()?;
        loop {
            self.ws();
            if self.src[self.i..].starts_with("||") {
                self.i += 2;
                let right = self.filter_and()?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_and(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_atom()?;
        loop {
            self.ws();
            if self.src[self.i..].starts_with("&&") {
                self.i += 2;
                let right = self.filter_atom()?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_atom(&mut self) -> Result<Filter, String> {
        self.ws();
        if self.eat(b'!') {
            return Ok(Filter::Not(Box::new(self.filter_atom()?)));
        }
        if self.eat(b'(') {
            let f = self.filter_or()?;
            self.ws();
            if !self.eat(b')') {
                return Err("expected ')'".to_string());
            }
            return Ok(f);
        }
        let left = self.operand()?;
        self.ws();
        let rest = &self.src[self.i..];
        let op = [
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<=", CmpOp::Le),
            (">=", CmpOp::Ge),
            ("<", CmpOp::Lt),
            (">", CmpOp::Gt),
        ]
        .into_iter()
        .find(|(t, _)| rest.starts_with(t));
        match op {
            Some((t, op)) => {
                self.i += t.len();
                let right = self.operand()?;
                Ok(Filter::Compare(left, op, right))
            }
            None => match left {
                Operand::Current(segs) => Ok(Filter::Exists(segs)),
                _ => Err("a filter needs a comparison".to_string()),
            },
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.ws();
        match self.peek() {
            Some(b'@') => {
                self.i += 1;
                Ok(Operand::Current(self.segments(true)?))
            }
            Some(b'$') => {
                self.i += 1;
                Ok(Operand::Root(self.segments(true)?))
            }
            Some(b'\'' | b'"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            _ => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b' ' | b')' | b'&' | b'|' | b'=' | b'!' | b'<' | b'>') {
                        break;
                    }
                    self.i += 1;
                }
                let tok = &self.src[start..self.i];
                serde_json::from_str::<Value>(tok)
                    .map(Operand::Literal)
                    .map_err(|_| format!("bad literal '{tok}' in filter"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(p: &str, v: &Value) -> Option<Value> {
        JsonPath::parse(p).unwrap().select(v)
    }

    #[test]
    fn definite_paths() {
        let v = json!({"a": {"b": [1, 2, {"c": "x"}]}, "w e": 1});
        assert_eq!(sel("$", &v), Some(v.clone()));
        assert_eq!(sel("$.a.b[1]", &v), Some(json!(2)));
        assert_eq!(sel("$.a.b[-1].c", &v), Some(json!("x")));
        assert_eq!(sel("$['w e']", &v), Some(json!(1)));
        assert_eq!(sel("$.a.b.length()", &v), Some(json!(3)));
        assert_eq!(sel("$.nope", &v), None);
    }

    #[test]
    fn indefinite_paths() {
        let v = json!({"items": [{"k": 1}, {"k": 2}, {"k": 3}], "users": [{"s": 0}, {"s": 1}]});
        assert_eq!(sel("$.items[*].k", &v), Some(json!([1, 2, 3])));
        assert_eq!(sel("$.items[1:].k", &v), Some(json!([2, 3])));
        assert_eq!(sel("$.items[:1]", &v), Some(json!([{"k": 1}])));
        assert_eq!(sel("$..k", &v), Some(json!([1, 2, 3])));
        assert_eq!(sel("$.users[?(@.s == 0)]", &v), Some(json!([{"s": 0}])));
        assert_eq!(
            sel("$.items[?(@.k > 1 && @.k < 3)].k", &v),
            Some(json!([2]))
        );
        assert_eq!(sel("$.missing[*]", &v), Some(json!([])));
    }

    #[test]
    fn set_creates_objects() {
        let mut v = json!({"a": 1});
        JsonPath::parse("$.b.c")
            .unwrap()
            .set(&mut v, json!(2))
            .unwrap();
        assert_eq!(v, json!({"a": 1, "b": {"c": 2}}));
        assert!(JsonPath::parse("$.a.x")
            .unwrap()
            .set(&mut v, json!(0))
            .is_err());
    }

    #[test]
    fn normalized_form() {
        assert_eq!(
            JsonPath::parse("$.a.b[0]").unwrap().normalized(),
            "$['a']['b'][0]"
        );
    }

    #[test]
    fn rejects_garbage() {
        // found by the expressions fuzz target: a multi-byte character where a quote must be
        assert!(JsonPath::parse("$.c['b',\tܤ&[f )] 'c'").is_err());
        assert!(JsonPath::parse("a.b").is_err());
        assert!(JsonPath::parse("$.a[").is_err());
        assert!(JsonPath::parse("$.a]").is_err());
    }
}
