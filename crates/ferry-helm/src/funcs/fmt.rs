//! Go's `fmt.Sprintf` verbs, as far as templates use them.

use std::fmt::Write as _;

use crate::value::{format_float_g, Value};

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\x07' => o.push_str("\\a"),
            '\x08' => o.push_str("\\b"),
            '\x0c' => o.push_str("\\f"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\x0b' => o.push_str("\\v"),
            '\u{fffd}' => o.push('\u{fffd}'),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    let _ = write!(o, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(o, "\\U{:08x}", c as u32);
                }
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[derive(Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, f: &Flags) -> String {
    let Some(w) = f.width else { return s };
    let n = s.chars().count();
    if n >= w {
        return s;
    }
    let fill = w - n;
    if f.minus {
        s + &" ".repeat(fill)
    } else if f.zero {
        // zero padding goes after the sign
        let (sign, rest) = if s.starts_with('-') || s.starts_with('+') {
            s.split_at(1)
        } else {
            ("", s.as_str())
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else {
        " ".repeat(fill) + &s
    }
}

fn bad(verb: char, v: &Value) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        other => format!("%!{verb}({}={})", other.type_name(), other.go_string()),
    }
}

fn fmt_float(x: f64, verb: char, f: &Flags) -> String {
    let mut s = match verb {
        'f' | 'F' => format!("{:.*}", f.prec.unwrap_or(6), x),
        'e' | 'E' => {
            let s = format!("{:.*e}", f.prec.unwrap_or(6), x);
            let s = fix_exp(&s);
            if verb == 'E' {
                s.to_uppercase()
            } else {
                s
            }
        }
        _ => match f.prec {
            None => format_float_g(x),
            Some(p) => {
                let p = p.max(1);
                let e = format!("{:.*e}", p - 1, x);
                let exp: i32 = e
                    .split_once('e')
                    .and_then(|(_, x)| x.parse().ok())
                    .unwrap_or(0);
                if exp < -4 || exp >= p as i32 {
                    let (m, _) = e.split_once('e').unwrap_or((&e, ""));
                    let m = if m.contains('.') {
                        m.trim_end_matches('0').trim_end_matches('.')
                    } else {
                        m
                    };
                    fix_exp(&format!("{m}e{exp}"))
                } else {
                    let d = (p as i32 - 1 - exp).max(0) as usize;
                    let s = format!("{x:.d$}");
                    if s.contains('.') {
                        s.trim_end_matches('0').trim_end_matches('.').to_string()
                    } else {
                        s
                    }
                }
            }
        },
    };
    if f.plus && x >= 0.0 {
        s.insert(0, '+');
    } else if f.space && x >= 0.0 {
        s.insert(0, ' ');
    }
    s
}

fn fix_exp(s: &str) -> String {
    // Rust prints 1.5e10 / 1.5e-7; Go prints 1.5e+10 / 1.5e-07
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e.trim_start_matches('+')),
            };
            let digits = if digits.len() < 2 {
                format!("0{digits}")
            } else {
                digits.to_string()
            };
            format!("{m}e{sign}{digits}")
        }
        None => s.to_string(),
    }
}

/// Go prints a negative integer in another base as a sign and the magnitude (`-ff`).
fn signed(i: i64, digits: impl Fn(u64) -> String) -> String {
    if i < 0 {
        format!("-{}", digits(i.unsigned_abs()))
    } else {
        digits(i.unsigned_abs())
    }
}

fn fmt_one(verb: char, v: &Value, f: &Flags) -> String {
    // a Stringer (`time.Time`) is printed as its String() for the string verbs
    if let Value::Object(o) = v {
        if matches!(verb, 'v' | 's' | 'q' | 'x' | 'X') && !(verb == 'v' && f.sharp) {
            return fmt_one(verb, &Value::from(o.display()), f);
        }
    }
    let s = match verb {
        'v' => match v {
            Value::Str(s) if f.sharp => go_quote(s),
            Value::Float(x) => fmt_float(*x, 'g', f),
            _ => v.go_string(),
        },
        's' => match v {
            Value::Str(s) => match f.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            },
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::List(l) => {
                let parts: Vec<String> = l
                    .iter()
                    .map(|x| fmt_one('s', x, &Flags::default()))
                    .collect();
                format!("[{}]", parts.join(" "))
            }
            Value::Map(m) => {
                let parts: Vec<String> = m
                    .borrow()
                    .iter()
                    .map(|(k, x)| format!("{k}:{}", fmt_one('s', x, &Flags::default())))
                    .collect();
                format!("map[{}]", parts.join(" "))
            }
            Value::Object(o) => o.display(),
            other => bad('s', other),
        },
        'q' => match v {
            Value::Str(s) => go_quote(s),
            Value::Int(i) | Value::Int64(i) => match char::from_u32(*i as u32) {
                Some(c) => format!("'{c}'"),
                None => bad('q', v),
            },
            Value::List(l) => {
                let parts: Vec<String> = l
                    .iter()
                    .map(|x| fmt_one('q', x, &Flags::default()))
                    .collect();
                format!("[{}]", parts.join(" "))
            }
            other => bad('q', other),
        },
        'd' => match v {
            Value::Int(i) | Value::Int64(i) => {
                let mut s = i.to_string();
                if f.plus && *i >= 0 {
                    s.insert(0, '+');
                }
                s
            }
            Value::List(l) => {
                let parts: Vec<String> = l
                    .iter()
                    .map(|x| fmt_one('d', x, &Flags::default()))
                    .collect();
                format!("[{}]", parts.join(" "))
            }
            other => bad('d', other),
        },
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => match v {
            Value::Float(x) => fmt_float(*x, verb, f),
            other => bad(verb, other),
        },
        't' => match v {
            Value::Bool(b) => b.to_string(),
            other => bad('t', other),
        },
        'x' | 'X' => {
            let s = match v {
                Value::Int(i) | Value::Int64(i) => signed(*i, |u| format!("{u:x}")),
                Value::Str(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                Value::Bytes(b) => b.iter().map(|b| format!("{b:02x}")).collect(),
                Value::Float(x) => format!("{x}"),
                other => bad(verb, other),
            };
            if verb == 'X' {
                s.to_uppercase()
            } else {
                s
            }
        }
        'o' => match v {
            Value::Int(i) | Value::Int64(i) => signed(*i, |u| format!("{u:o}")),
            other => bad('o', other),
        },
        'b' => match v {
            Value::Int(i) | Value::Int64(i) => signed(*i, |u| format!("{u:b}")),
            other => bad('b', other),
        },
        'c' => match v {
            Value::Int(i) | Value::Int64(i) => char::from_u32(*i as u32)
                .map(String::from)
                .unwrap_or_default(),
            other => bad('c', other),
        },
        'T' => v.type_name().to_string(),
        other => bad(other, v),
    };
    pad(s, f)
}

/// Why a width or precision was not read.
enum Num {
    /// A `*` whose argument is not an int within Go's bound.
    BadArg,
    /// A literal number beyond Go's bound.
    TooLong,
}

/// Go's `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut ai = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut f = Flags::default();
        loop {
            match chars.peek() {
                Some('-') => f.minus = true,
                Some('+') => f.plus = true,
                Some('0') => f.zero = true,
                Some(' ') => f.space = true,
                Some('#') => f.sharp = true,
                _ => break,
            }
            chars.next();
        }
        // Go's fmt caps widths and precisions at 1e6: a longer literal number swallows the
        // rest of the format (`%!(NOVERB)`), a larger `*` argument is a bad width
        let num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
                   ai: &mut usize|
         -> Result<Option<i64>, Num> {
            if chars.peek() == Some(&'*') {
                chars.next();
                let v = args.get(*ai).and_then(|v| match v {
                    Value::Int(i) | Value::Int64(i) => Some(*i),
                    _ => None,
                });
                *ai += 1;
                return match v {
                    Some(x) if (-1_000_000..=1_000_000).contains(&x) => Ok(Some(x)),
                    _ => Err(Num::BadArg),
                };
            }
            let mut n: Option<i64> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                if n.is_some_and(|n| n > 1_000_000) {
                    return Err(Num::TooLong);
                }
                n = Some(n.unwrap_or(0) * 10 + i64::from(d));
                chars.next();
            }
            Ok(n)
        };
        match num(&mut chars, &mut ai) {
            Ok(Some(w)) if w < 0 => {
                f.width = Some(w.unsigned_abs() as usize);
                f.minus = true;
                f.zero = false;
            }
            Ok(w) => f.width = w.map(|w| w as usize),
            Err(Num::BadArg) => out.push_str("%!(BADWIDTH)"),
            Err(Num::TooLong) => {
                out.push_str("%!(NOVERB)");
                break;
            }
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            match num(&mut chars, &mut ai) {
                // a negative precision is no precision
                Ok(Some(p)) if p < 0 => f.prec = None,
                Ok(p) => f.prec = Some(p.unwrap_or(0) as usize),
                Err(Num::BadArg) => out.push_str("%!(BADPREC)"),
                Err(Num::TooLong) => {
                    out.push_str("%!(NOVERB)");
                    break;
                }
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(ai) {
            Some(v) => {
                out.push_str(&fmt_one(verb, v, &f));
                ai += 1;
            }
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
        }
    }
    if ai < args.len() {
        out.push_str("%!(EXTRA ");
        let parts: Vec<String> = args[ai..]
            .iter()
            .map(|v| match v {
                Value::Nil => "<nil>".to_string(),
                v => format!("{}={}", v.type_name(), v.go_string()),
            })
            .collect();
        out.push_str(&parts.join(", "));
        out.push(')');
    }
    out
}
