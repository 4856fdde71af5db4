//! A composite alarm's `AlarmRule`: `ALARM(x)`, `OK(x)` and `INSUFFICIENT_DATA(x)` over other
//! alarms (by name or ARN, quoted or not), `TRUE`, `FALSE`, `NOT`, `AND`, `OR` and parentheses,
//! with AWS's precedence (NOT, then AND, then OR). Parsing and evaluation are pure.

/// The most characters a rule may hold, as on AWS.
pub const MAX_RULE: usize = 10_240;

#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    Const(bool),
    /// The named alarm is in this state.
    In {
        state: &'static str,
        alarm: String,
    },
    Not(Box<Rule>),
    And(Box<Rule>, Box<Rule>),
    Or(Box<Rule>, Box<Rule>),
}

const STATES: [&str; 3] = ["ALARM", "OK", "INSUFFICIENT_DATA"];

impl Rule {
    /// Parses a rule; the error says where it went wrong.
    pub fn parse(text: &str) -> Result<Rule, String> {
        if text.len() > MAX_RULE {
            return Err(format!(
                "AlarmRule is {} characters long; the most is {MAX_RULE}",
                text.len()
            ));
        }
        let mut p = Parser { s: text, at: 0 };
        let rule = p.or()?;
        p.ws();
        if p.at != text.len() {
            return Err(p.error("an operator (AND, OR) or the end of the rule"));
        }
        Ok(rule)
    }

    /// Whether the rule holds, given each alarm's state (`None`: no such alarm, in no state).
    pub fn holds(&self, state_of: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            Rule::Const(b) => *b,
            Rule::In { state, alarm } => state_of(alarm).as_deref() == Some(*state),
            Rule::Not(r) => !r.holds(state_of),
            Rule::And(a, b) => a.holds(state_of) && b.holds(state_of),
            Rule::Or(a, b) => a.holds(state_of) || b.holds(state_of),
        }
    }

    /// The alarms the rule names (names, or the name at the end of an ARN).
    pub fn alarms(&self) -> Vec<&str> {
        match self {
            Rule::Const(_) => Vec::new(),
            Rule::In { alarm, .. } => vec![alarm.as_str()],
            Rule::Not(r) => r.alarms(),
            Rule::And(a, b) | Rule::Or(a, b) => {
                let mut v = a.alarms();
                v.extend(b.alarms());
                v
            }
        }
    }
}

/// An alarm named in a rule by name or by ARN: its name.
pub fn alarm_name(reference: &str) -> &str {
    match reference.strip_prefix("arn:") {
        Some(_) => reference.rsplit(":alarm:").next().unwrap_or(reference),
        None => reference,
    }
}

struct Parser<'a> {
    s: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        let rest = &self.s[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    fn error(&self, wanted: &str) -> String {
        let found: String = self.s[self.at..].chars().take(20).collect();
        if found.is_empty() {
            format!("AlarmRule ended where {wanted} was expected")
        } else {
            format!(
                "AlarmRule has '{found}' at character {} where {wanted} was expected",
                self.at + 1
            )
        }
    }

    /// Takes `word` when it comes next as a whole word.
    fn keyword(&mut self, word: &str) -> bool {
        self.ws();
        let rest = &self.s[self.at..];
        let whole = rest.starts_with(word)
            && !rest[word.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if whole {
            self.at += word.len();
        }
        whole
    }

    fn or(&mut self) -> Result<Rule, String> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            left = Rule::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Rule, String> {
        let mut left = self.not()?;
        while self.keyword("AND") {
            left = Rule::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Rule, String> {
        if self.keyword("NOT") {
            return Ok(Rule::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Rule, String> {
        self.ws();
        if self.s[self.at..].starts_with('(') {
            self.at += 1;
            let r = self.or()?;
            self.ws();
            if !self.s[self.at..].starts_with(')') {
                return Err(self.error("')'"));
            }
            self.at += 1;
            return Ok(r);
        }
        if self.keyword("TRUE") {
            return Ok(Rule::Const(true));
        }
        if self.keyword("FALSE") {
            return Ok(Rule::Const(false));
        }
        for state in STATES {
            if self.keyword(state) {
                self.ws();
                if !self.s[self.at..].starts_with('(') {
                    return Err(self.error(&format!("'(' after {state}")));
                }
                self.at += 1;
                let alarm = self.reference()?;
                return Ok(Rule::In { state, alarm });
            }
        }
        Err(self.error("ALARM(...), OK(...), INSUFFICIENT_DATA(...), TRUE, FALSE, NOT or '('"))
    }

    /// An alarm's name or ARN, quoted or not, and the ')' after it.
    fn reference(&mut self) -> Result<String, String> {
        self.ws();
        let rest = &self.s[self.at..];
        let (name, used) = if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').ok_or_else(|| self.error("a closing '\"'"))?;
            (q[..end].to_string(), end + 2)
        } else {
            let end = rest.find(')').unwrap_or(rest.len());
            (rest[..end].trim().to_string(), end)
        };
        if name.is_empty() {
            return Err(self.error("an alarm's name or ARN"));
        }
        self.at += used;
        self.ws();
        if !self.s[self.at..].starts_with(')') {
            return Err(self.error("')'"));
        }
        self.at += 1;
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(rule: &str, states: &[(&str, &str)]) -> bool {
        let states: Vec<(String, String)> = states
            .iter()
            .map(|(a, s)| (a.to_string(), s.to_string()))
            .collect();
        Rule::parse(rule).unwrap().holds(&|name: &str| {
            states
                .iter()
                .find(|(a, _)| a == alarm_name(name))
                .map(|(_, s)| s.clone())
        })
    }

    #[test]
    fn operators_and_precedence() {
        let s = [
            ("cpu", "ALARM"),
            ("disk", "OK"),
            ("net", "INSUFFICIENT_DATA"),
        ];
        assert!(holds(r#"ALARM("cpu")"#, &s));
        assert!(holds("ALARM(cpu) AND OK(disk)", &s));
        assert!(!holds(r#"ALARM("cpu") AND ALARM("disk")"#, &s));
        assert!(holds(r#"ALARM("disk") OR INSUFFICIENT_DATA("net")"#, &s));
        // NOT binds tighter than AND, AND tighter than OR
        assert!(holds(r#"NOT ALARM("disk") AND ALARM("cpu")"#, &s));
        assert!(holds(
            r#"ALARM("cpu") OR ALARM("disk") AND ALARM("net")"#,
            &s
        ));
        assert!(!holds(
            r#"(ALARM("cpu") OR ALARM("disk")) AND ALARM("net")"#,
            &s
        ));
        assert!(holds(
            r#"ALARM("arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu")"#,
            &s
        ));
        // an alarm that does not exist is in no state
        assert!(!holds(r#"ALARM("gone") OR OK("gone")"#, &s));
        assert!(holds("TRUE AND NOT FALSE", &s));
        assert_eq!(
            Rule::parse(r#"ALARM("a") OR OK(b)"#).unwrap().alarms(),
            ["a", "b"]
        );
    }

    #[test]
    fn errors_say_where() {
        for (rule, want) in [
            (r#"ALARM("a") AN OK("b")"#, "character 12"),
            (r#"ALARM("a""#, "')'"),
            ("ALARM()", "alarm's name"),
            ("(TRUE", "ended"),
            ("MAYBE(a)", "character 1"),
            (r#"ALARMS("a")"#, "character 1"),
        ] {
            let e = Rule::parse(rule).unwrap_err();
            assert!(e.contains(want), "{rule}: {e}");
        }
        assert!(Rule::parse(&"TRUE OR ".repeat(2000)).is_err());
    }
}
