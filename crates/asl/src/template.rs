//! Payload templates: the values of `Parameters`, `ResultSelector`, `ItemSelector`, `Assign`
//! (JSONPath mode: keys ending in `.$` hold a path or an intrinsic call) and of `Arguments`,
//! `Output`, `Assign`, `Items`... (JSONata mode: strings `{% expr %}` hold an expression).
//! Compiled once when the definition is parsed, evaluated many times.

use crate::error::Failure;
use crate::intrinsics::{self, Call};
use crate::io::States;
use crate::json::{self, split_variable, Scope};
use crate::jsonpath::JsonPath;
use serde_json::{Map, Value};

/// A compiled template.
#[derive(Debug, Clone)]
pub enum Template {
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    /// A dynamic value: `field` is the name AWS prints in errors (`value.$`, `Output/result`).
    Dynamic {
        field: String,
        expr: Dynamic,
    },
}

/// Where a dynamic value comes from.
#[derive(Debug, Clone)]
pub enum Dynamic {
    Path(JsonPath),
    Context(JsonPath),
    Variable(String, JsonPath),
    Call(Call),
    Jsonata(Box<jsonata::Expr>, String),
}

/// A JSONPath-mode reference (`$.x`, `$$.x`, `$var.x`) used by `InputPath`, `ItemsPath`,
/// `SecondsPath`, choice `Variable` and the like.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    Input(JsonPath),
    Context(JsonPath),
    Variable(String, JsonPath),
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, String> {
        if let Some(ctx) = text.strip_prefix("$$") {
            return JsonPath::parse(&format!("${ctx}"))
                .map(Reference::Context)
                .map_err(|e| e.to_string());
        }
        if let Some((name, rest)) = split_variable(text) {
            return JsonPath::parse(&format!("${rest}"))
                .map(|p| Reference::Variable(name.to_string(), p))
                .map_err(|e| e.to_string());
        }
        JsonPath::parse(text)
            .map(Reference::Input)
            .map_err(|e| e.to_string())
    }

    /// The value, or `None` when the path selects nothing.
    pub fn select(&self, scope: &Scope) -> Option<Value> {
        match self {
            Reference::Input(p) => p.select(scope.input),
            Reference::Context(p) => p.select(scope.context),
            Reference::Variable(n, p) => p.select(scope.variable(n)?),
        }
    }

    pub fn text(&self) -> String {
        match self {
            Reference::Input(p) => p.to_string(),
            Reference::Context(p) => format!("${p}"),
            Reference::Variable(n, p) => format!("${n}{}", &p.as_str()[1..]),
        }
    }

    /// Jayway's normalised form for "No results for path" messages.
    pub fn normalized(&self) -> String {
        match self {
            Reference::Input(p) => p.normalized(),
            Reference::Context(p) => format!("${}", p.normalized()),
            Reference::Variable(n, p) => format!("${n}{}", &p.normalized()[1..]),
        }
    }
}

/// Extracts the expression of a `{% ... %}` string.
pub fn jsonata_source(s: &str) -> Option<&str> {
    let t = s.strip_prefix("{%")?.strip_suffix("%}")?;
    Some(t.trim())
}

/// Compiles a JSONata expression string (`{% ... %}`).
pub fn compile_jsonata(src: &str) -> Result<jsonata::Expr, String> {
    jsonata::Expr::parse(src).map_err(|e| e.to_string())
}

impl Template {
    /// Compiles a JSONPath-mode template; the error names the offending key.
    pub fn jsonpath(v: &Value) -> Result<Template, (String, String)> {
        Ok(match v {
            Value::Object(o) => {
                let mut fields = Vec::with_capacity(o.len());
                for (k, v) in o {
                    if let Some(name) = k.strip_suffix(".$") {
                        let expr = match v {
                            Value::String(s) => dynamic_path(s).map_err(|e| (k.clone(), e))?,
                            _ => return Err((k.clone(), "must be a string".into())),
                        };
                        fields.push((
                            name.to_string(),
                            Template::Dynamic {
                                field: k.clone(),
                                expr,
                            },
                        ));
                    } else {
                        fields.push((k.clone(), Template::jsonpath(v)?));
                    }
                }
                Template::Object(fields)
            }
            Value::Array(a) => {
                Template::Array(a.iter().map(Template::jsonpath).collect::<Result<_, _>>()?)
            }
            other => Template::Literal(other.clone()),
        })
    }

    /// Compiles a JSONata-mode template rooted at the field `field` (e.g. `Output`).
    pub fn jsonata(v: &Value, field: &str) -> Result<Template, (String, String)> {
        Ok(match v {
            Value::String(s) => match jsonata_source(s) {
                Some(src) => Template::Dynamic {
                    field: field.to_string(),
                    expr: Dynamic::Jsonata(
                        Box::new(compile_jsonata(src).map_err(|e| (field.to_string(), e))?),
                        src.to_string(),
                    ),
                },
                None => Template::Literal(v.clone()),
            },
            Value::Object(o) => {
                let mut fields = Vec::with_capacity(o.len());
                for (k, v) in o {
                    fields.push((k.clone(), Template::jsonata(v, &format!("{field}/{k}"))?));
                }
                Template::Object(fields)
            }
            Value::Array(a) => Template::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| Template::jsonata(v, &format!("{field}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            other => Template::Literal(other.clone()),
        })
    }

    /// True when the template holds nothing dynamic.
    pub fn is_static(&self) -> bool {
        match self {
            Template::Literal(_) => true,
            Template::Object(f) => f.iter().all(|(_, t)| t.is_static()),
            Template::Array(a) => a.iter().all(Template::is_static),
            Template::Dynamic { .. } => false,
        }
    }

    /// Evaluates the template. `states` is the `$states` binding for JSONata expressions.
    pub fn eval(&self, scope: &Scope, states: Option<&States>) -> Result<Value, Failure> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Object(fields) => {
                let mut m = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    m.insert(k.clone(), t.eval(scope, states)?);
                }
                Value::Object(m)
            }
            Template::Array(a) => Value::Array(
                a.iter()
                    .map(|t| t.eval(scope, states))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Dynamic { field, expr } => eval_dynamic(field, expr, scope, states)?,
        })
    }
}

fn dynamic_path(s: &str) -> Result<Dynamic, String> {
    let bad = || "must be a valid JSONPath or a valid intrinsic function call".to_string();
    if intrinsics::looks_like_call(s) {
        return intrinsics::parse(s).map(Dynamic::Call).map_err(|_| bad());
    }
    match Reference::parse(s).map_err(|_| bad())? {
        Reference::Input(p) => Ok(Dynamic::Path(p)),
        Reference::Context(p) => Ok(Dynamic::Context(p)),
        Reference::Variable(n, p) => Ok(Dynamic::Variable(n, p)),
    }
}

fn eval_dynamic(
    field: &str,
    expr: &Dynamic,
    scope: &Scope,
    states: Option<&States>,
) -> Result<Value, Failure> {
    let not_found = |path: String, within: &Value| {
        Failure::runtime(format!(
            "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
            json::compact(within)
        ))
    };
    match expr {
        Dynamic::Path(p) => p
            .select(scope.input)
            .ok_or_else(|| not_found(p.to_string(), scope.input)),
        Dynamic::Context(p) => p
            .select(scope.context)
            .ok_or_else(|| not_found(format!("${p}"), scope.input)),
        Dynamic::Variable(n, p) => match scope.variable(n) {
            Some(v) => p
                .select(v)
                .ok_or_else(|| not_found(format!("${n}{}", &p.as_str()[1..]), scope.input)),
            None => Err(Failure::runtime(format!(
                "The JSONPath '${n}{}' specified for the field '{field}' could not be found: the variable '{n}' is not defined",
                &p.as_str()[1..]
            ))),
        },
        // The ASL specification's name for a failed intrinsic call in a payload template.
        Dynamic::Call(c) => intrinsics::eval(c, scope).map_err(|e| {
            Failure::new(
                "States.IntrinsicFailure",
                format!("The intrinsic function for the field '{field}' failed: {e}"),
            )
        }),
        Dynamic::Jsonata(e, src) => eval_jsonata(e, src, field, scope, states),
    }
}

/// Evaluates a JSONata expression with the AWS bindings and error texts.
pub fn eval_jsonata(
    e: &jsonata::Expr,
    src: &str,
    field: &str,
    scope: &Scope,
    states: Option<&States>,
) -> Result<Value, Failure> {
    match eval_jsonata_opt(e, src, field, scope, states)? {
        Some(v) => Ok(v),
        None => Err(Failure::new(
            "States.QueryEvaluationError",
            format!(
                "The JSONata expression '{src}' specified for the field '{field}' returned nothing (undefined)."
            ),
        )),
    }
}

/// Like [`eval_jsonata`] but returns `None` for an undefined result.
pub fn eval_jsonata_opt(
    e: &jsonata::Expr,
    src: &str,
    field: &str,
    scope: &Scope,
    states: Option<&States>,
) -> Result<Option<Value>, Failure> {
    let host = crate::aws_functions::AwsFunctions { scope };
    let fields = states.map(|s| s.fields());
    let mut env = jsonata::Env::new(&host);
    if let Some(vars) = scope.variables {
        for (k, v) in vars {
            env.bind(k, v);
        }
    }
    if let Some((f, n)) = &fields {
        env.bind_object("states", &f[..*n]);
    }
    let input = states.map(|s| s.input).unwrap_or(scope.input);
    match e.evaluate(input, &env) {
        Ok(jsonata::Output::Value(v)) => Ok(Some(v)),
        Ok(jsonata::Output::Undefined) => Ok(None),
        Ok(jsonata::Output::Function) => Err(Failure::new(
            "States.QueryEvaluationError",
            format!(
                "The JSONata expression '{src}' specified for the field '{field}' returned an unsupported result type."
            ),
        )),
        Err(err) => Err(Failure::new(
            "States.QueryEvaluationError",
            format!(
                "The JSONata expression '{src}' specified for the field '{field}' threw an error during evaluation. {err}"
            ),
        )),
    }
}
