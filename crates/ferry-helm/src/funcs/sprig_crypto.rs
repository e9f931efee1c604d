//! Sprig's `encryptAES`, `decryptAES` and `derivePassword`, byte for byte as Sprig computes them.
//!
//! `encryptAES` takes its IV from the render's deterministic generator (`Exec::rng`, the one
//! `randAlphaNum` uses) instead of the OS, so a render is reproducible; `decryptAES` reads what
//! Helm's `encryptAES` writes.

use std::collections::HashMap;

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{want, Func};
use crate::template::exec::{Exec, ExecError};
use crate::value::Value;

/// Sprig's AES key: the password copied into 32 zero bytes (longer passwords are cut).
fn aes_key(password: &str) -> aes::Aes256 {
    let mut key = [0u8; 32];
    let p = password.as_bytes();
    let n = p.len().min(32);
    key[..n].copy_from_slice(&p[..n]);
    aes::Aes256::new(&key.into())
}

/// AES-256-CBC with PKCS#7 padding, the IV first, base64; empty text gives an empty string.
pub fn encrypt_aes(password: &str, text: &str, iv: [u8; 16]) -> String {
    if text.is_empty() {
        return String::new();
    }
    let cipher = aes_key(password);
    let mut content = text.as_bytes().to_vec();
    let pad = 16 - content.len() % 16;
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let mut out = Vec::with_capacity(16 + content.len());
    out.extend_from_slice(&iv);
    let mut prev = iv;
    for chunk in content.chunks(16) {
        let mut block = [0u8; 16];
        for (i, b) in block.iter_mut().enumerate() {
            *b = chunk[i] ^ prev[i];
        }
        let mut ga = block.into();
        cipher.encrypt_block(&mut ga);
        prev = ga.into();
        out.extend_from_slice(&prev);
    }
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// Sprig's `decryptAES`, with the errors (Go's panics, recovered by text/template) Helm reports.
pub fn decrypt_aes(password: &str, b64: &str) -> Result<String, String> {
    if b64.is_empty() {
        return Ok(String::new());
    }
    let crypt = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(i, _)
            | base64::DecodeError::InvalidLastSymbol(i, _) => {
                format!("illegal base64 data at input byte {i}")
            }
            _ => format!(
                "illegal base64 data at input byte {}",
                b64.trim_end_matches('=').len()
            ),
        })?;
    if crypt.len() < 16 {
        return Err(format!(
            "runtime error: slice bounds out of range [:16] with capacity {}",
            crypt.len()
        ));
    }
    let (iv, body) = crypt.split_at(16);
    if body.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".into());
    }
    let cipher = aes_key(password);
    let mut prev: [u8; 16] = [0; 16];
    prev.copy_from_slice(iv);
    let mut out = Vec::with_capacity(body.len());
    for chunk in body.chunks(16) {
        let mut ga = aes::Block::clone_from_slice(chunk);
        cipher.decrypt_block(&mut ga);
        for (i, b) in ga.iter().enumerate() {
            out.push(b ^ prev[i]);
        }
        prev.copy_from_slice(chunk);
    }
    // Sprig trims as many bytes as the last one says, without checking the padding
    let Some(&last) = out.last() else {
        return Err("runtime error: index out of range [-1]".into());
    };
    let keep = out.len() as i64 - i64::from(last);
    if keep < 0 {
        return Err(format!(
            "runtime error: slice bounds out of range [:{keep}]"
        ));
    }
    out.truncate(keep as usize);
    Ok(String::from_utf8_lossy(&out).into_owned())
}

const MASTER_PASSWORD_SEED: &[u8] = b"com.lyndir.masterpassword";

/// The password templates of each Master Password type.
fn templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

/// The characters a template letter stands for.
fn template_chars(c: u8) -> &'static [u8] {
    match c {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// Sprig's `derivePassword` (the Master Password algorithm): scrypt (N=32768, r=8, p=2, 64
/// bytes) of the password salted with the user, an HMAC-SHA256 seed over the site and counter,
/// and a template of that type filled from the seed.
pub fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    let Some(templates) = templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut salt = MASTER_PASSWORD_SEED.to_vec();
    salt.extend_from_slice(&(user.len() as u32).to_be_bytes());
    salt.extend_from_slice(user.as_bytes());
    let mut key = [0u8; 64];
    let derived = scrypt::Params::new(15, 8, 2, 64)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            scrypt::scrypt(password.as_bytes(), &salt, &p, &mut key).map_err(|e| e.to_string())
        });
    if let Err(e) = derived {
        return format!("failed to derive password: {e}");
    }
    let mut msg = MASTER_PASSWORD_SEED.to_vec();
    msg.extend_from_slice(&(site.len() as u32).to_be_bytes());
    msg.extend_from_slice(site.as_bytes());
    msg.extend_from_slice(&counter.to_be_bytes());
    let seed: [u8; 32] = match <Hmac<Sha256> as Mac>::new_from_slice(&key) {
        Ok(mut mac) => {
            mac.update(&msg);
            mac.finalize().into_bytes().into()
        }
        Err(e) => return format!("failed to derive password: {e}"),
    };
    let template = templates[usize::from(seed[0]) % templates.len()].as_bytes();
    template
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let chars = template_chars(*c);
            char::from(chars[usize::from(seed[i + 1]) % chars.len()])
        })
        .collect()
}

/// The `uint32` counter of `derivePassword`, as text/template converts an integer literal (Go
/// also rejects an `int` held in a variable, which ferry-helm cannot tell from a literal).
fn counter_arg(v: &Value) -> Result<u32, ExecError> {
    match v {
        Value::Int(i) => u32::try_from(*i)
            .map_err(|_| ExecError::new(format!("expected unsigned integer; found {i}"))),
        Value::Nil => Err(ExecError::new("invalid value; expected uint32")),
        other => Err(ExecError::new(format!(
            "wrong type for value; expected uint32; got {}",
            other.type_name()
        ))),
    }
}

/// Registers `encryptAES`, `decryptAES` and `derivePassword`.
pub fn register(m: &mut HashMap<&'static str, Func>) {
    m.insert("encryptAES", |e: &mut Exec, a| {
        want(&a, 2, "encryptAES")?;
        let text = a[1].to_str();
        if text.is_empty() {
            return Ok(Value::from(""));
        }
        let mut iv = [0u8; 16];
        e.rng.fill(&mut iv);
        Ok(Value::from(encrypt_aes(&a[0].to_str(), &text, iv)))
    });
    m.insert("decryptAES", |_, a| {
        want(&a, 2, "decryptAES")?;
        decrypt_aes(&a[0].to_str(), &a[1].to_str())
            .map(Value::from)
            .map_err(ExecError::new)
    });
    m.insert("derivePassword", |_, a| {
        want(&a, 5, "derivePassword")?;
        Ok(Value::from(derive_password(
            counter_arg(&a[0])?,
            &a[1].to_str(),
            &a[2].to_str(),
            &a[3].to_str(),
            &a[4].to_str(),
        )))
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn aes_round_trips_and_pads_as_sprig() {
        for text in ["x", "exactly16bytes!!", "a longer text over two blocks"] {
            let c = encrypt_aes("pw", text, [7; 16]);
            let raw = base64::engine::general_purpose::STANDARD
                .decode(c.as_bytes())
                .unwrap();
            assert_eq!(raw.len(), 16 + (text.len() / 16 + 1) * 16);
            assert_eq!(&raw[..16], &[7; 16]);
            assert_eq!(decrypt_aes("pw", &c).unwrap(), text);
        }
        assert_eq!(
            decrypt_aes("pw", "AAAA").unwrap_err(),
            "runtime error: slice bounds out of range [:16] with capacity 3"
        );
    }
}
