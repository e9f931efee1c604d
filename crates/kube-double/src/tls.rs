//! A generated CA and a server certificate for 127.0.0.1 and localhost, and the rustls
//! server configuration that serves it.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The CA clients trust (PEM) and the server's TLS configuration.
pub struct Tls {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The server configuration (HTTP/1.1 only).
    pub config: Arc<rustls::ServerConfig>,
}

fn other(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// Generates the CA and the server certificate.
pub fn generate() -> io::Result<Tls> {
    let ca_key = KeyPair::generate().map_err(|e| other("generating the CA key", e))?;
    let mut ca =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| other("the CA parameters", e))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "kube-double CA (test double)");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(|e| other("signing the CA", e))?;

    let key = KeyPair::generate().map_err(|e| other("generating the server key", e))?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()])
        .map_err(|e| other("the server parameters", e))?;
    leaf.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    leaf.distinguished_name
        .push(DnType::CommonName, "kube-double");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = leaf
        .signed_by(&key, &ca_cert, &ca_key)
        .map_err(|e| other("signing the server certificate", e))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = vec![
        CertificateDer::from(cert.der().to_vec()),
        CertificateDer::from(ca_cert.der().to_vec()),
    ];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| other("the TLS versions", e))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| other("the server certificate", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    })
}
