//! A bundle's graph checked against the lock it embeds: the lock consistent
//! in itself (the rules `build --locked` applies), the root carrying each
//! locked image, chart and file exactly once and nothing else, and each
//! multi-platform image's index listing the platform manifests the lock keeps.

use std::collections::BTreeMap;

use super::build::{chart_ref_name, file_ref_name};
use super::scan::Scanned;
use super::shared::Problem;
use super::ANNOTATION_KIND;
use crate::lock::Lock;
use crate::oci::{ImageIndex, ManifestView, ANNOTATION_REF_NAME};
use crate::text::escape;

/// One root entry as the lock predicts it: kind, component, name, and for
/// images the digest, media type and size.
type Key = (String, String, String, Option<(String, String, u64)>);

fn tally(keys: impl Iterator<Item = Key>) -> BTreeMap<Key, usize> {
    let mut counts = BTreeMap::new();
    for key in keys {
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

fn describe(key: &Key) -> String {
    let (kind, component, name, pinned) = key;
    let at = pinned
        .as_ref()
        .map(|(digest, _, _)| format!(" at {digest}"))
        .unwrap_or_default();
    format!(
        "{kind} {}{at} (component {})",
        escape(name),
        escape(component)
    )
}

/// Checks the root and the image indexes against the embedded lock.
pub(super) fn check(
    scanned: &Scanned,
    root_index: &ImageIndex,
    lock: &Lock,
    problems: &mut Vec<Problem>,
) {
    let invalid = |detail: String| Problem::Invalid { detail };
    if let Err(reason) = lock.check_consistent() {
        problems.push(invalid(format!(
            "the embedded lock is inconsistent: {reason}"
        )));
    }
    check_against_spec(scanned, root_index, lock, problems);
    let carried_images = lock.carried_images();
    let locked = tally(
        carried_images
            .iter()
            .map(|i| {
                (
                    "image".to_owned(),
                    i.component.clone(),
                    i.reference.clone(),
                    Some((i.digest.to_string(), i.media_type.clone(), i.size)),
                )
            })
            .chain(lock.charts.iter().map(|c| {
                (
                    "chart".to_owned(),
                    c.component.clone(),
                    chart_ref_name(c),
                    None,
                )
            }))
            .chain(lock.files.iter().map(|f| {
                (
                    "file".to_owned(),
                    f.component.clone(),
                    file_ref_name(f),
                    None,
                )
            })),
    );
    let annotation =
        |d: &crate::oci::Descriptor, key: &str| d.annotations.get(key).cloned().unwrap_or_default();
    let carried = tally(
        root_index
            .manifests
            .iter()
            .filter(|d| d.annotations.get(ANNOTATION_KIND).map(String::as_str) != Some("metadata"))
            .map(|d| {
                let kind = annotation(d, ANNOTATION_KIND);
                let pinned =
                    (kind == "image").then(|| (d.digest.to_string(), d.media_type.clone(), d.size));
                (
                    kind,
                    annotation(d, super::ANNOTATION_COMPONENT),
                    annotation(d, ANNOTATION_REF_NAME),
                    pinned,
                )
            }),
    );
    for (key, count) in &locked {
        match carried.get(key).copied().unwrap_or(0) {
            0 => problems.push(invalid(format!(
                "the lock pins {}, which the bundle root does not carry",
                describe(key)
            ))),
            n if n != *count => problems.push(invalid(format!(
                "the bundle root carries {} {n} times, the lock {count}",
                describe(key)
            ))),
            _ => {}
        }
    }
    for key in carried.keys() {
        if !locked.contains_key(key) {
            problems.push(invalid(format!(
                "the bundle root carries {}, which the lock does not pin",
                describe(key)
            )));
        }
    }
    for image in &carried_images {
        if !crate::oci::is_index_media_type(&image.media_type) {
            continue;
        }
        let Some(index) = scanned
            .small
            .get(&image.digest)
            .and_then(|b| ManifestView::parse(b).ok())
        else {
            // A missing or unreadable index is reported by the graph walk.
            continue;
        };
        for platform in &image.platforms {
            let listed = index.manifests.iter().any(|d| {
                d.digest == platform.digest
                    && d.size == platform.size
                    && d.media_type == platform.media_type
                    && d.platform
                        .as_ref()
                        .is_none_or(|p| p.to_string() == platform.platform)
            });
            if !listed {
                problems.push(invalid(format!(
                    "image {} (component {}): its index does not list the {} manifest {} the lock keeps",
                    escape(&image.reference),
                    escape(&image.component),
                    escape(&platform.platform),
                    platform.digest
                )));
            }
        }
    }
}

/// The embedded lock against the embedded composed spec: the lock's spec
/// fingerprint is the spec's digest, and the lock pins each image, chart and
/// file the spec names exactly once, and nothing else.
fn check_against_spec(
    scanned: &Scanned,
    root_index: &ImageIndex,
    lock: &Lock,
    problems: &mut Vec<Problem>,
) {
    let invalid = |detail: String| Problem::Invalid { detail };
    let spec_layer = root_index
        .manifests
        .iter()
        .find(|d| d.artifact_type.as_deref() == Some(super::METADATA_ARTIFACT_TYPE))
        .and_then(|m| scanned.small.get(&m.digest))
        .and_then(|b| ManifestView::parse(b).ok())
        .and_then(|view| {
            view.layers
                .into_iter()
                .find(|l| l.media_type == super::SPEC_MEDIA_TYPE)
        });
    let Some(layer) = spec_layer else {
        problems.push(invalid(
            "the bundle metadata embeds no composed spec".to_owned(),
        ));
        return;
    };
    if layer.digest != lock.spec_fingerprint {
        problems.push(invalid(format!(
            "the embedded lock was written for spec {}, the bundle embeds spec {}",
            lock.spec_fingerprint, layer.digest
        )));
    }
    let Some(spec) = scanned
        .small
        .get(&layer.digest)
        .and_then(|b| super::spec::BundleSpec::from_json(b).ok())
    else {
        problems.push(invalid(format!(
            "the embedded spec {} cannot be read",
            layer.digest
        )));
        return;
    };
    let mut named: BTreeMap<Key, usize> = BTreeMap::new();
    let mut pinned: BTreeMap<Key, usize> = BTreeMap::new();
    for component in &spec.components {
        let c = &component.name;
        for image in &component.images {
            *named
                .entry(("image".into(), c.clone(), image.reference.clone(), None))
                .or_insert(0) += 1;
        }
        for chart in &component.charts {
            let name = format!("{} {}", chart.name, chart.version);
            *named
                .entry(("chart".into(), c.clone(), name, None))
                .or_insert(0) += 1;
        }
        for file in &component.files {
            let name = format!(
                "{} {}",
                file.name,
                file.platform.as_deref().unwrap_or("(any)")
            );
            *named
                .entry(("file".into(), c.clone(), name, None))
                .or_insert(0) += 1;
        }
    }
    for image in lock.images.iter().filter(|i| i.from_chart.is_none()) {
        let key = (
            "image".into(),
            image.component.clone(),
            image.reference.clone(),
            None,
        );
        *pinned.entry(key).or_insert(0) += 1;
    }
    for chart in &lock.charts {
        let name = format!("{} {}", chart.name, chart.version);
        *pinned
            .entry(("chart".into(), chart.component.clone(), name, None))
            .or_insert(0) += 1;
    }
    for file in &lock.files {
        let name = format!(
            "{} {}",
            file.name,
            file.platform.as_deref().unwrap_or("(any)")
        );
        *pinned
            .entry(("file".into(), file.component.clone(), name, None))
            .or_insert(0) += 1;
    }
    for (key, count) in &named {
        let locked = pinned.get(key).copied().unwrap_or(0);
        if locked != *count {
            problems.push(invalid(format!(
                "the embedded spec names {}, the embedded lock pins it {locked} times",
                describe(key)
            )));
        }
    }
    for key in pinned.keys() {
        if !named.contains_key(key) {
            problems.push(invalid(format!(
                "the embedded lock pins {}, which the embedded spec does not name",
                describe(key)
            )));
        }
    }
}
