//! Resolution: turns a [`Spec`] into a [`Lock`] by asking registries, chart
//! repositories and file servers (or local sources) what each name points to
//! today. Manifests and downloaded content land in the [`Store`] on the way,
//! so a build right after a lock transfers nothing twice.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt::Write as _;

use futures_util::{stream, StreamExt};
use serde::Deserialize;

use super::{
    Lock, LockedChart, LockedComponent, LockedFile, LockedImage, LockedPlatform, LOCK_VERSION,
};
use crate::oci::{Descriptor, Digest, ManifestView, Platform, Reference, HELM_CHART_LAYER};
use crate::progress::Progress;
use crate::registry::Client;
use crate::source::{DockerArchive, Layout};
use crate::spec::{relative_path, ChartRepo, ChartSpec, FileSpec, ImageSource, ImageSpec, Spec};
use crate::store::Store;

type BoxError = Box<dyn StdError + Send + Sync>;

/// How resolution runs.
#[derive(Clone, Debug)]
pub struct ResolveOptions {
    /// Entries resolved at once.
    pub jobs: usize,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        Self { jobs: 8 }
    }
}

/// Entries that could not be resolved; all of them are listed, not just the first.
#[derive(Debug, thiserror::Error)]
#[error("{} of {total} entries could not be resolved:{}", failures.len(), list(failures))]
pub struct ResolveError {
    /// One line per failed entry, with its cause chain.
    pub failures: Vec<String>,
    /// Entries attempted.
    pub total: usize,
}

fn list(failures: &[String]) -> String {
    failures.iter().fold(String::new(), |mut out, f| {
        let _ = write!(out, "\n  - {f}");
        out
    })
}

fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

fn message(text: impl Into<String>) -> BoxError {
    text.into().into()
}

enum Task<'a> {
    Image(&'a str, &'a ImageSpec),
    Chart(&'a str, &'a ChartSpec),
    File(&'a str, &'a FileSpec),
}

enum Locked {
    Image(LockedImage),
    Chart(LockedChart),
    File(LockedFile),
}

impl Task<'_> {
    fn describe(&self) -> String {
        match self {
            Task::Image(c, i) => format!("image {} (component {c})", i.reference),
            Task::Chart(c, ch) => format!(
                "chart {} {} from {} (component {c})",
                ch.name, ch.version, ch.repo
            ),
            Task::File(c, f) => format!(
                "file {} {}{} (component {c})",
                f.name,
                f.version,
                f.platform
                    .as_deref()
                    .map(|p| format!(" {p}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// Resolves every entry of `spec` into a lock.
pub async fn resolve(
    spec: &Spec,
    client: &Client,
    store: &Store,
    options: &ResolveOptions,
    progress: &dyn Progress,
) -> Result<Lock, ResolveError> {
    let mut tasks = Vec::new();
    for component in &spec.components {
        tasks.extend(
            component
                .images
                .iter()
                .map(|i| Task::Image(&component.name, i)),
        );
        tasks.extend(
            component
                .charts
                .iter()
                .map(|c| Task::Chart(&component.name, c)),
        );
        tasks.extend(
            component
                .files
                .iter()
                .map(|f| Task::File(&component.name, f)),
        );
    }
    let total = tasks.len();
    progress.stage("resolve", total as u64, 0);
    let context = Context {
        spec,
        client,
        store,
        progress,
    };
    let results: Vec<(String, Result<Locked, BoxError>)> = stream::iter(tasks)
        .map(|task| {
            let context = &context;
            async move {
                let what = task.describe();
                let result = context.resolve_task(&task).await;
                context.progress.item(&what);
                (what, result)
            }
        })
        .buffer_unordered(options.jobs.max(1))
        .collect()
        .await;
    progress.finish_stage();
    let mut lock = Lock {
        version: LOCK_VERSION,
        bundle: spec.name.clone(),
        bundle_version: spec.version.clone(),
        spec_fingerprint: spec.fingerprint(),
        platforms: spec.platforms.iter().map(ToString::to_string).collect(),
        components: spec
            .components
            .iter()
            .map(|c| LockedComponent {
                name: c.name.clone(),
                version: c.version.clone(),
                license: c.license.clone(),
                fingerprint: c.fingerprint(),
            })
            .collect(),
        images: Vec::new(),
        charts: Vec::new(),
        files: Vec::new(),
        ferry_image: None,
    };
    let mut failures = Vec::new();
    for (what, result) in results {
        match result {
            Ok(Locked::Image(image)) => lock.images.push(image),
            Ok(Locked::Chart(chart)) => lock.charts.push(chart),
            Ok(Locked::File(file)) => lock.files.push(file),
            Err(error) => failures.push(format!("{what}: {}", chain(error.as_ref()))),
        }
    }
    if !failures.is_empty() {
        failures.sort();
        return Err(ResolveError { failures, total });
    }
    lock.images
        .sort_by(|a, b| (&a.component, &a.reference).cmp(&(&b.component, &b.reference)));
    lock.charts.sort_by(|a, b| {
        (&a.component, &a.name, &a.version, &a.repo).cmp(&(
            &b.component,
            &b.name,
            &b.version,
            &b.repo,
        ))
    });
    lock.files.sort_by(|a, b| {
        (&a.component, &a.name, &a.platform, &a.url).cmp(&(
            &b.component,
            &b.name,
            &b.platform,
            &b.url,
        ))
    });
    if let Some(image) = &spec.ferry_image {
        lock.ferry_image = Some(
            lock_ferry_image(spec, image).map_err(|failure| ResolveError {
                failures: vec![failure],
                total: total + 1,
            })?,
        );
    }
    Ok(lock)
}

struct Context<'a> {
    spec: &'a Spec,
    client: &'a Client,
    store: &'a Store,
    progress: &'a dyn Progress,
}

impl Context<'_> {
    async fn resolve_task(&self, task: &Task<'_>) -> Result<Locked, BoxError> {
        match task {
            Task::Image(component, image) => self.image(component, image).await.map(Locked::Image),
            Task::Chart(component, chart) => self.chart(component, chart).await.map(Locked::Chart),
            Task::File(component, file) => self.file(component, file).await.map(Locked::File),
        }
    }

    async fn image(&self, component: &str, image: &ImageSpec) -> Result<LockedImage, BoxError> {
        let reference = &image.reference;
        let origin = match &image.source {
            ImageSource::Registry => Origin::Registry(reference),
            ImageSource::Layout { path, .. } => {
                Origin::Layout(Layout::new(self.spec.root.join(path)))
            }
            ImageSource::DockerArchive { .. } => Origin::Ingested,
        };
        let (top_bytes, top_media_type) = match (&image.source, &origin) {
            (
                ImageSource::DockerArchive {
                    path,
                    reference: name,
                },
                _,
            ) => {
                let bytes =
                    DockerArchive::new(self.spec.root.join(path)).ingest_image(name, self.store)?;
                let digest = Digest::of_bytes(&bytes);
                if let Some(pinned) = reference
                    .digest
                    .as_ref()
                    .filter(|pinned| **pinned != digest)
                {
                    return Err(message(format!(
                        "the spec pins {pinned} but the archive's image derives to {digest}"
                    )));
                }
                (bytes, crate::oci::OCI_MANIFEST.to_owned())
            }
            (
                ImageSource::Layout {
                    reference: name, ..
                },
                Origin::Layout(layout),
            ) => {
                let descriptor = layout.find(name)?;
                if let Some(pinned) = &reference.digest {
                    if pinned != &descriptor.digest {
                        return Err(message(format!(
                            "the spec pins {pinned} but the layout holds {}",
                            descriptor.digest
                        )));
                    }
                }
                let bytes = self.manifest(&origin, &descriptor).await?;
                (bytes, descriptor.media_type)
            }
            _ => {
                let fetched = self
                    .client
                    .get_manifest(
                        &reference.registry,
                        &reference.repository,
                        &reference.tag_or_digest(),
                    )
                    .await?;
                self.store.put_bytes(&fetched.bytes)?;
                (fetched.bytes, fetched.media_type)
            }
        };
        let digest = Digest::of_bytes(&top_bytes);
        let view = ManifestView::parse(&top_bytes)?;
        let platforms = if view.is_index() {
            self.select_platforms(&origin, reference, &view).await?
        } else {
            let platform = self.manifest_platform(&origin, reference, &view).await?;
            vec![LockedPlatform {
                platform,
                digest: digest.clone(),
                media_type: top_media_type.clone(),
                size: top_bytes.len() as u64,
            }]
        };
        Ok(LockedImage {
            component: component.to_owned(),
            reference: reference.to_string(),
            digest,
            media_type: top_media_type,
            size: top_bytes.len() as u64,
            source: match &image.source {
                ImageSource::Registry => None,
                ImageSource::Layout { path, reference } => {
                    Some(format!("layout:{path}#{reference}"))
                }
                ImageSource::DockerArchive { path, reference } => {
                    Some(format!("docker-archive:{path}#{reference}"))
                }
            },
            from_chart: None,
            platforms,
        })
    }

    /// Picks, for each bundle platform, the first index entry that serves it.
    async fn select_platforms(
        &self,
        origin: &Origin<'_>,
        reference: &Reference,
        index: &ManifestView,
    ) -> Result<Vec<LockedPlatform>, BoxError> {
        let mut chosen: BTreeMap<Digest, LockedPlatform> = BTreeMap::new();
        for wanted in &self.spec.platforms {
            let found = index
                .manifests
                .iter()
                .find(|d| d.platform.as_ref().is_some_and(|p| wanted.matches(p)));
            let Some(descriptor) = found else {
                let available: Vec<String> = index
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
                    .collect();
                return Err(message(format!(
                    "{reference} has no {wanted} manifest (it has: {})",
                    available.join(", ")
                )));
            };
            let bytes = self.manifest(origin, descriptor).await?;
            ManifestView::parse(&bytes)?;
            chosen
                .entry(descriptor.digest.clone())
                .or_insert(LockedPlatform {
                    platform: descriptor
                        .platform
                        .as_ref()
                        .map_or_else(|| wanted.to_string(), ToString::to_string),
                    digest: descriptor.digest.clone(),
                    media_type: descriptor.media_type.clone(),
                    size: descriptor.size,
                });
        }
        let mut platforms: Vec<LockedPlatform> = chosen.into_values().collect();
        platforms.sort_by(|a, b| a.platform.cmp(&b.platform));
        Ok(platforms)
    }

    /// The platform a single manifest's config declares, checked against the bundle's.
    async fn manifest_platform(
        &self,
        origin: &Origin<'_>,
        reference: &Reference,
        manifest: &ManifestView,
    ) -> Result<String, BoxError> {
        let Some(config) = &manifest.config else {
            return Ok("unknown".to_owned());
        };
        if config.size > 4 << 20 {
            return Ok("unknown".to_owned());
        }
        self.blob(origin, config).await?;
        #[derive(Deserialize)]
        struct ConfigPlatform {
            os: Option<String>,
            architecture: Option<String>,
            variant: Option<String>,
        }
        let bytes = self.store.read_small(&config.digest)?;
        let Ok(ConfigPlatform {
            os: Some(os),
            architecture: Some(architecture),
            variant,
        }) = serde_json::from_slice::<ConfigPlatform>(&bytes)
        else {
            return Ok("unknown".to_owned());
        };
        let platform = Platform {
            os,
            architecture,
            variant,
        };
        if !self
            .spec
            .platforms
            .iter()
            .any(|wanted| wanted.matches(&platform))
        {
            return Err(message(format!(
                "{reference} is a single {platform} image, which none of the bundle's platforms ({}) can run",
                self.spec
                    .platforms
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(platform.to_string())
    }

    async fn manifest(
        &self,
        origin: &Origin<'_>,
        descriptor: &Descriptor,
    ) -> Result<Vec<u8>, BoxError> {
        match origin {
            Origin::Registry(reference) => {
                if !self
                    .store
                    .contains(&descriptor.digest, Some(descriptor.size))
                {
                    let fetched = self
                        .client
                        .get_manifest(
                            &reference.registry,
                            &reference.repository,
                            &descriptor.digest.to_string(),
                        )
                        .await?;
                    self.store.put_bytes(&fetched.bytes)?;
                }
            }
            Origin::Layout(layout) => {
                layout.ingest(self.store, &descriptor.digest, Some(descriptor.size))?;
            }
            Origin::Ingested => {}
        }
        Ok(self.store.read_small(&descriptor.digest)?)
    }

    async fn blob(&self, origin: &Origin<'_>, descriptor: &Descriptor) -> Result<u64, BoxError> {
        match origin {
            Origin::Registry(reference) => Ok(self
                .client
                .fetch_blob(
                    &reference.registry,
                    &reference.repository,
                    &descriptor.digest,
                    Some(descriptor.size),
                    self.store,
                    &|n| self.progress.bytes(n),
                )
                .await?),
            Origin::Layout(layout) => {
                Ok(layout.ingest(self.store, &descriptor.digest, Some(descriptor.size))?)
            }
            Origin::Ingested => self
                .store
                .size_of(&descriptor.digest)
                .ok_or_else(|| message(format!("blob {} was not ingested", descriptor.digest))),
        }
    }

    async fn chart(&self, component: &str, chart: &ChartSpec) -> Result<LockedChart, BoxError> {
        let locked =
            |url: String, sha256: Digest, size: u64, oci_digest: Option<Digest>| LockedChart {
                component: component.to_owned(),
                name: chart.name.clone(),
                version: chart.version.clone(),
                repo: chart.repo.to_string(),
                url,
                sha256,
                size,
                oci_digest,
            };
        match &chart.repo {
            ChartRepo::Http(repo) => {
                let index_url = format!("{repo}/index.yaml");
                let text = self.client.get_text(&index_url, 256 << 20).await?;
                let entry = find_chart(&text, &index_url, chart)?;
                let archive_url = url::Url::parse(&format!("{repo}/"))?
                    .join(&entry.url)?
                    .to_string();
                let (sha256, size) = self
                    .client
                    .fetch_url(&archive_url, entry.digest.as_ref(), self.store, &|n| {
                        self.progress.bytes(n)
                    })
                    .await?;
                Ok(locked(archive_url, sha256, size, None))
            }
            ChartRepo::Local(dir) => {
                let repo_dir = self.spec.root.join(dir);
                let index_path = repo_dir.join("index.yaml");
                let text = std::fs::read_to_string(&index_path)
                    .map_err(|e| message(format!("cannot read {}: {e}", index_path.display())))?;
                let entry = find_chart(&text, &index_path.display().to_string(), chart)?;
                if entry.url.contains("://") || entry.url.split('/').any(|p| p == "..") {
                    return Err(message(format!(
                        "local chart repository {dir} lists `{}`; only paths inside the repository are allowed",
                        entry.url
                    )));
                }
                let archive = repo_dir.join(&entry.url);
                let (sha256, size) = self
                    .store
                    .ingest_file(&archive, entry.digest.as_ref().map(|d| (d, None)))?;
                Ok(locked(
                    format!("file:{}", relative_path(&archive, &self.spec.root)),
                    sha256,
                    size,
                    None,
                ))
            }
            ChartRepo::Oci(path) => {
                let tag = chart.version.replace('+', "_");
                let reference: Reference = format!("{path}/{}:{tag}", chart.name).parse()?;
                let fetched = self
                    .client
                    .get_manifest(&reference.registry, &reference.repository, &tag)
                    .await?;
                self.store.put_bytes(&fetched.bytes)?;
                let view = ManifestView::parse(&fetched.bytes)?;
                let layer = view
                    .layers
                    .iter()
                    .find(|l| l.media_type == HELM_CHART_LAYER)
                    .ok_or_else(|| {
                        message(format!(
                            "{reference} is not a Helm chart (no {HELM_CHART_LAYER} layer)"
                        ))
                    })?;
                let origin = Origin::Registry(&reference);
                for descriptor in view.blob_descriptors() {
                    self.blob(&origin, descriptor).await?;
                }
                Ok(locked(
                    reference.to_string(),
                    layer.digest.clone(),
                    layer.size,
                    Some(fetched.digest),
                ))
            }
        }
    }

    async fn file(&self, component: &str, file: &FileSpec) -> Result<LockedFile, BoxError> {
        let result: Result<(Digest, u64), BoxError> = match file.local_path() {
            Some(path) => self
                .store
                .ingest_file(
                    &self.spec.root.join(path),
                    file.sha256.as_ref().map(|d| (d, None)),
                )
                .map_err(|e| match e {
                    crate::store::StoreError::DigestMismatch {
                        expected, actual, ..
                    } => hash_mismatch(&file.url, &expected, &actual),
                    other => other.into(),
                }),
            None => self
                .client
                .fetch_url(&file.url, file.sha256.as_ref(), self.store, &|n| {
                    self.progress.bytes(n)
                })
                .await
                .map_err(|e| match e {
                    crate::registry::RegistryError::DigestMismatch {
                        expected, actual, ..
                    } => hash_mismatch(&file.url, &expected, &actual),
                    other => other.into(),
                }),
        };
        let (sha256, size) = result?;
        Ok(LockedFile {
            component: component.to_owned(),
            name: file.name.clone(),
            version: file.version.clone(),
            platform: file.platform.clone(),
            url: file.url.clone(),
            sha256,
            size,
        })
    }
}

fn hash_mismatch(url: &str, expected: &Digest, actual: &Digest) -> BoxError {
    message(format!(
        "sha256 mismatch for {url}: the manifest pins {expected}, the content hashes to {actual} (nothing was stored; fix the manifest or find out who changed the file)"
    ))
}

/// Where an image's manifests and blobs are read from.
enum Origin<'a> {
    Registry(&'a Reference),
    Layout(Layout),
    /// Already copied into the store (a `docker save` archive).
    Ingested,
}

struct IndexEntry {
    url: String,
    digest: Option<Digest>,
}

/// Finds a chart version in a Helm repository `index.yaml`.
fn find_chart(text: &str, index: &str, chart: &ChartSpec) -> Result<IndexEntry, BoxError> {
    #[derive(Deserialize)]
    struct RepoIndex {
        #[serde(default)]
        entries: BTreeMap<String, Vec<RepoEntry>>,
    }
    #[derive(Deserialize)]
    struct RepoEntry {
        version: String,
        #[serde(default)]
        urls: Vec<String>,
        #[serde(default)]
        digest: Option<String>,
    }
    let parsed: RepoIndex = serde_norway::from_str(text)
        .map_err(|e| message(format!("{index} is not a Helm repository index: {e}")))?;
    let versions = parsed
        .entries
        .get(&chart.name)
        .ok_or_else(|| message(format!("{index} has no chart named `{}`", chart.name)))?;
    let entry = versions
        .iter()
        .find(|e| e.version == chart.version)
        .ok_or_else(|| {
            let available: Vec<&str> = versions
                .iter()
                .take(10)
                .map(|e| e.version.as_str())
                .collect();
            message(format!(
                "{index} has no version {} of `{}` (newest listed: {})",
                chart.version,
                chart.name,
                available.join(", ")
            ))
        })?;
    let url = entry.urls.first().cloned().ok_or_else(|| {
        message(format!(
            "{index}: `{}` {} lists no URL",
            chart.name, chart.version
        ))
    })?;
    let digest = match &entry.digest {
        Some(hex) => Some(Digest::from_hex(hex.trim_start_matches("sha256:"))?),
        None => None,
    };
    Ok(IndexEntry { url, digest })
}

/// ferry's image as locked: its version, and per platform `self` or a file
/// pinned by SHA-256 (hashed here, streamed).
fn lock_ferry_image(
    spec: &Spec,
    image: &crate::spec::FerryImageSpec,
) -> Result<crate::lock::LockedFerryImage, String> {
    let hash = |file: &str| {
        crate::ferry_image::hash_file(&spec.root.join(file))
            .map_err(|e| format!("ferry's image: {}", chain(&e)))
    };
    let mut binaries = Vec::new();
    for platform in &spec.platforms {
        let (source, sha256) = match image.binaries.get(&platform.architecture) {
            Some(file) => (format!("file:{file}"), Some(hash(file)?)),
            None => ("self".to_owned(), None),
        };
        binaries.push(crate::lock::LockedFerryBinary {
            platform: platform.to_string(),
            source,
            sha256,
            manifest: None,
            manifest_size: None,
            statically_linked: None,
        });
    }
    let (ca_certificates, ca_sha256) = match &image.ca_certificates {
        Some(file) => (format!("file:{file}"), Some(hash(file)?)),
        None => ("host".to_owned(), None),
    };
    let version = crate::ferry_image::version().to_owned();
    Ok(crate::lock::LockedFerryImage {
        reference: crate::ferry_image::reference(&version),
        version,
        ca_certificates,
        ca_sha256,
        digest: None,
        media_type: None,
        size: None,
        warnings: Vec::new(),
        binaries,
    })
}
