//! A bundle opened for random access, without extracting it: the archive's
//! tar headers are read once (seeking past the data) to learn where each blob
//! lies, and blobs are then read in place. Serve and push work from this.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::{ANNOTATION_KIND, LOCK_MEDIA_TYPE, METADATA_ARTIFACT_TYPE, ROOT_ARTIFACT_TYPE};
use crate::lock::Lock;
use crate::oci::{Descriptor, Digest, ImageIndex, ManifestView, ANNOTATION_REF_NAME};

/// `Read + Seek` for the tar header scan (a file or media parts).
trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

fn read_segments(segments: &[Segment], out: &mut Vec<u8>) -> io::Result<()> {
    for (path, offset, length) in segments {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(*offset))?;
        file.take(*length).read_to_end(out)?;
    }
    Ok(())
}

/// Why a file whose first entry is no tar header is refused.
pub(crate) const NOT_A_TAR: &str = "it is not a tar archive (expected a `.tar` or `.tar.zst` that `ferry build` wrote, its parts manifest, or an unpacked layout directory)";

/// Errors opening a bundle for random access.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The bundle could not be read.
    #[error("cannot read bundle {path}")]
    Io {
        /// The bundle.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A compressed archive cannot be read in place.
    #[error("{path} is compressed; serving and pushing read blobs in place, which needs a plain `.tar` (build without --zstd) or an unpacked layout (`ferry unpack`)")]
    Compressed {
        /// The bundle.
        path: PathBuf,
    },
    /// The bundle's structure is not what ferry writes.
    #[error("{path} is not a ferry bundle: {detail}")]
    Invalid {
        /// The bundle.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

enum Storage {
    /// A plain tar, as one file or as media-sized parts: each file with the
    /// archive offset it starts at.
    Archive(Vec<(PathBuf, u64)>),
    Directory(PathBuf),
}

/// A run of bytes in one file: (file, offset in the file, length).
pub type Segment = (PathBuf, u64, u64);

/// The file segments covering `length` bytes at archive `offset`.
fn segments(files: &[(PathBuf, u64)], total: u64, offset: u64, length: u64) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut at = offset;
    let end = offset + length;
    for (index, (path, start)) in files.iter().enumerate() {
        let file_end = files.get(index + 1).map_or(total, |(_, next)| *next);
        if at >= end {
            break;
        }
        if at >= *start && at < file_end {
            let take = end.min(file_end) - at;
            out.push((path.clone(), at - start, take));
            at += take;
        }
    }
    out
}

/// One artifact of the bundle, as listed by the root.
#[derive(Clone, Debug)]
pub struct Entry {
    /// `image`, `chart`, `file`.
    pub kind: String,
    /// The original reference (`org.opencontainers.image.ref.name`).
    pub reference: String,
    /// The component carrying it.
    pub component: String,
    /// Its manifest or index descriptor.
    pub descriptor: Descriptor,
}

/// A verified bundle, opened for reading blobs in place.
pub struct OpenBundle {
    path: PathBuf,
    storage: Storage,
    total: u64,
    blobs: HashMap<Digest, (u64, u64)>,
    media_types: HashMap<Digest, String>,
    /// The root's digest: the bundle identity.
    pub root: Digest,
    /// Every image, chart and file, in root order.
    pub entries: Vec<Entry>,
    /// `index.json` descriptors that are not in the root (signatures).
    pub extra_index_entries: Vec<Descriptor>,
    lock: Option<Lock>,
    metadata: Option<Descriptor>,
    delta: Option<super::delta::DeltaRecord>,
}

impl OpenBundle {
    /// Opens a plain-tar bundle or an unpacked layout directory.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let io_error = |source| OpenError::Io {
            path: path.to_owned(),
            source,
        };
        let mut blobs = HashMap::new();
        let mut index_at = None;
        let mut total = 0;
        let storage = if path.is_dir() {
            let dir = path.join("blobs").join("sha256");
            for entry in std::fs::read_dir(&dir).map_err(io_error)? {
                let entry = entry.map_err(io_error)?;
                if let Some(digest) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| Digest::from_hex(n).ok())
                {
                    let size = entry.metadata().map_err(io_error)?.len();
                    blobs.insert(digest, (0, size));
                }
            }
            Storage::Directory(path.to_owned())
        } else {
            let (mut reader, files): (Box<dyn ReadSeek>, Vec<(PathBuf, u64)>) =
                if super::parts::is_parts_manifest(path) {
                    let parts =
                        super::parts::PartsReader::open(path).map_err(|e| OpenError::Invalid {
                            path: path.to_owned(),
                            detail: e.to_string(),
                        })?;
                    let dir = path.parent().map(Path::to_owned).unwrap_or_default();
                    let mut start = 0;
                    let mut files = Vec::new();
                    for part in &parts.manifest().parts {
                        files.push((dir.join(&part.name), start));
                        start += part.size;
                    }
                    total = start;
                    (Box::new(parts), files)
                } else {
                    let file = File::open(path).map_err(io_error)?;
                    total = file.metadata().map_err(io_error)?.len();
                    (Box::new(file), vec![(path.to_owned(), 0)])
                };
            let mut magic = [0u8; 4];
            let read = reader.read(&mut magic).map_err(io_error)?;
            if read == 4 && (magic == [0x28, 0xb5, 0x2f, 0xfd] || magic[..2] == [0x1f, 0x8b]) {
                return Err(OpenError::Compressed {
                    path: path.to_owned(),
                });
            }
            reader.seek(SeekFrom::Start(0)).map_err(io_error)?;
            let mut archive = tar::Archive::new(reader);
            let mut first = true;
            for entry in archive.entries_with_seek().map_err(io_error)? {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(source) if first && source.kind() != io::ErrorKind::UnexpectedEof => {
                        return Err(OpenError::Invalid {
                            path: path.to_owned(),
                            detail: NOT_A_TAR.to_owned(),
                        })
                    }
                    Err(source) => return Err(io_error(source)),
                };
                first = false;
                let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let name = name.strip_prefix("./").unwrap_or(&name).to_owned();
                if let Some(digest) = name
                    .strip_prefix("blobs/sha256/")
                    .and_then(|hex| Digest::from_hex(hex).ok())
                {
                    blobs.insert(digest, (entry.raw_file_position(), entry.size()));
                } else if name == "index.json" {
                    index_at = Some((entry.raw_file_position(), entry.size()));
                }
            }
            Storage::Archive(files)
        };
        let mut bundle = Self {
            path: path.to_owned(),
            storage,
            total,
            blobs,
            media_types: HashMap::new(),
            root: Digest::of_bytes(b""),
            entries: Vec::new(),
            extra_index_entries: Vec::new(),
            lock: None,
            metadata: None,
            delta: None,
        };
        bundle.load_graph(index_at)?;
        if bundle.lock.is_none() {
            return Err(bundle.invalid("the root lists no metadata manifest with a lock"));
        }
        Ok(bundle)
    }

    /// The embedded lock.
    pub fn lock(&self) -> Option<&Lock> {
        self.lock.as_ref()
    }

    /// Every blob with its size.
    pub fn blob_sizes(&self) -> std::collections::BTreeMap<Digest, u64> {
        self.blobs
            .iter()
            .map(|(digest, (_, size))| (digest.clone(), *size))
            .collect()
    }

    /// For a delta bundle: what it records about its base.
    pub fn delta(&self) -> Option<&super::delta::DeltaRecord> {
        self.delta.as_ref()
    }

    /// The metadata manifest (lock, spec) descriptor.
    pub fn metadata(&self) -> Option<&Descriptor> {
        self.metadata.as_ref()
    }

    /// The composed spec the bundle embeds, components in dependency order.
    pub fn spec(&self) -> Result<super::spec::BundleSpec, OpenError> {
        let metadata = self
            .metadata()
            .ok_or_else(|| self.invalid("it has no metadata manifest (lock and spec)"))?;
        let view = self.manifest(&metadata.digest)?;
        let layer = view
            .layers
            .iter()
            .find(|l| l.media_type == super::SPEC_MEDIA_TYPE)
            .ok_or_else(|| self.invalid("its metadata embeds no spec"))?;
        super::spec::BundleSpec::from_json(&self.read_small(&layer.digest)?)
            .map_err(|e| self.invalid(e.to_string()))
    }

    fn invalid(&self, detail: impl Into<String>) -> OpenError {
        OpenError::Invalid {
            path: self.path.clone(),
            detail: detail.into(),
        }
    }

    fn load_graph(&mut self, index_at: Option<(u64, u64)>) -> Result<(), OpenError> {
        let index_bytes = match (&self.storage, index_at) {
            (Storage::Directory(dir), _) => {
                std::fs::read(dir.join("index.json")).map_err(|source| OpenError::Io {
                    path: dir.join("index.json"),
                    source,
                })?
            }
            (Storage::Archive(files), Some((offset, size)))
                if size <= super::MAX_SMALL_BLOB * 4 =>
            {
                let mut bytes = Vec::with_capacity(size as usize);
                read_segments(&segments(files, self.total, offset, size), &mut bytes).map_err(
                    |source| OpenError::Io {
                        path: self.path.clone(),
                        source,
                    },
                )?;
                bytes
            }
            (Storage::Archive(_), _) => return Err(self.invalid("no usable index.json")),
        };
        let index: ImageIndex = serde_json::from_slice(&index_bytes)
            .map_err(|e| self.invalid(format!("index.json: {e}")))?;
        let root_descriptor = index
            .manifests
            .iter()
            .find(|d| d.artifact_type.as_deref() == Some(ROOT_ARTIFACT_TYPE))
            .cloned()
            .ok_or_else(|| self.invalid("index.json lists no bundle root"))?;
        self.root = root_descriptor.digest.clone();
        let root: ImageIndex = serde_json::from_slice(&self.read_small(&self.root)?)
            .map_err(|e| self.invalid(format!("root: {e}")))?;
        self.media_types
            .insert(self.root.clone(), root_descriptor.media_type.clone());
        for descriptor in &root.manifests {
            self.media_types
                .insert(descriptor.digest.clone(), descriptor.media_type.clone());
            if descriptor.artifact_type.as_deref() == Some(METADATA_ARTIFACT_TYPE) {
                self.metadata = Some(descriptor.clone());
                let view = self.manifest(&descriptor.digest)?;
                let lock_layer = view
                    .layers
                    .iter()
                    .find(|l| l.media_type == LOCK_MEDIA_TYPE)
                    .ok_or_else(|| self.invalid("the metadata manifest has no lock"))?;
                let text = String::from_utf8(self.read_small(&lock_layer.digest)?)
                    .map_err(|_| self.invalid("the embedded lock is not UTF-8"))?;
                if let Some(layer) = view
                    .layers
                    .iter()
                    .find(|l| l.media_type == super::delta::DELTA_MEDIA_TYPE)
                {
                    let record = serde_json::from_slice(&self.read_small(&layer.digest)?)
                        .map_err(|e| self.invalid(format!("the delta record: {e}")))?;
                    self.delta = Some(record);
                }
                self.lock = Some(
                    Lock::parse(&text, Path::new("<embedded lock>"))
                        .map_err(|e| self.invalid(e.to_string()))?,
                );
                continue;
            }
            let annotation =
                |key: &str| descriptor.annotations.get(key).cloned().unwrap_or_default();
            self.entries.push(Entry {
                kind: annotation(ANNOTATION_KIND),
                reference: annotation(ANNOTATION_REF_NAME),
                component: annotation(super::ANNOTATION_COMPONENT),
                descriptor: descriptor.clone(),
            });
            if crate::oci::is_index_media_type(&descriptor.media_type) {
                let view = self.manifest(&descriptor.digest)?;
                for child in view.manifests {
                    if self.blobs.contains_key(&child.digest) {
                        self.media_types
                            .insert(child.digest.clone(), child.media_type.clone());
                    }
                }
            }
        }
        self.extra_index_entries = index
            .manifests
            .iter()
            .filter(|d| {
                d.digest != self.root && !root.manifests.iter().any(|r| r.digest == d.digest)
            })
            .cloned()
            .collect();
        for extra in &self.extra_index_entries {
            self.media_types
                .insert(extra.digest.clone(), extra.media_type.clone());
        }
        Ok(())
    }

    /// The bundle path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The size of a blob, if the bundle holds it.
    pub fn blob_size(&self, digest: &Digest) -> Option<u64> {
        self.blobs.get(digest).map(|(_, size)| *size)
    }

    /// The media type of a manifest the bundle holds, by digest.
    pub fn manifest_media_type(&self, digest: &Digest) -> Option<&str> {
        self.media_types.get(digest).map(String::as_str)
    }

    /// A reader over a blob, or over `range` (start, length) of it.
    pub fn blob_reader(
        &self,
        digest: &Digest,
        range: Option<(u64, u64)>,
    ) -> Result<Box<dyn Read + Send>, OpenError> {
        let size = self
            .blob_size(digest)
            .ok_or_else(|| self.invalid(format!("blob {digest} is not in the bundle")))?;
        let (start, length) = range.unwrap_or((0, size));
        if start.saturating_add(length) > size {
            return Err(self.invalid(format!(
                "range {start}+{length} is outside blob {digest} ({size} bytes)"
            )));
        }
        let segments = self
            .blob_segments(digest, start, length)
            .unwrap_or_default();
        let mut reader: Box<dyn Read + Send> = Box::new(io::empty());
        for (path, offset, length) in segments.into_iter().rev() {
            let mut file = File::open(&path).map_err(|source| OpenError::Io {
                path: path.clone(),
                source,
            })?;
            file.seek(SeekFrom::Start(offset))
                .map_err(|source| OpenError::Io {
                    path: path.clone(),
                    source,
                })?;
            reader = Box::new(file.take(length).chain(reader));
        }
        Ok(reader)
    }

    /// The file segments holding `length` bytes at `start` of a blob: one for
    /// an archive or layout, more when the blob straddles media parts.
    pub fn blob_segments(&self, digest: &Digest, start: u64, length: u64) -> Option<Vec<Segment>> {
        let (offset, _) = *self.blobs.get(digest)?;
        Some(match &self.storage {
            Storage::Archive(files) => segments(files, self.total, offset + start, length),
            Storage::Directory(dir) => vec![(
                dir.join("blobs").join("sha256").join(digest.hex()),
                start,
                length,
            )],
        })
    }

    /// Reads a small blob (manifest, config) whole.
    pub fn read_small(&self, digest: &Digest) -> Result<Vec<u8>, OpenError> {
        let size = self.blob_size(digest).unwrap_or_default();
        if size > super::MAX_SMALL_BLOB {
            return Err(self.invalid(format!(
                "blob {digest} is too large to be a manifest ({size} bytes)"
            )));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        self.blob_reader(digest, None)?
            .read_to_end(&mut bytes)
            .map_err(|source| OpenError::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(bytes)
    }

    /// Parses a manifest the bundle holds.
    pub fn manifest(&self, digest: &Digest) -> Result<ManifestView, OpenError> {
        ManifestView::parse(&self.read_small(digest)?)
            .map_err(|e| self.invalid(format!("manifest {digest}: {e}")))
    }

    /// The manifests of an entry that the bundle carries, children first, and
    /// the blobs they reference: everything a registry needs for that entry.
    pub fn closure(
        &self,
        top: &Descriptor,
    ) -> Result<(Vec<Descriptor>, Vec<Descriptor>), OpenError> {
        let mut manifests = Vec::new();
        let mut blobs: Vec<Descriptor> = Vec::new();
        let view = self.manifest(&top.digest)?;
        for child in &view.manifests {
            if self.blobs.contains_key(&child.digest) {
                let child_view = self.manifest(&child.digest)?;
                for blob in child_view.blob_descriptors() {
                    if !blobs.iter().any(|b| b.digest == blob.digest) {
                        blobs.push(blob.clone());
                    }
                }
                manifests.push(child.clone());
            }
        }
        for blob in view.blob_descriptors() {
            if !blobs.iter().any(|b| b.digest == blob.digest) {
                blobs.push(blob.clone());
            }
        }
        manifests.push(top.clone());
        Ok((manifests, blobs))
    }
}
