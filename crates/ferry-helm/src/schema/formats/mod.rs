use super::goregex;
use super::text::{go_quote_bytes, go_quote_rune, time_quote};

/// Checks `s` against the format `name`: `None` for formats Helm's validator does not know.
pub fn check(name: &str, s: &str) -> Option<Result<(), String>> {
    let b = s.as_bytes();
    Some(match name {
        "json-pointer" => json_pointer(b),
        "relative-json-pointer" => relative_json_pointer(b),
        "uuid" => uuid(b),
        "duration" => duration(b),
        "period" => period(b),
        "ipv4" => ipv4(b),
        "ipv6" => ipv6(b),
        "hostname" => hostname(b),
        "email" => email(b),
        "date" => date(b),
        "time" => time(b),
        "date-time" => date_time(b),
        "uri" | "iri" => uri(b),
        "uri-reference" | "iri-reference" => uri_reference(b),
        "uri-template" => uri_template(b),
        "semver" => semver(b),
        "regex" => goregex::check(s),
        _ => return None,
    })
}

fn err<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

fn split(b: &[u8], sep: u8) -> Vec<&[u8]> {
    b.split(|&c| c == sep).collect()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn runes(b: &[u8]) -> impl Iterator<Item = char> + '_ {
    b.utf8_chunks().flat_map(|c| {
        c.valid()
            .chars()
            .chain(c.invalid().iter().map(|_| '\u{fffd}'))
    })
}

/// Go's `strconv.Atoi`.
pub fn go_atoi(s: &[u8]) -> Result<i64, String> {
    let syntax = || {
        format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            go_quote_bytes(s)
        )
    };
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(syntax());
    }
    let mut v: i64 = 0;
    for &d in digits {
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(d - b'0')))
        {
            Some(v) => v,
            None if neg
                && v.checked_mul(10)
                    .and_then(|v| v.checked_sub(i64::from(d - b'0')))
                    .is_some() =>
            {
                // -9223372036854775808
                return lossy(s).parse().map_err(|_| syntax());
            }
            None => {
                return Err(format!(
                    "strconv.Atoi: parsing {}: value out of range",
                    go_quote_bytes(s)
                ))
            }
        };
    }
    Ok(if neg { -v } else { v })
}

fn json_pointer(s: &[u8]) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    if s[0] != b'/' {
        return err("not starting with /");
    }
    for tok in split(&s[1..], b'/') {
        let mut escape = false;
        for c in runes(tok) {
            if escape {
                escape = false;
                if c != '0' && c != '1' {
                    return err("~ must be followed by 0 or 1");
                }
                continue;
            }
            if c == '~' {
                escape = true;
            }
        }
        if escape {
            return err("~ must be followed by 0 or 1");
        }
    }
    Ok(())
}

fn relative_json_pointer(s: &[u8]) -> Result<(), String> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return err("must start with non-negative integer");
    }
    if digits > 1 && s[0] == b'0' {
        return err("starts with zero");
    }
    let rest = &s[digits..];
    if rest == b"#" {
        return Ok(());
    }
    json_pointer(rest)
}

fn uuid(s: &[u8]) -> Result<(), String> {
    let want = [8, 4, 4, 4, 12];
    let groups = split(s, b'-');
    if groups.len() != want.len() {
        return err(format!("must have {} elements", want.len()));
    }
    for (i, g) in groups.iter().enumerate() {
        if g.len() != want[i] {
            return err(format!(
                "element {} must be {} characters long",
                i + 1,
                want[i]
            ));
        }
        if let Some(c) = runes(g).find(|c| !c.is_ascii_hexdigit()) {
            return err(format!("non-hex character {}", go_quote_rune(c)));
        }
    }
    Ok(())
}

fn duration(s: &[u8]) -> Result<(), String> {
    let Some(s) = s.strip_prefix(b"P") else {
        return err("must start with P");
    };
    if s.is_empty() {
        return err("nothing after P");
    }
    if let Some(w) = s.strip_suffix(b"W") {
        if w.is_empty() {
            return err("no number in week");
        }
        if !w.iter().all(u8::is_ascii_digit) {
            return err("invalid week");
        }
        return Ok(());
    }
    let all_units: [&[u8]; 2] = [b"YMD", b"HMS"];
    for (i, part) in split(s, b'T').into_iter().enumerate() {
        if i != 0 && part.is_empty() {
            return err("no time elements");
        }
        if i >= all_units.len() {
            return err("more than one T");
        }
        let mut units = all_units[i];
        let mut part = part;
        while !part.is_empty() {
            let digits = part.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return err("missing number");
            }
            part = &part[digits..];
            let Some(&unit) = part.first() else {
                return err("missing unit");
            };
            match units.iter().position(|&u| u == unit) {
                Some(j) => units = &units[j + 1..],
                None => {
                    let q = go_quote_rune(char::from(unit));
                    if all_units[i].contains(&unit) {
                        return err(format!("unit {q} out of order"));
                    }
                    return err(format!("invalid unit {q}"));
                }
            }
            part = &part[1..];
        }
    }
    Ok(())
}

fn period(s: &[u8]) -> Result<(), String> {
    let Some(slash) = s.iter().position(|&c| c == b'/') else {
        return err("missing slash");
    };
    let (start, end) = (&s[..slash], &s[slash + 1..]);
    if start.starts_with(b"P") {
        duration(start).map_err(|e| format!("invalid start duration: {e}"))?;
        date_time(end).map_err(|e| format!("invalid end date-time: {e}"))?;
    } else {
        date_time(start).map_err(|e| format!("invalid start date-time: {e}"))?;
        if end.starts_with(b"P") {
            duration(end).map_err(|e| format!("invalid end duration: {e}"))?;
        } else {
            date_time(end).map_err(|e| format!("invalid end date-time: {e}"))?;
        }
    }
    Ok(())
}

fn ipv4(s: &[u8]) -> Result<(), String> {
    let groups = split(s, b'.');
    if groups.len() != 4 {
        return err("expected four decimals");
    }
    for g in groups {
        if g.len() > 1 && g[0] == b'0' {
            return err("leading zeros");
        }
        let n = go_atoi(g)?;
        if !(0..=255).contains(&n) {
            return err("decimal must be between 0 and 255");
        }
    }
    Ok(())
}

fn ipv6(s: &[u8]) -> Result<(), String> {
    if !s.contains(&b':') {
        return err("missing colon");
    }
    let addr = parse_addr(s)?;
    if addr.zone {
        return err("zone id is not a part of ipv6 address");
    }
    Ok(())
}

fn hostname(s: &[u8]) -> Result<(), String> {
    let s = s.strip_suffix(b".").unwrap_or(s);
    if s.len() > 253 {
        return err("more than 253 characters long");
    }
    for label in split(s, b'.') {
        if label.is_empty() || label.len() > 63 {
            return err("label must be 1 to 63 characters long");
        }
        if label.starts_with(b"-") {
            return err("label starts with hyphen");
        }
        if label.ends_with(b"-") {
            return err("label ends with hyphen");
        }
        if let Some(c) = runes(label).find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
            return err(format!("invalid character {}", go_quote_rune(c)));
        }
    }
    Ok(())
}

fn email(s: &[u8]) -> Result<(), String> {
    if s.len() > 254 {
        return err("more than 255 characters long");
    }
    let Some(at) = s.iter().rposition(|&c| c == b'@') else {
        return err("missing @");
    };
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.len() > 64 {
        return err("local part more than 64 characters long");
    }
    if local.len() > 1 && local.starts_with(b"\"") {
        let inner = &local[1..local.len() - 1];
        if inner.contains(&b'\\') || inner.contains(&b'"') {
            return err("backslash and quote are not allowed within quoted local part");
        }
    } else {
        if local.starts_with(b".") {
            return err("starts with dot");
        }
        if local.ends_with(b".") {
            return err("ends with dot");
        }
        if local.windows(2).any(|w| w == b"..") {
            return err("consecutive dots");
        }
        let allowed = ".!#$%&'*+-/=?^_`{|}~";
        if let Some(c) = runes(local).find(|c| !(c.is_ascii_alphanumeric() || allowed.contains(*c)))
        {
            return err(format!("invalid character {}", go_quote_rune(c)));
        }
    }
    if domain.len() >= 2 && domain.starts_with(b"[") && domain.ends_with(b"]") {
        let inner = &domain[1..domain.len() - 1];
        if let Some(rem) = inner.strip_prefix(b"IPv6:") {
            return ipv6(rem).map_err(|e| format!("invalid ipv6 address: {e}"));
        }
        return ipv4(inner).map_err(|e| format!("invalid ipv4 address: {e}"));
    }
    hostname(domain).map_err(|e| format!("invalid domain: {e}"))
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's `time.Parse("2006-01-02", s)`, errors only.
fn date(value: &[u8]) -> Result<(), String> {
    let layout = "2006-01-02";
    let bad = |elem: &[u8], layout_elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            time_quote(value),
            time_quote(layout.as_bytes()),
            time_quote(elem),
            time_quote(layout_elem.as_bytes())
        )
    };
    let range = |what: &str| format!("parsing time {}: {what} out of range", time_quote(value));
    let digit = |v: &[u8], i: usize| v.get(i).is_some_and(u8::is_ascii_digit);
    let mut v = value;
    if v.len() < 4 || !digit(v, 0) || !v[..4].iter().all(u8::is_ascii_digit) {
        return Err(bad(v, "2006"));
    }
    let year: i64 = v[..4].iter().fold(0, |a, d| a * 10 + i64::from(d - b'0'));
    v = &v[4..];
    let two = |v: &mut &[u8], sep_first: bool, elem: &str| -> Result<i64, String> {
        if sep_first {
            if v.first() != Some(&b'-') {
                return Err(bad(v, "-"));
            }
            *v = &v[1..];
        }
        if !digit(v, 0) || !digit(v, 1) {
            return Err(bad(v, elem));
        }
        let n = i64::from(v[0] - b'0') * 10 + i64::from(v[1] - b'0');
        *v = &v[2..];
        Ok(n)
    };
    let month = two(&mut v, true, "01")?;
    if !(1..=12).contains(&month) {
        return Err(range("month"));
    }
    let day = two(&mut v, true, "02")?;
    if !v.is_empty() {
        return Err(format!(
            "parsing time {}: extra text: {}",
            time_quote(value),
            time_quote(v)
        ));
    }
    if day < 1 || day > days_in(month, year) {
        return Err(range("day"));
    }
    Ok(())
}

fn time(s: &[u8]) -> Result<(), String> {
    if s.len() < 9 {
        return err("less than 9 characters long");
    }
    if s[2] != b':' || s[5] != b':' {
        return err("missing colon in correct place");
    }
    let mut hms = Vec::new();
    for tok in s[..8].splitn(3, |&c| c == b':') {
        let Ok(i) = go_atoi(tok) else {
            return err("invalid hour/min/sec");
        };
        if i < 0 {
            return err("non-positive hour/min/sec");
        }
        hms.push(i);
    }
    if hms.len() != 3 {
        return err("missing hour/min/sec");
    }
    let (mut h, mut m, sec) = (hms[0], hms[1], hms[2]);
    if h > 23 || m > 59 || sec > 60 {
        return err("hour/min/sec out of range");
    }
    let mut rest = &s[8..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return err("no digits in second fraction");
        }
        rest = &frac[digits..];
    }
    if rest != b"z" && rest != b"Z" {
        if rest.len() != 6 {
            return err("offset must be 6 characters long");
        }
        let sign = match rest[0] {
            b'+' => -1,
            b'-' => 1,
            _ => return err("offset must begin with plus/minus"),
        };
        let rest = &rest[1..];
        if rest[2] != b':' {
            return err("missing colon in offset in correct place");
        }
        let mut zhm = Vec::new();
        for tok in rest.splitn(2, |&c| c == b':') {
            let Ok(i) = go_atoi(tok) else {
                return err("invalid hour/min in offset");
            };
            if i < 0 {
                return err("non-positive hour/min in offset");
            }
            zhm.push(i);
        }
        let (zh, zm) = (zhm[0], zhm.get(1).copied().unwrap_or(0));
        if zh > 23 || zm > 59 {
            return err("hour/min in offset out of range");
        }
        let mut hm = (h * 60 + m) + sign * (zh * 60 + zm);
        if hm < 0 {
            hm += 24 * 60;
        }
        (h, m) = (hm / 60, hm % 60);
    }
    if sec >= 60 && (h != 23 || m != 59) {
        return err("invalid leap second");
    }
    Ok(())
}

fn date_time(s: &[u8]) -> Result<(), String> {
    if s.len() < 20 {
        return err("less than 20 characters long");
    }
    if s[10] != b't' && s[10] != b'T' {
        return err("11th character must be t or T");
    }
    date(&s[..10]).map_err(|e| format!("invalid date element: {e}"))?;
    time(&s[11..]).map_err(|e| format!("invalid time element: {e}"))
}

fn uri(s: &[u8]) -> Result<(), String> {
    let u = parse_url(s)?;
    if u.scheme.is_empty() {
        return err("relative url");
    }
    Ok(())
}

fn uri_reference(s: &[u8]) -> Result<(), String> {
    if s.contains(&b'\\') {
        return err("contains \\");
    }
    parse_url(s).map(|_| ())
}

fn uri_template(s: &[u8]) -> Result<(), String> {
    let u = parse_url(s)?;
    for tok in split(&u.raw_path, b'/') {
        let tok =
            unescape(tok, Mode::PathSegment).map_err(|e| format!("percent decode failed: {e}"))?;
        let mut want = true;
        for c in runes(&tok) {
            let got = match c {
                '{' => true,
                '}' => false,
                _ => continue,
            };
            if got != want {
                return err("nested curly braces");
            }
            want = !want;
        }
        if !want {
            return err("no matching closing brace");
        }
    }
    Ok(())
}

fn semver(s: &[u8]) -> Result<(), String> {
    let mut s = s;
    if let Some(i) = s.iter().position(|&c| c == b'+') {
        let build = &s[i + 1..];
        if build.is_empty() {
            return err("build is empty");
        }
        for id in split(build, b'.') {
            if id.is_empty() {
                return err("build identifier is empty");
            }
            if let Some(c) = runes(id).find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
                return err(format!(
                    "invalid character {} in build identifier",
                    go_quote_rune(c)
                ));
            }
        }
        s = &s[..i];
    }
    if let Some(i) = s.iter().position(|&c| c == b'-') {
        for id in split(&s[i + 1..], b'.') {
            if id.is_empty() {
                return err("pre-release identifier is empty");
            }
            if let Some(c) = runes(id).find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
                return err(format!(
                    "invalid character {} in pre-release identifier",
                    go_quote_rune(c)
                ));
            }
            if id.iter().all(u8::is_ascii_digit) && id.len() > 1 && id[0] == b'0' {
                return err("pre-release numeric identifier starts with zero");
            }
        }
        s = &s[..i];
    }
    let versions = split(s, b'.');
    if versions.len() != 3 {
        return err("versionCore must have 3 numbers separated by dot");
    }
    for (v, name) in versions.iter().zip(["major", "minor", "patch"]) {
        if v.is_empty() {
            return err(format!("{name} is empty"));
        }
        if v.len() > 1 && v[0] == b'0' {
            return err(format!("{name} starts with zero"));
        }
        if !v.iter().all(u8::is_ascii_digit) {
            return err(format!("{name} contains non-digit"));
        }
    }
    Ok(())
}

/// Go's `net/netip` address and `net/url` parsers, with their error texts.
mod net;
pub(super) use net::escape_path_segments;
use net::*;
