//! Reads an event's text for the fields a rule set looks at, without building the rest: a
//! walk over the bytes that follows a trie of the wanted paths and skips every other value in
//! place. Only the wanted scalars are decoded. Text this walk does not accept — invalid JSON,
//! or a repeated key on a wanted path (the last one wins in EventBridge) — is left to the full
//! parser.

use crate::json::Json;

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

    /// The node under `node` for an event key; a key with dots (`"a.b"`) is the same path as
    /// nested keys, as event-ruler joins them.
    fn child(&self, node: u32, key: &[u8]) -> Option<u32> {
        key.split(|b| *b == b'.').try_fold(node, |at, part| {
            self.nodes[at as usize]
                .children
                .iter()
                .find(|(k, _)| k.as_bytes() == part)
                .map(|(_, n)| *n)
        })
    }
}

/// A wanted scalar: its path, its value, and the array elements it lies in.
pub(crate) struct Scanned<'t> {
    pub path: &'t str,
    pub value: Json,
    pub trail: Vec<(u32, u32)>,
}

/// Why the walk gave up (the full parser decides instead).
pub(crate) struct GiveUp;

struct Walk<'a, 't> {
    b: &'a [u8],
    i: usize,
    trie: &'t PathTrie,
    arrays: u32,
    trail: Vec<(u32, u32)>,
    out: Vec<Scanned<'t>>,
}

type R<T = ()> = Result<T, GiveUp>;

/// The wanted scalars of an event (a JSON object).
pub(crate) fn scan<'t>(text: &str, trie: &'t PathTrie) -> R<Vec<Scanned<'t>>> {
    if trie.nodes.is_empty() {
        return Ok(Vec::new());
    }
    let mut w = Walk {
        b: text.as_bytes(),
        i: 0,
        trie,
        arrays: 0,
        trail: Vec::new(),
        out: Vec::new(),
    };
    w.ws();
    if w.peek() != Some(b'{') {
        return Err(GiveUp);
    }
    w.object(0)?;
    w.ws();
    if w.i != w.b.len() {
        return Err(GiveUp);
    }
    Ok(w.out)
}

impl<'t> Walk<'_, 't> {
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
            // field names and short values end within a few bytes: look there before memchr
            // an escape at the very end leaves the index past it
            let Some(rest) = self.b.get(self.i..) else {
                return Err(GiveUp);
            };
            let near = rest.iter().take(16).position(|c| *c == b'"' || *c == b'\\');
            let found = near.or_else(|| {
                rest.get(16..)
                    .and_then(|r| memchr::memchr2(b'"', b'\\', r))
                    .map(|n| n + 16)
            });
            let Some(n) = found else {
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

    fn object(&mut self, node: u32) -> R {
        self.i += 1; // '{'
        let mut seen: Vec<u32> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
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
                Some(c) => {
                    if seen.contains(&c) {
                        return Err(GiveUp);
                    }
                    seen.push(c);
                    self.value(c)?;
                }
                None => self.skip()?,
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(GiveUp),
            }
        }
    }

    fn value(&mut self, node: u32) -> R {
        match self.peek() {
            Some(b'{') => self.object(node),
            Some(b'[') => {
                self.i += 1;
                let id = self.arrays;
                self.arrays += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(());
                }
                let mut n = 0u32;
                loop {
                    self.ws();
                    self.trail.push((id, n));
                    self.value(node)?;
                    self.trail.pop();
                    n += 1;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(());
                        }
                        _ => return Err(GiveUp),
                    }
                }
            }
            _ => {
                let Some(path) = self.trie.nodes[node as usize].path.as_deref() else {
                    return self.skip();
                };
                let value = self.scalar()?;
                self.out.push(Scanned {
                    path,
                    value,
                    trail: self.trail.clone(),
                });
                Ok(())
            }
        }
    }

    fn scalar(&mut self) -> R<Json> {
        match self.peek() {
            Some(b'"') => {
                let (s, e, escaped) = self.raw_string()?;
                let raw = std::str::from_utf8(&self.b[s..e]).map_err(|_| GiveUp)?;
                if !escaped {
                    return Ok(Json::Str(raw.to_string()));
                }
                // decode the escapes with the full parser
                match crate::json::parse(&format!("\"{raw}\"")) {
                    Ok(j @ Json::Str(_)) => Ok(j),
                    _ => Err(GiveUp),
                }
            }
            Some(b't') => self.word(b"true", Json::Bool(true)),
            Some(b'f') => self.word(b"false", Json::Bool(false)),
            Some(b'n') => self.word(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
                let t = std::str::from_utf8(&self.b[start..self.i]).map_err(|_| GiveUp)?;
                // the full parser checks the number's form
                match crate::json::parse(t) {
                    Ok(j @ Json::Num(_)) => Ok(j),
                    _ => Err(GiveUp),
                }
            }
            _ => Err(GiveUp),
        }
    }

    fn word(&mut self, w: &[u8], j: Json) -> R<Json> {
        if self.b[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(j)
        } else {
            Err(GiveUp)
        }
    }

    /// Skips one value without decoding it.
    fn skip(&mut self) -> R {
        match self.peek() {
            Some(b'"') => self.raw_string().map(|_| ()),
            Some(b'{' | b'[') => {
                // a plain loop over a byte-class table: skipped values hold many short
                // strings and numbers, too short for memchr to pay off
                let b = self.b;
                let mut i = self.i;
                let mut depth = 0usize;
                while let Some(&c) = b.get(i) {
                    i += 1;
                    match CLASS[c as usize] {
                        0 => {}
                        QUOTE => loop {
                            match b.get(i) {
                                None => return Err(GiveUp),
                                Some(b'"') => {
                                    i += 1;
                                    break;
                                }
                                Some(b'\\') => i += 2,
                                Some(_) => i += 1,
                            }
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
