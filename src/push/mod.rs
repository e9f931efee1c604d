//! `push`: every image, chart, file artifact, the bundle metadata and its
//! signature, from a bundle read in place into a registry (Harbor or any
//! distribution registry).
//!
//! Order of work: projects (Harbor), then blobs (each unique blob uploaded
//! once, to the first repository needing it; other repositories get it by a
//! cross-repository mount), then manifests children-first, then a check that
//! every target tag resolves to the bundle's digest. Everything already in
//! the target is skipped (a manifest by tag, a blob by HEAD), which is what
//! makes an interrupted push resumable: re-running transfers only what is missing.

pub mod harbor;
pub mod mapping;
pub mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use futures_util::{stream, StreamExt, TryStreamExt};
use serde::Serialize;

pub use self::mapping::Mapping;
use crate::bundle::{OpenBundle, OpenError};
use crate::image_map::{ArtifactKind, ImageMap, MapEntry};
use crate::oci::{Descriptor, Digest, Reference};
use crate::progress::Progress;
use crate::registry::{BlobSource, Client, MountOutcome, RegistryError, UploadJournal};

/// Whether the target is treated as Harbor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HarborMode {
    /// Ask `/api/v2.0/systeminfo`.
    Detect,
    /// It is Harbor: create projects.
    Always,
    /// A plain registry: no project API.
    Never,
}

/// How to push.
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// Where references go.
    pub mapping: Mapping,
    /// Harbor handling.
    pub harbor: HarborMode,
    /// Transfers at once.
    pub jobs: usize,
    /// Upload chunk size (a broken connection costs at most one chunk).
    pub chunk_size: u64,
    /// Where open upload sessions are recorded, so that a push after a kill
    /// continues them; `None`: every upload starts from byte 0.
    pub journal: Option<UploadJournal>,
    /// Set it to stop the push: uploads end after their chunk in flight (with
    /// their sessions recorded in the journal) and no new blob is started.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// What a push did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PushReport {
    /// Target registry.
    pub target: String,
    /// Whether the target was handled as Harbor.
    pub harbor: bool,
    /// Harbor projects created by this run.
    pub projects_created: Vec<String>,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Bytes of the blobs uploaded.
    pub bytes_uploaded: u64,
    /// Of those, bytes an upload session left open by an earlier push
    /// already held, so they were not sent again.
    pub bytes_resumed: u64,
    /// Blobs mounted from another repository.
    pub blobs_mounted: usize,
    /// Blobs already present.
    pub blobs_skipped: usize,
    /// Manifests written.
    pub manifests_pushed: usize,
    /// Artifacts whose tag already pointed at the right digest.
    pub artifacts_skipped: usize,
    /// The image map: original → target, with digest.
    pub map: ImageMap,
}

/// Push errors.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The bundle could not be read.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A registry request failed.
    #[error("{what}")]
    Registry {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: RegistryError,
    },
    /// The Harbor API failed.
    #[error("cannot create Harbor project `{project}`")]
    Harbor {
        /// The project.
        project: String,
        /// The cause.
        #[source]
        source: harbor::HarborError,
    },
    /// Two artifacts map to the same target tag.
    #[error("{first} and {second} both map to {target}\nhint: use --keep-registry to keep registries apart")]
    Collision {
        /// The target.
        target: String,
        /// One original.
        first: String,
        /// The other.
        second: String,
    },
    /// After the push, a tag does not resolve to the bundle's digest.
    #[error("after the push, {target} resolves to {actual}, not {expected}")]
    Check {
        /// The target.
        target: String,
        /// Bundle digest.
        expected: Digest,
        /// What the registry reports.
        actual: String,
    },
    /// A delta bundle's base is not (fully) in the target.
    #[error("this delta bundle needs its base {base} in the target first; {} blob(s) are missing:{}\nhint: push the base bundle first (with the same --to and mapping)", missing.len(), missing.iter().map(|m| format!("\n  - {m}")).collect::<String>())]
    BaseMissing {
        /// The base's digest.
        base: String,
        /// The missing blobs and where they were expected.
        missing: Vec<String>,
    },
    /// Something in the bundle cannot be pushed.
    #[error("{0}")]
    Invalid(String),
}

/// One artifact to push.
struct Item {
    mapped: MapEntry,
    target: Reference,
    top: Descriptor,
    manifests: Vec<Descriptor>,
    blobs: Vec<Descriptor>,
    /// For the root: the artifact repository each blob is mounted from
    /// (nothing of the root is uploaded; its blobs are already in the target).
    sources: BTreeMap<Digest, String>,
}

#[derive(Default)]
struct Counters {
    uploaded: AtomicUsize,
    bytes: AtomicU64,
    resumed: AtomicU64,
    mounted: AtomicUsize,
    skipped: AtomicUsize,
    manifests: AtomicUsize,
}

fn registry_error(what: String) -> impl FnOnce(RegistryError) -> PushError {
    move |source| PushError::Registry { what, source }
}

/// Pushes a bundle (already verified by the caller) into the mapping's target.
pub async fn push(
    bundle: &OpenBundle,
    client: &Client,
    options: &PushOptions,
    progress: &dyn Progress,
) -> Result<PushReport, PushError> {
    let mapping = &options.mapping;
    let items = plan(bundle, mapping)?;
    let harbor_api = harbor::Harbor::new(client, &mapping.host);
    let is_harbor = match options.harbor {
        HarborMode::Always => true,
        HarborMode::Never => false,
        HarborMode::Detect => harbor_api.detect().await,
    };
    let mut report = PushReport {
        target: mapping.host.clone(),
        harbor: is_harbor,
        ..PushReport::default()
    };
    if is_harbor {
        let projects: BTreeSet<String> = items
            .iter()
            .filter_map(|item| item.target.repository.split('/').next().map(str::to_owned))
            .collect();
        for project in projects {
            if harbor_api
                .ensure_project(&project)
                .await
                .map_err(|source| PushError::Harbor {
                    project: project.clone(),
                    source,
                })?
            {
                report.projects_created.push(project);
            }
        }
    }

    // Artifacts whose tag already resolves to the bundle's digest are complete.
    let present: Vec<bool> = stream::iter(items.iter())
        .map(|item| async move {
            target_digest(client, item)
                .await
                .map(|digest| digest.as_ref() == Some(&item.top.digest))
        })
        .buffered(options.jobs.max(1))
        .try_collect()
        .await?;
    let pending: Vec<&Item> = items
        .iter()
        .zip(&present)
        .filter(|(_, done)| !**done)
        .map(|(item, _)| item)
        .collect();
    report.artifacts_skipped = items.len() - pending.len();

    // A delta leaves some blobs to its base: they must already be in the
    // target, which is checked before anything is written.
    let omitted = bundle.delta().map(|d| &d.omitted);
    let from_base = |digest: &Digest| omitted.is_some_and(|o| o.contains_key(digest));
    if let Some(delta) = bundle.delta() {
        let needed: Vec<(&Item, &Descriptor)> = pending
            .iter()
            .filter(|item| item.sources.is_empty())
            .flat_map(|item| item.blobs.iter().map(move |blob| (*item, blob)))
            .filter(|(_, blob)| from_base(&blob.digest))
            .collect();
        let present: Vec<bool> = stream::iter(needed.iter())
            .map(|(item, blob)| async move {
                client
                    .blob_exists(&item.target.registry, &item.target.repository, &blob.digest)
                    .await
                    .map_err(registry_error(format!(
                        "checking the base's blob {} in {}",
                        blob.digest, item.target
                    )))
            })
            .buffered(options.jobs.max(1))
            .try_collect()
            .await?;
        let missing: Vec<String> = needed
            .iter()
            .zip(&present)
            .filter(|(_, there)| !**there)
            .map(|((item, blob), _)| {
                format!(
                    "{} in {}/{} (for {})",
                    blob.digest, item.target.registry, item.target.repository, item.mapped.original
                )
            })
            .collect();
        if !missing.is_empty() {
            let base = delta
                .base_root
                .as_ref()
                .or(delta.base_lock.as_ref())
                .map_or_else(|| "its base".to_owned(), ToString::to_string);
            return Err(PushError::BaseMissing { base, missing });
        }
    }

    // Blobs: each unique blob goes to the first repository that needs it, the
    // others mount it from there once it is in. A blob of an artifact that is
    // already complete in the target is in that artifact's repository: mount
    // it from there rather than upload it again.
    let mut in_target: BTreeMap<&Digest, &str> = BTreeMap::new();
    for (item, done) in items.iter().zip(&present) {
        if *done {
            for blob in &item.blobs {
                in_target
                    .entry(&blob.digest)
                    .or_insert(item.target.repository.as_str());
            }
        }
    }
    let mut first: BTreeMap<Digest, (&Item, &Descriptor)> = BTreeMap::new();
    let mut later: Vec<(&Item, &Descriptor, String)> = Vec::new();
    for item in pending.iter().filter(|item| item.sources.is_empty()) {
        for blob in item.blobs.iter().filter(|blob| !from_base(&blob.digest)) {
            let repository = item.target.repository.as_str();
            if let Some(owner) = in_target.get(&blob.digest) {
                if *owner != repository {
                    later.push((item, blob, (*owner).to_owned()));
                }
                continue;
            }
            match first.get(&blob.digest) {
                None => {
                    first.insert(blob.digest.clone(), (item, blob));
                }
                Some((owner, _)) if owner.target.repository != repository => {
                    later.push((item, blob, owner.target.repository.clone()))
                }
                Some(_) => {}
            }
        }
    }
    // The root's blobs are mounted from where the artifacts' blobs are (or
    // will be, once the uploads above are done); a delta's base blobs are in
    // the artifact's repository already (checked above).
    for item in pending.iter().filter(|item| !item.sources.is_empty()) {
        let repository = item.target.repository.as_str();
        for blob in &item.blobs {
            let from = first
                .get(&blob.digest)
                .map(|(owner, _)| owner.target.repository.as_str())
                .or_else(|| in_target.get(&blob.digest).copied())
                .or_else(|| item.sources.get(&blob.digest).map(String::as_str));
            if let Some(from) = from.filter(|from| *from != repository) {
                later.push((item, blob, from.to_owned()));
            }
        }
    }
    let counters = Counters::default();
    let total: u64 = first.values().map(|(_, blob)| blob.size).sum();
    progress.stage("push", first.len() as u64, total);
    drain(
        stream::iter(first.values())
            .map(|(item, blob)| {
                push_blob(
                    bundle, client, options, item, blob, None, &counters, progress,
                )
            })
            .buffer_unordered(options.jobs.max(1)),
    )
    .await?;
    drain(
        stream::iter(later.iter())
            .map(|(item, blob, from)| {
                push_blob(
                    bundle,
                    client,
                    options,
                    item,
                    blob,
                    Some(from.clone()),
                    &counters,
                    progress,
                )
            })
            .buffer_unordered(options.jobs.max(1)),
    )
    .await?;
    progress.finish_stage();

    // Manifests, children first, then the tag; then the check.
    stream::iter(pending.iter())
        .map(|item| push_manifests(bundle, client, item, &counters))
        .buffer_unordered(options.jobs.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    // What was complete at the start was checked then; the rest is checked now.
    stream::iter(pending.iter())
        .map(|item| async move {
            let actual = target_digest(client, item).await?;
            if actual.as_ref() != Some(&item.top.digest) {
                return Err(PushError::Check {
                    target: item.target.to_string(),
                    expected: item.top.digest.clone(),
                    actual: actual.map_or_else(|| "nothing".to_owned(), |d| d.to_string()),
                });
            }
            Ok(())
        })
        .buffer_unordered(options.jobs.max(1))
        .try_collect::<Vec<()>>()
        .await?;

    report.blobs_uploaded = counters.uploaded.load(Ordering::Relaxed);
    report.bytes_uploaded = counters.bytes.load(Ordering::Relaxed);
    report.bytes_resumed = counters.resumed.load(Ordering::Relaxed);
    report.blobs_mounted = counters.mounted.load(Ordering::Relaxed);
    report.blobs_skipped = counters.skipped.load(Ordering::Relaxed);
    report.manifests_pushed = counters.manifests.load(Ordering::Relaxed);
    report.map = ImageMap::new(items.into_iter().map(|item| item.mapped).collect());
    Ok(report)
}

/// Runs blob transfers to the end: the first failure ends the push at once,
/// except a requested stop, which waits for the other transfers to reach
/// their own chunk boundary (dropping them mid-chunk would lose their sessions).
async fn drain(
    transfers: impl futures_util::Stream<Item = Result<(), PushError>>,
) -> Result<(), PushError> {
    let mut transfers = std::pin::pin!(transfers);
    let mut stopped = None;
    while let Some(result) = transfers.next().await {
        match result {
            Ok(()) => {}
            Err(
                error @ PushError::Registry {
                    source: RegistryError::Stopped { .. },
                    ..
                },
            ) => {
                stopped.get_or_insert(error);
            }
            Err(error) => return Err(error),
        }
    }
    stopped.map_or(Ok(()), Err)
}

/// The digest the target tag (or digest) of an artifact resolves to, if any.
async fn target_digest(client: &Client, item: &Item) -> Result<Option<Digest>, PushError> {
    let target = &item.target;
    client
        .manifest_digest(
            &target.registry,
            &target.repository,
            &target.tag_or_digest(),
        )
        .await
        .map_err(registry_error(format!("checking {target}")))
}

/// Maps every artifact of the bundle and collects what each needs.
fn plan(bundle: &OpenBundle, mapping: &Mapping) -> Result<Vec<Item>, PushError> {
    let mut items = Vec::new();
    let mut seen: BTreeMap<String, (Digest, String)> = BTreeMap::new();
    let mut add = |original: String,
                   target: Reference,
                   top: Descriptor,
                   kind: ArtifactKind|
     -> Result<(), PushError> {
        let target_name = target.to_string();
        if let Some((digest, first)) = seen.get(&target_name) {
            if *digest == top.digest {
                return Ok(());
            }
            return Err(PushError::Collision {
                target: target_name,
                first: first.clone(),
                second: original,
            });
        }
        seen.insert(target_name.clone(), (top.digest.clone(), original.clone()));
        let (manifests, blobs) = bundle.closure(&top)?;
        items.push(Item {
            mapped: MapEntry {
                original,
                target: target_name,
                digest: top.digest.clone(),
                kind,
            },
            target,
            top,
            manifests,
            blobs,
            sources: BTreeMap::new(),
        });
        Ok(())
    };
    for entry in &bundle.entries {
        let original: Reference =
            entry
                .reference
                .parse()
                .map_err(|e: crate::oci::ReferenceParseError| {
                    PushError::Invalid(format!("{} in the bundle: {e}", entry.reference))
                })?;
        add(
            entry.reference.clone(),
            mapping.target(&original),
            entry.descriptor.clone(),
            entry
                .kind
                .parse()
                .map_err(|e: crate::image_map::UnknownKind| {
                    PushError::Invalid(format!("{} in the bundle: {e}", entry.reference))
                })?,
        )?;
    }
    // The root (tag: the bundle version), the metadata (lock, spec; tag
    // `<version>.metadata`) and signatures go to <project>/ferry-bundle/<name>.
    let lock = bundle
        .lock()
        .ok_or_else(|| PushError::Invalid("the bundle has no lock".to_owned()))?;
    let repository = bundle_repository(mapping, &lock.bundle);
    let version = bundle_tag(lock.bundle_version.as_deref());
    if let Some(metadata) = bundle.metadata() {
        let target = Reference {
            registry: mapping.host.clone(),
            repository: repository.clone(),
            tag: Some(metadata_tag(lock.bundle_version.as_deref())),
            digest: None,
        };
        add(
            format!("ferry-bundle/{}:{version}.metadata", lock.bundle),
            target,
            metadata.clone(),
            ArtifactKind::Metadata,
        )?;
    }
    for extra in &bundle.extra_index_entries {
        let Some(tag) = extra
            .annotations
            .get(crate::oci::ANNOTATION_REF_NAME)
            .filter(|n| n.ends_with(".sig"))
        else {
            continue;
        };
        let target = Reference {
            registry: mapping.host.clone(),
            repository: repository.clone(),
            tag: Some(tag.clone()),
            digest: None,
        };
        add(tag.clone(), target, extra.clone(), ArtifactKind::Signature)?;
    }
    let root = root_item(bundle, mapping, &items, repository, version)?;
    items.push(root);
    Ok(items)
}

/// The bundle's repository under the target: `[<project>/]ferry-bundle/<name>`.
pub fn bundle_repository(mapping: &Mapping, bundle: &str) -> String {
    [mapping.project.as_str(), "ferry-bundle", bundle]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// The root's tag in the bundle's repository: the bundle version (`latest` without one).
pub fn bundle_tag(version: Option<&str>) -> String {
    crate::oci::sanitize_tag(version.unwrap_or("latest"))
}

/// The metadata manifest's tag beside the root: `<version>.metadata`.
pub fn metadata_tag(version: Option<&str>) -> String {
    crate::oci::sanitize_tag(&format!("{}.metadata", version.unwrap_or("latest")))
}

/// The root index as an artifact of the bundle's repository: every manifest it
/// lists (and their children) copied there by digest, every blob mounted from
/// the artifact repository push puts it in, then the root under the version tag.
fn root_item(
    bundle: &OpenBundle,
    mapping: &Mapping,
    artifacts: &[Item],
    repository: String,
    version: String,
) -> Result<Item, PushError> {
    let media_type = bundle
        .manifest_media_type(&bundle.root)
        .unwrap_or(crate::oci::OCI_INDEX)
        .to_owned();
    let size = bundle.blob_size(&bundle.root).ok_or_else(|| {
        PushError::Invalid(format!("the root {} is not in the bundle", bundle.root))
    })?;
    let top = Descriptor {
        media_type,
        digest: bundle.root.clone(),
        size,
        platform: None,
        artifact_type: Some(crate::bundle::ROOT_ARTIFACT_TYPE.to_owned()),
        annotations: BTreeMap::new(),
    };
    let mut manifests: Vec<Descriptor> = Vec::new();
    let mut blobs: Vec<Descriptor> = Vec::new();
    let mut sources = BTreeMap::new();
    let artifacts = artifacts.iter().filter(|item| {
        matches!(
            item.mapped.kind,
            ArtifactKind::Image | ArtifactKind::Chart | ArtifactKind::File
        )
    });
    for item in artifacts {
        for manifest in &item.manifests {
            if !manifests.iter().any(|m| m.digest == manifest.digest) {
                manifests.push(manifest.clone());
            }
        }
        for blob in &item.blobs {
            if !sources.contains_key(&blob.digest) {
                sources.insert(blob.digest.clone(), item.target.repository.clone());
                blobs.push(blob.clone());
            }
        }
    }
    if let Some(metadata) = bundle.metadata() {
        // Its blobs are pushed to this repository by the metadata artifact.
        manifests.push(metadata.clone());
    }
    manifests.push(top.clone());
    let name = bundle
        .lock()
        .map(|lock| lock.bundle.clone())
        .unwrap_or_default();
    let target = Reference {
        registry: mapping.host.clone(),
        repository,
        tag: Some(version.clone()),
        digest: None,
    };
    Ok(Item {
        mapped: MapEntry {
            original: format!("ferry-bundle/{name}:{version}"),
            target: target.to_string(),
            digest: bundle.root.clone(),
            kind: ArtifactKind::Root,
        },
        target,
        top,
        manifests,
        blobs,
        sources,
    })
}

#[allow(clippy::too_many_arguments)]
async fn push_blob(
    bundle: &OpenBundle,
    client: &Client,
    options: &PushOptions,
    item: &Item,
    blob: &Descriptor,
    mount_from: Option<String>,
    counters: &Counters,
    progress: &dyn Progress,
) -> Result<(), PushError> {
    let target = &item.target;
    let what = || {
        format!(
            "pushing blob {} to {}/{}",
            blob.digest, target.registry, target.repository
        )
    };
    let stop = options.stop.as_deref();
    if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
        return Err(registry_error(what())(RegistryError::Stopped {
            what: format!("upload of {}", blob.digest),
        }));
    }
    if client
        .blob_exists(&target.registry, &target.repository, &blob.digest)
        .await
        .map_err(registry_error(what()))?
    {
        // A session an earlier run left for it is of no use any more.
        if let Some(journal) = &options.journal {
            journal.forget(&target.registry, &target.repository, &blob.digest);
        }
        counters.skipped.fetch_add(1, Ordering::Relaxed);
        progress.bytes(blob.size);
        return Ok(());
    }
    let mut session = None;
    if let Some(from) = mount_from {
        match client
            .mount_blob(&target.registry, &target.repository, &blob.digest, &from)
            .await
            .map_err(registry_error(what()))?
        {
            MountOutcome::Mounted => {
                counters.mounted.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            MountOutcome::Upload(location) => session = Some(location),
        }
    }
    let size = blob.size;
    let segments = bundle
        .blob_segments(&blob.digest, 0, size)
        .ok_or_else(|| PushError::Invalid(format!("blob {} is not in the bundle", blob.digest)))?;
    let source = BlobSource { segments, size };
    let resumed = client
        .upload_blob(
            &target.registry,
            &target.repository,
            &blob.digest,
            &source,
            session,
            options.chunk_size,
            options.journal.as_ref(),
            stop,
            &|n| progress.bytes(n),
        )
        .await
        .map_err(registry_error(what()))?;
    counters.resumed.fetch_add(resumed, Ordering::Relaxed);
    counters.uploaded.fetch_add(1, Ordering::Relaxed);
    counters.bytes.fetch_add(size, Ordering::Relaxed);
    progress.item(&blob.digest.to_string());
    Ok(())
}

async fn push_manifests(
    bundle: &OpenBundle,
    client: &Client,
    item: &Item,
    counters: &Counters,
) -> Result<(), PushError> {
    let target = &item.target;
    for manifest in &item.manifests {
        let bytes = bundle.read_small(&manifest.digest)?;
        let reference = if manifest.digest == item.top.digest {
            target.tag_or_digest()
        } else {
            manifest.digest.to_string()
        };
        client
            .put_manifest(
                &target.registry,
                &target.repository,
                &reference,
                &manifest.media_type,
                &bytes,
            )
            .await
            .map_err(registry_error(format!(
                "pushing manifest {} to {}",
                manifest.digest, target
            )))?;
        counters.manifests.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
