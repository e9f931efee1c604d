use std::collections::BTreeMap;

use super::dec::Dec;
use super::text::go_quote;

/// A JSON number as written in the schema (Go's `json.Number`).
#[derive(Debug, Clone)]
pub struct Num {
    pub lit: String,
}

impl Num {
    pub fn dec(&self) -> Option<Dec> {
        Dec::parse(&self.lit)
    }
}

/// A JSON document; objects keep the last of duplicate keys, as Go does.
#[derive(Debug, Clone)]
pub enum Json {
    Null,
    Bool(bool),
    Num(Num),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_num(&self) -> Option<&Num> {
        match self {
            Json::Num(n) => Some(n),
            _ => None,
        }
    }
}

/// Go's `encoding/json` nesting limit.
const MAX_NESTING: usize = 10000;

enum Frame {
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>, String),
}

struct Parser<'s> {
    b: &'s [u8],
    i: usize,
}

const UNEXPECTED_EOF: &str = "unexpected EOF";

/// Go's `quoteChar` (a byte shown as its Latin-1 rune).
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        c => {
            let q = go_quote(&char::from(c).to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

fn invalid(c: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote_char(c))
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Result<u8, String> {
        self.skip_ws();
        self.b
            .get(self.i)
            .copied()
            .ok_or_else(|| UNEXPECTED_EOF.to_string())
    }

    fn next_byte(&mut self) -> Result<u8, String> {
        let c = self
            .b
            .get(self.i)
            .copied()
            .ok_or_else(|| UNEXPECTED_EOF.to_string())?;
        self.i += 1;
        Ok(c)
    }

    /// An object key: a string, after `{` or `,`.
    fn key(&mut self) -> Result<String, String> {
        let c = self.peek()?;
        if c != b'"' {
            return Err(invalid(c, "looking for beginning of object key string"));
        }
        let k = self.string()?;
        let c = self.peek()?;
        if c != b':' {
            return Err(invalid(c, "after object key"));
        }
        self.i += 1;
        Ok(k)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // the opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.next_byte()?;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.next_byte()?;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut r = self.hex4()?;
                            if (0xd800..0xdc00).contains(&r)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    r = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
                                } else {
                                    self.i = save;
                                }
                            }
                            let ch = char::from_u32(r).unwrap_or('\u{fffd}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        e => return Err(invalid(e, "in string escape code")),
                    }
                }
                c if c < 0x20 => return Err(invalid(c, "in string literal")),
                c => out.push(c),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut r = 0u32;
        for _ in 0..4 {
            let c = self.next_byte()?;
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| invalid(c, "in \\u hexadecimal character escape"))?;
            r = r * 16 + d;
        }
        Ok(r)
    }

    fn number(&mut self) -> Result<String, String> {
        let start = self.i;
        let at_end = |p: &Self| p.i >= p.b.len();
        if self.b[self.i] == b'-' {
            self.i += 1;
            let c = self
                .b
                .get(self.i)
                .copied()
                .ok_or_else(|| UNEXPECTED_EOF.to_string())?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "in numeric literal"));
            }
        }
        if self.b[self.i] == b'0' {
            self.i += 1;
        } else {
            while !at_end(self) && self.b[self.i].is_ascii_digit() {
                self.i += 1;
            }
        }
        if !at_end(self) && self.b[self.i] == b'.' {
            self.i += 1;
            let c = self
                .b
                .get(self.i)
                .copied()
                .ok_or_else(|| UNEXPECTED_EOF.to_string())?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "after decimal point in numeric literal"));
            }
            while !at_end(self) && self.b[self.i].is_ascii_digit() {
                self.i += 1;
            }
        }
        if !at_end(self) && matches!(self.b[self.i], b'e' | b'E') {
            self.i += 1;
            let mut c = self
                .b
                .get(self.i)
                .copied()
                .ok_or_else(|| UNEXPECTED_EOF.to_string())?;
            if c == b'+' || c == b'-' {
                self.i += 1;
                c = self
                    .b
                    .get(self.i)
                    .copied()
                    .ok_or_else(|| UNEXPECTED_EOF.to_string())?;
            }
            if !c.is_ascii_digit() {
                return Err(invalid(c, "in exponent of numeric literal"));
            }
            while !at_end(self) && self.b[self.i].is_ascii_digit() {
                self.i += 1;
            }
        }
        Ok(String::from_utf8_lossy(&self.b[start..self.i]).into_owned())
    }

    fn literal(&mut self, word: &str) -> Result<(), String> {
        for (k, want) in word.bytes().enumerate() {
            let c = self.next_byte()?;
            if k > 0 && c != want {
                return Err(invalid(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(want)),
                ));
            }
        }
        Ok(())
    }
}

/// Parses a schema as Helm's validator reads it (`json.Decoder` with `UseNumber`), with
/// Go's error messages.
pub fn parse(src: &str) -> Result<Json, String> {
    let mut p = Parser {
        b: src.as_bytes(),
        i: 0,
    };
    p.skip_ws();
    if p.i >= p.b.len() {
        return Err("EOF".into());
    }
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        // A value starts here.
        let c = p.peek()?;
        let mut v = match c {
            b'{' | b'[' if stack.len() >= MAX_NESTING => {
                return Err(invalid(c, "exceeded max depth"));
            }
            b'{' => {
                p.i += 1;
                if p.peek()? == b'}' {
                    p.i += 1;
                    Json::Obj(BTreeMap::new())
                } else {
                    let k = p.key()?;
                    stack.push(Frame::Obj(BTreeMap::new(), k));
                    continue;
                }
            }
            b'[' => {
                p.i += 1;
                if p.peek()? == b']' {
                    p.i += 1;
                    Json::Arr(Vec::new())
                } else {
                    stack.push(Frame::Arr(Vec::new()));
                    continue;
                }
            }
            b'"' => Json::Str(p.string()?),
            b'-' | b'0'..=b'9' => Json::Num(Num { lit: p.number()? }),
            b't' => {
                p.literal("true")?;
                Json::Bool(true)
            }
            b'f' => {
                p.literal("false")?;
                Json::Bool(false)
            }
            b'n' => {
                p.literal("null")?;
                Json::Null
            }
            c => return Err(invalid(c, "looking for beginning of value")),
        };
        // A value ended: hand it to its container.
        loop {
            match stack.last_mut() {
                None => {
                    p.skip_ws();
                    if p.i < p.b.len() {
                        return Err("invalid character after top-level value".into());
                    }
                    return Ok(v);
                }
                Some(Frame::Arr(items)) => {
                    items.push(v);
                    match p.peek()? {
                        b',' => {
                            p.i += 1;
                            break;
                        }
                        b']' => {
                            p.i += 1;
                            let Some(Frame::Arr(items)) = stack.pop() else {
                                return Err(UNEXPECTED_EOF.into());
                            };
                            v = Json::Arr(items);
                        }
                        c => return Err(invalid(c, "after array element")),
                    }
                }
                Some(Frame::Obj(map, key)) => {
                    map.insert(std::mem::take(key), v);
                    match p.peek()? {
                        b',' => {
                            p.i += 1;
                            let k = p.key()?;
                            if let Some(Frame::Obj(_, key)) = stack.last_mut() {
                                *key = k;
                            }
                            break;
                        }
                        b'}' => {
                            p.i += 1;
                            let Some(Frame::Obj(map, _)) = stack.pop() else {
                                return Err(UNEXPECTED_EOF.into());
                            };
                            v = Json::Obj(map);
                        }
                        c => return Err(invalid(c, "after object key:value pair")),
                    }
                }
            }
        }
    }
}
