//! Sprig's path, semver and (deterministic) random functions.

use super::*;

/// Registers sprig's path, semver and (deterministic) random functions.
pub(super) fn register(m: &mut HashMap<&'static str, Func>) {
    // paths
    m.insert("base", |_, a| Ok(Value::from(path_base(&s(arg(&a, 0))))));
    m.insert("dir", |_, a| Ok(Value::from(path_dir(&s(arg(&a, 0))))));
    m.insert("clean", |_, a| Ok(Value::from(path_clean(&s(arg(&a, 0))))));
    m.insert("ext", |_, a| {
        let b = path_base(&s(arg(&a, 0)));
        Ok(Value::from(
            b.rfind('.').map(|i| b[i..].to_string()).unwrap_or_default(),
        ))
    });
    m.insert("isAbs", |_, a| {
        Ok(Value::Bool(s(arg(&a, 0)).starts_with('/')))
    });
    // semver
    m.insert("semverCompare", |_, a| {
        want(&a, 2, "semverCompare")?;
        crate::semver::compare(&s(&a[0]), &s(&a[1]))
            .map(Value::Bool)
            .map_err(ExecError::new)
    });
    m.insert("semver", |_, a| {
        want(&a, 1, "semver")?;
        crate::semver::Version::parse(&s(&a[0]))
            .map(|v| v.to_value())
            .map_err(ExecError::new)
    });
    // random (deterministic)
    m.insert("randAlphaNum", |e, a| {
        Ok(Value::from(rand_string(
            e,
            "randAlphaNum",
            arg(&a, 0).to_i64(),
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        )?))
    });
    m.insert("randAlpha", |e, a| {
        Ok(Value::from(rand_string(
            e,
            "randAlpha",
            arg(&a, 0).to_i64(),
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        )?))
    });
    m.insert("randNumeric", |e, a| {
        Ok(Value::from(rand_string(
            e,
            "randNumeric",
            arg(&a, 0).to_i64(),
            b"0123456789",
        )?))
    });
    m.insert("randAscii", |e, a| {
        let chars: Vec<u8> = (32u8..=126).collect();
        Ok(Value::from(rand_string(
            e,
            "randAscii",
            arg(&a, 0).to_i64(),
            &chars,
        )?))
    });
    m.insert("randInt", |e, a| {
        want(&a, 2, "randInt")?;
        let (lo, hi) = (a[0].to_i64(), a[1].to_i64());
        if hi <= lo {
            return Ok(Value::Int(lo));
        }
        Ok(Value::Int(lo + e.rng.below((hi - lo) as u64) as i64))
    });
    m.insert("uuidv4", |e, _| {
        let mut b = [0u8; 16];
        e.rng.fill(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex(&b);
        Ok(Value::from(format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )))
    });
    m.insert("shuffle", |e, a| {
        let mut c: Vec<char> = s(arg(&a, 0)).chars().collect();
        for i in (1..c.len()).rev() {
            let j = e.rng.below(i as u64 + 1) as usize;
            c.swap(i, j);
        }
        Ok(Value::from(c.into_iter().collect::<String>()))
    });
}
