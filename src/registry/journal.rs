//! Upload sessions that outlive a run.
//!
//! A push killed in the middle of a blob leaves an open upload session in the
//! registry. The journal remembers each open session, so that the next push
//! of the same blob asks that session how far it got and goes on from there.
//!
//! ```text
//! <cache>/uploads-v1/
//!   <key>.json    {registry, repository, digest, location, acknowledged}; replaced by rename
//!   <key>.lock    held with an exclusive flock by the push uploading that blob
//! ```
//!
//! `<key>` is the SHA-256 of registry, repository and digest. An entry is
//! written when a session opens and after every acknowledged chunk, and is
//! removed when the blob is committed. Only the push holding the lock file
//! reads or writes an entry; a second push of the same blob into the same
//! repository uploads without the journal.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use serde::{Deserialize, Serialize};

use crate::oci::Digest;

/// The directory of saved upload sessions.
#[derive(Clone, Debug)]
pub struct UploadJournal {
    dir: PathBuf,
}

/// A saved upload session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSession {
    /// The registry as the push names it.
    pub registry: String,
    /// The repository.
    pub repository: String,
    /// The blob.
    pub digest: String,
    /// The session URL the registry gave last.
    pub location: String,
    /// Bytes the registry had acknowledged when `location` was given.
    pub acknowledged: u64,
}

/// The right to use one journal entry, held until dropped.
#[derive(Debug)]
pub struct Claim {
    lock: File,
    lock_path: PathBuf,
    entry: PathBuf,
    dir: PathBuf,
    registry: String,
    repository: String,
    digest: String,
}

impl UploadJournal {
    /// A journal in `dir` (created when missing).
    pub fn open(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Drops the saved session of a blob that needs none any more (it is in
    /// the registry already), unless another push holds it.
    pub fn forget(&self, registry: &str, repository: &str, digest: &Digest) {
        let key = Self::key(registry, repository, digest);
        if self.dir.join(format!("{key}.json")).exists() {
            if let Some(claim) = self.claim(registry, repository, digest) {
                claim.remove();
            }
        }
    }

    fn key(registry: &str, repository: &str, digest: &Digest) -> String {
        Digest::of_bytes(format!("{registry}\n{repository}\n{digest}").as_bytes())
            .hex()
            .to_owned()
    }

    /// Takes the entry of a blob for this run; `None` while another push
    /// holds it (or the lock cannot be taken): upload without the journal then.
    pub fn claim(&self, registry: &str, repository: &str, digest: &Digest) -> Option<Claim> {
        let key = Self::key(registry, repository, digest);
        let lock_path = self.dir.join(format!("{key}.lock"));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ok()?;
        flock(&lock, FlockOperation::NonBlockingLockExclusive).ok()?;
        // The holder before us may have removed the lock file after we opened it.
        let held = rustix::fs::fstat(&lock).ok()?;
        let named = rustix::fs::stat(&lock_path).ok()?;
        if held.st_ino != named.st_ino || held.st_dev != named.st_dev {
            return None;
        }
        Some(Claim {
            lock,
            lock_path,
            entry: self.dir.join(format!("{key}.json")),
            dir: self.dir.clone(),
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            digest: digest.to_string(),
        })
    }
}

/// How long a saved session is kept: distribution purges upload sessions
/// older than a week by default, so an older one is of no use.
pub const MAX_SESSION_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

impl UploadJournal {
    /// Removes entries not written for `max_age` (and temporaries and lock
    /// files left without an entry) that no push holds; returns how many
    /// entries went.
    pub fn remove_stale(&self, max_age: std::time::Duration) -> io::Result<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let old = fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= max_age);
            if name.starts_with(".entry-") {
                if old {
                    let _ = fs::remove_file(&path);
                }
                continue;
            }
            let Some(key) = name.strip_suffix(".json") else {
                continue;
            };
            if !old {
                continue;
            }
            let lock_path = self.dir.join(format!("{key}.lock"));
            let Ok(lock) = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
            else {
                continue;
            };
            if flock(&lock, FlockOperation::NonBlockingLockExclusive).is_err() {
                continue; // a push is using it
            }
            if fs::remove_file(&path).is_ok() {
                removed += 1;
            }
            let _ = fs::remove_file(&lock_path);
        }
        Ok(removed)
    }
}

impl Claim {
    /// The session saved by an earlier run, if it is for this blob.
    pub fn saved(&self) -> Option<SavedSession> {
        let text = fs::read_to_string(&self.entry).ok()?;
        let saved: SavedSession = serde_json::from_str(&text).ok()?;
        (saved.registry == self.registry
            && saved.repository == self.repository
            && saved.digest == self.digest)
            .then_some(saved)
    }

    /// Records the session and what it has acknowledged (write, then rename).
    pub fn save(&self, location: &str, acknowledged: u64) -> io::Result<()> {
        let saved = SavedSession {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            digest: self.digest.clone(),
            location: location.to_owned(),
            acknowledged,
        };
        let mut temp = tempfile::Builder::new()
            .prefix(".entry-")
            .tempfile_in(&self.dir)?;
        serde_json::to_writer(&mut temp, &saved)?;
        temp.flush()?;
        temp.as_file().sync_data()?;
        temp.persist(&self.entry).map_err(|error| error.error)?;
        Ok(())
    }

    /// Removes the entry: the blob is committed (or the session is gone).
    pub fn remove(&self) {
        let _ = fs::remove_file(&self.entry);
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // An entry that is still there stays for the next run; the lock file
        // goes with the entry (still locked, so no other push holds it).
        if !self.entry.exists() {
            let _ = fs::remove_file(&self.lock_path);
        }
        let _ = flock(&self.lock, FlockOperation::Unlock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::of_bytes(b"blob")
    }

    #[test]
    fn a_saved_session_is_read_back_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = UploadJournal::open(dir.path().join("uploads")).unwrap();
        let claim = journal.claim("r.example", "a/b", &digest()).unwrap();
        assert_eq!(claim.saved(), None);
        claim
            .save("http://r.example/v2/a/b/blobs/uploads/1", 42)
            .unwrap();
        let saved = claim.saved().unwrap();
        assert_eq!(saved.acknowledged, 42);
        assert_eq!(saved.location, "http://r.example/v2/a/b/blobs/uploads/1");
        drop(claim);
        let claim = journal.claim("r.example", "a/b", &digest()).unwrap();
        assert_eq!(claim.saved().unwrap().acknowledged, 42);
        claim.remove();
        drop(claim);
        assert_eq!(fs::read_dir(journal.dir()).unwrap().count(), 0);
    }

    #[test]
    fn stale_entries_go_unless_held() {
        let dir = tempfile::tempdir().unwrap();
        let journal = UploadJournal::open(dir.path()).unwrap();
        let held = journal.claim("r.example", "a/b", &digest()).unwrap();
        held.save("http://r.example/1", 1).unwrap();
        let other = journal.claim("r.example", "a/c", &digest()).unwrap();
        other.save("http://r.example/2", 2).unwrap();
        drop(other);
        assert_eq!(journal.remove_stale(MAX_SESSION_AGE).unwrap(), 0, "young");
        assert_eq!(journal.remove_stale(std::time::Duration::ZERO).unwrap(), 1);
        assert!(held.saved().is_some(), "the held entry stays");
        assert!(journal
            .claim("r.example", "a/c", &digest())
            .unwrap()
            .saved()
            .is_none());
    }

    #[test]
    fn a_held_entry_cannot_be_claimed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let journal = UploadJournal::open(dir.path()).unwrap();
        let first = journal.claim("r.example", "a/b", &digest()).unwrap();
        assert!(journal.claim("r.example", "a/b", &digest()).is_none());
        assert!(journal.claim("r.example", "a/c", &digest()).is_some());
        drop(first);
        assert!(journal.claim("r.example", "a/b", &digest()).is_some());
    }
}
