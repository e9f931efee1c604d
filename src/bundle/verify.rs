//! Verification and inspection of a scanned bundle: the manifest graph from
//! the root, checked against the embedded lock, with every problem named.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use super::scan::{scan, ScanError, ScanOptions, Scanned};
pub use super::shared::Problem;
use super::*;
use crate::lock::Lock;
use crate::oci::{Digest, ImageIndex, ManifestView, ANNOTATION_REF_NAME};
use crate::progress::Progress;

/// Verification failed or could not run.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The bundle could not be read.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The bundle's signature is absent, untrusted or invalid.
    #[error("bundle {path} failed signature verification")]
    Signature {
        /// The bundle.
        path: String,
        /// Why.
        #[source]
        source: crate::sign::SignatureError,
    },
    /// The bundle has problems.
    #[error("bundle {path} failed verification ({} problem{}):{}", problems.len(), if problems.len() == 1 { "" } else { "s" }, problems.iter().map(|p| format!("\n  - {p}")).collect::<String>())]
    Problems {
        /// The bundle.
        path: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

/// A bundle that verified.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct VerifyReport {
    /// Bundle name.
    pub bundle: String,
    /// Root digest (the bundle's identity).
    pub root: Digest,
    /// Blobs checked.
    pub blobs: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// Images, charts and files.
    pub images: usize,
    /// Charts.
    pub charts: usize,
    /// Files.
    pub files: usize,
    /// Fingerprint (`sha256:` of the SPKI DER) of the trusted key whose
    /// signature over the root verified; `None` when the signature was not checked.
    pub signed_by: Option<String>,
    /// For a delta bundle: its base (root or lock digest).
    pub delta_base: Option<String>,
    /// For a delta bundle: blobs left out because the base carries them.
    pub blobs_from_base: usize,
}

/// Scans with re-hashing (optionally extracting) and checks the whole graph,
/// and the root's signature against `trust` (see [`crate::sign`]). A policy
/// with no key that does not allow unsigned bundles is refused before reading.
/// `path` may be an archive, an unpacked layout or a `*.parts.json` manifest.
pub fn verify(
    path: &Path,
    extract_to: Option<&Path>,
    trust: &crate::sign::TrustPolicy,
    progress: &dyn Progress,
) -> Result<(VerifyReport, Lock), VerifyError> {
    verify_full(path, extract_to, trust, progress).map(|(report, lock, _)| (report, lock))
}

/// [`verify`], also returning the signatures found (for the verified-state stamp).
pub(super) fn verify_full(
    path: &Path,
    extract_to: Option<&Path>,
    trust: &crate::sign::TrustPolicy,
    progress: &dyn Progress,
) -> Result<(VerifyReport, Lock, Vec<crate::sign::FoundSignature>), VerifyError> {
    let signature_error = |source| VerifyError::Signature {
        path: path.display().to_string(),
        source,
    };
    if !trust.is_usable() {
        return Err(signature_error(crate::sign::SignatureError::NoTrustedKeys));
    }
    let options = ScanOptions {
        hash: true,
        extract_to: extract_to.map(Path::to_owned),
    };
    let scanned = scan(path, &options, progress)?;
    let problems_of = |problems: Vec<Problem>| VerifyError::Problems {
        path: path.display().to_string(),
        problems,
    };
    let graph = Graph::check(&scanned).map_err(problems_of)?;
    let signed_by = crate::sign::check(&graph.signatures, &graph.lock.bundle, &graph.root, trust)
        .map_err(signature_error)?;
    if let Some(dir) = extract_to {
        // The layout's own files are written from the signed root, never
        // copied from the archive's unsigned bytes.
        write_layout_files(dir, &graph.layout_index)?;
    }
    Ok((
        VerifyReport {
            bundle: graph.lock.bundle.clone(),
            root: graph.root.clone(),
            blobs: scanned.blobs.len(),
            bytes: scanned.bytes,
            images: graph.lock.carried_images().len(),
            charts: graph.lock.charts.len(),
            files: graph.lock.files.len(),
            signed_by,
            delta_base: graph.delta.as_ref().and_then(|d| {
                d.base_root
                    .as_ref()
                    .or(d.base_lock.as_ref())
                    .map(ToString::to_string)
            }),
            blobs_from_base: graph.delta.as_ref().map_or(0, |d| d.omitted.len()),
        },
        graph.lock,
        graph.signatures,
    ))
}

fn write_layout_files(dir: &Path, index_json: &[u8]) -> Result<(), VerifyError> {
    for (name, bytes) in [
        ("oci-layout", super::archive::LAYOUT_MARKER),
        ("index.json", index_json),
    ] {
        let path = dir.join(name);
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, bytes))
            .map_err(|source| ScanError::Extract { path, source })?;
    }
    Ok(())
}

/// What a bundle carries, for people and for `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    /// Bundle name.
    pub bundle: String,
    /// Bundle version.
    pub version: Option<String>,
    /// Root digest.
    pub root: Digest,
    /// Total blob bytes.
    pub bytes: u64,
    /// Blobs.
    pub blobs: usize,
    /// Components (name, version, licence).
    pub components: Vec<crate::lock::LockedComponent>,
    /// Images with sizes.
    pub images: Vec<InspectedImage>,
    /// Charts.
    pub charts: Vec<crate::lock::LockedChart>,
    /// Files.
    pub files: Vec<crate::lock::LockedFile>,
}

/// An image in a bundle.
#[derive(Clone, Debug, Serialize)]
pub struct InspectedImage {
    /// Component.
    pub component: String,
    /// Original reference.
    pub reference: String,
    /// Manifest or index digest.
    pub digest: Digest,
    /// Platforms carried.
    pub platforms: Vec<String>,
    /// Bytes of all blobs the carried platforms use.
    pub size: u64,
}

/// Reads a bundle's contents without re-hashing blobs.
pub fn inspect(path: &Path, progress: &dyn Progress) -> Result<Inspection, VerifyError> {
    let scanned = scan(path, &ScanOptions::default(), progress)?;
    let graph = Graph::check(&scanned).map_err(|problems| VerifyError::Problems {
        path: path.display().to_string(),
        problems,
    })?;
    let images = graph
        .lock
        .carried_images()
        .iter()
        .map(|image| {
            let mut blobs = BTreeSet::new();
            for platform in &image.platforms {
                blobs.insert(platform.digest.clone());
                if let Some(view) = scanned
                    .small
                    .get(&platform.digest)
                    .and_then(|b| ManifestView::parse(b).ok())
                {
                    blobs.extend(view.blob_descriptors().map(|d| d.digest.clone()));
                }
            }
            blobs.insert(image.digest.clone());
            InspectedImage {
                component: image.component.clone(),
                reference: image.reference.clone(),
                digest: image.digest.clone(),
                platforms: image.platforms.iter().map(|p| p.platform.clone()).collect(),
                size: blobs
                    .iter()
                    .filter_map(|d| scanned.blobs.get(d))
                    .map(|b| b.size)
                    .sum(),
            }
        })
        .collect();
    Ok(Inspection {
        bundle: graph.lock.bundle.clone(),
        version: graph.lock.bundle_version.clone(),
        root: graph.root.clone(),
        bytes: scanned.bytes,
        blobs: scanned.blobs.len(),
        components: graph.lock.components.clone(),
        images,
        charts: graph.lock.charts.clone(),
        files: graph.lock.files.clone(),
    })
}

/// The checked manifest graph.
struct Graph {
    root: Digest,
    lock: Lock,
    /// Signatures of the root (structurally checked, not yet against keys).
    signatures: Vec<crate::sign::FoundSignature>,
    /// For a delta bundle: what it leaves to its base.
    delta: Option<super::delta::DeltaRecord>,
    /// The `index.json` bytes the signed root dictates (what `unpack` writes).
    layout_index: Vec<u8>,
}

impl Graph {
    fn check(scanned: &Scanned) -> Result<Self, Vec<Problem>> {
        let mut problems: Vec<Problem> = scanned
            .unexpected
            .iter()
            .map(|name| Problem::UnexpectedEntry { name: name.clone() })
            .collect();
        let invalid = |detail: String| Problem::Invalid { detail };
        match scanned
            .oci_layout
            .as_deref()
            .map(serde_json::from_slice::<serde_json::Value>)
        {
            Some(Ok(value)) if value.get("imageLayoutVersion").is_some() => {}
            Some(_) => problems.push(invalid(
                "`oci-layout` is not a valid layout marker".to_owned(),
            )),
            None => problems.push(invalid(
                "`oci-layout` is missing: not an OCI image layout".to_owned(),
            )),
        }
        let index: ImageIndex = match scanned.index_json.as_deref().map(serde_json::from_slice) {
            Some(Ok(index)) => index,
            Some(Err(e)) => {
                problems.push(invalid(format!(
                    "`index.json` is not a valid OCI index: {e}"
                )));
                return Err(problems);
            }
            None => {
                problems.push(invalid("`index.json` is missing".to_owned()));
                return Err(problems);
            }
        };
        let roots: Vec<_> = index
            .manifests
            .iter()
            .filter(|d| d.artifact_type.as_deref() == Some(ROOT_ARTIFACT_TYPE))
            .collect();
        let [root_descriptor] = roots.as_slice() else {
            problems.push(invalid(format!(
                "`index.json` must list exactly one bundle root, found {}",
                roots.len()
            )));
            return Err(problems);
        };
        let root = root_descriptor.digest.clone();
        // A delta bundle leaves out, on purpose and under its signed root, the
        // blobs its base carries: those are not missing.
        let delta = Self::delta(scanned, &root);
        let from_base = |digest: &Digest| {
            delta
                .as_ref()
                .is_some_and(|d| d.omitted.contains_key(digest))
        };
        let altered_or_missing =
            |digest: &Digest, used_by: &str, problems: &mut Vec<Problem>| -> bool {
                match scanned.blobs.get(digest) {
                    None if from_base(digest) => true,
                    None => {
                        problems.push(Problem::Missing {
                            digest: digest.clone(),
                            used_by: used_by.to_owned(),
                        });
                        true
                    }
                    Some(entry) => match &entry.altered {
                        Some(actual) => {
                            problems.push(Problem::Altered {
                                digest: digest.clone(),
                                actual: actual.clone(),
                                used_by: used_by.to_owned(),
                            });
                            true
                        }
                        None => false,
                    },
                }
            };
        if altered_or_missing(&root, "the bundle root", &mut problems) {
            return Err(problems);
        }
        let Some(root_index) = scanned
            .small
            .get(&root)
            .and_then(|b| serde_json::from_slice::<ImageIndex>(b).ok())
        else {
            problems.push(invalid(format!("bundle root {root} is not an OCI index")));
            return Err(problems);
        };
        // index.json is unsigned: it must be exactly what the signed root dictates.
        let layout_index = Self::layout_index(scanned, &index, &root, &root_index);
        super::layout::check_index(&index, &layout_index, &mut problems);
        // The embedded lock says which platform manifests of each index are carried.
        let lock = Self::lock(scanned, &root_index, &mut problems, &altered_or_missing);
        let Some(lock) = lock else {
            return Err(problems);
        };
        let carried = lock.carried_images();
        let kept: BTreeSet<&Digest> = carried
            .iter()
            .flat_map(|i| i.platforms.iter().map(|p| &p.digest))
            .collect();
        super::lock_graph::check(scanned, &root_index, &lock, &mut problems);
        // Walk the graph: every referenced blob present, intact, of the right size.
        let mut required: BTreeSet<Digest> = BTreeSet::from([root.clone()]);
        let mut queue: Vec<(crate::oci::Descriptor, String)> = root_index
            .manifests
            .iter()
            .map(|d| {
                (
                    d.clone(),
                    d.annotations
                        .get(ANNOTATION_REF_NAME)
                        .cloned()
                        .unwrap_or_else(|| "bundle metadata".to_owned()),
                )
            })
            .collect();
        let mut visited = BTreeSet::new();
        while let Some((descriptor, used_by)) = queue.pop() {
            required.insert(descriptor.digest.clone());
            if !visited.insert(descriptor.digest.clone()) {
                continue;
            }
            if altered_or_missing(&descriptor.digest, &used_by, &mut problems) {
                continue;
            }
            if let Some(entry) = scanned.blobs.get(&descriptor.digest) {
                if entry.size != descriptor.size {
                    problems.push(Problem::WrongSize {
                        digest: descriptor.digest.clone(),
                        expected: descriptor.size,
                        actual: entry.size,
                        used_by: used_by.clone(),
                    });
                    continue;
                }
            }
            if !crate::oci::is_manifest_media_type(&descriptor.media_type) {
                continue;
            }
            let Some(view) = scanned
                .small
                .get(&descriptor.digest)
                .and_then(|b| ManifestView::parse(b).ok())
            else {
                problems.push(invalid(format!(
                    "manifest {} ({used_by}) cannot be parsed",
                    descriptor.digest
                )));
                continue;
            };
            for child in &view.manifests {
                if kept.contains(&child.digest) {
                    queue.push((child.clone(), used_by.clone()));
                }
            }
            for blob in view.blob_descriptors() {
                queue.push((blob.clone(), used_by.clone()));
            }
        }
        let signatures =
            super::signed::collect(scanned, &index, &root, &mut required, &mut problems);
        for digest in scanned.blobs.keys() {
            if !required.contains(digest) {
                problems.push(Problem::Extra {
                    digest: digest.clone(),
                });
            }
        }
        if problems.is_empty() {
            Ok(Self {
                root,
                lock,
                signatures,
                delta,
                layout_index: crate::oci::to_canonical_json(&layout_index),
            })
        } else {
            Err(problems)
        }
    }

    /// The `index.json` the root dictates; signature entries are derived from
    /// the signature manifests `index.json` names (kept as they are when the
    /// manifest is absent, which the signature check reports).
    fn layout_index(
        scanned: &Scanned,
        index: &ImageIndex,
        root: &Digest,
        root_index: &ImageIndex,
    ) -> ImageIndex {
        let root_bytes = scanned
            .small
            .get(root)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let entries = root_index
            .manifests
            .iter()
            .filter(|d| d.annotations.get(ANNOTATION_KIND).map(String::as_str) != Some("metadata"))
            .map(super::layout::layout_entry);
        let signatures = index
            .manifests
            .iter()
            .filter(|d| super::signed::is_signature_entry(d))
            .map(|d| match scanned.small.get(&d.digest) {
                Some(bytes) => super::layout::signature_entry(root, bytes),
                None => d.clone(),
            });
        super::layout::layout_index(super::layout::root_entry(root_bytes), entries, signatures)
    }

    /// The delta record of the bundle's metadata, when it is a delta.
    fn delta(scanned: &Scanned, root: &Digest) -> Option<super::delta::DeltaRecord> {
        let root_index: ImageIndex = serde_json::from_slice(scanned.small.get(root)?).ok()?;
        let metadata = root_index
            .manifests
            .iter()
            .find(|d| d.artifact_type.as_deref() == Some(METADATA_ARTIFACT_TYPE))?;
        let view = ManifestView::parse(scanned.small.get(&metadata.digest)?).ok()?;
        let layer = view
            .layers
            .iter()
            .find(|l| l.media_type == super::delta::DELTA_MEDIA_TYPE)?;
        // Only a record whose bytes match its digest counts.
        scanned
            .blobs
            .get(&layer.digest)?
            .altered
            .is_none()
            .then_some(())?;
        serde_json::from_slice(scanned.small.get(&layer.digest)?).ok()
    }

    fn lock(
        scanned: &Scanned,
        root_index: &ImageIndex,
        problems: &mut Vec<Problem>,
        altered_or_missing: &dyn Fn(&Digest, &str, &mut Vec<Problem>) -> bool,
    ) -> Option<Lock> {
        let invalid = |detail: String| Problem::Invalid { detail };
        let Some(metadata) = root_index
            .manifests
            .iter()
            .find(|d| d.artifact_type.as_deref() == Some(METADATA_ARTIFACT_TYPE))
        else {
            problems.push(invalid(
                "the bundle root has no metadata manifest (lock and spec)".to_owned(),
            ));
            return None;
        };
        if altered_or_missing(&metadata.digest, "bundle metadata", problems) {
            return None;
        }
        let view = scanned
            .small
            .get(&metadata.digest)
            .and_then(|b| ManifestView::parse(b).ok())?;
        let lock_layer = view
            .layers
            .iter()
            .find(|l| l.media_type == LOCK_MEDIA_TYPE)?;
        if altered_or_missing(&lock_layer.digest, "the embedded lock", problems) {
            return None;
        }
        let text = scanned
            .small
            .get(&lock_layer.digest)
            .and_then(|b| std::str::from_utf8(b).ok())?;
        match Lock::parse(text, Path::new("<embedded lock>")) {
            Ok(lock) => Some(lock),
            Err(e) => {
                problems.push(invalid(e.to_string()));
                None
            }
        }
    }
}
