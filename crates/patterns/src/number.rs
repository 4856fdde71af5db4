//! EventBridge's number rule (event-ruler's): a literal is a number only when its decimal value
//! is the double's own shortest decimal — `300`, `300.0` and `3e2` are the same number, while
//! `0.10000000000000000555` (which reads as the double 0.1) and `12345678901234567890` are not
//! numbers at all and only ever equal identical text.

/// The double a literal denotes, when the literal is exactly that double's decimal. Runs for
/// every number a rule looks at, so it allocates nothing.
pub fn exact_double(lit: &str) -> Option<f64> {
    let f: f64 = lit.parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    let want = Decimal::of(lit)?;
    // Up to 15 significant digits a decimal is always its double's shortest decimal (two such
    // decimals differ by more than the double's spacing); past 17 it never is.
    // (subnormal doubles have fewer digits: those take the long way)
    match want.len {
        0 if f == 0.0 => return Some(0.0),
        1..=15 if f.abs() >= f64::MIN_POSITIVE => return Some(f),
        18.. => return None,
        _ => {}
    }
    // Rust's `{:e}` prints the shortest decimal that reads back as the same double (a tie
    // between two goes up: ryu, which goes to even, would change answers), here into a buffer
    // on the stack
    let mut buf = Stack::default();
    std::fmt::write(&mut buf, format_args!("{f:e}")).ok()?;
    let shortest = Decimal::of(buf.text()?)?;
    (want == shortest).then_some(if f == 0.0 { 0.0 } else { f })
}

/// Room for any double's `{:e}` (at most 17 digits, a sign, a point and `e-324`).
#[derive(Default)]
struct Stack {
    bytes: [u8; 32],
    len: usize,
}

impl Stack {
    fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes[..self.len]).ok()
    }
}

impl std::fmt::Write for Stack {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.bytes
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Digits kept of a decimal: more than 17 significant digits are never a double's shortest.
const KEPT: usize = 18;

/// A decimal as its significant digits (no leading or trailing zeros) and the power of ten of
/// the last one; zero has no digits. Digits past [`KEPT`] are counted, not kept.
#[derive(Debug, PartialEq)]
struct Decimal {
    neg: bool,
    digits: [u8; KEPT],
    len: usize,
    exp: i64,
}

impl Decimal {
    /// Reads a literal in one pass over its bytes.
    fn of(lit: &str) -> Option<Decimal> {
        let b = lit.as_bytes();
        let neg = b.first() == Some(&b'-');
        let mut d = Decimal {
            neg,
            digits: [0; KEPT],
            len: 0,
            exp: 0,
        };
        // zeros after the last other digit: trailing unless another digit follows
        let mut zeros = 0usize;
        let mut frac = 0i64;
        let mut dot = false;
        for (i, &c) in b.iter().enumerate().skip(usize::from(neg)) {
            match c {
                b'0'..=b'9' => {
                    frac += i64::from(dot);
                    if c == b'0' {
                        // leading zeros are not significant
                        zeros += usize::from(d.len > 0);
                        continue;
                    }
                    for _ in 0..zeros {
                        d.push(b'0');
                    }
                    zeros = 0;
                    d.push(c);
                }
                b'.' if !dot => dot = true,
                b'e' | b'E' => {
                    d.exp = lit[i + 1..].parse::<i64>().ok()?;
                    break;
                }
                _ => return None,
            }
        }
        if d.len == 0 {
            return Some(Decimal {
                neg: false,
                exp: 0,
                ..d
            });
        }
        d.exp = d.exp - frac + zeros as i64;
        Some(d)
    }

    fn push(&mut self, digit: u8) {
        if let Some(slot) = self.digits.get_mut(self.len) {
            *slot = digit;
        }
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rule as first written: decimals as strings, the shortest decimal from `{:e}`.
    fn reference(lit: &str) -> Option<f64> {
        fn decimal(lit: &str) -> Option<(bool, String, i64)> {
            let (neg, rest) = match lit.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, lit),
            };
            let (mantissa, exp) = match rest.find(['e', 'E']) {
                Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
                None => (rest, 0),
            };
            let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
            if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
                return None;
            }
            let mut d = format!("{int}{frac}").trim_start_matches('0').to_string();
            let mut exp = exp - frac.len() as i64;
            while d.ends_with('0') {
                d.pop();
                exp += 1;
            }
            Some(if d.is_empty() {
                (false, d, 0)
            } else {
                (neg, d, exp)
            })
        }
        let f: f64 = lit.parse().ok()?;
        if !f.is_finite() {
            return None;
        }
        let want = decimal(lit)?;
        if want.1.len() > 17 {
            return None;
        }
        let shortest = decimal(&format!("{f:e}"))?;
        (want == shortest).then_some(if f == 0.0 { 0.0 } else { f })
    }

    proptest! {
        /// The allocation-free rule answers what the first one did, on doubles printed every
        /// way and on decimals near them.
        #[test]
        fn the_fast_rule_is_the_reference_rule(
            x in any::<f64>(),
            digits in "-?[0-9]{1,19}(\\.[0-9]{1,19})?([eE][-+]?[0-9]{1,3})?",
        ) {
            for lit in [format!("{x}"), format!("{x:e}"), format!("{x:.3}"), format!("{x:.17e}"), digits] {
                prop_assert_eq!(exact_double(&lit), reference(&lit), "{}", lit);
            }
        }
    }

    #[test]
    fn exactness() {
        assert_eq!(exact_double("300"), Some(300.0));
        assert_eq!(exact_double("3e2"), Some(300.0));
        assert_eq!(exact_double("300.0"), Some(300.0));
        assert_eq!(exact_double("0.5"), Some(0.5));
        assert_eq!(exact_double("-0"), Some(0.0));
        assert_eq!(exact_double("0.1"), Some(0.1));
        assert_eq!(exact_double("0.10000000000000000555"), None);
        assert_eq!(exact_double("12345678901234567890"), None);
        assert_eq!(exact_double("9007199254740992"), Some(9007199254740992.0));
        assert_eq!(exact_double("5e+300"), Some(5e300));
        assert_eq!(exact_double("27.807807921694092"), Some(27.807807921694092));
        // the double is 1397039239655742.25: of the two shortest decimals, the upper one
        assert_eq!(exact_double("1397039239655742.3"), Some(1397039239655742.3));
        assert_eq!(exact_double("1397039239655742.2"), None);
        assert_eq!(exact_double("1e-320"), Some(1e-320));
        assert_eq!(
            exact_double("1E-325"),
            None,
            "reads as 0, which is not its value"
        );
        assert_eq!(
            exact_double("1.2345678e-320"),
            None,
            "a subnormal keeps fewer digits"
        );
    }
}
