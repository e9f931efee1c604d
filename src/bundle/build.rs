//! Build: a pure function of the lock. Every manifest and blob is fetched by
//! digest (from the cache, the registry, or a local source), the bundle's own
//! manifests are derived from the lock alone, and the archive is written
//! deterministically.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering;

use futures_util::{stream, StreamExt, TryStreamExt};

use super::archive::{write_archive, ArchiveOptions, Compression};
use super::shared::{BuildError, Counters, Needed, Origin};
use super::*;
use crate::lock::{Lock, LockedChart, LockedFile, LockedImage};
use crate::oci::{
    to_canonical_json, Descriptor, Digest, ImageIndex, ImageManifest, ManifestView, Reference,
    ANNOTATION_REF_NAME, ANNOTATION_TITLE, HELM_CHART_LAYER, HELM_CONFIG, OCI_EMPTY, OCI_INDEX,
    OCI_MANIFEST,
};
use crate::progress::Progress;
use crate::registry::Client;
use crate::source::{DockerArchive, Layout};
use crate::store::Store;

/// How a build runs.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Blobs fetched at once.
    pub jobs: usize,
    /// Archive settings.
    pub archive: ArchiveOptions,
    /// Sign the root with this key: a cosign signature artifact is added next
    /// to the root (deterministic, so the archive stays reproducible).
    pub sign: Option<crate::sign::SigningKey>,
    /// Build a delta: leave out the blobs this base already carries.
    pub base: Option<super::delta::Base>,
}

/// What a build produced.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BuildOutcome {
    /// The root index digest: the bundle's identity.
    pub root: Digest,
    /// SHA-256 of the archive file.
    pub archive_sha256: Option<Digest>,
    /// Archive size in bytes.
    pub archive_size: u64,
    /// Blobs in the bundle.
    pub blobs: usize,
    /// Blobs that had to be downloaded or copied into the cache.
    pub blobs_fetched: usize,
    /// Bytes downloaded or copied into the cache.
    pub bytes_fetched: u64,
    /// Fingerprint of the key that signed the root, if signed.
    pub signed_by: Option<String>,
}

/// Builds the bundle of `lock` into the archive `out`.
///
/// `spec_root` is the directory local sources in the lock are relative to;
/// `spec_json` is the composed spec and `sbom` the SBOM embedded next to the
/// lock (the caller derives the SBOM, so building depends on no audit).
#[allow(clippy::too_many_arguments)]
pub async fn build(
    lock: &Lock,
    spec_json: &[u8],
    sbom: &[u8],
    spec_root: &Path,
    client: &Client,
    store: &Store,
    out: &Path,
    options: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildOutcome, BuildError> {
    // Nothing is fetched for a lock whose entries contradict each other.
    lock.check_consistent()
        .map_err(|reason| BuildError::Invalid(format!("the lock is inconsistent: {reason}")))?;
    let mut needed: BTreeMap<Digest, Needed> = BTreeMap::new();
    let mut root_entries: Vec<Descriptor> = Vec::new();
    let mut layout_entries: Vec<Descriptor> = Vec::new();
    let fetched = Counters::default();

    if lock
        .ferry_image
        .as_ref()
        .is_some_and(|f| f.digest.is_none())
    {
        return Err(BuildError::Invalid(
            "the lock names ferry's image but it was not built (ferry_image::complete_lock)"
                .to_owned(),
        ));
    }
    // Manifests first: they name the blobs. ferry's own image, built into
    // the cache already, goes with the others.
    let images = lock.carried_images();
    progress.stage("manifests", images.len() as u64, 0);
    for image in &images {
        let origin = image_origin(image, spec_root)?;
        let manifests = fetch_image_manifests(image, &origin, client, store, &fetched).await?;
        for digest in &manifests {
            let view = ManifestView::parse(&store.read_small(digest)?).map_err(|e| {
                BuildError::Invalid(format!("manifest {digest} of {}: {e}", image.reference))
            })?;
            for blob in view.blob_descriptors() {
                needed.entry(blob.digest.clone()).or_insert(Needed {
                    size: Some(blob.size),
                    origin: origin.clone(),
                    entry: None,
                });
            }
        }
        let descriptor = Descriptor {
            media_type: image.media_type.clone(),
            digest: image.digest.clone(),
            size: image.size,
            platform: None,
            artifact_type: None,
            annotations: BTreeMap::new(),
        };
        push_entry(
            &mut root_entries,
            &mut layout_entries,
            descriptor,
            "image",
            &image.component,
            &image.reference,
        );
        progress.item(&image.reference);
    }
    progress.finish_stage();
    for chart in &lock.charts {
        chart_blobs(chart, spec_root, client, store, &fetched, &mut needed).await?;
    }
    for file in &lock.files {
        let origin = match file.url.strip_prefix("file:") {
            Some(path) => Origin::LocalFile(spec_root.join(path)),
            None => Origin::Url(file.url.clone()),
        };
        let entry = match &file.platform {
            Some(platform) => format!("file {} ({platform})", file.name),
            None => format!("file {}", file.name),
        };
        needed.entry(file.sha256.clone()).or_insert(Needed {
            size: Some(file.size),
            origin,
            entry: Some(entry),
        });
    }

    // A delta leaves out the blobs (never manifests) its base carries.
    let delta = options.base.as_ref().map(|base| super::delta::DeltaRecord {
        base_root: base.root.clone(),
        base_lock: base.lock.clone(),
        omitted: needed
            .iter()
            .filter_map(|(digest, need)| {
                need.size
                    .filter(|size| base.holds(digest, *size))
                    .map(|size| (digest.clone(), size))
            })
            .collect(),
    });
    let omitted = |digest: &Digest| {
        delta
            .as_ref()
            .is_some_and(|d| d.omitted.contains_key(digest))
    };

    // The chart archives are read to derive their manifests, so they go to
    // the cache first; with compression everything does (the archive is one
    // stream), without it blobs stream straight into their place in the archive.
    let streamed = options.archive.compression == Compression::None;
    let chart_archives: BTreeSet<&Digest> = lock
        .charts
        .iter()
        .filter(|c| c.oci_digest.is_none())
        .map(|c| &c.sha256)
        .collect();
    let prefetch: Vec<(&Digest, &Needed)> = needed
        .iter()
        .filter(|(digest, _)| chart_archives.contains(digest) || (!streamed && !omitted(digest)))
        .collect();
    let total_bytes: u64 = prefetch.iter().filter_map(|(_, n)| n.size).sum();
    progress.stage("blobs", prefetch.len() as u64, total_bytes);
    stream::iter(prefetch)
        .map(|(digest, need)| fetch_blob(digest, need, client, store, &fetched, progress))
        .buffer_unordered(options.jobs.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    progress.finish_stage();

    // The bundle's own manifests, derived from the lock alone.
    for chart in &lock.charts {
        let descriptor = chart_manifest(chart, store)?;
        push_entry(
            &mut root_entries,
            &mut layout_entries,
            descriptor,
            "chart",
            &chart.component,
            &chart_ref_name(chart),
        );
    }
    for file in &lock.files {
        let descriptor = file_manifest(file, store)?;
        push_entry(
            &mut root_entries,
            &mut layout_entries,
            descriptor,
            "file",
            &file.component,
            &file_ref_name(file),
        );
    }
    let metadata = metadata_manifest(lock, spec_json, sbom, delta.as_ref(), store)?;
    root_entries.insert(0, metadata);
    let mut root_annotations = BTreeMap::new();
    if let Some(delta) = &delta {
        let base = delta.base_root.as_ref().or(delta.base_lock.as_ref());
        if let Some(base) = base {
            root_annotations.insert(ANNOTATION_DELTA_BASE.to_owned(), base.to_string());
        }
    }
    root_annotations.insert(ANNOTATION_BUNDLE_NAME.to_owned(), lock.bundle.clone());
    if let Some(version) = &lock.bundle_version {
        root_annotations.insert(ANNOTATION_BUNDLE_VERSION.to_owned(), version.clone());
    }
    let root_bytes = to_canonical_json(&ImageIndex {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_owned()),
        artifact_type: Some(ROOT_ARTIFACT_TYPE.to_owned()),
        manifests: root_entries,
        annotations: root_annotations,
    });
    let root = store.put_bytes(&root_bytes)?;
    layout_entries.insert(0, super::layout::root_entry(&root_bytes));
    let signature = match &options.sign {
        Some(key) => Some(super::signed::sign_into_store(
            key,
            &lock.bundle,
            &layout_entries[0],
            store,
        )?),
        None => None,
    };
    if let Some(signed) = &signature {
        layout_entries.push(signed.descriptor.clone());
    }
    let index_json = to_canonical_json(&ImageIndex {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_owned()),
        artifact_type: None,
        manifests: layout_entries,
        annotations: BTreeMap::new(),
    });

    let mut order = blob_order(&root, lock, store)?;
    order.retain(|digest| !omitted(digest));
    for digest in signature.iter().flat_map(|s| &s.blobs) {
        if !order.contains(digest) {
            order.push(digest.clone());
        }
    }
    let sized: Vec<(Digest, u64)> = order
        .iter()
        .map(|digest| {
            store
                .size_of(digest)
                .or_else(|| needed.get(digest).and_then(|n| n.size))
                .map(|size| (digest.clone(), size))
                .ok_or_else(|| BuildError::Invalid(format!("the size of blob {digest} is unknown")))
        })
        .collect::<Result<_, _>>()?;
    let written = if streamed {
        super::direct::write_direct(
            out,
            &index_json,
            &sized,
            &needed,
            store,
            client,
            &fetched,
            options.jobs,
            &options.archive,
            progress,
        )
        .await?
    } else {
        progress.stage("archive", order.len() as u64, 0);
        let written = write_archive(
            out,
            &index_json,
            &order,
            store,
            &fetched.verified(),
            &options.archive,
            progress,
        )?;
        progress.finish_stage();
        written
    };
    Ok(BuildOutcome {
        root,
        archive_sha256: written.sha256,
        archive_size: written.size,
        blobs: order.len(),
        blobs_fetched: fetched.blobs.load(Ordering::Relaxed),
        bytes_fetched: fetched.bytes.load(Ordering::Relaxed),
        signed_by: signature.map(|s| s.fingerprint),
    })
}

fn push_entry(
    root: &mut Vec<Descriptor>,
    layout: &mut Vec<Descriptor>,
    mut descriptor: Descriptor,
    kind: &str,
    component: &str,
    ref_name: &str,
) {
    descriptor
        .annotations
        .insert(ANNOTATION_KIND.to_owned(), kind.to_owned());
    descriptor
        .annotations
        .insert(ANNOTATION_COMPONENT.to_owned(), component.to_owned());
    descriptor
        .annotations
        .insert(ANNOTATION_REF_NAME.to_owned(), ref_name.to_owned());
    // `index.json` lists what verify derives from the root, by the same rule.
    let named = super::layout::layout_entry(&descriptor);
    if !layout.contains(&named) {
        layout.push(named);
    }
    root.push(descriptor);
}

fn image_origin(image: &LockedImage, spec_root: &Path) -> Result<Origin, BuildError> {
    match &image.source {
        Some(source) => {
            let unknown = || {
                BuildError::Invalid(format!(
                    "image {}: unknown source `{source}` in the lock",
                    image.reference
                ))
            };
            if source == "ferry-image" {
                return Ok(Origin::Built);
            }
            let (kind, rest) = source.split_once(':').ok_or_else(unknown)?;
            let (path, name) = rest.split_once('#').ok_or_else(unknown)?;
            match kind {
                "layout" => Ok(Origin::Layout(spec_root.join(path))),
                "ferry-image" => Ok(Origin::Built),
                "docker-archive" => Ok(Origin::DockerArchive {
                    path: spec_root.join(path),
                    reference: name.to_owned(),
                }),
                _ => Err(unknown()),
            }
        }
        None => {
            let reference: Reference = image
                .reference
                .parse()
                .map_err(|e: crate::oci::ReferenceParseError| BuildError::Invalid(e.to_string()))?;
            Ok(Origin::Registry {
                registry: reference.registry,
                repository: reference.repository,
            })
        }
    }
}

/// Ensures the image's top manifest and kept platform manifests are cached;
/// returns the digests of the manifests whose blobs the bundle carries.
async fn fetch_image_manifests(
    image: &LockedImage,
    origin: &Origin,
    client: &Client,
    store: &Store,
    fetched: &Counters,
) -> Result<Vec<Digest>, BuildError> {
    if let Origin::DockerArchive { path, reference } = origin {
        let complete = store
            .read_small(&image.digest)
            .ok()
            .and_then(|bytes| ManifestView::parse(&bytes).ok())
            .is_some_and(|view| {
                view.blob_descriptors()
                    .all(|d| store.contains(&d.digest, Some(d.size)))
            });
        if !complete {
            let bytes = DockerArchive::new(path).ingest_image(reference, store)?;
            let derived = Digest::of_bytes(&bytes);
            if derived != image.digest {
                return Err(BuildError::Invalid(format!(
                    "image {}: the archive {} now derives to {derived}, the lock pins {}; the archive changed since `ferry lock`",
                    image.reference,
                    path.display(),
                    image.digest
                )));
            }
            fetched.fetched(&derived, bytes.len() as u64);
        }
    }
    let mut wanted = vec![(image.digest.clone(), image.size)];
    wanted.extend(image.platforms.iter().map(|p| (p.digest.clone(), p.size)));
    let mut manifests = Vec::new();
    for (digest, size) in wanted {
        if !store.contains(&digest, Some(size)) {
            match origin {
                Origin::Registry {
                    registry,
                    repository,
                } => {
                    let got = client
                        .get_manifest(registry, repository, &digest.to_string())
                        .await
                        .map_err(|source| BuildError::Registry {
                            what: format!("image {}", image.reference),
                            source,
                        })?;
                    store.put_bytes(&got.bytes)?;
                }
                Origin::Layout(dir) => {
                    Layout::new(dir).ingest(store, &digest, Some(size))?;
                }
                Origin::Url(_)
                | Origin::LocalFile(_)
                | Origin::DockerArchive { .. }
                | Origin::Built => {}
            }
            fetched.fetched(&digest, size);
        }
        let view = ManifestView::parse(&store.read_small(&digest)?).map_err(|e| {
            BuildError::Invalid(format!("manifest {digest} of {}: {e}", image.reference))
        })?;
        if !view.is_index() && !manifests.contains(&digest) {
            manifests.push(digest);
        }
    }
    Ok(manifests)
}

/// Brings every chart archive of the lock into the cache (for rendering
/// before a build, e.g. the image completeness check).
pub async fn fetch_chart_archives(
    lock: &Lock,
    spec_root: &Path,
    client: &Client,
    store: &Store,
    progress: &dyn Progress,
) -> Result<(), BuildError> {
    let fetched = Counters::default();
    for chart in &lock.charts {
        let mut needed = BTreeMap::new();
        chart_blobs(chart, spec_root, client, store, &fetched, &mut needed).await?;
        if let Some(need) = needed.get(&chart.sha256) {
            fetch_blob(&chart.sha256, need, client, store, &fetched, progress).await?;
        }
    }
    Ok(())
}

async fn chart_blobs(
    chart: &LockedChart,
    spec_root: &Path,
    client: &Client,
    store: &Store,
    fetched: &Counters,
    needed: &mut BTreeMap<Digest, Needed>,
) -> Result<(), BuildError> {
    if let Some(manifest_digest) = &chart.oci_digest {
        let reference: Reference = chart
            .url
            .parse()
            .map_err(|e: crate::oci::ReferenceParseError| BuildError::Invalid(e.to_string()))?;
        if !store.contains(manifest_digest, None) {
            let got = client
                .get_manifest(
                    &reference.registry,
                    &reference.repository,
                    &manifest_digest.to_string(),
                )
                .await
                .map_err(|source| BuildError::Registry {
                    what: format!("chart {}", chart.url),
                    source,
                })?;
            store.put_bytes(&got.bytes)?;
            fetched.fetched(manifest_digest, got.bytes.len() as u64);
        }
        let view = ManifestView::parse(&store.read_small(manifest_digest)?)
            .map_err(|e| BuildError::Invalid(format!("chart {}: {e}", chart.url)))?;
        for blob in view.blob_descriptors() {
            needed.entry(blob.digest.clone()).or_insert(Needed {
                size: Some(blob.size),
                origin: Origin::Registry {
                    registry: reference.registry.clone(),
                    repository: reference.repository.clone(),
                },
                entry: None,
            });
        }
        return Ok(());
    }
    let origin = match chart.url.strip_prefix("file:") {
        Some(path) => Origin::LocalFile(spec_root.join(path)),
        None => Origin::Url(chart.url.clone()),
    };
    needed.entry(chart.sha256.clone()).or_insert(Needed {
        size: Some(chart.size),
        origin,
        entry: Some(format!("chart {} {}", chart.name, chart.version)),
    });
    Ok(())
}

async fn fetch_blob(
    digest: &Digest,
    need: &Needed,
    client: &Client,
    store: &Store,
    fetched: &Counters,
    progress: &dyn Progress,
) -> Result<(), BuildError> {
    if store.contains(digest, need.size) {
        progress.bytes(need.size.unwrap_or_default());
        progress.item(&digest.to_string());
        return Ok(());
    }
    let registry_error = |what: String| move |source| BuildError::Registry { what, source };
    let size = match &need.origin {
        Origin::DockerArchive { path, .. } => {
            return Err(BuildError::Invalid(format!(
                "blob {digest} is not in {} (it was ingested when locking)",
                path.display()
            )));
        }
        Origin::Registry {
            registry,
            repository,
        } => client
            .fetch_blob(registry, repository, digest, need.size, store, &|n| {
                progress.bytes(n)
            })
            .await
            .map_err(registry_error(format!("{registry}/{repository}")))?,
        Origin::Url(url) => {
            client
                .fetch_url(url, Some(digest), store, &|n| progress.bytes(n))
                .await
                .map_err(registry_error(url.clone()))?
                .1
        }
        Origin::Layout(dir) => Layout::new(dir).ingest(store, digest, need.size)?,
        Origin::LocalFile(path) => store.ingest_file(path, Some((digest, need.size)))?.1,
        Origin::Built => return Err(built_blob_gone(digest)),
    };
    fetched.fetched(digest, size);
    progress.item(&digest.to_string());
    Ok(())
}

/// The `index.json` name of a chart: its OCI reference, or `<repo host/path>/<name>:<version>`.
pub(crate) fn chart_ref_name(chart: &LockedChart) -> String {
    if chart.oci_digest.is_some() {
        return chart.url.clone();
    }
    let tag = chart.version.replace('+', "_");
    let base = match url::Url::parse(&chart.repo) {
        Ok(url) => format!(
            "{}{}{}",
            url.host_str().unwrap_or("charts.local"),
            url.port().map(|p| format!(":{p}")).unwrap_or_default(),
            url.path().trim_end_matches('/')
        ),
        Err(_) => "charts.local".to_owned(),
    };
    format!("{base}/{}:{tag}", chart.name).to_ascii_lowercase()
}

/// The `index.json` name of a file artifact.
pub(crate) fn file_ref_name(file: &LockedFile) -> String {
    let arch = file
        .platform
        .as_deref()
        .map(|p| format!("-{}", p.replace('/', "-")))
        .unwrap_or_default();
    let tag: String = format!("{}{arch}", file.version)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("files.ferry.local/{}/{}:{tag}", file.component, file.name).to_ascii_lowercase()
}

fn empty_config(store: &Store) -> Result<Descriptor, BuildError> {
    store.put_bytes(b"{}")?;
    Ok(Descriptor::for_bytes(OCI_EMPTY, b"{}"))
}

fn put_manifest(manifest: &ImageManifest, store: &Store) -> Result<Descriptor, BuildError> {
    let bytes = to_canonical_json(manifest);
    store.put_bytes(&bytes)?;
    let mut descriptor = Descriptor::for_bytes(OCI_MANIFEST, &bytes);
    descriptor.artifact_type = manifest.artifact_type.clone();
    Ok(descriptor)
}

/// A Helm OCI artifact for a chart archive (an `oci://` chart keeps its own manifest).
fn chart_manifest(chart: &LockedChart, store: &Store) -> Result<Descriptor, BuildError> {
    if let Some(digest) = &chart.oci_digest {
        let bytes = store.read_small(digest)?;
        let mut descriptor = Descriptor::for_bytes(OCI_MANIFEST, &bytes);
        if let Ok(view) = ManifestView::parse(&bytes) {
            descriptor.media_type = view.media_type.unwrap_or_else(|| OCI_MANIFEST.to_owned());
            descriptor.artifact_type = view.artifact_type;
        }
        return Ok(descriptor);
    }
    let config = chart_config(chart, store)?;
    let config_digest = store.put_bytes(&config)?;
    let mut layer = Descriptor::for_bytes(HELM_CHART_LAYER, &[]);
    layer.digest = chart.sha256.clone();
    layer.size = chart.size;
    let mut annotations = BTreeMap::new();
    annotations.insert(ANNOTATION_TITLE.to_owned(), chart.name.clone());
    annotations.insert(
        "org.opencontainers.image.version".to_owned(),
        chart.version.clone(),
    );
    put_manifest(
        &ImageManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST.to_owned(),
            artifact_type: None,
            config: Descriptor {
                media_type: HELM_CONFIG.to_owned(),
                digest: config_digest,
                size: config.len() as u64,
                platform: None,
                artifact_type: None,
                annotations: BTreeMap::new(),
            },
            layers: vec![layer],
            subject: None,
            annotations,
        },
        store,
    )
}

/// Helm's chart config: `Chart.yaml` as JSON, read from the archive.
fn chart_config(chart: &LockedChart, store: &Store) -> Result<Vec<u8>, BuildError> {
    let invalid = |detail: String| {
        BuildError::Invalid(format!("chart {} {}: {detail}", chart.name, chart.version))
    };
    let file = store.open_blob(&chart.sha256)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = archive
        .entries()
        .map_err(|e| invalid(format!("not a gzip tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(format!("corrupt archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| invalid(e.to_string()))?
            .into_owned();
        let parts: Vec<_> = path.components().collect();
        if parts.len() == 2 && path.ends_with("Chart.yaml") {
            if entry.size() > super::MAX_SMALL_BLOB {
                return Err(invalid("Chart.yaml is too large".to_owned()));
            }
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| invalid(format!("Chart.yaml: {e}")))?;
            let value: serde_json::Value =
                serde_norway::from_str(&text).map_err(|e| invalid(format!("Chart.yaml: {e}")))?;
            return Ok(to_canonical_json(&value));
        }
    }
    Err(invalid("the archive has no <chart>/Chart.yaml".to_owned()))
}

/// An ORAS-style artifact for one file.
fn file_manifest(file: &LockedFile, store: &Store) -> Result<Descriptor, BuildError> {
    let file_name = file
        .url
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(&file.name)
        .to_owned();
    let mut layer = Descriptor::for_bytes(FILE_LAYER_MEDIA_TYPE, &[]);
    layer.digest = file.sha256.clone();
    layer.size = file.size;
    layer
        .annotations
        .insert(ANNOTATION_TITLE.to_owned(), file_name);
    let mut annotations = BTreeMap::new();
    annotations.insert(ANNOTATION_FILE_URL.to_owned(), file.url.clone());
    if let Some(platform) = &file.platform {
        annotations.insert(ANNOTATION_FILE_PLATFORM.to_owned(), platform.clone());
    }
    annotations.insert(
        "org.opencontainers.image.version".to_owned(),
        file.version.clone(),
    );
    put_manifest(
        &ImageManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST.to_owned(),
            artifact_type: Some(FILE_ARTIFACT_TYPE.to_owned()),
            config: empty_config(store)?,
            layers: vec![layer],
            subject: None,
            annotations,
        },
        store,
    )
}

fn metadata_manifest(
    lock: &Lock,
    spec_json: &[u8],
    sbom: &[u8],
    delta: Option<&super::delta::DeltaRecord>,
    store: &Store,
) -> Result<Descriptor, BuildError> {
    let lock_bytes = lock.to_text().into_bytes();
    store.put_bytes(&lock_bytes)?;
    store.put_bytes(spec_json)?;
    let mut lock_layer = Descriptor::for_bytes(LOCK_MEDIA_TYPE, &lock_bytes);
    lock_layer
        .annotations
        .insert(ANNOTATION_TITLE.to_owned(), format!("{}.lock", lock.bundle));
    let mut spec_layer = Descriptor::for_bytes(SPEC_MEDIA_TYPE, spec_json);
    spec_layer
        .annotations
        .insert(ANNOTATION_TITLE.to_owned(), "spec.json".to_owned());
    store.put_bytes(sbom)?;
    let mut sbom_layer = Descriptor::for_bytes(super::SBOM_MEDIA_TYPE, sbom);
    sbom_layer
        .annotations
        .insert(ANNOTATION_TITLE.to_owned(), "sbom.cdx.json".to_owned());
    let mut descriptor = put_manifest(
        &ImageManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST.to_owned(),
            artifact_type: Some(METADATA_ARTIFACT_TYPE.to_owned()),
            config: empty_config(store)?,
            layers: {
                let mut layers = vec![lock_layer, spec_layer, sbom_layer];
                if let Some(delta) = delta {
                    let bytes = to_canonical_json(delta);
                    store.put_bytes(&bytes)?;
                    let mut layer = Descriptor::for_bytes(super::delta::DELTA_MEDIA_TYPE, &bytes);
                    layer
                        .annotations
                        .insert(ANNOTATION_TITLE.to_owned(), "delta.json".to_owned());
                    layers.push(layer);
                }
                layers
            },
            subject: None,
            annotations: BTreeMap::new(),
        },
        store,
    )?;
    descriptor
        .annotations
        .insert(ANNOTATION_KIND.to_owned(), "metadata".to_owned());
    Ok(descriptor)
}

/// The canonical blob order: manifests breadth-first from the root, then
/// configs and metadata (small JSON, sorted), then layers (sorted).
/// A blob of ferry's own image that left the cache during the build.
pub(super) fn built_blob_gone(digest: &Digest) -> BuildError {
    BuildError::Invalid(format!(
        "blob {digest} of ferry's image is no longer in the cache (removed during the build?); build again"
    ))
}

fn blob_order(root: &Digest, lock: &Lock, store: &Store) -> Result<Vec<Digest>, BuildError> {
    let images = lock.carried_images();
    let kept: BTreeSet<&Digest> = images
        .iter()
        .flat_map(|i| i.platforms.iter().map(|p| &p.digest))
        .collect();
    let mut manifests = Vec::new();
    let mut seen = BTreeSet::new();
    let mut small = BTreeSet::new();
    let mut layers = BTreeSet::new();
    let mut queue = VecDeque::from([root.clone()]);
    while let Some(digest) = queue.pop_front() {
        if !seen.insert(digest.clone()) {
            continue;
        }
        let view = ManifestView::parse(&store.read_small(&digest)?)
            .map_err(|e| BuildError::Invalid(format!("manifest {digest}: {e}")))?;
        manifests.push(digest.clone());
        let is_root = &digest == root;
        for child in &view.manifests {
            if is_root || kept.contains(&child.digest) {
                queue.push_back(child.digest.clone());
            }
        }
        if let Some(config) = &view.config {
            small.insert(config.digest.clone());
        }
        let metadata = view.artifact_type.as_deref() == Some(METADATA_ARTIFACT_TYPE);
        for layer in &view.layers {
            if metadata {
                small.insert(layer.digest.clone());
            } else {
                layers.insert(layer.digest.clone());
            }
        }
    }
    let mut order = manifests;
    let listed: BTreeSet<Digest> = order.iter().cloned().collect();
    order.extend(small.iter().filter(|d| !listed.contains(*d)).cloned());
    let listed: BTreeSet<Digest> = order.iter().cloned().collect();
    order.extend(layers.into_iter().filter(|d| !listed.contains(d)));
    Ok(order)
}
