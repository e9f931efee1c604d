//! Sprig v3 functions (the ones Helm registers; no env/expandenv).

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use sha2::{Digest, Sha256, Sha512};

use super::{go_quote, want, want_min, Func};
use crate::template::exec::{Exec, ExecError};
use crate::value::Value;

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
    // strings
    m.insert("trim", |_, a| Ok(same_or(arg(&a, 0), s(arg(&a, 0)).trim())));
    m.insert("trimAll", |_, a| {
        let cut: Vec<char> = s(arg(&a, 0)).chars().collect();
        Ok(Value::from(
            s(arg(&a, 1)).trim_matches(|c| cut.contains(&c)),
        ))
    });
    m.insert("trimPrefix", |_, a| {
        let (p, x) = (s(arg(&a, 0)), s(arg(&a, 1)));
        Ok(same_or(arg(&a, 1), x.strip_prefix(&*p).unwrap_or(&x)))
    });
    m.insert("trimSuffix", |_, a| {
        let (p, x) = (s(arg(&a, 0)), s(arg(&a, 1)));
        Ok(same_or(arg(&a, 1), x.strip_suffix(&*p).unwrap_or(&x)))
    });
    m.insert("upper", |_, a| {
        Ok(Value::from(s(arg(&a, 0)).to_uppercase()))
    });
    m.insert("lower", |_, a| {
        Ok(Value::from(s(arg(&a, 0)).to_lowercase()))
    });
    m.insert("title", |_, a| Ok(Value::from(title(&s(arg(&a, 0))))));
    m.insert("untitle", |_, a| {
        let x = s(arg(&a, 0));
        let mut out = String::new();
        let mut prev_space = true;
        for c in x.chars() {
            if prev_space {
                out.extend(c.to_lowercase());
            } else {
                out.push(c);
            }
            prev_space = c.is_whitespace();
        }
        Ok(Value::from(out))
    });
    m.insert("repeat", |e, a| {
        want(&a, 2, "repeat")?;
        let text = s(&a[1]);
        let count = a[0].to_i64().max(0) as u64;
        super::within_output(e, "repeat", u128::from(count) * text.len() as u128)?;
        Ok(Value::from(text.repeat(count as usize)))
    });
    m.insert("substr", |_, a| {
        want(&a, 3, "substr")?;
        let st = s(&a[2]);
        let (mut start, end) = (a[0].to_i64(), a[1].to_i64());
        if start < 0 {
            start = 0;
        }
        let len = st.len() as i64;
        let end = if end < 0 || end > len { len } else { end };
        if start > end {
            return Ok(Value::from(""));
        }
        Ok(Value::from(
            String::from_utf8_lossy(&st.as_bytes()[start as usize..end as usize]).into_owned(),
        ))
    });
    m.insert("nospace", |_, a| {
        Ok(Value::from(
            s(arg(&a, 0))
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>(),
        ))
    });
    m.insert("trunc", |_, a| {
        want(&a, 2, "trunc")?;
        let n = a[0].to_i64();
        let st = s(&a[1]);
        let len = st.len() as i64;
        let r = if n < 0 && -n < len {
            String::from_utf8_lossy(&st.as_bytes()[(len + n) as usize..])
        } else if n >= 0 && len > n {
            String::from_utf8_lossy(&st.as_bytes()[..n as usize])
        } else {
            return Ok(same_or(&a[1], &st));
        };
        Ok(Value::from(&*r))
    });
    m.insert("abbrev", |_, a| {
        want(&a, 2, "abbrev")?;
        let w = a[0].to_i64().max(0) as usize;
        let st = s(&a[1]);
        if w < 4 || st.len() <= w {
            return Ok(same_or(&a[1], &st));
        }
        Ok(Value::from(format!(
            "{}...",
            String::from_utf8_lossy(&st.as_bytes()[..w - 3])
        )))
    });
    m.insert("initials", |_, a| {
        Ok(Value::from(
            s(arg(&a, 0))
                .split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect::<String>(),
        ))
    });
    m.insert("wrap", |_, a| {
        want(&a, 2, "wrap")?;
        Ok(Value::from(wrap(
            &s(&a[1]),
            a[0].to_i64().max(1) as usize,
            "\n",
        )))
    });
    m.insert("wrapWith", |_, a| {
        want(&a, 3, "wrapWith")?;
        Ok(Value::from(wrap(
            &s(&a[2]),
            a[0].to_i64().max(1) as usize,
            &s(&a[1]),
        )))
    });
    m.insert("contains", |_, a| {
        want(&a, 2, "contains")?;
        Ok(Value::Bool(s(&a[1]).contains(&*s(&a[0]))))
    });
    m.insert("hasPrefix", |_, a| {
        want(&a, 2, "hasPrefix")?;
        Ok(Value::Bool(s(&a[1]).starts_with(&*s(&a[0]))))
    });
    m.insert("hasSuffix", |_, a| {
        want(&a, 2, "hasSuffix")?;
        Ok(Value::Bool(s(&a[1]).ends_with(&*s(&a[0]))))
    });
    m.insert("quote", |_, a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(|x| go_quote(&x.to_str()))
            .collect();
        Ok(Value::from(parts.join(" ")))
    });
    m.insert("squote", |_, a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(|x| format!("'{}'", x.to_str()))
            .collect();
        Ok(Value::from(parts.join(" ")))
    });
    m.insert("cat", |_, a| {
        let parts: Vec<String> = a
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(Value::to_str)
            .collect();
        Ok(Value::from(parts.join(" ")))
    });
    m.insert("indent", |e, a| {
        want(&a, 2, "indent")?;
        let text = s(&a[1]);
        super::within_output(e, "indent", indented_len(&text, a[0].to_i64()))?;
        Ok(Value::from(indent(&text, a[0].to_i64(), false)))
    });
    m.insert("nindent", |e, a| {
        want(&a, 2, "nindent")?;
        let text = s(&a[1]);
        super::within_output(e, "nindent", indented_len(&text, a[0].to_i64()) + 1)?;
        Ok(Value::from(indent(&text, a[0].to_i64(), true)))
    });
    m.insert("replace", |_, a| {
        want(&a, 3, "replace")?;
        Ok(Value::from(s(&a[2]).replace(&*s(&a[0]), &s(&a[1]))))
    });
    m.insert("plural", |_, a| {
        want(&a, 3, "plural")?;
        Ok(if a[2].to_i64() == 1 {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    m.insert("snakecase", |_, a| {
        Ok(Value::from(snake(&s(arg(&a, 0)), '_')))
    });
    m.insert("kebabcase", |_, a| {
        Ok(Value::from(snake(&s(arg(&a, 0)), '-')))
    });
    m.insert("camelcase", |_, a| {
        let x = s(arg(&a, 0));
        Ok(Value::from(
            x.split(['_', ' ', '-'])
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let mut c = p.chars();
                    c.next()
                        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<String>(),
        ))
    });
    m.insert("swapcase", |_, a| {
        Ok(Value::from(
            s(arg(&a, 0))
                .chars()
                .map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().collect::<String>()
                    } else {
                        c.to_uppercase().collect()
                    }
                })
                .collect::<String>(),
        ))
    });
    m.insert("toString", |_, a| {
        let v = arg(&a, 0);
        Ok(match v {
            Value::BinStr(_) => v.clone(),
            // Go's string([]byte) keeps the bytes
            Value::Bytes(b) => Value::from_go_bytes(b.to_vec()),
            _ => same_or(v, &s(v)),
        })
    });
    m.insert("toStrings", |_, a| {
        Ok(Value::from(
            list_of(arg(&a, 0), "toStrings")?
                .iter()
                .map(|x| Value::from(x.to_str()))
                .collect::<Vec<_>>(),
        ))
    });
    m.insert("join", |_, a| {
        want(&a, 2, "join")?;
        Ok(Value::from(str_list(&a[1]).join(&s(&a[0]))))
    });
    m.insert("split", |_, a| {
        want(&a, 2, "split")?;
        let sep = s(&a[0]);
        let mut out = BTreeMap::new();
        for (i, p) in go_split(&s(&a[1]), &sep).into_iter().enumerate() {
            out.insert(format!("_{i}"), Value::from(p));
        }
        Ok(Value::from(out))
    });
    m.insert("splitn", |_, a| {
        want(&a, 3, "splitn")?;
        let sep = s(&a[0]);
        let n = a[1].to_i64().max(0) as usize;
        let mut out = BTreeMap::new();
        for (i, p) in s(&a[2]).splitn(n, &*sep).enumerate() {
            out.insert(format!("_{i}"), Value::from(p));
        }
        Ok(Value::from(out))
    });
    m.insert("splitList", |_, a| {
        want(&a, 2, "splitList")?;
        Ok(Value::from(
            go_split(&s(&a[1]), &s(&a[0]))
                .into_iter()
                .map(Value::from)
                .collect::<Vec<_>>(),
        ))
    });
    m.insert("sortAlpha", |_, a| {
        let mut l = str_list(arg(&a, 0));
        l.sort();
        Ok(Value::from(
            l.into_iter().map(Value::from).collect::<Vec<_>>(),
        ))
    });
    // regex
    m.insert("regexMatch", |_, a| {
        want(&a, 2, "regexMatch")?;
        // Sprig drops the compile error: an invalid pattern matches nothing
        Ok(Value::Bool(re(&a[0]).is_ok_and(|r| r.is_match(&s(&a[1])))))
    });
    m.insert("mustRegexMatch", |_, a| {
        want(&a, 2, "mustRegexMatch")?;
        Ok(Value::Bool(re(&a[0])?.is_match(&s(&a[1]))))
    });
    m.insert("regexFind", |_, a| {
        want(&a, 2, "regexFind")?;
        Ok(Value::from(
            re(&a[0])?
                .find(&s(&a[1]))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
        ))
    });
    m.insert("regexFindAll", |_, a| {
        want(&a, 3, "regexFindAll")?;
        let n = a[2].to_i64();
        let st = s(&a[1]);
        let r = re(&a[0])?;
        let it = r.find_iter(&st).map(|m| Value::from(m.as_str()));
        let v: Vec<Value> = if n < 0 {
            it.collect()
        } else {
            it.take(n as usize).collect()
        };
        Ok(Value::from(v))
    });
    m.insert("regexReplaceAll", |_, a| {
        want(&a, 3, "regexReplaceAll")?;
        let repl = go_expand(&s(&a[2]));
        Ok(Value::from(
            re(&a[0])?
                .replace_all(&s(&a[1]), repl.as_str())
                .into_owned(),
        ))
    });
    m.insert("regexReplaceAllLiteral", |_, a| {
        want(&a, 3, "regexReplaceAllLiteral")?;
        Ok(Value::from(
            re(&a[0])?
                .replace_all(&s(&a[1]), regex::NoExpand(&s(&a[2])))
                .into_owned(),
        ))
    });
    m.insert("regexSplit", |_, a| {
        want(&a, 3, "regexSplit")?;
        let n = a[2].to_i64();
        let st = s(&a[1]);
        let r = re(&a[0])?;
        let v: Vec<Value> = if n < 0 {
            r.split(&st).map(Value::from).collect()
        } else {
            r.splitn(&st, n as usize).map(Value::from).collect()
        };
        Ok(Value::from(v))
    });
    m.insert("regexQuoteMeta", |_, a| {
        Ok(Value::from(super::go_regex::quote_meta(&s(arg(&a, 0)))))
    });
    // encoding and hashes
    m.insert("b64enc", |_, a| {
        want(&a, 1, "b64enc")?;
        let Some(bytes) = a[0].string_bytes() else {
            // text/template's words for an argument that is not a string
            return Err(ExecError::new(match &a[0] {
                Value::Nil => "invalid value; expected string".to_string(),
                other => format!(
                    "wrong type for value; expected string; got {}",
                    other.type_name()
                ),
            }));
        };
        Ok(Value::from(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    });
    m.insert("b64dec", |_, a| {
        want(&a, 1, "b64dec")?;
        Ok(Value::from(
            match base64::engine::general_purpose::STANDARD.decode(s(&a[0]).as_bytes()) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => e.to_string(),
            },
        ))
    });
    m.insert("b32enc", |_, a| {
        Ok(Value::from(base32(&go_bytes(arg(&a, 0)))))
    });
    m.insert("sha256sum", |_, a| {
        Ok(Value::from(hex(&Sha256::digest(go_bytes(arg(&a, 0))))))
    });
    m.insert("sha512sum", |_, a| {
        Ok(Value::from(hex(&Sha512::digest(go_bytes(arg(&a, 0))))))
    });
    m.insert("adler32sum", |_, a| {
        let (mut x, mut y) = (1u32, 0u32);
        for &b in go_bytes(arg(&a, 0)).iter() {
            x = (x + u32::from(b)) % 65521;
            y = (y + x) % 65521;
        }
        Ok(Value::from(((y << 16) | x).to_string()))
    });
    // defaults and logic
    m.insert("default", |_, a| {
        want_min(&a, 1, "default")?;
        if a.len() == 1 {
            return Ok(a[0].clone());
        }
        Ok(if a[1].truthy() {
            a[1].clone()
        } else {
            a[0].clone()
        })
    });
    m.insert("empty", |_, a| Ok(Value::Bool(!arg(&a, 0).truthy())));
    m.insert("coalesce", |_, a| {
        Ok(a.iter().find(|x| x.truthy()).cloned().unwrap_or(Value::Nil))
    });
    m.insert("all", |_, a| Ok(Value::Bool(a.iter().all(Value::truthy))));
    m.insert("any", |_, a| Ok(Value::Bool(a.iter().any(Value::truthy))));
    m.insert("ternary", |_, a| {
        want(&a, 3, "ternary")?;
        Ok(if a[2].truthy() {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    m.insert("compact", |_, a| {
        Ok(Value::from(
            list_of(arg(&a, 0), "compact")?
                .into_iter()
                .filter(Value::truthy)
                .collect::<Vec<_>>(),
        ))
    });
    m.insert("mustCompact", |_, a| {
        Ok(Value::from(
            list_of(arg(&a, 0), "compact")?
                .into_iter()
                .filter(Value::truthy)
                .collect::<Vec<_>>(),
        ))
    });
    m.insert("fromJson", |_, a| {
        Ok(crate::yaml::parse_json(&s(arg(&a, 0))).unwrap_or_else(|e| {
            let mut m = BTreeMap::new();
            m.insert("Error".to_string(), Value::from(e));
            Value::from(m)
        }))
    });
    m.insert("toJson", |_, a| {
        Ok(Value::from(crate::yaml::to_json(arg(&a, 0), false)))
    });
    m.insert("mustToJson", |_, a| {
        Ok(Value::from(crate::yaml::to_json(arg(&a, 0), false)))
    });
    m.insert("toRawJson", |_, a| {
        Ok(Value::from(crate::yaml::to_json(arg(&a, 0), true)))
    });
    m.insert("mustToRawJson", |_, a| {
        Ok(Value::from(crate::yaml::to_json(arg(&a, 0), true)))
    });
    m.insert("toPrettyJson", |_, a| {
        Ok(Value::from(crate::yaml::to_pretty_json(arg(&a, 0))))
    });
    m.insert("mustToPrettyJson", |_, a| {
        Ok(Value::from(crate::yaml::to_pretty_json(arg(&a, 0))))
    });
    m.insert("deepEqual", |_, a| {
        want(&a, 2, "deepEqual")?;
        Ok(Value::Bool(deep_eq(&a[0], &a[1])))
    });
    // types
    m.insert("typeOf", |_, a| Ok(Value::from(arg(&a, 0).type_name())));
    m.insert("kindOf", |_, a| Ok(Value::from(arg(&a, 0).kind_name())));
    m.insert("typeIs", |_, a| {
        want(&a, 2, "typeIs")?;
        Ok(Value::Bool(s(&a[0]) == a[1].type_name()))
    });
    m.insert("typeIsLike", |_, a| {
        want(&a, 2, "typeIsLike")?;
        let t = s(&a[0]);
        Ok(Value::Bool(
            t == a[1].type_name() || t == format!("*{}", a[1].type_name()),
        ))
    });
    m.insert("kindIs", |_, a| {
        want(&a, 2, "kindIs")?;
        Ok(Value::Bool(s(&a[0]) == a[1].kind_name()))
    });
    // math
    m.insert("add", |_, a| {
        Ok(Value::Int64(
            a.iter().map(Value::to_i64).fold(0i64, i64::wrapping_add),
        ))
    });
    m.insert("add1", |_, a| {
        Ok(Value::Int64(arg(&a, 0).to_i64().wrapping_add(1)))
    });
    m.insert("sub", |_, a| {
        want(&a, 2, "sub")?;
        Ok(Value::Int64(a[0].to_i64().wrapping_sub(a[1].to_i64())))
    });
    m.insert("mul", |_, a| {
        Ok(Value::Int64(
            a.iter().map(Value::to_i64).fold(1i64, i64::wrapping_mul),
        ))
    });
    m.insert("div", |_, a| {
        want(&a, 2, "div")?;
        let d = a[1].to_i64();
        if d == 0 {
            return Err(ExecError::new("runtime error: integer divide by zero"));
        }
        Ok(Value::Int64(a[0].to_i64().wrapping_div(d)))
    });
    m.insert("mod", |_, a| {
        want(&a, 2, "mod")?;
        let d = a[1].to_i64();
        if d == 0 {
            return Err(ExecError::new("runtime error: integer divide by zero"));
        }
        Ok(Value::Int64(a[0].to_i64().wrapping_rem(d)))
    });
    m.insert("max", |_, a| {
        Ok(Value::Int64(a.iter().map(Value::to_i64).max().unwrap_or(0)))
    });
    m.insert("min", |_, a| {
        Ok(Value::Int64(a.iter().map(Value::to_i64).min().unwrap_or(0)))
    });
    m.insert("biggest", |_, a| {
        Ok(Value::Int64(a.iter().map(Value::to_i64).max().unwrap_or(0)))
    });
    m.insert("addf", |_, a| {
        Ok(Value::Float(a.iter().map(Value::to_f64).sum()))
    });
    m.insert("add1f", |_, a| Ok(Value::Float(arg(&a, 0).to_f64() + 1.0)));
    m.insert("subf", |_, a| {
        want_min(&a, 1, "subf")?;
        Ok(Value::Float(
            a[1..].iter().fold(a[0].to_f64(), |x, y| x - y.to_f64()),
        ))
    });
    m.insert("mulf", |_, a| {
        Ok(Value::Float(a.iter().map(Value::to_f64).product()))
    });
    m.insert("divf", |_, a| {
        want_min(&a, 1, "divf")?;
        Ok(Value::Float(
            a[1..].iter().fold(a[0].to_f64(), |x, y| x / y.to_f64()),
        ))
    });
    m.insert("maxf", |_, a| {
        Ok(Value::Float(
            a.iter().map(Value::to_f64).fold(f64::MIN, f64::max),
        ))
    });
    m.insert("minf", |_, a| {
        Ok(Value::Float(
            a.iter().map(Value::to_f64).fold(f64::MAX, f64::min),
        ))
    });
    m.insert("floor", |_, a| {
        Ok(Value::Float(arg(&a, 0).to_f64().floor()))
    });
    m.insert("ceil", |_, a| Ok(Value::Float(arg(&a, 0).to_f64().ceil())));
    m.insert("round", |_, a| {
        want_min(&a, 2, "round")?;
        let p = 10f64.powi(a[1].to_i64() as i32);
        let x = a[0].to_f64() * p;
        let r = if x >= 0.0 {
            (x + 0.5).floor()
        } else {
            (x - 0.5).ceil()
        };
        Ok(Value::Float(r / p))
    });
    m.insert("int", |_, a| Ok(Value::Int(arg(&a, 0).to_i64())));
    m.insert("int64", |_, a| Ok(Value::Int64(arg(&a, 0).to_i64())));
    m.insert("float64", |_, a| Ok(Value::Float(arg(&a, 0).to_f64())));
    m.insert("atoi", |_, a| {
        Ok(Value::Int(s(arg(&a, 0)).parse::<i64>().unwrap_or(0)))
    });
    m.insert("seq", |e, a| {
        let n: Vec<i64> = a.iter().map(Value::to_i64).collect();
        let (start, step, end) = match n.len() {
            1 => (1, 1, n[0]),
            2 => (n[0], if n[1] >= n[0] { 1 } else { -1 }, n[1]),
            3 => (n[0], n[1], n[2]),
            _ => return Ok(Value::from("")),
        };
        let mut out = Vec::new();
        let mut i = start;
        let count = if step == 0 || (step > 0 && start > end) || (step < 0 && start < end) {
            0
        } else {
            (i128::from(end) - i128::from(start)) / i128::from(step) + 1
        };
        super::within_items(e, "seq", count.unsigned_abs())?;
        while step != 0 && ((step > 0 && i <= end) || (step < 0 && i >= end)) {
            out.push(i.to_string());
            i += step;
        }
        Ok(Value::from(out.join(" ")))
    });
    m.insert("until", |e, a| {
        let n = arg(&a, 0).to_i64();
        let step = if n < 0 { -1 } else { 1 };
        Ok(Value::from(until_step(e, "until", 0, n, step)?))
    });
    m.insert("untilStep", |e, a| {
        want(&a, 3, "untilStep")?;
        Ok(Value::from(until_step(
            e,
            "untilStep",
            a[0].to_i64(),
            a[1].to_i64(),
            a[2].to_i64(),
        )?))
    });
    // lists
    m.insert("list", |_, a| Ok(Value::from(a)));
    m.insert("tuple", |_, a| Ok(Value::from(a)));
    m.insert("first", |_, a| {
        Ok(list_of(arg(&a, 0), "first")?
            .first()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    m.insert("mustFirst", |_, a| {
        Ok(list_of(arg(&a, 0), "first")?
            .first()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    m.insert("last", |_, a| {
        Ok(list_of(arg(&a, 0), "last")?
            .last()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    m.insert("mustLast", |_, a| {
        Ok(list_of(arg(&a, 0), "last")?
            .last()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    m.insert("rest", |_, a| {
        let l = list_of(arg(&a, 0), "rest")?;
        Ok(if l.is_empty() {
            Value::Nil
        } else {
            Value::from(l[1..].to_vec())
        })
    });
    m.insert("mustRest", |_, a| {
        let l = list_of(arg(&a, 0), "rest")?;
        Ok(if l.is_empty() {
            Value::Nil
        } else {
            Value::from(l[1..].to_vec())
        })
    });
    m.insert("initial", |_, a| {
        let l = list_of(arg(&a, 0), "initial")?;
        Ok(if l.is_empty() {
            Value::Nil
        } else {
            Value::from(l[..l.len() - 1].to_vec())
        })
    });
    m.insert("mustInitial", |_, a| {
        let l = list_of(arg(&a, 0), "initial")?;
        Ok(if l.is_empty() {
            Value::Nil
        } else {
            Value::from(l[..l.len() - 1].to_vec())
        })
    });
    fn append(_: &mut Exec, a: Vec<Value>) -> R {
        want(&a, 2, "append")?;
        let mut l = list_of(&a[0], "push")?;
        l.push(a[1].clone());
        Ok(Value::from(l))
    }
    m.insert("append", append);
    m.insert("push", append);
    m.insert("mustAppend", append);
    m.insert("mustPush", append);
    fn prepend(_: &mut Exec, a: Vec<Value>) -> R {
        want(&a, 2, "prepend")?;
        let mut l = list_of(&a[0], "prepend")?;
        l.insert(0, a[1].clone());
        Ok(Value::from(l))
    }
    m.insert("prepend", prepend);
    m.insert("mustPrepend", prepend);
    m.insert("concat", |_, a| {
        let mut out = Vec::new();
        for x in &a {
            out.extend(list_of(x, "concat")?);
        }
        Ok(Value::from(out))
    });
    fn reverse(_: &mut Exec, a: Vec<Value>) -> R {
        let mut l = list_of(arg(&a, 0), "reverse")?;
        l.reverse();
        Ok(Value::from(l))
    }
    m.insert("reverse", reverse);
    m.insert("mustReverse", reverse);
    fn uniq(_: &mut Exec, a: Vec<Value>) -> R {
        let l = list_of(arg(&a, 0), "uniq")?;
        let mut out: Vec<Value> = Vec::new();
        for x in l {
            if !out.iter().any(|y| deep_eq(y, &x)) {
                out.push(x);
            }
        }
        Ok(Value::from(out))
    }
    m.insert("uniq", uniq);
    m.insert("mustUniq", uniq);
    fn without(_: &mut Exec, a: Vec<Value>) -> R {
        want_min(&a, 1, "without")?;
        let l = list_of(&a[0], "without")?;
        Ok(Value::from(
            l.into_iter()
                .filter(|x| !a[1..].iter().any(|y| deep_eq(x, y)))
                .collect::<Vec<_>>(),
        ))
    }
    m.insert("without", without);
    m.insert("mustWithout", without);
    fn has(_: &mut Exec, a: Vec<Value>) -> R {
        want(&a, 2, "has")?;
        let l = list_of(&a[1], "has")?;
        Ok(Value::Bool(l.iter().any(|x| deep_eq(x, &a[0]))))
    }
    m.insert("has", has);
    m.insert("mustHas", has);
    m.insert("chunk", |_, a| {
        want(&a, 2, "chunk")?;
        let n = a[0].to_i64().max(1) as usize;
        let l = list_of(&a[1], "chunk")?;
        Ok(Value::from(
            l.chunks(n)
                .map(|c| Value::from(c.to_vec()))
                .collect::<Vec<_>>(),
        ))
    });
    // dicts
    m.insert("dict", |_, a| {
        let mut m = BTreeMap::new();
        let mut i = 0;
        while i < a.len() {
            m.insert(
                a[i].to_str(),
                a.get(i + 1).cloned().unwrap_or(Value::from("")),
            );
            i += 2;
        }
        Ok(Value::from(m))
    });
    m.insert("get", |_, a| {
        want(&a, 2, "get")?;
        Ok(a[0].get(&s(&a[1])).unwrap_or(Value::from("")))
    });
    m.insert("set", |_, a| {
        want(&a, 3, "set")?;
        if let Value::Map(m) = &a[0] {
            m.borrow_mut().insert(s(&a[1]).into_owned(), a[2].clone());
            return Ok(a[0].clone());
        }
        Err(ExecError::new(format!(
            "wrong type for value; expected map[string]interface {{}}; got {}",
            a[0].type_name()
        )))
    });
    m.insert("unset", |_, a| {
        want(&a, 2, "unset")?;
        if let Value::Map(m) = &a[0] {
            m.borrow_mut().remove(&*s(&a[1]));
        }
        Ok(a[0].clone())
    });
    m.insert("hasKey", |_, a| {
        want(&a, 2, "hasKey")?;
        Ok(Value::Bool(match &a[0] {
            Value::Map(m) => m.borrow().contains_key(&*s(&a[1])),
            _ => false,
        }))
    });
    m.insert("pluck", |_, a| {
        want_min(&a, 1, "pluck")?;
        let k = s(&a[0]);
        Ok(Value::from(
            a[1..].iter().filter_map(|d| d.get(&k)).collect::<Vec<_>>(),
        ))
    });
    m.insert("dig", |_, a| {
        want_min(&a, 3, "dig")?;
        let n = a.len();
        let mut cur = a[n - 1].clone();
        for k in &a[..n - 2] {
            match cur.get(&s(k)) {
                Some(v) => cur = v,
                None => return Ok(a[n - 2].clone()),
            }
        }
        Ok(cur)
    });
    m.insert("keys", |_, a| {
        let mut out = Vec::new();
        for d in &a {
            if let Value::Map(m) = d {
                out.extend(m.borrow().keys().map(|k| Value::from(k.as_str())));
            }
        }
        Ok(Value::from(out))
    });
    m.insert("values", |_, a| {
        Ok(Value::from(match arg(&a, 0) {
            Value::Map(m) => m.borrow().values().cloned().collect::<Vec<_>>(),
            _ => Vec::new(),
        }))
    });
    m.insert("pick", |_, a| {
        want_min(&a, 1, "pick")?;
        let mut out = BTreeMap::new();
        for k in &a[1..] {
            if let Some(v) = a[0].get(&s(k)) {
                out.insert(s(k).into_owned(), v);
            }
        }
        Ok(Value::from(out))
    });
    m.insert("omit", |_, a| {
        want_min(&a, 1, "omit")?;
        let drop: Vec<String> = a[1..].iter().map(|x| s(x).into_owned()).collect();
        let mut out = BTreeMap::new();
        if let Value::Map(m) = &a[0] {
            for (k, v) in m.borrow().iter() {
                if !drop.contains(k) {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(Value::from(out))
    });
    m.insert("deepCopy", |_, a| Ok(arg(&a, 0).deep_copy()));
    m.insert("mustDeepCopy", |_, a| Ok(arg(&a, 0).deep_copy()));
    fn merge(_: &mut Exec, a: Vec<Value>) -> R {
        want_min(&a, 1, "merge")?;
        for src in &a[1..] {
            merge_into(&a[0], src, false);
        }
        Ok(a[0].clone())
    }
    fn merge_overwrite(_: &mut Exec, a: Vec<Value>) -> R {
        want_min(&a, 1, "mergeOverwrite")?;
        for src in &a[1..] {
            merge_into(&a[0], src, true);
        }
        Ok(a[0].clone())
    }
    m.insert("merge", merge);
    m.insert("mustMerge", merge);
    m.insert("mergeOverwrite", merge_overwrite);
    m.insert("mustMergeOverwrite", merge_overwrite);
    // paths
    m.insert("base", |_, a| Ok(Value::from(path_base(&s(arg(&a, 0))))));
    m.insert("dir", |_, a| Ok(Value::from(path_dir(&s(arg(&a, 0))))));
    m.insert("clean", |_, a| Ok(Value::from(path_clean(&s(arg(&a, 0))))));
    m.insert("ext", |_, a| {
        let b = path_base(&s(arg(&a, 0)));
        Ok(Value::from(
            b.rfind('.').map(|i| b[i..].to_string()).unwrap_or_default(),
        ))
    });
    m.insert("isAbs", |_, a| {
        Ok(Value::Bool(s(arg(&a, 0)).starts_with('/')))
    });
    // semver
    m.insert("semverCompare", |_, a| {
        want(&a, 2, "semverCompare")?;
        crate::semver::compare(&s(&a[0]), &s(&a[1]))
            .map(Value::Bool)
            .map_err(ExecError::new)
    });
    m.insert("semver", |_, a| {
        want(&a, 1, "semver")?;
        crate::semver::Version::parse(&s(&a[0]))
            .map(|v| v.to_value())
            .map_err(ExecError::new)
    });
    // random (deterministic)
    m.insert("randAlphaNum", |e, a| {
        Ok(Value::from(rand_string(
            e,
            "randAlphaNum",
            arg(&a, 0).to_i64(),
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        )?))
    });
    m.insert("randAlpha", |e, a| {
        Ok(Value::from(rand_string(
            e,
            "randAlpha",
            arg(&a, 0).to_i64(),
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        )?))
    });
    m.insert("randNumeric", |e, a| {
        Ok(Value::from(rand_string(
            e,
            "randNumeric",
            arg(&a, 0).to_i64(),
            b"0123456789",
        )?))
    });
    m.insert("randAscii", |e, a| {
        let chars: Vec<u8> = (32u8..=126).collect();
        Ok(Value::from(rand_string(
            e,
            "randAscii",
            arg(&a, 0).to_i64(),
            &chars,
        )?))
    });
    m.insert("randInt", |e, a| {
        want(&a, 2, "randInt")?;
        let (lo, hi) = (a[0].to_i64(), a[1].to_i64());
        if hi <= lo {
            return Ok(Value::Int(lo));
        }
        Ok(Value::Int(lo + e.rng.below((hi - lo) as u64) as i64))
    });
    m.insert("uuidv4", |e, _| {
        let mut b = [0u8; 16];
        e.rng.fill(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex(&b);
        Ok(Value::from(format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )))
    });
    m.insert("shuffle", |e, a| {
        let mut c: Vec<char> = s(arg(&a, 0)).chars().collect();
        for i in (1..c.len()).rev() {
            let j = e.rng.below(i as u64 + 1) as usize;
            c.swap(i, j);
        }
        Ok(Value::from(c.into_iter().collect::<String>()))
    });
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
