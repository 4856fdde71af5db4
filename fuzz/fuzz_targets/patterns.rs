//! Arbitrary text split into a pattern and an event at the first newline: compiling, matching
//! and transforming must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (pattern, event) = text.split_once('\n').unwrap_or((text, r#"{"source": "x", "detail": {"a": [1, "b"]}}"#));
    if let Ok(p) = patterns::Pattern::parse(pattern) {
        let _ = p.matches_text(event);
    }
    if let Ok(e) = patterns::json::parse(event) {
        if let Ok(map) = patterns::json::parse(pattern) {
            if let Ok(t) = patterns::transform::TargetInput::new(None, None, Some(&map), Some(r#"{"a": <a>, "s": "<a>"}"#)) {
                let _ = t.apply(&e, &Default::default());
            }
        }
    }
});
