//! Tokenizer and Pratt parser producing the expression tree.

use crate::Error;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Num(f64),
    Str(String),
    Name(String),
    /// Back-quoted names: always a field name, never an operator keyword.
    QName(String),
    Var(String),
    Regex(String, String),
    Op(&'static str),
    End,
}

const OPS: &[&str] = &[
    "...", "..", ":=", "!=", "<=", ">=", "~>", "**", "??", "?:", ".", "[", "]", "{", "}", "(", ")",
    ",", "@", "#", ";", ":", "?", "+", "-", "*", "/", "%", "|", "=", "<", ">", "^", "&", "!",
];

pub fn tokenize(src: &str) -> Result<Vec<(Tok, usize)>, Error> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out: Vec<(Tok, usize)> = Vec::new();
    while i < b.len() {
        let c = b[i];
        let first = src[i..].chars().next().unwrap_or(' ');
        if first.is_whitespace() {
            i += first.len_utf8();
            continue;
        }
        if src[i..].starts_with("/*") {
            match src[i + 2..].find("*/") {
                Some(e) => {
                    i += e + 4;
                    continue;
                }
                None => return Err(Error::new("S0106", "Comment has no closing tag")),
            }
        }
        let start = i;
        // a regex can only start where an operand is expected
        if c == b'/' && regex_allowed(out.last().map(|t| &t.0)) {
            let mut j = i + 1;
            let mut pat = String::new();
            let mut closed = false;
            while j < b.len() {
                let ch = src[j..].chars().next().unwrap_or('\0');
                if ch == '\\' {
                    let n = src[j + 1..].chars().next().unwrap_or('\0');
                    pat.push('\\');
                    pat.push(n);
                    j += 1 + n.len_utf8();
                    continue;
                }
                if ch == '/' {
                    closed = true;
                    j += 1;
                    break;
                }
                pat.push(ch);
                j += ch.len_utf8();
            }
            if !closed {
                return Err(Error::new(
                    "S0302",
                    "No terminating / in regular expression",
                ));
            }
            let fstart = j;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            out.push((Tok::Regex(pat, src[fstart..j].to_string()), start));
            i = j;
            continue;
        }
        if c == b'"' || c == b'\'' {
            let q = c as char;
            let mut s = String::new();
            let mut j = i + 1;
            let mut closed = false;
            while j < b.len() {
                let ch = src[j..].chars().next().unwrap_or('\0');
                if ch == q {
                    closed = true;
                    j += 1;
                    break;
                }
                if ch == '\\' {
                    let n = src[j + 1..].chars().next().unwrap_or('\0');
                    j += 1 + n.len_utf8();
                    match n {
                        '"' => s.push('"'),
                        '\\' => s.push('\\'),
                        '/' => s.push('/'),
                        '\'' => s.push('\''),
                        'b' => s.push('\u{8}'),
                        'f' => s.push('\u{c}'),
                        'n' => s.push('\n'),
                        'r' => s.push('\r'),
                        't' => s.push('\t'),
                        'u' => {
                            let hex = src.get(j..j + 4).ok_or_else(|| {
                                Error::new(
                                    "S0104",
                                    "The escape sequence \\u must be followed by 4 hex digits",
                                )
                            })?;
                            let cp = u32::from_str_radix(hex, 16).map_err(|_| {
                                Error::new(
                                    "S0104",
                                    "The escape sequence \\u must be followed by 4 hex digits",
                                )
                            })?;
                            j += 4;
                            s.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                        }
                        other => {
                            return Err(Error::new(
                                "S0103",
                                format!("Unsupported escape sequence: \\{other}"),
                            ))
                        }
                    }
                    continue;
                }
                s.push(ch);
                j += ch.len_utf8();
            }
            if !closed {
                return Err(Error::new(
                    "S0101",
                    "String literal must be terminated by a matching quote",
                ));
            }
            out.push((Tok::Str(s), start));
            i = j;
            continue;
        }
        if c.is_ascii_digit()
            || (c == b'.'
                && i + 1 < b.len()
                && b[i + 1].is_ascii_digit()
                && !matches!(
                    out.last().map(|t| &t.0),
                    Some(Tok::Name(_) | Tok::Op(")") | Tok::Op("]"))
                ))
        {
            let mut j = i;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j < b.len() && b[j] == b'.' && j + 1 < b.len() && b[j + 1].is_ascii_digit() {
                j += 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if j < b.len() && (b[j] == b'e' || b[j] == b'E') {
                let mut k = j + 1;
                if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
                    k += 1;
                }
                if k < b.len() && b[k].is_ascii_digit() {
                    while k < b.len() && b[k].is_ascii_digit() {
                        k += 1;
                    }
                    j = k;
                }
            }
            let n: f64 = src[i..j]
                .parse()
                .map_err(|_| Error::new("S0102", "Number out of range"))?;
            out.push((Tok::Num(n), start));
            i = j;
            continue;
        }
        if c == b'`' {
            let e = src[i + 1..].find('`').ok_or_else(|| {
                Error::new(
                    "S0105",
                    "Quoted property name must be terminated with a backquote (`)",
                )
            })?;
            out.push((Tok::QName(src[i + 1..i + 1 + e].to_string()), start));
            i += e + 2;
            continue;
        }
        if c == b'$' {
            let mut j = i + 1;
            if j < b.len() && b[j] == b'$' {
                out.push((Tok::Var("$".into()), start));
                i = j + 1;
                continue;
            }
            while j < b.len() {
                let ch = src[j..].chars().next().unwrap_or('\0');
                if ch.is_alphanumeric() || ch == '_' {
                    j += ch.len_utf8();
                } else {
                    break;
                }
            }
            out.push((Tok::Var(src[i + 1..j].to_string()), start));
            i = j;
            continue;
        }
        if let Some(op) = OPS.iter().find(|o| src[i..].starts_with(**o)) {
            out.push((Tok::Op(op), start));
            i += op.len();
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or('\0');
        if ch.is_alphabetic() || ch == '_' || !ch.is_ascii() {
            let mut j = i;
            while j < b.len() {
                let ch = src[j..].chars().next().unwrap_or('\0');
                if ch.is_alphanumeric() || ch == '_' || (!ch.is_ascii() && !ch.is_whitespace()) {
                    j += ch.len_utf8();
                } else {
                    break;
                }
            }
            out.push((Tok::Name(src[i..j].to_string()), start));
            i = j;
            continue;
        }
        return Err(Error::new("S0204", format!("Unknown operator: \"{ch}\"")).at(i));
    }
    out.push((Tok::End, src.len()));
    Ok(out)
}

fn regex_allowed(prev: Option<&Tok>) -> bool {
    match prev {
        None => true,
        Some(Tok::Op(o)) => !matches!(*o, ")" | "]" | "}"),
        Some(Tok::Name(n)) => matches!(n.as_str(), "and" | "or" | "in"),
        _ => false,
    }
}

/// The expression tree.
#[derive(Debug, Clone)]
pub enum Node {
    Num(f64),
    Str(String),
    Bool(bool),
    Null,
    Regex(std::sync::Arc<regex::Regex>),
    Name(String),
    Var(String),
    Context,
    Wildcard,
    Descendants,
    Parent,
    Path(Vec<Step>, bool),
    Unary(Box<Node>),
    Binary(&'static str, Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Array(Vec<Node>),
    Range(Box<Node>, Box<Node>),
    Object(Vec<(Node, Node)>),
    Block(Vec<Node>),
    Bind(String, Box<Node>),
    Cond(Box<Node>, Box<Node>, Option<Box<Node>>),
    Coalesce(Box<Node>, Box<Node>),
    Default(Box<Node>, Box<Node>),
    Call(Box<Node>, Vec<Node>),
    Lambda(std::sync::Arc<(Vec<String>, Node)>),
    Chain(Box<Node>, Box<Node>),
    Filter(Box<Node>, Box<Node>),
    Sort(Box<Node>, Vec<(Node, bool)>),
    Group(Box<Node>, Vec<(Node, Node)>),
    Placeholder,
}

/// One step of a path with its predicates.
#[derive(Debug, Clone)]
pub struct Step {
    pub node: Node,
    pub predicates: Vec<Node>,
    /// An array constructor step keeps its arrays unflattened.
    pub keep: bool,
}

pub struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
    depth: usize,
}

impl Parser {
    pub fn new(toks: Vec<(Tok, usize)>) -> Self {
        Parser {
            toks,
            i: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.i].0
    }

    fn pos(&self) -> usize {
        self.toks[self.i].1
    }

    fn next(&mut self) -> Tok {
        let t = self.toks[self.i].0.clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn expect(&mut self, op: &str) -> Result<(), Error> {
        if self.is_op(op) {
            self.next();
            Ok(())
        } else {
            Err(Error::new(
                "S0202",
                format!("Expected \"{op}\", got {}", describe(self.peek())),
            )
            .at(self.pos()))
        }
    }

    pub fn parse_all(&mut self) -> Result<Node, Error> {
        let n = self.expr(0)?;
        if *self.peek() != Tok::End {
            return Err(
                Error::new("S0201", format!("Syntax error: {}", describe(self.peek())))
                    .at(self.pos()),
            );
        }
        Ok(n)
    }

    fn infix_power(&self) -> Option<(&'static str, u8)> {
        let op = match self.peek() {
            Tok::Op(o) => *o,
            Tok::Name(n) if n == "and" => "and",
            Tok::Name(n) if n == "or" => "or",
            Tok::Name(n) if n == "in" => "in",
            _ => return None,
        };
        let p = match op {
            "." => 75,
            "[" => 80,
            "{" => 70,
            "(" => 80,
            "^" => 80,
            "*" | "/" | "%" => 60,
            "+" | "-" => 50,
            "&" => 50,
            "=" | "!=" | "<" | "<=" | ">" | ">=" | "in" => 40,
            "~>" => 40,
            "and" => 30,
            "or" => 25,
            "??" | "?:" => 15,
            "?" => 20,
            ":=" => 10,
            _ => return None,
        };
        Some((op, p))
    }

    fn expr(&mut self, rbp: u8) -> Result<Node, Error> {
        self.depth += 1;
        if self.depth > 200 {
            return Err(Error::new("S0208", "Expression is nested too deeply"));
        }
        let mut left = self.prefix()?;
        while let Some((op, lbp)) = self.infix_power() {
            if lbp <= rbp {
                break;
            }
            self.next();
            left = self.infix(op, left, lbp)?;
        }
        self.depth -= 1;
        Ok(left)
    }

    fn prefix(&mut self) -> Result<Node, Error> {
        let pos = self.pos();
        match self.next() {
            Tok::Num(n) => Ok(Node::Num(n)),
            Tok::Str(s) => Ok(Node::Str(s)),
            Tok::Regex(p, f) => {
                let mut pat = String::new();
                if f.contains('i') {
                    pat.push_str("(?i)");
                }
                if f.contains('m') {
                    pat.push_str("(?m)");
                }
                pat.push_str(&p);
                let re = regex::Regex::new(&pat)
                    .map_err(|e| Error::new("S0301", format!("Invalid regular expression: {e}")))?;
                Ok(Node::Regex(std::sync::Arc::new(re)))
            }
            Tok::QName(n) => Ok(Node::Name(n)),
            Tok::Name(n) => match n.as_str() {
                "true" => Ok(Node::Bool(true)),
                "false" => Ok(Node::Bool(false)),
                "null" => Ok(Node::Null),
                "function" | "λ" if self.is_op("(") => self.lambda(),
                _ => Ok(Node::Name(n)),
            },
            Tok::Var(v) => {
                if v.is_empty() {
                    Ok(Node::Context)
                } else if v == "$" {
                    Ok(Node::Var("$".into()))
                } else {
                    Ok(Node::Var(v))
                }
            }
            Tok::Op("-") => Ok(Node::Unary(Box::new(self.expr(70)?))),
            Tok::Op("*") => Ok(Node::Wildcard),
            Tok::Op("**") => Ok(Node::Descendants),
            Tok::Op("%") => Ok(Node::Parent),
            Tok::Op("?") => Ok(Node::Placeholder),
            Tok::Op("(") => {
                let mut items = Vec::new();
                while !self.is_op(")") {
                    items.push(self.expr(0)?);
                    if self.is_op(";") {
                        self.next();
                    } else {
                        break;
                    }
                }
                self.expect(")")?;
                Ok(Node::Block(items))
            }
            Tok::Op("[") => {
                let mut items = Vec::new();
                if !self.is_op("]") {
                    loop {
                        let a = self.expr(0)?;
                        if self.is_op("..") {
                            self.next();
                            let b = self.expr(0)?;
                            items.push(Node::Range(Box::new(a), Box::new(b)));
                        } else {
                            items.push(a);
                        }
                        if self.is_op(",") {
                            self.next();
                        } else {
                            break;
                        }
                    }
                }
                self.expect("]")?;
                Ok(Node::Array(items))
            }
            Tok::Op("{") => Ok(Node::Object(self.object_body()?)),
            t => Err(Error::new(
                "S0211",
                format!(
                    "The symbol {} cannot be used as a unary operator",
                    describe(&t)
                ),
            )
            .at(pos)),
        }
    }

    fn object_body(&mut self) -> Result<Vec<(Node, Node)>, Error> {
        let mut pairs = Vec::new();
        if !self.is_op("}") {
            loop {
                let k = self.expr(0)?;
                self.expect(":")?;
                let v = self.expr(0)?;
                pairs.push((k, v));
                if self.is_op(",") {
                    self.next();
                } else {
                    break;
                }
            }
        }
        self.expect("}")?;
        Ok(pairs)
    }

    fn lambda(&mut self) -> Result<Node, Error> {
        self.expect("(")?;
        let mut params = Vec::new();
        while !self.is_op(")") {
            match self.next() {
                Tok::Var(v) => params.push(v),
                t => return Err(Error::new("S0208", format!("Parameter {} of function definition must be a variable name (start with $)", describe(&t)))),
            }
            if self.is_op(",") {
                self.next();
            }
        }
        self.expect(")")?;
        if self.is_op("<") {
            // a type signature: skip it
            let mut depth = 0;
            loop {
                match self.next() {
                    Tok::Op("<") => depth += 1,
                    Tok::Op(">") => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::End => return Err(Error::new("S0401", "Unterminated function signature")),
                    _ => {}
                }
            }
        }
        self.expect("{")?;
        let body = if self.is_op("}") {
            Node::Block(vec![])
        } else {
            self.expr(0)?
        };
        self.expect("}")?;
        Ok(Node::Lambda(std::sync::Arc::new((params, body))))
    }

    fn infix(&mut self, op: &'static str, left: Node, lbp: u8) -> Result<Node, Error> {
        Ok(match op {
            "." => {
                let right = self.expr(75)?;
                path_join(left, right)
            }
            "[" => {
                if self.is_op("]") {
                    self.next();
                    match left {
                        Node::Path(steps, _) => Node::Path(steps, true),
                        other => Node::Path(vec![step(other)], true),
                    }
                } else {
                    let pred = self.expr(0)?;
                    self.expect("]")?;
                    add_predicate(left, pred)
                }
            }
            "{" => Node::Group(Box::new(left), self.object_body()?),
            "(" => {
                let mut args = Vec::new();
                if !self.is_op(")") {
                    loop {
                        args.push(self.expr(0)?);
                        if self.is_op(",") {
                            self.next();
                        } else {
                            break;
                        }
                    }
                }
                self.expect(")")?;
                Node::Call(Box::new(left), args)
            }
            "^" => {
                self.expect("(")?;
                let mut terms = Vec::new();
                loop {
                    let mut asc = true;
                    if self.is_op("<") {
                        self.next();
                    } else if self.is_op(">") {
                        self.next();
                        asc = false;
                    }
                    terms.push((self.expr(0)?, asc));
                    if self.is_op(",") {
                        self.next();
                    } else {
                        break;
                    }
                }
                self.expect(")")?;
                Node::Sort(Box::new(left), terms)
            }
            "and" => Node::And(Box::new(left), Box::new(self.expr(lbp)?)),
            "or" => Node::Or(Box::new(left), Box::new(self.expr(lbp)?)),
            "??" => Node::Coalesce(Box::new(left), Box::new(self.expr(lbp)?)),
            "?:" => Node::Default(Box::new(left), Box::new(self.expr(lbp)?)),
            "~>" => Node::Chain(Box::new(left), Box::new(self.expr(lbp)?)),
            ":=" => {
                let name = match left {
                    Node::Var(v) => v,
                    _ => {
                        return Err(Error::new(
                            "S0212",
                            "The left side of := must be a variable name (start with $)",
                        ))
                    }
                };
                Node::Bind(name, Box::new(self.expr(lbp - 1)?))
            }
            "?" => {
                let then = self.expr(0)?;
                let otherwise = if self.is_op(":") {
                    self.next();
                    Some(Box::new(self.expr(0)?))
                } else {
                    None
                };
                Node::Cond(Box::new(left), Box::new(then), otherwise)
            }
            _ => Node::Binary(op, Box::new(left), Box::new(self.expr(lbp)?)),
        })
    }
}

fn step(n: Node) -> Step {
    let keep = matches!(n, Node::Array(_));
    Step {
        node: n,
        predicates: vec![],
        keep,
    }
}

fn path_join(left: Node, right: Node) -> Node {
    let right_keep = matches!(right, Node::Path(_, true));
    let (steps, keep) = match left {
        Node::Path(s, k) => (s, k),
        other => (vec![step(other)], false),
    };
    Node::Path(append(steps, right), keep || right_keep)
}

fn append(mut steps: Vec<Step>, right: Node) -> Vec<Step> {
    match right {
        Node::Path(s, _) => steps.extend(s),
        other => steps.push(step(other)),
    }
    steps
}

fn add_predicate(left: Node, pred: Node) -> Node {
    match left {
        Node::Path(mut steps, keep) => {
            if let Some(last) = steps.last_mut() {
                last.predicates.push(pred);
            }
            Node::Path(steps, keep)
        }
        Node::Name(_) | Node::Wildcard | Node::Descendants => {
            let mut s = step(left);
            s.predicates.push(pred);
            Node::Path(vec![s], false)
        }
        other => Node::Filter(Box::new(other), Box::new(pred)),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::End => "end of expression".into(),
        Tok::Num(n) => n.to_string(),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Name(n) | Tok::QName(n) => n.clone(),
        Tok::Var(v) => format!("${v}"),
        Tok::Regex(p, _) => format!("/{p}/"),
        Tok::Op(o) => format!("\"{o}\""),
    }
}
