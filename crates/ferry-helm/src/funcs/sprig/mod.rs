//! Sprig v3 functions (the ones Helm registers; no env/expandenv).

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use sha2::{Digest, Sha256, Sha512};

use super::{go_quote, want, want_min, Func};
use crate::template::exec::{Exec, ExecError};
use crate::value::Value;

mod dicts;
mod encoding;
mod lists;
mod logic;
mod math;
mod misc;
mod strings;

type R = Result<Value, ExecError>;

/// An argument as text (Sprig's `toString`), borrowed when it is a string already.
fn s(v: &Value) -> std::borrow::Cow<'_, str> {
    v.as_text()
}

/// The bytes of a string argument as Go sees them (a binary file's stay unchanged); other
/// values as their text.
fn go_bytes(v: &Value) -> std::borrow::Cow<'_, [u8]> {
    match v.string_bytes() {
        Some(b) => std::borrow::Cow::Borrowed(b),
        None => std::borrow::Cow::Owned(v.to_str().into_bytes()),
    }
}

/// `text` as a value: the argument itself when the function left it unchanged (no copy).
fn same_or(arg: &Value, text: &str) -> Value {
    match arg {
        Value::Str(orig) if **orig == *text => arg.clone(),
        _ => Value::from(text),
    }
}

fn arg(a: &[Value], i: usize) -> &Value {
    a.get(i).unwrap_or(&Value::Nil)
}

fn list_of(v: &Value, name: &str) -> Result<Vec<Value>, ExecError> {
    match v {
        Value::Nil => Ok(Vec::new()),
        other => other
            .as_list()
            .ok_or_else(|| ExecError::new(format!("Cannot {name} on type {}", other.type_name()))),
    }
}

fn str_list(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l
            .iter()
            .map(|x| match x {
                Value::Nil => String::new(),
                x => x.to_str(),
            })
            .collect(),
        Value::Str(st) => vec![st.to_string()],
        Value::Nil => Vec::new(),
        other => vec![other.to_str()],
    }
}

/// Sprig's `indent` (every line prefixed by `width` spaces) and, with `newline`, `nindent` (the
/// same after a newline), in one pass.
/// The length of `text` indented by `width` spaces on every line.
fn indented_len(text: &str, width: i64) -> u128 {
    let lines = memchr::memchr_iter(b'\n', text.as_bytes()).count() as u128 + 1;
    text.len() as u128 + lines * u128::from(u64::try_from(width).unwrap_or(0))
}

fn indent(text: &str, width: i64, newline: bool) -> String {
    let width = usize::try_from(width).unwrap_or(0);
    let lines = memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1;
    let mut out = String::with_capacity(text.len() + lines * width + usize::from(newline));
    if newline {
        out.push('\n');
    }
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.extend(std::iter::repeat_n(' ', width));
        out.push_str(line);
    }
    out
}

/// Registers Sprig's functions.
pub fn register(m: &mut HashMap<&'static str, Func>) {
    strings::register(m);
    encoding::register(m);
    logic::register(m);
    math::register(m);
    lists::register(m);
    dicts::register(m);
    misc::register(m);
    register_more(m);
    super::date::register(m);
    super::sprig_crypto::register(m);
}

/// Sprig functions that are aliases or thin variants of others.
fn register_more(m: &mut HashMap<&'static str, Func>) {
    let alias = |m: &mut HashMap<&'static str, Func>, new: &'static str, old: &'static str| {
        if let Some(f) = m.get(old).copied() {
            m.insert(new, f);
        }
    };
    for (new, old) in [
        ("mustRegexFind", "regexFind"),
        ("mustRegexFindAll", "regexFindAll"),
        ("mustRegexReplaceAll", "regexReplaceAll"),
        ("mustRegexReplaceAllLiteral", "regexReplaceAllLiteral"),
        ("mustRegexSplit", "regexSplit"),
        ("mustFromJson", "fromJson"),
        ("mustChunk", "chunk"),
        ("mustSlice", "slice"),
        ("trimall", "trimAll"),
        ("osBase", "base"),
        ("osClean", "clean"),
        ("osDir", "dir"),
        ("osExt", "ext"),
        ("osIsAbs", "isAbs"),
    ] {
        alias(m, new, old);
    }
    m.insert("sha1sum", |_, a| {
        use sha1::Digest as _;
        Ok(Value::from(hex(&sha1::Sha1::digest(go_bytes(arg(&a, 0))))))
    });
    m.insert("abbrevboth", |_, a| {
        want(&a, 3, "abbrevboth")?;
        let (left, right) = (a[0].to_i64().max(0) as usize, a[1].to_i64().max(0) as usize);
        let st = s(&a[2]);
        let chars: Vec<char> = st.chars().collect();
        if right < 4 || chars.len() <= right {
            return Ok(same_or(&a[2], &st));
        }
        let start = if left > 0 && left + right - 3 < chars.len() {
            left
        } else {
            0
        };
        let mut body: String = chars[start..].iter().collect();
        if start > 0 {
            body = format!("...{body}");
        }
        let bc: Vec<char> = body.chars().collect();
        if bc.len() > right {
            body = format!("{}...", bc[..right - 3].iter().collect::<String>());
        }
        Ok(Value::from(body))
    });
    m.insert("toDecimal", |_, a| {
        Ok(Value::Int64(
            i64::from_str_radix(&s(arg(&a, 0)), 8).unwrap_or(0),
        ))
    });
    m.insert("b32dec", |_, a| {
        Ok(Value::from(base32_decode(&s(arg(&a, 0)))))
    });
    m.insert("randBytes", |e, a| {
        let n = arg(&a, 0).to_i64().max(0) as u64;
        super::within_output(e, "randBytes", u128::from(n) * 4 / 3)?;
        let mut b = vec![0u8; n as usize];
        e.rng.fill(&mut b);
        Ok(Value::from(
            base64::engine::general_purpose::STANDARD.encode(b),
        ))
    });
    m.insert("urlParse", |_, a| {
        let raw = s(arg(&a, 0));
        let mut out = BTreeMap::new();
        let (scheme, rest) = raw.split_once("://").map_or(("", &*raw), |(a, b)| (a, b));
        let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (host_part, path) = match rest.find('/') {
            Some(i) if !scheme.is_empty() => (&rest[..i], &rest[i..]),
            _ if !scheme.is_empty() => (rest, ""),
            _ => ("", rest),
        };
        let (userinfo, host) = host_part.rsplit_once('@').unwrap_or(("", host_part));
        for (k, v) in [
            ("scheme", scheme),
            ("host", host),
            ("hostname", host.split(':').next().unwrap_or("")),
            ("path", path),
            ("query", query),
            ("opaque", ""),
            ("fragment", fragment),
            ("userinfo", userinfo),
        ] {
            out.insert(k.to_string(), Value::from(v));
        }
        Ok(Value::from(out))
    });
    m.insert("urlJoin", |_, a| {
        let d = arg(&a, 0);
        let get = |k: &str| d.get(k).map(|v| v.to_str()).unwrap_or_default();
        let mut out = String::new();
        if !get("scheme").is_empty() {
            out.push_str(&format!("{}://", get("scheme")));
        }
        if !get("userinfo").is_empty() {
            out.push_str(&format!("{}@", get("userinfo")));
        }
        out.push_str(&get("host"));
        out.push_str(&get("path"));
        if !get("query").is_empty() {
            out.push_str(&format!("?{}", get("query")));
        }
        if !get("fragment").is_empty() {
            out.push_str(&format!("#{}", get("fragment")));
        }
        Ok(Value::from(out))
    });
}

fn base32_decode(text: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        if c == b'=' {
            break;
        }
        let Some(v) = A.iter().position(|x| *x == c) else {
            return String::from("illegal base32 data");
        };
        bits = (bits << 5) | v as u64;
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn until_step(
    e: &Exec,
    name: &str,
    start: i64,
    stop: i64,
    step: i64,
) -> Result<Vec<Value>, ExecError> {
    let mut v = Vec::new();
    if step == 0 || (step > 0 && start >= stop) || (step < 0 && start <= stop) {
        return Ok(v);
    }
    let span = (i128::from(stop) - i128::from(start)).unsigned_abs();
    let step_abs = i128::from(step).unsigned_abs();
    super::within_items(e, name, span.div_ceil(step_abs))?;
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        v.push(Value::Int(i));
        match i.checked_add(step) {
            Some(next) => i = next,
            None => break,
        }
    }
    Ok(v)
}

fn rand_string(e: &mut Exec, name: &str, n: i64, chars: &[u8]) -> Result<String, ExecError> {
    let n = n.max(0) as u64;
    super::within_output(e, name, u128::from(n))?;
    Ok((0..n)
        .map(|_| chars[e.rng.below(chars.len() as u64) as usize] as char)
        .collect())
}

/// Go's `reflect.DeepEqual` on template values (an `int` never equals an `int64`).
fn deep_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::BinStr(x), Value::BinStr(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_eq(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            if std::rc::Rc::ptr_eq(x, y) {
                return true;
            }
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_eq(v, w)))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.type_name() == y.type_name() && x.display() == y.display()
        }
        _ => false,
    }
}

/// mergo-style merge of `src` into `dst` (maps recursively); `overwrite` replaces non-empty values.
pub fn merge_into(dst: &Value, src: &Value, overwrite: bool) {
    let (Value::Map(d), Value::Map(s)) = (dst, src) else {
        return;
    };
    if std::rc::Rc::ptr_eq(d, s) {
        return;
    }
    let src_entries: Vec<(String, Value)> = s
        .borrow()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, sv) in src_entries {
        let existing = d.borrow().get(&k).cloned();
        match existing {
            Some(dv @ Value::Map(_)) if matches!(sv, Value::Map(_)) => {
                let was_empty = !dv.truthy();
                merge_into(&dv, &sv, overwrite);
                if was_empty && !dv.truthy() {
                    d.borrow_mut().insert(k, sv);
                }
            }
            Some(dv) => {
                // mergo: with override every source value replaces; without, only empty ones are filled
                if overwrite || !dv.truthy() {
                    if matches!(sv, Value::Nil) && !overwrite {
                        continue;
                    }
                    d.borrow_mut().insert(k, sv);
                }
            }
            None => {
                if matches!(sv, Value::Nil) && !overwrite {
                    continue;
                }
                d.borrow_mut().insert(k, sv);
            }
        }
    }
}

fn re(v: &Value) -> Result<regex::Regex, ExecError> {
    super::go_regex::compile(&v.to_str()).map_err(ExecError::new)
}

/// Go's `$1`/`${name}` expansion syntax, mapped onto the regex crate's (`${1}`).
fn go_expand(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() && b[i + 1].is_ascii_alphanumeric()
            || b[i] == b'$' && i + 1 < b.len() && b[i + 1] == b'_'
        {
            let mut k = i + 1;
            while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
                k += 1;
            }
            out.push_str("${");
            out.push_str(&s[i + 1..k]);
            out.push('}');
            i = k;
            continue;
        }
        let ch = s[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return s.chars().map(String::from).collect();
    }
    s.split(sep).map(String::from).collect()
}

fn title(x: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in x.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn snake(x: &str, sep: char) -> String {
    let mut out = String::new();
    let chars: Vec<char> = x.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            if i > 0
                && (chars[i - 1].is_lowercase()
                    || chars.get(i + 1).is_some_and(|n| n.is_lowercase()) && chars[i - 1] != sep)
            {
                out.push(sep);
            }
            out.extend(c.to_lowercase());
        } else if c == ' ' || c == '-' || c == '_' {
            out.push(sep);
        } else {
            out.push(c);
        }
    }
    out
}

fn wrap(x: &str, width: usize, nl: &str) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for (i, w) in x.split(' ').enumerate() {
        if i > 0 {
            if line_len + 1 + w.len() > width {
                out.push_str(nl);
                line_len = 0;
            } else {
                out.push(' ');
                line_len += 1;
            }
        }
        out.push_str(w);
        line_len += w.len();
    }
    out
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn base32(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in b.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(A[((n >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

/// Go's `path.Clean`.
pub fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let j = parts.join("/");
    if rooted {
        format!("/{j}")
    } else if j.is_empty() {
        ".".into()
    } else {
        j
    }
}
