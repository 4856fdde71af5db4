//! Map: which items to iterate, what each iteration gets as input, and the failure tolerance of
//! a distributed run.

use crate::definition::{Field, MapState, QueryLanguage, State};
use crate::error::Failure;
use crate::io;
use crate::json::{self, Scope};
use crate::template::eval_jsonata_opt;
use serde_json::{json, Value};

/// The items of one Map run and the effective input they came from.
pub struct Plan {
    pub effective: Value,
    pub items: Vec<Value>,
}

fn type_name(v: &Value) -> &'static str {
    crate::json_type(v)
}

pub fn plan(
    state: &State,
    m: &MapState,
    raw: &Value,
    ctx: &Value,
    scope: &Scope,
    read: Option<Vec<Value>>,
) -> Result<Plan, Failure> {
    let _ = ctx;
    if let Some(items) = read {
        // an ItemReader's items replace ItemsPath / Items
        let effective = match state.query_language {
            QueryLanguage::JsonPath => io::input_path(&state.io.input_path, scope)?.into_owned(),
            QueryLanguage::Jsonata => raw.clone(),
        };
        return Ok(Plan { effective, items });
    }
    match state.query_language {
        QueryLanguage::JsonPath => {
            let effective = io::input_path(&state.io.input_path, scope)?.into_owned();
            let s = scope.reborrow().with_input(&effective);
            let items = match &m.items_path {
                None => effective.clone(),
                Some(r) => io::select_or_fail(r, &s)?,
            };
            match items {
                Value::Array(a) => Ok(Plan {
                    effective,
                    items: a,
                }),
                other => Err(Failure::runtime(format!(
                    "Map state input must be an array but was: {}",
                    json::compact(&other)
                ))),
            }
        }
        QueryLanguage::Jsonata => {
            let states = io::states_binding(raw, scope.context, None, None);
            let items = match &m.items {
                None => raw.clone(),
                Some(crate::template::Template::Dynamic {
                    field,
                    expr: crate::template::Dynamic::Jsonata(e, src),
                }) => {
                    let v = eval_jsonata_opt(e, src, field, scope, Some(&states))?
                        .unwrap_or(Value::Null);
                    if !v.is_array() {
                        return Err(Failure::new(
                            "States.QueryEvaluationError",
                            format!(
                                "The JSONata expression '{src}' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was '{}' for value: {}",
                                type_name(&v),
                                json::compact(&v)
                            ),
                        ));
                    }
                    v
                }
                Some(t) => t.eval(scope, Some(&states))?,
            };
            match items {
                Value::Array(a) => Ok(Plan {
                    effective: raw.clone(),
                    items: a,
                }),
                other => Err(Failure::new(
                    "States.QueryEvaluationError",
                    format!(
                        "Map state input must be an array but was: {}",
                        json::compact(&other)
                    ),
                )),
            }
        }
    }
}

/// The input of iteration `i`: `ItemSelector` (or legacy `Parameters`) with `$$.Map.Item`,
/// else the item itself. With an `ItemBatcher`, items are grouped by the caller first.
///
/// `ctx` is the caller's copy of the context object, made once for all the items: each call
/// sets its `Map` to this item. (A copy per item copied the execution's input, which holds all
/// the items, once for each: quadratic in the items.)
pub fn item_input(
    state: &State,
    m: &MapState,
    plan: &Plan,
    i: usize,
    item: &Value,
    ctx: &mut Value,
    scope: &Scope,
) -> Result<Value, Failure> {
    let Some(sel) = &m.item_selector else {
        return Ok(item.clone());
    };
    if let Value::Object(o) = ctx {
        o.insert("Map".into(), json!({"Item": {"Index": i, "Value": item}}));
    }
    let ctx = &*ctx;
    match state.query_language {
        QueryLanguage::JsonPath => {
            let s = scope
                .reborrow()
                .with_input(&plan.effective)
                .with_context(ctx);
            sel.eval(&s, None)
        }
        QueryLanguage::Jsonata => {
            let states = io::states_binding(scope.input, ctx, None, None);
            let s = scope.reborrow().with_context(ctx);
            sel.eval(&s, Some(&states))
        }
    }
}

/// Groups item inputs into batches under `MaxItemsPerBatch` and `MaxInputBytesPerBatch`
/// (AWS caps a batch at 256 KiB); each batch is `{"BatchInput": ..., "Items": [...]}`.
pub fn batches(
    state: &State,
    b: &crate::definition::ItemBatcher,
    inputs: Vec<Value>,
    effective: &Value,
    scope: &Scope,
) -> Result<Vec<Value>, Failure> {
    let s = scope.reborrow().with_input(effective);
    let positive = |f: &Option<Field>, name: &str| -> Result<Option<u64>, Failure> {
        let Some(f) = f else { return Ok(None) };
        let (v, _) = field_value(f, &s, name)?;
        match as_number(&v) {
            Some(n) if n >= 1.0 && n.fract() == 0.0 => Ok(Some(n as u64)),
            _ => Err(Failure::runtime(format!(
                "The {name} field must be a positive integer, but was {}",
                json::compact(&v)
            ))),
        }
    };
    let max_items = positive(&b.max_items, "MaxItemsPerBatch")?;
    let max_bytes = positive(&b.max_input_bytes, "MaxInputBytesPerBatch")?
        .unwrap_or(crate::io::MAX_PAYLOAD_BYTES as u64)
        .min(crate::io::MAX_PAYLOAD_BYTES as u64) as usize;
    let batch_input = match &b.batch_input {
        None => None,
        Some(t) => Some(match state.query_language {
            QueryLanguage::JsonPath => t.eval(&s, None)?,
            QueryLanguage::Jsonata => {
                let states = io::states_binding(scope.input, scope.context, None, None);
                t.eval(scope, Some(&states))?
            }
        }),
    };
    let make = |items: Vec<Value>| {
        let mut o = serde_json::Map::new();
        if let Some(bi) = &batch_input {
            o.insert("BatchInput".into(), bi.clone());
        }
        o.insert("Items".into(), Value::Array(items));
        Value::Object(o)
    };
    let mut out = Vec::new();
    let mut cur: Vec<Value> = Vec::new();
    let mut cur_bytes = 0usize;
    for v in inputs {
        let size = json::size(&v) + 1;
        let full_by_count = max_items.is_some_and(|m| cur.len() as u64 >= m);
        let full_by_bytes = !cur.is_empty() && cur_bytes + size > max_bytes;
        if full_by_count || full_by_bytes {
            out.push(make(std::mem::take(&mut cur)));
            cur_bytes = 0;
        }
        cur_bytes += size;
        cur.push(v);
    }
    if !cur.is_empty() {
        out.push(make(cur));
    }
    Ok(out)
}

/// How many failures a distributed Map tolerates.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub max_concurrency: Option<u64>,
    pub tolerated_count: Option<u64>,
    pub tolerated_percentage: Option<f64>,
}

impl Limits {
    /// True when `failures` of `total` items is more than the run tolerates.
    pub fn exceeded(&self, failures: usize, total: usize) -> bool {
        if failures == 0 {
            return false;
        }
        let by_count = self.tolerated_count.map(|c| failures as u64 > c);
        let by_pct = self
            .tolerated_percentage
            .map(|p| total > 0 && (failures as f64 * 100.0 / total as f64) > p);
        match (by_count, by_pct) {
            (None, None) => true,
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (Some(a), Some(b)) => a && b,
        }
    }
}

fn field_value(f: &Field, scope: &Scope, name: &str) -> Result<(Value, Option<String>), Failure> {
    Ok(match f {
        Field::Value(v) => (v.clone(), None),
        Field::Path(r) => (io::select_or_fail(r, scope)?, Some(r.text())),
        Field::Jsonata(e, src) => {
            let states = io::states_binding(scope.input, scope.context, None, None);
            (
                eval_jsonata_opt(e, src, name, scope, Some(&states))?.unwrap_or(Value::Null),
                None,
            )
        }
        Field::Call(_) => (Value::Null, None),
    })
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// Resolves `MaxConcurrency(Path)` and `ToleratedFailure*(Path)`, with AWS's messages.
pub fn limits(m: &MapState, effective: &Value, scope: &Scope) -> Result<Limits, Failure> {
    let s = scope.reborrow().with_input(effective);
    let mut l = Limits::default();
    if let Some(f) = &m.max_concurrency {
        let (v, path) = field_value(f, &s, "MaxConcurrency")?;
        let n = as_number(&v).filter(|x| x.fract() == 0.0 && *x >= 0.0);
        match (n, path) {
            (Some(n), _) => l.max_concurrency = Some(n as u64),
            (None, Some(p)) => {
                return Err(Failure::runtime(format!(
                    "The MaxConcurrencyPath field refers to value \"{}\" which is not a valid integer: {p}",
                    json::java_to_string(&v)
                )))
            }
            (None, None) => {}
        }
    }
    if let Some(f) = &m.tolerated_failure_count {
        let (v, path) = field_value(f, &s, "ToleratedFailureCount")?;
        let n = as_number(&v).filter(|x| x.fract() == 0.0);
        match (n, path) {
            (Some(n), _) if n < 0.0 => {
                return Err(Failure::runtime("ToleratedFailureCount cannot be negative."))
            }
            (Some(n), _) => l.tolerated_count = Some(n as u64),
            (None, Some(p)) => {
                return Err(Failure::runtime(format!(
                    "The ToleratedFailureCountPath field refers to value \"{}\" which is not a valid integer: {p}",
                    json::java_to_string(&v)
                )))
            }
            (None, None) => {}
        }
    }
    if let Some(f) = &m.tolerated_failure_percentage {
        let (v, path) = field_value(f, &s, "ToleratedFailurePercentage")?;
        match (as_number(&v), path) {
            (Some(p), _) if !(0.0..=100.0).contains(&p) => {
                return Err(Failure::runtime("ToleratedFailurePercentage must be between 0 and 100."))
            }
            (Some(p), _) => l.tolerated_percentage = Some(p),
            (None, Some(p)) => {
                return Err(Failure::runtime(format!(
                    "The ToleratedFailurePercentagePath field refers to value \"{}\" which is not a valid float: {p}",
                    json::java_to_string(&v)
                )))
            }
            (None, None) => {}
        }
    }
    Ok(l)
}

/// An `ItemReader`'s or `ResultWriter`'s `Parameters` (JSONPath, against the effective input)
/// or `Arguments` (JSONata).
pub fn s3_arguments(
    state: &State,
    t: Option<&crate::template::Template>,
    raw: &Value,
    scope: &Scope,
) -> Result<Value, Failure> {
    let Some(t) = t else { return Ok(json!({})) };
    match state.query_language {
        QueryLanguage::JsonPath => {
            let effective = io::input_path(&state.io.input_path, scope)?;
            t.eval(&scope.reborrow().with_input(&effective), None)
        }
        QueryLanguage::Jsonata => {
            let states = io::states_binding(raw, scope.context, None, None);
            t.eval(scope, Some(&states))
        }
    }
}

/// Evaluates an `ItemReader`'s `Parameters` (`Arguments`) and `MaxItems(Path)` against the
/// state's input.
pub fn read_request(
    state: &State,
    r: &crate::states::item_reader::ItemReader,
    raw: &Value,
    scope: &Scope,
) -> Result<crate::step::ReadItems, Failure> {
    let effective = match state.query_language {
        QueryLanguage::JsonPath => io::input_path(&state.io.input_path, scope)?.into_owned(),
        QueryLanguage::Jsonata => raw.clone(),
    };
    let s = scope.reborrow().with_input(&effective);
    let parameters = s3_arguments(state, r.parameters.as_ref(), raw, scope)?;
    let max_items = match &r.max_items {
        None => None,
        Some(f) => {
            let (v, path) = field_value(f, &s, "MaxItems")?;
            match as_number(&v).filter(|n| n.fract() == 0.0 && *n >= 0.0) {
                // 0 means no limit, as on AWS
                Some(0.0) => None,
                Some(n) => Some(n as u64),
                None => {
                    return Err(Failure::runtime(format!(
                        "The MaxItems{} field refers to value \"{}\" which is not a valid integer",
                        if path.is_some() { "Path" } else { "" },
                        json::java_to_string(&v)
                    )))
                }
            }
        }
    };
    Ok(crate::step::ReadItems {
        resource: r.resource.clone(),
        parameters,
        max_items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batches_respect_count_and_bytes() {
        use crate::definition::ItemBatcher;
        let sm = crate::StateMachine::from_value(&json!({"StartAt": "M", "States": {"M": {"Type": "Map",
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "End": true}}})).unwrap();
        let state = &sm.states["M"];
        let ctx = json!({});
        let input = json!({"k": "v"});
        let scope = Scope::new(&input, &ctx);
        let b = ItemBatcher {
            max_items: Some(Field::Value(json!(2))),
            max_input_bytes: None,
            batch_input: Some(crate::template::Template::Literal(json!({"k": 1}))),
        };
        let out = batches(
            state,
            &b,
            vec![json!(1), json!(2), json!(3)],
            &input,
            &scope,
        )
        .unwrap();
        assert_eq!(
            out,
            vec![
                json!({"BatchInput": {"k": 1}, "Items": [1, 2]}),
                json!({"BatchInput": {"k": 1}, "Items": [3]})
            ]
        );
        let b = ItemBatcher {
            max_items: None,
            max_input_bytes: Some(Field::Value(json!(10))),
            batch_input: None,
        };
        let out = batches(
            state,
            &b,
            vec![json!("aaa"), json!("bbb"), json!("c")],
            &input,
            &scope,
        )
        .unwrap();
        assert_eq!(
            out,
            vec![json!({"Items": ["aaa"]}), json!({"Items": ["bbb", "c"]})]
        );
    }

    #[test]
    fn tolerance() {
        let none = Limits::default();
        assert!(none.exceeded(1, 10));
        assert!(!none.exceeded(0, 10));
        let c = Limits {
            tolerated_count: Some(2),
            ..Default::default()
        };
        assert!(!c.exceeded(2, 10));
        assert!(c.exceeded(3, 10));
        let p = Limits {
            tolerated_percentage: Some(20.0),
            ..Default::default()
        };
        assert!(!p.exceeded(2, 10));
        assert!(p.exceeded(3, 10));
    }
}
