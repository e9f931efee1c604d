//! Throw-away test CA and server certificate (rcgen, ECDSA P-256).

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// Files of a generated test PKI: CA, server certificate (127.0.0.1 + localhost) and key.
#[derive(Debug, Clone)]
pub struct TestCerts {
    /// PEM CA certificate (trust this in clients: reqwest `add_root_certificate`, curl --cacert).
    pub ca_cert: PathBuf,
    /// PEM server certificate signed by the CA, SANs IP:127.0.0.1 and DNS:localhost.
    pub server_cert: PathBuf,
    /// PEM (PKCS#8) private key of the server certificate.
    pub server_key: PathBuf,
    /// Directory containing only `ca.crt`, for skopeo `--cert-dir`/`--dest-cert-dir`.
    pub cert_dir: PathBuf,
}

impl TestCerts {
    /// Generates a CA and a server certificate into `dir` (ca.crt, server.crt, server.key, client/ca.crt).
    pub fn generate(dir: &Path) -> TestCerts {
        std::fs::create_dir_all(dir.join("client")).expect("create cert dir");
        let ca_key = KeyPair::generate().expect("generate CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ferry test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = ca_params.self_signed(&ca_key).expect("self-sign CA");

        let srv_key = KeyPair::generate().expect("generate server key");
        let mut srv_params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("server params");
        srv_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        srv_params.is_ca = IsCa::ExplicitNoCa;
        srv_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        srv_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let srv = srv_params
            .signed_by(&srv_key, &ca, &ca_key)
            .expect("sign server cert");

        let certs = TestCerts {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            cert_dir: dir.join("client"),
        };
        std::fs::write(&certs.ca_cert, ca.pem()).expect("write ca.crt");
        std::fs::write(certs.cert_dir.join("ca.crt"), ca.pem()).expect("write client/ca.crt");
        std::fs::write(&certs.server_cert, srv.pem()).expect("write server.crt");
        std::fs::write(&certs.server_key, srv_key.serialize_pem()).expect("write server.key");
        certs
    }

    /// The CA certificate PEM bytes (e.g. for `reqwest::Certificate::from_pem`).
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(&self.ca_cert).expect("read ca.crt")
    }
}
