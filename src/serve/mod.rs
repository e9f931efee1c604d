//! `serve`: a read-only OCI distribution registry and file server straight
//! from a bundle (no extraction), to bootstrap a cluster before Harbor exists.
//!
//! Repositories are served under their original paths, both bare
//! (`/v2/library/nginx/...`, disambiguated by containerd's `?ns=docker.io`)
//! and prefixed by their registry (`/v2/docker.io/library/nginx/...`, the
//! form CRI-O mirrors and kubespray's `*_image_repo` use). Files are served
//! at kubespray's offline layout: the original URL's host, then its path.

pub mod auth;
pub mod config;
pub mod integrity;
pub mod range;
pub mod stall;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::io::AsyncSeekExt;

use self::auth::BasicAuth;
use self::integrity::{Changed, Hashed, Stamps};
use self::range::RangeAnswer;
use self::stall::StallAcceptor;

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
    /// A file of the bundle cannot be stamped for later checks.
    #[error("cannot record the state of the verified bundle")]
    Stamp(#[source] Changed),
    /// The base given for a delta bundle lacks blobs the delta leaves to it.
    #[error("it is not the base of this delta: it lacks {count} blob(s) the delta leaves to its base, e.g. {example}")]
    NotTheBase {
        /// How many blobs are missing.
        count: usize,
        /// One of them.
        example: Digest,
    },
}

/// How long a connection may take to send a request's headers, and how long it
/// may sit idle between requests, when `ServeOptions` does not say.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a write to a client may wait without progress (a client that
/// stopped reading mid-response) when `ServeOptions` does not say.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Address to listen on (default loopback only).
    pub listen: SocketAddr,
    /// TLS certificate and key (PEM), for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Credentials required on every request (HTTP basic auth).
    pub basic_auth: Option<BasicAuth>,
    /// How long a client may take to send its request headers, counted from
    /// the connection's start or the end of its previous response: an idle or
    /// slow connection is closed after it, so idle clients cannot hold every
    /// file descriptor.
    pub header_timeout: Duration,
    /// How long a write to a client may make no progress (the client stopped
    /// reading in the middle of a response) before the connection is closed.
    pub write_timeout: Duration,
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
    /// The state of every file blobs are read from, taken at start.
    stamps: Stamps,
}

/// Stamps every file a bundle's blobs are read from.
fn stamp_files(bundle: &OpenBundle) -> Result<Stamps, ServeError> {
    let paths: Vec<PathBuf> = bundle
        .blob_sizes()
        .iter()
        .filter_map(|(digest, size)| bundle.blob_segments(digest, 0, *size))
        .flatten()
        .map(|(path, _, _)| path)
        .collect();
    Stamps::take(paths.iter().map(PathBuf::as_path)).map_err(ServeError::Stamp)
}

impl Catalog {
    /// Indexes a bundle's images, charts and files for serving, and records
    /// the state of the files it is read from (call it right after verifying).
    pub fn new(bundle: OpenBundle) -> Result<Self, ServeError> {
        let stamps = stamp_files(&bundle)?;
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
        Ok(Self {
            bundle,
            repositories,
            files,
            image_registries,
            base: None,
            stamps,
        })
    }

    /// Serves a delta bundle together with its base; fails listing the blobs
    /// the delta leaves to a base that this base does not hold.
    pub fn with_base(mut self, base: OpenBundle) -> Result<Self, ServeError> {
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
        if let Some(example) = missing.first() {
            return Err(ServeError::NotTheBase {
                count: missing.len(),
                example: example.clone(),
            });
        }
        self.stamps.extend(stamp_files(&base)?);
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
    basic_auth: Option<BasicAuth>,
}

/// Builds the router (exposed for tests and embedding).
pub fn router(catalog: Catalog, basic_auth: Option<BasicAuth>) -> Router {
    let state = Arc::new(AppState {
        catalog,
        basic_auth,
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
    let timeout = options.header_timeout;
    match &options.tls {
        None => {
            let mut server = axum_server::bind(options.listen)
                .acceptor(StallAcceptor::new(options.write_timeout))
                .first_request_timeout(timeout);
            server.http_builder().http1().header_read_timeout(timeout);
            server
                .serve(app.into_make_service())
                .await
                .map_err(io_error)
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
            let mut server = axum_server::bind_rustls(options.listen, config)
                .map(|tls| tls.acceptor(StallAcceptor::new(options.write_timeout)))
                .first_request_timeout(timeout);
            server.http_builder().http1().header_read_timeout(timeout);
            server
                .serve(app.into_make_service())
                .await
                .map_err(io_error)
        }
    }
}

/// What a `Range` header asks of `size` bytes: the status, start and length to send, or the
/// 416 answer.
fn ranged(range: Option<&str>, size: u64) -> Result<(StatusCode, u64, u64), Box<Response>> {
    match range::evaluate(range, size) {
        RangeAnswer::Full => Ok((StatusCode::OK, 0, size)),
        RangeAnswer::Partial { start, length } => Ok((StatusCode::PARTIAL_CONTENT, start, length)),
        RangeAnswer::Unsatisfiable => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            Err(Box::new(response))
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
            .map(HeaderValue::as_bytes);
        if !expected.admits(given) {
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
    } else if path == BUNDLE_PATH {
        bundle_route(&state.catalog, &method, &headers).await
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

/// Where `ferry serve` offers the bundle archive itself (plain `.tar`
/// bundles), with `Range`, for the in-cluster unpacker to download and resume.
pub const BUNDLE_PATH: &str = "/_ferry/bundle.tar";

async fn bundle_route(catalog: &Catalog, method: &Method, headers: &HeaderMap) -> Response {
    let path = catalog.bundle.path().to_owned();
    let Ok(metadata) = tokio::fs::metadata(&path).await else {
        return (StatusCode::NOT_FOUND, "not served\n").into_response();
    };
    if !metadata.is_file() {
        return (
            StatusCode::NOT_FOUND,
            "this bundle is not one archive file (a layout or parts); copy it instead\n",
        )
            .into_response();
    }
    let size = metadata.len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, start, length) = match ranged(range, size) {
        Ok(answer) => answer,
        Err(response) => return *response,
    };
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/x-tar")
        .header(header::CONTENT_LENGTH, length)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, format!("\"{}\"", catalog.bundle.root));
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{size}", start + length - 1),
        );
    }
    if method == Method::HEAD || length == 0 {
        return builder
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    match open_segments(&catalog.stamps, vec![(path, start, length)]).await {
        Ok(stream) => builder
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Err(error) => {
            eprintln!("ferry serve: refusing the bundle archive: {error}");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n")).into_response()
        }
    }
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
    let (status, start, length) = match ranged(range, size) {
        Ok(answer) => answer,
        Err(response) => return *response,
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
    let stream = match open_segments(&catalog.stamps, segments).await {
        Ok(stream) => stream,
        Err(error) => {
            eprintln!("ferry serve: refusing {digest}: {error}");
            return oci_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "BLOB_UNKNOWN",
                &format!("{digest} cannot be served: {error}"),
            );
        }
    };
    let body = if status == StatusCode::OK {
        Body::from_stream(Hashed::new(stream, digest.clone()))
    } else {
        Body::from_stream(stream)
    };
    builder
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A stream over file segments, in order (a blob may straddle media parts);
/// each file is checked, once opened, against its stamp from the start.
async fn open_segments(
    stamps: &Stamps,
    segments: Vec<crate::bundle::Segment>,
) -> Result<impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Unpin, Changed> {
    use futures_util::StreamExt;
    use tokio::io::AsyncReadExt;
    let mut streams = Vec::new();
    for (path, offset, length) in segments {
        let io = |source| Changed::Io {
            path: path.clone(),
            source,
        };
        let mut file = tokio::fs::File::open(&path).await.map_err(io)?;
        let metadata = file.metadata().await.map_err(io)?;
        stamps.check(&path, &metadata)?;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(io)?;
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
    fn file_paths() {
        assert_eq!(
            file_path("https://dl.k8s.io/release/v1/kubelet").as_deref(),
            Some("dl.k8s.io/release/v1/kubelet")
        );
    }
}
