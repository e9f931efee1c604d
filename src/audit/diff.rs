//! What changed between two locks or two bundles: components added, removed
//! or changed in version; images, charts and files added, removed or
//! re-pinned; and the bytes the newer one adds (what has to cross the gap).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;

use super::{AuditError, InputKind, Material};
use crate::oci::Digest;

/// The difference from `a` to `b`.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// The older input.
    pub a: String,
    /// The newer input.
    pub b: String,
    /// Component changes.
    pub components: ComponentChanges,
    /// Images keyed by (component, reference).
    pub images: EntryChanges,
    /// Charts keyed by (component, chart name).
    pub charts: EntryChanges,
    /// Files keyed by (component, file name, platform).
    pub files: EntryChanges,
    /// What `b` adds.
    pub bytes_to_carry: Carry,
}

/// Components added, removed, changed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ComponentChanges {
    /// In `b` only.
    pub added: Vec<ComponentEntry>,
    /// In `a` only.
    pub removed: Vec<ComponentEntry>,
    /// In both with another version or licence.
    pub changed: Vec<ComponentChange>,
}

/// A component.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentEntry {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Licence.
    pub license: String,
}

/// A component whose version or licence changed.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentChange {
    /// Name.
    pub name: String,
    /// Version in `a`.
    pub old_version: String,
    /// Version in `b`.
    pub new_version: String,
    /// Licence in `a`.
    pub old_license: String,
    /// Licence in `b`.
    pub new_license: String,
}

/// Entries (images, charts or files) added, removed, changed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EntryChanges {
    /// In `b` only.
    pub added: Vec<Entry>,
    /// In `a` only.
    pub removed: Vec<Entry>,
    /// In both with another digest or version.
    pub changed: Vec<Change>,
}

/// An image, chart or file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Component carrying it.
    pub component: String,
    /// Image reference, chart name or file name.
    pub name: String,
    /// File platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Chart or file version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Manifest/index digest (images) or content SHA-256 (charts, files).
    pub digest: Digest,
    /// Size in the lock (images: the manifest or index only).
    pub size: u64,
}

/// An entry pinned differently in `a` and `b`.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// Component carrying it.
    pub component: String,
    /// Image reference, chart name or file name.
    pub name: String,
    /// File platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Version in `a` (charts, files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_version: Option<String>,
    /// Version in `b` (charts, files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_version: Option<String>,
    /// Digest in `a`.
    pub old: Digest,
    /// Digest in `b`.
    pub new: Digest,
}

/// The bytes `b` holds that `a` does not.
#[derive(Clone, Debug, Serialize)]
pub struct Carry {
    /// Bytes.
    pub bytes: u64,
    /// Blobs.
    pub blobs: usize,
    /// Whether the count is complete: true for two bundles (every blob is
    /// known); for locks, image layers are not counted.
    pub exact: bool,
    /// How it was computed.
    pub basis: String,
}

type Key = (String, String, Option<String>);

fn entries_of(material: &Material, kind: Kind) -> BTreeMap<Key, Entry> {
    let Some(lock) = &material.lock else {
        return BTreeMap::new();
    };
    let list: Vec<Entry> = match kind {
        Kind::Image => lock
            .images
            .iter()
            .map(|i| Entry {
                component: i.component.clone(),
                name: i.reference.clone(),
                platform: None,
                version: None,
                digest: i.digest.clone(),
                size: i.size,
            })
            .collect(),
        Kind::Chart => lock
            .charts
            .iter()
            .map(|c| Entry {
                component: c.component.clone(),
                name: c.name.clone(),
                platform: None,
                version: Some(c.version.clone()),
                digest: c.sha256.clone(),
                size: c.size,
            })
            .collect(),
        Kind::File => lock
            .files
            .iter()
            .map(|f| Entry {
                component: f.component.clone(),
                name: f.name.clone(),
                platform: f.platform.clone(),
                version: Some(f.version.clone()),
                digest: f.sha256.clone(),
                size: f.size,
            })
            .collect(),
    };
    list.into_iter()
        .map(|e| ((e.component.clone(), e.name.clone(), e.platform.clone()), e))
        .collect()
}

#[derive(Clone, Copy)]
enum Kind {
    Image,
    Chart,
    File,
}

fn entry_changes(a: &Material, b: &Material, kind: Kind) -> EntryChanges {
    let old = entries_of(a, kind);
    let new = entries_of(b, kind);
    let mut changes = EntryChanges::default();
    for (key, entry) in &new {
        match old.get(key) {
            None => changes.added.push(entry.clone()),
            Some(before) if before.digest != entry.digest || before.version != entry.version => {
                changes.changed.push(Change {
                    component: entry.component.clone(),
                    name: entry.name.clone(),
                    platform: entry.platform.clone(),
                    old_version: before.version.clone(),
                    new_version: entry.version.clone(),
                    old: before.digest.clone(),
                    new: entry.digest.clone(),
                })
            }
            Some(_) => {}
        }
    }
    changes.removed = old
        .iter()
        .filter(|(key, _)| !new.contains_key(*key))
        .map(|(_, e)| e.clone())
        .collect();
    changes
}

/// Compares two locks or two bundles (`a` older, `b` newer).
pub fn diff(a: &Material, b: &Material) -> Result<Diff, AuditError> {
    for side in [a, b] {
        side.require_lock("diff")?;
    }
    let mut components = ComponentChanges::default();
    let list = |m: &Material| -> BTreeMap<String, ComponentEntry> {
        m.lock
            .iter()
            .flat_map(|l| &l.components)
            .map(|c| {
                (
                    c.name.clone(),
                    ComponentEntry {
                        name: c.name.clone(),
                        version: c.version.clone(),
                        license: c.license.clone(),
                    },
                )
            })
            .collect()
    };
    let (old, new) = (list(a), list(b));
    for (name, entry) in &new {
        match old.get(name) {
            None => components.added.push(entry.clone()),
            Some(before) if before.version != entry.version || before.license != entry.license => {
                components.changed.push(ComponentChange {
                    name: name.clone(),
                    old_version: before.version.clone(),
                    new_version: entry.version.clone(),
                    old_license: before.license.clone(),
                    new_license: entry.license.clone(),
                })
            }
            Some(_) => {}
        }
    }
    components.removed = old
        .iter()
        .filter(|(name, _)| !new.contains_key(*name))
        .map(|(_, e)| e.clone())
        .collect();
    Ok(Diff {
        a: a.path.display().to_string(),
        b: b.path.display().to_string(),
        components,
        images: entry_changes(a, b, Kind::Image),
        charts: entry_changes(a, b, Kind::Chart),
        files: entry_changes(a, b, Kind::File),
        bytes_to_carry: carry(a, b),
    })
}

fn carry(a: &Material, b: &Material) -> Carry {
    if let (Some(old), Some(new)) = (&a.blobs, &b.blobs) {
        let added: Vec<u64> = new
            .iter()
            .filter(|(digest, _)| !old.contains_key(*digest))
            .map(|(_, size)| *size)
            .collect();
        return Carry {
            bytes: added.iter().sum(),
            blobs: added.len(),
            exact: true,
            basis: "blobs of the newer bundle that the older one lacks".to_owned(),
        };
    }
    // From the locks: the pinned objects whose sizes a lock records.
    let sized = |m: &Material| -> BTreeMap<Digest, u64> {
        let mut out = BTreeMap::new();
        if let Some(lock) = &m.lock {
            for image in &lock.images {
                out.insert(image.digest.clone(), image.size);
                for platform in &image.platforms {
                    out.insert(platform.digest.clone(), platform.size);
                }
            }
            for chart in &lock.charts {
                out.insert(chart.sha256.clone(), chart.size);
            }
            for file in &lock.files {
                out.insert(file.sha256.clone(), file.size);
            }
        }
        out
    };
    let (old, new) = (sized(a), sized(b));
    let old_images: BTreeSet<&Digest> = a
        .lock
        .iter()
        .flat_map(|l| &l.images)
        .map(|i| &i.digest)
        .collect();
    let new_images = b
        .lock
        .iter()
        .flat_map(|l| &l.images)
        .any(|i| !old_images.contains(&i.digest));
    let added: Vec<u64> = new
        .iter()
        .filter(|(digest, _)| !old.contains_key(*digest))
        .map(|(_, size)| *size)
        .collect();
    Carry {
        bytes: added.iter().sum(),
        blobs: added.len(),
        exact: !new_images,
        basis: if new_images {
            "sizes in the lock: image manifests, charts and files (image layers are not in a lock; diff two bundles for the full count)".to_owned()
        } else {
            "sizes in the lock: image manifests, charts and files".to_owned()
        },
    }
}

impl Diff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        let entries =
            |e: &EntryChanges| e.added.is_empty() && e.removed.is_empty() && e.changed.is_empty();
        self.components.added.is_empty()
            && self.components.removed.is_empty()
            && self.components.changed.is_empty()
            && entries(&self.images)
            && entries(&self.charts)
            && entries(&self.files)
    }

    /// A changelog-like text for people.
    pub fn render(&self, human_bytes: &dyn Fn(u64) -> String) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "changes from {} to {}", self.a, self.b);
        if self.is_empty() {
            out.push_str("\nno changes\n");
        }
        let c = &self.components;
        if !(c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty()) {
            out.push_str("\ncomponents:\n");
            for e in &c.added {
                let _ = writeln!(out, "  + {} {} ({})", e.name, e.version, e.license);
            }
            for e in &c.removed {
                let _ = writeln!(out, "  - {} {} ({})", e.name, e.version, e.license);
            }
            for e in &c.changed {
                let licence = if e.old_license == e.new_license {
                    String::new()
                } else {
                    format!(", licence {} -> {}", e.old_license, e.new_license)
                };
                let _ = writeln!(
                    out,
                    "  ~ {} {} -> {}{licence}",
                    e.name, e.old_version, e.new_version
                );
            }
        }
        for (title, changes) in [
            ("images", &self.images),
            ("charts", &self.charts),
            ("files", &self.files),
        ] {
            if changes.added.is_empty() && changes.removed.is_empty() && changes.changed.is_empty()
            {
                continue;
            }
            let _ = writeln!(out, "\n{title}:");
            let label = |name: &str, version: &Option<String>, platform: &Option<String>| {
                let mut text = name.to_owned();
                if let Some(v) = version {
                    text.push_str(&format!(" {v}"));
                }
                if let Some(p) = platform {
                    text.push_str(&format!(" [{p}]"));
                }
                text
            };
            for e in &changes.added {
                let _ = writeln!(
                    out,
                    "  + {} (component {})  {}",
                    label(&e.name, &e.version, &e.platform),
                    e.component,
                    e.digest
                );
            }
            for e in &changes.removed {
                let _ = writeln!(
                    out,
                    "  - {} (component {})  {}",
                    label(&e.name, &e.version, &e.platform),
                    e.component,
                    e.digest
                );
            }
            for e in &changes.changed {
                let version = match (&e.old_version, &e.new_version) {
                    (Some(old), Some(new)) if old != new => format!(" {old} -> {new}"),
                    (_, Some(v)) => format!(" {v}"),
                    _ => String::new(),
                };
                let platform = e
                    .platform
                    .as_deref()
                    .map(|p| format!(" [{p}]"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  ~ {}{version}{platform} (component {})  {} -> {}",
                    e.name, e.component, e.old, e.new
                );
            }
        }
        let carry = &self.bytes_to_carry;
        let _ = writeln!(
            out,
            "\nbytes to carry: {} in {} blob{}{} ({})",
            human_bytes(carry.bytes),
            carry.blobs,
            if carry.blobs == 1 { "" } else { "s" },
            if carry.exact { "" } else { " at least" },
            carry.basis
        );
        out
    }
}

/// Whether two inputs can be compared (two locks or two bundles).
pub fn comparable(a: &Material, b: &Material) -> Result<(), AuditError> {
    match (a.kind, b.kind) {
        (InputKind::Spec, _) => Err(not_comparable(a)),
        (_, InputKind::Spec) => Err(not_comparable(b)),
        _ => Ok(()),
    }
}

fn not_comparable(m: &Material) -> AuditError {
    AuditError::Input {
        path: m.path.clone(),
        detail: "`diff` compares lockfiles or bundles; lock the spec first".to_owned(),
    }
}
