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

/// Generates the two primes on two threads, each from its own generator forked from `rng`.
fn gen_rsa_parallel(rng: &mut DetRng, bits: usize) -> Result<RsaPrivateKey, String> {
    use num_bigint_dig::RandPrime as _;
    for _ in 0..16 {
        let mut seeds = [[0u8; 32]; 2];
        rng.fill(&mut seeds[0]);
        rng.fill(&mut seeds[1]);
        let half = bits / 2;
        let (p, q) = std::thread::scope(|s| {
            let h = s.spawn(|| DetRng::new(&[b"rsa-p", &seeds[0]]).gen_prime(half));
            let q = DetRng::new(&[b"rsa-q", &seeds[1]]).gen_prime(bits - half);
            (h.join(), q)
        });
        let p = p.map_err(|_| "prime generation failed".to_string())?;
        if p == q {
            continue;
        }
        match RsaPrivateKey::from_p_q(p, q, rsa::BigUint::from(65_537u32)) {
            Ok(k) => return Ok(k),
            Err(_) => continue,
        }
    }
    Err("could not generate an RSA key".into())
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

fn name_cn(cn: &str) -> Vec<u8> {
    let atv = seq(&[oid(&[2, 5, 4, 3]), tlv(0x0c, cn.as_bytes())]);
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
    let sig = signer
        .sign(Pkcs1v15Sign::new::<Sha256>(), &digest)
        .map_err(|e| e.to_string())?;
    let cert = seq(&[tbs, sig_alg, bit_string(0, &sig)]);
    Ok(pem("CERTIFICATE", &cert))
}
