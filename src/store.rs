//! The content-addressed blob cache.
//!
//! ```text
//! <root>/                      $FERRY_CACHE_DIR, else $XDG_CACHE_HOME/ferry, else ~/.cache/ferry
//!   blobs-v1/sha256/<hex>      verified content, never modified once renamed into place
//!   tmp/                       in-flight writes, one uniquely named file each
//! ```
//!
//! A blob reaches `blobs-v1` only through [`BlobWriter::commit`], which
//! renames the temporary file into place after its digest (and size, when
//! known) matched. A crash leaves at most a stray file in `tmp/`, never a
//! file under `blobs-v1` that looks whole. Several ferry processes may share
//! one cache: each writes its own temporary file, and renaming over an
//! existing blob of the same digest is harmless.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::oci::{Digest, Hasher};

/// Errors from the blob cache.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O operation on a cache path failed.
    #[error("cache I/O on {path}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Content did not hash to the digest it was stored under.
    #[error("content for {expected} hashed to {actual} ({size} bytes); it was not stored")]
    DigestMismatch {
        /// The digest asked for.
        expected: Digest,
        /// What the content hashed to.
        actual: Digest,
        /// Bytes received.
        size: u64,
    },
    /// Content had another size than the descriptor says.
    #[error("content for {digest} is {actual} bytes, expected {expected}; it was not stored")]
    SizeMismatch {
        /// The digest asked for.
        digest: Digest,
        /// The expected size.
        expected: u64,
        /// The size received.
        actual: u64,
    },
    /// No cache directory could be determined.
    #[error("no cache directory: set FERRY_CACHE_DIR, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The content-addressed cache rooted at one directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) a cache at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        for dir in [root.join("blobs-v1").join("sha256"), root.join("tmp")] {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        Ok(Self { root })
    }

    /// The default cache location: `$FERRY_CACHE_DIR`, `$XDG_CACHE_HOME/ferry` or `~/.cache/ferry`.
    pub fn default_root() -> Result<PathBuf, StoreError> {
        if let Some(dir) = std::env::var_os("FERRY_CACHE_DIR") {
            return Ok(PathBuf::from(dir));
        }
        if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            return Ok(PathBuf::from(dir).join("ferry"));
        }
        std::env::var_os("HOME")
            .map(|home| PathBuf::from(home).join(".cache").join("ferry"))
            .ok_or(StoreError::NoCacheDir)
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (whether or not it is present).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs-v1")
            .join("sha256")
            .join(digest.hex())
    }

    /// The size of a cached blob, or `None` when it is absent.
    pub fn size_of(&self, digest: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(digest))
            .ok()
            .filter(|meta| meta.is_file())
            .map(|meta| meta.len())
    }

    /// Whether a blob is cached (with the expected size, when given).
    pub fn contains(&self, digest: &Digest, size: Option<u64>) -> bool {
        match (self.size_of(digest), size) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Opens a cached blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(io_err(&path))
    }

    /// Reads a small cached blob (a manifest or config) whole.
    pub fn read_small(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        fs::read(&path).map_err(io_err(&path))
    }

    /// Starts writing a blob; nothing is visible until [`BlobWriter::commit`].
    pub fn writer(&self) -> Result<BlobWriter, StoreError> {
        let dir = self.root.join("tmp");
        let temp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&dir)
            .map_err(io_err(&dir))?;
        let file = temp.reopen().map_err(io_err(temp.path()))?;
        Ok(BlobWriter {
            store: self.clone(),
            temp,
            out: BufWriter::with_capacity(1 << 20, file),
            hasher: Hasher::new(),
            written: 0,
        })
    }

    /// Stores bytes under their own digest, returning it.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of_bytes(bytes);
        if !self.contains(&digest, Some(bytes.len() as u64)) {
            let mut writer = self.writer()?;
            writer.write_chunk(bytes)?;
            writer.commit(&digest, Some(bytes.len() as u64))?;
        }
        Ok(digest)
    }

    /// Copies a local file into the cache, verifying it against `expected` when given.
    pub fn ingest_file(
        &self,
        path: &Path,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<(Digest, u64), StoreError> {
        if let Some((digest, size)) = expected {
            if self.contains(digest, size) {
                return Ok((digest.clone(), self.size_of(digest).unwrap_or_default()));
            }
        }
        let mut input = File::open(path).map_err(io_err(path))?;
        let mut writer = self.writer()?;
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let read = input.read(&mut buffer).map_err(io_err(path))?;
            if read == 0 {
                break;
            }
            writer.write_chunk(&buffer[..read])?;
        }
        match expected {
            Some((digest, size)) => {
                let size = writer.commit(digest, size)?;
                Ok((digest.clone(), size))
            }
            None => writer.commit_as_computed(),
        }
    }

    /// Every digest present in the cache.
    pub fn list(&self) -> Result<BTreeSet<Digest>, StoreError> {
        let dir = self.root.join("blobs-v1").join("sha256");
        let mut out = BTreeSet::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            if let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|name| Digest::from_hex(name).ok())
            {
                out.insert(digest);
            }
        }
        Ok(out)
    }

    /// Removes a cached blob; returns the bytes freed.
    pub fn remove(&self, digest: &Digest) -> Result<u64, StoreError> {
        let path = self.blob_path(digest);
        let size = self.size_of(digest).unwrap_or_default();
        match fs::remove_file(&path) {
            Ok(()) => Ok(size),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(error) => Err(io_err(&path)(error)),
        }
    }

    /// Removes leftover temporary files older than an hour (crashed writers).
    pub fn clean_tmp(&self) -> Result<usize, StoreError> {
        let dir = self.root.join("tmp");
        let mut removed = 0;
        let hour = std::time::Duration::from_secs(3600);
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let stale = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > hour);
            if stale && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A blob being written: hashes while writing, publishes only on a verified commit.
pub struct BlobWriter {
    store: Store,
    temp: tempfile::NamedTempFile,
    out: BufWriter<File>,
    hasher: Hasher,
    written: u64,
}

impl BlobWriter {
    /// Appends bytes.
    pub fn write_chunk(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        self.out
            .write_all(bytes)
            .map_err(io_err(self.temp.path()))
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Discards what was written so far (to retry a download from the start).
    pub fn reset(&mut self) -> Result<(), StoreError> {
        let path = self.temp.path().to_owned();
        self.out.flush().map_err(io_err(&path))?;
        let file = self.out.get_mut();
        file.set_len(0).map_err(io_err(&path))?;
        io::Seek::seek(file, io::SeekFrom::Start(0)).map_err(io_err(&path))?;
        self.hasher = Hasher::new();
        self.written = 0;
        Ok(())
    }

    /// Publishes the blob if it hashes to `expected` (and has `size`, when given).
    pub fn commit(self, expected: &Digest, size: Option<u64>) -> Result<u64, StoreError> {
        let (actual, written, temp) = self.finish()?;
        if let Some(size) = size {
            if size != written {
                return Err(StoreError::SizeMismatch {
                    digest: expected.clone(),
                    expected: size,
                    actual: written,
                });
            }
        }
        if &actual != expected {
            return Err(StoreError::DigestMismatch {
                expected: expected.clone(),
                actual,
                size: written,
            });
        }
        Self::persist(&temp.0, temp.1, expected)?;
        Ok(written)
    }

    /// Publishes the blob under whatever digest it hashed to.
    pub fn commit_as_computed(self) -> Result<(Digest, u64), StoreError> {
        let (actual, written, temp) = self.finish()?;
        Self::persist(&temp.0, temp.1, &actual)?;
        Ok((actual, written))
    }

    fn finish(self) -> Result<(Digest, u64, (Store, tempfile::NamedTempFile)), StoreError> {
        let path = self.temp.path().to_owned();
        self.out
            .into_inner()
            .map_err(|error| io_err(&path)(error.into_error()))?;
        Ok((self.hasher.finish(), self.written, (self.store, self.temp)))
    }

    fn persist(
        store: &Store,
        temp: tempfile::NamedTempFile,
        digest: &Digest,
    ) -> Result<(), StoreError> {
        let target = store.blob_path(digest);
        temp.persist(&target)
            .map_err(|error| io_err(&target)(error.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_refuses_wrong_digest_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let wrong = Digest::of_bytes(b"other");
        let mut writer = store.writer().unwrap();
        writer.write_chunk(b"hello").unwrap();
        let error = writer.commit(&wrong, None).unwrap_err();
        assert!(matches!(error, StoreError::DigestMismatch { .. }));
        assert!(!store.contains(&wrong, None));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        let digest = store.put_bytes(b"hello").unwrap();
        assert_eq!(store.read_small(&digest).unwrap(), b"hello");
        assert_eq!(store.list().unwrap().len(), 1);
    }
}
