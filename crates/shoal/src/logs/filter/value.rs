//! What filter patterns compare with: numbers, strings (`*` matches any run of characters),
//! and `%regular expressions%`, under `=`, `!=`, `<`, `<=`, `>`, `>=`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
enum Literal {
    Number(f64),
    Text(String),
    Regex(regex::Regex),
}

/// `op value`, one test of a field.
#[derive(Debug, Clone)]
pub struct Comparison {
    op: Op,
    value: Literal,
}

/// Whether `text` matches `glob`, where `*` stands for any run of characters.
fn glob(glob: &str, text: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    if !text.ends_with(last) {
        return false;
    }
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

impl Comparison {
    /// Parses `op value` at the start of `s` (after white space); the value ends at white
    /// space or at one of `stops`. Returns the comparison and what follows it.
    pub fn parse<'a>(
        s: &'a str,
        pattern: &str,
        stops: &[char],
    ) -> Result<(Comparison, &'a str), String> {
        let bad = |why: &str| format!("Invalid filter pattern '{pattern}': {why}");
        let s = s.trim_start();
        let (op, rest) = [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ]
        .iter()
        .find_map(|(t, op)| s.strip_prefix(t).map(|r| (*op, r)))
        .ok_or_else(|| bad(&format!("expected =, !=, <, <=, > or >= at '{s}'")))?;
        let rest = rest.trim_start();
        let (value, rest) = if let Some(r) = rest.strip_prefix('"') {
            let mut text = String::new();
            let mut chars = r.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => text.extend(chars.next().map(|(_, c)| c)),
                    Some((i, '"')) => break i,
                    Some((_, c)) => text.push(c),
                    None => return Err(bad("unclosed quote")),
                }
            };
            (Literal::Text(text), &r[end + 1..])
        } else if let Some(r) = rest.strip_prefix('%') {
            let end = r
                .find('%')
                .ok_or_else(|| bad("unclosed %regular expression%"))?;
            let re = super::regex(&r[..end], pattern)?;
            (Literal::Regex(re), &r[end + 1..])
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || stops.contains(&c))
                .unwrap_or(rest.len());
            let token = &rest[..end];
            if token.is_empty() {
                return Err(bad(&format!("a value is missing after '{s}'")));
            }
            let value = match token.parse::<f64>() {
                Ok(n) => Literal::Number(n),
                Err(_) => Literal::Text(token.to_string()),
            };
            (value, &rest[end..])
        };
        if !matches!(op, Op::Eq | Op::Ne) && !matches!(value, Literal::Number(_)) {
            return Err(bad("<, <=, > and >= compare with numbers"));
        }
        Ok((Comparison { op, value }, rest))
    }

    fn order(&self, n: f64, m: f64) -> bool {
        match self.op {
            Op::Eq => n == m,
            Op::Ne => n != m,
            Op::Lt => n < m,
            Op::Le => n <= m,
            Op::Gt => n > m,
            Op::Ge => n >= m,
        }
    }

    /// Against text: a space-delimited field or a JSON string.
    pub fn text(&self, t: &str) -> bool {
        let equal = match &self.value {
            Literal::Number(m) => match t.trim().parse::<f64>() {
                Ok(n) => return self.order(n, *m),
                Err(_) => false,
            },
            Literal::Text(g) => glob(g, t),
            Literal::Regex(r) => r.is_match(t),
        };
        match self.op {
            Op::Eq => equal,
            Op::Ne => !equal,
            _ => false,
        }
    }

    /// Against a JSON string: text, but never ordered like a number.
    pub fn string(&self, s: &str) -> bool {
        match (&self.value, self.op) {
            (Literal::Number(_), Op::Lt | Op::Le | Op::Gt | Op::Ge) => false,
            _ => self.text(s),
        }
    }

    /// Against a JSON number.
    pub fn number(&self, n: f64, text: &str) -> bool {
        match &self.value {
            Literal::Number(m) => self.order(n, *m),
            _ => self.text(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Comparison {
        Comparison::parse(s, s, &[]).unwrap().0
    }

    #[test]
    fn comparisons_of_numbers_globs_and_regexes() {
        assert!(c("= 404").text("404") && c("> 3").text("3.5") && !c("< 3").text("x"));
        assert!(c("= 4*").text("404") && !c("= 4*").text("500"));
        assert!(c("= *html*").text("GET /index.html HTTP/1.1"));
        assert!(c("!= \"a b\"").text("a c") && c("= \"a b\"").text("a b"));
        assert!(c("= %^ERR(OR)?$%").text("ERR") && c("!= %x%").text("abc"));
        assert!(c(">= 1e3").number(1000.0, "1000"));
        assert!(glob("a*b*c", "aXbYc") && !glob("a*b*c", "acb") && glob("*", ""));
        assert!(!glob("ab*ba", "aba"));
        for bad in ["> abc", "~ 1", "= ", "= \"x", "= %x"] {
            assert!(Comparison::parse(bad, bad, &[]).is_err(), "{bad}");
        }
    }
}
