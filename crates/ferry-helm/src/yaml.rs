//! YAML and JSON in and out, the way Helm (sigs.k8s.io/yaml over go-yaml v2) does them.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::value::{format_float_g, Value};

/// Parses one YAML document into a [`Value`] (numbers become float64, as Helm's values do).
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    crate::yaml11::parse(text)
}

/// Converts a serde YAML value.
pub fn from_yaml_value(v: &serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Nil,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        Y::String(s) => Value::from(s.as_str()),
        Y::Sequence(s) => Value::from(s.iter().map(from_yaml_value).collect::<Vec<_>>()),
        Y::Mapping(m) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s.clone(),
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => match n.as_i64() {
                        Some(i) => i.to_string(),
                        None => format_float_g(n.as_f64().unwrap_or(0.0)),
                    },
                    Y::Null => "null".into(),
                    other => serde_norway::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                out.insert(key, from_yaml_value(v));
            }
            Value::from(out)
        }
        Y::Tagged(t) => from_yaml_value(&t.value),
    }
}

/// Parses JSON into a [`Value`] (numbers become float64).
pub fn parse_json(text: &str) -> Result<Value, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(from_json_value(&v))
}

/// Converts a serde JSON value.
pub fn from_json_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::from(s.as_str()),
        J::Array(a) => Value::from(a.iter().map(from_json_value).collect::<Vec<_>>()),
        J::Object(o) => {
            let m: BTreeMap<String, Value> = o
                .iter()
                .map(|(k, v)| (k.clone(), from_json_value(v)))
                .collect();
            Value::from(m)
        }
    }
}

// ---------------------------------------------------------------- JSON out

/// `encoding/json` Marshal: compact, sorted keys, HTML-escaped unless `raw`.
pub fn to_json(v: &Value, raw: bool) -> String {
    let mut o = String::new();
    write_json(&mut o, v, raw, None, 0);
    o
}

/// `json.MarshalIndent(v, "", "  ")`.
pub fn to_pretty_json(v: &Value) -> String {
    let mut o = String::new();
    write_json(&mut o, v, false, Some("  "), 0);
    o
}

fn json_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        return format!("{}", f as i128);
    }
    let a = f.abs();
    if !(1e-6..1e21).contains(&a) {
        // Go: 'e' format, exponent without leading zero padding beyond one digit: 1e-07
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, d) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        let d = if d.len() < 2 {
            format!("0{d}")
        } else {
            d.to_string()
        };
        return format!("{m}e{sign}{d}");
    }
    format!("{f}")
}

fn json_str(o: &mut String, s: &str, raw: bool) {
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '<' | '>' | '&' if !raw => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
}

fn write_json(o: &mut String, v: &Value, raw: bool, indent: Option<&str>, level: usize) {
    let nl = |o: &mut String, level: usize| {
        if let Some(ind) = indent {
            o.push('\n');
            for _ in 0..level {
                o.push_str(ind);
            }
        }
    };
    match v {
        Value::Nil => o.push_str("null"),
        Value::Bool(b) => o.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => {
            let _ = write!(o, "{i}");
        }
        Value::Float(f) => o.push_str(&json_float(*f)),
        Value::Str(s) => json_str(o, s, raw),
        // Go's JSON encoder replaces invalid UTF-8 with U+FFFD
        Value::BinStr(b) => json_str(o, &String::from_utf8_lossy(b), raw),
        Value::Bytes(b) => {
            use base64::Engine as _;
            json_str(
                o,
                &base64::engine::general_purpose::STANDARD.encode(b.as_slice()),
                raw,
            );
        }
        Value::Object(obj) => json_str(o, &obj.marshal_text(), raw),
        Value::List(l) => {
            if l.is_empty() {
                o.push_str("[]");
                return;
            }
            o.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                nl(o, level + 1);
                write_json(o, x, raw, indent, level + 1);
            }
            nl(o, level);
            o.push(']');
        }
        Value::Map(m) => {
            let m = m.borrow();
            if m.is_empty() {
                o.push_str("{}");
                return;
            }
            o.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                nl(o, level + 1);
                json_str(o, k, raw);
                o.push(':');
                if indent.is_some() {
                    o.push(' ');
                }
                write_json(o, x, raw, indent, level + 1);
            }
            nl(o, level);
            o.push('}');
        }
    }
}

// ---------------------------------------------------------------- YAML out

/// go-yaml v2's map key order (digit runs compared as numbers, letters after other characters).
pub fn yaml_key_cmp(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let n = ar.len().min(br.len());
    for i in 0..n {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 {
                j -= 1;
                if !ar[j].is_ascii_digit() {
                    break;
                }
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// Helm's `toYaml`: sigs.k8s.io/yaml Marshal, trailing newline kept (callers trim).
pub fn to_yaml(v: &Value) -> String {
    let mut e = Emitter { out: String::new() };
    e.node(v, 0, Ctx::Top);
    if !e.out.ends_with('\n') {
        e.out.push('\n');
    }
    e.out
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    MapValue,
    SeqItem,
}

struct Emitter {
    out: String,
}

const WIDTH: usize = 80;

impl Emitter {
    fn column(&self) -> usize {
        match self.out.rfind('\n') {
            Some(i) => self.out[i + 1..].chars().count(),
            None => self.out.chars().count(),
        }
    }

    fn indent_line(&mut self, indent: usize) {
        self.out.push('\n');
        for _ in 0..indent {
            self.out.push(' ');
        }
    }

    /// Writes a node. For collections in block style the caller has positioned the cursor.
    fn node(&mut self, v: &Value, indent: usize, ctx: Ctx) {
        match v {
            Value::Map(m) => {
                let m = m.borrow();
                if m.is_empty() {
                    if ctx == Ctx::MapValue {
                        self.out.push(' ');
                    }
                    self.out.push_str("{}");
                    if ctx == Ctx::Top {
                        self.out.push('\n');
                    }
                    return;
                }
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by(|a, b| yaml_key_cmp(a, b));
                let mut first = true;
                for k in keys {
                    let x = &m[k];
                    match ctx {
                        Ctx::SeqItem if first => {}
                        Ctx::Top if first => {}
                        _ => self.indent_line(indent),
                    }
                    first = false;
                    self.scalar_str(k, indent, true);
                    self.out.push(':');
                    self.value_after_key(x, indent);
                }
                if ctx == Ctx::Top {
                    self.out.push('\n');
                }
            }
            Value::List(l) if !l.is_empty() => {
                let mut first = true;
                for x in l.iter() {
                    match ctx {
                        Ctx::SeqItem if first => {}
                        Ctx::Top if first => {}
                        _ => self.indent_line(indent),
                    }
                    first = false;
                    self.out.push_str("- ");
                    match x {
                        Value::Map(mm) if !mm.borrow().is_empty() => {
                            self.node(x, indent + 2, Ctx::SeqItem)
                        }
                        Value::List(ll) if !ll.is_empty() => self.node(x, indent + 2, Ctx::SeqItem),
                        _ => self.scalar(x, indent + 2),
                    }
                }
                if ctx == Ctx::Top {
                    self.out.push('\n');
                }
            }
            Value::List(_) => {
                if ctx == Ctx::MapValue {
                    self.out.push(' ');
                }
                self.out.push_str("[]");
                if ctx == Ctx::Top {
                    self.out.push('\n');
                }
            }
            other => {
                let sindent = if ctx == Ctx::MapValue {
                    self.out.push(' ');
                    indent + 2
                } else {
                    indent
                };
                self.scalar(other, sindent);
                if ctx == Ctx::Top {
                    self.out.push('\n');
                }
            }
        }
    }

    fn value_after_key(&mut self, x: &Value, indent: usize) {
        match x {
            Value::Map(mm) if !mm.borrow().is_empty() => self.node(x, indent + 2, Ctx::MapValue),
            // go-yaml v2 does not indent sequences inside mappings
            Value::List(ll) if !ll.is_empty() => self.node(x, indent, Ctx::MapValue),
            _ => self.node(x, indent, Ctx::MapValue),
        }
    }

    fn scalar(&mut self, v: &Value, indent: usize) {
        match v {
            Value::Nil => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => {
                let _ = write!(self.out, "{i}");
            }
            Value::Float(f) => {
                if f.fract() == 0.0 && f.abs() < 1e21 {
                    let _ = write!(self.out, "{}", *f as i128);
                } else if f.is_nan() {
                    self.out.push_str(".nan");
                } else if f.is_infinite() {
                    self.out.push_str(if *f > 0.0 { ".inf" } else { "-.inf" });
                } else {
                    self.out.push_str(&format_float_g(*f));
                }
            }
            Value::Str(s) => self.scalar_str(s, indent, false),
            Value::BinStr(b) => self.scalar_str(&String::from_utf8_lossy(b), indent, false),
            Value::Bytes(b) => {
                use base64::Engine as _;
                let s = base64::engine::general_purpose::STANDARD.encode(b.as_slice());
                self.scalar_str(&s, indent, false);
            }
            Value::Object(o) => {
                let s = o.marshal_text();
                self.scalar_str(&s, indent, false);
            }
            Value::Map(_) | Value::List(_) => self.node(v, indent, Ctx::SeqItem),
        }
    }

    fn scalar_str(&mut self, s: &str, indent: usize, simple_key: bool) {
        // most keys and values are plain words: libyaml's analysis of them is "plain allowed",
        // and without spaces there is nowhere to fold a long line
        if is_plain_word(s) {
            if resolves_to_str(s) {
                self.out.push_str(s);
            } else {
                self.double_quoted(s, indent, !simple_key);
            }
            return;
        }
        let a = analyze(s);
        let resolves = !resolves_to_str(s);
        if s.contains('\n') && !simple_key && a.block_allowed && !resolves {
            self.literal(s, indent);
            return;
        }
        if s.contains('\n') && !simple_key && a.block_allowed {
            self.literal(s, indent);
            return;
        }
        if resolves || s.contains('\n') {
            self.double_quoted(s, indent, !simple_key);
            return;
        }
        if a.block_plain_allowed && !(s.is_empty()) {
            self.plain(s, indent, !simple_key);
        } else if a.single_quoted_allowed {
            self.single_quoted(s, indent, !simple_key);
        } else {
            self.double_quoted(s, indent, !simple_key);
        }
    }

    fn plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let mut col = self.column();
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && col > WIDTH
                    && i + 1 < chars.len()
                    && chars[i + 1] != ' '
                {
                    self.indent_line(indent);
                    col = indent;
                } else {
                    self.out.push(c);
                    col += 1;
                }
                spaces = true;
            } else {
                self.out.push(c);
                col += 1;
                spaces = false;
            }
        }
    }

    fn single_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.out.push('\'');
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let mut col = self.column();
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && col > WIDTH
                    && i != 0
                    && i + 1 < chars.len()
                    && chars[i + 1] != ' '
                {
                    self.indent_line(indent);
                    col = indent;
                } else {
                    self.out.push(c);
                    col += 1;
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.out.push('\'');
                    col += 1;
                }
                self.out.push(c);
                col += 1;
                spaces = false;
            }
        }
        self.out.push('\'');
    }

    fn double_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.out.push('"');
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let mut col = self.column();
        for (i, &c) in chars.iter().enumerate() {
            let printable = is_printable(c);
            if !printable || c == '"' || c == '\\' || c == '\u{feff}' || is_break(c) {
                let esc = match c {
                    '\0' => "\\0".to_string(),
                    '\x07' => "\\a".into(),
                    '\x08' => "\\b".into(),
                    '\t' => "\\t".into(),
                    '\n' => "\\n".into(),
                    '\x0b' => "\\v".into(),
                    '\x0c' => "\\f".into(),
                    '\r' => "\\r".into(),
                    '\x1b' => "\\e".into(),
                    '"' => "\\\"".into(),
                    '\\' => "\\\\".into(),
                    '\u{85}' => "\\N".into(),
                    '\u{a0}' => "\\_".into(),
                    '\u{2028}' => "\\L".into(),
                    '\u{2029}' => "\\P".into(),
                    c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                col += esc.len();
                self.out.push_str(&esc);
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && col > WIDTH && i != 0 && i + 1 != chars.len() {
                    self.indent_line(indent);
                    col = indent;
                    if chars.get(i + 1) == Some(&' ') {
                        self.out.push('\\');
                        col += 1;
                    }
                } else {
                    self.out.push(c);
                    col += 1;
                }
                spaces = true;
            } else {
                self.out.push(c);
                col += 1;
                spaces = false;
            }
        }
        self.out.push('"');
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.out.push('|');
        let first = s.chars().next();
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
            let _ = write!(self.out, "{}", 2);
        }
        // chomping
        if !s.ends_with('\n') {
            self.out.push('-');
        } else if s.len() == 1 || s[..s.len() - 1].ends_with('\n') {
            self.out.push('+');
        }
        // a block scalar at the root is indented too (libyaml's best indent of 2)
        let ind = if indent == 0 { 2 } else { indent };
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.out.push('\n');
            if !line.is_empty() {
                for _ in 0..ind {
                    self.out.push(' ');
                }
                self.out.push_str(line);
            }
        }
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a
        || (0x20..=0x7e).contains(&u)
        || u == 0x85
        || (0xa0..=0xd7ff).contains(&u)
        || (0xe000..=0xfffd).contains(&u) && u != 0xfeff
        || (0x10000..=0x10ffff).contains(&u)
}

/// A non-empty string of letters, digits, `.`, `_`, `/` and `-` starting with a letter or digit:
/// no YAML indicator, space or break, so [`analyze`] would allow it plain.
fn is_plain_word(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'/' | b'-'))
}

struct Analysis {
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

/// libyaml's yaml_emitter_analyze_scalar (block context).
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain_allowed: false,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut preceded_by_whitespace = true;
    let mut previous_space = false;
    let mut previous_break = false;
    if s.starts_with("---") || s.starts_with("...") {
        block_indicators = true;
        flow_indicators = true;
    }
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace =
            i + 1 >= n || matches!(chars[i + 1], ' ' | '\t') || is_break(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                '?' | ':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                '-' if followed_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_indicators = true,
                ':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                '#' if preceded_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        }
        if !is_printable(c) {
            special_characters = true;
        }
        if c == '\u{feff}' {
            special_characters = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t') || is_break(c);
    }
    let _ = flow_indicators;
    let mut block_plain_allowed = true;
    let mut single_quoted_allowed = true;
    let mut block_allowed = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        block_plain_allowed = false;
    }
    if trailing_space {
        block_allowed = false;
    }
    if break_space {
        block_plain_allowed = false;
        single_quoted_allowed = false;
    }
    if space_break || special_characters {
        block_plain_allowed = false;
        single_quoted_allowed = false;
        block_allowed = false;
    }
    if line_breaks {
        block_plain_allowed = false;
    }
    if block_indicators {
        block_plain_allowed = false;
    }
    Analysis {
        block_plain_allowed,
        single_quoted_allowed,
        block_allowed,
    }
}

/// Whether a plain scalar `s` would be read back as a string by go-yaml v2 (YAML 1.1 rules).
pub fn resolves_to_str(s: &str) -> bool {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return false,
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "true" | "True"
        | "TRUE" | "false" | "False" | "FALSE" | "on" | "On" | "ON" | "off" | "Off" | "OFF" => {
            return false
        }
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" | "<<" => return false,
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return true;
    }
    // ints (Go ParseInt base 0, with underscores), floats, base-60 floats, timestamps
    let t = s.replace('_', "");
    let (neg, body) = match t.strip_prefix('-').or_else(|| t.strip_prefix('+')) {
        Some(b) => (true, b.to_string()),
        None => (false, t.clone()),
    };
    let _ = neg;
    let lower = body.to_ascii_lowercase();
    let is_int = if let Some(h) = lower.strip_prefix("0x") {
        !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit())
    } else if let Some(b) = lower.strip_prefix("0b") {
        !b.is_empty() && b.chars().all(|c| c == '0' || c == '1')
    } else if let Some(o) = lower.strip_prefix("0o") {
        !o.is_empty() && o.chars().all(|c| ('0'..='7').contains(&c))
    } else if lower.len() > 1 && lower.starts_with('0') {
        lower.chars().all(|c| ('0'..='7').contains(&c))
    } else {
        !lower.is_empty() && lower.chars().all(|c| c.is_ascii_digit())
    };
    if is_int && !s.contains('_') {
        return false;
    }
    if is_int && (lower.starts_with("0x") || lower.starts_with("0b") || lower.starts_with("0o")) {
        return false;
    }
    if is_yaml_float(s) {
        return false;
    }
    if is_base60(s) {
        return false;
    }
    if is_timestamp(s) {
        return false;
    }
    true
}

/// Whether a plain scalar has YAML's float syntax (shared by the 1.2 and 1.1 readers).
pub(crate) fn is_yaml_float(s: &str) -> bool {
    // ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn is_base60(s: &str) -> bool {
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let t = s.trim_start_matches(['-', '+']);
    let (main, frac) = match t.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (t, None),
    };
    if let Some(f) = frac {
        if !f.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return false;
        }
    }
    let mut parts = main.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    if head.is_empty()
        || !head.as_bytes()[0].is_ascii_digit()
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let mut n = 0;
    for p in parts {
        n += 1;
        let ok = match p.len() {
            1 => p.as_bytes()[0].is_ascii_digit(),
            2 => (b'0'..=b'5').contains(&p.as_bytes()[0]) && p.as_bytes()[1].is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    n > 0
}

fn is_timestamp(s: &str) -> bool {
    // 2006-1-2 with optional time part
    let b = s.as_bytes();
    let mut i = 0;
    let field = |i: &mut usize, min: usize, max: usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        let n = *i - st;
        n >= min && n <= max
    };
    if !field(&mut i, 4, 4) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    if !field(&mut i, 1, 2) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    if !field(&mut i, 1, 2) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    matches!(b[i], b'T' | b't' | b' ') && s[i + 1..].contains(':')
}

/// Rewords a libyaml error (`msg at line N column M, ...`) the way go-yaml words it
/// (`line N: msg`): go-yaml counts parser errors' lines from 0 and scanner errors' from 1.
pub(crate) fn go_yaml_message(msg: &str) -> String {
    if let Some(i) = msg.find(" at line ") {
        let rest = &msg[i + 9..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(line) = digits.parse::<usize>() {
            let line = if msg.contains("while parsing") {
                line.saturating_sub(1)
            } else {
                line
            };
            return format!("line {line}: {}", &msg[..i]);
        }
    }
    msg.to_string()
}
