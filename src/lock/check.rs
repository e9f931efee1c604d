//! Consistency of a lock: with itself (no entry twice, every multi-arch image
//! carrying each bundle platform once, every entry in a locked component) and
//! with the composed spec it claims to lock (every spec entry locked exactly
//! once, nothing locked the spec does not name).
//!
//! The spec fingerprint proves only that the lock was written for this spec;
//! the entries below it are plain text anyone can edit. A build trusts them,
//! so they are checked before anything is fetched, and `verify` checks the
//! embedded lock of a bundle with the same rules.

use std::collections::{BTreeMap, BTreeSet};

use super::{Lock, LockedImage};
use crate::oci::Platform;
use crate::spec::{ImageSource, Spec};
use crate::text::escape;

/// The media types of a multi-platform image (OCI index, Docker manifest list).
fn is_multi_platform(media_type: &str) -> bool {
    crate::oci::is_index_media_type(media_type)
}

/// Counts keys, returning those seen more than once.
fn repeated<K: Ord + Clone>(keys: impl Iterator<Item = K>) -> Vec<K> {
    let mut seen = BTreeMap::new();
    for key in keys {
        *seen.entry(key).or_insert(0usize) += 1;
    }
    seen.into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect()
}

impl Lock {
    /// Checks the lock against itself; the first problem found is returned,
    /// naming the entry.
    pub fn check_consistent(&self) -> Result<(), String> {
        if let Some(name) = repeated(self.components.iter().map(|c| &c.name)).first() {
            return Err(format!("component `{}` is locked twice", escape(name)));
        }
        let platforms: Vec<Platform> = self
            .platforms
            .iter()
            .map(|p| {
                p.parse().map_err(|e: crate::oci::PlatformParseError| {
                    escape(&e.to_string()).into_owned()
                })
            })
            .collect::<Result<_, _>>()?;
        if let Some(platform) = repeated(self.platforms.iter()).first() {
            return Err(format!("platform {} is listed twice", escape(platform)));
        }
        let components: BTreeSet<&str> = self.components.iter().map(|c| c.name.as_str()).collect();
        let unknown_component = |what: String, component: &str| {
            (!components.contains(component)).then(|| {
                format!(
                    "{what} belongs to component `{}`, which the lock does not list",
                    escape(component)
                )
            })
        };
        if let Some((component, reference)) =
            repeated(self.images.iter().map(|i| (&i.component, &i.reference))).first()
        {
            return Err(format!(
                "image {} (component {}) is locked twice",
                escape(reference),
                escape(component)
            ));
        }
        if let Some((component, name, version)) = repeated(
            self.charts
                .iter()
                .map(|c| (&c.component, &c.name, &c.version)),
        )
        .first()
        {
            return Err(format!(
                "chart {} {} (component {}) is locked twice",
                escape(name),
                escape(version),
                escape(component)
            ));
        }
        if let Some((component, name, platform)) = repeated(
            self.files
                .iter()
                .map(|f| (&f.component, &f.name, &f.platform)),
        )
        .first()
        {
            return Err(format!(
                "file {}{} (component {}) is locked twice",
                escape(name),
                platform
                    .as_deref()
                    .map(|p| format!(" {}", escape(p)))
                    .unwrap_or_default(),
                escape(component)
            ));
        }
        for image in &self.images {
            let what = format!("image {}", escape(&image.reference));
            if let Some(error) = unknown_component(what, &image.component) {
                return Err(error);
            }
            check_image_platforms(image, &platforms)?;
            if let Some(chart) = &image.from_chart {
                let named = self.charts.iter().any(|c| {
                    c.component == image.component && format!("{} {}", c.name, c.version) == *chart
                });
                if !named {
                    return Err(format!(
                        "image {} is locked for chart `{}`, which component {} does not lock",
                        escape(&image.reference),
                        escape(chart),
                        escape(&image.component)
                    ));
                }
            }
        }
        for chart in &self.charts {
            let what = format!("chart {} {}", escape(&chart.name), escape(&chart.version));
            if let Some(error) = unknown_component(what, &chart.component) {
                return Err(error);
            }
        }
        for file in &self.files {
            let what = format!("file {}", escape(&file.name));
            if let Some(error) = unknown_component(what, &file.component) {
                return Err(error);
            }
        }
        Ok(())
    }

    /// Checks the lock against the composed spec it locks (and against
    /// itself, [`Lock::check_consistent`]): every spec entry locked exactly
    /// once, as the spec names it, and no entry the spec does not name.
    pub fn check_against(&self, spec: &Spec) -> Result<(), String> {
        self.check_consistent()?;
        if self.bundle != spec.name {
            return Err(format!(
                "it locks bundle `{}`, the spec is `{}`",
                escape(&self.bundle),
                escape(&spec.name)
            ));
        }
        let platforms: Vec<String> = spec.platforms.iter().map(ToString::to_string).collect();
        if platforms != self.platforms {
            return Err(format!(
                "it locks platforms [{}], the spec names [{}]",
                escape(&self.platforms.join(", ")),
                platforms.join(", ")
            ));
        }
        for component in &spec.components {
            let locked = self.components.iter().find(|c| c.name == component.name);
            if locked.map(|c| &c.version) != Some(&component.version) {
                return Err(format!(
                    "component `{}` {} is not locked",
                    component.name, component.version
                ));
            }
            for image in &component.images {
                let reference = image.reference.to_string();
                let Some(entry) = self
                    .images
                    .iter()
                    .find(|i| i.component == component.name && i.reference == reference)
                else {
                    return Err(format!(
                        "image {reference} (component {}) is not in the lock",
                        component.name
                    ));
                };
                let source = match &image.source {
                    ImageSource::Registry => None,
                    ImageSource::Layout { path, reference } => {
                        Some(format!("layout:{path}#{reference}"))
                    }
                    ImageSource::DockerArchive { path, reference } => {
                        Some(format!("docker-archive:{path}#{reference}"))
                    }
                };
                if entry.source != source || entry.from_chart.is_some() {
                    return Err(format!(
                        "image {reference} (component {}) is locked from another source than the spec names",
                        component.name
                    ));
                }
                if let Some(pinned) = &image.reference.digest {
                    if pinned != &entry.digest {
                        return Err(format!(
                            "image {reference} (component {}) is pinned to {pinned} in the spec but locked at {}",
                            component.name, entry.digest
                        ));
                    }
                }
            }
            for chart in &component.charts {
                let repo = chart.repo.to_string();
                if !self.charts.iter().any(|c| {
                    c.component == component.name
                        && c.name == chart.name
                        && c.version == chart.version
                        && c.repo == repo
                }) {
                    return Err(format!(
                        "chart {} {} from {repo} (component {}) is not in the lock",
                        chart.name, chart.version, component.name
                    ));
                }
            }
            for file in &component.files {
                let Some(entry) = self.files.iter().find(|f| {
                    f.component == component.name
                        && f.name == file.name
                        && f.platform == file.platform
                        && f.version == file.version
                        && f.url == file.url
                }) else {
                    return Err(format!(
                        "file {} {} ({}) of component {} is not in the lock",
                        file.name, file.version, file.url, component.name
                    ));
                };
                if let Some(pinned) = &file.sha256 {
                    if pinned != &entry.sha256 {
                        return Err(format!(
                            "file {} ({}) is pinned to {pinned} in the spec but locked at {}",
                            file.name, file.url, entry.sha256
                        ));
                    }
                }
            }
        }
        let component = |name: &str| spec.components.iter().find(|c| c.name == name);
        for locked in &self.components {
            if component(&locked.name).is_none() {
                return Err(format!(
                    "component `{}` is locked but the spec does not name it",
                    escape(&locked.name)
                ));
            }
        }
        for image in &self.images {
            let named = component(&image.component).is_some_and(|c| {
                c.images
                    .iter()
                    .any(|i| i.reference.to_string() == image.reference)
            });
            if !named && image.from_chart.is_none() {
                return Err(format!(
                    "image {} (component {}) is locked but the spec does not name it",
                    escape(&image.reference),
                    escape(&image.component)
                ));
            }
        }
        for chart in &self.charts {
            let named = component(&chart.component).is_some_and(|c| {
                c.charts
                    .iter()
                    .any(|s| s.name == chart.name && s.version == chart.version)
            });
            if !named {
                return Err(format!(
                    "chart {} {} (component {}) is locked but the spec does not name it",
                    escape(&chart.name),
                    escape(&chart.version),
                    escape(&chart.component)
                ));
            }
        }
        for file in &self.files {
            let named = component(&file.component).is_some_and(|c| {
                c.files
                    .iter()
                    .any(|s| s.name == file.name && s.platform == file.platform)
            });
            if !named {
                return Err(format!(
                    "file {} {} (component {}) is locked but the spec does not name it",
                    escape(&file.name),
                    escape(file.platform.as_deref().unwrap_or("(any platform)")),
                    escape(&file.component)
                ));
            }
        }
        Ok(())
    }
}

/// An image's platform entries: for a multi-platform image, each bundle
/// platform served exactly once and nothing else; for a single manifest,
/// one entry that is the manifest itself.
fn check_image_platforms(image: &LockedImage, wanted: &[Platform]) -> Result<(), String> {
    let name = escape(&image.reference);
    let component = escape(&image.component);
    if !is_multi_platform(&image.media_type) {
        let [only] = image.platforms.as_slice() else {
            return Err(format!(
                "image {name} (component {component}) is a single manifest but locks {} platform entries",
                image.platforms.len()
            ));
        };
        if only.digest != image.digest
            || only.size != image.size
            || only.media_type != image.media_type
        {
            return Err(format!(
                "image {name} (component {component}) is a single manifest, but its platform entry names another manifest ({})",
                only.digest
            ));
        }
        return Ok(());
    }
    if let Some(digest) = repeated(image.platforms.iter().map(|p| &p.digest)).first() {
        return Err(format!(
            "image {name} (component {component}) locks manifest {digest} for more than one platform"
        ));
    }
    if let Some(platform) = repeated(image.platforms.iter().map(|p| &p.platform)).first() {
        return Err(format!(
            "image {name} (component {component}) locks platform {} twice",
            escape(platform)
        ));
    }
    let mut parsed = Vec::new();
    for entry in &image.platforms {
        let platform: Platform = entry.platform.parse().map_err(|_| {
            format!(
                "image {name} (component {component}) locks a manifest for `{}`, which is not a platform",
                escape(&entry.platform)
            )
        })?;
        if entry.digest == image.digest {
            return Err(format!(
                "image {name} (component {component}) lists its own index as the {platform} manifest"
            ));
        }
        if !wanted.iter().any(|w| w.matches(&platform)) {
            return Err(format!(
                "image {name} (component {component}) locks a {platform} manifest, which is not a platform of the bundle"
            ));
        }
        parsed.push(platform);
    }
    for platform in wanted {
        if !parsed.iter().any(|p| platform.matches(p)) {
            return Err(format!(
                "image {name} (component {component}) locks no {platform} manifest"
            ));
        }
    }
    Ok(())
}
