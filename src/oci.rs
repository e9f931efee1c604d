//! OCI value types: digests, references, media types, descriptors and the
//! manifest shapes ferry reads and writes. No I/O happens here.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The OCI empty descriptor's media type (`{}` as config).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Helm chart config media type.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// Helm chart content layer media type.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Annotation holding an image's full original reference in `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation holding a file artifact's file name (ORAS convention).
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// Every `Accept` value ferry sends when fetching a manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Whether a media type is a manifest or index ferry can handle.
pub fn is_manifest_media_type(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST
    )
}

/// Whether a media type is a multi-platform index (OCI index or Docker manifest list).
pub fn is_index_media_type(media_type: &str) -> bool {
    matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST)
}

/// A `sha256:<hex>` content digest. Only SHA-256 is accepted.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

/// Why a string is not a valid digest.
#[derive(Debug, thiserror::Error)]
#[error("invalid digest `{value}`: expected `sha256:` followed by 64 lowercase hex characters")]
pub struct DigestParseError {
    value: String,
}

impl Digest {
    /// The digest of a byte slice.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(bytes).into())
    }

    /// Wraps a finished SHA-256 output.
    pub fn from_sha256(raw: [u8; 32]) -> Self {
        Self {
            hex: hex::encode(raw),
        }
    }

    /// Parses a bare 64-character hex string.
    pub fn from_hex(hex: &str) -> Result<Self, DigestParseError> {
        let valid = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Self {
                hex: hex.to_owned(),
            })
        } else {
            Err(DigestParseError {
                value: hex.to_owned(),
            })
        }
    }

    /// The 64 hex characters, without the algorithm prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = DigestParseError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.strip_prefix("sha256:") {
            Some(hex) => Self::from_hex(hex).map_err(|_| DigestParseError {
                value: value.to_owned(),
            }),
            None => Err(DigestParseError {
                value: value.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental SHA-256 that yields a [`Digest`].
#[derive(Default, Clone)]
pub struct Hasher(Sha256);

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self(Sha256::new())
    }
    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    /// Finishes into a digest.
    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.0.finalize().into())
    }
}

/// Registry host used for references without a domain.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed image reference: `registry/repository[:tag][@digest]`, normalised
/// the way Docker does (`nginx` is `docker.io/library/nginx`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Reference {
    /// Registry host, with port if any (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Repository path inside the registry (`library/nginx`).
    pub repository: String,
    /// Tag, if the reference names one.
    pub tag: Option<String>,
    /// Digest, if the reference pins one.
    pub digest: Option<Digest>,
}

/// Why a string is not a valid image reference.
#[derive(Debug, thiserror::Error)]
#[error("invalid image reference `{value}`: {reason}")]
pub struct ReferenceParseError {
    value: String,
    reason: &'static str,
}

fn valid_path_component(component: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, checked loosely but without allowing
    // anything a registry would reject or a path could abuse.
    !component.is_empty()
        && component.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
        && component
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && component
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Whether a string is a valid tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Turns a version into a valid tag (Helm's convention: `+` becomes `_`;
/// anything else outside the tag alphabet becomes `-`).
pub fn sanitize_tag(version: &str) -> String {
    let tag: String = version
        .chars()
        .take(128)
        .map(|c| match c {
            '+' => '_',
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') => c,
            _ => '-',
        })
        .collect();
    if valid_tag(&tag) {
        tag
    } else {
        format!("v{}", tag.chars().take(127).collect::<String>())
    }
}

impl FromStr for Reference {
    type Err = ReferenceParseError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ReferenceParseError {
            value: value.to_owned(),
            reason,
        };
        let (name, digest) = match value.split_once('@') {
            Some((name, digest)) => (
                name,
                Some(
                    digest
                        .parse::<Digest>()
                        .map_err(|_| fail("the part after `@` is not a sha256 digest"))?,
                ),
            ),
            None => (value, None),
        };
        // A tag is the part after the last ':' when that part has no '/'.
        let (name, tag) = match name.rsplit_once(':') {
            Some((head, tail)) if !tail.contains('/') => (head, Some(tail.to_owned())),
            _ => (name, None),
        };
        if let Some(tag) = &tag {
            if !valid_tag(tag) {
                return Err(fail("invalid tag"));
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest.to_owned())
            }
            Some(_) => (DOCKER_HUB.to_owned(), name.to_owned()),
            None => (DOCKER_HUB.to_owned(), format!("library/{name}")),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_owned()
        } else {
            registry
        };
        if repository.is_empty() || !repository.split('/').all(valid_path_component) {
            return Err(fail(
                "repository path must be lowercase letters, digits and separators",
            ));
        }
        if tag.is_none() && digest.is_none() {
            return Err(fail(
                "a tag or a digest is required (ferry never assumes `latest`)",
            ));
        }
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }
}

impl Reference {
    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag, or the digest when there is no tag: what to ask the registry for.
    pub fn tag_or_digest(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => String::new(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// An OCI platform (`linux/amd64`, `linux/arm64/v8`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub architecture: String,
    /// CPU variant (`v8`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Why a string is not a platform.
#[derive(Debug, thiserror::Error)]
#[error("invalid platform `{0}`: expected `os/arch` or `os/arch/variant`, e.g. `linux/amd64`")]
pub struct PlatformParseError(String);

impl FromStr for Platform {
    type Err = PlatformParseError;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = value.split('/').collect();
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Self {
                os: (*os).to_owned(),
                architecture: (*arch).to_owned(),
                variant: Some((*variant).to_owned()),
            }),
            _ => Err(PlatformParseError(value.to_owned())),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl Platform {
    /// Whether a manifest for `other` serves this platform. A wanted platform
    /// without a variant accepts any variant; `arm64` treats a missing variant as `v8`.
    pub fn matches(&self, other: &Platform) -> bool {
        if self.os != other.os || self.architecture != other.architecture {
            return false;
        }
        match (&self.variant, &other.variant) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            (Some(want), None) => self.architecture == "arm64" && want == "v8",
        }
    }
}

/// A content descriptor, as found in manifests and indexes.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Platform, for index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type, for artifact manifests listed in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// A descriptor for bytes of a given media type.
    pub fn for_bytes(media_type: &str, bytes: &[u8]) -> Self {
        Self {
            media_type: media_type.to_owned(),
            digest: Digest::of_bytes(bytes),
            size: bytes.len() as u64,
            platform: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }
}

/// The fields of a manifest or index that ferry reads. Unknown fields are
/// ignored; the original bytes are always what gets stored and served.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestView {
    /// Schema version (2 for everything ferry handles).
    #[serde(default)]
    pub schema_version: Option<u32>,
    /// Declared media type, if present.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Index entries.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Image config.
    #[serde(default)]
    pub config: Option<Descriptor>,
    /// Layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// OCI 1.1 subject.
    #[serde(default)]
    pub subject: Option<Descriptor>,
    /// Artifact type.
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// Why bytes are not a manifest ferry can read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON of the expected shape.
    #[error("not a valid manifest: {0}")]
    Json(#[from] serde_json::Error),
    /// A Docker schema 1 manifest (deprecated, unsigned).
    #[error("Docker schema 1 manifests are not supported; ask the registry for schema 2 or OCI")]
    Schema1,
}

impl ManifestView {
    /// Parses manifest bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let view: Self = serde_json::from_slice(bytes)?;
        if view.schema_version == Some(1) {
            return Err(ManifestError::Schema1);
        }
        Ok(view)
    }

    /// Whether this is an index (has `manifests`, no `config`).
    pub fn is_index(&self) -> bool {
        self.config.is_none()
            && (self.media_type.as_deref().is_some_and(is_index_media_type)
                || !self.manifests.is_empty())
    }

    /// Every blob (non-manifest) descriptor this manifest references directly.
    pub fn blob_descriptors(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter())
    }
}

/// An OCI image manifest as ferry writes it (for chart, file and metadata artifacts).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// Always [`OCI_MANIFEST`].
    pub media_type: String,
    /// Artifact type, if this is an artifact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Config descriptor.
    pub config: Descriptor,
    /// Layer descriptors.
    pub layers: Vec<Descriptor>,
    /// Subject (OCI 1.1 referrers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index as ferry writes it (the layout's `index.json` and the bundle root).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// Always [`OCI_INDEX`].
    #[serde(default)]
    pub media_type: Option<String>,
    /// Artifact type, if this is an artifact index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Entries.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Serialises a value as compact JSON: the canonical bytes ferry hashes.
pub fn to_canonical_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs and sorted maps cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_like_docker() {
        let r: Reference = "nginx:1.27".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/library/nginx:1.27");
        let r: Reference = "quay.io/ceph/ceph:v18@sha256:0000000000000000000000000000000000000000000000000000000000000000".parse().unwrap();
        assert_eq!(r.registry, "quay.io");
        assert_eq!(r.repository, "ceph/ceph");
        assert_eq!(r.tag.as_deref(), Some("v18"));
        assert!(r.digest.is_some());
        let r: Reference = "127.0.0.1:5000/a/b:c".parse().unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert!("nginx".parse::<Reference>().is_err(), "no tag is an error");
        assert!("Bad/Upper:1".parse::<Reference>().is_err());
        assert!("x/../y:1".parse::<Reference>().is_err());
    }

    #[test]
    fn platforms_match_variants() {
        let want: Platform = "linux/arm64".parse().unwrap();
        let have: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(want.matches(&have));
        assert!(!("linux/amd64".parse::<Platform>().unwrap()).matches(&have));
        assert!("linux".parse::<Platform>().is_err());
    }

    #[test]
    fn digests_validate() {
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!("md5:00".parse::<Digest>().is_err());
        let d = Digest::of_bytes(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
