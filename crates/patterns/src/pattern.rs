//! Compiling an event pattern (with EventBridge's validation) and matching one event against it.

use crate::json::Json;
use crate::number::exact_double;
use crate::{cidr::Cidr, wildcard::Wildcard};
use std::borrow::Cow;

/// Why a pattern is rejected (`InvalidEventPatternException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {0}")]
pub struct InvalidPattern(pub String);

fn bad<T>(msg: impl Into<String>) -> Result<T, InvalidPattern> {
    Err(InvalidPattern(msg.into()))
}

/// A compiled pattern: alternatives (one per combination of `$or` branches), each a list of
/// dotted field paths with their matchers. A field matches when any value at its path (arrays
/// flattened) satisfies any of its matchers; a rule matches when every field of one alternative does.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub(crate) alternatives: Vec<Rule>,
}

/// One alternative: dotted paths with the matchers any value there may satisfy.
pub(crate) type Rule = Vec<(String, Vec<Matcher>)>;

/// Merges two alternatives; a branch's field overrides the same path outside the `$or`, as
/// event-ruler (and so EventBridge) does.
fn merge(
    base: &[(String, Vec<Matcher>)],
    extra: &[(String, Vec<Matcher>)],
) -> Vec<(String, Vec<Matcher>)> {
    let mut out: Vec<(String, Vec<Matcher>)> = base.to_vec();
    for (k, m) in extra {
        match out.iter_mut().find(|(p, _)| p == k) {
            Some(slot) => slot.1 = m.clone(),
            None => out.push((k.clone(), m.clone())),
        }
    }
    out
}

/// The most alternatives a pattern may expand to (each `$or` multiplies them).
const MAX_ALTERNATIVES: usize = 1024;

/// A scalar as EventBridge compares it: strings by text, numbers by value when exact.
/// Patterns own their literals (`Lit<'static>`); an event's values are borrowed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit<'a> {
    Null,
    Bool(bool),
    Str(Cow<'a, str>),
    Num(Num<'a>),
}

/// A number's text, and the double it is exactly — worked out when first compared, since an
/// event holds many numbers no rule compares and the rule costs more than reading them.
#[derive(Debug, Clone)]
pub(crate) struct Num<'a> {
    text: Cow<'a, str>,
    exact: std::sync::OnceLock<Option<f64>>,
}

impl<'a> Num<'a> {
    pub(crate) fn new(text: Cow<'a, str>) -> Num<'a> {
        Num {
            text,
            exact: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The double the text is exactly ([`exact_double`]).
    pub(crate) fn exact(&self) -> Option<f64> {
        *self.exact.get_or_init(|| exact_double(&self.text))
    }

    fn into_owned(self) -> Num<'static> {
        Num {
            text: Cow::Owned(self.text.into_owned()),
            exact: self.exact,
        }
    }
}

/// Numbers are the same literal when their texts are (the double follows from the text).
impl PartialEq for Num<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<'a> Lit<'a> {
    pub(crate) fn from_json(j: &'a Json) -> Option<Lit<'a>> {
        Some(match j {
            Json::Null => Lit::Null,
            Json::Bool(b) => Lit::Bool(*b),
            Json::Str(s) => Lit::Str(Cow::Borrowed(s)),
            Json::Num(n) => Lit::Num(Num::new(Cow::Borrowed(n))),
            _ => return None,
        })
    }

    fn owned(j: &Json) -> Option<Lit<'static>> {
        Lit::from_json(j).map(|l| match l {
            Lit::Null => Lit::Null,
            Lit::Bool(b) => Lit::Bool(b),
            Lit::Str(s) => Lit::Str(Cow::Owned(s.into_owned())),
            Lit::Num(n) => Lit::Num(n.into_owned()),
        })
    }

    fn same(&self, other: &Lit) -> bool {
        match (self, other) {
            // the same text, or the same double when both are exact
            (Lit::Num(a), Lit::Num(b)) => {
                a.text() == b.text()
                    || matches!((a.exact(), b.exact()), (Some(x), Some(y)) if x == y)
            }
            (a, b) => a == b,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Matcher {
    Exact(Lit<'static>),
    Prefix(String, bool),
    Suffix(String, bool),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    AnythingBut(Vec<Lit<'static>>),
    AnythingButPrefix(Vec<String>),
    AnythingButSuffix(Vec<String>),
    AnythingButIgnoreCase(Vec<String>),
    AnythingButWildcard(Vec<Wildcard>),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
    Cidr(Cidr),
}

/// Calls `f` with `s` folded; short ASCII text is folded on the stack (an event's values
/// are folded for every rule set that ignores case).
pub(crate) fn with_folded<R>(s: &str, f: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 64];
    if let Some(slot) = buf.get_mut(..s.len()).filter(|_| s.is_ascii()) {
        slot.copy_from_slice(s.as_bytes());
        slot.make_ascii_lowercase();
        if let Ok(folded) = std::str::from_utf8(slot) {
            return f(folded);
        }
    }
    f(&fold(s))
}

/// Folds case the way `equals-ignore-case` compares (ß matches SS, Ä matches ä).
pub(crate) fn fold(s: &str) -> String {
    if s.is_ascii() {
        // the same answer, in one pass and one allocation
        return s.to_ascii_lowercase();
    }
    s.to_uppercase().to_lowercase()
}

impl Pattern {
    /// Compiles pattern text.
    pub fn parse(text: &str) -> Result<Pattern, InvalidPattern> {
        let j = crate::json::parse(text)
            .map_err(|e| InvalidPattern(format!("Filter is not valid JSON: {e}")))?;
        Pattern::compile(&j)
    }

    pub(crate) fn compile(j: &Json) -> Result<Pattern, InvalidPattern> {
        if !matches!(j, Json::Obj(_)) {
            return bad("Filter is not an object");
        }
        let mut alternatives = alternatives(j, "")?;
        // fields that may be satisfied by absence go last: every other field narrows the
        // array elements in play first
        for fields in &mut alternatives {
            fields.sort_by_key(|(_, ms)| ms.iter().any(|m| matches!(m, Matcher::Exists(false))));
        }
        Ok(Pattern { alternatives })
    }

    /// Whether the event (JSON text) matches.
    pub fn matches_text(&self, event: &str) -> Result<bool, String> {
        let e = crate::json::parse(event)?;
        if !matches!(e, Json::Obj(_)) {
            return Err("the event must be a JSON object".into());
        }
        Ok(self.matches(&e))
    }

    /// Whether a parsed event matches. Values that come from elements of one array must come
    /// from the same element (event-ruler's array consistency).
    pub fn matches(&self, event: &Json) -> bool {
        self.matches_flat(&Flat::of(event, None))
    }

    /// Whether an event already flattened matches (a [`crate::RuleSet`] flattens once for all
    /// its patterns).
    pub fn matches_flat(&self, flat: &Flat) -> bool {
        let mut chosen = Vec::new();
        self.alternatives
            .iter()
            .any(|fields| search(fields, flat, &mut chosen))
    }

    /// The dotted paths the pattern looks at.
    pub(crate) fn paths(&self) -> impl Iterator<Item = &str> {
        self.alternatives
            .iter()
            .flat_map(|a| a.iter().map(|(p, _)| p.as_str()))
    }
}

/// An event's scalars with their dotted paths, flattened once.
#[derive(Default)]
pub struct Flat<'a> {
    pub(crate) leaves: Vec<Leaf<'a>>,
    /// The leaves' trails, one after another (one allocation for them all).
    pub(crate) trails: Vec<(u32, u32)>,
}

impl<'a> Flat<'a> {
    /// Flattens `event`; with `wanted`, only the paths in it and the objects leading to them
    /// (a rule set skips what none of its patterns looks at).
    pub fn of(event: &'a Json, wanted: Option<&std::collections::HashSet<String>>) -> Flat<'a> {
        let mut flat = Flat::default();
        let mut next_array = 0u32;
        flatten(
            event,
            "",
            &mut Vec::new(),
            &mut next_array,
            wanted,
            &mut flat,
        );
        flat
    }

    /// The array elements a leaf lies in: (array, index) pairs, outermost first.
    pub(crate) fn trail(&self, leaf: &Leaf) -> &[(u32, u32)] {
        self.trails
            .get(leaf.trail.0 as usize..leaf.trail.1 as usize)
            .unwrap_or_default()
    }

    /// Adds a leaf with its trail.
    pub(crate) fn push(&mut self, path: Cow<'a, str>, value: Lit<'a>, trail: &[(u32, u32)]) {
        let start = self.trails.len() as u32;
        self.trails.extend_from_slice(trail);
        self.leaves.push(Leaf {
            path,
            value,
            trail: (start, self.trails.len() as u32),
        });
    }

    /// Each scalar with its path.
    pub(crate) fn scalars(&self) -> impl Iterator<Item = (&str, &Lit<'a>)> + '_ {
        self.leaves.iter().map(|l| (l.path.as_ref(), &l.value))
    }
}

/// A scalar of the event, its dotted path, and the array elements it lies in, borrowed from
/// the parsed event or its text where it can be.
pub(crate) struct Leaf<'a> {
    pub(crate) path: Cow<'a, str>,
    pub(crate) value: Lit<'a>,
    /// Where its trail lies in [`Flat::trails`].
    trail: (u32, u32),
}

fn flatten<'a>(
    v: &'a Json,
    path: &str,
    trail: &mut Vec<(u32, u32)>,
    arrays: &mut u32,
    wanted: Option<&std::collections::HashSet<String>>,
    out: &mut Flat<'a>,
) {
    match v {
        Json::Obj(members) => {
            for (k, x) in members {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if wanted.is_some_and(|w| !w.contains(&p)) {
                    continue;
                }
                flatten(x, &p, trail, arrays, wanted, out);
            }
        }
        Json::Arr(items) => {
            let id = *arrays;
            *arrays += 1;
            for (i, x) in items.iter().enumerate() {
                trail.push((id, i as u32));
                flatten(x, path, trail, arrays, wanted, out);
                trail.pop();
            }
        }
        scalar => {
            if let Some(value) = Lit::from_json(scalar) {
                out.push(Cow::Owned(path.to_string()), value, trail)
            }
        }
    }
}

fn consistent(trail: &[(u32, u32)], chosen: &[(u32, u32)]) -> bool {
    trail
        .iter()
        .all(|(a, i)| chosen.iter().all(|(b, j)| a != b || i == j))
}

fn search(fields: &[(String, Vec<Matcher>)], flat: &Flat, chosen: &mut Vec<(u32, u32)>) -> bool {
    let Some((field, rest)) = fields.split_first() else {
        return true;
    };
    let (path, ms) = (&field.0, &field.1);
    let mut any_present = false;
    for leaf in &flat.leaves {
        // `chosen` is as it was on entry at every turn: each attempt truncates what it added
        let trail = flat.trail(leaf);
        if leaf.path.as_ref() != path.as_str() || !consistent(trail, chosen) {
            continue;
        }
        any_present = true;
        let hit = ms.iter().any(|m| match m {
            Matcher::Exists(want) => *want,
            _ => test(m, &leaf.value),
        });
        if hit {
            let mark = chosen.len();
            for t in trail {
                if !chosen.contains(t) {
                    chosen.push(*t);
                }
            }
            if search(rest, flat, chosen) {
                return true;
            }
            chosen.truncate(mark);
        }
    }
    !any_present
        && ms.iter().any(|m| matches!(m, Matcher::Exists(false)))
        && search(rest, flat, chosen)
}

/// The alternatives of a pattern object under `prefix`.
fn alternatives(j: &Json, prefix: &str) -> Result<Vec<Rule>, InvalidPattern> {
    let Json::Obj(members) = j else {
        return bad("Filter is not an object");
    };
    if members.is_empty() {
        return bad("Empty objects are not allowed");
    }
    let mut alts: Vec<Rule> = vec![Vec::new()];
    for (k, v) in members {
        let branch_sets: Vec<Rule> = match (k.as_str(), v) {
            ("$or", Json::Arr(branches)) => {
                if branches.len() < 2 {
                    return bad("Must have at least 2 elements inside an $or array");
                }
                let mut all = Vec::new();
                for b in branches {
                    if !matches!(b, Json::Obj(_)) {
                        return bad("$or array elements must be objects");
                    }
                    all.extend(alternatives(b, prefix)?);
                }
                all
            }
            _ => {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    Json::Obj(_) => alternatives(v, &path)?,
                    Json::Arr(items) => {
                        if items.is_empty() {
                            return bad("Empty arrays are not allowed");
                        }
                        let ms = items.iter().map(matcher).collect::<Result<Vec<_>, _>>()?;
                        vec![vec![(path, ms)]]
                    }
                    _ => return bad(format!("\"{k}\" must be an object or an array")),
                }
            }
        };
        let mut next = Vec::new();
        for a in &alts {
            for b in &branch_sets {
                next.push(merge(a, b));
                if next.len() > MAX_ALTERNATIVES {
                    return bad("Rule is too complex - too many $or combinations");
                }
            }
        }
        alts = next;
    }
    Ok(alts)
}

fn test(m: &Matcher, v: &Lit) -> bool {
    let s = match v {
        Lit::Str(s) => Some(s.as_ref()),
        _ => None,
    };
    match m {
        Matcher::Exact(l) => l.same(v),
        Matcher::Prefix(p, ic) => s.is_some_and(|s| {
            if *ic {
                with_folded(s, |s| with_folded(p, |p| s.starts_with(p)))
            } else {
                s.starts_with(p.as_str())
            }
        }),
        Matcher::Suffix(p, ic) => s.is_some_and(|s| {
            if *ic {
                with_folded(s, |s| with_folded(p, |p| s.ends_with(p)))
            } else {
                s.ends_with(p.as_str())
            }
        }),
        Matcher::EqualsIgnoreCase(p) => {
            s.is_some_and(|s| with_folded(s, |s| with_folded(p, |p| s == p)))
        }
        Matcher::Wildcard(w) => s.is_some_and(|s| w.matches(s)),
        Matcher::AnythingBut(ls) => !ls.iter().any(|l| l.same(v)),
        Matcher::AnythingButPrefix(ps) => {
            s.is_none_or(|s| !ps.iter().any(|p| s.starts_with(p.as_str())))
        }
        Matcher::AnythingButSuffix(ps) => {
            s.is_none_or(|s| !ps.iter().any(|p| s.ends_with(p.as_str())))
        }
        Matcher::AnythingButIgnoreCase(ps) => {
            s.is_none_or(|s| with_folded(s, |s| !ps.iter().any(|p| with_folded(p, |p| s == p))))
        }
        Matcher::AnythingButWildcard(ws) => s.is_none_or(|s| !ws.iter().any(|w| w.matches(s))),
        Matcher::Numeric(cs) => match v {
            Lit::Num(n) => n.exact().is_some_and(|x| {
                cs.iter().all(|(c, b)| match c {
                    Cmp::Lt => x < *b,
                    Cmp::Le => x <= *b,
                    Cmp::Gt => x > *b,
                    Cmp::Ge => x >= *b,
                    Cmp::Eq => x == *b,
                })
            }),
            _ => false,
        },
        Matcher::Cidr(c) => s.is_some_and(|s| c.contains(s)),
        Matcher::Exists(_) => false,
    }
}

fn string_or_list(op: &str, v: &Json) -> Result<Vec<String>, InvalidPattern> {
    match v {
        Json::Str(s) => Ok(vec![s.clone()]),
        Json::Arr(items) if !items.is_empty() => items
            .iter()
            .map(|x| match x {
                Json::Str(s) => Ok(s.clone()),
                _ => bad(format!(
                    "{op} match pattern must be a string or an array of strings"
                )),
            })
            .collect(),
        _ => bad(format!(
            "{op} match pattern must be a string or an array of strings"
        )),
    }
}

fn non_empty(op: &str, v: Vec<String>) -> Result<Vec<String>, InvalidPattern> {
    if v.iter().any(|s| s.is_empty()) {
        return bad(format!("Null {op} not allowed"));
    }
    Ok(v)
}

fn matcher(j: &Json) -> Result<Matcher, InvalidPattern> {
    let Json::Obj(members) = j else {
        return match j {
            Json::Arr(_) => bad("Match value must be String, number, true, false, or null"),
            _ => Ok(Matcher::Exact(
                Lit::owned(j).ok_or_else(|| InvalidPattern("bad literal".into()))?,
            )),
        };
    };
    if members.len() != 1 {
        return bad("Only one key allowed in match expression");
    }
    let (op, v) = &members[0];
    Ok(match op.as_str() {
        "prefix" | "suffix" => {
            let (s, ic) = match v {
                Json::Str(s) => (s.clone(), false),
                Json::Obj(m) if m.len() == 1 && m[0].0 == "equals-ignore-case" => match &m[0].1 {
                    Json::Str(s) => (s.clone(), true),
                    _ => return bad(format!("{op} match pattern must be a string")),
                },
                _ => return bad(format!("{op} match pattern must be a string")),
            };
            if op == "prefix" {
                Matcher::Prefix(s, ic)
            } else {
                Matcher::Suffix(s, ic)
            }
        }
        "equals-ignore-case" => match v {
            Json::Str(s) => Matcher::EqualsIgnoreCase(s.clone()),
            _ => return bad("equals-ignore-case match pattern must be a string"),
        },
        "wildcard" => match v {
            Json::Str(s) => Matcher::Wildcard(Wildcard::parse(s).map_err(InvalidPattern)?),
            _ => return bad("wildcard match pattern must be a string"),
        },
        "exists" => match v {
            Json::Bool(b) => Matcher::Exists(*b),
            _ => return bad("exists match pattern must be either true or false."),
        },
        "cidr" => match v {
            Json::Str(s) => Matcher::Cidr(Cidr::parse(s).map_err(InvalidPattern)?),
            _ => return bad("prefix match pattern must be a string"),
        },
        "numeric" => numeric(v)?,
        "anything-but" => anything_but(v)?,
        other => return bad(format!("Unrecognized match type {other}")),
    })
}

fn anything_but(v: &Json) -> Result<Matcher, InvalidPattern> {
    Ok(match v {
        Json::Str(_) | Json::Num(_) => Matcher::AnythingBut(vec![
            Lit::owned(v).ok_or_else(|| InvalidPattern("bad value".into()))?
        ]),
        Json::Arr(items) => {
            if items.is_empty() {
                return bad("Empty arrays are not allowed");
            }
            let strings = items.iter().all(|x| matches!(x, Json::Str(_)));
            let numbers = items.iter().all(|x| matches!(x, Json::Num(_)));
            if !strings && !numbers {
                return bad("Inside anything but list, start|null|boolean is not supported.");
            }
            Matcher::AnythingBut(items.iter().filter_map(Lit::owned).collect())
        }
        Json::Obj(m) if m.len() == 1 => {
            let (op, x) = &m[0];
            match op.as_str() {
                "prefix" => Matcher::AnythingButPrefix(non_empty(
                    "prefix/suffix",
                    string_or_list("prefix", x)?,
                )?),
                "suffix" => Matcher::AnythingButSuffix(non_empty(
                    "prefix/suffix",
                    string_or_list("suffix", x)?,
                )?),
                "equals-ignore-case" => {
                    Matcher::AnythingButIgnoreCase(string_or_list("equals-ignore-case", x)?)
                }
                "wildcard" => Matcher::AnythingButWildcard(
                    string_or_list("wildcard", x)?
                        .iter()
                        .map(|s| Wildcard::parse(s).map_err(InvalidPattern))
                        .collect::<Result<_, _>>()?,
                ),
                _ => {
                    return bad(
                        "Value of anything-but must be an array or single string/number value.",
                    )
                }
            }
        }
        _ => return bad("Value of anything-but must be an array or single string/number value."),
    })
}

fn numeric(v: &Json) -> Result<Matcher, InvalidPattern> {
    let Json::Arr(items) = v else {
        return bad("Value of numeric must be an array.");
    };
    if items.is_empty() {
        return bad("Empty arrays are not allowed");
    }
    let mut out = Vec::new();
    let mut i = 0;
    let (mut lower, mut upper): (Option<f64>, Option<f64>) = (None, None);
    while i < items.len() {
        let op = match &items[i] {
            Json::Str(s) => match s.as_str() {
                "<" => Cmp::Lt,
                "<=" => Cmp::Le,
                ">" => Cmp::Gt,
                ">=" => Cmp::Ge,
                "=" => Cmp::Eq,
                other => return bad(format!("Unrecognized numeric range operator: {other}")),
            },
            _ => return bad("Value of numeric must be an array of operators and numbers."),
        };
        let n = match items.get(i + 1) {
            Some(Json::Num(t)) => exact_double(t)
                .ok_or_else(|| InvalidPattern(format!("Cannot compare number : {t}")))?,
            _ => return bad("Value of comparison must be a number"),
        };
        match op {
            Cmp::Gt | Cmp::Ge => {
                if lower.is_some() {
                    return bad("Only one lower bound is allowed in a numeric range");
                }
                lower = Some(n);
            }
            Cmp::Lt | Cmp::Le => {
                if upper.is_some() {
                    return bad("Only one upper bound is allowed in a numeric range");
                }
                // event-ruler reads a range lower bound first: nothing may follow an upper bound
                if i + 2 < items.len() {
                    return bad("Too many elements in numeric expression");
                }
                upper = Some(n);
            }
            Cmp::Eq => {
                if items.len() != 2 {
                    return bad("Equality cannot be combined with other numeric operators");
                }
            }
        }
        out.push((op, n));
        i += 2;
    }
    if let (Some(l), Some(u)) = (lower, upper) {
        if l >= u {
            return bad("Bottom must be less than top");
        }
    }
    Ok(Matcher::Numeric(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, e: &str) -> bool {
        Pattern::parse(p).unwrap().matches_text(e).unwrap()
    }

    #[test]
    fn the_cost_control_rule() {
        let p = r#"{"source": ["aws.glue"], "detail-type": ["AWS API Call via CloudTrail"], "detail": {"eventSource": ["glue.amazonaws.com"], "eventName": ["CreateSession"]}}"#;
        let e = r#"{"source": "aws.glue", "detail-type": "AWS API Call via CloudTrail", "detail": {"eventSource": "glue.amazonaws.com", "eventName": "CreateSession", "requestParameters": {"id": "s1"}}}"#;
        assert!(m(p, e));
        assert!(!m(p, &e.replace("CreateSession", "StopSession")));
    }

    #[test]
    fn arrays_keep_their_elements_together() {
        let p = r#"{"a": {"b": ["x"], "c": ["y"]}}"#;
        assert!(m(p, r#"{"a": [{"b": "x", "c": "y"}]}"#));
        assert!(!m(
            p,
            r#"{"a": [{"b": "x", "c": "n"}, {"b": "n", "c": "y"}]}"#
        ));
    }

    #[test]
    fn or_branches_override_outer_fields() {
        let p = r#"{"name": ["a", "b"], "$or": [{"name": [{"anything-but": "a"}]}, {"c": ["x"]}]}"#;
        assert!(m(p, r#"{"name": "c"}"#));
        assert!(m(p, r#"{"name": "a", "c": "x"}"#));
        assert!(!m(p, r#"{"name": "a"}"#));
    }

    #[test]
    fn invalid_patterns_are_rejected() {
        for p in [
            "{}",
            "[]",
            r#"{"a": []}"#,
            r#"{"a": "x"}"#,
            r#"{"a": [{"numeric": 1}]}"#,
            r#"{"a": [{"nope": 1}]}"#,
            r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#,
            r#"{"$or": [{"a": ["x"]}]}"#,
            r#"{"a": [{"wildcard": "a**"}]}"#,
        ] {
            assert!(Pattern::parse(p).is_err(), "{p}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(p in "\\{\"[a-z.$]{1,4}\": \\[[\\[\\]{}\":a-z0-9*<=>., -]{0,40}\\]\\}", e in "\\{\"[a-z]{1,3}\": [\\[\\]{}\":a-z0-9 ,.-]{0,30}\\}") {
            if let Ok(p) = Pattern::parse(&p) {
                let _ = p.matches_text(&e);
            }
        }

        /// ASCII text folds in one pass to what the full Unicode folding gives, on the stack
        /// or not.
        #[test]
        fn ascii_folding_is_unicode_folding(s in "[ -~]{0,80}|[ -~ßÄä]{0,8}") {
            let want = s.to_uppercase().to_lowercase();
            proptest::prop_assert_eq!(&fold(&s), &want);
            proptest::prop_assert_eq!(with_folded(&s, str::to_string), want);
        }
    }
}
