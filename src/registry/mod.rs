//! The OCI distribution client: one transport (HTTPS or plain HTTP for
//! allowed hosts), anonymous/basic/bearer authentication driven by the
//! registry's challenge, retries with backoff, and blobs streamed straight
//! into the [`Store`] with their digest checked while they stream.
//!
//! The same transport fetches plain URLs (chart repositories, node binaries),
//! so every download in ferry shares retries, CA configuration and streaming.

pub mod auth;
mod config;
mod error;
pub mod journal;
mod push;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};

use self::auth::{parse_challenge, Challenge, CredentialStore, Credentials};
pub use self::config::{Mirror, RegistryConfig};
pub use self::error::RegistryError;
pub use self::journal::UploadJournal;
pub use self::push::{BlobSource, MountOutcome};
use crate::oci::{Digest, Hasher, ManifestView, MANIFEST_ACCEPT};
use crate::store::Store;

/// The largest manifest ferry accepts (the distribution spec suggests 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;

/// A manifest as fetched: its exact bytes, media type and digest.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    /// The bytes, exactly as served.
    pub bytes: Vec<u8>,
    /// Media type (from `Content-Type`, else the body's `mediaType`).
    pub media_type: String,
    /// SHA-256 of `bytes`.
    pub digest: Digest,
}

/// The body of a request, re-created for every attempt.
pub(crate) type BodyFactory<'a> = &'a (dyn Fn() -> Result<reqwest::Body, std::io::Error> + Sync);

/// One registry request and the access it needs.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    /// A path (`/v2/...`) on the host, or an absolute URL (an upload `Location`).
    pub(crate) target: &'a str,
    /// Token scopes, space-separated (`repository:a:pull,push repository:b:pull`).
    pub(crate) scope: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<BodyFactory<'a>>,
    pub(crate) what: &'a str,
}

/// What a download fetches: a registry blob or a plain URL.
enum Source<'a> {
    Blob {
        host: String,
        repo: String,
        path: String,
        what: String,
    },
    Url(&'a str),
}

impl Source<'_> {
    fn what(&self) -> &str {
        match self {
            Source::Blob { what, .. } => what,
            Source::Url(url) => url,
        }
    }
}

/// How a host is reached once probed.
#[derive(Clone, Debug)]
struct HostState {
    base: String,
    basic: bool,
}

/// How long the first request to a host (`GET /v2/`, a tiny answer) may take,
/// connection and TLS handshake included: a server that accepts TCP and never
/// answers fails within it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A registry and URL client shared by every download in one ferry run.
pub struct Client {
    http: reqwest::Client,
    config: RegistryConfig,
    credentials: CredentialStore,
    hosts: Mutex<HashMap<String, HostState>>,
    tokens: Mutex<HashMap<(String, String), String>>,
}

impl Client {
    /// Builds a client from configuration, loading credentials and CA certificates.
    pub fn new(config: RegistryConfig) -> Result<Self, RegistryError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            .read_timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(32);
        for path in &config.ca_certs {
            let pem = std::fs::read(path).map_err(|source| RegistryError::Config {
                detail: format!("cannot read CA certificate {}", path.display()),
                source: Some(Box::new(source)),
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
                RegistryError::Config {
                    detail: format!("invalid CA certificate {}", path.display()),
                    source: Some(Box::new(source)),
                }
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|source| RegistryError::Config {
            detail: "cannot build the HTTP client".to_owned(),
            source: Some(Box::new(source)),
        })?;
        let credentials = CredentialStore::load().map_err(|source| RegistryError::Config {
            detail: "cannot load registry credentials".to_owned(),
            source: Some(Box::new(source)),
        })?;
        Ok(Self {
            http,
            config,
            credentials,
            hosts: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Fetches a manifest by tag or digest. When `reference` is a digest the
    /// bytes must hash to it.
    pub async fn get_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let (host, repo) = self.config.endpoint(registry, repository);
        let path = format!("/v2/{repo}/manifests/{reference}");
        let separator = if reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        let what = format!("manifest {registry}/{repository}{separator}{reference}");
        let response = self
            .send(
                &host,
                &repo,
                Method::GET,
                &path,
                Some(MANIFEST_ACCEPT),
                &what,
            )
            .await?;
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or(value).trim().to_owned());
        let url = response.url().to_string();
        let bytes = read_limited(response, MAX_MANIFEST_BYTES, &url).await?;
        let digest = Digest::of_bytes(&bytes);
        if let Ok(expected) = reference.parse::<Digest>() {
            if expected != digest {
                return Err(RegistryError::DigestMismatch {
                    what,
                    expected,
                    actual: digest,
                });
            }
        }
        let view = ManifestView::parse(&bytes).map_err(|source| RegistryError::BadManifest {
            what: what.clone(),
            source,
        })?;
        let media_type = match (view.media_type, content_type) {
            (Some(declared), _) => declared,
            (None, Some(header)) if crate::oci::is_manifest_media_type(&header) => header,
            (None, _) if view.config.is_some() => crate::oci::OCI_MANIFEST.to_owned(),
            (None, _) => crate::oci::OCI_INDEX.to_owned(),
        };
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// Streams a blob into the store unless it is already there; returns its size.
    /// The content is hashed while it streams and only a verified blob is kept.
    pub async fn fetch_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        size: Option<u64>,
        store: &Store,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, RegistryError> {
        if store.contains(digest, size) {
            return Ok(size.unwrap_or_else(|| store.size_of(digest).unwrap_or_default()));
        }
        let source = self.blob_source(registry, repository, digest);
        self.download(&source, async |response| {
            stream_into_store(response, digest, size, store, progress, source.what()).await
        })
        .await
    }

    /// Downloads a URL (`http`, `https`) into the store, checking `expected` when
    /// given; returns the digest and size.
    pub async fn fetch_url(
        &self,
        url: &str,
        expected: Option<&Digest>,
        store: &Store,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(Digest, u64), RegistryError> {
        if let Some(digest) = expected {
            if let Some(size) = store.size_of(digest) {
                return Ok((digest.clone(), size));
            }
        }
        self.download(&Source::Url(url), async |response| match expected {
            Some(digest) => stream_into_store(response, digest, None, store, progress, url)
                .await
                .map(|size| (digest.clone(), size)),
            None => stream_into_store_computed(response, store, progress, url).await,
        })
        .await
    }

    /// Streams a blob into `sink`, verifying its size and digest; retries
    /// transient failures from the start.
    pub async fn fetch_blob_into(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        size: Option<u64>,
        sink: &mut dyn BlobSink,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, RegistryError> {
        let source = self.blob_source(registry, repository, digest);
        self.download(&source, async |response| {
            stream_into_sink(response, digest, size, sink, progress, source.what()).await
        })
        .await
    }

    /// Streams a URL into `sink`, verifying size and digest; retries transient failures.
    pub async fn fetch_url_into(
        &self,
        url: &str,
        digest: &Digest,
        size: Option<u64>,
        sink: &mut dyn BlobSink,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, RegistryError> {
        self.download(&Source::Url(url), async |response| {
            stream_into_sink(response, digest, size, sink, progress, url).await
        })
        .await
    }

    fn blob_source(&self, registry: &str, repository: &str, digest: &Digest) -> Source<'static> {
        let (host, repo) = self.config.endpoint(registry, repository);
        Source::Blob {
            path: format!("/v2/{repo}/blobs/{digest}"),
            what: format!("blob {digest} of {registry}/{repository}"),
            host,
            repo,
        }
    }

    /// GETs a download and hands the response to `consume`, starting over
    /// when either fails transiently (a reset connection, a cut body, a 5xx).
    async fn download<T>(
        &self,
        source: &Source<'_>,
        mut consume: impl AsyncFnMut(Response) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut attempt = 0;
        loop {
            let response = match source {
                Source::Blob {
                    host,
                    repo,
                    path,
                    what,
                } => self.send(host, repo, Method::GET, path, None, what).await?,
                Source::Url(url) => self.send_url(url).await?,
            };
            match consume(response).await {
                Err(error) if error.is_transient() && attempt < self.config.retries => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// Fetches a small text document (a chart repository's `index.yaml`).
    pub async fn get_text(&self, url: &str, limit: u64) -> Result<String, RegistryError> {
        let response = self.send_url(url).await?;
        let bytes = read_limited(response, limit, url).await?;
        String::from_utf8(bytes).map_err(|_| RegistryError::Status {
            url: url.to_owned(),
            status: 200,
            detail: "response is not UTF-8 text".to_owned(),
        })
    }

    async fn send_url(&self, url: &str) -> Result<Response, RegistryError> {
        let url = &self.config.mirrored_url(url);
        let mut attempt = 0;
        loop {
            let result = self.http.get(url).send().await;
            match classify(result, url, url).await {
                Err(error) if error.is_transient() && attempt < self.config.retries => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn host_state(&self, host: &str) -> Result<HostState, RegistryError> {
        if let Some(state) = lock(&self.hosts).get(host) {
            return Ok(state.clone());
        }
        let plain_allowed = self.config.allows_plain_http(host);
        let mut candidates = vec![format!("https://{host}")];
        if plain_allowed {
            candidates.push(format!("http://{host}"));
        }
        let mut https_error: Option<(String, reqwest::Error)> = None;
        for base in candidates {
            let url = format!("{base}/v2/");
            match self.http.get(&url).timeout(PROBE_TIMEOUT).send().await {
                Ok(response) => {
                    if base.starts_with("http://") && response.status() == StatusCode::BAD_REQUEST {
                        // A TLS server answering plain HTTP: the HTTPS attempt's
                        // failure (an untrusted certificate, usually) is the real cause.
                        let body = response.text().await.unwrap_or_default();
                        if body.contains("HTTPS") {
                            if let Some((url, source)) = https_error {
                                return Err(RegistryError::Connect {
                                    url,
                                    hint: format!(" ({host} speaks HTTPS; if its certificate is from a private CA, pass --ca-cert)"),
                                    source: Box::new(source),
                                });
                            }
                        }
                        let state = HostState { base, basic: false };
                        lock(&self.hosts).insert(host.to_owned(), state.clone());
                        return Ok(state);
                    }
                    let basic = response.status() == StatusCode::UNAUTHORIZED
                        && matches!(challenge_of(response.headers()), Some(Challenge::Basic));
                    let state = HostState { base, basic };
                    lock(&self.hosts).insert(host.to_owned(), state.clone());
                    return Ok(state);
                }
                Err(error) if error.is_timeout() => {
                    // A server that holds the connection without answering
                    // would hold plain HTTP the same way: no second wait.
                    return Err(RegistryError::Connect {
                        url,
                        hint: format!(
                            " ({host} accepted the connection but did not answer within {} s)",
                            PROBE_TIMEOUT.as_secs()
                        ),
                        source: Box::new(error),
                    });
                }
                Err(error) if base.starts_with("https://") => https_error = Some((url, error)),
                Err(error) => {
                    let hint = match &https_error {
                        Some((_, tls)) => format!(" (HTTPS failed too: {tls})"),
                        None => String::new(),
                    };
                    return Err(RegistryError::Connect {
                        url,
                        hint,
                        source: Box::new(error),
                    });
                }
            }
        }
        let (url, source) = https_error.ok_or_else(|| RegistryError::Config {
            detail: format!("no address to reach {host}"),
            source: None,
        })?;
        let hint = if plain_allowed {
            String::new()
        } else {
            format!(" (if {host} serves plain HTTP, allow it with --insecure-registry {host})")
        };
        Err(RegistryError::Connect {
            url,
            hint,
            source: Box::new(source),
        })
    }

    /// Sends one registry request, handling auth challenges and retries.
    async fn send(
        &self,
        host: &str,
        repository: &str,
        method: Method,
        path: &str,
        accept: Option<&str>,
        what: &str,
    ) -> Result<Response, RegistryError> {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept.and_then(|a| reqwest::header::HeaderValue::from_str(a).ok()) {
            headers.insert(ACCEPT, accept);
        }
        self.call(
            host,
            &Call {
                method,
                target: path,
                scope: format!("repository:{repository}:pull"),
                headers,
                body: None,
                what,
            },
        )
        .await
    }

    /// Sends one registry request: authenticates as the challenge asks,
    /// retries transient failures (re-creating the body), classifies errors.
    pub(crate) async fn call(
        &self,
        host: &str,
        call: &Call<'_>,
    ) -> Result<Response, RegistryError> {
        let mut attempt = 0;
        loop {
            let state = self.host_state(host).await?;
            let url = if call.target.starts_with("http://") || call.target.starts_with("https://") {
                call.target.to_owned()
            } else {
                format!("{}{}", state.base, call.target)
            };
            let authorization = self.cached_authorization(host, &call.scope, state.basic)?;
            let mut request = self
                .http
                .request(call.method.clone(), &url)
                .headers(call.headers.clone());
            if let Some(value) = &authorization {
                request = request.header(AUTHORIZATION, value);
            }
            if let Some(body) = call.body {
                let body = body().map_err(|source| RegistryError::Sink {
                    what: call.what.to_owned(),
                    source,
                })?;
                request = request.body(body);
            }
            let result = request.send().await;
            if let Ok(response) = &result {
                if response.status() == StatusCode::UNAUTHORIZED {
                    let challenge = challenge_of(response.headers());
                    let retried_with_auth = authorization.is_some();
                    self.authenticate(host, &call.scope, challenge, retried_with_auth)
                        .await?;
                    if attempt < self.config.retries {
                        attempt += 1;
                        continue;
                    }
                }
            }
            match classify(result, &url, call.what).await {
                Err(error) if error.is_transient() && attempt < self.config.retries => {
                    attempt += 1;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                other => return other,
            }
        }
    }

    /// The base URL (`https://host` or `http://host`) a host answers on.
    pub async fn base_url(&self, host: &str) -> Result<String, RegistryError> {
        Ok(self.host_state(host).await?.base)
    }

    /// The underlying HTTP client (for non-registry APIs such as Harbor's).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn cached_authorization(
        &self,
        host: &str,
        scope: &str,
        basic: bool,
    ) -> Result<Option<String>, RegistryError> {
        if let Some(token) = lock(&self.tokens).get(&(host.to_owned(), scope.to_owned())) {
            return Ok(Some(format!("Bearer {token}")));
        }
        if basic {
            return Ok(self.credentials_for(host)?.map(|c| c.basic_header()));
        }
        Ok(None)
    }

    /// Credentials configured for a host (docker config, helpers).
    pub fn credentials_for(&self, host: &str) -> Result<Option<Credentials>, RegistryError> {
        self.credentials
            .get(host)
            .map_err(|source| RegistryError::Config {
                detail: format!("cannot read credentials for {host}"),
                source: Some(Box::new(source)),
            })
    }

    /// Reacts to a 401: fetch a bearer token, or switch the host to basic auth.
    async fn authenticate(
        &self,
        host: &str,
        scope: &str,
        challenge: Option<Challenge>,
        already_sent_auth: bool,
    ) -> Result<(), RegistryError> {
        let credentials = self.credentials_for(host)?;
        match challenge {
            Some(Challenge::Basic) => {
                if already_sent_auth || credentials.is_none() {
                    return Err(RegistryError::Unauthorized {
                        registry: host.to_owned(),
                        detail: if credentials.is_none() {
                            "the registry wants basic auth and no credentials are configured (docker login, or ~/.docker/config.json)".to_owned()
                        } else {
                            "the configured credentials were rejected".to_owned()
                        },
                    });
                }
                if let Some(state) = lock(&self.hosts).get_mut(host) {
                    state.basic = true;
                }
                Ok(())
            }
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = (host.to_owned(), scope.to_owned());
                if already_sent_auth && lock(&self.tokens).contains_key(&key) {
                    // A token we just used was refused: it expired or lacks the scope.
                    lock(&self.tokens).remove(&key);
                }
                let token = self
                    .fetch_token(
                        host,
                        &realm,
                        service.as_deref(),
                        scope,
                        credentials.as_ref(),
                    )
                    .await?;
                lock(&self.tokens).insert(key, token);
                Ok(())
            }
            None => Err(RegistryError::Unauthorized {
                registry: host.to_owned(),
                detail: "401 without a usable WWW-Authenticate challenge".to_owned(),
            }),
        }
    }

    async fn fetch_token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credentials: Option<&Credentials>,
    ) -> Result<String, RegistryError> {
        let mut url = url::Url::parse(realm).map_err(|_| RegistryError::Unauthorized {
            registry: host.to_owned(),
            detail: format!("token realm `{realm}` is not a URL"),
        })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            for scope in scope.split(' ') {
                query.append_pair("scope", scope);
            }
        }
        let mut request = self.http.get(url.clone());
        if let Some(credentials) = credentials {
            request = request.header(AUTHORIZATION, credentials.basic_header());
        }
        let response = request
            .send()
            .await
            .map_err(|source| RegistryError::Connect {
                url: realm.to_owned(),
                hint: String::new(),
                source: Box::new(source),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(RegistryError::Unauthorized {
                registry: host.to_owned(),
                detail: format!(
                    "token service {realm} answered {status}{}",
                    if credentials.is_some() {
                        " for the configured credentials"
                    } else {
                        " (no credentials configured for this registry)"
                    }
                ),
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenReply {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = read_limited(response, 1 << 20, realm).await?;
        let reply: TokenReply =
            serde_json::from_slice(&body).map_err(|_| RegistryError::Unauthorized {
                registry: host.to_owned(),
                detail: format!("token service {realm} returned no JSON token"),
            })?;
        reply
            .token
            .or(reply.access_token)
            .ok_or_else(|| RegistryError::Unauthorized {
                registry: host.to_owned(),
                detail: format!("token service {realm} returned no token"),
            })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these maps cannot leave them inconsistent.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn challenge_of(headers: &HeaderMap) -> Option<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(parse_challenge)
        .next()
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6)))
}

/// Turns a send result into a response or a typed, classified error.
async fn classify(
    result: Result<Response, reqwest::Error>,
    url: &str,
    what: &str,
) -> Result<Response, RegistryError> {
    let response = result.map_err(|source| RegistryError::Connect {
        url: url.to_owned(),
        hint: String::new(),
        source: Box::new(source),
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = read_limited(response, 64 << 10, url)
        .await
        .unwrap_or_default();
    let detail = error::describe_body(&body);
    if status == StatusCode::NOT_FOUND {
        return Err(RegistryError::NotFound {
            what: what.to_owned(),
            detail,
        });
    }
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(RegistryError::Unauthorized {
            registry: url.to_owned(),
            detail: format!("{status} for {what}: {detail}"),
        });
    }
    Err(RegistryError::Status {
        url: url.to_owned(),
        status: status.as_u16(),
        detail,
    })
}

async fn read_limited(response: Response, limit: u64, url: &str) -> Result<Vec<u8>, RegistryError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit)
    {
        return Err(RegistryError::TooLarge {
            url: url.to_owned(),
            limit,
        });
    }
    let mut stream = response.bytes_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| RegistryError::Interrupted {
            url: url.to_owned(),
            received: out.len() as u64,
            source: Box::new(source),
        })?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(RegistryError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Streams a response body chunk by chunk into `write`; checks the announced length.
async fn stream_body(
    response: Response,
    write: &mut (dyn FnMut(&[u8]) -> Result<(), RegistryError> + Send),
    progress: &(dyn Fn(u64) + Sync),
    what: &str,
) -> Result<u64, RegistryError> {
    let expected_length = response.content_length();
    let mut stream = response.bytes_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|source| RegistryError::Interrupted {
            url: what.to_owned(),
            received,
            source: Box::new(source),
        })?;
        write(&chunk)?;
        received += chunk.len() as u64;
        progress(chunk.len() as u64);
    }
    if let Some(length) = expected_length {
        if received != length {
            return Err(RegistryError::Truncated {
                what: what.to_owned(),
                expected: length,
                received,
            });
        }
    }
    Ok(received)
}

async fn stream_into_store(
    response: Response,
    digest: &Digest,
    size: Option<u64>,
    store: &Store,
    progress: &(dyn Fn(u64) + Sync),
    what: &str,
) -> Result<u64, RegistryError> {
    let mut writer = store.writer()?;
    stream_body(
        response,
        &mut |chunk| Ok(writer.write_chunk(chunk)?),
        progress,
        what,
    )
    .await?;
    writer.commit(digest, size).map_err(|error| match error {
        crate::store::StoreError::DigestMismatch { actual, .. } => RegistryError::DigestMismatch {
            what: what.to_owned(),
            expected: digest.clone(),
            actual,
        },
        other => other.into(),
    })
}

async fn stream_into_store_computed(
    response: Response,
    store: &Store,
    progress: &(dyn Fn(u64) + Sync),
    what: &str,
) -> Result<(Digest, u64), RegistryError> {
    let mut writer = store.writer()?;
    stream_body(
        response,
        &mut |chunk| Ok(writer.write_chunk(chunk)?),
        progress,
        what,
    )
    .await?;
    Ok(writer.commit_as_computed()?)
}

/// Streams a response into a [`BlobSink`], hashing on the way; verifies size and digest.
async fn stream_into_sink(
    response: Response,
    digest: &Digest,
    size: Option<u64>,
    sink: &mut dyn BlobSink,
    progress: &(dyn Fn(u64) + Sync),
    what: &str,
) -> Result<u64, RegistryError> {
    let sink_error = |source: std::io::Error| RegistryError::Sink {
        what: what.to_owned(),
        source,
    };
    sink.reset().map_err(sink_error)?;
    let mut hasher = Hasher::new();
    let received = stream_body(
        response,
        &mut |chunk| {
            if size.is_some_and(|size| sink.written() + chunk.len() as u64 > size) {
                return Err(RegistryError::TooLarge {
                    url: what.to_owned(),
                    limit: size.unwrap_or_default(),
                });
            }
            hasher.update(chunk);
            sink.write_chunk(chunk).map_err(sink_error)
        },
        progress,
        what,
    )
    .await?;
    if let Some(size) = size {
        if received != size {
            return Err(RegistryError::Truncated {
                what: what.to_owned(),
                expected: size,
                received,
            });
        }
    }
    let actual = hasher.finish();
    if &actual != digest {
        return Err(RegistryError::DigestMismatch {
            what: what.to_owned(),
            expected: digest.clone(),
            actual,
        });
    }
    Ok(received)
}

/// A destination for a blob streamed by [`Client::fetch_blob_into`]: a region
/// of an archive being built, for instance. The client hashes and verifies.
pub trait BlobSink: Send {
    /// Appends bytes.
    fn write_chunk(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Bytes written since the last reset.
    fn written(&self) -> u64;
    /// Starts over (before a retry).
    fn reset(&mut self) -> std::io::Result<()>;
}
