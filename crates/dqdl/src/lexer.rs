//! Tokens of DQDL: quoted strings (escapes `\"` and `\\`), numbers, bare words, `$variables`,
//! operators and brackets; `#` starts a comment to the end of the line.

use crate::ParseError;

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Str(String),
    Num(f64),
    Word(String),
    Var(String),
    /// `=`, `!=`, `>`, `>=`, `<`, `<=`, `+`, `-`, `*`, `/`, `(`, `)`, `[`, `]`, `{`, `}`, `,`, `:`.
    Sym(&'static str),
}

/// A token and where it starts (1-based line and column).
#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
    pub column: usize,
    /// Byte offset of the token in the text.
    pub at: usize,
    pub end: usize,
}

pub fn tokens(text: &str) -> Result<Vec<Token>, ParseError> {
    let b = text.as_bytes();
    let mut out = vec![];
    let (mut i, mut line, mut line_start) = (0usize, 1usize, 0usize);
    while i < b.len() {
        let c = b[i];
        let column = text[line_start..i].chars().count() + 1;
        let start = i;
        let push = |out: &mut Vec<Token>, tok: Tok, end: usize| {
            out.push(Token {
                tok,
                line,
                column,
                at: start,
                end,
            })
        };
        match c {
            b'\n' => {
                i += 1;
                line += 1;
                line_start = i;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&ch) = b.get(i) else {
                        return Err(ParseError::at(line, column, "unterminated string"));
                    };
                    match ch {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' if matches!(b.get(i + 1), Some(b'"') | Some(b'\\')) => {
                            s.push(b[i + 1] as char);
                            i += 2;
                        }
                        b'\n' => return Err(ParseError::at(line, column, "unterminated string")),
                        _ => {
                            let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
                            s.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                push(&mut out, Tok::Str(s), i);
            }
            b'$' => {
                i += 1;
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                if s == i {
                    return Err(ParseError::at(
                        line,
                        column,
                        "expected a variable name after '$'",
                    ));
                }
                push(&mut out, Tok::Var(text[s..i].to_string()), i);
            }
            b'0'..=b'9' => {
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                // `2021abc` is a bare word (identifiers may start with digits)
                if i < b.len() && (b[i].is_ascii_alphabetic() || b[i] == b'_') {
                    while i < b.len()
                        && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                    {
                        i += 1;
                    }
                    push(&mut out, Tok::Word(text[start..i].to_string()), i);
                } else {
                    let n: f64 = text[start..i].parse().map_err(|_| {
                        ParseError::at(line, column, format!("bad number '{}'", &text[start..i]))
                    })?;
                    push(&mut out, Tok::Num(n), i);
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                push(&mut out, Tok::Word(text[start..i].to_string()), i);
            }
            _ => {
                let two = text.get(i..i + 2).unwrap_or("");
                let sym: &'static str = match two {
                    "!=" => "!=",
                    ">=" => ">=",
                    "<=" => "<=",
                    _ => match c {
                        b'=' => "=",
                        b'>' => ">",
                        b'<' => "<",
                        b'+' => "+",
                        b'-' => "-",
                        b'*' => "*",
                        b'/' => "/",
                        b'(' => "(",
                        b')' => ")",
                        b'[' => "[",
                        b']' => "]",
                        b'{' => "{",
                        b'}' => "}",
                        b',' => ",",
                        b':' => ":",
                        _ => {
                            let ch = text[i..].chars().next().unwrap_or('?');
                            return Err(ParseError::at(
                                line,
                                column,
                                format!("unexpected character '{ch}'"),
                            ));
                        }
                    },
                };
                i += sym.len();
                push(&mut out, Tok::Sym(sym), i);
            }
        }
    }
    Ok(out)
}
