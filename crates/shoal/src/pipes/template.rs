//! A pipe target's `InputTemplate`: `<$.path>` placeholders into each record (a JSON SQS body
//! read as JSON) and the `<aws.pipes.*>` variables, with EventBridge's quoting rules — applied
//! to every record of the batch, as Pipes does.

use patterns::transform::{RuleContext, TargetInput};
use regex::Regex;
use serde_json::{json, Value};
use std::sync::OnceLock;

/// What a pipe adds to the `<aws.pipes.*>` variables.
pub struct PipeContext<'a> {
    pub name: &'a str,
    pub arn: &'a str,
    pub source: &'a str,
    pub target: &'a str,
}

pub struct PipeTemplate(TargetInput);

fn placeholder() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"<(\$[^<>]*|aws\.pipes\.[A-Za-z.\-]+)>").unwrap_or_else(|_| unreachable!())
    })
}

impl PipeTemplate {
    /// Compiles a template; each placeholder becomes a variable over `{"r": record, "p": pipe}`.
    pub fn compile(template: &str) -> Result<PipeTemplate, String> {
        let mut paths = Vec::new();
        let mut out = String::with_capacity(template.len());
        let mut last = 0;
        for (i, c) in placeholder().captures_iter(template).enumerate() {
            let (Some(whole), Some(inner)) = (c.get(0), c.get(1)) else {
                continue;
            };
            let path = match inner.as_str() {
                p if p.starts_with('$') => format!("$.r{}", &p[1..]),
                "aws.pipes.pipe-name" => "$.p.name".into(),
                "aws.pipes.pipe-arn" => "$.p.arn".into(),
                "aws.pipes.source-arn" => "$.p.source".into(),
                "aws.pipes.target-arn" => "$.p.target".into(),
                "aws.pipes.event.ingestion-time" => "$.p.time".into(),
                "aws.pipes.event" | "aws.pipes.event.json" => "$.r".into(),
                other => {
                    return Err(format!(
                        "InputTemplate contains an unknown variable <{other}>"
                    ))
                }
            };
            let name = format!("v{i}");
            out.push_str(&template[last..whole.start()]);
            out.push_str(&format!("<{name}>"));
            last = whole.end();
            paths.push((name, path));
        }
        out.push_str(&template[last..]);
        let map = patterns::json::Json::Obj(
            paths
                .into_iter()
                .map(|(k, v)| (k, patterns::json::Json::Str(v)))
                .collect(),
        );
        TargetInput::new(None, None, Some(&map), Some(&out))
            .map(PipeTemplate)
            .map_err(|e| format!("InputTemplate is not valid: {e}"))
    }

    /// The target's input for one record: JSON when the result is JSON, else text.
    pub fn apply(&self, record: &Value, ctx: &PipeContext) -> Result<Value, String> {
        let mut r = record.clone();
        if let Some(body) = record.get("body").and_then(Value::as_str) {
            if let Ok(j) = serde_json::from_str::<Value>(body) {
                r["body"] = j;
            }
        }
        let wrapper = json!({
            "r": r,
            "p": {
                "name": ctx.name,
                "arn": ctx.arn,
                "source": ctx.source,
                "target": ctx.target,
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            },
        });
        let j = patterns::json::parse(&wrapper.to_string()).map_err(|e| e.to_string())?;
        let text = self
            .0
            .apply(&j, &RuleContext::default())
            .map_err(|e| e.to_string())?;
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_read_records_and_pipe_variables() {
        let t = PipeTemplate::compile(r#"{"id": <$.body.id>, "who": "<$.body.name> via <aws.pipes.pipe-name>", "raw": <$.messageId>}"#).unwrap();
        let ctx = PipeContext {
            name: "orders",
            arn: "a",
            source: "s",
            target: "t",
        };
        let rec = json!({"messageId": "m-1", "body": "{\"id\": 7, \"name\": \"Ann\"}"});
        assert_eq!(
            t.apply(&rec, &ctx).unwrap(),
            json!({"id": 7, "who": "Ann via orders", "raw": "m-1"})
        );
        let plain = PipeTemplate::compile("order <$.body>").unwrap();
        assert_eq!(
            plain.apply(&json!({"body": "x"}), &ctx).unwrap(),
            json!("order \"x\"")
        );
        assert!(PipeTemplate::compile("<aws.pipes.nope>").is_err());
    }
}
