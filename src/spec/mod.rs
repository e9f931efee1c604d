//! The declarative spec: a bundle file naming components, each described by a
//! component manifest, composed with overlays into one [`Spec`].
//!
//! Loading is pure: it reads files, never the network. Every error names the
//! file, line and column it comes from.

mod deploy;
pub(crate) mod depth;
pub mod files;
mod paths;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use self::deploy::{
    default_group, parse_duration, ChartStep, DeployAction, DeployStep, ManifestStep, WaitStep,
    WaitTarget, DEFAULT_TIMEOUT_SECONDS,
};
use self::files::{BundleFile, ComponentFile, FileEntry, ImageEntry, Sha256Entry, API_VERSION};
pub use self::paths::{normalize, relative_path};
use crate::oci::{Digest, Platform, Reference};

/// A place in a spec file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub path: PathBuf,
    /// 1-based line, when known.
    pub line: usize,
    /// 1-based column, when known.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // No position (the file itself could not be read).
            return write!(f, "{}", self.path.display());
        }
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// A spec error, always with a location.
#[derive(Debug, thiserror::Error)]
#[error("{}", if location.line == 0 && message.contains(&location.path.display().to_string()) { message.clone() } else { format!("{location}: {message}") })]
pub struct SpecError {
    /// Where.
    pub location: Location,
    /// What.
    pub message: String,
}

/// A loaded source file, kept to turn values back into locations.
struct Source {
    path: PathBuf,
    text: String,
}

impl Source {
    fn read(path: &Path, referenced_from: Option<Location>) -> Result<Self, SpecError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self {
                path: path.to_owned(),
                text,
            }),
            // A file that cannot be read has no line to point at: the message names it, and
            // only a reference from another spec file gets a location (where it is named).
            Err(error) => Err(SpecError {
                location: referenced_from.unwrap_or(Location {
                    path: path.to_owned(),
                    line: 0,
                    column: 0,
                }),
                message: match error.kind() {
                    std::io::ErrorKind::NotFound => format!("no such file: {}", path.display()),
                    _ => format!("cannot read {}: {error}", path.display()),
                },
            }),
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, SpecError> {
        if let Some((line, column)) = depth::too_deep(&self.text) {
            return Err(SpecError {
                location: Location {
                    path: self.path.clone(),
                    line,
                    column,
                },
                message: format!(
                    "nested deeper than {} levels; no spec needs that",
                    depth::MAX_DEPTH
                ),
            });
        }
        serde_norway::from_str(&self.text).map_err(|error| {
            let (line, column) = error
                .location()
                .map_or((1, 1), |at| (at.line(), at.column()));
            let mut message = error.to_string();
            // The location is already in front; drop serde's copy of it.
            if let Some(at) = message.rfind(" at line ") {
                message.truncate(at);
            }
            SpecError {
                location: Location {
                    path: self.path.clone(),
                    line,
                    column,
                },
                message,
            }
        })
    }

    /// The location of the first occurrence of `needle` (after `after`, a
    /// preceding key), for errors about values serde accepted.
    fn locate(&self, needle: &str) -> Location {
        self.location_of(self.text.find(needle).unwrap_or(0))
    }

    /// The location of `needles` found one after another inside the byte
    /// range `span` (e.g. a key, then its value), or of as much of the chain
    /// as is found, or of the range's start.
    fn locate_in(&self, span: (usize, usize), needles: &[&str]) -> Location {
        let end = span.1.min(self.text.len());
        let mut at = span.0.min(end);
        for needle in needles {
            match self.text.get(at..end).and_then(|range| range.find(needle)) {
                Some(found) => at += found,
                None => break,
            }
        }
        self.location_of(at)
    }

    fn error_in(&self, span: (usize, usize), needles: &[&str], message: String) -> SpecError {
        SpecError {
            location: self.locate_in(span, needles),
            message,
        }
    }

    fn location_of(&self, offset: usize) -> Location {
        let before = self.text.get(..offset).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        Location {
            path: self.path.clone(),
            line,
            column,
        }
    }

    fn error(&self, needle: &str, message: impl Into<String>) -> SpecError {
        SpecError {
            location: self.locate(needle),
            message: message.into(),
        }
    }
}

/// A fully composed bundle spec: what to carry, before resolution.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Spec {
    /// Bundle name.
    pub name: String,
    /// Bundle release version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Platforms carried.
    pub platforms: Vec<Platform>,
    /// Components, sorted by name.
    pub components: Vec<Component>,
    /// ferry's own image, when the bundle carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ferry_image: Option<FerryImageSpec>,
    /// The top spec file's directory; local paths in the spec are relative to it.
    #[serde(skip)]
    pub root: PathBuf,
    /// The top spec file.
    #[serde(skip)]
    pub path: PathBuf,
}

/// ferry's own image in a spec: where its binaries and CA file come from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FerryImageSpec {
    /// A binary per architecture, relative to the spec root; an
    /// architecture not named takes the running ferry (`self`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub binaries: BTreeMap<String, String>,
    /// The CA certificates file relative to the spec root (default: the build host's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
}

/// A component with its manifest applied.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Component {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SPDX licence expression.
    pub license: String,
    /// Upstream project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Upstream source file of the manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Dependencies on other components.
    pub dependencies: Vec<String>,
    /// Chart values.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub values: serde_json::Value,
    /// Images.
    pub images: Vec<ImageSpec>,
    /// Charts.
    pub charts: Vec<ChartSpec>,
    /// Files, one per architecture.
    pub files: Vec<FileSpec>,
    /// The manifest file, relative to the spec root.
    pub manifest: String,
    /// How the component is installed into a cluster, in order (none for
    /// what the cluster's installer puts on its nodes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deploy: Vec<DeployStep>,
}

/// An image to carry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageSpec {
    /// The reference as written (normalised).
    #[serde(serialize_with = "serialize_display")]
    pub reference: Reference,
    /// Where it comes from.
    pub source: ImageSource,
}

/// Where an image comes from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ImageSource {
    /// Its registry (or a mirror of it).
    Registry,
    /// A local OCI image layout.
    Layout {
        /// Layout directory, relative to the spec root.
        path: String,
        /// `org.opencontainers.image.ref.name` inside the layout.
        reference: String,
    },
    /// A `docker save` archive.
    DockerArchive {
        /// The archive, relative to the spec root.
        path: String,
        /// The image's `RepoTags` entry.
        reference: String,
    },
}

/// A chart to carry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ChartSpec {
    /// Chart name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Repository.
    pub repo: ChartRepo,
}

/// Where a chart comes from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "location")]
pub enum ChartRepo {
    /// An HTTP(S) chart repository with `index.yaml`.
    Http(String),
    /// An OCI registry path (`host/path`, without the chart name).
    Oci(String),
    /// A local repository directory with `index.yaml`, relative to the spec root.
    Local(String),
}

impl fmt::Display for ChartRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(url) => f.write_str(url),
            Self::Oci(path) => write!(f, "oci://{path}"),
            Self::Local(path) => f.write_str(path),
        }
    }
}

/// One file for one architecture (or for all, when the URL has no `{arch}`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FileSpec {
    /// File name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Platform (`linux/amd64`), or `None` when the file serves every platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Expanded URL, or a local path relative to the spec root (`file:` prefix).
    pub url: String,
    /// Known SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Digest>,
}

impl FileSpec {
    /// Whether the file comes from the local disk.
    pub fn local_path(&self) -> Option<&str> {
        self.url.strip_prefix("file:")
    }
}

fn serialize_display<S: serde::Serializer, T: fmt::Display>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

impl Spec {
    /// Loads a bundle spec, its overlays' bases and every component manifest.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let path = std::path::absolute(path).map_err(|error| SpecError {
            location: Location {
                path: path.to_owned(),
                line: 1,
                column: 1,
            },
            message: error.to_string(),
        })?;
        let root = path.parent().map(Path::to_owned).unwrap_or_default();
        let layered = load_layers(&path, None, 0)?;
        let arches: BTreeSet<String> = layered
            .platforms
            .iter()
            .map(|p| p.architecture.clone())
            .collect();
        let mut components = Vec::new();
        for entry in layered.components.values() {
            components.push(load_component(entry, &layered.manifests, &arches, &root)?);
        }
        let names: BTreeSet<&str> = components.iter().map(|c| c.name.as_str()).collect();
        for component in &components {
            for dependency in &component.dependencies {
                if !names.contains(dependency.as_str()) {
                    let source =
                        Source::read(&layered.manifests.join(component.manifest_rel()), None)
                            .unwrap_or(Source {
                                path: path.clone(),
                                text: String::new(),
                            });
                    return Err(source.error(
                        dependency,
                        format!(
                            "component `{}` depends on `{dependency}`, which the bundle does not include",
                            component.name
                        ),
                    ));
                }
            }
        }
        let ferry_image = layered.ferry_image.map(|f| FerryImageSpec {
            binaries: f
                .binaries
                .into_iter()
                .map(|(arch, file)| (arch, relative_path(&file, &root)))
                .collect(),
            ca_certificates: f.ca_certificates.map(|file| relative_path(&file, &root)),
        });
        Ok(Self {
            name: layered.name,
            version: layered.version,
            platforms: layered.platforms,
            components,
            ferry_image,
            root,
            path,
        })
    }

    /// The canonical JSON of the composed spec: what the fingerprint hashes
    /// and what a bundle embeds.
    pub fn canonical_json(&self) -> Vec<u8> {
        crate::oci::to_canonical_json(self)
    }

    /// SHA-256 of [`Spec::canonical_json`].
    pub fn fingerprint(&self) -> Digest {
        Digest::of_bytes(&self.canonical_json())
    }
}

impl Component {
    fn manifest_rel(&self) -> String {
        format!("{}/{}.yaml", self.name, self.version)
    }

    /// SHA-256 of this component's canonical JSON (names a stale component).
    pub fn fingerprint(&self) -> Digest {
        Digest::of_bytes(&crate::oci::to_canonical_json(self))
    }
}

/// The composed top-level fields and component entries, before manifests.
struct Layered {
    name: String,
    version: Option<String>,
    platforms: Vec<Platform>,
    manifests: PathBuf,
    components: BTreeMap<String, LayeredComponent>,
    ferry_image: Option<LayeredFerryImage>,
}

/// ferry's image as layered, with absolute paths.
#[derive(Default)]
struct LayeredFerryImage {
    binaries: BTreeMap<String, PathBuf>,
    ca_certificates: Option<PathBuf>,
}

struct LayeredComponent {
    name: String,
    version: String,
    namespace: Option<String>,
    values: serde_json::Value,
    /// Extra images with the directory their local paths are relative to.
    images: Vec<(ImageEntry, PathBuf)>,
    /// File hashes replaced by overlays, by file name.
    file_sha256: BTreeMap<String, Sha256Entry>,
    /// Whether overlays dropped the images' digest pins.
    unpin_images: bool,
    /// Where the entry was declared, for errors about its manifest.
    declared_at: Location,
}

fn load_layers(path: &Path, from: Option<Location>, depth: usize) -> Result<Layered, SpecError> {
    let source = Source::read(path, from)?;
    if depth > 16 {
        return Err(source.error("base:", "overlay chain deeper than 16 files (a cycle?)"));
    }
    let file: BundleFile = source.parse()?;
    if file.api_version != API_VERSION {
        return Err(source.error(
            "apiVersion",
            format!(
                "apiVersion must be `{API_VERSION}`, found `{}`",
                file.api_version
            ),
        ));
    }
    if file.kind != "Bundle" {
        return Err(source.error(
            "kind",
            format!("kind must be `Bundle`, found `{}`", file.kind),
        ));
    }
    let dir = path.parent().map(Path::to_owned).unwrap_or_default();
    let mut layered = match &file.base {
        Some(base) => load_layers(&dir.join(base), Some(source.locate(base)), depth + 1)?,
        None => Layered {
            name: String::new(),
            version: None,
            platforms: Vec::new(),
            manifests: dir.join("../vendor-manifests"),
            components: BTreeMap::new(),
            ferry_image: None,
        },
    };
    match &file.ferry_image {
        None => {}
        Some(files::FerryImageEntry::Enabled(false)) => layered.ferry_image = None,
        Some(files::FerryImageEntry::Enabled(true)) => {
            layered.ferry_image.get_or_insert_with(Default::default);
        }
        Some(files::FerryImageEntry::Detailed(details)) => {
            let image = layered.ferry_image.get_or_insert_with(Default::default);
            for (arch, file) in &details.binaries {
                image
                    .binaries
                    .insert(arch.clone(), normalize(&dir.join(file)));
            }
            if let Some(ca) = &details.ca_certificates {
                image.ca_certificates = Some(normalize(&dir.join(ca)));
            }
        }
    }
    if !valid_name(&file.name) {
        return Err(source.error(
            &file.name,
            "bundle name must be lowercase letters, digits, `.`, `_` and `-`",
        ));
    }
    layered.name = file.name.clone();
    if file.version.is_some() {
        layered.version = file.version.clone();
    }
    if let Some(manifests) = &file.manifests {
        layered.manifests = dir.join(manifests);
    }
    if let Some(platforms) = &file.platforms {
        layered.platforms = platforms
            .iter()
            .map(|p| {
                p.parse()
                    .map_err(|e: crate::oci::PlatformParseError| source.error(p, e.to_string()))
            })
            .collect::<Result<_, _>>()?;
    }
    for name in &file.remove {
        if layered.components.remove(name).is_none() {
            return Err(source.error(
                name,
                format!("cannot remove `{name}`: the base spec has no such component"),
            ));
        }
    }
    for entry in file.components {
        let declared_at = source.locate(&format!("name: {}", entry.name));
        let images = entry.images.into_iter().map(|i| (i, dir.clone()));
        match layered.components.get_mut(&entry.name) {
            Some(existing) => {
                if let Some(version) = entry.version {
                    existing.version = version;
                    existing.declared_at = declared_at;
                }
                if entry.namespace.is_some() {
                    existing.namespace = entry.namespace;
                }
                if let Some(values) = entry.values {
                    merge_values(&mut existing.values, values);
                }
                existing.images.extend(images);
                existing.file_sha256.extend(entry.file_sha256);
                existing.unpin_images |= entry.unpin_images;
            }
            None => {
                let Some(version) = entry.version else {
                    return Err(SpecError {
                        location: declared_at,
                        message: format!(
                            "component `{}` needs a `version` (it is not in a base spec to override)",
                            entry.name
                        ),
                    });
                };
                layered.components.insert(
                    entry.name.clone(),
                    LayeredComponent {
                        name: entry.name,
                        version,
                        namespace: entry.namespace,
                        values: entry.values.unwrap_or(serde_json::Value::Null),
                        images: images.collect(),
                        file_sha256: entry.file_sha256,
                        unpin_images: entry.unpin_images,
                        declared_at,
                    },
                );
            }
        }
    }
    if layered.platforms.is_empty() {
        return Err(source.error(
            "platforms",
            "a bundle needs at least one platform, e.g. `platforms: [linux/amd64]`",
        ));
    }
    Ok(layered)
}

/// Overlay semantics for values: maps merge recursively, `null` deletes, anything else replaces.
fn merge_values(base: &mut serde_json::Value, overlay: serde_json::Value) {
    match (base, overlay) {
        (serde_json::Value::Object(base), serde_json::Value::Object(overlay)) => {
            for (key, value) in overlay {
                if value.is_null() {
                    base.remove(&key);
                } else if let Some(existing) = base.get_mut(&key) {
                    merge_values(existing, value);
                } else {
                    base.insert(key, value);
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

fn load_component(
    entry: &LayeredComponent,
    manifests: &Path,
    arches: &BTreeSet<String>,
    root: &Path,
) -> Result<Component, SpecError> {
    if !valid_name(&entry.name) || !valid_name(&entry.version.replace('+', "-")) {
        return Err(SpecError {
            location: entry.declared_at.clone(),
            message: "component names and versions must be lowercase letters, digits, `.`, `_`, `-` (and `+` in versions)".to_owned(),
        });
    }
    let path = manifests
        .join(&entry.name)
        .join(format!("{}.yaml", entry.version));
    if !path.is_file() {
        let available = std::fs::read_dir(manifests.join(&entry.name))
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()?
                            .strip_suffix(".yaml")
                            .map(str::to_owned)
                    })
                    .collect::<BTreeSet<_>>()
            })
            .unwrap_or_default();
        let hint = if available.is_empty() {
            String::new()
        } else {
            format!(
                " (available versions: {})",
                available.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        return Err(SpecError {
            location: entry.declared_at.clone(),
            message: format!(
                "no component manifest for `{}` version `{}`: expected {}{hint}",
                entry.name,
                entry.version,
                path.display()
            ),
        });
    }
    let source = Source::read(&path, Some(entry.declared_at.clone()))?;
    let file: ComponentFile = source.parse()?;
    if file.api_version != API_VERSION || file.kind != "Component" {
        return Err(source.error(
            "apiVersion",
            format!("expected `apiVersion: {API_VERSION}` and `kind: Component`"),
        ));
    }
    if file.name != entry.name || file.version != entry.version {
        return Err(source.error(
            "name:",
            format!(
                "manifest describes `{}` {} but sits at {}/{}.yaml",
                file.name, file.version, entry.name, entry.version
            ),
        ));
    }
    let manifest_dir = path.parent().map(Path::to_owned).unwrap_or_default();
    let mut images = BTreeSet::new();
    for image in &file.images {
        let mut spec = image_spec(image, &manifest_dir, root, &source)?;
        if entry.unpin_images && spec.reference.tag.is_some() {
            spec.reference.digest = None;
        }
        images.insert(spec);
    }
    if !entry.images.is_empty() {
        let overlay_source = Source::read(&entry.declared_at.path, None)?;
        for (image, dir) in &entry.images {
            images.insert(image_spec(image, dir, root, &overlay_source)?);
        }
    }
    let mut charts = BTreeSet::new();
    for chart in &file.charts {
        let repo = if let Some(path) = chart.repo.strip_prefix("oci://") {
            ChartRepo::Oci(path.trim_end_matches('/').to_owned())
        } else if chart.repo.starts_with("http://") || chart.repo.starts_with("https://") {
            ChartRepo::Http(chart.repo.trim_end_matches('/').to_owned())
        } else if chart.repo.contains("://") {
            return Err(source.error(
                &chart.repo,
                "chart repo must be https://, http://, oci:// or a local directory",
            ));
        } else {
            ChartRepo::Local(relative_path(&manifest_dir.join(&chart.repo), root))
        };
        charts.insert(ChartSpec {
            name: chart.name.clone(),
            version: chart.version.clone(),
            repo,
        });
    }
    let mut files = BTreeSet::new();
    for file_entry in &file.files {
        let known = entry
            .file_sha256
            .get(&file_entry.name)
            .or(file_entry.sha256.as_ref());
        files.extend(file_specs(
            file_entry,
            known,
            &file.version,
            arches,
            &manifest_dir,
            root,
            &source,
        )?);
    }
    let deploy = deploy::resolve_steps(
        &file.deploy,
        &deploy::DeployContext {
            component: &file.name,
            namespace: entry.namespace.as_deref(),
            charts: charts.iter().map(|c| c.name.as_str()).collect(),
            files: files.iter().map(|f| f.name.as_str()).collect(),
            source: &source,
        },
    )?;
    Ok(Component {
        deploy,
        name: file.name,
        version: file.version,
        license: file.license,
        upstream: file.upstream,
        source: file.source,
        namespace: entry.namespace.clone(),
        dependencies: file.dependencies,
        values: entry.values.clone(),
        images: images.into_iter().collect(),
        charts: charts.into_iter().collect(),
        files: files.into_iter().collect(),
        manifest: relative_path(&path, root),
    })
}

fn image_spec(
    image: &ImageEntry,
    dir: &Path,
    root: &Path,
    source: &Source,
) -> Result<ImageSpec, SpecError> {
    let reference: Reference =
        image
            .reference
            .parse()
            .map_err(|e: crate::oci::ReferenceParseError| {
                source.error(&image.reference, e.to_string())
            })?;
    let name = || {
        image
            .source_ref
            .clone()
            .unwrap_or_else(|| image.reference.clone())
    };
    let source_kind = match (&image.layout, &image.archive) {
        (Some(_), Some(_)) => {
            return Err(source.error(
                &image.reference,
                "an image comes from `layout` or `archive`, not both",
            ));
        }
        (Some(layout), None) => ImageSource::Layout {
            path: relative_path(&dir.join(layout), root),
            reference: name(),
        },
        (None, Some(archive)) => ImageSource::DockerArchive {
            path: relative_path(&dir.join(archive), root),
            reference: name(),
        },
        (None, None) if image.source_ref.is_some() => {
            return Err(source.error("sourceRef", "`sourceRef` needs `layout` or `archive`"));
        }
        (None, None) => ImageSource::Registry,
    };
    Ok(ImageSpec {
        reference,
        source: source_kind,
    })
}

fn file_specs(
    entry: &FileEntry,
    known: Option<&Sha256Entry>,
    component_version: &str,
    arches: &BTreeSet<String>,
    dir: &Path,
    root: &Path,
    source: &Source,
) -> Result<Vec<FileSpec>, SpecError> {
    let version = entry
        .version
        .clone()
        .unwrap_or_else(|| component_version.to_owned());
    let parse_hash = |hex: &str| {
        Digest::from_hex(hex.trim_start_matches("sha256:"))
            .map_err(|e| source.error(hex, e.to_string()))
    };
    let expand = |arch: &str| {
        entry
            .url
            .replace("{version}", &version)
            .replace("{arch}", arch)
            .replace("{os}", "linux")
    };
    let url_for = |expanded: String| {
        if expanded.contains("://") {
            if expanded.starts_with("https://") || expanded.starts_with("http://") {
                Ok(expanded)
            } else {
                Err(source.error(&entry.url, "file URLs must be http(s):// or a local path"))
            }
        } else {
            Ok(format!("file:{}", relative_path(&dir.join(expanded), root)))
        }
    };
    if !entry.url.contains("{arch}") {
        let sha256 = match known {
            Some(Sha256Entry::One(hex)) => Some(parse_hash(hex)?),
            Some(Sha256Entry::PerArch(_)) => {
                return Err(source.error(
                    &entry.url,
                    format!(
                        "file `{}` has per-architecture hashes but its URL has no `{{arch}}`",
                        entry.name
                    ),
                ))
            }
            None => None,
        };
        let url = url_for(expand(""))?;
        return Ok(vec![FileSpec {
            name: entry.name.clone(),
            version: version.clone(),
            platform: None,
            url,
            sha256,
        }]);
    }
    // One file per architecture the bundle carries; an architecture without a
    // known hash is downloaded and hashed when locking.
    let mut out = Vec::new();
    for arch in arches {
        let sha256 = match known {
            Some(Sha256Entry::PerArch(map)) => {
                map.get(arch).map(|hex| parse_hash(hex)).transpose()?
            }
            Some(Sha256Entry::One(_)) => {
                return Err(source.error(
                    &entry.url,
                    format!(
                        "file `{}` varies by `{{arch}}`: give its sha256 per architecture",
                        entry.name
                    ),
                ))
            }
            None => None,
        };
        out.push(FileSpec {
            name: entry.name.clone(),
            version: version.clone(),
            platform: Some(format!("linux/{arch}")),
            url: url_for(expand(arch))?,
            sha256,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_merge_like_overlays() {
        let mut base = serde_json::json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge_values(
            &mut base,
            serde_json::json!({"a": {"b": 5, "c": null}, "e": 6}),
        );
        assert_eq!(base, serde_json::json!({"a": {"b": 5}, "d": 3, "e": 6}));
    }
}
