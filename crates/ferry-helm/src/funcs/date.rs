//! Go's `time.Time` for templates: Sprig's date functions (`now`, `date`, `dateInZone`,
//! `toDate`, `dateModify`, `ago`, `duration`, `durationRound`, ...), Go's reference-time layouts
//! (`2006-01-02 15:04:05.000 MST -0700 Mon Jan _2 PM`), `time.ParseDuration`, `Duration.String`
//! and time zones.
//!
//! Renders are reproducible: `now` is the render clock ([`Exec::now`], from
//! `RenderOptions::now`), never the wall clock, and Go's `Local` zone is UTC here, whatever the
//! machine's `TZ` (Sprig's `date`, `htmlDate` and `toDate` work in `Local`). Named IANA zones
//! (`dateInZone "..." $t "Asia/Seoul"`) are read from the TZif files under `$ZONEINFO` or
//! `/usr/share/zoneinfo` as Go reads them, POSIX rules for times past the last transition
//! included; a zone that cannot be loaded falls back to UTC, as Sprig does.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;

use super::{want, Func};
use crate::template::exec::{Exec, ExecError};
use crate::value::{Object, Value};

const NANOS: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;
/// Unix seconds of Go's zero time, January 1, year 1, 00:00:00 UTC.
const ZERO_UNIX: i64 = -62_135_596_800;

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A time zone: what Go's `*time.Location` holds.
#[derive(Clone)]
pub enum Loc {
    /// `time.UTC`.
    Utc,
    /// `time.Local`, which is UTC in ferry-helm (renders never depend on the machine's zone).
    Local,
    /// `time.FixedZone(name, offset)`: a name (possibly empty) and seconds east of UTC.
    Fixed(Rc<str>, i32),
    /// A zone loaded from a TZif file.
    Zone(Rc<TzData>),
}

impl Loc {
    /// The zone abbreviation and offset (seconds east of UTC) in effect at Unix second `sec`.
    fn lookup(&self, sec: i64) -> (String, i32) {
        match self {
            Loc::Utc | Loc::Local => ("UTC".into(), 0),
            Loc::Fixed(name, off) => (name.to_string(), *off),
            Loc::Zone(z) => z.lookup(sec),
        }
    }

    /// Go's `Location.String`.
    fn name(&self) -> String {
        match self {
            Loc::Utc => "UTC".into(),
            Loc::Local => "Local".into(),
            Loc::Fixed(name, _) => name.to_string(),
            Loc::Zone(z) => z.name.clone(),
        }
    }

    /// Go's `Location.lookupName` for the default location of `toDate` (UTC here).
    fn lookup_name(&self, name: &[u8], unix: i64) -> Option<i32> {
        match self {
            Loc::Zone(z) => {
                for zone in &z.zones {
                    if zone.abbr.as_bytes() == name {
                        let (n, off) = z.lookup(unix - i64::from(zone.offset));
                        if n == zone.abbr {
                            return Some(off);
                        }
                    }
                }
                z.zones
                    .iter()
                    .find(|zone| zone.abbr.as_bytes() == name)
                    .map(|zone| zone.offset)
            }
            other => {
                let (n, off) = other.lookup(unix);
                (n.as_bytes() == name).then_some(off)
            }
        }
    }
}

/// One zone type of a TZif file.
struct ZoneType {
    offset: i32,
    abbr: String,
    is_dst: bool,
}

/// A time zone read from a TZif file (RFC 8536), as Go's `LoadLocationFromTZData` reads it.
pub struct TzData {
    name: String,
    zones: Vec<ZoneType>,
    /// Transition times (Unix seconds) and the zone type in effect from each.
    tx: Vec<(i64, usize)>,
    /// The POSIX TZ rule for times after the last transition (may be empty).
    extend: String,
}

impl TzData {
    fn lookup(&self, sec: i64) -> (String, i32) {
        if self.zones.is_empty() {
            return ("UTC".into(), 0);
        }
        if self.tx.is_empty() || sec < self.tx[0].0 {
            let z = &self.zones[self.first_zone()];
            return (z.abbr.clone(), z.offset);
        }
        // the last transition at or before sec
        let lo = self.tx.partition_point(|(when, _)| *when <= sec) - 1;
        let (_, idx) = self.tx[lo];
        if lo == self.tx.len() - 1 && !self.extend.is_empty() {
            if let Some(r) = tz_rule(&self.extend, sec) {
                return r;
            }
        }
        let z = &self.zones[idx];
        (z.abbr.clone(), z.offset)
    }

    /// The zone used before the first transition (Go's `lookupFirstZone`).
    fn first_zone(&self) -> usize {
        if !self.tx.iter().any(|(_, i)| *i == 0) {
            return 0;
        }
        if let Some((_, first)) = self.tx.first() {
            if self.zones[*first].is_dst {
                for zi in (0..*first).rev() {
                    if !self.zones[zi].is_dst {
                        return zi;
                    }
                }
            }
        }
        self.zones.iter().position(|z| !z.is_dst).unwrap_or(0)
    }
}

/// Parses a TZif file; `None` when it is not one.
fn parse_tzif(name: &str, data: &[u8]) -> Option<TzData> {
    struct Rd<'a>(&'a [u8]);
    impl<'a> Rd<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.0.len() < n {
                return None;
            }
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            Some(a)
        }
        fn u32(&mut self) -> Option<usize> {
            let b = self.take(4)?;
            Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        }
        fn counts(&mut self) -> Option<[usize; 6]> {
            let mut n = [0; 6];
            for x in &mut n {
                *x = self.u32()?;
            }
            Some(n)
        }
    }
    let mut d = Rd(data);
    if d.take(4)? != b"TZif" {
        return None;
    }
    let version = d.take(1)?[0];
    d.take(15)?;
    // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    let mut n = d.counts()?;
    let mut size = 4;
    if version >= b'2' {
        // skip the 32-bit data and its successor's header; read the 64-bit data
        let skip = n[3] * 4 + n[3] + n[4] * 6 + n[5] + n[2] * 8 + n[1] + n[0];
        d.take(skip)?;
        d.take(20)?;
        n = d.counts()?;
        size = 8;
    }
    let times = d.take(n[3] * size)?;
    let idx = d.take(n[3])?;
    let types = d.take(n[4] * 6)?;
    let chars = d.take(n[5])?;
    d.take(n[2] * (size + 4))?;
    d.take(n[1])?;
    d.take(n[0])?;
    let mut extend = String::new();
    if size == 8 && d.0.len() > 2 && d.0[0] == b'\n' && d.0[d.0.len() - 1] == b'\n' {
        extend = String::from_utf8_lossy(&d.0[1..d.0.len() - 1]).into_owned();
    }
    if n[4] == 0 {
        return None;
    }
    let mut zones = Vec::new();
    for t in types.chunks(6) {
        let offset = i32::from_be_bytes([t[0], t[1], t[2], t[3]]);
        let ai = usize::from(t[5]);
        let abbr = chars.get(ai..)?;
        let end = abbr.iter().position(|c| *c == 0).unwrap_or(abbr.len());
        zones.push(ZoneType {
            offset,
            abbr: String::from_utf8_lossy(&abbr[..end]).into_owned(),
            is_dst: t[4] != 0,
        });
    }
    let mut tx = Vec::new();
    for (i, zi) in idx.iter().enumerate() {
        let b = &times[i * size..(i + 1) * size];
        let when = if size == 8 {
            i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        } else {
            i64::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let zi = usize::from(*zi);
        if zi >= zones.len() {
            return None;
        }
        tx.push((when, zi));
    }
    if tx.is_empty() {
        // one fake transition covering all time, as Go builds
        tx.push((i64::MIN, 0));
    }
    Some(TzData {
        name: name.to_string(),
        zones,
        tx,
        extend,
    })
}

thread_local! {
    static ZONES: RefCell<HashMap<String, Option<Rc<TzData>>>> = RefCell::new(HashMap::new());
}

/// Go's `time.LoadLocation`: `""` and `"UTC"` are UTC, `"Local"` is the local zone (UTC here),
/// anything else a TZif file under `$ZONEINFO` or the system zoneinfo directories.
pub fn load_location(name: &str) -> Option<Loc> {
    match name {
        "" | "UTC" => return Some(Loc::Utc),
        "Local" => return Some(Loc::Local),
        _ => {}
    }
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return None;
    }
    if let Some(z) = ZONES.with(|c| c.borrow().get(name).cloned()) {
        return z.map(Loc::Zone);
    }
    let mut dirs: Vec<String> = Vec::new();
    if let Ok(d) = std::env::var("ZONEINFO") {
        if !d.is_empty() {
            dirs.push(d);
        }
    }
    for d in [
        "/usr/share/zoneinfo",
        "/usr/share/lib/zoneinfo",
        "/usr/lib/locale/TZ",
        "/etc/zoneinfo",
    ] {
        dirs.push(d.to_string());
    }
    let mut found = None;
    for d in dirs {
        let path = std::path::Path::new(&d).join(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() || meta.len() > 10 << 20 {
            continue;
        }
        if let Some(z) = std::fs::read(&path)
            .ok()
            .and_then(|data| parse_tzif(name, &data))
        {
            found = Some(Rc::new(z));
            break;
        }
    }
    ZONES.with(|c| c.borrow_mut().insert(name.to_string(), found.clone()));
    found.map(Loc::Zone)
}

/// A rule of a POSIX TZ string: when a change happens in a year.
enum Rule {
    /// `Jn`: day 1..365, February 29 never counted.
    Julian(i64, i64),
    /// `n`: day 0..365, February 29 counted.
    Doy(i64, i64),
    /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    MonthWeekDay(i64, i64, i64, i64),
}

/// The zone a POSIX TZ string (a TZif footer) gives at Unix second `sec`.
fn tz_rule(s: &str, sec: i64) -> Option<(String, i32)> {
    fn name(s: &str) -> Option<(String, &str)> {
        if let Some(rest) = s.strip_prefix('<') {
            let end = rest.find('>')?;
            return Some((rest[..end].to_string(), &rest[end + 1..]));
        }
        let end = s
            .find(|c: char| c.is_ascii_digit() || c == ',' || c == '-' || c == '+')
            .unwrap_or(s.len());
        if end < 3 {
            return None;
        }
        Some((s[..end].to_string(), &s[end..]))
    }
    fn num(s: &str, min: i64, max: i64) -> Option<(i64, &str)> {
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        if end == 0 {
            return None;
        }
        let n: i64 = s[..end].parse().ok()?;
        if n < min || n > max {
            return None;
        }
        Some((n, &s[end..]))
    }
    fn offset(s: &str) -> Option<(i64, &str)> {
        let (neg, s) = match s.as_bytes().first() {
            Some(b'+') => (false, &s[1..]),
            Some(b'-') => (true, &s[1..]),
            _ => (false, s),
        };
        let (h, mut s) = num(s, 0, 24 * 7)?;
        let mut off = h * 3600;
        for mul in [60, 1] {
            let Some(rest) = s.strip_prefix(':') else {
                break;
            };
            let (x, rest) = num(rest, 0, 59)?;
            off += x * mul;
            s = rest;
        }
        Some((if neg { -off } else { off }, s))
    }
    fn rule(s: &str) -> Option<(Rule, &str)> {
        let (r, s) = if let Some(rest) = s.strip_prefix('J') {
            let (d, rest) = num(rest, 1, 365)?;
            (Rule::Julian(d, 0), rest)
        } else if let Some(rest) = s.strip_prefix('M') {
            let (m, rest) = num(rest, 1, 12)?;
            let rest = rest.strip_prefix('.')?;
            let (w, rest) = num(rest, 1, 5)?;
            let rest = rest.strip_prefix('.')?;
            let (d, rest) = num(rest, 0, 6)?;
            (Rule::MonthWeekDay(m, w, d, 0), rest)
        } else {
            let (d, rest) = num(s, 0, 365)?;
            (Rule::Doy(d, 0), rest)
        };
        let (time, s) = match s.strip_prefix('/') {
            Some(rest) => offset(rest)?,
            None => (2 * 3600, s),
        };
        let r = match r {
            Rule::Julian(d, _) => Rule::Julian(d, time),
            Rule::Doy(d, _) => Rule::Doy(d, time),
            Rule::MonthWeekDay(m, w, d, _) => Rule::MonthWeekDay(m, w, d, time),
        };
        Some((r, s))
    }
    // seconds from the start of `year` (UTC) to when the rule fires, `off` being in effect before
    fn fire(year: i64, r: &Rule, off: i64) -> i64 {
        let leap = is_leap(year);
        let (days, time) = match *r {
            Rule::Julian(d, t) => (d - 1 + i64::from(leap && d >= 60), t),
            Rule::Doy(d, t) => (d, t),
            Rule::MonthWeekDay(m, w, d, t) => {
                let first = days_from_civil(year, m, 1);
                let dow = (first + 4).rem_euclid(7);
                let mut day = (d - dow).rem_euclid(7);
                for _ in 1..w {
                    if day + 7 >= days_in(m, year) {
                        break;
                    }
                    day += 7;
                }
                (first - days_from_civil(year, 1, 1) + day, t)
            }
        };
        days * SECS_PER_DAY + time - off
    }
    let (mut std_name, s) = name(s)?;
    let (std_off, s) = offset(s)?;
    let mut std_off = -std_off;
    if s.is_empty() || s.starts_with(',') {
        return Some((std_name, std_off as i32));
    }
    let (mut dst_name, s) = name(s)?;
    let (mut dst_off, s) = if s.is_empty() || s.starts_with(',') {
        (std_off + 3600, s)
    } else {
        let (o, s) = offset(s)?;
        (-o, s)
    };
    let s = if s.is_empty() { ",M3.2.0,M11.1.0" } else { s };
    let s = s.strip_prefix([',', ';'])?;
    let (start_rule, s) = rule(s)?;
    let s = s.strip_prefix(',')?;
    let (end_rule, s) = rule(s)?;
    if !s.is_empty() {
        return None;
    }
    let days = sec.div_euclid(SECS_PER_DAY);
    let (year, _, _) = civil_from_days(days);
    let ysec = (days - days_from_civil(year, 1, 1)) * SECS_PER_DAY + sec.rem_euclid(SECS_PER_DAY);
    let mut start = fire(year, &start_rule, std_off);
    let mut end = fire(year, &end_rule, dst_off);
    if end < start {
        std::mem::swap(&mut start, &mut end);
        std::mem::swap(&mut std_name, &mut dst_name);
        std::mem::swap(&mut std_off, &mut dst_off);
    }
    if ysec < start || ysec >= end {
        Some((std_name, std_off as i32))
    } else {
        Some((dst_name, dst_off as i32))
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (`m` in 1..=12).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1..=12, day) of a day number since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Go's `time.Time`: an instant (Unix seconds and nanoseconds) and a zone to show it in.
#[derive(Clone)]
pub struct GoTime {
    sec: i64,
    nsec: u32,
    loc: Loc,
}

/// The calendar fields of a time in its zone.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nsec: i64,
    wday: usize,
    yday: i64,
    abbr: String,
    offset: i32,
}

impl GoTime {
    /// `time.Unix(sec, 0)`: in the local zone (UTC here).
    pub fn unix(sec: i64) -> GoTime {
        GoTime {
            sec,
            nsec: 0,
            loc: Loc::Local,
        }
    }

    /// Go's zero `time.Time` (what `toDate` returns for input it cannot parse).
    pub fn zero() -> GoTime {
        GoTime {
            sec: ZERO_UNIX,
            nsec: 0,
            loc: Loc::Utc,
        }
    }

    /// Go's `Date(year, month, day, hour, min, sec, nsec, loc)`, normalising out-of-range fields.
    #[allow(clippy::too_many_arguments)]
    fn date(
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        min: i64,
        sec: i64,
        nsec: i64,
        loc: Loc,
    ) -> GoTime {
        let m0 = month - 1;
        let year = year + m0.div_euclid(12);
        let month = m0.rem_euclid(12) + 1;
        let sec = sec + nsec.div_euclid(NANOS);
        let nsec = nsec.rem_euclid(NANOS);
        let days = days_from_civil(year, month, 1) + day - 1;
        let unix = days * SECS_PER_DAY + hour * 3600 + min * 60 + sec;
        let (_, off) = loc.lookup(unix);
        let mut off = i64::from(off);
        if off != 0 {
            let (_, off2) = loc.lookup(unix - off);
            off = i64::from(off2);
        }
        GoTime {
            sec: unix - off,
            nsec: nsec as u32,
            loc,
        }
    }

    fn civil(&self) -> Civil {
        let (abbr, offset) = self.loc.lookup(self.sec);
        let local = self.sec + i64::from(offset);
        let days = local.div_euclid(SECS_PER_DAY);
        let sod = local.rem_euclid(SECS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            min: sod / 60 % 60,
            sec: sod % 60,
            nsec: i64::from(self.nsec),
            wday: (days + 4).rem_euclid(7) as usize,
            yday: days - days_from_civil(year, 1, 1) + 1,
            abbr,
            offset,
        }
    }

    /// The same instant shown in another zone (`t.In(loc)`).
    pub fn in_loc(&self, loc: Loc) -> GoTime {
        GoTime {
            sec: self.sec,
            nsec: self.nsec,
            loc,
        }
    }

    /// `t.Add(d)` for a duration in nanoseconds.
    pub fn add(&self, d: i64) -> GoTime {
        let mut dsec = d / NANOS;
        let mut nsec = i64::from(self.nsec) + d % NANOS;
        if nsec >= NANOS {
            dsec += 1;
            nsec -= NANOS;
        } else if nsec < 0 {
            dsec -= 1;
            nsec += NANOS;
        }
        GoTime {
            sec: self.sec.wrapping_add(dsec),
            nsec: nsec as u32,
            loc: self.loc.clone(),
        }
    }

    /// `t.Sub(u)` in nanoseconds, saturating as Go does.
    fn sub(&self, u: &GoTime) -> i64 {
        let d = i128::from(self.sec - u.sec) * i128::from(NANOS) + i128::from(self.nsec)
            - i128::from(u.nsec);
        d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    fn is_zero(&self) -> bool {
        self.sec == ZERO_UNIX && self.nsec == 0
    }

    /// Go's `Time.String()`.
    pub fn string(&self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    /// Go's `Time.Format` with a reference-time layout.
    pub fn format(&self, layout: &str) -> String {
        let c = self.civil();
        let mut out = String::with_capacity(layout.len() + 10);
        let mut l = layout.as_bytes();
        loop {
            let (plen, std) = next_std(l);
            out.push_str(&String::from_utf8_lossy(&l[..plen]));
            let Some((std, slen)) = std else {
                break;
            };
            l = &l[plen + slen..];
            format_std(&mut out, std, &c);
        }
        out
    }
}

/// A layout element (Go's `std*` constants).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Std {
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

fn starts_lower(b: &[u8]) -> bool {
    b.first().is_some_and(u8::is_ascii_lowercase)
}

/// The layout element starting at `l[i]`, and its length.
fn std_at(l: &[u8], i: usize) -> Option<(Std, usize)> {
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
fn next_std(l: &[u8]) -> (usize, Option<(Std, usize)>) {
    for i in 0..l.len() {
        if let Some(s) = std_at(l, i) {
            return (i, Some(s));
        }
    }
    (l.len(), None)
}

/// Go's `appendInt`: a sign, then the magnitude zero-padded to `width`.
fn push_int(out: &mut String, x: i64, width: usize) {
    if x < 0 {
        out.push('-');
    }
    let _ = write!(out, "{:0width$}", x.unsigned_abs());
}

fn format_std(out: &mut String, std: Std, c: &Civil) {
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

/// The `quote` of Go's time package (non-ASCII and control bytes as `\x..`).
fn quote(s: &[u8]) -> String {
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

fn parse_error(layout: &str, value: &str, layout_elem: &[u8], value_elem: &[u8]) -> String {
    format!(
        "parsing time {} as {}: cannot parse {} as {}",
        quote(value.as_bytes()),
        quote(layout.as_bytes()),
        quote(value_elem),
        quote(layout_elem)
    )
}

/// Go's `getnum`: one or two digits (exactly two when `fixed`).
fn getnum(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let d0 = s.first().filter(|c| c.is_ascii_digit())?;
    match s.get(1).filter(|c| c.is_ascii_digit()) {
        None if fixed => None,
        None => Some((i64::from(d0 - b'0'), &s[1..])),
        Some(d1) => Some((i64::from(d0 - b'0') * 10 + i64::from(d1 - b'0'), &s[2..])),
    }
}

/// Go's `getnum3`: one to three digits (exactly three when `fixed`).
fn getnum3(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
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
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
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
fn atoi(s: &[u8]) -> Option<i64> {
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
fn skip<'a>(mut value: &'a [u8], mut prefix: &[u8]) -> Result<&'a [u8], &'a [u8]> {
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

fn trim_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| **c == b' ').count();
    &s[n..]
}

/// Case-insensitive match of one of `names` (or their 3-letter forms) at the start of `s`.
fn lookup_name<'a>(names: &[&str], short: bool, s: &'a [u8]) -> Option<(usize, &'a [u8])> {
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
fn parse_time_zone(s: &[u8]) -> Option<usize> {
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
fn parse_signed_offset(s: &[u8]) -> usize {
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
fn parse_nanos(value: &[u8], n: usize) -> Result<i64, bool> {
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
fn round_duration(d: i64, m: i64) -> i64 {
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

impl Object for GoTime {
    fn type_name(&self) -> &'static str {
        "time.Time"
    }

    fn field(&self, name: &str) -> Option<Value> {
        let c = || self.civil();
        Some(match name {
            "Year" => Value::Int(c().year),
            "Month" => Value::from(LONG_MONTHS[(c().month - 1) as usize]),
            "Day" => Value::Int(c().day),
            "Hour" => Value::Int(c().hour),
            "Minute" => Value::Int(c().min),
            "Second" => Value::Int(c().sec),
            "Nanosecond" => Value::Int(i64::from(self.nsec)),
            "YearDay" => Value::Int(c().yday),
            "Weekday" => Value::from(LONG_DAYS[c().wday]),
            "Unix" => Value::Int64(self.sec),
            "UnixMilli" => Value::Int64(
                self.sec
                    .wrapping_mul(1000)
                    .wrapping_add(i64::from(self.nsec) / 1_000_000),
            ),
            "UnixMicro" => Value::Int64(
                self.sec
                    .wrapping_mul(1_000_000)
                    .wrapping_add(i64::from(self.nsec) / 1000),
            ),
            "UnixNano" => Value::Int64(
                self.sec
                    .wrapping_mul(NANOS)
                    .wrapping_add(i64::from(self.nsec)),
            ),
            "UTC" => time_value(self.in_loc(Loc::Utc)),
            "Local" => time_value(self.in_loc(Loc::Local)),
            "IsZero" => Value::Bool(self.is_zero()),
            "String" => Value::from(self.string()),
            "Location" => Value::from(self.loc.name()),
            _ => return None,
        })
    }

    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, ExecError>> {
        let nargs = |n: usize| -> Result<(), ExecError> {
            if args.len() != n {
                return Err(ExecError::new(format!(
                    "wrong number of args for {name}: want {n} got {}",
                    args.len()
                )));
            }
            Ok(())
        };
        let r = match name {
            "Format" => nargs(1).map(|()| Value::from(self.format(&args[0].to_str()))),
            "Add" => nargs(1).map(|()| time_value(self.add(args[0].to_i64()))),
            "AddDate" => nargs(3).map(|()| {
                let c = self.civil();
                time_value(GoTime::date(
                    c.year + args[0].to_i64(),
                    c.month + args[1].to_i64(),
                    c.day + args[2].to_i64(),
                    c.hour,
                    c.min,
                    c.sec,
                    c.nsec,
                    self.loc.clone(),
                ))
            }),
            "Before" | "After" | "Equal" => nargs(1).and_then(|()| {
                let u = time_arg(&args[0])?;
                let o = (self.sec, self.nsec).cmp(&(u.sec, u.nsec));
                Ok(Value::Bool(match name {
                    "Before" => o.is_lt(),
                    "After" => o.is_gt(),
                    _ => o.is_eq(),
                }))
            }),
            _ => return None,
        };
        Some(r)
    }

    fn display(&self) -> String {
        self.string()
    }

    fn marshal_text(&self) -> String {
        self.format("2006-01-02T15:04:05.999999999Z07:00")
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

/// A template value holding a time.
pub fn time_value(t: GoTime) -> Value {
    Value::Object(Rc::new(t))
}

/// The time in a value, if it holds one.
pub fn as_time(v: &Value) -> Option<GoTime> {
    match v {
        Value::Object(o) => o.as_any()?.downcast_ref::<GoTime>().cloned(),
        _ => None,
    }
}

/// A `time.Time` argument, with text/template's error for anything else (Helm reports it at the
/// argument, without the "error calling" prefix; literal arguments get "can't handle ..." there).
fn time_arg(v: &Value) -> Result<GoTime, ExecError> {
    match v {
        // a missing map key: Go reports the map's element type
        Value::Nil => Err(ExecError::new(
            "wrong type for value; expected time.Time; got interface {}",
        )),
        other => as_time(other).ok_or_else(|| {
            ExecError::new(format!(
                "wrong type for value; expected time.Time; got {}",
                other.type_name()
            ))
        }),
    }
}

/// The render clock as Go's `time.Now()` (in the local zone, UTC here).
fn now(e: &Exec) -> GoTime {
    GoTime::unix(e.now)
}

/// Sprig's `dateInZone`: a time or Unix seconds (`int`, `int64`); anything else means now.
fn date_in_zone(e: &Exec, layout: &str, date: &Value, zone: &str) -> String {
    let t = match date {
        Value::Int(i) | Value::Int64(i) => GoTime::unix(*i),
        other => as_time(other).unwrap_or_else(|| now(e)),
    };
    t.in_loc(load_location(zone).unwrap_or(Loc::Utc))
        .format(layout)
}

/// Go's `strconv.ParseInt(s, 10, 64)` as Sprig uses it: 0 on bad syntax, clamped on overflow.
fn parse_int(s: &str) -> i64 {
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    let mut x: i128 = 0;
    for d in digits {
        x = (x * 10 + i128::from(d - b'0')).min(i128::from(u64::MAX));
    }
    let x = if neg { -x } else { x };
    x.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Registers Sprig's date functions.
pub fn register(m: &mut HashMap<&'static str, Func>) {
    m.insert("now", |e, a| {
        want(&a, 0, "now")?;
        Ok(time_value(now(e)))
    });
    m.insert("date", |e, a| {
        want(&a, 2, "date")?;
        Ok(Value::from(date_in_zone(e, &a[0].to_str(), &a[1], "Local")))
    });
    fn in_zone(e: &mut Exec, a: Vec<Value>) -> Result<Value, ExecError> {
        want(&a, 3, "dateInZone")?;
        Ok(Value::from(date_in_zone(
            e,
            &a[0].to_str(),
            &a[1],
            &a[2].to_str(),
        )))
    }
    m.insert("dateInZone", in_zone);
    m.insert("date_in_zone", in_zone);
    m.insert("htmlDate", |e, a| {
        want(&a, 1, "htmlDate")?;
        Ok(Value::from(date_in_zone(e, "2006-01-02", &a[0], "Local")))
    });
    m.insert("htmlDateInZone", |e, a| {
        want(&a, 2, "htmlDateInZone")?;
        Ok(Value::from(date_in_zone(
            e,
            "2006-01-02",
            &a[0],
            &a[1].to_str(),
        )))
    });
    m.insert("toDate", |_, a| {
        want(&a, 2, "toDate")?;
        Ok(time_value(
            parse(&a[0].to_str(), &a[1].to_str(), &Loc::Local).unwrap_or_else(|_| GoTime::zero()),
        ))
    });
    m.insert("mustToDate", |_, a| {
        want(&a, 2, "mustToDate")?;
        parse(&a[0].to_str(), &a[1].to_str(), &Loc::Local)
            .map(time_value)
            .map_err(ExecError::new)
    });
    m.insert("unixEpoch", |_, a| {
        want(&a, 1, "unixEpoch")?;
        Ok(Value::from(time_arg(&a[0])?.sec.to_string()))
    });
    fn modify(_: &mut Exec, a: Vec<Value>) -> Result<Value, ExecError> {
        want(&a, 2, "dateModify")?;
        let t = time_arg(&a[1])?;
        Ok(time_value(match parse_duration(&a[0].to_str()) {
            Ok(d) => t.add(d),
            Err(_) => t,
        }))
    }
    fn must_modify(_: &mut Exec, a: Vec<Value>) -> Result<Value, ExecError> {
        want(&a, 2, "mustDateModify")?;
        let t = time_arg(&a[1])?;
        let d = parse_duration(&a[0].to_str()).map_err(ExecError::new)?;
        Ok(time_value(t.add(d)))
    }
    m.insert("dateModify", modify);
    m.insert("date_modify", modify);
    m.insert("mustDateModify", must_modify);
    m.insert("must_date_modify", must_modify);
    m.insert("ago", |e, a| {
        want(&a, 1, "ago")?;
        let t = match &a[0] {
            Value::Int(i) | Value::Int64(i) => GoTime::unix(*i),
            other => as_time(other).unwrap_or_else(|| now(e)),
        };
        let d = round_duration(now(e).sub(&t), NANOS);
        Ok(Value::from(duration_string(d)))
    });
    m.insert("duration", |_, a| {
        want(&a, 1, "duration")?;
        let n = match &a[0] {
            Value::Str(s) => parse_int(s),
            Value::Int64(i) => *i,
            _ => 0,
        };
        Ok(Value::from(duration_string(n.wrapping_mul(NANOS))))
    });
    m.insert("durationRound", |e, a| {
        want(&a, 1, "durationRound")?;
        let d = match &a[0] {
            Value::Str(s) => parse_duration(s).unwrap_or(0),
            Value::Int64(i) => *i,
            other => match as_time(other) {
                Some(t) => now(e).sub(&t),
                None => 0,
            },
        };
        let u = d.unsigned_abs();
        const HOUR: u64 = 3_600_000_000_000;
        let units: [(u64, &str); 6] = [
            (HOUR * 24 * 365, "y"),
            (HOUR * 24 * 30, "mo"),
            (HOUR * 24, "d"),
            (HOUR, "h"),
            (60_000_000_000, "m"),
            (1_000_000_000, "s"),
        ];
        for (unit, name) in units {
            if u > unit {
                return Ok(Value::from(format!("{}{name}", u / unit)));
            }
        }
        Ok(Value::from("0s"))
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn civil_round_trips() {
        for days in [-719_468, -1, 0, 1, 11_016, 19_787, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(GoTime::zero().string(), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn durations_print_as_go_does() {
        for (s, want) in [
            ("1h2m3.5s", "1h2m3.5s"),
            ("1.5ms", "1.5ms"),
            ("1500ns", "1.5\u{b5}s"),
            ("-90s", "-1m30s"),
            ("0", "0s"),
            ("1h", "1h0m0s"),
            ("2562047h47m16.854775807s", "2562047h47m16.854775807s"),
        ] {
            assert_eq!(duration_string(parse_duration(s).unwrap()), want, "{s}");
        }
        assert_eq!(
            parse_duration("1d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
        assert_eq!(
            parse_duration("1").unwrap_err(),
            "time: missing unit in duration \"1\""
        );
        assert_eq!(
            parse_duration("").unwrap_err(),
            "time: invalid duration \"\""
        );
        assert_eq!(parse_duration("-9223372036854775808ns").unwrap(), i64::MIN);
        assert!(parse_duration("9223372036854775808ns").is_err());
    }

    #[test]
    fn parse_errors_are_worded_as_go_words_them() {
        let e = |l: &str, v: &str| parse(l, v, &Loc::Local).err().unwrap_or_default();
        assert_eq!(
            e("2006-01-02", "not a date"),
            "parsing time \"not a date\" as \"2006-01-02\": cannot parse \"not a date\" as \"2006\""
        );
        assert_eq!(
            e("2006-01-02", "2023-02-29"),
            "parsing time \"2023-02-29\": day out of range"
        );
        assert_eq!(
            e("2006-01-02", "2024-13-01"),
            "parsing time \"2024-13-01\": month out of range"
        );
        assert_eq!(
            e("2006-01-02", "2024-03-05 x"),
            "parsing time \"2024-03-05 x\": extra text: \" x\""
        );
    }

    #[test]
    fn posix_rules_apply_past_the_last_transition() {
        let z = TzData {
            name: "Test".into(),
            zones: vec![ZoneType {
                offset: -18_000,
                abbr: "EST".into(),
                is_dst: false,
            }],
            tx: vec![(0, 0)],
            extend: "EST5EDT,M3.2.0,M11.1.0".into(),
        };
        // 2100-07-01 00:00 UTC is in daylight time, 2100-01-01 is not
        assert_eq!(z.lookup(4_118_083_200), ("EDT".into(), -14_400));
        assert_eq!(z.lookup(4_102_444_800), ("EST".into(), -18_000));
    }
}
