use super::*;

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
    pub(super) fn lookup(&self, sec: i64) -> (String, i32) {
        match self {
            Loc::Utc | Loc::Local => ("UTC".into(), 0),
            Loc::Fixed(name, off) => (name.to_string(), *off),
            Loc::Zone(z) => z.lookup(sec),
        }
    }

    /// Go's `Location.String`.
    pub(super) fn name(&self) -> String {
        match self {
            Loc::Utc => "UTC".into(),
            Loc::Local => "Local".into(),
            Loc::Fixed(name, _) => name.to_string(),
            Loc::Zone(z) => z.name.clone(),
        }
    }

    /// Go's `Location.lookupName` for the default location of `toDate` (UTC here).
    pub(super) fn lookup_name(&self, name: &[u8], unix: i64) -> Option<i32> {
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
pub(super) struct ZoneType {
    pub(super) offset: i32,
    pub(super) abbr: String,
    pub(super) is_dst: bool,
}

/// A time zone read from a TZif file (RFC 8536), as Go's `LoadLocationFromTZData` reads it.
pub struct TzData {
    pub(super) name: String,
    pub(super) zones: Vec<ZoneType>,
    /// Transition times (Unix seconds) and the zone type in effect from each.
    pub(super) tx: Vec<(i64, usize)>,
    /// The POSIX TZ rule for times after the last transition (may be empty).
    pub(super) extend: String,
}

impl TzData {
    pub(super) fn lookup(&self, sec: i64) -> (String, i32) {
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
    pub(super) fn first_zone(&self) -> usize {
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
pub(super) fn parse_tzif(name: &str, data: &[u8]) -> Option<TzData> {
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
pub(super) enum Rule {
    /// `Jn`: day 1..365, February 29 never counted.
    Julian(i64, i64),
    /// `n`: day 0..365, February 29 counted.
    Doy(i64, i64),
    /// `Mm.w.d`: day `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    MonthWeekDay(i64, i64, i64, i64),
}

/// The zone a POSIX TZ string (a TZif footer) gives at Unix second `sec`.
pub(super) fn tz_rule(s: &str, sec: i64) -> Option<(String, i32)> {
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
