//! Local artifact sources: OCI image layout directories on disk (such as a
//! vendor's image tarball, unpacked) and chart repositories in a directory.

use std::path::{Path, PathBuf};

use crate::oci::{Descriptor, Digest, ImageIndex, ANNOTATION_REF_NAME};
use crate::store::{Store, StoreError};

/// Errors reading a local source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file of the source could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The layout's `index.json` is invalid.
    #[error("{path} is not a valid OCI layout index")]
    BadIndex {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// No entry carries the wanted reference.
    #[error("{} has no image named `{reference}` (it has: {available})", crate::spec::normalize(layout).display())]
    NoSuchRef {
        /// Layout directory.
        layout: PathBuf,
        /// Wanted reference.
        reference: String,
        /// Names present.
        available: String,
    },
    /// Storing a blob failed (including a digest mismatch).
    #[error("blob {digest} of {}", crate::spec::normalize(layout).display())]
    Store {
        /// Layout directory.
        layout: PathBuf,
        /// The blob.
        digest: Digest,
        /// The cause.
        #[source]
        source: StoreError,
    },
    /// Copying an entry of an archive into the store failed.
    #[error("entry `{entry}` of {}", crate::spec::normalize(archive).display())]
    Entry {
        /// The archive.
        archive: PathBuf,
        /// The entry's name.
        entry: String,
        /// The cause.
        #[source]
        source: StoreError,
    },
}

/// An OCI image layout directory.
#[derive(Clone, Debug)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// Opens a layout directory (not read until used).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads `index.json`.
    pub fn index(&self) -> Result<ImageIndex, SourceError> {
        let path = self.dir.join("index.json");
        let bytes = std::fs::read(&path).map_err(|source| SourceError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| SourceError::BadIndex { path, source })
    }

    /// Finds the descriptor named `reference` (full name, or the tag alone).
    pub fn find(&self, reference: &str) -> Result<Descriptor, SourceError> {
        let index = self.index()?;
        let name_of = |d: &Descriptor| d.annotations.get(ANNOTATION_REF_NAME).cloned();
        if let Some(found) = index
            .manifests
            .iter()
            .find(|d| name_of(d).as_deref() == Some(reference))
        {
            return Ok(found.clone());
        }
        let available: Vec<String> = index.manifests.iter().filter_map(name_of).collect();
        Err(SourceError::NoSuchRef {
            layout: self.dir.clone(),
            reference: reference.to_owned(),
            available: available.join(", "),
        })
    }

    /// Path of a blob inside the layout.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs").join("sha256").join(digest.hex())
    }

    /// Copies a blob into the store, verifying its digest and size.
    pub fn ingest(
        &self,
        store: &Store,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<u64, SourceError> {
        store
            .ingest_file(&self.blob_path(digest), Some((digest, size)))
            .map(|(_, size)| size)
            .map_err(|source| SourceError::Store {
                layout: self.dir.clone(),
                digest: digest.clone(),
                source,
            })
    }
}

/// A `docker save` / `podman save` archive (`docker-archive` format, and the
/// OCI-layout-inside variant newer Docker writes). Its images are turned into
/// OCI manifests deterministically: the config and layers keep their bytes
/// (and so their digests); the manifest is derived from them, so the same
/// archive always yields the same manifest digest.
#[derive(Clone, Debug)]
pub struct DockerArchive {
    path: PathBuf,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

impl DockerArchive {
    /// An archive on disk (not read until used).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
        |source| SourceError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn saved_images(&self) -> Result<Vec<SavedImage>, SourceError> {
        use std::io::Read;
        let file = std::fs::File::open(&self.path).map_err(self.io())?;
        let mut archive = tar::Archive::new(file);
        for entry in archive.entries_with_seek().map_err(self.io())? {
            let mut entry = entry.map_err(self.io())?;
            if entry.path_bytes().as_ref() == b"manifest.json" {
                let mut text = Vec::new();
                entry
                    .by_ref()
                    .take(16 << 20)
                    .read_to_end(&mut text)
                    .map_err(self.io())?;
                return serde_json::from_slice(&text).map_err(|source| SourceError::BadIndex {
                    path: self.path.join("manifest.json"),
                    source,
                });
            }
        }
        Err(SourceError::NoSuchRef {
            layout: self.path.clone(),
            reference: "manifest.json".to_owned(),
            available: "no manifest.json: not a docker save archive".to_owned(),
        })
    }

    /// Copies the image named `reference` (matched against `RepoTags`, both
    /// normalised) into the store and returns its derived OCI manifest.
    pub fn ingest_image(&self, reference: &str, store: &Store) -> Result<Vec<u8>, SourceError> {
        let wanted = normalise(reference);
        let images = self.saved_images()?;
        let image = images
            .iter()
            .find(|image| image.repo_tags.iter().any(|tag| normalise(tag) == wanted))
            .ok_or_else(|| SourceError::NoSuchRef {
                layout: self.path.clone(),
                reference: reference.to_owned(),
                available: images
                    .iter()
                    .flat_map(|i| i.repo_tags.iter().cloned())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let mut found: std::collections::HashMap<String, (Digest, u64, [u8; 4])> =
            std::collections::HashMap::new();
        let file = std::fs::File::open(&self.path).map_err(self.io())?;
        let mut archive = tar::Archive::new(file);
        for entry in archive.entries_with_seek().map_err(self.io())? {
            let mut entry = entry.map_err(self.io())?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if name != image.config && !image.layers.contains(&name) {
                continue;
            }
            let entry_error = |source| SourceError::Entry {
                archive: self.path.clone(),
                entry: name.clone(),
                source,
            };
            let mut writer = store.writer().map_err(entry_error)?;
            let mut buffer = vec![0u8; 1 << 20];
            let mut magic = [0u8; 4];
            loop {
                let n = std::io::Read::read(&mut entry, &mut buffer).map_err(self.io())?;
                if n == 0 {
                    break;
                }
                if writer.written() == 0 {
                    let take = n.min(4);
                    magic[..take].copy_from_slice(&buffer[..take]);
                }
                writer.write_chunk(&buffer[..n]).map_err(entry_error)?;
            }
            let (digest, size) = writer.commit_as_computed().map_err(entry_error)?;
            found.insert(name, (digest, size, magic));
        }
        let describe =
            |name: &str, media_type: &str| -> Result<crate::oci::Descriptor, SourceError> {
                let (digest, size, _) = found.get(name).ok_or_else(|| SourceError::NoSuchRef {
                    layout: self.path.clone(),
                    reference: name.to_owned(),
                    available: "the archive's manifest.json names an entry the archive lacks"
                        .to_owned(),
                })?;
                let mut descriptor = crate::oci::Descriptor::for_bytes(media_type, b"");
                descriptor.digest = digest.clone();
                descriptor.size = *size;
                Ok(descriptor)
            };
        let config = describe(&image.config, "application/vnd.oci.image.config.v1+json")?;
        let mut layers = Vec::new();
        for layer in &image.layers {
            let magic = found.get(layer).map(|f| f.2).unwrap_or_default();
            let media_type = match magic {
                [0x1f, 0x8b, ..] => "application/vnd.oci.image.layer.v1.tar+gzip",
                [0x28, 0xb5, 0x2f, 0xfd] => "application/vnd.oci.image.layer.v1.tar+zstd",
                _ => "application/vnd.oci.image.layer.v1.tar",
            };
            layers.push(describe(layer, media_type)?);
        }
        let manifest = crate::oci::ImageManifest {
            schema_version: 2,
            media_type: crate::oci::OCI_MANIFEST.to_owned(),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: std::collections::BTreeMap::new(),
        };
        let bytes = crate::oci::to_canonical_json(&manifest);
        store
            .put_bytes(&bytes)
            .map_err(|source| SourceError::Store {
                layout: self.path.clone(),
                digest: Digest::of_bytes(&bytes),
                source,
            })?;
        Ok(bytes)
    }
}

/// A reference in its normalised form when it parses, else as written.
fn normalise(reference: &str) -> String {
    reference
        .parse::<crate::oci::Reference>()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| reference.to_owned())
}
