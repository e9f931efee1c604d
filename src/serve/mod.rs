//! `serve`: a read-only OCI distribution registry and file server straight
//! from a bundle (no extraction), to bootstrap a cluster before Harbor exists.
//!
//! Repositories are served under their original paths, both bare
//! (`/v2/library/nginx/...`, disambiguated by containerd's `?ns=docker.io`)
//! and prefixed by their registry (`/v2/docker.io/library/nginx/...`, the
//! form CRI-O mirrors and kubespray's `*_image_repo` use). Files are served
//! at kubespray's offline layout: the original URL's host, then its path.

pub mod config;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use tokio::io::AsyncSeekExt;

use crate::bundle::{OpenBundle, ANNOTATION_FILE_URL};
use crate::oci::{Digest, Reference};

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding or serving failed.
    #[error("cannot serve on {address}")]
    Io {
        /// The listen address.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// TLS material could not be loaded.
    #[error("cannot load TLS certificate {cert} / key {key}")]
    Tls {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to listen on (default loopback only).
    pub listen: SocketAddr,
    /// TLS certificate and key (PEM), for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `user:password` required on every request (HTTP basic auth).
    pub basic_auth: Option<String>,
}

/// One tag of one repository.
#[derive(Clone, Debug)]
struct Tagged {
    digest: Digest,
    media_type: String,
}

/// What the server knows, built once from the bundle.
pub struct Catalog {
    bundle: OpenBundle,
    /// registry host → repository → tag → manifest.
    repositories: BTreeMap<String, BTreeMap<String, BTreeMap<String, Tagged>>>,
    /// `host/path` of each file artifact → its content digest.
    files: HashMap<String, Digest>,
    /// Registries that images (not charts or files) come from.
    image_registries: BTreeSet<String>,
    /// For a delta bundle: the base bundle holding the blobs it leaves out.
    base: Option<OpenBundle>,
}

impl Catalog {
    /// Indexes a bundle's images, charts and files for serving.
    pub fn new(bundle: OpenBundle) -> Self {
        let mut repositories: BTreeMap<String, BTreeMap<String, BTreeMap<String, Tagged>>> =
            BTreeMap::new();
        let mut files = HashMap::new();
        let mut image_registries = BTreeSet::new();
        for entry in &bundle.entries {
            if let Ok(reference) = entry.reference.parse::<Reference>() {
                if entry.kind == "image" {
                    image_registries.insert(reference.registry.clone());
                }
                let tag = reference
                    .tag
                    .clone()
                    .unwrap_or_else(|| entry.descriptor.digest.to_string());
                repositories
                    .entry(reference.registry.clone())
                    .or_default()
                    .entry(reference.repository.clone())
                    .or_default()
                    .insert(
                        tag,
                        Tagged {
                            digest: entry.descriptor.digest.clone(),
                            media_type: entry.descriptor.media_type.clone(),
                        },
                    );
            }
            if entry.kind == "file" {
                let served = bundle
                    .manifest(&entry.descriptor.digest)
                    .ok()
                    .and_then(|view| {
                        let layer = view.layers.first()?.digest.clone();
                        let path = file_path(view.annotations.get(ANNOTATION_FILE_URL)?)?;
                        Some((path, layer))
                    });
                if let Some((path, layer)) = served {
                    files.insert(path, layer);
                }
            }
        }
        Self {
            bundle,
            repositories,
            files,
            image_registries,
            base: None,
        }
    }

    /// Serves a delta bundle together with its base; fails listing the blobs
    /// the delta leaves to a base that this base does not hold.
    pub fn with_base(mut self, base: OpenBundle) -> Result<Self, Vec<Digest>> {
        let missing: Vec<Digest> = self
            .bundle
            .delta()
            .map(|delta| {
                delta
                    .omitted
                    .iter()
                    .filter(|(digest, size)| base.blob_size(digest) != Some(**size))
                    .map(|(digest, _)| digest.clone())
                    .collect()
            })
            .unwrap_or_default();
        if !missing.is_empty() {
            return Err(missing);
        }
        self.base = Some(base);
        Ok(self)
    }

    fn blob_size(&self, digest: &Digest) -> Option<u64> {
        self.bundle
            .blob_size(digest)
            .or_else(|| self.base.as_ref()?.blob_size(digest))
    }

    fn blob_segments(
        &self,
        digest: &Digest,
        start: u64,
        length: u64,
    ) -> Option<Vec<crate::bundle::Segment>> {
        if self.bundle.blob_size(digest).is_some() {
            return self.bundle.blob_segments(digest, start, length);
        }
        self.base.as_ref()?.blob_segments(digest, start, length)
    }

    /// The registries whose images the bundle carries.
    pub fn registries(&self) -> BTreeSet<String> {
        self.image_registries.clone()
    }

    /// Every served file path (`host/path`).
    pub fn file_paths(&self) -> BTreeSet<String> {
        self.files.keys().cloned().collect()
    }

    /// The bundle.
    pub fn bundle(&self) -> &OpenBundle {
        &self.bundle
    }

    /// Finds a repository by a request name, bare or registry-prefixed.
    fn repository(&self, name: &str, namespace: Option<&str>) -> Option<&BTreeMap<String, Tagged>> {
        if let Some((first, rest)) = name.split_once('/') {
            if let Some(repo) = self.repositories.get(first).and_then(|r| r.get(rest)) {
                return Some(repo);
            }
        }
        if let Some(namespace) = namespace {
            let namespace = if namespace == "registry-1.docker.io" || namespace == "index.docker.io"
            {
                "docker.io"
            } else {
                namespace
            };
            return self.repositories.get(namespace).and_then(|r| r.get(name));
        }
        let mut found = self.repositories.values().filter_map(|r| r.get(name));
        let first = found.next()?;
        // A bare name that two registries share is ambiguous without `ns`.
        found.next().is_none().then_some(first)
    }
}

/// `host/path` of a download URL (`https://dl.k8s.io/release/...` →
/// `dl.k8s.io/release/...`); a local file of the spec is served as `local/<file name>`.
pub fn file_path(url: &str) -> Option<String> {
    if let Some(local) = url.strip_prefix("file:") {
        return local
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .map(|name| format!("local/{name}"));
    }
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let host = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Some(format!("{host}{}", parsed.path()))
}

struct AppState {
    catalog: Catalog,
    basic_auth: Option<String>,
}

/// Builds the router (exposed for tests and embedding).
pub fn router(catalog: Catalog, basic_auth: Option<String>) -> Router {
    let state = Arc::new(AppState {
        catalog,
        basic_auth: basic_auth.map(|creds| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(creds)
            )
        }),
    });
    Router::new().fallback(handle).with_state(state)
}

/// Serves until the process is stopped.
pub async fn serve(catalog: Catalog, options: ServeOptions) -> Result<(), ServeError> {
    let app = router(catalog, options.basic_auth.clone());
    let address = options.listen.to_string();
    let io_error = |source| ServeError::Io {
        address: address.clone(),
        source,
    };
    match &options.tls {
        None => {
            let listener = tokio::net::TcpListener::bind(options.listen)
                .await
                .map_err(io_error)?;
            axum::serve(listener, app).await.map_err(io_error)
        }
        Some((cert, key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(|source| ServeError::Tls {
                    cert: cert.clone(),
                    key: key.clone(),
                    source,
                })?;
            axum_server::bind_rustls(options.listen, config)
                .serve(app.into_make_service())
                .await
                .map_err(io_error)
        }
    }
}

fn oci_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "code": code, "message": message }] });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    if let Some(expected) = &state.basic_auth {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            let mut response = oci_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "authentication required",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ferry\""),
            );
            return response;
        }
    }
    let method = request.method().clone();
    if method != Method::GET && method != Method::HEAD {
        return oci_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "this registry is read-only",
        );
    }
    let path = request.uri().path().to_owned();
    let namespace = request.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "ns")
            .map(|(_, v)| v.into_owned())
    });
    let headers = request.headers().clone();
    let mut response = if path == "/v2" || path == "/v2/" {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{}",
        )
            .into_response()
    } else if path == "/v2/_catalog" {
        catalog(&state.catalog)
    } else if let Some(rest) = path.strip_prefix("/v2/") {
        registry_route(
            &state.catalog,
            rest,
            namespace.as_deref(),
            &method,
            &headers,
        )
        .await
    } else {
        file_route(&state.catalog, &path, &method, &headers).await
    };
    response.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

fn catalog(catalog: &Catalog) -> Response {
    let mut names = BTreeSet::new();
    for (registry, repositories) in &catalog.repositories {
        for repository in repositories.keys() {
            names.insert(format!("{registry}/{repository}"));
        }
    }
    let body = serde_json::json!({ "repositories": names });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn registry_route(
    catalog: &Catalog,
    rest: &str,
    namespace: Option<&str>,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    if let Some(name) = rest.strip_suffix("/tags/list") {
        let Some(repository) = catalog.repository(name, namespace) else {
            return oci_error(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                "repository not in this bundle",
            );
        };
        let body =
            serde_json::json!({ "name": name, "tags": repository.keys().collect::<Vec<_>>() });
        return (
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
    }
    if let Some((name, reference)) = rest.rsplit_once("/manifests/") {
        if catalog.repository(name, namespace).is_none() {
            return oci_error(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                &format!("repository {name} is not in this bundle"),
            );
        }
        let found = match reference.parse::<Digest>() {
            Ok(digest) => catalog
                .bundle
                .manifest_media_type(&digest)
                .map(|media_type| Tagged {
                    digest: digest.clone(),
                    media_type: media_type.to_owned(),
                }),
            Err(_) => catalog
                .repository(name, namespace)
                .and_then(|repository| repository.get(reference))
                .cloned(),
        };
        let Some(tagged) = found else {
            return oci_error(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                &format!("{name}:{reference} is not in this bundle"),
            );
        };
        return blob_response(catalog, &tagged.digest, &tagged.media_type, method, headers).await;
    }
    if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
        if catalog.repository(name, namespace).is_none() {
            return oci_error(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                &format!("repository {name} is not in this bundle"),
            );
        }
        let Ok(digest) = digest.parse::<Digest>() else {
            return oci_error(
                StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                "not a sha256 digest",
            );
        };
        if catalog.blob_size(&digest).is_none() {
            return oci_error(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                "blob not in this bundle",
            );
        }
        return blob_response(
            catalog,
            &digest,
            "application/octet-stream",
            method,
            headers,
        )
        .await;
    }
    oci_error(StatusCode::NOT_FOUND, "NAME_UNKNOWN", "unknown endpoint")
}

async fn file_route(
    catalog: &Catalog,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    let relative = path.trim_start_matches('/');
    // Judged after percent-decoding, so `%2e%2e%2f` is caught like `../`.
    let decoded = percent_encoding::percent_decode_str(relative).decode_utf8_lossy();
    if decoded
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
        || decoded.contains('\\')
    {
        return (StatusCode::BAD_REQUEST, "path traversal is not allowed\n").into_response();
    }
    match catalog.files.get(relative) {
        Some(digest) => {
            blob_response(catalog, digest, "application/octet-stream", method, headers).await
        }
        None => (StatusCode::NOT_FOUND, "not in this bundle\n").into_response(),
    }
}

/// Parses a single `Range: bytes=a-b` (or `a-`, `-n`) against a size.
fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let spec = value.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (size.checked_sub(n.min(size))?, size.checked_sub(1)?)
        }
        (start, "") => (start.parse().ok()?, size.checked_sub(1)?),
        (start, end) => (
            start.parse().ok()?,
            end.parse::<u64>().ok()?.min(size.saturating_sub(1)),
        ),
    };
    (start <= end && end < size).then(|| (start, end - start + 1))
}

async fn blob_response(
    catalog: &Catalog,
    digest: &Digest,
    media_type: &str,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
    let Some(size) = catalog.blob_size(digest) else {
        return oci_error(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob not in this bundle",
        );
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, length) = match range {
        None => (StatusCode::OK, 0, size),
        Some(value) => match parse_range(value, size) {
            Some((start, length)) => (StatusCode::PARTIAL_CONTENT, start, length),
            None => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return response;
            }
        },
    };
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, media_type)
        .header(header::CONTENT_LENGTH, length)
        .header(header::ACCEPT_RANGES, "bytes")
        .header("Docker-Content-Digest", digest.to_string())
        .header(header::ETAG, format!("\"{digest}\""));
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", start + length - 1),
        );
    }
    if method == Method::HEAD {
        return builder
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    let segments = catalog
        .blob_segments(digest, start, length)
        .unwrap_or_default();
    let body = match open_segments(segments).await {
        Ok(stream) => Body::from_stream(stream),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    builder
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A stream over file segments, in order (a blob may straddle media parts).
async fn open_segments(
    segments: Vec<crate::bundle::Segment>,
) -> std::io::Result<impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>>> {
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;
    let mut streams = Vec::new();
    for (path, offset, length) in segments {
        let mut file = tokio::fs::File::open(&path).await?;
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        streams.push(tokio_util::io::ReaderStream::with_capacity(
            file.take(length),
            256 << 10,
        ));
    }
    Ok(futures_util::stream::iter(streams).flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 10)));
        assert_eq!(parse_range("bytes=-5", 100), Some((95, 5)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 50)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=0-1,3-4", 100), None);
        assert_eq!(
            file_path("https://dl.k8s.io/release/v1/kubelet").as_deref(),
            Some("dl.k8s.io/release/v1/kubelet")
        );
    }
}
