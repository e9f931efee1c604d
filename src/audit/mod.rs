//! Audits: what a lock or bundle carries and how it relates to its upstreams
//! and to other locks or bundles.
//!
//! - [`sbom`]: the CycloneDX 1.5 SBOM every bundle embeds (derived from the
//!   lock and the composed spec alone, so it is deterministic);
//! - [`licenses`]: the open-source list (component, version, upstream, licence);
//! - [`diff`]: what changed between two locks or two bundles, and how many
//!   bytes the newer one adds;
//! - [`drift`]: every locked entry resolved again against its upstream, without
//!   touching the lockfile, and the differences reported.
//!
//! [`Material`] reads any of the inputs these work on: a spec, a lockfile or a
//! bundle (archive or layout directory), detected by content.

pub mod diff;
pub mod drift;
pub mod licenses;
pub mod sbom;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bundle::{
    scan, BundleSpec, ScanError, ScanOptions, LOCK_MEDIA_TYPE, METADATA_ARTIFACT_TYPE,
    ROOT_ARTIFACT_TYPE, SPEC_MEDIA_TYPE,
};
use crate::lock::{Lock, LockError};
use crate::oci::{Digest, ImageIndex, ManifestView};
use crate::progress::Progress;
use crate::spec::{Spec, SpecError};

pub use crate::bundle::SBOM_MEDIA_TYPE;

/// Errors of the audit commands.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file could not be read or written.
    #[error("cannot access {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A lockfile is invalid.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// A spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A bundle could not be read.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// A bundle lacks something every bundle has, or holds it malformed.
    #[error("bundle {path}: {detail}")]
    Bundle {
        /// The bundle.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// An input is not what the command accepts.
    #[error("{path}: {detail}")]
    Input {
        /// The input.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The cache used for re-resolution failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What kind of file an input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// A bundle spec (YAML).
    Spec,
    /// A lockfile (TOML).
    Lock,
    /// A bundle archive or OCI layout directory.
    Bundle,
}

/// The composed spec of a loaded spec file, as a bundle would embed it.
fn spec_of(spec: &Spec) -> Result<BundleSpec, AuditError> {
    BundleSpec::from_json(&spec.canonical_json()).map_err(|e| AuditError::Input {
        path: spec.path.clone(),
        detail: e.to_string(),
    })
}

/// A spec, lock or bundle, read for auditing.
#[derive(Clone, Debug)]
pub struct Material {
    /// Where it was read from.
    pub path: PathBuf,
    /// What it is.
    pub kind: InputKind,
    /// The lock (embedded, for a bundle); `None` for a spec.
    pub lock: Option<Lock>,
    /// The composed spec (embedded in a bundle, loaded for a spec, found for a lock).
    pub spec: Option<BundleSpec>,
    /// The SBOM embedded in a bundle (absent in bundles built before SBOMs).
    pub sbom: Option<Vec<u8>>,
    /// A bundle's blobs and their sizes.
    pub blobs: Option<BTreeMap<Digest, u64>>,
    /// A bundle's root digest.
    pub root: Option<Digest>,
}

impl Material {
    /// Reads a spec, lockfile or bundle, detected by content. For a lock,
    /// `spec` (or, when absent, the spec at `<lock dir>/../bundles/<name>.yaml`
    /// if its fingerprint is the lock's) supplies what only specs know
    /// (upstream projects).
    pub fn open(
        path: &Path,
        spec: Option<&Path>,
        progress: &dyn Progress,
    ) -> Result<Self, AuditError> {
        match detect(path)? {
            InputKind::Bundle => read_bundle(path, progress),
            InputKind::Lock => {
                let lock = Lock::read(path)?;
                let summary = match spec {
                    Some(spec) => Some(spec_of(&Spec::load(spec)?)?),
                    None => discover_spec(path, &lock),
                };
                Ok(Self {
                    path: path.to_owned(),
                    kind: InputKind::Lock,
                    lock: Some(lock),
                    spec: summary,
                    sbom: None,
                    blobs: None,
                    root: None,
                })
            }
            InputKind::Spec => {
                let loaded = Spec::load(path)?;
                Ok(Self {
                    path: path.to_owned(),
                    kind: InputKind::Spec,
                    lock: None,
                    spec: Some(spec_of(&loaded)?),
                    sbom: None,
                    blobs: None,
                    root: None,
                })
            }
        }
    }

    /// The lock, or an error naming the input when it is a spec.
    pub fn require_lock(&self, command: &str) -> Result<&Lock, AuditError> {
        self.lock.as_ref().ok_or_else(|| AuditError::Input {
            path: self.path.clone(),
            detail: format!("`{command}` needs a lockfile or a bundle, not a spec"),
        })
    }
}

/// The largest spec or lockfile `detect` reads as text.
const MAX_TEXT_INPUT: u64 = 64 << 20;

/// Detects whether `path` is a bundle, a lockfile or a spec.
pub fn detect(path: &Path) -> Result<InputKind, AuditError> {
    let io = |source| AuditError::Io {
        path: path.to_owned(),
        source,
    };
    if path.is_dir() {
        if path.join("index.json").is_file() {
            return Ok(InputKind::Bundle);
        }
        return Err(AuditError::Input {
            path: path.to_owned(),
            detail: "a directory without `index.json` is not a bundle layout".to_owned(),
        });
    }
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(path)
        .map_err(io)?
        .take(512)
        .read_to_end(&mut head)
        .map_err(io)?;
    let compressed = head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) || head.starts_with(&[0x1f, 0x8b]);
    let tar = head.get(257..262) == Some(b"ustar".as_slice());
    if compressed || tar {
        return Ok(InputKind::Bundle);
    }
    let unknown = || AuditError::Input {
        path: path.to_owned(),
        detail: "not a bundle (archive or layout), a lockfile or a bundle spec".to_owned(),
    };
    // Specs and lockfiles are small: a large file that is no archive is neither.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_TEXT_INPUT + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_TEXT_INPUT {
        return Err(unknown());
    }
    let text = String::from_utf8(bytes).map_err(|_| unknown())?;
    if toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("spec-fingerprint")) {
        return Ok(InputKind::Lock);
    }
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    );
    // A spec says so at its top level (a document that only quotes one, indented, is not).
    let says_spec = crate::spec::depth::too_deep(&text).is_none()
        && serde_norway::from_str::<serde_json::Value>(&text)
            .is_ok_and(|v| v.get("kind").and_then(serde_json::Value::as_str) == Some("Bundle"));
    if yaml || says_spec {
        return Ok(InputKind::Spec);
    }
    Err(unknown())
}

/// The spec next to a lock (`<lock dir>/../bundles/<bundle>.yaml`), when it
/// is the one the lock was made from.
fn discover_spec(lock_path: &Path, lock: &Lock) -> Option<BundleSpec> {
    let dir = lock_path.parent()?;
    let candidate = dir
        .join("..")
        .join("bundles")
        .join(format!("{}.yaml", lock.bundle));
    let spec = Spec::load(&candidate).ok()?;
    (spec.fingerprint() == lock.spec_fingerprint)
        .then(|| spec_of(&spec).ok())
        .flatten()
}

fn read_bundle(path: &Path, progress: &dyn Progress) -> Result<Material, AuditError> {
    let scanned = scan(path, &ScanOptions::default(), progress)?;
    let bad = |detail: String| AuditError::Bundle {
        path: path.to_owned(),
        detail,
    };
    let index: ImageIndex = scanned
        .index_json
        .as_deref()
        .ok_or_else(|| bad("`index.json` is missing".to_owned()))
        .and_then(|b| {
            serde_json::from_slice(b).map_err(|e| bad(format!("`index.json` is invalid: {e}")))
        })?;
    let root = index
        .manifests
        .iter()
        .find(|d| d.artifact_type.as_deref() == Some(ROOT_ARTIFACT_TYPE))
        .map(|d| d.digest.clone())
        .ok_or_else(|| bad("`index.json` lists no bundle root".to_owned()))?;
    let small = |digest: &Digest, what: &str| {
        scanned
            .small
            .get(digest)
            .ok_or_else(|| bad(format!("{what} {digest} is missing")))
    };
    let root_index: ImageIndex = serde_json::from_slice(small(&root, "the bundle root")?)
        .map_err(|e| bad(format!("the bundle root is not an OCI index: {e}")))?;
    let metadata = root_index
        .manifests
        .iter()
        .find(|d| d.artifact_type.as_deref() == Some(METADATA_ARTIFACT_TYPE))
        .ok_or_else(|| bad("the bundle root lists no metadata manifest".to_owned()))?;
    let view = ManifestView::parse(small(&metadata.digest, "the metadata manifest")?)
        .map_err(|e| bad(format!("the metadata manifest is invalid: {e}")))?;
    let mut lock = None;
    let mut spec = None;
    let mut sbom = None;
    for layer in &view.layers {
        match layer.media_type.as_str() {
            LOCK_MEDIA_TYPE => {
                let bytes = small(&layer.digest, "the embedded lock")?;
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| bad("the embedded lock is not UTF-8".to_owned()))?;
                lock = Some(Lock::parse(text, Path::new("<embedded lock>"))?);
            }
            SPEC_MEDIA_TYPE => {
                let bytes = small(&layer.digest, "the embedded spec")?;
                spec = Some(
                    BundleSpec::from_json(bytes)
                        .map_err(|e| bad(format!("the embedded spec is invalid: {e}")))?,
                );
            }
            SBOM_MEDIA_TYPE => sbom = Some(small(&layer.digest, "the embedded SBOM")?.clone()),
            _ => {}
        }
    }
    let lock = lock.ok_or_else(|| bad("the metadata manifest holds no lock".to_owned()))?;
    Ok(Material {
        path: path.to_owned(),
        kind: InputKind::Bundle,
        lock: Some(lock),
        spec,
        sbom,
        blobs: Some(
            scanned
                .blobs
                .iter()
                .map(|(digest, entry)| (digest.clone(), entry.size))
                .collect(),
        ),
        root: Some(root),
    })
}
