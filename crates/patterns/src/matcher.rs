//! Many patterns matched at once. Each alternative of each pattern is indexed under one of its
//! fields — by exact value, case-folded value, prefix or suffix where it has one, by the field's
//! presence otherwise — so an event looks up only the patterns that one of its values could
//! satisfy, whatever their number, and only those are checked in full. The event is flattened
//! once, and only along the paths some pattern looks at.

use crate::json::Json;
use crate::pattern::{fold, with_folded, Flat, Lit, Matcher};
use crate::scan::{scan, GiveUp, PathTrie, Read};
use crate::Pattern;
use std::collections::HashSet;

/// The index's maps: keyed by event values, so seeded per process, and fast on short keys.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A value that is not a string, as an index key: numbers by value when the literal is an
/// exact double (as EventBridge compares them), by text otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Scalar {
    Null,
    Bool(bool),
    Num(u64),
    NumText(String),
}

fn num_key(text: &str, exact: Option<f64>) -> Scalar {
    match exact {
        // -0 and 0 are the same value
        Some(x) => Scalar::Num(if x == 0.0 { 0 } else { x.to_bits() }),
        None => Scalar::NumText(text.to_string()),
    }
}

/// Prefixes (or suffixes) of one path: the lengths in use, and the patterns under each.
#[derive(Default)]
struct Affixes {
    lengths: Vec<usize>,
    patterns: HashMap<String, Vec<u32>>,
}

impl Affixes {
    fn add(&mut self, affix: String, id: u32) {
        if !self.lengths.contains(&affix.len()) {
            self.lengths.push(affix.len());
            self.lengths.sort_unstable();
        }
        self.patterns.entry(affix).or_default().push(id);
    }

    fn lookup(&self, value: &str, suffix: bool, out: &mut Vec<u32>) {
        for &n in &self.lengths {
            if n > value.len() {
                break;
            }
            let at = if suffix { value.len() - n } else { n };
            if !value.is_char_boundary(at) {
                continue;
            }
            let part = if suffix { &value[at..] } else { &value[..at] };
            if let Some(ids) = self.patterns.get(part) {
                out.extend_from_slice(ids);
            }
        }
    }
}

/// The indexes of one path.
#[derive(Default)]
struct PathIndex {
    strings: HashMap<String, Vec<u32>>,
    scalars: HashMap<Scalar, Vec<u32>>,
    folded: HashMap<String, Vec<u32>>,
    prefixes: Affixes,
    folded_prefixes: Affixes,
    suffixes: Affixes,
    folded_suffixes: Affixes,
    /// Patterns that need only a value at this path to be worth checking.
    present: Vec<u32>,
}

impl PathIndex {
    fn uses_folding(&self) -> bool {
        !self.folded.is_empty()
            || !self.folded_prefixes.lengths.is_empty()
            || !self.folded_suffixes.lengths.is_empty()
    }
}

/// How well a field narrows the candidates, best first.
fn rank(ms: &[Matcher]) -> Option<u8> {
    if ms.iter().any(|m| matches!(m, Matcher::Exists(false))) {
        return None;
    }
    let indexed = ms.iter().all(|m| {
        matches!(
            m,
            Matcher::Exact(_)
                | Matcher::EqualsIgnoreCase(_)
                | Matcher::Prefix(..)
                | Matcher::Suffix(..)
        )
    });
    Some(if !indexed {
        2
    } else if ms
        .iter()
        .all(|m| matches!(m, Matcher::Exact(_) | Matcher::EqualsIgnoreCase(_)))
    {
        0
    } else {
        1
    })
}

/// Whether finding a pattern in the index already proves it matches: one alternative with one
/// field, every matcher of which is a string the index looks up exactly.
fn decided_by_index(pattern: &Pattern) -> bool {
    match pattern.alternatives.as_slice() {
        [alt] => match alt.as_slice() {
            [(_, ms)] => {
                !ms.is_empty()
                    && ms.iter().all(|m| {
                        matches!(
                            m,
                            Matcher::Exact(Lit::Str(_))
                                | Matcher::EqualsIgnoreCase(_)
                                | Matcher::Prefix(..)
                                | Matcher::Suffix(..)
                        )
                    })
            }
            _ => false,
        },
        _ => false,
    }
}

/// A set of patterns, each with a key, matched together.
pub struct RuleSet<K> {
    patterns: Vec<(K, Pattern)>,
    /// Per pattern: an index hit is a match, with no check in full.
    decided: Vec<bool>,
    paths: HashMap<String, PathIndex>,
    /// Patterns with an alternative that no value can anchor (every field may be absent).
    always: Vec<u32>,
    /// The paths (and their parent objects) any pattern looks at.
    wanted: HashSet<String>,
    /// The same paths for the walk over event text.
    trie: PathTrie,
}

impl<K> Default for RuleSet<K> {
    fn default() -> Self {
        RuleSet {
            patterns: Vec::new(),
            decided: Vec::new(),
            paths: HashMap::default(),
            always: Vec::new(),
            wanted: HashSet::new(),
            trie: PathTrie::default(),
        }
    }
}

impl<K> RuleSet<K> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns and their keys, in the order they were added.
    pub fn patterns(&self) -> impl Iterator<Item = (&K, &Pattern)> {
        self.patterns.iter().map(|(k, p)| (k, p))
    }

    /// Adds a compiled pattern under `key`.
    pub fn add(&mut self, key: K, pattern: Pattern) {
        let id = self.patterns.len() as u32;
        for p in pattern.paths() {
            let mut at = 0;
            while let Some(i) = p[at..].find('.') {
                self.wanted.insert(p[..at + i].to_string());
                at += i + 1;
            }
            self.wanted.insert(p.to_string());
            self.trie.insert(p);
        }
        for alt in &pattern.alternatives {
            let best = alt
                .iter()
                .filter_map(|(path, ms)| rank(ms).map(|r| (r, path, ms)))
                .min_by_key(|(r, _, _)| *r);
            let Some((_, path, ms)) = best else {
                self.always.push(id);
                continue;
            };
            let ix = self.paths.entry(path.clone()).or_default();
            if rank(ms) == Some(2) {
                ix.present.push(id);
                continue;
            }
            for m in ms {
                match m {
                    Matcher::Exact(Lit::Str(s)) => {
                        ix.strings.entry(s.to_string()).or_default().push(id)
                    }
                    Matcher::Exact(Lit::Num(n)) => ix
                        .scalars
                        .entry(num_key(n.text(), n.exact()))
                        .or_default()
                        .push(id),
                    Matcher::Exact(Lit::Bool(b)) => {
                        ix.scalars.entry(Scalar::Bool(*b)).or_default().push(id)
                    }
                    Matcher::Exact(Lit::Null) => {
                        ix.scalars.entry(Scalar::Null).or_default().push(id)
                    }
                    Matcher::EqualsIgnoreCase(s) => ix.folded.entry(fold(s)).or_default().push(id),
                    Matcher::Prefix(s, false) => ix.prefixes.add(s.clone(), id),
                    Matcher::Prefix(s, true) => ix.folded_prefixes.add(fold(s), id),
                    Matcher::Suffix(s, false) => ix.suffixes.add(s.clone(), id),
                    Matcher::Suffix(s, true) => ix.folded_suffixes.add(fold(s), id),
                    _ => {}
                }
            }
        }
        self.decided.push(decided_by_index(&pattern));
        self.patterns.push((key, pattern));
    }

    /// The keys of the patterns `event` matches, in the order they were added.
    pub fn matching(&self, event: &Json) -> Vec<&K> {
        self.matching_flat(&Flat::of(event, Some(&self.wanted)))
    }

    /// The same for an event's text, reading only the fields the patterns look at (the fast
    /// way for events that are valid JSON objects, as events on a bus are).
    pub fn matching_text(&self, text: &str) -> Result<Vec<&K>, String> {
        self.matching_read(text, Read::Whole)
    }

    /// The same for text a JSON serializer wrote (valid, one value per key, as the events
    /// shoal builds are): the walk stops once every field the patterns look at has been read.
    /// Text that breaks that promise gets unspecified answers, never a panic.
    pub fn matching_serialized(&self, text: &str) -> Result<Vec<&K>, String> {
        self.matching_read(text, Read::UntilFound)
    }

    fn matching_read(&self, text: &str, read: Read) -> Result<Vec<&K>, String> {
        match scan(text, &self.trie, read) {
            Ok(flat) => Ok(self.matching_flat(&flat)),
            Err(GiveUp) => {
                let event = crate::json::parse(text)?;
                if !matches!(event, Json::Obj(_)) {
                    return Err("the event must be a JSON object".into());
                }
                Ok(self.matching(&event))
            }
        }
    }

    fn matching_flat(&self, flat: &Flat) -> Vec<&K> {
        let mut candidates: Vec<u32> = self.always.clone();
        for (path, value) in flat.scalars() {
            let Some(ix) = self.paths.get(path) else {
                continue;
            };
            candidates.extend_from_slice(&ix.present);
            match value {
                Lit::Str(s) => {
                    if let Some(ids) = ix.strings.get(s.as_ref()) {
                        candidates.extend_from_slice(ids);
                    }
                    ix.prefixes.lookup(s, false, &mut candidates);
                    ix.suffixes.lookup(s, true, &mut candidates);
                    if ix.uses_folding() {
                        with_folded(s, |f| {
                            if let Some(ids) = ix.folded.get(f) {
                                candidates.extend_from_slice(ids);
                            }
                            ix.folded_prefixes.lookup(f, false, &mut candidates);
                            ix.folded_suffixes.lookup(f, true, &mut candidates);
                        });
                    }
                }
                // only a number some exact rule names needs its double here
                Lit::Num(n) if !ix.scalars.is_empty() => {
                    if let Some(ids) = ix.scalars.get(&num_key(n.text(), n.exact())) {
                        candidates.extend_from_slice(ids);
                    }
                }
                Lit::Num(_) => {}
                Lit::Bool(b) => {
                    if let Some(ids) = ix.scalars.get(&Scalar::Bool(*b)) {
                        candidates.extend_from_slice(ids);
                    }
                }
                Lit::Null => {
                    if let Some(ids) = ix.scalars.get(&Scalar::Null) {
                        candidates.extend_from_slice(ids);
                    }
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .filter_map(|id| {
                let (k, p) = &self.patterns[id as usize];
                (self.decided[id as usize] || p.matches_flat(flat)).then_some(k)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(patterns: &[&str]) -> RuleSet<usize> {
        let mut s = RuleSet::new();
        for (i, p) in patterns.iter().enumerate() {
            s.add(i, Pattern::parse(p).unwrap());
        }
        s
    }

    fn ids(s: &RuleSet<usize>, event: &str) -> Vec<usize> {
        s.matching(&crate::json::parse(event).unwrap())
            .into_iter()
            .copied()
            .collect()
    }

    #[test]
    fn each_kind_of_field_finds_its_patterns() {
        let s = set(&[
            r#"{"a": ["x"]}"#,
            r#"{"a": [{"prefix": "pre"}]}"#,
            r#"{"a": [{"suffix": "fix"}]}"#,
            r#"{"a": [{"equals-ignore-case": "MiXeD"}]}"#,
            r#"{"n": [5]}"#,
            r#"{"n": [{"numeric": [">", 10]}]}"#,
            r#"{"gone": [{"exists": false}]}"#,
            r#"{"$or": [{"a": ["y"]}, {"b": [true]}]}"#,
            r#"{"a": [{"prefix": {"equals-ignore-case": "PRE"}}]}"#,
        ]);
        assert_eq!(ids(&s, r#"{"a": "x"}"#), [0, 6]);
        assert_eq!(ids(&s, r#"{"a": "prefix"}"#), [1, 2, 6, 8]);
        assert_eq!(ids(&s, r#"{"a": "mixed", "gone": 1}"#), [3]);
        assert_eq!(ids(&s, r#"{"n": 5.0, "gone": 1}"#), [4]);
        assert_eq!(ids(&s, r#"{"n": 11, "gone": 1}"#), [5]);
        assert_eq!(ids(&s, r#"{"b": true, "gone": 1}"#), [7]);
        assert_eq!(ids(&s, r#"{"a": ["q", "y"], "gone": 1}"#), [7]);
        assert_eq!(ids(&s, r#"{"a": "PREamble", "gone": 1}"#), [8]);
    }

    #[test]
    fn a_serialized_event_is_read_only_as_far_as_the_patterns_need() {
        let s = set(&[
            r#"{"d": {"a": ["x"]}}"#,
            r#"{"d": {"b": {"c": [1]}}}"#,
            r#"{"e": [{"exists": false}]}"#,
        ]);
        let ids = |text: &str| -> Vec<usize> {
            s.matching_serialized(text)
                .unwrap()
                .into_iter()
                .copied()
                .collect()
        };
        // every wanted field read: what follows is never looked at
        assert_eq!(
            ids(r#"{"d": {"a": "x", "b": {"c": 1}}, "z": [1, 2]}"#),
            [0, 1, 2]
        );
        // values in an array: every element counts, the walk goes on after it
        assert_eq!(ids(r#"{"d": [{"a": "y"}, {"a": "x"}], "e": 1}"#), [0]);
        // a dotted key is the nested path
        assert_eq!(ids(r#"{"d.b": {"c": 1}, "d": {"a": "q"}}"#), [1, 2]);
        // a field looked for only to be absent is read to the end
        assert_eq!(ids(r#"{"d": {"a": "x", "b": {"c": 2}}, "e": null}"#), [0]);
    }

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-c]{0,3}".prop_map(|s| format!("\"{s}\"")),
            (0i32..4).prop_map(|n| n.to_string()),
            Just("true".to_string()),
            Just("null".to_string()),
        ]
    }

    fn event() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            (
                prop_oneof![Just("a"), Just("b"), Just("c")],
                prop_oneof![
                    leaf(),
                    proptest::collection::vec(leaf(), 0..3)
                        .prop_map(|v| format!("[{}]", v.join(",")))
                ],
            ),
            0..4,
        )
        .prop_map(|fields| {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("\"{k}\": {v}"))
                .collect();
            format!("{{\"d\": {{{}}}, \"s\": \"src\"}}", body.join(", "))
        })
    }

    fn matcher_text() -> impl Strategy<Value = String> {
        prop_oneof![
            leaf(),
            "[a-c]{1,2}".prop_map(|s| format!("{{\"prefix\": \"{s}\"}}")),
            "[a-c]{1,2}".prop_map(|s| format!("{{\"suffix\": \"{s}\"}}")),
            "[A-Ca-c]{1,2}".prop_map(|s| format!("{{\"equals-ignore-case\": \"{s}\"}}")),
            (0i32..4).prop_map(|n| format!("{{\"numeric\": [\">=\", {n}]}}")),
            any::<bool>().prop_map(|b| format!("{{\"exists\": {b}}}")),
            "[a-c]{1,2}".prop_map(|s| format!("{{\"anything-but\": \"{s}\"}}")),
        ]
    }

    fn pattern() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            (
                prop_oneof![Just("a"), Just("b"), Just("c")],
                proptest::collection::vec(matcher_text(), 1..3),
            ),
            1..3,
        )
        .prop_map(|fields| {
            let mut seen = HashSet::new();
            let body: Vec<String> = fields
                .iter()
                .filter(|(k, _)| seen.insert(*k))
                .map(|(k, ms)| format!("\"{k}\": [{}]", ms.join(", ")))
                .collect();
            format!("{{\"d\": {{{}}}}}", body.join(", "))
        })
    }

    proptest! {
        /// The indexed set answers exactly what checking every pattern one by one answers.
        #[test]
        fn the_index_changes_no_answer(patterns in proptest::collection::vec(pattern(), 1..12), events in proptest::collection::vec(event(), 1..8)) {
            let parsed: Vec<Pattern> = patterns.iter().filter_map(|p| Pattern::parse(p).ok()).collect();
            let mut s = RuleSet::new();
            for (i, p) in parsed.iter().enumerate() {
                s.add(i, p.clone());
            }
            for e in &events {
                let j = crate::json::parse(e).unwrap();
                let want: Vec<usize> = parsed.iter().enumerate().filter(|(_, p)| p.matches(&j)).map(|(i, _)| i).collect();
                let got: Vec<usize> = s.matching(&j).into_iter().copied().collect();
                prop_assert_eq!(&got, &want, "event {}", e);
                let walked: Vec<usize> = s.matching_text(e).unwrap().into_iter().copied().collect();
                prop_assert_eq!(walked, want, "event text {}", e);
                // the same event as a serializer writes it (a repeated key keeps its last value)
                let written = serde_json::from_str::<serde_json::Value>(e).unwrap().to_string();
                let j = crate::json::parse(&written).unwrap();
                let want: Vec<usize> = parsed.iter().enumerate().filter(|(_, p)| p.matches(&j)).map(|(i, _)| i).collect();
                let early: Vec<usize> = s.matching_serialized(&written).unwrap().into_iter().copied().collect();
                prop_assert_eq!(early, want, "serialized event {}", written);
            }
        }
    }
}
