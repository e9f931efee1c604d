//! Go's number and character constants in templates, read as `text/template/parse` reads them.
//!
//! The lexer's scan (`scanNumber`) decides what is a number at all; `strconv.ParseInt`,
//! `ParseUint` and `ParseFloat` (base prefixes `0x`/`0o`/`0b`, leading-zero octal, `_` between
//! digits, hex floats with a `p` exponent) give its value; and the evaluator's rule
//! (`idealConstant`) decides whether it is an `int` or a `float64`.

/// The value of a number constant, as the template evaluator sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An `int` (Go's `int` is 64-bit here).
    Int(i64),
    /// A `float64`.
    Float(f64),
}

/// How far Go's `scanNumber` reads `text` as one number, and whether what follows it is
/// a letter or digit (which makes the whole token a `bad number syntax`).
fn scan(text: &str) -> (usize, bool) {
    let b = text.as_bytes();
    let mut i = 0;
    let accept = |i: &mut usize, set: &[u8]| -> bool {
        if b.get(*i).is_some_and(|c| set.contains(c)) {
            *i += 1;
            true
        } else {
            false
        }
    };
    let run = |i: &mut usize, set: &[u8]| {
        while b.get(*i).is_some_and(|c| set.contains(c)) {
            *i += 1;
        }
    };
    const DEC: &[u8] = b"0123456789_";
    const HEX: &[u8] = b"0123456789abcdefABCDEF_";
    accept(&mut i, b"+-");
    let mut digits = DEC;
    if accept(&mut i, b"0") {
        if accept(&mut i, b"xX") {
            digits = HEX;
        } else if accept(&mut i, b"oO") {
            digits = b"01234567_";
        } else if accept(&mut i, b"bB") {
            digits = b"01_";
        }
    }
    run(&mut i, digits);
    if accept(&mut i, b".") {
        run(&mut i, digits);
    }
    if digits == DEC && accept(&mut i, b"eE") {
        accept(&mut i, b"+-");
        run(&mut i, DEC);
    }
    if digits == HEX && accept(&mut i, b"pP") {
        accept(&mut i, b"+-");
        run(&mut i, DEC);
    }
    accept(&mut i, b"i");
    let alnum_next = b
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
    (i, alnum_next)
}

/// Go's `underscoreOK`: underscores only between digits, or between a base prefix and a digit.
fn underscore_ok(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// `strconv.ParseInt(text, 0, 64)` (as `i128` so `ParseUint`'s range can be told apart).
fn parse_int(text: &str) -> Option<i128> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.contains('_') && !underscore_ok(text) {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if clean.is_empty() || !clean.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(&clean, radix).ok()?;
    let value = i128::from(magnitude);
    Some(if neg { -value } else { value })
}

/// A hex float's value (`0x1.8p1`): `None` without the exponent Go requires, or out of range.
fn parse_hex_float(body: &str) -> Option<f64> {
    let (mantissa, exponent) = body.split_once(['p', 'P'])?;
    let exponent: i32 = exponent.replace('_', "").parse().ok()?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut bits: u64 = 0;
    let mut kept = 0;
    let mut sticky = false;
    let mut scale: i64 = i64::from(exponent);
    let mut any = false;
    for (i, c) in int_part.chars().chain(frac_part.chars()).enumerate() {
        if c == '_' {
            continue;
        }
        let d = u64::from(c.to_digit(16)?);
        any = true;
        let fractional = i >= int_part.len();
        if bits == 0 && d == 0 {
            if fractional {
                scale -= 4;
            }
            continue;
        }
        if kept < 15 {
            bits = bits << 4 | d;
            kept += 1;
            if fractional {
                scale -= 4;
            }
        } else {
            sticky |= d != 0;
            if !fractional {
                scale += 4;
            }
        }
    }
    if !any {
        return None;
    }
    // Dropped digits only decide ties: one bit below the 60 kept rounds as Go does.
    let bits = if sticky { bits << 1 | 1 } else { bits << 1 };
    let mut value = bits as f64;
    let mut scale = scale - 1;
    while scale > 0 {
        let step = scale.min(1000);
        value *= 2f64.powi(step as i32);
        scale -= step;
    }
    while scale < 0 {
        let step = scale.max(-1000);
        value *= 2f64.powi(step as i32);
        scale -= step;
    }
    value.is_finite().then_some(value)
}

/// `strconv.ParseFloat(text, 64)` for what the lexer passes (no `inf`/`nan` words reach here).
fn parse_float(text: &str) -> Option<f64> {
    if text.contains('_') && !underscore_ok(text) {
        return None;
    }
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let value = if let Some(hex) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        parse_hex_float(hex)?
    } else {
        let clean: String = body.chars().filter(|c| *c != '_').collect();
        if !clean.bytes().any(|c| c.is_ascii_digit()) {
            return None;
        }
        let v: f64 = clean.parse().ok()?;
        if !v.is_finite() {
            return None;
        }
        v
    };
    Some(if neg { -value } else { value })
}

/// Reads a number constant as Go's template parser and evaluator do. The error is Go's wording.
pub fn parse_number(text: &str) -> Result<Number, String> {
    let (len, alnum_next) = scan(text);
    if len < text.len() || alnum_next {
        let end = (len + 1).min(text.len());
        return Err(format!("bad number syntax: {:?}", &text[..end]));
    }
    if text.ends_with('i') {
        return Err(format!(
            "complex number constants are not supported: {text:?}"
        ));
    }
    let int = parse_int(text);
    let is_int = int.is_some_and(|i| i64::try_from(i).is_ok());
    let is_uint = int.is_some_and(|i| (0..=i128::from(u64::MAX)).contains(&i));
    let float = if int.is_some() {
        None
    } else {
        match parse_float(text) {
            Some(_) if !text.contains(['.', 'e', 'E', 'p', 'P']) => {
                return Err(format!("integer overflow: {text:?}"))
            }
            other => other,
        }
    };
    let hex_int = {
        let body = text.strip_prefix(['+', '-']).unwrap_or(text);
        body.len() > 2
            && (body.starts_with("0x") || body.starts_with("0X"))
            && !body.contains(['p', 'P'])
    };
    if let Some(f) = float {
        if !hex_int && text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Number::Float(f));
        }
    }
    match int {
        Some(i) if is_int => Ok(Number::Int(i as i64)),
        Some(_) if is_uint => Err(format!("{text} overflows int")),
        _ => match float {
            // an integral float that only reached here through a hex prefix
            Some(f) => Ok(Number::Float(f)),
            None => Err(format!("illegal number syntax: {text:?}")),
        },
    }
}

/// Go's `strconv.UnquoteChar` inside a character constant: the character at the start of `s`
/// (the text after the opening quote) and how many bytes it took, or `None` when malformed.
pub fn unquote_char(s: &str) -> Option<(char, usize)> {
    let mut chars = s.chars();
    let first = chars.next()?;
    if first == '\'' || first == '\n' {
        return None;
    }
    if first != '\\' {
        return Some((first, first.len_utf8()));
    }
    let kind = chars.next()?;
    let simple = match kind {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        '\'' => Some('\''),
        _ => None,
    };
    if let Some(c) = simple {
        return Some((c, 2));
    }
    let (digits, radix) = match kind {
        'x' => (2, 16),
        'u' => (4, 16),
        'U' => (8, 16),
        '0'..='7' => (3, 8),
        _ => return None,
    };
    let start = if radix == 8 { 1 } else { 2 };
    let code = s.get(start..start + digits)?;
    if !code.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let value = u32::from_str_radix(code, radix).ok()?;
    if radix == 8 && value > 255 {
        return None;
    }
    Some((char::from_u32(value)?, start + digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values are what Helm v4.2.3 printed for `{{ <literal> }}` (see
    // tests/fidelity-chart/templates/numbers.yaml and its golden).
    #[test]
    fn go_literals() {
        let int = |t: &str, want: i64| assert_eq!(parse_number(t), Ok(Number::Int(want)), "{t}");
        let float =
            |t: &str, want: f64| assert_eq!(parse_number(t), Ok(Number::Float(want)), "{t}");
        int("1_000", 1000);
        int("0o17", 15);
        int("0O17", 15);
        int("017", 15);
        int("0b101", 5);
        int("0x_FF", 255);
        int("-7", -7);
        int("+7", 7);
        int("9223372036854775807", i64::MAX);
        float("0x1p60", 1_152_921_504_606_846_976.0);
        float("0x1.8p1", 3.0);
        float("0X1P-2", 0.25);
        float("0x1_0p1_0", 16384.0);
        float("0x.8p1", 1.0);
        float("1e3", 1000.0);
        float("1_0.5_1", 10.51);
        float(".5", 0.5);
        float("5.", 5.0);
    }

    #[test]
    fn go_rejects() {
        for bad in [
            "0x1e+2", "1__0", "0x", "1e", "0x1.8", "1_", "08", "0b102", "1e3x", "1e400",
        ] {
            assert!(parse_number(bad).is_err(), "{bad} should fail");
        }
        assert_eq!(
            parse_number("18446744073709551615"),
            Err("18446744073709551615 overflows int".into())
        );
        assert!(parse_number("1i").is_err());
    }

    #[test]
    fn characters() {
        assert_eq!(unquote_char("\\x41'"), Some(('A', 4)));
        assert_eq!(unquote_char("\\u00e9'"), Some(('é', 6)));
        assert_eq!(unquote_char("\\101'"), Some(('A', 4)));
        assert_eq!(unquote_char("\\U0001F600'"), Some(('😀', 10)));
        assert_eq!(unquote_char("\\v'"), Some(('\u{b}', 2)));
        assert_eq!(unquote_char("\\\"'"), None);
        assert_eq!(unquote_char("\\400'"), None);
        assert_eq!(unquote_char("\\uD800'"), None);
    }
}
