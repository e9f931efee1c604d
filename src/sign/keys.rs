//! ECDSA P-256 key pairs in PEM, as cosign writes and reads them.

use std::fmt;
use std::path::{Path, PathBuf};

use p256::ecdsa::signature::{Signer, Verifier};
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use pkcs8::der::pem::PemLabel;
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo, SecretDocument};
use rand_core::{OsRng, RngCore};

use crate::oci::Digest;

/// PBKDF2-HMAC-SHA256 iterations for an encrypted private key (OWASP 2023).
const PBKDF2_ITERATIONS: u32 = 600_000;

/// Key loading, parsing or encoding failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read key file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The private key is encrypted and no password was given.
    #[error("{path} is an encrypted private key and no password was given")]
    NeedsPassword {
        /// The key file.
        path: PathBuf,
    },
    /// The password did not decrypt the private key.
    #[error("cannot decrypt the private key {path}: wrong password (or a damaged key)")]
    WrongPassword {
        /// The key file.
        path: PathBuf,
    },
    /// Not a P-256 private key in a PEM form ferry reads.
    #[error("{path} is not an ECDSA P-256 private key in PEM (PKCS#8 `PRIVATE KEY`, `ENCRYPTED PRIVATE KEY` or SEC1 `EC PRIVATE KEY`): {detail}")]
    InvalidPrivateKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Not a P-256 public key in SPKI PEM.
    #[error("{path} is not an ECDSA P-256 public key in PEM (SPKI `PUBLIC KEY`): {detail}")]
    InvalidPublicKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A trust file lists no public key.
    #[error("trust file {path} holds no `PUBLIC KEY` block")]
    NoKeys {
        /// The trust file.
        path: PathBuf,
    },
    /// Encoding a key failed.
    #[error("cannot encode the key: {0}")]
    Encode(String),
}

/// An ECDSA P-256 private key that signs bundles.
#[derive(Clone)]
pub struct SigningKey {
    inner: p256::ecdsa::SigningKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.verifying_key().fingerprint())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new random key (from the operating system's generator).
    pub fn generate() -> Self {
        Self {
            inner: p256::ecdsa::SigningKey::random(&mut OsRng),
        }
    }

    /// Reads a PEM private key file; `password` decrypts an `ENCRYPTED PRIVATE KEY`.
    pub fn load(path: &Path, password: Option<&[u8]>) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pem(&text, password, path)
    }

    /// Parses a PEM private key; `origin` names it in errors.
    pub fn from_pem(text: &str, password: Option<&[u8]>, origin: &Path) -> Result<Self, KeyError> {
        let invalid = |detail: String| KeyError::InvalidPrivateKey {
            path: origin.to_owned(),
            detail,
        };
        if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            let secret =
                p256::SecretKey::from_sec1_pem(text).map_err(|e| invalid(e.to_string()))?;
            return Ok(Self {
                inner: secret.into(),
            });
        }
        if text.contains("SIGSTORE PRIVATE KEY-----") || text.contains("COSIGN PRIVATE KEY-----") {
            return Err(invalid(
                "cosign's own encrypted key format is not supported; convert the key to PKCS#8 \
                 (e.g. `cosign import-key-pair` from a PKCS#8 key, or generate one with `ferry key generate`)"
                    .to_owned(),
            ));
        }
        let (label, document) =
            SecretDocument::from_pem(text.trim()).map_err(|e| invalid(format!("not PEM: {e}")))?;
        let inner = match label {
            "PRIVATE KEY" => p256::ecdsa::SigningKey::from_pkcs8_der(document.as_bytes())
                .map_err(|e| invalid(e.to_string()))?,
            "ENCRYPTED PRIVATE KEY" => {
                let Some(password) = password else {
                    return Err(KeyError::NeedsPassword {
                        path: origin.to_owned(),
                    });
                };
                let encrypted = EncryptedPrivateKeyInfo::try_from(document.as_bytes())
                    .map_err(|e| invalid(e.to_string()))?;
                let plain = encrypted
                    .decrypt(password)
                    .map_err(|_| KeyError::WrongPassword {
                        path: origin.to_owned(),
                    })?;
                p256::ecdsa::SigningKey::from_pkcs8_der(plain.as_bytes()).map_err(|_| {
                    KeyError::WrongPassword {
                        path: origin.to_owned(),
                    }
                })?
            }
            other => return Err(invalid(format!("the PEM block is `{other}`"))),
        };
        Ok(Self { inner })
    }

    /// The private key as PKCS#8 PEM: encrypted (PBES2, PBKDF2-HMAC-SHA256 and
    /// AES-256-CBC, readable by openssl) when a password is given.
    pub fn to_pem(&self, password: Option<&[u8]>) -> Result<Zeroizing<String>, KeyError> {
        let encode = |e: pkcs8::Error| KeyError::Encode(e.to_string());
        let der = self.inner.to_pkcs8_der().map_err(encode)?;
        let Some(password) = password else {
            return der
                .to_pem(PrivateKeyInfo::PEM_LABEL, LineEnding::LF)
                .map_err(|e| KeyError::Encode(e.to_string()));
        };
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut iv);
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
                .map_err(|e| KeyError::Encode(e.to_string()))?;
        let info = PrivateKeyInfo::try_from(der.as_bytes()).map_err(encode)?;
        let encrypted = info.encrypt_with_params(params, password).map_err(encode)?;
        encrypted
            .to_pem(EncryptedPrivateKeyInfo::PEM_LABEL, LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::new(*self.inner.verifying_key())
    }

    /// Signs `message`: ECDSA P-256 over its SHA-256, deterministic (RFC 6979), DER-encoded.
    pub fn sign_der(&self, message: &[u8]) -> Vec<u8> {
        let signature: p256::ecdsa::Signature = self.inner.sign(message);
        signature.to_der().as_bytes().to_vec()
    }
}

/// An ECDSA P-256 public key that bundles are checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyingKey {
    inner: p256::ecdsa::VerifyingKey,
    fingerprint: String,
}

impl VerifyingKey {
    fn new(inner: p256::ecdsa::VerifyingKey) -> Self {
        let fingerprint = match inner.to_public_key_der() {
            Ok(der) => Digest::of_bytes(der.as_bytes()).to_string(),
            Err(_) => String::from("sha256:unknown"),
        };
        Self { inner, fingerprint }
    }

    /// Reads a public key file (SPKI PEM, `PUBLIC KEY`).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pem(&text, path)
    }

    /// Parses an SPKI PEM public key; `origin` names it in errors.
    pub fn from_pem(text: &str, origin: &Path) -> Result<Self, KeyError> {
        p256::ecdsa::VerifyingKey::from_public_key_pem(text.trim())
            .map(Self::new)
            .map_err(|e| KeyError::InvalidPublicKey {
                path: origin.to_owned(),
                detail: e.to_string(),
            })
    }

    /// The public key as SPKI PEM (`PUBLIC KEY`).
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.inner
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// `sha256:<hex>` of the key's SPKI DER encoding (what
    /// `openssl pkey -pubin -outform DER | sha256sum` prints).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether `signature_der` is this key's ECDSA signature over SHA-256 of `message`.
    pub fn verify_der(&self, message: &[u8], signature_der: &[u8]) -> bool {
        p256::ecdsa::Signature::from_der(signature_der)
            .is_ok_and(|signature| self.inner.verify(message, &signature).is_ok())
    }
}

/// Reads every `PUBLIC KEY` PEM block of a trust file (text outside the blocks,
/// such as comments, is ignored). A bundle signed by any of them is trusted.
pub fn load_trusted_keys(path: &Path) -> Result<Vec<VerifyingKey>, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut keys = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            if label != "PUBLIC KEY" {
                return Err(KeyError::InvalidPublicKey {
                    path: path.to_owned(),
                    detail: format!("a trust file holds only public keys, found a `{label}` block"),
                });
            }
            block = Some(format!("{line}\n"));
        } else if let Some(current) = &mut block {
            current.push_str(line);
            current.push('\n');
            if line.starts_with("-----END ") {
                keys.push(VerifyingKey::from_pem(current, path)?);
                block = None;
            }
        }
    }
    if block.is_some() {
        return Err(KeyError::InvalidPublicKey {
            path: path.to_owned(),
            detail: "the last PEM block has no END line".to_owned(),
        });
    }
    if keys.is_empty() {
        return Err(KeyError::NoKeys {
            path: path.to_owned(),
        });
    }
    Ok(keys)
}
