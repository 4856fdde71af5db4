//! The Logs Insights query language, parsed: commands joined by `|` — `fields`, `display`,
//! `filter`, `parse`, `dedup`, `sort`, `limit` and `stats` — over expressions with fields (`@message`,
//! `level`, `user.id`, `` `odd name` ``), numbers, strings, comparisons, `like` (a `/regex/`
//! or a substring), `in [...]`, `and`, `or`, `not`, and `ispresent(field)`.

/// A parse error with where it is (character offsets in the query).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryError {
    pub message: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `fields a, b as c`: what each result shows (and names for later commands).
    Fields(Vec<(Expr, String)>),
    /// `display a, b`: what each result shows, at the end.
    Display(Vec<String>),
    Filter(Expr),
    /// `parse [field] "glob * with *" as a, b` or `parse [field] /(?<a>re)/`: fields taken
    /// from a field's text (the regex's groups, by position or by name).
    Parse {
        field: String,
        regex: Pattern,
        names: Vec<String>,
    },
    /// `dedup a, b`: the first record of each combination of their values.
    Dedup(Vec<String>),
    /// `sort a desc, b`: `true` for descending.
    Sort(Vec<(String, bool)>),
    Limit(usize),
    Stats {
        aggregates: Vec<(Aggregate, String)>,
        by: Vec<(GroupBy, String)>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Aggregate {
    /// `count()`, `count(*)`: events; `count(field)`: events where it is present.
    Count(Option<String>),
    Sum(String),
    Avg(String),
    Min(String),
    Max(String),
    /// `pct(field, 95)`: the value below which that percentage of the values lie.
    Pct(String, f64),
    CountDistinct(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum GroupBy {
    Field(String),
    /// `bin(5m)`: `@timestamp` rounded down to a multiple of this many milliseconds.
    Bin(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Field(String),
    Number(f64),
    Text(String),
    Compare(Box<Expr>, Op, Box<Expr>),
    /// `x like /re/` (`regex`) or `x like "text"` (a substring); `=~` is `like`.
    Like(Box<Expr>, Pattern),
    In(Box<Expr>, Vec<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    IsPresent(String),
}

#[derive(Debug, Clone)]
pub enum Pattern {
    Regex(regex::Regex),
    Text(String),
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        match (self, other) {
            (Pattern::Regex(a), Pattern::Regex(b)) => a.as_str() == b.as_str(),
            (Pattern::Text(a), Pattern::Text(b)) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Field(String),
    Number(f64),
    Text(String),
    Regex(String),
    Sym(&'static str),
}

/// Tokens with the character offsets they span.
fn tokens(q: &str) -> Result<Vec<(Token, usize, usize)>, QueryError> {
    let chars: Vec<char> = q.chars().collect();
    let err = |message: String, start: usize, end: usize| QueryError {
        message,
        start,
        end,
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            // a comment, to the end of the line
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let quoted = |close: char, i: &mut usize| -> Result<String, QueryError> {
            let mut s = String::new();
            *i += 1;
            while *i < chars.len() && chars[*i] != close {
                if chars[*i] == '\\' && *i + 1 < chars.len() {
                    *i += 1;
                    if close == '/' && chars[*i] != '/' {
                        s.push('\\');
                    }
                }
                s.push(chars[*i]);
                *i += 1;
            }
            if *i >= chars.len() {
                return Err(err(format!("{close} is not closed"), start, chars.len()));
            }
            *i += 1;
            Ok(s)
        };
        let token = match c {
            '\'' | '"' => Token::Text(quoted(c, &mut i)?),
            '`' => Token::Field(quoted('`', &mut i)?),
            '/' => Token::Regex(quoted('/', &mut i)?),
            c if c.is_ascii_digit() => {
                let mut j = i;
                while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                // a number with a unit (`5m`) is a word: bin() reads it
                if j < chars.len() && chars[j].is_ascii_alphabetic() {
                    while j < chars.len() && chars[j].is_ascii_alphanumeric() {
                        j += 1;
                    }
                    i = j;
                    Token::Word(chars[start..j].iter().collect())
                } else {
                    i = j;
                    Token::Number(
                        text.parse()
                            .map_err(|_| err(format!("'{text}' is not a number"), start, j))?,
                    )
                }
            }
            c if c.is_alphabetic() || c == '@' || c == '_' || c == '$' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_alphanumeric() || "_.@$-".contains(chars[j]))
                {
                    j += 1;
                }
                i = j;
                Token::Word(chars[start..j].iter().collect())
            }
            _ => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let sym = ["!=", "<=", ">=", "=~"]
                    .into_iter()
                    .find(|s| *s == two)
                    .or_else(|| {
                        ["|", ",", "(", ")", "[", "]", "=", "<", ">", "*", "!"]
                            .into_iter()
                            .find(|s| s.starts_with(c))
                    })
                    .ok_or_else(|| err(format!("unexpected '{c}'"), i, i + 1))?;
                i += sym.chars().count();
                Token::Sym(sym)
            }
        };
        out.push((token, start, i));
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Token, usize, usize)>,
    at: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.at).map(|t| &t.0)
    }

    fn span(&self) -> (usize, usize) {
        self.toks
            .get(self.at)
            .map_or((self.len, self.len), |t| (t.1, t.2))
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, QueryError> {
        let (start, end) = self.span();
        Err(QueryError {
            message: message.into(),
            start,
            end,
        })
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.at).map(|t| t.0.clone());
        self.at += 1;
        t
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Token::Sym(x)) if *x == s)
    }

    fn sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.at += 1;
            return true;
        }
        false
    }

    fn word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Token::Word(x)) if x.eq_ignore_ascii_case(w)) {
            self.at += 1;
            return true;
        }
        false
    }

    fn field(&mut self) -> Result<String, QueryError> {
        match self.peek() {
            Some(Token::Word(w)) | Some(Token::Field(w)) => {
                let w = w.clone();
                self.at += 1;
                Ok(w)
            }
            _ => self.fail("expected a field name"),
        }
    }

    fn list<T>(
        &mut self,
        mut one: impl FnMut(&mut Parser) -> Result<T, QueryError>,
    ) -> Result<Vec<T>, QueryError> {
        let mut all = vec![one(self)?];
        while self.sym(",") {
            all.push(one(self)?);
        }
        Ok(all)
    }

    fn command(&mut self) -> Result<Command, QueryError> {
        let Some(Token::Word(name)) = self.next() else {
            self.at -= 1;
            return self.fail("expected a command: fields, display, filter, sort, limit or stats");
        };
        Ok(match name.to_ascii_lowercase().as_str() {
            "fields" => Command::Fields(self.list(|p| {
                let start = p.at;
                let e = p.or()?;
                let name = p.named(start)?;
                Ok((e, name))
            })?),
            "display" => Command::Display(self.list(Parser::field)?),
            "filter" => Command::Filter(self.or()?),
            "parse" => self.parse_command()?,
            "dedup" => Command::Dedup(self.list(Parser::field)?),
            "sort" => Command::Sort(self.list(|p| {
                let f = p.field()?;
                let desc = if p.word("desc") {
                    true
                } else {
                    p.word("asc");
                    false
                };
                Ok((f, desc))
            })?),
            "limit" => match self.next() {
                Some(Token::Number(n)) if (1.0..=10_000.0).contains(&n) && n.fract() == 0.0 => {
                    Command::Limit(n as usize)
                }
                _ => {
                    self.at -= 1;
                    return self.fail("limit takes a whole number from 1 to 10,000");
                }
            },
            "stats" => {
                let aggregates = self.list(|p| {
                    let start = p.at;
                    let a = p.aggregate()?;
                    let name = p.named(start)?;
                    Ok((a, name))
                })?;
                let by = if self.word("by") {
                    self.list(|p| {
                        let start = p.at;
                        let g = if p.word("bin") {
                            if !p.sym("(") {
                                return p.fail("expected ( after bin");
                            }
                            let period = p.period()?;
                            if !p.sym(")") {
                                return p.fail("expected )");
                            }
                            GroupBy::Bin(period)
                        } else {
                            GroupBy::Field(p.field()?)
                        };
                        let name = p.named(start)?;
                        Ok((g, name))
                    })?
                } else {
                    Vec::new()
                };
                Command::Stats { aggregates, by }
            }
            other => {
                self.at -= 1;
                return self.fail(format!(
                    "shoal does not support the Logs Insights command '{other}' yet (fields, display, filter, parse, dedup, sort, limit and stats)"
                ));
            }
        })
    }

    /// `parse [field] "glob"  as names` or `parse [field] /regex with (?<names>)/`.
    fn parse_command(&mut self) -> Result<Command, QueryError> {
        let field = match self.peek() {
            Some(Token::Text(_)) | Some(Token::Regex(_)) => "@message".to_string(),
            _ => self.field()?,
        };
        let at = self.span();
        let bad = |message: String| QueryError {
            message,
            start: at.0,
            end: at.1,
        };
        match self.next() {
            Some(Token::Text(glob)) => {
                // each * takes the shortest text that lets the rest match; a * at the end,
                // the rest of the text
                let stars = glob.matches('*').count();
                let mut re = String::new();
                for (i, part) in glob.split('*').enumerate() {
                    if i > 0 {
                        re.push_str(if i == stars && part.is_empty() {
                            "(.*)"
                        } else {
                            "(.*?)"
                        });
                    }
                    re.push_str(&regex::escape(part));
                }
                let regex = regex::Regex::new(&format!("(?s){re}"))
                    .map_err(|e| bad(format!("bad glob \"{glob}\": {e}")))?;
                if !self.word("as") {
                    return self.fail("a glob's parse names its fields: as a, b");
                }
                let names = self.list(Parser::field)?;
                if names.len() != stars {
                    return Err(bad(format!(
                        "the glob has {stars} * but {} field names follow as",
                        names.len()
                    )));
                }
                Ok(Command::Parse {
                    field,
                    regex: Pattern::Regex(regex),
                    names,
                })
            }
            Some(Token::Regex(r)) => {
                let regex = regex::Regex::new(&r)
                    .map_err(|e| bad(format!("bad regular expression /{r}/: {e}")))?;
                let named: Vec<String> =
                    regex.capture_names().flatten().map(String::from).collect();
                let names = if self.word("as") {
                    self.list(Parser::field)?
                } else {
                    named
                };
                if names.is_empty() {
                    return Err(bad(format!("/{r}/ names no field: use (?<name>...)")));
                }
                Ok(Command::Parse {
                    field,
                    regex: Pattern::Regex(regex),
                    names,
                })
            }
            _ => {
                self.at -= 1;
                self.fail("parse takes a \"glob * pattern\" or a /regex/")
            }
        }
    }

    /// The name after `as`, or else the text of the tokens from `start`, as written: what a
    /// field or an aggregate is called in the results.
    fn named(&mut self, start: usize) -> Result<String, QueryError> {
        if self.word("as") {
            return self.field();
        }
        Ok(self.text_of(start))
    }

    /// The query text of tokens `start..self.at`, as written, without the spaces around it.
    fn text_of(&self, start: usize) -> String {
        let mut out = String::new();
        let end = self.at.min(self.toks.len());
        for (k, t) in self.toks[start.min(end)..end].iter().enumerate() {
            let piece = match &t.0 {
                Token::Word(w) => w.clone(),
                Token::Field(f) => format!("`{f}`"),
                Token::Number(n) => n.to_string(),
                Token::Text(s) => format!("\"{s}\""),
                Token::Regex(r) => format!("/{r}/"),
                Token::Sym(s) => s.to_string(),
            };
            if k > 0 && matches!(t.0, Token::Word(_)) && !out.ends_with('(') {
                out.push(' ');
            }
            out.push_str(&piece);
        }
        out
    }

    /// `5m`, `1h`, `30s`, `1d`, `500ms` as milliseconds.
    fn period(&mut self) -> Result<i64, QueryError> {
        let Some(Token::Word(w)) = self.peek().cloned() else {
            return self.fail("expected a period such as 5m");
        };
        let split = w.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(w.len());
        let (n, unit) = w.split_at(split);
        let n: i64 = match n.parse() {
            Ok(n) if n > 0 => n,
            _ => return self.fail(format!("'{w}' is not a period such as 5m")),
        };
        let ms = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return self.fail(format!("'{w}' is not a period such as 5m")),
        };
        self.at += 1;
        Ok(n * ms)
    }

    fn aggregate(&mut self) -> Result<Aggregate, QueryError> {
        let Some(Token::Word(f)) = self.peek().cloned() else {
            return self.fail("expected count, sum, avg, min or max");
        };
        self.at += 1;
        if !self.sym("(") {
            return self.fail("expected (");
        }
        let a = match f.to_ascii_lowercase().as_str() {
            "count" => {
                if self.sym("*") || self.is_sym(")") {
                    Aggregate::Count(None)
                } else {
                    Aggregate::Count(Some(self.field()?))
                }
            }
            "sum" => Aggregate::Sum(self.field()?),
            "avg" => Aggregate::Avg(self.field()?),
            "min" => Aggregate::Min(self.field()?),
            "max" => Aggregate::Max(self.field()?),
            "count_distinct" => Aggregate::CountDistinct(self.field()?),
            "pct" | "percentile" => {
                let field = self.field()?;
                if !self.sym(",") {
                    return self.fail("pct takes a field and a percentage: pct(@duration, 95)");
                }
                match self.next() {
                    Some(Token::Number(p)) if (0.0..=100.0).contains(&p) => {
                        Aggregate::Pct(field, p)
                    }
                    _ => {
                        self.at -= 1;
                        return self.fail("a percentage is a number from 0 to 100");
                    }
                }
            }
            other => {
                self.at -= 2;
                return self.fail(format!(
                    "shoal does not support the stats function '{other}' yet (count, count_distinct, sum, avg, min, max, pct)"
                ));
            }
        };
        if !self.sym(")") {
            return self.fail("expected )");
        }
        Ok(a)
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut e = self.and()?;
        while self.word("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut e = self.not()?;
        while self.word("and") {
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        if self.word("not") || self.sym("!") {
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let left = self.atom()?;
        let negated = self.word("not");
        let e = if self.word("like") || self.sym("=~") {
            let p = match self.next() {
                Some(Token::Regex(r)) => {
                    Pattern::Regex(regex::Regex::new(&r).map_err(|e| QueryError {
                        message: format!("bad regular expression /{r}/: {e}"),
                        start: self.toks[self.at - 1].1,
                        end: self.toks[self.at - 1].2,
                    })?)
                }
                Some(Token::Text(t)) => Pattern::Text(t),
                _ => {
                    self.at -= 1;
                    return self.fail("like takes a /regex/ or a \"string\"");
                }
            };
            Expr::Like(Box::new(left), p)
        } else if self.word("in") {
            if !self.sym("[") {
                return self.fail("expected [ after in");
            }
            let items = self.list(Parser::atom)?;
            if !self.sym("]") {
                return self.fail("expected ]");
            }
            Expr::In(Box::new(left), items)
        } else if negated {
            return self.fail("expected like or in after not");
        } else {
            let op = [
                ("=", Op::Eq),
                ("!=", Op::Ne),
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("<", Op::Lt),
                (">", Op::Gt),
            ]
            .into_iter()
            .find(|(s, _)| self.is_sym(s));
            match op {
                Some((_, op)) => {
                    self.at += 1;
                    Expr::Compare(Box::new(left), op, Box::new(self.atom()?))
                }
                None => return Ok(left),
            }
        };
        Ok(if negated { Expr::Not(Box::new(e)) } else { e })
    }

    fn atom(&mut self) -> Result<Expr, QueryError> {
        match self.next() {
            Some(Token::Number(n)) => Ok(Expr::Number(n)),
            Some(Token::Text(t)) => Ok(Expr::Text(t)),
            Some(Token::Field(f)) => Ok(Expr::Field(f)),
            Some(Token::Sym("(")) => {
                let e = self.or()?;
                if !self.sym(")") {
                    return self.fail("a parenthesis is not closed");
                }
                Ok(e)
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("ispresent") => {
                if !self.sym("(") {
                    return self.fail("expected ( after ispresent");
                }
                let f = self.field()?;
                if !self.sym(")") {
                    return self.fail("expected )");
                }
                Ok(Expr::IsPresent(f))
            }
            Some(Token::Word(w)) => {
                if self.is_sym("(") {
                    self.at -= 1;
                    return self.fail(format!(
                        "shoal does not support the function '{w}' yet (ispresent)"
                    ));
                }
                Ok(Expr::Field(w))
            }
            _ => {
                self.at -= 1;
                self.fail("expected a field, a number or a string")
            }
        }
    }
}

/// Parses a query into its commands.
pub fn parse(q: &str) -> Result<Vec<Command>, QueryError> {
    let toks = tokens(q)?;
    let len = q.chars().count();
    let mut p = Parser { toks, at: 0, len };
    let mut commands = Vec::new();
    loop {
        if p.peek().is_none() {
            if commands.is_empty() {
                return p.fail("the query is empty");
            }
            return p.fail("expected a command after |");
        }
        commands.push(p.command()?);
        match p.peek() {
            None => return Ok(commands),
            Some(Token::Sym("|")) => p.at += 1,
            Some(_) => return p.fail("expected | or the end of the query"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any text: a query or an error, never a panic.
    #[test]
    fn any_text_parses_or_fails_cleanly() {
        use rand::{Rng, SeedableRng};
        let pieces = [
            "fields",
            "filter",
            "stats",
            "sort",
            "limit",
            "display",
            "by",
            "bin(",
            "count(",
            "avg(",
            "as",
            "and",
            "or",
            "not",
            "like",
            "in",
            "ispresent(",
            "|",
            ",",
            "(",
            ")",
            "[",
            "]",
            "=",
            "!=",
            "<",
            ">=",
            "=~",
            "*",
            "/a(b/",
            "/x/",
            "'s",
            "\"t\"",
            "`f",
            "@message",
            "a.b",
            "5m",
            "10",
            "1.5",
            "#c\n",
            " ",
            "é",
            "desc",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..20_000 {
            let q: String = (0..rng.gen_range(0..12))
                .map(|_| pieces[rng.gen_range(0..pieces.len())])
                .collect::<Vec<_>>()
                .join(" ");
            if let Err(e) = parse(&q) {
                assert!(
                    e.start <= e.end && e.end <= q.chars().count(),
                    "{q:?}: {e:?}"
                );
            }
        }
    }

    #[test]
    fn queries_parse_into_commands_and_errors_say_where() {
        let q = r#"fields @timestamp, @message, level as lvl
            # only the errors
            | filter level = "ERROR" and (ms > 100 or @message like /time(d)? out/) and stage in ["a", 'b']
            | sort @timestamp desc | limit 20"#;
        let c = parse(q).unwrap();
        assert_eq!(c.len(), 4);
        assert!(matches!(&c[0], Command::Fields(f) if f[2].1 == "lvl" && f[0].1 == "@timestamp"));
        assert_eq!(c[2], Command::Sort(vec![("@timestamp".into(), true)]));
        assert_eq!(c[3], Command::Limit(20));
        let s = parse("stats count(*), avg(ms) as mean by bin(5m), stage").unwrap();
        assert_eq!(
            s[0],
            Command::Stats {
                aggregates: vec![
                    (Aggregate::Count(None), "count(*)".into()),
                    (Aggregate::Avg("ms".into()), "mean".into())
                ],
                by: vec![
                    (GroupBy::Bin(300_000), "bin(5m)".into()),
                    (GroupBy::Field("stage".into()), "stage".into())
                ],
            }
        );
        for (bad, at) in [
            ("fields a | unmask @message", 11),
            ("parse @message 'a * b' as x, y", 15),
            ("parse @message /no names/", 15),
            ("filter a = ", 11),
            ("limit 0", 6),
            ("stats median(ms)", 6),
            ("stats pct(ms, 101)", 14),
            ("filter a like /(/", 14),
            ("fields a b", 9),
            ("", 0),
        ] {
            let e = parse(bad).expect_err(bad);
            assert_eq!(e.start, at, "{bad}: {e:?}");
        }
    }
}
