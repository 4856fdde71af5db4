//! Reads an event's text for the fields a rule set looks at, without building the rest: a
//! walk over the bytes that follows a trie of the wanted paths and skips every other value in
//! place. Only the wanted scalars are decoded. Text this walk does not accept — invalid JSON,
//! or a repeated key on a wanted path (the last one wins in EventBridge) — is left to the full
//! parser.
//!
//! Text that is known to be well formed with one value per key (what a JSON serializer
//! wrote) can be read [`Read::UntilFound`]: the walk stops as soon as every wanted field has
//! been read, as quamina's flattener does — an event's rules usually look at a few fields
//! near its start.

use crate::json::Json;
use crate::pattern::{Flat, Lit, Num};
use std::borrow::Cow;

const QUOTE: u8 = 1;
const OPEN: u8 = 2;
const CLOSE: u8 = 3;

/// What skipping a container looks for in each byte.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'"' as usize] = QUOTE;
    t[b'{' as usize] = OPEN;
    t[b'[' as usize] = OPEN;
    t[b'}' as usize] = CLOSE;
    t[b']' as usize] = CLOSE;
    t
};

/// Where the first `"` or `\` is: eight bytes at a time (field names and values are short,
/// too short for a vectorised search to pay off), the rest one by one.
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        // a byte of v ^ repeat(c) is zero where v holds c; the lowest flagged byte is exact
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        let hits = zero(v ^ (ONES * b'"' as u64)) | zero(v ^ (ONES * b'\\' as u64));
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|c| *c == b'"' || *c == b'\\')
        .map(|n| at + n)
}

/// The dotted paths of a rule set as a trie of field names.
#[derive(Debug, Default)]
pub(crate) struct PathTrie {
    nodes: Vec<Node>,
}

#[derive(Debug, Default)]
struct Node {
    children: Vec<(Box<str>, u32)>,
    /// The full path, when a pattern looks at this one.
    path: Option<Box<str>>,
}

impl PathTrie {
    pub(crate) fn insert(&mut self, path: &str) {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let mut at = 0usize;
        for part in path.split('.') {
            let next = self.nodes[at]
                .children
                .iter()
                .find(|(k, _)| &**k == part)
                .map(|(_, n)| *n);
            at = match next {
                Some(n) => n as usize,
                None => {
                    let n = self.nodes.len();
                    self.nodes.push(Node::default());
                    self.nodes[at].children.push((part.into(), n as u32));
                    n
                }
            };
        }
        self.nodes[at].path = Some(path.into());
    }

    /// The node under `node` for an event key, and its place among the node's children when
    /// it is a direct child: a key with dots (`"a.b"`) is the same path as nested keys, as
    /// event-ruler joins them. Field names in the trie hold no dot, so a key is compared with
    /// each name whole or up to a dot.
    fn child(&self, node: u32, key: &[u8]) -> Option<(u32, Option<usize>)> {
        for (at, (k, n)) in self.nodes[node as usize].children.iter().enumerate() {
            let k = k.as_bytes();
            // names are short: lengths and first bytes first
            if k.first() != key.first() {
                continue;
            }
            if k.len() == key.len() {
                if k == key {
                    return Some((*n, Some(at)));
                }
            } else if key.len() > k.len() && key[k.len()] == b'.' && key.starts_with(k) {
                if let Some((c, _)) = self.child(*n, &key[k.len() + 1..]) {
                    return Some((c, None));
                }
            }
        }
        None
    }
}

/// Whether text is a JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_number(t: &[u8]) -> bool {
    let digits = |i: usize| t[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = usize::from(t.first() == Some(&b'-'));
    match t.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i += digits(i),
        _ => return false,
    }
    if t.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(t.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let n = digits(i);
        if n == 0 {
            return false;
        }
        i += n;
    }
    i == t.len()
}

/// Why the walk gave up (the full parser decides instead).
pub(crate) struct GiveUp;

/// How much of the text a walk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// All of it, checking that it is one JSON object with no repeated wanted key.
    Whole,
    /// Until every wanted field has been read: only for text known to be valid JSON with one
    /// value per key.
    UntilFound,
}

struct Walk<'a> {
    /// The text, and its bytes: every index the walk stops at is next to an ASCII byte, so
    /// slices of the text between them need no UTF-8 check.
    text: &'a str,
    b: &'a [u8],
    i: usize,
    trie: &'a PathTrie,
    arrays: u32,
    trail: Vec<(u32, u32)>,
    out: Flat<'a>,
}

type R<T = ()> = Result<T, GiveUp>;

/// The wanted scalars of an event (a JSON object), borrowing from its text where they can.
pub(crate) fn scan<'a>(text: &'a str, trie: &'a PathTrie, read: Read) -> R<Flat<'a>> {
    if trie.nodes.is_empty() {
        return Ok(Flat::default());
    }
    let mut w = Walk {
        text,
        b: text.as_bytes(),
        i: 0,
        trie,
        arrays: 0,
        trail: Vec::new(),
        out: Flat::default(),
    };
    w.ws();
    if w.peek() != Some(b'{') {
        return Err(GiveUp);
    }
    let stopped = w.object(0, read == Read::UntilFound)?;
    w.ws();
    if !stopped && w.i != w.b.len() {
        return Err(GiveUp);
    }
    Ok(w.out)
}

impl<'a> Walk<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> R {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(GiveUp)
        }
    }

    /// A string's raw bytes (between the quotes) and whether it holds escapes.
    fn raw_string(&mut self) -> R<(usize, usize, bool)> {
        if self.peek() != Some(b'"') {
            return Err(GiveUp);
        }
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            // an escape at the very end leaves the index past the text
            let Some(n) = self.b.get(self.i..).and_then(quote_or_backslash) else {
                return Err(GiveUp);
            };
            self.i += n;
            if self.b[self.i] == b'"' {
                self.i += 1;
                return Ok((start, self.i - 1, escaped));
            }
            escaped = true;
            self.i += 2;
        }
    }

    /// Reads an object whose key leads to trie `node`. With `may_stop` (every wanted field
    /// outside this object has been read), it returns `true` as soon as its own wanted fields
    /// are read, leaving the rest of the text unread.
    fn object(&mut self, node: u32, may_stop: bool) -> R<bool> {
        self.i += 1; // '{'
        let wanted = self.trie.nodes[node as usize].children.len();
        // the wanted keys read so far (a repeated one is left to the full parser): a bit per
        // direct child, a list for the rare others (through dotted keys, or past 64 children)
        let mut seen = 0u64;
        let mut others: Vec<u32> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(false);
        }
        loop {
            self.ws();
            let (s, e, escaped) = self.raw_string()?;
            // keys with escapes are rare: let the full parser handle them
            if escaped {
                return Err(GiveUp);
            }
            let child = self.trie.child(node, &self.b[s..e]);
            self.eat(b':')?;
            self.ws();
            match child {
                Some((c, place)) => {
                    match place.filter(|b| *b < 64) {
                        Some(b) if seen & (1 << b) != 0 => return Err(GiveUp),
                        Some(b) => seen |= 1 << b,
                        None if others.contains(&c) => return Err(GiveUp),
                        None => others.push(c),
                    }
                    let last =
                        may_stop && others.is_empty() && seen.count_ones() as usize == wanted;
                    if self.value(c, last)? || last {
                        return Ok(true);
                    }
                }
                None => self.skip()?,
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(false);
                }
                _ => return Err(GiveUp),
            }
        }
    }

    /// Reads a value at trie `node`; `true` when an object in it stopped the walk.
    fn value(&mut self, node: u32, may_stop: bool) -> R<bool> {
        match self.peek() {
            Some(b'{') => self.object(node, may_stop),
            Some(b'[') => {
                self.i += 1;
                let id = self.arrays;
                self.arrays += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(false);
                }
                let mut n = 0u32;
                loop {
                    self.ws();
                    self.trail.push((id, n));
                    // later elements may hold more values: never stop inside an array
                    self.value(node, false)?;
                    self.trail.pop();
                    n += 1;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(false);
                        }
                        _ => return Err(GiveUp),
                    }
                }
            }
            _ => {
                let Some(path) = self.trie.nodes[node as usize].path.as_deref() else {
                    return self.skip().map(|_| false);
                };
                let value = self.scalar()?;
                self.out.push(Cow::Borrowed(path), value, &self.trail);
                Ok(false)
            }
        }
    }

    fn scalar(&mut self) -> R<Lit<'a>> {
        let text = self.text;
        match self.peek() {
            Some(b'"') => {
                let (s, e, escaped) = self.raw_string()?;
                let raw = text.get(s..e).ok_or(GiveUp)?;
                if !escaped {
                    return Ok(Lit::Str(Cow::Borrowed(raw)));
                }
                // decode the escapes with the full parser
                match crate::json::parse(&format!("\"{raw}\"")) {
                    Ok(Json::Str(s)) => Ok(Lit::Str(Cow::Owned(s))),
                    _ => Err(GiveUp),
                }
            }
            Some(b't') => self.word(b"true", Lit::Bool(true)),
            Some(b'f') => self.word(b"false", Lit::Bool(false)),
            Some(b'n') => self.word(b"null", Lit::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
                let t = text.get(start..self.i).ok_or(GiveUp)?;
                if !is_number(t.as_bytes()) {
                    return Err(GiveUp);
                }
                Ok(Lit::Num(Num::new(Cow::Borrowed(t))))
            }
            _ => Err(GiveUp),
        }
    }

    fn word(&mut self, w: &[u8], lit: Lit<'a>) -> R<Lit<'a>> {
        if self.b[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(lit)
        } else {
            Err(GiveUp)
        }
    }

    /// Skips one value without decoding it.
    fn skip(&mut self) -> R {
        match self.peek() {
            Some(b'"') => self.raw_string().map(|_| ()),
            Some(b'{' | b'[') => {
                // a plain loop over a byte-class table, strings eight bytes at a time:
                // skipped values hold many short strings and numbers
                let b = self.b;
                let mut i = self.i;
                let mut depth = 0usize;
                while let Some(&c) = b.get(i) {
                    i += 1;
                    match CLASS[c as usize] {
                        0 => {}
                        QUOTE => loop {
                            let Some(n) = b.get(i..).and_then(quote_or_backslash) else {
                                return Err(GiveUp);
                            };
                            i += n;
                            if b[i] == b'"' {
                                i += 1;
                                break;
                            }
                            i += 2;
                        },
                        OPEN => depth += 1,
                        _ => {
                            depth -= 1;
                            if depth == 0 {
                                self.i = i;
                                return Ok(());
                            }
                        }
                    }
                }
                Err(GiveUp)
            }
            Some(_) => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        break;
                    }
                    self.i += 1;
                }
                if self.i == start {
                    Err(GiveUp)
                } else {
                    Ok(())
                }
            }
            None => Err(GiveUp),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_number, quote_or_backslash};
    use crate::json::{parse, Json};
    use proptest::prelude::*;

    proptest! {
        /// The number check accepts what the full parser reads as a number.
        #[test]
        fn numbers_are_checked_as_the_parser_does(t in "[-+.eE0-9]{1,8}") {
            prop_assert_eq!(is_number(t.as_bytes()), matches!(parse(&t), Ok(Json::Num(_))), "{}", t);
        }

        /// Eight bytes at a time finds what a byte-by-byte search finds.
        #[test]
        fn the_word_search_finds_the_first_quote_or_backslash(
            b in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(b'a'), Just(0x22 ^ 0x80), Just(0x5c ^ 0x01), any::<u8>()], 0..40)
        ) {
            let want = b.iter().position(|c| *c == b'"' || *c == b'\\');
            prop_assert_eq!(quote_or_backslash(&b), want);
        }
    }
}
