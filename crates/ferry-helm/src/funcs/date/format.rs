use super::*;

/// A layout element (Go's `std*` constants).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    /// A numeric zone offset: ISO 8601 (`Z` for UTC), colons, seconds, hours only.
    Offset {
        iso: bool,
        colon: bool,
        seconds: bool,
        short: bool,
    },
    /// Fractional seconds: digits, trim trailing zeros (`9`s), separator.
    Frac(usize, bool, u8),
}

pub(super) fn starts_lower(b: &[u8]) -> bool {
    b.first().is_some_and(u8::is_ascii_lowercase)
}

/// The layout element starting at `l[i]`, and its length.
pub(super) fn std_at(l: &[u8], i: usize) -> Option<(Std, usize)> {
    let rest = &l[i..];
    let at = |n: usize| rest.get(n).copied().unwrap_or(0);
    let off = |iso, colon, seconds, short| Std::Offset {
        iso,
        colon,
        seconds,
        short,
    };
    match rest[0] {
        b'J' if rest.starts_with(b"Jan") => {
            if rest.starts_with(b"January") {
                Some((Std::LongMonth, 7))
            } else if !starts_lower(&rest[3..]) {
                Some((Std::Month, 3))
            } else {
                None
            }
        }
        b'M' if rest.starts_with(b"Mon") => {
            if rest.starts_with(b"Monday") {
                Some((Std::LongWeekDay, 6))
            } else if !starts_lower(&rest[3..]) {
                Some((Std::WeekDay, 3))
            } else {
                None
            }
        }
        b'M' if rest.starts_with(b"MST") => Some((Std::Tz, 3)),
        b'0' if (b'1'..=b'6').contains(&at(1)) => Some((
            [
                Std::ZeroMonth,
                Std::ZeroDay,
                Std::ZeroHour12,
                Std::ZeroMinute,
                Std::ZeroSecond,
                Std::Year,
            ][usize::from(at(1) - b'1')],
            2,
        )),
        b'0' if at(1) == b'0' && at(2) == b'2' => Some((Std::ZeroYearDay, 3)),
        b'1' if at(1) == b'5' => Some((Std::Hour, 2)),
        b'1' => Some((Std::NumMonth, 1)),
        b'2' if rest.starts_with(b"2006") => Some((Std::LongYear, 4)),
        b'2' => Some((Std::Day, 1)),
        b'_' if at(1) == b'2' => {
            if rest.len() >= 5 && &rest[1..5] == b"2006" {
                None // a literal _ before the year
            } else {
                Some((Std::UnderDay, 2))
            }
        }
        b'_' if at(1) == b'_' && at(2) == b'2' => Some((Std::UnderYearDay, 3)),
        b'3' => Some((Std::Hour12, 1)),
        b'4' => Some((Std::Minute, 1)),
        b'5' => Some((Std::Second, 1)),
        b'P' if at(1) == b'M' => Some((Std::PM, 2)),
        b'p' if at(1) == b'm' => Some((Std::Pm, 2)),
        b'-' | b'Z' => {
            let iso = rest[0] == b'Z';
            if rest[1..].starts_with(b"070000") {
                Some((off(iso, false, true, false), 7))
            } else if rest[1..].starts_with(b"07:00:00") {
                Some((off(iso, true, true, false), 9))
            } else if rest[1..].starts_with(b"0700") {
                Some((off(iso, false, false, false), 5))
            } else if rest[1..].starts_with(b"07:00") {
                Some((off(iso, true, false, false), 6))
            } else if rest[1..].starts_with(b"07") {
                Some((off(iso, false, false, true), 3))
            } else {
                None
            }
        }
        sep @ (b'.' | b',') if at(1) == b'0' || at(1) == b'9' => {
            let ch = at(1);
            let mut j = 1;
            while at(j) == ch {
                j += 1;
            }
            if at(j).is_ascii_digit() {
                None
            } else {
                Some((Std::Frac(j - 1, ch == b'9', sep), j))
            }
        }
        _ => None,
    }
}

/// The length of the literal prefix of `l` and the layout element after it.
pub(super) fn next_std(l: &[u8]) -> (usize, Option<(Std, usize)>) {
    for i in 0..l.len() {
        if let Some(s) = std_at(l, i) {
            return (i, Some(s));
        }
    }
    (l.len(), None)
}

/// Go's `appendInt`: a sign, then the magnitude zero-padded to `width`.
pub(super) fn push_int(out: &mut String, x: i64, width: usize) {
    if x < 0 {
        out.push('-');
    }
    let _ = write!(out, "{:0width$}", x.unsigned_abs());
}

pub(super) fn format_std(out: &mut String, std: Std, c: &Civil) {
    match std {
        Std::Year => push_int(out, c.year.abs() % 100, 2),
        Std::LongYear => push_int(out, c.year, 4),
        Std::Month => out.push_str(&LONG_MONTHS[(c.month - 1) as usize][..3]),
        Std::LongMonth => out.push_str(LONG_MONTHS[(c.month - 1) as usize]),
        Std::NumMonth => push_int(out, c.month, 0),
        Std::ZeroMonth => push_int(out, c.month, 2),
        Std::WeekDay => out.push_str(&LONG_DAYS[c.wday][..3]),
        Std::LongWeekDay => out.push_str(LONG_DAYS[c.wday]),
        Std::Day => push_int(out, c.day, 0),
        Std::UnderDay => {
            if c.day < 10 {
                out.push(' ');
            }
            push_int(out, c.day, 0);
        }
        Std::ZeroDay => push_int(out, c.day, 2),
        Std::UnderYearDay => {
            if c.yday < 100 {
                out.push(' ');
                if c.yday < 10 {
                    out.push(' ');
                }
            }
            push_int(out, c.yday, 0);
        }
        Std::ZeroYearDay => push_int(out, c.yday, 3),
        Std::Hour => push_int(out, c.hour, 2),
        Std::Hour12 | Std::ZeroHour12 => {
            let h = match c.hour % 12 {
                0 => 12,
                h => h,
            };
            push_int(out, h, if std == Std::Hour12 { 0 } else { 2 });
        }
        Std::Minute => push_int(out, c.min, 0),
        Std::ZeroMinute => push_int(out, c.min, 2),
        Std::Second => push_int(out, c.sec, 0),
        Std::ZeroSecond => push_int(out, c.sec, 2),
        Std::PM => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
        Std::Pm => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
        Std::Offset {
            iso,
            colon,
            seconds,
            short,
        } => {
            if iso && c.offset == 0 {
                out.push('Z');
                return;
            }
            let abs = i64::from(c.offset).abs();
            out.push(if c.offset < 0 { '-' } else { '+' });
            push_int(out, abs / 3600, 2);
            if short {
                return;
            }
            if colon {
                out.push(':');
            }
            push_int(out, abs / 60 % 60, 2);
            if seconds {
                if colon {
                    out.push(':');
                }
                push_int(out, abs % 60, 2);
            }
        }
        Std::Tz => {
            if !c.abbr.is_empty() {
                out.push_str(&c.abbr);
                return;
            }
            let zone = i64::from(c.offset) / 60;
            out.push(if zone < 0 { '-' } else { '+' });
            push_int(out, zone.abs() / 60, 2);
            push_int(out, zone.abs() % 60, 2);
        }
        Std::Frac(n, trim, sep) => {
            if trim && (n == 0 || c.nsec == 0) {
                return;
            }
            let digits = format!("{:09}", c.nsec);
            let mut s = String::with_capacity(10);
            s.push(char::from(sep));
            s.push_str(&digits[..n.min(9)]);
            if trim {
                while s.ends_with('0') {
                    s.pop();
                }
                if s.len() == 1 {
                    return;
                }
            }
            out.push_str(&s);
        }
    }
}
