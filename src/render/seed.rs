//! The site seed: the per-site secret every random function of a render draws from, and the
//! time it was created, which is the default render clock (so generated certificates start
//! their validity then, and renders stay reproducible).
//!
//! The file holds the seed (64 hex digits and a newline) and, since the clock was added, a
//! second line `created <RFC 3339 time>`. A file without that line (older ones, or a secret
//! written by hand) is all seed, and its clock is the fixed one renders used before.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::RenderError;

/// The clock of a seed file that records none: what every render used before seed files
/// recorded their creation time (2025-01-01), so existing sites render the same bytes.
pub const LEGACY_CLOCK: &str = "2025-01-01T00:00:00Z";

const CREATED: &str = "created ";

/// The site secret: the seed bytes and the render clock that goes with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteSecret {
    /// The bytes random functions are seeded from (the file's seed line, newline included).
    pub seed: Vec<u8>,
    /// When the seed was created, RFC 3339 in UTC (`2026-12-07T20:34:39Z`): the default
    /// render clock.
    pub clock: String,
}

impl SiteSecret {
    /// The clock as Unix seconds (what `RenderOptions::now` takes); `None` when `clock` is not
    /// an RFC 3339 time (never for a secret read by [`site_secret`]).
    pub fn clock_unix(&self) -> Option<i64> {
        parse_rfc3339(&self.clock)
    }
}

/// The default seed file location.
pub fn default_seed_path() -> Result<PathBuf, RenderError> {
    if let Some(path) = std::env::var_os("FERRY_SEED_FILE") {
        return Ok(PathBuf::from(path));
    }
    let config = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").ok_or(RenderError::NoSeedLocation)?)
            .join(".config"),
    };
    Ok(config.join("ferry").join("site.seed"))
}

/// Reads the site seed, creating the default one (32 random bytes, hex) on first use.
pub fn site_seed(explicit: Option<&Path>) -> Result<Vec<u8>, RenderError> {
    Ok(site_secret(explicit)?.seed)
}

/// Reads the site secret (seed and clock), creating the default file on first use with the
/// current time as its clock. An explicit path must exist.
pub fn site_secret(explicit: Option<&Path>) -> Result<SiteSecret, RenderError> {
    match explicit {
        Some(path) => read_or_create(path, false),
        None => read_or_create(&default_seed_path()?, true),
    }
}

fn read_or_create(path: &Path, create: bool) -> Result<SiteSecret, RenderError> {
    let error = |source| RenderError::Seed {
        path: path.to_owned(),
        source,
    };
    match std::fs::read(path) {
        Ok(bytes) => return Ok(split_secret(bytes)),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound || !create => return Err(error(e)),
        Err(_) => {}
    }
    let mut raw = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut raw);
    let text = format!(
        "{}\n{CREATED}{}\n",
        hex::encode(raw),
        format_rfc3339(unix_now())
    );
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => file.write_all(text.as_bytes()).map_err(error)?,
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(error(e)),
    }
    std::fs::read(path).map(split_secret).map_err(error)
}

/// A seed file's bytes: the seed, and the clock from a last `created <time>` line when there
/// is one (the seed is then everything before that line).
fn split_secret(bytes: Vec<u8>) -> SiteSecret {
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let last_start = body.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if last_start > 0 {
        if let Ok(line) = std::str::from_utf8(&body[last_start..]) {
            if let Some(time) = line.strip_prefix(CREATED) {
                if let Some(unix) = parse_rfc3339(time.trim()) {
                    return SiteSecret {
                        seed: bytes[..last_start].to_vec(),
                        clock: format_rfc3339(unix),
                    };
                }
            }
        }
    }
    SiteSecret {
        seed: bytes,
        clock: LEGACY_CLOCK.to_string(),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds in UTC as RFC 3339 (`2026-12-07T20:34:39Z`).
pub fn format_rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Reads an RFC 3339 time (`2026-12-07T20:34:39Z`, `...39.5+02:00`; fractions are dropped)
/// as Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let max_day = usize::try_from(month - 1)
        .ok()
        .and_then(|m| month_days.get(m))
        .map(|d| d + i64::from(month == 2 && leap))?;
    if day < 1 || day > max_day || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let rb = rest.as_bytes();
            if rest.len() != 6 || rb[3] != b':' {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_seed_file_records_its_creation_time() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("sub").join("site.seed");
        let before = unix_now();
        // an explicit path must exist; the default one is created on first use
        assert!(site_secret(Some(&path)).is_err());
        let first = read_or_create(&path, true).unwrap_or_else(|e| panic!("{e}"));
        let clock = first.clock_unix().unwrap_or(0);
        assert!(clock >= before && clock <= unix_now(), "{}", first.clock);
        assert_eq!(first.seed.len(), 65);
        assert!(first.seed.ends_with(b"\n"));
        // read again: the same secret, and site_seed gives the same bytes
        let again = site_secret(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, first);
        assert_eq!(
            site_seed(Some(&path)).unwrap_or_else(|e| panic!("{e}")),
            first.seed
        );
    }

    #[test]
    fn an_old_seed_file_keeps_its_seed_bytes_and_the_old_clock() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("old.seed");
        let old = format!("{}\n", "ab".repeat(32));
        std::fs::write(&path, &old).unwrap_or_else(|e| panic!("{e}"));
        let secret = site_secret(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(secret.seed, old.as_bytes());
        assert_eq!(secret.clock, LEGACY_CLOCK);
        assert_eq!(secret.clock_unix(), Some(1_735_689_600));
        // a hand-written secret whose last line only looks like a time stays whole
        std::fs::write(&path, "x\ncreated yesterday\n").unwrap_or_else(|e| panic!("{e}"));
        let secret = site_secret(Some(&path)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(secret.seed, b"x\ncreated yesterday\n");
    }

    #[test]
    fn the_seed_of_a_file_with_a_time_is_its_first_line() {
        let secret = split_secret(b"00ff\ncreated 2026-12-07T20:34:39Z\n".to_vec());
        assert_eq!(secret.seed, b"00ff\n");
        assert_eq!(secret.clock, "2026-12-07T20:34:39Z");
    }

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(parse_rfc3339("2025-01-01T00:00:00Z"), Some(1_735_689_600));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.25+02:00"),
            Some(1_709_200_800)
        );
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2025-01-01"), None);
        for t in [0, 1_735_689_600, 951_782_400, 4_102_444_799, -86_400] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t), "{t}");
        }
        assert_eq!(format_rfc3339(1_709_200_800), "2024-02-29T10:00:00Z");
    }
}
