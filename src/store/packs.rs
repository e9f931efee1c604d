//! Pack files on disk: temporaries a live build holds locked, the sweep of
//! those a killed build left, the check of finished packs against their
//! digests, and the independent copy a build hands to the user.
//!
//! Rule for temporaries: a `.pack-*` file in `packs-v1` is live while its
//! writer holds an exclusive `flock` on it (the kernel drops the lock when the
//! writer exits, kill -9 included). A sweep removes a temporary only while
//! itself holding that lock; a writer that finds its fresh file unlinked
//! before it got the lock makes another.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

use crate::oci::{Digest, Hasher};

/// The name prefix of pack temporaries.
pub const TEMP_PREFIX: &str = ".pack-";

/// A new temporary in `dir` named `.pack-*`, held locked for as long as it lives.
pub fn locked_temp(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    loop {
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(dir)?;
        flock(temp.as_file(), FlockOperation::LockExclusive).map_err(io::Error::from)?;
        // A sweep may have unlinked it between its creation and the lock.
        if rustix::fs::fstat(temp.as_file())
            .map_err(io::Error::from)?
            .st_nlink
            > 0
        {
            return Ok(temp);
        }
    }
}

/// Removes the `.pack-*` temporaries in `dir` that no live writer holds;
/// returns how many and their bytes.
pub fn remove_orphans(dir: &Path) -> io::Result<(usize, u64)> {
    let mut removed = (0, 0);
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue; // gone meanwhile
        };
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            continue; // a live build is writing it
        }
        let size = file.metadata().map(|m| m.len()).unwrap_or_default();
        match fs::remove_file(&path) {
            Ok(()) => {
                removed.0 += 1;
                removed.1 += size;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(removed)
}

/// Whether a pack holds what its index and name say: every listed blob
/// hashes to its digest, and a pack named by a digest hashes to it whole.
pub fn pack_is_sound(pack: &Path, blobs: &[(Digest, u64, u64)]) -> io::Result<bool> {
    use std::os::unix::fs::FileExt as _;
    let file = File::open(pack)?;
    let mut buffer = vec![0u8; 1 << 20];
    for (digest, offset, size) in blobs {
        let mut hasher = Hasher::new();
        let mut at = *offset;
        let end = offset.saturating_add(*size);
        while at < end {
            let want = buffer.len().min((end - at) as usize);
            let read = file.read_at(&mut buffer[..want], at)?;
            if read == 0 {
                return Ok(false);
            }
            hasher.update(&buffer[..read]);
            at += read as u64;
        }
        if hasher.finish() != *digest {
            return Ok(false);
        }
    }
    let named = pack
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|hex| Digest::from_hex(hex).ok());
    if let Some(named) = named {
        let mut hasher = Hasher::new();
        let mut reader = io::BufReader::new(&file);
        loop {
            let read = reader.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        return Ok(hasher.finish() == named);
    }
    Ok(true)
}

/// Places a copy of `from` at `to` that shares no writes with it: a reflink
/// where the filesystem supports one (no bytes copied, blocks copied on
/// write), else a copy. Never a hard link. The copy is renamed into place.
pub fn independent_copy(from: &Path, to: &Path) -> io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut source = File::open(from)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".ferry-bundle-")
        .tempfile_in(dir)?;
    if rustix::fs::ioctl_ficlone(temp.as_file(), &source).is_err() {
        temp.as_file().set_len(0)?;
        io::copy(&mut source, &mut temp)?;
    }
    temp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))?;
    temp.persist(to).map_err(|e| e.error)?;
    Ok(to.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphans_go_and_locked_temporaries_stay() {
        let dir = tempfile::tempdir().unwrap();
        let live = locked_temp(dir.path()).unwrap();
        std::fs::write(live.path(), b"live").unwrap();
        let orphan = dir.path().join(".pack-orphan");
        std::fs::write(&orphan, vec![0u8; 4096]).unwrap();
        let other = dir.path().join("kept.tar");
        std::fs::write(&other, b"x").unwrap();
        assert_eq!(remove_orphans(dir.path()).unwrap(), (1, 4096));
        assert!(!orphan.exists());
        assert!(live.path().exists());
        assert!(other.exists());
        drop(live);
    }

    #[test]
    fn a_copy_shares_no_writes() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("pack.tar");
        std::fs::write(&from, b"original bytes").unwrap();
        let to = dir.path().join("out/bundle.tar");
        independent_copy(&from, &to).unwrap();
        std::fs::write(&to, b"changed").unwrap();
        assert_eq!(std::fs::read(&from).unwrap(), b"original bytes");
    }

    #[test]
    fn a_changed_blob_makes_a_pack_unsound() {
        let dir = tempfile::tempdir().unwrap();
        let pack = dir.path().join("index-x-0.tar");
        std::fs::write(&pack, b"....hello....").unwrap();
        let blobs = vec![(Digest::of_bytes(b"hello"), 4, 5)];
        assert!(pack_is_sound(&pack, &blobs).unwrap());
        std::fs::write(&pack, b"....jello....").unwrap();
        assert!(!pack_is_sound(&pack, &blobs).unwrap());
    }
}
