//! One streaming pass over a bundle (a `.tar`, `.tar.zst`, `.tar.gz` archive
//! or an unpacked layout directory): every entry name checked, every blob
//! hashed, the small JSON blobs kept for the graph checks, and optionally
//! every entry extracted safely.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::MAX_SMALL_BLOB;
use crate::oci::{Digest, Hasher};
use crate::progress::Progress;

/// Errors that stop a scan before any verdict.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// Reading the bundle failed.
    #[error("cannot read bundle {path}")]
    Io {
        /// The bundle.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is no tar archive at all.
    #[error("{path} is not a ferry bundle: {}", super::open::NOT_A_TAR)]
    NotABundle {
        /// The file.
        path: PathBuf,
    },
    /// Writing an extracted entry failed.
    #[error("cannot write {path}")]
    Extract {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The bundle holds too much small JSON to check in bounded memory.
    #[error("bundle {path} holds more than {limit} bytes of manifests and configs")]
    TooManySmallBlobs {
        /// The bundle.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
}

/// What to do while scanning.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    /// Re-hash every blob (verify); without it only sizes are read (inspect).
    pub hash: bool,
    /// Extract every valid entry into this directory.
    pub extract_to: Option<PathBuf>,
}

/// A blob seen in the bundle.
#[derive(Clone, Debug)]
pub struct BlobEntry {
    /// Its size.
    pub size: u64,
    /// What it hashed to, when hashed and different from its name.
    pub altered: Option<Digest>,
}

/// The result of a scan.
#[derive(Debug, Default)]
pub struct Scanned {
    /// `oci-layout` content.
    pub oci_layout: Option<Vec<u8>>,
    /// `index.json` content.
    pub index_json: Option<Vec<u8>>,
    /// Every blob by the digest its path names.
    pub blobs: BTreeMap<Digest, BlobEntry>,
    /// Content of small blobs that look like JSON or a lockfile.
    pub small: HashMap<Digest, Vec<u8>>,
    /// Entries that have no place in a bundle (stray files, links, traversal).
    pub unexpected: Vec<String>,
    /// Total blob bytes.
    pub bytes: u64,
}

const SMALL_TOTAL_LIMIT: u64 = 512 << 20;

enum Kind {
    Layout,
    Index,
    Blob(Digest),
    Directory,
}

fn classify(name: &str) -> Option<Kind> {
    let name = name.strip_prefix("./").unwrap_or(name);
    match name {
        "oci-layout" => Some(Kind::Layout),
        "index.json" => Some(Kind::Index),
        "" | "blobs" | "blobs/" | "blobs/sha256" | "blobs/sha256/" => Some(Kind::Directory),
        _ => name
            .strip_prefix("blobs/sha256/")
            .and_then(|hex| Digest::from_hex(hex).ok())
            .map(Kind::Blob),
    }
}

struct Scanner<'a> {
    path: PathBuf,
    options: &'a ScanOptions,
    out: Scanned,
    small_total: u64,
    progress: &'a dyn Progress,
    /// Every path seen so far (without `./` and a trailing `/`).
    seen: std::collections::HashSet<String>,
}

impl Scanner<'_> {
    fn io(&self) -> impl FnOnce(io::Error) -> ScanError + '_ {
        |source| ScanError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn entry(
        &mut self,
        name: &str,
        regular: bool,
        size: u64,
        reader: &mut dyn Read,
    ) -> Result<(), ScanError> {
        // Readers differ on whether the first or the last of two entries of
        // one path wins: a path that occurs twice makes the archive ambiguous.
        let normalized = name.strip_prefix("./").unwrap_or(name);
        let normalized = normalized.strip_suffix('/').unwrap_or(normalized);
        if !self.seen.insert(normalized.to_owned()) {
            self.out
                .unexpected
                .push(format!("{name} (the path occurs twice)"));
            return Ok(());
        }
        let kind = classify(name);
        let kind = match (kind, regular) {
            (Some(kind), true) if !matches!(kind, Kind::Directory) => kind,
            // A directory name reaches here only as something other than a
            // directory: a link or special file where the layout has a folder.
            (Some(Kind::Directory), _) => {
                self.out.unexpected.push(format!(
                    "{name} (not a directory: a link or other entry where the layout has a folder)"
                ));
                return Ok(());
            }
            (_, false) => {
                self.out
                    .unexpected
                    .push(format!("{name} (not a regular file)"));
                return Ok(());
            }
            _ => {
                self.out.unexpected.push(name.to_owned());
                return Ok(());
            }
        };
        let target = self
            .options
            .extract_to
            .as_ref()
            .map(|dir| dir.join(name.strip_prefix("./").unwrap_or(name)));
        match kind {
            Kind::Layout | Kind::Index => {
                if size > MAX_SMALL_BLOB * 4 {
                    self.out
                        .unexpected
                        .push(format!("{name} (too large: {size} bytes)"));
                    return Ok(());
                }
                let mut bytes = Vec::with_capacity(size as usize);
                reader
                    .take(size)
                    .read_to_end(&mut bytes)
                    .map_err(self.io())?;
                // Not extracted: verification writes both from the signed root.
                if matches!(kind, Kind::Layout) {
                    self.out.oci_layout = Some(bytes);
                } else {
                    self.out.index_json = Some(bytes);
                }
            }
            Kind::Blob(digest) => {
                if self.out.blobs.contains_key(&digest) {
                    self.out
                        .unexpected
                        .push(format!("{name} (duplicate entry)"));
                    return Ok(());
                }
                self.blob(digest, size, reader, target.as_deref())?;
            }
            Kind::Directory => {}
        }
        Ok(())
    }

    /// A directory entry of the layout: only its path is recorded (twice is ambiguous).
    fn directory(&mut self, name: &str) {
        let normalized = name.strip_prefix("./").unwrap_or(name);
        let normalized = normalized.strip_suffix('/').unwrap_or(normalized);
        if !self.seen.insert(normalized.to_owned()) {
            self.out
                .unexpected
                .push(format!("{name} (the path occurs twice)"));
        }
    }

    fn blob(
        &mut self,
        digest: Digest,
        size: u64,
        reader: &mut dyn Read,
        target: Option<&Path>,
    ) -> Result<(), ScanError> {
        let needs_content = self.options.hash || target.is_some() || size <= MAX_SMALL_BLOB;
        if !needs_content {
            io::copy(&mut reader.take(size), &mut io::sink()).map_err(self.io())?;
            self.out.blobs.insert(
                digest,
                BlobEntry {
                    size,
                    altered: None,
                },
            );
            self.out.bytes += size;
            return Ok(());
        }
        let mut hasher = Hasher::new();
        let mut writer = match target {
            Some(path) => Some(PendingFile::create(path)?),
            None => None,
        };
        let mut keep: Option<Vec<u8>> = None;
        let mut buffer = vec![0u8; 256 << 10];
        let mut remaining = size;
        let mut first = true;
        while remaining > 0 {
            let want = buffer.len().min(remaining as usize);
            let read = reader.read(&mut buffer[..want]).map_err(self.io())?;
            if read == 0 {
                return Err(ScanError::Io {
                    path: self.path.clone(),
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("blob {digest} is truncated"),
                    ),
                });
            }
            let chunk = &buffer[..read];
            if first {
                first = false;
                if size <= MAX_SMALL_BLOB && looks_like_metadata(chunk) {
                    keep = Some(Vec::with_capacity(size as usize));
                }
            }
            if let Some(keep) = &mut keep {
                keep.extend_from_slice(chunk);
            }
            hasher.update(chunk);
            if let Some(writer) = &mut writer {
                writer.write(chunk)?;
            }
            self.progress.bytes(read as u64);
            remaining -= read as u64;
        }
        let actual = hasher.finish();
        let altered = (self.options.hash && actual != digest).then_some(actual);
        if let Some(writer) = writer {
            // An extracted blob must be what its name says; never leave a wrong one.
            if altered.is_none() {
                writer.finish()?;
            }
        }
        if let Some(keep) = keep {
            if altered.is_none() {
                self.small_total += keep.len() as u64;
                if self.small_total > SMALL_TOTAL_LIMIT {
                    return Err(ScanError::TooManySmallBlobs {
                        path: self.path.clone(),
                        limit: SMALL_TOTAL_LIMIT,
                    });
                }
                self.out.small.insert(digest.clone(), keep);
            }
        }
        self.out.blobs.insert(digest, BlobEntry { size, altered });
        self.out.bytes += size;
        self.progress.item("blob");
        Ok(())
    }
}

fn looks_like_metadata(chunk: &[u8]) -> bool {
    chunk
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'#' || *b == b'[')
}

/// A file being extracted: written to a temporary name, renamed when whole.
struct PendingFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl PendingFile {
    fn create(target: &Path) -> Result<Self, ScanError> {
        let error = |source| ScanError::Extract {
            path: target.to_owned(),
            source,
        };
        let dir = target.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(error)?;
        let temp = tempfile::NamedTempFile::new_in(dir).map_err(error)?;
        Ok(Self {
            temp,
            target: target.to_owned(),
        })
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), ScanError> {
        self.temp
            .write_all(chunk)
            .map_err(|source| ScanError::Extract {
                path: self.target.clone(),
                source,
            })
    }

    fn finish(self) -> Result<(), ScanError> {
        let target = self.target;
        self.temp.persist(&target).map_err(|e| ScanError::Extract {
            path: target.clone(),
            source: e.error,
        })?;
        Ok(())
    }
}

/// Opens an archive (or the parts a `*.parts.json` lists), undoing zstd or
/// gzip compression by its magic bytes.
fn open_archive(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut file = BufReader::with_capacity(1 << 20, super::parts::open_archive_file(path)?);
    let magic = {
        use std::io::BufRead;
        let buffer = file.fill_buf()?;
        buffer.get(..4).map(<[u8]>::to_vec).unwrap_or_default()
    };
    Ok(match magic.as_slice() {
        [0x28, 0xb5, 0x2f, 0xfd] => Box::new(zstd::Decoder::with_buffer(file)?),
        [0x1f, 0x8b, ..] => Box::new(flate2::read::GzDecoder::new(file)),
        _ => Box::new(file),
    })
}

/// Scans a bundle archive or layout directory.
pub fn scan(
    path: &Path,
    options: &ScanOptions,
    progress: &dyn Progress,
) -> Result<Scanned, ScanError> {
    let mut scanner = Scanner {
        path: path.to_owned(),
        options,
        out: Scanned::default(),
        small_total: 0,
        progress,
        seen: std::collections::HashSet::new(),
    };
    let io_error = |source| ScanError::Io {
        path: path.to_owned(),
        source,
    };
    if path.is_dir() {
        scan_dir(&mut scanner, path, "")?;
        return Ok(scanner.out);
    }
    let mut archive = tar::Archive::new(open_archive(path).map_err(io_error)?);
    let mut first = true;
    for entry in archive.entries().map_err(io_error)? {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(source) if first && source.kind() != io::ErrorKind::UnexpectedEof => {
                return Err(ScanError::NotABundle {
                    path: path.to_owned(),
                })
            }
            Err(source) => return Err(io_error(source)),
        };
        first = false;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let header_type = entry.header().entry_type();
        let size = entry.size();
        if header_type.is_pax_global_extensions() || header_type.is_gnu_longname() {
            continue;
        }
        let regular = header_type.is_file();
        if header_type.is_dir() && matches!(classify(&name), Some(Kind::Directory)) {
            scanner.directory(&name);
            continue;
        }
        scanner.entry(&name, regular, size, &mut entry)?;
    }
    // Read to the end, so every byte (a part's checksum, zstd's) is checked.
    io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(io_error)?;
    Ok(scanner.out)
}

fn scan_dir(scanner: &mut Scanner<'_>, dir: &Path, prefix: &str) -> Result<(), ScanError> {
    let io_error = |source| ScanError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_error)?
        .collect::<Result<_, _>>()
        .map_err(io_error)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let file_type = entry.file_type().map_err(io_error)?;
        if file_type.is_dir() {
            if matches!(classify(&name), Some(Kind::Directory)) {
                scan_dir(scanner, &entry.path(), &format!("{name}/"))?;
            } else {
                scanner.out.unexpected.push(format!("{name}/"));
            }
            continue;
        }
        if !file_type.is_file() {
            scanner.out.unexpected.push(name);
            continue;
        }
        let mut file = File::open(entry.path()).map_err(io_error)?;
        let size = file.metadata().map_err(io_error)?.len();
        scanner.entry(&name, true, size, &mut file)?;
    }
    Ok(())
}
