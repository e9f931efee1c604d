//! Template functions: Go's builtins, Sprig's and Helm's.

mod date;
mod fmt;
mod go_regex;
pub mod helm;
mod sprig;
mod sprig_crypto;

use std::collections::HashMap;

use crate::template::exec::{Exec, ExecError};
use crate::value::Value;

pub use fmt::{go_quote, sprintf};

pub use crate::template::exec::{Func, FuncMap};

/// Every function templates can call.
pub fn registry() -> &'static FuncMap {
    static REGISTRY: std::sync::OnceLock<FuncMap> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut m: HashMap<&'static str, Func> = HashMap::new();
        builtins(&mut m);
        sprig::register(&mut m);
        helm::register(&mut m);
        m.into_iter().collect()
    })
}

/// Whether `name` is a function templates can call (for the parser).
pub fn is_func(name: &str) -> bool {
    name == "and" || name == "or" || registry().contains_key(name)
}

pub(crate) fn want(args: &[Value], n: usize, name: &str) -> Result<(), ExecError> {
    if args.len() != n {
        return Err(ExecError::new(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

pub(crate) fn want_min(args: &[Value], n: usize, name: &str) -> Result<(), ExecError> {
    if args.len() < n {
        return Err(ExecError::new(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn builtins(m: &mut HashMap<&'static str, Func>) {
    m.insert("and", |_, a| Ok(a.last().cloned().unwrap_or_default()));
    m.insert("or", |_, a| Ok(a.last().cloned().unwrap_or_default()));
    m.insert("not", |_, a| {
        want(&a, 1, "not")?;
        Ok(Value::Bool(!a[0].truthy()))
    });
    m.insert("len", |_, a| {
        want(&a, 1, "len")?;
        Ok(Value::Int(match &a[0] {
            Value::Str(s) => s.len() as i64,
            Value::List(l) => l.len() as i64,
            Value::Map(m) => m.borrow().len() as i64,
            Value::Bytes(b) => b.len() as i64,
            Value::BinStr(b) => b.len() as i64,
            other => {
                return Err(ExecError::new(format!("len of type {}", other.type_name())));
            }
        }))
    });
    m.insert("index", |_, a| {
        want_min(&a, 1, "index")?;
        let mut v = a[0].clone();
        for k in &a[1..] {
            v = match &v {
                Value::Map(m) => m.borrow().get(&k.to_str()).cloned().unwrap_or(Value::Nil),
                Value::List(l) => {
                    let i = index_int(k)?;
                    if i < 0 || i as usize >= l.len() {
                        return Err(ExecError::new(format!(
                            "error calling index: index out of range: {i}"
                        )));
                    }
                    l[i as usize].clone()
                }
                Value::Str(s) => {
                    let i = index_int(k)?;
                    match s.as_bytes().get(i as usize) {
                        Some(b) if i >= 0 => Value::Int(i64::from(*b)),
                        _ => {
                            return Err(ExecError::new(format!(
                                "error calling index: index out of range: {i}"
                            )))
                        }
                    }
                }
                Value::Nil => return Err(ExecError::new("index of untyped nil")),
                other => {
                    return Err(ExecError::new(format!(
                        "can't index item of type {}",
                        other.type_name()
                    )))
                }
            };
        }
        Ok(v)
    });
    // Sprig's `slice` replaces Go's builtin: lists only
    m.insert("slice", |_, a| {
        want_min(&a, 1, "slice")?;
        let idx: Vec<i64> = a[1..].iter().map(Value::to_i64).collect();
        match &a[0] {
            Value::List(l) => {
                let lo = idx.first().copied().unwrap_or(0).max(0) as usize;
                let hi = idx
                    .get(1)
                    .copied()
                    .map(|x| x.max(0) as usize)
                    .unwrap_or(l.len());
                if lo > hi || hi > l.len() {
                    return Err(ExecError::new(format!(
                        "runtime error: slice bounds out of range [{lo}:{hi}]"
                    )));
                }
                Ok(Value::from(l[lo..hi].to_vec()))
            }
            other => Err(ExecError::new(format!(
                "list should be type of slice or array but {}",
                other.type_name()
            ))),
        }
    });
    m.insert("print", |_, a| Ok(Value::from(go_sprint(&a))));
    m.insert("println", |_, a| {
        let parts: Vec<String> = a.iter().map(Value::go_string).collect();
        Ok(Value::from(parts.join(" ") + "\n"))
    });
    m.insert("printf", |_, a| {
        want_min(&a, 1, "printf")?;
        let f = a[0].to_str();
        Ok(Value::from(sprintf(&f, &a[1..])))
    });
    m.insert("eq", |_, a| {
        want_min(&a, 2, "eq")?;
        for b in &a[1..] {
            if values_equal(&a[0], b)? {
                return Ok(Value::Bool(true));
            }
        }
        Ok(Value::Bool(false))
    });
    m.insert("ne", |_, a| {
        want(&a, 2, "ne")?;
        Ok(Value::Bool(!values_equal(&a[0], &a[1])?))
    });
    m.insert("lt", |_, a| {
        cmp_fn(a, "lt", |o| o == std::cmp::Ordering::Less)
    });
    m.insert("le", |_, a| {
        cmp_fn(a, "le", |o| o != std::cmp::Ordering::Greater)
    });
    m.insert("gt", |_, a| {
        cmp_fn(a, "gt", |o| o == std::cmp::Ordering::Greater)
    });
    m.insert("ge", |_, a| {
        cmp_fn(a, "ge", |o| o != std::cmp::Ordering::Less)
    });
    m.insert("html", |_, a| {
        let s = go_sprint(&a);
        let mut o = String::new();
        for c in s.chars() {
            match c {
                '<' => o.push_str("&lt;"),
                '>' => o.push_str("&gt;"),
                '&' => o.push_str("&amp;"),
                '\'' => o.push_str("&#39;"),
                '"' => o.push_str("&#34;"),
                '\0' => o.push('\u{FFFD}'),
                c => o.push(c),
            }
        }
        Ok(Value::from(o))
    });
    m.insert("js", |_, a| {
        let s = go_sprint(&a);
        let mut o = String::new();
        for c in s.chars() {
            match c {
                '\\' => o.push_str("\\\\"),
                '\'' => o.push_str("\\'"),
                '"' => o.push_str("\\\""),
                '<' => o.push_str("\\u003C"),
                '>' => o.push_str("\\u003E"),
                '&' => o.push_str("\\u0026"),
                '=' => o.push_str("\\u003D"),
                '\n' => o.push_str("\\n"),
                '\r' => o.push_str("\\r"),
                '\t' => o.push_str("\\t"),
                c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04X}", c as u32)),
                c => o.push(c),
            }
        }
        Ok(Value::from(o))
    });
    m.insert("urlquery", |_, a| {
        let s = go_sprint(&a);
        let mut o = String::new();
        for b in s.bytes() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    o.push(b as char)
                }
                b' ' => o.push('+'),
                b => o.push_str(&format!("%{b:02X}")),
            }
        }
        Ok(Value::from(o))
    });
}

fn index_int(k: &Value) -> Result<i64, ExecError> {
    match k {
        Value::Int(i) | Value::Int64(i) => Ok(*i),
        Value::Float(f) => Ok(*f as i64),
        Value::Nil => Err(ExecError::new("cannot index slice/array with nil")),
        other => Err(ExecError::new(format!(
            "cannot index slice/array with type {}",
            other.type_name()
        ))),
    }
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub fn go_sprint(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        v.write_go(&mut out, true);
    }
    out
}

/// Go's `eq` on basic values (numbers compared across int/float, leniently).
/// Stops a function whose result would be larger than the render's output limit, before it
/// allocates it (`repeat 200000000 "x"`, `indent 2000000000`): Helm has no such bound and
/// would use the memory.
pub fn within_output(e: &Exec, name: &str, bytes: u128) -> Result<(), ExecError> {
    let limit = e.limits.max_output as u128;
    if bytes > limit {
        return Err(ExecError::new(format!(
            "error calling {name}: the result would be {bytes} bytes, more than the output \
             limit of {limit} bytes"
        )));
    }
    Ok(())
}

/// As [`within_output`] for lists (`until`, `untilStep`, `seq`): at most one item per 16
/// bytes of the output limit.
pub fn within_items(e: &Exec, name: &str, items: u128) -> Result<(), ExecError> {
    let limit = (e.limits.max_output / 16) as u128;
    if items > limit {
        return Err(ExecError::new(format!(
            "error calling {name}: {items} items, more than the limit of {limit} \
             (the output limit / 16)"
        )));
    }
    Ok(())
}

pub fn values_equal(a: &Value, b: &Value) -> Result<bool, ExecError> {
    Ok(match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Nil, _) | (_, Value::Nil) => false,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x == y,
        (
            Value::Int(_) | Value::Int64(_) | Value::Float(_),
            Value::Int(_) | Value::Int64(_) | Value::Float(_),
        ) => a.to_f64() == b.to_f64(),
        (Value::Str(_) | Value::BinStr(_), Value::Str(_) | Value::BinStr(_)) => {
            a.string_bytes() == b.string_bytes()
        }
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            return Err(ExecError::new("error calling eq: non-comparable types"));
        }
        _ => {
            if std::mem::discriminant(a) != std::mem::discriminant(b) {
                return Err(ExecError::new("incompatible types for comparison"));
            }
            false
        }
    })
}

fn cmp_fn(
    a: Vec<Value>,
    name: &str,
    ok: fn(std::cmp::Ordering) -> bool,
) -> Result<Value, ExecError> {
    want(&a, 2, name)?;
    let o = match (&a[0], &a[1]) {
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x.cmp(y),
        (
            Value::Int(_) | Value::Int64(_) | Value::Float(_),
            Value::Int(_) | Value::Int64(_) | Value::Float(_),
        ) => a[0]
            .to_f64()
            .partial_cmp(&a[1].to_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        (x, y) => {
            if x.kind_name() != y.kind_name() {
                return Err(ExecError::new("incompatible types for comparison"));
            }
            return Err(ExecError::new("invalid type for comparison"));
        }
    };
    Ok(Value::Bool(ok(o)))
}
