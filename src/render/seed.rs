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
use crate::clock::{format_rfc3339, parse_rfc3339, unix_now};

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
