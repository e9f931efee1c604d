//! The image map: where each artifact of a bundle went when it was pushed.
//!
//! `ferry push` writes it (a JSON array, one entry per artifact: original
//! reference, target reference, digest, kind); `ferry render` and
//! `ferry deploy` read it to point every image a manifest runs at the copy in
//! the target registry, pinned by digest.
//!
//! A rendered image is matched to an entry exactly (same registry,
//! repository, tag and digest where given), else by repository name and tag
//! when exactly one image entry has them: charts are often configured to pull
//! from a rewritten registry (`registry.k-paas.org/k8s/kube-proxy:v1.32.5`
//! for `registry.k8s.io/kube-proxy:v1.32.5`), and the name and tag still say
//! which carried image is meant.

use std::fmt;
use std::io::Write as _;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::oci::{Digest, Reference};

/// What kind of artifact an entry maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// A container image (manifest or index).
    Image,
    /// A Helm chart stored as an OCI artifact.
    Chart,
    /// A node file (binary, archive) stored as an OCI artifact.
    File,
    /// The bundle's metadata manifest (lock and spec).
    Metadata,
    /// A signature of the bundle.
    Signature,
    /// The bundle's root index (the signed identity), in the bundle's repository.
    Root,
}

impl ArtifactKind {
    /// The name used in the image map and in bundle entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Chart => "chart",
            Self::File => "file",
            Self::Metadata => "metadata",
            Self::Signature => "signature",
            Self::Root => "root",
        }
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An artifact kind name that is none of the known ones.
#[derive(Debug, thiserror::Error)]
#[error("unknown artifact kind `{0}` (expected image, chart, file, metadata, signature or root)")]
pub struct UnknownKind(pub String);

impl FromStr for ArtifactKind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "image" => Self::Image,
            "chart" => Self::Chart,
            "file" => Self::File,
            "metadata" => Self::Metadata,
            "signature" => Self::Signature,
            "root" => Self::Root,
            other => return Err(UnknownKind(other.to_owned())),
        })
    }
}

/// One mapped artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapEntry {
    /// Original reference (`docker.io/library/nginx:1.27`).
    pub original: String,
    /// Target reference with tag (`harbor.example/platform/library/nginx:1.27`).
    pub target: String,
    /// The manifest or index digest, the same on both sides.
    pub digest: Digest,
    /// What the artifact is.
    pub kind: ArtifactKind,
}

impl MapEntry {
    /// The reference a cluster pulls: the target pinned by the digest.
    pub fn pinned_target(&self) -> String {
        let target = self
            .target
            .split_once('@')
            .map_or(self.target.as_str(), |(t, _)| t);
        format!("{target}@{}", self.digest)
    }
}

/// Image map errors.
#[derive(Debug, thiserror::Error)]
pub enum ImageMapError {
    /// The file could not be read or written.
    #[error("image map {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not an image map.
    #[error(
        "{path} is not an image map (a JSON array written by `ferry push --image-map`): {source}"
    )]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// How a rendered image reference resolved against the map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution<'a> {
    /// The entry with the same registry, repository and tag/digest.
    Exact(&'a MapEntry),
    /// The only image entry with the same repository name and tag.
    ByName(&'a MapEntry),
    /// More than one image entry has the name and tag: which one is meant is unknown.
    Ambiguous(Vec<&'a MapEntry>),
    /// No entry carries it.
    Unknown,
}

impl<'a> Resolution<'a> {
    /// The entry, when the resolution found exactly one.
    pub fn entry(&self) -> Option<&'a MapEntry> {
        match self {
            Self::Exact(entry) | Self::ByName(entry) => Some(entry),
            Self::Ambiguous(_) | Self::Unknown => None,
        }
    }
}

/// Whether two references name the same image under a rewritten registry:
/// the same last repository segment and the same tag (a reference without a tag matches nothing).
pub fn same_name_and_tag(a: &Reference, b: &Reference) -> bool {
    let name = |r: &Reference| r.repository.rsplit('/').next().map(str::to_owned);
    a.tag.is_some() && a.tag == b.tag && name(a) == name(b)
}

/// The image map of one push.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImageMap {
    entries: Vec<MapEntry>,
}

impl ImageMap {
    /// A map of these entries.
    pub fn new(entries: Vec<MapEntry>) -> Self {
        Self { entries }
    }

    /// Every entry, in push order.
    pub fn entries(&self) -> &[MapEntry] {
        &self.entries
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads a map `ferry push` wrote.
    pub fn read(path: &Path) -> Result<Self, ImageMapError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ImageMapError::Io {
            path: shown.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| ImageMapError::Parse {
            path: shown,
            source,
        })
    }

    /// Writes the map atomically (a temporary file renamed into place).
    pub fn write(&self, path: &Path) -> Result<(), ImageMapError> {
        let io = |source| ImageMapError::Io {
            path: path.display().to_string(),
            source,
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        let text = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        file.write_all(&text).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// Resolves an image reference as a manifest names it.
    pub fn resolve(&self, image: &str) -> Resolution<'_> {
        let Ok(wanted) = image.parse::<Reference>() else {
            return Resolution::Unknown;
        };
        let images = || {
            self.entries
                .iter()
                .filter(|e| e.kind == ArtifactKind::Image)
                .filter_map(|e| Some((e, e.original.parse::<Reference>().ok()?)))
        };
        if let Some((entry, _)) = images().find(|(_, original)| {
            original.registry == wanted.registry
                && original.repository == wanted.repository
                && (wanted.tag.is_none() || original.tag == wanted.tag)
                && (wanted.digest.is_none() || original.digest == wanted.digest)
        }) {
            return Resolution::Exact(entry);
        }
        // Already the pushed copy: the target pinned by its digest.
        if let Some((entry, _)) = images().find(|(entry, _)| {
            wanted.digest.as_ref() == Some(&entry.digest)
                && entry.target.split(['@', ':']).next()
                    == Some(&format!("{}/{}", wanted.registry, wanted.repository))
        }) {
            return Resolution::Exact(entry);
        }
        if let Some(digest) = &wanted.digest {
            let same: Vec<&MapEntry> = images()
                .filter(|(entry, _)| &entry.digest == digest)
                .map(|(entry, _)| entry)
                .collect();
            if same.len() == 1 {
                return Resolution::ByName(same[0]);
            }
        }
        let matches: Vec<&MapEntry> = images()
            .filter(|(_, original)| same_name_and_tag(original, &wanted))
            .map(|(entry, _)| entry)
            .collect();
        match matches.len() {
            0 => Resolution::Unknown,
            1 => Resolution::ByName(matches[0]),
            _ => Resolution::Ambiguous(matches),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(original: &str, target: &str, bytes: &[u8]) -> MapEntry {
        MapEntry {
            original: original.into(),
            target: target.into(),
            digest: Digest::of_bytes(bytes),
            kind: ArtifactKind::Image,
        }
    }

    #[test]
    fn resolves_exactly_then_by_unique_name_and_tag() {
        let map = ImageMap::new(vec![
            entry(
                "registry.k8s.io/kube-proxy:v1.32.5",
                "harbor.example/k8s/kube-proxy:v1.32.5",
                b"proxy",
            ),
            entry(
                "docker.io/library/nginx:1.27",
                "harbor.example/library/nginx:1.27",
                b"nginx-a",
            ),
            entry(
                "quay.io/other/nginx:1.27",
                "harbor.example/other/nginx:1.27",
                b"nginx-b",
            ),
        ]);
        assert!(matches!(
            map.resolve("nginx:1.27"),
            Resolution::Exact(e) if e.original == "docker.io/library/nginx:1.27"
        ));
        assert!(matches!(
            map.resolve("registry.k-paas.org/k8s/kube-proxy:v1.32.5"),
            Resolution::ByName(e) if e.original == "registry.k8s.io/kube-proxy:v1.32.5"
        ));
        assert!(matches!(
            map.resolve("example.org/nginx:1.27"),
            Resolution::Ambiguous(list) if list.len() == 2
        ));
        assert_eq!(
            map.resolve("registry.k8s.io/pause:3.10"),
            Resolution::Unknown
        );
        let pinned = map.entries()[0].pinned_target();
        assert_eq!(
            map.resolve(&pinned).entry().map(|e| e.original.as_str()),
            Some("registry.k8s.io/kube-proxy:v1.32.5")
        );
    }

    #[test]
    fn reads_what_it_writes_and_names_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.json");
        let map = ImageMap::new(vec![entry("a.io/x:1", "h/x:1", b"x")]);
        map.write(&path).unwrap();
        assert_eq!(ImageMap::read(&path).unwrap(), map);
        std::fs::write(&path, b"{\"not\": \"a list\"}").unwrap();
        let err = ImageMap::read(&path).unwrap_err().to_string();
        assert!(err.contains("is not an image map"), "{err}");
        let text = "[{\"original\":\"a\",\"target\":\"b\",\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",\"kind\":\"blob\"}]";
        std::fs::write(&path, text).unwrap();
        assert!(ImageMap::read(&path).is_err());
    }
}
