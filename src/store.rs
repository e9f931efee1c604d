//! The content-addressed blob cache.
//!
//! ```text
//! <root>/                      $FERRY_CACHE_DIR, else $XDG_CACHE_HOME/ferry, else ~/.cache/ferry
//!   blobs-v1/sha256/<hex>      verified content, never modified once renamed into place
//!   packs-v1/<name>.tar        bundle archives built here (read-only); their blobs count as cached
//!   packs-v1/<name>.idx        "<hex> <offset> <size>" per blob inside the pack
//!   tmp/                       in-flight writes, one uniquely named file each
//!   uploads-v1/                upload sessions a push left open (see `registry::journal`)
//! ```
//!
//! Packs exist so that a build writes each downloaded byte once: blobs
//! stream straight into the archive, which then stays in the cache; the
//! output path gets an independent reflink or copy of it, never a hard link,
//! so writing into the output cannot change the cache. A blob read from a pack is re-hashed by
//! whoever trusts it, like any cached blob.
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

pub mod packs;

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

/// Where a blob sits inside a pack.
#[derive(Clone, Debug)]
struct Packed {
    pack: std::sync::Arc<PathBuf>,
    offset: u64,
    size: u64,
}

/// The content-addressed cache rooted at one directory.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    packs: std::sync::Arc<std::sync::RwLock<std::collections::HashMap<Digest, Packed>>>,
}

/// A cached blob opened for reading: a loose file or a region of a pack.
pub type BlobReader = io::Take<File>;

impl Store {
    /// Opens (creating if needed) a cache at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        for dir in [
            root.join("blobs-v1").join("sha256"),
            root.join("packs-v1"),
            root.join("tmp"),
        ] {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let store = Self {
            root,
            packs: std::sync::Arc::default(),
        };
        store.load_packs()?;
        Ok(store)
    }

    fn load_packs(&self) -> Result<(), StoreError> {
        let dir = self.root.join("packs-v1");
        let mut loaded = std::collections::HashMap::new();
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let path = entry.map_err(io_err(&dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("idx") {
                continue;
            }
            let pack = std::sync::Arc::new(path.with_extension("tar"));
            let Ok(pack_len) = fs::metadata(pack.as_path()).map(|m| m.len()) else {
                continue; // an index whose pack was removed
            };
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            for line in text.lines() {
                let mut fields = line.split(' ');
                let (Some(hex), Some(offset), Some(size)) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    continue;
                };
                let (Ok(digest), Ok(offset), Ok(size)) = (
                    Digest::from_hex(hex),
                    offset.parse::<u64>(),
                    size.parse::<u64>(),
                ) else {
                    continue;
                };
                if offset.saturating_add(size) <= pack_len {
                    loaded.insert(
                        digest,
                        Packed {
                            pack: pack.clone(),
                            offset,
                            size,
                        },
                    );
                }
            }
        }
        if let Ok(mut packs) = self.packs.write() {
            *packs = loaded;
        }
        Ok(())
    }

    fn packed(&self, digest: &Digest) -> Option<Packed> {
        self.packs.read().ok()?.get(digest).cloned()
    }

    /// A temporary file on the cache's filesystem to build a pack in.
    /// Temporaries that killed builds left behind are removed first (see
    /// [`packs`] for the lock rule that keeps those of live builds).
    pub fn pack_temp(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        let dir = self.root.join("packs-v1");
        self.remove_orphan_packs()?;
        packs::locked_temp(&dir).map_err(io_err(&dir))
    }

    /// Removes pack temporaries no live build holds; returns how many and their bytes.
    pub fn remove_orphan_packs(&self) -> Result<(usize, u64), StoreError> {
        let dir = self.root.join("packs-v1");
        packs::remove_orphans(&dir).map_err(io_err(&dir))
    }

    /// Removes packs whose blobs (or whole bytes, for a pack named by its
    /// digest) do not hash to what they are listed under; returns the packs
    /// removed and their bytes.
    pub fn remove_unsound_packs(&self) -> Result<(Vec<PathBuf>, u64), StoreError> {
        let mut by_pack: std::collections::HashMap<PathBuf, Vec<(Digest, u64, u64)>> =
            std::collections::HashMap::new();
        if let Ok(packs) = self.packs.read() {
            for (digest, packed) in packs.iter() {
                by_pack
                    .entry(packed.pack.as_ref().clone())
                    .or_default()
                    .push((digest.clone(), packed.offset, packed.size));
            }
        }
        let mut removed = Vec::new();
        let mut freed = 0;
        for (pack, blobs) in by_pack {
            if packs::pack_is_sound(&pack, &blobs).map_err(io_err(&pack))? {
                continue;
            }
            freed += fs::metadata(&pack).map(|m| m.len()).unwrap_or_default();
            let _ = fs::remove_file(pack.with_extension("idx"));
            fs::remove_file(&pack).map_err(io_err(&pack))?;
            removed.push(pack);
        }
        self.load_packs()?;
        Ok((removed, freed))
    }

    /// Publishes a finished pack under `name` with the blobs it holds
    /// (digest, offset, size); returns its path. The pack is made read-only.
    pub fn persist_pack(
        &self,
        temp: tempfile::NamedTempFile,
        name: &str,
        blobs: &[(Digest, u64, u64)],
    ) -> Result<PathBuf, StoreError> {
        let dir = self.root.join("packs-v1");
        let pack = dir.join(format!("{name}.tar"));
        let index = dir.join(format!("{name}.idx"));
        let mut permissions = temp
            .as_file()
            .metadata()
            .map_err(io_err(temp.path()))?
            .permissions();
        permissions.set_readonly(true);
        temp.as_file()
            .set_permissions(permissions)
            .map_err(io_err(temp.path()))?;
        // The old index goes first so no reader pairs it with the new pack.
        let _ = fs::remove_file(&index);
        temp.persist(&pack).map_err(|e| io_err(&pack)(e.error))?;
        let mut text = String::new();
        for (digest, offset, size) in blobs {
            text.push_str(&format!("{} {offset} {size}\n", digest.hex()));
        }
        let mut index_temp = packs::locked_temp(&dir).map_err(io_err(&dir))?;
        index_temp
            .write_all(text.as_bytes())
            .map_err(io_err(&index))?;
        index_temp
            .persist(&index)
            .map_err(|e| io_err(&index)(e.error))?;
        self.load_packs()?;
        Ok(pack)
    }

    /// Removes packs none of whose blobs are in `keep`; returns bytes freed.
    pub fn remove_packs_except(&self, keep: &BTreeSet<Digest>) -> Result<u64, StoreError> {
        let mut by_pack: std::collections::HashMap<PathBuf, bool> =
            std::collections::HashMap::new();
        if let Ok(packs) = self.packs.read() {
            for (digest, packed) in packs.iter() {
                *by_pack.entry(packed.pack.as_ref().clone()).or_default() |= keep.contains(digest);
            }
        }
        let mut freed = 0;
        for (pack, used) in by_pack {
            if !used {
                freed += fs::metadata(&pack).map(|m| m.len()).unwrap_or_default();
                fs::remove_file(&pack).map_err(io_err(&pack))?;
                let _ = fs::remove_file(pack.with_extension("idx"));
            }
        }
        self.load_packs()?;
        Ok(freed)
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
        self.root.join("blobs-v1").join("sha256").join(digest.hex())
    }

    /// The size of a cached blob, or `None` when it is absent.
    pub fn size_of(&self, digest: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(digest))
            .ok()
            .filter(|meta| meta.is_file())
            .map(|meta| meta.len())
            .or_else(|| self.packed(digest).map(|p| p.size))
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
    pub fn open_blob(&self, digest: &Digest) -> Result<BlobReader, StoreError> {
        let path = self.blob_path(digest);
        match File::open(&path) {
            Ok(file) => Ok(file.take(u64::MAX)),
            Err(error) => match self.packed(digest) {
                Some(packed) => {
                    let mut file =
                        File::open(packed.pack.as_path()).map_err(io_err(&packed.pack))?;
                    io::Seek::seek(&mut file, io::SeekFrom::Start(packed.offset))
                        .map_err(io_err(&packed.pack))?;
                    Ok(file.take(packed.size))
                }
                None => Err(io_err(&path)(error)),
            },
        }
    }

    /// Reads a small cached blob (a manifest or config) whole.
    pub fn read_small(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .map_err(io_err(&self.blob_path(digest)))?;
        Ok(bytes)
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

    /// Every digest present in the cache, loose or packed.
    pub fn list(&self) -> Result<BTreeSet<Digest>, StoreError> {
        let mut out = self.list_loose()?;
        if let Ok(packs) = self.packs.read() {
            out.extend(packs.keys().cloned());
        }
        Ok(out)
    }

    /// The digests stored as loose files.
    pub fn list_loose(&self) -> Result<BTreeSet<Digest>, StoreError> {
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

    /// Removes a loose cached blob; returns the bytes freed (packed blobs go with their pack).
    pub fn remove(&self, digest: &Digest) -> Result<u64, StoreError> {
        let path = self.blob_path(digest);
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or_default();
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
        self.out.write_all(bytes).map_err(io_err(self.temp.path()))
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
