//! Property tests: JSONPath and the intrinsic functions against generated JSON.

use crate::intrinsics;
use crate::json::{self, Scope};
use crate::jsonpath::JsonPath;
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        (-1.0e6f64..1.0e6).prop_map(|f| json!(f)),
        "[a-zA-Z0-9 '{}\\\\\"]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn call(expr: &str, input: &Value) -> Result<Value, String> {
    let ctx = json!({});
    intrinsics::eval(&intrinsics::parse(expr)?, &Scope::new(input, &ctx))
}

proptest! {
    #[test]
    fn string_to_json_inverts_json_to_string(x in arb_json()) {
        let input = json!({"x": x});
        let text = call("States.JsonToString($.x)", &input).unwrap();
        let back = call("States.StringToJson($.s)", &json!({"s": text})).unwrap();
        prop_assert!(json::equal(&back, &input["x"]), "{back} != {}", input["x"]);
    }

    #[test]
    fn base64_round_trips(s in ".{0,64}") {
        let input = json!({"s": s});
        let out = call("States.Base64Decode(States.Base64Encode($.s))", &input).unwrap();
        prop_assert_eq!(out, input["s"].clone());
    }

    #[test]
    fn array_length_and_partition_agree(items in prop::collection::vec(arb_json(), 0..40), n in 1i64..10) {
        let input = json!({"a": items, "n": n});
        let len = call("States.ArrayLength($.a)", &input).unwrap();
        prop_assert_eq!(len, json!(items.len()));
        let parts = call("States.ArrayPartition($.a, $.n)", &input).unwrap();
        let flat: Vec<Value> = parts.as_array().unwrap().iter().flat_map(|p| p.as_array().unwrap().clone()).collect();
        prop_assert_eq!(flat, items);
    }

    #[test]
    fn array_unique_leaves_no_duplicates(items in prop::collection::vec(0i32..5, 0..30)) {
        let out = call("States.ArrayUnique($.a)", &json!({"a": items})).unwrap();
        let out = out.as_array().unwrap();
        for (i, x) in out.iter().enumerate() {
            prop_assert!(!out[i + 1..].contains(x));
        }
        for x in &items {
            prop_assert!(out.contains(&json!(x)));
        }
    }

    #[test]
    fn array_range_steps_stay_in_bounds(start in -50i64..50, len in 0i64..50, step in 1i64..7) {
        let end = start + len;
        let out = call(&format!("States.ArrayRange({start}, {end}, {step})"), &json!({})).unwrap();
        let out: Vec<i64> = out.as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        prop_assert_eq!(out.first().copied(), Some(start));
        prop_assert!(out.iter().all(|v| *v >= start && *v <= end));
        prop_assert!(out.windows(2).all(|w| w[1] - w[0] == step));
    }

    #[test]
    fn math_add_is_commutative(a in -1000i64..1000, b in -1000i64..1000) {
        let x = call("States.MathAdd($.a, $.b)", &json!({"a": a, "b": b})).unwrap();
        let y = call("States.MathAdd($.b, $.a)", &json!({"a": a, "b": b})).unwrap();
        prop_assert_eq!(x.clone(), y);
        prop_assert_eq!(x, json!(a + b));
    }

    #[test]
    fn definite_paths_read_back_what_they_wrote(keys in prop::collection::vec("[a-z]{1,5}", 1..5), v in arb_json()) {
        let path = format!("$.{}", keys.join("."));
        let p = JsonPath::parse(&path).unwrap();
        let mut doc = json!({});
        p.set(&mut doc, v.clone()).unwrap();
        prop_assert_eq!(p.select(&doc), Some(v));
    }

    #[test]
    fn wildcard_selects_every_element(items in prop::collection::vec(arb_json(), 0..20)) {
        let doc = json!({"a": items});
        prop_assert_eq!(JsonPath::parse("$.a[*]").unwrap().select(&doc), Some(Value::Array(items.clone())));
        prop_assert_eq!(JsonPath::parse("$.a.length()").unwrap().select(&doc), Some(json!(items.len())));
    }

    #[test]
    fn path_parsing_never_panics(s in "\\$[\\[\\]\\.a-z0-9*?@()'\"=<>!&| -]{0,30}") {
        if let Ok(p) = JsonPath::parse(&s) {
            let _ = p.select(&json!({"a": [1, {"b": 2}], "c": "d"}));
        }
    }

    #[test]
    fn intrinsic_parsing_never_panics(s in "States\\.[A-Za-z]{0,12}\\([$.a-z0-9', ()\\\\{}]{0,30}") {
        if let Ok(c) = intrinsics::parse(&s) {
            let ctx = json!({});
            let input = json!({"a": [1, 2], "b": "x"});
            let _ = intrinsics::eval(&c, &Scope::new(&input, &ctx));
        }
    }
}
