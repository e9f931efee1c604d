//! Sprig's encoding and hash functions.

use super::*;

/// Registers sprig's encoding and hash functions.
pub(super) fn register(m: &mut HashMap<&'static str, Func>) {
    // encoding and hashes
    m.insert("b64enc", |_, a| {
        want(&a, 1, "b64enc")?;
        let Some(bytes) = a[0].string_bytes() else {
            // text/template's words for an argument that is not a string
            return Err(ExecError::new(match &a[0] {
                Value::Nil => "invalid value; expected string".to_string(),
                other => format!(
                    "wrong type for value; expected string; got {}",
                    other.type_name()
                ),
            }));
        };
        Ok(Value::from(
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ))
    });
    m.insert("b64dec", |_, a| {
        want(&a, 1, "b64dec")?;
        Ok(Value::from(
            match base64::engine::general_purpose::STANDARD.decode(s(&a[0]).as_bytes()) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => e.to_string(),
            },
        ))
    });
    m.insert("b32enc", |_, a| {
        Ok(Value::from(base32(&go_bytes(arg(&a, 0)))))
    });
    m.insert("sha256sum", |_, a| {
        Ok(Value::from(hex(&Sha256::digest(go_bytes(arg(&a, 0))))))
    });
    m.insert("sha512sum", |_, a| {
        Ok(Value::from(hex(&Sha512::digest(go_bytes(arg(&a, 0))))))
    });
    m.insert("adler32sum", |_, a| {
        let (mut x, mut y) = (1u32, 0u32);
        for &b in go_bytes(arg(&a, 0)).iter() {
            x = (x + u32::from(b)) % 65521;
            y = (y + x) % 65521;
        }
        Ok(Value::from(((y << 16) | x).to_string()))
    });
}
