//! Target input as EventBridge builds it: the whole event, a constant `Input`, an `InputPath`,
//! or an `InputTransformer` (`InputPathsMap` + `InputTemplate`).

use crate::json::Json;

/// A target's input configuration, validated the way PutTargets validates it.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetInput {
    WholeEvent,
    Constant(String),
    Path(Vec<Step>),
    Transformer {
        paths: Vec<(String, Vec<Step>)>,
        template: String,
    },
}

/// One step of an input path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// What the rule adds to the `<aws.events.*>` variables.
#[derive(Debug, Clone, Default)]
pub struct RuleContext {
    pub rule_name: String,
    pub rule_arn: String,
    pub event_bus_name: String,
    pub ingestion_time: String,
}

/// Why a transformation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransformError {
    /// PutTargets rejects the configuration (`ValidationException`).
    #[error("{0}")]
    Invalid(String),
    /// The template produced text that is not valid JSON: EventBridge drops the event.
    #[error("the transformed input is not valid JSON, so EventBridge would drop the event: {0}")]
    Dropped(String),
}

const PREDEFINED: &[&str] = &[
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
];

/// Parses `$`, `$.a.b`, `$.a[0]`, `$['a b']`.
pub fn parse_path(p: &str) -> Result<Vec<Step>, String> {
    let rest = p
        .strip_prefix('$')
        .ok_or_else(|| format!("{p} is not a valid JSON path"))?;
    let b = rest.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                i = start;
                while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                    i += 1;
                }
                if i == start {
                    return Err(format!("{p} is not a valid JSON path"));
                }
                out.push(Step::Key(rest[start..i].to_string()));
            }
            b'[' => {
                let end = rest[i..]
                    .find(']')
                    .ok_or_else(|| format!("{p} is not a valid JSON path"))?
                    + i;
                let inner = &rest[i + 1..end];
                if let Some(q) = inner.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')) {
                    out.push(Step::Key(q.to_string()));
                } else {
                    out.push(Step::Index(
                        inner
                            .parse()
                            .map_err(|_| format!("{p} is not a valid JSON path"))?,
                    ));
                }
                i = end + 1;
            }
            _ => return Err(format!("{p} is not a valid JSON path")),
        }
    }
    Ok(out)
}

fn select<'a>(v: &'a Json, path: &[Step]) -> Option<&'a Json> {
    let mut cur = v;
    for s in path {
        cur = match (s, cur) {
            (Step::Key(k), Json::Obj(_)) => cur.get(k)?,
            (Step::Index(i), Json::Arr(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Compact JSON text, numbers as written.
pub fn render(j: &Json) -> String {
    match j {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Num(n) => n.clone(),
        Json::Str(s) => quote(s),
        Json::Arr(a) => format!("[{}]", a.iter().map(render).collect::<Vec<_>>().join(",")),
        Json::Obj(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}:{}", quote(k), render(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The text of a value inside a string template: strings raw, objects and arrays without quotes.
fn unquoted(j: &Json) -> String {
    match j {
        Json::Str(s) => s.clone(),
        Json::Arr(a) => format!("[{}]", a.iter().map(unquoted).collect::<Vec<_>>().join(",")),
        Json::Obj(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", unquoted(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => render(other),
    }
}

impl TargetInput {
    /// Validates a target's settings (only one of Input, InputPath, InputTransformer).
    pub fn new(
        input: Option<&str>,
        input_path: Option<&str>,
        paths_map: Option<&Json>,
        template: Option<&str>,
    ) -> Result<TargetInput, TransformError> {
        let given = [
            input.is_some(),
            input_path.is_some(),
            template.is_some() || paths_map.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(TransformError::Invalid(
                "Only one of Input, InputPath, or InputTransformer must be provided for target target-1.".into(),
            ));
        }
        if let Some(i) = input {
            return Ok(TargetInput::Constant(i.to_string()));
        }
        if let Some(p) = input_path {
            return parse_path(p)
                .map(TargetInput::Path)
                .map_err(TransformError::Invalid);
        }
        let Some(template) = template else {
            if paths_map.is_some() {
                return Err(TransformError::Invalid(
                    "InputTemplate is required with InputPathsMap.".into(),
                ));
            }
            return Ok(TargetInput::WholeEvent);
        };
        let mut paths = Vec::new();
        match paths_map {
            None | Some(Json::Null) => {}
            Some(Json::Obj(m)) => {
                if m.len() > 100 {
                    return Err(TransformError::Invalid(
                        "InputPathsMap has more than 100 entries.".into(),
                    ));
                }
                for (k, v) in m {
                    if k.starts_with("aws.")
                        || k.is_empty()
                        || !k
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
                    {
                        return Err(TransformError::Invalid(format!(
                            "InputPathsMap contains invalid key {k}."
                        )));
                    }
                    let Json::Str(p) = v else {
                        return Err(TransformError::Invalid(format!(
                            "InputPathsMap value for {k} must be a string."
                        )));
                    };
                    paths.push((k.clone(), parse_path(p).map_err(TransformError::Invalid)?));
                }
            }
            Some(_) => {
                return Err(TransformError::Invalid(
                    "InputPathsMap must be an object.".into(),
                ))
            }
        }
        for name in placeholders(template) {
            if !PREDEFINED.contains(&name.as_str()) && !paths.iter().any(|(k, _)| *k == name) {
                return Err(TransformError::Invalid(format!(
                    "InputTemplate for target target-1 contains invalid placeholder {name}."
                )));
            }
        }
        Ok(TargetInput::Transformer {
            paths,
            template: template.to_string(),
        })
    }

    /// The body EventBridge delivers to the target for `event`.
    pub fn apply(&self, event: &Json, ctx: &RuleContext) -> Result<String, TransformError> {
        match self {
            TargetInput::WholeEvent => Ok(render(event)),
            TargetInput::Constant(s) => Ok(s.clone()),
            TargetInput::Path(p) => Ok(select(event, p).map(render).unwrap_or_default()),
            TargetInput::Transformer { paths, template } => {
                let value = |name: &str| -> Option<Json> {
                    match name {
                        "aws.events.rule-arn" => Some(Json::Str(ctx.rule_arn.clone())),
                        "aws.events.rule-name" => Some(Json::Str(ctx.rule_name.clone())),
                        "aws.events.event.ingestion-time" => {
                            Some(Json::Str(ctx.ingestion_time.clone()))
                        }
                        "aws.events.event.json" => Some(event.clone()),
                        "aws.events.event" => Some(envelope(event)),
                        _ => {
                            let (_, p) = paths.iter().find(|(k, _)| k == name)?;
                            select(event, p).cloned()
                        }
                    }
                };
                let json_template =
                    matches!(template.trim_start().as_bytes().first(), Some(b'{' | b'['));
                let out = substitute(template, json_template, &value);
                if json_template && crate::json::parse(&out).is_err() {
                    return Err(TransformError::Dropped(out));
                }
                Ok(out)
            }
        }
    }
}

/// `<aws.events.event>`: the envelope without `detail`, with `detail-type` as `detailType`.
fn envelope(event: &Json) -> Json {
    let Json::Obj(m) = event else {
        return Json::Obj(vec![]);
    };
    let pick = |k: &str| m.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut out = Vec::new();
    for (from, to) in [
        ("id", "id"),
        ("account", "account"),
        ("detail-type", "detailType"),
        ("time", "time"),
        ("source", "source"),
        ("region", "region"),
        ("resources", "resources"),
        ("version", "version"),
    ] {
        if let Some(v) = pick(from) {
            out.push((to.to_string(), v));
        }
    }
    Json::Obj(out)
}

/// The placeholder names in a template: `<name>` where name has no spaces or angle brackets.
fn placeholders(t: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(i) = rest.find('<') {
        let after = &rest[i + 1..];
        match after.find('>') {
            Some(j) if j > 0 && !after[..j].contains(['<', ' ', '"', '\n']) => {
                out.push(after[..j].to_string());
                rest = &after[j + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

fn substitute(t: &str, json_template: bool, value: &dyn Fn(&str) -> Option<Json>) -> String {
    let mut out = String::with_capacity(t.len());
    let mut in_string = false;
    let mut chars = t.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\\' && in_string {
            out.push(c);
            if let Some((_, n)) = chars.next() {
                out.push(n);
            }
            continue;
        }
        if c == '"' {
            in_string = !in_string;
            out.push(c);
            continue;
        }
        if c == '<' {
            let after = &t[i + 1..];
            if let Some(j) = after.find('>') {
                let name = &after[..j];
                if j > 0 && !name.contains(['<', ' ', '"', '\n']) {
                    let v = value(name);
                    let text = match (&v, in_string) {
                        (None, true) => String::new(),
                        (None, false) => "\"\"".to_string(),
                        // inside a JSON template's string, JSON text goes in as is (and an
                        // object makes the result invalid, as on AWS); a string template strips quotes
                        (Some(Json::Str(s)), true) => {
                            render(&Json::Str(s.clone())).trim_matches('"').to_string()
                        }
                        (Some(x @ (Json::Obj(_) | Json::Arr(_))), true) if json_template => {
                            render(x)
                        }
                        (Some(x), true) => unquoted(x),
                        (Some(x), false) => render(x),
                    };
                    out.push_str(&text);
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                    continue;
                }
            }
        }
        if c == '\n' {
            in_string = false;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn run(map: &str, template: &str, event: &str) -> Result<String, TransformError> {
        let m = parse(map).unwrap();
        TargetInput::new(None, None, Some(&m), Some(template))?
            .apply(&parse(event).unwrap(), &RuleContext::default())
    }

    #[test]
    fn the_cost_control_transformer() {
        let out = run(
            r#"{"id": "$.detail.requestParameters.id"}"#,
            r#"{"session_id": <id>}"#,
            r#"{"detail": {"requestParameters": {"id": "s-1"}}}"#,
        )
        .unwrap();
        assert_eq!(out, r#"{"session_id": "s-1"}"#);
    }

    #[test]
    fn string_templates_strip_quotes_and_json_templates_do_not() {
        let ev = r#"{"d": {"o": {"a": 1, "b": "x"}, "l": ["H"]}}"#;
        let map = r#"{"o": "$.d.o", "l": "$.d.l", "m": "$.d.missing"}"#;
        assert_eq!(
            run(map, r#""<o> and <l> and [<m>]""#, ev).unwrap(),
            r#""{a:1,b:x} and [H] and []""#
        );
        assert_eq!(
            run(map, r#"{"o": <o>, "m": <m>}"#, ev).unwrap(),
            r#"{"o": {"a":1,"b":"x"}, "m": ""}"#
        );
        assert!(matches!(
            run(map, r#"{"o": "<o>"}"#, ev),
            Err(TransformError::Dropped(_))
        ));
        assert!(matches!(
            run(map, r#""<nope>""#, ev),
            Err(TransformError::Invalid(_))
        ));
    }
}
