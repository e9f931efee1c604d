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
    #[error("OCI layout {layout} has no image named `{reference}` (it has: {available})")]
    NoSuchRef {
        /// Layout directory.
        layout: PathBuf,
        /// Wanted reference.
        reference: String,
        /// Names present.
        available: String,
    },
    /// Storing a blob failed (including a digest mismatch).
    #[error("blob {digest} of OCI layout {layout}")]
    Store {
        /// Layout directory.
        layout: PathBuf,
        /// The blob.
        digest: Digest,
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
