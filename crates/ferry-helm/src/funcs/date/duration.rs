use super::*;

/// Go's `time.ParseDuration`: nanoseconds, with Go's error messages.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(s.as_bytes()));
    let mut r = s.as_bytes();
    let mut neg = false;
    if let Some(c @ (b'-' | b'+')) = r.first() {
        neg = *c == b'-';
        r = &r[1..];
    }
    if r == b"0" {
        return Ok(0);
    }
    if r.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !r.is_empty() {
        if !(r[0] == b'.' || r[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let before = r.len();
        let (v, rest) = leading_int(r).ok_or_else(invalid)?;
        r = rest;
        let pre = before != r.len();
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if r.first() == Some(&b'.') {
            r = &r[1..];
            let before = r.len();
            let mut overflow = false;
            while let Some(c) = r.first().filter(|c| c.is_ascii_digit()) {
                if !overflow {
                    if f > (i64::MAX as u64) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(c - b'0');
                        if y > 1 << 63 {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                r = &r[1..];
            }
            post = before != r.len();
        }
        if !pre && !post {
            return Err(invalid());
        }
        let ulen = r
            .iter()
            .position(|c| *c == b'.' || c.is_ascii_digit())
            .unwrap_or(r.len());
        if ulen == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                quote(s.as_bytes())
            ));
        }
        let u = &r[..ulen];
        r = &r[ulen..];
        let unit: u64 = match u {
            b"ns" => 1,
            b"us" | [0xc2, 0xb5, b's'] | [0xce, 0xbc, b's'] => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(u),
                    quote(s.as_bytes())
                ))
            }
        };
        if v > (1 << 63) / unit {
            return Err(invalid());
        }
        let mut v = v * unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        d += v;
        if d > 1 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    if d > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(d as i64)
}

/// Go's `Duration.String()` of a duration in nanoseconds (`1h2m3.5s`, `1.5ms`, `0s`).
pub fn duration_string(d: i64) -> String {
    let mut u = d.unsigned_abs();
    let mut out = String::new();
    if d < 0 {
        out.push('-');
    }
    let frac = |out: &mut String, v: u64, prec: usize| {
        let digits = format!("{v:0prec$}");
        let t = digits.trim_end_matches('0');
        if !t.is_empty() {
            out.push('.');
            out.push_str(t);
        }
    };
    if u < 1_000_000_000 {
        let (unit, prec, scale) = match u {
            0 => return "0s".into(),
            1..=999 => ("ns", 0, 1),
            1_000..=999_999 => ("\u{b5}s", 3, 1_000),
            _ => ("ms", 6, 1_000_000),
        };
        let _ = write!(out, "{}", u / scale);
        if prec > 0 {
            frac(&mut out, u % scale, prec);
        }
        out.push_str(unit);
        return out;
    }
    let nanos = u % 1_000_000_000;
    u /= 1_000_000_000;
    let (h, m, s) = (u / 3600, u / 60 % 60, u % 60);
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{s}");
    frac(&mut out, nanos, 9);
    out.push('s');
    out
}

/// Go's `Duration.Round(m)`.
pub(super) fn round_duration(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let r = d % m;
    let less_than_half = |x: i64| (x as u64).wrapping_add(x as u64) < m as u64;
    if d < 0 {
        let r = -r;
        if less_than_half(r) {
            return d + r;
        }
        return d.checked_sub(m - r).unwrap_or(i64::MIN);
    }
    if less_than_half(r) {
        return d - r;
    }
    d.checked_add(m - r).unwrap_or(i64::MAX)
}
