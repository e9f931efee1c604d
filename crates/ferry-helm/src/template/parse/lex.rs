//! The lexer: a template source to tokens, with Go's error texts.

use super::*;

/// A lexed token; names and literals borrow the source, so tokens are copied freely.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Tok<'a> {
    Text(usize, usize),
    Left,
    Right,
    Space,
    Ident(&'a str),
    Field(&'a str),
    Var(&'a str),
    Str(Lit<'a>),
    Char(i64),
    Number(&'a str),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
    Dot,
    Bool(bool),
    Nil,
    Eof,
}

/// A string literal: its text in the source, or (when it had escapes) its unescaped value in
/// the lexer's side table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Lit<'a> {
    Raw(&'a str),
    Escaped(usize),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'a> {
    pub(super) tok: Tok<'a>,
    pub(super) pos: Pos,
}

/// What the lexer produces: the tokens and the unescaped values of string literals with escapes.
pub(super) struct Lexed<'a> {
    pub(super) toks: Vec<Token<'a>>,
    pub(super) escaped: Vec<String>,
}

pub(super) fn line_of(src: &str, pos: Pos) -> usize {
    1 + src.as_bytes()[..pos.min(src.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

pub(super) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

pub(super) fn lex(src: &str) -> Result<Lexed<'_>, ParseError> {
    let b = src.as_bytes();
    let open_delim = memchr::memmem::Finder::new(b"{{");
    // about one token per 8 bytes of template source; sized once to avoid regrowing
    let mut toks = Vec::with_capacity(src.len() / 8 + 8);
    let mut escaped = Vec::new();
    let mut i = 0;
    let mut trim_next = false;
    let err = |pos: Pos, m: String| ParseError {
        line: line_of(src, pos),
        message: m,
    };
    while i < b.len() {
        // text
        let start = i;
        let next = open_delim.find(&b[i..]).map_or(b.len(), |x| x + i);
        let trim_left = next + 3 < b.len() && b[next + 2] == b'-' && is_space(b[next + 3]);
        let action_start = if trim_left { next + 4 } else { next + 2 };
        let mut text = &src[start..next];
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
        }
        if trim_left {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
        }
        if !text.is_empty() {
            toks.push(Token {
                tok: Tok::Text(
                    text.as_ptr() as usize - src.as_ptr() as usize,
                    text.as_ptr() as usize - src.as_ptr() as usize + text.len(),
                ),
                pos: start,
            });
        }
        trim_next = false;
        if next >= b.len() {
            break;
        }
        i = action_start;
        if src[i..].starts_with("/*") {
            let j = i;
            let Some(end) = src[j + 2..].find("*/") else {
                return Err(err(j, "unclosed comment".into()));
            };
            let k = j + 2 + end + 2;
            if src[k..].starts_with("}}") {
                i = k + 2;
                continue;
            }
            if k < b.len() && is_space(b[k]) && src[k + 1..].starts_with("-}}") {
                trim_next = true;
                i = k + 4;
                continue;
            }
            return Err(err(k, "comment ends before closing delimiter".into()));
        }
        toks.push(Token {
            tok: Tok::Left,
            pos: next,
        });
        // inside action
        let mut paren = 0i32;
        loop {
            if i >= b.len() {
                return Err(err(i, "unclosed action".into()));
            }
            let c = b[i];
            // right delim?
            if is_space(c) && src[i + 1..].starts_with("-}}") {
                toks.push(Token {
                    tok: Tok::Right,
                    pos: i,
                });
                trim_next = true;
                i += 4;
                break;
            }
            if src[i..].starts_with("}}") {
                if paren > 0 {
                    return Err(err(i, "unclosed left paren".into()));
                }
                toks.push(Token {
                    tok: Tok::Right,
                    pos: i,
                });
                i += 2;
                break;
            }
            let pos = i;
            if is_space(c) {
                let mut k = i;
                while k < b.len() && is_space(b[k]) {
                    k += 1;
                }
                if src[k..].starts_with("-}}") {
                    k -= 1;
                }
                toks.push(Token {
                    tok: Tok::Space,
                    pos,
                });
                i = k;
                continue;
            }
            match c {
                b'(' => {
                    paren += 1;
                    toks.push(Token {
                        tok: Tok::LParen,
                        pos,
                    });
                    i += 1;
                }
                b')' => {
                    paren -= 1;
                    if paren < 0 {
                        return Err(err(pos, "unexpected right paren".into()));
                    }
                    toks.push(Token {
                        tok: Tok::RParen,
                        pos,
                    });
                    i += 1;
                }
                b'|' => {
                    toks.push(Token {
                        tok: Tok::Pipe,
                        pos,
                    });
                    i += 1;
                }
                b',' => {
                    toks.push(Token {
                        tok: Tok::Comma,
                        pos,
                    });
                    i += 1;
                }
                b':' => {
                    if b.get(i + 1) == Some(&b'=') {
                        toks.push(Token {
                            tok: Tok::Declare,
                            pos,
                        });
                        i += 2;
                    } else {
                        return Err(err(pos, "expected :=".into()));
                    }
                }
                b'=' => {
                    toks.push(Token {
                        tok: Tok::Assign,
                        pos,
                    });
                    i += 1;
                }
                b'"' => {
                    // most literals have no escapes: borrow them from the source
                    if let Some(e) = memchr::memchr3(b'"', b'\\', b'\n', &b[i + 1..]) {
                        if b[i + 1 + e] == b'"' {
                            toks.push(Token {
                                tok: Tok::Str(Lit::Raw(&src[i + 1..i + 1 + e])),
                                pos,
                            });
                            i = i + 1 + e + 1;
                            continue;
                        }
                    }
                    let mut k = i + 1;
                    let mut s = String::new();
                    loop {
                        if k >= b.len() || b[k] == b'\n' {
                            return Err(err(pos, "unterminated quoted string".into()));
                        }
                        match b[k] {
                            b'"' => break,
                            b'\\' => {
                                k += 1;
                                let e = *b.get(k).unwrap_or(&b'\\');
                                match e {
                                    b'n' => s.push('\n'),
                                    b't' => s.push('\t'),
                                    b'r' => s.push('\r'),
                                    b'a' => s.push('\x07'),
                                    b'b' => s.push('\x08'),
                                    b'f' => s.push('\x0c'),
                                    b'v' => s.push('\x0b'),
                                    b'\\' => s.push('\\'),
                                    b'"' => s.push('"'),
                                    b'\'' => s.push('\''),
                                    b'x' | b'u' | b'U' => {
                                        let n = match e {
                                            b'x' => 2,
                                            b'u' => 4,
                                            _ => 8,
                                        };
                                        let h = src.get(k + 1..k + 1 + n).unwrap_or("");
                                        let v = u32::from_str_radix(h, 16).map_err(|_| {
                                            err(pos, format!("invalid syntax: {}", &src[pos..k]))
                                        })?;
                                        if e == b'x' {
                                            s.push(char::from(v as u8));
                                        } else {
                                            s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                                        }
                                        k += n;
                                    }
                                    b'0'..=b'7' => {
                                        let h = src.get(k..k + 3).unwrap_or("");
                                        let v = u32::from_str_radix(h, 8).unwrap_or(0);
                                        s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                                        k += 2;
                                    }
                                    _ => return Err(err(pos, "invalid syntax".into())),
                                }
                                k += 1;
                            }
                            _ => {
                                let ch_len = utf8_len(b[k]);
                                s.push_str(&src[k..k + ch_len]);
                                k += ch_len;
                            }
                        }
                    }
                    escaped.push(s);
                    toks.push(Token {
                        tok: Tok::Str(Lit::Escaped(escaped.len() - 1)),
                        pos,
                    });
                    i = k + 1;
                }
                b'`' => {
                    let Some(end) = src[i + 1..].find('`') else {
                        return Err(err(pos, "unterminated raw quoted string".into()));
                    };
                    toks.push(Token {
                        tok: Tok::Str(Lit::Raw(&src[i + 1..i + 1 + end])),
                        pos,
                    });
                    i = i + 1 + end + 1;
                }
                b'\'' => {
                    let rest = &src[i + 1..];
                    let Some((v, len)) = super::super::number::unquote_char(rest) else {
                        return Err(err(pos, "malformed character constant".into()));
                    };
                    if !rest[len..].starts_with('\'') {
                        return Err(err(pos, "unterminated character constant".into()));
                    }
                    toks.push(Token {
                        tok: Tok::Char(v as i64),
                        pos,
                    });
                    i += 1 + len + 1;
                }
                b'$' | b'.' | b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'+' | b'-' => {
                    if (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
                        || c.is_ascii_digit()
                        || ((c == b'+' || c == b'-')
                            && b.get(i + 1)
                                .is_some_and(|d| d.is_ascii_digit() || *d == b'.'))
                    {
                        let mut k = i + 1;
                        while k < b.len()
                            && (b[k].is_ascii_alphanumeric()
                                || b[k] == b'.'
                                || b[k] == b'_'
                                || ((b[k] == b'+' || b[k] == b'-')
                                    && matches!(b[k - 1], b'e' | b'E' | b'p' | b'P')))
                        {
                            k += 1;
                        }
                        toks.push(Token {
                            tok: Tok::Number(&src[i..k]),
                            pos,
                        });
                        i = k;
                        continue;
                    }
                    if c == b'+' || c == b'-' {
                        return Err(err(
                            pos,
                            format!("bad character U+{:04X} '{}'", c, c as char),
                        ));
                    }
                    let mut k = i + 1;
                    while k < b.len()
                        && (b[k].is_ascii_alphanumeric() || b[k] == b'_' || b[k] >= 0x80)
                    {
                        k += 1;
                    }
                    let word = &src[i..k];
                    let tok = if c == b'$' {
                        Tok::Var(word)
                    } else if c == b'.' {
                        if word == "." {
                            Tok::Dot
                        } else {
                            Tok::Field(&word[1..])
                        }
                    } else {
                        match word {
                            "true" => Tok::Bool(true),
                            "false" => Tok::Bool(false),
                            "nil" => Tok::Nil,
                            _ => Tok::Ident(word),
                        }
                    };
                    toks.push(Token { tok, pos });
                    i = k;
                }
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    return Err(err(pos, format!("unexpected {ch:?} in command")));
                }
            }
        }
    }
    toks.push(Token {
        tok: Tok::Eof,
        pos: b.len(),
    });
    Ok(Lexed { toks, escaped })
}

pub(super) fn utf8_len(b: u8) -> usize {
    match b {
        0..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}
