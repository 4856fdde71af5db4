//! CloudWatch Logs filter patterns, in their three forms:
//! - over unstructured text: terms that must all appear, `"quoted phrases"`, `?optional`
//!   terms of which one must appear, `-excluded` terms, and `%regular expressions%`;
//! - over JSON events, `{ $.selector op value && … || … }` ([`json`]);
//! - over space-delimited events, `[field, field = value, ..., field > 3]` ([`fields`]).
//!
//! Matching is case-sensitive, as on AWS. A pattern that does not parse is refused with the
//! place it went wrong.

mod fields;
mod json;
mod value;

/// A parsed filter pattern.
#[derive(Debug, Clone)]
pub enum Filter {
    Terms(Terms),
    Json(json::Expr),
    Fields(fields::Fields),
}

/// A value of the events a pattern matches (see [`Filter::selector`]).
#[derive(Debug, Clone)]
pub enum Selector {
    Json(Vec<json::Step>),
    Field(String),
}

/// Terms over unstructured text.
#[derive(Debug, Clone, Default)]
pub struct Terms {
    all: Vec<Term>,
    any: Vec<Term>,
    none: Vec<Term>,
}

#[derive(Debug, Clone)]
enum Term {
    Text(String),
    Regex(regex::Regex),
}

impl Term {
    fn found_in(&self, message: &str) -> bool {
        match self {
            Term::Text(t) => message.contains(t.as_str()),
            Term::Regex(r) => r.is_match(message),
        }
    }
}

/// A `%regex%` of a filter pattern.
fn regex(body: &str, pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(body).map_err(|e| {
        format!("Invalid filter pattern '{pattern}': bad regular expression %{body}%: {e}")
    })
}

impl Filter {
    pub fn parse(text: &str) -> Result<Filter, String> {
        let t = text.trim();
        if t.starts_with('{') {
            return json::parse(t, text).map(Filter::Json);
        }
        if t.starts_with('[') {
            return fields::parse(t, text).map(Filter::Fields);
        }
        terms(t, text).map(Filter::Terms)
    }

    /// Checks that `selector` names a value of the events this pattern matches: `$.path` in
    /// a JSON pattern, `$field` of a space-delimited pattern's fields.
    pub fn selector(&self, selector: &str) -> Result<Selector, String> {
        let none = || {
            format!(
                "'{selector}' is not a field of the filter pattern: use $.path with a JSON \
                 pattern, $name with a space-delimited pattern naming it"
            )
        };
        match self {
            Filter::Json(_) => json::selector(selector).map(Selector::Json),
            Filter::Fields(f) => match selector.strip_prefix('$') {
                Some(name) if fields::names(f, name) => Ok(Selector::Field(name.to_string())),
                _ => Err(none()),
            },
            Filter::Terms(_) => Err(none()),
        }
    }

    /// The text a selector picks from an event that matches.
    pub fn value(&self, message: &str, selector: &Selector) -> Option<String> {
        match (self, selector) {
            (Filter::Json(_), Selector::Json(steps)) => json::value(message, steps),
            (Filter::Fields(f), Selector::Field(name)) => {
                fields::value(f, message, name).map(String::from)
            }
            _ => None,
        }
    }

    /// The fields a pattern names, as they are in an event that matches (TestMetricFilter's
    /// `extractedValues`): `$.path` of a JSON pattern's selectors, `$name` of a space-delimited
    /// pattern's fields.
    pub fn fields(&self, message: &str) -> std::collections::BTreeMap<String, String> {
        match self {
            Filter::Json(e) => (json::selectors(e).into_iter())
                .filter_map(|(text, steps)| Some((text, json::value(message, steps)?)))
                .collect(),
            Filter::Fields(f) => (fields::bind(f, message).into_iter().flatten())
                .map(|(n, v)| (format!("${n}"), v.to_string()))
                .collect(),
            Filter::Terms(_) => Default::default(),
        }
    }

    pub fn matches(&self, message: &str) -> bool {
        match self {
            Filter::Terms(t) => {
                t.all.iter().all(|x| x.found_in(message))
                    && (t.any.is_empty() || t.any.iter().any(|x| x.found_in(message)))
                    && !t.none.iter().any(|x| x.found_in(message))
            }
            Filter::Json(e) => json::matches(e, message),
            Filter::Fields(f) => fields::matches(f, message),
        }
    }
}

fn terms(t: &str, pattern: &str) -> Result<Terms, String> {
    let mut f = Terms::default();
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
        let term = match chars.peek() {
            Some('"') => {
                chars.next();
                let mut text = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => text.extend(chars.next()),
                        '"' => {
                            closed = true;
                            break;
                        }
                        c => text.push(c),
                    }
                }
                if !closed {
                    return Err(format!(
                        "Invalid filter pattern '{pattern}': unclosed quote"
                    ));
                }
                Term::Text(text)
            }
            Some('%') => {
                chars.next();
                let body: String = chars.by_ref().take_while(|c| *c != '%').collect();
                Term::Regex(regex(&body, pattern)?)
            }
            _ => {
                let mut text = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    text.push(c);
                    chars.next();
                }
                Term::Text(text)
            }
        };
        if matches!(&term, Term::Text(t) if t.is_empty()) {
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

#[cfg(test)]
mod tests {
    use super::Filter;

    #[test]
    fn terms_phrases_options_exclusions_and_regexes() {
        let f = Filter::parse("REPORT \"Max Memory\"").unwrap();
        assert!(f.matches("REPORT RequestId: 1\tMax Memory Used: 40 MB"));
        assert!(!f.matches("REPORT RequestId: 1"));
        let f = Filter::parse("?ERROR ?WARN -retry").unwrap();
        assert!(f.matches("WARN disk"));
        assert!(!f.matches("INFO ok"));
        assert!(!f.matches("ERROR will retry"));
        assert!(Filter::parse("").unwrap().matches("anything"));
        assert!(Filter::parse("\"open").is_err());
        let f = Filter::parse("%Duration: [0-9]{4,}%").unwrap();
        assert!(f.matches("REPORT Duration: 1234.5 ms"));
        assert!(!f.matches("REPORT Duration: 12.5 ms"));
        assert!(Filter::parse("%(%").is_err());
    }
}
