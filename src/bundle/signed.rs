//! The bundle side of signing: the cosign signature artifact written next to
//! the root at build time, and found and checked structurally at verify time.
//!
//! The signature cannot be inside the root (it signs the root's digest), so
//! it is the one `index.json` entry the root does not list: a manifest of
//! artifact type [`SIGNATURE_ARTIFACT_TYPE`] whose `subject` is the root,
//! named `sha256-<root hex>.sig`.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;

use super::scan::Scanned;
use super::shared::Problem;
use crate::oci::{
    to_canonical_json, Descriptor, Digest, ImageIndex, ImageManifest, ManifestView,
    ANNOTATION_REF_NAME, OCI_EMPTY, OCI_MANIFEST,
};
use crate::sign::{
    payload, signature_tag, FoundSignature, SigningKey, ANNOTATION_SIGNATURE,
    SIGNATURE_ARTIFACT_TYPE, SIMPLE_SIGNING_MEDIA_TYPE,
};
use crate::store::{Store, StoreError};

/// The signature artifact of a build.
pub(super) struct Signed {
    /// Its `index.json` entry (named `sha256-<root hex>.sig`).
    pub(super) descriptor: Descriptor,
    /// Its blobs: the manifest, the empty config, the payload.
    pub(super) blobs: Vec<Digest>,
    /// Fingerprint of the signing key.
    pub(super) fingerprint: String,
}

/// Signs the root and puts the signature manifest and its blobs in the store.
pub(super) fn sign_into_store(
    key: &SigningKey,
    bundle: &str,
    root: &Descriptor,
    store: &Store,
) -> Result<Signed, StoreError> {
    let subject = Descriptor {
        media_type: root.media_type.clone(),
        digest: root.digest.clone(),
        size: root.size,
        platform: None,
        artifact_type: root.artifact_type.clone(),
        annotations: BTreeMap::new(),
    };
    let payload = payload(bundle, &root.digest);
    let signature = key.sign_der(&payload);
    let config = store.put_bytes(b"{}")?;
    let payload_digest = store.put_bytes(&payload)?;
    let mut layer = Descriptor::for_bytes(SIMPLE_SIGNING_MEDIA_TYPE, &payload);
    layer.annotations.insert(
        ANNOTATION_SIGNATURE.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(signature),
    );
    let manifest = to_canonical_json(&ImageManifest {
        schema_version: 2,
        media_type: OCI_MANIFEST.to_owned(),
        artifact_type: Some(SIGNATURE_ARTIFACT_TYPE.to_owned()),
        config: Descriptor::for_bytes(OCI_EMPTY, b"{}"),
        layers: vec![layer],
        subject: Some(subject),
        annotations: BTreeMap::new(),
    });
    let manifest_digest = store.put_bytes(&manifest)?;
    let mut descriptor = Descriptor::for_bytes(OCI_MANIFEST, &manifest);
    descriptor.artifact_type = Some(SIGNATURE_ARTIFACT_TYPE.to_owned());
    descriptor
        .annotations
        .insert(ANNOTATION_REF_NAME.to_owned(), signature_tag(&root.digest));
    Ok(Signed {
        descriptor,
        blobs: vec![manifest_digest, config, payload_digest],
        fingerprint: key.verifying_key().fingerprint().to_owned(),
    })
}

/// Whether an `index.json` entry is a signature manifest.
pub(super) fn is_signature_entry(descriptor: &Descriptor) -> bool {
    descriptor.artifact_type.as_deref() == Some(SIGNATURE_ARTIFACT_TYPE)
}

/// Finds the signature entries of `index.json`, checks their structure (blobs
/// present, intact, of the right size; subject = the root; cosign's tag) and
/// marks their blobs as required. Returns the signatures to check against a
/// trust policy.
pub(super) fn collect(
    scanned: &Scanned,
    index: &ImageIndex,
    root: &Digest,
    required: &mut BTreeSet<Digest>,
    problems: &mut Vec<Problem>,
) -> Vec<FoundSignature> {
    let invalid = |detail: String| Problem::Invalid { detail };
    let mut found = Vec::new();
    for entry in index.manifests.iter().filter(|d| is_signature_entry(d)) {
        let used_by = format!("signature {}", entry.digest);
        let expected_tag = signature_tag(root);
        let tag = entry.annotations.get(ANNOTATION_REF_NAME);
        if tag != Some(&expected_tag) {
            problems.push(invalid(format!(
                "`index.json` names signature {} `{}`, expected `{expected_tag}` (the bundle root's signature tag)",
                entry.digest,
                tag.map(String::as_str).unwrap_or("")
            )));
        }
        required.insert(entry.digest.clone());
        if !present(scanned, entry, &used_by, problems) {
            continue;
        }
        let Some(view) = scanned
            .small
            .get(&entry.digest)
            .and_then(|b| ManifestView::parse(b).ok())
        else {
            problems.push(invalid(format!(
                "signature manifest {} cannot be parsed",
                entry.digest
            )));
            continue;
        };
        for blob in view.blob_descriptors() {
            required.insert(blob.digest.clone());
        }
        // Every blob is checked (and each problem reported), not just up to the first.
        let mut blobs_ok = true;
        for blob in view.blob_descriptors() {
            blobs_ok &= present(scanned, blob, &used_by, problems);
        }
        match &view.subject {
            Some(subject) if &subject.digest == root => {}
            Some(subject) => {
                problems.push(invalid(format!(
                    "signature manifest {} is about {}, not the bundle root {root}",
                    entry.digest, subject.digest
                )));
                continue;
            }
            None => {
                problems.push(invalid(format!(
                    "signature manifest {} has no subject (it must name the bundle root {root})",
                    entry.digest
                )));
                continue;
            }
        }
        if !blobs_ok {
            continue;
        }
        let Some(layer) = view
            .layers
            .iter()
            .find(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
        else {
            problems.push(invalid(format!(
                "signature manifest {} has no `{SIMPLE_SIGNING_MEDIA_TYPE}` payload layer",
                entry.digest
            )));
            continue;
        };
        let Some(payload) = scanned.small.get(&layer.digest) else {
            problems.push(invalid(format!(
                "signature manifest {}: its payload {} is not JSON",
                entry.digest, layer.digest
            )));
            continue;
        };
        found.push(FoundSignature {
            manifest: entry.digest.clone(),
            payload: payload.clone(),
            signature: layer.annotations.get(ANNOTATION_SIGNATURE).cloned(),
        });
    }
    found
}

/// Whether the blob a descriptor names is present, intact and of its size; reports it otherwise.
fn present(
    scanned: &Scanned,
    descriptor: &Descriptor,
    used_by: &str,
    problems: &mut Vec<Problem>,
) -> bool {
    let digest = &descriptor.digest;
    match scanned.blobs.get(digest) {
        None => {
            problems.push(Problem::Missing {
                digest: digest.clone(),
                used_by: used_by.to_owned(),
            });
            false
        }
        Some(entry) => {
            if let Some(actual) = &entry.altered {
                problems.push(Problem::Altered {
                    digest: digest.clone(),
                    actual: actual.clone(),
                    used_by: used_by.to_owned(),
                });
                false
            } else if entry.size != descriptor.size {
                problems.push(Problem::WrongSize {
                    digest: digest.clone(),
                    expected: descriptor.size,
                    actual: entry.size,
                    used_by: used_by.to_owned(),
                });
                false
            } else {
                true
            }
        }
    }
}
