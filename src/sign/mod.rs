//! Signing a bundle's identity in cosign's key-based format, and checking it.
//!
//! A bundle is signed by signing its root digest (which covers every byte of
//! the bundle transitively). The signature follows cosign's "simple signing"
//! convention so `cosign verify --key`, Harbor and plain `openssl` can check it:
//!
//! - keys are ECDSA P-256 in PEM: the public key as SPKI (`PUBLIC KEY`), the
//!   private key as PKCS#8 (`PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` under
//!   PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC);
//! - the payload is the compact JSON [`payload`] naming the root digest;
//! - the signature is ECDSA P-256 over SHA-256 of the payload, DER-encoded,
//!   deterministic (RFC 6979): the same lock and key give the same archive;
//! - inside the bundle it is an OCI artifact manifest ([`SIGNATURE_ARTIFACT_TYPE`])
//!   whose `subject` is the root, with the empty config and one layer (the
//!   payload, [`SIMPLE_SIGNING_MEDIA_TYPE`]) annotated with the base64 signature
//!   ([`ANNOTATION_SIGNATURE`]); `index.json` lists it under cosign's tag
//!   `sha256-<root hex>.sig` ([`signature_tag`]).
//!
//! [`TrustPolicy`] says which keys a reader trusts; `crate::bundle::verify`
//! applies it before accepting a bundle.

mod cosign;
mod keys;

pub use self::cosign::{
    check, docker_reference, payload, signature_tag, FoundSignature, SignatureError,
    ANNOTATION_SIGNATURE, SIGNATURE_ARTIFACT_TYPE, SIMPLE_SIGNING_MEDIA_TYPE, SIMPLE_SIGNING_TYPE,
};
pub use self::keys::{load_trusted_keys, KeyError, SigningKey, VerifyingKey};

/// Which signatures a reader accepts.
#[derive(Clone, Debug, Default)]
pub struct TrustPolicy {
    /// A bundle signed by any of these keys is accepted (several keys allow rotation).
    pub keys: Vec<VerifyingKey>,
    /// Accept a bundle without checking its signature (`--insecure-skip-signature`).
    /// When keys are given too, a bundle that carries a signature must still verify.
    pub allow_unsigned: bool,
}

impl TrustPolicy {
    /// Trust these keys; unsigned bundles are refused.
    pub fn trusting(keys: Vec<VerifyingKey>) -> Self {
        Self {
            keys,
            allow_unsigned: false,
        }
    }

    /// Check no signature at all (integrity is still verified, authenticity is not).
    pub fn insecure_skip_signature() -> Self {
        Self {
            keys: Vec::new(),
            allow_unsigned: true,
        }
    }

    /// Whether this policy can accept anything: some key, or unsigned allowed.
    pub fn is_usable(&self) -> bool {
        !self.keys.is_empty() || self.allow_unsigned
    }
}
