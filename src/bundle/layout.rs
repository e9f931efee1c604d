//! The layout's `index.json` as the signed root dictates it.
//!
//! `index.json` is not signed: only the root is (and the signature, which
//! cannot be inside what it signs, names the root). So every `index.json`
//! entry is derived from the root alone, at build time and again at verify
//! time: a verified bundle's `index.json` must be exactly the derived one,
//! and consumers that write a layout (`unpack`) write the derived bytes,
//! never the archive's.

use std::collections::BTreeMap;

use super::shared::Problem;
use super::{ANNOTATION_COMPONENT, ANNOTATION_KIND, ROOT_ARTIFACT_TYPE, ROOT_REF_NAME};
use crate::oci::{
    Descriptor, Digest, ImageIndex, ANNOTATION_REF_NAME, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST,
    OCI_INDEX, OCI_MANIFEST,
};
use crate::sign::{signature_tag, SIGNATURE_ARTIFACT_TYPE};
use crate::text::escape;

/// The `index.json` entry of a root entry: the same object under its
/// reference name only, a Docker manifest (list) under its OCI media type
/// (OCI tools of the skopeo 1.9 generation look up OCI media types only;
/// digest and bytes are unchanged, and the root keeps the true type).
pub(super) fn layout_entry(root_entry: &Descriptor) -> Descriptor {
    let mut entry = root_entry.clone();
    entry.annotations.remove(ANNOTATION_KIND);
    entry.annotations.remove(ANNOTATION_COMPONENT);
    entry.media_type = match entry.media_type.as_str() {
        DOCKER_MANIFEST => OCI_MANIFEST.to_owned(),
        DOCKER_MANIFEST_LIST => OCI_INDEX.to_owned(),
        other => other.to_owned(),
    };
    entry
}

/// The `index.json` entry of the root itself.
pub(super) fn root_entry(root_bytes: &[u8]) -> Descriptor {
    let mut entry = Descriptor::for_bytes(OCI_INDEX, root_bytes);
    entry.artifact_type = Some(ROOT_ARTIFACT_TYPE.to_owned());
    entry
        .annotations
        .insert(ANNOTATION_REF_NAME.to_owned(), ROOT_REF_NAME.to_owned());
    entry
}

/// The `index.json` entry of a signature manifest of `root`.
pub(super) fn signature_entry(root: &Digest, manifest_bytes: &[u8]) -> Descriptor {
    let mut entry = Descriptor::for_bytes(OCI_MANIFEST, manifest_bytes);
    entry.artifact_type = Some(SIGNATURE_ARTIFACT_TYPE.to_owned());
    entry
        .annotations
        .insert(ANNOTATION_REF_NAME.to_owned(), signature_tag(root));
    entry
}

/// The whole `index.json`: the root, every root entry but the metadata
/// (each object and name once), then the signatures.
pub(super) fn layout_index(
    root: Descriptor,
    entries: impl IntoIterator<Item = Descriptor>,
    signatures: impl IntoIterator<Item = Descriptor>,
) -> ImageIndex {
    let mut manifests = vec![root];
    for entry in entries {
        if !manifests.contains(&entry) {
            manifests.push(entry);
        }
    }
    manifests.extend(signatures);
    ImageIndex {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_owned()),
        artifact_type: None,
        manifests,
        annotations: BTreeMap::new(),
    }
}

fn name_of(descriptor: &Descriptor) -> String {
    descriptor.annotations.get(ANNOTATION_REF_NAME).map_or_else(
        || "an unnamed manifest".to_owned(),
        |n| escape(n).into_owned(),
    )
}

/// What differs between two descriptors of one object, for a message.
fn differences(actual: &Descriptor, expected: &Descriptor) -> String {
    let mut out = Vec::new();
    if actual.size != expected.size {
        out.push(format!(
            "size {} (the root says {})",
            actual.size, expected.size
        ));
    }
    if actual.media_type != expected.media_type {
        out.push(format!(
            "media type `{}` (the root says `{}`)",
            escape(&actual.media_type),
            expected.media_type
        ));
    }
    if actual.artifact_type != expected.artifact_type {
        out.push("another artifact type".to_owned());
    }
    if actual.platform != expected.platform {
        out.push("another platform".to_owned());
    }
    if actual.annotations != expected.annotations {
        out.push("other annotations".to_owned());
    }
    out.join(", ")
}

/// Compares the archive's `index.json` with the one the signed root
/// dictates, naming every entry that is added, missing, repeated or different.
pub(super) fn check_index(actual: &ImageIndex, expected: &ImageIndex, problems: &mut Vec<Problem>) {
    let invalid = |detail: String| Problem::Invalid { detail };
    if actual.schema_version != 2 {
        problems.push(invalid(format!(
            "`index.json` has schemaVersion {}, not 2",
            actual.schema_version
        )));
    }
    if actual.media_type.as_deref().is_some_and(|m| m != OCI_INDEX) {
        problems.push(invalid(
            "`index.json` has another media type than an OCI index".to_owned(),
        ));
    }
    let key = |d: &Descriptor| {
        (
            d.digest.clone(),
            d.annotations.get(ANNOTATION_REF_NAME).cloned(),
        )
    };
    let mut seen = BTreeMap::new();
    for entry in &actual.manifests {
        *seen.entry(key(entry)).or_insert(0usize) += 1;
    }
    for ((digest, _), count) in &seen {
        if *count > 1 {
            let entry = actual.manifests.iter().find(|d| &d.digest == digest);
            problems.push(invalid(format!(
                "`index.json` lists {} ({digest}) {count} times",
                entry.map(name_of).unwrap_or_default()
            )));
        }
    }
    for entry in &actual.manifests {
        match expected.manifests.iter().find(|e| key(e) == key(entry)) {
            Some(wanted) if wanted == entry => {}
            Some(wanted) => problems.push(invalid(format!(
                "`index.json` entry {} ({}) differs from the signed root: {}",
                name_of(entry),
                entry.digest,
                differences(entry, wanted)
            ))),
            None => problems.push(invalid(format!(
                "`index.json` lists {} ({}), which the bundle root does not",
                name_of(entry),
                entry.digest
            ))),
        }
    }
    for wanted in &expected.manifests {
        if !actual.manifests.iter().any(|a| key(a) == key(wanted)) {
            problems.push(invalid(format!(
                "the bundle root lists {} ({}), which `index.json` does not",
                name_of(wanted),
                wanted.digest
            )));
        }
    }
}
