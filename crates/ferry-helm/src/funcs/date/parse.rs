use super::*;

/// The `quote` of Go's time package (non-ASCII and control bytes as `\x..`).
pub(super) fn quote(s: &[u8]) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for &b in s {
        if !(b' '..0x80).contains(&b) {
            let _ = write!(o, "\\x{b:02x}");
        } else {
            if b == b'"' || b == b'\\' {
                o.push('\\');
            }
            o.push(char::from(b));
        }
    }
    o.push('"');
    o
}

pub(super) fn parse_error(
    layout: &str,
    value: &str,
    layout_elem: &[u8],
    value_elem: &[u8],
) -> String {
    format!(
        "parsing time {} as {}: cannot parse {} as {}",
        quote(value.as_bytes()),
        quote(layout.as_bytes()),
        quote(value_elem),
        quote(layout_elem)
    )
}

/// Go's `getnum`: one or two digits (exactly two when `fixed`).
pub(super) fn getnum(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let d0 = s.first().filter(|c| c.is_ascii_digit())?;
    match s.get(1).filter(|c| c.is_ascii_digit()) {
        None if fixed => None,
        None => Some((i64::from(d0 - b'0'), &s[1..])),
        Some(d1) => Some((i64::from(d0 - b'0') * 10 + i64::from(d1 - b'0'), &s[2..])),
    }
}

/// Go's `getnum3`: one to three digits (exactly three when `fixed`).
pub(super) fn getnum3(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let mut n = 0;
    let mut i = 0;
    while i < 3 && s.get(i).is_some_and(u8::is_ascii_digit) {
        n = n * 10 + i64::from(s[i] - b'0');
        i += 1;
    }
    if i == 0 || (fixed && i != 3) {
        return None;
    }
    Some((n, &s[i..]))
}

/// Go's `leadingInt`: the leading decimal digits (`None` on overflow past 2^63).
pub(super) fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(s[i] - b'0');
        if x > 1 << 63 {
            return None;
        }
        i += 1;
    }
    Some((x, &s[i..]))
}

/// The `atoi` of Go's time package: an optional sign and digits, nothing else.
pub(super) fn atoi(s: &[u8]) -> Option<i64> {
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (x, rem) = leading_int(s)?;
    if !rem.is_empty() || x > i64::MAX as u64 {
        return None;
    }
    let x = x as i64;
    Some(if neg { -x } else { x })
}

/// Go's `skip`: matches the literal `prefix`, spaces matching runs of spaces.
pub(super) fn skip<'a>(mut value: &'a [u8], mut prefix: &[u8]) -> Result<&'a [u8], &'a [u8]> {
    while let Some(&p) = prefix.first() {
        if p == b' ' {
            if value.first().is_some_and(|c| *c != b' ') {
                return Err(value);
            }
            prefix = trim_spaces(prefix);
            value = trim_spaces(value);
            continue;
        }
        if value.first() != Some(&p) {
            return Err(value);
        }
        prefix = &prefix[1..];
        value = &value[1..];
    }
    Ok(value)
}

pub(super) fn trim_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| **c == b' ').count();
    &s[n..]
}

/// Case-insensitive match of one of `names` (or their 3-letter forms) at the start of `s`.
pub(super) fn lookup_name<'a>(
    names: &[&str],
    short: bool,
    s: &'a [u8],
) -> Option<(usize, &'a [u8])> {
    for (i, n) in names.iter().enumerate() {
        let n = if short {
            &n.as_bytes()[..3]
        } else {
            n.as_bytes()
        };
        if s.len() >= n.len() && s[..n.len()].eq_ignore_ascii_case(n) {
            return Some((i, &s[n.len()..]));
        }
    }
    None
}

/// Go's `parseTimeZone`: the length of a zone abbreviation at the start of `s`.
pub(super) fn parse_time_zone(s: &[u8]) -> Option<usize> {
    if s.len() < 3 {
        return None;
    }
    if s.starts_with(b"ChST") || s.starts_with(b"MeST") {
        return Some(4);
    }
    if s.starts_with(b"GMT") {
        return Some(3 + parse_signed_offset(&s[3..]));
    }
    if s[0] == b'+' || s[0] == b'-' {
        let n = parse_signed_offset(s);
        return (n > 0).then_some(n);
    }
    let upper = s
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    match upper {
        3 => Some(3),
        4 if s[3] == b'T' || s.starts_with(b"WITA") => Some(4),
        5 if s[4] == b'T' => Some(5),
        _ => None,
    }
}

/// Go's `parseSignedOffset`: the length of `+h`/`-hh` (hours up to 12), 0 when none.
pub(super) fn parse_signed_offset(s: &[u8]) -> usize {
    if !matches!(s.first(), Some(b'+' | b'-')) {
        return 0;
    }
    match leading_int(&s[1..]) {
        Some((x, rem)) if rem.len() != s.len() - 1 && x <= 12 => s.len() - rem.len(),
        _ => 0,
    }
}

/// Go's `parseNanoseconds` of `value[..n]` (a separator and digits); `Err(true)` when out of
/// range, `Err(false)` when malformed.
pub(super) fn parse_nanos(value: &[u8], n: usize) -> Result<i64, bool> {
    if !matches!(value.first(), Some(b'.' | b',')) {
        return Err(false);
    }
    let n = n.min(10);
    let mut ns = atoi(&value[1..n]).ok_or(false)?;
    if ns < 0 {
        return Err(true);
    }
    for _ in 0..10 - n {
        ns *= 10;
    }
    Ok(ns)
}

/// Go's `time.ParseInLocation(layout, value, local)`, with Go's error messages.
pub fn parse(layout: &str, value: &str, local: &Loc) -> Result<GoTime, String> {
    let (alayout, avalue) = (layout, value);
    let mut l = layout.as_bytes();
    let mut v = value.as_bytes();
    let (mut am, mut pm) = (false, false);
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let mut z: Option<Loc> = None;
    let mut zone_offset: Option<i64> = None;
    let mut zone_name: &[u8] = b"";
    loop {
        let (plen, std) = next_std(l);
        let prefix = &l[..plen];
        v = skip(v, prefix).map_err(|rest| parse_error(alayout, avalue, prefix, rest))?;
        let Some((std, slen)) = std else {
            if !v.is_empty() {
                return Err(format!(
                    "parsing time {}: extra text: {}",
                    quote(avalue.as_bytes()),
                    quote(v)
                ));
            }
            break;
        };
        let stdstr = &l[plen..plen + slen];
        l = &l[plen + slen..];
        let hold = v;
        let mut range_err: Option<&str> = None;
        let ok: Option<()> = (|| {
            match std {
                Std::Year => {
                    let p = v.get(..2)?;
                    v = &v[2..];
                    year = atoi(p)?;
                    year += if year >= 69 { 1900 } else { 2000 };
                }
                Std::LongYear => {
                    if v.len() < 4 || !v[0].is_ascii_digit() {
                        return None;
                    }
                    year = atoi(&v[..4])?;
                    v = &v[4..];
                }
                Std::Month | Std::LongMonth => {
                    let (m, rest) = lookup_name(&LONG_MONTHS, std == Std::Month, v)?;
                    month = m as i64 + 1;
                    v = rest;
                }
                Std::NumMonth | Std::ZeroMonth => {
                    let (m, rest) = getnum(v, std == Std::ZeroMonth)?;
                    month = m;
                    v = rest;
                    if !(1..=12).contains(&month) {
                        range_err = Some("month");
                    }
                }
                Std::WeekDay | Std::LongWeekDay => {
                    let (_, rest) = lookup_name(&LONG_DAYS, std == Std::WeekDay, v)?;
                    v = rest;
                }
                Std::Day | Std::UnderDay | Std::ZeroDay => {
                    if std == Std::UnderDay && v.first() == Some(&b' ') {
                        v = &v[1..];
                    }
                    let (d, rest) = getnum(v, std == Std::ZeroDay)?;
                    day = d;
                    v = rest;
                }
                Std::UnderYearDay | Std::ZeroYearDay => {
                    for _ in 0..2 {
                        if std == Std::UnderYearDay && v.first() == Some(&b' ') {
                            v = &v[1..];
                        }
                    }
                    let (d, rest) = getnum3(v, std == Std::ZeroYearDay)?;
                    yday = d;
                    v = rest;
                }
                Std::Hour => {
                    let (h, rest) = getnum(v, false)?;
                    hour = h;
                    v = rest;
                    if !(0..24).contains(&hour) {
                        range_err = Some("hour");
                    }
                }
                Std::Hour12 | Std::ZeroHour12 => {
                    let (h, rest) = getnum(v, std == Std::ZeroHour12)?;
                    hour = h;
                    v = rest;
                    if !(0..=12).contains(&hour) {
                        range_err = Some("hour");
                    }
                }
                Std::Minute | Std::ZeroMinute => {
                    let (m, rest) = getnum(v, std == Std::ZeroMinute)?;
                    min = m;
                    v = rest;
                    if !(0..60).contains(&min) {
                        range_err = Some("minute");
                    }
                }
                Std::Second | Std::ZeroSecond => {
                    let (s, rest) = getnum(v, std == Std::ZeroSecond)?;
                    sec = s;
                    v = rest;
                    if !(0..60).contains(&sec) {
                        range_err = Some("second");
                        return Some(());
                    }
                    // a fractional second in the value that the layout does not have
                    if v.len() >= 2 && matches!(v[0], b'.' | b',') && v[1].is_ascii_digit() {
                        if let (_, Some((Std::Frac(..), _))) = next_std(l) {
                            return Some(());
                        }
                        let mut n = 2;
                        while n < v.len() && v[n].is_ascii_digit() {
                            n += 1;
                        }
                        match parse_nanos(v, n) {
                            Ok(ns) => nsec = ns,
                            Err(true) => range_err = Some("fractional second"),
                            Err(false) => return None,
                        }
                        v = &v[n..];
                    }
                }
                Std::PM | Std::Pm => {
                    let p = v.get(..2)?;
                    v = &v[2..];
                    let (up, lo) = if std == Std::PM {
                        (b"PM", b"AM")
                    } else {
                        (b"pm", b"am")
                    };
                    if p == up {
                        pm = true;
                    } else if p == lo {
                        am = true;
                    } else {
                        return None;
                    }
                }
                Std::Offset {
                    iso,
                    colon,
                    seconds,
                    short,
                } => {
                    if iso && v.first() == Some(&b'Z') {
                        v = &v[1..];
                        z = Some(Loc::Utc);
                        return Some(());
                    }
                    let (sign, hh, mm, ss): (u8, &[u8], &[u8], &[u8]);
                    if colon && !seconds {
                        if v.len() < 6 || v[3] != b':' {
                            return None;
                        }
                        (sign, hh, mm, ss) = (v[0], &v[1..3], &v[4..6], b"00");
                        v = &v[6..];
                    } else if short {
                        if v.len() < 3 {
                            return None;
                        }
                        (sign, hh, mm, ss) = (v[0], &v[1..3], b"00", b"00");
                        v = &v[3..];
                    } else if colon {
                        if v.len() < 9 || v[3] != b':' || v[6] != b':' {
                            return None;
                        }
                        (sign, hh, mm, ss) = (v[0], &v[1..3], &v[4..6], &v[7..9]);
                        v = &v[9..];
                    } else if seconds {
                        if v.len() < 7 {
                            return None;
                        }
                        (sign, hh, mm, ss) = (v[0], &v[1..3], &v[3..5], &v[5..7]);
                        v = &v[7..];
                    } else {
                        if v.len() < 5 {
                            return None;
                        }
                        (sign, hh, mm, ss) = (v[0], &v[1..3], &v[3..5], b"00");
                        v = &v[5..];
                    }
                    let (hr, _) = getnum(hh, true)?;
                    let (mi, _) = getnum(mm, true)?;
                    let (se, _) = getnum(ss, true)?;
                    if hr > 24 {
                        range_err = Some("time zone offset hour");
                    }
                    if mi > 60 {
                        range_err = Some("time zone offset minute");
                    }
                    if se > 60 {
                        range_err = Some("time zone offset second");
                    }
                    let off = (hr * 60 + mi) * 60 + se;
                    zone_offset = Some(match sign {
                        b'+' => off,
                        b'-' => -off,
                        _ => return None,
                    });
                }
                Std::Tz => {
                    if v.starts_with(b"UTC") {
                        z = Some(Loc::Utc);
                        v = &v[3..];
                        return Some(());
                    }
                    let n = parse_time_zone(v)?;
                    zone_name = &v[..n];
                    v = &v[n..];
                }
                Std::Frac(n, false, _) => {
                    let nd = 1 + n;
                    if v.len() < nd {
                        return None;
                    }
                    match parse_nanos(v, nd) {
                        Ok(ns) => nsec = ns,
                        Err(true) => range_err = Some("fractional second"),
                        Err(false) => return None,
                    }
                    v = &v[nd..];
                }
                Std::Frac(_, true, _) => {
                    if v.len() < 2 || !matches!(v[0], b'.' | b',') || !v[1].is_ascii_digit() {
                        return Some(()); // fractional second omitted
                    }
                    let mut i = 0;
                    while i + 1 < v.len() && v[i + 1].is_ascii_digit() {
                        i += 1;
                    }
                    match parse_nanos(v, 1 + i) {
                        Ok(ns) => nsec = ns,
                        Err(true) => range_err = Some("fractional second"),
                        Err(false) => return None,
                    }
                    v = &v[1 + i..];
                }
            }
            Some(())
        })();
        if let Some(r) = range_err {
            return Err(format!(
                "parsing time {}: {r} out of range",
                quote(avalue.as_bytes())
            ));
        }
        if ok.is_none() {
            return Err(parse_error(alayout, avalue, stdstr, hold));
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    let msg = |m: &str| format!("parsing time {}: {m}", quote(avalue.as_bytes()));
    if yday >= 0 {
        let (mut d, mut m) = (0, 0);
        if is_leap(year) {
            if yday == 31 + 29 {
                m = 2;
                d = 29;
            } else if yday > 31 + 29 {
                yday -= 1;
            }
        }
        if !(1..=365).contains(&yday) {
            return Err(msg("day-of-year out of range"));
        }
        if m == 0 {
            // the non-leap calendar
            m = 1;
            let mut before = 0;
            while before + days_in(m, 2001) < yday {
                before += days_in(m, 2001);
                m += 1;
            }
            d = yday - before;
        }
        if month >= 0 && month != m {
            return Err(msg("day-of-year does not match month"));
        }
        month = m;
        if day >= 0 && day != d {
            return Err(msg("day-of-year does not match day"));
        }
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in(month, year) {
        return Err(msg("day out of range"));
    }
    if let Some(z) = z {
        return Ok(GoTime::date(year, month, day, hour, min, sec, nsec, z));
    }
    if let Some(off) = zone_offset {
        let t = GoTime::date(year, month, day, hour, min, sec, nsec, Loc::Utc);
        let t = GoTime {
            sec: t.sec - off,
            ..t
        };
        let (name, loff) = local.lookup(t.sec);
        if i64::from(loff) == off && (zone_name.is_empty() || name.as_bytes() == zone_name) {
            return Ok(t.in_loc(local.clone()));
        }
        let name: Rc<str> = Rc::from(String::from_utf8_lossy(zone_name).as_ref());
        return Ok(t.in_loc(Loc::Fixed(name, off as i32)));
    }
    if !zone_name.is_empty() {
        let t = GoTime::date(year, month, day, hour, min, sec, nsec, Loc::Utc);
        if let Some(off) = local.lookup_name(zone_name, t.sec) {
            let t = GoTime {
                sec: t.sec - i64::from(off),
                ..t
            };
            return Ok(t.in_loc(local.clone()));
        }
        let mut off = 0;
        if zone_name.len() > 3 && zone_name.starts_with(b"GMT") {
            off = atoi(&zone_name[3..]).unwrap_or(0) * 3600;
        }
        let name: Rc<str> = Rc::from(String::from_utf8_lossy(zone_name).as_ref());
        return Ok(t.in_loc(Loc::Fixed(name, off as i32)));
    }
    Ok(GoTime::date(
        year,
        month,
        day,
        hour,
        min,
        sec,
        nsec,
        local.clone(),
    ))
}
