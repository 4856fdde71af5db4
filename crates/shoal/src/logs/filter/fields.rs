//! Space-delimited filter patterns: `[ip, user, ..., status = 4*, bytes > 1000]` name the
//! fields of an event split at spaces (text in "quotes" or [brackets] is one field) and test
//! some of them: `=`/`!=` with text (`*` wildcards) or a `%regex%`, numeric comparisons, and
//! tests of one field joined with `&&` or `||`. `...` stands for any number of fields; without
//! it an event matches only with exactly as many fields as the pattern names.

use super::value::Comparison;

#[derive(Debug, Clone)]
pub struct Fields(Vec<Field>);

#[derive(Debug, Clone)]
enum Field {
    /// `...`
    Rest,
    Named(String, Option<Cond>),
}

#[derive(Debug, Clone)]
enum Cond {
    One(Comparison),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

impl Cond {
    fn holds(&self, field: &str) -> bool {
        match self {
            Cond::One(c) => c.text(field),
            Cond::And(a, b) => a.holds(field) && b.holds(field),
            Cond::Or(a, b) => a.holds(field) || b.holds(field),
        }
    }
}

pub fn parse(t: &str, pattern: &str) -> Result<Fields, String> {
    let bad = |why: &str| format!("Invalid filter pattern '{pattern}': {why}");
    let mut s = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| bad("a space-delimited pattern ends with ]"))?;
    let mut fields = vec![];
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("...") {
            fields.push(Field::Rest);
            s = rest;
        } else {
            let end = s
                .find(|c: char| c.is_whitespace() || "=!<>,".contains(c))
                .unwrap_or(s.len());
            let name = &s[..end];
            if name.is_empty() {
                return Err(bad(&format!("expected a field name at '{s}'")));
            }
            s = s[end..].trim_start();
            let mut cond: Option<Cond> = None;
            let mut join: Option<bool> = None;
            while !s.is_empty() && !s.starts_with(',') {
                let (c, rest) = Comparison::parse(s, pattern, &[',', '&', '|'])?;
                let one = Cond::One(c);
                cond = Some(match (cond, join) {
                    (None, _) => one,
                    (Some(a), Some(true)) => Cond::And(Box::new(a), Box::new(one)),
                    (Some(a), _) => Cond::Or(Box::new(a), Box::new(one)),
                });
                s = rest.trim_start();
                join = if let Some(r) = s.strip_prefix("&&") {
                    s = r;
                    Some(true)
                } else if let Some(r) = s.strip_prefix("||") {
                    s = r;
                    Some(false)
                } else {
                    break;
                };
                // the field's name may be repeated: `status = 4* || status = 5*`
                s = s.trim_start();
                if let Some(r) = s.strip_prefix(name) {
                    s = r;
                }
            }
            fields.push(Field::Named(name.to_string(), cond));
        }
        s = s.trim_start();
        if s.is_empty() {
            break;
        }
        s = s
            .strip_prefix(',')
            .ok_or_else(|| bad(&format!("expected , at '{s}'")))?;
    }
    Ok(Fields(fields))
}

/// An event's fields: split at spaces, with "quoted" and [bracketed] text as one field.
fn split(message: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut s = message.trim_start();
    while !s.is_empty() {
        let close = match s.as_bytes()[0] {
            b'"' => Some('"'),
            b'[' => Some(']'),
            _ => None,
        };
        let (field, rest) = match close.and_then(|c| s[1..].find(c).map(|i| (c, i))) {
            Some((_, i)) => (&s[1..1 + i], &s[i + 2..]),
            None => {
                let end = s.find(char::is_whitespace).unwrap_or(s.len());
                (&s[..end], &s[end..])
            }
        };
        out.push(field);
        s = rest.trim_start();
    }
    out
}

/// Whether an event's fields fit the pattern; `bound` gets the named fields of the first fit.
fn fit<'m>(pattern: &[Field], fields: &[&'m str], bound: &mut Vec<&'m str>) -> bool {
    match pattern.split_first() {
        None => fields.is_empty(),
        Some((Field::Rest, more)) => (0..=fields.len()).any(|k| fit(more, &fields[k..], bound)),
        Some((Field::Named(_, cond), more)) => match fields.split_first() {
            Some((f, rest)) if cond.as_ref().is_none_or(|c| c.holds(f)) => {
                bound.push(f);
                let fits = fit(more, rest, bound);
                if !fits {
                    bound.pop();
                }
                fits
            }
            _ => false,
        },
    }
}

pub fn matches(f: &Fields, message: &str) -> bool {
    fit(&f.0, &split(message), &mut Vec::new())
}

/// Whether the pattern names a field `name`.
pub fn names(f: &Fields, name: &str) -> bool {
    (f.0.iter()).any(|field| matches!(field, Field::Named(n, _) if n == name))
}

/// The named fields of an event that matches, by name.
pub fn bind<'p, 'm>(f: &'p Fields, message: &'m str) -> Option<Vec<(&'p str, &'m str)>> {
    let mut bound = Vec::new();
    if !fit(&f.0, &split(message), &mut bound) {
        return None;
    }
    let named = f.0.iter().filter_map(|field| match field {
        Field::Named(n, _) => Some(n.as_str()),
        Field::Rest => None,
    });
    Some(named.zip(bound).collect())
}

/// The text of the field `name` of an event that matches.
pub fn value<'m>(f: &Fields, message: &'m str, name: &str) -> Option<&'m str> {
    bind(f, message)?
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::super::Filter;
    use super::split;

    #[test]
    fn space_delimited_fields_are_named_and_tested() {
        let line =
            r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
        assert_eq!(split(line)[3], "10/Oct/2000:13:25:15 -0700");
        assert_eq!(split(line).len(), 7);
        for (p, want) in [
            ("[ip, identity, user, time, request, status, bytes]", true),
            ("[ip, identity, user, time, request, status]", false),
            (
                "[ip, identity, user = frank, ..., status = 404, bytes > 1000]",
                true,
            ),
            ("[ip, ..., status = 4* || status = 5*, bytes]", true),
            ("[ip, ..., status >= 400 && status < 404, bytes]", false),
            ("[..., request = *html*, status, bytes]", true),
            ("[ip = 127.0.0.*, ...]", true),
            ("[ip != 127.0.0.*, ...]", false),
            ("[..., bytes = %^15%]", true),
        ] {
            let f = Filter::parse(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_eq!(f.matches(line), want, "{p}");
        }
        for bad in ["[a, b", "[a, = 1]", "[a > x]", "[a = 1 b]"] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }
}
