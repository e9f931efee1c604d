//! Sprig's key and certificate functions (genPrivateKey, genCA, genSelfSignedCert,
//! genSignedCert, htpasswd), drawing every random bit from the deterministic generator.
//!
//! Certificates are X.509 v3, RSA 2048 / SHA-256, shaped like Sprig's: CAs have basic
//! constraints CA:TRUE and key usage keyEncipherment, digitalSignature, certSign; leaves have
//! keyEncipherment, digitalSignature and subject alternative names; both have extended key usage
//! serverAuth and clientAuth. Validity starts at the render's clock (see `RenderOptions::now`).

use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Digest, Sha256};

use crate::rand::DetRng;

impl rand_core::RngCore for DetRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        u32::from_be_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        DetRng::next_u64(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.fill(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for DetRng {}

/// A PEM block.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER inside the first PEM block of `text`.
pub fn pem_der(text: &str) -> Option<Vec<u8>> {
    let start = text.find("-----BEGIN ")?;
    let body_start = start + text[start..].find('\n')? + 1;
    let end = body_start + text[body_start..].find("-----END ")?;
    let b64: String = text[body_start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

type KeyCache = std::collections::HashMap<([u8; 32], usize), (RsaPrivateKey, DetRng)>;

/// Keys already generated in this process, by generator state: a key is a pure function of the
/// generator's state, so a hit returns the same key and leaves the generator exactly where
/// generating it would have (RSA generation is the slowest part of rendering).
static KEY_CACHE: std::sync::OnceLock<std::sync::Mutex<KeyCache>> = std::sync::OnceLock::new();

/// A new RSA key, drawn from the deterministic generator.
pub fn gen_rsa(rng: &mut DetRng, bits: usize) -> Result<RsaPrivateKey, String> {
    let id = (rng.fingerprint(), bits);
    let cache = KEY_CACHE.get_or_init(Default::default);
    if let Ok(c) = cache.lock() {
        if let Some((key, after)) = c.get(&id) {
            *rng = after.clone();
            return Ok(key.clone());
        }
    }
    let key = gen_rsa_parallel(rng, bits)?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 1024 {
            c.clear();
        }
        c.insert(id, (key.clone(), rng.clone()));
    }
    Ok(key)
}

/// The public exponent of every generated key.
const RSA_E: u32 = 65_537;

/// Threads that search for primes (the keys do not depend on the number).
fn prime_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Generates the two primes, each from its own generator forked from `rng`, searched for together
/// on all cores by [`crate::prime`] (or, for sizes it does not handle, by `num_bigint_dig`).
fn gen_rsa_parallel(rng: &mut DetRng, bits: usize) -> Result<RsaPrivateKey, String> {
    for _ in 0..16 {
        let mut seeds = [[0u8; 32]; 2];
        rng.fill(&mut seeds[0]);
        rng.fill(&mut seeds[1]);
        let half = bits / 2;
        let mut rngs = [
            DetRng::new(&[b"rsa-p", &seeds[0]]),
            DetRng::new(&[b"rsa-q", &seeds[1]]),
        ];
        let sizes = [half, bits - half];
        let (p, q) =
            match crate::prime::gen_primes(&mut rngs, &sizes, RSA_E, prime_threads()).as_deref() {
                Some([p, q]) => (p.clone(), q.clone()),
                _ => {
                    use num_bigint_dig::RandPrime as _;
                    let [rp, rq] = &mut rngs;
                    (rp.gen_prime(sizes[0]), rq.gen_prime(sizes[1]))
                }
            };
        // FIPS 186-5 A.1.3: |p - q| > 2^(nlen/2 - 100)
        let diff = if p > q { &p - &q } else { &q - &p };
        if half > 100 && diff.bits() <= half - 100 {
            continue;
        }
        match RsaPrivateKey::from_p_q(p, q, rsa::BigUint::from(RSA_E)) {
            Ok(k) => return Ok(k),
            Err(_) => continue,
        }
    }
    Err("could not generate an RSA key".into())
}

/// The DER prefix of a SHA-256 `DigestInfo` (RFC 8017, section 9.2, note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The RSASSA-PKCS1-v1_5 signature of a SHA-256 `digest`: the same bytes as
/// `key.sign(Pkcs1v15Sign::new::<Sha256>(), digest)` (the scheme is deterministic), with the
/// private-key operation done by the CRT with [`crate::prime::modpow`], about twice as fast as the
/// `rsa` crate's. Falls back to the `rsa` crate when that fails.
fn sign_sha256(key: &RsaPrivateKey, digest: &[u8]) -> Result<Vec<u8>, String> {
    match fast_sign_sha256(key, digest) {
        Some(sig) => Ok(sig),
        None => key
            .sign(Pkcs1v15Sign::new::<Sha256>(), digest)
            .map_err(|e| e.to_string()),
    }
}

fn fast_sign_sha256(key: &RsaPrivateKey, digest: &[u8]) -> Option<Vec<u8>> {
    use crate::prime::modpow;
    use rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};
    let k = key.size();
    let t_len = SHA256_DIGEST_INFO.len() + digest.len();
    if digest.len() != 32 || k < t_len + 11 {
        return None;
    }
    // EM = 00 01 FF..FF 00 || DigestInfo || digest
    let mut em = vec![0xffu8; k];
    em[0] = 0;
    em[1] = 1;
    em[k - t_len - 1] = 0;
    em[k - t_len..k - digest.len()].copy_from_slice(&SHA256_DIGEST_INFO);
    em[k - digest.len()..].copy_from_slice(digest);
    let m = rsa::BigUint::from_bytes_be(&em);
    let [p, q] = key.primes() else {
        return None;
    };
    let (dp, dq) = (key.dp()?, key.dq()?);
    let qinv = key.qinv()?.to_biguint()?;
    // s = m^d mod n by the CRT, from m^dp mod p and m^dq mod q (two half-size exponentiations;
    // on a second thread they would save a quarter of a millisecond, unless that thread has to
    // wait for a core)
    let mp = modpow(&(&m % p), dp, p)?;
    let mq = modpow(&(&m % q), dq, q)?;
    // Garner: s = mq + q * (qinv * (mp - mq) mod p)
    let diff = (mp + p - (&mq % p)) % p;
    let s = mq + q * ((qinv * diff) % p);
    // as the rsa crate does, check the result (s^e = m) before releasing it
    if modpow(&s, key.e(), key.n())? != m {
        return None;
    }
    let bytes = s.to_bytes_be();
    let mut sig = vec![0u8; k.checked_sub(bytes.len())?];
    sig.extend_from_slice(&bytes);
    Some(sig)
}

/// A P-256 private key, as Sprig's `genPrivateKey "ecdsa"` writes it: PEM `EC PRIVATE KEY`
/// holding SEC 1 `ECPrivateKey` (version 1, the 32-byte scalar, the curve's OID and the
/// uncompressed public point), the layout Go's `x509.MarshalECPrivateKey` gives. The scalar is
/// drawn from the deterministic generator, redrawn while it is zero or not below the group order.
pub fn gen_ecdsa_p256_pem(rng: &mut DetRng) -> String {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    let secret = loop {
        let mut d = [0u8; 32];
        rng.fill(&mut d);
        if let Ok(k) = p256::SecretKey::from_bytes(&d.into()) {
            break k;
        }
    };
    let point = secret.public_key().to_encoded_point(false);
    // SEQUENCE { INTEGER 1, OCTET STRING d, [0] { OID prime256v1 }, [1] { BIT STRING point } }
    let mut der = vec![0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20];
    der.extend_from_slice(&secret.to_bytes());
    der.extend_from_slice(&[
        0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0xa1, 0x44, 0x03,
        0x42, 0x00,
    ]);
    der.extend_from_slice(point.as_bytes());
    pem("EC PRIVATE KEY", &der)
}

/// An Ed25519 private key, as Sprig's `genPrivateKey "ed25519"` writes it: PEM `PRIVATE KEY`
/// holding PKCS #8 with the 32-byte seed (RFC 8410), drawn from the deterministic generator.
pub fn gen_ed25519_pem(rng: &mut DetRng) -> String {
    // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut seed = [0u8; 32];
    rng.fill(&mut seed);
    der.extend_from_slice(&seed);
    pem("PRIVATE KEY", &der)
}

/// PKCS#1 PEM of a private key (`RSA PRIVATE KEY`, as Sprig writes it).
pub fn key_pem(key: &RsaPrivateKey) -> Result<String, String> {
    let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
    Ok(pem("RSA PRIVATE KEY", der.as_bytes()))
}

/// Parses a PKCS#1 PEM private key.
pub fn parse_key(pem_text: &str) -> Result<RsaPrivateKey, String> {
    let der = pem_der(pem_text).ok_or("error decoding PEM key")?;
    RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------- DER

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut stack = vec![(a & 0x7f) as u8];
        let mut v = a >> 7;
        while v > 0 {
            stack.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        stack.reverse();
        body.extend(stack);
    }
    tlv(0x06, &body)
}

fn integer(bytes: &[u8]) -> Vec<u8> {
    let skip = bytes
        .iter()
        .take_while(|b| **b == 0)
        .count()
        .min(bytes.len().saturating_sub(1));
    let mut v = bytes[skip..].to_vec();
    if v.first().is_some_and(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    tlv(0x02, &v)
}

fn bit_string(unused: u8, bytes: &[u8]) -> Vec<u8> {
    let mut body = vec![unused];
    body.extend_from_slice(bytes);
    tlv(0x03, &body)
}

/// Go's `asn1.Marshal` of a string: a PrintableString when every character is one of
/// `A-Za-z0-9 '()+,-./:=?`, otherwise a UTF8String.
fn go_string_tag(s: &str) -> u8 {
    let printable = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    if printable {
        0x13
    } else {
        0x0c
    }
}

fn name_cn(cn: &str) -> Vec<u8> {
    let atv = seq(&[oid(&[2, 5, 4, 3]), tlv(go_string_tag(cn), cn.as_bytes())]);
    seq(&[tlv(0x31, &atv)])
}

/// UTC date-time from Unix seconds: (year, month, day, hour, minute, second).
fn civil(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        ((secs % 3600) / 60) as u32,
        (secs % 60) as u32,
    )
}

fn time(t: i64) -> Vec<u8> {
    let (y, mo, d, h, mi, s) = civil(t);
    if (1950..2050).contains(&y) {
        tlv(
            0x17,
            format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100).as_bytes(),
        )
    } else {
        tlv(
            0x18,
            format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z").as_bytes(),
        )
    }
}

fn extension(id: &[u64], critical: bool, value: Vec<u8>) -> Vec<u8> {
    let mut parts = vec![oid(id)];
    if critical {
        parts.push(tlv(0x01, &[0xff]));
    }
    parts.push(tlv(0x04, &value));
    seq(&parts)
}

/// Reads one TLV at `pos`: (tag, content start, end).
fn read_tlv(d: &[u8], pos: usize) -> Option<(u8, usize, usize)> {
    let tag = *d.get(pos)?;
    let l0 = *d.get(pos + 1)? as usize;
    let (len, hdr) = if l0 < 0x80 {
        (l0, 2)
    } else {
        let n = l0 & 0x7f;
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *d.get(pos + 2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let start = pos + hdr;
    let end = start.checked_add(len)?;
    (end <= d.len()).then_some((tag, start, end))
}

/// The raw subject Name of a DER certificate.
pub fn cert_subject(der: &[u8]) -> Option<Vec<u8>> {
    let (_, c0, _) = read_tlv(der, 0)?; // Certificate
    let (_, t0, _) = read_tlv(der, c0)?; // TBSCertificate
    let mut pos = t0;
    let mut fields = Vec::new();
    for _ in 0..6 {
        let (tag, _, end) = read_tlv(der, pos)?;
        fields.push((tag, pos, end));
        pos = end;
    }
    // version [0] is present in v3 certificates
    let off = usize::from(fields[0].0 != 0xa0);
    let (_, s, e) = fields.get(5 - off)?;
    Some(der[*s..*e].to_vec())
}

/// What a certificate is for.
pub struct CertSpec<'a> {
    /// Subject common name.
    pub cn: &'a str,
    /// IP address SANs.
    pub ips: Vec<std::net::IpAddr>,
    /// DNS SANs.
    pub dns: Vec<String>,
    /// Days of validity.
    pub days: i64,
    /// Whether this is a CA.
    pub is_ca: bool,
    /// Unix time validity starts.
    pub now: i64,
}

/// Builds and signs a certificate for `key`, issued by `issuer` (raw Name) with `signer`.
pub fn make_cert(
    rng: &mut DetRng,
    spec: &CertSpec<'_>,
    key: &RsaPrivateKey,
    issuer: Option<(&[u8], &RsaPrivateKey)>,
) -> Result<String, String> {
    let mut serial = [0u8; 16];
    rng.fill(&mut serial);
    serial[0] &= 0x7f;
    let sig_alg = seq(&[oid(&[1, 2, 840, 113_549, 1, 1, 11]), tlv(0x05, &[])]);
    let subject = name_cn(spec.cn);
    let pub_der = key
        .to_public_key()
        .to_pkcs1_der()
        .map_err(|e| e.to_string())?;
    let spki = seq(&[
        seq(&[oid(&[1, 2, 840, 113_549, 1, 1, 1]), tlv(0x05, &[])]),
        bit_string(0, pub_der.as_bytes()),
    ]);
    let mut exts = Vec::new();
    let (ku, unused) = if spec.is_ca {
        (0xa4u8, 2u8)
    } else {
        (0xa0u8, 5u8)
    };
    exts.push(extension(&[2, 5, 29, 15], true, bit_string(unused, &[ku])));
    exts.push(extension(
        &[2, 5, 29, 37],
        false,
        seq(&[
            oid(&[1, 3, 6, 1, 5, 5, 7, 3, 1]),
            oid(&[1, 3, 6, 1, 5, 5, 7, 3, 2]),
        ]),
    ));
    let bc = if spec.is_ca {
        seq(&[tlv(0x01, &[0xff])])
    } else {
        seq(&[])
    };
    exts.push(extension(&[2, 5, 29, 19], true, bc));
    if !spec.dns.is_empty() || !spec.ips.is_empty() {
        let mut names = Vec::new();
        for d in &spec.dns {
            names.push(tlv(0x82, d.as_bytes()));
        }
        for ip in &spec.ips {
            match ip {
                std::net::IpAddr::V4(v) => names.push(tlv(0x87, &v.octets())),
                std::net::IpAddr::V6(v) => names.push(tlv(0x87, &v.octets())),
            }
        }
        exts.push(extension(&[2, 5, 29, 17], false, seq(&names)));
    }
    let issuer_name = issuer
        .map(|(n, _)| n.to_vec())
        .unwrap_or_else(|| subject.clone());
    let tbs = seq(&[
        tlv(0xa0, &integer(&[2])),
        integer(&serial),
        sig_alg.clone(),
        issuer_name,
        seq(&[time(spec.now), time(spec.now + spec.days * 86_400)]),
        subject,
        spki,
        tlv(0xa3, &seq(&exts)),
    ]);
    let signer = issuer.map(|(_, k)| k).unwrap_or(key);
    let digest = Sha256::digest(&tbs);
    let sig = sign_sha256(signer, &digest)?;
    let cert = seq(&[tbs, sig_alg, bit_string(0, &sig)]);
    Ok(pem("CERTIFICATE", &cert))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};

    fn seeded(seed: &str) -> DetRng {
        DetRng::new(&[b"crypto-test", seed.as_bytes()])
    }

    #[test]
    fn keys_are_deterministic() {
        let (mut r1, mut r2) = (seeded("a"), seeded("a"));
        let k1 = gen_rsa_parallel(&mut r1, 2048).unwrap();
        let k2 = gen_rsa_parallel(&mut r2, 2048).unwrap();
        assert_eq!(k1, k2);
        assert_eq!(r1.fingerprint(), r2.fingerprint());
        let k3 = gen_rsa_parallel(&mut seeded("b"), 2048).unwrap();
        assert_ne!(k1.n(), k3.n());
        // the cached path gives the same key and leaves the generator in the same state
        let mut r4 = seeded("a");
        assert_eq!(gen_rsa(&mut r4, 2048).unwrap(), k1);
        let mut r5 = seeded("a");
        assert_eq!(gen_rsa(&mut r5, 2048).unwrap(), k1);
        assert_eq!(r4.fingerprint(), r1.fingerprint());
        assert_eq!(r5.fingerprint(), r1.fingerprint());
    }

    /// Keys from the real Helm (`helm-template CHART` on a template holding
    /// `{{ genPrivateKey "ecdsa" }}` and `{{ genPrivateKey "ed25519" }}`), for their layout.
    const HELM_EC_KEY: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEICj9drRydVNy/X2UK+/pPJ8XvQ+QhiQnMBtlhWu0FORfoAoGCCqGSM49
AwEHoUQDQgAEtbgtUVSFsexzEEjhfNYv+GGYx48X9WlzM+xEDr3cJ6kMTck3iPMJ
jyt4WgwzNHmPVE/fABpWNRUnxOhVfobZFw==
-----END EC PRIVATE KEY-----
";
    const HELM_ED25519_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIIpAHJ1231t7Uc6GiBVutHg1/mIx2Q1IZXS97n7UMGgJ
-----END PRIVATE KEY-----
";

    /// Checks a key with openssl (installed by `scripts/test.sh`), which parses it and, for an
    /// EC key, checks that the public point is the private scalar's.
    fn openssl_accepts(pem_text: &str, check: bool) -> bool {
        use std::io::Write as _;
        let mut args = vec!["pkey", "-noout"];
        if check {
            args.push("-check");
        }
        let mut child = std::process::Command::new("openssl")
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl (scripts/test.sh installs it)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(pem_text.as_bytes())
            .unwrap();
        child.wait().unwrap().success()
    }

    #[test]
    fn ecdsa_and_ed25519_keys_are_laid_out_as_helms_and_valid() {
        let ec = gen_ecdsa_p256_pem(&mut seeded("ec"));
        assert_eq!(ec, gen_ecdsa_p256_pem(&mut seeded("ec")));
        assert_ne!(ec, gen_ecdsa_p256_pem(&mut seeded("ec2")));
        let (ours, helms) = (pem_der(&ec).unwrap(), pem_der(HELM_EC_KEY).unwrap());
        assert!(ec.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        assert_eq!(ours.len(), helms.len());
        // everything but the scalar (bytes 7..39) and the point's coordinates (57..)
        assert_eq!(ours[..7], helms[..7]);
        assert_eq!(ours[39..57], helms[39..57]);
        assert!(openssl_accepts(&ec, true), "{ec}");
        // the public point is checked: a tampered one is refused
        let mut bad = ours.clone();
        bad[100] ^= 1;
        assert!(!openssl_accepts(&pem("EC PRIVATE KEY", &bad), true));

        let ed = gen_ed25519_pem(&mut seeded("ed"));
        assert_eq!(ed, gen_ed25519_pem(&mut seeded("ed")));
        let (ours, helms) = (pem_der(&ed).unwrap(), pem_der(HELM_ED25519_KEY).unwrap());
        assert_eq!(ours.len(), helms.len());
        assert_eq!(ours[..16], helms[..16]);
        assert_ne!(ours[16..], helms[16..]);
        assert!(openssl_accepts(&ed, false), "{ed}");
    }

    #[test]
    fn keys_are_well_formed() {
        for (seed, bits) in [("w1", 2048), ("w2", 2048), ("w3", 1024), ("w4", 4096)] {
            let key = gen_rsa_parallel(&mut seeded(seed), bits).unwrap();
            assert_eq!(key.n().bits(), bits);
            assert_eq!(key.e(), &rsa::BigUint::from(65_537u32));
            let [p, q] = key.primes() else {
                panic!("two primes")
            };
            assert_ne!(p, q);
            for x in [p, q] {
                assert_eq!(x.bits(), bits / 2);
                assert!(num_bigint_dig::prime::probably_prime(x, 20));
            }
            key.validate().unwrap();
        }
        // sizes the fast generator declines fall back to num_bigint_dig
        let small = gen_rsa_parallel(&mut seeded("small"), 96).unwrap();
        assert_eq!(small.n().bits(), 96);
    }

    #[test]
    fn key_signs_verifies_and_round_trips_through_pem() {
        let key = gen_rsa_parallel(&mut seeded("sign"), 2048).unwrap();
        let digest = Sha256::digest(b"ferry");
        let sig = key.sign(Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap();
        let public = key.to_public_key();
        public
            .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &sig)
            .unwrap();
        let other = Sha256::digest(b"not ferry");
        assert!(public
            .verify(Pkcs1v15Sign::new::<Sha256>(), &other, &sig)
            .is_err());
        let pem_text = key_pem(&key).unwrap();
        assert!(pem_text.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert_eq!(parse_key(&pem_text).unwrap(), key);
        // and it signs certificates that carry it
        let spec = CertSpec {
            cn: "ferry",
            ips: vec![],
            dns: vec!["ferry.example".into()],
            days: 30,
            is_ca: true,
            now: 1_700_000_000,
        };
        let cert = make_cert(&mut seeded("cert"), &spec, &key, None).unwrap();
        let der = pem_der(&cert).unwrap();
        assert!(cert_subject(&der).is_some());
    }

    /// The subject CN's string type is Go's: checked with `openssl asn1parse` on certificates
    /// the real Helm generated (`genCA <cn> 365`) for these names.
    #[test]
    fn common_name_string_type_is_gos() {
        for (cn, tag) in [
            ("plain-name", 0x13),
            ("*.wild", 0x0c),
            ("a&b", 0x0c),
            ("é", 0x0c),
            ("a_b", 0x0c),
            ("a@b", 0x0c),
            ("A (b) c+d,e.f/g:h=i?j'k", 0x13),
        ] {
            let name = name_cn(cn);
            let at = name
                .windows(cn.len())
                .position(|w| w == cn.as_bytes())
                .unwrap();
            assert_eq!(name[at - 2], tag, "{cn}");
        }
    }

    #[test]
    fn fast_signature_matches_rsa_crate() {
        for (i, bits) in [2048usize, 2048, 1024, 4096, 3072].into_iter().enumerate() {
            let key = gen_rsa_parallel(&mut seeded(&format!("sig{i}")), bits).unwrap();
            for msg in [&b""[..], b"a", b"certificate body"] {
                let digest = Sha256::digest(msg);
                let want = key.sign(Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap();
                assert_eq!(fast_sign_sha256(&key, &digest), Some(want.clone()));
                assert_eq!(sign_sha256(&key, &digest).unwrap(), want);
            }
        }
        // a key from the rsa crate's own generator (primes in the other order, maybe p < q)
        let key = RsaPrivateKey::new(&mut seeded("rsa-crate"), 1024).unwrap();
        let digest = Sha256::digest(b"x");
        assert_eq!(
            fast_sign_sha256(&key, &digest).unwrap(),
            key.sign(Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap()
        );
    }
}
