//! Types the bundle stages share: build errors and bookkeeping (build,
//! archive, direct write) and the problems a verification finds (verify,
//! signatures). Each stage imports them from here, so no two stages import
//! each other.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

use crate::oci::Digest;
use crate::registry::RegistryError;
use crate::source::SourceError;
use crate::store::StoreError;
use crate::text::escape;

/// Build errors.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A registry or download failed.
    #[error("{what}")]
    Registry {
        /// What was being fetched.
        what: String,
        /// The cause.
        #[source]
        source: RegistryError,
    },
    /// A local source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Content in the cache or lock is inconsistent.
    #[error("{0}")]
    Invalid(String),
    /// Writing the archive failed.
    #[error("cannot write the bundle {path}")]
    Write {
        /// The archive path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Where a blob can be fetched from when the cache lacks it.
#[derive(Clone, Debug)]
pub(super) enum Origin {
    /// A `docker save` archive; its blobs are ingested whole when the cache lacks any.
    DockerArchive {
        path: PathBuf,
        reference: String,
    },
    Registry {
        registry: String,
        repository: String,
    },
    Layout(PathBuf),
    Url(String),
    LocalFile(PathBuf),
    /// Built into the cache by this build (ferry's own image).
    Built,
}

pub(super) struct Needed {
    pub(super) size: Option<u64>,
    pub(super) origin: Origin,
    /// The lock entry that records this blob's sha256 itself (a file, a
    /// chart archive), named for messages; `None` for blobs a manifest names.
    pub(super) entry: Option<String>,
}

/// What a build fetched.
#[derive(Default)]
pub(super) struct Counters {
    /// Blobs fetched.
    pub(super) blobs: AtomicUsize,
    /// Bytes fetched.
    pub(super) bytes: AtomicU64,
    /// Blobs hashed on their way into the cache during this build: the
    /// archive writer need not hash them again.
    verified: std::sync::Mutex<std::collections::HashSet<Digest>>,
}

impl Counters {
    /// The blobs verified on their way in during this build.
    pub(super) fn verified(&self) -> std::collections::HashSet<Digest> {
        self.verified.lock().map(|v| v.clone()).unwrap_or_default()
    }

    pub(super) fn fetched(&self, digest: &Digest, size: u64) {
        self.blobs.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size, Ordering::Relaxed);
        if let Ok(mut verified) = self.verified.lock() {
            verified.insert(digest.clone());
        }
    }
}

/// One thing wrong with a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum Problem {
    /// A blob's content does not match its name.
    Altered {
        /// The digest its path names.
        digest: Digest,
        /// What it hashes to.
        actual: Digest,
        /// Who references it.
        used_by: String,
    },
    /// A referenced blob is absent.
    Missing {
        /// The blob.
        digest: Digest,
        /// Who references it.
        used_by: String,
    },
    /// A blob has another size than its descriptor says.
    WrongSize {
        /// The blob.
        digest: Digest,
        /// Descriptor size.
        expected: u64,
        /// Actual size.
        actual: u64,
        /// Who references it.
        used_by: String,
    },
    /// A blob nothing references.
    Extra {
        /// The blob.
        digest: Digest,
    },
    /// An entry that does not belong in an OCI layout (stray file, link, `..`).
    UnexpectedEntry {
        /// Its name.
        name: String,
    },
    /// `index.json`, `oci-layout`, the root or the lock is invalid or disagrees.
    Invalid {
        /// What is wrong.
        detail: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Altered {
                digest,
                actual,
                used_by,
            } => write!(
                f,
                "blob {digest} ({}) was altered: its content hashes to {actual}",
                escape(used_by)
            ),
            Self::Missing { digest, used_by } => {
                write!(f, "blob {digest} ({}) is missing", escape(used_by))
            }
            Self::WrongSize {
                digest,
                expected,
                actual,
                used_by,
            } => write!(
                f,
                "blob {digest} ({}) is {actual} bytes, its descriptor says {expected}",
                escape(used_by)
            ),
            Self::Extra { digest } => write!(
                f,
                "blob {digest} is not referenced by the bundle (extra content)"
            ),
            Self::UnexpectedEntry { name } => {
                write!(f, "entry `{}` does not belong in a bundle", escape(name))
            }
            Self::Invalid { detail } => f.write_str(&escape(detail)),
        }
    }
}
