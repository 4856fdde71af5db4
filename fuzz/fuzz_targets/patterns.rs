//! Arbitrary text split into a pattern and an event at the first newline: compiling, matching
//! and transforming must never panic, and the indexed rule set must agree with the pattern.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (pattern, event) = text.split_once('\n').unwrap_or((text, r#"{"source": "x", "detail": {"a": [1, "b"]}}"#));
    if let Ok(p) = patterns::Pattern::parse(pattern) {
        let single = p.matches_text(event);
        // the indexed rule set, reading the text directly, answers the same for valid events
        let mut set = patterns::RuleSet::new();
        set.add((), p);
        let walked = set.matching_text(event);
        if let (Ok(m), Ok(hits)) = (single, walked) {
            assert_eq!(m, !hits.is_empty(), "rule set and pattern disagree on {event}");
        }
    }
    if let Ok(e) = patterns::json::parse(event) {
        if let Ok(map) = patterns::json::parse(pattern) {
            if let Ok(t) = patterns::transform::TargetInput::new(None, None, Some(&map), Some(r#"{"a": <a>, "s": "<a>"}"#)) {
                let _ = t.apply(&e, &Default::default());
            }
        }
    }
});
