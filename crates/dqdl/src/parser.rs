//! The DQDL grammar (awslabs/dqdl): optional `Metadata` and `DataSources` dictionaries,
//! variables, then `Rules = [...]` and/or `Analyzers = [...]`.

use crate::condition::{Condition, Expr, Op};
use crate::lexer::{tokens, Tok, Token};
use crate::{Check, ParseError, Rule, Ruleset};
use std::collections::BTreeMap;

/// Parses a ruleset; errors name the line and column.
pub fn parse(text: &str) -> Result<Ruleset, ParseError> {
    let toks = tokens(text)?;
    let mut p = Parser {
        toks,
        i: 0,
        text,
        vars: BTreeMap::new(),
    };
    p.document()
}

struct Parser<'a> {
    toks: Vec<Token>,
    i: usize,
    text: &'a str,
    vars: BTreeMap<String, Vec<String>>,
}

/// Words that end a rule's parameter list.
const KEYWORDS: &[&str] = &[
    "between", "in", "not", "matches", "where", "with", "labels", "and", "AND", "or", "OR", "of",
    "OF",
];

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.i + n).map(|t| &t.tok)
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        match self.toks.get(self.i) {
            Some(t) => ParseError::at(t.line, t.column, message),
            None => {
                let line = self.text.lines().count().max(1);
                let column = self.text.lines().last().map_or(0, |l| l.chars().count()) + 1;
                ParseError::at(
                    line,
                    column,
                    format!("{} (at the end of the ruleset)", message.into()),
                )
            }
        }
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.tok.clone());
        self.i += 1;
        t
    }

    fn sym(&mut self, s: &str) -> Result<(), ParseError> {
        if self.peek() == Some(&Tok::Sym(static_sym(s))) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected '{s}'")))
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn document(&mut self) -> Result<Ruleset, ParseError> {
        let mut rs = Ruleset::default();
        let mut saw_rules = false;
        while let Some(tok) = self.peek().cloned() {
            let Tok::Word(name) = tok else {
                return Err(self.error("expected Rules = [ ... ]"));
            };
            self.i += 1;
            self.sym("=")?;
            match name.as_str() {
                "Metadata" => rs.metadata = self.dictionary()?,
                "DataSources" => rs.data_sources = self.dictionary()?,
                "Rules" => {
                    rs.rules = self.list(|p| p.rule())?;
                    saw_rules = true;
                }
                "Analyzers" => {
                    rs.analyzers = self.list(|p| p.check())?;
                    saw_rules = true;
                }
                "DefaultLabels" => {
                    self.labels_list()?;
                }
                var => {
                    let v = match self.next() {
                        Some(Tok::Str(s)) => vec![s],
                        Some(Tok::Sym("[")) => {
                            self.i -= 1;
                            self.list(|p| match p.next() {
                                Some(Tok::Str(s)) => Ok(s),
                                _ => {
                                    p.i -= 1;
                                    Err(p.error("a variable list holds quoted strings"))
                                }
                            })?
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self.error(format!(
                                "variable {var} must be a quoted string or a list of them"
                            )));
                        }
                    };
                    self.vars.insert(var.to_string(), v.clone());
                    rs.variables.insert(var.to_string(), v);
                }
            }
        }
        if !saw_rules {
            return Err(self.error("a ruleset needs Rules = [ ... ] or Analyzers = [ ... ]"));
        }
        Ok(rs)
    }

    /// `[ item, item, ... ]` (possibly empty).
    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        self.sym("[")?;
        let mut out = vec![];
        if self.is_sym("]") {
            self.i += 1;
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            if self.is_sym(",") {
                self.i += 1;
                // a trailing comma before ']' is tolerated
                if self.is_sym("]") {
                    self.i += 1;
                    return Ok(out);
                }
                continue;
            }
            if self.is_sym("]") {
                self.i += 1;
                return Ok(out);
            }
            return Err(self.error("expected ',' or ']' after a rule"));
        }
    }

    fn dictionary(&mut self) -> Result<BTreeMap<String, Vec<String>>, ParseError> {
        self.sym("{")?;
        let mut out = BTreeMap::new();
        while !self.is_sym("}") {
            let Some(Tok::Str(k)) = self.next() else {
                self.i -= 1;
                return Err(self.error("expected a quoted key"));
            };
            self.sym(":")?;
            let v = match self.next() {
                Some(Tok::Str(s)) => vec![s],
                Some(Tok::Sym("[")) => {
                    self.i -= 1;
                    self.list(|p| match p.next() {
                        Some(Tok::Str(s)) => Ok(s),
                        _ => Err(p.error("expected a quoted string")),
                    })?
                }
                _ => {
                    self.i -= 1;
                    return Err(self.error("expected a quoted value"));
                }
            };
            out.insert(k, v);
            if self.is_sym(",") {
                self.i += 1;
            } else if !self.is_sym("}") {
                return Err(self.error("expected ',' or '}'"));
            }
        }
        self.i += 1;
        Ok(out)
    }

    fn labels_list(&mut self) -> Result<BTreeMap<String, String>, ParseError> {
        let pairs = self.list(|p| {
            let Some(Tok::Str(k)) = p.next() else {
                p.i -= 1;
                return Err(p.error("expected a quoted label name"));
            };
            p.sym("=")?;
            let Some(Tok::Str(v)) = p.next() else {
                p.i -= 1;
                return Err(p.error("expected a quoted label value"));
            };
            Ok((k, v))
        })?;
        Ok(pairs.into_iter().collect())
    }

    /// The source text of tokens `from..self.i`, whitespace collapsed.
    fn text_since(&self, from: usize) -> String {
        let (Some(a), Some(b)) = (self.toks.get(from), self.toks.get(self.i.saturating_sub(1)))
        else {
            return String::new();
        };
        let raw = &self.text[a.at..b.end];
        // drop comments inside the span, then collapse whitespace
        raw.lines()
            .map(|l| match l.find('#') {
                Some(h) if !in_string(l, h) => &l[..h],
                _ => l,
            })
            .collect::<Vec<_>>()
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn rule(&mut self) -> Result<Rule, ParseError> {
        let start = self.i;
        if !self.is_sym("(") {
            return Ok(Rule::Check(Box::new(self.check()?)));
        }
        let mut parts = vec![self.group()?];
        let mut op: Option<bool> = None;
        loop {
            let and = match self.peek() {
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("and") => true,
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("or") => false,
                _ => break,
            };
            if op.is_some_and(|o| o != and) {
                return Err(self.error("mixing 'and' and 'or' needs parentheses around each group"));
            }
            op = Some(and);
            self.i += 1;
            if !self.is_sym("(") {
                return Err(self.error("each operand of a composite rule must be in parentheses"));
            }
            parts.push(self.group()?);
        }
        let text = self.text_since(start);
        // a composite may carry labels
        if self.is_word("labels") {
            self.i += 1;
            self.sym("=")?;
            self.labels_list()?;
        }
        Ok(match op {
            None => parts.pop().ok_or_else(|| self.error("empty group"))?,
            Some(true) => Rule::All(parts, text),
            Some(false) => Rule::Any(parts, text),
        })
    }

    fn group(&mut self) -> Result<Rule, ParseError> {
        self.sym("(")?;
        let r = self.rule()?;
        self.sym(")")?;
        Ok(r)
    }

    fn check(&mut self) -> Result<Check, ParseError> {
        let start = self.i;
        let kind = match self.next() {
            Some(Tok::Word(w)) if w.chars().next().is_some_and(|c| c.is_ascii_uppercase()) => w,
            _ => {
                self.i -= 1;
                return Err(self.error("expected a rule type such as RowCount or IsComplete"));
            }
        };
        let mut params = vec![];
        loop {
            match self.peek().cloned() {
                Some(Tok::Str(s)) => {
                    self.i += 1;
                    params.push(s);
                }
                Some(Tok::Var(v)) => {
                    let Some(val) = self.vars.get(&v).map(|l| l.join(",")) else {
                        return Err(self.error(format!("unknown variable ${v}")));
                    };
                    self.i += 1;
                    params.push(val);
                }
                Some(Tok::Word(w))
                    if matches!(w.as_str(), "of" | "OF" | "and" | "AND") && !params.is_empty() =>
                {
                    // connectors between parameters: `ColumnCorrelation "a" and "b"`
                    if matches!(self.peek_at(1), Some(Tok::Str(_)) | Some(Tok::Var(_))) {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                Some(Tok::Word(w)) if !KEYWORDS.contains(&w.as_str()) => {
                    self.i += 1;
                    params.push(w);
                }
                _ => break,
            }
        }
        let condition = self.condition_opt()?;
        let mut filter = None;
        let mut threshold = None;
        let mut labels = BTreeMap::new();
        loop {
            if self.is_word("where") {
                self.i += 1;
                match self.next() {
                    Some(Tok::Str(s)) => filter = Some(s),
                    _ => {
                        self.i -= 1;
                        return Err(self.error("where takes a quoted SQL condition"));
                    }
                }
            } else if self.is_word("with") {
                self.i += 1;
                match self.next() {
                    Some(Tok::Word(w)) if w == "threshold" => {}
                    _ => {
                        self.i -= 1;
                        return Err(self.error("expected 'threshold' after 'with'"));
                    }
                }
                threshold =
                    Some(self.condition_opt()?.ok_or_else(|| {
                        self.error("expected a condition after 'with threshold'")
                    })?);
            } else if self.is_word("labels") {
                self.i += 1;
                self.sym("=")?;
                labels = self.labels_list()?;
            } else {
                break;
            }
        }
        Ok(Check {
            kind,
            params,
            condition,
            filter,
            threshold,
            labels,
            text: self.text_since(start),
        })
    }

    fn condition_opt(&mut self) -> Result<Option<Condition>, ParseError> {
        let negated = if self.is_word("not") {
            self.i += 1;
            true
        } else {
            false
        };
        let c = match self.peek().cloned() {
            Some(Tok::Sym(s @ ("=" | "!=" | ">" | ">=" | "<" | "<="))) if !negated => {
                self.i += 1;
                let op = match s {
                    "=" => Op::Eq,
                    "!=" => Op::Ne,
                    ">" => Op::Gt,
                    ">=" => Op::Ge,
                    "<" => Op::Lt,
                    _ => Op::Le,
                };
                Condition::Compare(op, self.expr()?)
            }
            Some(Tok::Word(w)) if w == "between" => {
                self.i += 1;
                let low = self.expr()?;
                if !(self.is_word("and") || self.is_word("AND")) {
                    return Err(self.error("expected 'and' in between ... and ..."));
                }
                self.i += 1;
                let high = self.expr()?;
                Condition::Between { low, high, negated }
            }
            Some(Tok::Word(w)) if w == "in" => {
                self.i += 1;
                let items = if let Some(Tok::Var(v)) = self.peek().cloned() {
                    self.i += 1;
                    self.vars
                        .get(&v)
                        .ok_or_else(|| self.error(format!("unknown variable ${v}")))?
                        .iter()
                        .map(|s| Expr::Str(s.clone()))
                        .collect()
                } else {
                    self.list(|p| p.expr())?
                };
                Condition::In { items, negated }
            }
            Some(Tok::Word(w)) if w == "matches" => {
                self.i += 1;
                match self.next() {
                    Some(Tok::Str(pattern)) => Condition::Matches { pattern, negated },
                    _ => {
                        self.i -= 1;
                        return Err(self.error("matches takes a quoted regular expression"));
                    }
                }
            }
            _ if negated => return Err(self.error("expected between, in or matches after 'not'")),
            _ => return Ok(None),
        };
        Ok(Some(c))
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.term()?;
        while let Some(Tok::Sym(s @ ("+" | "-"))) = self.peek().cloned() {
            self.i += 1;
            let r = self.term()?;
            e = Expr::Binary(Box::new(e), s.chars().next().unwrap_or('+'), Box::new(r));
        }
        Ok(e)
    }

    fn term(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.factor()?;
        while let Some(Tok::Sym(s @ ("*" | "/"))) = self.peek().cloned() {
            self.i += 1;
            let r = self.factor()?;
            e = Expr::Binary(Box::new(e), s.chars().next().unwrap_or('*'), Box::new(r));
        }
        Ok(e)
    }

    fn factor(&mut self) -> Result<Expr, ParseError> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(self.unit(n)),
            Some(Tok::Sym("-")) => match self.next() {
                Some(Tok::Num(n)) => Ok(self.unit(-n)),
                _ => {
                    self.i -= 1;
                    Err(self.error("expected a number after '-'"))
                }
            },
            Some(Tok::Str(s)) => Ok(Expr::Str(s)),
            Some(Tok::Sym("(")) => {
                let e = self.expr()?;
                self.sym(")")?;
                Ok(e)
            }
            Some(Tok::Word(w)) => match w.as_str() {
                "NULL" | "null" => Ok(Expr::Null),
                "EMPTY" | "empty" => Ok(Expr::Empty),
                "WHITESPACES_ONLY" | "whitespaces_only" => Ok(Expr::WhitespacesOnly),
                "now" => {
                    self.sym("(")?;
                    self.sym(")")?;
                    Ok(Expr::Now)
                }
                f if self.is_sym("(") => {
                    self.i += 1;
                    let mut args = vec![];
                    while !self.is_sym(")") {
                        args.push(self.expr()?);
                        if self.is_sym(",") {
                            self.i += 1;
                        }
                    }
                    self.i += 1;
                    Ok(Expr::Call(f.to_string(), args))
                }
                other => {
                    self.i -= 1;
                    Err(self.error(format!("unexpected '{other}' in a condition")))
                }
            },
            _ => {
                self.i = self.i.saturating_sub(1);
                Err(self.error("expected a value"))
            }
        }
    }

    /// `3 days`, `24 hours`, `30 minutes` as seconds; sizes (`10 MB`) as bytes.
    fn unit(&mut self, n: f64) -> Expr {
        let mult = match self.peek() {
            Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "days" | "day" => Some(86400.0),
                "hours" | "hour" => Some(3600.0),
                "minutes" | "minute" => Some(60.0),
                "b" => Some(1.0),
                "kb" => Some(1024.0),
                "mb" => Some(1024.0 * 1024.0),
                "gb" => Some(1024.0 * 1024.0 * 1024.0),
                "tb" => Some(1024.0f64.powi(4)),
                _ => None,
            },
            _ => None,
        };
        match mult {
            Some(m) => {
                let is_time = matches!(self.peek(), Some(Tok::Word(w)) if w.to_ascii_lowercase().starts_with(['d', 'h', 'm']) && !w.eq_ignore_ascii_case("mb"));
                self.i += 1;
                if is_time {
                    Expr::Duration(n * m)
                } else {
                    Expr::Num(n * m)
                }
            }
            None => Expr::Num(n),
        }
    }
}

fn static_sym(s: &str) -> &'static str {
    match s {
        "=" => "=",
        "[" => "[",
        "]" => "]",
        "(" => "(",
        ")" => ")",
        "{" => "{",
        "}" => "}",
        ":" => ":",
        "," => ",",
        _ => "?",
    }
}

/// Whether byte `at` of `line` is inside a quoted string.
fn in_string(line: &str, at: usize) -> bool {
    let mut inside = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if i >= at {
            break;
        }
        match c {
            '\\' if inside => escaped = !escaped,
            '"' if !escaped => inside = !inside,
            _ => escaped = false,
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_with_comments_where_threshold_and_labels() {
        let rs = parse(
            r#"
            # a comment
            valid = ["US", "CA"]
            Rules = [
                RowCount between 10 and 100, # trailing comment
                ColumnValues "country" in $valid where "year > 2020",
                ColumnValues "age" > 21 with threshold > 0.9 labels = ["team" = "data"],
                (IsComplete "a") and (IsUnique "b") and (ColumnExists "c"),
                CustomSql "select count(*) from primary" > 0,
                DataFreshness "updated" <= 24 hours,
                ColumnValues "d" <= (now() - 3 days),
                # last comment before the bracket
            ]"#,
        )
        .unwrap();
        assert_eq!(rs.rules.len(), 7);
        let Rule::Check(c) = &rs.rules[1] else {
            panic!()
        };
        assert_eq!(c.filter.as_deref(), Some("year > 2020"));
        assert!(matches!(&c.condition, Some(Condition::In { items, .. }) if items.len() == 2));
        let Rule::Check(c) = &rs.rules[2] else {
            panic!()
        };
        assert!(c.threshold.is_some());
        assert_eq!(c.labels["team"], "data");
        let Rule::All(parts, text) = &rs.rules[3] else {
            panic!()
        };
        assert_eq!(parts.len(), 3);
        assert_eq!(
            text,
            r#"(IsComplete "a") and (IsUnique "b") and (ColumnExists "c")"#
        );
        assert_eq!(rs.rules[0].text(), "RowCount between 10 and 100");
        let Rule::Check(c) = &rs.rules[5] else {
            panic!()
        };
        assert_eq!(
            c.condition,
            Some(Condition::Compare(Op::Le, Expr::Duration(86400.0)))
        );
    }

    #[test]
    fn the_seed_rulesets_parse() {
        for (f, n) in [
            ("silver-posts.dqdl", 27),
            ("silver-statistics_pages.dqdl", 20),
        ] {
            let path = format!(
                "{}/../../../shared/fixtures/amazonwebshark/dqdl/{f}",
                env!("CARGO_MANIFEST_DIR")
            );
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("{path} is missing ({e}): the tests read ../shared beside the repository")
            });
            let rs = parse(&text).unwrap();
            assert_eq!(rs.rules.len(), n, "{f}");
        }
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("Rules = [\n  RowCount >\n]").unwrap_err();
        assert_eq!((e.line, e.column), (3, 1), "{e}");
        let e = parse("Rules = [ (IsComplete \"a\") and IsUnique \"b\" ]").unwrap_err();
        assert!(e.message.contains("parentheses"), "{e}");
        let e = parse("Rules = [ ColumnValues \"a\" in $nope ]").unwrap_err();
        assert!(e.message.contains("unknown variable"), "{e}");
        let e = parse("Rules = [ RowCount > 1 RowCount > 2 ]").unwrap_err();
        assert!(e.message.contains("expected ',' or ']'"), "{e}");
        assert!(parse("Rules = [ ]").unwrap().rules.is_empty());
        assert!(parse("Rulez = [ ]").is_err());
        let e = parse("Rules = [ ColumnValues \"a\" = \"x ]").unwrap_err();
        assert!(e.message.contains("unterminated"), "{e}");
    }
}
