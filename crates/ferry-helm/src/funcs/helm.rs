//! Helm's own template functions and objects (`include`, `tpl`, `.Files`, certificates, ...).

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use base64::Engine as _;

use super::{want, Func};
use crate::crypto;
use crate::template::exec::{Exec, ExecError, TemplateDef};
use crate::template::parse;
use crate::value::{Object, Value};

type R = Result<Value, ExecError>;

/// Helm's include recursion limit per template name.
const RECURSION_MAX: usize = 1000;

fn arg(a: &[Value], i: usize) -> &Value {
    a.get(i).unwrap_or(&Value::Nil)
}

/// Registers Helm's functions.
pub fn register(m: &mut HashMap<&'static str, Func>) {
    m.insert("include", include);
    m.insert("tpl", tpl);
    m.insert("required", |_, a| {
        want(&a, 2, "required")?;
        let bad = match &a[1] {
            Value::Nil => true,
            Value::Str(s) => s.is_empty(),
            _ => false,
        };
        if bad {
            return Err(ExecError::new(format!("HELM[{}]HELM", a[0].to_str())));
        }
        Ok(a[1].clone())
    });
    m.insert("fail", |_, a| {
        Err(ExecError::new(format!("HELM[{}]HELM", arg(&a, 0).to_str())))
    });
    m.insert("toYaml", |_, a| {
        Ok(Value::from(trim_one_newline(crate::yaml::to_yaml(arg(
            &a, 0,
        )))))
    });
    m.insert("mustToYaml", |_, a| {
        Ok(Value::from(trim_one_newline(crate::yaml::to_yaml(arg(
            &a, 0,
        )))))
    });
    m.insert("toYamlPretty", |_, a| {
        Ok(Value::from(trim_one_newline(crate::yaml::to_yaml(arg(
            &a, 0,
        )))))
    });
    m.insert("fromYaml", |_, a| {
        Ok(match crate::yaml::parse_yaml(&arg(&a, 0).to_str()) {
            Ok(Value::Map(m)) => Value::Map(m),
            Ok(Value::Nil) => Value::new_map(),
            Ok(_) => error_map("error unmarshaling JSON: json: cannot unmarshal array into Go value of type map[string]interface {}"),
            Err(e) => error_map(&e),
        })
    });
    m.insert("fromYamlArray", |_, a| {
        Ok(match crate::yaml::parse_yaml(&arg(&a, 0).to_str()) {
            Ok(v @ Value::List(_)) => v,
            Ok(Value::Nil) => Value::from(Vec::new()),
            Ok(_) => Value::from(vec![Value::from("error unmarshaling JSON: json: cannot unmarshal object into Go value of type []interface {}")]),
            Err(e) => Value::from(vec![Value::from(e)]),
        })
    });
    m.insert("fromJsonArray", |_, a| {
        Ok(match crate::yaml::parse_json(&arg(&a, 0).to_str()) {
            Ok(v @ Value::List(_)) => v,
            Ok(_) => Value::from(vec![Value::from(
                "json: cannot unmarshal object into Go value of type []interface {}",
            )]),
            Err(e) => Value::from(vec![Value::from(e)]),
        })
    });
    m.insert("toToml", |_, a| Ok(Value::from(to_toml(arg(&a, 0)))));
    m.insert("lookup", |_, _| Ok(Value::new_map()));
    m.insert("getHostByName", |_, _| Ok(Value::from("")));
    m.insert("htpasswd", |e, a| {
        want(&a, 2, "htpasswd")?;
        let user = a[0].to_str();
        if user.contains(':') {
            return Ok(Value::from("invalid username: username cannot contain ':'"));
        }
        Ok(Value::from(format!(
            "{user}:{}",
            bcrypt_hash(e, &a[1].to_str())?
        )))
    });
    m.insert("bcrypt", |e, a| {
        Ok(Value::from(bcrypt_hash(e, &arg(&a, 0).to_str())?))
    });
    m.insert("genPrivateKey", |e, a| {
        let kind = arg(&a, 0).to_str();
        match kind.as_ref() {
            "" | "rsa" => {
                let key = crypto::gen_rsa(&mut e.rng, 4096).map_err(ExecError::new)?;
                Ok(Value::from(crypto::key_pem(&key).map_err(ExecError::new)?))
            }
            "ecdsa" => Ok(Value::from(crypto::gen_ecdsa_p256_pem(&mut e.rng))),
            "ed25519" => Ok(Value::from(crypto::gen_ed25519_pem(&mut e.rng))),
            // Sprig generates DSA L2048N256 parameters, which ferry-helm does not
            "dsa" => Err(ExecError::new(
                "genPrivateKey: key type \"dsa\" is not supported by ferry-helm".to_string(),
            )),
            // Sprig returns this text as the key, it does not fail
            other => Ok(Value::from(format!("Unknown type {other}"))),
        }
    });
    m.insert("genCA", |e, a| gen_cert(e, &a, CertKind::Ca, false));
    m.insert("genCAWithKey", |e, a| gen_cert(e, &a, CertKind::Ca, true));
    m.insert("genSelfSignedCert", |e, a| {
        gen_cert(e, &a, CertKind::SelfSigned, false)
    });
    m.insert("genSelfSignedCertWithKey", |e, a| {
        gen_cert(e, &a, CertKind::SelfSigned, true)
    });
    m.insert("genSignedCert", |e, a| {
        gen_cert(e, &a, CertKind::Signed, false)
    });
    m.insert("genSignedCertWithKey", |e, a| {
        gen_cert(e, &a, CertKind::Signed, true)
    });
    m.insert("buildCustomCert", |_, a| {
        want(&a, 2, "buildCustomCert")?;
        let dec = |v: &Value| {
            base64::engine::general_purpose::STANDARD
                .decode(v.to_str().as_bytes())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|e| ExecError::new(format!("unable to decode base64: {e}")))
        };
        Ok(cert_value(dec(&a[0])?, dec(&a[1])?))
    });
}

fn trim_one_newline(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

fn error_map(msg: &str) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Error".to_string(), Value::from(msg));
    Value::from(m)
}

fn include(e: &mut Exec, a: Vec<Value>) -> R {
    want(&a, 2, "include")?;
    let name = a[0].as_text();
    let count = match e.include_counts.get_mut(name.as_ref()) {
        Some(c) => c,
        None => e.include_counts.entry(name.to_string()).or_default(),
    };
    if *count > RECURSION_MAX {
        return Err(ExecError::new(format!(
            "rendering template has a nested reference name: {name}: unable to execute template"
        )));
    }
    *count += 1;
    let r = e.execute(&name, a[1].clone());
    if let Some(c) = e.include_counts.get_mut(name.as_ref()) {
        *c = c.saturating_sub(1);
    }
    let out = r.map_err(|err| ExecError {
        message: err.message,
        located: true,
    })?;
    Ok(Value::from(out))
}

fn tpl(e: &mut Exec, a: Vec<Value>) -> R {
    want(&a, 2, "tpl")?;
    let text = a[0].to_str();
    let parsed = parse::parse(&text, &super::is_func).map_err(|pe| {
        ExecError::new(format!(
            "cannot parse template {text:?}: template: gotpl:{}: {}",
            pe.line, pe.message
        ))
    })?;
    let src: std::sync::Arc<str> = std::sync::Arc::from(text.as_str());
    let file: Rc<str> = Rc::from("gotpl");
    let mut set = e.templates.borrow().clone();
    for (name, body) in parsed.defines {
        let def = TemplateDef::new(&name, file.clone(), src.clone(), body);
        set.insert(name, Rc::new(def));
    }
    let def = TemplateDef::new("gotpl", file, src, parsed.body);
    set.insert("gotpl".to_string(), Rc::new(def));
    let saved = std::mem::replace(&mut e.templates, Rc::new(std::cell::RefCell::new(set)));
    let r = e.execute("gotpl", a[1].clone());
    e.templates = saved;
    match r {
        Ok(s) => Ok(Value::from(s.replace("<no value>", ""))),
        Err(err) => Err(ExecError {
            message: format!(
                "error during tpl function execution for {text:?}: {}",
                err.message
            ),
            located: true,
        }),
    }
}

type BcryptCache = std::collections::HashMap<[u8; 32], String>;

/// bcrypt hashes already computed in this process, by (password, salt): a pure function.
static BCRYPT_CACHE: std::sync::OnceLock<std::sync::Mutex<BcryptCache>> =
    std::sync::OnceLock::new();

fn bcrypt_hash(e: &mut Exec, password: &str) -> Result<String, ExecError> {
    use sha2::{Digest, Sha256};
    let mut salt = [0u8; 16];
    e.rng.fill(&mut salt);
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    let id: [u8; 32] = h.finalize().into();
    let cache = BCRYPT_CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(&id).cloned()) {
        return Ok(hit);
    }
    let hash = bcrypt::hash_with_salt(password, 10, salt)
        .map(|h| h.format_for_version(bcrypt::Version::TwoA))
        .map_err(|err| ExecError::new(err.to_string()))?;
    if let Ok(mut c) = cache.lock() {
        if c.len() >= 4096 {
            c.clear();
        }
        c.insert(id, hash.clone());
    }
    Ok(hash)
}

fn cert_value(cert: String, key: String) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Cert".to_string(), Value::from(cert));
    m.insert("Key".to_string(), Value::from(key));
    Value::from(m)
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum CertKind {
    Ca,
    SelfSigned,
    Signed,
}

fn string_list(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.iter().map(Value::to_str).collect(),
        Value::Nil => Vec::new(),
        other => vec![other.to_str()],
    }
}

/// genCA (cn, days[, key]), genSelfSignedCert (cn, ips, dns, days[, key]),
/// genSignedCert (cn, ips, dns, days, ca[, key]).
fn gen_cert(e: &mut Exec, a: &[Value], kind: CertKind, with_key: bool) -> R {
    let (base, name) = match kind {
        CertKind::Ca => (2, "genCA"),
        CertKind::SelfSigned => (4, "genSelfSignedCert"),
        CertKind::Signed => (5, "genSignedCert"),
    };
    want(a, base + usize::from(with_key), name)?;
    let cn = a[0].to_str();
    let (ips, dns, days) = match kind {
        CertKind::Ca => (Vec::new(), Vec::new(), a[1].to_i64()),
        _ => (string_list(&a[1]), string_list(&a[2]), a[3].to_i64()),
    };
    let mut ip_addrs = Vec::new();
    for ip in ips {
        let parsed = ip
            .parse::<std::net::IpAddr>()
            .map_err(|_| ExecError::new(format!("error parsing ip: {ip}")))?;
        ip_addrs.push(parsed);
    }
    let key = if with_key {
        crypto::parse_key(&a[base].to_str()).map_err(ExecError::new)?
    } else {
        crypto::gen_rsa(&mut e.rng, 2048).map_err(ExecError::new)?
    };
    let spec = crypto::CertSpec {
        cn: &cn,
        ips: ip_addrs,
        dns,
        days,
        is_ca: kind == CertKind::Ca,
        now: e.now,
    };
    warn_if_expired(e, &cn, days);
    let cert = if kind == CertKind::Signed {
        let ca = &a[4];
        let ca_cert = ca.get("Cert").map(|v| v.to_str()).unwrap_or_default();
        let ca_key = ca.get("Key").map(|v| v.to_str()).unwrap_or_default();
        let ca_der = crypto::pem_der(&ca_cert)
            .ok_or_else(|| ExecError::new("error decoding CA certificate"))?;
        let issuer = crypto::cert_subject(&ca_der)
            .ok_or_else(|| ExecError::new("error parsing CA certificate"))?;
        let signer = crypto::parse_key(&ca_key).map_err(ExecError::new)?;
        crypto::make_cert(&mut e.rng, &spec, &key, Some((&issuer, &signer)))
            .map_err(ExecError::new)?
    } else {
        crypto::make_cert(&mut e.rng, &spec, &key, None).map_err(ExecError::new)?
    };
    Ok(cert_value(
        cert,
        crypto::key_pem(&key).map_err(ExecError::new)?,
    ))
}

/// BurntSushi/toml's encoder layout (what Helm's `toToml` prints).
fn to_toml(v: &Value) -> String {
    fn scalar(v: &Value) -> Option<String> {
        Some(match v {
            Value::Nil | Value::Map(_) => return None,
            Value::Bool(b) => b.to_string(),
            Value::Int(i) | Value::Int64(i) => i.to_string(),
            Value::Float(f) => {
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    format!("{}.0", *f as i64)
                } else {
                    crate::value::format_float_g(*f)
                }
            }
            Value::Str(s) => super::go_quote(s),
            Value::List(l) => {
                let parts: Vec<String> = l.iter().filter_map(scalar).collect();
                format!("[{}]", parts.join(", "))
            }
            Value::Bytes(b) => super::go_quote(&String::from_utf8_lossy(b)),
            Value::BinStr(b) => super::go_quote(&String::from_utf8_lossy(b)),
            Value::Object(o) => super::go_quote(&o.display()),
        })
    }
    fn table(out: &mut String, m: &crate::value::MapRef, path: &mut Vec<String>) {
        let indent = "  ".repeat(path.len());
        let entries: Vec<(String, Value)> = m
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in &entries {
            if let Some(s) = scalar(v) {
                out.push_str(&format!("{indent}{k} = {s}\n"));
            }
        }
        for (k, v) in &entries {
            if let Value::Map(sub) = v {
                path.push(k.clone());
                let hind = "  ".repeat(path.len() - 1);
                out.push_str(&format!("\n{hind}[{}]\n", path.join(".")));
                table(out, sub, path);
                path.pop();
            }
        }
    }
    let mut out = String::new();
    if let Value::Map(m) = v {
        table(&mut out, m, &mut Vec::new());
    }
    out
}

/// `.Files`: the chart's non-template files.
pub struct Files {
    /// Path (relative to the chart) and contents, sorted by path.
    pub files: Vec<(String, crate::files::FileContent)>,
    /// Files that could not be read when a template asked for them; the render fails with
    /// these once the template returns (`.Files` methods have no error to give in Go).
    pub errors: Rc<std::cell::RefCell<Vec<String>>>,
}

impl Files {
    /// The bytes of one file (empty, and the failure recorded, when it cannot be read).
    fn read(&self, content: &crate::files::FileContent) -> std::sync::Arc<[u8]> {
        content.bytes().unwrap_or_else(|e| {
            self.errors.borrow_mut().push(e);
            std::sync::Arc::from(Vec::new())
        })
    }

    fn find(&self, name: &str) -> Option<std::sync::Arc<[u8]>> {
        self.files
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, c)| self.read(c))
    }

    fn as_map(&self, secrets: bool) -> String {
        if self.files.is_empty() {
            return String::new();
        }
        let mut m = BTreeMap::new();
        for (p, c) in &self.files {
            let b = self.read(c);
            let base = p.rsplit('/').next().unwrap_or(p).to_string();
            let v = if secrets {
                base64::engine::general_purpose::STANDARD.encode(&b[..])
            } else {
                String::from_utf8_lossy(&b).into_owned()
            };
            m.insert(base, Value::from(v));
        }
        trim_one_newline(crate::yaml::to_yaml(&Value::from(m)))
    }
}

impl Object for Files {
    fn type_name(&self) -> &'static str {
        "chart.Files"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "AsConfig" => Some(Value::from(self.as_map(false))),
            "AsSecrets" => Some(Value::from(self.as_map(true))),
            _ => None,
        }
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, ExecError>> {
        let a0 = arg(args, 0).to_str();
        Some(Ok(match name {
            "Get" => self
                .find(&a0)
                .map_or_else(|| Value::from(""), |b| Value::from_go_bytes(b.to_vec())),
            "GetBytes" => Value::Bytes(Rc::new(
                self.find(&a0).map(|b| b.to_vec()).unwrap_or_default(),
            )),
            "Lines" => match self.find(&a0) {
                Some(b) if !b.is_empty() => {
                    let s = String::from_utf8_lossy(&b).into_owned();
                    let s = s.strip_suffix('\n').unwrap_or(&s);
                    Value::from(s.split('\n').map(Value::from).collect::<Vec<_>>())
                }
                _ => Value::from(Vec::new()),
            },
            "Glob" => {
                let files = self
                    .files
                    .iter()
                    .filter(|(p, _)| glob_match(&a0, p))
                    .cloned()
                    .collect();
                Value::Object(Rc::new(Files {
                    files,
                    errors: self.errors.clone(),
                }))
            }
            "AsConfig" => Value::from(self.as_map(false)),
            "AsSecrets" => Value::from(self.as_map(true)),
            _ => return None,
        }))
    }
    fn display(&self) -> String {
        let parts: Vec<String> = self
            .files
            .iter()
            .map(|(p, c)| {
                let b = self.read(c);
                format!("{p}:{}", Value::Bytes(Rc::new(b.to_vec())).go_string())
            })
            .collect();
        format!("map[{}]", parts.join(" "))
    }
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        Some(
            self.files
                .iter()
                .map(|(p, c)| (p.clone(), Value::Bytes(Rc::new(self.read(c).to_vec()))))
                .collect(),
        )
    }
}

/// gobwas/glob-style matching with `/` as separator (`*` stays within a segment, `**` crosses).
pub fn glob_match(pattern: &str, path: &str) -> bool {
    fn m(p: &[u8], s: &[u8], depth: usize) -> bool {
        if depth > 64 {
            return false;
        }
        if p.is_empty() {
            return s.is_empty();
        }
        match p[0] {
            b'*' => {
                let double = p.get(1) == Some(&b'*');
                let rest = if double { &p[2..] } else { &p[1..] };
                for i in 0..=s.len() {
                    if m(rest, &s[i..], depth + 1) {
                        return true;
                    }
                    if i < s.len() && !double && s[i] == b'/' {
                        return false;
                    }
                }
                false
            }
            b'?' => {
                // one character (which may be several bytes)
                if s.is_empty() || s[0] == b'/' {
                    return false;
                }
                let w = match s[0] {
                    0..=0x7f => 1,
                    0xc0..=0xdf => 2,
                    0xe0..=0xef => 3,
                    _ => 4,
                }
                .min(s.len());
                m(&p[1..], &s[w..], depth + 1)
            }
            b'[' => {
                let Some(end) = p.iter().position(|c| *c == b']') else {
                    return false;
                };
                if s.is_empty() {
                    return false;
                }
                let class = &p[1..end];
                let (neg, class) = match class.first() {
                    Some(b'!') | Some(b'^') => (true, &class[1..]),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == b'-' {
                        if class[i] <= s[0] && s[0] <= class[i + 2] {
                            hit = true;
                        }
                        i += 3;
                    } else {
                        if class[i] == s[0] {
                            hit = true;
                        }
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &s[1..], depth + 1)
            }
            b'{' => {
                let Some(end) = p.iter().position(|c| *c == b'}') else {
                    return false;
                };
                let rest = &p[end + 1..];
                p[1..end].split(|c| *c == b',').any(|alt| {
                    let mut np = alt.to_vec();
                    np.extend_from_slice(rest);
                    m(&np, s, depth + 1)
                })
            }
            b'\\' if p.len() > 1 => !s.is_empty() && s[0] == p[1] && m(&p[2..], &s[1..], depth + 1),
            c => !s.is_empty() && s[0] == c && m(&p[1..], &s[1..], depth + 1),
        }
    }
    // a pattern without special characters matches only itself
    if !pattern
        .bytes()
        .any(|c| matches!(c, b'*' | b'?' | b'[' | b'{' | b'\\'))
    {
        return pattern == path;
    }
    m(pattern.as_bytes(), path.as_bytes(), 0)
}

/// `.Capabilities.KubeVersion`.
pub struct KubeVersion {
    /// e.g. `v1.20.0`.
    pub version: String,
    /// e.g. `1`.
    pub major: String,
    /// e.g. `20`.
    pub minor: String,
}

impl Object for KubeVersion {
    fn type_name(&self) -> &'static str {
        "common.KubeVersion"
    }
    fn field(&self, name: &str) -> Option<Value> {
        Some(Value::from(match name {
            "Version" | "GitVersion" | "String" => self.version.clone(),
            "Major" => self.major.clone(),
            "Minor" => self.minor.clone(),
            _ => return None,
        }))
    }
    fn call(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, ExecError>> {
        None
    }
    fn display(&self) -> String {
        self.version.clone()
    }
}

/// `.Capabilities.APIVersions`.
pub struct ApiVersions {
    /// The available group/versions and group/version/kinds.
    pub versions: Vec<String>,
}

impl Object for ApiVersions {
    fn type_name(&self) -> &'static str {
        "common.VersionSet"
    }
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, ExecError>> {
        match name {
            "Has" => {
                let want = arg(args, 0).to_str();
                Some(Ok(Value::Bool(self.versions.contains(&want))))
            }
            _ => None,
        }
    }
    fn display(&self) -> String {
        format!("[{}]", self.versions.join(" "))
    }
}

/// Warns when a certificate valid for `days` from the render clock has already expired at the
/// real current time (renders are reproducible, so the clock can be long past).
fn warn_if_expired(e: &mut Exec, cn: &str, days: i64) {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let expiry = e.now.saturating_add(days.saturating_mul(86_400));
    if expiry <= wall {
        let rfc3339 = |t| super::date::GoTime::unix(t).format("2006-01-02T15:04:05Z07:00");
        let at = rfc3339(expiry);
        let clock = rfc3339(e.now);
        let message = format!(
            "{}: the certificate generated for {cn:?} expired at {at} (the render clock is \
             {clock}; render with a later clock, e.g. --now)",
            e.current_template()
        );
        if !e.warnings.contains(&message) {
            e.warnings.push(message);
        }
    }
}
