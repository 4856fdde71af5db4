//! EventBridge's number rule (event-ruler's): a literal is a number only when its decimal value
//! is the double's own shortest decimal — `300`, `300.0` and `3e2` are the same number, while
//! `0.10000000000000000555` (which reads as the double 0.1) and `12345678901234567890` are not
//! numbers at all and only ever equal identical text.

/// The double a literal denotes, when the literal is exactly that double's decimal.
pub fn exact_double(lit: &str) -> Option<f64> {
    let f: f64 = lit.parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    let want = decimal_of_literal(lit)?;
    // Up to 15 significant digits a decimal is always its double's shortest decimal (two such
    // decimals differ by more than the double's spacing); past 17 it never is.
    // (subnormal doubles have fewer digits: those take the long way)
    match want.1.len() {
        0 if f == 0.0 => return Some(0.0),
        1..=15 if f.abs() >= f64::MIN_POSITIVE => return Some(f),
        18.. => return None,
        _ => {}
    }
    // Rust's `{:e}` prints the shortest decimal that reads back as the same double
    let shortest = decimal_of_literal(&format!("{f:e}"))?;
    (want == shortest).then_some(if f == 0.0 { 0.0 } else { f })
}

/// (negative, significant digits, power of ten); zero is (false, "", 0).
type Decimal = (bool, String, i64);

fn normalize(neg: bool, digits: String, mut exp: i64) -> Decimal {
    let trimmed = digits.trim_start_matches('0');
    let mut d = trimmed.to_string();
    while d.ends_with('0') {
        d.pop();
        exp += 1;
    }
    if d.is_empty() {
        return (false, String::new(), 0);
    }
    (neg, d, exp)
}

fn decimal_of_literal(lit: &str) -> Option<Decimal> {
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
    Some(normalize(
        neg,
        format!("{int}{frac}"),
        exp - frac.len() as i64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
