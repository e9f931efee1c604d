//! Delta bundles: a bundle that leaves out the blobs an older bundle (its
//! base) already carried. It stays verifiable on its own: all its manifests
//! are inside, and the metadata manifest (covered by the root digest and the
//! signature) lists every blob left out with its size, so verify knows what
//! is absent on purpose, and push/serve can check the base is there first.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::OpenBundle;
use crate::lock::Lock;
use crate::oci::{Digest, ManifestView};
use crate::store::Store;

/// Media type of the delta record in the metadata manifest.
pub const DELTA_MEDIA_TYPE: &str = "application/vnd.ferry.delta.v1+json";

/// What a delta bundle records about its base.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DeltaRecord {
    /// The base bundle's root digest, when the base was a bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_root: Option<Digest>,
    /// SHA-256 of the base lock's canonical text, when the base was a lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_lock: Option<Digest>,
    /// Blobs left out because the base carries them: digest → size.
    pub omitted: BTreeMap<Digest, u64>,
}

/// The blobs a base provides.
#[derive(Clone, Debug, Default)]
pub struct Base {
    /// Root digest of a base bundle.
    pub root: Option<Digest>,
    /// Digest of a base lock.
    pub lock: Option<Digest>,
    /// Every blob of the base with its size.
    pub blobs: BTreeMap<Digest, u64>,
}

/// Errors reading a base.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    /// The base bundle could not be opened.
    #[error("cannot read the base bundle")]
    Open(#[from] super::OpenError),
    /// The base lock could not be read.
    #[error("cannot read the base lock")]
    Lock(#[from] crate::lock::LockError),
    /// A manifest the base lock pins is not in the cache.
    #[error("the base lock pins manifest {digest} ({reference}), which is not in the cache\nhint: build the base once on this machine, or pass the base bundle instead of its lock")]
    NotCached {
        /// The manifest.
        digest: Digest,
        /// Its image.
        reference: String,
    },
}

impl Base {
    /// The blobs of a base bundle (archive, parts or layout directory).
    pub fn from_bundle(path: &Path) -> Result<Self, BaseError> {
        let bundle = OpenBundle::open(path)?;
        Ok(Self {
            root: Some(bundle.root.clone()),
            lock: None,
            blobs: bundle.blob_sizes(),
        })
    }

    /// The blobs a base lock pins, read through the cache (its manifests must be there).
    pub fn from_lock(path: &Path, store: &Store) -> Result<Self, BaseError> {
        let lock = Lock::read(path)?;
        let mut blobs = BTreeMap::new();
        for image in &lock.images {
            let mut manifests = vec![(image.digest.clone(), image.size)];
            manifests.extend(image.platforms.iter().map(|p| (p.digest.clone(), p.size)));
            for (digest, size) in manifests {
                let bytes = store
                    .read_small(&digest)
                    .map_err(|_| BaseError::NotCached {
                        digest: digest.clone(),
                        reference: image.reference.clone(),
                    })?;
                blobs.insert(digest.clone(), size);
                if let Ok(view) = ManifestView::parse(&bytes) {
                    for blob in view.blob_descriptors() {
                        blobs.insert(blob.digest.clone(), blob.size);
                    }
                }
            }
        }
        for chart in &lock.charts {
            blobs.insert(chart.sha256.clone(), chart.size);
        }
        for file in &lock.files {
            blobs.insert(file.sha256.clone(), file.size);
        }
        Ok(Self {
            root: None,
            lock: Some(Digest::of_bytes(lock.to_text().as_bytes())),
            blobs,
        })
    }

    /// Whether the base holds a blob of that size.
    pub fn holds(&self, digest: &Digest, size: u64) -> bool {
        self.blobs.get(digest) == Some(&size)
    }
}
