//! The push half of the distribution API: blob existence, cross-repository
//! mounts, chunked uploads that resume at the last acknowledged byte, and
//! manifests.

use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::Method;

use super::journal::{Claim, UploadJournal};
use super::{Call, Client, RegistryError};
use crate::oci::{Digest, MANIFEST_ACCEPT};

/// Where a blob's bytes are: runs of local files (an archive, its media
/// parts, or a blob file), in order.
#[derive(Clone, Debug)]
pub struct BlobSource {
    /// (file, offset in the file, length), concatenated.
    pub segments: Vec<(PathBuf, u64, u64)>,
    /// Blob size.
    pub size: u64,
}

/// What a mount request did.
#[derive(Debug)]
pub enum MountOutcome {
    /// The registry linked the blob from the other repository.
    Mounted,
    /// It did not; here is an upload session to use instead.
    Upload(String),
}

fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

fn scope(repository: &str, for_push: bool) -> String {
    if for_push {
        push_scope(repository)
    } else {
        format!("repository:{repository}:pull")
    }
}

impl BlobSource {
    /// A streaming body over `start..size` of the blob.
    fn body(&self, start: u64, length: u64) -> Result<reqwest::Body, std::io::Error> {
        use futures_util::StreamExt;
        let mut skip = start;
        let mut left = length;
        let mut streams = Vec::new();
        for (path, offset, segment) in &self.segments {
            if skip >= *segment {
                skip -= segment;
                continue;
            }
            if left == 0 {
                break;
            }
            let take = (segment - skip).min(left);
            let mut file = std::fs::File::open(path)?;
            file.seek(SeekFrom::Start(offset + skip))?;
            let reader = tokio::io::AsyncReadExt::take(tokio::fs::File::from_std(file), take);
            streams.push(tokio_util::io::ReaderStream::with_capacity(
                reader,
                256 << 10,
            ));
            left -= take;
            skip = 0;
        }
        Ok(reqwest::Body::wrap_stream(
            futures_util::stream::iter(streams).flatten(),
        ))
    }
}

impl Client {
    /// Whether `repository` on `registry` already has a blob (HEAD), asking
    /// for push access (a push's check before it writes).
    pub async fn blob_exists(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        self.head_blob(registry, repository, digest, true).await
    }

    /// Whether `repository` on `registry` has a blob (HEAD), with read access only.
    pub async fn blob_present(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        self.head_blob(registry, repository, digest, false).await
    }

    async fn head_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        for_push: bool,
    ) -> Result<bool, RegistryError> {
        let (host, repo) = self.config().endpoint(registry, repository);
        let path = format!("/v2/{repo}/blobs/{digest}");
        let what = format!("blob {digest} in {registry}/{repository}");
        let call = Call {
            method: Method::HEAD,
            target: &path,
            scope: scope(&repo, for_push),
            headers: HeaderMap::new(),
            body: None,
            what: &what,
        };
        match self.call(&host, &call).await {
            Ok(_) => Ok(true),
            Err(RegistryError::NotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Asks the registry to mount `digest` from `from` into `repository`.
    pub async fn mount_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<MountOutcome, RegistryError> {
        let (host, repo) = self.config().endpoint(registry, repository);
        let (_, from_repo) = self.config().endpoint(registry, from);
        let path = format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from_repo}");
        let what = format!("mount of {digest} into {registry}/{repository}");
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        let call = Call {
            method: Method::POST,
            target: &path,
            scope: format!("{} repository:{from_repo}:pull", push_scope(&repo)),
            headers,
            body: None,
            what: &what,
        };
        let response = self.call(&host, &call).await?;
        if response.status().as_u16() == 201 {
            return Ok(MountOutcome::Mounted);
        }
        let location = self.location(&host, &response, &what).await?;
        Ok(MountOutcome::Upload(location))
    }

    async fn location(
        &self,
        host: &str,
        response: &reqwest::Response,
        what: &str,
    ) -> Result<String, RegistryError> {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Status {
                url: response.url().to_string(),
                status: response.status().as_u16(),
                detail: format!("{what}: the registry sent no upload Location"),
            })?;
        if location.starts_with("http://") || location.starts_with("https://") {
            Ok(location.to_owned())
        } else {
            Ok(format!("{}{location}", self.base_url(host).await?))
        }
    }

    /// Uploads a blob: a new session (or `session`, from a failed mount), then
    /// chunks of `chunk_size` with `Content-Range`; after a broken chunk the
    /// session's acknowledged range is asked for and the upload goes on from
    /// there, so a failure costs at most one chunk.
    ///
    /// With a `journal`, the session and its acknowledged offset are saved
    /// after every chunk, and a session an earlier (killed) run left open is
    /// asked for its offset first and continued; one the registry no longer
    /// knows is replaced by a new session. Once `stop` is set, the upload
    /// ends after the chunk in flight with [`RegistryError::Stopped`], its
    /// session recorded. Returns the bytes that an earlier session already
    /// held (not sent again).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        source: &BlobSource,
        session: Option<String>,
        chunk_size: u64,
        journal: Option<&UploadJournal>,
        stop: Option<&AtomicBool>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, RegistryError> {
        let (host, repo) = self.config().endpoint(registry, repository);
        let what = format!("upload of {digest} to {registry}/{repository}");
        let scope = push_scope(&repo);
        let claim = journal.and_then(|j| j.claim(registry, repository, digest));
        let mut resumed = None;
        if let Some(saved) = claim.as_ref().and_then(Claim::saved) {
            // Distribution answers 404 (unknown or invalid upload) for a
            // session it forgot or whose stored bytes moved past the saved
            // state; then the upload starts again.
            if let Ok((Some(acknowledged), next)) = self
                .upload_status(&host, &saved.location, &scope, &what)
                .await
            {
                if acknowledged <= source.size {
                    resumed = Some((next, acknowledged));
                }
            }
        }
        let mut sent = 0u64;
        let mut location = match (resumed, session) {
            (Some((location, acknowledged)), _) => {
                sent = acknowledged;
                progress(acknowledged);
                location
            }
            (None, Some(location)) => location,
            (None, None) => self.start_upload(&host, &repo, &scope, &what).await?,
        };
        let resumed_bytes = sent;
        let journal_error = |source: std::io::Error| RegistryError::Config {
            detail: format!(
                "{what}: cannot record the upload session in {}",
                journal.map_or_else(String::new, |j| j.dir().display().to_string())
            ),
            source: Some(Box::new(source)),
        };
        if let Some(claim) = &claim {
            claim.save(&location, sent).map_err(journal_error)?;
        }
        let mut failures = 0u32;
        while sent < source.size {
            if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Err(RegistryError::Stopped { what });
            }
            let length = chunk_size.max(1).min(source.size - sent);
            let mut headers = HeaderMap::new();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            if let Ok(value) = HeaderValue::from_str(&length.to_string()) {
                headers.insert(CONTENT_LENGTH, value);
            }
            if let Ok(value) = HeaderValue::from_str(&format!("{sent}-{}", sent + length - 1)) {
                headers.insert("Content-Range", value);
            }
            let start = sent;
            let body = move || source.body(start, length);
            let call = Call {
                method: Method::PATCH,
                target: &location,
                scope: scope.clone(),
                headers,
                body: Some(&body),
                what: &what,
            };
            match self.call(&host, &call).await {
                Ok(response) => {
                    location = self.location(&host, &response, &what).await?;
                    sent += length;
                    progress(length);
                }
                Err(error)
                    if error.is_transient()
                        || matches!(error, RegistryError::Status { status: 416, .. }) =>
                {
                    failures += 1;
                    if failures > self.config().retries {
                        return Err(error);
                    }
                    // Ask the session how far it got and continue from there.
                    // `Range: 0-0` means "nothing" as well as "one byte" in
                    // distribution's answers: then start a fresh session.
                    match self.upload_status(&host, &location, &scope, &what).await {
                        Ok((Some(acknowledged), next)) if acknowledged <= source.size => {
                            location = next;
                            sent = acknowledged;
                        }
                        Ok(_) | Err(_) => {
                            location = self.start_upload(&host, &repo, &scope, &what).await?;
                            sent = 0;
                        }
                    }
                }
                Err(error) => return Err(error),
            }
            if let Some(claim) = &claim {
                claim.save(&location, sent).map_err(journal_error)?;
            }
        }
        let separator = if location.contains('?') { '&' } else { '?' };
        let target = format!("{location}{separator}digest={digest}");
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        let call = Call {
            method: Method::PUT,
            target: &target,
            scope,
            headers,
            body: None,
            what: &what,
        };
        self.call(&host, &call).await?;
        if let Some(claim) = &claim {
            claim.remove();
        }
        Ok(resumed_bytes)
    }

    /// Opens an upload session; returns its location.
    async fn start_upload(
        &self,
        host: &str,
        repo: &str,
        scope: &str,
        what: &str,
    ) -> Result<String, RegistryError> {
        let path = format!("/v2/{repo}/blobs/uploads/");
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        let call = Call {
            method: Method::POST,
            target: &path,
            scope: scope.to_owned(),
            headers,
            body: None,
            what,
        };
        let response = self.call(host, &call).await?;
        self.location(host, &response, what).await
    }

    /// How many bytes an upload session holds (`None` when its answer is
    /// ambiguous), and its current location.
    async fn upload_status(
        &self,
        host: &str,
        location: &str,
        scope: &str,
        what: &str,
    ) -> Result<(Option<u64>, String), RegistryError> {
        let call = Call {
            method: Method::GET,
            target: location,
            scope: scope.to_owned(),
            headers: HeaderMap::new(),
            body: None,
            what,
        };
        let response = self.call(host, &call).await?;
        let acknowledged = response
            .headers()
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|range| range.rsplit('-').next())
            .and_then(|end| end.parse::<u64>().ok())
            .filter(|end| *end > 0)
            .map(|end| end + 1);
        let next = self
            .location(host, &response, what)
            .await
            .unwrap_or_else(|_| location.to_owned());
        Ok((acknowledged, next))
    }

    /// The digest a tag (or digest) resolves to in a repository, if it exists
    /// (asking for push access: a push's check before it writes).
    pub async fn manifest_digest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        self.head_manifest(registry, repository, reference, true)
            .await
    }

    /// The digest a tag (or digest) resolves to in a repository, if it
    /// exists, with read access only.
    pub async fn resolve_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        self.head_manifest(registry, repository, reference, false)
            .await
    }

    async fn head_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        for_push: bool,
    ) -> Result<Option<Digest>, RegistryError> {
        let (host, repo) = self.config().endpoint(registry, repository);
        let path = format!("/v2/{repo}/manifests/{reference}");
        let what = format!("manifest {registry}/{repository}:{reference}");
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static(MANIFEST_ACCEPT),
        );
        let call = Call {
            method: Method::HEAD,
            target: &path,
            scope: scope(&repo, for_push),
            headers,
            body: None,
            what: &what,
        };
        match self.call(&host, &call).await {
            Ok(response) => Ok(response
                .headers()
                .get("Docker-Content-Digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Puts a manifest under a tag or digest; returns the digest the registry reports.
    pub async fn put_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let (host, repo) = self.config().endpoint(registry, repository);
        let path = format!("/v2/{repo}/manifests/{reference}");
        let what = format!("manifest {registry}/{repository}:{reference}");
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(media_type) {
            headers.insert(CONTENT_TYPE, value);
        }
        let body_bytes = bytes::Bytes::copy_from_slice(bytes);
        let body = move || Ok(reqwest::Body::from(body_bytes.clone()));
        let call = Call {
            method: Method::PUT,
            target: &path,
            scope: push_scope(&repo),
            headers,
            body: Some(&body),
            what: &what,
        };
        let response = self.call(&host, &call).await?;
        let expected = Digest::of_bytes(bytes);
        match response
            .headers()
            .get("Docker-Content-Digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok())
        {
            Some(reported) if reported != expected => Err(RegistryError::DigestMismatch {
                what,
                expected,
                actual: reported,
            }),
            _ => Ok(expected),
        }
    }
}
