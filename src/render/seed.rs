//! The site seed: the per-site secret every random function of a render draws from.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::RenderError;

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
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => default_seed_path()?,
    };
    let error = |source| RenderError::Seed {
        path: path.clone(),
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) => return Ok(bytes),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound || explicit.is_some() => {
            return Err(error(e))
        }
        Err(_) => {}
    }
    let mut raw = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut raw);
    let text = format!("{}\n", hex::encode(raw));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => file.write_all(text.as_bytes()).map_err(error)?,
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(error(e)),
    }
    std::fs::read(&path).map_err(error)
}
