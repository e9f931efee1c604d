//! Upstream drift: every entry of a spec resolved again, one at a time, and
//! compared with what the lock pins. The lock is only read, never written.
//!
//! Resolution should run against an empty cache (the CLI uses a throwaway
//! one): a cached file or chart would otherwise stand in for its upstream.
//! Known hashes in the component manifests are set aside while auditing so
//! that a changed file is reported with its new hash instead of as a failure.

use std::fmt::Write as _;

use futures_util::{stream, StreamExt};
use serde::Serialize;

use crate::lock::{resolve, Lock, ResolveOptions};
use crate::oci::Digest;
use crate::progress::Progress;
use crate::registry::Client;
use crate::spec::{Component, Spec};
use crate::store::Store;

/// Something upstream no longer matches the lock: each is an alarm.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Drift {
    /// A tag now points to another manifest or index (supply-chain alarm).
    TagMoved {
        /// Component.
        component: String,
        /// The reference as written.
        reference: String,
        /// What the lock pins.
        locked: Digest,
        /// What it resolves to now.
        now: Digest,
    },
    /// A chart archive changed under the same version.
    ChartChanged {
        /// Component.
        component: String,
        /// Chart name.
        name: String,
        /// Chart version.
        version: String,
        /// Archive SHA-256 in the lock.
        locked: Digest,
        /// Archive SHA-256 now.
        now: Digest,
    },
    /// A file's content changed at its URL.
    FileChanged {
        /// Component.
        component: String,
        /// File name.
        name: String,
        /// Platform.
        #[serde(skip_serializing_if = "Option::is_none")]
        platform: Option<String>,
        /// Download URL.
        url: String,
        /// SHA-256 in the lock.
        locked: Digest,
        /// SHA-256 now.
        now: Digest,
    },
    /// An entry cannot be resolved any more.
    Unresolvable {
        /// Component.
        component: String,
        /// The entry.
        entry: String,
        /// Why.
        error: String,
    },
    /// An entry of the spec the lock does not pin (the lock is stale).
    NotLocked {
        /// Component.
        component: String,
        /// The entry.
        entry: String,
    },
}

/// An entry the spec does not pin by content: informational.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Floating {
    /// Component.
    pub component: String,
    /// `image-tag` (referenced by tag only) or `file-unpinned` (no sha256 in the manifest).
    pub kind: String,
    /// The entry.
    pub entry: String,
}

/// The outcome of an audit.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// Bundle name.
    pub bundle: String,
    /// Entries resolved again.
    pub entries: usize,
    /// Drift found (empty: upstream still matches the lock).
    pub drift: Vec<Drift>,
    /// Entries pinned only by the lock, not by the spec.
    pub floating: Vec<Floating>,
    /// Why the lock is stale against the spec, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
}

impl AuditReport {
    /// A text report for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "audited {} entries of bundle {}",
            self.entries, self.bundle
        );
        if let Some(stale) = &self.stale {
            let _ = writeln!(out, "note: the lock is stale against the spec: {stale}");
        }
        if self.drift.is_empty() {
            out.push_str("no drift: every entry still resolves to what the lock pins\n");
        } else {
            let _ = writeln!(out, "DRIFT ({}):", self.drift.len());
            for drift in &self.drift {
                let line = match drift {
                    Drift::TagMoved {
                        component,
                        reference,
                        locked,
                        now,
                    } => format!(
                        "image {reference} (component {component}): the tag moved from {locked} to {now} — supply-chain alarm"
                    ),
                    Drift::ChartChanged {
                        component,
                        name,
                        version,
                        locked,
                        now,
                    } => format!(
                        "chart {name} {version} (component {component}): the archive changed under the same version: {locked} -> {now}"
                    ),
                    Drift::FileChanged {
                        component,
                        name,
                        platform,
                        url,
                        locked,
                        now,
                    } => format!(
                        "file {name}{} (component {component}): {url} changed: {locked} -> {now}",
                        platform.as_deref().map(|p| format!(" [{p}]")).unwrap_or_default()
                    ),
                    Drift::Unresolvable {
                        component,
                        entry,
                        error,
                    } => format!("{entry} (component {component}) cannot be resolved: {error}"),
                    Drift::NotLocked { component, entry } => {
                        format!("{entry} (component {component}) is in the spec but not in the lock")
                    }
                };
                let _ = writeln!(out, "  - {line}");
            }
        }
        if !self.floating.is_empty() {
            let _ = writeln!(
                out,
                "floating (pinned by the lock only, not by the spec; informational):"
            );
            for f in &self.floating {
                let what = match f.kind.as_str() {
                    "image-tag" => "image referenced by tag",
                    "file-unpinned" => "file without a sha256 in its manifest",
                    other => other,
                };
                let _ = writeln!(out, "  - {} (component {}): {what}", f.entry, f.component);
            }
        }
        out
    }
}

/// One entry to resolve again.
enum Task {
    Image(usize),
    Chart(usize),
    File(usize),
}

/// Resolves every entry of `spec` again and compares it with `lock`.
///
/// `store` should be empty (see the module documentation); `lock` is never written.
pub async fn audit(
    lock: &Lock,
    spec: &Spec,
    client: &Client,
    store: &Store,
    options: &ResolveOptions,
    progress: &dyn Progress,
) -> AuditReport {
    let stale = lock
        .check_fresh(spec, std::path::Path::new("the lock"))
        .err()
        .map(|e| match e {
            crate::lock::LockError::Stale { reason, .. } => reason,
            other => other.to_string(),
        });
    let mut floating = Vec::new();
    let mut tasks = Vec::new();
    for component in &spec.components {
        for (i, image) in component.images.iter().enumerate() {
            if image.reference.digest.is_none() {
                floating.push(Floating {
                    component: component.name.clone(),
                    kind: "image-tag".to_owned(),
                    entry: image.reference.to_string(),
                });
            }
            tasks.push((component, Task::Image(i)));
        }
        for i in 0..component.charts.len() {
            tasks.push((component, Task::Chart(i)));
        }
        for (i, file) in component.files.iter().enumerate() {
            if file.sha256.is_none() {
                floating.push(Floating {
                    component: component.name.clone(),
                    kind: "file-unpinned".to_owned(),
                    entry: file.url.clone(),
                });
            }
            tasks.push((component, Task::File(i)));
        }
    }
    let entries = tasks.len();
    progress.stage("audit", entries as u64, 0);
    let single = ResolveOptions { jobs: 1 };
    let results: Vec<Option<Drift>> = stream::iter(tasks)
        .map(|(component, task)| {
            let single = &single;
            async move {
                let outcome = check(
                    lock, spec, component, &task, client, store, single, progress,
                )
                .await;
                progress.item(&component.name);
                outcome
            }
        })
        .buffer_unordered(options.jobs.max(1))
        .collect()
        .await;
    progress.finish_stage();
    let mut drift: Vec<Drift> = results.into_iter().flatten().collect();
    drift.sort();
    floating.sort();
    AuditReport {
        bundle: lock.bundle.clone(),
        entries,
        drift,
        floating,
        stale,
    }
}

#[allow(clippy::too_many_arguments)]
async fn check(
    lock: &Lock,
    spec: &Spec,
    component: &Component,
    task: &Task,
    client: &Client,
    store: &Store,
    options: &ResolveOptions,
    progress: &dyn Progress,
) -> Option<Drift> {
    let mut only = component.clone();
    only.images.clear();
    only.charts.clear();
    only.files.clear();
    let name = component.name.clone();
    let entry = match task {
        Task::Image(i) => {
            let image = component.images.get(*i)?;
            only.images.push(image.clone());
            format!("image {}", image.reference)
        }
        Task::Chart(i) => {
            let chart = component.charts.get(*i)?;
            only.charts.push(chart.clone());
            format!("chart {} {}", chart.name, chart.version)
        }
        Task::File(i) => {
            let mut file = component.files.get(*i)?.clone();
            let platform = file
                .platform
                .as_deref()
                .map(|p| format!(" [{p}]"))
                .unwrap_or_default();
            // Set the manifest's hash aside: a changed file is reported with its new hash.
            file.sha256 = None;
            let entry = format!("file {}{platform}", file.name);
            only.files.push(file);
            entry
        }
    };
    let not_locked = || {
        Some(Drift::NotLocked {
            component: name.clone(),
            entry: entry.clone(),
        })
    };
    // Find the locked counterpart first: an unlocked entry needs no network.
    match task {
        Task::Image(_) => {
            let reference = only.images.first()?.reference.to_string();
            if !lock
                .images
                .iter()
                .any(|i| i.component == name && i.reference == reference)
            {
                return not_locked();
            }
        }
        Task::Chart(_) => {
            let chart = only.charts.first()?;
            if !lock
                .charts
                .iter()
                .any(|c| c.component == name && c.name == chart.name && c.version == chart.version)
            {
                return not_locked();
            }
        }
        Task::File(_) => {
            let file = only.files.first()?;
            if !lock
                .files
                .iter()
                .any(|f| f.component == name && f.name == file.name && f.platform == file.platform)
            {
                return not_locked();
            }
        }
    }
    let probe = Spec {
        name: spec.name.clone(),
        version: spec.version.clone(),
        platforms: spec.platforms.clone(),
        components: vec![only],
        ferry_image: None,
        root: spec.root.clone(),
        path: spec.path.clone(),
    };
    let resolved = match resolve(&probe, client, store, options, progress).await {
        Ok(resolved) => resolved,
        Err(error) => {
            return Some(Drift::Unresolvable {
                component: name,
                entry,
                error: error
                    .failures
                    .iter()
                    .map(|f| f.split_once("): ").map_or(f.as_str(), |(_, cause)| cause))
                    .collect::<Vec<_>>()
                    .join("; "),
            })
        }
    };
    if let Some(now) = resolved.images.first() {
        let locked = lock
            .images
            .iter()
            .find(|i| i.component == name && i.reference == now.reference)?;
        return (locked.digest != now.digest).then(|| Drift::TagMoved {
            component: name,
            reference: now.reference.clone(),
            locked: locked.digest.clone(),
            now: now.digest.clone(),
        });
    }
    if let Some(now) = resolved.charts.first() {
        let locked = lock
            .charts
            .iter()
            .find(|c| c.component == name && c.name == now.name && c.version == now.version)?;
        let changed = locked.sha256 != now.sha256 || locked.oci_digest != now.oci_digest;
        return changed.then(|| Drift::ChartChanged {
            component: name,
            name: now.name.clone(),
            version: now.version.clone(),
            locked: locked.sha256.clone(),
            now: now.sha256.clone(),
        });
    }
    if let Some(now) = resolved.files.first() {
        let locked = lock
            .files
            .iter()
            .find(|f| f.component == name && f.name == now.name && f.platform == now.platform)?;
        return (locked.sha256 != now.sha256).then(|| Drift::FileChanged {
            component: name,
            name: now.name.clone(),
            platform: now.platform.clone(),
            url: now.url.clone(),
            locked: locked.sha256.clone(),
            now: now.sha256.clone(),
        });
    }
    None
}
