//! JSON helpers shared by the evaluators: AWS's compact text, Java's `toString` for
//! `States.Format`, numeric-aware equality, and the [`Scope`] every expression reads.

use serde_json::{Map, Value};
use std::cell::Cell;

/// Variables visible to a state (`Assign` writes them, `$name` reads them).
pub type Variables = Map<String, Value>;

/// Compact JSON text as AWS prints it in causes and `States.JsonToString`.
pub fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

/// The serialised size in bytes, for the 256 KiB payload limit.
pub fn size(v: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// Whether the serialised size exceeds `limit`, serialising only when a cheap walk cannot tell:
/// the walk bounds the size from below (no escapes) and above (every character escaped).
pub fn exceeds(v: &Value, limit: usize) -> bool {
    fn bounds(v: &Value, lo: &mut usize, hi: &mut usize) {
        match v {
            Value::Null => {
                *lo += 4;
                *hi += 4;
            }
            Value::Bool(_) => {
                *lo += 4;
                *hi += 5;
            }
            Value::Number(_) => {
                *lo += 1;
                *hi += 24;
            }
            Value::String(s) => {
                *lo += s.len() + 2;
                *hi += s.len() * 6 + 2;
            }
            Value::Array(a) => {
                *lo += 2 + a.len().saturating_sub(1);
                *hi += 2 + a.len();
                a.iter().for_each(|x| bounds(x, lo, hi));
            }
            Value::Object(o) => {
                *lo += 2 + o.len().saturating_sub(1);
                *hi += 2 + o.len();
                for (k, x) in o {
                    *lo += k.len() + 3;
                    *hi += k.len() * 6 + 3;
                    bounds(x, lo, hi);
                }
            }
        }
    }
    let (mut lo, mut hi) = (0, 0);
    bounds(v, &mut lo, &mut hi);
    if hi <= limit {
        return false;
    }
    if lo > limit {
        return true;
    }
    size(v) > limit
}

/// Java's `toString` of the value Jackson would hold, as `States.Format` prints arguments:
/// strings raw, objects as `{k=v, ...}`, arrays as `[a, b]`.
pub fn java_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(java_to_string).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{k}={}", java_to_string(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Equality where `1` equals `1.0`, recursively.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// Splits `$name.rest` into (`name`, `.rest`) when the string references a variable rather
/// than the input (`$.`), the context (`$$`) or a bracket (`$[`).
pub fn split_variable(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix('$')?;
    let first = rest.chars().next()?;
    if !(first.is_alphabetic() || first == '_') {
        return None;
    }
    let end = rest.find(['.', '[']).unwrap_or(rest.len());
    Some((&rest[..end], &rest[end..]))
}

/// What an expression can read: the input (`$`), the context object (`$$`), the variables, and
/// a deterministic random source (seeded per execution so a replay computes the same values).
pub struct Scope<'a> {
    pub input: &'a Value,
    pub context: &'a Value,
    pub variables: Option<&'a Variables>,
    rng: Rng<'a>,
}

/// The random state: owned by the outermost scope, borrowed by the scopes derived from it.
enum Rng<'a> {
    Own(Cell<u64>),
    Shared(&'a Cell<u64>),
}

impl Rng<'_> {
    fn cell(&self) -> &Cell<u64> {
        match self {
            Rng::Own(c) => c,
            Rng::Shared(c) => c,
        }
    }
}

impl<'a> Scope<'a> {
    pub fn new(input: &'a Value, context: &'a Value) -> Self {
        Scope {
            input,
            context,
            variables: None,
            rng: Rng::Own(Cell::new(0x9E37_79B9_7F4A_7C15)),
        }
    }

    /// The same scope for a shorter lifetime, sharing the random source; chain with
    /// [`Scope::with_input`] to evaluate against another `$`.
    pub fn reborrow(&self) -> Scope<'_> {
        Scope {
            input: self.input,
            context: self.context,
            variables: self.variables,
            rng: Rng::Shared(self.rng.cell()),
        }
    }

    /// Replaces `$`.
    pub fn with_input(mut self, input: &'a Value) -> Self {
        self.input = input;
        self
    }

    /// Replaces `$$`.
    pub fn with_context(mut self, context: &'a Value) -> Self {
        self.context = context;
        self
    }

    pub fn with_variables(mut self, vars: &'a Variables) -> Self {
        self.variables = Some(vars);
        self
    }

    pub fn with_seed(self, seed: u64) -> Self {
        self.rng.cell().set(seed ^ 0x9E37_79B9_7F4A_7C15);
        self
    }

    pub fn variable(&self, name: &str) -> Option<&'a Value> {
        self.variables.and_then(|v| v.get(name))
    }

    /// SplitMix64: small, fast and good enough for `MathRandom` and UUIDs.
    pub fn next_u64(&self) -> u64 {
        let cell = self.rng.cell();
        let mut z = cell.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        cell.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `[lo, hi]`; with a seed, the same seed gives the same value.
    pub fn random_between(&self, lo: i64, hi: i64, seed: Option<i64>) -> i64 {
        let r = match seed {
            Some(s) => {
                let tmp = Scope::new(self.input, self.context).with_seed(s as u64);
                tmp.next_u64()
            }
            None => self.next_u64(),
        };
        let span = (hi - lo) as u64 + 1;
        lo + (r % span) as i64
    }

    /// A random (version 4) UUID.
    pub fn uuid(&self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&a.to_be_bytes());
        bytes[8..].copy_from_slice(&b.to_be_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn size_bounds_agree_with_serialisation() {
        for v in [
            json!(null),
            json!({"a": "x\"y\n", "b": [1, 2.5, true]}),
            json!("é\u{1}"),
        ] {
            let n = size(&v);
            assert!(!exceeds(&v, n));
            assert!(exceeds(&v, n - 1));
        }
    }

    #[test]
    fn java_strings() {
        assert_eq!(
            java_to_string(&json!({"a": 1, "b": [1, "x"]})),
            "{a=1, b=[1, x]}"
        );
    }

    #[test]
    fn numeric_equality() {
        assert!(equal(&json!([1, {"a": 2}]), &json!([1.0, {"a": 2.0}])));
        assert!(!equal(&json!(1), &json!(true)));
    }

    #[test]
    fn variables() {
        assert_eq!(split_variable("$x.y"), Some(("x", ".y")));
        assert_eq!(split_variable("$.y"), None);
        assert_eq!(split_variable("$$.y"), None);
    }

    #[test]
    fn uuids_look_right() {
        let v = json!(null);
        let s = Scope::new(&v, &v);
        let u = s.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, s.uuid());
    }
}
