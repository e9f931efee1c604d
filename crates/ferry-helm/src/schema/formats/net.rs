use super::*;

// --- net/netip ParseAddr ---

pub struct Addr {
    pub(super) is4: bool,
    pub(super) zone: bool,
}

pub(super) fn addr_error(input: &[u8], msg: &str, at: &[u8]) -> String {
    if at.is_empty() {
        format!("ParseAddr({}): {msg}", go_quote_bytes(input))
    } else {
        format!(
            "ParseAddr({}): {msg} (at {})",
            go_quote_bytes(input),
            go_quote_bytes(at)
        )
    }
}

/// Go's `netip.ParseAddr`.
pub fn parse_addr(s: &[u8]) -> Result<Addr, String> {
    for &c in s {
        match c {
            b'.' => {
                ipv4_fields(s, s)?;
                return Ok(Addr {
                    is4: true,
                    zone: false,
                });
            }
            b':' => return parse_ipv6(s),
            b'%' => return Err(addr_error(s, "missing IPv6 address", b"")),
            _ => {}
        }
    }
    Err(addr_error(s, "unable to parse IP", b""))
}

pub(super) fn ipv4_fields(input: &[u8], s: &[u8]) -> Result<(), String> {
    let (mut val, mut pos, mut dig_len) = (0u32, 0, 0);
    for (i, &c) in s.iter().enumerate() {
        if c.is_ascii_digit() {
            if dig_len == 1 && val == 0 {
                return Err(addr_error(
                    input,
                    "IPv4 field has octet with leading zero",
                    b"",
                ));
            }
            val = val * 10 + u32::from(c - b'0');
            dig_len += 1;
            if val > 255 {
                return Err(addr_error(input, "IPv4 field has value >255", b""));
            }
        } else if c == b'.' {
            if i == 0 || i == s.len() - 1 || s[i - 1] == b'.' {
                return Err(addr_error(
                    input,
                    "IPv4 field must have at least one digit",
                    &s[i..],
                ));
            }
            if pos == 3 {
                return Err(addr_error(input, "IPv4 address too long", b""));
            }
            pos += 1;
            val = 0;
            dig_len = 0;
        } else {
            return Err(addr_error(input, "unexpected character", &s[i..]));
        }
    }
    if pos < 3 {
        return Err(addr_error(input, "IPv4 address too short", b""));
    }
    Ok(())
}

pub(super) fn parse_ipv6(input: &[u8]) -> Result<Addr, String> {
    let mut s = input;
    let mut zone = false;
    if let Some(i) = s.iter().position(|&c| c == b'%') {
        if i + 1 == s.len() {
            return Err(addr_error(input, "zone must be a non-empty string", b""));
        }
        s = &s[..i];
        zone = true;
    }
    let zone_len = input.len() - s.len();
    let mut ellipsis: i32 = -1;
    if s.len() >= 2 && s[0] == b':' && s[1] == b':' {
        ellipsis = 0;
        s = &s[2..];
        if s.is_empty() {
            return Ok(Addr { is4: false, zone });
        }
    }
    let mut i: i32 = 0;
    while i < 16 {
        let mut off = 0;
        let mut acc: u32 = 0;
        while off < s.len() {
            let Some(d) = (s[off] as char).to_digit(16) else {
                break;
            };
            acc = (acc << 4) + d;
            if off > 3 {
                return Err(addr_error(
                    input,
                    "each group must have 4 or less digits",
                    s,
                ));
            }
            if acc > 0xffff {
                return Err(addr_error(input, "IPv6 field has value >=2^16", s));
            }
            off += 1;
        }
        if off == 0 {
            return Err(addr_error(
                input,
                "each colon-separated field must have at least one digit",
                s,
            ));
        }
        if off < s.len() && s[off] == b'.' {
            if ellipsis < 0 && i != 12 {
                return Err(addr_error(
                    input,
                    "embedded IPv4 address must replace the final 2 fields of the address",
                    s,
                ));
            }
            if i + 4 > 16 {
                return Err(addr_error(
                    input,
                    "too many hex fields to fit an embedded IPv4 at the end of the address",
                    s,
                ));
            }
            let end = input.len() - zone_len;
            ipv4_fields(input, &input[end - s.len()..end])?;
            s = b"";
            i += 4;
            break;
        }
        i += 2;
        s = &s[off..];
        if s.is_empty() {
            break;
        }
        if s[0] != b':' {
            return Err(addr_error(input, "unexpected character, want colon", s));
        } else if s.len() == 1 {
            return Err(addr_error(
                input,
                "colon must be followed by more characters",
                s,
            ));
        }
        s = &s[1..];
        if s[0] == b':' {
            if ellipsis >= 0 {
                return Err(addr_error(input, "multiple :: in address", s));
            }
            ellipsis = i;
            s = &s[1..];
            if s.is_empty() {
                break;
            }
        }
    }
    if !s.is_empty() {
        return Err(addr_error(input, "trailing garbage after address", s));
    }
    if i < 16 {
        if ellipsis < 0 {
            return Err(addr_error(input, "address string too short", b""));
        }
    } else if ellipsis >= 0 {
        return Err(addr_error(
            input,
            "the :: must expand to at least one field of zeros",
            b"",
        ));
    }
    Ok(Addr { is4: false, zone })
}

// --- net/url Parse ---

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Path,
    PathSegment,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

/// Go's `shouldEscape`.
pub(super) fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => return c == b'?',
            Mode::PathSegment => return matches!(c, b'/' | b';' | b',' | b'?'),
            Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::Fragment => return false,
            Mode::Host | Mode::Zone => {}
        },
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

pub(super) fn unhex(c: u8) -> u8 {
    (c as char).to_digit(16).map_or(0, |d| d as u8)
}

/// Go's `unescape`.
pub(super) fn unescape(s: &[u8], mode: Mode) -> Result<Vec<u8>, String> {
    let escape_error = |e: &[u8]| format!("invalid URL escape {}", go_quote_bytes(e));
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                if i + 2 >= s.len()
                    || !s[i + 1].is_ascii_hexdigit()
                    || !s[i + 2].is_ascii_hexdigit()
                {
                    return Err(escape_error(&s[i..(i + 3).min(s.len())]));
                }
                let esc = &s[i..i + 3];
                if mode == Mode::Host && unhex(s[i + 1]) < 8 && esc != b"%25" {
                    return Err(escape_error(esc));
                }
                if mode == Mode::Zone {
                    let v = unhex(s[i + 1]) << 4 | unhex(s[i + 2]);
                    if esc != b"%25" && v != b' ' && should_escape(v, Mode::Host) {
                        return Err(escape_error(esc));
                    }
                }
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return Err(format!(
                        "invalid character {} in host name",
                        go_quote_bytes(&[c])
                    ));
                }
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            out.push(unhex(s[i + 1]) << 4 | unhex(s[i + 2]));
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Ok(out)
}

pub(super) fn escape(s: &[u8], mode: Mode) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if should_escape(c, mode) {
            out.extend_from_slice(format!("%{c:02X}").as_bytes());
        } else {
            out.push(c);
        }
    }
    out
}

/// `url.PathEscape` of each `/`-separated token (how the validator prints pointers).
pub fn escape_path_segments(ptr: &str) -> String {
    ptr.split('/')
        .map(|t| lossy(&escape(t.as_bytes(), Mode::PathSegment)))
        .collect::<Vec<_>>()
        .join("/")
}

pub struct Url {
    pub scheme: String,
    pub raw_path: Vec<u8>,
}

/// Go's `url.Parse`, with the validator's extra IPv6 host check.
pub fn parse_url(raw: &[u8]) -> Result<Url, String> {
    let (u, frag) = match raw.iter().position(|&c| c == b'#') {
        Some(i) => (&raw[..i], &raw[i + 1..]),
        None => (raw, &b""[..]),
    };
    let (url, host) = parse(u).map_err(|e| format!("parse {}: {e}", go_quote_bytes(u)))?;
    if !frag.is_empty() {
        unescape(frag, Mode::Fragment)
            .map_err(|e| format!("parse {}: {e}", go_quote_bytes(raw)))?;
    }
    // The validator: an IPv6 host name must be bracketed and valid.
    let mut hostname: &[u8] = &host;
    if let Some(colon) = hostname.iter().rposition(|&c| c == b':') {
        if valid_optional_port(&hostname[colon..]) {
            hostname = &hostname[..colon];
        }
    }
    if hostname.len() >= 2 && hostname.starts_with(b"[") && hostname.ends_with(b"]") {
        hostname = &hostname[1..hostname.len() - 1];
    }
    if hostname.contains(&b':') {
        if !host.contains(&b'[') || !host.contains(&b']') {
            return err("ipv6 address not enclosed in brackets");
        }
        super::ipv6(hostname).map_err(|e| format!("invalid ipv6 address: {e}"))?;
    }
    Ok(url)
}

pub(super) fn valid_optional_port(port: &[u8]) -> bool {
    port.is_empty() || (port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit))
}

pub(super) fn get_scheme(raw: &[u8]) -> Result<(&[u8], &[u8]), String> {
    for (i, &c) in raw.iter().enumerate() {
        match c {
            c if c.is_ascii_alphabetic() => {}
            c if c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.') => {
                if i == 0 {
                    return Ok((b"", raw));
                }
            }
            b':' => {
                if i == 0 {
                    return err("missing protocol scheme");
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok((b"", raw)),
        }
    }
    Ok((b"", raw))
}

/// Go's `parse(rawURL, false)`: the URL and its (unescaped) host.
pub(super) fn parse(raw: &[u8]) -> Result<(Url, Vec<u8>), String> {
    if raw.iter().any(|&c| c < 0x20 || c == 0x7f) {
        return err("net/url: invalid control character in URL");
    }
    if raw == b"*" {
        return Ok((
            Url {
                scheme: String::new(),
                raw_path: Vec::new(),
            },
            Vec::new(),
        ));
    }
    let (scheme, rest) = get_scheme(raw)?;
    let scheme = lossy(scheme).to_ascii_lowercase();
    let mut rest = rest;
    let questions = rest.iter().filter(|&&c| c == b'?').count();
    if rest.ends_with(b"?") && questions == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some(q) = rest.iter().position(|&c| c == b'?') {
        rest = &rest[..q];
    }
    if !rest.starts_with(b"/") {
        if !scheme.is_empty() {
            return Ok((
                Url {
                    scheme,
                    raw_path: Vec::new(),
                },
                Vec::new(),
            ));
        }
        let segment = rest.split(|&c| c == b'/').next().unwrap_or(b"");
        if segment.contains(&b':') {
            return err("first path segment in URL cannot contain colon");
        }
    }
    let mut host = Vec::new();
    if (!scheme.is_empty() || !rest.starts_with(b"///")) && rest.starts_with(b"//") {
        let mut authority = &rest[2..];
        rest = b"";
        if let Some(i) = authority.iter().position(|&c| c == b'/') {
            rest = &authority[i..];
            authority = &authority[..i];
        }
        host = parse_authority(&scheme, authority)?;
    }
    let path = unescape(rest, Mode::Path)?;
    let raw_path = if escape(&path, Mode::Path) == rest {
        Vec::new()
    } else {
        rest.to_vec()
    };
    Ok((Url { scheme, raw_path }, host))
}

pub(super) fn parse_authority(scheme: &str, authority: &[u8]) -> Result<Vec<u8>, String> {
    let at = authority.iter().rposition(|&c| c == b'@');
    let host = parse_host(scheme, at.map_or(authority, |i| &authority[i + 1..]))?;
    if let Some(i) = at {
        let userinfo = &authority[..i];
        let valid = userinfo.iter().all(|&c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'-' | b'.'
                        | b'_'
                        | b':'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b'%'
                        | b'@'
                )
                || c >= 0x80
        });
        if !valid {
            return err("net/url: invalid userinfo");
        }
        match userinfo.iter().position(|&c| c == b':') {
            None => {
                unescape(userinfo, Mode::UserPassword)?;
            }
            Some(k) => {
                unescape(&userinfo[..k], Mode::UserPassword)?;
                unescape(&userinfo[k + 1..], Mode::UserPassword)?;
            }
        }
    }
    Ok(host)
}

pub(super) fn parse_host(scheme: &str, host: &[u8]) -> Result<Vec<u8>, String> {
    match host.iter().rposition(|&c| c == b'[') {
        Some(open) if open > 0 => err("invalid IP-literal"),
        Some(_) => {
            let Some(close) = host.iter().rposition(|&c| c == b']') else {
                return err("missing ']' in host");
            };
            let colon_port = &host[close + 1..];
            if !valid_optional_port(colon_port) {
                return err(format!(
                    "invalid port {} after host",
                    go_quote_bytes(colon_port)
                ));
            }
            let port = unescape(colon_port, Mode::Host)?;
            let name = &host[1..close];
            let unescaped = match name.windows(3).position(|w| w == b"%25") {
                Some(z) => {
                    let mut h = unescape(&name[..z], Mode::Host)?;
                    h.extend(unescape(&name[z..], Mode::Zone)?);
                    h
                }
                None => unescape(name, Mode::Host)?,
            };
            let addr = parse_addr(&unescaped).map_err(|e| format!("invalid host: {e}"))?;
            if addr.is4 {
                return err("invalid IP-literal");
            }
            let mut out = b"[".to_vec();
            out.extend(unescaped);
            out.push(b']');
            out.extend(port);
            Ok(out)
        }
        None => {
            if let Some(first) = host.iter().position(|&c| c == b':') {
                let last = host.iter().rposition(|&c| c == b':').unwrap_or(first);
                let i = if last != first && scheme != "http" && scheme != "https" {
                    last
                } else {
                    first
                };
                let colon_port = &host[i..];
                if !valid_optional_port(colon_port) {
                    return err(format!(
                        "invalid port {} after host",
                        go_quote_bytes(colon_port)
                    ));
                }
            }
            unescape(host, Mode::Host)
        }
    }
}
