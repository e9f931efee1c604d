//! Media-sized parts of a bundle archive: `NAME.part-0001`, `NAME.part-0002`, …
//! and the parts manifest `NAME.parts.json`:
//!
//! ```json
//! {"version":1,"archive":"NAME","size":N,"sha256":"sha256:…",
//!  "parts":[{"name":"NAME.part-0001","size":N,"sha256":"sha256:…"}, …]}
//! ```
//!
//! [`split`] cuts an archive, [`join`] puts it back together (checking every
//! part), and [`PartsReader`] reads the parts in place as if they were the
//! archive, so `verify`, `inspect` and `unpack` accept a `*.parts.json` path
//! without a second copy of the bundle on disk.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::oci::{Digest, Hasher};

/// The parts manifest format version.
pub const PARTS_VERSION: u32 = 1;
/// The file name suffix of a parts manifest.
pub const PARTS_SUFFIX: &str = ".parts.json";

/// The parts manifest (`NAME.parts.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartsManifest {
    /// Always [`PARTS_VERSION`].
    pub version: u32,
    /// File name of the whole archive.
    pub archive: String,
    /// Size of the whole archive.
    pub size: u64,
    /// SHA-256 of the whole archive.
    pub sha256: Digest,
    /// The parts, in order.
    pub parts: Vec<Part>,
}

/// One part of an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// File name, next to the parts manifest.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the part.
    pub sha256: Digest,
}

/// Splitting, joining or reading parts failed.
#[derive(Debug, thiserror::Error)]
pub enum PartsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The parts manifest is invalid.
    #[error("parts manifest {path} is invalid: {detail}")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A part is absent.
    #[error("part {name} is missing ({path})")]
    MissingPart {
        /// The part's name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A part has another size than the manifest says.
    #[error("part {name} is {actual} bytes, the parts manifest says {expected}")]
    PartSize {
        /// The part's name.
        name: String,
        /// Size in the manifest.
        expected: u64,
        /// Actual size.
        actual: u64,
    },
    /// A part's content does not match its sha256.
    #[error("part {name} was altered: it hashes to {actual}, the parts manifest says {expected}")]
    PartAltered {
        /// The part's name.
        name: String,
        /// sha256 in the manifest.
        expected: Digest,
        /// What it hashes to.
        actual: Digest,
    },
    /// The joined parts do not hash to the archive's sha256.
    #[error(
        "the parts join to sha256 {actual}, the parts manifest says the archive is {expected}"
    )]
    Archive {
        /// sha256 in the manifest.
        expected: Digest,
        /// What the parts hash to.
        actual: Digest,
    },
    /// A size could not be parsed.
    #[error(
        "invalid size `{0}`: expected bytes or a number with a unit (700MiB, 4GiB, 4G, 4000MB)"
    )]
    Size(String),
}

impl From<PartsError> for io::Error {
    fn from(error: PartsError) -> Self {
        io::Error::other(error)
    }
}

/// Whether `path` names a parts manifest (`*.parts.json`).
pub fn is_parts_manifest(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(PARTS_SUFFIX))
}

/// Parses a size: bytes (`4096`), or a number with a binary unit (`K`, `KiB`,
/// `M`, `MiB`, `G`, `GiB`, `T`, `TiB`: powers of 1024) or a decimal one (`KB`,
/// `MB`, `GB`, `TB`: powers of 1000), case-insensitive, spaces allowed.
pub fn parse_size(text: &str) -> Result<u64, PartsError> {
    let invalid = || PartsError::Size(text.to_owned());
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(invalid()),
    };
    match number.checked_mul(multiplier) {
        Some(0) | None => Err(invalid()),
        Some(size) => Ok(size),
    }
}

/// The parts manifest path of an archive file name: `NAME.parts.json` in `dir`.
pub fn manifest_path(dir: &Path, archive_name: &str) -> PathBuf {
    dir.join(format!("{archive_name}{PARTS_SUFFIX}"))
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> PartsError + '_ {
    move |source| PartsError::Io {
        path: path.to_owned(),
        source,
    }
}

fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile, PartsError> {
    tempfile::Builder::new()
        .prefix(".ferry-part-")
        .tempfile_in(dir)
        .map_err(io_at(dir))
}

/// Cuts `archive` into parts of `size` bytes (the last may be smaller) in
/// `out_dir`, named `NAME.part-0001`…, then writes `NAME.parts.json`. Each file
/// appears under its name only when complete; the manifest is written last.
/// Returns the manifest's path and content.
pub fn split(
    archive: &Path,
    size: u64,
    out_dir: &Path,
) -> Result<(PathBuf, PartsManifest), PartsError> {
    if size == 0 {
        return Err(PartsError::Size("0".to_owned()));
    }
    let name = archive
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| PartsError::Manifest {
            path: archive.to_owned(),
            detail: "the archive has no UTF-8 file name".to_owned(),
        })?
        .to_owned();
    std::fs::create_dir_all(out_dir).map_err(io_at(out_dir))?;
    let mut input = File::open(archive).map_err(io_at(archive))?;
    let total = input.metadata().map_err(io_at(archive))?.len();
    let mut whole = Hasher::new();
    let mut parts = Vec::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < total || (total == 0 && parts.is_empty()) {
        let part_name = format!("{name}.part-{:04}", parts.len() + 1);
        let want = size.min(total - done);
        let mut temp = temp_in(out_dir)?;
        let mut hasher = Hasher::new();
        let mut written = 0u64;
        while written < want {
            let chunk = buffer.len().min((want - written) as usize);
            input
                .read_exact(&mut buffer[..chunk])
                .map_err(io_at(archive))?;
            hasher.update(&buffer[..chunk]);
            whole.update(&buffer[..chunk]);
            temp.write_all(&buffer[..chunk])
                .map_err(io_at(&out_dir.join(&part_name)))?;
            written += chunk as u64;
        }
        let target = out_dir.join(&part_name);
        temp.persist(&target).map_err(|e| PartsError::Io {
            path: target.clone(),
            source: e.error,
        })?;
        parts.push(Part {
            name: part_name,
            size: want,
            sha256: hasher.finish(),
        });
        done += want;
        if total == 0 {
            break;
        }
    }
    let manifest = PartsManifest {
        version: PARTS_VERSION,
        archive: name.clone(),
        size: total,
        sha256: whole.finish(),
        parts,
    };
    let path = manifest_path(out_dir, &name);
    let mut text = serde_json::to_vec_pretty(&manifest).map_err(|e| PartsError::Manifest {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    text.push(b'\n');
    let mut temp = temp_in(out_dir)?;
    temp.write_all(&text).map_err(io_at(&path))?;
    temp.persist(&path).map_err(|e| PartsError::Io {
        path: path.clone(),
        source: e.error,
    })?;
    Ok((path, manifest))
}

/// Reads and checks a parts manifest (names must be plain file names).
pub fn read_manifest(path: &Path) -> Result<PartsManifest, PartsError> {
    let invalid = |detail: String| PartsError::Manifest {
        path: path.to_owned(),
        detail,
    };
    let bytes = std::fs::read(path).map_err(io_at(path))?;
    let manifest: PartsManifest =
        serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    if manifest.version != PARTS_VERSION {
        return Err(invalid(format!(
            "version {} is not supported (expected {PARTS_VERSION})",
            manifest.version
        )));
    }
    let plain = |name: &str| {
        !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains('/')
            && !name.contains('\\')
    };
    if let Some(part) = manifest.parts.iter().find(|p| !plain(&p.name)) {
        return Err(invalid(format!(
            "part name `{}` is not a plain file name",
            part.name
        )));
    }
    let sum: u64 = manifest.parts.iter().map(|p| p.size).sum();
    if sum != manifest.size {
        return Err(invalid(format!(
            "the parts add up to {sum} bytes, the archive is {}",
            manifest.size
        )));
    }
    Ok(manifest)
}

/// Joins the parts of `manifest_path` into `out`, checking every part's size
/// and sha256 and the whole archive's sha256; `out` appears only when
/// everything matched (written to a temporary file, then renamed).
pub fn join(manifest_path: &Path, out: &Path) -> Result<PartsManifest, PartsError> {
    let mut reader = PartsReader::open(manifest_path)?;
    let dir = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io_at(&dir))?;
    let mut temp = temp_in(&dir)?;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = reader.read_checked(&mut buffer)?;
        if n == 0 {
            break;
        }
        temp.write_all(&buffer[..n]).map_err(io_at(out))?;
    }
    temp.as_file().sync_all().map_err(io_at(out))?;
    temp.persist(out).map_err(|e| PartsError::Io {
        path: out.to_owned(),
        source: e.error,
    })?;
    Ok(reader.manifest)
}

/// Reads the parts of an archive as one archive, without joining them.
///
/// Every part's presence and size is checked when opening. Read sequentially
/// (through [`Read`], from offset 0 or from the start of a part), each part's
/// sha256 is checked as its last byte is consumed, and the whole archive's
/// sha256 after the last part: a read that crosses the end of an altered part
/// fails with an error naming it ([`PartsError::PartAltered`] inside the
/// [`io::Error`]). [`Seek`] to the middle of a part gives up the check of that
/// part (and of the whole archive).
///
/// [`PartsReader::read_at`] is the random-access form (for serving ranges):
/// it checks sizes only, never hashes; call [`PartsReader::verify_all`] first
/// (or verify the bundle) when the parts' integrity must be established.
pub struct PartsReader {
    manifest: PartsManifest,
    dir: PathBuf,
    /// Offset of each part in the archive.
    starts: Vec<u64>,
    /// Current offset.
    position: u64,
    /// The part being read sequentially, its file and hasher (None: unchecked).
    current: Option<(usize, File, Option<Hasher>)>,
    /// Hasher of the whole archive while read contiguously from 0.
    whole: Option<Hasher>,
}

impl std::fmt::Debug for PartsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartsReader")
            .field("manifest", &self.manifest)
            .field("dir", &self.dir)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl PartsReader {
    /// Opens the parts listed by a `*.parts.json` manifest (parts are looked
    /// for next to it); fails naming the first missing or wrong-sized part.
    pub fn open(manifest_path: &Path) -> Result<Self, PartsError> {
        let manifest = read_manifest(manifest_path)?;
        let dir = match manifest_path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut starts = Vec::with_capacity(manifest.parts.len());
        let mut offset = 0u64;
        for part in &manifest.parts {
            let path = dir.join(&part.name);
            let actual = match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => meta.len(),
                Ok(_) => {
                    return Err(PartsError::MissingPart {
                        name: part.name.clone(),
                        path,
                    })
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    return Err(PartsError::MissingPart {
                        name: part.name.clone(),
                        path,
                    })
                }
                Err(source) => return Err(PartsError::Io { path, source }),
            };
            if actual != part.size {
                return Err(PartsError::PartSize {
                    name: part.name.clone(),
                    expected: part.size,
                    actual,
                });
            }
            starts.push(offset);
            offset += part.size;
        }
        Ok(Self {
            manifest,
            dir,
            starts,
            position: 0,
            current: None,
            whole: Some(Hasher::new()),
        })
    }

    /// The parts manifest.
    pub fn manifest(&self) -> &PartsManifest {
        &self.manifest
    }

    /// The whole archive's size.
    pub fn len(&self) -> u64 {
        self.manifest.size
    }

    /// Whether the archive is empty.
    pub fn is_empty(&self) -> bool {
        self.manifest.size == 0
    }

    /// The part holding `offset` (None at or past the end).
    fn part_at(&self, offset: u64) -> Option<usize> {
        if offset >= self.manifest.size {
            return None;
        }
        let index = self.starts.partition_point(|start| *start <= offset);
        // Skip empty parts: the last part starting at or before `offset` that is not empty.
        (0..index)
            .rev()
            .find(|i| self.manifest.parts[*i].size > 0 && self.starts[*i] <= offset)
    }

    /// Reads up to `buf.len()` bytes at `offset` of the archive (positional,
    /// `&self`, safe to call from several threads). A read never crosses a part
    /// boundary, so it may return fewer bytes than asked; 0 means the end.
    /// Hashes nothing: see [`PartsReader::verify_all`].
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let Some(index) = self.part_at(offset) else {
            return Ok(0);
        };
        let part = &self.manifest.parts[index];
        let within = offset - self.starts[index];
        let want = buf.len().min((part.size - within) as usize);
        let path = self.dir.join(&part.name);
        let file = File::open(&path).map_err(|source| {
            io::Error::from(if source.kind() == io::ErrorKind::NotFound {
                PartsError::MissingPart {
                    name: part.name.clone(),
                    path: path.clone(),
                }
            } else {
                PartsError::Io { path, source }
            })
        })?;
        let n = file.read_at(&mut buf[..want], within)?;
        if n == 0 && want > 0 {
            return Err(PartsError::PartSize {
                name: part.name.clone(),
                expected: part.size,
                actual: within,
            }
            .into());
        }
        Ok(n)
    }

    /// Fills `buf` from `offset` (crossing parts as needed); fails at the end of the archive.
    pub fn read_exact_at(&self, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.read_at(offset, buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "read past the end of the archive",
                ));
            }
            offset += n as u64;
            buf = &mut buf[n..];
        }
        Ok(())
    }

    /// Hashes every part and the whole archive against the manifest; the first
    /// wrong part is named in the error.
    pub fn verify_all(&self) -> Result<(), PartsError> {
        let mut whole = Hasher::new();
        let mut buffer = vec![0u8; 1 << 20];
        for part in &self.manifest.parts {
            let path = self.dir.join(&part.name);
            let mut file = File::open(&path).map_err(|source| PartsError::Io {
                path: path.clone(),
                source,
            })?;
            let mut hasher = Hasher::new();
            let mut read = 0u64;
            loop {
                let n = file.read(&mut buffer).map_err(io_at(&path))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buffer[..n]);
                whole.update(&buffer[..n]);
                read += n as u64;
            }
            if read != part.size {
                return Err(PartsError::PartSize {
                    name: part.name.clone(),
                    expected: part.size,
                    actual: read,
                });
            }
            let actual = hasher.finish();
            if actual != part.sha256 {
                return Err(PartsError::PartAltered {
                    name: part.name.clone(),
                    expected: part.sha256.clone(),
                    actual,
                });
            }
        }
        let actual = whole.finish();
        if actual != self.manifest.sha256 {
            return Err(PartsError::Archive {
                expected: self.manifest.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Sequential read with typed errors (what [`Read::read`] wraps).
    fn read_checked(&mut self, buf: &mut [u8]) -> Result<usize, PartsError> {
        loop {
            if buf.is_empty() {
                return Ok(0);
            }
            let Some(index) = self.part_at(self.position) else {
                // The end: check the whole archive once, if read from the start.
                if self.position == self.manifest.size {
                    if let Some(whole) = self.whole.take() {
                        let actual = whole.finish();
                        if actual != self.manifest.sha256 {
                            return Err(PartsError::Archive {
                                expected: self.manifest.sha256.clone(),
                                actual,
                            });
                        }
                    }
                }
                return Ok(0);
            };
            let part = self.manifest.parts[index].clone();
            let within = self.position - self.starts[index];
            let path = self.dir.join(&part.name);
            if self.current.as_ref().map(|c| c.0) != Some(index) {
                let mut file = File::open(&path).map_err(|source| {
                    if source.kind() == io::ErrorKind::NotFound {
                        PartsError::MissingPart {
                            name: part.name.clone(),
                            path: path.clone(),
                        }
                    } else {
                        PartsError::Io {
                            path: path.clone(),
                            source,
                        }
                    }
                })?;
                file.seek(SeekFrom::Start(within)).map_err(io_at(&path))?;
                let hasher = (within == 0).then(Hasher::new);
                self.current = Some((index, file, hasher));
            }
            let Some((_, file, hasher)) = self.current.as_mut() else {
                continue;
            };
            let want = buf.len().min((part.size - within) as usize);
            let n = file.read(&mut buf[..want]).map_err(io_at(&path))?;
            if n == 0 {
                return Err(PartsError::PartSize {
                    name: part.name.clone(),
                    expected: part.size,
                    actual: within,
                });
            }
            if let Some(hasher) = hasher.as_mut() {
                hasher.update(&buf[..n]);
            }
            if let Some(whole) = self.whole.as_mut() {
                whole.update(&buf[..n]);
            }
            self.position += n as u64;
            if within + n as u64 == part.size {
                if let Some((_, _, Some(hasher))) = self.current.take() {
                    let actual = hasher.finish();
                    if actual != part.sha256 {
                        return Err(PartsError::PartAltered {
                            name: part.name,
                            expected: part.sha256,
                            actual,
                        });
                    }
                }
            }
            return Ok(n);
        }
    }
}

impl Read for PartsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_checked(buf).map_err(io::Error::from)
    }
}

impl Seek for PartsReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let target = match pos {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.manifest.size.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        if target != self.position {
            self.position = target;
            self.current = None;
            if target != 0 {
                self.whole = None;
            } else {
                self.whole = Some(Hasher::new());
            }
        }
        Ok(target)
    }
}

/// Opens a bundle archive file for reading: a `*.parts.json` manifest gives a
/// [`PartsReader`] over its parts, anything else the file itself.
pub fn open_archive_file(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    if is_parts_manifest(path) {
        return Ok(Box::new(PartsReader::open(path)?));
    }
    Ok(Box::new(File::open(path)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("700MiB").unwrap(), 700 << 20);
        assert_eq!(parse_size("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("4 gb").unwrap(), 4_000_000_000);
        for bad in ["", "0", "G", "4X", "-1", "1.5G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn reader_reads_across_parts_and_names_an_altered_one() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.tar");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&archive, &data).unwrap();
        let (manifest_path, manifest) = split(&archive, 1000, &dir.path().join("p")).unwrap();
        assert_eq!(manifest.parts.len(), 10);
        let mut reader = PartsReader::open(&manifest_path).unwrap();
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert_eq!(all, data);
        let mut buf = [0u8; 20];
        reader.read_exact_at(990, &mut buf).unwrap();
        assert_eq!(&buf[..], &data[990..1010]);
        reader.seek(SeekFrom::Start(5000)).unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &data[5000..]);

        let part = dir.path().join("p/a.tar.part-0004");
        let mut bytes = std::fs::read(&part).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&part, bytes).unwrap();
        let mut reader = PartsReader::open(&manifest_path).unwrap();
        let error = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("part a.tar.part-0004 was altered"),
            "{error}"
        );
        let error = reader.verify_all().unwrap_err();
        assert!(
            matches!(error, PartsError::PartAltered { ref name, .. } if name == "a.tar.part-0004")
        );
    }
}
