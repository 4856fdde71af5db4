//! `wildcard` patterns: `*` matches any run of characters, `\*` a star, `\\` a backslash.

#[derive(Debug, Clone, PartialEq)]
pub struct Wildcard {
    /// Literal pieces between stars.
    pieces: Vec<String>,
}

impl Wildcard {
    pub fn parse(p: &str) -> Result<Wildcard, String> {
        let mut pieces = vec![String::new()];
        let mut chars = p.chars().enumerate().peekable();
        let mut last_star = false;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, '*')) => pieces.last_mut().map(|s| s.push('*')).unwrap_or(()),
                    Some((_, '\\')) => pieces.last_mut().map(|s| s.push('\\')).unwrap_or(()),
                    _ => return Err(format!("Invalid escape character at pos {}", i + 1)),
                },
                '*' => {
                    if last_star {
                        return Err(format!("Consecutive wildcard characters at pos {i}"));
                    }
                    pieces.push(String::new());
                    last_star = true;
                    continue;
                }
                c => pieces.last_mut().map(|s| s.push(c)).unwrap_or(()),
            }
            last_star = false;
        }
        Ok(Wildcard { pieces })
    }

    pub fn matches(&self, s: &str) -> bool {
        let n = self.pieces.len();
        if n == 1 {
            return s == self.pieces[0];
        }
        let (first, last) = (&self.pieces[0], &self.pieces[n - 1]);
        if !s.starts_with(first.as_str())
            || s.len() < first.len() + last.len()
            || !s.ends_with(last.as_str())
        {
            return false;
        }
        let mut rest = &s[first.len()..s.len() - last.len()];
        for mid in &self.pieces[1..n - 1] {
            match rest.find(mid.as_str()) {
                Some(i) => rest = &rest[i + mid.len()..],
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        let w = Wildcard::parse("a*b*c").unwrap();
        assert!(w.matches("abc") && w.matches("axxbyyc") && !w.matches("acb"));
        assert!(Wildcard::parse("a\\*b").unwrap().matches("a*b"));
        assert!(!Wildcard::parse("a\\*b").unwrap().matches("axb"));
        assert!(Wildcard::parse("a**b").is_err());
        assert!(Wildcard::parse("a\\b").is_err());
        assert!(Wildcard::parse("*").unwrap().matches(""));
        assert!(!Wildcard::parse("ab*ba").unwrap().matches("aba"));
    }
}
