//! Arbitrary text split into a pattern and an event at the first newline: compiling, matching
//! and transforming must never panic, and the indexed rule set must agree with the pattern.
#![no_main]

use libfuzzer_sys::fuzz_target;

fn set_pattern_matches(pattern: &str, event: &str) -> Result<bool, String> {
    patterns::Pattern::parse(pattern)
        .map_err(|e| e.to_string())?
        .matches_text(event)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (pattern, event) = text.split_once('\n').unwrap_or((text, r#"{"source": "x", "detail": {"a": [1, "b"]}}"#));
    if let Ok(p) = patterns::Pattern::parse(pattern) {
        let single = p.matches_text(event);
        // the indexed rule set, reading the text directly, answers the same for valid events
        let mut set = patterns::RuleSet::new();
        set.add((), p);
        let walked = set.matching_text(event);
        if let (Ok(m), Ok(hits)) = (&single, walked) {
            assert_eq!(*m, !hits.is_empty(), "rule set and pattern disagree on {event}");
        }
        // the same event as a serializer writes it, read only as far as the pattern looks
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(event) {
            let written = v.to_string();
            if let (Ok(m), Ok(hits)) = (set_pattern_matches(pattern, &written), set.matching_serialized(&written)) {
                assert_eq!(m, !hits.is_empty(), "early stop disagrees on {written}");
            }
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
