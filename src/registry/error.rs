//! Registry errors, classified so that retries and messages can tell them apart.

use crate::oci::{Digest, ManifestError};
use crate::store::StoreError;

/// Errors from registries and URL downloads.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The connection failed (refused, reset, TLS, timeout).
    #[error("cannot reach {url}{hint}")]
    Connect {
        /// The URL tried.
        url: String,
        /// A hint on what to change.
        hint: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The registry answered with an error status.
    #[error("{url} answered HTTP {status}: {detail}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The registry's error codes and messages, or the body.
        detail: String,
    },
    /// The tag, digest or repository does not exist.
    #[error("{what} not found: {detail}")]
    NotFound {
        /// What was asked for.
        what: String,
        /// The registry's explanation.
        detail: String,
    },
    /// Authentication failed or no credentials were available.
    #[error("authentication to {registry} failed: {detail}")]
    Unauthorized {
        /// The registry.
        registry: String,
        /// What happened.
        detail: String,
    },
    /// Content did not hash to the digest requested.
    #[error("{what}: content hashes to {actual}, not the requested {expected}; the registry or a proxy altered it")]
    DigestMismatch {
        /// What was fetched.
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// What the bytes hashed to.
        actual: Digest,
    },
    /// The connection ended before the announced length.
    #[error("{what}: download truncated after {received} of {expected} bytes")]
    Truncated {
        /// What was fetched.
        what: String,
        /// Announced length.
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// The body stream broke.
    #[error("{url}: connection broke after {received} bytes")]
    Interrupted {
        /// What was fetched.
        url: String,
        /// Bytes received before the break.
        received: u64,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A manifest or document exceeded its size limit.
    #[error("{url}: response larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// A manifest could not be parsed.
    #[error("{what} is not a usable manifest")]
    BadManifest {
        /// What was fetched.
        what: String,
        /// The cause.
        #[source]
        source: ManifestError,
    },
    /// Writing a streamed blob to its destination failed.
    #[error("{what}: cannot write the content")]
    Sink {
        /// What was fetched.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The blob cache failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run was asked to stop; an upload stopped between two chunks.
    #[error("{what}: stopped on request between two chunks; the upload session is recorded and the next push continues it")]
    Stopped {
        /// The upload.
        what: String,
    },
    /// Client configuration was invalid.
    #[error("{detail}")]
    Config {
        /// What is wrong.
        detail: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl RegistryError {
    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Truncated { .. } | Self::Interrupted { .. } => true,
            Self::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// Summarises a registry error body (`{"errors":[{"code","message"}]}`) or plain text.
pub(super) fn describe_body(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    if let Ok(parsed) = serde_json::from_slice::<Errors>(body) {
        let parts: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.code.as_deref().unwrap_or("UNKNOWN"),
                    e.message.as_deref().unwrap_or("")
                )
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(no body)".to_owned()
    } else {
        text.chars().take(300).collect()
    }
}
