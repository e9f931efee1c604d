//! The deterministic archive writer: fixed entry order, fixed metadata
//! (mtime `SOURCE_DATE_EPOCH` or 0, uid/gid 0, modes 0644/0755, no names, no
//! extended attributes), optional zstd at a fixed level. Same inputs, same bytes.

use std::collections::HashSet;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use super::shared::BuildError;
use crate::oci::{Digest, Hasher};
use crate::progress::Progress;
use crate::store::Store;

/// Archive compression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar (layers are already compressed).
    #[default]
    None,
    /// zstd at level 3, single-threaded so output never depends on the machine.
    Zstd,
}

/// Archive settings.
#[derive(Clone, Debug, Default)]
pub struct ArchiveOptions {
    /// Compression.
    pub compression: Compression,
    /// Modification time written on every entry (`SOURCE_DATE_EPOCH`, default 0).
    pub mtime: u64,
    /// Flush the archive to stable storage before renaming it into place.
    /// Without it a crash of ferry still never leaves a partial archive under
    /// the output name; a power loss might.
    pub fsync: bool,
    /// Compute the archive file's SHA-256 (a second hash of every byte; the
    /// bundle's identity is the root digest either way).
    pub digest: bool,
}

/// The archive written.
pub struct Written {
    /// SHA-256 of the archive file, when computed.
    pub sha256: Option<Digest>,
    /// Its size.
    pub size: u64,
}

/// Counts and hashes what passes through to the file.
struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes what is read, to prove a cached blob is still what its name says.
struct HashingReader<'a, R> {
    inner: R,
    hasher: Hasher,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.progress.bytes(n as u64);
        Ok(n)
    }
}

/// Reports progress of what is read.
struct CountingReader<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes(n as u64);
        Ok(n)
    }
}

/// The content of the `oci-layout` entry.
pub(super) const LAYOUT_MARKER: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The 512 bytes of a deterministic ustar header.
pub(super) fn tar_header(
    path: &str,
    size: u64,
    directory: bool,
    mtime: u64,
) -> io::Result<[u8; 512]> {
    Ok(*header(path, size, directory, mtime)?.as_bytes())
}

fn header(path: &str, size: u64, directory: bool, mtime: u64) -> io::Result<tar::Header> {
    let mut header = tar::Header::new_ustar();
    header.set_path(path)?;
    header.set_size(size);
    header.set_mode(if directory { 0o755 } else { 0o644 });
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_username("")?;
    header.set_groupname("")?;
    header.set_entry_type(if directory {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    header.set_cksum();
    Ok(header)
}

/// Writes the layout archive as one zstd stream: `oci-layout`, `index.json`, the blob
/// directories, then every blob of `order` from the store. The file appears
/// at `out` only once complete.
pub fn write_archive(
    out: &Path,
    index_json: &[u8],
    order: &[Digest],
    store: &Store,
    verified: &HashSet<Digest>,
    options: &ArchiveOptions,
    progress: &dyn Progress,
) -> Result<Written, BuildError> {
    let write_error = |source: io::Error| BuildError::Write {
        path: out.to_owned(),
        source,
    };
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(write_error)?;
    let temp = tempfile::Builder::new()
        .prefix(".ferry-bundle-")
        .tempfile_in(&dir)
        .map_err(write_error)?;
    let file = temp.reopen().map_err(write_error)?;
    let mut sink = HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Hasher::new(),
        written: 0,
    };
    // Only compressed archives are written as one stream; a plain tar is
    // written in place by `direct::write_direct`.
    let mut encoder = zstd::Encoder::new(&mut sink, 3).map_err(write_error)?;
    encoder.include_checksum(true).map_err(write_error)?;
    write_entries(
        &mut encoder,
        index_json,
        order,
        store,
        verified,
        options.mtime,
        progress,
    )?;
    encoder.finish().map_err(write_error)?;
    sink.flush().map_err(write_error)?;
    let HashingWriter {
        inner,
        hasher,
        written,
    } = sink;
    let file = inner
        .into_inner()
        .map_err(|e| write_error(e.into_error()))?;
    if options.fsync {
        file.sync_all().map_err(write_error)?;
    }
    temp.persist(out).map_err(|e| write_error(e.error))?;
    Ok(Written {
        sha256: Some(hasher.finish()),
        size: written,
    })
}

fn write_entries<W: Write>(
    sink: W,
    index_json: &[u8],
    order: &[Digest],
    store: &Store,
    verified: &HashSet<Digest>,
    mtime: u64,
    progress: &dyn Progress,
) -> Result<(), BuildError> {
    let io_error = |source: io::Error| BuildError::Write {
        path: "archive".into(),
        source,
    };
    let mut builder = tar::Builder::new(sink);
    for (path, bytes) in [("oci-layout", LAYOUT_MARKER), ("index.json", index_json)] {
        let header = header(path, bytes.len() as u64, false, mtime).map_err(io_error)?;
        builder.append(&header, bytes).map_err(io_error)?;
    }
    for path in ["blobs/", "blobs/sha256/"] {
        let header = header(path, 0, true, mtime).map_err(io_error)?;
        builder.append(&header, io::empty()).map_err(io_error)?;
    }
    for digest in order {
        let size = store
            .size_of(digest)
            .ok_or_else(|| BuildError::Invalid(format!("blob {digest} vanished from the cache")))?;
        let path = format!("blobs/sha256/{}", digest.hex());
        let header = header(&path, size, false, mtime).map_err(io_error)?;
        if verified.contains(digest) {
            let mut reader = CountingReader {
                inner: store.open_blob(digest)?,
                progress,
            };
            builder.append(&header, &mut reader).map_err(io_error)?;
            progress.item(&path);
            continue;
        }
        // A blob cached by an earlier run is hashed again on its way into the
        // archive: the cache is trusted for presence, not for integrity.
        let mut reader = HashingReader {
            inner: store.open_blob(digest)?,
            hasher: Hasher::new(),
            progress,
        };
        builder.append(&header, &mut reader).map_err(io_error)?;
        let actual = reader.hasher.finish();
        if &actual != digest {
            // The cache was damaged behind ferry's back: drop the blob so a re-run fetches it again.
            let _ = store.remove(digest);
            return Err(BuildError::Invalid(format!(
                "cached blob {digest} is corrupt (hashes to {actual}); it was removed, run the build again"
            )));
        }
        progress.item(&path);
    }
    builder.finish().map_err(io_error)?;
    Ok(())
}
