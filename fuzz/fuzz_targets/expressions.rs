//! Arbitrary text as a JSONPath, an intrinsic call and a JSONata expression, evaluated against a
//! fixed document: nothing may panic or hang.
#![no_main]

use asl::json::Scope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let doc = serde_json::json!({"a": [1, 2.5, {"b": "c", "d": [true, null]}], "s": "hello", "n": -3});
    let ctx = serde_json::json!({"Execution": {"Name": "x"}});
    if let Ok(p) = asl::jsonpath::JsonPath::parse(text) {
        let _ = p.select(&doc);
    }
    if let Ok(call) = asl::intrinsics::parse(text) {
        let _ = asl::intrinsics::eval(&call, &Scope::new(&doc, &ctx));
    }
    if let Ok(e) = jsonata::Expr::parse(text) {
        let _ = e.evaluate(&doc, &jsonata::Env::new(&jsonata::NoHost));
    }
});
