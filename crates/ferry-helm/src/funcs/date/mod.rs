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

/// Go's `time.ParseDuration` and `Duration.String`.
mod duration;
/// Go's layout elements and `Time.Format`.
mod format;
/// Go's `time.Parse`.
mod parse;
/// Time zones: TZif files, POSIX TZ rules, `*time.Location`.
mod zones;

pub use duration::*;
use format::*;
pub use parse::*;
pub use zones::*;

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
mod tests;
