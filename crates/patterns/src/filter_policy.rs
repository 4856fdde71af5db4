//! SNS subscription filter policies: the same operators as event patterns, applied to message
//! attributes (`FilterPolicyScope: MessageAttributes`, the default) or to the JSON message body
//! (`MessageBody`).

use crate::json::Json;
use crate::pattern::{InvalidPattern, Pattern};

/// Where a filter policy looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    MessageAttributes,
    MessageBody,
}

/// A message attribute as SNS receives it (`DataType` and `StringValue`).
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub data_type: String,
    pub value: String,
}

/// A compiled filter policy.
#[derive(Debug, Clone)]
pub struct FilterPolicy {
    pattern: Pattern,
    scope: Scope,
}

fn invalid(msg: &str) -> InvalidPattern {
    InvalidPattern(msg.to_string())
}

impl FilterPolicy {
    /// Parses a policy; attribute policies are flat (a key maps to an array of conditions).
    pub fn parse(text: &str, scope: Scope) -> Result<FilterPolicy, InvalidPattern> {
        let j = crate::json::parse(text)
            .map_err(|e| InvalidPattern(format!("FilterPolicy: failed to parse JSON. {e}")))?;
        let Json::Obj(members) = &j else {
            return Err(invalid("FilterPolicy: Filter policy must be a JSON object"));
        };
        if scope == Scope::MessageAttributes {
            for (k, v) in members {
                // a key holds an array of conditions (`$or` an array of flat policies)
                if !matches!(v, Json::Arr(_)) {
                    return Err(invalid(&format!(
                        "FilterPolicy: \"{k}\" must be an array of conditions: nested policies need FilterPolicyScope MessageBody"
                    )));
                }
            }
        }
        Ok(FilterPolicy {
            pattern: Pattern::compile(&j)?,
            scope,
        })
    }

    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// Whether a message with these attributes passes (attribute scope).
    pub fn matches_attributes(&self, attrs: &[Attribute]) -> bool {
        let members = attrs
            .iter()
            .map(|a| {
                let v = match a.data_type.split('.').next().unwrap_or("") {
                    // String.Array holds a JSON array of strings, numbers, booleans or nulls
                    "String" if a.data_type == "String.Array" => {
                        crate::json::parse(&a.value).unwrap_or(Json::Str(a.value.clone()))
                    }
                    "Number" => Json::Num(a.value.trim().to_string()),
                    // Binary attributes are not matched by SNS
                    "Binary" => Json::Obj(vec![]),
                    _ => Json::Str(a.value.clone()),
                };
                (a.name.clone(), v)
            })
            .collect();
        self.pattern.matches(&Json::Obj(members))
    }

    /// Whether a message body passes (body scope); a body that is not a JSON object never does.
    pub fn matches_body(&self, body: &str) -> bool {
        match crate::json::parse(body) {
            Ok(j @ Json::Obj(_)) => self.pattern.matches(&j),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(name: &str, t: &str, v: &str) -> Attribute {
        Attribute {
            name: name.into(),
            data_type: t.into(),
            value: v.into(),
        }
    }

    #[test]
    fn attribute_policies() {
        let p = FilterPolicy::parse(r#"{"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100]}], "event": [{"anything-but": "order_cancelled"}]}"#, Scope::MessageAttributes).unwrap();
        let ok = [
            attr("store", "String", "example_corp"),
            attr("price_usd", "Number", "210.75"),
            attr("event", "String", "order_placed"),
        ];
        assert!(p.matches_attributes(&ok));
        let cheap = [
            attr("store", "String", "example_corp"),
            attr("price_usd", "Number", "10"),
            attr("event", "String", "order_placed"),
        ];
        assert!(!p.matches_attributes(&cheap));
        assert!(
            !p.matches_attributes(&ok[..2]),
            "a missing attribute fails its condition"
        );
        let arr = FilterPolicy::parse(r#"{"sizes": ["M"]}"#, Scope::MessageAttributes).unwrap();
        assert!(arr.matches_attributes(&[attr("sizes", "String.Array", r#"["S","M"]"#)]));
    }

    #[test]
    fn body_policies_nest() {
        let p = FilterPolicy::parse(
            r#"{"detail": {"status": [{"prefix": "fail"}]}}"#,
            Scope::MessageBody,
        )
        .unwrap();
        assert!(p.matches_body(r#"{"detail": {"status": "failed"}}"#));
        assert!(!p.matches_body(r#"{"detail": {"status": "ok"}}"#));
        assert!(!p.matches_body("not json"));
        assert!(
            FilterPolicy::parse(r#"{"detail": {"status": ["x"]}}"#, Scope::MessageAttributes)
                .is_err()
        );
    }
}
