//! CloudWatch Logs filter patterns over unstructured text: terms that must all appear,
//! `"quoted phrases"`, `?optional` terms of which one must appear, and `-excluded` terms.
//! JSON (`{ $.field = … }`) and space-delimited (`[a, b]`) patterns are refused by name.

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, String> {
        let t = text.trim();
        if t.starts_with('{') || t.starts_with('[') {
            return Err(format!(
                "Invalid filter pattern '{text}': shoal matches terms, \"phrases\", ?optional and -excluded terms; JSON and space-delimited patterns are not supported yet"
            ));
        }
        let mut f = Filter::default();
        let mut chars = t.chars().peekable();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                chars.next();
                continue;
            }
            let mut sign = None;
            if c == '?' || c == '-' {
                sign = Some(c);
                chars.next();
            }
            let mut term = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => term.extend(chars.next()),
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => term.push(c),
                    }
                }
                if !closed {
                    return Err(format!("Invalid filter pattern '{text}': unclosed quote"));
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    term.push(c);
                    chars.next();
                }
            }
            if term.is_empty() {
                continue;
            }
            match sign {
                Some('?') => f.any.push(term),
                Some(_) => f.none.push(term),
                None => f.all.push(term),
            }
        }
        Ok(f)
    }

    pub fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::Filter;

    #[test]
    fn terms_phrases_options_and_exclusions() {
        let f = Filter::parse("REPORT \"Max Memory\"").unwrap();
        assert!(f.matches("REPORT RequestId: 1\tMax Memory Used: 40 MB"));
        assert!(!f.matches("REPORT RequestId: 1"));
        let f = Filter::parse("?ERROR ?WARN -retry").unwrap();
        assert!(f.matches("WARN disk"));
        assert!(!f.matches("INFO ok"));
        assert!(!f.matches("ERROR will retry"));
        assert!(Filter::parse("").unwrap().matches("anything"));
        assert!(Filter::parse("{ $.level = \"ERROR\" }").is_err());
        assert!(Filter::parse("\"open").is_err());
    }
}
