//! Verified-state stamps: a bundle file verified in full once need not be
//! re-hashed by every command that consumes it while the file is unchanged.
//!
//! After a full, successful verification, the cache records what was
//! verified (report, lock, signatures) under a key made of the file's
//! identity and state: path, device, inode, size, modification and *change*
//! time, for the archive and every media part. The kernel updates the change
//! time on any write, truncation, rename or permission change, and no user
//! can set it back, so an unchanged key means unchanged bytes (the rule git's
//! index relies on). A consumer with a matching stamp still checks the
//! signatures against its own trust policy; directories are never stamped
//! (their files can change without the directory's times changing).
//! `ferry verify` itself always verifies in full.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::verify::{verify_full, VerifyError, VerifyReport};
use crate::lock::Lock;
use crate::oci::Digest;
use crate::progress::Progress;
use crate::sign::{FoundSignature, TrustPolicy};

#[derive(Serialize, Deserialize)]
struct Stamp {
    key: String,
    report: VerifyReport,
    lock: String,
    signatures: Vec<FoundSignature>,
}

/// How a consumer's verification went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Verified {
    /// Every blob was hashed now.
    InFull,
    /// The file is unchanged since a full verification; signatures were checked now.
    ByStamp,
}

fn state_of(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let canonical = std::fs::canonicalize(path).ok()?;
    Some(format!(
        "{}|{}|{}|{}|{}.{}|{}.{}",
        canonical.display(),
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    ))
}

/// The stamp key of a bundle file (and its parts), or `None` when it cannot be stamped.
fn key_of(path: &Path) -> Option<String> {
    let mut key = state_of(path)?;
    if super::parts::is_parts_manifest(path) {
        let manifest = super::parts::read_manifest(path).ok()?;
        let dir = path.parent().map(Path::to_owned).unwrap_or_default();
        for part in &manifest.parts {
            key.push('\n');
            key.push_str(&state_of(&dir.join(&part.name))?);
        }
    }
    Some(key)
}

fn stamp_path(stamps: &Path, key: &str) -> PathBuf {
    stamps.join(format!("{}.json", Digest::of_bytes(key.as_bytes()).hex()))
}

/// Verifies a bundle for a consumer (serve, push, render): by stamp when the
/// file is unchanged since a full verification (unless `full`), in full
/// otherwise, and then stamps it. `stamps` is a directory in the cache.
pub fn verify_for_use(
    path: &Path,
    trust: &TrustPolicy,
    stamps: &Path,
    full: bool,
    progress: &dyn Progress,
) -> Result<(VerifyReport, Lock, Verified), VerifyError> {
    let key = key_of(path);
    if let Some(key) = key.as_ref().filter(|_| !full) {
        if let Some(stamp) = std::fs::read(stamp_path(stamps, key))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Stamp>(&bytes).ok())
            .filter(|stamp| &stamp.key == key)
        {
            if let Ok(lock) = Lock::parse(&stamp.lock, Path::new("<stamp>")) {
                let signed_by = crate::sign::check(
                    &stamp.signatures,
                    &stamp.report.bundle,
                    &stamp.report.root,
                    trust,
                )
                .map_err(|source| VerifyError::Signature {
                    path: path.display().to_string(),
                    source,
                })?;
                let mut report = stamp.report;
                report.signed_by = signed_by;
                return Ok((report, lock, Verified::ByStamp));
            }
        }
    }
    let (report, lock, signatures) = verify_full(path, None, trust, progress)?;
    if let Some(key) = key {
        let stamp = Stamp {
            key: key.clone(),
            report: report.clone(),
            lock: lock.to_text(),
            signatures,
        };
        // A stamp that cannot be written only costs a full verification next time.
        if std::fs::create_dir_all(stamps).is_ok() {
            if let Ok(mut temp) = tempfile::NamedTempFile::new_in(stamps) {
                if std::io::Write::write_all(&mut temp, &crate::oci::to_canonical_json(&stamp))
                    .is_ok()
                {
                    let _ = temp.persist(stamp_path(stamps, &key));
                }
            }
        }
    }
    Ok((report, lock, Verified::InFull))
}
