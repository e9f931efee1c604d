//! The lockfile: every image, chart and file of a spec pinned by digest.
//!
//! A lock separates intent (the spec, fingerprinted) from resolution (the
//! pinned entries). Entries are sorted by (component, address), so an
//! unchanged spec against unchanged upstreams rewrites a byte-identical file,
//! and a diff of two locks reads as the change it is.

mod check;
mod resolve;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use self::resolve::{resolve, ResolveError, ResolveOptions};
use crate::oci::Digest;
use crate::spec::Spec;

/// Lockfile format version; bumped on breaking changes.
pub const LOCK_VERSION: u32 = 1;

/// A resolved lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Lock {
    /// Format version, [`LOCK_VERSION`].
    pub version: u32,
    /// Bundle name.
    pub bundle: String,
    /// Bundle release version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_version: Option<String>,
    /// SHA-256 of the composed spec's canonical JSON.
    pub spec_fingerprint: Digest,
    /// Platforms carried.
    pub platforms: Vec<String>,
    /// Components with their licences and fingerprints.
    #[serde(default, rename = "component")]
    pub components: Vec<LockedComponent>,
    /// Images.
    #[serde(default, rename = "image")]
    pub images: Vec<LockedImage>,
    /// Charts.
    #[serde(default, rename = "chart")]
    pub charts: Vec<LockedChart>,
    /// Files.
    #[serde(default, rename = "file")]
    pub files: Vec<LockedFile>,
    /// ferry's own image, when the spec carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ferry_image: Option<LockedFerryImage>,
}

/// ferry's own image as locked.
///
/// A lockfile names it by ferry's version and its inputs, never by the
/// digest of the running binary (which changes at every code change): a
/// `self` binary is whichever ferry of that version builds the bundle, a
/// file binary is pinned by SHA-256. The lock a bundle embeds adds what the
/// build produced: the image digest, each binary's SHA-256 and the CA file's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedFerryImage {
    /// ferry's version; `build --locked` refuses a `self` binary of another.
    pub version: String,
    /// The reference it is carried under (`ferry.local/ferry:<version>`).
    pub reference: String,
    /// The CA certificates: `host` (the build host's file) or `file:<path>`.
    pub ca_certificates: String,
    /// SHA-256 of a `file:` CA file; in a bundle's lock, of the one used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_sha256: Option<Digest>,
    /// In a bundle's lock: the image index digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// In a bundle's lock: the image index media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// In a bundle's lock: the image index size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// In a bundle's lock: what the operator was warned about.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// One binary per platform.
    #[serde(default, rename = "binary")]
    pub binaries: Vec<LockedFerryBinary>,
}

/// One platform's ferry binary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedFerryBinary {
    /// `linux/amd64`.
    pub platform: String,
    /// `self` (the ferry that builds, or `build --ferry-binary`) or `file:<path>`.
    pub source: String,
    /// SHA-256 of a `file:` binary; in a bundle's lock, of the one used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
    /// In a bundle's lock: the platform's manifest digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Digest>,
    /// In a bundle's lock: the platform's manifest size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_size: Option<u64>,
    /// In a bundle's lock: whether the binary is statically linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statically_linked: Option<bool>,
}

impl LockedFerryImage {
    /// In a bundle's lock: ferry's image as a locked image like any other
    /// (component `ferry`), with the platforms it was built for.
    pub fn as_image(&self) -> Option<LockedImage> {
        Some(LockedImage {
            component: crate::ferry_image::COMPONENT.to_owned(),
            reference: self.reference.clone(),
            digest: self.digest.clone()?,
            media_type: self.media_type.clone()?,
            size: self.size?,
            source: Some("ferry-image".to_owned()),
            from_chart: None,
            platforms: self
                .binaries
                .iter()
                .filter_map(|b| {
                    Some(LockedPlatform {
                        platform: b.platform.clone(),
                        digest: b.manifest.clone()?,
                        media_type: crate::oci::OCI_MANIFEST.to_owned(),
                        size: b.manifest_size?,
                    })
                })
                .collect(),
        })
    }
}

impl Lock {
    /// Every image the bundle of this lock carries: the locked images, and
    /// ferry's own once built (in a bundle's lock).
    pub fn carried_images(&self) -> Vec<LockedImage> {
        let mut images = self.images.clone();
        images.extend(
            self.ferry_image
                .as_ref()
                .and_then(LockedFerryImage::as_image),
        );
        images
    }
}

/// A component as locked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedComponent {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SPDX licence.
    pub license: String,
    /// SHA-256 of the component's canonical JSON (manifest and values).
    pub fingerprint: Digest,
}

/// An image pinned to its manifest or index digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedImage {
    /// Component carrying it.
    pub component: String,
    /// Original reference (normalised), as written in the spec.
    pub reference: String,
    /// Digest of the manifest or index the reference resolved to.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Local source (`layout:<dir>#<ref>`), absent for registry images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// For an image the spec does not list but a chart of the component
    /// runs (`ferry lock --add-chart-images`): that chart, `<name> <version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_chart: Option<String>,
    /// The per-platform manifests kept (for a single manifest: itself).
    #[serde(default, rename = "platform")]
    pub platforms: Vec<LockedPlatform>,
}

/// One platform's manifest of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedPlatform {
    /// `linux/amd64`, or `unknown` for a manifest whose config names none.
    pub platform: String,
    /// Manifest digest.
    pub digest: Digest,
    /// Manifest media type.
    pub media_type: String,
    /// Manifest size.
    pub size: u64,
}

/// A chart pinned to its archive's SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedChart {
    /// Component carrying it.
    pub component: String,
    /// Chart name.
    pub name: String,
    /// Chart version.
    pub version: String,
    /// Repository as written in the spec (`oci://…`, URL, or local directory).
    pub repo: String,
    /// Where the archive was downloaded from (`file:` for local repositories,
    /// the manifest reference for OCI charts).
    pub url: String,
    /// SHA-256 of the chart archive (`.tgz`).
    pub sha256: Digest,
    /// Archive size.
    pub size: u64,
    /// For `oci://` charts: the chart manifest's digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci_digest: Option<Digest>,
}

/// A file pinned to its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LockedFile {
    /// Component carrying it.
    pub component: String,
    /// File name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Platform, absent when one file serves all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Download URL (or `file:` path relative to the spec).
    pub url: String,
    /// SHA-256 of the content.
    pub sha256: Digest,
    /// Size in bytes.
    pub size: u64,
}

/// Errors reading, writing or trusting a lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lockfile could not be read or written.
    #[error("lockfile {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The lockfile is not valid.
    #[error("lockfile {path} is invalid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// The lock no longer describes the spec.
    #[error("lockfile {path} is stale: {reason}\nhint: run `ferry lock {spec}` to update it")]
    Stale {
        /// The lockfile.
        path: PathBuf,
        /// The spec.
        spec: String,
        /// Which entry is stale.
        reason: String,
    },
    /// The lock's entries contradict each other or the spec they lock.
    #[error("lockfile {path} is inconsistent: {reason}\nhint: the lock was edited or damaged; run `ferry lock {spec}` to write it again")]
    Inconsistent {
        /// The lockfile.
        path: PathBuf,
        /// The spec.
        spec: String,
        /// Which entry is wrong.
        reason: String,
    },
}

const HEADER: &str = "# This file is written by `ferry lock`. Do not edit it by hand.\n";

impl Lock {
    /// The default lockfile for a spec: `<spec dir>/../lockfiles/<name>.lock`.
    pub fn default_path(spec: &Spec) -> PathBuf {
        crate::spec::normalize(
            &spec
                .root
                .join("..")
                .join("lockfiles")
                .join(format!("{}.lock", spec.name)),
        )
    }

    /// Reads and validates a lockfile.
    pub fn read(path: &Path) -> Result<Self, LockError> {
        let text = std::fs::read_to_string(path).map_err(|source| LockError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses lockfile text (`path` is for messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self, LockError> {
        let lock: Self = toml::from_str(text).map_err(|error| LockError::Invalid {
            path: path.to_owned(),
            message: error.to_string(),
        })?;
        if lock.version != LOCK_VERSION {
            return Err(LockError::Invalid {
                path: path.to_owned(),
                message: format!(
                    "lock format version {} is not supported (this ferry writes {LOCK_VERSION})",
                    lock.version
                ),
            });
        }
        Ok(lock)
    }

    /// The canonical text of the lock.
    pub fn to_text(&self) -> String {
        // Serialising these plain structs to TOML cannot fail.
        let body = toml::to_string(self).unwrap_or_default();
        format!("{HEADER}{body}")
    }

    /// Writes the lock atomically (temporary file, then rename).
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let io = |source| LockError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut temp, self.to_text().as_bytes()).map_err(io)?;
        temp.persist(path).map_err(|error| io(error.error))?;
        Ok(())
    }

    /// [`Lock::check_fresh`], then [`Lock::check_against`] the spec: what
    /// `build --locked` requires before anything is fetched.
    pub fn check_usable(&self, spec: &Spec, path: &Path) -> Result<(), LockError> {
        self.check_fresh(spec, path)?;
        self.check_against(spec)
            .map_err(|reason| LockError::Inconsistent {
                path: path.to_owned(),
                spec: spec.path.display().to_string(),
                reason,
            })
    }

    /// Fails, naming the first stale entry, when the lock no longer matches the spec.
    pub fn check_fresh(&self, spec: &Spec, path: &Path) -> Result<(), LockError> {
        if self.spec_fingerprint == spec.fingerprint() {
            return Ok(());
        }
        let stale = |reason: String| LockError::Stale {
            path: path.to_owned(),
            spec: spec.path.display().to_string(),
            reason,
        };
        if self.bundle != spec.name {
            return Err(stale(format!(
                "it locks bundle `{}`, the spec is `{}`",
                self.bundle, spec.name
            )));
        }
        let platforms: Vec<String> = spec.platforms.iter().map(ToString::to_string).collect();
        if platforms != self.platforms {
            return Err(stale(format!(
                "platforms changed from [{}] to [{}]",
                self.platforms.join(", "),
                platforms.join(", ")
            )));
        }
        for component in &spec.components {
            match self.components.iter().find(|c| c.name == component.name) {
                None => {
                    return Err(stale(format!(
                        "component `{}` is in the spec but not in the lock",
                        component.name
                    )))
                }
                Some(locked) if locked.version != component.version => {
                    return Err(stale(format!(
                        "component `{}` is {} in the spec but {} in the lock",
                        component.name, component.version, locked.version
                    )))
                }
                Some(locked) if locked.fingerprint != component.fingerprint() => {
                    let detail = self
                        .first_missing_entry(component)
                        .unwrap_or_else(|| "its manifest or values changed".to_owned());
                    return Err(stale(format!("component `{}`: {detail}", component.name)));
                }
                Some(_) => {}
            }
        }
        for locked in &self.components {
            if !spec.components.iter().any(|c| c.name == locked.name) {
                return Err(stale(format!(
                    "component `{}` is in the lock but no longer in the spec",
                    locked.name
                )));
            }
        }
        Err(stale("the spec's fingerprint changed".to_owned()))
    }

    fn first_missing_entry(&self, component: &crate::spec::Component) -> Option<String> {
        for image in &component.images {
            let reference = image.reference.to_string();
            if !self
                .images
                .iter()
                .any(|i| i.component == component.name && i.reference == reference)
            {
                return Some(format!("image {reference} is not in the lock"));
            }
        }
        for chart in &component.charts {
            if !self.charts.iter().any(|c| {
                c.component == component.name && c.name == chart.name && c.version == chart.version
            }) {
                return Some(format!(
                    "chart {} {} is not in the lock",
                    chart.name, chart.version
                ));
            }
        }
        for file in &component.files {
            if !self
                .files
                .iter()
                .any(|f| f.component == component.name && f.url == file.url)
            {
                return Some(format!(
                    "file {} ({}) is not in the lock",
                    file.name, file.url
                ));
            }
        }
        None
    }
}
