//! `ferry verify --registry`: what a registry holds, checked against the
//! bundle's offline-signed identity.
//!
//! The root index is fetched by its digest from the bundle's repository (the
//! bytes must hash to it), its cosign signature (`sha256-<root>.sig` beside
//! it) is checked with the trusted keys, and then every artifact the root
//! lists is looked for at its digest under the name push maps it to (the
//! same [`Mapping`], or the image map push wrote): the tag must resolve to
//! the artifact's digest, and every manifest and blob it needs must be in
//! that repository. The root itself must resolve under the version tag, with
//! every manifest it lists in the bundle's repository.

use std::path::Path;

use futures_util::{stream, StreamExt, TryStreamExt};
use serde::Serialize;

use super::{bundle_repository, bundle_tag, metadata_tag, Mapping};
use crate::bundle::{OpenBundle, ANNOTATION_KIND, LOCK_MEDIA_TYPE, METADATA_ARTIFACT_TYPE};
use crate::image_map::ImageMap;
use crate::lock::Lock;
use crate::oci::{Descriptor, Digest, ImageIndex, ManifestView, Reference, ANNOTATION_REF_NAME};
use crate::registry::{BlobSink, Client, RegistryError};
use crate::sign::{FoundSignature, TrustPolicy, ANNOTATION_SIGNATURE, SIMPLE_SIGNING_MEDIA_TYPE};

/// Which bundle to look for.
pub enum Subject<'a> {
    /// A bundle file: its root, name, version and lock are read from it.
    Bundle(&'a OpenBundle),
    /// Only the identity: everything else is read from the registry.
    Root {
        /// The root digest (what the signature signs).
        root: Digest,
        /// The bundle name.
        bundle: String,
        /// The bundle version (the root's tag); `latest` when absent.
        version: Option<String>,
    },
}

/// How to check.
pub struct VerifyOptions {
    /// Where push put things (host, project, per-registry projects).
    pub mapping: Mapping,
    /// The image map push wrote, if any: its targets win over the mapping.
    pub image_map: Option<ImageMap>,
    /// Which signatures are accepted.
    pub policy: TrustPolicy,
    /// Artifacts checked at once.
    pub jobs: usize,
}

/// What was found for one artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The tag resolves to the artifact's digest and everything it needs is there.
    Ok,
    /// The tag, or a manifest or blob the artifact needs, is not there.
    Missing,
    /// The tag resolves to another digest.
    Different,
}

impl Status {
    /// `ok`, `missing`, `different`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Missing => "missing",
            Self::Different => "different",
        }
    }
}

/// One artifact as the registry holds it.
#[derive(Clone, Debug, Serialize)]
pub struct ArtifactCheck {
    /// `root`, `metadata`, `image`, `chart`, `file`.
    pub kind: String,
    /// The original reference (for the root and metadata: `ferry-bundle/<name>:<tag>`).
    pub original: String,
    /// Where it is expected: `host/repository:tag`.
    pub target: String,
    /// The digest the bundle has for it.
    pub digest: Digest,
    /// What was found.
    pub status: Status,
    /// The digest the tag resolves to now, when it is another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Digest>,
    /// What is absent (the tag, `manifest sha256:…`, `blob sha256:…`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// The signature's check.
#[derive(Clone, Debug, Serialize)]
pub struct SignatureCheck {
    /// The signature's tag in the bundle's repository.
    pub target: String,
    /// Whether the signature was accepted (or not checked, by policy).
    pub ok: bool,
    /// Fingerprint of the trusted key that verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// Why it was not accepted, or that it was not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What `ferry verify --registry` found.
#[derive(Clone, Debug, Serialize)]
pub struct RegistryReport {
    /// Whether everything is there, as signed.
    pub ok: bool,
    /// The registry host.
    pub registry: String,
    /// The bundle's repository (root, metadata, signature).
    pub repository: String,
    /// The bundle name.
    pub bundle: String,
    /// The root digest checked.
    pub root: Digest,
    /// The signature.
    pub signature: SignatureCheck,
    /// The root first, then every artifact the root lists, in root order.
    pub artifacts: Vec<ArtifactCheck>,
}

impl RegistryReport {
    /// The artifacts that are not `ok`.
    pub fn problems(&self) -> impl Iterator<Item = &ArtifactCheck> {
        self.artifacts.iter().filter(|a| a.status != Status::Ok)
    }
}

/// Errors that stop the check (the registry cannot be asked, or answers
/// something that is not a registry's answer); what is merely absent or
/// different is reported, not an error.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A registry request failed.
    #[error("{what}")]
    Registry {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: RegistryError,
    },
    /// The bundle or what the registry holds cannot be read as ferry writes it.
    #[error("{0}")]
    Invalid(String),
}

fn registry_error(what: String) -> impl FnOnce(RegistryError) -> VerifyError {
    move |source| VerifyError::Registry { what, source }
}

/// An artifact to look for.
struct Wanted {
    kind: String,
    original: String,
    target: Reference,
    top: Descriptor,
    /// For an index: the children the bundle carries (`None`: every child).
    children: Option<Vec<Digest>>,
}

/// Checks what the registry holds against the bundle's signed root.
pub async fn verify_registry(
    client: &Client,
    subject: Subject<'_>,
    options: &VerifyOptions,
) -> Result<RegistryReport, VerifyError> {
    let mapping = &options.mapping;
    let host = mapping.host.clone();
    let (root, name, version, local) = match &subject {
        Subject::Bundle(bundle) => {
            let lock = bundle
                .lock()
                .ok_or_else(|| VerifyError::Invalid("the bundle has no lock".to_owned()))?;
            (
                bundle.root.clone(),
                lock.bundle.clone(),
                lock.bundle_version.clone(),
                Some(*bundle),
            )
        }
        Subject::Root {
            root,
            bundle,
            version,
        } => (root.clone(), bundle.clone(), version.clone(), None),
    };
    let repository = bundle_repository(mapping, &name);
    let root_target = Reference {
        registry: host.clone(),
        repository: repository.clone(),
        tag: Some(bundle_tag(version.as_deref())),
        digest: None,
    };
    let sig_tag = crate::sign::signature_tag(&root);
    let signature_target = format!("{host}/{repository}:{sig_tag}");
    let mut report = RegistryReport {
        ok: false,
        registry: host.clone(),
        repository: repository.clone(),
        bundle: name.clone(),
        root: root.clone(),
        signature: SignatureCheck {
            target: signature_target,
            ok: false,
            signed_by: None,
            detail: None,
        },
        artifacts: Vec::new(),
    };

    // The root, by digest, from the registry: its bytes must hash to it.
    let fetched = match client
        .get_manifest(&host, &repository, &root.to_string())
        .await
    {
        Ok(fetched) => Some(fetched.bytes),
        Err(RegistryError::NotFound { .. }) => None,
        Err(source @ RegistryError::DigestMismatch { .. }) => {
            return Err(VerifyError::Registry {
                what: format!(
                    "the registry's root {host}/{repository}@{root} is not the signed one"
                ),
                source,
            })
        }
        Err(source) => return Err(registry_error(format!("fetching the root {root}"))(source)),
    };
    let root_bytes = match (local, &fetched) {
        (Some(bundle), _) => bundle
            .read_small(&root)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?,
        (None, Some(bytes)) => bytes.clone(),
        (None, None) => {
            report.signature.detail = Some("not checked: the root is not in the registry".into());
            report.artifacts.push(ArtifactCheck {
                kind: "root".to_owned(),
                original: format!("ferry-bundle/{name}@{root}"),
                target: root_target.to_string(),
                digest: root.clone(),
                status: Status::Missing,
                actual: client
                    .resolve_manifest(&host, &repository, &root_target.tag_or_digest())
                    .await
                    .ok()
                    .flatten(),
                missing: vec![format!("manifest {root}")],
            });
            return Ok(report);
        }
    };
    let index: ImageIndex = serde_json::from_slice(&root_bytes)
        .map_err(|e| VerifyError::Invalid(format!("the root {root} is not an OCI index: {e}")))?;

    // The signature, as the registry holds it.
    report.signature =
        check_signature(client, &host, &repository, &name, &root, &options.policy).await?;

    // The lock says which platforms of an image index the bundle carries.
    let lock = match local {
        Some(bundle) => bundle.lock().cloned(),
        None => read_lock(client, &host, &repository, &index).await?,
    };
    let mut wanted = Vec::new();
    for descriptor in &index.manifests {
        wanted.push(wanted_for(
            descriptor,
            mapping,
            options,
            &repository,
            version.as_deref(),
            &name,
            lock.as_ref(),
        )?);
    }

    // The root itself: the tag, the bytes, every manifest it lists beside it.
    let mut root_check = ArtifactCheck {
        kind: "root".to_owned(),
        original: format!("ferry-bundle/{name}:{}", bundle_tag(version.as_deref())),
        target: root_target.to_string(),
        digest: root.clone(),
        status: Status::Ok,
        actual: None,
        missing: Vec::new(),
    };
    let tagged = client
        .resolve_manifest(&host, &repository, &root_target.tag_or_digest())
        .await
        .map_err(registry_error(format!("checking {root_target}")))?;
    match tagged {
        None => root_check
            .missing
            .push(format!("tag {}", root_target.tag_or_digest())),
        Some(digest) if digest != root => {
            root_check.status = Status::Different;
            root_check.actual = Some(digest);
        }
        Some(_) => {}
    }
    if fetched.is_none() {
        root_check.missing.push(format!("manifest {root}"));
    }
    for descriptor in &index.manifests {
        if client
            .resolve_manifest(&host, &repository, &descriptor.digest.to_string())
            .await
            .map_err(registry_error(format!(
                "checking {} in {host}/{repository}",
                descriptor.digest
            )))?
            .is_none()
        {
            root_check
                .missing
                .push(format!("manifest {}", descriptor.digest));
        }
    }
    if root_check.status == Status::Ok && !root_check.missing.is_empty() {
        root_check.status = Status::Missing;
    }
    report.artifacts.push(root_check);

    let checks: Vec<ArtifactCheck> = stream::iter(wanted.iter())
        .map(|item| check_artifact(client, item))
        .buffered(options.jobs.max(1))
        .try_collect()
        .await?;
    report.artifacts.extend(checks);
    report.ok = report.signature.ok && report.problems().next().is_none();
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn wanted_for(
    descriptor: &Descriptor,
    mapping: &Mapping,
    options: &VerifyOptions,
    repository: &str,
    version: Option<&str>,
    name: &str,
    lock: Option<&Lock>,
) -> Result<Wanted, VerifyError> {
    let annotation = |key: &str| descriptor.annotations.get(key).cloned().unwrap_or_default();
    if descriptor.artifact_type.as_deref() == Some(METADATA_ARTIFACT_TYPE) {
        let tag = metadata_tag(version);
        return Ok(Wanted {
            kind: "metadata".to_owned(),
            original: format!("ferry-bundle/{name}:{tag}"),
            target: Reference {
                registry: mapping.host.clone(),
                repository: repository.to_owned(),
                tag: Some(tag),
                digest: None,
            },
            top: descriptor.clone(),
            children: None,
        });
    }
    let kind = annotation(ANNOTATION_KIND);
    let original = annotation(ANNOTATION_REF_NAME);
    let mapped = options.image_map.as_ref().and_then(|map| {
        map.entries()
            .iter()
            .find(|e| e.original == original && e.digest == descriptor.digest)
    });
    let target = match mapped {
        Some(entry) => entry.target.parse::<Reference>().map_err(|e| {
            VerifyError::Invalid(format!("the image map's target {}: {e}", entry.target))
        })?,
        None => {
            let parsed: Reference = original
                .parse()
                .map_err(|e| VerifyError::Invalid(format!("{original} in the root: {e}")))?;
            mapping.target(&parsed)
        }
    };
    let children = lock.and_then(|lock| {
        lock.images
            .iter()
            .find(|image| image.digest == descriptor.digest && !image.platforms.is_empty())
            .map(|image| image.platforms.iter().map(|p| p.digest.clone()).collect())
    });
    Ok(Wanted {
        kind,
        original,
        target,
        top: descriptor.clone(),
        children,
    })
}

async fn check_artifact(client: &Client, item: &Wanted) -> Result<ArtifactCheck, VerifyError> {
    let target = &item.target;
    let (registry, repository) = (target.registry.as_str(), target.repository.as_str());
    let mut check = ArtifactCheck {
        kind: item.kind.clone(),
        original: item.original.clone(),
        target: target.to_string(),
        digest: item.top.digest.clone(),
        status: Status::Ok,
        actual: None,
        missing: Vec::new(),
    };
    let what = || format!("checking {target}");
    match client
        .resolve_manifest(registry, repository, &target.tag_or_digest())
        .await
        .map_err(registry_error(what()))?
    {
        None => {
            check.status = Status::Missing;
            check
                .missing
                .push(format!("tag {}", target.tag_or_digest()));
        }
        Some(digest) if digest != item.top.digest => {
            check.status = Status::Different;
            check.actual = Some(digest);
        }
        Some(_) => {}
    }
    // Everything the artifact needs, at its digest.
    let mut manifests = vec![item.top.digest.clone()];
    let mut blobs: Vec<Digest> = Vec::new();
    let mut at = 0;
    while at < manifests.len() {
        let digest = manifests[at].clone();
        at += 1;
        let view = match client
            .get_manifest(registry, repository, &digest.to_string())
            .await
        {
            Ok(fetched) => ManifestView::parse(&fetched.bytes).map_err(|e| {
                VerifyError::Invalid(format!("manifest {digest} in {registry}/{repository}: {e}"))
            })?,
            Err(RegistryError::NotFound { .. }) => {
                check.missing.push(format!("manifest {digest}"));
                continue;
            }
            Err(source) => return Err(registry_error(what())(source)),
        };
        for child in &view.manifests {
            let carried = match (&item.children, at) {
                (Some(children), 1) => children.contains(&child.digest),
                _ => true,
            };
            if carried && !manifests.contains(&child.digest) {
                manifests.push(child.digest.clone());
            }
        }
        for blob in view.blob_descriptors() {
            if !blobs.contains(&blob.digest) {
                blobs.push(blob.digest.clone());
            }
        }
    }
    for blob in &blobs {
        if !client
            .blob_present(registry, repository, blob)
            .await
            .map_err(registry_error(what()))?
        {
            check.missing.push(format!("blob {blob}"));
        }
    }
    if check.status == Status::Ok && !check.missing.is_empty() {
        check.status = Status::Missing;
    }
    Ok(check)
}

async fn check_signature(
    client: &Client,
    host: &str,
    repository: &str,
    name: &str,
    root: &Digest,
    policy: &TrustPolicy,
) -> Result<SignatureCheck, VerifyError> {
    let tag = crate::sign::signature_tag(root);
    let mut check = SignatureCheck {
        target: format!("{host}/{repository}:{tag}"),
        ok: false,
        signed_by: None,
        detail: None,
    };
    let mut found = Vec::new();
    match client.get_manifest(host, repository, &tag).await {
        Ok(fetched) => {
            let view = ManifestView::parse(&fetched.bytes)
                .map_err(|e| VerifyError::Invalid(format!("signature {tag}: {e}")))?;
            for layer in view
                .layers
                .iter()
                .filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
            {
                let payload = fetch_small(client, host, repository, layer).await?;
                found.push(FoundSignature {
                    manifest: fetched.digest.clone(),
                    payload,
                    signature: layer.annotations.get(ANNOTATION_SIGNATURE).cloned(),
                });
            }
        }
        Err(RegistryError::NotFound { .. }) => {}
        Err(source) => {
            return Err(registry_error(format!("fetching the signature {tag}"))(
                source,
            ))
        }
    }
    if found.is_empty() && !policy.keys.is_empty() && !policy.allow_unsigned {
        check.detail = Some(format!(
            "the registry holds no signature of the root ({} is absent)",
            check.target
        ));
        return Ok(check);
    }
    match crate::sign::check(&found, name, root, policy) {
        Ok(Some(key)) => {
            check.ok = true;
            check.signed_by = Some(key);
        }
        Ok(None) => {
            check.ok = true;
            check.detail = Some("not checked (--insecure-skip-signature)".to_owned());
        }
        Err(error) => check.detail = Some(error.to_string()),
    }
    Ok(check)
}

/// The lock in the registry's metadata manifest, if the root lists one.
async fn read_lock(
    client: &Client,
    host: &str,
    repository: &str,
    root: &ImageIndex,
) -> Result<Option<Lock>, VerifyError> {
    let Some(metadata) = root
        .manifests
        .iter()
        .find(|d| d.artifact_type.as_deref() == Some(METADATA_ARTIFACT_TYPE))
    else {
        return Ok(None);
    };
    let view = match client
        .get_manifest(host, repository, &metadata.digest.to_string())
        .await
    {
        Ok(fetched) => ManifestView::parse(&fetched.bytes)
            .map_err(|e| VerifyError::Invalid(format!("metadata {}: {e}", metadata.digest)))?,
        // Reported as missing with the artifacts.
        Err(RegistryError::NotFound { .. }) => return Ok(None),
        Err(source) => {
            return Err(registry_error(format!(
                "fetching the metadata {}",
                metadata.digest
            ))(source))
        }
    };
    let Some(layer) = view.layers.iter().find(|l| l.media_type == LOCK_MEDIA_TYPE) else {
        return Ok(None);
    };
    let bytes = match fetch_small(client, host, repository, layer).await {
        Ok(bytes) => bytes,
        Err(VerifyError::Registry {
            source: RegistryError::NotFound { .. },
            ..
        }) => return Ok(None),
        Err(error) => return Err(error),
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| VerifyError::Invalid("the registry's lock is not UTF-8".to_owned()))?;
    Lock::parse(&text, Path::new("<lock in the registry>"))
        .map(Some)
        .map_err(|e| VerifyError::Invalid(e.to_string()))
}

/// A small blob (a signature payload, a lock), checked against its digest.
async fn fetch_small(
    client: &Client,
    host: &str,
    repository: &str,
    layer: &Descriptor,
) -> Result<Vec<u8>, VerifyError> {
    if layer.size > crate::bundle::MAX_SMALL_BLOB {
        return Err(VerifyError::Invalid(format!(
            "blob {} is {} bytes, too large for a signature payload or a lock",
            layer.digest, layer.size
        )));
    }
    let mut sink = SmallSink::default();
    client
        .fetch_blob_into(
            host,
            repository,
            &layer.digest,
            Some(layer.size),
            &mut sink,
            &|_| {},
        )
        .await
        .map_err(registry_error(format!(
            "fetching blob {} of {host}/{repository}",
            layer.digest
        )))?;
    Ok(sink.bytes)
}

/// Collects a small blob in memory, refusing more than [`crate::bundle::MAX_SMALL_BLOB`].
#[derive(Default)]
struct SmallSink {
    bytes: Vec<u8>,
}

impl BlobSink for SmallSink {
    fn write_chunk(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if (self.bytes.len() + bytes.len()) as u64 > crate::bundle::MAX_SMALL_BLOB {
            return Err(std::io::Error::other("the blob is larger than announced"));
        }
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }

    fn written(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn reset(&mut self) -> std::io::Result<()> {
        self.bytes.clear();
        Ok(())
    }
}
