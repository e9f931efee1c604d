//! cosign's "simple signing" payload and the check of a bundle's signatures.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{TrustPolicy, VerifyingKey};
use crate::oci::Digest;

/// Artifact type of a cosign signature manifest.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";
/// Media type of the signed payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Annotation on the payload layer: base64 of the DER signature.
pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
/// The `critical.type` of a simple-signing payload.
pub const SIMPLE_SIGNING_TYPE: &str = "cosign container image signature";

#[derive(Serialize, Deserialize)]
struct Payload {
    critical: Critical,
    optional: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The identity a bundle's signature names: `ferry-bundle/<name>`.
pub fn docker_reference(bundle: &str) -> String {
    format!("ferry-bundle/{bundle}")
}

/// cosign's tag for the signature of `root`: `sha256-<hex>.sig`.
pub fn signature_tag(root: &Digest) -> String {
    format!("sha256-{}.sig", root.hex())
}

/// The simple-signing payload for a bundle's root, as compact JSON with
/// cosign's key order:
/// `{"critical":{"identity":{"docker-reference":"ferry-bundle/<name>"},"image":{"docker-manifest-digest":"<root>"},"type":"cosign container image signature"},"optional":null}`.
pub fn payload(bundle: &str, root: &Digest) -> Vec<u8> {
    crate::oci::to_canonical_json(&Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: docker_reference(bundle),
            },
            image: Image {
                docker_manifest_digest: root.to_string(),
            },
            kind: SIMPLE_SIGNING_TYPE.to_owned(),
        },
        optional: None,
    })
}

/// A signature found in a bundle: the signature manifest, its payload and
/// the base64 signature annotation.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FoundSignature {
    /// Digest of the signature manifest.
    pub manifest: Digest,
    /// The payload layer's bytes.
    pub payload: Vec<u8>,
    /// The `dev.cosignproject.cosign/signature` annotation (base64 DER), if present.
    pub signature: Option<String>,
}

/// Why a bundle's signature was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The policy trusts no key and does not allow unsigned bundles.
    #[error("no trusted public key was given (`--key PUB`, `--trust FILE`), and unsigned bundles are not allowed (`--insecure-skip-signature`)")]
    NoTrustedKeys,
    /// The bundle carries no signature of its root.
    #[error(
        "bundle root {root} is not signed: `index.json` lists no cosign signature (`{tag}`) of it"
    )]
    Unsigned {
        /// The root.
        root: Digest,
        /// The tag a signature would have.
        tag: String,
    },
    /// The payload is not a cosign simple-signing payload.
    #[error("signature {manifest}: the payload is not a cosign simple-signing payload: {detail}")]
    BadPayload {
        /// The signature manifest.
        manifest: Digest,
        /// What is wrong.
        detail: String,
    },
    /// The payload signs another digest than the bundle root.
    #[error("signature {manifest} signs {signed}, not this bundle's root {root}")]
    WrongDigest {
        /// The signature manifest.
        manifest: Digest,
        /// The digest the payload names.
        signed: String,
        /// The bundle root.
        root: Digest,
    },
    /// The payload names another bundle.
    #[error("signature {manifest} names `{signed}`, but this bundle is `{expected}`")]
    WrongIdentity {
        /// The signature manifest.
        manifest: Digest,
        /// The identity the payload names.
        signed: String,
        /// The bundle's identity.
        expected: String,
    },
    /// The signature annotation is absent or not base64 DER ECDSA.
    #[error(
        "signature {manifest}: the `dev.cosignproject.cosign/signature` annotation is {detail}"
    )]
    Malformed {
        /// The signature manifest.
        manifest: Digest,
        /// What is wrong.
        detail: String,
    },
    /// No trusted key verifies the signature.
    #[error("signature {manifest} does not verify with any trusted key ({tried}): the bundle was signed by an untrusted key, or its signature or payload was altered")]
    Untrusted {
        /// The signature manifest.
        manifest: Digest,
        /// Fingerprints of the keys tried.
        tried: String,
    },
    /// Several signatures, none accepted.
    #[error("none of the bundle's {} signatures is valid:{}", .0.len(), .0.iter().map(|e| format!("\n  - {e}")).collect::<String>())]
    NoneValid(Vec<SignatureError>),
}

/// Checks the signatures of a bundle (`bundle` is its name, `root` its root
/// digest) against `policy`. Returns the fingerprint of the key that verified
/// a signature, or `None` when the policy allows an unchecked bundle.
pub fn check(
    signatures: &[FoundSignature],
    bundle: &str,
    root: &Digest,
    policy: &TrustPolicy,
) -> Result<Option<String>, SignatureError> {
    if policy.keys.is_empty() {
        return if policy.allow_unsigned {
            Ok(None)
        } else {
            Err(SignatureError::NoTrustedKeys)
        };
    }
    if signatures.is_empty() {
        return if policy.allow_unsigned {
            Ok(None)
        } else {
            Err(SignatureError::Unsigned {
                root: root.clone(),
                tag: signature_tag(root),
            })
        };
    }
    let mut errors = Vec::new();
    for signature in signatures {
        match check_one(signature, bundle, root, &policy.keys) {
            Ok(key) => return Ok(Some(key.fingerprint().to_owned())),
            Err(error) => errors.push(error),
        }
    }
    if errors.len() == 1 {
        if let Some(error) = errors.pop() {
            return Err(error);
        }
    }
    Err(SignatureError::NoneValid(errors))
}

fn check_one<'k>(
    found: &FoundSignature,
    bundle: &str,
    root: &Digest,
    keys: &'k [VerifyingKey],
) -> Result<&'k VerifyingKey, SignatureError> {
    let manifest = &found.manifest;
    let payload: Payload =
        serde_json::from_slice(&found.payload).map_err(|e| SignatureError::BadPayload {
            manifest: manifest.clone(),
            detail: e.to_string(),
        })?;
    if payload.critical.kind != SIMPLE_SIGNING_TYPE {
        return Err(SignatureError::BadPayload {
            manifest: manifest.clone(),
            detail: format!(
                "`critical.type` is `{}`, expected `{SIMPLE_SIGNING_TYPE}`",
                payload.critical.kind
            ),
        });
    }
    let signed = payload.critical.image.docker_manifest_digest;
    if signed != root.to_string() {
        return Err(SignatureError::WrongDigest {
            manifest: manifest.clone(),
            signed,
            root: root.clone(),
        });
    }
    let expected = docker_reference(bundle);
    if payload.critical.identity.docker_reference != expected {
        return Err(SignatureError::WrongIdentity {
            manifest: manifest.clone(),
            signed: payload.critical.identity.docker_reference,
            expected,
        });
    }
    let malformed = |detail: String| SignatureError::Malformed {
        manifest: manifest.clone(),
        detail,
    };
    let encoded = found
        .signature
        .as_deref()
        .ok_or_else(|| malformed("missing".to_owned()))?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|e| malformed(format!("not base64: {e}")))?;
    if p256::ecdsa::Signature::from_der(&der).is_err() {
        return Err(malformed(format!(
            "not a DER-encoded ECDSA P-256 signature ({} bytes; truncated or altered)",
            der.len()
        )));
    }
    keys.iter()
        .find(|key| key.verify_der(&found.payload, &der))
        .ok_or_else(|| SignatureError::Untrusted {
            manifest: manifest.clone(),
            tried: keys
                .iter()
                .map(VerifyingKey::fingerprint)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn payload_is_cosign_simple_signing() {
        let root = Digest::of_bytes(b"root");
        let text = String::from_utf8(payload("k-paas", &root)).unwrap();
        assert_eq!(
            text,
            format!(
                "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"ferry-bundle/k-paas\"}},\"image\":{{\"docker-manifest-digest\":\"{root}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}"
            )
        );
    }

    #[test]
    fn a_signature_verifies_only_with_its_key_and_payload() {
        let key = super::super::SigningKey::generate();
        let other = super::super::SigningKey::generate();
        let root = Digest::of_bytes(b"root");
        let body = payload("b", &root);
        let der = key.sign_der(&body);
        assert_eq!(
            der,
            key.sign_der(&body),
            "RFC 6979 signing is deterministic"
        );
        let found = FoundSignature {
            manifest: Digest::of_bytes(b"m"),
            payload: body.clone(),
            signature: Some(base64::engine::general_purpose::STANDARD.encode(&der)),
        };
        let trusted = TrustPolicy::trusting(vec![other.verifying_key(), key.verifying_key()]);
        assert_eq!(
            check(std::slice::from_ref(&found), "b", &root, &trusted).unwrap(),
            Some(key.verifying_key().fingerprint().to_owned())
        );
        let untrusted = TrustPolicy::trusting(vec![other.verifying_key()]);
        assert!(matches!(
            check(std::slice::from_ref(&found), "b", &root, &untrusted),
            Err(SignatureError::Untrusted { .. })
        ));
        assert!(matches!(
            check(
                std::slice::from_ref(&found),
                "b",
                &Digest::of_bytes(b"x"),
                &trusted
            ),
            Err(SignatureError::WrongDigest { .. })
        ));
        assert!(matches!(
            check(&[], "b", &root, &trusted),
            Err(SignatureError::Unsigned { .. })
        ));
        assert!(matches!(
            check(&[], "b", &root, &TrustPolicy::default()),
            Err(SignatureError::NoTrustedKeys)
        ));
    }
}
